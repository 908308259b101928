"""bench/ renders RESULTS.md from measured numbers (fake ones here: no timing is asserted),
and its two measuring helpers that are not timings (peak memory, link tiling) do their job."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pipeline_support  # noqa: F401 - puts the repository root (bench/) on sys.path
import pytest

from bench import end_to_end, inference, run, training, validation, windowing
from bench.common import fastest_run, peak_memory


def fake_results() -> dict:
    return {
        "inference": {
            "latency": [
                {
                    "model": "bandwidth",
                    "engine": "onnxruntime",
                    "calls": 2000,
                    "p50_ms": 0.05,
                    "p99_ms": 0.1,
                },
                {
                    "model": "bandwidth",
                    "engine": "keras eager",
                    "calls": 2000,
                    "p50_ms": 2.0,
                    "p99_ms": 20.0,
                },
            ],
            "rates": {"bandwidth": {1: 10_000.0, 64: 500_000.0, 4096: 2_000_000.0}},
            "sizes": {"bandwidth": {"onnx": 0.5, "native": 12.0}},
        },
        "windowing": {
            "rows": 1000,
            "seconds": 2.0,
            "input_mb": 100.0,
            "input_numeric_mb": 50.0,
            "output_mb": 10.0,
            "rss_before_mb": 300.0,
            "peak_mb": 350.0,
            "added_mb": 50.0,
            "copy_input_s": 0.5,
            "copy_output_s": 1.5,
            "save_output_s": 1.0,
        },
        "validation": [
            {
                "file": "a.parquet",
                "format": "Parquet",
                "rows": 4_000_000,
                "file_mb": 1.0,
                "seconds": 1.0,
                "data_mb": 100.0,
                "rss_before_mb": 10.0,
                "peak_mb": 260.0,
                "added_mb": 250.0,
            },
            {
                "file": "a.csv",
                "format": "CSV",
                "rows": 1000,
                "file_mb": 3.0,
                "seconds": 1.0,
                "data_mb": 100.0,
                "rss_before_mb": None,
                "peak_mb": None,
                "added_mb": None,
            },
        ],
        "training": {
            "epochs": 3,
            "repeats": 2,
            "models": {
                "compression": {
                    "samples": 1000,
                    "epochs": 3,
                    "batch_size": 256,
                    "bare_s": 1.0,
                    "pipeline_s": 1.25,
                    "train_model_s": 9.0,
                    "engine": "keras.Model.fit",
                },
                "reliability": {
                    "samples": 1000,
                    "epochs": 1,
                    "batch_size": None,
                    "bare_s": 0.2,
                    "pipeline_s": 0.5,
                    "calibration_s": 0.25,
                    "calibration_rows": 1200,
                    "train_model_s": 1.0,
                    "engine": "IsolationForest.fit",
                },
            },
        },
        "end_to_end": {
            "kfp_local_s": 115.0,
            "in_process_s": 100.0,
            "kfp_local_runs": [120.0, 115.0],
            "in_process_runs": [100.0, 104.0],
            "generate_s": 10.0,
        },
    }


def test_render_fake_numbers() -> None:
    text = run.render({"cpu": "fake"}, fake_results())
    assert "| cpu | fake |" in text
    assert "| bandwidth | onnxruntime | 2000 | 0.050 | 0.100 | met | met |" in text
    assert "| bandwidth | keras eager | 2000 | 2.000 | 20.000 | missed | missed |" in text
    assert "| bandwidth | 40.0x |" in text  # native p50 / onnxruntime p50
    assert "| bandwidth | native | 12.000 | missed | missed |" in text
    # windowing: the faster copy (0.5 s) / 2 s = 0.25x; (100 + 50) / 100 = 1.5x
    assert "Against the faster copy: 0.25x, goal 0.5x: **missed**" in text
    assert "(input + added) / input = 1.50x, goal at most 1.2x: **missed**" in text
    # validation: 4M rows/s met; 250 / 100 = 2.5x met; CSV without /proc: n/a
    assert (
        "| Parquet | 4,000,000 | 1.0 | 1.00 | 1.00 | 4,000,000 | met | 100 | 250 | 2.50x | met |"
        in text
    )
    assert "| CSV | 1,000 | 3.0 | 1.00 | 1.00 | 1,000 | - | 100 | n/a | n/a | n/a |" in text
    # training: 3000 samples / 1.25 s = 2,400 vs 3,000 -> 0.80x
    assert "| 3,000 | 2,400 | 0.800x | missed | 9.0 |" in text
    # forest: 1000 / 0.5 s vs 1000 / 0.2 s -> 0.40x; 0.5 - 0.2 - 0.25 = +0.050 s rest;
    # (0.2 + 0.25) / 0.5 = 0.90x against fit + scoring
    assert "| 5,000 | 2,000 | 0.400x | missed | 1.0 |" in text
    assert "the rest (+0.050 s) is the feature transform" in text
    assert "Against a bare fit plus the same scoring: 0.90x." in text
    assert "kfp.local overhead: +15.0%, goal at most 15%: **met**." in text
    assert "| the same library calls in one process | 100.0 | 100.0, 104.0 |" in text
    assert "`make run` from an empty data folder: 125 s." in text
    sections = [line for line in text.splitlines() if line.startswith("## ")]
    assert [s.split(".")[0] for s in sections[1:]] == [f"## {i}" for i in range(1, 8)]


def test_repeated_runs_combine_to_fastest_time_and_highest_peak() -> None:
    runs = [
        {"seconds": 3.0, "rss_before_mb": 200.0, "added_mb": 200.0, "peak_mb": 400.0, "rows": 10},
        {"seconds": 1.0, "rss_before_mb": 300.0, "added_mb": 120.0, "peak_mb": 420.0, "rows": 10},
        {"seconds": 2.0, "rss_before_mb": None, "added_mb": None, "peak_mb": None, "rows": 10},
    ]
    row = fastest_run(runs)
    assert (row["seconds"], row["slowest_seconds"], row["runs"]) == (1.0, 3.0, 3)
    # memory from the run that added the most, with its own baseline and peak
    assert (row["rss_before_mb"], row["peak_mb"], row["added_mb"]) == (200.0, 400.0, 200.0)


def test_render_only_what_was_measured() -> None:
    results = fake_results()
    text = run.render({"cpu": "fake"}, {"end_to_end": results["end_to_end"]})
    assert "## 6. End to end" in text and "## 1." not in text and "## 7." not in text


def test_sections_render_alone() -> None:
    results = fake_results()
    assert inference.render_latency(results["inference"])[0].startswith("## 1.")
    assert windowing.render(results["windowing"])[0].startswith("## 3.")
    assert validation.render(results["validation"])[0].startswith("## 4.")
    assert training.render(results["training"])[0].startswith("## 5.")
    assert end_to_end.render(results["end_to_end"])[0].startswith("## 6.")


def test_unknown_section_is_refused(capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        run.main(["--sections", "inference,nonsense"])
    assert exit_info.value.code == 2
    assert "nonsense" in capsys.readouterr().err


def test_tile_links_renames_links_and_keeps_times() -> None:
    frame = pd.DataFrame(
        {"node_id": ["a", "a", "b"], "peer_id": ["b", "b", "a"], "epoch_time": [1, 2, 1]}
    )
    tiled = run.tile_links(frame, 3)
    assert len(tiled) == 9
    assert tiled.groupby(["node_id", "peer_id"]).ngroups == 6
    assert list(tiled["epoch_time"]) == [1, 2, 1] * 3


def test_peak_memory_sees_an_allocation() -> None:
    with peak_memory() as peak:
        block = np.ones(200 * 2**20, dtype=np.uint8)  # 200 MB, touched
        del block
    if peak.added_mb is None:
        pytest.skip("no /proc/self/clear_refs here")
    assert peak.added_mb > 150
