"""The tasks of the ABAW MTL challenge as a small registry: one object per task says its head size,
how to read its labels from a :class:`~cer.data.record.FaceRecord`, its loss, how to turn head
outputs into predictions, and its validation metric. The model, the training step and the
evaluation loop iterate over the chosen tasks; none of them names a task.

- ``au``: 12 Aff-Wild2 AUs, per-AU weighted BCE (eq. 2 of 002) or weighted asymmetric loss (eq. 9
  of 004), weights from training occurrence rates (eq. 10 of 004 is the same normalisation); metric:
  mean F1 of the 12 AUs (at 0.5, and with per-AU thresholds tuned on validation). Its head outputs
  logits (linear head) or probabilities (ANFL): :func:`task_registry` gives the matching task.
- ``expr``: 8 Aff-Wild2 expressions, class-weighted CE (eq. 3) or focal loss (eq. 9 of 003, the same
  weights as its alpha_t), weights from training frequencies; metric: macro F1 over all 8 classes.
- ``v``, ``a``: valence, arousal in [-1, 1] (tanh output), ``1 - CCC`` each (eq. 5); metric: CCC.
- ``va`` names ``v`` and ``a`` together.

P_MTL = (CCC_V + CCC_A)/2 + F1_EXPR + F1_AU: each task's ``p_mtl_weight`` says its share.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import torch

from cer.data.record import FaceRecord
from cer.metrics import au_f1, ccc, confusion_matrix, f1_macro, f1_per_class, tune_au_thresholds
from cer.taxonomy import AFFWILD2_AUS, AFFWILD2_EXPR
from mtl.losses import ccc_loss, masked_au_loss, masked_cross_entropy, masked_focal_loss


def au_weights(targets: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """[A] weights of eq. 2 (002) and eq. 10 (004, ``w_i = A (1/r_i) / sum_j 1/r_j``): inverse
    occurrence rate of each AU among its annotated frames, normalised to mean 1 (a rare AU counts
    more). A rate is floored at one occurrence, so an AU never seen in training gets a large but
    finite weight."""
    annotated = np.maximum(mask.sum(0), 1)
    positives = np.where(mask, targets, 0).sum(0)
    rate = np.maximum(positives, 1) / annotated
    inverse = 1.0 / rate
    return (inverse / inverse.mean()).astype(np.float32)


def class_weights(targets: np.ndarray, mask: np.ndarray, num_classes: int) -> np.ndarray:
    """[K] weights of eq. 3: ``n / (K * n_c)`` over the valid training labels (balanced); a class
    absent from training gets weight 0 (no sample of it can occur in that data)."""
    counts = np.bincount(targets[mask].astype(np.int64), minlength=num_classes).astype(np.float64)
    weights = np.where(counts > 0, counts.sum() / (num_classes * np.maximum(counts, 1)), 0.0)
    return weights.astype(np.float32)


class AffectTask:
    """What the model, the step and the evaluation need to know about one task."""

    name: str
    outputs: int          # head size
    metric: str           # key of its validation metric (``val_<metric>`` in the run log)
    p_mtl_weight: float   # its share of P_MTL

    def labels(self, records: Sequence[FaceRecord]) -> tuple[np.ndarray, np.ndarray]:
        """``(targets, mask)`` of ``records``; mask False where the label is missing."""
        raise NotImplementedError

    def without_label(self, record: FaceRecord) -> FaceRecord:
        """``record`` with this task's label removed (masked, as an unannotated frame is)."""
        raise NotImplementedError

    def loss_weights(self, targets: np.ndarray, mask: np.ndarray) -> np.ndarray | None:
        """Weights fitted on the training labels, passed to :meth:`loss` (None: unweighted)."""
        return None

    def loss(self, out: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor,
             weights: torch.Tensor | None) -> torch.Tensor:
        """Masked loss of head outputs ``out`` [N, outputs] against ``targets`` [N, ...]."""
        raise NotImplementedError

    def decode(self, out: torch.Tensor) -> torch.Tensor:
        """Head outputs -> what is scored and written (probabilities or values)."""
        raise NotImplementedError

    def score(self, pred: np.ndarray, targets: np.ndarray, mask: np.ndarray,
              au_threshold: float = 0.5) -> dict[str, Any]:
        """Validation metrics on the frames whose label exists; ``self.metric`` among the keys."""
        raise NotImplementedError

    def scored(self, result: dict[str, Any], au_threshold: float | str = 0.5) -> float:
        """The value that counts for P_MTL and for selecting the best epoch."""
        return float(result[self.metric])


