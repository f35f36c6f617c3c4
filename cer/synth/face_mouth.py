"""The mouth of a synthetic face: its shape from the AUs that move the lips and jaw, and its paint.

Internal to ``cer.synth.face``. The lips are curves of ``s = u / half_width`` in [-1, 1]; every AU
of the lower face moves one of their parameters (the comments name which, after FACS).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cer.synth.face_fields import blob, clip, coverage, line_field, planar
from cer.synth.face_geometry import MOUTH_HALF_W, MOUTH_Y, Raster
from cer.synth.identity import Identity


@dataclass(frozen=True)
class Mouth:
    """Mouth of one render: half width, lip edges as functions of s = u / half_width in [-1, 1]."""

    centre_u: float
    half_w: float
    line_y: float  # where the lips meet at the centre
    corner_dy: float  # + = corners below the centre line
    bulge: float  # lower lip pushed up at the centre (AU17)
    gap_up: float  # upper lip edge lifted off the line
    gap_dn: float  # lower lip edge dropped from the line
    jaw: float  # jaw drop (AU26): the lower lip and the chin move down with it
    upper_t: float  # thickness of the upper lip at the centre
    lower_t: float  # thickness of the lower lip at the centre
    upper_teeth: float  # how much tooth shows below the upper lip
    lower_teeth: float  # how much tooth shows above the lower lip

    def line(self, s: np.ndarray) -> np.ndarray:
        """Where the lips meet (closed), or the centre line they part from (open)."""
        return self.line_y + self.corner_dy * s**2 - self.bulge * (1 - s**2)

    def edges(self, s: np.ndarray) -> tuple[np.ndarray, ...]:
        """Top of upper lip, upper lip edge, lower lip edge, bottom of lower lip."""
        w = clip(1.0 - s**2, 0.0, 1.0)
        o = w**0.55
        line = self.line(s)
        top = line - self.gap_up * o
        bot = line + self.gap_dn * o + self.jaw * (0.2 + 0.8 * w**0.5)
        bow = 1.0 - 0.3 * np.exp(-((s / 0.16) ** 2))  # cupid's bow: a dip at the centre
        return top - self.upper_t * w**0.45 * bow, top, bot, bot + self.lower_t * w**0.5


def jaw_drop(a: dict[int, float]) -> float:
    """How far the jaw drops (face units) at these AU levels: the chin moves down with it."""
    # AU26 drops the jaw; with the lips apart (AU25) the mouth opens further.
    return 0.3 * a[26] * (0.6 + 0.4 * a[25])


def mouth_shape(idn: Identity, a: dict[int, float], sin_yaw: float) -> Mouth:
    """The mouth of ``idn`` at AU levels ``a`` (all of ``RENDERED_AUS``), turned by ``sin_yaw``."""
    press = 1.0 - 0.85 * a[24]  # AU24 presses the lips together
    thin = (1 - 0.55 * a[23]) * (1 - 0.45 * a[24]) * (1 - 0.3 * a[20]) * (1 - 0.2 * a[12])
    upper_lift = 0.07 * a[10] + 0.03 * a[9]  # AU10 (and AU9) raise the upper lip
    parted = max(a[25], a[26], a[16] * 0.8, a[10] * 0.5)
    return Mouth(
        centre_u=0.05 * sin_yaw,
        # AU20 stretches the lips sideways, AU12 pulls the corners out; AU23/24 narrow.
        half_w=MOUTH_HALF_W * idn.mouth_width
        * (1 + 0.3 * a[20] + 0.16 * a[12] - 0.1 * a[23] - 0.06 * a[24] - 0.04 * a[17] - 0.14 * a[26]),
        line_y=MOUTH_Y * idn.nose_length**0.3 - 0.3 * upper_lift * parted,
        # AU12 lifts the corners, AU15 pulls them down, AU20 slightly down and back.
        corner_dy=(-0.17 * a[12] + 0.09 * a[15] + 0.02 * a[20]) * (1 - 0.5 * a[24]),
        bulge=0.035 * a[17] + 0.01 * a[24],  # AU17 pushes the lower lip up
        gap_up=press * (0.02 * a[25] + upper_lift * parted + 0.03 * a[12] * a[25] + 0.035 * a[26]),
        gap_dn=press * (0.03 * a[25] + 0.06 * a[16] * parted + 0.02 * a[20] * a[25]),
        jaw=jaw_drop(a),
        upper_t=0.07 * idn.lip_thickness * thin,
        lower_t=(0.085 * idn.lip_thickness + 0.012 * a[17]) * thin,
        upper_teeth=0.025 + 0.05 * a[10] + 0.045 * a[12] + 0.025 * a[20] + 0.02 * a[9],
        lower_teeth=0.008 + 0.05 * a[16] + 0.025 * a[20] + 0.015 * a[15],
    )


def paint_mouth(r: Raster, idn: Identity, a: dict[int, float], m: Mouth) -> None:
    """Lips, the dark inside of an open mouth with the teeth that show, and the lip line."""
    win = r.window(m.centre_u - m.half_w - 0.06, m.centre_u + m.half_w + 0.06,
                   m.line_y - 0.2, m.line_y + m.jaw + 0.2)
    if win is None:
        return
    u, v = r.u[win] - m.centre_u, r.v[win]
    s = u / m.half_w
    inside = coverage((np.abs(s) - 1.0) * m.half_w, r.px)
    lip_top, top, bot, lip_bottom = m.edges(s)
    lips = planar(idn.lips)
    gap = coverage(np.maximum(top - v, v - bot), r.px) * inside
    upper = coverage(np.maximum(lip_top - v, v - top), r.px, 1.6) * inside
    lower = coverage(np.maximum(bot - v, v - lip_bottom), r.px, 1.6) * inside
    # Inside the mouth: dark cavity, upper teeth under the upper lip, lower teeth above the lower.
    cavity = np.empty((3,) + u.shape, np.float32)
    cavity[:] = planar((0.16, 0.05, 0.05))
    teeth_shade = clip(1.0 - 0.8 * s**2, 0, 1)
    teeth = planar((0.93, 0.9, 0.82)) * teeth_shade
    upper_teeth = coverage(v - top - m.upper_teeth, r.px) * (np.abs(s) < 0.85)
    lower_teeth = coverage(bot - m.lower_teeth - v, r.px) * (np.abs(s) < 0.75)
    cavity += upper_teeth * (teeth - cavity)
    cavity += (0.85 * lower_teeth) * (teeth * 0.85 - cavity)
    r.blend(win, gap, cavity)
    r.blend(win, 0.9 * upper, lips * 0.78)
    r.blend(win, 0.9 * lower, lips)
    r.lighten(win, 0.25 * lower * blob(u, v - (bot + lip_bottom) / 2 + 0.01, 0.5 * m.half_w, 0.03))
    # Where the lips meet (closed mouth) and the shadowed corners.
    line = m.line(s)
    r.darken(win, 0.55 * line_field(v - line, 0.008, r.px) * inside * (gap < 0.5))
    r.darken(win, 0.3 * blob(np.abs(u) - m.half_w, v - line, 0.04, 0.035))
    # AU24 presses the lips: the skin bulges above and below them.
    if a[24] > 0:
        r.lighten(win, 0.15 * a[24] * blob(u, v - lip_top.min() + 0.04, m.half_w * 0.7, 0.03))

