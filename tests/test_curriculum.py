"""The curriculum sampler: proportions in both modes, synthesis, determinism, sharding, resume."""

from __future__ import annotations

import pickle
from collections import Counter

import numpy as np
import pytest
from torch.utils.data import DataLoader

from cer.compound.curriculum import (
    CUTMIX,
    MIXUP,
    PAPER_SCHEDULE,
    REAL,
    SINGLE,
    CurriculumSampler,
    CurriculumSchedule,
    Recipe,
)
from cer.taxonomy import CE_BASIC, constraint_set

C_EXPR_PAIRS = constraint_set("c-expr").allowed_pairs()
FEAR = CE_BASIC.index("fear")
SURPRISE = CE_BASIC.index("surprise")
HAPPINESS = CE_BASIC.index("happiness")


def _labels(n: int = 120, seed: int = 0) -> np.ndarray:
    """A single pool with every CE basic expression present."""
    labels = np.random.default_rng(seed).integers(0, len(CE_BASIC), size=n)
    labels[: len(CE_BASIC)] = np.arange(len(CE_BASIC))
    return labels


def _by_op(recipes: list[Recipe]) -> dict[int, list[Recipe]]:
    out: dict[int, list[Recipe]] = {SINGLE: [], REAL: [], MIXUP: [], CUTMIX: []}
    for r in recipes:
        out[r.op].append(r)
    return out


def _epoch(sampler: CurriculumSampler, epoch: int) -> list[Recipe]:
    sampler.set_epoch(epoch)
    return list(sampler)


# --- schedule ----------------------------------------------------------------------------------


def test_stage_of_and_fraction_across_stage_boundaries():
    s = PAPER_SCHEDULE
    assert s.total_epochs == 16
    expected = {0: 0, 4: 0, 5: 1, 9: 1, 10: 2, 12: 2, 13: 3, 15: 3}
    assert {e: s.stage_of(e) for e in expected} == expected
    assert [s.fraction(e) for e in (4, 5, 10, 15)] == [0.0, 0.2, 0.4, 1.0]
    for outside in (-1, 16):
        with pytest.raises(ValueError, match="outside the curriculum's 16 epochs"):
            s.stage_of(outside)


@pytest.mark.parametrize(
    "epochs, compound, mode, message",
    [
        ((5, 5), (0.0,), "mix", "2 stages in 'epochs'"),
        ((), (), "mix", "no stages"),
        ((5, 0), (0.0, 1.0), "mix", "stage 2 has 0 epochs"),
        ((5, True), (0.0, 1.0), "mix", "stage 2 has True epochs"),
        ((5, 5), (0.0, 1.5), "mix", r"stage 2 has compound proportion 1.5"),
        ((5, 5), (-0.1, 1.0), "mix", r"stage 1 has compound proportion -0.1"),
        ((5, 5), (0.0, 1.0), "fraction", "mode 'fraction' is unknown"),
        (5, (0.0,), "mix", "one entry per stage"),
    ],
)
def test_schedule_validation_says_what_is_wrong(epochs, compound, mode, message):
    with pytest.raises(ValueError, match=message):
        CurriculumSchedule(epochs, compound, mode)


# --- proportions -------------------------------------------------------------------------------


def test_mix_mode_counts_per_stage_are_exact():
    sampler = CurriculumSampler(
        _labels(), 40, PAPER_SCHEDULE, C_EXPR_PAIRS, synthetic=0.5, epoch_size=50
    )
    # (epoch, p): compound = round(p * 50); half synthesised; mixup takes the odd one.
    expected = {
        0: {"single": 50, "real": 0, "mixup": 0, "cutmix": 0},
        5: {"single": 40, "real": 5, "mixup": 3, "cutmix": 2},
        10: {"single": 30, "real": 10, "mixup": 5, "cutmix": 5},
        15: {"single": 0, "real": 25, "mixup": 13, "cutmix": 12},
    }
    for epoch, counts in expected.items():
        recipes = _epoch(sampler, epoch)
        by_op = _by_op(recipes)
        seen = {name: len(by_op[op]) for name, op in
                (("single", SINGLE), ("real", REAL), ("mixup", MIXUP), ("cutmix", CUTMIX))}
        assert seen == counts == sampler.stage_summary(epoch)
        assert len(sampler) == len(recipes) == 50


