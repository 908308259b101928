"""How hard the data is: every naive baseline scored against the model targets.

A 98 % target only means something if the obvious rules miss it. This module scores them on a
held-out test file the way the evaluation scores a model (thresholds chosen on the validation
split of the training file, never on the test file) and returns one row per baseline, so the
table in docs/simulator.md is produced by code (`python -m dwcp_training.difficulty DIR`) and
tests/test_difficulty.py asserts on the same numbers.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np

from dwcp_training import baselines, metrics
from dwcp_training import compression_oracle as oracle

# The model targets of MODEL_SPECS.md.
BANDWIDTH_MIN_R, BANDWIDTH_MAX_MAPE = 0.98, 0.05
COMPRESSION_MIN_ACCURACY = 0.98
RELIABILITY_MIN_RECALL, RELIABILITY_MIN_PR_AUC = 0.98, 0.90
LATENCY_MIN_ACCURACY = 0.98
TRAIN_FRACTIONS = {"train": 0.7, "validation": 0.15, "test": 0.15}


def load_windows(train_path: str | Path, test_path: str | Path) -> tuple[Any, Any]:
    """(training file windowed 70/15/15, test file windowed as one test split)."""
    from dwcp_training.schema import load_schema
    from dwcp_training.validate import validate_file
    from dwcp_training.window import window_frame

    schema = load_schema()
    train = window_frame(validate_file(train_path).frame, schema, TRAIN_FRACTIONS)
    test = window_frame(validate_file(test_path).frame, schema, {"test": 1.0})
    return train, test


def _bandwidth_row(name: str, y: np.ndarray, pred: np.ndarray) -> dict[str, Any]:
    r, mape = metrics.pearson(y, pred), metrics.mape(y, pred)
    return {
        "model": "bandwidth",
        "baseline": name,
        "metrics": {"pearson_r": r, "mape": mape},
        "target": f"r >= {BANDWIDTH_MIN_R} and MAPE < {BANDWIDTH_MAX_MAPE:.0%}",
        "passes": r >= BANDWIDTH_MIN_R and mape < BANDWIDTH_MAX_MAPE,
    }


def _compression_row(name: str, x: np.ndarray, y: np.ndarray, levels: np.ndarray) -> dict:
    acc = metrics.accuracy(y, levels)
    gain = oracle.throughput_gain(levels, x)
    return {
        "model": "compression",
        "baseline": name,
        "metrics": {"accuracy": acc, "throughput_gain": gain},
        "target": f"accuracy >= {COMPRESSION_MIN_ACCURACY} and gain > 0 over level "
        f"{oracle.DEFAULT_LEVEL}",
        "passes": acc >= COMPRESSION_MIN_ACCURACY and gain > 0,
    }


def _reliability_row(name: str, rule: dict[str, Any]) -> dict[str, Any]:
    recall, pr_auc = rule["recall"], rule["pr_auc"]
    return {
        "model": "reliability",
        "baseline": name,
        "metrics": {
            "recall": recall,
            "precision": rule["precision"],
            "pr_auc": pr_auc,
            "rule": f"{rule['feature']} {rule['direction']} {rule['threshold']:.6g}",
        },
        "target": f"recall >= {RELIABILITY_MIN_RECALL} and PR-AUC >= {RELIABILITY_MIN_PR_AUC}",
        "passes": recall >= RELIABILITY_MIN_RECALL and pr_auc >= RELIABILITY_MIN_PR_AUC,
    }


def difficulty_rows(train_windows: Any, test_windows: Any) -> list[dict[str, Any]]:
    """Baseline rows from already windowed data (see `load_windows`)."""
    from dwcp_training.window import FEATURES

    rows: list[dict[str, Any]] = []
    bw = test_windows.arrays["bandwidth"]["test"]
    x_bw = np.asarray(bw.X)
    rows.append(_bandwidth_row("persistence (last value)", bw.y, baselines.persistence(x_bw)))
    rows.append(_bandwidth_row("harmonic mean of last 5", bw.y, baselines.harmonic_mean_last(x_bw)))
    rows.append(_bandwidth_row("EWMA (alpha 0.5)", bw.y, baselines.ewma(x_bw, 0.5)))

    comp = test_windows.arrays["compression"]["test"]
    x_c, n = np.asarray(comp.X), len(comp)
    y_train = train_windows.arrays["compression"]["train"].y
    fixed = baselines.fixed_level(n)
    rows.append(_compression_row(f"fixed level {oracle.DEFAULT_LEVEL}", x_c, comp.y, fixed))
    common = baselines.most_common_level(y_train, n)
    rows.append(_compression_row(f"most common level ({common[0]})", x_c, comp.y, common))

    val = train_windows.arrays["reliability"]["validation"]
    test = test_windows.arrays["reliability"]["test"]
    best = baselines.best_single_feature_threshold(
        np.asarray(val.X), val.y, np.asarray(test.X), test.y, list(FEATURES["reliability"])
    )
    rows.append(_reliability_row("best single-feature threshold (validation F1)", best))
    top_auc = max(best["candidates"], key=lambda c: c["pr_auc"])
    rows.append(_reliability_row("single feature with the highest test PR-AUC", top_auc))

    val = train_windows.arrays["latency"]["validation"]
    test = test_windows.arrays["latency"]["test"]
    threshold, flagged = baselines.static_threshold(np.asarray(val.X), val.y, np.asarray(test.X))
    acc = metrics.accuracy(test.y, flagged)
    rows.append(
        {
            "model": "latency",
            "baseline": "static threshold on the window max",
            "metrics": {
                "accuracy": acc,
                "threshold_ms": threshold,
                "positive_share": float(np.mean(test.y)),
            },
            "target": f"accuracy >= {LATENCY_MIN_ACCURACY}",
            "passes": acc >= LATENCY_MIN_ACCURACY,
        }
    )
    return rows


def difficulty_table(train_path: str | Path, test_path: str | Path) -> list[dict[str, Any]]:
    """Score every naive baseline on `test_path`, thresholds chosen on `train_path`'s validation.

    One dict per baseline: model, baseline, metrics (name -> value), target (text), passes.
    """
    return difficulty_rows(*load_windows(train_path, test_path))


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4f}" if abs(value) < 1000 else f"{value:.1f}"
    return str(value)


def to_markdown(rows: list[dict[str, Any]]) -> str:
    """The rows as a Markdown table (what docs/simulator.md shows)."""
    lines = ["| model | baseline | result | target | meets target |", "|---|---|---|---|---|"]
    for row in rows:
        result = ", ".join(f"{k} {_fmt(v)}" for k, v in row["metrics"].items())
        verdict = "yes" if row["passes"] else "no"
        lines.append(
            f"| {row['model']} | {row['baseline']} | {result} | {row['target']} | {verdict} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """`python -m dwcp_training.difficulty DIR`: the table for DIR/dwcp_metrics.* + dwcp_test.*."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m dwcp_training.difficulty DATA_DIR", file=sys.stderr)
        return 2
    folder = Path(args[0])
    train = next(iter(sorted(folder.glob("dwcp_metrics.*"))), None)
    test = next(iter(sorted(folder.glob("dwcp_test.*"))), None)
    if train is None or test is None:
        print(f"{folder}: no dwcp_metrics.* / dwcp_test.* files", file=sys.stderr)
        return 2
    print(to_markdown(difficulty_table(train, test)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
