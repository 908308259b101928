"""The window step: per-link temporal split and model-ready arrays for the four models.

Why it looks the way it does:
- Rows are put in (split, link, time) order once. Every split is then one contiguous block of
  rows and every segment (one link's train, validation or test part) a contiguous run inside
  it, so "no window crosses a link or a split boundary" is a matter of which start positions
  each segment offers.
- Each model keeps ONE float32 feature matrix in that order. A row model's samples of a split
  are a slice of it; a sequence model's windows are strided views (`sliding_window_view`) over
  the split's block, copied only when a consumer asks for `X`.
- On disk (layout version `FORMAT_VERSION`) nothing overlapping is materialized: the row order
  (input row and link of every ordered row, rows per split and link) once, and per model its
  feature matrix and target column. `load_windows` memory-maps the matrices and derives the
  samples with the same function `window_frame` uses, so a consumer sees the very same `X`, y,
  link and row, bit for bit, from a fraction of the bytes.
- Arrays hold RAW units (categoricals as their index in the schema's value list). The Go side
  sends raw features, so normalization lives inside each model; the scaler statistics fitted on
  the train split travel in the metadata for the models to embed. They are computed per column
  but reproduce numpy's reductions over the (train rows x features) matrix exactly, so they do
  not depend on how the columns are laid out here.
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
#: Version of the on-disk layout `write_windows` writes and `load_windows` reads. Version 1 (no
#: `format_version` key) stored every overlapping window materialized; 2 stores the row order
#: once and one feature matrix and target column per model.
FORMAT_VERSION = 2
#: Feature order per model (the Go contract's order), re-exported for convenience.
FEATURES: dict[str, tuple[str, ...]] = {name: m.features for name, m in MODEL_INPUTS.items()}
WRITE_CHUNK_ROWS = 65_536
#: The scaler statistics per feature, in the order `_matrix_stats` and `_vector_stats` give them.
STAT_NAMES = ("mean", "std", "min", "max")


@dataclass
class ModelArrays:
    """Samples of one model in one split.

    `X` of a row model is the split's block of the model's feature matrix (a read-only memory
    map when loaded from disk); `X` of a sequence model is gathered on first access from a
    strided view over that block. `link` is the link index of each sample (into the metadata's
    link list) and `row` the input-file row (0-based data row) of the sample's last input step,
    so every sample can be traced back to the telemetry.
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
    # What the arrays are derived from (and what `write_windows` stores): the row order, and per
    # model its feature matrix (float32) and target column (float64) in that order.
    _layout: _Layout | None = field(default=None, repr=False)
    _matrices: dict[str, np.ndarray] = field(default_factory=dict, repr=False)
    _targets: dict[str, np.ndarray] = field(default_factory=dict, repr=False)


def _resolve_fractions(fractions: Mapping[str, float] | None, schema: Schema) -> list[float]:
    chosen = dict(schema.split if fractions is None else fractions)
    unknown = set(chosen) - set(SPLITS)
    if unknown:
        raise ValueError(f"unknown split names {sorted(unknown)}; use {list(SPLITS)}")
    values = [float(chosen.get(s, 0.0)) for s in SPLITS]
    if any(v < 0 for v in values) or not math.isclose(sum(values), 1.0, abs_tol=1e-9):
        raise ValueError(f"split fractions must be >= 0 and add up to 1, got {chosen}")
    return values


