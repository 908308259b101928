"""Scoring one model's ONNX outputs on the test windows: metrics, baselines, slices, details.

The headline metrics and the naive baselines come from the model's own interface
(`DwcpModel.score` and `DwcpModel.baselines`), so the evaluation and the train step can never
disagree on what "accuracy" means. `baselines` is handed the TRAINING run's train and
validation windows with the test file's windows as "test": threshold baselines (reliability's
best single feature, latency's static threshold) are calibrated on the training validation
split and only then applied to the test file, exactly as the models' own thresholds were.

Every headline metric is also computed per link_type (the same `score` on the subset). What
only makes sense for one model is added by a per-model extra: the EWMA baseline (bandwidth), the
confusion matrix (compression), recall per incident type and the PR curve (reliability),
episode-level recall and detection delay per episode type (latency).

A slice with no positive samples reports recall-like metrics as None rather than 0: "no
incident happened on edge links" is not "the detector missed every edge incident".
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from dwcp_training import baselines as naive
from dwcp_training import ground_truth
from dwcp_training.models.base import DwcpModel
from dwcp_training.schema import Schema
from dwcp_training.window import ModelArrays

#: Metrics that need at least one positive sample to mean anything.
NEED_POSITIVES = ("recall", "f1", "pr_auc", "roc_auc", "episode_recall")
#: Links drawn per plot (the first link of each link type, in link order).
PLOT_LINKS = 4
PR_CURVE_POINTS = 400
#: Samples per link in the time-series plots (3 hours at the simulator's 1-minute interval).
PLOT_STEPS = 180


@dataclass
class FrameRows:
    """Per-row facts of the validated test frame, plus its (link, time) order.

    `position[row]` is the row's place in (link, time) order, the order the window step uses;
    `order[position]` goes back. `link_code` numbers links exactly as the window step does.
    """

    frame: pd.DataFrame
    link_type: np.ndarray  # str per row
    epoch: np.ndarray  # int64 per row
    link_code: np.ndarray  # int64 per row
    order: np.ndarray  # sorted position -> row
    position: np.ndarray  # row -> sorted position

    @classmethod
    def from_frame(cls, frame: pd.DataFrame, schema: Schema) -> FrameRows:
        keys = list(schema.link_key)
        link_code = frame.groupby(keys, sort=True, observed=True).ngroup().to_numpy(np.int64)
        epoch = frame[schema.time_column].to_numpy(np.int64)
        order = np.lexsort((epoch, link_code))
        position = np.empty_like(order)
        position[order] = np.arange(len(order))
        return cls(
            frame=frame,
            link_type=frame["link_type"].astype(str).to_numpy(object),
            epoch=epoch,
            link_code=link_code,
            order=order,
            position=position,
        )


@dataclass
class ModelEvaluation:
    """What the evaluation knows about one model; `plot` feeds the HTML report only."""

    metrics: dict[str, Any]
    baselines: dict[str, dict[str, Any]]
    slices: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)
    plot: dict[str, Any] = field(default_factory=dict)


@dataclass
class ScoringInput:
    """Everything a scorer may read."""

    model: DwcpModel
    outputs: dict[str, np.ndarray]
    data: dict[str, ModelArrays]  # train/validation: training windows; test: the test file
    rows: FrameRows
    events: ground_truth.LabeledEvents | None
    threshold: dict[str, Any] | None

    @property
    def test(self) -> ModelArrays:
        return self.data["test"]


def subset(arrays: ModelArrays, mask: np.ndarray) -> ModelArrays:
    return ModelArrays(
        y=arrays.y[mask],
        link=arrays.link[mask],
        row=arrays.row[mask],
        _X=np.asarray(arrays.X)[mask],
    )


def _is_binary(y: np.ndarray) -> bool:
    return y.dtype.kind in "biu" and np.isin(y, (0, 1)).all()


def slice_metrics(
    model: DwcpModel,
    outputs: dict[str, np.ndarray],
    arrays: ModelArrays,
    labels: np.ndarray,
) -> dict[str, dict[str, Any]]:
    """`model.score` per distinct label (sorted), with the sample and positive counts."""
    out: dict[str, dict[str, Any]] = {}
    binary = _is_binary(arrays.y)
    for value in sorted(pd.unique(labels)):
        mask = labels == value
        part = subset(arrays, mask)
        scores: dict[str, Any] = dict(model.score({k: v[mask] for k, v in outputs.items()}, part))
        entry: dict[str, Any] = {"n": int(mask.sum())}
        if binary:
            positives = int(part.y.sum())
            entry["positives"] = positives
            if positives == 0:
                scores.update({m: None for m in NEED_POSITIVES if m in scores})
        out[str(value)] = {**entry, **scores}
    return out


def score(inp: ScoringInput) -> ModelEvaluation:
    """Headline metrics, baselines and link-type slices, then the model's own extras."""
    test = inp.test
    evaluation = ModelEvaluation(
        metrics=dict(inp.model.score(inp.outputs, test)),
        baselines={k: dict(v) for k, v in inp.model.baselines(inp.data).items()},
    )
    evaluation.slices["link_type"] = slice_metrics(
        inp.model, inp.outputs, test, inp.rows.link_type[test.row]
    )
    evaluation.details["test_samples"] = len(test)
    if _is_binary(test.y):
        evaluation.details["test_positives"] = int(test.y.sum())
    extra = EXTRAS.get(inp.model.name)
    if extra is not None:
        extra(inp, evaluation)
    return evaluation


