"""Sections 1, 2 and 7: single-request latency, batch throughput and model sizes.

Single-request latency is what a Go call (`PredictBandwidth` and friends) pays: one row, one
thread (onnxruntime intra_op = inter_op = 1), each call on a different test-split row, warm-up
calls dropped. Beside it the native call of the same model (Keras eager; the reliability
model's `forest_json.score`), which shows what exporting to ONNX buys.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import MB, met

LIMIT_MS = 10.0  # the seed's per-request limit
GOAL_MS = 0.2  # the per-request goal
SIZE_GOAL_MB = 1.0
SIZE_LIMIT_MB = 10.0
BATCHES = (1, 64, 4096)
MODELS = ("bandwidth", "compression", "reliability", "latency")
WARMUP = 50


def _timed_calls(fn, rows: np.ndarray, calls: int) -> dict[str, float]:
    singles = [np.ascontiguousarray(rows[i : i + 1]) for i in range(min(len(rows), calls))]
    times = []
    for i in range(calls + WARMUP):
        x = singles[i % len(singles)]
        start = time.perf_counter_ns()
        fn(x)
        times.append(time.perf_counter_ns() - start)
    ms = np.asarray(times[WARMUP:], dtype=np.float64) / 1e6
    return {
        "calls": calls,
        "p50_ms": float(np.percentile(ms, 50)),
        "p99_ms": float(np.percentile(ms, 99)),
    }


def native_caller(model: str, model_dir: Path):
    """(callable on one raw row, engine label, native artifact path)."""
    if model == "reliability":
        from dwcp_training import forest_json

        path = model_dir / f"{model}.forest.json"
        doc = forest_json.load(path)
        return (lambda x: forest_json.score(doc, x)), "forest_json.score", path
    import keras

    import dwcp_training.models.keras_layers  # noqa: F401 - registers the custom layers

    path = model_dir / f"{model}.keras"
    net = keras.saving.load_model(path)
    return (lambda x: net(x, training=False)), "keras eager", path


def batch_rate(session, rows: np.ndarray, batch: int, min_rows: int) -> float:
    name = session.get_inputs()[0].name
    if len(rows) < batch:
        rows = np.concatenate([rows] * (batch // len(rows) + 1))
    x = np.ascontiguousarray(rows[:batch])
    session.run(None, {name: x})
    repeats = max(3, min_rows // batch)
    start = time.perf_counter()
    for _ in range(repeats):
        session.run(None, {name: x})
    return repeats * batch / (time.perf_counter() - start)


def measure(run_dir: Path, calls: int, native_calls: int, min_rows: int) -> dict[str, Any]:
    """Latency, throughput and sizes of every model the trained run in `run_dir` exported."""
    import tensorflow as tf

    from dwcp_training.models.onnx_export import onnx_session
    from dwcp_training.window import load_windows

    tf.config.threading.set_intra_op_parallelism_threads(1)  # the native calls: one thread too
    tf.config.threading.set_inter_op_parallelism_threads(1)
    windows = load_windows(run_dir / "windows")
    latency: list[dict[str, Any]] = []
    rates: dict[str, dict[int, float]] = {}
    sizes: dict[str, dict[str, float]] = {}
    for model in MODELS:
        model_dir = run_dir / model
        onnx_path = model_dir / f"{model}.onnx"
        if not onnx_path.is_file() or model not in windows.arrays:
            print(f"skipping {model}: no ONNX model or windows in {run_dir}", file=sys.stderr)
            continue
        rows = np.asarray(windows.arrays[model]["test"].X[: max(calls, 4096)], dtype=np.float32)
        session = onnx_session(onnx_path, threads=1)
        name = session.get_inputs()[0].name
        onnx_stats = _timed_calls(lambda x, s=session, n=name: s.run(None, {n: x}), rows, calls)
        latency.append({"model": model, "engine": "onnxruntime", **onnx_stats})
        fn, engine, native_path = native_caller(model, model_dir)
        latency.append({"model": model, "engine": engine, **_timed_calls(fn, rows, native_calls)})
        rates[model] = {b: batch_rate(session, rows, b, min_rows) for b in BATCHES}
        sizes[model] = {
            "onnx": onnx_path.stat().st_size / MB,
            "native": native_path.stat().st_size / MB,
        }
        print(f"inference: {model} measured", file=sys.stderr)
    return {"latency": latency, "rates": rates, "sizes": sizes}


def render_latency(result: dict[str, Any]) -> list[str]:
    lines = [
        "## 1. Single-request latency (one row, one thread)",
        "",
        f"onnxruntime with intra_op = inter_op = 1; each call on a different test-split row, "
        f"{WARMUP} warm-up calls dropped; native Keras calls with TensorFlow at one intra/inter-op "
        f"thread. Met/missed is judged on p99: limit {LIMIT_MS:g} ms (seed), goal {GOAL_MS:g} ms.",
        "",
        "| model | engine | calls | p50 ms | p99 ms | 10 ms limit (p99) | 0.2 ms goal (p99) |",
        "|---|---|---:|---:|---:|---|---|",
    ]
    for lat in result["latency"]:
        lines.append(
            f"| {lat['model']} | {lat['engine']} | {lat['calls']} | {lat['p50_ms']:.3f} "
            f"| {lat['p99_ms']:.3f} | {met(lat['p99_ms'], LIMIT_MS)} "
            f"| {met(lat['p99_ms'], GOAL_MS)} |"
        )
    pairs: dict[str, dict[str, dict[str, Any]]] = {}
    for lat in result["latency"]:
        kind = "onnx" if lat["engine"] == "onnxruntime" else "native"
        pairs.setdefault(lat["model"], {})[kind] = lat
    lines += ["", "| model | native p50 / onnxruntime p50 |", "|---|---:|"]
    for model, pair in pairs.items():
        if "onnx" in pair and "native" in pair and pair["onnx"]["p50_ms"] > 0:
            ratio = pair["native"]["p50_ms"] / pair["onnx"]["p50_ms"]
            lines.append(f"| {model} | {ratio:.1f}x |")
    lines += [
        "",
        "## 2. Batch throughput (onnxruntime, one thread)",
        "",
        "| model | " + " | ".join(f"batch {b} rows/s" for b in BATCHES) + " |",
        "|---|" + "---:|" * len(BATCHES),
    ]
    for model, rates in result["rates"].items():
        lines.append(f"| {model} | " + " | ".join(f"{rates[b]:,.0f}" for b in BATCHES) + " |")
    return lines


def render_sizes(result: dict[str, Any]) -> list[str]:
    lines = [
        f"## 7. Model sizes (goal {SIZE_GOAL_MB:g} MB, limit {SIZE_LIMIT_MB:g} MB)",
        "",
        "The ONNX file is what the Go side loads; the native artifact is for Python reuse.",
        "",
        "| model | artifact | MB | 1 MB goal | 10 MB limit |",
        "|---|---|---:|---|---|",
    ]
    for model, sizes in result["sizes"].items():
        for kind, mb in sizes.items():
            lines.append(
                f"| {model} | {kind} | {mb:.3f} | {met(mb, SIZE_GOAL_MB)} "
                f"| {met(mb, SIZE_LIMIT_MB)} |"
            )
    return lines
