"""The physics of the simulator: from topology and ground-truth events to per-link telemetry.

Every function works on (T, L) arrays (time x link) at once. The causal chain, per link:

    cross traffic (diurnal + slow AR + ramped congestion episodes)      -> free capacity A
    DWCP replication demand D (diurnal x periodic replication rounds x AR noise)
    utilization rho = cross + min(D, A) / capacity  -> queueing delay, RTT, jitter, loss
    goodput = smooth_min(D, A, window/RTT) x loss factor x uptime      -> bytes, cwnd
    node incidents modify their own subset of signals (`incident_effects`);
    consensus-group episodes multiply the commit latency and make it spiky.

docs/simulator.md explains every constant below and why it has its value; the difficulty test
(tests/test_difficulty.py) pins the consequences.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dwcp_training import compression_oracle as oracle
from dwcp_training.sim_events import EPISODE_TYPES, INCIDENT_TYPES, Event
from dwcp_training.sim_processes import (
    ar1,
    diurnal,
    log_uniform,
    lognormal_noise,
    smooth_bump,
    smooth_min,
)
from dwcp_training.sim_topology import LINK_TYPES, MODE_LEVEL, MODES, Topology

MSS_BYTES = 1460
PROTOCOL_EFFICIENCY = 0.95  # share of free capacity a flow turns into goodput
CWND_MAX_SEGMENTS = 4096
RHO_MAX = 0.97
SLO_ERROR_BUDGET = 0.001  # a 99.9 % SLO: burn rate = (1 - slo_compliance) / 0.001

# Bandwidth predictability: the replication-round wave is the large, forecastable step-to-step
# change; AR innovations + measurement noise are the unforecastable remainder (~2 % relative).
ROUND_AMPLITUDE = (0.15, 0.21)  # log-amplitude of the periodic replication load, per link
DEMAND_AR_SIGMA, DEMAND_AR_TAU_S = 0.04, 1200.0
THROUGHPUT_NOISE = 0.012  # measurement noise, relative (lognormal sigma)
CONGESTION_PER_LINK_HOUR = 1.0 / 8.0
# Cross traffic: relative diurnal swing of each link's base share, and slow AR noise (absolute).
CROSS_DIURNAL, CROSS_AR = 0.15, 0.02
# Loss added at full saturation, per link type: datacenter fabrics mark (ECN) instead of
# dropping, long thin paths drop.
CONGESTION_LOSS = np.array([0.0003, 0.001, 0.002, 0.003])
# Compressibility and delta hit rate vary with the mix of objects each interval replicates:
# sigma of log(ratio - 1) / logit(hit) around the link's workload, 10-minute correlation. Fast
# mixing means the training range already covers every link's range (no drift into the test).
RATIO_DRIFT, RATIO_TAU_S = 0.12, 600.0
HIT_DRIFT, HIT_TAU_S = 0.3, 600.0
# Consensus latency episodes: (low, high) level multiplier over severity, spikiness sigma.
EPISODE_SHAPE = {
    "leader_election": (5.0, 10.0, 0.5),
    "partition": (3.0, 8.0, 0.55),
    "slow_disk": (3.0, 6.0, 0.4),
}


@dataclass
class EventArrays:
    """Per-row view of events: covering event (-1 none), its type, severity and progress 0 -> 1."""

    index: np.ndarray
    type: np.ndarray  # index into the type tuple, -1 none
    severity: np.ndarray
    progress: np.ndarray

    @classmethod
    def build(
        cls, events: list[Event], types: tuple[str, ...], n_steps: int, owner_of_link: np.ndarray
    ) -> EventArrays:
        shape = (n_steps, len(owner_of_link))
        index = np.full(shape, -1, dtype=np.int64)
        kind = np.full(shape, -1, dtype=np.int64)
        severity = np.zeros(shape)
        progress = np.zeros(shape)
        for k, ev in enumerate(events):  # per-event loop, vectorized over its rows
            cols = np.flatnonzero(owner_of_link == ev.owner)
            rows = slice(ev.start, ev.end)
            index[rows, cols] = k
            kind[rows, cols] = types.index(ev.type)
            severity[rows, cols] = ev.severity
            span = max(ev.end - ev.start - 1, 1)
            progress[rows, cols] = (np.arange(ev.start, ev.end)[:, None] - ev.start) / span
        return cls(index=index, type=kind, severity=severity, progress=progress)

    def of(self, name: str, types: tuple[str, ...]) -> np.ndarray:
        return self.type == types.index(name)


@dataclass
class IncidentEffects:
    """What node incidents do to a row (identity values where no incident)."""

    rtt_mult: np.ndarray
    rtt_add_ms: np.ndarray
    loss_add: np.ndarray
    uptime: np.ndarray  # percent
    spurious_retx: np.ndarray  # retransmissions without loss (delayed ACKs), share of packets
    fail_add: np.ndarray
    error_add: np.ndarray
    slo_miss_add: np.ndarray


def incident_effects(
    inc: EventArrays, rng: np.random.Generator, interval_s: int
) -> IncidentEffects:
    """Each incident type moves a DIFFERENT subset of the reliability features, strongly from
    its first row (docs/simulator.md, "reliability"):

    - crash: the node restarts over and over (uptime 50-57 %), replication ops fail (40-60 %);
    - network_failure: heavy loss (11-15 % true, 9-26 % measured), retransmissions, RTT x3-4;
    - disk_full: replication writes fail (failure rate 27-45 %), requests error out (burn ~50);
    - memory_leak: GC stalls delay heartbeats (RTT + 190-500 ms), spurious retransmissions,
      latency SLO misses (burn 150-400), all doubling as the heap fills.
    Everything else stays at its normal level, so no single feature sees every incident.
    Severity scales the effects only by +-15 % (`strength`): an incident is never mild, and a
    threshold calibrated on the few incidents of the validation split carries over to the test
    file.
    """
    shape = inc.index.shape
    strength = np.where(inc.index >= 0, 0.75 + 0.5 * inc.severity, 0.0)  # 0.95-1.25
    grow = inc.progress
    crash = inc.of("crash", INCIDENT_TYPES)
    net = inc.of("network_failure", INCIDENT_TYPES)
    disk = inc.of("disk_full", INCIDENT_TYPES)
    leak = inc.of("memory_leak", INCIDENT_TYPES)
    zeros = np.zeros(shape)

    down = np.clip(0.25 + 0.2 * strength + 0.01 * rng.standard_normal(shape), 0.1, 0.9)
    drift = np.exp(0.1 * ar1(rng, shape, float(np.exp(-interval_s / 600.0))))
    crash_fail = np.minimum((0.25 + 0.5 * down) * lognormal_noise(rng, shape, 0.1), 0.99)
    disk_fail = 0.3 * strength * lognormal_noise(rng, shape, 0.1)
    leak_miss = 0.15 * strength * (1 + grow) * lognormal_noise(rng, shape, 0.1)
    return IncidentEffects(
        rtt_mult=np.where(net, 1.0 + 2.5 * strength, 1.0),
        rtt_add_ms=np.where(leak, 200.0 * strength * (1 + grow), 0.0),
        loss_add=np.where(net, 0.12 * strength * drift, 0.0),
        uptime=np.where(crash, 100.0 * (1 - down), 100.0),
        spurious_retx=np.where(leak, 0.008 * strength * (1 + grow), 0.0),
        fail_add=np.where(crash, crash_fail, zeros)
        + np.where(disk, disk_fail, zeros)
        + np.where(leak, 0.0005 * strength * (1 + grow), zeros),
        error_add=np.where(crash, 0.001 * down, zeros) + np.where(disk, 0.05 * strength, zeros),
        slo_miss_add=np.where(leak, leak_miss, zeros),
    )


def _streams(
    seed_seq: np.random.SeedSequence, names: tuple[str, ...]
) -> dict[str, np.random.Generator]:
    """One generator per subsystem: tuning one process leaves the other processes' draws alone."""
    children = seed_seq.spawn(len(names))
    return {n: np.random.default_rng(s) for n, s in zip(names, children, strict=True)}


