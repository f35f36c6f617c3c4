"""Metrics of the ABAW challenges as pure functions (numpy in, float or array out).

- F1 macro over ALL classes of the label space (``labels=range(K)``): a class absent from a split
  still counts, with F1 0 when it is also never predicted (scikit-learn's zero_division=0).
- CCC (Lin's concordance correlation coefficient) with population variance.
- AU F1: the mean of the per-AU binary F1 scores at a threshold (scalar or one per AU).
- P_MTL = (CCC_V + CCC_A) / 2 + F1_EXPR + F1_AU (eq. 8 of paper 002).
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import confusion_matrix as _sk_confusion
from sklearn.metrics import f1_score


def f1_per_class(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> np.ndarray:
    """[K] F1 of each class; 0 for a class that is neither present nor predicted (and for every
    class when there are no samples: a held-out fold can hold no frame labelled for a task)."""
    if len(y_true) == 0:
        return np.zeros(num_classes, np.float64)
    return f1_score(
        np.asarray(y_true), np.asarray(y_pred), labels=list(range(num_classes)), average=None,
        zero_division=0,
    ).astype(np.float64)


def f1_macro(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> float:
    """Macro F1 over the ``num_classes`` classes of the label space (absent classes count)."""
    return float(f1_per_class(y_true, y_pred, num_classes).mean())


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> np.ndarray:
    """[K, K] counts, rows = true class, columns = predicted class."""
    if len(y_true) == 0:
        return np.zeros((num_classes, num_classes), np.int64)
    return _sk_confusion(np.asarray(y_true), np.asarray(y_pred), labels=list(range(num_classes)))


def ccc(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Concordance correlation coefficient with population (ddof=0) statistics; 0 for empty input
    or when both series are constant."""
    t, p = np.asarray(y_true, np.float64), np.asarray(y_pred, np.float64)
    if t.size == 0:
        return 0.0
    mt, mp = t.mean(), p.mean()
    cov = ((t - mt) * (p - mp)).mean()
    denom = t.var() + p.var() + (mt - mp) ** 2
    return float(2 * cov / denom) if denom > 0 else 0.0


def binary_f1(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """F1 of the positive class; 0 without positives in either, or without samples."""
    return float(f1_score(y_true, y_pred, zero_division=0)) if len(y_true) else 0.0


def au_f1(y_true: np.ndarray, scores: np.ndarray, threshold: float | np.ndarray = 0.5) -> tuple[float, np.ndarray]:
    """Mean binary F1 over AUs and the per-AU F1s.

    Args:
        y_true: [N, A] 0/1 occurrences.
        scores: [N, A] probabilities.
        threshold: scalar or [A] per-AU thresholds.
    """
    t = np.asarray(y_true).astype(int)
    pred = (np.asarray(scores) >= np.asarray(threshold)).astype(int)
    per_au = np.array([binary_f1(t[:, j], pred[:, j]) for j in range(t.shape[1])])
    return float(per_au.mean()) if per_au.size else 0.0, per_au


def tune_au_thresholds(y_true: np.ndarray, scores: np.ndarray, grid: np.ndarray | None = None) -> np.ndarray:
    """Per-AU thresholds that maximise each AU's F1 on (validation) data; ties go to the lower one."""
    grid = np.linspace(0.05, 0.95, 19) if grid is None else np.asarray(grid)
    t = np.asarray(y_true).astype(int)
    s = np.asarray(scores)
    best = np.empty(t.shape[1])
    for j in range(t.shape[1]):
        f1s = [binary_f1(t[:, j], (s[:, j] >= g).astype(int)) for g in grid]  # no frames: the lowest
        best[j] = grid[int(np.argmax(f1s))]
    return best


def p_mtl(ccc_v: float, ccc_a: float, f1_expr: float, f1_au: float) -> float:
    """The MTL challenge score: mean CCC of V and A, plus expression F1, plus AU F1."""
    return (ccc_v + ccc_a) / 2 + f1_expr + f1_au
