"""The reliability model's native artifact: JSON in, sklearn's scores out, no pickle."""

from __future__ import annotations

import numpy as np
from sklearn.ensemble import IsolationForest

from dwcp_training import forest_json
from dwcp_training.onnx_iforest import FeatureTransform, anomaly_score


def test_json_forest_scores_equal_sklearn(tmp_path):
    rng = np.random.default_rng(0)
    x = np.abs(rng.standard_t(3, size=(3000, 6))) * [1, 0.01, 0.02, 40, 2, 80]
    transform = FeatureTransform.fit(x, (False, True, True, True, True, True))
    forest = IsolationForest(n_estimators=30, max_samples=128, random_state=4).fit(
        transform.apply(x).astype(np.float32)
    )
    path = forest_json.save(
        tmp_path / "f.forest.json",
        forest,
        {"log1p": list(transform.log1p), "mean": list(transform.mean), "std": list(transform.std)},
        0.6,
    )
    doc = forest_json.load(path)
    probe = np.abs(rng.standard_t(2, size=(500, 6))) * [1, 0.01, 0.02, 40, 2, 80]
    expected = anomaly_score(forest, transform.apply(probe))
    np.testing.assert_allclose(forest_json.score(doc, probe), expected, rtol=1e-12)
    assert doc["threshold"] == 0.6
    assert path.read_bytes()[:1] == b"{"  # plain JSON, nothing executable


def test_forest_file_has_no_layout_whitespace(tmp_path):
    """Indentation more than doubled a 100-tree forest (1.34 MB vs 0.56 MB): write it compact."""
    x = np.random.default_rng(1).normal(size=(500, 2))
    forest = IsolationForest(n_estimators=3, max_samples=64, random_state=0).fit(x)
    transform = {"log1p": [False, False], "mean": [0.0, 0.0], "std": [1.0, 1.0]}
    text = forest_json.save(tmp_path / "f.forest.json", forest, transform, 0.5).read_text()
    assert "\n" not in text.rstrip("\n") and ", " not in text and ": " not in text
