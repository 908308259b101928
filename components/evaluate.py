"""The `evaluate` component: held-out metrics, baselines, blessing, reports."""

from kfp.dsl import (
    HTML,
    Artifact,
    ClassificationMetrics,
    Dataset,
    Input,
    Markdown,
    Metrics,
    Model,
    Output,
)


def evaluate(
    windows: Input[Dataset],
    test_data: Input[Dataset],
    evaluation: Output[Artifact],
    report_html: Output[HTML],
    report_md: Output[Markdown],
    metrics: Output[Metrics],
    compression_confusion: Output[ClassificationMetrics],
    bandwidth: Input[Model] | None = None,
    compression: Input[Model] | None = None,
    reliability: Input[Model] | None = None,
    latency: Input[Model] | None = None,
    incidents: Input[Dataset] | None = None,
    baseline: Input[Artifact] | None = None,
    test_data_sha256: str = "",
    target_accuracy: float = 0.98,
    max_mape: float = 0.05,
    min_pr_auc: float = 0.90,
    regression_tolerance: float = 0.01,
) -> bool:
    """Score the exported ONNX models on a held-out file and bless the ones that pass.

    Runs dwcp_training.evaluate: the ONNX files through onnxruntime (the bytes the Go side will
    load), naive baselines, slices per link and event type, feature drift, and per model a
    blessing.json that the push step trusts (it names the evaluated file's SHA-256).

    Args:
        windows: The training run's windows (encodings and validation splits).
        test_data: Held-out telemetry (a later time range than the training file).
        bandwidth: Trained bandwidth model; leave out to skip it.
        compression: Trained compression model; leave out to skip it.
        reliability: Trained reliability model; leave out to skip it.
        latency: Trained latency model; leave out to skip it.
        incidents: Ground-truth incident and episode labels (labeled_incidents.json).
        baseline: Evaluation output of the deployed models; blessing then also requires no
            regression beyond the tolerance.
        test_data_sha256: SHA-256 the test file must have; empty to skip (and cache by location).
        target_accuracy: The 98%-class thresholds (Pearson r, accuracy, recall).
        max_mape: Bandwidth MAPE must be below this fraction.
        min_pr_auc: Reliability PR-AUC must reach this.
        regression_tolerance: Allowed slack against the deployed models.
        evaluation: Folder with evaluation_report.{json,md,html} and per model
            evaluation.json and blessing.json.
        report_html: The self-contained HTML report.
        report_md: The Markdown report.
        metrics: Held-out metrics per model.
        compression_confusion: Compression level chosen vs the oracle's, on the test file.

    Returns:
        True when at least one model is blessed (the push step runs only then); the names are
        in the evaluation artifact's metadata ("blessed").
    """
    import json
    import math
    import shutil
    import tempfile
    from pathlib import Path

    from dwcp_training.evaluate import EvaluationThresholds
    from dwcp_training.evaluate import evaluate as run_evaluation
    from dwcp_training.io import file_sha256

    if test_data_sha256 and file_sha256(test_data.path) != test_data_sha256:
        raise ValueError(f"{test_data.uri}: sha256 differs from the expected {test_data_sha256}")
    given = {"bandwidth": bandwidth, "compression": compression}
    given.update(reliability=reliability, latency=latency)
    given = {name: art for name, art in given.items() if art is not None}
    run_dir = Path(tempfile.mkdtemp(prefix="dwcp-eval-"))  # the `dwcp train` layout, as links
    (run_dir / "windows").symlink_to(windows.path, target_is_directory=True)
    for name, art in given.items():
        (run_dir / name).symlink_to(Path(art.path, name), target_is_directory=True)
    out = Path(evaluation.path)
    run_evaluation(
        run_dir,
        Path(test_data.path),
        out,
        models=list(given),
        thresholds=EvaluationThresholds(
            target_accuracy, max_mape, min_pr_auc, regression_tolerance
        ),
        baseline_dir=Path(baseline.path) if baseline is not None else None,
        incidents_path=Path(incidents.path) if incidents is not None else None,
    )
    shutil.copyfile(out / "evaluation_report.html", report_html.path)
    shutil.copyfile(out / "evaluation_report.md", report_md.path)
    blessed = []
    for name in given:
        result = json.loads((out / name / "evaluation.json").read_text())
        blessed += [name] if result["blessed"] else []
        for key, value in result["achieved_metrics"].items():
            if isinstance(value, int | float) and math.isfinite(value):
                metrics.log_metric(f"{name}_{key}", float(value))
        matrix = result.get("details", {}).get("confusion_matrix")
        if matrix:
            labels = [str(level) for level in matrix["labels"]]
            compression_confusion.log_confusion_matrix(labels, matrix["counts"])
    for art in (metrics, compression_confusion):  # files, not only metadata: components/train.py
        Path(art.path).write_text(json.dumps(art.metadata))
    evaluation.metadata.update(blessed=blessed)
    return bool(blessed)
