"""`dwcp evaluate`: score the exported ONNX models on a held-out file, bless them, report.

Flags parse into `EvaluationThresholds`; the work is `dwcp_training.evaluate.evaluate`. Exit 0
when the evaluation ran (blessed or not: the push step reads the blessing files), 2 on bad
input or flags.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from dwcp_training.errors import EXIT_OK, ConfigError
from dwcp_training.progress import Progress, format_table

_OFF = ("none", "off")


def _threshold(text: str) -> float | None:
    """A threshold in [0, 1], or "none"/"off" to switch it off."""
    if text.strip().lower() in _OFF:
        return None
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number or 'none', got {text!r}") from None
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"must be in [0, 1] (or 'none'), got {value}")
    return value


def _tolerance(text: str) -> float:
    value = float(text)
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"must be in [0, 1), got {value}")
    return value


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register `dwcp evaluate`."""
    p = sub.add_parser(
        "evaluate",
        help="score the exported ONNX models on a held-out file; bless; JSON/Markdown/HTML",
        description=(
            "Validate the test file, window it with the training run's encodings (never "
            "refitted), score the exported ONNX models through onnxruntime, compare with naive "
            "baselines, per link type and event type, measure feature drift, and write "
            "<model>/blessing.json: blessed only when every configured target is met and, "
            "with --baseline-dir, nothing regressed beyond the tolerance."
        ),
        epilog=(
            "examples:\n"
            "  dwcp evaluate --checkpoints-dir checkpoints/dwcp_v1 \\\n"
            "      --test-data-path data/dwcp_test.csv --output-dir reports/dwcp_neural_v1\n"
            "  dwcp evaluate --checkpoints-dir checkpoints/dwcp_v2 --test-data-path data/t.csv \\\n"
            "      --output-dir reports/v2 --baseline-dir reports/dwcp_neural_v1\n"
            "thresholds: 'none' switches one off; a model with no threshold left is never "
            "blessed.\n"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--checkpoints-dir", type=Path, required=True, help="output of `dwcp train`")
    p.add_argument("--test-data-path", type=Path, required=True, help="held-out CSV or Parquet")
    p.add_argument("--output-dir", type=Path, required=True)
    p.add_argument(
        "--models",
        default=None,
        help="comma-separated subset (default: every model the training run exported)",
    )
    p.add_argument(
        "--target-accuracy",
        type=_threshold,
        default=0.98,
        help="Pearson r, compression accuracy, reliability recall, latency accuracy (0.98)",
    )
    p.add_argument(
        "--max-mape",
        type=_threshold,
        default=0.05,
        help="bandwidth MAPE must be below this fraction (0.05 = 5 %%)",
    )
    p.add_argument(
        "--min-pr-auc", type=_threshold, default=0.90, help="reliability PR-AUC at least (0.90)"
    )
    p.add_argument(
        "--regression-tolerance",
        type=_tolerance,
        default=0.01,
        help=(
            "how much worse than --baseline-dir a metric may be: absolute for metrics on a 0..1 "
            "scale, relative to the deployed value for larger ones such as MAE (0.01)"
        ),
    )
    p.add_argument(
        "--no-thresholds",
        action="store_true",
        help="report only: no thresholds, so no model is blessed",
    )
    p.add_argument(
        "--baseline-dir",
        type=Path,
        default=None,
        help="evaluation output of the deployed models (reads <model>/evaluation.json)",
    )
    p.add_argument(
        "--incidents-path",
        type=Path,
        default=None,
        help="labeled_incidents.json (default: beside the test file, when present)",
    )
    p.set_defaults(handler=run)


def run(args: argparse.Namespace, progress: Progress) -> int:
    """Handler of `dwcp evaluate`."""
    from dwcp_training.evaluate import EvaluationThresholds, evaluate
    from dwcp_training.train import parse_models

    thresholds = (
        None
        if args.no_thresholds
        else EvaluationThresholds(
            target_accuracy=args.target_accuracy,
            max_mape=args.max_mape,
            min_pr_auc=args.min_pr_auc,
            regression_tolerance=args.regression_tolerance,
        )
    )
    if args.baseline_dir is not None and args.baseline_dir.resolve() == args.output_dir.resolve():
        raise ConfigError("--baseline-dir must differ from --output-dir (it would be overwritten)")
    master = evaluate(
        args.checkpoints_dir,
        args.test_data_path,
        args.output_dir,
        models=parse_models(args.models) if args.models else None,
        thresholds=thresholds,
        baseline_dir=args.baseline_dir,
        incidents_path=args.incidents_path,
        log=progress,
    )
    rows = [
        [
            name,
            m["version"],
            "BLESSED" if m["blessed"] else "not blessed",
            m["blessing"]["verdict"].split(": ", 1)[-1],
        ]
        for name, m in master["models"].items()
    ]
    print(format_table(["model", "version", "blessing", "why"], rows))
    for warning in master["warnings"]:
        print(f"warning: {warning}")
    readiness = master["production_readiness"]
    print(f"\n{readiness['deployment_recommendation']}")
    print(f"report (Markdown): {args.output_dir / 'evaluation_report.md'}")
    print(f"HTML report: {(args.output_dir / 'evaluation_report.html').resolve()}")
    return EXIT_OK
