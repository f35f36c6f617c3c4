"""Reading, adapting and loading backbone checkpoints (tiny timm ViTs, 32 px, patch 8)."""

from __future__ import annotations

import argparse
import logging
import re
from pathlib import Path

import pytest
import timm
import torch

from cer.models.checkpoint import (
    CheckpointFormatError,
    CheckpointMismatchError,
    LoadReport,
    load_backbone_weights,
    read_state_dict,
    save_safetensors,
)
from cer.models.mae import MaskedAutoencoderViT

TINY = dict(patch_size=8, embed_dim=32, num_heads=2)
NEW_HEAD = ["fc_norm.bias", "fc_norm.weight", "head.bias", "head.weight"]


def backbone(
    img_size: int = 32, num_classes: int = 6, depth: int = 2, seed: int = 0, global_pool: str = "avg", **kwargs
) -> torch.nn.Module:
    """What ``create_backbone`` builds (average pooling, fc_norm), at toy size."""
    torch.manual_seed(seed)
    return timm.create_model(
        "vit_tiny_patch16_224", img_size=img_size, num_classes=num_classes, depth=depth, global_pool=global_pool,
        **TINY, **kwargs,
    )


def tiny_mae() -> MaskedAutoencoderViT:
    torch.manual_seed(1)
    return MaskedAutoencoderViT(
        "vit_tiny_patch16_224", img_size=32, depth=2, decoder_embed_dim=16, decoder_depth=1, decoder_num_heads=2, **TINY
    )


