"""Transformer fusion (001 sec. 3.2, 003 sec. 3.1) end to end at tiny scale: the cached features of
two frozen runs and an extra per-frame stream, a transformer over clips, frame-wise heads. Only the
fusion, the transformer and the heads train; every backbone stays as it was; metrics are written;
the same seed gives the same numbers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from tiny_mtl import TINY_IMG, fake_run, history, write_stream

from cer.data.registry import read
from cer.models.trained import WEIGHTS
from mtl.evaluate import predict_run
from mtl.feature_cache import KEYS, file_fingerprint
from mtl.runs import load_mtl
from mtl.scores import score_frames
from mtl.task import MTLTask
from mtl.train import run

TRAINED = ("fusion.", "temporal.", "heads.")  # what follows the backbone


def state(model: torch.nn.Module, prefix: str = "") -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items() if k.startswith(prefix)}


@pytest.fixture(scope="module")
def setup(tiny_synth, tmp_path_factory):
    aff = tiny_synth / "aff-wild2"
    root = tmp_path_factory.mktemp("transformer-fusion")
    # two frozen single-task runs to fuse, and the run whose backbone this one starts from, frozen
    fused = [fake_run(root / "au", ("au",), seed=1), fake_run(root / "v", ("v",), seed=2)]
    own = fake_run(root / "expr", ("expr",), seed=3)
    records = [r for split in ("train", "validation") for r in read("aff-wild2-mtl", aff, split=split)]
    audio = write_stream(root / "audio", records, 6, ".npy", seed=4)
    return aff, root, fused, own, audio, len(records)


def train_once(setup, out: Path, monkeypatch) -> tuple[MTLTask, dict[str, torch.Tensor]]:
    """One epoch of transformer fusion; returns the task and the model's weights as training began."""
    aff, _, fused, own, audio, _ = setup
    seen = {}
    build = MTLTask.build_model

    def recording(task: MTLTask) -> torch.nn.Module:
        model = build(task)
        seen["task"], seen["initial"], seen["model"] = task, state(model), model
        return model

    monkeypatch.setattr(MTLTask, "build_model", recording)
    run(overrides=[
        f"data.train.path={aff}", f"data.val.path={aff}", "tasks.joint=au,va", "epochs=1", "sequence.length=4",
        f"fuse.runs={[str(f) for f in fused]}", f"fuse.extra=[{{path: {audio}, name: audio}}]",
        f"model.checkpoint={own}", "model.freeze_backbone=true", "model.temporal=transformer",
        "model.transformer.layers=1", "model.transformer.heads=2", "model.transformer.width=32",
        f"model.img_size={TINY_IMG}", "model.drop_path=0.0", "train.progress=false", "optim.batch_size=16",
    ], output=str(out))
    assert {n.split(".")[0] + "." for n, p in seen["model"].named_parameters() if p.requires_grad} == set(TRAINED)
    return seen["task"], seen["initial"]


def test_transformer_fusion_trains_from_cached_features_and_leaves_every_backbone_as_it_was(
        setup, tmp_path, monkeypatch):
    _, root, fused, own, _, frames = setup
    before = {f: (file_fingerprint(f / "best" / WEIGHTS), state(load_mtl(f)[0])) for f in (*fused, own)}
    task, initial = train_once(setup, tmp_path / "run", monkeypatch)

    # the fused runs' features came from their caches (none computed live), one row per frame read
    assert task.extractors == [] and [len(s) for s in task.train_set.fused] == [len(task.train_set)] * 2
    for f in fused:
        assert len((f / "features" / KEYS).read_text().splitlines()) == frames
    # no frozen run changed: not the fused ones, not the one the backbone came from
    for f, (fingerprint, weights) in before.items():
        assert file_fingerprint(f / "best" / WEIGHTS) == fingerprint
        after = state(load_mtl(f)[0])
        assert all(torch.equal(after[k], weights[k]) for k in weights), f
    trained, meta = load_mtl(tmp_path / "run")
    final = state(trained)
    # the backbone is the frozen one it loaded, bit for bit; fusion, transformer and heads trained
    own_backbone = state(load_mtl(own)[0], "backbone.")
    assert all(torch.equal(final[k], own_backbone[k]) and torch.equal(initial[k], own_backbone[k])
               for k in own_backbone)
    for prefix in TRAINED:
        keys = [k for k in final if k.startswith(prefix) and final[k].is_floating_point()]
        assert keys and any(not torch.equal(final[k], initial[k]) for k in keys), prefix
    arch = meta["architecture"]
    assert (arch["temporal_module"], arch["transformer"]["width"]) == ("transformer", 32)
    assert arch["fused_dims"] == [192, 192] and arch["extra_dims"] == [6]
    assert [(e["name"], e["dim"]) for e in meta["extra"]] == [("audio", 6)]

    # metrics written: one validated epoch, finite scores over every validation frame
    rows = history(tmp_path / "run")
    assert len(rows) == 1 and rows[0]["val_au_count"] == rows[0]["val_v_count"] == len(task.val_set)
    for key in ("train_loss", "val_f1_au", "val_ccc_v", "val_ccc_a", "val_p_mtl"):
        assert torch.isfinite(torch.tensor(rows[0][key])), key
    assert json.loads((tmp_path / "run" / "best" / "model.json").read_text())["metrics"]["val_p_mtl"] == \
        pytest.approx(rows[0]["val_p_mtl"])
    # and mtl evaluate's reading of the run (the stream read again from model.json) scores the same
    preds, split, _ = predict_run(tmp_path / "run", read("aff-wild2-mtl", setup[0], split="validation"),
                                  progress=False)
    assert score_frames(task.tasks, preds, split.labels)["p_mtl"] == pytest.approx(rows[0]["val_p_mtl"], abs=1e-5)


def test_transformer_fusion_gives_the_same_numbers_for_the_same_seed(setup, tmp_path, monkeypatch):
    for name in ("a", "b"):
        train_once(setup, tmp_path / name, monkeypatch)
    first, second = (history(tmp_path / n)[0] for n in ("a", "b"))
    first.pop("seconds"), second.pop("seconds")
    assert first == second
    a, b = state(load_mtl(tmp_path / "a")[0]), state(load_mtl(tmp_path / "b")[0])
    assert all(torch.equal(a[k], b[k]) for k in a)
