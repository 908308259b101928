"""Window step: split and window properties on random small inputs (hypothesis).

Each row's numeric values encode (link, position) so a test can check exactly which rows a
window and its target came from: value = 1000 * link + position.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dwcp_training.models import MODEL_INPUTS
from dwcp_training.schema import load_schema
from dwcp_training.window import FEATURES, load_windows, window_frame, write_windows

SCHEMA = load_schema()
SEQ = SCHEMA.sequence_length


def encoded_frame(lengths: list[int], seed: int = 0) -> pd.DataFrame:
    """A typed frame with one link per entry of `lengths`, rows interleaved in time order."""
    rng = np.random.default_rng(seed)
    parts = []
    for link, n in enumerate(lengths):
        pos = np.arange(n)
        times = 1_700_000_000 + np.cumsum(rng.integers(1, 5, size=n)) * 60
        code = 1000.0 * link + pos
        part = pd.DataFrame(
            {
                "node_id": f"node-{link // 2}",
                "peer_id": f"peer-{link}",
                "epoch_time": times,
                "link_type": pd.Categorical(
                    np.array(["dc", "metro", "wan", "edge"])[rng.integers(0, 4, size=n)],
                    categories=SCHEMA.categories("link_type"),
                ),
                "network_tier": pd.Categorical(
                    ["tier2"] * n, categories=SCHEMA.categories("network_tier")
                ),
                "optimal_compression": rng.integers(0, 10, size=n),
                "is_anomaly": (pos % 7 == 0).astype(int),
                "is_high_latency": (pos % 11 == 0).astype(int),
            }
        )
        numeric = {c for cols in FEATURES.values() for c in cols} - {"link_type", "network_tier"}
        for column in sorted(numeric):
            part[column] = code
        parts.append(part)
    frame = pd.concat(parts, ignore_index=True)
    return frame.sort_values(["epoch_time", "peer_id"], kind="stable").reset_index(drop=True)


lengths_strategy = st.lists(st.integers(min_value=0, max_value=90), min_size=1, max_size=6)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(lengths=lengths_strategy, seed=st.integers(0, 10_000))
def test_bandwidth_target_is_exactly_the_next_step_of_the_same_link_and_split(lengths, seed):
    frame = encoded_frame(lengths, seed)
    ws = window_frame(frame, SCHEMA)
    seq = SEQ["bandwidth"]
    tp = FEATURES["bandwidth"].index("throughput_mbps")
    for arrays in ws.arrays["bandwidth"].values():
        x = arrays.X
        assert x.shape == (len(arrays), seq, 7) and x.dtype == np.float32
        codes = x[:, :, tp].astype(np.int64)
        # consecutive positions of a single link ...
        assert (np.diff(codes, axis=1) == 1).all()
        peers = np.array([int(p.split("-")[1]) for p in ws.meta["links"]["peer_id"]])
        assert (codes // 1000 == peers[arrays.link][:, None]).all()
        # ... and the target is the very next row.
        np.testing.assert_array_equal(arrays.y.astype(np.int64), codes[:, -1] + 1)


@settings(max_examples=40, deadline=None)
@given(lengths=lengths_strategy, seed=st.integers(0, 10_000))
def test_no_window_crosses_a_split_boundary(lengths, seed):
    frame = encoded_frame(lengths, seed)
    ws = window_frame(frame, SCHEMA)
    # Position ranges of each split per link, from the row models (every row is a sample).
    ranges: dict[tuple[int, str], tuple[int, int]] = {}
    col = FEATURES["reliability"].index("rtt_ms")
    for split, arrays in ws.arrays["reliability"].items():
        pos = arrays.X[:, col].astype(np.int64) % 1000
        for link in np.unique(arrays.link):
            p = pos[arrays.link == link]
            ranges[(int(link), split)] = (int(p.min()), int(p.max()))
    for model in ("bandwidth", "latency"):
        for split, arrays in ws.arrays[model].items():
            x = arrays.X
            first = (x[:, 0, 0] if x.ndim == 3 else x[:, 0]).astype(np.int64) % 1000
            last = (x[:, -1, 0] if x.ndim == 3 else x[:, -1]).astype(np.int64) % 1000
            if model == "bandwidth":
                last = last + 1  # the target row belongs to the window too
            for link, lo, hi in zip(arrays.link, first, last, strict=True):
                r_lo, r_hi = ranges[(int(link), split)]
                assert r_lo <= lo and hi <= r_hi


@settings(max_examples=30, deadline=None)
@given(lengths=lengths_strategy, seed=st.integers(0, 10_000))
def test_split_is_per_link_70_15_15_in_time_order(lengths, seed):
    frame = encoded_frame(lengths, seed)
    ws = window_frame(frame, SCHEMA)
    col = FEATURES["compression"].index("rtt_ms")
    seen: dict[int, list[np.ndarray]] = {}
    for split in ("train", "validation", "test"):
        arrays = ws.arrays["compression"][split]
        pos = arrays.X[:, col].astype(np.int64) % 1000
        for link in np.unique(arrays.link):
            seen.setdefault(int(link), []).append(np.sort(pos[arrays.link == link]))
    # Every row appears once, and train < validation < test in time within each link.
    for parts in seen.values():
        joined = np.concatenate(parts)
        assert (np.diff(joined) == 1).all()
    assert ws.meta["split_rows"]["train"] == sum(int(np.floor(0.7 * n + 1e-9)) for n in lengths)


@settings(max_examples=30, deadline=None)
@given(lengths=lengths_strategy, seed=st.integers(0, 10_000))
def test_latency_label_is_any_high_latency_sample_in_the_window(lengths, seed):
    frame = encoded_frame(lengths, seed)
    ws = window_frame(frame, SCHEMA)
    seq = SEQ["latency"]
    for arrays in ws.arrays["latency"].values():
        x = arrays.X
        assert x.shape == (len(arrays), seq)
        pos = x.astype(np.int64) % 1000
        expected = (pos % 11 == 0).any(axis=1).astype(np.int64)
        np.testing.assert_array_equal(arrays.y, expected)


def test_row_traces_back_to_the_input_row():
    frame = encoded_frame([40, 55, 31], seed=3)
    ws = window_frame(frame, SCHEMA)
    for model in MODEL_INPUTS:
        for arrays in ws.arrays[model].values():
            x = arrays.X
            last = x[:, -1, 0] if x.ndim == 3 else (x[:, -1] if model == "latency" else x[:, 0])
            source = frame[MODEL_INPUTS[model].features[0]].to_numpy()[arrays.row]
            np.testing.assert_array_equal(last, source.astype(np.float32))


def test_categoricals_are_schema_indices():
    frame = encoded_frame([30], seed=1)
    ws = window_frame(frame, SCHEMA, {"test": 1.0})
    col = FEATURES["compression"].index("link_type")
    x = ws.arrays["compression"]["test"].X
    expected = frame["link_type"].cat.codes.to_numpy()[ws.arrays["compression"]["test"].row]
    np.testing.assert_array_equal(x[:, col], expected)
    assert ws.meta["encodings"]["link_type"] == ["dc", "metro", "wan", "edge"]


def test_scalers_use_train_rows_only():
    frame = encoded_frame([100, 100], seed=2)
    ws = window_frame(frame, SCHEMA)
    scaler = ws.meta["models"]["reliability"]["scaler"]
    col = FEATURES["reliability"].index("rtt_ms")
    train_codes = np.concatenate([np.arange(70), 1000 + np.arange(70)])
    assert scaler["mean"][col] == pytest.approx(train_codes.mean())
    assert scaler["max"][col] == 1069


def test_test_only_split_has_no_scaler_and_every_row():
    frame = encoded_frame([25, 30], seed=4)
    ws = window_frame(frame, SCHEMA, {"test": 1.0})
    assert len(ws.arrays["reliability"]["test"]) == 55
    assert len(ws.arrays["reliability"]["train"]) == 0
    assert ws.meta["models"]["reliability"]["scaler"] is None
    assert len(ws.arrays["bandwidth"]["test"]) == (25 - 10) + (30 - 10)


def test_missing_values_are_filled_within_the_link():
    frame = encoded_frame([30, 30], seed=5)
    frame.loc[frame.index[5], "rtt_ms"] = np.nan
    ws = window_frame(frame, SCHEMA)
    assert ws.meta["imputed_values"]["rtt_ms"] == 1
    for arrays in ws.arrays["reliability"].values():
        assert np.isfinite(arrays.X).all()


def test_write_and_load_round_trip_memory_mapped(tmp_path):
    frame = encoded_frame([60, 45, 80], seed=6)
    ws = window_frame(frame, SCHEMA, source_sha256="abc")
    out = write_windows(ws, tmp_path / "windows")
    loaded = load_windows(out)
    assert loaded.meta["source_sha256"] == "abc"
    for model, per_split in ws.arrays.items():
        for split, arrays in per_split.items():
            got = loaded.arrays[model][split]
            assert isinstance(got.X, np.memmap)
            np.testing.assert_array_equal(got.X, arrays.X)
            np.testing.assert_array_equal(got.y, arrays.y)
            np.testing.assert_array_equal(got.row, arrays.row)
    assert not list(tmp_path.glob(".*tmp"))


def test_rewrite_replaces_the_folder_whole(tmp_path):
    out = tmp_path / "windows"
    write_windows(window_frame(encoded_frame([40], 1), SCHEMA), out)
    write_windows(window_frame(encoded_frame([50, 50], 2), SCHEMA), out)
    assert load_windows(out).meta["n_links"] == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["windows"]


def test_missing_model_columns_skip_that_model():
    frame = encoded_frame([40], 1).drop(columns=["hde_delta_hit_rate"])
    ws = window_frame(frame, SCHEMA)
    assert "compression" not in ws.arrays
    assert "hde_delta_hit_rate" in ws.meta["models"]["compression"]["skipped"]
