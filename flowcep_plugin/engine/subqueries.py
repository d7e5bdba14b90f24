"""Subqueries: ``(select ...)`` as a value, ``exists (...)``, ``x [not] in (...)``,
``x op any|some|all (...)``.

Planning (``plan_subqueries``, called by the compiler) replaces each subquery of a statement by
a synthetic property; at run time its value comes from the subquery's state
(``SubqueryState``): for a single-stream statement, as each event arrives, before its window and
WHERE see it; for a join, per joined row of the select list. The semantics are Esper's (EPL
Reference: Clauses, "Subqueries"; regression tests EPLSubselectUnfiltered, EPLSubselectIn,
EPLSubselectExists, EPLSubselectAllAnySomeExpr, EPLSubselectOrderOfEval,
EPLSubselectAggregatedSingleValue):

* the subquery reads its own stream through its own data window, and is evaluated against the
  window's contents when the outer event arrives; when the outer statement reads the same
  stream, the subquery's window takes the event first (Esper's default "subselect first");
* a scalar subquery returning no row is null, and more than one row is null too; an
  aggregating one returns its one row (``count`` 0 over nothing), or with GROUP BY/HAVING the
  one group that passes HAVING (none or several: null);
* ``exists``: whether a row (a group, with HAVING) passes, an ungrouped aggregating subquery
  having its one row even over no events; ``x in``, ``any``, ``all``: SQL's three-valued logic
  over the values (see ``_in`` and ``_quantified``), null over an ungrouped aggregating
  subquery whose row fails HAVING (EPLSubselectAggregatedInExistsAnyAll);
* a correlated subquery reads the outer event's properties in its WHERE, select list and
  HAVING: ``where zone = outer.zone`` (a WHERE equality with the outer event is a key lookup);
* Esper refuses a subquery without a data window unless it is uncorrelated and only
  aggregates (it then aggregates every event so far): so does FlowCEP.

A subquery over the statement's own stream is fed by the statement itself within each batch
(``fill_driven``); any other is a consumer of its stream, and its streams go one event at a
time. What would run differently from Esper (re-evaluation when an outer window posts later
than the event's arrival) is refused at compile time: see ``check_outer``.

State is bounded by the subquery's window; a window that keeps events by key or forever
(``keepall``, ``unique``, ``firstunique``) is bounded at ``MAX_ROWS`` rows, the oldest
evicted first and counted as ``engine.subquery_rows_evicted``.
"""

from __future__ import annotations

import dataclasses
from bisect import bisect_left
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..errors import EPLError
from . import ast as A
from .aggregates import make_state_factory
from .expressions import (
    AGGREGATES,
    CodeGen,
    compile_column_filter,
    compile_row_function,
    find_aggregates,
    props_of,
)
from .plan import StreamDef, StreamPlan
from .windows import Events, Post, Window, hashable

__all__ = ["MAX_ROWS", "SUBQ_PREFIX", "SubqueryPlan", "SubqueryState", "fill_driven", "has_subquery",
           "plan_subqueries"]

#: synthetic property names of subquery values start with this (never a real property name)
SUBQ_PREFIX = "\x00subq:"
#: rows one subquery keeps when its window does not bound them (keepall, unique...)
MAX_ROWS = 1_000_000

_BATCH = frozenset({"time_batch", "length_batch", "ext_timed_batch", "time_length_batch"})


@dataclass
class SubqueryPlan:
    """One subquery: its stream (filter, window, keys kept) and compiled functions of a
    subquery row ``q`` and the outer event ``o`` (dicts of event keys)."""

    key: str  # the synthetic column of the outer stream holding its value
    kind: str  # scalar | exists | in | any | all
    negate: bool
    stream: StreamPlan
    where: Callable[..., Any] | None  # (q, o) -> bool
    correlated: bool
    select: Callable[..., Any] | None  # (q, o) -> value; aggregated: (k, a, o) -> value
    star: bool
    aggs: list[tuple[str, bool, bool]] = field(default_factory=list)
    args: Callable[..., Any] | None = None  # (q, o) -> aggregate arguments
    item: Callable[..., Any] | None = None  # in: (o) -> the value looked for
    text: str = ""
    # a WHERE conjunct ``q.key = <outer expression>``: rows are looked up by key, not scanned
    index_key: str | None = None
    index_value: Callable[..., Any] | None = None  # (o) -> the key to look up
    op: str = ""  # any/all: the comparison
    group: Callable[..., Any] | None = None  # (q, o) -> the GROUP BY key
    having: Callable[..., Any] | None = None  # (k, a, o) -> bool

    @property
    def streams(self) -> list[StreamPlan]:
        """The runtime treats a subquery as a consumer of one stream, like a statement."""
        return [self.stream]


