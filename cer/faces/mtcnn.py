"""MTCNN (Zhang, Zhang, Li & Qiao, IEEE Signal Processing Letters 2016), batched, in numpy + PyTorch.

Three networks in cascade: P-Net scans an image pyramid for 12 x 12 face windows, R-Net rejects
and refines them on 24 x 24 crops, O-Net does it again on 48 x 48 crops and places five landmarks.
The networks are small torch modules (:mod:`cer.faces.mtcnn_nets`) holding the widely used Keras
MTCNN weights that the ``mtcnn`` PyPI package (MIT) ships; neither TensorFlow nor that
package's own code is needed. This module is the cascade around them.

Batching: the R-Net and O-Net crops of all frames of a batch go through their network together,
and non-maximum suppression runs once per stage for the whole batch, boxes of different frames
kept apart by an offset. P-Net runs frame by frame (a batch of large images ran slower), and
the pyramid is built level from level, which costs a third of resampling each level from the
frame.

Conventions the networks were trained with, kept here: pixels scaled to ``(x - 127.5) / 128``,
box offsets and landmarks in units of the box, and box corners in 1-based inclusive pixel
coordinates while refining. P-Net's maps are indexed x first, ``[N, W', H']``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from cer.faces.detectors import Box, check_images, downscale
from cer.faces.mtcnn_nets import INSTALL_HINT, WEIGHT_FILES, find_weights, load_nets, network_input

__all__ = ["INSTALL_HINT", "WEIGHT_FILES", "MTCNNDetector", "crop_patches", "find_weights", "nms", "pyramid_scales",
           "refine", "to_square"]

P_NET_CELL, P_NET_STRIDE = 12, 2


def nms(boxes: np.ndarray, scores: np.ndarray, threshold: float, mode: str = "union",
        groups: np.ndarray | None = None) -> np.ndarray:
    """Indices of the boxes kept by greedy non-maximum suppression, best score first.

    Args:
        boxes: ``[K, 4]`` corners ``x1, y1, x2, y2`` (inclusive pixel coordinates).
        scores: ``[K]``.
        threshold: a box overlapping a kept one by more than this is dropped.
        mode: overlap as intersection over ``union``, or over the ``min`` of the two areas.
        groups: ``[K]`` group (image) of each box; boxes of different groups never suppress
            each other.
    """
    if len(boxes) == 0:
        return np.empty(0, dtype=np.int64)
    if groups is not None:
        # Shift each group's boxes past every other group's: one pass serves the whole batch.
        span = float(boxes.max() - boxes.min()) + 2.0
        boxes = boxes + (groups.astype(np.float64) * span)[:, None]
    x1, y1, x2, y2 = boxes.T
    areas = (x2 - x1 + 1) * (y2 - y1 + 1)
    order = np.argsort(-scores, kind="stable")
    keep = []
    while order.size:
        best, rest = order[0], order[1:]
        keep.append(best)
        iw = np.maximum(0.0, np.minimum(x2[best], x2[rest]) - np.maximum(x1[best], x1[rest]) + 1)
        ih = np.maximum(0.0, np.minimum(y2[best], y2[rest]) - np.maximum(y1[best], y1[rest]) + 1)
        inter = iw * ih
        if mode == "min":
            overlap = inter / np.minimum(areas[best], areas[rest])
        else:
            overlap = inter / (areas[best] + areas[rest] - inter)
        order = rest[overlap <= threshold]
    return np.asarray(keep, dtype=np.int64)


def refine(boxes: np.ndarray, offsets: np.ndarray, inclusive: bool = True) -> np.ndarray:
    """Move each corner by its regression offset, in units of the box size."""
    extent = 1.0 if inclusive else 0.0
    w = boxes[:, 2] - boxes[:, 0] + extent
    h = boxes[:, 3] - boxes[:, 1] + extent
    return boxes + offsets * np.stack([w, h, w, h], axis=1)


def to_square(boxes: np.ndarray) -> np.ndarray:
    """Each box grown to a square of its longer side, about the same centre."""
    w = boxes[:, 2] - boxes[:, 0]
    h = boxes[:, 3] - boxes[:, 1]
    side = np.maximum(w, h)
    x1 = boxes[:, 0] + (w - side) / 2
    y1 = boxes[:, 1] + (h - side) / 2
    return np.stack([x1, y1, x1 + side, y1 + side], axis=1)


def pyramid_scales(height: int, width: int, min_face_size: float, factor: float) -> list[float]:
    """Scales at which a ``min_face_size`` face, then ever larger ones, fill P-Net's 12 px window."""
    scale = P_NET_CELL / min_face_size
    scales = []
    while min(height, width) * scale >= P_NET_CELL:
        scales.append(scale)
        scale *= factor
    return scales


