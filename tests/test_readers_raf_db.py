"""RAF-DB reader: layout, label indices, splits, and the errors a broken copy gives."""

import logging
import re
from pathlib import Path

import pytest
from PIL import Image

from cer.data import DataFormatError, MissingImagesError, read_raf_db
from cer.taxonomy import RAF_BASIC, RAF_COMPOUND

BASIC_LINES = ["train_00001.jpg 5", "train_00002.jpg 1", "test_0001.jpg 7"]


def write_subset(root: Path, subset: str, lines: list[str], images: bool = True) -> Path:
    folder = root / subset
    (folder / "EmoLabel").mkdir(parents=True)
    (folder / "EmoLabel" / "list_patition_label.txt").write_text("\n".join(lines) + "\n")
    (folder / "Image" / "aligned").mkdir(parents=True)
    if images:
        for line in lines:
            stem = line.split()[0].rsplit(".", 1)[0]
            Image.new("RGB", (8, 8), (120, 80, 60)).save(folder / "Image" / "aligned" / f"{stem}_aligned.jpg")
    return folder


def test_basic_records_indices_and_splits(tmp_path):
    write_subset(tmp_path, "basic", BASIC_LINES)
    records = read_raf_db(tmp_path)
    assert [r.expression for r in records] == [4, 0, 6]  # 1-based Sadness/Surprise/Neutral -> 0-based
    assert {r.space for r in records} == {"raf-basic"}
    assert RAF_BASIC.classes[records[0].expression] == "Sadness"
    assert records[0].image.endswith("basic/Image/aligned/train_00001_aligned.jpg")
    assert len(read_raf_db(tmp_path, split="train")) == 2
    assert [Path(r.image).name for r in read_raf_db(tmp_path, split="test")] == ["test_0001_aligned.jpg"]


def test_root_may_be_the_subset_folder(tmp_path):
    folder = write_subset(tmp_path, "basic", BASIC_LINES)
    assert read_raf_db(folder) == read_raf_db(tmp_path)
    with pytest.raises(ValueError, match="'basic' folder but subset='compound'"):
        read_raf_db(folder, subset="compound")


def test_compound_uses_the_compound_space(tmp_path):
    write_subset(tmp_path, "compound", ["train_0001.jpg 11", "test_0001.jpg 1"])
    records = read_raf_db(tmp_path, subset="compound")
    assert [RAF_COMPOUND.classes[r.expression] for r in records] == ["Disgustedly surprised", "Happily surprised"]
    assert {r.space for r in records} == {"raf-compound"}


@pytest.mark.parametrize(
    "line, message",
    [
        ("train_00003.jpg 9", "label 9 is outside raf-basic's range 1..7"),
        ("train_00003.jpg 0", "label 0 is outside raf-basic's range 1..7"),
        ("train_00003.jpg", "expected 2 space-separated fields"),
        ("train_00003.jpg happy", "expected an integer label, found 'happy'"),
        ("val_00003.jpg 2", "expected an image name like 'train_00001.jpg'"),
        ("train_00001.jpg 2", "listed again (first on line 1)"),
    ],
)
def test_bad_lines_name_file_and_line(tmp_path, line, message):
    write_subset(tmp_path, "basic", BASIC_LINES[:2] + [line], images=False)
    with pytest.raises(DataFormatError, match=re.escape(message)) as info:
        read_raf_db(tmp_path, on_missing="drop")
    assert info.value.line == 3
    assert info.value.file.endswith("list_patition_label.txt")


def test_empty_label_file(tmp_path):
    write_subset(tmp_path, "basic", [""], images=False)
    with pytest.raises(DataFormatError, match="empty"):
        read_raf_db(tmp_path)


def test_missing_images_error_or_drop(tmp_path, caplog):
    folder = write_subset(tmp_path, "basic", BASIC_LINES)
    (folder / "Image" / "aligned" / "train_00002_aligned.jpg").unlink()
    with pytest.raises(MissingImagesError, match="1 of 3 images .* missing: .*train_00002_aligned.jpg.*'drop'"):
        read_raf_db(tmp_path)
    with caplog.at_level(logging.WARNING, logger="cer.data"):
        records = read_raf_db(tmp_path, on_missing="drop")
    assert len(records) == 2
    assert "1 of 3 images" in caplog.text and "train_00002_aligned.jpg" in caplog.text


def test_bad_arguments_and_absent_root(tmp_path):
    write_subset(tmp_path, "basic", BASIC_LINES)
    with pytest.raises(ValueError, match="split='val' is not valid"):
        read_raf_db(tmp_path, split="val")
    with pytest.raises(ValueError, match="on_missing='skip' is not valid"):
        read_raf_db(tmp_path, on_missing="skip")
    with pytest.raises(FileNotFoundError, match="holds basic/ and compound/"):
        read_raf_db(tmp_path / "nowhere")
