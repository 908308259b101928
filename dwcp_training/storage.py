"""Object storage: one small interface over GCS (gs://) and a local directory.

Why an interface of our own instead of calling google-cloud-storage everywhere: the same push,
rollback and checkpoint code must run on a laptop (a directory stands in for the bucket), under
kfp.local and on a cluster (gs://), and the two guarantees it relies on must hold on both:

- create-only writes (`if_generation_match=0`): a published model version is never overwritten;
- compare-and-swap writes (`if_generation_match=<generation read>`): a pointer such as
  `<model>/LATEST` moves only if nobody moved it since it was read, so racing writers cannot
  lose each other's update.

GCS provides both natively. The directory store provides them with an exclusive `flock` around
each write and a generation number that is the file's modification time in nanoseconds, kept
strictly increasing; it is meant for one machine (flock is not reliable over NFS).

Importing this module registers the `gs://` and `file://` checkpoint stores (see
`dwcp_training.checkpoint_store`): training checkpoints are committed epoch by epoch into
`epoch-<k>-<run>/` folders and published by rewriting one small `checkpoint.json`, so a trainer
that is killed mid-upload leaves the previous epoch intact for its successor.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlparse

from dwcp_training import checkpoint_store
from dwcp_training.atomic import atomic_dir
from dwcp_training.errors import ConfigError
from dwcp_training.io import file_sha256

CREATE_ONLY = 0  # if_generation_match value meaning "only if the object does not exist"


class PreconditionFailed(Exception):
    """A conditional write lost: the object changed (or exists) since it was read."""


@dataclass(frozen=True)
class StoredObject:
    data: bytes
    generation: int


class ObjectStore(Protocol):
    """Keys are '/'-separated and relative to the store's root (`uri`)."""

    uri: str

    def read(self, key: str) -> StoredObject | None:
        """The object's bytes and the generation they belong to; None if absent."""

    def write(self, key: str, data: bytes, *, if_generation_match: int | None = None) -> int:
        """Write `data`; returns the new generation. Raises PreconditionFailed."""

    def upload(self, key: str, path: Path, *, if_generation_match: int | None = None) -> int:
        """Upload a local file; same precondition semantics as `write`."""

    def download(self, key: str, path: Path) -> None:
        """Copy the object to a local file (parents created)."""

    def list(self, prefix: str = "") -> list[str]:
        """Keys under `prefix` (recursively), sorted."""

    def delete(self, key: str) -> None:
        """Remove the object; absent objects are ignored."""


def join(*parts: str) -> str:
    """Join key parts with '/', ignoring empty parts and stray slashes."""
    return "/".join(p.strip("/") for p in parts if p and p.strip("/"))


# --- GCS ---------------------------------------------------------------------------------------


