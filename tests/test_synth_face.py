"""The synthetic FACS face renderer: determinism, formats, where each AU acts, pose, scenes, preview."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from cer.synth.face import (
    BROW_Y,
    EYE_Y,
    FRAMINGS,
    MOUTH_Y,
    NOSTRIL_Y,
    Pose,
    au_levels,
    face_box,
    render_face,
)
from cer.synth.face_geometry import Raster
from cer.synth.face_mouth import jaw_drop
from cer.synth.identity import Identity, sample_identity
from cer.synth.preview import contact_sheet, sheet_classes
from cer.synth.prototypes import RENDERED_AUS
from cer.synth.scene import Scene, composite, render_background, render_image, sample_scene

SIZE = 112
PLAIN = Identity()  # no beard, glasses or hat: nothing hides a feature


def face(aus=None, pose=Pose(), identity=PLAIN) -> np.ndarray:
    return render_face(identity, aus or {}, pose, SIZE, framing="face")


def row_of(v: float) -> float:
    """Image row of face height ``v`` in a frontal, unposed 'face' framing."""
    half, centre = FRAMINGS["face"]
    return (v - (centre - half)) / (2 * half) * SIZE


def change(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per-pixel absolute RGB difference."""
    return np.abs(a[..., :3].astype(int) - b[..., :3].astype(int)).sum(-1)


def share_between(diff: np.ndarray, top: float, bottom: float) -> float:
    """Share of the total change that lies between two image rows."""
    weight = diff.sum(1).astype(float)
    return float(weight[int(top):int(np.ceil(bottom))].sum() / weight.sum())


def centroid(diff: np.ndarray) -> tuple[float, float]:
    ys, xs = np.nonzero(diff > 30)
    w = diff[ys, xs]
    return float((xs * w).sum() / w.sum()), float((ys * w).sum() / w.sum())


# --- render_face ------------------------------------------------------------------------------


def test_same_arguments_give_identical_images():
    idn = sample_identity(np.random.default_rng(3))
    aus, pose = {1: 0.6, 4: 0.8, 15: 1.0}, Pose(12, -5, 7)
    assert np.array_equal(render_face(idn, aus, pose, 96), render_face(idn, aus, pose, 96))
    other = sample_identity(np.random.default_rng(4))
    assert not np.array_equal(render_face(idn, aus, pose, 96), render_face(other, aus, pose, 96))


@pytest.mark.parametrize("framing", sorted(FRAMINGS))
def test_output_is_rgba_uint8_with_transparent_outside(framing):
    img = render_face(sample_identity(np.random.default_rng(0)), {12: 1.0}, Pose(), 80, framing=framing)
    assert img.shape == (80, 80, 4) and img.dtype == np.uint8
    assert img[40, 40, 3] == 255  # the face centre is opaque
    if framing == "head":
        assert img[0, 0, 3] == 0 and img[0, -1, 3] == 0  # the corners around the head are not


def test_unknown_au_raises_and_names_it():
    with pytest.raises(ValueError, match=r"99") as err:
        face({99: 0.5, 12: 1.0})
    assert "12" not in str(err.value).split(":")[0]  # only the unknown one is named as unknown
    with pytest.raises(ValueError, match="outside"):
        face({12: 1.5})
    assert set(au_levels({})) == set(RENDERED_AUS)


def test_intensity_zero_is_the_same_as_absent():
    neutral = face()
    assert np.array_equal(face({au: 0.0 for au in RENDERED_AUS}), neutral)


@pytest.mark.parametrize("au", RENDERED_AUS)
def test_every_au_changes_the_face(au):
    assert (change(face({au: 1.0}), face()) > 30).sum() > 60


@pytest.mark.parametrize("au", [1, 2, 4, 5, 7])
def test_upper_face_aus_act_above_the_nose(au):
    diff = change(face({au: 1.0}), face())
    assert share_between(diff, 0, row_of(NOSTRIL_Y - 0.25)) > 0.95


@pytest.mark.parametrize("au", [10, 11, 12, 15, 16, 17, 20, 23, 24, 25, 26])
def test_lower_face_aus_act_below_the_eyes(au):
    diff = change(face({au: 1.0}), face())
    assert share_between(diff, row_of(EYE_Y + 0.12), SIZE) > 0.95  # (AU12 also lifts the cheeks)


@pytest.mark.parametrize("au", [6, 9])
def test_mid_face_aus_act_between_brows_and_mouth(au):
    diff = change(face({au: 1.0}), face())
    # (AU9 also pulls the inner brows down and lifts the upper lip a little.)
    assert share_between(diff, row_of(BROW_Y - 0.1), row_of(MOUTH_Y + 0.1)) > 0.95


