"""Compile EPL expressions to Python functions, once, before any data flows.

An expression becomes Python source (then ``compile()``d) specialised for where it runs:

* over the columns of a batch: a WHERE clause becomes one list comprehension over ``zip`` of
  the columns it reads, returning the indices of matching records;
* over rows (joins, patterns): a function of the joined rows;
* over a group (SELECT/HAVING of an aggregating statement): a function of the group key and
  the aggregate values.

Nulls follow SQL's three-valued logic as Esper does: a comparison with null is neither true
nor false, so ``NOT (x < 10)`` does not match a record without ``x``. The code generator
emits, for each boolean expression, the code that is true exactly when it is TRUE (``true``)
or exactly when it is FALSE (``false``), which keeps the generated comprehensions free of
helper calls on the common paths.
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Callable, Mapping, Sequence
from operator import itemgetter
from typing import Any, cast

import re2

from ..errors import EPLError
from . import ast as A
from .ast import java_text
from .vectorwhere import MIN_RECORDS as VECTOR_MIN_RECORDS
from .vectorwhere import compile_vector_filter

__all__ = [
    "AGGREGATES",
    "FUNCTIONS",
    "CodeGen",
    "build",
    "children_of",
    "compile_column_filter",
    "compile_column_values",
    "like_to_regex",
    "is_aggregate",
    "find_aggregates",
]

AGGREGATES = frozenset({"count", "sum", "min", "max", "avg", "median", "stddev", "avedev"})


def _lower(s: Any) -> Any:
    return None if s is None else str(s).lower()


def _upper(s: Any) -> Any:
    return None if s is None else str(s).upper()


def _length(s: Any) -> Any:
    return None if s is None else len(s)


def _trim(s: Any) -> Any:
    return None if s is None else str(s).strip()


def _substring(s: Any, start: Any, end: Any = None) -> Any:
    """Java's String.substring(start[, end]), 0-based, end exclusive, clamped."""
    if s is None or start is None:
        return None
    s = str(s)
    return s[int(start):] if end is None else s[int(start):int(end)]


def _contains(s: Any, sub: Any) -> Any:
    return None if s is None or sub is None else str(sub) in str(s)


def _startswith(s: Any, sub: Any) -> Any:
    return None if s is None or sub is None else str(s).startswith(str(sub))


def _endswith(s: Any, sub: Any) -> Any:
    return None if s is None or sub is None else str(s).endswith(str(sub))


def _coalesce(*args: Any) -> Any:
    for a in args:
        if a is not None:
            return a
    return None


def _abs(x: Any) -> Any:
    return None if x is None else abs(x)


def _tostring(x: Any) -> Any:
    return None if x is None else java_text(x)


_JAVA_INT = re.compile(r"[+-]?[0-9]+")
_JAVA_DECODE = re.compile(r"([+-]?)(0[xX]|#)?([0-9A-Fa-f]+)")


def _java_integer(bits: int, decode: bool = False) -> Callable[[Any], Any]:
    """Esper's cast to a Java integer type of ``bits`` bits: a number narrows as Java's
    ``Number.intValue()``/``longValue()``/``byteValue()`` (a double saturates to 32 or 64
    bits, then wraps; an integer wraps), text parses as ``Integer.parseInt`` (ASCII digits,
    no spaces, in range) or, for ``byte``, as ``Byte.decode`` (``0x0A``, ``#0A``, ``012``);
    null when the value does not convert (Esper's cast raises there)."""
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    wide = 64 if bits == 64 else 32

    def wrap(v: int) -> int:
        v &= (1 << bits) - 1
        return v - (1 << bits) if v > hi else v

    def conv(x: Any) -> Any:
        if x is None or isinstance(x, bool):
            return None
        if isinstance(x, int):
            return wrap(x)
        if isinstance(x, float):
            if x != x:
                return 0
            limit = (1 << (wide - 1))
            return wrap(int(max(min(x, limit - 1), -limit)))
        text = x if isinstance(x, str) else str(x)
        if len(text) > 24:  # out of range for 64 bits anyway; spares int() a hostile 1 MB field
            return None
        if decode:
            m = _JAVA_DECODE.fullmatch(text)
            if m is None or (m.group(2) is None and not m.group(3).isdigit()):
                return None
            sign, radix, digits = m.groups()
            base = 16 if radix else 8 if len(digits) > 1 and digits.startswith("0") else 10
            try:
                v = int(sign + digits, base)
            except ValueError:
                return None
        else:
            if _JAVA_INT.fullmatch(text) is None:
                return None
            v = int(text)
        return v if lo <= v <= hi else None

    return conv


_to_int = _java_integer(32)


def _to_float(x: Any) -> Any:
    if x is None or isinstance(x, bool):
        return None
    try:
        return float(x if isinstance(x, (int, float)) else str(x))
    except (ValueError, OverflowError):  # an integer past a double's range
        return None


def _to_bool(x: Any) -> Any:
    """Esper's cast to boolean: text parses as ``Boolean.valueOf`` (``'TRUE'`` is true, any
    other text false); a boolean stays; any other value (a number) is not a Boolean and
    Esper's non-numeric caster gives null for it, so ``cast(1, boolean)`` is null, not false."""
    if isinstance(x, bool):
        return x
    if isinstance(x, str):
        return x.lower() == "true"
    return None


_CASTS: dict[str, Callable[[Any], Any]] = {
    "int": _to_int, "integer": _to_int, "long": _java_integer(64), "short": _java_integer(16),
    "byte": _java_integer(8, decode=True),
    "double": _to_float, "float": _to_float, "string": _tostring, "boolean": _to_bool,
    "java.lang.string": _tostring, "java.lang.integer": _to_int, "java.lang.long": _java_integer(64),
    "java.lang.double": _to_float, "java.lang.boolean": _to_bool,
}

#: Scalar functions: EPL name -> (python helper name, min args, max args).
FUNCTIONS: dict[str, tuple[Callable[..., Any], int, int]] = {
    "lower": (_lower, 1, 1),
    "upper": (_upper, 1, 1),
    "length": (_length, 1, 1),
    "len": (_length, 1, 1),
    "trim": (_trim, 1, 1),
    "substring": (_substring, 2, 3),
    "substr": (_substring, 2, 3),
    "contains": (_contains, 2, 2),
    "startswith": (_startswith, 2, 2),
    "endswith": (_endswith, 2, 2),
    "coalesce": (_coalesce, 2, 99),  # Esper: "Coalesce node must have at least 2 parameters"
    "abs": (_abs, 1, 1),
    "tostring": (_tostring, 1, 1),
    "string": (_tostring, 1, 1),
}


