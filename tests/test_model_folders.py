"""One model-folder format for every kind (CE, MAE, MTL): the kind is recorded, checked on loading,
and a command given the wrong kind says so in one line."""

from __future__ import annotations

import json

import pytest
import torch
from click.testing import CliRunner

from cer.models.backbone import create_backbone
from cer.models.trained import ModelKindError, load_backbone, load_classifier, save_classifier


def mtl_run(folder):
    from mtl.model import MTLArchitecture, build_model
    from mtl.runs import save_mtl

    torch.manual_seed(0)
    arch = MTLArchitecture(backbone="vit_face_tiny", img_size=32, tasks=["au"], head_sizes=[12])
    model = build_model(arch)
    save_mtl(model, folder / "best", arch, {"mean": [0.5] * 3, "std": [0.5] * 3, "sequence": {"length": 1},
                                           "fuse": [], "metrics": {}, "config": {}})
    return folder, model


def ce_run(folder):
    torch.manual_seed(1)
    model = create_backbone("vit_face_tiny", 32, 6)
    save_classifier(model, folder / "best", "vit_face_tiny", 32, {"mean": [0.5] * 3, "std": [0.5] * 3,
                                                                   "constrain": "c-expr"})
    return folder, model


def test_every_kind_records_kind_architecture_and_backbone(tmp_path):
    for make, kind, prefix in ((ce_run, "ce", ""), (mtl_run, "mtl", "backbone.")):
        folder, _ = make(tmp_path / kind)
        meta = json.loads((folder / "best" / "model.json").read_text())
        assert meta["kind"] == kind and meta["img_size"] == 32 and "architecture" in meta
        assert meta["backbone"] == {"name": "vit_face_tiny", "img_size": 32, "prefix": prefix}


def test_loading_the_wrong_kind_names_both_kinds(tmp_path):
    folder, _ = mtl_run(tmp_path / "mtl")
    with pytest.raises(ModelKindError, match=r"holds a 'mtl' model \(made by `mtl train`\); cer predict needs a "
                                             r"'ce' model \(made by `cer train`\)"):
        load_classifier(folder, "cer predict")
    ce, _ = ce_run(tmp_path / "ce")
    from mtl.runs import load_mtl

    with pytest.raises(ModelKindError, match="holds a 'ce' model .* needs a 'mtl' model"):
        load_mtl(ce)


def test_cer_predict_given_an_mtl_run_exits_with_one_line(tmp_path):
    from cer.cli import main

    folder, _ = mtl_run(tmp_path / "mtl")
    video_dir = tmp_path / "videos"
    video_dir.mkdir()
    from PIL import Image

    Image.new("RGB", (64, 64), (120, 90, 80)).save(video_dir / "face.jpg")
    result = CliRunner().invoke(main, ["predict", str(video_dir), "--model", str(folder), "--out",
                                       str(tmp_path / "out")])
    assert result.exit_code == 1
    message = result.output.strip()
    assert len(message.splitlines()) == 1 and "Traceback" not in result.output, result.output
    assert "holds a 'mtl' model" in message and "needs a 'ce' model" in message


def test_the_backbone_of_a_ce_or_mtl_run_loads_alone_with_its_weights(tmp_path):
    images = torch.randn(2, 3, 32, 32)
    for make in (ce_run, mtl_run):
        folder, model = make(tmp_path / make.__name__)
        backbone, _ = load_backbone(folder)
        trained = model.backbone if hasattr(model, "backbone") else model
        with torch.no_grad():
            expected = trained.eval().forward_head(trained.forward_features(images), pre_logits=True)
            assert torch.allclose(backbone(images), expected, atol=1e-6)
