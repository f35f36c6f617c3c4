"""MaskedAutoencoderViT on a tiny ViT (32 px, patch 8: a 4x4 grid of 16 patches)."""

from __future__ import annotations

import numpy as np
import pytest
import timm
import torch
import torch.nn.functional as F
from PIL import Image

from cer.models.mae import (
    MaskedAutoencoderViT,
    mae_reconstruction_grid,
    normalise_patches,
    random_masking,
    sincos_pos_embed_2d,
)

TINY = dict(patch_size=8, depth=2, embed_dim=32, num_heads=2)


def tiny_mae(**kwargs) -> MaskedAutoencoderViT:
    torch.manual_seed(0)
    args = dict(img_size=32, decoder_embed_dim=16, decoder_depth=1, decoder_num_heads=2, **TINY)
    return MaskedAutoencoderViT("vit_tiny_patch16_224", **{**args, **kwargs})


def images(n: int = 4, seed: int = 0) -> torch.Tensor:
    return torch.randn(n, 3, 32, 32, generator=torch.Generator().manual_seed(seed))


def seeded(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("ratio, masked", [(0.75, 12), (0.5, 8), (0.0, 0)])
def test_forward_shapes_and_exact_mask_ratio(ratio: float, masked: int) -> None:
    out = tiny_mae(mask_ratio=ratio)(images(), generator=seeded(0))
    assert out["pred"].shape == (4, 16, 8 * 8 * 3)
    assert out["mask"].shape == (4, 16)
    assert set(out["mask"].unique().tolist()) <= {0.0, 1.0}
    assert out["mask"].sum(dim=1).tolist() == [masked] * 4
    assert out["loss"].ndim == 0 and torch.isfinite(out["loss"])


@pytest.mark.parametrize("encoder_kwargs", [dict(class_token=False), dict(reg_tokens=2, no_embed_class=True)])
def test_prefix_token_variants(encoder_kwargs: dict) -> None:
    out = tiny_mae(**encoder_kwargs)(images(2), generator=seeded(0))
    assert out["pred"].shape == (2, 16, 192)
    assert out["mask"].sum().item() == 24


def test_random_masking_keeps_the_unmasked_tokens() -> None:
    x = torch.arange(2 * 10 * 3, dtype=torch.float32).reshape(2, 10, 3)
    visible, mask, ids_restore = random_masking(x, 0.7, seeded(1))
    assert visible.shape == (2, 3, 3)
    for i in range(2):
        assert sorted(visible[i, :, 0].tolist()) == sorted(x[i, mask[i] == 0, 0].tolist())
    # ids_restore undoes the shuffle: visible tokens first, then the masked ones, back in patch order.
    padded = torch.cat([visible, torch.full((2, 7, 3), -1.0)], dim=1)
    restored = torch.gather(padded, 1, ids_restore.unsqueeze(-1).expand(-1, -1, 3))
    assert torch.equal(restored[mask == 0], x[mask == 0])
    assert (restored[mask == 1] == -1).all()


def test_loss_counts_only_masked_patches() -> None:
    model, imgs = tiny_mae(), images()
    out = model(imgs, generator=seeded(0))
    pred, mask = out["pred"].detach(), out["mask"]
    loss = model.reconstruction_loss(imgs, pred, mask)
    manual = ((pred - model.patchify(imgs)) ** 2).mean(-1)[mask == 1].mean()
    assert torch.allclose(loss, manual)
    visible_changed = pred + 10.0 * (1 - mask).unsqueeze(-1)
    assert torch.allclose(model.reconstruction_loss(imgs, visible_changed, mask), loss)
    masked_changed = pred + 1.0 * mask.unsqueeze(-1)
    assert not torch.allclose(model.reconstruction_loss(imgs, masked_changed, mask), loss)
    # And no gradient reaches the predictions of visible patches.
    pred.requires_grad_(True)
    model.reconstruction_loss(imgs, pred, mask).backward()
    assert (pred.grad[mask == 0] == 0).all() and (pred.grad[mask == 1] != 0).any()


def test_norm_pix_loss_targets_normalised_patches() -> None:
    model, imgs = tiny_mae(norm_pix_loss=True), images()
    mask = model(imgs, generator=seeded(0))["mask"]
    perfect = normalise_patches(model.patchify(imgs))
    assert model.reconstruction_loss(imgs, perfect, mask).item() < 1e-6
    # Invariant to brightness and contrast per image; the raw-pixel loss is not.
    pred = torch.randn_like(perfect)
    brighter = 2 * imgs + 3
    loss = model.reconstruction_loss(imgs, pred, mask)
    assert torch.allclose(loss, model.reconstruction_loss(brighter, pred, mask), atol=1e-4)
    raw = tiny_mae(norm_pix_loss=False)
    assert not torch.allclose(raw.reconstruction_loss(imgs, pred, mask), raw.reconstruction_loss(brighter, pred, mask))


def test_same_generator_same_output() -> None:
    model, imgs = tiny_mae(), images()
    a, b = model(imgs, generator=seeded(3)), model(imgs, generator=seeded(3))
    assert torch.equal(a["mask"], b["mask"]) and torch.equal(a["pred"], b["pred"]) and torch.equal(a["loss"], b["loss"])
    assert not torch.equal(a["mask"], model(imgs, generator=seeded(4))["mask"])


def test_patchify_layout_and_round_trip() -> None:
    model, imgs = tiny_mae(), images(2)
    patches = model.patchify(imgs)
    assert patches.shape == (2, 16, 192)
    # Patch 1 is row 0, column 1 of the grid, its pixels in (row, col, channel) order.
    assert torch.equal(patches[:, 1], imgs[:, :, 0:8, 8:16].permute(0, 2, 3, 1).reshape(2, -1))
    assert torch.equal(model.unpatchify(patches), imgs)
    with pytest.raises(ValueError, match="32x32"):
        model.patchify(torch.zeros(1, 3, 48, 48))


def test_invalid_mask_ratio_is_refused() -> None:
    with pytest.raises(ValueError, match="mask_ratio"):
        tiny_mae(mask_ratio=1.0)
    with pytest.raises(ValueError, match="mask_ratio"):
        tiny_mae()(images(1), mask_ratio=-0.1)


def test_encoder_pos_embed_is_fixed_sincos() -> None:
    model = tiny_mae()
    pos = model.encoder.pos_embed
    assert not pos.requires_grad
    assert torch.equal(pos[0, 0], torch.zeros(32))  # class token
    assert torch.allclose(pos[0, 1:], sincos_pos_embed_2d(32, (4, 4)))
    assert "decoder_pos_embed" not in model.state_dict()  # recomputed from the grid, not stored


def test_optimiser_steps_lower_the_loss() -> None:
    # Smooth images (upsampled 4x4 noise): masked patches are predictable from their neighbours.
    coarse = torch.randn(8, 3, 4, 4, generator=seeded(0))
    model, imgs = tiny_mae(), F.interpolate(coarse, size=32, mode="bilinear", align_corners=False)
    optimiser = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    losses = []
    for _ in range(25):
        loss = model(imgs, generator=seeded(0))["loss"]  # the same masks each step: a fixed problem
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
    assert losses[-1] < 0.8 * losses[0], losses


def test_encoder_state_dict_fits_the_fine_tuning_backbone() -> None:
    model = tiny_mae()
    backbone = timm.create_model("vit_tiny_patch16_224", img_size=32, num_classes=6, global_pool="avg", **TINY)
    state = model.encoder_state_dict()
    result = backbone.load_state_dict(state, strict=False)
    assert sorted(result.missing_keys) == ["fc_norm.bias", "fc_norm.weight", "head.bias", "head.weight"]
    assert result.unexpected_keys == []
    assert torch.equal(backbone.blocks[1].mlp.fc2.weight, model.encoder.blocks[1].mlp.fc2.weight)
    assert torch.equal(backbone.pos_embed, model.encoder.pos_embed)
    # The copy is detached from the live model.
    state["cls_token"].add_(1)
    assert not torch.equal(state["cls_token"], model.encoder.cls_token)
    with_norm = backbone.load_state_dict(model.encoder_state_dict(include_norm=True), strict=False)
    assert sorted(with_norm.unexpected_keys) == ["norm.bias", "norm.weight"]


@pytest.mark.parametrize("norm_pix_loss", [False, True])
def test_reconstruction_grid_png(tmp_path, norm_pix_loss: bool) -> None:
    model = tiny_mae(norm_pix_loss=norm_pix_loss)
    model.train()
    imgs = images(5).clamp(-1, 1)
    path = mae_reconstruction_grid(model, imgs, tmp_path / "sub" / "grid.png", mean=(0.5,) * 3, std=(0.5,) * 3,
                                   generator=seeded(0), max_images=3)
    assert model.training
    grid = np.asarray(Image.open(path))
    tile, gap = 96, 2  # 32 px tiles are enlarged 3x
    assert grid.shape == (3 * (tile + gap) + gap, 3 * (tile + gap) + gap, 3)
    first = grid[gap : gap + tile, gap : gap + tile]
    expected = ((imgs[0] * 0.5 + 0.5).permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    assert np.array_equal(first[::3, ::3], expected)
    masked_row = grid[2 * gap + tile : 2 * gap + 2 * tile, gap : gap + tile]
    assert (masked_row == 128).all(axis=-1).mean() == pytest.approx(0.75)  # grey where masked
