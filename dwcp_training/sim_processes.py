"""Stochastic building blocks of the telemetry simulator, vectorized over (time, link).

Every function takes a `numpy.random.Generator` (never the global state) so that one seed fixes
every byte the simulator writes.
"""

from __future__ import annotations

import numpy as np


def ar1(rng: np.random.Generator, shape: tuple[int, int], phi: float | np.ndarray) -> np.ndarray:
    """Unit-variance stationary AR(1) paths along axis 0: x_t = phi x_{t-1} + sqrt(1-phi^2) e_t.

    Computed with a log-depth prefix scan (x_t = sum_j phi^j e_{t-j}, doubling the horizon each
    pass) instead of a Python loop over time steps; the first row is drawn from the stationary
    distribution so the process has no warm-up transient.
    """
    phi_arr = np.broadcast_to(np.asarray(phi, dtype=np.float64), (shape[1],)).copy()
    if np.any((phi_arr < 0) | (phi_arr >= 1)):
        raise ValueError("phi must be in [0, 1)")
    x = rng.standard_normal(shape) * np.sqrt(1.0 - phi_arr**2)
    x[0] /= np.sqrt(1.0 - phi_arr**2)  # stationary start
    coef, shift = phi_arr, 1
    while shift < shape[0]:
        x[shift:] += coef * x[:-shift]  # right-hand side is evaluated before the update
        coef = coef * coef
        shift *= 2
    return x


def diurnal(epoch: np.ndarray, utc_offset_h: np.ndarray, peak_hour: float = 15.0) -> np.ndarray:
    """Daily load cycle in [-1, 1], peaking at `peak_hour` local time. (T,) x (L,) -> (T, L)."""
    local_h = (epoch[:, None] / 3600.0 + utc_offset_h[None, :]) % 24.0
    return np.cos(2.0 * np.pi * (local_h - peak_hour) / 24.0)


def smooth_bump(t: np.ndarray, start: float, end: float, ramp: float) -> np.ndarray:
    """0 -> 1 -> 0 envelope with raised-cosine ramps of `ramp` steps inside [start, end].

    Congestion builds up and drains over minutes; a smooth envelope keeps it visible (and hence
    forecastable) in the preceding steps rather than a jump out of nowhere.
    """
    ramp = max(float(ramp), 1.0)
    up = np.clip((t - start) / ramp, 0.0, 1.0)
    down = np.clip((end - t) / ramp, 0.0, 1.0)
    return 0.5 - 0.5 * np.cos(np.pi * np.minimum(up, down))


def smooth_min(*values: np.ndarray, sharpness: float = 8.0) -> np.ndarray:
    """A differentiable min (generalized mean with a large negative power).

    Throughput is limited by several ceilings at once (demand, free capacity, window/RTT); a hard
    min would put kinks into the series that no forecaster sees coming.
    """
    stacked = np.stack([np.maximum(v, 1e-9) for v in np.broadcast_arrays(*values)])
    return np.sum(stacked ** (-sharpness), axis=0) ** (-1.0 / sharpness)


def log_uniform(rng: np.random.Generator, low: float, high: float, size: int) -> np.ndarray:
    """Samples spread evenly in orders of magnitude between `low` and `high`."""
    return np.exp(rng.uniform(np.log(low), np.log(high), size))


def lognormal_noise(rng: np.random.Generator, shape: tuple[int, ...], sigma: float) -> np.ndarray:
    """Multiplicative noise with median 1: relative error, the kind MAPE measures."""
    return np.exp(sigma * rng.standard_normal(shape))
