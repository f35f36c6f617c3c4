"""A synthetic face driven by FACS action units: geometry from AUs, soft shading, vectorised numpy.

Every part is drawn analytically on one pixel grid: each pixel gets head-frame coordinates (roll
undone) and face coordinates (yaw and pitch undone on a cylinder-like head), and each part of the
face is a signed-distance or Gaussian field in face coordinates, evaluated only inside its own
window of pixels. So a pose turns the whole face consistently (the far side compresses, the nose
swings further than the cheeks) and anti-aliasing comes from the distance fields, not from
supersampling. Smooth fields (the pose mapping, the head's distance field, soft shading) are
computed at half resolution and resized; colour is planar [3, h, w] so that blending a [h, w]
coverage runs along contiguous rows. A 112-pixel face takes a few milliseconds on one core.

Face units: 1 = half the head's width at the cheekbones; ``v`` grows downwards; ``u`` grows to the
viewer's right. AU geometry follows FACS (Ekman, Friesen & Hager 2002): the comments at each AU
say which movement it is.

This module is the public API. The renderer's parts live beside it: ``face_geometry`` (head model,
pose, pixel grid), ``face_fields`` (distance fields, blobs, lines, textures), ``face_mouth`` (lip
shape from AUs), ``face_skin``, ``face_features``, ``face_hair`` and ``face_accessories`` (painting).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from cer.synth.face_accessories import paint_glasses, paint_hat
from cer.synth.face_features import paint_brows, paint_eyes, paint_nose
from cer.synth.face_geometry import (
    BROW_IN,
    BROW_OUT,
    BROW_Y,
    CHIN_Y,
    EYE_HALF_W,
    EYE_U,
    EYE_Y,
    FRAMINGS,
    HAIRLINE_Y,
    HEAD_TOP_Y,
    MOUTH_HALF_W,
    MOUTH_Y,
    NOSE_HALF_W,
    NOSE_TIP_Y,
    NOSTRIL_Y,
    Pose,
    Projection,
    Raster,
)
from cer.synth.face_hair import paint_beard, paint_hair
from cer.synth.face_mouth import jaw_drop, mouth_shape, paint_mouth
from cer.synth.face_skin import (
    paint_chin,
    paint_ears,
    paint_lines,
    paint_neck_and_clothes,
    paint_shading,
    paint_skin,
)
from cer.synth.identity import Identity
from cer.synth.prototypes import RENDERED_AUS

__all__ = [
    "BROW_IN", "BROW_OUT", "BROW_Y", "CHIN_Y", "EYE_HALF_W", "EYE_U", "EYE_Y", "FACE_BOX_TOP",
    "FRAMINGS", "HAIRLINE_Y", "HEAD_TOP_Y", "MOUTH_HALF_W", "MOUTH_Y", "NOSE_HALF_W", "NOSE_TIP_Y",
    "NOSTRIL_Y", "Pose", "au_levels", "face_box", "render_face",
]

FACE_BOX_TOP = BROW_Y - 0.25  # a detector's box starts this far above the brows (face units)


def au_levels(aus: Mapping[int, float]) -> dict[int, float]:
    """All rendered AUs with their intensity (0 where absent); raises on unknown AUs or levels."""
    unknown = sorted(str(k) for k in aus if k not in RENDERED_AUS)
    if unknown:
        raise ValueError(
            f"unknown AU number(s) {', '.join(unknown)}: the renderer draws AUs "
            f"{', '.join(map(str, RENDERED_AUS))}"
        )
    levels = dict.fromkeys(RENDERED_AUS, 0.0)
    for k, x in aus.items():
        x = float(x)
        if not 0.0 <= x <= 1.0:  # also catches NaN
            raise ValueError(f"AU{k} intensity {x} is outside [0, 1] (0 = absent, 1 = FACS level E)")
        levels[int(k)] = x
    return levels


def _check_square(size: int, framing: str) -> None:
    if framing not in FRAMINGS:
        raise ValueError(f"framing {framing!r}: use one of {', '.join(FRAMINGS)}")
    if size < 8:
        raise ValueError(f"size {size} is too small to draw a face (use 8 pixels or more)")


def face_box(
    identity: Identity,
    pose: Pose = Pose(),
    size: int = 112,
    *,
    framing: str = "head",
    aus: Mapping[int, float] | None = None,
) -> tuple[float, float, float, float]:
    """Where a face detector would put its box on ``render_face``'s square, in pixels.

    Cheek to cheek and from a little above the brows to the chin, through the same pose mapping
    as the renderer (yaw, pitch, roll, and the jaw's drop when ``aus`` open it).

    Args:
        identity, pose, size, framing: as given to :func:`render_face`.
        aus: the AUs of the render (only the jaw's drop matters); None = a closed mouth.

    Returns:
        (x, y, w, h), floats, in the pixel coordinates of the rendered square.
    """
    a = au_levels(aus or {})
    _check_square(size, framing)
    p = Projection(identity, pose, size, framing, jaw_drop(a))
    # The outline of the box in face coordinates: its top and bottom edges and its sides.
    us, vs = np.linspace(-1.0, 1.0, 9), np.linspace(FACE_BOX_TOP, p.chin_v, 9)
    xs, ys = p.to_head_frame(us, (FACE_BOX_TOP, p.chin_v))
    side_x, side_y = p.to_head_frame((-1.0, 1.0), vs)
    cols, rows = p.pixel_coords(xs + side_x, ys + side_y)
    x0, y0 = min(cols) + 0.5, min(rows) + 0.5  # pixel edges, not centres
    return x0, y0, max(cols) + 0.5 - x0, max(rows) + 0.5 - y0


def render_face(
    identity: Identity,
    aus: Mapping[int, float],
    pose: Pose = Pose(),
    size: int = 112,
    *,
    framing: str = "head",
) -> np.ndarray:
    """Render one face showing the given action units.

    Deterministic: no randomness inside; all variation comes from the arguments.

    Args:
        identity: who is shown (face shape, colours, hair, accessories).
        aus: AU number -> intensity in [0, 1] (0 = absent, 1 = FACS level E); AUs not given are
            absent. Only ``cer.synth.prototypes.RENDERED_AUS`` are accepted.
        pose: head pose in degrees.
        size: output side in pixels.
        framing: ``"head"`` (head, hair and shoulders) or ``"face"`` (a tight aligned crop).

    Returns:
        RGBA uint8 array [size, size, 4]: head, hair and accessories; alpha 0 outside.

    Raises:
        ValueError: for unknown AU numbers (named in the message) or intensities outside [0, 1],
            an unknown framing, or a size under 8 pixels.
    """
    a = au_levels(aus)
    _check_square(size, framing)
    r = Raster(identity, pose, size, framing, jaw_drop(a))
    mouth = mouth_shape(identity, a, r.sin_yaw)
    # Back to front: what is painted later covers what is under it.
    paint_neck_and_clothes(r, identity)
    paint_ears(r, identity, front=False)
    paint_skin(r, identity)
    paint_ears(r, identity, front=True)
    paint_shading(r, identity, a, mouth)
    paint_lines(r, identity, a, mouth)
    paint_chin(r, identity, a, mouth)
    paint_eyes(r, identity, a)
    paint_brows(r, identity, a)
    paint_nose(r, identity, a)
    if identity.beard in ("full", "stubble"):
        paint_beard(r, identity, mouth, moustache_only=False)
    paint_mouth(r, identity, a, mouth)
    if identity.beard == "moustache":
        paint_beard(r, identity, mouth, moustache_only=True)
    if identity.hat == "none" or identity.hair_style == "long":
        paint_hair(r, identity)
    if identity.hat != "none":
        paint_hat(r, identity)
    if identity.glasses != "none":
        paint_glasses(r, identity)
    return r.rgba()