def like_to_regex(pattern: str) -> re.Pattern[str]:
    """SQL LIKE (``%`` any run, ``_`` one character, backslash escapes) as a full-match regex."""
    out: list[str] = []
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\" and i + 1 < len(pattern):
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        out.append(".*" if c == "%" else "." if c == "_" else re.escape(c))
        i += 1
    return re.compile("".join(out), re.DOTALL)


def is_aggregate(e: A.Expr) -> bool:
    return isinstance(e, A.Call) and e.name in AGGREGATES and not _row_minmax(e)


_DOUBLE_CASTS = frozenset({"double", "float", "java.lang.double", "java.lang.float"})
_DOUBLE_AGGREGATES = frozenset({"avg", "median", "stddev", "avedev"})


def static_double(e: A.Expr | None) -> bool:
    """Whether ``e`` is of type double whatever the events hold: a double literal (``2.5``,
    ``2d``), a division (always a double, Esper's default), a double cast, avg/median/stddev/
    avedev, or arithmetic, case, coalesce, min/max over one of these. Flows carry no declared
    types, so a property is never known to be one."""
    if isinstance(e, A.Literal):
        return isinstance(e.value, float)
    if isinstance(e, A.BinOp) and e.op in "+-*/%":
        return e.op == "/" or static_double(e.left) or static_double(e.right)
    if isinstance(e, A.Neg):
        return static_double(e.item)
    if isinstance(e, A.Case):
        return _mixes_double([v for _w, v in e.whens] + ([e.default] if e.default is not None else []))
    if isinstance(e, A.Call):
        if e.name == "cast":
            return len(e.args) == 2 and isinstance(e.args[1], A.Prop) \
                and ".".join(e.args[1].parts).lower() in _DOUBLE_CASTS
        if e.name in _DOUBLE_AGGREGATES:
            return True
        if e.name == "coalesce" or _row_minmax(e):
            return _mixes_double(e.args)
        if e.name in ("sum", "min", "max") and len(e.args) == 1:
            return static_double(e.args[0])
    return False


def _mixes_double(results: Sequence[A.Expr]) -> bool:
    """Esper types case, coalesce and the min/max row functions as the common type of their
    results (ExprCaseNode, ExprCoalesceNode, ExprMinMaxRowNode): one double result makes an
    integer result a double too (``case when c then 1 else 2.5 end`` is 1.0)."""
    return any(static_double(r) for r in results)


_ARITHMETIC = frozenset("+-*/%")


#: Property (its parts as written, ``('w', 'v')`` or ``('v',)``) -> kind, for the properties
#: whose type is declared (a named window's columns, a schema's properties).
DeclaredKinds = Mapping[tuple[str, ...], str]


def kind_of_type(typ: str) -> str | None:
    """The kind of a declared type name (``long`` -> number); None for object, arrays, maps."""
    t = typ.lower()
    if t in ("int", "integer", "long", "short", "byte", "biginteger", "double", "float", "bigdecimal",
             "number", "java.lang.integer", "java.lang.long", "java.lang.double"):
        return "number"
    if t in ("string", "java.lang.string"):
        return "text"
    return "boolean" if t in ("boolean", "bool", "java.lang.boolean") else None


def static_kind(e: A.Expr | None, declared: DeclaredKinds | None = None) -> str | None:
    """``'text'``, ``'number'`` or ``'boolean'`` when ``e`` has that type whatever the events
    hold (a literal, arithmetic, a comparison or other condition, a case of one kind, a
    property in ``declared``), else None: a property of a flow has no declared type, and
    null has none."""
    if isinstance(e, A.Prop):
        return declared.get(e.parts) if declared else None
    if isinstance(e, A.Literal):
        v = e.value
        if isinstance(v, bool):
            return "boolean"
        if isinstance(v, (int, float)):
            return "number"
        return "text" if isinstance(v, str) else None
    if isinstance(e, A.BinOp):
        return "number" if e.op in _ARITHMETIC else "boolean"
    if isinstance(e, A.Neg):
        return "number"
    if isinstance(e, (A.BoolOp, A.Not, A.Like, A.In, A.IsNull, A.Between)):
        return "boolean"
    if isinstance(e, A.Case):
        kinds = {static_kind(v, declared) for _w, v in e.whens} | {static_kind(e.default, declared)}
        kinds.discard(None)
        return kinds.pop() if len(kinds) == 1 else None
    if isinstance(e, A.Call) and e.name == "coalesce":
        # its type is its arguments' common type: one known text argument makes it text (or,
        # beside a number, an error), so coalesce(v, 'x') = 1 is refused whatever v holds
        kinds = {static_kind(a, declared) for a in e.args}
        kinds.discard(None)
        return kinds.pop() if len(kinds) == 1 else None
    if isinstance(e, A.Call) and _row_minmax(e):
        return "number"  # max/min(a, b, ...) take and give numbers (ExprMinMaxRowNode)
    if isinstance(e, A.Call) and e.name in ("count", "sum", "avg", "median", "stddev", "avedev"):
        return "number"  # Esper's count is a long; the others take and give numbers
    if isinstance(e, A.Call) and e.name in ("min", "max") and len(e.args) == 1:
        return static_kind(e.args[0], declared)  # the aggregate has its argument's type
    return None


def _shown(e: A.Expr) -> str:
    """An expression as an error message names it (a literal as written in EPL)."""
    if isinstance(e, A.Literal) and isinstance(e.value, str):
        return "'" + e.value + "'"
    return e.text or type(e).__name__


def mixed_kinds(items: Sequence[A.Expr | None],
                declared: DeclaredKinds | None = None) -> tuple[A.Expr, str, str] | None:
    """The first item whose static kind differs from an earlier item's, with both kinds:
    Esper's common type (JavaClassHelper.getCommonCoercionType) of text and a number, or of a
    boolean and anything else, does not exist and the statement fails to compile."""
    seen: str | None = None
    for it in items:
        k = static_kind(it, declared)
        if k is None:
            continue
        if seen is None:
            seen = k
        elif k != seen:
            assert it is not None
            return it, seen, k
    return None


