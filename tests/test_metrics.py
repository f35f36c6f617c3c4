import numpy as np
import pytest

from cer.metrics import au_f1, ccc, confusion_matrix, f1_macro, f1_per_class, p_mtl, tune_au_thresholds


def test_f1_macro_counts_absent_classes():
    y = np.array([0, 0, 1, 1])
    assert f1_macro(y, y, 2) == 1.0
    assert f1_macro(y, y, 4) == pytest.approx(0.5)  # classes 2, 3 absent and never predicted: F1 0
    assert f1_macro(np.array([]), np.array([]), 3) == 0.0


def test_f1_per_class_by_hand():
    y = np.array([0, 0, 1, 2])
    p = np.array([0, 1, 1, 1])
    # class 0: tp1 fp0 fn1 -> 2/3; class 1: tp1 fp2 fn0 -> 0.5; class 2: 0
    np.testing.assert_allclose(f1_per_class(y, p, 3), [2 / 3, 0.5, 0.0])
    np.testing.assert_array_equal(confusion_matrix(y, p, 3), [[1, 1, 0], [0, 1, 0], [0, 1, 0]])


def test_ccc_closed_form():
    rng = np.random.default_rng(0)
    t = rng.normal(size=200)
    p = 0.5 * t + rng.normal(scale=0.3, size=200) + 0.2
    expected = 2 * np.cov(t, p, bias=True)[0, 1] / (t.var() + p.var() + (t.mean() - p.mean()) ** 2)
    assert ccc(t, p) == pytest.approx(expected)
    assert ccc(t, t) == pytest.approx(1.0)
    centred = t - t.mean()
    assert ccc(centred, -centred) == pytest.approx(-1.0)
    assert ccc(np.ones(5), np.ones(5)) == 0.0 and ccc([], []) == 0.0


def test_au_f1_and_thresholds():
    y = np.array([[1, 0], [0, 1], [1, 1], [0, 0]])
    s = np.array([[0.9, 0.2], [0.1, 0.4], [0.6, 0.45], [0.2, 0.1]])
    mean, per_au = au_f1(y, s, 0.5)
    np.testing.assert_allclose(per_au, [1.0, 0.0])
    assert mean == 0.5
    th = tune_au_thresholds(y, s)
    assert au_f1(y, s, th)[0] == 1.0


def test_p_mtl():
    assert p_mtl(0.4, 0.6, 0.3, 0.5) == pytest.approx(1.3)


def test_best_epoch_row_is_the_first_strict_improvement():
    from cer.run_log import best_epoch_row

    rows = [{"epoch": 0, "m": 0.2}, {"epoch": 1}, {"epoch": 2, "m": 0.5}, {"epoch": 3, "m": 0.5},
            {"epoch": 4, "m": 0.1}]
    assert best_epoch_row(rows, "m")["epoch"] == 2
    assert best_epoch_row(rows, "m", greater_is_better=False)["epoch"] == 4
    assert best_epoch_row(rows, "other") is None


def test_metrics_of_no_samples_are_zero_not_an_error():
    """A held-out fold can hold no frame labelled for a task (an MTL fold of a few videos crashed
    on it): its scores are 0 with a count of 0, as the other empty metrics (CCC) already were."""
    none, no_aus = np.zeros(0, int), np.zeros((0, 12))
    assert f1_macro(none, none, 7) == 0.0 and (f1_per_class(none, none, 7) == 0).all()
    assert (confusion_matrix(none, none, 7) == 0).all() and confusion_matrix(none, none, 7).shape == (7, 7)
    mean, per_au = au_f1(no_aus, no_aus)
    assert mean == 0.0 and per_au.shape == (12,)
    assert tune_au_thresholds(no_aus, no_aus).shape == (12,) and ccc(none, none) == 0.0
