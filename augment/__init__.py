"""Compound-expression synthesis (CutMix / Mixup with multi-hot labels) and image pipelines.

Standalone: imports neither ``cer`` nor ``mtl``.
"""

from __future__ import annotations

import importlib
from typing import Any

# Exports load on first use: torch and albumentations (with OpenCV) take seconds to import, and
# command lines that merely mention this package must stay instant. Submodules import as usual.
_EXPORTS = {
    "CUTMIX": "augment.mixing",
    "MIXUP": "augment.mixing",
    "CompoundSynthesizer": "augment.mixing",
    "blend": "augment.mixing",
    "box_mask": "augment.mixing",
    "cutmix": "augment.mixing",
    "mixup": "augment.mixing",
    "sample_cutmix_boxes": "augment.mixing",
    "sample_mixup_lambda": "augment.mixing",
    "union_labels": "augment.mixing",
    "eval_pipeline": "augment.pipelines",
    "reseed": "augment.pipelines",
    "train_pipeline": "augment.pipelines",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'augment' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
