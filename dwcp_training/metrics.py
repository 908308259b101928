"""Evaluation metrics in plain numpy.

Why not sklearn: the core package (validate, window, evaluate, the Go-contract checks) must run
without scikit-learn or TensorFlow installed, and these are a few lines each. Definitions follow
scikit-learn's where it has one (tests/test_metrics.py compares them where sklearn is present):
- `mape` is a FRACTION (0.05 = 5 %), like `sklearn.metrics.mean_absolute_percentage_error`;
- `average_precision` is the step-wise (non-interpolated) PR-AUC of `average_precision_score`,
  with tied scores treated as one threshold;
- `precision`, `recall`, `f1` are binary (positive class 1) and return 0.0 where undefined
  (sklearn's `zero_division=0`);
- `roc_auc` is the Mann-Whitney statistic with ties counted one half.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

__all__ = [
    "accuracy",
    "average_precision",
    "f1",
    "macro_f1",
    "mae",
    "mape",
    "pearson",
    "precision",
    "recall",
    "rmse",
    "roc_auc",
]


def _pair(y_true, y_pred) -> tuple[np.ndarray, np.ndarray]:
    t = np.asarray(y_true, dtype=np.float64).reshape(-1)
    p = np.asarray(y_pred, dtype=np.float64).reshape(-1)
    if t.shape != p.shape:
        raise ValueError(f"y_true and y_pred differ in length: {t.shape[0]} vs {p.shape[0]}")
    if t.size == 0:
        raise ValueError("metrics need at least one sample")
    return t, p


def mape(y_true, y_pred, eps: float = np.finfo(np.float64).eps) -> float:
    """Mean absolute percentage error as a fraction; |y_true| is floored at `eps` like sklearn."""
    t, p = _pair(y_true, y_pred)
    return float(np.mean(np.abs(p - t) / np.maximum(np.abs(t), eps)))


def mae(y_true, y_pred) -> float:
    t, p = _pair(y_true, y_pred)
    return float(np.mean(np.abs(p - t)))


def rmse(y_true, y_pred) -> float:
    t, p = _pair(y_true, y_pred)
    return float(np.sqrt(np.mean((p - t) ** 2)))


def pearson(y_true, y_pred) -> float:
    """Pearson correlation; 0.0 when either side is constant (no linear association to claim).

    Returning 0 instead of NaN keeps a constant predictor comparable against ">= 0.98" and keeps
    reports valid JSON.
    """
    t, p = _pair(y_true, y_pred)
    dt, dp = t - t.mean(), p - p.mean()
    denom = np.sqrt(np.sum(dt * dt) * np.sum(dp * dp))
    if denom == 0.0 or not np.isfinite(denom):
        return 0.0
    return float(np.clip(np.sum(dt * dp) / denom, -1.0, 1.0))


def accuracy(y_true, y_pred) -> float:
    t, p = _pair(y_true, y_pred)
    return float(np.mean(t == p))


def _binary_counts(y_true, y_pred) -> tuple[int, int, int]:
    t, p = _pair(y_true, y_pred)
    t, p = t == 1, p == 1
    return int(np.sum(t & p)), int(np.sum(~t & p)), int(np.sum(t & ~p))


def precision(y_true, y_pred) -> float:
    tp, fp, _ = _binary_counts(y_true, y_pred)
    return tp / (tp + fp) if tp + fp else 0.0


def recall(y_true, y_pred) -> float:
    tp, _, fn = _binary_counts(y_true, y_pred)
    return tp / (tp + fn) if tp + fn else 0.0


def f1(y_true, y_pred) -> float:
    tp, fp, fn = _binary_counts(y_true, y_pred)
    return 2 * tp / (2 * tp + fp + fn) if tp else 0.0


def macro_f1(y_true, y_pred, labels: Iterable[int] | None = None) -> float:
    """Unweighted mean of per-class F1 over `labels` (default: classes present in either side).

    A label absent from both sides contributes 0, as in sklearn with `zero_division=0`.
    """
    t, p = _pair(y_true, y_pred)
    classes = np.unique(np.concatenate([t, p])) if labels is None else np.asarray(list(labels))
    scores = [f1(t == c, p == c) for c in classes]
    return float(np.mean(scores)) if scores else 0.0


def _ranked(y_true, scores) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cumulative TP and FP at each distinct score threshold, highest score first."""
    t, s = _pair(y_true, scores)
    order = np.argsort(-s, kind="mergesort")
    s, pos = s[order], (t[order] == 1)
    last_of_tie = np.r_[np.flatnonzero(np.diff(s) != 0), len(s) - 1]
    tps = np.cumsum(pos)[last_of_tie]
    fps = (last_of_tie + 1) - tps
    return tps.astype(np.float64), fps.astype(np.float64), pos


def average_precision(y_true, scores) -> float:
    """Area under the precision-recall curve, step-wise: sum_k (R_k - R_{k-1}) P_k.

    0.0 when there is no positive sample (recall is undefined there).
    """
    tps, fps, pos = _ranked(y_true, scores)
    n_pos = pos.sum()
    if n_pos == 0:
        return 0.0
    prec = tps / (tps + fps)
    rec = tps / n_pos
    return float(np.sum(np.diff(np.r_[0.0, rec]) * prec))


def roc_auc(y_true, scores) -> float:
    """Probability that a random positive outscores a random negative (ties count 1/2).

    0.5 when only one class is present, where the ROC curve is undefined.
    """
    t, s = _pair(y_true, scores)
    pos = t == 1
    n_pos, n_neg = int(pos.sum()), int((~pos).sum())
    if n_pos == 0 or n_neg == 0:
        return 0.5
    order = np.argsort(s, kind="mergesort")
    sorted_s = s[order]
    ranks = np.empty(len(s), dtype=np.float64)
    # Average rank within each run of tied scores.
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_s) != 0) + 1]
    ends = np.r_[starts[1:], len(s)]
    avg = (starts + ends + 1) / 2.0
    ranks[order] = np.repeat(avg, ends - starts)
    u = ranks[pos].sum() - n_pos * (n_pos + 1) / 2.0
    return float(u / (n_pos * n_neg))
