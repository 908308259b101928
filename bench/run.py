"""`make bench`: side-by-side benchmarks of the DWCP pipeline; writes bench/RESULTS.md.

Measured in one run on one machine (named in the file), each section by its own module:

1. single-request latency (p50/p99, one thread) per exported model, beside its native call
   (`inference`);
2. onnxruntime batch throughput for batches of 1, 64 and 4096 (`inference`);
3. windowing throughput and peak memory against plain numpy on the same bytes (`windowing`);
4. validation rows/s and peak memory, Parquet and CSV, 1M and 10M rows (`validation`);
5. training samples/s of the pipeline's loop against a bare `keras.Model.fit` (`training`);
6. `make run`'s pipeline under kfp.local against the same steps in one process (`end_to_end`);
7. model sizes against the 1 MB goal and the 10 MB limit (`inference`).

No timing is asserted anywhere: the numbers are only reported, ratios within this run.
Memory and training sections run in fresh processes (see each module).

    .venv/bin/python -m bench.run [--quick] [--sections a,b] [--run-dir DIR] [--out FILE]

Everything else (the default data, a trained run, the 1M/10M-row files) is generated in a
temporary folder; --quick uses small data (minutes, for trying the bench itself).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import end_to_end, inference, training, validation, windowing
from bench.common import dwcp, fastest_run, machine, run_child

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
SECTIONS = ("inference", "windowing", "validation", "training", "end_to_end")


def tile_links(frame, copies: int):
    """`copies` x the rows: each copy's links renamed (node_id suffix), times unchanged."""
    import pandas as pd

    parts = []
    for k in range(copies):
        part = frame.copy()
        part["node_id"] = part["node_id"].astype(str) + f"-x{k}"
        parts.append(part)
    return pd.concat(parts, ignore_index=True)


def big_files(work: Path, rows_1m: bool, scale: int) -> list[Path]:
    """Parquet + CSV at the base size, and Parquet + CSV at `scale` times it (links tiled)."""
    from dwcp_training.io import read_telemetry, write_telemetry

    base = work / "big"
    hours = "166.67" if rows_1m else "33.34"  # 100 links x 10,000 (2,000) steps
    dwcp(
        "generate",
        "--output-dir",
        str(base),
        "--links",
        "100",
        "--hours",
        hours,
        "--format",
        "parquet",
        "--test-hours",
        "0.1",
    )
    parquet = base / "dwcp_metrics.parquet"
    frame = read_telemetry(parquet)
    files = [parquet, write_telemetry(frame, base / "dwcp_metrics.csv", "csv")]
    big = tile_links(frame, scale)
    del frame
    files += [
        write_telemetry(big, base / f"x{scale}.parquet", "parquet"),
        write_telemetry(big, base / f"x{scale}.csv", "csv"),
    ]
    return files


def render(info: dict[str, str], results: dict[str, Any]) -> str:
    """RESULTS.md from measured numbers (pure: the tests feed it fake ones)."""
    lines = [
        "# DWCP benchmarks",
        "",
        "Written by `make bench` (`python -m bench.run`); do not edit by hand. Absolute numbers",
        "hold for this machine only; ratios compare measurements of the same run. Nothing here",
        "is asserted by a test.",
        "",
        "## Machine",
        "",
        "| | |",
        "|---|---|",
        *(f"| {k} | {v} |" for k, v in info.items()),
        "",
    ]
    blocks: list[list[str]] = []
    if "inference" in results:
        blocks.append(inference.render_latency(results["inference"]))
    if "windowing" in results:
        blocks.append(windowing.render(results["windowing"]))
    if "validation" in results:
        blocks.append(validation.render(results["validation"]))
    if "training" in results:
        blocks.append(training.render(results["training"]))
    if "end_to_end" in results:
        blocks.append(end_to_end.render(results["end_to_end"]))
    if "inference" in results:
        blocks.append(inference.render_sizes(results["inference"]))
    for block in blocks:
        lines += [*block, ""]
    return "\n".join(lines).rstrip() + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run-dir", type=Path, help="a trained run (dwcp train --output-dir)")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="small data: 8 links x 12 h, 200k/1M-row files, fewer calls",
    )
    parser.add_argument(
        "--sections",
        default=",".join(SECTIONS),
        help=f"comma-separated subset of {','.join(SECTIONS)}",
    )
    parser.add_argument(
        "--train-epochs",
        type=int,
        default=8,
        help="epoch budget of the training section (default 8: minutes to run, and enough epochs "
        "that the first epoch's graph tracing, paid by both sides, does not dominate)",
    )
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    sections = [s.strip() for s in args.sections.split(",") if s.strip()]
    unknown = sorted(set(sections) - set(SECTIONS))
    if unknown:
        parser.error(f"unknown sections {unknown}; choose from {', '.join(SECTIONS)}")
    calls, native_calls = (500, 100) if args.quick else (2000, 500)
    min_rows = 20_000 if args.quick else 100_000
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="dwcp-bench-") as tmp:
        work = Path(tmp)
        data_dir = work / "data"
        start = time.perf_counter()
        dwcp(
            "generate",
            "--output-dir",
            str(data_dir),
            *(("--links", "8", "--hours", "12") if args.quick else ()),
        )
        generate_s = time.perf_counter() - start
        run_dir = args.run_dir
        if run_dir is None and {"inference", "training"} & set(sections):
            run_dir = work / "run"
            dwcp(
                "train",
                "--data-path",
                str(data_dir / "dwcp_metrics.csv"),
                "--output-dir",
                str(run_dir),
                "--parallel",
            )
        if "inference" in sections:
            results["inference"] = inference.measure(run_dir, calls, native_calls, min_rows)
        if {"windowing", "validation"} & set(sections):
            files = big_files(work, rows_1m=not args.quick, scale=5 if args.quick else 10)
            if "windowing" in sections:
                results["windowing"] = run_child("windowing", str(files[0]), str(work))
                print("windowing: measured", file=sys.stderr)
            if "validation" in sections:
                repeats = 1 if args.quick else 3
                results["validation"] = [
                    fastest_run([run_child("validation", str(f)) for _ in range(repeats)])
                    for f in files
                ]
                print("validation: measured", file=sys.stderr)
            for f in files:
                f.unlink()
        if "training" in sections:
            epochs = 1 if args.quick else args.train_epochs
            results["training"] = run_child(
                "training", str(run_dir / "windows"), str(work), str(epochs)
            )
        if "end_to_end" in sections:
            results["end_to_end"] = end_to_end.measure(
                data_dir,
                work / "e2e",
                None if args.quick else generate_s,
                pairs=1 if args.quick else 2,
            )
    text = render(machine(), results)
    args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
