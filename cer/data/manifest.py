"""A generic manifest for any other data set: CSV (header row) or JSON Lines, one face per row.

Columns (CSV) or keys (JSONL); only ``image`` is required, an empty cell or null is "missing"::

    image       path, relative to ``root`` (default: the manifest's folder) unless absolute
    frame       1-based frame number when ``image`` is a video file
    video       sequence key;  subject: identity key
    space       label space of ``expression``, a key of ``cer.taxonomy.LABEL_SPACES``
    expression  0-based index in ``space``, or a class name of it; -1 also means missing
    aus         12 Aff-Wild2 AU occurrences (0/1, -1 unannotated): "0;1;...;-1" in CSV, a list in JSONL
    valence, arousal   numbers in [-1, 1] (NaN also means missing)

Example CSV::

    image,space,expression,valence,arousal
    faces/0001.jpg,raf-basic,Happiness,0.7,0.4
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any

from cer.data.errors import DataFormatError
from cer.data.fields import is_number
from cer.data.image_check import OnMissing, drop_missing_images
from cer.data.record import FaceRecord
from cer.taxonomy import AFFWILD2_AUS, LABEL_SPACES

KNOWN_KEYS: tuple[str, ...] = (
    "image", "frame", "video", "subject", "space", "expression", "aus", "valence", "arousal",
)
CSV_SUFFIXES = (".csv",)
JSONL_SUFFIXES = (".jsonl", ".ndjson")


def read_manifest(
    path: str | Path, root: str | Path | None = None, on_missing: OnMissing = "error"
) -> list[FaceRecord]:
    """Read a CSV or JSONL manifest (chosen by the file extension).

    Args:
        path: the manifest, ``*.csv`` or ``*.jsonl`` / ``*.ndjson``.
        root: the folder relative image paths start from; default: the manifest's folder.
        on_missing: what to do with rows whose image (or video) does not exist.

    Returns:
        One record per row, in file order.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in CSV_SUFFIXES + JSONL_SUFFIXES:
        raise ValueError(
            f"{path}: a manifest must be .csv or .jsonl/.ndjson (the extension chooses the format), not {suffix!r}"
        )
    rows = _csv_rows(path) if suffix in CSV_SUFFIXES else _jsonl_rows(path)
    base = Path(root) if root is not None else path.parent
    records = [_record(row, base, path, line_no) for line_no, row in rows]
    return drop_missing_images(records, path, on_missing)


def _check_keys(keys: list[str], file: Path, line: int) -> None:
    unknown = [k for k in keys if k not in KNOWN_KEYS]
    if unknown:
        raise DataFormatError(
            file, line, f"unknown column(s) {', '.join(map(repr, unknown))}; known: {', '.join(KNOWN_KEYS)}"
        )
    if "image" not in keys:
        raise DataFormatError(file, line, f"the required column 'image' is missing (found: {', '.join(keys)})")


def _csv_rows(path: Path) -> list[tuple[int, dict[str, Any]]]:
    with path.open(newline="", encoding="utf-8-sig") as f:
        reader = csv.reader(f)
        lines = [(reader.line_num, row) for row in reader if any(cell.strip() for cell in row)]
    if not lines:
        raise DataFormatError(path, None, "the file is empty: expected a header row with at least 'image'")
    header_line, header = lines[0]
    keys = [h.strip() for h in header]
    _check_keys(keys, path, header_line)
    rows = []
    for line_no, cells in lines[1:]:
        if len(cells) != len(keys):
            raise DataFormatError(
                path, line_no, f"expected {len(keys)} comma-separated fields ({','.join(keys)}), found {len(cells)}"
            )
        rows.append((line_no, {k: c.strip() for k, c in zip(keys, cells, strict=True)}))
    return rows