def has_subquery(s: A.SelectStmt) -> bool:
    return _first_subquery(s) is not None


def _walk(node: Any) -> list[Any]:
    """Every part of a statement a subquery can sit in, ORDER BY, ON and stream filters too."""
    return A.walk(node, (A.Expr, A.SelectStmt, A.SelectItem, A.OrderItem, A.JoinSpec, A.StreamRef))


def _first_subquery(node: Any) -> A.Subquery | None:
    return next((n for n in _walk(node) if isinstance(n, A.Subquery)), None)


def check_outer(compiler: Any, s: A.SelectStmt, sources: tuple[A.StreamRef, ...]) -> None:
    """Refuse the statements where a value computed as the event arrives would differ from
    Esper's, which evaluates the subquery when the outer window posts (a batch release, an
    event leaving an aggregation window) or in clauses FlowCEP does not evaluate per event."""
    first = _first_subquery(s)
    assert first is not None
    if len(sources) != 1:
        # a join evaluates its select list per joined row, when the join runs: subqueries there
        # give Esper's values (EPLSubselectUnfiltered.EPLSubselectJoinUnfiltered)
        for part, what in ((s.where, "WHERE"), (tuple(j.on for j in s.joins), "ON")):
            hit = _first_subquery(part)
            if hit is not None:
                raise compiler.err(f"unsupported construct: a subquery in the {what} of a join (use "
                                   "it in the select list)", hit.pos)
        if any(find_aggregates(it.expr, []) for it in s.items or ()) or find_aggregates(s.having, []):
            raise compiler.err("unsupported construct: a subquery in an aggregating join", first.pos)
    for part, what in ((s.having, "HAVING"), (s.group_by, "GROUP BY")):
        hit = _first_subquery(part) if part is not None else None
        if hit is not None:
            raise compiler.err(f"unsupported construct: a subquery in {what} (use it in WHERE or "
                               "the select list)", hit.pos)
    for it in s.items or ():
        if it.alias is not None and it.alias.startswith("\x00order") and _first_subquery(it.expr) is not None:
            raise compiler.err("subqueries are not allowed in ORDER BY", it.expr.pos)
    if len(sources) != 1:
        return
    views = sources[0].views
    name = views[-1].name.lower() if views else None
    if name in _BATCH:
        raise compiler.err(f"unsupported construct: a subquery over a #{name} window (Esper "
                           "evaluates it when the batch is released)", first.pos)
    aggregated = any(find_aggregates(it.expr, []) for it in s.items or ()) or find_aggregates(s.having, [])
    if aggregated and name not in (None, "keepall"):
        raise compiler.err("unsupported construct: a subquery in an aggregating statement over a "
                           f"#{name} window (Esper evaluates it again when events leave); use no "
                           "window or #keepall, or compute the aggregate in another statement", first.pos)


#: windows that post every arriving event as new: a stream filter and WHERE give the same
#: insert stream over them (a firstunique/firstevent would keep a filtered-out event out)
_POSTS_EVERY_EVENT = frozenset({"time", "keepall", "length", "lastevent", "unique", "groupwin"})


