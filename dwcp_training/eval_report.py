"""The evaluation's reports: per-model JSON, the master JSON and the Markdown summary.

The master report keeps the shape MODEL_SPECS.md asks for (per model: model_name, version,
training_date, target_metrics, achieved_metrics, test_set_size, training_time_seconds,
model_size_mb, success, hyperparameters, deployment_ready; aggregated: overall_success,
models_passed, models{...}, production_readiness{all_targets_met, deployment_recommendation}),
with the numbers measured on the held-out test file. Every verdict is computed:
`success` = every configured target met, `deployment_ready` = blessed, and the recommendation
is derived from the blessings, never typed.

The Markdown is the table a reviewer pastes into a pull request: targets, blessing reasons,
slices and drift, nothing that needs the HTML to be understood.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from dwcp_training.progress import format_table
from dwcp_training.reports import beats

#: Columns shown per slice in the Markdown, per model (the JSON has every metric).
SLICE_COLUMNS: dict[str, tuple[str, ...]] = {
    "bandwidth": ("pearson_r", "mape", "mae", "rmse"),
    "compression": ("accuracy", "macro_f1", "throughput_gain", "regret"),
    "reliability": ("recall", "precision", "pr_auc", "roc_auc"),
    "latency": ("accuracy", "precision", "recall", "f1", "episode_recall"),
}


def json_safe(value: Any) -> Any:
    """Plain JSON: numpy scalars to Python, NaN/inf to None (JSON has no NaN)."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def model_evaluation(
    *, model, trained, evaluation, verdict: dict[str, Any], test_info: dict[str, Any]
) -> dict[str, Any]:
    """The per-model evaluation (`<model>/evaluation.json`), in the MODEL_SPECS shape."""
    training = trained.report
    targets = [c for c in verdict["checks"] if c["kind"] == "target"]
    target_names = [c["metric"] for c in targets]
    success = bool(targets) and all(c["met"] for c in targets)
    return json_safe(
        {
            "model_name": model.name,
            "title": model.title,
            "version": training.get("version"),
            "training_date": training.get("training_date"),
            "target_metrics": {c["metric"]: f"{c['op']} {c['value']:g}" for c in targets},
            "achieved_metrics": evaluation.metrics,
            "targets": targets,
            "success": success,
            "test_set_size": int(evaluation.details.get("test_samples", 0)),
            "training_time_seconds": training.get("training_time_seconds"),
            "model_size_mb": round(len(trained.onnx_bytes) / 2**20, 4),
            "hyperparameters": training.get("hyperparameters", {}),
            "deployment_ready": verdict["blessed"],
            "blessed": verdict["blessed"],
            "blessing": verdict,
            "onnx": {"file": trained.onnx_path.name, "sha256": trained.onnx_sha256},
            "threshold": trained.contract.get("threshold"),
            "test_data": test_info,
            "baselines": evaluation.baselines,
            "beats_baselines": {
                name: beats(evaluation.metrics, values, target_names)
                for name, values in evaluation.baselines.items()
            },
            "slices": evaluation.slices,
            "details": evaluation.details,
        }
    )


def _recommendation(models: dict[str, dict[str, Any]], thresholds: dict | None) -> str:
    blessed = [n for n, m in models.items() if m["blessed"]]
    held = [n for n in models if n not in blessed]
    if thresholds is None:
        return "no recommendation: no thresholds configured, so no model can be blessed"
    if not models:
        return "do not deploy: no model evaluated"
    if not held:
        return "deploy: every model is blessed"
    why = "; ".join(f"{n}: {models[n]['blessing']['verdict'].split(': ', 1)[-1]}" for n in held)
    if blessed:
        return f"partial: push {', '.join(blessed)}; hold {', '.join(held)} ({why})"
    return f"do not deploy: no model is blessed ({why})"


def master_report(
    models: dict[str, dict[str, Any]],
    *,
    session: str,
    checkpoints_dir: Path,
    training_meta: dict[str, Any],
    test_info: dict[str, Any],
    thresholds: dict[str, Any] | None,
    baseline_dir: str | None,
    drift_report: dict[str, Any],
    warnings: list[str],
) -> dict[str, Any]:
    passed = [n for n, m in models.items() if m["success"]]
    blessed = [n for n, m in models.items() if m["blessed"]]
    all_met = bool(models) and len(passed) == len(models)
    return json_safe(
        {
            "evaluation_session": session,
            "training_session": Path(checkpoints_dir).resolve().name,
            "checkpoints_dir": str(checkpoints_dir),
            "training_data_sha256": training_meta.get("source_sha256"),
            "test_data": test_info,
            "thresholds": thresholds,
            "baseline_dir": baseline_dir,
            "overall_success": all_met,
            "models_evaluated": len(models),
            "models_passed": len(passed),
            "models_blessed": len(blessed),
            "models": models,
            "drift": drift_report,
            "warnings": [*warnings, *(f"drift: {w}" for w in drift_report["warnings"])],
            "production_readiness": {
                "all_targets_met": all_met,
                "all_blessed": bool(models) and len(blessed) == len(models),
                "blessed_models": blessed,
                "held_models": [n for n in models if n not in blessed],
                "deployment_recommendation": _recommendation(models, thresholds),
            },
        }
    )


