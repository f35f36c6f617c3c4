"""CE curriculum training end to end at tiny scale: run folder, determinism, resume, two processes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from tiny_ce import tiny_ce_config

from cer.compound.config import CEConfig
from cer.config import ConfigError, load_config
from cer.taxonomy import C_EXPR, CE_BASIC

EPOCHS, COMPOUND = [1, 1, 1], [0.0, 0.5, 1.0]


def write_config(folder: Path, raf: Path) -> Path:
    cfg = tiny_ce_config(raf, EPOCHS, COMPOUND)
    path = folder / "tiny.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def rows(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def val_faces(raf: Path) -> int:
    """C-EXPR-class faces in the compound test split, counted from the label file itself."""
    from cer.taxonomy import RAF_COMPOUND

    names = {n.lower().replace("_", " ") for n in C_EXPR.classes}
    lines = (raf / "compound" / "EmoLabel" / "list_patition_label.txt").read_text().split("\n")
    return sum(1 for ln in lines if ln.startswith("test")
               and RAF_COMPOUND.classes[int(ln.split()[1]) - 1].lower() in names)


def basic_test_faces(raf: Path) -> int:
    """Faces of the basic test split labelled with one of the 6 CE basic expressions (neutral is not)."""
    from cer.taxonomy import RAF_BASIC

    lines = (raf / "basic" / "EmoLabel" / "list_patition_label.txt").read_text().split("\n")
    return sum(1 for ln in lines if ln.startswith("test")
               and RAF_BASIC.classes[int(ln.split()[1]) - 1].lower() != "neutral")


@pytest.fixture(scope="module")
def config(tiny_synth, tmp_path_factory):
    return write_config(tmp_path_factory.mktemp("cfg"), tiny_synth / "raf-db")


@pytest.fixture(scope="module")
def reference_run(config, tmp_path_factory):
    from cer.compound.train import run

    out = tmp_path_factory.mktemp("runs") / "reference"
    metrics = run([str(config)], output=str(out))
    return out, metrics


def test_run_folder_holds_what_a_researcher_needs(reference_run, tiny_synth):
    out, metrics = reference_run
    history = rows(out)
    assert [r["epoch"] for r in history] == [0, 1, 2]
    assert [r["stage"] for r in history] == [1, 2, 3]
    assert [r["compound_fraction"] for r in history] == COMPOUND
    assert history[0]["n_real"] + history[0]["n_mixup"] + history[0]["n_cutmix"] == 0
    assert history[2]["n_single"] == 0 and history[2]["n_mixup"] > 0 and history[2]["n_cutmix"] > 0
    for r in history:
        assert {"train_loss", "val_f1", "basic_f1", "lr", "seconds"} <= set(r) and 0 <= r["val_f1"] <= 1
        assert 0 <= r["basic_f1"] <= 1 and {f"basic_f1/{c}" for c in CE_BASIC.classes} <= set(r)
    assert metrics["val_count"] == val_faces(tiny_synth / "raf-db")
    assert metrics["basic_count"] == basic_test_faces(tiny_synth / "raf-db")
    resolved = yaml.safe_load((out / "config.yaml").read_text())
    assert resolved["curriculum"]["epochs"] == EPOCHS and resolved["model"]["img_size"] == 32
    meta = json.loads((out / "best" / "model.json").read_text())
    assert meta["kind"] == "ce" and meta["architecture"]["name"] == "vit_face_tiny"
    assert meta["constrain"] == "c-expr" and len(meta["classes"]) == 6
    for png in ("confusion.png", "per_class_f1.png", "basic_per_class_f1.png", "curriculum.png"):
        assert (out / "report" / png).stat().st_size > 1000
    final = json.loads((out / "report" / "final_metrics.json").read_text())
    assert final["val_f1"] == pytest.approx(metrics["val_f1"])
    assert len(list((out / "checkpoints").iterdir())) == 2  # keep_checkpoints


def test_best_model_reloads_and_evaluates(reference_run, tiny_synth, tmp_path):
    from click.testing import CliRunner

    from cer.compound.evaluate import evaluate
    from cer.models.trained import load_classifier

    out, metrics = reference_run
    model, meta = load_classifier(out)
    assert meta["img_size"] == 32 and not model.training
    result = CliRunner().invoke(evaluate, [str(out), "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    saved = json.loads((tmp_path / "metrics.json").read_text())
    best = max(r["val_f1"] for r in rows(out))
    assert saved["val_f1"] == pytest.approx(best)  # best/ holds the best epoch's weights
    assert (tmp_path / "confusion.png").is_file()


def test_same_seed_same_numbers(reference_run, config, tmp_path):
    from cer.compound.train import run

    run([str(config)], output=str(tmp_path / "again"))
    a, b = rows(reference_run[0]), rows(tmp_path / "again")
    assert len(a) == len(b) == len(EPOCHS)  # zip below must not pass on a short log
    for ra, rb in zip(a, b):
        assert ra["train_loss"] == rb["train_loss"] and ra["val_f1"] == rb["val_f1"]


def test_sigkill_then_resume_auto_matches_uninterrupted(reference_run, config, tmp_path):
    out = tmp_path / "killed"
    cmd = [sys.executable, "-m", "cer.train", str(config), "--output", str(out)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    first = out / "checkpoints" / "epoch0001_batch00000000"
    deadline = time.time() + 120
    while not first.is_dir() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    assert proc.wait() == -signal.SIGKILL, "the run ended before it could be killed mid-stage"
    assert len(rows(out)) < len(EPOCHS)
    subprocess.run(cmd + ["--resume", "auto"], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    a, b = rows(reference_run[0]), rows(out)
    assert len(a) == len(b) == len(EPOCHS)  # zip below must not pass on a short log
    assert [r["epoch"] for r in b] == [0, 1, 2]
    for ra, rb in zip(a, b):
        assert ra["train_loss"] == rb["train_loss"] and ra["val_f1"] == rb["val_f1"]


def test_mid_epoch_checkpoint_resume_matches(reference_run, config, tmp_path):
    from cer.checkpoints import complete_checkpoints
    from cer.compound.train import run

    out = tmp_path / "steps"
    run([str(config)], ["train.checkpoint_every=2", "train.keep_checkpoints=100"], output=str(out))
    mid = [c for c in complete_checkpoints(out / "checkpoints") if not c.name.endswith("batch00000000")]
    assert mid, "no mid-epoch checkpoint was written"
    resumed = tmp_path / "resumed"
    run([str(config)], ["train.checkpoint_every=2"], output=str(resumed), resume=str(mid[0]))
    final = json.loads((resumed / "report" / "final_metrics.json").read_text())
    assert final["val_f1"] == pytest.approx(reference_run[1]["val_f1"])
    assert rows(resumed)[-1]["train_loss"] == pytest.approx(rows(reference_run[0])[-1]["train_loss"], rel=1e-5)


def test_torchrun_two_processes_gathers_exactly_the_validation_set(config, tiny_synth, tmp_path):
    out = tmp_path / "ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "-m", "cer.train",
           str(config), "--output", str(out),
           "--set", "curriculum.epochs=[1,1]", "--set", "curriculum.compound=[0,0.5]"]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    final = json.loads((out / "report" / "final_metrics.json").read_text())
    assert final["val_count"] == val_faces(tiny_synth / "raf-db")  # odd sizes: no padded duplicates
    assert sum(sum(r) for r in final["confusion"]) == final["val_count"]
    assert final["basic_count"] == basic_test_faces(tiny_synth / "raf-db")


def test_config_errors_name_the_key_and_suggest(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("curriculum:\n  epoch: [1, 2]\n")
    with pytest.raises(ConfigError, match=r"bad.yaml:2: unknown key 'epoch'.*did you mean 'epochs'"):
        load_config(CEConfig, [bad])
    with pytest.raises(ConfigError, match=r"2 stages in 'epochs' \[1, 2\] but 4 proportions in 'compound'"):
        load_config(CEConfig, overrides=["curriculum.epochs=[1,2]"])
    # the check's own words: the echoed override "--set curriculum.mode=mixed" holds "mix" too
    with pytest.raises(ConfigError, match=r"'curriculum\.mode' expects one of 'mix', 'pool', got 'mixed' "
                                          r"\(str\) \(did you mean 'mix'\?\)"):
        load_config(CEConfig, overrides=["curriculum.mode=mixed"])


def test_shipped_curricula_load():
    root = Path(__file__).parent.parent / "curricula"
    files = sorted(root.glob("*.yaml"))
    assert len(files) >= 8  # the overlays (curricula/overlays/) are tested in test_ablate
    for f in files:
        cfg = load_config(CEConfig, [f])
        assert len(cfg.curriculum.epochs) == len(cfg.curriculum.compound)
    assert load_config(CEConfig, [root / "four_stage.yaml"]).curriculum.epochs == [5, 5, 3, 3]


def test_held_out_basic_faces_follow_the_single_source_or_are_off():
    from cer.data.source import DataSource

    real = CEConfig()
    real.data.single = [DataSource("raf-db-basic", "/data/RAF-DB/basic", {"split": "train"})]
    assert real.data.resolved_basic_val() == DataSource("raf-db-basic", "/data/RAF-DB/basic", {"split": "test"})
    assert CEConfig().data.resolved_basic_val().path is None  # the built-in synthetic faces
    off = load_config(CEConfig, [], ["data.basic_val=null"])
    assert off.data.resolved_basic_val() is None
