"""An epoch-seeded shuffling sampler that shards itself across processes and resumes mid-epoch.

The plain counterpart of :class:`cer.compound.curriculum.CurriculumSampler`, with the same contract
(:class:`cer.epoch_sampler.EpochSampler`): every rank gets ``n // num_replicas`` items; the
remainder of the epoch's permutation (fewer than ``num_replicas`` items, a different random few
each epoch) is dropped, never padded, so no item is seen twice in an epoch.
"""

from __future__ import annotations

import numpy as np

from cer.epoch_sampler import EpochSampler


class ShuffleSampler(EpochSampler):
    """Indices ``0..n-1`` in a per-epoch random order, this rank's share only.

    Args:
        n: number of items (e.g. training sequences).
        seed: non-negative seed; with the epoch it fixes the order.
        num_replicas: number of ranks sharing the epoch.
        rank: this process's rank, in ``0..num_replicas-1``.
    """

    def __init__(self, n: int, seed: int = 0, num_replicas: int = 1, rank: int = 0):
        super().__init__(num_replicas, rank)
        if n < 0:
            raise ValueError(f"n must be >= 0, got {n}")
        if seed < 0:
            raise ValueError(f"seed must be >= 0, got {seed}")
        self.n, self.seed = int(n), int(seed)

    def epoch_length(self, epoch: int | None = None) -> int:
        """This rank's full item count in an epoch (the same on every rank and in every epoch)."""
        return self.n // self.num_replicas

    def epoch_items(self, epoch: int) -> list[int]:
        # A fixed-length key: SeedSequence pads short keys with zeros, so lengths must not vary.
        order = np.random.default_rng([self.seed, epoch]).permutation(self.n)
        kept = order[: self.epoch_length() * self.num_replicas]
        return kept[self.rank :: self.num_replicas].tolist()
