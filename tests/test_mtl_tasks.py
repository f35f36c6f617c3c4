"""The task registry: joint-task parsing, the selecting metric, labels from records, and P_MTL."""

from __future__ import annotations

import numpy as np
import pytest

from cer.config import ConfigError, load_config
from cer.data.record import FaceRecord
from cer.metrics import p_mtl
from mtl.affect_tasks import AFFECT_TASKS, parse_tasks, selection_metric
from mtl.config import MTLConfig
from mtl.scores import score_frames


@pytest.mark.parametrize("text,expected", [
    ("au,va,a", ("au", "v", "a")),
    ("va", ("v", "a")),
    ("A, AU ,expr", ("au", "expr", "a")),
    ("au,expr,va", ("au", "expr", "v", "a")),
    (["v", "v"], ("v",)),
])
def test_joint_parsing(text, expected):
    assert parse_tasks(text) == expected


def test_unknown_task_is_an_error_listing_the_valid_ones():
    with pytest.raises(ValueError) as err:
        parse_tasks("au,valence")
    assert "'valence'" in str(err.value)
    for name in ("au", "expr", "v", "a", "va"):
        assert name in str(err.value)
    with pytest.raises(ValueError, match="no task"):
        parse_tasks(" , ")


def test_config_checks_tasks_and_names_the_override():
    cfg = load_config(MTLConfig, overrides=["tasks.joint=au,va,a", "tasks.select=v"])
    assert parse_tasks(cfg.tasks.joint) == ("au", "v", "a")
    with pytest.raises(ConfigError, match="--set tasks.joint=au,happy"):
        load_config(MTLConfig, overrides=["tasks.joint=au,happy"])
    with pytest.raises(ConfigError, match="not trained"):
        load_config(MTLConfig, overrides=["tasks.joint=au", "tasks.select=expr"])
    with pytest.raises(ConfigError, match="tasks.weights"):
        load_config(MTLConfig, overrides=["tasks.joint=au,va", "tasks.weights={expr: 2.0}"])
    assert load_config(MTLConfig, overrides=["tasks.au_threshold=tune"]).tasks.au_threshold == "tune"


def test_selection_metric_names_a_logged_key():
    assert selection_metric(None, ("au", "v"), 0.5) == "val_p_mtl"
    assert selection_metric(None, ("au", "v"), "tune") == "val_p_mtl_tuned"
    assert selection_metric("v", ("au", "v"), 0.5) == "val_ccc_v"
    assert selection_metric("va", ("v", "a"), 0.5) == "val_ccc_va"
    assert selection_metric("au", ("au",), "tune") == "val_f1_au_tuned"
    assert selection_metric("expr", ("expr",), 0.5) == "val_f1_expr"


def test_labels_and_masks_from_records():
    records = [
        FaceRecord("a/00001.jpg", video="a", space="affwild2-expr", expression=4, aus=(1,) * 12, valence=0.5,
                   arousal=-0.2),
        FaceRecord("a/00002.jpg", video="a", aus=(-1,) * 12, valence=None, arousal=0.1),
    ]
    aus, au_mask = AFFECT_TASKS["au"].labels(records)
    assert aus.shape == (2, 12) and au_mask[0].all() and not au_mask[1].any()
    expr, expr_mask = AFFECT_TASKS["expr"].labels(records)
    assert expr[0] == 4 and expr_mask.tolist() == [True, False]
    v, v_mask = AFFECT_TASKS["v"].labels(records)
    a, a_mask = AFFECT_TASKS["a"].labels(records)
    assert v_mask.tolist() == [True, False] and a_mask.tolist() == [True, True] and a[1] == pytest.approx(0.1)
    wrong_space = [FaceRecord("x.jpg", space="raf-basic", expression=0)]
    with pytest.raises(ValueError, match="affwild2-expr"):
        AFFECT_TASKS["expr"].labels(wrong_space)


def test_p_mtl_sums_the_parts_of_the_trained_tasks():
    rng = np.random.default_rng(0)
    n = 200
    records = [FaceRecord(f"v/{i + 1:05d}.jpg", video="v", space="affwild2-expr", expression=int(rng.integers(8)),
                          aus=tuple(int(x) for x in rng.integers(0, 2, 12)), valence=float(rng.uniform(-1, 1)),
                          arousal=float(rng.uniform(-1, 1))) for i in range(n)]
    tasks = ("au", "expr", "v", "a")
    labels = {t: AFFECT_TASKS[t].labels(records) for t in tasks}
    preds = {"au": rng.random((n, 12)), "expr": rng.random((n, 8)),
             "v": labels["v"][0] * 0.5 + 0.1, "a": rng.uniform(-1, 1, n)}
    s = score_frames(tasks, preds, labels)
    assert s["p_mtl"] == pytest.approx(p_mtl(s["ccc_v"], s["ccc_a"], s["f1_expr"], s["f1_au"]))
    assert s["p_mtl_tuned"] == pytest.approx(p_mtl(s["ccc_v"], s["ccc_a"], s["f1_expr"], s["f1_au_tuned"]))
    assert s["f1_au_tuned"] >= s["f1_au"] and s["ccc_v"] > 0.5
    only_v = score_frames(("v",), preds, labels)
    assert only_v["p_mtl"] == pytest.approx(s["ccc_v"] / 2)  # the absent parts count 0
