"""``mtl extract RUN``: cache the per-frame features of a finished run's frozen backbone.

Step 2 of the progressive pipeline of paper 002: the features of each single-task run are
extracted once, then fused into later runs (``mtl train --fuse``) at the cost of a memory read
instead of a forward pass. Extraction is resumable (an interrupted one continues where it
stopped) and ``mtl train --fuse`` extracts whatever frames are still missing by itself.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import click
import numpy as np

from cer.data.record import FaceRecord


def frame_key(record: FaceRecord) -> str:
    """The cache row of a frame: its key (path, and frame number in a video) with the size and
    modification time of its file, so that data written again in place (a new version of the
    built-in renderer, a re-cropped data set) is extracted again rather than read stale."""
    st = os.stat(record.image)
    return f"{record.key}|{st.st_size}|{st.st_mtime_ns}"


def extract_features(extractor, records: Sequence[FaceRecord], batch_size: int = 256, device: str | None = None,
                     progress: bool = True):
    """Cache the features of ``records`` not cached yet; returns the ``FeatureCache``.

    Args:
        extractor: a :class:`mtl.frozen_backbone.FrozenBackbone`: a fused run's
            (``mtl.runs.FrozenExtractor``) or the run's own frozen backbone.
        records: the frames (:func:`frame_key` names their cache rows).
        batch_size: frames per forward pass.
        device: where the extractor runs (default: CUDA if available).
    """
    import torch
    from tqdm.auto import tqdm

    from cer.data.image_bank import ImageBank
    from mtl.feature_cache import FeatureCache

    cache = FeatureCache(extractor.cache_folder, extractor.dim, extractor.fingerprint)
    keys = [frame_key(r) for r in records]
    todo_keys = cache.missing(keys)
    if not todo_keys:
        return cache
    by_key = dict(zip(keys, records))
    bank = ImageBank([by_key[k] for k in todo_keys], extractor.img_size, cache=False)
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    extractor.to(device)
    with tqdm(total=len(todo_keys), desc=f"features of {extractor.name}", unit="frame",
              disable=None if progress else True) as bar:
        for start in range(0, len(todo_keys), batch_size):
            stop = min(start + batch_size, len(todo_keys))
            images = torch.from_numpy(np.stack([bank[i] for i in range(start, stop)])).permute(0, 3, 1, 2)
            cache.append(todo_keys[start:stop], extractor(images.to(device)).cpu().numpy())
            bar.update(stop - start)
    extractor.to("cpu")
    return cache


def cached_features(extractor, records: Sequence[FaceRecord], batch_size: int = 256,
                    progress: bool = True) -> np.ndarray:
    """``[len(records), D]`` features of ``records``, extracting the missing ones first (on the main
    process; the others wait and read the result)."""
    from cer.launch import process_state

    with process_state().main_process_first():
        cache = extract_features(extractor, records, batch_size, progress=progress)
    return cache.lookup([frame_key(r) for r in records])


@click.command("extract", context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("run", type=click.Path(exists=True, file_okay=False))
@click.option("--data", "data_path", type=click.Path(exists=True, file_okay=False), default=None,
              help="s-Aff-Wild2 root (annotation files + cropped_aligned/); default: the data the run was trained on.")
@click.option("--reader", default="aff-wild2-mtl", show_default=True,
              help="Reader of --data (a cer.data.registry name, e.g. aff-wild2-tracks).")
@click.option("--split", "splits", multiple=True, default=("train", "validation"), show_default=True,
              help="Split(s) to extract. Repeatable.")
@click.option("--batch-size", default=256, show_default=True, help="Frames per forward pass.")
def extract(run: str, data_path: str | None, reader: str, splits: tuple[str, ...], batch_size: int) -> None:
    """Cache per-frame features of RUN's frozen backbone (RUN/features: memory-mapped, resumable)."""
    from cer.data.source import DataSource
    from cer.synth.sources import read_data, synthetic_settings
    from mtl.runs import FrozenExtractor

    extractor = FrozenExtractor(run)
    data = _trained_data(extractor.folder)
    records: list[FaceRecord] = []
    for split in splits:
        path = data_path if data_path is not None else data.get("train", {}).get("path")
        records += read_data(DataSource(reader, path, {"split": split}), synthetic_settings(data))
    cache = extract_features(extractor, records, batch_size)
    click.echo(f"{len(records)} frames of {', '.join(splits)}: {len(cache)} features of width {cache.dim} "
               f"cached in {cache.folder}")


def _trained_data(model_folder) -> dict:
    """The ``data`` section of the run's config (where its frames came from)."""
    from mtl.runs import read_meta

    return (read_meta(model_folder)[1].get("config") or {}).get("data") or {}
