"""Re-send documents from the Elasticsearch output's dead-letter file.

Each line of the file is ``{"time", "index", "id", "revision", "kind", "status", "error",
"document"}``. Replay goes through the same :class:`Sender` as the output, so the same
create/409/revision rules apply and a document already indexed is a duplicate, not a second
copy. Lines that fail again are written back (atomically) with their new error; lines that
cannot be parsed are kept verbatim and reported with their line number.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from typing import Any

import orjson
from elasticsearch import Elasticsearch

from ..errors import InputError

__all__ = ["ReplayReport", "replay", "read_dead_letters"]


@dataclass
class ReplayReport:
    sent: int = 0
    duplicates: int = 0
    failed: int = 0
    unreadable: list[str] = field(default_factory=list)


def read_dead_letters(path: str) -> tuple[list[dict[str, Any]], list[tuple[int, bytes]]]:
    """(parsed entries, [(line number, raw line)] that could not be parsed)."""
    try:
        with open(path, "rb") as f:
            raw_lines = f.read().splitlines()
    except OSError as e:
        raise InputError(f"{path}: cannot read dead-letter file: {e.strerror}") from None
    entries: list[dict[str, Any]] = []
    bad: list[tuple[int, bytes]] = []
    for n, line in enumerate(raw_lines, 1):
        if not line.strip():
            continue
        try:
            entry = orjson.loads(line)
        except orjson.JSONDecodeError:
            bad.append((n, line))
            continue
        if not isinstance(entry, dict) or not isinstance(entry.get("document"), dict) or not entry.get("index"):
            bad.append((n, line))
            continue
        entries.append(entry)
    return entries, bad


def replay(path: str, client: Elasticsearch, stats: Any = None, *, max_retries: int = 3,
           backoff_initial: float = 0.5, backoff_max: float = 10.0) -> ReplayReport:
    """Send every dead letter in ``path`` again; rewrite the file with what still fails."""
    from ..outputs.elasticsearch import Action, Sender

    entries, bad = read_dead_letters(path)
    report = ReplayReport(unreadable=[f"{path}:{n}: not a dead-letter record" for n, _ in bad])
    actions = [
        Action(str(e["index"]), e.get("id"), dict(e["document"]), int(e.get("revision") or 1),
               kind=str(e.get("kind") or "alert"),
               extra={"pipeline": str(e["pipeline"])} if e.get("pipeline") else {})
        for e in entries
    ]
    sender = Sender(client, max_retries=max_retries, backoff_initial=backoff_initial,
                    backoff_max=backoff_max, dead_letter=None, stats=stats)
    result = sender.send(actions) if actions else None
    keep: list[bytes] = [line for _, line in bad]
    if result is not None:
        report.sent = result.created + result.updated
        report.duplicates = result.duplicates
        report.failed = len(result.failed)
        for action, status, error in result.failed:
            keep.append(orjson.dumps({"time": None, "index": action.stream, "id": action.id,
                                      "revision": action.revision, "kind": action.kind, "status": status,
                                      "error": error, "document": action.document()}, default=str))
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".dead-letter-", dir=directory)
    with os.fdopen(fd, "wb") as f:
        for line in keep:
            f.write(line + b"\n")
    os.replace(tmp, path)
    return report
