"""Temporal post-processing of per-frame scores: filters, interpolation over face-less frames,
per-face tracks and the max over faces."""

from __future__ import annotations

import numpy as np
import pytest

from cer.predict.smoothing import Smoothing, frame_scores, interpolate_missing, parse_smoothing, smooth_track


@pytest.mark.parametrize("spec, kind, width", [
    ("gaussian:2", "gaussian", 2.0), ("box:5", "box", 5.0), ("none", "none", 0.0), (" Gaussian:0.5 ", "gaussian", 0.5),
])
def test_parse_smoothing(spec, kind, width):
    s = parse_smoothing(spec)
    assert (s.kind, s.width) == (kind, width)


@pytest.mark.parametrize("spec, message", [
    ("gaussian", "expected gaussian:SIGMA"), ("median:3", "expected gaussian:SIGMA"),
    ("gaussian:-1", "sigma > 0"), ("box:0", "K >= 1"), ("box:2.5", "whole number"), ("box:x", "not a number"),
    ("gaussian:inf", "finite"), ("gaussian:nan", "finite"), ("box:inf", "finite"), ("box:nan", "finite"),
])
def test_bad_smoothing_says_what_to_write(spec, message):
    with pytest.raises(ValueError, match=message):
        parse_smoothing(spec)


@pytest.mark.parametrize("spec", ["gaussian:1.5", "box:4", "box:1", "none"])
def test_filters_keep_length_and_constants(spec):
    series = np.full((30, 3), 0.25)
    out = parse_smoothing(spec)(series)
    assert out.shape == series.shape
    np.testing.assert_allclose(out, 0.25)


def test_gaussian_impulse_response_is_the_normalised_symmetric_kernel():
    impulse = np.zeros((41, 1))
    impulse[20] = 1.0
    out = Smoothing("gaussian", 2.0)(impulse)[:, 0]
    np.testing.assert_allclose(out.sum(), 1.0)
    np.testing.assert_allclose(out, out[::-1])
    assert out.argmax() == 20
    # ratio of neighbouring taps of a Gaussian: exp(-(2k+1) / (2 sigma^2))
    np.testing.assert_allclose(out[21] / out[20], np.exp(-1 / 8), rtol=1e-9)


def test_box_is_a_centred_moving_average_with_repeated_ends():
    out = Smoothing("box", 3)(np.arange(6, dtype=float)[:, None])[:, 0]
    np.testing.assert_allclose(out, [1 / 3, 1, 2, 3, 4, 14 / 3])


def test_an_even_box_takes_one_more_frame_before_than_after():
    out = Smoothing("box", 4)(np.arange(6, dtype=float)[:, None])[:, 0]
    np.testing.assert_allclose(out, [0.25, 0.75, 1.5, 2.5, 3.5, 4.25])  # frames t-2 .. t+1


@pytest.mark.parametrize("sigma", [0.5, 1.3, 2.0, 3.2])
def test_gaussian_reaches_four_sigma_rounded_up(sigma):
    radius = int(np.ceil(4 * sigma))  # scipy's default would stop at int(4 sigma + 0.5): 5 for 1.3
    impulse = np.zeros((2 * radius + 9, 1))
    impulse[radius + 4] = 1.0
    out = Smoothing("gaussian", sigma)(impulse)[:, 0]
    assert np.flatnonzero(out).tolist() == list(range(4, 2 * radius + 5))
    np.testing.assert_allclose(out[4:2 * radius + 5], Smoothing("gaussian", sigma).kernel(), rtol=1e-12)


@pytest.mark.parametrize("spec", ["gaussian:1", "box:3", "box:4"])
def test_a_missing_value_spoils_only_the_frames_whose_window_holds_it(spec):
    series = np.ones((40, 2))
    series[10, 0] = np.nan
    out = parse_smoothing(spec)(series)
    assert np.isnan(out[:, 0]).sum() == len(parse_smoothing(spec).kernel())
    assert not np.isnan(out[25:]).any() and not np.isnan(out[:, 1]).any()


def test_smoothing_removes_a_one_frame_flip_but_keeps_a_long_change():
    labels = np.array([0] * 20 + [1] * 20)
    labels[8] = 1  # one flickering frame
    probs = np.eye(2)[labels] * 0.8 + 0.1
    smoothed = Smoothing("gaussian", 2.0)(probs).argmax(1)
    assert smoothed[8] == 0
    assert (smoothed[:19] == 0).all() and (smoothed[21:] == 1).all()


def test_interpolate_missing_is_linear_inside_and_held_at_the_ends():
    nan = np.nan
    series = np.array([[nan, nan], [1, 10], [nan, nan], [nan, nan], [4, 40], [nan, nan]])
    np.testing.assert_allclose(interpolate_missing(series),
                               [[1, 10], [1, 10], [2, 20], [3, 30], [4, 40], [4, 40]])


def test_interpolate_missing_leaves_an_all_missing_series_alone():
    out = interpolate_missing(np.full((4, 2), np.nan))
    assert np.isnan(out).all()


def test_smooth_track_interpolates_gaps_in_time_before_filtering():
    # Seen at frames 10, 11 and 14: the filter must see 12 and 13 (interpolated), not treat 14 as
    # the neighbour of 11.
    frames = np.array([10, 11, 14])
    probs = np.array([[0.0], [0.0], [0.9]])
    box = smooth_track(frames, probs, Smoothing("box", 3))
    np.testing.assert_allclose(box[:, 0], [0.0, (0 + 0 + 0.3) / 3, (0.6 + 0.9 + 0.9) / 3])
    np.testing.assert_allclose(smooth_track(frames, probs, Smoothing("none")), probs)


def test_frame_scores_take_the_max_over_faces_and_fill_frames_without_any():
    positions = np.array([0, 0, 3])
    scores = np.array([[0.9, 0.1], [0.2, 0.6], [0.3, 0.3]])
    out = frame_scores(5, positions, scores)
    np.testing.assert_allclose(out, [[0.9, 0.6], [0.7, 0.5], [0.5, 0.4], [0.3, 0.3], [0.3, 0.3]])


def test_frame_scores_of_a_video_without_faces_are_missing():
    assert np.isnan(frame_scores(3, np.zeros(0, int), np.zeros((0, 7)))).all()


def test_persistent_faces_drops_short_runs_per_face():
    from cer.predict.smoothing import persistent_faces

    positions = np.array([0, 1, 2, 3, 5, 20, 40, 41, 42])
    ids = np.array([0, 0, 0, 0, 0, 0, 1, 1, 1])
    # face 0: 0..5 is one run (gap of 2 allowed), 20 stands alone; face 1: a run of 3
    keep = persistent_faces(positions, ids, min_frames=3)
    assert keep.tolist() == [True] * 5 + [False] + [True] * 3
    assert persistent_faces(positions, ids, min_frames=4).tolist() == [True] * 5 + [False] * 4
    assert persistent_faces(positions, ids, min_frames=1).all()
