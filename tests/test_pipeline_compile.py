"""The compiled pipeline: golden files, DAG shape, and what each profile puts in the YAML.

The golden comparison ignores only `sdkVersion` (see pipeline_support.VOLATILE_KEYS): the
compiled spec has no timestamps or random names, so anything else that differs is a real
change that the checked-in YAML must show.
"""

from __future__ import annotations

import pytest
from pipeline_support import ROOT, dwcp, gcs_emulator, gcs_server, load_yaml, stable

from pipelines.compile import compile_pipeline, pipeline_path
from pipelines.dwcp_pipeline import MODELS, neural_models
from pipelines.profiles import ConfigError, available, load_profile

__all__ = ["gcs_emulator", "gcs_server"]


@pytest.fixture(scope="module")
def gpu_spec() -> dict:
    return load_yaml(pipeline_path("gpu"))


@pytest.fixture(scope="module")
def cpu_spec() -> dict:
    return load_yaml(pipeline_path("cpu"))


@pytest.mark.parametrize("profile", available())
def test_checked_in_pipeline_yaml_is_what_the_code_compiles_to(profile, tmp_path):
    fresh = compile_pipeline(load_profile(profile), tmp_path / "p.yaml")
    checked_in = pipeline_path(profile)
    assert stable(load_yaml(fresh)) == stable(load_yaml(checked_in)), (
        f"{checked_in.relative_to(ROOT)} is stale: run `dwcp pipeline compile` and commit it"
    )


def test_golden_comparison_notices_a_real_change(tmp_path):
    changed = compile_pipeline(load_profile("gpu", ["gpu.limit=2"]), tmp_path / "p.yaml")
    assert stable(load_yaml(changed)) != stable(load_yaml(pipeline_path("gpu")))


def _executor(spec: dict, task: str) -> dict:
    return spec["deploymentSpec"]["executors"][f"exec-{task}"]["container"]


def _k8s(spec: dict) -> dict:
    return spec.get("platforms", {}).get("kubernetes", {}).get("deploymentSpec", {})


def test_dag_validate_window_trainers_evaluate_then_push_on_blessing(cpu_spec):
    tasks = cpu_spec["root"]["dag"]["tasks"]
    deps = {name: set(t.get("dependentTasks", [])) for name, t in tasks.items()}
    assert deps["validate"] == {"importer"}
    assert deps["window"] == {"importer", "validate"}
    for model in MODELS:
        assert deps[f"train-{model}"] == {"window"}
    assert {f"train-{m}" for m in MODELS} | {"window"} <= deps["evaluate"]
    (condition,) = [t for t in tasks.values() if "triggerPolicy" in t]
    assert "evaluate" in condition["dependentTasks"]
    assert "evaluate-Output" in condition["triggerPolicy"]["condition"]
    branch = cpu_spec["components"][condition["componentRef"]["name"]]["dag"]["tasks"]
    assert set(branch) == {"push"}
    assert branch["push"]["cachingOptions"] == {}  # push is never cached
    assert tasks["train-bandwidth"]["cachingOptions"] == {"enableCache": True}