def _filter_to_where(compiler: Any, s: A.SelectStmt, sources: tuple[A.StreamRef, ...]) -> A.SelectStmt:
    """``S(x in (select ...))``: Esper evaluates the subquery as the event arrives, as FlowCEP
    does for WHERE (EPLSubselectIn.EPLSubselectInFilterCriteria): a stream filter holding a
    subquery becomes a WHERE condition where the two give the same rows."""
    if len(sources) != 1 or sources[0].filter is None:
        return s
    ref = sources[0]
    hit = _first_subquery(ref.filter)
    if hit is None:
        return s
    names = {v.name.lower() for v in ref.views}
    if not names <= _POSTS_EVERY_EVENT:
        raise compiler.err("unsupported construct: a subquery in the filter of a stream with a "
                           f"#{ref.views[-1].name} window (put it in WHERE)", hit.pos)
    assert ref.filter is not None
    where = ref.filter if s.where is None else A.BoolOp("and", (ref.filter, s.where), pos=ref.filter.pos)
    return dataclasses.replace(s, sources=(dataclasses.replace(ref, filter=None),), where=where)


def plan_subqueries(compiler: Any, s: A.SelectStmt, refs: list[tuple[str, StreamDef]],
                    sources: tuple[A.StreamRef, ...]) -> tuple[A.SelectStmt, list[SubqueryPlan], list[A.Prop]]:
    """Replace the subqueries of ``s`` by synthetic properties; return the rewritten
    statement, the subquery plans and the outer properties the subqueries read."""
    s = _filter_to_where(compiler, s, sources)
    sources = s.sources  # type: ignore[assignment]
    check_outer(compiler, s, sources)
    plans: list[SubqueryPlan] = []
    outer_props: list[A.Prop] = []

    def visit(e: Any) -> Any:
        if isinstance(e, A.Subquery):
            plan, reads = _plan_one(compiler, e, refs, len(plans))
            plans.append(plan)
            outer_props.extend(reads)
            return A.Prop((plan.key,), pos=e.pos, text=e.text)
        if isinstance(e, A.Expr | tuple):
            return A.map_children(e, visit)
        return e

    items = None
    if s.items is not None:
        items = tuple(A.SelectItem(visit(it.expr), it.name) for it in s.items)
    out = dataclasses.replace(s, items=items, where=visit(s.where))
    return out, plans, outer_props


