"""Several MTL training sources (mtl/sources.py): expressions mapped into the Aff-Wild2 EXPR space,
labels of the tasks a source does not train masked (and so ignored by that task's loss), still
images as one-frame videos, and Aff-Wild2's own records left as they are; a run on the tiny synthetic
Aff-Wild2 plus RAF-DB basic logs and stores what each source gave it."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from tiny_mtl import TINY_MTL, as_set_options

from cer.config import ConfigError, load_config
from cer.data.record import FaceRecord
from cer.data.registry import read
from cer.data.source import DataSource
from mtl.affect_tasks import AFFECT_TASKS
from mtl.cli import main
from mtl.config import MTLConfig
from mtl.sequences import VideoFrames, make_windows
from mtl.sources import pool_sources, prepare_source

RAF = DataSource("raf-db-basic", "/data/RAF-DB", {"split": "train"})
AFFECTNET = DataSource("affectnet", "/data/AffectNet/training.csv")
AFFWILD2 = DataSource("aff-wild2-mtl", "/data/aff-wild2", {"split": "train"})


def affwild2_frames(n: int) -> list[FaceRecord]:
    rng = np.random.default_rng(0)
    return [FaceRecord(f"/data/aff-wild2/cropped_aligned/v/{i + 1:05d}.jpg", video="v", space="affwild2-expr",
                       expression=int(rng.integers(8)), aus=tuple(int(x) for x in rng.integers(0, 2, 12)),
                       valence=float(rng.uniform(-1, 1)), arousal=float(rng.uniform(-1, 1))) for i in range(n)]


def test_raf_db_and_affectnet_expressions_map_into_aff_wild2_and_contempt_is_masked():
    # Aff-Wild2 EXPR: 0 Neutral, 1 Anger, 2 Disgust, 3 Fear, 4 Happiness, 5 Sadness, 6 Surprise, 7 Other
    raf = [FaceRecord(f"/r/train_{i:05d}_aligned.jpg", space="raf-basic", expression=i) for i in range(7)]
    # RAF-DB basic (0-based): Surprise, Fear, Disgust, Happiness, Sadness, Anger, Neutral
    assert [r.expression for r in prepare_source(raf, RAF)] == [6, 3, 2, 4, 5, 1, 0]
    assert {r.space for r in prepare_source(raf, RAF)} == {"affwild2-expr"}
    affectnet = [FaceRecord(f"/a/{i}.jpg", space="affectnet", expression=i) for i in range(8)]
    # AffectNet: Neutral, Happy, Sad, Surprise, Fear, Disgust, Anger, Contempt (no Aff-Wild2 class: masked)
    mapped = prepare_source(affectnet, AFFECTNET)
    assert [r.expression for r in mapped] == [0, 4, 5, 6, 3, 2, 1, None]
    assert not mapped[7].has_expression and 7 not in [r.expression for r in mapped]  # not made Other
    compound = [FaceRecord("/r/train_00001_aligned.jpg", space="raf-compound", expression=0)]
    with pytest.raises(ValueError, match="compound classes"):
        prepare_source(compound, DataSource("raf-db-compound", "/data/RAF-DB"))
    assert prepare_source(compound, DataSource("raf-db-compound", "/data/RAF-DB"), ("au",))[0].expression is None


def test_a_source_keeps_only_the_labels_of_its_tasks():
    face = FaceRecord("/a/1.jpg", space="affectnet", expression=1, valence=0.5, arousal=-0.25)
    kept = prepare_source([face], AFFECTNET)[0]
    assert (kept.expression, kept.valence, kept.arousal) == (4, 0.5, -0.25)
    expr_only = prepare_source([face], AFFECTNET, ("expr",))[0]
    assert (expr_only.expression, expr_only.valence, expr_only.arousal, expr_only.aus) == (4, None, None, None)
    v, v_mask = AFFECT_TASKS["v"].labels([kept, expr_only])
    au, au_mask = AFFECT_TASKS["au"].labels([kept, expr_only])
    assert v_mask.tolist() == [True, False] and not au_mask.any()  # masked, not a zero label


def test_aff_wild2_records_are_left_as_they_are():
    frames = affwild2_frames(5)
    prepared = prepare_source(frames, AFFWILD2)
    assert all(a is b for a, b in zip(prepared, frames, strict=True))


def test_each_still_image_is_a_one_frame_video_padded_to_the_sequence_length():
    raf = [FaceRecord(f"/r/Image/aligned/train_{i:05d}_aligned.jpg", space="raf-basic", expression=i % 7)
           for i in range(1, 5)]
    videos = VideoFrames.of(pool_sources([("aff", affwild2_frames(4)), ("raf", prepare_source(raf, RAF))]))
    assert videos.bounds.tolist() == [[0, 4], [4, 5], [5, 6], [6, 7], [7, 8]]  # not one folder-wide "video"
    windows = make_windows(videos.bounds, seq=3, stride=3)
    still = windows.frames[:, 0] >= 4
    assert still.sum() == 4 and windows.valid[still].tolist() == [[True, False, False]] * 4
    assert windows.frames[still].tolist() == [[i] * 3 for i in range(4, 8)]  # the image alone, repeated


def test_a_frame_in_two_sources_is_refused():
    frames = affwild2_frames(2)
    with pytest.raises(ValueError, match="two training sources, first and second"):
        pool_sources([("first", frames), ("second", frames[1:])])


def losses(records: list[FaceRecord], outputs: dict[str, torch.Tensor], replace_masked: float | None = None
           ) -> dict[str, float]:
    """Each task's loss of ``outputs`` on ``records``; ``replace_masked``: the masked targets overwritten."""
    result = {}
    for name, task in AFFECT_TASKS.items():
        targets, mask = task.labels(records)
        if replace_masked is not None:
            targets = np.where(mask, targets, replace_masked).astype(targets.dtype)
        result[name] = float(task.loss(outputs[name], torch.from_numpy(targets), torch.from_numpy(mask), None))
    return result