def test_mix_mode_rounds_halves_up():
    schedule = CurriculumSchedule((1, 1), (0.5, 0.1))
    sampler = CurriculumSampler(_labels(), 10, schedule, [], epoch_size=5)
    assert sampler.stage_summary(0)["real"] == 3  # 2.5 -> 3 (Python's round() would give 2)
    assert sampler.stage_summary(1)["real"] == 1  # 0.5 -> 1


def test_mix_mode_draws_without_repeats_when_the_pools_suffice():
    sampler = CurriculumSampler(_labels(), 40, PAPER_SCHEDULE, [], epoch_size=100)
    by_op = _by_op(_epoch(sampler, 10))  # 60 singles of 120, 40 reals of 40
    assert len({r.a for r in by_op[SINGLE]}) == 60
    assert sorted(r.a for r in by_op[REAL]) == list(range(40))
    cycled = _by_op(_epoch(CurriculumSampler(_labels(), 15, PAPER_SCHEDULE, []), 15))[REAL]
    assert Counter(Counter(r.a for r in cycled).values()) == {8: 15}  # 120 reals = 8 rounds of 15


def test_pool_mode_counts_and_nested_prefixes():
    schedule = CurriculumSchedule((2, 2, 2, 2), (0.0, 0.2, 0.7, 1.0), "pool")
    sampler = CurriculumSampler(_labels(), 10, schedule, C_EXPR_PAIRS, synthetic=0.0)
    real_sets = []
    for epoch in range(8):
        by_op = _by_op(_epoch(sampler, epoch))
        assert sorted(r.a for r in by_op[SINGLE]) == list(range(120))  # the whole single pool
        real_sets.append({r.a for r in by_op[REAL]})
    assert [len(s) for s in real_sets[::2]] == [0, 2, 7, 10]  # ceil(p * 10)
    assert real_sets[2] == real_sets[3] and real_sets[4] == real_sets[5]  # fixed, not per epoch
    assert real_sets[2] < real_sets[4] < real_sets[6]
    assert sampler.epoch_length(0) == 120 and sampler.epoch_length(7) == 130
    # 0.07 * 100 is 7.000000000000001 in floating point: still 7 items, not 8.
    tiny = CurriculumSchedule((1,), (0.07,), "pool")
    assert CurriculumSampler(_labels(), 100, tiny, [], synthetic=0).stage_summary(0)["real"] == 7


def test_pool_mode_replaces_a_share_by_synthesised_pairs_keeping_the_real_prefix():
    schedule = CurriculumSchedule((1, 1, 1), (0.4, 0.8, 1.0), "pool")
    sampler = CurriculumSampler(_labels(), 20, schedule, C_EXPR_PAIRS, synthetic=0.5)
    summaries = [sampler.stage_summary(e) for e in range(3)]
    assert summaries == [
        {"single": 120, "real": 4, "mixup": 2, "cutmix": 2},
        {"single": 120, "real": 8, "mixup": 4, "cutmix": 4},
        {"single": 120, "real": 10, "mixup": 5, "cutmix": 5},
    ]
    reals = [{r.a for r in _by_op(_epoch(sampler, e))[REAL]} for e in range(3)]
    assert reals[0] < reals[1] < reals[2]


def test_pool_mode_rejects_epoch_size():
    with pytest.raises(ValueError, match="epoch_size applies to mode 'mix' only"):
        CurriculumSampler(_labels(), 5, CurriculumSchedule((1,), (1.0,), "pool"), [], epoch_size=9)


# --- synthesis ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "ops, allowed_ops",
    [((MIXUP,), {MIXUP}), ((CUTMIX,), {CUTMIX}), ((MIXUP, CUTMIX), {MIXUP, CUTMIX})],
)
def test_synthesised_pairs_are_allowed_pairs_with_the_configured_ops(ops, allowed_ops):
    labels = _labels(600)
    sampler = CurriculumSampler(labels, 0, PAPER_SCHEDULE, C_EXPR_PAIRS, ops=ops)
    recipes = _epoch(sampler, 15)  # p = 1, empty compound pool: every recipe is a synthesised pair
    assert {r.op for r in recipes} == allowed_ops
    ordered = Counter((int(labels[r.a]), int(labels[r.b])) for r in recipes)
    assert {tuple(sorted(p)) for p in ordered} == set(C_EXPR_PAIRS)  # every pair used, none else
    assert any(a > b for a, b in ordered) and any(a < b for a, b in ordered)  # both orders occur
    # Each expression's faces are used in a permutation: no face repeats before all were used.
    for e in range(len(CE_BASIC)):
        faces = [f for r in recipes for f in (r.a, r.b) if labels[f] == e]
        n_faces = int((labels == e).sum())
        assert len(set(faces)) == min(len(faces), n_faces)


