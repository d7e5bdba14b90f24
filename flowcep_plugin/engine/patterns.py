"""Event patterns after Esper's pattern semantics (EPL Reference: Patterns).

Operators: filters ``a=S(...)``, ``every``, ``every-distinct(expr, ... [, expiry])``, ``->``,
``and``, ``or``, ``not``, ``[n] p``, ``[lo:hi] p until q``, ``p until q``, the guard
``where timer:within(P)`` and the observer ``timer:interval(P)``.

The model is Esper's state-node model: each operator instance reports to its parent that it
turned true (``quitted`` when it can turn true no more) or permanently false. The rules that
decide which rows come out, each backed by a case in tests/conformance/test_patterns*.py:

* ``every p`` starts a new instance of p each time one turns true, and when one turns
  permanently false (``not`` violated, ``timer:within`` expired); an instance that turns true
  while starting (``every (not B)``) is dropped, as Esper's spawn evaluator does.
* ``p -> q`` starts one q for each time p turns true. A started instance never sees the
  event that started it.
* ``p and q`` keeps every result of each side and, when one side turns true, pairs it with
  all results of the other sides (``every b and every d`` pairs each b with each d).
  ``not q`` is true from its start and turns the enclosing ``and`` false when q occurs.
* ``timer:within(P)`` counts from when its sub-expression starts and ends it at exactly
  start + P, before any event of that time.
* When one event matches several filters of a statement, filters with more conditions
  (conjuncts) are processed first and the ``until`` side before the repeated side, which is
  how Esper's filter index hands them over (``every (b=B and not B(id='B3'))``,
  ``[1:] b until e=B(id='B1')``); otherwise in the order the filters started.

Bounds (Esper's "max sub-expressions" with prevent-start): at most ``MAX_SUBEXPRESSIONS``
followed-by instances per statement; sub-expressions that would exceed it are not started and
counted in ``PatternStmt.stats``. ``and`` keeps at most ``MAX_AND_RESULTS`` results per side and
``every-distinct`` at most ``MAX_DISTINCT_KEYS`` keys (oldest dropped, counted).

Timers after the last event: the clock runs to infinity at the end of input, so a timer is
only fired while it is due within the statement's *timer horizon* (the last event's time plus
the sum of the pattern's timer periods); ``every timer:interval(P)`` stops there instead of
firing forever. Patterns are evaluated record by record (they are selective); filters are
compiled once, and the tag-free part of the filters skips records no filter can match.
"""

from __future__ import annotations

import heapq
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from itertools import product
from typing import Any, Protocol

from ..errors import EPLError
from . import ast as A
from .expressions import CodeGen, compile_column_filter, compile_row_function, find_aggregates, props_of
from .plan import SelectPlan, StatementInfo, StreamDef, StreamPlan
from .rows import Row
from .windows import Events


class _Compiler(Protocol):
    """What pattern planning needs of the module compiler (one layer up, never imported)."""

    filename: str
    streams: dict[str, StreamDef]

    def err(self, msg: str, pos: A.Pos | None) -> EPLError: ...

    def stream_def(self, name: str, pos: A.Pos) -> StreamDef: ...

__all__ = ["compile_pattern_statement", "PatternStmt", "PatternPlan", "MAX_SUBEXPRESSIONS"]

#: followed-by sub-expression instances alive at once per statement (Esper's
#: max-subexpression with prevent-start)
MAX_SUBEXPRESSIONS = 100_000
#: results kept per side of an ``and`` (each side that keeps turning true), and matches kept
#: by one ``until`` repetition
MAX_AND_RESULTS = 10_000
#: keys remembered by one ``every-distinct`` instance
MAX_DISTINCT_KEYS = 100_000
#: timers fired at one and the same time before the statement gives up (a zero period loop)
_MAX_FIRES_AT_ONCE = 100_000

_E: dict[str, Any] = {}
Env = dict[str, Any]
_INDEXED = re.compile(r"^([A-Za-z_$][A-Za-z0-9_$]*)\[(\d+)\]$")


def _at(value: Any, i: int) -> Any:
    """``a[i]`` of a repeated tag: the i-th event, or an empty event when out of range."""
    if isinstance(value, list) and 0 <= i < len(value):
        return value[i]
    return _E


# -- plan ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _PFilter:
    tag: str | None
    si: int
    fn: Callable[..., Any] | None
    prio: int
    # ``prop = tag.prop`` in the filter: the event key and the tag value, so the filter can be
    # looked up by the event's value instead of tried on every event (Esper's filter index)
    ikey: str | None = None
    ival: Callable[..., Any] | None = None


@dataclass(frozen=True)
class _PNode:
    kind: str  # seq | and | or | every | distinct | within | timer | not | repeat
    items: tuple[Any, ...] = ()
    ms: int = 0
    low: int = 0
    high: int | None = None
    until: Any = None
    key: Callable[..., Any] | None = None
    arrays: tuple[str, ...] = ()


@dataclass
class PatternPlan:
    root: Any
    where: Callable[..., Any] | None
    prios: tuple[int, ...] = (0,)
    horizon_ms: int = 0
    nstreams: int = 1


