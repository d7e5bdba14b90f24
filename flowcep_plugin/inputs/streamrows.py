"""``stream:PATH?type=NAME`` and ``stream+kafka://HOST:PORT/TOPIC?type=NAME``: a level-1 run's
INSERT INTO stream, read back as events of an EPL type.

A gateway run publishes the rows of ``insert into Reports select ...`` with ``--output
'jsonl:PATH?stream=Reports'`` or ``--output 'kafka://HOST:PORT/TOPIC?stream=Reports'`` (one
document per row, :mod:`flowcep_plugin.outputs.streamdocs`). A level-2 run reads them with
one of these inputs and a module that declares the type and selects from it::

    create schema Reports (src string, ports long, `flowcep.gateway` string);
    select src, count(distinct `flowcep.gateway`) from Reports#time(1 hour) group by src ...

``?type=NAME[,NAME...]`` names the EPL event types the input delivers: a document whose
``flowcep.stream`` is one of them becomes an event of that type; documents of other streams
and alerts or metrics are skipped and counted (``stream rows of other streams skipped``). A
type that no module of the run declares and reads is an error at start (exit 2); the engine
checks each event against the declaration (engine/typed.py: a missing property or a value of
the wrong type is a counted drop with a one-line reason).

**Event time** is the row's own ``flowcep.time_ms``: the engine time the level-1 statement
made it at, so the level-2 statement sees it when the same statement would have seen it in
the level-1 engine. A document without it (or with something else than epoch milliseconds)
is dropped as ``malformed`` with a ``file:line`` / ``topic[partition]@offset`` reason.

**Watermark.** Each file, and each partition of each topic, is an exporter of the event-time
clock (the ``flowcep.exporter`` column): the level-2 watermark is the slowest producer's,
minus ``[run] lateness``. A producer that stays quiet (its statement had nothing to insert)
stops holding the watermark after ``[time] exporter_idle`` (wall clock when live, event time
for files and ``until=end``), so it never stalls the others; its rows that then arrive behind
the watermark are dropped as ``late`` and counted. Files (a glob reads several) and
``until=end`` replays are merged by event time before the clock sees them, as ``alerts:``
does, so replaying them loses nothing.

Each row gets two columns: ``flowcep.gateway`` (``observer.name`` of the document, what
``--observer NAME`` writes, else the file or topic) unless the row has one, and
``flowcep.exporter`` (the clock key above). A statement reads them only when the schema
declares them. Bounds: lines and messages of at most 1 MiB, at most :data:`MAX_ROW_FIELDS`
fields per row, strings of at most ``ecs_events.MAX_TEXT`` characters.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from ..context import Context
from ..engine.typed import FIELDS_COLUMN, POSITION_COLUMN
from ..errors import ConfigError
from ..hookspecs import hookimpl
from ..records import EVENT_STREAMS, FLOW_STREAM, OPTIONS_STREAM
from ..specs import Address, InputSpec
from .alertkafka import AlertKafkaSource, Progress
from .alertlines import AlertLinesSource
from .ecs_events import EXPORTER_COLUMN, GATEWAY_COLUMN, MAX_TEXT

__all__ = ["MAX_ROW_FIELDS", "StreamKafkaSource", "StreamLinesSource", "parse_types", "progress_from_json",
           "row_from_json"]

#: Most fields one row may have.
MAX_ROW_FIELDS = 10_000
#: What the skipped documents are counted as.
SKIPPED = "stream rows of other streams skipped"
#: Streams the engine feeds itself (flows, options records, gateway alerts and metrics).
_RESERVED = frozenset({FLOW_STREAM, OPTIONS_STREAM, *EVENT_STREAMS})
_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")


def parse_types(raw: str, value: str | None) -> tuple[str, ...]:
    """``?type=NAME[,NAME...]``: the EPL event types (names as a schema takes them)."""
    if not value:
        raise ConfigError(f"input {raw!r}: name the EPL event type the rows become: ?type=NAME "
                          "(a module of the run declares it: create schema NAME (...))")
    names = tuple(dict.fromkeys(n.strip() for n in value.split(",")))
    for n in names:
        if not n or not set(n) <= _NAME_CHARS or n[0].isdigit():
            raise ConfigError(f"input {raw!r}: type {n!r}: an EPL type name (letters, digits, _)")
        if n in _RESERVED:
            raise ConfigError(f"input {raw!r}: type {n!r} is the engine's own stream; name the type the "
                              "level-2 module declares (create schema NAME (...))")
    return names


def row_from_json(raw: bytes | str, types: frozenset[str], gateway: str, exporter: str,
                  where: str = "") -> tuple[str, dict[str, Any], int] | str | None:
    """(event type, row, event time) of one stream document; a one-line reason it cannot be
    read; or None for a document of another stream (or an alert, a metric, a flow).
    ``where`` (``file:line``) goes with the row, so the engine names it if the row does not
    fit the declared type."""
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        return f"not JSON: {str(exc).splitlines()[0][:120]}"
    if not isinstance(doc, dict):
        return f"expected a JSON object, got {type(doc).__name__}"
    fc = doc.get("flowcep")
    stream = fc.get("stream") if isinstance(fc, dict) else None
    if stream is None:
        return None  # an alert, a metric or a flow: not a stream row
    if not isinstance(stream, str):
        return f"flowcep.stream: expected a name, got {type(stream).__name__}"
    if stream not in types:
        return None
    assert isinstance(fc, dict)
    t = fc.get("time_ms")
    if t is None:
        return "no flowcep.time_ms (the row's event time)"
    if isinstance(t, bool) or not isinstance(t, int):
        return f"flowcep.time_ms: expected epoch milliseconds, got {type(t).__name__} {str(t)[:40]}"
    row = fc.get("row")
    if not isinstance(row, dict):
        return "flowcep.row: expected an object" if row is not None else "no flowcep.row"
    if len(row) > MAX_ROW_FIELDS:
        return f"flowcep.row: more than {MAX_ROW_FIELDS} fields"
    for k, v in row.items():
        if isinstance(v, str) and len(v) > MAX_TEXT:
            return f"flowcep.row.{k[:60]}: text longer than {MAX_TEXT} characters"
    out = dict(row)
    present = tuple(out)
    if GATEWAY_COLUMN not in out:
        obs = doc.get("observer")
        name = obs.get("name") if isinstance(obs, dict) else None
        out[GATEWAY_COLUMN] = name if isinstance(name, str) and name else gateway
        present += (GATEWAY_COLUMN,)
    out[EXPORTER_COLUMN] = exporter
    out[FIELDS_COLUMN] = present
    if where:
        out[POSITION_COLUMN] = where
    return stream, out, t


def progress_from_json(raw: bytes, types: frozenset[str], exporter: str) -> Progress | str | None:
    """A progress document (:func:`..outputs.streamdocs.progress_document`) of one of
    ``types`` as the :class:`Progress` of ``exporter`` (the partition it came in); a reason
    it cannot be read; None when it is another stream's or not a progress document (then read
    it as a row: a row may hold the text)."""
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        return f"not JSON: {str(exc).splitlines()[0][:120]}"
    fc = doc.get("flowcep") if isinstance(doc, dict) else None
    prog = fc.get("progress") if isinstance(fc, dict) else None
    if not isinstance(prog, dict) or prog.get("stream") not in types:
        return None
    t = prog.get("time_ms")
    if isinstance(t, bool) or not isinstance(t, int):
        return f"flowcep.progress.time_ms: expected epoch milliseconds, got {type(t).__name__} {str(t)[:40]}"
    return Progress(exporter, t)


class StreamLinesSource(AlertLinesSource):
    """``stream:PATH?type=NAME``: the JSON-lines files of ``jsonl:PATH?stream=NAME`` outputs
    (a glob or folder reads several, merged by event time), as events of the named types."""

    OPTIONS = ("batch_size", "gateway", "type")
    SKIPPED = SKIPPED

    def __init__(self, address: Address, config: Mapping[str, Any], ctx: Context) -> None:
        #: the EPL event types this input delivers (the pipeline checks a module reads them)
        self.event_types = parse_types(address.raw, address.params.get("type"))
        self._types = frozenset(self.event_types)
        super().__init__(address, config, ctx)

    def _convert(self, line: bytes, source: str, where: str) -> tuple[str, dict[str, Any], int] | str | None:
        return row_from_json(line, self._types, self.gateway or source, source, where)


class StreamKafkaSource(AlertKafkaSource):
    """``stream+kafka://HOST:PORT/TOPIC[,TOPIC...]?type=NAME``: the topics of ``kafka://...?stream=NAME``
    outputs, every partition from its beginning, as events of the named types."""

    OPTIONS = ("until", "gateway", "batch_size", "type")
    SKIPPED = SKIPPED
    PREFIX = "stream+"
    EXAMPLE = "stream+kafka://127.0.0.1:9092/gw1-reports?type=Reports"

    def __init__(self, address: Address, config: Mapping[str, Any], ctx: Context) -> None:
        self.event_types = parse_types(address.raw, address.params.get("type"))
        self._types = frozenset(self.event_types)
        super().__init__(address, config, ctx)

    def _convert(self, value: bytes, msg: Any, where: str) -> tuple[str, dict[str, Any], int] | Progress | str | None:
        exporter = f"{msg.topic()}[{msg.partition()}]"
        if b'"flowcep.progress"' in value:  # a progress document (streamdocs): the partition's time
            got = progress_from_json(value, self._types, exporter)
            if got is not None:
                return got
        return row_from_json(value, self._types, self.gateway or str(msg.topic()), exporter, where)


_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {"batch_size": {"type": "integer", "minimum": 1, "description": "rows per batch"}},
}


@hookimpl
def flowcep_register_inputs() -> list[InputSpec]:
    return [
        InputSpec(
            name="stream",
            summary=("rows of a level-1 run's INSERT INTO stream (jsonl:PATH?stream=NAME files; a glob or folder "
                     "merges several by event time) as events of EPL type ?type=NAME for a level-2 module "
                     "(create schema NAME (...))"),
            schemes=("stream",),
            open=lambda address, config, ctx: StreamLinesSource(address, config, ctx),
            reads_file=True,
            config_schema=_SCHEMA,
            defaults={"batch_size": 5000},
        ),
        InputSpec(
            name="stream-kafka",
            summary=("rows of a level-1 run's INSERT INTO stream published with kafka://...?stream=NAME, every "
                     "partition from the start, as events of EPL type ?type=NAME for a level-2 module; "
                     "?until=end stops at the end offsets seen at start"),
            schemes=("stream+kafka",),
            open=lambda address, config, ctx: StreamKafkaSource(address, config, ctx),
            config_schema=_SCHEMA,
            defaults={"batch_size": 5000},
        ),
    ]
