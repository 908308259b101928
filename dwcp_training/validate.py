"""The `validate` step: check a telemetry table against the schema and type it.

Training on bad telemetry fails late and silently (a NaN in a window, a link whose clock runs
backwards, a category the encoder never saw), so every rule of the schema is checked here, once,
before anything else runs, and the run stops with a message that names the file, the column, the
rule and the first offending rows.

All checks are vectorized (numpy masks, one factorize per key column; time order is proven in
linear time for the usual row layouts, else found with one stable sort), and big tables are
checked on every core; a million rows validate in about a tenth of a second.

Conventions the other steps rely on:
- Row numbers are 1-based DATA rows: row 1 is the first row after the CSV header (for a frame,
  row i + 1 is position i). Only the first 5 offending rows are listed, with the total count.
- Missing values (empty CSV cells, NA/NaN/null texts, None/NaN in frames) are allowed up to the
  column's budget (`Schema.missing_budget`); they stay NaN/NaT/missing in the typed frame.
  An optional column that is entirely empty is treated as absent (warning `empty_optional`).
- Timestamps: ISO-8601 text with `Z` or a UTC offset, or tz-aware datetimes, are converted to
  UTC. Naive timestamps (no offset) are read as UTC and draw a `timezone` warning; the
  `time_consistency` rule (epoch_time must equal the timestamp's Unix second) then catches a
  file whose naive timestamps were really local time.
- The typed frame holds the schema columns present in the input, in schema order, with a fresh
  RangeIndex and the input row order; unknown columns are dropped (after a warning).
"""

from __future__ import annotations

import difflib
import math
import os
import threading
import time
from collections.abc import Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from dwcp_training.atomic import write_json
from dwcp_training.errors import DataError
from dwcp_training.io import detect_format, file_sha256, read_telemetry_with_format
from dwcp_training.schema import ColumnSpec, Schema, load_schema

__all__ = [
    "ValidationFailed",
    "ValidationReport",
    "ValidationResult",
    "Violation",
    "require_valid",
    "validate_file",
    "validate_frame",
    "write_report",
]

MAX_ROWS_LISTED = 5
QUANTILES = {
    "p01": 0.01,
    "p05": 0.05,
    "p25": 0.25,
    "p50": 0.5,
    "p75": 0.75,
    "p95": 0.95,
    "p99": 0.99,
}
# Above this many values, quantiles come from a fixed random sample of this size: exact
# quantiles of 30 columns x 1M rows would cost more than all the other checks together, and a
# 20k sample puts every reported quantile within about 1 percentile point of the truth (3 sigma
# at the median, much closer in the tails). The report says `quantiles_exact: false` then.
QUANTILE_SAMPLE = 20_000
# Below this many rows, threads cost more than they save.
PARALLEL_MIN_ROWS = 200_000
ROW_NUMBERING = "1-based data rows: row 1 is the first row after the CSV header"
_NS_PER_S = 1_000_000_000
# A clock time as ISO-8601 writes it, before the zone designator: "12:30", "12:30:05.123".
_TIME = r"\d\d:\d\d(?::\d\d(?:[.,]\d+)?)?"
# Whole days inside the range of datetime64[ns] (1677-09-21 .. 2262-04-11).
_NS_RANGE = (np.datetime64("1677-09-22", "s"), np.datetime64("2262-04-11", "s"))
_INT_DTYPES = ("int", "binary")
# Rows per block of the element-wise table checks (see `_blocks`).
_BLOCK = 1 << 16


# --- public result types -------------------------------------------------------------------------


@dataclass
class Violation:
    """One broken rule: where (column), which rule, how often, the first rows, and in words."""

    column: str | None
    rule: str
    count: int
    rows: list[int]
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "column": self.column,
            "rule": self.rule,
            "count": int(self.count),
            "rows": [int(r) for r in self.rows],
            "message": self.message,
        }

    def summary_line(self, source: str) -> str:
        """E.g. "data.csv: column 'packet_loss', rule 'max': 3 values > 1.0 (rows 17, 18, 40)"."""
        where = (
            f"column '{self.column}', rule '{self.rule}'" if self.column else f"rule '{self.rule}'"
        )
        return f"{source}: {where}: {self.message}{_rows_suffix(self.rows, self.count)}"


