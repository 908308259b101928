"""Write files and folders so that a reader never sees half of them.

Everything a step produces is first written beside its destination under a temporary name and
then renamed into place (rename is atomic on POSIX within one filesystem). A crash or a
validation failure therefore leaves either the old output or nothing, never a torn file.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


@contextlib.contextmanager
def atomic_path(dest: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary file path next to `dest`; rename it onto `dest` if the block succeeds."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    os.chmod(tmp_path, 0o666 & ~_umask())  # mkstemp makes 0600; outputs are ordinary files
    try:
        yield tmp_path
        os.replace(tmp_path, dest)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


@contextlib.contextmanager
def atomic_dir(dest: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary folder next to `dest`; swap it into place if the block succeeds.

    An existing `dest` is replaced only after the new content is complete.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent))
    try:
        yield tmp
        if dest.exists():
            old = dest.with_name(f".{dest.name}.old")
            if old.exists():
                shutil.rmtree(old)
            os.replace(dest, old)
            os.replace(tmp, dest)
            shutil.rmtree(old)
        else:
            os.replace(tmp, dest)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)


def write_json(dest: str | os.PathLike[str], payload: Any, *, compact: bool = False) -> Path:
    """Write `payload` as key-sorted JSON, atomically: indented for people to read, or
    `compact` (no whitespace) for large machine-read documents such as a serialized forest,
    where indentation alone would more than double the file."""
    layout: dict[str, Any] = {"separators": (",", ":")} if compact else {"indent": 2}
    with atomic_path(dest) as tmp:
        tmp.write_text(json.dumps(payload, sort_keys=True, default=str, **layout) + "\n")
    return Path(dest)


def write_text(dest: str | os.PathLike[str], text: str) -> Path:
    """Write `text` to `dest` atomically."""
    with atomic_path(dest) as tmp:
        tmp.write_text(text)
    return Path(dest)
