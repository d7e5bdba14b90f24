"""Semantic analysis and planning: AST -> statements with compiled functions.

Everything that can be wrong with a module is found here, before any data flows: unknown
streams, unknown properties (when the stream's properties are known), unsupported views or
clauses, aggregates where they cannot be. The resulting plans hold compiled functions only;
runtime state lives in ``runtime.Runtime`` so one module can run in several runtimes.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping
from typing import Any

from ..errors import EPLError
from . import ast as A
from .contexts import CONTEXT_FUNCTION, ContextPlan
from .expressions import (
    CodeGen,
    ColumnFilter,
    as_double,
    children_of,
    compile_column_filter,
    compile_column_values,
    compile_filtered_keys,
    compile_row_function,
    find_aggregates,
    is_aggregate,
    kind_of_type,
    props_of,
    static_double,
    static_kind,
    type_error,
)
from .intersect import INTERSECT_VIEWS
from .namedwindows import MergeAction, NamedWindowPlan, OnPlan
from .parser import parse_module, substitute_params
from .plan import EVENT_STREAMS, OPTIONS, Module, SelectPlan, StatementInfo, StreamDef, StreamPlan
from .subqueries import SUBQ_PREFIX, has_subquery, plan_subqueries

__all__ = ["compile_module", "FLOW", "OPTIONS", "Module", "StatementInfo", "StreamDef", "SelectPlan", "StreamPlan"]

FLOW = "Flow"
_WINDOWS = {"time_batch", "time", "length", "length_batch", "time_length_batch", "ext_timed", "ext_timed_batch",
            "unique", "firstunique", "keepall", "lastevent", "firstevent", "firstlength", "firsttime", "sort"}


def compile_module(text: str, filename: str = "<epl>", params: Mapping[str, Any] | None = None) -> Module:
    """Parse and plan a module; raise EPLError (with position) for anything wrong in it."""
    text = substitute_params(text, params, filename)
    try:
        stmts = parse_module(text, filename)
        return _Compiler(filename).compile(stmts)
    except RecursionError:  # parser and planner descend once per nesting level
        raise EPLError("an expression is nested too deeply to compile; split it into simpler statements",
                       filename) from None


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
        # h-named: named windows, on-trigger statements, contexts
        self.named: dict[str, A.CreateWindowStmt] = {}
        self.window_plans: list[NamedWindowPlan] = []
        self.on_plans: list[OnPlan] = []
        self.ctx_decls: dict[str, A.CreateContextStmt] = {}
        self.ctx_plans: dict[str, ContextPlan] = {}
        #: the kind of context of the statement being planned (None outside ``context C``)
        self.context_kind: str | None = None
        self.context_of: dict[str, ContextPlan] = {}

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
                sd = StreamDef(s.name, "schema", props or None, types=dict(s.props))
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
        self.declare_named(stmts)  # h-named: named windows and contexts
        self.streams.setdefault(OPTIONS, StreamDef(OPTIONS, "options", None))
        for name in EVENT_STREAMS:  # level-2 monitors: alerts and metrics of gateway runs
            self.streams.setdefault(name, StreamDef(name, "event", None))
        if flow_schema is None:
            self.streams.setdefault(FLOW, StreamDef(FLOW, "flow", None))
            self.input_stream = FLOW
        else:
            self.input_stream = flow_schema
        # derived streams are known up front so statement order does not matter
        pending: dict[str, list[A.SelectStmt]] = {}
        for s in stmts:
            if isinstance(s, A.ContextSelect):  # h-named
                s = s.select
            if isinstance(s, (A.SelectStmt, A.OnStmt)) and s.insert_into:
                if s.insert_into in self.streams and self.streams[s.insert_into].kind != "derived":
                    raise self.err(f"INSERT INTO {s.insert_into}: that name is a schema", s.pos)
                pending.setdefault(s.insert_into, []).append(s)
        for name, producers in pending.items():
            if name in self.named:  # h-named: a window's columns are declared
                self.check_window_producers(name, producers)
                continue
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
        self.finish_named()
        for s in stmts:
            if isinstance(s, (A.CreateWindowStmt, A.CreateContextStmt)):
                continue
            if not isinstance(s, (A.SelectStmt, A.OnStmt, A.ContextSelect)):
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
            if isinstance(s, A.OnStmt):  # h-named
                on = self.on_statement(s, name)
                (infos if on.kind in ("select", "select-delete", "delete") else schemas).append(on.info)
                continue
            if isinstance(s, A.ContextSelect):  # h-named
                plan = self.context_select(s, name)
                self.stream_selection(s.select, plan, in_context=True)
            else:
                self.check_window_reads(s)
                plan = self.select(s, name)
                self.stream_selection(s, plan)
            infos.append(plan.info)
            plans.append(plan)
        for wp in self.window_plans:  # a create window's rows carry its name: it must be unique
            if wp.statement in names:
                raise self.err(f"duplicate statement name {wp.statement!r} (a create window statement's rows "
                               "carry its @Name, else the window's name)", self.named[wp.info.name].pos)
            names.add(wp.statement)
        self.check_cycles(plans)
        module = Module(self.filename, infos, plans, self.input_stream, self.streams)
        module.schemas = schemas + [w.info for w in self.window_plans]
        module.named_windows = self.window_plans
        module.triggers = self.on_plans
        module.contexts = self.context_of
        return module

    def stream_selection(self, s: A.SelectStmt, plan: SelectPlan, in_context: bool = False) -> None:
        """``select irstream/rstream`` and ``insert irstream/rstream into``: which rows the
        statement outputs and inserts (Esper: the select keyword chooses what listeners get,
        the insert-into keyword what enters the stream, independently).

        Combinations whose remove stream is not checked against Esper's output reference are
        refused here rather than given rows of their own.
        """
        plan.select_stream, plan.insert_stream = s.select_stream, s.insert_stream
        if s.select_stream == "istream" and s.insert_stream == "istream":
            return
        what = f"select {s.select_stream}" if s.select_stream != "istream" else f"insert {s.insert_stream} into"
        if plan.pattern is not None:
            raise self.err(f"unsupported construct: {what} over a pattern (a pattern has no remove "
                           "stream)", s.pos)
        if s.output is not None and s.output.kind != "default":
            raise self.err(f"unsupported construct: {what} with output {s.output.kind} (only output "
                           "every P keeps the remove stream)", s.output.pos)
        if len(plan.streams) > 1 and plan.aggregated:
            raise self.err(f"unsupported construct: {what} in an aggregating join", s.pos)
        # combinations whose remove stream no conformance case pins down yet
        others = [(plan.match_recognize is not None, "match_recognize"), (plan.outer is not None, "an outer join"),
                  (bool(plan.subqueries), "a subquery"), (in_context, "a context statement"),
                  (any(sp.stream in self.named for sp in plan.streams), "a named window")]
        for hit, where in others:
            if hit:
                raise self.err(f"unsupported construct: {what} with {where}", s.pos)
        plan.rstream = True

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
        if parts[0].startswith((_PRIOR, _PREV, SUBQ_PREFIX)):
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
        if "[" in name:
            # h-erefuse: an open stream (Flow) took 'arr[1]' as a property name of its own and
            # gave null where Esper gives the array's element
            raise self.err(f"unsupported construct: indexed property {name} of a stream (only a repeated "
                           "pattern tag is indexed: a[0].x)", p.pos)
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
    def _having_reads_groups(self, s: A.SelectStmt, refs: list[tuple[str, StreamDef]]) -> None:
        """With GROUP BY, a property HAVING reads outside an aggregate must be one GROUP BY reads
        (or one HAVING aggregates), as Esper's validateHaving requires ("Non-aggregated property
        'x' in the HAVING clause must occur in the group-by clause"): a group has no one value of
        any other property."""
        def key(p: A.Prop) -> Any:
            try:
                return self.resolve(p, refs)
            except EPLError:
                return ".".join(p.parts)

        allowed = {key(p) for g in s.group_by for p in props_of(g)}
        bare: list[A.Prop] = []

        def walk(e: A.Expr, in_agg: bool) -> None:
            if isinstance(e, A.Subquery):
                return
            if isinstance(e, A.Prop):
                if in_agg:
                    allowed.add(key(e))
                elif not e.parts[0].startswith((_PRIOR, _PREV, SUBQ_PREFIX)):
                    bare.append(e)
                return
            agg = is_aggregate(e)
            for c in children_of(e):
                walk(c, in_agg or agg)

        assert s.having is not None
        walk(s.having, False)
        for p in bare:
            if key(p) not in allowed:
                raise self.err(f"non-aggregated property {'.'.join(p.parts)!r} in HAVING must occur in GROUP BY "
                               "(as in Esper: a group has no single value of it)", p.pos)

    def _refuse_having_without_event(self, having: A.Expr) -> None:
        """Refuses HAVING reading an event property outside aggregates when the select list,
        without GROUP BY, is all aggregates.

        Esper makes such a statement fully aggregated (ResultSetProcessorRowForAll: its type
        comes from the select list alone) and evaluates HAVING with no event at all, so the
        property has no value there (the runtime fails on it); FlowCEP would output one row per
        event instead. Selecting the property (a row per event, HAVING per event, as in Esper)
        or aggregating it says what is meant."""
        def first_bare(e: A.Expr, in_agg: bool) -> A.Prop | None:
            if isinstance(e, A.Subquery):
                return None
            if isinstance(e, A.Prop):
                plain = not e.parts[0].startswith((_PRIOR, _PREV, SUBQ_PREFIX))
                return e if plain and not in_agg else None
            agg = is_aggregate(e)
            for c in children_of(e):
                found = first_bare(c, in_agg or agg)
                if found is not None:
                    return found
            return None

        p = first_bare(having, False)
        if p is not None:
            raise self.err(f"unsupported construct: HAVING reading property {'.'.join(p.parts)!r} outside an "
                           "aggregate while every select item is an aggregate (Esper evaluates that HAVING "
                           "with no event; select the property too, or aggregate it)", p.pos)

    def _declared_kinds(self, refs: list[tuple[str, str]], bare: bool) -> dict[tuple[str, ...], str]:
        """The kinds of the properties whose type is declared (a named window's columns, a
        schema's properties) of the streams ``(alias, stream)``, under ``alias.p`` and, when
        ``bare``, ``p``: Esper knows these types and validates operands against them."""
        out: dict[tuple[str, ...], str] = {}
        for alias, stream in refs:
            sd = self.streams.get(stream)
            types = dict(sd.types) if sd is not None and sd.types else {}
            if not types and stream in self.named:
                types = dict(self.named[stream].types or ())
            for prop, typ in types.items():
                k = kind_of_type(typ)
                if k is None:
                    continue
                parts = tuple(prop.split("."))
                names = [parts, parts[1:]] if parts[0] == "ipfix" and len(parts) > 1 else [parts]
                for name in names:  # ipfix.x is also x, as StreamDef.key resolves it
                    out[(alias, *name)] = k
                    if bare:
                        out[name] = k
        return out

    def _select_kinds(self, s: A.SelectStmt) -> dict[tuple[str, ...], str]:
        """:meth:`_declared_kinds` of a SELECT's streams (none for a pattern: its tags are
        events of several streams); a bare name only when there is one stream."""
        if isinstance(s.sources, A.PatternSource):
            return {}
        refs = [(r.name, r.stream) for r in s.sources]
        return self._declared_kinds(refs, len(refs) == 1)

    def _refuse_static_type_errors(self, s: A.SelectStmt | A.OnStmt | A.CreateContextStmt
                                   | A.CreateWindowStmt,
                                   declared: dict[tuple[str, ...], str] | None = None) -> None:
        """Operands whose types are known whatever the events hold (literals, arithmetic,
        conditions) and that Esper's expression validation refuses (``'a' = 1``, ``not 1``,
        ``case when 1 then ...``, ``v in ('a', 1)``) are a compile error here too: FlowCEP would
        run them with a meaning Esper never gives (a comparison that is always false, a number
        taken as true). Operands of unknown type (a flow's properties) are not checked. Every
        statement that holds expressions is walked (a SELECT, an on-statement's filter, where,
        set and merge actions, a context's filters, a named window's view), as Esper validates
        each expression wherever it is compiled. ``declared``: the kinds of the statement's
        properties whose type is declared (not applied inside a subquery, which reads its
        own stream)."""
        self._walk_types(s, declared)

    def _walk_types(self, node: Any, declared: dict[tuple[str, ...], str] | None) -> None:
        """:meth:`_refuse_static_type_errors` over any node of a statement."""
        stack: list[tuple[Any, dict[tuple[str, ...], str] | None]] = [(node, declared)]
        while stack:
            n, kinds = stack.pop()
            if isinstance(n, tuple):
                stack.extend((x, kinds) for x in n)
                continue
            if not dataclasses.is_dataclass(n) or isinstance(n, type):
                continue
            if isinstance(n, A.Subquery):
                kinds = None
            if isinstance(n, A.Expr):
                bad = type_error(n, kinds)
                if bad is not None:
                    raise self.err(f"{bad[1]} (as in Esper: implicit conversion not allowed)", bad[0].pos)
            stack.extend((getattr(n, f.name), kinds) for f in dataclasses.fields(n)
                         if f.name not in ("pos", "text"))

    def _refuse_select_names(self, s: A.SelectStmt) -> None:
        """A select-clause name read in WHERE, GROUP BY or HAVING is an error.

        Esper validates WHERE and HAVING against the streams' properties only (ORDER BY alone
        expands select names: ResultSetProcessorFactoryFactory), so ``select sum(v) as s ...
        having s > 2`` fails there with "Property named 's' is not valid in any stream". Over
        a stream without a declared schema FlowCEP would read ``s`` as an absent property
        (null) and silently output nothing (in GROUP BY: put every event in one group), so it
        refuses the statement instead; a stream whose schema declares the name reads the
        property, as in Esper.
        """
        if s.items is None or isinstance(s.sources, A.PatternSource) or s.match_recognize is not None:
            return
        names = {it.alias for it in s.items
                 if it.alias and not (isinstance(it.expr, A.Prop) and it.expr.parts == (it.alias,))}
        if not names:
            return
        sds = [self.streams.get(r.stream) for r in s.sources]

        def walk(e: A.Expr | None, clause: str) -> None:
            if e is None or isinstance(e, A.Subquery):  # a subquery reads its own stream
                return
            if isinstance(e, A.Prop) and len(e.parts) == 1 and e.parts[0] in names:
                n = e.parts[0]
                if not any(sd is not None and sd.props is not None and sd.key(n) is not None for sd in sds):
                    raise self.err(f"unsupported construct: select name {n!r} in {clause} ({clause} reads "
                                   "the stream's properties, not the select list's names; repeat the "
                                   "expression)", e.pos)
            for c in children_of(e):
                walk(c, clause)

        walk(s.where, "WHERE")
        for g in s.group_by:
            walk(g, "GROUP BY")
        walk(s.having, "HAVING")

    def select(self, s: A.SelectStmt, name: str) -> SelectPlan:
        """Plan a statement; ORDER BY/LIMIT/DISTINCT become a shaper of each output step.

        An ORDER BY expression that is a select name (alias or unaliased text) or the same
        expression as a select item sorts by that column; any other expression is computed
        beside the select list as a hidden value (same rules as a select item: aggregates,
        GROUP BY expressions, properties) and removed once the step is sorted.
        """
        if s.match_recognize is not None and s.items is None:  # h-mrec: select * is the measures
            s = dataclasses.replace(s, items=tuple(
                A.SelectItem(A.Prop((m.name,), pos=m.expr.pos, text=m.name), None)
                for m in s.match_recognize.measures))
        self._refuse_select_names(s)
        self._refuse_static_type_errors(s, self._select_kinds(s))
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
                                 s.distinct, visible, [h.name for h in hidden],
                                 split_streams=s.select_stream != "istream" or s.insert_stream != "istream")
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
        if s.match_recognize is not None:  # h-mrec
            from .match_recognize import compile_match_recognize

            nw = next((r for r in s.sources if r.stream in self.named), None)
            if nw is not None:  # it would be handed the window's posts, which it cannot take
                raise self.err(f"unsupported construct: match_recognize over named window {nw.stream} (match "
                               "the stream that fills it)", nw.pos)
            return compile_match_recognize(self, s, name)
        refs: list[tuple[str, StreamDef]] = []
        sources: tuple[A.StreamRef, ...] = s.sources
        for ref in sources:
            sd = self.stream_def(ref.stream, ref.pos)
            if any(a == ref.name for a, _ in refs):
                raise self.err(f"stream {ref.name!r} appears twice; give it an alias (AS x)", ref.pos)
            refs.append((ref.name, sd))
        single = len(refs) == 1
        outer: list[tuple[str, A.Expr | None]] | None = None
        if s.joins or any(ref.unidirectional for ref in sources):
            s, outer = self.explicit_joins(s, refs)  # h-subq
        priors: list[tuple[str, int, str]] = []
        if _has_prior(s):
            s = self.rewrite_priors(s, refs, priors)
        subplans: list[Any] = []
        sub_reads: list[A.Prop] = []
        if has_subquery(s):  # h-subq: subqueries become synthetic columns of stream 0
            s, subplans, sub_reads = plan_subqueries(self, s, refs, sources)
            assert not isinstance(s.sources, A.PatternSource)
            sources = s.sources  # a stream filter holding a subquery moved to WHERE
        prevs: list[tuple[str, str, int, str]] = []
        if any(isinstance(x, A.Call) and x.name in _PREV_FUNCTIONS for x in _walk(s)):
            s = self.rewrite_prevs(s, refs, prevs)
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
            if c.star and c.distinct:  # Esper: ResultSetAggregateCountSum.ResultSetAggregateCountSimple
                raise self.err("count(distinct *) is not valid: distinct needs a value (count(distinct x))",
                               c.pos)
            if not c.star and len(c.args) != 1:
                raise self.err(f"{c.name}() takes one argument", c.pos)
            if c.name in ("sum", "avg", "median", "stddev", "avedev") and isinstance(c.args[0], A.Literal) \
                    and c.args[0].value is None:  # Esper: ResultSetAggregateCountSumInvalid
                raise self.err(f"{c.name}(null) is not valid: {c.name} needs numbers", c.pos)
        aggregated = bool(aggs)
        grouped = bool(s.group_by)
        if grouped and aggregated and s.having is not None:
            self._having_reads_groups(s, refs)
        if star and (aggregated or grouped):
            raise self.err("unsupported construct: SELECT * with aggregates (also in HAVING) or GROUP BY "
                           "(select the properties)", s.pos)
        if grouped and not aggregated:
            raise self.err("unsupported construct: GROUP BY without aggregate functions", s.group_by[0].pos)
        if s.output is not None and s.output.ms is not None and s.output.ms < 1:
            # Esper: "Invalid time period expression returns a zero or negative time interval"
            raise self.err("output every: the time period must be at least 1 msec", s.output.pos)
        if s.output is not None and s.output.ms is None and s.output.events is not None and s.output.events < 1:
            raise self.err("output every N events: N must be at least 1", s.output.pos)
        after = s.output is not None and (s.output.after_ms is not None or s.output.after_events is not None)
        if after:
            self._check_after(s, len(refs))
        if s.output is not None and s.output.ms is None and not s.output.terminated \
                and not (after and s.output.events is None):
            # counted intervals: Esper's OutputConditionCount fires on the N-th event the window
            # posts and the rows released are those of the time form at an interval end
            # (ResultSetOutputLimitRowPerGroup GroupByDefault/GroupByAll/NoJoinLast/NoJoinAll,
            # ResultSetOutputLimitRowPerEvent RowPerEventNoJoinLast and Count). Refused: snapshot,
            # first over groups (Esper counts each group's events on their own), first with
            # HAVING, and without aggregates first (not checked against Esper)
            kind = s.output.kind
            if not s.output.events or kind == "snapshot" or (kind == "first" and (
                    not aggregated or grouped or s.having is not None)):
                raise self.err("unsupported construct: output rate by events with snapshot, or with first "
                               "over groups, with HAVING or without aggregates (use a time period, or "
                               "output [all|last] every N events)", s.output.pos)
        # stream plans and the keys each stream must keep
        needed: list[set[str] | None] = [set() for _ in refs]
        all_exprs: list[A.Expr] = [it.expr for it in items or ()] + list(s.group_by)
        all_exprs += [e for e in (s.where, s.having) if e is not None]
        all_exprs += [on for _kind, on in outer or () if on is not None]  # h-subq
        all_exprs += sub_reads  # h-subq: outer properties the subqueries read
        for e in all_exprs:
            for p in props_of(e):
                i, key = self.resolve(p, refs)
                if not single and key.startswith(SUBQ_PREFIX):
                    continue  # h-subq: a join's subquery values are computed per joined row
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
            if prevs:
                sp.prevs = prevs
                for *_x, src in prevs:
                    if sp.keys is not None and src not in sp.keys:
                        sp.keys.append(src)
            streams.append(sp)
        select_names = [it.name for it in items] if items is not None else list(
            (refs[0][1].props or []) if single else [alias for alias, _sd in refs])
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
        plan.subqueries = subplans  # h-subq
        fn = self.filename
        # group level functions
        if aggregated:
            group_exprs = list(s.group_by)

            keys_read: list[bool] = [False]

            def special(e: A.Expr) -> str | None:
                if isinstance(e, A.Call) and e in aggs:
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
                if plan.having_per_event and not before and not grouped:
                    self._refuse_having_without_event(s.having)
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
                plan.grp_emit, plan.grp_emit_rows = self.group_emitter(items, s.having, group_exprs, aggs, plan)
        elif s.having is not None and single:
            plan.col_having = compile_column_filter(s.having, lambda p: self.resolve(p, refs)[1], fn)
        if s.output is not None:
            self.check_output(s, plan, streams)
        # single stream: WHERE in column mode, before or after the window
        if single:
            key_of = lambda p: self.resolve(p, refs)[1]  # noqa: E731
            sp = streams[0]
            where = s.where
            if where is not None and plan.subqueries and not sp.priors and not sp.prevs and not _filter_after(sp):
                # h-subq: the conditions without subqueries run first, over the batch's columns,
                # so subqueries are computed only for the events that pass them
                plain = [c for c in _conjuncts(where) if not any(
                    p.parts[0].startswith(SUBQ_PREFIX) for p in props_of(c))]
                if plain:
                    pf = compile_column_filter(_and_all(plain), key_of, fn)
                    sp.filter = pf if sp.filter is None else _and_filters(sp.filter, pf)
                    rest = [c for c in _conjuncts(where) if all(c is not x for x in plain)]
                    where = _and_all(rest) if rest else None
            if where is not None:
                wf = compile_column_filter(where, key_of, fn)
                # prior()/prev() count events WHERE rejects; subquery columns are filled as
                # events enter the window, after the stream's own filter (h-subq)
                if _filter_after(sp) or sp.priors or sp.prevs or plan.subqueries:
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
                if grouped and sp.window_where is not None and s.where is not None:
                    plan.col_keys_where = compile_filtered_keys(s.where, list(s.group_by), key_of, fn)
                plan.col_args = compile_column_values(
                    [A.Literal(1) if c.star else c.args[0] for c in aggs], key_of, fn)
        # row mode: one row dict per stream, r0..rN (joins; sliding aggregation of one stream)
        nargs = [f"r{i}" for i in range(len(refs))]

        def row_res(p: A.Prop) -> str:
            i, key = self.resolve(p, refs)
            if not single and key.startswith(SUBQ_PREFIX):
                return f"rs.get({key!r})"  # h-subq: the joined row's subquery values
            return f"r{i}.get({key!r})"

        rgen = CodeGen(fn, row_res)
        if aggregated:
            plan.row_group = compile_row_function(nargs, "(" + "".join(rgen.value(g) + ", " for g in s.group_by) + ")",
                                                  rgen.consts)
            plan.row_args = compile_row_function(
                nargs, "(" + "".join(("1" if c.star else rgen.value(c.args[0])) + ", " for c in aggs) + ")",
                rgen.consts)
        elif items is not None:
            sel_args = nargs + ["rs"] if subplans and not single else nargs
            plan.row_select = compile_row_function(sel_args, "(" + "".join(rgen.value(it.expr) + ", " for it in items) + ")",
                                                   rgen.consts)
        elif not single:
            # h-subq: select * over a join gives each stream's event under its alias (Esper's
            # event per stream), null for the missing side of an outer join
            plan.row_select = _star_join_row
        if not single:
            if outer is not None:  # h-subq
                plan.outer = self.outer_plan(outer, refs, nargs, row_res)
            uni = [i for i, ref in enumerate(sources) if ref.unidirectional]
            plan.unidirectional = uni[0] if uni else None
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

    # --- explicit joins (h-subq) ---
    def explicit_joins(self, s: A.SelectStmt, refs: list[tuple[str, StreamDef]]
                       ) -> tuple[A.SelectStmt, list[tuple[str, A.Expr | None]] | None]:
        """``a inner join b on c`` is ``from a, b where c``: inner ON conditions join WHERE.
        With an outer join the ON conditions stay apart (they decide which side is null,
        WHERE filters the joined rows after): returns one (kind, ON) per stream."""
        assert not isinstance(s.sources, A.PatternSource)
        uni = [ref for ref in s.sources if ref.unidirectional]
        if uni:
            if len(refs) < 2:
                raise self.err("unidirectional needs a join (two or more streams)", uni[0].pos)
            if len(uni) > 1:
                raise self.err("only one stream of a join may be unidirectional", uni[1].pos)
            if uni[0].views:
                raise self.err("a unidirectional stream keeps no events: remove its data window "
                               f"({uni[0].name})", uni[0].views[0].pos)
        kinds = [j.kind for j in s.joins]
        if all(k == "inner" for k in kinds):
            conds = [j.on for j in s.joins if j.on is not None]
            if s.where is not None:
                conds.append(s.where)
            where = conds[0] if len(conds) == 1 else (
                A.BoolOp("and", tuple(conds), pos=conds[0].pos, text="") if conds else None)
            return dataclasses.replace(s, where=where, joins=()), None
        if any(find_aggregates(j.on, []) for j in s.joins):
            raise self.err("aggregate functions are not allowed in ON", s.joins[0].pos)
        for k, j in enumerate(s.joins, start=1):
            for p in props_of(j.on):
                i, _key = self.resolve(p, refs)
                if i > k:
                    raise self.err(f"ON of {refs[k][0]} reads {p.text}, a stream joined later "
                                   "(an ON condition may read its own and earlier streams)", p.pos)
        return s, [("", None)] + [(j.kind, j.on) for j in s.joins]

    def outer_plan(self, outer: list[tuple[str, A.Expr | None]], refs: list[tuple[str, StreamDef]],
                   nargs: list[str], row_res: Callable[[A.Prop], str]) -> Any:
        from .joins import OuterJoinPlan

        ons: list[Callable[..., Any] | None] = []
        for _kind, on in outer:
            if on is None:
                ons.append(None)
                continue
            gen = CodeGen(self.filename, row_res)
            ons.append(compile_row_function(nargs, gen.true(on), gen.consts))
        return OuterJoinPlan([k for k, _on in outer], ons)
    # --- end explicit joins (h-subq) ---

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
            if isinstance(e, A.Expr | tuple):
                return A.map_children(e, visit)
            return e

        items = None if s.items is None else tuple(
            A.SelectItem(visit(it.expr), it.name) for it in s.items)
        out = dataclasses.replace(s, items=items, where=visit(s.where), having=visit(s.having),
                                  group_by=tuple(visit(g) for g in s.group_by))
        for it in out.items or ():
            for c in find_aggregates(it.expr, []):
                if any(isinstance(x, A.Prop) and x.parts[0].startswith(_PRIOR) for x in _walk(c)):
                    raise self.err("unsupported construct: prior() inside an aggregate function", c.pos)
        return out

    def rewrite_prevs(self, s: A.SelectStmt, refs: list[tuple[str, StreamDef]],
                      prevs: list[tuple[str, str, int, str]]) -> A.SelectStmt:
        """``prev(n, p)``, ``prevtail(n, p)``, ``prevcount(p)`` and ``prevwindow(p)`` become
        columns the runtime fills from the data window as each event enters it (for a batch
        window, from the batch at its release), as Esper evaluates them against the window's
        contents: ``prev(0, p)`` is the event itself, ``prev(n, p)`` the n-th newer-to-older,
        ``prevtail(n, p)`` the n-th from the oldest, ``prevwindow(p)`` all of them newest
        first. Recorded as ``(synthetic key, function, n, key of p)``."""
        assert not isinstance(s.sources, A.PatternSource)
        if len(refs) != 1:
            raise self.err("unsupported construct: prev functions in a join", s.pos)
        if s.select_stream != "istream":
            raise self.err(f"unsupported construct: prev functions with select {s.select_stream}", s.pos)
        aggs: list[A.Call] = []
        for it in s.items or ():
            find_aggregates(it.expr, aggs)
        find_aggregates(s.having, aggs)
        if aggs:
            for clause in (s.where, s.having):
                bad = [x for x in _walk(clause) if isinstance(x, A.Call) and x.name in _PREV_FUNCTIONS] \
                    if clause is not None else []
                if bad:  # as Esper's compiler: prev gives no remove-stream values to aggregate
                    raise self.err(f"unsupported construct: {bad[0].name}() in the WHERE or HAVING of an "
                                   "aggregating statement (Esper refuses it too: use the aggregates)", bad[0].pos)
        views = [v.name.lower() for v in s.sources[0].views]
        if views not in ([n] for n in _PREV_VIEWS) and views != ["groupwin", "length"]:
            shown = "#" + "#".join(views) if views else "no data window"
            raise self.err(f"unsupported construct: prev functions over {shown} (they need one of "
                           f"{', '.join('#' + v for v in sorted(_PREV_VIEWS))} or "
                           "#groupwin(...)#length(N))", s.pos)

        def repl(e: A.Call) -> A.Expr:
            fn = e.name
            args = list(e.args)
            if fn in ("prev", "prevtail") and len(args) == 1:
                args.insert(0, A.Literal(1 if fn == "prev" else 0))
            want = 2 if fn in ("prev", "prevtail") else 1
            if len(args) != want or e.star or not isinstance(args[-1], A.Prop):
                form = f"{fn}([n, ]property)" if want == 2 else f"{fn}(property)"
                raise self.err(f"{fn} takes {form}, e.g. {fn}({'1, ' if want == 2 else ''}price)", e.pos)
            n = 0
            if want == 2:
                lit = args[0]
                if not isinstance(lit, A.Literal) or not isinstance(lit.value, int) \
                        or isinstance(lit.value, bool) or lit.value < 0:
                    raise self.err(f"unsupported construct: {fn} with an index that is not a "
                                   "non-negative whole number", e.pos)
                n = lit.value
            src = self.resolve(args[-1], refs)[1]
            syn = f"{_PREV}{fn}:{n}:{src}"
            if all(p[0] != syn for p in prevs):
                prevs.append((syn, fn, n, src))
            return A.Prop((syn,), pos=e.pos, text=e.text)

        out: A.SelectStmt = _replace_calls(s, _PREV_FUNCTIONS, repl)
        return out

    def _keep(self, sp: StreamPlan, key: str, pos: A.Pos) -> int | str:
        """Index of ``key`` among the keys the window keeps (added when missing); with SELECT *
        the keys are the first events' columns, so the name is kept and resolved then."""
        if sp.keys is None:
            return key
        if key not in sp.keys:
            sp.keys.append(key)
        return sp.keys.index(key)

    def _check_after(self, s: A.SelectStmt, nstreams: int) -> None:
        """``output after P | N events [[kind] every ...]``: the forms checked against Esper's
        ResultSetOutputLimitAfter (alone, with output every P, with output last every N
        events); the others are refused by name."""
        out = s.output
        assert out is not None
        if out.after_events is not None and out.after_events < 0:
            raise self.err("output after N events: N must not be negative", out.pos)
        if self.context_kind is not None:
            raise self.err("unsupported construct: output after in a context statement (Esper counts from "
                           "each partition's start)", out.pos)
        if nstreams > 1:
            raise self.err("unsupported construct: output after over a join", out.pos)
        if out.kind not in ("default", "last"):
            raise self.err(f"unsupported construct: output after ... {out.kind} every (only output after "
                           "alone, or followed by every or last every)", out.pos)

    def check_output(self, s: A.SelectStmt, plan: SelectPlan, streams: list[StreamPlan]) -> None:
        """Output rate limiting combinations whose rows follow Esper's output reference; the
        others are refused rather than given a meaning of their own."""
        out = s.output
        assert out is not None
        kind = out.kind
        batch = any(sp.view is not None and sp.view.name in _BATCH_VIEWS for sp in streams)
        what = f"output {kind} every" if kind != "default" else "output every"
        if out.terminated:
            what = f"output {kind + ' ' if kind != 'default' else ''}when terminated"
            ctx = self.context_kind
            if ctx is None or ctx == "keyed":
                raise self.err("unsupported construct: output when terminated "
                               + ("outside a context statement" if ctx is None else
                                  "in a keyed segmented context (its partitions never end)")
                               + " (a context declared start @now end after P, or initiated by ... "
                               "terminated after P)", out.pos)
            if kind == "first":
                raise self.err(f"unsupported construct: {what}", out.pos)
            if batch or len(streams) > 1:
                raise self.err(f"unsupported construct: {what} over {'a join' if len(streams) > 1 else 'a batch window'}",
                               out.pos)
        if not plan.aggregated:
            view = streams[0].view.name if streams[0].view is not None else None
            if kind == "snapshot" and (len(streams) > 1 or view not in _SNAPSHOT_VIEWS):
                raise self.err(f"unsupported construct: {what} without aggregates over "
                               f"{'a join' if len(streams) > 1 else '#' + (view or 'no window')} (a snapshot "
                               "shows the window's contents: use time, length, lastevent, unique, sort, "
                               "ext_timed or several of them)", out.pos)
            return
        if plan.per_event:
            # ResultSetOutputLimitRowPerEvent (ungrouped): all is the default, last its last row,
            # first agrees; ResultSetOutputLimitAggregateGrouped (grouped): the default and last
            # per group agree, but Esper's all repeats each group's last event with the current
            # aggregate and its first outputs rows for departing events too: refused
            allowed = ("default", "last") if plan.grouped else ("default", "first", "all", "last")
            if kind not in allowed:
                raise self.err(f"unsupported construct: {what} with properties outside GROUP BY "
                               f"and aggregates{' over groups' if plan.grouped else ''} (use "
                               f"{'output every or output last every' if plan.grouped else 'output every'}, "
                               "or group by them)", out.pos)
            return
        if plan.grouped and kind in ("all", "snapshot") and (s.having is not None or batch
                                                              or len(streams) > 1):
            raise self.err(f"unsupported construct: {what} over groups with HAVING, a batch "
                           "window or a join (use output last every)", out.pos)

    def group_emitter(self, items: tuple[A.SelectItem, ...], having: A.Expr | None,
                      group_exprs: list[A.Expr], aggs: list[A.Call], plan: SelectPlan
                      ) -> tuple[Callable[..., Any], Callable[..., Any]]:
        """One generated loop over a released batch's groups: HAVING and the row dict inline
        (no call per group). With only count(*), the counts come straight from a Counter.

        Two variants of the same loop: ``_emit`` appends ``(group key, row)`` pairs (output rate
        limiting, ORDER BY and the remove stream need the key); ``_emit_rows`` appends the rows
        alone, for a statement that needs none of them (no pair object per row)."""
        count_only = plan.count_only

        def special(e: A.Expr) -> str | None:
            if isinstance(e, A.Call) and e in aggs:
                return "a" if count_only else f"a[{aggs.index(e)}]"
            if e in group_exprs:
                return f"k[{group_exprs.index(e)}]"
            return None

        def no_prop(p: A.Prop) -> str:
            raise AssertionError(p)

        gen = CodeGen(self.filename, no_prop, special)
        gen.consts["_Row"] = None  # filled by the runtime module at import
        gen.consts["_new"] = tuple.__new__  # a Row without NamedTuple's keyword wrapper
        values = "{" + ", ".join(f"{it.name!r}: {gen.value(it.expr)}" for it in items) + "}"
        cond = gen.true(having) if having is not None else "True"
        row = f"_new(_Row, (name, stream, t, {values}, False))"
        from .expressions import build

        def emitter(fn: str, item: str) -> Callable[..., Any]:
            src = (f"def {fn}(results, t, out, _Row, name, stream):\n"
                   "    append = out.append\n"
                   "    for k, a in results.items():\n"
                   f"        if {cond}:\n"
                   f"            append({item})\n")
            return build(src, fn, gen.consts)

        return emitter("_emit", f"(k, {row})"), emitter("_emit_rows", row)

    def view(self, ref: A.StreamRef, sp: StreamPlan, sd: StreamDef) -> None:
        views = ref.views
        if not views:
            return
        group_keys: list[int | str] | None = None
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
        elif len(views) > 1 and all(w.name.lower() in INTERSECT_VIEWS for w in views):
            # several data windows: Esper keeps the intersection of what they retain; each is
            # planned on its own, then combined (runtime: intersect.IntersectionWindow)
            specs = []
            for w in views:
                self.view(dataclasses.replace(ref, views=(w,)), sp, sd)
                assert sp.view is not None
                specs.append((sp.view.name, sp.view_arg))
            sp.view = A.View("", "intersect", (), views[0].pos)
            sp.view_arg = specs
            return
        elif len(views) > 1:
            what = "#groupwin(...) followed by anything but #length or #time" \
                if views[0].name.lower() == "groupwin" else \
                f"these data windows together (an intersection of {', '.join(sorted(INTERSECT_VIEWS))} only)"
            raise self.err(f"unsupported construct: {what}", views[1].pos)
        v = views[0]
        name = v.name.lower()
        ns = v.namespace.lower()
        if ns not in ("", "win", "std", "ext") or name not in _WINDOWS:
            raise self.err(f"unsupported construct: view {(ns + ':') if ns else '#'}{v.name} "
                           "(supported: time, time_batch, length, length_batch, ext_timed, "
                           "ext_timed_batch, time_length_batch, unique, firstunique, sort, keepall, lastevent, firstevent, "
                           "firstlength, firsttime)", v.pos)
        sp.view = A.View(ns, name, v.args, v.pos)

        def period(arg: Any) -> int:
            if isinstance(arg, A.TimePeriod):
                ms = arg.ms
            elif isinstance(arg, A.Literal) and isinstance(arg.value, (int, float)) \
                    and not isinstance(arg.value, bool):
                ms = math.floor(arg.value * 1000 + 0.5)  # seconds, as Esper's Math.round(1000d * v)
            else:
                if isinstance(arg, A.Expr) and not isinstance(arg, A.Literal):  # h-erefuse
                    raise self.err(f"unsupported construct: {name}: a time period computed from an expression, "
                                   "a property or a variable (only a number and a unit, such as 10 sec)", v.pos)
                raise self.err(f"{name}: expected a time period such as '1 minute'", v.pos)
            if ms < 1:  # Esper: "... view requires a size of at least 1 msec"
                raise self.err(f"{name}: the time period must be at least 1 msec", v.pos)
            return ms

        def count(arg: Any) -> int:
            if isinstance(arg, A.Literal) and isinstance(arg.value, int) and not isinstance(arg.value, bool) \
                    and arg.value > 0:  # Esper: an integer-type parameter (true is not 1)
                return arg.value
            if isinstance(arg, A.Expr) and not isinstance(arg, A.Literal):  # h-erefuse
                raise self.err(f"unsupported construct: {name}: a size computed from an expression, a "
                               "property or a variable (only a whole number)", v.pos)
            raise self.err(f"{name}: expected a positive number of events", v.pos)

        def keep(key: str) -> int | str:
            if sp.keys is None:  # SELECT *: resolved against the first events' columns
                return key
            if key not in sp.keys:
                sp.keys.append(key)
            return sp.keys.index(key)

        args = v.args
        if name in ("time_batch", "length_batch", "ext_timed_batch", "time_length_batch") and any(
                isinstance(a, A.Literal) and isinstance(a.value, str) for a in args[1:]):
            # h-erefuse: Esper's batch flow control ('FORCE_UPDATE, START_EAGER'), named
            raise self.err(f"unsupported construct: {name} flow control (START_EAGER, FORCE_UPDATE)", v.pos)
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
        elif name == "time_length_batch":
            if len(args) != 2:
                raise self.err(f"{name} takes a time period and an event count", v.pos)
            sp.view_arg = (period(args[0]), count(args[1]))
        elif name == "firsttime":
            if len(args) != 1:
                raise self.err(f"{name} takes one time period", v.pos)
            if self.context_kind is not None:
                # Esper starts the window with each context partition; FlowCEP's start is the
                # runtime's first time (see FirstTimeWindow), so within a context it is refused
                raise self.err("unsupported construct: #firsttime in a context statement", v.pos)
            sp.view_arg = period(args[0])
        elif name == "firstlength":
            if len(args) != 1:
                raise self.err(f"{name} takes one event count", v.pos)
            sp.view_arg = count(args[0])
        elif name in ("length", "length_batch"):
            if len(args) != 1:
                raise self.err(f"{name} takes one event count", v.pos)
            sp.view_arg = count(args[0])
            if group_keys is not None:
                sp.view = A.View(ns, "groupwin_length", v.args, v.pos)
                sp.view_arg = (group_keys, sp.view_arg)
        elif name in ("ext_timed", "ext_timed_batch"):
            if name == "ext_timed_batch" and len(args) == 3:
                ref_arg = args[2]
                if not (isinstance(ref_arg, A.Literal) and isinstance(ref_arg.value, int)
                        and not isinstance(ref_arg.value, bool)):
                    raise self.err("unsupported construct: ext_timed_batch flow control or a computed reference "
                                   "point; the third parameter may only be a reference point in milliseconds",
                                   v.pos)
                sp.ref_point = ref_arg.value  # batches end at ref + k * P
                args = args[:2]
            if len(args) != 2 or not isinstance(args[0], A.Prop):
                raise self.err(f"{name} takes a timestamp property and a time period"
                               + (" (and a reference point in milliseconds)" if name == "ext_timed_batch" else ""),
                               v.pos)
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
        elif name == "sort":
            # #sort(n, criterion [asc|desc], ...): the n smallest events by the criteria
            crit = args[1:]
            if len(args) < 2 or not isinstance(args[0], A.Literal) \
                    or not all(isinstance(c.expr if isinstance(c, A.OrderItem) else c, A.Prop) for c in crit):
                raise self.err("sort takes a number of events and one or more properties, each "
                               "optionally asc or desc: #sort(10, bytes desc)", v.pos)
            size = count(args[0])
            sidx = [keep(self.resolve(c.expr if isinstance(c, A.OrderItem) else c,  # type: ignore[arg-type]
                                      [(sp.alias, sd)])[1]) for c in crit]
            desc = [isinstance(c, A.OrderItem) and c.descending for c in crit]
            sp.view_arg = (size, sidx, desc)

    # -- named windows, on-trigger statements and contexts (h-named) ------------------------------
    def declare_named(self, stmts: list[A.Statement]) -> None:
        """Windows and contexts are known before any statement is planned (order is free)."""
        for s in stmts:
            if isinstance(s, A.CreateWindowStmt):
                if s.name in self.named or s.name in self.streams:
                    raise self.err(f"create window {s.name}: the name is already a stream or window", s.pos)
                self.named[s.name] = s
                self.streams[s.name] = StreamDef(s.name, "derived", list(s.props) if s.props is not None else None)
            elif isinstance(s, A.CreateContextStmt):
                if s.name in self.ctx_decls:
                    raise self.err(f"duplicate context {s.name!r}", s.pos)
                self.ctx_decls[s.name] = s

    def finish_named(self) -> None:
        """Plan the windows (their source's properties) and the contexts, once every stream
        (derived ones included) is known."""
        for w in self.named.values():
            props = list(w.props) if w.props is not None else None
            if w.source is not None:
                src = self.stream_def(w.source, w.pos)
                if w.source in self.named:
                    raise self.err(f"unsupported construct: create window {w.name} as another named "
                                   "window", w.pos)
                if props is None:
                    props = list(src.props) if src.props is not None else None
                else:
                    for p in props:
                        if src.key(p) is None:
                            raise self.err(f"create window {w.name}: {p!r} is not a property of "
                                           f"{w.source} (known: {', '.join(src.props or [])})", w.pos)
                    props = [src.key(p) or p for p in props]
            types = dict(w.types) if w.types is not None else None
            if types is None and w.source is not None:
                src_types = self.stream_def(w.source, w.pos).types
                types = {p: src_types[p] for p in props or () if p in src_types} if src_types else None
            self.streams[w.name] = StreamDef(w.name, "derived", props, types=types)
            self.window_plans.append(self.window_plan(w, props))
        for c in self.ctx_decls.values():
            self.ctx_plans[c.name] = self.context_plan(c)

    def window_plan(self, w: A.CreateWindowStmt, props: list[str] | None) -> NamedWindowPlan:
        self._refuse_static_type_errors(w)
        if len(w.views) > 1:
            raise self.err(f"unsupported construct: chained views on named window {w.name} "
                           "(use one data window)", w.views[1].pos)
        v = w.views[0] if w.views else A.View("", "keepall", ())
        name = v.name.lower()
        arg: Any = None
        if name == "time" and len(v.args) == 1:
            a = v.args[0]
            if isinstance(a, A.TimePeriod):
                arg = a.ms
            elif isinstance(a, A.Literal) and isinstance(a.value, (int, float)) and not isinstance(a.value, bool):
                arg = math.floor(a.value * 1000 + 0.5)
            if arg is not None and arg < 1:  # Esper: "Time window view requires a size of at least 1 msec"
                raise self.err(f"named window {w.name}: the time period must be at least 1 msec", v.pos)
        elif name == "length" and len(v.args) == 1:
            a = v.args[0]
            if isinstance(a, A.Literal) and isinstance(a.value, int) and not isinstance(a.value, bool) and a.value > 0:
                arg = a.value
        elif name in ("unique", "firstunique") and v.args and all(isinstance(a, A.Prop) for a in v.args):
            sd = self.streams[w.name]
            keys = []
            for a in v.args:
                assert isinstance(a, A.Prop)
                keys.append(self.resolve(a, [(w.name, sd)])[1])
            arg = keys
        elif name in ("keepall", "lastevent") and not v.args:
            arg = 0
        if arg is None:
            raise self.err(f"unsupported construct: view #{v.name} on named window {w.name} (supported: "
                           "#time(period), #length(n), #unique(props), #firstunique(props), #lastevent, "
                           "#keepall)", v.pos)
        info = StatementInfo(w.name, None, props or [], "window", w.pos.line)
        sp = StreamPlan(w.name, w.name, False, None, None)
        n = _ann(w.annotations, "Name")
        return NamedWindowPlan(info, props, name, arg, [sp], str(n.value) if n is not None else w.name)

    def check_window_producers(self, name: str, producers: list[Any]) -> None:
        """INSERT INTO a named window: the names inserted must be the window's columns, and a
        value of a known type must suit the column's declared type."""
        props = self.streams[name].props
        if props is None:
            return
        types = self.streams[name].types or dict(self.named[name].types or ())
        for p in producers:
            kinds = self._select_kinds(p) if isinstance(p, A.SelectStmt) else None
            for item in p.items or ():
                if item.name not in props:
                    raise self.err(f"insert into {name}: {item.name!r} is not a column of the named "
                                   f"window (columns: {', '.join(props)})", item.expr.pos)
                self._check_assignment(name, item.name, types.get(item.name, ""), item.expr, kinds)

    def _check_assignment(self, window: str, col: str, typ: str, value: A.Expr,
                          kinds: dict[tuple[str, ...], str] | None) -> None:
        """A value of a known kind written to a column of a declared type must suit it, as
        Esper's type widening does ("Invalid assignment of column ... column and parameter
        types mismatch"): text, a number and a condition do not mix, and a double is not
        narrowed into an integer column (an integer into a double column is widened)."""
        want = kind_of_type(typ) if typ else None
        if want is None:
            return
        got = static_kind(value, kinds)
        if got is not None and got != want:
            raise self.err(f"{_shown_expr(value)} is {got}, column {col!r} of named window {window} is "
                           f"{typ} (as in Esper: column and parameter types mismatch)", value.pos)
        if want == "number" and typ.lower() in _INTEGER_TYPES and static_double(value):
            raise self.err(f"{_shown_expr(value)} is a double, column {col!r} of named window {window} is "
                           f"{typ}: a double is not narrowed to an integer (as in Esper: column and parameter "
                           "types mismatch)", value.pos)

    def check_window_reads(self, s: A.SelectStmt) -> None:
        """A statement reading a named window takes the window's rows as they are."""
        if isinstance(s.sources, A.PatternSource):
            for node in _pattern_filters(s.sources.root):
                if node.stream in self.named:
                    raise self.err(f"unsupported construct: a pattern over named window {node.stream} "
                                   "(select from the window, or use on-select)", node.pos)
            return
        for ref in s.sources:
            if ref.stream in self.named and ref.views:
                raise self.err(f"unsupported construct: a data window on named window {ref.stream} "
                               "(the window's own view applies)", ref.views[0].pos)
            if ref.stream in self.named and _has_prior(s):
                raise self.err(f"unsupported construct: prior() over named window {ref.stream}", s.pos)

    def context_plan(self, c: A.CreateContextStmt) -> ContextPlan:
        self._refuse_static_type_errors(c)
        if c.kind == "fixed":
            if c.period_ms <= 0:
                raise self.err("context end after: expected a positive time period", c.pos)
            return ContextPlan(c.name, "fixed", period_ms=c.period_ms)
        if c.kind == "initterm":
            ref = c.parts[0][1]
            sd = self.stream_def(ref.stream, ref.pos)
            if ref.views:
                raise self.err("unsupported construct: a data window on a context's initiating stream",
                               ref.views[0].pos)
            if c.period_ms <= 0:
                raise self.err("context terminated after: expected a positive time period", c.pos)
            flt = None
            if ref.filter is not None:
                one = [(ref.name, sd)]
                flt = compile_column_filter(ref.filter, lambda p: self.resolve(p, one)[1], self.filename)
            return ContextPlan(c.name, "initterm", period_ms=c.period_ms, init_stream=ref.stream,
                               init_alias=ref.alias, init_filter=flt)
        keys: dict[str, list[str]] = {}
        filters: dict[str, ColumnFilter] = {}
        width = None
        for props, ref in c.parts:
            sd = self.stream_def(ref.stream, ref.pos)
            if ref.stream in self.named:
                raise self.err(f"context {c.name}: a named window cannot be partitioned ({ref.stream})", ref.pos)
            if ref.views or ref.alias:
                raise self.err(f"unsupported construct: a view or alias on context {c.name}'s "
                               f"stream {ref.stream}", ref.pos)
            if ref.filter is not None:
                one = [(ref.stream, sd)]

                def key_of(p: A.Prop, one: list[tuple[str, StreamDef]] = one) -> str:
                    return self.resolve(p, one)[1]

                filters[ref.stream] = compile_column_filter(ref.filter, key_of, self.filename)
            if ref.stream in keys:
                raise self.err(f"context {c.name}: stream {ref.stream} is listed twice", ref.pos)
            if width is not None and len(props) != width:
                raise self.err(f"context {c.name}: every stream needs the same number of partition "
                               "properties", ref.pos)
            width = len(props)
            keys[ref.stream] = [self.resolve(p, [(ref.stream, sd)])[1] for p in props]
        return ContextPlan(c.name, "keyed", keys=keys, filters=filters)

    def context_select(self, cs: A.ContextSelect, name: str) -> SelectPlan:
        cplan = self.ctx_plans.get(cs.context)
        if cplan is None:
            known = ", ".join(sorted(self.ctx_plans)) or "none declared"
            raise self.err(f"unknown context {cs.context!r} (known: {known}); declare it with "
                           "create context", cs.pos)
        s = dataclasses.replace(cs.select, annotations=cs.annotations)
        if isinstance(s.sources, A.PatternSource):
            raise self.err("unsupported construct: a pattern statement in a context", s.pos)
        for ref in s.sources:
            if ref.stream in self.named:
                raise self.err(f"unsupported construct: a context statement reading named window {ref.stream} "
                               "(read the stream that fills it)", ref.pos)
        # context.id only where partitions never end (keyed): whether Esper reuses the ids of
        # ended partitions is not established here, so it is not given a meaning of our own
        allowed = {"name"} | ({"id"} | {f"key{i + 1}" for i in range(len(next(iter(cplan.keys.values()))))}
                              if cplan.kind == "keyed" else {"startTime", "endTime"})
        init_sd = self.streams[cplan.init_stream] if cplan.init_stream is not None else None

        def ctx_prop(p: A.Prop) -> A.Expr | None:
            if len(p.parts) > 2 and p.parts[0] == "context" and init_sd is not None \
                    and p.parts[1] == cplan.init_alias:
                # context.<alias>.<property>: the initiating event's property
                key = init_sd.key(".".join(p.parts[2:]))
                if key is None:
                    raise self.err(f"unknown property {'.'.join(p.parts[2:])!r} of the initiating stream "
                                   f"{init_sd.name} (known: {', '.join(init_sd.props or [])})", p.pos)
                return A.Call(CONTEXT_FUNCTION, (A.Literal(f"{cplan.init_alias}.{key}"),), pos=p.pos, text=p.text)
            if len(p.parts) >= 2 and p.parts[0] == "context":
                if len(p.parts) > 2 or p.parts[1] not in allowed:
                    tagged = f", context.{cplan.init_alias}.<property>" if cplan.init_alias else ""
                    raise self.err(f"unknown context property {p.text!r} (context {cplan.name} has: "
                                   f"{', '.join('context.' + a for a in sorted(allowed))}{tagged})", p.pos)
                return A.Call(CONTEXT_FUNCTION, (A.Literal(p.parts[1]),), pos=p.pos, text=p.text)
            return None

        s = _replace_props(s, ctx_prop)
        if cplan.kind == "keyed" and not isinstance(s.sources, A.PatternSource):
            s = self._partition_props_as_keys(s, cplan.keys)
        self.context_kind = cplan.kind
        try:
            plan = self.select(s, name)
        finally:
            self.context_kind = None
        if plan.subqueries:
            raise self.err("unsupported construct: a subquery in a context statement", s.pos)
        if plan.match_recognize is not None:
            raise self.err("unsupported construct: match_recognize in a context statement", s.pos)
        for sp in plan.streams:
            if sp.priors:
                raise self.err("unsupported construct: prior() in a context statement", s.pos)
            if cplan.kind == "keyed":
                pkeys = cplan.keys.get(sp.stream)
                if pkeys is None:
                    raise self.err(f"stream {sp.stream} is not partitioned by context {cplan.name} "
                                   f"(it partitions: {', '.join(cplan.keys)})", s.pos)
                if sp.keys is not None:
                    sp.keys.extend(k for k in pkeys if k not in sp.keys)
        self.context_of[name] = cplan
        return plan

    def _partition_props_as_keys(self, s: A.SelectStmt, keys: dict[str, list[str]]) -> A.SelectStmt:
        """In a keyed context a partition property has one value per partition: Esper counts it
        as grouped (its non-aggregated property check skips partition properties, so a statement
        selecting one beside ``group by x`` still outputs one row per group,
        ContextKeySegmentedAggregate.ContextKeySegmentedRowPerGroupStream), so in the select
        list, HAVING and ORDER BY it is read as its ``context.keyN``."""
        assert not isinstance(s.sources, A.PatternSource)
        refs = [(ref.name, self.stream_def(ref.stream, ref.pos)) for ref in s.sources]
        streams = [ref.stream for ref in s.sources]

        def part_prop(p: A.Prop) -> A.Expr | None:
            if p.parts[0] == "context" or p.parts[0].startswith((_PRIOR, _PREV, SUBQ_PREFIX)):
                return None
            try:
                idx, key = self.resolve(p, refs)
            except EPLError:
                return None
            pkeys = keys.get(streams[idx])
            if not pkeys or key not in pkeys:
                return None
            return A.Call(CONTEXT_FUNCTION, (A.Literal(f"key{pkeys.index(key) + 1}"),), pos=p.pos, text=p.text)

        r = _replace_props(s, part_prop)
        return dataclasses.replace(s, items=r.items, having=r.having, order_by=r.order_by)

    def on_statement(self, s: A.OnStmt, name: str) -> OnPlan:
        """``on Trigger ... W``: functions of (trigger row r0, window row r1)."""
        # a bare name is the declared stream's that has it (as resolve() finds it), but the
        # trigger's filter and a 'when not matched' clause read the trigger alone
        both = [(s.trigger.name, s.trigger.stream), (s.window_alias or s.window, s.window)]
        kinds = self._declared_kinds(both, True)
        trigger_kinds = self._declared_kinds(both[:1], True)
        self._walk_types(s.trigger, trigger_kinds)
        self._walk_types((s.where, s.items, s.assignments, s.order_by), kinds)
        for w in s.whens:
            self._walk_types(w, kinds if w.matched else trigger_kinds)
        if s.window not in self.named:
            raise self.err(f"on ... {s.window}: not a named window (declare it with create window; "
                           f"named windows: {', '.join(sorted(self.named)) or 'none'})", s.window_pos)
        trig = s.trigger
        tsd = self.stream_def(trig.stream, trig.pos)
        if trig.stream in self.named:
            raise self.err("unsupported construct: a named window as the trigger of an on-statement", trig.pos)
        if trig.views:
            raise self.err("unsupported construct: a data window on the trigger stream of an on-statement",
                           trig.views[0].pos)
        t_alias = trig.name
        w_alias = s.window_alias or s.window
        if t_alias == w_alias:
            raise self.err(f"the trigger and the window are both called {t_alias!r}; give one an alias (AS x)",
                           s.pos)
        wsd = self.streams[s.window]
        refs = [(t_alias, tsd), (w_alias, wsd)]
        fn = self.filename
        sp = StreamPlan(tsd.name, t_alias, tsd.kind == "flow", None, None)
        if trig.filter is not None:
            one = [(t_alias, tsd)]
            sp.filter = compile_column_filter(trig.filter, lambda p: self.resolve(p, one)[1], fn)
        exprs: list[A.Expr] = [e for e in (s.where,) if e is not None]
        exprs += [it.expr for it in s.items or ()]
        exprs += [a.value for a in s.assignments]
        for w in s.whens:
            exprs += [e for e in (w.cond,) if e is not None]
            for act in w.actions:
                exprs += [a.value for a in act.assignments] + [it.expr for it in act.items or ()]
                exprs += [e for e in (act.where,) if e is not None]
        for e in exprs:
            if find_aggregates(e, []):
                raise self.err(f"unsupported construct: aggregate functions in on-{s.kind}",
                               find_aggregates(e, [])[0].pos)

        def row_res(p: A.Prop) -> str:
            i, key = self.resolve(p, refs)
            return f"r{i}.get({key!r})"

        def trigger_res(p: A.Prop) -> str:
            return f"r0.get({self.resolve(p, refs[:1])[1]!r})"

        def cond(e: A.Expr | None, trigger_only: bool = False) -> Any:
            """``trigger_only``: a 'when not matched' condition, where there is no window row,
            so a property resolves against the trigger alone (as Esper validates it)."""
            if e is None:
                return None
            gen = CodeGen(fn, trigger_res if trigger_only else row_res)
            return compile_row_function(["r0", "r1"], gen.true(e), gen.consts)

        def values(items: tuple[A.SelectItem, ...], trigger_only: bool = False) -> Any:
            gen = CodeGen(fn, trigger_res if trigger_only else row_res)
            code = "(" + "".join(gen.value(it.expr) + ", " for it in items) + ")"
            return compile_row_function(["r0", "r1"], code, gen.consts)

        kinds = self._declared_kinds([(t_alias, trig.stream), (w_alias, s.window)], True)

        def assigns(items: tuple[A.Assignment, ...]) -> list[tuple[str, Any]]:
            out = []
            for a in items:
                parts = a.target.parts
                if len(parts) > 1 and parts[0] == w_alias:
                    parts = parts[1:]
                key = wsd.key(".".join(parts))
                if key is None:
                    raise self.err(f"set {a.target.text}: not a column of named window {s.window} "
                                   f"(columns: {', '.join(wsd.props or [])})", a.target.pos)
                self._check_assignment(s.window, key, (wsd.types or {}).get(key, ""), a.value, kinds)
                gen = CodeGen(fn, assign_res)
                code = gen.value(a.value)
                if (wsd.types or {}).get(key, "").lower() in ("double", "float", "java.lang.double"):
                    # Esper widens an integer assigned to a double column (InfraUpdateOrderOfFields)
                    code = f"{gen.const(as_double)}({code})"
                out.append((key, compile_row_function(["r0", "r1", "r2"], code, gen.consts)))
            return out

        def assign_res(p: A.Prop) -> str:
            """In a SET: ``initial.c`` is column c of the row before this update (Esper's
            ``initial`` keyword, InfraNWTableOnUpdate.InfraUpdateOrderOfFields); any other name
            resolves as elsewhere (the window's values read as assigned so far)."""
            if len(p.parts) == 2 and p.parts[0].lower() == "initial" and "initial" not in (t_alias, w_alias):
                key = wsd.key(p.parts[1])
                if key is None:
                    raise self.err(f"initial.{p.parts[1]}: not a column of named window {s.window} "
                                   f"(columns: {', '.join(wsd.props or [])})", p.pos)
                return f"r2.get({key!r})"
            return row_res(p)

        names: list[str] = []
        if s.items is not None:
            names = [it.name for it in s.items]
            if len(set(names)) != len(names):
                raise self.err("duplicate select name in on-select; use AS to rename", s.pos)
        elif s.kind in ("select", "select-delete"):
            names = list(wsd.props or [])
        if s.kind == "delete":
            names = list(wsd.props or [])
        info = StatementInfo(name, s.insert_into, names, f"on-{s.kind}", s.pos.line)
        plan = OnPlan(s.kind, info, s.window, [sp], where=cond(s.where), names=names,
                      star=s.items is None,
                      never=isinstance(s.where, A.Literal) and s.where.value is False)
        if s.kind in ("select", "select-delete") and s.items is not None:
            plan.select = values(s.items)
        if s.order_by:
            from .ordering import KeyGetter, make_shaper

            keys: list[tuple[KeyGetter, bool]] = []
            for o in s.order_by:
                e = o.expr
                col = None
                if isinstance(e, A.Prop) and ".".join(e.parts) in names and s.items is not None:
                    col = ".".join(e.parts)
                elif isinstance(e, A.Prop) and s.items is None:
                    i, key = self.resolve(e, refs)
                    col = key if i == 1 else None
                if col is None:
                    raise self.err("unsupported construct: ORDER BY in on-select on anything but a select "
                                   "name (or, with select *, a window property)", e.pos)
                keys.append((lambda v, c=col: v.get(c), o.descending))  # type: ignore[misc]
            plan.shape = make_shaper(keys, None, 0, False, None, [])
        plan.assigns = assigns(s.assignments)
        for w in s.whens:
            actions = []
            for act in w.actions:
                if act.kind == "insert":
                    if w.matched:
                        raise self.err("unsupported construct: insert in a 'when matched' clause "
                                       "(insert when not matched)", act.pos)
                    if act.into is not None:
                        raise self.err("unsupported construct: on-merge insert into another stream "
                                       "(insert into the window)", act.pos)
                    if act.items is not None:
                        self.check_window_producers(s.window, [act])
                    ins_names = [it.name for it in act.items] if act.items is not None else []
                    # there is no window row when nothing matched: the select reads the trigger
                    actions.append(MergeAction("insert", values=values(act.items, True) if act.items else None,
                                               names=ins_names, where=cond(act.where, True)))
                elif not w.matched:
                    raise self.err(f"unsupported construct: {act.kind} in a 'when not matched' clause "
                                   "(there is no row to change)", act.pos)
                else:
                    actions.append(MergeAction(act.kind, assigns=assigns(act.assignments), where=cond(act.where)))
            plan.whens.append((w.matched, cond(w.cond, not w.matched), actions))
        for conj in _conjuncts(s.where):
            if isinstance(conj, A.BinOp) and conj.op == "==" and isinstance(conj.left, A.Prop) \
                    and isinstance(conj.right, A.Prop):
                (i1, k1), (i2, k2) = self.resolve(conj.left, refs), self.resolve(conj.right, refs)
                if {i1, i2} == {0, 1}:
                    plan.equi = (k1, k2) if i1 == 0 else (k2, k1)
                    break
        self.on_plans.append(plan)
        return plan
    # -- end named windows, on-trigger statements and contexts (h-named) --------------------------