def test_missing_expression_skips_its_pairs():
    labels = np.array([SURPRISE, HAPPINESS] * 10)
    sampler = CurriculumSampler(labels, 0, PAPER_SCHEDULE, C_EXPR_PAIRS)
    pair = (min(SURPRISE, HAPPINESS), max(SURPRISE, HAPPINESS))
    assert sampler.pairs == [pair]  # the other six C-EXPR pairs need a missing expression
    assert len(sampler.skipped_pairs) == 6
    assert (min(FEAR, SURPRISE), max(FEAR, SURPRISE)) in sampler.skipped_pairs
    recipes = _epoch(sampler, 15)
    assert {frozenset((int(labels[r.a]), int(labels[r.b]))) for r in recipes} == {frozenset(pair)}


def test_no_usable_pair_names_the_missing_expressions():
    labels = np.array([HAPPINESS] * 10)
    with pytest.raises(ValueError, match="no face of surprise, fear, disgust, sadness, anger;"):
        CurriculumSampler(labels, 0, PAPER_SCHEDULE, C_EXPR_PAIRS)
    # Real compounds only: the missing expressions do not matter.
    assert CurriculumSampler(labels, 5, PAPER_SCHEDULE, C_EXPR_PAIRS, synthetic=0).synthetic == 0


def test_empty_compound_pool_synthesises_every_compound():
    sampler = CurriculumSampler(_labels(), 0, PAPER_SCHEDULE, C_EXPR_PAIRS, synthetic=0.3)
    assert sampler.synthetic == 1.0
    summary = sampler.stage_summary(10)
    assert summary["real"] == 0 and summary["mixup"] + summary["cutmix"] == 48  # 0.4 * 120
    # Pool mode with no real pool measures the proportion against the single pool.
    pool = CurriculumSampler(_labels(), 0, CurriculumSchedule((1,), (0.25,), "pool"), C_EXPR_PAIRS)
    assert pool.stage_summary(0) == {"single": 120, "real": 0, "mixup": 15, "cutmix": 15}
    with pytest.raises(ValueError, match="neither a compound pool nor an allowed pair"):
        CurriculumSampler(_labels(), 0, PAPER_SCHEDULE, [])
    # Stage 1 alone needs no compound source.
    assert len(CurriculumSampler(_labels(), 0, CurriculumSchedule((3,), (0.0,)), [])) == 120


def test_no_allowed_pairs_uses_real_compounds_only():
    sampler = CurriculumSampler(_labels(), 30, PAPER_SCHEDULE, [], synthetic=1.0)
    assert sampler.synthetic == 0.0
    assert {r.op for r in _epoch(sampler, 15)} == {REAL}


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"single_labels": [0, 6]}, r"single_labels\[1\] = 6 is not a CE basic index"),
        ({"single_labels": [0.5, 1.0]}, "must be integers"),
        ({"single_labels": []}, "non-empty"),
        ({"allowed_pairs": [(1, 1)]}, r"allowed pair \(1, 1\) must be two different"),
        ({"allowed_pairs": [(0, 1, 2)]}, "must be two different"),
        ({"ops": (MIXUP, MIXUP)}, "ops must be distinct"),
        ({"ops": (REAL,)}, "ops must be distinct"),
        ({"synthetic": 1.5}, r"synthetic must be in \[0, 1\]"),
        ({"rank": 2, "num_replicas": 2}, "got rank 2 of 2"),
    ],
)
def test_sampler_validation_says_what_is_wrong(kwargs, message):
    args = {"single_labels": _labels(), "compound_pool_size": 5, "schedule": PAPER_SCHEDULE,
            "allowed_pairs": C_EXPR_PAIRS, **kwargs}
    with pytest.raises(ValueError, match=message):
        CurriculumSampler(**args)


# --- determinism -------------------------------------------------------------------------------


def test_same_seed_and_epoch_give_the_same_sequence_whatever_came_before():
    def make(seed=0):
        return CurriculumSampler(_labels(), 30, PAPER_SCHEDULE, C_EXPR_PAIRS, seed=seed)
    warmed = make()
    for epoch in range(7):  # iterate earlier epochs first
        _epoch(warmed, epoch)
    assert _epoch(make(), 7) == _epoch(warmed, 7)
    assert _epoch(make(), 7) != _epoch(make(), 8)  # same stage, another epoch, another order
    assert _epoch(make(), 7) != _epoch(make(seed=1), 7)


