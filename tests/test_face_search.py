"""Where FaceSearch looks: follow, region, whole frame, and how often (with scripted detectors)."""

from __future__ import annotations

import numpy as np
import pytest

from cer.faces.detectors import Box
from cer.faces.search import FaceSearch
from cer.faces.tracking import LargestFaceTracker

SIZE = 100
FACE = Box(40, 40, 20, 20, 0.99)  # where the face is in every frame that has one


def frames(present: list[bool]) -> list[np.ndarray]:
    """Grey frames; the ones with a face are white (what the scripted detectors look at)."""
    return [np.full((SIZE, SIZE, 3), 255 if p else 0, np.uint8) for p in present]


class ScriptedDetector:
    """Finds the face in white images: at ``FACE`` in whole frames, centred in a region crop.
    Records what it was asked to look at."""

    name = "scripted"

    def __init__(self):
        self.whole, self.regions = 0, 0

    def detect(self, images, max_faces=None):
        found = []
        for image in images:
            whole = image.shape[0] == SIZE
            self.whole += whole
            self.regions += not whole
            side = image.shape[0]
            face = FACE if whole else Box(side / 4, side / 4, side / 2, side / 2, 0.99)
            found.append([face] if image.mean() > 128 else [])
        return found


class FollowingDetector(ScriptedDetector):
    def __init__(self):
        super().__init__()
        self.followed = 0

    def follow(self, images, known):
        self.followed += len(images)
        return [[FACE] if image.mean() > 128 and boxes else [] for image, boxes in zip(images, known)]


def search_video(search: FaceSearch, images: list[np.ndarray], batch: int = 8) -> list[bool]:
    """What the predictor does: batches of frames, the tracker's remembered faces as ``known``."""
    tracker, found = LargestFaceTracker(), []
    search.reset()
    for start in range(0, len(images), batch):
        for boxes in search.find(images[start:start + batch], tracker.remembered):
            tracker.update(boxes)
            found.append(bool(boxes))
    return found


@pytest.mark.parametrize("detector_type", [FollowingDetector, ScriptedDetector])
def test_a_tracked_face_is_looked_for_where_it_was_and_whole_frames_every_full_every(detector_type):
    detector = detector_type()
    found = search_video(FaceSearch(detector, full_every=10), frames([True] * 30))
    assert all(found)
    assert detector.whole == 3  # frames 0, 10 and 20
    if detector_type is FollowingDetector:
        assert detector.followed == 27 and detector.regions == 0
    else:
        assert detector.regions == 27


def test_a_face_that_stays_missing_costs_one_whole_frame_search_then_the_periodic_ones():
    # Face in frames 0-11, gone (occluded) in 12-69, back in 70-89.
    present = [i < 12 or i >= 70 for i in range(90)]
    detector = FollowingDetector()
    found = search_video(FaceSearch(detector, full_every=10), frames(present))
    assert found[:12] == [True] * 12 and not any(found[12:70])
    # Whole frames: 0 and 10 while tracked, 12 when lost, then one in every 10 frames of the gap.
    assert detector.whole <= 2 + 1 + 6 + 2
    # A per-frame loop would have searched all 58 frames of the gap whole.
    back = found[70:]
    assert all(back[back.index(True):]) and back.index(True) < 10  # found again within full_every frames


def test_with_no_face_anywhere_whole_frames_are_searched_every_full_every_frames():
    detector = FollowingDetector()
    found = search_video(FaceSearch(detector, full_every=10), frames([False] * 50))
    assert not any(found)
    assert detector.whole == 5 and detector.followed == 0 and detector.regions == 0


def test_a_face_lost_in_its_region_is_looked_for_in_the_whole_frame_at_once():
    """A cut: the face is elsewhere. Follow and region miss it, the whole frame finds it."""

    class MovedFace(FollowingDetector):
        def detect(self, images, max_faces=None):
            found = super().detect(images, max_faces)
            # Region crops around the old place show no face.
            return [boxes if image.shape[0] == SIZE else [] for image, boxes in zip(images, found)]

        def follow(self, images, known):
            self.followed += len(images)
            return [[] for _ in images]

    detector = MovedFace()
    search = FaceSearch(detector, full_every=10)
    search.reset()
    images = frames([True] * 8)
    first = search.find(images[:1], [])
    assert first == [[FACE]]
    found = search.find(images[1:], [Box(0, 0, 20, 20, 0.9)])  # tracked somewhere else before
    assert all(boxes == [FACE] for boxes in found)
    assert detector.regions == 7 and detector.whole == 1 + 7
