"""Records as a Hugging Face ``datasets.Dataset`` and back, for users of the HF ecosystem.

Columns: ``image`` (the path string), ``frame``, ``video``, ``subject``, ``space`` (null where
absent), ``expression`` (-1 missing), ``aus`` (12 values, -1 unannotated; null where the record has
no AU labels), ``valence`` / ``arousal`` (NaN missing), the masks the losses use (``has_expression``,
``has_va``, ``au_mask``), and, when every record is an image file, ``pixels``: the same path as a
``datasets.Image()`` feature, decoded to a PIL image on access. ``from_hf_dataset`` reads the label
columns only (no image is decoded) and ignores the derived ones.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

from cer.data.record import FaceRecord
from cer.taxonomy import AFFWILD2_AUS

if TYPE_CHECKING:  # datasets pulls in pyarrow and pandas: import it only when a view is made
    import datasets

RECORD_COLUMNS: tuple[str, ...] = (
    "image", "frame", "video", "subject", "space", "expression", "aus", "valence", "arousal",
)
MASK_COLUMNS: tuple[str, ...] = ("has_expression", "has_va", "au_mask")
PIXELS_COLUMN = "pixels"


def _require_datasets() -> None:
    """The HF view is the one user of ``datasets`` (an optional extra): say how to get it."""
    import importlib.util

    if importlib.util.find_spec("datasets") is None:
        raise ImportError("the Hugging Face view needs the `datasets` package: pip install 'cer[hf]' "
                          "(or pip install datasets)")


def _features(with_pixels: bool) -> datasets.Features:
    _require_datasets()
    from datasets import Features, Image, List, Value

    n_aus = len(AFFWILD2_AUS)
    columns = {
        "image": Value("string"),
        "frame": Value("int32"),
        "video": Value("string"),
        "subject": Value("string"),
        "space": Value("string"),
        "expression": Value("int32"),
        "aus": List(Value("int8"), length=n_aus),
        "valence": Value("float64"),  # float64: the round trip gives back the very same numbers
        "arousal": Value("float64"),
        "has_expression": Value("bool"),
        "has_va": Value("bool"),
        "au_mask": List(Value("bool"), length=n_aus),
    }
    if with_pixels:
        columns[PIXELS_COLUMN] = Image()
    return Features(columns)


def to_hf_dataset(records: Sequence[FaceRecord]) -> datasets.Dataset:
    """A ``datasets.Dataset`` with one row per record (see the module docstring for the columns)."""
    import pyarrow as pa
    _require_datasets()
    from datasets import Dataset, DatasetInfo
    from datasets.table import InMemoryTable

    nan, n_aus = math.nan, len(AFFWILD2_AUS)
    columns = {
        "image": [r.image for r in records],
        "frame": [r.frame for r in records],
        "video": [r.video for r in records],
        "subject": [r.subject for r in records],
        "space": [r.space for r in records],
        "expression": [-1 if r.expression is None else r.expression for r in records],
        "aus": [r.aus for r in records],
        "valence": [nan if r.valence is None else r.valence for r in records],
        "arousal": [nan if r.arousal is None else r.arousal for r in records],
        "has_expression": [r.has_expression for r in records],
        "has_va": [r.has_va for r in records],
        # FaceRecord.au_mask, without a numpy array per record
        "au_mask": [[False] * n_aus if r.aus is None else [a >= 0 for a in r.aus] for r in records],
    }
    with_pixels = all(r.frame is None for r in records)
    features = _features(with_pixels)
    schema = features.arrow_schema
    # Arrow arrays built directly: Dataset.from_dict encodes row by row in Python, ~10x slower.
    arrays = {name: pa.array(values, type=schema.field(name).type) for name, values in columns.items()}
    if with_pixels:  # datasets.Image() storage: {bytes, path}, bytes left null so nothing is read now
        arrays[PIXELS_COLUMN] = pa.StructArray.from_arrays(
            [pa.nulls(len(records), pa.binary()), arrays["image"]], names=["bytes", "path"]
        )
    table = pa.table(arrays, schema=schema)
    return Dataset(InMemoryTable(table), info=DatasetInfo(features=features))


def from_hf_dataset(ds: datasets.Dataset) -> list[FaceRecord]:
    """The records of a dataset made by :func:`to_hf_dataset` (or any with its record columns)."""
    absent = [c for c in RECORD_COLUMNS if c not in ds.column_names]
    if absent:
        raise ValueError(
            f"the dataset lacks column(s) {', '.join(absent)}: expected {', '.join(RECORD_COLUMNS)} "
            "(as written by to_hf_dataset)"
        )
    columns = ds.select_columns(list(RECORD_COLUMNS)).to_dict()

    def optional(value: float | None) -> float | None:
        return None if value is None or math.isnan(value) else value

    return [
        FaceRecord(
            image=image,
            frame=frame,
            video=video,
            subject=subject,
            space=space,
            expression=None if expression is None or expression < 0 else expression,
            aus=None if aus is None else tuple(aus),
            valence=optional(valence),
            arousal=optional(arousal),
        )
        for image, frame, video, subject, space, expression, aus, valence, arousal in zip(
            *(columns[c] for c in RECORD_COLUMNS), strict=True
        )
    ]
