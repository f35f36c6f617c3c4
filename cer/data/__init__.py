"""Data readers: one per published format, all returning :class:`FaceRecord` lists."""

from cer.data.errors import DataFormatError, MissingImagesError
from cer.data.record import FaceRecord

__all__ = ["DataFormatError", "FaceRecord", "MissingImagesError"]
