"""Finished runs as things to fuse, extract from and combine: loading an exported MTL model, the frozen
extractor of any run (MTL or CE), and finding the best finished run of a task by name.

An MTL model folder (``RUN/best``) holds ``model.safetensors`` and ``model.json`` with
``"kind": "mtl"``, its architecture, the fused runs it needs, the validation metrics of the
epoch it was saved at (which is how the best run of a task is chosen without evaluating again), and
what each training source gave it (``sources``: frames, labelled frames per task; mtl/sources.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cer.models.trained import META, WEIGHTS, find_model_folder, load_backbone, load_trained, read_trained, save_trained
from mtl.affect_tasks import AFFECT_TASKS, parse_tasks
from mtl.frozen_backbone import FrozenBackbone
from mtl.model import MTLArchitecture, MTLModel, build_model

KIND = "mtl"


class RunNotFoundError(ValueError):
    """A ``--fuse`` item that names no usable run; the message says what to train or pass instead."""


def save_mtl(model: MTLModel, folder: Path, arch: MTLArchitecture, meta: dict[str, Any]) -> None:
    """Save an ``mtl`` model folder (``cer.models.trained``): its architecture, the backbone under ``backbone.``."""
    backbone = {"name": arch.backbone, "img_size": arch.img_size, "prefix": "backbone."}
    save_trained(model, folder, KIND, arch.to_dict(), backbone, meta)


def read_meta(path: str | Path) -> tuple[Path, dict[str, Any]]:
    """The model folder of ``path`` (a run folder of `mtl train` or its ``best/``) and its ``model.json``."""
    return read_trained(path, KIND, "an MTL command")


def load_mtl(path: str | Path) -> tuple[MTLModel, dict[str, Any]]:
    """Rebuild an MTL model saved by a run (its folder or ``best/``), in eval mode."""
    return load_trained(path, KIND, lambda arch: build_model(MTLArchitecture(**arch)), "an MTL command")


def features_folder(model_folder: Path) -> Path:
    """Where the features of a run's extractor are cached: ``RUN/features``."""
    return (model_folder.parent if model_folder.name == "best" else model_folder) / "features"


class FrozenExtractor(FrozenBackbone):
    """The pooled backbone feature of a finished run, frozen (its ``F_task`` in eq. 1 of 002).

    Takes uint8 ``[N, 3, H, W]`` images and does the run's own resizing and normalisation; the
    same module makes the cached features (``mtl extract``, in ``RUN/features``) and the live ones
    (``fuse.live``).
    """

    def __init__(self, run: str | Path):
        from mtl.feature_cache import file_fingerprint

        backbone, meta = load_backbone(run)  # the ViT of an MTL or CE run, without its heads
        folder = find_model_folder(run)
        super().__init__(backbone, meta["img_size"], meta["mean"], meta["std"], file_fingerprint(folder / WEIGHTS),
                         features_folder(folder), folder.parent.name)
        self.folder = folder


@dataclass(frozen=True)
class FinishedRun:
    """A run with an exported MTL model: its model folder, tasks and best-epoch metrics."""

    folder: Path
    tasks: tuple[str, ...]
    metrics: dict[str, float]

    def score(self, tasks: Sequence[str], au_threshold: float | str = "tune") -> float:
        """Its validation value for ``tasks``: the sum of their metrics, AU F1 with tuned thresholds
        (``"tune"``) or at the fixed one."""
        keys = ["f1_au_tuned" if t == "au" and au_threshold == "tune" else AFFECT_TASKS[t].metric for t in tasks]
        return sum(float(self.metrics.get(f"val_{k}", float("-inf"))) for k in keys)


def finished_run(path: str | Path) -> FinishedRun:
    folder, meta = read_meta(path)
    return FinishedRun(folder, tuple(meta["architecture"]["tasks"]), dict(meta.get("metrics", {})))


def discover_runs(search: str | Path) -> list[FinishedRun]:
    """Every run under ``search`` with an exported MTL model (``*/best/model.json``)."""
    root = Path(search)
    found = []
    for meta in sorted(root.rglob(f"best/{META}")) if root.is_dir() else []:
        try:
            found.append(finished_run(meta.parent))
        except (ValueError, FileNotFoundError, KeyError):
            continue  # a CE run, or a model folder being replaced right now
    return found


def best_run_for(tasks: Sequence[str], runs: Sequence[FinishedRun], prefer_exact: bool = False,
                 au_threshold: float | str = "tune") -> FinishedRun | None:
    """The run that scores best on ``tasks`` (:meth:`FinishedRun.score`) among those that trained
    them (ties: the newest); with ``prefer_exact``, among runs trained on exactly those tasks if any."""
    having = [r for r in runs if set(tasks) <= set(r.tasks)]
    exact = [r for r in having if set(r.tasks) == set(tasks)]
    pool = (exact or having) if prefer_exact else having
    if not pool:
        return None
    return max(pool, key=lambda r: (r.score(tasks, au_threshold), (r.folder / WEIGHTS).stat().st_mtime))


def resolve_fuse(items: Sequence[str], search: str | Path) -> list[Path]:
    """``--fuse`` items as model folders: a run folder (MTL or CE) as given, a task name (``au``,
    ``v``, ``va``, ...) as the best finished run under ``search`` trained on it."""
    resolved: list[Path] = []
    runs: list[FinishedRun] | None = None
    for item in items:
        if Path(item).exists():
            try:
                resolved.append(find_model_folder(item))
            except FileNotFoundError as err:
                raise RunNotFoundError(f"--fuse {item}: {err}") from None
            continue
        try:
            tasks = parse_tasks(item)
        except ValueError:
            raise RunNotFoundError(f"--fuse {item}: neither an existing run folder nor a task name "
                             f"({', '.join(AFFECT_TASKS)}, va)") from None
        runs = discover_runs(search) if runs is None else runs
        best = best_run_for(tasks, runs, prefer_exact=True)
        if best is None:
            raise RunNotFoundError(f"--fuse {item}: no finished MTL run under {search}/ trains {item}; train one first "
                             f"(mtl train --joint {item}), give its run folder, or set fuse.search")
        resolved.append(best.folder)
    if len(set(resolved)) != len(resolved):
        raise RunNotFoundError(f"--fuse {','.join(items)} names the same run twice ({', '.join(map(str, resolved))})")
    return resolved
