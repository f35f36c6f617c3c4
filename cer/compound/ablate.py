"""``cer ablate``: run each config for each seed and tabulate mean ± std macro F1 (Tables 4 and 6 of 002).

Each run is its own process (``python -m cer.train``), so one crashed run is reported and the
others go on; a run whose ``report/final_metrics.json`` exists is skipped, and an unfinished one
resumes from its last checkpoint, so re-invoking the same command completes an interrupted table.
Seed 0 of every config runs before any config's seed 1 (a table of 8 curricula x 3 seeds is hours
of CPU: interrupted, it should have a row for every config), and the tables are rewritten after
every run.

Every CONFIG must be a curriculum (set a ``curriculum:`` section). Settings shared by all runs (the
paper's ViT-B, a real data set) come with ``--overlay FILE``, merged after each CONFIG and before
``--set``. ``OUT/ablation.json`` records the overlays (path and content digest) and the ``--set``
overrides of the runs in OUT; a re-run with other ones is refused rather than tabulating runs of
different settings side by side under the same config names.
"""

from __future__ import annotations

import csv
import hashlib
import json
import statistics
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import click

SETTINGS = "ablation.json"


def run_folder(out: Path, config: Path, seed: int) -> Path:
    return out / config.stem / f"seed{seed}"


def final_metrics(run_dir: Path) -> dict | None:
    f = run_dir / "report" / "final_metrics.json"
    return json.loads(f.read_text()) if f.is_file() else None


def _spread(values: list[float]) -> tuple[float, float]:
    return (statistics.mean(values) if values else float("nan"),
            statistics.stdev(values) if len(values) > 1 else 0.0)


def describe(config: Path, overlays: Sequence[Path] = (), overrides: Sequence[str] = ()) -> dict[str, str]:
    """The curriculum and synthesis settings of ``config`` as the table shows them: as run, that is
    with the overlays and overrides every run gets."""
    from cer.compound.config import CEConfig
    from cer.config import load_config

    cfg = load_config(CEConfig, [config, *overlays], overrides)
    return {"epochs": str(list(cfg.curriculum.epochs)), "compound": str(list(cfg.curriculum.compound)),
            "mode": cfg.curriculum.mode, "ops": "+".join(cfg.synthesis.ops)}


