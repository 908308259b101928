"""Feature drift between the training data and a test file: population stability index (PSI).

Why PSI: it is the drift measure model-risk reviewers already read, it needs no distributional
assumption, it is symmetric in the two samples, and the conventional levels are well known:

    PSI < 0.10          stable
    0.10 <= PSI < 0.25  moderate shift: watch it
    PSI >= 0.25         significant shift: the test metrics may not describe production

How it is computed here (documented because PSI depends on the binning):
- numeric features: `BINS` bins whose edges are the interior quantiles of the TRAINING sample
  (deciles by default), so each bin holds about a tenth of the training data; duplicate edges
  (a point mass such as uptime_pct = 100) collapse into one, so a bin is never empty by
  construction. Values outside the training range fall into the first or last bin.
- categorical features (stored as their schema index): one bin per category.
- empty bins are floored at `EPSILON` (a share) on both sides so the logarithm stays finite.

    PSI = sum_b (q_b - p_b) * ln(q_b / p_b)     p: training shares, q: test shares

Pure numpy and deterministic: the same two samples always give the same numbers.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

BINS = 10
EPSILON = 1e-4
MODERATE_PSI = 0.10
WARN_PSI = 0.25


def _shares(codes: np.ndarray, n_bins: int) -> np.ndarray:
    counts = np.bincount(codes, minlength=n_bins).astype(np.float64)
    return np.maximum(counts / max(counts.sum(), 1.0), EPSILON)


def numeric_edges(reference: np.ndarray, bins: int = BINS) -> np.ndarray:
    """Interior bin edges: the reference sample's quantiles at 1/bins, 2/bins, ..."""
    qs = np.arange(1, bins) / bins
    return np.unique(np.quantile(reference, qs))


def psi(
    reference: np.ndarray,
    current: np.ndarray,
    *,
    categories: int | None = None,
    bins: int = BINS,
) -> float:
    """PSI of `current` against `reference` (1-D samples; NaNs dropped).

    `categories`: the number of categories when the values are category indices; otherwise the
    values are binned at the reference's quantiles.
    """
    ref = np.asarray(reference, np.float64).reshape(-1)
    cur = np.asarray(current, np.float64).reshape(-1)
    ref, cur = ref[np.isfinite(ref)], cur[np.isfinite(cur)]
    if ref.size == 0 or cur.size == 0:
        raise ValueError("PSI needs at least one finite value on each side")
    if categories is not None:
        n_bins = int(categories)
        ref_codes = np.clip(np.rint(ref), 0, n_bins - 1).astype(np.int64)
        cur_codes = np.clip(np.rint(cur), 0, n_bins - 1).astype(np.int64)
    else:
        edges = numeric_edges(ref, bins)
        n_bins = len(edges) + 1
        ref_codes = np.searchsorted(edges, ref, side="right")
        cur_codes = np.searchsorted(edges, cur, side="right")
    p, q = _shares(ref_codes, n_bins), _shares(cur_codes, n_bins)
    return float(np.sum((q - p) * np.log(q / p)))


def level(value: float) -> str:
    """The conventional reading of a PSI value."""
    if value >= WARN_PSI:
        return "significant"
    if value >= MODERATE_PSI:
        return "moderate"
    return "stable"


def feature_drift(
    reference: Mapping[str, np.ndarray],
    current: Mapping[str, np.ndarray],
    categories: Mapping[str, int] | None = None,
) -> dict[str, Any]:
    """PSI per feature present on both sides, plus the warnings for drifted features.

    `categories` maps categorical feature names to their number of categories.
    Returns {"method", "bins", "levels", "features": {name: {...}}, "warnings": [str, ...]}.
    """
    categories = dict(categories or {})
    features: dict[str, dict[str, Any]] = {}
    warnings: list[str] = []
    for name in reference:
        if name not in current:
            continue
        ref = np.asarray(reference[name], np.float64)
        cur = np.asarray(current[name], np.float64)
        value = psi(ref, cur, categories=categories.get(name))
        features[name] = {
            "psi": value,
            "level": level(value),
            "kind": "categorical" if name in categories else "numeric",
            "train_mean": float(np.nanmean(ref)),
            "test_mean": float(np.nanmean(cur)),
            "train_n": int(ref.size),
            "test_n": int(cur.size),
        }
        if value >= WARN_PSI:
            warnings.append(
                f"{name}: PSI {value:.3f} >= {WARN_PSI} (train mean {np.nanmean(ref):.4g}, "
                f"test mean {np.nanmean(cur):.4g}); the test metrics may not describe "
                "production for this feature"
            )
    return {
        "method": "population stability index",
        "bins": f"{BINS} training-quantile bins (numeric), one per category (categorical)",
        "epsilon": EPSILON,
        "levels": {"moderate": MODERATE_PSI, "warn": WARN_PSI},
        "features": features,
        "warnings": warnings,
    }
