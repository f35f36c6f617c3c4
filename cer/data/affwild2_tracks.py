"""Aff-Wild2 per-video track files, the layout of the ABAW single-task challenges::

    Annotations/VA_Estimation_Challenge/Train_Set/<video>.txt          # header "valence,arousal"
    Annotations/EXPR_Classification_Challenge/Validation_Set/<video>.txt
    Annotations/AU_Detection_Challenge/Train_Set/<video>.txt
    cropped_aligned/<video>/00001.jpg

One header line, then line i (1-based, after the header) labels frame ``<video>/{i:05d}.jpg``.
Markers as in the MTL file: V/A = -5, EXPR = -1, AU = -1. Aff-Wild2 annotates frames whose crop was
never written (no face detected): read with ``on_missing="drop"`` to skip them with a logged count.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from cer.data.affwild2_mtl import AU_COLUMNS, IMAGE_DIR, parse_aus, parse_expression, parse_va
from cer.data.errors import DataFormatError
from cer.data.image_check import OnMissing, check_choice, drop_missing_images
from cer.data.record import FaceRecord
from cer.taxonomy import AFFWILD2_EXPR


def _va(fields: list[str], file: Path, line: int) -> dict:
    return {
        "valence": parse_va(fields[0], "valence", file, line),
        "arousal": parse_va(fields[1], "arousal", file, line),
    }


def _expr(fields: list[str], file: Path, line: int) -> dict:
    return {"space": AFFWILD2_EXPR.name, "expression": parse_expression(fields[0], file, line)}


def _au(fields: list[str], file: Path, line: int) -> dict:
    return {"aus": parse_aus(fields, file, line)}


@dataclass(frozen=True)
class TrackFormat:
    """Where one challenge's track files live, their header, and how a frame line is parsed."""

    folder: str
    header: tuple[str, ...]
    width: int  # values per frame line (EXPR: one class index under an 8-name header)
    parse: Callable[[list[str], Path, int], dict]  # fields, file, line -> FaceRecord label fields


TRACK_FORMATS: dict[str, TrackFormat] = {
    "VA": TrackFormat("VA_Estimation_Challenge", ("valence", "arousal"), 2, _va),
    "EXPR": TrackFormat("EXPR_Classification_Challenge", AFFWILD2_EXPR.classes, 1, _expr),
    "AU": TrackFormat("AU_Detection_Challenge", AU_COLUMNS, len(AU_COLUMNS), _au),
}
SPLIT_FOLDERS = {"train": "Train_Set", "validation": "Validation_Set"}


def track_folder(root: str | Path, task: str, split: str) -> Path:
    """``root/Annotations/<challenge>/<Train_Set|Validation_Set>``."""
    return Path(root) / "Annotations" / TRACK_FORMATS[task].folder / SPLIT_FOLDERS[split]


def read_affwild2_tracks(
    root: str | Path,
    task: Literal["VA", "EXPR", "AU"] = "VA",
    split: Literal["train", "validation"] = "train",
    on_missing: OnMissing = "error",
) -> list[FaceRecord]:
    """Read every track file of one challenge and split.

    Args:
        root: the Aff-Wild2 folder holding ``Annotations/`` and ``cropped_aligned/``.
        task: ``"VA"``, ``"EXPR"`` or ``"AU"``; each record carries that task's labels only.
        split: ``"train"`` or ``"validation"``.
        on_missing: what to do with annotated frames whose crop does not exist.

    Returns:
        Records of all videos (sorted by name), frames in order, ``video`` set.
    """
    check_choice("task", task, tuple(TRACK_FORMATS))
    check_choice("split", split, tuple(SPLIT_FOLDERS))
    folder = track_folder(root, task, split)
    files = sorted(folder.glob("*.txt")) if folder.is_dir() else []
    if not files:
        raise FileNotFoundError(
            f"no track files (*.txt) in {folder}: pass the Aff-Wild2 folder that holds Annotations/"
        )
    image_dir = os.path.join(root, IMAGE_DIR)
    records = [r for file in files for r in parse_track_file(file, task, image_dir)]
    return drop_missing_images(records, folder, on_missing)


def parse_track_file(path: Path, task: str, image_dir: str) -> list[FaceRecord]:
    """The frames of one ``<video>.txt`` track file."""
    fmt = TRACK_FORMATS[task]
    expected = fmt.header
    lines = path.read_text(encoding="utf-8-sig").splitlines()
    if not any(line.strip() for line in lines):
        raise DataFormatError(
            path, None, f"the file is empty: expected the header {','.join(expected)!r} and one line per frame"
        )
    header = [f.strip() for f in lines[0].split(",")]
    if header != list(expected):
        other = next((t for t, f in TRACK_FORMATS.items() if list(f.header) == header), None)
        hint = f" (this is a {other} file: is it in the wrong challenge folder?)" if other else ""
        raise DataFormatError(path, 1, f"expected the {task} header {','.join(expected)!r}, found {lines[0]!r}{hint}")
    video = path.stem
    frames_dir = os.path.join(image_dir, video)
    records: list[FaceRecord] = []
    for frame, line in enumerate(lines[1:], start=1):
        line_no = frame + 1
        if not line.strip():
            if any(rest.strip() for rest in lines[line_no:]):
                raise DataFormatError(path, line_no, "blank line between frames: line i must label frame i")
            break
        fields = [f.strip() for f in line.split(",")]
        if len(fields) != fmt.width:
            raise DataFormatError(
                path, line_no, f"expected {fmt.width} comma-separated {task} value(s) per frame, found {len(fields)}"
            )
        image = os.path.join(frames_dir, f"{frame:05d}.jpg")
        records.append(FaceRecord(image=image, video=video, **fmt.parse(fields, path, line_no)))
    if not records:
        raise DataFormatError(path, None, "the file has a header but no frame lines")
    return records

