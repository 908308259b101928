"""Section 3: windowing throughput and peak memory, against plain numpy on the same bytes.

Run in a fresh process (`python -m bench.windowing FILE WORKDIR`, JSON on the last line of
stdout) so the peak is the windowing's own. The input is the typed frame `validate_file`
returns, as in the pipeline's window step. Compared with, on the same machine in the same run:
a numpy copy of the input frame's bytes, a numpy copy of the output's bytes, and `np.save` of
the output's bytes to the same disk.
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import MB, fastest_run, met, peak_memory

SPEED_GOAL = 0.5  # windowing throughput / numpy-copy throughput, at least
MEMORY_GOAL = 1.2  # (input + memory the windowing adds) / input, at most


def _dir_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def _best_copy_seconds(nbytes: int, save_to: Path | None = None, repeats: int = 3) -> float:
    src = np.ones(nbytes, dtype=np.uint8)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        if save_to is None:
            copy = src.copy()
            best = min(best, time.perf_counter() - start)
            del copy
        else:
            np.save(save_to, src)
            best = min(best, time.perf_counter() - start)
            save_to.unlink()
    return best


def measure(path: Path, work: Path, repeats: int = 3) -> dict[str, Any]:
    from dwcp_training.schema import load_schema
    from dwcp_training.validate import validate_file
    from dwcp_training.window import window_frame, write_windows

    schema = load_schema()
    frame = validate_file(path, schema).frame
    input_bytes = int(frame.memory_usage(deep=True).sum())
    out = work / "windows-bench"
    runs = []
    for _ in range(repeats):  # like the copies: best time; memory: the highest peak
        shutil.rmtree(out, ignore_errors=True)
        with peak_memory() as peak:
            start = time.perf_counter()
            write_windows(window_frame(frame, schema), out)
            seconds = time.perf_counter() - start
        runs.append(
            {
                "seconds": seconds,
                "rss_before_mb": peak.before_mb,
                "peak_mb": peak.peak_mb,
                "added_mb": peak.added_mb,
            }
        )
    output_bytes = _dir_bytes(out)
    shutil.rmtree(out, ignore_errors=True)
    numeric = frame.select_dtypes("number")
    numeric_bytes = int(numeric.memory_usage(deep=False, index=False).sum())
    del numeric
    return {
        **fastest_run(runs),
        "rows": len(frame),
        "input_mb": input_bytes / MB,
        "input_numeric_mb": numeric_bytes / MB,
        "output_mb": output_bytes / MB,
        "copy_input_s": _best_copy_seconds(numeric_bytes),
        "copy_output_s": _best_copy_seconds(output_bytes),
        "save_output_s": _best_copy_seconds(output_bytes, work / "save-bench.npy"),
    }


def render(r: dict[str, Any]) -> list[str]:
    n, secs = r["rows"], r["seconds"]
    lines = [
        f"## 3. Windowing ({n:,} rows, all four models)",
        "",
        "`window_frame` + `write_windows` on the typed frame `validate_file` returns, against",
        "plain numpy on the same bytes, each the best of "
        f"{r.get('runs', 1)} runs (windowing into a fresh folder each time; slowest "
        f"{r.get('slowest_seconds', secs):.3f} s). Throughput ratio = numpy seconds / windowing "
        f"seconds (goal at least {SPEED_GOAL:g}x of a numpy copy).",
        "",
        "| step | bytes MB | seconds | input rows/s | windowing throughput / this |",
        "|---|---:|---:|---:|---:|",
        f"| window_frame + write_windows | {r['output_mb']:,.1f} out | {secs:.3f} "
        f"| {n / secs:,.0f} | 1.00x |",
    ]
    for label, mb, key in (
        ("numpy copy of the input's numeric columns", r["input_numeric_mb"], "copy_input_s"),
        ("numpy copy of the output bytes", r["output_mb"], "copy_output_s"),
        ("np.save of the output bytes", r["output_mb"], "save_output_s"),
    ):
        lines.append(
            f"| {label} | {mb:,.1f} | {r[key]:.3f} | {n / r[key]:,.0f} | {r[key] / secs:.2f}x |"
        )
    worst = min(r["copy_input_s"], r["copy_output_s"]) / secs
    lines += [
        "",
        f"Against the faster copy: {worst:.2f}x, goal {SPEED_GOAL:g}x: "
        f"**{met(worst, SPEED_GOAL, at_least=True)}**.",
        "",
    ]
    if r["added_mb"] is None:
        lines.append("Peak memory: not measurable here (needs Linux /proc/self/clear_refs).")
        return lines
    ratio = (r["input_mb"] + r["added_mb"]) / r["input_mb"]
    lines += [
        "| memory | MB |",
        "|---|---:|",
        f"| input frame in memory (`memory_usage(deep=True)`) | {r['input_mb']:,.1f} |",
        f"| process RSS before windowing (frame + libraries) | {r['rss_before_mb']:,.1f} |",
        f"| process RSS peak during windowing | {r['peak_mb']:,.1f} |",
        f"| added by windowing (peak - before) | {r['added_mb']:,.1f} |",
        "",
        f"(input + added) / input = {ratio:.2f}x, goal at most {MEMORY_GOAL:g}x: "
        f"**{met(ratio, MEMORY_GOAL)}**. Pages of the memory-mapped output files count while "
        "they are written.",
    ]
    return lines


if __name__ == "__main__":
    print(json.dumps(measure(Path(sys.argv[1]), Path(sys.argv[2]))))
