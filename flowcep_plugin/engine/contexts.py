"""Contexts: a statement run once per context partition (Esper's "Context and Context
Partitions").

* keyed segmented (``create context C partition by a [and b] from S [, c from T]``): one
  partition per distinct key value; each has its own windows, aggregation and output.
* fixed intervals (``create context C start @now end after P``): one partition at a time,
  from the runtime's first time, ending after P; its state is dropped and a new one starts.
* overlapping (``create context C initiated by S(filter) as s terminated after P``): each
  initiating event starts a partition that lives P; an event goes to every live partition.

A context statement is a set of ordinary statement states, one per partition, behind the
same interface as one statement. Partitions are bounded (``max_partitions``): past it the
least recently used one is dropped, counted (``engine.partitions_evicted``).

``context.name``, ``context.id`` and ``context.keyN`` (keyed), ``context.startTime`` and
``context.endTime`` (fixed, overlapping), ``context.<alias>.<property>`` (the event that
initiated an overlapping partition) read the current partition's values through a function
the compiler substitutes for them, bound to the partition being run. Filters and WHERE run
inside each partition for the same reason.
"""

from __future__ import annotations

import heapq
from collections import Counter, OrderedDict
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from .expressions import FUNCTIONS, ColumnFilter
from .plan import SelectPlan
from .rows import Row
from .windows import Events, hashable

__all__ = ["CONTEXT_FUNCTION", "MAX_PARTITIONS", "ContextPlan", "FixedContextStmt", "InitTermContextStmt",
           "KeyedContextStmt", "context_stmt", "install"]

#: partitions one keyed context statement keeps; past it the least recently used is dropped
MAX_PARTITIONS = 100_000

#: the function ``context.<prop>`` compiles to; not a name EPL text can spell
CONTEXT_FUNCTION = "\x00context"

#: which partition's context properties the expressions being run read. The properties are
#: the partition's own state (``_Partition.props``, ``FixedContextStmt.props``); this only
#: points at them while one of its calls runs, per thread and per asyncio task, and is restored
#: when the call returns: two runtimes (or a runtime called from inside another's partition)
#: never see each other's properties, as they could through one shared dict.
_RUNNING: ContextVar[dict[str, Any] | None] = ContextVar("flowcep_context_props", default=None)


def _context_prop(name: Any) -> Any:
    props = _RUNNING.get()
    return None if props is None else props.get(name)


FUNCTIONS[CONTEXT_FUNCTION] = (_context_prop, 1, 1)


def _with_props(props: dict[str, Any], call: Callable[[], list[Row]]) -> list[Row]:
    """Run ``call`` with a partition's context properties visible to its expressions."""
    token = _RUNNING.set(props)
    try:
        return call()
    finally:
        _RUNNING.reset(token)


@dataclass
class ContextPlan:
    name: str
    kind: str  # keyed | fixed | initterm
    keys: dict[str, list[str]] = field(default_factory=dict)  # stream -> event keys of the partition
    period_ms: int = 0
    # initterm: the stream whose (filtered) events each start a partition, and their alias
    init_stream: str | None = None
    init_alias: str | None = None
    init_filter: ColumnFilter | None = None
    # keyed: the filter of each partitioned stream (events it rejects reach no partition)
    filters: dict[str, ColumnFilter] = field(default_factory=dict)


def _on_terminated(plan: SelectPlan) -> bool:
    """Whether the statement outputs when its partition ends (``output snapshot when terminated``)."""
    return plan.output is not None and plan.output.terminated


def _feed(st: Any, idx: int, ev: Events) -> list[Row]:
    """Filter (stream filter, WHERE) and feed one partition's statement, context properties set."""
    sub = st.prefilter(idx, ev)
    return st.feed(idx, sub) if sub.n else []


class _Partition:
    __slots__ = ("st", "props")

    def __init__(self, st: Any, props: dict[str, Any]) -> None:
        self.st = st
        self.props = props


