"""``mtl folds``: every fold of a K-fold split and the full model trained on the sweep runner, each
fold model scored on the frames it held out, tabulated with the mean ± std, finished runs skipped."""

from __future__ import annotations

import json
import statistics

import pytest
from click.testing import CliRunner
from sweep_checks import fold_run_order, read_fold_table, two_folds_and_full
from tiny_mtl import TINY_MTL, as_set_options

from cer.data.folds import fold_split
from cer.data.registry import read
from mtl.cli import main

PARTS = ("p_mtl", "f1_au", "f1_expr", "ccc_v", "ccc_a")


def test_mtl_folds_trains_the_folds_and_the_full_model_tabulates_them_and_skips_them_when_done(tiny_synth,
                                                                                                 tmp_path):
    aff = tiny_synth / "aff-wild2"
    config = tmp_path / "joint.yaml"
    config.write_text("tasks:\n  joint: au,expr,va\n")
    out = tmp_path / "cv"
    tiny = [f"data.train.path={aff}", f"data.val.path={aff}", "epochs=1", *TINY_MTL]
    args = ["folds", str(config), "--folds", "2", "--out", str(out), *as_set_options(tiny)]
    output, table = two_folds_and_full(main, args, out)

    train = read("aff-wild2-mtl", aff, split="train")
    for k in range(2):
        row, meta = table[f"fold{k}"], json.loads((out / f"fold{k}" / "best" / "model.json").read_text())
        assert row["scored on"] == f"held-out fold {k}"
        assert int(row["frames"]) == len(fold_split(train, 2, k)[1])  # its own held-out frames
        for part in PARTS:  # what the run measured on them when it saved its best model
            assert float(row[part]) == pytest.approx(meta["metrics"][f"val_{part}"], abs=1e-5), (k, part)
    assert int(table["full"]["frames"]) == len(read("aff-wild2-mtl", aff, split="validation"))
    for part in PARTS:
        folds = [float(table[f"fold{k}"][part]) for k in range(2)]
        assert float(table["mean"][part]) == pytest.approx(statistics.mean(folds))
        assert float(table["std"][part]) == pytest.approx(statistics.stdev(folds))
    markdown = (out / "folds.md").read_text()
    mean, std = float(table["mean"]["p_mtl"]), float(table["std"]["p_mtl"])
    mean_row = f"| mean ± std of 2 folds | held-out folds | {len(train)} | {mean:.4f} ± {std:.4f} | "  # then the parts
    assert mean_row in markdown and markdown.index(mean_row) < markdown.index("| full | data.val |")
    members = f"{out / 'full'},{out / 'fold0'},{out / 'fold1'}"
    assert f"mtl evaluate {out / 'full'} --ensemble {members} --combine vote" in output

    weights = {k: (out / k / "best" / "model.safetensors").stat().st_mtime_ns for k in ("fold0", "fold1", "full")}
    again = CliRunner().invoke(main, args)
    assert again.exit_code == 0, again.output
    assert fold_run_order(again.output, 3) == [
        ("1", "fold0", ": done, skipped"), ("2", "fold1", ": done, skipped"), ("3", "full", ": done, skipped")]
    assert weights == {k: (out / k / "best" / "model.safetensors").stat().st_mtime_ns for k in weights}
    assert read_fold_table(out) == table  # the same models score the same

    other = CliRunner().invoke(main, [*args, "--fold-seed", "1"])  # other folds are other models
    assert other.exit_code == 2 and "data.fold_seed=0" in other.output and "Use another --out" in other.output
    own = CliRunner().invoke(main, [*args, "--set", "data.fold=1"])
    assert own.exit_code == 2 and "mtl folds sets data.fold itself" in own.output