class ActionUnits(AffectTask):
    """AU occurrence. ``probabilities``: the head outputs probabilities (ANFL) instead of logits;
    ``asymmetric``: train with eq. 9 of 004 instead of BCE."""

    name, outputs, metric, p_mtl_weight = "au", len(AFFWILD2_AUS), "f1_au", 1.0
    au_names = tuple(f"AU{n}" for n in AFFWILD2_AUS)

    def __init__(self, probabilities: bool = False, asymmetric: bool = False):
        self.probabilities, self.asymmetric = probabilities, asymmetric

    def labels(self, records):
        aus = np.array([r.aus if r.aus is not None else (-1,) * self.outputs for r in records],
                       dtype=np.int64).reshape(-1, self.outputs)
        return aus.astype(np.float32), aus >= 0

    def without_label(self, record):
        return replace(record, aus=None)

    def loss_weights(self, targets, mask):
        return au_weights(targets, mask)

    def loss(self, out, targets, mask, weights):
        return masked_au_loss(out, targets, mask, weights, self.probabilities, self.asymmetric)

    def decode(self, out):
        return out.float() if self.probabilities else torch.sigmoid(out.float())

    def score(self, pred, targets, mask, au_threshold=0.5):
        # Scored on fully annotated frames, as the paper filters the AU set (sec. 4.1).
        rows = mask.all(1)
        t, p = targets[rows].astype(int), pred[rows]
        if not rows.any():
            return {"f1_au": 0.0, "f1_au_tuned": 0.0, "au_thresholds": [0.5] * self.outputs, "au_count": 0}
        f1, per_au = au_f1(t, p, au_threshold)
        thresholds = tune_au_thresholds(t, p)
        f1_tuned, per_au_tuned = au_f1(t, p, thresholds)
        return {
            "f1_au": f1, "f1_au_tuned": f1_tuned, "au_count": int(rows.sum()),
            **{f"f1_au/{n}": float(v) for n, v in zip(self.au_names, per_au)},
            **{f"f1_au_tuned/{n}": float(v) for n, v in zip(self.au_names, per_au_tuned)},
            "au_thresholds": [float(x) for x in thresholds],
        }

    def scored(self, result, au_threshold=0.5):
        return float(result["f1_au_tuned" if au_threshold == "tune" else "f1_au"])


class Expression(AffectTask):
    """The expression class. ``focal_gamma``: train with eq. 9 of 003 at that gamma instead of CE (None)."""

    name, outputs, metric, p_mtl_weight = "expr", len(AFFWILD2_EXPR), "f1_expr", 1.0

    def __init__(self, focal_gamma: float | None = None):
        self.focal_gamma = focal_gamma

    def labels(self, records):
        for r in records:
            if r.expression is not None and r.space != AFFWILD2_EXPR.name:
                raise ValueError(f"{r.image}: expression in label space {r.space!r}; the MTL expression task "
                                 f"reads {AFFWILD2_EXPR.name} labels ({', '.join(AFFWILD2_EXPR.classes)})")
        mask = np.array([r.expression is not None for r in records], dtype=bool)
        targets = np.array([r.expression if r.expression is not None else 0 for r in records], dtype=np.int64)
        return targets, mask

    def without_label(self, record):
        return replace(record, expression=None)

    def loss_weights(self, targets, mask):
        return class_weights(targets, mask, self.outputs)

    def loss(self, out, targets, mask, weights):
        if self.focal_gamma is None:
            return masked_cross_entropy(out, targets, mask, weights)
        return masked_focal_loss(out, targets, mask, weights, self.focal_gamma)

    def decode(self, out):
        return torch.softmax(out.float(), dim=-1)

    def score(self, pred, targets, mask, au_threshold=0.5):
        t, p = targets[mask], pred[mask].argmax(1)
        k = self.outputs
        return {
            "f1_expr": f1_macro(t, p, k), "expr_count": int(mask.sum()),
            **{f"f1_expr/{n}": float(v) for n, v in zip(AFFWILD2_EXPR.classes, f1_per_class(t, p, k))},
            "expr_confusion": confusion_matrix(t, p, k),
        }


