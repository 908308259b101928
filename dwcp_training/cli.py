"""`dwcp`: the command-line face of the step functions.

Each subcommand parses flags, calls one library function and prints a summary; no step logic
lives here. Heavy imports happen inside the handlers, so `dwcp --help` is instant.
Exit codes: 0 success, 2 bad input or flags (a message, never a traceback), 1 internal error.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from dwcp_training.errors import EXIT_OK, EXIT_USER, ConfigError, UserError
from dwcp_training.progress import Progress, format_table

Handler = Callable[[argparse.Namespace, Progress], int]


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {value}")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {value}")
    return value


# --- generate -------------------------------------------------------------------------------


def _add_generate(sub: argparse._SubParsersAction) -> None:
    from dwcp_training import simulator

    p = sub.add_parser(
        "generate",
        help="write reference telemetry (training file, later test file, incident labels)",
        description="Simulate DWCP per-link telemetry with ground-truth labels.",
        epilog=(
            "examples:\n"
            "  dwcp generate --output-dir data\n"
            "  dwcp generate --output-dir /tmp/big --links 256 --hours 72 --format parquet\n"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--output-dir", type=Path, default=Path("data"), help="default: data")
    p.add_argument("--links", type=_positive_int, default=simulator.DEFAULT_LINKS)
    p.add_argument("--hours", type=_positive_float, default=simulator.DEFAULT_HOURS)
    p.add_argument(
        "--test-hours",
        type=_positive_float,
        default=None,
        help="length of the later, disjoint test range (default: a third of --hours)",
    )
    p.add_argument("--interval-s", type=_positive_int, default=simulator.DEFAULT_INTERVAL_S)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--format", choices=["csv", "parquet"], default="csv")
    p.set_defaults(handler=_run_generate)


def _run_generate(args: argparse.Namespace, progress: Progress) -> int:
    from dwcp_training.simulator import generate

    result = generate(
        args.output_dir,
        links=args.links,
        hours=args.hours,
        interval_s=args.interval_s,
        seed=args.seed,
        fmt=args.format,
        test_hours=args.test_hours,
        progress=progress,
    )
    print(
        format_table(
            ["file", "rows"],
            [
                [result.train_path, result.train_rows],
                [result.test_path, result.test_rows],
                [
                    result.incidents_path,
                    f"{result.n_incidents} incidents, {result.n_episodes} latency episodes",
                ],
            ],
        )
    )
    return EXIT_OK


# --- validate -------------------------------------------------------------------------------


def _add_validate(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "validate",
        help="check a telemetry file against the schema; exit 2 on violations",
        description=(
            "Check schema, types, domains, ranges, missing-value budget and per-link time order. "
            "Exit 0 when clean, 2 on violations (one line per problem)."
        ),
        epilog=(
            "examples:\n"
            "  dwcp validate --data-path data/dwcp_metrics.csv\n"
            "  dwcp validate --data-path export.parquet --report reports/validation.json\n"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--data-path", type=Path, required=True, help="CSV (optionally .gz) or Parquet")
    p.add_argument(
        "--report",
        type=Path,
        default=None,
        help="write the statistics/violations report (JSON) here",
    )
    p.set_defaults(handler=_run_validate)


def _run_validate(args: argparse.Namespace, progress: Progress) -> int:
    from dwcp_training.validate import validate_file, write_report

    progress(f"validating {args.data_path}")
    result = validate_file(args.data_path)
    report = result.report
    if args.report:
        write_report(report, args.report)
        progress(f"report written to {args.report}")
    for line in report.summary_lines():
        print(line, file=sys.stderr)
    rate = report.n_rows / report.elapsed_s if report.elapsed_s > 0 else float("nan")
    verdict = "OK" if report.ok else f"FAILED ({len(report.violations)} violations)"
    print(
        f"{args.data_path}: {report.n_rows} rows, {report.n_columns} columns, "
        f"{len(report.warnings)} warnings: {verdict} ({rate:,.0f} rows/s)"
    )
    return EXIT_OK if report.ok else EXIT_USER


# --- window ---------------------------------------------------------------------------------


def _add_window(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "window",
        help="validate, split per link in time (70/15/15) and write model-ready arrays",
        description=(
            "Validate the file (nothing is written on violations), split each link in time and "
            "write memory-mappable arrays for the four models plus metadata.json."
        ),
        epilog=(
            "examples:\n"
            "  dwcp window --data-path data/dwcp_metrics.csv --output-dir artifacts/windows\n"
            "  dwcp window --data-path data/dwcp_test.csv --output-dir artifacts/test_windows "
            "--test-only\n"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--data-path", type=Path, required=True)
    p.add_argument("--output-dir", type=Path, required=True)
    p.add_argument("--report", type=Path, default=None, help="also write the validation report")
    p.add_argument(
        "--test-only",
        action="store_true",
        help="window the whole file as one test split (for a held-out file)",
    )
    p.set_defaults(handler=_run_window)


def _run_window(args: argparse.Namespace, progress: Progress) -> int:
    from dwcp_training.validate import require_valid
    from dwcp_training.window import window_frame, write_windows

    progress(f"validating {args.data_path}")
    valid = require_valid(args.data_path, report_path=args.report)
    frame, report = valid.frame, valid.report
    progress(f"windowing {len(frame)} rows")
    windows = window_frame(
        frame,
        fractions={"test": 1.0} if args.test_only else None,
        source_sha256=report.sha256,
    )
    write_windows(windows, args.output_dir)
    progress(f"arrays written to {args.output_dir}")
    print(windows_summary(windows))
    return EXIT_OK


def windows_summary(windows) -> str:
    """Samples per model and split, with each model's input shape."""
    rows = []
    for model, info in windows.meta["models"].items():
        if "skipped" in info:
            rows.append([model, "-", "-", "-", info["skipped"]])
            continue
        samples = info["samples"]
        rows.append(
            [
                model,
                samples["train"],
                samples["validation"],
                samples["test"],
                "x".join(str(d) for d in info["input_shape"]),
            ]
        )
    return format_table(["model", "train", "validation", "test", "input"], rows)


