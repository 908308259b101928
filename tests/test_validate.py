"""The validate step: a corpus of bad inputs, each breaking one rule of a valid table.

Every case is written to a real file and goes through `validate_file` (or `require_valid`), the
path users take, and asserts the rule, the column, the first rows and a readable message.
Row numbers are 1-based data rows (row 1 = first row after the CSV header).
"""

from __future__ import annotations

import copy
import gzip
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dwcp_training.errors import DataError, UserError
from dwcp_training.schema import load_schema
from dwcp_training.validate import (
    ValidationFailed,
    ValidationReport,
    Violation,
    _increasing_per_link,
    _mean_std,
    require_valid,
    validate_file,
    validate_frame,
    write_report,
)

SCHEMA = load_schema()
WriteCsv = Callable[..., Path]


def with_values(frame: pd.DataFrame, column: str, rows: list[int], value: Any) -> pd.DataFrame:
    """A copy of `frame` with `value` at the given 0-based positions of `column`."""
    out = frame.copy()
    cells = out[column].astype(object)
    for row in rows:
        cells.iat[row] = value  # one by one: `value` may itself be a list
    out[column] = cells
    return out


def only(found: list[Violation], rule: str, column: str | None = None) -> Violation:
    """The single finding with this rule (and column); fails listing what was found instead."""
    hits = [v for v in found if v.rule == rule and (column is None or v.column == column)]
    assert len(hits) == 1, (
        f"expected one {rule}/{column}, got {[(v.rule, v.column) for v in found]}"
    )
    return hits[0]


def assert_fails(path: Path, rule: str, column: str | None) -> Violation:
    """validate_file reports exactly this rule and require_valid refuses the file."""
    report = validate_file(path).report
    assert not report.ok
    found = only(report.violations, rule, column)
    assert found.count >= 1 and found.message
    with pytest.raises(ValidationFailed) as raised:
        require_valid(path)
    assert raised.value.report.violations == report.violations
    return found


# --- the happy paths ------------------------------------------------------------------------------


def test_valid_csv_is_ok_and_typed(valid_frame, write_csv):
    result = validate_file(write_csv(valid_frame))
    report = result.report
    assert report.ok, report.summary_lines()
    assert report.violations == [] and report.warnings == []
    assert (report.n_rows, report.n_columns, report.n_links) == (90, 40, 3)
    assert report.format == "csv" and len(report.sha256) == 64
    frame = result.frame
    assert list(frame.columns) == [c.name for c in SCHEMA.columns]
    assert isinstance(frame.index, pd.RangeIndex)
    assert str(frame["timestamp"].dtype) == "datetime64[ns, UTC]"
    assert frame["epoch_time"].dtype == np.int64
    assert frame["rtt_ms"].dtype == np.float64
    assert frame["is_anomaly"].dtype == np.int64
    assert frame["node_id"].dtype == "str"
    np.testing.assert_array_equal(frame["epoch_time"], valid_frame["epoch_time"])


def test_category_codes_follow_schema_order(valid_frame, write_csv):
    """link_type codes are the index in the schema list: dc=0, metro=1, wan=2, edge=3."""
    frame = valid_frame.copy()
    frame["link_type"] = np.array(["edge", "wan", "metro", "dc"] * 23)[: len(frame)]
    typed = validate_file(write_csv(frame)).frame
    assert list(typed["link_type"].cat.categories) == ["dc", "metro", "wan", "edge"]
    assert typed["link_type"].cat.codes.tolist()[:4] == [3, 2, 1, 0]


def test_parquet_happy_path(valid_frame, write_parquet):
    result = validate_file(write_parquet(valid_frame))
    assert result.report.ok, result.report.summary_lines()
    assert result.report.format == "parquet"
    assert result.frame["network_tier"].cat.categories.tolist() == ["tier1", "tier2", "tier3"]
    pd.testing.assert_series_equal(result.frame["rtt_ms"], valid_frame["rtt_ms"], check_names=False)


def test_gzip_csv_is_read_transparently(valid_frame, tmp_path):
    from dwcp_training.io import write_telemetry

    path = write_telemetry(valid_frame, tmp_path / "telemetry.csv.gz", "csv")
    assert path.read_bytes()[:2] == b"\x1f\x8b"
    result = validate_file(path)
    assert result.report.ok and result.report.format == "csv.gz"


