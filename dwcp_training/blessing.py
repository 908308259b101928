"""Blessing: the one yes/no the push step trusts, with its reasons written out metric by metric.

A model is BLESSED only when
1. thresholds are configured (a model whose targets are all switched off is never blessed:
   "nothing to check" must not read as "passed"), and every configured target is met on the
   held-out test file; and
2. when a baseline evaluation is given (`--baseline-dir`, the evaluation output of the models
   currently deployed), no compared metric is worse than the deployed model's beyond the
   tolerance.

Regression tolerance, stated once: a metric may be worse than the deployed value by at most
`tolerance * max(|deployed value|, 1)`. For the metrics that live on a 0..1 scale (accuracy,
recall, PR-AUC, MAPE as a fraction, ...) that is an absolute slack of `tolerance` (0.01 = one
percentage point); for larger-scale metrics (MAE and RMSE in Mbit/s, throughput gain) it is
relative to the deployed value. "Worse" respects the direction: higher for MAPE, MAE, RMSE,
regret and detection delay, lower for everything else.

The blessing file (`<output_dir>/<model>/blessing.json`) carries the ONNX file's SHA-256, so the
push step can refuse to upload any file other than the one evaluated.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from dwcp_training.models.base import Target

#: Metrics where smaller is better.
LOWER_IS_BETTER = frozenset({"mape", "mae", "rmse", "regret", "mean_detection_delay_s"})

#: Metrics compared against the deployed models, per model (the targets plus the numbers a
#: reviewer would object to losing).
REGRESSION_METRICS: dict[str, tuple[str, ...]] = {
    "bandwidth": ("pearson_r", "mape", "mae", "rmse"),
    "compression": ("accuracy", "macro_f1", "throughput_gain", "regret"),
    "reliability": ("recall", "precision", "pr_auc", "roc_auc"),
    "latency": ("accuracy", "precision", "recall", "f1", "episode_recall"),
}

#: Which `EvaluationThresholds` field sets each target metric; a target metric not listed here
#: is a fixed part of the model's definition (e.g. compression's throughput_gain > 0).
THRESHOLD_FIELDS: dict[str, str] = {
    "pearson_r": "target_accuracy",
    "accuracy": "target_accuracy",
    "recall": "target_accuracy",
    "mape": "max_mape",
    "pr_auc": "min_pr_auc",
}


@dataclass(frozen=True)
class Check:
    """One comparison: `achieved op value`."""

    metric: str
    op: str
    value: float
    achieved: float | None
    met: bool
    kind: str  # "target" or "regression"
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def reason(self) -> str:
        achieved = "missing" if self.achieved is None else f"{self.achieved:.6g}"
        verdict = "met" if self.met else ("REGRESSED" if self.kind == "regression" else "MISSED")
        text = f"{self.kind} {self.metric}: {achieved} {self.op} {self.value:.6g} -> {verdict}"
        return f"{text} ({self.note})" if self.note else text


def _finite(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def configured_targets(
    model_targets: Sequence[Target], thresholds: Any | None
) -> tuple[list[Target], list[str]]:
    """The model's targets with the configured threshold values, and what is switched off.

    `thresholds` is an `EvaluationThresholds` (or None: nothing configured). Returns the targets
    to check and the metrics left unconfigured. Fixed targets (not in THRESHOLD_FIELDS) are kept
    only when at least one configurable target is configured.
    """
    if thresholds is None:
        return [], [t.metric for t in model_targets]
    chosen: list[Target] = []
    off: list[str] = []
    for target in model_targets:
        field = THRESHOLD_FIELDS.get(target.metric)
        if field is None:
            chosen.append(target)
            continue
        value = getattr(thresholds, field)
        if value is None:
            off.append(target.metric)
        else:
            chosen.append(Target(target.metric, target.op, float(value)))
    if all(t.metric not in THRESHOLD_FIELDS for t in chosen):
        return [], [t.metric for t in model_targets]
    return chosen, off


def target_checks(targets: Sequence[Target], metrics: Mapping[str, Any]) -> list[Check]:
    return [
        Check(
            t.metric,
            t.op,
            t.value,
            _finite(metrics.get(t.metric)),
            t.met(_finite(metrics.get(t.metric))),
            "target",
        )
        for t in targets
    ]


def regression_checks(
    model: str,
    metrics: Mapping[str, Any],
    deployed: Mapping[str, Any],
    tolerance: float,
) -> tuple[list[Check], list[str]]:
    """Compare against the deployed model's metrics; returns the checks and skipped metrics."""
    checks: list[Check] = []
    skipped: list[str] = []
    for metric in REGRESSION_METRICS.get(model, ()):
        base = _finite(deployed.get(metric))
        if base is None:
            skipped.append(metric)
            continue
        slack = tolerance * max(abs(base), 1.0)
        achieved = _finite(metrics.get(metric))
        if metric in LOWER_IS_BETTER:
            op, bound = "<=", base + slack
            met = achieved is not None and achieved <= bound
        else:
            op, bound = ">=", base - slack
            met = achieved is not None and achieved >= bound
        note = f"deployed {base:.6g}, tolerance {slack:.3g}"
        checks.append(Check(metric, op, bound, achieved, met, "regression", note))
    return checks, skipped


def decide(
    model: str,
    model_targets: Sequence[Target],
    metrics: Mapping[str, Any],
    thresholds: Any | None,
    deployed: Mapping[str, Any] | None = None,
    deployed_note: str | None = None,
) -> dict[str, Any]:
    """The blessing verdict for one model: {"blessed", "reasons", "checks", ...}.

    `deployed`: the deployed model's metrics (None: no baseline comparison); `deployed_note`: a
    sentence about the baseline (where it came from, or why there is none for this model).
    """
    targets, off = configured_targets(model_targets, thresholds)
    checks = target_checks(targets, metrics)
    reasons: list[str] = []
    if not targets:
        reasons.append(
            "no thresholds configured for this model: it is not blessed (an evaluation without "
            "targets never passes silently)"
        )
    for metric in off:
        reasons.append(f"target {metric}: not configured (skipped)")
    tolerance = getattr(thresholds, "regression_tolerance", 0.0) if thresholds else 0.0
    if deployed is not None:
        regression, skipped = regression_checks(model, metrics, deployed, tolerance)
        checks += regression
        reasons += [
            f"regression {m}: the deployed evaluation has no value (skipped)" for m in skipped
        ]
    if deployed_note:
        reasons.append(deployed_note)
    reasons += [c.reason() for c in checks]
    failed = [c for c in checks if not c.met]
    blessed = bool(targets) and not failed
    if blessed:
        verdict = "BLESSED: every configured target met" + (
            " and no regression against the deployed model" if deployed is not None else ""
        )
    elif not targets:
        verdict = "NOT BLESSED: no thresholds configured"
    else:
        verdict = "NOT BLESSED: " + "; ".join(
            f"{c.metric} {'regressed' if c.kind == 'regression' else 'target missed'}"
            for c in failed
        )
    return {
        "model": model,
        "blessed": blessed,
        "verdict": verdict,
        "reasons": [verdict, *reasons],
        "checks": [c.to_dict() for c in checks],
        "regression_tolerance": tolerance if deployed is not None else None,
    }
