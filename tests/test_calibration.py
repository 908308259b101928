"""Threshold calibration: known answers and a brute-force cross-check."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dwcp_training.calibration import best_accuracy_threshold, recall_threshold


def test_separable_scores_get_a_perfect_threshold():
    scores = np.array([0.1, 0.2, 0.3, 0.7, 0.8, 0.9])
    labels = np.array([0, 0, 0, 1, 1, 1])
    t = best_accuracy_threshold(scores, labels)
    assert ((scores >= t) == labels.astype(bool)).all()
    assert recall_threshold(scores, labels, 1.0) == 0.7


def test_all_negative_flags_nothing():
    scores = np.array([0.3, 0.5, 0.9])
    t = best_accuracy_threshold(scores, np.zeros(3))
    assert not (scores >= t).any()


def test_recall_threshold_needs_positives():
    with pytest.raises(ValueError, match="positive"):
        recall_threshold(np.array([0.1, 0.2]), np.array([0, 0]), 0.9)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 20), st.booleans()), min_size=1, max_size=40),
)
def test_best_accuracy_matches_brute_force(pairs):
    scores = np.array([p[0] for p in pairs], dtype=float)
    labels = np.array([p[1] for p in pairs])
    t = best_accuracy_threshold(scores, labels)
    candidates = np.r_[np.unique(scores), np.inf]
    best = max(((scores >= c) == labels).mean() for c in candidates)
    assert ((scores >= t) == labels).mean() == pytest.approx(best)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 20), st.booleans()), min_size=1, max_size=40),
    st.floats(0.05, 1.0),
)
def test_recall_threshold_is_the_highest_reaching_the_recall(pairs, wanted):
    scores = np.array([p[0] for p in pairs], dtype=float)
    labels = np.array([p[1] for p in pairs])
    if not labels.any():
        return
    t = recall_threshold(scores, labels, wanted)
    recall = lambda c: (scores[labels] >= c).mean()  # noqa: E731
    assert recall(t) >= wanted
    higher = np.unique(scores)[np.unique(scores) > t]
    assert all(recall(c) < wanted for c in higher)
