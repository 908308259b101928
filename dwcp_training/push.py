"""The push step: ship blessed models to object storage, versioned and atomically; roll back.

    <bucket>/<prefix>/<model>/<version>/   ONNX, native artifact, contract, reports, model card,
                                           manifest.json (written last: the version exists)
    <bucket>/<prefix>/<model>/LATEST       pointer to the version the Go side should load

Why it is built this way:
- Only blessed models, and only the exact bytes that were evaluated: the ONNX file's SHA-256
  must equal the one in `blessing.json`, otherwise the push refuses (a wiring mistake upstream
  must not ship an unevaluated model).
- The version name ends with the ONNX hash, so it names one model for good: pushing the same
  model again is a no-op, and a published version is never overwritten (create-only writes).
- Deployers follow `LATEST`, which moves by compare-and-swap after the version is complete;
  `rollback` moves it back the same way. See `dwcp_training.storage` for the mechanics.
"""

from __future__ import annotations

import datetime as dt
import json
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from dwcp_training.errors import ConfigError
from dwcp_training.io import file_sha256
from dwcp_training.storage import (
    move_pointer,
    open_object_store,
    publish_version,
    rollback_pointer,
)

MODEL_CARD = "MODEL_CARD.md"


def _utc_now() -> str:
    return dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def destination_uri(bucket: str, prefix: str = "") -> str:
    """`gs://bucket` + `models/dwcp` -> `gs://bucket/models/dwcp` (a directory works the same)."""
    if not bucket:
        raise ConfigError("no bucket given (gs://bucket or a local directory)")
    base, tail = bucket.rstrip("/") or "/", prefix.strip("/")
    return f"{base.rstrip('/')}/{tail}" if tail else base


def _read(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path}: missing") from None


def model_card(
    report: dict[str, Any], contract: dict[str, Any], evaluation: dict[str, Any], version: str
) -> str:
    """A one-page Markdown model card from the training report, contract and evaluation."""
    lines = [
        f"# {contract.get('title', report.get('model_name'))} — `{version}`",
        "",
        f"- model: `{contract.get('model')}`; architecture: {report.get('architecture', '-')}",
        f"- Go interface: `{contract.get('go_interface')}`",
        f"- trained: {report.get('training_date')}, data sha256 "
        f"`{contract.get('training_data_sha256', '')[:16]}`",
        f"- evaluated on: `{evaluation.get('test_data', {}).get('path')}` "
        f"(sha256 `{str(evaluation.get('test_data', {}).get('sha256', ''))[:16]}`)",
        "",
        "## Inputs (raw units, in this order)",
        "",
        "| feature | unit | type |",
        "|---|---|---|",
    ]
    for f in contract.get("input", {}).get("features", []):
        lines.append(f"| {f['name']} | {f.get('unit') or '-'} | {f.get('type')} |")
    shape = contract.get("input", {}).get("shape")
    lines += ["", f"Input tensor `{contract.get('input', {}).get('name')}`: shape {shape}.", ""]
    lines += ["## Outputs", ""]
    lines += [f"- `{o['name']}`: {o['meaning']}" for o in contract.get("outputs", [])]
    if contract.get("threshold"):
        lines += ["", f"Decision threshold (inside the model): `{contract['threshold']}`"]
    lines += ["", "## Held-out evaluation", "", "| check | achieved | required | met |"]
    lines += ["|---|---|---|---|"]
    for c in evaluation.get("blessing", {}).get("checks", []):
        achieved = "-" if c.get("achieved") is None else f"{c['achieved']:.4g}"
        lines.append(
            f"| {c['kind']} {c['metric']} | {achieved} | {c['op']} {c['value']:.4g} | "
            f"{'yes' if c['met'] else 'no'} |"
        )
    lines += ["", "## Limits", ""]
    lines += [
        "- Trained and evaluated on the data named above; other link mixes need a new evaluation.",
        "- Normalization, encodings and thresholds live inside the ONNX graph: send raw features.",
    ]
    return "\n".join(lines) + "\n"


def push_model(
    store,
    name: str,
    model_dir: Path,
    evaluation_dir: Path,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Push one model if blessed; returns what happened (never raises for "not blessed")."""
    blessing_path = evaluation_dir / name / "blessing.json"
    if not blessing_path.is_file():
        return {"model": name, "pushed": False, "reason": f"no blessing at {blessing_path}"}
    blessing = _read(blessing_path)
    if not blessing.get("blessed"):
        reason = (blessing.get("reasons") or ["not blessed"])[0]
        log(f"{name}: not pushed ({reason})")
        return {"model": name, "pushed": False, "reason": reason}
    onnx = model_dir / f"{name}.onnx"
    digest = file_sha256(onnx)
    if digest != blessing.get("onnx_sha256"):
        raise ConfigError(
            f"{onnx}: sha256 {digest[:16]} differs from the evaluated model "
            f"{str(blessing.get('onnx_sha256'))[:16]}; refusing to push an unevaluated file"
        )
    report = _read(model_dir / "report.json")
    contract = _read(model_dir / "contract.json")
    evaluation = _read(evaluation_dir / name / "evaluation.json")
    version = f"{blessing['version']}-{digest[:8]}"
    with tempfile.TemporaryDirectory() as tmp:
        card = Path(tmp) / MODEL_CARD
        card.write_text(model_card(report, contract, evaluation, version))
        files = {
            onnx.name: onnx,
            "contract.json": model_dir / "contract.json",
            "report.json": model_dir / "report.json",
            "evaluation.json": evaluation_dir / name / "evaluation.json",
            "blessing.json": blessing_path,
            MODEL_CARD: card,
        }
        native = report.get("artifacts", {}).get("native")
        if native:
            files[native] = model_dir / native
        manifest, new = publish_version(
            store,
            name,
            version,
            files,
            identity=digest,
            extra={"published_at": _utc_now(), "blessing": blessing.get("reasons", [])[:1]},
        )
    pointer = move_pointer(store, name, version, updated_at=_utc_now())
    where = f"{store.uri}/{name}/{version}/"
    log(f"{name}: {'pushed' if new else 'already published'} {where}; LATEST -> {version}")
    return {
        "model": name,
        "pushed": True,
        "version": version,
        "uri": where,
        "new_version": new,
        "previous": pointer["history"][-1] if pointer["history"] else None,
        "files": sorted(manifest["files"]),
    }


def push(
    model_dirs: Mapping[str, Path],
    evaluation_dir: Path,
    bucket: str,
    prefix: str = "",
    log: Callable[[str], None] = print,
) -> list[dict[str, Any]]:
    """Push every blessed model of `model_dirs` ({name: folder with <name>.onnx, ...})."""
    store = open_object_store(destination_uri(bucket, prefix))
    return [
        push_model(store, name, Path(d), Path(evaluation_dir), log)
        for name, d in model_dirs.items()
    ]


def rollback(
    bucket: str, model: str, prefix: str = "", to_version: str | None = None
) -> dict[str, Any]:
    """Move `<model>/LATEST` back to the previous version (or to `to_version`)."""
    store = open_object_store(destination_uri(bucket, prefix))
    return rollback_pointer(store, model, updated_at=_utc_now(), to_version=to_version)
