"""The eyes, brows and nose of a synthetic face, and how the upper- and mid-face AUs move them.

Internal to ``cer.synth.face``.
"""

from __future__ import annotations

import math

import numpy as np

from cer.synth.face_fields import blob, clip, coverage, line_field, planar, texture
from cer.synth.face_geometry import (
    BROW_IN,
    BROW_OUT,
    BROW_Y,
    EYE_HALF_W,
    EYE_U,
    EYE_Y,
    NOSE_HALF_W,
    NOSE_TIP_Y,
    NOSTRIL_Y,
    Raster,
)
from cer.synth.identity import Identity


def paint_eyes(r: Raster, idn: Identity, a: dict[int, float]) -> None:
    """Both eyes: lids shaped by AU4/5/6/7/9, eyeball and iris, lashes, crease and lower-lid furrow."""
    es = idn.eye_size
    # AU5 raises the upper lid (white above the iris); AU7 tightens both lids and straightens the
    # lower one; AU6 pushes the lower lid up from below; AU4 lowers the brow onto the upper lid.
    h_up = 0.095 * es * (1 + 0.7 * a[5] - 0.35 * a[7] - 0.18 * a[6] - 0.2 * a[4] - 0.1 * a[9])
    h_lo = 0.066 * es * (1 + 0.3 * a[5] - 0.55 * a[7] - 0.55 * a[6] - 0.2 * a[9])
    k_lo = 0.9 - 0.6 * a[7]
    half_w = EYE_HALF_W * es * (1 - 0.06 * a[7] - 0.04 * a[6])
    ri = 0.079 * es
    crease = 0.05 * (1 - 0.6 * a[5]) + 0.012  # AU5 pulls the lid up into its crease
    iris = planar(idn.iris)
    cu = EYE_U * idn.eye_spacing
    # Both eyes in one pass: m mirrors the face, so one field draws the left and the right eye.
    win = r.window(-cu - 1.15 * half_w, cu + 1.15 * half_w, EYE_Y - h_up - crease - 0.04, EYE_Y + h_lo + 0.09)
    if win is None:
        return
    u, v = r.u[win], r.v[win]
    du = np.abs(u) - cu
    m = du * (1.0 / half_w)  # + towards the outer corner
    ey = v - EYE_Y + idn.eye_tilt * m
    w = clip(1.0 - m * m, 0.0, 1.0)
    y_up, y_lo = -h_up * w**0.75, h_lo * w**k_lo
    opening = coverage(np.maximum(y_up - ey, ey - y_lo), r.px) * (w > 0)
    # Eyeball: sclera in the shadow of the upper lid and darker towards the corners; iris with a
    # dark limbal ring, pupil, and the key light's reflection (upper left in both eyes).
    shadow = clip(0.45 * np.exp((y_up - ey) / 0.035) + 0.3 * m * m, 0.0, 0.8)
    dv = v - EYE_Y - 0.008
    di = np.sqrt(du * du + dv * dv) * (1.0 / ri)
    pupil = coverage(di - 0.42, r.px / ri)
    iris_shade = (1.25 - 0.75 * clip(di * 2.2 - 1.2, 0, 1) ** 2) * (1 - 0.5 * shadow) * (1 - 0.92 * pupil)
    eye = planar((0.84, 0.8, 0.76)) * (1 - shadow)
    eye += coverage(di - 1.0, r.px / ri) * (iris * iris_shade - eye)
    glint = blob(u - np.sign(u) * cu + 0.3 * ri, dv + 0.3 * ri + 0.008, 0.22 * ri, 0.22 * ri)
    eye += glint * (0.97 - eye)
    r.blend(win, opening, eye)
    # Lash lines (the upper heavy, thicker outwards), the lid crease, the lower-lid bulge and the
    # infraorbital furrow under it (deepened by AU6 and AU7).
    inside = clip((1.12 - np.abs(m)) * 8.0, 0, 1)
    lash = line_field(ey - y_up + 0.004, 0.012 * es * (0.8 + 0.5 * clip(m, 0, 1)), r.px)
    k = 0.92 * lash + 0.3 * line_field(ey - y_lo - 0.004, 0.006, r.px)
    k += 0.35 * line_field(ey - y_up + crease * np.sqrt(w), 0.01, r.px)
    k += (0.14 + 0.35 * a[6] + 0.2 * a[7]) * line_field(ey - y_lo - 0.055 + 0.02 * a[6], 0.014, r.px)
    r.darken(win, k * inside)
    if a[6] > 0:
        _paint_crows_feet(r, cu + half_w, a[6])


def _paint_crows_feet(r: Raster, corner_u: float, level: float) -> None:
    """AU6: short wrinkles fanning out from the outer eye corners (both sides in one pass)."""
    win = r.window(-corner_u - 0.17, corner_u + 0.17, EYE_Y - 0.09, EYE_Y + 0.09)
    if win is None:
        return
    ox, oy = np.abs(r.u[win]) - corner_u - 0.03, r.v[win] - EYE_Y
    crow = np.zeros_like(ox)
    for ang in (-0.45, 0.0, 0.42):
        along = ox * math.cos(ang) + oy * math.sin(ang)
        across = oy * math.cos(ang) - ox * math.sin(ang)
        fade = clip(along / 0.03, 0, 1) * clip((0.13 - along) / 0.06, 0, 1)
        crow += line_field(across, 0.006, r.px) * fade
    r.darken(win, 0.3 * level * crow)


