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

from dwcp_training.errors import EXIT_OK, EXIT_USER, UserError
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
    frame, report = require_valid(args.data_path, report_path=args.report)
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


# --- entry point ----------------------------------------------------------------------------

SUBCOMMANDS: list[Callable[[argparse._SubParsersAction], None]] = [
    _add_generate,
    _add_validate,
    _add_window,
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dwcp",
        description="DWCP training pipeline: generate, validate, window (and more to come).",
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
