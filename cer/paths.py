"""Where the project keeps what it generates for itself (the synthetic default data sets)."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """``$CER_CACHE`` if set, else ``$XDG_CACHE_HOME/cer`` or ``~/.cache/cer``."""
    if os.environ.get("CER_CACHE"):
        return Path(os.environ["CER_CACHE"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "cer"
