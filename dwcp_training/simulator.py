"""The reference telemetry simulator: the `generate` step and the pipeline's default data.

Real DWCP telemetry is not available, so the pipeline ships a simulator whose data make the
98 %-class targets mean something: naive baselines fail them and a good model can pass them
(tests/test_difficulty.py pins both sides; docs/simulator.md explains the design).

`generate` writes three files into one folder:
- `dwcp_metrics.{csv,parquet}`: the training range;
- `dwcp_test.{csv,parquet}`: the time range right after it (same links, the same processes
  continued), for held-out evaluation;
- `labeled_incidents.json`: the ground-truth node incidents and latency episodes behind the
  `is_anomaly` and `is_high_latency` labels, and which file each one falls in.

Everything is a deterministic function of the seed: the same call writes the same bytes.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from dwcp_training import compression_oracle as oracle
from dwcp_training.atomic import write_json
from dwcp_training.errors import ConfigError
from dwcp_training.schema import load_schema
from dwcp_training.sim_events import Event, schedule_episodes, schedule_incidents
from dwcp_training.sim_telemetry import MSS_BYTES, simulate_telemetry
from dwcp_training.sim_topology import (
    LINK_TYPES,
    MODES,
    ROLES,
    TIERS,
    TRANSPORTS,
    Topology,
    build_topology,
)

# Sized so the whole default run (generate, validate, window, train four models incl. two LSTMs)
# stays within a few minutes on two CPU cores: 32 links x 36 h x 1/min = 69,120 training rows,
# plus a test range a third as long.
DEFAULT_LINKS = 32
DEFAULT_HOURS = 36.0
DEFAULT_INTERVAL_S = 60
TEST_FRACTION = 1.0 / 3.0
START_EPOCH = 1_767_225_600  # 2026-01-01T00:00:00Z, fixed so files do not depend on the clock

TRAIN_FILE = "dwcp_metrics"
TEST_FILE = "dwcp_test"
INCIDENTS_FILE = "labeled_incidents.json"

# Incident and episode rates: ~4 % anomalous rows, ~8 % of time in a latency episode.
INCIDENTS_PER_NODE_HOUR = 0.2
EPISODES_PER_GROUP_HOUR = 0.27

# Decimals written per column. The oracle labels the ROUNDED compression inputs, so reading the
# file back gives exactly the label (the oracle is a function of what the model sees).
DECIMALS: dict[str, int] = {
    "rtt_ms": 4, "jitter_ms": 4, "p50_latency_ms": 4, "p99_latency_ms": 4,
    "throughput_mbps": 4, "transfer_rate_mbps": 4, "packet_loss": 7, "error_rate": 7,
    "uptime_pct": 4, "congestion_window": 2, "buffer_utilization": 4,
    "hde_compression_ratio": 4, "hde_delta_hit_rate": 4, "amst_transfer_rate": 4,
    "stream_utilization": 4, "error_budget_burn_rate": 4, "slo_compliance": 8,
    "failure_rate": 7, "consensus_latency_ms": 4,
}  # fmt: skip


@dataclass(frozen=True)
class GeneratedData:
    """What `generate` wrote."""

    train_path: Path
    test_path: Path
    incidents_path: Path
    train_rows: int
    test_rows: int
    n_incidents: int
    n_episodes: int


@dataclass
class Simulation:
    """An in-memory simulation: the telemetry of both ranges (training first, then test, sorted
    by time then link), the events behind its labels, and hidden ground truth for tests."""

    frame: pd.DataFrame
    topology: Topology
    incidents: list[Event]
    episodes: list[Event]
    epoch: np.ndarray  # (T,) time grid of both ranges
    n_train_steps: int
    truth: dict[str, np.ndarray] = field(repr=False)  # (T, L) hidden state, e.g. utilization

    @property
    def test_start_epoch(self) -> int:
        return int(self.epoch[self.n_train_steps])

    def split(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        """(training range, test range) frames."""
        cut = self.n_train_steps * self.topology.n_links  # rows are (time, link) ordered
        return (
            self.frame.iloc[:cut].reset_index(drop=True),
            self.frame.iloc[cut:].reset_index(drop=True),
        )


def _steps(hours: float, interval_s: int, what: str) -> int:
    steps = int(round(hours * 3600 / interval_s))
    if steps < 1:
        raise ConfigError(f"{what}={hours} h at interval_s={interval_s} gives no time step")
    return steps


def simulate(
    *,
    links: int = DEFAULT_LINKS,
    hours: float = DEFAULT_HOURS,
    interval_s: int = DEFAULT_INTERVAL_S,
    seed: int = 42,
    test_hours: float | None = None,
) -> Simulation:
    """Simulate the training range followed by the test range, all in memory."""
    if links < 1:
        raise ConfigError(f"links must be >= 1, got {links}")
    if interval_s < 1:
        raise ConfigError(f"interval_s must be >= 1 s, got {interval_s}")
    test_hours = hours * TEST_FRACTION if test_hours is None else test_hours
    n_train = _steps(hours, interval_s, "hours")
    n_test = _steps(test_hours, interval_s, "test_hours")
    n_steps = n_train + n_test
    epoch = START_EPOCH + np.arange(n_steps, dtype=np.int64) * interval_s

    # One independent stream per subsystem, so retuning one leaves the others' draws alone.
    topo_seq, incident_seq, episode_seq, telemetry_seq = np.random.SeedSequence(seed).spawn(4)
    topo = build_topology(links, np.random.default_rng(topo_seq))
    ranges = [(0, n_train), (n_train, n_steps)]
    incidents = schedule_incidents(
        np.random.default_rng(incident_seq),
        len(topo.nodes),
        ranges,
        interval_s,
        INCIDENTS_PER_NODE_HOUR,
    )
    episodes = schedule_episodes(
        np.random.default_rng(episode_seq),
        len(topo.groups),
        ranges,
        interval_s,
        EPISODES_PER_GROUP_HOUR,
    )
    cols = simulate_telemetry(topo, epoch, interval_s, incidents, episodes, telemetry_seq)
    frame = _frame(topo, epoch, interval_s, cols)
    truth = {k.lstrip("_"): v for k, v in cols.items() if k.startswith("_")}
    return Simulation(frame, topo, incidents, episodes, epoch, n_train, truth)


def simulate_frame(
    *,
    links: int = DEFAULT_LINKS,
    hours: float = DEFAULT_HOURS,
    interval_s: int = DEFAULT_INTERVAL_S,
    seed: int = 42,
    test_hours: float | None = None,
) -> pd.DataFrame:
    """The simulated telemetry (training then test range) as one frame, sorted by time then link."""
    return simulate(
        links=links, hours=hours, interval_s=interval_s, seed=seed, test_hours=test_hours
    ).frame


def _frame(
    topo: Topology, epoch: np.ndarray, interval_s: int, cols: dict[str, np.ndarray]
) -> pd.DataFrame:
    """Round, derive the byte counters and labels, and lay the (T, L) arrays out as rows."""
    n_steps, n_links = len(epoch), topo.n_links
    v = {k: np.round(a, DECIMALS[k]) for k, a in cols.items() if k in DECIMALS}
    v["stream_utilization"] = np.round(
        np.clip(v["throughput_mbps"] / np.maximum(v["amst_transfer_rate"], 1e-9), 0.0, 1.0), 4
    )
    # Byte counters follow from the written throughput, so bytes == Mbit/s * interval exactly
    # up to integer rounding.
    bytes_tx = np.rint(v["throughput_mbps"] * 1e6 * interval_s / 8).astype(np.int64)
    packets = bytes_tx / MSS_BYTES
    ints = {
        "bytes_tx": bytes_tx,
        "bytes_rx": np.rint(bytes_tx * cols["_ack_ratio"]).astype(np.int64),
        "retransmits": np.rint(packets * cols["_retransmit_share"]).astype(np.int64),
        "queue_depth": np.rint(cols["queue_depth"]).astype(np.int64),
        "compression_level": cols["compression_level"].astype(np.int64),
        "amst_streams": cols["amst_streams"].astype(np.int64),
        "is_anomaly": cols["is_anomaly"],
        "is_high_latency": cols["is_high_latency"],
    }
    link_type = np.broadcast_to(topo.link_type, (n_steps, n_links)).astype(np.float64)
    features = np.stack(
        [link_type if name == "link_type" else v[name] for name in oracle.FEATURES], axis=-1
    ).reshape(-1, len(oracle.FEATURES))
    ints["optimal_compression"] = oracle.optimal_level(features).reshape(n_steps, n_links)

    def per_link(values: np.ndarray) -> np.ndarray:
        return np.tile(values, n_steps)

    def category(codes: np.ndarray, values: tuple[str, ...]) -> pd.Categorical:
        return pd.Categorical.from_codes(per_link(codes), categories=list(values))

    data: dict[str, object] = {
        "timestamp": pd.to_datetime(np.repeat(epoch, n_links), unit="s", utc=True),
        "epoch_time": np.repeat(epoch, n_links),
        "region": per_link(topo.region),
        "az": per_link(topo.az),
        "link_type": category(topo.link_type, LINK_TYPES),
        "datacenter_id": per_link(topo.datacenter_id),
        "node_id": per_link(topo.node_id),
        "peer_id": per_link(topo.peer_id),
        "node_role": category(topo.node_role, ROLES),
        "dwcp_mode": category(topo.dwcp_mode, MODES),
        "network_tier": category(topo.network_tier, TIERS),
        "transport_type": category(topo.transport_type, TRANSPORTS),
    }
    for name, arr in {**v, **ints}.items():
        data[name] = np.ascontiguousarray(arr).reshape(-1)
    order = [c.name for c in load_schema().columns]
    return pd.DataFrame({name: data[name] for name in order})


def _iso(epoch: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(int(epoch)))


def _events_json(sim: Simulation, interval_s: int, train_name: str, test_name: str) -> dict:
    """The ground truth as JSON: times as ISO UTC and epoch, start inclusive / end exclusive."""

    def times(ev: Event) -> dict:
        start, end = (
            int(sim.epoch[0]) + ev.start * interval_s,
            int(sim.epoch[0]) + ev.end * interval_s,
        )
        return {
            "start": _iso(start),
            "end": _iso(end),
            "start_epoch": start,
            "end_epoch": end,
            "severity": ev.severity,
            "file": test_name if ev.start >= sim.n_train_steps else train_name,
        }

    topo = sim.topology
    incidents = [
        {
            "node_id": topo.nodes[ev.owner],
            "type": ev.type,
            "peer_ids": [str(p) for p in topo.peer_id[topo.links_of_node(ev.owner)]],
            **times(ev),
        }
        for ev in sim.incidents
    ]
    episodes = [
        {"group": topo.groups[ev.owner], "type": ev.type, **times(ev)} for ev in sim.episodes
    ]
    return {
        "description": (
            "Ground truth of the simulated telemetry. A row (node_id, peer_id, epoch_time) has "
            "is_anomaly = 1 iff its node_id is in an incident with start_epoch <= epoch_time < "
            "end_epoch; is_high_latency = 1 iff its datacenter_id (the consensus group) is in "
            "an episode over that interval."
        ),
        "interval_s": interval_s,
        "files": {
            train_name: {"start": _iso(int(sim.epoch[0])), "end": _iso(sim.test_start_epoch)},
            test_name: {
                "start": _iso(sim.test_start_epoch),
                "end": _iso(int(sim.epoch[-1]) + interval_s),
            },
        },
        "incidents": incidents,
        "episodes": episodes,
    }


def generate(
    output_dir: str | Path,
    *,
    links: int = DEFAULT_LINKS,
    hours: float = DEFAULT_HOURS,
    interval_s: int = DEFAULT_INTERVAL_S,
    seed: int = 42,
    fmt: str = "csv",
    test_hours: float | None = None,
    progress: Callable[[str], None] | None = None,
) -> GeneratedData:
    """Simulate and write the training file, the test file and the incident labels."""
    from dwcp_training.io import write_telemetry

    if fmt not in ("csv", "parquet"):
        raise ConfigError(f"unknown format {fmt!r}; use 'csv' or 'parquet'")
    say = progress or (lambda _msg: None)
    started = time.perf_counter()
    sim = simulate(
        links=links, hours=hours, interval_s=interval_s, seed=seed, test_hours=test_hours
    )
    train, test = sim.split()
    say(
        f"simulated {sim.topology.n_links} links x {len(sim.epoch)} steps "
        f"({len(sim.incidents)} incidents, {len(sim.episodes)} episodes) "
        f"in {time.perf_counter() - started:.1f}s"
    )
    out = Path(output_dir)
    train_path = write_telemetry(train, out / f"{TRAIN_FILE}.{fmt}", fmt)  # type: ignore[arg-type]
    test_path = write_telemetry(test, out / f"{TEST_FILE}.{fmt}", fmt)  # type: ignore[arg-type]
    incidents_path = write_json(
        out / INCIDENTS_FILE, _events_json(sim, interval_s, train_path.name, test_path.name)
    )
    say(f"wrote {train_path.name} ({len(train)} rows), {test_path.name} ({len(test)} rows)")
    return GeneratedData(
        train_path=train_path,
        test_path=test_path,
        incidents_path=incidents_path,
        train_rows=len(train),
        test_rows=len(test),
        n_incidents=len(sim.incidents),
        n_episodes=len(sim.episodes),
    )
