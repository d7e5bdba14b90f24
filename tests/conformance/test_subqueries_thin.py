"""Subqueries over data windows the suite covered thinly: ``exists`` correlated over a length
window and uncorrelated over a unique window, a scalar subquery over ``#lastevent`` and over a
window holding several rows, ``in``/``not in`` with a null row, ``> all``/``> any``/``= some``
with a null, correlated and uncorrelated aggregates over a length window, a subquery over a time
window in WHERE and one in a stream filter. Expected values from the reference chapter "EPL
Reference: Clauses", "Subqueries" (its sections on exists, in, any/some, all and data windows)
and Esper's ``EPLSubselect*`` regression tests (espertechinc/esper, regression-lib
``suite/epl/subselect``)."""

from __future__ import annotations

from typing import Any

import pytest

from flowcep_plugin.engine.harness import Harness

DOC = "Esper reference, 'Subqueries', {}"
S = """
    insert into S0 select id, p00 from Flow(kind = 's0');
    insert into S1 select id, p10 from Flow(kind = 's1');
"""


def esper(construct: str, cite: str) -> Any:
    return pytest.mark.esper(construct, cite=f"espertechinc/esper {cite}")


def run(epl: str, steps: list[tuple[str, int, int | None, str | None] | int], *fields: str) -> list[tuple[Any, ...]]:
    h = Harness(S + epl)
    for st in steps:
        if isinstance(st, int):
            h.watermark(st)
            continue
        kind, t, i, p = st
        h.send(t, kind=kind, id=i, **({"p00": p} if kind == "s0" else {"p10": p}))
    return [(r.time_ms, *(r.values[f] for f in fields)) for r in h.of("s0")]


@esper("subquery-exists", DOC.format("'The Exists Keyword'") + "; EPLSubselectExists (correlated, over #length)")
def test_exists_correlated_over_a_length_window() -> None:
    got = run("@Name('s0') select id from S0 as s0 where exists (select * from S1#length(1000) as s1 "
              "where s1.id = s0.id)",
              [("s0", 1, 1, None), ("s1", 2, 1, None), ("s0", 3, 1, None), ("s0", 4, 2, None)], "id")
    assert got == [(3, 1)]


@esper("subquery-exists", DOC.format("'The Exists Keyword'") + " (uncorrelated, over #unique: a replaced row no "
       "longer counts)")
def test_exists_over_a_unique_window() -> None:
    got = run("@Name('s0') select id, exists (select * from S1#unique(p10) where id > 5) as e from S0",
              [("s0", 1, 1, None), ("s1", 2, 6, "a"), ("s0", 3, 1, None), ("s1", 4, 1, "a"), ("s0", 5, 1, None)],
              "e")
    assert got == [(1, False), (3, True), (5, False)]


@esper("subquery-scalar", DOC.format("'Subquery with a data window'") + " (#lastevent: the one row, null before "
       "any)")
def test_scalar_over_lastevent() -> None:
    got = run("@Name('s0') select id, (select p10 from S1#lastevent) as p from S0",
              [("s0", 1, 1, None), ("s1", 2, 1, "a"), ("s0", 3, 2, None), ("s1", 4, 2, "b"), ("s0", 5, 3, None)], "p")
    assert got == [(1, None), (3, "a"), (5, "b")]


@esper("subquery-scalar", DOC.format("'Subqueries'") + " (a scalar subquery over several rows is null; "
       "EPLSubselectUnfiltered: multiple rows return null)")
def test_scalar_over_several_rows_is_null() -> None:
    got = run("@Name('s0') select id, (select p10 from S1#length(2)) as p from S0",
              [("s0", 1, 1, None), ("s1", 2, 1, "a"), ("s0", 3, 2, None), ("s1", 4, 2, "b"), ("s0", 5, 3, None)], "p")
    assert got == [(1, None), (3, "a"), (5, None)]


@esper("subquery-in", DOC.format("'The In and Not In Keywords'") + " (a null row: no match gives null for both)")
def test_in_and_not_in_with_a_null_row() -> None:
    got = run("@Name('s0') select id, id in (select id from S1#keepall) as i, "
              "id not in (select id from S1#keepall) as ni from S0",
              [("s0", 1, 1, None), ("s1", 2, 1, None), ("s0", 3, 1, None), ("s0", 4, 2, None), ("s1", 5, None, None),
               ("s0", 6, 2, None), ("s0", 7, 1, None)], "i", "ni")
    assert got == [(1, False, True), (3, True, False), (4, False, True), (6, None, None), (7, True, False)]


@esper("subquery-any-all", DOC.format("'The Any and Some Keywords', 'The All Keyword'") + "; "
       "EPLSubselectAllAnySomeExpr (a null value: all is null unless one comparison is false)")
def test_all_any_some_with_a_null() -> None:
    got = run("@Name('s0') select id, id > all (select id from S1#keepall) as a, id > any (select id from S1#keepall) "
              "as b, id = some (select id from S1#keepall) as c from S0",
              [("s0", 1, 1, None), ("s1", 2, 5, None), ("s0", 3, 6, None), ("s0", 4, 5, None), ("s1", 5, 2, None),
               ("s0", 6, 3, None), ("s1", 7, None, None), ("s0", 8, 10, None), ("s0", 9, 1, None)], "a", "b", "c")
    assert got == [(1, True, False, False), (3, True, True, False), (4, False, False, True), (6, False, True, False),
                   (8, None, True, None), (9, False, False, None)]


@esper("subquery-aggregate", DOC.format("'Subqueries'") + " (aggregates over a #length(3) window: correlated sum, "
       "uncorrelated count; EPLSubselectAggregatedSingleValue)")
def test_aggregates_over_a_length_window() -> None:
    got = run("@Name('s0') select id, (select sum(id) from S1#length(3) as s1 where s1.p10 = s0.p00) as s, "
              "(select count(*) from S1#length(3)) as c from S0 as s0",
              [("s0", 1, 1, "a"), ("s1", 2, 1, "a"), ("s1", 3, 2, "a"), ("s1", 4, 3, "b"), ("s0", 5, 1, "a"),
               ("s1", 6, 4, "c"), ("s0", 7, 1, "a"), ("s0", 8, 1, "z")], "s", "c")
    assert got == [(1, None, 0), (5, 3, 3), (7, 2, 3), (8, None, 3)]


@esper("subquery-aggregate", DOC.format("'Subqueries'") + " (max over a #time(2 sec) window in WHERE: the row "
       "leaves at exactly its time plus 2 s)")
def test_aggregate_over_a_time_window_in_where() -> None:
    got = run("@Name('s0') select id from S0 where id = (select max(id) from S1#time(2 sec))",
              [("s1", 1000, 1, None), ("s1", 1500, 5, None), ("s0", 2000, 5, None), ("s0", 3499, 5, None),
               ("s0", 3500, 5, None), ("s0", 3600, 1, None)], "id")
    assert got == [(2000, 5), (3499, 5)]


@esper("subquery-in", DOC.format("'Subqueries'") + " (in a stream's filter; EPLSubselectInFilterCriteria over "
       "#length(2))")
def test_in_in_a_stream_filter_over_a_length_window() -> None:
    got = run("@Name('s0') select id from S0(id in (select id from S1#length(2)))",
              [("s1", 1, 1, None), ("s1", 2, 2, None), ("s0", 3, 1, None), ("s1", 4, 3, None), ("s0", 5, 1, None),
               ("s0", 6, 3, None)], "id")
    assert got == [(3, 1), (6, 3)]
