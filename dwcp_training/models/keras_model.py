"""What the three Keras models share: hyperparameters, the resumable loop, saving, export."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from dwcp_training.models.base import DwcpModel, FitSummary


class KerasDwcpModel(DwcpModel):
    """A DwcpModel whose exported graph is a Keras model from raw input to named outputs."""

    native_suffix = ".keras"
    #: Model defaults; `--epochs` / batch size flags override the matching entries.
    defaults: ClassVar[dict[str, Any]]

    def __init__(self, settings, window_meta) -> None:
        super().__init__(settings, window_meta)
        self.hp = dict(self.defaults)
        if settings.epochs is not None:
            self.hp["epochs"] = settings.epochs
        if settings.batch_size is not None:
            self.hp["batch_size"] = settings.batch_size
        self.model = None  # raw input -> contract outputs (the exported graph)

    def hyperparameters(self) -> dict[str, Any]:
        return {**self.hp, "seq_len": self.seq_len, "seed": self.settings.seed}

    def optimizer(self, n_train: int):
        """Adam at `learning_rate`, cosine-decayed over the epoch budget when `lr_schedule` says.

        The schedule is a function of the optimizer's step counter, which the checkpoint saves,
        so a resumed run continues on the same curve.
        """
        import keras

        rate = self.hp["learning_rate"]
        if self.hp.get("lr_schedule") == "cosine":
            steps = self.hp["epochs"] * -(-n_train // self.hp["batch_size"])
            rate = keras.optimizers.schedules.CosineDecay(rate, decay_steps=steps, alpha=0.05)
        return keras.optimizers.Adam(rate)

    def fit_network(
        self,
        build: Callable[[], Any],
        train: tuple[np.ndarray, np.ndarray],
        validation: tuple[np.ndarray, np.ndarray],
        checkpoint_dir: Path,
        log: Callable[[str], None],
    ) -> tuple[Any, FitSummary]:
        """Run the resumable loop with this model's settings; returns (network, summary)."""
        from dwcp_training.models.keras_trainer import LoopConfig, fit_resumable

        loop = LoopConfig(
            epochs=self.hp["epochs"],
            batch_size=self.hp["batch_size"],
            patience=self.hp["patience"],
            seed=self.settings.seed,
            verbose=self.settings.verbose,
        )
        from dwcp_training.checkpoint_store import open_store

        uri = self.settings.checkpoint_uri
        store = open_store(f"{uri.rstrip('/')}/{self.name}/checkpoints") if uri else None
        if store is not None and store.pull(checkpoint_dir):
            log(f"pulled the checkpoint from {store.uri}")
        network, result = fit_resumable(
            build,
            train,
            validation,
            loop,
            checkpoint_dir,
            self.fingerprint(),
            log,
            after_epoch=store.push if store is not None else None,
        )
        summary = FitSummary(
            hyperparameters=self.hyperparameters(),
            epochs_run=result.epochs_run,
            best_epoch=result.best_epoch,
            resumed_from_epoch=result.resumed_from_epoch,
            history=result.history,
        )
        return network, summary

    def run_graph(self, x: np.ndarray) -> list[np.ndarray]:
        """The exported graph's outputs on raw `x`, in `outputs` order."""
        out = self.model.predict(np.asarray(x, np.float32), batch_size=4096, verbose=0)
        return list(out) if isinstance(out, list | tuple) else [out]

    def save_native(self, directory: Path) -> Path:
        path = directory / f"{self.name}.keras"
        tmp = directory / f"tmp-{self.name}.keras"  # Keras insists on the .keras suffix
        self.model.save(tmp)
        tmp.replace(path)
        return path

    def load_native(self, path: Path) -> None:
        import keras

        import dwcp_training.models.keras_layers  # noqa: F401 - registers the custom layers

        self.model = keras.saving.load_model(path)

    def export_onnx(self, path: Path) -> Path:
        from dwcp_training.models.onnx_export import export_keras_onnx

        return export_keras_onnx(
            self.model, path, self.onnx_input_name, self.sample_shape, self.outputs
        )
