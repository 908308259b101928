"""Topology and per-link constants of the simulated DWCP deployment.

Every datacenter is one consensus group with three nodes: a coordinator, a worker and an edge
node homed to it. Each datacenter contributes four exporting links, one of each link type:

    dc     coordinator -> worker of the same datacenter
    metro  worker      -> worker of the sibling datacenter in the same region
    wan    coordinator -> coordinator of a datacenter in another region
    edge   edge node   -> coordinator of its home datacenter

so every consensus group mixes a sub-millisecond link with a 100 ms one (which is what makes a
static latency threshold useless), and node ids, peers, regions and AZs stay consistent.
`links` need not be a multiple of four: the first `links` links in datacenter order are exported
(peers of the last ones may then be nodes that export nothing, like real partial exports).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from dwcp_training.sim_processes import log_uniform

# (region, short name, UTC offset of its business day in hours)
REGIONS: tuple[tuple[str, str, float], ...] = (
    ("us-east-1", "use1", -5.0),
    ("eu-west-1", "euw1", 0.0),
    ("us-west-2", "usw2", -8.0),
    ("ap-southeast-1", "apse1", 8.0),
)
LINK_TYPES = ("dc", "metro", "wan", "edge")  # schema order
TIERS = ("tier1", "tier2", "tier3")
ROLES = ("coordinator", "worker", "edge")
MODES = ("standard", "optimized", "resilient")
TRANSPORTS = ("tcp", "udp", "quic")

# Per link type: capacity range (Mbit/s, log-uniform), base RTT range (ms), queueing delay per
# unit of rho/(1-rho) (ms), AMST streams range, tier probabilities, replication round period
# (intervals), transport probabilities.
LINK_PARAMS: dict[str, dict] = {
    "dc": dict(cap=(8000, 10000), rtt=(0.2, 0.8), queue=0.02, streams=(1, 2),
               tiers=(1.0, 0.0, 0.0), period=5, transport=(1.0, 0.0, 0.0)),
    "metro": dict(cap=(1000, 2000), rtt=(2.0, 5.0), queue=0.12, streams=(2, 4),
                  tiers=(0.7, 0.3, 0.0), period=6, transport=(0.6, 0.0, 0.4)),
    "wan": dict(cap=(200, 1000), rtt=(30.0, 150.0), queue=1.0, streams=(4, 8),
                tiers=(0.4, 0.4, 0.2), period=7, transport=(0.4, 0.0, 0.6)),
    "edge": dict(cap=(20, 100), rtt=(20.0, 80.0), queue=2.0, streams=(1, 2),
                 tiers=(0.0, 0.5, 0.5), period=9, transport=(0.0, 0.3, 0.7)),
}  # fmt: skip
# A lower tier is a thinner, longer path.
TIER_CAPACITY = np.array([1.0, 0.8, 0.6])
TIER_RTT = np.array([1.0, 1.1, 1.25])
# Compression level DWCP runs per mode (standard = the fixed default, see compression_oracle).
MODE_LEVEL = {"standard": 6, "optimized": 3, "resilient": 1}


@dataclass(frozen=True)
class Topology:
    """Per-link (L,) arrays; links sorted by (node_id, peer_id) so rows come out sorted."""

    node_id: np.ndarray
    peer_id: np.ndarray
    node_role: np.ndarray
    region: np.ndarray
    az: np.ndarray
    datacenter_id: np.ndarray
    link_type: np.ndarray  # index into LINK_TYPES
    network_tier: np.ndarray  # index into TIERS
    transport_type: np.ndarray  # index into TRANSPORTS
    dwcp_mode: np.ndarray  # index into MODES
    utc_offset_h: np.ndarray
    capacity_mbps: np.ndarray
    base_rtt_ms: np.ndarray
    queue_unit_ms: np.ndarray
    streams: np.ndarray
    period: np.ndarray
    group: np.ndarray  # consensus group index (datacenter)
    node: np.ndarray  # exporting node index into `nodes`
    nodes: tuple[str, ...]
    groups: tuple[str, ...]

    @property
    def n_links(self) -> int:
        return len(self.node_id)

    def links_of_node(self, node_index: int) -> np.ndarray:
        return np.flatnonzero(self.node == node_index)

    def links_of_group(self, group_index: int) -> np.ndarray:
        return np.flatnonzero(self.group == group_index)


def _datacenters(n_dc: int) -> list[tuple[str, int]]:
    """(datacenter id, region index) for `n_dc` datacenters, two per region, regions cycling."""
    out = []
    for k in range(n_dc):
        region = (k // 2) % len(REGIONS)
        number = (k // (2 * len(REGIONS))) * 2 + k % 2 + 1
        out.append((f"{REGIONS[region][1]}-dc{number}", region))
    return out


def _wan_partner(k: int, dcs: list[tuple[str, int]]) -> int:
    """The next datacenter (cyclically, from k + 2) that lies in another region."""
    n = len(dcs)
    for step in range(2, n + 2):
        j = (k + step) % n
        if dcs[j][1] != dcs[k][1]:
            return j
    raise AssertionError("topology has a single region")


def build_topology(n_links: int, rng: np.random.Generator) -> Topology:
    """Lay out datacenters, nodes and `n_links` links, and draw each link's constants."""
    if n_links < 1:
        raise ValueError("links must be >= 1")
    n_dc = max(4, 2 * math.ceil(n_links / 8))  # even: every datacenter has a metro sibling
    dcs = _datacenters(n_dc)

    def node(k: int, role: str) -> str:
        return f"{dcs[k][0]}-{dict(coordinator='n1', worker='n2', edge='e1')[role]}"

    raw: list[dict] = []
    for k, (dc_id, region) in enumerate(dcs):
        for ltype, (src_role, peer) in zip(
            LINK_TYPES,
            (
                ("coordinator", node(k, "worker")),
                ("worker", node(k ^ 1, "worker")),
                ("coordinator", node(_wan_partner(k, dcs), "coordinator")),
                ("edge", node(k, "coordinator")),
            ),
            strict=True,
        ):
            name, short, offset = REGIONS[region]
            az = f"{name}-edge" if src_role == "edge" else f"{name}{'ab'[src_role == 'worker']}"
            raw.append(
                dict(node_id=node(k, src_role), peer_id=peer, node_role=ROLES.index(src_role),
                     region=name, az=az, datacenter_id=dc_id, link_type=LINK_TYPES.index(ltype),
                     utc_offset_h=offset, group=k)
            )  # fmt: skip
    raw = raw[:n_links]
    raw.sort(key=lambda r: (r["node_id"], r["peer_id"]))

    n = len(raw)
    ltype = np.array([r["link_type"] for r in raw])
    tier = np.empty(n, dtype=np.int64)
    transport = np.empty(n, dtype=np.int64)
    cap = np.empty(n)
    rtt = np.empty(n)
    queue = np.empty(n)
    streams = np.empty(n, dtype=np.int64)
    period = np.empty(n, dtype=np.int64)
    for i, t in enumerate(ltype):  # per-link constants: a loop over 32 links is fine
        p = LINK_PARAMS[LINK_TYPES[t]]
        tier[i] = rng.choice(3, p=p["tiers"])
        transport[i] = rng.choice(3, p=p["transport"])
        cap[i] = log_uniform(rng, *p["cap"], 1)[0] * TIER_CAPACITY[tier[i]]
        rtt[i] = rng.uniform(*p["rtt"]) * TIER_RTT[tier[i]]
        queue[i] = p["queue"] * rng.uniform(0.7, 1.3)
        streams[i] = rng.integers(p["streams"][0], p["streams"][1] + 1)
        period[i] = p["period"]
    # Edge links run resilient, the rest standard or optimized.
    mode = np.where(ltype == LINK_TYPES.index("edge"), 2, rng.integers(0, 2, n))

    nodes = tuple(dict.fromkeys(r["node_id"] for r in raw))
    group_ids = sorted({r["group"] for r in raw})
    return Topology(
        node_id=np.array([r["node_id"] for r in raw], dtype=object),
        peer_id=np.array([r["peer_id"] for r in raw], dtype=object),
        node_role=np.array([r["node_role"] for r in raw]),
        region=np.array([r["region"] for r in raw], dtype=object),
        az=np.array([r["az"] for r in raw], dtype=object),
        datacenter_id=np.array([r["datacenter_id"] for r in raw], dtype=object),
        link_type=ltype,
        network_tier=tier,
        transport_type=transport,
        dwcp_mode=mode,
        utc_offset_h=np.array([r["utc_offset_h"] for r in raw]),
        capacity_mbps=cap,
        base_rtt_ms=rtt,
        queue_unit_ms=queue,
        streams=streams,
        period=period,
        group=np.array([group_ids.index(r["group"]) for r in raw]),
        node=np.array([nodes.index(r["node_id"]) for r in raw]),
        nodes=nodes,
        groups=tuple(dcs[g][0] for g in group_ids),
    )
