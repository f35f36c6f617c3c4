"""K-fold cross-validation split by video (paper 001 sec. 4.3): ``data.folds`` / ``data.fold``."""

from __future__ import annotations

import re

import pytest
from click.testing import CliRunner
from tiny_mtl import TINY_MTL_ARGS

from cer.data.folds import fold_groups, fold_split, group_of
from cer.data.record import FaceRecord
from cer.data.registry import read
from mtl.cli import main


def frames(videos: int = 13, per_video: int = 4) -> list[FaceRecord]:
    return [FaceRecord(image=f"v{v}/{i:05d}.jpg", video=f"v{v}") for v in range(videos) for i in range(per_video)]


def test_folds_partition_the_videos():
    records = frames()
    parts = fold_groups(records, 5, seed=0)
    videos = [g for part in parts for g in part]
    assert len(videos) == len(set(videos))  # no video in two folds
    assert set(videos) == {group_of(r) for r in records}  # every video in one
    assert sorted(len(p) for p in parts) == [2, 2, 3, 3, 3]  # 13 videos in near-equal parts


def test_same_seed_same_folds_whatever_the_record_order():
    records = frames()
    assert fold_groups(records, 5, seed=3) == fold_groups(records[::-1], 5, seed=3)
    assert fold_groups(records, 5, seed=3) != fold_groups(records, 5, seed=4)


def test_a_fold_trains_and_validates_on_disjoint_videos():
    records = frames()
    held_out = []
    for k in range(5):
        train, val = fold_split(records, 5, k, seed=0)
        assert {r.video for r in train}.isdisjoint({r.video for r in val})
        assert len(train) + len(val) == len(records) and val
        held_out.extend(r.key for r in val)
    assert sorted(held_out) == sorted(r.key for r in records)  # each frame validated by exactly one fold


def test_groups_without_videos_fall_back_to_subjects_then_faces():
    assert group_of(FaceRecord(image="a.jpg", subject="s1")) == "subject:s1"
    assert group_of(FaceRecord(image="a.jpg")) != group_of(FaceRecord(image="b.jpg"))


@pytest.mark.parametrize("folds, fold, message", [
    (5, 5, r"data.fold is the held-out fold, 0..4"), (5, -1, "0..4"), (1, 0, "folds must be >= 2"),
    (5, None, "go together"),
])
def test_bad_fold_settings_name_the_key(folds, fold, message):
    from mtl.config import DataConfig

    with pytest.raises(ValueError, match=message):
        DataConfig(folds=folds, fold=fold)
    with pytest.raises(ValueError, match="cannot fill data.folds=20"):
        fold_split(frames(), 20, 0)


def test_a_task_that_does_not_split_folds_refuses_them():
    from cer.pretrain.config import PretrainDataConfig

    with pytest.raises(ValueError, match="does not split its data into folds"):
        PretrainDataConfig(folds=5, fold=0)
    assert PretrainDataConfig().folds is None  # off by default


def test_mtl_trains_and_evaluates_on_a_fold(tiny_synth, tmp_path):
    aff = tiny_synth / "aff-wild2"
    run = tmp_path / "fold1"
    fold = ["--set", "data.folds=3", "--set", "data.fold=1"]
    args = ["train", "--joint", "v", "--data", str(aff), "-o", str(run), *fold, *TINY_MTL_ARGS]
    result = CliRunner().invoke(main, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    train, val = fold_split(read("aff-wild2-mtl", aff, split="train"), 3, 1)
    assert f"validation (v; {len(val)} frames)" in result.output
    result = CliRunner().invoke(main, ["evaluate", str(run), "--out", str(tmp_path / "eval")], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert re.search(rf"\(v; {len(val)} frames\)", result.output)
    result = CliRunner().invoke(main, ["train", "--joint", "v", "--data", str(aff), "--set", "data.folds=3",
                                       "--set", "data.fold=3", *TINY_MTL_ARGS])
    assert result.exit_code == 2 and "data.fold is the held-out fold, 0..2" in result.output