def compile_pattern_statement(c: _Compiler, s: A.SelectStmt, name: str) -> SelectPlan:
    """Plan a ``from pattern [...]`` statement: resolve tags, compile filters and select."""

    src = s.sources
    assert isinstance(src, A.PatternSource)
    tags: dict[str, str] = {}
    arrays: set[str] = set()
    streams: list[str] = []
    fn = c.filename

    def collect(n: A.PatternNode, repeated: bool) -> None:
        if isinstance(n, A.PatFilter):
            c.stream_def(n.stream, n.pos)
            if n.stream not in streams:
                streams.append(n.stream)
            if n.tag:
                if n.tag in tags and tags[n.tag] != n.stream:
                    raise c.err(f"tag {n.tag!r} is used for two streams", n.pos)
                tags[n.tag] = n.stream
                if repeated:
                    arrays.add(n.tag)
        if isinstance(n, A.PatRepeat):
            collect(n.item, True)
            if n.until is not None:
                collect(n.until, repeated)
            return
        for ch in _kids(n):
            collect(ch, repeated)

    collect(src.root, False)
    needed: dict[str, set[str]] = {st: set() for st in streams}

    def tag_res(p: A.Prop, scalars: frozenset[str] = frozenset()) -> str:
        """A tag property; ``scalars`` are repeated tags seen from inside their repetition,
        where each is one event."""
        head = p.parts[0]
        m = _INDEXED.match(head)
        tag = m.group(1) if m else head
        if len(p.parts) < 2 or tag not in tags:
            raise c.err(f"property {p.text!r} must be prefixed with a pattern tag "
                        f"({', '.join(sorted(tags)) or 'none defined'})", p.pos)
        arrays_here = arrays - scalars
        if m and tag not in arrays_here:
            raise c.err(f"tag {tag!r} is not repeated: write {tag}.{'.'.join(p.parts[1:])}", p.pos)
        if not m and tag in arrays_here:
            raise c.err(f"tag {tag!r} is repeated (an array): write {tag}[0].{'.'.join(p.parts[1:])}",
                        p.pos)
        sd = c.streams[tags[tag]]
        key = sd.key(".".join(p.parts[1:]))
        if key is None:
            raise c.err(f"unknown property {'.'.join(p.parts[1:])!r} of stream {sd.name}", p.pos)
        needed[sd.name].add(key)
        if m:
            return f"_at(env.get({tag!r}), {int(m.group(2))}).get({key!r})"
        return f"env.get({tag!r}, _E).get({key!r})"

    def tags_in(n: A.PatternNode) -> list[str]:
        out: list[str] = []
        if isinstance(n, A.PatFilter) and n.tag and n.tag not in out:
            out.append(n.tag)
        for ch in _kids(n):
            for t in tags_in(ch):
                if t not in out:
                    out.append(t)
        return out

    prefilters: dict[str, list[A.Expr | None]] = {st: [] for st in streams}
    prios: set[int] = set()
    periods: list[int] = []

    def repeated_in(n: A.PatternNode) -> set[str]:
        if isinstance(n, A.PatRepeat):
            return set(tags_in(n.item)) | (repeated_in(n.until) if n.until is not None else set())
        out: set[str] = set()
        for ch in _kids(n):
            out |= repeated_in(ch)
        return out

    def build(n: A.PatternNode, until_depth: int, scalars: frozenset[str] = frozenset()) -> Any:
        if isinstance(n, A.PatFilter):
            sd = c.streams[n.stream]

            def res(p: A.Prop) -> str:
                head = _INDEXED.match(p.parts[0])
                first = head.group(1) if head else p.parts[0]
                if len(p.parts) > 1 and first in tags and first != n.stream:
                    return tag_res(p, scalars)
                parts = p.parts[1:] if len(p.parts) > 1 and p.parts[0] == n.stream else p.parts
                key = sd.key(".".join(parts))
                if key is None:
                    raise c.err(f"unknown property {'.'.join(parts)!r} of stream {sd.name}", p.pos)
                needed[sd.name].add(key)
                return f"ev.get({key!r})"

            f = None
            static: list[A.Expr] = []
            if n.filter is not None:
                if find_aggregates(n.filter, []):
                    raise c.err("aggregate functions are not allowed in pattern filters", n.pos)
                gen = CodeGen(fn, res)
                code = gen.true(n.filter)
                gen.consts["_E"] = _E
                gen.consts["_at"] = _at
                f = compile_row_function(["ev", "env"], code, gen.consts)
                static = [cj for cj in _conjuncts(n.filter)
                          if not any(len(p.parts) > 1 and _tag_of(p) in tags and _tag_of(p) != n.stream
                                     for p in props_of(cj))]
            # the part of the filter that needs no tag: used to skip records no filter can match
            prefilters[n.stream].append(_and(static) if static else None)
            # Esper's filter index hands an event to the more specific filters first (the
            # deeper index node), and the until side wins over the repeated side
            prio = 1000 * until_depth + min(len(_conjuncts(n.filter)) if n.filter is not None else 0, 999)
            prios.add(prio)
            ikey, ival = _equality_index(n, sd, tags, scalars, arrays, tag_res, fn)
            return _PFilter(n.tag, streams.index(n.stream), f, prio, ikey, ival)
        if isinstance(n, A.PatFollowedBy):
            return _PNode("seq", tuple(build(i, until_depth, scalars) for i in n.items))
        if isinstance(n, A.PatAnd):
            return _PNode("and", tuple(build(i, until_depth, scalars) for i in n.items))
        if isinstance(n, A.PatOr):
            return _PNode("or", tuple(build(i, until_depth, scalars) for i in n.items))
        if isinstance(n, A.PatEvery):
            return _PNode("every", (build(n.item, until_depth, scalars),))
        if isinstance(n, A.PatEveryDistinct):
            inner = set(tags_in(n.item))
            key_scalars = scalars | frozenset(inner - repeated_in(n.item))
            kgen = CodeGen(fn, lambda p: _distinct_res(p, inner, set(tags), lambda q: tag_res(q, key_scalars), c))
            kgen.consts["_E"] = _E
            kgen.consts["_at"] = _at
            key = compile_row_function(["env"], "(" + "".join(kgen.value(e) + ", " for e in n.exprs) + ")",
                                       kgen.consts)
            return _PNode("distinct", (build(n.item, until_depth, scalars),), key=key, ms=n.expiry_ms or 0)
        if isinstance(n, A.PatWithin):
            periods.append(n.ms)
            return _PNode("within", (build(n.item, until_depth, scalars),), n.ms)
        if isinstance(n, A.PatTimer):
            periods.append(n.ms)
            return _PNode("timer", (), n.ms)
        if isinstance(n, A.PatNot):
            return _PNode("not", (build(n.item, until_depth, scalars),))
        if isinstance(n, A.PatRepeat):
            if n.until is None and (n.low is None or n.low != n.high):
                raise c.err("a [lo:hi] repeat needs an UNTIL (or write [n] for exactly n)", n.pos)
            item = build(n.item, until_depth, scalars | frozenset(tags_in(n.item)))
            until = build(n.until, until_depth + 1, scalars) if n.until is not None else None
            return _PNode("repeat", (item,), low=n.low or 0, high=n.high, until=until,
                          arrays=tuple(t for t in tags_in(n.item)))
        raise c.err("unsupported pattern construct", n.pos)

    root = build(src.root, 0)
    if isinstance(root, _PNode) and root.kind == "not":
        raise c.err("unsupported construct: a pattern that is only NOT (a NOT outside an AND or "
                    "a followed-by is true at once; write B and not C)", src.pos)
    items = s.items
    if s.group_by or any(find_aggregates(it.expr, []) for it in items or ()):
        raise c.err("unsupported construct: aggregates over a pattern (insert the pattern's "
                    "rows into a stream and aggregate that)", s.pos)
    gen = CodeGen(fn, tag_res)
    gen.consts["_E"] = _E
    gen.consts["_at"] = _at
    if items is None:
        select_names = list(tags)
        select = None
    else:
        select_names = [it.name for it in items]
        select = compile_row_function(["env"], "(" + "".join(gen.value(it.expr) + ", " for it in items) + ")",
                                      gen.consts)
    where = None
    if s.where is not None:
        for p in props_of(s.where):
            tag_res(p)
        where = compile_row_function(["env"], gen.true(s.where), gen.consts)
    info = StatementInfo(name, s.insert_into, select_names, "pattern", s.pos.line)
    sps = []
    for st in streams:
        sd = c.streams[st]
        # SELECT * gives the tagged events whole (Esper), so keep every property
        sp = StreamPlan(st, st, sd.kind == "flow", sorted(needed[st]) if items is not None else None, None)
        parts = prefilters[st]
        if parts and all(p is not None for p in parts):
            either = parts[0] if len(parts) == 1 else A.BoolOp("or", tuple(parts))  # type: ignore[arg-type]
            assert either is not None

            def key_of(p: A.Prop, sd: StreamDef = sd, st: str = st) -> str:
                parts_ = p.parts[1:] if len(p.parts) > 1 and p.parts[0] == st else p.parts
                key = sd.key(".".join(parts_))
                assert key is not None
                return key

            sp.filter = compile_column_filter(either, key_of, fn)
        sps.append(sp)
    plan = SelectPlan(info, sps, False, False, items is None, s.output)
    plan.row_select = select
    plan.pattern = PatternPlan(root, where, tuple(sorted(prios, reverse=True)) or (0,), sum(periods),
                               len(streams))
    if s.output is not None:
        raise c.err("unsupported construct: output rate limiting on a pattern", s.output.pos)
    return plan


