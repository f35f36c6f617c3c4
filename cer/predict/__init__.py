"""Per-frame compound-expression prediction for videos, frame folders and images (``cer predict``).

``predict(inputs, model=None, constrain=...)`` runs the whole pipeline from Python and returns the
per-frame rows; the files it writes are described in :mod:`cer.predict.outputs`.
"""

from __future__ import annotations

from typing import Any

__all__ = ["Predictions", "predict"]


def __getattr__(name: str) -> Any:
    # Imported on first use: the pipeline pulls in torch and OpenCV, and `cer --help` loads this
    # package (for the command's help line) without needing either.
    if name in __all__:
        from cer.predict import pipeline

        return getattr(pipeline, name)
    raise AttributeError(f"module 'cer.predict' has no attribute {name!r}")
