"""CE training data: the curriculum dataset over the pools' image banks, and its collate function.

The curriculum sampler yields recipes (a single face, a real compound face, or a pair to blend);
:class:`CurriculumDataset` turns each recipe into one or two augmented uint8 images with their
multi-hot labels, and :func:`collate_recipes` packs a batch so that the blending itself happens
later, batched on the training device (``augment.mixing.CompoundSynthesizer``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from augment.pipelines import reseed
from cer.compound.curriculum import REAL, SINGLE, Recipe
from cer.data.image_bank import ImageBank, stable_seed
from cer.data.record import FaceRecord
from cer.taxonomy import ConstraintSet


class CurriculumDataset(Dataset):
    """``dataset[recipe]`` -> images and labels of one curriculum sample.

    Args:
        singles: single-expression faces; ``single_labels[i]`` is the 6-dim one-hot of face i.
        compounds: real compound faces; ``compound_labels[i]`` their 6-dim multi-hot.
        pipeline: an albumentations transform applied to every image (stage-1 augmentation).
        seed: with the epoch (``set_epoch``) and the recipe it seeds the augmentation, so a sample
            looks the same whatever worker or rank draws it.
    """

    def __init__(self, singles: ImageBank, single_labels: np.ndarray, compounds: ImageBank,
                 compound_labels: np.ndarray, pipeline: Any, seed: int = 0):
        self.singles, self.single_labels = singles, single_labels.astype(np.float32)
        self.compounds, self.compound_labels = compounds, compound_labels.astype(np.float32)
        self.pipeline, self.seed, self.epoch = pipeline, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _augment(self, img: np.ndarray, recipe: Recipe, member: int) -> np.ndarray:
        if self.pipeline is None:
            return img
        reseed(self.pipeline, stable_seed(self.seed, self.epoch, *recipe, member))
        return self.pipeline(image=img)["image"]

    def __getitem__(self, recipe: Recipe) -> dict[str, Any]:
        op, a, b = recipe
        if op == REAL:
            members = [(self.compounds[a], self.compound_labels[a])]
        elif op == SINGLE:
            members = [(self.singles[a], self.single_labels[a])]
        else:
            members = [(self.singles[a], self.single_labels[a]), (self.singles[b], self.single_labels[b])]
        return {
            "op": op,
            "images": [self._augment(img, recipe, m) for m, (img, _) in enumerate(members)],
            "labels": [lab for _, lab in members],
        }

    def __len__(self) -> int:  # the sampler decides the epoch; this is the single pool's size
        return len(self.singles)


def collate_recipes(items: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
    """Pack a batch: ``images`` [N, 3, H, W] uint8 holds every image once; ``direct`` indexes the
    images used as they are (single and real compound faces); ``pairs`` [M, 2] and ``ops`` [M]
    say which images to blend, and how, into the M synthesised compound faces."""
    images, labels, direct, pairs, ops = [], [], [], [], []
    for item in items:
        start = len(images)
        images.extend(item["images"])
        labels.extend(item["labels"])
        if len(item["images"]) == 1:
            direct.append(start)
        else:
            pairs.append((start, start + 1))
            ops.append(item["op"])
    return {
        "images": torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).contiguous(),
        "labels": torch.from_numpy(np.stack(labels)),
        "direct": torch.tensor(direct, dtype=torch.long),
        "pairs": torch.tensor(pairs, dtype=torch.long).reshape(-1, 2),
        "ops": torch.tensor(ops, dtype=torch.long),
    }


def compound_targets(records: Sequence[FaceRecord], cset: ConstraintSet) -> tuple[list[FaceRecord], np.ndarray, int]:
    """The records whose label is a class of ``cset`` and those class indices; also how many were
    left out (no label, or a class outside the set)."""
    kept, targets = [], []
    for r in records:
        hot = r.ce_multi_hot()
        if hot is None:
            continue
        try:
            targets.append(cset.index_of_components(tuple(np.flatnonzero(hot).tolist())))
        except KeyError:
            continue
        kept.append(r)
    return kept, np.asarray(targets, dtype=np.int64), len(records) - len(kept)


class LabelledImages(Dataset):
    """Evaluation set: ``(image uint8 [3, H, W], class index)`` pairs."""

    def __init__(self, bank: ImageBank, targets: np.ndarray):
        self.bank, self.targets = bank, targets.astype(np.int64)

    def __len__(self) -> int:
        return len(self.bank)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        return torch.from_numpy(np.ascontiguousarray(self.bank[i])).permute(2, 0, 1), int(self.targets[i])
