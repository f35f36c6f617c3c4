"""Plots of a finished MTL run: each task's validation metric per epoch, AU F1 per AU, the EXPR
confusion matrix, and ``final_metrics.json`` (P_MTL and its parts at the last epoch)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from cer.plots import plot_confusion, pyplot
from cer.taxonomy import AFFWILD2_AUS, AFFWILD2_EXPR
from mtl.affect_tasks import AFFECT_TASKS

_CURVES = {"au": ("val_f1_au", "val_f1_au_tuned"), "expr": ("val_f1_expr",), "v": ("val_ccc_v",), "a": ("val_ccc_a",)}


def plot_metrics_per_epoch(history: list[dict[str, Any]], tasks: Sequence[str], path: Path) -> None:
    """Each task's validation metric and P_MTL per epoch, with the training loss on a second axis."""
    plt = pyplot()
    epochs = [r["epoch"] + 1 for r in history]
    fig, ax = plt.subplots(figsize=(8, 4))
    for t in tasks:
        for key in _CURVES[t]:
            if any(key in r for r in history):
                ax.plot(epochs, [r.get(key, np.nan) for r in history], "o-", ms=3, label=key.removeprefix("val_"))
    ax.set_xlabel("epoch")
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.set_ylabel("validation metric")
    ax2 = ax.twinx()
    if any("val_p_mtl" in r for r in history):
        ax2.plot(epochs, [r.get("val_p_mtl", np.nan) for r in history], "k-", lw=2, label="P_MTL")
    ax2.plot(epochs, [r.get("train_loss", np.nan) for r in history], "s--", color="gray", ms=3, label="train loss")
    ax2.set_ylabel("P_MTL / train loss")
    lines = ax.get_legend_handles_labels()[0] + ax2.get_legend_handles_labels()[0]
    labels = ax.get_legend_handles_labels()[1] + ax2.get_legend_handles_labels()[1]
    ax.legend(lines, labels, loc="best", fontsize=8)
    ax.set_title(f"validation per epoch ({','.join(tasks)})")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_au_f1(result: dict[str, Any], path: Path) -> None:
    """F1 of each AU at the fixed threshold and with tuned thresholds, side by side."""
    plt = pyplot()
    names = [f"AU{n}" for n in AFFWILD2_AUS]
    fixed = [result.get(f"val_f1_au/{n}", 0.0) for n in names]
    tuned = [result.get(f"val_f1_au_tuned/{n}", 0.0) for n in names]
    x = np.arange(len(names))
    fig, ax = plt.subplots(figsize=(9, 3.5))
    ax.bar(x - 0.2, fixed, 0.4, label=f"fixed threshold (mean {result.get('val_f1_au', 0):.3f})", color="#4C72B0")
    ax.bar(x + 0.2, tuned, 0.4, label=f"tuned per AU (mean {result.get('val_f1_au_tuned', 0):.3f})", color="#DD8452")
    ax.set_xticks(x, names, fontsize=8)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("F1")
    ax.legend(fontsize=8)
    ax.set_title("validation F1 per AU")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write_report(folder: Path, tasks: Sequence[str], history: list[dict[str, Any]], last_eval: dict[str, Any]) -> None:
    """metrics.png, au_f1.png (AU), expr_confusion.png (EXPR) and final_metrics.json into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    if history:
        plot_metrics_per_epoch(history, tasks, folder / "metrics.png")
    if "au" in tasks and "val_f1_au" in last_eval:
        plot_au_f1(last_eval, folder / "au_f1.png")
    if "expr" in tasks and "val_expr_confusion" in last_eval:
        plot_confusion(last_eval["val_expr_confusion"], list(AFFWILD2_EXPR.classes), folder / "expr_confusion.png",
                       title=f"EXPR (macro F1 {last_eval['val_f1_expr']:.3f}; rows: true, numbers: counts)")
    final: dict[str, Any] = {k: v for k, v in last_eval.items() if isinstance(v, (int, float))}
    final["tasks"] = list(tasks)
    final["p_mtl_parts"] = {AFFECT_TASKS[t].metric: last_eval.get("val_" + AFFECT_TASKS[t].metric) for t in tasks}
    if "val_expr_confusion" in last_eval:
        final["expr_confusion"] = np.asarray(last_eval["val_expr_confusion"]).tolist()
    if last_eval.get("val_au_thresholds") is not None:
        final["au_thresholds"] = last_eval["val_au_thresholds"]
    (folder / "final_metrics.json").write_text(json.dumps(final, indent=1))
