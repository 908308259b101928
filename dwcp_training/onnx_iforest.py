"""Fast, exact ONNX export of the node-reliability IsolationForest (model 3 of MODEL_SPECS.md).

The Go side calls `DetectAnomaly(ctx, features []float64) (bool, float64, error)` with RAW
features, so the exported graph must hold the preprocessing and the decision threshold too.
skl2onnx's IsolationForest converter costs milliseconds per row; this exporter builds one small
graph instead:

    features (N, 6) float32, raw units
      -> TreeEnsemble (ai.onnx.ml 5), all trees at once: output column t holds, for the leaf
         of tree t the row lands in, the index of that leaf's path length in a table
                                                              -> (N, T) float, small integers
      -> Cast int64 -> Gather from the float64 table of path lengths
         (depth + c(n_leaf) - 1, exactly sklearn's `_compute_score_samples` terms)
      -> CumSum along the trees, last column                  -> depth_sum (N,) float64
      -> anomaly_score = 2 ** (depth_sum / -(T * c(psi)))  cast to float32
      -> is_anomaly    = depth_sum <= depth_limit             (bool)

Why each choice, all in the name of bit-exact agreement with sklearn:

* Preprocessing is folded into the split thresholds, so the graph has no preprocessing ops.
  sklearn goes left when `float32(z) <= t` (float32 feature, float64 threshold) with
  `z = FeatureTransform.apply(x)` computed in float64. That map from a float32 raw value to the
  float32 `z` is monotone, so the raw values going left are exactly those `<= x*`, where `x*` is
  the largest float32 whose transformed value is `<= t`. `x*` is found by bisection over the
  float32 values themselves, using the very numpy code of `FeatureTransform.apply`, and checked
  on both sides. In-graph ops could not match: float32 Log/Sub/Div round differently, and even
  in float64 `Log(x + 1)` is not log1p, and numpy's log1p (SIMD, on AVX-512 machines) differs
  from the C library's in the last bit for a few percent of inputs (measured on the dev box).
* onnxruntime's tree ensembles keep leaf weights and sums in float32 whatever the declared type:
  summing float32 path lengths there was measured ~4e-4 off on 100 trees and ~1e-3 on 200 (the
  score ~1e-7 off), enough to flip a decision that sits on the threshold. Small integer leaf
  *indices* are exact in float32, so the trees only say which leaf each row is in; path lengths
  come from a float64 table and are summed by CumSum, which adds tree after tree in the same
  order as sklearn's loop. The sum is then bit-identical to sklearn's.
* The decision is taken on that exact sum, not on the score: `score >= threshold` is turned into
  `depth_sum <= depth_limit` by bisection over float64 with numpy's own score formula. That
  keeps the decision identical to sklearn even for rows whose score equals the threshold (which
  is common: a threshold taken as a percentile of training scores lands on a duplicated row's
  score), and independent of which `pow` the Go host's onnxruntime links against.

The result does not depend on onnxruntime's thread count: however the trees are split between
threads, each output column of the TreeEnsemble receives exactly one leaf index, and the sum is
CumSum's. Caveats, documented rather than handled: the input is float32, so a Go float64 value
is rounded once before the comparison (as sklearn rounds the transformed value); features with
`log1p` must be >= -1 (the physical features are >= 0); NaN follows sklearn's own per-node
`missing_go_to_left`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from sklearn.ensemble import IsolationForest

# sklearn's own path-length formula: importing it (rather than copying it) keeps the leaf values
# and the normalising constant bit-identical to what `score_samples` uses.
from sklearn.ensemble._iforest import _average_path_length

INPUT_NAME = "features"
SCORE_NAME = "anomaly_score"
FLAG_NAME = "is_anomaly"
DEPTH_SUM_NAME = "depth_sum"  # intermediate, named so tests can inspect it
DEFAULT_OPSET = 18
ML_OPSET = 5  # TreeEnsemble; onnxruntime >= 1.20
_BRANCH_LEQ = 0


@dataclass(frozen=True)
class FeatureTransform:
    """Per-feature preprocessing the forest was trained on: optional log1p, then standardise.

    Every step is strictly increasing, which is what lets the exporter fold it into the split
    thresholds instead of computing it in the graph.
    """

    log1p: tuple[bool, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]

    def __post_init__(self) -> None:
        n = len(self.log1p)
        if len(self.mean) != n or len(self.std) != n:
            raise ValueError("log1p, mean and std must have one entry per feature")
        if not all(np.isfinite(m) for m in self.mean):
            raise ValueError("mean must be finite")
        if not all(np.isfinite(s) and s > 0 for s in self.std):
            raise ValueError("std must be finite and > 0 (the transform must be increasing)")

    @property
    def n_features(self) -> int:
        return len(self.log1p)

    @classmethod
    def fit(cls, X: np.ndarray, log1p: Sequence[bool]) -> FeatureTransform:
        """Mean and std of the (log1p'd) training columns; a constant column gets std 1."""
        X = np.asarray(X, dtype=np.float64)
        flags = tuple(bool(f) for f in log1p)
        cols = [np.log1p(X[:, j]) if flag else X[:, j] for j, flag in enumerate(flags)]
        mean = tuple(float(np.mean(c)) for c in cols)
        std = tuple(float(np.std(c)) or 1.0 for c in cols)
        return cls(flags, mean, std)

    def column(self, j: int, values: np.ndarray) -> np.ndarray:
        """Transform one feature's float64 values: the single definition both paths use.

        The exporter's threshold folding calls this very function, so `apply` and the fold
        cannot drift apart by even an ulp.
        """
        v = np.ascontiguousarray(values, dtype=np.float64)
        if self.log1p[j]:
            v = np.log1p(v)
        return (v - self.mean[j]) / self.std[j]

    def apply(self, X: np.ndarray) -> np.ndarray:
        """Numpy reference of the preprocessing, float64 (n, n_features) -> float64."""
        X = np.asarray(X)
        if X.ndim != 2 or X.shape[1] != self.n_features:
            raise ValueError(f"expected shape (n, {self.n_features}), got {X.shape}")
        return np.column_stack([self.column(j, X[:, j]) for j in range(self.n_features)])


def anomaly_score(forest: IsolationForest, Z: np.ndarray) -> np.ndarray:
    """Reference [0, 1] score on transformed features: the original paper's 2**(-E[h]/c(psi))."""
    return -forest.score_samples(np.asarray(Z))


def sklearn_threshold(forest: IsolationForest) -> float:
    """The `threshold` for which `is_anomaly` equals `forest.predict(Z) == -1`.

    sklearn flags a row when `score_samples < offset_`, i.e. `anomaly_score > -offset_`; the
    graph tests `>=`, so the threshold is the next float64 above `-offset_`.
    """
    return float(np.nextafter(-float(forest.offset_), np.inf))


def iforest_onnx(
    forest: IsolationForest,
    transform: FeatureTransform,
    threshold: float,
    *,
    input_name: str = INPUT_NAME,
    opset: int = DEFAULT_OPSET,
) -> onnx.ModelProto:
    """Export `forest` (fitted on `transform.apply(X)`) as a raw-feature ONNX model.

    Outputs `anomaly_score` (float32, (N,)) and `is_anomaly` (bool, (N,)) =
    `anomaly_score >= threshold`, both equal to sklearn's on the float32 raw input.
    """
    _check_compatible(forest, transform, threshold)
    tables = _flatten_forest(forest, transform)
    denominator = _score_denominator(forest)
    limit = _depth_sum_limit(float(threshold), denominator)
    graph = _build_graph(tables, denominator, limit, input_name, transform.n_features)
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", opset), helper.make_opsetid("ai.onnx.ml", ML_OPSET)],
        producer_name="dwcp_training.onnx_iforest",
        doc_string=f"IsolationForest, {len(forest.estimators_)} trees, threshold {threshold!r}",
    )
    onnx.checker.check_model(model, full_check=True)
    return model


