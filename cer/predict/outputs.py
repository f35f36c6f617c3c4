"""What ``cer predict`` writes: one per-frame CSV per video, ``summary.csv`` and the C-EXPR-DB
submission, each written under a temporary name and renamed when complete, so a file that exists
is whole.

The per-frame CSV is the record everything else is read from (the summary, the submission, the
``--skip-done`` check), so a re-run that skips finished videos builds the same aggregate files.
Its columns::

    frame, timestamp, face_id, x, y, w, h, face_score, success,
    p_<basic>...   the model's probabilities of the 6 CE basic expressions (empty without a face)
    s_<class>...   class scores of the constraint set: component sums of the interpolated,
                   smoothed probabilities (frames without a face: interpolated from their neighbours)
    label, label_index   argmax of the s_ columns (empty when the video has no face at all)

One row per frame, or one per face and frame with ``--all-faces``; ``success`` is 1 where a face
was classified. A frame's label (summary, submission) is the argmax of the class-wise maximum of
its rows' scores: the HSEmotion rule for several faces. A video in which no face was found at all
has no label in its CSV; the submission, which needs one for every frame, gives its frames the
class predicted most often over the run (:func:`fallback_label`), the best guess without evidence.
"""

from __future__ import annotations

import csv
import os
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from cer.taxonomy import CE_BASIC

FRAME_COLUMNS = ("frame", "timestamp", "face_id", "x", "y", "w", "h", "face_score", "success")
SCORE_DECIMALS = 5  # scores are rounded to this before the argmax, so labels read back equal labels computed
SUMMARY_FILE = "summary.csv"


def frame_csv_columns(class_names: Sequence[str]) -> list[str]:
    """Header of the per-frame CSV for a constraint set's class names."""
    return [*FRAME_COLUMNS, *(f"p_{c}" for c in CE_BASIC.classes), *(f"s_{c}" for c in class_names),
            "label", "label_index"]