def test_gpu_profile_puts_gpus_node_pool_and_tolerations_on_neural_trainers(gpu_spec):
    profile = load_profile("gpu")
    gpu = profile.gpu
    k8s = _k8s(gpu_spec)["executors"]
    assert set(neural_models()) == {"bandwidth", "compression", "latency"}
    for model in neural_models():
        container = _executor(gpu_spec, f"train-{model}")
        accelerator = container["resources"]["accelerator"]
        assert accelerator["resourceType"] == "nvidia.com/gpu"
        assert accelerator["resourceCount"] == "1"
        assert container["image"] == profile.trainer_image
        placement = k8s[f"exec-train-{model}"]
        assert placement["nodeSelector"]["labels"] == gpu.node_selector
        assert (
            placement["nodeSelector"]["labels"]["cloud.google.com/gke-accelerator"] == "nvidia-l4"
        )
        assert placement["tolerations"] == [
            {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
        ]
    forest = _executor(gpu_spec, "train-reliability")
    assert "accelerator" not in forest["resources"]
    assert "exec-train-reliability" not in k8s
    assert forest["image"] == profile.image


def test_every_step_has_cpu_and_memory_requests(gpu_spec, cpu_spec):
    for spec in (gpu_spec, cpu_spec):
        for name, executor in spec["deploymentSpec"]["executors"].items():
            if "importer" in executor:
                continue
            resources = executor["container"]["resources"]
            assert resources["resourceCpuRequest"], name
            assert resources["resourceMemoryRequest"], name


def test_trainers_retry_with_backoff_and_others_do_not(gpu_spec):
    tasks = gpu_spec["root"]["dag"]["tasks"]
    for name, task in tasks.items():
        if name.startswith("train-"):
            assert task["retryPolicy"]["maxRetryCount"] == 3
            assert task["retryPolicy"]["backoffDuration"] == "60s"
        else:
            assert "retryPolicy" not in task, name


def test_cpu_profile_asks_for_no_accelerator_or_placement(cpu_spec):
    for executor in cpu_spec["deploymentSpec"]["executors"].values():
        assert "accelerator" not in executor.get("container", {}).get("resources", {})
    assert not _k8s(cpu_spec)


def test_bucket_data_and_training_settings_are_run_time_parameters(cpu_spec):
    params = cpu_spec["root"]["inputDefinitions"]["parameters"]
    for name in ("train_data_uri", "test_data_uri", "incidents_uri", "bucket"):
        assert "defaultValue" not in params[name], f"{name} must be given per run"
    for name in ("checkpoint_root", "epochs", "train_data_sha256", "model_prefix"):
        assert name in params


def test_node_pool_gpu_type_and_images_come_from_overrides(tmp_path):
    profile = load_profile(
        "gpu",
        [
            "gpu.type=nvidia-tesla-t4",
            "gpu.node_pool=pool-b",
            "trainer_image=registry.example/dwcp-gpu:9",
            "image=registry.example/dwcp:9",
        ],
    )
    spec = load_yaml(compile_pipeline(profile, tmp_path / "p.yaml"))
    labels = _k8s(spec)["executors"]["exec-train-latency"]["nodeSelector"]["labels"]
    assert labels == {
        "cloud.google.com/gke-nodepool": "pool-b",
        "cloud.google.com/gke-accelerator": "nvidia-tesla-t4",
    }
    assert _executor(spec, "train-latency")["image"] == "registry.example/dwcp-gpu:9"
    assert _executor(spec, "validate")["image"] == "registry.example/dwcp:9"


def test_storage_secret_is_mounted_by_reference_only(tmp_path):
    spec = load_yaml(
        compile_pipeline(load_profile("cpu", ["storage_secret=dwcp-gcs-key"]), tmp_path / "p.yml")
    )
    mounts = _k8s(spec)["executors"]["exec-validate"]["secretAsVolume"]
    assert mounts[0]["secretName"] == "dwcp-gcs-key"
    env = {e["name"]: e["value"] for e in _executor(spec, "validate")["env"]}
    assert env["GOOGLE_APPLICATION_CREDENTIALS"].startswith(mounts[0]["mountPath"])


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["gpu.type"], "expected KEY=VALUE"),
        (["nosuch.key=1"], "is not a section"),
        (["resources=3"], "missing or bad entry"),
    ],
)
def test_bad_overrides_are_clear_errors(overrides, message):
    with pytest.raises(ConfigError, match=message):
        load_profile("gpu", overrides)


def test_unknown_profile_is_a_clear_error():
    with pytest.raises(ConfigError, match="unknown profile 'tpu'"):
        load_profile("tpu")


