"""`dwcp cluster check`: can this cluster run the GPU trainers as the profile places them?

The compiled GPU profile asks for `nvidia.com/gpu` on nodes matching a node selector and
tolerates the GPU pool's taints. This command reads the nodes through the Kubernetes API
(kubeconfig or in-cluster) and reports, per node, whether all of that holds: labels match,
every NoSchedule/NoExecute taint is tolerated, the GPU resource is allocatable, the node is
Ready and schedulable. Exit 0 when at least one node qualifies, 2 otherwise, with the reason
for each node, so a wrong label or a missing device plugin is found before a run hangs Pending.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from typing import Any

from dwcp_training.errors import EXIT_OK, EXIT_USER, ConfigError
from dwcp_training.progress import Progress, format_table

BLOCKING_EFFECTS = ("NoSchedule", "NoExecute")


@dataclass
class NodeVerdict:
    name: str
    gpus: int
    problems: list[str] = field(default_factory=list)

    @property
    def usable(self) -> bool:
        return not self.problems


def tolerates(toleration: dict[str, Any], taint: Any) -> bool:
    """Kubernetes' rule: key (empty + Exists = any), operator/value, effect (empty = any)."""
    key, operator = toleration.get("key") or "", toleration.get("operator") or "Equal"
    if toleration.get("effect") and toleration["effect"] != taint.effect:
        return False
    if not key:
        return operator == "Exists"
    if key != taint.key:
        return False
    return operator == "Exists" or (toleration.get("value") or "") == (taint.value or "")


def check_node(node: Any, gpu: Any) -> NodeVerdict:
    """One node against the profile's GPU settings (`pipelines.profiles.GpuSettings`)."""
    labels = node.metadata.labels or {}
    allocatable = (node.status.allocatable or {}).get(gpu.resource, "0")
    verdict = NodeVerdict(node.metadata.name, int(allocatable))
    for key, value in gpu.node_selector.items():
        if labels.get(key) != value:
            verdict.problems.append(f"label {key}={labels.get(key, '<unset>')}, wants {value}")
    for taint in node.spec.taints or []:
        if taint.effect in BLOCKING_EFFECTS and not any(
            tolerates(t, taint) for t in gpu.tolerations
        ):
            verdict.problems.append(f"taint {taint.key}={taint.value}:{taint.effect} not tolerated")
    if verdict.gpus < gpu.limit:
        verdict.problems.append(
            f"{gpu.resource} allocatable {verdict.gpus} < {gpu.limit} (GPU driver / device plugin?)"
        )
    ready = [c for c in node.status.conditions or [] if c.type == "Ready"]
    if not ready or ready[0].status != "True":
        verdict.problems.append("not Ready")
    if node.spec.unschedulable:
        verdict.problems.append("cordoned")
    return verdict


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register `dwcp cluster check`."""
    p = sub.add_parser("cluster", help="check a Kubernetes cluster against a pipeline profile")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    c = actions.add_parser(
        "check",
        help="are there GPU nodes the GPU profile's trainers can be scheduled on?",
        description=__doc__.split("\n\n", 1)[1],
        epilog=(
            "examples:\n"
            "  dwcp cluster check\n"
            "  dwcp cluster check --context gke_proj_zone_dwcp --set gpu.node_pool=gpu-a\n"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    c.add_argument("--profile", default="gpu")
    c.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    c.add_argument("--kubeconfig", default=None, help="default: $KUBECONFIG or ~/.kube/config")
    c.add_argument("--context", default=None)
    c.set_defaults(handler=_run_check)


def _nodes(kubeconfig: str | None, context: str | None) -> list[Any]:
    from kubernetes import client, config

    try:
        config.load_kube_config(config_file=kubeconfig, context=context)
    except config.ConfigException:
        try:
            config.load_incluster_config()
        except config.ConfigException:
            raise ConfigError(
                "no Kubernetes configuration: no kubeconfig (--kubeconfig, $KUBECONFIG, "
                "~/.kube/config) and not running in a pod"
            ) from None
    try:
        return client.CoreV1Api().list_node(_request_timeout=30).items
    except Exception as exc:  # urllib3 and API errors alike: say which server and why
        host = client.Configuration.get_default_copy().host
        raise ConfigError(f"cannot list nodes at {host}: {exc}") from None


def _run_check(args: argparse.Namespace, progress: Progress) -> int:
    from dwcp_training.commands.pipeline import tooling

    tooling()
    from pipelines.profiles import load_profile

    profile = load_profile(args.profile, args.overrides)
    if profile.gpu is None:
        raise ConfigError(f"profile {profile.name!r} asks for no GPU: nothing to check")
    gpu = profile.gpu
    wanted = ", ".join(f"{k}={v}" for k, v in gpu.node_selector.items())
    progress(f"profile {profile.name}: {gpu.limit} x {gpu.resource} on nodes with {wanted}")
    verdicts = [check_node(n, gpu) for n in _nodes(args.kubeconfig, args.context)]
    rows = [
        [v.name, v.gpus, "yes" if v.usable else "no", "; ".join(v.problems) or "-"]
        for v in verdicts
    ]
    print(format_table(["node", gpu.resource, "usable", "why not"], rows) if rows else "no nodes")
    usable = [v for v in verdicts if v.usable]
    if usable:
        print(f"\nOK: {len(usable)} node(s) can run the GPU trainers of profile {profile.name}")
        return EXIT_OK
    print(
        f"\nNO node can run the GPU trainers of profile {profile.name} ({wanted}). A node pool "
        "scaled to zero has no nodes to show: scale it up once, or check its labels and taints "
        "against pipelines/profiles.yaml (override with --set)."
    )
    return EXIT_USER
