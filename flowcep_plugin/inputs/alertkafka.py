"""``alerts+kafka://HOST:PORT/TOPIC[,TOPIC...]``: gateway runs' alert and metric topics as events.

The Kafka form of ``alerts:PATH`` (:mod:`.alertlines`), for a level-2 monitor over gateways
that publish with ``--output kafka://HOST:PORT/TOPIC`` (docs/level2.md, docs/deployment.md).
Each message's JSON document becomes an ``Alert`` or ``Metric`` event through the same
conversion (:func:`.ecs_events.batches_from_documents`): event time is the alert's window end,
the gateway (``observer.name``, else ``?gateway=NAME``, else the topic) on the partition the
document came in is the clock's exporter, so the watermark is the slowest gateway's and a
document cannot move the clock of a gateway publishing elsewhere (:meth:`AlertKafkaSource._convert`).

Every partition of every topic is read from its beginning, without a consumer group and
without committing offsets. The level-2 state (scanners per gateway within a window, the
interval's top-talker lists) is rebuilt by that replay after a restart, and what the replay
raises again carries the same deterministic ``flowcep.alert_id``: Elasticsearch creates by
``_id`` and the jsonl output skips what its file holds, so a restart writes nothing twice.
The topics are alerts and per-interval metrics, small next to flows; create them with a
retention that covers the longest level-2 window.

``?until=end`` reads up to the end offsets the topics had at start and then ends like a
file: the partitions are drained first and merged by event time (one gateway's documents
arrive in its own order, but partitions and topics interleave arbitrarily), at most
``MAX_REPLAY`` documents. Without it the input is live: documents are handed on as they
arrive, an idle poll yields an empty batch so wall-clock time can move the watermark, and
disorder between gateways is absorbed by ``[run] lateness``.

A message that is not JSON, or not a readable alert or metric, is one ``topic[partition]@offset:
reason`` warning (the first 20) and a ``malformed`` drop; flow, options and stream documents
are skipped and counted (``alerts non-event documents skipped``).
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..clock import PROGRESS_STREAM
from ..context import Context
from ..errors import ConfigError, InputError
from ..hookspecs import hookimpl
from ..kafka_client import KafkaAddress, parse_kafka, quiet, topic_partitions, wait_for_broker
from ..records import FlowBatch
from ..specs import Address, InputSpec
from .ecs_events import EXPORTER_COLUMN, batches_from_events, event_from_json
from .jsonlines import LOG_FIRST_BAD

__all__ = ["AlertKafkaSource", "MAX_REPLAY", "MAX_MESSAGE", "Progress", "progress_batch"]

#: Most documents an ``until=end`` replay holds before merging them by event time.
MAX_REPLAY = 2_000_000
#: Largest message read (bytes); a longer one is malformed.
MAX_MESSAGE = 1 << 20
_OPTIONS = ("until", "gateway", "batch_size")
_POLL_S = 0.5


@dataclass(frozen=True)
class Progress:
    """A producer's progress document: its engine time reached ``time_ms`` (every row up to
    it is before this message in the partition ``exporter`` names). Time, never an event."""

    exporter: str
    time_ms: int


def progress_batch(marks: Sequence[Progress], source: str) -> FlowBatch:
    """Marks as one batch of the clock's progress stream (``Reorderer.progress``)."""
    b = FlowBatch({EXPORTER_COLUMN: [m.exporter for m in marks]}, len(marks), source, stream=PROGRESS_STREAM)
    b.set_event_times([m.time_ms for m in marks])
    return b