@dataclass
class ValidationReport:
    """Statistics and anomalies of one table; written as JSON next to the step's outputs."""

    source: str
    sha256: str
    n_rows: int
    n_columns: int
    columns: dict[str, dict[str, Any]]
    violations: list[Violation]
    warnings: list[Violation]
    elapsed_s: float
    format: str = "frame"
    read_s: float = 0.0
    n_links: int = 0
    schema_name: str = ""
    schema_version: str = ""

    @property
    def ok(self) -> bool:
        """True when no rule is broken (warnings do not count)."""
        return not self.violations

    @property
    def rows_per_second(self) -> float | None:
        return self.n_rows / self.elapsed_s if self.elapsed_s > 0 else None

    def summary_lines(self) -> list[str]:
        """One short line per problem, violations first, then warnings."""
        lines = [v.summary_line(self.source) for v in self.violations]
        lines += [f"warning: {w.summary_line(self.source)}" for w in self.warnings]
        return lines

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (no NaN: missing statistics are None)."""
        payload = {
            "source": self.source,
            "sha256": self.sha256,
            "format": self.format,
            "schema": {"name": self.schema_name, "version": self.schema_version},
            "ok": self.ok,
            "n_rows": self.n_rows,
            "n_columns": self.n_columns,
            "n_links": self.n_links,
            "row_numbering": ROW_NUMBERING,
            "elapsed_s": round(self.elapsed_s, 6),
            "read_s": round(self.read_s, 6),
            "rows_per_second": self.rows_per_second,
            "violations": [v.to_dict() for v in self.violations],
            "warnings": [w.to_dict() for w in self.warnings],
            "columns": self.columns,
        }
        return _json_safe(payload)


@dataclass
class ValidationResult:
    """The typed frame (what `window` consumes) and the report."""

    frame: pd.DataFrame
    report: ValidationReport


class ValidationFailed(DataError):
    """The table breaks schema rules; `.report` holds every violation and the statistics."""

    def __init__(self, report: ValidationReport) -> None:
        self.report = report
        first = report.violations[0] if report.violations else None
        self.path = report.source
        self.column = first.column if first else None
        self.rule = first.rule if first else None
        self.rows = list(first.rows) if first else []
        self.message = "\n".join(report.summary_lines())
        Exception.__init__(self, self.message)  # not DataError's: the lines name the file


# --- public functions ----------------------------------------------------------------------------


def validate_frame(
    frame: pd.DataFrame,
    schema: Schema | None = None,
    source: str = "<frame>",
    sha256: str = "",
) -> ValidationResult:
    """Check every schema rule on `frame` and return the typed frame with the report."""
    started = time.perf_counter()
    schema = schema or load_schema()
    check = _Checker(schema, n_rows=len(frame))
    positions = check.columns_present(frame)
    if len(frame) == 0:
        check.violation(None, "no_rows", 1, [], "the table has no data rows")
    typed = _check_table(check, frame, positions)
    out = pd.DataFrame(typed, index=pd.RangeIndex(len(frame)), copy=False)
    report = ValidationReport(
        source=source,
        sha256=sha256,
        n_rows=len(frame),
        n_columns=frame.shape[1],
        columns=check.stats,
        violations=check.violations,
        warnings=check.warnings,
        elapsed_s=time.perf_counter() - started,
        n_links=check.n_links,
        schema_name=schema.name,
        schema_version=schema.version,
    )
    return ValidationResult(frame=out, report=report)


def validate_file(path: str | os.PathLike[str], schema: Schema | None = None) -> ValidationResult:
    """Read and validate a CSV/CSV.gz/Parquet file; an unreadable file raises DataError."""
    started = time.perf_counter()
    schema = schema or load_schema()
    detect_format(path)  # fail fast on the cheap checks before hashing a large file
    with ThreadPoolExecutor(max_workers=1) as pool:  # hash while pyarrow parses
        digest = pool.submit(file_sha256, path)
        frame, fmt = read_telemetry_with_format(path, schema)
        read_s = time.perf_counter() - started
        try:
            sha256 = digest.result()
        except OSError as exc:
            raise DataError(path, f"cannot read the file: {exc}", rule="read") from None
    result = validate_frame(frame, schema, source=str(path), sha256=sha256)
    result.report.format = fmt
    result.report.read_s = read_s
    result.report.elapsed_s = time.perf_counter() - started
    return result


def write_report(report: ValidationReport, path: str | os.PathLike[str]) -> Path:
    """Write the report as JSON, atomically."""
    return write_json(path, report.to_dict())


def require_valid(
    path: str | os.PathLike[str],
    schema: Schema | None = None,
    report_path: str | os.PathLike[str] | None = None,
) -> ValidationResult:
    """The typed frame and report of a valid file; otherwise write the report and raise.

    Raises ValidationFailed (rules broken) or DataError (file unreadable); in both cases the
    report is written first when `report_path` is given, so a pipeline always has one to show.
    """
    try:
        result = validate_file(path, schema)
    except DataError as exc:
        if report_path is not None:
            write_report(_report_for_unreadable(path, exc, schema or load_schema()), report_path)
        raise
    if report_path is not None:
        write_report(result.report, report_path)
    if not result.report.ok:
        raise ValidationFailed(result.report)
    return result


# --- the checks ----------------------------------------------------------------------------------


class _Checker:
    """Runs the per-column and per-table rules, collecting violations, warnings and stats."""

    def __init__(
        self,
        schema: Schema,
        n_rows: int,
        sample: np.ndarray | None = None,
        scratch: _Scratch | None = None,
    ) -> None:
        self.schema = schema
        self.n_rows = n_rows
        self.violations: list[Violation] = []
        self.warnings: list[Violation] = []
        self.stats: dict[str, dict[str, Any]] = {}
        self.n_links = 0
        if sample is None and n_rows > QUANTILE_SAMPLE:
            rng = np.random.default_rng(0)  # fixed seed: the same file gives the same report
            sample = np.sort(rng.integers(0, n_rows, QUANTILE_SAMPLE))
        self._sample = sample
        self._scratch = scratch or _Scratch(n_rows)

    def child(self) -> _Checker:
        """A checker for one column, safe to run in another thread; `merge` it back."""
        return _Checker(self.schema, self.n_rows, self._sample, self._scratch)

    def merge(self, other: _Checker) -> None:
        """Take over a column checker's findings."""
        self.violations += other.violations
        self.warnings += other.warnings
        self.stats.update(other.stats)

    def merge_table(self, other: _Checker) -> None:
        """Take over a time-rules checker's findings (its stats add to the columns' stats)."""
        self.violations += other.violations
        self.warnings += other.warnings
        self.n_links = other.n_links
        for name, extra in other.stats.items():
            self.stats[name].update(extra)

    # recording -------------------------------------------------------------------------------

    def violation(
        self, column: str | None, rule: str, count: int, rows: list[int], msg: str
    ) -> None:
        self.violations.append(Violation(column, rule, int(count), rows, msg))

    def warning(self, column: str | None, rule: str, count: int, rows: list[int], msg: str) -> None:
        self.warnings.append(Violation(column, rule, int(count), rows, msg))

    def flag(self, column: str, rule: str, mask: np.ndarray, tail: str) -> None:
        """Record a violation "<n> value(s) is/are <tail>" for the True cells of `mask`."""
        count, rows = _count_rows(mask)
        if count:
            self.violation(column, rule, count, rows, f"{_values_are(count)} {tail}")

    # columns -----------------------------------------------------------------------------------

    def columns_present(self, frame: pd.DataFrame) -> dict[str, int]:
        """Position of each schema column in `frame`; reports missing, unknown, duplicates."""
        names = [str(c) for c in frame.columns]
        known = set(self.schema.by_name)
        unknown = [n for n in dict.fromkeys(names) if n not in known]
        positions: dict[str, int] = {}
        for index, name in enumerate(names):
            positions.setdefault(name, index)
        for spec in self.schema.columns:
            copies = names.count(spec.name)
            if copies > 1:
                self.violation(
                    spec.name,
                    "duplicate_column",
                    copies,
                    [],
                    f"the column appears {copies} times; only the first is used",
                )
            if spec.required and spec.name not in positions:
                hint = _did_you_mean(spec.name, unknown)
                self.violation(spec.name, "required", 1, [], f"required column is missing{hint}")
        record = self.warning if self.schema.unknown_columns == "warn" else self.violation
        for name in unknown:
            hint = _did_you_mean(name, sorted(known - set(positions)))
            record(name, "unknown_column", 1, [], f"column is not in the schema; ignored{hint}")
        return {n: i for n, i in positions.items() if n in known}

    def column(self, series: pd.Series, spec: ColumnSpec) -> pd.Series:
        """Check one column by its type; return it typed, indexed 0..n-1, named as the schema."""
        typed = self._typed_column(series, spec)
        return typed.set_axis(pd.RangeIndex(self.n_rows)).rename(spec.name)

    def _typed_column(self, series: pd.Series, spec: ColumnSpec) -> pd.Series:
        """Dispatch by type; data that cannot be interpreted at all breaks the `type` rule."""
        try:
            if spec.type == "datetime":
                return self.datetime_column(series, spec)
            if spec.type == "category":
                return self.category_column(series, spec)
            if spec.type == "string":
                return self.string_column(series, spec)
            return self.numeric_column(series, spec)
        except (TypeError, ValueError, OverflowError, pa.ArrowException) as exc:
            self.violation(
                spec.name, "type", self.n_rows, [], f"values cannot be read as {spec.type}: {exc}"
            )
            self.stats[spec.name] = {"type": spec.type, "count": 0, "missing": self.n_rows}
            return pd.Series(np.full(self.n_rows, np.nan), name=spec.name)

    def missing(self, spec: ColumnSpec, missing: np.ndarray | None) -> dict[str, Any]:
        """Apply the missing-value budget (None: nothing missing); return that part of the stats."""
        n_missing = 0 if missing is None else int(np.count_nonzero(missing))
        n = self.n_rows
        fraction = n_missing / n if n else 0.0
        budget = self.schema.missing_budget(spec.name)
        if n and n_missing == n and not spec.required:
            self.warning(
                spec.name, "empty_optional", n, [], "optional column is entirely empty; ignored"
            )
        elif missing is not None and n_missing > budget * n:
            allowed = "this column must be complete" if budget == 0 else f"{budget:.1%} allowed"
            count, rows = _count_rows(missing)
            self.violation(
                spec.name,
                "missing",
                count,
                rows,
                f"{n_missing} of {n} values are missing ({fraction:.1%}); {allowed}",
            )
        return {
            "type": spec.type,
            "count": n - n_missing,
            "missing": n_missing,
            "missing_fraction": fraction,
        }

    def numeric_column(self, series: pd.Series, spec: ColumnSpec) -> pd.Series:
        """int/float/binary: parse, then `type`, `missing`, `finite`, `min`, `max`.

        Fast path: NaN propagates through min() and max(), so when both are finite the column
        has neither missing values nor infinities, and the range rules are two comparisons.
        """
        values, unparsable = _as_numbers(series)
        if spec.type != "binary" and pd.api.types.is_bool_dtype(series.dtype):
            unparsable = series.notna().to_numpy()  # true/false is no measurement
            values = np.where(unparsable, np.nan, values)
        if unparsable is not None:
            self._type_error(spec, series, unparsable, "not numeric")
        low, high = _min_max(values)
        finite: np.ndarray | None = None  # None: every value is finite
        if math.isfinite(low) and math.isfinite(high):
            stats = self.missing(spec, None)
        else:
            nan = np.isnan(values)
            stats = self.missing(spec, nan if unparsable is None else nan & ~unparsable)
            finite = np.isfinite(values)
            self.flag(spec.name, "finite", ~(finite | nan), "infinite (inf or -inf)")
        invalid = self._domain(spec, values, finite, low, high)
        self._ranges(spec, values, finite, low, high)
        kept = values if finite is None else values[finite]
        sample = self._quantile_sample(values, finite)
        stats.update(
            invalid=invalid + (int(np.count_nonzero(unparsable)) if unparsable is not None else 0),
            infinite=0 if finite is None else int(np.count_nonzero(np.isinf(values))),
            # when every value is finite, min and max are known already
            **_numeric_stats(kept, sample, self._scratch, (low, high) if finite is None else None),
        )
        self.stats[spec.name] = stats
        return _typed_numeric(spec, values)

    def _domain(
        self,
        spec: ColumnSpec,
        values: np.ndarray,
        finite: np.ndarray | None,
        low: float,
        high: float,
    ) -> int:
        """Whole numbers for int columns, 0/1 for binary ones; returns how many broke it."""
        integral = values.dtype.kind in "iu"
        if spec.type == "binary":
            if integral and low >= 0 and high <= 1:
                return 0
            bad = (values != 0) & (values != 1)
            what = "neither 0 nor 1 (binary column)"
        elif spec.type == "int" and not integral:
            bad = values != np.floor(values)
            what = "fractional (int column)"
        else:
            return 0
        if finite is not None:
            bad &= finite
        self.flag(spec.name, "type", bad, f"{what}, e.g. {_examples(values, bad)}")
        return int(np.count_nonzero(bad))

    def _ranges(
        self,
        spec: ColumnSpec,
        values: np.ndarray,
        finite: np.ndarray | None,
        low: float,
        high: float,
    ) -> None:
        """`min`/`max` on finite values (infinities are already reported by `finite`)."""
        for rule, bound, below in (("min", spec.min, True), ("max", spec.max, False)):
            if bound is None or (finite is None and (low >= bound if below else high <= bound)):
                continue
            bad = values < bound if below else values > bound
            if finite is not None:
                bad &= finite
            if not bad.any():
                continue
            worst = float(values[bad].min() if below else values[bad].max())
            sign, word = ("<", "smallest") if below else (">", "largest")
            self.flag(spec.name, rule, bad, f"{sign} {_num(bound)} ({word} {_num(worst)})")

    def _type_error(self, spec: ColumnSpec, series: pd.Series, bad: np.ndarray, what: str) -> None:
        if bad.any():
            examples = _examples(series, bad)
            self.flag(spec.name, "type", bad, f"{what}, e.g. {examples}")

    def _quantile_sample(self, values: np.ndarray, finite: np.ndarray | None) -> np.ndarray:
        """The finite values to take quantiles from: all, or a fixed-seed random sample."""
        if self._sample is None:
            return values if finite is None else values[finite]
        picked = values[self._sample]
        return picked if finite is None else picked[finite[self._sample]]

    def datetime_column(self, series: pd.Series, spec: ColumnSpec) -> pd.Series:
        """Parse to datetime64[ns, UTC]; `type` for unparsable, `timezone` warnings."""
        parsed, unparsable = self._parse_datetime(series, spec)
        self._type_error(spec, series, unparsable, "not an ISO-8601 time")
        nat = parsed.isna().to_numpy()
        stats = self.missing(spec, nat & ~unparsable)
        stats.update(
            invalid=int(np.count_nonzero(unparsable)),
            min=_iso(parsed.min()),  # NaT (all missing) gives None
            max=_iso(parsed.max()),
        )
        self.stats[spec.name] = stats
        return parsed.rename(spec.name)

    def _parse_datetime(self, series: pd.Series, spec: ColumnSpec) -> tuple[pd.Series, np.ndarray]:
        dtype = series.dtype
        present = series.notna().to_numpy()
        if isinstance(dtype, pd.DatetimeTZDtype):
            if str(dtype.tz) != "UTC":
                count = int(np.count_nonzero(present))
                self.warning(
                    spec.name, "timezone", count, [], f"timestamps in {dtype.tz} converted to UTC"
                )
            parsed = series.dt.tz_convert("UTC")
        elif pd.api.types.is_datetime64_dtype(dtype):
            self._naive_warning(spec, present)
            parsed = series.dt.tz_localize("UTC")
        elif pd.api.types.is_numeric_dtype(dtype):  # e.g. epoch numbers: not ISO-8601
            parsed = pd.Series(pd.NaT, index=series.index, dtype="datetime64[ns, UTC]")
        else:
            text = series.astype("str")
            parsed = pd.to_datetime(text, utc=True, format="ISO8601", errors="coerce")
            self._zone_warnings(spec, text, present & parsed.notna().to_numpy())
        parsed, out_of_range = _to_ns(parsed)
        unparsable = present & (parsed.isna().to_numpy() | out_of_range)
        return parsed, unparsable

    def _naive_warning(self, spec: ColumnSpec, naive: np.ndarray) -> None:
        count, rows = _count_rows(naive)
        if count:
            self.warning(
                spec.name,
                "timezone",
                count,
                rows,
                f"{_plural(count, 'timestamp')} without a time zone, read as UTC "
                "(write them with a trailing Z)",
            )

    def _zone_warnings(self, spec: ColumnSpec, text: pd.Series, parsed: np.ndarray) -> None:
        """ISO text: no offset -> read as UTC (warning); non-zero offset -> converted (warning)."""
        stripped = text.str.strip()
        zoned = stripped.str.contains(_TIME + r"\s*(?:[zZ]|[+-]\d\d(?::?\d\d)?)$", na=False)
        self._naive_warning(spec, parsed & ~zoned.to_numpy(dtype=bool))
        shifted = stripped.str.contains(_TIME + r"\s*[+-](?!00:?00$)\d\d(?::?\d\d)?$", na=False)
        count, rows = _count_rows(parsed & shifted.to_numpy(dtype=bool))
        if count:
            self.warning(
                spec.name,
                "timezone",
                count,
                rows,
                f"{_plural(count, 'timestamp')} with a non-UTC offset, converted to UTC",
            )

    def category_column(self, series: pd.Series, spec: ColumnSpec) -> pd.Series:
        """Map to the schema's categories (codes = schema index); `values` for unknown ones."""
        allowed = list(spec.values or ())
        codes, labels = _factorize(series)
        # label index -> schema index (-2: unknown); the extra last slot serves code -1 (missing)
        lut = np.full(len(labels) + 1, -1, dtype=np.int8)
        if len(labels):
            found = pd.Index(allowed).get_indexer(labels.astype(str))
            lut[:-1] = np.where(found < 0, -2, found)
        schema_codes = lut[codes]
        per_label = _code_counts(codes, len(labels))
        unknown_labels = lut[:-1] == -2
        unknown = schema_codes == -2 if unknown_labels.any() else None
        if unknown is not None:
            self._unknown_categories(spec, labels, per_label * unknown_labels, unknown)
            schema_codes = np.where(unknown, -1, schema_codes).astype(np.int8)
        stats = self.missing(spec, codes < 0)
        known = ~unknown_labels
        counts = np.bincount(lut[:-1][known], weights=per_label[known], minlength=len(allowed))
        stats.update(
            invalid=int(per_label[unknown_labels].sum()),
            value_counts={value: int(c) for value, c in zip(allowed, counts, strict=True)},
        )
        self.stats[spec.name] = stats
        dtype = pd.CategoricalDtype(allowed, ordered=False)
        return pd.Series(pd.Categorical.from_codes(schema_codes, dtype=dtype), copy=False)

    def _unknown_categories(
        self, spec: ColumnSpec, labels: pd.Index, per_label: np.ndarray, unknown: np.ndarray
    ) -> None:
        """One `values` violation naming the most frequent bad values and near-misses."""
        allowed = list(spec.values or ())
        worst = np.argsort(-per_label, kind="stable")[: np.count_nonzero(per_label)][:5]
        lowered = {v.lower(): v for v in allowed}
        shown = []
        for index in worst:
            label = str(labels[index])
            guess = lowered.get(label.strip().lower())
            hint = f", did you mean '{guess}'?" if guess else ""
            shown.append(f"'{label}' (x{per_label[index]}{hint})")
        self.flag(
            spec.name, "values", unknown, f"not in the allowed set {allowed}: {', '.join(shown)}"
        )

    def string_column(self, series: pd.Series, spec: ColumnSpec) -> pd.Series:
        """Free text: only the missing budget applies."""
        typed = series if series.dtype == "str" else series.astype("str")
        stats = self.missing(spec, typed.isna().to_numpy())
        self.stats[spec.name] = stats
        return typed

    # table-level -------------------------------------------------------------------------------

    def time_rules(self, typed: Mapping[str, pd.Series]) -> None:
        """`time_order` per link and `time_consistency` between epoch_time and timestamp.

        `typed` maps names to typed columns; only the time and link-key columns are used.
        """
        times = self._times(typed)
        if times is None:
            return
        column, seconds = times
        links = self._link_codes(typed)
        if links is not None:
            self._time_order(column, seconds, links, typed)
        if self.schema.time_column in typed and self.schema.timestamp_column in typed:
            self._time_consistency(typed, epoch=seconds)  # `_times` took the epoch column

    def _times(self, typed: Mapping[str, pd.Series]) -> tuple[str, np.ndarray] | None:
        """Unix seconds (float, NaN = unknown) from the time column, else from the timestamp."""
        if self.schema.time_column in typed:
            values = typed[self.schema.time_column].to_numpy(dtype=np.float64, na_value=np.nan)
            return self.schema.time_column, values
        if self.schema.timestamp_column in typed:
            ns, nat = _ns(typed[self.schema.timestamp_column])
            seconds = ns / _NS_PER_S
            seconds[nat] = np.nan
            return self.schema.timestamp_column, seconds
        return None

    def _link_codes(self, typed: Mapping[str, pd.Series]) -> np.ndarray | None:
        """A dense int code per (node_id, peer_id) link in order of first appearance, -1 where
        a key part is missing."""
        key = self.schema.link_key
        if any(k not in typed for k in key):
            return None
        n_rows = len(typed[key[0]])
        combined = np.zeros(n_rows, dtype=np.int64)
        missing = np.zeros(n_rows, dtype=bool)
        for name in key:
            codes, uniques = pd.factorize(typed[name])
            self.stats.setdefault(name, {})["distinct"] = len(uniques)
            combined = combined * max(len(uniques), 1) + codes
            missing |= codes < 0
        combined[missing] = -1
        links, uniques = pd.factorize(combined)
        self.n_links = int(np.count_nonzero(uniques >= 0))
        if -1 in uniques:
            links = np.where(combined < 0, -1, links)
        return links

    def _time_order(
        self, column: str, seconds: np.ndarray, links: np.ndarray, typed: Mapping[str, pd.Series]
    ) -> None:
        """Within each link, in file order, every time must be strictly later than the last."""
        if _increasing_per_link(seconds, links, self.n_links):
            return  # the usual layouts, proven in linear time; the sort below finds the rows
        usable = np.flatnonzero((links >= 0) & ~np.isnan(seconds))
        group = links[usable]
        small = np.uint16 if self.n_links < 2**16 else np.int64  # uint16 gets a radix sort
        order = usable[np.argsort(group.astype(small), kind="stable")]
        same_link = links[order[1:]] == links[order[:-1]]
        step = seconds[order[1:]] - seconds[order[:-1]]
        repeat = same_link & (step == 0)
        back = same_link & (step < 0)
        bad = np.zeros(len(seconds), dtype=bool)
        bad[order[1:][repeat | back]] = True
        count, rows = _count_rows(bad)
        if not count:
            return
        first = rows[0] - 1
        position = np.flatnonzero(order[1:] == first)[0]
        before = int(order[position])
        key = " -> ".join(str(typed[k].iloc[first]) for k in self.schema.link_key)
        kinds = _time_order_kinds(int(np.count_nonzero(repeat)), int(np.count_nonzero(back)))
        self.violation(
            column,
            "time_order",
            count,
            rows,
            f"time must strictly increase within each link ({', '.join(self.schema.link_key)}) "
            f"in file order: {kinds}; e.g. row {first + 1} (link {key}) has {column} "
            f"{_num(seconds[first])} after {_num(seconds[before])} at row {before + 1}",
        )

    def _time_consistency(self, typed: Mapping[str, pd.Series], epoch: np.ndarray) -> None:
        """epoch_time must be the Unix second of timestamp (sub-second digits are ignored).

        `epoch` is the epoch_time column as float (NaN = missing).
        """
        epoch_name, ts_name = self.schema.time_column, self.schema.timestamp_column
        ns, nat = _ns(typed[ts_name])
        bad = _epoch_mismatch(epoch, ns, nat)
        count, rows = _count_rows(bad)
        if not count:
            return
        ts_seconds = _whole_seconds(ns)
        first = rows[0] - 1
        hint = _epoch_hint(epoch[bad], ts_seconds[bad])
        self.violation(
            epoch_name,
            "time_consistency",
            count,
            rows,
            f"{_plural(count, 'row')} where {epoch_name} is not the Unix second of {ts_name}; "
            f"e.g. row {first + 1}: {epoch_name} {_num(epoch[first])} but {ts_name} "
            f"{_iso(typed[ts_name].iloc[first])} is {_num(ts_seconds[first])}{hint}",
        )


