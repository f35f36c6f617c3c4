"""The analytic fields every part of a synthetic face is drawn with (internal to ``cer.synth.face``).

A part is a signed distance or a Gaussian field in face coordinates; these turn such fields into
pixel coverage, soft lines and blobs, and give each person a fixed skin and hair grain. All of
them take numpy arrays (float32) or, where noted, plain floats.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np


def planar(c) -> np.ndarray:
    """An RGB colour shaped [3, 1, 1], to broadcast over planar [3, h, w] images."""
    return np.asarray(c, np.float32).reshape(3, 1, 1)


SHADOW_TINT = planar((0.92, 1.0, 1.07))  # shadows on skin turn warmer


def clip(x, lo: float | None, hi: float | None):
    """``x`` limited to [lo, hi] (None: no limit on that side), for arrays and plain floats."""
    # ndarray.clip: several times faster than np.clip or np.maximum with a scalar (numpy 2.x).
    if isinstance(x, np.ndarray):
        return x.clip(lo, hi)
    return min(max(x, -math.inf if lo is None else lo), math.inf if hi is None else hi)


def coverage(d: np.ndarray, px: float, soft: float = 1.0) -> np.ndarray:
    """Pixel coverage of the inside (d < 0) of a signed distance ``d`` in face units."""
    return clip(0.5 - d / (px * soft), 0.0, 1.0)


def blob(du: np.ndarray, dv: np.ndarray, su: float, sv: float) -> np.ndarray:
    """A Gaussian bump of widths ``su`` and ``sv`` at offsets ``du``, ``dv`` (1 at the centre)."""
    return np.exp(-((du / su) ** 2) - (dv / sv) ** 2)


def line_field(dist: np.ndarray, half_width: float, px: float) -> np.ndarray:
    """Soft line of a given half width (face units); never thinner than about a pixel."""
    w = clip(half_width, 0.6 * px, None)
    return np.exp(-((dist / w) ** 2)) * clip(half_width / (0.6 * px) + 0.35, None, 1.0)


@lru_cache(maxsize=8)
def texture_bank(size: int) -> np.ndarray:
    """Smooth noise in about [-1, 1] on a [2 size, 2 size] tile, shared by everyone (read-only)."""
    rng = np.random.default_rng(size)
    n = 2 * size
    coarse_n = max(n // 10, 4)
    coarse = rng.normal(0.0, 1.0, (coarse_n, coarse_n)).astype(np.float32)
    idx = np.linspace(0, coarse_n - 1, n).astype(np.float32)
    i0 = np.floor(idx).astype(int).clip(0, coarse_n - 2)
    t = idx - i0
    rows = coarse[i0] * (1 - t)[:, None] + coarse[i0 + 1] * t[:, None]
    smooth = rows[:, i0] * (1 - t)[None, :] + rows[:, i0 + 1] * t[None, :]
    fine = rng.normal(0.0, 0.5, (n, n)).astype(np.float32)
    bank = (0.45 * smooth + 0.55 * fine).astype(np.float32)
    bank.setflags(write=False)
    return bank


def texture(seed: int, size: int) -> np.ndarray:
    """Fixed skin/hair grain of one person: a seed-chosen [size, size] view of the shared bank."""
    oy, ox = (seed * 7919) % size, (seed * 104729 // size) % size
    return texture_bank(size)[oy:oy + size, ox:ox + size]
