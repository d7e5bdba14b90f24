"""``match_recognize``: Esper's row pattern recognition (EPL Reference: Match Recognize).

A regular expression over pattern variables (``A B* C? (D|E) F+ G{2,3}``) is matched against
the events of each partition in arrival order; each variable's ``define`` condition decides
whether an event can be that variable. The rules that decide which rows come out, each backed
by a case in tests/conformance/test_match_recognize.py:

* **Streaming output.** A match is output as soon as it is complete, at the event that
  completes it: ``A B*`` outputs ``A`` alone at the A (Esper's continuous queries do not wait
  for a longer greedy match, only ``interval`` does).
* **Preferment** among the matches completed by one event: the earlier start wins, then the
  match a backtracking regex engine would find first (greedy quantifiers try more events
  first, reluctant ones fewer). Without ``all matches`` the first match is taken and the ones
  the skip clause says overlap it are dropped, repeatedly.
* **After match skip** drops the partial matches that overlap an output match: ``past last
  row`` (default) every one that started at or before its last event, ``to next row`` every
  one that started at or before its first event, ``to current row`` none.
* **interval P** holds completed matches until P after their first event, then outputs the
  preferred ones; ``or terminated`` also outputs, when a partial match ends (an event it
  cannot take), the last match it completed, as Esper does even while a sibling branch goes
  on. The skip clause then drops held matches only; partial matches go on.
* ``prev(X.p, n)`` in a define reads the event n before the current one in the partition,
  matched or not.
* ``#time(P)`` / ``#length(N)``: an event leaving the window leaves the partial matches that
  hold it (Esper's "Datawindow-Bound"); ``#keepall`` is no window.

The matcher is a Thompson NFA run Pike-VM style: each partial match (a *state*) waits on one
variable; states are kept in preferment order and one event advances every state of its
partition once, so the work per event is linear in the live states. States that are the same
variable sequence at the same program point are merged; when no condition reads an earlier
variable (and the skip, interval and window allow it, see ``merge_by_step``) states at the
same program point merge whatever their start, the earliest start winning.

Bounds (Esper's max-states with prevent-start): at most ``MAX_STATES`` live states per
statement (new ones are not started past it), ``MAX_PARTITIONS`` partitions (the least
recently used is evicted), ``MAX_MATCH_EVENTS`` events in one match (a longer partial match is
dropped), ``_MAX_PENDING`` matches held by an interval per partition in all-matches mode
(oldest dropped); each is counted in ``MatchRecognizeStmt.stats``. The interval timers take
one heap entry per partition.
"""

from __future__ import annotations

import heapq
from collections import Counter, OrderedDict, deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from itertools import chain
from typing import Any, Protocol

from ..errors import EPLError
from . import ast as A
from .expressions import CodeGen, compile_column_filter, compile_row_function, find_aggregates, props_of
from .plan import SelectPlan, StatementInfo, StreamDef, StreamPlan
from .rows import Row
from .windows import Events

__all__ = ["MAX_MATCH_EVENTS", "MAX_PARTITIONS", "MAX_STATES", "MatchRecognizeStmt", "MRPlan",
           "compile_match_recognize"]


class _Compiler(Protocol):
    """What planning needs of the module compiler (one layer up, never imported)."""

    filename: str
    streams: dict[str, StreamDef]

    def err(self, msg: str, pos: A.Pos | None) -> EPLError: ...

    def stream_def(self, name: str, pos: A.Pos) -> StreamDef: ...


#: partial matches alive at once per statement (Esper's max-states, prevent-start)
MAX_STATES = 100_000
#: partitions one statement keeps (the least recently used is evicted, counted)
MAX_PARTITIONS = 100_000
#: events one match may hold; a partial match growing past it is dropped (counted)
MAX_MATCH_EVENTS = 10_000
#: program size after expanding {n,m} repetitions
_MAX_PROGRAM = 5_000
#: completed matches one partition holds while an interval runs (all matches mode)
_MAX_PENDING = 10_000

_E: dict[str, Any] = {}
_AGGS = frozenset({"count", "sum", "avg", "min", "max", "first", "last"})
_VAR, _SPLIT, _JMP, _MATCH = 0, 1, 2, 3
_INF = 1 << 62


def _at(value: Any, i: int) -> Any:
    """``B[i]`` of a group variable: the i-th event, or an empty event past the end."""
    if isinstance(value, list) and 0 <= i < len(value):
        return value[i]
    return _E


def _prev(hist: Any, n: int, key: str) -> Any:
    """``prev(X.key, n)``: the event n before the current one in the partition (or null)."""
    i = len(hist) - 1 - n
    return hist[i].get(key) if i >= 0 else None


# -- plan ------------------------------------------------------------------------------------------
@dataclass
class _Agg:
    kind: str
    distinct: bool
    var: str
    arg: Callable[..., Any]  # (ev, env) -> value


@dataclass
class MRPlan:
    """A compiled match_recognize clause (plain data the runtime statement executes)."""

    program: list[tuple[int, int, int]]
    closures: list[list[tuple[int, int, int]]]  # per pc: (VAR pc or -1 for a match, bits, nbits)
    var_names: list[str]
    group: list[bool]
    defines: list[Callable[..., Any] | None]
    needs_env: list[bool]
    prev_depth: int
    partition: Callable[..., Any] | None
    measure_names: list[str]
    measures: Callable[..., Any]
    aggs: list[_Agg]
    select: Callable[..., Any] | None
    all_matches: bool
    skip: str
    interval_ms: int | None
    or_terminated: bool
    npart: int = 0
    window_ms: int | None = None  # #time(P): a partial match ends when its first event leaves
    window_len: int | None = None  # #length(N): the same, N events of the stream later


