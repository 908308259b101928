"""The push step and rollback, on a local directory and on GCS through the emulator.

The trained models here are small stand-in files (push never parses them, it hashes and
uploads them); what is checked is what push promises: only blessed models, only the evaluated
bytes, a version that is never overwritten, a LATEST pointer that moves atomically (racing
pushes in separate processes lose nothing) and a rollback that moves it back.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from pipeline_support import dwcp, gcs_emulator, gcs_server, subprocess_env

from dwcp_training import storage
from dwcp_training.errors import ConfigError
from dwcp_training.push import destination_uri, push, rollback

__all__ = ["gcs_emulator", "gcs_server"]


def _train_output(root: Path, name: str, payload: str, blessed: bool = True) -> tuple[Path, Path]:
    """A `dwcp train` model folder and a `dwcp evaluate` folder for one model."""
    model_dir, eval_dir = root / "ckpt" / name, root / "eval" / name
    model_dir.mkdir(parents=True)
    eval_dir.mkdir(parents=True)
    onnx = model_dir / f"{name}.onnx"
    onnx.write_bytes(payload.encode())
    (model_dir / f"{name}.keras").write_bytes(b"native " + payload.encode())
    contract = {
        "model": name,
        "title": name.title(),
        "go_interface": "PredictBandwidth(ctx, features []float64) (float64, error)",
        "input": {
            "name": "features",
            "shape": ["batch", 7],
            "features": [{"name": "rtt_ms", "unit": "ms", "type": "float"}],
        },
        "outputs": [{"name": "y", "meaning": "prediction"}],
        "threshold": None,
        "training_data_sha256": "ab" * 32,
    }
    (model_dir / "contract.json").write_text(json.dumps(contract))
    report = {"model_name": name, "artifacts": {"native": f"{name}.keras", "onnx": onnx.name}}
    (model_dir / "report.json").write_text(json.dumps(report))
    check = {"metric": "accuracy", "op": ">=", "value": 0.98, "achieved": 0.99, "met": blessed}
    (eval_dir / "evaluation.json").write_text(
        json.dumps({"blessing": {"checks": [{**check, "kind": "target"}]}, "test_data": {}})
    )
    blessing = {
        "model": name,
        "blessed": blessed,
        "version": "0.1.0-fingerprint",
        "onnx_sha256": hashlib.sha256(payload.encode()).hexdigest(),
        "reasons": ["BLESSED: every configured target met" if blessed else "NOT BLESSED: x"],
        "checks": [check],
    }
    (eval_dir / "blessing.json").write_text(json.dumps(blessing))
    return model_dir, root / "eval"


@pytest.fixture(params=["local", "gcs"])
def bucket(request, tmp_path) -> str:
    if request.param == "local":
        return str(tmp_path / "bucket")
    return f"gs://{request.getfixturevalue('gcs_emulator').bucket()}"


def _store(bucket: str):
    return storage.open_object_store(destination_uri(bucket, "dwcp"))


def test_only_blessed_models_are_pushed_with_their_files_and_card(bucket, tmp_path):
    good, evaluation = _train_output(tmp_path, "bandwidth", "model-a")
    bad, _ = _train_output(tmp_path, "latency", "model-b", blessed=False)
    results = push({"bandwidth": good, "latency": bad}, evaluation, bucket, "dwcp", log=print)
    by = {r["model"]: r for r in results}
    assert by["latency"] == {"model": "latency", "pushed": False, "reason": "NOT BLESSED: x"}
    version = by["bandwidth"]["version"]
    sha = hashlib.sha256(b"model-a").hexdigest()
    assert version == f"0.1.0-fingerprint-{sha[:8]}"
    store = _store(bucket)
    assert storage.list_versions(store, "latency") == []
    files = {k.split("/")[-1] for k in store.list(f"bandwidth/{version}/")}
    assert files == {
        "bandwidth.onnx",
        "bandwidth.keras",
        "contract.json",
        "report.json",
        "evaluation.json",
        "blessing.json",
        "MODEL_CARD.md",
        "manifest.json",
    }
    card = store.read(f"bandwidth/{version}/MODEL_CARD.md").data.decode()
    assert "PredictBandwidth" in card and "| rtt_ms | ms | float |" in card
    manifest = json.loads(store.read(f"bandwidth/{version}/manifest.json").data)
    assert manifest["identity"] == sha
    assert manifest["files"]["bandwidth.onnx"]["sha256"] == sha
    latest, _ = storage.read_pointer(store, "bandwidth")
    assert latest["version"] == version


def test_pushing_the_same_model_again_changes_nothing(bucket, tmp_path):
    model, evaluation = _train_output(tmp_path, "bandwidth", "model-a")
    first = push({"bandwidth": model}, evaluation, bucket, "dwcp", log=print)[0]
    _, generation = storage.read_pointer(_store(bucket), "bandwidth")
    again = push({"bandwidth": model}, evaluation, bucket, "dwcp", log=print)[0]
    assert again["version"] == first["version"] and again["new_version"] is False
    doc, _ = storage.read_pointer(_store(bucket), "bandwidth")
    assert doc["history"] == []  # the pointer did not stack the same version
    assert storage.list_versions(_store(bucket), "bandwidth") == [first["version"]]
    assert generation  # it was there before the second push


def test_an_unevaluated_file_is_refused(bucket, tmp_path):
    model, evaluation = _train_output(tmp_path, "bandwidth", "model-a")
    (model / "bandwidth.onnx").write_bytes(b"retrained after the evaluation")
    with pytest.raises(ConfigError, match="refusing to push an unevaluated file"):
        push({"bandwidth": model}, evaluation, bucket, "dwcp", log=print)
    assert storage.read_pointer(_store(bucket), "bandwidth") is None


def test_new_version_moves_latest_and_rollback_moves_it_back(bucket, tmp_path):
    v1 = push(
        {"bandwidth": _train_output(tmp_path / "1", "bandwidth", "m1")[0]},
        tmp_path / "1" / "eval",
        bucket,
        "dwcp",
    )[0]["version"]
    v2 = push(
        {"bandwidth": _train_output(tmp_path / "2", "bandwidth", "m2")[0]},
        tmp_path / "2" / "eval",
        bucket,
        "dwcp",
    )[0]["version"]
    doc, _ = storage.read_pointer(_store(bucket), "bandwidth")
    assert (doc["version"], doc["history"]) == (v2, [v1])
    back = rollback(bucket, "bandwidth", "dwcp")
    assert back["version"] == v1 and back["action"] == f"rollback from {v2}"
    with pytest.raises(ConfigError, match="only version"):
        rollback(bucket, "bandwidth", "dwcp")
    assert storage.list_versions(_store(bucket), "bandwidth") == sorted([v1, v2])  # kept


RACER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from dwcp_training.push import push
    root, bucket, start = Path(sys.argv[1]), sys.argv[2], float(sys.argv[3])
    time.sleep(max(0.0, start - time.time()))
    result = push({"bandwidth": root / "ckpt" / "bandwidth"}, root / "eval", bucket, "dwcp")
    print(result[0]["version"])
    """
)


