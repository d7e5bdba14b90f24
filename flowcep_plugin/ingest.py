"""``flowcep ingest``: the pipeline up to the detectors, then every step routed to Kafka.

The same Plan and stages as ``flowcep run`` decode, sanitize, enrich and order the flows (one
event-time clock); where ``run`` would hand a step's released batches to its detectors, ingest
routes them: every flow goes to the partition owning its source and to the one owning its
destination (:func:`flowcep_plugin.partition.route` over the topic's partition count), and
EVERY partition gets one message for the step, so a quiet partition's workers still see the
watermark move. A step is published wherever one process would call its detectors: records
released, or the release point moved (also when a release freed nothing), with both times, so
every worker closes windows at one process's instants. At the end of a file input every partition gets an end marker, which is what
lets a worker flush its windows exactly as one process does at the end of the same input.

Delivery is confirmed: ``acks=all``, a bounded client queue (a full queue blocks ingest, it
never drops), and anything not acknowledged by the end is counted as an output failure
(exit 3). Message timestamps are the step's watermark, so a worker can find "one window
before its committed offset" with ``offsets_for_times``.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Sequence
from typing import Any

from .clock import NO_TIME
from .context import Context
from .errors import ConfigError
from .kafka_client import AckedProducer, KafkaAddress, ensure_topic, quiet, wait_for_broker
from .partition import route
from .pipeline import Pipeline
from .records import FlowBatch
from .transport import END, STEP, Part, Step, encode_step

__all__ = ["KafkaPublisher", "IngestPipeline", "CHUNK_RECORDS", "OWNER_CACHE"]

log = logging.getLogger("flowcep")

#: records per message at most: a step's part for one partition is split into chunks this big
#: so a message stays well under Kafka's default 1 MB limit on enriched flows
CHUNK_RECORDS = 1000
#: routed-address owners memoised (cleared when full, counted)
OWNER_CACHE = 1 << 18
#: messages the client may hold unacknowledged before ingest blocks
QUEUE_MESSAGES = 10_000


class KafkaPublisher:
    """Publishes steps to every partition of one topic and counts what is not acknowledged."""

    def __init__(self, addr: KafkaAddress, partitions: int, ctx: Context, *, wait: bool = False,
                 timeout_s: float = 30.0, stop: threading.Event | None = None,
                 client: dict[str, Any] | None = None) -> None:
        self.addr = addr
        self.ctx = ctx
        self.name = addr.raw
        self.timeout_s = timeout_s
        admin = wait_for_broker(addr, "ingest --to", wait, stop)
        self.partitions = ensure_topic(admin, addr, partitions, "ingest --to")
        if self.partitions != partitions:
            log.warning("flowcep: ingest: topic %r already has %d partitions; routing over those "
                        "(not --partitions %d)", addr.topic, self.partitions, partitions)
        ctx.stats.gauge("kafka.partitions", self.partitions)
        from confluent_kafka import Producer

        settings: dict[str, Any] = {
            "bootstrap.servers": addr.servers, "acks": "all", "linger.ms": 20,
            "queue.buffering.max.messages": QUEUE_MESSAGES,
            "message.timeout.ms": max(1000, int(timeout_s * 1000)), "client.id": "flowcep-ingest",
        }
        settings.update(client or {})
        try:
            self._producer = Producer(quiet(settings))
        except Exception as exc:
            raise ConfigError(f"ingest --to {addr.raw}: {exc}") from None
        # a new id per ingest run, ordered by its start time: a worker orders steps by (run,
        # step), so a restarted ingest's steps follow the previous run's on every partition
        self.run_id = f"{int(time.time() * 1000):013d}-{socket.gethostname()}-{os.getpid()}-{os.urandom(2).hex()}"
        self._step = 0
        self._owners: dict[str, int] = {}
        self._acked = AckedProducer(self._producer, ctx.stats, self.name, "ingest --to", timeout_s,
                                    full_counter="kafka.queue_full_waits")

    # -- delivery ----------------------------------------------------------------------------
    def _produce(self, partition: int, value: bytes, ts: int) -> None:
        if self._acked.produce(self.addr.topic, value, partition=partition, timestamp=ts):
            self.ctx.stats.add("kafka.messages")
            self.ctx.stats.add("kafka.bytes", len(value))

    # -- steps -------------------------------------------------------------------------------
    def _send(self, kind: str, wm: int, closes: int | None, parts: list[list[Part]],
              options: Sequence[FlowBatch] = ()) -> None:
        ts = max(wm, 0) if wm > NO_TIME else 0
        for p in range(self.partitions):
            chunks = _chunks(parts[p]) or [[]]
            for n, chunk in enumerate(chunks):
                # every message but a step's last one for this partition says more follow
                last = n == len(chunks) - 1
                step = Step(kind, self.run_id, self._step, wm, closes is not None, chunk,
                            list(options) if last else [], more=not last, closes=closes or 0)
                self._produce(p, encode_step(step), ts)
        self._step += 1
        self._producer.poll(0)

    def step(self, released: Sequence[FlowBatch], watermark: int, closes: int | None) -> None:
        """One step: the released batches routed to both ends' owners, to every partition;
        ``closes``: the release point the detectors close windows up to after them (None:
        one process would not call on_watermark after this step)."""
        if len(self._owners) > OWNER_CACHE:
            self._owners.clear()
            self.ctx.stats.add("kafka.owner_cache_resets")
        parts: list[list[Part]] = [[] for _ in range(self.partitions)]
        routed = 0
        for j, rb in enumerate(released):
            for p, idx in enumerate(route(rb, self.partitions, self._owners)):
                if idx:
                    routed += len(idx)
                    parts[p].append(Part(j, idx, rb.take(idx)))
        self.ctx.stats.count("publish", sum(b.length for b in released), routed)
        self._send(STEP, watermark, closes, parts)

    def options(self, batch: FlowBatch, watermark: int) -> None:
        """Options records go to every partition (each worker's detectors may ask for them)."""
        self._send(STEP, watermark, None, [[] for _ in range(self.partitions)], [batch])

    def end(self, watermark: int) -> None:
        """End of a file input: every partition gets the end marker."""
        self._send(END, watermark, None, [[] for _ in range(self.partitions)])

    def flush(self) -> None:
        self._acked.flush()


def _chunks(parts: list[Part]) -> list[list[Part]]:
    """Parts split so no message holds more than CHUNK_RECORDS records."""
    out: list[list[Part]] = []
    cur: list[Part] = []
    size = 0
    for p in parts:
        start = 0
        while start < p.batch.length:
            take = min(CHUNK_RECORDS - size, p.batch.length - start)
            piece = p if start == 0 and take == p.batch.length else Part(
                p.j, p.index[start:start + take], p.batch.slice(start, start + take))
            cur.append(piece)
            size += take
            start += take
            if size >= CHUNK_RECORDS:
                out.append(cur)
                cur, size = [], 0
    if cur:
        out.append(cur)
    return out


class IngestPipeline(Pipeline):
    """``run``'s pipeline with the detectors replaced by a :class:`KafkaPublisher`."""

    publisher: KafkaPublisher  # attached after construction (it may wait for the broker)

    def _detect(self, released: list[FlowBatch]) -> None:
        """Where one process calls its detectors (Pipeline._detect), publish the step instead,
        with the same two times: the watermark (the time alerts are emitted at) and, when it
        moved, the release point (what on_watermark gets). The release point can move when a
        release frees nothing (every held record is ahead of the new watermark): one process
        then closes windows all the same, so that is a step too."""
        wm = self.reorderer.watermark
        self.ctx.stats.gauge("watermark_ms", wm)
        self.ctx.stats.gauge("event_time_max_ms", self.reorderer.max_seen)
        rt = self.reorderer.released_to
        closes: int | None = None
        if rt > self._last_wm:
            self._last_wm = closes = rt
        if released or closes is not None:
            self.publisher.step(released, wm, closes)

    def _options(self, batch: FlowBatch) -> None:
        n = batch.length
        batch = self.sanitizer.clean(batch)
        self.ctx.stats.count("options", n, batch.length)
        if batch.length:
            self.publisher.options(batch, self.reorderer.watermark)

    def finish(self) -> None:
        self._detect(self.reorderer.flush())
        if not self.live:  # a live input stopped by a signal may be restarted: no end marker
            self.publisher.end(self.reorderer.watermark)
        self.publisher.flush()
        self._call_hook("flowcep_flush", context=self.ctx)

    def close(self) -> None:
        if getattr(self, "publisher", None) is not None:
            self.publisher.flush()
        super().close()
