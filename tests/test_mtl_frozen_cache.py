"""A run's own frozen backbone read from a feature cache (``model.cache_features``): the same run as
computed live, the backbone not run once the cache exists, a new cache for other weights or another
image size, and no cache where augmentation changes the images."""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path

import pytest
import torch

from cer.config import ConfigError, load_config
from cer.models.backbone import create_backbone
from cer.models.checkpoint import save_safetensors
from mtl.config import MTLConfig
from mtl.feature_cache import FEATURES, KEYS
from mtl.runs import load_mtl

IMG = 32


def backbone_file(path: Path, seed: int) -> Path:
    """A random vit_face_tiny backbone's weights, as a pretraining run would leave them."""
    torch.manual_seed(seed)
    save_safetensors(create_backbone("vit_face_tiny", IMG, num_classes=0).state_dict(), path)
    return path


def settings(aff: Path, checkpoint: Path, *extra: str) -> list[str]:
    return [f"data.train.path={aff}", f"data.val.path={aff}", "tasks.joint=au,va", "epochs=1",
            "sequence.length=4", f"model.img_size={IMG}", "model.drop_path=0.0", f"model.checkpoint={checkpoint}",
            "model.freeze_backbone=true", "augment.hflip=0", "train.progress=false", "optim.batch_size=16", *extra]


@pytest.fixture(scope="module")
def setup(tiny_synth, tmp_path_factory):
    """The tiny data, a backbone checkpoint, and a cache folder of this module's own."""
    root = tmp_path_factory.mktemp("frozen-cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CER_CACHE", str(root / "cache"))
        yield tiny_synth / "aff-wild2", backbone_file(root / "backbone.safetensors", seed=0), root


def train(setup, name: str, monkeypatch, *extra: str) -> tuple[Path, dict]:
    """One epoch; returns the run folder and what happened: the task, and how often the backbone ran."""
    import mtl.task
    from mtl.train import run

    aff, checkpoint, root = setup
    seen = {"backbone calls": 0}
    build = mtl.task.build_model

    def counting(arch):
        model = build(arch)

        def count(module, inputs, output):
            seen["backbone calls"] += 1

        model.backbone.register_forward_hook(count)
        return model

    original_init = mtl.task.MTLTask.__init__

    def recording(task, cfg):
        original_init(task, cfg)
        seen["task"] = task

    monkeypatch.setattr(mtl.task, "build_model", counting)
    monkeypatch.setattr(mtl.task.MTLTask, "__init__", recording)
    run(overrides=settings(aff, checkpoint, *extra), output=str(root / name))
    return root / name, seen


