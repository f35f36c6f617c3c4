"""Temporal post-processing of per-frame predictions: fill frames without a face, smooth, combine faces.

The recipe follows the ABAW compound-expression entries (HSEmotion; paper 001, "post processing"):
a face's basic-expression probabilities are linearly interpolated over the frames where it was not
seen, filtered along time (Gaussian in the seeds, a box in HSEmotion), turned into class scores,
and a frame's scores are the class-wise maximum over its faces. Everything here is linear in the
probabilities except that maximum, so smoothing probabilities or class scores gives the same labels.

All functions take and return ``[T, C]`` arrays, one row per frame in time order, ``NaN`` rows
where there is nothing to read. The filters are ``scipy.ndimage``'s, imported on first use so that
``cer predict --help`` (which reads :data:`DEFAULT_SMOOTHING`) loads numpy only.

The module is in the core, not in ``cer.predict``, because ``mtl evaluate`` smooths the per-frame
MTL outputs of each video with the same filters (:mod:`mtl.smoothing`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

SMOOTHING_KINDS = ("gaussian", "box", "none")
# Sigma 2 frames: the filter's gain halves at 0.094 cycles/frame (2.3 Hz at 25 fps), so the
# frame-to-frame jitter of boxes, detections and codec noise is damped, while an expression held
# for half a second (12 frames) keeps its peak (99.7 %); being symmetric, the filter adds no delay.
# Paper 001 tunes sigma per task; --smooth sets it.
DEFAULT_SMOOTHING = "gaussian:2"


@dataclass(frozen=True)
class Smoothing:
    """A centred filter along time.

    Attributes:
        kind: ``gaussian`` (``width`` = sigma in frames), ``box`` (``width`` = K frames, a moving
            average) or ``none``.
        width: the filter's size in frames.
    """

    kind: str = "gaussian"
    width: float = 2.0

    def __post_init__(self) -> None:
        if self.kind not in SMOOTHING_KINDS:
            raise ValueError(f"unknown smoothing {self.kind!r}: use gaussian:SIGMA, box:K or none")
        if self.kind != "none" and not math.isfinite(self.width):
            raise ValueError(f"{self.kind} smoothing needs a finite number of frames, got {self.width}")
        if self.kind == "gaussian" and not self.width > 0:
            raise ValueError(f"gaussian smoothing needs a sigma > 0 (in frames), got {self.width}")
        if self.kind == "box" and (self.width < 1 or self.width != int(self.width)):
            raise ValueError(f"box smoothing needs a whole number of frames K >= 1, got {self.width}")

    def __str__(self) -> str:
        if self.kind == "none":
            return "none"
        return f"{self.kind}:{self.width:g}"

    @property
    def radius(self) -> int:
        """Taps on each side of the centre of a Gaussian: 4 sigma, rounded up (what is cut off
        weighs < 1e-4). scipy's own default, ``int(4 * sigma + 0.5)``, is one tap shorter for some
        sigmas (1.3: 5 instead of 6), so it is passed explicitly."""
        return int(math.ceil(4 * self.width))

    def kernel(self) -> np.ndarray:
        """The normalised filter taps, centre at ``len // 2`` (for an even box, one more tap before it)."""
        if self.kind == "none":
            return np.ones(1)
        if self.kind == "box":
            return np.full(int(self.width), 1.0 / int(self.width))
        x = np.arange(-self.radius, self.radius + 1, dtype=np.float64)
        taps = np.exp(-0.5 * (x / self.width) ** 2)
        return taps / taps.sum()

    def __call__(self, series: np.ndarray) -> np.ndarray:
        """Filter each column of ``series`` [T, C]; the ends repeat the first and last rows
        (``mode="nearest"``), so a constant stays constant and the length is kept. A ``NaN``
        reaches only the outputs whose window holds it."""
        series = np.asarray(series, dtype=np.float64)
        if self.kind == "none" or (self.kind == "box" and int(self.width) == 1) or len(series) == 0:
            return series.copy()
        from scipy import ndimage

        if self.kind == "gaussian":
            return ndimage.gaussian_filter1d(series, self.width, axis=0, mode="nearest", radius=self.radius)
        # A box is a flat correlation. Not uniform_filter1d: its running sum would carry a NaN (a
        # model's bad output) into every later frame of the column instead of K frames only.
        # For an even K, scipy's window has one more tap before t than after, as kernel() says:
        # frames t-K/2 .. t+K/2-1.
        return ndimage.correlate1d(series, self.kernel(), axis=0, mode="nearest")


