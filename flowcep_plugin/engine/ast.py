"""Syntax tree of an EPL module: plain frozen dataclasses with source positions.

The parser builds these; the compiler resolves names against streams and turns them into
plans. ``text`` keeps the expression as written, because Esper names an unaliased select
column by its text (``count(*)``, ``ipfix.sourceIPv4Address``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
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
    args: tuple[Expr | TimePeriod, ...]
    pos: Pos = NOPOS


@dataclass(frozen=True)
class StreamRef:
    stream: str
    filter: Expr | None
    views: tuple[View, ...]
    alias: str | None
    pos: Pos = NOPOS

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
