"""The offline compression oracle: an explicit transfer-time cost model, and its argmin.

Why an explicit model: the compression target ("98 % accuracy vs the offline oracle") only means
something if the oracle is a deterministic function of exactly the six inputs the Go side sends
(`SelectCompression(features)`), so a model *can* reach it and a wrong model cannot hide behind
label noise. The simulator labels `optimal_compression` with `optimal_level`, and the evaluation
step reuses `effective_throughput`, `throughput_gain` and `regret` to say what a chosen level is
worth against the fixed default level.

The cost model (seconds to replicate one raw batch of S = `PAYLOAD_MB` megabytes):

    h    = hde_delta_hit_rate      share of blocks sent as deltas (DELTA_RESIDUAL of their size)
    R6'  = 1 + (R6 - 1) * (1 - DELTA_OVERLAP * h)
           compressibility left once delta encoding took its share of the redundancy
           (R6 = hde_compression_ratio, measured at level 6)
    R(L) = 1 + (R6' - 1) * LEVEL_GAIN[L]                         ratio reached by level L
    wire(L) = S * (h * DELTA_RESIDUAL + (1 - h) / R(L))          MB on the wire
    cpu_share = 1 / (1 + throughput_mbps / CPU_BUSY_MBPS)
           the live goodput's packet processing competes with the compressor for the core
    cpu(L) = S * (1 - h) / (LEVEL_SPEED_MB_S[L] * cpu_share)
    time(L) = 8 * wire(L) / amst_transfer_rate + cpu(L) + ROUND_TRIPS[link_type] * rtt_s

`amst_transfer_rate` is the rate AMST's parallel streams sustain on the path; it already carries
the RTT (each stream's window / RTT) and the cross traffic, so RTT and link type enter only as
the fixed round trips per batch (open, commit, relays): they set how long a batch takes, and so
the throughput gain, but not which level wins. Compression ratio gains shrink and CPU cost grows
with the level, so time(L) is convex in L and the argmin falls smoothly from level 9 on slow
links carrying compressible data to level 0 on 10 Gbit/s datacenter links.
"""

from __future__ import annotations

import numpy as np

from dwcp_training.models.compression import INPUTS

# Order of the six inputs, as the Go side sends them: the compression model's contract.
FEATURES: tuple[str, ...] = INPUTS.features
LINK_TYPES: tuple[str, ...] = ("dc", "metro", "wan", "edge")  # schema order = encoded index
LEVELS = np.arange(10)

# The fixed level DWCP uses without a selector: zlib's and HDE's default.
DEFAULT_LEVEL = 6

# One replication batch, raw megabytes. All level-dependent costs scale with it, so the argmin
# does not depend on it; it only sets the size of the fixed handshake cost in the throughput.
PAYLOAD_MB = 64.0
# Share of the level-6 redundancy each level harvests: diminishing returns, as in real codecs.
LEVEL_GAIN = np.array([0.0, 0.5, 0.7, 0.82, 0.9, 0.95, 1.0, 1.03, 1.05, 1.06])
# Single-core compressor speed per level, MB of raw input per second (level 0 is a plain copy).
# The ladder spans LZ4-class (level 1) to LZMA-class (level 9) and slows ~2.2x per level, so each
# level owns a band of about a factor 4 in bandwidth: few rows sit near a boundary, which is what
# lets a learned selector reach the 98 % target at all (docs/simulator.md, "compression").
LEVEL_SPEED_MB_S = np.array([np.inf, 800.0, 380.0, 170.0, 75.0, 33.0, 15.0, 6.5, 3.0, 1.3])
# Round trips per batch that do not depend on the level, per link type: open + commit, plus a
# session resumption across regions (wan) and a relay hop (edge).
ROUND_TRIPS = np.array([2.0, 2.0, 3.0, 4.0])
# Live goodput at which packet processing takes half of the sender core.
CPU_BUSY_MBPS = 5000.0
# A delta-encoded block is sent as a residual of this share of its size.
DELTA_RESIDUAL = 0.08
# At hit rate 1, delta encoding has already removed this share of the compressor's redundancy.
DELTA_OVERLAP = 0.5
# Floor on the bandwidth, Mbit/s: a dead link still has a finite (huge) transfer time.
MIN_RATE_MBPS = 0.01