def assert_same_tensors(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert sorted(a) == sorted(b)
    for key in a:
        assert torch.equal(a[key], b[key]), key


def test_safetensors_round_trip_is_atomic(tmp_path: Path) -> None:
    state = backbone().state_dict()
    path = tmp_path / "out" / "backbone.safetensors"
    save_safetensors(state, path, metadata={"model": "vit_tiny_patch16_224"})
    assert_same_tensors(read_state_dict(path), state)
    assert [p.name for p in path.parent.iterdir()] == ["backbone.safetensors"]  # no temporary file left


def test_save_safetensors_copies_shared_and_strided_tensors(tmp_path: Path) -> None:
    weight = torch.randn(4, 6)
    state = {"a": weight, "tied": weight, "view": weight.t()}
    save_safetensors(state, tmp_path / "x.safetensors")
    loaded = read_state_dict(tmp_path / "x.safetensors")
    assert torch.equal(loaded["tied"], weight) and torch.equal(loaded["view"], weight.t())
    with pytest.raises(TypeError, match="epoch"):
        save_safetensors({"w": weight, "epoch": 3}, tmp_path / "y.safetensors")


@pytest.mark.parametrize("wrapper, prefix", [
    ("model", ""), ("model", "module."), ("state_dict", "_orig_mod."), ("model_state", "module._orig_mod."),
    (None, "module."),
])
def test_pth_round_trip_unwraps_and_strips_prefixes(tmp_path: Path, wrapper: str | None, prefix: str) -> None:
    state = backbone().state_dict()
    inner = {prefix + k: v for k, v in state.items()}
    # MAE's training script stores its argparse.Namespace beside the weights.
    obj = {wrapper: inner, "epoch": 7, "args": argparse.Namespace(lr=1e-3)} if wrapper else inner
    torch.save(obj, tmp_path / "ckpt.pth")
    assert_same_tensors(read_state_dict(tmp_path / "ckpt.pth"), state)


class Payload:
    """Unpickling this would create a file: the proof that code ran."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def test_pickled_objects_are_refused(tmp_path: Path) -> None:
    marker = tmp_path / "code_ran"
    torch.save({"model": backbone().state_dict(), "extra": Payload(marker)}, tmp_path / "evil.pth")
    with pytest.raises(CheckpointFormatError, match="arbitrary code") as err:
        read_state_dict(tmp_path / "evil.pth")
    assert "references io.open" in str(err.value) and "save_safetensors" in str(err.value)
    assert not marker.exists()


def test_files_without_a_state_dict_are_explained(tmp_path: Path) -> None:
    torch.save({"weights": [1, 2], "epoch": 3}, tmp_path / "odd.pt")
    with pytest.raises(CheckpointFormatError, match=r"'weights' \(list\), 'epoch' \(int\)"):
        read_state_dict(tmp_path / "odd.pt")
    (tmp_path / "w.npz").write_bytes(b"")
    with pytest.raises(CheckpointFormatError, match="unknown checkpoint type '.npz'"):
        read_state_dict(tmp_path / "w.npz")
    with pytest.raises(FileNotFoundError, match="nope.pth"):
        read_state_dict(tmp_path / "nope.pth")


def test_same_architecture_loads_everything(tmp_path: Path) -> None:
    source = backbone(seed=1)
    save_safetensors(source.state_dict(), tmp_path / "b.safetensors")
    target = backbone(seed=2)
    report = load_backbone_weights(target, tmp_path / "b.safetensors")
    assert report == LoadReport()
    assert report.summary() == "all keys matched"
    assert_same_tensors(target.state_dict(), source.state_dict())


def test_project_mae_checkpoint_loads_its_encoder(tmp_path: Path) -> None:
    mae = tiny_mae()
    save_safetensors(mae.state_dict(), tmp_path / "mae.safetensors")  # encoder.*, decoder_*, mask_token
    model = backbone()
    report = load_backbone_weights(model, tmp_path / "mae.safetensors")
    assert report.missing == NEW_HEAD
    assert "mask_token" in report.unexpected and "decoder_pred.weight" in report.unexpected
    assert {"norm.weight", "norm.bias"} <= set(report.unexpected)
    assert not any(k.startswith(("encoder.", "blocks.", "pos_embed")) for k in report.unexpected)
    assert torch.equal(model.blocks[0].attn.qkv.weight, mae.encoder.blocks[0].attn.qkv.weight)
    assert "missing: fc_norm.* (2), head.* (2)" in report.summary()


def test_official_mae_layout_pth_loads(tmp_path: Path) -> None:
    """facebookresearch/mae checkpoints: flat encoder keys plus decoder_* and mask_token, under 'model'."""
    mae = tiny_mae()
    flat = mae.encoder_state_dict(include_norm=True)
    flat.update({k: v for k, v in mae.state_dict().items() if not k.startswith("encoder.")})
    torch.save({"model": flat}, tmp_path / "mae_pretrain.pth")
    model = backbone()
    report = load_backbone_weights(model, tmp_path / "mae_pretrain.pth")
    assert report.missing == NEW_HEAD and report.dropped_shape_mismatch == []
    assert torch.equal(model.cls_token, mae.encoder.cls_token)


def test_pos_embed_is_interpolated_to_another_image_size(tmp_path: Path) -> None:
    source = backbone(img_size=32)  # 4x4 grid
    with torch.no_grad():
        source.pos_embed[0, 0] = 5.0  # class token
        source.pos_embed[0, 1:] = 2.0  # constant over the grid: resampling must keep it
    save_safetensors(source.state_dict(), tmp_path / "b.safetensors")
    model = backbone(img_size=48)  # 6x6 grid
    report = load_backbone_weights(model, tmp_path / "b.safetensors")
    assert report.interpolated == ["pos_embed"] and report.missing == [] and report.dropped_shape_mismatch == []
    assert report.details["pos_embed"] == "[1, 17, 32] -> [1, 37, 32]"
    assert torch.equal(model.pos_embed[0, 0], torch.full((32,), 5.0))
    assert torch.allclose(model.pos_embed[0, 1:], torch.full((36, 32), 2.0), atol=1e-5)


def test_head_is_dropped_when_the_label_space_differs(tmp_path: Path) -> None:
    source = backbone(num_classes=6, seed=1)
    save_safetensors(source.state_dict(), tmp_path / "b.safetensors")
    model = backbone(num_classes=7, seed=2)
    head_before = model.head.weight.clone()
    report = load_backbone_weights(model, tmp_path / "b.safetensors")
    assert report.dropped_shape_mismatch == ["head.bias", "head.weight"]
    assert report.missing == ["head.bias", "head.weight"]
    assert report.details["head.weight"] == "checkpoint [6, 32], model [7, 32]"
    assert torch.equal(model.head.weight, head_before)
    assert torch.equal(model.fc_norm.weight, source.fc_norm.weight)


@pytest.mark.parametrize(
    "source_depth, model_depth, problem", [(2, 3, "missing blocks.* (12)"), (3, 2, "unexpected blocks.* (12)")]
)
def test_unexpected_mismatch_raises_unless_allowed(
    tmp_path: Path, caplog, source_depth: int, model_depth: int, problem: str
) -> None:
    source = backbone(depth=source_depth, seed=1)
    save_safetensors(source.state_dict(), tmp_path / "b.safetensors")
    model = backbone(depth=model_depth, seed=2)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(CheckpointMismatchError, match=re.escape(problem)) as err:
        load_backbone_weights(model, tmp_path / "b.safetensors")
    assert err.value.report.missing or err.value.report.unexpected
    assert_same_tensors(model.state_dict(), before)  # nothing was loaded

    with caplog.at_level(logging.WARNING, logger="cer.models.checkpoint"):
        report = load_backbone_weights(model, tmp_path / "b.safetensors", allow_mismatch=True)
    assert problem in caplog.text
    assert torch.equal(model.blocks[1].attn.proj.weight, source.blocks[1].attn.proj.weight)
    assert len(report.missing if model_depth > source_depth else report.unexpected) == 12


def test_shape_mismatch_outside_the_head_fails(tmp_path: Path) -> None:
    save_safetensors(backbone().state_dict(), tmp_path / "b.safetensors")
    model = backbone(mlp_ratio=2.0)
    with pytest.raises(CheckpointMismatchError, match=r"missing blocks\.\* \(6\)") as err:
        load_backbone_weights(model, tmp_path / "b.safetensors")
    assert "blocks.0.mlp.fc1.weight" in err.value.report.dropped_shape_mismatch


def test_token_pooled_model_needs_the_final_norm(tmp_path: Path) -> None:
    save_safetensors(tiny_mae().encoder_state_dict(), tmp_path / "enc.safetensors")
    model = backbone(global_pool="token")  # keeps the final token norm, has no fc_norm
    with pytest.raises(CheckpointMismatchError, match=r"missing norm\.\* \(2\)"):
        load_backbone_weights(model, tmp_path / "enc.safetensors")
    save_safetensors(tiny_mae().encoder_state_dict(include_norm=True), tmp_path / "enc_norm.safetensors")
    assert load_backbone_weights(model, tmp_path / "enc_norm.safetensors").missing == ["head.bias", "head.weight"]
