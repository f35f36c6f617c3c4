"""Label spaces, compound classes and constraint sets: the single source of truth.

Every index in this module is the one the data set publishes (see ``../shared/DESIGN.md``). Readers
convert a data set's labels with the mappings here, the trainer builds its heads from these sizes,
and constrained inference looks its classes up by constraint-set name.

The FACS prototypes of the expressions live with the renderer (``cer.synth.prototypes``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

# --- label spaces -----------------------------------------------------------------------------


@dataclass(frozen=True)
class LabelSpace:
    """An ordered set of class names; ``index_base`` is what the data set's files count from."""

    name: str
    classes: tuple[str, ...]
    index_base: int = 0

    def __len__(self) -> int:
        return len(self.classes)

    def index(self, class_name: str) -> int:
        """0-based index of ``class_name`` (case-insensitive, ``_``/space/``-`` agnostic)."""
        key = _normalise(class_name)
        for i, c in enumerate(self.classes):
            if _normalise(c) == key:
                return i
        raise KeyError(f"{class_name!r} is not a class of {self.name} ({', '.join(self.classes)})")

    def from_file_label(self, value: int) -> int:
        """0-based index of a label as written in the data set's files; raises on out of range."""
        i = value - self.index_base
        if not 0 <= i < len(self.classes):
            lo, hi = self.index_base, self.index_base + len(self.classes) - 1
            raise ValueError(f"label {value} is outside {self.name}'s range {lo}..{hi}")
        return i


def _normalise(name: str) -> str:
    return name.lower().replace("_", "").replace(" ", "").replace("-", "")


# CE basic set: RAF-DB's order with neutral dropped. The model's 6 multi-label outputs follow it.
CE_BASIC = LabelSpace("ce-basic", ("surprise", "fear", "disgust", "happiness", "sadness", "anger"))

RAF_BASIC = LabelSpace(
    "raf-basic",
    ("Surprise", "Fear", "Disgust", "Happiness", "Sadness", "Anger", "Neutral"),
    index_base=1,
)
RAF_COMPOUND = LabelSpace(
    "raf-compound",
    (
        "Happily surprised", "Happily disgusted", "Sadly fearful", "Sadly angry",
        "Sadly surprised", "Sadly disgusted", "Fearfully angry", "Fearfully surprised",
        "Angrily surprised", "Angrily disgusted", "Disgustedly surprised",
    ),
    index_base=1,
)
C_EXPR = LabelSpace(
    "c-expr",
    (
        "Fearfully_Surprised", "Happily_Surprised", "Sadly_Surprised", "Disgustedly_Surprised",
        "Angrily_Surprised", "Sadly_Fearful", "Sadly_Angry",
    ),
)
AFFWILD2_EXPR = LabelSpace(
    "affwild2-expr",
    ("Neutral", "Anger", "Disgust", "Fear", "Happiness", "Sadness", "Surprise", "Other"),
)
AFFECTNET = LabelSpace(
    "affectnet",
    ("Neutral", "Happy", "Sad", "Surprise", "Fear", "Disgust", "Anger", "Contempt"),
)
# AffectNet's 8-10 (None, Uncertain, No-Face) are not expressions: readers drop or reject them.
AFFECTNET_NON_FACE = {8: "None", 9: "Uncertain", 10: "No-Face"}

AFFWILD2_AUS: tuple[int, ...] = (1, 2, 4, 6, 7, 10, 12, 15, 23, 24, 25, 26)

LABEL_SPACES: dict[str, LabelSpace] = {
    s.name: s for s in (CE_BASIC, RAF_BASIC, RAF_COMPOUND, C_EXPR, AFFWILD2_EXPR, AFFECTNET)
}

# Canonical emotion words, used to map every space onto the CE basic set and Aff-Wild2 EXPR.
_CANON = {
    "surprise": "surprise", "surprised": "surprise",
    "fear": "fear", "fearful": "fear", "fearfully": "fear",
    "disgust": "disgust", "disgusted": "disgust", "disgustedly": "disgust",
    "happiness": "happiness", "happy": "happiness", "happily": "happiness",
    "sadness": "sadness", "sad": "sadness", "sadly": "sadness",
    "anger": "anger", "angry": "anger", "angrily": "anger",
    "neutral": "neutral", "contempt": "contempt", "other": "other",
}


def canonical_emotion(word: str) -> str:
    """Map any spelling of a basic emotion ('Happily', 'happy', 'Happiness') to one word."""
    try:
        return _CANON[word.strip().lower()]
    except KeyError:
        raise KeyError(f"{word!r} is not a known basic emotion word") from None


def to_ce_basic(space: LabelSpace, index: int) -> int | None:
    """CE basic index of a single-expression class, or None (neutral, contempt, other)."""
    word = canonical_emotion(space.classes[index])
    return CE_BASIC.classes.index(word) if word in CE_BASIC.classes else None


