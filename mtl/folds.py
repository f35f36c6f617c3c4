"""``mtl folds CONFIG --folds K``: K-fold cross-validation of one MTL config (paper 001 sec. 4.3),
and the models 001 ensembles (sec. 3.3).

Fold k trains on the other folds of ``data.train`` split by video (``data.folds=K data.fold=k``,
:mod:`cer.data.folds`) into ``OUT/fold<k>``; with ``--full`` (default) ``OUT/full`` trains on all of
``data.train`` and validates on ``data.val``. Each run is its own process on the runner of
``mtl ablate`` (:func:`cer.sweep.train_run`): a finished run is skipped and an unfinished one
resumes, so re-invoking the command completes an interrupted cross-validation. ``OUT/folds.json``
records the settings; other ones for the same OUT are refused, as fold k of another split is
another model.

Then each fold's best model is scored on the frames it held out (and the full model on
``data.val``), as ``mtl evaluate`` scores it, into ``OUT/folds.md`` and ``OUT/folds.csv``: per fold
P_MTL and its parts, their mean ± std over the folds, and the full model's row apart (other frames).
The cross-validation mean estimates how one model trained on this config does; the ensemble of the
fold models and the full model is scored with the ``mtl evaluate`` line the command prints.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import click

from cer.sweep import claim_out, final_metrics, mean_std, run_settings, shown_mean, train_run

RECORD = "folds.json"
FULL = "full"
# The keys mtl folds sets itself; a --set of one would silently make the folds something else.
OWN_KEYS = {"data.folds": "--folds", "data.fold": "the fold of each run", "data.fold_seed": "--fold-seed",
            "train.seed": "--seed"}


@dataclass(frozen=True)
class FoldRun:
    """One run of the cross-validation: its table label, folder, ``--set`` overrides and the frames
    it is scored on."""

    label: str
    folder: Path
    overrides: tuple[str, ...]
    scored_on: str


def fold_runs(out: Path, folds: int, full: bool, seed: int, fold_seed: int, overrides: Sequence[str]) -> list[FoldRun]:
    """Every run: the folds in order, then the full model."""
    runs = [FoldRun(f"fold{k}", out / f"fold{k}", (f"train.seed={seed}", f"data.folds={folds}", f"data.fold={k}",
                                                 f"data.fold_seed={fold_seed}", *overrides), f"held-out fold {k}")
            for k in range(folds)]
    if full:
        runs.append(FoldRun(FULL, out / FULL, (f"train.seed={seed}", *overrides), "data.val"))
    return runs


def check_overrides(overrides: Sequence[str]) -> None:
    for o in overrides:
        key = o.partition("=")[0].strip()
        if key in OWN_KEYS:
            raise click.UsageError(f"--set {o}: mtl folds sets {key} itself ({OWN_KEYS[key]}); drop the --set")


def write_fold_tables(out: Path, rows: Sequence[dict], metrics: Sequence[tuple[str, str]]) -> str:
    """``folds.csv`` (the folds, then their mean and std, then the full model) and ``folds.md``;
    returns the Markdown. ``rows``: ``{"run", "scored on", "frames", metric: value}`` per run scored."""
    keys = [k for k, _ in metrics]
    folds = [r for r in rows if r["run"] != FULL]
    full = [r for r in rows if r["run"] == FULL]
    values = {k: [float(r[k]) for r in folds if k in r] for k in keys}
    summary = {k: mean_std(values[k]) for k in keys}
    frames = sum(int(r["frames"]) for r in folds)  # the folds partition data.train: each frame once
    held_out = {"run": "mean", "scored on": "held-out folds"}
    table = [*folds, {**held_out, "frames": frames, **{k: summary[k][0] for k in keys}},
             {**held_out, "run": "std", **{k: summary[k][1] for k in keys}}, *full]
    with (out / "folds.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["run", "scored on", "frames", *keys], restval="")
        writer.writeheader()
        writer.writerows(table)

    def line(cells: Sequence[object]) -> str:
        return "| " + " | ".join(map(str, cells)) + " |"

    lines = [line(["run", "scored on", "frames", *(title for _, title in metrics)]), "|" + " --- |" * (3 + len(keys))]
    lines += [line([r["run"], r["scored on"], r["frames"], *(f"{r[k]:.4f}" if k in r else "-" for k in keys)])
              for r in folds]
    lines.append(line([f"mean ± std of {len(folds)} folds", "held-out folds", frames,
                       *(shown_mean(*summary[k], len(values[k])) for k in keys)]))
    # Below the mean, not in it: the full model is scored on other frames.
    lines += [line([r["run"], r["scored on"], r["frames"], *(f"{r[k]:.4f}" if k in r else "-" for k in keys)])
              for r in full]
    md = "\n".join(lines) + "\n"
    (out / "folds.md").write_text(md)
    return md


def ensemble_commands(runs: Sequence[FoldRun]) -> list[str]:
    """The ``mtl evaluate`` and ``mtl predict`` lines of the ensemble of ``runs`` (full model first)."""
    members = sorted(runs, key=lambda r: r.label != FULL)
    ensemble = ",".join(str(r.folder) for r in members)
    # An ensemble is scored on its first member's validation frames: the full model's data.val,
    # which no member trained on. A fold's held-out frames are training frames of the other folds.
    if members[0].label == FULL:
        evaluate = f"mtl evaluate {members[0].folder} --ensemble {ensemble} --combine vote"
    else:
        evaluate = (f"mtl evaluate --ensemble {ensemble} --combine vote --data ROOT   # ROOT: frames none of them "
                    f"trained on (without --data it scores {members[0].folder}'s held-out fold, which the other "
                    "folds trained on)")
    return [evaluate, f"mtl predict --ensemble {ensemble} --out submission.csv"]


@click.command("folds", context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("config", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--folds", type=click.IntRange(min=2), default=5, show_default=True,
              help="K: data.train is split by video into K folds; fold k trains on the others (data.folds=K, "
                   "data.fold=k).")
@click.option("--seed", type=int, default=0, show_default=True, help="train.seed of every run.")
@click.option("--fold-seed", type=int, default=0, show_default=True,
              help="data.fold_seed: how the videos are dealt into folds.")
@click.option("--full/--no-full", default=True, show_default=True,
              help="Also train the full model (all of data.train, validated on data.val), which 001 "
                   "ensembles with the fold models.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder for the runs (OUT/fold<k>, OUT/full), folds.md, folds.csv and folds.json "
                   "(default: runs/folds/<CONFIG name>).")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override applied to every run, e.g. --set epochs=4. Repeatable.")
@click.option("--batch-frames", default=256, show_default=True, help="Frames per forward pass when scoring.")
def folds(config: Path, folds: int, seed: int, fold_seed: int, full: bool, out: Path | None,
          overrides: tuple[str, ...], batch_frames: int) -> None:
    """Train CONFIG on each of --folds folds (and the full model), score each fold model on the
    frames it held out, and write OUT/folds.md and OUT/folds.csv (P_MTL and its parts per fold,
    mean ± std). Finished runs are skipped: re-run the same command to complete an interrupted one.

    \b
    Example:
      mtl folds mtl/overlays/paper_003.yaml --folds 5 --out runs/folds/003 --set tasks.joint=expr
    """
    from cer.config import ConfigError, load_config
    from mtl.ablate import MTL_SWEEP
    from mtl.config import MTLConfig
    from mtl.evaluate import score_group

    check_overrides(overrides)
    out = out or Path("runs") / "folds" / config.stem
    runs = fold_runs(out, folds, full, seed, fold_seed, overrides)
    try:  # a config that does not load fails now, not after the first fold has trained
        for run in runs:
            load_config(MTLConfig, [config], run.overrides)
    except ConfigError as err:
        raise click.UsageError(str(err)) from None
    out.mkdir(parents=True, exist_ok=True)
    # --full is not recorded: adding or leaving out the full model leaves the folds the same models.
    claim_out(out, run_settings((), [f"data.folds={folds}", f"data.fold_seed={fold_seed}", f"train.seed={seed}",
                                     *overrides]), RECORD)
    failed = [run.label for i, run in enumerate(runs, 1)
              if train_run(MTL_SWEEP, config, (), run.folder, run.overrides, f"[{i}/{len(runs)}] {run.label}") is False]
    metrics = [(key.removeprefix("val_"), title) for key, title in MTL_SWEEP.metrics]
    rows = []
    for run in runs:
        if (final_metrics(run.folder) or {}).get(MTL_SWEEP.metrics[0][0]) is None:
            continue  # failed or interrupted: its best/ (if any) is of an unfinished run
        scored = score_group([str(run.folder)], batch_frames=batch_frames)
        rows.append({"run": run.label, "scored on": run.scored_on, "frames": scored.frames,
                     **{k: scored.scores[k] for k, _ in metrics if k in scored.scores}})
    if rows:
        click.echo(write_fold_tables(out, rows, metrics))
        click.echo(f"-> {out / 'folds.md'}, {out / 'folds.csv'}")
        click.echo("The ensemble of these models (paper 001 sec. 3.3):")
        for line in ensemble_commands(runs):
            click.echo(f"  {line}")
    if failed:
        raise click.ClickException(f"{len(failed)} run(s) failed: {', '.join(failed)} (re-run to retry them)")
