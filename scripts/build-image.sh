#!/usr/bin/env bash
# `make image` / `make image-gpu`: build the project's image, tagged with the project version.
# Usage: scripts/build-image.sh cpu|gpu
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/common.sh
source scripts/common.sh
require_docker_engine

kind="${1:-cpu}"
case "${kind}" in
  cpu) name="dwcp-training" ;;
  gpu) name="dwcp-training-gpu" ;;
  *) die "usage: $0 cpu|gpu" ;;
esac
image="${name}:$(project_version)"
docker build -f "images/${kind}.Dockerfile" -t "${image}" .
echo "built ${image}"
