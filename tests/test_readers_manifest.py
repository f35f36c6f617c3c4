"""Generic readers: CSV/JSONL manifests and class folders with explicit class names."""

import json
import logging
import re
from pathlib import Path

import pytest
from PIL import Image

from cer.data import DataFormatError, MissingImagesError, read_image_folder, read_manifest
from cer.taxonomy import RAF_BASIC


def write_jpeg(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (8, 8)).save(path)


def test_csv_manifest_all_columns(tmp_path):
    for name in ("a.jpg", "b.jpg"):
        write_jpeg(tmp_path / "faces" / name)
    (tmp_path / "clip.mp4").write_bytes(b"")
    path = tmp_path / "m.csv"
    path.write_text(
        "image,frame,video,subject,space,expression,aus,valence,arousal\n"
        "faces/a.jpg,,v1,s1,raf-basic,Happiness,,0.5,0.25\n"
        "faces/b.jpg,,,,raf-basic,2,1;0;1;0;1;0;1;0;1;0;-1;-1,,\n"
        "clip.mp4,3,,,,,,,\n"
    )
    a, b, clip = read_manifest(path)
    assert a.image == str(tmp_path / "faces" / "a.jpg")
    assert (a.video, a.subject, a.space, a.expression, a.valence, a.arousal) == ("v1", "s1", "raf-basic", 3, 0.5, 0.25)
    assert RAF_BASIC.classes[a.expression] == "Happiness" and a.aus is None
    assert b.expression == 2 and b.aus == (1, 0, 1, 0, 1, 0, 1, 0, 1, 0, -1, -1) and b.valence is None
    assert (clip.frame, clip.space, clip.expression) == (3, None, None)


def test_jsonl_manifest_and_root(tmp_path):
    write_jpeg(tmp_path / "data" / "a.jpg")
    path = tmp_path / "lists" / "m.jsonl"
    path.parent.mkdir()
    rows = [
        {"image": "a.jpg", "space": "c-expr", "expression": 6, "aus": [0] * 12, "valence": None},
        {"image": "a.jpg", "space": "c-expr", "expression": "sadly angry", "arousal": float("nan")},
        {"image": str(tmp_path / "data" / "a.jpg"), "expression": -1},
    ]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n\n")
    first, second, third = read_manifest(path, root=tmp_path / "data")
    assert first.expression == second.expression == 6 and first.aus == (0,) * 12
    assert second.arousal is None and third.expression is None
    assert third.image == first.image == str(tmp_path / "data" / "a.jpg")


@pytest.mark.parametrize(
    "content, line, message",
    [
        ("image,label,emotion\na.jpg,1,2\n", 1, "unknown column(s) 'label', 'emotion'; known: image, frame, video"),
        ("video\nv1\n", 1, "the required column 'image' is missing"),
        ("image,space,expression\na.jpg,raf-basic,9\n", 2, "expression 9 is outside raf-basic's 0-based range 0..6"),
        ("image,space,expression\na.jpg,raf-basic,Joy\n", 2, "'Joy' is not a class of raf-basic"),
        ("image,space,expression\na.jpg,raf,1\n", 2, "unknown label space 'raf'; known: ce-basic"),
        ("image,expression\na.jpg,1\n", 2, "expression '1' needs a 'space' column"),
        ("image,aus\na.jpg,1;0\n", 2, "aus: expected 12 values (AU1, AU2"),
        ("image,aus\na.jpg,1;0;1;0;1;0;1;0;1;0;1;2\n", 2, "aus: expected values 0, 1 or -1"),
        ("image,valence\na.jpg,2\n", 2, "valence 2 is outside [-1, 1]"),
        ("image,frame\na.jpg,0\n", 2, "frame 0: frame numbers start at 1"),
        ("image,frame\na.jpg\n", 2, "expected 2 comma-separated fields (image,frame), found 1"),
        ("image,video\n,v1\n", 2, "image is empty"),
    ],
)
def test_bad_csv(tmp_path, content, line, message):
    path = tmp_path / "m.csv"
    path.write_text(content)
    with pytest.raises(DataFormatError, match=re.escape(message)) as info:
        read_manifest(path, on_missing="drop")
    assert info.value.line == line