class AlertKafkaSource:
    """Reads alert/metric topics into ``Alert``/``Metric`` batches (every partition, from the start)."""

    #: the ``?key=value`` options the address may carry
    OPTIONS: tuple[str, ...] = _OPTIONS
    #: counted name of well-formed documents of another kind (flows, options, stream rows)
    SKIPPED = "alerts non-event documents skipped"
    #: the address prefix before ``kafka://``, and an example address
    PREFIX = "alerts+"
    EXAMPLE = "alerts+kafka://127.0.0.1:9092/gw1-alerts"

    def __init__(self, address: Address, config: Mapping[str, Any], ctx: Context) -> None:
        self.source = address.raw
        self.ctx = ctx
        raw = address.raw[len(self.PREFIX):] if address.raw.startswith(self.PREFIX) else address.raw
        head, q, query = raw.partition("?")
        base, _, topics = head.rpartition("/")
        names = [t for t in topics.split(",") if t]
        if not names:
            raise ConfigError(f"input {address.raw!r}: name a topic, e.g. {self.EXAMPLE}")
        self.addrs: list[KafkaAddress] = [parse_kafka(f"{base}/{t}{q}{query}", self.OPTIONS, "input") for t in names]
        opts = self.addrs[0].options
        until = opts.get("until", "")
        if until not in ("", "end"):
            raise ConfigError(f"input {address.raw!r}: until={until!r}: the one value is 'end'")
        self.until_end = until == "end"
        self.gateway = opts.get("gateway") or None
        try:
            self.batch_size = int(opts.get("batch_size", config.get("batch_size", 5000)))
        except ValueError:
            raise ConfigError(f"input {address.raw!r}: batch_size: expected an integer") from None
        if self.batch_size < 1:
            raise ConfigError(f"input {address.raw!r}: batch_size: must be at least 1")
        admin = wait_for_broker(self.addrs[0], "input", wait=False)
        self.partitions: list[tuple[str, int]] = []
        for a in self.addrs:
            n = topic_partitions(admin, a.topic)
            if n is None:
                raise ConfigError(f"input {address.raw!r}: topic {a.topic!r} does not exist at {a.servers} "
                                  "(a gateway run with --output kafka://.../TOPIC creates it)")
            self.partitions += [(a.topic, p) for p in range(n)]
        from confluent_kafka import Consumer  # imported only when a kafka address is used

        self.consumer = Consumer(quiet({
            "bootstrap.servers": self.addrs[0].servers, "group.id": "flowcep-level2-unused",
            "enable.auto.commit": False, "enable.auto.offset.store": False,
            "fetch.message.max.bytes": MAX_MESSAGE, "client.id": "flowcep-level2"}))
        #: live unless it ends at the offsets seen at start (the host then treats it as a file)
        self.live = not self.until_end
        self._closed = False
        self._bad = 0
        self._skipped = 0
        self._read = 0

    # -- reading -----------------------------------------------------------------------------
    def _assign(self) -> dict[tuple[str, int], int]:
        """Assign every partition at its beginning; return the end offsets to reach (until=end)."""
        from confluent_kafka import OFFSET_BEGINNING, TopicPartition

        ends: dict[tuple[str, int], int] = {}
        if self.until_end:
            for topic, p in self.partitions:
                low, high = self.consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10.0)
                if high > low:
                    ends[(topic, p)] = high
        self.consumer.assign([TopicPartition(t, p, OFFSET_BEGINNING) for t, p in self.partitions])
        return ends

    def _event(self, msg: Any) -> tuple[str, dict[str, Any], int] | Progress | None:
        where = f"{msg.topic()}[{msg.partition()}]@{msg.offset()}"
        value = msg.value()
        self._read += 1
        if value is None or len(value) > MAX_MESSAGE:
            self._malformed(where, "empty message" if value is None else f"longer than {MAX_MESSAGE} bytes")
            return None
        got = self._convert(value, msg, where)
        if got is None:
            self._skipped += 1
        elif isinstance(got, str):
            self._malformed(where, got)
        else:
            return got
        return None

    def _convert(self, value: bytes, msg: Any, where: str) -> tuple[str, dict[str, Any], int] | Progress | str | None:
        """One message (at ``where``, ``topic[partition]@offset``) as (event type, row, event
        time), a producer's :class:`Progress`, a one-line reason it cannot be read, or None for
        a document of another kind.

        The clock's exporter is the gateway the document names *on the partition it came in*:
        the name alone could be written by anyone who can write to any topic read here, and
        two documents naming a slow gateway, dated ahead, moved that gateway's clock so that
        its real alerts came in late and were dropped. The name stays in ``flowcep.gateway``."""
        got = event_from_json(value, self.gateway or msg.topic())
        if isinstance(got, tuple):
            row = got[1]
            row[EXPORTER_COLUMN] = f"{row[EXPORTER_COLUMN]}@{msg.topic()}[{msg.partition()}]"
        return got

    def batches(self) -> Iterator[FlowBatch]:
        try:
            ends = self._assign()
            if self.until_end:
                yield from self._replay(ends)
            else:
                yield from self._live()
        finally:
            if self._bad > LOG_FIRST_BAD:
                self.ctx.logger.warning("%s: %d malformed messages in all (first %d logged)", self.source,
                                        self._bad, LOG_FIRST_BAD)
            if self._skipped:
                self.ctx.stats.add(self.SKIPPED, self._skipped)
            self.consumer.close()

    def _live(self) -> Iterator[FlowBatch]:
        while not self._closed:
            msgs = self.consumer.consume(self.batch_size, _POLL_S)
            events = []
            marks: list[Progress] = []
            for m in msgs:
                if m.error():
                    continue  # partition EOF and transient broker errors: librdkafka retries
                ev = self._event(m)
                if isinstance(ev, Progress):
                    marks.append(ev)
                elif ev is not None:
                    events.append(ev)
            if events:
                yield from batches_from_events(events, self.source)
            if marks:  # after the rows: a mark only ever moves time forward past them
                yield progress_batch(marks, self.source)
            if not events and not marks:
                yield FlowBatch({}, 0, self.source)  # idle: the host may advance the watermark

    def _replay(self, ends: dict[tuple[str, int], int]) -> Iterator[FlowBatch]:
        """Drain every partition up to its end offset, then merge the partitions by event time."""
        per: dict[tuple[str, int], list[tuple[int, int, str, dict[str, Any]]]] = {k: [] for k in ends}
        left = dict(ends)
        held = 0
        while left and not self._closed:
            for m in self.consumer.consume(self.batch_size, _POLL_S):
                if m.error():
                    continue
                key = (str(m.topic()), int(m.partition() or 0))
                end = left.get(key)
                if end is None:
                    continue
                ev = self._event(m)
                if isinstance(ev, Progress):
                    per[key].append((ev.time_ms, held, PROGRESS_STREAM, {EXPORTER_COLUMN: ev.exporter}))
                    held += 1
                elif ev is not None:
                    stream, row, t = ev
                    per[key].append((t, held, stream, row))
                    held += 1
                    if held > MAX_REPLAY:
                        raise InputError(f"{self.source}: more than {MAX_REPLAY} documents to replay; read the "
                                         "topics live (without until=end) instead")
                if int(m.offset() or 0) + 1 >= end:
                    del left[key]
        merged = heapq.merge(*per.values(), key=lambda e: (e[0], e[1]))
        pending: list[tuple[str, dict[str, Any], int]] = []
        for t, _seq, stream, row in merged:
            if stream == PROGRESS_STREAM:  # in its place in event time, between the rows around it
                yield from batches_from_events(pending, self.source)
                pending = []
                yield progress_batch([Progress(row[EXPORTER_COLUMN], t)], self.source)
                continue
            pending.append((stream, row, t))
            if len(pending) >= self.batch_size:
                yield from batches_from_events(pending, self.source)
                pending = []
        yield from batches_from_events(pending, self.source)

    def _malformed(self, where: str, reason: str) -> None:
        self._bad += 1
        if self._bad <= LOG_FIRST_BAD:
            self.ctx.logger.warning("%s: %s", where, reason)
        self.ctx.stats.drop("malformed", 1, source=self.source)

    def close(self) -> None:
        self._closed = True


def _open(address: Address, config: Mapping[str, Any], ctx: Context) -> AlertKafkaSource:
    return AlertKafkaSource(address, config, ctx)


@hookimpl
def flowcep_register_inputs() -> list[InputSpec]:
    return [
        InputSpec(
            name="alerts-kafka",
            summary=("ECS alert and metric documents gateway runs published to Kafka (--output kafka://), "
                     "every partition from the start, as Alert and Metric events for a level-2 monitor; "
                     "?until=end stops at the end offsets seen at start, ?gateway=NAME"),
            schemes=("alerts+kafka",),
            open=_open,
            config_schema={
                "type": "object",
                "additionalProperties": False,
                "properties": {"batch_size": {"type": "integer", "minimum": 1, "description": "documents per batch"}},
            },
            defaults={"batch_size": 5000},
        )
    ]
