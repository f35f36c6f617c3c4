"""What a task owes the trainer. The trainer owns the loop; a task owns its model, data, losses and
metrics, so the loop has no ``if task == ...`` branch (DESIGN.md, "One trainer, many tasks").

CE (compound expressions), MAE pretraining and MTL's AU / EXPR / VA and their joint sets are tasks.
A task hands over data, not loaders: the trainer builds one DataLoader per run from
:class:`TrainData` (workers, pinning, persistence are its business) and drives the sampler's
epochs and resume (:mod:`cer.epoch_sampler`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from cer.epoch_sampler import EpochAware, EpochSampler, EpochTagged


@dataclass
class TrainData:
    """One rank's training data: ``sampler`` picks the items of each epoch, ``dataset[item]`` makes
    a sample (a dataset with ``set_epoch`` is told the epoch of every item), ``collate_fn`` a batch."""

    dataset: Dataset
    sampler: EpochSampler
    batch_size: int                # items per batch on this rank
    collate_fn: Callable | None = None


@dataclass
class EvalData:
    """The validation set, unsharded (the trainer shards its loader with accelerate)."""

    dataset: Dataset
    batch_size: int
    collate_fn: Callable | None = None


class Task(Protocol):
    #: name of the validation metric that selects the best epoch (a key of ``evaluate``'s result)
    metric: str
    #: whether a larger ``metric`` is better
    greater_is_better: bool

    def build_model(self) -> nn.Module:
        """The model to train, on CPU, weights loaded; the trainer moves and wraps it."""

    def num_epochs(self) -> int:
        """Total epochs of the run (over all curriculum stages)."""

    def train_data(self, rank: int, world_size: int) -> TrainData:
        """This rank's training data; its sampler must give every rank the same count."""

    def val_data(self) -> EvalData | dict[str, EvalData] | None:
        """The validation set, several named ones (e.g. CE's compound and basic faces), or None."""

    def training_step(self, model: nn.Module, batch: Any, generator: torch.Generator) -> dict[str, torch.Tensor]:
        """Forward and loss: ``{"loss": total, "<part>_loss": ...}``; ``generator`` seeds any on-device
        randomness (e.g. compound synthesis) so a run is reproducible."""

    def evaluate(self, model: nn.Module, loader: Iterable[Any] | dict[str, Iterable[Any]],
                 accelerator: Any) -> dict[str, Any]:
        """Validation metrics over the loader of ``val_data`` (a dict of loaders by the same names if
        it gave several). Scalars are logged; other values, e.g. a confusion matrix, go to the
        report. Use ``accelerator.gather_for_metrics`` so each sample counts once."""

    def epoch_info(self, epoch: int) -> dict[str, Any]:
        """What to log about the epoch besides losses and metrics (e.g. curriculum stage)."""

    def export(self, model: nn.Module, folder: Path) -> None:
        """Write the deployable model (``cer.models.trained.save_trained``) into ``folder``."""

    def report(self, run_dir: Path, history: list[dict[str, Any]], last_eval: dict[str, Any]) -> None:
        """Write plots and tables of the finished run into ``run_dir / 'report'``."""


def data_loader(data: TrainData | EvalData, workers: int = 0) -> DataLoader:
    """The one DataLoader of ``data`` for a whole run (workers, if any, persist between epochs).

    For :class:`TrainData` the sampler's epoch travels with every index (``EpochTagged``), so the
    dataset learns it in whatever worker loads the item (``EpochAware``); call
    ``data.sampler.set_epoch(epoch)`` before iterating each epoch.
    """
    dataset, sampler = data.dataset, None
    if isinstance(data, TrainData):
        dataset, sampler = EpochAware(data.dataset), EpochTagged(data.sampler)
    return DataLoader(dataset, batch_size=data.batch_size, sampler=sampler, shuffle=False, collate_fn=data.collate_fn,
                      num_workers=workers, persistent_workers=workers > 0, pin_memory=torch.cuda.is_available())
