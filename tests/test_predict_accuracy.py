"""Frame-level macro F1 of ``cer predict`` on synthetic C-EXPR-DB videos, against a floor.

The model of the built-in curriculum takes ~10 minutes to train, too long for the suite (its
frame-level F1 on the default synthetic videos is in the README). Here a tiny model learns the faces
of the tiny videos themselves, cut at the boxes MTCNN finds in each frame, so that it knows them
well (its F1 on those crops is checked first). What the test then measures is what the prediction
pipeline keeps of that knowledge when it starts from the video files: decoding, finding and
tracking the face, cropping, batching, smoothing, frame numbering and the submission's order.

The floor, and why:
- at least 0.6x the model's F1 on its training crops. The pipeline's boxes come from tracking
  (refits and region searches, not a fresh whole-frame detection per frame), so they jitter against
  the crops' boxes, and Gaussian smoothing (sigma 2 frames) blurs the episode boundaries of clips of
  about 30 frames; both cost F1 (0.75x measured), neither should cost more than that.
- above the F1 of the same predictions misaligned, shifted within each video by 5 frames or more:
  a frame numbering or ordering fault shows as exactly such a shift.
"""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml
from tiny_ce import tiny_ce_config

from cer.metrics import f1_macro
from cer.predict import predict
from cer.taxonomy import C_EXPR

EPOCHS = 30
MIN_SHIFT = 5


def read_labels(path: Path) -> dict[str, int]:
    """``VV/NNNNN.jpg`` -> class index of a file in the submission format (ground truth too)."""
    lines = path.read_text().splitlines()[1:]
    return {name: int(label) for name, label in (line.split(",") for line in lines)}


@pytest.fixture(scope="module")
def detected_crops(tiny_synth, tmp_path_factory) -> Path:
    """A C-EXPR-DB folder whose ``cropped_aligned/`` holds every frame's face, cut as ``cer
    predict`` cuts it (MTCNN's best box, the default margin; the true box where MTCNN finds none)."""
    import av
    import cv2

    from cer.faces.crop import DEFAULT_MARGIN, crop_face
    from cer.faces.detectors import Box, create_detector

    source = tiny_synth / "c-expr-db"
    root = tmp_path_factory.mktemp("c-expr-crops")
    for name in ("frame_list.txt", "ground_truth.csv"):
        shutil.copy(source / name, root / name)
    with open(source / "face_boxes.csv", newline="") as handle:
        true_boxes = {r["image_location"]: Box(*(float(r[k]) for k in "xywh"), 1.0) for r in csv.DictReader(handle)}
    detector = create_detector("mtcnn")
    for video in sorted((source / "videos").glob("*.mp4")):
        (root / "cropped_aligned" / video.stem).mkdir(parents=True)
        with av.open(str(video)) as container:
            for index, frame in enumerate(container.decode(video=0), start=1):
                name = f"{video.stem}/{index:05d}.jpg"
                image = frame.to_ndarray(format="rgb24")
                found = detector.detect([image], max_faces=1)[0]
                crop = crop_face(image, found[0] if found else true_boxes[name], 64, margin=DEFAULT_MARGIN)
                cv2.imwrite(str(root / "cropped_aligned" / name), cv2.cvtColor(crop, cv2.COLOR_RGB2BGR))
    return root


@pytest.fixture(scope="module")
def knowing_model(tiny_synth, detected_crops, tmp_path_factory) -> Path:
    from cer.compound.train import run

    cfg = tiny_ce_config(tiny_synth / "raf-db", epochs=[EPOCHS], compound=[1.0])
    crops = {"reader": "c-expr-db", "path": str(detected_crops), "options": {}}
    cfg["data"]["compound"], cfg["data"]["val"] = [crops], crops
    root = tmp_path_factory.mktemp("knowing-model")
    (root / "cfg.yaml").write_text(yaml.safe_dump(cfg))
    run([str(root / "cfg.yaml")], output=str(root / "run"))
    return root / "run"


def shifted_f1(truth: dict[str, int], predicted: dict[str, int], shift: int) -> float:
    """Macro F1 of the predictions moved ``shift`` frames later within each video (circularly)."""
    names = sorted(truth)
    moved = {}
    for video in sorted({n.split("/")[0] for n in names}):
        frames = [n for n in names if n.startswith(video + "/")]
        labels = np.roll([predicted[n] for n in frames], shift % len(frames))
        moved.update(zip(frames, labels.tolist()))
    return f1_macro(np.array([truth[n] for n in names]), np.array([moved[n] for n in names]), len(C_EXPR))


def test_video_f1_keeps_what_the_model_knows_of_the_faces(tiny_synth, detected_crops, knowing_model, tmp_path):
    truth_file = detected_crops / "ground_truth.csv"
    on_crops = predict([detected_crops / "cropped_aligned"], knowing_model, faces="full", smooth="none",
                       out=tmp_path / "crops", submission=tmp_path / "crops.csv", ground_truth=truth_file,
                       progress=False)
    on_videos = predict([tiny_synth / "c-expr-db" / "videos"], knowing_model, out=tmp_path / "videos",
                        submission=tmp_path / "videos.csv", ground_truth=truth_file, progress=False)
    crop_f1, video_f1 = on_crops.score["f1"], on_videos.score["f1"]
    truth, predicted = read_labels(truth_file), read_labels(tmp_path / "videos.csv")
    frames = min(sum(n.startswith(v + "/") for n in truth) for v in ("01", "02", "03"))
    misaligned = max(shifted_f1(truth, predicted, k) for k in range(MIN_SHIFT, frames - MIN_SHIFT + 1))
    print(f"frame-level macro F1: crops {crop_f1:.4f}, videos {video_f1:.4f}, best misaligned {misaligned:.4f}")
    assert on_videos.score["frames"] == len(truth) and on_videos.score["missing"] == 0
    assert crop_f1 >= 0.6, "the tiny model did not learn its faces: the floor below would mean nothing"
    assert video_f1 >= 0.6 * crop_f1
    assert video_f1 > misaligned