def test_smile_leaves_the_brows_alone_and_brow_raise_the_mouth():
    # (A smile's soft cheek shading may reach the brows by a grey level, no more.)
    assert change(face({12: 1.0}), face())[: int(row_of(EYE_Y))].max() <= 2
    assert change(face({1: 1.0, 2: 1.0}), face())[int(row_of(NOSTRIL_Y)):].max() == 0


def test_smile_lifts_the_lip_corners_and_sadness_lowers_them():
    # The mouth's changed pixels move up under AU12 and down under AU15, relative to neutral.
    neutral = face()
    _, smile_y = centroid(change(face({12: 1.0}), neutral))
    _, frown_y = centroid(change(face({15: 1.0}), neutral))
    assert smile_y < frown_y


def test_jaw_drop_opens_the_mouth_and_lowers_the_chin():
    bald = Identity(hair_style="bald")
    diff = change(face({26: 1.0}, Pose(), bald), face({}, Pose(), bald))
    assert share_between(diff, row_of(NOSTRIL_Y), SIZE) > 0.98
    assert np.nonzero(diff.sum(1))[0].max() > row_of(MOUTH_Y + 0.45)  # well below the lips


def test_intensity_is_graded():
    neutral = face()
    weak, strong = change(face({12: 0.3}), neutral).sum(), change(face({12: 1.0}), neutral).sum()
    assert 0 < weak < strong


def test_pose_moves_the_features_of_a_head_framing():
    open_mouth = {25: 1.0, 26: 1.0}

    def mouth(pose):
        head = lambda aus: render_face(PLAIN, aus, pose, SIZE, framing="head")  # noqa: E731
        return centroid(change(head(open_mouth), head({})))

    x0, y0 = mouth(Pose())
    assert mouth(Pose(yaw=25))[0] > x0 + 3  # turning to its left moves the face to our right
    assert mouth(Pose(pitch=15))[1] < y0 - 3  # chin up moves the mouth up
    assert not np.array_equal(face({}, Pose(roll=10)), face())
    assert mouth(Pose(roll=15))[0] != pytest.approx(x0, abs=2)


def test_the_face_framing_keeps_the_landmarks_in_place_as_aligned_crops_do():
    from cer.synth.face_geometry import ALIGN_LANDMARKS, Projection

    def landmarks(pose, framing):
        p = Projection(PLAIN, pose, SIZE, framing, 0.0)
        points = [p.to_head_frame((u,), (v,)) for u, v in ALIGN_LANDMARKS]
        cols, rows = p.pixel_coords([x[0] for x, _ in points], [y[0] for _, y in points])
        return np.array([np.mean(cols), np.mean(rows)])

    poses = (Pose(yaw=20), Pose(yaw=-20), Pose(pitch=12), Pose(pitch=-12), Pose(yaw=15, pitch=10, roll=5))
    for pose in poses:
        assert np.abs(landmarks(pose, "face") - landmarks(Pose(), "face")).max() < 0.01, pose
        assert np.abs(landmarks(pose, "head") - landmarks(Pose(), "head")).max() > 5, pose
    # In the render: the eyes' change moves under a 20 degree yaw by under half of what it moves in
    # an unaligned crop of the same scale (the head framing's move, rescaled to the face framing).
    eyes = lambda pose, framing: centroid(change(  # noqa: E731
        render_face(PLAIN, {5: 1.0}, pose, SIZE, framing=framing), render_face(PLAIN, {}, pose, SIZE, framing=framing)))
    scale = FRAMINGS["head"][0] / FRAMINGS["face"][0]
    unaligned = abs(eyes(Pose(yaw=20), "head")[0] - eyes(Pose(), "head")[0]) * scale
    aligned = abs(eyes(Pose(yaw=20), "face")[0] - eyes(Pose(), "face")[0])
    assert unaligned > 8 and aligned < 0.5 * unaligned


def test_face_box_frames_the_face_and_follows_pose_and_jaw():
    idn = sample_identity(np.random.default_rng(2))
    x, y, w, h = face_box(idn, Pose(), 120)
    assert 0 < x and 0 < y and x + w < 120 and y + h < 120 and 0.9 < h / w < 1.6
    # The features it frames: every eye and mouth change of a frontal face lies inside it.
    diff = change(render_face(idn, {5: 1.0, 25: 1.0}, Pose(), 120), render_face(idn, {}, Pose(), 120))
    ys, xs = np.nonzero(diff > 30)
    assert xs.min() >= x and xs.max() <= x + w and ys.min() >= y and ys.max() <= y + h
    assert face_box(idn, Pose(yaw=25), 120)[0] > x  # turns with the face
    assert face_box(idn, Pose(), 120, aus={26: 1.0})[3] > h  # the open jaw lengthens it


