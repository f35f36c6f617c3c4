"""A contact sheet of synthetic faces: one row per expression class, to check the renderer by eye."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from cer.synth.face import Pose
from cer.synth.identity import sample_identity
from cer.synth.prototypes import BASIC_PROTOTYPES, Prototype, prototype_for
from cer.synth.scene import render_image, sample_scene
from cer.taxonomy import C_EXPR, CE_BASIC, compound_components

_LABEL_WIDTH = 190
_GAP = 4


def sheet_classes() -> list[tuple[str, Prototype]]:
    """Rows of the sheet: neutral, the 6 CE basic expressions, the 7 C-EXPR-DB compounds."""
    rows = [("Neutral", BASIC_PROTOTYPES["neutral"])]
    rows += [(name.capitalize(), prototype_for((i,))) for i, name in enumerate(CE_BASIC.classes)]
    rows += [(name.replace("_", " "), prototype_for(compound_components(name))) for name in C_EXPR.classes]
    return rows


def prototype_aus(proto: Prototype, rng: np.random.Generator) -> dict[int, float]:
    """AUs of one face of a prototype: required AUs high, a random subset of the optional ones."""
    aus = {au: float(rng.uniform(0.75, 1.0)) for au in proto.required}
    for au in proto.optional:
        if rng.random() < 0.5:
            aus[au] = float(rng.uniform(0.3, 0.8))
    return aus


def contact_sheet(path: str | Path, per_class: int = 6, seed: int = 0, size: int = 112) -> Path:
    """Write a PNG grid: one row per class, ``per_class`` different people each, names at the left.

    Faces use the FACS prototypes of ``cer.taxonomy`` with a moderate random pose and scene.

    Args:
        path: PNG file to write (parent folders are created).
        per_class: faces per row.
        seed: seed of identities, AUs, poses and scenes.
        size: side of each face in pixels.

    Returns:
        The path written.
    """
    if per_class < 1:
        raise ValueError(f"per_class={per_class}: need at least one face per row")
    rows = sheet_classes()
    rng = np.random.default_rng(seed)
    width = _LABEL_WIDTH + per_class * (size + _GAP)
    sheet = Image.new("RGB", (width, len(rows) * (size + _GAP) + _GAP), (255, 255, 255))
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default(size=max(12, size // 7))
    for r, (name, proto) in enumerate(rows):
        top = _GAP + r * (size + _GAP)
        draw.text((8, top + size // 2), name, fill=(0, 0, 0), font=font, anchor="lm")
        for c in range(per_class):
            identity = sample_identity(rng)
            pose = Pose(float(rng.uniform(-15, 15)), float(rng.uniform(-8, 8)), float(rng.uniform(-8, 8)))
            image = render_image(identity, prototype_aus(proto, rng), pose, sample_scene(rng, 0.4), size)
            sheet.paste(Image.fromarray(image), (_LABEL_WIDTH + c * (size + _GAP), top))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(path)
    return path
