"""One folder per class, the ``ImageFolder`` layout, with the class names given explicitly::

    root/Happiness/0001.jpg
    root/Sadness/0002.png

Class indices come from the label space, never from alphabetical order (the trap of torchvision's
``ImageFolder`` and HF ``imagefolder``: ``Anger`` would become class 0 whatever the data set says).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from cer.data.errors import DataFormatError
from cer.data.image_check import OnMissing, drop_missing_images
from cer.data.record import FaceRecord
from cer.taxonomy import LABEL_SPACES

IMAGE_EXTENSIONS: tuple[str, ...] = (".jpg", ".jpeg", ".png", ".bmp", ".webp")

logger = logging.getLogger("cer.data")


def read_image_folder(
    root: str | Path, classes: Sequence[str], space: str, on_missing: OnMissing = "error"
) -> list[FaceRecord]:
    """Read ``root/<class name>/*.{jpg,jpeg,png,bmp,webp}``.

    Args:
        root: the folder holding one sub-folder per class.
        classes: the sub-folder names to read; each must name a class of ``space`` (matched as
            ``LabelSpace.index`` does: case, ``_``, ``-`` and spaces ignored). Every one must exist,
            and a sub-folder not listed here is an error (hidden folders aside).
        space: the label space, a key of ``cer.taxonomy.LABEL_SPACES``.
        on_missing: what to do with listed files that cannot be read as files (dangling links).

    Returns:
        Records class by class in the order of ``classes``, files sorted by name within a class.
    """
    root = Path(root)
    if space not in LABEL_SPACES:
        raise ValueError(f"unknown label space {space!r}; known: {', '.join(LABEL_SPACES)}")
    label_space = LABEL_SPACES[space]
    if not root.is_dir():
        raise FileNotFoundError(f"image folder {root} does not exist")
    if not classes:
        raise ValueError("classes is empty: name the class folders to read")
    if len(set(classes)) != len(classes):
        raise ValueError(f"classes lists a folder twice: {list(classes)}")
    indices = {}
    for name in classes:
        try:
            indices[name] = label_space.index(name)
        except KeyError as err:
            raise ValueError(str(err.args[0])) from None
    if len(set(indices.values())) != len(indices):
        raise ValueError(f"classes names one class of {space} twice (spelled differently): {list(classes)}")
    folders = {p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")}
    absent = [c for c in classes if c not in folders]
    if absent:
        raise FileNotFoundError(
            f"{root} has no folder for class(es) {', '.join(absent)} (found: {', '.join(sorted(folders))})"
        )
    extra = sorted(folders - set(classes))
    if extra:
        raise ValueError(
            f"{root} has folder(s) {', '.join(extra)} that are not in classes ({', '.join(classes)}): "
            "list them in classes or move them out"
        )
    records: list[FaceRecord] = []
    for name in classes:
        files = sorted(p for p in (root / name).iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS)
        if not files:
            logger.warning("%s has no images (%s)", root / name, ", ".join(IMAGE_EXTENSIONS))
        records += [FaceRecord(image=str(p), space=space, expression=indices[name]) for p in files]
    if not records:
        raise DataFormatError(root, None, f"no images ({', '.join(IMAGE_EXTENSIONS)}) in any class folder")
    return drop_missing_images(records, root, on_missing)
