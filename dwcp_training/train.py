"""The train step: validate -> window -> fit the chosen models -> artifacts, contracts, reports.

For each model it writes, under `<output_dir>/<model>/`: the native artifact, the ONNX export,
`contract.json`, `report.{json,md}` and `checkpoints/`; the master report goes to
`<output_dir>/training_report.{json,md}`. The same `train_model` function serves the in-process
run, the `--parallel` worker processes and the Kubeflow trainer components.

`--parallel` runs each model in its own spawned process with the same TensorFlow thread count
as a sequential run, so the results are identical (tested), only the wall time changes.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np

from dwcp_training import __version__
from dwcp_training.atomic import write_json
from dwcp_training.errors import ConfigError
from dwcp_training.models import REGISTRY, TrainSettings, model_class
from dwcp_training.reports import (
    master_markdown,
    master_report,
    model_markdown,
    model_report,
    write_report_pair,
)

EXPORT_FORMATS = ("keras", "onnx")
WINDOWS_DIR = "windows"
PARITY_RTOL = 1e-4
PARITY_FLOOR = 1e-3  # relative differences are taken against max(|reference|, this)


@dataclass
class TrainRequest:
    data_path: Path
    output_dir: Path
    models: list[str] = field(default_factory=lambda: list(REGISTRY))
    settings: TrainSettings = field(default_factory=TrainSettings)
    parallel: bool = False
    export_formats: tuple[str, ...] = EXPORT_FORMATS
    validation_split: float = 0.15


def parse_models(text: str | Sequence[str]) -> list[str]:
    """`bandwidth,compression` -> ["bandwidth", "compression"]; unknown names are an error."""
    names = [n.strip() for n in (text.split(",") if isinstance(text, str) else text) if n.strip()]
    if not names:
        raise ConfigError("no model named; choose from " + ", ".join(REGISTRY))
    for name in names:
        try:
            model_class(name)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
    return list(dict.fromkeys(names))


def parse_formats(text: str | Sequence[str]) -> tuple[str, ...]:
    names = [n.strip() for n in (text.split(",") if isinstance(text, str) else text) if n.strip()]
    bad = [n for n in names if n not in EXPORT_FORMATS]
    if bad or not names:
        raise ConfigError(
            f"unknown export format(s) {bad}; choose from {', '.join(EXPORT_FORMATS)}"
        )
    return tuple(dict.fromkeys(names))


def split_fractions(validation_split: float, test_fraction: float) -> dict[str, float]:
    train = 1.0 - validation_split - test_fraction
    if not 0 < validation_split < 1 or train <= 0:
        raise ConfigError(
            f"--validation-split {validation_split} leaves no training data "
            f"(the test split takes {test_fraction})"
        )
    return {"train": train, "validation": validation_split, "test": test_fraction}


def check_output_dir(path: Path) -> None:
    """Fail early, with the path in the message, when the output folder cannot be written."""
    probe_dir = path
    while not probe_dir.exists():
        probe_dir = probe_dir.parent
    if not probe_dir.is_dir() or not os.access(probe_dir, os.W_OK | os.X_OK):
        raise ConfigError(f"output dir {path} is not writable ({probe_dir} does not allow it)")


def prepare_windows(
    data_path: Path, output_dir: Path, validation_split: float, log: Callable[[str], None]
) -> Path:
    """Validate and window the training file into `<output_dir>/windows`."""
    from dwcp_training.schema import load_schema
    from dwcp_training.validate import require_valid
    from dwcp_training.window import window_frame, write_windows

    schema = load_schema()
    fractions = split_fractions(validation_split, schema.split["test"])
    log(f"validating {data_path}")
    valid = require_valid(data_path, schema, report_path=output_dir / "validation_report.json")
    frame, report = valid.frame, valid.report
    log(
        f"windowing {len(frame)} rows ({report.n_rows / max(report.elapsed_s, 1e-9):,.0f} rows/s "
        "validated)"
    )
    windows = window_frame(frame, schema, fractions, source_sha256=report.sha256)
    return write_windows(windows, output_dir / WINDOWS_DIR)


def onnx_parity(
    reference: dict[str, np.ndarray], exported: dict[str, np.ndarray], checked: Sequence[str]
) -> dict:
    """Compare `predict` (the trained model) with onnxruntime on the same raw inputs.

    Checked float outputs: max relative difference against max(|reference|, PARITY_FLOOR).
    Checked integer/bool outputs (decisions): must be identical. Other outputs: max absolute
    difference, reported only.
    """
    max_rel = 0.0
    same = True
    unchecked: dict[str, float] = {}
    for name, ref in reference.items():
        got = np.asarray(exported[name]).astype(np.float64)
        ref = np.asarray(ref)
        if name not in checked:
            unchecked[name] = float(np.abs(got - ref).max()) if ref.size else 0.0
        elif ref.dtype.kind in "biu":
            same &= bool(np.array_equal(ref.astype(np.float64), got))
        else:
            ref = ref.astype(np.float64)
            diff = np.abs(got - ref) / np.maximum(np.abs(ref), PARITY_FLOOR)
            max_rel = max(max_rel, float(diff.max()) if diff.size else 0.0)
    return {
        "checked_outputs": list(checked),
        "max_rel_diff": max_rel,
        "same_decisions": same,
        "rtol": PARITY_RTOL,
        "max_abs_diff_other_outputs": unchecked,
        "ok": same and max_rel <= PARITY_RTOL,
    }


def _file_mb(path: Path) -> float:
    return round(path.stat().st_size / 2**20, 4)


def train_model(
    name: str,
    windows_dir: Path,
    output_dir: Path,
    settings: TrainSettings,
    export_formats: Sequence[str] = EXPORT_FORMATS,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Fit one model on the written windows, export it and write its report."""
    from dwcp_training.models.keras_model import KerasDwcpModel
    from dwcp_training.window import load_windows

    cls = model_class(name)
    if issubclass(cls, KerasDwcpModel):
        from dwcp_training.models.keras_trainer import configure_tensorflow

        configure_tensorflow(settings.seed, settings.threads)
    windows = load_windows(windows_dir)
    if name not in windows.arrays:
        reason = windows.meta["models"].get(name, {}).get("skipped", "not windowed")
        raise ConfigError(f"cannot train {name}: {reason}")
    data = windows.arrays[name]
    model = cls(settings, windows.meta)
    model_dir = output_dir / name
    model_dir.mkdir(parents=True, exist_ok=True)

    def model_log(message: str) -> None:
        log(f"{name}: {message}")

    model_log(f"training on {len(data['train'])} samples ({model.architecture})")
    started = time.perf_counter()
    summary = model.fit(data, model_dir / "checkpoints", model_log)
    training_time = time.perf_counter() - started

    test = data["test"]
    x_test = np.asarray(test.X)
    outputs = model.predict(x_test)
    achieved = model.score(outputs, test)
    baselines = model.baselines(data)

    artifacts: dict[str, str] = {}
    sizes: dict[str, float] = {}
    parity = None
    if "keras" in export_formats:
        native = model.save_native(model_dir)
        artifacts["native"], sizes["native"] = native.name, _file_mb(native)
    if "onnx" in export_formats:
        from dwcp_training.models.onnx_export import run_onnx

        onnx_path = model.export_onnx(model_dir / f"{name}.onnx")
        artifacts["onnx"], sizes["onnx"] = onnx_path.name, _file_mb(onnx_path)
        parity = onnx_parity(outputs, run_onnx(onnx_path, x_test), model.checked_outputs)
        model_log(
            f"ONNX parity: max rel diff {parity['max_rel_diff']:.2e}, "
            f"same decisions {parity['same_decisions']}"
        )
    contract = model.contract(windows.meta.get("source_sha256", ""))
    write_json(model_dir / "contract.json", contract)
    artifacts["contract"] = "contract.json"

    version = f"{__version__}-{model.fingerprint()[:12]}"
    report = model_report(
        model=model,
        version=version,
        fit_summary=summary,
        achieved=achieved,
        baselines=baselines,
        parity=parity,
        artifacts=artifacts,
        artifact_sizes_mb=sizes,
        training_time_seconds=training_time,
        test_set_size=len(test),
    )
    write_report_pair(model_dir, "report", report, model_markdown(report))
    verdict = "targets met" if report["success"] else "TARGETS MISSED"
    model_log(
        f"{verdict} in {training_time:.1f} s: "
        + ", ".join(f"{k}={v:.4g}" for k, v in achieved.items())
    )
    return report