def crop_patches(images: Sequence[np.ndarray], owner: np.ndarray, boxes: np.ndarray, size: int) -> np.ndarray:
    """``[K, size, size, 3]`` uint8 crops of integer boxes (1-based, inclusive) of
    ``images[owner[k]]``, black past the edges."""
    import cv2

    patches = np.zeros((len(boxes), size, size, 3), dtype=np.uint8)
    for k, (x1, y1, x2, y2) in enumerate(boxes.astype(np.int64)):
        height, width = images[owner[k]].shape[:2]
        c0, r0, c1, r1 = x1 - 1, y1 - 1, x2, y2  # 0-based, end exclusive
        if c1 <= c0 or r1 <= r0:
            continue
        inside = images[owner[k]][max(r0, 0):min(r1, height), max(c0, 0):min(c1, width)]
        if inside.size == 0:
            continue
        if c0 < 0 or r0 < 0 or c1 > width or r1 > height:
            inside = cv2.copyMakeBorder(inside, max(0, -r0), max(0, r1 - height), max(0, -c0),
                                        max(0, c1 - width), cv2.BORDER_CONSTANT, value=(0, 0, 0))
        patches[k] = cv2.resize(inside, (size, size), interpolation=cv2.INTER_AREA)
    return patches


class MTCNNDetector:
    """MTCNN on batches of frames, on the CPU.

    Args:
        weights_dir: folder of ``pnet/rnet/onet.lz4`` (pickles: trusted files only); default: the
            installed ``mtcnn`` package's.
        min_face_size: smallest face searched, in pixels of the detection image (after
            ``max_side``); larger is faster (fewer pyramid levels, smaller first level).
        thresholds: face probability each stage requires (P-Net, R-Net, O-Net).
        scale_factor: ratio between pyramid levels.
        max_side: long side of the detection image; None to detect at full size.
        batch_size: frames per network batch (bounds memory).
    """

    name = "mtcnn"

    def __init__(self, weights_dir: str | Path | None = None, min_face_size: float = 40.0,
                 thresholds: tuple[float, float, float] = (0.6, 0.7, 0.7), scale_factor: float = 0.709,
                 max_side: int | None = 640, batch_size: int = 8):
        if min_face_size <= 0 or batch_size < 1:
            raise ValueError(f"min_face_size must be positive and batch_size at least 1, got "
                             f"{min_face_size} and {batch_size}")
        self._pnet, self._rnet, self._onet = load_nets(weights_dir)
        self.min_face_size, self.thresholds = min_face_size, thresholds
        self.scale_factor, self.max_side, self.batch_size = scale_factor, max_side, batch_size

    def detect(self, images: Sequence[np.ndarray], max_faces: int | None = None) -> list[list[Box]]:
        """Boxes of each ``H x W x 3`` uint8 RGB image, sorted by score, highest first.

        Args:
            images: RGB frames or crops.
            max_faces: at most this many faces per image. Only R-Net's best ``2 * max_faces``
                candidates of an image go on to O-Net, the costliest stage per candidate: on a
                crop around one face (what :class:`cer.faces.search.FaceSearch` searches)
                R-Net leaves about six overlapping candidates, and O-Net made up two thirds of
                the detection time.
        """
        if max_faces is not None and max_faces < 1:
            raise ValueError(f"max_faces must be at least 1 (or None for no limit), got {max_faces}")
        check_images(images)
        results: list[list[Box]] = [[] for _ in images]
        small = [downscale(image, self.max_side) for image in images]
        # Frames of one video share a size: group them so that each group is one batch.
        by_shape: dict[tuple[int, ...], list[int]] = {}
        for k, (image, _) in enumerate(small):
            by_shape.setdefault(image.shape, []).append(k)
        for members in by_shape.values():
            for start in range(0, len(members), self.batch_size):
                chunk = members[start:start + self.batch_size]
                batch = np.stack([small[k][0] for k in chunk])
                for k, boxes in zip(chunk, self._detect_batch(batch, max_faces)):
                    factor = small[k][1]
                    results[k] = [box.scaled(1 / factor) if factor != 1.0 else box for box in boxes]
        return results

    def follow(self, images: Sequence[np.ndarray], known: Sequence[Sequence[Box]]) -> list[list[Box]]:
        """The faces of ``known[k]`` checked and re-fitted in ``images[k]`` by O-Net alone.

        O-Net was trained to score and regress boxes that overlap a face only in part, so the
        square about a face's box in the previous frame comes back fitted to the face where it is
        now, or is rejected when no face is there any more. This skips P-Net's pyramid and R-Net:
        for a tracked face, a millisecond instead of a detection. Boxes are in frame pixels, at
        most one per known box, score-sorted.
        """
        check_images(images)
        results: list[list[Box]] = [[] for _ in images]
        for start in range(0, len(images), self.batch_size):
            chunk = range(start, min(start + self.batch_size, len(images)))
            owner = np.asarray([j for j, k in enumerate(chunk) for _ in known[k]], dtype=np.int64)
            if owner.size == 0:
                continue
            corners = np.asarray([(b.x, b.y, b.x + b.w, b.y + b.h) for k in chunk for b in known[k]])
            out = self._output([images[k] for k in chunk], owner, np.fix(to_square(corners)))
            results[start:start + len(chunk)] = self._boxes(len(chunk), *out)
        return results

    def _detect_batch(self, images: np.ndarray, max_faces: int | None = None) -> list[list[Box]]:
        """Boxes of each image of ``[N, H, W, 3]`` uint8, in that image's pixels."""
        owner, boxes = self._propose(images)
        owner, boxes = self._refine(images, owner, boxes, None if max_faces is None else 2 * max_faces)
        return self._boxes(len(images), *self._output(images, owner, boxes), max_faces=max_faces)

    @staticmethod
    def _boxes(n_images: int, owner: np.ndarray, boxes: np.ndarray, scores: np.ndarray, landmarks: np.ndarray,
               max_faces: int | None = None) -> list[list[Box]]:
        """O-Net's output as score-sorted :class:`Box` lists, one per image."""
        results: list[list[Box]] = [[] for _ in range(n_images)]
        for k in np.argsort(-scores, kind="stable"):
            if max_faces is not None and len(results[owner[k]]) >= max_faces:
                continue
            x1, y1, x2, y2 = boxes[k]
            points = tuple((float(px), float(py)) for px, py in landmarks[k])
            results[owner[k]].append(Box(float(x1), float(y1), float(x2 - x1), float(y2 - y1),
                                         float(scores[k]), points))
        return results

    @staticmethod
    @torch.inference_mode()
    def _run(net: torch.nn.Module, images: np.ndarray) -> dict[int, np.ndarray]:
        """Outputs of ``net`` on ``[N, H, W, 3]`` uint8 images, keyed by their channel count (4: box
        offsets, 10: landmarks, 2: scores); P-Net's maps come as ``[N, W', H', C]``, x first."""
        outs = net(network_input(images))
        return {out.shape[1]: (out.permute(0, 3, 2, 1) if out.ndim == 4 else out).numpy() for out in outs}

    def _propose(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Stage 1: P-Net over the pyramid; square candidate boxes (integer corners)."""
        import cv2

        _, height, width, _ = images.shape
        levels = list(images)
        found_owner, found_boxes, found_scores = [], [], []
        for scale in pyramid_scales(height, width, self.min_face_size, self.scale_factor):
            size = (int(np.ceil(width * scale)), int(np.ceil(height * scale)))
            # Each level from the one before: area resampling from the full frame costs several
            # times more for the same picture.
            levels = [cv2.resize(level, size, interpolation=cv2.INTER_AREA) for level in levels]
            # One frame per forward: P-Net runs no faster on a batch of large images (measured).
            outs = [self._run(self._pnet, level[None]) for level in levels]
            probs = np.concatenate([out[2][..., 1] for out in outs])  # [N, W', H']
            offsets = np.concatenate([out[4] for out in outs])  # [N, W', H', 4]
            owner, col, row = np.nonzero(probs >= self.thresholds[0])
            if owner.size == 0:
                continue
            corners = np.stack([col, row, col, row], axis=1).astype(np.float64) * P_NET_STRIDE
            corners += np.array([1, 1, P_NET_CELL, P_NET_CELL])
            boxes = np.concatenate([np.fix(corners / scale), offsets[owner, col, row]], axis=1)
            scores = probs[owner, col, row].astype(np.float64)
            keep = nms(boxes[:, :4], scores, 0.5, groups=owner)
            found_owner.append(owner[keep])
            found_boxes.append(boxes[keep])
            found_scores.append(scores[keep])
        if not found_owner:
            return np.empty(0, np.int64), np.empty((0, 4))
        owner, boxes, scores = (np.concatenate(a) for a in (found_owner, found_boxes, found_scores))
        keep = nms(boxes[:, :4], scores, 0.7, groups=owner)
        corners = np.fix(to_square(refine(boxes[keep, :4], boxes[keep, 4:], inclusive=False)))
        return owner[keep], corners

    def _score_crops(self, net, size: int, threshold: float, images: Sequence[np.ndarray], owner: np.ndarray,
                     boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray, dict[int, np.ndarray]]:
        """Crops of ``boxes`` through ``net``; the boxes whose face probability passes, and their outputs."""
        out = self._run(net, crop_patches(images, owner, boxes, size))
        passed = out[2][:, 1] > threshold
        return owner[passed], boxes[passed], {key: value[passed].astype(np.float64) for key, value in out.items()}

    def _refine(self, images: np.ndarray, owner: np.ndarray, boxes: np.ndarray,
                per_image: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Stage 2: R-Net drops and moves the candidates (square, integer corners); at most
        ``per_image`` of them, the best scored, for each image."""
        if len(boxes) == 0:
            return owner, boxes
        owner, boxes, out = self._score_crops(self._rnet, 24, self.thresholds[1], images, owner, boxes)
        keep = nms(boxes, out[2][:, 1], 0.7, groups=owner)  # best score first
        if per_image is not None:
            rank = np.zeros(len(keep), dtype=np.int64)
            seen: dict[int, int] = {}
            for j, k in enumerate(keep):
                rank[j] = seen.get(owner[k], 0)
                seen[owner[k]] = rank[j] + 1
            keep = keep[rank < per_image]
        return owner[keep], np.fix(to_square(refine(boxes[keep], out[4][keep])))

    def _output(self, images: Sequence[np.ndarray], owner: np.ndarray, boxes: np.ndarray):
        """Stage 3: O-Net scores, final boxes and landmarks ``[K, 5, 2]``."""
        if len(boxes) == 0:
            return owner, np.empty((0, 4)), np.empty(0), np.empty((0, 5, 2))
        owner, boxes, out = self._score_crops(self._onet, 48, self.thresholds[2], images, owner, boxes)
        w = boxes[:, 2] - boxes[:, 0] + 1
        h = boxes[:, 3] - boxes[:, 1] + 1
        points = out[10]  # [K, 10]: five x, then five y, in box units
        xs = points[:, :5] * w[:, None] + boxes[:, :1] - 1
        ys = points[:, 5:] * h[:, None] + boxes[:, 1:2] - 1
        boxes = refine(boxes, out[4])
        scores = out[2][:, 1]
        keep = nms(boxes, scores, 0.7, mode="min", groups=owner)
        return owner[keep], boxes[keep], scores[keep], np.stack([xs, ys], axis=2)[keep]
