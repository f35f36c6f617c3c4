"""Per-frame features of a frozen extractor on disk, keyed by frame: append-only, memory-mapped, resumable.

A cache folder holds::

    meta.json       # feature width, and the fingerprint of the weights that made the features
    features.f32    # float32 rows, row i = the i-th key of keys.txt (read through numpy.memmap)
    keys.txt        # one frame key per line (``mtl.extract.frame_key``: path, frame, file size and time), in row order

Rows are written first and their keys after, each batch flushed before its keys are appended, so
``keys.txt`` only ever names complete rows: an extraction killed at any point leaves a cache that
the next one continues (a torn last line of ``keys.txt`` is ignored and its row written again).
Features of other weights never mix in: a cache whose fingerprint differs from the model's is
emptied and rebuilt.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from collections.abc import Sequence
from pathlib import Path

import numpy as np

log = logging.getLogger("mtl.features")

META, FEATURES, KEYS = "meta.json", "features.f32", "keys.txt"


def file_fingerprint(path: str | Path, chunk: int = 1 << 20) -> str:
    """SHA-256 of a file (the weights a cache was made with)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


class FeatureCache:
    """Features of one extractor, ``dim`` floats per frame key.

    Args:
        folder: the cache folder (created if needed).
        dim: feature width.
        fingerprint: identifies the extractor's weights; a cache made by others is rebuilt.
    """

    def __init__(self, folder: str | Path, dim: int, fingerprint: str):
        self.folder, self.dim, self.fingerprint = Path(folder), int(dim), fingerprint
        meta = {"dim": self.dim, "fingerprint": fingerprint, "dtype": "float32"}
        meta_file = self.folder / META
        if meta_file.is_file() and json.loads(meta_file.read_text()) != meta:
            log.warning("%s was made by other weights (or another width): rebuilding it", self.folder)
            shutil.rmtree(self.folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        if not meta_file.is_file():
            for name in (FEATURES, KEYS):
                (self.folder / name).unlink(missing_ok=True)
            tmp = meta_file.with_suffix(".tmp")
            tmp.write_text(json.dumps(meta, indent=1))
            os.replace(tmp, meta_file)
        self._rows = self._read_keys()

    def _read_keys(self) -> dict[str, int]:
        path = self.folder / KEYS
        if not path.is_file():
            return {}
        text = path.read_text(encoding="utf-8")
        lines = text.split("\n")
        if lines and lines[-1] != "":  # a torn last line: its row is written again
            lines = lines[:-1]
            with open(path, "w", encoding="utf-8") as f:
                f.write("".join(line + "\n" for line in lines if line))
        keys = [line for line in lines if line]
        data = self.folder / FEATURES
        available = data.stat().st_size // (4 * self.dim) if data.is_file() else 0
        if available < len(keys):
            raise RuntimeError(f"{self.folder}: {KEYS} names {len(keys)} rows but {FEATURES} holds {available}; "
                               "delete the folder to extract again")
        return {k: i for i, k in enumerate(keys)}

    def __len__(self) -> int:
        return len(self._rows)

    def __contains__(self, key: str) -> bool:
        return key in self._rows

    def missing(self, keys: Sequence[str]) -> list[str]:
        """The keys of ``keys`` not cached yet, in order, each once."""
        return list(dict.fromkeys(k for k in keys if k not in self._rows))

    def append(self, keys: Sequence[str], features: np.ndarray) -> None:
        """Add rows for new ``keys`` (``features``: [len(keys), dim]); durable when it returns."""
        features = np.ascontiguousarray(features, dtype=np.float32)
        if features.shape != (len(keys), self.dim):
            raise ValueError(f"expected features of shape ({len(keys)}, {self.dim}), got {features.shape}")
        already = [k for k in keys if k in self._rows]
        if already or len(set(keys)) != len(keys):
            raise ValueError(f"keys already cached or repeated, e.g. {(already or list(keys))[0]!r}")
        first = len(self._rows)
        # Write at the row after the last complete one: bytes left by a killed run are overwritten.
        with open(self.folder / FEATURES, "r+b" if (self.folder / FEATURES).exists() else "wb") as f:
            f.seek(first * 4 * self.dim)
            f.write(features.tobytes())
            f.flush()
            os.fsync(f.fileno())
        with open(self.folder / KEYS, "a", encoding="utf-8") as f:
            f.write("".join(k + "\n" for k in keys))
            f.flush()
            os.fsync(f.fileno())
        for i, k in enumerate(keys):
            self._rows[k] = first + i

    def lookup(self, keys: Sequence[str]) -> np.ndarray:
        """``[len(keys), dim]`` float32 rows of ``keys`` (copied out of the memory map).

        Raises:
            KeyError: a key is not cached (run ``mtl extract`` for those frames).
        """
        missing = self.missing(keys)
        if missing:
            raise KeyError(f"{len(missing)} frame(s) have no cached feature in {self.folder}, e.g. {missing[0]}: "
                           "run `mtl extract` on their data")
        if not keys:
            return np.zeros((0, self.dim), np.float32)
        table = np.memmap(self.folder / FEATURES, dtype=np.float32, mode="r", shape=(len(self._rows), self.dim))
        return np.asarray(table[[self._rows[k] for k in keys]])