def _check_compatible(
    forest: IsolationForest, transform: FeatureTransform, threshold: float
) -> None:
    """Fail early on inputs the exporter cannot represent exactly."""
    if not hasattr(forest, "estimators_"):
        raise ValueError("the IsolationForest is not fitted")
    if forest.n_features_in_ != transform.n_features:
        raise ValueError(
            f"forest has {forest.n_features_in_} features, transform {transform.n_features}"
        )
    if np.isnan(threshold):
        raise ValueError("threshold is NaN")


# --- score arithmetic, exactly as sklearn's `_compute_score_samples` ---------------------------


def _score_denominator(forest: IsolationForest) -> float:
    """`n_estimators * c(max_samples)`, the float64 sklearn divides the depth sum by."""
    return float(len(forest.estimators_) * _average_path_length([forest._max_samples])[0])


def _score_from_depth_sum(depth_sum: np.ndarray, denominator: float) -> np.ndarray:
    """sklearn's score from the summed path lengths, same operations in the same order.

    For psi <= 1 the denominator is 0 and sklearn's `np.divide(..., out=ones)` makes every
    score 2**-1.
    """
    depth_sum = np.asarray(depth_sum, dtype=np.float64)
    den = np.array([denominator])
    return 2 ** (-np.divide(depth_sum, den, out=np.ones_like(depth_sum), where=den != 0))


