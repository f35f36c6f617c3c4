"""MTL data: the frames of a split with their labels, decoded images and fused features, served as
windows of S frames; and turning a batch into the model's inputs.

A batch is a dict of ``images`` [B, S, 3, H, W] uint8, ``frames`` and ``owner`` [B, S] (for
expanding outputs back to frames), ``valid`` [B, S] (False at the padding of a video shorter than
S), ``targets`` / ``masks`` per task ([B, S, ...]; padding positions masked out), and ``fused``:
one [B, S, D_i] float tensor per fused run (empty in live mode, where the frozen extractors run on
the images instead); ``extra``: one [B, S, E_j] float tensor per extra per-frame stream (``fuse.extra``);
``backbone`` [B, S, D], only where the run's own frozen backbone is cached (``model.cache_features``):
its features, which the model then takes instead of running the backbone on ``images``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from cer.data.image_bank import ImageBank
from cer.data.record import FaceRecord
from cer.models.backbone import normalise
from mtl.affect_tasks import AFFECT_TASKS
from mtl.extra_features import FrameFeatures
from mtl.sequences import VideoFrames, Windows


class SplitFrames:
    """One split's frames in video order, each chosen task's ``(targets, mask)``, the images, the
    fused features (``fused[i]``: [N, D_i], filled by :meth:`attach_features`), the features of
    the ``extra`` streams (``extra[j]``: [N, E_j]) and, where cached, those of the run's own frozen
    backbone (``backbone``: [N, D], set by :meth:`attach_backbone_features`)."""

    def __init__(self, records: Sequence[FaceRecord], tasks: Sequence[str], img_size: int,
                 cache_images: bool = True, desc: str = "frames", extra: Sequence[FrameFeatures] = ()):
        self.videos = VideoFrames.of(records)
        self.labels = {t: AFFECT_TASKS[t].labels(self.videos.records) for t in tasks}
        # before the images: a missing or broken feature file fails in seconds, not after the decoding
        self.extra = [stream.of(self.videos.records) for stream in extra]
        self.bank = ImageBank(self.videos.records, img_size, cache_images, desc)
        self.fused: list[np.ndarray] = []
        self.backbone: np.ndarray | None = None

    @property
    def records(self) -> list[FaceRecord]:
        return self.videos.records

    def __len__(self) -> int:
        return len(self.videos)

    def keys(self) -> list[str]:
        return [r.key for r in self.records]

    def labelled(self) -> np.ndarray:
        """[N] bool: frames with at least one label of a chosen task."""
        any_label = np.zeros(len(self), dtype=bool)
        for _, mask in self.labels.values():
            any_label |= mask.reshape(len(self), -1).any(1)
        return any_label

    def attach_features(self, features: Sequence[np.ndarray]) -> None:
        for f in features:
            if len(f) != len(self):
                raise ValueError(f"fused features for {len(f)} frames, the split has {len(self)}")
        self.fused = [np.ascontiguousarray(f, dtype=np.float32) for f in features]

    def attach_backbone_features(self, features: np.ndarray) -> None:
        """The own frozen backbone's cached features of every frame ([N, D], in frame order)."""
        if len(features) != len(self):
            raise ValueError(f"backbone features for {len(features)} frames, the split has {len(self)}")
        self.backbone = np.ascontiguousarray(features, dtype=np.float32)


class WindowDataset(Dataset):
    """``dataset[m]``: window ``m`` of ``windows`` over ``split`` (see the module docstring)."""

    def __init__(self, split: SplitFrames, windows: Windows):
        self.split, self.windows = split, windows

    def __len__(self) -> int:
        return len(self.windows)

    def __getitem__(self, m: int) -> dict[str, Any]:
        frames, valid = self.windows.frames[m], self.windows.valid[m]
        images = np.stack([self.split.bank[int(i)] for i in frames])  # [S, H, W, 3]
        targets, masks = {}, {}
        for name, (target, mask) in self.split.labels.items():
            m_ = mask[frames]
            targets[name] = torch.from_numpy(target[frames])
            masks[name] = torch.from_numpy(m_ & valid.reshape(-1, *([1] * (m_.ndim - 1))))
        own = {} if self.split.backbone is None else {"backbone": torch.from_numpy(self.split.backbone[frames])}
        return {
            **own,
            "images": torch.from_numpy(images).permute(0, 3, 1, 2).contiguous(),
            "frames": torch.from_numpy(frames),
            "owner": torch.from_numpy(self.windows.owner[m]),
            "valid": torch.from_numpy(valid),
            "targets": targets,
            "masks": masks,
            "fused": [torch.from_numpy(f[frames]) for f in self.split.fused],
            "extra": [torch.from_numpy(e[frames]) for e in self.split.extra],
        }


def fused_inputs(batch: dict[str, Any], extractors: Sequence[torch.nn.Module]) -> list[torch.Tensor]:
    """The fused features of a batch: cached ones from the batch, or computed by ``extractors`` on
    its (un-augmented) images."""
    if not extractors:
        return list(batch["fused"])
    images = batch["images"]
    b, s = images.shape[:2]
    flat = images.flatten(0, 1)
    return [e.to(flat.device)(flat).view(b, s, -1) for e in extractors]


def model_images(images: torch.Tensor, mean: Sequence[float], std: Sequence[float],
                 flip: torch.Tensor | None = None) -> torch.Tensor:
    """uint8 [B, S, 3, H, W] -> normalised float, sequences mirrored where ``flip`` [B] is True."""
    if flip is not None and bool(flip.any()):
        images = torch.where(flip.view(-1, 1, 1, 1, 1), images.flip(-1), images)
    b, s = images.shape[:2]
    return normalise(images.flatten(0, 1), mean, std).view(b, s, *images.shape[2:])
