"""CE cross-validation: ``data.folds`` splits the real compound faces, a fold run validates on the
part it held out, and ``cer folds`` trains, scores and tabulates every fold and the full model."""

from __future__ import annotations

import json
import statistics

import numpy as np
import pytest
import yaml
from click.testing import CliRunner
from sweep_checks import two_folds_and_full
from tiny_ce import tiny_ce_config

from cer.cli import main
from cer.compound.config import CEConfig
from cer.compound.data import compound_targets
from cer.compound.task import held_out_faces, read_pools, split_fold
from cer.config import from_dict
from cer.taxonomy import constraint_set


def fold_config(raf, folds: int | None = None, fold: int | None = None, **data) -> CEConfig:
    cfg = tiny_ce_config(raf, [1, 1], [0.0, 1.0])
    cfg["data"].update({"folds": folds, "fold": fold, **data})
    return from_dict(CEConfig, cfg)


def test_folds_partition_the_real_compound_faces_and_keep_their_labels(tiny_synth):
    raf = tiny_synth / "raf-db"
    _, _, compounds, labels = read_pools(fold_config(raf))
    assert len(compounds) >= 6
    held = []
    for k in range(3):
        train, train_labels, out = split_fold(compounds, labels, fold_config(raf, 3, k))
        assert sorted(r.key for r in train + out) == sorted(r.key for r in compounds)  # nothing lost, no overlap
        assert not {r.key for r in train} & {r.key for r in out}
        assert all((lab == r.ce_multi_hot()).all() for r, lab in zip(train, train_labels))  # labels follow faces
        assert [r.key for r in held_out_faces(fold_config(raf, 3, k))] == [r.key for r in out]
        held.append({r.key for r in out})
    assert set().union(*held) == {r.key for r in compounds} and sum(map(len, held)) == len(compounds)
    other_seed = split_fold(compounds, labels, fold_config(raf, 3, 0, fold_seed=1))[2]
    assert {r.key for r in other_seed} != held[0]


def test_folds_without_real_compound_faces_say_what_to_give(tiny_synth):
    cfg = fold_config(tiny_synth / "raf-db", 3, 0, compound=[])
    singles, single_labels, compounds, labels = read_pools(cfg)
    assert singles and not compounds
    with pytest.raises(ValueError, match="data.folds=3 splits the real compound faces.*raf-db-compound"):
        split_fold(compounds, labels, cfg)


def test_cer_folds_validates_each_fold_on_what_it_held_out_tabulates_and_skips_finished_runs(tiny_synth, tmp_path):
    raf = tiny_synth / "raf-db"
    config = tmp_path / "two_stage.yaml"
    config.write_text(yaml.safe_dump(tiny_ce_config(raf, [1, 1], [0.0, 1.0])))
    out = tmp_path / "cv"
    args = ["folds", str(config), "--folds", "2", "--out", str(out)]
    output, table = two_folds_and_full(main, args, out)
    for k in range(2):
        # scored as validated: the held-out faces of a C-EXPR-DB class (RAF-DB has 11 compound classes)
        held = compound_targets(held_out_faces(fold_config(raf, 2, k)), constraint_set("c-expr"))[0]
        assert 0 < int(table[f"fold{k}"]["faces"]) == len(held)
        # the run validated on its held-out faces each epoch; its best model scores there what it measured
        history = [json.loads(line) for line in (out / f"fold{k}" / "metrics.jsonl").read_text().splitlines()]
        epochs = [h for h in history if "val_f1" in h]
        assert all(h["val_count"] == len(held) for h in epochs)
        assert float(table[f"fold{k}"]["f1"]) == pytest.approx(max(h["val_f1"] for h in epochs), abs=1e-6)
    val = json.loads((out / "full" / "metrics.jsonl").read_text().splitlines()[-1])
    assert int(table["full"]["faces"]) == val["val_count"]
    folds = [float(table[f"fold{k}"]["f1"]) for k in range(2)]
    assert float(table["mean"]["f1"]) == pytest.approx(statistics.mean(folds))
    assert float(table["std"]["f1"]) == pytest.approx(statistics.stdev(folds))
    assert f"cer predict VIDEOS --model {out / 'full'} --model {out / 'fold0'} --model {out / 'fold1'}" in output

    evaluated = CliRunner().invoke(main, ["evaluate", str(out / "fold1")])  # its held-out fold by default
    assert evaluated.exit_code == 0, evaluated.output
    scored = json.loads((out / "fold1" / "eval" / "fold1" / "metrics.json").read_text())
    assert scored["val_count"] == int(table["fold1"]["faces"])
    assert scored["val_f1"] == pytest.approx(float(table["fold1"]["f1"]))

    again = CliRunner().invoke(main, args)
    assert again.exit_code == 0, again.output
    assert again.output.count(": done, skipped") == 3
    own = CliRunner().invoke(main, [*args, "--set", "data.fold=1"])
    assert own.exit_code == 2 and "cer folds sets data.fold itself" in own.output
    assert np.isfinite(float(table["mean"]["accuracy"]))
