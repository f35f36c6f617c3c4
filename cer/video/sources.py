"""What ``cer predict`` reads: video files, folders of frames, and still images, found under paths.

A folder whose files are all images named by a frame number (``00001.jpg``, ``00002.jpg``, ...,
as in Aff-Wild2's ``cropped_aligned/<video>/``) is one ``frames`` source, a video already cut into
frames; any other image is an ``image`` source of its own.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

VIDEO_EXTENSIONS = (".mp4", ".mov", ".avi", ".mkv", ".webm")
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp")


@dataclass(frozen=True)
class Source:
    """One input of the predictor.

    Attributes:
        kind: ``video`` (a video file), ``frames`` (a folder of numbered frame images) or
            ``image`` (a still image).
        path: the file, or the folder for ``frames``.
        name: the video name used in outputs: the file stem, or the folder name for ``frames``.
    """

    kind: Literal["video", "frames", "image"]
    path: Path
    name: str


def is_video(path: Path) -> bool:
    return path.suffix.lower() in VIDEO_EXTENSIONS


def is_image(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_EXTENSIONS


def is_frame_image(path: Path) -> bool:
    """An image named by its frame number, like ``00042.jpg``."""
    return is_image(path) and path.stem.isdigit()


def frame_images(folder: Path) -> list[Path]:
    """The frame images of a ``frames`` folder, in frame-number order (not string order)."""
    frames = [p for p in folder.iterdir() if p.is_file() and is_frame_image(p)]
    return sorted(frames, key=lambda p: (int(p.stem), p.name))


def find_sources(inputs: Sequence[str | Path], skipped: list[Path] | None = None) -> list[Source]:
    """Find the videos, frame folders and images under ``inputs`` (files or folders, recursed).

    Hidden files and folders (names starting with ``.``) met while recursing are ignored; files
    with an extension that is neither a video nor an image are skipped. The result is sorted by
    path and holds each source once, whatever the order and overlap of ``inputs``.

    Args:
        inputs: files and folders.
        skipped: if given, a list that receives the paths of the skipped files (sorted), so that
            a caller can tell the user what was left out.

    Returns:
        The sources, sorted by path.

    Raises:
        FileNotFoundError: an input does not exist (named in the message).
    """
    found: dict[Path, Source] = {}
    left_out: set[Path] = set()
    for given in inputs:
        path = Path(given).expanduser()
        if not path.exists():
            raise FileNotFoundError(f"input {str(given)!r} does not exist")
        if path.is_dir():
            _walk(path, found, left_out)
        else:
            _add_file(path, found, left_out)
    if skipped is not None:
        skipped.extend(sorted(left_out))
    return [found[p] for p in sorted(found)]


def _walk(root: Path, found: dict[Path, Source], left_out: set[Path]) -> None:
    # os.walk in sorted order and without following links: the same tree always gives the same list.
    for folder, subfolders, files in os.walk(root):
        subfolders[:] = sorted(d for d in subfolders if not d.startswith("."))
        names = sorted(f for f in files if not f.startswith("."))
        here = Path(folder)
        if names and all(is_frame_image(Path(n)) for n in names):
            found[here] = Source("frames", here, here.name)
            continue
        for name in names:
            _add_file(here / name, found, left_out)


def _add_file(path: Path, found: dict[Path, Source], left_out: set[Path]) -> None:
    if is_video(path):
        found[path] = Source("video", path, path.stem)
    elif is_image(path):
        found[path] = Source("image", path, path.stem)
    else:
        left_out.add(path)
