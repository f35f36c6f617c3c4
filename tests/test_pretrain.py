"""MAE pretraining on the shared trainer, and fine-tuning CE from its encoder."""

from __future__ import annotations

import json
import re

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


def test_probe_scores_separable_features_perfectly_and_label_free_ones_near_chance():
    import numpy as np

    from cer.compound.probe import probe_scores

    rng = np.random.default_rng(0)
    names = ("a", "b", "c")
    train_y, test_y = rng.integers(0, 3, 300), rng.integers(0, 3, 150)
    centres = 5 * np.eye(3, 8)  # one well-separated centre per class
    def features(y):
        return centres[y] + rng.normal(size=(len(y), 8))

    separable = probe_scores(features(train_y), train_y, features(test_y), test_y, names)
    assert separable["macro_f1"] == 1.0 and set(separable["per_class_f1"]) == set(names)
    noise = probe_scores(rng.normal(size=(300, 8)), train_y, rng.normal(size=(150, 8)), test_y, names)
    assert noise["macro_f1"] < 0.5


def test_cer_probe_scores_the_encoder_beside_a_random_backbone(pretrained, tiny_synth, tmp_path):
    from click.testing import CliRunner
    from tiny_ce import tiny_ce_config

    from cer.cli import main

    cfg = tiny_ce_config(tiny_synth / "raf-db", [1], [0.0])
    cfg["model"]["checkpoint"] = str(pretrained[0] / "best" / "encoder.safetensors")
    (tmp_path / "ce.yaml").write_text(yaml.safe_dump(cfg))
    result = CliRunner().invoke(main, ["probe", str(tmp_path / "ce.yaml")])
    assert result.exit_code == 0, result.output
    lines = [line for line in result.output.splitlines() if "held-out basic macro F1" in line]
    assert [line.split(":")[0].strip() for line in lines] == ["encoder", "random"]
    assert all(re.search(r"; surprise \d\.\d\d fear .* anger \d\.\d\d\)$", line) for line in lines), lines

    from cer.compound.probe import run_probe

    without = run_probe([str(tmp_path / "ce.yaml")], ["model.checkpoint=null"])
    assert list(without) == ["random"] and 0 <= without["random"]["macro_f1"] <= 1
    # the random backbone is seeded by train.seed: the same config probes the same
    again = run_probe([str(tmp_path / "ce.yaml")], ["model.checkpoint=null"])
    assert again["random"] == without["random"]
