"""Face images held at one square size: decoded once into memory, or read on every access; and the
seeds that make per-image augmentation the same whatever worker or process draws the image."""

from __future__ import annotations

import zlib
from collections.abc import Sequence

import numpy as np

from cer.data.image_loader import load_rgb
from cer.data.record import FaceRecord


class ImageBank:
    """The images of a list of records at one square size, decoded once into memory (``cache``) or
    read from disk on every access. Items are HxWx3 uint8 arrays.

    Args:
        records: the faces, in the order of the bank's indices.
        size: side in pixels; images of another size are resized (area interpolation).
        cache: decode everything now (fast epochs) instead of on every access (little memory).
        desc: what the progress bar of the decoding calls the images.
    """

    def __init__(self, records: Sequence[FaceRecord], size: int, cache: bool = True, desc: str = "images"):
        self.records, self.size = list(records), size
        self._cache: np.ndarray | None = None
        if cache and self.records:
            from tqdm.auto import tqdm

            self._cache = np.empty((len(self.records), size, size, 3), dtype=np.uint8)  # [N, H, W, 3]
            for i, r in enumerate(tqdm(self.records, desc=f"decoding {desc}", leave=False, disable=None)):
                self._cache[i] = self._load(r)

    def _load(self, record: FaceRecord) -> np.ndarray:
        img = load_rgb(record)
        if img.shape[0] != self.size or img.shape[1] != self.size:
            import cv2

            img = cv2.resize(img, (self.size, self.size), interpolation=cv2.INTER_AREA)
        return img

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, i: int) -> np.ndarray:
        return self._cache[i] if self._cache is not None else self._load(self.records[i])


def stable_seed(*parts: int) -> int:
    """A 32-bit seed from integers, stable across processes and Python versions (unlike ``hash``)."""
    return zlib.crc32(np.asarray(parts, dtype=np.int64).tobytes())
