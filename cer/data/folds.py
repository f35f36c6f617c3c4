"""K-fold cross-validation splits that keep each group (a video, a subject) on one side (paper 001
sec. 4.3: five folds of Aff-Wild2 split by video).

Frames of one video are near-duplicates, so a split by frame would put the same faces in training
and validation; the split is by :func:`group_of` instead. The groups are sorted before a seeded
shuffle, so the folds depend on the seed and the set of groups only, not on the reader's order.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from cer.data.record import FaceRecord


def group_of(record: FaceRecord) -> str:
    """What must not straddle a split: the video (Aff-Wild2 frames), else the subject, else the face
    itself (an image set without either has no groups larger than one face)."""
    if record.video is not None:
        return f"video:{record.video}"
    if record.subject is not None:
        return f"subject:{record.subject}"
    return f"face:{record.key}"


def check_fold(folds: int | None, fold: int | None) -> None:
    """Raise ``ValueError`` naming the keys unless both are null or ``0 <= fold < folds``, ``folds >= 2``."""
    if folds is None and fold is None:
        return
    if folds is None or fold is None:
        raise ValueError(f"data.folds and data.fold go together (got folds={folds}, fold={fold}): set both, "
                         "e.g. data.folds=5 data.fold=0, or neither")
    if folds < 2:
        raise ValueError(f"data.folds must be >= 2 to hold out one fold, got {folds}")
    if not 0 <= fold < folds:
        raise ValueError(f"data.fold is the held-out fold, 0..{folds - 1} for data.folds={folds}; got {fold}")


def fold_groups(records: Sequence[FaceRecord], folds: int, seed: int = 0) -> list[list[str]]:
    """The groups of ``records`` dealt into ``folds`` parts of near-equal group counts."""
    groups = sorted({group_of(r) for r in records})
    if len(groups) < folds:
        raise ValueError(f"{len(groups)} groups (videos or subjects) cannot fill data.folds={folds} folds: "
                         "use fewer folds or more data")
    order = np.random.default_rng(seed).permutation(len(groups))
    return [[groups[i] for i in part] for part in np.array_split(order, folds)]


def held_out_mask(records: Sequence[FaceRecord], folds: int, fold: int, seed: int = 0) -> np.ndarray:
    """[len(records)] bool: which records fold ``fold`` holds out (for splitting arrays that run
    beside the records, such as labels)."""
    check_fold(folds, fold)
    held_out = set(fold_groups(records, folds, seed)[fold])
    return np.array([group_of(r) in held_out for r in records], dtype=bool)


def fold_split(records: Sequence[FaceRecord], folds: int, fold: int,
               seed: int = 0) -> tuple[list[FaceRecord], list[FaceRecord]]:
    """``(training, validation)`` of fold ``fold``: validation = the records of group part ``fold``,
    training = the others, both in the input order."""
    mask = held_out_mask(records, folds, fold, seed)
    return [r for r, m in zip(records, mask) if not m], [r for r, m in zip(records, mask) if m]
