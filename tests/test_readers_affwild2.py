"""Aff-Wild2 readers: the s-Aff-Wild2 MTL file (markers, de-duplication, per-task counts) and the
per-video track files of the single-task challenges."""

import logging
import re
from pathlib import Path

import pytest
from PIL import Image

from cer.data import (
    DataFormatError,
    MissingImagesError,
    filter_task,
    read_affwild2_mtl,
    read_affwild2_tracks,
    task_counts,
)

HEADER = "image,valence,arousal,expression,AU1,AU2,AU4,AU6,AU7,AU10,AU12,AU15,AU23,AU24,AU25,AU26"
AUS_ON = ",".join(["1", "0"] * 6)
AUS_OFF = ",".join(["-1"] * 12)
ROWS = [
    f"v1/00001.jpg,0.5,-0.25,4,{AUS_ON}",     # every task
    f"v1/00002.jpg,-5,-5,4,{AUS_ON}",         # no VA
    f"v1/00002.jpg,-5,-5,4,{AUS_ON}",         # exact repeat: dropped
    f"v1_left/00001.jpg,0.1,0.2,-1,{AUS_OFF}",  # VA only
    f"v1_right/00003.jpg,-1,1,7,{AUS_ON[:-1]}-1",  # AU26 unannotated: not AU-valid
]


def write_jpeg(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (8, 8), (90, 90, 90)).save(path)


def write_mtl(
    root: Path, rows: list[str], split_file: str = "training_set_annotations.txt", images: bool = True
) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    path = root / split_file
    path.write_text("\n".join([HEADER, *rows]) + "\n")
    if images:
        for row in rows:
            write_jpeg(root / "cropped_aligned" / row.split(",")[0])
    return path


def test_mtl_markers_and_videos(tmp_path):
    write_mtl(tmp_path, ROWS)
    records = read_affwild2_mtl(tmp_path)
    assert len(records) == 4
    first, no_va, va_only, partial_au = records
    assert (first.valence, first.arousal, first.expression, first.space) == (0.5, -0.25, 4, "affwild2-expr")
    assert first.aus == (1, 0) * 6 and first.video == "v1" and first.frame is None
    assert no_va.valence is None and no_va.arousal is None and not no_va.has_va
    assert va_only.expression is None and va_only.aus == (-1,) * 12 and va_only.video == "v1_left"
    assert partial_au.video == "v1_right" and partial_au.au_mask.sum() == 11
    assert first.image == str(tmp_path / "cropped_aligned" / "v1" / "00001.jpg")


def test_mtl_duplicates_counted_and_task_counts(tmp_path):
    write_mtl(tmp_path, ROWS)
    records, stats = read_affwild2_mtl(tmp_path, return_stats=True)
    assert (stats.rows, stats.duplicates, stats.unique, stats.missing_images) == (5, 1, 4, 0)
    assert task_counts(records) == {"au": 2, "va": 3, "expr": 3, "all": 1}
    assert [r.video for r in filter_task(records, "au")] == ["v1", "v1"]
    assert filter_task(records, ("va", "expr")) == [records[0], records[3]]
    assert len(read_affwild2_mtl(tmp_path, deduplicate=False)) == 5
    with pytest.raises(ValueError, match="task='v' is not valid"):
        filter_task(records, "v")


def test_mtl_conflicting_repeat_names_both_lines(tmp_path):
    write_mtl(tmp_path, [ROWS[0], ROWS[0].replace(",4,", ",5,")])
    with pytest.raises(DataFormatError, match=r"listed again with different labels \(first on line 2\)") as info:
        read_affwild2_mtl(tmp_path)
    assert info.value.line == 3
    assert len(read_affwild2_mtl(tmp_path, deduplicate=False)) == 2


def test_mtl_validation_split(tmp_path):
    write_mtl(tmp_path, ROWS[:1], split_file="validation_set_annotations.txt")
    assert len(read_affwild2_mtl(tmp_path, split="validation")) == 1
    with pytest.raises(FileNotFoundError, match="training_set_annotations.txt"):
        read_affwild2_mtl(tmp_path)


