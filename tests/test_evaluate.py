"""The evaluate step: known answers, blessing, refusals, determinism and the HTML report.

Most tests score HAND-BUILT ONNX models whose answers are known without any training (a
persistence forecaster, a constant compression level, one telemetry column as anomaly score, a
peak-latency threshold): they go through the real path (windows on disk, onnxruntime, reports)
in well under a second each, and their metrics must equal the matching naive baselines exactly.
Perfect, constant and shuffled predictors are checked on the scoring layer directly. One slow
test evaluates really trained models.
"""

from __future__ import annotations

import copy
import hashlib
import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dwcp_training import baselines, ground_truth, metrics
from dwcp_training.atomic import write_json
from dwcp_training.compression_oracle import DEFAULT_LEVEL
from dwcp_training.errors import DataError
from dwcp_training.eval_scoring import FrameRows, ScoringInput, score
from dwcp_training.evaluate import EvaluationThresholds, evaluate
from dwcp_training.models import TrainSettings, model_class
from dwcp_training.reports import MODEL_REPORT_FIELDS
from dwcp_training.schema import load_schema
from dwcp_training.validate import ValidationFailed, require_valid
from dwcp_training.window import load_windows, window_frame, write_windows

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
pytest.importorskip("matplotlib")

from onnx import TensorProto, helper  # noqa: E402

MODELS = ["bandwidth", "compression", "reliability", "latency"]
FAILURE_RATE = 1  # column of failure_rate in the reliability features
RELIABILITY_THRESHOLD = 0.05
LOOSE = EvaluationThresholds(target_accuracy=0.0, max_mape=10.0, min_pr_auc=0.0)
QUIET = {"log": lambda _m: None}


# --- hand-built ONNX models ---------------------------------------------------------------------


def _model(nodes, inputs, outputs, initializers) -> onnx.ModelProto:
    graph = helper.make_graph(nodes, "known_answer", inputs, outputs, initializers)
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    proto.ir_version = 8
    onnx.checker.check_model(proto)
    return proto


def _const(name: str, value, dtype=np.int64) -> onnx.TensorProto:
    return onnx.numpy_helper.from_array(np.asarray(value, dtype=dtype), name)


def persistence_onnx(seq_len: int, n_features: int) -> onnx.ModelProto:
    """throughput_mbps = the last observed throughput (feature 2 of the last step)."""
    x = helper.make_tensor_value_info("features", TensorProto.FLOAT, ["N", seq_len, n_features])
    y = helper.make_tensor_value_info("throughput_mbps", TensorProto.FLOAT, ["N"])
    nodes = [
        helper.make_node("Gather", ["features", "last"], ["step"], axis=1),
        helper.make_node("Gather", ["step", "col"], ["throughput_mbps"], axis=1),
    ]
    return _model(nodes, [x], [y], [_const("last", seq_len - 1), _const("col", 2)])


def constant_level_onnx(level: int) -> onnx.ModelProto:
    """compression_level = `level` for every row; uniform probabilities."""
    x = helper.make_tensor_value_info("features", TensorProto.FLOAT, ["N", 6])
    lv = helper.make_tensor_value_info("compression_level", TensorProto.INT64, ["N"])
    pr = helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", 10])
    nodes = [
        helper.make_node("Gather", ["features", "zero_i"], ["col"], axis=1),
        helper.make_node("Mul", ["col", "zero_f"], ["zeros"]),
        helper.make_node("Add", ["zeros", "level"], ["levels_f"]),
        helper.make_node("Cast", ["levels_f"], ["compression_level"], to=TensorProto.INT64),
        helper.make_node("Mul", ["features", "zero_f"], ["zero_rows"]),
        helper.make_node("MatMul", ["zero_rows", "w"], ["zero_probs"]),
        helper.make_node("Add", ["zero_probs", "tenth"], ["probabilities"]),
    ]
    init = [
        _const("zero_i", 0),
        _const("zero_f", 0.0, np.float32),
        _const("level", float(level), np.float32),
        _const("w", np.zeros((6, 10)), np.float32),
        _const("tenth", np.full(10, 0.1), np.float32),
    ]
    return _model(nodes, [x], [lv, pr], init)


