"""The `validate` component: schema and data-quality gate in front of the pipeline."""

from kfp.dsl import Artifact, Dataset, Input, Markdown, Metrics, Output


def validate(
    data: Input[Dataset],
    report: Output[Artifact],
    summary: Output[Markdown],
    statistics: Output[Metrics],
    expected_sha256: str = "",
):
    """Check a DWCP telemetry file against the schema; stop the run on bad data.

    Checks columns, types, domains, ranges, the missing-value budget and per-link time order
    (dwcp_training.validate). On any violation the step fails with one line per problem, after
    writing the report, so nothing downstream trains on bad data.

    Args:
        data: Telemetry file (CSV, CSV.gz or Parquet) following the DWCP schema.
        expected_sha256: SHA-256 the file must have; empty to skip. Passing it puts the file's
            content, not only its location, into the cache key of the whole run.
        report: Statistics and anomalies (JSON), written even when the data is rejected.
        summary: The verdict and every warning, one per line.
        statistics: Rows, links, columns and warnings as run metrics.
    """
    import json
    from pathlib import Path

    from dwcp_training.validate import require_valid

    result = require_valid(data.path, report_path=report.path).report
    if expected_sha256 and result.sha256 != expected_sha256:
        raise ValueError(
            f"{data.uri}: sha256 {result.sha256} differs from the expected {expected_sha256}; "
            "the file changed after the run was configured"
        )
    report.metadata.update(sha256=result.sha256, rows=result.n_rows, links=result.n_links)
    for key, value in (
        ("rows", result.n_rows),
        ("links", result.n_links),
        ("columns", result.n_columns),
        ("warnings", len(result.warnings)),
    ):
        statistics.log_metric(key, value)
    Path(statistics.path).write_text(json.dumps(statistics.metadata))  # see components/train.py
    lines = [f"# Validation: {data.uri}", "", f"{result.n_rows} rows, {result.n_links} links: OK"]
    Path(summary.path).write_text("\n".join(lines + [f"- {w}" for w in result.summary_lines()]))
