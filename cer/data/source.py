"""A data source of a config (reader name + path + reader options), and reading it.

A source without a path reads the built-in synthetic data set, generated once into the cache by
``cer synth``'s machinery, in the layout of the data set the reader expects.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from cer.data.record import FaceRecord

log = logging.getLogger("cer.data")

# Folder of the synthetic root that holds each reader's layout.
SYNTHETIC_LAYOUT = {
    "raf-db-basic": "raf-db", "raf-db-compound": "raf-db", "aff-wild2-mtl": "aff-wild2",
    "aff-wild2-tracks": "aff-wild2", "c-expr-db": "c-expr-db",
}


@dataclass
class DataSource:
    reader: str                    # a reader of cer.data.registry (raf-db-basic, affectnet, manifest, ...)
    path: str | None = None        # null: the built-in synthetic data set (generated once into the cache)
    options: dict[str, Any] = field(default_factory=dict)  # keyword options of the reader (split, on_missing, ...)


def resolve_path(source: DataSource, synthetic_scale: str = "default", synthetic_seed: int = 0) -> Path:
    """The source's path, or the synthetic layout for its reader (generated on first use)."""
    if source.path is not None:
        return Path(source.path).expanduser()
    if source.reader not in SYNTHETIC_LAYOUT:
        raise ValueError(f"reader {source.reader!r} has no built-in synthetic data: give it a path "
                         f"(synthetic layouts exist for {', '.join(SYNTHETIC_LAYOUT)})")
    from cer.synth.generate import default_dataset

    return default_dataset(synthetic_scale, synthetic_seed) / SYNTHETIC_LAYOUT[source.reader]


def read_source(source: DataSource, *, limit: int | None = None, seed: int = 0,
                synthetic_scale: str = "default", synthetic_seed: int = 0) -> list[FaceRecord]:
    """Read ``source``; with ``limit``, a seeded random subset of that size (order kept)."""
    from cer.data.registry import read

    path = resolve_path(source, synthetic_scale, synthetic_seed)
    records = read(source.reader, path, **source.options)
    if limit is not None and len(records) > limit:
        keep = np.sort(np.random.default_rng(seed).choice(len(records), limit, replace=False))
        records = [records[i] for i in keep]
    log.info("%s %s: %d records", source.reader, path, len(records))
    return records
