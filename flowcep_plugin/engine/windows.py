"""Data windows (Esper "views") over columnar events, posting (new, old) events.

A window receives time-ordered events of one stream of one statement and posts what Esper's
view would post to the statement: newly arrived events and events that left the window. The
runtime guarantees that ``feed`` is never given an event at or after the window's own
``next_due()`` without ``fire(due)`` first, exactly as Esper's scheduler fires a timer before
an event of the same or a later time is processed.

Memory is bounded by window contents: batch windows keep the current and the previous batch
(only the columns the statement reads), sliding windows their live events.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import islice
from operator import itemgetter
from typing import Any

ColumnFilter = Callable[[dict[str, list[Any]], int], list[int]]

__all__ = [
    "Events", "Post", "Window", "NoWindow", "TimeBatchWindow", "TimeWindow", "LengthWindow",
    "LengthBatchWindow", "ExtTimedWindow", "ExtTimedBatchWindow", "UniqueWindow", "SortWindow",
    "TimeLengthBatchWindow",
]


def hashable(v: Any) -> Any:
    """A hashable stand-in for list/dict values (structured IPFIX elements) in group keys."""
    if isinstance(v, list):
        return tuple(hashable(x) for x in v)
    if isinstance(v, dict):
        return tuple(sorted((k, hashable(x)) for k, x in v.items()))
    return v


def count_keys(counts: Counter[Any], kcols: Sequence[Sequence[Any]]) -> None:
    """Count the key tuples ``zip(*kcols)`` as a stream (no list of them is kept: each would be
    a container the cyclic GC counts). A list-valued key (basicList) is counted by its tuple
    form: the Counter stops at the first key it cannot hash, every key before it is counted."""
    try:
        counts.update(zip(*kcols, strict=False))
    except TypeError:
        done = 0
        for k in zip(*kcols, strict=False):
            try:
                hash(k)
            except TypeError:
                break
            done += 1
        counts.update(tuple(hashable(v) for v in k) for k in islice(zip(*kcols, strict=False), done, None))


class Events:
    """Events of one stream as columns (``cols[key][i]``) with their event times.

    ``sel``, when set, is ``(where, positions)``: the records ``where`` passes, found for the
    whole arriving batch at once (a numpy array of positions, engine/vectorwhere.py), so a
    batch window that cuts the batch into segments between timers takes each segment's
    records from it instead of running ``where`` again; a slice carries its part."""

    __slots__ = ("cols", "n", "times", "sel")

    def __init__(self, cols: dict[str, list[Any]], n: int, times: list[int]) -> None:
        self.cols = cols
        self.n = n
        self.times = times
        self.sel: tuple[Any, Any] | None = None

    @classmethod
    def empty(cls, keys: Sequence[str] = ()) -> Events:
        return cls({k: [] for k in keys}, 0, [])

    def take(self, idx: list[int], keys: Sequence[str] | None = None) -> Events:
        """The events at ``idx`` with only ``keys`` (all when None)."""
        names = list(self.cols) if keys is None else keys
        if not idx:
            return Events({k: [] for k in names}, 0, [])
        if len(idx) == self.n:
            cols = {k: (self.cols.get(k) or [None] * self.n) for k in names}
            return Events(cols, self.n, self.times)
        get = itemgetter(*idx)
        if len(idx) == 1:
            i = idx[0]
            cols = {k: [c[i]] if (c := self.cols.get(k)) is not None else [None] for k in names}
            return Events(cols, 1, [self.times[i]])
        cols = {k: list(get(c)) if (c := self.cols.get(k)) is not None else [None] * len(idx)
                for k in names}
        return Events(cols, len(idx), list(get(self.times)))

    def slice(self, a: int, b: int) -> Events:
        if a == 0 and b >= self.n:
            return self
        out = Events({k: v[a:b] for k, v in self.cols.items()}, max(0, min(b, self.n) - a), self.times[a:b])
        sel = self.sel
        if sel is not None:  # the positions in [a, b), counted from a (None: none were found)
            where, pos = sel
            out.sel = (where, None if pos is None else pos[pos.searchsorted(a):pos.searchsorted(b)] - a)
        return out

    def rows(self) -> list[dict[str, Any]]:
        keys = list(self.cols)
        if not keys:
            return [{} for _ in range(self.n)]
        return [dict(zip(keys, vals, strict=False)) for vals in zip(*(self.cols[k] for k in keys), strict=False)]

    def row_tuples(self) -> list[tuple[Any, ...]]:
        if not self.cols:
            return [() for _ in range(self.n)]
        return list(zip(*self.cols.values(), strict=False))

    @classmethod
    def from_tuples(cls, keys: Sequence[str], rows: Sequence[tuple[Any, ...]], times: list[int]) -> Events:
        if not rows:
            return cls.empty(keys)
        cols = {k: list(c) for k, c in zip(keys, zip(*rows, strict=False), strict=False)} if keys else {}
        return cls(cols, len(rows), times)


class _Builder:
    """Append-only columnar buffer for batch windows."""

    __slots__ = ("keys", "cols", "times", "n")

    def __init__(self, keys: Sequence[str]) -> None:
        self.keys = list(keys)
        self.cols: dict[str, list[Any]] = {k: [] for k in keys}
        self.times: list[int] = []
        self.n = 0

    def extend(self, ev: Events) -> None:
        if not ev.cols.keys() <= self.cols.keys():  # SELECT *: a later batch brings new elements
            for k in ev.cols:
                if k not in self.cols:
                    self.keys.append(k)
                    self.cols[k] = [None] * self.n
        for k in self.keys:
            c = ev.cols.get(k)
            self.cols[k].extend(c if c is not None else [None] * ev.n)
        self.times.extend(ev.times)
        self.n += ev.n

    def done(self) -> Events:
        return Events(self.cols, self.n, self.times)


@dataclass
class Post:
    """What a window posts: ``new`` and ``old`` events; ``time`` is the release time for
    batch windows, None when each new event is posted at its own event time."""

    time: int | None
    new: Events
    old: Events


class Window:
    """Base: no timers, posts every event as it arrives (a stream without a data window)."""

    batch = False
    #: True when the WHERE clause must run after the window (count-based windows hold
    #: events regardless of WHERE, as in Esper).
    filter_after = False

    def __init__(self, keys: Sequence[str]) -> None:
        self.keys = list(keys)

    def next_due(self) -> int | None:
        return None

    def due_if_fed(self, t: int) -> int | None:
        return None

    def feed(self, ev: Events) -> list[Post]:
        return [Post(None, ev, Events.empty(self.keys))]

    def fire(self, now: int) -> list[Post]:
        return []

    def flush(self) -> list[Post]:
        """End of input for windows that release on data rather than on time."""
        return []

    def contents(self) -> list[tuple[int, tuple[Any, ...]]] | None:
        """The events the window holds, in its order, as (time, row in ``keys`` order):
        ``output snapshot`` of a statement without aggregates. None: not kept (no window,
        keepall, batches), so there is no snapshot to give."""
        return None


NoWindow = Window


class TimeBatchWindow(Window):
    """``win:time_batch(P)``: batches back to back from the first event's time.

    An event at exactly a boundary belongs to the next batch (the timer fires first). A
    release posts the batch as new and the previous batch as old; it is skipped when both
    are empty, and timers stop after an empty batch until the next event, keeping the
    boundaries aligned to the first event (Esper's reference point).

    ``where`` is the statement's WHERE: every event of the stream anchors and times the
    batches (Esper's window sees them all; WHERE filters what it posts), only passing events
    are kept, so memory stays bounded by what the statement can output.
    """

    batch = True

    def __init__(self, keys: Sequence[str], period_ms: int, where: ColumnFilter | None = None) -> None:
        super().__init__(keys)
        self.period = period_ms
        self.where = where
        self.anchor: int | None = None
        self.due: int | None = None
        self.pending = _Builder(keys)
        self.last = Events.empty(keys)
        self.raw_n = 0  # events of the stream in the current batch, WHERE or not

    def next_due(self) -> int | None:
        return self.due

    def due_if_fed(self, t: int) -> int | None:
        if self.due is not None:
            return self.due
        if self.anchor is None:
            return t + self.period
        return self.anchor + ((t - self.anchor) // self.period + 1) * self.period

    def _tick(self, ev: Events) -> None:
        """Start the timer and count the events (every event of the stream times the batches)."""
        if self.due is None:
            self.due = self.due_if_fed(ev.times[0])
            if self.anchor is None:
                self.anchor = ev.times[0]
        self.raw_n += ev.n

    def _arrive(self, ev: Events) -> Events:
        """Start the timer and count the events; return those WHERE lets through."""
        self._tick(ev)
        if self.where is None:
            return ev
        return ev.take(self._passing(ev))

    def _passing(self, ev: Events) -> list[int]:
        """The positions WHERE passes: found for the whole batch (Events.sel), or not found
        there (the columns are not for the numpy path: the generated code, at once)."""
        assert self.where is not None
        sel = ev.sel
        if sel is not None and sel[0] is self.where:
            pos = sel[1]
            return pos.tolist() if pos is not None else self.where.generated(ev.cols, ev.n)  # type: ignore[no-any-return]
        return self.where(ev.cols, ev.n)

    def feed(self, ev: Events) -> list[Post]:
        if ev.n == 0:
            return []
        self.pending.extend(self._arrive(ev))
        return []

    def fire(self, now: int) -> list[Post]:
        new = self.pending.done()
        old = self.last
        self.pending = _Builder(self.keys)
        self.last = new
        self.due = (self.due or now) + self.period if self.raw_n else None
        self.raw_n = 0
        if new.n == 0 and old.n == 0:
            return []
        return [Post(now, new, old)]


class CountingTimeBatchWindow(TimeBatchWindow):
    """A ``time_batch`` for statements that only ``count(*)`` per group: arriving events
    are counted per group key at once instead of being kept (memory: one counter per group
    of this batch and of the previous one, whose groups Esper reports again with count 0).

    ``fire`` posts ``Post(now, CountBatch, CountBatch)``: this batch's and the previous one's.
    """

    def __init__(self, keys: Sequence[str], period_ms: int,
                 key_columns: Callable[[dict[str, list[Any]], int], list[list[Any]]],
                 where: ColumnFilter | None = None,
                 keys_where: Callable[..., tuple[int, list[Sequence[Any]]]] | None = None) -> None:
        super().__init__(keys, period_ms, where)
        self.key_columns = key_columns
        #: WHERE and the group key columns in one call (compiler's compile_filtered_keys)
        self.keys_where = keys_where
        self.counts: Counter[Any] = Counter()
        self.last_counts: Counter[Any] = Counter()
        self.pending_n = 0
        self.last_n = 0

    def feed(self, ev: Events) -> list[Post]:
        if ev.n == 0:
            return []
        if self.keys_where is not None:
            self._tick(ev)
            sel = ev.sel
            if sel is not None and sel[0] is self.where:  # WHERE for the whole batch (_passing)
                m, kcols = self.keys_where(ev.cols, ev.n, self._passing(ev))
            else:
                m, kcols = self.keys_where(ev.cols, ev.n)
            if m:
                count_keys(self.counts, kcols)
                self.pending_n += m
            return []
        ev = self._arrive(ev)
        if ev.n == 0:
            return []
        count_keys(self.counts, self.key_columns(ev.cols, ev.n))
        self.pending_n += ev.n
        return []

    def fire(self, now: int) -> list[Post]:
        counts, n, last_n, last_counts = self.counts, self.pending_n, self.last_n, self.last_counts
        self.counts, self.pending_n, self.last_n, self.last_counts = Counter(), 0, n, counts
        self.due = (self.due or now) + self.period if self.raw_n else None
        self.raw_n = 0
        if n == 0 and last_n == 0:
            return []
        return [Post(now, CountBatch(counts, n), CountBatch(last_counts, last_n))]


class CountBatch(Events):
    """A released batch reduced to its per-group counts (see CountingTimeBatchWindow)."""

    __slots__ = ("counts",)

    def __init__(self, counts: Counter[Any], n: int) -> None:
        super().__init__({}, n, [])
        self.counts = counts


class TimeWindow(Window):
    """``win:time(P)``: sliding; an event that arrived at t leaves when the clock reaches t+P."""

    def __init__(self, keys: Sequence[str], period_ms: int) -> None:
        super().__init__(keys)
        self.period = period_ms
        self.live: deque[tuple[int, tuple[Any, ...]]] = deque()

    def next_due(self) -> int | None:
        return self.live[0][0] + self.period if self.live else None

    def due_if_fed(self, t: int) -> int | None:
        return self.next_due() if self.live else t + self.period

    def feed(self, ev: Events) -> list[Post]:
        if ev.n == 0:
            return []
        self.live.extend(zip(ev.times, ev.take(list(range(ev.n)), self.keys).row_tuples(), strict=False))
        return [Post(None, ev, Events.empty(self.keys))]

    def fire(self, now: int) -> list[Post]:
        gone_t: list[int] = []
        gone: list[tuple[Any, ...]] = []
        live, limit = self.live, now - self.period
        while live and live[0][0] <= limit:
            t, r = live.popleft()
            gone_t.append(t)
            gone.append(r)
        if not gone:
            return []
        return [Post(now, Events.empty(self.keys), Events.from_tuples(self.keys, gone, gone_t))]

    def flush(self) -> list[Post]:
        return []

    def contents(self) -> list[tuple[int, tuple[Any, ...]]] | None:
        return list(self.live)


class _PerEvent(Window):
    """Windows whose every arrival may push events out immediately (count/key based)."""

    def feed(self, ev: Events) -> list[Post]:
        posts: list[Post] = []
        rows = ev.take(list(range(ev.n)), self.keys).row_tuples() if ev.n else []
        for t, r in zip(ev.times, rows, strict=False):
            new = Events.from_tuples(self.keys, [r], [t])
            old = self.arrive(t, r)
            posts.append(Post(None, new, Events.from_tuples(self.keys, [o[1] for o in old],
                                                            [o[0] for o in old])))
        return posts

    def arrive(self, t: int, r: tuple[Any, ...]) -> list[tuple[int, tuple[Any, ...]]]:
        raise NotImplementedError


class LengthWindow(_PerEvent):
    """``win:length(N)``: the last N events; the N+1th pushes the oldest out."""

    filter_after = True

    def __init__(self, keys: Sequence[str], size: int) -> None:
        super().__init__(keys)
        self.size = size
        self.live: deque[tuple[int, tuple[Any, ...]]] = deque()

    def arrive(self, t: int, r: tuple[Any, ...]) -> list[tuple[int, tuple[Any, ...]]]:
        self.live.append((t, r))
        if len(self.live) > self.size:
            return [self.live.popleft()]
        return []

    def contents(self) -> list[tuple[int, tuple[Any, ...]]] | None:
        return list(self.live)


class GroupLengthWindow(_PerEvent):
    """``#groupwin(k)#length(N)``: the last N events of each key; the N+1th of a key pushes
    that key's oldest out. Memory: N events per key seen in the window."""

    filter_after = True

    def __init__(self, keys: Sequence[str], key_fn: Callable[[tuple[Any, ...]], Any], size: int) -> None:
        super().__init__(keys)
        self.key_fn = key_fn
        self.size = size
        self.live: dict[Any, deque[tuple[int, tuple[Any, ...]]]] = {}

    def arrive(self, t: int, r: tuple[Any, ...]) -> list[tuple[int, tuple[Any, ...]]]:
        k = hashable(self.key_fn(r))
        q = self.live.get(k)
        if q is None:
            q = self.live[k] = deque()
        q.append((t, r))
        if len(q) > self.size:
            return [q.popleft()]
        return []


class UniqueWindow(_PerEvent):
    """``std:unique(expr...)``: the last event per distinct key; a repeat replaces it."""

    filter_after = True

    def __init__(self, keys: Sequence[str], key_fn: Callable[[tuple[Any, ...]], Any]) -> None:
        super().__init__(keys)
        self.key_fn = key_fn
        self.live: dict[Any, tuple[int, tuple[Any, ...]]] = {}

    def arrive(self, t: int, r: tuple[Any, ...]) -> list[tuple[int, tuple[Any, ...]]]:
        k = self.key_fn(r)
        prev = self.live.pop(k, None)
        self.live[k] = (t, r)
        return [prev] if prev is not None else []

    def contents(self) -> list[tuple[int, tuple[Any, ...]]] | None:
        return list(self.live.values())  # a replaced key moves to the end: arrival order


class _Desc:
    """A sort key compared in reverse (``#sort(n, x desc)``)."""

    __slots__ = ("v",)

    def __init__(self, v: Any) -> None:
        self.v = v

    def __lt__(self, other: _Desc) -> bool:
        return bool(other.v < self.v)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Desc) and bool(self.v == other.v)

    __hash__ = None  # type: ignore[assignment]


class SortWindow(_PerEvent):
    """``#sort(n, criterion [asc|desc], ...)``: the n first events in the criteria's order.

    An arriving event is placed in order, after events with lower keys and before older ones
    with an equal key (Esper's ViewSort: among ties the newest comes first); past n the last one
    leaves, which may be the event that just arrived (then it is posted as new and old at once).
    Nulls sort first. Memory: n events.
    """

    filter_after = True

    def __init__(self, keys: Sequence[str], size: int, idx: list[int], desc: list[bool]) -> None:
        super().__init__(keys)
        self.size = size
        self.idx = idx
        self.desc = desc
        self.order: list[tuple[Any, ...]] = []  # sort keys, ascending, parallel to ``live``
        self.live: list[tuple[int, tuple[Any, ...]]] = []
        self.seq = 0

    def _key(self, r: tuple[Any, ...]) -> tuple[Any, ...]:
        out: list[Any] = []
        for i, d in zip(self.idx, self.desc, strict=True):
            v = r[i]
            k = (0,) if v is None else (1, v)
            out.append(_Desc(k) if d else k)
        self.seq += 1
        out.append(-self.seq)  # ties: newest first
        return tuple(out)

    def arrive(self, t: int, r: tuple[Any, ...]) -> list[tuple[int, tuple[Any, ...]]]:
        k = self._key(r)
        try:
            at = bisect_right(self.order, k)
        except TypeError:  # values of different types under one criterion: last among them
            at = len(self.order)
        self.order.insert(at, k)
        self.live.insert(at, (t, r))
        if len(self.live) > self.size:
            self.order.pop()
            return [self.live.pop()]
        return []

    def contents(self) -> list[tuple[int, tuple[Any, ...]]] | None:
        return list(self.live)  # in sort order, as Esper iterates a sorted window


class FirstUniqueWindow(Window):
    """``#firstunique(expr...)`` (and ``#firstevent``, one key for all): the first event per
    key enters and stays; later events with that key are not posted at all."""

    def __init__(self, keys: Sequence[str], key_fn: Callable[[tuple[Any, ...]], Any]) -> None:
        super().__init__(keys)
        self.key_fn = key_fn
        self.live: dict[Any, tuple[int, tuple[Any, ...]]] = {}

    def feed(self, ev: Events) -> list[Post]:
        if ev.n == 0:
            return []
        rows = ev.take(list(range(ev.n)), self.keys).row_tuples()
        kept: list[tuple[Any, ...]] = []
        times: list[int] = []
        for t, r in zip(ev.times, rows, strict=False):
            k = hashable(self.key_fn(r))
            if k not in self.live:
                self.live[k] = (t, r)
                kept.append(r)
                times.append(t)
        if not kept:
            return []
        return [Post(None, Events.from_tuples(self.keys, kept, times), Events.empty(self.keys))]


class FirstLengthWindow(Window):
    """``#firstlength(N)``: the first N events of the stream enter and stay; every later
    event is not posted at all (Esper's ``ViewFirstLength``: no remove stream, ever)."""

    def __init__(self, keys: Sequence[str], size: int) -> None:
        super().__init__(keys)
        self.size = size
        self.held = 0

    def feed(self, ev: Events) -> list[Post]:
        room = self.size - self.held
        if ev.n == 0 or room <= 0:
            return []
        take = list(range(min(room, ev.n)))
        self.held += len(take)
        return [Post(None, ev.take(take, self.keys), Events.empty(self.keys))]


class FirstTimeWindow(Window):
    """``#firsttime(P)``: the events that arrive within P of the statement's start enter and stay;
    every later event is not posted at all (Esper's ``ViewFirstTime``: no remove stream, and an
    event at exactly start + P is already out).

    Esper's start is the statement's deployment on the runtime clock. FlowCEP's engine runs on
    event time and a module starts with the run, so the start is the runtime's first time: its
    first watermark or, before any, its first event (``start``, set by the runtime; the first
    event fed when it is not), the same start patterns and fixed-interval contexts take."""

    def __init__(self, keys: Sequence[str], period: int) -> None:
        super().__init__(keys)
        self.period = period
        self.start: int | None = None

    def feed(self, ev: Events) -> list[Post]:
        if ev.n == 0:
            return []
        if self.start is None:
            self.start = ev.times[0]
        end = self.start + self.period
        times = ev.times
        if times[-1] < end:
            return [Post(None, ev.take(list(range(ev.n)), self.keys), Events.empty(self.keys))]
        take = [i for i, t in enumerate(times) if t < end]
        if not take:
            return []
        return [Post(None, ev.take(take, self.keys), Events.empty(self.keys))]


class ExtTimedWindow(_PerEvent):
    """``win:ext_timed(prop, P)``: sliding by a timestamp property; an event leaves when an
    event with a timestamp at least P later arrives."""

    def __init__(self, keys: Sequence[str], ts_index: int, period_ms: int) -> None:
        super().__init__(keys)
        self.ts = ts_index
        self.period = period_ms
        self.live: deque[tuple[int, tuple[Any, ...]]] = deque()

    def arrive(self, t: int, r: tuple[Any, ...]) -> list[tuple[int, tuple[Any, ...]]]:
        ts = r[self.ts]
        gone = []
        if ts is not None:
            while self.live and self.live[0][1][self.ts] is not None \
                    and self.live[0][1][self.ts] <= ts - self.period:
                gone.append(self.live.popleft())
        self.live.append((t, r))
        return gone

    def contents(self) -> list[tuple[int, tuple[Any, ...]]] | None:
        return list(self.live)


class LengthBatchWindow(Window):
    """``win:length_batch(N)``: posts every N events (previous batch as old)."""

    batch = True
    filter_after = True

    def __init__(self, keys: Sequence[str], size: int) -> None:
        super().__init__(keys)
        self.size = size
        self.pending: list[tuple[int, tuple[Any, ...]]] = []
        self.last = Events.empty(keys)

    def feed(self, ev: Events) -> list[Post]:
        posts = []
        rows = ev.take(list(range(ev.n)), self.keys).row_tuples() if ev.n else []
        for t, r in zip(ev.times, rows, strict=False):
            self.pending.append((t, r))
            if len(self.pending) >= self.size:
                new = Events.from_tuples(self.keys, [p[1] for p in self.pending],
                                         [p[0] for p in self.pending])
                posts.append(Post(t, new, self.last))
                self.last = new
                self.pending = []
        return posts


class TimeLengthBatchWindow(LengthBatchWindow):
    """``win:time_length_batch(P, N)``: a batch is released when N events are collected or
    when P has passed, whichever comes first (Esper's ``ViewTimeLengthBatch``).

    The timer starts with the first event (at its time + P). A release by count restarts it
    at that event's time + P; a timer release reschedules it P later, and a timer that finds
    both this batch and the previous one empty stops, to start again with the next event
    (not on the old boundaries). Each release posts the batch as new and the previous batch
    as old; one with both empty posts nothing."""

    def __init__(self, keys: Sequence[str], period_ms: int, size: int) -> None:
        super().__init__(keys, size)
        self.period = period_ms
        self.due: int | None = None

    def next_due(self) -> int | None:
        return self.due

    def due_if_fed(self, t: int) -> int | None:
        return self.due if self.due is not None else t + self.period

    def feed(self, ev: Events) -> list[Post]:
        posts = []
        rows = ev.take(list(range(ev.n)), self.keys).row_tuples() if ev.n else []
        for t, r in zip(ev.times, rows, strict=False):
            if self.due is None:
                self.due = t + self.period
            self.pending.append((t, r))
            if len(self.pending) >= self.size:
                posts.append(self._release(t))
                self.due = t + self.period
        return posts

    def _release(self, t: int) -> Post:
        new = Events.from_tuples(self.keys, [p[1] for p in self.pending], [p[0] for p in self.pending])
        post = Post(t, new, self.last)
        self.last, self.pending = new, []
        return post

    def fire(self, now: int) -> list[Post]:
        if not self.pending and self.last.n == 0:
            self.due = None  # nothing now and nothing before: the timer stops
            return []
        self.due = now + self.period
        return [self._release(now)]


class ExtTimedBatchWindow(Window):
    """``win:ext_timed_batch(prop, P[, ref])``: time batches by a timestamp property, released
    when an event of a later batch arrives (or at end of input).

    Batches end at ``ref + k * P`` (``ref`` defaults to the first event's timestamp). An event
    past the current batch's end releases that batch once, however many boundaries it
    crossed, and the next batch ends at the first boundary after it: Esper posts no empty
    batches for the gaps between timestamps (``ViewExternallyTimedBatched``). An event older
    than the batch joins it."""

    batch = True

    def __init__(self, keys: Sequence[str], ts_index: int, period_ms: int, ref_point: int | None = None) -> None:
        super().__init__(keys)
        self.ts = ts_index
        self.period = period_ms
        self.anchor: int | None = ref_point
        self.end: int | None = None
        self.pending: list[tuple[int, tuple[Any, ...]]] = []
        self.last = Events.empty(keys)

    def _end_after(self, ts: int) -> int:
        assert self.anchor is not None
        return self.anchor + ((ts - self.anchor) // self.period + 1) * self.period

    def _release(self, at: int) -> list[Post]:
        new = Events.from_tuples(self.keys, [p[1] for p in self.pending], [p[0] for p in self.pending])
        old, self.last, self.pending = self.last, new, []
        if new.n == 0 and old.n == 0:
            return []
        return [Post(at, new, old)]

    def feed(self, ev: Events) -> list[Post]:
        posts: list[Post] = []
        rows = ev.take(list(range(ev.n)), self.keys).row_tuples() if ev.n else []
        for t, r in zip(ev.times, rows, strict=False):
            ts = r[self.ts]
            if ts is None:
                continue
            if self.anchor is None:
                self.anchor = ts
            if self.end is None:
                self.end = self._end_after(ts)
            elif ts >= self.end:
                posts.extend(self._release(t))
                self.end = self._end_after(ts)
            self.pending.append((t, r))
        return posts

    def flush(self) -> list[Post]:
        out = []
        while self.pending or self.last.n:
            out.extend(self._release(self.last.times[-1] if self.last.n and not self.pending
                                     else self.pending[-1][0]))
        return out
