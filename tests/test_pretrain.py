"""MAE pretraining on the shared trainer, and fine-tuning CE from its encoder."""

from __future__ import annotations

import json

import pytest
import yaml

from cer.checkpoints import complete_checkpoints, read_progress


@pytest.fixture(scope="module")
def pretrained(tiny_synth, tmp_path_factory):
    from cer.pretrain.command import run

    raf = str(tiny_synth / "raf-db")
    cfg = {
        "data": {"train": [{"reader": "raf-db-basic", "path": raf, "options": {"split": "train"}}],
                 "val": {"reader": "raf-db-basic", "path": raf, "options": {"split": "test"}}},
        "model": {"img_size": 32, "decoder_embed_dim": 32, "decoder_depth": 1, "decoder_num_heads": 2},
        "epochs": 2, "optim": {"batch_size": 16}, "train": {"progress": False},
    }
    folder = tmp_path_factory.mktemp("pretrain")
    (folder / "pt.yaml").write_text(yaml.safe_dump(cfg))
    metrics = run([str(folder / "pt.yaml")], output=str(folder / "run"))
    return folder / "run", metrics


def test_pretraining_lowers_the_reconstruction_loss_and_writes_an_encoder(pretrained):
    run_dir, metrics = pretrained
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert rows[-1]["train_loss"] < rows[0]["train_loss"]
    assert [r["epoch"] for r in rows] == [0, 1]
    assert metrics["val_loss"] == pytest.approx(rows[-1]["val_loss"])  # run() returns the last epoch's evaluation
    # best/ was exported at the epoch of the lowest validation loss (the first of equals), as the run recorded
    best = min(rows, key=lambda r: r["val_loss"])
    progress = read_progress(complete_checkpoints(run_dir / "checkpoints")[-1])
    assert progress.best_epoch == best["epoch"] and progress.best_metric == pytest.approx(best["val_loss"])
    assert (run_dir / "best" / "encoder.safetensors").stat().st_size > 10_000
    meta = json.loads((run_dir / "best" / "model.json").read_text())
    assert meta["kind"] == "mae" and meta["architecture"]["mask_ratio"] == 0.75
    assert meta["backbone"] == {"name": "vit_face_tiny", "img_size": meta["img_size"], "prefix": "encoder."}
    assert (run_dir / "report" / "reconstructions.png").is_file()


def test_ce_fine_tuning_loads_the_encoder_with_only_the_expected_missing_keys(pretrained):
    from cer.models.backbone import create_backbone
    from cer.models.checkpoint import load_backbone_weights

    model = create_backbone("vit_face_tiny", 32, 6)
    report = load_backbone_weights(model, pretrained[0] / "best" / "encoder.safetensors")
    assert {k.split(".")[0] for k in report.missing} == {"fc_norm", "head"}
    assert report.unexpected == []
