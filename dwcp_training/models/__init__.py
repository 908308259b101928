"""The model registry: name -> class. Adding a model = one module + one line here.

Importing this package does not import TensorFlow or scikit-learn (model modules import them
inside methods), so the window step can read every model's inputs from here cheaply.
"""

from __future__ import annotations

from dwcp_training.features import ModelInputs
from dwcp_training.models.bandwidth import BandwidthModel
from dwcp_training.models.base import DwcpModel, FitSummary, Target, TrainSettings
from dwcp_training.models.compression import CompressionModel
from dwcp_training.models.latency import LatencyModel
from dwcp_training.models.reliability import ReliabilityModel

REGISTRY: dict[str, type[DwcpModel]] = {
    cls.inputs.name: cls
    for cls in (BandwidthModel, CompressionModel, ReliabilityModel, LatencyModel)
}
MODEL_INPUTS: dict[str, ModelInputs] = {name: cls.inputs for name, cls in REGISTRY.items()}

__all__ = [
    "MODEL_INPUTS",
    "REGISTRY",
    "DwcpModel",
    "FitSummary",
    "Target",
    "TrainSettings",
    "model_class",
]


def model_class(name: str) -> type[DwcpModel]:
    """The class registered as `name`; a ValueError lists the known names."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; known models: {', '.join(REGISTRY)}") from None
