"""Submit the compiled pipeline to a Kubeflow Pipelines API server (`dwcp pipeline submit`).

Why the data's SHA-256 is computed here: it becomes the `*_sha256` pipeline parameters, which
put the files' content into every step's cache key (see pipelines/dwcp_pipeline.py) and let
`validate` refuse a file that changed between submission and execution.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from dwcp_training.errors import ConfigError
from dwcp_training.io import file_sha256


def content_sha256(uri: str) -> str:
    """SHA-256 of a local file or a gs:// object (streamed, never held in memory)."""
    parsed = urlparse(uri)
    if parsed.scheme == "gs":
        from google.cloud import storage

        blob = storage.Client().bucket(parsed.netloc).blob(parsed.path.lstrip("/"))
        digest = hashlib.sha256()
        with blob.open("rb", chunk_size=8 << 20) as handle:
            for chunk in iter(lambda: handle.read(8 << 20), b""):
                digest.update(chunk)
        return digest.hexdigest()
    if parsed.scheme not in ("", "file"):
        raise ConfigError(f"cannot hash {uri!r}: only gs:// and local files (or --no-data-hash)")
    path = Path(parsed.path if parsed.scheme == "file" else uri)
    if not path.is_file():
        raise ConfigError(f"{uri}: no such file")
    return file_sha256(path)


@dataclass
class Submission:
    host: str
    experiment: str
    pipeline_file: Path
    arguments: dict[str, Any]
    pipeline_root: str | None = None
    run_name: str | None = None
    namespace: str | None = None
    service_account: str | None = None
    enable_caching: bool | None = None


def submit(sub: Submission, wait_seconds: float | None = None) -> dict[str, Any]:
    """Create the run; with `wait_seconds`, wait for it and report its final state."""
    import kfp

    client = kfp.Client(host=sub.host, namespace=sub.namespace)
    result = client.create_run_from_pipeline_package(
        str(sub.pipeline_file),
        arguments=sub.arguments,
        run_name=sub.run_name,
        experiment_name=sub.experiment,
        namespace=sub.namespace,
        pipeline_root=sub.pipeline_root,
        enable_caching=sub.enable_caching,
        service_account=sub.service_account,
    )
    out: dict[str, Any] = {
        "run_id": result.run_id,
        "url": f"{sub.host.rstrip('/')}/#/runs/details/{result.run_id}",
    }
    if wait_seconds is not None:
        run = client.wait_for_run_completion(result.run_id, timeout=wait_seconds)
        out["state"] = str(getattr(run, "state", "UNKNOWN"))
    return out
