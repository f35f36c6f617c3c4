"""Faces in frames: detectors (``mtcnn``, ``haar``, ``full``), trackers across frames, and crops."""

from cer.faces.crop import crop_face
from cer.faces.detectors import DETECTORS, Box, FaceDetector, create_detector
from cer.faces.tracking import LargestFaceTracker, MultiFaceTracker

__all__ = [
    "DETECTORS",
    "Box",
    "FaceDetector",
    "LargestFaceTracker",
    "MultiFaceTracker",
    "create_detector",
    "crop_face",
]
