"""The evaluate step: score the EXPORTED models on a held-out file, bless them or not, report.

    checkpoints (train output) + test file -> validate -> window (training encodings, never
    refitted) -> onnxruntime -> metrics, baselines, slices -> blessing -> drift -> reports

Why it is built this way:
- It scores the ONNX files through onnxruntime, the artifacts the Go side will run, never the
  Python objects. The bytes that are scored are the bytes that are hashed into `blessing.json`,
  so the push step can prove it uploads exactly what was evaluated.
- Nothing is refitted on the test file. The ONNX graphs carry their normalization; the
  categorical encodings are the schema's fixed indices, checked against the training run's
  `windows/metadata.json`; a test file whose model-input categories were never seen in
  training, or that lacks a column a model needs, is refused (exit 2) instead of scored.
- Baselines that need a threshold are calibrated on the TRAINING run's validation windows.
- Numbers are deterministic: the same checkpoints and test file give byte-identical metrics
  (wall-clock fields live only under `evaluated_at` and `timing`).

`baseline_dir` (CLI `--baseline-dir`) is the evaluation OUTPUT of the currently deployed models
(its `<model>/evaluation.json`), not their checkpoints: the comparison uses the metrics that
were used to bless them, and evaluating needs no second set of models. When the two evaluations
used different test files the reasons say so.

Outputs, under `output_dir`: `evaluation_report.{json,md,html}`, `test_validation_report.json`
and per model `<model>/evaluation.json` and `<model>/blessing.json`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from dwcp_training import blessing, drift, eval_report, ground_truth
from dwcp_training.atomic import write_json, write_text
from dwcp_training.errors import ConfigError, DataError
from dwcp_training.eval_scoring import FrameRows, ModelEvaluation, ScoringInput, score
from dwcp_training.models import MODEL_INPUTS, REGISTRY, TrainSettings, model_class
from dwcp_training.schema import Schema, load_schema
from dwcp_training.train import parse_models
from dwcp_training.window import WindowSet, load_windows, window_frame

__all__ = ["DEFAULT_THRESHOLDS", "EvaluationThresholds", "evaluate"]

WINDOWS_DIR = "windows"
EVALUATION_FILE = "evaluation.json"
BLESSING_FILE = "blessing.json"
ONNX_THREADS = 2  # fixed, so results do not depend on the machine's core count
# Rows per onnxruntime call: the LSTM graphs' working memory grows with the batch (8192 rows
# took ~300 MB more than 1024) and 1024 is also the fastest on 2 cores; results do not depend
# on it.
ONNX_BATCH = 1024


@dataclass(frozen=True)
class EvaluationThresholds:
    """What a model must reach to be blessed; None switches a threshold off.

    target_accuracy: the 98%-class targets (bandwidth Pearson r, compression accuracy,
    reliability recall, latency detection accuracy); max_mape: bandwidth MAPE must be below it
    (a fraction); min_pr_auc: reliability PR-AUC; regression_tolerance: see
    `dwcp_training.blessing`.
    """

    target_accuracy: float | None = 0.98
    max_mape: float | None = 0.05
    min_pr_auc: float | None = 0.90
    regression_tolerance: float = 0.01


DEFAULT_THRESHOLDS = EvaluationThresholds()


@dataclass
class TrainedModel:
    """One model of the training run, with the exact ONNX bytes that will be scored."""

    name: str
    onnx_path: Path
    onnx_bytes: bytes
    onnx_sha256: str
    report: dict[str, Any]
    contract: dict[str, Any]


def _utc_now() -> str:
    return dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _read_json(path: Path, what: str) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path}: missing ({what})") from None
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path}: cannot read {what}: {exc}") from None


# --- inputs --------------------------------------------------------------------------------------


def _chosen_models(checkpoints_dir: Path, models: list[str] | None) -> list[str]:
    """The requested models, or every registered model the training run exported to ONNX."""
    if models is not None:
        return parse_models(models) if models else []
    found = [n for n in REGISTRY if (checkpoints_dir / n / f"{n}.onnx").is_file()]
    if not found:
        raise ConfigError(
            f"--checkpoints-dir {checkpoints_dir}: no <model>/<model>.onnx found; point it at "
            "the output of `dwcp train`"
        )
    return found


def _load_model(checkpoints_dir: Path, name: str) -> TrainedModel:
    model_dir = checkpoints_dir / name
    onnx_path = model_dir / f"{name}.onnx"
    if not onnx_path.is_file():
        raise ConfigError(
            f"{onnx_path}: missing; the training run did not export {name} to ONNX "
            "(train with --export-format onnx, or leave it out with --models)"
        )
    data = onnx_path.read_bytes()
    return TrainedModel(
        name=name,
        onnx_path=onnx_path,
        onnx_bytes=data,
        onnx_sha256=hashlib.sha256(data).hexdigest(),
        report=_read_json(model_dir / "report.json", f"the training report of {name}"),
        contract=_read_json(model_dir / "contract.json", f"the contract of {name}"),
    )


def _load_training_windows(checkpoints_dir: Path, models: list[str], schema: Schema) -> WindowSet:
    windows_dir = checkpoints_dir / WINDOWS_DIR
    if not (windows_dir / "metadata.json").is_file():
        raise ConfigError(
            f"--checkpoints-dir {checkpoints_dir}: {WINDOWS_DIR}/metadata.json is missing; "
            "point it at the output of `dwcp train`"
        )
    windows = load_windows(windows_dir)
    ours = {c.name: list(c.values or ()) for c in schema.columns if c.type == "category"}
    for column, values in windows.meta.get("encodings", {}).items():
        if ours.get(column) != values:
            raise ConfigError(
                f"the training run encoded {column} as {values}, this schema as "
                f"{ours.get(column)}; evaluate with the schema version the models were trained on "
                f"({windows.meta.get('schema', {}).get('version')})"
            )
    for name in models:
        info = windows.meta["models"].get(name, {})
        if name not in windows.arrays:
            raise ConfigError(f"the training windows hold no {name} arrays ({info.get('skipped')})")
        wanted = schema.sequence_length.get(name) if MODEL_INPUTS[name].is_sequence else None
        if info.get("seq_len") != wanted:
            raise ConfigError(
                f"{name} was trained on sequences of {info.get('seq_len')} steps, the schema now "
                f"says {wanted}"
            )
    return windows


def _events(test_data_path: Path, incidents_path: Path | None) -> ground_truth.LabeledEvents | None:
    if incidents_path is not None:
        if not incidents_path.is_file():
            raise ConfigError(f"--incidents-path {incidents_path}: no such file")
        return ground_truth.load_events(incidents_path)
    default = test_data_path.parent / ground_truth.INCIDENTS_FILE
    return ground_truth.load_events(default) if default.is_file() else None


def check_compatible(
    frame: pd.DataFrame, meta: dict[str, Any], models: list[str], source: str
) -> list[str]:
    """Refuse a test file the trained models cannot be scored on; return warnings.

    Errors (DataError, exit 2): a column a chosen model reads (features or label) is absent, or
    a categorical model input holds a value the training data never had. Categorical values
    that are new in columns no chosen model reads are only warnings.
    """
    for name in models:
        spec = MODEL_INPUTS[name]
        absent = [c for c in (*spec.features, spec.target) if c not in frame.columns]
        if absent:
            others = [m for m in models if m != name]
            raise DataError(
                source,
                f"the test file lacks column(s) {', '.join(absent)} that model {name} needs"
                + (f"; evaluate the others with --models {','.join(others)}" if others else ""),
                column=absent[0],
                rule="required",
            )
    model_inputs = {c for name in models for c in MODEL_INPUTS[name].features}
    warnings: list[str] = []
    for column, seen in sorted(meta.get("categories_seen", {}).items()):
        if column not in frame.columns:
            continue
        values = pd.unique(frame[column].dropna().astype(str))
        new = sorted(set(values) - set(seen))
        if not new:
            continue
        if column in model_inputs:
            readers = [n for n in models if column in MODEL_INPUTS[n].features]
            raise DataError(
                source,
                f"value(s) {', '.join(map(repr, new))} never occur in the training data "
                f"(seen: {', '.join(seen)}); models {', '.join(readers)} were never trained on "
                "them. Retrain on data that has them, or evaluate on data without them",
                column=column,
                rule="unseen_category",
            )
        warnings.append(
            f"{column}: value(s) {', '.join(new)} not in the training data (no evaluated model "
            "reads this column)"
        )
    return warnings


# --- scoring -------------------------------------------------------------------------------------


def _session(model_bytes: bytes):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = ONNX_THREADS
    options.inter_op_num_threads = 1
    return ort.InferenceSession(model_bytes, options, providers=["CPUExecutionProvider"])


def _drift_samples(arrays: dict[str, Any], split: str) -> dict[str, np.ndarray]:
    """One value per sample and feature, row models first (they cover every row)."""
    ordered = sorted(arrays, key=lambda m: MODEL_INPUTS[m].is_sequence)
    out: dict[str, np.ndarray] = {}
    for name in ordered:
        spec = MODEL_INPUTS[name]
        x = arrays[name][split].X
        for j, feature in enumerate(spec.features):
            if feature in out:
                continue
            if spec.kind == "row":
                out[feature] = np.asarray(x[:, j])
            elif spec.kind == "next_step":
                out[feature] = np.asarray(x[:, -1, j])
            else:
                out[feature] = np.asarray(x[:, -1])
    return out


def _deployed(baseline_dir: Path | None, name: str, test_sha: str) -> tuple[dict | None, str]:
    """The deployed model's metrics from a previous evaluation, and a sentence about them."""
    if baseline_dir is None:
        return None, ""
    path = baseline_dir / name / EVALUATION_FILE
    if not path.is_file():
        return None, f"regression: no deployed evaluation at {path}; comparison skipped"
    previous = _read_json(path, f"the deployed evaluation of {name}")
    note = f"regression: compared with {path} (version {previous.get('version')})"
    if previous.get("test_data", {}).get("sha256") != test_sha:
        note += "; WARNING: that evaluation used a different test file"
    return previous.get("achieved_metrics", {}), note


