"""The telemetry schema: columns, units, domains and data-quality rules.

The canonical file is `schemas/dwcp_training_schema.json` (shipped in the package as
`dwcp_training.schemas`). Its format is itself described by `dwcp_training_schema.meta.json`
(JSON Schema 2020-12) and checked on every load, so a hand edit that breaks the format fails
loudly instead of silently disabling a rule.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from dwcp_training.errors import ConfigError

SCHEMA_FILE = "dwcp_training_schema.json"
META_SCHEMA_FILE = "dwcp_training_schema.meta.json"


@dataclass(frozen=True)
class ColumnSpec:
    """One column of the telemetry table."""

    name: str
    group: str
    type: str  # datetime | int | float | string | category | binary
    unit: str
    required: bool
    description: str
    values: tuple[str, ...] | None = None
    min: float | None = None
    max: float | None = None
    max_missing_fraction: float | None = None

    @property
    def is_numeric(self) -> bool:
        return self.type in ("int", "float", "binary")

    def index_of(self, value: str) -> int:
        """The integer code of a categorical value (its position in `values`)."""
        assert self.values is not None, f"{self.name} is not categorical"
        return self.values.index(value)


@dataclass(frozen=True)
class Schema:
    """The parsed schema, with lookups the steps need."""

    name: str
    version: str
    columns: tuple[ColumnSpec, ...]
    max_missing_fraction: float
    link_key: tuple[str, ...]
    time_column: str
    timestamp_column: str
    unknown_columns: str
    split: dict[str, float]
    sequence_length: dict[str, int]
    seed: int
    raw: dict[str, Any] = field(repr=False, compare=False, default_factory=dict)

    @functools.cached_property
    def by_name(self) -> dict[str, ColumnSpec]:
        return {c.name: c for c in self.columns}

    def column(self, name: str) -> ColumnSpec:
        return self.by_name[name]

    @property
    def required_columns(self) -> list[str]:
        return [c.name for c in self.columns if c.required]

    @property
    def optional_columns(self) -> list[str]:
        return [c.name for c in self.columns if not c.required]

    def missing_budget(self, name: str) -> float:
        """Largest allowed share of missing values in column `name`."""
        spec = self.by_name[name]
        if spec.max_missing_fraction is not None:
            return spec.max_missing_fraction
        return self.max_missing_fraction

    def categories(self, name: str) -> tuple[str, ...]:
        values = self.by_name[name].values
        if values is None:
            raise KeyError(f"column {name!r} is not categorical")
        return values


def _load_json_resource(filename: str) -> dict[str, Any]:
    return json.loads(resources.files("dwcp_training.schemas").joinpath(filename).read_text())


def check_schema_document(doc: dict[str, Any]) -> None:
    """Raise ConfigError if `doc` does not follow the meta-schema or is inconsistent."""
    import jsonschema

    meta = _load_json_resource(META_SCHEMA_FILE)
    errors = sorted(jsonschema.Draft202012Validator(meta).iter_errors(doc), key=str)
    if errors:
        first = errors[0]
        where = "/".join(str(p) for p in first.absolute_path) or "<root>"
        raise ConfigError(f"schema does not follow the meta-schema at {where}: {first.message}")
    names = [c["name"] for c in doc["columns"]]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ConfigError(f"schema lists columns more than once: {dupes}")
    quality = doc["quality"]
    for key in [*quality["link_key"], quality["time_column"], quality["timestamp_column"]]:
        if key not in names:
            raise ConfigError(f"schema quality rule names unknown column {key!r}")
    total = doc["split"]["train"] + doc["split"]["validation"] + doc["split"]["test"]
    if abs(total - 1.0) > 1e-9:
        raise ConfigError(f"schema split fractions add up to {total}, not 1")
    for c in doc["columns"]:
        if "min" in c and "max" in c and c["min"] > c["max"]:
            raise ConfigError(f"schema column {c['name']!r}: min > max")


def parse_schema(doc: dict[str, Any]) -> Schema:
    """Check `doc` against the meta-schema and build a Schema."""
    check_schema_document(doc)
    columns = tuple(
        ColumnSpec(
            name=c["name"],
            group=c["group"],
            type=c["type"],
            unit=c["unit"],
            required=c["required"],
            description=c["description"],
            values=tuple(c["values"]) if "values" in c else None,
            min=c.get("min"),
            max=c.get("max"),
            max_missing_fraction=c.get("max_missing_fraction"),
        )
        for c in doc["columns"]
    )
    q = doc["quality"]
    return Schema(
        name=doc["name"],
        version=doc["version"],
        columns=columns,
        max_missing_fraction=q["max_missing_fraction"],
        link_key=tuple(q["link_key"]),
        time_column=q["time_column"],
        timestamp_column=q["timestamp_column"],
        unknown_columns=q["unknown_columns"],
        split={k: doc["split"][k] for k in ("train", "validation", "test")},
        sequence_length=dict(doc["sequence_length"]),
        seed=doc["seed"],
        raw=doc,
    )


@functools.lru_cache(maxsize=1)
def load_schema() -> Schema:
    """The project's telemetry schema (cached; it is immutable)."""
    return parse_schema(_load_json_resource(SCHEMA_FILE))


def load_schema_file(path: str | Path) -> Schema:
    """A schema from a file of the user's (same format, same checks)."""
    try:
        doc = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read schema: {exc}") from exc
    return parse_schema(doc)
