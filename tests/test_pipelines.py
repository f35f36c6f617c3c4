"""Tests for augment.pipelines: shapes, switches, seeding (incl. DataLoader workers)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, Dataset

from augment.pipelines import eval_pipeline, reseed, train_pipeline

SIZE = 32
ALL_OFF = dict(hflip=0.0, color_jitter=0.0, crop_scale=None, cutout=0.0)


def _image(height: int = 48, width: int = 40) -> np.ndarray:
    """A face-sized uint8 image with no zero pixel and no symmetry, so flips and holes show."""
    rng = np.random.default_rng(0)
    return rng.integers(1, 256, (height, width, 3), dtype=np.uint8)


def _resized(image: np.ndarray) -> np.ndarray:
    return cv2.resize(image, (SIZE, SIZE), interpolation=cv2.INTER_LINEAR)


@pytest.mark.parametrize(
    "build", [lambda: train_pipeline(SIZE, seed=0), lambda: eval_pipeline(SIZE)]
)
def test_output_is_square_uint8_hwc(build):
    out = build()(image=_image())["image"]
    assert out.shape == (SIZE, SIZE, 3) and out.dtype == np.uint8


def test_everything_off_is_the_eval_resize():
    image = _image()
    expected = _resized(image)
    assert np.array_equal(eval_pipeline(SIZE)(image=image)["image"], expected)
    off = train_pipeline(SIZE, **ALL_OFF, seed=0)
    for _ in range(3):
        assert np.array_equal(off(image=image)["image"], expected)
    assert np.array_equal(
        train_pipeline(SIZE, **{**ALL_OFF, "crop_scale": (1.0, 1.0)})(image=image)["image"],
        expected,
    )


def test_each_switch_alone_changes_the_output():
    image = _image()
    base = _resized(image)
    flipped = train_pipeline(SIZE, **{**ALL_OFF, "hflip": 1.0}, seed=0)(image=image)["image"]
    assert np.array_equal(flipped, base[:, ::-1])

    holed = train_pipeline(SIZE, **{**ALL_OFF, "cutout": 1.0, "cutout_size": 0.25}, seed=0)(
        image=image
    )["image"]
    hole = (holed == 0).all(axis=2)
    assert hole.sum() == (SIZE // 4) ** 2  # one 8x8 hole of zeros
    assert np.array_equal(holed[~hole], base[~hole])

    jittered = train_pipeline(SIZE, **{**ALL_OFF, "color_jitter": 0.4}, seed=0)(image=image)[
        "image"
    ]
    assert jittered.shape == base.shape and not np.array_equal(jittered, base)

    cropped = train_pipeline(SIZE, **{**ALL_OFF, "crop_scale": (0.5, 0.6)}, seed=0)(image=image)[
        "image"
    ]
    assert cropped.shape == base.shape and not np.array_equal(cropped, base)


def test_same_seed_same_sequence_other_seed_differs_and_reseed_restarts():
    image = _image()

    def sequence(pipeline) -> list[np.ndarray]:
        return [pipeline(image=image)["image"] for _ in range(5)]

    first = sequence(train_pipeline(SIZE, seed=7))
    assert all(
        np.array_equal(x, y)
        for x, y in zip(first, sequence(train_pipeline(SIZE, seed=7)), strict=True)
    )
    assert not all(
        np.array_equal(x, y)
        for x, y in zip(first, sequence(train_pipeline(SIZE, seed=8)), strict=True)
    )
    pipeline = train_pipeline(SIZE, seed=7)
    sequence(pipeline)
    reseed(pipeline, 7)
    assert all(np.array_equal(x, y) for x, y in zip(first, sequence(pipeline), strict=True))


def test_transforms_draw_independent_coin_flips():
    # albumentations' own Compose(seed=s) gives every transform an identical stream, so on the first
    # call two p=0.5 transforms fire together or not at all; reseed shares one stream instead.
    image = _image()
    base = _resized(image)
    outcomes = set()
    for seed in range(40):
        pipeline = train_pipeline(SIZE, **{**ALL_OFF, "hflip": 0.5, "cutout": 0.5}, seed=seed)
        out = pipeline(image=image)["image"]
        kept = ~(out == 0).all(axis=2)
        outcomes.add((np.array_equal(out[kept], base[:, ::-1][kept]), not kept.all()))
    assert outcomes == {(False, False), (False, True), (True, False), (True, True)}


class _Repeat(Dataset):
    """The same image at every index: any difference between items comes from augmentation."""

    def __init__(self) -> None:
        self.image = _image()
        self.pipeline = train_pipeline(SIZE, seed=0)

    def __len__(self) -> int:
        return 4

    def __getitem__(self, index: int) -> np.ndarray:
        return self.pipeline(image=self.image)["image"]


def _reseed_worker(worker_id: int) -> None:
    reseed(torch.utils.data.get_worker_info().dataset.pipeline, torch.initial_seed())


def test_worker_reseeding_recipe_gives_distinct_workers_and_repeatable_epochs():
    def epoch(seed: int) -> list[np.ndarray]:
        loader = DataLoader(
            _Repeat(),
            batch_size=1,
            num_workers=2,
            worker_init_fn=_reseed_worker,
            generator=torch.Generator().manual_seed(seed),
            multiprocessing_context="fork",
        )
        return [batch[0].numpy() for batch in loader]

    items = epoch(0)
    assert not np.array_equal(items[0], items[1])  # index 0 from worker 0, index 1 from worker 1
    assert all(np.array_equal(x, y) for x, y in zip(items, epoch(0), strict=True))
