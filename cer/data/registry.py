"""Readers by name, for configs and the command line: ``read("raf-db-basic", "data/RAF-DB", split="train")``."""

from __future__ import annotations

import difflib
import functools
import inspect
from collections.abc import Callable
from pathlib import Path

from cer.data.affectnet import read_affectnet
from cer.data.affwild2_mtl import read_affwild2_mtl
from cer.data.affwild2_tracks import read_affwild2_tracks
from cer.data.c_expr_db import read_c_expr_db
from cer.data.image_folder import read_image_folder
from cer.data.manifest import read_manifest
from cer.data.raf_db import read_raf_db
from cer.data.record import FaceRecord

READERS: dict[str, Callable[..., list[FaceRecord]]] = {
    "raf-db-basic": functools.partial(read_raf_db, subset="basic"),
    "raf-db-compound": functools.partial(read_raf_db, subset="compound"),
    "affectnet": read_affectnet,
    "aff-wild2-mtl": read_affwild2_mtl,
    "aff-wild2-tracks": read_affwild2_tracks,
    "c-expr-db": read_c_expr_db,
    "manifest": read_manifest,
    "image-folder": read_image_folder,
}

# Readers of data sets of single photos: their records have no video and no frame, so nothing tells
# which faces, if any, were neighbours in time (a temporal model must not invent an order for them).
STILL_IMAGE_READERS: frozenset[str] = frozenset({"raf-db-basic", "raf-db-compound", "affectnet", "image-folder"})

# Options that change what a reader returns rather than which records: not for configs.
_NOT_OPTIONS = {"return_stats"}


def reader_options(name: str) -> tuple[str, ...]:
    """The keyword options reader ``name`` accepts after its path."""
    reader = _reader(name)
    fixed = reader.keywords if isinstance(reader, functools.partial) else {}
    params = list(inspect.signature(reader).parameters)[1:]  # the first is the path
    return tuple(p for p in params if p not in fixed and p not in _NOT_OPTIONS)


def read(name: str, path: str | Path, **options: object) -> list[FaceRecord]:
    """Run reader ``name`` (a key of :data:`READERS`) on ``path`` with its keyword ``options``."""
    reader = _reader(name)
    valid = reader_options(name)
    unknown = [k for k in options if k not in valid]
    if unknown:
        hints = "".join(
            f" (did you mean {close[0]!r} for {k!r}?)"
            for k in unknown if (close := difflib.get_close_matches(k, valid, n=1))
        )
        raise TypeError(
            f"reader {name!r} has no option(s) {', '.join(map(repr, unknown))}{hints}; "
            f"its options: {', '.join(valid) or 'none'}"
        )
    required = [
        p.name for p in inspect.signature(reader).parameters.values()
        if p.name in valid and p.default is inspect.Parameter.empty and p.name not in options
    ]
    if required:
        raise TypeError(f"reader {name!r} needs option(s) {', '.join(required)}")
    return reader(path, **options)


def _reader(name: str) -> Callable[..., list[FaceRecord]]:
    if name in READERS:
        return READERS[name]
    close = difflib.get_close_matches(name, READERS, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise ValueError(f"unknown reader {name!r}{hint}; valid readers: {', '.join(READERS)}")
