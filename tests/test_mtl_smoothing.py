"""Per-video Gaussian smoothing of MTL outputs and the per-task choice of sigma (paper 001 sec. 3.4)."""

from __future__ import annotations

import numpy as np
import pytest

from cer.smoothing import Smoothing
from mtl.smoothing import smooth_per_video, tune_sigmas

LENGTHS = (60, 50)  # two videos


def videos() -> tuple[np.ndarray, np.ndarray]:
    """Bounds of the videos in the rows, and each row's frame number (1-based per video)."""
    bounds = np.array([(0, LENGTHS[0]), (LENGTHS[0], sum(LENGTHS))])
    numbers = np.concatenate([np.arange(1, n + 1) for n in LENGTHS])
    return bounds, numbers


def per_video(values: np.ndarray, sigma: float) -> np.ndarray:
    """The reference: each video filtered on its own with the core filter."""
    bounds, _ = videos()
    return np.concatenate([Smoothing("gaussian", sigma)(values[a:b, None])[:, 0] for a, b in bounds])


def test_tuning_finds_the_sigma_that_made_the_labels():
    # The labels are the predictions' white noise low-passed with a known Gaussian per task, so that
    # filter, and no other, turns the predictions into the labels (CCC 1).
    rng = np.random.default_rng(0)
    bounds, numbers = videos()
    preds = {"v": rng.normal(size=sum(LENGTHS)), "a": rng.normal(size=sum(LENGTHS))}
    made_with = {"v": 4.0, "a": 1.0}
    mask = np.ones(sum(LENGTHS), dtype=bool)
    labels = {t: (per_video(preds[t], made_with[t]), mask) for t in preds}
    chosen = tune_sigmas(preds, labels, ["v", "a"], bounds, numbers, grid=(0, 1, 2, 4, 8))
    assert chosen == made_with
    # A sigma between grid values: the nearest one is chosen.
    labels["v"] = (per_video(preds["v"], 3.6), mask)
    assert tune_sigmas(preds, labels, ["v"], bounds, numbers, grid=(0, 1, 2, 4, 8)) == {"v": 4.0}


def test_unsmoothed_wins_when_the_predictions_are_the_labels():
    rng = np.random.default_rng(1)
    bounds, numbers = videos()
    pred = rng.normal(size=sum(LENGTHS))
    labels = {"a": (pred.copy(), np.ones(len(pred), dtype=bool))}
    assert tune_sigmas({"a": pred}, labels, ["a"], bounds, numbers, grid=(4, 0, 2)) == {"a": 0.0}


def test_smoothing_stays_within_each_video():
    bounds, numbers = videos()
    # Video 1 holds 0, video 2 holds 1 (two AU columns): filtered per video they stay constant.
    values = np.concatenate([np.zeros((LENGTHS[0], 2)), np.ones((LENGTHS[1], 2))])
    out = smooth_per_video(values, bounds, numbers, sigma=3.0)
    np.testing.assert_array_equal(out, values)
    # whereas a filter over the concatenated split blurs the step between the videos
    assert not np.allclose(Smoothing("gaussian", 3.0)(values), values)
    noisy = np.random.default_rng(2).normal(size=sum(LENGTHS))
    np.testing.assert_allclose(smooth_per_video(noisy, bounds, numbers, 2.0), per_video(noisy, 2.0))


def test_missing_frames_count_as_time():
    # One video with frames 1-10 and 21-30 seen: sigma counts video frames, so the result is the
    # smoothed dense series (gap interpolated) read at the seen frames, not a filter over rows.
    numbers = np.concatenate([np.arange(1, 11), np.arange(21, 31)])
    values = np.concatenate([np.zeros(10), np.ones(10)])
    out = smooth_per_video(values, np.array([(0, 20)]), numbers, sigma=2.0)
    dense = np.interp(np.arange(1, 31), numbers, values)
    np.testing.assert_allclose(out, Smoothing("gaussian", 2.0)(dense[:, None])[numbers - 1, 0])
    rows_only = Smoothing("gaussian", 2.0)(values[:, None])[:, 0]
    assert not np.allclose(out, rows_only)


def test_sigma_zero_is_no_smoothing_and_a_negative_one_is_refused():
    bounds, numbers = videos()
    values = np.random.default_rng(3).normal(size=sum(LENGTHS))
    np.testing.assert_array_equal(smooth_per_video(values, bounds, numbers, 0), values)
    with pytest.raises(ValueError, match="sigma must be >= 0"):
        smooth_per_video(values, bounds, numbers, -1)
    with pytest.raises(ValueError, match="grid is empty"):
        tune_sigmas({"v": values}, {"v": (values, np.ones(len(values), bool))}, ["v"], bounds, numbers, grid=())
