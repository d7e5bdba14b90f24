"""Event patterns: ``every``, ``->`` (followed by), ``and``, ``or``, ``and not``,
``where timer:within(P)`` and ``timer:interval(P)``, after Esper's pattern semantics.

A pattern is a tree of sub-expression *instances*; each holds the tags bound so far and calls
its parent when it turns true. ``every X`` restarts X each time X turns true; ``A -> B``
starts a B for each time A turns true (B never sees the event that completed A); ``B and not
C`` dies when C occurs first; ``within`` kills its sub-expression at exactly start + P.
Patterns are evaluated record by record (they are rare and selective), filters compiled once.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from . import ast as A
from .expressions import CodeGen, compile_column_filter, compile_row_function, find_aggregates, props_of
from .windows import Events

if TYPE_CHECKING:
    from .compiler import SelectPlan, StreamDef, _Compiler
    from .runtime import Row

__all__ = ["compile_pattern_statement", "PatternStmt"]

_E: dict[str, Any] = {}
Env = dict[str, Any]
Cb = Callable[[Env, int], None]


@dataclass
class _PFilter:
    tag: str | None
    si: int
    fn: Callable[..., Any] | None


@dataclass
class _PNode:
    kind: str  # seq | and | or | every | within | timer | not
    items: list[Any]
    ms: int = 0


@dataclass
class PatternPlan:
    root: Any
    where: Callable[..., Any] | None


def compile_pattern_statement(c: _Compiler, s: A.SelectStmt, name: str) -> SelectPlan:
    from .compiler import SelectPlan, StatementInfo, StreamPlan

    src = s.sources
    assert isinstance(src, A.PatternSource)
    tags: dict[str, str] = {}
    streams: list[str] = []

    def collect(n: A.PatternNode) -> None:
        if isinstance(n, A.PatFilter):
            c.stream_def(n.stream, n.pos)
            if n.stream not in streams:
                streams.append(n.stream)
            if n.tag:
                if n.tag in tags and tags[n.tag] != n.stream:
                    raise c.err(f"tag {n.tag!r} is used for two streams", n.pos)
                tags[n.tag] = n.stream
        for ch in _kids(n):
            collect(ch)

    collect(src.root)
    needed: dict[str, set[str]] = {st: set() for st in streams}
    fn = c.filename

    def tag_res(p: A.Prop) -> str:
        if len(p.parts) < 2 or p.parts[0] not in tags:
            raise c.err(f"property {p.text!r} must be prefixed with a pattern tag "
                        f"({', '.join(sorted(tags)) or 'none defined'})", p.pos)
        sd = c.streams[tags[p.parts[0]]]
        key = sd.key(".".join(p.parts[1:]))
        if key is None:
            raise c.err(f"unknown property {'.'.join(p.parts[1:])!r} of stream {sd.name}", p.pos)
        needed[sd.name].add(key)
        return f"env.get({p.parts[0]!r}, _E).get({key!r})"

    def build(n: A.PatternNode, in_and: bool = False) -> Any:
        if isinstance(n, A.PatFilter):
            sd = c.streams[n.stream]

            def res(p: A.Prop) -> str:
                if len(p.parts) > 1 and p.parts[0] in tags and p.parts[0] != n.stream:
                    return tag_res(p)
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
                f = compile_row_function(["ev", "env"], code, gen.consts)
                static = [cj for cj in _conjuncts(n.filter)
                          if not any(len(p.parts) > 1 and p.parts[0] in tags and p.parts[0] != n.stream
                                     for p in props_of(cj))]
            # the part of the filter that needs no tag: used to skip records no atom can match
            prefilters[n.stream].append(_and(static) if static else None)
            return _PFilter(n.tag, streams.index(n.stream), f)
        if isinstance(n, A.PatFollowedBy):
            return _PNode("seq", [build(i) for i in n.items])
        if isinstance(n, A.PatAnd):
            return _PNode("and", [build(i, True) for i in n.items])
        if isinstance(n, A.PatOr):
            return _PNode("or", [build(i) for i in n.items])
        if isinstance(n, A.PatEvery):
            return _PNode("every", [build(n.item)])
        if isinstance(n, A.PatWithin):
            return _PNode("within", [build(n.item)], n.ms)
        if isinstance(n, A.PatTimer):
            return _PNode("timer", [], n.ms)
        if isinstance(n, A.PatNot):
            if not in_and:
                raise c.err("unsupported construct: NOT outside an AND (write 'B and not C')", n.pos)
            return _PNode("not", [build(n.item)])
        raise c.err("unsupported pattern construct", n.pos)

    prefilters: dict[str, list[A.Expr | None]] = {st: [] for st in streams}
    root = build(src.root)
    if isinstance(root, _PNode) and root.kind == "and" and all(
            isinstance(i, _PNode) and i.kind == "not" for i in root.items):
        raise c.err("unsupported construct: a pattern made only of NOT", src.pos)
    items = s.items
    if s.group_by or any(find_aggregates(it.expr, []) for it in items or ()):
        raise c.err("unsupported construct: aggregates over a pattern (insert the pattern's "
                    "rows into a stream and aggregate that)", s.pos)
    gen = CodeGen(fn, tag_res)
    gen.consts["_E"] = _E
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
        sp = StreamPlan(st, st, sd.kind == "flow", sorted(needed[st]), None)
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
    plan.pattern = PatternPlan(root, where)
    if s.output is not None:
        raise c.err("unsupported construct: output rate limiting on a pattern", s.output.pos)
    return plan


def _conjuncts(e: A.Expr) -> list[A.Expr]:
    if isinstance(e, A.BoolOp) and e.op == "and":
        return [c for i in e.items for c in _conjuncts(i)]
    return [e]


def _and(items: list[A.Expr]) -> A.Expr:
    return items[0] if len(items) == 1 else A.BoolOp("and", tuple(items))


def _kids(n: A.PatternNode) -> tuple[A.PatternNode, ...]:
    if isinstance(n, (A.PatFollowedBy, A.PatAnd, A.PatOr)):
        return n.items
    if isinstance(n, (A.PatEvery, A.PatWithin, A.PatNot)):
        return (n.item,)
    return ()


# -- instances ------------------------------------------------------------------------------------
class _Inst:
    alive = True

    def event(self, si: int, row: dict[str, Any], t: int) -> None:
        pass

    def time(self, t: int) -> None:
        pass

    def kill(self) -> None:
        self.alive = False


class _Sched:
    """Shared by a statement's instances: the heap of timer dues."""

    def __init__(self) -> None:
        self.heap: list[int] = []


