"""The body and the skin of a synthetic face: neck, shoulders, ears, the head's skin, its form
shading, and the wrinkles and furrows that AUs deepen.

Internal to ``cer.synth.face``.
"""

from __future__ import annotations

import math

import numpy as np

from cer.synth.face_fields import blob, clip, coverage, line_field, planar, texture
from cer.synth.face_geometry import (
    BROW_Y,
    CHIN_Y,
    EYE_U,
    EYE_Y,
    HALF_PI,
    MOUTH_Y,
    NOSE_HALF_W,
    NOSE_TIP_Y,
    NOSTRIL_Y,
    Raster,
)
from cer.synth.face_mouth import Mouth
from cer.synth.identity import Identity


def paint_neck_and_clothes(r: Raster, idn: Identity) -> None:
    """Neck and shoulders. The body does not roll with the head: they are drawn on the screen,
    the neck leaning from under the chin down to the shoulders."""
    shift, top = 0.08 * r.sin_yaw, 0.55
    top_x = shift * r.cos_roll + top * r.sin_roll  # screen position of the neck under the chin
    top_y = -shift * r.sin_roll + top * r.cos_roll
    neck_w, lowest = 0.5 * r.fw, r.centre + r.half
    win = r.screen_window(min(top_x, 0.0) - neck_w - 0.1, max(top_x, 0.0) + neck_w + 0.1, top_y - 0.1, lowest)
    if win is not None:
        y = r.gy[win[0], :]
        x = r.gx[:, win[1]] - top_x * (1.0 - clip((y - top_y) / (1.5 - top_y), 0.0, 1.0))
        a = coverage(np.maximum(np.abs(x) - neck_w, top_y - y), r.px)
        # Shadowed under the jaw, rounder towards its sides.
        shade = (0.55 + 0.2 * clip(1 - (x / neck_w) ** 2, 0, 1)) \
            * clip(0.75 + 0.4 * (y - r.bottom), 0.75, 1.0)
        r.cover(win, a, planar(idn.skin) * shade)
    win = r.screen_window(-2.6, 2.6, 1.0, lowest)
    if win is not None:
        x, y = r.gx[:, win[1]], r.gy[win[0], :]
        # Sloping shoulders with a round neckline.
        shoulders = 1.32 + 0.28 * clip(np.abs(x) - 0.45, 0.0, None) ** 1.3 - y
        neckline = 1.3 + 0.22 * clip(1 - (x / (neck_w + 0.05)) ** 2, 0, 1) - y
        a = coverage(np.maximum(shoulders, np.maximum(neckline, np.abs(x) - 2.4)), r.px)
        shade = 0.7 + 0.3 * clip(1 - np.abs(x) / 2.2, 0, 1) - 0.12 * blob(x, y - 1.45, 0.6, 0.15)
        r.cover(win, a, planar(idn.clothes) * shade)


def paint_ears(r: Raster, idn: Identity, front: bool) -> None:
    """Ears on the sides of the head: behind the head (``front=False``) or turned towards us."""
    skin = planar(idn.skin)
    cy = r.fwd_v((EYE_Y + 0.24) * r.fh)
    radius = r.radius_at(cy)
    for side in (-1, 1):
        theta = side * HALF_PI + r.yaw
        if (math.cos(theta) > 0.08) != front or math.cos(theta) < -0.35:
            continue
        cx = radius * math.sin(theta) + side * 0.05 * abs(math.sin(theta)) + r.chin_swing(cy)
        hw, hh = 0.07 + 0.07 * (1 - abs(math.sin(theta))), 0.25
        win = r.frame_window(cx - hw, cx + hw, cy - hh, cy + hh + (0.35 if idn.earrings else 0.0))
        if win is None:
            continue
        dx, dy = r.xh[win] - cx, r.yh[win] - cy
        d = (np.sqrt((dx / hw) ** 2 + (dy / hh) ** 2) - 1.0) * hw
        r.cover(win, coverage(d, r.px), skin * 0.86)
        r.darken(win, 0.35 * blob(dx + 0.02 * side, dy - 0.02, hw * 0.55, 0.13) * (d < 0))
        if idn.earrings:
            d = np.sqrt(dx**2 + (dy - hh - 0.04) ** 2) - 0.035
            r.cover(win, coverage(d, r.px), planar((0.85, 0.68, 0.28)))
            r.lighten(win, 0.8 * blob(dx + 0.01, dy - hh - 0.03, 0.012, 0.012))


