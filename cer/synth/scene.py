"""The photograph around a synthetic face: background, lighting, occluders, colour cast, blur, noise.

A :class:`Scene` is pure data; :func:`sample_scene` draws one (``difficulty`` 0 = a clean studio
shot, 1 = in-the-wild), :func:`composite` pastes a face rendered by ``cer.synth.face`` onto a
background and degrades the result as a camera would, and :func:`render_image` does both for the
tight aligned crops that RAF-DB and Aff-Wild2 publish. Everything is deterministic: the random
parts (clutter, noise) come from seeds stored in the scene.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

from cer.synth.face import Pose, render_face
from cer.synth.identity import Identity

RGB = tuple[float, float, float]

BACKGROUNDS: tuple[str, ...] = ("plain", "gradient", "wall", "clutter", "outdoor")
OCCLUDERS: tuple[str, ...] = ("none", "hand", "bar", "scarf", "blob")


@dataclass(frozen=True)
class Scene:
    """Everything about a photo that is neither the person nor the expression.

    Positions of the occluder are fractions of the face square passed to :func:`composite`
    (0, 0 = its top-left corner); the mouth of a rendered face sits near y = 0.73, the eyes near
    y = 0.45.

    Attributes:
        background: one of ``BACKGROUNDS``.
        colours: two background colours (RGB, 0..1).
        clutter_seed: seed of the background's objects (``clutter``/``outdoor``/``wall``).
        light_angle: direction the key light comes from, degrees in the image (0 = from the right,
            90 = from above).
        light_strength: 0 = flat light .. 1 = strong side light (shading across the face).
        exposure: overall brightness factor of the face.
        blur_sigma: Gaussian blur in pixels of a 112-pixel face (scaled with the face size).
        noise_std: sensor noise, standard deviation in 0..255 grey levels.
        noise_seed: seed of the noise pattern.
        jpeg_quality: quality the writer should save this image with.
        occluder: one of ``OCCLUDERS``.
        occluder_xy: occluder centre, fractions of the face square.
        occluder_size: occluder size, fraction of the face square's side.
        occluder_angle: occluder rotation in degrees.
        occluder_colour: RGB of the occluder (skin for a hand, fabric for a scarf).
        colour_cast: per-channel gain of the whole image (white balance).
    """

    background: str = "plain"
    colours: tuple[RGB, RGB] = ((0.62, 0.62, 0.62), (0.45, 0.45, 0.48))
    clutter_seed: int = 0
    light_angle: float = 90.0
    light_strength: float = 0.0
    exposure: float = 1.0
    blur_sigma: float = 0.0
    noise_std: float = 0.0
    noise_seed: int = 0
    jpeg_quality: int = 95
    occluder: str = "none"
    occluder_xy: tuple[float, float] = (0.5, 0.75)
    occluder_size: float = 0.3
    occluder_angle: float = 0.0
    occluder_colour: RGB = (0.8, 0.6, 0.5)
    colour_cast: RGB = (1.0, 1.0, 1.0)

    def __post_init__(self) -> None:
        if self.background not in BACKGROUNDS:
            raise ValueError(f"Scene.background={self.background!r}: use one of {BACKGROUNDS}")
        if self.occluder not in OCCLUDERS:
            raise ValueError(f"Scene.occluder={self.occluder!r}: use one of {OCCLUDERS}")
        if not 1 <= self.jpeg_quality <= 100:
            raise ValueError(f"Scene.jpeg_quality={self.jpeg_quality}: use 1..100")


def _rgb(c) -> RGB:
    r, g, b = (float(x) for x in np.clip(c, 0.0, 1.0))
    return (r, g, b)


def sample_scene(rng: np.random.Generator, difficulty: float = 1.0) -> Scene:
    """Draw a scene; ``difficulty`` 0 = clean studio shot, 1 = in-the-wild photo.

    Difficulty scales the side light, blur, noise, JPEG loss, colour cast and how often an
    occluder appears (up to about one face in four).

    Args:
        rng: the only source of randomness.
        difficulty: 0..1.
    """
    d = float(np.clip(difficulty, 0.0, 1.0))
    kinds_p = np.array([0.4, 0.6, 0.0, 0.0, 0.0]) * (1 - d) + np.array([0.1, 0.15, 0.25, 0.3, 0.2]) * d
    background = BACKGROUNDS[int(rng.choice(len(BACKGROUNDS), p=kinds_p / kinds_p.sum()))]
    grey = rng.uniform(0.25, 0.85)
    tint = rng.normal(0.0, 0.12, (2, 3))
    colours = (_rgb(grey * (1 + tint[0])), _rgb(rng.uniform(0.15, 0.9) * (1 + tint[1])))
    occluder = "none"
    if rng.random() < 0.25 * d:
        occluder = OCCLUDERS[int(rng.integers(1, len(OCCLUDERS)))]
    kind_xy = {"hand": (rng.uniform(0.3, 0.7), rng.uniform(0.55, 0.85)),
               "scarf": (0.5, rng.uniform(0.72, 0.85)),
               "bar": (0.5, rng.uniform(0.3, 0.8)),
               "blob": (rng.uniform(0.25, 0.75), rng.uniform(0.3, 0.85))}
    ox, oy = kind_xy.get(occluder, (0.5, 0.75))
    if occluder == "hand":
        occluder_colour = _rgb(np.array([0.85, 0.65, 0.52]) * rng.uniform(0.35, 1.1))
    else:
        occluder_colour = _rgb(rng.uniform(0.05, 0.9, 3))
    return Scene(
        background=background,
        colours=colours,
        clutter_seed=int(rng.integers(0, 2**31 - 1)),
        light_angle=float(rng.uniform(0.0, 360.0)),
        light_strength=float(rng.uniform(0.0, 0.8) * d),
        exposure=float(np.clip(1.0 + rng.normal(0.0, 0.15 * d), 0.6, 1.4)),
        blur_sigma=float(rng.uniform(0.3, 1.6) * d) if rng.random() < 0.5 * d else 0.0,
        noise_std=float(rng.uniform(0.0, 8.0) * d),
        noise_seed=int(rng.integers(0, 2**31 - 1)),
        jpeg_quality=int(round(95 - rng.uniform(0.0, 40.0) * d)),
        occluder=occluder,
        occluder_xy=(float(ox), float(oy)),
        occluder_size=float(rng.uniform(0.2, 0.4)),
        occluder_angle=float(rng.uniform(-35.0, 35.0)),
        occluder_colour=occluder_colour,
        colour_cast=_rgb(1.0 + rng.normal(0.0, 0.06 * d, 3)),
    )


def render_background(scene: Scene, height: int, width: int) -> np.ndarray:
    """The scene's background as RGB uint8 [height, width, 3] (deterministic)."""
    c0, c1 = (np.asarray(c, np.float32) for c in scene.colours)
    ys = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None]  # [h, 1]
    rng = np.random.default_rng(scene.clutter_seed)
    if scene.background == "gradient":
        ang = rng.uniform(0, 2 * math.pi)
        xs = np.linspace(0.0, 1.0, width, dtype=np.float32)[None, :]
        t = (0.5 + (xs - 0.5) * math.cos(ang) + (ys - 0.5) * math.sin(ang)).clip(0.0, 1.0)
        channels = [(255 * (c0[i] + t * (c1[i] - c0[i]))).clip(0, 255).astype(np.uint8) for i in range(3)]
        return cv2.merge(channels)
    # The other kinds start from a profile that changes only down the image.
    if scene.background == "plain":
        column = c0 * (1.05 - 0.1 * ys)
    elif scene.background == "outdoor":
        horizon = rng.uniform(0.45, 0.8)
        sky = np.array([0.55, 0.7, 0.9], np.float32) * rng.uniform(0.8, 1.1) * (0.8 + 0.3 * ys)
        ground = c1 * np.array([0.8, 1.0, 0.7], np.float32) * (0.8 + 0.3 * (1 - ys))
        column = np.where(ys < horizon, sky, ground)
    else:  # wall / clutter: an indoor room, wall above, floor or furniture below
        split = rng.uniform(0.55, 0.9)
        column = np.where(ys < split, c0 * (1.0 - 0.1 * ys), c1 * 0.8)
    column = (255 * column + 0.5).clip(0, 255).astype(np.uint8)[:, None, :]  # [h, 1, 3]
    img = cv2.resize(column, (width, height), interpolation=cv2.INTER_NEAREST)
    if scene.background == "plain":
        return img
    if scene.background == "outdoor":
        _scatter_shapes(img, rng, 12, horizon, (0.1, 0.35, 0.1))
    else:
        _scatter_shapes(img, rng, 3 if scene.background == "wall" else 14, 1.0, None)
    return cv2.GaussianBlur(img, (0, 0), max(0.012 * max(height, width), 0.5))  # out of focus


