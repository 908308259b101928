"""KFP v2 components of the DWCP training pipeline, one thin typed wrapper per step.

Each component is a plain function in this package whose body imports `dwcp_training` and
calls one library function; `build(image)` turns them into lightweight components on the
project's own image (`install_kfp_package=False`, no `packages_to_install`): the image already
holds the library and KFP, and kfp.local's SubprocessRunner runs the very same components in
the developer's virtual environment without installing anything into it.

`compiled/<name>.yaml` are the standalone component files, checked in for other pipelines to
load with `kfp.components.load_component_from_file`; tests fail when they are stale.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from components.evaluate import evaluate
from components.push import push
from components.train import train_bandwidth, train_compression, train_latency, train_reliability
from components.validate import validate
from components.window import window

COMPILED_DIR = Path(__file__).with_name("compiled")

#: Component name -> function, in pipeline order.
FUNCTIONS: dict[str, Callable] = {
    "validate": validate,
    "window": window,
    "train_bandwidth": train_bandwidth,
    "train_compression": train_compression,
    "train_reliability": train_reliability,
    "train_latency": train_latency,
    "evaluate": evaluate,
    "push": push,
}


def build(image: str) -> dict:
    """Every component, on `image`."""
    from kfp import dsl

    return {
        name: dsl.component(func, base_image=image, install_kfp_package=False)
        for name, func in FUNCTIONS.items()
    }


def compiled_path(name: str, directory: Path = COMPILED_DIR) -> Path:
    return directory / f"{name}.yaml"


def compile_all(image: str, directory: Path = COMPILED_DIR) -> list[Path]:
    """Write every component as a standalone YAML into `directory`."""
    from kfp import compiler

    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, component in build(image).items():
        path = compiled_path(name, directory)
        compiler.Compiler().compile(component, str(path))
        paths.append(path)
    return paths


def load(name: str, directory: Path = COMPILED_DIR):
    """A checked-in component, as another pipeline would load it."""
    from kfp import components

    return components.load_component_from_file(str(compiled_path(name, directory)))
