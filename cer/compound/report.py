"""Plots of a finished CE run: the curriculum at a glance, with the confusion matrix and per-class F1
of the last epoch (``cer.plots``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from cer.plots import plot_confusion, plot_per_class_f1, pyplot


def plot_curriculum(history: list[dict[str, Any]], path: Path) -> None:
    """Stages as bands, the compound fraction as steps, validation F1 and train loss per epoch."""
    plt = pyplot()
    epochs = [r["epoch"] + 1 for r in history]
    fig, ax = plt.subplots(figsize=(8, 4))
    stages = [r.get("stage", 1) for r in history]
    for s in sorted(set(stages)):
        es = [e for e, st in zip(epochs, stages) if st == s]
        ax.axvspan(min(es) - 0.5, max(es) + 0.5, color=f"C{s % 10}", alpha=0.08)
        ax.text((min(es) + max(es)) / 2, 1.02, f"stage {s}", ha="center", fontsize=8)
    ax.step(epochs, [r.get("compound_fraction", 0) for r in history], where="mid", color="gray",
            label="compound fraction")
    if any("val_f1" in r for r in history):
        ax.plot(epochs, [r.get("val_f1", np.nan) for r in history], "o-", color="#C44E52", label="compound macro F1")
    if any("basic_f1" in r for r in history):
        ax.plot(epochs, [r.get("basic_f1", np.nan) for r in history], "^-", color="#55A868",
                label="held-out basic macro F1")
    ax.set_ylim(0, 1.08)
    ax.set_xlabel("epoch")
    ax2 = ax.twinx()
    ax2.plot(epochs, [r.get("train_loss", np.nan) for r in history], "s--", color="#4C72B0", ms=3,
             label="train loss")
    ax2.set_ylabel("train loss")
    lines = ax.get_legend_handles_labels()[0] + ax2.get_legend_handles_labels()[0]
    labels = ax.get_legend_handles_labels()[1] + ax2.get_legend_handles_labels()[1]
    ax.legend(lines, labels, loc="center right", fontsize=8)
    ax.set_title("curriculum")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write_report(folder: Path, history: list[dict[str, Any]], last_eval: dict[str, Any]) -> None:
    """confusion.png, per_class_f1.png (and their basic_* twins for the held-out basic faces),
    curriculum.png and final_metrics.json into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    if history:
        plot_curriculum(history, folder / "curriculum.png")
    if "confusion" in last_eval:
        names = last_eval["class_names"]
        plot_confusion(last_eval["confusion"], names, folder / "confusion.png")
        per_class = {n: last_eval[f"val_f1/{n}"] for n in names}
        plot_per_class_f1(per_class, folder / "per_class_f1.png", last_eval.get("val_f1"))
    if "basic_confusion" in last_eval:
        names = last_eval["basic_class_names"]
        plot_confusion(last_eval["basic_confusion"], names, folder / "basic_confusion.png")
        plot_per_class_f1({n: last_eval[f"basic_f1/{n}"] for n in names}, folder / "basic_per_class_f1.png",
                          last_eval.get("basic_f1"))
    scalars = {k: v for k, v in last_eval.items() if isinstance(v, (int, float))}
    if "confusion" in last_eval:
        scalars["confusion"] = np.asarray(last_eval["confusion"]).tolist()
        scalars["class_names"] = last_eval["class_names"]
    (folder / "final_metrics.json").write_text(json.dumps(scalars, indent=1))