@pytest.mark.parametrize(
    "row, message",
    [
        (
            "v1/00009.jpg,0.5,0.5,4,1,0,1",
            "expected 16 comma-separated fields (image,valence,arousal,expression,AU1..AU26), found 7",
        ),
        ("v1/00009.jpg,0.5,0.5,8," + AUS_ON, "label 8 is outside affwild2-expr's range 0..7 (and is not the marker -1"),
        ("v1/00009.jpg,1.5,0.5,4," + AUS_ON, "valence 1.5 is outside [-1, 1] (and is not the marker -5)"),
        ("v1/00009.jpg,0.5,x,4," + AUS_ON, "arousal: expected a number in [-1, 1] or -5, found 'x'"),
        ("v1/00009.jpg,0.5,0.5,4," + AUS_ON[:-1] + "2", "AU26: expected 0, 1 or -1, found '2'"),
        ("v1/00009.jpg,0.5,0.5,2.5," + AUS_ON, "expression: expected an integer 0..7 or -1, found '2.5'"),
        ("00009.jpg,0.5,0.5,4," + AUS_ON, "expected an image path '<video>/<frame number>.jpg'"),
    ],
)
def test_mtl_bad_rows(tmp_path, row, message):
    write_mtl(tmp_path, [ROWS[0], row], images=False)
    with pytest.raises(DataFormatError, match=re.escape(message)) as info:
        read_affwild2_mtl(tmp_path, on_missing="drop")
    assert info.value.line == 3


def test_mtl_wrong_header_and_empty(tmp_path):
    path = write_mtl(tmp_path, ROWS[:1])
    path.write_text(path.read_text().replace("AU26", "AU27"))
    with pytest.raises(DataFormatError, match="expected the header 'image,valence,.*AU26'") as info:
        read_affwild2_mtl(tmp_path)
    assert info.value.line == 1
    path.write_text("")
    with pytest.raises(DataFormatError, match="training_set_annotations.txt: the file is empty"):
        read_affwild2_mtl(tmp_path)


def test_mtl_missing_images(tmp_path, caplog):
    write_mtl(tmp_path, ROWS)
    (tmp_path / "cropped_aligned" / "v1_left" / "00001.jpg").unlink()
    with pytest.raises(MissingImagesError, match="1 of 4 images .*v1_left"):
        read_affwild2_mtl(tmp_path)
    with caplog.at_level(logging.WARNING, logger="cer.data"):
        records, stats = read_affwild2_mtl(tmp_path, on_missing="drop", return_stats=True)
    assert len(records) == 3 and stats.missing_images == 1
    assert "1 of 4 images" in caplog.text


# --- per-video track files ---------------------------------------------------------------------

TRACKS = {
    "VA": ("VA_Estimation_Challenge", "valence,arousal", ["0.5,0.25", "-5,-5", "-0.1,0.9"]),
    # Headers spelled out, not taken from the code under test.
    "EXPR": ("EXPR_Classification_Challenge", "Neutral,Anger,Disgust,Fear,Happiness,Sadness,Surprise,Other",
             ["0", "-1", "6"]),
    "AU": ("AU_Detection_Challenge", "AU1,AU2,AU4,AU6,AU7,AU10,AU12,AU15,AU23,AU24,AU25,AU26",
           [AUS_ON, AUS_OFF, AUS_ON]),
}


def write_track(root: Path, task: str, video: str, lines: list[str] | None = None, split: str = "Train_Set",
                header: str | None = None, frames: int | None = None) -> Path:
    folder, default_header, default_lines = TRACKS[task]
    lines = default_lines if lines is None else lines
    path = root / "Annotations" / folder / split / f"{video}.txt"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join([default_header if header is None else header, *lines]) + "\n")
    for i in range(1, (len(lines) if frames is None else frames) + 1):
        write_jpeg(root / "cropped_aligned" / video / f"{i:05d}.jpg")
    return path


