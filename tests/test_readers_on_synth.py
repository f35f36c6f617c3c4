"""The readers on the synthetic layouts: they must read back exactly what SYNTH_INFO.json says the
generator wrote (counts per split and class, duplicates, per-task validity, videos, frames)."""

import json
from collections import Counter
from pathlib import Path

import pytest

from cer.data import (
    load_rgb,
    read_affwild2_mtl,
    read_affwild2_tracks,
    read_c_expr_db,
    read_raf_db,
    task_counts,
)
from cer.data.registry import read
from cer.taxonomy import C_EXPR


@pytest.fixture(scope="module")
def synth(tiny_synth) -> Path:
    """The session's tiny synthetic data set (tests/conftest.py), generated once for every test file."""
    return tiny_synth


def info(root: Path) -> dict:
    return json.loads((root / "SYNTH_INFO.json").read_text())


@pytest.mark.parametrize("subset", ["basic", "compound"])
def test_raf_db_counts_per_split_and_class(synth, subset):
    expected = info(synth / "raf-db")[subset]
    for split in ("train", "test"):
        records = read_raf_db(synth / "raf-db", subset=subset, split=split)
        assert len(records) == expected[split]
        per_class = Counter(str(r.expression + 1) for r in records)  # the file's 1-based labels
        assert per_class == Counter({k: v for k, v in expected["per_class"][split].items() if v})
    assert len(read(f"raf-db-{subset}", synth / "raf-db")) == expected["train"] + expected["test"]


def test_raf_db_images_decode_at_the_written_size(synth):
    size = info(synth / "raf-db")["image_size"]
    record = read_raf_db(synth / "raf-db", subset="compound", split="test")[0]
    assert load_rgb(record).shape == (size, size, 3)


@pytest.mark.parametrize("split, key", [("train", "training"), ("validation", "validation")])
def test_affwild2_mtl_rows_duplicates_and_task_counts(synth, split, key):
    root = synth / "aff-wild2"
    expected = info(root)
    records, stats = read_affwild2_mtl(root, split=split, return_stats=True)
    assert (stats.rows, stats.duplicates, stats.unique) == (
        expected[key]["rows"], expected[key]["duplicates"], expected[key]["unique"]
    )
    assert len(records) == expected[key]["unique"] and stats.missing_images == 0
    counts = task_counts(records)
    assert {task: counts[task] for task in ("au", "va", "expr")} == expected[key]["valid"]
    assert {r.video for r in records} == set(expected["videos"][split])
    assert len(read_affwild2_mtl(root, split=split, deduplicate=False)) == expected[key]["rows"]
    assert load_rgb(records[0]).shape == (expected["image_size"], expected["image_size"], 3)


@pytest.mark.parametrize("task", ["VA", "EXPR", "AU"])
def test_affwild2_track_videos(synth, task):
    root = synth / "aff-wild2"
    expected = info(root)
    for split in ("train", "validation"):
        n_videos = expected["tracks"][task][split]
        if n_videos == 0:
            with pytest.raises(FileNotFoundError, match="no track files"):
                read_affwild2_tracks(root, task=task, split=split)
            continue
        records = read_affwild2_tracks(root, task=task, split=split)
        videos = {r.video for r in records}
        assert len(videos) == n_videos
        assert videos <= set(expected["videos"][split])


def test_c_expr_db_frames_and_classes(synth):
    root = synth / "c-expr-db"
    expected = info(root)
    records = read_c_expr_db(root)
    assert len(records) == expected["frames"]
    assert len({r.video for r in records}) == expected["videos"]
    per_class = Counter(C_EXPR.classes[r.expression] for r in records)
    # Keys are class names in the brief's schema; the generator may write C-EXPR indices instead.
    named = {C_EXPR.classes[int(k)] if k.isdigit() else k: v for k, v in expected["per_class_frames"].items()}
    assert per_class == Counter({k: v for k, v in named.items() if v})
    width, height = expected["size"]
    last = max(records, key=lambda r: (r.video, r.frame))
    assert load_rgb(records[0]).shape == load_rgb(last).shape == (height, width, 3)
