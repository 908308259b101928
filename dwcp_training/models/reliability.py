"""Model 3: node-reliability detector (Isolation Forest) -> anomaly score in [0, 1], is_anomaly.

The forest is fitted WITHOUT labels (reference design: n_estimators=100, contamination="auto",
random_state=seed) on standardized features; heavy-tailed counts and rates (retransmits, RTT,
burn rate, failure rate, loss) are log1p-scaled first, so one WAN link's ordinary RTT does not
look like an incident next to a datacenter link. Labels are used for exactly one thing: the
decision threshold, the highest score threshold that keeps recall on the VALIDATION split at
`calibration_recall` (a margin above the 98% target, since the test split is unseen).

The score is sklearn's original-paper score 2^(-E[h(x)]/c(psi)) (= -score_samples), which is
in [0, 1] as the Go interface wants. Export: `dwcp_training.onnx_iforest` (exact and fast);
native artifact: a JSON forest (`dwcp_training.forest_json`), never a pickle.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from dwcp_training import forest_json, metrics
from dwcp_training.calibration import recall_threshold
from dwcp_training.features import ModelInputs
from dwcp_training.models.base import DwcpModel, FitSummary, Target

INPUTS = ModelInputs(
    name="reliability",
    features=(
        "uptime_pct",
        "failure_rate",
        "packet_loss",
        "retransmits",
        "error_budget_burn_rate",
        "rtt_ms",
    ),
    target="is_anomaly",
    kind="row",
)
LOG_FEATURES = (
    "failure_rate",
    "packet_loss",
    "retransmits",
    "error_budget_burn_rate",
    "rtt_ms",
)


class ReliabilityModel(DwcpModel):
    inputs = INPUTS
    title = "Node reliability detector (Isolation Forest)"
    architecture = "log1p + standardize -> IsolationForest (unsupervised); threshold from labels"
    outputs = ("is_anomaly", "anomaly_score")
    output_meaning = {
        "is_anomaly": "true when anomaly_score >= threshold",
        "anomaly_score": "isolation score 2^(-E[h(x)]/c(psi)) in [0, 1]; higher = more anomalous",
    }
    native_suffix = ".forest.json"
    go_interface = "DetectAnomaly(ctx, features []float64) (bool, float64, error)"

    defaults = {
        "n_estimators": 100,
        "max_samples": 1024,
        "contamination": "auto",
        "max_train_rows": 200_000,
        "calibration_recall": 0.995,
    }

    def __init__(self, settings, window_meta) -> None:
        super().__init__(settings, window_meta)
        self.hp = dict(self.defaults)
        self.forest = None
        self.transform = None
        self.threshold_value: float | None = None
        self.calibration: dict[str, Any] = {}

    def hyperparameters(self) -> dict[str, Any]:
        return {**self.hp, "seed": self.settings.seed, "log1p_features": list(LOG_FEATURES)}

    def targets(self) -> list[Target]:
        return [
            Target("recall", ">=", self.settings.target_accuracy),
            Target("pr_auc", ">=", 0.90),
        ]

    def threshold(self) -> dict[str, Any] | None:
        if self.threshold_value is None:
            return None
        return {"anomaly_score": self.threshold_value, "rule": "score >= threshold"}

    def fit(self, data, checkpoint_dir: Path, log: Callable[[str], None]) -> FitSummary:
        """Fit the forest (seconds: no epochs, so no checkpoints), then calibrate."""
        from sklearn.ensemble import IsolationForest

        from dwcp_training.onnx_iforest import FeatureTransform

        del checkpoint_dir  # nothing to resume: the fit takes seconds
        train, val = data["train"], data["validation"]
        x_train = np.asarray(train.X, np.float64)
        if len(x_train) > self.hp["max_train_rows"]:
            rng = np.random.default_rng([self.settings.seed, 3])
            x_train = x_train[np.sort(rng.choice(len(x_train), self.hp["max_train_rows"], False))]
        log_mask = tuple(n in LOG_FEATURES for n in self.inputs.features)
        self.transform = FeatureTransform.fit(x_train, log_mask)
        self.forest = IsolationForest(
            n_estimators=self.hp["n_estimators"],
            max_samples=self.hp["max_samples"],
            contamination=self.hp["contamination"],
            random_state=self.settings.seed,
        ).fit(self.transform.apply(x_train).astype(np.float32))
        scores = self._scores(np.concatenate([np.asarray(train.X), np.asarray(val.X)]))
        labels = np.concatenate([train.y, val.y])
        wanted = self.hp["calibration_recall"]
        self.threshold_value = recall_threshold(scores, labels, wanted)
        flagged = scores >= self.threshold_value
        self.calibration = {
            "method": f"highest threshold with train+validation recall >= {wanted}",
            "threshold": self.threshold_value,
            "calibration_recall": float(metrics.recall(labels, flagged)),
            "calibration_precision": float(metrics.precision(labels, flagged)),
        }
        log(
            f"threshold {self.threshold_value:.6f} (train+validation recall "
            f"{self.calibration['calibration_recall']:.4f})"
        )
        return FitSummary(hyperparameters=self.hyperparameters(), calibration=self.calibration)

    def _scores(self, x: np.ndarray) -> np.ndarray:
        from dwcp_training.onnx_iforest import anomaly_score

        return anomaly_score(self.forest, self.transform.apply(np.asarray(x, np.float64)))

    def predict(self, x: np.ndarray) -> dict[str, np.ndarray]:
        scores = self._scores(x)
        return {
            "is_anomaly": scores >= self.threshold_value,
            "anomaly_score": scores.astype(np.float32),
        }

    def score(self, outputs, arrays) -> dict[str, float]:
        return anomaly_metrics(arrays.y, outputs["anomaly_score"], outputs["is_anomaly"])

    def baselines(self, data) -> dict[str, dict[str, float]]:
        from dwcp_training import baselines

        val, test = data["validation"], data["test"]
        best = baselines.best_single_feature_threshold(
            np.asarray(val.X), val.y, np.asarray(test.X), test.y, list(self.inputs.features)
        )
        return {
            "best_single_feature_threshold": {
                "recall": float(best["recall"]),
                "precision": float(best["precision"]),
                "pr_auc": float(best["pr_auc"]),
                "feature": best["feature"],
            }
        }

    def save_native(self, directory: Path) -> Path:
        transform = {
            "log1p": list(self.transform.log1p),
            "mean": list(self.transform.mean),
            "std": list(self.transform.std),
        }
        path = directory / f"{self.name}{self.native_suffix}"
        return forest_json.save(path, self.forest, transform, self.threshold_value)

    def export_onnx(self, path: Path) -> Path:
        import onnx

        from dwcp_training.atomic import atomic_path
        from dwcp_training.onnx_iforest import iforest_onnx

        proto = iforest_onnx(
            self.forest, self.transform, self.threshold_value, input_name=self.onnx_input_name
        )
        with atomic_path(path) as tmp:
            onnx.save(proto, tmp)
        return path


def anomaly_metrics(y_true, scores, flagged) -> dict[str, float]:
    y_true = np.asarray(y_true).astype(bool)
    flagged = np.asarray(flagged).astype(bool)
    return {
        "recall": float(metrics.recall(y_true, flagged)),
        "precision": float(metrics.precision(y_true, flagged)),
        "f1": float(metrics.f1(y_true, flagged)),
        "pr_auc": float(metrics.average_precision(y_true, scores)),
        "roc_auc": float(metrics.roc_auc(y_true, scores)),
    }