def _phi(interval_s: int, tau_s: float) -> float:
    """AR(1) coefficient of a process with correlation time `tau_s`, whatever the interval."""
    return float(np.exp(-interval_s / tau_s))


def _congestion(
    rng: np.random.Generator, n_steps: int, n_links: int, interval_s: int
) -> np.ndarray:
    """Extra cross-traffic utilization from rare congestion episodes that ramp up and down."""
    out = np.zeros((n_steps, n_links))
    t = np.arange(n_steps, dtype=np.float64)
    per_minute = 60.0 / interval_s
    expected = CONGESTION_PER_LINK_HOUR * n_steps * interval_s / 3600.0
    for link in range(n_links):  # per-link loop over a handful of episodes
        for _ in range(rng.poisson(expected)):
            start = rng.uniform(0, n_steps)
            length = rng.uniform(20, 80) * per_minute
            ramp = rng.uniform(8, 15) * per_minute
            out[:, link] += rng.uniform(0.2, 0.45) * smooth_bump(t, start, start + length, ramp)
    return out


def _compression_inputs(
    rng: np.random.Generator, shape: tuple[int, int], interval_s: int
) -> tuple[np.ndarray, np.ndarray]:
    """Data compressibility (level-6 ratio) and delta hit rate: per-link levels, slow drift."""
    n_links = shape[1]
    ratio_mean = 1.0 + log_uniform(rng, 0.3, 5.0, n_links)
    hit_mean = rng.uniform(0.05, 0.85, n_links)
    drift = np.exp(RATIO_DRIFT * ar1(rng, shape, _phi(interval_s, RATIO_TAU_S)))
    ratio6 = np.maximum((1.0 + (ratio_mean - 1) * drift) * lognormal_noise(rng, shape, 0.01), 1.0)
    logit = np.log(hit_mean / (1 - hit_mean))
    logit = logit + HIT_DRIFT * ar1(rng, shape, _phi(interval_s, HIT_TAU_S))
    return ratio6, 1.0 / (1.0 + np.exp(-logit))


