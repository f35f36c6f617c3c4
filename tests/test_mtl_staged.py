"""Staged training (004 sec. 4.3): a run continues from every weight of a finished MTL run (a ViT's
position embeddings resampled when the run had another image size); a frozen backbone stays exactly
as loaded; any timm CNN can be the backbone."""

from __future__ import annotations

import logging

import pytest
import torch
from tiny_mtl import TINY_MTL_SET as TINY
from tiny_mtl import mtl_cli as mtl

from cer.config import load_config
from cer.models.checkpoint import CheckpointMismatchError
from mtl.affect_tasks import AFFECT_TASKS
from mtl.config import MTLConfig
from mtl.model import MTLArchitecture, MTLModel, build_model
from mtl.runs import load_mtl
from mtl.staged import is_run_checkpoint, load_mtl_run

CNN = "resnet10t"  # the smallest timm ResNet


def arch(name: str, tasks: list[str], img_size: int = 32) -> MTLArchitecture:
    return MTLArchitecture(backbone=name, img_size=img_size, tasks=tasks,
                           head_sizes=[AFFECT_TASKS[t].outputs for t in tasks])


def part(model: torch.nn.Module, prefix: str) -> dict[str, torch.Tensor]:
    return {k: v for k, v in model.state_dict().items() if k.startswith(prefix)}


def assert_equal(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys() and a
    for k in a:
        assert torch.equal(a[k], b[k]), k


@pytest.fixture(scope="module")
def aff(tiny_synth):
    return tiny_synth / "aff-wild2"


@pytest.fixture(scope="module")
def au_run(aff, tmp_path_factory):
    run = tmp_path_factory.mktemp("staged") / "au"
    mtl("train", "--joint", "au", "--data", str(aff), "--epochs", "1", "-o", str(run), *TINY)
    return run


def test_expr_stage_starts_from_the_au_run(aff, au_run, caplog):
    from mtl.task import MTLTask

    cfg = load_config(MTLConfig, overrides=[
        f"data.train.path={aff}", f"data.val.path={aff}", "tasks.joint=au,expr", "model.img_size=32",
        f"model.checkpoint={au_run}", "train.progress=false",
    ])
    with caplog.at_level(logging.INFO, logger="mtl.staged"):
        model = MTLTask(cfg).build_model()
    old, _ = load_mtl(au_run)
    assert_equal(part(model, "backbone."), part(old, "backbone."))
    assert_equal(part(model, "heads.au."), part(old, "heads.au."))
    assert "new (freshly initialised): heads.expr" in caplog.text


def test_a_checkpoint_of_another_backbone_names_the_keys(au_run):
    with pytest.raises(CheckpointMismatchError) as err:
        load_mtl_run(build_model(arch(CNN, ["au"])), au_run)
    message = str(err.value)
    assert "missing from the checkpoint: backbone." in message and "not in this model: backbone." in message
    assert f"vit_face_tiny at 32 px, this model's {CNN}" in message


def test_a_run_of_another_image_size_loads_with_its_position_embeddings_resampled(au_run, caplog):
    from timm.layers import resample_abs_pos_embed

    model = build_model(arch("vit_face_tiny", ["au"], img_size=48))  # stem stride 16: 2x2 patches -> 3x3
    with caplog.at_level(logging.INFO, logger="mtl.staged"):
        report = load_mtl_run(model, au_run)
    assert report.interpolated == ["backbone.pos_embed"]
    assert report.missing == report.unexpected == report.dropped_shape_mismatch == []
    assert report.details["backbone.pos_embed"] == "[1, 5, 192] -> [1, 10, 192]"  # class token + 4 -> + 9
    assert "resampled to this image size: backbone.pos_embed [1, 5, 192] -> [1, 10, 192]" in caplog.text
    old, new = load_mtl(au_run)[0].state_dict(), model.state_dict()
    assert all(torch.equal(new[k], old[k]) for k in old if k != "backbone.pos_embed")
    pos_old, pos_new = old["backbone.pos_embed"], new["backbone.pos_embed"]
    assert torch.equal(pos_new[:, :1], pos_old[:, :1])  # the class token's embedding is not on the grid
    expected = resample_abs_pos_embed(pos_old, new_size=[3, 3], old_size=[2, 2], num_prefix_tokens=1,
                                      interpolation="bicubic", antialias=False)
    torch.testing.assert_close(pos_new, expected, rtol=0, atol=0)
    assert not torch.equal(pos_new[:, 1:5], pos_old[:, 1:])  # resampled, not copied into the first patches
    assert model.eval()(torch.rand(1, 2, 3, 48, 48))["au"].shape == (1, 2, 12)


def test_a_run_of_another_width_is_still_refused_naming_the_keys(au_run):
    import timm

    narrow = timm.create_model("vit_face_tiny", img_size=48, embed_dim=96, num_classes=0, global_pool="avg")
    model = MTLModel(arch("vit_face_tiny", ["au"], img_size=48), narrow)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(CheckpointMismatchError) as err:
        load_mtl_run(model, au_run)
    report, message = err.value.report, str(err.value)
    # resampling fixes the grid, not the width: still a mismatch, named with both shapes
    assert report.interpolated == [] and "backbone.pos_embed" in report.dropped_shape_mismatch
    assert "backbone.pos_embed: checkpoint [1, 5, 192], model [1, 10, 96]" in message
    assert "keys of another shape: backbone." in message
    assert "vit_face_tiny at 32 px, this model's vit_face_tiny at 48 px" in message
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())  # nothing loaded


def test_frozen_backbone_stays_as_loaded_while_the_heads_train(aff, au_run, tmp_path):
    run = tmp_path / "expr"
    mtl("train", "--joint", "au,expr", "--data", str(aff), "--epochs", "1", "-o", str(run),
        *TINY, "--set", f"model.checkpoint={au_run}", "--set", "model.freeze_backbone=true")  # after TINY's null
    new, old = load_mtl(run)[0], load_mtl(au_run)[0]
    assert_equal(part(new, "backbone."), part(old, "backbone."))
    assert not torch.equal(new.heads.au.weight, old.heads.au.weight)


def test_a_timm_cnn_is_an_mtl_backbone():
    vit = build_model(arch("vit_face_tiny", ["au"]))
    assert tuple(vit.backbone.patch_embed.grid_size) == (2, 2)  # a ViT is still built for img_size
    model = build_model(arch(CNN, ["au", "v"])).eval()
    out = model(torch.rand(2, 3, 3, 32, 32))
    assert model.feature_dim == model.backbone.num_features
    assert out["au"].shape == (2, 3, 12) and out["v"].shape == (2, 3, 1)


def test_a_frozen_cnn_trains_for_an_epoch(aff, tmp_path):
    run = tmp_path / "cnn"
    mtl("train", "--joint", "au", "--data", str(aff), "--epochs", "1", "-o", str(run),
        "--set", f"model.name={CNN}", "--set", "model.freeze_backbone=true", *TINY)
    model, meta = load_mtl(run)
    assert meta["backbone"]["name"] == CNN and model.feature_dim == 512
    # kept in eval mode while training: its BatchNorm statistics are still the initial ones
    norms = [m for m in model.backbone.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert norms and all(int(m.num_batches_tracked) == 0 and not m.running_mean.any() for m in norms)


def test_the_name_builtin_mae_means_the_cached_encoder_even_beside_a_folder_of_that_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "builtin-mae").mkdir()
    assert not is_run_checkpoint("builtin-mae")
    assert is_run_checkpoint("./builtin-mae") and is_run_checkpoint(tmp_path / "builtin-mae")
