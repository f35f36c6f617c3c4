"""``mtl evaluate RUN... [--ensemble RUN,RUN...]``: P_MTL and its parts on a validation set, per run
(or ensemble of runs, :mod:`mtl.ensemble`) and combined.

The paper's MTL result combines the best model of each task (002, Table 1): with several runs,
each part of P_MTL (CCC_V, CCC_A, F1_EXPR, F1_AU) is taken from the run (or ensemble) that scores
best on it.
Sequence outputs are expanded back to frames first, so every validation frame counts once.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
import numpy as np

from cer.data.record import FaceRecord

PARTS = {"v": "ccc_v", "a": "ccc_a", "expr": "f1_expr", "au": "f1_au"}


def predict_run(path: str | Path, records: Sequence[FaceRecord], tasks: Sequence[str] | None = None,
                batch_frames: int = 256, progress: bool = True) -> tuple[dict[str, np.ndarray], Any, dict[str, Any]]:
    """Run a trained MTL model over ``records``.

    Returns:
        ``{task: [N, ...]}`` decoded predictions in the order of ``split.records`` (videos, then
        frames), the :class:`mtl.data.SplitFrames` (labels included), and the model's metadata.
    """
    import torch
    from torch.utils.data import DataLoader

    from mtl.affect_tasks import task_registry
    from mtl.data import SplitFrames, WindowDataset
    from mtl.extra_features import FrameFeatures
    from mtl.extract import cached_features
    from mtl.inference import frame_predictions
    from mtl.runs import FrozenExtractor, load_mtl
    from mtl.sequences import evaluation_windows

    model, meta = load_mtl(path)
    arch, seq = meta["architecture"], meta["sequence"]["length"]
    tasks = list(tasks or arch["tasks"])
    # the extra streams it was trained with, read for these frames at the width it learnt
    extra = [FrameFeatures(e["path"], e["name"], e["dim"]) for e in meta.get("extra", [])]
    split = SplitFrames(records, tasks, arch["img_size"], cache_images=True, desc="frames", extra=extra)
    features = []
    for fused in meta["fuse"]:
        extractor = FrozenExtractor(fused["run"])
        if extractor.fingerprint != fused["fingerprint"]:
            click.echo(f"warning: {fused['run']} has other weights than when this model was trained; its "
                       "features differ from those the fusion module learned on", err=True)
        features.append(cached_features(extractor, split.records, batch_frames, progress))
    split.attach_features(features)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    loader = DataLoader(WindowDataset(split, evaluation_windows(split.videos.bounds, seq)),
                        batch_size=max(1, batch_frames // seq))
    preds = frame_predictions(model.to(device), loader, tasks, len(split), meta["mean"], meta["std"],
                              registry=task_registry(model.arch.au_probabilities))
    return preds, split, meta


def validation_records(meta: dict[str, Any], data: str | None, reader: str, split: str) -> list[FaceRecord]:
    """The frames to evaluate on: ``data`` if given, else the validation frames the run was trained
    with (its validation source, or its held-out fold)."""
    from cer.data.source import DataSource
    from cer.synth.sources import read_data, synthetic_settings

    config = meta.get("config", {})
    cfg = config.get("data", {})
    if data is not None:
        return read_data(DataSource(reader, data, {"split": split}), synthetic_settings(cfg))
    if cfg.get("folds") is not None:  # a cross-validation run: its held-out fold, split as training split it
        from cer.config import from_dict
        from mtl.config import MTLConfig
        from mtl.task import train_and_val_records

        return train_and_val_records(from_dict(MTLConfig, config, "the run's stored config"))[1]
    val = cfg.get("val") or {"reader": "aff-wild2-mtl", "path": None, "options": {"split": "validation"}}
    return read_data(DataSource(val["reader"], val.get("path"), dict(val.get("options", {}))), synthetic_settings(cfg))


def combine(per_run: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """P_MTL from the best run of each part: ``{part: value, part + '_run': run, p_mtl, p_mtl_tuned}``."""
    combined: dict[str, Any] = {}
    for part in ("ccc_v", "ccc_a", "f1_expr", "f1_au"):
        having = {run: s for run, s in per_run.items() if part in s}
        if not having:
            combined[part] = 0.0
            combined[f"{part}_run"] = None
            continue
        best = max(having, key=lambda run: having[run][part])
        combined[part], combined[f"{part}_run"] = having[best][part], best
        if part == "f1_au":
            tuned = max(having, key=lambda run: having[run]["f1_au_tuned"])
            combined["f1_au_tuned"], combined["f1_au_tuned_run"] = having[tuned]["f1_au_tuned"], tuned
    base = (combined["ccc_v"] + combined["ccc_a"]) / 2 + combined["f1_expr"]
    combined["p_mtl"] = base + combined["f1_au"]
    combined["p_mtl_tuned"] = base + combined.get("f1_au_tuned", 0.0)
    return combined


def _line(label: str, scores: dict[str, Any]) -> str:
    shown = "  ".join(f"{k}={scores[k]:.4f}" for k in ("ccc_v", "ccc_a", "f1_expr", "f1_au", "f1_au_tuned",
                                                       "p_mtl", "p_mtl_tuned") if k in scores)
    return f"{label}: {shown}"


def predict_ensemble(members: Sequence[str | Path], records: Sequence[FaceRecord], rule: str,
                     batch_frames: int = 256) -> tuple[dict[str, np.ndarray], Any, list[str]]:
    """The combined predictions of ``members`` (run folders that train the same tasks) on ``records``
    (:mod:`mtl.ensemble`): ``(preds, split frames, tasks)``.

    Raises:
        click.UsageError: the members train different tasks.
    """
    from mtl.ensemble import combine_members
    from mtl.runs import read_meta

    tasks_of = {str(m): list(read_meta(m)[1]["architecture"]["tasks"]) for m in members}
    first = str(members[0])
    for member, tasks in tasks_of.items():
        if tasks != tasks_of[first]:
            raise click.UsageError(
                f"ensemble {','.join(map(str, members))}: {member} trains {','.join(tasks)} but {first} trains "
                f"{','.join(tasks_of[first])}; an ensemble's members must train the same tasks: give runs of "
                "other tasks their own --ensemble")
    outputs, frames = [], None
    for member in members:
        preds, member_frames, _ = predict_run(member, records, batch_frames=batch_frames)
        if frames is not None and member_frames.keys() != frames.keys():
            raise ValueError(f"{member} predicted other frames than {first}")  # same records, same order
        outputs.append(preds)
        frames = member_frames
    return combine_members(outputs, tasks_of[first], rule), frames, tasks_of[first]


def predict_group(members: Sequence[str | Path], records: Sequence[FaceRecord], rule: str = "vote",
                  tasks: Sequence[str] | None = None, batch_frames: int = 256
                  ) -> tuple[dict[str, np.ndarray], Any, list[str], dict[str, Any]]:
    """``(preds, split frames, tasks, model.json)`` of one run (``members`` of one; ``tasks``: a subset
    of its tasks, default all) or of an ensemble combined by ``rule`` (all its tasks; model.json ``{}``)."""
    if len(members) == 1:
        preds, frames, meta = predict_run(members[0], records, tasks, batch_frames)
        return preds, frames, list(tasks or meta["architecture"]["tasks"]), meta
    preds, frames, ensemble_tasks = predict_ensemble(members, records, rule, batch_frames)
    return preds, frames, list(ensemble_tasks), {}


def ensemble_members(value: str) -> list[str]:
    """The run folders of one ``--ensemble`` value (comma-separated), each checked to exist."""
    members = [m.strip() for m in value.split(",") if m.strip()]
    if len(members) < 2:
        raise click.UsageError(f"--ensemble {value}: name two or more run folders, comma-separated")
    missing = [m for m in members if not Path(m).is_dir()]
    if missing:
        raise click.UsageError(f"--ensemble {value}: no run folder {', '.join(missing)}")
    return members


# The --combine option of every command that takes --ensemble (evaluate, predict), so both read it alike.
combine_option = click.option(
    "--combine", "rule", type=click.Choice(["vote", "mean"]), default="vote", show_default=True,
    help="How an ensemble combines AU and EXPR: majority vote of the members' decisions (ties: the higher mean "
         "probability) or mean probabilities. V/A: always the mean.")


def parse_sigmas(values: Sequence[str]) -> dict[str, float]:
    """``--sigma TASK=SIGMA`` values -> ``{task: sigma}`` (``va=S`` sets v and a)."""
    from mtl.affect_tasks import parse_tasks

    sigmas: dict[str, float] = {}
    for value in values:
        name, sep, number = value.partition("=")
        try:
            sigma = float(number)
            tasks = parse_tasks(name)
        except ValueError as err:
            raise click.UsageError(f"--sigma {value}: expected TASK=SIGMA, e.g. au=2 or va=4 ({err})") from None
        if not sep or not sigma >= 0 or not np.isfinite(sigma):
            raise click.UsageError(f"--sigma {value}: expected TASK=SIGMA with SIGMA >= 0 frames, e.g. au=2")
        sigmas.update(dict.fromkeys(tasks, sigma))
    return sigmas


def parse_grid(text: str) -> list[float]:
    try:
        grid = [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        grid = []
    if not grid or any(not (g >= 0 and np.isfinite(g)) for g in grid):
        raise click.UsageError(f"--sigma-grid {text}: give sigmas >= 0 frames, comma-separated, e.g. 0,1,2,4,8")
    return grid


def smoothed(preds: dict[str, np.ndarray], frames: Any, tasks: Sequence[str], fixed: dict[str, float],
             grid: Sequence[float] | None) -> tuple[dict[str, np.ndarray], dict[str, float]]:
    """``preds`` smoothed per video (paper 001 sec. 3.4): the ``fixed`` sigmas, and the other tasks'
    tuned over ``grid`` on these frames' labels when ``grid`` is given; returns the sigmas used too."""
    from mtl.sequences import frame_number
    from mtl.smoothing import smooth_predictions, tune_sigmas

    bounds, numbers = frames.videos.bounds, np.array([frame_number(r) for r in frames.records])
    sigmas = {t: fixed.get(t, 0.0) for t in tasks}
    if grid is not None:
        sigmas.update(tune_sigmas(preds, frames.labels, [t for t in tasks if t not in fixed], bounds, numbers, grid))
    return smooth_predictions(preds, sigmas, bounds, numbers), sigmas


