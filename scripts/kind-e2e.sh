#!/usr/bin/env bash
# `make kind-e2e`: run the whole pipeline on the kind cluster of `make kind-up` and print the
# result. Small reference data and 2 epochs: a smoke test of the cluster path, not of the models.
# Needs: DWCP_BUCKET=gs://... (data, pipeline root, checkpoints and models go there) and
# GOOGLE_APPLICATION_CREDENTIALS=key.json for a service account that may write it (kind-up
# stored the same key in the cluster).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/common.sh
source scripts/common.sh
require_cluster_tools
[[ -x "${BIN}/dwcp" ]] || die "${BIN}/dwcp missing: run \`make venv\` first"
: "${DWCP_BUCKET:?set DWCP_BUCKET to a gs:// bucket the cluster may write (e.g. gs://my-dwcp-e2e)}"
[[ "${DWCP_BUCKET}" == gs://* ]] || die "DWCP_BUCKET must be a gs:// URI, got ${DWCP_BUCKET}"
[[ -f "${GOOGLE_APPLICATION_CREDENTIALS:-}" ]] \
  || die "set GOOGLE_APPLICATION_CREDENTIALS to a service-account key file (and rerun make kind-up)"
kind get clusters 2>/dev/null | grep -qx "${CLUSTER}" || die "no kind cluster ${CLUSTER}: run \`make kind-up\` first"
kubectl config use-context "kind-${CLUSTER}" >/dev/null
kubectl -n kubeflow get secret dwcp-storage-credentials >/dev/null 2>&1 \
  || die "Secret kubeflow/dwcp-storage-credentials missing: rerun \`make kind-up\` with GOOGLE_APPLICATION_CREDENTIALS set"

work="build/kind-e2e"
run_id="$(date -u +%Y%m%dT%H%M%SZ)"
data_uri="${DWCP_BUCKET%/}/e2e/${run_id}/data"
mkdir -p "${work}"

echo "generating small reference data and uploading it to ${data_uri}"
"${BIN}/dwcp" generate --output-dir "${work}/data" --links 8 --hours 10
"${BIN}/python" - "${work}/data" "${data_uri}" <<'PY'
import sys
from pathlib import Path
from dwcp_training.storage import open_object_store
folder, uri = Path(sys.argv[1]), sys.argv[2]
store = open_object_store(uri)
for path in sorted(folder.iterdir()):
    store.upload(path.name, path)
    print(f"  {uri}/{path.name}")
PY

"${BIN}/dwcp" pipeline compile --profile cpu --set storage_secret=dwcp-storage-credentials \
  --output "${work}/pipeline.yaml"

kubectl -n kubeflow port-forward svc/ml-pipeline-ui 18080:80 >"${work}/port-forward.log" 2>&1 &
forward=$!
trap 'kill "${forward}" 2>/dev/null || true' EXIT
for _ in $(seq 1 30); do
  curl -fsS http://127.0.0.1:18080/apis/v2beta1/healthz >/dev/null 2>&1 && break
  sleep 1
done

status=0
"${BIN}/dwcp" pipeline submit --host http://127.0.0.1:18080 --experiment dwcp-kind-e2e \
  --pipeline "${work}/pipeline.yaml" --run-name "kind-e2e-${run_id}" \
  --train-data "${data_uri}/dwcp_metrics.csv" --test-data "${data_uri}/dwcp_test.csv" \
  --incidents "${data_uri}/labeled_incidents.json" \
  --bucket "${DWCP_BUCKET%/}" --prefix "e2e/${run_id}/models" --epochs 2 \
  --service-account dwcp-pipeline-runner --wait 3600 || status=$?

echo "models pushed by this run (LATEST per model):"
for model in bandwidth compression reliability latency; do
  "${BIN}/dwcp" rollback --bucket "${DWCP_BUCKET%/}" --prefix "e2e/${run_id}/models" \
    --model "${model}" --list || true
done
exit "${status}"
