"""Curriculum sampling for compound expression (CE) training: from single faces to compounds.

Paper 002 (sec. 3.3, Table 6) trains CE in stages: stage 1 on single-expression faces only, then
stages that mix in compound samples with a growing proportion (best: epochs ``[5, 5, 3, 3]``,
proportions ``[0, 0.2, 0.4, 1]``). A compound sample is either REAL (a face labelled with a
compound class) or SYNTHESISED from two single-expression faces whose expressions form an allowed
compound of the target constraint set, by Mixup (Zhang et al. 2018) or CutMix (Yun et al. 2019);
Table 4 finds both operations together best.

The sampler only decides *what* each sample is: it yields :class:`Recipe` items, which travel
through a ``DataLoader`` to the dataset's ``__getitem__`` (``dataset[recipe]``); the images are
blended later, batched on the device, by the augmentation module.

The paper leaves "compound proportion" open to two readings; both are here (``mode``):

- ``"mix"`` (default): the proportion is the fraction of compound samples in the epoch. An epoch
  has ``epoch_size`` samples (default: the single pool's size), of which ``p * epoch_size``
  (rounded half up) are compound recipes. Singles come without replacement from a per-epoch permutation of the
  single pool, real compounds likewise from the compound pool; a pool is cycled (fresh
  permutation) only when the epoch needs more than it holds.
- ``"pool"`` (the official code of 002): the proportion is the fraction of the compound pool added
  to the single set. An epoch is the whole single pool plus the first ``ceil(p * C)`` items of ONE
  shuffle of the compound pool, fixed by the seed for the whole run, so each stage's compound set
  contains the previous stage's (nested prefixes). With ``synthetic > 0`` that share of those
  items is replaced by synthesised pairs (the real ones stay the prefix). With no real compound
  pool, ``C`` is the single pool's size. The epoch's length changes with the stage.

In both modes ``synthetic`` of the compound recipes (rounded half up) are synthesised pairs, split
as evenly as possible over ``ops`` (the first ops in the given order take the remainder). A pair
is an allowed pair chosen uniformly, then one single-pool face of each of its two expressions
(each expression's faces are used in a per-epoch permutation, so none repeats before all have
been used), in random order (the first face gives the upper half of a half-split CutMix).

Everything is a function of ``(seed, epoch)``: the same inputs give the same sequence, whatever
was consumed before, and another epoch gives another order.

Sharding: the whole epoch is drawn identically on every rank; then each category (single, real,
mixup, cutmix) is split across ranks on its own, rank ``r`` taking items ``r, r + R, ...``, and
each rank shuffles its share. Every rank thus gets the same count of each category, so each keeps
the stage's proportion, and no two ranks get the same single as a SINGLE recipe unless the pool
had to be cycled. The remainder of each category (fewer than ``num_replicas`` items, at random
since the categories are shuffled) is DROPPED, never padded, so that padding cannot repeat faces.
With accelerate, give the sampler ``num_replicas=accelerator.num_processes`` and
``rank=accelerator.process_index`` and keep its ``DataLoader`` out of ``accelerator.prepare``,
which would shard the already sharded batches again (``BatchSamplerShard``).

Resuming and sharding follow :class:`cer.epoch_sampler.EpochSampler`: state ``{"epoch", "start"}``,
and ``set_epoch(epoch)`` at the start of every epoch, as with ``DistributedSampler``.
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, NamedTuple

import numpy as np

from augment.mixing import CUTMIX, MIXUP
from cer.epoch_sampler import EpochSampler
from cer.taxonomy import CE_BASIC

# Recipe operations. MIXUP and CUTMIX are the synthesis operations of Table 4 of paper 002, whose
# codes the batched synthesis defines (augment.mixing); a recipe adds SINGLE and REAL.
SINGLE, REAL = 0, 3
OP_NAMES: dict[int, str] = {SINGLE: "single", REAL: "real", MIXUP: "mixup", CUTMIX: "cutmix"}
SYNTHESIS_OPS: tuple[int, ...] = (MIXUP, CUTMIX)

# Independent random streams, so that changing one count never reshuffles another category.
_SINGLES, _REALS, _PAIRS, _RANK_ORDER, _POOL_PREFIX = range(5)


class Recipe(NamedTuple):
    """One sample of an epoch: what the dataset's ``__getitem__`` should build.

    Attributes:
        op: ``SINGLE``, ``REAL``, ``MIXUP`` or ``CUTMIX``.
        a: index into the single pool (SINGLE, MIXUP, CUTMIX) or the compound pool (REAL).
        b: the second single-pool index of a MIXUP/CUTMIX pair; -1 otherwise.
    """

    op: int
    a: int
    b: int = -1


@dataclass(frozen=True)
class CurriculumSchedule:
    """Stages of a curriculum: how many epochs each lasts and its compound proportion.

    Attributes:
        epochs: epochs per stage, each > 0 (paper 002: ``(5, 5, 3, 3)``).
        compound: compound proportion per stage, in [0, 1] (paper 002: ``(0, 0.2, 0.4, 1)``).
        mode: ``"mix"`` (fraction of the epoch) or ``"pool"`` (fraction of the compound pool
            added to the singles, as the official code did); see the module docstring.
    """

    epochs: tuple[int, ...]
    compound: tuple[float, ...]
    mode: Literal["mix", "pool"] = "mix"

    def __post_init__(self) -> None:
        if isinstance(self.epochs, (int, str)) or isinstance(self.compound, (int, float, str)):
            raise ValueError(
                "curriculum: 'epochs' and 'compound' must be lists with one entry per stage, "
                "e.g. epochs [5, 5, 3, 3] and compound [0, 0.2, 0.4, 1]"
            )
        epochs, compound = tuple(self.epochs), tuple(self.compound)
        if not epochs:
            raise ValueError("curriculum: no stages; give at least one entry in 'epochs'")
        if len(epochs) != len(compound):
            raise ValueError(
                f"curriculum: {len(epochs)} stages in 'epochs' {list(epochs)} but {len(compound)} "
                f"proportions in 'compound' {list(compound)}; give one proportion per stage"
            )
        for stage, n in enumerate(epochs, 1):
            if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n <= 0:
                raise ValueError(
                    f"curriculum: stage {stage} has {n!r} epochs; use a whole number >= 1"
                )
        for stage, p in enumerate(compound, 1):
            if isinstance(p, bool) or not isinstance(p, (int, float, np.number)) or not 0 <= p <= 1:
                raise ValueError(
                    f"curriculum: stage {stage} has compound proportion {p!r}; "
                    "use a number in [0, 1]"
                )
        if self.mode not in ("mix", "pool"):
            raise ValueError(f"curriculum: mode {self.mode!r} is unknown; use 'mix' or 'pool'")
        object.__setattr__(self, "epochs", tuple(int(n) for n in epochs))
        object.__setattr__(self, "compound", tuple(float(p) for p in compound))

    @property
    def total_epochs(self) -> int:
        return sum(self.epochs)

    def stage_of(self, epoch: int) -> int:
        """0-based stage of the 0-based global ``epoch``."""
        if not 0 <= epoch < self.total_epochs:
            raise ValueError(
                f"epoch {epoch} is outside the curriculum's {self.total_epochs} epochs "
                f"(0..{self.total_epochs - 1}); lengthen 'epochs' to train longer"
            )
        return bisect.bisect_right(list(itertools.accumulate(self.epochs)), epoch)

    def fraction(self, epoch: int) -> float:
        """Compound proportion of the 0-based global ``epoch``."""
        return self.compound[self.stage_of(epoch)]


# Paper 002, Table 6, best row.
PAPER_SCHEDULE = CurriculumSchedule(epochs=(5, 5, 3, 3), compound=(0.0, 0.2, 0.4, 1.0))


def _round_half_up(x: float) -> int:
    # Python's round() rounds halves to even (round(2.5) == 2), which surprises in a config;
    # rounding to 9 places first keeps 0.15 * 10 (1.4999999999999998) a half.
    return math.floor(round(x, 9) + 0.5)


def _ceil(x: float) -> int:
    # 0.07 * 100 is 7.000000000000001 in floating point: ceil must not turn it into 8.
    return math.ceil(round(x, 9))


def _cycled_permutation(rng: np.random.Generator, pool: np.ndarray, n: int) -> np.ndarray:
    """``n`` items of ``pool`` in random order; a fresh permutation starts whenever it runs out."""
    if n == 0:
        return pool[:0]
    rounds = -(-n // len(pool))
    return np.concatenate([pool[rng.permutation(len(pool))] for _ in range(rounds)])[:n]


class CurriculumSampler(EpochSampler):
    """Yields this rank's :class:`Recipe` items for the current epoch of a curriculum.

    Args:
        single_labels: CE basic index (0..5, ``cer.taxonomy.CE_BASIC``) of each single-pool face.
        compound_pool_size: number of real compound faces (0 = none).
        schedule: the stages; ``schedule.mode`` picks the reading of the proportion.
        allowed_pairs: pairs of CE basic indices that may be synthesised, e.g.
            ``constraint_set("c-expr").allowed_pairs()``. Pairs with an expression absent from the
            single pool are skipped (listed in ``skipped_pairs``).
        synthetic: share of the compound recipes that are synthesised pairs, the rest real. Forced
            to 1 when the compound pool is empty, to 0 when there are no allowed pairs.
        ops: synthesis operations to use (``MIXUP``, ``CUTMIX`` or both).
        epoch_size: samples per epoch in "mix" mode (default: the single pool's size); "pool"
            mode's epoch size follows from the pools, so it rejects this argument.
        seed: non-negative seed; with the epoch it fixes every draw.
        num_replicas: number of ranks sharing the epoch.
        rank: this process's rank, in ``0..num_replicas-1``.
    """

    def __init__(
        self,
        single_labels: Sequence[int],
        compound_pool_size: int,
        schedule: CurriculumSchedule,
        allowed_pairs: Sequence[tuple[int, int]],
        *,
        synthetic: float = 1.0,
        ops: Sequence[int] = SYNTHESIS_OPS,
        epoch_size: int | None = None,
        seed: int = 0,
        num_replicas: int = 1,
        rank: int = 0,
    ) -> None:
        super().__init__(num_replicas, rank)
        labels = np.asarray(single_labels)
        if labels.ndim != 1 or labels.size == 0:
            raise ValueError("single_labels must be a non-empty list with one CE index per face")
        if not np.issubdtype(labels.dtype, np.integer):
            raise ValueError(
                f"single_labels must be integers (CE basic indices), got {labels.dtype}"
            )
        bad = np.flatnonzero((labels < 0) | (labels >= len(CE_BASIC)))
        if bad.size:
            raise ValueError(
                f"single_labels[{bad[0]}] = {labels[bad[0]]} is not a CE basic index "
                f"(0..{len(CE_BASIC) - 1}: {', '.join(CE_BASIC.classes)})"
            )
        if compound_pool_size < 0:
            raise ValueError(f"compound_pool_size must be >= 0, got {compound_pool_size}")
        if not 0 <= synthetic <= 1:
            raise ValueError(f"synthetic must be in [0, 1], got {synthetic}")
        ops = tuple(int(op) for op in ops)
        if not ops or len(set(ops)) != len(ops) or not set(ops) <= set(SYNTHESIS_OPS):
            raise ValueError(
                f"ops must be distinct values among MIXUP={MIXUP}, CUTMIX={CUTMIX}; got {ops}"
            )
        if schedule.mode == "pool" and epoch_size is not None:
            raise ValueError(
                "epoch_size applies to mode 'mix' only: a 'pool' epoch is the pools themselves"
            )
        epoch_size = len(labels) if epoch_size is None else epoch_size
        if epoch_size <= 0:
            raise ValueError(f"epoch_size must be >= 1, got {epoch_size}")
        if seed < 0:
            raise ValueError(f"seed must be >= 0, got {seed}")
        pairs: list[tuple[int, int]] = []
        for pair in allowed_pairs:
            lo, hi = sorted(int(e) for e in pair) if len(pair) == 2 else (0, 0)
            if lo == hi or lo < 0 or hi >= len(CE_BASIC):
                raise ValueError(
                    f"allowed pair {tuple(pair)} must be two different CE basic indices "
                    f"(0..{len(CE_BASIC) - 1})"
                )
            if (lo, hi) not in pairs:
                pairs.append((lo, hi))
        present = set(np.unique(labels).tolist())
        self.pairs = [p for p in pairs if set(p) <= present]
        self.skipped_pairs = [p for p in pairs if not set(p) <= present]

        if compound_pool_size == 0:
            synthetic = 1.0 if pairs else 0.0
        elif not pairs:
            synthetic = 0.0
        if any(p > 0 for p in schedule.compound):
            if compound_pool_size == 0 and not pairs:
                raise ValueError(
                    "the curriculum asks for compound samples but there is neither a compound pool "
                    "nor an allowed pair to synthesise: give one, or set every proportion to 0"
                )
            if synthetic > 0 and not self.pairs:
                missing = sorted({e for p in self.skipped_pairs for e in p} - present)
                raise ValueError(
                    "no allowed pair can be synthesised: the single pool has no face of "
                    f"{', '.join(CE_BASIC.classes[e] for e in missing)}; add such faces, allow "
                    "other pairs, or use real compounds only (synthetic=0)"
                )

        self.schedule = schedule
        self.mode = schedule.mode
        self.single_labels = labels.astype(np.int64)
        self.compound_pool_size = int(compound_pool_size)
        self.synthetic = float(synthetic)
        self.ops = ops
        self.epoch_size = int(epoch_size)
        self.seed = int(seed)
        self._by_expression = {e: np.flatnonzero(labels == e) for e in sorted(present)}

    # --- counts ---------------------------------------------------------------------------------

    def global_counts(self, epoch: int) -> dict[str, int]:
        """Items of each category in the whole (unsharded) epoch."""
        p = self.schedule.fraction(epoch)
        if self.mode == "mix":
            n_compound = _round_half_up(p * self.epoch_size)
            n_single = self.epoch_size - n_compound
        else:
            n_single = len(self.single_labels)
            n_compound = _ceil(p * (self.compound_pool_size or n_single))
        n_synth = _round_half_up(self.synthetic * n_compound)
        counts = {"single": n_single, "real": n_compound - n_synth, "mixup": 0, "cutmix": 0}
        for i, op in enumerate(self.ops):
            counts[OP_NAMES[op]] = n_synth // len(self.ops) + (i < n_synth % len(self.ops))
        return counts

    def stage_summary(self, epoch: int | None = None) -> dict[str, int]:
        """This rank's recipes per operation in ``epoch`` (default: the current one), for logging.

        The values sum to ``epoch_length(epoch)``.
        """
        epoch = self.epoch if epoch is None else epoch
        return {k: n // self.num_replicas for k, n in self.global_counts(epoch).items()}

    def epoch_length(self, epoch: int | None = None) -> int:
        """This rank's full item count in ``epoch`` (default: the current one).

        In "pool" mode it changes with the stage: sum it over epochs for a learning-rate schedule.
        """
        return sum(self.stage_summary(epoch).values())

    # --- drawing --------------------------------------------------------------------------------

    def _rng(self, stream: int, epoch: int = 0, rank: int = 0) -> np.random.Generator:
        # A fixed-length key: SeedSequence pads short keys with zeros, so lengths must not vary.
        return np.random.default_rng([self.seed, stream, epoch, rank])

    def _draw_reals(self, epoch: int, n: int) -> np.ndarray:
        pool = np.arange(self.compound_pool_size)
        rng = self._rng(_REALS, epoch)
        if self.mode == "mix":
            return _cycled_permutation(rng, pool, n)
        prefix = self._rng(_POOL_PREFIX).permutation(pool)[:n]  # one shuffle for the whole run
        return prefix[rng.permutation(n)]

    def _draw_pairs(self, epoch: int, n: int) -> np.ndarray:
        """``[n, 2]`` single-pool indices; the two faces' expressions form an allowed pair."""
        rng = self._rng(_PAIRS, epoch)
        allowed = np.asarray(self.pairs, dtype=np.int64).reshape(-1, 2)
        exprs = allowed[rng.integers(len(allowed), size=n)] if n else allowed[:0]
        flat_exprs = exprs.ravel()
        faces = np.empty_like(flat_exprs)
        for e in np.unique(flat_exprs):
            slots = flat_exprs == e
            faces[slots] = _cycled_permutation(rng, self._by_expression[int(e)], int(slots.sum()))
        faces = faces.reshape(-1, 2)
        swap = rng.random(n) < 0.5
        faces[swap] = faces[swap, ::-1]
        return faces

    def _rank_recipes(self, epoch: int) -> np.ndarray:
        """This rank's ``[n, 3]`` (op, a, b) rows of ``epoch``, in the order they are yielded."""
        counts = self.global_counts(epoch)
        singles = _cycled_permutation(
            self._rng(_SINGLES, epoch), np.arange(len(self.single_labels)), counts["single"]
        )
        reals = self._draw_reals(epoch, counts["real"])
        pairs = self._draw_pairs(epoch, sum(counts[OP_NAMES[op]] for op in self.ops))
        categories = [
            (SINGLE, np.column_stack([singles, np.full(len(singles), -1)])),
            (REAL, np.column_stack([reals, np.full(len(reals), -1)])),
        ]
        offset = 0
        for op in self.ops:
            n = counts[OP_NAMES[op]]
            categories.append((op, pairs[offset : offset + n]))
            offset += n
        shares = []
        for op, rows in categories:
            # Each category is split on its own so that every rank keeps the stage's proportion.
            end = len(rows) // self.num_replicas * self.num_replicas  # drop the remainder
            kept = rows[self.rank : end : self.num_replicas]
            shares.append(np.column_stack([np.full(len(kept), op), kept]))
        share = np.concatenate(shares).astype(np.int64)
        return share[self._rng(_RANK_ORDER, epoch, self.rank).permutation(len(share))]

    # --- EpochSampler protocol -----------------------------------------------------------------

    def check_epoch(self, epoch: int) -> None:
        self.schedule.stage_of(epoch)  # raises outside the curriculum

    def epoch_items(self, epoch: int) -> list[Recipe]:
        return list(map(Recipe._make, self._rank_recipes(epoch).tolist()))
