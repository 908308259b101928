"""Where training checkpoints live besides the local disk.

Training always checkpoints into a local folder (fast, atomic renames). A `CheckpointStore`
mirrors that folder to durable storage: `pull` before training (a preempted pod's successor
finds the last epoch there), `push` after every epoch's commit. Local runs need no store; the
object-storage store (gs://) is registered by `dwcp_training.storage`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path
from typing import Protocol


class CheckpointStore(Protocol):
    """Mirror of one model's checkpoint folder."""

    uri: str

    def pull(self, local_dir: Path) -> bool:
        """Copy the stored checkpoint into `local_dir`; True when there was one."""

    def push(self, local_dir: Path) -> None:
        """Copy `local_dir`'s checkpoint files to the store (state.json last)."""


#: URI scheme -> factory; `dwcp_training.storage` registers "gs".
SCHEMES: dict[str, Callable[[str], CheckpointStore]] = {}


def open_store(uri: str | None) -> CheckpointStore | None:
    """A store for `uri` (e.g. gs://bucket/run/bandwidth/checkpoints); None for no mirror."""
    if not uri:
        return None
    scheme = uri.split("://", 1)[0] if "://" in uri else ""
    if scheme not in SCHEMES:
        with contextlib.suppress(ImportError):  # object-storage stores register on import
            import dwcp_training.storage  # noqa: F401
    if scheme not in SCHEMES:
        known = ", ".join(f"{s}://" for s in SCHEMES) or "none registered"
        raise ValueError(f"no checkpoint store for {uri!r} (known: {known})")
    return SCHEMES[scheme](uri)
