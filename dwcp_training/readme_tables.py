"""Tables in README.md that the code produces, never typed by hand.

A README section between `<!-- BEGIN generated:NAME -->` and `<!-- END generated:NAME -->` is
replaced by `update_sections`; `make readme` regenerates them from a real run, and a test fails
when the committed tables no longer match what the code measures.
"""

from __future__ import annotations

import re
from pathlib import Path

from dwcp_training.atomic import write_text


def _pattern(name: str) -> re.Pattern[str]:
    tag = re.escape(name)
    return re.compile(
        rf"(<!-- BEGIN generated:{tag} -->\n)(.*?)(<!-- END generated:{tag} -->)", re.S
    )


def read_section(text: str, name: str) -> str:
    """The generated text of section `name` (without the markers)."""
    match = _pattern(name).search(text)
    if match is None:
        raise KeyError(f"README has no generated section {name!r}")
    return match.group(2)


def update_sections(readme: Path, sections: dict[str, str]) -> None:
    """Replace each named section's body with the given text, atomically."""
    text = readme.read_text()
    for name, body in sections.items():
        pattern = _pattern(name)
        if not pattern.search(text):
            raise KeyError(f"{readme} has no generated section {name!r}")
        body = body.rstrip("\n") + "\n"
        text = pattern.sub(lambda m, b=body: m.group(1) + b + m.group(3), text)
    write_text(readme, text)
