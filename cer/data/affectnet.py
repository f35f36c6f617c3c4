"""AffectNet (Mollahosseini, Hasani & Mahoor, 2017): ``training.csv`` / ``validation.csv``::

    subDirectory_filePath,face_x,face_y,face_width,face_height,facial_landmarks,expression,valence,arousal
    689/737db24.jpg,134,134,899,899,"181.64;530.91;...",1,0.785714,-0.055556

Expression 0-7 is a face class (``cer.taxonomy.AFFECTNET``); 8-10 (None, Uncertain, No-Face) are not
expressions and are dropped with a logged count, or rejected. Valence/arousal -2 marks "not rated".
The face box must be numeric but is not kept, nor are the landmarks: ``FaceRecord`` has no box field.
"""

from __future__ import annotations

import csv
import logging
import math
from collections import Counter
from pathlib import Path
from typing import Literal

from cer.data.errors import DataFormatError
from cer.data.image_check import OnMissing, check_choice, drop_missing_images
from cer.data.record import FaceRecord
from cer.taxonomy import AFFECTNET, AFFECTNET_NON_FACE

COLUMNS: tuple[str, ...] = (
    "subDirectory_filePath", "face_x", "face_y", "face_width", "face_height", "facial_landmarks",
    "expression", "valence", "arousal",
)
VA_NOT_RATED = -2.0

logger = logging.getLogger("cer.data")


def read_affectnet(
    csv_path: str | Path,
    image_root: str | Path | None = None,
    on_missing: OnMissing = "error",
    non_faces: Literal["drop", "error"] = "drop",
) -> list[FaceRecord]:
    """Read an AffectNet annotation CSV.

    Args:
        csv_path: ``training.csv`` or ``validation.csv``.
        image_root: the folder ``subDirectory_filePath`` is relative to (``Manually_Annotated_Images``);
            default: the CSV's folder.
        on_missing: what to do with rows whose image does not exist.
        non_faces: rows with expression 8-10: ``"drop"`` (logged count per kind) or ``"error"``.

    Returns:
        One record per face row, space ``affectnet``, valence/arousal None where not rated.
    """
    check_choice("non_faces", non_faces, ("drop", "error"))
    csv_path = Path(csv_path)
    root = Path(image_root) if image_root is not None else csv_path.parent
    with csv_path.open(newline="", encoding="utf-8-sig") as f:
        # reader.line_num is the physical line, right even where a quoted field spans lines.
        reader = csv.reader(f)
        rows = [(reader.line_num, row) for row in reader if any(cell.strip() for cell in row)]
    if not rows:
        raise DataFormatError(csv_path, None, f"the file is empty: expected the header {','.join(COLUMNS)!r} and rows")
    header_line, header = rows[0]
    if [c.strip() for c in header] != list(COLUMNS):
        raise DataFormatError(
            csv_path, header_line, f"expected the header {','.join(COLUMNS)!r}, found {','.join(header)!r}"
        )
    records: list[FaceRecord] = []
    skipped: Counter[str] = Counter()
    for line_no, row in rows[1:]:
        if len(row) != len(COLUMNS):
            raise DataFormatError(
                csv_path, line_no,
                f"expected {len(COLUMNS)} comma-separated fields ({','.join(COLUMNS)}), found {len(row)}",
            )
        fields = dict(zip(COLUMNS, (c.strip() for c in row), strict=True))
        for name in ("face_x", "face_y", "face_width", "face_height"):
            _number(fields[name], name, csv_path, line_no)
        label = _integer(fields["expression"], csv_path, line_no)
        if label in AFFECTNET_NON_FACE:
            if non_faces == "error":
                raise DataFormatError(
                    csv_path, line_no,
                    f"expression {label} ({AFFECTNET_NON_FACE[label]}) is not a face class; "
                    "pass non_faces='drop' to skip such rows",
                )
            skipped[AFFECTNET_NON_FACE[label]] += 1
            continue
        try:
            expression = AFFECTNET.from_file_label(label)
        except ValueError:
            raise DataFormatError(
                csv_path, line_no,
                f"label {label} is outside affectnet's range 0..{len(AFFECTNET) - 1} (or 8-10 for non-faces)",
            ) from None
        records.append(FaceRecord(
            image=str(root / fields["subDirectory_filePath"]),
            space=AFFECTNET.name,
            expression=expression,
            valence=_va(fields["valence"], "valence", csv_path, line_no),
            arousal=_va(fields["arousal"], "arousal", csv_path, line_no),
        ))
    if skipped:
        kinds = ", ".join(f"{n} {kind}" for kind, n in sorted(skipped.items()))
        logger.warning("%s: dropped %d rows that are not face expressions (%s)", csv_path, sum(skipped.values()), kinds)
    return drop_missing_images(records, csv_path, on_missing)


def _number(text: str, what: str, file: Path, line: int) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise DataFormatError(file, line, f"{what}: expected a number, found {text!r}")
    return value


def _integer(text: str, file: Path, line: int) -> int:
    value = _number(text, "expression", file, line)
    if not value.is_integer():
        raise DataFormatError(file, line, f"expression: expected an integer 0..10, found {text!r}")
    return int(value)


def _va(text: str, what: str, file: Path, line: int) -> float | None:
    value = _number(text, what, file, line)
    if value == VA_NOT_RATED:
        return None
    if not -1.0 <= value <= 1.0:
        raise DataFormatError(file, line, f"{what} {text} is outside [-1, 1] (and is not the marker -2)")
    return value