def _plan_one(compiler: Any, e: A.Subquery, outer: list[tuple[str, StreamDef]], n: int) -> tuple[SubqueryPlan, list[A.Prop]]:
    q = e.query
    ref = q.source
    err: Callable[[str, A.Pos], EPLError] = compiler.err
    sd = compiler.stream_def(ref.stream, ref.pos)
    inner = [(ref.name, sd)]
    if ref.unidirectional:
        raise err("unidirectional has no meaning in a subquery", ref.pos)
    for node in _walk(q.items or ()) + _walk(q.where) + _walk(q.group_by) + _walk(q.having):
        if isinstance(node, A.Subquery):
            raise err("a subquery within a subquery is not supported", node.pos)
    star = q.items is None
    if star and e.item is not None:
        raise err(f"x {'in' if e.kind == 'in' else e.kind} (select * ...): select one property of the "
                  "subquery's stream", q.pos)
    if not star and q.items is not None and len(q.items) > 1 and e.kind != "exists":
        raise err("unsupported construct: a subquery selecting several columns (select one, or "
                  "use exists)", q.items[1].expr.pos)
    if q.where is not None and find_aggregates(q.where, []):
        raise err("aggregate functions are not allowed in a subquery's WHERE", find_aggregates(q.where, [])[0].pos)
    for g_expr in q.group_by:
        if find_aggregates(g_expr, []):
            raise err("aggregate functions are not allowed in GROUP BY", g_expr.pos)
    aggs: list[A.Call] = []
    # exists only asks for rows and its select list is not computed, but aggregates there make
    # it an aggregating subquery, as in Esper (SubSelectHelperForgePlanner: an ungrouped one has
    # its one row even over no events, so exists is true unless HAVING fails)
    for it in q.items or ():
        find_aggregates(it.expr, aggs)
    find_aggregates(q.having, aggs)
    if (q.group_by or q.having is not None) and not aggs:
        raise err("GROUP BY or HAVING in a subquery needs an aggregate function", (q.group_by or (q.having,))[0].pos)  # type: ignore[union-attr]
    reads: list[A.Prop] = []
    correlated = False

    def side(p: A.Prop) -> tuple[str, int, str]:
        """('q' or 'o', stream index, key): the subquery's own stream first (inner scope)."""
        if len(p.parts) > 1 and p.parts[0] in (ref.name, ref.stream):
            return "q", 0, compiler.resolve(p, inner)[1]
        if len(p.parts) > 1:
            for i, (alias, osd) in enumerate(outer):
                if p.parts[0] in (alias, osd.name):
                    return "o", i, compiler.resolve(p, outer)[1]
        return "q", 0, compiler.resolve(p, inner)[1]

    inner_keys: list[str] = []

    def res(p: A.Prop) -> str:
        nonlocal correlated
        where, i, key = side(p)
        if where == "o":  # o: the outer statement's row of each stream (one but in a join)
            correlated = True
            reads.append(p)
            return f"o[{i}].get({key!r})"
        if key not in inner_keys:
            inner_keys.append(key)
        return f"q.get({key!r})"

    where_fn = None
    if q.where is not None:
        g = CodeGen(compiler.filename, res)
        where_fn = compile_row_function(["q", "o"], g.true(q.where), g.consts)
    select_fn = args_fn = having_fn = group_fn = None
    plan_aggs: list[tuple[str, bool, bool]] = []
    if aggs:
        for c in aggs:
            if c.star and c.name != "count":
                raise err(f"{c.name}(*) is not valid; only count(*)", c.pos)
            if not c.star and len(c.args) != 1:
                raise err(f"{c.name}() takes one argument", c.pos)
            for p in props_of(c.args[0] if c.args else None):
                if side(p)[0] == "o":
                    raise err("a subquery's aggregate functions cannot read the outer event "
                              f"({p.text})", p.pos)
        g = CodeGen(compiler.filename, res)
        args_fn = compile_row_function(
            ["q", "o"], "(" + "".join(("1" if c.star else g.value(c.args[0])) + ", " for c in aggs) + ")", g.consts)

        groups = list(q.group_by)

        def special(x: A.Expr) -> str | None:
            if isinstance(x, A.Call) and x.name in AGGREGATES:
                return f"a[{aggs.index(x)}]"
            if x in groups:
                return f"k[{groups.index(x)}]"
            return None

        def agg_res(p: A.Prop) -> str:
            where, _i, _key = side(p)
            if where == "q":
                raise err(f"{p.text}: in an aggregating subquery the subquery's properties must be "
                          "inside aggregate functions or GROUP BY", p.pos)
            return res(p)

        g2 = CodeGen(compiler.filename, agg_res, special)
        if q.items is not None and e.kind != "exists":
            select_fn = compile_row_function(["k", "a", "o"], g2.value(q.items[0].expr), g2.consts)
        if q.having is not None:
            having_fn = compile_row_function(["k", "a", "o"], g2.true(q.having), g2.consts)
        if groups:
            g3 = CodeGen(compiler.filename, res)
            group_fn = compile_row_function(["q", "o"], "(" + "".join(g3.value(x) + ", " for x in groups) + ")",
                                            g3.consts)
        plan_aggs = [(c.name, c.distinct, c.star) for c in aggs]
    elif not star and e.kind != "exists":
        assert q.items is not None
        g = CodeGen(compiler.filename, res)
        select_fn = compile_row_function(["q", "o"], g.value(q.items[0].expr), g.consts)
    item_fn = None
    if e.item is not None:
        def outer_res(p: A.Prop) -> str:
            reads.append(p)
            i, key = compiler.resolve(p, outer)
            return f"o[{i}].get({key!r})"

        g = CodeGen(compiler.filename, outer_res)
        item_fn = compile_row_function(["o"], g.value(e.item), g.consts)
    named = ref.stream in getattr(compiler, "named", {})
    if named and ref.views:
        raise err(f"unsupported construct: a data window on named window {ref.name} in a subquery (the "
                  f"window's own view applies: write from {ref.stream})", ref.views[0].pos)
    if not named and not ref.views and (correlated or not aggs or e.kind != "scalar" or q.group_by
                                        or q.having is not None):
        raise err(f"a subquery needs a data window on {ref.name} to limit what it keeps "
                  f"(e.g. {ref.stream}#length(100) or #time(1 min)); only an uncorrelated subquery "
                  "of aggregate functions (without GROUP BY or HAVING) may go without one", ref.pos)
    sp = StreamPlan(sd.name, ref.name, sd.kind == "flow", None if star else sorted(inner_keys), None)
    if ref.filter is not None:
        def key_in(p: A.Prop) -> str:
            k = compiler.resolve(p, inner)[1]
            if sp.keys is not None and k not in sp.keys:
                sp.keys.append(k)
            return str(k)

        sp.filter = compile_column_filter(ref.filter, key_in, compiler.filename)
    compiler.view(ref, sp, sd)
    if sp.view is not None and sp.view.name in _BATCH:
        raise err(f"unsupported construct: a batch window (#{sp.view.name}) in a subquery", sp.view.pos)
    if sp.view is not None and sp.view.name == "firsttime":
        # its start is the statement's (the runtime's first time), which a subquery window fed
        # on its own does not know: refused rather than started at its first event
        raise err("unsupported construct: #firsttime in a subquery", sp.view.pos)
    plan = SubqueryPlan(f"{SUBQ_PREFIX}{n}", e.kind, e.negate, sp, where_fn, correlated, select_fn, star,
                        plan_aggs, args_fn, item_fn, e.text, op=e.op)
    plan.group = group_fn
    plan.having = having_fn
    _index(compiler, q.where, side, plan)
    if plan.index_key is not None and sp.keys is not None and plan.index_key not in sp.keys:
        sp.keys.append(plan.index_key)
    return plan, reads


