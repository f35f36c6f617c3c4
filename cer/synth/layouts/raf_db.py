"""Synthetic RAF-DB: the basic (7 classes) and compound (11 classes) subsets, 100x100 aligned faces.

Writes, under the layout root::

    basic/EmoLabel/list_patition_label.txt        # "train_00001.jpg 5", "test_0001.jpg 7"
    basic/Image/aligned/train_00001_aligned.jpg
    compound/EmoLabel/list_patition_label.txt     # labels 1..11 in RAF-DB compound order
    compound/Image/aligned/train_0001_aligned.jpg
    SYNTH_IDENTITIES.csv                          # subset,image,identity (not in the real set)
    SYNTH_INFO.json

Train and test faces come from disjoint sets of identities. Basic classes keep RAF-DB's imbalance,
tempered (class share ~ sqrt of the real training count), so rare classes are rare but present;
compound faces are rendered from the compound FACS prototypes, balanced in training, with more
test faces for the 7 classes C-EXPR-DB shares.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np

from cer.synth.expression import Target, still_expression
from cer.synth.face import Pose
from cer.synth.identity import sample_identity
from cer.synth.layouts import allocate, item_rng, map_items, save_jpeg, write_info
from cer.synth.scene import render_image, sample_scene
from cer.taxonomy import C_EXPR, CE_BASIC, CONSTRAINT_SETS, RAF_BASIC, RAF_COMPOUND, compound_components

LAYOUT = "raf-db"
LABEL_FILE = Path("EmoLabel") / "list_patition_label.txt"
IMAGE_DIR = Path("Image") / "aligned"
IDENTITIES_FILE = "SYNTH_IDENTITIES.csv"
# Training-set class counts of the real RAF-DB basic subset (Li, Deng & Du 2017), in RAF_BASIC order.
REAL_BASIC_TRAIN_COUNTS = (1290, 281, 717, 4772, 1982, 705, 2524)
MIN_PER_CLASS = 2
# Pose range of aligned faces (degrees): aligned crops are upright, so roll stays small.
YAW, PITCH, ROLL = 20.0, 12.0, 5.0


@dataclass(frozen=True)
class RafDbSize:
    """How many faces to write.

    Attributes:
        basic_train, basic_test: basic-subset images per split (class shares ~ the square root of
            ``REAL_BASIC_TRAIN_COUNTS``, at least ``MIN_PER_CLASS`` each).
        compound_train_per_class: training images of each of the 11 compound classes.
        compound_test_per_c_expr_class: test images of each compound class C-EXPR-DB also has.
        compound_test_per_other_class: test images of each of the 4 other compound classes.
        train_identities, test_identities: people in each split (shared by both subsets).
        compound_test_identities: people of the compound test split, if more than ``test_identities``
            (the first ``test_identities`` of them are the basic test split's): many faces of few
            people make errors that go together, and a test set that measures less than its size.
        image_size: side of the aligned crops (RAF-DB: 100).
    """

    basic_train: int
    basic_test: int
    compound_train_per_class: int
    compound_test_per_c_expr_class: int
    compound_test_per_other_class: int
    train_identities: int
    test_identities: int
    compound_test_identities: int | None = None
    image_size: int = 100


@dataclass(frozen=True)
class _Face:
    """One image to render: where it goes, what it shows, who shows it, and its seed key."""

    path: Path
    target: Target
    identity: int
    key: tuple[int, ...]


def basic_class_counts(total: int) -> list[int]:
    """Images per RAF-DB basic class (RAF_BASIC order) for a split of ``total`` images."""
    return allocate(total, np.sqrt(REAL_BASIC_TRAIN_COUNTS), minimum=MIN_PER_CLASS)


def compound_class_counts(size: RafDbSize, split: str) -> list[int]:
    """Images per RAF-DB compound class (RAF_COMPOUND order) in ``split``."""
    if split == "train":
        return [size.compound_train_per_class] * len(RAF_COMPOUND)
    shared = {frozenset(compound_components(c)) for c in C_EXPR.classes}
    return [
        size.compound_test_per_c_expr_class if frozenset(compound_components(c)) in shared
        else size.compound_test_per_other_class
        for c in RAF_COMPOUND.classes
    ]


def _basic_target(raf_index: int) -> Target:
    name = RAF_BASIC.classes[raf_index].lower()
    return Target.neutral() if name == "neutral" else Target.basic(CE_BASIC.index(name))


def _compound_target(raf_index: int) -> Target:
    return Target.compound(*CONSTRAINT_SETS["raf-compound"].classes[raf_index].components)


def _plan_split(
    subset_dir: Path, subset_code: int, split: str, counts: list[int], target_of, size: RafDbSize,
    people: int, rng: np.random.Generator, min_digits: int,
) -> tuple[list[_Face], list[tuple[str, int]]]:
    """Faces of one split in a shuffled class order, shown by ``people`` identities of the split, and
    their label-file lines (name, file label)."""
    labels = rng.permutation(np.repeat(np.arange(len(counts)), counts))
    first_id = 0 if split == "train" else size.train_identities
    identities = first_id + rng.integers(0, people, size=len(labels))
    digits = max(min_digits, len(str(len(labels))))
    faces, lines = [], []
    split_code = 0 if split == "train" else 1
    for i, (label, identity) in enumerate(zip(labels, identities), start=1):
        stem = f"{split}_{i:0{digits}d}"
        path = subset_dir / IMAGE_DIR / f"{stem}_aligned.jpg"
        faces.append(_Face(path, target_of(int(label)), int(identity), (subset_code, split_code, i)))
        lines.append((f"{stem}.jpg", int(label) + 1))
    return faces, lines


def _render(face: _Face, seed: int, image_size: int) -> None:
    """Render and save one face (runs in a worker process)."""
    identity = sample_identity(item_rng(seed, f"{LAYOUT}/identity", face.identity))
    rng = item_rng(seed, LAYOUT, *face.key)
    sample = still_expression(face.target, rng)
    pose = Pose(
        yaw=float(rng.uniform(-YAW, YAW)), pitch=float(rng.uniform(-PITCH, PITCH)),
        roll=float(rng.uniform(-ROLL, ROLL)),
    )
    scene = sample_scene(rng)
    image = render_image(identity, sample.aus, pose, scene, size=image_size)
    save_jpeg(face.path, image, scene.jpeg_quality)


def write(root: Path, size: RafDbSize, seed: int, workers: int) -> dict:
    """Write synthetic RAF-DB under ``root`` and return its SYNTH_INFO (see the module docstring)."""
    plan_rng = item_rng(seed, f"{LAYOUT}/plan")
    # subset -> (class counts of a split, target of a 0-based class, digits of training names, test people)
    subsets = {
        "basic": (lambda split: basic_class_counts(getattr(size, f"basic_{split}")), _basic_target, 5,
                  size.test_identities),
        "compound": (lambda split: compound_class_counts(size, split), _compound_target, 4,
                     max(size.test_identities, size.compound_test_identities or 0)),
    }
    faces: list[_Face] = []
    info: dict = {"image_size": size.image_size, "seed": seed}
    used: dict[str, set[int]] = {"train": set(), "test": set()}
    for code, (subset, (counts_of, target_of, train_digits, test_people)) in enumerate(subsets.items()):
        lines: list[tuple[str, int]] = []
        subset_info: dict = {"per_class": {}}
        for split in ("train", "test"):
            counts = counts_of(split)
            split_faces, split_lines = _plan_split(
                root / subset, code, split, counts, target_of, size,
                size.train_identities if split == "train" else test_people, plan_rng,
                train_digits if split == "train" else 4,
            )
            faces += split_faces
            lines += split_lines
            used[split].update(f.identity for f in split_faces)
            subset_info[split] = len(split_lines)
            subset_info["per_class"][split] = {str(k + 1): n for k, n in enumerate(counts)}
        label_file = root / subset / LABEL_FILE
        label_file.parent.mkdir(parents=True, exist_ok=True)
        label_file.write_text("".join(f"{name} {label}\n" for name, label in lines))
        info[subset] = subset_info
    info["identities"] = {split: len(ids) for split, ids in used.items()}

    with open(root / IDENTITIES_FILE, "w", newline="") as f:
        out = csv.writer(f, lineterminator="\n")
        out.writerow(["subset", "image", "identity"])
        for face in faces:
            subset = face.path.relative_to(root).parts[0]
            out.writerow([subset, face.path.name, f"raf{face.identity:05d}"])

    map_items(partial(_render, seed=seed, image_size=size.image_size), faces, workers, desc=LAYOUT)
    return write_info(root, info)
