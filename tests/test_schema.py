"""The telemetry schema: its file follows the meta-schema, broken documents are refused, and it
holds every column the model contract (MODEL_SPECS.md, "Data schema") names."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from dwcp_training.errors import ConfigError
from dwcp_training.schema import load_schema, load_schema_file, parse_schema

SCHEMAS = Path(__file__).resolve().parents[1] / "schemas"

# The schema table of MODEL_SPECS.md, group by group (copied here so the test needs no file
# outside the repository; update both together).
SPEC_TABLE = {
    "temporal": ["timestamp", "epoch_time"],
    "topology": ["region", "az", "link_type", "datacenter_id"],
    "identity": ["node_id", "peer_id", "node_role"],
    "latency": ["rtt_ms", "jitter_ms", "p50_latency_ms", "p99_latency_ms"],
    "throughput": ["throughput_mbps", "bytes_tx", "bytes_rx", "transfer_rate_mbps"],
    "reliability": ["packet_loss", "retransmits", "error_rate", "uptime_pct"],
    "congestion": ["congestion_window", "queue_depth", "buffer_utilization"],
    "protocol": ["dwcp_mode", "network_tier", "transport_type"],
    "compression": ["hde_compression_ratio", "hde_delta_hit_rate", "compression_level"],
    "multi_stream": ["amst_streams", "amst_transfer_rate", "stream_utilization"],
    "error_budget": ["error_budget_burn_rate", "slo_compliance", "failure_rate"],
    "labels": ["optimal_compression", "is_anomaly", "consensus_latency_ms", "is_high_latency"],
}
SPEC_DOMAINS = {
    "link_type": ["dc", "metro", "wan", "edge"],
    "node_role": ["coordinator", "worker", "edge"],
    "dwcp_mode": ["standard", "optimized", "resilient"],
    "network_tier": ["tier1", "tier2", "tier3"],
    "transport_type": ["tcp", "udp", "quic"],
}
SPEC_RANGES = {
    "packet_loss": (0, 1),
    "uptime_pct": (0, 100),
    "buffer_utilization": (0, 1),
    "compression_level": (0, 9),
    "optimal_compression": (0, 9),
}


def raw_schema() -> dict[str, Any]:
    return json.loads((SCHEMAS / "dwcp_training_schema.json").read_text())


def test_schema_file_follows_the_meta_schema():
    meta = json.loads((SCHEMAS / "dwcp_training_schema.meta.json").read_text())
    jsonschema.Draft202012Validator.check_schema(meta)
    jsonschema.Draft202012Validator(meta).validate(raw_schema())


def test_packaged_schema_is_the_repository_file():
    assert load_schema().raw == raw_schema()


def test_every_column_of_the_model_contract_is_in_the_schema():
    schema = load_schema()
    for group, names in SPEC_TABLE.items():
        for name in names:
            assert schema.column(name).group == group, name
    assert len(schema.columns) == sum(len(names) for names in SPEC_TABLE.values()) == 40


def test_domains_ranges_and_optional_groups_match_the_contract():
    schema = load_schema()
    for name, values in SPEC_DOMAINS.items():
        assert list(schema.categories(name)) == values
    for name, (low, high) in SPEC_RANGES.items():
        assert (schema.column(name).min, schema.column(name).max) == (low, high)
    optional = {c.name for c in schema.columns if not c.required}
    assert optional == set(SPEC_TABLE["compression"] + SPEC_TABLE["multi_stream"])
    assert schema.column("is_anomaly").type == schema.column("is_high_latency").type == "binary"
    assert schema.max_missing_fraction == 0.05
    assert schema.link_key == ("node_id", "peer_id")
    assert schema.split == {"train": 0.7, "validation": 0.15, "test": 0.15}
    assert schema.sequence_length == {"bandwidth": 10, "latency": 20} and schema.seed == 42


def test_missing_budget_uses_column_override_else_default():
    schema = load_schema()
    assert schema.missing_budget("timestamp") == 0.0
    assert schema.missing_budget("rtt_ms") == 0.05


def column(doc: dict[str, Any], name: str) -> dict[str, Any]:
    return next(c for c in doc["columns"] if c["name"] == name)


def duplicate_column(doc):
    doc["columns"].append(copy.deepcopy(column(doc, "rtt_ms")))


def min_above_max(doc):
    column(doc, "packet_loss")["min"] = 2.0


def unknown_type(doc):
    column(doc, "rtt_ms")["type"] = "decimal"


def category_without_values(doc):
    del column(doc, "link_type")["values"]


def values_on_a_float(doc):
    column(doc, "rtt_ms")["values"] = ["a"]


def range_on_a_category(doc):
    column(doc, "link_type")["min"] = 0


def unknown_link_key(doc):
    doc["quality"]["link_key"] = ["node_id", "peer"]


def split_not_one(doc):
    doc["split"]["test"] = 0.2


def extra_column_field(doc):
    column(doc, "rtt_ms")["units"] = "ms"


def bad_missing_budget(doc):
    column(doc, "rtt_ms")["max_missing_fraction"] = 1.5


def bad_column_name(doc):
    column(doc, "rtt_ms")["name"] = "RTT ms"


BREAKAGES: list[Callable[[dict[str, Any]], None]] = [
    duplicate_column,
    min_above_max,
    unknown_type,
    category_without_values,
    values_on_a_float,
    range_on_a_category,
    unknown_link_key,
    split_not_one,
    extra_column_field,
    bad_missing_budget,
    bad_column_name,
]


@pytest.mark.parametrize("breakage", BREAKAGES, ids=lambda f: f.__name__)
def test_broken_schema_document_is_refused(breakage):
    doc = raw_schema()
    breakage(doc)
    with pytest.raises(ConfigError) as raised:
        parse_schema(doc)
    assert str(raised.value).startswith("schema")


def test_unreadable_schema_file_is_a_config_error(tmp_path):
    path = tmp_path / "schema.json"
    path.write_text("{not json")
    with pytest.raises(ConfigError):
        load_schema_file(path)
    with pytest.raises(ConfigError):
        load_schema_file(tmp_path / "missing.json")


def test_user_schema_file_is_loaded_with_the_same_checks(tmp_path):
    path = tmp_path / "schema.json"
    path.write_text(json.dumps(raw_schema()))
    assert load_schema_file(path).columns == load_schema().columns
