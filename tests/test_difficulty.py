"""The default data make the targets mean something: naive baselines FAIL them on the test file,
while simple shape-aware rules show that a good model CAN pass.

Everything runs on the DEFAULT simulator sizes, through the real validate and window steps, with
thresholds chosen on the training file's validation split and scored on the test file.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from dwcp_training import baselines, difficulty, metrics
from dwcp_training import compression_oracle as oracle
from dwcp_training.simulator import generate


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory):
    out = generate(tmp_path_factory.mktemp("default_data"))
    train, test = difficulty.load_windows(out.train_path, out.test_path)
    return out, train, test


@pytest.fixture(scope="module")
def rows(data) -> dict[str, dict]:
    _, train, test = data
    return {row["baseline"]: row for row in difficulty.difficulty_rows(train, test)}


def test_no_baseline_meets_its_target(rows: dict[str, dict]) -> None:
    assert len(rows) == 8
    assert not [name for name, row in rows.items() if row["passes"]]


def test_difficulty_table_from_paths(data, rows: dict[str, dict]) -> None:
    out, _, _ = data
    table = difficulty.difficulty_table(out.train_path, out.test_path)
    assert [r["baseline"] for r in table] == list(rows)
    markdown = difficulty.to_markdown(table)
    assert markdown.count("\n") == len(table) + 1 and "| no |" in markdown


# --- 1. bandwidth ---------------------------------------------------------------------------------


def test_throughput_index_matches_the_window_features() -> None:
    from dwcp_training.window import FEATURES

    assert FEATURES["bandwidth"].index("throughput_mbps") == baselines.THROUGHPUT_INDEX


def test_persistence_and_averages_fail_bandwidth_by_a_margin(rows: dict[str, dict]) -> None:
    for name in ("persistence (last value)", "harmonic mean of last 5", "EWMA (alpha 0.5)"):
        assert rows[name]["metrics"]["mape"] >= 1.5 * difficulty.BANDWIDTH_MAX_MAPE, name


def _bandwidth_design(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Log-space lags relative to the last step, interacted with the link type (+ its anchor)."""
    x = x.astype(np.float64)
    log_tp = np.log(x[:, :, 2])
    last = log_tp[:, -1]
    lags = np.concatenate([log_tp - last[:, None], np.log(x[:, :, 0] / x[:, -1:, 0])], axis=1)
    one_hot = np.eye(4)[x[:, -1, 4].astype(int)]
    design = np.concatenate([lags * one_hot[:, [k]] for k in range(4)] + [one_hot], axis=1)
    return design, last


def test_a_sequence_model_can_pass_bandwidth(data) -> None:
    """A linear model on the 10-step window (per link type, log space) already reaches the target:
    the step-to-step change is large but predictable from the window."""
    _, train, test = data
    tr = train.arrays["bandwidth"]["train"]
    design, last = _bandwidth_design(np.asarray(tr.X))
    coef, *_ = np.linalg.lstsq(design, np.log(tr.y) - last, rcond=None)
    te = test.arrays["bandwidth"]["test"]
    design, last = _bandwidth_design(np.asarray(te.X))
    pred = np.exp(design @ coef + last)
    assert metrics.mape(te.y, pred) < difficulty.BANDWIDTH_MAX_MAPE
    assert metrics.pearson(te.y, pred) >= difficulty.BANDWIDTH_MIN_R


# --- 2. compression -------------------------------------------------------------------------------


def test_most_common_level_is_far_from_the_target(rows: dict[str, dict]) -> None:
    common = next(r for name, r in rows.items() if name.startswith("most common level"))
    assert common["metrics"]["accuracy"] <= 0.60
    assert rows[f"fixed level {oracle.DEFAULT_LEVEL}"]["metrics"]["accuracy"] < 0.5


def test_levels_are_spread_and_the_label_is_learnable(data) -> None:
    _, _, test = data
    comp = test.arrays["compression"]["test"]
    shares = np.bincount(comp.y, minlength=10) / len(comp)
    assert (shares >= 0.03).sum() >= 4
    # The label is a deterministic function of exactly the six inputs (float32 as windowed).
    assert np.mean(oracle.optimal_level(np.asarray(comp.X)) == comp.y) > 0.999
    assert oracle.throughput_gain(comp.y, np.asarray(comp.X)) > 0


# --- 3. reliability -------------------------------------------------------------------------------


def test_no_single_feature_threshold_meets_the_reliability_target(data) -> None:
    from dwcp_training.window import FEATURES

    _, train, test = data
    val, te = train.arrays["reliability"]["validation"], test.arrays["reliability"]["test"]
    best = baselines.best_single_feature_threshold(
        np.asarray(val.X), val.y, np.asarray(te.X), te.y, list(FEATURES["reliability"])
    )
    assert len(best["candidates"]) == 12  # six features, both directions
    for rule in best["candidates"]:
        assert rule["pr_auc"] < difficulty.RELIABILITY_MIN_PR_AUC, rule
        assert rule["recall"] < difficulty.RELIABILITY_MIN_RECALL or rule["precision"] < 0.5, rule
    assert best["recall"] < 0.9


def test_anomalies_are_a_few_percent_and_every_type_is_tested(data) -> None:
    out, train, test = data
    share = test.arrays["reliability"]["test"].y.mean()
    assert 0.02 <= share <= 0.08
    labels = json.loads(Path(out.incidents_path).read_text())
    in_test = {e["type"] for e in labels["incidents"] if e["file"] == out.test_path.name}
    assert in_test == {"crash", "network_failure", "disk_full", "memory_leak"}
    val_rows = train.arrays["reliability"]["validation"]
    assert val_rows.y.sum() > 0


# --- 4. latency -----------------------------------------------------------------------------------


def test_static_threshold_fails_latency(rows: dict[str, dict]) -> None:
    row = rows["static threshold on the window max"]
    assert row["metrics"]["accuracy"] < difficulty.LATENCY_MIN_ACCURACY
    assert 0.10 <= row["metrics"]["positive_share"] <= 0.25


def test_a_shape_aware_detector_can_pass_latency(data) -> None:
    """Per-window spread of log latency (level-free) with a validation threshold passes."""
    from dwcp_training.calibration import best_accuracy_threshold

    _, train, test = data
    val, te = train.arrays["latency"]["validation"], test.arrays["latency"]["test"]

    def spread(x: np.ndarray) -> np.ndarray:
        return np.std(np.log(np.asarray(x, np.float64)), axis=1)

    threshold = best_accuracy_threshold(spread(val.X), val.y)
    accuracy = metrics.accuracy(te.y, spread(te.X) >= threshold)
    assert accuracy >= difficulty.LATENCY_MIN_ACCURACY
