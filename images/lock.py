"""Turn a `pip install --dry-run --report` JSON into images/requirements.txt (see its header)."""

import json
import sys
from pathlib import Path

LOCK = Path(__file__).with_name("requirements.txt")


def main(report_path: str) -> None:
    report = json.loads(Path(report_path).read_text())
    pins = sorted(
        (item["metadata"]["name"].lower().replace("_", "-"), item["metadata"]["version"])
        for item in report["install"]
        if item["metadata"]["name"].lower() != "dwcp-training"
    )
    header = [line for line in LOCK.read_text().splitlines() if line.startswith("#")]
    print("\n".join([*header, *(f"{name}=={version}" for name, version in pins)]))


if __name__ == "__main__":
    main(sys.argv[1])
