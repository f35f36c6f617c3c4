"""The MTL model of paper 002 (sec. 3.2, Fig. 1): backbone -> feature fusion -> temporal module -> heads.

- Backbone: a timm ViT with MAE pooling (``cer.models.backbone``), pooled feature ``F_current``.
- Feature fusion (eq. 1), as in the official code: the frozen features of earlier single-task runs
  are added element-wise to ``F_current``, then Linear-ReLU-Dropout(0.3)-Linear. A fused feature of
  another width is first projected by a Linear layer. Without fused features there is no fusion
  module (the single-task models of 002 put the heads right behind the extractor).
- Temporal module, for sequences (S > 1): a 2-layer LSTM over the S frames, then LeakyReLU(0.1).
- One linear head per task (``mtl.affect_tasks``); a task not trained has no head.

The model maps ``[B, S, 3, H, W]`` normalised images (and ``[B, S, D_i]`` fused features) to
``{task: [B, S, outputs]}``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import torch
from torch import nn


@dataclass
class MTLArchitecture:
    """Everything needed to rebuild an MTL model (stored in its ``model.json``)."""

    backbone: str                  # timm name
    img_size: int
    tasks: list[str]               # head names, registry order
    head_sizes: list[int]
    fused_dims: list[int] = field(default_factory=list)  # width of each fused source's feature
    temporal: bool = False         # LSTM over the sequence (S > 1)
    fusion_dropout: float = 0.3    # official code of 002
    lstm_hidden: int | None = None  # null: the backbone's width
    leaky_slope: float = 0.1       # official code of 002
    drop_path: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)


class FeatureFusion(nn.Module):
    """``F_m = MLP(F_current + sum_i P_i(F_i))``: P_i is identity when widths agree, else Linear."""

    def __init__(self, dim: int, fused_dims: Sequence[int], dropout: float):
        super().__init__()
        self.project = nn.ModuleList(nn.Identity() if d == dim else nn.Linear(d, dim) for d in fused_dims)
        self.mlp = nn.Sequential(nn.Linear(dim, dim), nn.ReLU(inplace=True), nn.Dropout(dropout), nn.Linear(dim, dim))

    def forward(self, current: torch.Tensor, fused: Sequence[torch.Tensor]) -> torch.Tensor:
        total = current
        for project, feature in zip(self.project, fused, strict=True):
            total = total + project(feature.to(current.dtype))
        return self.mlp(total)


class TemporalModule(nn.Module):
    """Two LSTM layers over the sequence, then LeakyReLU (002 sec. 3.2)."""

    def __init__(self, dim: int, hidden: int, slope: float):
        super().__init__()
        self.lstm = nn.LSTM(dim, hidden, num_layers=2, batch_first=True)
        self.act = nn.LeakyReLU(slope)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [B, S, D] -> [B, S, hidden]
        return self.act(self.lstm(x)[0])


class MTLModel(nn.Module):
    """Backbone, optional fusion and temporal module, and one head per task."""

    def __init__(self, arch: MTLArchitecture, backbone: nn.Module):
        super().__init__()
        self.arch = arch
        self.backbone = backbone
        dim = backbone.num_features
        self.fusion = FeatureFusion(dim, arch.fused_dims, arch.fusion_dropout) if arch.fused_dims else None
        out = dim
        self.temporal = None
        if arch.temporal:
            out = arch.lstm_hidden or dim
            self.temporal = TemporalModule(dim, out, arch.leaky_slope)
        self.heads = nn.ModuleDict({n: nn.Linear(out, k) for n, k in zip(arch.tasks, arch.head_sizes, strict=True)})

    @property
    def feature_dim(self) -> int:
        return self.backbone.num_features

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """Pooled backbone features: ``[N, 3, H, W]`` -> ``[N, D]`` (what ``mtl extract`` caches)."""
        return self.backbone(images)

    def forward(self, images: torch.Tensor, fused: Sequence[torch.Tensor] = ()) -> dict[str, torch.Tensor]:
        b, s = images.shape[:2]
        x = self.features(images.flatten(0, 1)).view(b, s, -1)  # [B, S, D]
        if self.fusion is not None:
            x = self.fusion(x, fused)
        if self.temporal is not None:
            x = self.temporal(x)
        return {name: head(x) for name, head in self.heads.items()}


def build_model(arch: MTLArchitecture) -> MTLModel:
    """A fresh model (backbone weights random: load a checkpoint afterwards)."""
    from cer.models.backbone import create_backbone

    backbone = create_backbone(arch.backbone, arch.img_size, num_classes=0, drop_path=arch.drop_path)
    return MTLModel(arch, backbone)
