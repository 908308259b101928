"""The reference telemetry simulator: determinism, schema conformance, physics, ground truth."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dwcp_training import compression_oracle as oracle
from dwcp_training.errors import ConfigError
from dwcp_training.io import read_telemetry
from dwcp_training.schema import load_schema
from dwcp_training.simulator import (
    DEFAULT_HOURS,
    DEFAULT_INTERVAL_S,
    DEFAULT_LINKS,
    GeneratedData,
    generate,
    simulate,
    simulate_frame,
)
from dwcp_training.validate import validate_file

SMALL = {"links": 8, "hours": 6.0, "interval_s": 60}


@pytest.fixture(scope="module")
def sim():
    """A mid-sized in-memory simulation with its hidden ground truth."""
    return simulate(links=16, hours=24.0, seed=5)


@pytest.fixture(scope="module")
def small_csv(tmp_path_factory: pytest.TempPathFactory) -> GeneratedData:
    return generate(tmp_path_factory.mktemp("sim_csv"), seed=3, **SMALL)


def _files(out: GeneratedData) -> list[Path]:
    return [out.train_path, out.test_path, out.incidents_path]


def _normal(sim) -> np.ndarray:
    """(T, L) mask of rows outside node incidents."""
    return sim.frame["is_anomaly"].to_numpy().reshape(len(sim.epoch), -1) == 0


def _grid(sim, column: str) -> np.ndarray:
    return sim.frame[column].to_numpy().reshape(len(sim.epoch), -1)


# --- API, determinism, files ----------------------------------------------------------------------


def test_defaults_give_the_documented_sizes() -> None:
    rows = DEFAULT_LINKS * DEFAULT_HOURS * 3600 / DEFAULT_INTERVAL_S
    assert 50_000 <= rows <= 80_000


def test_same_seed_same_bytes_other_seed_other_bytes(
    tmp_path: Path, small_csv: GeneratedData
) -> None:
    again = generate(tmp_path / "again", seed=3, **SMALL)
    other = generate(tmp_path / "other", seed=4, **SMALL)
    for first, second, third in zip(_files(small_csv), _files(again), _files(other), strict=True):
        assert first.read_bytes() == second.read_bytes(), first.name
        assert first.read_bytes() != third.read_bytes(), first.name


def test_parquet_is_readable_and_matches_csv(tmp_path: Path, small_csv: GeneratedData) -> None:
    out = generate(tmp_path, seed=3, fmt="parquet", **SMALL)
    assert out.train_path.name == "dwcp_metrics.parquet"
    assert out.test_path.name == "dwcp_test.parquet"
    parquet = validate_file(out.train_path)
    csv = validate_file(small_csv.train_path)
    assert parquet.report.ok
    pd.testing.assert_frame_equal(
        parquet.frame.reset_index(drop=True), csv.frame.reset_index(drop=True), check_dtype=False
    )


def test_generated_data_reports_what_was_written(small_csv: GeneratedData) -> None:
    train, test = read_telemetry(small_csv.train_path), read_telemetry(small_csv.test_path)
    assert small_csv.train_rows == len(train) == SMALL["links"] * 6 * 60
    assert small_csv.test_rows == len(test) == SMALL["links"] * 2 * 60  # a third of the hours
    labels = json.loads(small_csv.incidents_path.read_text())
    assert small_csv.n_incidents == len(labels["incidents"])
    assert small_csv.n_episodes == len(labels["episodes"])


def test_small_runs_are_fast(tmp_path: Path) -> None:
    started = time.perf_counter()
    generate(tmp_path, links=4, hours=2.0, seed=1)
    assert time.perf_counter() - started < 2.0


def test_invalid_arguments_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        generate(tmp_path, links=0)
    with pytest.raises(ConfigError):
        generate(tmp_path, fmt="xlsx")
    with pytest.raises(ConfigError):
        generate(tmp_path, hours=0.001)
    with pytest.raises(ConfigError):
        generate(tmp_path, interval_s=0)


@pytest.mark.parametrize("links", [1, 5, 13])
def test_any_link_count_works(links: int) -> None:
    frame = simulate_frame(links=links, hours=1.0, seed=2)
    assert frame.groupby(["node_id", "peer_id"]).ngroups == links
    assert validate_file_frame_ok(frame)


def validate_file_frame_ok(frame: pd.DataFrame) -> bool:
    from dwcp_training.validate import validate_frame

    return validate_frame(frame).report.ok


# --- schema conformance ---------------------------------------------------------------------------


def test_files_pass_the_validator(small_csv: GeneratedData) -> None:
    for path in (small_csv.train_path, small_csv.test_path):
        result = validate_file(path)
        assert result.report.ok, result.report


def test_every_column_present_and_in_range(sim) -> None:
    frame = sim.frame
    schema = load_schema()
    assert list(frame.columns) == [c.name for c in schema.columns]
    assert not frame.isna().any().any()
    for spec in schema.columns:
        column = frame[spec.name]
        if spec.values is not None:
            assert set(column.astype(str)) <= set(spec.values), spec.name
        if spec.min is not None:
            assert column.min() >= spec.min, spec.name
        if spec.max is not None:
            assert column.max() <= spec.max, spec.name
        if spec.type == "binary":
            assert set(column.unique()) <= {0, 1}, spec.name


def test_rows_sorted_by_time_then_link(sim) -> None:
    keys = sim.frame[["epoch_time", "node_id", "peer_id"]]
    assert keys.equals(keys.sort_values(["epoch_time", "node_id", "peer_id"], ignore_index=True))
    stamps = pd.to_datetime(sim.frame["epoch_time"], unit="s", utc=True)
    assert (sim.frame["timestamp"] == stamps).all()


def test_csv_timestamps_are_iso_utc_with_z(small_csv: GeneratedData) -> None:
    first_row = small_csv.train_path.read_text().splitlines()[1]
    assert first_row.startswith('"2026-01-01T00:00:00Z",1767225600,')


# --- topology -------------------------------------------------------------------------------------


def test_topology_is_consistent(sim) -> None:
    links = sim.frame.drop_duplicates(["node_id", "peer_id"])
    per_node = links.groupby("node_id")[["region", "az", "datacenter_id", "node_role"]].nunique()
    assert (per_node == 1).all().all()
    place = {
        n: (r, d) for n, r, d in links[["node_id", "region", "datacenter_id"]].itertuples(False)
    }
    for row in links.itertuples():
        peer_region, peer_dc = place.get(row.peer_id, (None, None))
        if row.link_type == "dc":
            assert peer_dc == row.datacenter_id
        if row.link_type == "metro" and peer_dc is not None:
            assert peer_region == row.region and peer_dc != row.datacenter_id
        if row.link_type == "wan" and peer_region is not None:
            assert peer_region != row.region
        if row.link_type == "edge":
            assert row.node_role == "edge" and peer_dc == row.datacenter_id
    assert set(links["link_type"].astype(str)) == {"dc", "metro", "wan", "edge"}


def test_link_types_have_their_physical_scale(sim) -> None:
    by_type = sim.frame.groupby("link_type", observed=True)[["rtt_ms", "throughput_mbps"]].median()
    assert by_type.loc["dc", "rtt_ms"] < 1.0 < by_type.loc["metro", "rtt_ms"] < 10.0
    assert by_type.loc["wan", "rtt_ms"] > 25.0 and by_type.loc["edge", "rtt_ms"] > 15.0
    tput = by_type["throughput_mbps"]
    assert tput["dc"] > tput["metro"] > tput["wan"] > tput["edge"]
    assert tput["dc"] / tput["edge"] > 100  # three orders of magnitude across link types


# --- physics --------------------------------------------------------------------------------------


def test_throughput_never_exceeds_capacity(sim) -> None:
    assert np.all(_grid(sim, "throughput_mbps") <= sim.truth["capacity_mbps"])
    assert np.all(_grid(sim, "amst_transfer_rate") <= sim.truth["capacity_mbps"])


def test_bytes_match_throughput_and_interval(sim) -> None:
    interval = int(np.diff(sim.epoch[:2])[0])
    expected = sim.frame["throughput_mbps"] * 1e6 * interval / 8
    assert np.all(np.abs(sim.frame["bytes_tx"] - expected) <= 0.5 + 1e-6 * expected)
    assert np.all(sim.frame["bytes_rx"] < sim.frame["bytes_tx"])  # ACKs and responses


def test_rtt_rises_with_utilization(sim) -> None:
    rtt = _grid(sim, "rtt_ms")
    util = sim.truth["utilization"]
    normal = _normal(sim)
    for link in range(rtt.shape[1]):
        ok = normal[:, link]
        low = util[ok, link] < np.quantile(util[ok, link], 0.2)
        high = util[ok, link] >= np.quantile(util[ok, link], 0.95)
        assert np.median(rtt[ok, link][high]) > np.median(rtt[ok, link][low]), link


def test_loss_and_retransmits_rise_near_saturation(sim) -> None:
    util, normal = sim.truth["utilization"], _normal(sim)
    loss, retx = _grid(sim, "packet_loss"), _grid(sim, "retransmits")
    calm, saturated = normal & (util < 0.5), normal & (util > 0.9)
    assert saturated.sum() > 50
    assert np.median(loss[saturated]) > 3 * np.median(loss[calm])
    packets = _grid(sim, "bytes_tx") / 1460
    assert np.median(retx[saturated] / packets[saturated]) > 3 * np.median(
        retx[calm] / packets[calm]
    )


def test_derived_columns_are_consistent(sim) -> None:
    f = sim.frame
    assert (f["p99_latency_ms"] >= f["p50_latency_ms"]).all()
    burn = (1 - f["slo_compliance"]) / 0.001
    np.testing.assert_allclose(f["error_budget_burn_rate"], burn, atol=1e-3)
    util = np.clip(f["throughput_mbps"] / f["amst_transfer_rate"], 0, 1)
    np.testing.assert_allclose(f["stream_utilization"], util, atol=1e-4)
    # throughput ~ cwnd * MSS / RTT * streams (window-limited transfer, within noise); memory
    # leaks are left out: their heartbeat RTT holds GC stalls the transport never sees
    ok = f["is_anomaly"] == 0
    implied = f["congestion_window"] * 1460 * 8 * f["amst_streams"] / (f["rtt_ms"] / 1000) / 1e6
    ratio = (implied / f["throughput_mbps"])[ok]
    assert ratio.between(0.8, 1.25).mean() > 0.99


def test_throughput_changes_a_lot_but_predictably_between_steps(sim) -> None:
    """The replication-round wave: large step changes that repeat with the link's period."""
    tput = np.log(_grid(sim, "throughput_mbps"))
    step = np.abs(np.diff(tput, axis=0))
    assert np.median(step) > 0.07
    periods = sim.topology.period
    for link in range(tput.shape[1]):
        p = periods[link]
        same_phase = np.abs(tput[p:, link] - tput[:-p, link])
        assert np.median(same_phase) < 0.5 * np.median(step[:, link]), link