def paint_skin(r: Raster, idn: Identity) -> None:
    """The head's skin: its silhouette, lit as a rounded shape, with a fixed grain per person."""
    win = r.head_win
    if win is None:
        return
    x, y = r.xh[win][::2, ::2], r.yh[win][::2, ::2]  # soft shading: half resolution is enough
    # Ellipsoid normal in the head frame, lit by a soft key light from the upper front-left.
    nx = clip(x / r.fw, -1, 1)
    ny = clip((y - 0.1) / 1.7, -1, 1)
    nz = np.sqrt(clip(1.0 - 0.8 * nx**2 - 0.7 * ny**2, 0.02, 1.0))
    lambert = r.fine(clip(-0.25 * nx - 0.3 * ny + 0.92 * nz, 0.0, 1.0), win)
    shade = (0.5 + 0.55 * lambert) * (1.0 + 0.035 * texture(idn.texture_seed, r.size)[win])
    colour = planar(idn.skin) * shade
    # Warmer, more saturated skin where light grazes (sub-surface scattering, roughly).
    colour[0] *= 1.0 + 0.08 * (1 - lambert)
    r.cover(win, coverage(r.head_d[win], r.px), colour)


def paint_shading(r: Raster, idn: Identity, a: dict[int, float], m: Mouth) -> None:
    """Form shading of the face: eye sockets, nose bridge, cheeks, under the nose and lips."""
    win = r.window(-1.0, 1.0, -0.7, 1.5)
    if win is None:
        return
    u, v = r.coarse(win)  # every field here is soft: half resolution is enough
    au = np.abs(u)
    cheek_up = 0.07 * a[6] + 0.035 * a[12]  # AU6 (and a smile) raise the cheeks
    k = (0.42 + 0.12 * a[4]) * blob(au - EYE_U * idn.eye_spacing + 0.03, v + 0.05, 0.27, 0.16)
    k += 0.12 * blob(au - 0.92, v - 0.05, 0.16, 0.45)  # temples and cheek sides
    k += 0.10 * blob(au - 0.62, v - 0.55 + cheek_up, 0.18, 0.12)  # under the cheekbone
    k += 0.08 * blob(u - m.centre_u, v - NOSTRIL_Y - 0.1, 0.12, 0.05)  # philtrum
    k += 0.06 * blob(au - 0.34, v - MOUTH_Y - 0.28, 0.2, 0.25)  # jaw, beside the chin
    r.darken(win, r.fine(k, win))
    hi = 0.16 * blob(u - 0.12 * r.sin_yaw * clip(v / NOSE_TIP_Y, 0, 1), v - 0.2, 0.055, 0.3)
    apple = 0.1 + 0.14 * min(a[6] + 0.5 * a[12], 1.0)  # the cheek's highlight, raised and rounder
    hi += apple * blob(au - 0.45, v - 0.34 + 1.4 * cheek_up, 0.17, 0.12)
    hi += 0.10 * blob(u, v + 0.72, 0.45, 0.22)  # forehead
    hi += 0.07 * blob(u, v - CHIN_Y + 0.2 - m.jaw, 0.18, 0.1)  # chin boss
    r.lighten(win, r.fine(hi, win))
    # Blood close under the skin: cheeks and nose are a little redder than the rest.
    flush = 0.12 * blob(au - 0.5, v - 0.35, 0.2, 0.15) + 0.1 * blob(u, v - NOSE_TIP_Y, 0.1, 0.1)
    r.blend(win, r.fine(flush, win), planar(idn.skin) * planar((1.0, 0.78, 0.78)))