def _scatter_shapes(img: np.ndarray, rng: np.random.Generator, n: int, max_y: float,
                    hue: tuple[float, float, float] | None) -> None:
    """Draw ``n`` random rectangles and ellipses (furniture, frames, foliage) into ``img``."""
    h, w = img.shape[:2]
    r = rng.random((n, 10))  # one draw for everything: per-call overhead dominates here
    if hue is None:  # indoor objects: mostly muted colours, like real rooms
        grey = 0.1 + 0.8 * r[:, :1]
        colours = grey + 0.5 * r[:, 1:2] * (0.05 + 0.9 * r[:, 2:5] - grey)
    else:
        colours = np.asarray(hue)[None, :] * (0.5 + 1.1 * r[:, 1:2])
    colours = (np.clip(colours, 0, 1) * 255).astype(int)
    for k in range(n):
        cx, cy = r[k, 5] * w, r[k, 6] * max_y * h
        sx, sy = (0.05 + 0.3 * r[k, 7]) * w, (0.05 + 0.3 * r[k, 8]) * h
        colour = tuple(int(c) for c in colours[k])
        if r[k, 9] < 0.5:
            cv2.rectangle(img, (int(cx - sx), int(cy - sy)), (int(cx + sx), int(cy + sy)), colour, -1)
        else:
            cv2.ellipse(img, (int(cx), int(cy)), (int(sx), int(sy)), float(r[k, 9] * 360), 0, 360, colour, -1)


