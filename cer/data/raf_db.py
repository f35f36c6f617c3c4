"""RAF-DB (Li, Deng & Du, CVPR 2017): the basic (7 classes) and compound (11 classes) subsets.

Layout, per subset folder (``basic/`` or ``compound/``)::

    EmoLabel/list_patition_label.txt     # "train_00001.jpg 5" (the published spelling of "partition")
    Image/aligned/train_00001_aligned.jpg

Labels are 1-based in the file (``cer.taxonomy.RAF_BASIC`` / ``RAF_COMPOUND``); the split is the
file-name prefix (``train_`` / ``test_``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from cer.data.errors import DataFormatError
from cer.data.image_check import OnMissing, check_choice, drop_missing_images
from cer.data.record import FaceRecord
from cer.taxonomy import RAF_BASIC, RAF_COMPOUND, LabelSpace

LABEL_FILE = Path("EmoLabel") / "list_patition_label.txt"
ALIGNED_DIR = Path("Image") / "aligned"
SUBSETS: dict[str, LabelSpace] = {"basic": RAF_BASIC, "compound": RAF_COMPOUND}
SPLITS = ("train", "test")


def subset_folder(root: str | Path, subset: str) -> Path:
    """The folder holding ``EmoLabel/`` for ``subset``: ``root/subset``, or ``root`` itself when it is
    that subset's folder."""
    root = Path(root)
    if (root / subset / LABEL_FILE).is_file():
        return root / subset
    if (root / LABEL_FILE).is_file():
        other = next((s for s in SUBSETS if s != subset and root.name == s), None)
        if other is not None:
            raise ValueError(f"{root} is RAF-DB's {other!r} folder but subset={subset!r} was asked for")
        return root
    raise FileNotFoundError(
        f"no RAF-DB label file at {root / subset / LABEL_FILE} or {root / LABEL_FILE}: pass the "
        f"RAF-DB folder that holds basic/ and compound/ (or the {subset}/ folder itself)"
    )


def read_raf_db(
    root: str | Path,
    subset: Literal["basic", "compound"] = "basic",
    split: Literal["train", "test"] | None = None,
    on_missing: OnMissing = "error",
) -> list[FaceRecord]:
    """Read one RAF-DB subset.

    Args:
        root: the RAF-DB folder holding ``basic/`` and ``compound/``, or one subset folder itself.
        subset: ``"basic"`` (space ``raf-basic``) or ``"compound"`` (space ``raf-compound``).
        split: ``"train"``, ``"test"``, or None for both.
        on_missing: what to do with listed images that do not exist (see ``drop_missing_images``).

    Returns:
        One record per listed image, in file order, with a 0-based ``expression``.
    """
    check_choice("subset", subset, tuple(SUBSETS))
    check_choice("split", split, (*SPLITS, None))
    folder = subset_folder(root, subset)
    label_file = folder / LABEL_FILE
    records = [
        record
        for record in parse_label_file(label_file, SUBSETS[subset], folder / ALIGNED_DIR)
        if split is None or Path(record.image).name.startswith(f"{split}_")
    ]
    return drop_missing_images(records, label_file, on_missing)


def parse_label_file(label_file: Path, space: LabelSpace, image_dir: Path) -> list[FaceRecord]:
    """Parse ``list_patition_label.txt`` lines ``<split>_<id>.jpg <label>`` into records."""
    lines = label_file.read_text(encoding="utf-8-sig").splitlines()
    if not any(line.strip() for line in lines):
        raise DataFormatError(label_file, None, "the file is empty: expected lines '<split>_<id>.jpg <label>'")
    records: list[FaceRecord] = []
    first_line: dict[str, int] = {}
    for line_no, line in enumerate(lines, start=1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != 2:
            raise DataFormatError(
                label_file, line_no, f"expected 2 space-separated fields (image label), found {len(fields)}: {line!r}"
            )
        name, label = fields
        stem, dot, ext = name.rpartition(".")
        if not dot or not stem.startswith(tuple(f"{s}_" for s in SPLITS)):
            raise DataFormatError(
                label_file, line_no, f"expected an image name like 'train_00001.jpg' or 'test_0001.jpg', found {name!r}"
            )
        if name in first_line:
            raise DataFormatError(label_file, line_no, f"{name} is listed again (first on line {first_line[name]})")
        first_line[name] = line_no
        try:
            expression = space.from_file_label(int(label))
        except ValueError as err:
            found = str(err) if label.lstrip("-").isdigit() else f"expected an integer label, found {label!r}"
            raise DataFormatError(label_file, line_no, found) from None
        image = image_dir / f"{stem}_aligned.{ext}"
        records.append(FaceRecord(image=str(image), space=space.name, expression=expression))
    return records