def paint_lines(r: Raster, idn: Identity, a: dict[int, float], m: Mouth) -> None:
    """Wrinkles and furrows that AUs deepen: forehead, glabella, nasolabial, chin."""
    age = idn.age_lines
    # AU1 wrinkles the centre of the forehead, AU2 its sides.
    win = r.window(-0.8, 0.8, -0.95, BROW_Y - 0.08)
    if win is not None:
        u, v = r.u[win], r.v[win]
        strength = (0.9 * a[1] * blob(u, 0, 0.32, 1) + 0.8 * a[2] * blob(np.abs(u) - 0.48, 0, 0.2, 1)
                    + 0.12 * age)
        phase = (BROW_Y - 0.16 - 0.1 * (a[1] + a[2]) - v - 0.1 * u**2) / 0.085
        near = np.abs(phase - np.round(phase)) * 0.085
        lines = line_field(near, 0.008, r.px) * ((phase > -0.5) & (phase < 3.5))
        r.darken(win, 0.45 * strength * lines)
    # AU4 bunches the skin between the brows into vertical furrows.
    win = r.window(-0.2, 0.2, BROW_Y - 0.15, BROW_Y + 0.12) if a[4] > 0 else None
    if win is not None:
        u, v = r.u[win], r.v[win]
        span = blob(0, v - BROW_Y + 0.01, 1, 0.1)
        r.darken(win, 0.5 * a[4] * span * line_field(np.abs(u) - 0.055, 0.01, r.px))
        r.darken(win, 0.12 * a[4] * blob(u, v - BROW_Y - 0.04, 0.12, 0.08))
    # Nasolabial folds: AU11 deepens them; AU10, AU12, AU9 and AU6 deepen and move them.
    depth = min(0.12 + 0.25 * age + 0.5 * a[12] + 0.45 * a[10] + 0.6 * a[11] + 0.3 * a[9]
                + 0.15 * a[6] + 0.2 * a[20], 0.95)
    corner_v = m.line_y + m.corner_dy + 0.06
    win = r.window(-m.half_w - 0.25, m.half_w + 0.25, NOSTRIL_Y - 0.12, corner_v + 0.15)
    if win is not None:
        u, v = r.u[win] - m.centre_u, r.v[win]
        top_v, top_u = NOSTRIL_Y - 0.07 - 0.03 * a[9], NOSE_HALF_W * idn.nose_width + 0.06
        t = clip((v - top_v) / (corner_v - top_v), 0.0, 1.0)
        fold_u = top_u + (m.half_w + 0.07 - top_u) * t + (0.05 + 0.04 * a[12]) * np.sin(np.pi * t)
        dist = np.abs(u) - fold_u
        along = blob(0, (t - 0.45), 1, 0.55) * ((v > top_v - 0.02) & (v < corner_v + 0.1))
        r.darken(win, 0.42 * depth * along * line_field(dist, 0.018, r.px))
        r.lighten(win, 0.25 * depth * along * blob(dist - 0.06, 0, 0.05, 1))
    # AU15 and AU20 pull folds down from the lip corners.
    k = 0.35 * a[15] + 0.2 * a[20]
    cy = m.line_y + m.corner_dy
    win = r.window(-m.half_w - 0.15, m.half_w + 0.15, cy - 0.05, cy + 0.3) if k > 0 else None
    if win is not None:
        u, v = np.abs(r.u[win] - m.centre_u), r.v[win]
        t = clip((v - cy) / 0.25, 0, 1)
        dist = u - (m.half_w + 0.02 + 0.03 * t)
        r.darken(win, k * line_field(dist, 0.014, r.px) * blob(0, t - 0.45, 1, 0.4) * (v > cy))


def paint_chin(r: Raster, idn: Identity, a: dict[int, float], m: Mouth) -> None:
    """The chin below the lower lip: mentolabial furrow, and AU17's raised, dimpled chin boss."""
    lip_bottom = m.edges(np.zeros(1))[3][0]
    win = r.window(-0.5, 0.5, lip_bottom - 0.05, CHIN_Y + m.jaw)
    if win is None:
        return
    u, v = r.u[win] - m.centre_u, r.v[win]
    furrow = lip_bottom + 0.07 - 0.02 * a[17]
    r.darken(win, (0.16 + 0.22 * a[17]) * blob(u, v - furrow, 0.17, 0.03))
    if a[17] > 0:
        boss = blob(u, v - (CHIN_Y + m.jaw - 0.2 - 0.05 * a[17]), 0.2, 0.12)
        dimples = clip(0.5 + 0.6 * texture(idn.texture_seed + 4, r.size)[win], 0, 1)
        r.darken(win, 0.3 * a[17] * boss * dimples)
        r.lighten(win, 0.12 * a[17] * blob(u, v - (CHIN_Y + m.jaw - 0.28), 0.14, 0.07))