def history(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def weights(run: Path) -> dict[str, torch.Tensor]:
    return load_mtl(run)[0].state_dict()


def stamp(folder: Path) -> list[tuple[int, int]]:
    return [((folder / f).stat().st_mtime_ns, (folder / f).stat().st_size) for f in (FEATURES, KEYS)]


def test_cached_run_equals_the_live_run_and_the_next_run_reads_the_cache(setup, monkeypatch):
    cold, first = train(setup, "cold", monkeypatch)
    task = first["task"]
    folder, frames = task.own_extractor.cache_folder, len(task.train_set) + len(task.val_set)
    assert folder.parent == setup[2] / "cache" / "mtl-backbone-features"
    assert len((folder / KEYS).read_text().splitlines()) == frames
    # the backbone ran only to fill the cache, one call per batch of fuse.batch_size (256) frames per split
    assert first["backbone calls"] == math.ceil(len(task.train_set) / 256) + math.ceil(len(task.val_set) / 256)
    assert task.train_set.backbone.shape == (len(task.train_set), 192)

    before = stamp(folder)
    warm, second = train(setup, "warm", monkeypatch)
    assert second["backbone calls"] == 0 and stamp(folder) == before  # read back, not extracted again
    assert second["task"].own_extractor.cache_folder == folder
    # same seed, same cached features: the same run to the bit
    assert history(warm)[0]["val_p_mtl"] == history(cold)[0]["val_p_mtl"]
    trained_c, trained_w = weights(cold), weights(warm)
    assert trained_c.keys() == trained_w.keys() and all(torch.equal(v, trained_c[k]) for k, v in trained_w.items())

    live, third = train(setup, "live", monkeypatch, "model.cache_features=false")
    task = third["task"]
    assert task.own_extractor is None and task.train_set.backbone is None
    spb = task.sequences_per_batch
    steps = math.ceil(len(task.train_windows) / spb)
    val_batches = math.ceil(len(task.val_data().dataset) / (2 * spb))
    assert third["backbone calls"] == steps + val_batches  # on the images of every batch
    # the same numbers as computed live (float rounding of other batch sizes aside)
    row_c, row_l = history(cold)[0], history(live)[0]
    for key in ("train_loss", "val_f1_au", "val_ccc_v", "val_ccc_a", "val_p_mtl"):
        assert row_c[key] == pytest.approx(row_l[key], rel=1e-4, abs=1e-5), key
    assert row_c["val_p_mtl"] != 0
    trained_l = weights(live)
    assert trained_c.keys() == trained_l.keys()
    for k in trained_c:
        torch.testing.assert_close(trained_c[k], trained_l[k], rtol=1e-5, atol=1e-6, msg=k)
    # the frozen backbone is the checkpoint's in both
    loaded = {k: v for k, v in trained_c.items() if k.startswith("backbone.")}
    assert all(torch.equal(v, trained_l[k]) for k, v in loaded.items())


def test_other_weights_or_another_image_size_get_another_cache(setup):
    from mtl.task import MTLTask

    aff, _, root = setup
    checkpoint = root / "changing.safetensors"

    def cache_key(*extra: str) -> tuple[str, Path]:
        task = MTLTask(load_config(MTLConfig, overrides=settings(aff, checkpoint, *extra)))
        task.build_model()
        return task.own_extractor.fingerprint, task.own_extractor.cache_folder

    backbone_file(checkpoint, seed=1)
    first = cache_key()
    assert cache_key() == first  # the same weights: the same key
    backbone_file(checkpoint, seed=2)  # the same file name, other weights
    changed = cache_key()
    backbone_file(checkpoint, seed=1)
    larger = cache_key("model.img_size=48")  # the same weights, pos_embed resampled to 3x3 patches
    keys = {first[0], changed[0], larger[0]}
    assert len(keys) == 3 and len({first[1], changed[1], larger[1]}) == 3
    assert larger[1].name.startswith("vit_face_tiny-48px-")


def test_augmentation_turns_caching_off_or_is_refused(setup, caplog):
    from mtl.task import MTLTask

    aff, checkpoint, _ = setup
    with caplog.at_level(logging.INFO, logger="mtl.task"):
        task = MTLTask(load_config(MTLConfig, overrides=settings(aff, checkpoint, "augment.hflip=0.5")))
    assert not task.cache_backbone
    assert "features are computed every step, not cached: augment.hflip=0.5 mirrors the images" in caplog.text
    with pytest.raises(ConfigError, match="augment.hflip=0.5 mirrors the images.*set augment.hflip=0"):
        load_config(MTLConfig, overrides=settings(aff, checkpoint, "augment.hflip=0.5", "model.cache_features=true"))
    with pytest.raises(ConfigError, match="model.freeze_backbone is false"):
        load_config(MTLConfig, overrides=settings(aff, checkpoint, "model.freeze_backbone=false",
                                                  "model.cache_features=true"))
    # a backbone that trains is never cached, whatever the augmentation
    unfrozen = load_config(MTLConfig, overrides=settings(aff, checkpoint, "model.freeze_backbone=false"))
    assert not MTLTask(unfrozen).cache_backbone


def test_a_frame_written_again_in_place_is_extracted_again(tmp_path):
    """Data rendered again at the same paths (a new renderer version) must not be read from the cache
    of the old images: the row key holds the file's size and time."""
    import os

    import numpy as np
    from PIL import Image

    from cer.data.record import FaceRecord
    from mtl.extract import cached_features
    from mtl.frozen_backbone import FrozenBackbone

    calls = []

    class MeanPixel(torch.nn.Module):  # a "backbone" whose feature is the mean pixel value (in [0, 1])
        num_features = 1

        def forward(self, x):
            calls.append(len(x))
            return x.mean(dim=(1, 2, 3)).unsqueeze(1)

    extractor = FrozenBackbone(MeanPixel(), IMG, (0.0,) * 3, (1.0,) * 3, "mean-pixel", tmp_path / "cache", "mean")
    paths = [tmp_path / f"{i}.png" for i in range(3)]
    for i, p in enumerate(paths):
        Image.fromarray(np.full((IMG, IMG, 3), 40 * (i + 1), np.uint8)).save(p)
    records = [FaceRecord(image=str(p)) for p in paths]
    before = cached_features(extractor, records, progress=False)
    assert calls == [3] and before[:, 0] * 255 == pytest.approx([40, 80, 120], abs=0.5)
    assert cached_features(extractor, records, progress=False) == pytest.approx(before) and calls == [3]

    Image.fromarray(np.full((IMG, IMG, 3), 200, np.uint8)).save(paths[1])  # same path, new image
    st = os.stat(paths[1])
    os.utime(paths[1], ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))  # coarse clocks: a later time for sure
    after = cached_features(extractor, records, progress=False)
    assert calls == [3, 1]  # only the rewritten frame ran again
    assert after[:, 0] * 255 == pytest.approx([40, 200, 120], abs=0.5)