def type_error(e: A.Expr, declared: DeclaredKinds | None = None) -> tuple[A.Expr, str] | None:
    """Where ``e`` itself (not its children) combines operands whose static kinds Esper's
    validation refuses at compile time, the operand at fault and why; None when it is fine or
    an operand's type is not known. Esper's rules: ``=``/``!=`` need both sides numbers, or
    the same type (ExprEqualsNode: "Implicit conversion from datatype ... is not allowed");
    ``< > between`` numbers or all text (ExprRelationalOpNode, ExprBetweenNode); ``in`` one
    common type (ExprInNode); ``not``/``and``/``or`` and a ``case when`` condition booleans
    (ExprNotNode, ExprAndNode, ExprOrNode, ExprCaseNode); ``-x`` and arithmetic numbers
    (ExprMathNode); a ``like`` pattern text (ExprLikeNode). ``declared`` gives the kinds of
    the properties whose type is declared."""
    def need(items: Sequence[A.Expr | None], want: str, why: str) -> tuple[A.Expr, str] | None:
        for it in items:
            k = static_kind(it, declared)
            if k is not None and k != want:
                assert it is not None
                return it, f"{_shown(it)} is {k}, {why}"
        return None

    if isinstance(e, A.BinOp):
        if e.op in _ARITHMETIC:
            return need((e.left, e.right), "number", f"arithmetic '{e.op}' takes numbers")
        kinds = [static_kind(e.left, declared), static_kind(e.right, declared)]
        if e.op in ("=", "==", "!=", "<>"):
            if None not in kinds and kinds[0] != kinds[1]:
                op = "=" if e.op == "==" else e.op
                return e.right, f"{_shown(e.left)} is {kinds[0]} and {_shown(e.right)} is {kinds[1]}: '{op}' " \
                    "compares values of one type"
            return None
        if "boolean" in kinds:
            return need((e.left, e.right), "", f"'{e.op}' compares numbers or text")
        if set(kinds) == {"text", "number"}:
            return e.right, f"{_shown(e.left)} is {kinds[0]} and {_shown(e.right)} is {kinds[1]}: '{e.op}' " \
                "compares numbers, or text with text"
        return None
    if isinstance(e, A.Neg):
        return need((e.item,), "number", "'-' takes a number")
    if isinstance(e, A.Not):
        return need((e.item,), "boolean", "not takes a condition")
    if isinstance(e, A.BoolOp):
        return need(e.items, "boolean", f"{e.op} takes conditions")
    if isinstance(e, A.Like):
        return need((e.pattern,), "text", f"the {'regexp' if e.regexp else 'like'} pattern is text")
    if isinstance(e, A.Between):
        items = (e.item, e.low, e.high)
        if any(static_kind(x, declared) == "boolean" for x in items):
            return need(items, "", "between compares numbers or text")
        bad = mixed_kinds(items, declared)
        return None if bad is None else (bad[0], f"{_shown(bad[0])} is {bad[2]} beside {bad[1]}: between "
                                         "compares numbers, or text with text")
    if isinstance(e, A.In):
        bad = mixed_kinds((e.item, *e.options), declared)
        return None if bad is None else (bad[0], f"{_shown(bad[0])} is {bad[2]} beside {bad[1]}: in compares "
                                         "values of one type")
    if isinstance(e, A.Case) and e.operand is None:
        return need([w for w, _v in e.whens], "boolean", "a case when condition must be a condition")
    if isinstance(e, A.Call) and e.name in _NUMERIC_AGGREGATES and len(e.args) == 1 and not e.star:
        # Esper: "Implicit conversion from datatype 'String' to numeric is not allowed for
        # aggregation function 'sum'" (ResultSetAggregateCountSumInvalid, for null too)
        return need(e.args, "number", f"{e.name}() takes numbers")
    return None


_NUMERIC_AGGREGATES = frozenset({"sum", "avg", "median", "stddev", "avedev"})


def as_double(v: Any) -> Any:
    """An integer as a double (Esper's widening to a double type); anything else as it is."""
    return float(v) if v.__class__ is int else v


def _row_minmax(e: A.Call) -> bool:
    """``max(a, b, ...)``/``min(a, b, ...)`` with two or more arguments: Esper's row functions,
    not the aggregates."""
    return e.name in ("max", "min") and len(e.args) >= 2 and not e.distinct and not e.star


def _max_row(*args: Any) -> Any:
    """Esper's max(a, b, ...): the largest value; null when any argument is null."""
    if any(a is None for a in args):
        return None
    return max(args)


def _min_row(*args: Any) -> Any:
    """Esper's min(a, b, ...): the smallest value; null when any argument is null."""
    if any(a is None for a in args):
        return None
    return min(args)


def _in3(value: Any, options: tuple[Any, ...]) -> bool | None:
    """Esper's ``in`` over values computed per event: true on a match; else null when the
    value or any option is null; else false."""
    if value is None:
        return None
    if value in options:
        return True
    return None if None in options else False


def _case_equal(a: Any, b: Any) -> bool:
    """``case x when v``: equal values, or both null (Java's Objects.equals, numbers by value)."""
    if a is None or b is None:
        return a is None and b is None
    return bool(a == b)


def _java_mod(a: Any, b: Any) -> Any:
    """Java's ``%`` (Esper's modulo): the remainder takes the dividend's sign, so ``-7 % 3``
    is -1 (Python's is 2). A double remainder by zero (or of an infinity) is NaN, as in Java;
    an integer one by zero is null here, where Java's (and so Esper's) raises an
    ArithmeticException that the runtime logs, losing the statement's row."""
    if isinstance(a, int) and isinstance(b, int):
        if b == 0:
            return None
        r = abs(a) % abs(b)
        return -r if a < 0 else r
    if b == 0 or math.isinf(a) or a != a or b != b:
        return math.nan
    return math.fmod(a, b)


def _div_by_zero(a: Any, b: Any) -> Any:
    """Esper's ``/`` by zero (ExprCoreMath.ExprCoreMathIntWNull): the operands are divided as
    doubles, so the quotient is +/-Infinity, or NaN for 0/0 (Java's IEEE division, the sign
    of a double -0.0 divisor included). Python's ``/`` raises instead, so the compiled code
    calls this only when the divisor is zero."""
    if not isinstance(a, (int, float)) or not isinstance(b, (int, float)):
        raise TypeError(f"arithmetic '/' needs numbers, not {type(a).__name__} and {type(b).__name__}")
    if a == 0 or a != a:
        return math.nan
    return math.copysign(math.inf, a) * math.copysign(1.0, b)


def find_aggregates(e: A.Expr | None, out: list[A.Call]) -> list[A.Call]:
    """Collect aggregate calls in ``e`` (structurally distinct, in order of appearance)."""
    if e is None:
        return out
    if isinstance(e, A.Call) and e.name in AGGREGATES and not _row_minmax(e):
        if e not in out:
            out.append(e)
        return out
    for child in _children(e):
        find_aggregates(child, out)
    return out


