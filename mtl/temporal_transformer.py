"""The transformer temporal module (``model.temporal=transformer``): a transformer encoder over the S
frames of a clip, the fusion of feature streams of papers 001 (sec. 3.2) and 003 (sec. 3.1).

001 cuts each video into clips of k frames, concatenates each frame's visual feature with its audio
feature, and feeds the clip to a transformer encoder (four layers, dropout 0.3) whose outputs go to
frame-wise fully connected heads; the encoders that made the features stay frozen. 003 first maps
each stream to a common width with an embedding layer (a 1-D convolution of kernel 1 over time, i.e.
a Linear per frame) and uses one-layer encoders (width 256; 2 heads per modality, 8 across them).
Here the module takes ``[B, S, D]`` frames (the fused visual feature, any extra per-frame streams
concatenated to it, ``mtl.model``) and returns ``[B, S, width]``: an input Linear to ``width``, a
sinusoidal position code, then ``layers`` standard (post-norm) encoder layers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn


@dataclass
class TransformerConfig:
    """``model.transformer``: the encoder of ``model.temporal=transformer`` (ignored by the LSTM)."""

    layers: int = 4                # 001 sec. 3.2: four encoder layers
    # 001 names no head count; 8 is that of 003's encoder across the streams (its per-stream ones use 2)
    heads: int = 8
    dropout: float = 0.3           # 001 sec. 3.2 (003: 0.5 per stream, 0.1 across them)
    width: int | None = None       # the encoder's width (003: 256); null: the backbone's feature width
    # Each frame attends to itself and earlier frames only: outputs that never wait for future frames
    # (online use). Off in 001 and 003, whose encoders see the whole clip.
    causal: bool = False

    def __post_init__(self) -> None:
        if self.layers < 1 or self.heads < 1:
            raise ValueError(f"model.transformer.layers and .heads must be >= 1, got {self.layers} and {self.heads}")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"model.transformer.dropout must be in [0, 1), got {self.dropout}")
        if self.width is not None:
            check_width(self.width, self.heads, "model.transformer.width")

    @property
    def feedforward_ratio(self) -> int:
        # Vaswani et al.'s 2048 for a width of 512; neither paper gives its own
        return 4


def check_width(width: int, heads: int, where: str) -> None:
    """Attention splits ``width`` into ``heads`` equal parts; say what to change where it cannot."""
    if width < 1 or width % heads:
        raise ValueError(f"{where} is {width}: the transformer's width must be a positive multiple of "
                         f"model.transformer.heads ({heads}); set model.transformer.width or .heads")


def sinusoidal_positions(length: int, width: int) -> torch.Tensor:
    """``[length, width]`` position codes of Vaswani et al. (2017): column ``2i`` is
    ``sin(pos / 10000^(2i / width))``, column ``2i + 1`` its cosine (an odd last column: the sine)."""
    pos = torch.arange(length, dtype=torch.float64).unsqueeze(1)            # [S, 1]
    rate = torch.exp(torch.arange(0, width, 2, dtype=torch.float64) * (-math.log(10000.0) / width))
    angle = pos * rate                                                      # [S, ceil(width / 2)]
    codes = torch.stack([angle.sin(), angle.cos()], dim=-1).flatten(1)      # sin, cos interleaved
    return codes[:, :width].float()


def causal_mask(length: int, device: torch.device | None = None) -> torch.Tensor:
    """``[S, S]`` bool, True where attention is not allowed: query frame t to any later key frame."""
    return torch.ones(length, length, dtype=torch.bool, device=device).triu(1)


class TemporalTransformer(nn.Module):
    """``[B, S, in_dim]`` frames -> ``[B, S, width]``, every frame attending over the clip.

    Args:
        in_dim: width of the frames it gets.
        width: the encoder's width (a multiple of ``cfg.heads``).
        cfg: layers, heads, dropout, causal.
    """

    def __init__(self, in_dim: int, width: int, cfg: TransformerConfig):
        super().__init__()
        check_width(width, cfg.heads, "the transformer's width (model.transformer.width, or the backbone's)")
        self.width, self.causal = width, cfg.causal
        self.embed = nn.Linear(in_dim, width)  # 003's embedding to a common width (a kernel-1 convolution)
        self.dropout = nn.Dropout(cfg.dropout)
        layer = nn.TransformerEncoderLayer(width, cfg.heads, cfg.feedforward_ratio * width, cfg.dropout,
                                           batch_first=True)
        # Nested tensors would skip padded positions in eval only: the same outputs either way, so the
        # plain path, which training takes too, keeps one code path.
        self.encoder = nn.TransformerEncoder(layer, cfg.layers, enable_nested_tensor=False)

    def forward(self, x: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
        """``x`` [B, S, in_dim]; ``valid`` [B, S] bool, False at padding (a video shorter than S is
        padded with its last frame, ``mtl.sequences``): no frame attends to padding."""
        s = x.shape[1]
        # Position codes, sinusoidal rather than learnt: a clip starts anywhere in its video, so only the
        # offsets between frames mean something, and a sinusoid codes an offset as a fixed linear map
        # (Vaswani et al. sec. 3.5); it adds no parameters to learn from the few hundred videos
        # Aff-Wild2 has, and is defined for any S, so a model can be run on clips of another length.
        h = self.embed(x) + sinusoidal_positions(s, self.width).to(x.device, x.dtype)  # [B, S, width]
        h = self.dropout(h)
        mask = causal_mask(s, x.device) if self.causal else None
        padding = None if valid is None else ~valid.to(torch.bool)
        return self.encoder(h, mask=mask, src_key_padding_mask=padding)  # [B, S, width]