# --- labels ---------------------------------------------------------------------------------------


def test_compression_labels_are_the_oracle_of_the_written_features(
    small_csv: GeneratedData,
) -> None:
    frame = validate_file(small_csv.test_path).frame
    x = frame[list(oracle.FEATURES)].copy()
    x["link_type"] = frame["link_type"].cat.codes
    np.testing.assert_array_equal(
        oracle.optimal_level(x.to_numpy(np.float64)), frame["optimal_compression"].to_numpy()
    )


def _covered(frame: pd.DataFrame, events: list[dict], key: str, column: str) -> np.ndarray:
    hit = np.zeros(len(frame), dtype=bool)
    t = frame["epoch_time"].to_numpy()
    owner = frame[column].astype(str).to_numpy()
    for ev in events:
        hit |= (owner == ev[key]) & (t >= ev["start_epoch"]) & (t < ev["end_epoch"])
    return hit


def test_labels_match_labeled_incidents_json(small_csv: GeneratedData) -> None:
    labels = json.loads(small_csv.incidents_path.read_text())
    for path in (small_csv.train_path, small_csv.test_path):
        frame = read_telemetry(path)
        anomalous = _covered(frame, labels["incidents"], "node_id", "node_id")
        slow = _covered(frame, labels["episodes"], "group", "datacenter_id")
        np.testing.assert_array_equal(frame["is_anomaly"].to_numpy() == 1, anomalous)
        np.testing.assert_array_equal(frame["is_high_latency"].to_numpy() == 1, slow)
        inside = [e for e in labels["incidents"] + labels["episodes"] if e["file"] == path.name]
        t = frame["epoch_time"]
        assert all(t.min() <= e["start_epoch"] and e["end_epoch"] <= t.max() + 60 for e in inside)


