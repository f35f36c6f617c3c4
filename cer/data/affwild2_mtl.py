"""s-Aff-Wild2, the static ABAW multi-task set: one annotation file per split, every task on one row.

``training_set_annotations.txt`` / ``validation_set_annotations.txt`` in the data root::

    image,valence,arousal,expression,AU1,AU2,AU4,AU6,AU7,AU10,AU12,AU15,AU23,AU24,AU25,AU26
    10-60-1280x720_right/00001.jpg,0.25,-0.1,4,0,0,0,1,1,0,1,0,0,0,1,0

with images under ``cropped_aligned/``. Unannotated labels carry markers: V/A = -5, EXPR = -1,
AU = -1. The published files repeat some rows (142,382 training rows, 141,431 unique; Netease Fuxi,
ABAW7, sec. 4.1); the reader drops the repeats, and a repeat whose labels differ is an error, not a
silent choice between two annotations.

The marker parsers here are shared with the per-video track reader (``affwild2_tracks``).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, overload

from cer.data.errors import DataFormatError
from cer.data.image_check import OnMissing, check_choice, drop_missing_images
from cer.data.record import FaceRecord
from cer.taxonomy import AFFWILD2_AUS, AFFWILD2_EXPR

VA_MISSING = -5.0
EXPR_MISSING = -1
AU_MISSING = -1
AU_COLUMNS: tuple[str, ...] = tuple(f"AU{n}" for n in AFFWILD2_AUS)
MTL_HEADER: tuple[str, ...] = ("image", "valence", "arousal", "expression", *AU_COLUMNS)
MTL_FILES = {"train": "training_set_annotations.txt", "validation": "validation_set_annotations.txt"}
IMAGE_DIR = "cropped_aligned"
TASKS = ("au", "va", "expr", "all")
Split = Literal["train", "validation"]

# --- label fields (shared with the track reader) -------------------------------------------------


def parse_va(text: str, what: str, file: Path, line: int) -> float | None:
    """A valence or arousal value in [-1, 1]; the marker -5 gives None."""
    try:
        value = float(text)
    except ValueError:
        raise DataFormatError(file, line, f"{what}: expected a number in [-1, 1] or -5, found {text!r}") from None
    if value == VA_MISSING:
        return None
    if not -1.0 <= value <= 1.0:
        raise DataFormatError(file, line, f"{what} {text} is outside [-1, 1] (and is not the marker -5)")
    return value


def _parse_int(text: str, what: str, expected: str, file: Path, line: int) -> int:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not value.is_integer():
        raise DataFormatError(file, line, f"{what}: expected {expected}, found {text!r}")
    return int(value)


def parse_expression(text: str, file: Path, line: int) -> int | None:
    """An Aff-Wild2 EXPR index 0..7; the marker -1 gives None."""
    value = _parse_int(text, "expression", "an integer 0..7 or -1", file, line)
    if value == EXPR_MISSING:
        return None
    try:
        return AFFWILD2_EXPR.from_file_label(value)
    except ValueError as err:
        raise DataFormatError(file, line, f"{err} (and is not the marker -1)") from None


_AU_SPELLINGS = {"0": 0, "1": 1, "-1": AU_MISSING}


def parse_aus(texts: Sequence[str], file: Path, line: int) -> tuple[int, ...]:
    """The 12 AU occurrences (0/1), -1 where unannotated."""
    try:  # the common spelling first: track files hold millions of these lines
        return tuple(_AU_SPELLINGS[t] for t in texts)
    except KeyError:
        pass
    aus = []
    for name, text in zip(AU_COLUMNS, texts, strict=True):
        value = _parse_int(text, name, "0, 1 or -1", file, line)
        if value not in (0, 1, AU_MISSING):
            raise DataFormatError(file, line, f"{name}: expected 0, 1 or -1, found {text!r}")
        aus.append(value)
    return tuple(aus)


def check_header(found: Sequence[str], expected: Sequence[str], file: Path, line: int = 1) -> None:
    """Raise unless the header fields are ``expected`` (surrounding spaces ignored)."""
    if [f.strip() for f in found] != list(expected):
        raise DataFormatError(file, line, f"expected the header {','.join(expected)!r}, found {','.join(found)!r}")


# --- the MTL file --------------------------------------------------------------------------------


@dataclass(frozen=True)
class MtlReadStats:
    """What reading one annotation file found: rows as written, exact repeats dropped, images dropped."""

    rows: int
    duplicates: int
    missing_images: int

    @property
    def unique(self) -> int:
        return self.rows - self.duplicates


@overload
def read_affwild2_mtl(
    root: str | Path, split: Split = ..., deduplicate: bool = ..., on_missing: OnMissing = ...,
    return_stats: Literal[False] = ...,
) -> list[FaceRecord]: ...
@overload
def read_affwild2_mtl(
    root: str | Path, split: Split = ..., deduplicate: bool = ..., on_missing: OnMissing = ...,
    *, return_stats: Literal[True],
) -> tuple[list[FaceRecord], MtlReadStats]: ...


def read_affwild2_mtl(
    root: str | Path,
    split: Split = "train",
    deduplicate: bool = True,
    on_missing: OnMissing = "error",
    return_stats: bool = False,
) -> list[FaceRecord] | tuple[list[FaceRecord], MtlReadStats]:
    """Read ``training_set_annotations.txt`` or ``validation_set_annotations.txt`` under ``root``.

    Args:
        root: the s-Aff-Wild2 folder holding the annotation files and ``cropped_aligned/``.
        split: ``"train"`` or ``"validation"``.
        deduplicate: drop rows that repeat an earlier row's image with the same labels (a repeat with
            different labels raises :class:`DataFormatError` naming both lines). False keeps every row.
        on_missing: what to do with rows whose image does not exist (see ``drop_missing_images``).
        return_stats: also return a :class:`MtlReadStats` (rows, duplicates, missing images).

    Returns:
        Records in file order (``video`` = the image's folder, ``space`` = ``affwild2-expr``), and
        the stats when asked for.
    """
    check_choice("split", split, tuple(MTL_FILES))
    path = Path(root) / MTL_FILES[split]
    if not path.is_file():
        raise FileNotFoundError(f"no s-Aff-Wild2 annotation file {path}: pass the folder holding {MTL_FILES[split]}")
    rows = parse_mtl_file(path, os.path.join(root, IMAGE_DIR))
    records, duplicates = _deduplicate(rows, path) if deduplicate else ([r for r, _ in rows], 0)
    kept = drop_missing_images(records, path, on_missing)
    if return_stats:
        return kept, MtlReadStats(rows=len(rows), duplicates=duplicates, missing_images=len(records) - len(kept))
    return kept


def parse_mtl_file(path: Path, image_dir: str) -> list[tuple[FaceRecord, int]]:
    """Every row of an MTL annotation file as ``(record, line number)``."""
    lines = path.read_text(encoding="utf-8-sig").splitlines()
    if not any(line.strip() for line in lines):
        raise DataFormatError(path, None, f"the file is empty: expected the header {','.join(MTL_HEADER)!r} and rows")
    check_header(lines[0].split(","), MTL_HEADER, path)
    rows: list[tuple[FaceRecord, int]] = []
    for line_no, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        fields = [f.strip() for f in line.split(",")]
        if len(fields) != len(MTL_HEADER):
            raise DataFormatError(
                path, line_no,
                f"expected {len(MTL_HEADER)} comma-separated fields (image,valence,arousal,expression,"
                f"AU1..AU26), found {len(fields)}",
            )
        video = image_video(fields[0], path, line_no)
        record = FaceRecord(
            image=os.path.join(image_dir, fields[0]),
            video=video,
            space=AFFWILD2_EXPR.name,
            valence=parse_va(fields[1], "valence", path, line_no),
            arousal=parse_va(fields[2], "arousal", path, line_no),
            expression=parse_expression(fields[3], path, line_no),
            aus=parse_aus(fields[4:], path, line_no),
        )
        rows.append((record, line_no))
    if not rows:
        raise DataFormatError(path, None, "the file has a header but no rows")
    return rows


def image_video(image: str, file: Path, line: int) -> str:
    """The video of a frame path ``<video>/<NNNNN>.jpg``, after checking the frame number is one."""
    video, _, name = image.partition("/")
    number = name.rsplit(".", 1)[0]
    if not video or "/" in name or not number.isdigit() or int(number) < 1:
        raise DataFormatError(file, line, f"expected an image path '<video>/<frame number>.jpg', found {image!r}")
    return video


def _deduplicate(rows: list[tuple[FaceRecord, int]], path: Path) -> tuple[list[FaceRecord], int]:
    first: dict[str, tuple[FaceRecord, int]] = {}
    for record, line_no in rows:
        seen = first.setdefault(record.image, (record, line_no))
        if seen[0] != record:
            raise DataFormatError(
                path, line_no,
                f"{record.image} is listed again with different labels (first on line {seen[1]}): fix one "
                "of the two rows, or pass deduplicate=False to keep both",
            )
    return [r for r, _ in first.values()], len(rows) - len(first)


# --- per-task views -------------------------------------------------------------------------------

_VALID = {
    "au": lambda r: r.aus is not None and bool(r.au_mask.all()),
    "va": lambda r: r.has_va,
    "expr": lambda r: r.has_expression,
}


def _tasks(task: str | Iterable[str]) -> tuple[str, ...]:
    names = (task,) if isinstance(task, str) else tuple(task)
    for name in names:
        check_choice("task", name, TASKS)
    return tuple(_VALID) if "all" in names else names


def filter_task(records: Iterable[FaceRecord], task: str | Iterable[str]) -> list[FaceRecord]:
    """The records valid for ``task``: ``"au"`` (all 12 AUs annotated), ``"va"`` (both valence and
    arousal), ``"expr"``, ``"all"`` (all three), or a collection of these (valid for each)."""
    checks = [_VALID[t] for t in _tasks(task)]
    return [r for r in records if all(check(r) for check in checks)]


def task_counts(records: Sequence[FaceRecord]) -> dict[str, int]:
    """``{"au": n, "va": n, "expr": n, "all": n}``: how many records each task can train on
    (``"all"``: valid for every task at once); ``len(records)`` is the total."""
    return {task: len(filter_task(records, task)) for task in TASKS}
