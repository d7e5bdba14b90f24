"""Outer joins: the rows an arriving event adds to ``A [left|right|full] outer join B on ...``.

Esper evaluates a join when one of its streams posts new events, against the other streams'
windows, and outputs the join rows that contain the new event (EPL Reference "Outer, Inner,
Cross and Unidirectional Joins"; regression tests EPLOuterJoin2Stream, EPLOuterJoinVarA3Stream).
For outer joins that is read here as relational algebra over the current windows: the FROM
clause is the left-deep chain ``((S0 op1 S1) op2 S2) ...``, each ``op`` with its ON
condition, and an event ``e`` of stream ``s`` outputs exactly the rows of that chain that
hold ``e`` at position ``s``. So in ``A left outer join B`` an A with no matching B gives
``(a, null)`` and a B that matches nothing gives no row; a ``full`` join also gives
``(null, b)``. WHERE filters the joined rows afterwards (a null side fails a comparison).

A missing side is the empty dict ``MISSING``: property reads on it give null, the same code
as for a present row. Work per event is the size of the windows it is matched against
(bounded by them); windows are scanned, as the inner join's conditions are.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["MISSING", "OuterJoinPlan", "outer_join_rows"]

#: stands for the stream that has no matching event in an outer join row
MISSING: dict[str, Any] = {}

Row = dict[str, Any]


@dataclass
class OuterJoinPlan:
    """``kinds[k]``/``on[k]``: how stream k (k >= 1) joins streams 0..k-1 (inner, left,
    right or full) and its ON condition, a function of one row per stream (None: always)."""

    kinds: list[str]
    on: list[Callable[..., Any] | None]


def outer_join_rows(plan: OuterJoinPlan, s: int, rows: Sequence[Row], repos: Sequence[Sequence[Row]],
                    where: Sequence[Callable[..., Any]] = ()) -> list[tuple[Row, ...]]:
    """The join rows holding each of ``rows`` (new events of stream ``s``) at position s,
    given the other streams' current window contents ``repos``; ``where`` filters them."""
    n = len(repos)
    out: list[tuple[Row, ...]] = []
    for e in rows:
        for r in _containing(plan, n - 1, s, e, repos):
            if all(c(*r) for c in where):
                out.append(tuple(r))
    return out


def _holds(on: Callable[..., Any] | None, r: list[Row]) -> bool:
    return on is None or bool(on(*r))


def _containing(plan: OuterJoinPlan, k: int, s: int, e: Row, repos: Sequence[Sequence[Row]]) -> list[list[Row]]:
    """Rows of the chain up to stream k that hold ``e`` at position s (s <= k)."""
    n = len(repos)
    if k == s:
        if k == 0:
            r = [MISSING] * n
            r[0] = e
            return [r]
        on, kind = plan.on[k], plan.kinds[k]
        out: list[list[Row]] = []
        for t in _all(plan, k - 1, repos):
            r = list(t)
            r[k] = e
            if _holds(on, r):
                out.append(r)
        if not out and kind in ("right", "full"):
            r = [MISSING] * n
            r[k] = e
            out.append(r)
        return out
    on, kind = plan.on[k], plan.kinds[k]
    out = []
    for t in _containing(plan, k - 1, s, e, repos):
        hit = False
        for x in repos[k]:
            r = list(t)
            r[k] = x
            if _holds(on, r):
                out.append(r)
                hit = True
        if not hit and kind in ("left", "full"):
            out.append(t)
    return out


def _all(plan: OuterJoinPlan, k: int, repos: Sequence[Sequence[Row]]) -> list[list[Row]]:
    """Every row of the chain up to stream k over the current windows."""
    n = len(repos)
    if k == 0:
        rows = []
        for x in repos[0]:
            r = [MISSING] * n
            r[0] = x
            rows.append(r)
        return rows
    on, kind = plan.on[k], plan.kinds[k]
    out: list[list[Row]] = []
    matched: set[int] = set()
    for t in _all(plan, k - 1, repos):
        hit = False
        for j, x in enumerate(repos[k]):
            r = list(t)
            r[k] = x
            if _holds(on, r):
                out.append(r)
                matched.add(j)
                hit = True
        if not hit and kind in ("left", "full"):
            out.append(t)
    if kind in ("right", "full"):
        for j, x in enumerate(repos[k]):
            if j not in matched:
                r = [MISSING] * n
                r[k] = x
                out.append(r)
    return out
