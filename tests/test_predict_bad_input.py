"""``cer predict`` with bad input: every case is reported in summary.csv, the other inputs are
processed completely, nothing half-written is left, the exit code says whether something failed,
and ``--skip-done`` re-runs only what is missing.

Robustness does not depend on what the model learned, so the model here is a freshly initialised
compact ViT saved in the trained-model format (the pipeline tests use a trained one).
"""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from cer.predict.command import predict as predict_command
from cer.predict.outputs import atomic_text
from cer.taxonomy import C_EXPR


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    import torch

    from cer.models.backbone import create_backbone
    from cer.models.trained import save_classifier
    from cer.taxonomy import CE_BASIC

    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("model") / "best"
    save_classifier(create_backbone("vit_face_tiny", 32, 6), folder, "vit_face_tiny", 32, {
        "label_space": CE_BASIC.name,
        "classes": list(CE_BASIC.classes), "mean": [0.5] * 3, "std": [0.5] * 3, "constrain": "c-expr",
    })
    return folder


def write_video(path: Path, frames: list[np.ndarray], options: dict | None = None) -> Path:
    import av

    with av.open(str(path), "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=25, options={"threads": "1", **(options or {})})
        stream.height, stream.width = frames[0].shape[:2]
        stream.pix_fmt = "yuv420p"
        for image in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def corrupt_packet(video: Path, out: Path, index: int) -> Path:
    """A copy of ``video`` whose ``index``-th packet is replaced by garbage behind a start code, so
    that the decoder rejects that frame and goes on."""
    import av

    with av.open(str(video)) as container:
        packets = [(p.pos, p.size) for p in container.demux(container.streams.video[0]) if p.size]
    pos, size = packets[index]
    data = bytearray(video.read_bytes())
    noise = np.random.default_rng(0).integers(0, 256, size - 4, dtype=np.uint8).tobytes()
    data[pos:pos + size] = b"\x00\x00\x00\x01" + noise
    out.write_bytes(bytes(data))
    return out


def gradient_frames(n: int) -> list[np.ndarray]:
    """A smooth colour sweep: nothing a face detector could mistake for a face."""
    y, x = np.mgrid[0:96, 0:128]
    return [np.stack([(x * 2 + 8 * i) % 256, (y * 2) % 256, np.full_like(x, 40 + 5 * i)], -1).astype(np.uint8)
            for i in range(n)]


def frame_count(video: Path) -> int:
    import av

    with av.open(str(video)) as container:
        return sum(1 for _ in container.decode(video=0))


def read_summary(out: Path) -> dict[str, dict[str, str]]:
    with open(out / "summary.csv", newline="") as handle:
        return {row["name"]: row for row in csv.DictReader(handle)}


def csv_rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def bad_batch(tiny_synth, tmp_path_factory) -> Path:
    """A folder mixing good synthetic face videos with every kind of bad input."""
    folder = tmp_path_factory.mktemp("bad-batch")
    good = sorted((tiny_synth / "c-expr-db" / "videos").glob("*.mp4"))
    shutil.copy(good[0], folder / "good.mp4")
    (folder / "empty.mp4").write_bytes(b"")
    (folder / "notes.mp4").write_text("these are my notes, not a video\n" * 20)
    data = good[1].read_bytes()
    (folder / "truncated.mp4").write_bytes(data[: len(data) // 2])
    write_video(folder / "noface.mp4", gradient_frames(12))
    corrupt_packet(good[2], folder / "glitch.mp4", index=10)
    (folder / "readme.txt").write_text("not an input")
    return folder


@pytest.fixture(scope="module")
def first_run(bad_batch, model_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("out") / "predictions"
    result = CliRunner().invoke(predict_command, [
        str(bad_batch), "--model", str(model_dir), "--out", str(out),
        "--submission", str(out.parent / "submission.csv"),
    ])
    return result, out


def test_each_bad_input_is_reported_with_its_reason(first_run, bad_batch):
    result, out = first_run
    summary = read_summary(out)
    assert set(summary) == {"empty", "glitch", "good", "noface", "notes", "truncated"}
    assert summary["good"]["status"] == "ok" and summary["good"]["reason"] == ""
    assert summary["empty"]["status"] == "failed" and "empty (0 bytes)" in summary["empty"]["reason"]
    assert summary["notes"]["status"] == "failed" and "cannot open it as a video" in summary["notes"]["reason"]
    assert summary["truncated"]["status"] == "failed" and "truncated" in summary["truncated"]["reason"]
    for name in ("empty", "notes", "truncated"):
        assert str(bad_batch / f"{name}.mp4") in summary[name]["reason"]  # the file is named
    assert summary["noface"]["status"] == "no_face" and "no face" in summary["noface"]["reason"]
    assert summary["glitch"]["status"] == "damaged"
    assert "could not be decoded" in summary["glitch"]["reason"]
    assert "left out 1 file" in result.output  # readme.txt


def test_exit_code_is_nonzero_because_some_inputs_failed(first_run):
    result, _ = first_run
    assert result.exit_code == 1
    assert "videos done 3, failed 3" in result.output
    for name in ("empty", "notes", "truncated"):
        assert f"{name}.mp4" in result.output


def test_good_inputs_are_processed_completely_and_nothing_half_written_is_left(first_run, bad_batch, tiny_synth):
    _, out = first_run
    assert sorted(p.name for p in out.iterdir()) == ["glitch.csv", "good.csv", "noface.csv", "summary.csv"]
    good = csv_rows(out / "good.csv")
    assert [int(r["frame"]) for r in good] == list(range(1, frame_count(bad_batch / "good.mp4") + 1))
    # glitch.mp4 is video 03 with one packet broken: still one row per frame of the original.
    listed = (tiny_synth / "c-expr-db" / "frame_list.txt").read_text().split()
    glitch = csv_rows(out / "glitch.csv")
    assert [int(r["frame"]) for r in glitch] == list(range(1, sum(n.startswith("03/") for n in listed) + 1))
    undecoded = [r for r in glitch if r["success"] == "0"]
    assert undecoded and all(r["label"] in C_EXPR.classes for r in undecoded)  # interpolated labels


def test_a_video_without_faces_gets_rows_without_success(first_run):
    _, out = first_run
    rows = csv_rows(out / "noface.csv")
    assert len(rows) == 12 and all(r["success"] == "0" and r["label"] == "" and r["x"] == "" for r in rows)


def test_submission_covers_every_frame_of_the_inputs_that_did_not_fail(first_run, bad_batch):
    _, out = first_run
    lines = (out.parent / "submission.csv").read_text().splitlines()
    assert lines[0] == "image_location," + ",".join(C_EXPR.classes)
    names = [line.split(",")[0] for line in lines[1:]]
    videos = [n.split("/")[0] for n in names]
    assert sorted(set(videos)) == ["glitch", "good", "noface"]
    assert videos.count("noface") == 12
    assert videos.count("good") == frame_count(bad_batch / "good.mp4")
    assert all(0 <= int(line.split(",")[1]) < len(C_EXPR) for line in lines[1:])


def test_skip_done_reruns_only_what_is_missing(first_run, bad_batch, model_dir, tmp_path):
    _, out = first_run
    batch = tmp_path / "batch"
    shutil.copytree(bad_batch, batch)
    kept = {p.name: p.read_bytes() for p in out.glob("*.csv") if p.name != "summary.csv"}
    # The user fixes one broken file and runs again with --skip-done.
    shutil.copy(batch / "good.mp4", batch / "truncated.mp4")
    result = CliRunner().invoke(predict_command, [
        str(batch), "--model", str(model_dir), "--out", str(out), "--skip-done",
    ])
    assert result.exit_code == 1  # empty.mp4 and notes.mp4 still fail
    summary = read_summary(out)
    assert {n: s["status"] for n, s in summary.items()} == {
        "empty": "failed", "glitch": "done", "good": "done", "noface": "done", "notes": "failed",
        "truncated": "ok",
    }
    assert "videos done 4, failed 2" in result.output
    for name, data in kept.items():
        assert (out / name).read_bytes() == data  # finished inputs untouched
    assert (out / "truncated.csv").read_bytes() == kept["good.csv"]  # same video, same rows
    assert summary["good"]["frames"] == summary["truncated"]["frames"]


def test_existing_outputs_are_not_replaced_without_overwrite(first_run, bad_batch, model_dir):
    _, out = first_run
    before = (out / "good.csv").read_bytes()
    result = CliRunner().invoke(predict_command, [str(bad_batch / "good.mp4"), "--model", str(model_dir),
                                                  "--out", str(out)])
    assert result.exit_code != 0
    assert "already exist" in result.output and "--overwrite" in result.output
    assert (out / "good.csv").read_bytes() == before


def test_only_no_face_and_damaged_inputs_exit_zero(bad_batch, model_dir, tmp_path):
    result = CliRunner().invoke(predict_command, [
        str(bad_batch / "noface.mp4"), str(bad_batch / "glitch.mp4"), "--model", str(model_dir),
        "--out", str(tmp_path),
    ])
    assert result.exit_code == 0, result.output
    assert "videos done 2, failed 0" in result.output


def test_an_interrupted_write_leaves_neither_file_nor_temporary(tmp_path):
    target = tmp_path / "video.csv"
    with pytest.raises(RuntimeError):
        with atomic_text(target) as handle:
            handle.write("frame,label\n1,")
            raise RuntimeError("killed mid-video")
    assert list(tmp_path.iterdir()) == []
