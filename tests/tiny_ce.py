"""The tiny CE training config the tests share: the tiny synthetic RAF-DB layout, a 32 px model."""

from __future__ import annotations

from pathlib import Path


def tiny_ce_config(raf: Path, epochs: list[int], compound: list[float]) -> dict:
    """A config dict for ``cer.train`` on the RAF-DB layout at ``raf`` with this curriculum."""
    return {
        "data": {
            "single": [{"reader": "raf-db-basic", "path": str(raf), "options": {"split": "train"}}],
            "compound": [{"reader": "raf-db-compound", "path": str(raf), "options": {"split": "train"}}],
            "val": {"reader": "raf-db-compound", "path": str(raf), "options": {"split": "test"}},
        },
        "curriculum": {"epochs": epochs, "compound": compound},
        "model": {"img_size": 32, "drop_path": 0.0, "checkpoint": None},  # random weights: no MAE in tests
        "optim": {"batch_size": 16, "warmup_epochs": 0.5},
        "train": {"progress": False},
    }
