"""What a task owes the trainer. The trainer owns the loop; a task owns its model, data, losses and
metrics, so the loop has no ``if task == ...`` branch (DESIGN.md, "One trainer, many tasks").

CE (compound expressions) is one task; MTL's AU / EXPR / VA and their joint sets are others.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any, Protocol

import torch
from torch import nn


class Task(Protocol):
    #: name of the validation metric that selects the best epoch (a key of ``evaluate``'s result)
    metric: str
    #: whether a larger ``metric`` is better
    greater_is_better: bool

    def build_model(self) -> nn.Module:
        """The model to train, on CPU, weights loaded; the trainer moves and wraps it."""

    def num_epochs(self) -> int:
        """Total epochs of the run (over all curriculum stages)."""

    def train_loader(self, epoch: int, rank: int, world_size: int, skip: int = 0) -> Iterable[Any]:
        """This rank's batches of ``epoch`` (0-based), on CPU, the first ``skip`` samples left out
        (mid-epoch resume). Every rank must yield the same number of batches."""

    def batches_in_epoch(self, epoch: int, world_size: int) -> int:
        """How many batches ``train_loader(epoch, ...)`` yields on each rank (for the lr schedule)."""

    def val_loader(self) -> Iterable[Any] | None:
        """The validation batches, unsharded (the trainer shards them with accelerate)."""

    def training_step(self, model: nn.Module, batch: Any, generator: torch.Generator) -> dict[str, torch.Tensor]:
        """Forward and loss: ``{"loss": total, "<part>_loss": ...}``; ``generator`` seeds any on-device
        randomness (e.g. compound synthesis) so a run is reproducible."""

    def evaluate(self, model: nn.Module, loader: Iterable[Any], accelerator: Any) -> dict[str, Any]:
        """Validation metrics (scalars are logged; other values, e.g. a confusion matrix, go to the
        report). Use ``accelerator.gather_for_metrics`` so each sample counts once."""

    def epoch_info(self, epoch: int) -> dict[str, Any]:
        """What to log about the epoch besides losses and metrics (e.g. curriculum stage)."""

    def export(self, model: nn.Module, folder: Path) -> None:
        """Write the deployable model (weights + the metadata needed to rebuild it) into ``folder``."""

    def report(self, run_dir: Path, history: list[dict[str, Any]], last_eval: dict[str, Any]) -> None:
        """Write plots and tables of the finished run into ``run_dir / 'report'``."""