def to_affwild2_expr(space: LabelSpace, index: int) -> int | None:
    """Aff-Wild2 EXPR index of a single-expression class, or None where Aff-Wild2 has no such class."""
    word = canonical_emotion(space.classes[index])
    names = [canonical_emotion(c) for c in AFFWILD2_EXPR.classes]
    return names.index(word) if word in names else None


# --- compound classes and constraint sets ------------------------------------------------------


@dataclass(frozen=True)
class CompoundClass:
    """A class of a constraint set and the CE basic expressions (indices) that make it up."""

    name: str
    components: tuple[int, ...]

    @property
    def component_names(self) -> tuple[str, ...]:
        return tuple(CE_BASIC.classes[i] for i in self.components)


def compound_components(name: str) -> tuple[int, ...]:
    """Components of a compound name such as 'Sadly_Angry' or 'Happily surprised' (CE indices)."""
    words = name.replace("_", " ").replace("-", " ").split()
    if len(words) != 2:
        raise ValueError(f"compound name {name!r} must be two words, e.g. 'Happily_Surprised'")
    comps = tuple(CE_BASIC.classes.index(canonical_emotion(w)) for w in words)
    if comps[0] == comps[1]:
        raise ValueError(f"compound {name!r} repeats one emotion")
    return comps


@dataclass(frozen=True)
class ConstraintSet:
    """The classes a prediction may take, each a set of CE basic components.

    ``component_matrix`` is the [C, 6] 0/1 matrix with which constrained inference turns basic
    probabilities into class scores (score = matrix @ probs: the sum of the components).
    """

    name: str
    classes: tuple[CompoundClass, ...]

    def __len__(self) -> int:
        return len(self.classes)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.classes)

    def component_matrix(self) -> np.ndarray:
        m = np.zeros((len(self.classes), len(CE_BASIC)), dtype=np.float32)
        for i, c in enumerate(self.classes):
            m[i, list(c.components)] = 1.0
        return m

    def allowed_pairs(self) -> list[tuple[int, int]]:
        """Unordered pairs of basic expressions that form a class of this set (for synthesis)."""
        return sorted({tuple(sorted(c.components)) for c in self.classes if len(c.components) == 2})

    def multi_hot(self, index: int) -> np.ndarray:
        """The 6-dim multi-hot CE label of class ``index``."""
        return self.component_matrix()[index]

    def index_of_components(self, components: tuple[int, ...]) -> int:
        key = frozenset(components)
        for i, c in enumerate(self.classes):
            if frozenset(c.components) == key:
                return i
        raise KeyError(f"no class of {self.name} has components {components}")


def _set_from_space(space: LabelSpace) -> ConstraintSet:
    return ConstraintSet(
        space.name, tuple(CompoundClass(c, compound_components(c)) for c in space.classes)
    )


CONSTRAINT_SETS: dict[str, ConstraintSet] = {
    "c-expr": _set_from_space(C_EXPR),
    "raf-compound": _set_from_space(RAF_COMPOUND),
    "basic": ConstraintSet("basic", tuple(CompoundClass(c, (i,)) for i, c in enumerate(CE_BASIC.classes))),
}


def constraint_set(name_or_file: str | Path) -> ConstraintSet:
    """A constraint set by name (``c-expr``, ``raf-compound``, ``basic``) or from a YAML file.

    The YAML form is ``name: my-set`` and ``classes:`` mapping each class name to a list of its
    components (CE basic names), e.g. ``Happily_Sad: [happiness, sadness]``.
    """
    key = str(name_or_file)
    if key in CONSTRAINT_SETS:
        return CONSTRAINT_SETS[key]
    path = Path(key)
    if path.suffix.lower() not in (".yaml", ".yml"):
        raise KeyError(
            f"unknown constraint set {key!r}: use one of {', '.join(CONSTRAINT_SETS)} or a YAML file"
        )
    if not path.is_file():
        raise FileNotFoundError(f"constraint-set file {path} does not exist")
    doc = yaml.safe_load(path.read_text()) or {}
    if not isinstance(doc, dict) or not isinstance(doc.get("classes"), dict) or not doc["classes"]:
        raise ValueError(f"{path}: expected a mapping with a non-empty 'classes:' mapping")
    classes = []
    for cname, comps in doc["classes"].items():
        if not isinstance(comps, list) or not comps:
            raise ValueError(f"{path}: class {cname!r} needs a list of basic expressions")
        try:
            idx = tuple(CE_BASIC.classes.index(canonical_emotion(str(w))) for w in comps)
        except (KeyError, ValueError) as err:
            raise ValueError(f"{path}: class {cname!r}: {err}") from None
        classes.append(CompoundClass(str(cname), idx))
    return ConstraintSet(str(doc.get("name", path.stem)), tuple(classes))