# Windows over which WHERE may run first with the same rows as Esper (which runs it on what
# the window posts): no window, a sliding time window (an event leaves exactly as it entered),
# keepall. time_batch is handled apart (its timing depends on every event); every other window
# holds or pushes out events whatever WHERE says, so WHERE must run after it.
_WHERE_FIRST_OK = frozenset({"time", "keepall"})


_BATCH_VIEWS = frozenset({"time_batch", "length_batch", "ext_timed_batch", "time_length_batch"})
#: windows whose contents ``output snapshot`` of a statement without aggregates shows
_SNAPSHOT_VIEWS = frozenset({"time", "length", "lastevent", "unique", "sort", "ext_timed", "intersect"})
_PRIOR = "\x00prior:"
_PREV = "\x00prev:"
_PREV_FUNCTIONS = frozenset({"prev", "prevtail", "prevcount", "prevwindow"})
#: single data windows prev functions read (besides #groupwin(...)#length(N))
_PREV_VIEWS = frozenset({"length", "lastevent", "keepall", "time", "time_batch", "length_batch"})


def _replace_calls(node: Any, names: frozenset[str], repl: Callable[[A.Call], A.Expr]) -> Any:
    """``node`` (a statement, select item, expression or tuple of them) with every call of a
    function in ``names`` replaced by ``repl(call)``; unchanged parts are shared."""
    if isinstance(node, A.Call) and node.name in names:
        return repl(node)
    if isinstance(node, (A.Expr, A.SelectItem, A.SelectStmt)):
        changes = {}
        for f in dataclasses.fields(node):
            if f.name in ("pos", "text", "annotations", "sources"):
                continue
            v = getattr(node, f.name)
            nv = _replace_calls(v, names, repl)
            if nv is not v:
                changes[f.name] = nv
        return dataclasses.replace(node, **changes) if changes else node
    if isinstance(node, tuple):
        new = tuple(_replace_calls(x, names, repl) for x in node)
        return node if all(a is b for a, b in zip(new, node, strict=True)) else new
    return node


