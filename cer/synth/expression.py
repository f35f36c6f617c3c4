"""From an expression target to AU intensities and every label the synthetic layouts write.

A *target* is what a synthetic face is meant to show: neutral, one CE basic expression, a compound
(a pair of CE basic expressions with a FACS prototype), or "other" (an AU pattern that matches no
prototype). An :class:`AUPattern` fixes how one face shows it (AU weights drawn once, so that the
frames of an episode do not flicker); :func:`expression_at` reads the pattern at an intensity and
computes the labels. Every label is derived from the target, the AU intensities or the tables
below; none is drawn independently of the face.

Valence and arousal come from each expression's place on Russell's circumplex of affect
(Russell 1980, J. Pers. Soc. Psychol. 39(6)): ``CIRCUMPLEX`` is our rounded reading of where the
basic emotions lie on it, scaled by intensity. A compound sits at the mean of its two components.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from cer.synth.prototypes import BASIC_PROTOTYPES, COMPOUND_PROTOTYPES, RENDERED_AUS, prototype_for
from cer.taxonomy import AFFWILD2_AUS, AFFWILD2_EXPR, CE_BASIC, CONSTRAINT_SETS, RAF_BASIC, to_affwild2_expr

# An AU counts as present at FACS intensity B or more (A..E mapped onto 0..1, B ~ 0.3).
AU_PRESENT_THRESHOLD = 0.3
# Below this intensity an expression is too faint to name, and the frame is labelled neutral.
VISIBLE_INTENSITY = 0.2
# Intensity range of still images: from a clear but mild expression to a full one.
STILL_INTENSITY = (0.45, 1.0)
# Per-face variation of a prototype: required AUs jittered around the intensity, optional AUs
# shown by some faces at a fraction of it, and now and then a weak AU from outside the prototype.
REQUIRED_WEIGHT = (0.85, 1.1)
OPTIONAL_PROBABILITY = 0.4
OPTIONAL_WEIGHT = (0.4, 0.9)
EXTRA_AU_PROBABILITY = 0.25
EXTRA_AU_INTENSITY = (0.1, 0.35)
# "Other" faces: 2 or 3 AUs at a high weight, in a combination that contains no prototype.
OTHER_AU_COUNT = (2, 3)
OTHER_WEIGHT = (0.7, 1.0)
# Standard deviation of the annotator noise on valence and arousal of still images.
VA_NOISE = 0.08

# (valence, arousal) at full intensity.
CIRCUMPLEX: dict[str, tuple[float, float]] = {
    "neutral": (0.0, 0.0),
    "happiness": (0.8, 0.5),
    "surprise": (0.3, 0.8),
    "fear": (-0.6, 0.7),
    "anger": (-0.6, 0.6),
    "disgust": (-0.7, 0.3),
    "sadness": (-0.7, -0.4),
}
# "Other" (contempt, confusion, boredom, ...) has no place of its own: each "other" face draws one
# from this box of mild affect.
OTHER_VALENCE = (-0.4, 0.3)
OTHER_AROUSAL = (-0.3, 0.4)

TargetKind = Literal["neutral", "basic", "compound", "other"]


@dataclass(frozen=True)
class Target:
    """What a face is meant to show; ``components`` are CE basic indices (``cer.taxonomy.CE_BASIC``)."""

    kind: TargetKind
    components: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        n = {"neutral": 0, "basic": 1, "compound": 2, "other": 0}.get(self.kind)
        if n is None:
            raise ValueError(f"unknown target kind {self.kind!r}: use neutral, basic, compound or other")
        if len(self.components) != n or not all(0 <= c < len(CE_BASIC) for c in self.components):
            raise ValueError(f"a {self.kind} target needs {n} CE basic indices, got {self.components}")
        if self.kind == "compound":
            prototype_for(self.components)  # raises KeyError for a pair without a FACS prototype

    @classmethod
    def neutral(cls) -> Target:
        return cls("neutral")

    @classmethod
    def basic(cls, ce_index: int) -> Target:
        return cls("basic", (ce_index,))

    @classmethod
    def compound(cls, first: int, second: int) -> Target:
        return cls("compound", (first, second))

    @classmethod
    def other(cls) -> Target:
        return cls("other")

    @property
    def name(self) -> str:
        if self.kind in ("neutral", "other"):
            return self.kind
        return prototype_for(self.components).name


@dataclass(frozen=True)
class AUPattern:
    """How one face shows a target: AU weights (multiplied by intensity) and fixed weak extras.

    Attributes:
        target: the target the pattern was drawn for.
        weights: AU -> weight; the AU's intensity is ``weight * intensity`` (clipped to 1).
        extras: AU -> intensity of weak non-prototype AUs, not scaled by the expression.
        va: (valence, arousal) at full intensity.
    """

    target: Target
    weights: dict[int, float] = field(default_factory=dict)
    extras: dict[int, float] = field(default_factory=dict)
    va: tuple[float, float] = (0.0, 0.0)


@dataclass(frozen=True)
class ExpressionSample:
    """AU intensities of one face and all its labels (indices 0-based in their label space).

    Attributes:
        target: what the face shows (neutral when the expression is below ``VISIBLE_INTENSITY``).
        intensity: expression intensity in [0, 1].
        aus: intensity in [0, 1] of every AU in ``RENDERED_AUS``.
        au_occurrence: 0/1 for the 12 Aff-Wild2 AUs (intensity >= ``AU_PRESENT_THRESHOLD``).
        valence, arousal: in [-1, 1].
        ce_basic: CE basic index of a basic target, else None.
        components: CE basic components (empty for neutral and other).
        raf_basic: RAF-DB basic index (neutral included), None for compound and other.
        raf_compound: RAF-DB compound index of a compound target, else None.
        c_expr: C-EXPR-DB index of a compound among its 7 classes, else None.
        affwild2_expr: Aff-Wild2 EXPR index, None for compounds (Aff-Wild2 has none).
    """

    target: Target
    intensity: float
    aus: dict[int, float]
    au_occurrence: tuple[int, ...]
    valence: float
    arousal: float
    ce_basic: int | None
    components: tuple[int, ...]
    raf_basic: int | None
    raf_compound: int | None
    c_expr: int | None
    affwild2_expr: int | None


def circumplex_va(target: Target) -> tuple[float, float]:
    """(valence, arousal) of a neutral, basic or compound target at full intensity."""
    if target.kind == "other":
        raise ValueError("'other' has no circumplex position; its AUPattern carries one")
    if target.kind == "neutral":
        return CIRCUMPLEX["neutral"]
    points = np.array([CIRCUMPLEX[CE_BASIC.classes[c]] for c in target.components])
    v, a = points.mean(axis=0)
    return float(v), float(a)


def matching_prototype(active_aus: set[int]) -> str | None:
    """Name of a basic or compound prototype whose required AUs are all in ``active_aus``, or None."""
    for proto in (*BASIC_PROTOTYPES.values(), *COMPOUND_PROTOTYPES.values()):
        if proto.required and set(proto.required) <= active_aus:
            return proto.name
    return None


def sample_pattern(target: Target, rng: np.random.Generator, extras: bool = True) -> AUPattern:
    """Draw how one face shows ``target`` (see the module constants for the ranges).

    Args:
        target: the expression to show.
        rng: source of randomness; the pattern depends on nothing else.
        extras: allow a weak non-prototype AU (still images; video gaps turn it off).
    """
    if target.kind == "other":
        return _sample_other(rng)
    weights: dict[int, float] = {}
    prototype_aus: set[int] = set()
    if target.kind != "neutral":
        proto = prototype_for(target.components)
        prototype_aus = set(proto.required) | set(proto.optional)
        unrendered = prototype_aus - set(RENDERED_AUS)
        if unrendered:
            raise ValueError(f"prototype {proto.name} uses AUs the renderer lacks: {sorted(unrendered)}")
        for au in proto.required:
            weights[au] = float(rng.uniform(*REQUIRED_WEIGHT))
        for au in proto.optional:
            if rng.random() < OPTIONAL_PROBABILITY:
                weights[au] = float(rng.uniform(*OPTIONAL_WEIGHT))
    extra: dict[int, float] = {}
    if extras and rng.random() < EXTRA_AU_PROBABILITY:
        candidates = [au for au in RENDERED_AUS if au not in prototype_aus]
        au = int(rng.choice(candidates))
        extra[au] = float(rng.uniform(*EXTRA_AU_INTENSITY))
    return AUPattern(target, weights, extra, circumplex_va(target))


def _sample_other(rng: np.random.Generator) -> AUPattern:
    # Rejection sampling: most random AU pairs match no prototype, so this ends within a few tries.
    while True:
        count = int(rng.integers(OTHER_AU_COUNT[0], OTHER_AU_COUNT[1] + 1))
        aus = sorted(int(a) for a in rng.choice(RENDERED_AUS, size=count, replace=False))
        if matching_prototype(set(aus)) is None:
            break
    weights = {au: float(rng.uniform(*OTHER_WEIGHT)) for au in aus}
    va = (float(rng.uniform(*OTHER_VALENCE)), float(rng.uniform(*OTHER_AROUSAL)))
    return AUPattern(Target.other(), weights, {}, va)


def aus_at(pattern: AUPattern, intensity: float, extras_gain: float = 1.0) -> dict[int, float]:
    """Intensity of every rendered AU when ``pattern`` is shown at ``intensity``."""
    aus = {au: 0.0 for au in RENDERED_AUS}
    for au, w in pattern.weights.items():
        aus[au] = min(1.0, w * intensity)
    for au, level in pattern.extras.items():
        aus[au] = max(aus[au], level * extras_gain)
    return aus


def expression_at(
    pattern: AUPattern,
    intensity: float,
    va: tuple[float, float] | None = None,
    extras_gain: float = 1.0,
) -> ExpressionSample:
    """The face of ``pattern`` at ``intensity`` (e.g. one phase of a video episode), with its labels.

    Args:
        pattern: the face's AU pattern.
        intensity: expression intensity in [0, 1].
        va: valence and arousal to label the face with; default: the pattern's circumplex
            position times ``intensity``, without noise.
        extras_gain: factor on the weak extra AUs (an episode fades them in with the expression).
    """
    aus = aus_at(pattern, intensity, extras_gain)
    if va is None:
        va = (pattern.va[0] * intensity, pattern.va[1] * intensity)
    shown = pattern.target if intensity >= VISIBLE_INTENSITY else Target.neutral()
    return _labelled(shown, intensity, aus, va)


def still_expression(target: Target, rng: np.random.Generator) -> ExpressionSample:
    """A still face showing ``target`` at a random intensity in ``STILL_INTENSITY``, VA with noise."""
    pattern = sample_pattern(target, rng)
    # A neutral face has no expression to scale; its weak extra AUs, if any, show as drawn.
    intensity = 0.0 if target.kind == "neutral" else float(rng.uniform(*STILL_INTENSITY))
    noise = rng.normal(0.0, VA_NOISE, size=2)
    va = np.clip(np.asarray(pattern.va) * intensity + noise, -1.0, 1.0)
    return _labelled(target, intensity, aus_at(pattern, intensity), (float(va[0]), float(va[1])))


def _labelled(
    target: Target, intensity: float, aus: dict[int, float], va: tuple[float, float]
) -> ExpressionSample:
    components = target.components
    ce_basic = components[0] if target.kind == "basic" else None
    raf_basic = affwild2 = raf_compound = c_expr = None
    if target.kind == "basic":
        raf_basic = RAF_BASIC.index(CE_BASIC.classes[ce_basic])
        affwild2 = to_affwild2_expr(CE_BASIC, ce_basic)
    elif target.kind == "neutral":
        raf_basic = RAF_BASIC.index("neutral")
        affwild2 = AFFWILD2_EXPR.index("neutral")
    elif target.kind == "other":
        affwild2 = AFFWILD2_EXPR.index("other")
    else:
        raf_compound = CONSTRAINT_SETS["raf-compound"].index_of_components(components)
        try:
            c_expr = CONSTRAINT_SETS["c-expr"].index_of_components(components)
        except KeyError:  # one of the 4 RAF-DB compounds C-EXPR-DB does not have
            c_expr = None
    occurrence = tuple(int(aus.get(au, 0.0) >= AU_PRESENT_THRESHOLD) for au in AFFWILD2_AUS)
    return ExpressionSample(
        target=target,
        intensity=float(intensity),
        aus=aus,
        au_occurrence=occurrence,
        valence=float(np.clip(va[0], -1.0, 1.0)),
        arousal=float(np.clip(va[1], -1.0, 1.0)),
        ce_basic=ce_basic,
        components=components,
        raf_basic=raf_basic,
        raf_compound=raf_compound,
        c_expr=c_expr,
        affwild2_expr=affwild2,
    )
