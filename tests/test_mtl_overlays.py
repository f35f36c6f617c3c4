"""The shipped MTL overlays (mtl/overlays/): paper 003's recipe and the transformer fusion of 001/003
load with the values the papers state, and a tiny MTL run trains under each."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from tiny_mtl import TINY_MTL, as_set_options

from cer.config import load_config
from mtl.config import MTLConfig

OVERLAYS = Path(__file__).parent.parent / "mtl" / "overlays"
PAPER_003 = OVERLAYS / "paper_003.yaml"
TRANSFORMER_FUSION = OVERLAYS / "transformer_fusion.yaml"


def test_paper_003_overlay_sets_its_optimiser_ema_clipping_early_stopping_and_focal_loss():
    cfg = load_config(MTLConfig, [PAPER_003])
    o, t = cfg.optim, cfg.train
    assert (o.name, o.lr, o.schedule, o.warmup_epochs, o.clip_grad) == ("adam", 1e-4, "constant", 0.0, 0.1)
    assert (t.ema, t.ema_decay, t.early_stop_patience) == (True, 0.99, 15)
    assert (cfg.loss.expr, cfg.loss.focal_gamma) == ("focal", 2.0)
    default = MTLConfig()  # what the overlay does not name stays as it was
    assert cfg.tasks == default.tasks and cfg.model == default.model and cfg.loss.au == default.loss.au
    assert (o.batch_size, o.weight_decay) == (default.optim.batch_size, default.optim.weight_decay)


def train_under(overlay: Path, tiny_synth: Path, run: Path, *args: str) -> list[dict]:
    """``mtl train OVERLAY ARGS`` at tiny scale on the synthetic Aff-Wild2 set; the rows of metrics.jsonl."""
    from mtl.cli import main

    command = ["train", str(overlay), *args, "--data", str(tiny_synth / "aff-wild2"), "-o", str(run),
               *as_set_options(TINY_MTL)]
    result = CliRunner().invoke(main, command, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def test_a_tiny_mtl_run_trains_under_the_paper_003_overlay(tiny_synth, tmp_path):
    from mtl.task import MTLTask

    run = tmp_path / "run"
    rows = train_under(PAPER_003, tiny_synth, run, "--joint", "au,expr", "--epochs", "2")
    assert [r["lr"] for r in rows] == pytest.approx([1e-4, 1e-4])  # fixed from the first step
    cfg = load_config(MTLConfig, [run / "config.yaml"])
    assert cfg.loss.expr == "focal" and cfg.train.ema_decay == 0.99
    # the run's expression task trains with eq. 9 of 003 at the configured gamma
    assert MTLTask(cfg).affect["expr"].focal_gamma == 2.0


def test_transformer_fusion_overlay_sets_001s_clips_layers_dropout_and_003s_heads():
    cfg = load_config(MTLConfig, [TRANSFORMER_FUSION])
    m, t = cfg.model, cfg.model.transformer
    assert (cfg.sequence.length, cfg.sequence.stride) == (100, None)  # clips of 100 frames, one after another
    assert (m.temporal, m.freeze_backbone) == ("transformer", True)
    assert (t.layers, t.heads, t.dropout, t.width, t.causal) == (4, 8, 0.3, None, False)
    assert (cfg.optim.name, cfg.optim.lr) == ("adamw", 1e-4)
    default = MTLConfig()
    assert cfg.fuse == default.fuse and cfg.tasks == default.tasks and cfg.loss == default.loss
    assert (m.au_head, m.va_head, m.lstm_hidden) == (default.model.au_head, default.model.va_head, None)


def test_a_tiny_mtl_run_trains_under_the_transformer_fusion_overlay(tiny_synth, tmp_path):
    from cer.data.registry import read
    from mtl.runs import load_mtl

    run = tmp_path / "run"
    rows = train_under(TRANSFORMER_FUSION, tiny_synth, run, "--joint", "au,va", "--epochs", "1")
    # every validation frame scored once, though the synthetic videos are shorter than a clip (padded)
    assert len(rows) == 1 and rows[0]["val_au_count"] == len(read("aff-wild2-mtl", tiny_synth / "aff-wild2",
                                                                  split="validation"))
    model, meta = load_mtl(run)
    arch = meta["architecture"]
    assert (arch["temporal_module"], arch["transformer"]["layers"], arch["transformer"]["heads"]) == \
        ("transformer", 4, 8)
    assert len(model.temporal.encoder.layers) == 4 and model.temporal.width == model.feature_dim