def test_parquet_named_csv_is_read_as_parquet(valid_frame, write_parquet):
    path = write_parquet(valid_frame, "misnamed.csv")
    assert validate_file(path).report.format == "parquet"


def test_validate_frame_accepts_a_typed_frame_and_keeps_row_order(valid_frame):
    shuffled_index = valid_frame.set_axis(np.arange(len(valid_frame))[::-1] + 100)
    result = validate_frame(shuffled_index)
    assert result.report.ok, result.report.summary_lines()
    assert isinstance(result.frame.index, pd.RangeIndex)
    assert result.frame["rtt_ms"].tolist() == valid_frame["rtt_ms"].tolist()


# --- bad values: one rule broken at a time --------------------------------------------------------

VALUE_CASES = [
    # id, column, 0-based rows, value, rule, words the message must contain
    ("text-in-float", "rtt_ms", [4], "abc", "type", "1 value is not numeric, e.g. 'abc'"),
    ("inf", "jitter_ms", [3], float("inf"), "finite", "infinite"),
    ("negative-throughput", "throughput_mbps", [7], -5.0, "min", "< 0 (smallest -5)"),
    ("loss-above-1", "packet_loss", [16, 17, 39], 1.5, "max", "3 values are > 1"),
    ("uptime-above-100", "uptime_pct", [0], 100.5, "max", "> 100 (largest 100.5)"),
    ("unknown-category", "link_type", [2], "satellite", "values", "'satellite' (x1)"),
    ("category-case", "transport_type", [2, 5], "TCP", "values", "did you mean 'tcp'?"),
    ("non-integral-int", "retransmits", [5], 2.5, "type", "fractional (int column), e.g. 2.5"),
    ("binary-label-2", "is_anomaly", [6], 2, "type", "neither 0 nor 1"),
    ("unparsable-timestamp", "timestamp", [5], "yesterday", "type", "ISO-8601"),
    ("missing-in-complete-column", "is_high_latency", [3], None, "missing", "must be complete"),
    ("negative-epoch", "epoch_time", [0], -1, "min", "< 0"),
]


@pytest.mark.parametrize(
    ("column", "rows", "value", "rule", "words"),
    [case[1:] for case in VALUE_CASES],
    ids=[case[0] for case in VALUE_CASES],
)
def test_bad_value_is_reported_with_rule_column_and_rows(
    valid_frame, write_csv, column, rows, value, rule, words
):
    path = write_csv(with_values(valid_frame, column, rows, value))
    found = assert_fails(path, rule, column)
    assert found.count == len(rows)
    assert found.rows == [r + 1 for r in rows]
    assert words in found.message


def test_summary_line_names_file_column_rule_and_rows(valid_frame, write_csv):
    path = write_csv(with_values(valid_frame, "packet_loss", [16, 17, 39], 1.5), "data.csv")
    lines = validate_file(path).report.summary_lines()
    assert lines == [
        f"{path}: column 'packet_loss', rule 'max': "
        "3 values are > 1 (largest 1.5) (rows 17, 18, 40)"
    ]


def test_missing_beyond_budget(valid_frame, write_csv):
    path = write_csv(with_values(valid_frame, "rtt_ms", list(range(0, 90, 9)), None))
    found = assert_fails(path, "missing", "rtt_ms")
    assert found.count == 10 and found.rows == [1, 10, 19, 28, 37]
    assert "10 of 90 values are missing (11.1%); 5.0% allowed" in found.message


def test_missing_within_budget_is_ok_and_counted(valid_frame, write_csv):
    result = validate_file(write_csv(with_values(valid_frame, "rtt_ms", [3, 50], None)))
    assert result.report.ok, result.report.summary_lines()
    stats = result.report.columns["rtt_ms"]
    assert (stats["count"], stats["missing"]) == (88, 2)
    assert result.frame["rtt_ms"].isna().sum() == 2


def test_int_column_with_missing_values_becomes_float(valid_frame, write_csv):
    result = validate_file(write_csv(with_values(valid_frame, "queue_depth", [1], None)))
    assert result.report.ok
    assert result.frame["queue_depth"].dtype == np.float64