def _mult(n: A.RowPattern) -> dict[str, float]:
    """The most events each variable can take in one match (>1: a group variable)."""
    if isinstance(n, A.RpVar):
        return {n.name: 1}
    if isinstance(n, A.RpSeq):
        out: dict[str, float] = {}
        for it in n.items:
            for k, v in _mult(it).items():
                out[k] = out.get(k, 0) + v
        return out
    if isinstance(n, A.RpAlt):
        out = {}
        for it in n.items:
            for k, v in _mult(it).items():
                out[k] = max(out.get(k, 0), v)
        return out
    if isinstance(n, A.RpQuant):
        return {k: (float("inf") if n.high is None else v * n.high) for k, v in _mult(n.item).items()}
    assert isinstance(n, A.RpRepeat)
    return {k: (float("inf") if n.high is None else v * n.high) for k, v in _mult(n.item).items()}


def _occurrences(n: A.RowPattern, out: list[tuple[str, A.Pos]]) -> list[tuple[str, A.Pos]]:
    if isinstance(n, A.RpVar):
        out.append((n.name, n.pos))
    elif isinstance(n, (A.RpSeq, A.RpAlt)):
        for it in n.items:
            _occurrences(it, out)
    else:
        assert isinstance(n, (A.RpQuant, A.RpRepeat))
        _occurrences(n.item, out)
    return out


def _tail(item: A.RowPattern, unbounded: bool) -> A.RowPattern:
    """The optional repeats of ``item{n,m}``, as Esper's equivalence table gives them:
    ``A{2,4}`` = ``A A A? A?``, ``A+{2,4}`` = ``A+ A+ A* A*``, ``A{2,}`` = ``A A A*``."""
    if isinstance(item, A.RpQuant):
        base, greedy = item.item, item.greedy
        if unbounded or item.high is None:
            return A.RpQuant(base, 0, None, greedy, pos=item.pos)
        return A.RpQuant(base, 0, 1, greedy, pos=item.pos)
    return A.RpQuant(item, 0, None if unbounded else 1, True, pos=item.pos)


def _expand(n: A.RowPattern) -> A.RowPattern:
    if isinstance(n, A.RpVar):
        return n
    if isinstance(n, A.RpSeq):
        return A.RpSeq(tuple(_expand(i) for i in n.items), pos=n.pos)
    if isinstance(n, A.RpAlt):
        return A.RpAlt(tuple(_expand(i) for i in n.items), pos=n.pos)
    if isinstance(n, A.RpQuant):
        return A.RpQuant(_expand(n.item), n.low, n.high, n.greedy, pos=n.pos)
    assert isinstance(n, A.RpRepeat)
    item = _expand(n.item)
    parts = [item] * n.low
    if n.high is None:
        parts.append(_tail(item, True))
    else:
        parts += [_tail(item, False)] * (n.high - n.low)
    return parts[0] if len(parts) == 1 else A.RpSeq(tuple(parts), pos=n.pos)


def _program(root: A.RowPattern, var_index: dict[str, int], err: Callable[[str], EPLError]
             ) -> list[tuple[int, int, int]]:
    """Thompson construction; a SPLIT's first target is the preferred (greedy/reluctant) one."""
    ins: list[tuple[int, int, int]] = []

    def emit(op: int, a: int = 0, b: int = 0) -> int:
        if len(ins) >= _MAX_PROGRAM:
            raise err(f"the pattern is too large once its {{n,m}} repetitions are expanded "
                      f"(more than {_MAX_PROGRAM} steps); use smaller counts")
        ins.append((op, a, b))
        return len(ins) - 1

    def gen(n: A.RowPattern) -> None:
        if isinstance(n, A.RpVar):
            emit(_VAR, var_index[n.name])
        elif isinstance(n, A.RpSeq):
            for it in n.items:
                gen(it)
        elif isinstance(n, A.RpAlt):
            jumps = []
            for k, it in enumerate(n.items):
                if k < len(n.items) - 1:
                    split = emit(_SPLIT)
                    gen(it)
                    jumps.append(emit(_JMP))
                    ins[split] = (_SPLIT, split + 1, len(ins))
                else:
                    gen(it)
            for j in jumps:
                ins[j] = (_JMP, len(ins), 0)
        else:
            assert isinstance(n, A.RpQuant)
            if n.high == 1:  # ?  ??
                split = emit(_SPLIT)
                gen(n.item)
                end = len(ins)
                ins[split] = (_SPLIT, split + 1, end) if n.greedy else (_SPLIT, end, split + 1)
            elif n.low == 0:  # *  *?
                loop = emit(_SPLIT)
                gen(n.item)
                emit(_JMP, loop)
                end = len(ins)
                ins[loop] = (_SPLIT, loop + 1, end) if n.greedy else (_SPLIT, end, loop + 1)
            else:  # +  +?
                body = len(ins)
                gen(n.item)
                split = emit(_SPLIT)
                ins[split] = (_SPLIT, body, split + 1) if n.greedy else (_SPLIT, split + 1, body)

    gen(root)
    emit(_MATCH)
    return ins