class _PartitionedStmt:
    """What keyed and overlapping contexts share: a bounded table of partitions, each with its
    own statement state, run with its context properties visible to the statement."""

    takes_final = True

    def __init__(self, cplan: ContextPlan, plan: SelectPlan, make: Callable[[], Any],
                 counters: Counter[str], stats: Any = None, max_partitions: int = MAX_PARTITIONS) -> None:
        self.cplan = cplan
        self.plan = plan
        self.make = make
        self.counters = counters
        self.stats = stats
        self.max_partitions = max_partitions
        self.name = plan.info.name
        self.stream = plan.info.stream
        self.insert_into = plan.info.insert_into
        self.proto = make()  # filters arriving events, and tells where a fresh window's timers fall
        self.next_id = 0
        self.batchy = any(sp.view is not None and sp.view.name in ("time_batch", "ext_timed_batch", "time_length_batch")
                          for sp in plan.streams)

    def _make_room(self, parts: OrderedDict[Any, _Partition]) -> None:
        """Drop the least recently used (or oldest) partition when the table is full, counted."""
        if len(parts) >= self.max_partitions:
            parts.popitem(last=False)
            self.counters["engine.partitions_evicted"] += 1
            if self.stats is not None:
                self.stats.add("engine.partitions_evicted")

    @staticmethod
    def _call_in(p: _Partition, call: Callable[[], list[Row]]) -> list[Row]:
        return _with_props(p.props, call)


class KeyedContextStmt(_PartitionedStmt):
    """One statement state per key value; events go to their key's partition in order."""

    def __init__(self, cplan: ContextPlan, plan: SelectPlan, make: Callable[[], Any],
                 counters: Counter[str], stats: Any = None, max_partitions: int = MAX_PARTITIONS) -> None:
        super().__init__(cplan, plan, make, counters, stats, max_partitions)
        self.parts: OrderedDict[Any, _Partition] = OrderedDict()
        self.heap: list[tuple[int, int, Any]] = []
        self.stream_keys = [cplan.keys[sp.stream] for sp in plan.streams]

    def _partition(self, key: Any) -> _Partition:
        p = self.parts.get(key)
        if p is None:
            self._make_room(self.parts)
            props: dict[str, Any] = {"name": self.cplan.name, "id": self.next_id}
            for i, v in enumerate(key):
                props[f"key{i + 1}"] = v
            self.next_id += 1
            p = self.parts[key] = _Partition(self.make(), props)
        else:
            self.parts.move_to_end(key)
        return p

    def _run(self, key: Any, p: _Partition, call: Callable[[], list[Row]]) -> list[Row]:
        rows = self._call_in(p, call)
        due = p.st.next_due()
        if due is not None:
            heapq.heappush(self.heap, (due, p.props["id"], key))
        return rows

    # -- the runtime's statement protocol -----------------------------------------------------------
    def prefilter(self, idx: int, ev: Events) -> Events:
        # the context's own filter; the statement's run in each partition (they may read
        # context properties)
        flt = self.cplan.filters.get(self.plan.streams[idx].stream)
        return ev.take(flt(ev.cols, ev.n)) if flt is not None else ev

    def next_due(self, final: bool = False) -> int | None:
        heap = self.heap
        while heap:
            due, _id, key = heap[0]
            p = self.parts.get(key)
            if p is not None and p.props["id"] == _id and p.st.next_due(final) == due:
                return due
            heapq.heappop(heap)
        return None

    def due_if_fed(self, idx: int, t: int) -> int | None:
        if self.batchy:
            return t + 1  # a partition's batch may be anchored anywhere: one time at a time
        return self.proto.due_if_fed(idx, t)  # type: ignore[no-any-return]

    def feed(self, idx: int, ev: Events) -> list[Row]:
        kcols = [ev.cols.get(k) or [None] * ev.n for k in self.stream_keys[idx]]
        keys = [tuple(hashable(v) for v in k) for k in zip(*kcols, strict=False)]
        out: list[Row] = []
        i, n = 0, ev.n
        while i < n:  # runs of one key, in arrival order: rows come out in Esper's order
            j = i + 1
            while j < n and keys[j] == keys[i]:
                j += 1
            key = keys[i]
            p = self._partition(key)
            part = ev.slice(i, j)
            out.extend(self._run(key, p, lambda p=p, part=part: _feed(p.st, idx, part)))  # type: ignore[misc]
            i = j
        return out

    def fire(self, now: int) -> list[Row]:
        due: dict[Any, _Partition] = {}
        while self.heap and self.heap[0][0] <= now:
            _d, _id, key = heapq.heappop(self.heap)
            p = self.parts.get(key)
            if p is not None and p.props["id"] == _id and p.st.next_due() == now:
                due[key] = p
        out: list[Row] = []
        for key, p in sorted(due.items(), key=lambda kv: kv[1].props["id"]):
            out.extend(self._run(key, p, lambda p=p: p.st.fire(now)))  # type: ignore[misc]
        return out

    def flush(self) -> list[Row]:
        out: list[Row] = []
        for key, p in list(self.parts.items()):
            out.extend(self._run(key, p, p.st.flush))
        return out


