"""Hair on a synthetic face: the beard and moustache, the hairline, and the styles of head hair.

Internal to ``cer.synth.face``.
"""

from __future__ import annotations

import numpy as np

from cer.synth.face_fields import blob, clip, coverage, planar, texture
from cer.synth.face_geometry import BROW_Y, CHIN_Y, CRANIUM, HAIRLINE_Y, NOSTRIL_Y, Raster
from cer.synth.face_mouth import Mouth
from cer.synth.identity import Identity


def paint_beard(r: Raster, idn: Identity, m: Mouth, moustache_only: bool) -> None:
    """A moustache, or a full beard or stubble that follows the chin as the jaw drops."""
    hair = planar(idn.hair) * 0.85
    win = r.window(-1.05, 1.05, -0.1, CHIN_Y + m.jaw + 0.05)
    if win is None:
        return
    u, v = r.u[win] - m.centre_u, r.v[win]
    s = clip(u / (m.half_w + 0.05), -1, 1)
    lip_top, _, _, lip_bottom = m.edges(s)
    # Moustache: from under the nose to the upper lip, thinning and drooping towards the corners.
    reach = np.abs(u) / (m.half_w + 0.06)
    tache = np.maximum(NOSTRIL_Y + 0.05 + 0.12 * reach**2 - v, v - lip_top - 0.015 - 0.03 * reach**2)
    a = coverage(np.maximum(tache, (reach - 1.0) * 0.1), r.px, 2.5)
    if not moustache_only:
        # From the sideburns down to beside the mouth; below the mouth it moves with the chin.
        below = v - np.where(v > m.line_y, m.jaw, 0.0)
        side = clip((np.abs(u) - 0.4) / 0.55, 0, 1) ** 0.8
        beard = np.maximum(0.85 * (1 - side) - below, r.head_d[win])
        mouth = np.maximum(np.maximum(lip_top - v, v - lip_bottom - 0.03), np.abs(u) - m.half_w)
        a = np.maximum(a, clip(-np.maximum(beard, -mouth) / 0.08, 0, 1) * coverage(r.head_d[win], r.px))
    density = 0.95 if idn.beard in ("full", "moustache") else 0.4
    grain = 0.75 + 0.25 * texture(idn.texture_seed + 1, r.size)[win]
    r.blend(win, density * a * clip(grain, 0, 1), hair * grain)


def _hairline(idn: Identity, u: np.ndarray) -> np.ndarray:
    """Face height where the hair starts, across the face; it falls to the sideburns at the sides."""
    au = np.abs(u)
    side = 14.0 * clip(au - 0.68, 0.0, None) ** 2
    if idn.hair_style == "bangs":
        return BROW_Y - 0.16 + 0.03 * np.sin(u * 37.0) + 0.25 * clip(au - 0.6, 0.0, None) + side
    # Receding at the temples, lower in the middle.
    return HAIRLINE_Y + 0.18 * au**2 + 0.1 * blob(au - 0.5, 0, 0.16, 1) + side


_HAIR_VOLUME = {"short": 0.06, "long": 0.1, "bangs": 0.09, "bun": 0.06, "curly": 0.24}
_HAIR_BOTTOM = {"short": 0.15, "long": 1.85, "bangs": 0.25, "bun": 0.15, "curly": 0.6}


def paint_hair(r: Raster, idn: Identity) -> None:
    """Head hair of the identity's style around the skull, framing the face (a sheen if bald)."""
    style = idn.hair_style
    if style == "bald":
        win = r.frame_window(-0.7, 0.3, -r.top, -0.8)
        if win is not None:
            sheen = blob(r.xh[win] + 0.25, r.yh[win] + r.top * 0.8, 0.3, 0.15)
            r.lighten(win, 0.25 * sheen * (r.alpha[win] > 0.5))
        return
    volume, bottom = _HAIR_VOLUME[style], _HAIR_BOTTOM[style]
    reach = CRANIUM * r.fw + volume + (0.45 if style == "long" else 0.1)
    win = r.frame_window(-reach, reach, -r.top - volume - (0.75 if style == "bun" else 0.05), bottom)
    if win is None:
        return
    x = r.xh[win] + 0.08 * r.sin_yaw  # the back of the head shows on the side away from the turn
    y, u, v = r.yh[win], r.u[win], r.v[win]
    rx, cy = CRANIUM * r.fw + volume, -0.05
    ry = r.top + volume + cy
    # The hair mass: an ellipse around the skull, cut off at ``bottom``...
    mass = (np.sqrt((x / rx) ** 2 + ((y - cy) / ry) ** 2) - 1.0) * rx
    if style == "curly":
        mass = mass - 0.05 * np.sin(np.arctan2(y - cy, x) * 16)
    mass = np.maximum(mass, y - bottom)
    if style == "long":
        # ...or falling behind the neck onto the shoulders, beside the neck and the face.
        spread = r.fw + 0.14 + 0.14 * clip(y, 0, 2)
        curtain = np.maximum(np.abs(x) - spread, y - 1.75 - 0.05 * np.sin(x * 12))
        curtain = np.maximum(curtain, np.where(y > 0.7, 0.5 * r.fw + 0.03 - np.abs(x), -1.0))
        mass = np.minimum(mass, np.maximum(curtain, -0.3 - y))
    if style == "bun":
        mass = np.minimum(mass, np.sqrt(x**2 + (y + r.top + 0.12) ** 2) - 0.32)
    # ...minus the face it frames: below the hairline, and (long hair) in front of the cheeks.
    face = np.maximum(r.head_d[win], _hairline(idn, u) - v)
    if style in ("long", "curly"):
        # Over the sides of the cheeks, less and less towards the jaw.
        face = np.maximum(face, 0.6 * (0.3 - 0.45 * clip(v - 0.35, 0.0, 1.0) - r.facing[win]))
    cover = coverage(np.maximum(mass, -face), r.px, 1.6)
    # Shading: key light from the upper left, strands along the fall of the hair, a sheen band.
    grain = texture(idn.texture_seed + 2, r.size)[win]
    lit = clip(0.55 - 0.35 * x / rx - 0.25 * (y - cy) / ry, 0.1, 1.0)
    freq = 30.0 if style == "curly" else 45.0  # a strand period of a few pixels at 112 px
    strands = np.sin(freq * (x + 0.25 * np.sin(2.5 * y)) + 3 * grain)
    shade = 0.55 + 0.45 * lit + 0.08 * strands
    sheen = 0.3 * blob(x + 0.3, y + r.top * 0.75, 0.35, 0.14)
    hair = planar(idn.hair)
    r.cover(win, cover, hair * shade + sheen * (0.25 + 0.5 * hair))


