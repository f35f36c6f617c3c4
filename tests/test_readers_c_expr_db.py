"""C-EXPR-DB reader: frame list, videos of any supported extension, optional ground truth and crops."""

import logging
import re
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from cer.data import DataFormatError, MissingImagesError, read_c_expr_db
from cer.taxonomy import C_EXPR

HEADER = "image_location," + ",".join(C_EXPR.classes)


def write_video(path: Path, frames: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264" if path.suffix == ".mp4" else "mpeg4", rate=25)
        stream.width, stream.height, stream.pix_fmt = 32, 32, "yuv420p"
        for i in range(frames):
            image = np.full((32, 32, 3), 20 * i, dtype=np.uint8)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        container.mux(stream.encode())


def write_db(root: Path, frames: dict[str, int], truth: list[str] | None = None, ext: str = ".mp4") -> None:
    lines = [f"{video}/{i:05d}.jpg" for video, n in frames.items() for i in range(1, n + 1)]
    root.mkdir(parents=True, exist_ok=True)
    (root / "frame_list.txt").write_text("\n".join(lines) + "\n")
    for video, n in frames.items():
        write_video(root / "videos" / f"{video}{ext}", n)
    if truth is not None:
        (root / "ground_truth.csv").write_text("\n".join([HEADER, *truth]) + "\n")


def test_frames_of_videos_with_labels(tmp_path):
    truth = ["01/00001.jpg,0", "01/00002.jpg,6", "01/00003.jpg,6", "02/00001.jpg,1", "02/00002.jpg,1"]
    write_db(tmp_path, {"01": 3, "02": 2}, truth)
    records = read_c_expr_db(tmp_path)
    assert [(r.video, r.frame) for r in records] == [("01", 1), ("01", 2), ("01", 3), ("02", 1), ("02", 2)]
    assert records[0].image == str(tmp_path / "videos" / "01.mp4")
    assert [C_EXPR.classes[r.expression] for r in records[:2]] == ["Fearfully_Surprised", "Sadly_Angry"]
    assert {r.space for r in records} == {"c-expr"}


def test_without_ground_truth_and_other_extension(tmp_path):
    write_db(tmp_path, {"07": 2}, ext=".avi")
    records = read_c_expr_db(tmp_path)
    assert [r.expression for r in records] == [None, None]
    assert records[0].image.endswith("07.avi")


def test_partial_ground_truth_is_logged(tmp_path, caplog):
    write_db(tmp_path, {"01": 3}, ["01/00002.jpg,3"])
    with caplog.at_level(logging.WARNING, logger="cer.data"):
        records = read_c_expr_db(tmp_path)
    assert [r.expression for r in records] == [None, 3, None]
    assert "labels 1 of the 3 listed frames" in caplog.text


def test_crops_replace_video_frames(tmp_path):
    write_db(tmp_path, {"01": 2}, ["01/00001.jpg,2", "01/00002.jpg,2"])
    for i in (1, 2):
        (tmp_path / "cropped_aligned" / "01").mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (8, 8)).save(tmp_path / "cropped_aligned" / "01" / f"{i:05d}.jpg")
    records = read_c_expr_db(tmp_path)
    assert [(r.frame, Path(r.image).name, r.video, r.expression) for r in records] == [
        (None, "00001.jpg", "01", 2), (None, "00002.jpg", "01", 2)
    ]


def test_missing_video_error_and_drop(tmp_path, caplog):
    write_db(tmp_path, {"01": 2})
    (tmp_path / "frame_list.txt").write_text("01/00001.jpg\n01/00002.jpg\n02/00001.jpg\n")
    with pytest.raises(MissingImagesError, match=re.escape("1 of 3 images") + ".*02.mp4#1"):
        read_c_expr_db(tmp_path)
    with caplog.at_level(logging.WARNING, logger="cer.data"):
        assert len(read_c_expr_db(tmp_path, on_missing="drop")) == 2
    assert "1 of 3 images" in caplog.text


@pytest.mark.parametrize(
    "truth, line, message",
    [
        (["01/00001.jpg,7"], 2, "label 7 is outside c-expr's range 0..6"),
        (["01/00001.jpg"], 2, "expected 2 comma-separated fields (image_location,index), found 1"),
        (["01/00009.jpg,1"], 2, "01/00009.jpg is not in frame_list.txt"),
        (["01/00001.jpg,1", "01/00001.jpg,1"], 3, "01/00001.jpg is labelled twice"),
        (["01/00001.jpg,sad"], 2, "expected a class index 0..6, found 'sad'"),
    ],
)
def test_bad_ground_truth(tmp_path, truth, line, message):
    write_db(tmp_path, {"01": 2}, truth)
    with pytest.raises(DataFormatError, match=re.escape(message)) as info:
        read_c_expr_db(tmp_path)
    assert info.value.line == line and info.value.file.endswith("ground_truth.csv")


def test_wrong_header_order(tmp_path):
    write_db(tmp_path, {"01": 1}, ["01/00001.jpg,0"])
    swapped = HEADER.replace("Fearfully_Surprised,Happily_Surprised", "Happily_Surprised,Fearfully_Surprised")
    (tmp_path / "ground_truth.csv").write_text(swapped + "\n01/00001.jpg,0\n")
    with pytest.raises(DataFormatError, match="expected the header 'image_location,Fearfully_Surprised,.*C-EXPR order"):
        read_c_expr_db(tmp_path)


def test_bad_frame_list(tmp_path):
    write_db(tmp_path, {"01": 1})
    (tmp_path / "frame_list.txt").write_text("01/00001.jpg\n01/first.jpg\n")
    with pytest.raises(DataFormatError, match="expected a frame name 'VV/NNNNN.jpg'") as info:
        read_c_expr_db(tmp_path)
    assert info.value.line == 2
    (tmp_path / "frame_list.txt").write_text("01/00001.jpg\n01/00001.jpg\n")
    with pytest.raises(DataFormatError, match=re.escape("listed again (first on line 1)")):
        read_c_expr_db(tmp_path)
    (tmp_path / "frame_list.txt").write_text("\n")
    with pytest.raises(DataFormatError, match="frame_list.txt: the file is empty"):
        read_c_expr_db(tmp_path)
    with pytest.raises(FileNotFoundError, match="no frame_list.txt"):
        read_c_expr_db(tmp_path / "videos")
