"""Frames of a source, streamed: PyAV decoding in a background thread behind a bounded queue.

Memory stays flat whatever the video length (at most ``queue_size`` decoded frames wait), and
decoding overlaps with whatever the consumer does with the frames (detection, the model).

Frame numbers are 1-based and follow the file: the i-th frame of a video in presentation order is
``index == i``, which is frame ``{i:05d}.jpg`` of the ABAW frame lists; in a ``frames`` folder the
index is the number in the file name (such folders may have gaps where no face was found).

What happens with damaged input:

- a file that cannot be opened (empty, not a video, header missing) raises
  :class:`VideoReadError` before any frame;
- a packet that fails to decode in the middle of a video gives a :class:`Frame` with
  ``image=None`` and ``error`` set, in its place, and decoding goes on;
- a truncated video (the container lists more frames than the file holds, or reading stops on
  an error) yields every frame it could, then raises :class:`VideoReadError`;
- an unreadable image inside a ``frames`` folder gives an error frame; an unreadable still image
  raises :class:`VideoReadError`.
"""

from __future__ import annotations

import heapq
import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cer.video.sources import Source, frame_images

FRAMES_FOLDER_FPS = 25.0  # ABAW frame folders are extracted from 25 or 30 fps videos; 25 unless known
_POLL_S = 0.1  # how often a blocked producer checks whether the consumer has gone


@dataclass
class Frame:
    """One frame of a source.

    Attributes:
        index: 1-based frame number (the i-th frame of a video, or the number in the file name).
        timestamp: seconds from the start of the video.
        image: ``H x W x 3`` uint8 RGB; None when the frame could not be decoded.
        error: why the frame could not be decoded, else None.
    """

    index: int
    timestamp: float
    image: np.ndarray | None
    error: str | None = None


class VideoReadError(RuntimeError):
    """A source could not be read, or not to its end: names the file, the frame when known, and why."""

    def __init__(self, path: str | Path, reason: str, frame: int | None = None):
        self.path, self.reason, self.frame = str(path), reason, frame
        where = f"{path} (frame {frame})" if frame is not None else str(path)
        super().__init__(f"{where}: {reason}")


def probe(source: Source) -> dict:
    """What a source holds, without decoding it.

    Returns:
        ``{"frames": int | None, "fps": float | None, "width": int, "height": int, "codec": str}``;
        ``frames`` is None where the container does not say.

    Raises:
        VideoReadError: the file is empty, unreadable, or holds no video stream.
    """
    if source.kind == "video":
        container = _open_video(source.path)
        try:
            stream = container.streams.video[0]
            rate = stream.average_rate or stream.guessed_rate
            return {
                "frames": stream.frames or None,
                "fps": float(rate) if rate else None,
                "width": stream.codec_context.width,
                "height": stream.codec_context.height,
                "codec": stream.codec_context.name,
            }
        finally:
            container.close()
    if source.kind == "frames":
        paths = frame_images(source.path)
        if not paths:
            raise VideoReadError(source.path, "no frame images (NNNNN.jpg) in this folder")
        height, width = _read_image(paths[0]).shape[:2]
        return {"frames": len(paths), "fps": FRAMES_FOLDER_FPS, "width": width, "height": height,
                "codec": paths[0].suffix.lower().lstrip(".")}
    height, width = _read_image(source.path).shape[:2]
    return {"frames": 1, "fps": None, "width": width, "height": height,
            "codec": source.path.suffix.lower().lstrip(".")}


def iter_frames(source: Source, *, threaded: bool = True, queue_size: int = 32) -> Iterator[Frame]:
    """Stream the frames of ``source`` in order (see the module docstring for damaged input).

    Args:
        source: a video, frames folder or image.
        threaded: decode in a background thread; the frames are the same either way.
        queue_size: most decoded frames waiting for the consumer (bounds memory).

    Closing the iterator early (``break`` out of a ``for``, or ``.close()``) stops the
    background thread and closes the file.
    """
    if queue_size < 1:
        raise ValueError(f"queue_size must be at least 1, got {queue_size}")
    readers = {"video": _video_frames, "frames": _folder_frames, "image": _image_frames}
    frames = readers[source.kind](source)
    if not threaded:
        return frames
    return _in_background(frames, queue_size, name=f"cer-decode-{source.name}")


# --- videos ---------------------------------------------------------------------------------------


def _open_video(path: Path):
    import av

    path = Path(path)
    if not path.is_file():
        raise VideoReadError(path, "no such file")
    if path.stat().st_size == 0:
        raise VideoReadError(path, "the file is empty (0 bytes)")
    try:
        container = av.open(str(path))
    except av.error.FFmpegError as error:
        raise VideoReadError(path, f"cannot open it as a video ({error.strerror or error}); "
                                   "is the file complete and really a video?") from error
    if not container.streams.video:
        container.close()
        raise VideoReadError(path, "the file holds no video stream")
    return container