def feature_score_onnx(column: int, threshold: float) -> onnx.ModelProto:
    """anomaly_score = one raw feature; is_anomaly = score >= threshold."""
    x = helper.make_tensor_value_info("features", TensorProto.FLOAT, ["N", 6])
    flag = helper.make_tensor_value_info("is_anomaly", TensorProto.BOOL, ["N"])
    s = helper.make_tensor_value_info("anomaly_score", TensorProto.FLOAT, ["N"])
    nodes = [
        helper.make_node("Gather", ["features", "col"], ["anomaly_score"], axis=1),
        helper.make_node("GreaterOrEqual", ["anomaly_score", "t"], ["is_anomaly"]),
    ]
    return _model(
        nodes, [x], [flag, s], [_const("col", column), _const("t", threshold, np.float32)]
    )


def peak_threshold_onnx(seq_len: int, threshold: float) -> onnx.ModelProto:
    """reconstruction_error = the window's peak latency; is_high_latency = peak >= threshold."""
    x = helper.make_tensor_value_info("sequence", TensorProto.FLOAT, ["N", seq_len])
    flag = helper.make_tensor_value_info("is_high_latency", TensorProto.BOOL, ["N"])
    err = helper.make_tensor_value_info("reconstruction_error", TensorProto.FLOAT, ["N"])
    nodes = [
        helper.make_node("ReduceMax", ["sequence"], ["reconstruction_error"], axes=[1], keepdims=0),
        helper.make_node("GreaterOrEqual", ["reconstruction_error", "t"], ["is_high_latency"]),
    ]
    return _model(nodes, [x], [flag, err], [_const("t", threshold, np.float32)])


def build_checkpoints(train_path: Path, out: Path) -> dict[str, float]:
    """A training-run layout (windows + per-model onnx/report/contract) with known models."""
    schema = load_schema()
    valid = require_valid(train_path, schema)
    windows = window_frame(valid.frame, schema, source_sha256=valid.report.sha256)
    write_windows(windows, out / "windows")
    val = windows.arrays["latency"]["validation"]
    peak, _ = baselines.static_threshold(np.asarray(val.X), val.y, np.asarray(val.X[:1]))
    seq = schema.sequence_length
    graphs = {
        "bandwidth": (persistence_onnx(seq["bandwidth"], 7), None),
        "compression": (constant_level_onnx(DEFAULT_LEVEL), None),
        "reliability": (
            feature_score_onnx(FAILURE_RATE, RELIABILITY_THRESHOLD),
            {"anomaly_score": RELIABILITY_THRESHOLD, "rule": "score >= threshold"},
        ),
        "latency": (
            peak_threshold_onnx(seq["latency"], peak),
            {"reconstruction_error": peak, "rule": "error >= threshold"},
        ),
    }
    for name, (proto, threshold) in graphs.items():
        (out / name).mkdir(parents=True)
        onnx.save(proto, out / name / f"{name}.onnx")
        write_json(
            out / name / "report.json",
            {
                "version": f"known-{name}",
                "training_date": "2026-01-01T00:00:00Z",
                "training_time_seconds": 0.0,
                "hyperparameters": {"hand_built": True},
            },
        )
        write_json(out / name / "contract.json", {"model": name, "threshold": threshold})
    return {"latency_peak_threshold": peak}


# --- fixtures ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    from dwcp_training.simulator import generate

    return generate(tmp_path_factory.mktemp("data"), links=16, hours=12, interval_s=60, seed=7)