def _consensus_latency(
    rng: np.random.Generator,
    topo: Topology,
    epi: EventArrays,
    day: np.ndarray,
    queue_ms: np.ndarray,
    interval_s: int,
) -> np.ndarray:
    """Commit latency of consensus rounds over each link.

    Normal: two round trips over the link's base RTT + the group's fsync time, a mild diurnal
    and group-load swing, half the link's queueing delay, 3 % noise: smooth. A group episode
    multiplies it by x3-x10 with heavy lognormal spikes (CV >= 40 %) on every link of the group.
    Node incidents do not reach it: a quorum hides one slow member.
    """
    shape = day.shape
    n_groups = len(topo.groups)
    fsync_ms = rng.uniform(1.0, 3.0, n_groups)[topo.group]
    load = ar1(rng, (shape[0], n_groups), _phi(interval_s, 7200.0))[:, topo.group]
    commit = (2 * topo.base_rtt_ms + fsync_ms + 0.5) * (1 + 0.12 * day) * np.exp(0.05 * load)
    commit = commit + 0.5 * queue_ms
    factor = np.ones(shape)
    for name, (low, high, sigma) in EPISODE_SHAPE.items():
        level = low + (high - low) * epi.severity
        spiky = level * lognormal_noise(rng, shape, sigma)
        factor = np.where(epi.of(name, EPISODE_TYPES), spiky, factor)
    return commit * factor * lognormal_noise(rng, shape, 0.03)


