"""Alert and metric documents read back as events: what a level-2 monitor consumes.

A gateway-level ``flowcep run`` writes ECS alert and metric documents (``jsonl:``,
``kafka://``, Elasticsearch). A level-2 run (NetViewer's hierarchical monitor) reads them back
and correlates what several gateways reported. This module is the one conversion between the
two; every transport calls it:

    batches, errors = batches_from_documents(docs, source="alerts:gw1.jsonl")

``docs`` is a list of decoded JSON documents (dicts). The result is the batches
(:class:`~flowcep_plugin.records.FlowBatch`) of their events in input order, a new batch
whenever the event type changes, to be pushed into the clock in that order; and
``(index, message)`` for each document that could not be read. The transport names the
position (``file:line`` for files, ``topic/partition@offset`` for Kafka), counts it as
``malformed`` and goes on; the message is one line, never a traceback. The file input
(:mod:`.alertlines`) converts document by document with :func:`event_from_document`, to merge
several files by event time, and cuts batches with :func:`batches_from_events`; a Kafka input
calls :func:`batches_from_documents` on each poll's decoded messages.

Event types (EPL ``from Alert`` / ``from Metric``; the batch's ``stream``):

* ``Alert`` - ``event.kind: alert`` documents;
* ``Metric`` - ``event.kind: metric`` documents (``trafficstats-top-talkers``, ...).

Other documents (flows, options records) are not events of a level-2 monitor: they are left
out without an error (:class:`NotAnEvent` from :func:`event_from_document`), and the caller
counts them.

Fields keep their ECS names, flattened with dots: ``source.ip``, ``destination.ip``,
``rule.id``, ``observer.name``, ``flowcep.alert_id``, ``flowcep.key``,
``flowcep.metrics.by_bytes`` (lists stay lists). EPL reaches a dotted name in backticks
(```source.ip```). Times are epoch milliseconds, so windows and comparisons need no parsing:
``event.start``, ``event.end``, ``flowcep.window.start``, ``flowcep.window.end``,
``flowcep.first_seen``, ``flowcep.last_seen`` (``@timestamp`` stays the ISO text). Two columns
are added:

* ``flowcep.gateway`` - who reported the document: ``observer.name`` (what ``flowcep run
  --observer NAME`` writes), else ``observer.hostname``, else the first ``observer.ip``, else
  the ``source`` the caller gives (the file or topic: one file per gateway is then enough).
* ``flowcep.exporter`` - the same value: the event-time clock keeps one watermark per
  exporter, so a gateway that reports late holds the level-2 watermark back instead of having
  its alerts dropped as late.

**Event time is the end of the alert's evidence window** (``event.end``, else
``flowcep.window.end``, else ``@timestamp``). A gateway emits an alert when its window closes,
so the window end is the earliest time the alert can exist, and it is the same instant at
every gateway for the same traffic (epoch-aligned windows); ``@timestamp`` of a suppressed
alert's later revision is that of its first firing and would go backwards. A document
without any of the three is malformed.

Bounds: a document nested deeper than ``json_values.MAX_DEPTH``, with more than
:data:`MAX_FIELDS` leaves or a string field longer than :data:`MAX_TEXT` is malformed (a
hostile producer must not choose the level-2 monitor's memory); lists are kept up to
:data:`MAX_LIST` items.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from ..records import ALERT_STREAM, METRIC_STREAM, FlowBatch
from .json_values import flatten, parse_timestamp_ms

__all__ = ["event_from_json", "ALERT_STREAM", "METRIC_STREAM", "EVENT_STREAMS", "GATEWAY_COLUMN", "MAX_FIELDS", "MAX_LIST",
           "MAX_TEXT", "TIME_FIELDS", "NotAnEvent", "batches_from_documents", "batches_from_events",
           "event_from_document", "gateway_of"]

#: Event types by ``event.kind``: ``Alert`` (EPL ``from Alert``) and ``Metric``.
EVENT_STREAMS: dict[str, str] = {"alert": ALERT_STREAM, "metric": METRIC_STREAM}
#: Who reported the document (see the module docstring).
GATEWAY_COLUMN = "flowcep.gateway"
#: The event-time clock's per-exporter key (records.py's convention for JSON inputs).
EXPORTER_COLUMN = "flowcep.exporter"
#: Fields read as epoch milliseconds.
TIME_FIELDS = ("event.start", "event.end", "event.created", "flowcep.window.start", "flowcep.window.end",
               "flowcep.first_seen", "flowcep.last_seen")
#: Most leaves one document may have; a top-talkers metric with top_n = 1000 has about 8,000.
MAX_FIELDS = 20_000
#: Longest string value kept.
MAX_TEXT = 65_536
#: Most items of a list value kept (the rest are cut and the document is still read).
MAX_LIST = 10_000


class NotAnEvent(Exception):
    """A well-formed document that is not an alert or metric (a flow, an options record)."""


def _ms(value: Any, name: str) -> int:
    if isinstance(value, bool):
        raise ValueError(f"{name}: not a time: {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value)
    if isinstance(value, str):
        text = value.strip()
        if text.lstrip("-").isdigit():
            return int(text)
        return int(parse_timestamp_ms(text))
    raise ValueError(f"{name}: not a time: {value!r}")


def gateway_of(row: Mapping[str, Any], source: str) -> str:
    """``observer.name``, else ``observer.hostname``, else the first ``observer.ip``, else ``source``."""
    for name in ("observer.name", "observer.hostname"):
        v = row.get(name)
        if isinstance(v, str) and v:
            return v
    ip = row.get("observer.ip")
    if isinstance(ip, list):
        ip = ip[0] if ip else None
    if isinstance(ip, str) and ip:
        return ip
    return source


def event_from_document(doc: Any, source: str = "") -> tuple[str, dict[str, Any], int]:
    """(event type, flat row, event time ms) of one decoded document.

    Raises :class:`NotAnEvent` for a document of another kind and ValueError (one line) for
    one that cannot be read.
    """
    if not isinstance(doc, dict):
        raise ValueError(f"expected a JSON object, got {type(doc).__name__}")
    hit = doc.get("_source")
    if isinstance(hit, dict):  # an Elasticsearch hit
        doc = hit
    event = doc.get("event")
    kind = event.get("kind") if isinstance(event, dict) else doc.get("event.kind")
    stream = EVENT_STREAMS.get(kind) if isinstance(kind, str) else None
    if stream is None:
        raise NotAnEvent(str(kind))
    row: dict[str, Any] = {}
    for key, value in flatten(doc):
        if len(row) >= MAX_FIELDS:
            raise ValueError(f"more than {MAX_FIELDS} fields")
        if isinstance(value, str) and len(value) > MAX_TEXT:
            raise ValueError(f"{key}: text longer than {MAX_TEXT} characters")
        if isinstance(value, list) and len(value) > MAX_LIST:
            value = value[:MAX_LIST]
        row[key] = value
    for name in TIME_FIELDS:
        v = row.get(name)
        if v is not None:
            row[name] = _ms(v, name)
    for name in ("event.end", "flowcep.window.end"):
        t = row.get(name)
        if t is not None:
            break
    else:
        ts = row.get("@timestamp")
        if ts is None:
            raise ValueError("no event.end, flowcep.window.end or @timestamp")
        t = _ms(ts, "@timestamp")
    rule = row.get("rule.id")
    if not isinstance(rule, str) or not rule:
        raise ValueError("no rule.id")
    row[GATEWAY_COLUMN] = row[EXPORTER_COLUMN] = gateway_of(row, source)
    return stream, row, int(t)



def event_from_json(raw: bytes | str, source: str = "") -> tuple[str, dict[str, Any], int] | str | None:
    """:func:`event_from_document` of one JSON text (a file's line, a Kafka message): the
    event, or a one-line reason it cannot be read (not JSON, or not a readable alert or
    metric), or None for a document of another kind (flows, options, stream rows)."""
    try:
        return event_from_document(orjson.loads(raw), source)
    except NotAnEvent:
        return None
    except orjson.JSONDecodeError as exc:
        return f"not JSON: {str(exc).splitlines()[0][:120]}"
    except (ValueError, TypeError, OverflowError) as exc:
        text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return text[:200]


def batches_from_documents(docs: Sequence[Any], source: str = "") -> tuple[list[FlowBatch], list[tuple[int, str]]]:
    """Batches of the alert and metric events in ``docs`` and ``(index, one-line reason)``
    for each document that could not be read.

    The batches keep the documents' order: a new batch starts whenever the event type
    changes, so pushing them in order into the event-time clock never puts a metric behind
    alerts that came after it (a batch per type would: the clock would release the alerts'
    times first and count the earlier metrics late). Documents of other kinds (flows,
    options records) are left out without an error; the number left out is ``len(docs) -
    events - errors``."""
    events: list[tuple[str, dict[str, Any], int]] = []
    errors: list[tuple[int, str]] = []
    for i, doc in enumerate(docs):
        try:
            events.append(event_from_document(doc, source))
        except NotAnEvent:
            continue
        except (ValueError, TypeError, OverflowError) as exc:
            text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            errors.append((i, text[:200]))
    return batches_from_events(events, source), errors


def batches_from_events(events: Sequence[tuple[str, dict[str, Any], int]], source: str = "") -> list[FlowBatch]:
    """(event type, row, time) triples, as :func:`event_from_document` gives them, as
    batches in the same order: one per run of consecutive events of one type."""
    out: list[FlowBatch] = []
    start = 0
    for i in range(1, len(events) + 1):
        if i == len(events) or events[i][0] != events[start][0]:
            run = events[start:i]
            batch = FlowBatch.from_rows([row for _, row, _ in run], source=source)
            batch.stream = run[0][0]
            batch.set_event_times([t for _, _, t in run])
            out.append(batch)
            start = i
    return out