def _clear_blessings(output_dir: Path) -> None:
    """Remove blessing files left by an earlier evaluation in this folder.

    A blessing must only exist when the LATEST evaluation here produced it: otherwise a run that
    fails half-way, or evaluates fewer models, would leave an old "blessed": true for the push
    step to find.
    """
    for name in REGISTRY:
        (output_dir / name / BLESSING_FILE).unlink(missing_ok=True)


def _score_model(
    trained: TrainedModel,
    training: WindowSet,
    test: Any,
    rows: FrameRows,
    events: ground_truth.LabeledEvents | None,
) -> tuple[Any, ModelEvaluation]:
    """Run the ONNX bytes on the test windows and score the outputs."""
    from dwcp_training.models.onnx_export import run_onnx

    outputs = run_onnx(_session(trained.onnx_bytes), np.asarray(test.X), batch=ONNX_BATCH)
    # Only the model's target LIST and its score/baselines are used: nothing is fitted, and
    # `blessing` applies the configured threshold values.
    model = model_class(trained.name)(TrainSettings(), training.meta)
    data = {**training.arrays[trained.name], "test": test}
    threshold = trained.contract.get("threshold")
    return model, score(ScoringInput(model, outputs, data, rows, events, threshold))


def _blessing_file(entry: dict[str, Any], trained: TrainedModel, evaluated_at: str) -> dict:
    return {
        "model": trained.name,
        "blessed": entry["blessed"],
        "version": entry["version"],
        "onnx_sha256": trained.onnx_sha256,
        "onnx_path": str(trained.onnx_path),
        "reasons": entry["blessing"]["reasons"],
        "checks": entry["blessing"]["checks"],
        "evaluation": EVALUATION_FILE,
        "evaluated_at": evaluated_at,
    }