def test_missing_required_column_suggests_a_near_miss(valid_frame, write_csv):
    path = write_csv(valid_frame.rename(columns={"rtt_ms": "RTT_ms"}))
    found = assert_fails(path, "required", "rtt_ms")
    assert "did you mean 'RTT_ms'?" in found.message


def test_dropped_required_column(valid_frame, write_csv):
    found = assert_fails(write_csv(valid_frame.drop(columns=["packet_loss"])), "required", None)
    assert found.column == "packet_loss" and found.message == "required column is missing"


def test_unknown_extra_column_is_a_warning_only(valid_frame, write_csv):
    result = validate_file(write_csv(valid_frame.assign(debug_note="x")))
    assert result.report.ok
    warning = only(result.report.warnings, "unknown_column", "debug_note")
    assert "not in the schema" in warning.message
    assert "debug_note" not in result.frame.columns
    assert any(line.startswith("warning: ") for line in result.report.summary_lines())


def test_optional_columns_may_be_absent(valid_frame, write_csv):
    optional = [c.name for c in SCHEMA.columns if not c.required]
    result = validate_file(write_csv(valid_frame.drop(columns=optional)))
    assert result.report.ok and result.report.warnings == []
    assert not set(optional) & set(result.frame.columns)


def test_entirely_empty_optional_column_is_ignored_with_a_warning(valid_frame, write_csv):
    frame = with_values(valid_frame, "amst_streams", list(range(len(valid_frame))), None)
    result = validate_file(write_csv(frame))
    assert result.report.ok
    only(result.report.warnings, "empty_optional", "amst_streams")


def test_duplicate_column_in_header(valid_frame, tmp_path):
    path = tmp_path / "dup.csv"
    frame = pd.concat([valid_frame, valid_frame[["rtt_ms"]]], axis=1)
    frame.to_csv(path, index=False)
    found = assert_fails(path, "duplicate_column", "rtt_ms")
    assert "2 times" in found.message


# --- time rules ---------------------------------------------------------------------------------


def test_unsorted_timestamps_within_a_link(valid_frame, write_csv):
    frame = valid_frame.copy()
    frame.iloc[[30, 33]] = frame.iloc[[33, 30]].to_numpy()  # link 0, steps 10 and 11 swapped
    found = assert_fails(write_csv(frame), "time_order", "epoch_time")
    assert found.rows == [34]
    assert "in file order: 1 going back in time;" in found.message
    assert "row 34 (link node-a -> node-b)" in found.message and "at row 31" in found.message


def test_duplicate_timestamps_within_a_link(valid_frame, write_csv):
    frame = pd.concat([valid_frame.iloc[:10], valid_frame.iloc[[9]], valid_frame.iloc[10:]])
    found = assert_fails(write_csv(frame.reset_index(drop=True)), "time_order", "epoch_time")
    assert found.rows == [11]
    assert "in file order: 1 duplicate time;" in found.message


def test_same_time_on_different_links_is_fine(valid_frame):
    assert (valid_frame["epoch_time"].value_counts() == 3).all()
    assert validate_frame(valid_frame).report.ok


def test_links_may_be_interleaved_in_any_order(valid_frame):
    """Only order WITHIN a link matters: a file grouped by link is as valid as one by time."""
    grouped = valid_frame.sort_values(["node_id", "peer_id", "epoch_time"], kind="stable")
    assert validate_frame(grouped).report.ok


def test_blocks_of_links_one_after_another_are_fine(make_frame):
    """Concatenated exports (each sorted by time, each with its own links) need no sort."""
    blocks = [
        make_frame(n_links=3, n_steps=20).assign(node_id=lambda f, k=k: f["node_id"] + f"-{k}")
        for k in range(3)
    ]
    frame = pd.concat(blocks, ignore_index=True)
    assert validate_frame(frame).report.ok
    repeated = pd.concat([frame, frame.iloc[[61]]], ignore_index=True)  # block 1, again at the end
    found = only(validate_frame(repeated).report.violations, "time_order", "epoch_time")
    assert found.rows == [181] and "1 going back in time" in found.message