class GcsStore:
    """`gs://bucket/prefix` through google-cloud-storage (honours STORAGE_EMULATOR_HOST).

    Credentials come from the environment: Workload Identity on GKE, a key file named by
    GOOGLE_APPLICATION_CREDENTIALS elsewhere, anonymous against an emulator.
    """

    def __init__(self, uri: str, client: Any = None) -> None:
        parsed = urlparse(uri)
        if parsed.scheme != "gs" or not parsed.netloc:
            raise ConfigError(f"not a gs:// URI: {uri!r}")
        self.uri = uri.rstrip("/")
        self.prefix = parsed.path.strip("/")
        if client is None:
            from google.cloud import storage

            client = storage.Client()
        self._bucket = client.bucket(parsed.netloc)
        self._client = client

    def _name(self, key: str) -> str:
        return join(self.prefix, key)

    @contextlib.contextmanager
    def _precondition(self, key: str) -> Iterator[None]:
        from google.api_core import exceptions

        try:
            yield
        except exceptions.PreconditionFailed as exc:
            raise PreconditionFailed(f"{self.uri}/{key}: {exc.message}") from None

    def read(self, key: str) -> StoredObject | None:
        from google.api_core import exceptions

        for _ in range(POINTER_ATTEMPTS):
            blob = self._bucket.get_blob(self._name(key))
            if blob is None:
                return None
            try:  # the bytes of exactly the generation we name (it may move after get_blob)
                data = blob.download_as_bytes(if_generation_match=blob.generation)
            except (exceptions.PreconditionFailed, exceptions.NotFound):
                continue
            return StoredObject(data, int(blob.generation))
        raise PreconditionFailed(f"{self.uri}/{key}: changed under every read")

    def write(self, key: str, data: bytes, *, if_generation_match: int | None = None) -> int:
        blob = self._bucket.blob(self._name(key))
        with self._precondition(key):
            blob.upload_from_string(data, if_generation_match=if_generation_match)
        return int(blob.generation)

    def upload(self, key: str, path: Path, *, if_generation_match: int | None = None) -> int:
        blob = self._bucket.blob(self._name(key))
        with self._precondition(key):
            blob.upload_from_filename(str(path), if_generation_match=if_generation_match)
        return int(blob.generation)

    def download(self, key: str, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._bucket.blob(self._name(key)).download_to_filename(str(path))

    def list(self, prefix: str = "") -> list[str]:
        root = f"{self.prefix}/" if self.prefix else ""
        blobs = self._client.list_blobs(self._bucket, prefix=root + prefix.lstrip("/"))
        return sorted(b.name[len(root) :] for b in blobs)

    def delete(self, key: str) -> None:
        from google.api_core import exceptions

        with contextlib.suppress(exceptions.NotFound):
            self._bucket.blob(self._name(key)).delete()


# --- local directory ---------------------------------------------------------------------------


class LocalStore:
    """A directory playing the bucket: same keys, same preconditions, one machine."""

    LOCKS = ".locks"

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).expanduser().resolve()
        self.uri = str(self.root)

    def _path(self, key: str) -> Path:
        key = key.strip("/")
        if not key or any(part in ("", ".", "..") for part in key.split("/")):
            raise ValueError(f"bad object key {key!r}")
        return self.root / key

    @contextlib.contextmanager
    def _locked(self, key: str) -> Iterator[None]:
        lock_dir = self.root / self.LOCKS
        lock_dir.mkdir(parents=True, exist_ok=True)
        lock_path = lock_dir / hashlib.sha256(key.encode()).hexdigest()[:32]
        with open(lock_path, "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    @staticmethod
    def _generation(path: Path) -> int | None:
        try:
            return path.stat().st_mtime_ns
        except FileNotFoundError:
            return None

    def read(self, key: str) -> StoredObject | None:
        try:  # fstat of the open file: the generation of exactly the bytes read
            with open(self._path(key), "rb") as handle:
                return StoredObject(handle.read(), os.fstat(handle.fileno()).st_mtime_ns)
        except FileNotFoundError:
            return None

    def _put(self, key: str, fill, if_generation_match: int | None) -> int:
        dest = self._path(key)
        dest.parent.mkdir(parents=True, exist_ok=True)
        with self._locked(key):
            current = self._generation(dest)
            if if_generation_match is not None and (current or CREATE_ONLY) != if_generation_match:
                state = "exists" if current else "does not exist"
                raise PreconditionFailed(
                    f"{dest}: {state} (generation {current}), expected {if_generation_match}"
                )
            fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
            os.close(fd)
            try:
                fill(Path(tmp))
                generation = Path(tmp).stat().st_mtime_ns
                if current is not None and generation <= current:  # keep generations increasing
                    generation = current + 1
                    os.utime(tmp, ns=(generation, generation))
                os.replace(tmp, dest)
            finally:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp)
        return generation

    def write(self, key: str, data: bytes, *, if_generation_match: int | None = None) -> int:
        return self._put(key, lambda tmp: tmp.write_bytes(data), if_generation_match)

    def upload(self, key: str, path: Path, *, if_generation_match: int | None = None) -> int:
        return self._put(key, lambda tmp: shutil.copyfile(path, tmp), if_generation_match)

    def download(self, key: str, path: Path) -> None:
        source = self._path(key)
        if not source.is_file():
            raise FileNotFoundError(f"{source}: no such object")
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, path)

    def list(self, prefix: str = "") -> list[str]:
        if not self.root.is_dir():
            return []
        keys = []
        for path in self.root.rglob("*"):
            rel = path.relative_to(self.root).as_posix()
            if path.is_file() and not any(p.startswith(".") for p in rel.split("/")):
                keys.append(rel)
        return sorted(k for k in keys if k.startswith(prefix.lstrip("/")))

    def delete(self, key: str) -> None:
        with self._locked(key), contextlib.suppress(FileNotFoundError):
            self._path(key).unlink()


