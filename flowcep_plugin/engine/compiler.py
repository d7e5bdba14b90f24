"""Semantic analysis and planning: AST -> statements with compiled functions.

Everything that can be wrong with a module is found here, before any data flows: unknown
streams, unknown properties (when the stream's properties are known), unsupported views or
clauses, aggregates where they cannot be. The resulting plans hold compiled functions only;
runtime state lives in ``runtime.Runtime`` so one module can run in several runtimes.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

from ..errors import EPLError
from . import ast as A
from .expressions import (
    AGGREGATES,
    CodeGen,
    ColumnFilter,
    compile_column_filter,
    compile_column_values,
    compile_row_function,
    find_aggregates,
    props_of,
)
from .parser import parse_module, substitute_params
from .plan import Module, SelectPlan, StatementInfo, StreamDef, StreamPlan

__all__ = ["compile_module", "Module", "StatementInfo", "StreamDef", "SelectPlan", "StreamPlan"]

FLOW = "Flow"
_WINDOWS = {"time_batch", "time", "length", "length_batch", "ext_timed", "ext_timed_batch",
            "unique", "firstunique", "keepall", "lastevent", "firstevent"}


def compile_module(text: str, filename: str = "<epl>", params: Mapping[str, Any] | None = None) -> Module:
    """Parse and plan a module; raise EPLError (with position) for anything wrong in it."""
    text = substitute_params(text, params, filename)
    stmts = parse_module(text, filename)
    return _Compiler(filename).compile(stmts)


def _ann(anns: tuple[A.Annotation, ...], name: str) -> A.Annotation | None:
    for a in anns:
        if a.name.lower() == name.lower():
            return a
    return None


class _Compiler:
    def __init__(self, filename: str) -> None:
        self.filename = filename
        self.streams: dict[str, StreamDef] = {}
        self.input_stream = FLOW

    def err(self, msg: str, pos: A.Pos | None) -> EPLError:
        if pos is None or not pos.line:
            return EPLError(msg, self.filename)
        return EPLError(msg, self.filename, pos.line, pos.column)

    # -- module -----------------------------------------------------------------------------
    def compile(self, stmts: list[A.Statement]) -> Module:
        infos: list[StatementInfo] = []
        schemas: list[StatementInfo] = []
        plans: list[SelectPlan] = []
        names: set[str] = set()
        flow_schema = None
        for s in stmts:
            if isinstance(s, A.SchemaStmt):
                tag = None
                for a in s.annotations:
                    if a.name.lower() == "tag" and dict(a.kv).get("name") == "timestamp":
                        tag = str(dict(a.kv).get("value", ""))
                props = [p for p, _t in s.props]
                sd = StreamDef(s.name, "schema", props or None)
                if tag is not None and flow_schema is None:
                    flow_schema = s.name
                    sd.kind = "flow"
                    key = sd.key(tag)
                    if key is None:
                        raise self.err(f"timestamp tag names {tag!r}, not a property of {s.name}", s.pos)
                    sd.time_key = None if key == "flowEndMilliseconds" else key
                self.streams[s.name] = sd
                n = _ann(s.annotations, "Name")
                schemas.append(StatementInfo(str(n.value) if n else s.name, None, props, "schema", s.pos.line))
        if flow_schema is None:
            self.streams.setdefault(FLOW, StreamDef(FLOW, "flow", None))
            self.input_stream = FLOW
        else:
            self.input_stream = flow_schema
        # derived streams are known up front so statement order does not matter
        pending: dict[str, list[A.SelectStmt]] = {}
        for s in stmts:
            if isinstance(s, A.SelectStmt) and s.insert_into:
                if s.insert_into in self.streams and self.streams[s.insert_into].kind != "derived":
                    raise self.err(f"INSERT INTO {s.insert_into}: that name is a schema", s.pos)
                pending.setdefault(s.insert_into, []).append(s)
        for name, producers in pending.items():
            known: list[str] | None = []
            for p in producers:
                if p.items is None:
                    known = None
                    break
                assert known is not None
                for item in p.items:
                    if item.name not in known:
                        known.append(item.name)
            self.streams[name] = StreamDef(name, "derived", known)
        counter = 0
        for s in stmts:
            if not isinstance(s, A.SelectStmt):
                continue
            n = _ann(s.annotations, "Name")
            if n is not None:
                name = str(n.value)
            else:
                counter += 1
                name = f"stmt-{counter}"
            if name in names:
                raise self.err(f"duplicate statement name {name!r}", s.pos)
            names.add(name)
            plan = self.select(s, name)
            infos.append(plan.info)
            plans.append(plan)
        self.check_cycles(plans)
        module = Module(self.filename, infos, plans, self.input_stream, self.streams)
        module.schemas = schemas
        return module

    def check_cycles(self, plans: list[SelectPlan]) -> None:
        """INSERT INTO chains must not loop (each event would be re-inserted forever)."""
        feeds: dict[str, list[SelectPlan]] = {}
        for plan in plans:
            for sp in plan.streams:
                feeds.setdefault(sp.stream, []).append(plan)
        state: dict[str, int] = {}

        def visit(stream: str, path: list[str]) -> None:
            state[stream] = 1
            for plan in feeds.get(stream, ()):
                nxt = plan.info.insert_into
                if nxt is None:
                    continue
                if state.get(nxt) == 1:
                    full = [*path, stream, nxt]
                    raise EPLError(f"INSERT INTO loop: {' -> '.join(full[full.index(nxt):])} "
                                   f"(statement {plan.info.name!r})", self.filename,
                                   plan.info.line or None)
                if nxt not in state:
                    visit(nxt, [*path, stream])
            state[stream] = 2

        for name in list(self.streams):
            if name not in state:
                visit(name, [])

    # -- resolution ----------------------------------------------------------------------------
    def stream_def(self, name: str, pos: A.Pos) -> StreamDef:
        sd = self.streams.get(name)
        if sd is None:
            known = ", ".join(sorted(self.streams))
            raise self.err(f"unknown stream {name!r} (known: {known})", pos)
        return sd

    def resolve(self, p: A.Prop, refs: list[tuple[str, StreamDef]]) -> tuple[int, str]:
        """(stream index, event key) for a property in a statement over ``refs``."""
        parts = p.parts
        if parts[0].startswith(_PRIOR):
            return 0, parts[0]
        if len(parts) > 1:
            for i, (alias, sd) in enumerate(refs):
                if parts[0] == alias or parts[0] == sd.name:
                    key = sd.key(".".join(parts[1:]))
                    if key is None:
                        raise self.err(f"unknown property {'.'.join(parts[1:])!r} of stream "
                                       f"{sd.name} (known: {', '.join(sd.props or [])})", p.pos)
                    return i, key
        name = ".".join(parts)
        found = [(i, sd.key(name)) for i, (_a, sd) in enumerate(refs) if sd.key(name) is not None]
        if len(refs) > 1:
            exact = [(i, k) for i, k in found if refs[i][1].props is not None]
            if len(exact) == 1:
                found = exact
        if len(found) == 1:
            return found[0][0], found[0][1]  # type: ignore[return-value]
        if not found:
            sd = refs[0][1]
            raise self.err(f"unknown property {name!r} of stream {sd.name} "
                           f"(known: {', '.join(sd.props or [])})", p.pos)
        raise self.err(f"ambiguous property {name!r}: prefix it with a stream name", p.pos)

    # -- select statements -------------------------------------------------------------------
    def select(self, s: A.SelectStmt, name: str) -> SelectPlan:
        """Plan a statement; ORDER BY/LIMIT/DISTINCT become a shaper of each output step.

        An ORDER BY expression that is a select name (alias or unaliased text) or the same
        expression as a select item sorts by that column; any other expression is computed
        beside the select list as a hidden value (same rules as a select item: aggregates,
        GROUP BY expressions, properties) and removed once the step is sorted.
        """
        if not (s.order_by or s.limit is not None or s.distinct):
            return self._select(s, name)
        from .ordering import KeyGetter, make_shaper

        is_pattern = isinstance(s.sources, A.PatternSource)
        keys: list[tuple[KeyGetter, bool]] = []
        hidden: list[A.SelectItem] = []
        if s.items is None:
            if s.order_by and (is_pattern or len(s.sources) != 1):  # type: ignore[arg-type]
                raise self.err("unsupported construct: ORDER BY with SELECT * over a pattern or "
                               "a join (select the properties to sort by)", s.order_by[0].expr.pos)
            for o in s.order_by:
                keys.append((self._star_key(s, o.expr), o.descending))
        else:
            names = [it.name for it in s.items]
            for i, o in enumerate(s.order_by):
                e = o.expr
                col = None
                if isinstance(e, A.Prop) and ".".join(e.parts) in names:
                    col = ".".join(e.parts)
                else:
                    for it in s.items:
                        if it.expr == e:
                            col = it.name
                            break
                if col is None:
                    col = f"\x00order{i}"
                    hidden.append(A.SelectItem(e, col))
                keys.append((lambda v, c=col: v.get(c), o.descending))  # type: ignore[misc]
        plan_s = dataclasses.replace(s, items=s.items + tuple(hidden)) if s.items and hidden else s
        plan = self._select(plan_s, name, len(hidden))
        visible = None if s.items is None else [it.name for it in s.items]
        if hidden:
            plan.value_names = list(plan.info.select_names)
            plan.info.select_names = plan.value_names[:len(plan.value_names) - len(hidden)]
        lim = s.limit
        plan.shape = make_shaper(keys, lim.count if lim else None, lim.offset if lim else 0,
                                 s.distinct, visible, [h.name for h in hidden])
        return plan

    def _star_key(self, s: A.SelectStmt, e: A.Expr) -> Callable[[dict[str, Any]], Any]:
        """SELECT * rows carry the event's properties under their event keys: sort on those."""
        assert not isinstance(s.sources, A.PatternSource)
        ref = s.sources[0]
        refs = [(ref.name, self.stream_def(ref.stream, ref.pos))]
        if find_aggregates(e, []):
            raise self.err("aggregate functions in ORDER BY need a select list", e.pos)

        def res(p: A.Prop) -> str:
            return f"r0.get({self.resolve(p, refs)[1]!r})"

        gen = CodeGen(self.filename, res)
        return compile_row_function(["r0"], gen.value(e), gen.consts)

    def _select(self, s: A.SelectStmt, name: str, hidden: int = 0) -> SelectPlan:
        """Plan one statement; the last ``hidden`` select items are ORDER BY values."""
        if isinstance(s.sources, A.PatternSource):
            from .patterns import compile_pattern_statement

            return compile_pattern_statement(self, s, name)
        refs: list[tuple[str, StreamDef]] = []
        sources: tuple[A.StreamRef, ...] = s.sources
        for ref in sources:
            sd = self.stream_def(ref.stream, ref.pos)
            if any(a == ref.name for a, _ in refs):
                raise self.err(f"stream {ref.name!r} appears twice; give it an alias (AS x)", ref.pos)
            refs.append((ref.name, sd))
        single = len(refs) == 1
        priors: list[tuple[str, int, str]] = []
        if _has_prior(s):
            s = self.rewrite_priors(s, refs, priors)
        items = s.items
        star = items is None
        # aggregates and grouping
        aggs: list[A.Call] = []
        for it in items or ():
            find_aggregates(it.expr, aggs)
        find_aggregates(s.having, aggs)
        if s.where is not None and find_aggregates(s.where, []):
            bad = find_aggregates(s.where, [])[0]
            raise self.err("aggregate functions are not allowed in WHERE (use HAVING)", bad.pos)
        for g in s.group_by:
            if find_aggregates(g, []):
                raise self.err("aggregate functions are not allowed in GROUP BY", g.pos)
        for c in aggs:
            for a in c.args:
                if find_aggregates(a, []):
                    raise self.err("nested aggregate functions are not supported", a.pos)
            if c.star and c.name != "count":
                raise self.err(f"{c.name}(*) is not valid; only count(*)", c.pos)
            if not c.star and len(c.args) != 1:
                raise self.err(f"{c.name}() takes one argument", c.pos)
        aggregated = bool(aggs)
        grouped = bool(s.group_by)
        if star and (aggregated or grouped):
            raise self.err("SELECT * cannot be combined with aggregates or GROUP BY", s.pos)
        if grouped and not aggregated:
            raise self.err("unsupported construct: GROUP BY without aggregate functions", s.group_by[0].pos)
        if s.output is not None:
            if s.output.ms is None:
                raise self.err("unsupported construct: output rate by events (use a time period)", s.output.pos)
        # stream plans and the keys each stream must keep
        needed: list[set[str] | None] = [set() for _ in refs]
        all_exprs: list[A.Expr] = [it.expr for it in items or ()] + list(s.group_by)
        all_exprs += [e for e in (s.where, s.having) if e is not None]
        for e in all_exprs:
            for p in props_of(e):
                i, key = self.resolve(p, refs)
                ks = needed[i]
                if ks is not None:
                    ks.add(key)
        if star:
            needed = [None for _ in refs]
        streams: list[StreamPlan] = []
        for (alias, sd), ref in zip(refs, sources, strict=False):
            ks = needed[refs.index((alias, sd))]
            sp = StreamPlan(sd.name, alias, sd.kind == "flow", None if ks is None else sorted(ks), None)
            if ref.filter is not None:
                for p in props_of(ref.filter):
                    self.resolve(p, [(alias, sd)])
                one = [(alias, sd)]

                def key_in(p: A.Prop, one: list[tuple[str, StreamDef]] = one) -> str:
                    return self.resolve(p, one)[1]

                sp.filter = compile_column_filter(ref.filter, key_in, self.filename)
            self.view(ref, sp, sd)
            if priors:
                sp.priors = priors
                for _syn, _n, src in priors:
                    if sp.keys is not None and src not in sp.keys:
                        sp.keys.append(src)
            streams.append(sp)
        select_names = [it.name for it in items] if items is not None else list(
            (refs[0][1].props or []) if single else [])
        if items is not None:
            seen: set[str] = set()
            for it in items:
                if it.name in seen:
                    raise self.err(f"duplicate select name {it.name!r}; use AS to rename", it.expr.pos)
                seen.add(it.name)
        info = StatementInfo(name, s.insert_into, select_names, "select" if single else "join", s.pos.line)
        plan = SelectPlan(info, streams, aggregated, grouped, star, s.output)
        plan.aggs = [(c.name, c.distinct, c.star) for c in aggs]
        plan.count_only = all(c.name == "count" and c.star for c in aggs)
        fn = self.filename
        # group level functions
        if aggregated:
            group_exprs = list(s.group_by)

            keys_read: list[bool] = [False]

            def special(e: A.Expr) -> str | None:
                if isinstance(e, A.Call) and e.name in AGGREGATES:
                    return f"a[{aggs.index(e)}]"
                if e in group_exprs:
                    keys_read[0] = True
                    return f"k[{group_exprs.index(e)}]"
                return None

            def event_prop(p: A.Prop) -> str:
                # a property outside GROUP BY and aggregates: Esper outputs one row per event
                plan.per_event = True
                i, key = self.resolve(p, refs)
                return f"r{i}.get({key!r})"

            gen = CodeGen(fn, event_prop, special)
            assert items is not None
            nvis = len(items) - hidden
            codes = [gen.value(it.expr) for it in items[:nvis]]
            gargs = ["k", "a"] + [f"r{i}" for i in range(len(refs))]
            having_code = None
            if s.having is not None:
                before = plan.per_event
                plan.per_event = False
                keys_read[0] = False
                having_code = gen.true(s.having)
                plan.having_reads_keys = keys_read[0]
                plan.having_per_event = plan.per_event
                plan.per_event = plan.per_event or before
            for it in items[nvis:]:
                before = plan.per_event
                codes.append(gen.value(it.expr))
                if plan.per_event and not before:
                    raise self.err(f"ORDER BY {it.expr.text}: an aggregated statement orders by its "
                                   "select names, GROUP BY expressions or aggregate functions", it.expr.pos)
            plan.grp_select = compile_row_function(gargs, "(" + "".join(c + ", " for c in codes) + ")",
                                                   gen.consts)
            if having_code is not None:
                plan.grp_having = compile_row_function(gargs, having_code, gen.consts)
            if not plan.per_event:
                plan.grp_emit = self.group_emitter(items, s.having, group_exprs, aggs, plan)
        elif s.having is not None and single:
            plan.col_having = compile_column_filter(s.having, lambda p: self.resolve(p, refs)[1], fn)
        if s.output is not None:
            self.check_output(s, plan, streams)
        # single stream: WHERE in column mode, before or after the window
        if single:
            key_of = lambda p: self.resolve(p, refs)[1]  # noqa: E731
            sp = streams[0]
            if s.where is not None:
                wf = compile_column_filter(s.where, key_of, fn)
                if _filter_after(sp) or sp.priors:  # prior() counts events WHERE rejects
                    sp.post_filter = wf
                elif sp.view is not None and sp.view.name == "time_batch":
                    sp.window_where = wf
                elif sp.filter is None:
                    sp.filter = wf
                else:
                    sp.filter = _and_filters(sp.filter, wf)
            if not aggregated and items is not None:
                plan.col_select = compile_column_values([it.expr for it in items], key_of, fn)
            if aggregated:
                plan.col_group = compile_column_values(list(s.group_by), key_of, fn)
                plan.col_args = compile_column_values(
                    [A.Literal(1) if c.star else c.args[0] for c in aggs], key_of, fn)
        # row mode: one row dict per stream, r0..rN (joins; sliding aggregation of one stream)
        nargs = [f"r{i}" for i in range(len(refs))]

        def row_res(p: A.Prop) -> str:
            i, key = self.resolve(p, refs)
            return f"r{i}.get({key!r})"

        rgen = CodeGen(fn, row_res)
        if aggregated:
            plan.row_group = compile_row_function(nargs, "(" + "".join(rgen.value(g) + ", " for g in s.group_by) + ")",
                                                  rgen.consts)
            plan.row_args = compile_row_function(
                nargs, "(" + "".join(("1" if c.star else rgen.value(c.args[0])) + ", " for c in aggs) + ")",
                rgen.consts)
        elif items is not None:
            plan.row_select = compile_row_function(nargs, "(" + "".join(rgen.value(it.expr) + ", " for it in items) + ")",
                                                   rgen.consts)
        if not single:
            for conj in _conjuncts(s.where):
                used = frozenset(self.resolve(p, refs)[0] for p in props_of(conj))
                if isinstance(conj, A.BinOp) and conj.op == "==" and isinstance(conj.left, A.Prop) \
                        and isinstance(conj.right, A.Prop):
                    (s1, k1), (s2, k2) = self.resolve(conj.left, refs), self.resolve(conj.right, refs)
                    if s1 != s2:
                        plan.equi.append((s1, k1, s2, k2))
                cgen = CodeGen(fn, row_res)
                plan.conjuncts.append((used, compile_row_function(nargs, cgen.true(conj), cgen.consts)))
            if s.having is not None and not aggregated:
                cgen = CodeGen(fn, row_res)
                used = frozenset(range(len(refs)))
                plan.conjuncts.append((used, compile_row_function(nargs, cgen.true(s.having), cgen.consts)))
        return plan

    def rewrite_priors(self, s: A.SelectStmt, refs: list[tuple[str, StreamDef]],
                       priors: list[tuple[str, int, str]]) -> A.SelectStmt:
        """``prior(n, p)`` becomes a column computed as events arrive (after the stream's
        filter, before the window and WHERE): the value of ``p`` n events before."""
        if len(refs) != 1:
            raise self.err("unsupported construct: prior() in a join", s.pos)

        def visit(e: Any) -> Any:
            if isinstance(e, A.Call) and e.name == "prior":
                if len(e.args) != 2 or not isinstance(e.args[0], A.Literal) \
                        or not isinstance(e.args[0].value, int) or e.args[0].value < 0 \
                        or not isinstance(e.args[1], A.Prop):
                    raise self.err("prior takes a non-negative whole number and a property: prior(1, x)", e.pos)
                n = e.args[0].value
                _i, src = self.resolve(e.args[1], refs)
                syn = f"{_PRIOR}{n}:{src}"
                if all(p[0] != syn for p in priors):
                    priors.append((syn, n, src))
                return A.Prop((syn,), pos=e.pos, text=e.text)
            if isinstance(e, A.Expr):
                changes = {}
                for f in dataclasses.fields(e):
                    if f.name in ("pos", "text"):
                        continue
                    v = getattr(e, f.name)
                    nv = visit(v)
                    if nv is not v:
                        changes[f.name] = nv
                return dataclasses.replace(e, **changes) if changes else e
            if isinstance(e, tuple):
                new = tuple(visit(x) for x in e)
                return e if all(a is b for a, b in zip(new, e, strict=True)) else new
            return e

        items = None if s.items is None else tuple(
            A.SelectItem(visit(it.expr), it.alias or it.expr.text) for it in s.items)
        out = dataclasses.replace(s, items=items, where=visit(s.where), having=visit(s.having),
                                  group_by=tuple(visit(g) for g in s.group_by))
        if find_aggregates(out.having, []) or any(find_aggregates(it.expr, []) for it in out.items or ()):
            raise self.err("unsupported construct: prior() in an aggregating statement", s.pos)
        return out

    def _keep(self, sp: StreamPlan, key: str, pos: A.Pos) -> int:
        """Index of ``key`` among the keys the window keeps (added when missing)."""
        if sp.keys is None:
            raise self.err("unsupported construct: groupwin with SELECT *", pos)
        if key not in sp.keys:
            sp.keys.append(key)
        return sp.keys.index(key)

    def check_output(self, s: A.SelectStmt, plan: SelectPlan, streams: list[StreamPlan]) -> None:
        """Output rate limiting combinations whose rows follow Esper's output reference; the
        others are refused rather than given a meaning of their own."""
        out = s.output
        assert out is not None
        kind = out.kind
        batch = any(sp.view is not None and sp.view.name in _BATCH_VIEWS for sp in streams)
        what = f"output {kind} every" if kind != "default" else "output every"
        if not plan.aggregated:
            if kind == "snapshot":
                raise self.err(f"unsupported construct: {what} without aggregates (the window's "
                               "contents): select them per interval with output every", out.pos)
            return
        if plan.per_event:
            if kind not in ("default", "first"):
                raise self.err(f"unsupported construct: {what} with properties outside GROUP BY "
                               "and aggregates (use output every, or group by them)", out.pos)
            return
        if plan.grouped and kind in ("all", "snapshot") and (s.having is not None or batch
                                                              or len(streams) > 1):
            raise self.err(f"unsupported construct: {what} over groups with HAVING, a batch "
                           "window or a join (use output last every)", out.pos)

    def group_emitter(self, items: tuple[A.SelectItem, ...], having: A.Expr | None,
                      group_exprs: list[A.Expr], aggs: list[A.Call], plan: SelectPlan) -> Callable[..., Any]:
        """One generated loop over a released batch's groups: HAVING and the row dict inline
        (no call per group). With only count(*), the counts come straight from a Counter."""
        count_only = plan.count_only

        def special(e: A.Expr) -> str | None:
            if isinstance(e, A.Call) and e.name in AGGREGATES:
                return "a" if count_only else f"a[{aggs.index(e)}]"
            if e in group_exprs:
                return f"k[{group_exprs.index(e)}]"
            return None

        def no_prop(p: A.Prop) -> str:
            raise AssertionError(p)

        gen = CodeGen(self.filename, no_prop, special)
        gen.consts["_Row"] = None  # filled by the runtime module at import
        values = "{" + ", ".join(f"{it.name!r}: {gen.value(it.expr)}" for it in items) + "}"
        cond = gen.true(having) if having is not None else "True"
        src = ("def _emit(results, t, out, _Row, name, stream):\n"
               "    append = out.append\n"
               "    for k, a in results.items():\n"
               f"        if {cond}:\n"
               f"            append((k, _Row(name, stream, t, {values})))\n")
        from .expressions import build

        return build(src, "_emit", gen.consts)

    def view(self, ref: A.StreamRef, sp: StreamPlan, sd: StreamDef) -> None:
        views = ref.views
        if not views:
            return
        group_keys: list[int] | None = None
        if len(views) == 2 and views[0].name.lower() == "groupwin" \
                and views[1].name.lower() in ("length", "time"):
            # Esper's groupwin: one data window per key. A time window per key expires each
            # event exactly as one time window does, so only length needs its own window.
            gw = views[0]
            if not gw.args or not all(isinstance(a, A.Prop) for a in gw.args):
                raise self.err("groupwin takes one or more properties", gw.pos)
            if views[1].name.lower() == "length":
                group_keys = [self._keep(sp, self.resolve(a, [(sp.alias, sd)])[1], gw.pos)  # type: ignore[arg-type]
                              for a in gw.args]
            views = views[1:]
        elif len(views) > 1:
            what = "#groupwin(...) followed by anything but #length or #time" \
                if views[0].name.lower() == "groupwin" else "chained views (use one data window)"
            raise self.err(f"unsupported construct: {what}", views[1].pos)
        v = views[0]
        name = v.name.lower()
        ns = v.namespace.lower()
        if ns not in ("", "win", "std", "ext") or name not in _WINDOWS:
            raise self.err(f"unsupported construct: view {(ns + ':') if ns else '#'}{v.name} "
                           "(supported: time, time_batch, length, length_batch, ext_timed, "
                           "ext_timed_batch, unique, firstunique, keepall, lastevent, firstevent)", v.pos)
        sp.view = A.View(ns, name, v.args, v.pos)

        def period(arg: Any) -> int:
            if isinstance(arg, A.TimePeriod):
                return arg.ms
            if isinstance(arg, A.Literal) and isinstance(arg.value, (int, float)):
                return int(arg.value * 1000)
            raise self.err(f"{name}: expected a time period such as '1 minute'", v.pos)

        def count(arg: Any) -> int:
            if isinstance(arg, A.Literal) and isinstance(arg.value, int) and arg.value > 0:
                return arg.value
            raise self.err(f"{name}: expected a positive number of events", v.pos)

        def keep(key: str) -> int:
            if sp.keys is None:
                raise self.err(f"unsupported construct: {name} with SELECT *", v.pos)
            if key not in sp.keys:
                sp.keys.append(key)
            return sp.keys.index(key)

        args = v.args
        if name == "time_batch" and len(args) == 2:
            ref_arg = args[1]
            if not (isinstance(ref_arg, A.Literal) and isinstance(ref_arg.value, int)
                    and not isinstance(ref_arg.value, bool)):
                raise self.err("unsupported construct: time_batch flow control (START_EAGER, FORCE_UPDATE); "
                               "the second parameter may only be a reference point in milliseconds", v.pos)
            sp.view_arg = period(args[0])
            sp.ref_point = ref_arg.value  # batches end at ref + k * P
        elif name in ("time", "time_batch"):
            if len(args) != 1:
                raise self.err(f"{name} takes one time period", v.pos)
            sp.view_arg = period(args[0])
        elif name in ("length", "length_batch"):
            if len(args) != 1:
                raise self.err(f"{name} takes one event count", v.pos)
            sp.view_arg = count(args[0])
            if group_keys is not None:
                sp.view = A.View(ns, "groupwin_length", v.args, v.pos)
                sp.view_arg = (group_keys, sp.view_arg)
        elif name in ("ext_timed", "ext_timed_batch"):
            if len(args) != 2 or not isinstance(args[0], A.Prop):
                raise self.err(f"{name} takes a timestamp property and a time period", v.pos)
            _i, key = self.resolve(args[0], [(sp.alias, sd)])
            sp.ts_index = keep(key)
            sp.view_arg = period(args[1])
        elif name in ("keepall", "lastevent", "firstevent"):
            if args:
                raise self.err(f"{name} takes no parameters", v.pos)
        elif name in ("unique", "firstunique"):
            if not args or not all(isinstance(a, A.Prop) for a in args):
                raise self.err(f"{name} takes one or more properties", v.pos)
            idx = [keep(self.resolve(a, [(sp.alias, sd)])[1]) for a in args]  # type: ignore[arg-type]
            sp.view_arg = idx


