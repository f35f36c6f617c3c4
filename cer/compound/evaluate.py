"""CE evaluation: constrained inference over a labelled set, macro F1 over all classes of the
constraint set, per-class F1 and the confusion matrix. Used after every training epoch and by
``cer evaluate RUN``."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
import numpy as np
import torch
from torch import nn

from cer.compound.constrained import constrained_argmax
from cer.metrics import confusion_matrix, f1_macro, f1_per_class
from cer.models.backbone import normalise
from cer.taxonomy import ConstraintSet


def classification_report(targets: np.ndarray, preds: np.ndarray, names: tuple[str, ...]) -> dict[str, Any]:
    """Macro F1 over all classes, accuracy, per-class F1 (``val_f1/<class>``) and the confusion matrix."""
    k = len(names)
    per_class = f1_per_class(targets, preds, k)
    return {
        "val_f1": f1_macro(targets, preds, k),
        "val_accuracy": float((targets == preds).mean()) if len(targets) else 0.0,
        "val_count": int(len(targets)),
        **{f"val_f1/{n}": float(v) for n, v in zip(names, per_class)},
        "confusion": confusion_matrix(targets, preds, k),
        "class_names": list(names),
    }


def basic_metrics(report: dict[str, Any]) -> dict[str, Any]:
    """A :func:`classification_report` of the basic classes under ``basic_`` names (``basic_f1``,
    ``basic_f1/<class>``, ``basic_confusion``), to sit beside the compound ``val_*`` metrics."""
    return {("basic_" + k.removeprefix("val_")) if k.startswith("val_") else f"basic_{k}": v
            for k, v in report.items()}


@torch.no_grad()
def evaluate_compound(model: nn.Module, loader: Iterable, cset: ConstraintSet, mean, std,
                      gather: Callable = lambda x: x, device: torch.device | str = "cpu") -> dict[str, Any]:
    """Run ``model`` over ``(images, class index)`` batches; ``gather`` collects across processes
    (``accelerator.gather_for_metrics``), so every sample counts once."""
    preds, targets = [], []
    for images, y in loader:
        probs = torch.sigmoid(model(normalise(images.to(device), mean, std)).float())
        p, t = gather((constrained_argmax(probs, cset), y.to(device)))
        preds.append(p.cpu())
        targets.append(t.cpu())
    if not preds:
        return classification_report(np.zeros(0, int), np.zeros(0, int), cset.names)
    return classification_report(torch.cat(targets).numpy(), torch.cat(preds).numpy(), cset.names)


@dataclass
class Scored:
    """What :func:`score_run` measured: the :func:`classification_report`, the faces left out (no
    class of the constraint set ``constrain``), what was scored (``where``: a reader's name, or
    ``fold<k>``)."""

    result: dict[str, Any]
    left_out: int
    where: str
    constrain: str


def score_run(run: str | Path, reader: str | None = None, data_path: str | None = None,
              options: Sequence[str] = (), constrain: str | None = None, batch_size: int = 128) -> Scored:
    """Score the CE model of ``run`` (a run folder or its best/) with constrained inference.

    Without ``reader``, ``data_path`` and ``options`` it scores the faces the run validated on: its
    ``data.val``, or for a cross-validation run (``data.folds``) the compound faces its fold held out.
    """
    import yaml
    from torch.utils.data import DataLoader

    from cer.compound.data import LabelledImages, compound_targets
    from cer.data.image_bank import ImageBank
    from cer.data.source import DataSource
    from cer.models.trained import load_classifier
    from cer.synth.sources import read_data, synthetic_settings
    from cer.taxonomy import constraint_set

    model, meta = load_classifier(str(run), "cer evaluate")
    cfg = meta.get("config", {})
    val = (cfg.get("data") or {}).get("val") or {
        "reader": "raf-db-compound", "path": None, "options": {"split": "test"}}
    path = data_path if data_path is not None else (None if reader else val.get("path"))
    source = DataSource(reader or val["reader"], path, dict(val.get("options", {})) if not reader else {})
    for item in options:
        key, sep, value = item.partition("=")
        if not sep:
            raise click.BadParameter(f"{item!r} is not KEY=VALUE", param_hint="--option")
        source.options[key] = yaml.safe_load(value)
    cset = constraint_set(constrain or meta.get("constrain", "c-expr"))
    fold = (cfg.get("data") or {}).get("fold")
    if fold is not None and reader is None and data_path is None and not options:
        # a cross-validation run: the compound faces its fold held out, split as training split them
        from cer.compound.config import CEConfig
        from cer.compound.task import held_out_faces
        from cer.config import from_dict

        faces = held_out_faces(from_dict(CEConfig, cfg, "the run's stored config"))
        where, shown = f"fold{fold}", f"the compound faces fold {fold} held out"
    else:
        faces = read_data(source, synthetic_settings(cfg.get("data", {})))
        where, shown = source.reader, f"{source.reader} {source.path or '(synthetic)'}"
    records, targets, dropped = compound_targets(faces, cset)
    if not records:
        raise click.ClickException(f"no face of {shown} is labelled with a class of {cset.name}")
    loader = DataLoader(LabelledImages(ImageBank(records, meta["img_size"]), targets), batch_size=batch_size)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    result = evaluate_compound(model.to(device), loader, cset, meta["mean"], meta["std"], device=device)
    return Scored(result, dropped, where, cset.name)


@click.command("evaluate", context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("run", type=click.Path(exists=True, file_okay=False))
@click.option("--reader", default=None, help="Reader of the evaluation data (default: the run's validation source, "
              "or for a cross-validation run the faces its fold held out).")
@click.option("--data", "data_path", type=click.Path(exists=True), default=None,
              help="Path of the evaluation data (default: the run's validation source; synthetic if it had none).")
@click.option("--option", "options", multiple=True, metavar="KEY=VALUE",
              help="Reader option, value parsed as YAML, e.g. --option split=test. Repeatable.")
@click.option("--constrain", default=None, help="Constraint set: c-expr, raf-compound, basic or a YAML file "
              "(default: the one the run was trained for).")
@click.option("--batch-size", default=128, show_default=True, help="Faces per forward pass.")
@click.option("--out", type=click.Path(file_okay=False), default=None,
              help="Folder for metrics.json and the plots (default: RUN/eval/<reader>, or RUN/eval/fold<k>).")
def evaluate(run: str, reader: str | None, data_path: str | None, options: tuple[str, ...],
             constrain: str | None, batch_size: int, out: str | None) -> None:
    """Evaluate a trained CE model (a run folder or its best/) on labelled compound faces."""
    import json

    from cer.models.trained import find_model_folder
    from cer.plots import plot_confusion, plot_per_class_f1

    scored = score_run(run, reader, data_path, options, constrain, batch_size)
    result, dropped = scored.result, scored.left_out
    folder = Path(out) if out else find_model_folder(run).parent / "eval" / scored.where
    folder.mkdir(parents=True, exist_ok=True)
    names = result["class_names"]
    plot_confusion(result["confusion"], names, folder / "confusion.png")
    plot_per_class_f1({n: result[f"val_f1/{n}"] for n in names}, folder / "per_class_f1.png", result["val_f1"])
    scalars = {k: v for k, v in result.items() if isinstance(v, (int, float))}
    (folder / "metrics.json").write_text(json.dumps({**scalars, "confusion": result["confusion"].tolist(),
                                                     "class_names": names, "left_out": dropped}, indent=1))
    click.echo(f"{result['val_count']} faces ({dropped} left out: no {scored.constrain} label)")
    for n in names:
        click.echo(f"  F1 {n:<24} {result[f'val_f1/{n}']:.4f}")
    click.echo(f"macro F1 ({scored.constrain}, {len(names)} classes): {result['val_f1']:.4f}   -> {folder}")
