"""The compression oracle: an explicit cost model whose argmin labels `optimal_compression`."""

from __future__ import annotations

import numpy as np
import pytest

from dwcp_training import compression_oracle as oracle

DC, METRO, WAN, EDGE = range(4)


def rows(*features: tuple[float, ...]) -> np.ndarray:
    """Feature rows in the oracle's order: tput, rtt, link type, ratio6, hit rate, amst rate."""
    return np.array(features, dtype=np.float64)


@pytest.fixture(scope="module")
def random_features() -> np.ndarray:
    rng = np.random.default_rng(7)
    n = 2000
    return np.column_stack(
        [
            np.exp(rng.uniform(np.log(1), np.log(9000), n)),
            np.exp(rng.uniform(np.log(0.2), np.log(300), n)),
            rng.integers(0, 4, n),
            1 + np.exp(rng.uniform(np.log(0.05), np.log(9), n)),
            rng.uniform(0, 0.95, n),
            np.exp(rng.uniform(np.log(1), np.log(10000), n)),
        ]
    )


def test_feature_order_is_the_go_contract() -> None:
    from dwcp_training.window import FEATURES

    assert tuple(FEATURES["compression"]) == oracle.FEATURES
    assert oracle.DEFAULT_LEVEL == 6


def test_oracle_is_argmin_of_transfer_time(random_features: np.ndarray) -> None:
    costs = np.column_stack([oracle.transfer_time(level, random_features) for level in range(10)])
    np.testing.assert_array_equal(oracle.optimal_level(random_features), costs.argmin(axis=1))
    np.testing.assert_allclose(oracle.level_costs(random_features), costs)


def test_oracle_is_a_function_of_the_six_features(random_features: np.ndarray) -> None:
    once = oracle.optimal_level(random_features)
    again = oracle.optimal_level(random_features.copy())
    shuffled = np.random.default_rng(1).permutation(len(random_features))
    np.testing.assert_array_equal(once, again)
    np.testing.assert_array_equal(oracle.optimal_level(random_features[shuffled]), once[shuffled])
    # float32 windows (what the window step hands the models) give the same labels
    as32 = random_features.astype(np.float32)
    assert np.mean(oracle.optimal_level(as32) == once) > 0.999


def test_fast_link_compresses_little() -> None:
    x = rows((8000, 0.4, DC, 3.0, 0.3, 9000))
    assert oracle.optimal_level(x)[0] <= 1


def test_slow_link_with_compressible_data_compresses_hard() -> None:
    x = rows((2, 60, EDGE, 8.0, 0.0, 2))
    assert oracle.optimal_level(x)[0] >= 5


def test_incompressible_data_is_not_compressed() -> None:
    x = rows((20, 60, EDGE, 1.0, 0.0, 20))
    assert oracle.optimal_level(x)[0] == 0


def test_level_falls_as_bandwidth_rises() -> None:
    bandwidth = np.geomspace(0.2, 10000, 60)
    x = np.column_stack(
        [bandwidth, np.full(60, 30.0), np.full(60, WAN), np.full(60, 3.0), np.zeros(60), bandwidth]
    )
    levels = oracle.optimal_level(x)
    assert np.all(np.diff(levels) <= 0)
    assert levels[0] >= 7 and levels[-1] == 0


def test_delta_hits_lower_the_level() -> None:
    """Delta encoding already took part of the redundancy, so compressing harder pays less."""
    base = (40, 40, WAN, 4.0, 0.0, 40)
    no_hits, many_hits = rows(base), rows(base[:4] + (0.95,) + base[5:])
    assert oracle.optimal_level(many_hits)[0] <= oracle.optimal_level(no_hits)[0]


def test_effective_throughput_and_gain_formula(random_features: np.ndarray) -> None:
    x = random_features[:50]
    levels = oracle.optimal_level(x)
    eff = oracle.effective_throughput(levels, x)
    np.testing.assert_allclose(eff, oracle.PAYLOAD_MB * 8 / oracle.transfer_time(levels, x))
    base = oracle.effective_throughput(np.full(50, oracle.DEFAULT_LEVEL), x)
    assert oracle.throughput_gain(levels, x) == pytest.approx(np.mean(eff / base - 1))
    assert oracle.throughput_gain(np.full(50, oracle.DEFAULT_LEVEL), x) == 0.0
    assert oracle.throughput_gain(levels, x) > 0  # the oracle never loses to any fixed level


def test_regret_is_zero_for_the_oracle_and_positive_otherwise(random_features: np.ndarray) -> None:
    levels = oracle.optimal_level(random_features)
    assert oracle.regret(levels, random_features) == 0.0
    assert oracle.regret((levels + 1) % 10, random_features) > 0


def test_bad_shape_is_refused() -> None:
    with pytest.raises(ValueError, match="expected"):
        oracle.optimal_level(np.zeros((3, 5)))


def test_dead_link_has_finite_cost() -> None:
    x = rows((0.0, 10, WAN, 2.0, 0.5, 0.0))
    assert np.all(np.isfinite(oracle.level_costs(x)))
