"""Compile the pipeline (per profile) and the standalone components into checked-in YAML.

`python -m pipelines.compile` (or `dwcp pipeline compile`) rewrites them; the tests recompile
into a temporary folder and fail when a checked-in file differs, so the YAML in the repository
is always what the code says.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

import components
from pipelines.dwcp_pipeline import build_pipeline
from pipelines.profiles import Profile, available, load_profile

COMPILED_DIR = Path(__file__).with_name("compiled")
#: The profile whose image the standalone component YAMLs name.
COMPONENT_PROFILE = "cpu"


def pipeline_path(profile: str, directory: Path = COMPILED_DIR) -> Path:
    return directory / f"dwcp_training.{profile}.yaml"


def compile_pipeline(profile: Profile, output: Path) -> Path:
    from kfp import compiler

    output.parent.mkdir(parents=True, exist_ok=True)
    compiler.Compiler().compile(build_pipeline(profile), str(output))
    return output


def compile_everything(
    pipeline_dir: Path = COMPILED_DIR, component_dir: Path = components.COMPILED_DIR
) -> list[Path]:
    """Every checked-in YAML, from the profiles as they are in profiles.yaml (no overrides)."""
    paths = [compile_pipeline(load_profile(p), pipeline_path(p, pipeline_dir)) for p in available()]
    return paths + components.compile_all(load_profile(COMPONENT_PROFILE).image, component_dir)


def main(argv: Sequence[str] | None = None) -> int:
    for path in compile_everything():
        print(path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