def _matrix(features: np.ndarray) -> np.ndarray:
    """Features as a float64 (n, 6) matrix in FEATURES order (one row may come as a vector)."""
    x = np.asarray(features, dtype=np.float64)
    if x.ndim == 1:
        x = x[None, :]
    if x.ndim != 2 or x.shape[1] != len(FEATURES):
        raise ValueError(
            f"expected (n, {len(FEATURES)}) features in order {FEATURES}, got {x.shape}"
        )
    return x


def _columns(features: np.ndarray) -> tuple[np.ndarray, ...]:
    """The six feature columns (link type as an int index)."""
    x = _matrix(features)
    link = np.clip(np.rint(x[:, 2]), 0, len(LINK_TYPES) - 1).astype(np.int64)
    return x[:, 0], x[:, 1], link, x[:, 3], x[:, 4], x[:, 5]


def transfer_time(levels: np.ndarray | int, features: np.ndarray) -> np.ndarray:
    """Seconds to replicate one `PAYLOAD_MB` batch at `levels` (scalar or (n,) or (n, k))."""
    tput, rtt_ms, link, ratio6, hit, amst = _columns(features)
    lv = np.asarray(levels, dtype=np.int64)
    # Rows x candidate levels: a scalar or (n,) level is one candidate per row.
    lv_2d = lv if lv.ndim == 2 else np.broadcast_to(lv.reshape(-1, 1), (len(tput), 1))
    col = (slice(None), None)
    hit = np.clip(hit, 0.0, 1.0)[col]
    rtt_s = np.maximum(rtt_ms, 0.0)[col] / 1000.0
    residual_ratio = 1.0 + (np.maximum(ratio6, 1.0)[col] - 1.0) * (1.0 - DELTA_OVERLAP * hit)
    ratio = 1.0 + (residual_ratio - 1.0) * LEVEL_GAIN[lv_2d]
    wire_mb = PAYLOAD_MB * (hit * DELTA_RESIDUAL + (1.0 - hit) / ratio)
    s_per_mb = 8.0 / np.maximum(amst, MIN_RATE_MBPS)[col]
    cpu_share = 1.0 / (1.0 + np.maximum(tput, 0.0)[col] / CPU_BUSY_MBPS)
    cpu_s = PAYLOAD_MB * (1.0 - hit) / (LEVEL_SPEED_MB_S[lv_2d] * cpu_share)
    total = wire_mb * s_per_mb + cpu_s + ROUND_TRIPS[link][col] * rtt_s
    return total if lv.ndim == 2 else total[:, 0]


def level_costs(features: np.ndarray) -> np.ndarray:
    """(n, 10) transfer time of every level for every row."""
    x = _matrix(features)
    return transfer_time(np.broadcast_to(LEVELS, (len(x), len(LEVELS))), x)


def optimal_level(features: np.ndarray) -> np.ndarray:
    """The oracle: the level with the shortest transfer time, per row ((n,) int64)."""
    return np.argmin(level_costs(features), axis=1).astype(np.int64)


def effective_throughput(levels: np.ndarray | int, features: np.ndarray) -> np.ndarray:
    """Raw application data delivered per second at `levels`, Mbit/s."""
    return PAYLOAD_MB * 8.0 / transfer_time(levels, features)


def throughput_gain(
    levels: np.ndarray, features: np.ndarray, baseline_level: int = DEFAULT_LEVEL
) -> float:
    """Mean relative gain in effective throughput of `levels` over always `baseline_level`.

    A per-row ratio (then averaged) so that a 10 Gbit/s link does not drown the edge links.
    """
    chosen = effective_throughput(levels, features)
    base = effective_throughput(np.full(len(chosen), baseline_level), features)
    return float(np.mean(chosen / base - 1.0))


def regret(levels: np.ndarray, features: np.ndarray) -> float:
    """Mean relative extra transfer time of `levels` against the oracle (0 = oracle)."""
    costs = level_costs(features)
    chosen = np.take_along_axis(costs, np.asarray(levels, dtype=np.int64)[:, None], axis=1)[:, 0]
    return float(np.mean(chosen / costs.min(axis=1) - 1.0))