# --- per-model extras ----------------------------------------------------------------------------


def _plot_links(
    inp: ScoringInput, candidates: np.ndarray | None = None, by: np.ndarray | None = None
) -> list[int]:
    """Up to PLOT_LINKS link codes, one per distinct value of `by` (a per-row label, default
    link_type) first, in link order (deterministic)."""
    by = inp.rows.link_type if by is None else by
    links = np.unique(inp.test.link if candidates is None else candidates)
    first_row = {int(code): int(np.flatnonzero(inp.rows.link_code == code)[0]) for code in links}
    chosen: list[int] = []
    seen: set[str] = set()
    for code in links:
        kind = str(by[first_row[int(code)]])
        if kind not in seen:
            seen.add(kind)
            chosen.append(int(code))
    chosen += [int(c) for c in links if int(c) not in chosen]
    return chosen[:PLOT_LINKS]


def _link_name(inp: ScoringInput, code: int) -> str:
    row = int(np.flatnonzero(inp.rows.link_code == code)[0])
    frame = inp.rows.frame
    return f"{frame['node_id'].iat[row]} -> {frame['peer_id'].iat[row]} ({inp.rows.link_type[row]})"


def _bandwidth_extra(inp: ScoringInput, ev: ModelEvaluation) -> None:
    from dwcp_training.models.bandwidth import bandwidth_metrics

    test = inp.test
    x = np.asarray(test.X)
    ev.baselines["ewma"] = bandwidth_metrics(test.y, naive.ewma(x))
    # The predicted interval is the row after the window's last row, in the same link.
    target_rows = inp.rows.order[inp.rows.position[test.row] + 1]
    series = []
    for code in _plot_links(inp):
        idx = np.flatnonzero(test.link == code)
        idx = idx[np.argsort(inp.rows.epoch[target_rows[idx]], kind="stable")]
        idx = idx[_zoom(test.y[idx].astype(np.float64), PLOT_STEPS)]
        series.append(
            {
                "link": _link_name(inp, code),
                "epoch": inp.rows.epoch[target_rows[idx]],
                "actual": test.y[idx].astype(np.float64),
                "predicted": inp.outputs["throughput_mbps"][idx].astype(np.float64),
            }
        )
    ev.plot["series"] = series
    ev.plot["steps"] = PLOT_STEPS


