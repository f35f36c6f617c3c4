"""MTCNN's torch networks: their weights load from the installed ``mtcnn`` package (no TensorFlow)
and the cascade built on them finds a real face."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from pyfeat_data import pyfeat_test_data

from cer.faces.detectors import Box, create_detector
from cer.faces.mtcnn_nets import WEIGHT_FILES, ONet, PNet, RNet, find_weights, load_nets, network_input
from cer.video.frames import iter_frames
from cer.video.sources import Source


def test_weights_come_from_the_installed_mtcnn_package():
    folder = find_weights()
    assert folder.parts[-3:] == ("mtcnn", "assets", "weights")
    assert all((folder / name).is_file() for name in WEIGHT_FILES)


def test_nets_load_without_tensorflow_and_give_outputs_of_the_cascade_shapes():
    # A fresh interpreter: the mtcnn package's own import needs TensorFlow, which is not installed.
    code = ("import sys; from cer.faces.mtcnn_nets import load_nets; load_nets(); "
            "print('tensorflow' in sys.modules, 'mtcnn' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]

    pnet, rnet, onet = load_nets()
    rng = np.random.default_rng(0)
    with torch.inference_mode():
        offsets, probs = pnet(network_input(rng.integers(0, 256, (2, 50, 81, 3), dtype=np.uint8)))
        assert offsets.shape == (2, 4, 20, 36) and probs.shape == (2, 2, 20, 36)
        offsets, probs = rnet(network_input(rng.integers(0, 256, (5, 24, 24, 3), dtype=np.uint8)))
        assert offsets.shape == (5, 4) and probs.shape == (5, 2)
        offsets, landmarks, probs = onet(network_input(rng.integers(0, 256, (3, 48, 48, 3), dtype=np.uint8)))
        assert offsets.shape == (3, 4) and landmarks.shape == (3, 10) and probs.shape == (3, 2)
    torch.testing.assert_close(probs.sum(dim=1), torch.ones(3))


@pytest.mark.parametrize("net", [PNet, RNet, ONet])
def test_a_weight_list_of_the_wrong_shape_is_refused(net):
    module = net()
    arrays = [np.zeros((3, 3, 3, 8), np.float32)] + [np.zeros(1, np.float32)] * (len(list(module.parameters())) - 1)
    with pytest.raises(ValueError, match="shape"):
        module.load_keras(arrays)
    with pytest.raises(ValueError, match="weight arrays"):
        module.load_keras(arrays[:-1])


@pytest.mark.network
def test_mtcnn_finds_the_face_in_single_face_jpg():
    path = Path(pyfeat_test_data()) / "single_face.jpg"
    image = next(iter_frames(Source("image", path, path.stem))).image
    (boxes,) = create_detector("mtcnn").detect([image])
    face = Box(190, 160, 185, 220, 1.0)  # outlined by hand, as in test_faces.py
    assert len(boxes) == 1 and boxes[0].score > 0.95 and boxes[0].iou(face) > 0.5, boxes
    (left_eye, right_eye, nose, mouth_left, mouth_right) = boxes[0].landmarks
    assert left_eye[0] < nose[0] < right_eye[0] and max(left_eye[1], right_eye[1]) < nose[1] < mouth_left[1]
    assert mouth_left[0] < mouth_right[0]