def children_of(e: A.Expr) -> Sequence[A.Expr]:
    """The direct sub-expressions of ``e`` (a subquery's select item, not its other clauses)."""
    return _children(e)


def _children(e: A.Expr) -> Sequence[A.Expr]:
    if isinstance(e, A.Call):
        return e.args[:1] if e.name == "cast" else e.args  # cast's second argument is a type
    if isinstance(e, A.Case):
        out: list[A.Expr] = [] if e.operand is None else [e.operand]
        for w, v in e.whens:
            out += (w, v)
        return (*out, e.default) if e.default is not None else tuple(out)
    if isinstance(e, A.BinOp):
        return (e.left, e.right)
    if isinstance(e, A.BoolOp):
        return e.items
    if isinstance(e, (A.Not, A.Neg)):
        return (e.item,)
    if isinstance(e, A.Like):
        return (e.item, e.pattern)
    if isinstance(e, A.In):
        return (e.item, *e.options)
    if isinstance(e, A.IsNull):
        return (e.item,)
    if isinstance(e, A.Between):
        return (e.item, e.low, e.high)
    if isinstance(e, A.Subquery):  # h-subq: the subquery's own expressions are its own scope
        return (e.item,) if e.item is not None else ()
    return ()


def _ordered_desc(low: A.Expr, high: A.Expr) -> bool:
    """Two literal endpoints given high first."""
    try:
        return bool(low.value > high.value)  # type: ignore[attr-defined]
    except TypeError:
        return False


def props_of(e: A.Expr | None, out: list[A.Prop] | None = None) -> list[A.Prop]:
    """Every property reference in ``e`` (outside nothing: aggregates' arguments included)."""
    out = [] if out is None else out
    if e is None:
        return out
    if isinstance(e, A.Prop):
        out.append(e)
    for c in _children(e):
        props_of(c, out)
    return out


_LITERAL = re.compile(r"^(?:-?\d+(?:\.\d+)?(?:e[+-]?\d+)?|'[^'\\]*'|\"[^\"\\]*\"|True|False)$")
_SIMPLE = re.compile(r"^(?:[A-Za-z_][A-Za-z0-9_]*|-?\d+(?:\.\d+)?|'[^'\\]*'|None|True|False)$")


#: a comparison with its sides swapped (`2 <= x % 4` is `x % 4 >= 2`)
_MIRROR = {"<": ">", ">": "<", "<=": ">=", ">=": "<=", "==": "==", "!=": "!="}


