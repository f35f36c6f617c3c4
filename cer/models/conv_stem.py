"""A convolutional stem in place of the ViT's patchify layer, for ViTs trained from scratch on little data.

Xiao et al., "Early Convolutions Help Transformers See Better", NeurIPS 2021: replacing the
16x16 stride-16 patchify convolution with a few stride-2 3x3 convolutions (BatchNorm, ReLU) and a
1x1 projection makes ViTs optimise far more easily, at the cost of about one transformer block.
We need it because the compact CPU default starts from random weights: on the synthetic faces a
plain ViT of width 192 stays at the label prior for hundreds of steps, while the same ViT with this
stem learns from the first epochs.

The module is a drop-in for timm's ``PatchEmbed``: the same ``patch_size`` (the stem's total
stride), ``grid_size``, ``num_patches``, output format and size checks, so timm's
``VisionTransformer``, position-embedding resampling and our MAE (which patchifies pixels by
``patch_size``) all work unchanged.
"""

from __future__ import annotations

import math

from timm.layers import PatchEmbed, to_2tuple
from torch import Tensor, nn


class ConvStemPatchEmbed(PatchEmbed):
    """``log2(patch_size)`` stride-2 3x3 conv + BN + ReLU layers, then a 1x1 projection to ``embed_dim``.

    Widths double at each layer and end at ``embed_dim`` (192 -> 24, 48, 96, 192 for patch 16).

    Args:
        img_size, patch_size, in_chans, embed_dim, norm_layer, flatten, output_fmt, bias,
        strict_img_size, dynamic_img_pad: as timm's ``PatchEmbed``; ``patch_size`` must be a power
        of two (the stem's total stride).
    """

    def __init__(self, img_size=224, patch_size=16, in_chans=3, embed_dim=768, bias=True, **kwargs):
        super().__init__(
            img_size=img_size, patch_size=patch_size, in_chans=in_chans, embed_dim=embed_dim, bias=bias, **kwargs
        )
        stride = self.patch_size[0]
        if self.patch_size[0] != self.patch_size[1] or stride < 2 or stride & (stride - 1):
            raise ValueError(f"a convolutional stem needs a square power-of-two patch size, got {self.patch_size}")
        self.in_chans = in_chans
        n_layers = int(math.log2(stride))
        widths = [max(embed_dim // 2 ** (n_layers - 1 - i), 8) for i in range(n_layers)]
        layers: list[nn.Module] = []
        channels = in_chans
        for width in widths:
            layers += [nn.Conv2d(channels, width, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU()]
            channels = width
        self.stem = nn.Sequential(*layers)
        self.proj = nn.Conv2d(channels, embed_dim, kernel_size=1, bias=bias)

    def set_input_size(self, img_size=None, patch_size=None) -> None:
        if patch_size is not None and to_2tuple(patch_size) != self.patch_size:
            raise ValueError("the patch size of a convolutional stem is fixed by its layers and cannot be changed")
        super().set_input_size(img_size=img_size)

    def forward(self, x: Tensor) -> Tensor:
        height, width = x.shape[-2:]
        if self.img_size is not None and self.strict_img_size and (height, width) != tuple(self.img_size):
            built = f"{self.img_size[0]}x{self.img_size[1]}"
            raise ValueError(f"input is {height}x{width}; this model was built for {built}")
        if height % self.patch_size[0] or width % self.patch_size[1]:
            raise ValueError(f"input {height}x{width} is not divisible by the stem's stride {self.patch_size[0]}")
        x = self.proj(self.stem(x))  # [N, D, H / p, W / p]
        if self.flatten:
            x = x.flatten(2).transpose(1, 2)  # [N, L, D]
        elif self.output_fmt.value == "NHWC":
            x = x.permute(0, 2, 3, 1)
        return self.norm(x)