@dataclass(frozen=True)
class GroupScores:
    """A run or ensemble scored: its label (:func:`mtl.smoothing_file.group_label`), tasks, frame
    count, scalar scores (:func:`mtl.scores.score_frames`) and smoothing sigmas (None: unsmoothed)."""

    label: str
    tasks: list[str]
    frames: int
    scores: dict[str, float]
    sigmas: dict[str, float] | None = None


def score_group(members: Sequence[str | Path], data: str | None = None, reader: str = "aff-wild2-mtl",
                split: str = "validation", rule: str = "vote", batch_frames: int = 256,
                fixed_sigmas: dict[str, float] | None = None, grid: Sequence[float] | None = None) -> GroupScores:
    """One run (``members`` of one) or ensemble scored on ``data``'s ``split``, else on the validation
    frames of its first run, smoothed by ``fixed_sigmas`` and those tuned over ``grid`` if given."""
    from mtl.runs import read_meta
    from mtl.scores import score_frames
    from mtl.smoothing_file import group_label

    records = validation_records(read_meta(members[0])[1], data, reader, split)
    label = group_label(members, rule)
    preds, frames, tasks, _ = predict_group(members, records, rule, batch_frames=batch_frames)
    sigmas = None
    if fixed_sigmas or grid is not None:
        preds, sigmas = smoothed(preds, frames, tasks, fixed_sigmas or {}, grid)
    scores = score_frames(tasks, preds, frames.labels, 0.5)
    scalars = {k: v for k, v in scores.items() if isinstance(v, (int, float))}  # not the per-class arrays
    return GroupScores(label, list(tasks), len(frames), scalars, sigmas)


