"""Precomputed per-frame feature streams (``fuse.extra``): e.g. the audio features of papers 001
(sec. 3.2) and 003 (sec. 3.1), made by encoders outside this project and fused in frame by frame.

A stream is a folder holding one file per video, named after the video (``FaceRecord.video``, or the
folder of its frames: Aff-Wild2's ``cropped_aligned/<video>/``)::

    <video>.npy   # float array [frames, dim]
    <video>.csv   # one row of dim numbers per frame; the first line may be a header (no numbers)

Row i is frame i of the video, counting from 1 as the readers number frames (``FaceRecord.frame``,
or the number that ends an Aff-Wild2 image name, ``mtl.sequences.frame_number``): ``00001.jpg`` is
the first row. A file may hold more rows than the frames read (Aff-Wild2 leaves out frames without
a face), never fewer. Every column is a feature: leave frame numbers and timestamps out.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePath

import numpy as np

from cer.data.fields import is_number
from cer.data.record import FaceRecord
from mtl.sequences import frame_number, video_of

SUFFIXES = (".npy", ".csv")


@dataclass
class ExtraFeaturesConfig:
    """One item of ``fuse.extra``."""

    path: str                      # the folder of <video>.npy / <video>.csv files
    name: str                      # what the stream is (audio, ...): named in logs, errors and model.json

    def __post_init__(self) -> None:
        if not self.name.strip():
            raise ValueError(f"fuse.extra: the stream of {self.path} needs a name (e.g. name: audio)")


class FeatureFileError(ValueError):
    """A stream's file that is missing or cannot be used; the message names the file (and line)."""


