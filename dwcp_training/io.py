"""Read and write telemetry tables (CSV, gzip-compressed CSV, Parquet).

Reading is where user files meet the pipeline, so every way a file can be unreadable ends in a
`DataError` with a short message that names the file, the rule and, where it can, the line:
no pyarrow traceback ever reaches the user. The format is decided by the file's first bytes, not
by its name, because exports are often misnamed.

CSV is parsed by pyarrow (multi-threaded, about ten times faster than pandas' C engine), first
with the schema's types, which needs a third of the memory of type inference. Where that parse
fails, numbers and timestamps are left to pyarrow's type inference instead: a column that holds
a stray word simply comes back as text, and `dwcp_training.validate` then finds the offending
rows. Schema string and category columns are read as text (so a node id like `007` stays
`007`), categories dictionary-encoded (so they arrive as `pd.Categorical` without hashing every
value again).

Line numbers in messages are physical lines of the file (the header is line 1); `rows` on the
raised errors are 1-based data rows (row 1 is the first line after the header), like everywhere
else in the pipeline.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import IO, Literal

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from dwcp_training.atomic import atomic_path
from dwcp_training.errors import ConfigError, DataError
from dwcp_training.schema import Schema, load_schema

CHUNK_SIZE = 1 << 20
HEAD_SIZE = 8192
PARQUET_MAGIC = b"PAR1"
GZIP_MAGIC = b"\x1f\x8b"

# Texts read as "missing" in CSV cells. Deliberately shorter than pandas' list: "NA" and "N/A"
# are kept because exports use them, but nothing that could be a legitimate region or node name.
NULL_VALUES = ["", "NA", "N/A", "n/a", "NaN", "nan", "-nan", "NULL", "null", "None", "#N/A"]

# First bytes of formats people export by mistake, and what to tell them.
_FOREIGN_MAGIC: dict[bytes, str] = {
    b"PK\x03\x04": "a zip archive; extract the CSV or Parquet file from it",
    b"BZh": "bzip2-compressed; decompress it first",
    b"\x28\xb5\x2f\xfd": "zstd-compressed; decompress it first",
    b"\xfd7zXZ\x00": "xz-compressed; decompress it first",
    b"ARROW1": "an Arrow IPC file; convert it to Parquet",
    b"SQLite format 3\x00": "an SQLite database, not a table export",
    b"\x89HDF": "an HDF5 file; convert it to Parquet or CSV",
}
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
# Schema types for the typed CSV parse; the only ones whose texts inference reads the same way.
_CSV_TYPES: dict[str, pa.DataType] = {
    "int": pa.int64(),
    "binary": pa.int64(),
    "float": pa.float64(),
    "datetime": pa.timestamp("s", tz="UTC"),
}

Format = Literal["csv", "csv.gz", "parquet"]


def file_sha256(path: str | os.PathLike[str]) -> str:
    """Hex SHA-256 of a file, streamed so that a 10 GB export needs no memory."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(CHUNK_SIZE):
            digest.update(block)
    return digest.hexdigest()


def detect_format(path: str | os.PathLike[str]) -> Format:
    """Decide how to read `path` from its first bytes; raise DataError when it cannot be read."""
    path = Path(path)
    head = _read_head(path)
    if head.startswith(PARQUET_MAGIC):
        return "parquet"
    if head.startswith(GZIP_MAGIC):
        return _check_gzip(path)
    if path.name.lower().endswith(".gz"):
        raise DataError(
            path,
            "file is named .gz but is not gzip-compressed; rename it without .gz",
            rule="compression",
        )
    _check_text_head(path, head)
    return "csv"


def read_telemetry(path: str | os.PathLike[str], schema: Schema | None = None) -> pd.DataFrame:
    """Read a telemetry CSV, CSV.gz or Parquet file into a (raw, not yet validated) DataFrame."""
    frame, _ = read_telemetry_with_format(path, schema)
    return frame