class Dimension(AffectTask):
    """Valence or arousal: one tanh output trained with ``1 - CCC``. The tanh is applied here, after
    the head (a Linear, or Linear + BatchNorm for eq. 4 of 004), so every VA head decodes alike."""

    outputs, p_mtl_weight = 1, 0.5

    def __init__(self, name: str, field: str):
        self.name, self.field, self.metric = name, field, f"ccc_{name}"

    def labels(self, records):
        values = [getattr(r, self.field) for r in records]
        mask = np.array([v is not None and np.isfinite(v) for v in values], dtype=bool)
        targets = np.array([v if ok else 0.0 for v, ok in zip(values, mask)], dtype=np.float32)
        return targets, mask

    def without_label(self, record):
        return replace(record, **{self.field: None})

    def loss(self, out, targets, mask, weights):
        return ccc_loss(self.decode(out), targets, mask)

    def decode(self, out):
        return torch.tanh(out.float()).squeeze(-1)

    def score(self, pred, targets, mask, au_threshold=0.5):
        return {self.metric: ccc(targets[mask], pred[mask]), f"{self.name}_count": int(mask.sum())}


AFFECT_TASKS: dict[str, AffectTask] = {
    t.name: t for t in (ActionUnits(), Expression(), Dimension("v", "valence"), Dimension("a", "arousal"))
}


def task_registry(au_probabilities: bool = False, au_loss: str = "bce", expr_loss: str = "ce",
                  focal_gamma: float = 2.0) -> dict[str, AffectTask]:
    """:data:`AFFECT_TASKS` with the AU task of a model whose AU head outputs probabilities
    (``au_probabilities``) and of the AU loss ``au_loss`` (``bce`` or ``asymmetric``), and the
    expression task of ``expr_loss`` (``ce``, or ``focal`` at ``focal_gamma``)."""
    if au_loss not in ("bce", "asymmetric"):
        raise ValueError(f"unknown AU loss {au_loss!r}: bce or asymmetric")
    if expr_loss not in ("ce", "focal"):
        raise ValueError(f"unknown expression loss {expr_loss!r}: ce or focal")
    return {**AFFECT_TASKS, "au": ActionUnits(au_probabilities, au_loss == "asymmetric"),
            "expr": Expression(focal_gamma if expr_loss == "focal" else None)}


# Names that stand for several tasks.
TASK_GROUPS: dict[str, tuple[str, ...]] = {"va": ("v", "a")}


def parse_tasks(text: str | Sequence[str]) -> tuple[str, ...]:
    """``"au,va,a"`` -> ``("au", "v", "a")``: groups expanded, repeats dropped, registry order.

    Raises:
        ValueError: an unknown name (the message lists the valid ones) or an empty list.
    """
    names = text.split(",") if isinstance(text, str) else list(text)
    chosen: set[str] = set()
    for raw in names:
        name = raw.strip().lower()
        if not name:
            continue
        if name in TASK_GROUPS:
            chosen.update(TASK_GROUPS[name])
        elif name in AFFECT_TASKS:
            chosen.add(name)
        else:
            valid = ", ".join([*AFFECT_TASKS, *TASK_GROUPS])
            raise ValueError(f"unknown task {raw.strip()!r}: valid tasks are {valid} (comma-separated, e.g. au,va)")
    if not chosen:
        raise ValueError(f"no task given: name one or more of {', '.join([*AFFECT_TASKS, *TASK_GROUPS])}")
    return tuple(n for n in AFFECT_TASKS if n in chosen)


def selection_metric(select: str | None, tasks: Sequence[str], au_threshold: float | str) -> str:
    """The run-log key that picks the best epoch: ``--task``'s metric, or P_MTL when None."""
    if select is None:
        return "val_p_mtl_tuned" if au_threshold == "tune" and "au" in tasks else "val_p_mtl"
    chosen = parse_tasks(select)
    missing = [t for t in chosen if t not in tasks]
    if missing:
        raise ValueError(f"tasks.select (--task) {select}: {', '.join(missing)} is not trained in this run "
                         f"(joint tasks: {', '.join(tasks)}); add it to --joint or pick another")
    if chosen == ("v", "a"):
        return "val_ccc_va"
    if len(chosen) != 1:
        raise ValueError(f"tasks.select (--task) {select}: name one task (au, expr, v, a) or va, "
                         f"not {', '.join(chosen)}")
    if chosen == ("au",) and au_threshold == "tune":
        return "val_f1_au_tuned"
    return "val_" + AFFECT_TASKS[chosen[0]].metric
