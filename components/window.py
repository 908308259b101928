"""The `window` component: per-link temporal split and model-ready arrays."""

from kfp.dsl import Artifact, Dataset, Input, Markdown, Output


def window(
    data: Input[Dataset],
    validation_report: Input[Artifact],
    windows: Output[Dataset],
    summary: Output[Markdown],
    validation_split: float = 0.15,
):
    """Split every link in time (train/validation/test) and write the four models' arrays.

    Memory-mappable .npy arrays per model and split plus metadata.json (encodings, scaler
    statistics, sample counts, the source file's SHA-256), as dwcp_training.window writes them.
    No window crosses a link or a split boundary.

    Args:
        data: The telemetry file that `validate` accepted.
        validation_report: The report of that validation; its SHA-256 must match the file.
        validation_split: Per-link validation fraction; the test fraction is the schema's.
        windows: Folder of arrays and metadata.json, input of the trainers and the evaluation.
        summary: Samples per model and split.
    """
    from pathlib import Path

    from dwcp_training.cli import windows_summary
    from dwcp_training.schema import load_schema
    from dwcp_training.train import split_fractions
    from dwcp_training.validate import require_valid
    from dwcp_training.window import window_frame, write_windows

    schema = load_schema()
    valid = require_valid(data.path, schema)
    expected = validation_report.metadata.get("sha256")
    if expected and expected != valid.report.sha256:
        raise ValueError(f"{data.uri} changed after validation ({expected[:16]} expected)")
    fractions = split_fractions(validation_split, schema.split["test"])
    result = window_frame(valid.frame, schema, fractions, source_sha256=valid.report.sha256)
    write_windows(result, windows.path)
    windows.metadata.update(source_sha256=valid.report.sha256, split_fractions=fractions)
    Path(summary.path).write_text(f"# Windows\n\n{windows_summary(result)}\n")
