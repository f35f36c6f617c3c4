"""Faces aligned on five landmarks: the similarity fit, the warp, the built-in template against
what MTCNN finds on the built-in training faces, and which template ``cer predict`` uses."""

from __future__ import annotations

import math

import numpy as np
import pytest

from cer.faces.align import align_face, similarity_transform
from cer.synth.face_geometry import aligned_template


def test_similarity_transform_recovers_a_known_one():
    rng = np.random.default_rng(0)
    src = rng.uniform(0, 100, (5, 2))
    angle, scale, shift = math.radians(17), 0.7, np.array([12.0, -5.0])
    rotation = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    dst = (scale * rotation @ src.T).T + shift
    matrix = similarity_transform(src, dst)
    np.testing.assert_allclose(matrix[:, :2], scale * rotation, atol=1e-9)
    np.testing.assert_allclose(matrix[:, 2], shift, atol=1e-9)
    mirrored = dst * [-1, 1]  # a reflection is not a similarity: the fit does not flip
    assert np.linalg.det(similarity_transform(src, mirrored)[:, :2]) > 0
    with pytest.raises(ValueError, match="coincide"):
        similarity_transform(np.ones((5, 2)), dst)


def test_aligned_face_puts_the_landmarks_on_the_template():
    template, size = aligned_template(), 64
    # five dots, each in its own colour, where a tilted, shifted, larger face has its landmarks
    angle, scale = math.radians(-12), 2.5
    rotation = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    landmarks = (scale * rotation @ (np.array(template) * size).T).T + [40.0, 25.0]
    image = np.zeros((240, 260, 3), np.uint8)
    colours = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0), (0, 255, 255)]
    for (x, y), colour in zip(landmarks, colours):
        image[round(y) - 3:round(y) + 4, round(x) - 3:round(x) + 4] = colour
    crop = align_face(image, [tuple(p) for p in landmarks], template, size)
    assert crop.shape == (size, size, 3) and crop.dtype == np.uint8
    for (tx, ty), colour in zip(template, colours):
        match = np.all(np.abs(crop.astype(int) - colour) < 60, axis=2)
        ys, xs = np.nonzero(match)
        assert len(xs), colour
        assert abs(xs.mean() - (tx * size - 0.5)) < 1.0 and abs(ys.mean() - (ty * size - 0.5)) < 1.0, colour


def test_the_template_is_where_mtcnn_finds_the_landmarks_of_the_built_in_faces(tiny_synth):
    """Checks the template against a detector it was not made from, and the landmark order (a
    swapped left/right would need a reflection, which leaves a large residual)."""
    from PIL import Image

    from cer.faces.detectors import create_detector

    files = sorted((tiny_synth / "raf-db" / "basic" / "Image" / "aligned").glob("train_*.jpg"))[:12]
    images = [np.asarray(Image.open(f).convert("RGB")) for f in files]
    found = [max(b, key=lambda b: b.w * b.h) for b in create_detector("mtcnn").detect(images) if b]
    assert len(found) >= 8
    side = images[0].shape[1]
    target = np.array(aligned_template()) * side - 0.5
    for box in found:
        points = np.array(box.landmarks)
        matrix = similarity_transform(points, target)
        residual = np.abs((matrix[:, :2] @ points.T).T + matrix[:, 2] - target).max()
        scale, angle = math.hypot(*matrix[:, 0]), math.degrees(math.atan2(matrix[1, 0], matrix[0, 0]))
        assert residual < 0.08 * side and 0.85 < scale < 1.25 and abs(angle) < 12, (residual, scale, angle)


def test_predict_aligns_where_the_model_says_how_its_faces_were_aligned():
    from cer.predict.pipeline import face_template

    builtin = {"config": {"data": {"single": [{"reader": "raf-db-basic", "path": None}], "compound": [],
                                   "val": {"reader": "raf-db-compound", "path": None}}}}
    real = {"config": {"data": {"single": [{"reader": "raf-db-basic", "path": "/data/raf"}], "compound": [],
                                "val": None}}}
    recorded = {"face_template": [[0.3, 0.4], [0.7, 0.4], [0.5, 0.6], [0.35, 0.75], [0.65, 0.75]], **real}
    expected = [list(p) for p in aligned_template()]
    assert face_template("auto", ["m"], [(None, builtin)]) == expected  # saved before models recorded it
    assert face_template("auto", ["m"], [(None, real)]) is None  # real faces, no template known: box crops
    assert face_template("auto", ["m"], [(None, recorded)]) == recorded["face_template"]
    assert face_template("box", ["m"], [(None, builtin)]) is None
    assert face_template("builtin", ["m"], [(None, real)]) == aligned_template()
    with pytest.raises(ValueError, match="differ in face_template.*--align"):
        face_template("auto", ["a", "b"], [(None, builtin), (None, real)])
