"""``cer folds CONFIG --folds K``: K-fold cross-validation of one CE curriculum on the shared runner
:mod:`cer.cross_validation`. Fold k holds out part k of the real compound faces (by subject where the
reader knows one, else by image; the single pool trains whole) and validates on it; each fold's best
model is scored there as ``cer evaluate`` scores it, and the ``cer predict`` line that averages the
fold models' and the full model's probabilities (paper 001 sec. 3.3) is printed."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import click

from cer.cross_validation import FoldKind, FoldRun, cross_validate, folds_options


def ensemble_commands(members: Sequence[FoldRun]) -> list[str]:
    models = " ".join(f"--model {r.folder}" for r in members)
    return [f"cer predict VIDEOS {models}   # probabilities averaged before constrained inference"]


def score(folder: Path) -> tuple[int, dict[str, float]]:
    from cer.compound.evaluate import score_run

    result = score_run(folder).result
    return result["val_count"], {"f1": result["val_f1"], "accuracy": result["val_accuracy"]}


def load(config: Path, overrides: Sequence[str]) -> object:
    from cer.compound.config import CEConfig
    from cer.config import load_config

    return load_config(CEConfig, [config], overrides)


def ce_fold_kind() -> FoldKind:
    from cer.compound.ablate import CE_SWEEP

    return FoldKind(command="cer folds", sweep=CE_SWEEP, load=load, score=score,
                    metrics=(("f1", "compound macro F1"), ("accuracy", "compound accuracy")), unit="faces",
                    ensemble=ensemble_commands)


@click.command("folds", context_settings={"help_option_names": ["-h", "--help"]})
@folds_options("real compound faces (data.compound)", "curriculum.epochs=[2,2,1,1]")
def folds(config: Path, folds: int, seed: int, fold_seed: int, full: bool, out: Path | None,
          overrides: tuple[str, ...]) -> None:
    """Train the curriculum CONFIG on each of --folds folds of the real compound faces (and the full
    model), score each fold model on the compound faces it held out, and write OUT/folds.md and
    OUT/folds.csv (macro F1 per fold, mean ± std). Finished runs are skipped: re-run the same
    command to complete an interrupted one.

    \b
    Example:
      cer folds curricula/four_stage.yaml --folds 5 --out runs/folds/four_stage
    """
    cross_validate(ce_fold_kind(), config, folds, seed, fold_seed, full, out, overrides)
