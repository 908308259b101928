#!/usr/bin/env bash
# Example: the GKE GPU node pool the `gpu` profile targets (pipelines/profiles.yaml).
# Its name and accelerator type are the profile's gpu.node_pool and gpu.type; GKE labels the
# nodes cloud.google.com/gke-nodepool=<pool> and cloud.google.com/gke-accelerator=<type> and
# taints them nvidia.com/gpu=present:NoSchedule, which the profile tolerates. Spot nodes are
# fine: trainers retry and resume from their gs:// checkpoints.
# Usage: CLUSTER=dwcp REGION=europe-west4 manifests/gke/gpu-node-pool.sh
set -euo pipefail

: "${CLUSTER:?set CLUSTER to the GKE cluster name}"
: "${REGION:?set REGION (or a zone) of the cluster}"
POOL="${POOL:-dwcp-gpu}"
GPU_TYPE="${GPU_TYPE:-nvidia-l4}"
MACHINE_TYPE="${MACHINE_TYPE:-g2-standard-8}"

if ! command -v gcloud >/dev/null 2>&1; then
  echo "gcloud is not installed: see https://cloud.google.com/sdk/docs/install" >&2
  exit 2
fi

gcloud container node-pools create "${POOL}" \
  --cluster "${CLUSTER}" \
  --location "${REGION}" \
  --machine-type "${MACHINE_TYPE}" \
  --accelerator "type=${GPU_TYPE},count=1,gpu-driver-version=default" \
  --spot \
  --enable-autoscaling --min-nodes 0 --max-nodes 4 \
  --workload-metadata GKE_METADATA

echo "node pool ${POOL} created; check it with: dwcp cluster check --set gpu.node_pool=${POOL} --set gpu.type=${GPU_TYPE}"
