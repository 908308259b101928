"""The `push` component: blessed models to versioned, atomic object storage."""

from kfp.dsl import Artifact, Input, Markdown, Model, Output


def push(
    evaluation: Input[Artifact],
    bucket: str,
    pushed: Output[Artifact],
    summary: Output[Markdown],
    prefix: str = "dwcp",
    bandwidth: Input[Model] | None = None,
    compression: Input[Model] | None = None,
    reliability: Input[Model] | None = None,
    latency: Input[Model] | None = None,
):
    """Upload the blessed models under a new version and move each model's LATEST pointer.

    Per blessed model: <bucket>/<prefix>/<model>/<version>/ gets the ONNX file, the native
    artifact, contract.json, the training and evaluation reports and a model card; a version is
    never overwritten, and <model>/LATEST moves only by compare-and-swap once the version is
    complete. Models that are not blessed are listed with the reason and left alone.

    Args:
        evaluation: Output of the evaluate component (the blessing files).
        bucket: gs://bucket on a cluster, or a local directory for local runs.
        prefix: Folder inside the bucket.
        bandwidth: Trained bandwidth model; leave out to skip it.
        compression: Trained compression model; leave out to skip it.
        reliability: Trained reliability model; leave out to skip it.
        latency: Trained latency model; leave out to skip it.
        pushed: What happened per model (JSON: version, location, previous version).
        summary: The same as a table.
    """
    import json
    from pathlib import Path

    from dwcp_training.progress import format_table
    from dwcp_training.push import push as run_push

    given = {"bandwidth": bandwidth, "compression": compression}
    given.update(reliability=reliability, latency=latency)
    dirs = {name: Path(art.path, name) for name, art in given.items() if art is not None}
    results = run_push(dirs, Path(evaluation.path), bucket, prefix)
    Path(pushed.path).write_text(json.dumps(results, indent=2))
    rows = [[r["model"], r.get("version", "-"), r.get("uri") or r.get("reason")] for r in results]
    table = format_table(["model", "version", "location or reason"], rows)
    Path(summary.path).write_text(f"# Push\n\n{table}\n")
