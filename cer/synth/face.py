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
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

from cer.synth.identity import Identity
from cer.taxonomy import RENDERED_AUS

# Landmark heights and widths of an average neutral face (normalised face units).
EYE_Y, EYE_U, EYE_HALF_W = 0.0, 0.42, 0.21
BROW_Y, BROW_IN, BROW_OUT = -0.36, 0.11, 0.70
NOSE_TIP_Y, NOSTRIL_Y, NOSE_HALF_W = 0.50, 0.56, 0.21
MOUTH_Y, MOUTH_HALF_W = 0.86, 0.37
CHIN_Y, HEAD_TOP_Y, HAIRLINE_Y = 1.42, -1.42, -0.98

# Framings of the square output: (half extent, centre height) in face units.
FRAMINGS: dict[str, tuple[float, float]] = {
    "head": (1.75, 0.08),  # head, hair and shoulders: for pasting into larger scenes
    "face": (1.28, 0.22),  # forehead to chin: RAF-DB "aligned" / Aff-Wild2 "cropped_aligned"
}
_CRANIUM = 1.05  # the skull is a little wider than the cheekbones
_HALF_PI = math.pi / 2
_PITCH_RADIUS = 1.6  # radius of the vertical arc the face turns on under pitch


def _col(c) -> np.ndarray:
    """An RGB colour shaped [3, 1, 1], to broadcast over planar [3, h, w] images."""
    return np.asarray(c, np.float32).reshape(3, 1, 1)


_SHADOW_TINT = _col((0.92, 1.0, 1.07))  # shadows on skin turn warmer
_LASH = _col((0.06, 0.045, 0.04))


@dataclass(frozen=True)
class Pose:
    """Head pose in degrees: yaw + = the face turns to its left (the viewer's right), pitch + =
    chin up (features move up), roll + = the head tilts counter-clockwise in the image."""

    yaw: float = 0.0
    pitch: float = 0.0
    roll: float = 0.0


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


# --- fields -------------------------------------------------------------------------------------


def _clip(x, lo: float | None, hi: float | None):
    # ndarray.clip: several times faster than np.clip or np.maximum with a scalar (numpy 2.x).
    if isinstance(x, np.ndarray):
        return x.clip(lo, hi)
    return min(max(x, -math.inf if lo is None else lo), math.inf if hi is None else hi)


def _cover(d: np.ndarray, px: float, soft: float = 1.0) -> np.ndarray:
    """Pixel coverage of the inside (d < 0) of a signed distance ``d`` in face units."""
    return _clip(0.5 - d / (px * soft), 0.0, 1.0)


def _blob(du: np.ndarray, dv: np.ndarray, su: float, sv: float) -> np.ndarray:
    return np.exp(-((du / su) ** 2) - (dv / sv) ** 2)


