"""Metrics: known answers, and agreement with scikit-learn where it is installed."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dwcp_training import metrics

try:
    import sklearn.metrics as skm
except ImportError:  # the core package must work without sklearn; so must these tests
    skm = None

needs_sklearn = pytest.mark.skipif(skm is None, reason="scikit-learn not installed")


def test_core_metrics_do_not_import_sklearn() -> None:
    import subprocess
    import sys

    code = "import sys, dwcp_training.metrics; print('sklearn' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# --- regression ----------------------------------------------------------------------------------


def test_perfect_prediction() -> None:
    y = np.array([1.0, 2.0, 4.0, 8.0])
    assert metrics.mape(y, y) == 0.0
    assert metrics.mae(y, y) == 0.0
    assert metrics.rmse(y, y) == 0.0
    assert metrics.pearson(y, y) == pytest.approx(1.0)


def test_known_regression_values() -> None:
    y, p = np.array([100.0, 200.0]), np.array([110.0, 180.0])
    assert metrics.mape(y, p) == pytest.approx(0.10)  # a fraction: 10 %
    assert metrics.mae(y, p) == pytest.approx(15.0)
    assert metrics.rmse(y, p) == pytest.approx(math.sqrt((100 + 400) / 2))
    assert metrics.pearson(y, -y) == pytest.approx(-1.0)


def test_constant_predictor_has_zero_correlation() -> None:
    y = np.array([1.0, 2.0, 3.0])
    assert metrics.pearson(y, np.full(3, 2.0)) == 0.0


def test_length_mismatch_and_empty_are_refused() -> None:
    with pytest.raises(ValueError, match="differ"):
        metrics.mae([1, 2], [1])
    with pytest.raises(ValueError, match="at least one"):
        metrics.mae([], [])


# --- classification ------------------------------------------------------------------------------


def test_binary_counts() -> None:
    y = np.array([1, 1, 1, 0, 0, 0, 0, 0])
    p = np.array([1, 1, 0, 1, 0, 0, 0, 0])
    assert metrics.precision(y, p) == pytest.approx(2 / 3)
    assert metrics.recall(y, p) == pytest.approx(2 / 3)
    assert metrics.f1(y, p) == pytest.approx(2 / 3)
    assert metrics.accuracy(y, p) == pytest.approx(6 / 8)
    assert metrics.recall(y, p.astype(bool)) == pytest.approx(2 / 3)


def test_undefined_precision_and_recall_are_zero() -> None:
    assert metrics.precision([1, 0], [0, 0]) == 0.0
    assert metrics.recall([0, 0], [1, 0]) == 0.0
    assert metrics.f1([0, 0], [0, 0]) == 0.0


def test_macro_f1_counts_absent_labels_as_zero() -> None:
    y, p = [0, 1, 2, 2], [0, 1, 2, 1]
    per_class = [1.0, 2 / 3, 2 / 3]
    assert metrics.macro_f1(y, p) == pytest.approx(np.mean(per_class))
    assert metrics.macro_f1(y, p, labels=range(4)) == pytest.approx(np.sum(per_class) / 4)


# --- ranking -------------------------------------------------------------------------------------


def test_perfect_and_reversed_ranking() -> None:
    y = np.array([0, 0, 1, 1])
    score = np.array([0.1, 0.2, 0.8, 0.9])
    assert metrics.average_precision(y, score) == 1.0
    assert metrics.roc_auc(y, score) == 1.0
    assert metrics.roc_auc(y, -score) == 0.0
    assert metrics.average_precision(y, -score) == pytest.approx((1 / 3 + 2 / 4) / 2)


def test_constant_score_is_chance() -> None:
    y = np.array([0, 1, 0, 0, 1])
    assert metrics.roc_auc(y, np.zeros(5)) == 0.5
    assert metrics.average_precision(y, np.zeros(5)) == pytest.approx(2 / 5)  # the base rate


def test_shuffled_scores_are_near_chance() -> None:
    rng = np.random.default_rng(0)
    y = (rng.random(20000) < 0.1).astype(int)
    score = rng.random(20000)
    assert metrics.roc_auc(y, score) == pytest.approx(0.5, abs=0.02)
    assert metrics.average_precision(y, score) == pytest.approx(y.mean(), abs=0.02)


def test_single_class_ranking() -> None:
    assert metrics.average_precision([0, 0], [0.3, 0.1]) == 0.0
    assert metrics.roc_auc([1, 1], [0.3, 0.1]) == 0.5


# --- agreement with scikit-learn -----------------------------------------------------------------

labels_and_scores = st.integers(min_value=2, max_value=60).flatmap(
    lambda n: st.tuples(
        st.lists(st.integers(0, 1), min_size=n, max_size=n).filter(lambda v: 0 < sum(v) < n),
        st.lists(st.integers(0, 5).map(float), min_size=n, max_size=n),  # many ties
    )
)


@needs_sklearn
@settings(max_examples=150, deadline=None)
@given(labels_and_scores)
def test_ranking_matches_sklearn(data: tuple[list[int], list[float]]) -> None:
    y, s = np.array(data[0]), np.array(data[1])
    assert metrics.average_precision(y, s) == pytest.approx(skm.average_precision_score(y, s))
    assert metrics.roc_auc(y, s) == pytest.approx(skm.roc_auc_score(y, s))


@needs_sklearn
@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 1), st.integers(0, 1)), min_size=1, max_size=50))
def test_binary_metrics_match_sklearn(pairs: list[tuple[int, int]]) -> None:
    y, p = np.array(pairs).T
    assert metrics.accuracy(y, p) == pytest.approx(skm.accuracy_score(y, p))
    assert metrics.precision(y, p) == pytest.approx(skm.precision_score(y, p, zero_division=0))
    assert metrics.recall(y, p) == pytest.approx(skm.recall_score(y, p, zero_division=0))
    assert metrics.f1(y, p) == pytest.approx(skm.f1_score(y, p, zero_division=0))


@needs_sklearn
def test_regression_and_macro_f1_match_sklearn() -> None:
    rng = np.random.default_rng(3)
    y = rng.uniform(1, 100, 500)
    p = y * rng.uniform(0.8, 1.2, 500)
    assert metrics.mape(y, p) == pytest.approx(skm.mean_absolute_percentage_error(y, p))
    assert metrics.mae(y, p) == pytest.approx(skm.mean_absolute_error(y, p))
    assert metrics.rmse(y, p) == pytest.approx(math.sqrt(skm.mean_squared_error(y, p)))
    assert metrics.pearson(y, p) == pytest.approx(np.corrcoef(y, p)[0, 1])
    levels, pred = rng.integers(0, 10, 500), rng.integers(0, 8, 500)
    assert metrics.macro_f1(levels, pred, labels=range(10)) == pytest.approx(
        skm.f1_score(levels, pred, labels=list(range(10)), average="macro", zero_division=0)
    )
