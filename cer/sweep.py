"""Sweeps for every task: each config x seed as its own training process, tables of mean ± std.

``cer ablate`` (CE curricula, 002 Tables 4 and 6) and ``mtl ablate`` (002 Tables 2, 3 and 5, 004
Tables 1-4) are this runner with a :class:`SweepKind` each: the module it runs, the settings a
row shows, and the metrics it tabulates.

Each run is its own process (``python -m MODULE CONFIG ...``), so one crashed run is reported and
the others go on; a run whose ``report/final_metrics.json`` holds the first metric is skipped, and
an unfinished one resumes from its last checkpoint, so re-invoking the same command completes an
interrupted table. Seed 0 of every config runs before any config's seed 1 (interrupted, a long
table still has a row for every config), and the tables are rewritten after every run.

Beside mean ± std, each row shows its difference to the first row on the first metric, paired by
seed (mean ± std of the per-seed differences): a seed gives every config the same initial weights,
so part of the seed-to-seed spread can be shared by all rows (README, "The built-in benchmark"),
and the paired difference leaves that part out: rows whose spreads overlap may still differ
consistently, seed by seed.

Settings shared by all runs come with ``--overlay FILE``, merged after each CONFIG and before
``--set``. ``OUT/ablation.json`` records the overlays (path and content digest) and the ``--set``
overrides; a re-run with other ones is refused rather than tabulating runs of different settings
side by side under the same config names.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import statistics
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import click

SETTINGS = "ablation.json"


@dataclass(frozen=True)
class SweepKind:
    """What differs between the sweeps of two tasks.

    Attributes:
        module: run as ``python -m module CONFIG OVERLAY... --output DIR --resume auto --set ...``.
        describe: ``(config, overlays, overrides) -> {column: text}``, the settings of a row as run;
            raises ``cer.config.ConfigError`` on a config that does not load.
        metrics: ``(key of final_metrics.json, column title)``; the first decides whether a run is
            done and is the one shown per seed.
        check: ``(configs, overlays) -> None``, raising ``click.UsageError`` on inputs the sweep refuses.
    """

    module: str
    describe: Callable[[Path, Sequence[Path], Sequence[str]], dict[str, str]]
    metrics: tuple[tuple[str, str], ...]
    check: Callable[[Sequence[Path], Sequence[Path]], None] | None = None


def run_folder(out: Path, config: Path, seed: int) -> Path:
    return out / config.stem / f"seed{seed}"


def final_metrics(run_dir: Path) -> dict | None:
    f = run_dir / "report" / "final_metrics.json"
    return json.loads(f.read_text()) if f.is_file() else None


def read_top_level(path: Path) -> dict:
    """The top-level sections of a YAML config (for a kind's ``check``)."""
    from cer.config_io import ConfigError, read_yaml

    try:
        return dict(read_yaml(path) or {})
    except ConfigError as err:
        raise click.UsageError(str(err)) from None


def mean_std(values: list[float]) -> tuple[float, float]:
    """Mean (nan: no values) and sample standard deviation (0 below two values)."""
    return (statistics.mean(values) if values else math.nan, statistics.stdev(values) if len(values) > 1 else 0.0)


def shown_mean(mean: float, std: float, runs: int, signed: bool = False) -> str:
    """A table cell: ``mean ± std``, the mean alone from one run, ``-`` from none; ``signed``: the
    mean with its sign (a difference)."""
    if math.isnan(mean):  # no run has the metric
        return "-"
    shown = f"{mean:+.4f}" if signed else f"{mean:.4f}"
    # No spread from fewer than two runs: "± 0" would claim one.
    return shown if runs == 1 else f"{shown} ± {std:.4f}"


def paired_differences(finals: list[dict], reference: list[dict], key: str) -> list[float]:
    """``finals[s][key] - reference[s][key]`` for every seed ``s`` both have."""
    return [float(m[key]) - float(r[key]) for m, r in zip(finals, reference)
            if m.get(key) is not None and r.get(key) is not None]


def write_tables(kind: SweepKind, out: Path, configs: list[Path], seeds: int, overlays: Sequence[Path] = (),
                 overrides: Sequence[str] = ()) -> str:
    """``ablation.csv`` (``<metric>_mean``, ``<metric>_std`` and ``<metric>_runs`` per metric) and
    ``ablation.md``; returns the Markdown."""
    first = kind.metrics[0][0]
    rows, cells, paired, settings, reference = [], [], [], [], []
    for config in configs:
        finals = [final_metrics(run_folder(out, config, s)) or {} for s in range(seeds)]
        described = kind.describe(config, overlays, overrides)
        settings = list(described)  # the same columns for every config of a kind
        row: dict = {"config": config.stem, **described, "runs": sum(first in m for m in finals)}
        shown = []
        for key, _ in kind.metrics:
            values = [float(m[key]) for m in finals if m.get(key) is not None]
            mean, std = mean_std(values)
            row.update({f"{key}_mean": mean, f"{key}_std": std, f"{key}_runs": len(values)})
            shown.append(shown_mean(mean, std, len(values)))
        row["per_seed"] = " ".join(f"{m[first]:.4f}" if first in m else "-" for m in finals)
        if not rows:
            reference = finals  # the first config's runs
        deltas = paired_differences(finals, reference, first)
        mean, std = mean_std(deltas)
        row.update({f"{first}_paired_delta_mean": mean, f"{first}_paired_delta_std": std,
                    f"{first}_paired_delta_runs": len(deltas)})
        paired.append("reference" if not rows else shown_mean(mean, std, len(deltas), signed=True))
        rows.append(row)
        cells.append(shown)
    with (out / "ablation.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    titles = ["config", *settings, "runs", *(f"{title} (mean ± std)" for _, title in kind.metrics),
              f"{kind.metrics[0][1]} per seed", f"difference to {rows[0]['config']}, paired by seed"]
    lines = ["| " + " | ".join(titles) + " |", "|" + " --- |" * len(titles)]
    for row, shown, difference in zip(rows, cells, paired):
        lines.append("| " + " | ".join([row["config"], *(str(row[k]) for k in settings), str(row["runs"]), *shown,
                                         row["per_seed"], difference]) + " |")
    md = "\n".join(lines) + "\n"
    (out / "ablation.md").write_text(md)
    return md


def run_settings(overlays: Sequence[Path], overrides: Sequence[str]) -> dict:
    """What ``OUT/ablation.json`` records: the overlays in merge order (path, content digest) and the
    ``--set`` overrides."""
    return {"overlays": [{"path": str(p), "sha256": hashlib.sha256(p.read_bytes()).hexdigest()} for p in overlays],
            "overrides": list(overrides)}


def _show_settings(settings: dict) -> str:
    parts = [f"--overlay {o['path']} (sha256 {o['sha256'][:12]})" for o in settings.get("overlays", [])]
    parts += [f"--set {o}" for o in settings.get("overrides", [])]
    return " ".join(parts) or "no --overlay and no --set"


def claim_out(out: Path, settings: dict, record_name: str = SETTINGS) -> None:
    """Record ``settings`` in ``OUT/ablation.json`` (or ``record_name``), or refuse if OUT's runs were
    made with others.

    Overlays are compared by content in merge order (a moved copy of the same file is the same
    setting; an edited file is not), overrides as written.
    """
    record = out / record_name
    if record.is_file():
        before = json.loads(record.read_text())
        same = ([o["sha256"] for o in before.get("overlays", [])] == [o["sha256"] for o in settings["overlays"]]
                and before.get("overrides", []) == settings["overrides"])
        if not same:
            raise click.UsageError(
                f"the runs in {out} were made with {_show_settings(before)}, but this command gives "
                f"{_show_settings(settings)}; their results would be mixed in one table. Use another --out, "
                f"or repeat the --overlay and --set options recorded in {record}")
        return
    record.write_text(json.dumps(settings, indent=1) + "\n")


def train_run(kind: SweepKind, config: Path, overlays: Sequence[Path], run_dir: Path, overrides: Sequence[str],
              title: str) -> bool | None:
    """Train one run in its own process (``python -m kind.module CONFIG OVERLAY... --output RUN_DIR
    --resume auto --set ...``) unless it finished (its final metrics hold the kind's first metric);
    an unfinished one resumes. Returns None when skipped, else whether it succeeded."""
    if (final_metrics(run_dir) or {}).get(kind.metrics[0][0]) is not None:
        click.echo(f"{title}: done, skipped")
        return None
    click.echo(f"{title} -> {run_dir}")
    cmd = [sys.executable, "-m", kind.module, str(config), *map(str, overlays), "--output", str(run_dir),
           "--resume", "auto"]
    for o in overrides:
        cmd += ["--set", o]
    return subprocess.run(cmd).returncode == 0


def sweep(kind: SweepKind, configs: Sequence[Path], seeds: int, out: Path, overlays: Sequence[Path] = (),
          overrides: Sequence[str] = ()) -> None:
    """Train every config with every seed (seed-major), then print the Markdown table."""
    from cer.config import ConfigError

    if kind.check is not None:
        kind.check(configs, overlays)
    try:  # a config that does not load with the overlays fails now, not after hours of other runs
        for config in configs:
            kind.describe(config, overlays, overrides)
    except ConfigError as err:
        raise click.UsageError(str(err)) from None
    out.mkdir(parents=True, exist_ok=True)
    claim_out(out, run_settings(overlays, overrides))
    failed = []
    jobs = [(c, s) for s in range(seeds) for c in configs]
    for i, (config, seed) in enumerate(jobs, 1):
        trained = train_run(kind, config, overlays, run_folder(out, config, seed), [f"train.seed={seed}", *overrides],
                            f"[{i}/{len(jobs)}] {config.stem} seed {seed}")
        if trained is None:
            continue
        if not trained:
            failed.append(f"{config.stem} seed {seed}")
        write_tables(kind, out, list(configs), seeds, overlays, overrides)
    click.echo(write_tables(kind, out, list(configs), seeds, overlays, overrides))
    if failed:
        raise click.ClickException(f"{len(failed)} run(s) failed: {', '.join(failed)} (re-run to retry them)")


def sweep_options(what: str, example_overlay: str) -> Callable:
    """The options every ablate command takes (CONFIGS, --seeds, --out, --overlay, --set)."""
    def decorate(command: Callable) -> Callable:
        for option in reversed([
            click.argument("configs", nargs=-1, required=True,
                           type=click.Path(exists=True, dir_okay=False, path_type=Path)),
            click.option("--seeds", default=3, show_default=True, help="Seeds per config (0, 1, ..., N-1)."),
            click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True,
                         help=f"Folder for the runs (OUT/<config>/seed<k>), the tables and ablation.json (the "
                              f"overlays and overrides its {what} runs were made with)."),
            click.option("--overlay", "overlays", multiple=True, metavar="FILE",
                         type=click.Path(exists=True, dir_okay=False, path_type=Path),
                         help=f"YAML merged after each CONFIG (before --set) in every run, e.g. {example_overlay}. "
                              "Repeatable, merged in order."),
            click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
                         help="Override applied to every run, e.g. --set data.limit=500. Repeatable."),
        ]):
            command = option(command)
        return command
    return decorate
