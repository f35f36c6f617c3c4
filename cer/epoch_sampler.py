"""The sampler contract between a task and the trainer: epochs of indices, sharded, resumable.

A task hands the trainer a dataset and an :class:`EpochSampler` (``cer.task.TrainData``); the
trainer builds one DataLoader for the whole run and, before each epoch, calls ``set_epoch``. The
sampler must:

- make the order of an epoch a function of ``(seed, epoch)`` only, whatever ran before;
- shard by itself (``num_replicas``, ``rank``) and give every rank the same count, so its
  DataLoader stays out of ``accelerator.prepare``;
- resume mid-epoch: its state is ``{"epoch": e, "start": k}``, meaning "the items of epoch ``e``
  from this rank's ``k``-th on". The trainer knows how many batches were trained (a DataLoader
  with workers draws indices ahead of the step that trains on them, so the sampler cannot), and
  resumes with ``load_state_dict({"epoch": e, "start": batches_done * batch_size})``.

Subclasses give :meth:`epoch_items` and :meth:`epoch_length`; this class does the rest.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from torch.utils.data import Dataset, Sampler


class EpochSampler(Sampler):
    """This rank's items of the current epoch, from a resumable start."""

    def __init__(self, num_replicas: int = 1, rank: int = 0):
        super().__init__()
        if num_replicas < 1 or not 0 <= rank < num_replicas:
            raise ValueError(f"need num_replicas >= 1 and 0 <= rank < num_replicas; got rank {rank} of {num_replicas}")
        self.num_replicas, self.rank = int(num_replicas), int(rank)
        self.epoch, self.start = 0, 0

    def epoch_items(self, epoch: int) -> Sequence[Any]:
        """This rank's whole ``epoch``, in the order it is yielded."""
        raise NotImplementedError

    def epoch_length(self, epoch: int | None = None) -> int:
        """This rank's item count in ``epoch`` (default: the current one); the same on every rank."""
        raise NotImplementedError

    def check_epoch(self, epoch: int) -> None:
        """Raise ValueError if ``epoch`` is not one this sampler can draw."""
        if epoch < 0:
            raise ValueError(f"epoch must be >= 0, got {epoch}")

    def set_epoch(self, epoch: int) -> None:
        """Select the 0-based epoch, from its first item."""
        self.check_epoch(epoch)
        self.epoch, self.start = int(epoch), 0

    def state_dict(self) -> dict[str, int]:
        return {"epoch": self.epoch, "start": self.start}

    def load_state_dict(self, state: Mapping[str, int]) -> None:
        """Resume: the next iteration yields the items of ``state['epoch']`` from ``state['start']`` on."""
        epoch, start = int(state["epoch"]), int(state["start"])
        self.check_epoch(epoch)
        if not 0 <= start <= self.epoch_length(epoch):
            raise ValueError(f"cannot start epoch {epoch} at item {start}: this rank has {self.epoch_length(epoch)}")
        self.epoch, self.start = epoch, start

    def __iter__(self) -> Iterator[Any]:
        return iter(self.epoch_items(self.epoch)[self.start:])

    def __len__(self) -> int:
        """What ``__iter__`` yields: the epoch less the items before ``start``."""
        return self.epoch_length() - self.start


class EpochTagged(Sampler):
    """Yields ``(epoch, item)`` for each item of ``sampler``: the epoch travels with the index, so a
    dataset in a persistent DataLoader worker (a copy made when the loader started) still knows
    which epoch it serves (see :class:`EpochAware`)."""

    def __init__(self, sampler: EpochSampler):
        super().__init__()
        self.sampler = sampler

    def __iter__(self) -> Iterator[tuple[int, Any]]:
        epoch = self.sampler.epoch
        return ((epoch, item) for item in self.sampler)

    def __len__(self) -> int:
        return len(self.sampler)


class EpochAware(Dataset):
    """``dataset[(epoch, item)]`` -> ``dataset[item]`` after ``dataset.set_epoch(epoch)`` (if it has
    one, e.g. to seed per-epoch augmentation), in whatever process the item is loaded."""

    def __init__(self, dataset: Dataset):
        self.dataset = dataset
        self._set_epoch = getattr(dataset, "set_epoch", None)

    def __getitem__(self, tagged: tuple[int, Any]) -> Any:
        epoch, item = tagged
        if self._set_epoch is not None:
            self._set_epoch(epoch)
        return self.dataset[item]

    def __len__(self) -> int:
        return len(self.dataset)
