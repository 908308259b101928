"""Population stability index: known values, binning edge cases, warnings."""

from __future__ import annotations

import math

import numpy as np
import pytest

from dwcp_training import drift


def test_identical_samples_have_zero_psi():
    x = np.random.default_rng(0).lognormal(size=5000)
    assert drift.psi(x, x) == 0.0
    assert drift.psi(x, x.copy()[::-1]) == 0.0


def test_known_value_when_everything_moves_into_one_bin():
    # Reference: 0..99 -> deciles put 10 % in each bin. Current: everything in the first bin.
    reference = np.arange(100.0)
    current = np.zeros(50)
    p = np.full(10, 0.1)
    q = np.r_[1.0, np.full(9, drift.EPSILON)]
    expected = float(np.sum((q - p) * np.log(q / p)))
    assert drift.psi(reference, current) == pytest.approx(expected)
    assert drift.level(expected) == "significant"


def test_categorical_psi_uses_one_bin_per_category():
    reference = np.array([0] * 50 + [1] * 50)
    current = np.array([0] * 25 + [1] * 75)
    expected = (0.25 - 0.5) * math.log(0.25 / 0.5) + (0.75 - 0.5) * math.log(0.75 / 0.5)
    # Category 2 is empty on both sides: floored, contributes 0.
    assert drift.psi(reference, current, categories=3) == pytest.approx(expected)


def test_a_point_mass_does_not_break_the_binning():
    reference = np.r_[np.full(900, 100.0), np.linspace(90, 99.9, 100)]  # uptime_pct-like
    assert drift.psi(reference, reference) == 0.0
    assert drift.psi(reference, np.full(100, 95.0)) > drift.WARN_PSI


def test_small_noise_is_stable_and_a_scale_change_is_flagged():
    rng = np.random.default_rng(1)
    train = rng.normal(100, 10, 20_000)
    assert drift.level(drift.psi(train, rng.normal(100, 10, 5_000))) == "stable"
    assert drift.level(drift.psi(train, rng.normal(100, 10, 5_000) * 1.5)) == "significant"


def test_nan_values_are_ignored_and_empty_sides_refused():
    x = np.arange(100.0)
    assert drift.psi(np.r_[x, np.nan], x) == 0.0
    with pytest.raises(ValueError, match="finite"):
        drift.psi(x, np.array([np.nan]))


def test_feature_drift_reports_every_shared_feature_and_warns_past_the_level():
    rng = np.random.default_rng(2)
    train = {"rtt_ms": rng.gamma(2, 10, 4000), "link_type": rng.integers(0, 4, 4000), "x": [1.0]}
    test = {"rtt_ms": rng.gamma(2, 10, 2000) * 3, "link_type": rng.integers(0, 4, 2000)}
    report = drift.feature_drift(train, test, {"link_type": 4})
    assert set(report["features"]) == {"rtt_ms", "link_type"}
    assert report["features"]["rtt_ms"]["level"] == "significant"
    assert report["features"]["link_type"]["kind"] == "categorical"
    assert report["features"]["link_type"]["level"] == "stable"
    assert len(report["warnings"]) == 1 and report["warnings"][0].startswith("rtt_ms: PSI")
    assert report["levels"] == {"moderate": drift.MODERATE_PSI, "warn": drift.WARN_PSI}


def test_psi_is_deterministic():
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=3000), rng.normal(0.2, 1, 3000)
    assert drift.psi(a, b) == drift.psi(a, b)
