"""Errors and reports for bad data: each names the file, and the line where there is one."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path


class DataFormatError(ValueError):
    """A malformed data file: ``file:line: what is wrong`` (line is 1-based, None for the whole file)."""

    def __init__(self, file: str | Path, line: int | None, message: str):
        self.file, self.line, self.message = str(file), line, message
        where = f"{file}:{line}" if line is not None else str(file)
        super().__init__(f"{where}: {message}")


class MissingImagesError(FileNotFoundError):
    """Some records point at image files that do not exist (and the reader was told to fail)."""

    def __init__(self, source: str | Path, missing: list[str], total: int):
        self.source, self.missing, self.total = str(source), missing, total
        super().__init__(describe_missing(source, missing, total) + "; pass on_missing='drop' to skip them")


def describe_missing(source: str | Path, missing: Iterable[str], total: int, show: int = 5) -> str:
    """'N of M images listed in SOURCE are missing: a, b, c, ...'."""
    missing = list(missing)
    head = ", ".join(missing[:show]) + (", ..." if len(missing) > show else "")
    return f"{len(missing)} of {total} images listed in {source} are missing: {head}"