def _equality_index(n: A.PatFilter, sd: StreamDef, tags: dict[str, str], scalars: frozenset[str],
                    arrays: set[str], tag_res: Callable[[A.Prop, frozenset[str]], str],
                    fn: str) -> tuple[str | None, Callable[..., Any] | None]:
    """The first ``prop = tag.prop`` conjunct of a filter, as (event key, env -> value)."""
    if n.filter is None:
        return None, None
    for cj in _conjuncts(n.filter):
        if not (isinstance(cj, A.BinOp) and cj.op == "=="):
            continue
        for mine, other in ((cj.left, cj.right), (cj.right, cj.left)):
            if not (isinstance(mine, A.Prop) and isinstance(other, A.Prop)):
                continue
            tag = other.parts[0]
            if len(other.parts) < 2 or tag not in tags or tag == n.stream or _INDEXED.match(tag) \
                    or (tag in arrays and tag not in scalars):
                continue
            parts = mine.parts[1:] if len(mine.parts) > 1 and mine.parts[0] == n.stream else mine.parts
            if parts[0] in tags or _INDEXED.match(parts[0]):
                continue
            key = sd.key(".".join(parts))
            if key is None:
                continue
            gen = CodeGen(fn, lambda p: tag_res(p, scalars))
            gen.consts["_E"] = _E
            gen.consts["_at"] = _at
            return key, compile_row_function(["env"], gen.value(other), gen.consts)
    return None, None