def read_telemetry_with_format(
    path: str | os.PathLike[str], schema: Schema | None = None
) -> tuple[pd.DataFrame, Format]:
    """Like `read_telemetry`, also saying which format the file turned out to be."""
    schema = schema or load_schema()
    fmt = detect_format(path)
    if fmt == "parquet":
        frame = _read_parquet(Path(path), schema)
    else:
        frame = _read_csv(Path(path), schema, compressed=fmt == "csv.gz")
    return frame, fmt


def write_telemetry(
    frame: pd.DataFrame, path: str | os.PathLike[str], fmt: Literal["csv", "parquet"]
) -> Path:
    """Write `frame` atomically as CSV (ISO-8601 `...Z` timestamps, no index) or Parquet.

    A CSV path ending in `.gz` is gzip-compressed. Missing values are written as empty cells.
    """
    if fmt not in ("csv", "parquet"):
        raise ConfigError(f"unknown telemetry format {fmt!r}; use 'csv' or 'parquet'")
    table = _arrow_table(frame)
    path = Path(path)
    with atomic_path(path) as tmp:
        if fmt == "parquet":
            pq.write_table(table, tmp)
        elif path.name.lower().endswith(".gz"):
            with pa.CompressedOutputStream(str(tmp), "gzip") as sink:
                pacsv.write_csv(_csv_ready(table), sink)
        else:
            pacsv.write_csv(_csv_ready(table), tmp)
    return path


# --- format detection -------------------------------------------------------------------------


def _read_head(path: Path) -> bytes:
    """The first bytes of `path`, turning every OS-level refusal into a DataError."""
    if not path.exists():
        raise DataError(path, "file not found", rule="not_found")
    if path.is_dir():
        raise DataError(path, "is a directory, not a telemetry file", rule="not_a_file")
    try:
        with open(path, "rb") as handle:
            head = handle.read(HEAD_SIZE)
    except PermissionError:
        raise DataError(
            path, "permission denied: cannot read the file", rule="permission"
        ) from None
    except OSError as exc:
        raise DataError(path, f"cannot read the file: {exc.strerror or exc}", rule="read") from None
    if not head:
        raise DataError(path, "file is empty (0 bytes)", rule="empty")
    return head


def _check_gzip(path: Path) -> Format:
    """Accept gzip only when the name says so, and only around CSV (Parquet needs seeking)."""
    if not path.name.lower().endswith(".gz"):
        raise DataError(
            path,
            f"file is gzip-compressed but named {path.suffix or 'without .gz'}; "
            f"decompress it or name it {path.name}.gz",
            rule="compression",
        )
    try:
        with gzip.open(path, "rb") as handle:
            inner = handle.read(HEAD_SIZE)
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(
            path, f"gzip data is corrupt or truncated: {exc}", rule="compression"
        ) from None
    if inner.startswith(PARQUET_MAGIC):
        raise DataError(
            path, "gzip-compressed Parquet is not supported; decompress it", rule="compression"
        )
    if not inner:
        raise DataError(path, "file is empty once decompressed", rule="empty")
    _check_text_head(path, inner)
    return "csv.gz"


