"""How a model declares what it eats: feature order, target, and the shape of a sample.

Each model module declares its `ModelInputs` (the Go contract's feature order, from
MODEL_SPECS.md); the registry in `dwcp_training.models` collects them, and the window step builds
arrays in exactly that order.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ModelInputs:
    """Inputs and target of one model."""

    name: str
    features: tuple[str, ...]
    target: str
    # next_step: a window of `seq_len` rows predicts the target of the following row;
    # window_any: a window of `seq_len` rows is positive when any of its rows is;
    # row: one row, its own target.
    kind: str

    @property
    def n_features(self) -> int:
        return len(self.features)

    @property
    def is_sequence(self) -> bool:
        return self.kind != "row"

    def input_shape(self, seq_len: int | None) -> tuple[int, ...]:
        """Per-sample shape of the raw input the Go side sends.

        Sequence lengths are data settings (the schema's `sequence_length`), not code.
        """
        if self.kind == "next_step":
            return (int(seq_len or 0), self.n_features)
        if self.kind == "window_any":
            return (int(seq_len or 0),)
        return (self.n_features,)


SPLITS: tuple[str, ...] = ("train", "validation", "test")
