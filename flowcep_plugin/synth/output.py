"""Write a scenario to a file chosen by extension, with its ``FILE.labels.json`` beside it."""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import ConfigError
from .model import Scenario

__all__ = ["FORMATS", "labels_path", "write_labels", "write_scenario", "format_for"]

FORMATS = ("ipfix", "pcap", "jsonl")
_EXT = {".ipfix": "ipfix", ".pcap": "pcap", ".jsonl": "jsonl", ".json": "jsonl"}


def labels_path(out: str | Path) -> Path:
    """``demo.ipfix`` -> ``demo.labels.json`` (same folder, same stem)."""
    p = Path(out)
    return p.with_name(p.stem + ".labels.json") if p.suffix else p.with_name(p.name + ".labels.json")


def format_for(out: str | Path, fmt: str | None = None) -> str:
    if fmt:
        if fmt not in FORMATS:
            raise ConfigError(f"unknown output format {fmt!r}; choose one of: {', '.join(FORMATS)}")
        return fmt
    ext = Path(out).suffix.lower()
    if ext not in _EXT:
        raise ConfigError(f"cannot tell the format of {str(out)!r} from its extension; "
                          "use .ipfix, .pcap or .jsonl (or --format)")
    return _EXT[ext]


def labels_json(scenario: Scenario) -> str:
    """The label document as text: stable, indented, newline-terminated."""
    return json.dumps(scenario.labels_document(), indent=1) + "\n"


def write_labels(scenario: Scenario, path: str | Path) -> None:
    Path(path).write_text(labels_json(scenario), encoding="utf-8")


def write_scenario(scenario: Scenario, out: str | Path, fmt: str | None = None,
                   http_elements: str = "flowmon", max_segments: int = 64) -> tuple[int, Path]:
    """Write flows (or packets) and labels; returns (records or packets written, labels path)."""
    kind = format_for(out, fmt)
    out = Path(out)
    try:
        if kind == "ipfix":
            from .flows import write_ipfix

            with open(out, "wb") as fp:
                n = write_ipfix(scenario, fp, http_elements)
        elif kind == "pcap":
            from .pcap_out import write_pcap

            n = write_pcap(scenario, str(out), max_segments)
        else:
            from .flows import write_jsonl

            with open(out, "w", encoding="utf-8") as tf:
                n = write_jsonl(scenario, tf)
    except OSError as e:
        raise ConfigError(f"cannot write {str(out)!r}: {e.strerror or e}") from None
    lp = labels_path(out)
    write_labels(scenario, lp)
    return n, lp