def _zoom(values: np.ndarray, steps: int) -> slice:
    """`steps` consecutive samples around the largest relative jump: the moment worth seeing
    (a full day of a daily cycle shows only the envelope)."""
    if len(values) <= steps:
        return slice(None)
    jump = np.abs(np.diff(np.log1p(np.maximum(values, 0.0))))
    centre = int(np.argmax(jump))
    start = min(max(centre - steps // 3, 0), len(values) - steps)
    return slice(start, start + steps)


def _compression_extra(inp: ScoringInput, ev: ModelEvaluation) -> None:
    from dwcp_training.models.compression import N_LEVELS

    truth = inp.test.y.astype(np.int64)
    chosen = np.asarray(inp.outputs["compression_level"], np.int64)
    matrix = np.zeros((N_LEVELS, N_LEVELS), np.int64)
    np.add.at(matrix, (truth, chosen), 1)
    support = matrix.sum(axis=1)
    ev.details["confusion_matrix"] = {
        "rows": "oracle level",
        "columns": "chosen level",
        "labels": list(range(N_LEVELS)),
        "counts": matrix.tolist(),
    }
    ev.details["per_level"] = {
        str(level): {
            "support": int(support[level]),
            "recall": float(matrix[level, level] / support[level]) if support[level] else None,
        }
        for level in range(N_LEVELS)
    }
    ev.plot["confusion"] = matrix


def pr_curve(y: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(recall, precision, threshold) at every distinct score, highest threshold first."""
    s = np.asarray(scores, np.float64)
    pos = np.asarray(y).astype(bool)
    order = np.argsort(-s, kind="stable")
    s, pos = s[order], pos[order]
    last = np.r_[s[1:] != s[:-1], True]
    tp = np.cumsum(pos)[last].astype(np.float64)
    flagged = (np.flatnonzero(last) + 1).astype(np.float64)
    return tp / max(pos.sum(), 1), tp / flagged, s[last]


def _thin(*arrays: np.ndarray, points: int = PR_CURVE_POINTS) -> list[np.ndarray]:
    n = len(arrays[0])
    idx = np.unique(np.linspace(0, n - 1, min(n, points)).astype(np.int64)) if n else []
    return [np.asarray(a)[idx] for a in arrays]


def _reliability_extra(inp: ScoringInput, ev: ModelEvaluation) -> None:
    test = inp.test
    flagged = np.asarray(inp.outputs["is_anomaly"]).astype(bool)
    scores = np.asarray(inp.outputs["anomaly_score"], np.float64)
    y = test.y.astype(bool)
    ev.details["threshold"] = inp.threshold
    recall, precision, _ = pr_curve(y, scores)
    recall, precision = _thin(recall, precision)
    base = ev.baselines.get("best_single_feature_threshold", {})
    ev.plot.update(
        recall=recall,
        precision=precision,
        operating_point=(ev.metrics.get("recall"), ev.metrics.get("precision")),
        baseline_point=(base.get("recall"), base.get("precision")),
        pr_auc=ev.metrics.get("pr_auc"),
    )
    if inp.events is None:
        return
    incidents = inp.events.incidents
    frame = inp.rows.frame
    event = ground_truth.event_of_rows(
        frame["node_id"].iloc[test.row], inp.rows.epoch[test.row], incidents, "node_id"
    )
    kinds = incidents["type"].to_numpy(object)
    per_type: dict[str, dict[str, Any]] = {}
    positive_kind = np.where(event >= 0, kinds[np.maximum(event, 0)], ground_truth.UNTYPED)
    for kind in sorted(set(positive_kind[y])):
        rows_mask = y & (positive_kind == kind)
        entry: dict[str, Any] = {
            "positives": int(rows_mask.sum()),
            "recall": float(flagged[rows_mask].mean()),
        }
        if kind != ground_truth.UNTYPED:
            ids = np.unique(event[rows_mask])
            detected = sum(bool(flagged[event == i].any()) for i in ids)
            entry.update(
                incidents=len(ids),
                incidents_detected=int(detected),
                incident_recall=detected / len(ids),
            )
        per_type[str(kind)] = entry
    ev.slices["incident_type"] = per_type


def _episode_summary(found: ground_truth.EpisodeDetection, mask: np.ndarray) -> dict[str, Any]:
    covered = found.covered & mask
    n = int(covered.sum())
    detected = found.detected & covered
    delays = found.delay_s[detected]
    return {
        "episodes": n,
        "detected": int(detected.sum()),
        "episode_recall": float(detected.sum() / n) if n else None,
        "mean_detection_delay_s": float(delays.mean()) if delays.size else None,
        "mean_detection_delay_steps": (
            float(found.delay_steps[detected].mean()) if delays.size else None
        ),
    }


def _latency_extra(inp: ScoringInput, ev: ModelEvaluation) -> None:
    test, rows = inp.test, inp.rows
    seq_len = int(inp.model.seq_len or np.asarray(test.X).shape[1])
    flagged = np.asarray(inp.outputs["is_high_latency"]).astype(bool)
    truth_sorted = rows.frame["is_high_latency"].to_numpy(np.int64)[rows.order] == 1
    starts, ends = ground_truth.runs(truth_sorted, rows.link_code[rows.order])
    window_end = rows.position[test.row]
    epoch_sorted = rows.epoch[rows.order]

    def detect(flags: np.ndarray) -> ground_truth.EpisodeDetection:
        return ground_truth.detect_episodes(starts, ends, window_end, flags, seq_len, epoch_sorted)

    found = detect(flagged)
    everything = np.ones(len(starts), bool)
    summary = _episode_summary(found, everything)
    ev.metrics["episode_recall"] = summary["episode_recall"]
    ev.metrics["mean_detection_delay_s"] = summary["mean_detection_delay_s"]
    ev.details["episodes"] = {
        "definition": "a run of consecutive is_high_latency = 1 rows on one link",
        **summary,
    }
    ev.details["threshold"] = inp.threshold

    val = inp.data["validation"]
    _, base_flags = naive.static_threshold(np.asarray(val.X), val.y, np.asarray(test.X))
    base_summary = _episode_summary(detect(base_flags.astype(bool)), everything)
    static = ev.baselines.setdefault("static_threshold", {})
    static["episode_recall"] = base_summary["episode_recall"]
    static["mean_detection_delay_s"] = base_summary["mean_detection_delay_s"]

    episode_link_type = rows.link_type[rows.order[starts]]
    for kind, entry in ev.slices["link_type"].items():
        part = _episode_summary(found, episode_link_type == kind)
        entry["episode_recall"] = part["episode_recall"]
        entry["mean_detection_delay_s"] = part["mean_detection_delay_s"]
    if inp.events is not None:
        start_rows = rows.order[starts]
        event = ground_truth.event_of_rows(
            rows.frame["datacenter_id"].iloc[start_rows],
            rows.epoch[start_rows],
            inp.events.episodes,
            "group",
        )
        kinds = inp.events.episodes["type"].to_numpy(object)
        kind_of = np.where(event >= 0, kinds[np.maximum(event, 0)], ground_truth.UNTYPED)
        ev.slices["episode_type"] = {
            str(kind): _episode_summary(found, kind_of == kind) for kind in sorted(set(kind_of))
        }

    errors = np.asarray(inp.outputs["reconstruction_error"], np.float64)
    link_sorted = rows.link_code[rows.order]
    episode_link = link_sorted[starts]
    # A window stays positive while it still holds an episode row: seq_len - 1 steps after the
    # episode's last row (clipped at the link's last row). The plot shades that tail lightly.
    link_last = np.searchsorted(link_sorted, episode_link, side="right") - 1
    tail_end = np.minimum(ends + seq_len - 1, link_last)
    groups = rows.frame["datacenter_id"].astype(str).to_numpy(object)
    series = []
    for code in _plot_links(inp, np.unique(episode_link) if len(starts) else None, groups):
        mask = test.link == code
        mine = episode_link == code
        series.append(
            {
                "link": _link_name(inp, code),
                "epoch": rows.epoch[test.row[mask]],
                "error": errors[mask],
                "episodes": [
                    (int(epoch_sorted[a]), int(epoch_sorted[b]), int(epoch_sorted[c]))
                    for a, b, c in zip(starts[mine], ends[mine], tail_end[mine], strict=True)
                ],
            }
        )
    threshold = (inp.threshold or {}).get("reconstruction_error")
    ev.plot.update(series=series, threshold=threshold, seq_len=seq_len)


EXTRAS: dict[str, Callable[[ScoringInput, ModelEvaluation], None]] = {
    "bandwidth": _bandwidth_extra,
    "compression": _compression_extra,
    "reliability": _reliability_extra,
    "latency": _latency_extra,
}