def parse_smoothing(spec: str) -> Smoothing:
    """``gaussian:SIGMA``, ``box:K`` or ``none`` (SIGMA and K in frames) -> :class:`Smoothing`."""
    text = spec.strip().lower()
    if text == "none":
        return Smoothing("none", 0.0)
    kind, sep, value = text.partition(":")
    if not sep or kind not in SMOOTHING_KINDS:
        raise ValueError(f"smoothing {spec!r}: expected gaussian:SIGMA, box:K or none (e.g. gaussian:2)")
    try:
        width = float(value)
    except ValueError:
        raise ValueError(f"smoothing {spec!r}: {value!r} is not a number of frames") from None
    return Smoothing(kind, width)


def interpolate_missing(series: np.ndarray) -> np.ndarray:
    """Fill ``NaN`` rows of ``series`` [T, C] linearly between the nearest filled rows; rows before
    the first (after the last) filled row take its values. All rows missing: returned unchanged."""
    series = np.array(series, dtype=np.float64)
    known = ~np.isnan(series).any(axis=1)
    if known.all() or not known.any():
        return series
    t = np.arange(len(series))
    for c in range(series.shape[1]):
        series[~known, c] = np.interp(t[~known], t[known], series[known, c])
    return series


def smooth_track(frames: np.ndarray, probs: np.ndarray, smoothing: Smoothing) -> np.ndarray:
    """Smoothed probabilities of one face, read at the frames where it was seen.

    Args:
        frames: [N] frame numbers where the face was seen (increasing).
        probs: [N, 6] its basic-expression probabilities there.
        smoothing: the filter.

    Returns:
        [N, 6]: the face's series over its whole span (gaps interpolated, so the filter works in
        time, not in detections), filtered, then read back at ``frames``.
    """
    frames = np.asarray(frames, dtype=np.int64)
    if len(frames) == 0:
        return np.zeros((0, np.shape(probs)[1]))
    dense = np.full((int(frames[-1] - frames[0]) + 1, np.shape(probs)[1]), np.nan)
    dense[frames - frames[0]] = probs
    return smoothing(interpolate_missing(dense))[frames - frames[0]]


def frame_scores(n_frames: int, positions: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Per-frame class scores from per-face ones: the maximum over a frame's faces, interpolated
    over frames without any.

    Args:
        n_frames: frames of the video.
        positions: [N] 0-based frame position of each face row.
        scores: [N, C] class scores of each face row.

    Returns:
        [n_frames, C]; all ``NaN`` when no frame has a face.
    """
    out = np.full((n_frames, np.shape(scores)[1]), -np.inf)
    np.maximum.at(out, np.asarray(positions, dtype=np.int64), np.asarray(scores, dtype=np.float64))
    out[np.isinf(out).all(axis=1)] = np.nan
    return interpolate_missing(out)


def persistent_faces(positions: np.ndarray, face_ids: np.ndarray, min_frames: int, max_gap: int = 2) -> np.ndarray:
    """[N] mask of the face rows that belong to a run of at least ``min_frames`` detections.

    A run is a face id's rows whose frame positions are at most ``max_gap`` apart. A real face in
    video is seen in frame after frame; a detector's false alarm (a pattern in the background)
    usually lasts a frame or two, and, once interpolated over the face-less frames around it,
    would label a whole video that shows no face.

    Args:
        positions: [N] frame position of each face row, increasing within each face id.
        face_ids: [N] face id of each row.
        min_frames: shortest run kept (1 keeps everything).
        max_gap: largest step between positions that still continues a run.
    """
    positions, face_ids = np.asarray(positions, dtype=np.int64), np.asarray(face_ids, dtype=np.int64)
    keep = np.ones(len(positions), dtype=bool)
    if min_frames <= 1:
        return keep
    for face_id in np.unique(face_ids):
        rows = np.flatnonzero(face_ids == face_id)
        breaks = np.flatnonzero(np.diff(positions[rows]) > max_gap) + 1
        for run in np.split(rows, breaks):
            if len(run) < min_frames:
                keep[run] = False
    return keep
