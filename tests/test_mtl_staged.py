"""Staged training (004 sec. 4.3): a run continues from every weight of a finished MTL run; a frozen
backbone stays exactly as loaded; any timm CNN can be the backbone."""

from __future__ import annotations

import logging

import pytest
import torch
from test_mtl_pipeline import TINY, mtl

from cer.config import load_config
from cer.models.checkpoint import CheckpointMismatchError
from mtl.affect_tasks import AFFECT_TASKS
from mtl.config import MTLConfig
from mtl.model import MTLArchitecture, build_model
from mtl.runs import load_mtl
from mtl.staged import load_mtl_run

CNN = "resnet10t"  # the smallest timm ResNet


def arch(name: str, tasks: list[str]) -> MTLArchitecture:
    return MTLArchitecture(backbone=name, img_size=32, tasks=tasks, head_sizes=[AFFECT_TASKS[t].outputs for t in tasks])


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


def test_frozen_backbone_stays_as_loaded_while_the_heads_train(aff, au_run, tmp_path):
    run = tmp_path / "expr"
    mtl("train", "--joint", "au,expr", "--data", str(aff), "--epochs", "1", "-o", str(run),
        "--set", f"model.checkpoint={au_run}", "--set", "model.freeze_backbone=true", *TINY)
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
