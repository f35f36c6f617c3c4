"""Ensembles of MTL runs (paper 001 sec. 3.3): the combining rules on hand-made member predictions,
and ``mtl evaluate --ensemble`` / ``mtl predict --ensemble`` on tiny runs."""

from __future__ import annotations

import csv
import json
from pathlib import PurePath

import numpy as np
import pytest
from click.testing import CliRunner
from tiny_mtl import TINY_MTL_ARGS

from mtl.cli import main
from mtl.ensemble import combine_members, vote_action_units, vote_expression


def probs(*rows: list[float]) -> np.ndarray:
    return np.asarray(rows, dtype=np.float64)


def test_expression_vote_takes_the_majority_class_not_the_mean_probability():
    # Two members mildly for class 0, one very sure of class 2: the mean probability favours 2,
    # the vote (what 001 does) gives 0.
    members = np.stack([probs([0.5, 0.1, 0.4]), probs([0.5, 0.1, 0.4]), probs([0.0, 0.0, 1.0])])
    voted = vote_expression(members)
    np.testing.assert_array_equal(voted, [[1, 0, 0]])
    averaged = combine_members([{"expr": m} for m in members], ["expr"], "mean")["expr"]
    assert averaged.argmax(1).tolist() == [2]


def test_expression_tie_goes_to_the_tied_class_of_higher_mean_probability():
    # Frame 0: one vote each for 0 and 1, class 1's member is surer -> 1. Frame 1: class 2 has the
    # highest mean probability but no vote, so it cannot win; among 0 and 1, 0 is surer -> 0.
    members = np.stack([
        [[0.6, 0.4, 0.0], [0.55, 0.0, 0.45]],
        [[0.1, 0.9, 0.0], [0.0, 0.52, 0.48]],
    ])
    np.testing.assert_array_equal(vote_expression(members), [[0, 1, 0], [1, 0, 0]])


def test_au_vote_is_the_majority_and_a_half_split_follows_the_mean_probability():
    members = np.stack([
        probs([0.9, 0.2, 0.6, 0.7]),
        probs([0.8, 0.1, 0.4, 0.1]),
        probs([0.1, 0.9, 0.9, 0.2]),
        probs([0.2, 0.3, 0.3, 0.9]),
    ])  # 4 members, 1 frame, 4 AUs
    # AU0: 2 yes (0.9, 0.8) vs 2 no, mean 0.5 -> present; AU1: 1 yes -> absent; AU2: 2 yes, mean
    # 0.55 -> present; AU3: 2 yes, mean 0.475 -> absent.
    np.testing.assert_array_equal(vote_action_units(members), [[1, 0, 1, 0]])
    three = members[:3]  # odd: a plain majority, AU0 2 of 3, AU2 2 of 3, AU3 1 of 3
    np.testing.assert_array_equal(vote_action_units(three), [[1, 0, 1, 0]])


def test_valence_and_arousal_are_averaged_under_both_rules():
    members = [{"v": np.array([0.2, -0.4]), "a": np.array([0.1, 0.3])},
               {"v": np.array([0.6, 0.0]), "a": np.array([-0.5, 0.1])}]
    for rule in ("vote", "mean"):
        out = combine_members(members, ["v", "a"], rule)
        np.testing.assert_allclose(out["v"], [0.4, -0.2])
        np.testing.assert_allclose(out["a"], [-0.2, 0.2])


def test_probability_averaging_averages_au_and_expression():
    members = [{"au": probs([0.2, 0.9]), "expr": probs([0.7, 0.3])},
               {"au": probs([0.6, 0.5]), "expr": probs([0.1, 0.9])}]
    out = combine_members(members, ["au", "expr"], "mean")
    np.testing.assert_allclose(out["au"], [[0.4, 0.7]])
    np.testing.assert_allclose(out["expr"], [[0.4, 0.6]])