class FixedContextStmt:
    """``start @now end after P``: back-to-back partitions of P from the runtime's first time;
    a partition's state (windows, aggregates, pending batches) ends with it, unreported."""

    takes_final = True

    def __init__(self, cplan: ContextPlan, plan: SelectPlan, make: Callable[[], Any]) -> None:
        self.cplan = cplan
        self.plan = plan
        self.make = make
        self.name = plan.info.name
        self.stream = plan.info.stream
        self.insert_into = plan.info.insert_into
        self.period = cplan.period_ms
        self.current: Any = None
        self.end: int | None = None
        self.props: dict[str, Any] = {}
        self.next_id = 0
        self.fed = False

    # the runtime starts these with its clock (as it starts patterns)
    def start(self, t: int) -> None:
        if self.end is None:
            self._begin(t)

    def clock(self, t: int) -> None:
        return None

    def _begin(self, t: int) -> None:
        self.current = self.make()
        self.end = t + self.period
        self.props = {"name": self.cplan.name, "id": self.next_id, "startTime": t, "endTime": self.end}
        self.next_id += 1
        self.fed = False  # whether the partition took an event (end of input reports only such)

    def _run(self, call: Callable[[], list[Row]]) -> list[Row]:
        return _with_props(self.props, call)

    def prefilter(self, idx: int, ev: Events) -> Events:
        if self.current is None:
            self._begin(ev.times[0] if ev.n else 0)
        return ev  # filtered in the partition: WHERE may read context properties

    def next_due(self, final: bool = False) -> int | None:
        if self.current is None or self.end is None:
            return None
        d = self.current.next_due(final)
        if final:  # end of input: the partition ends only to cut its pending timers
            return None if d is None else min(d, self.end)
        return self.end if d is None else min(d, self.end)

    def due_if_fed(self, idx: int, t: int) -> int | None:
        d = self.current.due_if_fed(idx, t) if self.current is not None else None
        if self.end is not None and (d is None or self.end < d):
            return self.end
        return d

    def feed(self, idx: int, ev: Events) -> list[Row]:
        self.fed = self.fed or ev.n > 0
        return self._run(lambda: _feed(self.current, idx, ev))

    def fire(self, now: int) -> list[Row]:
        out: list[Row] = []
        if self.current.next_due() == now:
            out = self._run(lambda: self.current.fire(now))
        if self.end is not None and now >= self.end:
            if _on_terminated(self.plan):
                end = self.end
                out.extend(self._run(lambda: self.current.terminate(end)))
            self._begin(self.end)  # the ended partition's state is dropped (reported only by
            # output snapshot when terminated)
        return out

    def flush(self) -> list[Row]:
        if self.current is None:
            return []
        out = self._run(self.current.flush)
        if _on_terminated(self.plan) and self.end is not None and self.fed:
            # end of input: the clock runs on to infinity, so the partition in progress ends;
            # only one that took events (an empty one after the last event, and the endless
            # empty ones after it, are not reported)
            end, cur = self.end, self.current
            out.extend(self._run(lambda: cur.terminate(end)))
            self.current, self.end = None, None
        return out


#: the stream index an overlapping context's initiating events come in under
INITIATOR = -1