def _index(compiler: Any, where: A.Expr | None, side: Callable[[A.Prop], tuple[str, int, str]],
           plan: SubqueryPlan) -> None:
    """Find ``inner.key = f(outer)`` among the WHERE conjuncts: the subquery then keeps its
    rows by that key (Esper's subquery index) and an outer event reads only its bucket."""
    conj: list[A.Expr] = []
    stack = [where] if where is not None else []
    while stack:
        c = stack.pop()
        if isinstance(c, A.BoolOp) and c.op == "and":
            stack.extend(c.items)
        elif c is not None:
            conj.append(c)
    for c in conj:
        if not (isinstance(c, A.BinOp) and c.op == "=="):
            continue
        for mine, other in ((c.left, c.right), (c.right, c.left)):
            if not isinstance(mine, A.Prop) or side(mine)[0] != "q":
                continue
            reads = props_of(other)
            if not reads or any(side(p)[0] != "o" for p in reads) or _first_subquery(other) is not None:
                continue
            g = CodeGen(compiler.filename, lambda p: f"o[{side(p)[1]}].get({side(p)[2]!r})")
            plan.index_key = side(mine)[2]
            plan.index_value = compile_row_function(["o"], g.value(other), g.consts)
            return


class SubqueryState:
    """The run-time state of one subquery: its window's live rows (or, uncorrelated and only
    aggregating, the aggregates themselves) and the value it gives an outer event.

    It is fed like a statement (``prefilter``/``feed``/``fire``) but outputs no rows."""

    insert_into = None
    #: a named window hands its posts to these before its consumer statements
    reads_window_rows = True

    def __init__(self, plan: SubqueryPlan, make_window: Callable[[list[str]], Window],
                 counters: Counter[str] | None = None, stats: Any = None) -> None:
        self.plan = plan
        self.make_window = make_window
        self.counters: Counter[str] = Counter() if counters is None else counters
        self.stats = stats
        self.window: Window | None = None
        self.rows: deque[dict[str, Any]] = deque()
        self.factories = [make_state_factory(k, d) for k, d, _s in plan.aggs]
        #: uncorrelated aggregates are kept up to date as rows come and go
        self.incremental = (bool(plan.aggs) and not plan.correlated and plan.kind == "scalar"
                            and plan.group is None and plan.having is None)
        self.states = [f() for f in self.factories]
        self.cache: Any = _STALE
        #: uncorrelated ``x in (select v ...)``: how many rows give each value (None: nulls)
        self.values: Counter[Any] | None = (
            Counter() if plan.kind == "in" and not plan.correlated and not plan.aggs else None)
        #: rows by the indexed key (a correlated ``where inner.key = outer...``)
        self.index: dict[Any, list[dict[str, Any]]] | None = (
            {} if plan.index_key is not None and not self.incremental else None)

    # -- fed like a statement ----------------------------------------------------------------
    def _window(self, ev: Events | None = None) -> Window:
        if self.window is None:
            sp = self.plan.stream
            keys = sp.keys if sp.keys is not None else (list(ev.cols) if ev is not None else [])
            self.window = self.make_window(keys)
        return self.window

    def prefilter(self, idx: int, ev: Events) -> Events:
        sp = self.plan.stream
        if sp.filter is not None:
            return ev.take(sp.filter(ev.cols, ev.n), sp.keys)
        if sp.keys is not None:
            return Events({k: (ev.cols.get(k) or [None] * ev.n) for k in sp.keys}, ev.n, ev.times)
        return ev

    def select(self, ev: Events) -> tuple[list[int], Events]:
        """The indices of ``ev``'s events the subquery takes, and those events."""
        sp = self.plan.stream
        sel = sp.filter(ev.cols, ev.n) if sp.filter is not None else list(range(ev.n))
        return sel, ev.take(sel, sp.keys)

    def advance(self, ev: Events, a: int, b: int) -> None:
        """Feed events a..b of ``ev``, firing the window's timers where they fall (a timer due
        at t fires before an event at t), as the runtime does between segments."""
        j = a
        times = ev.times
        while j < b:
            t = times[j]
            due = self.next_due()
            if due is not None and due <= t:
                self.fire(due)
                continue
            limit = due
            fed_due = self.due_if_fed(0, t)
            if fed_due is not None and (limit is None or fed_due < limit):
                limit = fed_due
            end = b if limit is None else max(j + 1, bisect_left(times, limit, j, b))
            self.feed(0, ev.slice(j, end))
            j = end

    def _aggregated(self, rows: Any, o: tuple[dict[str, Any], ...]) -> Any:
        """An aggregating subquery's value: its groups passing HAVING, one value each."""
        plan = self.plan
        groups = _aggregated_rows(self, rows, o)
        if plan.kind == "exists":
            return bool(groups)
        if plan.item is not None and plan.group is None and not groups:
            # ungrouped, its one row failing HAVING: in/any/all are null, not an empty list's
            # false/true (Esper's SubselectForgeNR...Aggregated: "having" null or false -> null,
            # EPLSubselectAggregatedInExistsAnyAll.EPLSubselectUngroupedWHavingWIn)
            return None
        assert plan.select is not None
        values = [plan.select(k, a, o) for k, a in groups]
        if plan.item is None:
            return values[0] if len(values) == 1 else None  # no group, or several: null
        if plan.kind == "in":
            return _in(plan.item(o), values, plan.negate)
        return _quantified(plan.item(o), values, plan.op, plan.kind)

    def catch_up(self, t: int) -> None:
        """Fire the timers due at or before ``t``: the window as an event at t sees it."""
        while (due := self.next_due()) is not None and due <= t:
            self.fire(due)

    def next_due(self) -> int | None:
        return self.window.next_due() if self.window is not None else None

    def due_if_fed(self, idx: int, t: int) -> int | None:
        if self.window is None:  # select *: the window takes its keys from the first events
            return self.make_window([]).due_if_fed(t)
        return self.window.due_if_fed(t)

    def feed(self, idx: int, ev: Events) -> list[Any]:
        for post in self._window(ev).feed(ev):
            self._apply(post)
        return []

    def fire(self, now: int) -> list[Any]:
        if self.window is not None:
            for post in self.window.fire(now):
                self._apply(post)
        return []

    def flush(self) -> list[Any]:
        return []

    # -- over a named window: its posts (rows entering and leaving it) are the subquery's rows --
    def on_post(self, idx: int, post: Post, rows: list[Any]) -> None:
        """A subquery over a named window reads the window's contents, as Esper's does: the
        window hands its changes (inserts, deletes, updates, expiries) to its consumers, so the
        subquery keeps no window of its own (InfraNamedWindowSubquery)."""
        self._apply(post)

    def _limit(self, rows: list[Any]) -> list[Any]:
        return rows

    def _apply(self, post: Post) -> None:
        self.cache = _STALE
        plan = self.plan
        if self.incremental:
            where, args = plan.where, plan.args
            assert args is not None
            for rows, enter in ((post.old.rows(), False), (post.new.rows(), True)):
                for q in rows:
                    if where is None or where(q, _NO_ROW):
                        for st, a in zip(self.states, args(q, _NO_ROW), strict=False):
                            if enter:
                                st.enter(a)
                            else:
                                st.leave(a)
            return
        if self.values is not None:
            self._count_values(post)
        live = self.rows
        for q in post.old.rows():
            if live and live[0] == q:
                live.popleft()
            else:
                try:
                    live.remove(q)
                except ValueError:
                    continue
            self._unindex(q)
        new = post.new.rows()
        live.extend(new)
        if self.index is not None:
            key = plan.index_key
            for q in new:
                self.index.setdefault(hashable(q.get(key)), []).append(q)  # type: ignore[arg-type]
        while len(live) > MAX_ROWS:
            self._unindex(live.popleft())
            self.counters["engine.subquery_rows_evicted"] += 1
            if self.stats is not None:
                self.stats.add("engine.subquery_rows_evicted")

    def _count_values(self, post: Post) -> None:
        values = self.values
        assert values is not None and self.plan.select is not None
        where, select = self.plan.where, self.plan.select
        for rows, step in ((post.old.rows(), -1), (post.new.rows(), 1)):
            for q in rows:
                if where is None or where(q, _NO_ROW):
                    v = hashable(select(q, _NO_ROW))
                    values[v] += step
                    if values[v] <= 0:
                        del values[v]

    def _unindex(self, q: dict[str, Any]) -> None:
        if self.index is None:
            return
        k = hashable(q.get(self.plan.index_key))  # type: ignore[arg-type]
        bucket = self.index.get(k)
        if bucket is not None:
            bucket.remove(q)
            if not bucket:
                del self.index[k]

    # -- the value for an outer event ----------------------------------------------------------
    def value(self, o: tuple[dict[str, Any], ...]) -> Any:
        plan = self.plan
        if plan.correlated:
            return self._compute(o)
        if self.values is not None:
            # uncorrelated in: the values are counted as rows come and go (SQL's IN on them)
            assert plan.item is not None
            values = self.values
            if not values:
                return plan.negate
            x = plan.item(o)
            if x is None:
                return None
            if hashable(x) in values:
                return not plan.negate
            return None if None in values else plan.negate
        if plan.kind in ("any", "all") and not plan.aggs:
            # uncorrelated any/all: the values are listed once per window change
            assert plan.item is not None and plan.select is not None
            if self.cache is _STALE:
                where, select = plan.where, plan.select
                self.cache = [select(q, _NO_ROW) for q in self.rows if where is None or where(q, _NO_ROW)]
            return _quantified(plan.item(o), self.cache, plan.op, plan.kind)
        if plan.item is not None:  # in/any/all over an aggregating subquery
            return self._compute(o)
        if self.cache is _STALE:
            self.cache = self._compute(_NO_ROW)
        return self.cache

    def _compute(self, o: tuple[dict[str, Any], ...]) -> Any:
        plan = self.plan
        if self.incremental:
            assert plan.select is not None
            return plan.select((), [s.value() for s in self.states], o)
        where = plan.where
        cands: Any = self.rows
        if self.index is not None:
            assert plan.index_value is not None
            k = plan.index_value(o)
            cands = () if k is None else self.index.get(hashable(k), ())
        rows = cands if where is None else [q for q in cands if where(q, o)]
        if plan.kind == "exists" and not plan.aggs:
            return bool(rows)
        if plan.aggs:
            return self._aggregated(rows, o)
        if plan.kind == "in":
            assert plan.item is not None and plan.select is not None
            return _in(plan.item(o), [plan.select(q, o) for q in rows], plan.negate)
        if plan.kind in ("any", "all"):
            assert plan.item is not None and plan.select is not None
            return _quantified(plan.item(o), [plan.select(q, o) for q in rows], plan.op, plan.kind)
        if len(rows) != 1:
            return None  # Esper: no row, or more than one row, is null
        row = next(iter(rows))
        if plan.star:
            return {k: v for k, v in row.items() if v is not None}
        assert plan.select is not None
        return plan.select(row, o)


