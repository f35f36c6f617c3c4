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
