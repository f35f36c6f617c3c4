"""Sequence windows (every validation frame counted exactly once), frame ordering, and the shared
epoch-seeded ShuffleSampler (deterministic, equal counts per rank, mid-epoch skip)."""

from __future__ import annotations

import numpy as np
import pytest

from cer.data.record import FaceRecord
from cer.shuffle_sampler import ShuffleSampler
from mtl.sequences import VideoFrames, evaluation_windows, expand_to_frames, make_windows, window_starts

LENGTHS = [1, 2, 5, 19, 20, 21, 39, 40, 41, 97]


def bounds_of(lengths):
    ends = np.cumsum(lengths)
    return np.column_stack([ends - np.asarray(lengths), ends])


@pytest.mark.parametrize("seq", [1, 5, 10, 20, 30])
def test_evaluation_windows_own_every_frame_exactly_once(seq):
    bounds = bounds_of(LENGTHS)
    n = int(sum(LENGTHS))
    w = evaluation_windows(bounds, seq)
    assert w.frames.shape == (len(w), seq)
    owned = w.frames[w.owner]
    assert sorted(owned.tolist()) == list(range(n))
    assert not (w.owner & ~w.valid).any()  # padding never reports a frame
    # windows stay inside their video
    video = np.searchsorted(bounds[:, 1], w.frames, side="right")
    assert (video == video[:, :1]).all()
    # expanding window outputs gives each frame its own value back
    outputs = w.frames.astype(np.float32) * 10 + 0.5
    assert np.array_equal(expand_to_frames(outputs, w.frames, w.owner, n), np.arange(n) * 10 + 0.5)


@pytest.mark.parametrize("seq,stride", [(1, 1), (5, 5), (10, 5), (20, 15), (30, 30), (7, 3)])
def test_training_windows_cover_every_frame_in_order(seq, stride):
    bounds = bounds_of(LENGTHS)
    w = make_windows(bounds, seq, stride)
    assert set(w.frames[w.valid].tolist()) == set(range(int(sum(LENGTHS))))
    assert (np.diff(w.frames, axis=1) >= 0).all()  # consecutive frames within a window
    for start, stop in bounds:
        length = int(stop - start)
        starts = window_starts(length, seq, stride)
        if length <= seq:
            assert starts == [0]
            continue
        steps = np.diff(starts)
        assert starts[0] == 0 and starts[-1] + seq == length  # the last window ends at the video's end
        assert (steps[:-1] == stride).all() and 0 < steps[-1] <= stride  # only the end-aligned one steps less


def test_expand_refuses_windows_that_miss_or_repeat_a_frame():
    w = evaluation_windows(bounds_of([10]), 4)
    with pytest.raises(ValueError, match="exactly once"):
        expand_to_frames(np.zeros(w.frames.shape), w.frames, w.owner, 11)
    doubled = np.concatenate([w.owner, w.owner[:1]])
    with pytest.raises(ValueError, match="more than once"):
        expand_to_frames(np.zeros((len(doubled), 4)), np.concatenate([w.frames, w.frames[:1]]), doubled, 10)


def test_frames_are_grouped_by_video_and_ordered_by_number():
    names = ["b/00003.jpg", "a/00002.jpg", "b/00001.jpg", "a/00010.jpg", "a/00001.jpg"]
    records = [FaceRecord(image=f"/x/cropped_aligned/{n}", video=n.split("/")[0]) for n in names]
    frames = VideoFrames.of(records)
    assert frames.names == ["b", "a"]
    assert [r.image[-11:] for r in frames.records] == ["b/00001.jpg", "b/00003.jpg", "a/00001.jpg", "a/00002.jpg",
                                                        "a/00010.jpg"]
    assert frames.bounds.tolist() == [[0, 2], [2, 5]]
    with pytest.raises(ValueError, match="frame order"):
        VideoFrames.of([FaceRecord(image="/x/face.jpg", video="v"), FaceRecord(image="/x/smile.jpg", video="v")])
    alone = FaceRecord(image="/x/face.jpg", video="v")  # a one-frame video (a still image) has nothing to order
    assert VideoFrames.of([alone]).records == [alone]


def test_shuffle_sampler_is_deterministic_per_epoch_and_shards_evenly():
    a, b = ShuffleSampler(103, seed=3), ShuffleSampler(103, seed=3)
    a.set_epoch(2)
    b.set_epoch(0)
    list(b)  # what ran before does not matter
    b.set_epoch(2)
    assert list(a) == list(b)
    a.set_epoch(3)
    assert list(a) != list(b)
    ranks = [ShuffleSampler(103, seed=3, num_replicas=4, rank=r) for r in range(4)]
    for s in ranks:
        s.set_epoch(1)
    shares = [list(s) for s in ranks]
    assert {len(s) for s in shares} == {25}  # 103 // 4, the remainder dropped
    flat = [i for s in shares for i in s]
    assert len(set(flat)) == 100 and set(flat) <= set(range(103))


def test_shuffle_sampler_resumes_with_the_rest_of_the_epoch():
    s = ShuffleSampler(50, seed=1, num_replicas=2, rank=1)
    s.set_epoch(4)
    full = list(s)
    s.set_epoch(7)
    s.load_state_dict({"epoch": 4, "start": 10})
    assert s.state_dict() == {"epoch": 4, "start": 10}
    assert list(s) == full[10:] and len(s) == 15
    s.set_epoch(5)  # a new epoch starts at its first item
    assert len(s) == 25
    with pytest.raises(ValueError, match="cannot start epoch 4 at item 26: this rank has 25"):
        s.load_state_dict({"epoch": 4, "start": 26})
