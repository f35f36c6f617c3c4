"""Masked autoencoder on a timm ViT, to pretrain face backbones (papers 001 and 002).

He et al., "Masked Autoencoders Are Scalable Vision Learners", CVPR 2022: mask a random 75 % of
the patches, encode only the visible ones, let a small decoder predict the pixels of the masked
ones, and score the prediction with an L2 loss on the masked patches alone. Papers 001/002
pretrain such a model on faces and fine-tune its encoder for expressions, AUs and valence-arousal.

The encoder is the timm ``VisionTransformer`` that ``cer.models.backbone.create_backbone`` builds
from the same name, so ``encoder_state_dict()`` loads into the fine-tuning model key for key.

Position embeddings are fixed 2-D sin-cos in encoder and decoder, as in the paper. The encoder's
are written into timm's ``pos_embed`` parameter and frozen for pretraining (fine-tuning starts
from them and learns them); the decoder's are a non-persistent buffer, a pure function of the
patch grid, so checkpoints do not carry them.

The encoder's final ``norm``: pretraining normalises every output token with it. MAE fine-tuning
with average pooling drops it and normalises the pooled feature with a fresh ``fc_norm`` (timm
builds the backbone that way with ``global_pool="avg"``), so ``encoder_state_dict`` leaves ``norm``
out by default; ``include_norm=True`` keeps it for a backbone that has a final token norm.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from functools import partial
from pathlib import Path

import numpy as np
import timm
import torch
from PIL import Image
from timm.models.vision_transformer import Block, VisionTransformer
from torch import Tensor, nn

from cer.models.conv_stem import ConvStemPatchEmbed


def sincos_pos_embed_2d(embed_dim: int, grid_size: tuple[int, int]) -> Tensor:
    """Fixed 2-D sine-cosine position embeddings, one row per patch in raster order.

    The first half of the channels encodes the patch row, the second half its column; each half
    is sines then cosines over geometrically spaced frequencies (Vaswani et al. 2017).

    Returns:
        ``[grid_h * grid_w, embed_dim]`` float32 tensor.
    """
    if embed_dim % 4:
        raise ValueError(f"2-D sin-cos position embeddings need a width divisible by 4, got {embed_dim}")
    quarter = embed_dim // 4
    omega = 1.0 / 10000 ** (torch.arange(quarter, dtype=torch.float64) / quarter)  # [D/4]
    rows, cols = torch.meshgrid(
        torch.arange(grid_size[0], dtype=torch.float64), torch.arange(grid_size[1], dtype=torch.float64),
        indexing="ij",
    )

    def encode(pos: Tensor) -> Tensor:
        angles = pos.reshape(-1, 1) * omega  # [L, D/4]
        return torch.cat([angles.sin(), angles.cos()], dim=1)  # [L, D/2]

    return torch.cat([encode(rows), encode(cols)], dim=1).float()  # [L, D]


def random_masking(
    x: Tensor, mask_ratio: float, generator: torch.Generator | None = None
) -> tuple[Tensor, Tensor, Tensor]:
    """Keep a random ``1 - mask_ratio`` of the tokens of each sample (argsort of uniform noise).

    Every sample keeps exactly ``int(L * (1 - mask_ratio))`` tokens.

    Args:
        x: ``[N, L, D]`` patch tokens.
        mask_ratio: fraction of tokens to mask, in ``[0, 1)``.
        generator: makes the masks reproducible; it may live on another device than ``x``.

    Returns:
        ``(visible [N, K, D], mask [N, L] with 1 = masked, ids_restore [N, L])``, where
        ``ids_restore`` puts the shuffled order (visible first) back into patch order.
    """
    n, length, dim = x.shape
    keep = int(length * (1 - mask_ratio))
    noise_device = generator.device if generator is not None else x.device
    noise = torch.rand(n, length, generator=generator, device=noise_device).to(x.device)  # [N, L]
    ids_shuffle = noise.argsort(dim=1)  # the smallest noise values are kept
    ids_restore = ids_shuffle.argsort(dim=1)
    ids_keep = ids_shuffle[:, :keep]  # [N, K]
    visible = torch.gather(x, 1, ids_keep.unsqueeze(-1).expand(-1, -1, dim))  # [N, K, D]
    mask = torch.ones(n, length, device=x.device)
    mask[:, :keep] = 0
    mask = torch.gather(mask, 1, ids_restore)  # [N, L], back in patch order
    return visible, mask, ids_restore


class MaskedAutoencoderViT(nn.Module):
    """MAE with a timm ViT encoder (built by name) and a light transformer decoder.

    Args:
        encoder_name: timm model name of the encoder, the same name the backbone is built from.
        img_size: square input size in pixels.
        decoder_embed_dim: decoder width (paper: 512).
        decoder_depth: decoder blocks (paper: 8).
        decoder_num_heads: decoder attention heads (paper: 16).
        mlp_ratio: MLP width of the decoder blocks relative to ``decoder_embed_dim``.
        mask_ratio: fraction of patches masked per sample (paper and 001: 0.75).
        norm_pix_loss: regress each patch normalised by its own mean and variance (paper: better
            representations) instead of raw pixels.
        **encoder_kwargs: passed to ``timm.create_model`` (``patch_size``, ``depth``, ...).
    """

    def __init__(
        self,
        encoder_name: str = "vit_base_patch16_224",
        img_size: int = 224,
        *,
        decoder_embed_dim: int = 512,
        decoder_depth: int = 8,
        decoder_num_heads: int = 16,
        mlp_ratio: float = 4.0,
        mask_ratio: float = 0.75,
        norm_pix_loss: bool = False,
        **encoder_kwargs,
    ):
        super().__init__()
        clash = sorted({"num_classes", "global_pool", "pretrained"} & set(encoder_kwargs))
        if clash:
            raise ValueError(f"encoder_kwargs may not set {clash}: the MAE encoder is headless and untrained")
        _check_mask_ratio(mask_ratio)
        self.mask_ratio, self.norm_pix_loss = mask_ratio, norm_pix_loss
        # A headless encoder with no pooling: forward_encoder returns every token, normalised by `norm`.
        self.encoder = timm.create_model(
            encoder_name, pretrained=False, img_size=img_size, num_classes=0, global_pool="", **encoder_kwargs
        )
        if not isinstance(self.encoder, VisionTransformer):
            kind = type(self.encoder).__name__
            raise TypeError(f"{encoder_name!r} is a {kind}; the MAE needs a timm VisionTransformer")
        embed_dim = self.encoder.embed_dim
        patch_h, patch_w = self.patch_size
        # A convolutional stem's proj takes the stem's features, not pixels: it records in_chans itself.
        in_chans = getattr(self.encoder.patch_embed, "in_chans", None) or self.encoder.patch_embed.proj.in_channels

        self.mask_token = nn.Parameter(torch.zeros(1, 1, decoder_embed_dim))
        self.decoder_embed = nn.Linear(embed_dim, decoder_embed_dim)
        norm_layer = partial(nn.LayerNorm, eps=1e-6)
        self.decoder_blocks = nn.Sequential(*[
            Block(decoder_embed_dim, decoder_num_heads, mlp_ratio, qkv_bias=True, norm_layer=norm_layer)
            for _ in range(decoder_depth)
        ])
        self.decoder_norm = nn.LayerNorm(decoder_embed_dim, eps=1e-6)
        self.decoder_pred = nn.Linear(decoder_embed_dim, patch_h * patch_w * in_chans)
        self.register_buffer(
            "decoder_pos_embed", sincos_pos_embed_2d(decoder_embed_dim, self.grid_size)[None], persistent=False
        )  # [1, L, Dd]
        self._init_weights()

    @property
    def patch_size(self) -> tuple[int, int]:
        return tuple(self.encoder.patch_embed.patch_size)

    @property
    def grid_size(self) -> tuple[int, int]:
        return tuple(self.encoder.patch_embed.grid_size)

    def _init_weights(self) -> None:
        pos = self.encoder.pos_embed
        if pos is not None:
            # Prefix tokens (class, registers) that share pos_embed get a zero embedding, as in MAE.
            n_patches = self.grid_size[0] * self.grid_size[1]
            with torch.no_grad():
                pos.zero_()
                pos[0, pos.shape[1] - n_patches:] = sincos_pos_embed_2d(pos.shape[-1], self.grid_size)
            pos.requires_grad_(False)
        nn.init.normal_(self.mask_token, std=0.02)
        for name, module in self.named_modules():
            if not name.startswith("decoder_"):
                continue  # timm initialised the encoder
            if isinstance(module, nn.Linear):
                nn.init.xavier_uniform_(module.weight)
                nn.init.zeros_(module.bias)
            elif isinstance(module, nn.LayerNorm):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)

    def patchify(self, imgs: Tensor) -> Tensor:
        """``[N, C, H, W]`` images to ``[N, L, ph * pw * C]`` patches (pixels in (row, col, channel) order)."""
        (patch_h, patch_w), (grid_h, grid_w) = self.patch_size, self.grid_size
        n, c, h, w = imgs.shape
        if (h, w) != (grid_h * patch_h, grid_w * patch_w):
            raise ValueError(f"this MAE was built for {grid_h * patch_h}x{grid_w * patch_w} images, got {h}x{w}")
        x = imgs.reshape(n, c, grid_h, patch_h, grid_w, patch_w)
        x = torch.einsum("nchpwq->nhwpqc", x)
        return x.reshape(n, grid_h * grid_w, patch_h * patch_w * c)

    def unpatchify(self, patches: Tensor) -> Tensor:
        """Inverse of ``patchify``: ``[N, L, ph * pw * C]`` to ``[N, C, H, W]``."""
        (patch_h, patch_w), (grid_h, grid_w) = self.patch_size, self.grid_size
        n, length, dim = patches.shape
        c = dim // (patch_h * patch_w)
        x = patches.reshape(n, grid_h, grid_w, patch_h, patch_w, c)
        x = torch.einsum("nhwpqc->nchpwq", x)
        return x.reshape(n, c, grid_h * patch_h, grid_w * patch_w)

    def forward_encoder(
        self, imgs: Tensor, mask_ratio: float, generator: torch.Generator | None = None
    ) -> tuple[Tensor, Tensor, Tensor]:
        """Encode the visible patches: ``(latent [N, P + K, D], mask [N, L], ids_restore [N, L])``.

        ``P`` is the number of prefix tokens (class, registers), ``K`` the visible patches.
        """
        enc = self.encoder
        n, length = imgs.shape[0], self.grid_size[0] * self.grid_size[1]
        _, mask, ids_restore = random_masking(imgs.new_zeros(n, length, 1), mask_ratio, generator)
        if isinstance(enc.patch_embed, ConvStemPatchEmbed):
            # A convolutional stem's receptive field reaches into neighbouring patches: blank the
            # masked pixels first, or visible tokens would carry what the decoder must predict.
            patch_dim = self.patch_size[0] * self.patch_size[1] * imgs.shape[1]
            imgs = imgs * (1 - self.unpatchify(mask.unsqueeze(-1).expand(-1, -1, patch_dim).to(imgs.dtype)))
        x = enc.patch_embed(imgs)  # [N, L, D]
        x = enc._pos_embed(x)  # [N, P + L, D]: timm adds the position embeddings and prefix tokens
        prefix, patches = x[:, : enc.num_prefix_tokens], x[:, enc.num_prefix_tokens:]
        keep = length - int(mask[0].sum().item())
        ids_keep = ids_restore.argsort(dim=1)[:, :keep]  # the shuffled order, visible first
        visible = torch.gather(patches, 1, ids_keep.unsqueeze(-1).expand(-1, -1, patches.shape[-1]))  # [N, K, D]
        x = torch.cat([prefix, visible], dim=1)  # [N, P + K, D]
        x = enc.blocks(enc.norm_pre(x))
        return enc.norm(x), mask, ids_restore

    def forward_decoder(self, latent: Tensor, ids_restore: Tensor) -> Tensor:
        """Predict every patch from the visible latents: ``[N, L, ph * pw * C]``."""
        n_prefix = self.encoder.num_prefix_tokens
        x = self.decoder_embed(latent)  # [N, P + K, Dd]
        prefix, visible = x[:, :n_prefix], x[:, n_prefix:]
        n, length = ids_restore.shape
        mask_tokens = self.mask_token.expand(n, length - visible.shape[1], -1)  # [N, L - K, Dd]
        patches = torch.cat([visible, mask_tokens], dim=1)  # [N, L, Dd], shuffled order
        patches = torch.gather(patches, 1, ids_restore.unsqueeze(-1).expand(-1, -1, x.shape[-1]))
        x = torch.cat([prefix, patches + self.decoder_pos_embed], dim=1)  # [N, P + L, Dd]
        x = self.decoder_norm(self.decoder_blocks(x))
        return self.decoder_pred(x)[:, n_prefix:]  # [N, L, ph * pw * C]

    def reconstruction_loss(self, imgs: Tensor, pred: Tensor, mask: Tensor) -> Tensor:
        """Mean squared error over the masked patches only (visible patches do not count)."""
        target = self.patchify(imgs).float()  # [N, L, ph * pw * C]
        if self.norm_pix_loss:
            target = normalise_patches(target)
        per_patch = ((pred.float() - target) ** 2).mean(dim=-1)  # [N, L]
        return (per_patch * mask).sum() / mask.sum().clamp_min(1)

    def forward(
        self, imgs: Tensor, mask_ratio: float | None = None, generator: torch.Generator | None = None
    ) -> dict[str, Tensor]:
        """Mask, encode, decode, score.

        Args:
            imgs: ``[N, C, H, W]`` normalised images.
            mask_ratio: overrides the ratio set at construction for this call.
            generator: draws the masks (same generator state => same masks).

        Returns:
            ``loss`` (scalar), ``pred`` ``[N, L, ph * pw * C]`` and ``mask`` ``[N, L]`` (1 = masked).
        """
        mask_ratio = self.mask_ratio if mask_ratio is None else mask_ratio
        _check_mask_ratio(mask_ratio)
        latent, mask, ids_restore = self.forward_encoder(imgs, mask_ratio, generator)
        pred = self.forward_decoder(latent, ids_restore)
        return {"loss": self.reconstruction_loss(imgs, pred, mask), "pred": pred, "mask": mask}

    def encoder_state_dict(self, include_norm: bool = False) -> dict[str, Tensor]:
        """The encoder's weights under the keys of ``create_backbone(encoder_name, ...)``.

        Loading them into that backbone leaves only ``head.*`` and ``fc_norm.*`` missing. The final
        ``norm`` is left out unless ``include_norm`` (see the module docstring).
        """
        return {
            key: value.detach().clone()
            for key, value in self.encoder.state_dict().items()
            if include_norm or not key.startswith("norm.")
        }


def normalise_patches(patches: Tensor, eps: float = 1e-6) -> Tensor:
    """Each patch minus its mean, over its standard deviation (the ``norm_pix_loss`` target)."""
    mean = patches.mean(dim=-1, keepdim=True)
    var = patches.var(dim=-1, keepdim=True)
    return (patches - mean) / (var + eps).sqrt()


def _check_mask_ratio(mask_ratio: float) -> None:
    if not 0 <= mask_ratio < 1:
        raise ValueError(f"mask_ratio must be in [0, 1), got {mask_ratio}")


@torch.no_grad()
def mae_reconstruction_grid(
    model: MaskedAutoencoderViT,
    imgs: Tensor,
    path: str | os.PathLike,
    *,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
    generator: torch.Generator | None = None,
    max_images: int = 8,
) -> Path:
    """Write a PNG with three rows: originals, their masked inputs (grey = masked), reconstructions.

    The reconstruction shows the visible patches as they were and the model's prediction for the
    masked ones. With ``norm_pix_loss`` the model predicts normalised patches; they are mapped back
    to pixels with each true patch's mean and variance, as the MAE authors' demo does.

    Args:
        model: the autoencoder (run in eval mode; its training flag is restored).
        imgs: ``[N, C, H, W]`` images as the model sees them; the first ``max_images`` are shown.
        path: where to write the PNG (parent folders are created).
        mean, std: the normalisation the images went through, undone for display; ``None`` means
            the images are already in ``[0, 1]``.
        generator: draws the masks, for a reproducible picture.
        max_images: columns of the grid.

    Returns:
        The path written.
    """
    imgs = imgs[:max_images]
    was_training = model.training
    model.eval()
    try:
        out = model(imgs, generator=generator)
    finally:
        model.train(was_training)
    target = model.patchify(imgs).float()  # [N, L, ph * pw * C]
    pred = out["pred"].float()
    if model.norm_pix_loss:
        pred = pred * (target.var(dim=-1, keepdim=True) + 1e-6).sqrt() + target.mean(dim=-1, keepdim=True)
    mask = out["mask"].unsqueeze(-1)  # [N, L, 1]

    def to_display(patches: Tensor) -> Tensor:
        x = model.unpatchify(patches)
        if mean is not None and std is not None:
            x = x * x.new_tensor(std).view(1, -1, 1, 1) + x.new_tensor(mean).view(1, -1, 1, 1)
        return x.clamp(0, 1)

    masked_area = model.unpatchify(mask.expand_as(target)) > 0
    original = to_display(target)
    masked = torch.where(masked_area, torch.full_like(original, 0.5), original)
    reconstruction = to_display(target * (1 - mask) + pred * mask)
    image = _tile([original, masked, reconstruction])
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image).save(path)
    return path


def _tile(rows: list[Tensor], gap: int = 2, min_tile: int = 96) -> np.ndarray:
    """Lay ``[N, C, H, W]`` batches in ``[0, 1]`` out as rows of an RGB uint8 image on white."""
    n, c, h, w = rows[0].shape
    scale = max(1, math.ceil(min_tile / max(h, w)))  # small training crops are enlarged, pixels kept sharp
    th, tw = h * scale, w * scale
    canvas = np.full((len(rows) * (th + gap) + gap, n * (tw + gap) + gap, 3), 255, dtype=np.uint8)
    for r, batch in enumerate(rows):
        pixels = (batch.expand(-1, 3, -1, -1) if c == 1 else batch[:, :3]).permute(0, 2, 3, 1)
        pixels = (pixels.cpu().numpy() * 255).round().astype(np.uint8)
        pixels = pixels.repeat(scale, axis=1).repeat(scale, axis=2)  # [N, th, tw, 3]
        for i in range(n):
            top, left = gap + r * (th + gap), gap + i * (tw + gap)
            canvas[top : top + th, left : left + tw] = pixels[i]
    return canvas