def test_bad_members_are_refused_with_what_to_fix():
    with pytest.raises(ValueError, match="use one of vote, mean"):
        combine_members([{"v": np.zeros(2)}], ["v"], "median")
    with pytest.raises(ValueError, match="no au predictions"):
        combine_members([{"au": np.zeros((2, 12))}, {"v": np.zeros(2)}], ["au"])
    with pytest.raises(ValueError, match="same frames"):
        combine_members([{"v": np.zeros(2)}, {"v": np.zeros(3)}], ["v"])


def mtl(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


@pytest.fixture(scope="module")
def runs(tiny_synth, tmp_path_factory):
    aff = tiny_synth / "aff-wild2"
    folder = tmp_path_factory.mktemp("ensemble-runs")
    for name, joint, seed in (("a", "au,expr,va", 0), ("b", "au,expr,va", 1), ("v", "v", 0)):
        result = mtl("train", "--joint", joint, "--data", str(aff), "-o", str(folder / name),
                     "--set", f"train.seed={seed}", *TINY_MTL_ARGS)
        assert result.exit_code == 0, result.output
    return folder


def test_an_ensemble_of_two_runs_evaluates(runs, tmp_path):
    a, b = runs / "a", runs / "b"
    result = mtl("evaluate", str(a), "--ensemble", f"{a},{b}", "--ensemble", f"{a},{a}", "--combine", "mean",
                 "--out", str(tmp_path))
    assert result.exit_code == 0, result.output
    scored = json.loads((tmp_path / "metrics.json").read_text())["runs"]
    pair, same = f"ensemble[mean]:{a},{b}", f"ensemble[mean]:{a},{a}"
    assert set(scored) == {str(a), pair, same}
    for key in ("ccc_v", "ccc_a", "f1_expr", "f1_au", "p_mtl"):
        assert np.isfinite(scored[pair][key]), key
        # the mean of a model with itself is that model
        assert scored[same][key] == pytest.approx(scored[str(a)][key], abs=1e-6), key
    result = mtl("evaluate", "--ensemble", f"{a},{b}", "--out", str(tmp_path / "vote"))
    assert result.exit_code == 0, result.output
    voted = json.loads((tmp_path / "vote" / "metrics.json").read_text())["runs"][f"ensemble[vote]:{a},{b}"]
    assert 0 <= voted["f1_au"] <= 1 and 0 <= voted["f1_expr"] <= 1


def test_an_ensemble_of_runs_of_other_tasks_is_a_usage_error(runs, tmp_path):
    result = CliRunner().invoke(main, ["evaluate", "--ensemble", f"{runs / 'a'},{runs / 'v'}", "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert "trains v but" in result.output and "own --ensemble" in result.output
    result = CliRunner().invoke(main, ["evaluate", "--ensemble", str(runs / "a")])
    assert result.exit_code == 2 and "two or more run folders" in result.output


def test_evaluate_tunes_a_sigma_per_task_and_writes_it_beside_the_metrics(runs, tmp_path):
    a = runs / "a"
    assert mtl("evaluate", str(a), "--out", str(tmp_path / "raw")).exit_code == 0
    result = mtl("evaluate", str(a), "--sigma", "au=1", "--tune-sigma", "--sigma-grid", "0,2,4",
                 "--out", str(tmp_path / "smooth"))
    assert result.exit_code == 0, result.output
    sigmas = json.loads((tmp_path / "smooth" / "smoothing.json").read_text())[str(a)]
    assert sigmas["au"] == 1.0 and set(sigmas) == {"au", "expr", "v", "a"}
    assert {sigmas[t] for t in ("expr", "v", "a")} <= {0.0, 2.0, 4.0}
    raw = json.loads((tmp_path / "raw" / "metrics.json").read_text())["runs"][str(a)]
    tuned = json.loads((tmp_path / "smooth" / "metrics.json").read_text())["runs"][str(a)]
    for key in ("f1_expr", "ccc_v", "ccc_a"):  # the grid holds 0 (unsmoothed), so tuning cannot lose
        assert tuned[key] >= raw[key] - 1e-9, key
    assert not (tmp_path / "raw" / "smoothing.json").exists()


def submission(path) -> dict[str, list[str]]:
    """``{image: [valence, arousal, expression, AU...]}`` of a file ``mtl predict`` wrote."""
    with open(path) as f:
        return {row[0]: row[1:] for row in list(csv.reader(f))[1:]}


def member_outputs(run) -> dict[str, dict[str, np.ndarray]]:
    """``{image: {task: output}}`` of one run on its validation frames, undecided (probabilities)."""
    from mtl.evaluate import predict_run, validation_records
    from mtl.runs import read_meta
    from mtl.sequences import video_of

    preds, frames, _ = predict_run(run, validation_records(read_meta(run)[1], None, "aff-wild2-mtl", "validation"))
    return {f"{video_of(r)}/{PurePath(r.image).name}": {t: p[i] for t, p in preds.items()}
            for i, r in enumerate(frames.records)}


def test_predict_writes_the_vote_and_the_mean_of_an_ensemble(runs, tmp_path):
    """Two members: V/A are their mean; a vote where they agree is their answer, and where they
    split it goes the way of the mean probability; --combine mean decides on the mean probability."""
    a, b = runs / "a", runs / "b"
    for name, args in {"a": [str(a)], "b": [str(b)], "vote": ["--ensemble", f"{a},{b}"],
                       "mean": ["--ensemble", f"{a},{b}", "--combine", "mean"]}.items():
        result = mtl("predict", *args, "--out", str(tmp_path / f"{name}.csv"))
        assert result.exit_code == 0, result.output
    assert f"au, expr, v, a from ensemble[vote] of {a}, {b}" in CliRunner().invoke(
        main, ["predict", "--ensemble", f"{a},{b}", "--out", str(tmp_path / "again.csv")]).output
    rows = {name: submission(tmp_path / f"{name}.csv") for name in ("a", "b", "vote", "mean")}
    probs_a, probs_b = member_outputs(a), member_outputs(b)
    assert set(rows["vote"]) == set(rows["a"]) == set(probs_a)
    au_splits = 0
    for image, ra in rows["a"].items():
        rb, vote, mean = rows["b"][image], rows["vote"][image], rows["mean"][image]
        pa, pb = probs_a[image], probs_b[image]
        for column in (0, 1):  # valence, arousal: the mean (each file rounds to 4 decimals)
            expected = (float(ra[column]) + float(rb[column])) / 2
            assert float(vote[column]) == float(mean[column]) == pytest.approx(expected, abs=1.01e-4)
        ea, eb = int(ra[2]), int(rb[2])
        both = pa["expr"] + pb["expr"]
        assert int(vote[2]) == (ea if ea == eb or both[ea] > both[eb] or (both[ea] == both[eb] and ea < eb) else eb)
        assert int(mean[2]) == int(np.argmax(both))
        for j in range(12):
            yes = int(ra[3 + j]) + int(rb[3 + j])
            au_mean = (pa["au"][j] + pb["au"][j]) / 2
            assert int(vote[3 + j]) == (yes == 2 or (yes == 1 and au_mean >= 0.5)), (image, j)
            assert int(mean[3 + j]) == (au_mean >= 0.5), (image, j)
            au_splits += yes == 1
    assert au_splits > 0  # the members disagree somewhere, so the tie rule was exercised


def test_predict_takes_the_tasks_of_an_ensemble_and_the_rest_from_runs(runs, tmp_path):
    a, b, v = runs / "a", runs / "b", runs / "v"
    out = tmp_path / "mixed.csv"
    result = mtl("predict", str(a), "--ensemble", f"{v},{v}", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert f"v from ensemble[vote] of {v}, {v}" in result.output and f"a, expr, au from {a / 'best'}" in result.output
    rows, own = submission(out), member_outputs(v)  # an ensemble of a run with itself is that run
    for image, row in rows.items():
        assert float(row[0]) == pytest.approx(float(own[image]["v"]), abs=5.1e-5)
    result = CliRunner().invoke(main, ["predict", "--ensemble", f"{a},{b}", "--ensemble", f"{v},{v}",
                                       "--out", str(out)])
    assert result.exit_code == 2 and "both predict v: give each task one ensemble" in result.output
    result = CliRunner().invoke(main, ["predict", "--ensemble", f"{a},{b}", "--au-thresholds", "tune",
                                       "--out", str(out)])
    assert result.exit_code == 2 and "no tuned thresholds" in result.output
    result = CliRunner().invoke(main, ["predict", "--ensemble", f"{v},{v}", "--out", str(out)])
    assert result.exit_code == 2 and "given predicts a, expr, au" in result.output


def test_predict_smooths_with_the_sigmas_evaluate_wrote_and_sigma_overrides_a_task(runs, tmp_path, monkeypatch):
    a, b = runs / "a", runs / "b"
    monkeypatch.chdir(runs)  # evaluate given the relative path "a", predict the absolute a/best
    result = mtl("evaluate", "a", "--sigma", "au=0", "--tune-sigma", "--sigma-grid", "3",
                 "--out", str(tmp_path / "one"))
    assert result.exit_code == 0, result.output
    written = tmp_path / "one" / "smoothing.json"
    assert json.loads(written.read_text()) == {"a": {"au": 0.0, "expr": 3.0, "v": 3.0, "a": 3.0}}
    result = mtl("evaluate", "--ensemble", f"{a},{b}", "--sigma", "va=2", "--out", str(tmp_path / "pair"))
    assert result.exit_code == 0, result.output

    def predicted(name: str, *args: str) -> dict[str, list[str]]:
        result = mtl("predict", *args, "--out", str(tmp_path / f"{name}.csv"))
        assert result.exit_code == 0, result.output
        return submission(tmp_path / f"{name}.csv")

    by_file = predicted("file", str(a), "--smoothing", str(written))
    assert by_file == predicted("sigmas", str(a), "--sigma", "expr=3", "--sigma", "va=3")
    assert by_file != predicted("raw", str(a))  # it did smooth
    overridden = predicted("override", str(a), "--smoothing", str(written), "--sigma", "v=0")
    raw = submission(tmp_path / "raw.csv")
    assert all(overridden[i][0] == raw[i][0] and overridden[i][1:] == by_file[i][1:] for i in raw)
    # an ensemble's entry, its members in another order
    assert (predicted("pair-file", "--ensemble", f"{b},{a}", "--smoothing", str(tmp_path / "pair" / "smoothing.json"))
            == predicted("pair-sigma", "--ensemble", f"{a},{b}", "--sigma", "va=2"))


@pytest.mark.parametrize("text, message", [
    ("{not json", "it is not JSON"),
    ("[]", "it holds list"),
    ('{"RUN": {"happy": 2}}', "names the task 'happy': tasks are au, expr, v, a"),
    ('{"RUN": {"au": -1}}', "gives au the sigma -1"),
    ('{"RUN": {"au": true}}', "gives au the sigma True"),
    ('{"RUN": 2}', "is 2, not sigmas by task"),
    ('{"ensemble[median]:RUN,RUN": {"au": 1}}', "names the rule 'median'"),
    ('{"elsewhere": {"au": 1}}', "has no entry for it (it has"),
    ('{"RUN": {"au": 1}}', "its entry has no sigma for v, a, expr"),
])
def test_a_bad_smoothing_file_is_a_usage_error_naming_the_file_and_the_fault(runs, tmp_path, text, message):
    path = tmp_path / "smoothing.json"
    path.write_text(text.replace("RUN", str(runs / "a")))
    result = CliRunner().invoke(main, ["predict", str(runs / "a"), "--smoothing", str(path), "--out",
                                       str(tmp_path / "s.csv")])
    assert result.exit_code == 2, result.output
    assert f"--smoothing {path}" in result.output and message in " ".join(result.output.split())
    assert not (tmp_path / "s.csv").exists()