# --- helpers -------------------------------------------------------------------------------------


class _Scratch:
    """A reusable float64 work array of one column's length, one per thread.

    np.std needs a temporary as long as the column. Above glibc's mmap threshold (at most
    32 MiB, 4M values) every such temporary is fresh memory from the kernel, whose page faults
    cost more than the arithmetic; one array per worker thread, reused for every column, and
    freed with the checker, avoids that.
    """

    def __init__(self, n_rows: int) -> None:
        self._n_rows = n_rows
        self._local = threading.local()

    def get(self) -> np.ndarray:
        array = getattr(self._local, "array", None)
        if array is None:
            array = self._local.array = np.empty(self._n_rows)
        return array


def _check_table(
    check: _Checker, frame: pd.DataFrame, positions: dict[str, int]
) -> dict[str, pd.Series]:
    """Check each schema column present, then the time rules; big tables use one thread per core.

    numpy and pyarrow release the GIL in the heavy parts, so jobs run truly in parallel. The
    time rules need only the time and link-key columns: those are checked first, and the time
    rules then run alongside the remaining columns instead of after all of them. Every job gets
    its own child checker, merged back in schema order (time rules last), so reports stay
    identical.
    """
    schema = check.schema
    needed = {*schema.link_key, schema.time_column, schema.timestamp_column}
    specs = [spec for spec in schema.columns if spec.name in positions]

    def column(spec: ColumnSpec, series: pd.Series) -> tuple[pd.Series, _Checker]:
        child = check.child()
        return child.column(series, spec), child

    def time_rules(columns: dict[str, Future[tuple[pd.Series, _Checker]]]) -> _Checker:
        child = check.child()
        child.time_rules({name: job.result()[0] for name, job in columns.items()})
        return child

    def submit(pool: ThreadPoolExecutor, keys: bool) -> dict[str, Future[Any]]:
        return {
            spec.name: pool.submit(column, spec, frame.iloc[:, positions[spec.name]])
            for spec in specs
            if (spec.name in needed) == keys
        }

    workers = _worker_count() if len(frame) >= PARALLEL_MIN_ROWS else 1
    with ThreadPoolExecutor(max_workers=workers) as pool:  # first in, first run
        jobs = submit(pool, keys=True)
        table = pool.submit(time_rules, dict(jobs)) if len(frame) else None
        jobs.update(submit(pool, keys=False))
        typed: dict[str, pd.Series] = {}
        for spec in specs:
            typed[spec.name], child = jobs[spec.name].result()
            check.merge(child)
        if table is not None:
            check.merge_table(table.result())
    return typed