def open_object_store(uri: str) -> ObjectStore:
    """`gs://bucket/prefix` -> GcsStore; `file:///dir` or a plain path -> LocalStore."""
    if not uri:
        raise ConfigError("no object-store location given (gs://bucket/prefix or a directory)")
    parsed = urlparse(uri)
    if parsed.scheme == "gs":
        return GcsStore(uri)
    if parsed.scheme == "file":
        return LocalStore(parsed.path)
    if parsed.scheme and len(parsed.scheme) > 1:  # not a Windows drive letter
        raise ConfigError(f"unsupported object store {uri!r}: use gs://bucket/prefix or a path")
    return LocalStore(uri)


# --- checkpoints in object storage -------------------------------------------------------------

CHECKPOINT_POINTER = "checkpoint.json"
STATE_FILE = "state.json"  # the trainer's commit point (dwcp_training.models.keras_trainer)
KEEP_EPOCHS = 2


class ObjectCheckpointStore:
    """Mirror of a trainer's checkpoint folder in an object store (gs:// or file://).

    Each `push` uploads the folder into a fresh `epoch-<k>-<run>/` prefix and then rewrites
    `checkpoint.json` to name it: objects are atomic one by one, not as a group, so the pointer
    is what makes an epoch's files visible together. The pointer is written with the generation
    this store last saw, so a second trainer writing the same checkpoints (a zombie pod) fails
    loudly instead of interleaving epochs.
    """

    def __init__(self, uri: str) -> None:
        self.uri = uri.rstrip("/")
        self.store = open_object_store(self.uri)
        self._generation: int | None = None

    def _pointer(self) -> dict[str, Any] | None:
        got = self.store.read(CHECKPOINT_POINTER)
        self._generation = got.generation if got else CREATE_ONLY
        return json.loads(got.data) if got else None

    def pull(self, local_dir: Path) -> bool:
        pointer = self._pointer()
        if pointer is None or not _remote_is_newer(pointer, local_dir / STATE_FILE):
            return False
        with atomic_dir(local_dir) as tmp:
            for name in pointer["files"]:
                self.store.download(join(pointer["folder"], name), tmp / name)
        return True

    def push(self, local_dir: Path) -> None:
        state = json.loads((local_dir / STATE_FILE).read_text())
        # The run's fingerprint in the name: a new run never rewrites the folder that the
        # pointer still names for an older run (a crash mid-upload would mix the two).
        run = str(state.get("fingerprint") or "run")[:12]
        folder = f"epoch-{int(state.get('next_epoch', 0)):05d}-{run}"
        files = sorted(p.name for p in local_dir.iterdir() if p.is_file() and p.name != STATE_FILE)
        for name in [*files, STATE_FILE]:  # state last, as on disk
            self.store.upload(join(folder, name), local_dir / name)
        if self._generation is None:
            self._pointer()
        pointer = {
            "folder": folder,
            "files": [*files, STATE_FILE],
            "next_epoch": state.get("next_epoch"),
            "fingerprint": state.get("fingerprint"),
        }
        try:
            self._generation = self.store.write(
                CHECKPOINT_POINTER,
                json.dumps(pointer, indent=2).encode(),
                if_generation_match=self._generation,
            )
        except PreconditionFailed as exc:
            raise RuntimeError(
                f"{self.uri}: another trainer moved the checkpoint pointer ({exc}); "
                "two pods are training the same model into the same checkpoint location"
            ) from None
        self._prune(keep=folder)

    def _prune(self, keep: str) -> None:
        """Delete epoch folders older than the last KEEP_EPOCHS (the pointer names the newest)."""
        folders = sorted({k.split("/", 1)[0] for k in self.store.list() if k.startswith("epoch-")})
        for folder in folders[: max(0, len(folders) - KEEP_EPOCHS)]:
            if folder != keep:
                for key in self.store.list(f"{folder}/"):
                    self.store.delete(key)


