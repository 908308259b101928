"""Section 5: training samples/s of the pipeline's loop against a bare fit of the same model.

For each model, `train_model` (the function the CLI and the Kubeflow trainers call) runs once
with a small epoch budget while its inner fit call is recorded: the Keras models' compiled
network factory and exact arrays passed to `keras_trainer.fit_resumable`, the reliability
model's IsolationForest and its matrix. Then, alternating and best of `repeats` each:

- pipeline: `fit_resumable` again with the same arguments (per-epoch seeded shuffle, checkpoint
  after every epoch, validation loss, early stopping) in a fresh checkpoint folder;
- bare: a fresh network from the same factory, `keras.Model.fit(x, y, batch_size, epochs,
  validation_data, shuffle=True)` for the epochs the pipeline ran; for the forest, a plain
  `IsolationForest(**same params).fit(X)`.

samples/s = epochs x training samples / seconds. Run in a fresh process (`python -m
bench.training WINDOWS_DIR WORKDIR EPOCHS`, JSON on the last line of stdout) so TensorFlow's
thread settings are the trainers' own.
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from bench.common import met

GOAL = 0.9  # pipeline samples/s / bare samples/s, at least


def _record_calls() -> dict[str, dict[str, Any]]:
    """Wrap the two fit entry points so `train_model` leaves its exact arguments behind."""
    from sklearn.ensemble import IsolationForest

    import dwcp_training.models.keras_trainer as trainer

    calls: dict[str, dict[str, Any]] = {}
    real_fit_resumable = trainer.fit_resumable
    real_forest_fit = IsolationForest.fit

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

    trainer.fit_resumable = fit_resumable
    IsolationForest.fit = forest_fit
    return calls


def _keras_rates(call: dict[str, Any], work: Path, repeats: int) -> dict[str, Any]:
    from dwcp_training.models.keras_trainer import fit_resumable

    build, config = call["build"], call["config"]
    (x, y), validation = call["train"], call["validation"]
    pipeline_s, bare_s, epochs = [], [], config.epochs
    for i in range(repeats):
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
        "engine": "keras.Model.fit",
    }


def _forest_rates(call: dict[str, Any], repeats: int) -> dict[str, Any]:
    from sklearn.ensemble import IsolationForest

    from dwcp_training.models.reliability import ReliabilityModel  # noqa: F401 - same imports

    X = call["X"]  # noqa: N806
    bare_s = []
    for _ in range(repeats):
        start = time.perf_counter()
        IsolationForest(**call["params"]).fit(X)
        bare_s.append(time.perf_counter() - start)
    return {
        "samples": len(X),
        "epochs": 1,
        "batch_size": None,
        "bare_s": min(bare_s),
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
        report = train_model(name, windows_dir, work / "train", settings, log=lambda _m: None)
        whole_s = time.perf_counter() - started
        if "keras" in calls:
            row = _keras_rates(calls["keras"], work, repeats)
        elif "forest" in calls:
            row = _forest_rates(calls["forest"], repeats)
            row["pipeline_s"] = report["training_time_seconds"]  # model.fit: transform + forest
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
        f"Each Keras model with an epoch budget of {r['epochs']}, best of {r['repeats']} "
        "alternating runs each; the bare fit gets the identical compiled network, arrays, batch "
        "size and epoch count, with `validation_data`. The pipeline's loop also checkpoints "
        "after every epoch. The forest's pipeline time is the model's whole `fit` (feature "
        f"transform + forest); bare is `IsolationForest.fit` on the transformed matrix. Goal: "
        f"pipeline at least {GOAL:g}x the bare samples/s.",
        "",
        "| model | bare call | samples | epochs | batch | bare samples/s | pipeline samples/s "
        "| pipeline / bare | goal | train_model s (all steps) |",
        "|---|---|---:|---:|---:|---:|---:|---:|---|---:|",
    ]
    for name, m in r["models"].items():
        work = m["samples"] * m["epochs"]
        bare, pipe = work / m["bare_s"], work / m["pipeline_s"]
        ratio = pipe / bare
        lines.append(
            f"| {name} | {m['engine']} | {m['samples']:,} | {m['epochs']} "
            f"| {m['batch_size'] or '-'} | {bare:,.0f} | {pipe:,.0f} | {ratio:.2f}x "
            f"| {met(ratio, GOAL, at_least=True)} | {m['train_model_s']:.1f} |"
        )
    return lines


if __name__ == "__main__":
    windows, work, n_epochs = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
    print(json.dumps(measure(windows, work, n_epochs)))
