"""K-fold cross-validation of one config for every task (paper 001 sec. 4.3), and the models 001
ensembles (sec. 3.3): ``mtl folds`` and ``cer folds`` are this runner with a :class:`FoldKind` each.

Fold k trains with ``data.folds=K data.fold=k`` (the task splits its training data by video or
subject, :mod:`cer.data.folds`, and validates on the part held out) into ``OUT/fold<k>``; with
``--full`` (default) ``OUT/full`` trains on all of it and validates on ``data.val``. Each run is its
own process on the sweep runner (:func:`cer.sweep.train_run`): a finished run is skipped and an
unfinished one resumes, so re-invoking the command completes an interrupted cross-validation.
``OUT/folds.json`` records the settings; other ones for the same OUT are refused, as fold k of
another split is another model.

Then each fold's best model is scored on what it held out (and the full model on ``data.val``) into
``OUT/folds.md`` and ``OUT/folds.csv``: per fold the kind's metrics, their mean ± std over the folds,
and the full model's row apart (other data). The cross-validation mean estimates how one model of
this config does; the command prints the lines that ensemble the fold models and the full model.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import click

from cer.sweep import SweepKind, claim_out, final_metrics, mean_std, run_settings, shown_mean, train_run

RECORD = "folds.json"
FULL = "full"


@dataclass(frozen=True)
class FoldRun:
    """One run of the cross-validation: its table label, folder, ``--set`` overrides and what it is
    scored on."""

    label: str
    folder: Path
    overrides: tuple[str, ...]
    scored_on: str


@dataclass(frozen=True)
class FoldKind:
    """What differs between the cross-validations of two tasks.

    Attributes:
        command: the command's name in messages (``mtl folds``).
        sweep: how a run is trained (its module) and which metric says it finished.
        load: ``(config, overrides)``: load the config as a run would, raising ``ConfigError``.
        score: ``(run folder) -> (count, {metric: value})``: its best model scored on the data it
            validated on (held-out fold, or data.val for the full model).
        metrics: ``(key of score's dict, column title)``.
        unit: what ``count`` counts (the table's column title), e.g. ``frames``.
        ensemble: ``(runs, full model first) -> command lines`` that ensemble them.
    """

    command: str
    sweep: SweepKind
    load: Callable[[Path, Sequence[str]], object]
    score: Callable[[Path], tuple[int, dict[str, float]]]
    metrics: tuple[tuple[str, str], ...]
    unit: str
    ensemble: Callable[[Sequence[FoldRun]], list[str]]


# The keys the command sets itself; a --set of one would silently make the folds something else.
OWN_KEYS = {"data.folds": "--folds", "data.fold": "the fold of each run", "data.fold_seed": "--fold-seed",
            "train.seed": "--seed"}


def fold_runs(out: Path, folds: int, full: bool, seed: int, fold_seed: int, overrides: Sequence[str]) -> list[FoldRun]:
    """Every run: the folds in order, then the full model."""
    runs = [FoldRun(f"fold{k}", out / f"fold{k}", (f"train.seed={seed}", f"data.folds={folds}", f"data.fold={k}",
                                                 f"data.fold_seed={fold_seed}", *overrides), f"held-out fold {k}")
            for k in range(folds)]
    if full:
        runs.append(FoldRun(FULL, out / FULL, (f"train.seed={seed}", *overrides), "data.val"))
    return runs


def full_model_first(runs: Sequence[FoldRun]) -> list[FoldRun]:
    return sorted(runs, key=lambda r: r.label != FULL)


def check_overrides(command: str, overrides: Sequence[str]) -> None:
    for o in overrides:
        key = o.partition("=")[0].strip()
        if key in OWN_KEYS:
            raise click.UsageError(f"--set {o}: {command} sets {key} itself ({OWN_KEYS[key]}); drop the --set")


def write_fold_tables(out: Path, rows: Sequence[dict], metrics: Sequence[tuple[str, str]], unit: str) -> str:
    """``folds.csv`` (the folds, then their mean and std, then the full model) and ``folds.md``;
    returns the Markdown. ``rows``: ``{"run", "scored on", unit: count, metric: value}`` per run scored."""
    keys = [k for k, _ in metrics]
    folds = [r for r in rows if r["run"] != FULL]
    full = [r for r in rows if r["run"] == FULL]
    values = {k: [float(r[k]) for r in folds if k in r] for k in keys}
    summary = {k: mean_std(values[k]) for k in keys}
    count = sum(int(r[unit]) for r in folds)  # the folds partition the training data: each item once
    held_out = {"run": "mean", "scored on": "held-out folds"}
    table = [*folds, {**held_out, unit: count, **{k: summary[k][0] for k in keys}},
             {**held_out, "run": "std", **{k: summary[k][1] for k in keys}}, *full]
    with (out / "folds.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["run", "scored on", unit, *keys], restval="")
        writer.writeheader()
        writer.writerows(table)

    def line(cells: Sequence[object]) -> str:
        return "| " + " | ".join(map(str, cells)) + " |"

    def run_line(r: dict) -> str:
        return line([r["run"], r["scored on"], r[unit], *(f"{r[k]:.4f}" if k in r else "-" for k in keys)])

    lines = [line(["run", "scored on", unit, *(title for _, title in metrics)]), "|" + " --- |" * (3 + len(keys))]
    lines += [run_line(r) for r in folds]
    lines.append(line([f"mean ± std of {len(folds)} folds", "held-out folds", count,
                       *(shown_mean(*summary[k], len(values[k])) for k in keys)]))
    lines += [run_line(r) for r in full]  # below the mean, not in it: the full model is scored on other data
    md = "\n".join(lines) + "\n"
    (out / "folds.md").write_text(md)
    return md


def cross_validate(kind: FoldKind, config: Path, folds: int, seed: int, fold_seed: int, full: bool,
                   out: Path | None, overrides: Sequence[str]) -> None:
    """Train every fold (and the full model), score them, write and print the tables and the
    ensemble lines; raise ``click.ClickException`` naming the runs that failed."""
    from cer.config import ConfigError

    check_overrides(kind.command, overrides)
    out = out or Path("runs") / "folds" / config.stem
    runs = fold_runs(out, folds, full, seed, fold_seed, overrides)
    try:  # a config that does not load fails now, not after the first fold has trained
        for run in runs:
            kind.load(config, run.overrides)
    except ConfigError as err:
        raise click.UsageError(str(err)) from None
    out.mkdir(parents=True, exist_ok=True)
    # --full is not recorded: adding or leaving out the full model leaves the folds the same models.
    claim_out(out, run_settings((), [f"data.folds={folds}", f"data.fold_seed={fold_seed}", f"train.seed={seed}",
                                     *overrides]), RECORD)
    failed = [run.label for i, run in enumerate(runs, 1)
              if train_run(kind.sweep, config, (), run.folder, run.overrides,
                           f"[{i}/{len(runs)}] {run.label}") is False]
    rows = []
    for run in runs:
        if (final_metrics(run.folder) or {}).get(kind.sweep.metrics[0][0]) is None:
            continue  # failed or interrupted: its best/ (if any) is of an unfinished run
        count, scores = kind.score(run.folder)
        rows.append({"run": run.label, "scored on": run.scored_on, kind.unit: count,
                     **{k: scores[k] for k, _ in kind.metrics if k in scores}})
    if rows:
        click.echo(write_fold_tables(out, rows, kind.metrics, kind.unit))
        click.echo(f"-> {out / 'folds.md'}, {out / 'folds.csv'}")
        click.echo("The ensemble of these models (paper 001 sec. 3.3):")
        for line in kind.ensemble(full_model_first(runs)):
            click.echo(f"  {line}")
    if failed:
        raise click.ClickException(f"{len(failed)} run(s) failed: {', '.join(failed)} (re-run to retry them)")


def folds_options(what: str, example_set: str) -> Callable:
    """The options every folds command takes (CONFIG, --folds, --seed, --fold-seed, --full, --out, --set)."""
    def decorate(command: Callable) -> Callable:
        for option in reversed([
            click.argument("config", type=click.Path(exists=True, dir_okay=False, path_type=Path)),
            click.option("--folds", type=click.IntRange(min=2), default=5, show_default=True,
                         help=f"K: the {what} are split into K folds; fold k trains on the others (data.folds=K, "
                              "data.fold=k)."),
            click.option("--seed", type=int, default=0, show_default=True, help="train.seed of every run."),
            click.option("--fold-seed", type=int, default=0, show_default=True,
                         help="data.fold_seed: how the videos or subjects are dealt into folds."),
            click.option("--full/--no-full", default=True, show_default=True,
                         help="Also train the full model (all the training data, validated on data.val), which "
                              "001 ensembles with the fold models."),
            click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
                         help="Folder for the runs (OUT/fold<k>, OUT/full), folds.md, folds.csv and folds.json "
                              "(default: runs/folds/<CONFIG name>)."),
            click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
                         help=f"Override applied to every run, e.g. --set {example_set}. Repeatable."),
        ]):
            command = option(command)
        return command
    return decorate