def _closure(ins: list[tuple[int, int, int]], pc: int) -> list[tuple[int, int, int]]:
    """The VAR steps (and the match, as -1) reachable from ``pc`` without an event, in
    preferment order, with the split choices taken (bits, count): a backtracking matcher
    tries choice 0 before 1, so comparing choice sequences ranks the matches."""
    out: list[tuple[int, int, int]] = []
    seen: set[int] = set()
    stack = [(pc, 0, 0)]
    while stack:
        p, bits, nb = stack.pop()
        if p in seen:
            continue
        seen.add(p)
        op, a, b = ins[p]
        if op == _VAR:
            out.append((p, bits, nb))
        elif op == _MATCH:
            out.append((-1, bits, nb))
        elif op == _JMP:
            stack.append((a, bits, nb))
        else:
            stack.append((b, (bits << 1) | 1, nb + 1))
            stack.append((a, bits << 1, nb + 1))
    return out


def compile_match_recognize(c: _Compiler, s: A.SelectStmt, name: str) -> SelectPlan:
    """Plan ``select ... from S match_recognize (...)``: one stream, no WHERE/GROUP BY."""
    mr = s.match_recognize
    assert mr is not None
    fn = c.filename
    if not isinstance(s.sources, tuple) or len(s.sources) != 1:
        raise c.err("match_recognize reads one stream (joins are not allowed with it)", mr.pos)
    ref = s.sources[0]
    sd = c.stream_def(ref.stream, ref.pos)
    for what, e in (("WHERE", s.where), ("HAVING", s.having)):
        if e is not None:
            raise c.err(f"unsupported construct: {what} with match_recognize (put the condition "
                        "in a define or in the stream's filter)", e.pos)
    if s.group_by:
        raise c.err("unsupported construct: GROUP BY with match_recognize", s.group_by[0].pos)
    for ann in s.annotations:
        if ann.name.lower() == "hint" and "iterate_only" in str(ann.value).lower():
            raise c.err("unsupported construct: @Hint('iterate_only'): FlowCEP has no iterator, a "
                        "match_recognize statement outputs its matches as they come", ann.pos)
    if s.output is not None:
        raise c.err("unsupported construct: output rate limiting with match_recognize", s.output.pos)
    window_ms: int | None = None
    window_len: int | None = None
    if len(ref.views) > 1:
        raise c.err("unsupported construct: match_recognize over chained views (use one of "
                    "#time, #length, #keepall)", ref.views[1].pos)
    for view in ref.views:
        vname = view.name.lower()
        arg = view.args[0] if len(view.args) == 1 else None
        if vname == "time" and isinstance(arg, (A.TimePeriod, A.Literal)):
            window_ms = arg.ms if isinstance(arg, A.TimePeriod) else int(float(arg.value) * 1000)
        elif vname == "length" and isinstance(arg, A.Literal) and isinstance(arg.value, int) \
                and not isinstance(arg.value, bool) and arg.value > 0:
            window_len = arg.value
        elif vname != "keepall" or view.args:
            raise c.err(f"unsupported construct: match_recognize over #{view.name}"
                        f"{'(...)' if view.args else ''} (take #time(P), #length(N) or #keepall: "
                        "an event leaving them leaves the partial matches; batch and unique "
                        "windows post events otherwise)", view.pos)
    needed: set[str] = set()

    def key_of(parts: tuple[str, ...], pos: A.Pos) -> str:
        key = sd.key(".".join(parts))
        if key is None:
            raise c.err(f"unknown property {'.'.join(parts)!r} of stream {sd.name} "
                        f"(known: {', '.join(sd.props or [])})", pos)
        needed.add(key)
        return key

    def stream_key(p: A.Prop) -> str:
        parts = p.parts[1:] if len(p.parts) > 1 and p.parts[0] in (ref.name, sd.name) else p.parts
        return key_of(parts, p.pos)

    # -- variables --------------------------------------------------------------------------------
    occ = _occurrences(mr.pattern, [])
    var_names: list[str] = []
    for v, _p in occ:
        if v not in var_names:
            var_names.append(v)
    mult = _mult(mr.pattern)
    group = [mult[v] > 1 for v in var_names]
    is_group = dict(zip(var_names, group, strict=True))
    var_index = {v: i for i, v in enumerate(var_names)}
    last_at = {v: i for i, (v, _p) in enumerate(occ)}
    visible = {v: {w for w, _p in occ[:last_at[v]]} - {v} for v in var_names}
    defined: dict[str, tuple[A.Expr, A.Pos]] = {}
    for dname, expr, dpos in mr.defines:
        if dname in defined:
            raise c.err(f"match_recognize: variable {dname!r} is defined twice", dpos)
        if dname not in var_index:
            raise c.err(f"match_recognize: variable {dname!r} does not occur in the pattern "
                        f"({', '.join(var_names)})", dpos)
        defined[dname] = (expr, dpos)

    def split_head(p: A.Prop) -> tuple[str, int | None]:
        head = p.parts[0]
        if head.endswith("]") and "[" in head:
            base, idx = head[:-1].split("[", 1)
            return base, int(idx)
        return head, None

    def var_ref(p: A.Prop, var: str, idx: int | None, env: str = "env") -> str:
        key = key_of(p.parts[1:], p.pos)
        if idx is None:
            if is_group[var]:
                raise c.err(f"match_recognize: {var} can match several events: write "
                            f"{var}[0].{'.'.join(p.parts[1:])} (an index), or an aggregate such as "
                            f"last({p.text}) in measures", p.pos)
            return f"{env}.get({var!r}, _E).get({key!r})"
        if not is_group[var]:
            raise c.err(f"match_recognize: {var} matches one event at most: write "
                        f"{var}.{'.'.join(p.parts[1:])} (no index)", p.pos)
        return f"_at({env}.get({var!r}), {idx}).get({key!r})"

    def gen_for(resolve: Callable[[A.Prop], str], special: Callable[[A.Expr], str | None] | None = None
                ) -> CodeGen:
        gen = CodeGen(fn, resolve, special)
        gen.consts.update({"_E": _E, "_at": _at, "_prev": _prev})
        return gen

    # -- define ---------------------------------------------------------------------------------
    defines: list[Callable[..., Any] | None] = [None] * len(var_names)
    needs_env = [False] * len(var_names)
    prev_depth = 0
    for v, (expr, _dpos) in defined.items():
        if find_aggregates(expr, []) or _calls(expr, _AGGS - {"count", "sum", "avg", "min", "max"}):
            bad = (find_aggregates(expr, []) or _calls(expr, _AGGS))[0]
            raise c.err("match_recognize: aggregate functions are not allowed in define "
                        "(use them in measures)", bad.pos)
        uses_env = [False]

        def d_res(p: A.Prop, v: str = v, uses_env: list[bool] = uses_env) -> str:
            var, idx = split_head(p)
            if len(p.parts) < 2 or var not in var_index:
                if var in var_index:
                    raise c.err(f"match_recognize: {p.text!r}: name a property of {var} "
                                f"({var}.x)", p.pos)
                return f"ev.get({stream_key(p)!r})"  # Esper: a bare property is the current event's
            if var == v and idx is None:
                return f"ev.get({key_of(p.parts[1:], p.pos)!r})"
            if var != v and var not in visible[v]:
                raise c.err(f"match_recognize: the condition of {v} can use {v} and the variables "
                            f"before it in the pattern, not {var}", p.pos)
            uses_env[0] = True
            return var_ref(p, var, idx)

        def d_special(e: A.Expr, v: str = v) -> str | None:
            nonlocal prev_depth
            if not (isinstance(e, A.Call) and e.name == "prev"):
                return None
            arg = e.args[0] if e.args else None
            n = 1
            if len(e.args) == 2:
                lit = e.args[1]
                if not (isinstance(lit, A.Literal) and isinstance(lit.value, int)
                        and not isinstance(lit.value, bool) and lit.value >= 0):
                    raise c.err("prev takes a property and an optional constant offset: prev(B.x, 2)",
                                e.pos)
                n = lit.value
            if not isinstance(arg, A.Prop) or len(e.args) > 2 or split_head(arg) != (v, None) \
                    or len(arg.parts) < 2:
                raise c.err(f"match_recognize: prev() in the condition of {v} reads {v}'s own "
                            f"properties: prev({v}.x) or prev({v}.x, 2)", e.pos)
            prev_depth = max(prev_depth, n)
            return f"_prev(hist, {n}, {key_of(arg.parts[1:], arg.pos)!r})"

        gen = gen_for(d_res, d_special)
        defines[var_index[v]] = compile_row_function(["ev", "env", "hist"], gen.true(expr), gen.consts)
        needs_env[var_index[v]] = uses_env[0]

    # -- partition ----------------------------------------------------------------------------------
    partition = None
    if mr.partition:
        pgen = gen_for(lambda p: f"ev.get({stream_key(p)!r})")
        for e in mr.partition:
            if find_aggregates(e, []):
                raise c.err("match_recognize: aggregate functions are not allowed in partition by", e.pos)
        partition = compile_row_function(["ev"], "(" + "".join(pgen.value(e) + ", " for e in mr.partition) + ")",
                                         pgen.consts)

    # -- measures -------------------------------------------------------------------------------
    aggs: list[_Agg] = []
    whole_events: list[str] = []
    measure_names: list[str] = []
    for m in mr.measures:
        if m.name in measure_names:
            raise c.err(f"match_recognize: two measures are named {m.name!r}", m.expr.pos)
        measure_names.append(m.name)

    def m_res(p: A.Prop) -> str:
        var, idx = split_head(p)
        if len(p.parts) == 1 and idx is None and var in var_index:
            whole_events.append(var)  # the events leave whole: keep every property
            return f"env.get({var!r})"  # the variable itself: its event, or the list of its events
        if len(p.parts) < 2 or var not in var_index:
            raise c.err(f"match_recognize: {p.text!r} in measures must be prefixed with a pattern "
                        f"variable ({', '.join(var_names)}) or be a partition by expression", p.pos)
        return var_ref(p, var, idx)

    def m_special(e: A.Expr) -> str | None:
        for i, pe in enumerate(mr.partition):
            if e == pe:
                return f"pk[{i}]"
        if isinstance(e, A.Call) and e.name == "prev":
            raise c.err("match_recognize: prev() reads earlier events in define conditions; in "
                        "measures select the matched events (B[0].x, first(B.x), ...)", e.pos)
        if not (isinstance(e, A.Call) and e.name in _AGGS):
            return None
        if e.star or len(e.args) != 1:
            raise c.err(f"match_recognize: {e.name}() in measures takes one expression over a "
                        f"variable that can match several events: {e.name}(B.x)", e.pos)
        gvars = []
        for p in props_of(e.args[0]):
            var, idx = split_head(p)
            if var in var_index and is_group[var] and idx is None and var not in gvars:
                gvars.append(var)
        if len(gvars) != 1:
            raise c.err(f"match_recognize: {e.text} must refer to exactly one variable that can "
                        "match several events (a group variable such as B in B+)", e.pos)
        gv = gvars[0]

        def a_res(p: A.Prop) -> str:
            var, idx = split_head(p)
            if var == gv and idx is None and len(p.parts) > 1:
                return f"ev.get({key_of(p.parts[1:], p.pos)!r})"
            return m_res(p)

        agen = gen_for(a_res)
        if find_aggregates(e.args[0], []) or _calls(e.args[0], _AGGS):
            raise c.err("match_recognize: nested aggregate functions are not supported", e.pos)
        arg = compile_row_function(["ev", "env"], agen.value(e.args[0]), agen.consts)
        aggs.append(_Agg(e.name, e.distinct, gv, arg))
        return f"aggs[{len(aggs) - 1}]"

    mgen = gen_for(m_res, m_special)
    mcode = "(" + "".join(mgen.value(m.expr) + ", " for m in mr.measures) + ")"
    measures = compile_row_function(["env", "aggs", "pk"], mcode, mgen.consts)

    # -- select list over the measures ------------------------------------------------------------
    items = s.items
    if items is None:
        select_names = list(measure_names)
        select = None
    else:
        for it in items:
            if find_aggregates(it.expr, []):
                raise c.err("unsupported construct: aggregate functions in the select list of a "
                            "match_recognize statement (aggregate in measures)", it.expr.pos)

        def s_res(p: A.Prop) -> str:
            nm = ".".join(p.parts)
            if nm not in measure_names:
                raise c.err(f"unknown column {nm!r}: a match_recognize statement selects its measures "
                            f"({', '.join(measure_names)})", p.pos)
            return f"m.get({nm!r})"

        sgen = gen_for(s_res)
        select_names = [it.name for it in items]
        select = compile_row_function(["m"], "(" + "".join(sgen.value(it.expr) + ", " for it in items) + ")",
                                      sgen.consts)

    program = _program(_expand(mr.pattern), var_index, lambda msg: c.err(f"match_recognize: {msg}", mr.pos))
    closures = [_closure(program, pc) for pc in range(len(program))]
    if all(target == -1 for target, _b, _n in closures[0]):  # pragma: no cover - grammar needs a variable
        raise c.err("match_recognize: the pattern matches no event", mr.pos)

    info = StatementInfo(name, s.insert_into, select_names, "match_recognize", s.pos.line)
    keys = None if whole_events else sorted(needed)
    sp = StreamPlan(sd.name, ref.name, sd.kind == "flow", keys, None)
    if ref.filter is not None:
        sp.filter = compile_column_filter(ref.filter, stream_key, fn)
        sp.keys = keys
    plan = SelectPlan(info, [sp], False, False, False, None)
    plan.match_recognize = MRPlan(program, closures, var_names, group, defines, needs_env, prev_depth,
                                  partition, measure_names, measures, aggs, select, mr.all_matches,
                                  mr.skip, mr.interval_ms, mr.or_terminated, len(mr.partition),
                                  window_ms, window_len)
    return plan