def _video_frames(source: Source) -> Iterator[Frame]:
    import av

    container = _open_video(source.path)
    try:
        stream = container.streams.video[0]
        # FFmpeg's default (slice) threading: frame threading ("AUTO") decodes a little faster but,
        # on a damaged packet, silently drops the frames in flight; decoding is not the bottleneck.
        decoder = _OrderedDecoder(stream)
        packets = 0
        try:
            for packet in container.demux(stream):
                if packet.size:
                    packets += 1
                yield from decoder.decode(packet)
        except av.error.FFmpegError as error:
            yield from decoder.flush()
            raise VideoReadError(source.path, f"reading stopped after {decoder.count} frames: "
                                              f"{error.strerror or error}; the file may be truncated",
                                 frame=decoder.count + 1) from error
        yield from decoder.flush()
        if stream.frames and packets < stream.frames:
            raise VideoReadError(
                source.path,
                f"truncated: the container lists {stream.frames} frames but the file holds only "
                f"{packets} ({decoder.count} read, undecodable ones included)",
                frame=decoder.count + 1,
            )
    finally:
        container.close()


class _OrderedDecoder:
    """Decodes packets into Frames numbered in presentation order, error frames in their place.

    A decoder delays its output (reordering B-frames), so a packet that fails now stands for a
    frame that comes out later: its error frame waits, keyed by the packet's pts, until the
    decoded frames pass that time.
    """

    def __init__(self, stream):
        self.stream = stream
        self.count = 0
        self._pending: list[tuple[float, str]] = []  # heap of (time, error) of failed packets
        self.fps = float(stream.average_rate or stream.guessed_rate or FRAMES_FOLDER_FPS)

    def decode(self, packet) -> Iterator[Frame]:
        import av

        try:
            decoded = packet.decode()
        except av.error.FFmpegError as error:
            if not packet.is_discard:  # discarded packets (edit lists) never become frames
                at = _seconds(packet.pts, packet.time_base)
                heapq.heappush(self._pending, (at if at is not None else float("inf"),
                                               f"undecodable frame: {error.strerror or error}"))
            return
        for frame in decoded:
            yield from self._emit(frame)

    def flush(self) -> Iterator[Frame]:
        import av

        try:
            for frame in self.stream.codec_context.decode(None):
                yield from self._emit(frame)
        except av.error.EOFError:
            pass  # already drained by the demuxer's final empty packet
        except av.error.FFmpegError as error:
            heapq.heappush(self._pending, (float("inf"), f"undecodable frame: {error.strerror or error}"))
        while self._pending:
            yield self._error_frame(*heapq.heappop(self._pending))

    def _emit(self, frame) -> Iterator[Frame]:
        at = _seconds(frame.pts, frame.time_base)
        while self._pending and at is not None and self._pending[0][0] < at:
            yield self._error_frame(*heapq.heappop(self._pending))
        self.count += 1
        timestamp = at if at is not None else (self.count - 1) / self.fps
        yield Frame(self.count, timestamp, frame.to_ndarray(format="rgb24"))

    def _error_frame(self, at: float, error: str) -> Frame:
        self.count += 1
        timestamp = at if at != float("inf") else (self.count - 1) / self.fps
        return Frame(self.count, timestamp, None, error)


def _seconds(pts: int | None, time_base) -> float | None:
    return float(pts * time_base) if pts is not None and time_base is not None else None


# --- frame folders and still images ---------------------------------------------------------------


def _folder_frames(source: Source) -> Iterator[Frame]:
    paths = frame_images(source.path)
    if not paths:
        raise VideoReadError(source.path, "no frame images (NNNNN.jpg) in this folder")
    for path in paths:
        index = int(path.stem)
        timestamp = (index - 1) / FRAMES_FOLDER_FPS
        try:
            yield Frame(index, timestamp, _read_image(path))
        except VideoReadError as error:
            yield Frame(index, timestamp, None, str(error))


def _image_frames(source: Source) -> Iterator[Frame]:
    yield Frame(1, 0.0, _read_image(source.path))


def _read_image(path: Path) -> np.ndarray:
    """RGB uint8 of an image file (grey and alpha images become 3-channel RGB)."""
    import cv2

    try:
        data = np.fromfile(path, dtype=np.uint8)  # np.fromfile + imdecode: non-ASCII paths work too
    except OSError as error:
        raise VideoReadError(path, f"cannot read the file: {error.strerror or error}") from error
    if data.size == 0:
        raise VideoReadError(path, "the file is empty (0 bytes)")
    image = cv2.imdecode(data, cv2.IMREAD_COLOR)
    if image is None:
        raise VideoReadError(path, "not a readable image (damaged, or not the format its extension says)")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


# --- the background thread ------------------------------------------------------------------------


class _Failure:
    def __init__(self, error: BaseException):
        self.error = error


_END = object()


def _in_background(frames: Iterator[Frame], queue_size: int, name: str) -> Iterator[Frame]:
    """Run ``frames`` in a thread; items reach the consumer through a queue of ``queue_size``."""
    items: queue.Queue = queue.Queue(maxsize=queue_size)
    stop = threading.Event()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                items.put(item, timeout=_POLL_S)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for frame in frames:
                if not put(frame):
                    return
            put(_END)
        except Exception as error:  # noqa: BLE001 (any failure is handed to the consumer and raised there)
            put(_Failure(error))
        finally:
            frames.close()  # closes the file in the thread that used it

    thread = threading.Thread(target=produce, name=name, daemon=True)
    return _consume(items, stop, thread)


def _consume(items: queue.Queue, stop: threading.Event, thread: threading.Thread) -> Iterator[Frame]:
    # The thread starts on the first next(), so an iterator that is never used starts none.
    thread.start()
    try:
        while True:
            item = items.get()
            if item is _END:
                return
            if isinstance(item, _Failure):
                raise item.error
            yield item
    finally:
        stop.set()
        thread.join()
