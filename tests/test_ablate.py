"""``cer ablate``: every config for every seed, seed 0 of all configs first, finished runs skipped,
tables of what the runs reported."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from sweep_checks import read_table, run_order
from tiny_ce import tiny_ce_config

from cer.compound.ablate import ablate


def tiny_curriculum(folder: Path, raf: Path, name: str, compound: list[float]) -> Path:
    cfg = tiny_ce_config(raf, [1] * len(compound), compound)
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def final_f1(run_dir: Path, key: str = "val_f1") -> float:
    return json.loads((run_dir / "report" / "final_metrics.json").read_text())[key]


@pytest.fixture(scope="module")
def two_configs(tiny_synth, tmp_path_factory) -> list[Path]:
    folder = tmp_path_factory.mktemp("curricula")
    raf = tiny_synth / "raf-db"
    return [tiny_curriculum(folder, raf, "one_stage", [0.0]), tiny_curriculum(folder, raf, "two_stage", [0.0, 1.0])]


def test_ablate_runs_seed_major_skips_finished_runs_and_tabulates_them(two_configs, tmp_path):
    out = tmp_path / "ablation"
    args = [*map(str, two_configs), "--out", str(out)]
    first = CliRunner().invoke(ablate, [*args, "--seeds", "1"])
    assert first.exit_code == 0, first.output
    table = list(read_table(out).values())  # in config order
    assert [r["config"] for r in table] == ["one_stage", "two_stage"] and [r["runs"] for r in table] == ["1", "1"]
    assert table[1]["epochs"] == "[1, 1]" and table[1]["compound"] == "[0.0, 1.0]"
    assert f"| 1 | {float(table[0]['val_f1_mean']):.4f} |" in (out / "ablation.md").read_text()  # no "± 0" from one run

    second = CliRunner().invoke(ablate, [*args, "--seeds", "2"])
    assert second.exit_code == 0, second.output
    order = run_order(second.output, jobs=4)
    assert order == [("1", "one_stage", "0", ": done, skipped"), ("2", "two_stage", "0", ": done, skipped"),
                     ("3", "one_stage", "1", ""), ("4", "two_stage", "1", "")]
    table = read_table(out)
    for config in two_configs:
        scores = [final_f1(out / config.stem / f"seed{seed}") for seed in (0, 1)]
        row = table[config.stem]
        assert row["runs"] == "2" and row["per_seed"] == " ".join(f"{s:.4f}" for s in scores)
        assert float(row["val_f1_mean"]) == pytest.approx(statistics.mean(scores))
        assert float(row["val_f1_std"]) == pytest.approx(statistics.stdev(scores))
        basic = [final_f1(out / config.stem / f"seed{seed}", "basic_f1") for seed in (0, 1)]
        assert float(row["basic_f1_mean"]) == pytest.approx(statistics.mean(basic))
        assert float(row["basic_f1_std"]) == pytest.approx(statistics.stdev(basic))
    markdown = (out / "ablation.md").read_text()
    assert "| two_stage | [1, 1] | [0.0, 1.0] |" in markdown and markdown.count("\n") == 4
    two = table["two_stage"]
    assert (f"| 2 | {float(two['val_f1_mean']):.4f} ± {float(two['val_f1_std']):.4f} | "
            f"{float(two['basic_f1_mean']):.4f} ± {float(two['basic_f1_std']):.4f} | {two['per_seed']} |") in markdown
    # each row against the first, seed by seed
    deltas = [final_f1(out / "two_stage" / f"seed{s}") - final_f1(out / "one_stage" / f"seed{s}") for s in (0, 1)]
    assert float(two["val_f1_paired_delta_mean"]) == pytest.approx(statistics.mean(deltas))
    assert float(two["val_f1_paired_delta_std"]) == pytest.approx(statistics.stdev(deltas))
    assert "| difference to one_stage, paired by seed |" in markdown
    assert f"| {table['one_stage']['per_seed']} | reference |" in markdown
    assert (f"| {two['per_seed']} | {statistics.mean(deltas):+.4f} ± {statistics.stdev(deltas):.4f} |"
            in markdown)


def test_overlays_reach_every_run_and_the_table_and_a_rerun_with_others_is_refused(two_configs, tmp_path):
    overlay = tmp_path / "small_model.yaml"
    overlay.write_text("model:\n  img_size: 16\nsynthesis:\n  ops: [mixup]\n")
    out = tmp_path / "ablation"
    args = [*map(str, two_configs), "--out", str(out), "--seeds", "1"]
    result = CliRunner().invoke(ablate, [*args, "--overlay", str(overlay)])
    assert result.exit_code == 0, result.output
    for config in two_configs:
        resolved = yaml.safe_load((out / config.stem / "seed0" / "config.yaml").read_text())
        assert resolved["model"]["img_size"] == 16 and resolved["synthesis"]["ops"] == ["mixup"]
        schedule = yaml.safe_load(config.read_text())["curriculum"]
        assert {k: resolved["curriculum"][k] for k in schedule} == schedule  # each run keeps its own curriculum
    assert [r["synthesis"] for r in read_table(out).values()] == ["mixup", "mixup"]  # the table shows what was run
    recorded = json.loads((out / "ablation.json").read_text())
    assert [o["path"] for o in recorded["overlays"]] == [str(overlay)] and recorded["overrides"] == []

    refused = CliRunner().invoke(ablate, [*args[:-1], "2"])  # same OUT, no overlay
    assert refused.exit_code == 2
    assert f"--overlay {overlay}" in refused.output and "no --overlay and no --set" in refused.output
    assert not (out / two_configs[0].stem / "seed1").exists()
    overlay.write_text("model:\n  img_size: 32\n")  # the same file, edited: other settings too
    assert CliRunner().invoke(ablate, [*args, "--overlay", str(overlay)]).exit_code == 2


def test_a_config_without_a_curriculum_is_refused_with_a_pointer_to_overlay(tmp_path):
    paper = Path(__file__).parent.parent / "curricula" / "overlays" / "paper_vit_b.yaml"
    result = CliRunner().invoke(ablate, [str(paper), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert "sets no 'curriculum:' section" in result.output and f"--overlay {paper}" in result.output
    assert not (tmp_path / "out").exists()

    schedule = tmp_path / "schedule.yaml"
    schedule.write_text("curriculum:\n  epochs: [1]\n  compound: [0.0]\n")
    result = CliRunner().invoke(ablate, [str(schedule), "--overlay", str(schedule), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2 and "sets 'curriculum:'" in result.output


def test_shipped_curricula_are_curricula_and_load_with_the_paper_overlay():
    from cer.compound.ablate import check_inputs, describe

    root = Path(__file__).parent.parent / "curricula"
    configs, paper = sorted(root.glob("*.yaml")), root / "overlays" / "paper_vit_b.yaml"
    assert len(configs) == 8 and paper not in configs
    check_inputs(configs, [paper])  # what README's `cer ablate curricula/*.yaml --overlay ...` runs
    assert describe(root / "two_stage.yaml", [paper]) == {"epochs": "[5, 15]", "compound": "[0.0, 1.0]",
                                                           "mode": "mix", "synthesis": "mixup+cutmix"}


def test_paired_differences_use_only_the_seeds_both_rows_have():
    from cer.sweep import paired_differences, shown_mean

    row, first = [{"f1": 0.5}, {}, {"f1": 0.7}, {"f1": 0.2}], [{"f1": 0.4}, {"f1": 0.1}, {}, {"f1": 0.3}]
    assert paired_differences(row, first, "f1") == pytest.approx([0.1, -0.1])
    assert shown_mean(0.1, 0.0, 1, signed=True) == "+0.1000"
    assert shown_mean(-0.02, 0.005, 3, signed=True) == "-0.0200 ± 0.0050"
    assert shown_mean(float("nan"), 0.0, 0, signed=True) == "-"