# --- train ----------------------------------------------------------------------------------


def _add_train(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train",
        help="validate, window and train the models; export ONNX + contracts + reports",
        description=(
            "Train the chosen models on a telemetry file. Writes per model the native artifact, "
            "an ONNX export taking raw features, contract.json and report.{json,md}, plus "
            "training_report.{json,md}. Checkpoints every epoch: rerunning the same command "
            "after a crash resumes where it stopped."
        ),
        epilog=(
            "examples:\n"
            "  dwcp train --data-path data/dwcp_metrics.csv --output-dir checkpoints/dwcp_v1 \\\n"
            "      --target-accuracy 0.98 --parallel\n"
            "  dwcp train --data-path data/dwcp_metrics.csv --output-dir /tmp/bw "
            "--models bandwidth,compression --epochs 50\n"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--data-path", type=Path, required=True)
    p.add_argument("--output-dir", type=Path, required=True)
    p.add_argument(
        "--models",
        default="bandwidth,compression,reliability,latency",
        help="comma-separated subset (default: all four)",
    )
    p.add_argument(
        "--epochs",
        type=int,
        default=None,
        help="maximum epochs for the neural models (default: each model's own)",
    )
    p.add_argument(
        "--target-accuracy",
        type=float,
        default=0.98,
        help="the 98%%-class targets: Pearson r, accuracy, recall (default 0.98)",
    )
    p.add_argument(
        "--validation-split",
        type=float,
        default=0.15,
        help="per-link validation fraction (the test split stays 0.15)",
    )
    p.add_argument(
        "--export-format",
        default="keras,onnx",
        help="keras (native artifact) and/or onnx (default: both)",
    )
    p.add_argument("--seed", type=int, default=42)
    p.add_argument(
        "--threads",
        type=_positive_int,
        default=2,
        help="TensorFlow intra-op threads; same value => bit-identical results",
    )
    p.add_argument(
        "--parallel",
        action="store_true",
        help="train the models in separate processes (identical results)",
    )
    p.add_argument(
        "--checkpoint-uri",
        default=None,
        help="also mirror checkpoints to object storage, e.g. gs://bucket/run (each model "
        "under <uri>/<model>/checkpoints); a rerun on a fresh machine resumes from there",
    )
    p.set_defaults(handler=_run_train)


def _run_train(args: argparse.Namespace, progress: Progress) -> int:
    from dwcp_training.models import TrainSettings
    from dwcp_training.reports import targets_table
    from dwcp_training.train import TrainRequest, parse_formats, parse_models, train

    if args.epochs is not None and args.epochs <= 0:
        raise ConfigError(f"--epochs must be > 0, got {args.epochs}")
    if not 0 < args.target_accuracy <= 1:
        raise ConfigError(f"--target-accuracy must be in (0, 1], got {args.target_accuracy}")
    request = TrainRequest(
        data_path=args.data_path,
        output_dir=args.output_dir,
        models=parse_models(args.models),
        settings=TrainSettings(
            seed=args.seed,
            epochs=args.epochs,
            target_accuracy=args.target_accuracy,
            threads=args.threads,
            verbose=0 if args.quiet else 1,
            checkpoint_uri=args.checkpoint_uri,
        ),
        parallel=args.parallel,
        export_formats=parse_formats(args.export_format),
        validation_split=args.validation_split,
    )
    master = train(request, log=progress)
    print(targets_table(master["models"]))
    readiness = master["production_readiness"]
    print(
        f"\n{master['models_passed']}/{master['models_trained']} models met their targets; "
        f"{readiness['deployment_recommendation']}"
    )
    print(f"reports: {args.output_dir / 'training_report.md'}")
    return EXIT_OK


# --- entry point ----------------------------------------------------------------------------


def _add_evaluate(sub: argparse._SubParsersAction) -> None:
    from dwcp_training.commands.evaluate import add_parser

    add_parser(sub)


def _add_push(sub: argparse._SubParsersAction) -> None:
    from dwcp_training.commands.push import add_parser

    add_parser(sub)  # push and rollback


def _add_pipeline(sub: argparse._SubParsersAction) -> None:
    from dwcp_training.commands.pipeline import add_parser

    add_parser(sub)


def _add_cluster(sub: argparse._SubParsersAction) -> None:
    from dwcp_training.commands.cluster import add_parser

    add_parser(sub)


SUBCOMMANDS: list[Callable[[argparse._SubParsersAction], None]] = [
    _add_generate,
    _add_validate,
    _add_window,
    _add_train,
    _add_evaluate,
    _add_push,
    _add_pipeline,
    _add_cluster,
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dwcp",
        description="DWCP training pipeline: every step of the Kubeflow pipeline, as a command.",
        epilog="Run `dwcp COMMAND --help` for a command's flags and examples.",
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress lines")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in SUBCOMMANDS:
        add(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    progress = Progress(quiet=args.quiet)
    try:
        return args.handler(args, progress)
    except UserError as exc:
        print(f"dwcp {args.command}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"dwcp {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
