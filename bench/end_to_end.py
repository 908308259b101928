"""Section 6: the whole pipeline under kfp.local against the same steps called in-process.

- kfp.local: `dwcp pipeline run --local --no-cache` (what `make run` runs once the data exists),
  one subprocess per component, as kfp.local's SubprocessRunner does;
- in-process: `python -m bench.end_to_end DATA_DIR OUT_DIR` calls the very library functions the
  components call, in the components' order and with their arguments, in one process:
  validate, window (which validates again, like the component), the four trainers one after
  another (kfp.local runs one task at a time), evaluate, push.

Both are timed from outside, as wall time of a fresh process, on the same data in the same run.
The difference is what kfp.local adds: a Python start and the library imports (TensorFlow's
among them) per task, artifact bookkeeping and the executor files.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.common import ROOT, dwcp_command, met

GOAL = 0.15  # kfp.local overhead over in-process, at most


def in_process(data_dir: Path, out: Path) -> None:
    """validate -> window -> train x4 -> evaluate -> push, as the components do, in-process."""
    from dwcp_training.evaluate import evaluate
    from dwcp_training.models import REGISTRY, TrainSettings
    from dwcp_training.push import push
    from dwcp_training.schema import load_schema
    from dwcp_training.train import split_fractions, train_model
    from dwcp_training.validate import require_valid
    from dwcp_training.window import window_frame, write_windows
    from pipelines.local_run import find_data

    found = find_data(data_dir)
    if found is None:
        raise SystemExit(f"no reference data in {data_dir}")
    train_path, test_path, incidents = found
    run_dir = out / "run"
    require_valid(train_path, report_path=out / "validation_report.json")  # validate
    schema = load_schema()  # window
    valid = require_valid(train_path, schema)
    fractions = split_fractions(0.15, schema.split["test"])
    windows = window_frame(valid.frame, schema, fractions, source_sha256=valid.report.sha256)
    write_windows(windows, run_dir / "windows")
    del valid, windows
    checkpoint_uri = f"file://{(out / 'checkpoints').resolve()}"
    for name in REGISTRY:  # the four trainers
        settings = TrainSettings(seed=42, threads=2, verbose=0, checkpoint_uri=checkpoint_uri)
        train_model(name, run_dir / "windows", run_dir, settings, log=lambda _m: None)
    evaluate(run_dir, test_path, out / "evaluation", incidents_path=incidents, log=lambda _m: None)
    push(
        {n: run_dir / n for n in REGISTRY},
        out / "evaluation",
        str(out / "model_store"),
        "dwcp",
        log=lambda _m: None,
    )


def _timed(cmd: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def measure(data_dir: Path, work: Path, generate_s: float | None, pairs: int = 2) -> dict[str, Any]:
    """`pairs` alternating (kfp.local, in-process) runs, each into a fresh output folder."""
    kfp_runs, inproc_runs = [], []
    for i in range(pairs):
        kfp_runs.append(
            _timed(
                [
                    *dwcp_command(),
                    "-q",
                    "pipeline",
                    "run",
                    "--local",
                    "--no-cache",
                    "--data-dir",
                    str(data_dir),
                    "--output-dir",
                    str(work / f"kfp-{i}"),
                ]
            )
        )
        print(f"end to end: kfp.local run {i + 1}/{pairs} measured", file=sys.stderr)
        inproc_runs.append(
            _timed(
                [sys.executable, "-m", "bench.end_to_end", str(data_dir), str(work / f"inproc-{i}")]
            )
        )
        print(f"end to end: in-process run {i + 1}/{pairs} measured", file=sys.stderr)
    return {
        "kfp_local_s": min(kfp_runs),
        "in_process_s": min(inproc_runs),
        "kfp_local_runs": kfp_runs,
        "in_process_runs": inproc_runs,
        "generate_s": generate_s,
    }


def _runs(r: dict[str, Any], key: str) -> str:
    runs = r.get(key) or []
    return ", ".join(f"{s:.1f}" for s in runs) if len(runs) > 1 else "-"


def render(r: dict[str, Any]) -> list[str]:
    overhead = r["kfp_local_s"] / r["in_process_s"] - 1
    lines = [
        "## 6. End to end on the default data",
        "",
        "Wall time of a fresh process each, same data, same run: validate, window, four trainers",
        "(one at a time), evaluate, push. The two run in alternating pairs; the best of each is",
        "compared, every run is listed.",
        "",
        "| how | seconds (best) | every run |",
        "|---|---:|---|",
    ]
    if r.get("generate_s") is not None:
        lines.append(
            f"| `dwcp generate` (the default data; `make run` does it when missing) "
            f"| {r['generate_s']:.1f} | - |"
        )
    lines += [
        f"| kfp.local: `dwcp pipeline run --local --no-cache` (= `make run` with data present) "
        f"| {r['kfp_local_s']:.1f} | {_runs(r, 'kfp_local_runs')} |",
        f"| the same library calls in one process | {r['in_process_s']:.1f} "
        f"| {_runs(r, 'in_process_runs')} |",
        "",
        f"kfp.local overhead: {overhead:+.1%}, goal at most {GOAL:.0%}: **{met(overhead, GOAL)}**.",
    ]
    if r.get("generate_s") is not None:
        total = r["generate_s"] + r["kfp_local_s"]
        lines.append(f"`make run` from an empty data folder: {total:.0f} s.")
    return lines


if __name__ == "__main__":
    in_process(Path(sys.argv[1]), Path(sys.argv[2]))
