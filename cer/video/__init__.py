"""Reading what ``cer predict`` is given: finding sources, and streaming their frames."""

from cer.video.frames import Frame, VideoReadError, iter_frames, probe
from cer.video.sources import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS, Source, find_sources

__all__ = [
    "IMAGE_EXTENSIONS",
    "VIDEO_EXTENSIONS",
    "Frame",
    "Source",
    "VideoReadError",
    "find_sources",
    "iter_frames",
    "probe",
]