def _start(node: Any, env: Env, cb: Cb, t: int, sched: _Sched) -> _Inst:
    if isinstance(node, _PFilter):
        return _FilterI(node, env, cb)
    kind = node.kind
    if kind == "seq":
        return _SeqI(node, env, cb, t, sched)
    if kind == "every":
        return _EveryI(node, env, cb, t, sched)
    if kind == "and":
        return _AndI(node, env, cb, t, sched)
    if kind == "or":
        return _OrI(node, env, cb, t, sched)
    if kind == "within":
        return _WithinI(node, env, cb, t, sched)
    if kind == "timer":
        return _TimerI(node, env, cb, t, sched)
    raise AssertionError(kind)


class _FilterI(_Inst):
    def __init__(self, node: _PFilter, env: Env, cb: Cb) -> None:
        self.node, self.env, self.cb = node, env, cb

    def event(self, si: int, row: dict[str, Any], t: int) -> None:
        n = self.node
        if self.alive and si == n.si and (n.fn is None or n.fn(row, self.env)):
            self.alive = False
            env = self.env
            if n.tag:
                env = dict(env)
                env[n.tag] = row
            self.cb(env, t)


class _Group(_Inst):
    """Common event/time dispatch: children added during dispatch see only later events."""

    def __init__(self, sched: _Sched) -> None:
        self.children: list[_Inst] = []
        self.pending: list[_Inst] = []
        self.sched = sched

    def _settle(self) -> None:
        if self.pending:
            self.children.extend(self.pending)
            self.pending = []
        self.children = [ch for ch in self.children if ch.alive]

    def event(self, si: int, row: dict[str, Any], t: int) -> None:
        for ch in list(self.children):
            if not self.alive:
                break
            if ch.alive:
                ch.event(si, row, t)
        self._settle()

    def time(self, t: int) -> None:
        for ch in list(self.children):
            if not self.alive:
                break
            if ch.alive:
                ch.time(t)
        self._settle()

    def kill(self) -> None:
        self.alive = False
        for ch in self.children + self.pending:
            ch.kill()


class _SeqI(_Group):
    def __init__(self, node: _PNode, env: Env, cb: Cb, t: int, sched: _Sched) -> None:
        super().__init__(sched)
        self.node, self.cb = node, cb
        self.children.append(_start(node.items[0], env, self._next(1), t, sched))

    def _next(self, k: int) -> Cb:
        def on(env: Env, t: int) -> None:
            if k == len(self.node.items):
                self.cb(env, t)
            else:
                self.pending.append(_start(self.node.items[k], env, self._next(k + 1), t, self.sched))
        return on

    def _settle(self) -> None:
        super()._settle()
        if not self.children:
            self.alive = False


class _EveryI(_Group):
    def __init__(self, node: _PNode, env: Env, cb: Cb, t: int, sched: _Sched) -> None:
        super().__init__(sched)
        self.node, self.env, self.cb, self.t = node, env, cb, t
        self.children.append(_start(node.items[0], env, self._on, t, sched))

    def _on(self, env: Env, t: int) -> None:
        self.pending.append(_start(self.node.items[0], self.env, self._on, t, self.sched))
        self.cb(env, t)

    def event(self, si: int, row: dict[str, Any], t: int) -> None:
        self.t = t
        super().event(si, row, t)

    def time(self, t: int) -> None:
        self.t = t
        super().time(t)

    def _settle(self) -> None:
        super()._settle()
        if not self.children and self.alive:
            # the sub-expression ended without turning true (within expired, not violated):
            # every starts it again, as Esper does
            self.children.append(_start(self.node.items[0], self.env, self._on, self.t, self.sched))


