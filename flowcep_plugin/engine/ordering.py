"""ORDER BY, LIMIT and SELECT DISTINCT: shaping the rows of one output step.

Esper applies these to the rows a statement outputs together (one batch release, one
arriving event, one output-rate-limited release), never across steps. The order follows
Esper's result set processing: sort, then the row limit, then DISTINCT on the output
columns (so ``select distinct ... limit 3`` may give fewer than 3 rows, as in Esper).
Nulls sort as smaller than any other value (first when ascending, last when descending),
as Esper's comparator does. Sorting is stable: equal keys keep their output order.

The shaper is built once per statement at compile time; at run time it is one ``sorted``
per key over the step's rows list.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from numbers import Number
from typing import TYPE_CHECKING, Any

from .windows import hashable

if TYPE_CHECKING:
    from .rows import Row

__all__ = ["KeyGetter", "make_shaper"]

#: reads one sort key from a row's values dict
KeyGetter = Callable[[dict[str, Any]], Any]


def _natural(v: Any) -> tuple[Any, ...]:
    return (0,) if v is None else (1, v)


def _robust(v: Any) -> tuple[Any, ...]:
    """Mixed types in one key (a string beside numbers): numbers first, then by type name.

    Esper would fail the statement (ClassCastException); a detector should not die on one
    odd record, so the order stays total and deterministic instead.
    """
    if v is None:
        return (0,)
    if isinstance(v, Number) and not isinstance(v, complex):
        return (1, "", v)
    try:
        hash(v)
        return (1, type(v).__name__, v)
    except TypeError:
        return (1, type(v).__name__, repr(v))


def _sort(rows: list[Row], keys: Sequence[tuple[KeyGetter, bool]]) -> list[Row]:
    # one stable sort per key, last key first: the first key decides, later keys break ties
    for get, desc in reversed(keys):
        try:
            rows = sorted(rows, key=lambda r, g=get: _natural(g(r.values)), reverse=desc)  # type: ignore[misc]
        except TypeError:
            try:
                rows = sorted(rows, key=lambda r, g=get: _robust(g(r.values)), reverse=desc)  # type: ignore[misc]
            except TypeError:
                rows = sorted(rows, key=lambda r, g=get: (g(r.values) is not None, repr(g(r.values))),  # type: ignore[misc]
                              reverse=desc)
    return rows


def make_shaper(keys: Sequence[tuple[KeyGetter, bool]], count: int | None, offset: int,
                distinct: bool, visible: Sequence[str] | None,
                hidden: Sequence[str], split_streams: bool = False) -> Callable[[list[Row]], list[Row]]:
    """A function shaping one output step's rows.

    ``keys``: (getter, descending) per ORDER BY item; ``count``/``offset``: the row limit
    (count None = no limit); ``visible``: the select names DISTINCT compares (None for
    SELECT *: every value); ``hidden``: names of ORDER BY values computed beside the select
    list, removed from the rows once sorted. ``split_streams``: the statement outputs a
    remove stream; Esper sorts, limits and de-duplicates the insert and the remove stream of
    a step each on its own (ResultSetOutputLimitRowLimit.ResultSetBatchNoOffsetNoOrder:
    ``limit 1`` keeps one new and one old row), insert rows first.
    """
    keys = list(keys)
    hidden_set = frozenset(hidden)
    end = None if count is None else offset + count
    limited = count is not None or offset > 0

    def distinct_key(values: dict[str, Any]) -> Any:
        if visible is None:
            return tuple(sorted((k, hashable(v)) for k, v in values.items()))
        return tuple(hashable(values.get(n)) for n in visible)

    def shape(rows: list[Row]) -> list[Row]:
        if keys and len(rows) > 1:
            rows = _sort(rows, keys)
        if limited:
            rows = rows[offset:end]
        if distinct and len(rows) > 1:
            seen: set[Any] = set()
            kept = []
            for r in rows:
                k = distinct_key(r.values)
                if k not in seen:
                    seen.add(k)
                    kept.append(r)
            rows = kept
        if hidden_set:
            rows = [r._replace(values={k: v for k, v in r.values.items() if k not in hidden_set})
                    for r in rows]
        return rows

    if split_streams:
        def shape_each(rows: list[Row]) -> list[Row]:
            new = [r for r in rows if not r.removed]
            if len(new) == len(rows):
                return shape(rows)
            return shape(new) + shape([r for r in rows if r.removed])
        return shape_each
    return shape
