"""`dwcp push` and `dwcp rollback`: ship blessed models, or move LATEST back.

`push` takes what `dwcp train` and `dwcp evaluate` wrote (the same step function the pipeline's
push component calls); `rollback` moves `<model>/LATEST` to the previous version, or to
`--to VERSION`, with the same compare-and-swap as a push; `--list` shows what is there.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from dwcp_training.errors import EXIT_OK, EXIT_USER, ConfigError
from dwcp_training.progress import Progress, format_table


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register `dwcp push` and `dwcp rollback`."""
    p = sub.add_parser(
        "push",
        help="upload blessed models to versioned object storage and move LATEST",
        description=(
            "For every model blessed by `dwcp evaluate`: upload the ONNX file, native artifact, "
            "contract, reports and a model card to BUCKET/PREFIX/MODEL/VERSION/ (never "
            "overwritten), then move MODEL/LATEST by compare-and-swap."
        ),
        epilog=(
            "examples:\n"
            "  dwcp push --checkpoints-dir checkpoints/dwcp_v1 \\\n"
            "      --evaluation-dir reports/dwcp_neural_v1 --bucket gs://dwcp-models\n"
            "  dwcp push --checkpoints-dir c --evaluation-dir r --bucket /srv/model-store\n"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--checkpoints-dir", type=Path, required=True, help="output of `dwcp train`")
    p.add_argument("--evaluation-dir", type=Path, required=True, help="output of `dwcp evaluate`")
    _add_destination(p)
    p.add_argument("--models", default=None, help="comma-separated subset (default: all blessed)")
    p.set_defaults(handler=_run_push)

    r = sub.add_parser(
        "rollback",
        help="move a model's LATEST pointer back to an earlier version",
        description=(
            "Point MODEL/LATEST at the version it pointed to before (or at --to VERSION). "
            "Fails, without changing anything, if someone moved the pointer meanwhile."
        ),
        epilog=(
            "examples:\n"
            "  dwcp rollback --bucket gs://dwcp-models --model bandwidth --list\n"
            "  dwcp rollback --bucket gs://dwcp-models --model bandwidth\n"
            "  dwcp rollback --bucket gs://dwcp-models --model bandwidth --to 0.1.0-ab12-cd34\n"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_destination(r)
    r.add_argument("--model", required=True)
    r.add_argument("--to", dest="to_version", default=None, help="version to point at")
    r.add_argument("--list", action="store_true", help="only list the versions and LATEST")
    r.set_defaults(handler=_run_rollback)


def _add_destination(p: argparse.ArgumentParser) -> None:
    p.add_argument("--bucket", required=True, help="gs://bucket or a local directory")
    p.add_argument("--prefix", default="dwcp", help="folder inside the bucket (default dwcp)")


def _run_push(args: argparse.Namespace, progress: Progress) -> int:
    from dwcp_training.models import REGISTRY
    from dwcp_training.push import push

    wanted = args.models.split(",") if args.models else list(REGISTRY)
    dirs = {n: args.checkpoints_dir / n for n in wanted if (args.evaluation_dir / n).is_dir()}
    if not dirs:
        raise ConfigError(f"{args.evaluation_dir}: no <model>/blessing.json; run `dwcp evaluate`")
    results = push(dirs, args.evaluation_dir, args.bucket, args.prefix, log=progress)
    rows = [[r["model"], r.get("version", "-"), r.get("uri") or r.get("reason")] for r in results]
    print(format_table(["model", "version", "location or reason"], rows))
    return EXIT_OK


def _run_rollback(args: argparse.Namespace, progress: Progress) -> int:
    from dwcp_training.push import destination_uri, rollback
    from dwcp_training.storage import (
        PreconditionFailed,
        list_versions,
        open_object_store,
        read_pointer,
    )

    if args.list:
        store = open_object_store(destination_uri(args.bucket, args.prefix))
        pointer = read_pointer(store, args.model)
        latest = pointer[0]["version"] if pointer else None
        rows = [[v, "<- LATEST" if v == latest else ""] for v in list_versions(store, args.model)]
        print(format_table(["version", ""], rows) if rows else f"{args.model}: nothing pushed")
        return EXIT_OK
    try:
        doc = rollback(args.bucket, args.model, args.prefix, args.to_version)
    except PreconditionFailed as exc:
        progress(f"the pointer moved while rolling back; look again ({exc})")
        return EXIT_USER
    print(f"{args.model}: LATEST -> {doc['version']} ({doc['action']})")
    return EXIT_OK