def _tag_of(p: A.Prop) -> str:
    m = _INDEXED.match(p.parts[0])
    return m.group(1) if m else p.parts[0]


def _distinct_res(p: A.Prop, inner: set[str], known: set[str], tag_res: Callable[[A.Prop], str],
                  c: _Compiler) -> str:
    """every-distinct keys read the tags of its sub-expression; a bare property reads the
    single tag there (Esper: ``every-distinct(intPrimitive) a=SupportBean``)."""
    if _tag_of(p) in inner:
        return tag_res(p)
    if len(inner) == 1 and _tag_of(p) not in known:
        (only,) = inner
        return tag_res(A.Prop((only, *p.parts), pos=p.pos, text=f"{only}.{p.text}"))
    raise c.err(f"every-distinct: {p.text!r} must name a tag of its sub-expression "
                f"({', '.join(sorted(inner)) or 'none'})", p.pos)


def _conjuncts(e: A.Expr) -> list[A.Expr]:
    if isinstance(e, A.BoolOp) and e.op == "and":
        return [c for i in e.items for c in _conjuncts(i)]
    return [e]


def _and(items: list[A.Expr]) -> A.Expr:
    return items[0] if len(items) == 1 else A.BoolOp("and", tuple(items))


def _kids(n: A.PatternNode) -> tuple[A.PatternNode, ...]:
    if isinstance(n, (A.PatFollowedBy, A.PatAnd, A.PatOr)):
        return n.items
    if isinstance(n, (A.PatEvery, A.PatWithin, A.PatNot, A.PatEveryDistinct)):
        return (n.item,)
    if isinstance(n, A.PatRepeat):
        return (n.item,) if n.until is None else (n.item, n.until)
    return ()


# -- runtime: state nodes --------------------------------------------------------------------------
class _Parent:
    """What a state node reports to: its operator, or the statement for the root."""

    def child_true(self, child: _Node, env: Env, quitted: bool, t: int) -> None:
        raise NotImplementedError

    def child_false(self, child: _Node, t: int) -> None:
        raise NotImplementedError


class _Ctx:
    """A statement's shared pattern state: filter registrations, timers, limits and stats."""

    def __init__(self, plan: PatternPlan) -> None:
        self.prios = plan.prios
        # per stream: per priority (highest first), the filter nodes in the order they started
        self.filters: list[dict[int, list[_FilterN]]] = [{p: [] for p in plan.prios}
                                                         for _ in range(plan.nstreams)]
        # per stream: event key -> value -> filter nodes waiting for that value
        self.indexed: list[dict[str, dict[Any, list[_FilterN]]]] = [{} for _ in range(plan.nstreams)]
        self.registered = 0
        self.dead = 0
        self.heap: list[tuple[int, int, _Node]] = []
        self.heap_limit = 1024
        self.seq = 0
        self.subexpressions = 0
        self.stats: Counter[str] = Counter()

    def register(self, node: _FilterN) -> None:
        self.seq += 1
        node.seq = self.seq
        p = node.plan
        self.registered += 1
        if p.ikey is not None and p.ival is not None:
            value = p.ival(node.env)
            if value is None:  # null = x is never true: this filter can never match
                self.dead += 1
                return
            try:
                self.indexed[p.si].setdefault(p.ikey, {}).setdefault(value, []).append(node)
                return
            except TypeError:  # unhashable: tried on every event instead
                pass
        self.filters[p.si][p.prio].append(node)

    def schedule(self, due: int, node: _Node) -> None:
        self.seq += 1
        heapq.heappush(self.heap, (due, self.seq, node))
        if len(self.heap) > self.heap_limit:  # instances done early leave their timers behind
            self.heap = [e for e in self.heap if e[2].alive]
            heapq.heapify(self.heap)
            self.heap_limit = max(1024, 2 * len(self.heap))

    def dispatch(self, si: int, row: dict[str, Any], t: int) -> None:
        """Offer one event to the filters started before it, in Esper's hand-over order."""
        levels = self.filters[si]
        indexed = self.indexed[si]
        if not indexed:
            snapshot = [(lst, len(lst)) for lst in (levels[p] for p in self.prios) if lst]
            for lst, n in snapshot:
                for i in range(n):
                    f = lst[i]
                    if f.alive:
                        f.on_event(row, t)
        else:
            cands = [f for p in self.prios for f in levels[p] if f.alive]
            for key, buckets in indexed.items():
                try:
                    bucket = buckets.get(row.get(key))
                except TypeError:
                    bucket = None
                if bucket:
                    cands.extend(f for f in bucket if f.alive)
            cands.sort(key=_hand_over_order)
            for f in cands:
                if f.alive:
                    f.on_event(row, t)
        if self.dead > 64 and self.dead * 2 > self.registered:
            self.compact()

    def compact(self) -> None:
        live = 0
        for levels in self.filters:
            for p, lst in levels.items():
                keep = [f for f in lst if f.alive]
                levels[p] = keep
                live += len(keep)
        for indexed in self.indexed:
            for buckets in indexed.values():
                for value, lst in list(buckets.items()):
                    keep = [f for f in lst if f.alive]
                    if keep:
                        buckets[value] = keep
                        live += len(keep)
                    else:
                        del buckets[value]
        self.registered = live
        self.dead = 0


