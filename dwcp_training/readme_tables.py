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


def cpu_model(default: str = "unknown CPU") -> str:
    """The CPU's model name from /proc/cpuinfo (README and bench name their machine with it)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return default


def machine_line() -> str:
    """Which machine measured the numbers (absolute times mean nothing without it)."""
    import os
    import platform

    return f"{os.cpu_count()} cores, {cpu_model()}, {platform.system()} {platform.machine()}"


def render_sections(training_report: dict, data_dir: Path) -> dict[str, str]:
    """README sections from a training report and the data it was trained on."""
    from dwcp_training.difficulty import difficulty_table, to_markdown
    from dwcp_training.progress import format_table
    from dwcp_training.reports import targets_table

    train = next(iter(sorted(data_dir.glob("dwcp_metrics.*"))))
    test = next(iter(sorted(data_dir.glob("dwcp_test.*"))))
    models = training_report["models"]
    timing = format_table(
        ["model", "training time (s)", "epochs", "ONNX size (MB)", "deployment ready"],
        [
            [
                name,
                f"{r['training_time_seconds']:.1f}",
                r["training"]["epochs_run"] if r["training"]["epochs_run"] is not None else "-",
                f"{r['model_size_mb']:.3f}",
                "yes" if r["deployment_ready"] else "no",
            ]
            for name, r in models.items()
        ],
    )
    total = training_report["total_training_time_seconds"]
    return {
        "baselines": to_markdown(difficulty_table(train, test)),
        "targets": targets_table(models),
        "timing": f"{timing}\n\nTotal `dwcp train` wall time {total:.0f} s on {machine_line()}.",
    }


def main(argv: list[str] | None = None) -> int:
    """`python -m dwcp_training.readme_tables REPORT DATA_DIR README`: rewrite the tables."""
    import json
    import sys

    args = sys.argv[1:] if argv is None else argv
    if len(args) != 3:
        print(
            "usage: python -m dwcp_training.readme_tables REPORT DATA_DIR README", file=sys.stderr
        )
        return 2
    report = json.loads(Path(args[0]).read_text())
    update_sections(Path(args[2]), render_sections(report, Path(args[1])))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
