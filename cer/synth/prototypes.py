"""FACS prototypes of the expressions the renderer draws: which action units make each basic and
compound expression, with their sources.

Sources:
- basic expressions: EMFACS (Friesen & Ekman, 1983), as tabulated in the FACS manual
  (Ekman, Friesen & Hager, 2002, Table 12-1);
- compound expressions: Du, Tao & Martinez (2014), "Compound facial expressions of emotion",
  PNAS 111(15), E1454-E1462, Table 1 (AUs present in more than 70 % of subjects; the bracketed
  AUs seen in some subjects are kept as ``optional``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cer.taxonomy import CE_BASIC, compound_components


@dataclass(frozen=True)
class Prototype:
    """AUs of an expression: ``required`` always present, ``optional`` in some people."""

    name: str
    required: tuple[int, ...]
    optional: tuple[int, ...] = field(default=())
    source: str = ""


_EMFACS = "EMFACS (Friesen & Ekman 1983; FACS manual 2002, Table 12-1)"
_DU2014 = "Du, Tao & Martinez 2014, PNAS 111(15), Table 1"

# Basic expressions (keys are CE basic names, plus neutral for RAF-DB basic / Aff-Wild2).
BASIC_PROTOTYPES: dict[str, Prototype] = {
    "surprise": Prototype("surprise", (1, 2, 5, 26), (25,), _EMFACS),
    "fear": Prototype("fear", (1, 2, 4, 5, 20, 26), (7, 25), _EMFACS),
    "disgust": Prototype("disgust", (9, 10, 17), (4, 15, 16, 24), _EMFACS),
    "happiness": Prototype("happiness", (6, 12), (25,), _EMFACS),
    "sadness": Prototype("sadness", (1, 4, 15), (6, 17), _EMFACS),
    "anger": Prototype("anger", (4, 5, 7, 23), (10, 17, 24), _EMFACS),
    "neutral": Prototype("neutral", (), (), "no action"),
}

# Compound expressions of RAF-DB (a superset of C-EXPR-DB's 7), keyed by CE component pair.
COMPOUND_PROTOTYPES: dict[frozenset[int], Prototype] = {
    frozenset(compound_components(p.name)): p
    for p in (
        Prototype("Happily surprised", (1, 2, 12, 25), (5, 26), _DU2014),
        Prototype("Happily disgusted", (10, 12, 25), (4, 6, 9), _DU2014),
        Prototype("Sadly fearful", (1, 4, 20, 25), (2, 5, 6, 15), _DU2014),
        Prototype("Sadly angry", (4, 15), (6, 7, 11, 17), _DU2014),
        Prototype("Sadly surprised", (1, 4, 25, 26), (2, 6), _DU2014),
        Prototype("Sadly disgusted", (4, 10), (1, 6, 9, 11, 15, 17, 25), _DU2014),
        Prototype("Fearfully angry", (4, 20, 25), (5, 7, 10, 11), _DU2014),
        Prototype("Fearfully surprised", (1, 2, 5, 20, 25), (4, 10, 11, 26), _DU2014),
        Prototype("Angrily surprised", (4, 25, 26), (5, 7, 10), _DU2014),
        Prototype("Angrily disgusted", (4, 10, 17), (7, 9, 24), _DU2014),
        Prototype("Disgustedly surprised", (1, 2, 5, 10), (4, 9, 17, 24, 26), _DU2014),
    )
}

# AUs the renderer draws (a superset of the 12 Aff-Wild2 AUs).
RENDERED_AUS: tuple[int, ...] = (1, 2, 4, 5, 6, 7, 9, 10, 11, 12, 15, 16, 17, 20, 23, 24, 25, 26)


def prototype_for(components: tuple[int, ...]) -> Prototype:
    """The FACS prototype of one basic expression (1 component) or a compound (2 components)."""
    if len(components) == 1:
        return BASIC_PROTOTYPES[CE_BASIC.classes[components[0]]]
    try:
        return COMPOUND_PROTOTYPES[frozenset(components)]
    except KeyError:
        names = "+".join(CE_BASIC.classes[i] for i in components)
        raise KeyError(f"no FACS compound prototype for {names}") from None
