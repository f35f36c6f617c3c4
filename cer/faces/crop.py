"""Square face crops for the model: the box's centre, its longer side plus a margin, then resized."""

from __future__ import annotations

from typing import Literal

import numpy as np

from cer.faces.detectors import Box

# Context around a detector's box when nothing says how the training faces were framed: about what
# loosely cropped sets (AffectNet's face boxes plus a little) show around the face.
DEFAULT_MARGIN = 0.25


def square_region(box: Box, margin: float = DEFAULT_MARGIN) -> tuple[int, int, int]:
    """``(left, top, side)`` in whole pixels of the square about the box centre, ``side`` at least 1."""
    side = max(1, round(max(box.w, box.h) * (1.0 + margin)))
    cx, cy = box.center
    return round(cx - side / 2), round(cy - side / 2), side


def crop_face(image: np.ndarray, box: Box, size: int, margin: float = DEFAULT_MARGIN,
              border: Literal["constant", "edge"] = "constant") -> np.ndarray:
    """The face in ``box`` as a ``size x size`` RGB uint8 image.

    The crop is the square about the box centre whose side is ``max(w, h) * (1 + margin)``; where
    it leaves the frame it is padded, black (``constant``) or with the nearest edge pixels
    (``edge``). It is then resized, with area interpolation when shrinking and bilinear when
    enlarging.

    Args:
        image: ``H x W x 3`` uint8 RGB frame.
        box: the face, in frame pixels.
        size: side of the output in pixels.
        margin: context added around the face, as a fraction of the box's longer side.
        border: how to fill the part of the square outside the frame.
    """
    import cv2

    if size < 1:
        raise ValueError(f"crop size must be at least 1 pixel, got {size}")
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected an H x W x 3 image, got shape {image.shape}")
    height, width = image.shape[:2]
    left, top, side = square_region(box, margin)
    right, bottom = left + side, top + side
    if border not in ("constant", "edge"):
        raise ValueError(f"border must be 'constant' or 'edge', got {border!r}")
    if left >= 0 and top >= 0 and right <= width and bottom <= height:
        square = image[top:bottom, left:right]
    elif border == "edge":
        # Rows and columns past the frame repeat the nearest ones, even for a box wholly outside.
        rows = np.clip(np.arange(top, bottom), 0, height - 1)
        cols = np.clip(np.arange(left, right), 0, width - 1)
        square = image[rows[:, None], cols[None, :]]
    else:
        square = np.zeros((side, side, 3), dtype=image.dtype)
        r0, r1 = max(top, 0), min(bottom, height)
        c0, c1 = max(left, 0), min(right, width)
        if r1 > r0 and c1 > c0:
            square[r0 - top:r1 - top, c0 - left:c1 - left] = image[r0:r1, c0:c1]
    if side == size:
        return np.ascontiguousarray(square)
    interpolation = cv2.INTER_AREA if side > size else cv2.INTER_LINEAR
    return cv2.resize(square, (size, size), interpolation=interpolation)
