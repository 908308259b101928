"""The four trainer components: one per model, the same interface, the same thin body.

KFP serializes each component's function source on its own (nothing at module level travels
with it), so the four bodies cannot share a helper here: each calls
`dwcp_training.train.train_model` directly, and the four are kept identical
except for the model's name (tests/test_components.py checks it).

Checkpoints: with `checkpoint_root` set (gs://bucket/checkpoints on a cluster), every epoch is
mirrored to `<checkpoint_root>/<data sha256[:16]>/<model>/checkpoints`, and a retried pod (a
preempted GPU node) resumes from the last committed epoch instead of starting over.

Metrics are also written as a file at the artifact's path: kfp.local keeps Metrics as metadata
only, and its cache treats an artifact without a file as missing (a permanent cache miss).
"""

from kfp.dsl import Dataset, Input, Markdown, Metrics, Model, Output


def train_bandwidth(
    windows: Input[Dataset],
    model: Output[Model],
    metrics: Output[Metrics],
    report: Output[Markdown],
    epochs: int = 0,
    seed: int = 42,
    threads: int = 2,
    target_accuracy: float = 0.98,
    checkpoint_root: str = "",
):
    """Train the bandwidth predictor (LSTM): next throughput_mbps from 10 steps x 7 features.

    Writes bandwidth/ (bandwidth.onnx, the native artifact, contract.json, report.json and
    report.md) into the model artifact; the ONNX graph takes raw features (the Go contract).

    Args:
        windows: Output of the window component.
        epochs: Maximum epochs for neural models; 0 keeps the model's own default.
        seed: Random seed; the same seed and threads give identical weights.
        threads: TensorFlow intra-op threads (part of the reproducibility contract).
        target_accuracy: The 98%-class target used in the training report.
        checkpoint_root: Object-storage folder for per-epoch checkpoints (gs://...); empty
            keeps checkpoints inside the pod only.
        model: Folder with the exported model, its contract and reports.
        metrics: Test-split metrics of the training report.
        report: The training report (Markdown).
    """
    import json
    import math
    from pathlib import Path

    from dwcp_training.models import TrainSettings
    from dwcp_training.train import train_model

    meta = json.loads(Path(windows.path, "metadata.json").read_text())
    root = checkpoint_root.rstrip("/")
    settings = TrainSettings(
        seed=seed,
        epochs=epochs or None,
        target_accuracy=target_accuracy,
        threads=threads,
        checkpoint_uri=f"{root}/{meta['source_sha256'][:16]}" if root else None,
    )
    result = train_model("bandwidth", Path(windows.path), Path(model.path), settings)
    for key, value in result["achieved_metrics"].items():
        if isinstance(value, int | float) and math.isfinite(value):
            metrics.log_metric(key, float(value))
    Path(metrics.path).write_text(json.dumps(metrics.metadata))  # a file, not only metadata
    model.metadata.update(version=result["version"], targets_met=result["success"])
    Path(report.path).write_text(Path(model.path, "bandwidth", "report.md").read_text())


def train_compression(
    windows: Input[Dataset],
    model: Output[Model],
    metrics: Output[Metrics],
    report: Output[Markdown],
    epochs: int = 0,
    seed: int = 42,
    threads: int = 2,
    target_accuracy: float = 0.98,
    checkpoint_root: str = "",
):
    """Train the compression selector (policy MLP): a compression level 0..9 from 6 features.

    Writes compression/ (compression.onnx, the native artifact, contract.json, report.json and
    report.md) into the model artifact; the ONNX graph takes raw features (the Go contract).

    Args:
        windows: Output of the window component.
        epochs: Maximum epochs for neural models; 0 keeps the model's own default.
        seed: Random seed; the same seed and threads give identical weights.
        threads: TensorFlow intra-op threads (part of the reproducibility contract).
        target_accuracy: The 98%-class target used in the training report.
        checkpoint_root: Object-storage folder for per-epoch checkpoints (gs://...); empty
            keeps checkpoints inside the pod only.
        model: Folder with the exported model, its contract and reports.
        metrics: Test-split metrics of the training report.
        report: The training report (Markdown).
    """
    import json
    import math
    from pathlib import Path

    from dwcp_training.models import TrainSettings
    from dwcp_training.train import train_model

    meta = json.loads(Path(windows.path, "metadata.json").read_text())
    root = checkpoint_root.rstrip("/")
    settings = TrainSettings(
        seed=seed,
        epochs=epochs or None,
        target_accuracy=target_accuracy,
        threads=threads,
        checkpoint_uri=f"{root}/{meta['source_sha256'][:16]}" if root else None,
    )
    result = train_model("compression", Path(windows.path), Path(model.path), settings)
    for key, value in result["achieved_metrics"].items():
        if isinstance(value, int | float) and math.isfinite(value):
            metrics.log_metric(key, float(value))
    Path(metrics.path).write_text(json.dumps(metrics.metadata))  # a file, not only metadata
    model.metadata.update(version=result["version"], targets_met=result["success"])
    Path(report.path).write_text(Path(model.path, "compression", "report.md").read_text())


