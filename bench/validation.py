"""Section 4: `validate_file` throughput and peak memory on Parquet and CSV.

Run in a fresh process per file (`python -m bench.validation FILE`, JSON on the last line of
stdout) so each peak is that validation's own: it includes reading the file, hashing it and
every check, and is compared with the typed frame's size in memory (the data in memory).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

from bench.common import MB, met, peak_memory

RATE_GOAL = 2_000_000  # rows/s on Parquet
MEMORY_GOAL = 3.0  # peak added / data in memory, at most


def measure(path: Path) -> dict[str, Any]:
    from dwcp_training.schema import load_schema
    from dwcp_training.validate import validate_file

    schema = load_schema()
    with peak_memory() as peak:
        start = time.perf_counter()
        result = validate_file(path, schema)
        seconds = time.perf_counter() - start
    data_bytes = int(result.frame.memory_usage(deep=True).sum())
    return {
        "file": path.name,
        "format": "Parquet" if path.suffix == ".parquet" else "CSV",
        "rows": len(result.frame),
        "file_mb": path.stat().st_size / MB,
        "seconds": seconds,
        "data_mb": data_bytes / MB,
        "rss_before_mb": peak.before_mb,
        "peak_mb": peak.peak_mb,
        "added_mb": peak.added_mb,
    }


def render(results: list[dict[str, Any]]) -> list[str]:
    runs = max((r.get("runs", 1) for r in results), default=1)
    lines = [
        "## 4. Validation (`validate_file`: read + sha256 + every check)",
        "",
        f"Each file {runs} times, each time in a fresh process; seconds and rows/s from the "
        "fastest run, the slowest beside it, memory from the highest peak. Goals: at least "
        f"{RATE_GOAL / 1e6:g}M rows/s on Parquet; memory added at peak at most {MEMORY_GOAL:g}x "
        "the data in memory (the typed frame's `memory_usage(deep=True)`).",
        "",
        "| format | rows | file MB | seconds | slowest s | rows/s | rate goal "
        "| data in memory MB | added at peak MB | added / data | memory goal |",
        "|---|---:|---:|---:|---:|---:|---|---:|---:|---:|---|",
    ]
    for r in results:
        rate = r["rows"] / r["seconds"]
        rate_goal = met(rate, RATE_GOAL, at_least=True) if r["format"] == "Parquet" else "-"
        if r["added_mb"] is None:
            added = ratio = judged = "n/a"
        else:
            added = f"{r['added_mb']:,.0f}"
            ratio_value = r["added_mb"] / r["data_mb"]
            ratio = f"{ratio_value:.2f}x"
            judged = met(ratio_value, MEMORY_GOAL)
        lines.append(
            f"| {r['format']} | {r['rows']:,} | {r['file_mb']:,.1f} | {r['seconds']:.2f} "
            f"| {r.get('slowest_seconds', r['seconds']):.2f} | {rate:,.0f} | {rate_goal} "
            f"| {r['data_mb']:,.0f} | {added} | {ratio} | {judged} |"
        )
    return lines


if __name__ == "__main__":
    print(json.dumps(measure(Path(sys.argv[1]))))
