"""The DWCP training pipeline: validate -> window -> four trainers -> evaluate -> push.

    importer(train) -> validate -> window -> train_bandwidth   \\
                                           -> train_compression -> evaluate -> [blessed?] push
                                           -> train_reliability /      ^
                                           -> train_latency    /  importer(test, incidents)

The DAG is the same for every profile; `build_pipeline(profile)` only decorates tasks with the
profile's settings (images, resources, GPU, node selector, tolerations, retries, credentials),
so what runs under kfp.local is exactly what runs on a cluster.

Caching: a task's cache key is its component, its parameters and its input artifacts. Passing
the data files' SHA-256 (`train_data_sha256`, `test_data_sha256`; `dwcp pipeline run/submit`
computes them) makes the keys follow the data's content, so re-running with the same data and
config reuses every step up to `push` (never cached: it must always re-check the pointer)
instead of retraining, while changed data at the same location retrains.
"""

# No `from __future__ import annotations`: KFP reads the pipeline signature's types at runtime.
from kfp import dsl, kubernetes
from kfp.dsl import Artifact, Dataset

import components
from dwcp_training.models import REGISTRY
from pipelines.profiles import Profile

PIPELINE_NAME = "dwcp-training"
MODELS = tuple(REGISTRY)
SECRET_MOUNT = "/var/secrets/google"


def neural_models() -> list[str]:
    """The models trained by Keras (GPU-capable); the forest stays on CPU nodes."""
    from dwcp_training.models.keras_model import KerasDwcpModel

    return [n for n, cls in REGISTRY.items() if issubclass(cls, KerasDwcpModel)]


def _decorate(task, step: str, profile: Profile) -> None:
    """Requests on every step; image, GPU, placement and retries on the trainers."""
    requests = profile.resources_for(step)
    task.set_cpu_request(requests["cpu"]).set_memory_request(requests["memory"])
    task.set_memory_limit(requests["memory"])
    for key, value in profile.env.items():
        task.set_env_variable(key, value)
    if profile.storage_secret:
        kubernetes.use_secret_as_volume(task, profile.storage_secret, mount_path=SECRET_MOUNT)
        task.set_env_variable("GOOGLE_APPLICATION_CREDENTIALS", f"{SECRET_MOUNT}/key.json")
    if not step.startswith("train_"):
        return
    if profile.trainer_retries:
        task.set_retry(
            profile.trainer_retries,
            backoff_duration=profile.retry_backoff,
            backoff_factor=profile.retry_factor,
        )
    gpu = profile.gpu
    if gpu is None or step.removeprefix("train_") not in neural_models():
        return
    task.set_container_image(profile.trainer_image)
    task.set_accelerator_type(gpu.resource).set_accelerator_limit(gpu.limit)
    for key, value in gpu.node_selector.items():
        kubernetes.add_node_selector(task, label_key=key, label_value=value)
    for toleration in gpu.tolerations:
        kubernetes.add_toleration(task, **toleration)


def build_pipeline(profile: Profile):
    """The pipeline function for `profile` (compile it, or call it under kfp.local)."""
    comps = components.build(profile.image)

    @dsl.pipeline(
        name=PIPELINE_NAME,
        description=(
            "Train, evaluate and ship the four DWCP models (bandwidth LSTM, compression policy, "
            f"reliability forest, latency autoencoder). Profile: {profile.name}."
        ),
    )
    def dwcp_training(
        train_data_uri: str,
        test_data_uri: str,
        incidents_uri: str,
        bucket: str,
        model_prefix: str = "dwcp",
        train_data_sha256: str = "",
        test_data_sha256: str = "",
        checkpoint_root: str = "",
        epochs: int = 0,
        seed: int = 42,
        threads: int = 2,
        validation_split: float = 0.15,
        target_accuracy: float = 0.98,
        max_mape: float = 0.05,
        min_pr_auc: float = 0.90,
    ) -> Artifact:
        def imported(uri, name: str):
            task = dsl.importer(artifact_uri=uri, artifact_class=Dataset, reimport=False)
            return task.set_display_name(name).output

        train_data = imported(train_data_uri, "training data")
        tasks = {}
        tasks["validate"] = comps["validate"](data=train_data, expected_sha256=train_data_sha256)
        tasks["window"] = comps["window"](
            data=train_data,
            validation_report=tasks["validate"].outputs["report"],
            validation_split=validation_split,
        )
        windows = tasks["window"].outputs["windows"]
        trained = {}
        for name in MODELS:
            task = comps[f"train_{name}"](
                windows=windows,
                epochs=epochs,
                seed=seed,
                threads=threads,
                target_accuracy=target_accuracy,
                checkpoint_root=checkpoint_root,
            )
            tasks[f"train_{name}"] = task
            trained[name] = task.outputs["model"]
        tasks["evaluate"] = comps["evaluate"](
            windows=windows,
            test_data=imported(test_data_uri, "test data"),
            incidents=imported(incidents_uri, "incident labels"),
            test_data_sha256=test_data_sha256,
            target_accuracy=target_accuracy,
            max_mape=max_mape,
            min_pr_auc=min_pr_auc,
            **trained,
        )
        # A single `Output`: kfp.local resolves conditions on it, not on named outputs (2.17).
        with dsl.If(tasks["evaluate"].outputs["Output"] == True, "any-model-blessed"):  # noqa: E712
            tasks["push"] = comps["push"](
                evaluation=tasks["evaluate"].outputs["evaluation"],
                bucket=bucket,
                prefix=model_prefix,
                **trained,
            )
            tasks["push"].set_caching_options(False)
        for step, task in tasks.items():
            _decorate(task, step, profile)
        return tasks["evaluate"].outputs["evaluation"]

    return dwcp_training
