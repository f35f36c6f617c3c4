"""Frame-level validation scores of a set of tasks, and P_MTL from them (eq. 8 of paper 002).

P_MTL = (CCC_V + CCC_A)/2 + F1_EXPR + F1_AU. A run that trains only some tasks gets the parts it
has (the others count 0), so its P_MTL is a partial score; the MTL submission combines the best
run of each task (``mtl predict``). AU F1 is reported at the fixed threshold and with per-AU
thresholds tuned on the same validation frames (optimistic, as in the ABAW reports); ``p_mtl``
uses the first and ``p_mtl_tuned`` the second.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from mtl.affect_tasks import AFFECT_TASKS


def score_frames(tasks: Sequence[str], preds: Mapping[str, np.ndarray],
                 labels: Mapping[str, tuple[np.ndarray, np.ndarray]],
                 au_threshold: float | str = 0.5) -> dict[str, Any]:
    """Metrics of every task in ``tasks`` plus ``p_mtl``, ``p_mtl_tuned`` and ``ccc_va``.

    Args:
        tasks: task names (``mtl.affect_tasks.AFFECT_TASKS`` keys).
        preds: per task, one decoded prediction per frame (``AffectTask.decode``).
        labels: per task, ``(targets, mask)`` of the same frames.
        au_threshold: the fixed AU threshold, or ``"tune"`` (then 0.5 is the fixed one).
    """
    fixed = 0.5 if au_threshold == "tune" else float(au_threshold)
    result: dict[str, Any] = {}
    p_fixed = p_tuned = 0.0
    for name in tasks:
        task = AFFECT_TASKS[name]
        part = task.score(preds[name], *labels[name], au_threshold=fixed)
        result.update(part)
        p_fixed += task.p_mtl_weight * task.scored(part, fixed)
        p_tuned += task.p_mtl_weight * task.scored(part, "tune")
    if "v" in tasks and "a" in tasks:
        result["ccc_va"] = (result["ccc_v"] + result["ccc_a"]) / 2
    result["p_mtl"] = p_fixed
    result["p_mtl_tuned"] = p_tuned
    return result


def p_mtl_parts(result: Mapping[str, Any]) -> dict[str, float]:
    """The parts of P_MTL found in ``result`` (a score dict, keys with or without ``val_``)."""
    def get(key: str) -> float | None:
        value = result.get(key, result.get(f"val_{key}"))
        return None if value is None else float(value)

    parts = {k: get(k) for k in ("ccc_v", "ccc_a", "f1_expr", "f1_au", "f1_au_tuned", "p_mtl", "p_mtl_tuned")}
    return {k: v for k, v in parts.items() if v is not None}
