"""FlowBatch: the unit every stage works on.

Records are kept as columns (one list per information element) because decoding into
per-record dicts costs 5x the decode itself (see DESIGN.md). A dict is built only when a
consumer asks for one row: printing, an alert, a Python detector that wants rows.

Column values are plain Python values, the same ones `flowcep dump` prints as JSON:
integers, floats, booleans, IPv4/IPv6/MAC addresses as text, strings without padding,
octet arrays as ``bytes``, dateTime elements as integers in their element's own unit.
A record that lacks an element holds ``None`` in that column.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping, Sequence
from operator import itemgetter
from typing import Any

__all__ = ["FlowBatch", "EVENT_TIME_FIELDS", "FLOW_STREAM", "OPTIONS_STREAM", "ALERT_STREAM", "METRIC_STREAM",
           "EVENT_STREAMS", "event_times",
           "EXPORT_VERSION", "EXPORT_TIME", "SYS_UPTIME", "HEADER_COLUMNS"]

#: The stream flow records travel on (the EPL input stream ``Flow``).
FLOW_STREAM = "Flow"
#: The stream of exporters' options records (RFC 7011 3.4.2.2, RFC 3954 6.1): exporter and
#: metering statistics, sampler and interface tables. They describe the exporter, not
#: traffic, so they never travel with flows: detectors see them only by asking for this
#: stream (EPL ``from Options``), outputs write them as ECS metric documents.
OPTIONS_STREAM = "Options"
#: Alert and metric documents of gateway-level runs, read back by a level-2 monitor
#: (inputs/ecs_events.py): they never pass for flows either. The host hands them only to
#: detectors whose ``streams`` name them (EPL ``from Alert`` / ``from Metric``).
ALERT_STREAM = "Alert"
METRIC_STREAM = "Metric"
EVENT_STREAMS = frozenset({ALERT_STREAM, METRIC_STREAM})

#: Elements that give a flow's end, in order of preference, with the factor to milliseconds.
EVENT_TIME_FIELDS: tuple[tuple[str, float], ...] = (
    ("flowEndMilliseconds", 1),
    ("flowEndSeconds", 1000),
    ("flowEndMicroseconds", 0.001),
    ("flowEndNanoseconds", 0.000001),
)


#: Message-header columns the decoders add to every flow record they decode (what Beats' netflow
#: converter writes as ``netflow.exporter.version``, ``.timestamp`` and ``.uptime_millis``): the
#: export format's version (5, 9, 10), the message's export time (epoch ms) and, for NetFlow
#: v5/v9, the exporter's sysUptime (ms).
EXPORT_VERSION = "flowcep.export_version"
EXPORT_TIME = "flowcep.export_time"
SYS_UPTIME = "flowcep.sys_uptime"
#: The three, in that order.
HEADER_COLUMNS = (EXPORT_VERSION, EXPORT_TIME, SYS_UPTIME)


class FlowBatch:
    """A batch of flow records held as columns keyed by IPFIX element name.

    ``source`` names the input address the records came from (for stats and errors);
    ``exporter`` identifies the exporting process (``host:port/odid``) when known.
    ``stream`` is :data:`FLOW_STREAM` for flow records; a batch of another stream
    (:data:`OPTIONS_STREAM`) is routed by the host only to what asked for that stream.
    """

    __slots__ = ("columns", "length", "source", "exporter", "stream", "_times", "_derived")

    def __init__(
        self,
        columns: dict[str, list[Any]],
        length: int | None = None,
        source: str = "",
        exporter: str | None = None,
        stream: str = FLOW_STREAM,
    ) -> None:
        if length is None:
            length = len(next(iter(columns.values()))) if columns else 0
        self.columns = columns
        self.length = length
        self.source = source
        self.exporter = exporter
        self.stream = stream
        self._times: list[int] | None = None
        self._derived: dict[Hashable, tuple[tuple[object, ...], Any]] | None = None

    # a batch crossing to a worker process carries its records, not the per-batch caches
    # detectors filled (they are rebuilt on demand and can be larger than the columns)
    def __getstate__(self) -> tuple[Any, ...]:
        return (self.columns, self.length, self.source, self.exporter, self.stream, self._times)

    def __setstate__(self, state: tuple[Any, ...]) -> None:
        self.columns, self.length, self.source, self.exporter, self.stream, self._times = state
        self._derived = None

    # -- construction -------------------------------------------------------------------
    @classmethod
    def from_rows(
        cls, rows: Sequence[Mapping[str, Any]], source: str = "", exporter: str | None = None
    ) -> FlowBatch:
        """Build a batch from dict rows (tests, JSON input); missing keys become None."""
        names: dict[str, None] = {}
        for row in rows:
            names.update(dict.fromkeys(row))
        columns = {name: [row.get(name) for row in rows] for name in names}
        return cls(columns, len(rows), source, exporter)

    @classmethod
    def concat(cls, batches: Sequence[FlowBatch], source: str = "") -> FlowBatch:
        """Join batches of possibly different shapes; absent columns are filled with None."""
        if len(batches) == 1:
            return batches[0]
        streams = {b.stream for b in batches}
        if len(streams) > 1:  # options records must never pass for flows
            raise ValueError(f"cannot join batches of different streams: {', '.join(sorted(streams))}")
        names: dict[str, None] = {}
        for b in batches:
            names.update(dict.fromkeys(b.columns))
        columns: dict[str, list[Any]] = {name: [] for name in names}
        for b in batches:
            for name, col in columns.items():
                values = b.columns.get(name)
                col.extend(values if values is not None else [None] * b.length)
        total = sum(b.length for b in batches)
        exporters = {b.exporter for b in batches}
        out = cls(columns, total, source or (batches[0].source if batches else ""),
                  exporters.pop() if len(exporters) == 1 else None, streams.pop() if streams else FLOW_STREAM)
        if all(b._times is not None for b in batches):
            times: list[int] = []
            for b in batches:
                times.extend(b._times or ())
            out._times = times
        return out

    # -- access ----------------------------------------------------------------------------
    def __len__(self) -> int:
        return self.length

    def __repr__(self) -> str:
        kind = "" if self.stream == FLOW_STREAM else f", stream={self.stream!r}"
        return f"FlowBatch({self.length} records, {len(self.columns)} columns, source={self.source!r}{kind})"

    def get(self, name: str) -> list[Any]:
        """The column for ``name``, or a column of None when no record has that element."""
        col = self.columns.get(name)
        return col if col is not None else [None] * self.length

    def row(self, index: int) -> dict[str, Any]:
        """One record as a dict, without the None placeholders of absent elements."""
        return {k: v[index] for k, v in self.columns.items() if v[index] is not None}

    def rows(self) -> Iterator[dict[str, Any]]:
        for i in range(self.length):
            yield self.row(i)

    def add_column(self, name: str, values: list[Any]) -> None:
        """Add or replace a column (enrichers); the length must match."""
        if len(values) != self.length:
            raise ValueError(f"column {name!r} has {len(values)} values for {self.length} records")
        self.columns[name] = values

    def derived(self, key: Hashable, build: Callable[[], Any], *sources: object) -> Any:
        """``build()``, computed once per batch for ``key`` while its ``sources`` are unchanged.

        Every detector reads the same batch object and converts the same columns (addresses,
        ports, counters); the first one's result serves the others. ``sources`` are the columns
        the value derives from: replacing one (``add_column`` or assignment into ``columns``)
        makes the cached value stale, so it is rebuilt. Callers must not mutate what they get.
        """
        cache = self._derived
        if cache is None:
            cache = self._derived = {}
        hit = cache.get(key)
        if hit is not None and len(hit[0]) == len(sources) and all(
                a is b for a, b in zip(hit[0], sources, strict=True)):
            return hit[1]
        value = build()
        cache[key] = (sources, value)
        return value

    def take(self, indices: Iterable[int]) -> FlowBatch:
        """A new batch with the records at ``indices``, in that order."""
        idx = list(indices)
        pick = _picker(idx)
        cols = {k: pick(v) for k, v in self.columns.items()}
        out = FlowBatch(cols, len(idx), self.source, self.exporter, self.stream)
        if self._times is not None:
            out._times = pick(self._times)
        return out

    def slice(self, start: int, stop: int) -> FlowBatch:
        cols = {k: v[start:stop] for k, v in self.columns.items()}
        out = FlowBatch(cols, max(0, min(stop, self.length) - start), self.source, self.exporter, self.stream)
        if self._times is not None:
            out._times = self._times[start:stop]
        return out

    # -- time ------------------------------------------------------------------------------
    def event_times(self) -> list[int]:
        """Event time of each record in epoch milliseconds: the flow's end.

        Cached; records with no end time get -1 and are counted as malformed by the clock.
        """
        if self._times is None:
            self._times = event_times(self.columns, self.length)
        return self._times

    def set_event_times(self, times: list[int]) -> None:
        """Override event times (a config-chosen timestamp field, or retimed replays)."""
        if len(times) != self.length:
            raise ValueError("event times must match the batch length")
        self._times = times


def _picker(idx: list[int]) -> Any:
    """A function list -> list of the items at ``idx``; itemgetter keeps the loop in C."""
    if not idx:
        return lambda col: []
    if len(idx) == 1:
        i = idx[0]
        return lambda col: [col[i]]
    getter = itemgetter(*idx)
    return lambda col: list(getter(col))


def event_times(columns: Mapping[str, list[Any]], length: int) -> list[int]:
    """Event times from whichever flowEnd* elements are present, per record."""
    present = [(columns[n], f) for n, f in EVENT_TIME_FIELDS if n in columns]
    if not present:
        return [-1] * length
    first, factor = present[0]
    if len(present) == 1 and factor == 1 and None not in first:
        return list(first)
    out: list[int] = []
    for i in range(length):
        for col, f in present:
            v = col[i]
            if v is not None:
                out.append(int(v * f) if f != 1 else int(v))
                break
        else:
            out.append(-1)
    return out