def _ranges(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """`arange(s, s + n)` for every (s, n), concatenated (int64)."""
    lengths = np.maximum(np.asarray(lengths, dtype=np.int64), 0)
    total = int(lengths.sum())
    offsets = np.cumsum(lengths) - lengths
    shift = np.repeat(np.asarray(starts, dtype=np.int64) - offsets, lengths)
    return np.arange(total, dtype=np.int64) + shift


def _link_codes(frame: pd.DataFrame, keys: list[str]) -> np.ndarray:
    """Link index per row, numbered in sorted key order (what `groupby(sort=True).ngroup()` gives).

    Each key column is factorized with sorted codes and the codes are combined and renumbered
    densely, which is how pandas groups by several keys, minus the groupby machinery.
    """
    codes = np.zeros(len(frame), dtype=np.int64)
    n_groups = 1
    for key in keys:
        key_codes, uniques = pd.factorize(frame[key], sort=True)
        if (key_codes < 0).any():  # a missing key value: pandas' own rules decide
            grouped = frame.groupby(keys, sort=True, observed=True).ngroup()
            return grouped.to_numpy(np.int64)
        combined = codes * len(uniques) + key_codes
        possible = n_groups * len(uniques)
        if possible <= 4 * len(frame) + 65_536:
            present = np.bincount(combined, minlength=possible) > 0
            rank = np.cumsum(present) - 1
            codes, n_groups = rank[combined], int(present.sum())
        else:
            uniq, codes = np.unique(combined, return_inverse=True)
            n_groups = len(uniq)
    return codes.astype(np.int64, copy=False)


def _link_order(frame: pd.DataFrame, schema: Schema) -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
    """Link index per row, the (link, time) sort order (stable), and the link table."""
    keys = list(schema.link_key)
    link_codes = _link_codes(frame, keys)
    n_links = int(link_codes.max()) + 1 if len(link_codes) else 0
    time = frame[schema.time_column].to_numpy(np.int64)
    link_step = np.diff(link_codes)
    time_rises = time[1:] >= time[:-1]
    if ((link_step > 0) | ((link_step == 0) & time_rises)).all():
        order = np.arange(len(frame), dtype=np.int64)  # already in (link, time) order
    elif time_rises.all():
        # Time-ordered input (the simulator's): a stable sort by link alone keeps time order
        # within each link, the same result as the lexsort below; int16 keys sort by radix.
        small = np.int16 if n_links <= np.iinfo(np.int16).max else np.int64
        order = np.argsort(link_codes.astype(small), kind="stable").astype(np.int64, copy=False)
    else:
        order = np.lexsort((time, link_codes))
    counts = np.bincount(link_codes, minlength=n_links)
    first = order[np.cumsum(counts) - counts]
    links = frame[keys].iloc[first].astype(str).reset_index(drop=True)
    return link_codes, order, links


def _column_values(frame: pd.DataFrame, name: str, schema: Schema) -> np.ndarray:
    """One column as float64 in input order, categoricals as their schema index, missing NaN."""
    spec = schema.column(name)
    series = frame[name]
    if spec.type == "category":
        values = list(spec.values or ())
        dtype = series.dtype
        if isinstance(dtype, pd.CategoricalDtype) and list(dtype.categories) == values:
            codes = series.cat.codes.to_numpy()
        else:
            codes = pd.Categorical(series, categories=values).codes
        out = codes.astype(np.float64)
        out[codes < 0] = np.nan
        return out
    if isinstance(series.dtype, np.dtype) and series.dtype.kind in "fiu":
        return series.to_numpy(np.float64)
    return pd.to_numeric(series, errors="coerce").to_numpy(np.float64)


def _fill_within_links(values: np.ndarray, links: np.ndarray, name: str) -> np.ndarray:
    """Carry values forward within each link, then backward for a leading gap.

    `values` and `links` are in (link, time) order. A link with no value at all in a column is
    an error, because any fill would be invented data.
    """
    filled = pd.Series(values).groupby(links, sort=False).transform(lambda s: s.ffill().bfill())
    out = filled.to_numpy(np.float64)
    if np.isnan(out).any():
        bad = np.unique(links[np.isnan(out)])
        raise DataError(
            "<frame>",
            f"no value at all for {len(bad)} link(s); cannot window",
            column=name,
            rule="missing",
        )
    return out


def _values_present(series: pd.Series) -> list[str]:
    """Distinct non-missing values of a column, sorted (from the codes when categorical)."""
    if isinstance(series.dtype, pd.CategoricalDtype):
        codes = series.cat.codes.to_numpy().astype(np.intp)
        counts = np.bincount(codes + 1, minlength=len(series.cat.categories) + 1)
        return sorted(str(v) for v in series.cat.categories[np.flatnonzero(counts[1:])])
    return sorted(str(v) for v in pd.unique(series.dropna()))


def _matrix_stats(x: np.ndarray) -> tuple[float, float, float, float]:
    """mean, std, min, max over axis 0 of a (rows, features) matrix, for one feature alone.

    `x` is that feature's column (contiguous float64). numpy reduces axis 0 of a C-ordered
    matrix with two or more columns row by row, one running value per column (pairwise
    summation only applies along the innermost axis), so running accumulations reproduce its
    results bit for bit without building the matrix. min and max are exact in any order, except
    which zero wins between 0.0 and -0.0: only then is the running order replayed.
    """
    n = len(x)
    mean = np.add.accumulate(x)[-1] / n
    dev = np.subtract(x, mean)
    np.multiply(dev, dev, out=dev)
    std = np.sqrt(np.add.accumulate(dev)[-1] / n)
    lo, hi = x.min(), x.max()
    if lo == 0:
        lo = np.minimum.accumulate(x)[-1]
    if hi == 0:
        hi = np.maximum.accumulate(x)[-1]
    return float(mean), float(std), float(lo), float(hi)


def _vector_stats(x: np.ndarray) -> tuple[float, float, float, float]:
    """mean, std, min, max of a one-feature model: numpy's reductions of its (rows, 1) matrix."""
    flat = x.reshape(-1, 1)
    return (
        float(flat.mean(axis=0)[0]),
        float(flat.std(axis=0)[0]),
        float(flat.min(axis=0)[0]),
        float(flat.max(axis=0)[0]),
    )


def _window_gather(
    block: np.ndarray, seq_len: int, kind: str
) -> Callable[[np.ndarray], np.ndarray]:
    """Gather of the windows starting at given rows of `block` (one split of a feature matrix)."""
    if len(block) >= seq_len:
        # (n_windows, n_features, seq_len) view -> (n_windows, seq_len, n_features) view.
        view = sliding_window_view(block, seq_len, axis=0).transpose(0, 2, 1)
    else:  # too short for even one window: an empty view of the right shape
        view = np.empty((0, seq_len, block.shape[1]), dtype=block.dtype)
    if kind == "window_any":
        view = view[:, :, 0]

    def gather(idx: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(view[idx])

    return gather


def _window_max(values: np.ndarray, seq_len: int) -> np.ndarray:
    """max(values[i : i + seq_len]) for every full window start i."""
    n = len(values) - seq_len + 1
    if n <= 0:
        return np.empty(0, dtype=values.dtype)
    out = values[:n].copy()
    for k in range(1, seq_len):
        np.maximum(out, values[k : k + n], out=out)
    return out


@dataclass
class _Layout:
    """The row order: (split, link, time). Every split is one block, every segment a run."""

    rows: np.ndarray  # input row of each ordered row (int64)
    links: np.ndarray  # link index of each ordered row (int32)
    segments: np.ndarray  # (n_splits, n_links) rows per split and link (int64)

    def bounds(self, split: int) -> tuple[int, int]:
        sizes = self.segments.sum(axis=1)
        start = int(sizes[:split].sum())
        return start, start + int(sizes[split])

    def window_starts(self, split: int, length: int) -> np.ndarray:
        """Starts (relative to the split's block) of the windows of `length` rows that stay
        inside one segment, by link then time."""
        lengths = self.segments[split]
        offsets = np.cumsum(lengths) - lengths
        return _ranges(offsets, lengths - length + 1)


def _layout(
    link_codes: np.ndarray, order: np.ndarray, n_links: int, cut: list[float]
) -> tuple[_Layout, np.ndarray | None]:
    """The layout, and each ordered row's position in `order` (None: the same position).

    Per link, the first `cut[0]` of its rows (by position in time) are train, the next `cut[1]`
    validation, the rest test.
    """
    counts = np.bincount(link_codes, minlength=n_links).astype(np.int64)
    cut_train = np.floor(cut[0] * counts + 1e-9).astype(np.int64)
    cut_val = np.floor((cut[0] + cut[1]) * counts + 1e-9).astype(np.int64)
    n_train = np.clip(cut_train, 0, counts)
    n_train_val = np.clip(cut_val, n_train, counts)
    segments = np.stack([n_train, n_train_val - n_train, counts - n_train_val])
    link_start = np.cumsum(counts) - counts
    starts = np.concatenate([link_start, link_start + n_train, link_start + n_train_val])
    perm: np.ndarray | None = _ranges(starts, segments.reshape(-1))
    if (perm == np.arange(len(perm))).all():
        perm = None
    links = np.repeat(
        np.tile(np.arange(n_links, dtype=np.int32), len(SPLITS)), segments.reshape(-1)
    )
    rows = order if perm is None else order[perm]
    return _Layout(rows=rows, links=links, segments=segments), perm


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
    layout, perm = _layout(link_codes, order, len(link_table), cut)
    n_rows = len(layout.rows)
    n_train = layout.bounds(0)[1]

    present = [
        m
        for m in chosen
        if all(c in frame.columns for c in (*MODEL_INPUTS[m].features, MODEL_INPUTS[m].target))
    ]
    # One float32 feature matrix per model, in layout order. Each column any chosen model needs
    # is converted, reordered and gap-filled once (rtt_ms feeds three models), then cast into
    # every matrix that holds it; its train-row statistics are computed on the way.
    matrices = {
        m: np.empty((n_rows, MODEL_INPUTS[m].n_features), dtype=np.float32) for m in present
    }
    destinations: dict[str, list[tuple[str, int]]] = {}
    for m in present:
        for j, name in enumerate(MODEL_INPUTS[m].features):
            destinations.setdefault(name, []).append((m, j))
    targets = {MODEL_INPUTS[m].target for m in present}
    needed = list(
        dict.fromkeys(
            c for m in present for c in (*MODEL_INPUTS[m].features, MODEL_INPUTS[m].target)
        )
    )
    stats: dict[tuple[str, bool], tuple[float, float, float, float]] = {}
    columns: dict[str, np.ndarray] = {}
    imputed: dict[str, int] = {}
    for name in needed:
        raw = _column_values(frame, name, schema)
        values = raw[layout.rows]
        if np.isnan(values).any():
            by_link = raw[order]
            imputed[name] = int(np.isnan(by_link).sum())
            by_link = _fill_within_links(by_link, link_codes[order], name)
            values = by_link if perm is None else by_link[perm]
        del raw
        for m, j in destinations.get(name, ()):
            matrices[m][:, j] = values
            alone = MODEL_INPUTS[m].n_features == 1
            if n_train and (name, alone) not in stats:
                train = values[:n_train]
                stats[name, alone] = _vector_stats(train) if alone else _matrix_stats(train)
        if name in targets:
            columns[name] = values
    for matrix in matrices.values():
        matrix.flags.writeable = False

    arrays: dict[str, dict[str, ModelArrays]] = {}
    target_columns: dict[str, np.ndarray] = {}
    meta_models: dict[str, Any] = {}
    for name in chosen:
        spec = MODEL_INPUTS[name]
        if name not in present:
            absent = [c for c in (*spec.features, spec.target) if c not in frame.columns]
            meta_models[name] = {"skipped": f"columns not in the data: {absent}"}
            continue
        seq_len = int(schema.sequence_length.get(name, 1)) if spec.is_sequence else 1
        target_columns[name] = columns[spec.target]
        arrays[name] = _model_arrays(spec, matrices[name], columns[spec.target], layout, seq_len)
        alone = spec.n_features == 1
        scaler = None
        if n_train:
            per_feature = [stats[f, alone] for f in spec.features]
            scaler = {
                "features": list(spec.features),
                **{k: [c[i] for c in per_feature] for i, k in enumerate(STAT_NAMES)},
            }
        meta_models[name] = {
            "features": list(spec.features),
            "target": spec.target,
            "kind": spec.kind,
            "seq_len": seq_len if spec.is_sequence else None,
            "input_shape": list(spec.input_shape(seq_len)),
            "samples": {s: len(a) for s, a in arrays[name].items()},
            "scaler": scaler,
        }

    categorical = {c.name: list(c.values or ()) for c in schema.columns if c.type == "category"}
    # Which categorical values the windows actually contain: the evaluation refuses a test file
    # with values the models never saw in training.
    seen = {name: _values_present(frame[name]) for name in categorical if name in frame.columns}
    split_rows = layout.segments.sum(axis=1)
    meta = {
        "schema": {"name": schema.name, "version": schema.version},
        "source_sha256": source_sha256,
        "n_rows": int(len(frame)),
        "n_links": int(len(link_table)),
        "links": link_table.to_dict(orient="list"),
        "split_fractions": dict(zip(SPLITS, cut, strict=True)),
        "split_rows": {s: int(split_rows[i]) for i, s in enumerate(SPLITS)},
        "encodings": categorical,
        "categories_seen": seen,
        "imputed_values": imputed,
        "models": meta_models,
    }
    return WindowSet(
        arrays=arrays,
        meta=meta,
        _layout=layout,
        _matrices={m: matrices[m] for m in arrays},
        _targets=target_columns,
    )


def _model_arrays(
    spec: ModelInputs, matrix: np.ndarray, target: np.ndarray, layout: _Layout, seq_len: int
) -> dict[str, ModelArrays]:
    """The samples of one model per split: blocks of `matrix` and lazy window gathers.

    `matrix` (rows x features) and `target` are in layout order. Used both on a fresh windowing
    and on what `load_windows` reads, so both give the same arrays by construction.
    """
    out: dict[str, ModelArrays] = {}
    for s_id, s_name in enumerate(SPLITS):
        lo, hi = layout.bounds(s_id)
        block = matrix[lo:hi]
        if spec.kind == "row":
            out[s_name] = ModelArrays(
                y=target[lo:hi].astype(np.int64),
                link=layout.links[lo:hi],
                row=layout.rows[lo:hi],
                _X=block,
            )
            continue
        # A next_step sample needs its target row too: the window spans seq_len + 1 rows.
        length = seq_len + 1 if spec.kind == "next_step" else seq_len
        starts = layout.window_starts(s_id, length)
        if spec.kind == "next_step":
            y = target[lo + seq_len + starts].astype(np.float32)
        else:
            y = _window_max(target[lo:hi], seq_len)[starts].astype(np.int64)
        out[s_name] = ModelArrays(
            y=y,
            link=layout.links[lo + starts],
            row=layout.rows[lo + starts + seq_len - 1],
            _gather=_window_gather(block, seq_len, spec.kind),
            _index=starts,
        )
    return out


def write_windows(windows: WindowSet, output_dir: str | Path) -> Path:
    """Write what the arrays are derived from as memory-mappable `.npy`, atomically.

    Layout (version `FORMAT_VERSION`): `<output_dir>/{rows,links,segments}.npy` (the row order)
    and `<output_dir>/<model>/{features,target}.npy`, plus `metadata.json`. No window is
    materialized: `load_windows` derives the samples. The folder appears complete or not at all.
    """
    layout = windows._layout
    if layout is None or set(windows._matrices) != set(windows.arrays):
        raise ValueError("write_windows writes what window_frame or load_windows returned")
    output_dir = Path(output_dir)
    with atomic_dir(output_dir) as tmp:
        np.save(tmp / "rows.npy", layout.rows)
        np.save(tmp / "links.npy", layout.links)
        np.save(tmp / "segments.npy", layout.segments)
        shapes: dict[str, dict[str, list[int]]] = {}
        for model, per_split in windows.arrays.items():
            (tmp / model).mkdir()
            np.save(tmp / model / "features.npy", windows._matrices[model])
            np.save(tmp / model / "target.npy", windows._targets[model])
            shapes[model] = {split: list(a.x_shape()) for split, a in per_split.items()}
        meta = {**windows.meta, "format_version": FORMAT_VERSION, "x_shapes": shapes}
        write_json(tmp / METADATA_FILE, meta)
    return output_dir


def load_windows(input_dir: str | Path, *, mmap: bool = True) -> WindowSet:
    """Read what `write_windows` wrote; feature matrices are read-only memory maps by default.

    A folder in another layout (one written before `FORMAT_VERSION`, or by a newer dwcp) is
    refused with a `DataError` that says to window the data again.
    """
    input_dir = Path(input_dir)
    meta_path = input_dir / METADATA_FILE
    if not meta_path.is_file():
        raise DataError(str(input_dir), f"not a windows folder: {METADATA_FILE} is missing")
    meta = json.loads(meta_path.read_text())
    version = meta.get("format_version")
    if version != FORMAT_VERSION:
        found = "1 (materialized windows)" if version is None else repr(version)
        raise DataError(
            str(input_dir),
            f"windows layout version {found}; this dwcp reads version {FORMAT_VERSION}: window "
            "the data again (`dwcp window`, or `dwcp train`, which windows first)",
            rule="format_version",
        )
    mode = "r" if mmap else None
    try:
        layout = _Layout(
            rows=np.load(input_dir / "rows.npy"),
            links=np.load(input_dir / "links.npy"),
            segments=np.load(input_dir / "segments.npy"),
        )
        matrices, targets = {}, {}
        for model in meta.get("x_shapes", {}):
            matrices[model] = np.load(input_dir / model / "features.npy", mmap_mode=mode)
            targets[model] = np.load(input_dir / model / "target.npy")
    except (OSError, ValueError) as error:
        raise DataError(str(input_dir), f"unreadable windows folder: {error}") from error
    arrays: dict[str, dict[str, ModelArrays]] = {}
    for model, shapes in meta.get("x_shapes", {}).items():
        info = meta["models"][model]
        matrix, target = matrices[model], targets[model]
        seq_len = int(info["seq_len"] or 1)
        consistent = (
            layout.segments.shape == (len(SPLITS), meta["n_links"])
            and len(matrix) == len(target) == len(layout.rows) == int(layout.segments.sum())
            and matrix.shape[1:] == (len(info["features"]),)
        )
        if consistent:
            arrays[model] = _model_arrays(MODEL_INPUTS[model], matrix, target, layout, seq_len)
            consistent = all(list(a.x_shape()) == shapes[s] for s, a in arrays[model].items())
        if not consistent:
            raise DataError(str(input_dir), f"the {model} arrays do not match {METADATA_FILE}")
    return WindowSet(arrays=arrays, meta=meta, _layout=layout, _matrices=matrices, _targets=targets)