def _occluder_mask(scene: Scene, side: int) -> np.ndarray:
    """Coverage [side, side] of the occluder over a face square of ``side`` pixels."""
    mask = np.zeros((side, side), np.float32)
    cx, cy = scene.occluder_xy[0] * side, scene.occluder_xy[1] * side
    r = scene.occluder_size * side
    ang = scene.occluder_angle
    s = 8  # cv2 fixed-point shift: sub-pixel positions, anti-aliased edges
    pt = lambda x, y: (int(round(x * (1 << s))), int(round(y * (1 << s))))  # noqa: E731
    if scene.occluder == "hand":
        # A palm and four fingers pointing away from its centre.
        cv2.ellipse(mask, pt(cx, cy), pt(0.5 * r, 0.42 * r), ang, 0, 360, 1.0, -1, cv2.LINE_AA, s)
        for k in range(4):
            a = math.radians(ang - 90 + (k - 1.5) * 16)
            x1, y1 = cx + 0.25 * r * math.cos(a), cy + 0.25 * r * math.sin(a)
            x2, y2 = cx + 0.95 * r * math.cos(a), cy + 0.95 * r * math.sin(a)
            cv2.line(mask, pt(x1, y1), pt(x2, y2), 1.0, max(int(0.17 * r), 1), cv2.LINE_AA, s)
    elif scene.occluder == "bar":
        half = side * 1.5
        dx, dy = half * math.cos(math.radians(ang)), half * math.sin(math.radians(ang))
        cv2.line(mask, pt(cx - dx, cy - dy), pt(cx + dx, cy + dy), 1.0, max(int(0.4 * r), 1), cv2.LINE_AA, s)
    elif scene.occluder == "scarf":
        ys = np.arange(side, dtype=np.float32)[:, None]
        xs = np.arange(side, dtype=np.float32)[None, :]
        edge = cy + 0.04 * side * np.sin(xs / side * 9.0 + ang)
        mask[:] = np.clip(ys - edge + 0.5, 0, 1)
    elif scene.occluder == "blob":
        cv2.ellipse(mask, pt(cx, cy), pt(0.5 * r, 0.5 * r), 0, 0, 360, 1.0, -1, cv2.LINE_AA, s)
    return mask


@lru_cache(maxsize=8)
def _noise_bank(height: int, width: int) -> np.ndarray:
    """Standard normal noise a little larger than [height, width, 3], shared (read-only)."""
    bank = np.random.default_rng(0).standard_normal((height + 61, width + 67, 3), np.float32)
    bank.setflags(write=False)
    return bank