@lru_cache(maxsize=8)
def _texture_bank(size: int) -> np.ndarray:
    """Smooth noise in about [-1, 1] on a [2 size, 2 size] tile, shared by everyone (read-only)."""
    rng = np.random.default_rng(size)
    n = 2 * size
    coarse_n = max(n // 10, 4)
    coarse = rng.normal(0.0, 1.0, (coarse_n, coarse_n)).astype(np.float32)
    idx = np.linspace(0, coarse_n - 1, n).astype(np.float32)
    i0 = np.floor(idx).astype(int).clip(0, coarse_n - 2)
    t = idx - i0
    rows = coarse[i0] * (1 - t)[:, None] + coarse[i0 + 1] * t[:, None]
    smooth = rows[:, i0] * (1 - t)[None, :] + rows[:, i0 + 1] * t[None, :]
    fine = rng.normal(0.0, 0.5, (n, n)).astype(np.float32)
    bank = (0.45 * smooth + 0.55 * fine).astype(np.float32)
    bank.setflags(write=False)
    return bank


def _texture(seed: int, size: int) -> np.ndarray:
    """Fixed skin/hair grain of one person: a seed-chosen [size, size] view of the shared bank."""
    oy, ox = (seed * 7919) % size, (seed * 104729 // size) % size
    return _texture_bank(size)[oy:oy + size, ox:ox + size]


# --- the pixel grid -----------------------------------------------------------------------------


class _Projection:
    """How face coordinates land on the pixels of one render: framing, pose and head outline.

    Three coordinate systems: pixels; the head frame ``(x, y)`` (the canvas with the roll undone,
    face units); face coordinates ``(u, v)`` (yaw and pitch undone, normalised by the identity's
    face width and height), in which every part of the face is drawn.
    """

    def __init__(self, idn: Identity, pose: Pose, size: int, framing: str, jaw: float) -> None:
        half, centre = FRAMINGS[framing]
        self.size, self.half, self.centre = size, half, centre
        self.px = 2.0 * half / size  # one pixel in face units
        self.fw, self.fh = idn.face_width, idn.face_height
        # Internally pitch + turns the face down the arc (features move down): hence the sign.
        self.yaw, self.pitch = math.radians(pose.yaw), -math.radians(pose.pitch)
        self.cos_roll, self.sin_roll = math.cos(math.radians(pose.roll)), math.sin(math.radians(pose.roll))
        self.sin_yaw = math.sin(self.yaw)
        self.jaw_p = idn.jaw_squareness
        # Head silhouette: ellipse above the eye line, superellipse (the jaw) below it.
        self.top = -self.fwd_v(HEAD_TOP_Y * self.fh)
        self.bottom = self.fwd_v((CHIN_Y * idn.chin_length + jaw) * self.fh)

    # geometry of the head frame
    def fwd_v(self, v: float) -> float:
        """Head-frame height of the (unnormalised) face height ``v`` under the pitch."""
        lat = math.asin(max(-1.0, min(1.0, v / _PITCH_RADIUS)))
        return _PITCH_RADIUS * math.sin(lat + self.pitch)

    def _chin_swing(self, y):
        # The jaw sits in front of the neck's axis: under yaw it swings further than the skull.
        return 0.12 * self.sin_yaw * _clip(y, 0.0, 1.5)

    def _cranium(self, s):
        """Widening of the skull above the eye line (s = y / top in [-1, 0]): 1 at the eye line,
        so the outline has no step there, up to ``_CRANIUM`` a third of the way up."""
        return 1.0 + (_CRANIUM - 1.0) * _clip(-3.0 * s, 0.0, 1.0)

    def _half_width(self, y):
        """Half width of the head at head-frame height ``y`` (arrays or floats)."""
        # Each factor is 1 on the other side of the eye line: their product needs no branch.
        s, t, p = _clip(y / self.top, -1.0, 0.0), _clip(y / self.bottom, 0.0, 1.0), self.jaw_p
        if isinstance(y, float):
            return self.fw * self._cranium(s) * math.sqrt(1.0 - s * s) * (1.0 - t**p) ** (1.0 / p)
        return self.fw * self._cranium(s) * np.sqrt(1.0 - s * s) * (1.0 - t**p) ** (1.0 / p)

    def _cyl_radius(self, y):
        w = self._half_width(y)
        return _clip(w, 0.62 * self.fw, None)

    def _head_distance(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Approximate signed distance to the head outline, in face units."""
        ax = np.abs(x) * (1.0 / self.fw)
        s, t, p = _clip(y / self.top, None, 0.0), _clip(y / self.bottom, 0.0, None), self.jaw_p
        cranium = self._cranium(_clip(s, -1.0, 0.0))
        upper = np.sqrt((ax / cranium) ** 2 + s * s)  # ellipse above the eye line
        lower = (ax**p + t**p) ** (1.0 / p)  # superellipse (the jaw) below it
        # Both equal ax on the other side of the eye line, so no branch is needed.
        return (upper + lower - ax - 1.0) * self.fw

    # windows: the pixels a part can touch
    def to_head_frame(self, us, vs) -> tuple[list[float], list[float]]:
        """Head-frame points of every (u, v) pair of the two sequences (their grid)."""
        xs, ys = [], []
        for v in vs:
            y = self.fwd_v(v * self.fh)
            radius = self._cyl_radius(y)
            swing = 0.12 * self.sin_yaw * min(max(y, 0.0), 1.5)
            for u in us:
                ang = math.asin(max(-1.0, min(1.0, u * self.fw / radius))) + self.yaw
                xs.append(radius * math.sin(max(-_HALF_PI, min(_HALF_PI, ang))) + swing)
                ys.append(y)
        return xs, ys

    def window(self, u0: float, u1: float, v0: float, v1: float) -> tuple[slice, slice] | None:
        """Pixel window (rows, cols) covering a box in face coordinates, or None if off-canvas."""
        return self._pixels(*self.to_head_frame((u0, 0.5 * (u0 + u1), u1), (v0, 0.5 * (v0 + v1), v1)))

    def screen_window(self, x0: float, x1: float, y0: float, y1: float) -> tuple[slice, slice] | None:
        """Pixel window covering a box in screen coordinates (no roll), or None if off-canvas."""
        return self._pixels([x0, x1], [y0, y1], roll=False)

    def frame_window(self, x0: float, x1: float, y0: float, y1: float) -> tuple[slice, slice] | None:
        """Pixel window covering a box in the head frame, or None if off-canvas."""
        return self._pixels([x0, x1, x0, x1], [y0, y0, y1, y1])

    def pixel_coords(self, xs: list[float], ys: list[float], roll: bool = True) -> tuple[list[float], list[float]]:
        """Continuous pixel (column, row) of head-frame points (screen points if ``roll=False``)."""
        cr, sr = (self.cos_roll, self.sin_roll) if roll else (1.0, 0.0)
        cols = [(x * cr + y * sr + self.half) / self.px - 0.5 for x, y in zip(xs, ys)]
        rows = [(-x * sr + y * cr - self.centre + self.half) / self.px - 0.5 for x, y in zip(xs, ys)]
        return cols, rows

    def _pixels(self, xs: list[float], ys: list[float], roll: bool = True) -> tuple[slice, slice] | None:
        cols, rows = self.pixel_coords(xs, ys, roll)
        r0, r1 = max(int(min(rows)) - 2, 0), min(int(max(rows)) + 3, self.size)
        c0, c1 = max(int(min(cols)) - 2, 0), min(int(max(cols)) + 3, self.size)
        if r0 >= r1 or c0 >= c1:
            return None
        return slice(r0, r1), slice(c0, c1)

class _Raster(_Projection):
    """The pixel grid of one render: the coordinates of each pixel and the RGBA being painted."""

    def __init__(self, idn: Identity, pose: Pose, size: int, framing: str, jaw: float) -> None:
        super().__init__(idn, pose, size, framing, jaw)
        half, centre = self.half, self.centre
        c = (np.arange(size, dtype=np.float32) + 0.5) * self.px - half
        gx, gy = c[None, :], c[:, None] + centre
        self.gx, self.gy = gx, gy  # screen coordinates (face units), [1, S] and [S, 1]
        self.xh = gx * self.cos_roll - gy * self.sin_roll  # head frame: roll undone
        self.yh = gx * self.sin_roll + gy * self.cos_roll
        # Face coordinates and the head's distance field are smooth: compute them on a half-size
        # grid placed where cv2's bilinear resize samples, and resize (a quarter of the work).
        n = (size + 1) // 2
        cc = ((np.arange(n, dtype=np.float32) + 0.5) * (size / n)) * self.px - half
        hx, hy = cc[None, :], cc[:, None] + centre
        xh, yh = hx * self.cos_roll - hy * self.sin_roll, hx * self.sin_roll + hy * self.cos_roll
        xc = xh - self._chin_swing(yh)
        radius = self._cyl_radius(yh)
        self._theta = np.arcsin(_clip(xc / radius, -1.0, 1.0)) - self.yaw  # angle around the head
        self.u = self._full(radius * np.sin(self._theta) * (1.0 / self.fw))
        lat = np.arcsin(_clip(yh * (1.0 / _PITCH_RADIUS), -1.0, 1.0))
        self.v = self._full(_PITCH_RADIUS / self.fh * np.sin(lat - self.pitch))
        self._facing: np.ndarray | None = None
        self.head_d = self._full(self._head_distance(xc, yh))  # < 0 inside the head
        swing = 0.18 * abs(self.sin_yaw)
        self.head_win = self.frame_window(-_CRANIUM * self.fw - swing, _CRANIUM * self.fw + swing,
                                          -self.top, self.bottom)
        # Planar colour [3, S, S]: blending a [h, w] coverage into it runs along contiguous rows.
        self.rgb = np.zeros((3, size, size), np.float32)
        self.alpha = np.zeros((size, size), np.float32)

    @property
    def facing(self) -> np.ndarray:
        """Cosine of the angle between the surface and the view: < 0 on the side/back of the head."""
        if self._facing is None:
            self._facing = self._full(np.cos(self._theta))
        return self._facing

    def _full(self, half_size: np.ndarray) -> np.ndarray:
        return cv2.resize(half_size, (self.size, self.size), interpolation=cv2.INTER_LINEAR)

    # smooth fields at half resolution
    def coarse(self, win) -> tuple[np.ndarray, np.ndarray]:
        """Face coordinates of every other pixel of a window: smooth fields (soft shading) are
        computed on these at a quarter of the cost, then brought back with :meth:`fine`."""
        return self.u[win][::2, ::2], self.v[win][::2, ::2]

    def fine(self, field: np.ndarray, win) -> np.ndarray:
        """A field computed on :meth:`coarse` coordinates, resampled to the window's pixels."""
        size = (win[1].stop - win[1].start, win[0].stop - win[0].start)
        return cv2.resize(field, size, interpolation=cv2.INTER_LINEAR)

    # painting
    def blend(self, win, a: np.ndarray, colour) -> None:
        """Paint ``colour`` with coverage ``a`` over what is there (alpha unchanged)."""
        rgb = self.rgb[:, win[0], win[1]]
        rgb += a * (colour - rgb)

    def cover(self, win, a: np.ndarray, colour) -> None:
        """Paint a layer that also adds to the silhouette (straight-alpha 'over')."""
        under = self.alpha[win]
        out = a + under * (1.0 - a)
        w = a / _clip(out, 1e-6, None)
        rgb = self.rgb[:, win[0], win[1]]
        rgb += w * (colour - rgb)
        self.alpha[win] = out

    def darken(self, win, k: np.ndarray) -> None:
        self.rgb[:, win[0], win[1]] *= 1.0 - _clip(k, 0.0, 0.95) * _SHADOW_TINT

    def lighten(self, win, k: np.ndarray) -> None:
        rgb = self.rgb[:, win[0], win[1]]
        # Part diffuse (scales the colour), part specular (adds light whatever the skin tone).
        rgb += k * (0.35 * rgb + 0.3)


# --- AU geometry --------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Mouth:
    """Mouth of one render: half width, lip edges as functions of s = u / half_width in [-1, 1]."""

    centre_u: float
    half_w: float
    line_y: float  # where the lips meet at the centre
    corner_dy: float  # + = corners below the centre line
    bulge: float  # lower lip pushed up at the centre (AU17)
    gap_up: float  # upper lip edge lifted off the line
    gap_dn: float  # lower lip edge dropped from the line
    jaw: float  # jaw drop (AU26): the lower lip and the chin move down with it
    upper_t: float
    lower_t: float
    upper_teeth: float
    lower_teeth: float

    def line(self, s: np.ndarray) -> np.ndarray:
        return self.line_y + self.corner_dy * s**2 - self.bulge * (1 - s**2)

    def edges(self, s: np.ndarray) -> tuple[np.ndarray, ...]:
        """Top of upper lip, upper lip edge, lower lip edge, bottom of lower lip."""
        w = _clip(1.0 - s**2, 0.0, 1.0)
        o = w**0.55
        line = self.line(s)
        top = line - self.gap_up * o
        bot = line + self.gap_dn * o + self.jaw * (0.2 + 0.8 * w**0.5)
        bow = 1.0 - 0.3 * np.exp(-((s / 0.16) ** 2))  # cupid's bow: a dip at the centre
        return top - self.upper_t * w**0.45 * bow, top, bot, bot + self.lower_t * w**0.5


def _jaw_drop(a: dict[int, float]) -> float:
    # AU26 drops the jaw; with the lips apart (AU25) the mouth opens further.
    return 0.3 * a[26] * (0.6 + 0.4 * a[25])


def _mouth(idn: Identity, a: dict[int, float], sin_yaw: float) -> _Mouth:
    press = 1.0 - 0.85 * a[24]  # AU24 presses the lips together
    thin = (1 - 0.55 * a[23]) * (1 - 0.45 * a[24]) * (1 - 0.3 * a[20]) * (1 - 0.2 * a[12])
    upper_lift = 0.07 * a[10] + 0.03 * a[9]  # AU10 (and AU9) raise the upper lip
    parted = max(a[25], a[26], a[16] * 0.8, a[10] * 0.5)
    return _Mouth(
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
        jaw=_jaw_drop(a),
        upper_t=0.07 * idn.lip_thickness * thin,
        lower_t=(0.085 * idn.lip_thickness + 0.012 * a[17]) * thin,
        # How much tooth shows below the upper lip / above the lower lip.
        upper_teeth=0.025 + 0.05 * a[10] + 0.045 * a[12] + 0.025 * a[20] + 0.02 * a[9],
        lower_teeth=0.008 + 0.05 * a[16] + 0.025 * a[20] + 0.015 * a[15],
    )


# --- parts of the face --------------------------------------------------------------------------


def _paint_neck_and_clothes(r: _Raster, idn: Identity) -> None:
    """Neck and shoulders. The body does not roll with the head: they are drawn on the screen,
    the neck leaning from under the chin down to the shoulders."""
    shift, top = 0.08 * r.sin_yaw, 0.55
    top_x = shift * r.cos_roll + top * r.sin_roll  # screen position of the neck under the chin
    top_y = -shift * r.sin_roll + top * r.cos_roll
    neck_w, lowest = 0.5 * r.fw, r.centre + r.half
    win = r.screen_window(min(top_x, 0.0) - neck_w - 0.1, max(top_x, 0.0) + neck_w + 0.1, top_y - 0.1, lowest)
    if win is not None:
        y = r.gy[win[0], :]
        x = r.gx[:, win[1]] - top_x * (1.0 - _clip((y - top_y) / (1.5 - top_y), 0.0, 1.0))
        a = _cover(np.maximum(np.abs(x) - neck_w, top_y - y), r.px)
        # Shadowed under the jaw, rounder towards its sides.
        shade = (0.55 + 0.2 * _clip(1 - (x / neck_w) ** 2, 0, 1)) \
            * _clip(0.75 + 0.4 * (y - r.bottom), 0.75, 1.0)
        r.cover(win, a, _col(idn.skin) * shade)
    win = r.screen_window(-2.6, 2.6, 1.0, lowest)
    if win is not None:
        x, y = r.gx[:, win[1]], r.gy[win[0], :]
        # Sloping shoulders with a round neckline.
        shoulders = 1.32 + 0.28 * _clip(np.abs(x) - 0.45, 0.0, None) ** 1.3 - y
        neckline = 1.3 + 0.22 * _clip(1 - (x / (neck_w + 0.05)) ** 2, 0, 1) - y
        a = _cover(np.maximum(shoulders, np.maximum(neckline, np.abs(x) - 2.4)), r.px)
        shade = 0.7 + 0.3 * _clip(1 - np.abs(x) / 2.2, 0, 1) - 0.12 * _blob(x, y - 1.45, 0.6, 0.15)
        r.cover(win, a, _col(idn.clothes) * shade)


def _paint_ears(r: _Raster, idn: Identity, front: bool) -> None:
    """Ears on the sides of the head: behind the head (``front=False``) or turned towards us."""
    skin = _col(idn.skin)
    cy = r.fwd_v((EYE_Y + 0.24) * r.fh)
    radius = r._cyl_radius(cy)
    for side in (-1, 1):
        theta = side * _HALF_PI + r.yaw
        if (math.cos(theta) > 0.08) != front or math.cos(theta) < -0.35:
            continue
        swing = 0.12 * r.sin_yaw * min(max(cy, 0.0), 1.5)
        cx = radius * math.sin(theta) + side * 0.05 * abs(math.sin(theta)) + swing
        hw, hh = 0.07 + 0.07 * (1 - abs(math.sin(theta))), 0.25
        win = r.frame_window(cx - hw, cx + hw, cy - hh, cy + hh + (0.35 if idn.earrings else 0.0))
        if win is None:
            continue
        dx, dy = r.xh[win] - cx, r.yh[win] - cy
        d = (np.sqrt((dx / hw) ** 2 + (dy / hh) ** 2) - 1.0) * hw
        r.cover(win, _cover(d, r.px), skin * 0.86)
        r.darken(win, 0.35 * _blob(dx + 0.02 * side, dy - 0.02, hw * 0.55, 0.13) * (d < 0))
        if idn.earrings:
            d = np.sqrt(dx**2 + (dy - hh - 0.04) ** 2) - 0.035
            r.cover(win, _cover(d, r.px), _col((0.85, 0.68, 0.28)))
            r.lighten(win, 0.8 * _blob(dx + 0.01, dy - hh - 0.03, 0.012, 0.012))


def _paint_skin(r: _Raster, idn: Identity) -> None:
    win = r.head_win
    if win is None:
        return
    x, y = r.xh[win][::2, ::2], r.yh[win][::2, ::2]  # soft shading: half resolution is enough
    # Ellipsoid normal in the head frame, lit by a soft key light from the upper front-left.
    nx = _clip(x / r.fw, -1, 1)
    ny = _clip((y - 0.1) / 1.7, -1, 1)
    nz = np.sqrt(_clip(1.0 - 0.8 * nx**2 - 0.7 * ny**2, 0.02, 1.0))
    lambert = r.fine(_clip(-0.25 * nx - 0.3 * ny + 0.92 * nz, 0.0, 1.0), win)
    shade = (0.5 + 0.55 * lambert) * (1.0 + 0.035 * _texture(idn.texture_seed, r.size)[win])
    colour = _col(idn.skin) * shade
    # Warmer, more saturated skin where light grazes (sub-surface scattering, roughly).
    colour[0] *= 1.0 + 0.08 * (1 - lambert)
    r.cover(win, _cover(r.head_d[win], r.px), colour)


def _paint_shading(r: _Raster, idn: Identity, a: dict[int, float], m: _Mouth) -> None:
    """Form shading of the face: eye sockets, nose bridge, cheeks, under the nose and lips."""
    win = r.window(-1.0, 1.0, -0.7, 1.5)
    if win is None:
        return
    u, v = r.coarse(win)  # every field here is soft: half resolution is enough
    au = np.abs(u)
    cheek_up = 0.07 * a[6] + 0.035 * a[12]  # AU6 (and a smile) raise the cheeks
    k = (0.42 + 0.12 * a[4]) * _blob(au - EYE_U * idn.eye_spacing + 0.03, v + 0.05, 0.27, 0.16)
    k += 0.12 * _blob(au - 0.92, v - 0.05, 0.16, 0.45)  # temples and cheek sides
    k += 0.10 * _blob(au - 0.62, v - 0.55 + cheek_up, 0.18, 0.12)  # under the cheekbone
    k += 0.08 * _blob(u - m.centre_u, v - NOSTRIL_Y - 0.1, 0.12, 0.05)  # philtrum
    k += 0.06 * _blob(au - 0.34, v - MOUTH_Y - 0.28, 0.2, 0.25)  # jaw, beside the chin
    r.darken(win, r.fine(k, win))
    hi = 0.16 * _blob(u - 0.12 * r.sin_yaw * _clip(v / NOSE_TIP_Y, 0, 1), v - 0.2, 0.055, 0.3)
    apple = 0.1 + 0.14 * min(a[6] + 0.5 * a[12], 1.0)  # the cheek's highlight, raised and rounder
    hi += apple * _blob(au - 0.45, v - 0.34 + 1.4 * cheek_up, 0.17, 0.12)
    hi += 0.10 * _blob(u, v + 0.72, 0.45, 0.22)  # forehead
    hi += 0.07 * _blob(u, v - CHIN_Y + 0.2 - m.jaw, 0.18, 0.1)  # chin boss
    r.lighten(win, r.fine(hi, win))
    # Blood close under the skin: cheeks and nose are a little redder than the rest.
    flush = 0.12 * _blob(au - 0.5, v - 0.35, 0.2, 0.15) + 0.1 * _blob(u, v - NOSE_TIP_Y, 0.1, 0.1)
    r.blend(win, r.fine(flush, win), _col(idn.skin) * _col((1.0, 0.78, 0.78)))


def _line_field(dist: np.ndarray, half_width: float, px: float) -> np.ndarray:
    """Soft line of a given half width (face units); never thinner than about a pixel."""
    w = _clip(half_width, 0.6 * px, None)
    return np.exp(-((dist / w) ** 2)) * _clip(half_width / (0.6 * px) + 0.35, None, 1.0)


def _paint_lines(r: _Raster, idn: Identity, a: dict[int, float], m: _Mouth) -> None:
    """Wrinkles and furrows that AUs deepen: forehead, glabella, nasolabial, chin."""
    age = idn.age_lines
    # AU1 wrinkles the centre of the forehead, AU2 its sides.
    win = r.window(-0.8, 0.8, -0.95, BROW_Y - 0.08)
    if win is not None:
        u, v = r.u[win], r.v[win]
        strength = (0.9 * a[1] * _blob(u, 0, 0.32, 1) + 0.8 * a[2] * _blob(np.abs(u) - 0.48, 0, 0.2, 1)
                    + 0.12 * age)
        phase = (BROW_Y - 0.16 - 0.1 * (a[1] + a[2]) - v - 0.1 * u**2) / 0.085
        near = np.abs(phase - np.round(phase)) * 0.085
        lines = _line_field(near, 0.008, r.px) * ((phase > -0.5) & (phase < 3.5))
        r.darken(win, 0.45 * strength * lines)
    # AU4 bunches the skin between the brows into vertical furrows.
    win = r.window(-0.2, 0.2, BROW_Y - 0.15, BROW_Y + 0.12) if a[4] > 0 else None
    if win is not None:
        u, v = r.u[win], r.v[win]
        span = _blob(0, v - BROW_Y + 0.01, 1, 0.1)
        r.darken(win, 0.5 * a[4] * span * _line_field(np.abs(u) - 0.055, 0.01, r.px))
        r.darken(win, 0.12 * a[4] * _blob(u, v - BROW_Y - 0.04, 0.12, 0.08))
    # Nasolabial folds: AU11 deepens them; AU10, AU12, AU9 and AU6 deepen and move them.
    depth = min(0.12 + 0.25 * age + 0.5 * a[12] + 0.45 * a[10] + 0.6 * a[11] + 0.3 * a[9]
                + 0.15 * a[6] + 0.2 * a[20], 0.95)
    corner_v = m.line_y + m.corner_dy + 0.06
    win = r.window(-m.half_w - 0.25, m.half_w + 0.25, NOSTRIL_Y - 0.12, corner_v + 0.15)
    if win is not None:
        u, v = r.u[win] - m.centre_u, r.v[win]
        top_v, top_u = NOSTRIL_Y - 0.07 - 0.03 * a[9], NOSE_HALF_W * idn.nose_width + 0.06
        t = _clip((v - top_v) / (corner_v - top_v), 0.0, 1.0)
        fold_u = top_u + (m.half_w + 0.07 - top_u) * t + (0.05 + 0.04 * a[12]) * np.sin(np.pi * t)
        dist = np.abs(u) - fold_u
        along = _blob(0, (t - 0.45), 1, 0.55) * ((v > top_v - 0.02) & (v < corner_v + 0.1))
        r.darken(win, 0.42 * depth * along * _line_field(dist, 0.018, r.px))
        r.lighten(win, 0.25 * depth * along * _blob(dist - 0.06, 0, 0.05, 1))
    # AU15 and AU20 pull folds down from the lip corners.
    k = 0.35 * a[15] + 0.2 * a[20]
    cy = m.line_y + m.corner_dy
    win = r.window(-m.half_w - 0.15, m.half_w + 0.15, cy - 0.05, cy + 0.3) if k > 0 else None
    if win is not None:
        u, v = np.abs(r.u[win] - m.centre_u), r.v[win]
        t = _clip((v - cy) / 0.25, 0, 1)
        dist = u - (m.half_w + 0.02 + 0.03 * t)
        r.darken(win, k * _line_field(dist, 0.014, r.px) * _blob(0, t - 0.45, 1, 0.4) * (v > cy))


def _paint_chin(r: _Raster, idn: Identity, a: dict[int, float], m: _Mouth) -> None:
    """The chin below the lower lip: mentolabial furrow, and AU17's raised, dimpled chin boss."""
    lip_bottom = m.edges(np.zeros(1))[3][0]
    win = r.window(-0.5, 0.5, lip_bottom - 0.05, CHIN_Y + m.jaw)
    if win is None:
        return
    u, v = r.u[win] - m.centre_u, r.v[win]
    furrow = lip_bottom + 0.07 - 0.02 * a[17]
    r.darken(win, (0.16 + 0.22 * a[17]) * _blob(u, v - furrow, 0.17, 0.03))
    if a[17] > 0:
        boss = _blob(u, v - (CHIN_Y + m.jaw - 0.2 - 0.05 * a[17]), 0.2, 0.12)
        dimples = _clip(0.5 + 0.6 * _texture(idn.texture_seed + 4, r.size)[win], 0, 1)
        r.darken(win, 0.3 * a[17] * boss * dimples)
        r.lighten(win, 0.12 * a[17] * _blob(u, v - (CHIN_Y + m.jaw - 0.28), 0.14, 0.07))


def _paint_eyes(r: _Raster, idn: Identity, a: dict[int, float]) -> None:
    es = idn.eye_size
    # AU5 raises the upper lid (white above the iris); AU7 tightens both lids and straightens the
    # lower one; AU6 pushes the lower lid up from below; AU4 lowers the brow onto the upper lid.
    h_up = 0.095 * es * (1 + 0.7 * a[5] - 0.35 * a[7] - 0.18 * a[6] - 0.2 * a[4] - 0.1 * a[9])
    h_lo = 0.066 * es * (1 + 0.3 * a[5] - 0.55 * a[7] - 0.55 * a[6] - 0.2 * a[9])
    k_lo = 0.9 - 0.6 * a[7]
    half_w = EYE_HALF_W * es * (1 - 0.06 * a[7] - 0.04 * a[6])
    ri = 0.079 * es
    crease = 0.05 * (1 - 0.6 * a[5]) + 0.012  # AU5 pulls the lid up into its crease
    iris = _col(idn.iris)
    cu = EYE_U * idn.eye_spacing
    # Both eyes in one pass: m mirrors the face, so one field draws the left and the right eye.
    win = r.window(-cu - 1.15 * half_w, cu + 1.15 * half_w, EYE_Y - h_up - crease - 0.04, EYE_Y + h_lo + 0.09)
    if win is None:
        return
    u, v = r.u[win], r.v[win]
    du = np.abs(u) - cu
    m = du * (1.0 / half_w)  # + towards the outer corner
    ey = v - EYE_Y + idn.eye_tilt * m
    w = _clip(1.0 - m * m, 0.0, 1.0)
    y_up, y_lo = -h_up * w**0.75, h_lo * w**k_lo
    opening = _cover(np.maximum(y_up - ey, ey - y_lo), r.px) * (w > 0)
    # Eyeball: sclera in the shadow of the upper lid and darker towards the corners; iris with a
    # dark limbal ring, pupil, and the key light's reflection (upper left in both eyes).
    shadow = _clip(0.45 * np.exp((y_up - ey) / 0.035) + 0.3 * m * m, 0.0, 0.8)
    dv = v - EYE_Y - 0.008
    di = np.sqrt(du * du + dv * dv) * (1.0 / ri)
    pupil = _cover(di - 0.42, r.px / ri)
    iris_shade = (1.25 - 0.75 * _clip(di * 2.2 - 1.2, 0, 1) ** 2) * (1 - 0.5 * shadow) * (1 - 0.92 * pupil)
    eye = _col((0.84, 0.8, 0.76)) * (1 - shadow)
    eye += _cover(di - 1.0, r.px / ri) * (iris * iris_shade - eye)
    glint = _blob(u - np.sign(u) * cu + 0.3 * ri, dv + 0.3 * ri + 0.008, 0.22 * ri, 0.22 * ri)
    eye += glint * (0.97 - eye)
    r.blend(win, opening, eye)
    # Lash lines (the upper heavy, thicker outwards), the lid crease, the lower-lid bulge and the
    # infraorbital furrow under it (deepened by AU6 and AU7).
    inside = _clip((1.12 - np.abs(m)) * 8.0, 0, 1)
    lash = _line_field(ey - y_up + 0.004, 0.012 * es * (0.8 + 0.5 * _clip(m, 0, 1)), r.px)
    k = 0.92 * lash + 0.3 * _line_field(ey - y_lo - 0.004, 0.006, r.px)
    k += 0.35 * _line_field(ey - y_up + crease * np.sqrt(w), 0.01, r.px)
    k += (0.14 + 0.35 * a[6] + 0.2 * a[7]) * _line_field(ey - y_lo - 0.055 + 0.02 * a[6], 0.014, r.px)
    r.darken(win, k * inside)
    if a[6] > 0:
        _paint_crows_feet(r, cu + half_w, a[6])


def _paint_crows_feet(r: _Raster, corner_u: float, level: float) -> None:
    """AU6: short wrinkles fanning out from the outer eye corners (both sides in one pass)."""
    win = r.window(-corner_u - 0.17, corner_u + 0.17, EYE_Y - 0.09, EYE_Y + 0.09)
    if win is None:
        return
    ox, oy = np.abs(r.u[win]) - corner_u - 0.03, r.v[win] - EYE_Y
    crow = np.zeros_like(ox)
    for ang in (-0.45, 0.0, 0.42):
        along = ox * math.cos(ang) + oy * math.sin(ang)
        across = oy * math.cos(ang) - ox * math.sin(ang)
        fade = _clip(along / 0.03, 0, 1) * _clip((0.13 - along) / 0.06, 0, 1)
        crow += _line_field(across, 0.006, r.px) * fade
    r.darken(win, 0.3 * level * crow)


def _paint_brows(r: _Raster, idn: Identity, a: dict[int, float]) -> None:
    colour = _col(idn.brow_colour)
    u_in = BROW_IN * idn.eye_spacing - 0.05 * a[4]  # AU4 pulls the brows together
    u_out = BROW_OUT * idn.eye_spacing
    win = r.window(-u_out - 0.08, u_out + 0.08, BROW_Y - 0.3, BROW_Y + 0.18)
    if win is None:
        return
    u, v = r.u[win], r.v[win]
    au = np.abs(u)
    t = (au - u_in) / (u_out - u_in)
    tc = _clip(t, 0.0, 1.0)
    centre = (BROW_Y - 0.07 * idn.brow_arch * np.sin(np.pi * tc**0.8)
              - 0.14 * a[1] * (1 - tc) ** 1.4 - 0.03 * a[1]  # AU1: inner brow up (oblique)
              - 0.13 * a[2] * tc**0.9  # AU2: outer brow up (arched)
              + a[4] * (0.1 * (1 - tc) + 0.025)  # AU4: brows down, most at the inner end
              + 0.03 * a[9] * (1 - tc))  # AU9 pulls the inner brow down a little
    half = 0.028 * idn.brow_thickness * (1.15 - 0.65 * tc) * (1 + 0.15 * a[4])
    d = np.maximum(np.abs(v - centre) - half, np.maximum(-t, t - 1) * (u_out - u_in) * 0.5)
    hairs = 0.85 + 0.15 * _texture(idn.texture_seed + 3, r.size)[win]
    r.blend(win, _clip(0.85 * _cover(d, r.px, 2.0) * hairs, 0, 1), colour)


def _paint_nose(r: _Raster, idn: Identity, a: dict[int, float]) -> None:
    nl, nw = idn.nose_length, NOSE_HALF_W * idn.nose_width * (1 + 0.12 * a[9] + 0.06 * a[10])
    tip = NOSE_TIP_Y * nl
    nostril = NOSTRIL_Y * nl - 0.04 * a[9] - 0.015 * a[10]  # AU9/AU10 lift the nostrils
    win = r.window(-nw - 0.12, nw + 0.12, EYE_Y - 0.1, nostril + 0.1)
    if win is None:
        return
    u, v = r.u[win], r.v[win]
    # The nose stands out of the face: under yaw its tip swings further than the cheeks.
    u = u - 0.16 * r.sin_yaw * _clip((v - EYE_Y) / (tip - EYE_Y), 0.0, 1.0)
    au = np.abs(u)
    flank = au - 0.09 - 0.35 * nw * _clip(v / tip, 0, 1)  # the sides of the nose, widening down
    side = (0.2 + 0.1 * np.sign(u) * r.sin_yaw) * _blob(flank, 0, 0.035, 1)
    side *= _clip((v - EYE_Y) / 0.15, 0, 1) * (v < tip)
    r.darken(win, side)
    r.lighten(win, 0.22 * _blob(u, v - tip + 0.03, 0.06, 0.05))
    r.darken(win, 0.26 * _blob(u, v - tip - 0.05, 0.09, 0.035))  # under the tip
    r.darken(win, 0.24 * _blob(au - 0.8 * nw, v - nostril + 0.015, 0.055, 0.045))  # alae
    ala = np.sqrt(((au - 0.8 * nw) / 0.07) ** 2 + ((v - nostril + 0.02) / 0.06) ** 2) - 1
    r.darken(win, 0.3 * _line_field(ala * 0.06, 0.007, r.px) * (au > 0.75 * nw) * (v < nostril + 0.03))
    nos_w = 0.045 * (1 + 0.3 * a[9])
    nos = np.sqrt(((au - 0.42 * nw) / nos_w) ** 2 + ((v - nostril - 0.005) / 0.018) ** 2) - 1
    r.darken(win, 0.65 * _cover(nos * 0.02, r.px, 1.3))
    # AU9: horizontal wrinkles across the upper nose and between the eyes.
    if a[9] > 0:
        phase = (v - EYE_Y - 0.07) / 0.04
        near = np.abs(phase - np.round(phase)) * 0.04
        across = _blob(u, 0, 0.11, 1) * ((phase > -0.5) & (phase < 2.5))
        r.darken(win, 0.6 * a[9] * across * _line_field(near, 0.007, r.px))
        r.darken(win, 0.2 * a[9] * _blob(au - 0.2, v - EYE_Y - 0.04, 0.06, 0.06))


def _paint_mouth(r: _Raster, idn: Identity, a: dict[int, float], m: _Mouth) -> None:
    win = r.window(m.centre_u - m.half_w - 0.06, m.centre_u + m.half_w + 0.06,
                   m.line_y - 0.2, m.line_y + m.jaw + 0.2)
    if win is None:
        return
    u, v = r.u[win] - m.centre_u, r.v[win]
    s = u / m.half_w
    inside = _cover((np.abs(s) - 1.0) * m.half_w, r.px)
    lip_top, top, bot, lip_bottom = m.edges(s)
    lips = _col(idn.lips)
    gap = _cover(np.maximum(top - v, v - bot), r.px) * inside
    upper = _cover(np.maximum(lip_top - v, v - top), r.px, 1.6) * inside
    lower = _cover(np.maximum(bot - v, v - lip_bottom), r.px, 1.6) * inside
    # Inside the mouth: dark cavity, upper teeth under the upper lip, lower teeth above the lower.
    cavity = np.empty((3,) + u.shape, np.float32)
    cavity[:] = _col((0.16, 0.05, 0.05))
    teeth_shade = _clip(1.0 - 0.8 * s**2, 0, 1)
    teeth = _col((0.93, 0.9, 0.82)) * teeth_shade
    upper_teeth = _cover(v - top - m.upper_teeth, r.px) * (np.abs(s) < 0.85)
    lower_teeth = _cover(bot - m.lower_teeth - v, r.px) * (np.abs(s) < 0.75)
    cavity += upper_teeth * (teeth - cavity)
    cavity += (0.85 * lower_teeth) * (teeth * 0.85 - cavity)
    r.blend(win, gap, cavity)
    r.blend(win, 0.9 * upper, lips * 0.78)
    r.blend(win, 0.9 * lower, lips)
    r.lighten(win, 0.25 * lower * _blob(u, v - (bot + lip_bottom) / 2 + 0.01, 0.5 * m.half_w, 0.03))
    # Where the lips meet (closed mouth) and the shadowed corners.
    line = m.line(s)
    r.darken(win, 0.55 * _line_field(v - line, 0.008, r.px) * inside * (gap < 0.5))
    r.darken(win, 0.3 * _blob(np.abs(u) - m.half_w, v - line, 0.04, 0.035))
    # AU24 presses the lips: the skin bulges above and below them.
    if a[24] > 0:
        r.lighten(win, 0.15 * a[24] * _blob(u, v - lip_top.min() + 0.04, m.half_w * 0.7, 0.03))


def _paint_beard(r: _Raster, idn: Identity, m: _Mouth, moustache_only: bool) -> None:
    hair = _col(idn.hair) * 0.85
    win = r.window(-1.05, 1.05, -0.1, CHIN_Y + m.jaw + 0.05)
    if win is None:
        return
    u, v = r.u[win] - m.centre_u, r.v[win]
    s = _clip(u / (m.half_w + 0.05), -1, 1)
    lip_top, _, _, lip_bottom = m.edges(s)
    # Moustache: from under the nose to the upper lip, thinning and drooping towards the corners.
    reach = np.abs(u) / (m.half_w + 0.06)
    tache = np.maximum(NOSTRIL_Y + 0.05 + 0.12 * reach**2 - v, v - lip_top - 0.015 - 0.03 * reach**2)
    a = _cover(np.maximum(tache, (reach - 1.0) * 0.1), r.px, 2.5)
    if not moustache_only:
        # From the sideburns down to beside the mouth; below the mouth it moves with the chin.
        below = v - np.where(v > m.line_y, m.jaw, 0.0)
        side = _clip((np.abs(u) - 0.4) / 0.55, 0, 1) ** 0.8
        beard = np.maximum(0.85 * (1 - side) - below, r.head_d[win])
        mouth = np.maximum(np.maximum(lip_top - v, v - lip_bottom - 0.03), np.abs(u) - m.half_w)
        a = np.maximum(a, _clip(-np.maximum(beard, -mouth) / 0.08, 0, 1) * _cover(r.head_d[win], r.px))
    density = 0.95 if idn.beard in ("full", "moustache") else 0.4
    texture = 0.75 + 0.25 * _texture(idn.texture_seed + 1, r.size)[win]
    r.blend(win, density * a * _clip(texture, 0, 1), hair * texture)


def _hairline(idn: Identity, u: np.ndarray) -> np.ndarray:
    """Face height where the hair starts, across the face; it falls to the sideburns at the sides."""
    au = np.abs(u)
    side = 14.0 * _clip(au - 0.68, 0.0, None) ** 2
    if idn.hair_style == "bangs":
        return BROW_Y - 0.16 + 0.03 * np.sin(u * 37.0) + 0.25 * _clip(au - 0.6, 0.0, None) + side
    # Receding at the temples, lower in the middle.
    return HAIRLINE_Y + 0.18 * au**2 + 0.1 * _blob(au - 0.5, 0, 0.16, 1) + side


_HAIR_VOLUME = {"short": 0.06, "long": 0.1, "bangs": 0.09, "bun": 0.06, "curly": 0.24}
_HAIR_BOTTOM = {"short": 0.15, "long": 1.85, "bangs": 0.25, "bun": 0.15, "curly": 0.6}


def _paint_hair(r: _Raster, idn: Identity) -> None:
    style = idn.hair_style
    if style == "bald":
        win = r.frame_window(-0.7, 0.3, -r.top, -0.8)
        if win is not None:
            sheen = _blob(r.xh[win] + 0.25, r.yh[win] + r.top * 0.8, 0.3, 0.15)
            r.lighten(win, 0.25 * sheen * (r.alpha[win] > 0.5))
        return
    volume, bottom = _HAIR_VOLUME[style], _HAIR_BOTTOM[style]
    reach = _CRANIUM * r.fw + volume + (0.45 if style == "long" else 0.1)
    win = r.frame_window(-reach, reach, -r.top - volume - (0.75 if style == "bun" else 0.05), bottom)
    if win is None:
        return
    x = r.xh[win] + 0.08 * r.sin_yaw  # the back of the head shows on the side away from the turn
    y, u, v = r.yh[win], r.u[win], r.v[win]
    rx, cy = _CRANIUM * r.fw + volume, -0.05
    ry = r.top + volume + cy
    # The hair mass: an ellipse around the skull, cut off at ``bottom``...
    mass = (np.sqrt((x / rx) ** 2 + ((y - cy) / ry) ** 2) - 1.0) * rx
    if style == "curly":
        mass = mass - 0.05 * np.sin(np.arctan2(y - cy, x) * 16)
    mass = np.maximum(mass, y - bottom)
    if style == "long":
        # ...or falling behind the neck onto the shoulders, beside the neck and the face.
        spread = r.fw + 0.14 + 0.14 * _clip(y, 0, 2)
        curtain = np.maximum(np.abs(x) - spread, y - 1.75 - 0.05 * np.sin(x * 12))
        curtain = np.maximum(curtain, np.where(y > 0.7, 0.5 * r.fw + 0.03 - np.abs(x), -1.0))
        mass = np.minimum(mass, np.maximum(curtain, -0.3 - y))
    if style == "bun":
        mass = np.minimum(mass, np.sqrt(x**2 + (y + r.top + 0.12) ** 2) - 0.32)
    # ...minus the face it frames: below the hairline, and (long hair) in front of the cheeks.
    face = np.maximum(r.head_d[win], _hairline(idn, u) - v)
    if style in ("long", "curly"):
        # Over the sides of the cheeks, less and less towards the jaw.
        face = np.maximum(face, 0.6 * (0.3 - 0.45 * _clip(v - 0.35, 0.0, 1.0) - r.facing[win]))
    cover = _cover(np.maximum(mass, -face), r.px, 1.6)
    # Shading: key light from the upper left, strands along the fall of the hair, a sheen band.
    grain = _texture(idn.texture_seed + 2, r.size)[win]
    lit = _clip(0.55 - 0.35 * x / rx - 0.25 * (y - cy) / ry, 0.1, 1.0)
    freq = 30.0 if style == "curly" else 45.0  # a strand period of a few pixels at 112 px
    strands = np.sin(freq * (x + 0.25 * np.sin(2.5 * y)) + 3 * grain)
    shade = 0.55 + 0.45 * lit + 0.08 * strands
    sheen = 0.3 * _blob(x + 0.3, y + r.top * 0.75, 0.35, 0.14)
    hair = _col(idn.hair)
    r.cover(win, cover, hair * shade + sheen * (0.25 + 0.5 * hair))


def _paint_hat(r: _Raster, idn: Identity) -> None:
    colour = _col(idn.hat_colour)
    rx, ry = _CRANIUM * r.fw + 0.1, r.top + 0.1
    win = r.frame_window(-rx - 0.05, rx + 0.05, -ry - 0.05, r.fwd_v((HAIRLINE_Y + 0.45) * r.fh))
    if win is None:
        return
    x, y, u, v, facing = r.xh[win], r.yh[win], r.u[win], r.v[win], r.facing[win]
    shell = (np.sqrt((x / rx) ** 2 + ((y + 0.05) / (ry + 0.05)) ** 2) - 1.0) * rx
    brim_v = HAIRLINE_Y + 0.08 + 0.12 * u**2
    edge = np.where(facing > 0.0, v - brim_v, y - r.fwd_v((HAIRLINE_Y + 0.2) * r.fh))
    shade = 0.65 + 0.35 * _clip(0.6 - 0.4 * x / rx - 0.3 * y / ry, 0, 1)
    if idn.hat == "beanie":
        shade = shade * (0.9 + 0.1 * np.sin(x * 70)) * (1 - 0.15 * _blob(0, v - brim_v + 0.1, 1, 0.06))
    r.cover(win, _cover(np.maximum(shell, edge), r.px, 1.3), colour * shade)
    if idn.hat == "cap":
        peak = np.sqrt((u / 0.8) ** 2 + ((v - HAIRLINE_Y - 0.12) / 0.16) ** 2) - 1.0
        r.cover(win, _cover(peak * 0.16, r.px) * (facing > 0), colour * 0.75)
        r.darken(win, 0.35 * _blob(u, v - HAIRLINE_Y - 0.35, 0.8, 0.18) * (peak > 0))


def _paint_glasses(r: _Raster, idn: Identity) -> None:
    frame = _col(idn.glasses_colour)
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
        outside = np.sqrt(_clip(qx, 0.0, None) ** 2 + _clip(qy, 0.0, None) ** 2)
        rim = outside + _clip(np.maximum(qx, qy), None, 0.0) - 0.06
    r.lighten(win, 0.08 * _cover(rim, r.px) * _clip(0.5 - dv / hh, 0, 1))
    lines = _line_field(rim, 0.014, r.px)
    bridge = _line_field(dv + 0.05, 0.012, r.px) * (np.abs(u) < ecu - hw + 0.02)
    temple = _line_field(dv + 0.05, 0.012, r.px) * (np.abs(u) > ecu + hw - 0.02) * (r.head_d[win] < 0)
    r.blend(win, 0.95 * _clip(lines + bridge + temple, 0, 1), frame)


# --- the face -----------------------------------------------------------------------------------

FACE_BOX_TOP = BROW_Y - 0.25  # a detector's box starts this far above the brows (face units)


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

    Returns:
        (x, y, w, h), floats, in the pixel coordinates of the rendered square.
    """
    a = au_levels(aus or {})
    jaw = _jaw_drop(a)
    p = _Projection(identity, pose, size, framing, jaw)
    chin = CHIN_Y * identity.chin_length + jaw / identity.face_height
    # The outline of the box in face coordinates: its top and bottom edges and its sides.
    us, vs = np.linspace(-1.0, 1.0, 9), np.linspace(FACE_BOX_TOP, chin, 9)
    xs, ys = p.to_head_frame(us, (FACE_BOX_TOP, chin))
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
            absent. Only ``cer.taxonomy.RENDERED_AUS`` are accepted.
        pose: head pose in degrees.
        size: output side in pixels.
        framing: ``"head"`` (head, hair and shoulders) or ``"face"`` (a tight aligned crop).

    Returns:
        RGBA uint8 array [size, size, 4]: head, hair and accessories; alpha 0 outside.

    Raises:
        ValueError: for unknown AU numbers (named in the message) or intensities outside [0, 1].
    """
    a = au_levels(aus)
    if framing not in FRAMINGS:
        raise ValueError(f"framing {framing!r}: use one of {', '.join(FRAMINGS)}")
    if size < 8:
        raise ValueError(f"size {size} is too small to draw a face (use 8 pixels or more)")
    r = _Raster(identity, pose, size, framing, _jaw_drop(a))
    mouth = _mouth(identity, a, r.sin_yaw)
    _paint_neck_and_clothes(r, identity)
    _paint_ears(r, identity, front=False)
    _paint_skin(r, identity)
    _paint_ears(r, identity, front=True)
    _paint_shading(r, identity, a, mouth)
    _paint_lines(r, identity, a, mouth)
    _paint_chin(r, identity, a, mouth)
    _paint_eyes(r, identity, a)
    _paint_brows(r, identity, a)
    _paint_nose(r, identity, a)
    if identity.beard in ("full", "stubble"):
        _paint_beard(r, identity, mouth, moustache_only=False)
    _paint_mouth(r, identity, a, mouth)
    if identity.beard == "moustache":
        _paint_beard(r, identity, mouth, moustache_only=True)
    if identity.hat == "none" or identity.hair_style == "long":
        _paint_hair(r, identity)
    if identity.hat != "none":
        _paint_hat(r, identity)
    if identity.glasses != "none":
        _paint_glasses(r, identity)
    out = np.empty((size, size, 4), np.uint8)
    out[..., :3] = np.moveaxis(np.clip(r.rgb * 255.0 + 0.5, 0, 255), 0, -1)
    out[..., 3] = np.clip(r.alpha * 255.0 + 0.5, 0, 255)
    return out