def test_racing_pushes_in_separate_processes_both_land(bucket, tmp_path):
    """Six processes push six different models at the same instant; LATEST ends on one of them
    and its history holds the five others: no update was lost, nothing was torn."""
    import time

    roots = [tmp_path / f"r{i}" for i in range(6)]
    for i, root in enumerate(roots):
        _train_output(root, "bandwidth", f"model-{i}")
    start = time.time() + 3.0  # all of them past their imports by then
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", RACER, str(root), bucket, str(start)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=subprocess_env(),
        )
        for root in roots
    ]
    versions = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        versions.append(out.strip().splitlines()[-1])
    doc, _ = storage.read_pointer(_store(bucket), "bandwidth")
    assert sorted([*doc["history"], doc["version"]]) == sorted(versions)
    assert storage.list_versions(_store(bucket), "bandwidth") == sorted(versions)


def test_stale_pointer_write_is_rejected_by_the_store(bucket, tmp_path):
    """The precondition itself, as the emulator (or the directory store) enforces it."""
    push(
        {"bandwidth": _train_output(tmp_path, "bandwidth", "m")[0]},
        tmp_path / "eval",
        bucket,
        "dwcp",
    )
    store = _store(bucket)
    _, generation = storage.read_pointer(store, "bandwidth")
    store.write("bandwidth/LATEST", b"{}", if_generation_match=generation)  # someone moves it
    with pytest.raises(storage.PreconditionFailed):
        store.write("bandwidth/LATEST", b"{}", if_generation_match=generation)


def test_cli_push_list_and_rollback(tmp_path, capsys):
    bucket = str(tmp_path / "bucket")
    for i in (1, 2):
        model, evaluation = _train_output(tmp_path / str(i), "bandwidth", f"m{i}")
        argv = ["-q", "push", "--checkpoints-dir", str(model.parent)]
        assert dwcp([*argv, "--evaluation-dir", str(evaluation), "--bucket", bucket]) == 0
    out = capsys.readouterr().out
    assert "bandwidth" in out and "0.1.0-fingerprint-" in out
    assert dwcp(["rollback", "--bucket", bucket, "--model", "bandwidth", "--list"]) == 0
    assert "<- LATEST" in capsys.readouterr().out
    assert dwcp(["rollback", "--bucket", bucket, "--model", "bandwidth"]) == 0
    assert "rollback from" in capsys.readouterr().out
    assert dwcp(["rollback", "--bucket", bucket, "--model", "bandwidth"]) == 2
    assert "only version" in capsys.readouterr().err
