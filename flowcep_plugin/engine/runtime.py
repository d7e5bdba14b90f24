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
from itertools import filterfalse, islice
from operator import itemgetter, le
from typing import TYPE_CHECKING, Any

from .aggregates import aggregate_groups, count_groups_by_column, counts_only, make_state_factory
from .contexts import context_stmt
from .contexts import install as install_contexts
from .gcdefer import deferring_gc
from .intersect import IntersectionWindow, make_policy
from .joins import outer_join_rows
from .namedwindows import install as install_named
from .plan import OPTIONS, Module, SelectPlan, StreamPlan, register_runtime
from .rows import Row
from .subqueries import SUBQ_PREFIX, SubqueryState, fill_driven
from .typed import conform
from .vectorwhere import MIN_RECORDS as VECTOR_MIN_RECORDS
from .vectorwhere import prepare as prepare_vector_columns
from .vectorwhere import scope as vector_scope
from .windows import (
    CountBatch,
    CountingTimeBatchWindow,
    Events,
    ExtTimedBatchWindow,
    ExtTimedWindow,
    FirstLengthWindow,
    FirstTimeWindow,
    FirstUniqueWindow,
    GroupLengthWindow,
    LengthBatchWindow,
    LengthWindow,
    Post,
    SortWindow,
    TimeBatchWindow,
    TimeLengthBatchWindow,
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
_new_tuple = tuple.__new__

#: events one joined stream keeps when its window does not bound them (h-subq)
MAX_JOIN_ROWS = 1_000_000
#: one-line reasons of rejected typed events held until the host logs them (the rest counted)
MAX_REJECTED = 20


def _ishashable(k: Any) -> bool:
    try:
        hash(k)
    except TypeError:
        return False
    return True


def _hashable_keys(keys: list[Any]) -> list[Any]:
    """``keys`` with each unhashable key (a list value: basicList) in its tuple form. Hashing
    them all in one C call first: a batch of flows has no list-valued key as a rule, and a
    Python call per key cost a batch statement grouped on many flows a tenth of its time."""
    try:
        hash(tuple(keys))
    except TypeError:
        return [k if _ishashable(k) else tuple(hashable(v) for v in k) for k in keys]
    return keys


def _make_window(sp: StreamPlan, keys: list[str], plan: SelectPlan | None = None) -> Window:
    v = sp.view
    if v is None:
        return Window(keys)
    name = v.name

    def ix(k: int | str) -> int:
        """A key position; with SELECT * the compiler left the name (keys are the first
        events' columns): a key they lack is added, so its values read as null."""
        if isinstance(k, int):
            return k
        if k not in keys:
            keys.append(k)
        return keys.index(k)

    if name == "time_batch":
        if plan is not None and len(plan.streams) == 1 and plan.grouped and plan.count_only \
                and plan.grp_emit is not None and plan.col_group is not None and sp.post_filter is None \
                and not plan.rstream:
            w: TimeBatchWindow = CountingTimeBatchWindow(keys, sp.view_arg, plan.col_group, sp.window_where,
                                                         plan.col_keys_where)
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
    if name == "time_length_batch":
        return TimeLengthBatchWindow(keys, *sp.view_arg)
    if name == "ext_timed":
        assert sp.ts_index is not None
        return ExtTimedWindow(keys, ix(sp.ts_index), sp.view_arg)
    if name == "ext_timed_batch":
        assert sp.ts_index is not None
        return ExtTimedBatchWindow(keys, ix(sp.ts_index), sp.view_arg, sp.ref_point)
    if name == "unique":
        idx = [ix(k) for k in sp.view_arg]
        return UniqueWindow(keys, lambda r: tuple(r[i] for i in idx))
    if name == "sort":
        size, sk, desc = sp.view_arg
        sidx = [ix(k) for k in sk]
        return SortWindow(keys, size, sidx, desc)
    if name == "intersect":
        policies = []
        for sub, arg in sp.view_arg:
            if sub == "unique":
                arg = [ix(k) for k in arg]
            elif sub == "sort":
                arg = (arg[0], [ix(k) for k in arg[1]], arg[2])
            policies.append(make_policy(sub, arg))
        return IntersectionWindow(keys, policies)
    if name == "firstunique":
        fidx = [ix(k) for k in sp.view_arg]
        return FirstUniqueWindow(keys, lambda r: tuple(r[i] for i in fidx))
    if name == "firstevent":
        return FirstUniqueWindow(keys, lambda r: ())
    if name == "firstlength":
        return FirstLengthWindow(keys, sp.view_arg)
    if name == "firsttime":
        return FirstTimeWindow(keys, sp.view_arg)
    if name == "groupwin_length":
        gk, size = sp.view_arg
        gidx = [ix(k) for k in gk]
        return GroupLengthWindow(keys, lambda r: tuple(r[i] for i in gidx), size)
    if name == "lastevent":
        return LengthWindow(keys, 1)
    if name == "keepall":  # aggregates over every event so far; a join keeps every row
        return Window(keys)
    raise AssertionError(name)


def _window_factory(sp: StreamPlan) -> Callable[[list[str]], Window]:
    """Builds a subquery's window once the keys it keeps are known (h-subq)."""
    def make(keys: list[str]) -> Window:
        return _make_window(sp, keys)

    return make


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
        #: the statement keeps its remove stream: a repeated row comes with its remove row
        self.rstream = False
        #: ``output first every P`` over groups: Esper keeps one polled condition per group
        #: (ResultSetProcessorGroupedOutputFirstHelper, OutputConditionPolledTime): a group's row
        #: goes out when the group has no output time yet or P passed since its last one; the
        #: time is forgotten once the group emptied (see ``forget``). Not global intervals.
        self.per_group_first = kind == "first" and mode == "pergroup" and period > 0
        self.first_at: dict[Any, int] = {}
        #: groups whose count of events in the window reached 0, in this update (``emptied``)
        #: and before it (``forget``): Esper drops an emptied group (and its output time) at the
        #: next event that enters the aggregation (AggSvcGroupByRefcounted: removed keys are
        #: handled lazily on the next enter) - without HAVING after that event's own check,
        #: with HAVING before it (HAVING is evaluated once the update's events were applied)
        self.emptied: list[Any] = []
        self.forget: list[Any] = []
        #: ``output first`` with HAVING and no GROUP BY: the intervals start at the first row
        #: HAVING lets through, not at the first event (Esper's OutputProcessViewConditionFirst
        #: updates its output condition only once it has output a row)
        self.start_on_output = False

    @property
    def started(self) -> bool:
        return self.due is not None

    def start(self, t: int) -> None:
        if self.due is None and not self.start_on_output:
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
            if self.per_group_first:
                last = self.first_at.get(key)
                if last is None or row.time_ms - last >= self.period:
                    self.first_at.pop(key, None)
                    self.first_at[key] = row.time_ms  # re-inserted: the dict is oldest-output first
                    out.append(row)
            elif self.kind == "first":
                if key not in self.seen:
                    self.seen.add(key)
                    out.append(row)
                    if self.due is None and self.start_on_output:
                        self.anchor = row.time_ms
                        self.due = row.time_ms + self.period
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
                # Esper repeats the aggregation's row; with the remove stream, as both streams
                rows = [self.current, self.current._replace(removed=True)] if self.rstream else [self.current]
        self.buf = {} if kind == "last" else []
        self.seen = set()
        self.updates = 0
        if self.period:
            self.due = (self.due if self.due is not None else now) + self.period
        return [r._replace(time_ms=now) for r in rows]


class _TerminatedLimiter(_Limiter):
    """``output ... when terminated``: no timer; rows are held (a group's current row, the
    rows produced) until the statement's context partition ends and the context calls
    ``Statement.terminate`` (ContextInitTermTemporalFixed ...OutputSnapshot cases)."""

    @property
    def started(self) -> bool:  # never waits for a first event: it has no interval to open
        return True

    def start(self, t: int) -> None:
        return None

    def due_if_fed(self, t: int) -> int | None:  # type: ignore[override]
        return None


class _EventLimiter(_Limiter):
    """``output [all | last] every N events`` (statements without aggregates): rows are held
    until N events reached the statement, as Esper's OutputConditionCount counts the events
    its data window posts (new or old), not the rows (ResultSetOutputLimitSimple
    ResultSetLimitEventSimple, ResultSetAggAllHaving). The runtime feeds such a statement one
    event at a time, so the count is exact."""

    def __init__(self, kind: str, events: int, mode: str) -> None:
        super().__init__(kind, 0, mode)
        self.events = events
        self.new_n = 0
        self.old_n = 0
        self.last_t = 0

    def start(self, t: int) -> None:  # no timer: intervals are counted in events
        return None

    def due_if_fed(self, t: int) -> int | None:  # type: ignore[override]
        return None

    def count(self, new_n: int, old_n: int, t: int) -> None:
        self.new_n += new_n
        self.old_n += old_n
        self.last_t = t

    def ready(self) -> bool:
        return self.new_n >= self.events or self.old_n >= self.events

    def release(self) -> list[Row]:
        self.new_n = self.old_n = 0
        return self.fire(self.last_t)


def _in_time_order(batch: FlowBatch, times: list[int]) -> Events:
    """A batch of another stream (options, gateway events) as events sorted by ``times`` (stably;
    left as it is when already in order, the common case)."""
    n = len(batch)
    cols = batch.columns
    if not all(map(le, times, islice(times, 1, None))):
        order = sorted(range(n), key=times.__getitem__)
        cols = {k: [v[i] for i in order] for k, v in cols.items()}
        times = [times[i] for i in order]
    return Events(dict(cols), n, times)


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
        #: joins: a change counter per repository, the per-stream join plans and the hash
        #: indexes by (stream, key) with the version they were built at (one per equality)
        self.repo_version = [0] * len(plan.streams)
        self._join_plans: dict[int, Any] = {}
        self._ix_cache: dict[tuple[int, str], tuple[int, dict[Any, list[dict[str, Any]]]]] = {}
        self.groups: dict[Any, list[Any]] = {}
        self.prior_hist: dict[str, deque[Any]] = {}
        #: prev functions: the data window's contents (per groupwin key; None without one)
        self.prev_hist: dict[Any, deque[tuple[int, tuple[Any, ...]]]] = {}
        self.factories = [make_state_factory(k, d) for k, d, _s in plan.aggs]
        # whether a group that left (empty aggregates) can pass HAVING: when HAVING reads
        # only aggregates it is decided once here (count(*) > 16 never passes at count 0),
        # sparing the search for departed groups in every batch
        self.departed_rows = True
        if plan.grp_having is not None and not plan.having_reads_keys and not plan.having_per_event:
            empty = [f().value() for f in self.factories]
            self.departed_rows = bool(plan.grp_having((), empty, *([None] * len(plan.streams))))
        #: the runtime's first time (its first watermark or event): the statement's start for
        #: #firsttime and ``output after`` (Esper: the statement's deployment time)
        self.start_time: int | None = None
        #: an event entered the aggregation since the last output step (see _Limiter.forget)
        self.entered = False
        self.limiter: _Limiter | None = None
        if plan.output is not None and plan.output.ms:
            self.limiter = _Limiter(plan.output.kind, plan.output.ms, _limit_mode(plan))
        elif plan.output is not None and plan.output.events:
            self.limiter = _EventLimiter(plan.output.kind, plan.output.events, _limit_mode(plan))
        elif plan.output is not None and plan.output.terminated:
            self.limiter = _TerminatedLimiter(plan.output.kind, 0, _limit_mode(plan))
        #: ``output after``: rows are discarded (aggregates still update) until the statement's
        #: start plus ``after_ms`` (the rows of events at that time or later are kept) or until
        #: ``after_events`` events were posted; the output rate starts afterwards
        #: (ResultSetOutputLimitAfter). ``after_pending`` drops once it is satisfied.
        out_spec = plan.output
        self.after_ms = out_spec.after_ms if out_spec is not None else None
        self.after_events = out_spec.after_events if out_spec is not None else None
        self.after_pending = self.after_ms is not None or self.after_events is not None
        self.after_seen = 0
        # a window that posts each arriving event as it comes, WHERE already applied: the
        # output intervals start with the first event fed
        sp0 = plan.streams[0]
        self.limit_on_feed = self.single and sp0.post_filter is None and (
            sp0.view is None or sp0.view.name in ("time", "keepall")) and not self.after_pending
        if self.limiter is not None and self.limiter.kind == "first" and self.limiter.period \
                and not plan.grouped and (plan.col_having is not None or plan.grp_having is not None):
            self.limiter.start_on_output = True
            self.limit_on_feed = False
        # ORDER BY/LIMIT/DISTINCT per output step: the limiter's releases when rate limited,
        # else each post (a batch release, a timer) or each arriving event
        self.shape = plan.shape
        self.step_shape = plan.shape if self.limiter is None else None
        #: h-subq: (synthetic column, SubqueryState) filled by the Runtime; ``driven`` when
        #: they all read this statement's own stream: they are fed here, in prefilter
        self.subqueries: list[tuple[str, SubqueryState]] = []
        self.driven = False
        #: the statement computes its remove stream (select/insert irstream or rstream)
        self.rstream = plan.rstream
        #: batch windows with the remove stream: each group's aggregates of the last batch,
        #: the values a group had before the next release (bounded by one batch's groups)
        self.batch_prev: dict[Any, list[Any]] = {}
        if self.limiter is not None:
            self.limiter.rstream = plan.rstream
        #: a counting time batch (CountingTimeBatchWindow) whose rows need no group key
        #: afterwards (no output limit, ORDER BY/LIMIT or remove stream): ``fire`` emits them
        #: without the (key, row) pairs of ``on_post``
        self.direct_counts = (self.single and self.limiter is None and self.step_shape is None
                              and plan.grp_emit_rows is not None and not plan.rstream
                              and not sp0.prevs)

    # -- input ---------------------------------------------------------------------------------
    def window(self, idx: int, ev: Events | None = None) -> Window:
        w = self.windows[idx]
        if w is None:
            sp = self.plan.streams[idx]
            keys = sp.keys if sp.keys is not None else (list(ev.cols) if ev is not None else [])
            w = self.windows[idx] = _make_window(sp, keys, self.plan)
            if isinstance(w, FirstTimeWindow):
                w.start = self.start_time
        return w

    def prefilter(self, idx: int, ev: Events) -> Events:
        sp = self.plan.streams[idx]
        sel: list[int] | None = None
        if sp.filter is not None:
            sel = sp.filter(ev.cols, ev.n)
            out = ev.take(sel, sp.keys)
        elif sp.keys is not None:
            where = sp.window_where
            vkeys = getattr(where, "vector_keys", None)
            if vkeys is not None:
                # WHERE over integer columns (vectorwhere): the columns converted once for the
                # batch (a decoder's arrays as they are; shared by the statements reading them)
                prepare_vector_columns(ev.cols, vkeys, ev.n)
            out = Events({k: (ev.cols.get(k) or [None] * ev.n) for k in sp.keys}, ev.n, ev.times)
            if vkeys is not None and ev.n >= VECTOR_MIN_RECORDS:
                # ... and evaluated once for the whole batch: the segments the batch window
                # gets between timers carry their part (Events.sel) instead of filtering again
                # (None: not for the numpy path in this batch, each segment runs the generated code)
                out.sel = (where, where.vector_positions(out.cols, ev.n))  # type: ignore[union-attr]
        else:
            out = ev
        if sp.priors and out.n:
            self._priors(sp, out)
        if self.driven:  # h-subq: subqueries over this same stream, event by event
            out = fill_driven(self.subqueries, ev, list(range(ev.n)) if sel is None else sel, out)
        if sp.prevs and out.n and sp.view is not None and sp.view.name not in ("time_batch", "length_batch"):
            self._prevs(sp, out)
        return out

    def _prevs(self, sp: StreamPlan, ev: Events) -> None:
        """Fill the prev-function columns of arriving events from the data window as it is
        right after each one enters (newest last): a length window keeps N, a time window the
        events younger than P, keepall everything, groupwin#length N per key. The history is
        the window's own contents, so it is bounded as the window is."""
        view = sp.view
        assert view is not None
        name = view.name
        size: int | None = None
        period: int | None = None
        gidx: list[int] = []
        if name in ("length", "lastevent"):
            size = 1 if name == "lastevent" else sp.view_arg
        elif name == "time":
            period = sp.view_arg
        elif name == "groupwin_length":
            gidx, size = sp.view_arg
        srcs = list(dict.fromkeys(p[3] for p in sp.prevs))
        cols = [ev.cols.get(k) or [None] * ev.n for k in srcs]
        gcols = [ev.cols.get(sp.keys[i]) or [None] * ev.n for i in gidx] if gidx and sp.keys else []
        out: dict[str, list[Any]] = {p[0]: [] for p in sp.prevs}
        plan = [(out[syn], fn, n, srcs.index(src)) for syn, fn, n, src in sp.prevs]
        hists = self.prev_hist
        for i, t in enumerate(ev.times):
            gk = tuple(hashable(c[i]) for c in gcols) if gcols else None
            d = hists.get(gk)
            if d is None:
                if len(hists) >= self.max_groups:  # one window per groupwin key: bounded, counted
                    del hists[next(iter(hists))]
                    self.counters["engine.prev_windows_evicted"] += 1
                d = hists[gk] = deque(maxlen=size)
            if period is not None:
                while d and d[0][0] + period <= t:
                    d.popleft()
            d.append((t, tuple(c[i] for c in cols)))
            m = len(d)
            for col, fn, n, si in plan:
                if fn == "prev":
                    col.append(d[m - 1 - n][1][si] if n < m else None)
                elif fn == "prevtail":
                    col.append(d[n][1][si] if n < m else None)
                elif fn == "prevcount":
                    col.append(m)
                else:
                    col.append([x[1][si] for x in reversed(d)])
        ev.cols.update(out)

    @staticmethod
    def _batch_prevs(sp: StreamPlan, new: Events) -> None:
        """The prev-function columns of a released batch: the window is the batch itself
        (Esper's ExprCorePrevious time/length batch cases), evaluated at the release."""
        m = new.n
        for syn, fn, n, src in sp.prevs:
            vals = new.cols.get(src) or [None] * m
            if fn == "prev":
                col = [vals[i - n] if i - n >= 0 else None for i in range(m)]
            elif fn == "prevtail":
                col = [vals[n] if n < m else None] * m
            elif fn == "prevcount":
                col = [m] * m
            else:
                window = vals[::-1]
                col = [list(window) for _ in range(m)]
            new.cols[syn] = col

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
        if self.after_ms is not None and self.after_pending and self.start_time is not None:
            # output after P: events before the statement's start + P go in a feed of their own
            end = self.start_time + self.after_ms
            if t < end and (due is None or end < due):
                due = end
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
        if self.subqueries and not self.driven and self.single and ev.n:  # h-subq: subquery values
            ev = self._subquery_columns(ev)
        if self.limiter is not None and ev.n and self.limit_on_feed:
            self.limiter.start(ev.times[0])
        rows: list[tuple[Any, Row]] = []
        for post in self.window(idx, ev).feed(ev):
            self.on_post(idx, post, rows)
        return self._limit(rows)

    def _subquery_columns(self, ev: Events) -> Events:
        cols = dict(ev.cols)
        outer = ev.rows()
        for key, state in self.subqueries:
            cols[key] = [state.value((o,)) for o in outer]
        return Events(cols, ev.n, ev.times)

    def fire(self, now: int) -> list[Row]:
        if self.direct_counts:
            w0 = self.windows[0]
            if isinstance(w0, CountingTimeBatchWindow) and w0.next_due() == now:
                # a counting batch with nothing to shape or limit: its rows go straight out
                direct: list[Row] = []
                for post in w0.fire(now):
                    assert isinstance(post.new, CountBatch) and post.time is not None
                    self._count_rows(self.plan.grp_emit_rows, post.time, post.new, post.old, direct)
                return direct
        rows: list[tuple[Any, Row]] = []
        for idx, w in enumerate(self.windows):
            if w is not None and w.next_due() == now:
                for post in w.fire(now):
                    self.on_post(idx, post, rows)
        out = self._limit(rows)
        if self.limiter is not None and self.limiter.due == now:
            released = self.limiter.fire(now)
            if self.limiter.kind == "snapshot" and self.limiter.mode == "simple":
                released = self._snapshot(now)
            out.extend(self.shape(released) if self.shape is not None and released else released)
        return out

    def flush(self) -> list[Row]:
        rows: list[tuple[Any, Row]] = []
        for idx, w in enumerate(self.windows):
            if w is not None:
                for post in w.flush():
                    self.on_post(idx, post, rows)
        return self._limit(rows)

    def terminate(self, now: int) -> list[Row]:
        """``output ... when terminated``: the rows when the context partition ends, at its
        end. ``snapshot``: the ungrouped aggregation's current row, also over no events at all
        (count 0, sum null, as ContextStartEndFilterStartedFilterEndedOutputSnapshot's empty
        partition gives), HAVING applied; each group with events in the window; or, without
        aggregates, the events the window holds. No keyword, ``all``, ``last``: the rows the
        partition produced (``last``: the last, per group), as an output interval releases
        them; an ungrouped aggregation that had no update gives its current row, as for
        ``snapshot``. ORDER BY and LIMIT shape them as one step."""
        lim = self.limiter
        if not isinstance(lim, _TerminatedLimiter):
            return []
        if lim.kind != "snapshot" and not (lim.mode == "forall" and not lim.updates):
            # output [all|last] when terminated: the rows held, as at an interval end
            released = lim.fire(now)
        elif lim.mode == "simple":
            released = self._snapshot(now)
        elif lim.mode == "forall":
            # also an ungrouped aggregation with no update in the partition: Esper's RowForAll
            # outputs its current row then, for every kind (processOutputLimitedView*)
            rows: list[tuple[Any, Row]] = []
            self._emit_group(now, (), self._states(()), rows)
            released = [r for _k, r in rows]
        else:
            released = lim.fire(now)
        return self.shape(released) if self.shape is not None and released else released

    def _snapshot(self, now: int) -> list[Row]:
        """``output snapshot`` without aggregates: a row for every event the window holds
        (WHERE and HAVING applied), in the window's order (ResultSetOutputLimitSimple
        ResultSet18SnapshotNoHavingNoJoin)."""
        w = self.windows[0]
        held = w.contents() if w is not None else None
        if w is None or not held:
            return []
        ev = Events.from_tuples(w.keys, [r for _t, r in held], [t for t, _r in held])
        pf = self.plan.streams[0].post_filter
        if pf is not None:
            ev = ev.take(pf(ev.cols, ev.n))
        rows: list[tuple[Any, Row]] = []
        if ev.n:
            self._simple_rows(now, ev, rows, False)
        return [r for _k, r in rows]

    def _limit(self, rows: list[tuple[Any, Row]]) -> list[Row]:
        if self.limiter is None:
            return [r for _k, r in rows]
        lim = self.limiter
        entered, self.entered = self.entered, False
        having = self.plan.grp_having is not None
        if lim.per_group_first and entered and having:
            self._forget_first_times(lim)
        out = lim.add(rows)  # output first: what it lets through now is one step
        if lim.per_group_first:
            if entered and not having:
                self._forget_first_times(lim)
            self._bound_first_times(lim)
        if isinstance(lim, _EventLimiter) and lim.ready():
            out = out + lim.release()
        return self.shape(out) if self.shape is not None and out else out

    def _forget_first_times(self, lim: _Limiter) -> None:
        """Grouped ``output first``: an event entered the aggregation, so the groups emptied by
        earlier updates lose their output time (Esper removes the group's polled condition with
        the group)."""
        for k in lim.forget:
            lim.first_at.pop(k, None)
        lim.forget.clear()

    def _bound_first_times(self, lim: _Limiter) -> None:
        """The groups this update emptied wait for the next entering event; the output times
        kept are bounded by ``max_groups``, the oldest output forgotten first and counted."""
        counts = lim.group_n
        for k in lim.emptied:
            if k in counts and counts[k] <= 0:  # not refilled by an arrival of the same update
                del counts[k]
                lim.forget.append(k)
        lim.emptied.clear()
        excess = len(lim.first_at) - self.max_groups
        if excess > 0:
            for k in list(islice(lim.first_at, excess)):
                del lim.first_at[k]
            self.counters["engine.groups_evicted"] += excess
            if self.stats is not None:
                self.stats.add("engine.groups_evicted", excess)

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

    def _count_rows(self, emit: Any, t: int, new: CountBatch, old: Events, out: list[Any]) -> None:
        """The rows of a released counting batch: every group of the new batch, then (Esper
        outputs them too, with their new count) the groups of the previous batch that are not
        in it, at count 0: a second pass over the previous batch's keys, no merged copy."""
        counts = new.counts
        emit(counts, t, out, Row, self.name, self.stream)
        if isinstance(old, CountBatch) and old.counts and self.departed_rows:
            gone = dict.fromkeys(filterfalse(counts.__contains__, old.counts), 0)
            if gone:
                emit(gone, t, out, Row, self.name, self.stream)

    def _row(self, t: int, values: tuple[Any, ...]) -> Row:
        # tuple.__new__ skips NamedTuple's keyword-handling wrapper: a third of a row's cost
        return _new_tuple(Row, (self.name, self.stream, t, dict(zip(self.names, values, strict=False)), False))

    # -- posts -----------------------------------------------------------------------------------
    def on_post(self, idx: int, post: Post, out: list[tuple[Any, Row]]) -> None:
        sp = self.plan.streams[idx]
        new, old = post.new, post.old
        start = len(out)
        if sp.prevs and post.time is not None and new.n and self.windows[idx] is not None \
                and self.windows[idx].batch:  # type: ignore[union-attr]
            self._batch_prevs(sp, new)
        if sp.post_filter is not None:
            arrival = new.times[-1] if new.n else None
            if new.n:
                new = new.take(sp.post_filter(new.cols, new.n))
            if old.n:
                old = old.take(sp.post_filter(old.cols, old.n))
            if post.time is None and not new.n and old.n and arrival is not None:
                # only events pushed out pass WHERE: the rows are at the arriving event's time
                post = Post(arrival, new, old)
        if new.n:
            self.entered = True  # an event enters the aggregation (output first over groups)
        suppressed = self.after_pending and self._after_suppresses(post, new, old)
        lim = self.limiter if not suppressed else None
        updates = lim.updates if lim is not None else 0
        if lim is not None and (new.n or old.n) and self.single:  # joins: in join_post
            lim.start(post.time if post.time is not None else (new.times[0] if new.n else old.times[0]))
            lim.updates += 1
            if isinstance(lim, _EventLimiter):
                lim.count(new.n, old.n, post.time if post.time is not None else
                          (new.times[-1] if new.n else old.times[-1]))
        if isinstance(new, CountBatch):
            assert self.plan.grp_emit is not None and post.time is not None
            self._count_rows(self.plan.grp_emit, post.time, new, old, out)
        elif not self.single:
            self.join_post(idx, post.time, new, old, out)
        elif not self.plan.aggregated:
            self.simple_post(post.time, new, out, old if self.rstream else None)
        elif post.time is not None and isinstance(self.windows[idx], (TimeBatchWindow, LengthBatchWindow,
                                                                       ExtTimedBatchWindow)):
            self.batch_agg_post(post.time, new, old, out)
            if self.rstream:
                self._batch_removes(post.time, new, old, out)
        elif self.rstream:
            self._incremental_irstream(post.time, new, old, out)
        else:
            self.incremental_post(post.time, new, old, out)
        if suppressed:
            del out[start:]  # the aggregates took the events in; their rows are discarded
            return
        if lim is not None and lim.mode == "forall" and lim.updates != updates:
            # the current row of the ungrouped aggregation, repeated on quiet intervals
            ins = [r for _k, r in out[start:] if not r.removed]
            lim.current = ins[-1] if ins else None
        if self.step_shape is not None and len(out) > start:
            if post.time is not None:
                self._step(out, start)
            elif self.single:  # joins shape each arriving event's rows in join_post
                self._step_each(out, start)

    def _after_suppresses(self, post: Post, new: Events, old: Events) -> bool:
        """Whether ``output after`` still discards this post's rows (Esper's
        OutputProcessViewAfterState: a time is satisfied at the statement's start plus P, the
        update's time included; a count once more than N new events were posted)."""
        if not new.n and not old.n:
            return True
        if self.after_ms is not None:
            t = post.time if post.time is not None else (new.times[0] if new.n else old.times[0])
            if self.start_time is None:
                self.start_time = t
            if t < self.start_time + self.after_ms:
                return True
        else:
            assert self.after_events is not None
            self.after_seen += new.n
            if self.after_seen <= self.after_events:
                return True
        self.after_pending = False
        return False

    def simple_post(self, t: int | None, new: Events, out: list[tuple[Any, Row]],
                    old: Events | None = None) -> None:
        """Rows of the events posted (and, with the remove stream, of those that left: the
        select list over each departing event, HAVING applied, at the time they left)."""
        if new.n:
            self._simple_rows(t, new, out, False)
        if old is not None and old.n:
            self._simple_rows(t if t is not None else (new.times[-1] if new.n else old.times[-1]),
                              old, out, True)

    def _simple_rows(self, t: int | None, new: Events, out: list[tuple[Any, Row]], removed: bool) -> None:
        plan = self.plan
        if plan.col_having is not None:
            new = new.take(plan.col_having(new.cols, new.n))
            if new.n == 0:
                return
        if plan.star:
            for i, event in enumerate(new.rows()):
                kept = {k: v for k, v in event.items() if v is not None and not k.startswith(SUBQ_PREFIX)}
                out.append((None, Row(self.name, self.stream, t if t is not None else new.times[i], kept, removed)))
            return
        assert plan.col_select is not None
        cols = plan.col_select(new.cols, new.n)
        names, name, stream = self.names, self.name, self.stream
        times = new.times if t is None else [t] * new.n
        append = out.append
        for ti, vals in zip(times, zip(*cols, strict=False), strict=False):
            append((None, _new_tuple(Row, (name, stream, ti, dict(zip(names, vals, strict=False)), removed))))

    def batch_agg_post(self, t: int, new: Events, old: Events, out: list[tuple[Any, Row]]) -> None:
        """A released batch replaces the previous one: aggregate the new batch afresh."""
        plan = self.plan
        assert plan.col_group is not None and plan.col_args is not None and plan.grp_select is not None
        n = new.n
        by_column: dict[Any, list[Any]] | None = None
        if plan.grouped:
            kcols = plan.col_group(new.cols, n)
            keys: Any = zip(*kcols, strict=False) if n else []
            if len(kcols) == 1 and not plan.per_event and not plan.count_only and counts_only(plan.aggs):
                by_column = count_groups_by_column(kcols[0], plan.col_args(new.cols, n), plan.aggs)
            if by_column is None and (plan.per_event or not plan.count_only):
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
        elif by_column is not None:
            results = by_column
        else:
            argcols = plan.col_args(new.cols, n)
            counted: dict[Any, list[Any]] | None = None
            if counts_only(plan.aggs):
                try:
                    # the counting path's Counter raises TypeError on an unhashable key
                    # itself: the pass that hashes every key first is paid only then
                    counted = aggregate_groups(keys, argcols, plan.aggs)
                except TypeError:
                    counted = None
            if counted is None:
                keys = _hashable_keys(keys)
                counted = aggregate_groups(keys, argcols, plan.aggs)
            results = counted
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

    # -- the remove stream (select irstream / rstream) ---------------------------------------
    def _emit_removed(self, t: int, k: Any, a: list[Any], out: list[tuple[Any, Row]],
                      rows: tuple[Any, ...] | None = None) -> None:
        """A remove-stream row of group ``k`` with aggregate values ``a`` (HAVING applies)."""
        plan = self.plan
        r = rows if rows is not None else (None,) * len(plan.streams)
        assert plan.grp_select is not None
        if plan.grp_having is None or plan.grp_having(k, a, *r):
            out.append((k, Row(self.name, self.stream, t, dict(zip(self.names, plan.grp_select(k, a, *r),
                                                                     strict=False)), True)))

    def _batch_removes(self, t: int, new: Events, old: Events, out: list[tuple[Any, Row]]) -> None:
        """The remove stream of a batch release (Esper's output reference, aggregated kinds):
        a group's row with the values it had before the release (the previous batch's
        aggregates); aggregated rows of events: the previous batch's events with their group's
        new values."""
        plan = self.plan
        assert plan.col_args is not None
        if not plan.grouped and not plan.per_event and new.n == 0 and old.n == 0:
            return
        keys = self._group_keys(new) if plan.grouped else [()] * new.n
        cur = aggregate_groups(keys, plan.col_args(new.cols, new.n), plan.aggs) if new.n else {}
        empty = [f().value() for f in self.factories]
        if plan.per_event:
            okeys = self._group_keys(old) if plan.grouped else [()] * old.n
            for k, r in zip(okeys, old.rows(), strict=False):
                self._emit_removed(t, k, cur.get(k, empty), out, (r,))
        else:
            prev = self.batch_prev
            ks = dict.fromkeys(prev) if plan.grouped else {(): None}
            if plan.grouped:
                ks.update(dict.fromkeys(cur))
            for k in ks:
                self._emit_removed(t, k, prev.get(k, empty), out)
        self.batch_prev = cur

    def _incremental_irstream(self, t: int | None, new: Events, old: Events, out: list[tuple[Any, Row]]) -> None:
        """``incremental_post`` with the remove stream (Esper's output reference tables):
        a group's remove row holds its values before the update (ungrouped: the aggregation
        before it); aggregates beside event properties give a remove row per departing event,
        with the values after the update. HAVING decides each row on its own values."""
        if new.n == 0 and old.n == 0:
            return
        plan = self.plan
        assert plan.row_group is not None and plan.row_args is not None
        group, args_of = plan.row_group, plan.row_args
        per_event = plan.per_event

        def key(r: dict[str, Any]) -> Any:
            return group(r) if plan.grouped else ()

        def now(k: Any) -> list[Any]:
            return [s.value() for s in self._states(k)]

        old_rows, new_rows = old.rows(), new.rows()
        okeys = [key(r) for r in old_rows]
        before: dict[Any, list[Any]] = {} if per_event else {k: now(k) for k in okeys}
        for r, k in zip(old_rows, okeys, strict=False):
            for s, a in zip(self._states(k), args_of(r), strict=False):
                s.leave(a)
        if t is None and new_rows:  # each arrival is its own update
            for i, (ti, r) in enumerate(zip(new.times, new_rows, strict=False)):
                k = key(r)
                st = self._states(k)
                b = before[k] if i == 0 and k in before else [s.value() for s in st]
                for s, a in zip(st, args_of(r), strict=False):
                    s.enter(a)
                self._emit_group(ti, k, st, out, (r,))
                if per_event:
                    if i == 0:
                        for ro, ko in zip(old_rows, okeys, strict=False):
                            self._emit_removed(ti, ko, now(ko), out, (ro,))
                    continue
                if i == 0:
                    for lk in before:
                        if lk != k:
                            self._emit_group(ti, lk, self._states(lk), out)
                self._emit_removed(ti, k, b, out)
                if i == 0:
                    for lk, lb in before.items():
                        if lk != k:
                            self._emit_removed(ti, lk, lb, out)
            self._prune()
            return
        at = t if t is not None else (new.times[-1] if new.n else old.times[-1])
        touched: dict[Any, None] = {}
        for r in new_rows:
            k = key(r)
            st = self._states(k)
            if not per_event and k not in before:
                before[k] = [s.value() for s in st]
            for s, a in zip(st, args_of(r), strict=False):
                s.enter(a)
            touched[k] = None
        if per_event:
            for r in new_rows:
                k = key(r)
                self._emit_group(at, k, self._states(k), out, (r,))
            for r, k in zip(old_rows, okeys, strict=False):
                self._emit_removed(at, k, now(k), out, (r,))
        else:
            for k in okeys:
                touched.setdefault(k, None)
            for k in touched:
                self._emit_group(at, k, self._states(k), out)
            for k in touched:
                self._emit_removed(at, k, before[k], out)
        self._prune()

    def _group_keys(self, ev: Events) -> list[Any]:
        """The group keys of ``ev``'s events (tuples; list values in their tuple form)."""
        plan = self.plan
        assert plan.col_group is not None
        kcols = plan.col_group(ev.cols, ev.n)
        return _hashable_keys(list(zip(*kcols, strict=False)))

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
        counting = self.limiter is not None and plan.grouped and (
            self.limiter.kind == "snapshot" or self.limiter.per_group_first)
        for r in old.rows():
            k = group(r) if plan.grouped else ()
            left[k] = None
            if counting:
                assert self.limiter is not None
                self.limiter.group_n[k] -= 1
                if self.limiter.group_n[k] <= 0 and self.limiter.per_group_first:
                    self.limiter.emptied.append(k)
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
        if self.plan.outer is not None:  # h-subq: explicit outer joins
            return outer_join_rows(self.plan.outer, s, rows, self.repos,
                                   [fn for _used, fn in self.plan.conjuncts])
        k = len(self.repos)
        plan_s = self._join_plans.get(s)
        if plan_s is None:
            plan_s = self._join_plans[s] = self._join_plan(s)
        order, levels, lookups = plan_s
        # hash indexes of the other streams' rows, kept until their repository changes (a
        # stream that posts often must not rebuild the index of one that rarely does)
        indexes: list[dict[Any, list[dict[str, Any]]] | None] = [None] * k
        for level, hit in enumerate(lookups):
            if hit is not None:
                si = order[level]
                version = self.repo_version[si]
                cached = self._ix_cache.get((si, hit[2]))
                if cached is not None and cached[0] == version:
                    indexes[level] = cached[1]
                    continue
                ix: dict[Any, list[dict[str, Any]]] = {}
                for row in self.repos[si]:
                    ix.setdefault(row.get(hit[2]), []).append(row)
                self._ix_cache[(si, hit[2])] = (version, ix)
                indexes[level] = ix
        return self._join_rows(rows, order, levels, lookups, indexes)

    def _join_plan(self, s: int) -> tuple[list[int], list[list[Callable[..., Any]]], list[tuple[int, str, str] | None]]:
        """For rows arriving on stream ``s``: the order the others are joined in, the
        conditions checked at each level and the equality lookups (computed once per stream)."""
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
        return order, levels, lookups

    def _join_rows(self, rows: list[dict[str, Any]], order: list[int], levels: list[list[Callable[..., Any]]],
                   lookups: list[tuple[int, str, str] | None],
                   indexes: list[dict[Any, list[dict[str, Any]]] | None]) -> list[tuple[dict[str, Any], ...]]:
        k = len(self.repos)
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

    def _bound_repo(self, repo: list[dict[str, Any]]) -> None:
        """A joined stream whose window does not bound it (none, keepall, unique...) keeps at
        most MAX_JOIN_ROWS events: the oldest go first, counted (h-subq)."""
        excess = len(repo) - MAX_JOIN_ROWS
        if excess > 0:
            del repo[:excess]
            self.counters["engine.join_rows_evicted"] += excess
            if self.stats is not None:
                self.stats.add("engine.join_rows_evicted", excess)

    def join_post(self, s: int, t: int | None, new: Events, old: Events, out: list[tuple[Any, Row]]) -> None:
        plan = self.plan
        old_rows = old.rows()
        repo = self.repos[s]
        uni = plan.unidirectional
        if uni is not None and s != uni:
            # h-subq: the other streams of a unidirectional join only fill their windows
            for r in old_rows:
                try:
                    repo.remove(r)
                except ValueError:
                    pass
            repo.extend(new.rows())
            self._bound_repo(repo)
            self.repo_version[s] += 1  # the join's lookup index of this stream is stale
            return
        for r in old_rows:
            try:
                repo.remove(r)
            except ValueError:
                pass
        if old_rows:
            self.repo_version[s] += 1
        old_results = self._join(s, old_rows) if plan.aggregated or self.rstream else []
        new_rows = new.rows()
        if t is None:
            per_event = [(ti, self._join(s, [r])) for ti, r in zip(new.times, new_rows, strict=False)]
        else:
            per_event = [(t, self._join(s, new_rows))]
        if uni is None:  # a unidirectional stream keeps nothing (h-subq)
            repo.extend(new_rows)
            self._bound_repo(repo)
            if new_rows:
                self.repo_version[s] += 1
        lim = self.limiter
        if lim is not None and (old_results or any(res for _t, res in per_event)):
            # Esper's output condition starts with the first join result, not with any event
            first_t = per_event[0][0] if per_event else (t if t is not None else old.times[-1])
            lim.start(first_t)
            lim.updates += 1
            if isinstance(lim, _EventLimiter):  # a join's events are its joined rows
                lim.count(sum(len(res) for _t, res in per_event), len(old_results),
                          per_event[-1][0] if per_event else first_t)
        each = t is None and self.step_shape is not None
        if not plan.aggregated:
            assert plan.row_select is not None
            subq = self.subqueries
            for ti, results in per_event:
                start = len(out)
                for res in results:
                    if subq:  # h-subq: the subqueries of the select list, for this joined row
                        values = plan.row_select(*res, {key: st.value(res) for key, st in subq})
                    else:
                        values = plan.row_select(*res)
                    out.append((None, self._row(ti, values)))
                if each:
                    self._step(out, start)
            if old_results:  # the remove stream: joined rows that left, at the time they left
                at = t if t is not None else (new.times[-1] if new.n else old.times[-1])
                for res in old_results:
                    out.append((None, self._row(at, plan.row_select(*res))._replace(removed=True)))
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
            if uni is not None:
                # h-subq: each unidirectional event aggregates its own join rows, from nothing
                # (EPLJoinUnidirectionalStream.EPLJoin2TableJoinRowForAll)
                for res in results:
                    k = plan.row_group(*res) if plan.grouped else ()
                    for sa, a in zip(self._states(k), plan.row_args(*res), strict=False):
                        sa.leave(a)
            if each:
                self._step(out, start)
        self._prune()


class Runtime:
    """Independent state of one module; feed it time-ordered batches and watermarks."""

    def __init__(self, module: Module, stats: Any = None, max_groups: int = DEFAULT_MAX_GROUPS) -> None:
        from .match_recognize import MatchRecognizeStmt
        from .patterns import PatternStmt

        if max_groups < 1:
            raise ValueError("max_groups must be at least 1")
        self.module = module
        #: engine counters by reason (``engine.groups_evicted``: groups evicted); also added
        #: to the run's Stats (a gauge counter, ``stats.add``) when it is given
        self.counters: Counter[str] = Counter()
        self.stats = stats
        #: one-line reasons of events of a declared type that did not fit it (on_events), at
        #: most MAX_REJECTED until the host takes them
        self.rejected: list[str] = []
        self.stmts: list[Any] = []
        self.consumers: dict[str, list[tuple[Any, int]]] = {}
        subquery_streams: set[str] = set()
        window_names = {w.info.name for w in module.named_windows}
        for plan in module.plans:
            cplan = module.contexts.get(plan.info.name)  # h-named: one state per context partition
            if cplan is not None:
                def make(p: SelectPlan = plan) -> _Stmt:
                    return _Stmt(p, self.counters, max_groups, stats)

                st = context_stmt(cplan, plan, make, self.counters, stats)
            elif plan.pattern is not None:
                st = PatternStmt(plan)
            elif plan.match_recognize is not None:
                st = MatchRecognizeStmt(plan)
            else:
                st = _Stmt(plan, self.counters, max_groups, stats)
            self.stmts.append(st)
            for idx, sp in enumerate(plan.streams):
                self.consumers.setdefault(sp.stream, []).append((st, idx))
            # h-subq: subqueries that read the statement's own stream are fed by the statement
            # itself, event by event in prefilter (fill_driven), at batch speed; the others are
            # consumers of their stream, and their streams go one event at a time
            driven = len(plan.streams) == 1 and all(sq.stream.stream == plan.streams[0].stream
                                                   for sq in plan.subqueries) \
                and plan.streams[0].stream not in window_names  # a named window posts its rows instead
            for sq in plan.subqueries:
                assert isinstance(st, _Stmt)
                state = SubqueryState(sq, _window_factory(sq.stream), self.counters, stats)
                st.subqueries.append((sq.key, state))
                st.driven = driven
                self.stmts.append(state)  # its timers
                if not driven:
                    # the subquery's window takes an event before the statements reading the
                    # same stream evaluate it (Esper's "subselect first", EPLSubselectOrderOfEval)
                    self.consumers.setdefault(sq.stream.stream, []).insert(0, (state, 0))
                    subquery_streams.update([sq.stream.stream] + [sp.stream for sp in plan.streams])
        install_named(self, module.named_windows, module.triggers, stats)  # h-named
        install_contexts(self)  # h-named
        sd = module.streams[module.input_stream]
        self.time_key = sd.time_key
        self.now: int | None = None
        self._started = False
        self.one_by_one = self._order_sensitive()
        if subquery_streams:
            # a subquery's value depends on where its window is when each event arrives: the
            # streams it and its statement read (and the input they derive from) go one by one
            self.one_by_one |= subquery_streams | {module.input_stream}

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
                lim = getattr(st, "limiter", None)
                if isinstance(lim, _EventLimiter) or getattr(st, "after_events", None) is not None \
                        or (lim is not None and lim.per_group_first):
                    # output [after|every] N events counts events one by one; a group's output
                    # first time is forgotten right after the event that emptied it
                    out.add(stream)
                routes = st.insert_into is not None and st.insert_into in self.consumers
                view = st.plan.streams[idx].view if idx < len(st.plan.streams) else None
                if routes and (view is None or view.name != "time_batch"):
                    out.add(stream)
        return out

    # -- API ------------------------------------------------------------------------------------
    @deferring_gc
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
        if times != sorted(times):  # a C-level pass over sorted input (timsort finds one run)
            # the host releases batches sorted by flow end; a schema timestamp naming another
            # element (or a caller feeding unsorted data) needs a stable sort here
            order = sorted(range(n), key=times.__getitem__)
            get = itemgetter(*order) if n > 1 else (lambda c: (c[0],))
            cols = {k: list(get(v)) for k, v in cols.items()}
            times = [times[i] for i in order]
        out: list[Row] = []
        self._pattern_clock(times[0], times[-1])  # h-patterns
        with vector_scope():  # integer columns converted for WHERE once per batch (vectorwhere)
            self.feed_stream(self.module.input_stream, Events(cols, n, times), out)
        return out

    @deferring_gc
    def on_options(self, batch: FlowBatch) -> list[Row]:
        """Feed exporters' options records to the statements reading ``Options``.

        They arrive when the exporter sends them, outside the flows' reorder buffer, so they
        take the engine's current time (their export time before any flow was seen): like
        derived events, they never move the engine's clock backwards."""
        n = len(batch)
        if n == 0 or OPTIONS not in self.consumers:
            return []
        now = self.now
        times = [t if now is None or t > now else now for t in batch.event_times()]
        out: list[Row] = []
        self.feed_stream(OPTIONS, _in_time_order(batch, times), out)
        return out

    @property
    def event_streams(self) -> frozenset[str]:
        """The non-flow streams an input can feed (``on_events``) that a statement reads:
        ``Alert``/``Metric`` and the module's declared schemas other than its flow input
        (events of a declared type, e.g. a level-1 run's INSERT INTO stream)."""
        streams = self.module.streams
        return frozenset(name for name in self.consumers
                         if name in streams and name != self.module.input_stream
                         and streams[name].kind in ("event", "schema"))

    @deferring_gc
    def on_events(self, batch: FlowBatch) -> list[Row]:
        """Feed a batch of another event stream (``Alert``/``Metric``, or a declared schema:
        ``batch.stream``) to the statements reading it, in its own event time (the host's clock
        released it in order, as it releases flows). Events of a declared schema are checked
        against it first (engine/typed.py): those that do not fit are dropped, counted
        (``stats.drop``) and their one-line reasons kept in ``rejected`` for the host to log."""
        n = len(batch)
        if n == 0 or batch.stream not in self.consumers:
            return []
        events = _in_time_order(batch, batch.event_times())
        sd = self.module.streams.get(batch.stream)
        if sd is not None and sd.kind == "schema" and batch.stream != self.module.input_stream:
            events, bad = conform(sd, events)
            reasons = Counter(reason for _i, reason, _msg in bad)
            self.counters.update(reasons)
            for reason, k in reasons.items():
                if self.stats is not None:
                    self.stats.drop(reason, k, source=batch.source or None)
            for _i, _reason, msg in bad[:max(0, MAX_REJECTED - len(self.rejected))]:
                self.rejected.append(msg)
            if not events.n:
                return []
        out: list[Row] = []
        self._pattern_clock(events.times[0], events.times[-1])
        self.feed_stream(batch.stream, events, out)
        return out

    @deferring_gc
    def on_watermark(self, ms: int) -> list[Row]:
        """No record older than ``ms`` will come: fire every timer due at or before it."""
        out: list[Row] = []
        if self.now is None:
            # h-patterns: patterns start with the runtime's clock; their start counts as a time
            # seen, so the timers of a pattern that no event reached yet fire within its horizon
            self._pattern_clock(ms, ms)
        while True:
            due = self.next_due()
            if due is None or due > ms:
                break
            self.fire_at(due, out)
        if self.now is None or ms > self.now:
            self.now = ms
        return out

    @deferring_gc
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
        if self.now is None and not self._started:
            self._started = True
            for st in self.stmts:
                if isinstance(st, _Stmt):
                    st.start_time = first
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
            d = st.next_due(final) if final and (isinstance(st, _Stmt) or getattr(st, "takes_final", False)) \
                else st.next_due()
            if d is not None and (due is None or d < due):
                due = d
        return due

    def fire_at(self, due: int, out: list[Row]) -> None:
        self.now = due if self.now is None or due > self.now else self.now
        produced = []
        for st in self.stmts:
            if st.next_due() == due:
                produced.append((st, st.fire(due)))
        self.emit_all(produced, out)

    def emit(self, st: Any, rows: list[Row], out: list[Row]) -> None:
        deliver = getattr(st, "deliver", None)  # h-named: windows and on-triggers hand on posts
        if deliver is not None:
            deliver(self, rows, out)
            return
        if not rows:
            return
        self.route(st, self._output_rows(st, rows, out), out)

    def emit_all(self, produced: list[tuple[Any, list[Row]]], out: list[Row]) -> None:
        """The rows several statements produced for one event (or timer): output them all,
        then route the inserted ones, as Esper delivers a statement's rows before processing
        the events they insert."""
        inserts: list[list[Row]] = []
        for st, rows in produced:
            if getattr(st, "deliver", None) is None and rows:
                inserts.append(self._output_rows(st, rows, out))
            else:
                inserts.append(rows)
        for (st, rows), ins in zip(produced, inserts, strict=True):
            deliver = getattr(st, "deliver", None)  # named windows and on-triggers hand on posts
            if deliver is not None:
                deliver(self, rows, out)
            elif ins:
                self.route(st, ins, out)

    def _output_rows(self, st: Any, rows: list[Row], out: list[Row]) -> list[Row]:
        """Output the rows the statement selects; return those it inserts into its stream."""
        if st.plan.rstream:
            return self._stream_rows(st, rows, out)
        out.extend(rows)
        return rows

    def route(self, st: Any, rows: list[Row], out: list[Row]) -> None:
        """Feed the rows of an INSERT INTO statement to the readers of its stream."""
        if not rows:
            return
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

    @staticmethod
    def _stream_rows(st: Any, rows: list[Row], out: list[Row]) -> list[Row]:
        """Rows of a statement with a remove stream: output those ``select [i|ir|r]stream``
        chooses; return those ``insert [i|ir|r]stream into`` inserts (Esper chooses them
        independently: ``insert into S select rstream ...`` inserts the insert stream)."""
        sel, ins = st.plan.select_stream, st.plan.insert_stream
        out.extend(rows if sel == "irstream" else [r for r in rows if r.removed == (sel == "rstream")])
        if st.insert_into is None:
            return []
        return rows if ins == "irstream" else [r for r in rows if r.removed == (ins == "rstream")]

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
            # Esper routes inserted events after every statement has processed the current
            # one (EPLSubselectUnfiltered.EPLSubselectSelfSubselect): emit after the segment
            produced: list[tuple[Any, list[Row]]] = []
            for it in staged:
                st, idx, e, pos = it
                end = e.n if limit == _INF else bisect_left(e.times, limit, pos)
                if end > pos:
                    it[3] = end
                    produced.append((st, st.feed(idx, e.slice(pos, end))))
            self.emit_all(produced, out)
            staged = [it for it in staged if it[3] < it[2].n]
        if self.now is None or last > self.now:
            self.now = last


def _new_runtime(module: Module, stats: Any = None, max_groups: int | None = None) -> Runtime:
    return Runtime(module, stats, DEFAULT_MAX_GROUPS if max_groups is None else max_groups)


register_runtime(_new_runtime)
