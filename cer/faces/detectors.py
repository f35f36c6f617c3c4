"""Face detectors behind one interface: a batch of RGB frames in, boxes per frame out.

- ``mtcnn``: the MTCNN cascade (Zhang et al., "Joint Face Detection and Alignment using
  Multi-task Cascaded Convolutional Networks", IEEE SPL 2016), see :mod:`cer.faces.mtcnn`;
- ``haar``: OpenCV's Viola-Jones frontal-face cascade (Viola & Jones, CVPR 2001), no weights to
  install, weaker on turned heads;
- ``full``: the whole frame is the face, for inputs that are already face crops.

Large frames are detected on a copy whose long side is ``max_side`` pixels (boxes are mapped back
to the frame): faces in video are large, and the cost of a detector grows with the pixel count.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

import numpy as np

DETECTORS = ("mtcnn", "haar", "full")


@dataclass(frozen=True)
class Box:
    """A face box in frame pixels; it may reach past the frame's edges.

    Attributes:
        x, y: top-left corner.
        w, h: width and height.
        score: detector confidence (probability for MTCNN, neighbour count for Haar, 1 for full).
        landmarks: where the detector gives them, (x, y) of the left eye, right eye, nose, left
            and right mouth corners.
    """

    x: float
    y: float
    w: float
    h: float
    score: float
    landmarks: tuple[tuple[float, float], ...] | None = None

    @property
    def area(self) -> float:
        return max(self.w, 0.0) * max(self.h, 0.0)

    @property
    def center(self) -> tuple[float, float]:
        return self.x + self.w / 2, self.y + self.h / 2

    def iou(self, other: Box) -> float:
        """Intersection over union of the two boxes (0 when either is empty)."""
        iw = min(self.x + self.w, other.x + other.w) - max(self.x, other.x)
        ih = min(self.y + self.h, other.y + other.h) - max(self.y, other.y)
        if iw <= 0 or ih <= 0:
            return 0.0
        inter = iw * ih
        return inter / (self.area + other.area - inter)

    def scaled(self, factor: float) -> Box:
        """The box in an image ``factor`` times the size of this one's."""
        landmarks = None
        if self.landmarks is not None:
            landmarks = tuple((px * factor, py * factor) for px, py in self.landmarks)
        return Box(self.x * factor, self.y * factor, self.w * factor, self.h * factor, self.score, landmarks)


class FaceDetector(Protocol):
    """Anything with a ``name`` and a batched ``detect``."""

    name: str

    def detect(self, images: Sequence[np.ndarray], max_faces: int | None = None) -> list[list[Box]]:
        """Boxes of each ``H x W x 3`` uint8 RGB image, sorted by score, highest first; at most
        ``max_faces`` per image (a detector may use the limit to do less work)."""
        ...


def create_detector(name: Literal["mtcnn", "haar", "full"] = "mtcnn", **kwargs) -> FaceDetector:
    """The detector called ``name``, built with ``kwargs`` (see each detector's ``__init__``).

    Raises:
        ValueError: unknown name.
        FileNotFoundError: ``mtcnn`` weights are not installed (the message says how).
    """
    if name == "mtcnn":
        from cer.faces.mtcnn import MTCNNDetector

        return MTCNNDetector(**kwargs)
    if name == "haar":
        return HaarDetector(**kwargs)
    if name == "full":
        return FullFrameDetector(**kwargs)
    raise ValueError(f"unknown face detector {name!r}: choose one of {', '.join(DETECTORS)}")


def downscale(image: np.ndarray, max_side: int | None) -> tuple[np.ndarray, float]:
    """``image`` shrunk so its long side is at most ``max_side``, and the factor applied (<= 1)."""
    import cv2

    height, width = image.shape[:2]
    if max_side is None or max(height, width) <= max_side:
        return image, 1.0
    factor = max_side / max(height, width)
    size = (max(1, round(width * factor)), max(1, round(height * factor)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA), factor


def check_images(images: Sequence[np.ndarray]) -> None:
    for k, image in enumerate(images):
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(f"image {k}: expected H x W x 3 uint8 RGB, got {image.shape} {image.dtype}")


class HaarDetector:
    """OpenCV's Haar cascade; a box's score is the number of neighbouring detections it merged.

    Args:
        cascade: file name inside ``cv2.data.haarcascades``, or a path to a cascade XML file.
        scale_factor: step between the cascade's window sizes.
        min_neighbors: detections that must overlap for a face to count (higher: fewer, surer).
        min_face_size: smallest face in pixels of the detection image (after ``max_side``).
        max_side: long side of the detection image; None to detect at full size.
    """

    name = "haar"

    def __init__(self, cascade: str = "haarcascade_frontalface_default.xml", scale_factor: float = 1.1,
                 min_neighbors: int = 5, min_face_size: int = 40, max_side: int | None = 640):
        import cv2

        path = Path(cascade) if Path(cascade).is_file() else Path(cv2.data.haarcascades) / cascade
        self._cascade = cv2.CascadeClassifier(str(path))
        if self._cascade.empty():
            raise FileNotFoundError(f"no Haar cascade at {path}: OpenCV 4 ships them "
                                    "(pip install 'opencv-python-headless<5'), OpenCV 5 does not")
        self.scale_factor, self.min_neighbors = scale_factor, min_neighbors
        self.min_face_size, self.max_side = min_face_size, max_side

    def detect(self, images: Sequence[np.ndarray], max_faces: int | None = None) -> list[list[Box]]:
        import cv2

        check_images(images)
        results = []
        for image in images:
            small, factor = downscale(image, self.max_side)
            grey = cv2.equalizeHist(cv2.cvtColor(small, cv2.COLOR_RGB2GRAY))
            rects, neighbours = self._cascade.detectMultiScale2(
                grey, scaleFactor=self.scale_factor, minNeighbors=self.min_neighbors,
                minSize=(self.min_face_size, self.min_face_size),
            )
            boxes = [Box(float(x), float(y), float(w), float(h), float(n)).scaled(1 / factor)
                     for (x, y, w, h), n in zip(rects, neighbours)]
            results.append(sorted(boxes, key=lambda b: (-b.score, -b.area))[:max_faces])
        return results


class FullFrameDetector:
    """The whole frame is the face (inputs already cropped to one face)."""

    name = "full"

    def detect(self, images: Sequence[np.ndarray], max_faces: int | None = None) -> list[list[Box]]:
        return [[Box(0.0, 0.0, float(image.shape[1]), float(image.shape[0]), 1.0)] for image in images]