def _check_text_head(path: Path, head: bytes) -> None:
    """Refuse files that are clearly not CSV text: other formats, UTF-16, binary data."""
    for magic, what in _FOREIGN_MAGIC.items():
        if head.startswith(magic):
            raise DataError(path, f"file is {what}", rule="format")
    if head.startswith(_UTF16_BOMS):
        raise DataError(path, "file is UTF-16 encoded; save it as UTF-8", rule="encoding")
    nul = head.find(b"\x00")
    controls = sum(head.count(bytes([b])) for b in range(32) if b not in (9, 10, 13))
    if nul >= 0 or controls > max(2, len(head) // 100):
        where = f" (NUL byte at offset {nul})" if nul >= 0 else ""
        raise DataError(
            path, f"file holds binary data{where}, not CSV text or Parquet", rule="binary"
        )


# --- CSV ----------------------------------------------------------------------------------------


def _csv_convert_options(schema: Schema, *, typed: bool = False) -> pacsv.ConvertOptions:
    """Schema text columns as text (categories dictionary-encoded); the rest inferred.

    With `typed`, numbers and timestamps get their schema type too (see `_read_csv`).
    """
    column_types: dict[str, pa.DataType] = {}
    for spec in schema.columns:
        if spec.type == "string":
            column_types[spec.name] = pa.string()
        elif spec.type == "category":
            column_types[spec.name] = pa.dictionary(pa.int32(), pa.string())
        elif typed:
            column_types[spec.name] = _CSV_TYPES[spec.type]
    return pacsv.ConvertOptions(
        column_types=column_types,
        null_values=NULL_VALUES,
        strings_can_be_null=True,
        quoted_strings_can_be_null=True,
    )


def _read_csv(path: Path, schema: Schema, *, compressed: bool) -> pd.DataFrame:
    """Parse a CSV (optionally gzip) file with pyarrow, translating its errors.

    Type inference is costly in memory: pyarrow keeps every parsed block of the file (about
    1.3x the file size) until the end, in case a late value changes a column's type. So the
    file is first parsed with the schema's types; a file where that fails (a stray word, a
    fractional int, naive or sub-second timestamps) or might differ is parsed again with
    inference, exactly as before, so that `validate` sees and reports the same values.
    """
    _check_header(path, compressed)
    table = _parse_csv_typed(path, schema, compressed)
    if table is None:
        table = _parse_csv_inferring(path, schema, compressed)
    if not _is_utf8(table):
        raise _utf8_error(path, compressed)
    if table.num_rows == 0:
        raise DataError(path, "file has a header but no data rows", rule="no_rows")
    # One column at a time, each freed once copied: the CSV reader cuts columns into 1 MiB
    # blocks, so pandas must copy them, and holding both whole tables would double the peak.
    return _to_pandas(table, self_destruct=True)


def _parse_csv(path: Path, schema: Schema, compressed: bool, *, typed: bool) -> pa.Table:
    return pacsv.read_csv(
        _csv_source(path, compressed),
        read_options=pacsv.ReadOptions(use_threads=True),
        convert_options=_csv_convert_options(schema, typed=typed),
    )


def _parse_csv_typed(path: Path, schema: Schema, compressed: bool) -> pa.Table | None:
    """The parse with schema types; None where it fails or might differ from inference."""
    try:
        table = _parse_csv(path, schema, compressed, typed=True)
    except (pa.ArrowException, OSError, EOFError, zlib.error, UnicodeDecodeError):
        return None  # the inferring parse finds and reports the problem, as it always did
    return table if _typed_parse_is_exact(table, schema) else None


def _parse_csv_inferring(path: Path, schema: Schema, compressed: bool) -> pa.Table:
    """The parse with pyarrow's type inference, its errors translated into DataErrors."""
    try:
        return _parse_csv(path, schema, compressed, typed=False)
    except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
        raise _csv_error(path, str(exc), schema, compressed) from None
    except (OSError, EOFError, zlib.error, pa.ArrowException) as exc:
        raise DataError(path, f"cannot read the file: {_short(exc)}", rule="read") from None


def _typed_parse_is_exact(table: pa.Table, schema: Schema) -> bool:
    """Whether the schema-typed parse gave what inference would have, as far as `validate` sees.

    A typed parse that succeeds holds the values inference would find: ints, and timestamps
    with a zone and whole seconds, are tried by inference before anything else such texts could
    be. One difference remains: inference reads a float column written as whole numbers as
    int64, and int64 statistics (mean, std) equal float64 ones only while sums stay exact,
    below 2**53. Such a column (complete, whole, that large) is parsed again with inference.
    """
    floats = {spec.name for spec in schema.columns if spec.type == "float"}
    limit = 2.0**53 / max(table.num_rows, 1)
    for index, field in enumerate(table.schema):
        column = table.column(index)
        if field.name not in floats or column.null_count or not pa.types.is_floating(field.type):
            continue
        low, high = (value.as_py() for value in pc.min_max(column).values())
        if low is None or max(abs(low), abs(high)) < limit:
            continue
        if pc.all(pc.equal(column, pc.floor(column))).as_py():
            return False
    return True


def _is_utf8(table: pa.Table) -> bool:
    """pyarrow reads invalid UTF-8 cells as binary columns, and decodes names only on access."""
    try:
        table.column_names  # noqa: B018 - the access is the check
    except UnicodeDecodeError:
        return False
    return not any(pa.types.is_binary(t) or pa.types.is_large_binary(t) for t in table.schema.types)


def _check_header(path: Path, compressed: bool) -> None:
    """Header problems get their own message: pyarrow would only say 'empty' or fail oddly."""
    offset, line, header = _first_nonblank_line(path, compressed)
    if not header:
        raise DataError(path, "file has no header line (it is blank)", rule="empty")
    try:
        text = header.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(
            path,
            f"byte 0x{header[exc.start]:02x} at offset {offset + exc.start} (line {line}, the "
            "header) is not valid UTF-8; the file must be UTF-8 encoded",
            rule="encoding",
        ) from None
    if "," not in text:
        for separator, name in ((";", "semicolons"), ("\t", "tabs"), ("|", "pipes")):
            if separator in text:
                raise DataError(
                    path,
                    f"the header has no commas but {name}; export the file with ',' as the "
                    "field separator",
                    rule="delimiter",
                )


def _first_nonblank_line(path: Path, compressed: bool) -> tuple[int, int, bytes]:
    """(byte offset, 1-based line, bytes) of the first non-blank line; b"" if there is none.

    pyarrow skips blank lines too, so a file may start with a few; 1000 are surely not a header.
    """
    offset = 0
    try:
        with _open_text_bytes(path, compressed) as handle:
            for line in range(1, 1001):
                raw = handle.readline(1 << 20)
                if not raw or raw.strip():
                    return offset, line, raw.strip()
                offset += len(raw)
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(path, f"cannot read the file: {_short(exc)}", rule="read") from None
    return offset, 1001, b""


def _csv_error(path: Path, message: str, schema: Schema, compressed: bool) -> DataError:
    """Turn a pyarrow CSV error into a DataError that says what is wrong and where."""
    if "UTF8" in message or "utf-8" in message:
        return _utf8_error(path, compressed)
    if "Expected" in message and "columns" in message:
        # Invalid UTF-8 is the deeper problem, and pyarrow cannot even report such a row.
        return _encoding_error(path, compressed) or _ragged_error(path, schema, compressed)
    if "Empty CSV file" in message:
        return DataError(path, "file has no header line", rule="empty")
    return DataError(path, f"cannot parse the file as CSV: {_short(message)}", rule="csv_parse")


def _ragged_error(path: Path, schema: Schema, compressed: bool) -> DataError:
    """Re-read single-threaded (only then does pyarrow know line numbers) to name bad lines."""
    bad: list[tuple[int, int, int]] = []

    def remember(row: pacsv.InvalidRow) -> str:
        bad.append((row.number or 0, row.actual_columns, row.expected_columns))
        return "skip"

    try:
        table = pacsv.read_csv(
            _csv_source(path, compressed),
            read_options=pacsv.ReadOptions(use_threads=False),
            parse_options=pacsv.ParseOptions(invalid_row_handler=remember),
            convert_options=_csv_convert_options(schema),
        )
        total_lines = table.num_rows + len(bad) + 1
    except (pa.ArrowException, OSError, UnicodeDecodeError):
        total_lines = -1
    if not bad:
        return DataError(path, "rows have the wrong number of fields", rule="ragged_row")
    line, actual, expected = bad[0]
    message = f"line {line} has {actual} fields but the header has {expected}"
    if len(bad) == 1 and line >= total_lines > 0 and actual < expected:
        message += "; the file looks truncated (its last line is cut off)"
    elif len(bad) > 1:
        message = f"{len(bad)} lines have the wrong number of fields; first: " + message
    rows = [number - 1 for number, _, _ in bad[:5] if number > 1]
    return DataError(path, message, rule="ragged_row", rows=rows)


def _utf8_error(path: Path, compressed: bool) -> DataError:
    """The error for a file pyarrow found not to be UTF-8, located as precisely as possible."""
    located = _encoding_error(path, compressed)
    return located or DataError(path, "file is not valid UTF-8 text", rule="encoding")


def _encoding_error(path: Path, compressed: bool) -> DataError | None:
    """A DataError naming the first byte that is not UTF-8, or None if there is none."""
    try:
        with _open_text_bytes(path, compressed) as handle:
            found = first_invalid_utf8(handle.read)
    except (OSError, EOFError, zlib.error):
        return None
    if found is None:
        return None
    offset, line, byte = found
    rows = [line - 1] if line > 1 else []
    return DataError(
        path,
        f"byte 0x{byte:02x} at offset {offset} (line {line}) is not valid UTF-8; the file must "
        "be UTF-8 encoded (convert it, e.g. `iconv -f latin1 -t utf-8`)",
        rule="encoding",
        rows=rows,
    )


def first_invalid_utf8(read: Callable[[int], bytes]) -> tuple[int, int, int] | None:
    """(byte offset, 1-based line, byte value) of the first invalid UTF-8 byte, else None.

    Streams in 1 MiB chunks; a multi-byte character split across two chunks is carried over.
    """
    carry, offset, line = b"", 0, 1  # `offset` and `line` are those of data[0]
    while chunk := read(CHUNK_SIZE):
        data = carry + chunk
        good = len(data)
        try:
            data.decode("utf-8")
        except UnicodeDecodeError as exc:
            if exc.reason != "unexpected end of data":
                return offset + exc.start, line + data.count(b"\n", 0, exc.start), data[exc.start]
            good = exc.start  # a character cut by the chunk boundary: finish it next round
        line += data.count(b"\n", 0, good)
        offset += good
        carry = data[good:]
    if carry:
        return offset, line, carry[0]
    return None


def _csv_source(path: Path, compressed: bool) -> pa.NativeFile:
    """An explicit stream, so that pyarrow never guesses a compression from the file name."""
    source = pa.OSFile(str(path), "rb")
    return pa.CompressedInputStream(source, "gzip") if compressed else source


def _open_text_bytes(path: Path, compressed: bool) -> IO[bytes]:
    """The file's (decompressed) bytes as a binary stream."""
    if compressed:
        return gzip.open(path, "rb")
    return open(path, "rb")


# --- Parquet -------------------------------------------------------------------------------------


def _read_parquet(path: Path, schema: Schema) -> pd.DataFrame:
    """Read a Parquet file; a damaged one becomes a DataError, not a pyarrow traceback.

    `ParquetFile.read` returns each column as one piece (the dataset reader behind
    `pq.read_table` cuts it into 128Ki-row batches), which pandas then takes over without a
    copy. Schema text columns are read dictionary-encoded, straight from Parquet's dictionary
    pages, which is several times faster than building a string per row: categories arrive as
    `pd.Categorical` without hashing, free-text columns are decoded back to text in one pass.
    """
    try:
        stored = pq.read_schema(path)
        text = _text_columns(stored, schema)
        with pq.ParquetFile(path, read_dictionary=text) as parquet:
            table = parquet.read()
        table = _decode_dictionaries(table, stored, [n for n in text if _is_string(schema, n)])
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise DataError(
            path, f"Parquet file is corrupt or truncated: {_short(exc)}", rule="parquet"
        ) from None
    if table.num_columns == 0:
        raise DataError(path, "Parquet file has no columns", rule="no_columns")
    if table.num_rows == 0:
        raise DataError(path, "Parquet file has no data rows", rule="no_rows")
    try:
        return _to_pandas(table)
    except (pa.ArrowException, ValueError, TypeError) as exc:
        raise DataError(
            path, f"Parquet column types cannot be read: {_short(exc)}", rule="parquet"
        ) from None


def _text_columns(stored: pa.Schema, schema: Schema) -> list[str]:
    """Schema category and string columns stored as plain text (once each: duplicates are left
    alone)."""
    text = {f.name: f.type for f in stored if stored.names.count(f.name) == 1}
    return [
        spec.name
        for spec in schema.columns
        if spec.type in ("category", "string")
        and spec.name in text
        and (pa.types.is_string(text[spec.name]) or pa.types.is_large_string(text[spec.name]))
    ]


def _is_string(schema: Schema, name: str) -> bool:
    return schema.by_name[name].type == "string"


def _decode_dictionaries(table: pa.Table, stored: pa.Schema, names: list[str]) -> pa.Table:
    """Turn the dictionary-encoded columns `names` back into their stored text type.

    The chunks (one per row group) are merged first, so that the text is built in one piece.
    """
    for name in names:
        index = table.schema.get_field_index(name)
        column = table.column(index)
        merged = column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)
        field = stored.field(name)
        table = table.set_column(index, field, merged.cast(field.type))
    return table


