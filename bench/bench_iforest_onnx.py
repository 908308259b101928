"""Latency of the reliability IsolationForest in onnxruntime: this repo's exporter vs skl2onnx.

Both graphs take the same RAW features. skl2onnx's converter gets the preprocessing prepended as
ONNX ops (Log(x + 1) where log1p applies, then (v - mean) / std), since it cannot fold it; its
score is then only float32-close to sklearn, which the table reports next to the timings.

Single-row latency is what `DetectAnomaly` pays per call: one thread (intra_op 1, inter_op 1),
p50/p99 over many calls, each on a different row. Throughput is one batch of 10k rows.

    .venv/bin/python bench/bench_iforest_onnx.py [--calls 3000]
"""

from __future__ import annotations

import argparse
import platform
import time

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, compose, helper, numpy_helper
from skl2onnx import convert_sklearn
from skl2onnx.common.data_types import FloatTensorType
from sklearn.ensemble import IsolationForest

from dwcp_training.onnx_iforest import FeatureTransform, anomaly_score, iforest_onnx

LOG_FLAGS = (False, True, True, True, True, True)
OPSET = {"": 18, "ai.onnx.ml": 3}
BATCH = 10_000


def telemetry(rng: np.random.Generator, n: int) -> np.ndarray:
    """Raw features in the Go order: uptime_pct, failure_rate, packet_loss, retransmits, ..."""
    return np.column_stack(
        [
            rng.uniform(90, 100, n),
            rng.exponential(0.01, n),
            rng.beta(1, 50, n),
            rng.poisson(3, n),
            rng.pareto(2, n),
            rng.lognormal(3, 1, n),
        ]
    ).astype(np.float32)


def preprocessing_graph(transform: FeatureTransform) -> onnx.ModelProto:
    """raw -> z as plain ONNX ops, the prefix a converter without folding needs."""
    f32 = np.float32
    nodes = [
        helper.make_node("Add", ["raw", "one"], ["raw_plus_one"]),
        helper.make_node("Log", ["raw_plus_one"], ["logged"]),
        helper.make_node("Where", ["log_mask", "logged", "raw"], ["v"]),
        helper.make_node("Sub", ["v", "mean"], ["centred"]),
        helper.make_node("Div", ["centred", "std"], ["z"]),
    ]
    init = [
        numpy_helper.from_array(np.array(1.0, f32), "one"),
        numpy_helper.from_array(np.array(transform.log1p, bool), "log_mask"),
        numpy_helper.from_array(np.array(transform.mean, f32), "mean"),
        numpy_helper.from_array(np.array(transform.std, f32), "std"),
    ]
    graph = helper.make_graph(
        nodes,
        "preprocess",
        [helper.make_tensor_value_info("raw", TensorProto.FLOAT, [None, transform.n_features])],
        [helper.make_tensor_value_info("z", TensorProto.FLOAT, [None, transform.n_features])],
        initializer=init,
    )
    opsets = [helper.make_opsetid(domain, v) for domain, v in OPSET.items()]
    return helper.make_model(graph, opset_imports=opsets, ir_version=onnx.IR_VERSION)


def export_with_skl2onnx(forest: IsolationForest, transform: FeatureTransform) -> onnx.ModelProto:
    """skl2onnx's IsolationForest converter behind the in-graph preprocessing."""
    n = transform.n_features
    forest_model = convert_sklearn(
        forest, initial_types=[("z", FloatTensorType([None, n]))], target_opset=OPSET
    )
    forest_model.ir_version = onnx.IR_VERSION
    return compose.merge_models(preprocessing_graph(transform), forest_model, io_map=[("z", "z")])


def session(model: onnx.ModelProto) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    return ort.InferenceSession(model.SerializeToString(), options)


def single_row_us(sess: ort.InferenceSession, rows: np.ndarray, calls: int) -> tuple[float, float]:
    """p50 and p99 of one-row calls, in microseconds (warm: the first 200 calls are dropped)."""
    name = sess.get_inputs()[0].name
    singles = [np.ascontiguousarray(rows[i : i + 1]) for i in range(len(rows))]
    times = []
    for i in range(calls + 200):
        x = singles[i % len(singles)]
        start = time.perf_counter_ns()
        sess.run(None, {name: x})
        times.append(time.perf_counter_ns() - start)
    us = np.array(times[200:]) / 1e3
    return float(np.percentile(us, 50)), float(np.percentile(us, 99))


def batch_rows_per_s(sess: ort.InferenceSession, rows: np.ndarray) -> float:
    name = sess.get_inputs()[0].name
    sess.run(None, {name: rows})
    start = time.perf_counter()
    for _ in range(3):
        sess.run(None, {name: rows})
    return 3 * len(rows) / (time.perf_counter() - start)


def skl2onnx_score(sess: ort.InferenceSession, forest: IsolationForest, X: np.ndarray):
    """skl2onnx outputs decision_function = score_samples - offset_; back to the [0, 1] score."""
    outputs = dict(
        zip([o.name for o in sess.get_outputs()], sess.run(None, {"raw": X}), strict=True)
    )
    return -(outputs["scores"].ravel().astype(np.float64) + forest.offset_)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=3000, help="single-row calls per model")
    args = parser.parse_args()
    rng = np.random.default_rng(42)
    X_train, X_eval = telemetry(rng, 20_000), telemetry(rng, BATCH)
    transform = FeatureTransform.fit(X_train, LOG_FLAGS)
    print(f"machine: {platform.processor() or platform.machine()}, onnxruntime {ort.__version__}")
    header = f"{'trees':>5} {'exporter':<9} {'bytes':>9} {'p50 us':>8} {'p99 us':>8}"
    print(header + f" {'rows/s (10k batch)':>19} {'max |score - sklearn|':>22}")
    for n_trees in (100, 200):
        forest = IsolationForest(n_estimators=n_trees, random_state=42)
        forest.fit(transform.apply(X_train))
        reference = anomaly_score(forest, transform.apply(X_eval))
        ours = iforest_onnx(forest, transform, 0.5)
        theirs = export_with_skl2onnx(forest, transform)
        for label, model in (("this", ours), ("skl2onnx", theirs)):
            sess = session(model)
            if label == "this":
                score = sess.run(["anomaly_score"], {"features": X_eval})[0].astype(np.float64)
            else:
                score = skl2onnx_score(sess, forest, X_eval)
            p50, p99 = single_row_us(sess, X_eval, args.calls)
            rate = batch_rows_per_s(sess, X_eval)
            size = len(model.SerializeToString())
            diff = np.max(np.abs(score - reference))
            timings = f"{p50:>8.1f} {p99:>8.1f} {rate:>19,.0f}"
            print(f"{n_trees:>5} {label:<9} {size:>9} {timings} {diff:>22.2e}")


if __name__ == "__main__":
    main()
