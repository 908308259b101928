"""One self-contained HTML evaluation report: tables plus plots as inline base64 PNGs.

Self-contained on purpose: the file is attached to a pipeline run, mailed, or opened from an
object-storage browser, where relative links to images or scripts break. Nothing is fetched:
no JavaScript, no web fonts, no external CSS.

Plots (matplotlib, drawn on `Figure` objects directly, so no global pyplot state and no display
backend is involved):
- bandwidth: predicted vs actual throughput over time for a few links (one per link type);
- compression: confusion matrix of chosen vs oracle level;
- reliability: precision-recall curve with the calibrated operating point and the best
  single-feature baseline;
- latency: reconstruction error over time with the threshold, true episodes shaded.
"""

from __future__ import annotations

import base64
import html
import io
from typing import Any

import numpy as np

from dwcp_training.eval_report import SLICE_COLUMNS, fmt

_CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:2em auto;max-width:1100px;
color:#222;line-height:1.4}
h1{font-size:1.6em}h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:1.8em}
table{border-collapse:collapse;margin:.6em 0 1.2em;font-size:.9em}
th,td{border:1px solid #ccc;padding:.25em .6em;text-align:left}th{background:#f3f3f3}
td.num{text-align:right;font-variant-numeric:tabular-nums}
.ok{color:#17652b;font-weight:600}.bad{color:#b00020;font-weight:600}
.warn{background:#fff4e5;border-left:4px solid #f0a020;padding:.5em 1em;margin:1em 0}
.summary{background:#f6f8fa;padding:.8em 1.2em;border-radius:6px}
img{max-width:100%;border:1px solid #eee}code{font-size:.9em}
ul.reasons li{font-family:monospace;font-size:.85em}
"""


def _png(fig) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=96, bbox_inches="tight", metadata={"Software": None})
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _img(fig, alt: str) -> str:
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{_png(fig)}">'


def _figure(width: float, height: float):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def _dates(epoch: np.ndarray) -> np.ndarray:
    return np.asarray(epoch, np.int64).astype("datetime64[s]")


def _table(head: list[str], rows: list[list[Any]]) -> str:
    def cell(v: Any) -> str:
        if isinstance(v, bool):
            cls = "ok" if v else "bad"
            return f'<td class="{cls}">{"yes" if v else "NO"}</td>'
        numeric = isinstance(v, int | float) and not isinstance(v, bool)
        return f'<td class="num">{fmt(v)}</td>' if numeric else f"<td>{html.escape(fmt(v))}</td>"

    th = "".join(f"<th>{html.escape(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(cell(v) for v in r) + "</tr>" for r in rows)
    return f"<table><tr>{th}</tr>{body}</table>"


# --- plots ---------------------------------------------------------------------------------------


def bandwidth_plot(plot: dict[str, Any]) -> str:
    series = plot.get("series", [])
    if not series:
        return ""
    fig = _figure(11, 2.4 * len(series))
    axes = fig.subplots(len(series), 1, squeeze=False)[:, 0]
    for ax, s in zip(axes, series, strict=True):
        t = _dates(s["epoch"])
        ax.plot(t, s["actual"], color="#444", lw=1.2, marker=".", ms=3, label="actual")
        ax.plot(t, s["predicted"], color="#d62728", lw=1.0, alpha=0.85, label="predicted (ONNX)")
        ax.set_title(s["link"], fontsize=9, loc="left")
        ax.set_ylabel("Mbit/s")
        ax.grid(alpha=0.3)
    fig.legend(
        *axes[0].get_legend_handles_labels(), loc="outside upper center", ncols=4, fontsize=8
    )
    return _img(fig, "bandwidth: predicted vs actual throughput")


def confusion_plot(matrix: np.ndarray) -> str:
    from matplotlib.colors import LogNorm

    fig = _figure(6.5, 5.5)
    ax = fig.subplots()
    shown = np.where(matrix > 0, matrix, np.nan)
    image = ax.imshow(shown, cmap="Blues", norm=LogNorm(vmin=1, vmax=max(int(matrix.max()), 2)))
    for (i, j), count in np.ndenumerate(matrix):
        if count:
            color = "white" if count > matrix.max() ** 0.6 else "black"
            ax.text(j, i, str(count), ha="center", va="center", fontsize=7, color=color)
    ax.set_xlabel("chosen level (ONNX)")
    ax.set_ylabel("oracle level")
    ax.set_xticks(range(matrix.shape[1]))
    ax.set_yticks(range(matrix.shape[0]))
    ax.set_title("compression: confusion matrix (counts, log colour)", fontsize=10)
    fig.colorbar(image, ax=ax, shrink=0.8)
    return _img(fig, "compression confusion matrix")


def pr_plot(plot: dict[str, Any]) -> str:
    if "recall" not in plot:
        return ""
    fig = _figure(6.5, 5)
    ax = fig.subplots()
    ax.plot(plot["recall"], plot["precision"], color="#1f77b4", lw=1.5, label="isolation forest")
    r, p = plot["operating_point"]
    if r is not None:
        ax.scatter([r], [p], color="#d62728", zorder=3, label="calibrated threshold")
    br, bp = plot["baseline_point"]
    if br is not None:
        ax.scatter([br], [bp], color="#7f7f7f", marker="s", zorder=3, label="best single feature")
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_xlim(0, 1.02)
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.set_title(f"reliability: precision-recall (PR-AUC {fmt(plot.get('pr_auc'))})", fontsize=10)
    ax.legend(loc="lower left", fontsize=8)
    return _img(fig, "reliability precision-recall curve")


def latency_plot(plot: dict[str, Any]) -> str:
    series = plot.get("series", [])
    if not series:
        return ""
    fig = _figure(11, 2.4 * len(series))
    axes = fig.subplots(len(series), 1, squeeze=False)[:, 0]
    threshold = plot.get("threshold")
    for ax, s in zip(axes, series, strict=True):
        for k, (start, end, tail) in enumerate(s["episodes"]):
            first = k == 0
            ax.axvspan(
                *_dates([start, end]),
                color="#f0a020",
                alpha=0.35,
                lw=0,
                label="true episode" if first else None,
            )
            ax.axvspan(
                *_dates([end, tail]),
                color="#f0a020",
                alpha=0.12,
                lw=0,
                label="windows still holding episode rows" if first else None,
            )
        ax.plot(
            _dates(s["epoch"]),
            np.maximum(s["error"], 1e-6),
            color="#1f77b4",
            lw=0.8,
            label="reconstruction error",
        )
        if threshold is not None:
            ax.axhline(threshold, color="#d62728", ls="--", lw=1, label="threshold")
        ax.set_yscale("log")
        ax.set_title(s["link"], fontsize=9, loc="left")
        ax.grid(alpha=0.3)
    fig.legend(
        *axes[0].get_legend_handles_labels(), loc="outside upper center", ncols=4, fontsize=8
    )
    return _img(fig, "latency reconstruction error with threshold and true episodes")


PLOTS = {
    "bandwidth": (
        "Predicted vs actual throughput: one link per type, around its largest change",
        bandwidth_plot,
    ),
    "compression": (
        "Confusion matrix",
        lambda p: confusion_plot(p["confusion"]) if "confusion" in p else "",
    ),
    "reliability": ("Precision-recall curve", pr_plot),
    "latency": (
        "Reconstruction error of the window ending at each time (links of different groups)",
        latency_plot,
    ),
}


# --- page ----------------------------------------------------------------------------------------


def _model_section(name: str, m: dict[str, Any], plot: dict[str, Any]) -> str:
    status = (
        '<span class="ok">BLESSED</span>'
        if m["blessed"]
        else '<span class="bad">NOT BLESSED</span>'
    )
    parts = [
        f"<h2 id='{name}'>{html.escape(m['title'])} — {status}</h2>",
        f"<p>version <code>{html.escape(str(m['version']))}</code>, ONNX sha256 "
        f"<code>{m['onnx']['sha256'][:16]}</code>, {m['test_set_size']} test samples</p>",
        "<ul class='reasons'>"
        + "".join(f"<li>{html.escape(r)}</li>" for r in m["blessing"]["reasons"])
        + "</ul>",
    ]
    metrics = m["achieved_metrics"]
    base_names = list(m["baselines"])
    parts.append(
        _table(
            ["metric", "model (ONNX)", *base_names],
            [[k, v, *[m["baselines"][b].get(k) for b in base_names]] for k, v in metrics.items()],
        )
    )
    title, draw = PLOTS.get(name, ("", None))
    if draw is not None:
        image = draw(plot)
        if image:
            parts += [f"<h3>{html.escape(title)}</h3>", image]
    slices = m["slices"]
    columns = [
        c for c in SLICE_COLUMNS.get(name, ()) if any(c in e for e in slices["link_type"].values())
    ]
    parts += [
        "<h3>By link type</h3>",
        _table(
            ["link_type", "n", *columns],
            [[k, e["n"], *[e.get(c) for c in columns]] for k, e in slices["link_type"].items()],
        ),
    ]
    for key, label in (("incident_type", "incident type"), ("episode_type", "episode type")):
        if key in slices:
            cols = list(dict.fromkeys(c for e in slices[key].values() for c in e))
            parts += [
                f"<h3>By {label}</h3>",
                _table(
                    [label, *cols], [[k, *[e.get(c) for c in cols]] for k, e in slices[key].items()]
                ),
            ]
    return "\n".join(parts)


def render_html(master: dict[str, Any], evaluations: dict[str, Any]) -> str:
    """The whole report as one HTML string (`evaluations`: name -> ModelEvaluation)."""
    models = master["models"]
    ready = master["production_readiness"]
    test = master["test_data"]
    checks = [
        [
            n,
            c["kind"],
            f"{c['metric']} {c['op']} {c['value']:.4g}",
            c["achieved"],
            bool(c["met"]),
        ]
        for n, m in models.items()
        for c in m["blessing"]["checks"]
    ]
    warnings = master["warnings"]
    warn_html = (
        "<div class='warn'><b>Warnings</b><ul>"
        + "".join(f"<li>{html.escape(w)}</li>" for w in warnings)
        + "</ul></div>"
        if warnings
        else ""
    )
    drift_rows = [
        [f, e["psi"], e["level"], e["train_mean"], e["test_mean"]]
        for f, e in master["drift"]["features"].items()
    ]
    body = [
        f"<h1>DWCP evaluation {html.escape(master['evaluation_session'])}</h1>",
        "<div class='summary'>"
        f"<p><b>{master['models_blessed']}/{master['models_evaluated']} models blessed</b> "
        f"({html.escape(', '.join(ready['blessed_models']) or 'none')}).<br>"
        f"Recommendation: {html.escape(ready['deployment_recommendation'])}</p>"
        f"<p>Test file <code>{html.escape(test['path'])}</code>: {test['rows']} rows, "
        f"{test['links']} links (sha256 <code>{test['sha256'][:12]}</code>). Models from "
        f"<code>{html.escape(master['checkpoints_dir'])}</code>, scored through onnxruntime. "
        f"Deployed baseline: {html.escape(str(master['baseline_dir'] or 'none'))}.</p></div>",
        warn_html,
        "<h2>Targets and regression checks</h2>",
        _table(["model", "check", "threshold", "achieved", "met"], checks),
    ]
    for name, m in models.items():
        evaluation = evaluations.get(name)
        body.append(_model_section(name, m, evaluation.plot if evaluation else {}))
    body += [
        "<h2>Drift: training data vs test file</h2>",
        f"<p>{html.escape(master['drift']['method'])}; {html.escape(master['drift']['bins'])}; "
        f"warning at PSI &ge; {master['drift']['levels']['warn']}.</p>",
        _table(["feature", "PSI", "level", "train mean", "test mean"], drift_rows),
    ]
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>DWCP evaluation {html.escape(master['evaluation_session'])}</title>"
        f"<style>{_CSS}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n"
    )