def _worker_count() -> int:
    """CPUs this process may use (the affinity mask, which containers restrict), at most 8."""
    try:
        available = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        available = os.cpu_count() or 1
    return max(1, min(available, 8))


def _as_numbers(series: pd.Series) -> tuple[np.ndarray, np.ndarray | None]:
    """The column as an int64 or float64 array (NaN = missing or unparsable), and the mask
    of unparsable cells (None when the column was numeric already).

    Plain numpy int/float columns are used as they are, without a copy.
    """
    dtype = series.dtype
    if isinstance(dtype, np.dtype) and dtype.kind in "ifb":
        target = np.float64 if dtype.kind == "f" else np.int64
        return series.to_numpy().astype(target, copy=False), None
    if pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_bool_dtype(dtype):
        return series.to_numpy(dtype=np.float64, na_value=np.nan), None  # nullable, arrow
    present = series.notna().to_numpy()
    if not _is_text_like(dtype):  # dates, durations, intervals: no number to be had
        return np.full(len(series), np.nan), present
    try:
        parsed = pd.to_numeric(series, errors="coerce")
    except (TypeError, ValueError):  # lists, bytes, categoricals of mixed objects
        parsed = pd.to_numeric(series.astype(object).astype(str), errors="coerce")
    values = np.asarray(parsed.to_numpy(dtype=np.float64, na_value=np.nan), dtype=np.float64)
    return values, present & np.isnan(values)