@click.command("evaluate", context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("runs", nargs=-1, type=click.Path(exists=True, file_okay=False))
@click.option("--ensemble", "ensembles", multiple=True, metavar="RUN,RUN,...",
              help="Evaluate these runs (trained on the same tasks) as one model (paper 001 sec. 3.3); repeatable, "
                   "one ensemble per task set. It is scored on the validation data of its first run.")
@combine_option
@click.option("--sigma", "sigma_values", multiple=True, metavar="TASK=SIGMA",
              help="Smooth TASK's per-frame outputs (au, expr, v, a, va) with a Gaussian of SIGMA frames within "
                   "each video before scoring (paper 001 sec. 3.4); repeatable. 0: none.")
@click.option("--tune-sigma", is_flag=True,
              help="Choose the sigma of every task not set by --sigma from --sigma-grid, by its score on the "
                   "evaluated frames (optimistic, like tuned AU thresholds). The sigmas used go to smoothing.json, "
                   "for mtl predict --smoothing.")
@click.option("--sigma-grid", default="0,1,2,4,8,16", show_default=True, help="Sigmas --tune-sigma tries (frames).")
@click.option("--data", type=click.Path(exists=True, file_okay=False), default=None,
              help="s-Aff-Wild2 root to evaluate on (default: each run's validation data).")
@click.option("--reader", default="aff-wild2-mtl", show_default=True, help="Reader of --data.")
@click.option("--split", default="validation", show_default=True, help="Split of --data.")
@click.option("--batch-frames", default=256, show_default=True, help="Frames per forward pass.")
@click.option("--out", type=click.Path(file_okay=False), default=None,
              help="Folder for metrics.json (default: the first run's eval/).")
def evaluate(runs: tuple[str, ...], ensembles: tuple[str, ...], rule: str, sigma_values: tuple[str, ...],
             tune_sigma: bool, sigma_grid: str, data: str | None, reader: str, split: str, batch_frames: int,
             out: str | None) -> None:
    """P_MTL and its parts (AU at 0.5 and with per-AU thresholds tuned on the same frames) for each
    RUN and each --ensemble, and for the combination of the best of them for each part."""
    from mtl.smoothing_file import write_smoothing

    if not runs and not ensembles:
        raise click.UsageError("give one or more RUN folders or --ensemble RUN,RUN")
    groups = [[run] for run in runs] + [ensemble_members(e) for e in ensembles]
    fixed_sigmas, grid = parse_sigmas(sigma_values), parse_grid(sigma_grid) if tune_sigma else None
    per_run: dict[str, dict[str, Any]] = {}
    sigmas_used: dict[str, dict[str, float]] = {}
    for members in groups:
        scored = score_group(members, data, reader, split, rule, batch_frames, fixed_sigmas, grid)
        if scored.sigmas is not None:
            sigmas_used[scored.label] = scored.sigmas
            click.echo(f"{scored.label}: smoothing sigma " + ", ".join(f"{t}={s:g}" for t, s in scored.sigmas.items()))
        per_run[scored.label] = scored.scores
        click.echo(_line(f"{scored.label} ({','.join(scored.tasks)}; {scored.frames} frames)", scored.scores))
    result: dict[str, Any] = {"runs": per_run}
    if len(per_run) > 1:
        result["combined"] = combine(per_run)
        click.echo(_line("combined (best run per part)", result["combined"]))
    folder = Path(out) if out else Path(groups[0][0]) / "eval"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "metrics.json").write_text(json.dumps(result, indent=1))
    click.echo(f"-> {folder / 'metrics.json'}")
    if sigmas_used:  # the sigmas per run and task, for mtl predict --smoothing
        click.echo(f"-> {write_smoothing(folder, sigmas_used)}")
