"""The one record type every reader returns: where the face is, and its labels with missing masks."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from cer.taxonomy import AFFWILD2_AUS, CE_BASIC, CONSTRAINT_SETS, LABEL_SPACES, to_ce_basic


@dataclass(frozen=True)
class FaceRecord:
    """One face: an image file, or frame ``frame`` (1-based) of the video file ``image``.

    A missing label is ``None`` (``expression``, ``valence``, ``arousal``) or ``-1`` inside ``aus``;
    the ``has_*`` properties and ``au_mask`` are the masks the losses use.

    Attributes:
        image: path of the image file, or of the video file when ``frame`` is set.
        frame: 1-based frame number inside the video ``image``; None for image files.
        video: sequence key (e.g. the Aff-Wild2 video name) for temporal models and splits.
        subject: identity key for subject-independent splits, where known.
        space: name of the label space of ``expression`` (a key of ``taxonomy.LABEL_SPACES``).
        expression: 0-based class index in ``space``.
        aus: occurrence (0/1) of the 12 Aff-Wild2 AUs, -1 where unannotated.
        valence, arousal: in [-1, 1].
    """

    image: str
    frame: int | None = None
    video: str | None = None
    subject: str | None = None
    space: str | None = None
    expression: int | None = None
    aus: tuple[int, ...] | None = None
    valence: float | None = None
    arousal: float | None = None

    def __post_init__(self) -> None:
        if self.expression is not None:
            if self.space not in LABEL_SPACES:
                raise ValueError(f"record {self.image}: unknown label space {self.space!r}")
            if not 0 <= self.expression < len(LABEL_SPACES[self.space]):
                raise ValueError(f"record {self.image}: class {self.expression} outside {self.space}")
        if self.aus is not None and len(self.aus) != len(AFFWILD2_AUS):
            raise ValueError(f"record {self.image}: {len(self.aus)} AU values, expected 12")

    @property
    def has_expression(self) -> bool:
        return self.expression is not None

    @property
    def has_va(self) -> bool:
        return self.valence is not None and self.arousal is not None and not (
            math.isnan(self.valence) or math.isnan(self.arousal)
        )

    @property
    def au_mask(self) -> np.ndarray:
        """[12] bool: which AUs are annotated."""
        if self.aus is None:
            return np.zeros(len(AFFWILD2_AUS), dtype=bool)
        return np.asarray(self.aus) >= 0

    @property
    def has_aus(self) -> bool:
        return bool(self.au_mask.any())

    @property
    def key(self) -> str:
        """A unique key of the face: the image path, plus the frame number for video frames."""
        return self.image if self.frame is None else f"{self.image}#{self.frame}"

    def ce_multi_hot(self) -> np.ndarray | None:
        """The 6-dim CE multi-hot label, or None where the expression has no CE meaning (neutral,
        contempt, other, missing)."""
        if self.expression is None:
            return None
        if self.space in CONSTRAINT_SETS:
            return CONSTRAINT_SETS[self.space].multi_hot(self.expression)
        i = to_ce_basic(LABEL_SPACES[self.space], self.expression)
        if i is None:
            return None
        hot = np.zeros(len(CE_BASIC), dtype=np.float32)
        hot[i] = 1.0
        return hot