class _AndI(_Group):
    def __init__(self, node: _PNode, env: Env, cb: Cb, t: int, sched: _Sched) -> None:
        super().__init__(sched)
        self.cb = cb
        self.env = env
        self.need = 0
        self.got: dict[int, Env] = {}
        for i, item in enumerate(node.items):
            if isinstance(item, _PNode) and item.kind == "not":
                self.children.append(_start(item.items[0], env, self._violated, t, sched))
            else:
                self.need += 1
                self.children.append(_start(item, env, self._part(i), t, sched))

    def _violated(self, env: Env, t: int) -> None:
        self.kill()

    def _part(self, i: int) -> Cb:
        def on(env: Env, t: int) -> None:
            if not self.alive or i in self.got:
                return
            self.got[i] = env
            if len(self.got) == self.need:
                merged = dict(self.env)
                for e in self.got.values():
                    merged.update(e)
                self.kill()
                self.cb(merged, t)
        return on


class _OrI(_Group):
    def __init__(self, node: _PNode, env: Env, cb: Cb, t: int, sched: _Sched) -> None:
        super().__init__(sched)
        self.cb = cb
        for item in node.items:
            self.children.append(_start(item, env, self._on, t, sched))

    def _on(self, env: Env, t: int) -> None:
        if self.alive:
            self.kill()
            self.cb(env, t)

    def _settle(self) -> None:
        super()._settle()
        if not self.children:
            self.alive = False


class _WithinI(_Group):
    def __init__(self, node: _PNode, env: Env, cb: Cb, t: int, sched: _Sched) -> None:
        super().__init__(sched)
        self.cb = cb
        self.deadline = t + node.ms
        self.children.append(_start(node.items[0], env, self._on, t, sched))

    def _on(self, env: Env, t: int) -> None:
        if self.alive and t < self.deadline:
            self.kill()
            self.cb(env, t)

    def event(self, si: int, row: dict[str, Any], t: int) -> None:
        if t >= self.deadline:
            self.kill()
            return
        super().event(si, row, t)
        if not self.children:
            self.alive = False

    def time(self, t: int) -> None:
        if t >= self.deadline:
            self.kill()
            return
        super().time(t)


class _TimerI(_Inst):
    def __init__(self, node: _PNode, env: Env, cb: Cb, t: int, sched: _Sched) -> None:
        self.env, self.cb = env, cb
        self.due = t + node.ms
        heapq.heappush(sched.heap, self.due)

    def time(self, t: int) -> None:
        if self.alive and t >= self.due:
            self.alive = False
            self.cb(self.env, self.due)


class PatternStmt:
    """Runtime of a pattern statement (same interface as the SELECT statements)."""

    def __init__(self, plan: SelectPlan) -> None:
        self.plan = plan
        self.name = plan.info.name
        self.stream = plan.info.stream
        self.insert_into = plan.info.insert_into
        self.names = plan.value_names or plan.info.select_names
        self.pp: PatternPlan = plan.pattern
        self.sched = _Sched()
        self.root: _Inst | None = None
        self.out: list[Row] = []

    def _match(self, env: Env, t: int) -> None:
        from .runtime import Row

        pp = self.pp
        if pp.where is not None and not pp.where(env):
            return
        if self.plan.row_select is None:
            vals = {k: env.get(k) for k in self.names}
        else:
            vals = dict(zip(self.names, self.plan.row_select(env), strict=False))
        self.out.append(Row(self.name, self.stream, t, vals))

    def _ensure(self, t: int) -> _Inst:
        if self.root is None:
            self.root = _start(self.pp.root, {}, self._match, t, self.sched)
        return self.root

    def prefilter(self, idx: int, ev: Events) -> Events:
        sp = self.plan.streams[idx]
        keys = sp.keys or []
        if sp.filter is not None:
            return ev.take(sp.filter(ev.cols, ev.n), keys)
        return Events({k: (ev.cols.get(k) or [None] * ev.n) for k in keys}, ev.n, ev.times)

    def next_due(self) -> int | None:
        h = self.sched.heap
        return h[0] if h else None

    def due_if_fed(self, idx: int, t: int) -> int | None:
        return None

    def feed(self, idx: int, ev: Events) -> list[Row]:
        root = self._ensure(ev.times[0]) if ev.n else self.root
        shape = self.plan.shape
        for t, row in zip(ev.times, ev.rows(), strict=False):
            if root is None or not root.alive:
                break
            mark = len(self.out)
            root.time(t)
            root.event(idx, row, t)
            if shape is not None and len(self.out) > mark:  # one event's matches: one step
                self.out[mark:] = shape(self.out[mark:])
        out, self.out = self.out, []
        return out

    def fire(self, now: int) -> list[Row]:
        h = self.sched.heap
        while h and h[0] <= now:
            heapq.heappop(h)
        if self.root is not None and self.root.alive:
            self.root.time(now)
        out, self.out = self.out, []
        return self.plan.shape(out) if self.plan.shape is not None and out else out

    def flush(self) -> list[Row]:
        return []
