#!/usr/bin/env bash
# Shared helpers of the kind scripts: clear refusals instead of half-done clusters.
# Sourced, not run.

die() {
  echo "error: $*" >&2
  exit 2
}

# require TOOL HINT: stop with HINT when TOOL is not on PATH.
require() {
  command -v "$1" >/dev/null 2>&1 || die "$1 is not installed. $2"
}

# require_docker_engine: the docker CLI alone is not enough; kind needs a running engine.
require_docker_engine() {
  require docker "Install Docker Engine: https://docs.docker.com/engine/install/"
  docker info >/dev/null 2>&1 \
    || die "docker is installed but no Docker engine answers (is the daemon running, may this user use it?)"
}

require_cluster_tools() {
  require_docker_engine
  require kind "Install kind: https://kind.sigs.k8s.io/docs/user/quick-start/#installation"
  require kubectl "Install kubectl (1.30 or newer): https://kubernetes.io/docs/tasks/tools/"
}

# project_version: the version in pyproject.toml, which tags the images.
project_version() {
  sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml | head -n 1
}

CLUSTER="${CLUSTER:-dwcp}"
BIN="${BIN:-.venv/bin}"
export CLUSTER BIN
