"""``cer ablate``: run each config for each seed and tabulate mean ± std macro F1 (Tables 4 and 6 of 002).

Each run is its own process (``python -m cer.train``), so one crashed run is reported and the
others go on; a run whose ``report/final_metrics.json`` exists is skipped, and an unfinished one
resumes from its last checkpoint, so re-invoking the same command completes an interrupted table.
Seed 0 of every config runs before any config's seed 1 (a table of 8 curricula x 3 seeds is hours
of CPU: interrupted, it should have a row for every config), and the tables are rewritten after
every run.
"""

from __future__ import annotations

import csv
import json
import statistics
import subprocess
import sys
from pathlib import Path

import click


def run_folder(out: Path, config: Path, seed: int) -> Path:
    return out / config.stem / f"seed{seed}"


def final_f1(run_dir: Path) -> float | None:
    f = run_dir / "report" / "final_metrics.json"
    return json.loads(f.read_text()).get("val_f1") if f.is_file() else None


def describe(config: Path) -> dict[str, str]:
    """The curriculum and synthesis settings of ``config`` as the table shows them."""
    from cer.compound.config import CEConfig
    from cer.config import load_config

    cfg = load_config(CEConfig, [config])
    return {"epochs": str(list(cfg.curriculum.epochs)), "compound": str(list(cfg.curriculum.compound)),
            "mode": cfg.curriculum.mode, "ops": "+".join(cfg.synthesis.ops)}


def write_tables(out: Path, configs: list[Path], seeds: int) -> str:
    """``ablation.csv`` and ``ablation.md``; returns the Markdown."""
    rows = []
    for config in configs:
        scores = [final_f1(run_folder(out, config, s)) for s in range(seeds)]
        done = [s for s in scores if s is not None]
        mean = statistics.mean(done) if done else float("nan")
        std = statistics.stdev(done) if len(done) > 1 else 0.0
        rows.append({"config": config.stem, **describe(config), "runs": len(done), "mean_f1": mean, "std_f1": std,
                     "per_seed": " ".join("-" if s is None else f"{s:.4f}" for s in scores)})
    with (out / "ablation.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    lines = ["| config | epochs | compound | mode | synthesis | runs | macro F1 (mean ± std) | per seed |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        # No spread from fewer than two runs: "± 0" would claim one.
        f1 = {0: "-", 1: f"{r['mean_f1']:.4f}"}.get(r["runs"], f"{r['mean_f1']:.4f} ± {r['std_f1']:.4f}")
        lines.append(f"| {r['config']} | {r['epochs']} | {r['compound']} | {r['mode']} | {r['ops']} | {r['runs']} | "
                     f"{f1} | {r['per_seed']} |")
    md = "\n".join(lines) + "\n"
    (out / "ablation.md").write_text(md)
    return md


@click.command("ablate", context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("configs", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--seeds", default=3, show_default=True, help="Seeds per config (0, 1, ..., N-1).")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Folder for the runs (OUT/<config>/seed<k>) and the tables.")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override applied to every run, e.g. --set data.limit=500. Repeatable.")
def ablate(configs: tuple[Path, ...], seeds: int, out: Path, overrides: tuple[str, ...]) -> None:
    """Train every CONFIG with every seed, then write OUT/ablation.md and OUT/ablation.csv."""
    out.mkdir(parents=True, exist_ok=True)
    failed = []
    jobs = [(c, s) for s in range(seeds) for c in configs]
    for i, (config, seed) in enumerate(jobs, 1):
        run_dir = run_folder(out, config, seed)
        if final_f1(run_dir) is not None:
            click.echo(f"[{i}/{len(jobs)}] {config.stem} seed {seed}: done, skipped")
            continue
        click.echo(f"[{i}/{len(jobs)}] {config.stem} seed {seed} -> {run_dir}")
        cmd = [sys.executable, "-m", "cer.train", str(config), "--output", str(run_dir), "--resume", "auto",
               "--set", f"train.seed={seed}"]
        for o in overrides:
            cmd += ["--set", o]
        if subprocess.run(cmd).returncode != 0:
            failed.append(f"{config.stem} seed {seed}")
        write_tables(out, list(configs), seeds)
    click.echo(write_tables(out, list(configs), seeds))
    if failed:
        raise click.ClickException(f"{len(failed)} run(s) failed: {', '.join(failed)} (re-run to retry them)")
