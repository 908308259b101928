"""What each model eats: feature order, target and sequence length, as MODEL_SPECS.md fixes them.

This is the one place that knows the Go contract's feature order. The window step builds arrays
in this order, the models embed it in their exported contract, and the evaluation reads it back,
so a reordering here is a contract change (and the contract tests say so).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ModelInputs:
    """Inputs and target of one model."""

    name: str
    features: tuple[str, ...]
    target: str
    # next_step: a window of `seq_len` rows predicts the target of the following row;
    # window_any: a window of `seq_len` rows is positive when any of its rows is;
    # row: one row, its own target.
    kind: str

    @property
    def n_features(self) -> int:
        return len(self.features)

    @property
    def is_sequence(self) -> bool:
        return self.kind != "row"

    def input_shape(self, seq_len: int | None) -> tuple[int, ...]:
        """Per-sample shape of the raw input the Go side sends.

        Sequence lengths are data settings (the schema's `sequence_length`), not code.
        """
        if self.kind == "next_step":
            return (int(seq_len or 0), self.n_features)
        if self.kind == "window_any":
            return (int(seq_len or 0),)
        return (self.n_features,)


BANDWIDTH = ModelInputs(
    name="bandwidth",
    features=(
        "rtt_ms",
        "jitter_ms",
        "throughput_mbps",
        "packet_loss",
        "link_type",
        "network_tier",
        "congestion_window",
    ),
    target="throughput_mbps",
    kind="next_step",
)
COMPRESSION = ModelInputs(
    name="compression",
    features=(
        "throughput_mbps",
        "rtt_ms",
        "link_type",
        "hde_compression_ratio",
        "hde_delta_hit_rate",
        "amst_transfer_rate",
    ),
    target="optimal_compression",
    kind="row",
)
RELIABILITY = ModelInputs(
    name="reliability",
    features=(
        "uptime_pct",
        "failure_rate",
        "packet_loss",
        "retransmits",
        "error_budget_burn_rate",
        "rtt_ms",
    ),
    target="is_anomaly",
    kind="row",
)
LATENCY = ModelInputs(
    name="latency",
    features=("consensus_latency_ms",),
    target="is_high_latency",
    kind="window_any",
)

MODEL_INPUTS: dict[str, ModelInputs] = {
    m.name: m for m in (BANDWIDTH, COMPRESSION, RELIABILITY, LATENCY)
}
FEATURES: dict[str, tuple[str, ...]] = {name: m.features for name, m in MODEL_INPUTS.items()}
SPLITS: tuple[str, ...] = ("train", "validation", "test")
