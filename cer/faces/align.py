"""Face crops aligned on five landmarks, as aligned data sets cut their faces (RAF-DB "aligned",
Aff-Wild2 "cropped_aligned", the built-in renderer's "face" framing).

A box crop (:mod:`cer.faces.crop`) follows the detector's box, which moves with pose and expression;
a model trained on aligned crops expects the eyes, nose and mouth where its training faces had
them. :func:`align_face` maps the detector's five landmarks onto a template of those positions by
the similarity transform (rotation, uniform scale, shift) that fits them best in least squares.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

# (x, y) of the left eye, right eye, nose tip, left and right mouth corners (image left and right,
# the order of cer.faces.detectors.Box.landmarks), as fractions of the crop's side.
Template = Sequence[tuple[float, float]]


def similarity_transform(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """[2, 3] matrix of the similarity that maps the points ``src`` [N, 2] closest to ``dst`` [N, 2]
    in least squares (Umeyama 1991, without reflection)."""
    src, dst = np.asarray(src, np.float64), np.asarray(dst, np.float64)
    if src.shape != dst.shape or src.ndim != 2 or src.shape[1] != 2 or len(src) < 2:
        raise ValueError(f"expected two [N, 2] point sets with N >= 2, got {src.shape} and {dst.shape}")
    mu_s, mu_d = src.mean(0), dst.mean(0)
    s, d = src - mu_s, dst - mu_d
    var = (s ** 2).sum() / len(src)
    if var == 0:
        raise ValueError("the source points all coincide: no transform fits them")
    u, sigma, vt = np.linalg.svd(d.T @ s / len(src))
    sign = np.diag([1.0, np.sign(np.linalg.det(u @ vt)) or 1.0])
    rotation = u @ sign @ vt
    scale = float((sigma * np.diag(sign)).sum() / var)
    matrix = np.empty((2, 3))
    matrix[:, :2] = scale * rotation
    matrix[:, 2] = mu_d - scale * rotation @ mu_s
    return matrix


def align_face(image: np.ndarray, landmarks: Sequence[tuple[float, float]], template: Template,
               size: int) -> np.ndarray:
    """The ``size x size`` RGB uint8 crop of ``image`` whose five ``landmarks`` (frame pixels) land
    on ``template`` (fractions of the side); outside the frame it is black, as box crops are."""
    import cv2

    if size < 1:
        raise ValueError(f"crop size must be at least 1 pixel, got {size}")
    if len(landmarks) != len(template):
        raise ValueError(f"{len(landmarks)} landmarks for a template of {len(template)} points")
    # Pixel centres: template fraction f sits at f * size - 0.5, as the renderer places its points.
    matrix = similarity_transform(np.asarray(landmarks), np.asarray(template) * size - 0.5)
    shrinks = matrix[0, 0] ** 2 + matrix[0, 1] ** 2 < 1  # the squared scale
    return cv2.warpAffine(image, matrix, (size, size), flags=cv2.INTER_AREA if shrinks else cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0))