def _hand_over_order(f: _FilterN) -> tuple[int, int]:
    return (-f.plan.prio, f.seq)


def _make(plan: Any, ctx: _Ctx, parent: _Parent) -> _Node:
    if isinstance(plan, _PFilter):
        return _FilterN(plan, ctx, parent)
    return _KINDS[plan.kind](plan, ctx, parent)


class _Node(_Parent):
    __slots__ = ("plan", "ctx", "parent", "alive")

    def __init__(self, plan: Any, ctx: _Ctx, parent: _Parent) -> None:
        self.plan = plan
        self.ctx = ctx
        self.parent = parent
        self.alive = True

    def start(self, env: Env, t: int) -> None:
        raise NotImplementedError

    def quit(self) -> None:
        self.alive = False

    def on_timer(self, due: int) -> None:
        pass

    def child_true(self, child: _Node, env: Env, quitted: bool, t: int) -> None:
        pass

    def child_false(self, child: _Node, t: int) -> None:
        pass


class _FilterN(_Node):
    __slots__ = ("env", "seq")
    plan: _PFilter
    env: Env
    seq: int

    def start(self, env: Env, t: int) -> None:
        self.env = env
        self.ctx.register(self)

    def quit(self) -> None:
        if self.alive:
            self.alive = False
            self.ctx.dead += 1

    def on_event(self, row: dict[str, Any], t: int) -> None:
        p = self.plan
        if p.fn is None or p.fn(row, self.env):
            self.quit()
            env = self.env
            if p.tag:
                env = dict(env)
                env[p.tag] = row
            self.parent.child_true(self, env, True, t)


class _TimerN(_Node):
    """``timer:interval(P)``: true P after it starts."""

    __slots__ = ("env",)

    def start(self, env: Env, t: int) -> None:
        self.env = env
        self.ctx.schedule(t + self.plan.ms, self)

    def on_timer(self, due: int) -> None:
        if self.alive:
            self.alive = False
            self.parent.child_true(self, self.env, True, due)


class _WithinN(_Node):
    """``p where timer:within(P)``: p ends, permanently false, at exactly its start + P."""

    __slots__ = ("child",)

    def start(self, env: Env, t: int) -> None:
        self.ctx.schedule(t + self.plan.ms, self)
        self.child = _make(self.plan.items[0], self.ctx, self)
        self.child.start(env, t)

    def quit(self) -> None:
        self.alive = False
        self.child.quit()

    def on_timer(self, due: int) -> None:
        if self.alive:
            self.quit()
            self.parent.child_false(self, due)

    def child_true(self, child: _Node, env: Env, quitted: bool, t: int) -> None:
        if self.alive:
            if quitted:
                self.alive = False
            self.parent.child_true(self, env, quitted, t)

    def child_false(self, child: _Node, t: int) -> None:
        if self.alive:
            self.alive = False
            self.parent.child_false(self, t)


class _EveryN(_Node):
    """``every p``: a new p whenever one turns true or permanently false."""

    __slots__ = ("env", "kids", "starting", "swallowed")

    def start(self, env: Env, t: int) -> None:
        self.env = env
        self.kids: list[_Node] = []
        self.starting = False
        self.swallowed = False
        self.spawn(t)

    def spawn(self, t: int) -> None:
        kid = _make(self.plan.items[0], self.ctx, self)
        self.starting, self.swallowed = True, False
        try:
            kid.start(self.env, t)
        finally:
            self.starting = False
        if self.swallowed:  # true (or false) while starting: Esper quits it again
            kid.quit()
        elif self.alive:
            self.kids.append(kid)

    def quit(self) -> None:
        self.alive = False
        for k in self.kids:
            k.quit()

    def matched(self, child: _Node, env: Env, quitted: bool, t: int) -> bool:
        """Whether ``child``'s match is indicated (every-distinct keeps its keys here); called
        before ``child`` is dropped and the next instance spawned."""
        return True

    def child_true(self, child: _Node, env: Env, quitted: bool, t: int) -> None:
        if not self.alive:
            return
        if self.starting:
            self.swallowed = True
            return
        indicate = self.matched(child, env, quitted, t)
        if quitted and child in self.kids:
            self.kids.remove(child)
        self.spawn(t)
        if indicate:
            self.parent.child_true(self, env, False, t)

    def child_false(self, child: _Node, t: int) -> None:
        if not self.alive:
            return
        if self.starting:
            self.swallowed = True
            return
        if child in self.kids:
            self.kids.remove(child)
        self.spawn(t)