def write_tables(out: Path, configs: list[Path], seeds: int, overlays: Sequence[Path] = (),
                 overrides: Sequence[str] = ()) -> str:
    """``ablation.csv`` and ``ablation.md``; returns the Markdown."""
    rows = []
    for config in configs:
        finals = [final_metrics(run_folder(out, config, s)) for s in range(seeds)]
        scores = [m.get("val_f1") if m else None for m in finals]
        done = [s for s in scores if s is not None]
        mean, std = _spread(done)
        # the held-out basic faces (runs from before they were scored have none)
        basic_mean, basic_std = _spread([m["basic_f1"] for m in finals if m and "basic_f1" in m])
        rows.append({"config": config.stem, **describe(config, overlays, overrides), "runs": len(done),
                     "mean_f1": mean, "std_f1": std, "basic_mean_f1": basic_mean, "basic_std_f1": basic_std,
                     "per_seed": " ".join("-" if s is None else f"{s:.4f}" for s in scores)})
    with (out / "ablation.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    lines = ["| config | epochs | compound | mode | synthesis | runs | compound macro F1 (mean ± std) | per seed "
             "| basic macro F1 (held out) |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        f1 = _mean_std(r["mean_f1"], r["std_f1"], r["runs"])
        basic = _mean_std(r["basic_mean_f1"], r["basic_std_f1"], r["runs"])
        lines.append(f"| {r['config']} | {r['epochs']} | {r['compound']} | {r['mode']} | {r['ops']} | {r['runs']} | "
                     f"{f1} | {r['per_seed']} | {basic} |")
    md = "\n".join(lines) + "\n"
    (out / "ablation.md").write_text(md)
    return md


def _mean_std(mean: float, std: float, runs: int) -> str:
    if mean != mean:  # NaN: no run has the metric
        return "-"
    # No spread from fewer than two runs: "± 0" would claim one.
    return f"{mean:.4f}" if runs == 1 else f"{mean:.4f} ± {std:.4f}"


# --- what the runs of OUT share -------------------------------------------------------------------


def _top_level(path: Path) -> dict:
    from cer.config_io import ConfigError, read_yaml

    try:
        return dict(read_yaml(path) or {})
    except ConfigError as err:
        raise click.UsageError(str(err)) from None


def check_inputs(configs: Sequence[Path], overlays: Sequence[Path]) -> None:
    """Every CONFIG a curriculum, no overlay one (it would give every run the same schedule)."""
    for config in configs:
        if "curriculum" not in _top_level(config):
            raise click.UsageError(
                f"{config} sets no 'curriculum:' section, so it is not a curriculum: every run of it would "
                f"train the default schedule. If it holds settings for all runs (model, optim, augment, data), "
                f"give it as --overlay {config}")
    for overlay in overlays:
        if "curriculum" in _top_level(overlay):
            raise click.UsageError(
                f"--overlay {overlay} sets 'curriculum:', which would replace the schedule of every CONFIG and "
                f"make the runs of all configs the same; give it as a CONFIG instead")


def run_settings(overlays: Sequence[Path], overrides: Sequence[str]) -> dict:
    """What ``OUT/ablation.json`` records: the overlays in merge order (path, content digest) and the
    ``--set`` overrides."""
    return {"overlays": [{"path": str(p), "sha256": hashlib.sha256(p.read_bytes()).hexdigest()} for p in overlays],
            "overrides": list(overrides)}


def _show_settings(settings: dict) -> str:
    parts = [f"--overlay {o['path']} (sha256 {o['sha256'][:12]})" for o in settings.get("overlays", [])]
    parts += [f"--set {o}" for o in settings.get("overrides", [])]
    return " ".join(parts) or "no --overlay and no --set"


def claim_out(out: Path, settings: dict) -> None:
    """Record ``settings`` in ``OUT/ablation.json``, or refuse if OUT's runs were made with others.

    Overlays are compared by content in merge order (a moved copy of the same file is the same
    setting; an edited file is not), overrides as written.
    """
    record = out / SETTINGS
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


@click.command("ablate", context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("configs", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--seeds", default=3, show_default=True, help="Seeds per config (0, 1, ..., N-1).")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Folder for the runs (OUT/<config>/seed<k>), the tables and ablation.json (the overlays and "
                   "overrides its runs were made with).")
@click.option("--overlay", "overlays", multiple=True, metavar="FILE",
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="YAML merged after each CONFIG (before --set) in every run, e.g. "
                   "curricula/overlays/paper_vit_b.yaml or a real-data file. Repeatable, merged in order.")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override applied to every run, e.g. --set data.limit=500. Repeatable.")
def ablate(configs: tuple[Path, ...], seeds: int, out: Path, overlays: tuple[Path, ...],
           overrides: tuple[str, ...]) -> None:
    """Train every CONFIG (a curriculum) with every seed, then write OUT/ablation.md and OUT/ablation.csv."""
    from cer.config import ConfigError

    check_inputs(configs, overlays)
    try:  # a config that does not load with the overlays fails now, not after hours of other runs
        for config in configs:
            describe(config, overlays, overrides)
    except ConfigError as err:
        raise click.UsageError(str(err)) from None
    out.mkdir(parents=True, exist_ok=True)
    claim_out(out, run_settings(overlays, overrides))
    failed = []
    jobs = [(c, s) for s in range(seeds) for c in configs]
    for i, (config, seed) in enumerate(jobs, 1):
        run_dir = run_folder(out, config, seed)
        if (final_metrics(run_dir) or {}).get("val_f1") is not None:
            click.echo(f"[{i}/{len(jobs)}] {config.stem} seed {seed}: done, skipped")
            continue
        click.echo(f"[{i}/{len(jobs)}] {config.stem} seed {seed} -> {run_dir}")
        cmd = [sys.executable, "-m", "cer.train", str(config), *map(str, overlays), "--output", str(run_dir),
               "--resume", "auto", "--set", f"train.seed={seed}"]
        for o in overrides:
            cmd += ["--set", o]
        if subprocess.run(cmd).returncode != 0:
            failed.append(f"{config.stem} seed {seed}")
        write_tables(out, list(configs), seeds, overlays, overrides)
    click.echo(write_tables(out, list(configs), seeds, overlays, overrides))
    if failed:
        raise click.ClickException(f"{len(failed)} run(s) failed: {', '.join(failed)} (re-run to retry them)")
