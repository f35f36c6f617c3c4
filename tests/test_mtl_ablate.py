"""``mtl ablate``: the shared sweep runner with MTL's settings and P_MTL columns; the shipped sweep
configs of papers 002 and 004 load."""

from __future__ import annotations

import json
import re
import statistics
from pathlib import Path

import pytest
from click.testing import CliRunner
from sweep_checks import read_table, run_order
from tiny_mtl import TINY_MTL, as_set_options

from mtl.ablate import ablate, describe

SWEEPS = Path(__file__).parent.parent / "mtl" / "sweeps"


def test_mtl_ablate_runs_seed_major_skips_finished_runs_and_tabulates_p_mtl(tiny_synth, tmp_path):
    aff = tiny_synth / "aff-wild2"
    au, va = tmp_path / "au_alone.yaml", tmp_path / "va_bn.yaml"
    au.write_text("tasks:\n  joint: au\n")
    va.write_text("tasks:\n  joint: va\nmodel:\n  va_head: bn_tanh\n")
    out = tmp_path / "sweep"
    # seed 0 of both "finished" before: hand-made final metrics, which must be skipped and tabulated
    done = {"au_alone": {"val_p_mtl": 0.25, "val_f1_au": 0.25}, "va_bn": {"val_p_mtl": 0.5, "val_ccc_v": 0.4,
                                                                            "val_ccc_a": 0.6}}
    for name, metrics in done.items():
        (out / name / "seed0" / "report").mkdir(parents=True)
        (out / name / "seed0" / "report" / "final_metrics.json").write_text(json.dumps(metrics))
    tiny = [f"data.train.path={aff}", f"data.val.path={aff}", "epochs=1", *TINY_MTL]
    args = [str(au), str(va), "--seeds", "2", "--out", str(out), *as_set_options(tiny)]
    result = CliRunner().invoke(ablate, args)
    assert result.exit_code == 0, result.output
    order = run_order(result.output, jobs=4)
    assert order == [("1", "au_alone", "0", ": done, skipped"), ("2", "va_bn", "0", ": done, skipped"),
                     ("3", "au_alone", "1", ""), ("4", "va_bn", "1", "")]
    table = read_table(out)
    for name, hand in done.items():
        trained = json.loads((out / name / "seed1" / "report" / "final_metrics.json").read_text())
        p = [hand["val_p_mtl"], trained["val_p_mtl"]]
        row = table[name]
        assert row["runs"] == "2" and float(row["val_p_mtl_mean"]) == pytest.approx(statistics.mean(p))
        assert float(row["val_p_mtl_std"]) == pytest.approx(statistics.stdev(p))
    assert table["au_alone"]["tasks"] == "au" and table["va_bn"]["heads"] == "au linear, va bn_tanh"
    assert table["va_bn"]["weights"] == "random"  # model.checkpoint=null, as the tiny settings say
    assert table["va_bn"]["val_f1_au_runs"] == "0"  # a part the row does not train: no value...
    markdown = (out / "ablation.md").read_text()
    assert re.search(r"^\| va_bn \| v,a \|.* \| - \| - \|", markdown, flags=re.M)  # ...and "-" for AU, EXPR F1


def test_shipped_mtl_sweeps_load_and_differ_within_each_table():
    tables = sorted(p for p in SWEEPS.iterdir() if p.is_dir())
    assert [t.name for t in tables] == ["002_table2", "002_table3", "002_table5", "004_table1", "004_table2",
                                        "004_table3", "004_table4", "builtin_encoder"]
    for table in tables:
        rows = [describe(c) for c in sorted(table.glob("*.yaml"))]
        assert len(rows) >= 2 and len({json.dumps(r, sort_keys=True) for r in rows}) == len(rows), table.name
    last = describe(SWEEPS / "004_table1" / "4_anfl_attention.yaml")
    assert last == {"tasks": "au,expr,v,a", "weights": "builtin-mae", "fuse": "-", "S/W": "1/1", "temporal": "-",
                    "heads": "au anfl, va bn_tanh, cross attention",
                    "au loss": "asymmetric", "expr loss": "ce", "optimiser": "sam(sgd)"}
    focal = describe(SWEEPS / "004_table1" / "4_anfl_attention.yaml", overrides=["loss.expr=focal"])
    assert focal["expr loss"] == "focal(gamma=2)"  # a focal row is told apart from a CE one
    clips = describe(SWEEPS / "002_table3" / "v_s10_w10.yaml")
    assert clips["temporal"] == "lstm"
    assert describe(SWEEPS / "002_table3" / "v_s10_w10.yaml", overrides=["model.temporal=transformer"])[
        "temporal"] == "transformer"  # a transformer row is told apart from an LSTM one