@pytest.mark.parametrize("face_height", [0.92, 1.08])
@pytest.mark.parametrize("aus", [{}, {25: 1.0, 26: 1.0}])
def test_face_box_ends_at_the_rendered_chin(face_height, aus):
    idn, size = Identity(face_height=face_height), 400
    # The lowest pixel inside the head's outline, down the middle of the frontal face.
    head = Raster(idn, Pose(), size, "head", jaw_drop(au_levels(aus))).head_d[:, size // 2] < 0
    chin_edge = np.nonzero(head)[0].max() + 1
    _, y, _, h = face_box(idn, Pose(), size, aus=aus)
    assert abs(y + h - chin_edge) < 1.0


def test_face_box_refuses_what_render_face_refuses():
    with pytest.raises(ValueError, match="framing"):
        face_box(PLAIN, framing="body")
    with pytest.raises(ValueError, match="99"):
        face_box(PLAIN, aus={99: 1.0})


# --- scenes ------------------------------------------------------------------------------------


def test_clean_studio_scene_has_no_degradation():
    scene = sample_scene(np.random.default_rng(0), difficulty=0.0)
    assert scene.occluder == "none" and scene.blur_sigma == 0 and scene.noise_std == 0
    assert scene.light_strength == 0 and scene.colour_cast == (1.0, 1.0, 1.0)


def test_scenes_are_deterministic_and_vary():
    a, b = sample_scene(np.random.default_rng(5)), sample_scene(np.random.default_rng(5))
    assert a == b
    assert np.array_equal(render_background(a, 60, 80), render_background(b, 60, 80))
    assert render_background(a, 60, 80).shape == (60, 80, 3)
    kinds = {sample_scene(np.random.default_rng(i)).background for i in range(40)}
    assert len(kinds) >= 4


def test_composite_pastes_the_face_where_asked_and_keeps_the_background_size():
    rgba = render_face(PLAIN, {}, Pose(), 64)
    bg = np.full((120, 160, 3), 200, np.uint8)
    out = composite(rgba, Scene(), bg, at=(90, 10))
    assert out.shape == bg.shape and out.dtype == np.uint8
    changed = np.nonzero(np.abs(out.astype(int) - 200).sum(-1) > 10)
    assert changed[1].min() >= 90 and changed[0].min() >= 10 and changed[0].max() < 74
    # Hanging over the edge is allowed; the outside part is dropped.
    assert composite(rgba, Scene(), bg, at=(140, -30)).shape == bg.shape
    # A strided view of the face (a crop of a larger array, say) composites like a copy of it.
    wide = np.zeros((64, 128, 4), np.uint8)
    wide[:, ::2] = rgba
    assert np.array_equal(composite(wide[:, ::2], Scene(), bg, at=(90, 10)), out)


def test_occluder_covers_its_region():
    rgba = render_face(PLAIN, {}, Pose(), SIZE, framing="face")
    clean = composite(rgba, Scene())
    scarf = composite(rgba, Scene(occluder="scarf", occluder_xy=(0.5, 0.7), occluder_colour=(0.1, 0.6, 0.1)))
    diff = change(scarf, clean)
    assert diff[int(0.8 * SIZE):].mean() > 50 and diff[: int(0.6 * SIZE)].max() == 0


def test_render_image_is_deterministic_rgb():
    rng = np.random.default_rng(1)
    idn, scene = sample_identity(rng), sample_scene(rng)
    a = render_image(idn, {6: 1.0, 12: 1.0}, Pose(5, 0, 0), scene, 100)
    assert a.shape == (100, 100, 3) and a.dtype == np.uint8
    assert np.array_equal(a, render_image(idn, {6: 1.0, 12: 1.0}, Pose(5, 0, 0), scene, 100))


def test_identities_span_light_to_dark_skin():
    tones = [np.mean(sample_identity(np.random.default_rng(i)).skin) for i in range(200)]
    assert min(tones) < 0.3 and max(tones) > 0.75


# --- preview -----------------------------------------------------------------------------------


def test_contact_sheet_has_one_row_per_class(tmp_path):
    size, per_class = 32, 2
    path = contact_sheet(tmp_path / "sheet.png", per_class=per_class, seed=0, size=size)
    rows = sheet_classes()
    assert len(rows) == 1 + 6 + 7 and rows[0][0] == "Neutral"
    img = np.asarray(Image.open(path).convert("RGB"))
    pitch = size + 4
    assert img.shape[0] == len(rows) * pitch + 4
    for r in range(len(rows)):  # every row holds faces, not white paper
        band = img[4 + r * pitch: 4 + r * pitch + size, -per_class * pitch:]
        assert band.std() > 10