def _remote_is_newer(pointer: dict[str, Any], local_state: Path) -> bool:
    """Pull unless the local folder already holds the same run at the same or a later epoch."""
    if not local_state.is_file():
        return True
    local = json.loads(local_state.read_text())
    if local.get("fingerprint") != pointer.get("fingerprint"):
        return True
    return int(pointer.get("next_epoch") or 0) > int(local.get("next_epoch") or 0)


checkpoint_store.SCHEMES.setdefault("gs", ObjectCheckpointStore)
checkpoint_store.SCHEMES.setdefault("file", ObjectCheckpointStore)


# --- versioned, atomic model publication -------------------------------------------------------
#
# Layout under the store's root:
#   <model>/<version>/<files...>      written create-only, then
#   <model>/<version>/manifest.json   written create-only LAST: a version exists iff it has one
#   <model>/LATEST                    the pointer, moved by compare-and-swap on its generation

MANIFEST = "manifest.json"
LATEST = "LATEST"
HISTORY_LIMIT = 50
POINTER_ATTEMPTS = 8


class VersionConflict(Exception):
    """A published version already holds a different model; versions are never overwritten."""


def _read_json(store: ObjectStore, key: str) -> tuple[dict[str, Any], int] | None:
    got = store.read(key)
    return (json.loads(got.data), got.generation) if got else None


def version_manifest(store: ObjectStore, model: str, version: str) -> dict[str, Any] | None:
    """The manifest of a published version; None when the version does not exist (yet)."""
    got = _read_json(store, join(model, version, MANIFEST))
    return got[0] if got else None


