"""What a synthetic face may wear on its head: a hat (beanie or cap) and glasses.

Internal to ``cer.synth.face``.
"""

from __future__ import annotations

import numpy as np

from cer.synth.face_fields import blob, clip, coverage, line_field, planar
from cer.synth.face_geometry import CRANIUM, EYE_U, EYE_Y, HAIRLINE_Y, Raster
from cer.synth.identity import Identity


def paint_hat(r: Raster, idn: Identity) -> None:
    """A beanie or a cap over the skull, down to the forehead; the cap's peak shades the brows."""
    colour = planar(idn.hat_colour)
    rx, ry = CRANIUM * r.fw + 0.1, r.top + 0.1
    win = r.frame_window(-rx - 0.05, rx + 0.05, -ry - 0.05, r.fwd_v((HAIRLINE_Y + 0.45) * r.fh))
    if win is None:
        return
    x, y, u, v, facing = r.xh[win], r.yh[win], r.u[win], r.v[win], r.facing[win]
    shell = (np.sqrt((x / rx) ** 2 + ((y + 0.05) / (ry + 0.05)) ** 2) - 1.0) * rx
    brim_v = HAIRLINE_Y + 0.08 + 0.12 * u**2
    edge = np.where(facing > 0.0, v - brim_v, y - r.fwd_v((HAIRLINE_Y + 0.2) * r.fh))
    shade = 0.65 + 0.35 * clip(0.6 - 0.4 * x / rx - 0.3 * y / ry, 0, 1)
    if idn.hat == "beanie":
        shade = shade * (0.9 + 0.1 * np.sin(x * 70)) * (1 - 0.15 * blob(0, v - brim_v + 0.1, 1, 0.06))
    r.cover(win, coverage(np.maximum(shell, edge), r.px, 1.3), colour * shade)
    if idn.hat == "cap":
        peak = np.sqrt((u / 0.8) ** 2 + ((v - HAIRLINE_Y - 0.12) / 0.16) ** 2) - 1.0
        r.cover(win, coverage(peak * 0.16, r.px) * (facing > 0), colour * 0.75)
        r.darken(win, 0.35 * blob(u, v - HAIRLINE_Y - 0.35, 0.8, 0.18) * (peak > 0))


def paint_glasses(r: Raster, idn: Identity) -> None:
    """Round or square rims over both eyes, with the bridge and the temples."""
    frame = planar(idn.glasses_colour)
    hw, hh = 0.25 * idn.eye_size, 0.16 * idn.eye_size
    ecu = EYE_U * idn.eye_spacing
    win = r.window(-1.05, 1.05, EYE_Y - hh - 0.06, EYE_Y + hh + 0.06)
    if win is None:
        return
    u, v = r.u[win], r.v[win]
    du, dv = np.abs(u) - ecu, v - EYE_Y - 0.02
    if idn.glasses == "round":
        rim = (np.sqrt((du / hw) ** 2 + (dv / hh) ** 2) - 1.0) * hh
    else:  # a rounded rectangle
        qx, qy = np.abs(du) - (hw - 0.06), np.abs(dv) - (hh - 0.06)
        outside = np.sqrt(clip(qx, 0.0, None) ** 2 + clip(qy, 0.0, None) ** 2)
        rim = outside + clip(np.maximum(qx, qy), None, 0.0) - 0.06
    r.lighten(win, 0.08 * coverage(rim, r.px) * clip(0.5 - dv / hh, 0, 1))
    lines = line_field(rim, 0.014, r.px)
    bridge = line_field(dv + 0.05, 0.012, r.px) * (np.abs(u) < ecu - hw + 0.02)
    temple = line_field(dv + 0.05, 0.012, r.px) * (np.abs(u) > ecu + hw - 0.02) * (r.head_d[win] < 0)
    r.blend(win, 0.95 * clip(lines + bridge + temple, 0, 1), frame)


