"""Keras layers that carry preprocessing inside the exported model.

The Go side sends raw features, so every transform the network needs (log scaling,
standardization with train-split statistics, one-hot encoding of categorical indices) must be
part of the graph. These layers keep their constants in `get_config`, not in weights that an
adapted `Normalization` layer would turn into extra ONNX inputs, and use only ops that tf2onnx
maps at opset 15 (Log and Exp, not Log1p/Expm1).

Importing this module imports Keras; only training and export code paths do.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
import numpy as np
from keras import layers, ops

PACKAGE = "dwcp"


def log1p(x):
    """log(1 + x) for x >= 0 with ops tf2onnx exports (there is no ONNX Log1p)."""
    return ops.log(ops.maximum(x, 0.0) + 1.0)


def expm1(x):
    """exp(x) - 1, the inverse of `log1p`."""
    return ops.exp(x) - 1.0


@keras.saving.register_keras_serializable(package=PACKAGE)
class FeatureEncoder(layers.Layer):
    """Raw features -> model space: log1p where asked, standardize, one-hot categoricals.

    Works on the last axis, so it serves row inputs (batch, f) and sequences (batch, t, f).
    `mean`/`std` are statistics of the transformed numeric features on the train split.
    Categorical features (their schema index as a float) are replaced by `cardinality` one-hot
    columns appended at the end.
    """

    def __init__(
        self,
        log_mask: Sequence[bool],
        mean: Sequence[float],
        std: Sequence[float],
        categorical: dict[str, int] | None = None,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self.log_mask = [bool(v) for v in log_mask]
        self.mean = [float(v) for v in mean]
        self.std = [float(v) if v > 1e-12 else 1.0 for v in std]
        # {"<feature position>": cardinality}; string keys keep the config JSON-friendly.
        self.categorical = {str(k): int(v) for k, v in (categorical or {}).items()}

    def call(self, x):
        positions = {int(k): n for k, n in self.categorical.items()}
        numeric = [i for i in range(len(self.log_mask)) if i not in positions]
        parts = []
        for i in numeric:
            column = x[..., i : i + 1]
            if self.log_mask[i]:
                column = log1p(column)
            parts.append((column - self.mean[i]) / self.std[i])
        for i, n in sorted(positions.items()):
            index = ops.cast(ops.round(x[..., i]), "int32")
            parts.append(ops.one_hot(index, n, dtype=x.dtype))
        return ops.concatenate(parts, axis=-1)

    def compute_output_shape(self, input_shape):
        width = len(self.log_mask) - len(self.categorical) + sum(self.categorical.values())
        return (*input_shape[:-1], width)

    def get_config(self):
        return {
            **super().get_config(),
            "log_mask": self.log_mask,
            "mean": self.mean,
            "std": self.std,
            "categorical": self.categorical,
        }


@keras.saving.register_keras_serializable(package=PACKAGE)
class LastStepExp(layers.Layer):
    """[raw window, log-delta] -> expm1(log1p(last value of feature `index`) + log-delta).

    Turns a network that predicts the relative change of a positive quantity back into the
    quantity itself, inside the graph.
    """

    def __init__(self, index: int, **kwargs) -> None:
        super().__init__(**kwargs)
        self.index = int(index)

    def call(self, inputs):
        raw, delta = inputs
        return expm1(log1p(raw[:, -1, self.index]) + delta[:, 0])

    def compute_output_shape(self, input_shapes):
        return (input_shapes[0][0],)

    def get_config(self):
        return {**super().get_config(), "index": self.index}


@keras.saving.register_keras_serializable(package=PACKAGE)
class ArgMax(layers.Layer):
    """Index of the largest value on the last axis, as int64 (the level the Go side gets).

    On the TensorFlow backend this calls `tf.argmax` directly: Keras' `ops.argmax` wraps it in
    a Bitcast (to order -0.0 before +0.0) that has no ONNX equivalent, and softmax outputs are
    never negative zero anyway.
    """

    def call(self, x):
        if keras.backend.backend() == "tensorflow":
            import tensorflow as tf

            return tf.argmax(x, axis=-1, output_type=tf.int64)
        return ops.cast(ops.argmax(x, axis=-1), "int64")

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1])

    def compute_output_spec(self, x):
        return keras.KerasTensor(x.shape[:-1], dtype="int64")


@keras.saving.register_keras_serializable(package=PACKAGE)
class WindowCentre(layers.Layer):
    """(batch, t) raw positive samples -> (batch, t, 1): log1p, minus the window mean, / scale."""

    def __init__(self, scale: float, **kwargs) -> None:
        super().__init__(**kwargs)
        self.scale = float(scale)

    def call(self, x):
        z = log1p(x)
        z = z - ops.mean(z, axis=-1, keepdims=True)
        return ops.expand_dims(z / self.scale, -1)

    def compute_output_shape(self, input_shape):
        return (*input_shape, 1)

    def get_config(self):
        return {**super().get_config(), "scale": self.scale}


@keras.saving.register_keras_serializable(package=PACKAGE)
class MeanSquare(layers.Layer):
    """Mean of squares over every axis but the batch: a per-sample reconstruction error."""

    def call(self, x):
        return ops.mean(ops.square(x), axis=tuple(range(1, len(x.shape))))

    def compute_output_shape(self, input_shape):
        return (input_shape[0],)


@keras.saving.register_keras_serializable(package=PACKAGE)
class AtLeast(layers.Layer):
    """score >= threshold, as a bool tensor; the threshold is part of the saved model."""

    def __init__(self, threshold: float, **kwargs) -> None:
        super().__init__(**kwargs)
        self.threshold = float(threshold)

    def call(self, x):
        return ops.greater_equal(x, self.threshold)

    def compute_output_spec(self, x):
        return keras.KerasTensor(x.shape, dtype="bool")

    def get_config(self):
        return {**super().get_config(), "threshold": self.threshold}


def fit_encoder_stats(
    x: np.ndarray, log_mask: Sequence[bool], categorical: Sequence[int]
) -> tuple[list[float], list[float]]:
    """Mean and std of the transformed features over all rows (and steps) of `x`.

    Categorical positions get (0, 1): they are one-hot encoded, not standardized.
    """
    flat = np.asarray(x, dtype=np.float64).reshape(-1, x.shape[-1])
    mean, std = [], []
    for i in range(flat.shape[1]):
        if i in categorical:
            mean.append(0.0)
            std.append(1.0)
            continue
        column = np.log1p(np.maximum(flat[:, i], 0.0)) if log_mask[i] else flat[:, i]
        mean.append(float(column.mean()))
        std.append(float(column.std()))
    return mean, std