def _calls(e: A.Expr | None, names: frozenset[str]) -> list[A.Call]:
    """Calls of ``names`` anywhere in ``e`` (first/last are aggregates only here)."""
    out: list[A.Call] = []
    if e is None:
        return out
    stack: list[Any] = [e]
    while stack:
        x = stack.pop()
        if isinstance(x, A.Call) and x.name in names:
            out.append(x)
        if isinstance(x, A.Expr):
            for f in ("args", "items", "left", "right", "item", "pattern", "options", "low", "high",
                      "operand", "default"):
                v = getattr(x, f, None)
                if isinstance(v, tuple):
                    stack.extend(v)
                elif isinstance(v, A.Expr):
                    stack.append(v)
            if isinstance(x, A.Case):
                for w, t in x.whens:
                    stack += [w, t]
    return out


# -- runtime ---------------------------------------------------------------------------------------
class _State:
    """A partial match waiting on the variable at ``pc``."""

    __slots__ = ("pc", "start", "start_t", "caps", "h", "bits", "nb", "length", "ends")

    def __init__(self, pc: int, start: int, start_t: int, caps: Any, h: int, bits: int, nb: int,
                 length: int, ends: tuple[_Match, ...] = ()) -> None:
        self.pc = pc
        self.start = start
        self.start_t = start_t
        self.caps = caps  # (var index, event, previous caps) or None
        self.h = h  # hash of the variable sequence: merges identical states
        self.bits = bits
        self.nb = nb
        self.length = length
        # interval: the matches this partial match completed on its way (all of them with all
        # matches, else the last one); they are output when it terminates (or terminated)
        self.ends = ends


