"""Per-step schedules as precomputed arrays read as ``sched[step]`` (as in dinov2)."""

from __future__ import annotations

import numpy as np


def warmup_cosine(total_steps: int, base: float, final: float, warmup_steps: int, start: float = 0.0) -> np.ndarray:
    """Linear warmup from ``start`` to ``base`` over ``warmup_steps``, then cosine to ``final``."""
    if total_steps <= 0:
        return np.zeros(0)
    warmup_steps = min(warmup_steps, total_steps)
    warm = np.linspace(start, base, warmup_steps, endpoint=False)
    t = np.arange(total_steps - warmup_steps) / max(1, total_steps - warmup_steps)
    cos = final + 0.5 * (base - final) * (1 + np.cos(np.pi * t))
    return np.concatenate([warm, cos])


def warmup_constant(total_steps: int, base: float, warmup_steps: int, start: float = 0.0) -> np.ndarray:
    """Linear warmup from ``start`` to ``base`` over ``warmup_steps``, then ``base`` to the end: a fixed
    lr when ``warmup_steps`` is 0. (The cosine from ``base`` to ``base``, which is exactly ``base``.)"""
    return warmup_cosine(total_steps, base, base, warmup_steps, start)