def _leaf_path_lengths(forest: IsolationForest, tree_index: int, leaves: np.ndarray) -> np.ndarray:
    """Per-leaf term sklearn adds for one tree: depth + c(n_node_samples) - 1, float64.

    Uses the arrays sklearn itself computed at fit time, so the terms are the same floats.
    """
    depths = forest._decision_path_lengths[tree_index]
    avg = forest._average_path_length_per_tree[tree_index]
    return depths[leaves] + avg[leaves] - 1.0


# --- bisection over the ordered float values ---------------------------------------------------

_INT_OF = {np.dtype(np.float32): np.int32, np.dtype(np.float64): np.int64}
_UINT_OF = {np.dtype(np.float32): np.uint32, np.dtype(np.float64): np.uint64}
Predicate = Callable[[np.ndarray, np.ndarray], np.ndarray]


def _to_keys(x: np.ndarray) -> np.ndarray:
    """Map floats to int64 keys in the same order, one key per value (-0.0 and 0.0 share 0)."""
    x = np.asarray(x)
    int_type = _INT_OF[x.dtype]
    bits = x.view(int_type).astype(np.int64)
    magnitude = bits & np.int64(np.iinfo(int_type).max)
    return np.where(bits < 0, -magnitude, magnitude)


def _from_keys(keys: np.ndarray, dtype: type[np.floating]) -> np.ndarray:
    """Inverse of `_to_keys` (key 0 gives +0.0)."""
    keys = np.asarray(keys, dtype=np.int64)
    uint_type = _UINT_OF[np.dtype(dtype)]
    magnitude = np.abs(keys).astype(np.uint64)
    sign = np.uint64(1 << (8 * np.dtype(dtype).itemsize - 1))
    return np.where(keys < 0, magnitude | sign, magnitude).astype(uint_type).view(dtype)


def _key(value: float, dtype: type[np.floating]) -> int:
    return int(_to_keys(np.array([value], dtype=dtype))[0])


