"""Where a synthetic face lands on the pixels: the head model, the pose and the pixel grid.

Internal to ``cer.synth.face``. Three coordinate systems: pixels; the head frame ``(x, y)`` (the
canvas with the roll undone, face units); face coordinates ``(u, v)`` (yaw and pitch undone on a
cylinder-like head, normalised by the identity's face width and height), in which every part of
the face is drawn. :class:`Projection` maps points between them (cheap, for windows and boxes);
:class:`Raster` adds the coordinates of every pixel and the RGBA image being painted.

Face units: 1 = half the head's width at the cheekbones; ``v`` grows downwards; ``u`` grows to the
viewer's right.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from cer.synth.face_fields import SHADOW_TINT, clip
from cer.synth.identity import Identity

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
# Those data sets align their crops on five landmarks (eye centres, nose tip, mouth corners), so the
# inner face stays where it is in the crop whatever the pose. The "face" framing keeps the mean of
# these landmarks (face coordinates u, v) where a frontal face has it: without that, a 20 degree yaw
# or a 12 degree pitch moved the features by an eighth of the crop, and a compact ViT trained on
# 3300 such faces stayed near chance for 3 epochs where frontal faces were learnt in 1.
ALIGN_LANDMARKS = ((-EYE_U, EYE_Y), (EYE_U, EYE_Y), (0.0, NOSE_TIP_Y),
                   (-MOUTH_HALF_W, MOUTH_Y), (MOUTH_HALF_W, MOUTH_Y))
CRANIUM = 1.05  # the skull is a little wider than the cheekbones
HALF_PI = math.pi / 2
PITCH_RADIUS = 1.6  # radius of the vertical arc the face turns on under pitch


@dataclass(frozen=True)
class Pose:
    """Head pose in degrees: yaw + = the face turns to its left (the viewer's right), pitch + =
    chin up (features move up), roll + = the head tilts counter-clockwise in the image."""

    yaw: float = 0.0
    pitch: float = 0.0
    roll: float = 0.0


class Projection:
    """How face coordinates land on the pixels of one render: framing, pose and head outline.

    Args:
        idn: whose head (its width, height, jaw and chin).
        pose: head pose in degrees.
        size: side of the square image in pixels.
        framing: a key of ``FRAMINGS``.
        jaw: how far the jaw has dropped (face units, see ``face_mouth.jaw_drop``).
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
        self.chin_v = CHIN_Y * idn.chin_length + jaw  # face height of the chin, jaw dropped
        # Head silhouette: ellipse above the eye line, superellipse (the jaw) below it.
        self.top = -self.fwd_v(HEAD_TOP_Y * self.fh)
        self.bottom = self.fwd_v(self.chin_v * self.fh)
        # Screen offset of the crop: the posed landmarks' mean minus the frontal one, (0, mean v * fh).
        self.centre_x = 0.0
        if framing == "face":
            points = [self.to_head_frame((u,), (v,)) for u, v in ALIGN_LANDMARKS]
            x = sum(p[0][0] for p in points) / len(points)
            y = sum(p[1][0] for p in points) / len(points)
            frontal_y = sum(v for _, v in ALIGN_LANDMARKS) / len(ALIGN_LANDMARKS) * self.fh
            self.centre_x = x * self.cos_roll + y * self.sin_roll
            self.centre += -x * self.sin_roll + y * self.cos_roll - frontal_y

    # geometry of the head frame
    def fwd_v(self, v: float) -> float:
        """Head-frame height of the (unnormalised) face height ``v`` under the pitch."""
        lat = math.asin(max(-1.0, min(1.0, v / PITCH_RADIUS)))
        return PITCH_RADIUS * math.sin(lat + self.pitch)

    def chin_swing(self, y):
        """Sideways shift of the head frame at height ``y`` (arrays or floats) under yaw."""
        # The jaw sits in front of the neck's axis: under yaw it swings further than the skull.
        return 0.12 * self.sin_yaw * clip(y, 0.0, 1.5)

    def _cranium(self, s):
        """Widening of the skull above the eye line (s = y / top in [-1, 0]): 1 at the eye line,
        so the outline has no step there, up to ``CRANIUM`` a third of the way up."""
        return 1.0 + (CRANIUM - 1.0) * clip(-3.0 * s, 0.0, 1.0)

    def cyl_radius(self, y: np.ndarray) -> np.ndarray:
        """Radius of the cylinder-like head at heights ``y``: its half width, but never so small
        that the narrow chin would fold the face coordinates around it."""
        # Each factor is 1 on the other side of the eye line: their product needs no branch.
        s, t, p = clip(y / self.top, -1.0, 0.0), clip(y / self.bottom, 0.0, 1.0), self.jaw_p
        half_width = self.fw * self._cranium(s) * np.sqrt(1.0 - s * s) * (1.0 - t**p) ** (1.0 / p)
        return clip(half_width, 0.62 * self.fw, None)

    def radius_at(self, y: float) -> float:
        """:meth:`cyl_radius` at one height, in plain floats: windows ask for dozens of these."""
        s, t, p = min(max(y / self.top, -1.0), 0.0), min(max(y / self.bottom, 0.0), 1.0), self.jaw_p
        half_width = self.fw * self._cranium(s) * math.sqrt(1.0 - s * s) * (1.0 - t**p) ** (1.0 / p)
        return max(half_width, 0.62 * self.fw)

    def _head_distance(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Approximate signed distance to the head outline, in face units."""
        ax = np.abs(x) * (1.0 / self.fw)
        s, t, p = clip(y / self.top, None, 0.0), clip(y / self.bottom, 0.0, None), self.jaw_p
        cranium = self._cranium(clip(s, -1.0, 0.0))
        upper = np.sqrt((ax / cranium) ** 2 + s * s)  # ellipse above the eye line
        lower = (ax**p + t**p) ** (1.0 / p)  # superellipse (the jaw) below it
        # Both equal ax on the other side of the eye line, so no branch is needed.
        return (upper + lower - ax - 1.0) * self.fw

    # windows: the pixels a part can touch
    def to_head_frame(self, us, vs) -> tuple[list[float], list[float]]:
        """Head-frame points of every (u, v) pair of the two sequences (their grid)."""
        xs, ys = [], []
        fw, yaw = self.fw, self.yaw
        for v in vs:
            y = self.fwd_v(v * self.fh)
            radius, swing = self.radius_at(y), self.chin_swing(y)
            for u in us:
                ang = math.asin(max(-1.0, min(1.0, u * fw / radius))) + yaw
                xs.append(radius * math.sin(max(-HALF_PI, min(HALF_PI, ang))) + swing)
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

    def pixel_coords(
        self, xs: list[float], ys: list[float], roll: bool = True
    ) -> tuple[list[float], list[float]]:
        """Continuous pixel (column, row) of head-frame points (screen points if ``roll=False``)."""
        cr, sr = (self.cos_roll, self.sin_roll) if roll else (1.0, 0.0)
        cols = [(x * cr + y * sr - self.centre_x + self.half) / self.px - 0.5 for x, y in zip(xs, ys)]
        rows = [(-x * sr + y * cr - self.centre + self.half) / self.px - 0.5 for x, y in zip(xs, ys)]
        return cols, rows

    def _pixels(self, xs: list[float], ys: list[float], roll: bool = True) -> tuple[slice, slice] | None:
        cols, rows = self.pixel_coords(xs, ys, roll)
        r0, r1 = max(int(min(rows)) - 2, 0), min(int(max(rows)) + 3, self.size)
        c0, c1 = max(int(min(cols)) - 2, 0), min(int(max(cols)) + 3, self.size)
        if r0 >= r1 or c0 >= c1:
            return None
        return slice(r0, r1), slice(c0, c1)


class Raster(Projection):
    """The pixel grid of one render: the coordinates of each pixel and the RGBA being painted.

    Takes the arguments of :class:`Projection`.
    """

    def __init__(self, idn: Identity, pose: Pose, size: int, framing: str, jaw: float) -> None:
        super().__init__(idn, pose, size, framing, jaw)
        half, centre = self.half, self.centre
        c = (np.arange(size, dtype=np.float32) + 0.5) * self.px - half
        gx, gy = c[None, :] + self.centre_x, c[:, None] + centre
        self.gx, self.gy = gx, gy  # screen coordinates (face units), [1, S] and [S, 1]
        self.xh = gx * self.cos_roll - gy * self.sin_roll  # head frame: roll undone
        self.yh = gx * self.sin_roll + gy * self.cos_roll
        # Face coordinates and the head's distance field are smooth: compute them on a half-size
        # grid placed where cv2's bilinear resize samples, and resize (a quarter of the work).
        n = (size + 1) // 2
        cc = ((np.arange(n, dtype=np.float32) + 0.5) * (size / n)) * self.px - half
        hx, hy = cc[None, :] + self.centre_x, cc[:, None] + centre
        xh, yh = hx * self.cos_roll - hy * self.sin_roll, hx * self.sin_roll + hy * self.cos_roll
        xc = xh - self.chin_swing(yh)
        radius = self.cyl_radius(yh)
        self._theta = np.arcsin(clip(xc / radius, -1.0, 1.0)) - self.yaw  # angle around the head
        self.u = self._full(radius * np.sin(self._theta) * (1.0 / self.fw))
        lat = np.arcsin(clip(yh * (1.0 / PITCH_RADIUS), -1.0, 1.0))
        self.v = self._full(PITCH_RADIUS / self.fh * np.sin(lat - self.pitch))
        self._facing: np.ndarray | None = None
        self.head_d = self._full(self._head_distance(xc, yh))  # < 0 inside the head
        swing = 0.18 * abs(self.sin_yaw)
        self.head_win = self.frame_window(-CRANIUM * self.fw - swing, CRANIUM * self.fw + swing,
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
        w = a / clip(out, 1e-6, None)
        rgb = self.rgb[:, win[0], win[1]]
        rgb += w * (colour - rgb)
        self.alpha[win] = out

    def darken(self, win, k: np.ndarray) -> None:
        """Shade by ``k`` (0 = untouched, at most 0.95), warmer in the shadows."""
        self.rgb[:, win[0], win[1]] *= 1.0 - clip(k, 0.0, 0.95) * SHADOW_TINT

    def lighten(self, win, k: np.ndarray) -> None:
        """Light up by ``k``."""
        rgb = self.rgb[:, win[0], win[1]]
        # Part diffuse (scales the colour), part specular (adds light whatever the skin tone).
        rgb += k * (0.35 * rgb + 0.3)

    def rgba(self) -> np.ndarray:
        """The painted image as interleaved RGBA uint8 [S, S, 4], rounded to the nearest level."""
        planes = np.empty((4, self.size, self.size), np.float32)
        np.multiply(self.rgb, 255.0, out=planes[:3])
        np.multiply(self.alpha, 255.0, out=planes[3])
        planes += 0.5
        # Truncating after +0.5 rounds halves up (cv2's own conversion would round them to even).
        planes = planes.clip(0, 255, out=planes).astype(np.uint8)
        return cv2.merge(list(planes))


def aligned_template() -> tuple[tuple[float, float], ...]:
    """Where the "face" framing puts the five alignment landmarks of a frontal average face, as
    ``(column, row)`` fractions of the crop side (the template ``cer.faces.align`` aligns
    detected faces on, so that they are framed as the built-in training faces are)."""
    from cer.synth.identity import Identity

    size = 1000
    proj = Projection(Identity(), Pose(), size, "face", jaw=0.0)
    points = [proj.to_head_frame((u,), (v,)) for u, v in ALIGN_LANDMARKS]
    cols, rows = proj.pixel_coords([p[0][0] for p in points], [p[1][0] for p in points])
    return tuple(((c + 0.5) / size, (r + 0.5) / size) for c, r in zip(cols, rows))
