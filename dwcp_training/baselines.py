"""Naive baselines on model-ready arrays: what a model must beat for its score to mean anything.

Each baseline is the cheapest rule an operator could write without a model:
- bandwidth: tomorrow looks like today (`persistence`), or like a recent average
  (`harmonic_mean_last`, `ewma`);
- compression: one fixed level (`fixed_level`, DWCP's default) or the most frequent oracle level;
- reliability: one threshold on one telemetry column (`best_single_feature_threshold`);
- latency: one static threshold on the worst latency of the window (`static_threshold`).

Pure numpy on the arrays of `dwcp_training.window` (raw units, features in the Go contract's
order); thresholds are chosen on the validation split only and then applied to the test split,
exactly as a model's would be.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from dwcp_training import metrics
from dwcp_training.compression_oracle import DEFAULT_LEVEL

# Position of throughput_mbps in the bandwidth model's 7 features (the Go contract's order:
# rtt_ms, jitter_ms, throughput_mbps, ...). tests/test_difficulty.py checks it against the
# window step's feature list.
THROUGHPUT_INDEX = 2


def _throughput(x_bw: np.ndarray) -> np.ndarray:
    x = np.asarray(x_bw, dtype=np.float64)
    if x.ndim != 3:
        raise ValueError(f"bandwidth windows must be (n, steps, features), got shape {x.shape}")
    return x[:, :, THROUGHPUT_INDEX]


def persistence(x_bw: np.ndarray) -> np.ndarray:
    """Next throughput = the last observed throughput."""
    return _throughput(x_bw)[:, -1]


def harmonic_mean_last(x_bw: np.ndarray, k: int = 5) -> np.ndarray:
    """Harmonic mean of the last `k` throughputs (the classic rate-adaptation estimator).

    Zero throughputs are floored at a tiny value so one dead interval does not give inf.
    """
    tp = np.maximum(_throughput(x_bw)[:, -k:], 1e-9)
    return tp.shape[1] / np.sum(1.0 / tp, axis=1)


def ewma(x_bw: np.ndarray, alpha: float = 0.5) -> np.ndarray:
    """Exponentially weighted moving average over the window (weight `alpha` on the newest)."""
    if not 0.0 < alpha <= 1.0:
        raise ValueError("alpha must be in (0, 1]")
    tp = _throughput(x_bw)
    steps = tp.shape[1]
    weights = alpha * (1.0 - alpha) ** np.arange(steps - 1, -1, -1, dtype=np.float64)
    weights[0] = (1.0 - alpha) ** (steps - 1)  # the oldest sample carries the remaining mass
    return tp @ weights


def fixed_level(n: int, level: int = DEFAULT_LEVEL) -> np.ndarray:
    """Always the same compression level (DWCP without a selector)."""
    return np.full(int(n), int(level), dtype=np.int64)


def most_common_level(y_train: np.ndarray, n: int) -> np.ndarray:
    """Always the oracle level seen most often in training (ties: the lower level)."""
    y = np.asarray(y_train, dtype=np.int64)
    if y.size == 0:
        raise ValueError("no training labels to take the most common level from")
    return np.full(int(n), int(np.argmax(np.bincount(y))), dtype=np.int64)


def _best_f1_threshold(score: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """(threshold, F1) maximising F1 of `score >= threshold` over every distinct score."""
    order = np.argsort(-score, kind="mergesort")
    s, pos = score[order], (y[order] == 1)
    last = np.r_[np.flatnonzero(np.diff(s) != 0), len(s) - 1]
    tp = np.cumsum(pos)[last]
    flagged = last + 1
    f1 = 2 * tp / (flagged + pos.sum())
    best = int(np.argmax(f1))
    return float(s[last[best]]), float(f1[best])


def best_single_feature_threshold(
    x_val: np.ndarray,
    y_val: np.ndarray,
    x_test: np.ndarray,
    y_test: np.ndarray,
    names: Sequence[str],
) -> dict:
    """The best one-column rule "feature >= t" or "feature <= t".

    For every feature and both directions the threshold maximising F1 on the validation split is
    applied to the test split; the rule with the best validation F1 is returned as
    {feature, direction, threshold, recall, precision, f1, pr_auc} (PR-AUC uses the raw feature,
    signed by the direction, as the score), with every rule under "candidates".
    """
    xv, xt = np.asarray(x_val, np.float64), np.asarray(x_test, np.float64)
    yv, yt = np.asarray(y_val), np.asarray(y_test)
    if xv.shape[1] != len(names) or xt.shape[1] != len(names):
        raise ValueError(f"expected {len(names)} feature columns, got {xv.shape[1]}/{xt.shape[1]}")
    candidates = []
    for j, name in enumerate(names):
        for direction, sign in ((">=", 1.0), ("<=", -1.0)):
            thr, val_f1 = _best_f1_threshold(sign * xv[:, j], yv)
            flagged = sign * xt[:, j] >= thr
            candidates.append(
                {
                    "feature": name,
                    "direction": direction,
                    "threshold": sign * thr,
                    "validation_f1": val_f1,
                    "recall": metrics.recall(yt, flagged),
                    "precision": metrics.precision(yt, flagged),
                    "f1": metrics.f1(yt, flagged),
                    "pr_auc": metrics.average_precision(yt, sign * xt[:, j]),
                }
            )
    best = max(candidates, key=lambda c: c["validation_f1"])
    return {**best, "candidates": candidates}


def static_threshold(
    x_val: np.ndarray, y_val: np.ndarray, x_test: np.ndarray
) -> tuple[float, np.ndarray]:
    """Flag a latency window when its worst sample reaches one fixed threshold.

    The threshold maximises accuracy on the validation windows; returns it and the 0/1 test
    predictions.
    """
    peak_val = np.asarray(x_val, np.float64).reshape(len(x_val), -1).max(axis=1)
    peak_test = np.asarray(x_test, np.float64).reshape(len(x_test), -1).max(axis=1)
    y = np.asarray(y_val) == 1
    order = np.argsort(peak_val, kind="mergesort")
    s, pos = peak_val[order], y[order]
    # Candidate thresholds: each distinct value (flag >= it) plus "flag nothing".
    first = np.r_[0, np.flatnonzero(np.diff(s) != 0) + 1]
    neg_below = np.cumsum(~pos)[first - 1] * (first > 0)  # negatives below each candidate
    pos_at_or_above = pos.sum() - (np.cumsum(pos)[first - 1] * (first > 0))
    correct = np.r_[neg_below + pos_at_or_above, (~pos).sum()]
    thresholds = np.r_[s[first], np.inf]
    threshold = float(thresholds[int(np.argmax(correct))])
    return threshold, (peak_test >= threshold).astype(np.int64)
