"""Alert search for ``flowcep alerts search``: KQL against Elasticsearch or a local JSONL file.

Both paths parse the query once (:mod:`kql`) and use the alert mapping's field types, so
``source.ip:10.0.0.0/8`` is a CIDR match in both. The local path keeps only the newest
revision of each ``flowcep.alert_id`` (what the cluster holds after updates), so the two
answer alike for the same alerts.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

import orjson

from ..config import parse_duration
from ..errors import ConfigError, InputError
from . import kql, templates

__all__ = ["alert_types", "search_file", "search_es", "build_es_query", "since_bound", "format_table",
           "DEFAULT_INDEX"]

DEFAULT_INDEX = "logs-flowcep.alert-*"


@lru_cache(maxsize=1)
def alert_types() -> dict[str, str]:
    """Field -> mapping type, from the alert mapping (itself derived from the alert schema)."""
    return dict(templates.iter_fields(templates.alert_mapping()))


def since_bound(since: str | float | None, now: datetime | None = None) -> datetime | None:
    """``"24h"``, ``"30 min"``, seconds, or an ISO timestamp -> the earliest @timestamp wanted."""
    if since is None or since == "":
        return None
    now = now or datetime.now(UTC)
    if isinstance(since, str) and ("T" in since or since.count("-") >= 2):
        return kql.parse_time(since)
    try:
        return now - timedelta(seconds=parse_duration(since))
    except ValueError as e:
        raise ConfigError(f"--since: {e}") from None


def _query(text: str) -> kql.Node | None:
    return None if text.strip() in ("", "*") else kql.parse(text)


def _iter_file(path: str) -> Iterator[tuple[int, dict[str, Any]]]:
    try:
        f = open(path, "rb")  # noqa: SIM115 - closed below; iterated lazily
    except FileNotFoundError:
        raise InputError(f"{path}: no such alert file (run 'flowcep demo' or 'flowcep run --output "
                         f"jsonl:{path}', or search a cluster with --es URL)") from None
    except OSError as e:
        raise InputError(f"{path}: cannot read: {e.strerror}") from None
    with f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                doc = orjson.loads(line)
            except orjson.JSONDecodeError as e:
                raise InputError(f"{path}:{n}: not JSON ({e})") from None
            if isinstance(doc, dict):
                yield n, doc


def _revision(doc: Mapping[str, Any]) -> int:
    fc = doc.get("flowcep")
    rev = fc.get("revision") if isinstance(fc, Mapping) else None
    return rev if isinstance(rev, int) else 1


def search_file(path: str, query: str, *, since: datetime | None = None, kinds: tuple[str, ...] = ("alert",),
                limit: int | None = None, now: datetime | None = None) -> list[dict[str, Any]]:
    """Matching alerts from a JSONL file, newest first."""
    node = _query(query)
    pred = kql.compile_predicate(node, alert_types(), now) if node is not None else None
    latest: dict[str, tuple[int, int, dict[str, Any]]] = {}
    for n, doc in _iter_file(path):
        ev = doc.get("event")
        if not isinstance(ev, Mapping) or ev.get("kind") not in kinds:
            continue  # flows and other lines in the same file
        fc = doc.get("flowcep")
        key = fc.get("alert_id") if isinstance(fc, Mapping) else None
        key = str(key) if key else f"line-{n}"
        rev = _revision(doc)
        have = latest.get(key)
        if have is None or rev >= have[0]:
            latest[key] = (rev, n, doc)
    out = []
    for _rev, _n, doc in latest.values():
        if since is not None:
            try:
                ts = kql.parse_time(str(doc.get("@timestamp", "")))
            except kql.KQLError:
                continue
            if ts < since:
                continue
        if pred is None or pred(doc):
            out.append(doc)
    out.sort(key=lambda d: str(d.get("@timestamp", "")), reverse=True)
    return out[:limit] if limit is not None else out


def build_es_query(query: str, *, since: datetime | None = None, kinds: tuple[str, ...] = ("alert",),
                   now: datetime | None = None) -> dict[str, Any]:
    node = _query(query)
    filters: list[dict[str, Any]] = [{"terms": {"event.kind": list(kinds)}}]
    if node is not None:
        filters.append(kql.to_dsl(node, alert_types(), now))
    if since is not None:
        filters.append({"range": {"@timestamp": {"gte": kql.iso(since)}}})
    return {"bool": {"filter": filters}}


def search_es(client: Any, query: str, *, index: str = DEFAULT_INDEX, since: datetime | None = None,
              kinds: tuple[str, ...] = ("alert",), limit: int = 100, now: datetime | None = None) -> list[dict[str, Any]]:
    """Matching alerts from Elasticsearch, newest first (``_source`` of each hit)."""
    from elasticsearch import ApiError, NotFoundError, TransportError

    body = build_es_query(query, since=since, kinds=kinds, now=now)
    try:
        resp = client.search(index=index, query=body, size=limit, sort=[{"@timestamp": {"order": "desc"}}],
                             ignore_unavailable=True, allow_no_indices=True)
    except NotFoundError:
        return []
    except ApiError as e:
        raise ConfigError(f"elasticsearch: search refused ({e.meta.status}): {str(e)[:200]}") from None
    except TransportError as e:
        raise ConfigError(f"elasticsearch: cannot connect: {str(e)[:200]}") from None
    return [h["_source"] for h in resp["hits"]["hits"]]


_SEVERITY = {21: "low", 47: "medium", 73: "high", 99: "critical"}


def _cell(value: Any) -> str:
    if isinstance(value, list):
        return value[0] + (f" +{len(value) - 1}" if len(value) > 1 else "") if value else ""
    return "" if value is None else str(value)


def format_table(docs: list[dict[str, Any]], width: int = 160) -> str:
    """A fixed-column table: time, severity, rule, source, destination, message."""
    header = ("TIME", "SEVERITY", "RULE", "SOURCE", "DESTINATION", "MESSAGE")
    rows = []
    for d in docs:
        ev = d.get("event") or {}
        fc = d.get("flowcep") or {}
        dst = d.get("destination") or {}
        dest = _cell(dst.get("ip"))
        if dst.get("port") is not None and dest:
            dest += f":{dst['port']}"
        rule = (d.get("rule") or {}).get("id", "")
        if fc.get("revision", 1) > 1:
            rule += f" (rev {fc['revision']})"
        rows.append((
            str(d.get("@timestamp", "")).replace("T", " ").rstrip("Z")[:23],
            str(fc.get("severity") or _SEVERITY.get(int(ev.get("severity") or 0),
                                                    "metric" if ev.get("kind") == "metric" else "")),
            rule,
            _cell((d.get("source") or {}).get("ip")),
            dest,
            str(d.get("message", "")),
        ))
    widths = [max([len(header[i])] + [len(r[i]) for r in rows]) for i in range(5)]
    lines = []
    for r in [header, *rows]:
        line = "  ".join(str(c).ljust(w) for c, w in zip(r[:5], widths, strict=True)) + "  " + r[5]
        lines.append(line[:width].rstrip())
    return "\n".join(lines)
