"""The MTL model of paper 002 (sec. 3.2, Fig. 1): backbone -> feature fusion -> temporal module -> heads.

- Backbone: a timm ViT with MAE pooling (``cer.models.backbone``), pooled feature ``F_current``.
- Feature fusion (eq. 1), as in the official code: the frozen features of earlier single-task runs
  are added element-wise to ``F_current``, then Linear-ReLU-Dropout(0.3)-Linear. A fused feature of
  another width is first projected by a Linear layer. Without fused features there is no fusion
  module (the single-task models of 002 put the heads right behind the extractor).
- Extra per-frame streams (``fuse.extra``, e.g. audio; ``mtl.extra_features``) are concatenated to
  the (fused) visual feature of each frame, as 001 concatenates its streams (sec. 3.2).
- Temporal module, for sequences (S > 1), ``model.temporal``: a 2-layer LSTM over the S frames, then
  LeakyReLU(0.1) (002, the default), or a transformer encoder over them (001 sec. 3.2, 003 sec. 3.1;
  ``mtl.temporal_transformer``).
- One head per task (``mtl.affect_tasks``); a task not trained has no head. Linear by default; the
  heads of paper 004 as options: ANFL for AU (``mtl.anfl``, outputs probabilities, not logits),
  Linear + BatchNorm for V and A (eq. 4; the task's tanh follows), and the cross attention of the AU
  predictions over the expression logits (``mtl.cross_attention``, eqs. 6-8).

The model maps ``[B, S, 3, H, W]`` normalised images (and ``[B, S, D_i]`` fused and ``[B, S, E_j]``
extra features) to ``{task: [B, S, outputs]}``; a frozen backbone's cached ``[B, S, D]`` features can
stand in for the images.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from mtl.anfl import ANFL
from mtl.cross_attention import CrossAttention
from mtl.temporal_transformer import TemporalTransformer, TransformerConfig


@dataclass
class MTLArchitecture:
    """Everything needed to rebuild an MTL model (stored in its ``model.json``)."""

    backbone: str                  # timm name
    img_size: int
    tasks: list[str]               # head names, registry order
    head_sizes: list[int]
    fused_dims: list[int] = field(default_factory=list)  # width of each fused source's feature
    extra_dims: list[int] = field(default_factory=list)  # width of each extra per-frame stream (fuse.extra)
    temporal: bool = False         # a temporal module over the sequence (S > 1)
    temporal_module: str = "lstm"  # lstm (002) | transformer (001, 003); model.json files before it: lstm
    fusion_dropout: float = 0.3    # official code of 002
    lstm_hidden: int | None = None  # null: the backbone's width
    leaky_slope: float = 0.1       # official code of 002
    drop_path: float = 0.0
    # Heads of paper 004; the defaults are those of 002, so model.json files written before these
    # fields existed rebuild the same model.
    au_head: str = "linear"        # linear (logits) | anfl (probabilities)
    anfl_k: int = 4                # neighbours per AU in ANFL's graph
    va_head: str = "linear"        # linear | bn_tanh (Linear + BatchNorm1d before the tanh)
    cross_attention: bool = False  # AU predictions attend over the EXPR logits
    attention_dim: int = 64        # hidden width of that attention
    transformer: TransformerConfig = field(default_factory=TransformerConfig)  # of temporal_module=transformer

    def __post_init__(self) -> None:
        if self.au_head not in ("linear", "anfl") or self.va_head not in ("linear", "bn_tanh"):
            raise ValueError(f"unknown head au_head={self.au_head!r} or va_head={self.va_head!r}: "
                             "au_head is linear or anfl, va_head linear or bn_tanh")
        if self.temporal_module not in ("lstm", "transformer"):
            raise ValueError(f"unknown temporal_module {self.temporal_module!r}: lstm or transformer")
        if isinstance(self.transformer, dict):  # as model.json stores it
            self.transformer = TransformerConfig(**self.transformer)

    @property
    def au_probabilities(self) -> bool:
        """Whether the AU head outputs probabilities rather than logits (what its loss and decoding need)."""
        return self.au_head == "anfl"

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

    def forward(self, x: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:  # [B,S,D] -> [B,S,hidden]
        # ``valid`` is not needed: the LSTM runs forwards and padding follows every real frame, so it
        # never reaches their outputs.
        return self.act(self.lstm(x)[0])


def temporal_module(arch: MTLArchitecture, in_dim: int, dim: int) -> tuple[nn.Module, int]:
    """The temporal module ``arch`` names over ``[B, S, in_dim]`` frames, and its output width (both
    default to the backbone's width ``dim``)."""
    if arch.temporal_module == "transformer":
        width = arch.transformer.width or dim
        return TemporalTransformer(in_dim, width, arch.transformer), width
    hidden = arch.lstm_hidden or dim
    return TemporalModule(in_dim, hidden, arch.leaky_slope), hidden


class PerFrame(nn.Module):
    """A module of frames ``[N, D]`` applied to sequences ``[B, S, D]``, the frames flattened (so a
    BatchNorm's statistics span every frame of the batch)."""

    def __init__(self, module: nn.Module):
        super().__init__()
        self.module = module

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.module(x.flatten(0, -2)).unflatten(0, x.shape[:-1])


class BatchNormHead(nn.Module):
    """Linear + BatchNorm1d (004 eq. 4 and Table 3): the BatchNorm's learnt shift and scale can follow
    the mean and spread of the labels, which the CCC loss rewards."""

    def __init__(self, dim: int, outputs: int):
        super().__init__()
        self.fc = nn.Linear(dim, outputs)
        self.bn = nn.BatchNorm1d(outputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [N, D] -> [N, outputs]
        y = self.fc(x)
        if self.training and y.shape[0] == 1:
            # A lone frame has no batch statistics (torch refuses it; the last batch of an epoch can
            # be one): normalise it with the running ones, leaving them as they are.
            bn = self.bn
            return F.batch_norm(y, bn.running_mean, bn.running_var, bn.weight, bn.bias, False, 0.0, bn.eps)
        return self.bn(y)


def task_head(task: str, outputs: int, dim: int, arch: MTLArchitecture) -> nn.Module:
    """The head of ``task`` over ``[B, S, dim]`` features, as ``arch`` chooses it."""
    if task == "au" and arch.au_head == "anfl":
        return PerFrame(ANFL(dim, outputs, arch.anfl_k))
    if task in ("v", "a") and arch.va_head == "bn_tanh":
        return PerFrame(BatchNormHead(dim, outputs))
    return nn.Linear(dim, outputs)


class MTLModel(nn.Module):
    """Backbone, optional fusion and temporal module, and one head per task."""

    def __init__(self, arch: MTLArchitecture, backbone: nn.Module):
        super().__init__()
        self.arch = arch
        self.backbone = backbone
        self.backbone_frozen = False  # a training choice (model.freeze_backbone), not architecture
        dim = backbone.num_features
        self.fusion = FeatureFusion(dim, arch.fused_dims, arch.fusion_dropout) if arch.fused_dims else None
        out = dim + sum(arch.extra_dims)  # the extra streams join each frame's feature
        self.temporal = None
        if arch.temporal:
            self.temporal, out = temporal_module(arch, out, dim)
        sizes = dict(zip(arch.tasks, arch.head_sizes, strict=True))
        self.heads = nn.ModuleDict({n: task_head(n, k, out, arch) for n, k in sizes.items()})
        self.cross_attention = None
        if arch.cross_attention:
            if not {"au", "expr"} <= set(sizes):
                raise ValueError(f"cross attention needs the au and expr heads; this model has {', '.join(sizes)}")
            self.cross_attention = CrossAttention(sizes["au"], sizes["expr"], arch.attention_dim)

    def freeze_backbone(self) -> MTLModel:
        """Train only what follows the backbone: its weights get no gradients and it stays in eval
        mode, so BatchNorm statistics and dropout / drop-path do not change it either."""
        self.backbone.requires_grad_(False)
        self.backbone_frozen = True
        return self.train(self.training)

    def train(self, mode: bool = True) -> MTLModel:
        super().train(mode)
        if self.backbone_frozen:  # the trainer calls train() every epoch
            self.backbone.eval()
        return self

    @property
    def feature_dim(self) -> int:
        return self.backbone.num_features

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """Pooled backbone features: ``[N, 3, H, W]`` -> ``[N, D]`` (what ``mtl extract`` caches)."""
        return self.backbone(images)

    def forward(self, images: torch.Tensor | None, fused: Sequence[torch.Tensor] = (),
                valid: torch.Tensor | None = None, extra: Sequence[torch.Tensor] = (),
                features: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """``valid`` [B, S] bool: False at the padding of a short video (what a transformer must not
        attend to); None: every position is a frame. ``extra``: one [B, S, E_j] tensor per stream.
        ``features`` [B, S, D]: the frozen backbone's features of the frames, cached
        (``model.cache_features``), in place of running it on ``images`` (then not needed, may be None)."""
        if features is None:
            b, s = images.shape[:2]
            x = self.features(images.flatten(0, 1)).view(b, s, -1)  # [B, S, D]
        elif self.backbone_frozen:
            x = features
        else:  # a trained backbone's features change every step: cached ones would be stale
            raise ValueError("cached backbone features given to a model whose backbone is not frozen "
                             "(model.freeze_backbone=false): pass the images instead")
        if self.fusion is not None:
            x = self.fusion(x, fused)
        widths = [e.shape[-1] for e in extra]
        if widths != list(self.arch.extra_dims):
            raise ValueError(f"extra per-frame features of widths {widths}, the model was built for "
                             f"{list(self.arch.extra_dims)} (fuse.extra of its run)")
        if extra:
            x = torch.cat([x, *(e.to(x.dtype) for e in extra)], dim=-1)  # [B, S, D + sum E_j]
        if self.temporal is not None:
            x = self.temporal(x, valid)
        out = {name: head(x) for name, head in self.heads.items()}
        if self.cross_attention is not None:
            au = out["au"] if self.arch.au_probabilities else torch.sigmoid(out["au"])
            out["expr"] = self.cross_attention(au, out["expr"])
        return out


def build_model(arch: MTLArchitecture) -> MTLModel:
    """A fresh model (backbone weights random: load a checkpoint afterwards)."""
    from cer.models.backbone import create_backbone

    backbone = create_backbone(arch.backbone, arch.img_size, num_classes=0, drop_path=arch.drop_path)
    return MTLModel(arch, backbone)
