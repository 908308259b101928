"""The standalone components: checked-in YAML up to date, documented, thin, and reusable.

Reuse is a design-card use: each checked-in YAML is loaded with
`kfp.components.load_component_from_file` and wired into pipelines other than ours; the
smallest of them (validate -> window) also runs under kfp.local.
"""

# No `from __future__ import annotations`: KFP reads pipeline signatures at runtime.

import inspect
import json
from pathlib import Path

import pytest
from pipeline_support import ROOT, load_yaml, small_reference_data, stable

import components
from pipelines.profiles import load_profile

__all__ = ["small_reference_data"]
NAMES = list(components.FUNCTIONS)


def test_checked_in_component_yaml_is_what_the_code_compiles_to(tmp_path):
    fresh = components.compile_all(load_profile("cpu").image, tmp_path)
    assert sorted(p.name for p in fresh) == sorted(
        p.name for p in components.COMPILED_DIR.glob("*.yaml")
    ), "a component YAML is missing or left over: run `dwcp pipeline compile`"
    for path in fresh:
        checked_in = components.COMPILED_DIR / path.name
        assert stable(load_yaml(path)) == stable(load_yaml(checked_in)), (
            f"{checked_in.relative_to(ROOT)} is stale: run `dwcp pipeline compile`"
        )


@pytest.mark.parametrize("name", NAMES)
def test_component_is_documented_for_the_ui(name):
    """The YAML carries the docstring and a description of every input; outputs are described
    in the docstring (KFP 2.17 keeps no output descriptions in the YAML)."""
    loaded = components.load(name)
    assert loaded.description and len(loaded.description.split()) > 10
    comp = next(iter(load_yaml(components.compiled_path(name))["components"].values()))
    for kind in ("artifacts", "parameters"):
        for io_name, spec in comp["inputDefinitions"].get(kind, {}).items():
            assert spec.get("description"), f"{name}: input {io_name} has no description"
    doc = inspect.getdoc(components.FUNCTIONS[name]) or ""
    for io_name in loaded.component_spec.outputs or {}:
        if io_name != "Output":  # the return value: documented under Returns
            assert f"    {io_name}: " in doc, f"{name}: output {io_name} is not described"


@pytest.mark.parametrize("name", NAMES)
def test_component_runs_on_the_project_image_and_installs_nothing(name):
    spec = load_yaml(components.compiled_path(name))
    (executor,) = spec["deploymentSpec"]["executors"].values()
    container = executor["container"]
    assert container["image"] == load_profile("cpu").image
    assert "pip install" not in " ".join(container["command"])


@pytest.mark.parametrize("name", NAMES)
def test_component_body_is_a_thin_call_into_the_library(name):
    source = inspect.getsource(components.FUNCTIONS[name])
    body = source.split('"""')[2]  # after the docstring
    assert "from dwcp_training." in body
    assert "import kfp" not in body and "from kfp" not in body
    assert len([ln for ln in body.splitlines() if ln.strip()]) <= 50


def test_the_four_trainers_differ_only_in_the_model_name():
    bodies = {}
    for model in ("bandwidth", "compression", "reliability", "latency"):
        source = inspect.getsource(components.FUNCTIONS[f"train_{model}"])
        bodies[model] = source.split('"""')[2].replace(f'"{model}"', '"MODEL"')
    assert len(set(bodies.values())) == 1


def test_compression_confusion_matrix_is_classification_metrics():
    spec = load_yaml(components.compiled_path("evaluate"))
    outputs = next(iter(spec["components"].values()))["outputDefinitions"]["artifacts"]
    assert outputs["compression_confusion"]["artifactType"]["schemaTitle"] == (
        "system.ClassificationMetrics"
    )
    assert outputs["report_html"]["artifactType"]["schemaTitle"] == "system.HTML"
    assert outputs["report_md"]["artifactType"]["schemaTitle"] == "system.Markdown"


# --- reuse in other pipelines --------------------------------------------------------------


def _retrain_one_model_pipeline():
    """Someone else's pipeline: retrain and ship only the bandwidth model."""
    from kfp import dsl
    from kfp.dsl import Dataset

    loaded = {name: components.load(name) for name in NAMES}

    @dsl.pipeline(name="bandwidth-only")
    def bandwidth_only(data_uri: str, test_uri: str, bucket: str):
        data = dsl.importer(artifact_uri=data_uri, artifact_class=Dataset).output
        checked = loaded["validate"](data=data)
        windows = loaded["window"](data=data, validation_report=checked.outputs["report"])
        model = loaded["train_bandwidth"](windows=windows.outputs["windows"], epochs=3)
        test = dsl.importer(artifact_uri=test_uri, artifact_class=Dataset).output
        verdict = loaded["evaluate"](
            windows=windows.outputs["windows"], test_data=test, bandwidth=model.outputs["model"]
        )
        with dsl.If(verdict.outputs["Output"] == True):  # noqa: E712
            loaded["push"](
                evaluation=verdict.outputs["evaluation"],
                bucket=bucket,
                bandwidth=model.outputs["model"],
            )

    return bandwidth_only


def _other_trainers_pipeline():
    from kfp import dsl
    from kfp.dsl import Dataset

    loaded = {name: components.load(name) for name in NAMES}

    @dsl.pipeline(name="three-trainers")
    def three(windows_uri: str):
        windows = dsl.importer(artifact_uri=windows_uri, artifact_class=Dataset).output
        for name in ("compression", "reliability", "latency"):
            loaded[f"train_{name}"](windows=windows, seed=7)

    return three


@pytest.mark.parametrize("build", [_retrain_one_model_pipeline, _other_trainers_pipeline])
def test_loaded_components_compose_into_other_pipelines(build, tmp_path):
    from kfp import compiler

    out = tmp_path / "p.yaml"
    compiler.Compiler().compile(build(), str(out))
    spec = load_yaml(out)
    used = {c.removeprefix("comp-") for c in spec["components"]}
    assert used  # every loaded component keeps its interface and image
    for executor in spec["deploymentSpec"]["executors"].values():
        if "container" in executor:
            assert executor["container"]["image"] == load_profile("cpu").image


def test_loaded_validate_and_window_run_in_a_small_pipeline(small_reference_data, tmp_path):
    """The checked-in YAMLs execute, not only compile: validate -> window under kfp.local."""
    from kfp import dsl, local
    from kfp.dsl import Dataset

    validate, window = components.load("validate"), components.load("window")

    @dsl.pipeline(name="windows-only")
    def windows_only(data_uri: str) -> Dataset:
        data = dsl.importer(artifact_uri=data_uri, artifact_class=Dataset).output
        report = validate(data=data).outputs["report"]
        return window(data=data, validation_report=report, validation_split=0.2).outputs["windows"]

    local.init(local.SubprocessRunner(use_venv=False), pipeline_root=str(tmp_path / "root"))
    task = windows_only(data_uri=str(small_reference_data / "dwcp_metrics.csv"))
    meta = json.loads((Path(task.output.path) / "metadata.json").read_text())
    assert meta["split_fractions"]["validation"] == pytest.approx(0.2)
    assert set(meta["models"]) == {"bandwidth", "compression", "reliability", "latency"}
