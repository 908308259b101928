"""Model 4: consensus-latency detector (LSTM autoencoder) -> is_high_latency.

Inside the graph: log1p of the 20 latency samples, minus the window's own mean, divided by a
train-split scale. Consensus groups differ by an order of magnitude in normal latency (a WAN
group's normal is above a DC group's episode), so the absolute level says little; the SHAPE of
the window (a jump, a spiky plateau) is what separates episodes, and centering keeps the
autoencoder on shape. The autoencoder is trained on normal windows only; its reconstruction
error is the score.

Architecture: one LSTM(32) encoder -> RepeatVector(20) -> one LSTM(32) decoder -> Dense(1) per
step, instead of the reference 64-32 / 32-64 stack. The Go side calls the detector one window at
a time, and on one onnxruntime thread a request's time is per-op overhead plus the recurrent ops,
whose cost grows with their count and width. Measured on the default data (2-core AMD EPYC,
shared and noisy; one ORT thread; 2000 single-row calls after 50 warm-up calls, the three models
alternating in one process; median of 7 repeats, range over 3 such runs):

| graph | ONNX ops | test acc. | p50 ms | p99 ms |
| --- | --- | --- | --- | --- |
| reference 64-32-32-64, TimeDistributed(Dense) | 167 | 0.9997 | 0.132 | 0.189-0.201 |
| same, Dense + `onnx_export.simplify_graph` | 43 | 0.9997 | 0.091 | 0.137-0.155 |
| LSTM(32) -> LSTM(32), Dense + simplify (this) | 39 | 0.9997 | 0.041-0.042 | 0.072-0.087 |

The single-layer net detects as well as the reference (test accuracy on the default data with
seeds 1 and 7: 0.9997 and 0.9998, reference 0.9997 with seed 1; on data generated with
--seed 7: 0.9966, reference 0.9967), trains in half the time, and leaves p99 well under the
0.2 ms goal, which the reference, even simplified, sits close to on a noisy machine. LSTM(16)
was as accurate and only slightly faster; a GRU is exported by tf2onnx as a Loop, not a GRU op,
and was far slower (GRU(16): p50 0.45 ms).

Threshold: the reference design takes the 98th percentile of validation reconstruction error.
With ~15-25% positive windows that percentile flags too few windows to ever reach 98% accuracy,
so the threshold is instead the one with the best accuracy on the labelled validation split
(`calibration.best_accuracy_threshold`); the percentile is still reported for comparison.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from dwcp_training import metrics
from dwcp_training.calibration import best_accuracy_threshold
from dwcp_training.features import ModelInputs
from dwcp_training.models.base import FitSummary, Target
from dwcp_training.models.keras_model import KerasDwcpModel

INPUTS = ModelInputs(
    name="latency",
    features=("consensus_latency_ms",),
    target="is_high_latency",
    kind="window_any",
)


class LatencyModel(KerasDwcpModel):
    inputs = INPUTS
    onnx_input_name = "sequence"
    title = "Consensus latency detector (LSTM autoencoder)"
    architecture = (
        "log1p, centre, scale -> LSTM(32) -> RepeatVector(20) -> LSTM(32, seq) "
        "-> Dense(1) per step; score = mean squared reconstruction error"
    )
    outputs = ("is_high_latency", "reconstruction_error")
    output_meaning = {
        "is_high_latency": "true when the window's reconstruction error >= threshold",
        "reconstruction_error": "mean squared reconstruction error of the centred log window",
    }
    go_interface = "DetectHighLatency(ctx, sequence []float64) (bool, error)"

    defaults = {
        # Encoder LSTM widths; the decoder mirrors them. (64, 32) is the reference design.
        "units": (32,),
        "learning_rate": 1e-3,
        "batch_size": 256,
        "epochs": 20,
        "patience": 3,
        "max_train_windows": 4000,
        "max_validation_windows": 2000,
    }

    def __init__(self, settings, window_meta) -> None:
        super().__init__(settings, window_meta)
        self.threshold_value: float | None = None
        self.calibration: dict[str, Any] = {}

    def targets(self) -> list[Target]:
        return [Target("accuracy", ">=", self.settings.target_accuracy)]

    def threshold(self) -> dict[str, Any] | None:
        if self.threshold_value is None:
            return None
        return {"reconstruction_error": self.threshold_value, "rule": "error >= threshold"}

    def _normal_subset(self, arrays, limit: int, salt: int) -> np.ndarray:
        """Up to `limit` normal windows, chosen by the seed (deterministic)."""
        normal = np.flatnonzero(np.asarray(arrays.y) == 0)
        if len(normal) > limit:
            rng = np.random.default_rng([self.settings.seed, salt])
            normal = np.sort(rng.choice(normal, size=limit, replace=False))
        return np.asarray(arrays.X)[normal]

    def _build(self, x_train: np.ndarray):
        import keras
        from keras import layers

        from dwcp_training.models.keras_layers import WindowCentre

        centred = np.log1p(x_train) - np.log1p(x_train).mean(axis=1, keepdims=True)
        scale = float(centred.std()) or 1.0
        raw = keras.Input((self.seq_len,), name="sequence")
        z = WindowCentre(scale, name="centre")(raw)
        units = list(self.hp["units"])
        h = z
        for i, n in enumerate(units, 1):
            h = layers.LSTM(n, return_sequences=i < len(units), name=f"enc_{i}")(h)
        h = layers.RepeatVector(self.seq_len, name="repeat")(h)
        for i, n in enumerate(reversed(units), 1):
            h = layers.LSTM(n, return_sequences=True, name=f"dec_{i}")(h)
        # Dense on a (batch, t, units) tensor acts per step, as TimeDistributed(Dense) does,
        # but exports as one MatMul instead of 20 Slice/Squeeze/MatMul/Add/Unsqueeze groups.
        recon = layers.Dense(1, name="recon")(h)
        residual = layers.Subtract(name="residual")([recon, z])
        model = keras.Model(raw, residual, name="latency_autoencoder")
        model.compile(optimizer=keras.optimizers.Adam(self.hp["learning_rate"]), loss="mse")
        return model

    def _wrap(self, autoencoder, threshold: float):
        import keras

        from dwcp_training.models.keras_layers import AtLeast, MeanSquare

        raw = keras.Input((self.seq_len,), name="sequence")
        error = MeanSquare(name="reconstruction_error")(autoencoder(raw))
        flag = AtLeast(threshold, name="is_high_latency")(error)
        return keras.Model(raw, [flag, error], name="latency_detector")

    def fit(self, data, checkpoint_dir: Path, log: Callable[[str], None]) -> FitSummary:
        train, val = data["train"], data["validation"]
        x_train = self._normal_subset(train, self.hp["max_train_windows"], 1)
        x_val = self._normal_subset(val, self.hp["max_validation_windows"], 2)
        zeros = lambda x: np.zeros((len(x), self.seq_len, 1), np.float32)  # noqa: E731
        autoencoder, summary = self.fit_network(
            build=lambda: self._build(x_train),
            train=(x_train, zeros(x_train)),
            validation=(x_val, zeros(x_val)),
            checkpoint_dir=checkpoint_dir,
            log=log,
        )
        # Calibrate on ALL validation windows, with their labels.
        self.model = self._wrap(autoencoder, np.inf)
        scores = self.predict(val.X)["reconstruction_error"]
        self.threshold_value = best_accuracy_threshold(scores, val.y)
        self.calibration = {
            "method": "best accuracy on the labelled validation split",
            "threshold": self.threshold_value,
            "p98_of_validation_error": float(np.percentile(scores, 98)),
            "validation_accuracy": float(metrics.accuracy(val.y, scores >= self.threshold_value)),
        }
        self.model = self._wrap(autoencoder, self.threshold_value)
        summary.calibration = self.calibration
        return summary

    def predict(self, x: np.ndarray) -> dict[str, np.ndarray]:
        flag, error = self.run_graph(x)
        return {
            "is_high_latency": np.asarray(flag).astype(bool).reshape(-1),
            "reconstruction_error": np.asarray(error, np.float32).reshape(-1),
        }

    def score(self, outputs, arrays) -> dict[str, float]:
        return detection_metrics(arrays.y, outputs["is_high_latency"])

    def baselines(self, data) -> dict[str, dict[str, float]]:
        from dwcp_training import baselines

        val, test = data["validation"], data["test"]
        _, predicted = baselines.static_threshold(np.asarray(val.X), val.y, np.asarray(test.X))
        return {"static_threshold": detection_metrics(test.y, predicted)}

    def load_native(self, path: Path) -> None:
        super().load_native(path)
        self.threshold_value = float(self.model.get_layer("is_high_latency").threshold)


def detection_metrics(y_true: np.ndarray, flagged: np.ndarray) -> dict[str, float]:
    y_true = np.asarray(y_true).astype(bool)
    flagged = np.asarray(flagged).astype(bool)
    return {
        "accuracy": float(metrics.accuracy(y_true, flagged)),
        "precision": float(metrics.precision(y_true, flagged)),
        "recall": float(metrics.recall(y_true, flagged)),
        "f1": float(metrics.f1(y_true, flagged)),
    }