def _aggregated_rows(state: SubqueryState, rows: Any, o: tuple[dict[str, Any], ...]) -> list[tuple[Any, list[Any]]]:
    """(group key, aggregate values) of the groups of ``rows`` that pass HAVING; an ungrouped
    subquery has one group even over no rows (count 0)."""
    plan = state.plan
    assert plan.args is not None
    groups: dict[Any, list[Any]] = {}
    if plan.group is None:
        groups[()] = [f() for f in state.factories]
    for q in rows:
        k = () if plan.group is None else hashable(plan.group(q, o))
        st = groups.get(k)
        if st is None:
            st = groups[k] = [f() for f in state.factories]
        for s, a in zip(st, plan.args(q, o), strict=False):
            s.enter(a)
    out = []
    for k, st in groups.items():
        a = [s.value() for s in st]
        if plan.having is None or plan.having(k, a, o):
            out.append((k, a))
    return out


def fill_driven(states: list[tuple[str, SubqueryState]], ev: Events, sel: list[int], out: Events) -> Events:
    """Subqueries over the statement's own stream, at batch speed: walk the batch ``ev`` in
    arrival order, feeding each subquery its events and computing, for each event the
    statement keeps (``sel``, whose events are ``out``), the subquery values. An event reaches
    the subquery's window before the statement evaluates it (Esper's "subselect first")."""
    feeds = [(st, *st.select(ev)) for _key, st in states]
    pos = [0] * len(feeds)
    cols = dict(out.cols)
    values: list[list[Any]] = [[] for _ in states]
    outer = out.rows()
    times = ev.times
    for k, i in enumerate(sel):
        t = times[i]
        for f, (st, qsel, qev) in enumerate(feeds):
            end = bisect_left(qsel, i + 1, pos[f])
            if end > pos[f]:
                st.advance(qev, pos[f], end)
                pos[f] = end
            st.catch_up(t)
        o = (outer[k],)
        for n, (_key, st) in enumerate(states):
            values[n].append(st.value(o))
    for f, (st, qsel, qev) in enumerate(feeds):
        if pos[f] < len(qsel):
            st.advance(qev, pos[f], len(qsel))
    for (key, _st), vals in zip(states, values, strict=True):
        cols[key] = vals
    return Events(cols, out.n, out.times)


