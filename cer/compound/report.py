"""Plots of a finished CE run: confusion matrix, per-class F1, and the curriculum at a glance."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # files only, never a window
    import matplotlib.pyplot as plt

    return plt


def plot_confusion(confusion: np.ndarray, names: list[str], path: Path, title: str = "") -> None:
    """Row-normalised confusion matrix (rows: true class), with the counts written in the cells."""
    plt = _pyplot()
    counts = np.asarray(confusion)
    rates = counts / np.maximum(counts.sum(1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(1.1 * len(names) + 2.5, 1.0 * len(names) + 2))
    im = ax.imshow(rates, cmap="Blues", vmin=0, vmax=1)
    for i in range(len(names)):
        for j in range(len(names)):
            ax.text(j, i, str(counts[i, j]), ha="center", va="center", fontsize=8,
                    color="white" if rates[i, j] > 0.5 else "black")
    short = [n.replace("_", "\n") for n in names]
    ax.set_xticks(range(len(names)), short, fontsize=7)
    ax.set_yticks(range(len(names)), short, fontsize=7)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title or "confusion (row-normalised; numbers are counts)")
    fig.colorbar(im, ax=ax, fraction=0.046)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_per_class_f1(f1: dict[str, float], path: Path, macro: float | None = None) -> None:
    plt = _pyplot()
    names, values = list(f1), list(f1.values())
    fig, ax = plt.subplots(figsize=(max(5, 0.9 * len(names) + 2), 3.5))
    bars = ax.bar(range(len(names)), values, color="#4C72B0")
    ax.bar_label(bars, fmt="%.2f", fontsize=8)
    if macro is not None:
        ax.axhline(macro, color="#C44E52", ls="--", label=f"macro F1 {macro:.3f}")
        ax.legend(loc="lower right")
    ax.set_xticks(range(len(names)), [n.replace("_", "\n") for n in names], fontsize=7)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("F1")
    ax.set_title("validation F1 per class")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_curriculum(history: list[dict[str, Any]], path: Path) -> None:
    """Stages as bands, the compound fraction as steps, validation F1 and train loss per epoch."""
    plt = _pyplot()
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
        ax.plot(epochs, [r.get("val_f1", np.nan) for r in history], "o-", color="#C44E52", label="val macro F1")
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
    """confusion.png, per_class_f1.png, curriculum.png and final_metrics.json into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    if history:
        plot_curriculum(history, folder / "curriculum.png")
    if "confusion" in last_eval:
        names = last_eval["class_names"]
        plot_confusion(last_eval["confusion"], names, folder / "confusion.png")
        per_class = {n: last_eval[f"val_f1/{n}"] for n in names}
        plot_per_class_f1(per_class, folder / "per_class_f1.png", last_eval.get("val_f1"))
    scalars = {k: v for k, v in last_eval.items() if isinstance(v, (int, float))}
    if "confusion" in last_eval:
        scalars["confusion"] = np.asarray(last_eval["confusion"]).tolist()
        scalars["class_names"] = last_eval["class_names"]
    (folder / "final_metrics.json").write_text(json.dumps(scalars, indent=1))