def _train_worker(args: tuple) -> dict[str, Any]:
    """Entry point of a `--parallel` worker process (module-level so it pickles)."""
    name, windows_dir, output_dir, settings, formats = args
    return train_model(name, windows_dir, output_dir, settings, formats, log=_stderr_log)


def _stderr_log(message: str) -> None:
    import sys

    print(message, file=sys.stderr, flush=True)


def train(request: TrainRequest, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Run the whole train step; returns the master report (also written to disk)."""
    if not request.data_path.is_file():
        raise ConfigError(f"--data-path {request.data_path}: no such file")
    if not os.access(request.data_path, os.R_OK):
        raise ConfigError(f"--data-path {request.data_path}: not readable")
    check_output_dir(request.output_dir)
    if request.settings.epochs is not None and request.settings.epochs <= 0:
        raise ConfigError(f"--epochs must be > 0, got {request.settings.epochs}")
    started = time.perf_counter()
    request.output_dir.mkdir(parents=True, exist_ok=True)
    windows_dir = prepare_windows(
        request.data_path, request.output_dir, request.validation_split, log
    )
    reports: dict[str, dict[str, Any]] = {}
    if request.parallel and len(request.models) > 1:
        workers = min(len(request.models), os.cpu_count() or 1)
        log(f"training {len(request.models)} models in {workers} processes")
        jobs = [
            (n, windows_dir, request.output_dir, request.settings, request.export_formats)
            for n in request.models
        ]
        with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
            for name, report in zip(request.models, pool.map(_train_worker, jobs), strict=True):
                reports[name] = report
    else:
        for name in request.models:
            reports[name] = train_model(
                name,
                windows_dir,
                request.output_dir,
                request.settings,
                request.export_formats,
                log,
            )
    session = request.output_dir.resolve().name
    master = master_report(reports, time.perf_counter() - started, session)
    write_report_pair(request.output_dir, "training_report", master, master_markdown(master))
    return master
