"""``mtl folds CONFIG --folds K``: K-fold cross-validation of one MTL config split by video (paper 001
sec. 4.3) on the shared runner :mod:`cer.cross_validation`, each fold model scored on the frames it
held out as ``mtl evaluate`` scores it (P_MTL and its parts), and the ``mtl evaluate`` / ``mtl
predict`` lines of the vote ensemble 001 submits (sec. 3.3)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import click

from cer.cross_validation import FULL, FoldKind, FoldRun, cross_validate, folds_options


def ensemble_commands(members: Sequence[FoldRun]) -> list[str]:
    """The ``mtl evaluate`` and ``mtl predict`` lines of the ensemble of ``members`` (full model first)."""
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


def mtl_fold_kind(batch_frames: int) -> FoldKind:
    from cer.config import load_config
    from mtl.ablate import MTL_SWEEP
    from mtl.config import MTLConfig
    from mtl.evaluate import score_group

    def score(folder: Path) -> tuple[int, dict[str, float]]:
        scored = score_group([str(folder)], batch_frames=batch_frames)
        return scored.frames, scored.scores

    return FoldKind(command="mtl folds", sweep=MTL_SWEEP, load=lambda c, o: load_config(MTLConfig, [c], o),
                    score=score, metrics=tuple((k.removeprefix("val_"), t) for k, t in MTL_SWEEP.metrics),
                    unit="frames", ensemble=ensemble_commands)


@click.command("folds", context_settings={"help_option_names": ["-h", "--help"]})
@folds_options("videos of data.train", "epochs=4")
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
    cross_validate(mtl_fold_kind(batch_frames), config, folds, seed, fold_seed, full, out, overrides)
