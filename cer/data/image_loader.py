"""Pixels of a record: an image file (PIL, EXIF orientation applied) or one frame of a video (PyAV).

Video frames are decoded sequentially: each open video keeps its decoder where it stopped and its
last few frames, so reading frames 1..N of a video decodes it once, and a window that steps back a
little (overlapping sequences for a temporal model) is served from memory. Memory stays flat
whatever the video's length; only a jump back past the kept frames re-decodes from the start. The
last few videos stay open in a small LRU, one per process (a DataLoader worker opens its own).
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from cer.data.errors import DataFormatError
from cer.data.record import FaceRecord

OPEN_VIDEOS = 3  # videos kept open at once, per process
# Decoded frames kept per video: overlapping windows of a temporal model step back less than this
# (a 720p RGB frame is 2.7 MB, so the worst case is ~260 MB per process).
KEPT_FRAMES = 32
VIDEO_SUFFIXES: tuple[str, ...] = (".mp4", ".avi", ".mov", ".mkv", ".webm")  # preference order


def load_rgb(record: FaceRecord) -> np.ndarray:
    """The record's face image as an ``[H, W, 3]`` uint8 RGB array.

    Raises:
        FileNotFoundError: the file does not exist.
        DataFormatError: the file cannot be decoded, or the video has no such frame.
    """
    if record.frame is None:
        return read_image(record.image)
    return _VIDEOS.frame(record.image, record.frame)


def read_image(path: str | Path) -> np.ndarray:
    """An image file as ``[H, W, 3]`` uint8 RGB, turned upright by its EXIF orientation."""
    try:
        with Image.open(path) as image:
            image.load()  # PIL decodes lazily: surface truncated files here, with the name
            upright = ImageOps.exif_transpose(image)
            return np.array(upright.convert("RGB"))  # a writable array: augmentations work in place
    except FileNotFoundError:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError) as err:
        hint = " (a video file needs the record's frame number)" if Path(path).suffix.lower() in VIDEO_SUFFIXES else ""
        raise DataFormatError(path, None, f"cannot read as an image: {err}{hint}") from err


class VideoFrames:
    """Frame-by-number access to one video file (frames numbered from 1, in decoding order)."""

    def __init__(self, path: str, kept_frames: int = KEPT_FRAMES):
        self.path = path
        self.kept_frames = kept_frames
        self._recent: OrderedDict[int, np.ndarray] = OrderedDict()
        self._container = None
        self._frames = None  # the decoding iterator
        self._next = 1  # number of the frame the iterator yields next
        self._count: int | None = None  # frames in the video, once decoding has reached its end

    def frame(self, number: int) -> np.ndarray:
        """Frame ``number`` (1-based) as ``[H, W, 3]`` uint8 RGB, upright."""
        import av

        if number < 1:
            raise ValueError(f"{self.path}: frame numbers start at 1, got {number}")
        if number in self._recent:
            return self._recent[number].copy()  # a copy: callers may augment in place
        if self._count is not None and number > self._count:
            raise DataFormatError(self.path, None, f"frame {number} asked for, but the video has {self._count} frames")
        if self._frames is None or number < self._next:
            self._open()
        while self._next <= number:
            try:
                decoded = next(self._frames)
            except StopIteration:
                self._count = self._next - 1
                self.close()
                raise DataFormatError(
                    self.path, None, f"frame {number} asked for, but the video has {self._count} frames"
                ) from None
            except av.error.FFmpegError as err:
                self.close()  # the decoder state is unknown now: the next call starts afresh
                raise DataFormatError(self.path, None, f"cannot decode frame {self._next}: {err}") from err
            # Convert only the frames that will be kept: skipping ahead costs decoding alone.
            if number - self._next < self.kept_frames:
                self._keep(self._next, _upright_rgb(decoded))
            self._next += 1
        return self._recent[number].copy()

    def close(self) -> None:
        if self._container is not None:
            self._container.close()
        self._container = self._frames = None

    def _open(self) -> None:
        import av

        self.close()
        self._recent.clear()
        if not os.path.exists(self.path):
            raise FileNotFoundError(f"video file {self.path} does not exist")
        try:
            self._container = av.open(self.path)
            stream = self._container.streams.video[0]
        except (av.error.FFmpegError, IndexError) as err:
            raise DataFormatError(self.path, None, f"cannot open as a video: {err}") from err
        stream.thread_type = "AUTO"  # frame threads: faster, same pixels
        self._frames = self._container.decode(stream)
        self._next = 1

    def _keep(self, number: int, rgb: np.ndarray) -> None:
        self._recent[number] = rgb
        while len(self._recent) > self.kept_frames:
            self._recent.popitem(last=False)


def _upright_rgb(frame) -> np.ndarray:
    """A decoded ``av.VideoFrame`` as RGB, turned by its display matrix (phone videos)."""
    rgb = frame.to_ndarray(format="rgb24")
    quarter_turns = round((getattr(frame, "rotation", 0) or 0) / 90) % 4  # rotation: degrees counterclockwise
    return np.ascontiguousarray(np.rot90(rgb, quarter_turns)) if quarter_turns else rgb


class _OpenVideos:
    """LRU of open videos, per process: a forked worker must not share its parent's decoders."""

    def __init__(self, size: int):
        self.size = size
        self._videos: OrderedDict[str, VideoFrames] = OrderedDict()
        self._pid = os.getpid()
        self._lock = threading.Lock()

    def frame(self, path: str, number: int) -> np.ndarray:
        with self._lock:
            if self._pid != os.getpid():  # inherited through fork: start afresh
                self._videos, self._pid = OrderedDict(), os.getpid()
            video = self._videos.pop(path, None) or VideoFrames(path)
            self._videos[path] = video
            while len(self._videos) > self.size:
                self._videos.popitem(last=False)[1].close()
            return video.frame(number)

    def clear(self) -> None:
        with self._lock:
            for video in self._videos.values():
                video.close()
            self._videos.clear()


_VIDEOS = _OpenVideos(OPEN_VIDEOS)


def close_videos() -> None:
    """Close every video ``load_rgb`` holds open in this process."""
    _VIDEOS.clear()