class _DistinctN(_EveryN):
    """``every-distinct(keys[, P]) p``: every, but a match whose key was seen (less than P
    ago) is not indicated.

    As in Esper (EvalEveryDistinctStateNode), the keys seen belong to the running instance of
    p: the instance restarted after a match inherits them, one restarted because p turned
    permanently false (a ``timer:within`` expired, a ``not`` was violated) starts with none
    (PatternOperatorEveryDistinct.PatternEveryDistinctOverTimerWithin, ...OverNot)."""

    __slots__ = ("seen", "inherit")

    def start(self, env: Env, t: int) -> None:
        self.seen: dict[_Node, dict[Any, int]] = {}
        self.inherit: dict[Any, int] = {}
        super().start(env, t)

    def spawn(self, t: int) -> None:
        keys, self.inherit = self.inherit, {}
        n = len(self.kids)
        super().spawn(t)
        if len(self.kids) > n:
            self.seen[self.kids[-1]] = keys

    def quit(self) -> None:
        super().quit()
        self.seen.clear()

    def _fresh(self, seen: dict[Any, int] | None, env: Env, t: int) -> bool:
        if seen is None:
            return True
        key = _hashable(self.plan.key(env))
        expiry = self.plan.ms
        if expiry:
            while seen:  # insertion order is time order: expire from the front
                k0 = next(iter(seen))
                if seen[k0] + expiry > t:
                    break
                del seen[k0]
        if key in seen:
            return False
        if len(seen) >= MAX_DISTINCT_KEYS:
            del seen[next(iter(seen))]
            self.ctx.stats["pattern-distinct-key-evicted"] += 1
        seen[key] = t
        return True

    def matched(self, child: _Node, env: Env, quitted: bool, t: int) -> bool:
        seen = self.seen.get(child)
        fresh = self._fresh(seen, env, t)
        if quitted and child in self.kids:
            self.seen.pop(child, None)
            self.inherit = seen if seen is not None else {}  # the instance is over: hand its keys on
        else:
            self.inherit = dict(seen) if seen is not None else {}
        return fresh

    def child_false(self, child: _Node, t: int) -> None:
        if not self.alive:
            return
        self.seen.pop(child, None)
        self.inherit = {}  # restarted after turning false: no key seen yet
        super().child_false(child, t)


class _NotN(_Node):
    """``not p``: true from its start; permanently false when p turns true."""

    __slots__ = ("child",)

    def start(self, env: Env, t: int) -> None:
        self.child = _make(self.plan.items[0], self.ctx, self)
        self.child.start(env, t)
        if self.alive:
            self.parent.child_true(self, env, False, t)

    def quit(self) -> None:
        self.alive = False
        self.child.quit()

    def child_true(self, child: _Node, env: Env, quitted: bool, t: int) -> None:
        if self.alive:
            self.quit()
            self.parent.child_false(self, t)


class _AndN(_Node):
    """``p and q``: each side's results kept; a new result pairs with all of the others'."""

    __slots__ = ("env", "kids", "results", "active")

    def start(self, env: Env, t: int) -> None:
        self.env = env
        items = self.plan.items
        self.kids = [_make(i, self.ctx, self) for i in items]
        self.results: list[list[Env]] = [[] for _ in items]
        self.active = [not (isinstance(i, _PNode) and i.kind == "not") for i in items]
        for k in self.kids:
            if not self.alive:
                break
            k.start(env, t)

    def quit(self) -> None:
        self.alive = False
        for k in self.kids:
            k.quit()

    def child_true(self, child: _Node, env: Env, quitted: bool, t: int) -> None:
        if not self.alive:
            return
        i = self.kids.index(child)
        if quitted:
            self.active[i] = False
        mine = self.results[i]
        if len(mine) >= MAX_AND_RESULTS:
            del mine[0]
            self.ctx.stats["pattern-and-result-evicted"] += 1
        mine.append(env)
        if not all(self.results):
            return
        others = [self.results[j] if j != i else [env] for j in range(len(self.results))]
        done = not any(self.active)  # every side but the NOTs has quit
        if done:
            self.quit()
        for combo in product(*others):
            merged = dict(self.env)
            for e in combo:
                merged.update(e)
            self.parent.child_true(self, merged, done, t)

    def child_false(self, child: _Node, t: int) -> None:
        if self.alive:
            self.quit()
            self.parent.child_false(self, t)