def _in(x: Any, values: list[Any], negate: bool) -> Any:
    """SQL's IN over a subquery's values: no values is false (``not in``: true), whatever x."""
    if not values:
        return negate
    if x is None:
        return None
    if any(v is not None and v == x for v in values):
        return not negate
    if any(v is None for v in values):
        return None
    return negate


_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "==": lambda a, b: bool(a == b), "!=": lambda a, b: bool(a != b), "<": lambda a, b: bool(a < b),
    "<=": lambda a, b: bool(a <= b), ">": lambda a, b: bool(a > b), ">=": lambda a, b: bool(a >= b),
}


def _quantified(x: Any, values: list[Any], op: str, kind: str) -> Any:
    """``x op all|any (values)`` with SQL's nulls (EPLSubselectAllAnySomeExpr): all over no
    values is true, any false; a comparison with null is null. One exception, Esper's: a
    relational ``any`` (<, <=, >, >=) that no value satisfies is false as soon as one value is
    not null (``0 >= any (null, 1)`` is false, ``0 = any (null, 1)`` null)."""
    if not values:
        return kind == "all"
    if x is None:
        return None
    cmp = _COMPARE[op]
    results: list[bool | None] = []
    for v in values:
        try:
            results.append(None if v is None else cmp(x, v))
        except TypeError:  # values that do not compare: null, as a failed conversion
            results.append(None)
    if kind == "all":
        if any(r is False for r in results):
            return False
        return None if any(r is None for r in results) else True
    if any(r is True for r in results):
        return True
    if op in ("==", "!="):
        return None if any(r is None for r in results) else False
    return False if any(v is not None for v in values) else None


class _Stale:
    pass


_STALE = _Stale()
_NO_ROW: tuple[dict[str, Any], ...] = ()  # an uncorrelated subquery never reads the outer event
