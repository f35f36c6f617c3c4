"""Gaussian smoothing of per-frame MTL outputs along time, one video at a time (paper 001 sec. 3.4).

001 filters the predicted likelihoods of AU and EXPR and the V/A values with a Gaussian whose sigma
"is tuned specifically for each task". The filter is :class:`cer.smoothing.Smoothing` through
:func:`cer.smoothing.smooth_track`, which fills frames missing inside a video by interpolation so
that sigma counts frames of the video, not rows. Each video is filtered alone: a filter running on
the concatenated split would blend the end of one video into the start of the next.

A sigma of 0 means no smoothing, so a tuning grid that holds 0 can keep a task unsmoothed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from cer.smoothing import Smoothing, smooth_track

DEFAULT_SIGMA_GRID = (0.0, 1.0, 2.0, 4.0, 8.0, 16.0)


def smoothing_of(sigma: float) -> Smoothing:
    """The Gaussian of ``sigma`` frames; 0: no smoothing."""
    if sigma < 0:
        raise ValueError(f"a smoothing sigma must be >= 0 frames (0: none), got {sigma}")
    return Smoothing("none", 0.0) if sigma == 0 else Smoothing("gaussian", float(sigma))


def smooth_per_video(values: np.ndarray, bounds: np.ndarray, frame_numbers: np.ndarray, sigma: float) -> np.ndarray:
    """``values`` [N, ...] (frames in video order) filtered along time within each video.

    Args:
        values: one row per frame, videos one after another (:class:`mtl.sequences.VideoFrames`).
        bounds: [V, 2] (start, stop) of each video in the rows.
        frame_numbers: [N] each row's frame number in its video (increasing within a video).
        sigma: the Gaussian's sigma in frames; 0 returns a copy.
    """
    values = np.asarray(values, dtype=np.float64)
    smoothing = smoothing_of(sigma)
    if smoothing.kind == "none":
        return values.copy()
    flat = values.reshape(len(values), -1)  # V and A are [N]; the filter takes [T, C]
    out = np.empty_like(flat)
    for start, stop in bounds:
        out[start:stop] = smooth_track(frame_numbers[start:stop], flat[start:stop], smoothing)
    return out.reshape(values.shape)


def smooth_predictions(preds: Mapping[str, np.ndarray], sigmas: Mapping[str, float], bounds: np.ndarray,
                       frame_numbers: np.ndarray) -> dict[str, np.ndarray]:
    """``preds`` with each task in ``sigmas`` smoothed per video (the others unchanged)."""
    return {t: smooth_per_video(p, bounds, frame_numbers, sigmas[t]) if sigmas.get(t, 0) else p
            for t, p in preds.items()}


def tune_sigmas(preds: Mapping[str, np.ndarray], labels: Mapping[str, tuple[np.ndarray, np.ndarray]],
                tasks: Sequence[str], bounds: np.ndarray, frame_numbers: np.ndarray,
                grid: Sequence[float] = DEFAULT_SIGMA_GRID) -> dict[str, float]:
    """``{task: sigma}``: for each task the sigma of ``grid`` whose smoothed predictions score best on
    ``labels`` (the task's own part of P_MTL: CCC, EXPR F1, AU F1 at 0.5); ties go to the smaller
    sigma, the lighter filter."""
    from mtl.affect_tasks import AFFECT_TASKS

    if not grid:
        raise ValueError("the sigma grid is empty: give at least one sigma (0 keeps a task unsmoothed)")
    chosen = {}
    for task in tasks:
        affect, scores = AFFECT_TASKS[task], []
        for sigma in sorted(grid):
            smoothed = smooth_per_video(preds[task], bounds, frame_numbers, sigma)
            scores.append((affect.scored(affect.score(smoothed, *labels[task])), -sigma))
        chosen[task] = float(-max(scores)[1])
    return chosen
