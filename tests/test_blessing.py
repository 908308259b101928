"""Blessing rules: every configured target, never without thresholds, no regression beyond the
tolerance against the deployed model, lower-is-better metrics handled as such."""

from __future__ import annotations

import math

import pytest

from dwcp_training.blessing import (
    REGRESSION_METRICS,
    configured_targets,
    decide,
    regression_checks,
)
from dwcp_training.evaluate import EvaluationThresholds
from dwcp_training.models.base import Target

BANDWIDTH = [Target("pearson_r", ">=", 0.98), Target("mape", "<", 0.05)]
COMPRESSION = [Target("accuracy", ">=", 0.98), Target("throughput_gain", ">", 0.0)]
LATENCY = [Target("accuracy", ">=", 0.98)]
GOOD_BW = {"pearson_r": 0.995, "mape": 0.03, "mae": 10.0, "rmse": 20.0}
DEFAULT = EvaluationThresholds()


def test_every_target_met_is_blessed_with_a_reason_per_metric():
    verdict = decide("bandwidth", BANDWIDTH, GOOD_BW, DEFAULT)
    assert verdict["blessed"] is True
    assert verdict["reasons"][0].startswith("BLESSED")
    assert any(r.startswith("target pearson_r: 0.995 >= 0.98 -> met") for r in verdict["reasons"])
    assert any(r.startswith("target mape: 0.03 < 0.05 -> met") for r in verdict["reasons"])
    assert [c["metric"] for c in verdict["checks"]] == ["pearson_r", "mape"]


@pytest.mark.parametrize(
    ("metric", "value"),
    [("pearson_r", 0.97), ("mape", 0.05), ("mape", 0.2), ("pearson_r", math.nan)],
)
def test_missing_one_target_is_not_blessed(metric, value):
    verdict = decide("bandwidth", BANDWIDTH, {**GOOD_BW, metric: value}, DEFAULT)
    assert verdict["blessed"] is False
    failed = [c["metric"] for c in verdict["checks"] if not c["met"]]
    assert failed == [metric]
    assert metric in verdict["verdict"]
    assert any(r.startswith(f"target {metric}") and "MISSED" in r for r in verdict["reasons"])


def test_a_missing_metric_is_not_a_pass():
    verdict = decide("bandwidth", BANDWIDTH, {"pearson_r": 0.999}, DEFAULT)
    assert verdict["blessed"] is False
    assert any("mape: missing" in r for r in verdict["reasons"])


def test_flags_set_the_threshold_values():
    strict = EvaluationThresholds(target_accuracy=0.999, max_mape=0.01)
    verdict = decide("bandwidth", BANDWIDTH, GOOD_BW, strict)
    assert {c["metric"]: c["value"] for c in verdict["checks"]} == {
        "pearson_r": 0.999,
        "mape": 0.01,
    }
    assert verdict["blessed"] is False


def test_no_thresholds_configured_is_never_blessed():
    verdict = decide("bandwidth", BANDWIDTH, GOOD_BW, None)
    assert verdict["blessed"] is False
    assert verdict["checks"] == []
    assert "no thresholds configured" in verdict["verdict"]


def test_a_switched_off_threshold_is_named_and_the_rest_still_counts():
    no_accuracy = EvaluationThresholds(target_accuracy=None)
    verdict = decide("bandwidth", BANDWIDTH, {**GOOD_BW, "pearson_r": 0.1}, no_accuracy)
    assert verdict["blessed"] is True  # only MAPE is configured, and met
    assert "target pearson_r: not configured (skipped)" in verdict["reasons"]
    # A model left with only its fixed target (throughput_gain > 0) has nothing configured.
    compression = decide(
        "compression", COMPRESSION, {"accuracy": 1.0, "throughput_gain": 1.0}, no_accuracy
    )
    assert compression["blessed"] is False
    latency = decide("latency", LATENCY, {"accuracy": 1.0}, no_accuracy)
    assert latency["blessed"] is False


def test_fixed_targets_stay_when_something_is_configured():
    targets, off = configured_targets(COMPRESSION, DEFAULT)
    assert [str(t) for t in targets] == ["accuracy >= 0.98", "throughput_gain > 0"]
    assert off == []
    verdict = decide(
        "compression", COMPRESSION, {"accuracy": 0.99, "throughput_gain": 0.0}, DEFAULT
    )
    assert verdict["blessed"] is False  # no gain over the default level


# --- regression against the deployed model -------------------------------------------------------


def _regression(metrics: dict, deployed: dict, tolerance: float = 0.01) -> dict:
    checks, _ = regression_checks("bandwidth", metrics, deployed, tolerance)
    return {c.metric: c.met for c in checks}


def test_higher_is_better_may_drop_by_the_tolerance_only():
    deployed = {"pearson_r": 0.995}
    assert _regression({"pearson_r": 0.9851}, deployed) == {"pearson_r": True}
    assert _regression({"pearson_r": 0.9849}, deployed) == {"pearson_r": False}


def test_lower_is_better_metrics_may_rise_by_the_tolerance_only():
    # MAPE is a fraction: absolute slack 0.01. MAE is in Mbit/s: slack 1 % of the deployed value.
    deployed = {"mape": 0.03, "mae": 200.0}
    assert _regression({"mape": 0.0399, "mae": 201.9}, deployed) == {"mape": True, "mae": True}
    assert _regression({"mape": 0.0401, "mae": 202.1}, deployed) == {"mape": False, "mae": False}
    # Lower than deployed is an improvement, never a regression.
    assert _regression({"mape": 0.001, "mae": 1.0}, deployed) == {"mape": True, "mae": True}


def test_a_regression_refuses_a_model_that_meets_every_target():
    deployed = {**GOOD_BW, "mape": 0.01, "mae": 5.0}
    verdict = decide("bandwidth", BANDWIDTH, GOOD_BW, DEFAULT, deployed, "regression: vs v1")
    assert verdict["blessed"] is False
    regressed = sorted(c["metric"] for c in verdict["checks"] if not c["met"])
    assert regressed == ["mae", "mape"]
    assert all(c["met"] for c in verdict["checks"] if c["kind"] == "target")
    assert "regression: vs v1" in verdict["reasons"]
    assert any(r.startswith("regression mae") and "REGRESSED" in r for r in verdict["reasons"])
    assert verdict["regression_tolerance"] == 0.01


def test_no_regression_when_equal_to_the_deployed_model():
    verdict = decide("bandwidth", BANDWIDTH, GOOD_BW, DEFAULT, dict(GOOD_BW))
    assert verdict["blessed"] is True
    kinds = [c["kind"] for c in verdict["checks"]]
    assert kinds.count("regression") == len(REGRESSION_METRICS["bandwidth"])


def test_metrics_absent_from_the_deployed_evaluation_are_skipped_by_name():
    verdict = decide("bandwidth", BANDWIDTH, GOOD_BW, DEFAULT, {"pearson_r": 0.99})
    assert verdict["blessed"] is True
    assert "regression mape: the deployed evaluation has no value (skipped)" in verdict["reasons"]


def test_regression_tolerance_comes_from_the_thresholds():
    deployed = {"pearson_r": 0.999}
    lenient = EvaluationThresholds(regression_tolerance=0.05)
    assert decide("bandwidth", BANDWIDTH, GOOD_BW, lenient, deployed)["blessed"] is True
    assert decide("bandwidth", BANDWIDTH, GOOD_BW, DEFAULT, deployed)["blessed"] is True
    strict = EvaluationThresholds(regression_tolerance=0.0)
    assert decide("bandwidth", BANDWIDTH, GOOD_BW, strict, deployed)["blessed"] is False
