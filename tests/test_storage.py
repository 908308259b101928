"""Object storage against both backends: a local directory and GCS through a real emulator.

The same contract is checked on both (create-only writes, compare-and-swap on generations,
listing, deletion), then what is built on it: the epoch-by-epoch checkpoint mirror, versioned
publication and the LATEST pointer under racing writers, and a trainer killed mid-run that
resumes from the emulator's checkpoint and ends exactly like an uninterrupted run.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from pipeline_support import gcs_emulator, gcs_server, small_reference_data, subprocess_env

from dwcp_training import checkpoint_store, storage
from dwcp_training.storage import (
    CREATE_ONLY,
    GcsStore,
    LocalStore,
    ObjectCheckpointStore,
    PreconditionFailed,
    VersionConflict,
)

__all__ = ["gcs_emulator", "gcs_server", "small_reference_data"]  # fixtures used below


@pytest.fixture(params=["local", "gcs"])
def store_uri(request, tmp_path) -> str:
    """A fresh, empty store root of each kind."""
    if request.param == "local":
        return f"file://{tmp_path / 'store'}"
    emulator = request.getfixturevalue("gcs_emulator")
    return f"gs://{emulator.bucket()}/root"


def test_open_object_store_picks_the_backend(tmp_path, gcs_emulator):
    assert isinstance(storage.open_object_store(str(tmp_path)), LocalStore)
    assert isinstance(storage.open_object_store(f"file://{tmp_path}"), LocalStore)
    assert isinstance(storage.open_object_store(f"gs://{gcs_emulator.bucket()}/x"), GcsStore)
    with pytest.raises(storage.ConfigError, match="unsupported object store"):
        storage.open_object_store("s3://bucket/x")


def test_write_read_list_delete(store_uri):
    store = storage.open_object_store(store_uri)
    assert store.read("a/b.txt") is None
    first = store.write("a/b.txt", b"one")
    second = store.write("a/b.txt", b"two")
    assert second > first
    got = store.read("a/b.txt")
    assert (got.data, got.generation) == (b"two", second)
    store.write("a/c.txt", b"x")
    store.write("z.txt", b"y")
    assert store.list("a/") == ["a/b.txt", "a/c.txt"]
    assert store.list() == ["a/b.txt", "a/c.txt", "z.txt"]
    store.delete("a/b.txt")
    store.delete("a/missing.txt")  # absent: no error
    assert store.list("a/") == ["a/c.txt"]


def test_create_only_and_compare_and_swap(store_uri, tmp_path):
    store = storage.open_object_store(store_uri)
    generation = store.write("LATEST", b"v1", if_generation_match=CREATE_ONLY)
    with pytest.raises(PreconditionFailed):
        store.write("LATEST", b"v1-again", if_generation_match=CREATE_ONLY)
    with pytest.raises(PreconditionFailed):
        store.write("LATEST", b"stale", if_generation_match=generation + 1)
    moved = store.write("LATEST", b"v2", if_generation_match=generation)
    with pytest.raises(PreconditionFailed):  # the generation we read is gone now
        store.write("LATEST", b"v3", if_generation_match=generation)
    assert store.read("LATEST").data == b"v2"
    source = tmp_path / "f.bin"
    source.write_bytes(b"payload")
    with pytest.raises(PreconditionFailed):
        store.upload("LATEST", source, if_generation_match=CREATE_ONLY)
    store.upload("LATEST", source, if_generation_match=moved)
    store.download("LATEST", tmp_path / "out" / "f.bin")
    assert (tmp_path / "out" / "f.bin").read_bytes() == b"payload"


# --- checkpoints ---------------------------------------------------------------------------


def _epoch(folder: Path, epoch: int, fingerprint: str = "fp") -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "latest.keras").write_bytes(f"weights-{epoch}".encode())
    (folder / "best.keras").write_bytes(f"best-{epoch}".encode())
    (folder / "state.json").write_text(
        json.dumps({"next_epoch": epoch, "fingerprint": fingerprint})
    )


def test_gs_and_file_schemes_are_registered_checkpoint_stores(tmp_path, gcs_emulator):
    assert isinstance(checkpoint_store.open_store(f"file://{tmp_path}/c"), ObjectCheckpointStore)
    uri = f"gs://{gcs_emulator.bucket()}/run/bandwidth/checkpoints"
    assert checkpoint_store.open_store(uri).uri == uri


def test_checkpoint_mirror_pushes_epochs_and_a_new_pod_pulls_the_last(store_uri, tmp_path):
    uri = f"{store_uri}/bandwidth/checkpoints"
    pod1 = tmp_path / "pod1"
    mirror = checkpoint_store.open_store(uri)
    assert mirror.pull(pod1) is False  # nothing stored yet
    for epoch in (1, 2, 3):
        _epoch(pod1, epoch)
        mirror.push(pod1)
    pod2 = tmp_path / "pod2"
    assert checkpoint_store.open_store(uri).pull(pod2) is True
    assert (pod2 / "latest.keras").read_bytes() == b"weights-3"
    assert json.loads((pod2 / "state.json").read_text())["next_epoch"] == 3
    # only the last two epochs are kept; the pointer names the newest
    folders = {k.split("/")[0] for k in storage.open_object_store(uri).list() if "/" in k}
    assert folders == {"epoch-00002-fp", "epoch-00003-fp"}
    # a pod that already holds the same run at that epoch keeps its own files
    assert checkpoint_store.open_store(uri).pull(pod2) is False


def test_half_uploaded_epoch_is_invisible(store_uri, tmp_path):
    """The pointer moves last: files of an epoch whose upload died are never pulled."""
    uri = f"{store_uri}/c"
    pod = tmp_path / "pod"
    _epoch(pod, 1)
    checkpoint_store.open_store(uri).push(pod)
    storage.open_object_store(uri).write("epoch-00002-fp/latest.keras", b"torn")  # died here
    fresh = tmp_path / "fresh"
    assert checkpoint_store.open_store(uri).pull(fresh)
    assert (fresh / "latest.keras").read_bytes() == b"weights-1"


def test_a_second_writer_of_the_same_checkpoints_fails_loudly(store_uri, tmp_path):
    uri = f"{store_uri}/c"
    first, zombie = checkpoint_store.open_store(uri), checkpoint_store.open_store(uri)
    _epoch(tmp_path / "a", 1)
    first.pull(tmp_path / "unused")
    zombie.pull(tmp_path / "unused2")
    first.push(tmp_path / "a")
    _epoch(tmp_path / "b", 1)
    with pytest.raises(RuntimeError, match="another trainer"):
        zombie.push(tmp_path / "b")


# --- versions and the LATEST pointer -------------------------------------------------------


def _files(tmp_path: Path, tag: str) -> dict[str, Path]:
    folder = tmp_path / tag
    folder.mkdir()
    (folder / "m.onnx").write_bytes(f"onnx-{tag}".encode())
    (folder / "contract.json").write_text("{}")
    return {"m.onnx": folder / "m.onnx", "contract.json": folder / "contract.json"}


def test_a_published_version_is_never_overwritten(store_uri, tmp_path):
    store = storage.open_object_store(store_uri)
    manifest, new = storage.publish_version(store, "m", "v1", _files(tmp_path, "a"), "sha-a")
    assert new and set(manifest["files"]) == {"m.onnx", "contract.json"}
    again, new = storage.publish_version(store, "m", "v1", _files(tmp_path, "a2"), "sha-a")
    assert not new and again["identity"] == "sha-a"
    with pytest.raises(VersionConflict):
        storage.publish_version(store, "m", "v1", _files(tmp_path, "b"), "sha-b")
    assert store.read("m/v1/m.onnx").data == b"onnx-a"
    assert storage.list_versions(store, "m") == ["v1"]


def test_leftovers_of_a_dead_upload_are_replaced(store_uri, tmp_path):
    store = storage.open_object_store(store_uri)
    store.write("m/v1/m.onnx", b"half")  # no manifest: not a version
    assert storage.version_manifest(store, "m", "v1") is None
    storage.publish_version(store, "m", "v1", _files(tmp_path, "a"), "sha-a")
    assert store.read("m/v1/m.onnx").data == b"onnx-a"


def test_pointer_moves_keep_history_and_roll_back(store_uri, tmp_path):
    store = storage.open_object_store(store_uri)
    for tag in ("v1", "v2", "v3"):
        storage.publish_version(store, "m", tag, _files(tmp_path, tag), tag)
        storage.move_pointer(store, "m", tag, updated_at="t")
    doc, _ = storage.read_pointer(store, "m")
    assert (doc["version"], doc["history"]) == ("v3", ["v1", "v2"])
    back = storage.rollback_pointer(store, "m", updated_at="t")
    assert (back["version"], back["history"]) == ("v2", ["v1"])
    to = storage.rollback_pointer(store, "m", updated_at="t", to_version="v3")
    assert (to["version"], to["history"]) == ("v3", ["v1", "v2"])
    with pytest.raises(storage.ConfigError, match="not a published version"):
        storage.rollback_pointer(store, "m", updated_at="t", to_version="v9")
    with pytest.raises(VersionConflict):
        storage.move_pointer(store, "m", "v9", updated_at="t")


def test_racing_pointer_moves_lose_nothing(store_uri, tmp_path):
    """Eight writers move LATEST at once: each lands exactly once, none is lost."""
    versions = [f"v{i}" for i in range(8)]
    setup = storage.open_object_store(store_uri)
    for v in versions:
        storage.publish_version(setup, "m", v, _files(tmp_path, v), v)
    barrier = threading.Barrier(len(versions))
    errors: list[BaseException] = []

    def move(version: str) -> None:
        store = storage.open_object_store(store_uri)  # one client per writer
        barrier.wait()
        try:
            storage.move_pointer(store, "m", version, updated_at="t")
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=move, args=(v,)) for v in versions]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    doc, _ = storage.read_pointer(setup, "m")
    assert sorted([*doc["history"], doc["version"]]) == versions


# --- resume from the emulator's checkpoint -------------------------------------------------

TRAIN_SCRIPT = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path
    from dwcp_training.models import TrainSettings
    from dwcp_training.train import train_model

    windows, out, uri, epochs = sys.argv[1:5]
    settings = TrainSettings(epochs=int(epochs), threads=2, checkpoint_uri=uri or None)
    report = train_model("bandwidth", Path(windows), Path(out), settings, ("onnx",))
    print(json.dumps(report))
    """
)


