"""Frames grouped into videos, and windows of S frames within a video (the temporal module's input).

Training windows start every W frames (the stride; paper 002 sec. 4.4: S = sequence length,
W = window), and one more window is aligned to the video's end when the stride does not reach it,
so every frame can be trained on. A video shorter than S gives one window padded with its last
frame; padded positions are marked invalid (no loss, no score). S = 1 means single frames.

Evaluation windows tile each video without overlap (stride S, the last one aligned to the end);
each frame is *owned* by exactly one window position (the first that holds it), and
:func:`expand_to_frames` writes every window output back to the frame that owns it, so every
validation frame counts exactly once in the metrics, whatever S.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import PurePath

import numpy as np

from cer.data.record import FaceRecord

_DIGITS = re.compile(r"(\d+)$")


def frame_number(record: FaceRecord) -> int:
    """The record's position in its video: ``frame`` for video files, else the number that ends the
    image file name (Aff-Wild2: ``<video>/00042.jpg``)."""
    if record.frame is not None:
        return record.frame
    match = _DIGITS.search(PurePath(record.image).stem)
    if match is None:
        raise ValueError(f"cannot tell the frame order of {record.image}: a temporal model needs frames named "
                         "<video>/<number>.jpg (Aff-Wild2) or records with a frame number")
    return int(match.group(1))


def video_of(record: FaceRecord) -> str:
    """The sequence key: the record's ``video``, else the image's folder."""
    return record.video if record.video is not None else str(PurePath(record.image).parent)


@dataclass(frozen=True)
class VideoFrames:
    """Records ordered by video (first appearance) then frame number; ``bounds[i]`` = (start, stop)
    of video ``names[i]`` in ``records``."""

    records: list[FaceRecord]
    names: list[str]
    bounds: np.ndarray  # [V, 2]

    @classmethod
    def of(cls, records: Sequence[FaceRecord]) -> VideoFrames:
        by_video: dict[str, list[FaceRecord]] = {}
        for r in records:
            by_video.setdefault(video_of(r), []).append(r)
        ordered, bounds = [], []
        for frames in by_video.values():
            start = len(ordered)
            # one frame has no order to find: a still image (mtl/sources.py) needs no number in its name
            ordered.extend(frames if len(frames) == 1 else sorted(frames, key=frame_number))
            bounds.append((start, len(ordered)))
        return cls(ordered, list(by_video), np.asarray(bounds, dtype=np.int64).reshape(-1, 2))

    def __len__(self) -> int:
        return len(self.records)


def window_starts(length: int, seq: int, stride: int) -> list[int]:
    """Starts of the windows over a video of ``length`` frames: every ``stride``, plus one aligned to
    the end if the last window stops short of it (one window at 0 for a video shorter than ``seq``)."""
    if seq < 1 or stride < 1:
        raise ValueError(f"sequence length and stride must be >= 1, got {seq} and {stride}")
    if length <= seq:
        return [0]
    starts = list(range(0, length - seq + 1, stride))
    if starts[-1] + seq < length:
        starts.append(length - seq)
    return starts


@dataclass(frozen=True)
class Windows:
    """``M`` windows of ``S`` frames as indices into a :class:`VideoFrames`.

    Attributes:
        frames: [M, S] frame indices (padding repeats the video's last frame).
        valid: [M, S] True where the position is a real frame of the video, not padding.
        owner: [M, S] True where this position is the one that reports its frame at evaluation.
    """

    frames: np.ndarray
    valid: np.ndarray
    owner: np.ndarray

    def __len__(self) -> int:
        return len(self.frames)

    def subset(self, keep: np.ndarray) -> Windows:
        return Windows(self.frames[keep], self.valid[keep], self.owner[keep])


def make_windows(bounds: np.ndarray, seq: int, stride: int) -> Windows:
    """Windows of ``seq`` frames every ``stride`` frames within each video ``(start, stop)``."""
    frames, valid = [], []
    for start, stop in bounds:
        length = int(stop - start)
        if length == 0:
            continue
        for s in window_starts(length, seq, stride):
            pos = s + np.arange(seq)
            valid.append(pos < length)
            frames.append(start + np.minimum(pos, length - 1))
    frames_arr = np.asarray(frames, dtype=np.int64).reshape(-1, seq)
    valid_arr = np.asarray(valid, dtype=bool).reshape(-1, seq)
    owner = np.zeros_like(valid_arr)
    seen: set[int] = set()
    for m in range(len(frames_arr)):
        for j in np.flatnonzero(valid_arr[m]):
            f = int(frames_arr[m, j])
            if f not in seen:
                seen.add(f)
                owner[m, j] = True
    return Windows(frames_arr, valid_arr, owner)


def evaluation_windows(bounds: np.ndarray, seq: int) -> Windows:
    """Non-overlapping windows (the last one aligned to the end): each frame owned exactly once."""
    return make_windows(bounds, seq, seq)


def expand_to_frames(outputs: np.ndarray, frames: np.ndarray, owner: np.ndarray, n_frames: int) -> np.ndarray:
    """Window outputs ``[M, S, ...]`` -> one output per frame ``[n_frames, ...]``, each from the
    position that owns it.

    Raises:
        ValueError: a frame is owned by no position or by two (the windows do not tile the frames).
    """
    idx = frames[owner]
    counts = np.bincount(idx, minlength=n_frames)
    if len(counts) != n_frames or (counts != 1).any():
        missing, twice = int((counts == 0).sum()), int((counts > 1).sum())
        raise ValueError(f"window outputs do not cover each of the {n_frames} frames exactly once "
                         f"({missing} uncovered, {twice} covered more than once)")
    out = np.empty((n_frames, *outputs.shape[2:]), dtype=outputs.dtype)
    out[idx] = outputs[owner]
    return out