def test_cli_compile_writes_overridden_profiles_elsewhere(tmp_path, capsys):
    out = tmp_path / "gpu.yaml"
    argv = ["pipeline", "compile", "--profile", "gpu", "--set", "gpu.limit=2"]
    assert dwcp(argv) == 2
    assert "--output" in capsys.readouterr().err
    assert dwcp([*argv, "--output", str(out)]) == 0
    container = _executor(load_yaml(out), "train-bandwidth")
    assert container["resources"]["accelerator"]["resourceCount"] == "2"


# --- submit --------------------------------------------------------------------------------


@pytest.fixture
def kfp_api():
    from pipeline_support import FakeApiServer

    server = FakeApiServer(
        {
            ("POST", "/apis/v2beta1/experiments"): {"experiment_id": "exp-1"},
            ("POST", "/apis/v2beta1/runs"): {"run_id": "run-1", "state": "PENDING"},
            ("GET", "/apis/v2beta1/runs/run-1"): {"run_id": "run-1", "state": "SUCCEEDED"},
        }
    )
    yield server
    server.close()


def test_submit_sends_the_profile_yaml_with_parameters_from_flags(kfp_api, capsys):
    argv = ["pipeline", "submit", "--host", kfp_api.url, "--experiment", "dwcp-nightly"]
    argv += ["--train-data", "gs://d/train.parquet", "--test-data", "gs://d/test.parquet"]
    argv += ["--incidents", "gs://d/incidents.json", "--bucket", "gs://dwcp-models/"]
    argv += ["--epochs", "7", "--service-account", "dwcp-pipeline-runner", "--no-data-hash"]
    assert dwcp([*argv, "--wait", "30"]) == 0
    assert "final state: SUCCEEDED" in capsys.readouterr().out
    (experiment,) = [b for m, p, b in kfp_api.requests if p == "/apis/v2beta1/experiments"]
    assert experiment["display_name"] == "dwcp-nightly"
    (run,) = [b for m, p, b in kfp_api.requests if m == "POST" and p == "/apis/v2beta1/runs"]
    config = run["runtime_config"]
    assert config["pipeline_root"] == "gs://dwcp-models/pipeline-root"
    assert config["parameters"] == {
        "train_data_uri": "gs://d/train.parquet",
        "test_data_uri": "gs://d/test.parquet",
        "incidents_uri": "gs://d/incidents.json",
        "bucket": "gs://dwcp-models",
        "model_prefix": "dwcp",
        "checkpoint_root": "gs://dwcp-models/checkpoints",
        "epochs": 7,
        "seed": 42,
        "threads": 2,
        "target_accuracy": 0.98,
        "max_mape": 0.05,
        "min_pr_auc": 0.9,
    }
    assert run["service_account"] == "dwcp-pipeline-runner"
    spec, compiled = run["pipeline_spec"], load_yaml(pipeline_path("gpu"))
    assert spec["platform_spec"] == {"platforms": compiled.pop("platforms")}  # GPU placement
    assert stable(spec["pipeline_spec"]) == stable(compiled)


def test_submit_hashes_gs_data_so_cache_keys_follow_content(kfp_api, gcs_emulator):
    import hashlib

    bucket = gcs_emulator.bucket()
    blob = gcs_emulator.client().bucket(bucket)
    blob.blob("train.csv").upload_from_string(b"train bytes")
    blob.blob("test.csv").upload_from_string(b"test bytes")
    argv = ["pipeline", "submit", "--host", kfp_api.url, "--experiment", "e"]
    argv += ["--train-data", f"gs://{bucket}/train.csv", "--test-data", f"gs://{bucket}/test.csv"]
    argv += ["--incidents", f"gs://{bucket}/i.json", "--bucket", f"gs://{bucket}"]
    assert dwcp(argv) == 0
    (run,) = [b for m, p, b in kfp_api.requests if m == "POST" and p == "/apis/v2beta1/runs"]
    params = run["runtime_config"]["parameters"]
    assert params["train_data_sha256"] == hashlib.sha256(b"train bytes").hexdigest()
    assert params["test_data_sha256"] == hashlib.sha256(b"test bytes").hexdigest()
