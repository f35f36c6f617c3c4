"""Writers of synthetic data sets in the published layouts of RAF-DB, Aff-Wild2 and C-EXPR-DB.

Each layout module has a ``*Size`` dataclass (how much to write) and a ``write(root, size, seed,
workers)`` function that fills ``root`` and returns what it wrote (also saved as
``root/SYNTH_INFO.json``). This module holds what they share: per-item seeding, so that results do
not depend on the number of workers; the parallel map over items; count allocation; file writing.
"""

from __future__ import annotations

import dataclasses
import json
import zlib
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from PIL import Image
from tqdm import tqdm

T = TypeVar("T")
R = TypeVar("R")

INFO_FILE = "SYNTH_INFO.json"


def item_rng(seed: int, layout: str, *key: int) -> np.random.Generator:
    """Generator of one item, from the run's seed, the layout's name and the item's key.

    ``zlib.crc32`` (not ``hash``) names the layout: string hashes change between processes.
    """
    return np.random.default_rng([seed, zlib.crc32(layout.encode()), *key])


def map_items(fn: Callable[[T], R], items: Sequence[T], workers: int, desc: str) -> list[R]:
    """``[fn(item) for item in items]``, on a process pool when ``workers > 1``, with a progress bar.

    ``fn`` must be a module-level function (or a ``functools.partial`` of one) so it pickles.
    """
    # disable=None: a bar on a terminal, silence in logs and tests.
    bar = tqdm(total=len(items), desc=desc, unit="item", disable=None)
    try:
        if workers <= 1 or len(items) <= 1:
            results = []
            for item in items:
                results.append(fn(item))
                bar.update()
            return results
        chunk = max(1, len(items) // (workers * 8))
        with ProcessPoolExecutor(max_workers=workers) as pool:
            results = []
            for result in pool.map(fn, items, chunksize=chunk):
                results.append(result)
                bar.update()
            return results
    finally:
        bar.close()


def allocate(total: int, weights: Sequence[float], minimum: int = 0) -> list[int]:
    """Split ``total`` into integer counts proportional to ``weights`` (largest remainder).

    Every count is at least ``minimum``; raises if ``total`` cannot cover that.
    """
    n = len(weights)
    if total < minimum * n:
        raise ValueError(f"cannot give each of {n} classes {minimum} of only {total} items")
    w = np.asarray(weights, dtype=float)
    share = (total - minimum * n) * w / w.sum()
    counts = np.floor(share).astype(int)
    leftover = total - minimum * n - counts.sum()
    order = np.argsort(-(share - counts), kind="stable")
    counts[order[:leftover]] += 1
    return [int(c) + minimum for c in counts]


def video_scenes(scene: Any, n_frames: int, rng: np.random.Generator) -> list[Any]:
    """Per-frame versions of one video's ``cer.synth.scene.Scene``.

    Sensor noise changes from frame to frame (the scene's noise seed is the first frame's), and an
    occluder, if the scene has one, shows during one contiguous span of 20-60 % of the frames
    (a hand raised to the face and lowered again) instead of for the whole video.
    """
    length = int(round(rng.uniform(0.2, 0.6) * n_frames))
    start = int(rng.integers(0, n_frames - length + 1))
    scenes = []
    for f in range(n_frames):
        occluder = scene.occluder if start <= f < start + length else "none"
        seed = (scene.noise_seed + f) % 2**31
        scenes.append(dataclasses.replace(scene, noise_seed=seed, occluder=occluder))
    return scenes


def save_jpeg(path: Path, rgb: np.ndarray, quality: int) -> None:
    """Write an RGB uint8 array as a baseline JPEG (Pillow's encoder is deterministic)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.fromarray(np.ascontiguousarray(rgb, dtype=np.uint8))
    image.save(path, format="JPEG", quality=int(quality))


def write_info(root: Path, info: dict[str, Any]) -> dict[str, Any]:
    """Save ``info`` as ``root/SYNTH_INFO.json`` (sorted keys, so equal runs write equal bytes)."""
    (root / INFO_FILE).write_text(json.dumps(info, indent=2, sort_keys=True) + "\n")
    return info
