"""C-EXPR-DB (Kollias, 2023), the ABAW compound-expression test videos::

    frame_list.txt          # one "VV/NNNNN.jpg" per frame to predict, 1-based frame numbers
    videos/VV.mp4           # (or .avi, .mov, .mkv, .webm)
    cropped_aligned/VV/NNNNN.jpg   # optional: face crops; when present they are read instead
    ground_truth.csv        # optional (the public set has none): the submission format,
                            # "image_location,Fearfully_Surprised,...,Sadly_Angry" then "VV/NNNNN.jpg,<0-6>"

Records are video frames (``image`` = the video file, ``frame`` = NNNNN) or, with
``cropped_aligned/``, the crop files; labels use space ``c-expr`` (``cer.taxonomy.C_EXPR``).
"""

from __future__ import annotations

import logging
from pathlib import Path

from cer.data.errors import DataFormatError
from cer.data.image_check import OnMissing, drop_missing_images
from cer.data.image_loader import VIDEO_SUFFIXES
from cer.data.record import FaceRecord
from cer.taxonomy import C_EXPR

FRAME_LIST = "frame_list.txt"
GROUND_TRUTH = "ground_truth.csv"
GROUND_TRUTH_HEADER: tuple[str, ...] = ("image_location", *C_EXPR.classes)
CROP_DIR = "cropped_aligned"

logger = logging.getLogger("cer.data")


def read_c_expr_db(root: str | Path, on_missing: OnMissing = "error") -> list[FaceRecord]:
    """Read the frames of ``frame_list.txt`` with their labels where ``ground_truth.csv`` exists.

    Args:
        root: the C-EXPR-DB folder holding ``frame_list.txt`` and ``videos/``.
        on_missing: what to do with frames whose video (or crop) does not exist.

    Returns:
        One record per listed frame, in list order, ``video`` = VV.
    """
    root = Path(root)
    list_file = root / FRAME_LIST
    if not list_file.is_file():
        raise FileNotFoundError(f"no {FRAME_LIST} in {root}: pass the C-EXPR-DB folder that holds it and videos/")
    frames = parse_frame_list(list_file)
    labels = parse_ground_truth(root / GROUND_TRUTH, frames) if (root / GROUND_TRUTH).is_file() else {}
    if labels and len(labels) < len(frames):
        logger.warning("%s labels %d of the %d listed frames; the others have no expression",
                       root / GROUND_TRUTH, len(labels), len(frames))
    crops = (root / CROP_DIR).is_dir()
    videos = {} if crops else {video: find_video(root, video) for video, _ in frames.values()}
    records = []
    for name, (video, frame) in frames.items():
        label = labels.get(name)
        space = C_EXPR.name if label is not None else None
        if crops:
            record = FaceRecord(image=str(root / CROP_DIR / name), video=video, space=space, expression=label)
        else:
            record = FaceRecord(image=str(videos[video]), frame=frame, video=video, space=space, expression=label)
        records.append(record)
    return drop_missing_images(records, list_file, on_missing)


def find_video(root: Path, video: str) -> Path:
    """``root/videos/<video>.<ext>`` for the first extension present (``.mp4`` if none is)."""
    for ext in VIDEO_SUFFIXES:
        path = root / "videos" / f"{video}{ext}"
        if path.is_file():
            return path
    return root / "videos" / f"{video}{VIDEO_SUFFIXES[0]}"


def parse_frame_name(name: str, file: Path, line: int) -> tuple[str, int]:
    """``VV/NNNNN.jpg`` -> (``VV``, NNNNN)."""
    video, _, frame = name.partition("/")
    number = frame.rsplit(".", 1)[0]
    if not video or "/" in frame or not number.isdigit() or int(number) < 1:
        raise DataFormatError(file, line, f"expected a frame name 'VV/NNNNN.jpg' (frames from 1), found {name!r}")
    return video, int(number)


def parse_frame_list(path: Path) -> dict[str, tuple[str, int]]:
    """``frame_list.txt`` as {``VV/NNNNN.jpg``: (video, frame)}, in file order."""
    lines = path.read_text(encoding="utf-8-sig").splitlines()
    if not any(line.strip() for line in lines):
        raise DataFormatError(path, None, "the file is empty: expected one 'VV/NNNNN.jpg' per line")
    frames: dict[str, tuple[str, int]] = {}
    first_line: dict[str, int] = {}
    for line_no, line in enumerate(lines, start=1):
        name = line.strip()
        if not name:
            continue
        if name in frames:
            raise DataFormatError(path, line_no, f"{name} is listed again (first on line {first_line[name]})")
        frames[name] = parse_frame_name(name, path, line_no)
        first_line[name] = line_no
    return frames


def parse_ground_truth(path: Path, frames: dict[str, tuple[str, int]]) -> dict[str, int]:
    """``ground_truth.csv`` as {``VV/NNNNN.jpg``: C-EXPR index}; every row must be a listed frame."""
    lines = path.read_text(encoding="utf-8-sig").splitlines()
    expected = ",".join(GROUND_TRUTH_HEADER)
    if not any(line.strip() for line in lines):
        raise DataFormatError(path, None, f"the file is empty: expected the header {expected!r} and rows")
    if [f.strip() for f in lines[0].split(",")] != list(GROUND_TRUTH_HEADER):
        raise DataFormatError(path, 1, f"expected the header {expected!r} (C-EXPR order), found {lines[0]!r}")
    labels: dict[str, int] = {}
    for line_no, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        fields = [f.strip() for f in line.split(",")]
        if len(fields) != 2:
            raise DataFormatError(
                path, line_no, f"expected 2 comma-separated fields (image_location,index), found {len(fields)}"
            )
        name, value = fields
        if name not in frames:
            raise DataFormatError(path, line_no, f"{name} is not in {FRAME_LIST}")
        if name in labels:
            raise DataFormatError(path, line_no, f"{name} is labelled twice")
        if not value.lstrip("-").isdigit():
            raise DataFormatError(path, line_no, f"expected a class index 0..{len(C_EXPR) - 1}, found {value!r}")
        try:
            labels[name] = C_EXPR.from_file_label(int(value))
        except ValueError as err:
            raise DataFormatError(path, line_no, str(err)) from None
    return labels
