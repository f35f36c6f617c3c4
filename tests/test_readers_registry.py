"""Readers by name: dispatch, fixed subset options, and errors that say what is valid."""

import pytest
from PIL import Image

from cer.data.registry import READERS, read, reader_options


def test_names_and_options():
    assert set(READERS) == {"raf-db-basic", "raf-db-compound", "affectnet", "aff-wild2-mtl", "aff-wild2-tracks",
                            "c-expr-db", "manifest", "image-folder"}
    assert reader_options("raf-db-basic") == ("split", "on_missing")  # subset is fixed by the name
    assert reader_options("aff-wild2-mtl") == ("split", "deduplicate", "on_missing")


def test_read_dispatches_with_options(tmp_path):
    folder = tmp_path / "compound"
    (folder / "EmoLabel").mkdir(parents=True)
    (folder / "EmoLabel" / "list_patition_label.txt").write_text("train_0001.jpg 3\ntest_0001.jpg 4\n")
    (folder / "Image" / "aligned").mkdir(parents=True)
    Image.new("RGB", (4, 4)).save(folder / "Image" / "aligned" / "test_0001_aligned.jpg")
    records = read("raf-db-compound", tmp_path, split="test")
    assert [(r.space, r.expression) for r in records] == [("raf-compound", 3)]


def test_unknown_reader_suggests_the_closest():
    message = r"unknown reader 'raf-db' \(did you mean 'raf-db-basic'\?\); valid readers: raf-db-basic, "
    with pytest.raises(ValueError, match=message):
        read("raf-db", "x")


def test_unknown_option_lists_the_valid_ones():
    message = r"no option\(s\) 'splt' \(did you mean 'split' for 'splt'\?\); its options: split, on_missing"
    with pytest.raises(TypeError, match=message):
        read("raf-db-basic", "x", splt="train")
    with pytest.raises(TypeError, match="no option.*'subset'"):
        read("raf-db-basic", "x", subset="compound")


def test_required_options_are_named():
    with pytest.raises(TypeError, match="reader 'image-folder' needs option\\(s\\) classes, space"):
        read("image-folder", "x")