@pytest.fixture(scope="module")
def windows_dir(small_reference_data, tmp_path_factory) -> Path:
    from dwcp_training.train import prepare_windows

    out = tmp_path_factory.mktemp("train")
    return prepare_windows(small_reference_data / "dwcp_metrics.csv", out, 0.15, lambda _m: None)


def _train(windows: Path, out: Path, uri: str, epochs: int) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", TRAIN_SCRIPT, str(windows), str(out), uri, str(epochs)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=subprocess_env(),
    )


def _finish(proc: subprocess.Popen) -> tuple[dict, str]:
    stdout, stderr = proc.communicate(timeout=600)
    assert proc.returncode == 0, stderr[-3000:]
    return json.loads(stdout.strip().splitlines()[-1]), stdout  # train_model logs to stdout


def test_killed_trainer_resumes_from_the_emulator_and_ends_identical(
    windows_dir, gcs_emulator, tmp_path
):
    epochs = 5
    bucket = gcs_emulator.bucket()
    reference, _ = _finish(_train(windows_dir, tmp_path / "ref", f"gs://{bucket}/ref", epochs))

    uri = f"gs://{bucket}/run"
    pointer = f"{uri}/bandwidth/checkpoints"
    proc = _train(windows_dir, tmp_path / "pod1", uri, epochs)
    store, k = GcsStore(pointer), 0
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        got = store.read(storage.CHECKPOINT_POINTER)
        k = json.loads(got.data)["next_epoch"] if got else 0
        if k >= 2:
            os.kill(proc.pid, signal.SIGKILL)  # a preempted node: no clean-up at all
            break
        time.sleep(0.05)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "training ended before it could be killed"
    assert 2 <= k < epochs

    # a new pod: nothing local, only the object store remembers
    resumed, log = _finish(_train(windows_dir, tmp_path / "pod2", uri, epochs))
    assert "pulled the checkpoint" in log
    assert resumed["training"]["resumed_from_epoch"] >= k
    assert resumed["training"]["history"] == reference["training"]["history"]
    assert resumed["achieved_metrics"] == reference["achieved_metrics"]
