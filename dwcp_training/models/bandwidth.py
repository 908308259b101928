"""Model 1: bandwidth predictor (LSTM) -> next-interval throughput in Mbit/s.

Changes from the reference architecture, and why:
- The network predicts the change of log-throughput from the last observed step, and the graph
  adds it back: throughput spans three orders of magnitude across link types, MAPE is a
  relative error, and "no change" (persistence) becomes the network's zero output, so all it
  has to learn is the dynamics.
- Log scaling, standardization (train-split statistics) and one-hot encoding of link_type and
  network_tier are layers inside the graph, so the exported model takes raw features.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from dwcp_training import metrics
from dwcp_training.features import ModelInputs
from dwcp_training.models.base import FitSummary, Target
from dwcp_training.models.keras_model import KerasDwcpModel

INPUTS = ModelInputs(
    name="bandwidth",
    features=(
        "rtt_ms",
        "jitter_ms",
        "throughput_mbps",
        "packet_loss",
        "link_type",
        "network_tier",
        "congestion_window",
    ),
    target="throughput_mbps",
    kind="next_step",
)
THROUGHPUT = INPUTS.features.index("throughput_mbps")
LOG_FEATURES = ("rtt_ms", "jitter_ms", "throughput_mbps", "congestion_window")
CATEGORICAL = {"link_type": 4, "network_tier": 3}


class BandwidthModel(KerasDwcpModel):
    inputs = INPUTS
    title = "Bandwidth predictor (LSTM)"
    architecture = "FeatureEncoder -> LSTM(64, seq) -> LSTM(32) -> Dense(16, relu) -> Dense(1)"
    outputs = ("throughput_mbps",)
    output_meaning = {"throughput_mbps": "predicted throughput of the next interval, Mbit/s"}
    go_interface = "PredictBandwidth(ctx, features []float64) (float64, error)"

    defaults = {
        "lstm_units": (64, 32),
        "dense_units": 16,
        "learning_rate": 1e-3,
        "batch_size": 256,
        "epochs": 20,
        "patience": 4,
    }

    def targets(self) -> list[Target]:
        return [
            Target("pearson_r", ">=", self.settings.target_accuracy),
            Target("mape", "<", 0.05),
        ]

    # --- graph ---------------------------------------------------------------------------------

    def _build(self, x_train: np.ndarray):
        import keras
        from keras import layers

        from dwcp_training.models.keras_layers import FeatureEncoder, fit_encoder_stats

        names = self.inputs.features
        log_mask = [n in LOG_FEATURES for n in names]
        categorical = {names.index(n): k for n, k in CATEGORICAL.items()}
        mean, std = fit_encoder_stats(x_train, log_mask, list(categorical))
        raw = keras.Input((self.seq_len, len(names)), name="features")
        z = FeatureEncoder(log_mask, mean, std, categorical, name="encode")(raw)
        u1, u2 = self.hp["lstm_units"]
        h = layers.LSTM(u1, return_sequences=True, name="lstm_1")(z)
        h = layers.LSTM(u2, name="lstm_2")(h)
        h = layers.Dense(self.hp["dense_units"], activation="relu", name="dense")(h)
        delta = layers.Dense(1, name="log_delta")(h)
        core = keras.Model(raw, delta, name="bandwidth_core")
        core.compile(optimizer=keras.optimizers.Adam(self.hp["learning_rate"]), loss="mse")
        return core

    def _wrap(self, core):
        """raw window -> throughput: the network's log-delta added to the last observed value."""
        import keras

        from dwcp_training.models.keras_layers import LastStepExp

        raw = keras.Input((self.seq_len, len(self.inputs.features)), name="features")
        throughput = LastStepExp(THROUGHPUT, name="throughput_mbps")([raw, core(raw)])
        return keras.Model(raw, throughput, name="bandwidth_predictor")

    @staticmethod
    def _log_delta(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        last = x[:, -1, THROUGHPUT].astype(np.float64)
        return (np.log1p(y.astype(np.float64)) - np.log1p(last)).astype(np.float32)[:, None]

    # --- interface -----------------------------------------------------------------------------

    def fit(self, data, checkpoint_dir: Path, log: Callable[[str], None]) -> FitSummary:
        train, val = data["train"], data["validation"]
        x_train, x_val = np.asarray(train.X), np.asarray(val.X)
        core, summary = self.fit_network(
            build=lambda: self._build(x_train),
            train=(x_train, self._log_delta(x_train, train.y)),
            validation=(x_val, self._log_delta(x_val, val.y)),
            checkpoint_dir=checkpoint_dir,
            log=log,
        )
        self.model = self._wrap(core)
        return summary

    def predict(self, x: np.ndarray) -> dict[str, np.ndarray]:
        (throughput,) = self.run_graph(x)
        return {"throughput_mbps": np.asarray(throughput, np.float32).reshape(-1)}

    def score(self, outputs, arrays) -> dict[str, float]:
        return bandwidth_metrics(arrays.y, outputs["throughput_mbps"])

    def baselines(self, data) -> dict[str, dict[str, float]]:
        from dwcp_training import baselines

        test = data["test"]
        x = np.asarray(test.X)
        return {
            "persistence": bandwidth_metrics(test.y, baselines.persistence(x)),
            "harmonic_mean_last_5": bandwidth_metrics(test.y, baselines.harmonic_mean_last(x, 5)),
        }


def bandwidth_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    y_true = np.asarray(y_true, np.float64)
    y_pred = np.asarray(y_pred, np.float64)
    return {
        "pearson_r": float(metrics.pearson(y_true, y_pred)),
        "mape": float(metrics.mape(y_true, y_pred)),
        "mae": float(metrics.mae(y_true, y_pred)),
        "rmse": float(metrics.rmse(y_true, y_pred)),
    }
