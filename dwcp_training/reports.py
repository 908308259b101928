"""Per-model and master reports, as JSON and Markdown, in the shape MODEL_SPECS.md gives.

Every verdict here is computed from measured numbers: `success` is "all targets met on the
held-out test split", `deployment_ready` adds "beats every naive baseline and the ONNX export
matches", and the master report's recommendation is derived from those, never typed.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from dwcp_training.atomic import write_json, write_text
from dwcp_training.progress import format_table

LOWER_IS_BETTER = {"mape", "mae", "rmse", "regret"}
#: The per-model report fields MODEL_SPECS.md asks for (reports carry more).
MODEL_REPORT_FIELDS = (
    "model_name",
    "version",
    "training_date",
    "target_metrics",
    "achieved_metrics",
    "test_set_size",
    "training_time_seconds",
    "model_size_mb",
    "success",
    "hyperparameters",
    "deployment_ready",
)


def _utc_now() -> str:
    return dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def beats(achieved: dict[str, float], baseline: dict[str, Any], metrics: list[str]) -> bool:
    """At least as good on every target metric the baseline has, and better on one."""
    shared = [m for m in metrics if isinstance(baseline.get(m), int | float)]
    if not shared:
        return False
    better = 0
    for m in shared:
        a, b = achieved[m], baseline[m]
        if m in LOWER_IS_BETTER:
            a, b = -a, -b
        if a < b:
            return False
        better += a > b
    return better > 0


def model_report(
    *,
    model,
    version: str,
    fit_summary,
    achieved: dict[str, float],
    baselines: dict[str, dict[str, Any]],
    parity: dict[str, Any] | None,
    artifacts: dict[str, str],
    artifact_sizes_mb: dict[str, float],
    training_time_seconds: float,
    test_set_size: int,
) -> dict[str, Any]:
    targets = model.targets()
    checks = [
        {
            "metric": t.metric,
            "op": t.op,
            "value": t.value,
            "achieved": achieved.get(t.metric),
            "met": t.met(achieved.get(t.metric)),
        }
        for t in targets
    ]
    success = all(c["met"] for c in checks)
    target_metrics = [t.metric for t in targets]
    beaten = {name: beats(achieved, b, target_metrics) for name, b in baselines.items()}
    parity_ok = parity is None or bool(parity.get("ok"))
    return {
        "model_name": model.name,
        "title": model.title,
        "architecture": model.architecture,
        "version": version,
        "training_date": _utc_now(),
        "target_metrics": {t.metric: f"{t.op} {t.value:g}" for t in targets},
        "achieved_metrics": achieved,
        "targets": checks,
        "baselines": baselines,
        "beats_baselines": beaten,
        "test_set_size": int(test_set_size),
        "training_time_seconds": round(float(training_time_seconds), 3),
        "model_size_mb": artifact_sizes_mb.get("onnx", max(artifact_sizes_mb.values(), default=0)),
        "artifact_sizes_mb": artifact_sizes_mb,
        "success": success,
        "hyperparameters": fit_summary.hyperparameters,
        "training": {
            "epochs_run": fit_summary.epochs_run,
            "best_epoch": fit_summary.best_epoch,
            "resumed_from_epoch": fit_summary.resumed_from_epoch,
            "history": fit_summary.history,
        },
        "calibration": fit_summary.calibration,
        "onnx_parity": parity,
        "artifacts": artifacts,
        "deployment_ready": success and parity_ok and all(beaten.values()),
    }


def master_report(reports: dict[str, dict[str, Any]], total_seconds: float, session: str) -> dict:
    passed = [n for n, r in reports.items() if r["success"]]
    ready = [n for n, r in reports.items() if r["deployment_ready"]]
    all_met = len(passed) == len(reports) and bool(reports)
    if all_met and len(ready) == len(reports):
        recommendation = (
            "deploy: every model met its targets, beat its baselines and matches its ONNX export"
        )
    elif ready:
        recommendation = (
            f"partial: deploy {', '.join(ready)}; hold "
            f"{', '.join(n for n in reports if n not in ready)}"
        )
    else:
        recommendation = "do not deploy: no model is deployment-ready"
    return {
        "training_session": session,
        "training_date": _utc_now(),
        "overall_success": all_met,
        "models_trained": len(reports),
        "models_passed": len(passed),
        "total_training_time_seconds": round(float(total_seconds), 3),
        "models": reports,
        "production_readiness": {
            "all_targets_met": all_met,
            "deployment_ready_models": ready,
            "deployment_recommendation": recommendation,
        },
    }


def _fmt(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def targets_table(reports: dict[str, dict[str, Any]]) -> str:
    """model | target | achieved | baseline(s) | met — the table the README carries."""
    rows = []
    for name, r in reports.items():
        for check in r["targets"]:
            base = "; ".join(
                f"{b}: {_fmt(v.get(check['metric']))}"
                for b, v in r["baselines"].items()
                if check["metric"] in v
            )
            rows.append(
                [
                    name,
                    f"{check['metric']} {check['op']} {check['value']:g}",
                    _fmt(check["achieved"]),
                    base or "-",
                    _fmt(check["met"]),
                ]
            )
    return format_table(["model", "target", "achieved", "baseline", "met"], rows)


def model_markdown(r: dict[str, Any]) -> str:
    lines = [
        f"# {r['title']} — {r['version']}",
        "",
        f"- success (targets met on the held-out test split): **{_fmt(r['success'])}**",
        f"- deployment ready: **{_fmt(r['deployment_ready'])}**",
        f"- test set size: {r['test_set_size']}",
        f"- training time: {r['training_time_seconds']:.1f} s; model size "
        f"{r['model_size_mb']:.3f} MB",
        "",
        targets_table({r["model_name"]: r}),
        "",
    ]
    if r.get("onnx_parity"):
        p = r["onnx_parity"]
        lines += [
            f"ONNX parity on the test split: max relative difference "
            f"{_fmt(p['max_rel_diff'])}, identical decisions: {_fmt(p['same_decisions'])}",
            "",
        ]
    lines += [
        "## All metrics",
        "",
        format_table(
            ["metric", "achieved", *r["baselines"].keys()],
            [
                [m, _fmt(v), *[_fmt(b.get(m, "-")) for b in r["baselines"].values()]]
                for m, v in r["achieved_metrics"].items()
            ],
        ),
        "",
    ]
    return "\n".join(lines)


def master_markdown(m: dict[str, Any]) -> str:
    ready = m["production_readiness"]
    lines = [
        f"# DWCP training session {m['training_session']}",
        "",
        f"- models passed: {m['models_passed']}/{m['models_trained']}",
        f"- all targets met: **{_fmt(ready['all_targets_met'])}**",
        f"- recommendation: {ready['deployment_recommendation']}",
        f"- total training time: {m['total_training_time_seconds']:.1f} s",
        "",
        targets_table(m["models"]),
        "",
        format_table(
            ["model", "success", "deployment ready", "time (s)", "size (MB)"],
            [
                [
                    n,
                    _fmt(r["success"]),
                    _fmt(r["deployment_ready"]),
                    f"{r['training_time_seconds']:.1f}",
                    f"{r['model_size_mb']:.3f}",
                ]
                for n, r in m["models"].items()
            ],
        ),
        "",
    ]
    return "\n".join(lines)


def write_report_pair(directory: Path, stem: str, payload: dict, markdown: str) -> None:
    write_json(directory / f"{stem}.json", payload)
    write_text(directory / f"{stem}.md", markdown)