def train_reliability(
    windows: Input[Dataset],
    model: Output[Model],
    metrics: Output[Metrics],
    report: Output[Markdown],
    epochs: int = 0,
    seed: int = 42,
    threads: int = 2,
    target_accuracy: float = 0.98,
    checkpoint_root: str = "",
):
    """Train the node-reliability detector (Isolation Forest): anomaly score and is_anomaly.

    Writes reliability/ (reliability.onnx, the native artifact, contract.json, report.json and
    report.md) into the model artifact; the ONNX graph takes raw features (the Go contract).

    Args:
        windows: Output of the window component.
        epochs: Maximum epochs for neural models; 0 keeps the model's own default.
        seed: Random seed; the same seed and threads give identical weights.
        threads: TensorFlow intra-op threads (part of the reproducibility contract).
        target_accuracy: The 98%-class target used in the training report.
        checkpoint_root: Object-storage folder for per-epoch checkpoints (gs://...); empty
            keeps checkpoints inside the pod only.
        model: Folder with the exported model, its contract and reports.
        metrics: Test-split metrics of the training report.
        report: The training report (Markdown).
    """
    import json
    import math
    from pathlib import Path

    from dwcp_training.models import TrainSettings
    from dwcp_training.train import train_model

    meta = json.loads(Path(windows.path, "metadata.json").read_text())
    root = checkpoint_root.rstrip("/")
    settings = TrainSettings(
        seed=seed,
        epochs=epochs or None,
        target_accuracy=target_accuracy,
        threads=threads,
        checkpoint_uri=f"{root}/{meta['source_sha256'][:16]}" if root else None,
    )
    result = train_model("reliability", Path(windows.path), Path(model.path), settings)
    for key, value in result["achieved_metrics"].items():
        if isinstance(value, int | float) and math.isfinite(value):
            metrics.log_metric(key, float(value))
    Path(metrics.path).write_text(json.dumps(metrics.metadata))  # a file, not only metadata
    model.metadata.update(version=result["version"], targets_met=result["success"])
    Path(report.path).write_text(Path(model.path, "reliability", "report.md").read_text())


def train_latency(
    windows: Input[Dataset],
    model: Output[Model],
    metrics: Output[Metrics],
    report: Output[Markdown],
    epochs: int = 0,
    seed: int = 42,
    threads: int = 2,
    target_accuracy: float = 0.98,
    checkpoint_root: str = "",
):
    """Train the consensus-latency detector (LSTM autoencoder): is_high_latency from 20 steps.

    Writes latency/ (latency.onnx, the native artifact, contract.json, report.json and
    report.md) into the model artifact; the ONNX graph takes raw features (the Go contract).

    Args:
        windows: Output of the window component.
        epochs: Maximum epochs for neural models; 0 keeps the model's own default.
        seed: Random seed; the same seed and threads give identical weights.
        threads: TensorFlow intra-op threads (part of the reproducibility contract).
        target_accuracy: The 98%-class target used in the training report.
        checkpoint_root: Object-storage folder for per-epoch checkpoints (gs://...); empty
            keeps checkpoints inside the pod only.
        model: Folder with the exported model, its contract and reports.
        metrics: Test-split metrics of the training report.
        report: The training report (Markdown).
    """
    import json
    import math
    from pathlib import Path

    from dwcp_training.models import TrainSettings
    from dwcp_training.train import train_model

    meta = json.loads(Path(windows.path, "metadata.json").read_text())
    root = checkpoint_root.rstrip("/")
    settings = TrainSettings(
        seed=seed,
        epochs=epochs or None,
        target_accuracy=target_accuracy,
        threads=threads,
        checkpoint_uri=f"{root}/{meta['source_sha256'][:16]}" if root else None,
    )
    result = train_model("latency", Path(windows.path), Path(model.path), settings)
    for key, value in result["achieved_metrics"].items():
        if isinstance(value, int | float) and math.isfinite(value):
            metrics.log_metric(key, float(value))
    Path(metrics.path).write_text(json.dumps(metrics.metadata))  # a file, not only metadata
    model.metadata.update(version=result["version"], targets_met=result["success"])
    Path(report.path).write_text(Path(model.path, "latency", "report.md").read_text())