def _is_text_like(dtype: Any) -> bool:
    """Object, string and categorical columns: cells that may hold a number as text."""
    return (
        pd.api.types.is_object_dtype(dtype)
        or pd.api.types.is_string_dtype(dtype)
        or isinstance(dtype, pd.CategoricalDtype)
    )


def _min_max(values: np.ndarray) -> tuple[float, float]:
    """(min, max) as floats; NaN when the array is empty or holds a NaN."""
    if values.size == 0:
        return math.nan, math.nan
    return float(values.min()), float(values.max())


def _typed_numeric(spec: ColumnSpec, values: np.ndarray) -> pd.Series:
    """int64 for complete int/binary columns (exact even above 2**53), float64 otherwise."""
    if values.dtype.kind in "iu" and spec.type not in _INT_DTYPES:
        values = values.astype(np.float64)
    elif values.dtype.kind == "f" and spec.type in _INT_DTYPES and np.isfinite(values).all():
        whole = values.astype(np.int64)
        if (whole == values).all():
            values = whole
    return pd.Series(values, copy=False)  # pandas 3 would copy the array by default


def _numeric_stats(
    finite: np.ndarray,
    sample: np.ndarray,
    scratch: _Scratch,
    bounds: tuple[float, float] | None = None,
) -> dict[str, Any]:
    """min/max/mean/std of the finite values and quantiles of (a sample of) them.

    `bounds` are the min and max when the caller knows them already.
    """
    if finite.size == 0:
        return {"min": None, "max": None, "mean": None, "std": None, "quantiles": None}
    quantiles = np.quantile(sample if sample.size else finite, list(QUANTILES.values()))
    low, high = bounds or (float(finite.min()), float(finite.max()))
    mean, std = _mean_std(finite, scratch.get())
    return {
        "min": low,
        "max": high,
        "mean": mean,
        "std": std,
        "quantiles": {k: float(q) for k, q in zip(QUANTILES, quantiles, strict=True)},
        "quantiles_exact": sample.size == finite.size,
    }


