"""Plots every task draws: a confusion matrix and per-class F1 bars, written to files."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def pyplot():
    """matplotlib's pyplot on the Agg backend: plots go to files, never to a window."""
    import matplotlib

    matplotlib.use("Agg")  # files only, never a window
    import matplotlib.pyplot as plt

    return plt


def plot_confusion(confusion: np.ndarray, names: list[str], path: Path, title: str = "") -> None:
    """Row-normalised confusion matrix (rows: true class), with the counts written in the cells."""
    plt = pyplot()
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
    plt = pyplot()
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
