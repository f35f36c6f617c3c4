"""Feature fusion: cached features give what features computed on the fly give; the feature cache is
keyed by frame, resumable, and never mixes features of other weights."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from tiny_mtl import TINY_IMG, fake_run

from cer.config import load_config
from cer.data.registry import read
from cer.task import data_loader
from mtl.config import MTLConfig
from mtl.extract import frame_key


@pytest.fixture(scope="module")
def aff(tiny_synth):
    return tiny_synth / "aff-wild2"


def build_task(aff: Path, fused: list[Path], live: bool):
    from mtl.task import MTLTask

    cfg = load_config(MTLConfig, overrides=[
        f"data.train.path={aff}", f"data.val.path={aff}", "tasks.joint=au,va", f"model.img_size={TINY_IMG}",
        "model.checkpoint=null",
        f"fuse.runs={[str(f) for f in fused]}", f"fuse.live={'true' if live else 'false'}", "sequence.length=4",
        "train.progress=false", "augment.hflip=0.5", "optim.batch_size=16",
    ])
    return MTLTask(cfg)


def test_fusion_with_cached_features_equals_fusion_computed_on_the_fly(aff, tmp_path):
    from mtl.inference import frame_predictions
    from mtl.task import MEAN, STD

    runs = [fake_run(tmp_path / "au", seed=1), fake_run(tmp_path / "v", ("v",), seed=2)]
    cached, live = build_task(aff, runs, live=False), build_task(aff, runs, live=True)
    assert cached.extractors == [] and len(live.extractors) == 2
    assert (tmp_path / "au" / "features" / "keys.txt").is_file()
    torch.manual_seed(0)
    model = cached.build_model()
    assert model.fusion is not None and model.temporal is not None

    # the same training batch gives the same losses (mirroring included: same generator seed)
    batch_c = epoch_batches(cached, 0)[0]
    batch_l = epoch_batches(live, 0)[0]
    assert batch_l["fused"] == [] and len(batch_c["fused"]) == 2
    gen = lambda: torch.Generator().manual_seed(3)  # noqa: E731
    model.eval()  # dropout off: the comparison is about the features, not the noise
    out_c = cached.training_step(model, batch_c, gen())
    out_l = live.training_step(model, batch_l, gen())
    for key in out_c:
        assert out_c[key].item() == pytest.approx(out_l[key].item(), rel=1e-5, abs=1e-6), key

    # and evaluation predicts the same value for every validation frame
    preds_c = frame_predictions(model, data_loader(cached.val_data()), cached.tasks, len(cached.val_set), MEAN, STD)
    preds_l = frame_predictions(model, data_loader(live.val_data()), live.tasks, len(live.val_set), MEAN, STD,
                                live.extractors)
    for t in cached.tasks:
        np.testing.assert_allclose(preds_c[t], preds_l[t], rtol=1e-4, atol=1e-5)


def test_feature_cache_resumes_and_rebuilds_for_other_weights(aff, tmp_path):
    from mtl.extract import extract_features
    from mtl.feature_cache import KEYS, FeatureCache
    from mtl.runs import FrozenExtractor

    run = fake_run(tmp_path / "run")
    records = read("aff-wild2-mtl", aff, split="validation")
    extractor = FrozenExtractor(run)
    # an "interrupted" extraction: the first 30 frames, then a torn line as a kill mid-write leaves
    first = extract_features(extractor, records[:30], batch_size=8, progress=False)
    assert len(first) == 30
    with open(first.folder / KEYS, "a") as f:
        f.write("half-written-ke")
    cache = extract_features(extractor, records, batch_size=8, progress=False)
    assert len(cache) == len(records)
    keys = (cache.folder / KEYS).read_text().splitlines()
    assert len(keys) == len(set(keys)) == len(records)
    # rows are the features of their frames, whatever batch made them
    again = extract_features(FrozenExtractor(run), records, progress=False)
    direct = again.lookup([frame_key(r) for r in records[25:35]])
    from cer.data.image_bank import ImageBank

    bank = ImageBank(records[25:35], TINY_IMG)
    images = torch.from_numpy(np.stack([bank[i] for i in range(10)])).permute(0, 3, 1, 2)
    np.testing.assert_allclose(direct, extractor(images).numpy(), rtol=1e-4, atol=1e-5)
    # other weights: the cache is emptied rather than mixed
    other = FeatureCache(cache.folder, cache.dim, "another-fingerprint")
    assert len(other) == 0


def epoch_batches(task, epoch: int, rank: int = 0, world: int = 1, start: int = 0) -> list:
    """The batches the trainer's loader gives ``rank`` in ``epoch``, from the sampler's item ``start``."""
    data = task.train_data(rank, world)
    loader = data_loader(data)
    data.sampler.set_epoch(epoch)
    if start:
        data.sampler.load_state_dict({"epoch": epoch, "start": start})
    return list(loader)


def test_train_data_is_seeded_by_epoch_and_resumes_mid_epoch(aff):
    """What the trainer relies on: the same epoch gives the same batches, and a sampler resumed
    after k batches (k x batch size items, as the trainer restores it) yields exactly the batches
    not yet trained on; ranks get equal shares."""
    task = build_task(aff, [], live=False)
    per_batch = task.train_data(0, 1).batch_size  # sequences
    full = [b["frames"] for b in epoch_batches(task, 1)]
    again = [b["frames"] for b in epoch_batches(task, 1)]
    assert len(full) == -(-len(task.train_windows) // per_batch) >= 3
    assert all(torch.equal(x, y) for x, y in zip(full, again))
    assert not torch.equal(full[0], epoch_batches(task, 2)[0]["frames"])
    rest = [b["frames"] for b in epoch_batches(task, 1, start=2 * per_batch)]
    assert len(rest) == len(full) - 2 and all(torch.equal(x, y) for x, y in zip(full[2:], rest))
    shares = [sum(len(b["frames"]) for b in epoch_batches(task, 0, r, 2)) for r in range(2)]
    assert shares[0] == shares[1] == len(task.train_windows) // 2