def _number(text: str, where: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise FeatureFileError(f"{where}: {text.strip()!r} is not a number") from None
    if not np.isfinite(value):
        raise FeatureFileError(f"{where}: {text.strip()!r} is not a finite number")
    return value


def _csv_rows(path: Path) -> list[tuple[int, list[str]]]:
    """The ``(line number, fields)`` of a CSV file's data rows: trailing empty lines and a header line
    (a first line none of whose fields is a number) left out."""
    with open(path, newline="", encoding="utf-8") as f:
        lines = list(enumerate(csv.reader(f), start=1))  # csv.reader yields [] for an empty line
    while lines and not any(field.strip() for field in lines[-1][1]):
        lines.pop()
    if lines and not any(is_number(field) for field in lines[0][1]):
        lines = lines[1:]
    return lines


def read_csv_features(path: Path) -> np.ndarray:
    """``[rows, dim]`` float32 from a CSV file of one row per frame, after an optional header line.

    Raises:
        FeatureFileError: a field that is not a finite number, rows of different lengths, an empty line
            between rows, or no rows; the message names the file and line.
    """
    lines = _csv_rows(path)
    if not lines:
        raise FeatureFileError(f"{path}: no rows of numbers (one row per frame)")
    dim, first = len(lines[0][1]), lines[0][0]
    rows = []
    for number, fields in lines:
        if not any(field.strip() for field in fields):
            raise FeatureFileError(f"{path} line {number}: empty; give one row of {dim} numbers per frame")
        if len(fields) != dim:
            raise FeatureFileError(f"{path} line {number}: {len(fields)} values, line {first} has {dim} "
                                   "(every row holds the same features)")
        rows.append([_number(field, f"{path} line {number}, column {col}") for col, field in enumerate(fields, 1)])
    return np.asarray(rows, dtype=np.float32)


def read_npy_features(path: Path) -> np.ndarray:
    """``[rows, dim]`` float32 from a ``.npy`` array (read without unpickling: the file is untrusted).

    Raises:
        FeatureFileError: not a 2-D array of numbers, or a NaN or infinity (the row is named).
    """
    try:
        array = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as err:  # object arrays, not a .npy file, a truncated one
        raise FeatureFileError(f"{path}: not an array of numbers that numpy can read without pickle ({err})") from None
    if not isinstance(array, np.ndarray) or array.dtype.kind not in "iuf":
        kind = getattr(array, "dtype", type(array).__name__)
        raise FeatureFileError(f"{path}: holds {kind}, not numbers; save a float array [frames, dim]")
    if array.ndim != 2:
        raise FeatureFileError(f"{path}: an array of shape {array.shape}; save [frames, dim] "
                               "(one row per frame; a single feature is [frames, 1])")
    values = np.asarray(array, dtype=np.float32)
    bad = ~np.isfinite(values).all(axis=1)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise FeatureFileError(f"{path}: row {row} (frame {row + 1}) holds a NaN or infinity, not a number")
    return values


def read_feature_file(path: Path) -> np.ndarray:
    """``[rows, dim]`` float32 features of one video, ``.npy`` or ``.csv``."""
    return read_npy_features(path) if path.suffix == ".npy" else read_csv_features(path)


def rows_in_words(path: Path, rows: int) -> str:
    """How many rows ``path`` holds, with the line of the last one for a CSV file."""
    return f"{rows} rows" if path.suffix == ".npy" else f"{rows} rows (the last on line {_csv_rows(path)[-1][0]})"


class FrameFeatures:
    """The features of one stream for any frames: ``of(records)`` reads each video's file once.

    Args:
        folder: the stream's folder.
        name: the stream's name (in messages).
        dim: the width every file must have; None: the first file read sets it (so the training and
            validation frames of a run, read by the same object, get one width).
    """

    def __init__(self, folder: str | Path, name: str, dim: int | None = None):
        self.folder, self.name, self.dim = Path(folder), name, dim
        self._width_from: Path | None = None  # the file that set dim, named when another disagrees
        if not self.folder.is_dir():
            raise FeatureFileError(f"fuse.extra {name!r}: {self.folder} is not a folder; give the folder "
                                   "holding one <video>.npy or <video>.csv per video")

    def file_of(self, video: str) -> Path:
        """The file of ``video``: exactly one of ``<video>.npy`` and ``<video>.csv``."""
        found = [self.folder / f"{video}{suffix}" for suffix in SUFFIXES]
        found = [p for p in found if p.is_file()]
        if not found:
            raise FeatureFileError(f"fuse.extra {self.name!r}: no feature file for video {video}: expected "
                                   f"{self.folder / video}.npy or .csv (one row per frame)")
        if len(found) > 1:
            raise FeatureFileError(f"fuse.extra {self.name!r}: both {found[0]} and {found[1]} exist for video "
                                   f"{video}; keep one")
        return found[0]

    def of(self, records: Sequence[FaceRecord]) -> np.ndarray:
        """``[len(records), dim]`` float32: each record's row of its video's file.

        Raises:
            FeatureFileError: a video without a file, a file with too few rows for a frame, another
                width than the stream's, or values that are not numbers; the file (and line) named.
        """
        by_video: dict[str, list[int]] = {}
        for i, r in enumerate(records):
            by_video.setdefault(PurePath(video_of(r)).name, []).append(i)
        out: np.ndarray | None = None
        for video, indices in by_video.items():
            path = self.file_of(video)
            table = read_feature_file(path)
            self._check_width(path, table.shape[1])
            frames = np.asarray([frame_number(records[i]) for i in indices])
            if frames.min() < 1:
                raise FeatureFileError(f"fuse.extra {self.name!r}: video {video} has frame {frames.min()}, but "
                                       f"frames count from 1 (row 1 of {path} is frame 1)")
            if frames.max() > len(table):
                raise FeatureFileError(f"{path} holds {rows_in_words(path, len(table))}, but frame "
                                       f"{frames.max()} of video {video} is read: one row per frame, row i = "
                                       f"frame i, so the file needs at least {frames.max()} rows")
            if out is None:
                out = np.empty((len(records), table.shape[1]), dtype=np.float32)
            out[indices] = table[frames - 1]
        return out if out is not None else np.zeros((0, self.dim or 0), dtype=np.float32)

    def _check_width(self, path: Path, dim: int) -> None:
        if self.dim is None:
            self.dim, self._width_from = dim, path
        elif dim != self.dim:
            source = f"the stream's other files (e.g. {self._width_from})" if self._width_from else "the trained model"
            raise FeatureFileError(f"{path}: {dim} values per frame, {source} {self.dim}; "
                                   f"every file of fuse.extra {self.name!r} holds the same features")
