"""A frozen backbone as a feature extractor over uint8 images, and what identifies its features.

Two kinds feed :func:`mtl.extract.cached_features`: the backbone of a finished run fused into a later
one (:class:`mtl.runs.FrozenExtractor`, cached in ``RUN/features``) and a run's own backbone under
``model.freeze_backbone`` (:func:`own_backbone_extractor`, cached under the project's cache folder so
that every run starting from the same weights reads the same features). A cache is keyed by frame
and checked against the extractor's ``fingerprint`` (:class:`mtl.feature_cache.FeatureCache`), so
features of other weights, another image size or another normalisation are never read back.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from cer.models.backbone import normalise
from cer.paths import cache_dir

OWN_FEATURES = "mtl-backbone-features"  # folder under cer.paths.cache_dir() of the own backbones' caches


class FrozenBackbone(nn.Module):
    """Pooled features of a frozen ``backbone``: uint8 ``[N, 3, H, W]`` -> float ``[N, D]``.

    Does the backbone's own resizing (to ``img_size``) and normalisation (``mean``, ``std``), so the
    same module makes the cached features and, where they are not cached, the live ones.

    Args:
        backbone: a timm model without classifier (``num_features`` wide); set to eval mode, no gradients.
        img_size, mean, std: the input the backbone was trained on.
        fingerprint: identifies the weights and everything else the features depend on.
        cache_folder: where ``mtl.extract`` caches the features.
        name: what progress bars and logs call it.
    """

    def __init__(self, backbone: nn.Module, img_size: int, mean: Sequence[float], std: Sequence[float],
                 fingerprint: str, cache_folder: str | Path, name: str):
        super().__init__()
        self.backbone = backbone.eval().requires_grad_(False)
        self.img_size, self.dim = int(img_size), int(backbone.num_features)
        self.mean, self.std = tuple(mean), tuple(std)
        self.fingerprint, self.cache_folder, self.name = fingerprint, Path(cache_folder), name

    def train(self, mode: bool = True) -> FrozenBackbone:
        return super().train(False)  # frozen: never dropout / drop-path / BatchNorm updates

    @torch.no_grad()
    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = normalise(images, self.mean, self.std)
        if x.shape[-1] != self.img_size or x.shape[-2] != self.img_size:
            x = F.interpolate(x, size=(self.img_size, self.img_size), mode="bilinear", antialias=True,
                              align_corners=False)
        return self.backbone(x).float()


def weights_fingerprint(module: nn.Module, **context: object) -> str:
    """SHA-256 of ``module``'s weights and buffers (names, dtypes, shapes, values) as they are now, and
    of ``context`` (JSON values: whatever else changes its features, e.g. the image size).

    Hashes the loaded tensors, not a checkpoint file: a run's own backbone may come from a file, from
    a finished run (its position embeddings resampled to another size) or from the seed alone.
    """
    digest = hashlib.sha256(json.dumps(context, sort_keys=True).encode())
    for key, tensor in sorted(module.state_dict().items()):
        t = tensor.detach().cpu().contiguous()
        digest.update(f"{key}:{t.dtype}:{list(t.shape)};".encode())
        digest.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())  # raw bytes: bf16 has no numpy dtype
    return digest.hexdigest()


def own_backbone_extractor(backbone: nn.Module, name: str, img_size: int, mean: Sequence[float],
                           std: Sequence[float]) -> FrozenBackbone:
    """The run's own frozen ``backbone`` (timm ``name``, fed ``img_size`` px images normalised with
    ``mean`` and ``std``) as an extractor whose cache folder is named by its fingerprint.

    The extractor shares ``backbone`` with the model (no copy): it must stay frozen while cached
    features stand in for it.
    """
    fingerprint = weights_fingerprint(backbone, backbone=name, img_size=int(img_size), mean=list(mean), std=list(std))
    folder = cache_dir() / OWN_FEATURES / f"{name}-{int(img_size)}px-{fingerprint[:16]}"
    return FrozenBackbone(backbone, img_size, mean, std, fingerprint, folder, f"frozen {name} at {img_size} px")
