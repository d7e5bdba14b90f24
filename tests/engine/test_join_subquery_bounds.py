"""Bounded state of joins and subqueries: streams whose window does not bound them keep at most
a fixed number of events, evict the oldest first and count it (h-subq)."""

from __future__ import annotations

import pytest

from flowcep_plugin.engine import runtime, subqueries
from flowcep_plugin.engine.harness import Harness

ROUTES = """insert into A select k, v from Flow where ty = 'a';
insert into B select k, v from Flow where ty = 'b';
"""


def test_a_keepall_joined_stream_is_bounded_and_counts_evictions(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runtime, "MAX_JOIN_ROWS", 3)
    h = Harness(ROUTES + "@Name('J') select a.v as av, b.v as bv from A#keepall as a "
                "left outer join B#keepall as b on a.k = b.k")
    for i in range(5):
        h.send(i, ty="b", k=1, v=i)
    rows = h.send(10, ty="a", k=1, v=99)
    # the two oldest b's were evicted: the a joins the last three only
    assert sorted(r.values["bv"] for r in rows if r.statement == "J") == [2, 3, 4]
    assert h.rt.counters["engine.join_rows_evicted"] == 2


def test_a_keepall_subquery_is_bounded_and_counts_evictions(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(subqueries, "MAX_ROWS", 3)
    h = Harness(ROUTES + "@Name('S') select (select count(*) from B#keepall as b where b.k = a.k) as n "
                "from A as a")
    for i in range(5):
        h.send(i, ty="b", k=1, v=i)
    assert [r.values["n"] for r in h.send(10, ty="a", k=1) if r.statement == "S"] == [3]
    assert h.rt.counters["engine.subquery_rows_evicted"] == 2


def test_subquery_window_expiry_removes_rows_from_the_key_index() -> None:
    h = Harness(ROUTES + "@Name('S') select (select count(*) from B#time(1 sec) as b where b.k = a.k) as n "
                "from A as a")
    h.send(0, ty="b", k=1)
    h.send(500, ty="b", k=1)
    h.send(600, ty="b", k=2)
    assert [r.values["n"] for r in h.send(999, ty="a", k=1) if r.statement == "S"] == [2]
    assert [r.values["n"] for r in h.send(1000, ty="a", k=1) if r.statement == "S"] == [1]
    assert [r.values["n"] for r in h.send(1600, ty="a", k=2) if r.statement == "S"] == [0]
    state = next(st for st in h.rt.stmts if isinstance(st, subqueries.SubqueryState))
    assert state.index == {} and not state.rows
