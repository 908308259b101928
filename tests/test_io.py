"""Reading and writing telemetry files: formats by magic bytes, round trips, error locations."""

from __future__ import annotations

import gzip
import hashlib
import io

import numpy as np
import pandas as pd
import pytest

from dwcp_training.errors import ConfigError, DataError
from dwcp_training.io import (
    detect_format,
    file_sha256,
    first_invalid_utf8,
    read_telemetry,
    write_telemetry,
)


def test_file_sha256_matches_hashlib(tmp_path):
    path = tmp_path / "blob.bin"
    data = np.random.default_rng(0).integers(0, 256, 3 * (1 << 20) + 17, dtype=np.uint8).tobytes()
    path.write_bytes(data)
    assert file_sha256(path) == hashlib.sha256(data).hexdigest()


def test_csv_is_plain_with_iso_utc_timestamps_and_no_index(valid_frame, write_csv):
    text = write_csv(valid_frame.set_axis(range(100, 190))).read_text()
    header, first = text.splitlines()[:2]
    assert header.replace('"', "").split(",")[:2] == ["timestamp", "epoch_time"]
    assert first.startswith('"2024-01-01T00:00:00Z",1704067200,')


def test_sub_second_timestamps_keep_their_digits(valid_frame, write_csv):
    frame = valid_frame.assign(timestamp=valid_frame["timestamp"] + pd.Timedelta(milliseconds=250))
    first = write_csv(frame).read_text().splitlines()[1]
    assert first.startswith('"2024-01-01T00:00:00.250Z"')


def test_csv_round_trip_keeps_values(valid_frame, write_csv):
    frame = read_telemetry(write_csv(valid_frame))
    assert list(frame.columns) == list(valid_frame.columns)
    np.testing.assert_array_equal(frame["rtt_ms"], valid_frame["rtt_ms"])
    np.testing.assert_array_equal(frame["bytes_tx"], valid_frame["bytes_tx"])
    assert (frame["timestamp"] == valid_frame["timestamp"]).all()


def test_parquet_round_trip_keeps_dtypes(valid_frame, write_parquet):
    frame = read_telemetry(write_parquet(valid_frame))
    assert frame["epoch_time"].dtype == np.int64
    assert isinstance(frame["link_type"].dtype, pd.CategoricalDtype)  # read as dictionary
    pd.testing.assert_series_equal(frame["rtt_ms"], valid_frame["rtt_ms"])