def _mean_std(values: np.ndarray, scratch: np.ndarray) -> tuple[float, float]:
    """`values.mean()` and `values.std()`, bit for bit, with `scratch` as std's temporary.

    The steps are numpy's own (`numpy/_core/_methods.py`: `_mean`, `_var`, `_std`): the same
    sums in the same order, so the report does not change by a single bit; a test holds this
    against `np.std` for float and int columns.
    """
    wide = np.dtype(np.float64) if values.dtype.kind in "biu" else None
    mean = np.add.reduce(values, dtype=wide, keepdims=True)
    np.true_divide(mean, values.size, out=mean, casting="unsafe")
    deviations = np.subtract(values, mean, out=scratch[: values.size])
    np.square(deviations, out=deviations)
    variance = np.add.reduce(deviations, dtype=wide) / values.size
    return float(mean[0]), float(np.sqrt(variance))


def _code_counts(codes: np.ndarray, n_labels: int) -> np.ndarray:
    """How often each code 0..n_labels-1 occurs (-1, missing, is not counted).

    A few labels are counted with one comparison each; np.bincount would first copy the
    (int8) codes to intp, eight times their size.
    """
    if n_labels <= 16:
        return np.array([np.count_nonzero(codes == k) for k in range(n_labels)], dtype=np.intp)
    return np.bincount(codes.astype(np.intp) + 1, minlength=n_labels + 1)[1:]