class CodeGen:
    """Generates Python expression source for EPL expressions.

    ``resolve(prop)`` returns the Python code that reads a property (a local variable, or a
    lookup); ``special(expr)`` may claim any sub-expression (group keys, aggregates) and
    return code for it, or None to compile it normally.
    """

    def __init__(self, filename: str, resolve: Callable[[A.Prop], str],
                 special: Callable[[A.Expr], str | None] | None = None) -> None:
        self.filename = filename
        self.resolve = resolve
        self.special = special
        self.consts: dict[str, Any] = {}
        self._n = 0
        #: the batch comprehensions' fast path: ``like`` with a literal pattern assumes text and
        #: raises on anything else, and the record-by-record retry (``strict_text`` False) then
        #: matches a number's Java text, so text columns pay nothing for it
        self.strict_text = False

    # -- helpers ---------------------------------------------------------------------------
    def error(self, msg: str, e: A.Expr) -> EPLError:
        return EPLError(msg, self.filename, e.pos.line or None, e.pos.column or None)

    def const(self, value: Any) -> str:
        if value is None or isinstance(value, (bool, int, float)):
            return repr(value)
        if isinstance(value, str) and len(value) < 200:
            return repr(value)
        name = f"_k{len(self.consts)}"
        self.consts[name] = value
        return name

    def _tmp(self, code: str) -> tuple[str, str]:
        """(first-use code, later-use code) so a complex operand is evaluated once."""
        if _SIMPLE.match(code):
            return code, code
        self._n += 1
        name = f"_t{self._n}"
        return f"({name} := {code})", name

    # -- values ------------------------------------------------------------------------------
    def value(self, e: A.Expr) -> str:
        if self.special is not None:
            s = self.special(e)
            if s is not None:
                return s
        if isinstance(e, A.Literal):
            return self.const(e.value)
        if isinstance(e, A.Prop):
            return self.resolve(e)
        if isinstance(e, A.Subquery):  # h-subq: planned apart; any place left over cannot run one
            raise self.error("unsupported construct: a subquery here (subqueries run in the select "
                             "list and WHERE of single-stream statements and the select list of "
                             "joins)", e)
        if isinstance(e, A.Case):
            self._refuse_mixed_kinds(e)
            code = self._case(e)
            return f"{self.const(as_double)}({code})" if static_double(e) else code
        if isinstance(e, A.Call) and (e.name == "coalesce" or _row_minmax(e)):
            self._refuse_mixed_kinds(e)
        if isinstance(e, A.Call) and (e.name == "coalesce" or _row_minmax(e)) and static_double(e):
            return f"{self.const(as_double)}({self._value_call(e)})"
        if isinstance(e, A.Call):
            return self._value_call(e)
        return self._value_ops(e)

    def _refuse_mixed_kinds(self, e: A.Case | A.Call) -> None:
        """Esper types case, coalesce and max/min(a, b, ...) at compile time: results (and a
        case operand with its when values) of text and number, or boolean and another type,
        have no common type ("Implicit conversion not allowed"), and max/min(a, b) take numbers
        only; FlowCEP would run them, giving whichever value came first."""
        if isinstance(e, A.Call):
            if _row_minmax(e):
                for a in e.args:
                    k = static_kind(a)
                    if k not in (None, "number"):
                        raise self.error(f"{e.name}() of several values: {_shown(a)} is {k}; "
                                         f"it takes numbers (as in Esper: "
                                         "implicit conversion to numeric is not allowed)", a)
                return
            groups: list[tuple[str, Sequence[A.Expr | None]]] = [("coalesce arguments", e.args)]
        else:
            results: list[A.Expr | None] = [v for _w, v in e.whens]
            groups = [("case results", [*results, e.default])]
            if e.operand is not None:
                groups.append(("case value and when values", [e.operand, *(w for w, _v in e.whens)]))
        for what, items in groups:
            bad = mixed_kinds(items)
            if bad is not None:
                it, k1, k2 = bad
                raise self.error(f"{what} mix {k1} and {k2} ({_shown(it)}): there is no common type "
                                 "(as in Esper: implicit conversion not allowed)", it)

    def _case(self, e: A.Case) -> str:
        code = self.value(e.default) if e.default is not None else "None"
        for w, v in reversed(e.whens):
            if e.operand is not None:
                # Esper's `case x when v` compares as Objects.equals: `when null` matches a
                # null x (ExprCoreCase.ExprCoreCaseSyntax2NoElseWithNull)
                test = f"{self.const(_case_equal)}({self.value(e.operand)}, {self.value(w)})"
            else:
                test = self.true(w)
            code = f"({self.value(v)} if {test} else {code})"
        return code

    def _value_call(self, e: A.Call) -> str:
        if _row_minmax(e):
            helper = _max_row if e.name == "max" else _min_row
            return f"{self.const(helper)}({', '.join(self.value(a) for a in e.args)})"
        if e.name in AGGREGATES:
            raise self.error(f"aggregate function {e.name}() is not allowed here", e)
        if e.name == "cast":
            return self._cast(e)
        fn = FUNCTIONS.get(e.name)
        if fn is None:
            if e.name in ("first", "last", "window"):  # h-erefuse: Esper's, named
                raise self.error(f"unsupported construct: the aggregation function {e.name}() (supported: "
                                 "count, sum, avg, min, max, median, stddev, avedev)", e)
            raise self.error(f"unknown function {e.name}() (known: "
                             f"{', '.join(sorted(f for f in FUNCTIONS if f.isprintable()))}; Esper's "
                             "user-defined functions and mapped properties m('key') are not supported)", e)
        helper, lo, hi = fn
        if e.star or not lo <= len(e.args) <= hi:
            raise self.error(f"{e.name}() takes {lo}..{hi} arguments", e)
        if helper is _coalesce:
            return self._coalesce(e.args)
        return f"{self.const(helper)}({', '.join(self.value(a) for a in e.args)})"

    def _value_ops(self, e: A.Expr) -> str:
        if isinstance(e, A.Neg):
            first, later = self._tmp(self.value(e.item))
            if _LITERAL.match(first):
                return f"(-{first})"
            return f"(None if {first} is None else -{later})"
        if isinstance(e, A.BinOp) and e.op in "+-*/%":
            lf, ll = self._tmp(self.value(e.left))
            rf, rl = self._tmp(self.value(e.right))
            op = e.op
            if lf == "None" or rf == "None":
                return "None"
            for side in (e.left, e.right):
                if isinstance(side, A.Literal) and not isinstance(side.value, (int, float)) \
                        or isinstance(side, A.Literal) and isinstance(side.value, bool):
                    raise self.error(f"arithmetic '{op}' needs numbers, not {side.text or repr(side.value)} "
                                     "(Esper has no text or boolean arithmetic)", side)
            checks = [f"{c} is None" for c in (lf, rf) if not _LITERAL.match(c)]
            divisor = e.right.value if isinstance(e.right, A.Literal) else None
            literal_divisor = divisor.__class__ in (int, float) and divisor != 0
            if op == "%" and literal_divisor and divisor.__class__ is int and divisor > 0 \
                    and not _LITERAL.match(ll):
                # Java's remainder is Python's for an int dividend >= 0 and a positive divisor:
                # the flag tests (tcpControlBits % 4 >= 2) of every record skip the helper call
                expr = f"({ll} % {rl} if {ll}.__class__ is int and {ll} >= 0 else {self.const(_java_mod)}({ll}, {rl}))"
            elif op == "%":
                expr = f"{self.const(_java_mod)}({ll}, {rl})"
            elif op == "/" and not literal_divisor:
                # by zero: Infinity or NaN, as Esper's division of doubles gives
                expr = f"({ll} / {rl} if {rl} != 0 else {self.const(_div_by_zero)}({ll}, {rl}))"
            else:
                expr = f"{ll} {op} {rl}"
            if op in "+*" and not any(isinstance(x, A.Literal) and (op == "+" or isinstance(x.value, float))
                                      for x in (e.left, e.right)):
                # Python's + joins text (and lists) and * repeats them; Esper's arithmetic is numeric
                # only: "- 0" makes such a result fail (the row's value is then null) and costs one
                # subtraction, against two class checks per row (-0.0 - 0 stays -0.0)
                expr = f"({expr}) - 0"
            if not checks:
                return f"({expr})"
            return f"(None if {' or '.join(checks)} else {expr})"
        # a boolean used as a value: TRUE/FALSE/null
        t, f = self.true(e), self.false(e)
        return f"(True if {t} else False if {f} else None)"

    def _coalesce(self, args: Sequence[A.Expr]) -> str:
        """``coalesce(a, b, ...)`` as one conditional expression: per record it costs a test
        or two instead of a helper call (coalesce of the IPv4 and IPv6 address elements is a
        group key of every multistage statement). Like Esper's coalesce node, arguments after
        the first non-null one are not evaluated."""
        code = self.value(args[-1])
        for a in reversed(args[:-1]):
            first, later = self._tmp(self.value(a))
            if first == "None":
                continue
            if _LITERAL.match(first):  # never null: what follows it is never reached
                code = first
                continue
            code = f"({later} if {first} is not None else {code})"
        return code

    def _cast(self, e: A.Call) -> str:
        if len(e.args) != 2 or not isinstance(e.args[1], A.Prop):
            raise self.error("cast takes a value and a type: cast(x, int)", e)
        tname = ".".join(e.args[1].parts).lower()
        conv = _CASTS.get(tname)
        if conv is None:
            raise self.error(f"cast to {tname!r}: unsupported type (known: {', '.join(sorted(_CASTS))})", e)
        return f"{self.const(conv)}({self.value(e.args[0])})"

    # -- three-valued logic ----------------------------------------------------------------------
    def true(self, e: A.Expr) -> str:
        return self._truth(e, True)

    def false(self, e: A.Expr) -> str:
        return self._truth(e, False)

    def _truth(self, e: A.Expr, want: bool) -> str:
        if isinstance(e, A.BoolOp):
            parts = [self._truth(i, want) for i in e.items]
            joiner = " and " if (e.op == "and") == want else " or "
            return "(" + joiner.join(parts) + ")"
        if isinstance(e, A.Not):
            return self._truth(e.item, not want)
        if isinstance(e, A.Literal):
            if e.value is None:
                return "False"
            return repr(bool(e.value) == want)
        if isinstance(e, A.BinOp) and e.op in ("==", "!=", "<", "<=", ">", ">="):
            fast = self._flag_test(e, want)
            return fast if fast is not None else self._general_comparison(e, want)
        if isinstance(e, A.IsNull):
            first, _ = self._tmp(self.value(e.item))
            is_null = want != e.negate
            return f"({first} is None)" if is_null else f"({first} is not None)"
        if isinstance(e, A.Like):
            return self._like(e, want)
        if isinstance(e, A.In):
            if not e.options:
                raise self.error("IN needs at least one value", e)
            first, later = self._tmp(self.value(e.item))
            if all(isinstance(o, A.Literal) and o.value is not None for o in e.options):
                options = self.const(frozenset(o.value for o in e.options))  # type: ignore[attr-defined]
                member = f"{later} in {options}"
                if want == e.negate:
                    member = f"not ({member})"
                return f"({first} is not None and {member})"
            # Esper (ExprCoreInBetween, ExprCoreInStringExpr): a null among the values makes
            # "no match" unknown, so `x in (1, null)` is true or null, never false, and
            # `x not in (1, null)` false or null
            opts = ", ".join(self.value(o) for o in e.options)
            verdict = f"{self.const(_in3)}({first}, ({opts},))"
            return f"({verdict} is {want != e.negate})"
        if isinstance(e, A.Between):
            # Esper accepts the two endpoints in either order (between 5 and 1 = between 1 and 5)
            low, high = e.low, e.high
            constant = isinstance(low, A.Literal) and isinstance(high, A.Literal)
            if constant and _ordered_desc(low, high):
                low, high = high, low
            first, later = self._tmp(self.value(e.item))
            lf, ll = self._tmp(self.value(low))
            hf, hl = self._tmp(self.value(high))
            inside = f"{ll} <= {later} <= {hl}"
            if not constant:
                inside = f"({inside} or {hl} <= {later} <= {ll})"
            if e.negate:
                inside = f"not ({inside})"
            checks = [f"{c} is not None" for c in (first, lf, hf) if not _LITERAL.match(c)]
            # Esper (ExprCoreInBetween.ExprCoreBetweenNumericExpr): a null value or endpoint
            # makes both `between` and `not between` false, never null
            if "None" in (first, lf, hf):
                return "False" if want else "True"
            test = f"({' and '.join(checks + [inside])})"
            return test if want else f"(not {test})"
        # any other value used as a condition
        first, later = self._tmp(self.value(e))
        return f"({first} is not None and {'' if want else 'not '}{later})"

    def _general_comparison(self, e: A.BinOp, want: bool) -> str:
        """A comparison in three-valued logic: never true (nor false) when a side is null."""
        lf, ll = self._tmp(self.value(e.left))
        rf, rl = self._tmp(self.value(e.right))
        cmp = f"{ll} {e.op} {rl}"
        if not want:
            cmp = f"not ({cmp})"
        if lf == "None" or rf == "None":
            return "False"  # comparing with the null literal is never true nor false
        checks = [f"{c} is not None" for c in (lf, rf) if not _LITERAL.match(c)]
        if want and e.op == "==" and len(checks) == 1:
            # `x = 6` is never true for a null x and `None == 6` is False in Python too:
            # the null test before it is dropped (per record, in every WHERE on a protocol)
            return f"({lf} == {rf})"
        return f"({' and '.join(checks + [cmp])})"

    def _flag_test(self, e: A.BinOp, want: bool) -> str | None:
        """``x % 4 >= 2`` (a flag bit: the engine has no bitwise AND) for a variable ``x``
        and literals: an int ``x >= 0`` compares its remainder directly; anything else (null,
        negative, float, text) takes the general code, kept as the ``else`` branch. Per
        record this skips the remainder's null test and temporary (multistage tests up to
        eight flag bits per TCP flow); the result is the general code's in every case."""
        mod, lit, op = e.left, e.right, e.op
        if isinstance(lit, A.BinOp) and isinstance(mod, A.Literal):
            mod, lit, op = lit, mod, _MIRROR[op]
        if not (isinstance(mod, A.BinOp) and mod.op == "%" and isinstance(lit, A.Literal)
                and lit.value.__class__ is int and isinstance(mod.right, A.Literal)
                and mod.right.value.__class__ is int and mod.right.value > 0):
            return None
        x = self.value(mod.left)
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", x) or x in ("None", "True", "False"):
            return None
        cmp = f"{x} % {mod.right.value!r} {op} {lit.value!r}"
        general = self._general_comparison(e, want)
        return f"(({cmp if want else f'not ({cmp})'}) if {x}.__class__ is int and {x} >= 0 else {general})"

    def _like(self, e: A.Like, want: bool) -> str:
        first, later = self._tmp(self.value(e.item))
        positive = want != e.negate
        if isinstance(e.pattern, A.Literal) and isinstance(e.pattern.value, str):
            # Esper matches a number against its text (ExprCoreLikeRegexp: 100 like '1%')
            if not self.strict_text and not (isinstance(e.item, A.Literal) and isinstance(e.item.value, str)):
                self._n += 1
                text = f"_t{self._n}"
                first = (f"({text} := ({later} if ({first}).__class__ is str else "
                         f"{self.const(_text_or_none)}({later})))")
                later = text
            p = e.pattern.value
            if e.regexp:
                rx = self.const(compile_regexp(p, self.filename, e.pattern.pos))
                test = f"{rx}.fullmatch({later}) is not None"  # Esper: Matcher.matches()
            elif "_" not in p and "\\" not in p and "%" not in p.strip("%"):
                body = p.strip("%")
                lead, trail = p.startswith("%") and len(p) > 0, p.endswith("%") and len(p) > 0
                b = self.const(body)
                exact = f"({later} + '')" if self.strict_text else later  # + '' raises on a non-text
                if not p:
                    test = f"{exact} == ''"
                elif lead and trail:
                    test = f"{b} in {later}"
                elif lead:
                    test = f"{later}.endswith({b})"
                elif trail:
                    test = f"{later}.startswith({b})"
                else:
                    test = f"{exact} == {b}"
            else:
                rx = self.const(like_to_regex(p))
                test = f"{rx}.fullmatch({later}) is not None"
        else:
            pf, pl = self._tmp(self.value(e.pattern))
            helper = self.const(_regex_match if e.regexp else _like_match)
            test = f"({pf} is not None and {helper}({later}, {pl}))"
            if not positive:
                return f"({first} is not None and {pf} is not None and not {helper}({later}, {pl}))"
        if not positive:
            test = f"not ({test})"
        return f"({first} is not None and {test})"


