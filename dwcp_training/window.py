"""The window step: per-link temporal split and model-ready arrays for the four models.

Why it looks the way it does:
- Rows are put in (link, time) order once; every split segment (one link's train, validation or
  test part) is then a contiguous run of rows, so "no window crosses a link or a split boundary"
  is one vectorized comparison of segment ids at the two ends of each window.
- Sequence windows are strided views (`sliding_window_view`) over that one sorted feature
  matrix: nothing is copied until a consumer asks for `X`, and `write_windows` copies in chunks
  straight into memory-mapped `.npy` files, so peak memory stays near the input's size.
- Arrays hold RAW units (categoricals as their index in the schema's value list). The Go side
  sends raw features, so normalization lives inside each model; the scaler statistics fitted on
  the train split travel in the metadata for the models to embed.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.lib.stride_tricks import sliding_window_view

from dwcp_training.atomic import atomic_dir, write_json
from dwcp_training.errors import DataError
from dwcp_training.features import SPLITS, ModelInputs
from dwcp_training.models import MODEL_INPUTS
from dwcp_training.schema import Schema, load_schema

__all__ = [
    "FEATURES",
    "ModelArrays",
    "WindowSet",
    "load_windows",
    "window_frame",
    "write_windows",
]

METADATA_FILE = "metadata.json"
#: Feature order per model (the Go contract's order), re-exported for convenience.
FEATURES: dict[str, tuple[str, ...]] = {name: m.features for name, m in MODEL_INPUTS.items()}
WRITE_CHUNK_ROWS = 65_536


@dataclass
class ModelArrays:
    """Samples of one model in one split.

    `X` is materialized on first access (a gather from the strided view) unless the arrays were
    loaded from disk, where it is a read-only memory map. `link` is the link index of each sample
    (into the metadata's link list) and `row` the input-file row (0-based data row) of the
    sample's last input step, so every sample can be traced back to the telemetry.
    """

    y: np.ndarray
    link: np.ndarray
    row: np.ndarray
    _gather: Callable[[np.ndarray], np.ndarray] | None = field(default=None, repr=False)
    _index: np.ndarray | None = field(default=None, repr=False)
    _X: np.ndarray | None = field(default=None, repr=False)

    @property
    def X(self) -> np.ndarray:  # noqa: N802 - the conventional name for a design matrix
        if self._X is None:
            assert self._gather is not None and self._index is not None
            self._X = self._gather(self._index)
        return self._X

    def iter_X_chunks(self, chunk: int = WRITE_CHUNK_ROWS):  # noqa: N802
        """Yield `X` in consecutive chunks without materializing all of it."""
        if self._X is not None or self._gather is None or self._index is None:
            for start in range(0, len(self), chunk):
                yield np.asarray(self.X[start : start + chunk])
            return
        for start in range(0, len(self), chunk):
            yield self._gather(self._index[start : start + chunk])

    def x_shape(self) -> tuple[int, ...]:
        if self._X is not None:
            return tuple(self._X.shape)
        assert self._gather is not None
        return (len(self), *self._gather(self._index[:0]).shape[1:])

    def __len__(self) -> int:
        return len(self.y)


@dataclass
class WindowSet:
    """All model arrays of one input file plus the metadata that explains them."""

    arrays: dict[str, dict[str, ModelArrays]]
    meta: dict[str, Any]


def _resolve_fractions(fractions: Mapping[str, float] | None, schema: Schema) -> list[float]:
    chosen = dict(schema.split if fractions is None else fractions)
    unknown = set(chosen) - set(SPLITS)
    if unknown:
        raise ValueError(f"unknown split names {sorted(unknown)}; use {list(SPLITS)}")
    values = [float(chosen.get(s, 0.0)) for s in SPLITS]
    if any(v < 0 for v in values) or not math.isclose(sum(values), 1.0, abs_tol=1e-9):
        raise ValueError(f"split fractions must be >= 0 and add up to 1, got {chosen}")
    return values


def _link_order(frame: pd.DataFrame, schema: Schema) -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
    """Link index per row, the (link, time) sort order, and the link table."""
    keys = list(schema.link_key)
    link_codes = frame.groupby(keys, sort=True, observed=True).ngroup().to_numpy(np.int64)
    links = (
        frame[keys]
        .astype(str)
        .assign(_code=link_codes)
        .drop_duplicates("_code")
        .sort_values("_code")
        .drop(columns="_code")
        .reset_index(drop=True)
    )
    time = frame[schema.time_column].to_numpy(np.int64)
    order = np.lexsort((time, link_codes))
    return link_codes, order, links


def _split_ids(sorted_links: np.ndarray, n_links: int, fractions: list[float]) -> np.ndarray:
    """Split id (0 train, 1 validation, 2 test) per sorted row, cut per link by position."""
    counts = np.bincount(sorted_links, minlength=n_links)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    position = np.arange(len(sorted_links)) - starts[sorted_links]
    n = counts[sorted_links]
    cut_train = np.floor(fractions[0] * n + 1e-9).astype(np.int64)
    cut_val = np.floor((fractions[0] + fractions[1]) * n + 1e-9).astype(np.int64)
    return (position >= cut_train).astype(np.int8) + (position >= cut_val).astype(np.int8)


def _numeric_matrix(
    frame: pd.DataFrame, columns: list[str], schema: Schema, order: np.ndarray, links: np.ndarray
) -> tuple[np.ndarray, dict[str, int]]:
    """Columns as float64 in sorted order, categoricals as schema index, gaps filled per link.

    Missing values (allowed up to the schema's budget) are carried forward within the link, then
    backward for a leading gap; a link with no value at all in a column is an error, because any
    fill would be invented data.
    """
    out = np.empty((len(order), len(columns)), dtype=np.float64)
    filled: dict[str, int] = {}
    for j, name in enumerate(columns):
        spec = schema.column(name)
        series = frame[name]
        if spec.type == "category":
            cat = pd.Categorical(series, categories=list(spec.values or ()))
            values = cat.codes.astype(np.float64)
            values[values < 0] = np.nan
        else:
            values = pd.to_numeric(series, errors="coerce").to_numpy(np.float64)
        values = values[order]
        missing = np.isnan(values)
        if missing.any():
            filled_series = (
                pd.Series(values).groupby(links, sort=False).transform(lambda s: s.ffill().bfill())
            )
            values = filled_series.to_numpy(np.float64)
            if np.isnan(values).any():
                bad = np.unique(links[np.isnan(values)])
                raise DataError(
                    "<frame>",
                    f"no value at all for {len(bad)} link(s); cannot window",
                    column=name,
                    rule="missing",
                )
            filled[name] = int(missing.sum())
        out[:, j] = values
    return out, filled


def _values_present(series: pd.Series) -> list[str]:
    """Distinct non-missing values of a column, sorted (from the codes when categorical)."""
    if isinstance(series.dtype, pd.CategoricalDtype):
        codes = np.unique(series.cat.codes.to_numpy())
        return sorted(str(v) for v in series.cat.categories[codes[codes >= 0]])
    return sorted(str(v) for v in pd.unique(series.dropna()))


def _window_starts(segment: np.ndarray, length: int) -> np.ndarray:
    """Start rows of every window of `length` rows that stays inside one segment."""
    if len(segment) < length:
        return np.empty(0, dtype=np.int64)
    return np.flatnonzero(segment[: len(segment) - length + 1] == segment[length - 1 :])


def _scaler_stats(x: np.ndarray, names: tuple[str, ...]) -> dict[str, Any]:
    flat = x.reshape(-1, x.shape[-1]) if x.ndim > 1 else x.reshape(-1, 1)
    return {
        "features": list(names),
        "mean": [float(v) for v in flat.mean(axis=0)],
        "std": [float(v) for v in flat.std(axis=0)],
        "min": [float(v) for v in flat.min(axis=0)],
        "max": [float(v) for v in flat.max(axis=0)],
    }


def _model_arrays(
    spec: ModelInputs,
    matrix: np.ndarray,
    target: np.ndarray,
    segment: np.ndarray,
    split: np.ndarray,
    sorted_links: np.ndarray,
    sorted_rows: np.ndarray,
    seq_len: int,
) -> dict[str, ModelArrays]:
    """The samples of one model, per split, as lazy gathers over `matrix`."""
    base = np.ascontiguousarray(matrix, dtype=np.float32)
    if spec.kind == "row":
        starts = np.arange(len(base), dtype=np.int64)
        last = starts
        y_all = target

        def gather(idx: np.ndarray) -> np.ndarray:
            return base[idx]

    else:
        length = seq_len + 1 if spec.kind == "next_step" else seq_len
        starts = _window_starts(segment, length)
        last = starts + seq_len - 1
        # (n_windows, n_features, seq_len) view -> (n_windows, seq_len, n_features) view.
        if len(base) >= seq_len:
            view = sliding_window_view(base, seq_len, axis=0).transpose(0, 2, 1)
        else:  # too short for even one window: an empty view of the right shape
            view = np.empty((0, seq_len, base.shape[1]), dtype=np.float32)
        if spec.kind == "next_step":
            y_all = np.full(len(base), np.nan)
            if len(base) > seq_len:
                y_all[: len(base) - seq_len] = target[seq_len:]
        else:
            y_all = np.zeros(len(base))
            if len(base) >= seq_len:
                y_all[: len(base) - seq_len + 1] = sliding_window_view(target, seq_len).max(-1)

        if spec.kind == "window_any":

            def gather(idx: np.ndarray) -> np.ndarray:
                return np.ascontiguousarray(view[idx][:, :, 0])

        else:

            def gather(idx: np.ndarray) -> np.ndarray:
                return np.ascontiguousarray(view[idx])

    y_dtype = np.float32 if spec.kind == "next_step" else np.int64
    out: dict[str, ModelArrays] = {}
    for s_id, s_name in enumerate(SPLITS):
        idx = starts[split[starts] == s_id]
        out[s_name] = ModelArrays(
            y=y_all[idx].astype(y_dtype),
            link=sorted_links[idx].astype(np.int32),
            row=sorted_rows[last[split[starts] == s_id]].astype(np.int64),
            _gather=gather,
            _index=idx,
        )
    return out


def window_frame(
    frame: pd.DataFrame,
    schema: Schema | None = None,
    fractions: Mapping[str, float] | None = None,
    *,
    models: list[str] | None = None,
    source_sha256: str = "",
) -> WindowSet:
    """Split a validated telemetry frame per link in time and build every model's samples.

    `frame` is the typed frame from `validate`; `fractions` defaults to the schema's
    train/validation/test split ({"test": 1.0} windows a held-out file as one test split).
    Scaler statistics are computed on the train split only (absent when there is none).
    """
    schema = schema or load_schema()
    cut = _resolve_fractions(fractions, schema)
    chosen = list(MODEL_INPUTS) if models is None else models
    unknown = [m for m in chosen if m not in MODEL_INPUTS]
    if unknown:
        raise ValueError(f"unknown models {unknown}; known: {list(MODEL_INPUTS)}")

    link_codes, order, link_table = _link_order(frame, schema)
    sorted_links = link_codes[order]
    split = _split_ids(sorted_links, len(link_table), cut)
    segment = sorted_links.astype(np.int64) * len(SPLITS) + split
    sorted_rows = order.astype(np.int64)

    present = [
        m
        for m in chosen
        if all(c in frame.columns for c in (*MODEL_INPUTS[m].features, MODEL_INPUTS[m].target))
    ]
    # One float matrix over every column any chosen model needs: shared columns (rtt_ms feeds
    # three models) are converted and gap-filled once.
    needed = list(
        dict.fromkeys(
            c for m in present for c in (*MODEL_INPUTS[m].features, MODEL_INPUTS[m].target)
        )
    )
    matrix, imputed = _numeric_matrix(frame, needed, schema, order, sorted_links)
    column = {name: j for j, name in enumerate(needed)}

    arrays: dict[str, dict[str, ModelArrays]] = {}
    meta_models: dict[str, Any] = {}
    for name in chosen:
        spec = MODEL_INPUTS[name]
        if name not in present:
            absent = [c for c in (*spec.features, spec.target) if c not in frame.columns]
            meta_models[name] = {"skipped": f"columns not in the data: {absent}"}
            continue
        features = matrix[:, [column[f] for f in spec.features]]
        target = matrix[:, column[spec.target]]
        seq_len = int(schema.sequence_length.get(name, 1)) if spec.is_sequence else 1
        arrays[name] = _model_arrays(
            spec, features, target, segment, split, sorted_links, sorted_rows, seq_len
        )
        train_rows = features[split == 0]
        meta_models[name] = {
            "features": list(spec.features),
            "target": spec.target,
            "kind": spec.kind,
            "seq_len": seq_len if spec.is_sequence else None,
            "input_shape": list(spec.input_shape(seq_len)),
            "samples": {s: len(a) for s, a in arrays[name].items()},
            "scaler": _scaler_stats(train_rows, spec.features) if len(train_rows) else None,
        }

    categorical = {c.name: list(c.values or ()) for c in schema.columns if c.type == "category"}
    # Which categorical values the windows actually contain: the evaluation refuses a test file
    # with values the models never saw in training.
    seen = {name: _values_present(frame[name]) for name in categorical if name in frame.columns}
    meta = {
        "schema": {"name": schema.name, "version": schema.version},
        "source_sha256": source_sha256,
        "n_rows": int(len(frame)),
        "n_links": int(len(link_table)),
        "links": link_table.to_dict(orient="list"),
        "split_fractions": dict(zip(SPLITS, cut, strict=True)),
        "split_rows": {s: int((split == i).sum()) for i, s in enumerate(SPLITS)},
        "encodings": categorical,
        "categories_seen": seen,
        "imputed_values": imputed,
        "models": meta_models,
    }
    return WindowSet(arrays=arrays, meta=meta)


def write_windows(windows: WindowSet, output_dir: str | Path) -> Path:
    """Write every array as a memory-mappable `.npy` plus `metadata.json`, atomically.

    Layout: `<output_dir>/<model>/<split>_{X,y,link,row}.npy`. The folder appears complete or
    not at all.
    """
    output_dir = Path(output_dir)
    with atomic_dir(output_dir) as tmp:
        files: dict[str, dict[str, list[int]]] = {}
        for model, per_split in windows.arrays.items():
            (tmp / model).mkdir()
            for split, arrays in per_split.items():
                x_path = tmp / model / f"{split}_X.npy"
                shape = arrays.x_shape()
                x_out = np.lib.format.open_memmap(x_path, mode="w+", dtype=np.float32, shape=shape)
                pos = 0
                for chunk in arrays.iter_X_chunks():
                    x_out[pos : pos + len(chunk)] = chunk
                    pos += len(chunk)
                x_out.flush()
                del x_out
                np.save(tmp / model / f"{split}_y.npy", arrays.y)
                np.save(tmp / model / f"{split}_link.npy", arrays.link)
                np.save(tmp / model / f"{split}_row.npy", arrays.row)
                files.setdefault(model, {})[split] = list(shape)
        write_json(tmp / METADATA_FILE, {**windows.meta, "x_shapes": files})
    return output_dir


def load_windows(input_dir: str | Path, *, mmap: bool = True) -> WindowSet:
    """Read what `write_windows` wrote; `X` arrays are read-only memory maps by default."""
    input_dir = Path(input_dir)
    meta_path = input_dir / METADATA_FILE
    if not meta_path.is_file():
        raise DataError(str(input_dir), f"not a windows folder: {METADATA_FILE} is missing")
    meta = json.loads(meta_path.read_text())
    mode = "r" if mmap else None
    arrays: dict[str, dict[str, ModelArrays]] = {}
    for model in meta.get("x_shapes", {}):
        arrays[model] = {}
        for split in SPLITS:
            prefix = input_dir / model / split
            arrays[model][split] = ModelArrays(
                y=np.load(f"{prefix}_y.npy"),
                link=np.load(f"{prefix}_link.npy"),
                row=np.load(f"{prefix}_row.npy"),
                _X=np.load(f"{prefix}_X.npy", mmap_mode=mode),
            )
    return WindowSet(arrays=arrays, meta=meta)