def test_parquet_with_several_row_groups_reads_every_column(valid_frame, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "groups.parquet"
    table = pa.Table.from_pandas(valid_frame, preserve_index=False)
    pq.write_table(table, path, row_group_size=25)  # 4 row groups, each its own dictionaries
    frame = read_telemetry(path)
    assert frame["node_id"].dtype == "str"
    assert isinstance(frame["link_type"].dtype, pd.CategoricalDtype)
    for name in ("node_id", "region", "rtt_ms", "bytes_tx", "timestamp"):
        np.testing.assert_array_equal(frame[name].to_numpy(), valid_frame[name].to_numpy())


def test_csv_numbers_keep_the_types_inference_gives(valid_frame, write_csv):
    """The schema-typed CSV parse falls back to inference where their results could differ."""
    whole = valid_frame["rtt_ms"].round().astype(np.int64)  # written as "12", not "12.0"
    small = read_telemetry(write_csv(valid_frame.assign(rtt_ms=whole)))
    assert small["rtt_ms"].dtype == np.float64  # the schema type; validate types it so anyway
    assert small["bytes_tx"].dtype == np.int64
    huge = valid_frame.assign(rtt_ms=whole * 2**50)  # int64 and float64 sums would differ
    assert read_telemetry(write_csv(huge))["rtt_ms"].dtype == np.int64
    naive = valid_frame.assign(timestamp=valid_frame["timestamp"].dt.strftime("%Y-%m-%dT%H:%M:%S"))
    assert read_telemetry(write_csv(naive))["timestamp"].dtype == "datetime64[s]"


def test_text_ids_are_never_turned_into_numbers(valid_frame, write_csv):
    frame = valid_frame.assign(node_id="007", region="1")
    read = read_telemetry(write_csv(frame))
    assert read["node_id"].iloc[0] == "007" and read["region"].iloc[0] == "1"


def test_missing_cells_and_null_words_are_missing(valid_frame, tmp_path):
    path = tmp_path / "nulls.csv"
    frame = valid_frame.astype({"rtt_ms": object, "region": object})
    frame.loc[0, "rtt_ms"], frame.loc[1, "rtt_ms"], frame.loc[2, "rtt_ms"] = "", "NaN", "null"
    frame.loc[0, "region"] = ""
    frame.to_csv(path, index=False)
    read = read_telemetry(path)
    assert read["rtt_ms"].isna().tolist()[:4] == [True, True, True, False]
    assert pd.isna(read["region"].iloc[0])


def test_gzip_csv_round_trip(valid_frame, tmp_path):
    path = write_telemetry(valid_frame, tmp_path / "t.csv.gz", "csv")
    assert gzip.decompress(path.read_bytes()).startswith(b'"timestamp"')
    assert detect_format(path) == "csv.gz"
    assert len(read_telemetry(path)) == len(valid_frame)


def test_format_comes_from_magic_bytes_not_the_name(valid_frame, tmp_path):
    parquet_named_csv = write_telemetry(valid_frame, tmp_path / "a.csv", "parquet")
    csv_named_parquet = write_telemetry(valid_frame, tmp_path / "b.parquet", "csv")
    assert detect_format(parquet_named_csv) == "parquet"
    assert detect_format(csv_named_parquet) == "csv"


def test_unknown_write_format_is_a_config_error(valid_frame, tmp_path):
    with pytest.raises(ConfigError):
        write_telemetry(valid_frame, tmp_path / "t.json", "json")  # type: ignore[arg-type]


def test_write_is_atomic_and_leaves_no_temporary_files(valid_frame, tmp_path):
    write_telemetry(valid_frame, tmp_path / "t.csv", "csv")
    write_telemetry(valid_frame, tmp_path / "t.csv", "csv")  # replaces in place
    assert [p.name for p in tmp_path.iterdir()] == ["t.csv"]


def test_gzip_holding_parquet_is_refused(valid_frame, tmp_path):
    data = write_telemetry(valid_frame, tmp_path / "t.parquet", "parquet").read_bytes()
    path = tmp_path / "t.parquet.gz"
    path.write_bytes(gzip.compress(data))
    with pytest.raises(DataError) as raised:
        read_telemetry(path)
    assert raised.value.rule == "compression" and "Parquet" in str(raised.value)


def test_mixed_object_column_is_written_as_text(valid_frame, tmp_path):
    frame = valid_frame.astype({"rtt_ms": object})
    frame.loc[3, "rtt_ms"] = "abc"
    path = write_telemetry(frame, tmp_path / "t.parquet", "parquet")
    assert read_telemetry(path)["rtt_ms"].iloc[3] == "abc"


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"plain ascii\n", None),
        ("h\u00e9llo\nw\u20acrld\n".encode(), None),
        (b"ab\ncd\n\xffx", (6, 3, 0xFF)),
        (b"ab\xe2\x82", (2, 1, 0xE2)),  # a character cut off at the end
        (b"x" * ((1 << 20) - 1) + "\u20ac".encode() + b"\n\xff", ((1 << 20) + 3, 2, 0xFF)),
        (b"x" * ((1 << 20) - 1) + "\u20ac".encode(), None),  # split across the chunk border
    ],
)
def test_first_invalid_utf8_finds_offset_and_line(data, expected):
    assert first_invalid_utf8(io.BytesIO(data).read) == expected


@pytest.mark.parametrize(
    "prefix", [b"\xef\xbb\xbf", b"\r\n\r\n"], ids=["utf8-bom", "leading-blank-lines"]
)
def test_excel_style_files_are_fine(valid_frame, write_csv, tmp_path, prefix):
    text = write_csv(valid_frame).read_bytes().replace(b"\n", b"\r\n")
    path = tmp_path / "excel.csv"
    path.write_bytes(prefix + text)
    frame = read_telemetry(path)
    assert list(frame.columns) == list(valid_frame.columns) and len(frame) == len(valid_frame)


@pytest.mark.parametrize("separator", [";", "\t"])
def test_wrong_field_separator_is_named(valid_frame, tmp_path, separator):
    path = tmp_path / "european.csv"
    valid_frame.to_csv(path, sep=separator, index=False)
    with pytest.raises(DataError) as raised:
        read_telemetry(path)
    assert raised.value.rule == "delimiter" and "field separator" in str(raised.value)
