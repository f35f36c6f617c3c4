"""The progressive pipeline of paper 002 at tiny scale, through the command line: single-task runs ->
``mtl extract`` -> a fused joint temporal run (fused runs named by task) -> ``mtl evaluate`` ->
``mtl predict`` -> a submission file with one row per validation frame."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from tiny_mtl import TINY_MTL_SET as TINY
from tiny_mtl import history
from tiny_mtl import mtl_cli as mtl

from cer.data.registry import read
from mtl.cli import main


@pytest.fixture(scope="module")
def pipeline(tiny_synth, tmp_path_factory):
    aff = tiny_synth / "aff-wild2"
    runs = tmp_path_factory.mktemp("runs")
    for joint in ("au", "v"):
        mtl("train", "--joint", joint, "--data", str(aff), "--epochs", "1", "-o", str(runs / f"single-{joint}"), *TINY)
    extracted = mtl("extract", str(runs / "single-au"), "--data", str(aff), "--batch-size", "50")
    fused = runs / "fused"
    mtl("train", "--task", "v", "--joint", "au,expr,va", "--fuse", "au,v", "--seq", "5", "--window", "3",
        "--data", str(aff), "--epochs", "2", "--au-thresholds", "tune", "-o", str(fused),
        "--set", f"fuse.search={runs}", *TINY)
    return aff, runs, fused, extracted


def test_extract_caches_every_frame_of_both_splits(pipeline):
    aff, runs, _, output = pipeline
    frames = len(read("aff-wild2-mtl", aff, split="train")) + len(read("aff-wild2-mtl", aff, split="validation"))
    keys = (runs / "single-au" / "features" / "keys.txt").read_text().splitlines()
    assert len(keys) == len(set(keys)) == frames and f"{frames} features of width 192" in output
    # the fused run extracted the features of the run nobody extracted explicitly
    assert len((runs / "single-v" / "features" / "keys.txt").read_text().splitlines()) == frames


def test_fused_temporal_run_records_what_it_was_built_from(pipeline):
    _, runs, fused, _ = pipeline
    meta = json.loads((fused / "best" / "model.json").read_text())
    arch = meta["architecture"]
    assert meta["kind"] == "mtl" and arch["tasks"] == ["au", "expr", "v", "a"]
    assert arch["temporal"] and arch["fused_dims"] == [192, 192]
    assert meta["sequence"] == {"length": 5, "stride": 3}
    assert [Path(f["run"]).parent.name for f in meta["fuse"]] == ["single-au", "single-v"]
    rows = history(fused)
    assert len(rows) == 2
    for r in rows:
        for key in ("val_ccc_v", "val_ccc_a", "val_f1_expr", "val_f1_au", "val_f1_au_tuned", "val_p_mtl"):
            assert key in r
        parts = (r["val_ccc_v"] + r["val_ccc_a"]) / 2 + r["val_f1_expr"] + r["val_f1_au"]
        assert r["val_p_mtl"] == pytest.approx(parts)
    best = max(rows, key=lambda r: r["val_ccc_v"])  # --task v selects the epoch
    assert meta["metrics"]["val_ccc_v"] == pytest.approx(best["val_ccc_v"])
    for png in ("metrics.png", "au_f1.png", "expr_confusion.png"):
        assert (fused / "report" / png).stat().st_size > 1000


def test_evaluate_reproduces_the_best_epoch_and_combines_runs(pipeline, tmp_path):
    _, runs, fused, _ = pipeline
    output = mtl("evaluate", str(fused), str(runs / "single-au"), str(runs / "single-v"), "--out", str(tmp_path))
    result = json.loads((tmp_path / "metrics.json").read_text())
    mine = result["runs"][str(fused)]
    meta = json.loads((fused / "best" / "model.json").read_text())
    for key in ("ccc_v", "ccc_a", "f1_expr", "f1_au", "f1_au_tuned", "p_mtl"):
        assert mine[key] == pytest.approx(meta["metrics"][f"val_{key}"], abs=1e-5), key
    combined = result["combined"]
    assert combined["ccc_v"] == max(s["ccc_v"] for s in result["runs"].values() if "ccc_v" in s)
    assert combined["p_mtl"] == pytest.approx((combined["ccc_v"] + combined["ccc_a"]) / 2 + combined["f1_expr"]
                                              + combined["f1_au"])
    assert "combined (best run per part)" in output


def test_predict_writes_one_row_per_validation_frame(pipeline, tmp_path):
    aff, runs, fused, _ = pipeline
    out = tmp_path / "submission.csv"
    mtl("predict", str(fused), str(runs / "single-au"), str(runs / "single-v"), "--out", str(out),
        "--au-thresholds", "tune")
    with open(out) as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["image", "valence", "arousal", "expression", "aus"]
    frames = read("aff-wild2-mtl", aff, split="validation")
    assert [r[0] for r in rows[1:]] == [f"{r.video}/{Path(r.image).name}" for r in frames]
    for r in rows[1:]:
        assert len(r) == 16 and -1 <= float(r[1]) <= 1 and -1 <= float(r[2]) <= 1
        assert 0 <= int(r[3]) <= 7 and set(r[4:]) <= {"0", "1"}


def test_unknown_fuse_task_and_missing_runs_are_usage_errors(pipeline, tmp_path):
    aff, runs, _, _ = pipeline
    # only single-task runs of au under the search folder: nothing trained expr
    result = CliRunner().invoke(main, ["train", "--joint", "v", "--fuse", "expr", "--data", str(aff),
                                       "--set", f"fuse.search={runs / 'single-au'}", "-o", str(tmp_path / "x"), *TINY])
    assert result.exit_code == 2 and "no finished MTL run" in result.output
    assert "mtl train --joint expr" in result.output
    result = CliRunner().invoke(main, ["train", "--joint", "au,happy"])
    assert result.exit_code == 2 and "valid tasks are au, expr, v, a, va" in result.output


def test_predict_smooths_each_task_by_its_sigma(pipeline, tmp_path):
    """--sigma filters a task's outputs along each video before the decision: V/A rows become the
    per-video Gaussian of the unsmoothed ones; the tasks without a sigma stay as they were."""
    from mtl.sequences import VideoFrames, frame_number
    from mtl.smoothing import smooth_per_video

    aff, runs, fused, _ = pipeline
    args = ("predict", str(fused), str(runs / "single-au"), str(runs / "single-v"), "--batch-frames", "64")
    plain, soft = tmp_path / "plain.csv", tmp_path / "soft.csv"
    mtl(*args, "--out", str(plain))
    mtl(*args, "--out", str(soft), "--sigma", "va=3")
    read_rows = lambda path: list(csv.reader(open(path)))[1:]  # noqa: E731
    before, after = read_rows(plain), read_rows(soft)
    assert [r[0] for r in before] == [r[0] for r in after]
    assert [r[3:] for r in before] == [r[3:] for r in after]  # expression and AUs untouched
    frames = VideoFrames.of(read("aff-wild2-mtl", aff, split="validation"))
    position = {row[0]: i for i, row in enumerate(before)}
    order = [position[f"{r.video}/{Path(r.image).name}"] for r in frames.records]
    numbers = np.array([frame_number(r) for r in frames.records])
    moved = 0.0
    for column in (1, 2):
        raw = np.array([float(before[i][column]) for i in order])
        expected = smooth_per_video(raw, frames.bounds, numbers, 3.0)
        got = np.array([float(after[i][column]) for i in order])
        moved = max(moved, np.abs(got - raw).max())
        np.testing.assert_allclose(got, expected, atol=2e-4)  # 4 decimals in the file, before and after
    # It did smooth: a tiny model's valence can be flat near -1, so the test asks it of either column.
    assert moved > 1e-3
