"""The shipped MTL overlays (mtl/overlays/): paper 003's recipe loads with the values the paper states,
and a tiny MTL run trains under it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from cer.config import load_config
from mtl.config import MTLConfig

PAPER_003 = Path(__file__).parent.parent / "mtl" / "overlays" / "paper_003.yaml"


def test_paper_003_overlay_sets_its_optimiser_ema_clipping_early_stopping_and_focal_loss():
    cfg = load_config(MTLConfig, [PAPER_003])
    o, t = cfg.optim, cfg.train
    assert (o.name, o.lr, o.schedule, o.warmup_epochs, o.clip_grad) == ("adam", 1e-4, "constant", 0.0, 0.1)
    assert (t.ema, t.ema_decay, t.early_stop_patience) == (True, 0.99, 15)
    assert (cfg.loss.expr, cfg.loss.focal_gamma) == ("focal", 2.0)
    default = MTLConfig()  # what the overlay does not name stays as it was
    assert cfg.tasks == default.tasks and cfg.model == default.model and cfg.loss.au == default.loss.au
    assert (o.batch_size, o.weight_decay) == (default.optim.batch_size, default.optim.weight_decay)


def test_a_tiny_mtl_run_trains_under_the_paper_003_overlay(tiny_synth, tmp_path):
    from mtl.cli import main
    from mtl.task import MTLTask

    aff, run = tiny_synth / "aff-wild2", tmp_path / "run"
    tiny = ["model.img_size=32", "train.progress=false", "optim.batch_size=32", "model.drop_path=0.0"]
    args = ["train", str(PAPER_003), "--joint", "au,expr", "--data", str(aff), "--epochs", "2", "-o", str(run)]
    for item in tiny:
        args += ["--set", item]
    result = CliRunner().invoke(main, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["lr"] for r in rows] == pytest.approx([1e-4, 1e-4])  # fixed from the first step
    cfg = load_config(MTLConfig, [run / "config.yaml"])
    assert cfg.loss.expr == "focal" and cfg.train.ema_decay == 0.99
    # the run's expression task trains with eq. 9 of 003 at the configured gamma
    assert MTLTask(cfg).affect["expr"].focal_gamma == 2.0