@pytest.fixture(scope="module")
def checkpoints(sim, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("ckpt") / "dwcp_known"
    build_checkpoints(sim.train_path, out)
    return out


@pytest.fixture(scope="module")
def evaluated(sim, checkpoints, tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("eval") / "known_v1"
    return out, evaluate(checkpoints, sim.test_path, out, **QUIET)


@pytest.fixture(scope="module")
def test_frame(sim) -> pd.DataFrame:
    return require_valid(sim.test_path).frame


def _metrics(out: Path, name: str) -> dict:
    return json.loads((out / name / "evaluation.json").read_text())["achieved_metrics"]


def _write_test(frame: pd.DataFrame, path: Path) -> Path:
    from dwcp_training.io import write_telemetry

    return write_telemetry(frame, path, "csv")


# --- known answers through the whole path (windows -> onnxruntime -> reports) --------------------


def test_persistence_model_scores_exactly_as_the_persistence_baseline(evaluated):
    out, master = evaluated
    model = master["models"]["bandwidth"]
    assert model["achieved_metrics"] == model["baselines"]["persistence"]
    assert model["test_set_size"] > 0


def test_constant_default_level_gains_nothing_and_matches_the_fixed_level_baseline(evaluated):
    _, master = evaluated
    model = master["models"]["compression"]
    assert model["achieved_metrics"]["throughput_gain"] == 0.0
    assert model["achieved_metrics"] == model["baselines"][f"fixed_level_{DEFAULT_LEVEL}"]
    counts = np.asarray(model["details"]["confusion_matrix"]["counts"])
    assert counts.sum() == model["test_set_size"]
    assert (counts[:, DEFAULT_LEVEL] == counts.sum(axis=1)).all()  # every row chose level 6


def test_feature_score_reliability_matches_a_direct_computation(evaluated, test_frame):
    _, master = evaluated
    achieved = master["models"]["reliability"]["achieved_metrics"]
    y = test_frame["is_anomaly"].to_numpy()
    score_ = test_frame["failure_rate"].to_numpy(np.float32)
    flagged = score_ >= np.float32(RELIABILITY_THRESHOLD)
    assert achieved["recall"] == pytest.approx(metrics.recall(y, flagged), abs=0)
    assert achieved["precision"] == pytest.approx(metrics.precision(y, flagged), abs=0)
    assert achieved["pr_auc"] == pytest.approx(metrics.average_precision(y, score_), abs=1e-12)
    assert achieved["roc_auc"] == pytest.approx(metrics.roc_auc(y, score_), abs=1e-12)


def test_peak_threshold_latency_matches_the_static_threshold_baseline(evaluated):
    _, master = evaluated
    model = master["models"]["latency"]
    achieved, static = model["achieved_metrics"], model["baselines"]["static_threshold"]
    for key in ("accuracy", "precision", "recall", "f1", "episode_recall"):
        assert achieved[key] == static[key], key
    assert model["details"]["episodes"]["episodes"] > 0


def test_slices_add_up_to_the_whole(evaluated):
    _, master = evaluated
    for name, model in master["models"].items():
        by_type = model["slices"]["link_type"]
        assert set(by_type) == {"dc", "metro", "wan", "edge"}, name
        assert sum(e["n"] for e in by_type.values()) == model["test_set_size"], name
    reliability = master["models"]["reliability"]["slices"]
    positives = master["models"]["reliability"]["details"]["test_positives"]
    assert sum(e["positives"] for e in reliability["incident_type"].values()) == positives
    latency = master["models"]["latency"]
    typed = latency["slices"]["episode_type"]
    assert sum(e["episodes"] for e in typed.values()) == latency["details"]["episodes"]["episodes"]


# --- perfect, constant and shuffled predictors on the scoring layer -----------------------------


@pytest.fixture(scope="module")
def scoring_parts(sim, checkpoints, test_frame):
    schema = load_schema()
    training = load_windows(checkpoints / "windows")
    test = window_frame(test_frame, schema, {"test": 1.0})
    rows = FrameRows.from_frame(test_frame, schema)
    events = ground_truth.load_events(sim.incidents_path)
    return training, test, rows, events


def _score(parts, name: str, outputs: dict):
    training, test, rows, events = parts
    model = model_class(name)(TrainSettings(), training.meta)
    data = {**training.arrays[name], "test": test.arrays[name]["test"]}
    return score(ScoringInput(model, outputs, data, rows, events, None)), data["test"]


def _shuffled(values: np.ndarray) -> np.ndarray:
    return np.random.default_rng(0).permutation(values)


def test_bandwidth_perfect_constant_and_shuffled(scoring_parts):
    test = scoring_parts[1].arrays["bandwidth"]["test"]
    y = test.y.astype(np.float32)
    perfect, _ = _score(scoring_parts, "bandwidth", {"throughput_mbps": y})
    assert perfect.metrics == {"pearson_r": 1.0, "mape": 0.0, "mae": 0.0, "rmse": 0.0}
    c = float(np.median(y))
    constant, _ = _score(scoring_parts, "bandwidth", {"throughput_mbps": np.full_like(y, c)})
    assert constant.metrics["pearson_r"] == 0.0
    assert constant.metrics["mae"] == pytest.approx(np.mean(np.abs(y.astype(np.float64) - c)))
    shuffled, _ = _score(scoring_parts, "bandwidth", {"throughput_mbps": _shuffled(y)})
    assert abs(shuffled.metrics["pearson_r"]) < 0.15
    assert shuffled.metrics["mape"] > 0.5


def test_compression_perfect_constant_and_shuffled(scoring_parts):
    test = scoring_parts[1].arrays["compression"]["test"]
    y = test.y.astype(np.int64)
    perfect, _ = _score(scoring_parts, "compression", {"compression_level": y})
    assert perfect.metrics["accuracy"] == 1.0
    assert perfect.metrics["regret"] == 0.0
    assert perfect.metrics["macro_f1"] == pytest.approx(len(np.unique(y)) / 10)  # absent: 0
    counts = np.asarray(perfect.details["confusion_matrix"]["counts"])
    assert (counts == np.diag(np.bincount(y, minlength=10))).all()
    constant, _ = _score(scoring_parts, "compression", {"compression_level": np.full_like(y, 6)})
    assert constant.metrics["throughput_gain"] == 0.0
    assert constant.metrics["accuracy"] == pytest.approx(np.mean(y == 6))
    shuffled, _ = _score(scoring_parts, "compression", {"compression_level": _shuffled(y)})
    assert shuffled.metrics["accuracy"] < 0.6
    assert shuffled.metrics["regret"] > perfect.metrics["regret"]


def test_reliability_perfect_constant_and_shuffled(scoring_parts):
    test = scoring_parts[1].arrays["reliability"]["test"]
    y = test.y.astype(bool)
    assert y.sum() > 0
    perfect, _ = _score(
        scoring_parts, "reliability", {"is_anomaly": y, "anomaly_score": y.astype(np.float32)}
    )
    assert {k: perfect.metrics[k] for k in ("recall", "precision", "pr_auc", "roc_auc")} == {
        "recall": 1.0,
        "precision": 1.0,
        "pr_auc": 1.0,
        "roc_auc": 1.0,
    }
    assert all(e["recall"] == 1.0 for e in perfect.slices["incident_type"].values())
    flat = np.full(len(y), 0.5, np.float32)
    constant, _ = _score(
        scoring_parts, "reliability", {"is_anomaly": flat > 1, "anomaly_score": flat}
    )
    assert constant.metrics["roc_auc"] == 0.5
    assert constant.metrics["pr_auc"] == pytest.approx(y.mean())  # one threshold: the base rate
    assert constant.metrics["recall"] == 0.0
    noise = _shuffled(np.linspace(0, 1, len(y), dtype=np.float32))
    shuffled, _ = _score(
        scoring_parts, "reliability", {"is_anomaly": noise >= 0.5, "anomaly_score": noise}
    )
    assert abs(shuffled.metrics["roc_auc"] - 0.5) < 0.2
    assert shuffled.metrics["pr_auc"] < 0.3


def test_latency_perfect_constant_and_shuffled(scoring_parts):
    test = scoring_parts[1].arrays["latency"]["test"]
    y = test.y.astype(bool)
    err = y.astype(np.float32)
    perfect, _ = _score(
        scoring_parts, "latency", {"is_high_latency": y, "reconstruction_error": err}
    )
    assert perfect.metrics["accuracy"] == 1.0
    assert perfect.metrics["episode_recall"] == 1.0
    # The window ending at an episode's first row already holds it: no delay.
    assert perfect.metrics["mean_detection_delay_s"] == 0.0
    never = np.zeros(len(y), bool)
    constant, _ = _score(
        scoring_parts, "latency", {"is_high_latency": never, "reconstruction_error": err * 0}
    )
    assert constant.metrics["accuracy"] == pytest.approx(1 - y.mean())
    assert constant.metrics["episode_recall"] == 0.0
    assert constant.metrics["mean_detection_delay_s"] is None
    shuffled, _ = _score(
        scoring_parts, "latency", {"is_high_latency": _shuffled(y), "reconstruction_error": err}
    )
    assert shuffled.metrics["accuracy"] < perfect.metrics["accuracy"]
    assert 0.0 < shuffled.metrics["recall"] < 0.6


def test_a_slice_without_positives_reports_none_not_zero(scoring_parts):
    from dwcp_training.eval_scoring import slice_metrics

    training, windows, rows, _ = scoring_parts
    arrays = copy.copy(windows.arrays["reliability"]["test"])
    link_type = rows.link_type[arrays.row]
    arrays.y = (arrays.y.astype(bool) & (link_type != "edge")).astype(np.int64)
    assert arrays.y.sum() > 0
    flags = arrays.y.astype(bool)
    model = model_class("reliability")(TrainSettings(), training.meta)
    outputs = {"is_anomaly": flags, "anomaly_score": flags.astype(np.float32)}
    slices = slice_metrics(model, outputs, arrays, link_type)
    assert slices["edge"]["positives"] == 0
    assert slices["edge"]["recall"] is None and slices["edge"]["pr_auc"] is None
    assert slices["dc"]["recall"] == 1.0 or slices["dc"]["positives"] == 0


# --- episodes: known cases -----------------------------------------------------------------------


def test_runs_split_at_link_boundaries():
    flag = np.array([1, 1, 0, 1, 1, 1, 0, 0, 1], bool)
    link = np.array([0, 0, 0, 0, 1, 1, 1, 1, 1])
    starts, ends = ground_truth.runs(flag, link)
    assert starts.tolist() == [0, 3, 4, 8]
    assert ends.tolist() == [1, 3, 5, 8]


def test_detect_episodes_delay_and_coverage():
    epoch = np.arange(30) * 60
    # Episode at positions 10..12; windows of 3 end at 2..29; only the window ending at 13 fires.
    window_end = np.arange(2, 30)
    flagged = window_end == 13
    found = ground_truth.detect_episodes(
        np.array([10]), np.array([12]), window_end, flagged, 3, epoch
    )
    assert found.covered.tolist() == [True] and found.detected.tolist() == [True]
    assert found.delay_steps.tolist() == [3.0] and found.delay_s.tolist() == [180.0]
    # A flagged window that ends after the episode left it (15 > 12 + 3 - 1) does not count.
    late = ground_truth.detect_episodes(
        np.array([10]), np.array([12]), window_end, window_end == 15, 3, epoch
    )
    assert late.detected.tolist() == [False] and np.isnan(late.delay_s[0])


# --- outputs, blessing and refusals --------------------------------------------------------------


def test_writes_every_report_and_a_blessing_file_per_model(evaluated, checkpoints):
    out, master = evaluated
    for name in ("evaluation_report.json", "evaluation_report.md", "evaluation_report.html"):
        assert (out / name).is_file(), name
    for key in (
        "overall_success",
        "models_passed",
        "models",
        "production_readiness",
    ):
        assert key in master
    assert {"all_targets_met", "deployment_recommendation"} <= set(master["production_readiness"])
    for name in MODELS:
        blessing = json.loads((out / name / "blessing.json").read_text())
        onnx_bytes = (checkpoints / name / f"{name}.onnx").read_bytes()
        assert blessing["onnx_sha256"] == hashlib.sha256(onnx_bytes).hexdigest()
        assert blessing["version"] == f"known-{name}"
        assert blessing["model"] == name and isinstance(blessing["blessed"], bool)
        assert blessing["reasons"] and blessing["checks"] and blessing["evaluated_at"]
        assert {"metric", "op", "value", "achieved", "met"} <= set(blessing["checks"][0])
        model = master["models"][name]
        for key in MODEL_REPORT_FIELDS:
            assert key in model, (name, key)


def test_default_thresholds_refuse_naive_models_with_reasons(evaluated):
    out, master = evaluated
    bandwidth = json.loads((out / "bandwidth" / "blessing.json").read_text())
    assert bandwidth["blessed"] is False  # persistence: MAPE ~10 %, far from < 5 %
    assert any("mape" in r and "MISSED" in r for r in bandwidth["reasons"])
    assert master["production_readiness"]["all_blessed"] is False
    recommendation = master["production_readiness"]["deployment_recommendation"]
    held = master["production_readiness"]["held_models"]
    assert "bandwidth" in held
    # Computed from the blessings: every held model is named with its failed check.
    assert all(name in recommendation for name in held)
    assert recommendation.startswith(("partial: push", "do not deploy"))
    md = (out / "evaluation_report.md").read_text()
    assert "| bandwidth" in md and "mape < 0.05" in md


def test_blessing_refuses_a_model_that_misses_one_target(sim, checkpoints, tmp_path):
    loose = evaluate(
        checkpoints,
        sim.test_path,
        tmp_path / "loose",
        models=["bandwidth"],
        thresholds=LOOSE,
        **QUIET,
    )
    assert loose["models"]["bandwidth"]["blessed"] is True
    achieved = loose["models"]["bandwidth"]["achieved_metrics"]
    one_missed = EvaluationThresholds(
        target_accuracy=0.0, max_mape=achieved["mape"] * 0.99, min_pr_auc=0.0
    )
    tight = evaluate(
        checkpoints,
        sim.test_path,
        tmp_path / "tight",
        models=["bandwidth"],
        thresholds=one_missed,
        **QUIET,
    )
    blessing = json.loads((tmp_path / "tight" / "bandwidth" / "blessing.json").read_text())
    assert blessing["blessed"] is False
    failed = [c for c in blessing["checks"] if not c["met"]]
    assert [c["metric"] for c in failed] == ["mape"]
    assert tight["production_readiness"]["blessed_models"] == []


def test_blessing_refuses_a_regression_against_the_baseline_dir(sim, checkpoints, tmp_path):
    models = ["bandwidth", "reliability"]
    deployed = tmp_path / "deployed"
    evaluate(checkpoints, sim.test_path, deployed, models=models, thresholds=LOOSE, **QUIET)
    same = evaluate(
        checkpoints,
        sim.test_path,
        tmp_path / "same",
        models=models,
        thresholds=LOOSE,
        baseline_dir=deployed,
        **QUIET,
    )
    assert all(m["blessed"] for m in same["models"].values())  # equal is not a regression
    # The deployed models were better: lower MAE and MAPE (lower is better), higher PR-AUC; their
    # recall was higher too, but within the tolerance (0.01).
    changes = {
        "bandwidth": {"mae": lambda v: v * 0.5, "mape": lambda v: v * 0.5},
        "reliability": {"pr_auc": lambda v: v + 0.05, "recall": lambda v: v + 0.005},
    }
    for name, change in changes.items():
        path = deployed / name / "evaluation.json"
        doc = json.loads(path.read_text())
        for metric, better in change.items():
            doc["achieved_metrics"][metric] = better(doc["achieved_metrics"][metric])
        path.write_text(json.dumps(doc))
    worse = evaluate(
        checkpoints,
        sim.test_path,
        tmp_path / "worse",
        models=models,
        thresholds=LOOSE,
        baseline_dir=deployed,
        **QUIET,
    )
    for name, expected in {"bandwidth": ["mae", "mape"], "reliability": ["pr_auc"]}.items():
        verdict = worse["models"][name]["blessing"]
        assert verdict["blessed"] is False, name
        assert sorted(c["metric"] for c in verdict["checks"] if not c["met"]) == expected
    reasons = worse["models"]["bandwidth"]["blessing"]["reasons"]
    assert any(r.startswith("regression mae") and "REGRESSED" in r for r in reasons)


def test_no_thresholds_means_no_blessing(sim, checkpoints, tmp_path):
    master = evaluate(
        checkpoints,
        sim.test_path,
        tmp_path / "none",
        models=["bandwidth"],
        thresholds=None,
        **QUIET,
    )
    model = master["models"]["bandwidth"]
    assert model["blessed"] is False and model["success"] is False
    assert any("no thresholds configured" in r for r in model["blessing"]["reasons"])
    assert "no thresholds" in master["production_readiness"]["deployment_recommendation"]


def test_missing_required_column_is_a_clear_error(sim, checkpoints, test_frame, tmp_path):
    path = _write_test(test_frame.drop(columns=["rtt_ms"]), tmp_path / "no_rtt.csv")
    with pytest.raises(ValidationFailed, match="rtt_ms"):
        evaluate(checkpoints, path, tmp_path / "out", **QUIET)


def test_missing_model_column_names_the_model(sim, checkpoints, test_frame, tmp_path):
    path = _write_test(test_frame.drop(columns=["hde_compression_ratio"]), tmp_path / "t.csv")
    with pytest.raises(DataError, match="hde_compression_ratio.*compression.*--models"):
        evaluate(checkpoints, path, tmp_path / "out", **QUIET)
    # The other models still evaluate when asked for.
    master = evaluate(
        checkpoints, path, tmp_path / "out2", models=["bandwidth", "latency"], **QUIET
    )
    assert list(master["models"]) == ["bandwidth", "latency"]


def _narrowed(checkpoints: Path, dest: Path, column: str, seen: list[str]) -> Path:
    """A copy of the checkpoints whose training data only had `seen` values in `column`."""
    shutil.copytree(checkpoints, dest)
    meta_path = dest / "windows" / "metadata.json"
    meta = json.loads(meta_path.read_text())
    meta["categories_seen"][column] = seen
    meta_path.write_text(json.dumps(meta))
    return dest


def test_categories_unseen_in_training_are_refused(sim, checkpoints, tmp_path):
    narrow = _narrowed(checkpoints, tmp_path / "ckpt", "link_type", ["dc", "metro", "wan"])
    with pytest.raises(DataError, match="link_type.*'edge'.*never occur in the training"):
        evaluate(narrow, sim.test_path, tmp_path / "out", **QUIET)


def test_a_new_category_in_a_column_no_model_reads_is_a_warning(sim, checkpoints, tmp_path):
    narrow = _narrowed(checkpoints, tmp_path / "ckpt", "transport_type", ["tcp"])
    master = evaluate(narrow, sim.test_path, tmp_path / "out", models=["bandwidth"], **QUIET)
    assert any(w.startswith("transport_type: value(s) quic") for w in master["warnings"])


def test_cli_exit_2_and_a_message_for_a_value_outside_the_schema(
    sim, checkpoints, test_frame, tmp_path, capsys
):
    frame = test_frame.copy()
    frame["link_type"] = frame["link_type"].astype(str).replace("edge", "satellite")
    path = _write_test(frame, tmp_path / "sat.csv")
    code = _cli(
        [
            "evaluate",
            "--checkpoints-dir",
            str(checkpoints),
            "--test-data-path",
            str(path),
            "--output-dir",
            str(tmp_path / "out"),
        ],
    )
    err = capsys.readouterr().err
    assert code == 2
    assert "link_type" in err and "satellite" in err and "Traceback" not in err


def _cli(argv: list[str]) -> int:
    from dwcp_training import cli

    return cli.main(argv)


def test_cli_runs_and_prints_where_the_html_report_is(sim, checkpoints, tmp_path, capsys):
    out = tmp_path / "cli"
    argv = ["-q", "evaluate", "--checkpoints-dir", str(checkpoints)]
    argv += ["--test-data-path", str(sim.test_path), "--output-dir", str(out)]
    argv += ["--models", "compression", "--target-accuracy", "none", "--max-mape", "0.1"]
    assert _cli(argv) == 0
    printed = capsys.readouterr().out
    assert f"HTML report: {(out / 'evaluation_report.html').resolve()}" in printed
    master = json.loads((out / "evaluation_report.json").read_text())
    assert master["thresholds"]["target_accuracy"] is None
    # Only the fixed throughput-gain target is left for compression: never blessed on that alone.
    assert master["models"]["compression"]["blessed"] is False


# --- determinism and the HTML ---------------------------------------------------------------------


def _numbers(master: dict) -> dict:
    return {k: v for k, v in master.items() if k not in ("evaluated_at", "timing")}


def test_numbers_are_identical_when_run_twice(sim, checkpoints, evaluated, tmp_path):
    first_dir, first = evaluated
    second = evaluate(checkpoints, sim.test_path, tmp_path / "known_v1", **QUIET)
    assert json.dumps(_numbers(first), sort_keys=True) == json.dumps(
        _numbers(second), sort_keys=True
    )
    for name in MODELS:
        a = (first_dir / name / "evaluation.json").read_bytes()
        b = (tmp_path / "known_v1" / name / "evaluation.json").read_bytes()
        assert a == b, name


def test_html_report_is_self_contained(evaluated):
    out, _ = evaluated
    text = (out / "evaluation_report.html").read_text()
    assert text.count("data:image/png;base64,") == 4
    assert "<script" not in text and "http://" not in text and "https://" not in text
    assert "Drift" in text and "NOT BLESSED" in text


@pytest.mark.skipif(shutil.which("chromium") is None, reason="chromium not installed")
def test_html_report_renders_in_headless_chromium(evaluated, tmp_path):
    out, _ = evaluated
    png = tmp_path / "shot.png"
    subprocess.run(
        [
            "chromium",
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            f"--screenshot={png}",
            "--window-size=1200,3000",
            (out / "evaluation_report.html").resolve().as_uri(),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    import matplotlib.image

    pixels = matplotlib.image.imread(png)
    assert pixels.shape[0] == 3000
    assert pixels[..., :3].std() > 0.05  # not a blank page


# --- really trained models ------------------------------------------------------------------------


@pytest.mark.slow
def test_trained_models_evaluate_end_to_end(sim, tmp_path):
    pytest.importorskip("tensorflow")
    from dwcp_training.train import TrainRequest, train

    run = tmp_path / "dwcp_v1"
    train(
        TrainRequest(
            data_path=sim.train_path,
            output_dir=run,
            settings=TrainSettings(seed=42, epochs=1, threads=2, verbose=0),
        ),
        log=lambda _m: None,
    )
    master = evaluate(run, sim.test_path, tmp_path / "eval", **QUIET)
    assert list(master["models"]) == MODELS
    for name in MODELS:
        blessing = json.loads((tmp_path / "eval" / name / "blessing.json").read_text())
        report = json.loads((run / name / "report.json").read_text())
        assert blessing["version"] == report["version"]
        digest = hashlib.sha256((run / name / f"{name}.onnx").read_bytes()).hexdigest()
        assert blessing["onnx_sha256"] == digest
        assert all(
            np.isfinite(v)
            for v in master["models"][name]["achieved_metrics"].values()
            if isinstance(v, float)
        )


def test_a_failed_evaluation_leaves_no_old_blessing_behind(sim, checkpoints, test_frame, tmp_path):
    out = tmp_path / "eval"
    evaluate(checkpoints, sim.test_path, out, models=["bandwidth"], thresholds=LOOSE, **QUIET)
    assert json.loads((out / "bandwidth" / "blessing.json").read_text())["blessed"] is True
    broken = _write_test(test_frame.drop(columns=["rtt_ms"]), tmp_path / "broken.csv")
    with pytest.raises(ValidationFailed):
        evaluate(checkpoints, broken, out, models=["bandwidth"], thresholds=LOOSE, **QUIET)
    assert not (out / "bandwidth" / "blessing.json").exists()


def test_a_drifted_feature_gets_a_warning_in_every_report(sim, checkpoints, test_frame, tmp_path):
    frame = test_frame.copy()
    frame["congestion_window"] = frame["congestion_window"] * 5  # only bandwidth reads it
    path = _write_test(frame, tmp_path / "drifted.csv")
    out = tmp_path / "eval"
    master = evaluate(checkpoints, path, out, models=["bandwidth"], **QUIET)
    assert master["drift"]["features"]["congestion_window"]["level"] == "significant"
    assert master["drift"]["features"]["rtt_ms"]["level"] == "stable"
    assert any(w.startswith("drift: congestion_window: PSI") for w in master["warnings"])
    assert "**Warnings:**" in (out / "evaluation_report.md").read_text()
    assert "class='warn'" in (out / "evaluation_report.html").read_text()
    per_model = json.loads((out / "bandwidth" / "evaluation.json").read_text())
    assert per_model["drift"]["congestion_window"]["level"] == "significant"