def test_incident_json_fields(small_csv: GeneratedData) -> None:
    labels = json.loads(small_csv.incidents_path.read_text())
    types = {"crash", "network_failure", "disk_full", "memory_leak"}
    for ev in labels["incidents"]:
        assert ev["type"] in types and 0 <= ev["severity"] <= 1
        assert ev["start"].endswith("Z") and ev["start_epoch"] < ev["end_epoch"]
        assert pd.Timestamp(ev["start"]).timestamp() == ev["start_epoch"]
    assert {e["type"] for e in labels["episodes"]} <= {"leader_election", "partition", "slow_disk"}


def test_every_incident_type_is_visible_from_its_first_row(sim) -> None:
    """No invisible early phase: a 98 % recall target needs signal on every labelled row."""
    f = sim.frame
    normal = f[f["is_anomaly"] == 0]
    ceiling = {
        c: normal[c].quantile(0.999)
        for c in ("failure_rate", "packet_loss", "error_budget_burn_rate")
    }
    first_rows = []
    for ev in sim.incidents:
        cols = sim.topology.links_of_node(ev.owner)
        first_rows.extend(ev.start * sim.topology.n_links + cols)
    first = f.iloc[first_rows]
    visible = (
        (first["uptime_pct"] < 90)
        | (first["failure_rate"] > ceiling["failure_rate"])
        | (first["packet_loss"] > ceiling["packet_loss"])
        | (first["error_budget_burn_rate"] > ceiling["error_budget_burn_rate"])
    )
    assert visible.all()