def simulate_telemetry(
    topo: Topology,
    epoch: np.ndarray,
    interval_s: int,
    incidents: list[Event],
    episodes: list[Event],
    seed_seq: np.random.SeedSequence,
) -> dict[str, np.ndarray]:
    """Every numeric telemetry column and label as a (T, L) array, in raw (unrounded) units.

    Keys starting with "_" are hidden ground truth (utilization, capacity, ...) for tests.
    """
    rng = _streams(seed_seq, ("link", "traffic", "noise", "compression", "reliability", "latency"))
    n_steps, n_links = len(epoch), topo.n_links
    shape = (n_steps, n_links)
    t = np.arange(n_steps, dtype=np.float64)[:, None]
    day = diurnal(epoch, topo.utc_offset_h)
    cap = topo.capacity_mbps[None, :]
    streams = topo.streams[None, :]

    # --- per-link constants ----------------------------------------------------------------------
    r = rng["link"]
    cross_base = r.uniform(0.15, 0.35, n_links)
    demand_base = r.uniform(0.2, 0.35, n_links)
    round_amp = r.uniform(*ROUND_AMPLITUDE, n_links)
    round_phase = r.uniform(0, 2 * np.pi, n_links)
    is_edge = topo.link_type == LINK_TYPES.index("edge")
    loss_base = log_uniform(r, 1e-5, 3e-4, n_links) * np.where(is_edge, 3.0, 1.0)
    ack_ratio = r.uniform(0.02, 0.06, n_links)
    proc_ms = r.uniform(0.05, 0.3, n_links)

    # --- offered load and free capacity ----------------------------------------------------------
    r = rng["traffic"]
    cross_noise = CROSS_AR * ar1(r, shape, _phi(interval_s, 3000.0))
    cross = cross_base * (1 + CROSS_DIURNAL * day) + cross_noise
    cross = np.clip(cross + _congestion(r, n_steps, n_links, interval_s), 0.02, 0.88)
    wave = np.sin(2 * np.pi * t / topo.period[None, :] + round_phase)
    demand_noise = DEMAND_AR_SIGMA * ar1(r, shape, _phi(interval_s, DEMAND_AR_TAU_S))
    demand = demand_base * cap * (1 + 0.25 * day) * np.exp(round_amp * wave + demand_noise)
    free = cap * (1 - cross) * PROTOCOL_EFFICIENCY
    inc = EventArrays.build(incidents, INCIDENT_TYPES, n_steps, topo.node)
    fx = incident_effects(inc, r, interval_s)

    # --- path state ------------------------------------------------------------------------------
    n = rng["noise"]
    rho = np.clip(cross + smooth_min(demand, free) / cap, 0.0, RHO_MAX)
    queue_ms = topo.queue_unit_ms * rho / (1 - rho)
    # The transport's window/RTT limit sees the network RTT; the exported rtt_ms is DWCP's
    # heartbeat round trip, which also holds the peers' processing stalls (GC pauses).
    rtt_net = topo.base_rtt_ms * fx.rtt_mult + queue_ms
    rtt_app = rtt_net + fx.rtt_add_ms
    saturation = np.clip((rho - 0.75) / 0.22, 0.0, 1.0)
    loss_true = loss_base + CONGESTION_LOSS[topo.link_type] * saturation**3 + fx.loss_add
    loss_factor = 1.0 / (1.0 + 6.0 * loss_true)  # retransmissions and back-off
    window_mbps = streams * CWND_MAX_SEGMENTS * MSS_BYTES * 8 / (rtt_net / 1000) / 1e6
    up = fx.uptime / 100.0
    goodput = smooth_min(demand, free, window_mbps) * loss_factor * up
    amst_rate = smooth_min(free, window_mbps) * loss_factor  # measured while the streams run

    jitter = 0.04 * topo.base_rtt_ms + 0.35 * queue_ms
    jitter = jitter + 0.3 * (fx.rtt_mult - 1) * topo.base_rtt_ms + 0.2 * fx.rtt_add_ms
    jitter = jitter * lognormal_noise(n, shape, 0.15)
    p50 = (rtt_app / 2 + proc_ms) * lognormal_noise(n, shape, 0.03)
    p99_extra = 2.5 * jitter + 0.5 * queue_ms + 2.0 * fx.rtt_add_ms
    packet_loss = np.clip(loss_true * lognormal_noise(n, shape, 0.25), 0.0, 1.0)
    cwnd = goodput * 1e6 / 8 * (rtt_net / 1000) / MSS_BYTES / streams
    queue_depth = 40.0 * rho / (1 - rho) * lognormal_noise(n, shape, 0.2)
    net = {
        "throughput_mbps": goodput * lognormal_noise(n, shape, THROUGHPUT_NOISE),
        "rtt_ms": rtt_app * lognormal_noise(n, shape, 0.02),
        "jitter_ms": jitter,
        "p50_latency_ms": p50,
        "p99_latency_ms": p50 + p99_extra * lognormal_noise(n, shape, 0.1),
        "packet_loss": packet_loss,
        "congestion_window": np.maximum(cwnd * lognormal_noise(n, shape, 0.03), 1.0),
        "queue_depth": queue_depth,
        "buffer_utilization": np.clip(1 - np.exp(-queue_depth / 400.0), 0.0, 1.0),
        "amst_transfer_rate": amst_rate * lognormal_noise(n, shape, 0.015),
    }

    # --- compression -----------------------------------------------------------------------------
    ratio6, hit = _compression_inputs(rng["compression"], shape, interval_s)
    level_in_use = np.array([MODE_LEVEL[MODES[m]] for m in topo.dwcp_mode])[None, :]
    residual = 1 + (ratio6 - 1) * (1 - oracle.DELTA_OVERLAP * hit)
    ratio_in_use = 1 + (residual - 1) * oracle.LEVEL_GAIN[level_in_use]
    wire_share = hit * oracle.DELTA_RESIDUAL + (1 - hit) / ratio_in_use

    # --- reliability and error budget ------------------------------------------------------------
    e = rng["reliability"]
    err_base = log_uniform(e, 5e-5, 4e-4, n_links)
    fail_base = log_uniform(e, 2e-4, 2e-3, n_links)
    miss_base = log_uniform(e, 1e-4, 5e-4, n_links)
    failure_rate = fail_base * lognormal_noise(e, shape, 0.3) + 0.005 * loss_true + fx.fail_add
    error_rate = err_base * lognormal_noise(e, shape, 0.3) + 0.003 * loss_true + fx.error_add
    slo_miss = miss_base * lognormal_noise(e, shape, 0.3) + fx.slo_miss_add
    slo_miss = slo_miss + 0.0015 * np.clip((rho - 0.8) / 0.17, 0.0, 1.0) ** 2
    error_rate = np.clip(error_rate, 0.0, 1.0)
    slo = 1.0 - np.clip(error_rate + slo_miss, 0.0, 1.0)
    crash = inc.of("crash", INCIDENT_TYPES)
    restart = (e.random(shape) < 0.002) & ~crash  # brief planned restarts: seconds of downtime
    uptime = np.where(restart, 100.0 - e.uniform(0.1, 2.0, shape), fx.uptime)

    epi = EventArrays.build(episodes, EPISODE_TYPES, n_steps, topo.group)
    consensus = _consensus_latency(rng["latency"], topo, epi, day, queue_ms, interval_s)

    return {
        **net,
        "transfer_rate_mbps": net["throughput_mbps"] / wire_share,
        "error_rate": error_rate,
        "uptime_pct": uptime,
        "hde_compression_ratio": ratio6,
        "hde_delta_hit_rate": hit,
        "compression_level": np.broadcast_to(level_in_use, shape),
        "amst_streams": np.broadcast_to(streams, shape),
        "error_budget_burn_rate": (1.0 - slo) / SLO_ERROR_BUDGET,
        "slo_compliance": slo,
        "failure_rate": np.clip(failure_rate, 0.0, 1.0),
        "consensus_latency_ms": consensus,
        "is_anomaly": (inc.index >= 0).astype(np.int64),
        "is_high_latency": (epi.index >= 0).astype(np.int64),
        # hidden ground truth, not written
        "_retransmit_share": np.clip(packet_loss + fx.spurious_retx, 0.0, 1.0),
        "_ack_ratio": np.broadcast_to(ack_ratio, shape),
        "_utilization": rho,
        "_capacity_mbps": np.broadcast_to(cap, shape),
        "_loss_true": loss_true,
    }