def test_a_task_loss_ignores_the_frames_masked_for_it():
    g = torch.Generator().manual_seed(0)
    outputs = {name: torch.randn(6, task.outputs, generator=g) for name, task in AFFECT_TASKS.items()}
    faces = [FaceRecord(f"/a/{i}.jpg", space="affectnet", expression=i, valence=0.9, arousal=-0.9) for i in (1, 7)]
    other = [FaceRecord(f.image, space="affectnet", expression=f.expression, valence=-0.3, arousal=0.4) for f in faces]

    def batch(affectnet: list[FaceRecord], tasks: tuple[str, ...] | None) -> list[FaceRecord]:
        return affwild2_frames(4) + prepare_source(affectnet, AFFECTNET, tasks)

    expr_only = losses(batch(faces, ("expr",)), outputs)
    # AffectNet's V/A, masked for v and a, can be anything: the same losses...
    assert losses(batch(other, ("expr",)), outputs) == expr_only
    # ...as whatever the masked targets hold (AU: AffectNet has none; expr: its Contempt face)
    assert losses(batch(faces, ("expr",)), outputs, replace_masked=1.0) == expr_only
    # while the same V/A, trained, do change them; the expression loss is the same either way
    trained = losses(batch(faces, None), outputs)
    assert trained["v"] != pytest.approx(expr_only["v"]) and trained["a"] != pytest.approx(expr_only["a"])
    assert trained["expr"] == expr_only["expr"] and trained["au"] == expr_only["au"]
    # and the masked frames add nothing: the Aff-Wild2 frames alone give the V/A and AU losses
    alone = losses(affwild2_frames(4), {k: v[:4] for k, v in outputs.items()})
    assert (alone["v"], alone["a"], alone["au"]) == (expr_only["v"], expr_only["a"], expr_only["au"])


def test_extra_sources_are_a_config_list_with_checked_tasks():
    cfg = load_config(MTLConfig, overrides=[
        "data.extra_train=[{reader: raf-db-basic, options: {split: train}, tasks: expr}]"])
    assert [(s.reader, s.path, s.options, s.tasks) for s in cfg.data.extra_train] == [
        ("raf-db-basic", None, {"split": "train"}, "expr")]
    assert load_config(MTLConfig).data.extra_train == []
    with pytest.raises(ConfigError, match="unknown task 'emotion'"):
        load_config(MTLConfig, overrides=["data.extra_train=[{reader: raf-db-basic, tasks: emotion}]"])


def test_a_mixed_source_run_reads_each_source_and_logs_and_stores_its_counts(tiny_synth, tmp_path, caplog):
    aff, raf = tiny_synth / "aff-wild2", tiny_synth / "raf-db"
    run = tmp_path / "run"
    extra = f"data.extra_train=[{{reader: raf-db-basic, path: '{raf}', options: {{split: train}}, tasks: expr}}]"
    tiny = [*TINY_MTL, extra]
    args = ["train", "--joint", "au,expr,va", "--data", str(aff), "--epochs", "1", "-o", str(run)]
    with caplog.at_level(logging.INFO, logger="mtl"):
        result = CliRunner().invoke(main, [*args, *as_set_options(tiny)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    # what each source holds, counted here from its reader's records
    affwild2, raf_train = read("aff-wild2-mtl", aff, split="train"), read("raf-db-basic", raf, split="train")
    expected = [
        {"frames": len(affwild2), "labelled": {
            "au": sum(r.has_aus for r in affwild2), "expr": sum(r.has_expression for r in affwild2),
            "v": sum(r.valence is not None for r in affwild2), "a": sum(r.arousal is not None for r in affwild2)}},
        # every RAF-DB basic class has an Aff-Wild2 class; AUs and V/A it has none of
        {"frames": len(raf_train), "labelled": {"au": 0, "expr": len(raf_train), "v": 0, "a": 0}},
    ]
    assert len(raf_train) > 0 and 0 < expected[0]["labelled"]["expr"] < len(affwild2)  # the set has holes
    stored = json.loads((run / "best" / "model.json").read_text())["sources"]
    assert [{k: s[k] for k in ("frames", "labelled")} for s in stored] == expected
    assert stored[0]["source"] == f"aff-wild2-mtl ({aff}, split=train)"
    assert stored[1]["source"] == f"raf-db-basic ({raf}, split=train)"
    logged = [r.getMessage() for r in caplog.records if r.getMessage().startswith("training source")]
    assert logged == [f"training source {i}/2 {s['source']}: {s['frames']} frames; labelled: "
                      + ", ".join(f"{t} {n}" for t, n in s["labelled"].items()) for i, s in enumerate(stored, 1)]
    # S = 1: one training sequence per frame with a label of a trained task, from both sources
    any_label = sum(r.has_aus or r.has_expression or r.valence is not None or r.arousal is not None for r in affwild2)
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["sequences"] for r in rows] == [any_label + len(raf_train)]
