"""Reading an alerts file (ECS JSON lines written by the jsonl output) for the viewers.

The file may be huge and may come from elsewhere: every line is parsed on its own, a corrupt
line is a one-line error naming the file and line, and nothing is executed or trusted.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..errors import ConfigError

__all__ = ["AlertFile", "read_alert_file"]


class AlertFile:
    """The documents of one alerts file, split by ``event.kind``."""

    def __init__(self, path: Path, alerts: list[dict[str, Any]], metrics: list[dict[str, Any]]) -> None:
        self.path = path
        self.alerts = alerts
        self.metrics = metrics


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    try:
        with path.open("r", encoding="utf-8") as fh:
            yield from enumerate(fh, start=1)
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such alerts file; write one with "
                          "'flowcep run ... --output jsonl:PATH' or 'flowcep demo'") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not a text file of JSON lines (byte {exc.start}: "
                          "invalid UTF-8); give the file the jsonl output wrote") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None


def read_alert_file(path: str | Path) -> AlertFile:
    """Parse an alerts file; raises ConfigError (one line, with file and line) when corrupt or
    when it holds no alert and no metric document."""
    p = Path(path)
    alerts: list[dict[str, Any]] = []
    metrics: list[dict[str, Any]] = []
    for lineno, line in _lines(p):
        if not line.strip():
            continue
        try:
            doc = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{p}:{lineno}: not a JSON document ({exc.msg} at column {exc.colno}); "
                              "is this the file the jsonl output wrote?") from None
        if not isinstance(doc, dict):
            raise ConfigError(f"{p}:{lineno}: expected a JSON object, found {type(doc).__name__}")
        kind = (doc.get("event") or {}).get("kind") if isinstance(doc.get("event"), dict) else None
        if kind == "metric":
            metrics.append(doc)
        elif kind == "alert":
            alerts.append(doc)
        # flow documents (event.kind "event") are not what the report is about: skipped
    if not alerts and not metrics:
        raise ConfigError(f"{p}: no alert or metric documents in the file (empty, or only flows); "
                          "nothing to report")
    return AlertFile(p, alerts, metrics)
