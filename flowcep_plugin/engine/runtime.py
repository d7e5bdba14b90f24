"""Runtime: the state of one module run, fed with time-ordered batches and watermarks.

Time follows Esper with an external clock: the engine time is the event time of the last
event (or the watermark); a timer due at t fires before any event at t or later is
processed; rows inserted into a stream at t are processed after every timer due at t fired.
Batches are processed as whole segments between timers: the WHERE clause of a statement runs
once over a batch's columns, and a segment is only cut where some window has a timer.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import Counter, deque
from collections.abc import Callable
from itertools import islice
from operator import itemgetter, le
from typing import TYPE_CHECKING, Any

from .aggregates import aggregate_groups, make_state_factory
from .plan import Module, SelectPlan, StreamPlan, register_runtime
from .rows import Row
from .windows import (
    CountBatch,
    CountingTimeBatchWindow,
    Events,
    ExtTimedBatchWindow,
    ExtTimedWindow,
    FirstUniqueWindow,
    GroupLengthWindow,
    LengthBatchWindow,
    LengthWindow,
    Post,
    TimeBatchWindow,
    TimeWindow,
    UniqueWindow,
    Window,
    hashable,
)

if TYPE_CHECKING:
    from ..records import FlowBatch

__all__ = ["DEFAULT_MAX_GROUPS", "Row", "Runtime"]

#: groups one statement keeps aggregation state for when no data window bounds them (no
#: window, keepall, firstunique...). Past it the oldest group is evicted (its aggregates start
#: again from nothing if it returns) and the eviction is counted: ``engine.groups_evicted``.
DEFAULT_MAX_GROUPS = 1_000_000

_INF = float("inf")


def _ishashable(k: Any) -> bool:
    try:
        hash(k)
    except TypeError:
        return False
    return True


def _make_window(sp: StreamPlan, keys: list[str], plan: SelectPlan | None = None) -> Window:
    v = sp.view
    if v is None:
        return Window(keys)
    name = v.name
    if name == "time_batch":
        if plan is not None and len(plan.streams) == 1 and plan.grouped and plan.count_only \
                and plan.grp_emit is not None and plan.col_group is not None and sp.post_filter is None:
            w: TimeBatchWindow = CountingTimeBatchWindow(keys, sp.view_arg, plan.col_group, sp.window_where)
        else:
            w = TimeBatchWindow(keys, sp.view_arg, sp.window_where)
        w.anchor = sp.ref_point  # time_batch(P, reference point); None: the first event
        return w
    if name == "time":
        return TimeWindow(keys, sp.view_arg)
    if name == "length":
        return LengthWindow(keys, sp.view_arg)
    if name == "length_batch":
        return LengthBatchWindow(keys, sp.view_arg)
    if name == "ext_timed":
        assert sp.ts_index is not None
        return ExtTimedWindow(keys, sp.ts_index, sp.view_arg)
    if name == "ext_timed_batch":
        assert sp.ts_index is not None
        return ExtTimedBatchWindow(keys, sp.ts_index, sp.view_arg)
    if name == "unique":
        idx = list(sp.view_arg)
        return UniqueWindow(keys, lambda r: tuple(r[i] for i in idx))
    if name == "firstunique":
        fidx = list(sp.view_arg)
        return FirstUniqueWindow(keys, lambda r: tuple(r[i] for i in fidx))
    if name == "firstevent":
        return FirstUniqueWindow(keys, lambda r: ())
    if name == "groupwin_length":
        gidx, size = sp.view_arg
        return GroupLengthWindow(keys, lambda r: tuple(r[i] for i in gidx), size)
    if name == "lastevent":
        return LengthWindow(keys, 1)
    if name == "keepall":  # aggregates over every event so far; a join keeps every row
        return Window(keys)
    raise AssertionError(name)


class _Limiter:
    """``output [all|first|last|snapshot] every P``, after Esper's output reference tables
    (ResultSetOutputLimitSimple/RowForAll/RowPerGroup regression tests).

    Intervals run back to back, forever, from the first result the window posts to the
    statement (OutputConditionTime starts on its first update). ``mode`` is Esper's statement
    kind: ``simple`` (no aggregates), ``forall`` (aggregated, ungrouped), ``pergroup``
    (aggregated, grouped), ``perevent`` (aggregates beside event properties).

    * default/all: the rows of the interval; an ungrouped aggregation repeats its current row
      on an interval without updates; ``all`` over groups outputs every group's current row.
    * last: the last row (per group); ungrouped aggregation repeats like ``all``.
    * first: the first row (per group) of an interval is output at once.
    * snapshot: the current row of the aggregation (of every group) at each interval end.
    """

    def __init__(self, kind: str, period: int, mode: str) -> None:
        self.kind = kind
        self.period = period
        self.mode = mode
        self.anchor: int | None = None
        self.due: int | None = None
        self.buf: dict[Any, Row] | list[Row] = {} if kind == "last" else []
        self.seen: set[Any] = set()
        self.updates = 0
        #: the current row of an ungrouped aggregation (None: HAVING rejects it now)
        self.current: Row | None = None
        #: the current row of each group (``all``/``snapshot`` over groups, without HAVING)
        self.group_rows: dict[Any, Row] = {}
        #: events per group in the window (``snapshot`` shows only groups that have some)
        self.group_n: Counter[Any] = Counter()

    @property
    def started(self) -> bool:
        return self.due is not None

    def start(self, t: int) -> None:
        if self.due is None:
            self.anchor = t
            self.due = t + self.period

    def due_if_fed(self, t: int) -> int:
        """The interval end an event at ``t`` would fall in (its timer must fire first)."""
        return self.due if self.due is not None else t + self.period

    def drop(self, key: Any) -> None:
        """The group's latest update fails HAVING: ``last`` must not output an older row."""
        if isinstance(self.buf, dict):
            self.buf.pop(key, None)

    def add(self, rows: list[tuple[Any, Row]]) -> list[Row]:
        out: list[Row] = []
        for key, row in rows:
            if self.mode == "pergroup" and self.kind in ("all", "snapshot"):
                self.group_rows[key] = row
            if self.kind == "first":
                if key not in self.seen:
                    self.seen.add(key)
                    out.append(row)
            elif self.kind == "last":
                assert isinstance(self.buf, dict)
                self.buf.pop(key, None)
                self.buf[key] = row
            elif self.kind == "default" or (self.kind == "all" and self.mode != "pergroup"):
                assert isinstance(self.buf, list)
                self.buf.append(row)
        return out

    def pending(self) -> bool:
        """Whether firing would output anything but a repetition (end of input stops there)."""
        return bool(self.buf) or (self.kind in ("all", "snapshot") and self.mode == "pergroup"
                                  and self.updates > 0)

    def fire(self, now: int) -> list[Row]:
        kind, mode = self.kind, self.mode
        if kind == "snapshot" or (kind == "all" and mode == "pergroup"):
            if mode != "pergroup":
                rows = [self.current] if self.current is not None else []
            elif kind == "snapshot":
                rows = [r for k, r in self.group_rows.items() if self.group_n[k] > 0]
            else:
                rows = list(self.group_rows.values())
        else:
            rows = list(self.buf.values()) if isinstance(self.buf, dict) else self.buf
            if kind != "first" and mode == "forall" and not self.updates and self.current is not None:
                rows = [self.current]
        self.buf = {} if kind == "last" else []
        self.seen = set()
        self.updates = 0
        self.due = (self.due if self.due is not None else now) + self.period
        return [r._replace(time_ms=now) for r in rows]