def test_latency_episodes_jump_and_are_spiky(sim) -> None:
    lat, ep = _grid(sim, "consensus_latency_ms"), _grid(sim, "is_high_latency") == 1
    base = pd.DataFrame(np.where(ep, np.nan, lat)).rolling(60, min_periods=5).median().ffill()
    ratio = lat / base.to_numpy()
    assert np.nanmedian(ratio[ep]) > 3.0
    steps = []
    for ev in sim.episodes:
        cols = sim.topology.links_of_group(ev.owner)
        steps.append(np.diff(np.log(lat[ev.start : ev.end, cols]), axis=0).ravel())
    # spiky: lognormal sigma >= 0.3 (CV >= 30 %) gives step-to-step log changes of sd >= 0.42
    assert np.std(np.concatenate(steps)) > 0.42
    calm = np.abs(np.diff(np.log(lat), axis=0))[~ep[1:] & ~ep[:-1]]
    assert np.quantile(calm, 0.99) < 0.2  # normal latency is smooth


def test_test_range_is_later_disjoint_and_continues_the_same_links(
    small_csv: GeneratedData,
) -> None:
    train, test = read_telemetry(small_csv.train_path), read_telemetry(small_csv.test_path)
    assert test["epoch_time"].min() == train["epoch_time"].max() + SMALL["interval_s"]
    links = ["node_id", "peer_id"]
    assert set(map(tuple, train[links].to_numpy())) == set(map(tuple, test[links].to_numpy()))