# Windows over which WHERE may run first with the same rows as Esper (which runs it on what
# the window posts): no window, a sliding time window (an event leaves exactly as it entered),
# keepall. time_batch is handled apart (its timing depends on every event); every other window
# holds or pushes out events whatever WHERE says, so WHERE must run after it.
_WHERE_FIRST_OK = frozenset({"time", "keepall"})


_BATCH_VIEWS = frozenset({"time_batch", "length_batch", "ext_timed_batch"})
_PRIOR = "\x00prior:"


def _has_prior(s: A.SelectStmt) -> bool:
    return "prior" in repr(s).lower() and any(
        isinstance(x, A.Call) and x.name == "prior" for x in _walk(s))


def _walk(node: Any) -> list[Any]:
    out: list[Any] = []
    stack = [node]
    while stack:
        n = stack.pop()
        out.append(n)
        if isinstance(n, (A.Expr, A.SelectStmt, A.SelectItem)):
            stack.extend(getattr(n, f.name) for f in dataclasses.fields(n) if f.name not in ("pos", "text"))
        elif isinstance(n, tuple):
            stack.extend(n)
    return out


def _filter_after(sp: StreamPlan) -> bool:
    return sp.view is not None and sp.view.name != "time_batch" and sp.view.name not in _WHERE_FIRST_OK


def _and_filters(a: ColumnFilter, b: ColumnFilter) -> ColumnFilter:
    def both(cols: Mapping[str, list[Any]], n: int) -> list[int]:
        first = set(a(cols, n))
        return [i for i in b(cols, n) if i in first]

    return both


def _conjuncts(e: A.Expr | None) -> list[A.Expr]:
    if e is None:
        return []
    if isinstance(e, A.BoolOp) and e.op == "and":
        out: list[A.Expr] = []
        for i in e.items:
            out.extend(_conjuncts(i))
        return out
    return [e]