def _noise(seed: int, height: int, width: int) -> np.ndarray:
    """A seed-chosen [height, width, 3] window of the noise bank: cheap per-image sensor noise."""
    oy, ox = seed % 61, (seed // 61) % 67
    return _noise_bank(height, width)[oy:oy + height, ox:ox + width]


def _light_gain(alpha: np.ndarray, scene: Scene) -> np.ndarray:
    """Per-pixel brightness of the face: a directional key light on a rounded shape."""
    side = alpha.shape[0]
    c = (np.arange(side, dtype=np.float32) + 0.5) / side * 2 - 1
    lx, ly = math.cos(math.radians(scene.light_angle)), -math.sin(math.radians(scene.light_angle))
    # The face is roughly a sphere: the lit side brightens, the far side falls into shadow.
    facing = c[None, :] * lx + c[:, None] * ly
    return scene.exposure * (1.0 + scene.light_strength * 0.55 * np.tanh(1.6 * facing))


def composite(face_rgba: np.ndarray, scene: Scene, background: np.ndarray | None = None,
              at: tuple[int, int] = (0, 0)) -> np.ndarray:
    """Paste a face onto a background and photograph it.

    Applies the scene's lighting (on the face), occluder (over the face square), colour cast, blur
    and noise (over the whole image).

    Args:
        face_rgba: RGBA uint8 [s, s, 4] from ``render_face``.
        scene: the scene.
        background: RGB uint8 [H, W, 3]; rendered from the scene at the face's size if None.
        at: (x, y) of the face square's top-left corner in the background; it may hang over the
            edges (the outside part is dropped).

    Returns:
        RGB uint8 of the background's size.
    """
    if face_rgba.ndim != 3 or face_rgba.shape[2] != 4 or face_rgba.shape[0] != face_rgba.shape[1]:
        raise ValueError(f"face_rgba must be a square RGBA image [s, s, 4], got shape {face_rgba.shape}")
    side = face_rgba.shape[0]
    face_rgba = np.ascontiguousarray(face_rgba)  # as cv2 wants it (no copy when it already is)
    if background is None:
        background = render_background(scene, side, side)
    out = background.astype(np.float32)
    h, w = out.shape[:2]
    alpha = cv2.extractChannel(face_rgba, 3).astype(np.float32) * np.float32(1 / 255)
    # Premultiplied colour (0..255) and coverage of everything in front of the background.
    # (Contiguous three-channel copies: numpy converts strided channels and broadcasts [h, w, 1]
    # slowly.)
    cover = cv2.merge([alpha, alpha, alpha])
    layer = cv2.cvtColor(face_rgba, cv2.COLOR_RGBA2RGB).astype(np.float32)
    layer *= cover
    if scene.light_strength > 0 or scene.exposure != 1.0:
        gain = _light_gain(alpha, scene)
        layer *= cv2.merge([gain, gain, gain])
    if scene.occluder != "none":
        occ = _occluder_mask(scene, side)
        occ3 = cv2.merge([occ, occ, occ])
        # Lit from above: the occluder darkens towards its bottom.
        shade = 1.05 - 0.3 * np.linspace(0, 1, side, dtype=np.float32)[:, None, None]
        tone = cv2.resize(np.asarray(scene.occluder_colour, np.float32) * 255 * shade, (side, side),
                          interpolation=cv2.INTER_NEAREST)
        layer = layer * (1 - occ3) + tone * occ3
        cover = cover * (1 - occ3) + occ3
    x, y = int(at[0]), int(at[1])
    x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + side, w), min(y + side, h)
    if x0 < x1 and y0 < y1:
        src = np.s_[y0 - y:y1 - y, x0 - x:x1 - x]
        out[y0:y1, x0:x1] = layer[src] + out[y0:y1, x0:x1] * (1 - cover[src])
    if scene.colour_cast != (1.0, 1.0, 1.0):
        out = cv2.multiply(out, (*scene.colour_cast, 0.0))
    if scene.blur_sigma > 0:
        out = cv2.GaussianBlur(out, (0, 0), scene.blur_sigma * side / 112.0)
    if scene.noise_std > 0:
        out += np.float32(scene.noise_std) * _noise(scene.noise_seed, h, w)
    out += 0.5
    return out.clip(0, 255, out=out).astype(np.uint8)


def render_image(identity: Identity, aus: Mapping[int, float], pose: Pose, scene: Scene,
                 size: int = 112) -> np.ndarray:
    """A still image: the face filling most of a ``size`` x ``size`` crop, as RAF-DB's 'aligned'
    (100x100) and Aff-Wild2's 'cropped_aligned' (112x112) images look. RGB uint8.

    Args:
        identity: who.
        aus: AU number -> intensity in [0, 1].
        pose: head pose (degrees).
        scene: background, light and degradations.
        size: output side in pixels.
    """
    return composite(render_face(identity, aus, pose, size, framing="face"), scene)
