"""README honesty: it opens with the two commands, and its tables are what the code produced."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dwcp_training.readme_tables import read_section, render_sections

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
REPORT = ROOT / "docs" / "results" / "training_report.json"


@pytest.fixture(scope="module")
def default_data(tmp_path_factory) -> Path:
    from dwcp_training.simulator import generate

    out = tmp_path_factory.mktemp("default_data")
    generate(out)
    return out


def test_readme_opens_with_make_run_and_make_test():
    head = README.read_text().splitlines()[:6]
    assert any(line.startswith("make run") for line in head)
    assert any(line.startswith("make test") for line in head)


def test_readme_tables_match_the_committed_run_and_the_simulator(default_data):
    report = json.loads(REPORT.read_text())
    text = README.read_text()
    for name, body in render_sections(report, default_data).items():
        assert read_section(text, name).strip() == body.strip(), (
            f"README section {name!r} is stale: run `make readme`"
        )
