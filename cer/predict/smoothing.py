"""The temporal filters of ``cer predict``; they live in the core (:mod:`cer.smoothing`) so that the
tasks (``mtl evaluate``) can smooth with the same code, and are re-exported here for the predictor."""

from cer.smoothing import (
    DEFAULT_SMOOTHING,
    SMOOTHING_KINDS,
    Smoothing,
    frame_scores,
    interpolate_missing,
    parse_smoothing,
    persistent_faces,
    smooth_track,
)

__all__ = ["DEFAULT_SMOOTHING", "SMOOTHING_KINDS", "Smoothing", "frame_scores", "interpolate_missing",
           "parse_smoothing", "persistent_faces", "smooth_track"]
