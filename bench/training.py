"""Section 5: training samples/s of the pipeline's loop against a bare fit of the same model.

For each model, `train_model` (the function the CLI and the Kubeflow trainers call) runs once
with a small epoch budget while its inner fit call is recorded: the Keras models' compiled
network factory and exact arrays passed to `keras_trainer.fit_resumable`, the reliability
model's IsolationForest and its matrix. Then, alternating and best of `repeats` each:

- pipeline: `fit_resumable` again with the same arguments (per-epoch seeded shuffle, checkpoint
  after every epoch, validation loss, early stopping) in a fresh checkpoint folder;
- bare: a fresh network from the same factory, `keras.Model.fit(x, y, batch_size, epochs,
  validation_data, shuffle=True)` for the epochs the pipeline ran; for the forest, a plain
  `IsolationForest(**same params).fit(X)` against the reliability model's whole `fit`
  (transform, forest, the scores that place its threshold), with the calibration share shown.

samples/s = epochs x training samples / seconds. Run in a fresh process (`python -m
bench.training WINDOWS_DIR WORKDIR EPOCHS`, JSON on the last line of stdout) so TensorFlow's
thread settings are the trainers' own.
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench.common import met

GOAL = 0.9  # pipeline samples/s / bare samples/s, at least
BUDGET_S = 60.0  # per model: more alternating pairs while within this
MAX_PAIRS = 6


def _record_calls() -> dict[str, dict[str, Any]]:
    """Wrap the fit entry points so `train_model` leaves its exact arguments behind."""
    from sklearn.ensemble import IsolationForest

    import dwcp_training.models.keras_trainer as trainer
    from dwcp_training.models.reliability import ReliabilityModel

    calls: dict[str, dict[str, Any]] = {}
    real_fit_resumable = trainer.fit_resumable
    real_forest_fit = IsolationForest.fit
    real_model_fit = ReliabilityModel.fit

    def fit_resumable(build, train, validation, config, *args, **kwargs):
        calls["keras"] = {
            "build": build,
            "train": train,
            "validation": validation,
            "config": config,
        }
        return real_fit_resumable(build, train, validation, config, *args, **kwargs)

    def forest_fit(self, X, y=None, sample_weight=None):  # noqa: N803 - sklearn's name
        calls["forest"] = {"params": self.get_params(), "X": X}
        return real_forest_fit(self, X, y, sample_weight)

    def model_fit(self, data, checkpoint_dir, log):
        calls["model"] = {"model": self, "data": data, "checkpoint_dir": checkpoint_dir}
        return real_model_fit(self, data, checkpoint_dir, log)

    trainer.fit_resumable = fit_resumable
    IsolationForest.fit = forest_fit
    ReliabilityModel.fit = model_fit
    return calls


def _pairs(repeats: int, budget_s: float = BUDGET_S) -> Iterator[int]:
    """Pair indices: at least `repeats`, more (up to MAX_PAIRS) while within `budget_s`.

    A 2-core VM's timings of a few seconds scatter by 10-20%; the small, fast models get more
    pairs for the same minute, so their best times are as trustworthy as the big model's.
    """
    started = time.perf_counter()
    i = 0
    while i < repeats or (i < MAX_PAIRS and time.perf_counter() - started < budget_s):
        yield i
        i += 1


def _keras_rates(call: dict[str, Any], work: Path, repeats: int) -> dict[str, Any]:
    from dwcp_training.models.keras_trainer import fit_resumable

    build, config = call["build"], call["config"]
    (x, y), validation = call["train"], call["validation"]
    pipeline_s, bare_s, epochs = [], [], config.epochs
    for i in _pairs(repeats):
        checkpoints = work / f"bench-checkpoints-{i}"
        shutil.rmtree(checkpoints, ignore_errors=True)
        start = time.perf_counter()
        _, loop = fit_resumable(
            build, (x, y), validation, config, checkpoints, f"bench-{i}", log=lambda _m: None
        )
        pipeline_s.append(time.perf_counter() - start)
        epochs = loop.epochs_run
        shutil.rmtree(checkpoints, ignore_errors=True)
        net = build()
        start = time.perf_counter()
        net.fit(
            x,
            y,
            batch_size=config.batch_size,
            epochs=epochs,
            validation_data=validation,
            shuffle=True,
            verbose=0,
        )
        bare_s.append(time.perf_counter() - start)
    return {
        "samples": len(x),
        "epochs": epochs,
        "batch_size": config.batch_size,
        "pipeline_s": min(pipeline_s),
        "bare_s": min(bare_s),
        "pairs": len(bare_s),
        "engine": "keras.Model.fit",
    }


def _forest_rates(calls: dict[str, dict[str, Any]], repeats: int) -> dict[str, Any]:
    """The model's whole `fit` (transform, forest, calibration scores) against the bare forest.

    Alternating, best of `repeats` each. `calibration_s` is the part of the model's fit that
    scores every training and validation row to place the threshold (timed on the last fitted
    model): work of the model itself, which a bare `IsolationForest.fit` does not do.
    """
    import numpy as np
    from sklearn.ensemble import IsolationForest

    X, params = calls["forest"]["X"], calls["forest"]["params"]  # noqa: N806
    recorded = calls["model"]
    data, checkpoint_dir = recorded["data"], recorded["checkpoint_dir"]
    model_cls, settings = type(recorded["model"]), recorded["model"].settings
    window_meta = recorded["model"].window_meta
    pipeline_s, bare_s = [], []
    model = None
    for _ in _pairs(repeats):
        model = model_cls(settings, window_meta)
        start = time.perf_counter()
        model.fit(data, checkpoint_dir, lambda _m: None)
        pipeline_s.append(time.perf_counter() - start)
        start = time.perf_counter()
        IsolationForest(**params).fit(X)
        bare_s.append(time.perf_counter() - start)
    rows = np.concatenate([np.asarray(data["train"].X), np.asarray(data["validation"].X)])
    start = time.perf_counter()
    model._scores(rows)
    calibration_s = time.perf_counter() - start
    return {
        "samples": len(X),
        "epochs": 1,
        "batch_size": None,
        "pipeline_s": min(pipeline_s),
        "bare_s": min(bare_s),
        "pairs": len(bare_s),
        "calibration_s": calibration_s,
        "calibration_rows": len(rows),
        "engine": "IsolationForest.fit",
    }


def measure(windows_dir: Path, work: Path, epochs: int, repeats: int = 2) -> dict[str, Any]:
    from dwcp_training.models import REGISTRY, TrainSettings
    from dwcp_training.train import train_model

    calls = _record_calls()
    results: dict[str, Any] = {}
    for name in REGISTRY:
        calls.clear()
        settings = TrainSettings(seed=42, epochs=epochs, verbose=0)
        started = time.perf_counter()
        train_model(name, windows_dir, work / "train", settings, log=lambda _m: None)
        whole_s = time.perf_counter() - started
        if "keras" in calls:
            row = _keras_rates(calls["keras"], work, repeats)
        elif "forest" in calls and "model" in calls:
            row = _forest_rates(calls, repeats)
        else:
            print(f"training: {name} fit neither a Keras network nor a forest", file=sys.stderr)
            continue
        results[name] = {**row, "train_model_s": whole_s}
        print(f"training: {name} measured", file=sys.stderr)
    return {"epochs": epochs, "repeats": repeats, "models": results}


def render(r: dict[str, Any]) -> list[str]:
    lines = [
        "## 5. Training throughput: the pipeline's loop against a bare fit",
        "",
        f"Each Keras model with an epoch budget of {r['epochs']}; pipeline and bare run in "
        f"alternating pairs, at least {r['repeats']} and more while a model's pairs take under "
        f"{BUDGET_S:g} s (at most {MAX_PAIRS}), best time of each side. The bare fit gets the "
        "identical compiled network, arrays, batch size and epoch count, with "
        "`validation_data`; the pipeline's loop also checkpoints after every epoch. The "
        "forest's pipeline time is the model's whole `fit` (feature transform, forest, "
        "threshold calibration), timed the same way; bare is `IsolationForest.fit` on the "
        f"transformed matrix. Goal: pipeline at least {GOAL:g}x the bare samples/s.",
        "",
        "| model | bare call | samples | epochs | batch | pairs | bare samples/s "
        "| pipeline samples/s | pipeline / bare | goal | train_model s (all steps) |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---|---:|",
    ]
    for name, m in r["models"].items():
        work = m["samples"] * m["epochs"]
        bare, pipe = work / m["bare_s"], work / m["pipeline_s"]
        ratio = pipe / bare
        lines.append(
            f"| {name} | {m['engine']} | {m['samples']:,} | {m['epochs']} "
            f"| {m['batch_size'] or '-'} | {m.get('pairs', r['repeats'])} | {bare:,.0f} "
            f"| {pipe:,.0f} | {ratio:.3f}x | {met(ratio, GOAL, at_least=True)} "
            f"| {m['train_model_s']:.1f} |"
        )
    for name, m in r["models"].items():
        if m.get("calibration_s") is None:
            continue
        rest = m["pipeline_s"] - m["bare_s"] - m["calibration_s"]
        with_scores = m["bare_s"] + m["calibration_s"]
        lines += [
            "",
            f"{name}: of the model's {m['pipeline_s']:.3f} s fit, {m['calibration_s']:.3f} s "
            f"score the {m['calibration_rows']:,} training + validation rows to place the "
            f"threshold (work of the model, not of the pipeline) and {m['bare_s']:.3f} s fit "
            f"the forest; the rest ({rest:+.3f} s) is the feature transform and bookkeeping. "
            f"Against a bare fit plus the same scoring: "
            f"{with_scores / m['pipeline_s']:.2f}x.",
        ]
    return lines


if __name__ == "__main__":
    windows, work, n_epochs = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
    print(json.dumps(measure(windows, work, n_epochs)))