def test_bad_jsonl_and_empty_and_extension(tmp_path):
    path = tmp_path / "m.jsonl"
    path.write_text('{"image": "a.jpg"}\n{"image": "b.jpg", "emotion": 1}\n')
    with pytest.raises(DataFormatError, match="unknown column.*'emotion'") as info:
        read_manifest(path)
    assert info.value.line == 2
    path.write_text('{"image": "a.jpg"\n')
    with pytest.raises(DataFormatError, match="expected one JSON object per line"):
        read_manifest(path)
    path.write_text("")
    with pytest.raises(DataFormatError, match="m.jsonl: the file is empty"):
        read_manifest(path)
    with pytest.raises(ValueError, match="must be .csv or .jsonl"):
        read_manifest(tmp_path / "m.txt")


def test_manifest_missing_images(tmp_path, caplog):
    write_jpeg(tmp_path / "a.jpg")
    path = tmp_path / "m.csv"
    path.write_text("image\na.jpg\nb.jpg\nc.jpg\n")
    with pytest.raises(MissingImagesError, match="2 of 3 images.*b.jpg, .*c.jpg"):
        read_manifest(path)
    with caplog.at_level(logging.WARNING, logger="cer.data"):
        assert len(read_manifest(path, on_missing="drop")) == 1
    assert "2 of 3 images" in caplog.text


# --- class folders --------------------------------------------------------------------------------


def make_folders(root: Path, names: dict[str, int]) -> None:
    for name, n in names.items():
        (root / name).mkdir(parents=True)
        for i in range(n):
            write_jpeg(root / name / f"{i}.png")


def test_image_folder_uses_the_label_space_not_the_alphabet(tmp_path):
    make_folders(tmp_path, {"Anger": 1, "Surprise": 2, "sadness": 1})
    (tmp_path / "Surprise" / "notes.txt").write_text("not an image")
    (tmp_path / ".cache").mkdir()
    records = read_image_folder(tmp_path, ["Surprise", "Anger", "sadness"], "raf-basic")
    assert [r.expression for r in records] == [0, 0, 5, 4]  # RAF order: Surprise=0, Anger=5, Sadness=4
    assert {r.space for r in records} == {"raf-basic"}
    assert [Path(r.image).name for r in records[:2]] == ["0.png", "1.png"]


def test_image_folder_errors(tmp_path, caplog):
    make_folders(tmp_path, {"Anger": 1, "Fear": 1})
    with pytest.raises(FileNotFoundError, match="no folder for class.*Disgust"):
        read_image_folder(tmp_path, ["Anger", "Fear", "Disgust"], "raf-basic")
    with pytest.raises(ValueError, match="folder.*Fear that are not in classes"):
        read_image_folder(tmp_path, ["Anger"], "raf-basic")
    with pytest.raises(ValueError, match="'Rage' is not a class of raf-basic"):
        read_image_folder(tmp_path, ["Rage"], "raf-basic")
    with pytest.raises(ValueError, match="unknown label space 'raf'"):
        read_image_folder(tmp_path, ["Anger"], "raf")
    (tmp_path / "Fear" / "0.png").unlink()
    (tmp_path / "Fear" / "0.png").symlink_to(tmp_path / "gone.png")
    with pytest.raises(MissingImagesError, match="1 of 2 images"):
        read_image_folder(tmp_path, ["Anger", "Fear"], "raf-basic")
    with caplog.at_level(logging.WARNING, logger="cer.data"):
        assert len(read_image_folder(tmp_path, ["Anger", "Fear"], "raf-basic", on_missing="drop")) == 1
    assert "1 of 2 images" in caplog.text