class _OrN(_Node):
    """``p or q``: true when either is; done when a side that quits turns true."""

    __slots__ = ("kids",)

    def start(self, env: Env, t: int) -> None:
        self.kids = [_make(i, self.ctx, self) for i in self.plan.items]
        for k in list(self.kids):
            if not self.alive:
                break
            k.start(env, t)

    def quit(self) -> None:
        self.alive = False
        for k in self.kids:
            k.quit()

    def child_true(self, child: _Node, env: Env, quitted: bool, t: int) -> None:
        if self.alive:
            if quitted:
                self.quit()
            self.parent.child_true(self, env, quitted, t)

    def child_false(self, child: _Node, t: int) -> None:
        if not self.alive:
            return
        if child in self.kids:
            self.kids.remove(child)
        if not self.kids:
            self.alive = False
            self.parent.child_false(self, t)


class _SeqN(_Node):
    """``p -> q -> ...``: each time a stage turns true, the next stage starts with its tags."""

    __slots__ = ("live",)

    def start(self, env: Env, t: int) -> None:
        self.live: dict[_Node, int] = {}
        first = _make(self.plan.items[0], self.ctx, self)
        self.live[first] = 0
        first.start(env, t)

    def _drop(self, child: _Node) -> None:
        k = self.live.pop(child, None)
        if k:
            self.ctx.subexpressions -= 1

    def quit(self) -> None:
        self.alive = False
        for k in list(self.live):
            k.quit()
            self._drop(k)

    def child_true(self, child: _Node, env: Env, quitted: bool, t: int) -> None:
        if not self.alive:
            return
        idx = self.live.get(child)
        if idx is None:
            return
        if quitted:
            self._drop(child)
        if idx == len(self.plan.items) - 1:
            done = not self.live
            if done:
                self.alive = False
            self.parent.child_true(self, env, done, t)
            return
        if self.ctx.subexpressions >= MAX_SUBEXPRESSIONS:
            self.ctx.stats["pattern-subexpression-limit"] += 1
        else:
            nxt = _make(self.plan.items[idx + 1], self.ctx, self)
            self.live[nxt] = idx + 1
            self.ctx.subexpressions += 1
            nxt.start(env, t)
        if self.alive and not self.live:
            self.alive = False
            self.parent.child_false(self, t)

    def child_false(self, child: _Node, t: int) -> None:
        if not self.alive:
            return
        self._drop(child)
        if not self.live:
            self.alive = False
            self.parent.child_false(self, t)


class _RepeatN(_Node):
    """``[lo:hi] p until q``: p restarted after each match until q; tags of p become arrays."""

    __slots__ = ("env", "matcher", "until", "reps", "count")

    def start(self, env: Env, t: int) -> None:
        self.env = env
        self.reps: list[Env] = []
        self.count = 0
        self.matcher: _Node | None = None
        self.until: _Node | None = None
        if self.plan.until is not None:
            self.until = _make(self.plan.until, self.ctx, self)
            self.until.start(env, t)
        if self.alive:
            self.restart(t)

    def restart(self, t: int) -> None:
        self.matcher = _make(self.plan.items[0], self.ctx, self)
        self.matcher.start(self.env, t)

    def quit(self) -> None:
        self.alive = False
        if self.matcher is not None:
            self.matcher.quit()
        if self.until is not None:
            self.until.quit()

    def merged(self, extra: Env | None) -> Env:
        out = dict(self.env)
        for tag in self.plan.arrays:
            arr: list[Any] = []
            for rep in self.reps:
                v = rep.get(tag)
                if isinstance(v, list):
                    arr.extend(v)
                elif v is not None:
                    arr.append(v)
            out[tag] = arr
        if extra is not None:
            for k, v in extra.items():
                if k not in self.plan.arrays:
                    out[k] = v
        return out

    def child_true(self, child: _Node, env: Env, quitted: bool, t: int) -> None:
        if not self.alive:
            return
        plan = self.plan
        if child is self.until:
            self.quit()
            if self.count >= plan.low:
                self.parent.child_true(self, self.merged(env), True, t)
            else:
                self.parent.child_false(self, t)
            return
        if child is not self.matcher:
            return
        if False:
            pass
        if len(self.reps) >= MAX_AND_RESULTS:
            del self.reps[0]
            self.ctx.stats["pattern-repeat-match-evicted"] += 1
        self.reps.append(env)
        self.count += 1
        n = self.count
        if plan.high is not None and n >= plan.high:
            if plan.until is None or plan.low == plan.high:
                self.quit()
                self.parent.child_true(self, self.merged(None), True, t)
            else:  # enough: stop matching, the until decides
                child.quit()
                self.matcher = None
            return
        if quitted:
            self.restart(t)

    def child_false(self, child: _Node, t: int) -> None:
        if not self.alive:
            return
        if child is self.until or self.until is None:
            self.quit()
            self.parent.child_false(self, t)
        else:
            self.matcher = None


