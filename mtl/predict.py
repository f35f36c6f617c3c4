"""``mtl predict RUN... [--ensemble RUN,RUN...]``: the MTL challenge submission file, from the best
run of each task or from ensembles of runs.

Each ``--ensemble`` (its runs train the same tasks; paper 001 sec. 3.3, :mod:`mtl.ensemble`)
predicts every task its runs train. For each task no ensemble predicts, the run is chosen among
RUNS by the validation metric it recorded at its best epoch (ties go to the newest). The file::

    image,valence,arousal,expression,aus
    video/00001.jpg,0.123,-0.045,4,0,0,1,0,0,0,1,0,0,0,1,0

holds one row per frame in input order: valence and arousal in [-1, 1], the expression index
(0 Neutral ... 7 Other, Aff-Wild2 order) and the 12 AU occurrences (AU1 ... AU26).
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import Any

import click
import numpy as np

from cer.data.record import FaceRecord
from mtl.evaluate import combine_option
from mtl.sequences import video_of

HEADER = ("image", "valence", "arousal", "expression", "aus")
TASK_ORDER = ("v", "a", "expr", "au")


def choose_runs(runs: Sequence[str | Path], au_threshold: str = "0.5",
                tasks: Sequence[str] = TASK_ORDER) -> dict[str, Path]:
    """``{task: model folder}``: the best of ``runs`` for each of ``tasks`` (AU: by F1 at 0.5 or tuned).

    Raises:
        click.UsageError: some task is trained by none of the runs.
    """
    from mtl.runs import best_run_for, finished_run

    finished = [finished_run(r) for r in runs]
    chosen, missing = {}, []
    for task in tasks:
        best = best_run_for([task], finished, au_threshold="tune" if au_threshold == "tune" else 0.5)
        if best is None:
            missing.append(task)
        else:
            chosen[task] = best.folder
    if missing:
        raise click.UsageError(f"no run or --ensemble given predicts {', '.join(missing)}: the submission needs all "
                               "four tasks; add a run trained on them (e.g. mtl train --joint au,expr,va)")
    return chosen


@dataclass(frozen=True)
class Source:
    """What predicts some tasks of the submission: one run (``rule`` None) or an ensemble of runs."""

    members: tuple[Path, ...]
    tasks: tuple[str, ...]
    rule: str | None = None

    def __str__(self) -> str:
        if self.rule is None:
            return str(self.members[0])
        return f"ensemble[{self.rule}] of {', '.join(map(str, self.members))}"


def plan_sources(runs: Sequence[str | Path], ensembles: Sequence[Sequence[str]], rule: str,
                 au_threshold: str = "0.5") -> list[Source]:
    """Who predicts each task: every ensemble the tasks its runs train, the best of ``runs`` the rest.

    Raises:
        click.UsageError: two ensembles predict the same task, a task nobody predicts, or tuned AU
            thresholds asked of an ensemble (the members' were tuned for each member alone).
    """
    from mtl.runs import read_meta

    sources: list[Source] = []
    claimed: dict[str, str] = {}
    for members in ensembles:
        # The first member's tasks; predict_ensemble refuses members that train other ones.
        tasks = tuple(read_meta(members[0])[1]["architecture"]["tasks"])
        named = ",".join(members)
        twice = [t for t in tasks if t in claimed]
        if twice:
            raise click.UsageError(f"--ensemble {named} and --ensemble {claimed[twice[0]]} both predict "
                                   f"{', '.join(twice)}: give each task one ensemble")
        if "au" in tasks and au_threshold == "tune":
            raise click.UsageError(f"--au-thresholds tune: AU comes from --ensemble {named}, which has no tuned "
                                   "thresholds (its members' were tuned for each member alone); use "
                                   "--au-thresholds 0.5")
        claimed.update(dict.fromkeys(tasks, named))
        sources.append(Source(tuple(Path(m) for m in members), tasks, rule))
    rest = [t for t in TASK_ORDER if t not in claimed]
    if rest:
        by_run: dict[Path, list[str]] = {}
        for task, folder in choose_runs(runs, au_threshold, rest).items():
            by_run.setdefault(folder, []).append(task)
        sources += [Source((folder,), tuple(tasks)) for folder, tasks in by_run.items()]
    return sources


def source_sigmas(sources: Sequence[Source], explicit: dict[str, float],
                  smoothing: str | Path | None) -> dict[Source, dict[str, float]]:
    """The smoothing sigma of each source's tasks: ``explicit`` (``--sigma``), else the source's entry
    of the ``smoothing`` file, else 0 (none) when no file is given.

    Raises:
        click.UsageError: a malformed file, or a source with a task set by neither.
    """
    from mtl.smoothing_file import read_smoothing, sigmas_for

    if smoothing is None:
        return {s: {t: explicit.get(t, 0.0) for t in s.tasks} for s in sources}
    try:
        entries = read_smoothing(smoothing)
        return {s: sigmas_for(entries, smoothing, s.members, s.rule, s.tasks, explicit) for s in sources}
    except ValueError as err:
        raise click.UsageError(f"--smoothing {err}") from None


def source_predictions(source: Source, records: Sequence[FaceRecord], batch_frames: int
                       ) -> tuple[dict[str, np.ndarray], Any, np.ndarray | None]:
    """``(preds, split frames, tuned AU thresholds or None)`` of ``source`` on ``records``."""
    from mtl.evaluate import predict_group

    preds, frames, _, meta = predict_group(source.members, records, source.rule or "vote", source.tasks,
                                           batch_frames)
    tuned = meta.get("au_thresholds")  # an ensemble's meta is empty: no tuned thresholds
    return preds, frames, None if tuned is None else np.asarray(tuned)


def submission_rows(records: Sequence[FaceRecord], values: dict[str, np.ndarray]) -> list[list[str]]:
    """Rows of the file, ``values[task]`` aligned with ``records`` (AU: 0/1 already thresholded)."""
    rows = []
    for i, r in enumerate(records):
        aus = [str(int(x)) for x in values["au"][i]]
        rows.append([f"{video_of(r)}/{PurePath(r.image).name}", f"{values['v'][i]:.4f}", f"{values['a'][i]:.4f}",
                     str(int(values["expr"][i])), *aus])
    return rows


def write_submission(path: Path, rows: Sequence[Sequence[str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(HEADER)
        writer.writerows(rows)


def read_image_list(path: Path, root: Path) -> list[FaceRecord]:
    """Frames named one per line (``video/00001.jpg``, relative to ``root/cropped_aligned``; an
    ``image`` header line is skipped)."""
    records = []
    for line in path.read_text().splitlines():
        name = line.split(",")[0].strip()
        if not name or name == "image":
            continue
        records.append(FaceRecord(image=str(root / "cropped_aligned" / name), video=PurePath(name).parent.name))
    return records


@click.command("predict", context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("runs", nargs=-1, type=click.Path(exists=True, file_okay=False))
@click.option("--ensemble", "ensembles", multiple=True, metavar="RUN,RUN,...",
              help="Predict the tasks these runs train (all the same tasks) as one model (paper 001 sec. 3.3), "
                   "e.g. the fold models and the full model of `mtl folds`; repeatable, one ensemble per task "
                   "set. A task an ensemble predicts is not taken from RUNS.")
@combine_option
@click.option("--out", type=click.Path(dir_okay=False), required=True, help="The submission file to write.")
@click.option("--data", type=click.Path(exists=True, file_okay=False), default=None,
              help="s-Aff-Wild2 root (default: the validation data of the first run, of RUNS or else of the "
                   "first --ensemble).")
@click.option("--split", default="validation", show_default=True, help="Split of --data to predict.")
@click.option("--images", "image_list", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Predict the frames listed in this file (video/NNNNN.jpg per line, under --data/cropped_aligned) "
                   "instead of a split, e.g. a test set without labels.")
@click.option("--au-thresholds", type=click.Choice(["0.5", "tune"]), default="0.5", show_default=True,
              help="AU thresholds: 0.5, or the per-AU ones tuned on validation by the chosen AU run "
                   "(not for an ensemble: its members' thresholds were tuned for each alone).")
@click.option("--sigma", "sigma_values", multiple=True, metavar="TASK=SIGMA",
              help="Gaussian smoothing of a task's per-frame outputs along each video (paper 001 sec. 3.4), "
                   "before thresholds and argmax: au, expr, v, a or va; repeatable; sigma in frames, 0 = none. "
                   "Overrides --smoothing for that task.")
@click.option("--smoothing", "smoothing_path", type=click.Path(exists=True, dir_okay=False), default=None,
              help="The smoothing.json `mtl evaluate --tune-sigma` wrote: each run or ensemble's outputs are smoothed "
                   "with the sigmas evaluate used for it (the same runs, paths as given to evaluate, from the "
                   "same folder). --sigma overrides a task.")
@click.option("--batch-frames", default=256, show_default=True, help="Frames per forward pass.")
def predict(runs: tuple[str, ...], ensembles: tuple[str, ...], rule: str, out: str, data: str | None, split: str,
            image_list: str | None, au_thresholds: str, sigma_values: tuple[str, ...], smoothing_path: str | None,
            batch_frames: int) -> None:
    """Write the MTL submission (image,valence,arousal,expression,aus) from the --ensemble runs and
    the best of RUNS per task.

    \b
    Examples:
      mtl predict runs/mtl/* --out submission.csv --sigma au=2 --sigma va=8
      mtl predict runs/mtl/* --out submission.csv --smoothing runs/mtl/au/eval/smoothing.json
      mtl predict --ensemble runs/folds/full,runs/folds/fold0,runs/folds/fold1 --out submission.csv
    """
    from mtl.evaluate import ensemble_members, parse_sigmas, smoothed, validation_records
    from mtl.runs import read_meta

    if not runs and not ensembles:
        raise click.UsageError("give one or more RUN folders or --ensemble RUN,RUN")
    sources = plan_sources(runs, [ensemble_members(e) for e in ensembles], rule, au_thresholds)
    sigmas = source_sigmas(sources, parse_sigmas(sigma_values), smoothing_path)  # before the slow part
    if image_list is not None:
        if data is None:
            raise click.UsageError("--images needs --data (the root holding cropped_aligned/)")
        records = read_image_list(Path(image_list), Path(data))
    else:
        first = runs[0] if runs else sources[0].members[0]
        records = validation_records(read_meta(first)[1], data, "aff-wild2-mtl", split)
    records = list({r.key: r for r in records}.values())  # a frame listed twice is predicted once
    position = {r.key: i for i, r in enumerate(records)}
    values: dict[str, np.ndarray] = {}
    for source in sources:
        tasks = list(source.tasks)
        preds, frames, tuned = source_predictions(source, records, batch_frames)
        if any(sigmas[source].values()):
            preds, _ = smoothed(preds, frames, tasks, sigmas[source], None)
        order = np.array([position[r.key] for r in frames.records])
        for task in tasks:
            value = np.empty_like(preds[task])
            value[order] = preds[task]
            values[task] = value
        if "au" in tasks:
            if au_thresholds == "tune" and tuned is None:
                raise click.UsageError(f"{source} recorded no tuned AU thresholds; use --au-thresholds 0.5")
            # An ensemble's vote is 0/1 already, which 0.5 reads back unchanged.
            threshold = tuned if au_thresholds == "tune" else 0.5
            values["au"] = (values["au"] >= threshold).astype(int)
        if "expr" in tasks:
            values["expr"] = values["expr"].argmax(1)  # a vote's one-hot, or probabilities
        used = ", ".join(f"{t}={sigma:g}" for t, sigma in sigmas[source].items() if sigma)
        click.echo(f"{', '.join(tasks)} from {source}" + (f" (smoothing sigma {used})" if used else ""))
    write_submission(Path(out), submission_rows(records, values))
    click.echo(f"{len(records)} frames -> {out}")
