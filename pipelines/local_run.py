"""Run the compiled pipeline end to end under kfp.local: no cluster, no container.

`SubprocessRunner(use_venv=False)` executes each component in this virtual environment (the
components install nothing), one task at a time, with artifacts under `<output>/pipeline_root`
and kfp.local's cache under `<output>/cache`: running again with the same data and settings
reuses every cached step instead of retraining. Checkpoints are mirrored to
`file://<output>/checkpoints`, the local stand-in for the gs:// checkpoint store, and the
blessed models are pushed to a local object-store directory (`<output>/model_store`).
"""

from __future__ import annotations

import json
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dwcp_training.io import file_sha256
from dwcp_training.progress import format_table
from dwcp_training.storage import join, open_object_store, read_pointer

TRAIN_FILE, TEST_FILE, INCIDENTS_FILE = "dwcp_metrics", "dwcp_test", "labeled_incidents.json"


@dataclass
class LocalRun:
    """What `run_local` needs; paths are made absolute (artifact URIs must be)."""

    pipeline_file: Path
    train_data: Path
    test_data: Path
    incidents: Path
    output_dir: Path
    bucket: str | None = None  # default: <output_dir>/model_store
    model_prefix: str = "dwcp"
    epochs: int = 0
    seed: int = 42
    threads: int = 2
    target_accuracy: float = 0.98
    caching: bool = True
    checkpoints: bool = True
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def store_uri(self) -> str:
        return self.bucket or str((self.output_dir / "model_store").resolve())

    def arguments(self) -> dict[str, Any]:
        out = self.output_dir.resolve()
        return {
            "train_data_uri": str(self.train_data.resolve()),
            "test_data_uri": str(self.test_data.resolve()),
            "incidents_uri": str(self.incidents.resolve()),
            "train_data_sha256": file_sha256(self.train_data),
            "test_data_sha256": file_sha256(self.test_data),
            "bucket": self.store_uri,
            "model_prefix": self.model_prefix,
            "checkpoint_root": f"file://{out / 'checkpoints'}" if self.checkpoints else "",
            "epochs": self.epochs,
            "seed": self.seed,
            "threads": self.threads,
            "target_accuracy": self.target_accuracy,
            **self.extra,
        }


def find_data(data_dir: Path) -> tuple[Path, Path, Path] | None:
    """(train, test, incidents) in `data_dir` as `dwcp generate` writes them, or None."""
    for ext in ("csv", "parquet", "csv.gz"):
        train, test = data_dir / f"{TRAIN_FILE}.{ext}", data_dir / f"{TEST_FILE}.{ext}"
        if train.is_file() and test.is_file() and (data_dir / INCIDENTS_FILE).is_file():
            return train, test, data_dir / INCIDENTS_FILE
    return None


def run_local(run: LocalRun) -> dict[str, Any]:
    """Run the pipeline; returns {"seconds", "evaluation_dir", "models": [...], "store"}."""
    from kfp import components, local

    out = run.output_dir.resolve()
    local.init(
        runner=local.SubprocessRunner(use_venv=False),
        pipeline_root=str(out / "pipeline_root"),
        raise_on_error=True,
        enable_caching=run.caching,
        cache_root=str(out / "cache"),
    )
    pipeline = components.load_component_from_file(str(run.pipeline_file))
    started = time.perf_counter()
    with warnings.catch_warnings():
        # The components name the project's image; here they run in this environment on purpose.
        warnings.filterwarnings("ignore", message=".*non-Python base image.*")
        # Requests, GPUs and placement are for clusters; kfp.local says so for every task.
        warnings.filterwarnings("ignore", message=".*have no effect in the current local runner")
        task = pipeline(**run.arguments())
    seconds = time.perf_counter() - started
    evaluation_dir = Path(task.output.path)
    return {
        "seconds": seconds,
        "evaluation_dir": evaluation_dir,
        "store": run.store_uri,
        "models": model_rows(evaluation_dir, run.store_uri, run.model_prefix),
    }


def model_rows(evaluation_dir: Path, store_uri: str, prefix: str) -> list[dict[str, Any]]:
    """Per model: the verdict, its target checks and where LATEST points now."""
    store = open_object_store(f"{store_uri.rstrip('/')}/{prefix}" if prefix else store_uri)
    rows = []
    for blessing_path in sorted(evaluation_dir.glob("*/blessing.json")):
        blessing = json.loads(blessing_path.read_text())
        name = blessing["model"]
        pointer = read_pointer(store, name)
        version = f"{blessing['version']}-{blessing['onnx_sha256'][:8]}"
        checks = [c for c in blessing["checks"] if c["kind"] == "target"]
        rows.append(
            {
                "model": name,
                "blessed": blessing["blessed"],
                "targets": ", ".join(
                    f"{c['metric']}={c['achieved']:.4g}{'' if c['met'] else ' (missed)'}"
                    if c["achieved"] is not None
                    else f"{c['metric']}=missing"
                    for c in checks
                ),
                "pushed": version if pointer and pointer[0]["version"] == version else None,
                "latest": join(name, pointer[0]["version"]) if pointer else None,
            }
        )
    return rows


def summary_table(result: dict[str, Any]) -> str:
    rows = [
        [
            r["model"],
            "yes" if r["blessed"] else "no",
            r["targets"],
            r["pushed"] or "-",
        ]
        for r in result["models"]
    ]
    table = format_table(["model", "blessed", "held-out targets", "pushed version"], rows)
    pushed = sum(1 for r in result["models"] if r["pushed"])
    return (
        f"{table}\n\n{pushed}/{len(rows)} models pushed to {result['store']} in "
        f"{result['seconds']:.0f} s; reports: {result['evaluation_dir']}/evaluation_report.html"
    )
