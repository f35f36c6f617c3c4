"""Backbones by timm name (ViTs MAE-style: average pooling + fc_norm; CNNs too), and the compact CPU default.

``vit_face_tiny`` is registered with timm so that configs name it like any timm model: a ViT of
width 192, depth 6, at 96 px with a convolutional stem of total stride 16 (36 tokens; see
``cer.models.conv_stem`` for why a stem and not a patchify layer). ViT-B/16 at 224 px (the paper's
MAE backbone) trains at about 1.4 images/s on two CPU cores.
"""

from __future__ import annotations

from collections.abc import Iterable

import timm
import torch
from timm.models import generate_default_cfgs, register_model
from timm.models.vision_transformer import VisionTransformer, _create_vision_transformer
from torch import nn

from cer.models.conv_stem import ConvStemPatchEmbed

# Input normalisation of the timm ViTs and of the MAE checkpoints of 002: pixels in [0, 1] -> [-1, 1].
VIT_MEAN = (0.5, 0.5, 0.5)
VIT_STD = (0.5, 0.5, 0.5)


def normalise(images: torch.Tensor, mean: Iterable[float], std: Iterable[float]) -> torch.Tensor:
    """uint8 [N, 3, H, W] (or float in [0, 1]) -> the model's input."""
    x = images.float().div(255) if images.dtype == torch.uint8 else images.float()
    m = torch.as_tensor(list(mean), device=x.device).view(1, 3, 1, 1)
    s = torch.as_tensor(list(std), device=x.device).view(1, 3, 1, 1)
    return (x - m) / s

# timm's registry reads this module-level name when @register_model runs: it gives the model its
# input size and normalisation, and no download URL.
default_cfgs = generate_default_cfgs({
    "vit_face_tiny.untrained": {
        "input_size": (3, 96, 96), "mean": (0.5, 0.5, 0.5), "std": (0.5, 0.5, 0.5), "num_classes": 6,
    },
})


@register_model
def vit_face_tiny(pretrained: bool = False, **kwargs) -> VisionTransformer:
    """Compact ViT for CPU runs on the synthetic faces (width 192, depth 6, 3 heads, conv stem of stride 16, 96 px)."""
    if pretrained:
        raise ValueError("vit_face_tiny has no published weights: load a local checkpoint instead")
    args = dict(img_size=96, patch_size=16, embed_dim=192, depth=6, num_heads=3, embed_layer=ConvStemPatchEmbed)
    # timm's own builder handles the pretrained_cfg plumbing that create_model passes along.
    return _create_vision_transformer("vit_face_tiny", pretrained=False, **{**args, **kwargs})


def create_backbone(name: str, img_size: int, num_classes: int, drop_path: float = 0.0) -> nn.Module:
    """A timm model with average pooling (for a ViT: MAE fine-tuning pooling, the mean of patch
    tokens then fc_norm) and a fresh head; its pooled width is ``num_features``.

    A ViT is built for ``img_size`` (its position embeddings depend on it); a CNN takes any size
    and its constructor refuses the argument, so it is built without.
    Nothing is downloaded: weights come from a local file via ``cer.models.checkpoint``.
    """
    args = dict(pretrained=False, num_classes=num_classes, global_pool="avg", drop_path_rate=drop_path)
    try:
        return timm.create_model(name, img_size=img_size, **args)
    except TypeError as err:
        if "img_size" not in str(err):
            raise
    return timm.create_model(name, **args)