class InitTermContextStmt(_PartitionedStmt):
    """``initiated by S(filter) as s terminated after P``: every initiating event starts a
    partition (which also processes that event when the statement reads S), ending P later;
    partitions overlap, each event goes to every live one, rows in order of creation."""

    def __init__(self, cplan: ContextPlan, plan: SelectPlan, make: Callable[[], Any],
                 counters: Counter[str], stats: Any = None, max_partitions: int = MAX_PARTITIONS) -> None:
        super().__init__(cplan, plan, make, counters, stats, max_partitions)
        self.parts: OrderedDict[int, _Partition] = OrderedDict()  # by id: creation order
        self.heap: list[tuple[int, int]] = []  # (due, partition id) of the statements' timers

    def _run(self, p: _Partition, call: Callable[[], list[Row]]) -> list[Row]:
        rows = self._call_in(p, call)
        due = p.st.next_due()
        if due is not None:
            heapq.heappush(self.heap, (due, p.props["id"]))
        return rows

    def _stmt_due(self, final: bool = False) -> int | None:
        heap = self.heap
        while heap:
            due, pid = heap[0]
            p = self.parts.get(pid)
            if p is not None and p.st.next_due(final) == due:
                return due
            heapq.heappop(heap)
        return None

    def _initiate(self, t: int, row: dict[str, Any]) -> None:
        self._make_room(self.parts)
        props: dict[str, Any] = {"name": self.cplan.name, "id": self.next_id, "startTime": t,
                                 "endTime": t + self.cplan.period_ms}
        if self.cplan.init_alias is not None:
            for k, v in row.items():
                props[f"{self.cplan.init_alias}.{k}"] = v
        self.parts[self.next_id] = _Partition(self.make(), props)
        self.next_id += 1

    # -- the runtime's statement protocol -----------------------------------------------------------
    def prefilter(self, idx: int, ev: Events) -> Events:
        if idx == INITIATOR:
            flt = self.cplan.init_filter
            return ev.take(flt(ev.cols, ev.n)) if flt is not None else ev
        return ev  # filtered in each partition: WHERE may read context properties

    def next_due(self, final: bool = False) -> int | None:
        d = self._stmt_due(final)
        end = self.parts[next(iter(self.parts))].props["endTime"] if self.parts else None
        if final:  # end of input: partitions end only to cut their pending timers
            return None if d is None else (d if end is None else min(d, end))
        if d is None:
            return end
        return d if end is None else min(d, end)

    def due_if_fed(self, idx: int, t: int) -> int | None:
        if idx == INITIATOR:
            return t + self.cplan.period_ms  # the partition this event starts ends then
        if self.batchy:
            return t + 1
        return self.proto.due_if_fed(idx, t)  # type: ignore[no-any-return]

    def feed(self, idx: int, ev: Events) -> list[Row]:
        if idx == INITIATOR:
            for t, row in zip(ev.times, ev.rows(), strict=False):
                self._initiate(t, row)
            return []
        out: list[Row] = []
        if not self.parts:
            return out
        one = ev.n == 1 or len(self.parts) == 1
        for i in range(1 if one else ev.n):  # Esper: each event through every partition in turn
            part = ev if one else ev.slice(i, i + 1)
            for p in list(self.parts.values()):
                out.extend(self._run(p, lambda p=p, part=part: _feed(p.st, idx, part)))  # type: ignore[misc]
        return out

    def fire(self, now: int) -> list[Row]:
        due: dict[int, _Partition] = {}
        while self.heap and self.heap[0][0] <= now:
            _d, pid = heapq.heappop(self.heap)
            p = self.parts.get(pid)
            if p is not None and p.st.next_due() == now:
                due[pid] = p
        out: list[Row] = []
        for _pid, p in sorted(due.items()):
            out.extend(self._run(p, lambda p=p: p.st.fire(now)))  # type: ignore[misc]
        while self.parts:  # partitions end in creation order (one period each)
            pid = next(iter(self.parts))
            p = self.parts[pid]
            end = p.props["endTime"]
            if end > now:
                break
            if _on_terminated(self.plan):
                out.extend(self._call_in(p, lambda p=p, end=end: p.st.terminate(end)))  # type: ignore[misc]
            del self.parts[pid]  # its state ends with it (reported only by output ... when terminated)
        return out

    def flush(self) -> list[Row]:
        out: list[Row] = []
        for p in list(self.parts.values()):
            out.extend(self._run(p, p.st.flush))
        if _on_terminated(self.plan):
            # end of input: the clock runs on to infinity, so every live partition ends
            for pid, p in list(self.parts.items()):
                end = p.props["endTime"]
                out.extend(self._call_in(p, lambda p=p, end=end: p.st.terminate(end)))  # type: ignore[misc]
                del self.parts[pid]
        return out


def install(rt: Any) -> None:
    """Overlapping contexts also read their initiating stream: booked first among its
    consumers, so a partition exists before the statement handles the event that started it."""
    for st in rt.stmts:
        if isinstance(st, InitTermContextStmt):
            stream = st.cplan.init_stream
            rt.consumers.setdefault(stream, []).insert(0, (st, INITIATOR))


def context_stmt(cplan: ContextPlan, plan: SelectPlan, make: Callable[[], Any], counters: Counter[str],
                 stats: Any = None) -> Any:
    """The runtime state of a statement declared with ``context C``."""
    if cplan.kind == "keyed":
        return KeyedContextStmt(cplan, plan, make, counters, stats)
    if cplan.kind == "initterm":
        return InitTermContextStmt(cplan, plan, make, counters, stats)
    return FixedContextStmt(cplan, plan, make)