_KINDS: dict[str, Callable[[Any, _Ctx, _Parent], _Node]] = {
    "seq": _SeqN, "and": _AndN, "or": _OrN, "every": _EveryN, "distinct": _DistinctN,
    "within": _WithinN, "timer": _TimerN, "not": _NotN, "repeat": _RepeatN,
}


def _hashable(v: Any) -> Any:
    if isinstance(v, (list, tuple)):
        return tuple(_hashable(x) for x in v)
    if isinstance(v, dict):
        return tuple(sorted((k, _hashable(x)) for k, x in v.items()))
    return v


# -- the statement ---------------------------------------------------------------------------------
class PatternStmt(_Parent):
    """Runtime of a pattern statement (same interface as the SELECT statements).

    The pattern starts at the runtime's first time (``start``), as Esper starts a pattern when
    the statement starts; it ends when its root turns true for the last time or false.
    """

    def __init__(self, plan: SelectPlan) -> None:
        self.plan = plan
        self.name = plan.info.name
        self.stream = plan.info.stream
        self.insert_into = plan.info.insert_into
        self.names = plan.value_names or plan.info.select_names
        self.pp: PatternPlan = plan.pattern
        self.ctx = _Ctx(self.pp)
        self.root: _Node | None = None
        self.ended = False
        self.out: list[Row] = []
        self.last_event: int | None = None

    @property
    def stats(self) -> Counter[str]:
        """Sub-expressions not started and results or keys dropped by the bounds, by reason."""
        return self.ctx.stats

    # -- pattern root --------------------------------------------------------------------------
    def clock(self, t: int) -> None:
        """The runtime's clock reached ``t`` (events of any stream): start the pattern at the
        first time, and move the timer horizon."""
        if self.last_event is None or t > self.last_event:
            self.last_event = t
        self.start(t)

    def start(self, t: int) -> None:
        if self.root is None and not self.ended:
            self.root = _make(self.pp.root, self.ctx, self)
            self.root.start({}, t)

    def child_true(self, child: _Node, env: Env, quitted: bool, t: int) -> None:
        if quitted:
            self.ended = True
        pp = self.pp
        if pp.where is not None and not pp.where(env):
            return
        if self.plan.row_select is None:
            vals = {k: env.get(k) for k in self.names}
        else:
            vals = dict(zip(self.names, self.plan.row_select(env), strict=False))
        self.out.append(Row(self.name, self.stream, t, vals))

    def child_false(self, child: _Node, t: int) -> None:
        self.ended = True

    # -- runtime interface ---------------------------------------------------------------------
    def prefilter(self, idx: int, ev: Events) -> Events:
        if ev.n:
            last = ev.times[-1]
            if self.last_event is None or last > self.last_event:
                self.last_event = last
            self.start(ev.times[0])
        sp = self.plan.streams[idx]
        keys = sp.keys
        if sp.filter is not None:
            return ev.take(sp.filter(ev.cols, ev.n), keys)
        if keys is None:
            return ev
        return Events({k: (ev.cols.get(k) or [None] * ev.n) for k in keys}, ev.n, ev.times)

    def _horizon(self) -> int | None:
        if self.last_event is None:
            return None
        return self.last_event + self.pp.horizon_ms

    def next_due(self) -> int | None:
        h = self.ctx.heap
        while h and not h[0][2].alive:
            heapq.heappop(h)
        if not h or self.ended:
            return None
        due = h[0][0]
        horizon = self._horizon()
        return due if horizon is not None and due <= horizon else None

    def due_if_fed(self, idx: int, t: int) -> int | None:
        return None

    def _timers(self, now: int) -> None:
        """Fire the timers due at or before ``now`` in time order (each at its own time)."""
        h = self.ctx.heap
        horizon = self._horizon()
        fired = 0
        while h and h[0][0] <= now and not self.ended:
            due, _seq, node = heapq.heappop(h)
            if horizon is not None and due > horizon:
                heapq.heappush(h, (due, _seq, node))
                break
            if node.alive:
                fired += 1
                if fired > _MAX_FIRES_AT_ONCE:  # a zero period restarting itself: stop the statement
                    self.ctx.stats["pattern-timer-loop"] += 1
                    self.ended = True
                    break
                node.on_timer(due)

    def _shape(self, mark: int) -> None:
        shape = self.plan.shape
        if shape is not None and len(self.out) > mark:
            self.out[mark:] = shape(self.out[mark:])

    def feed(self, idx: int, ev: Events) -> list[Row]:
        if ev.n:
            self.start(ev.times[0])
        for t, row in zip(ev.times, ev.rows(), strict=False):
            if self.ended:
                break
            if self.ctx.heap and self.ctx.heap[0][0] <= t:
                mark = len(self.out)
                self._timers(t)  # a timer due at t fires before the event at t
                self._shape(mark)
            mark = len(self.out)
            self.ctx.dispatch(idx, row, t)
            self._shape(mark)  # one event's matches: one step
        out, self.out = self.out, []
        return out

    def fire(self, now: int) -> list[Row]:
        self._timers(now)
        out, self.out = self.out, []
        return self.plan.shape(out) if self.plan.shape is not None and out else out

    def flush(self) -> list[Row]:
        return []

