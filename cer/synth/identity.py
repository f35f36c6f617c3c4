"""Who a synthetic face belongs to: every parameter that makes one person look like themselves.

An :class:`Identity` is pure data (hashable, frozen); :func:`sample_identity` draws one from a
random generator. The renderer (``cer.synth.face``) reads it and never draws anything itself, so
the same identity renders the same person under every expression, pose and scene.

Face geometry is in face units: 1 = half the head's width at the cheekbones.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

RGB = tuple[float, float, float]

HAIR_STYLES: tuple[str, ...] = ("bald", "short", "long", "bangs", "bun", "curly")
BEARDS: tuple[str, ...] = ("none", "stubble", "moustache", "full")
HATS: tuple[str, ...] = ("none", "beanie", "cap")
GLASSES: tuple[str, ...] = ("none", "round", "square")

# Skin colour from very light to very dark (RGB in 0..1, roughly the Fitzpatrick I-VI range as a
# camera exposing for the face records it); a tone in [0, 1] interpolates along it.
_SKIN_PALETTE = np.array(
    [
        (0.98, 0.84, 0.75),
        (0.94, 0.76, 0.64),
        (0.86, 0.65, 0.51),
        (0.74, 0.53, 0.39),
        (0.60, 0.41, 0.28),
        (0.47, 0.31, 0.21),
        (0.37, 0.24, 0.17),
    ],
    dtype=np.float64,
)
_HAIR_COLOURS: dict[str, RGB] = {
    "black": (0.06, 0.05, 0.05),
    "dark brown": (0.17, 0.11, 0.07),
    "brown": (0.33, 0.21, 0.12),
    "light brown": (0.50, 0.36, 0.22),
    "blonde": (0.78, 0.63, 0.40),
    "red": (0.55, 0.24, 0.11),
    "grey": (0.58, 0.57, 0.55),
    "white": (0.86, 0.85, 0.82),
}
_HAIR_WEIGHTS = (0.30, 0.24, 0.16, 0.08, 0.08, 0.04, 0.06, 0.04)
_IRIS_COLOURS: dict[str, RGB] = {
    "dark brown": (0.16, 0.09, 0.05),
    "brown": (0.33, 0.19, 0.09),
    "hazel": (0.45, 0.36, 0.18),
    "green": (0.30, 0.42, 0.24),
    "blue": (0.30, 0.45, 0.65),
    "grey": (0.45, 0.50, 0.53),
}
_CLOTHES_HUES = np.array(
    [(0.12, 0.16, 0.30), (0.55, 0.10, 0.12), (0.20, 0.35, 0.22), (0.85, 0.85, 0.82),
     (0.15, 0.15, 0.16), (0.45, 0.45, 0.48), (0.70, 0.55, 0.30), (0.30, 0.45, 0.70)]
)


@dataclass(frozen=True)
class Identity:
    """One synthetic person. Colours are RGB in 0..1; lengths are in face units.

    Attributes:
        face_width: horizontal scale of the head (1 = average).
        face_height: vertical scale of the head.
        jaw_squareness: superellipse exponent of the lower face (2 = oval, 3.5 = square jaw).
        chin_length: how far the chin reaches below the mouth (1 = average).
        skin_tone: 0 = very light .. 1 = very dark (``skin`` is the colour it gave).
        skin: skin colour.
        eye_size, eye_spacing: scale of the eye opening and of the distance between the eyes.
        eye_tilt: outer corner height (+ = up), in face units.
        iris: iris colour.
        brow_thickness, brow_arch: brow half-thickness scale and arch height scale.
        brow_colour: brow colour.
        nose_length, nose_width: scales of the nose.
        mouth_width, lip_thickness: scales of the mouth.
        lips: lip colour.
        hair_style: one of ``HAIR_STYLES``; hair: hair colour.
        glasses: one of ``GLASSES``; glasses_colour: frame colour.
        beard: one of ``BEARDS``.
        earrings: whether earrings show.
        hat: one of ``HATS``; hat_colour: its colour.
        clothes: shirt colour.
        age_lines: 0..1, depth of the permanent lines (nasolabial fold, forehead).
        texture_seed: seed of the skin/hair texture pattern (deterministic per person).
    """

    face_width: float = 1.0
    face_height: float = 1.0
    jaw_squareness: float = 2.4
    chin_length: float = 1.0
    skin_tone: float = 0.3
    skin: RGB = (0.86, 0.65, 0.51)
    eye_size: float = 1.0
    eye_spacing: float = 1.0
    eye_tilt: float = 0.0
    iris: RGB = _IRIS_COLOURS["brown"]
    brow_thickness: float = 1.0
    brow_arch: float = 1.0
    brow_colour: RGB = _HAIR_COLOURS["dark brown"]
    nose_length: float = 1.0
    nose_width: float = 1.0
    mouth_width: float = 1.0
    lip_thickness: float = 1.0
    lips: RGB = (0.70, 0.40, 0.38)
    hair_style: str = "short"
    hair: RGB = _HAIR_COLOURS["dark brown"]
    glasses: str = "none"
    glasses_colour: RGB = (0.1, 0.1, 0.1)
    beard: str = "none"
    earrings: bool = False
    hat: str = "none"
    hat_colour: RGB = (0.2, 0.25, 0.45)
    clothes: RGB = (0.12, 0.16, 0.30)
    age_lines: float = 0.2
    texture_seed: int = 0

    def __post_init__(self) -> None:
        for name, allowed in (("hair_style", HAIR_STYLES), ("beard", BEARDS), ("hat", HATS),
                              ("glasses", GLASSES)):
            if getattr(self, name) not in allowed:
                raise ValueError(f"Identity.{name}={getattr(self, name)!r}: use one of {allowed}")


def skin_colour(tone: float) -> RGB:
    """Skin colour of a tone in [0, 1] (0 = very light, 1 = very dark)."""
    pos = float(np.clip(tone, 0.0, 1.0)) * (len(_SKIN_PALETTE) - 1)
    i = min(int(pos), len(_SKIN_PALETTE) - 2)
    c = _SKIN_PALETTE[i] + (pos - i) * (_SKIN_PALETTE[i + 1] - _SKIN_PALETTE[i])
    return _rgb(c)


def _rgb(c: np.ndarray) -> RGB:
    r, g, b = (float(x) for x in np.clip(c, 0.0, 1.0))
    return (r, g, b)


def _pick(rng: np.random.Generator, options, p) -> str:
    """One of ``options`` with probabilities proportional to ``p`` (cheaper than ``rng.choice``)."""
    cum = np.cumsum(p)
    return options[min(int(np.searchsorted(cum, rng.random() * cum[-1], side="right")), len(options) - 1)]


def sample_identity(rng: np.random.Generator) -> Identity:
    """Draw one person: face shape, skin tone (light to dark), features, hair and accessories.

    Accessories follow rough everyday frequencies: glasses ~25 %, a beard or stubble ~25 %,
    earrings ~20 %, a hat ~10 %.

    Args:
        rng: the only source of randomness; the same generator state gives the same person.
    """
    u = lambda lo, hi: float(rng.uniform(lo, hi))  # noqa: E731 - short local sampler
    tone = u(0.0, 1.0)
    # A small red/yellow undertone shift keeps two people of one tone from looking identical.
    skin = np.asarray(skin_colour(tone)) * (1.0 + rng.normal(0.0, 0.03, 3))
    hair_name = _pick(rng, tuple(_HAIR_COLOURS), _HAIR_WEIGHTS)
    if tone > 0.55 and hair_name in ("blonde", "red", "light brown"):
        hair_name = "black"  # light hair is rare with very dark skin
    hair = np.asarray(_HAIR_COLOURS[hair_name]) * (1.0 + rng.normal(0.0, 0.06, 3))
    # Blue, green and grey irises are rare with dark skin.
    iris_p = (0.35, 0.3, 0.1, 0.07, 0.12, 0.06) if tone < 0.45 else (0.6, 0.35, 0.05, 0.0, 0.0, 0.0)
    iris = _IRIS_COLOURS[_pick(rng, tuple(_IRIS_COLOURS), iris_p)]
    brow = hair * 0.8 if hair_name not in ("grey", "white", "blonde") else hair * 0.6
    lips = np.asarray(skin) * np.array([0.82, 0.55, 0.55]) + np.array([0.06, 0.0, 0.02])

    style = _pick(rng, HAIR_STYLES, (0.12, 0.32, 0.24, 0.14, 0.08, 0.10))
    beard = _pick(rng, BEARDS, (0.75, 0.11, 0.05, 0.09))
    glasses = _pick(rng, GLASSES, (0.75, 0.13, 0.12))
    hat = _pick(rng, HATS, (0.90, 0.05, 0.05))
    clothes = _CLOTHES_HUES[int(rng.integers(len(_CLOTHES_HUES)))] * u(0.7, 1.15)
    hat_colour = _CLOTHES_HUES[int(rng.integers(len(_CLOTHES_HUES)))] * u(0.7, 1.1)

    return Identity(
        face_width=u(0.9, 1.08),
        face_height=u(0.92, 1.08),
        jaw_squareness=u(1.9, 3.4),
        chin_length=u(0.9, 1.1),
        skin_tone=tone,
        skin=_rgb(skin),
        eye_size=u(0.85, 1.15),
        eye_spacing=u(0.92, 1.08),
        eye_tilt=u(-0.015, 0.025),
        iris=iris,
        brow_thickness=u(0.7, 1.35),
        brow_arch=u(0.5, 1.5),
        brow_colour=_rgb(brow),
        nose_length=u(0.88, 1.12),
        nose_width=u(0.85, 1.25),
        mouth_width=u(0.88, 1.12),
        lip_thickness=u(0.7, 1.3),
        lips=_rgb(lips),
        hair_style=style,
        hair=_rgb(hair),
        glasses=glasses,
        glasses_colour=_rgb(np.array((0.08, 0.07, 0.07)) if rng.random() < 0.6 else rng.uniform(0.1, 0.7, 3)),
        beard=beard,
        earrings=bool(rng.random() < 0.2),
        hat=hat,
        hat_colour=_rgb(hat_colour),
        clothes=_rgb(clothes),
        age_lines=u(0.0, 1.0) ** 2,
        texture_seed=int(rng.integers(0, 2**31 - 1)),
    )