def _blocks(n: int) -> Iterator[slice]:
    """Consecutive slices covering 0..n, small enough for the CPU cache.

    Element-wise checks run block by block: same results, but no temporaries as long as the
    column (fresh memory, and page faults, for big tables).
    """
    return (slice(start, min(start + _BLOCK, n)) for start in range(0, n, _BLOCK))


def _increasing_per_link(seconds: np.ndarray, links: np.ndarray, n_links: int) -> bool:
    """True when each link's times strictly increase in file order, proven in linear time.

    Exports list rows by time (the links in the same order at every time), by link, or as
    blocks of either kind one after another. So: cut the file wherever the next row does not
    come later in (time, link code) order. Within a piece, two rows of one link are then in
    strictly increasing time; if moreover no link appears in two pieces, every link is in
    order. False means "not proven" (some other layout, or a missing time or key part), and
    the sort decides.
    """
    n = len(links)
    if n < 2 or links.min() < 0 or np.isnan(seconds).any():
        return False
    cut = np.empty(n - 1, dtype=bool)
    for block in _blocks(n - 1):
        t0, t1 = seconds[block], seconds[block.start + 1 : block.stop + 1]
        l0, l1 = links[block], links[block.start + 1 : block.stop + 1]
        cut[block] = (t1 < t0) | ((t1 == t0) & (l1 <= l0))
    if not cut.any():
        return True
    piece = np.zeros(n, dtype=np.int64)
    np.cumsum(cut, out=piece[1:])
    piece_of_link = np.empty(n_links, dtype=np.int64)
    piece_of_link[links] = piece  # any row's piece; all must agree
    return bool(np.array_equal(piece_of_link[links], piece))


def _epoch_mismatch(epoch: np.ndarray, ns: np.ndarray, nat: np.ndarray) -> np.ndarray:
    """Rows where epoch (float, NaN = missing) is not the whole Unix second of `ns`."""
    bad = np.empty(len(epoch), dtype=bool)
    for block in _blocks(len(epoch)):
        part = epoch[block]
        bad[block] = ~nat[block] & ~np.isnan(part) & (_whole_seconds(ns[block]) != part)
    return bad


