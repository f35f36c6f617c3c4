"""Config data sources read with the built-in synthetic data set standing in for a missing path.

A source without a path reads the synthetic data set (rendered once into the cache by
``cer synth``'s machinery) in the layout of the data set its reader expects; a source with a
path is read as it is. Every task reads its configured data through :func:`read_data`.
"""

from __future__ import annotations

from pathlib import Path

from cer.data.record import FaceRecord
from cer.data.source import DataSource, read_source
from cer.train_config import ImageDataConfig

# Folder of the synthetic root that holds each reader's layout.
SYNTHETIC_LAYOUT = {
    "raf-db-basic": "raf-db", "raf-db-compound": "raf-db", "aff-wild2-mtl": "aff-wild2",
    "aff-wild2-tracks": "aff-wild2", "c-expr-db": "c-expr-db",
}


def synthetic_root(reader: str, scale: str = "default", seed: int = 0) -> Path:
    """The synthetic layout that ``reader`` reads, rendered on first use."""
    if reader not in SYNTHETIC_LAYOUT:
        raise ValueError(f"reader {reader!r} has no built-in synthetic data: give it a path "
                         f"(synthetic layouts exist for {', '.join(SYNTHETIC_LAYOUT)})")
    from cer.synth.generate import default_layout

    return default_layout(SYNTHETIC_LAYOUT[reader], scale, seed)


def read_data(source: DataSource, data: ImageDataConfig, seed: int = 0) -> list[FaceRecord]:
    """The records of ``source`` as the ``data`` section says (synthetic scale and seed, ``limit``);
    ``seed`` draws the ``limit`` subset."""
    root = None if source.path is not None else synthetic_root(source.reader, data.synthetic_scale,
                                                               data.synthetic_seed)
    return read_source(source, root, limit=data.limit, seed=seed)


def synthetic_settings(data: dict) -> ImageDataConfig:
    """The synthetic scale and seed of a stored ``data`` section (a trained model's config), to read
    the same built-in data it was trained on; no ``limit``: evaluation reads every record."""
    return ImageDataConfig(synthetic_scale=data.get("synthetic_scale", "default"),
                           synthetic_seed=data.get("synthetic_seed", 0))
