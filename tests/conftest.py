"""Shared fixtures: small valid telemetry built from the schema, and writers for it.

The valid frame is generated from `schemas/dwcp_training_schema.json` itself (types, ranges,
categories), so a schema change cannot leave the fixtures silently out of date; the bad-input
tests then break exactly one rule of it at a time.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dwcp_training.io import write_telemetry
from dwcp_training.schema import ColumnSpec, Schema, load_schema

START_EPOCH = 1_704_067_200  # 2024-01-01T00:00:00Z
INTERVAL_S = 10
LINKS = (("node-a", "node-b"), ("node-a", "node-c"), ("node-b", "node-c"))


def build_frame(
    n_links: int = 3, n_steps: int = 30, seed: int = 0, schema: Schema | None = None
) -> pd.DataFrame:
    """A valid telemetry frame: every schema column, `n_links` links x `n_steps` samples.

    Rows are sorted by epoch_time with the links interleaved (row 3k + j is link j at step k
    for three links), as an exporter writes them.
    """
    schema = schema or load_schema()
    rng = np.random.default_rng(seed)
    n = n_links * n_steps
    link = np.tile(np.arange(n_links), n_steps)
    step = np.repeat(np.arange(n_steps), n_links)
    epoch = START_EPOCH + step.astype(np.int64) * INTERVAL_S
    columns: dict[str, object] = {}
    for spec in schema.columns:
        columns[spec.name] = _column_values(spec, rng, n, link)
    columns[schema.time_column] = epoch
    columns[schema.timestamp_column] = pd.to_datetime(epoch, unit="s", utc=True)
    node, peer = _link_names(n_links)
    columns[schema.link_key[0]] = pd.array(node[link], dtype="str")
    columns[schema.link_key[1]] = pd.array(peer[link], dtype="str")
    return pd.DataFrame(columns)


def _link_names(n_links: int) -> tuple[np.ndarray, np.ndarray]:
    if n_links <= len(LINKS):
        pairs = LINKS[:n_links]
    else:
        pairs = tuple((f"node-{i // 4:04d}", f"peer-{i:05d}") for i in range(n_links))
    return np.array([p[0] for p in pairs]), np.array([p[1] for p in pairs])


def _column_values(spec: ColumnSpec, rng: np.random.Generator, n: int, link: np.ndarray) -> object:
    """Valid values for one column, drawn inside its schema range."""
    if spec.type == "category":
        values = np.array(spec.values)
        return pd.array(values[(link + rng.integers(0, 2, n)) % len(values)], dtype="str")
    if spec.type == "string":
        return pd.array([f"{spec.name}-{k}" for k in link], dtype="str")
    if spec.type == "binary":
        return (rng.random(n) < 0.2).astype(np.int64)
    low = spec.min if spec.min is not None else 0.0
    high = spec.max if spec.max is not None else low + 1000.0
    if spec.type == "int":
        return rng.integers(int(low), int(high) + 1, n).astype(np.int64)
    return np.round(rng.uniform(low, high, n), 4)


@pytest.fixture
def valid_frame() -> pd.DataFrame:
    """3 links x 30 timestamps, all 40 schema columns, valid values, sorted by epoch_time."""
    return build_frame()


@pytest.fixture
def make_frame() -> Callable[..., pd.DataFrame]:
    """Factory for other sizes: make_frame(n_links=5, n_steps=100, seed=1)."""
    return build_frame


@pytest.fixture
def write_csv(tmp_path: Path) -> Callable[..., Path]:
    """write_csv(frame, name="telemetry.csv") -> path of the CSV written in tmp_path."""

    def write(frame: pd.DataFrame, name: str = "telemetry.csv") -> Path:
        return write_telemetry(frame, tmp_path / name, "csv")

    return write


@pytest.fixture
def write_parquet(tmp_path: Path) -> Callable[..., Path]:
    """write_parquet(frame, name="telemetry.parquet") -> path of the file in tmp_path."""

    def write(frame: pd.DataFrame, name: str = "telemetry.parquet") -> Path:
        return write_telemetry(frame, tmp_path / name, "parquet")

    return write