# --- Markdown ------------------------------------------------------------------------------------


def targets_table(models: dict[str, dict[str, Any]]) -> str:
    rows = []
    for name, m in models.items():
        for check in m["blessing"]["checks"]:
            base = "; ".join(
                f"{b}: {fmt(v.get(check['metric']))}"
                for b, v in m["baselines"].items()
                if check["kind"] == "target" and check["metric"] in v
            )
            rows.append(
                [
                    name,
                    check["kind"],
                    f"{check['metric']} {check['op']} {check['value']:.4g}",
                    fmt(check["achieved"]),
                    base or "-",
                    "yes" if check["met"] else "**NO**",
                ]
            )
    return format_table(["model", "check", "threshold", "achieved", "naive baselines", "met"], rows)


def _slice_table(name: str, slices: dict[str, dict[str, Any]]) -> str:
    columns = [
        c for c in SLICE_COLUMNS.get(name, ()) if any(c in e for e in slices.values())
    ] or sorted({k for e in slices.values() for k in e if k not in ("n", "positives")})
    has_pos = any("positives" in e for e in slices.values())
    head = ["link_type", "n", *(["positives"] if has_pos else []), *columns]
    rows = [
        [k, e["n"], *([e.get("positives")] if has_pos else []), *(fmt(e.get(c)) for c in columns)]
        for k, e in slices.items()
    ]
    return format_table(head, rows)


def _typed_table(label: str, slices: dict[str, dict[str, Any]]) -> str:
    columns = list(dict.fromkeys(k for e in slices.values() for k in e))
    rows = [[k, *(fmt(e.get(c)) for c in columns)] for k, e in slices.items()]
    return format_table([label, *columns], rows)


def markdown(master: dict[str, Any]) -> str:
    models = master["models"]
    ready = master["production_readiness"]
    test = master["test_data"]
    thresholds = master["thresholds"]
    threshold_text = (
        ", ".join(f"{k} {fmt(v)}" for k, v in thresholds.items())
        if thresholds
        else "none configured"
    )
    lines = [
        f"# DWCP evaluation {master['evaluation_session']}",
        "",
        f"- models: training run `{master['checkpoints_dir']}` (training data sha256 "
        f"`{str(master['training_data_sha256'])[:12]}`)",
        f"- test file: `{test['path']}` ({test['rows']} rows, {test['links']} links, sha256 "
        f"`{test['sha256'][:12]}`), scored through onnxruntime on the exported ONNX models",
        f"- blessed: **{master['models_blessed']}/{master['models_evaluated']}** "
        f"({', '.join(ready['blessed_models']) or 'none'})",
        f"- recommendation: {ready['deployment_recommendation']}",
        f"- thresholds: {threshold_text}",
        f"- deployed baseline: {master['baseline_dir'] or 'none given (no regression check)'}",
        "",
        "## Targets and regression checks",
        "",
        targets_table(models),
        "",
        "## Blessing",
        "",
        format_table(
            ["model", "version", "blessed", "onnx sha256"],
            [
                [n, m["version"], fmt(m["blessed"]), f"`{m['onnx']['sha256'][:16]}`"]
                for n, m in models.items()
            ],
        ),
        "",
    ]
    for name, m in models.items():
        lines += [f"### {name}", "", *(f"- {r}" for r in m["blessing"]["reasons"]), ""]
    lines += ["## Metrics by link type", ""]
    for name, m in models.items():
        lines += [f"### {name}", "", _slice_table(name, m["slices"]["link_type"]), ""]
        for key, label in (("incident_type", "incident type"), ("episode_type", "episode type")):
            if key in m["slices"]:
                lines += [f"By {label}:", "", _typed_table(label, m["slices"][key]), ""]
        if "episodes" in m["details"]:
            e = m["details"]["episodes"]
            lines += [
                f"Episodes ({e['definition']}): {e['detected']}/{e['episodes']} flagged, "
                f"mean detection delay {fmt(e['mean_detection_delay_s'])} s.",
                "",
            ]
    d = master["drift"]
    lines += [
        "## Drift (training data vs test file)",
        "",
        f"{d['method']}; {d['bins']}; warning at PSI >= {d['levels']['warn']}.",
        "",
    ]
    if master["warnings"]:
        lines += ["**Warnings:**", "", *(f"- {w}" for w in master["warnings"]), ""]
    else:
        lines += [f"No feature drifted past PSI {d['levels']['warn']}.", ""]
    lines += [
        format_table(
            ["feature", "PSI", "level", "train mean", "test mean"],
            [
                [f, fmt(e["psi"]), e["level"], fmt(e["train_mean"]), fmt(e["test_mean"])]
                for f, e in d["features"].items()
            ],
        ),
        "",
    ]
    return "\n".join(lines)
