"""Deployment profiles (`profiles.yaml`): what differs between a laptop, kind and GKE.

Why a YAML file and not constants: the GPU node pool, the GPU type and the images belong to an
environment, not to the pipeline's code; `--set key.path=value` overrides any entry at compile
time, so a team can target its own cluster without editing anything here.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from dwcp_training.errors import ConfigError

PROFILES_FILE = Path(__file__).with_name("profiles.yaml")
TRAINER = "trainer"


@dataclass(frozen=True)
class GpuSettings:
    resource: str
    limit: int
    node_selector: dict[str, str]
    tolerations: list[dict[str, Any]]


@dataclass(frozen=True)
class Profile:
    name: str
    description: str
    image: str
    trainer_image: str
    resources: dict[str, dict[str, str]]
    trainer_retries: int
    retry_backoff: str
    retry_factor: float
    gpu: GpuSettings | None
    storage_secret: str | None = None
    env: dict[str, str] = field(default_factory=dict)

    def resources_for(self, step: str) -> dict[str, str]:
        """A step's requests: its own entry, else the trainers' (for trainers), else default."""
        key = TRAINER if step.startswith("train_") and step not in self.resources else step
        return {**self.resources["default"], **self.resources.get(key, {})}


def available() -> list[str]:
    return sorted(_load_file())


def _load_file(path: Path = PROFILES_FILE) -> dict[str, Any]:
    return yaml.safe_load(path.read_text())


def apply_overrides(raw: dict[str, Any], overrides: Iterable[str]) -> dict[str, Any]:
    """`["gpu.type=nvidia-l4", "retries.trainers=5"]` -> a copy of `raw` with those set."""
    out = copy.deepcopy(raw)
    for item in overrides:
        key, sep, text = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"--set {item!r}: expected KEY=VALUE, e.g. gpu.type=nvidia-l4")
        node = out
        *parents, leaf = key.split(".")
        for part in parents:
            if not isinstance(node.get(part), dict):
                raise ConfigError(f"--set {item!r}: {part!r} is not a section of the profile")
            node = node[part]
        node[leaf] = yaml.safe_load(text) if text else ""
    return out


def load_profile(name: str, overrides: Iterable[str] = (), path: Path = PROFILES_FILE) -> Profile:
    """The named profile with `--set` overrides applied; ConfigError names what is wrong."""
    profiles = _load_file(path)
    if name not in profiles:
        raise ConfigError(f"unknown profile {name!r}; choose from {', '.join(sorted(profiles))}")
    raw = apply_overrides(profiles[name], overrides)
    resources = raw.get("resources")
    default = resources.get("default") if isinstance(resources, dict) else None
    if not isinstance(default, dict) or not {"cpu", "memory"} <= set(default):
        raise ConfigError(f"profile {name!r}: missing or bad entry resources.default.cpu/memory")
    try:
        gpu = raw.get("gpu")
        retries = raw.get("retries") or {}
        return Profile(
            name=name,
            description=raw.get("description", ""),
            image=raw["image"],
            trainer_image=raw.get("trainer_image") or raw["image"],
            resources=raw["resources"],
            trainer_retries=int(retries.get("trainers", 0)),
            retry_backoff=str(retries.get("backoff", "0s")),
            retry_factor=float(retries.get("factor", 2.0)),
            gpu=_gpu(gpu) if gpu else None,
            storage_secret=raw.get("storage_secret") or None,
            env={str(k): str(v) for k, v in (raw.get("env") or {}).items()},
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f"profile {name!r} in {path}: missing or bad entry {exc}") from None


def _gpu(raw: dict[str, Any]) -> GpuSettings:
    return GpuSettings(
        resource=raw["resource"],
        limit=int(raw["limit"]),
        node_selector={raw["node_pool_label"]: raw["node_pool"], raw["type_label"]: raw["type"]},
        tolerations=list(raw.get("tolerations") or []),
    )