_LIKE_CACHE: dict[str, re.Pattern[str]] = {}
_REGEXP_CACHE_MAX = 256  # patterns computed from events: compiled ones kept, bounded


def _text_or_none(x: Any) -> str | None:
    return None if x is None else java_text(x)


def _like_match(value: Any, pattern: str) -> bool:
    rx = _LIKE_CACHE.get(pattern)
    if rx is None:
        if len(_LIKE_CACHE) >= _REGEXP_CACHE_MAX:
            _LIKE_CACHE.clear()
        rx = _LIKE_CACHE[pattern] = like_to_regex(pattern)
    return rx.fullmatch(java_text(value)) is not None


_REGEXP_CACHE: dict[str, Any] = {}


def _re2_options() -> Any:
    opts = re2.Options()
    opts.log_errors = False  # the error is raised (compile time) or is a non-match (runtime)
    # Java's Pattern.compile without DOTALL, as Esper compiles a regexp: '.' does not match a
    # newline (Java also excludes \r, U+0085, U+2028 and U+2029; RE2 only \n)
    opts.dot_nl = False
    return opts


_RE2_OPTIONS = _re2_options()


def compile_regexp(pattern: str, filename: str = "<epl>", pos: A.Pos | None = None) -> Any:
    """A ``regexp`` pattern compiled with RE2, whose matching time is linear in the input.

    Python's and Java's backtracking engines take exponential time on patterns such as
    ``(a+)+b`` (measured: 2 s for a 24-character value with ``re``, 40 µs with RE2), so a
    flow field under an attacker's control could stall the engine. RE2 refuses the few
    constructs that need backtracking (backreferences, lookaround): a compile-time error.
    """
    try:
        return re2.compile(pattern, _RE2_OPTIONS)
    except re2.error as exc:
        why = exc.args[0].decode() if exc.args and isinstance(exc.args[0], bytes) else str(exc)
        raise EPLError(f"regexp {pattern!r}: {why} (regexp runs in linear time with RE2, which has "
                       "no backreferences or lookaround; rewrite the pattern without them)", filename,
                       pos.line if pos and pos.line else None, pos.column if pos and pos.line else None) from None


