"""What the tests of ``cer ablate`` and ``mtl ablate`` read back from a sweep (``cer.sweep``)."""

from __future__ import annotations

import csv
import re
from pathlib import Path


def run_order(output: str, jobs: int) -> list[tuple[str, str, str, str]]:
    """``(job number, config, seed, ": done, skipped" or "")`` per line "[i/jobs] ..." the sweep printed."""
    return re.findall(rf"^\[(\d)/{jobs}\] (\w+) seed (\d)(: done, skipped)?", output, flags=re.M)


def read_table(out: Path) -> dict[str, dict[str, str]]:
    """``OUT/ablation.csv`` by config name."""
    with (out / "ablation.csv").open() as f:
        return {r["config"]: r for r in csv.DictReader(f)}


def fold_run_order(output: str, runs: int) -> list[tuple[str, str, str]]:
    """``(run number, label, ": done, skipped" or "")`` per line "[i/runs] ..." a folds command printed."""
    return re.findall(rf"^\[(\d)/{runs}\] (\w+)(: done, skipped)?", output, flags=re.M)


def read_fold_table(out: Path) -> dict[str, dict[str, str]]:
    """``OUT/folds.csv`` by run (fold<k>, mean, std, full)."""
    with (out / "folds.csv").open() as f:
        return {r["run"]: r for r in csv.DictReader(f)}


def two_folds_and_full(cli, args: list[str], out: Path):
    """Invoke a folds command (``--folds 2``) on ``cli``; check it trained fold0, fold1 and the full
    model in that order and tabulated them; returns its output and ``OUT/folds.csv`` by run."""
    from click.testing import CliRunner

    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert fold_run_order(result.output, 3) == [("1", "fold0", ""), ("2", "fold1", ""), ("3", "full", "")]
    table = read_fold_table(out)
    assert list(table) == ["fold0", "fold1", "mean", "std", "full"]
    return result.output, table
