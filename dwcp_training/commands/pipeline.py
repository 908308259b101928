"""`dwcp pipeline compile | run --local | submit`: the Kubeflow face of the project.

The pipeline definition lives in the repository's `pipelines/` and `components/` folders
(developer tooling: the installed library never imports KFP), so these commands need a source
checkout; `tooling()` puts its root on `sys.path` and says so clearly when there is none.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from dwcp_training.errors import EXIT_OK, ConfigError
from dwcp_training.progress import Progress

REPO_ROOT = Path(__file__).resolve().parents[2]
PROFILES = ("cpu", "gpu")


def tooling() -> Path:
    """The checkout's root, importable; ConfigError outside a source checkout."""
    if not (REPO_ROOT / "pipelines" / "dwcp_pipeline.py").is_file():
        raise ConfigError(
            f"the pipeline commands need the source checkout (no pipelines/ under {REPO_ROOT}); "
            "run them from a clone with `pip install -e '.[kfp]'`"
        )
    if str(REPO_ROOT) not in sys.path:
        sys.path.insert(0, str(REPO_ROOT))
    return REPO_ROOT


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register `dwcp pipeline` and its three subcommands."""
    p = sub.add_parser(
        "pipeline",
        help="compile, run locally (kfp.local) or submit the Kubeflow pipeline",
        description="The KFP v2 pipeline: validate -> window -> 4 trainers -> evaluate -> push.",
    )
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    _add_compile(actions)
    _add_run(actions)
    _add_submit(actions)


# --- compile ------------------------------------------------------------------------------


def _add_compile(actions: argparse._SubParsersAction) -> None:
    p = actions.add_parser(
        "compile",
        help="compile the pipeline (and the standalone components) to YAML",
        description=(
            "Without --profile: rewrite every checked-in YAML (pipelines/compiled/*.yaml, "
            "components/compiled/*.yaml) from the code and profiles.yaml. With --profile: "
            "compile that profile, with --set overrides, to --output."
        ),
        epilog=(
            "examples:\n"
            "  dwcp pipeline compile\n"
            "  dwcp pipeline compile --profile gpu --set gpu.type=nvidia-tesla-t4 \\\n"
            "      --set trainer_image=europe-docker.pkg.dev/p/r/dwcp-training-gpu:0.1.0 "
            "--output build/gpu.yaml\n"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--profile", choices=PROFILES, default=None)
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a profiles.yaml entry, e.g. gpu.node_pool=gpu-a (repeatable)",
    )
    p.add_argument("--output", type=Path, default=None, help="where to write the pipeline YAML")
    p.set_defaults(handler=_run_compile)


def _run_compile(args: argparse.Namespace, progress: Progress) -> int:
    root = tooling()
    from pipelines.compile import compile_everything, compile_pipeline, pipeline_path
    from pipelines.profiles import load_profile

    if args.profile is None:
        if args.overrides or args.output:
            raise ConfigError("--set and --output need --profile")
        paths = compile_everything()
    else:
        if args.overrides and args.output is None:
            raise ConfigError("--set changes the profile: write it elsewhere with --output")
        output = args.output or pipeline_path(args.profile)
        paths = [compile_pipeline(load_profile(args.profile, args.overrides), output)]
    for path in paths:
        print(path.relative_to(root) if path.is_relative_to(root) else path)
    return EXIT_OK


# --- run --local ----------------------------------------------------------------------------


def _add_run(actions: argparse._SubParsersAction) -> None:
    p = actions.add_parser(
        "run",
        help="run the compiled pipeline end to end under kfp.local (no cluster)",
        description=(
            "Run pipelines/compiled/dwcp_training.cpu.yaml with kfp.local's SubprocessRunner in "
            "this environment: every component, the blessing condition and the push to a local "
            "object-store directory. Reference data is generated into --data-dir if missing. "
            "Steps whose inputs did not change are taken from the cache (--no-cache to rerun)."
        ),
        epilog=(
            "examples:\n"
            "  dwcp pipeline run --local\n"
            "  dwcp pipeline run --local --data-dir /tmp/small --epochs 2 --output-dir /tmp/run\n"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--local", action="store_true", help="required: run under kfp.local")
    p.add_argument("--data-dir", type=Path, default=Path("data"))
    p.add_argument("--train-data", type=Path, default=None, help="default: DATA_DIR/dwcp_metrics.*")
    p.add_argument("--test-data", type=Path, default=None, help="default: DATA_DIR/dwcp_test.*")
    p.add_argument("--incidents", type=Path, default=None)
    p.add_argument("--output-dir", type=Path, default=Path("artifacts/pipeline"))
    p.add_argument("--bucket", default=None, help="default: OUTPUT_DIR/model_store (a directory)")
    p.add_argument("--prefix", default="dwcp", help="folder inside the bucket (default dwcp)")
    p.add_argument("--pipeline", type=Path, default=None, help="compiled YAML to run")
    _add_training_flags(p)
    p.add_argument("--no-cache", action="store_true", help="execute every step again")
    p.add_argument(
        "--no-checkpoints",
        action="store_true",
        help="do not mirror checkpoints to OUTPUT_DIR/checkpoints",
    )
    p.set_defaults(handler=_run_local)


def _add_training_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--epochs", type=int, default=0, help="0: each model's own default")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument(
        "--target-accuracy",
        type=float,
        default=0.98,
        help="the 98%%-class thresholds of training reports and blessing (default 0.98)",
    )
    p.add_argument("--max-mape", type=float, default=0.05, help="bandwidth MAPE to bless (0.05)")
    p.add_argument("--min-pr-auc", type=float, default=0.90, help="reliability PR-AUC (0.90)")


def _data_files(args: argparse.Namespace, progress: Progress) -> tuple[Path, Path, Path]:
    from pipelines.local_run import find_data

    if args.train_data and args.test_data and args.incidents:
        files = (args.train_data, args.test_data, args.incidents)
    else:
        found = find_data(args.data_dir)
        if found is None:
            from dwcp_training.simulator import generate

            progress(f"no reference data in {args.data_dir}: generating it")
            generate(args.data_dir, progress=progress)
            found = find_data(args.data_dir)
        assert found is not None
        files = (
            args.train_data or found[0],
            args.test_data or found[1],
            args.incidents or found[2],
        )
    for path in files:
        if not path.is_file():
            raise ConfigError(f"{path}: no such file")
    return files


def _run_local(args: argparse.Namespace, progress: Progress) -> int:
    if not args.local:
        raise ConfigError("only --local runs here; use `dwcp pipeline submit` for a cluster")
    tooling()
    from pipelines.compile import pipeline_path
    from pipelines.local_run import LocalRun, run_local, summary_table

    train, test, incidents = _data_files(args, progress)
    run = LocalRun(
        pipeline_file=args.pipeline or pipeline_path("cpu"),
        train_data=train,
        test_data=test,
        incidents=incidents,
        output_dir=args.output_dir,
        bucket=args.bucket,
        model_prefix=args.prefix,
        epochs=args.epochs,
        seed=args.seed,
        threads=args.threads,
        target_accuracy=args.target_accuracy,
        caching=not args.no_cache,
        checkpoints=not args.no_checkpoints,
        extra={"max_mape": args.max_mape, "min_pr_auc": args.min_pr_auc},
    )
    progress(f"running {run.pipeline_file} under kfp.local; outputs in {args.output_dir}")
    result = run_local(run)
    print(summary_table(result))
    return EXIT_OK


# --- submit ---------------------------------------------------------------------------------


def _add_submit(actions: argparse._SubParsersAction) -> None:
    p = actions.add_parser(
        "submit",
        help="submit the compiled pipeline to a Kubeflow Pipelines endpoint",
        description=(
            "Create a run of the compiled pipeline (pipelines/compiled/dwcp_training.PROFILE"
            ".yaml) through the KFP API; parameters come from the flags. The data URIs must be "
            "readable from the cluster (gs:// on GKE)."
        ),
        epilog=(
            "examples:\n"
            "  dwcp pipeline submit --host http://localhost:8080 --experiment dwcp \\\n"
            "      --profile gpu --bucket gs://dwcp-models \\\n"
            "      --train-data gs://dwcp-data/dwcp_metrics.parquet \\\n"
            "      --test-data gs://dwcp-data/dwcp_test.parquet \\\n"
            "      --incidents gs://dwcp-data/labeled_incidents.json --wait 7200\n"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--host", required=True, help="KFP API endpoint (e.g. http://localhost:8080)")
    p.add_argument("--experiment", required=True)
    p.add_argument("--profile", choices=PROFILES, default="gpu")
    p.add_argument("--pipeline", type=Path, default=None, help="compiled YAML (default: profile's)")
    p.add_argument("--train-data", required=True, help="URI of the training telemetry")
    p.add_argument("--test-data", required=True, help="URI of the held-out telemetry")
    p.add_argument("--incidents", required=True, help="URI of labeled_incidents.json")
    p.add_argument("--bucket", required=True, help="where blessed models go (gs://bucket)")
    p.add_argument("--prefix", default="dwcp")
    p.add_argument("--pipeline-root", default=None, help="default: BUCKET/pipeline-root")
    p.add_argument("--checkpoint-root", default=None, help="default: BUCKET/checkpoints")
    _add_training_flags(p)
    p.add_argument("--run-name", default=None)
    p.add_argument("--namespace", default=None, help="multi-user deployments only")
    p.add_argument("--service-account", default=None, help="e.g. dwcp-pipeline-runner")
    p.add_argument("--no-cache", action="store_true", help="disable caching for this run")
    p.add_argument(
        "--no-data-hash",
        action="store_true",
        help="do not hash the data files (cache by location only; no change detection)",
    )
    p.add_argument("--wait", type=float, default=None, metavar="SECONDS")
    p.set_defaults(handler=_run_submit)


def _run_submit(args: argparse.Namespace, progress: Progress) -> int:
    tooling()
    from pipelines.compile import pipeline_path
    from pipelines.submit import Submission, content_sha256, submit

    bucket = args.bucket.rstrip("/")
    arguments = {
        "train_data_uri": args.train_data,
        "test_data_uri": args.test_data,
        "incidents_uri": args.incidents,
        "bucket": bucket,
        "model_prefix": args.prefix,
        "checkpoint_root": args.checkpoint_root or f"{bucket}/checkpoints",
        "epochs": args.epochs,
        "seed": args.seed,
        "threads": args.threads,
        "target_accuracy": args.target_accuracy,
        "max_mape": args.max_mape,
        "min_pr_auc": args.min_pr_auc,
    }
    if not args.no_data_hash:
        progress("hashing the data files (the cache keys follow their content)")
        arguments["train_data_sha256"] = content_sha256(args.train_data)
        arguments["test_data_sha256"] = content_sha256(args.test_data)
    result = submit(
        Submission(
            host=args.host,
            experiment=args.experiment,
            pipeline_file=args.pipeline or pipeline_path(args.profile),
            arguments=arguments,
            pipeline_root=args.pipeline_root or f"{bucket}/pipeline-root",
            run_name=args.run_name,
            namespace=args.namespace,
            service_account=args.service_account,
            enable_caching=False if args.no_cache else None,
        ),
        wait_seconds=args.wait,
    )
    print(f"run {result['run_id']}: {result['url']}")
    if "state" in result:
        print(f"final state: {result['state']}")
        return EXIT_OK if result["state"].upper().endswith("SUCCEEDED") else 1
    return EXIT_OK
