"""A data source of a config (reader name + path + reader options), and reading it.

A source without a path stands for the built-in synthetic data set; the readers know nothing of
how that is made: ``cer.synth.sources.read_data`` resolves such a source and then reads it here.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from cer.data.record import FaceRecord

log = logging.getLogger("cer.data")


@dataclass
class DataSource:
    reader: str                    # a reader of cer.data.registry (raf-db-basic, affectnet, manifest, ...)
    path: str | None = None        # null: the built-in synthetic data set (generated once into the cache)
    options: dict[str, Any] = field(default_factory=dict)  # keyword options of the reader (split, on_missing, ...)


def read_source(source: DataSource, root: str | Path | None = None, *, limit: int | None = None,
                seed: int = 0) -> list[FaceRecord]:
    """Read ``source`` from its path (or from ``root`` when it has none); with ``limit``, a seeded
    random subset of that size, in the reader's order."""
    from cer.data.registry import read

    where = source.path if source.path is not None else root
    if where is None:
        raise ValueError(f"data source {source.reader!r} has no path: give one")
    path = Path(where).expanduser()
    records = read(source.reader, path, **source.options)
    if limit is not None and len(records) > limit:
        keep = np.sort(np.random.default_rng(seed).choice(len(records), limit, replace=False))
        records = [records[i] for i in keep]
    log.info("%s %s: %d records", source.reader, path, len(records))
    return records