def _regex_match(value: Any, pattern: str) -> bool:
    """Esper's ``regexp`` is Java's ``Matcher.matches()``: the whole string must match."""
    rx = _REGEXP_CACHE.get(pattern)
    if rx is None:
        if len(_REGEXP_CACHE) >= _REGEXP_CACHE_MAX:
            _REGEXP_CACHE.clear()
        rx = _REGEXP_CACHE[pattern] = re2.compile(pattern, _RE2_OPTIONS)
    return rx.fullmatch(java_text(value)) is not None


def build(src: str, name: str, consts: Mapping[str, Any]) -> Callable[..., Any]:
    """``compile()`` generated source defining ``name`` and return that function.

    A constant operand gives source such as ``'abc' is not None`` (``'abc' regexp 'b'``), right
    but flagged by Python's SyntaxWarning: the warning would reach the user's stderr about code
    they never wrote, so it is silenced here, for our generated source only."""
    namespace: dict[str, Any] = dict(consts)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SyntaxWarning)
        code = compile(src, f"<epl:{name}>", "exec")
    exec(code, namespace)  # noqa: S102 - our own generated code, no user text is executed
    fn = namespace[name]
    fn.__source__ = src
    return cast("Callable[..., Any]", fn)


class _ColumnResolver:
    """Maps properties to column variables ``v0, v1...`` over the columns they read."""

    def __init__(self, key_of: Callable[[A.Prop], str]) -> None:
        self.key_of = key_of
        self.keys: list[str] = []
        #: indices of the columns resolved since the caller last reset it
        self.touched: set[int] = set()

    def __call__(self, p: A.Prop) -> str:
        key = self.key_of(p)
        if key not in self.keys:
            self.keys.append(key)
        j = self.keys.index(key)
        self.touched.add(j)
        return f"v{j}"

    def prologue(self, raw: bool = False) -> str:
        """Code binding ``c0, c1...`` to the columns (a missing one as nulls); with ``raw``
        also ``r0, r1...`` to the columns as found (None where the batch lacks one)."""
        lines = []
        for j, k in enumerate(self.keys):
            if raw:
                lines.append(f"    r{j} = c{j} = cols.get({k!r})\n    if c{j} is None: c{j} = [None] * n\n")
            else:
                lines.append(f"    c{j} = cols.get({k!r})\n    if c{j} is None: c{j} = [None] * n\n")
        return "".join(lines)

    def loop(self) -> str:
        if len(self.keys) == 1:
            return "v0 in c0"
        return "(" + ", ".join(f"v{j}" for j in range(len(self.keys))) + ",) in zip(" + \
            ", ".join(f"c{j}" for j in range(len(self.keys))) + ")"


def _holding(n: int, *cols: Sequence[Any] | None) -> list[Sequence[Any]]:
    """The columns that hold a non-null value (once per batch: the first value settles it for
    a column of values, ``count`` in C for a column of nulls)."""
    return [c for c in cols if c is not None and n and (
        c[0] is not None or c.__class__ not in (list, tuple) or c.count(None) != n)]


def _loop(used: Sequence[int]) -> str:
    """``targets in iterable`` of a comprehension over the columns ``used`` only."""
    if len(used) == 1:
        return f"v{used[0]} in c{used[0]}"
    return ("(" + ", ".join(f"v{u}" for u in used) + ",) in zip("
            + ", ".join(f"c{u}" for u in used) + ")")


ColumnFilter = Callable[[Mapping[str, list[Any]], int], list[int]]


