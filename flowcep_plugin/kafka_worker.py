"""``flowcep run --input 'kafka://HOST:PORT/TOPIC?group=NAME&instance=ID'``: a detection worker.

Any number of workers in one consumer group share the partitions of a topic written by
``flowcep ingest``. A worker lines up the messages of its assigned partitions by step (every
partition gets every step, so a quiet one still advances), merges each step's records back
into ingest's order (a flow whose both ends it owns arrives twice and is seen once), calls the
host-keyed detectors (``partition`` address, source or destination) exactly as one process
would, with the step's times (the release point for ``on_watermark``, the watermark for the
alerts; the lowest over its partitions, so a message that is not ingest's cannot move its
windows ahead), and keeps only the alerts whose key is owned by one of its partitions. It makes
no time from its partitions' records: ingest's one clock does, so a quiet partition, or one
with a single flow, advances step by step and a far-future flow moves nothing. Detectors that need every flow (``partition = "global"``: EPL modules)
or a merge of every worker's partial documents (trafficstats) cannot run here;
they are named at start and skipped (run them in a level-2 monitor or in one process).

Delivery is at least once: offsets are committed only at step boundaries and only after every
output acknowledged what the steps wrote (``flush``: jsonl fsynced, Elasticsearch bulk
answered, Kafka acknowledged) without a new output failure. On every (re)assignment the worker
rebuilds its window state: it starts fresh detectors, seeks every assigned partition back to
the step whose time is ``committed watermark - replay`` (``offsets_for_times``; ``replay``
defaults to 1 h and should be at least the detectors' longest window plus the suppression
interval), replays from there and emits an alert only when its step is past the committed
step of the partition owning it. Alert ids are deterministic, so what a crash replays twice is
absorbed by Elasticsearch's create-by-``_id`` and the jsonl output's restart dedup.

When partitions move between live members (one joins, one leaves, one goes silent past the
session timeout) the revoked member first outputs and commits what it processed, then drops
every partition's state (the next assignment replays, so no state outlives ownership); a
commit the broker refuses at revocation is retried at the reassignment for the partitions
that come back. Lost partitions (the session expired) are not committed. A fatal consumer
error (a static member fenced on rejoining) ends the worker with one line: restart it.

Static membership is required: ``instance=ID`` becomes ``group.instance.id``; it must be the
same when the worker is restarted (a SIGKILLed member's partitions come back to it at once;
librdkafka's default member id changes with every start, so it is never derived).
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from .alerts import stamp_observer
from .config import parse_duration
from .context import Context
from .errors import ConfigError, FlowcepError
from .kafka_client import KafkaAddress, parse_kafka, quiet, topic_partitions, wait_for_broker
from .partition import event_owner
from .pipeline import Pipeline
from .plan import Plan
from .records import FlowBatch
from .specs import Event, Output
from .stages import Stage
from .transport import END, Part, Step, TransportError, decode_step, merge_parts

__all__ = ["KafkaWorker", "parse_worker_address", "MAX_QUEUED_STEPS"]

log = logging.getLogger("flowcep")

#: steps buffered per partition before it is paused (a partition running ahead of the others)
MAX_QUEUED_STEPS = 64
#: the step key of "nothing committed": before every step of every run
NEVER: tuple[str, int] = ("", -1)
WORKER_OPTIONS = ("group", "instance", "replay", "commit")
#: an idle worker checks its consumer is still alive this often (seconds)
PROBE_S = 5.0


def parse_worker_address(raw: str) -> tuple[KafkaAddress, str, str, int, float]:
    """``kafka://H:P/TOPIC?group=G&instance=I[&replay=1h][&commit=2s]`` -> (address, group,
    instance, replay ms, commit interval s)."""
    addr = parse_kafka(raw, WORKER_OPTIONS, "input")
    group = addr.options.get("group")
    instance = addr.options.get("instance")
    if not group:
        raise ConfigError(f"input {raw!r}: a worker needs group=NAME (the workers sharing the topic)")
    if not instance:
        raise ConfigError(f"input {raw!r}: a worker needs instance=ID, an id that stays the same when it is "
                          "restarted (static membership: a restarted worker takes its partitions back)")
    try:
        replay_ms = int(parse_duration(addr.options.get("replay", "1h")) * 1000)
        commit_s = parse_duration(addr.options.get("commit", "2s"))
    except ValueError as exc:
        raise ConfigError(f"input {raw!r}: {exc}") from None
    return addr, group, instance, replay_ms, commit_s


def _per_host(partition: str, obj: object) -> bool:
    """Whether a detector can run on one worker's partitions: its state is keyed by a host
    (``address``, or one end: ``source``/``destination``), so the owner of that host, which
    ingest sends every flow the host took part in, holds one process's state for it, and the
    alert filter keeps the owner's alerts only. A detector that splits a global view by host
    (``merge_partials``: trafficstats) needs a merger of every worker's partial documents,
    which a consumer group does not have; ``global`` ones need every flow."""
    return partition in ("address", "source", "destination") and not hasattr(obj, "merge_partials")


@dataclass
class _Partition:
    """One assigned partition: its queued steps and where it stands."""

    start: int  # messages before this offset are left over from an earlier assignment
    committed: tuple[str, int]  # alerts it owns are emitted only for later steps (NEVER: none)
    steps: deque[tuple[Step, int]] = field(default_factory=deque)  # (step, its last offset)
    partial: Step | None = None  # a chunked step still receiving its messages
    done_offset: int = -1  # the last message of the last processed step
    done: tuple[str, int] = ("", -1)
    last_offset: int = -1  # the last message taken: an older or repeated one is a leftover
    sent: int = -1  # the offset this member last committed for it
    ended: bool = False
    paused: bool = False


class KafkaWorker(Pipeline):
    """The run's detectors and outputs fed by the steps of a Kafka consumer group."""

    def __init__(self, plan: Plan, ctx: Context, raw: str, extra_outputs: Sequence[Output] = ()) -> None:
        self.addr, self.group, self.instance, self.replay_ms, self.commit_s = parse_worker_address(raw)
        super().__init__(plan, ctx, extra_outputs=extra_outputs)
        try:
            if self.pool is not None:
                raise ConfigError("a Kafka worker runs one process: start more workers in the group instead of --workers")
            self._keep_address_detectors()
            streams = [st.name for st in self.outputs if getattr(st.obj, "derived_stream", None)]
            if streams:
                raise ConfigError(f"output {streams[0]}: a Kafka worker cannot publish an INSERT INTO stream: its "
                                  "detectors see only the flows of its partitions' hosts, so a row about another "
                                  "worker's host would be partial; publish streams from a one-process run")
        except BaseException:
            self.close()
            self._shutdown()
            raise
        self.raw = raw
        self._parts: dict[int, _Partition] = {}
        self._n_partitions = 0
        self._step_now: tuple[str, int] = NEVER
        self._reassigned = False
        self._failures_at_commit = 0
        self._consumer: Any = None
        self._end_wm: int | None = None
        self._bad_messages = 0
        self._used = False  # the detectors saw a step since they were built
        self._closing = False
        self._fatal: str | None = None
        self._last_probe = time.monotonic()
        self._pending: dict[int, int] = {}  # partition -> offset whose commit failed at a revocation
        self._last_commit = time.monotonic()

    def _keep_address_detectors(self) -> None:
        skipped = [st.name for st in self.detectors if not _per_host(st.partition, st.obj)]
        if skipped:
            msg = (f"flowcep: Kafka worker: skipping detector(s) that need every flow, not one partition's: "
                   f"{', '.join(skipped)} (run them in one process or a level-2 monitor)")
            print(msg, file=sys.stderr)
            self.ctx.stats.gauge("kafka.detectors_skipped", len(skipped))
        self.detectors = [st for st in self.detectors if _per_host(st.partition, st.obj)]
        if not self.detectors:
            raise ConfigError(f"input {self.addr.raw}: none of the chosen detectors can run in a Kafka worker "
                              "(all need every flow)")

    def _fresh_detectors(self) -> None:
        """New detector objects (no window state): the replay rebuilds the state."""
        self.detectors = [Stage(c.name, c.plugin, obj, partition=c.spec.partition)
                          for c, obj in self.plan.build_detectors(self.ctx, on_derived=self._on_derived)
                          if _per_host(c.spec.partition, obj)]
        self.suppressor = self._build_suppressor()
        self._last_wm = -(2**62)
        self._used = False

    # -- the consumer ------------------------------------------------------------------------
    def _connect(self) -> Any:
        wait = bool(self.config["run"].get("wait"))
        admin = wait_for_broker(self.addr, "input", wait, self.stop)
        told = False
        # subscribing to a missing topic could let the broker create it with its default
        # partition count, before ingest creates it with --partitions: wait for ingest instead
        while topic_partitions(admin, self.addr.topic) is None:
            if not told:
                print(f"flowcep: Kafka worker {self.instance}: waiting for topic {self.addr.topic!r} "
                      "(flowcep ingest creates it)", file=sys.stderr)
                told = True
            if self.stop.wait(1.0):
                raise ConfigError(f"input {self.addr.raw}: stopped while waiting for topic {self.addr.topic!r}")
        from confluent_kafka import Consumer

        c = Consumer(quiet({
            "bootstrap.servers": self.addr.servers, "group.id": self.group,
            "group.instance.id": self.instance, "enable.auto.commit": False,
            "enable.auto.offset.store": False, "auto.offset.reset": "earliest",
            "session.timeout.ms": 10_000, "client.id": f"flowcep-worker-{self.instance}",
            "error_cb": self._on_error,
        }))
        c.subscribe([self.addr.topic], on_assign=self._on_assign, on_revoke=self._on_revoke,
                    on_lost=self._on_lost)
        return c

    def _on_error(self, err: Any) -> None:
        """librdkafka's errors: most are retried by the client (debug log); a fatal one ends
        the consumer, and the worker with it (see run()). A fenced static member's fatal
        error may show first as a failed commit, or not at all while the worker is idle:
        commits and the idle probe (:meth:`_probe`) check for it too."""
        from confluent_kafka import KafkaError

        if err.fatal() or err.code() == KafkaError._FATAL:
            self._fatal = err.str()
        log.debug("kafka %s: %s", self.addr.raw, err)

    def _probe(self) -> None:
        """An idle worker commits nothing, so a consumer that turned fatal (fenced) would go
        unnoticed: ask the group coordinator for the committed offsets every PROBE_S."""
        from confluent_kafka import TopicPartition

        self._last_probe = time.monotonic()
        try:
            self._consumer.committed([TopicPartition(self.addr.topic, p) for p in self._parts], timeout=5)
        except Exception as exc:
            log.debug("kafka %s: probe: %s", self.addr.raw, exc)
            self._check_fatal(exc)

    def _check_fatal(self, exc: Exception) -> None:
        from confluent_kafka import KafkaError

        err = exc.args[0] if exc.args else None
        if isinstance(err, KafkaError) and (err.fatal() or err.code() == KafkaError._FATAL):
            self._fatal = self._fatal or err.str()

    def _on_revoke(self, consumer: Any, partitions: list[Any]) -> None:
        """Partitions leave this member (another joined or left): output and commit what was
        processed while it still owns them, then drop every partition's state, so a member
        never holds window state for hosts it no longer owns (the next assignment replays)."""
        # a broker may already have moved the group to its next generation (noida-db does when
        # a member joins): the commit fails; it is retried for the partitions given back to
        # this member, while the others' new owners replay (and output again) those steps
        self._pending = {tp.partition: tp.offset for tp in self._commit(force=True)}
        self.ctx.stats.add("kafka.revocations")
        self.ctx.stats.add("kafka.partitions_revoked", len(self._parts))
        self._drop_state()

    def _on_lost(self, consumer: Any, partitions: list[Any]) -> None:
        """The group gave the partitions to others while this member was silent past the
        session timeout: nothing is committed (the new owner's offsets win); the alerts output
        since the last commit are output again by the new owner (same ids: deduplicated)."""
        for st in self.outputs:  # what was written still reaches the outputs
            self._call(st, "output flush", st.obj.flush)
        self.ctx.stats.add("kafka.partitions_lost", len(self._parts))
        self._pending = {}
        log.error("flowcep: Kafka worker %s: partitions %s lost (silent past the session timeout); "
                  "their uncommitted steps are replayed by their new owner", self.instance, sorted(self._parts))
        self._drop_state()

    def _drop_state(self) -> None:
        self._parts.clear()
        self._reassigned = True
        self._step_now = NEVER
        self._end_wm = None
        if self._used and not self._closing:  # (closing: the run is over, nothing to rebuild)
            self._fresh_detectors()

    def _on_assign(self, consumer: Any, partitions: list[Any]) -> None:
        """Rebuild state for the new assignment: fresh detectors, every partition sought back
        to ``replay`` before the earliest committed watermark (the same step everywhere)."""
        from confluent_kafka import OFFSET_BEGINNING, TopicPartition

        self._parts.clear()
        self._reassigned = True
        self._step_now = NEVER
        partitions = [tp for tp in partitions if tp.topic == self.addr.topic]  # a stale member's old topic
        if not partitions:
            consumer.assign([])
            return
        retry = [TopicPartition(self.addr.topic, tp.partition, self._pending[tp.partition])
                 for tp in partitions if tp.partition in self._pending]
        moved = len(self._pending) - len(retry)
        if moved:  # their new owners replay what this member output after its last commit
            self.ctx.stats.add("kafka.moved_uncommitted", moved)
        self._pending = {}
        if retry:  # still this member's: what it output before the revocation is committed now
            try:
                consumer.commit(offsets=retry, asynchronous=False)
                self.ctx.stats.add("kafka.commits_after_rebalance")
            except Exception as exc:
                self.ctx.stats.add("kafka.commit_failures")
                log.error("flowcep: Kafka worker %s: commit after rebalance failed: %s", self.instance, exc)
        md = consumer.list_topics(self.addr.topic, timeout=10)
        self._n_partitions = len(md.topics[self.addr.topic].partitions)
        committed = consumer.committed([TopicPartition(self.addr.topic, tp.partition) for tp in partitions],
                                       timeout=10)
        last: dict[int, Step | None] = {}
        for tp in committed:
            last[tp.partition] = self._peek(tp.partition, tp.offset - 1) if tp.offset > 0 else None
        if any(s is None for s in last.values()):
            since: int | None = None  # a partition never committed: everything from the start
        else:
            since = min(s.watermark for s in last.values() if s is not None) - self.replay_ms
        if since is not None and since > 0:
            found = consumer.offsets_for_times(
                [TopicPartition(self.addr.topic, tp.partition, since) for tp in partitions], timeout=10)
            offsets = {tp.partition: (tp.offset if tp.offset >= 0 else OFFSET_BEGINNING) for tp in found}
        else:
            offsets = {tp.partition: OFFSET_BEGINNING for tp in partitions}
        for tp in partitions:
            s = last.get(tp.partition)
            start = offsets[tp.partition]
            self._parts[tp.partition] = _Partition(start=max(start, 0), committed=s.key if s else NEVER,
                                                   done_offset=-1)
        if self._used:  # the detectors hold state: start over (the replay rebuilds it)
            self._fresh_detectors()
        consumer.assign([TopicPartition(self.addr.topic, p, offsets[p]) for p in sorted(self._parts)])
        replayed = sum(1 for s in last.values() if s is not None)
        self.ctx.stats.add("kafka.assignments")
        self.ctx.stats.add("kafka.partitions_resumed", replayed)
        self.ctx.stats.gauge("kafka.assigned", sorted(self._parts))
        log.info("flowcep: Kafka worker %s: assigned partitions %s (%d with a commit, replay from %s)",
                 self.instance, sorted(self._parts), replayed, since)

    def _peek(self, partition: int, offset: int) -> Step | None:
        """The step of one committed message (its step number and watermark), read by a
        separate consumer outside the group."""
        from confluent_kafka import Consumer, TopicPartition

        c = Consumer(quiet({"bootstrap.servers": self.addr.servers, "group.id": f"flowcep-peek-{os.urandom(4).hex()}",
                            "enable.auto.commit": False}))
        try:
            c.assign([TopicPartition(self.addr.topic, partition, offset)])
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline:
                m = c.poll(0.5)
                if m is None or m.error():
                    continue
                return decode_step(m.value(), f"{self.addr.topic}[{partition}]@{m.offset()}")
        finally:
            c.close()
        raise FlowcepError(f"input {self.addr.raw}: cannot read the committed message {offset} of partition "
                           f"{partition} within 15 s")

    # -- the loop ----------------------------------------------------------------------------
    def run(self) -> dict[str, Any]:
        self._call_hook("flowcep_start", context=self.ctx)
        try:
            self._consumer = self._connect()
            while not self.stop.is_set():
                msgs = self._consumer.consume(num_messages=500, timeout=0.2)
                if not msgs and time.monotonic() - self._last_commit >= self.commit_s:
                    self._commit()  # idle: the last steps processed are committed too
                if not msgs and self._parts and time.monotonic() - self._last_probe >= PROBE_S:
                    self._probe()
                if self._fatal is not None:  # the consumer is dead: no commit, no more steps
                    raise FlowcepError(
                        f"input {self.addr.raw}: the Kafka consumer failed: {self._fatal} (a member silent past "
                        f"the session timeout may be fenced on rejoining; restart it with instance={self.instance}: "
                        "it replays from its last commit)")
                for m in msgs:
                    self._receive(m)
                self._flow_control()
                self._advance()
                if self._parts and all(p.ended and not p.steps for p in self._parts.values()) \
                        and not self._more_after_end():
                    self._finish_input()
                    break
                if self.print_stats.is_set():
                    self.print_stats.clear()
                    print(self.ctx.stats.render(), file=sys.stderr)
            else:  # stopped by a signal: what was processed is committed, the rest is replayed later
                self._commit(force=True)
            self._finished = True
        finally:
            try:
                if self._consumer is not None:
                    self._closing = True  # close() revokes: commit, but build no detectors
                    self._consumer.close()
            finally:
                try:
                    self.close()
                finally:
                    self._shutdown()
        return self.ctx.stats.snapshot()

    def _more_after_end(self) -> bool:
        """Whether a later ingest run wrote past the end markers (then the topic goes on: the
        partitions are live again and the windows are not flushed yet)."""
        from confluent_kafka import TopicPartition

        more = False
        for p, st in self._parts.items():
            try:
                _low, high = self._consumer.get_watermark_offsets(TopicPartition(self.addr.topic, p),
                                                                  timeout=5, cached=False)
            except Exception as exc:  # cannot tell: take the end marker at its word
                log.debug("kafka %s: watermark offsets of partition %d: %s", self.addr.raw, p, exc)
                continue
            if high > st.done_offset + 1:
                st.ended = False
                more = True
        if more:
            self.ctx.stats.add("kafka.end_markers_passed")
        return more

    def _receive(self, m: Any) -> None:
        err = m.error()
        if err is not None:
            from confluent_kafka import KafkaError

            if err.fatal() or err.code() == KafkaError._FATAL:
                raise FlowcepError(f"input {self.addr.raw}: {err.str()}")
            log.debug("kafka %s: %s", self.addr.raw, err)
            return
        part = self._parts.get(m.partition())
        if part is None or m.offset() < part.start:
            return  # a revoked partition's, or before where this assignment starts
        if m.offset() <= part.last_offset:  # fetched before a seek or rebalance: already taken
            self.ctx.stats.add("kafka.stale_messages")
            return
        part.last_offset = m.offset()
        where = f"{self.addr.topic}[{m.partition()}]@{m.offset()}"
        try:
            step = decode_step(m.value(), where)
        except TransportError as exc:
            self.ctx.stats.drop("transport-error", 1, self.addr.raw)
            self._bad_messages += 1
            if self._bad_messages <= 3:  # the first few named; the rest only counted
                self.ctx.stats.errors.append(str(exc))
                log.error("flowcep: %s", exc)
            return
        if part.partial is not None and part.partial.key != step.key:  # its last chunk never came
            self.ctx.stats.add("kafka.steps_missing")
            part.partial = None
        if part.partial is not None:
            part.partial.parts.extend(step.parts)
            part.partial.options.extend(step.options)
            part.partial.more = step.more
            step = part.partial
        part.partial = step if step.more else None
        if not step.more:
            part.steps.append((step, m.offset()))

    def _flow_control(self) -> None:
        """Pause a partition running more than MAX_QUEUED_STEPS ahead; resume it when drained."""
        from confluent_kafka import TopicPartition

        for p, st in self._parts.items():
            if not st.paused and len(st.steps) >= MAX_QUEUED_STEPS:
                self._consumer.pause([TopicPartition(self.addr.topic, p)])
                st.paused = True
                self.ctx.stats.add("kafka.pauses")
            elif st.paused and len(st.steps) < MAX_QUEUED_STEPS // 2:
                self._consumer.resume([TopicPartition(self.addr.topic, p)])
                st.paused = False

    def _advance(self) -> None:
        """Process every step all live (not ended) assigned partitions have delivered."""
        while True:
            for st in self._parts.values():
                if st.ended and st.steps:  # a later ingest run wrote past the end marker: go on
                    st.ended = False
                    self.ctx.stats.add("kafka.end_markers_passed")
            live = [st for st in self._parts.values() if not st.ended]
            if not live or any(not st.steps for st in live):
                return
            s = min(st.steps[0][0].key for st in live)
            heads: list[tuple[int, Step]] = []
            for p, st in sorted(self._parts.items()):
                if st.ended or not st.steps or st.steps[0][0].key != s:
                    if not st.ended and st.steps and st.steps[0][0].key > s:
                        self.ctx.stats.add("kafka.steps_missing")
                    continue
                step, offset = st.steps.popleft()
                st.done_offset, st.done = offset, step.key
                heads.append((p, step))
                if step.kind == END:
                    st.ended = True
            self._process(s, heads)
            if time.monotonic() - self._last_commit >= self.commit_s:  # between steps, not per poll
                self._commit()

    def _process(self, s: tuple[str, int], heads: list[tuple[int, Step]]) -> None:
        steps = [st for _, st in heads if st.kind != END]
        if not steps:
            if all(st.kind == END for _, st in heads):
                self._end_wm = max(st.watermark for _, st in heads)
            return
        self._step_now = s
        self._used = True
        for p, st in heads:  # rebuilding state: steps the partition's commit already covers
            if st.kind != END and st.key <= self._parts[p].committed:
                self.ctx.stats.add("kafka.replayed_steps")
                self.ctx.stats.add("kafka.replayed_records", sum(part.batch.length for part in st.parts))
        # ingest gives every partition the same times for a step; were one partition's message
        # ahead (not ingest's), the lowest keeps it from moving this worker's windows
        wm = min(st.watermark for st in steps)
        closes = [st.closes for st in steps if st.advanced]
        events: list[Event] = []
        options = next((st.options for st in steps if st.options), [])
        for batch in options:
            for stage in self.detectors:
                on_options = getattr(stage.obj, "on_options", None)
                if on_options is not None:
                    events.extend(self._call(stage, "detector on_options", on_options, batch) or [])
        parts: list[Part] = [p for st in steps for p in st.parts]
        released: list[FlowBatch] = merge_parts(parts) if parts else []
        for rb in released:
            self.ctx.stats.count("detect", rb.length)
            for stage in self.detectors:
                events.extend(self._detect_isolated(stage, rb))
        self.ctx.stats.gauge("watermark_ms", wm)
        if closes and min(closes) > self._last_wm:  # as one process: Pipeline._detect
            self._last_wm = min(closes)
            events.extend(self._watermark_local(self._last_wm))
        self._emit_owned(events, wm, s)

    def _emit_owned(self, events: list[Event], wm: int, step: tuple[str, int], final: bool = False) -> None:
        """Keep the alerts this worker's partitions own; suppression sees every one of them (its
        state is rebuilt by the replay too); outputs get those past the owner's committed step."""
        n = self._n_partitions
        mine = [e for e in events if event_owner(e, n) in self._parts]
        if self.suppressor is not None:
            try:
                mine = self.suppressor.process(mine, max(wm, 0)) if mine else []
                if final:
                    mine = mine + self.suppressor.flush()
            except Exception as exc:
                self.ctx.stats.plugin_error("alerts", f"suppression failed: {type(exc).__name__}: {exc}")
        fresh = []
        for e in mine:
            p = self._parts.get(event_owner(e, n))
            if p is not None and step > p.committed:
                fresh.append(e)
            else:
                self.ctx.stats.add("kafka.replayed_alerts_not_emitted")
        if not fresh:
            return
        if self.observer:  # --observer: this gateway's name, as one process writes it
            stamp_observer(fresh, self.observer)
        for e in fresh:
            if (e.get("event") or {}).get("kind", "alert") == "alert":
                rule = e.get("rule") or {}
                self.ctx.stats.alert(str(rule.get("id") or rule.get("name") or "?"))
        self._call_hook("flowcep_alerts", events=fresh, context=self.ctx)
        self.ctx.stats.count("output", len(fresh))
        for st in self.outputs:
            self._call(st, "output write_events", st.obj.write_events, fresh)

    def _finish_input(self) -> None:
        """Every assigned partition ended: flush the detectors (end of input, as one process
        does), flush the outputs and commit."""
        events: list[Event] = []
        for st in self.detectors:
            got = self._call(st, "detector flush", st.obj.flush)
            if got:
                events.extend(got)
        # the end marker's step: past every data step, and not past a commit that already
        # covers the end marker (a worker restarted after it finished emits the flush once)
        end = max((st.done for st in self._parts.values()), default=(self._step_now[0], self._step_now[1] + 1))
        self._emit_owned(events, self._end_wm if self._end_wm is not None else self._last_wm, end, final=True)
        self._commit(force=True)
        self._call_hook("flowcep_flush", context=self.ctx)

    def _commit(self, force: bool = False) -> list[Any]:
        """Flush the outputs; when they acknowledged without a new failure, commit the offset
        after the last processed step of each partition. Returns the offsets the broker
        refused (an output failure commits nothing and returns none: those steps must be
        replayed)."""
        if self._consumer is None or not self._parts:
            return []
        from confluent_kafka import TopicPartition

        self._last_commit = time.monotonic()
        new = {p: st.done_offset + 1 for p, st in sorted(self._parts.items())
               if st.done_offset >= 0 and st.done > st.committed  # never backwards
               and st.done_offset + 1 != st.sent}
        if not new and not force:  # (idle: nothing processed since the last commit)
            return []
        for st in self.outputs:
            self._call(st, "output flush", st.obj.flush)
        failures = sum(self.ctx.stats.output_failures.values())
        if failures > self._failures_at_commit:
            self._failures_at_commit = failures
            self.ctx.stats.add("kafka.commits_withheld")
            log.error("flowcep: Kafka worker %s: an output failed; offsets not committed (the steps will "
                      "be replayed after a restart)", self.instance)
            return []
        offsets = [TopicPartition(self.addr.topic, p, off) for p, off in new.items()]
        if not offsets:
            return []
        try:
            self._consumer.commit(offsets=offsets, asynchronous=False)
            self.ctx.stats.add("kafka.commits")
            for p, off in new.items():
                self._parts[p].sent = off
            return []
        except Exception as exc:
            self.ctx.stats.add("kafka.commit_failures")
            log.error("flowcep: Kafka worker %s: commit failed: %s", self.instance, exc)
            self._check_fatal(exc)
            return offsets