def _to_pandas(table: pa.Table, *, self_destruct: bool = False) -> pd.DataFrame:
    """Convert without consolidating blocks (no copy of single-chunk numeric columns).

    pandas metadata is ignored on purpose: a stored index comes back as an ordinary column
    (and is then reported as unknown) instead of silently becoming the row labels.
    `self_destruct` frees each Arrow column once converted; `table` is unusable afterwards.
    """
    return table.to_pandas(split_blocks=True, ignore_metadata=True, self_destruct=self_destruct)


# --- writing -------------------------------------------------------------------------------------


def _arrow_table(frame: pd.DataFrame) -> pa.Table:
    """The frame as an Arrow table; object columns of mixed types are written as text.

    (Test corpora and hand-made frames put a word into a number column on purpose; the file
    must still be written so that `validate` can report it.)
    """
    try:
        return pa.Table.from_pandas(frame, preserve_index=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        mixed = [c for c in frame.columns if frame[c].dtype == object]
        return pa.Table.from_pandas(frame.astype(dict.fromkeys(mixed, "str")), preserve_index=False)


def _csv_ready(table: pa.Table) -> pa.Table:
    """Timestamps as ISO-8601 UTC text with `Z`, categories as plain text."""
    for index, field in enumerate(table.schema):
        column = table.column(index)
        if pa.types.is_timestamp(field.type):
            table = table.set_column(index, field.name, _iso_utc(column))
        elif pa.types.is_dictionary(field.type):
            table = table.set_column(index, field.name, column.cast(field.type.value_type))
    return table


def _iso_utc(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """Format instants as `YYYY-MM-DDTHH:MM:SS[.fff]Z` with the coarsest exact precision."""
    import pyarrow.compute as pc

    for unit in ("s", "ms", "us", "ns"):
        try:
            coarse = column.cast(pa.timestamp(unit, tz="UTC"))
        except pa.ArrowInvalid:
            continue  # this unit would drop sub-second digits
        return pc.strftime(coarse, format="%Y-%m-%dT%H:%M:%SZ")
    raise AssertionError("unreachable: nanoseconds are always exact")


def _short(error: object, limit: int = 200) -> str:
    """First line of an error message, capped: users need the gist, not pyarrow internals."""
    text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."
