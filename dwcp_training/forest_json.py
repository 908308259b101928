"""IsolationForest <-> JSON: the reliability model's native artifact, without pickle.

A pickle (or joblib) file runs code when it is loaded, so a later pipeline step that loads an
artifact from shared storage must not use one. This format holds exactly what scoring needs —
per tree the node arrays, the feature subset, the leaf sizes — plus the preprocessing and the
threshold, and `score` recomputes sklearn's `-score_samples` from it with numpy alone.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from dwcp_training.atomic import write_json

FORMAT = "dwcp-isolation-forest/1"


def average_path_length(n: np.ndarray) -> np.ndarray:
    """c(n): average path length of an unsuccessful BST search (Liu et al.), as sklearn has it."""
    n = np.asarray(n, dtype=np.float64)
    out = np.zeros_like(n)
    out[n == 2] = 1.0
    big = n > 2
    out[big] = 2.0 * (np.log(n[big] - 1.0) + np.euler_gamma) - 2.0 * (n[big] - 1.0) / n[big]
    return out


def forest_to_dict(forest, transform: dict[str, Any], threshold: float) -> dict[str, Any]:
    """A JSON-ready description of a fitted sklearn IsolationForest."""
    trees = []
    for estimator, features in zip(forest.estimators_, forest.estimators_features_, strict=True):
        t = estimator.tree_
        trees.append(
            {
                "features": [int(f) for f in features],
                "left": t.children_left.tolist(),
                "right": t.children_right.tolist(),
                "feature": t.feature.tolist(),
                "threshold": t.threshold.tolist(),
                "n_samples": t.n_node_samples.tolist(),
            }
        )
    return {
        "format": FORMAT,
        "max_samples": int(forest.max_samples_),
        "n_features": int(forest.n_features_in_),
        "transform": transform,
        "threshold": float(threshold),
        "trees": trees,
    }


def save(path: Path, forest, transform: dict[str, Any], threshold: float) -> Path:
    """Compact JSON: one number per indented line made 100 trees 1.34 MB instead of 0.56 MB."""
    return write_json(path, forest_to_dict(forest, transform, threshold), compact=True)


def load(path: Path) -> dict[str, Any]:
    doc = json.loads(Path(path).read_text())
    if doc.get("format") != FORMAT:
        raise ValueError(f"{path}: not a {FORMAT} file")
    return doc


def _leaf_depths(tree: dict[str, Any], z: np.ndarray) -> np.ndarray:
    """Path length of every row in one tree: depth of its leaf + c(leaf size)."""
    left = np.asarray(tree["left"])
    right = np.asarray(tree["right"])
    feature = np.asarray(tree["feature"])
    threshold = np.asarray(tree["threshold"])
    x = z[:, tree["features"]].astype(np.float32)  # sklearn compares float32 features
    node = np.zeros(len(z), dtype=np.int64)
    depth = np.zeros(len(z), dtype=np.float64)
    active = left[node] != -1
    while active.any():
        idx = np.flatnonzero(active)
        n = node[idx]
        go_left = x[idx, feature[n]] <= threshold[n]
        node[idx] = np.where(go_left, left[n], right[n])
        depth[idx] += 1.0
        active = left[node] != -1
    return depth + average_path_length(np.asarray(tree["n_samples"])[node])


def score(doc: dict[str, Any], x: np.ndarray) -> np.ndarray:
    """Anomaly score in [0, 1] for raw features (sklearn's -score_samples)."""
    from dwcp_training.onnx_iforest import FeatureTransform

    transform = FeatureTransform(**{k: tuple(v) for k, v in doc["transform"].items()})
    z = transform.apply(np.asarray(x, dtype=np.float64))
    depths = np.zeros(len(z))
    for tree in doc["trees"]:
        depths += _leaf_depths(tree, z)
    c = average_path_length(np.array([doc["max_samples"]]))[0]
    return 2.0 ** (-depths / (len(doc["trees"]) * c))
