"""WHERE over whole integer columns with numpy masks, for the conditions where that is provably
the record-by-record code's result.

Why: a WHERE such as multistage's flag tests (``tcpControlBits % 4 >= 2 AND ...``) costs about
100 ns per record as a Python comprehension, while the same test over numpy arrays costs a few
ns per record. The generated comprehension (``expressions.compile_column_filter``) stays the
reference and the fallback: this module only claims a condition made of

* ``and``, ``or``, ``not``, the literals true/false/null,
* ``x is [not] null``,
* comparisons (``= != < <= > >=``) of an integer term with an integer literal (either side),
  where a term is a property or a property ``%`` a positive integer literal,

and only for a batch whose columns it reads hold integers, booleans (0/1 in the generated
code's arithmetic and comparisons too) and nulls only: a decoder's integer arrays, or a list
whose value types are checked. Anything else (text, doubles, values outside 64 bits, other
operators) returns None and the caller runs the generated code, so the result is always the
same list of record positions, in order.

Three-valued logic: each condition gives the mask of the records where it has the truth value
asked for, true or false, as the generated code does: a comparison with a null side is neither,
``not`` asks for the other value, ``and``/``or`` exchange when false is asked for (De Morgan);
the filter keeps the records where the whole condition is true. None of these operators has
side effects or can raise on integers, so evaluating every operand (no short circuit) gives
the same answer. ``%`` is Java's remainder (the dividend's
sign), which ``numpy.fmod`` computes for integers.

Columns a batch holds as decoder arrays (``records.Columns.arrays``) are read without making
their lists. Inside a :func:`scope` (the runtime opens one around each batch, in its thread)
conversions are kept, keyed by the list object (held, so its id cannot be reused; column lists
are never changed in place) and shared by every statement reading the same column:
:func:`prepare` converts a statement's WHERE columns of the whole arriving batch once (the
decoder's arrays as they are, when the column is still held so). The runtime then evaluates a
batch window's WHERE once for the whole arriving batch and each segment it cuts between timers
takes its part of the positions (``windows.Events.sel``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, cast

from ..records import VALUES, Columns
from . import ast as A

__all__ = ["compile_vector_filter", "scope", "prepare", "MIN_RECORDS", "MIN_LEAVES", "MAX_LIST_CONVERSIONS"]

#: below this many records the generated comprehension is as cheap as numpy's per-call overhead
MIN_RECORDS = 256

_INT64_MIN, _INT64_MAX = -(2 ** 63), 2 ** 63 - 1

#: (values as int64, or None when every value is null; the mask of the non-null values, or None
#: when no value is null)
Column = tuple[Any, Any]

_local = threading.local()


@contextmanager
def scope() -> Iterator[None]:
    """Keep list conversions for the duration of one batch in this thread (then let go)."""
    outer = getattr(_local, "cache", None)
    if outer is not None:  # nested (a statement feeding another): one scope is enough
        yield
        return
    _local.cache = {}
    try:
        yield
    finally:
        _local.cache = None


#: fewest comparisons and null tests a condition must have to take the numpy path: one
#: comparison (module 11's ``packetDeltaCount < 10``) costs the generated code about 25 ns a
#: record, no more than numpy's positions, their list and the per-batch bookkeeping (module 11's
#: engine measured 0.92-0.96 of the generated code's speed with it); multistage's scan WHEREs
#: (4 and 15) took 0.28 and 0.50 of the time.
MIN_LEAVES = 3

#: how many list columns (not a decoder's arrays, not converted yet in this batch) one
#: statement's WHERE may convert. Converting a list costs 20-60 ns a value, while the generated
#: code stops at the first false conjunct (a UDP record fails multistage's ``protocol = 6`` in
#: about 30 ns): measured on bench_detectors' batches of lists, three conversions made the
#: multistage detector 0.97 of the generated code's speed; in ``flowcep run`` the protocol and
#: packet counts are decoder arrays and the TCP flags the one list (shared by two statements).
MAX_LIST_CONVERSIONS = 1


def prepare(cols: Mapping[str, Any], keys: Sequence[str], n: int) -> None:
    """Convert the columns ``keys`` of a whole arriving batch once (a decoder's arrays read as
    they are, before their lists are made here), for every statement of this batch whose
    WHERE reads them (the two multistage scan statements share the TCP flags); lists only
    within :data:`MAX_LIST_CONVERSIONS`."""
    cache = getattr(_local, "cache", None)
    if cache is None or n < MIN_RECORDS:
        return
    lists = []
    for k in keys:
        parts = cols.arrays(k) if isinstance(cols, Columns) else None
        values = cols.get(k)  # the list the statement's window keeps, made now
        if values is None or len(values) != n or id(values) in cache:
            continue
        col = _from_parts(parts, n) if parts is not None else None
        if col is not None:
            cache[id(values)] = (values, col)
        else:
            lists.append(values)
    if len(lists) <= MAX_LIST_CONVERSIONS:
        for values in lists:
            cache[id(values)] = (values, _from_list(values))


def _from_parts(parts: Sequence[Any], n: int) -> Column | None:
    """A column a decoder holds as several numpy parts (``records.Columns.arrays``: one per
    template, a count of records lacking the element for a template without it) as one
    array and its non-null mask, making no list; None for parts of another encoding."""
    import numpy as np

    chunks, masks = [], []
    size = 0
    for values, _make, enc in parts:
        if values.__class__ is int:
            chunks.append(np.zeros(values, dtype=np.int64))
            masks.append(np.zeros(values, dtype=bool))
            size += values
            continue
        if enc != VALUES or values.ndim != 1 or values.dtype.kind not in "uib":
            return None
        col = _from_array(values)
        if col is None:
            return None
        chunks.append(col[0])
        masks.append(np.ones(len(values), dtype=bool))
        size += len(values)
    if size != n:
        return None
    if not chunks:
        return None, None
    known = np.concatenate(masks)
    if known.all():
        return np.concatenate(chunks), None
    if not known.any():
        return None, None
    return np.concatenate(chunks), known


def _from_array(arr: Any) -> Column | None:
    import numpy as np

    kind = arr.dtype.kind
    if kind == "u" and arr.dtype.itemsize == 8:
        if len(arr) and int(arr.max()) > _INT64_MAX:
            return None
        return arr.astype(np.int64), None
    if kind in "uib":
        return (arr if arr.dtype == np.int64 else arr.astype(np.int64)), None
    return None


#: the types a list column may hold for the numpy path (a boolean is 0/1 in the generated code's
#: remainders and comparisons too)
_INTEGRAL = frozenset({int, bool, type(None)})


def _from_list(values: list[Any]) -> Column | None:
    """The integers of a list column and where it is null; None when it holds anything else
    (text, doubles, lists, integers beyond 64 bits, or beyond 2**53 beside nulls)."""
    import numpy as np

    n = len(values)
    nulls = values.count(None)
    if nulls == n:
        return None, None  # a column of nulls (absent from the batch)
    if not nulls:
        try:
            arr = np.array(values)
        except (ValueError, TypeError, OverflowError):  # ragged lists and the like
            return None
        return _from_array(arr) if arr.ndim == 1 and arr.dtype.kind in "uib" else None
    # with nulls: the types checked first (float() would read text), then one C conversion
    # in which a null is NaN; integers beyond 2**53 are not exact as doubles: declined
    if not set(map(type, values)) <= _INTEGRAL:
        return None
    try:
        f = np.array(values, dtype=np.float64)
    except (ValueError, TypeError, OverflowError):
        return None
    known = ~np.isnan(f)
    f[~known] = 0.0
    if float(np.abs(f).max()) >= 2.0 ** 53:
        return None
    return f.astype(np.int64), known


#: :func:`_column`'s answer for a list not converted yet
_PENDING: Any = object()


def _column(cols: Mapping[str, Any], key: str, n: int) -> Any:
    """The column as (values, known), None when it cannot be read so, or :data:`_PENDING`
    with the list when it must be converted first."""
    if isinstance(cols, Columns):  # a decoder's arrays (kept after the list is made)
        parts = cols.arrays(key)
        if parts is not None:
            col = _from_parts(parts, n)
            if col is not None:
                return col
    values = cols.get(key)
    if values is None:
        return None, None  # the batch lacks the column: every value is null
    if len(values) != n:
        return None
    cache = getattr(_local, "cache", None)
    if cache is not None:
        hit = cache.get(id(values))
        if hit is not None and hit[0] is values:
            return hit[1]
    if values and values[0] is None and values.count(None) == n:
        return None, None  # nulls throughout (a column the window filled for absent records)
    return _PENDING, values


def _convert(values: list[Any]) -> Column | None:
    col = _from_list(values)
    cache = getattr(_local, "cache", None)
    if cache is not None:
        cache[id(values)] = (values, col)
    return col


#: a term's values for this batch: (the columns, a memo of the terms computed in this call)
Term = Callable[[list[Column], dict[int, Column]], Column]
#: a condition's mask (or a bool for every record) for the wanted truth value
Cond = Callable[[list[Column], dict[int, Column]], Any]

_OPS = {"==": "__eq__", "!=": "__ne__", "<": "__lt__", "<=": "__le__", ">": "__gt__", ">=": "__ge__"}
_NEGATED = {"==": "!=", "!=": "==", "<": ">=", "<=": ">", ">": "<=", ">=": "<"}
_MIRROR = {"==": "==", "!=": "!=", "<": ">", "<=": ">=", ">": "<", ">=": "<="}


def _int_literal(e: A.Expr) -> int | None:
    if isinstance(e, A.Literal) and e.value.__class__ is int and _INT64_MIN <= e.value <= _INT64_MAX:
        return int(e.value)
    return None


def _and(a: Any, b: Any) -> Any:
    if a.__class__ is bool:
        return b if a else False
    if b.__class__ is bool:
        return a if b else False
    return a & b


def _or(a: Any, b: Any) -> Any:
    if a.__class__ is bool:
        return True if a else b
    if b.__class__ is bool:
        return True if b else a
    return a | b


class _Compiler:
    """EPL condition -> a function giving the mask of the records where the condition has the
    wanted truth value (true, or false: three-valued logic needs both, as ``CodeGen._truth``
    generates them): ``not`` asks its operand for the other value, ``and``/``or`` swap when
    false is wanted (De Morgan), a comparison is that value where no side is null."""

    def __init__(self, key_of: Callable[[A.Prop], str]) -> None:
        self.key_of = key_of
        self.keys: list[str] = []
        self._terms = 0
        #: comparisons and null tests claimed (MIN_LEAVES)
        self.leaves = 0

    def term(self, e: A.Expr) -> Term | None:
        if isinstance(e, A.Prop):
            key = self.key_of(e)
            if key not in self.keys:
                self.keys.append(key)
            j = self.keys.index(key)

            def column(cols: list[Column], memo: dict[int, Column], j: int = j) -> Column:
                return cols[j]

            return column
        if isinstance(e, A.BinOp) and e.op == "%":
            d = _int_literal(e.right)
            inner = self.term(e.left)
            if d is None or d <= 0 or inner is None:
                return None
            self._terms += 1
            slot = self._terms  # the same remainder (f % 4) is computed once per call

            def mod(cols: list[Column], memo: dict[int, Column], inner: Term = inner, d: int = d,
                    slot: int = slot, text: str = e.text) -> Column:
                got = memo.get(slot)
                if got is None:
                    import numpy as np

                    vals, known = inner(cols, memo)
                    got = memo[slot] = ((None if vals is None else np.fmod(vals, d)), known)
                return got

            return mod
        return None

    def cond(self, e: A.Expr, want: bool = True) -> Cond | None:
        if isinstance(e, A.BoolOp):
            parts = [self.cond(i, want) for i in e.items]
            if any(p is None for p in parts):
                return None
            join = _and if (e.op == "and") == want else _or

            def boolop(cols: list[Column], memo: dict[int, Column], parts: list[Cond] = parts,  # type: ignore[assignment]
                       join: Callable[[Any, Any], Any] = join) -> Any:
                m = parts[0](cols, memo)
                for p in parts[1:]:
                    m = join(m, p(cols, memo))
                return m

            return boolop
        if isinstance(e, A.Not):
            return self.cond(e.item, not want)
        if isinstance(e, A.Literal):
            if e.value is None:
                v = False  # null is neither true nor false
            elif e.value.__class__ is bool:
                v = bool(e.value) == want
            else:
                return None

            def literal(cols: list[Column], memo: dict[int, Column], v: bool = v) -> Any:
                return v

            return literal
        if isinstance(e, A.IsNull):
            term = self.term(e.item)
            if term is None:
                return None
            is_null = want != e.negate
            self.leaves += 1

            def isnull(cols: list[Column], memo: dict[int, Column], term: Term = term,
                       is_null: bool = is_null) -> Any:
                vals, known = term(cols, memo)
                if vals is None:  # every value null
                    return is_null
                if known is None:  # no value null
                    return not is_null
                return ~known if is_null else known

            return isnull
        if isinstance(e, A.BinOp) and e.op in _OPS:
            left, right, op = e.left, e.right, e.op
            lit = _int_literal(right)
            if lit is None:
                lit = _int_literal(left)
                left, op = right, _MIRROR[op]
            term = self.term(left) if lit is not None else None
            if term is None or lit is None:
                return None
            method = _OPS[op if want else _NEGATED[op]]
            self.leaves += 1

            def compare(cols: list[Column], memo: dict[int, Column], term: Term = term, lit: int = lit,
                        method: str = method) -> Any:
                vals, known = term(cols, memo)
                if vals is None:  # every value null: neither true nor false
                    return False
                hit = getattr(vals, method)(lit)
                return hit if known is None else hit & known

            return compare
        return None


def compile_vector_filter(expr: A.Expr, key_of: Callable[[A.Prop], str]) -> Callable[[Mapping[str, Any], int], list[int] | None] | None:
    """``f(cols, n)`` -> the positions of the records where ``expr`` is true, computed with
    numpy masks, or None when this batch's columns are not all integer (the caller then runs
    the generated code); None instead of a function when ``expr`` has a form not claimed here
    (module docstring)."""
    comp = _Compiler(key_of)
    try:
        cond = comp.cond(expr)
    except Exception:  # noqa: BLE001 - a property the resolver refuses: the generated code reports it
        return None
    if cond is None or not comp.keys or comp.leaves < MIN_LEAVES:
        return None
    keys = tuple(comp.keys)

    def positions(cols: Mapping[str, Any], n: int) -> Any:
        """The positions as a numpy integer array, or None (not all integer columns)."""
        import numpy as np

        columns: list[Any] = []
        pending: list[int] = []
        for k in keys:
            col = _column(cols, k, n)
            if col is None:
                return None
            if col[0] is _PENDING:
                pending.append(len(columns))
            columns.append(col)
        if len(pending) > MAX_LIST_CONVERSIONS:
            return None  # the generated code is cheaper (MAX_LIST_CONVERSIONS)
        for j in pending:
            col = _convert(columns[j][1])
            if col is None:
                return None
            columns[j] = col
        t = cond(columns, {})
        if t.__class__ is bool:
            return np.arange(n) if t else np.arange(0)
        return np.flatnonzero(t)

    def vector(cols: Mapping[str, Any], n: int) -> list[int] | None:
        pos = positions(cols, n)
        return None if pos is None else cast("list[int]", pos.tolist())

    vector.keys = keys  # type: ignore[attr-defined]
    vector.positions = positions  # type: ignore[attr-defined]
    return vector