def compile_column_filter(expr: A.Expr, key_of: Callable[[A.Prop], str], filename: str) -> ColumnFilter:
    """WHERE over a batch's columns -> ``f(cols, n) -> indices of matching records``.

    Values of an unexpected type (comparing text with a number) make that record's
    condition null, as a failed conversion would in Esper: the fast comprehension is retried
    record by record only when such a TypeError happens.
    """
    res = _ColumnResolver(key_of)
    gen = CodeGen(filename, res)
    cond = gen.true(expr)
    if not res.keys:
        src = f"def _filter(cols, n):\n    return list(range(n)) if {cond} else []\n"
        return build(src, "_filter", gen.consts)
    gen.strict_text = True
    fast_cond = gen.true(expr)
    loop = res.loop()
    src = (
        "def _fast(cols, n):\n" + res.prologue()
        + f"    return [i for i, {loop.split(' in ', 1)[0]} in enumerate("
        + (loop.split(" in ", 1)[1]) + f") if {fast_cond}]\n"
        + "def _slow(cols, n):\n" + res.prologue()
        + "    out = []\n"
        + f"    for i, {loop.split(' in ', 1)[0]} in enumerate(" + loop.split(" in ", 1)[1] + "):\n"
        + f"        try:\n            if {cond}: out.append(i)\n"
        + "        except (TypeError, ValueError, AttributeError, ArithmeticError):\n            pass\n"
        + "    return out\n"
        + "def _filter(cols, n):\n    try:\n        return _fast(cols, n)\n"
        + "    except (TypeError, ValueError, AttributeError, ArithmeticError):\n        return _slow(cols, n)\n"
    )
    generated = build(src, "_filter", gen.consts)
    vector = compile_vector_filter(expr, key_of)
    if vector is None:
        return generated

    def _filter(cols: Mapping[str, list[Any]], n: int) -> list[int]:
        # integer columns: numpy masks (vectorwhere), the same positions; else the generated code
        if n >= VECTOR_MIN_RECORDS:
            got = vector(cols, n)
            if got is not None:
                return got
        return cast("list[int]", generated(cols, n))

    _filter.__source__ = src  # type: ignore[attr-defined]
    _filter.generated = generated  # type: ignore[attr-defined]
    _filter.vector = vector  # type: ignore[attr-defined]
    _filter.vector_keys = vector.keys  # type: ignore[attr-defined]
    _filter.vector_positions = vector.positions  # type: ignore[attr-defined]
    return _filter


ColumnValues = Callable[[Mapping[str, list[Any]], int], list[list[Any]]]


def compile_column_values(exprs: Sequence[A.Expr], key_of: Callable[[A.Prop], str],
                          filename: str) -> ColumnValues:
    """Expressions over a batch's columns -> ``f(cols, n) -> one value list per expression``.

    A bare property is returned as its column (no copy); errors in a record give null.
    """
    res = _ColumnResolver(key_of)
    gen = CodeGen(filename, res)
    row_codes = [gen.value(e) for e in exprs]
    gen.strict_text = True
    codes = []
    reads: list[list[int]] = []  # per expression, the columns it reads, so each loop zips only those
    for e in exprs:
        res.touched = set()
        codes.append(gen.value(e))
        reads.append(sorted(res.touched))
    prologue = res.prologue(raw=True)
    body = []
    for j, (e, code, used) in enumerate(zip(exprs, codes, reads, strict=True)):
        m = re.fullmatch(r"v(\d+)", code)
        if m:
            body.append(f"    o{j} = c{m.group(1)}\n")
        elif not used:
            body.append(f"    o{j} = [{code}] * n\n")
        else:
            loop = _loop(used)
            comp = f"[{code} for {loop}]"
            if isinstance(e, A.Call) and e.name == "coalesce" and all(isinstance(a, A.Prop) for a in e.args):
                # coalesce of columns: where only one of them holds values (a template with
                # IPv4 addresses has no IPv6 columns; a window fills them with nulls) the
                # result is that column, uncopied
                gen.consts["_holding"] = _holding
                comp = (f"(_h[0] if len(_h := _holding(n, {', '.join(f'r{u}' for u in used)})) == 1 "
                        f"else c{used[0]} if not _h else {comp})")
            body.append(f"    o{j} = {comp}\n")
    src = ("def _values(cols, n):\n" + prologue + "".join(body)
           + "    return [" + ", ".join(f"o{j}" for j in range(len(codes))) + "]\n")
    fast = build(src, "_values", gen.consts)

    def slow(cols: Mapping[str, list[Any]], n: int) -> list[list[Any]]:
        # record-by-record with errors as null, only used after the fast path failed
        getters = [cols.get(k) or [None] * n for k in res.keys]
        fns = [build(f"def _v({', '.join(f'v{j}' for j in range(len(res.keys)))}):\n    return {c}\n",
                     "_v", gen.consts) for c in row_codes]
        out: list[list[Any]] = [[] for _ in fns]
        for i in range(n):
            args = [g[i] for g in getters]
            for j, fn in enumerate(fns):
                try:
                    out[j].append(fn(*args))
                except (TypeError, ValueError, AttributeError, ArithmeticError):
                    out[j].append(None)
        return out

    def values(cols: Mapping[str, list[Any]], n: int) -> list[list[Any]]:
        try:
            return cast("list[list[Any]]", fast(cols, n))
        except (TypeError, ValueError, AttributeError, ArithmeticError):
            return slow(cols, n)

    return values


def compile_filtered_keys(where: A.Expr, exprs: Sequence[A.Expr], key_of: Callable[[A.Prop], str],
                          filename: str) -> Callable[..., tuple[int, list[Sequence[Any]]]]:
    """WHERE and GROUP BY over a batch's columns -> ``(m, key columns)``: how many records
    WHERE passes and the GROUP BY values of those records, one column per expression.

    A counting time batch needs nothing else of its events. The passing records' key columns
    are picked with one ``itemgetter`` per column (bare properties are not copied when every
    record passes) so the window can count ``zip(*columns)`` as a stream: no list holding a key
    tuple per record is built (a batch of such tuples set off the cyclic GC several times).
    Errors in WHERE or in a key make that record's condition or value null, as in the filter
    and values functions this is made of."""
    where_f = compile_column_filter(where, key_of, filename)
    values_f = compile_column_values(exprs, key_of, filename)
    res = _ColumnResolver(key_of)
    gen = CodeGen(filename, res)
    for e in exprs:
        gen.value(e)
    read = tuple(res.keys)

    def keys(cols: Mapping[str, list[Any]], n: int, idx: list[int] | None = None) -> tuple[int, list[Sequence[Any]]]:
        if idx is None:  # else the positions WHERE passes, found for the whole batch (Events.sel)
            idx = where_f(cols, n)
        m = len(idx)
        if m == 0:
            return 0, []
        sub: Mapping[str, Any] = cols
        if m < n:
            if m == 1:
                i = idx[0]
                sub = {k: [c[i]] for k in read if (c := cols.get(k)) is not None}
            else:
                get = itemgetter(*idx)
                sub = {k: get(c) for k in read if (c := cols.get(k)) is not None}
        return m, list(values_f(sub, m))

    return keys


def compile_row_function(args: Sequence[str], body_code: str, consts: Mapping[str, Any]) -> Callable[..., Any]:
    """``def f(*args): return <body>``, with errors in the body giving None."""
    src = (f"def _f({', '.join(args)}):\n    try:\n        return {body_code}\n"
           "    except (TypeError, ValueError, AttributeError, ArithmeticError):\n        return None\n")
    return build(src, "_f", consts)
