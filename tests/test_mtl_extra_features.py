"""Extra per-frame feature streams (fuse.extra, mtl/extra_features.py): a folder of <video>.npy or
<video>.csv files read frame by frame (row i = frame i, from 1), the errors that name the file (and
line), and a run's streams reaching the model beside the visual features."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from tiny_mtl import TINY_IMG, write_csv, write_stream

from cer.config import ConfigError, load_config
from cer.data.record import FaceRecord
from mtl.config import MTLConfig
from mtl.extra_features import FeatureFileError, FrameFeatures
from mtl.sequences import frame_number

TABLE = np.arange(12, dtype=np.float32).reshape(4, 3) / 4  # 4 frames x 3 features


def frames(video: str, *numbers: int) -> list[FaceRecord]:
    """Aff-Wild2 style frames: <video>/<number>.jpg."""
    return [FaceRecord(image=f"/data/cropped_aligned/{video}/{n:05d}.jpg", video=video) for n in numbers]


def test_npy_rows_are_frames_counted_from_one(tmp_path):
    np.save(tmp_path / "vid.npy", TABLE)
    np.save(tmp_path / "other.npy", TABLE + 100)
    video_file = [FaceRecord(image="/videos/other.mp4", frame=2, video="other")]  # FaceRecord.frame, 1-based
    got = FrameFeatures(tmp_path, "audio").of(frames("vid", 3, 1, 4) + video_file)
    np.testing.assert_array_equal(got, [TABLE[2], TABLE[0], TABLE[3], TABLE[1] + 100])
    assert got.dtype == np.float32


@pytest.mark.parametrize("header", ["f0,f1,f2", None])
def test_csv_reads_as_npy_with_or_without_a_header(tmp_path, header):
    np.save(tmp_path / "a.npy", TABLE)
    (tmp_path / "csv").mkdir()
    write_csv(tmp_path / "csv" / "a.csv", TABLE.tolist(), header)
    records = frames("a", 1, 2, 3, 4)
    np.testing.assert_array_equal(FrameFeatures(tmp_path / "csv", "au").of(records),
                                  FrameFeatures(tmp_path, "au").of(records))


def test_a_file_may_hold_frames_that_were_not_read(tmp_path):
    np.save(tmp_path / "v.npy", np.zeros((50, 2)))  # a longer video: its frames without a face are not records
    assert FrameFeatures(tmp_path, "x").of(frames("v", 7)).shape == (1, 2)


def error_of(folder: Path, records, **kw) -> str:
    with pytest.raises(FeatureFileError) as err:
        FrameFeatures(folder, "audio", **kw).of(records)
    return str(err.value)


def test_a_missing_file_names_the_file_expected(tmp_path):
    np.save(tmp_path / "a.npy", TABLE)
    message = error_of(tmp_path, frames("a", 1) + frames("b", 1))
    assert f"no feature file for video b: expected {tmp_path / 'b'}.npy or .csv" in message
    with pytest.raises(FeatureFileError, match="is not a folder"):
        FrameFeatures(tmp_path / "nowhere", "audio")


def test_too_few_rows_names_the_file_and_for_csv_its_last_line(tmp_path):
    np.save(tmp_path / "a.npy", TABLE)
    assert error_of(tmp_path, frames("a", 2, 5)) == (
        f"{tmp_path / 'a.npy'} holds 4 rows, but frame 5 of video a is read: one row per frame, row i = frame i, "
        "so the file needs at least 5 rows")
    (tmp_path / "csv").mkdir()
    write_csv(tmp_path / "csv" / "a.csv", TABLE.tolist())  # header on line 1, rows on lines 2-5
    assert f"{tmp_path / 'csv' / 'a.csv'} holds 4 rows (the last on line 5), but frame 9" in \
        error_of(tmp_path / "csv", frames("a", 9))


def test_a_non_number_names_the_file_line_and_column(tmp_path):
    rows = TABLE.tolist()
    rows[2][1] = "n/a"
    path = write_csv(tmp_path / "a.csv", rows)
    assert error_of(tmp_path, frames("a", 1)) == f"{path} line 4, column 2: 'n/a' is not a number"
    rows[2][1] = "inf"
    write_csv(path, rows)
    assert error_of(tmp_path, frames("a", 1)) == f"{path} line 4, column 2: 'inf' is not a finite number"
    nan = TABLE.copy()
    nan[1, 0] = np.nan
    np.save(tmp_path / "n.npy", nan)
    assert error_of(tmp_path, frames("n", 1)) == f"{tmp_path / 'n.npy'}: row 1 (frame 2) holds a NaN or infinity, " \
                                                 "not a number"
    np.save(tmp_path / "t.npy", np.array([["a", "b"]]))
    assert "holds <U1, not numbers" in error_of(tmp_path, frames("t", 1))
    np.save(tmp_path / "o.npy", np.array([{"x": 1}], dtype=object), allow_pickle=True)
    assert "without pickle" in error_of(tmp_path, frames("o", 1))  # never unpickled


def test_rows_of_other_lengths_and_empty_lines_name_the_line(tmp_path):
    path = write_csv(tmp_path / "a.csv", [[1, 2, 3], [4, 5], [6, 7, 8]], header=None)
    assert error_of(tmp_path, frames("a", 1)) == (f"{path} line 2: 2 values, line 1 has 3 (every row holds the "
                                                  "same features)")
    path.write_text("1,2\n\n3,4\n\n\n")  # trailing empty lines are fine, one between rows is not
    assert error_of(tmp_path, frames("a", 1)) == f"{path} line 2: empty; give one row of 2 numbers per frame"


def test_every_file_of_a_stream_has_its_width(tmp_path):
    np.save(tmp_path / "a.npy", TABLE)
    np.save(tmp_path / "b.npy", np.zeros((4, 5)))
    assert error_of(tmp_path, frames("a", 1) + frames("b", 1)) == (
        f"{tmp_path / 'b.npy'}: 5 values per frame, the stream's other files (e.g. {tmp_path / 'a.npy'}) 3; "
        "every file of fuse.extra 'audio' holds the same features")
    assert "the trained model 4" in error_of(tmp_path, frames("a", 1), dim=4)  # what evaluate/predict pass
    write_csv(tmp_path / "a.csv", TABLE.tolist())
    assert "both" in error_of(tmp_path, frames("a", 1)) and "keep one" in error_of(tmp_path, frames("a", 1))


def test_config_takes_a_list_of_named_streams(tmp_path):
    cfg = load_config(MTLConfig, overrides=[f"fuse.extra=[{{path: {tmp_path}, name: audio}}]"])
    assert [(e.path, e.name) for e in cfg.fuse.extra] == [(str(tmp_path), "audio")]
    with pytest.raises(ConfigError, match="names a stream twice"):
        load_config(MTLConfig, overrides=[f"fuse.extra=[{{path: {tmp_path}, name: a}}, {{path: x, name: a}}]"])
    with pytest.raises(ConfigError, match="missing required key.*'name'"):
        load_config(MTLConfig, overrides=[f"fuse.extra=[{{path: {tmp_path}}}]"])


@pytest.fixture(scope="module")
def streams(tiny_synth, tmp_path_factory):
    from cer.data.registry import read

    aff = tiny_synth / "aff-wild2"
    records = [r for split in ("train", "validation") for r in read("aff-wild2-mtl", aff, split=split)]
    root = tmp_path_factory.mktemp("extra")
    return aff, write_stream(root / "audio", records, 5, ".npy", 1), write_stream(root / "text", records, 2, ".csv", 2)


def test_a_run_serves_each_stream_beside_the_visual_features_and_the_model_uses_them(streams):
    from cer.task import data_loader
    from mtl.task import MTLTask

    aff, audio, text = streams
    cfg = load_config(MTLConfig, overrides=[
        f"data.train.path={aff}", f"data.val.path={aff}", "tasks.joint=au,va", f"model.img_size={TINY_IMG}",
        "model.checkpoint=null",
        "sequence.length=4", "train.progress=false", "optim.batch_size=16", "model.temporal=transformer",
        "model.transformer.layers=1", "model.transformer.heads=2", "model.transformer.width=16",
        f"fuse.extra=[{{path: {audio}, name: audio}}, {{path: {text}, name: text}}]"])
    task = MTLTask(cfg)
    assert task.architecture().extra_dims == [5, 2]
    record = task.val_set.records[7]
    expected = np.load(audio / f"{record.video}.npy")[frame_number(record) - 1]
    np.testing.assert_array_equal(task.val_set.extra[0][7], expected)
    batch = next(iter(data_loader(task.val_data())))
    assert batch["extra"][0].shape == (*batch["frames"].shape, 5) and batch["extra"][1].shape[-1] == 2
    np.testing.assert_array_equal(batch["extra"][0].numpy(), task.val_set.extra[0][batch["frames"].numpy()])

    torch.manual_seed(0)
    model = task.build_model().eval()
    assert model.temporal.embed.in_features == 192 + 5 + 2  # visual + audio + text per frame
    gen = torch.Generator().manual_seed(0)
    loss = task.training_step(model, batch, gen)["loss"]
    batch["extra"][0] = batch["extra"][0] + 1.0
    assert task.training_step(model, batch, torch.Generator().manual_seed(0))["loss"] != loss
    with pytest.raises(ValueError, match=r"widths \[5\], the model was built for \[5, 2\]"):
        model(torch.rand(1, 4, 3, 32, 32), extra=[batch["extra"][0][:1]])
