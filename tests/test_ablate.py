"""``cer ablate``: every config for every seed, seed 0 of all configs first, finished runs skipped,
tables of what the runs reported."""

from __future__ import annotations

import csv
import json
import re
import statistics
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from tiny_ce import tiny_ce_config

from cer.compound.ablate import ablate


def tiny_curriculum(folder: Path, raf: Path, name: str, compound: list[float]) -> Path:
    cfg = tiny_ce_config(raf, [1] * len(compound), compound)
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def final_f1(run_dir: Path) -> float:
    return json.loads((run_dir / "report" / "final_metrics.json").read_text())["val_f1"]


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
    with (out / "ablation.csv").open() as f:
        table = list(csv.DictReader(f))
    assert [r["config"] for r in table] == ["one_stage", "two_stage"] and [r["runs"] for r in table] == ["1", "1"]
    assert table[1]["epochs"] == "[1, 1]" and table[1]["compound"] == "[0.0, 1.0]"
    assert f"| 1 | {float(table[0]['mean_f1']):.4f} |" in (out / "ablation.md").read_text()  # no "± 0" from one run

    second = CliRunner().invoke(ablate, [*args, "--seeds", "2"])
    assert second.exit_code == 0, second.output
    order = re.findall(r"^\[(\d)/4\] (\w+) seed (\d)(: done, skipped)?", second.output, flags=re.M)
    assert order == [("1", "one_stage", "0", ": done, skipped"), ("2", "two_stage", "0", ": done, skipped"),
                     ("3", "one_stage", "1", ""), ("4", "two_stage", "1", "")]
    with (out / "ablation.csv").open() as f:
        table = {r["config"]: r for r in csv.DictReader(f)}
    for config in two_configs:
        scores = [final_f1(out / config.stem / f"seed{seed}") for seed in (0, 1)]
        row = table[config.stem]
        assert row["runs"] == "2" and row["per_seed"] == " ".join(f"{s:.4f}" for s in scores)
        assert float(row["mean_f1"]) == pytest.approx(statistics.mean(scores))
        assert float(row["std_f1"]) == pytest.approx(statistics.stdev(scores))
    markdown = (out / "ablation.md").read_text()
    assert "| two_stage | [1, 1] | [0.0, 1.0] |" in markdown and markdown.count("\n") == 4
    assert f"| 2 | {float(table['two_stage']['mean_f1']):.4f} ± {float(table['two_stage']['std_f1']):.4f} |" in markdown