@dataclass
class _Match:
    start: int
    end: int
    start_t: int
    caps: Any
    bits: int
    nb: int
    due: int | None = None  # interval: when its start's timer outputs it (None: completed later)
    end_t: int = 0

    def rank(self) -> tuple[int, int, Fraction]:
        """Preferment: earlier start, then longer (only matches held by an interval differ in
        length: Esper outputs ``A C1`` before ``A`` for ``A (B* | C)``), then the order a
        backtracking matcher finds them in (greedy tries more, reluctant fewer)."""
        return self.start, -self.end, Fraction(self.bits, 1 << self.nb)


class _Part:
    __slots__ = ("key", "pk", "states", "pending", "hist", "scheduled")

    def __init__(self, key: Any, pk: tuple[Any, ...], prev_depth: int) -> None:
        self.key = key
        self.pk = pk  # the partition by values, for measures that select them
        self.states: list[_State] = []
        self.pending: list[_Match] = []
        self.hist: deque[dict[str, Any]] = deque(maxlen=prev_depth + 1)
        self.scheduled: int | None = None  # the interval timer this partition has in the heap


class MatchRecognizeStmt:
    """Runtime of a match_recognize statement (same interface as the SELECT statements)."""

    def __init__(self, plan: SelectPlan) -> None:
        self.plan = plan
        self.name = plan.info.name
        self.stream = plan.info.stream
        self.insert_into = plan.info.insert_into
        self.names = plan.value_names or plan.info.select_names
        self.mp: MRPlan = plan.match_recognize
        self.npart = self.mp.npart
        mp = self.mp
        # When no condition reads earlier variables, two states at one step behave alike from
        # now on; without all matches, skipping past the last row, no interval and no window
        # (where the older one leaves first), the one that started first always wins, so the
        # later one is dropped (exact, and it keeps a run of F{5,} linear instead of one state
        # per F)
        self.windowed = mp.window_ms is not None or mp.window_len is not None
        self.merge_by_step = (mp.interval_ms is None and not mp.all_matches and not self.windowed
                              and mp.skip == "past_last_row" and not any(mp.needs_env))
        self.var_at = [ins[1] for ins in mp.program]  # the variable a VAR step waits on
        # the match (split choices) each step's closure reaches, if any
        self.match_at: list[tuple[int, int] | None] = [
            next(((bits, nb) for target, bits, nb in clo if target < 0), None) for clo in mp.closures]
        self.parts: OrderedDict[Any, _Part] = OrderedDict()
        self.nstates = 0
        self.seq = 0
        self.heap: list[tuple[int, int, Any]] = []
        self._hseq = 0
        #: partial matches not started and partitions or matches dropped by the bounds
        self.stats: Counter[str] = Counter()

    # -- runtime interface ---------------------------------------------------------------------
    def prefilter(self, idx: int, ev: Events) -> Events:
        sp = self.plan.streams[idx]
        if sp.filter is not None:
            return ev.take(sp.filter(ev.cols, ev.n), sp.keys)
        keys = sp.keys
        if keys is None:
            return ev
        return Events({k: (ev.cols.get(k) or [None] * ev.n) for k in keys}, ev.n, ev.times)

    def next_due(self) -> int | None:
        h = self.heap
        while h:
            due, _s, key = h[0]
            part = self.parts.get(key)
            if part is not None and part.scheduled == due:
                return due
            heapq.heappop(h)  # an evicted partition's, or a timer moved earlier
        return None

    def due_if_fed(self, idx: int, t: int) -> int | None:
        ms = self.mp.interval_ms
        return None if ms is None else t + ms

    def feed(self, idx: int, ev: Events) -> list[Row]:
        out: list[Row] = []
        for t, row in zip(ev.times, ev.rows(), strict=False):
            mark = len(out)
            self._event(row, t, out)
            self._shape(out, mark)  # one event's matches: one step
        return out

    def fire(self, now: int) -> list[Row]:
        out: list[Row] = []
        keys = []
        while self.heap and self.heap[0][0] <= now:
            due, _s, key = heapq.heappop(self.heap)
            part = self.parts.get(key)
            if part is not None and part.scheduled == due:
                keys.append(key)
        for key in keys:
            part = self.parts.get(key)
            if part is None:
                continue
            part.scheduled = None
            self._release(part, now, out)
            self._schedule(part)  # the held matches of later sequences wait for their own timer
            self._forget(part)
        self._shape(out, 0)
        return out

    def flush(self) -> list[Row]:
        """End of input: the interval timers have fired (the runtime ran the clock out); a
        held match that waits for its run to end is output now, at its last event's time."""
        out: list[Row] = []
        for part in list(self.parts.values()):
            if part.pending:
                self._release(part, _INF, out, final=True)
        self._shape(out, 0)
        return out

    # -- matching --------------------------------------------------------------------------------
    def _shape(self, out: list[Row], mark: int) -> None:
        shape = self.plan.shape
        if shape is not None and len(out) > mark:
            out[mark:] = shape(out[mark:])

    def _part(self, row: dict[str, Any]) -> _Part:
        mp = self.mp
        key = mp.partition(row) if mp.partition is not None else None
        pk = key if isinstance(key, tuple) else (None,) * self.npart
        try:
            part = self.parts.get(key)
        except TypeError:  # an unhashable value (a list): partition by its text
            key = repr(key)
            part = self.parts.get(key)
        if part is None:
            if len(self.parts) >= MAX_PARTITIONS:
                _k, old = self.parts.popitem(last=False)
                self.nstates -= len(old.states)
                self.stats["match-recognize-partition-evicted"] += 1
            part = _Part(key, pk, mp.prev_depth)
            self.parts[key] = part
        else:
            self.parts.move_to_end(key)
        return part

    def _forget(self, part: _Part) -> None:
        """A partition with nothing in progress and no prev() history to keep costs nothing."""
        if not part.states and not part.pending and self.mp.prev_depth == 0:
            self.parts.pop(part.key, None)

    def _env(self, caps: Any) -> dict[str, Any]:
        names, group = self.mp.var_names, self.mp.group
        seq = []
        while caps is not None:
            seq.append(caps)
            caps = caps[2]
        env: dict[str, Any] = {}
        for v, ev, _p in reversed(seq):
            if group[v]:
                env.setdefault(names[v], []).append(ev)
            else:
                env[names[v]] = ev
        return env

    def _event(self, row: dict[str, Any], t: int, out: list[Row]) -> None:
        mp = self.mp
        part = self._part(row)
        hist = part.hist
        hist.append(row)
        seq = self.seq
        self.seq += 1
        closures, defines, needs_env = mp.closures, mp.defines, mp.needs_env
        if self.windowed:
            self._leave(part, t)
        old = part.states
        # Esper's max-states with prevent-start: the states running on keep their place, a
        # state that would go past the bound is not started (counted)
        budget = MAX_STATES - (self.nstates - len(old))
        fresh = [_State(pc, seq, t, None, 0, bits, nb, 0) for pc, bits, nb in closures[0] if pc >= 0]
        new: list[_State] = []
        matches: list[_Match] = []
        seen: set[Any] = set()
        merge = self.merge_by_step
        var_at = self.var_at
        # held matches of different lengths are ranked by their split choices; matches output
        # at once all end here and come out of the state list in preferment order already
        ranked = mp.interval_ms is not None
        terminated: list[_Match] = []  # interval: matches of the partial matches that ended here
        keep_all = mp.all_matches or mp.skip == "to_current_row"
        match_at = self.match_at
        for st in chain(old, fresh):
            v = var_at[st.pc]
            cond = defines[v]
            if cond is not None and not cond(row, self._env(st.caps) if needs_env[v] else _E, hist):
                if ranked:
                    terminated += st.ends
                continue
            if st.length >= MAX_MATCH_EVENTS:
                self.stats["match-recognize-match-too-long"] += 1
                if ranked:
                    terminated += st.ends
                continue
            caps = (v, row, st.caps)
            h = 0 if merge else hash((st.h, v))
            ends = st.ends
            mi = match_at[st.pc + 1]
            if mi is not None:
                mbits, mnb = ((st.bits << mi[1]) | mi[0], st.nb + mi[1]) if ranked else (0, 0)
                m = _Match(st.start, seq, st.start_t, caps, mbits, mnb, self._due(st.start_t, t), t)
                matches.append(m)
                if ranked:
                    ends = ends + (m,) if keep_all else (m,)
                    if len(ends) > _MAX_PENDING:
                        # all matches: a run refers to its held matches, of which a partition
                        # keeps _MAX_PENDING (the oldest are counted when they leave the hold)
                        ends = ends[1:]
            goes_on = False
            for pc2, bits, nb in closures[st.pc + 1]:
                if pc2 < 0:
                    continue
                nbits, nnb = ((st.bits << nb) | bits, st.nb + nb) if ranked else (0, 0)
                k = pc2 if merge else (pc2, st.start, h)
                if k in seen:
                    goes_on = True  # an identical partial match carries on
                    continue
                if len(new) >= budget:
                    self.stats["match-recognize-state-limit"] += 1
                    continue
                seen.add(k)
                goes_on = True
                new.append(_State(pc2, st.start, st.start_t, caps, h, nbits, nnb, st.length + 1, ends))
            if ranked and not goes_on:
                terminated += ends
        self.nstates += len(new) - len(old)
        part.states = new
        if mp.interval_ms is None:
            if matches:
                chosen = self._choose(matches)  # in preferment order: by start, then priority
                self._discard(part, chosen)
                self._emit(part, chosen, t, out)
        else:
            if matches:
                self._hold(part, matches, terminated)
            if part.pending:
                self._release(part, t, out, terminated, seq)
        self._forget(part)

    def _leave(self, part: _Part, now: int) -> None:
        """Data window (Esper: "Datawindow-Bound"): an event leaving #time/#length removes the
        partial matches holding it. A match's events are consecutive, so its first event is
        the oldest: states and held matches whose first event left are dropped."""
        mp = self.mp
        if mp.window_ms is not None:
            horizon_t = now - mp.window_ms  # an event at t leaves at t + P, before events at t + P
            keep_s = [s for s in part.states if s.start_t > horizon_t]
            part.pending = [m for m in part.pending if m.start_t > horizon_t]
        else:
            assert mp.window_len is not None
            oldest = self.seq - mp.window_len  # the window holds the last N events of the stream
            keep_s = [s for s in part.states if s.start >= oldest]
            part.pending = [m for m in part.pending if m.start >= oldest]
        self.nstates -= len(part.states) - len(keep_s)
        part.states = keep_s

    def _choose(self, pool: list[_Match]) -> list[_Match]:
        """Duplicate elimination (Esper's manual: take the preferred match, drop the ones
        the skip clause says overlap it, repeat); ``all matches`` keeps them all."""
        mp = self.mp
        if mp.all_matches or mp.skip == "to_current_row":
            return pool
        chosen = []
        while pool:
            m = pool[0]
            chosen.append(m)
            limit = m.end if mp.skip == "past_last_row" else m.start
            pool = [x for x in pool[1:] if x.start > limit]
        return chosen

    def _discard(self, part: _Part, chosen: list[_Match]) -> None:
        """Partial (and held) matches overlapping an output match stop, per the skip clause."""
        mp = self.mp
        if mp.skip == "to_current_row" or not chosen:
            return
        limit = max(m.end if mp.skip == "past_last_row" else m.start for m in chosen)
        kept = [s for s in part.states if s.start > limit]
        self.nstates -= len(part.states) - len(kept)
        part.states = kept
        part.pending = [m for m in part.pending if m.start > limit]

    def _hold(self, part: _Part, matches: list[_Match], terminated: list[_Match]) -> None:
        """interval: completed matches wait for the end of their interval. Without all matches
        (and unless skipping to the current row) only the preferred match of each start can be
        output, so only that one is kept."""
        mp = self.mp
        assert mp.interval_ms is not None
        pending = part.pending + matches
        if not (mp.all_matches or mp.skip == "to_current_row"):
            # a timer outputs the preferred match of each start; a run that terminates outputs
            # the last match it completed: only those can come out
            best: dict[int, _Match] = {}
            for m in pending:
                b = best.get(m.start)
                if b is None or m.rank() < b.rank():
                    best[m.start] = m
            wanted = {id(m) for m in best.values()}
            wanted.update(id(e) for s in part.states for e in s.ends)
            wanted.update(id(e) for e in terminated)
            pending = [m for m in pending if id(m) in wanted]
        elif len(pending) > _MAX_PENDING:
            self.stats["match-recognize-pending-evicted"] += len(pending) - _MAX_PENDING
            pending = pending[-_MAX_PENDING:]
        part.pending = pending
        self._schedule(part)

    def _schedule(self, part: _Part) -> None:
        """One heap entry per partition, at its earliest held match's timer: the heap stays
        as large as the partitions holding matches, whatever the event rate."""
        due = self._min_due(part)
        if due < _INF and (part.scheduled is None or due < part.scheduled):
            part.scheduled = due
            self._hseq += 1
            heapq.heappush(self.heap, (due, self._hseq, part.key))

    def _due(self, start_t: int, t: int) -> int | None:
        """The interval timer of a sequence fires once, at its first event + P (before events
        of that time): a match completed by then waits for it; one completed later is output
        when its run terminates (Esper: ``A*`` outputs A3 A4 A5 at the timer and A3..A6 when
        B2 ends the run, RowRecogIntervalOrTerminated)."""
        ms = self.mp.interval_ms
        if ms is None or t >= start_t + ms:
            return None
        return start_t + ms

    def _min_due(self, part: _Part) -> int:
        return min((m.due for m in part.pending if m.due is not None), default=_INF)

    def _release(self, part: _Part, now: int, out: list[Row], terminated: list[_Match] | None = None,
                 seq: int | None = None, final: bool = False) -> None:
        """Output the held matches whose interval ended, and (with ``or terminated``, or when
        completed after their timer) those of the partial matches that ended at this event:
        Esper outputs a match when the run that completed it terminates, even if a sibling
        branch still runs (``A (B* | C)`` outputs A2 at B1, when the C branch dies).
        ``seq``: the event being processed; the matches it completed survive the skip."""
        mp = self.mp
        if self.windowed and not final:
            self._leave(part, now)
        ended = {id(m) for m in terminated or ()}
        ready = [m for m in part.pending
                 if final or (m.due is not None and m.due <= now)
                 or ((mp.or_terminated or m.due is None) and id(m) in ended)]
        if not ready:
            return
        chosen = self._choose(sorted(ready, key=_Match.rank))
        gone = {id(m) for m in ready}
        part.pending = [m for m in part.pending if id(m) not in gone]
        # the skip clause drops the held matches that overlap; partial matches keep running,
        # as in Esper (``A*`` outputs A3 A4 A5 at the interval, then A3 A4 A5 A6 when B2
        # terminates the run: RowRecogIntervalOrTerminated, A*)
        if mp.skip != "to_current_row" and chosen:
            limit = max(m.end if mp.skip == "past_last_row" else m.start for m in chosen)
            part.pending = [m for m in part.pending if m.start > limit or m.end == seq]
        self._emit(part, chosen, max(m.end_t for m in chosen) if final else now, out)
        if part.scheduled is not None and part.scheduled <= now:
            part.scheduled = None  # its timer is spent (released at an event of that time)
        self._schedule(part)

    def _emit(self, part: _Part, chosen: list[_Match], t: int, out: list[Row]) -> None:
        mp = self.mp
        pk = part.pk
        for m in chosen:
            env = self._env(m.caps)
            aggs = [_aggregate(a, env) for a in mp.aggs]
            vals = mp.measures(env, aggs, pk)
            if vals is None:  # pragma: no cover - a measure raising is caught per statement
                vals = (None,) * len(mp.measure_names)
            mvals = dict(zip(mp.measure_names, vals, strict=True))
            if mp.select is None:
                out.append(Row(self.name, self.stream, t, mvals))
            else:
                svals = mp.select(mvals) or (None,) * len(self.names)
                out.append(Row(self.name, self.stream, t, dict(zip(self.names, svals, strict=False))))

    def states(self) -> Iterator[_State]:
        """Every live partial match (tests and diagnostics)."""
        for part in self.parts.values():
            yield from part.states


def _aggregate(a: _Agg, env: dict[str, Any]) -> Any:
    """An aggregate over the events a group variable matched (nulls ignored except by
    first/last, which give the first/last event's value)."""
    events = env.get(a.var) or []
    vals = [a.arg(ev, env) for ev in events]
    if a.kind == "first":
        return vals[0] if vals else None
    if a.kind == "last":
        return vals[-1] if vals else None
    vals = [x for x in vals if x is not None]
    if a.distinct:
        uniq: list[Any] = []
        for x in vals:
            if x not in uniq:
                uniq.append(x)
        vals = uniq
    if a.kind == "count":
        return len(vals)
    if not vals:
        return None
    try:
        if a.kind == "sum":
            return sum(vals)
        if a.kind == "avg":
            return sum(vals) / len(vals)
        if a.kind == "min":
            return min(vals)
        return max(vals)
    except TypeError:
        return None
