"""The one interface the four models implement.

A model knows its inputs (the Go contract), how to fit itself on windowed arrays, how to answer
from raw features exactly as its ONNX export answers (`predict` and the ONNX graph return the
same named outputs), how to score those outputs against its targets, which naive baselines it
must beat, and how to write its native and ONNX artifacts. The train step, the evaluation and
the Kubeflow components only talk to this interface, so adding a model is one new module and
one line in the registry (`dwcp_training.models.REGISTRY`).

Model modules import TensorFlow / scikit-learn inside methods only: importing the registry
(which the window step does, for the feature lists) stays cheap.
"""

from __future__ import annotations

import hashlib
import json
import operator
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from dwcp_training.features import ModelInputs
from dwcp_training.schema import Schema, load_schema

_OPS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge,
    ">": operator.gt,
    "<=": operator.le,
    "<": operator.lt,
}


@dataclass(frozen=True)
class Target:
    """One acceptance criterion, e.g. `mape < 0.05`."""

    metric: str
    op: str
    value: float

    def met(self, achieved: float | None) -> bool:
        if achieved is None or not np.isfinite(achieved):
            return False
        return _OPS[self.op](achieved, self.value)

    def __str__(self) -> str:
        return f"{self.metric} {self.op} {self.value:g}"


@dataclass
class TrainSettings:
    """What the `train` command passes to every model."""

    seed: int = 42
    epochs: int | None = None  # None: the model's own default
    target_accuracy: float = 0.98
    threads: int = 2
    verbose: int = 1  # 0: no per-epoch lines
    batch_size: int | None = None  # None: the model's own default
    #: Base URI mirroring the checkpoints in object storage (e.g. gs://bucket/run); each model
    #: uses `<uri>/<model>/checkpoints`. None: local checkpoints only.
    checkpoint_uri: str | None = None


@dataclass
class FitSummary:
    """What `fit` reports back (becomes part of the model report)."""

    hyperparameters: dict[str, Any]
    epochs_run: int | None = None
    best_epoch: int | None = None
    resumed_from_epoch: int | None = None
    history: dict[str, list[float]] = field(default_factory=dict)
    calibration: dict[str, Any] = field(default_factory=dict)


class DwcpModel(ABC):
    """Base class of the four DWCP models."""

    inputs: ClassVar[ModelInputs]
    title: ClassVar[str]
    architecture: ClassVar[str]
    #: Output names of `predict` and of the ONNX graph, in graph order; the first is what the Go
    #: interface returns first.
    outputs: ClassVar[tuple[str, ...]]
    output_meaning: ClassVar[dict[str, str]]
    #: Outputs the ONNX parity check holds to a relative tolerance (float) or equality (ints,
    #: bools): what the Go interface returns. Auxiliary outputs are only reported.
    parity_outputs: ClassVar[tuple[str, ...] | None] = None
    native_suffix: ClassVar[str]
    #: The Go method that calls this model (quoted from MODEL_SPECS.md; zero API changes).
    go_interface: ClassVar[str]
    onnx_input_name: ClassVar[str] = "features"

    def __init__(self, settings: TrainSettings, window_meta: dict[str, Any]) -> None:
        self.settings = settings
        self.window_meta = window_meta
        self.schema: Schema = load_schema()
        info = window_meta["models"][self.name]
        self.seq_len: int | None = info.get("seq_len")

    @property
    def name(self) -> str:
        return self.inputs.name

    @property
    def checked_outputs(self) -> tuple[str, ...]:
        return self.parity_outputs or self.outputs

    @property
    def sample_shape(self) -> tuple[int, ...]:
        return self.inputs.input_shape(self.seq_len)

    # --- what each model defines -------------------------------------------------------------

    @abstractmethod
    def targets(self) -> list[Target]:
        """The acceptance criteria, with `settings.target_accuracy` where the spec says 98%."""

    @abstractmethod
    def fit(
        self, data: dict[str, Any], checkpoint_dir: Path, log: Callable[[str], None]
    ) -> FitSummary:
        """Fit on `data["train"]`, tune/stop on `data["validation"]` (ModelArrays per split)."""

    @abstractmethod
    def predict(self, x: np.ndarray) -> dict[str, np.ndarray]:
        """Named outputs for raw features `x`, exactly as the ONNX export computes them."""

    @abstractmethod
    def score(self, outputs: dict[str, np.ndarray], arrays: Any) -> dict[str, float]:
        """Metrics of `outputs` (from `predict` or ONNX) against the split's labels."""

    @abstractmethod
    def baselines(self, data: dict[str, Any]) -> dict[str, dict[str, float]]:
        """Metrics of the naive baselines on the test split, by baseline name."""

    @abstractmethod
    def save_native(self, directory: Path) -> Path:
        """Write the native artifact (`.keras`, or a safe non-pickle format) and return it."""

    @abstractmethod
    def export_onnx(self, path: Path) -> Path:
        """Write the ONNX model: one float32 raw input, the contract's named outputs."""

    @abstractmethod
    def hyperparameters(self) -> dict[str, Any]:
        """Everything that shapes the model, for the report and the checkpoint fingerprint."""

    def threshold(self) -> dict[str, Any] | None:
        """Decision threshold inside the exported model, if any (for the contract)."""
        return None

    # --- shared ------------------------------------------------------------------------------

    def fingerprint(self) -> str:
        """Identity of a training run: data, split, settings and hyperparameters.

        A checkpoint is resumed only when its fingerprint matches, so a changed flag or a new
        data file starts a fresh run instead of silently continuing an unrelated one.
        """
        payload = {
            "model": self.name,
            "data": self.window_meta.get("source_sha256"),
            "split": self.window_meta.get("split_fractions"),
            "samples": self.window_meta["models"][self.name].get("samples"),
            "hyperparameters": self.hyperparameters(),
            "threads": self.settings.threads,
        }
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()

    def contract(self, data_fingerprint: str) -> dict[str, Any]:
        """What the Go side needs to call the exported model correctly."""
        features = []
        for name in self.inputs.features:
            spec = self.schema.column(name)
            entry: dict[str, Any] = {"name": name, "unit": spec.unit, "type": spec.type}
            if spec.values:
                entry["encoding"] = {v: i for i, v in enumerate(spec.values)}
            features.append(entry)
        return {
            "model": self.name,
            "title": self.title,
            "go_interface": self.go_interface,
            "input": {
                "name": self.onnx_input_name,
                "dtype": "float32",
                "shape": ["batch", *self.sample_shape],
                "layout": "time-major steps, oldest first" if self.inputs.is_sequence else "row",
                "features": features,
                "raw_units": True,
            },
            "outputs": [{"name": n, "meaning": self.output_meaning[n]} for n in self.outputs],
            "threshold": self.threshold(),
            "targets": [str(t) for t in self.targets()],
            "training_data_sha256": data_fingerprint,
            "schema_version": self.schema.version,
        }
