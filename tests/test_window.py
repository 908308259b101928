"""Window step: split and window properties on random small inputs (hypothesis).

Each row's numeric values encode (link, position) so a test can check exactly which rows a
window and its target came from: value = 1000 * link + position. `reference_windows` is the
straightforward windowing (sort, one float64 matrix, every window materialized, scaler
statistics as numpy reductions of the train-rows matrix) that the fast one must match bit for
bit: trained models and their pinned results depend on it.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dwcp_training.errors import DataError
from dwcp_training.features import SPLITS
from dwcp_training.models import MODEL_INPUTS
from dwcp_training.schema import load_schema
from dwcp_training.window import (
    FEATURES,
    FORMAT_VERSION,
    load_windows,
    window_frame,
    write_windows,
)

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


def assert_same_bits(got: np.ndarray, expected: np.ndarray, what: str) -> None:
    got, expected = np.asarray(got), np.asarray(expected)
    assert (got.dtype, got.shape) == (expected.dtype, expected.shape), what
    assert got.tobytes() == expected.tobytes(), what


def assert_same_windows(got, expected) -> None:
    """Every array (dtype, shape, bits) and the metadata of two window sets are the same."""
    drop = ("format_version", "x_shapes")
    got_meta = {k: v for k, v in got.meta.items() if k not in drop}
    expected_meta = {k: v for k, v in expected.meta.items() if k not in drop}
    assert json.dumps(got_meta, sort_keys=True) == json.dumps(expected_meta, sort_keys=True)
    assert sorted(got.arrays) == sorted(expected.arrays)  # metadata.json sorts the models
    for model, per_split in expected.arrays.items():
        for split, arrays in per_split.items():
            other = got.arrays[model][split]
            assert other.x_shape() == arrays.x_shape()
            for name in ("X", "y", "link", "row"):
                assert_same_bits(getattr(other, name), getattr(arrays, name), f"{model} {name}")
            chunks = list(other.iter_X_chunks(7))
            if chunks:
                assert_same_bits(np.concatenate(chunks), arrays.X, f"{model} chunks")


def test_write_and_load_round_trip_memory_mapped(tmp_path):
    frame = encoded_frame([60, 45, 80], seed=6)
    ws = window_frame(frame, SCHEMA, source_sha256="abc")
    out = write_windows(ws, tmp_path / "windows")
    loaded = load_windows(out)
    assert loaded.meta["source_sha256"] == "abc"
    assert loaded.meta["format_version"] == FORMAT_VERSION
    assert_same_windows(loaded, ws)
    assert_same_windows(load_windows(out, mmap=False), ws)
    for model, per_split in loaded.arrays.items():
        for arrays in per_split.values():
            if MODEL_INPUTS[model].kind == "row":  # a slice of the memory-mapped matrix
                assert isinstance(arrays.X, np.memmap) and not arrays.X.flags.writeable
    assert not list(tmp_path.glob(".*tmp"))


def test_written_folder_holds_no_materialized_window(tmp_path):
    frame = encoded_frame([60, 45, 80], seed=6)
    out = write_windows(window_frame(frame, SCHEMA), tmp_path / "windows")
    files = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    per_model = [f"{m}/{f}.npy" for m in MODEL_INPUTS for f in ("features", "target")]
    assert files == sorted(["links.npy", "metadata.json", "rows.npy", "segments.npy", *per_model])
    features = np.load(out / "bandwidth" / "features.npy")
    assert features.shape == (185, len(FEATURES["bandwidth"])) and features.dtype == np.float32


def test_a_loaded_set_rewrites_to_the_same_arrays(tmp_path):
    ws = window_frame(encoded_frame([40, 70], seed=8), SCHEMA)
    loaded = load_windows(write_windows(ws, tmp_path / "a"))
    assert_same_windows(load_windows(write_windows(loaded, tmp_path / "b")), ws)


@pytest.mark.parametrize("version", [None, 1, 3])
def test_another_layout_version_is_refused(tmp_path, version):
    out = write_windows(window_frame(encoded_frame([40], 1), SCHEMA), tmp_path / "windows")
    meta = json.loads((out / "metadata.json").read_text())
    if version is None:
        del meta["format_version"]  # what layout 1 wrote
    else:
        meta["format_version"] = version
    (out / "metadata.json").write_text(json.dumps(meta))
    with pytest.raises(DataError, match="window the data again") as error:
        load_windows(out)
    assert error.value.rule == "format_version"


def test_a_layout_1_folder_is_refused(tmp_path):
    """What the previous window step wrote: materialized windows per split, no version."""
    out = tmp_path / "windows"
    (out / "bandwidth").mkdir(parents=True)
    for split in SPLITS:
        np.save(out / "bandwidth" / f"{split}_X.npy", np.zeros((2, 10, 7), np.float32))
        for name in ("y", "link", "row"):
            np.save(out / "bandwidth" / f"{split}_{name}.npy", np.zeros(2))
    meta = {"models": {}, "x_shapes": {"bandwidth": {s: [2, 10, 7] for s in SPLITS}}}
    (out / "metadata.json").write_text(json.dumps(meta))
    with pytest.raises(DataError, match="layout version 1"):
        load_windows(out)


def test_arrays_that_do_not_match_the_metadata_are_refused(tmp_path):
    out = write_windows(window_frame(encoded_frame([40, 30], 1), SCHEMA), tmp_path / "windows")
    features = np.load(out / "latency" / "features.npy")
    np.save(out / "latency" / "features.npy", features[:-1])
    with pytest.raises(DataError, match="latency"):
        load_windows(out)
    (out / "rows.npy").unlink()
    with pytest.raises(DataError, match="unreadable"):
        load_windows(out)


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


# --- bit for bit the straightforward windowing ---------------------------------------------


def reference_windows(frame: pd.DataFrame, fractions: list[float]) -> dict:
    """Per model: {split: (X, y, link, row)} and the scaler, computed the obvious way."""
    keys = list(SCHEMA.link_key)
    link = frame.groupby(keys, sort=True, observed=True).ngroup().to_numpy(np.int64)
    order = np.lexsort((frame[SCHEMA.time_column].to_numpy(np.int64), link))
    links = link[order]
    counts = np.bincount(links)
    position = np.arange(len(links)) - (np.cumsum(counts) - counts)[links]
    n = counts[links]
    split = (position >= np.floor(fractions[0] * n + 1e-9)).astype(np.int64) + (
        position >= np.floor((fractions[0] + fractions[1]) * n + 1e-9)
    )
    segment = links * len(SPLITS) + split

    def column(name: str) -> np.ndarray:
        spec = SCHEMA.column(name)
        if spec.type == "category":
            codes = pd.Categorical(frame[name], categories=list(spec.values or ())).codes
            values = np.where(codes < 0, np.nan, codes.astype(np.float64))
        else:
            values = pd.to_numeric(frame[name], errors="coerce").to_numpy(np.float64)
        filled = pd.Series(values[order]).groupby(links, sort=False)
        return filled.transform(lambda s: s.ffill().bfill()).to_numpy(np.float64)

    out = {}
    for model, spec in MODEL_INPUTS.items():
        features = np.column_stack([column(c) for c in spec.features])
        target = column(spec.target)
        seq = SEQ[model] if spec.is_sequence else 1
        length = seq + 1 if spec.kind == "next_step" else seq
        per_split = {}
        for s_id, s_name in enumerate(SPLITS):
            if spec.kind == "row":
                idx = np.flatnonzero(split == s_id)
                x, y = features[idx].astype(np.float32), target[idx].astype(np.int64)
            else:
                idx = np.array(
                    [
                        i
                        for i in range(len(links) - length + 1)
                        if split[i] == s_id and segment[i] == segment[i + length - 1]
                    ],
                    dtype=np.int64,
                )
                x = np.zeros((len(idx), seq, spec.n_features), np.float32)
                for k, i in enumerate(idx):
                    x[k] = features[i : i + seq]
                if spec.kind == "next_step":
                    y = target[idx + seq].astype(np.float32)
                else:
                    x = np.ascontiguousarray(x[:, :, 0])
                    y = np.array([target[i : i + seq].max() for i in idx]).astype(np.int64)
                    y = y.reshape(-1)
            last = idx + seq - 1
            per_split[s_name] = (x, y, links[last].astype(np.int32), order[last])
        train = features[split == 0]
        scaler = None
        if len(train):
            scaler = {
                "features": list(spec.features),
                "mean": [float(v) for v in train.mean(axis=0)],
                "std": [float(v) for v in train.std(axis=0)],
                "min": [float(v) for v in train.min(axis=0)],
                "max": [float(v) for v in train.max(axis=0)],
            }
        out[model] = (per_split, scaler)
    return out


def noisy_frame(lengths: list[int], seed: int, shuffle: bool, gaps: bool) -> pd.DataFrame:
    """`encoded_frame` with real-valued features (sums depend on their order), signed zeros,
    optional gaps and rows in any order."""
    frame = encoded_frame(lengths, seed)
    rng = np.random.default_rng(seed + 1)
    numeric = {c for cols in FEATURES.values() for c in cols} - {"link_type", "network_tier"}
    not_first = frame.duplicated(["node_id", "peer_id"]).to_numpy()
    for column in sorted(numeric):
        values = rng.lognormal(2.0, 2.0, size=len(frame)) * rng.choice([-1.0, 1.0], len(frame))
        values[rng.random(len(frame)) < 0.05] = 0.0
        values[rng.random(len(frame)) < 0.05] = -0.0
        if gaps:  # never a link's first row: an all-missing link is refused, not windowed
            values[(rng.random(len(frame)) < 0.03) & not_first] = np.nan
        frame[column] = values
    if shuffle:
        frame = frame.sample(frac=1.0, random_state=seed).reset_index(drop=True)
    return frame


fractions_strategy = st.sampled_from([None, {"test": 1.0}, {"train": 0.5, "validation": 0.5}])


@settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    lengths=st.lists(st.integers(min_value=1, max_value=90), min_size=1, max_size=5),
    seed=st.integers(0, 10_000),
    shuffle=st.booleans(),
    gaps=st.booleans(),
    fractions=fractions_strategy,
)
def test_arrays_and_scalers_are_bit_identical_to_the_reference(
    lengths, seed, shuffle, gaps, fractions
):
    frame = noisy_frame(lengths, seed, shuffle, gaps)
    ws = window_frame(frame, SCHEMA, fractions)
    cut = [float((fractions or SCHEMA.split).get(s, 0.0)) for s in SPLITS]
    for model, (per_split, scaler) in reference_windows(frame, cut).items():
        for split, expected in per_split.items():
            arrays = ws.arrays[model][split]
            for name, want in zip(("X", "y", "link", "row"), expected, strict=True):
                assert_same_bits(getattr(arrays, name), want, f"{model} {split} {name}")
        got = ws.meta["models"][model]["scaler"]
        # json keeps -0.0 apart from 0.0, which == would not
        assert json.dumps(got) == json.dumps(scaler), model


def test_input_row_order_does_not_change_the_arrays(tmp_path):
    frame = noisy_frame([50, 70, 35], seed=11, shuffle=False, gaps=False)
    by_time = window_frame(frame, SCHEMA)
    by_link = frame.sort_values(["node_id", "peer_id", "epoch_time"], kind="stable")
    shuffled = frame.sample(frac=1.0, random_state=3)
    for other in (by_link, shuffled):
        ws = window_frame(other, SCHEMA)
        assert ws.meta["links"] == by_time.meta["links"]
        for model, per_split in by_time.arrays.items():
            for split, arrays in per_split.items():
                for name in ("X", "y", "link"):
                    got = getattr(ws.arrays[model][split], name)
                    assert_same_bits(got, getattr(arrays, name), f"{model} {name}")