@contextmanager
def atomic_text(path: Path) -> Iterator[TextIO]:
    """Open ``path.tmp`` for writing and rename it to ``path`` only if the block completes."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "w", newline="", encoding="utf-8") as handle:
            yield handle
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


@dataclass
class VideoPrediction:
    """Everything predicted for one video: a few numbers per frame, never an image.

    Attributes:
        name: the video's name in outputs (``VV`` of the submission).
        class_names: classes of the constraint set, in score order.
        frames: [T] frame numbers (1-based, file order).
        timestamps: [T] seconds.
        face_pos: [N] position in ``frames`` of each face row.
        face_ids: [N] face id of each face row (0 with one face per frame).
        boxes: [N, 5] x, y, w, h, detector score.
        probs: [N, 6] raw basic-expression probabilities of each face row.
        scores: [N, C] class scores of each face row after interpolation and smoothing.
        frame_scores: [T, C] the frame's scores (max over faces, interpolated); NaN without any face.
        errors: frame number -> why it could not be decoded.
    """

    name: str
    class_names: tuple[str, ...]
    frames: np.ndarray
    timestamps: np.ndarray
    face_pos: np.ndarray
    face_ids: np.ndarray
    boxes: np.ndarray
    probs: np.ndarray
    scores: np.ndarray
    frame_scores: np.ndarray
    errors: dict[int, str] = field(default_factory=dict)

    @property
    def frame_labels(self) -> np.ndarray:
        """[T] label index of each frame, -1 when the video has no face at all."""
        if np.isnan(self.frame_scores).all():
            return np.full(len(self.frames), -1)
        return np.argmax(self.frame_scores, axis=1)

    def rows(self) -> Iterator[dict[str, Any]]:
        """Per-frame rows in frame order (see the module docstring); values are numbers or None."""
        order = np.lexsort((self.face_ids, self.face_pos))
        k = 0
        for t, frame in enumerate(self.frames):
            base = {"frame": int(frame), "timestamp": round(float(self.timestamps[t]), 4)}
            emitted = False
            while k < len(order) and self.face_pos[order[k]] == t:
                i = order[k]
                x, y, w, h = (round(float(v), 2) for v in self.boxes[i, :4])
                yield {**base, "face_id": int(self.face_ids[i]), "x": x, "y": y, "w": w, "h": h,
                       "face_score": round(float(self.boxes[i, 4]), 4), "success": 1,
                       **self._probs(self.probs[i]), **self._scores(self.scores[i])}
                k += 1
                emitted = True
            if not emitted:
                yield {**base, "face_id": None, "x": None, "y": None, "w": None, "h": None,
                       "face_score": None, "success": 0, **self._probs(None),
                       **self._scores(self.frame_scores[t])}

    @staticmethod
    def _probs(probs: np.ndarray | None) -> dict[str, float | None]:
        if probs is None:
            return {f"p_{c}": None for c in CE_BASIC.classes}
        return {f"p_{c}": round(float(p), SCORE_DECIMALS) for c, p in zip(CE_BASIC.classes, probs)}

    def _scores(self, scores: np.ndarray) -> dict[str, Any]:
        if np.isnan(scores).any():
            return {**{f"s_{c}": None for c in self.class_names}, "label": None, "label_index": None}
        index = int(np.argmax(scores))
        return {**{f"s_{c}": float(s) for c, s in zip(self.class_names, scores)},
                "label": self.class_names[index], "label_index": index}


def write_frame_csv(path: Path, rows: Iterable[dict[str, Any]], class_names: Sequence[str]) -> int:
    """Write per-frame rows atomically; returns the number of rows."""
    columns = frame_csv_columns(class_names)
    n = 0
    with atomic_text(path) as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(columns)
        for row in rows:
            writer.writerow(["" if row[c] is None else row[c] for c in columns])
            n += 1
    return n


def read_frame_csv(path: Path) -> Iterator[dict[str, Any]]:
    """Rows of a per-frame CSV with numbers parsed (empty fields -> None), streamed."""
    ints = {"frame", "face_id", "success", "label_index"}
    with open(path, newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            yield {k: (None if v == "" else v if k == "label" else int(v) if k in ints else float(v))
                   for k, v in row.items()}


def frame_csv_classes(path: Path) -> tuple[str, ...]:
    """Class names of the ``s_`` columns of a per-frame CSV (its constraint set)."""
    with open(path, newline="", encoding="utf-8") as handle:
        header = next(csv.reader(handle), [])
    return tuple(c[2:] for c in header if c.startswith("s_"))


def frame_scores_from_csv(path: Path) -> Iterator[tuple[int, bool, np.ndarray | None]]:
    """(frame, has a face, scores) per frame of a per-frame CSV, streamed: the scores are the
    class-wise maximum over the frame's rows, None where the CSV has none (a video without faces)."""
    names = frame_csv_classes(path)
    current, face, best = None, False, None
    for row in read_frame_csv(path):
        if row["frame"] != current:
            if current is not None:
                yield current, face, best
            current, face, best = row["frame"], False, None
        face = face or bool(row["success"])
        if row[f"s_{names[0]}"] is not None:
            scores = np.array([row[f"s_{c}"] for c in names])
            best = scores if best is None else np.maximum(best, scores)
    if current is not None:
        yield current, face, best


def frame_labels(path: Path) -> Iterator[tuple[int, int | None]]:
    """(frame, label index or None) per frame of a per-frame CSV (see :func:`frame_scores_from_csv`)."""
    for frame, _, scores in frame_scores_from_csv(path):
        yield frame, None if scores is None else int(np.argmax(scores))


@dataclass
class VideoSummary:
    """One line of ``summary.csv``."""

    name: str
    path: str
    status: str  # ok | damaged | no_face | done (--skip-done) | failed
    reason: str = ""
    frames: int = 0
    frames_with_face: int = 0
    majority_label: str = ""
    mean_scores: dict[str, float] = field(default_factory=dict)
    seconds: float | None = None
    label_counts: Counter = field(default_factory=Counter, repr=False)