@settings(max_examples=200, deadline=None)
@given(rows=st.lists(st.tuples(st.integers(0, 3), st.integers(0, 6)), min_size=2, max_size=30))
def test_linear_time_order_proof_never_contradicts_the_definition(rows):
    links = pd.factorize(np.array([link for link, _ in rows]))[0]  # dense, first appearance
    seconds = np.array([float(t) for _, t in rows])
    last: dict[int, float] = {}
    increasing = True
    for link, t in zip(links, seconds, strict=True):
        increasing &= t > last.get(link, -np.inf)
        last[link] = t
    if _increasing_per_link(seconds, links, int(links.max()) + 1):
        assert increasing


@pytest.mark.parametrize("n", [1, 7, 9, 128, 129, 8191, 8193, 100_003])
@pytest.mark.parametrize("kind", ["float", "int"])
def test_mean_and_std_are_numpys_bit_for_bit(n, kind):
    rng = np.random.default_rng(n)
    if kind == "float":
        values = rng.normal(1e6, 3e5, n)
    else:
        values = rng.integers(-(2**40), 2**40, n)
    mean, std = _mean_std(values, np.empty(n + 3))
    assert (mean, std) == (float(values.mean()), float(values.std()))


def test_epoch_time_disagreeing_with_timestamp(valid_frame, write_csv):
    frame = valid_frame.copy()
    frame.loc[8, "epoch_time"] += 5
    found = assert_fails(write_csv(frame), "time_consistency", "epoch_time")
    assert found.rows == [9]
    assert (
        "row 9: epoch_time 1704067225 but timestamp 2024-01-01T00:00:20Z is 1704067220"
        in found.message
    )


def test_epoch_time_in_milliseconds_gets_a_hint(valid_frame, write_csv):
    frame = valid_frame.assign(epoch_time=valid_frame["epoch_time"] * 1000)
    found = assert_fails(write_csv(frame), "time_consistency", "epoch_time")
    assert found.count == 90 and "looks like milliseconds" in found.message


def test_local_time_written_as_utc_gets_a_hint(valid_frame, write_csv):
    shifted = valid_frame["timestamp"] + pd.Timedelta(hours=2)
    found = assert_fails(write_csv(valid_frame.assign(timestamp=shifted)), "time_consistency", None)
    assert "off by exactly -2 h" in found.message


def test_naive_timestamps_are_read_as_utc_with_a_warning(valid_frame, tmp_path):
    path = tmp_path / "naive.csv"
    frame = valid_frame.assign(timestamp=valid_frame["timestamp"].dt.strftime("%Y-%m-%d %H:%M:%S"))
    frame.to_csv(path, index=False)
    result = validate_file(path)
    assert result.report.ok, result.report.summary_lines()
    warning = only(result.report.warnings, "timezone", "timestamp")
    assert "without a time zone, read as UTC" in warning.message
    assert str(result.frame["timestamp"].dtype) == "datetime64[ns, UTC]"


def test_offset_timestamps_are_converted_to_utc(valid_frame, tmp_path):
    path = tmp_path / "offset.csv"
    local = valid_frame["timestamp"].dt.tz_convert("Europe/Berlin")
    frame = valid_frame.assign(timestamp=local.dt.strftime("%Y-%m-%dT%H:%M:%S%z"))
    frame.to_csv(path, index=False)
    result = validate_file(path)
    assert result.report.ok, result.report.summary_lines()  # epoch_time still agrees
    assert result.frame["timestamp"].iloc[0] == pd.Timestamp("2024-01-01T00:00:00Z")


def test_mixed_naive_and_utc_text_warns_only_for_the_naive_rows(valid_frame, tmp_path):
    path = tmp_path / "mixed.csv"
    text = valid_frame["timestamp"].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    text.iloc[[4, 7]] = text.iloc[[4, 7]].str.rstrip("Z")
    valid_frame.assign(timestamp=text).to_csv(path, index=False)
    report = validate_file(path).report
    assert report.ok
    assert only(report.warnings, "timezone").rows == [5, 8]


def test_epoch_numbers_in_the_timestamp_column(valid_frame, write_csv):
    frame = valid_frame.assign(timestamp=valid_frame["epoch_time"])
    found = assert_fails(write_csv(frame), "type", "timestamp")
    assert found.count == 90 and "ISO-8601" in found.message


