"""Named windows and the on-trigger statements that act on them (Esper's "Named Windows").

A named window (``create window W#time(5 min) as ...``) is a data window shared by every
statement of the module: ``insert into W`` fills it, ``select ... from W`` consumes its insert
and remove streams (an aggregation over W goes down when rows leave it), and
``on Trigger delete | select | update | merge`` act on its rows when a trigger event arrives.

The runtime treats a ``NamedWindow`` and an ``OnTrigger`` like statements (``feed``, ``fire``,
``next_due``...) so timers, batching and INSERT INTO need nothing new; their ``deliver`` hook
hands what they changed to the window's consumers, which receive (new, old) posts exactly as
from a window of their own.

Memory is bounded by the window's view and, whatever the view (``keepall``, ``unique`` over
an unbounded key, a time window under a flood), by ``max_rows``: past it the oldest row is
evicted, posted as removed to the consumers and counted (``engine.window_rows_evicted``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .plan import StatementInfo, StreamPlan
from .rows import Row
from .windows import Events, Post, hashable

__all__ = ["MAX_WINDOW_ROWS", "MergeAction", "NamedWindow", "NamedWindowPlan", "OnPlan", "OnTrigger",
           "install"]

#: rows one named window keeps whatever its view; past it the oldest row is evicted, counted
MAX_WINDOW_ROWS = 1_000_000

RowFn = Callable[..., Any]


@dataclass
class NamedWindowPlan:
    """``create window``: the view (time | length | keepall | unique | firstunique |
    lastevent) and its argument (period ms, row count, unique key names)."""

    info: StatementInfo
    props: list[str] | None
    view: str
    arg: Any
    streams: list[StreamPlan]  # the window's own stream, as the runtime books consumers
    #: the create-window statement's name (its @Name, else the window's): its own rows, the
    #: window's insert and remove streams, carry it
    statement: str = ""


@dataclass
class MergeAction:
    kind: str  # update | delete | insert
    assigns: list[tuple[str, RowFn]] = field(default_factory=list)  # (window key, f(t, w, initial w))
    values: RowFn | None = None  # insert: f(t) -> tuple of values
    names: list[str] = field(default_factory=list)
    into: str | None = None  # insert into another stream than the window
    where: RowFn | None = None  # f(t, w) -> bool


@dataclass
class OnPlan:
    """An on-trigger statement. Functions take (trigger row, window row) dicts."""

    kind: str  # delete | select | select-delete | update | merge
    info: StatementInfo
    window: str
    streams: list[StreamPlan]  # the trigger stream (its filter)
    where: RowFn | None = None
    select: RowFn | None = None
    names: list[str] = field(default_factory=list)
    star: bool = False
    assigns: list[tuple[str, RowFn]] = field(default_factory=list)
    whens: list[tuple[bool, RowFn | None, list[MergeAction]]] = field(default_factory=list)
    equi: tuple[str, str] | None = None  # WHERE t.k = w.k: (trigger key, window key), a hash lookup
    shape: Callable[[list[Row]], list[Row]] | None = None  # select: ORDER BY over one trigger's rows
    never: bool = False  # WHERE is the literal false (merge W insert select ...): no row matches


def _events(items: list[tuple[int, dict[str, Any]]]) -> Events:
    """Columnar events of row dicts (keys: the union, absent values None)."""
    names: dict[str, None] = {}
    for _t, r in items:
        names.update(dict.fromkeys(r))
    return Events({k: [r.get(k) for _t, r in items] for k in names}, len(items), [t for t, _r in items])


class NamedWindow:
    """The rows of one named window and what changed since the last delivery."""

    insert_into: str | None = None

    def __init__(self, plan: NamedWindowPlan, counters: Counter[str], stats: Any = None,
                 max_rows: int = MAX_WINDOW_ROWS) -> None:
        self.plan = plan
        self.name = plan.info.name
        self.counters = counters
        self.stats = stats
        self.max_rows = max_rows
        self.rows: dict[int, tuple[int, dict[str, Any]]] = {}  # id -> (time, row); insertion order
        self.seq = 0
        self.uniq: dict[Any, int] = {}
        self.indexes: dict[str, dict[Any, set[int]]] = {}
        self.pending: list[Post] = []
        self.arrived: list[tuple[int, dict[str, Any]]] = []  # arrivals not yet in a post
        self.consumers: list[tuple[Any, int]] = []

    # -- contents ---------------------------------------------------------------------------------
    def ensure_index(self, key: str) -> None:
        """Keep a hash index on ``key`` (on-trigger statements that look rows up by equality)."""
        if key not in self.indexes:
            ix: dict[Any, set[int]] = {}
            for rid, (_t, r) in self.rows.items():
                ix.setdefault(hashable(r.get(key)), set()).add(rid)
            self.indexes[key] = ix

    def lookup(self, key: str, value: Any) -> list[int]:
        return sorted(self.indexes[key].get(hashable(value), ()))

    def _unique_key(self, row: dict[str, Any]) -> Any:
        return tuple(hashable(row.get(k)) for k in self.plan.arg)

    def _add(self, t: int, row: dict[str, Any]) -> int:
        self.seq += 1
        rid = self.seq
        self.rows[rid] = (t, row)
        for k, ix in self.indexes.items():
            ix.setdefault(hashable(row.get(k)), set()).add(rid)
        if self.plan.view in ("unique", "firstunique"):
            self.uniq[self._unique_key(row)] = rid
        return rid

    def _remove(self, rid: int) -> tuple[int, dict[str, Any]]:
        t, row = self.rows.pop(rid)
        for k, ix in self.indexes.items():
            ids = ix.get(hashable(row.get(k)))
            if ids is not None:
                ids.discard(rid)
                if not ids:
                    del ix[hashable(row.get(k))]
        if self.plan.view in ("unique", "firstunique"):
            uk = self._unique_key(row)
            if self.uniq.get(uk) == rid:
                del self.uniq[uk]
        return t, row

    def insert(self, t: int, row: dict[str, Any]) -> None:
        """A row arrives (INSERT INTO W, or merge's insert): the view decides what leaves."""
        props = self.plan.props
        if props is not None:
            row = {k: row.get(k) for k in props}
        view = self.plan.view
        old: list[tuple[int, dict[str, Any]]] = []
        if view in ("unique", "firstunique"):
            prev = self.uniq.get(self._unique_key(row))
            if prev is not None:
                if view == "firstunique":
                    return  # the first row of a key stays; later ones are not posted
                old.append(self._remove(prev))
        self._add(t, row)
        if view in ("length", "lastevent"):
            size = 1 if view == "lastevent" else int(self.plan.arg)
            while len(self.rows) > size:
                old.append(self._remove(next(iter(self.rows))))
        while len(self.rows) > self.max_rows:
            old.append(self._remove(next(iter(self.rows))))
            self.counters["engine.window_rows_evicted"] += 1
            if self.stats is not None:
                self.stats.add("engine.window_rows_evicted")
        if old:
            self._post(Post(None, _events([(t, row)]), _events(old)))
        else:
            # consecutive arrivals with nothing leaving make one post (Esper posts one per
            # event; the rows are the same: a post of time None is handled event by event)
            self.arrived.append((t, row))

    def _post(self, post: Post) -> None:
        self._close_arrivals()
        self.pending.append(post)

    def _close_arrivals(self) -> None:
        if self.arrived:
            self.pending.append(Post(None, _events(self.arrived), _events([])))
            self.arrived = []

    def delete(self, t: int, ids: list[int]) -> list[dict[str, Any]]:
        gone = [self._remove(rid) for rid in ids if rid in self.rows]
        if gone:
            self._post(Post(t, _events([]), _events(gone)))
        return [r for _t, r in gone]

    def update(self, t: int, rid: int, new_row: dict[str, Any]) -> None:
        """An on-update/merge changed a row: it keeps its place (and expiry); consumers see
        the new values as arriving and the previous ones as leaving."""
        t0, old_row = self.rows[rid]
        evicted: list[tuple[int, dict[str, Any]]] = []
        if self.plan.view in ("unique", "firstunique"):
            other = self.uniq.get(self._unique_key(new_row))
            if other is not None and other != rid:
                # the new values take a key another row holds: Esper's unique view lets that
                # row go (UniqueByPropertyView), its first-unique view keeps the first row and
                # does not take the new values, so the updated row leaves
                if self.plan.view == "firstunique":
                    self._remove(rid)
                    self._post(Post(t, _events([]), _events([(t0, old_row)])))
                    return
                evicted.append(self._remove(other))
        for k, ix in self.indexes.items():
            ids = ix.get(hashable(old_row.get(k)))
            if ids is not None:
                ids.discard(rid)
                if not ids:  # an index holds only values some row has: bounded by the rows
                    del ix[hashable(old_row.get(k))]
            ix.setdefault(hashable(new_row.get(k)), set()).add(rid)
        if self.plan.view in ("unique", "firstunique"):
            if self.uniq.get(self._unique_key(old_row)) == rid:
                del self.uniq[self._unique_key(old_row)]
            self.uniq[self._unique_key(new_row)] = rid
        self.rows[rid] = (t0, new_row)  # same key: the row keeps its place in the window
        self._post(Post(t, _events([(t, new_row)]), _events([*evicted, (t0, old_row)])))

    # -- the runtime's statement protocol -----------------------------------------------------------
    def prefilter(self, idx: int, ev: Events) -> Events:
        return ev

    def next_due(self, final: bool = False) -> int | None:
        if self.plan.view == "time" and self.rows:
            return self.rows[next(iter(self.rows))][0] + int(self.plan.arg)
        return None

    def due_if_fed(self, idx: int, t: int) -> int | None:
        if self.plan.view != "time":
            return None
        due = self.next_due()
        return due if due is not None else t + int(self.plan.arg)

    def feed(self, idx: int, ev: Events) -> list[Row]:
        for t, row in zip(ev.times, ev.rows(), strict=False):
            self.insert(t, row)
        return []

    def fire(self, now: int) -> list[Row]:
        limit = now - int(self.plan.arg)
        gone = []
        while self.rows:
            rid = next(iter(self.rows))
            if self.rows[rid][0] > limit:
                break
            gone.append(self._remove(rid))
        if gone:
            self._post(Post(now, _events([]), _events(gone)))
        return []

    def flush(self) -> list[Row]:
        return []

    def deliver(self, rt: Any, rows: list[Row], out: list[Row]) -> None:
        """Hand the window's posts to its consumers (the runtime calls this where it would
        emit a statement's rows)."""
        while True:
            self._close_arrivals()
            if not self.pending:
                break
            posts, self.pending = self.pending, []
            # subqueries first: in Esper a subquery reads the window's current rows, so a consumer
            # handed this post must find them already changed
            consumers = sorted(self.consumers, key=lambda c: not getattr(c[0], "reads_window_rows", False))
            for post in posts:
                self._own_rows(post, out)
                for st, idx in consumers:
                    rt.emit(st, _relay(st, idx, post), out)

    def _own_rows(self, post: Post, out: list[Row]) -> None:
        """The create-window statement's own rows: in Esper its listeners receive the window's
        insert stream (rows arriving, an update's new values) and remove stream (rows leaving:
        expiry, eviction, on-delete, an update's previous values) as the window posts them.
        Remove-stream rows are marked ``removed``; their time is the change's, not the row's
        arrival. Never routed anywhere: the window's stream feeds the window itself."""
        name = self.plan.statement or self.name
        new, old = post.new, post.old
        if new.n:
            out.extend(Row(name, name, t if post.time is None else post.time, r)
                       for t, r in zip(new.times, new.rows(), strict=True))
        if old.n:
            when = post.time if post.time is not None else (max(new.times) if new.n else max(old.times))
            out.extend(Row(name, name, when, r, True) for r in old.rows())


def _relay(st: Any, idx: int, post: Post) -> list[Row]:
    """A window post as the consumer statement's own window would post it: its filter (and
    WHERE) applied to the arriving and the leaving rows, only the keys it reads."""
    sp: StreamPlan = st.plan.streams[idx]

    def prep(ev: Events) -> Events:
        if not ev.n:
            return ev
        sel = sp.filter(ev.cols, ev.n) if sp.filter is not None else list(range(ev.n))
        return ev.take(sel, sp.keys)

    new, old = prep(post.new), prep(post.old)
    if not new.n and not old.n:
        return []
    if getattr(st, "subqueries", None) and getattr(st, "single", False):
        # the statement's subqueries, evaluated as it takes the window's rows (its feed does the
        # same for events of a stream; a window's posts come here instead)
        if new.n:
            new = st._subquery_columns(new)
        if old.n:
            old = st._subquery_columns(old)
    time = post.time
    if time is None and not new.n and post.new.n:
        time = post.new.times[-1]  # only rows pushed out pass: at the arriving row's time
    rows: list[tuple[Any, Row]] = []
    st.on_post(idx, Post(time, new, old), rows)
    return st._limit(rows)  # type: ignore[no-any-return]


class OnTrigger:
    """``on Trigger ... W``: each trigger event, in order, acts on the window's rows."""

    def __init__(self, plan: OnPlan, window: NamedWindow) -> None:
        self.plan = plan
        self.nw = window
        self.name = plan.info.name
        self.stream = plan.info.stream
        self.insert_into = plan.info.insert_into
        if plan.equi is not None:
            window.ensure_index(plan.equi[1])
        #: streams this statement's rows go to (INSERT INTO, merge's insert into)
        self.routed = {plan.info.insert_into} | {a.into for _m, _c, acts in plan.whens for a in acts}
        self.inserts = plan.kind == "merge" and any(
            a.kind == "insert" and a.into is None for _m, _c, acts in plan.whens for a in acts)

    def prefilter(self, idx: int, ev: Events) -> Events:
        sp = self.plan.streams[0]
        return ev.take(sp.filter(ev.cols, ev.n)) if sp.filter is not None else ev

    def next_due(self, final: bool = False) -> int | None:
        return None

    def due_if_fed(self, idx: int, t: int) -> int | None:
        # rows a merge inserts may expire within the segment: cut it where they would
        return self.nw.due_if_fed(0, t) if self.inserts else None

    def fire(self, now: int) -> list[Row]:
        return []

    def flush(self) -> list[Row]:
        return []

    def _matches(self, trow: dict[str, Any]) -> list[int]:
        plan, nw = self.plan, self.nw
        if plan.never:
            return []
        if plan.equi is not None:
            v = trow.get(plan.equi[0])
            ids = [] if v is None else nw.lookup(plan.equi[1], v)
        else:
            ids = list(nw.rows)
        if plan.where is None:
            return ids
        where = plan.where
        return [rid for rid in ids if where(trow, nw.rows[rid][1])]

    def feed(self, idx: int, ev: Events) -> list[Row]:
        out: list[Row] = []
        plan = self.plan
        for t, trow in zip(ev.times, ev.rows(), strict=False):
            ids = self._matches(trow)
            if plan.kind in ("select", "select-delete"):
                start = len(out)
                for rid in ids:
                    wrow = self.nw.rows[rid][1]
                    if plan.star:
                        out.append(Row(self.name, self.stream, t, dict(wrow)))
                    else:
                        assert plan.select is not None
                        out.append(Row(self.name, self.stream, t,
                                       dict(zip(plan.names, plan.select(trow, wrow), strict=False))))
                if plan.shape is not None and len(out) - start > 1:
                    out[start:] = plan.shape(out[start:])
                if plan.kind == "select-delete":  # Esper's on-select-and-delete: then removes them
                    self.nw.delete(t, ids)
            elif plan.kind == "delete":
                for wrow in self.nw.delete(t, ids):
                    out.append(Row(self.name, self.stream, t, dict(wrow)))
            elif plan.kind == "update":
                olds: list[dict[str, Any]] = []
                for rid in ids:
                    out.append(Row(self.name, self.stream, t, dict(self._update(t, rid, trow, plan.assigns, olds))))
                self._removed(t, olds, out)
            else:
                olds = []
                self._merge(t, trow, ids, out, olds)
                self._removed(t, olds, out)
        return out

    def _removed(self, t: int, olds: list[dict[str, Any]], out: list[Row]) -> None:
        """The statement's remove stream for one trigger, after its insert stream (Esper hands
        a listener the two at once): the previous values of updated rows, the deleted rows."""
        out.extend(Row(self.name, self.stream, t, dict(r), True) for r in olds)

    def _update(self, t: int, rid: int, trow: dict[str, Any], assigns: list[tuple[str, RowFn]],
                olds: list[dict[str, Any]]) -> dict[str, Any]:
        """Update one row; return its new values and add its previous ones to ``olds``: an
        on-update or on-merge statement outputs the updated row as new and its previous
        values as old (InfraNWTableOnUpdateSceneOne, InfraNWTableOnMerge.InfraFlow)."""
        prev = self.nw.rows[rid][1]
        new = dict(prev)
        for key, fn in assigns:  # in order: a later assignment sees the earlier ones
            new[key] = fn(trow, new, prev)
        self.nw.update(t, rid, new)
        olds.append(prev)
        return new

    def _merge(self, t: int, trow: dict[str, Any], ids: list[int], out: list[Row],
               olds: list[dict[str, Any]]) -> None:
        """Esper's on-merge: each matched row takes the first ``when matched`` clause whose
        condition holds; with no matched row, the first ``when not matched`` clause runs.
        The statement outputs, as Esper's does, the rows it inserted into the window and the
        new values of those it updated as new rows, the previous values and the deleted rows
        as old ones (``olds``)."""
        whens = self.plan.whens
        if ids:
            for rid in ids:
                if rid not in self.nw.rows:
                    continue
                wrow = self.nw.rows[rid][1]
                for matched, cond, actions in whens:
                    if matched and (cond is None or cond(trow, wrow)):
                        self._matched_actions(t, trow, rid, actions, out, olds)
                        break
            return
        for matched, cond, actions in whens:
            if not matched and (cond is None or cond(trow, None)):
                for a in actions:
                    if a.where is None or a.where(trow, None):
                        self._insert(t, trow, None, a, out)
                break

    def _matched_actions(self, t: int, trow: dict[str, Any], rid: int, actions: list[MergeAction],
                         out: list[Row], olds: list[dict[str, Any]]) -> None:
        """The actions of one matched row's clause, as Esper applies them to a named window
        (InfraOnMergeActionUpd/Del; InfraNWTableOnMerge.InfraDeleteThenUpdate and
        InfraMultiactionDeleteUpdate): every update starts from the row as it was matched and
        yields a new row (its assignments in order, each seeing the ones before), and a later
        action's condition reads the last such row; a delete removes the matched row, not an
        update's result. So ``then delete then update`` (or ``then update then delete``) leaves
        the updated row, and two updates leave two rows: the first takes the matched row's place
        (and expiry), the next are inserted. The statement's old rows are the matched row once
        per update and per delete, as Esper's remove stream lists it."""
        orig = self.nw.rows[rid][1]
        cur = orig
        copies: list[dict[str, Any]] = []
        deleted = 0
        for a in actions:
            if a.where is not None and not a.where(trow, cur):
                continue
            if a.kind == "update":
                new = dict(orig)
                for key, fn in a.assigns:  # in order: a later assignment sees the earlier ones
                    new[key] = fn(trow, new, orig)
                copies.append(new)
                cur = new
            elif a.kind == "delete":
                deleted += 1
            else:
                self._insert(t, trow, cur, a, out)
        if copies:
            self.nw.update(t, rid, copies[0])
            for extra in copies[1:]:
                self.nw.insert(t, extra)
            out.extend(Row(self.name, self.stream, t, dict(c)) for c in copies)
            olds.extend([orig] * (len(copies) + deleted))
        elif deleted:
            gone = self.nw.delete(t, [rid])
            olds.extend(gone * deleted)

    def _insert(self, t: int, trow: dict[str, Any], wrow: dict[str, Any] | None, a: MergeAction,
                out: list[Row]) -> None:
        if a.values is None:  # insert select *: the trigger's properties
            row = dict(trow)
        else:
            row = dict(zip(a.names, a.values(trow, wrow), strict=False))
        if a.into is None:
            self.nw.insert(t, row)
            props = self.nw.plan.props
            out.append(Row(self.name, self.stream, t, {k: row.get(k) for k in props} if props is not None else row))
        else:
            out.append(Row(self.name, a.into, t, row))

    def deliver(self, rt: Any, rows: list[Row], out: list[Row]) -> None:
        """The statement's own rows (on-select, on-delete: the deleted rows; merge's
        insert into another stream), then what the window's consumers see."""
        if rows:
            out.extend(rows)
            by_stream: dict[str, list[Row]] = {}
            for r in rows:
                if r.stream in self.routed and r.stream in rt.consumers:
                    by_stream.setdefault(r.stream, []).append(r)
            for stream, rs in by_stream.items():
                rt.feed_stream(stream, _events([(r.time_ms, r.values) for r in rs]), out)
        self.nw.deliver(rt, [], out)


def install(rt: Any, windows: list[NamedWindowPlan], triggers: list[OnPlan], stats: Any = None,
            max_rows: int = MAX_WINDOW_ROWS) -> None:
    """Add a module's named windows and on-trigger statements to a runtime: each window
    consumes its stream (INSERT INTO W); the statements reading W get the window's posts
    instead of W's events."""
    if not windows:
        return
    named: dict[str, NamedWindow] = {}
    for plan in windows:
        nw = NamedWindow(plan, rt.counters, stats, max_rows)
        named[plan.info.name] = nw
        nw.consumers = rt.consumers.pop(plan.info.name, [])
        rt.consumers[plan.info.name] = [(nw, 0)]
        rt.stmts.append(nw)
    for tp in triggers:
        st = OnTrigger(tp, named[tp.window])
        rt.stmts.append(st)
        rt.consumers.setdefault(tp.streams[0].stream, []).append((st, 0))
    rt.named_windows = named