def publish_version(
    store: ObjectStore,
    model: str,
    version: str,
    files: dict[str, Path],
    identity: str,
    extra: dict[str, Any] | None = None,
) -> tuple[dict[str, Any], bool]:
    """Upload `files` as `<model>/<version>/`; returns (manifest, newly_published).

    `identity` is what makes two uploads the same model (the ONNX file's sha256): publishing a
    version again with the same identity is a no-op, with another one a VersionConflict. Files
    left by an attempt that died before its manifest are not a version yet and are replaced.
    """
    manifest = {
        "model": model,
        "version": version,
        "identity": identity,
        "files": {
            name: {"sha256": file_sha256(p), "bytes": p.stat().st_size} for name, p in files.items()
        },
        **(extra or {}),
    }

    def already(published: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        if published.get("identity") != identity:
            raise VersionConflict(
                f"{store.uri}/{join(model, version)} is already published with another model "
                f"(identity {published.get('identity')}, this one {identity})"
            )
        return published, False

    published = version_manifest(store, model, version)
    if published is not None:
        return already(published)
    for name, path in files.items():
        key = join(model, version, name)
        try:
            store.upload(key, path, if_generation_match=CREATE_ONLY)
        except PreconditionFailed:
            if (published := version_manifest(store, model, version)) is not None:
                return already(published)  # a racing push of the same version won
            leftover = store.read(key)
            if (
                leftover
                and hashlib.sha256(leftover.data).hexdigest() != manifest["files"][name]["sha256"]
            ):
                store.upload(key, path, if_generation_match=leftover.generation)
    try:
        store.write(
            join(model, version, MANIFEST),
            json.dumps(manifest, indent=2, sort_keys=True).encode(),
            if_generation_match=CREATE_ONLY,
        )
    except PreconditionFailed:
        return already(version_manifest(store, model, version) or {})
    return manifest, True


def read_pointer(store: ObjectStore, model: str) -> tuple[dict[str, Any], int] | None:
    """`<model>/LATEST` and its generation; None before the first push."""
    return _read_json(store, join(model, LATEST))


def _write_pointer(store: ObjectStore, model: str, doc: dict[str, Any], generation: int) -> int:
    data = json.dumps(doc, indent=2, sort_keys=True).encode()
    return store.write(join(model, LATEST), data, if_generation_match=generation)


def move_pointer(
    store: ObjectStore, model: str, version: str, *, updated_at: str, action: str = "push"
) -> dict[str, Any]:
    """Point `<model>/LATEST` at a published `version`, keeping the previous ones as history.

    Read-modify-write with a generation precondition, retried on conflict: two racing pushes
    both land in order (the later one's history names the earlier), neither is lost and the
    pointer is never a mix of the two. Pointing it at the version it already names writes
    nothing.
    """
    if version_manifest(store, model, version) is None:
        raise VersionConflict(f"{store.uri}/{join(model, version)} is not a published version")
    for _ in range(POINTER_ATTEMPTS):
        current = read_pointer(store, model)
        doc, generation = current if current else ({}, CREATE_ONLY)
        if doc.get("version") == version:
            return doc  # already there: an idempotent re-push leaves the pointer untouched
        history = list(doc.get("history", []))
        if doc.get("version") and doc["version"] != version:
            history.append(doc["version"])
        new = {
            "model": model,
            "version": version,
            "path": join(model, version) + "/",
            "updated_at": updated_at,
            "action": action,
            "history": history[-HISTORY_LIMIT:],
        }
        try:
            _write_pointer(store, model, new, generation)
            return new
        except PreconditionFailed:
            continue
    raise PreconditionFailed(f"{store.uri}/{join(model, LATEST)}: still contended, giving up")


def rollback_pointer(
    store: ObjectStore, model: str, *, updated_at: str, to_version: str | None = None
) -> dict[str, Any]:
    """Move `<model>/LATEST` back: to the previous version, or to `to_version`.

    Not retried: if another push or rollback moved the pointer since it was read, the user
    should look again rather than roll back something they have not seen.
    """
    current = read_pointer(store, model)
    if current is None:
        raise ConfigError(f"{store.uri}/{join(model, LATEST)}: nothing pushed yet")
    doc, generation = current
    history = list(doc.get("history", []))
    if to_version is None:
        if not history:
            raise ConfigError(f"{model}: {doc['version']} is the only version ever pointed to")
        target, history = history[-1], history[:-1]
    else:
        target, history = to_version, [*history, doc["version"]]
    if version_manifest(store, model, target) is None:
        raise ConfigError(f"{store.uri}/{join(model, target)} is not a published version")
    new = {
        **doc,
        "version": target,
        "path": join(model, target) + "/",
        "updated_at": updated_at,
        "action": f"rollback from {doc['version']}",
        "history": history[-HISTORY_LIMIT:],
    }
    _write_pointer(store, model, new, generation)
    return new


def list_versions(store: ObjectStore, model: str) -> list[str]:
    """Published versions of `model` (those with a manifest), sorted by name."""
    suffix = f"/{MANIFEST}"
    prefix = f"{model}/"
    return sorted(
        k[len(prefix) : -len(suffix)]
        for k in store.list(prefix)
        if k.endswith(suffix) and k.count("/") == 2
    )
