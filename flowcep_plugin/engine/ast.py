"""Syntax tree of an EPL module: plain frozen dataclasses with source positions.

The parser builds these; the compiler resolves names against streams and turns them into
plans. ``text`` keeps the expression as written, because Esper names an unaliased select
column by its text (``count(*)``, ``ipfix.sourceIPv4Address``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from decimal import Decimal
from typing import Any


@dataclass(frozen=True)
class Pos:
    line: int
    column: int


NOPOS = Pos(0, 0)


# -- expressions ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Expr:
    pos: Pos = field(default=NOPOS, compare=False, kw_only=True)
    text: str = field(default="", compare=False, kw_only=True)


@dataclass(frozen=True)
class Literal(Expr):
    value: Any


@dataclass(frozen=True)
class Prop(Expr):
    """A property reference, possibly dotted (``Uniques.ipfix.sourceIPv4Address``)."""

    parts: tuple[str, ...]


@dataclass(frozen=True)
class Call(Expr):
    """A function or aggregate call; ``star`` for ``count(*)``."""

    name: str
    args: tuple[Expr, ...]
    distinct: bool = False
    star: bool = False


@dataclass(frozen=True)
class BinOp(Expr):
    """Arithmetic (``+ - * / %``) or comparison (``= != <> < <= > >=``)."""

    op: str
    left: Expr
    right: Expr


@dataclass(frozen=True)
class BoolOp(Expr):
    op: str  # "and" | "or"
    items: tuple[Expr, ...]


@dataclass(frozen=True)
class Not(Expr):
    item: Expr


@dataclass(frozen=True)
class Neg(Expr):
    item: Expr


@dataclass(frozen=True)
class Like(Expr):
    item: Expr
    pattern: Expr
    negate: bool = False
    regexp: bool = False


@dataclass(frozen=True)
class In(Expr):
    item: Expr
    options: tuple[Expr, ...]
    negate: bool = False


@dataclass(frozen=True)
class IsNull(Expr):
    item: Expr
    negate: bool = False


@dataclass(frozen=True)
class Between(Expr):
    item: Expr
    low: Expr
    high: Expr
    negate: bool = False


@dataclass(frozen=True)
class Case(Expr):
    """``case [operand] when a then x ... [else y] end``: with an operand each ``when`` value
    is compared with it (``=``, so null never matches); without, each ``when`` is a condition."""

    operand: Expr | None
    whens: tuple[tuple[Expr, Expr], ...]
    default: Expr | None = None


# -- from clause --------------------------------------------------------------------------
@dataclass(frozen=True)
class TimePeriod:
    ms: int
    text: str = ""


@dataclass(frozen=True)
class View:
    namespace: str  # "win", "std", "ext" or "" for the #x syntax
    name: str
    #: parameters; ``#sort(n, x desc)`` criteria with a direction are OrderItems
    args: tuple[Expr | TimePeriod | OrderItem, ...]
    pos: Pos = NOPOS


@dataclass(frozen=True)
class StreamRef:
    stream: str
    filter: Expr | None
    views: tuple[View, ...]
    alias: str | None
    pos: Pos = NOPOS
    unidirectional: bool = False  # h-subq: only this stream's events trigger the join

    @property
    def name(self) -> str:
        return self.alias or self.stream


# -- patterns -------------------------------------------------------------------------------
@dataclass(frozen=True)
class PatternNode:
    pos: Pos = field(default=NOPOS, compare=False, kw_only=True)


@dataclass(frozen=True)
class PatFilter(PatternNode):
    tag: str | None
    stream: str
    filter: Expr | None


@dataclass(frozen=True)
class PatFollowedBy(PatternNode):
    items: tuple[PatternNode, ...]


@dataclass(frozen=True)
class PatAnd(PatternNode):
    items: tuple[PatternNode, ...]


@dataclass(frozen=True)
class PatOr(PatternNode):
    items: tuple[PatternNode, ...]


@dataclass(frozen=True)
class PatNot(PatternNode):
    item: PatternNode


@dataclass(frozen=True)
class PatEvery(PatternNode):
    item: PatternNode


@dataclass(frozen=True)
class PatWithin(PatternNode):
    item: PatternNode
    ms: int


@dataclass(frozen=True)
class PatTimer(PatternNode):
    """``timer:interval(P)``: true P after it starts."""

    ms: int


@dataclass(frozen=True)
class PatternSource:
    root: PatternNode
    alias: str | None = None
    pos: Pos = NOPOS


# -- statements -----------------------------------------------------------------------------
@dataclass(frozen=True)
class SelectItem:
    expr: Expr
    alias: str | None

    @property
    def name(self) -> str:
        """The column's name: its alias, else Esper's rendering of the expression
        (``esper_text``), which is what Esper names an unaliased column."""
        return self.alias or esper_text(self.expr)


@dataclass(frozen=True)
class OutputLimit:
    kind: str  # default (no keyword) | all | first | last | snapshot
    ms: int | None
    events: int | None
    pos: Pos = NOPOS
    #: ``output ... when terminated``: released when the statement's context partition ends
    terminated: bool = False
    #: ``output after P`` / ``output after N events``: rows are discarded until P passed since
    #: the statement's start, or until N events arrived (then the rate, if any, applies)
    after_ms: int | None = None
    after_events: int | None = None


@dataclass(frozen=True)
class OrderItem:
    expr: Expr
    descending: bool = False


@dataclass(frozen=True)
class RowLimit:
    """``LIMIT count [OFFSET offset]``; a negative count means no limit (as in Esper)."""

    count: int | None
    offset: int = 0
    pos: Pos = NOPOS


@dataclass(frozen=True)
class Annotation:
    name: str
    value: Any = None
    kv: tuple[tuple[str, Any], ...] = ()
    pos: Pos = NOPOS


@dataclass(frozen=True)
class SchemaStmt:
    name: str
    props: tuple[tuple[str, str], ...]
    annotations: tuple[Annotation, ...]
    pos: Pos = NOPOS


@dataclass(frozen=True)
class SelectStmt:
    annotations: tuple[Annotation, ...]
    insert_into: str | None
    items: tuple[SelectItem, ...] | None  # None for SELECT *
    sources: tuple[StreamRef, ...] | PatternSource
    where: Expr | None
    group_by: tuple[Expr, ...]
    having: Expr | None
    output: OutputLimit | None
    distinct: bool = False
    pos: Pos = NOPOS
    order_by: tuple[OrderItem, ...] = ()
    limit: RowLimit | None = None
    #: h-subq: explicit JOIN syntax, one entry per source after the first (same order)
    joins: tuple[JoinSpec, ...] = ()
    match_recognize: MatchRecognize | None = None  # h-mrec: sources is then the one stream
    #: ``select [istream | irstream | rstream]``: the rows the statement outputs
    select_stream: str = "istream"
    #: ``insert [istream | irstream | rstream] into``: the rows inserted into the stream
    insert_stream: str = "istream"


Statement = SchemaStmt | SelectStmt


# -- patterns (h-patterns): repetition and distinct ----------------------------------------------
@dataclass(frozen=True)
class PatRepeat(PatternNode):
    """``[n] p``, ``[lo:hi] p``, ``p until q``: the match-until operator.

    ``low``/``high`` are the repetition bounds (None: unbounded; ``[n]`` sets both to n);
    ``until`` ends the repetition. Tags inside ``item`` become arrays.
    """

    item: PatternNode
    low: int | None
    high: int | None
    until: PatternNode | None = None


@dataclass(frozen=True)
class PatEveryDistinct(PatternNode):
    """``every-distinct(expr, ... [, expiry]) p``: every, skipping matches with seen keys."""

    item: PatternNode
    exprs: tuple[Expr, ...]
    expiry_ms: int | None = None


# -- named windows and contexts (h-named) ---------------------------------------------------------
@dataclass(frozen=True)
class CreateWindowStmt:
    """``create window W#view as select ... from S | as S | as (col type, ...)``.

    ``props`` are the window's columns: the select names, the declared columns, or None
    (``select *`` / ``as S`` over a stream whose properties are not declared).
    """

    name: str
    views: tuple[View, ...]
    props: tuple[str, ...] | None
    source: str | None  # the stream modelled after (None for the column form)
    annotations: tuple[Annotation, ...] = ()
    pos: Pos = NOPOS
    #: the column form's declared types ((name, type), ...); None for the other forms
    types: tuple[tuple[str, str], ...] | None = None


# -- subqueries and explicit joins (h-subq) ---------------------------------------------------
@dataclass(frozen=True)
class JoinSpec:
    """How source i (i >= 1) joins the sources before it: ``kind`` is inner, left, right or
    full; ``on`` the ON condition (None: a cross join, inner only)."""

    kind: str
    on: Expr | None
    pos: Pos = NOPOS


@dataclass(frozen=True)
class Assignment:
    """``set target = value`` of on-update / on-merge (target: a window property)."""

    target: Prop
    value: Expr


@dataclass(frozen=True)
class MergeAction:
    kind: str  # update | delete | insert
    assignments: tuple[Assignment, ...] = ()
    items: tuple[SelectItem, ...] | None = None  # insert: the select list (None: *)
    into: str | None = None  # insert into another stream than the window
    where: Expr | None = None
    pos: Pos = NOPOS


@dataclass(frozen=True)
class MergeWhen:
    matched: bool
    cond: Expr | None
    actions: tuple[MergeAction, ...]
    pos: Pos = NOPOS


@dataclass(frozen=True)
class OnStmt:
    """``on Trigger [as t] delete | select | update | merge`` against a named window."""

    kind: str  # delete | select | select-delete | update | merge
    trigger: StreamRef
    window: str
    window_alias: str | None
    where: Expr | None
    items: tuple[SelectItem, ...] | None = None  # select (None: *)
    insert_into: str | None = None  # select
    assignments: tuple[Assignment, ...] = ()  # update
    whens: tuple[MergeWhen, ...] = ()  # merge
    annotations: tuple[Annotation, ...] = ()
    pos: Pos = NOPOS
    window_pos: Pos = NOPOS
    order_by: tuple[OrderItem, ...] = ()  # select: sorts the rows of one trigger


@dataclass(frozen=True)
class CreateContextStmt:
    """``create context C partition by p [and q] from S [, ...]`` (keyed),
    ``create context C start @now end after P`` (fixed intervals) or
    ``create context C initiated by S(filter) as s terminated after P`` (overlapping)."""

    name: str
    kind: str  # keyed | fixed | initterm
    # keyed: (properties, stream) per stream; initterm: one ((), initiating stream)
    parts: tuple[tuple[tuple[Prop, ...], StreamRef], ...] = ()
    period_ms: int = 0
    annotations: tuple[Annotation, ...] = ()
    pos: Pos = NOPOS


@dataclass(frozen=True)
class ContextSelect:
    """``context C <select statement>``: the statement runs once per context partition."""

    context: str
    select: SelectStmt
    annotations: tuple[Annotation, ...] = ()
    pos: Pos = NOPOS


@dataclass(frozen=True)
class SubSelect:
    """The ``select ... from S[#view] [as x] [where ...] [group by ...] [having ...]`` of a subquery."""

    items: tuple[SelectItem, ...] | None  # None for select *
    source: StreamRef
    where: Expr | None
    group_by: tuple[Expr, ...] = ()
    pos: Pos = NOPOS
    having: Expr | None = None
    #: ``select distinct``: changes nothing for exists/in/any/all; a scalar one is refused
    distinct: bool = False


@dataclass(frozen=True)
class Subquery(Expr):
    """A subquery used as a value (``kind`` scalar), as ``exists (...)`` (exists), as the
    right side of ``item [not] in (...)`` (in) or of ``item op any|some|all (...)``."""

    query: SubSelect
    kind: str = "scalar"  # scalar | exists | in | any | all
    item: Expr | None = None
    negate: bool = False
    op: str = ""  # any/all: the comparison of item with each value (== != < <= > >=)
    #: its place among the statement's select-list subqueries, from 1 (Esper names an
    #: unaliased one ``subselect_<number>``); 0 when not numbered
    number: int = field(default=0, compare=False)


# -- match_recognize (h-mrec): row pattern recognition ------------------------------------------
@dataclass(frozen=True)
class RowPattern:
    """A node of a ``match_recognize`` pattern (a regular expression over variables)."""

    pos: Pos = field(default=NOPOS, compare=False, kw_only=True)


@dataclass(frozen=True)
class RpVar(RowPattern):
    name: str


@dataclass(frozen=True)
class RpSeq(RowPattern):
    items: tuple[RowPattern, ...]


@dataclass(frozen=True)
class RpAlt(RowPattern):
    items: tuple[RowPattern, ...]


@dataclass(frozen=True)
class RpQuant(RowPattern):
    """``p*`` (0, None), ``p+`` (1, None), ``p?`` (0, 1); ``greedy`` False for ``*? +? ??``."""

    item: RowPattern
    low: int
    high: int | None
    greedy: bool = True


@dataclass(frozen=True)
class RpRepeat(RowPattern):
    """``p{n}``, ``p{n,}``, ``p{n,m}``, ``p{,m}``: expanded by the planner as Esper's manual
    gives the equivalences (``A{2,4}`` is ``A A A? A?``)."""

    item: RowPattern
    low: int
    high: int | None


@dataclass(frozen=True)
class MatchRecognize:
    partition: tuple[Expr, ...]
    measures: tuple[SelectItem, ...]
    all_matches: bool
    skip: str  # past_last_row | to_next_row | to_current_row
    pattern: RowPattern
    interval_ms: int | None
    or_terminated: bool
    defines: tuple[tuple[str, Expr, Pos], ...]
    pos: Pos = NOPOS


def map_children(e: Any, visit: Callable[[Any], Any]) -> Any:
    """``e`` (an expression or a tuple of them) with ``visit`` applied to each child; the same
    object when no child changed, so rewrites share the subtrees they leave alone."""
    if isinstance(e, Expr):
        changes = {}
        for f in fields(e):
            if f.name in ("pos", "text"):
                continue
            v = getattr(e, f.name)
            nv = visit(v)
            if nv is not v:
                changes[f.name] = nv
        return replace(e, **changes) if changes else e
    if isinstance(e, tuple):
        new = tuple(visit(x) for x in e)
        return e if all(a is b for a, b in zip(new, e, strict=True)) else new
    return e


def walk(node: Any, into: tuple[type[Any], ...]) -> list[Any]:
    """Every node below ``node``: the fields of the node types in ``into`` and the items of
    tuples are entered. A subquery's own SELECT belongs to the subquery: only the value it is
    compared with (``x in (...)``, ``x > any (...)``) is entered."""
    out: list[Any] = []
    stack: list[Any] = [node]
    while stack:
        n = stack.pop()
        out.append(n)
        if isinstance(n, Subquery):
            if n.item is not None:
                stack.append(n.item)
        elif isinstance(n, into):
            stack.extend(getattr(n, f.name) for f in fields(n) if f.name not in ("pos", "text"))
        elif isinstance(n, tuple):
            stack.extend(n)
    return out


# -- Esper's text of an expression (the name of an unaliased select column) ---------------------
def java_text(x: Any) -> str:
    """A value as Java's ``String.valueOf`` writes it, which is what Esper's ``like``,
    ``regexp`` and string casts see: ``true``, ``100``, ``11.0``, ``1.0E20``."""
    if x.__class__ is str:
        return x
    if isinstance(x, bool):
        return "true" if x else "false"
    if isinstance(x, float):
        if x != x or x in (float("inf"), float("-inf")):
            return "NaN" if x != x else ("Infinity" if x > 0 else "-Infinity")
        if x == 0 or 1e-3 <= abs(x) < 1e7:
            return repr(x)
        sign, digits, exp = Decimal(repr(x)).normalize().as_tuple()
        ds = "".join(map(str, digits))
        e10 = int(exp) + len(ds) - 1
        return f"{'-' if sign else ''}{ds[0]}.{ds[1:] or '0'}E{e10}"
    return str(x)


#: Esper's precedence levels (ExprPrecedenceEnum): a child whose level is below its parent's
#: is written in parentheses (ExprNodeBase.toEPL); aggregates are the lowest of all
_UNARY, _MULTIPLY, _ADDITIVE, _RELATIONAL, _EQUALS, _NEGATED, _AND, _OR, _CASE = 11, 10, 9, 7, 6, 5, 3, 2, 1
_MINIMUM = -(2 ** 31)
_AGGREGATE_NAMES = frozenset({"count", "sum", "min", "max", "avg", "median", "stddev", "avedev"})
_OP_TEXT = {"==": "=", "!=": "!=", "<": "<", "<=": "<=", ">": ">", ">=": ">="}


def esper_text(e: Expr) -> str:
    """The text Esper gives ``e`` when it names an unaliased select column
    (ExprNodeUtilityPrint.toExpressionStringMinPrecedenceSafe): its own rendering, not the
    text as written. Operators are written without spaces (``a*2``, ``x>=1``, ``s='a'`` is
    ``s="a"``), keywords with one (``x in (1,2)``, ``a and b``, ``x between 1 and 2``),
    arguments joined by a bare comma (``max(a,b)``), function names in lower case
    (``count(*)``), string constants in double quotes, numbers as Java prints them (``10d`` is
    ``10.0``), parentheses only where precedence needs them; an aggregate inside another
    expression is always parenthesized (``(sum(x))*2``, its precedence being the lowest)."""
    return _render(e, _MINIMUM)


def _level(e: Expr) -> int:
    if isinstance(e, BinOp):
        if e.op in ("*", "/", "%"):
            return _MULTIPLY
        if e.op in ("+", "-"):
            return _ADDITIVE
        return _EQUALS if e.op in ("==", "!=") else _RELATIONAL
    if isinstance(e, BoolOp):
        return _AND if e.op == "and" else _OR
    if isinstance(e, Not):
        return _NEGATED
    if isinstance(e, IsNull):
        return _EQUALS
    if isinstance(e, (In, Between, Like)):
        return _RELATIONAL
    if isinstance(e, Case):
        return _CASE
    if isinstance(e, Call) and e.name in _AGGREGATE_NAMES and not (
            e.name in ("min", "max") and len(e.args) >= 2 and not e.distinct and not e.star):
        return _MINIMUM
    return _UNARY


def _render(e: Expr, parent: int) -> str:
    text = _free(e)
    return f"({text})" if _level(e) < parent else text


def _free(e: Expr) -> str:
    lv = _level(e)
    if isinstance(e, Literal):
        v = e.value
        if isinstance(v, str):
            return f'"{v}"'
        if v is None:
            return "null"
        if isinstance(v, int) and not isinstance(v, bool) and e.text[-1:] in ("d", "D", "f", "F"):
            v = float(v)  # 10d is a double: Esper writes 10.0
        return java_text(v)
    if isinstance(e, Prop):
        return ".".join(e.parts)
    if isinstance(e, BinOp):
        return f"{_render(e.left, lv)}{_OP_TEXT.get(e.op, e.op)}{_render(e.right, lv)}"
    if isinstance(e, BoolOp):
        return f" {e.op} ".join(_render(i, lv) for i in e.items)
    if isinstance(e, Not):
        return f"not {_render(e.item, lv)}"
    if isinstance(e, Neg):
        return f"-{_render(e.item, lv)}"
    if isinstance(e, IsNull):
        return f"{_render(e.item, lv)} is {'not ' if e.negate else ''}null"
    if isinstance(e, In):
        opts = ",".join(_render(o, lv) for o in e.options)
        return f"{_render(e.item, lv)} {'not ' if e.negate else ''}in ({opts})"
    if isinstance(e, Between):
        return (f"{_render(e.item, lv)} {'not ' if e.negate else ''}between {_render(e.low, lv)} "
                f"and {_render(e.high, lv)}")
    if isinstance(e, Like):
        op = "regexp" if e.regexp else "like"
        return f"{_render(e.item, lv)}{' not' if e.negate else ''} {op} {_render(e.pattern, lv)}"
    if isinstance(e, Case):
        out = "case" + (f" {_render(e.operand, lv)}" if e.operand is not None else "")
        for when, then in e.whens:
            out += f" when {_render(when, lv)} then {_render(then, lv)}"
        if e.default is not None:
            out += f" else {_render(e.default, lv)}"
        return out + " end"
    if isinstance(e, Call):
        if e.star:
            return f"{e.name}(*)"
        args = ",".join(_render(a, _MINIMUM) for a in e.args)
        return f"{e.name}({'distinct ' if e.distinct else ''}{args})"
    if isinstance(e, Subquery):
        items = e.query.items
        if e.kind == "scalar" and items and len(items) == 1:  # EPLSubselectUnfilteredNoAs: its column's name
            return items[0].name
        return f"subselect_{e.number}" if e.number else e.text
    return e.text


def number_subqueries(items: tuple[SelectItem, ...]) -> tuple[SelectItem, ...]:
    """The select list with its subqueries numbered in the order they are written (Esper's
    subselect number, which names an unaliased one ``subselect_<n>``)."""
    count = 0

    def visit(e: Any) -> Any:
        nonlocal count
        if isinstance(e, Subquery):
            item = visit(e.item) if e.item is not None else None
            count += 1
            return replace(e, item=item, number=count)
        if isinstance(e, Expr | tuple):
            return map_children(e, visit)
        return e

    out = tuple(SelectItem(visit(it.expr), it.alias) for it in items)
    return out if count else items