def _bisect_last_true(pred: Predicate, targets: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """Per target, the largest key k in (lo, hi) with pred(k, target), or lo when none is.

    `pred` must be True then False along the keys (monotone); the exclusive bounds `lo` and
    `hi` stand for "True" and "False". Bisection over keys is exact: ~32 (float32) or ~64
    (float64) vectorised evaluations of the real numpy code, no tolerance anywhere.
    """
    n = targets.shape[0]
    lo_k, hi_k = np.full(n, lo, dtype=np.int64), np.full(n, hi, dtype=np.int64)
    while (active := lo_k + 1 < hi_k).any():
        mid = (lo_k >> 1) + (hi_k >> 1) + (lo_k & hi_k & 1)  # no overflow near the int64 ends
        ok = np.zeros(n, dtype=bool)
        ok[active] = pred(mid[active], targets[active])
        lo_k = np.where(active & ok, mid, lo_k)
        hi_k = np.where(active & ~ok, mid, hi_k)
    return lo_k


def _verify_boundary(
    pred: Predicate, keys: np.ndarray, targets: np.ndarray, lo: int, hi: int, what: str
) -> None:
    """Re-check a few keys on each side of every boundary found by `_bisect_last_true`.

    Bisection trusts monotonicity; this catches a transform (or a libm) that is not monotone
    near a threshold, where folding would silently disagree with sklearn.
    """
    for step in range(-7, 9):  # keys-7..keys must be True, keys+1..keys+8 False
        probe = keys + step
        inside = (probe > lo) & (probe < hi)
        if not np.all(pred(probe[inside], targets[inside]) == (step <= 0)):
            raise ValueError(f"{what}: the map is not monotone near a threshold; cannot fold")


def _fold_thresholds(transform: FeatureTransform, j: int, thresholds: np.ndarray) -> np.ndarray:
    """Largest float32 raw value of feature `j` that sklearn sends left, per threshold.

    sklearn's test is `float64(float32(transform(x))) <= t`. The search spans the float32 raw
    values from -inf (or -1 for log1p, below which log1p is NaN) to +inf.
    """

    def goes_left(keys: np.ndarray, t: np.ndarray) -> np.ndarray:
        raw = _from_keys(keys, np.float32).astype(np.float64)
        with np.errstate(over="ignore", divide="ignore"):  # probes reach +-inf and log1p(-1)
            z = transform.column(j, raw).astype(np.float32)
        return z.astype(np.float64) <= t

    lowest = _key(-1.0 if transform.log1p[j] else -np.inf, np.float32)
    lo, hi = lowest - 1, _key(np.inf, np.float32) + 1
    t = np.asarray(thresholds, dtype=np.float64)
    keys = _bisect_last_true(goes_left, t, lo, hi)
    _verify_boundary(goes_left, keys, t, lo, hi, f"feature {j}")
    # lo (nothing goes left) cannot happen for a finite t when the domain starts at -inf.
    return _from_keys(np.maximum(keys, _key(-np.inf, np.float32)), np.float32)


def _depth_sum_limit(threshold: float, denominator: float) -> float:
    """Largest float64 depth sum whose sklearn score is `>= threshold` (-inf when none is).

    The score falls as the depth sum grows, so `score >= threshold` <=> `depth_sum <= limit`.
    """

    def flagged(keys: np.ndarray, thr: np.ndarray) -> np.ndarray:
        with np.errstate(over="ignore", under="ignore"):  # probes span all of float64
            return _score_from_depth_sum(_from_keys(keys, np.float64), denominator) >= thr

    lo, hi = _key(-np.inf, np.float64) - 1, _key(np.inf, np.float64) + 1
    thr = np.array([threshold], dtype=np.float64)
    keys = _bisect_last_true(flagged, thr, lo, hi)
    _verify_boundary(flagged, keys, thr, lo, hi, "anomaly threshold")
    return float(_from_keys(np.maximum(keys, lo + 1), np.float64)[0])


# --- flattening the forest ---------------------------------------------------------------------


@dataclass
class _FlatForest:
    """Trees accumulated in TreeEnsemble (ai.onnx.ml 5) layout, ids already global.

    `node_parts` holds one dict of `nodes_*` arrays per tree, with float64 splits on the
    transformed features (folded to raw units once all trees are in).
    """

    tree_roots: list[int] = field(default_factory=list)
    node_parts: list[dict[str, np.ndarray]] = field(default_factory=list)
    leaf_targetids: list[np.ndarray] = field(default_factory=list)
    leaf_values: list[np.ndarray] = field(default_factory=list)
    n_nodes: int = 0
    n_leaves: int = 0


def _tree_features(forest: IsolationForest, tree_index: int) -> np.ndarray | None:
    """Global feature ids of a tree's columns, or None when sklearn scores it on all of X.

    Mirrors `_compute_chunked_score_samples`: sklearn subsets columns only when
    `_max_features` differs from the number of features.
    """
    if forest._max_features == forest.n_features_in_:
        return None
    return np.asarray(forest.estimators_features_[tree_index], dtype=np.int64)


def _tree_nodes(forest: IsolationForest, t: int, node0: int, leaf0: int) -> dict[str, np.ndarray]:
    """Interior nodes of tree `t`; sklearn's left child is the `x <= split` (true) branch."""
    tree = forest.estimators_[t].tree_
    left, right = tree.children_left, tree.children_right
    is_leaf = left < 0
    interior, leaves = np.flatnonzero(~is_leaf), np.flatnonzero(is_leaf)
    if interior.size == 0:  # a lone leaf: one dummy node whose both branches reach it
        one = np.ones(1, dtype=np.int64)
        return {
            "featureids": 0 * one,
            "splits": np.zeros(1),
            "truenodeids": leaf0 * one,
            "trueleafs": one,
            "falsenodeids": leaf0 * one,
            "falseleafs": one,
            "missing_true": 0 * one,
            "foldable": np.zeros(1, dtype=bool),
        }
    position = np.empty(tree.node_count, dtype=np.int64)
    position[interior] = node0 + np.arange(interior.size)
    position[leaves] = leaf0 + np.arange(leaves.size)
    features = tree.feature[interior].astype(np.int64)
    subset = _tree_features(forest, t)
    return {
        "featureids": subset[features] if subset is not None else features,
        "splits": tree.threshold[interior].astype(np.float64),
        "truenodeids": position[left[interior]],
        "trueleafs": is_leaf[left[interior]].astype(np.int64),
        "falsenodeids": position[right[interior]],
        "falseleafs": is_leaf[right[interior]].astype(np.int64),
        "missing_true": tree.missing_go_to_left[interior].astype(np.int64),
        "foldable": np.ones(interior.size, dtype=bool),
    }


def _add_tree(flat: _FlatForest, forest: IsolationForest, t: int) -> None:
    """Append tree `t`: its interior nodes, and its leaves with their path-length terms."""
    leaves = np.flatnonzero(forest.estimators_[t].tree_.children_left < 0)
    nodes = _tree_nodes(forest, t, flat.n_nodes, flat.n_leaves)
    flat.tree_roots.append(flat.n_nodes)  # node 0 (the root) is the first interior node
    flat.node_parts.append(nodes)
    flat.leaf_targetids.append(np.full(leaves.size, t, dtype=np.int64))
    flat.leaf_values.append(_leaf_path_lengths(forest, t, leaves))
    flat.n_nodes += nodes["featureids"].size
    flat.n_leaves += leaves.size


def _flatten_forest(forest: IsolationForest, transform: FeatureTransform) -> dict[str, np.ndarray]:
    """Flatten every tree, fold the preprocessing into the splits, dedupe the leaf values.

    Each leaf's weight becomes the index of its path length in the float64 `path_lengths`
    table (a few hundred distinct values): a small integer, which float32 holds exactly.
    """
    flat = _FlatForest()
    for t in range(len(forest.estimators_)):
        _add_tree(flat, forest, t)
    arrays = {
        name: np.concatenate([part[name] for part in flat.node_parts])
        for name in flat.node_parts[0]
    }
    arrays["tree_roots"] = np.asarray(flat.tree_roots, dtype=np.int64)
    arrays["splits"] = _folded_splits(transform, arrays)
    table, index = np.unique(np.concatenate(flat.leaf_values), return_inverse=True)
    if table.size >= 2**24:
        raise ValueError("too many distinct leaf values to index exactly in float32")
    arrays["leaf_targetids"] = np.concatenate(flat.leaf_targetids)
    arrays["leaf_weights"] = index.astype(np.float32)
    arrays["path_lengths"] = table
    return arrays


def _folded_splits(transform: FeatureTransform, arrays: dict[str, np.ndarray]) -> np.ndarray:
    """float32 raw-unit split of every node (see `_fold_thresholds`); dummies keep 0."""
    splits = np.zeros(arrays["splits"].shape, dtype=np.float32)
    for j in range(transform.n_features):
        sel = arrays["foldable"] & (arrays["featureids"] == j)
        if sel.any():
            splits[sel] = _fold_thresholds(transform, j, arrays["splits"][sel])
    return splits


# --- the graph ---------------------------------------------------------------------------------


def _tree_ensemble_node(arrays: dict[str, np.ndarray], input_name: str) -> onnx.NodeProto:
    """One TreeEnsemble for all trees: output column t is the leaf-value index tree t reached."""
    n_nodes = arrays["featureids"].size
    return helper.make_node(
        "TreeEnsemble",
        [input_name],
        ["leaf_ids"],
        domain="ai.onnx.ml",
        aggregate_function=1,  # SUM: one leaf per target, so the sum is that leaf's weight
        n_targets=int(arrays["tree_roots"].size),
        post_transform=0,
        tree_roots=arrays["tree_roots"].tolist(),
        nodes_featureids=arrays["featureids"].tolist(),
        nodes_modes=numpy_helper.from_array(np.full(n_nodes, _BRANCH_LEQ, dtype=np.uint8)),
        nodes_splits=numpy_helper.from_array(arrays["splits"]),
        nodes_truenodeids=arrays["truenodeids"].tolist(),
        nodes_trueleafs=arrays["trueleafs"].tolist(),
        nodes_falsenodeids=arrays["falsenodeids"].tolist(),
        nodes_falseleafs=arrays["falseleafs"].tolist(),
        nodes_missing_value_tracks_true=arrays["missing_true"].tolist(),
        leaf_targetids=arrays["leaf_targetids"].tolist(),
        leaf_weights=numpy_helper.from_array(arrays["leaf_weights"]),
    )


def _exponent_nodes(denominator: float) -> list[onnx.NodeProto]:
    """`-(depth_sum / denominator)` as sklearn computes it, or -1 when the denominator is 0."""
    if denominator != 0:  # x / -d is bit-identical to -(x / d)
        return [helper.make_node("Div", [DEPTH_SUM_NAME, "neg_denominator"], ["exponent"])]
    return [
        helper.make_node("Mul", [DEPTH_SUM_NAME, "zero"], ["zeroed"]),
        helper.make_node("Sub", ["zeroed", "one"], ["exponent"]),
    ]


def _constants(
    arrays: dict[str, np.ndarray], denominator: float, limit: float
) -> list[onnx.TensorProto]:
    """Initializers: the path-length table and the float64 scalars of the score formula."""

    def scalar(name: str, value: float, dtype: type = np.float64) -> onnx.TensorProto:
        return numpy_helper.from_array(np.array(value, dtype=dtype), name)

    constants = [
        numpy_helper.from_array(arrays["path_lengths"], "path_lengths"),
        scalar("tree_axis", 1, np.int64),
        scalar("last_tree", arrays["tree_roots"].size - 1, np.int64),
        scalar("two", 2.0),
        scalar("depth_limit", limit),
    ]
    if denominator != 0:
        return [*constants, scalar("neg_denominator", -denominator)]
    return [*constants, scalar("zero", 0.0), scalar("one", 1.0)]


def _build_graph(
    arrays: dict[str, np.ndarray],
    denominator: float,
    limit: float,
    input_name: str,
    n_features: int,
) -> onnx.GraphProto:
    """Trees -> leaf indices -> float64 path lengths -> ordered sum -> score and decision."""
    nodes = [
        _tree_ensemble_node(arrays, input_name),
        helper.make_node("Cast", ["leaf_ids"], ["leaf_index"], to=TensorProto.INT64),
        helper.make_node("Gather", ["path_lengths", "leaf_index"], ["tree_depths"], axis=0),
        # CumSum adds tree after tree like sklearn's `depths +=` loop; ReduceSum would not.
        helper.make_node("CumSum", ["tree_depths", "tree_axis"], ["running_depths"]),
        helper.make_node("Gather", ["running_depths", "last_tree"], [DEPTH_SUM_NAME], axis=1),
        *_exponent_nodes(denominator),
        helper.make_node("Pow", ["two", "exponent"], ["score64"]),
        helper.make_node("Cast", ["score64"], [SCORE_NAME], to=TensorProto.FLOAT),
        helper.make_node("LessOrEqual", [DEPTH_SUM_NAME, "depth_limit"], [FLAG_NAME]),
    ]
    return helper.make_graph(
        nodes,
        "iforest",
        [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, [None, n_features])],
        # Flag first, score second: the order of Go's DetectAnomaly (bool, float64, error).
        [
            helper.make_tensor_value_info(FLAG_NAME, TensorProto.BOOL, [None]),
            helper.make_tensor_value_info(SCORE_NAME, TensorProto.FLOAT, [None]),
        ],
        initializer=_constants(arrays, denominator, limit),
    )