def test_timestamp_tz_aware_frame_in_other_zone_is_converted(valid_frame):
    frame = valid_frame.assign(timestamp=valid_frame["timestamp"].dt.tz_convert("Asia/Tokyo"))
    result = validate_frame(frame)
    assert result.report.ok
    assert str(result.frame["timestamp"].dtype) == "datetime64[ns, UTC]"
    only(result.report.warnings, "timezone", "timestamp")


# --- unreadable files ---------------------------------------------------------------------------


def csv_text(frame: pd.DataFrame, write_csv: WriteCsv) -> bytes:
    return write_csv(frame, "source.csv").read_bytes()


def corrupt(valid_frame, write_csv, tmp_path, case: str) -> Path:
    """Write one kind of broken file and return its path."""
    good = csv_text(valid_frame, write_csv)
    lines = good.split(b"\n")
    path = tmp_path / "bad.csv"
    if case == "empty":
        path.write_bytes(b"")
    elif case == "blank":
        path.write_bytes(b"\n\n  \n")
    elif case == "header-only":
        path.write_bytes(lines[0] + b"\n")
    elif case == "non-utf8":
        lines[17] = lines[17].replace(b"node-a", b"n\xf6de-a", 1)
        path.write_bytes(b"\n".join(lines))
    elif case == "non-utf8-header":
        path.write_bytes(b"\xff" + good)
    elif case == "utf16":
        path.write_bytes(good.decode().encode("utf-16"))
    elif case == "truncated":
        path.write_bytes(good[: good.rindex(b"\n", 0, -1) + 40])
    elif case == "ragged":
        lines[12] += b",surplus"
        path.write_bytes(b"\n".join(lines))
    elif case == "gzip-named-csv":
        path.write_bytes(gzip.compress(good))
    elif case == "plain-named-gz":
        path = tmp_path / "bad.csv.gz"
        path.write_bytes(good)
    elif case == "corrupt-gzip":
        path = tmp_path / "bad.csv.gz"
        path.write_bytes(gzip.compress(good)[:-40])
    elif case == "garbage":
        path.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    elif case == "zip":
        path.write_bytes(b"PK\x03\x04" + good)
    elif case == "directory":
        path = tmp_path / "a_directory.csv"
        path.mkdir()
    elif case == "missing":
        path = tmp_path / "does_not_exist.csv"
    return path


FILE_CASES = [
    # case, rule, words in the message, data rows named
    ("empty", "empty", "empty (0 bytes)", []),
    ("blank", "empty", "no header", []),
    ("header-only", "no_rows", "no data rows", []),
    ("non-utf8", "encoding", "byte 0xf6 at offset", [17]),
    ("non-utf8-header", "encoding", "line 1, the header", []),
    ("utf16", "encoding", "UTF-16", []),
    ("truncated", "ragged_row", "looks truncated", [90]),
    ("ragged", "ragged_row", "line 13 has 41 fields but the header has 40", [12]),
    ("gzip-named-csv", "compression", "gzip-compressed but named .csv", []),
    ("plain-named-gz", "compression", "not gzip-compressed", []),
    ("corrupt-gzip", "read", "cannot read", []),
    ("garbage", "binary", "binary data", []),
    ("zip", "format", "zip archive", []),
    ("directory", "not_a_file", "is a directory", []),
    ("missing", "not_found", "file not found", []),
]


@pytest.mark.parametrize(
    ("case", "rule", "words", "rows"), FILE_CASES, ids=[c[0] for c in FILE_CASES]
)
def test_unreadable_file_raises_data_error(
    valid_frame, write_csv, tmp_path, case, rule, words, rows
):
    path = corrupt(valid_frame, write_csv, tmp_path, case)
    with pytest.raises(DataError) as raised:
        validate_file(path)
    error = raised.value
    assert not isinstance(error, ValidationFailed)
    assert (error.rule, error.rows) == (rule, rows), str(error)
    assert words in str(error) and str(path) in str(error)
    assert "Traceback" not in str(error) and len(str(error)) < 400
    with pytest.raises(DataError):
        require_valid(path)