def _limit_mode(plan: SelectPlan) -> str:
    if not plan.aggregated:
        return "simple"
    if plan.per_event:
        return "perevent"
    return "pergroup" if plan.grouped else "forall"


class _Stmt:
    """Runtime state of one SELECT statement (single stream or join)."""

    def __init__(self, plan: SelectPlan, counters: Counter[str] | None = None,
                 max_groups: int = DEFAULT_MAX_GROUPS, stats: Any = None) -> None:
        self.plan = plan
        self.counters: Counter[str] = Counter() if counters is None else counters
        self.max_groups = max_groups
        self.stats = stats
        self.name = plan.info.name
        self.stream = plan.info.stream
        self.insert_into = plan.info.insert_into
        self.names = plan.value_names or plan.info.select_names
        self.windows: list[Window | None] = [None] * len(plan.streams)
        self.single = len(plan.streams) == 1
        self.repos: list[list[dict[str, Any]]] = [[] for _ in plan.streams]
        self.groups: dict[Any, list[Any]] = {}
        self.prior_hist: dict[str, deque[Any]] = {}
        self.factories = [make_state_factory(k, d) for k, d, _s in plan.aggs]
        # whether a group that left (empty aggregates) can pass HAVING: when HAVING reads
        # only aggregates it is decided once here (count(*) > 16 never passes at count 0),
        # sparing the search for departed groups in every batch
        self.departed_rows = True
        if plan.grp_having is not None and not plan.having_reads_keys and not plan.having_per_event:
            empty = [f().value() for f in self.factories]
            self.departed_rows = bool(plan.grp_having((), empty, *([None] * len(plan.streams))))
        self.limiter = (_Limiter(plan.output.kind, plan.output.ms, _limit_mode(plan))
                        if plan.output and plan.output.ms else None)
        # a window that posts each arriving event as it comes, WHERE already applied: the
        # output intervals start with the first event fed
        sp0 = plan.streams[0]
        self.limit_on_feed = self.single and sp0.post_filter is None and (
            sp0.view is None or sp0.view.name in ("time", "keepall"))
        # ORDER BY/LIMIT/DISTINCT per output step: the limiter's releases when rate limited,
        # else each post (a batch release, a timer) or each arriving event
        self.shape = plan.shape
        self.step_shape = plan.shape if self.limiter is None else None

    # -- input ---------------------------------------------------------------------------------
    def window(self, idx: int, ev: Events | None = None) -> Window:
        w = self.windows[idx]
        if w is None:
            sp = self.plan.streams[idx]
            keys = sp.keys if sp.keys is not None else (list(ev.cols) if ev is not None else [])
            w = self.windows[idx] = _make_window(sp, keys, self.plan)
        return w

    def prefilter(self, idx: int, ev: Events) -> Events:
        sp = self.plan.streams[idx]
        if sp.filter is not None:
            sel = sp.filter(ev.cols, ev.n)
            out = ev.take(sel, sp.keys)
        elif sp.keys is not None:
            out = Events({k: (ev.cols.get(k) or [None] * ev.n) for k in sp.keys}, ev.n, ev.times)
        else:
            out = ev
        if sp.priors and out.n:
            self._priors(sp, out)
        return out

    def _priors(self, sp: StreamPlan, ev: Events) -> None:
        """Fill the ``prior(n, p)`` columns: each event sees the values of the events of the
        stream before it (kept: the largest n per property, so memory is bounded)."""
        for syn, n, src in sp.priors:
            hist = self.prior_hist.get(syn)
            if hist is None:
                hist = self.prior_hist[syn] = deque(maxlen=n + 1)
            col = ev.cols.get(src) or [None] * ev.n
            vals: list[Any] = []
            for v in col:
                hist.append(v)
                vals.append(hist[0] if len(hist) == n + 1 else None)
            ev.cols[syn] = vals

    def next_due(self, final: bool = False) -> int | None:
        """The next timer; ``final`` (end of input): output intervals that would only repeat
        the current rows are not fired (they would repeat forever)."""
        due = None
        for w in self.windows:
            if w is not None:
                d = w.next_due()
                if d is not None and (due is None or d < due):
                    due = d
        lim = self.limiter
        if lim is not None and lim.due is not None and (not final or due is not None or lim.pending()):
            if due is None or lim.due < due:
                due = lim.due
        return due

    def due_if_fed(self, idx: int, t: int) -> int | None:
        w = self.windows[idx]
        if w is None:  # not built before its first events (SELECT * takes their columns)
            due = _make_window(self.plan.streams[idx], [], self.plan).due_if_fed(t)
        else:
            due = w.due_if_fed(t)
        lim = self.limiter
        if lim is not None:  # the output interval this event opens ends a segment
            if lim.started or self.limit_on_feed:
                ld = lim.due_if_fed(t)
            elif self.windows[idx] is not None and self.windows[idx].batch:  # type: ignore[union-attr]
                ld = None  # starts at a release, which is a timer of its own
            else:
                ld = t + 1  # may start at any event: feed one timestamp at a time until then
            if ld is not None and (due is None or ld < due):
                due = ld
        return due

    def feed(self, idx: int, ev: Events) -> list[Row]:
        if self.limiter is not None and ev.n and self.limit_on_feed:
            self.limiter.start(ev.times[0])
        rows: list[tuple[Any, Row]] = []
        for post in self.window(idx, ev).feed(ev):
            self.on_post(idx, post, rows)
        return self._limit(rows)

    def fire(self, now: int) -> list[Row]:
        rows: list[tuple[Any, Row]] = []
        for idx, w in enumerate(self.windows):
            if w is not None and w.next_due() == now:
                for post in w.fire(now):
                    self.on_post(idx, post, rows)
        out = self._limit(rows)
        if self.limiter is not None and self.limiter.due == now:
            released = self.limiter.fire(now)
            out.extend(self.shape(released) if self.shape is not None and released else released)
        return out

    def flush(self) -> list[Row]:
        rows: list[tuple[Any, Row]] = []
        for idx, w in enumerate(self.windows):
            if w is not None:
                for post in w.flush():
                    self.on_post(idx, post, rows)
        return self._limit(rows)

    def _limit(self, rows: list[tuple[Any, Row]]) -> list[Row]:
        if self.limiter is None:
            return [r for _k, r in rows]
        out = self.limiter.add(rows)  # output first: what it lets through now is one step
        return self.shape(out) if self.shape is not None and out else out

    def _step(self, out: list[tuple[Any, Row]], start: int) -> None:
        """Shape ``out[start:]`` as the rows of one output step (ORDER BY, LIMIT, DISTINCT)."""
        assert self.step_shape is not None
        rows = self.step_shape([r for _k, r in out[start:]])
        out[start:] = [(None, r) for r in rows]

    def _step_each(self, out: list[tuple[Any, Row]], start: int) -> None:
        """Rows of events that arrived one by one: each event's row is its own step."""
        shape = self.step_shape
        assert shape is not None
        rows = out[start:]
        del out[start:]
        for _k, r in rows:
            out.extend((None, x) for x in shape([r]))

    def _row(self, t: int, values: tuple[Any, ...]) -> Row:
        return Row(self.name, self.stream, t, dict(zip(self.names, values, strict=False)))

    # -- posts -----------------------------------------------------------------------------------
    def on_post(self, idx: int, post: Post, out: list[tuple[Any, Row]]) -> None:
        sp = self.plan.streams[idx]
        new, old = post.new, post.old
        start = len(out)
        if sp.post_filter is not None:
            arrival = new.times[-1] if new.n else None
            if new.n:
                new = new.take(sp.post_filter(new.cols, new.n))
            if old.n:
                old = old.take(sp.post_filter(old.cols, old.n))
            if post.time is None and not new.n and old.n and arrival is not None:
                # only events pushed out pass WHERE: the rows are at the arriving event's time
                post = Post(arrival, new, old)
        lim = self.limiter
        updates = lim.updates if lim is not None else 0
        if lim is not None and (new.n or old.n) and self.single:  # joins: in join_post
            lim.start(post.time if post.time is not None else (new.times[0] if new.n else old.times[0]))
            lim.updates += 1
        if isinstance(new, CountBatch):
            assert self.plan.grp_emit is not None and post.time is not None
            counts: dict[Any, int] = new.counts
            if isinstance(old, CountBatch) and old.counts and self.departed_rows:
                # Esper outputs every group of the new and the old batch, each with its new count
                gone = [k for k in old.counts if k not in counts]
                if gone:
                    counts = dict(counts)
                    counts.update(dict.fromkeys(gone, 0))
            self.plan.grp_emit(counts, post.time, out, Row, self.name, self.stream)
        elif not self.single:
            self.join_post(idx, post.time, new, old, out)
        elif not self.plan.aggregated:
            self.simple_post(post.time, new, out)
        elif post.time is not None and isinstance(self.windows[idx], (TimeBatchWindow, LengthBatchWindow,
                                                                       ExtTimedBatchWindow)):
            self.batch_agg_post(post.time, new, old, out)
        else:
            self.incremental_post(post.time, new, old, out)
        if lim is not None and lim.mode == "forall" and lim.updates != updates:
            # the current row of the ungrouped aggregation, repeated on quiet intervals
            lim.current = out[-1][1] if len(out) > start else None
        if self.step_shape is not None and len(out) > start:
            if post.time is not None:
                self._step(out, start)
            elif self.single:  # joins shape each arriving event's rows in join_post
                self._step_each(out, start)

    def simple_post(self, t: int | None, new: Events, out: list[tuple[Any, Row]]) -> None:
        if new.n == 0:
            return
        plan = self.plan
        if plan.col_having is not None:
            new = new.take(plan.col_having(new.cols, new.n))
            if new.n == 0:
                return
        if plan.star:
            for i, event in enumerate(new.rows()):
                kept = {k: v for k, v in event.items() if v is not None}
                out.append((None, Row(self.name, self.stream, t if t is not None else new.times[i], kept)))
            return
        assert plan.col_select is not None
        cols = plan.col_select(new.cols, new.n)
        names, name, stream = self.names, self.name, self.stream
        times = new.times if t is None else [t] * new.n
        for ti, vals in zip(times, zip(*cols, strict=False), strict=False):
            out.append((None, Row(name, stream, ti, dict(zip(names, vals, strict=False)))))

    def batch_agg_post(self, t: int, new: Events, old: Events, out: list[tuple[Any, Row]]) -> None:
        """A released batch replaces the previous one: aggregate the new batch afresh."""
        plan = self.plan
        assert plan.col_group is not None and plan.col_args is not None and plan.grp_select is not None
        n = new.n
        if plan.grouped:
            kcols = plan.col_group(new.cols, n)
            keys: Any = zip(*kcols, strict=False) if n else []
            if plan.per_event or not plan.count_only:
                keys = list(keys)
        else:
            if n == 0 and old.n == 0:
                return
            keys = [()] * n
        results: dict[Any, Any] = {}
        if plan.count_only:
            try:
                counts = Counter(keys)
            except TypeError:  # a list-valued key (basicList): group by its tuple form
                kcols = plan.col_group(new.cols, n)
                keys = [tuple(hashable(v) for v in k) for k in zip(*kcols, strict=False)]
                counts = Counter(keys)
            if plan.grp_emit is not None:
                if not plan.grouped and not counts:
                    counts[()] = 0
                if plan.grouped and old.n and self.departed_rows:
                    for k in self._group_keys(old):
                        counts.setdefault(k, 0)
                plan.grp_emit(counts, t, out, Row, self.name, self.stream)
                return
            naggs = len(plan.aggs)
            for k, c in counts.items():
                results[k] = [c] * naggs
        else:
            argcols = plan.col_args(new.cols, n)
            keys = [k if _ishashable(k) else tuple(hashable(v) for v in k) for k in keys]
            results = aggregate_groups(keys, argcols, plan.aggs)
        if not plan.grouped and not results:
            results[()] = [f().value() for f in self.factories]
        if plan.grouped and not plan.per_event and old.n and self.departed_rows:
            self._add_departed(results, old)
        having, select = plan.grp_having, plan.grp_select
        if plan.grp_emit is not None:
            plan.grp_emit(results, t, out, Row, self.name, self.stream)
            return
        if plan.per_event:
            if having is not None and not plan.having_per_event:
                passing = {k for k, a in results.items() if having(k, a, None)}
                idx = [i for i, k in enumerate(keys) if k in passing]
                if not idx:
                    return
                sub = new.take(idx)
                for i, r in zip(idx, sub.rows(), strict=False):
                    k = keys[i]
                    out.append((k, self._row(t, select(k, results[k], r))))
                return
            for k, r in zip(keys, new.rows(), strict=False):
                a = results[k]
                if having is None or having(k, a, r):
                    out.append((k, self._row(t, select(k, a, r))))
            return
        for k, a in results.items():
            if having is None or having(k, a, None):
                out.append((k, self._row(t, select(k, a, None))))

    def _group_keys(self, ev: Events) -> list[Any]:
        """The group keys of ``ev``'s events (tuples; list values in their tuple form)."""
        plan = self.plan
        assert plan.col_group is not None
        kcols = plan.col_group(ev.cols, ev.n)
        return [k if _ishashable(k) else tuple(hashable(v) for v in k) for k in zip(*kcols, strict=False)]

    def _add_departed(self, results: dict[Any, Any], old: Events) -> None:
        """Groups of the batch that left and not in the new one: Esper outputs them too,
        with their new (empty) aggregate values: count 0, sum/avg/min/max null."""
        for k in self._group_keys(old):
            if k not in results:
                results[k] = [f().value() for f in self.factories]

    def _states(self, k: Any) -> list[Any]:
        st = self.groups.get(k)
        if st is None:
            if len(self.groups) >= self.max_groups:
                self._evict_group()
            st = self.groups[k] = [f() for f in self.factories]
        return st

    def _evict_group(self) -> None:
        """Past ``max_groups``: forget the oldest group, counted (hostile input could create
        a group per record)."""
        oldest = next(iter(self.groups))
        del self.groups[oldest]
        if self.limiter is not None:
            self.limiter.group_rows.pop(oldest, None)
            self.limiter.group_n.pop(oldest, None)
        self.counters["engine.groups_evicted"] += 1
        if self.stats is not None:
            self.stats.add("engine.groups_evicted")

    def incremental_post(self, t: int | None, new: Events, old: Events, out: list[tuple[Any, Row]]) -> None:
        """Sliding windows: leave the old events, enter the new, one update per arrival."""
        if new.n == 0 and old.n == 0:
            return
        plan = self.plan
        assert plan.row_group is not None and plan.row_args is not None
        group, args_of = plan.row_group, plan.row_args
        left: dict[Any, None] = {}
        counting = self.limiter is not None and self.limiter.kind == "snapshot" and plan.grouped
        for r in old.rows():
            k = group(r) if plan.grouped else ()
            left[k] = None
            if counting:
                assert self.limiter is not None
                self.limiter.group_n[k] -= 1
            st = self._states(k)
            for s, a in zip(st, args_of(r), strict=False):
                s.leave(a)
        new_rows = new.rows()
        if counting:
            assert self.limiter is not None
            for r in new_rows:
                self.limiter.group_n[group(r)] += 1
        if t is None and new_rows:
            for i, (ti, r) in enumerate(zip(new.times, new_rows, strict=False)):
                k = group(r) if plan.grouped else ()
                st = self._states(k)
                for s, a in zip(st, args_of(r), strict=False):
                    s.enter(a)
                self._emit_group(ti, k, st, out, (r,))
                if i == 0 and not plan.per_event:
                    # the events this arrival pushed out: their groups are output too
                    for lk in left:
                        if lk != k:
                            self._emit_group(ti, lk, self._states(lk), out)
            return
        touched: dict[Any, Any] = {}
        for r in new_rows:
            k = group(r) if plan.grouped else ()
            st = self._states(k)
            for s, a in zip(st, args_of(r), strict=False):
                s.enter(a)
            touched[k] = r
        at = t if t is not None else (new.times[-1] if new.n else old.times[-1])
        if plan.per_event:
            for r in new_rows:
                k = group(r) if plan.grouped else ()
                self._emit_group(at, k, self._states(k), out, (r,))
        else:
            if not plan.grouped:
                touched = {(): None}
            else:
                for k in left:
                    touched.setdefault(k, None)
            for k in touched:
                self._emit_group(at, k, self._states(k), out)
        self._prune()

    def _emit_group(self, t: int, k: Any, st: list[Any], out: list[tuple[Any, Row]],
                    rows: tuple[Any, ...] | None = None) -> None:
        plan = self.plan
        a = [s.value() for s in st]
        r = rows if rows is not None else (None,) * len(plan.streams)
        assert plan.grp_select is not None
        if plan.grp_having is None or plan.grp_having(k, a, *r):
            out.append((k, self._row(t, plan.grp_select(k, a, *r))))
        elif self.limiter is not None:
            self.limiter.drop(k)

    def _prune(self) -> None:
        if len(self.groups) > 1024 and self.plan.grouped:
            dead = [k for k, st in self.groups.items() if all(s.value() in (0, None) for s in st)]
            for k in dead:
                del self.groups[k]

    # -- joins ------------------------------------------------------------------------------------
    def _join(self, s: int, rows: list[dict[str, Any]]) -> list[tuple[dict[str, Any], ...]]:
        k = len(self.repos)
        order = [s] + [i for i in range(k) if i != s]
        bound: set[int] = set()
        levels: list[list[Callable[..., Any]]] = []
        done: set[int] = set()
        for si in order:
            bound.add(si)
            here = []
            for j, (used, fn) in enumerate(self.plan.conjuncts):
                if j not in done and used <= bound:
                    here.append(fn)
                    done.add(j)
            levels.append(here)
        # equality conditions with an already bound stream become hash lookups
        lookups: list[tuple[int, str, str] | None] = [None]
        bound = {s}
        for si in order[1:]:
            hit = None
            for s1, k1, s2, k2 in self.plan.equi:
                if s1 == si and s2 in bound:
                    hit = (s2, k2, k1)
                elif s2 == si and s1 in bound:
                    hit = (s1, k1, k2)
                if hit:
                    break
            lookups.append(hit)
            bound.add(si)
        indexes: list[dict[Any, list[dict[str, Any]]] | None] = [None] * k
        for level, hit in enumerate(lookups):
            if hit is not None:
                si = order[level]
                ix: dict[Any, list[dict[str, Any]]] = {}
                for row in self.repos[si]:
                    ix.setdefault(row.get(hit[2]), []).append(row)
                indexes[level] = ix
        out: list[tuple[dict[str, Any], ...]] = []
        r: list[Any] = [None] * k
        repos = self.repos
        empty: list[dict[str, Any]] = []

        def rec(level: int) -> None:
            if level == k:
                out.append(tuple(r))
                return
            si = order[level]
            conds = levels[level]
            hit = lookups[level]
            if level == 0:
                cands = rows
            elif hit is not None:
                ix = indexes[level]
                assert ix is not None
                cands = ix.get(r[hit[0]].get(hit[1]), empty)
            else:
                cands = repos[si]
            for row in cands:
                r[si] = row
                for c in conds:
                    if not c(*r):
                        break
                else:
                    rec(level + 1)
            r[si] = None

        rec(0)
        return out

    def join_post(self, s: int, t: int | None, new: Events, old: Events, out: list[tuple[Any, Row]]) -> None:
        plan = self.plan
        old_rows = old.rows()
        repo = self.repos[s]
        for r in old_rows:
            try:
                repo.remove(r)
            except ValueError:
                pass
        old_results = self._join(s, old_rows) if plan.aggregated else []
        new_rows = new.rows()
        if t is None:
            per_event = [(ti, self._join(s, [r])) for ti, r in zip(new.times, new_rows, strict=False)]
        else:
            per_event = [(t, self._join(s, new_rows))]
        repo.extend(new_rows)
        lim = self.limiter
        if lim is not None and (old_results or any(res for _t, res in per_event)):
            # Esper's output condition starts with the first join result, not with any event
            first_t = per_event[0][0] if per_event else (t if t is not None else old.times[-1])
            lim.start(first_t)
            lim.updates += 1
        each = t is None and self.step_shape is not None
        if not plan.aggregated:
            assert plan.row_select is not None
            for ti, results in per_event:
                start = len(out)
                for res in results:
                    out.append((None, self._row(ti, plan.row_select(*res))))
                if each:
                    self._step(out, start)
            return
        assert plan.row_group is not None and plan.row_args is not None
        left: dict[Any, None] = {}
        for res in old_results:
            k = plan.row_group(*res) if plan.grouped else ()
            left[k] = None
            st = self._states(k)
            for sa, a in zip(st, plan.row_args(*res), strict=False):
                sa.leave(a)
        if not per_event and left:
            per_event = [(old.times[-1], [])]
        for n_step, (ti, results) in enumerate(per_event):
            start = len(out)
            touched: dict[Any, None] = {}
            for res in results:
                k = plan.row_group(*res) if plan.grouped else ()
                st = self._states(k)
                for sa, a in zip(st, plan.row_args(*res), strict=False):
                    sa.enter(a)
                touched[k] = None
            if plan.per_event:
                for res in results:
                    k = plan.row_group(*res) if plan.grouped else ()
                    self._emit_group(ti, k, self._states(k), out, res)
            else:
                if not plan.grouped:
                    # a post that joins nothing (in or out) changes nothing: no row
                    touched = {(): None} if results or (n_step == 0 and left) else {}
                elif n_step == 0:
                    for k in left:  # groups whose joined rows left: Esper outputs them too
                        touched.setdefault(k, None)
                for k in touched:
                    self._emit_group(ti, k, self._states(k), out)
            if each:
                self._step(out, start)
        self._prune()


