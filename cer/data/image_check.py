"""The missing-image check every reader ends with: count the records whose file is absent, then fail
or drop them loudly (``on_missing``), never silently.

Real annotation files list faces whose image is gone (Aff-Wild2 annotates frames where no face was
detected, so no crop was written); a reader cannot tell a user's broken copy from that, so the user
chooses. Existence is checked with one directory listing per folder rather than one ``stat`` per
record: an Aff-Wild2 split is ~10^5 files in a few hundred folders.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from cer.data.errors import MissingImagesError, describe_missing
from cer.data.record import FaceRecord

OnMissing = Literal["error", "drop"]
ON_MISSING_CHOICES: tuple[str, ...] = ("error", "drop")

logger = logging.getLogger("cer.data")


def check_choice(name: str, value: object, choices: Sequence[object]) -> None:
    """Raise a ValueError naming the argument when ``value`` is not one of ``choices``."""
    if value not in choices:
        options = ", ".join(repr(c) for c in choices)
        raise ValueError(f"{name}={value!r} is not valid: use one of {options}")


def existing_files(paths: Sequence[str]) -> set[str]:
    """The subset of ``paths`` that are existing files (one directory listing per parent folder)."""
    by_folder: dict[str, list[str]] = {}
    for p in set(paths):
        folder, name = os.path.split(p)
        by_folder.setdefault(folder, []).append(name)
    found: set[str] = set()
    for folder, names in by_folder.items():
        try:
            with os.scandir(folder or ".") as entries:
                # is_file() follows symlinks, so a dangling link counts as missing.
                files = {e.name for e in entries if e.is_file()}
        except (FileNotFoundError, NotADirectoryError):
            continue
        found.update(os.path.join(folder, n) for n in names if n in files)
    return found


def drop_missing_images(
    records: list[FaceRecord], source: str | Path, on_missing: OnMissing = "error"
) -> list[FaceRecord]:
    """Return ``records`` whose image (or video) file exists.

    Args:
        records: what a reader parsed from ``source``.
        source: the annotation file (or folder) the records came from, named in the message.
        on_missing: ``"error"`` raises :class:`MissingImagesError` when any file is absent;
            ``"drop"`` removes those records and logs a warning on the ``cer.data`` logger with the
            same count and names.
    """
    check_choice("on_missing", on_missing, ON_MISSING_CHOICES)
    present = existing_files([r.image for r in records])
    missing = [r.key for r in records if r.image not in present]
    if not missing:
        return records
    if on_missing == "error":
        raise MissingImagesError(source, missing, len(records))
    logger.warning("%s; dropped them (on_missing='drop')", describe_missing(source, missing, len(records)))
    return [r for r in records if r.image in present]
