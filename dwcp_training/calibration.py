"""Choosing a decision threshold on the validation split (never on the test split).

Both functions take a score where larger means "more anomalous" and return a threshold used as
`score >= threshold`. They sweep every distinct score in one vectorized pass (sort + cumulative
counts), so calibration costs one sort, not one evaluation per candidate.
"""

from __future__ import annotations

import numpy as np


def _sweep(scores: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Candidate thresholds (distinct scores, descending) with TP and FP counts at each."""
    scores = np.asarray(scores, np.float64)
    labels = np.asarray(labels).astype(bool)
    order = np.argsort(-scores, kind="stable")
    s, y = scores[order], labels[order]
    tp = np.cumsum(y)
    fp = np.cumsum(~y)
    last_of_value = np.r_[s[1:] != s[:-1], True]  # flag all rows >= this score at once
    return s[last_of_value], tp[last_of_value], fp[last_of_value]


def best_accuracy_threshold(scores: np.ndarray, labels: np.ndarray) -> float:
    """Threshold with the highest accuracy; ties go to the higher (more conservative) one."""
    labels = np.asarray(labels).astype(bool)
    if len(labels) == 0:
        raise ValueError("cannot calibrate a threshold on an empty split")
    thresholds, tp, fp = _sweep(scores, labels)
    negatives = int((~labels).sum())
    correct = tp + (negatives - fp)
    # Flagging nothing is a candidate too: threshold just above the largest score.
    if negatives >= correct.max():
        return float(np.nextafter(thresholds[0], np.inf))
    return float(thresholds[int(np.argmax(correct))])


def recall_threshold(scores: np.ndarray, labels: np.ndarray, min_recall: float) -> float:
    """Highest threshold whose recall on these labels is at least `min_recall`."""
    labels = np.asarray(labels).astype(bool)
    positives = int(labels.sum())
    if positives == 0:
        raise ValueError("cannot calibrate a recall threshold without positive labels")
    thresholds, tp, _ = _sweep(scores, labels)
    reached = np.flatnonzero(tp / positives >= min_recall)
    return float(thresholds[reached[0]])