def paint_brows(r: Raster, idn: Identity, a: dict[int, float]) -> None:
    """Both brows, raised by AU1 (inner) and AU2 (outer), lowered and drawn together by AU4."""
    colour = planar(idn.brow_colour)
    u_in = BROW_IN * idn.eye_spacing - 0.05 * a[4]  # AU4 pulls the brows together
    u_out = BROW_OUT * idn.eye_spacing
    win = r.window(-u_out - 0.08, u_out + 0.08, BROW_Y - 0.3, BROW_Y + 0.18)
    if win is None:
        return
    u, v = r.u[win], r.v[win]
    au = np.abs(u)
    t = (au - u_in) / (u_out - u_in)
    tc = clip(t, 0.0, 1.0)
    centre = (BROW_Y - 0.07 * idn.brow_arch * np.sin(np.pi * tc**0.8)
              - 0.14 * a[1] * (1 - tc) ** 1.4 - 0.03 * a[1]  # AU1: inner brow up (oblique)
              - 0.13 * a[2] * tc**0.9  # AU2: outer brow up (arched)
              + a[4] * (0.1 * (1 - tc) + 0.025)  # AU4: brows down, most at the inner end
              + 0.03 * a[9] * (1 - tc))  # AU9 pulls the inner brow down a little
    half = 0.028 * idn.brow_thickness * (1.15 - 0.65 * tc) * (1 + 0.15 * a[4])
    d = np.maximum(np.abs(v - centre) - half, np.maximum(-t, t - 1) * (u_out - u_in) * 0.5)
    hairs = 0.85 + 0.15 * texture(idn.texture_seed + 3, r.size)[win]
    r.blend(win, clip(0.85 * coverage(d, r.px, 2.0) * hairs, 0, 1), colour)


def paint_nose(r: Raster, idn: Identity, a: dict[int, float]) -> None:
    """The nose by its shading (flanks, tip, alae, nostrils), and AU9's wrinkles across it."""
    nl, nw = idn.nose_length, NOSE_HALF_W * idn.nose_width * (1 + 0.12 * a[9] + 0.06 * a[10])
    tip = NOSE_TIP_Y * nl
    nostril = NOSTRIL_Y * nl - 0.04 * a[9] - 0.015 * a[10]  # AU9/AU10 lift the nostrils
    win = r.window(-nw - 0.12, nw + 0.12, EYE_Y - 0.1, nostril + 0.1)
    if win is None:
        return
    u, v = r.u[win], r.v[win]
    # The nose stands out of the face: under yaw its tip swings further than the cheeks.
    u = u - 0.16 * r.sin_yaw * clip((v - EYE_Y) / (tip - EYE_Y), 0.0, 1.0)
    au = np.abs(u)
    flank = au - 0.09 - 0.35 * nw * clip(v / tip, 0, 1)  # the sides of the nose, widening down
    side = (0.2 + 0.1 * np.sign(u) * r.sin_yaw) * blob(flank, 0, 0.035, 1)
    side *= clip((v - EYE_Y) / 0.15, 0, 1) * (v < tip)
    r.darken(win, side)
    r.lighten(win, 0.22 * blob(u, v - tip + 0.03, 0.06, 0.05))
    r.darken(win, 0.26 * blob(u, v - tip - 0.05, 0.09, 0.035))  # under the tip
    r.darken(win, 0.24 * blob(au - 0.8 * nw, v - nostril + 0.015, 0.055, 0.045))  # alae
    ala = np.sqrt(((au - 0.8 * nw) / 0.07) ** 2 + ((v - nostril + 0.02) / 0.06) ** 2) - 1
    r.darken(win, 0.3 * line_field(ala * 0.06, 0.007, r.px) * (au > 0.75 * nw) * (v < nostril + 0.03))
    nos_w = 0.045 * (1 + 0.3 * a[9])
    nos = np.sqrt(((au - 0.42 * nw) / nos_w) ** 2 + ((v - nostril - 0.005) / 0.018) ** 2) - 1
    r.darken(win, 0.65 * coverage(nos * 0.02, r.px, 1.3))
    # AU9: horizontal wrinkles across the upper nose and between the eyes.
    if a[9] > 0:
        phase = (v - EYE_Y - 0.07) / 0.04
        near = np.abs(phase - np.round(phase)) * 0.04
        across = blob(u, 0, 0.11, 1) * ((phase > -0.5) & (phase < 2.5))
        r.darken(win, 0.6 * a[9] * across * line_field(near, 0.007, r.px))
        r.darken(win, 0.2 * a[9] * blob(au - 0.2, v - EYE_Y - 0.04, 0.06, 0.06))


