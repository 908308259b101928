"""What every benchmark section shares: the machine description, the `dwcp` CLI, peak memory.

Peak memory is read from the kernel, not estimated: `/proc/self/clear_refs` (value 5) resets
the process's resident high-water mark, so a section can measure the peak of exactly one step
after its inputs are loaded (Linux >= 4.0). Elsewhere the peak is reported as unavailable.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
MB = 2**20


def machine() -> dict[str, str]:
    """CPU model (from /proc/cpuinfo), core count and library versions."""
    from dwcp_training.readme_tables import cpu_model

    info = {
        "cpu": cpu_model(default=platform.processor() or platform.machine()),
        "cores": str(os.cpu_count()),
        "usable cores": str(len(os.sched_getaffinity(0)))
        if hasattr(os, "sched_getaffinity")
        else "?",
        "memory": f"{_mem_total_gib():.0f} GiB" if _mem_total_gib() else "?",
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


def _mem_total_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 2**20
    except OSError:
        pass
    return None


def dwcp_command() -> list[str]:
    """The `dwcp` console script of this interpreter's environment."""
    exe = Path(sys.executable).with_name("dwcp")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "dwcp_training.cli"]


def dwcp(*args: str) -> None:
    subprocess.run([*dwcp_command(), "-q", *args], check=True)


def met(value: float, bound: float, *, at_least: bool = False) -> str:
    ok = value >= bound if at_least else value <= bound
    return "met" if ok else "missed"


# --- memory ------------------------------------------------------------------------------------


def _status_kib(field: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def rss_mb() -> float | None:
    kib = _status_kib("VmRSS")
    return None if kib is None else kib / 1024


@dataclass
class Peak:
    """Resident memory before a step and its high-water mark during the step (MB)."""

    before_mb: float | None = None
    peak_mb: float | None = None

    @property
    def added_mb(self) -> float | None:
        if self.before_mb is None or self.peak_mb is None:
            return None
        return self.peak_mb - self.before_mb


@contextmanager
def peak_memory() -> Iterator[Peak]:
    """Measure the resident-set peak of the block (None where the kernel cannot say)."""
    import gc

    gc.collect()
    peak = Peak(before_mb=rss_mb())
    try:
        Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current RSS
        resettable = True
    except OSError:
        resettable = False
    yield peak
    hwm = _status_kib("VmHWM")
    peak.peak_mb = hwm / 1024 if resettable and hwm is not None else None


def fastest_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """One row from repeated runs of the same step: the fastest run's `seconds`, the slowest
    beside it, and the memory figures (`rss_before_mb`, `peak_mb`, `added_mb`) of the run that
    added the most (the conservative peak, kept consistent with its own baseline).

    The slowest run is shown because on a virtual machine a process's first touch of memory the
    host has taken back can cost more than the step itself; the spread says how much.
    """
    row = dict(min(runs, key=lambda r: r["seconds"]))
    row["slowest_seconds"] = max(r["seconds"] for r in runs)
    row["runs"] = len(runs)
    measured = [r for r in runs if r.get("added_mb") is not None]
    if measured:
        most = max(measured, key=lambda r: r["added_mb"])
        row.update({k: most[k] for k in ("rss_before_mb", "peak_mb", "added_mb")})
    return row


# --- child processes ---------------------------------------------------------------------------


def run_child(module: str, *args: str) -> dict[str, Any]:
    """Run `python -m bench.<module> ARGS` in a fresh process; return the JSON it prints last.

    Memory is measured in a fresh interpreter so one section's arrays and imports (TensorFlow)
    do not inflate another's peak.
    """
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    done = subprocess.run(
        [sys.executable, "-m", f"bench.{module}", *args],
        check=True,
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])