_INTEGER_TYPES = frozenset(("int", "integer", "long", "short", "byte", "biginteger", "java.lang.integer",
                            "java.lang.long"))


def _shown_expr(e: A.Expr) -> str:
    """An expression as an error message names it (a text literal quoted as in EPL)."""
    if isinstance(e, A.Literal) and isinstance(e.value, str):
        return "'" + e.value + "'"
    return e.text or type(e).__name__


def _has_prior(s: A.SelectStmt) -> bool:
    return "prior" in repr(s).lower() and any(
        isinstance(x, A.Call) and x.name == "prior" for x in _walk(s))


def _walk(node: Any) -> list[Any]:
    """The expressions of a statement (select list, WHERE, HAVING...), for prior()/prev()."""
    return A.walk(node, (A.Expr, A.SelectStmt, A.SelectItem))


def _and_all(items: list[A.Expr]) -> A.Expr:
    return items[0] if len(items) == 1 else A.BoolOp("and", tuple(items), pos=items[0].pos)


def _star_join_row(*rows: dict[str, Any]) -> tuple[dict[str, Any] | None, ...]:
    return tuple({k: v for k, v in r.items() if v is not None} if r else None for r in rows)


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


# -- h-named helpers -----------------------------------------------------------------------------
def _pattern_filters(node: Any) -> list[A.PatFilter]:
    """The stream filters of a pattern tree."""
    if isinstance(node, A.PatFilter):
        return [node]
    out: list[A.PatFilter] = []
    if isinstance(node, A.PatternNode):
        for f in dataclasses.fields(node):
            v = getattr(node, f.name)
            for x in v if isinstance(v, tuple) else (v,):
                out.extend(_pattern_filters(x))
    return out


def _replace_props(s: A.SelectStmt, fn: Callable[[A.Prop], A.Expr | None]) -> A.SelectStmt:
    """``s`` with every property ``fn`` maps to an expression replaced by it."""

    def visit(e: Any) -> Any:
        if isinstance(e, A.Prop):
            r = fn(e)
            return e if r is None else r
        if isinstance(e, A.Expr | tuple):
            return A.map_children(e, visit)
        if isinstance(e, A.SelectItem):
            ne = visit(e.expr)
            return e if ne is e.expr else A.SelectItem(ne, e.name)
        if isinstance(e, A.OrderItem):
            ne = visit(e.expr)
            return e if ne is e.expr else A.OrderItem(ne, e.descending)
        if isinstance(e, A.StreamRef):
            nf = visit(e.filter)
            return e if nf is e.filter else dataclasses.replace(e, filter=nf)
        return e

    return dataclasses.replace(s, items=visit(s.items), having=visit(s.having), where=visit(s.where),
                               group_by=visit(s.group_by), order_by=visit(s.order_by),
                               sources=s.sources if isinstance(s.sources, A.PatternSource) else visit(s.sources))