class Runtime:
    """Independent state of one module; feed it time-ordered batches and watermarks."""

    def __init__(self, module: Module, stats: Any = None, max_groups: int = DEFAULT_MAX_GROUPS) -> None:
        from .patterns import PatternStmt

        if max_groups < 1:
            raise ValueError("max_groups must be at least 1")
        self.module = module
        #: engine counters by reason (``engine.groups_evicted``: groups evicted); also added
        #: to the run's Stats (a gauge counter, ``stats.add``) when it is given
        self.counters: Counter[str] = Counter()
        self.stmts: list[Any] = []
        self.consumers: dict[str, list[tuple[Any, int]]] = {}
        for plan in module.plans:
            st = PatternStmt(plan) if plan.pattern is not None else _Stmt(plan, self.counters, max_groups, stats)
            self.stmts.append(st)
            for idx, sp in enumerate(plan.streams):
                self.consumers.setdefault(sp.stream, []).append((st, idx))
        sd = module.streams[module.input_stream]
        self.time_key = sd.time_key
        self.now: int | None = None
        self.one_by_one = self._order_sensitive()

    def _order_sensitive(self) -> set[str]:
        """Streams whose events must be processed one at a time to give Esper's rows.

        Esper processes an event completely (its INSERT INTO events included) before the next
        one. Feeding a whole batch at once gives the same rows unless a consumer produces
        rows on arrival that are inserted into a stream someone reads (a join or window
        downstream would see them late), or a statement reads the stream twice (self-join).
        Streams feeding only time_batch windows, or nothing routed, keep whole-batch speed.
        """
        out: set[str] = set()
        for stream, consumers in self.consumers.items():
            seen: set[int] = set()
            for st, idx in consumers:
                if id(st) in seen:
                    out.add(stream)
                seen.add(id(st))
                routes = st.insert_into is not None and st.insert_into in self.consumers
                view = st.plan.streams[idx].view if idx < len(st.plan.streams) else None
                if routes and (view is None or view.name != "time_batch"):
                    out.add(stream)
        return out

    # -- API ------------------------------------------------------------------------------------
    def on_batch(self, batch: FlowBatch) -> list[Row]:
        """Process a time-ordered batch of flows; return the rows produced meanwhile."""
        n = len(batch)
        if n == 0:
            return []
        if self.time_key is None:
            times = batch.event_times()
        else:
            col = batch.get(self.time_key)
            times = [int(v) if v is not None else -1 for v in col]
        cols = batch.columns
        if not all(map(le, times, islice(times, 1, None))):
            # the host releases batches sorted by flow end; a schema timestamp naming another
            # element (or a caller feeding unsorted data) needs a stable sort here
            order = sorted(range(n), key=times.__getitem__)
            get = itemgetter(*order) if n > 1 else (lambda c: (c[0],))
            cols = {k: list(get(v)) for k, v in cols.items()}
            times = [times[i] for i in order]
        out: list[Row] = []
        self._pattern_clock(times[0], times[-1])  # h-patterns
        self.feed_stream(self.module.input_stream, Events(cols, n, times), out)
        return out

    def on_watermark(self, ms: int) -> list[Row]:
        """No record older than ``ms`` will come: fire every timer due at or before it."""
        out: list[Row] = []
        if self.now is None:  # h-patterns: patterns start with the runtime's clock
            self._pattern_clock(ms, None)
        while True:
            due = self.next_due()
            if due is None or due > ms:
                break
            self.fire_at(due, out)
        if self.now is None or ms > self.now:
            self.now = ms
        return out

    def flush(self) -> list[Row]:
        """End of input: the clock runs to infinity, releasing every pending window."""
        out: list[Row] = []
        for _ in range(10_000_000):
            due = self.next_due(final=True)
            if due is None:
                break
            self.fire_at(due, out)
        for st in self.stmts:
            self.emit(st, st.flush(), out)
        return out

    def _pattern_clock(self, first: int, last: int | None) -> None:
        """Patterns start with the runtime's clock (Esper starts them with their statement);
        the events' time bounds how far their timers run at the end of input."""
        for st in self.stmts:
            clock = getattr(st, "clock", None)
            if clock is not None:
                if self.now is None:
                    st.start(first)
                if last is not None:
                    clock(last)

    # -- scheduling -------------------------------------------------------------------------------
    def next_due(self, final: bool = False) -> int | None:
        due = None
        for st in self.stmts:
            d = st.next_due(final) if final and isinstance(st, _Stmt) else st.next_due()
            if d is not None and (due is None or d < due):
                due = d
        return due

    def fire_at(self, due: int, out: list[Row]) -> None:
        self.now = due if self.now is None or due > self.now else self.now
        produced = []
        for st in self.stmts:
            if st.next_due() == due:
                produced.append((st, st.fire(due)))
        for st, rows in produced:
            self.emit(st, rows, out)

    def emit(self, st: Any, rows: list[Row], out: list[Row]) -> None:
        if not rows:
            return
        out.extend(rows)
        if st.insert_into is not None and st.insert_into in self.consumers:
            dicts = [r.values for r in rows]
            if st.plan.star:  # rows may differ in keys (absent values are left out)
                names: list[str] = []
                for d in dicts:
                    names.extend(k for k in d if k not in names)
                cols = {k: [d.get(k) for d in dicts] for k in names}
            else:  # every row has exactly the select names
                cols = {k: list(map(itemgetter(k), dicts)) for k in st.plan.info.select_names}
            self.feed_stream(st.insert_into, Events(cols, len(rows), [r.time_ms for r in rows]), out)

    def feed_stream(self, stream: str, ev: Events, out: list[Row]) -> None:
        """Feed events of ``stream`` to its consumers, firing timers in between as due."""
        consumers = self.consumers.get(stream)
        if not consumers or ev.n == 0:
            return
        if stream in self.one_by_one and ev.n > 1:
            for i in range(ev.n):
                self._feed(stream, consumers, ev.slice(i, i + 1), out)
            return
        self._feed(stream, consumers, ev, out)

    def _feed(self, stream: str, consumers: list[tuple[Any, int]], ev: Events, out: list[Row]) -> None:
        staged: list[list[Any]] = []
        for st, idx in consumers:
            e = st.prefilter(idx, ev)
            if e.n:
                staged.append([st, idx, e, 0])
        last = ev.times[-1]
        while staged:
            due = self.next_due()
            first = min(it[2].times[it[3]] for it in staged)
            if due is not None and due <= first:
                self.fire_at(due, out)
                continue
            limit: float = due if due is not None else _INF
            for st, idx, e, pos in staged:
                t0 = e.times[pos]
                if t0 < limit:
                    d = st.due_if_fed(idx, t0)
                    if d is not None and d < limit:
                        limit = d
            for it in staged:
                st, idx, e, pos = it
                end = e.n if limit == _INF else bisect_left(e.times, limit, pos)
                if end > pos:
                    it[3] = end
                    rows = st.feed(idx, e.slice(pos, end))
                    self.emit(st, rows, out)
            staged = [it for it in staged if it[3] < it[2].n]
        if self.now is None or last > self.now:
            self.now = last


def _new_runtime(module: Module, stats: Any = None, max_groups: int | None = None) -> Runtime:
    return Runtime(module, stats, DEFAULT_MAX_GROUPS if max_groups is None else max_groups)


register_runtime(_new_runtime)
