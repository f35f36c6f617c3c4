"""An epoch-seeded shuffling sampler that shards itself across processes and resumes mid-epoch.

The plain counterpart of :class:`cer.compound.curriculum.CurriculumSampler`, with the same contract:

- the order of an epoch is a function of ``(seed, epoch)`` only, whatever ran before;
- every rank gets the same count, ``n // num_replicas``: the remainder of the epoch's permutation
  (fewer than ``num_replicas`` items, a different random few each epoch) is dropped, never padded,
  so no item is seen twice in an epoch;
- ``skip(k)`` leaves out the first ``k`` items of this rank's epoch, so a run resumed mid-epoch
  trains on exactly the rest of it;
- the sampler shards by itself: keep its ``DataLoader`` out of ``accelerator.prepare``.

Call ``set_epoch(epoch)`` at the start of every epoch, as with ``DistributedSampler``.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from torch.utils.data import Sampler


class ShuffleSampler(Sampler[int]):
    """Indices ``0..n-1`` in a per-epoch random order, this rank's share only.

    Args:
        n: number of items (e.g. training sequences).
        seed: non-negative seed; with the epoch it fixes the order.
        num_replicas: number of ranks sharing the epoch.
        rank: this process's rank, in ``0..num_replicas-1``.
    """

    def __init__(self, n: int, seed: int = 0, num_replicas: int = 1, rank: int = 0):
        super().__init__()
        if n < 0:
            raise ValueError(f"n must be >= 0, got {n}")
        if seed < 0:
            raise ValueError(f"seed must be >= 0, got {seed}")
        if num_replicas < 1 or not 0 <= rank < num_replicas:
            raise ValueError(f"need num_replicas >= 1 and 0 <= rank < num_replicas; got rank {rank} of {num_replicas}")
        self.n, self.seed, self.num_replicas, self.rank = int(n), int(seed), int(num_replicas), int(rank)
        self.epoch = 0
        self._start = 0

    def set_epoch(self, epoch: int) -> None:
        """Select the 0-based epoch; forgets any ``skip`` of the previous one."""
        if epoch < 0:
            raise ValueError(f"epoch must be >= 0, got {epoch}")
        self.epoch, self._start = int(epoch), 0

    def skip(self, k: int) -> None:
        """Leave out the first ``k`` items of this rank's current epoch (mid-epoch resume)."""
        if not 0 <= k <= self.epoch_length():
            raise ValueError(f"cannot skip {k} items of epoch {self.epoch}: this rank has {self.epoch_length()}")
        self._start = int(k)

    def epoch_length(self) -> int:
        """This rank's full item count in an epoch (the same on every rank and in every epoch)."""
        return self.n // self.num_replicas

    def indices(self) -> np.ndarray:
        """This rank's whole epoch, before any skip."""
        # A fixed-length key: SeedSequence pads short keys with zeros, so lengths must not vary.
        order = np.random.default_rng([self.seed, self.epoch]).permutation(self.n)
        kept = order[: self.epoch_length() * self.num_replicas]
        return kept[self.rank :: self.num_replicas]

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices()[self._start :].tolist())

    def __len__(self) -> int:
        """What ``__iter__`` yields: the epoch less the skipped items."""
        return self.epoch_length() - self._start