def test_tracks_each_task(tmp_path):
    for task in TRACKS:
        write_track(tmp_path, task, "v2")
        write_track(tmp_path, task, "v1_left")
    va = read_affwild2_tracks(tmp_path, task="VA")
    assert [r.video for r in va] == ["v1_left"] * 3 + ["v2"] * 3  # videos sorted by name
    assert [Path(r.image).name for r in va[:3]] == ["00001.jpg", "00002.jpg", "00003.jpg"]
    assert (va[0].valence, va[0].arousal, va[1].valence, va[0].expression, va[0].aus) == (0.5, 0.25, None, None, None)
    expr = read_affwild2_tracks(tmp_path, task="EXPR")
    assert [r.expression for r in expr[:3]] == [0, None, 6] and expr[0].space == "affwild2-expr"
    au = read_affwild2_tracks(tmp_path, task="AU")
    assert [r.au_mask.sum() for r in au[:3]] == [12, 0, 12] and au[0].valence is None


def test_tracks_validation_split_and_absent_folder(tmp_path):
    write_track(tmp_path, "VA", "v3", split="Validation_Set")
    assert len(read_affwild2_tracks(tmp_path, task="VA", split="validation")) == 3
    with pytest.raises(FileNotFoundError, match="no track files .*VA_Estimation_Challenge/Train_Set"):
        read_affwild2_tracks(tmp_path, task="VA")
    with pytest.raises(ValueError, match="task='ER' is not valid"):
        read_affwild2_tracks(tmp_path, task="ER")


def test_tracks_frames_without_crops_are_dropped_with_a_count(tmp_path, caplog):
    write_track(tmp_path, "EXPR", "v1", frames=2)  # frame 3 annotated, no face crop written
    with pytest.raises(MissingImagesError, match=r"1 of 3 images .* missing: .*v1/00003.jpg"):
        read_affwild2_tracks(tmp_path, task="EXPR")
    with caplog.at_level(logging.WARNING, logger="cer.data"):
        records = read_affwild2_tracks(tmp_path, task="EXPR", on_missing="drop")
    assert len(records) == 2
    assert "1 of 3 images" in caplog.text and "00003.jpg" in caplog.text


def test_tracks_header_must_match_the_task(tmp_path):
    write_track(tmp_path, "VA", "v1", header=TRACKS["AU"][1])
    with pytest.raises(DataFormatError, match="expected the VA header 'valence,arousal'.*this is a AU file") as info:
        read_affwild2_tracks(tmp_path, task="VA")
    assert info.value.line == 1


@pytest.mark.parametrize(
    "task, bad, message",
    [
        ("VA", "0.5", "expected 2 comma-separated VA value(s) per frame, found 1"),
        ("VA", "0.5,-3", "arousal -3 is outside [-1, 1]"),
        ("EXPR", "8", "label 8 is outside affwild2-expr's range 0..7"),
        ("AU", AUS_ON[:-2], "expected 12 comma-separated AU value(s) per frame, found 11"),
    ],
)
def test_tracks_bad_lines(tmp_path, task, bad, message):
    lines = list(TRACKS[task][2])
    lines[1] = bad
    write_track(tmp_path, task, "v1", lines=lines)
    with pytest.raises(DataFormatError, match=re.escape(message)) as info:
        read_affwild2_tracks(tmp_path, task=task)
    assert info.value.line == 3


def test_tracks_empty_file_and_gap(tmp_path):
    path = write_track(tmp_path, "VA", "v1")
    path.write_text("valence,arousal\n0.1,0.1\n\n0.2,0.2\n")
    with pytest.raises(DataFormatError, match="blank line between frames") as info:
        read_affwild2_tracks(tmp_path, task="VA")
    assert info.value.line == 3
    path.write_text("")
    with pytest.raises(DataFormatError, match="v1.txt: the file is empty"):
        read_affwild2_tracks(tmp_path, task="VA")