def _jsonl_rows(path: Path) -> list[tuple[int, dict[str, Any]]]:
    rows = []
    for line_no, line in enumerate(path.read_text(encoding="utf-8-sig").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            raise DataFormatError(path, line_no, f"expected one JSON object per line: {err.msg}") from None
        if not isinstance(row, dict):
            raise DataFormatError(path, line_no, f"expected a JSON object, found {type(row).__name__}")
        _check_keys(list(row), path, line_no)
        rows.append((line_no, row))
    if not rows:
        raise DataFormatError(path, None, "the file is empty: expected one JSON object per line with at least 'image'")
    return rows


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _text(row: dict[str, Any], key: str) -> str | None:
    value = row.get(key)
    return None if _missing(value) else str(value)


def _integer(value: Any, what: str, file: Path, line: int) -> int:
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    if isinstance(value, bool) or not number.is_integer():
        raise DataFormatError(file, line, f"{what}: expected an integer, found {value!r}")
    return int(number)


def _unit(value: Any, what: str, file: Path, line: int) -> float | None:
    if _missing(value):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise DataFormatError(file, line, f"{what}: expected a number in [-1, 1], found {value!r}") from None
    if math.isnan(number):  # NaN is how the HF view writes "missing"
        return None
    if not -1.0 <= number <= 1.0:
        raise DataFormatError(file, line, f"{what} {value} is outside [-1, 1]")
    return number


def _expression(row: dict[str, Any], file: Path, line: int) -> tuple[str | None, int | None]:
    space, value = _text(row, "space"), row.get("expression")
    if space is not None and space not in LABEL_SPACES:
        raise DataFormatError(file, line, f"unknown label space {space!r}; known: {', '.join(LABEL_SPACES)}")
    if _missing(value) or str(value).strip() == "-1":
        return space, None
    if space is None:
        raise DataFormatError(file, line, f"expression {value!r} needs a 'space' column naming its label space")
    classes = LABEL_SPACES[space]
    text = str(value).strip()
    if isinstance(value, str) and not is_number(text):
        try:
            return space, classes.index(text)
        except KeyError as err:
            raise DataFormatError(file, line, str(err.args[0])) from None
    index = _integer(value, "expression", file, line)
    if not 0 <= index < len(classes):
        raise DataFormatError(
            file, line, f"expression {index} is outside {space}'s 0-based range 0..{len(classes) - 1}"
        )
    return space, index


def _aus(value: Any, file: Path, line: int) -> tuple[int, ...] | None:
    if _missing(value):
        return None
    items = value.split(";") if isinstance(value, str) else value
    if not isinstance(items, list) or len(items) != len(AFFWILD2_AUS):
        found = len(items) if isinstance(items, list) else type(items).__name__
        raise DataFormatError(
            file, line,
            f"aus: expected {len(AFFWILD2_AUS)} values (AU{', AU'.join(map(str, AFFWILD2_AUS))}), found {found}",
        )
    aus = tuple(_integer(v, "aus", file, line) for v in items)
    if any(a not in (0, 1, -1) for a in aus):
        raise DataFormatError(file, line, f"aus: expected values 0, 1 or -1, found {value!r}")
    return aus


def _record(row: dict[str, Any], base: Path, file: Path, line: int) -> FaceRecord:
    image = _text(row, "image")
    if image is None:
        raise DataFormatError(file, line, "image is empty: every row needs an image path")
    frame = None if _missing(row.get("frame")) else _integer(row["frame"], "frame", file, line)
    if frame is not None and frame < 1:
        raise DataFormatError(file, line, f"frame {frame}: frame numbers start at 1")
    space, expression = _expression(row, file, line)
    return FaceRecord(
        image=str(base / image),  # an absolute image path replaces base
        frame=frame,
        video=_text(row, "video"),
        subject=_text(row, "subject"),
        space=space,
        expression=expression,
        aus=_aus(row.get("aus"), file, line),
        valence=_unit(row.get("valence"), "valence", file, line),
        arousal=_unit(row.get("arousal"), "arousal", file, line),
    )
