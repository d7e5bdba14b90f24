"""Regenerate the bundled demo sample: ``python -m flowcep_plugin.synth.build_demo [DIR]``.

``flowcep demo`` replays ``flowcep_plugin/data/demo.ipfix``; its ground truth is
``demo.labels.json`` beside it. Both are the ``mixed`` scenario (every attack) over a light
background, seed 1, ten minutes from 2024-04-12T10:00:00Z: about 12,000 flow records,
about 540 kB. A test checks the bundled files equal a fresh generation, so change the
generator and this script together and commit the regenerated files.
"""

from __future__ import annotations

import io
import sys
from pathlib import Path
from typing import Any

from .flows import write_ipfix
from .model import DEFAULT_START_MS
from .output import labels_json
from .scenarios import generate

__all__ = ["DEMO", "DATA_DIR", "demo_files", "build"]

#: The demo's generation parameters.
DEMO: dict[str, Any] = {"name": "mixed", "seed": 1, "duration_s": 600, "start_ms": DEFAULT_START_MS,
                        "clients": 4, "busy": True}
DATA_DIR = Path(__file__).resolve().parents[1] / "data"


def demo_files() -> tuple[bytes, str]:
    """(IPFIX bytes, labels JSON text) of the demo, generated now."""
    scenario = generate(DEMO["name"], DEMO["seed"], DEMO["duration_s"], DEMO["start_ms"],
                        clients=DEMO["clients"], busy=DEMO["busy"])
    buf = io.BytesIO()
    write_ipfix(scenario, buf)
    return buf.getvalue(), labels_json(scenario)


def build(out_dir: Path = DATA_DIR) -> tuple[Path, Path]:
    """Write ``demo.ipfix`` and ``demo.labels.json`` into ``out_dir``."""
    data, labels = demo_files()
    out_dir.mkdir(parents=True, exist_ok=True)
    ipfix, lab = out_dir / "demo.ipfix", out_dir / "demo.labels.json"
    ipfix.write_bytes(data)
    lab.write_text(labels, encoding="utf-8")
    return ipfix, lab


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    ipfix, lab = build(Path(args[0]) if args else DATA_DIR)
    print(f"{ipfix} ({ipfix.stat().st_size:,} bytes), {lab}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
