"""bench/run.py renders RESULTS.md from measured numbers (fake ones here; no timing asserted)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent / "bench" / "run.py"


def test_render_fake_numbers() -> None:
    spec = importlib.util.spec_from_file_location("bench_run", BENCH)
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    sys.modules["bench_run"] = bench  # dataclasses look their module up
    spec.loader.exec_module(bench)
    models = {
        "latency": [
            bench.Latency("bandwidth", "onnxruntime", 0.05, 0.1, 2000),
            bench.Latency("bandwidth", "keras eager", 2.0, 20.0, 2000),
        ],
        "rates": {"bandwidth": {1: 10_000.0, 64: 500_000.0, 4096: 2_000_000.0}},
        "sizes": {"bandwidth": {"onnx": 0.5, "native": 12.0}},
    }
    io = {
        "rows": 1000,
        "window_s": 2.0,
        "window_mb": 10.0,
        "copy_s": 0.5,
        "save_s": 1.0,
        "validate_parquet_s": 0.1,
        "parquet_mb": 1.0,
        "validate_csv_s": 0.2,
        "csv_mb": 3.0,
    }
    text = bench.render({"cpu": "fake"}, models, io)
    assert "| bandwidth | onnxruntime | 2000 | 0.050 | 0.100 | met | met |" in text
    assert "| bandwidth | keras eager | 2000 | 2.000 | 20.000 | missed | missed |" in text
    assert "| bandwidth | native | 12.000 | missed | missed |" in text
    assert "| window_frame + write_windows | 2.000 | 500 | 5 | 1.0x |" in text
    assert "40.0x" in text  # native p50 / onnxruntime p50
