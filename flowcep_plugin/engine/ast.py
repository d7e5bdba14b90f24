"""Syntax tree of an EPL module: plain frozen dataclasses with source positions.

The parser builds these; the compiler resolves names against streams and turns them into
plans. ``text`` keeps the expression as written, because Esper names an unaliased select
column by its text (``count(*)``, ``ipfix.sourceIPv4Address``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
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
        return self.alias or self.expr.text


@dataclass(frozen=True)
class OutputLimit:
    kind: str  # default (no keyword) | all | first | last | snapshot
    ms: int | None
    events: int | None
    pos: Pos = NOPOS


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