def _whole_seconds(ns: np.ndarray) -> np.ndarray:
    """Whole seconds since the epoch, as float, of int64 nanoseconds."""
    return np.floor_divide(ns, _NS_PER_S).astype(np.float64)


def _factorize(series: pd.Series) -> tuple[np.ndarray, pd.Index]:
    """Integer codes (-1 = missing) and the distinct values, reusing categorical codes."""
    if isinstance(series.dtype, pd.CategoricalDtype):
        return series.cat.codes.to_numpy(), pd.Index(series.cat.categories)
    codes, uniques = pd.factorize(series)
    return np.asarray(codes), pd.Index(uniques)


def _to_ns(parsed: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """datetime64[ns, UTC]; instants outside its range (1677..2262) become NaT and are flagged."""
    target = "datetime64[ns, UTC]"
    if parsed.dtype == target:
        return parsed, np.zeros(len(parsed), dtype=bool)
    raw = parsed.dt.tz_localize(None).to_numpy()
    lo, hi = _NS_RANGE[0].astype(raw.dtype), _NS_RANGE[1].astype(raw.dtype)
    out_of_range = ~np.isnat(raw) & ((raw < lo) | (raw > hi))
    if out_of_range.any():
        parsed = parsed.mask(out_of_range)
    return parsed.astype(target), out_of_range


def _ns(timestamps: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Nanoseconds since the epoch as int64, and the NaT mask."""
    raw = timestamps.to_numpy(dtype="datetime64[ns]")  # tz-aware -> UTC wall time
    return raw.view(np.int64), np.isnat(raw)


def _epoch_hint(epoch: np.ndarray, ts_seconds: np.ndarray) -> str:
    """Name the two usual causes: epoch in milliseconds, or timestamps in local time."""
    with np.errstate(divide="ignore", invalid="ignore"):
        if np.all(np.abs(epoch - ts_seconds * 1000) < 1000):
            return " (epoch_time looks like milliseconds; it must be seconds)"
    shift = epoch - ts_seconds
    if np.all(shift == shift[0]) and shift[0] % 900 == 0 and abs(shift[0]) <= 14 * 3600:
        return f" (off by exactly {shift[0] / 3600:+g} h: are the timestamps local time?)"
    return ""


def _count_rows(mask: np.ndarray) -> tuple[int, list[int]]:
    """How many cells are True, and the first few as 1-based row numbers."""
    count = int(np.count_nonzero(mask))
    if not count:
        return 0, []
    return count, (np.flatnonzero(mask)[:MAX_ROWS_LISTED] + 1).tolist()


def _examples(values: pd.Series | np.ndarray, mask: np.ndarray, limit: int = 3) -> str:
    """Up to `limit` distinct offending values, quoted, for the message."""
    index = np.flatnonzero(mask)[:100]
    picked = values.iloc[index] if isinstance(values, pd.Series) else values[index]
    seen: list[str] = []
    for value in list(picked):
        shown = repr(value) if isinstance(value, str) else _num(value)
        if shown not in seen:
            seen.append(shown)
        if len(seen) == limit:
            break
    return ", ".join(seen)


def _num(value: Any) -> str:
    """A number as people write it: 3 rather than 3.0, NaN as 'missing'."""
    if isinstance(value, (str, bool, np.bool_)):
        return str(value)
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    if math.isnan(number):
        return "missing"
    if number.is_integer() and abs(number) < 1e16:
        return str(int(number))
    return f"{number:g}"


def _iso(value: Any) -> str | None:
    """ISO-8601 UTC text with Z for a timestamp, None for NaT."""
    if value is None or pd.isna(value):
        return None
    return pd.Timestamp(value).tz_convert("UTC").isoformat().replace("+00:00", "Z")


def _time_order_kinds(n_repeat: int, n_back: int) -> str:
    """'2 duplicate times, 1 going back in time' without the parts that are zero."""
    parts = [_plural(n_repeat, "duplicate time")] if n_repeat else []
    parts += [f"{n_back} going back in time"] if n_back else []
    return ", ".join(parts)


def _plural(count: int, noun: str) -> str:
    """'1 row', '3 rows'."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def _values_are(count: int) -> str:
    """'1 value is', '3 values are'."""
    return "1 value is" if count == 1 else f"{count} values are"


def _rows_suffix(rows: list[int], count: int) -> str:
    if not rows:
        return ""
    listed = ", ".join(str(r) for r in rows)
    if count > len(rows):
        return f" (first rows {listed})"
    return f" (row {listed})" if len(rows) == 1 else f" (rows {listed})"


def _did_you_mean(name: str, candidates: list[str]) -> str:
    """A hint for near-misses such as 'RTT_ms' or 'rtt_ms ' in a header."""
    folded = {c.strip().lower(): c for c in candidates}
    if name.strip().lower() in folded:
        return f" (did you mean '{folded[name.strip().lower()]}'?)"
    close = difflib.get_close_matches(name, candidates, n=1, cutoff=0.85)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _json_safe(value: Any) -> Any:
    """Replace NaN/inf by None and numpy scalars by Python ones, recursively."""
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _report_for_unreadable(
    path: str | os.PathLike[str], error: DataError, schema: Schema
) -> ValidationReport:
    """A report for a file that could not even be read, so the pipeline still has one."""
    violation = Violation(error.column, error.rule or "read", 1, error.rows, error.message)
    return ValidationReport(
        source=str(path),
        sha256="",
        n_rows=0,
        n_columns=0,
        columns={},
        violations=[violation],
        warnings=[],
        elapsed_s=0.0,
        format="unreadable",
        schema_name=schema.name,
        schema_version=schema.version,
    )