def test_non_utf8_error_names_line_and_offset(valid_frame, write_csv, tmp_path):
    error = pytest.raises(
        DataError, validate_file, corrupt(valid_frame, write_csv, tmp_path, "non-utf8")
    )
    assert "(line 18)" in str(error.value)


@pytest.mark.skipif(os.geteuid() == 0, reason="root can read files without permission")
def test_permission_denied(valid_frame, write_csv):
    path = write_csv(valid_frame)
    path.chmod(0)
    with pytest.raises(DataError) as raised:
        validate_file(path)
    assert raised.value.rule == "permission"


def test_permission_error_becomes_data_error(valid_frame, write_csv, monkeypatch):
    """Same check as above for root, who can read anything: fake the OS refusal."""
    path = write_csv(valid_frame)
    real_open = open

    def refusing_open(file, *args, **kwargs):
        if str(file) == str(path):
            raise PermissionError(13, "Permission denied")
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr("builtins.open", refusing_open)
    with pytest.raises(DataError) as raised:
        validate_file(path)
    assert raised.value.rule == "permission" and "permission denied" in str(raised.value)


PARQUET_DAMAGE = {
    "truncated": lambda data: data[: len(data) // 2],
    "bad-footer": lambda data: data[:-12] + b"\x00" * 8 + data[-4:],
    "magic-only": lambda data: b"PAR1",
    "scrambled-middle": lambda data: data[:8] + bytes(len(data) - 16) + data[-8:],
}


@pytest.mark.parametrize("damage", list(PARQUET_DAMAGE))
def test_corrupt_parquet(valid_frame, write_parquet, damage):
    path = write_parquet(valid_frame)
    path.write_bytes(PARQUET_DAMAGE[damage](path.read_bytes()))
    with pytest.raises(DataError) as raised:
        validate_file(path)
    assert raised.value.rule == "parquet"
    assert "Parquet file is corrupt or truncated" in str(raised.value)


def test_parquet_with_zero_rows(valid_frame, write_parquet):
    with pytest.raises(DataError) as raised:
        validate_file(write_parquet(valid_frame.iloc[:0]))
    assert raised.value.rule == "no_rows"


def test_empty_frame_is_a_violation(valid_frame):
    report = validate_frame(valid_frame.iloc[:0]).report
    assert not report.ok
    only(report.violations, "no_rows")


def test_true_false_is_accepted_only_in_binary_columns(valid_frame, write_csv):
    frame = valid_frame.assign(
        is_anomaly=valid_frame["is_anomaly"].astype(bool),
        retransmits=valid_frame["retransmits"] > 500,
    )
    report = validate_file(write_csv(frame)).report
    assert [(v.rule, v.column) for v in report.violations] == [("type", "retransmits")]
    assert "not numeric, e.g. True" in report.violations[0].message


def test_dates_in_a_number_column_are_not_numbers(valid_frame):
    frame = valid_frame.assign(rtt_ms=valid_frame["timestamp"])
    found = only(validate_frame(frame).report.violations, "type", "rtt_ms")
    assert found.count == 90


def test_uninterpretable_objects_become_type_violations(valid_frame):
    frame = with_values(valid_frame, "rtt_ms", [1], [1, 2])
    frame = with_values(frame, "bytes_tx", [2], b"\x00\x01")
    report = validate_frame(frame).report
    assert only(report.violations, "type", "rtt_ms").rows == [2]
    assert only(report.violations, "type", "bytes_tx").rows == [3]


# --- the report -----------------------------------------------------------------------------------


def test_report_is_strict_json_with_statistics(valid_frame, write_csv, tmp_path):
    frame = with_values(valid_frame, "rtt_ms", [3], None)
    frame = with_values(frame, "packet_loss", [5], 7.0)
    report = validate_file(write_csv(frame)).report
    payload = report.to_dict()
    text = json.dumps(payload, allow_nan=False)  # no NaN anywhere
    assert payload["ok"] is False and payload["row_numbering"].startswith("1-based data rows")
    rtt = payload["columns"]["rtt_ms"]
    assert rtt["missing"] == 1 and rtt["missing_fraction"] == pytest.approx(1 / 90)
    assert set(rtt["quantiles"]) == {"p01", "p05", "p25", "p50", "p75", "p95", "p99"}
    assert rtt["min"] <= rtt["quantiles"]["p50"] <= rtt["max"]
    assert sum(payload["columns"]["link_type"]["value_counts"].values()) == 90
    assert payload["columns"]["timestamp"]["min"] == "2024-01-01T00:00:00Z"
    assert payload["violations"][0]["rule"] == "max"
    assert payload["rows_per_second"] > 0 and payload["elapsed_s"] > 0
    written = write_report(report, tmp_path / "out" / "report.json")
    assert json.loads(written.read_text()) == json.loads(text)


def test_all_missing_numeric_column_has_null_statistics(valid_frame):
    frame = with_values(valid_frame, "rtt_ms", list(range(len(valid_frame))), None)
    report = validate_frame(frame).report
    assert report.to_dict()["columns"]["rtt_ms"]["mean"] is None
    only(report.violations, "missing", "rtt_ms")


def test_require_valid_returns_the_typed_frame_and_writes_the_report(
    valid_frame, write_csv, tmp_path
):
    typed = require_valid(write_csv(valid_frame), report_path=tmp_path / "report.json").frame
    assert isinstance(typed["link_type"].dtype, pd.CategoricalDtype)
    assert json.loads((tmp_path / "report.json").read_text())["ok"] is True


def test_validation_failed_carries_the_report_and_every_line(valid_frame, write_csv, tmp_path):
    frame = with_values(valid_frame, "packet_loss", [0], 2.0)
    frame = with_values(frame, "link_type", [1], "moon")
    report_path = tmp_path / "report.json"
    with pytest.raises(ValidationFailed) as raised:
        require_valid(write_csv(frame), report_path=report_path)
    error = raised.value
    assert isinstance(error, DataError) and isinstance(error, UserError)
    assert error.exit_code == 2
    assert isinstance(error.report, ValidationReport)
    assert str(error).splitlines() == error.report.summary_lines()
    assert (error.column, error.rule, error.rows) == ("link_type", "values", [2])
    assert json.loads(report_path.read_text())["ok"] is False


def test_unreadable_file_still_gets_a_report(tmp_path):
    path = tmp_path / "empty.csv"
    path.write_bytes(b"")
    with pytest.raises(DataError):
        require_valid(path, report_path=tmp_path / "report.json")
    payload = json.loads((tmp_path / "report.json").read_text())
    assert payload["ok"] is False and payload["violations"][0]["rule"] == "empty"


def test_large_table_uses_sampled_quantiles_and_stays_correct(make_frame):
    frame = make_frame(n_links=50, n_steps=5000)  # 250k rows: threads and sampling kick in
    frame = with_values(frame, "packet_loss", [123_456], 3.0)
    report = validate_frame(frame).report
    assert only(report.violations, "max", "packet_loss").rows == [123_457]
    stats = report.columns["uptime_pct"]
    assert stats["quantiles_exact"] is False
    assert stats["quantiles"]["p50"] == pytest.approx(50.0, abs=1.5)  # uniform on 0..100
    assert report.n_links == 50


# --- robustness: no input makes anything but DataError escape ----------------------------------


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_any_mangled_csv_gives_a_result_or_data_error(valid_frame, tmp_path, data):
    from dwcp_training.io import write_telemetry

    good = write_telemetry(valid_frame.iloc[:12], tmp_path / "seed.csv", "csv").read_bytes()
    cut = data.draw(st.integers(0, len(good)))
    junk = data.draw(st.binary(max_size=40))
    at = data.draw(st.integers(0, len(good)))
    mangled = data.draw(st.sampled_from([good[:cut], good[:at] + junk + good[at:], junk]))
    path = tmp_path / "mangled.csv"
    path.write_bytes(mangled)
    try:
        validate_file(path)
    except DataError as error:
        assert error.rule and "Traceback" not in str(error)


def test_schema_can_make_unknown_columns_an_error(valid_frame, write_csv):
    from dwcp_training.schema import parse_schema

    doc = copy.deepcopy(SCHEMA.raw)
    doc["quality"]["unknown_columns"] = "error"
    strict = parse_schema(doc)
    report = validate_file(str(write_csv(valid_frame.assign(extra=1))), strict).report
    assert only(report.violations, "unknown_column", "extra").count == 1
    assert report.warnings == []
