"""Training checkpoints: accelerate's state (model, optimiser, RNG) plus our own progress record.

accelerate's ``save_state`` stores neither epoch nor step, so each checkpoint folder also holds
``progress.json`` (written last: a folder without it is incomplete and never resumed from). Folders
are written under a temporary name and renamed, so a run killed while saving leaves no half
checkpoint behind.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

PROGRESS = "progress.json"


@dataclass
class Progress:
    epoch: int = 0                 # the epoch to run next (or the one in progress)
    batches_done: int = 0          # batches of `epoch` already trained (mid-epoch)
    global_step: int = 0           # optimiser steps so far
    best_metric: float | None = None
    best_epoch: int | None = None
    config: dict[str, Any] = field(default_factory=dict)  # the resolved config of the run


def checkpoint_name(progress: Progress) -> str:
    return f"epoch{progress.epoch:04d}_batch{progress.batches_done:08d}"


def save_checkpoint(accelerator: Any, folder: Path, progress: Progress, keep: int) -> Path:
    """Save into ``folder / name`` atomically; keep the newest ``keep`` complete checkpoints."""
    final = folder / checkpoint_name(progress)
    tmp = folder / (final.name + ".tmp")
    if accelerator.is_main_process:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
    accelerator.wait_for_everyone()
    accelerator.save_state(str(tmp))
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        (tmp / PROGRESS).write_text(json.dumps(asdict(progress), indent=1))
        shutil.rmtree(final, ignore_errors=True)
        tmp.rename(final)
        for old in complete_checkpoints(folder)[:-keep]:
            shutil.rmtree(old, ignore_errors=True)
    accelerator.wait_for_everyone()
    return final


def complete_checkpoints(folder: Path) -> list[Path]:
    """Complete checkpoint folders, oldest first (names sort by epoch, then batch)."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_dir() and (p / PROGRESS).is_file())


def read_progress(checkpoint: Path) -> Progress:
    return Progress(**json.loads((checkpoint / PROGRESS).read_text()))