def _check_paths(
    checkpoints_dir: Path, test_data_path: Path, output_dir: Path, baseline_dir: Path | None
) -> None:
    from dwcp_training.train import check_output_dir

    if not checkpoints_dir.is_dir():
        raise ConfigError(f"--checkpoints-dir {checkpoints_dir}: no such folder")
    if not test_data_path.is_file():
        raise ConfigError(f"--test-data-path {test_data_path}: no such file")
    if baseline_dir is not None and not baseline_dir.is_dir():
        raise ConfigError(f"--baseline-dir {baseline_dir}: no such folder")
    check_output_dir(output_dir)


def evaluate(
    checkpoints_dir: Path,
    test_data_path: Path,
    output_dir: Path,
    *,
    models: list[str] | None = None,
    thresholds: EvaluationThresholds | None = DEFAULT_THRESHOLDS,
    baseline_dir: Path | None = None,
    incidents_path: Path | None = None,
    log: Callable[[str], None] = print,
) -> dict:
    """Evaluate the training run's ONNX models on `test_data_path`; returns the master report."""
    from dwcp_training.html_report import render_html
    from dwcp_training.validate import require_valid

    started = time.perf_counter()
    checkpoints_dir, test_data_path, output_dir = map(
        Path, (checkpoints_dir, test_data_path, output_dir)
    )
    baseline_dir = Path(baseline_dir) if baseline_dir is not None else None
    _check_paths(checkpoints_dir, test_data_path, output_dir, baseline_dir)
    schema = load_schema()
    chosen = _chosen_models(checkpoints_dir, models)
    trained = {name: _load_model(checkpoints_dir, name) for name in chosen}
    training = _load_training_windows(checkpoints_dir, chosen, schema)
    events = _events(test_data_path, incidents_path)
    output_dir.mkdir(parents=True, exist_ok=True)
    _clear_blessings(output_dir)

    log(f"validating {test_data_path}")
    valid = require_valid(
        test_data_path, schema, report_path=output_dir / "test_validation_report.json"
    )
    frame, report = valid.frame, valid.report
    warnings = check_compatible(frame, training.meta, chosen, str(test_data_path))
    log(f"windowing {len(frame)} test rows with the training encodings")
    test_windows = window_frame(
        frame, schema, {"test": 1.0}, models=chosen, source_sha256=report.sha256
    )
    rows = FrameRows.from_frame(frame, schema)
    test_info = {"path": str(test_data_path), "sha256": report.sha256}

    evaluations: dict[str, ModelEvaluation] = {}
    per_model: dict[str, dict[str, Any]] = {}
    for name in chosen:
        test = test_windows.arrays[name]["test"]
        if len(test) == 0:
            raise DataError(
                str(test_data_path), f"no {name} test samples: every link is shorter than a window"
            )
        t0 = time.perf_counter()
        model, evaluation = _score_model(trained[name], training, test, rows, events)
        deployed, note = _deployed(baseline_dir, name, report.sha256)
        verdict = blessing.decide(
            name, model.targets(), evaluation.metrics, thresholds, deployed, note
        )
        evaluations[name] = evaluation
        per_model[name] = eval_report.model_evaluation(
            model=model,
            trained=trained[name],
            evaluation=evaluation,
            verdict=verdict,
            test_info=test_info,
        )
        shown = ", ".join(
            f"{k}={v:.4g}" for k, v in evaluation.metrics.items() if isinstance(v, float)
        )
        log(
            f"{name}: {'BLESSED' if verdict['blessed'] else 'not blessed'} "
            f"({len(test)} samples, {time.perf_counter() - t0:.1f} s): {shown}"
        )

    drift_report = drift.feature_drift(
        _drift_samples(training.arrays, "train"),
        _drift_samples(test_windows.arrays, "test"),
        {c: len(v) for c, v in training.meta.get("encodings", {}).items()},
    )
    for line in drift_report["warnings"]:
        log(f"drift warning: {line}")

    evaluated_at = _utc_now()
    for name, entry in per_model.items():
        features = MODEL_INPUTS[name].features
        entry["drift"] = {
            f: drift_report["features"][f] for f in features if f in drift_report["features"]
        }
        write_json(output_dir / name / EVALUATION_FILE, entry)
        write_json(
            output_dir / name / BLESSING_FILE, _blessing_file(entry, trained[name], evaluated_at)
        )
    master = eval_report.master_report(
        per_model,
        session=output_dir.resolve().name,
        checkpoints_dir=checkpoints_dir,
        training_meta=training.meta,
        test_info={
            **test_info,
            "rows": report.n_rows,
            "links": report.n_links,
            "incidents_file": events.source if events else None,
        },
        thresholds=asdict(thresholds) if thresholds is not None else None,
        baseline_dir=str(baseline_dir) if baseline_dir else None,
        drift_report=drift_report,
        warnings=warnings,
    )
    master["evaluated_at"] = evaluated_at
    html = render_html(master, evaluations)
    master["timing"] = {"evaluation_seconds": round(time.perf_counter() - started, 3)}
    write_json(output_dir / "evaluation_report.json", master)
    write_text(output_dir / "evaluation_report.md", eval_report.markdown(master))
    write_text(output_dir / "evaluation_report.html", html)
    log(f"evaluation written to {output_dir} in {master['timing']['evaluation_seconds']:.1f} s")
    return master