# --- sharding ----------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["mix", "pool"])
def test_two_ranks_split_each_category_and_keep_the_proportion(mode):
    schedule = CurriculumSchedule((1, 1), (0.0, 0.4), mode)
    def make(replicas=1, rank=0):
        return CurriculumSampler(
            _labels(), 40, schedule, C_EXPR_PAIRS, synthetic=0.5, num_replicas=replicas, rank=rank
        )
    whole = _by_op(_epoch(make(), 1))
    shards = [make(2, r) for r in range(2)]
    ranks = [_by_op(_epoch(shard, 1)) for shard in shards]
    assert len(shards[0]) == len(shards[1]) == make().epoch_length(1) // 2
    for op in (SINGLE, REAL, MIXUP, CUTMIX):
        assert len(ranks[0][op]) == len(ranks[1][op]) == len(whole[op]) // 2  # counts are even
        assert Counter(ranks[0][op]) + Counter(ranks[1][op]) == Counter(whole[op])
    assert not {r.a for r in ranks[0][SINGLE]} & {r.a for r in ranks[1][SINGLE]}


def test_sharding_drops_the_remainder_of_each_category_equally():
    schedule = CurriculumSchedule((1,), (0.3,))
    def make(rank):
        return CurriculumSampler(
            _labels(), 40, schedule, [], epoch_size=35, num_replicas=4, rank=rank
        )
    # 35 = 24.5 -> 24 singles (6 per rank) + 11 reals (2 per rank, 3 dropped).
    lengths = {len(_epoch(make(r), 0)) for r in range(4)}
    assert lengths == {8}
    assert make(0).stage_summary(0) == {"single": 6, "real": 2, "mixup": 0, "cutmix": 0}


# --- resume ------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["mix", "pool"])
def test_mid_epoch_resume_yields_exactly_the_rest_of_the_epoch(mode):
    schedule = CurriculumSchedule((2, 2), (0.0, 0.4), mode)
    def make():
        return CurriculumSampler(_labels(), 30, schedule, C_EXPR_PAIRS, num_replicas=2, rank=1)
    uninterrupted = _epoch(make(), 2)

    run = make()
    run.set_epoch(2)
    consumed = list(run)[:24]  # three batches of 8 trained before the kill
    # What the trainer stores and restores: the epoch and how many of its items this rank trained.
    state = pickle.loads(pickle.dumps({"epoch": 2, "start": 3 * 8}))

    resumed = make()
    resumed.load_state_dict(state)
    assert resumed.state_dict() == {"epoch": 2, "start": 24}
    rest = list(resumed)
    assert len(resumed) == len(rest) == len(uninterrupted) - 24
    assert consumed + rest == uninterrupted
    resumed.set_epoch(3)
    assert len(resumed) == resumed.epoch_length(3) and list(resumed) == _epoch(make(), 3)


def test_resume_refuses_a_start_past_the_epoch_or_an_epoch_outside_the_curriculum():
    sampler = CurriculumSampler(_labels(), 30, PAPER_SCHEDULE, C_EXPR_PAIRS)
    with pytest.raises(ValueError, match="cannot start epoch 0 at item 121: this rank has 120"):
        sampler.load_state_dict({"epoch": 0, "start": 121})
    with pytest.raises(ValueError, match="outside the curriculum's 16 epochs"):
        sampler.load_state_dict({"epoch": 16, "start": 0})


# --- use through a DataLoader ------------------------------------------------------------------


class _RecipeEcho:
    """A dataset whose items are the recipes it was asked for."""

    def __getitem__(self, recipe: Recipe) -> Recipe:
        return recipe


def test_recipes_travel_through_a_dataloader_and_pickle():
    sampler = CurriculumSampler(_labels(), 30, PAPER_SCHEDULE, C_EXPR_PAIRS)
    sampler.set_epoch(12)
    loader = DataLoader(_RecipeEcho(), sampler=sampler, batch_size=16, collate_fn=list)
    assert len(loader) == 8  # ceil(120 / 16)
    assert [r for batch in loader for r in batch] == list(sampler)
    clone = pickle.loads(pickle.dumps(sampler))
    assert list(clone) == list(sampler) and hash(Recipe(MIXUP, 1, 2)) == hash((MIXUP, 1, 2))
