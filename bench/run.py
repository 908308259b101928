"""Side-by-side benchmarks of a trained DWCP run; writes bench/RESULTS.md.

Measures, in one run on one machine (named in the file):

1. single-request latency (p50/p99, one thread) of each model through onnxruntime beside its
   native call (Keras eager `model(x, training=False)`; reliability: `forest_json.score`),
   against the seed's 10 ms limit and the 0.2 ms goal;
2. onnxruntime batch throughput (rows/s) for batches of 1, 64 and 4096;
3. windowing throughput (`window_frame` + `write_windows`) against a plain numpy copy and a
   plain `np.save` of the same output bytes;
4. validation throughput (Parquet and CSV) on the same file;
5. model sizes (ONNX and native) against the 1 MB goal and the 10 MB limit.

No timing is asserted: the numbers are only reported. Ratios compare measurements of this run.

    .venv/bin/python -m bench.run [--quick] [--run-dir DIR] [--data-dir DIR] [--out FILE]

Without --run-dir a small run is generated and trained in a temporary folder; without --data-dir
the windowing/validation file (1M rows, 200k with --quick) is generated there too.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

LIMIT_MS = 10.0  # the seed's per-request limit
GOAL_MS = 0.2  # the per-request goal
SIZE_GOAL_MB = 1.0
SIZE_LIMIT_MB = 10.0
BATCHES = (1, 64, 4096)
MODELS = ("bandwidth", "compression", "reliability", "latency")
WARMUP = 50
RESULTS = Path(__file__).resolve().parent / "RESULTS.md"


@dataclass
class Latency:
    model: str
    engine: str  # "onnxruntime" or the native call
    p50_ms: float
    p99_ms: float
    calls: int


# --- environment -------------------------------------------------------------------------------


def machine() -> dict[str, str]:
    """CPU model (from /proc/cpuinfo), core count and library versions."""
    from dwcp_training.readme_tables import cpu_model

    cpu = cpu_model(default=platform.processor() or platform.machine())
    info = {
        "cpu": cpu,
        "cores": str(os.cpu_count()),
        "usable cores": str(len(os.sched_getaffinity(0)))
        if hasattr(os, "sched_getaffinity")
        else "?",
        "os": platform.platform(),
        "python": platform.python_version(),
        "date (UTC)": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M"),
    }
    for module in ("numpy", "tensorflow", "keras", "onnxruntime", "sklearn", "pandas", "pyarrow"):
        try:
            info[module] = __import__(module).__version__
        except ImportError:
            info[module] = "not installed"
    return info


# --- preparing the inputs ----------------------------------------------------------------------


def dwcp(*args: str) -> None:
    exe = Path(sys.executable).with_name("dwcp")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "dwcp_training.cli"]
    subprocess.run([*cmd, "-q", *args], check=True)


def ensure_run(run_dir: Path | None, work: Path) -> Path:
    if run_dir is not None:
        return run_dir
    dwcp("generate", "--output-dir", str(work / "data"))
    run_dir = work / "run"
    dwcp(
        "train",
        "--data-path",
        str(work / "data" / "dwcp_metrics.csv"),
        "--output-dir",
        str(run_dir),
        "--parallel",
    )
    return run_dir


def ensure_big_file(data_dir: Path | None, work: Path, quick: bool) -> Path:
    """The Parquet telemetry file for windowing/validation (1M rows, 200k with --quick)."""
    if data_dir is None:
        data_dir = work / "big"
        hours = "33.34" if quick else "166.67"
        dwcp(
            "generate",
            "--output-dir",
            str(data_dir),
            "--links",
            "100",
            "--hours",
            hours,
            "--format",
            "parquet",
        )
    return data_dir / "dwcp_metrics.parquet"


# --- 1. single-request latency -----------------------------------------------------------------


def _percentiles(times_ns: list[int], calls: int, model: str, engine: str) -> Latency:
    ms = np.asarray(times_ns[WARMUP:], dtype=np.float64) / 1e6
    return Latency(model, engine, float(np.percentile(ms, 50)), float(np.percentile(ms, 99)), calls)


def onnx_single(session, rows: np.ndarray, calls: int, model: str) -> Latency:
    name = session.get_inputs()[0].name
    singles = [np.ascontiguousarray(rows[i : i + 1]) for i in range(min(len(rows), calls))]
    times = []
    for i in range(calls + WARMUP):
        x = singles[i % len(singles)]
        start = time.perf_counter_ns()
        session.run(None, {name: x})
        times.append(time.perf_counter_ns() - start)
    return _percentiles(times, calls, model, "onnxruntime")


def native_single(fn, rows: np.ndarray, calls: int, model: str, engine: str) -> Latency:
    singles = [np.ascontiguousarray(rows[i : i + 1]) for i in range(min(len(rows), calls))]
    times = []
    for i in range(calls + WARMUP):
        x = singles[i % len(singles)]
        start = time.perf_counter_ns()
        fn(x)
        times.append(time.perf_counter_ns() - start)
    return _percentiles(times, calls, model, engine)


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


def bench_models(run_dir: Path, calls: int, native_calls: int, min_rows: int) -> dict[str, Any]:
    from dwcp_training.models.onnx_export import onnx_session
    from dwcp_training.window import load_windows

    windows = load_windows(run_dir / "windows")
    latencies: list[Latency] = []
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
        latencies.append(onnx_single(session, rows, calls, model))
        fn, engine, native_path = native_caller(model, model_dir)
        latencies.append(native_single(fn, rows, native_calls, model, engine))
        rates[model] = {b: batch_rate(session, rows, b, min_rows) for b in BATCHES}
        sizes[model] = {
            "onnx": onnx_path.stat().st_size / 2**20,
            "native": native_path.stat().st_size / 2**20,
        }
        print(f"{model}: measured", file=sys.stderr)
    return {"latency": latencies, "rates": rates, "sizes": sizes}


# --- 3./4. windowing and validation ------------------------------------------------------------


def _dir_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def bench_windowing(parquet: Path, work: Path) -> dict[str, Any]:
    from dwcp_training.io import write_telemetry
    from dwcp_training.schema import load_schema
    from dwcp_training.validate import validate_file
    from dwcp_training.window import window_frame, write_windows

    schema = load_schema()
    start = time.perf_counter()
    valid = validate_file(parquet, schema)
    parquet_s = time.perf_counter() - start
    frame = valid.frame
    n = len(frame)

    out = work / "windows-bench"
    shutil.rmtree(out, ignore_errors=True)
    start = time.perf_counter()
    windows = window_frame(frame, schema)
    write_windows(windows, out)
    window_s = time.perf_counter() - start
    nbytes = _dir_bytes(out)
    shutil.rmtree(out, ignore_errors=True)

    # Best of three: a fresh destination each time, as the windows' memory maps are fresh.
    src = np.ones(nbytes, dtype=np.uint8)
    copy_s = save_s = float("inf")
    save_path = work / "copy-bench.npy"
    for _ in range(3):
        start = time.perf_counter()
        copy = src.copy()
        copy_s = min(copy_s, time.perf_counter() - start)
        start = time.perf_counter()
        np.save(save_path, copy)
        save_s = min(save_s, time.perf_counter() - start)
        save_path.unlink()
        del copy
    del src

    csv = work / "validate-bench.csv"
    write_telemetry(frame, csv, "csv")
    start = time.perf_counter()
    validate_file(csv, schema)
    csv_s = time.perf_counter() - start
    csv_mb = csv.stat().st_size / 2**20
    csv.unlink()
    return {
        "rows": n,
        "window_s": window_s,
        "window_mb": nbytes / 2**20,
        "copy_s": copy_s,
        "save_s": save_s,
        "validate_parquet_s": parquet_s,
        "parquet_mb": parquet.stat().st_size / 2**20,
        "validate_csv_s": csv_s,
        "csv_mb": csv_mb,
    }


# --- rendering ---------------------------------------------------------------------------------


def _met(value: float, bound: float) -> str:
    return "met" if value <= bound else "missed"


def render(info: dict[str, str], models: dict[str, Any], io: dict[str, Any] | None) -> str:
    """The Markdown of RESULTS.md from measured numbers (pure: testable on fake numbers)."""
    lines = [
        "# DWCP benchmarks",
        "",
        "Written by `python -m bench.run`; do not edit by hand. Absolute numbers hold for this",
        "machine only; the ratios compare measurements of the same run. Nothing here is asserted.",
        "",
        "## Machine",
        "",
        "| | |",
        "|---|---|",
        *(f"| {k} | {v} |" for k, v in info.items()),
        "",
        "## 1. Single-request latency (one row, one thread)",
        "",
        f"onnxruntime with intra_op = inter_op = 1; each call on a different test-split row, "
        f"{WARMUP} warm-up calls dropped; native Keras calls with TensorFlow at one intra/inter-op "
        f"thread. Met/missed is judged on p99: limit {LIMIT_MS:g} ms (seed), goal {GOAL_MS:g} ms.",
        "",
        "| model | engine | calls | p50 ms | p99 ms | 10 ms limit (p99) | 0.2 ms goal (p99) |",
        "|---|---|---:|---:|---:|---|---|",
    ]
    for lat in models["latency"]:
        lines.append(
            f"| {lat.model} | {lat.engine} | {lat.calls} | {lat.p50_ms:.3f} | {lat.p99_ms:.3f} "
            f"| {_met(lat.p99_ms, LIMIT_MS)} | {_met(lat.p99_ms, GOAL_MS)} |"
        )
    by_model: dict[str, dict[str, Latency]] = {}
    for lat in models["latency"]:
        by_model.setdefault(lat.model, {})["onnx" if lat.engine == "onnxruntime" else "native"] = (
            lat
        )
    lines += ["", "| model | native p50 / onnxruntime p50 |", "|---|---:|"]
    for model, pair in by_model.items():
        if "onnx" in pair and "native" in pair and pair["onnx"].p50_ms > 0:
            lines.append(f"| {model} | {pair['native'].p50_ms / pair['onnx'].p50_ms:.1f}x |")
    lines += [
        "",
        "## 2. Batch throughput (onnxruntime, one thread)",
        "",
        "| model | " + " | ".join(f"batch {b} rows/s" for b in BATCHES) + " |",
        "|---|" + "---:|" * len(BATCHES),
    ]
    for model, rates in models["rates"].items():
        lines.append(f"| {model} | " + " | ".join(f"{rates[b]:,.0f}" for b in BATCHES) + " |")
    if io is not None:
        n = io["rows"]
        lines += [
            "",
            f"## 3. Windowing ({n:,} rows, Parquet, all four models)",
            "",
            "`window_frame` + `write_windows` against a plain numpy copy (in memory) and a plain",
            "`np.save` (to the same disk) of the same number of output bytes.",
            "",
            "| step | seconds | input rows/s | output MB/s | windowing / this |",
            "|---|---:|---:|---:|---:|",
        ]
        mb = io["window_mb"]
        for label, key in (
            ("window_frame + write_windows", "window_s"),
            ("numpy copy of the output bytes", "copy_s"),
            ("np.save of the output bytes", "save_s"),
        ):
            secs = io[key]
            lines.append(
                f"| {label} | {secs:.3f} | {n / secs:,.0f} | {mb / secs:,.0f} "
                f"| {io['window_s'] / secs:.1f}x |"
            )
        lines.append(f"\nOutput: {mb:,.1f} MB of `.npy` files.")
        lines += [
            "",
            f"## 4. Validation ({n:,} rows, `validate_file`: read + hash + checks)",
            "",
            "| format | file MB | seconds | rows/s |",
            "|---|---:|---:|---:|",
            f"| Parquet | {io['parquet_mb']:.1f} | {io['validate_parquet_s']:.2f} "
            f"| {n / io['validate_parquet_s']:,.0f} |",
            f"| CSV | {io['csv_mb']:.1f} | {io['validate_csv_s']:.2f} "
            f"| {n / io['validate_csv_s']:,.0f} |",
        ]
    lines += [
        "",
        f"## 5. Model sizes (goal {SIZE_GOAL_MB:g} MB, limit {SIZE_LIMIT_MB:g} MB)",
        "",
        "| model | artifact | MB | 1 MB goal | 10 MB limit |",
        "|---|---|---:|---|---|",
    ]
    for model, sizes in models["sizes"].items():
        for kind, mb in sizes.items():
            lines.append(
                f"| {model} | {kind} | {mb:.3f} | {_met(mb, SIZE_GOAL_MB)} "
                f"| {_met(mb, SIZE_LIMIT_MB)} |"
            )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run-dir", type=Path, help="a trained run (dwcp train --output-dir)")
    parser.add_argument(
        "--data-dir", type=Path, help="folder with dwcp_metrics.parquet for windowing/validation"
    )
    parser.add_argument("--quick", action="store_true", help="200k rows, 500/100 calls")
    parser.add_argument("--calls", type=int, help="single-row calls per model (default 2000)")
    parser.add_argument(
        "--native-calls",
        type=int,
        help="single-row native calls per model (default 500: an eager LSTM call is slow)",
    )
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    calls = args.calls or (500 if args.quick else 2000)
    native_calls = args.native_calls or (100 if args.quick else 500)
    min_rows = 20_000 if args.quick else 100_000

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    with tempfile.TemporaryDirectory(prefix="dwcp-bench-") as tmp:
        work = Path(tmp)
        run_dir = ensure_run(args.run_dir, work)
        parquet = ensure_big_file(args.data_dir, work, args.quick)
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(1)
        tf.config.threading.set_inter_op_parallelism_threads(1)
        models = bench_models(run_dir, calls, native_calls, min_rows)
        io = bench_windowing(parquet, work)
    text = render(machine(), models, io)
    args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