def summarise_frame_csv(path: Path, summary: VideoSummary) -> VideoSummary:
    """Fill ``summary``'s counts, majority label and mean frame scores from a per-frame CSV."""
    names = frame_csv_classes(path)
    frames = with_face = scored = 0
    total = np.zeros(len(names))
    labels: Counter = Counter()
    for _, face, scores in frame_scores_from_csv(path):
        frames += 1
        with_face += face
        if scores is not None:
            scored += 1
            total += scores
            labels[int(np.argmax(scores))] += 1
    summary.frames, summary.frames_with_face, summary.label_counts = frames, with_face, labels
    if labels:
        summary.majority_label = names[_most_common(labels)]
        summary.mean_scores = {c: round(float(v / scored), SCORE_DECIMALS) for c, v in zip(names, total)}
    return summary


def _most_common(counts: Counter) -> int:
    """The most frequent key; ties go to the lowest (deterministic, unlike Counter.most_common)."""
    return max(sorted(counts), key=lambda i: counts[i])


def write_summary(path: Path, summaries: Sequence[VideoSummary], class_names: Sequence[str]) -> None:
    """``summary.csv``: one line per input, in input order."""
    columns = ["name", "path", "status", "reason", "frames", "frames_with_face", "majority_label",
               *(f"mean_s_{c}" for c in class_names), "seconds"]
    with atomic_text(path) as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(columns)
        for s in summaries:
            writer.writerow([s.name, s.path, s.status, s.reason, s.frames, s.frames_with_face,
                             s.majority_label, *(s.mean_scores.get(c, "") for c in class_names),
                             "" if s.seconds is None else f"{s.seconds:.2f}"])


def fallback_label(summaries: Sequence[VideoSummary]) -> int:
    """The label given to every frame of a video without any face: the class predicted most often
    over all frames of this run (ties and a run without any face: the lowest class index)."""
    counts = sum((s.label_counts for s in summaries), Counter())
    return _most_common(counts) if counts else 0


def write_submission(path: Path, videos: Sequence[tuple[str, Path]], class_names: Sequence[str],
                     fallback: int) -> int:
    """The C-EXPR-DB submission (``image_location,<classes>`` then ``VV/NNNNN.jpg,<index>``) for
    every frame of ``videos`` ((name, per-frame CSV) in input order); returns the row count."""
    n = 0
    with atomic_text(path) as handle:
        handle.write("image_location," + ",".join(class_names) + "\n")
        for name, csv_path in videos:
            for frame, label in frame_labels(csv_path):
                handle.write(f"{name}/{frame:05d}.jpg,{fallback if label is None else label}\n")
                n += 1
    return n


def score_submission(submission: Path, ground_truth: Path, num_classes: int) -> dict[str, Any]:
    """Frame-level macro F1 of a submission against a ground truth in the same format.

    Returns:
        ``{"f1": ..., "frames": scored frames, "missing": ground-truth frames without a prediction}``.
    """
    from cer.data.errors import DataFormatError
    from cer.metrics import f1_macro

    predicted = dict(_read_submission(submission))
    truth, pred, missing = [], [], 0
    for name, label in _read_submission(ground_truth):
        if not 0 <= label < num_classes:
            raise DataFormatError(ground_truth, None, f"{name}: class {label} is outside 0..{num_classes - 1}")
        if name in predicted:
            truth.append(label)
            pred.append(predicted[name])
        else:
            missing += 1
    return {"f1": f1_macro(np.array(truth), np.array(pred), num_classes), "frames": len(truth),
            "missing": missing}


def _read_submission(path: Path) -> Iterator[tuple[str, int]]:
    from cer.data.errors import DataFormatError

    with open(path, encoding="utf-8-sig") as handle:
        header = handle.readline().strip()
        if not header.startswith("image_location,"):
            raise DataFormatError(path, 1, f"expected the header 'image_location,<class names>', found {header!r}")
        for line_no, line in enumerate(handle, start=2):
            if not line.strip():
                continue
            name, _, value = line.strip().partition(",")
            if not value.strip().isdigit():
                raise DataFormatError(path, line_no, f"expected 'VV/NNNNN.jpg,<class index>', found {line.strip()!r}")
            yield name, int(value)


@dataclass(frozen=True)
class OutputPaths:
    """The files one input gets in the output folder."""

    frame_csv: Path
    timeline: Path
    annotated: Path

    @classmethod
    def of(cls, out: Path, name: str) -> OutputPaths:
        return cls(out / f"{name}.csv", out / f"{name}_timeline.png", out / f"{name}_annotated.mp4")
