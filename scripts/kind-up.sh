#!/usr/bin/env bash
# `make kind-up`: a kind cluster with Kubeflow Pipelines standalone (pinned), the project's
# namespace, service account and RBAC, and the project's CPU image loaded into the nodes.
# Optional: GOOGLE_APPLICATION_CREDENTIALS=key.json stores that key as the Secret
# dwcp-storage-credentials (from the file, never from YAML) for runs that use gs:// on kind.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/common.sh
source scripts/common.sh
require_cluster_tools

image="dwcp-training:$(project_version)"

if kind get clusters 2>/dev/null | grep -qx "${CLUSTER}"; then
  echo "kind cluster ${CLUSTER} exists: reusing it"
else
  kind create cluster --name "${CLUSTER}" --config manifests/kind/cluster.yaml --wait 120s
fi
kubectl config use-context "kind-${CLUSTER}" >/dev/null

echo "installing Kubeflow Pipelines (manifests/kfp, pinned)"
kubectl apply -k manifests/kfp/cluster-scoped
kubectl wait --for condition=established --timeout=120s crd/applications.app.k8s.io
kubectl apply -k manifests/kfp/env
kubectl apply -k manifests/overlays/kind

if [[ -n "${GOOGLE_APPLICATION_CREDENTIALS:-}" ]]; then
  [[ -f "${GOOGLE_APPLICATION_CREDENTIALS}" ]] || die "GOOGLE_APPLICATION_CREDENTIALS=${GOOGLE_APPLICATION_CREDENTIALS}: no such file"
  kubectl -n kubeflow create secret generic dwcp-storage-credentials \
    --from-file=key.json="${GOOGLE_APPLICATION_CREDENTIALS}" --dry-run=client -o yaml \
    | kubectl apply -f -
fi

echo "building and loading ${image}"
bash scripts/build-image.sh cpu
kind load docker-image "${image}" --name "${CLUSTER}"

echo "waiting for Kubeflow Pipelines to come up (several minutes on a laptop)"
kubectl -n kubeflow wait --for=condition=Available --timeout=900s deployment --all
echo "ready. UI: kubectl -n kubeflow port-forward svc/ml-pipeline-ui 8080:80"
