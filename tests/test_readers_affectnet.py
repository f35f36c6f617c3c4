"""AffectNet CSV reader: header, classes 0-7, non-faces 8-10, the -2 "not rated" marker."""

import logging
import re
from pathlib import Path

import pytest
from PIL import Image

from cer.data import DataFormatError, MissingImagesError, read_affectnet
from cer.taxonomy import AFFECTNET

HEADER = "subDirectory_filePath,face_x,face_y,face_width,face_height,facial_landmarks,expression,valence,arousal"
LANDMARKS = '"1.5;2.5;3.5;4.5"'
ROWS = [
    f"12/a.jpg,10,10,80,80,{LANDMARKS},1,0.785714,-0.055556",
    f"12/b.jpg,0,0,90,90,{LANDMARKS},7,-2,-2",
    f"13/c.jpg,5,5,50,50,{LANDMARKS},10,-2,-2",
    f"13/d.jpg,5,5,50,50,{LANDMARKS},8,-2,-2",
]


def write_csv(root: Path, rows: list[str], images: bool = True) -> Path:
    path = root / "lists" / "training.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join([HEADER, *rows]) + "\n")
    if images:
        for row in rows:
            image = root / "images" / row.split(",")[0]
            image.parent.mkdir(parents=True, exist_ok=True)
            Image.new("RGB", (8, 8)).save(image)
    return path


def test_faces_read_non_faces_dropped_with_a_count(tmp_path, caplog):
    path = write_csv(tmp_path, ROWS)
    with caplog.at_level(logging.WARNING, logger="cer.data"):
        records = read_affectnet(path, image_root=tmp_path / "images")
    assert [AFFECTNET.classes[r.expression] for r in records] == ["Happy", "Contempt"]
    assert (records[0].valence, records[0].arousal) == (0.785714, -0.055556)
    assert records[1].valence is None and not records[1].has_va
    assert records[0].image == str(tmp_path / "images" / "12" / "a.jpg")
    assert "dropped 2 rows that are not face expressions (1 No-Face, 1 None)" in caplog.text


def test_non_faces_error(tmp_path):
    path = write_csv(tmp_path, ROWS)
    with pytest.raises(DataFormatError, match=re.escape("expression 10 (No-Face) is not a face class")) as info:
        read_affectnet(path, image_root=tmp_path / "images", non_faces="error")
    assert info.value.line == 4


def test_default_image_root_is_the_csv_folder(tmp_path, caplog):
    path = write_csv(tmp_path, ROWS[:1], images=False)
    with pytest.raises(MissingImagesError, match=re.escape(str(tmp_path / "lists" / "12" / "a.jpg"))):
        read_affectnet(path)
    with caplog.at_level(logging.WARNING, logger="cer.data"):
        assert read_affectnet(path, on_missing="drop") == []
    assert "1 of 1 images" in caplog.text


@pytest.mark.parametrize(
    "row, message",
    [
        (f"12/e.jpg,1,1,9,9,{LANDMARKS},11,0,0", "label 11 is outside affectnet's range 0..7 (or 8-10 for non-faces)"),
        (f"12/e.jpg,1,1,9,9,{LANDMARKS},2,1.5,0", "valence 1.5 is outside [-1, 1] (and is not the marker -2)"),
        ("12/e.jpg,1,1,9,9,1;2,2,0", "expected 9 comma-separated fields"),
        (f"12/e.jpg,x,1,9,9,{LANDMARKS},2,0,0", "face_x: expected a number, found 'x'"),
        (f"12/e.jpg,1,1,9,9,{LANDMARKS},2.5,0,0", "expression: expected an integer 0..10, found '2.5'"),
    ],
)
def test_bad_rows(tmp_path, row, message):
    path = write_csv(tmp_path, [ROWS[0], row], images=False)
    with pytest.raises(DataFormatError, match=re.escape(message)) as info:
        read_affectnet(path, on_missing="drop")
    assert info.value.line == 3


def test_header_and_empty(tmp_path):
    path = write_csv(tmp_path, ROWS[:1], images=False)
    path.write_text(path.read_text().replace("expression", "emotion"))
    with pytest.raises(DataFormatError, match="expected the header 'subDirectory_filePath,"):
        read_affectnet(path)
    path.write_text("\n")
    with pytest.raises(DataFormatError, match="training.csv: the file is empty"):
        read_affectnet(path)
