"""Outer joins with data windows and unidirectional streams the suite covered thinly. Expected
rows from the reference chapter "EPL Reference: Clauses", "Joining Event Streams" (its sections
"Outer, Left and Right Joins" and "Unidirectional Joins") and Esper's regression tests
(espertechinc/esper, regression-lib ``suite/epl/join``: EPLJoinUnidirectionalStream,
EPLOuterJoinUnidirectional, EPLOuterJoin3StreamAndNamed...)."""

from __future__ import annotations

from typing import Any

import pytest

from flowcep_plugin.engine.compiler import compile_module
from flowcep_plugin.engine.harness import Harness
from flowcep_plugin.errors import EPLError

DOC = "Esper reference, 'Joining Event Streams', {}"
S = """
    insert into S0 select id, p00 from Flow(kind = 's0');
    insert into S1 select id, p10 from Flow(kind = 's1');
    insert into S2 select id, p20 from Flow(kind = 's2');
"""
P = {"s0": "p00", "s1": "p10", "s2": "p20"}


def esper(construct: str, cite: str) -> Any:
    return pytest.mark.esper(construct, cite=f"espertechinc/esper {cite}")


def run(epl: str, steps: list[tuple[str, int, int, str | None]], *fields: str) -> list[tuple[Any, ...]]:
    h = Harness(S + epl)
    for kind, t, i, p in steps:
        h.send(t, kind=kind, id=i, **{P[kind]: p})
    return [(r.time_ms, *(r.values[f] for f in fields)) for r in h.of("s0")]


@esper("unidirectional", DOC.format("'Unidirectional Joins'") + " with a left outer join; "
       "EPLOuterJoinUnidirectional (only S0 triggers; no match: the S1 side is null)")
def test_unidirectional_left_outer_join() -> None:
    got = run("@Name('s0') select s0.id as a, s1.id as b from S0 as s0 unidirectional left outer join S1#keepall as s1 "
              "on s0.p00 = s1.p10",
              [("s1", 1, 10, "x"), ("s0", 2, 1, "x"), ("s0", 3, 2, "y"), ("s1", 4, 11, "y"), ("s1", 5, 12, "x"),
               ("s0", 6, 3, "x")], "a", "b")
    assert got == [(2, 1, 10), (3, 2, None), (6, 3, 10), (6, 3, 12)]


@esper("unidirectional", DOC.format("'Unidirectional Joins'") + " (a full outer join with a unidirectional stream "
       "outputs only for its events; S1 events trigger nothing)")
def test_unidirectional_full_outer_join() -> None:
    got = run("@Name('s0') select s0.id as a, s1.id as b from S0 as s0 unidirectional full outer join S1#keepall as s1 "
              "on s0.p00 = s1.p10",
              [("s1", 1, 10, "x"), ("s0", 2, 1, "x"), ("s0", 3, 2, "y"), ("s1", 4, 11, "z")], "a", "b")
    assert got == [(2, 1, 10), (3, 2, None)]


@esper("unidirectional", DOC.format("'Unidirectional Joins'") + "; EPLJoinUnidirectionalStream (aggregates beside "
       "a property: one row per joined row, the aggregation over all joined rows so far)")
def test_unidirectional_aggregates_beside_a_property() -> None:
    got = run("@Name('s0') select s0.id as a, count(*) as n, sum(s1.id) as t from S0 as s0 unidirectional, "
              "S1#keepall as s1 where s0.p00 = s1.p10",
              [("s1", 1, 10, "x"), ("s1", 2, 11, "x"), ("s0", 3, 1, "x"), ("s0", 4, 2, "y"), ("s1", 5, 12, "x"),
               ("s0", 6, 3, "x")], "a", "n", "t")
    assert got == [(3, 1, 2, 21)] * 2 + [(6, 3, 3, 33)] * 3


@esper("unidirectional", DOC.format("'Unidirectional Joins'") + " (grouped count over a left outer join: the "
       "unmatched S0 event is its own null group)")
def test_unidirectional_left_outer_grouped() -> None:
    got = run("@Name('s0') select s1.p10 as k, count(*) as n from S0 as s0 unidirectional left outer join "
              "S1#keepall as s1 on s0.p00 = s1.p10 group by s1.p10",
              [("s1", 1, 10, "x"), ("s1", 2, 11, "x"), ("s0", 3, 1, "x"), ("s0", 4, 2, "y")], "k", "n")
    assert got == [(3, "x", 2), (4, None, 1)]


@esper("unidirectional", DOC.format("'Unidirectional Joins'") + " (three streams, #lastevent on the others: "
       "nothing until every side has an event)")
def test_unidirectional_three_streams() -> None:
    got = run("@Name('s0') select s0.id as a, s1.id as b, s2.id as c from S0 as s0 unidirectional, "
              "S1#lastevent as s1, S2#lastevent as s2",
              [("s1", 1, 10, None), ("s0", 2, 1, None), ("s2", 3, 20, None), ("s0", 4, 2, None)], "a", "b", "c")
    assert got == [(4, 2, 10, 20)]


@esper("outer-join", DOC.format("'Outer, Left and Right Joins'") + " (right outer join over #length windows: an "
       "S1 row without its S0 match, and S0 pushed out of its #length(1))")
def test_right_outer_join_over_length_windows() -> None:
    got = run("@Name('s0') select s0.id as a, s1.id as b from S0#length(1) as s0 right outer join S1#length(2) as s1 "
              "on s0.p00 = s1.p10",
              [("s0", 1, 1, "x"), ("s1", 2, 10, "x"), ("s1", 3, 11, "y"), ("s0", 4, 2, "y"), ("s1", 5, 12, "x")],
              "a", "b")
    assert got == [(2, 1, 10), (3, None, 11), (4, 2, 11), (5, None, 12)]


@esper("outer-join-3", DOC.format("'Outer, Left and Right Joins'") + "; EPLOuterJoin3Stream (full outer joins of "
       "three streams on S0's key: an S2 row with no S0 stands alone)")
def test_full_outer_join_of_three() -> None:
    got = run("@Name('s0') select s0.id as a, s1.id as b, s2.id as c from S0#keepall as s0 full outer join "
              "S1#keepall as s1 on s0.p00 = s1.p10 full outer join S2#keepall as s2 on s0.p00 = s2.p20",
              [("s0", 1, 1, "x"), ("s1", 2, 10, "x"), ("s2", 3, 20, "y"), ("s2", 4, 21, "x")], "a", "b", "c")
    assert got == [(1, 1, None, None), (2, 1, 10, None), (3, None, None, 20), (4, 1, 10, 21)]


@esper("outer-join", DOC.format("'Outer, Left and Right Joins'") + " (ON with two conditions over #time windows: "
       "rows expire at their time plus the period)")
def test_left_outer_join_two_conditions_time_windows() -> None:
    got = run("@Name('s0') select s0.id as a, s1.id as b from S0#time(2 sec) as s0 left outer join S1#time(2 sec) "
              "as s1 on s0.p00 = s1.p10 and s0.id = s1.id",
              [("s0", 1000, 1, "x"), ("s1", 1500, 1, "x"), ("s1", 1600, 2, "x"), ("s0", 4000, 2, "x")], "a", "b")
    assert got == [(1000, 1, None), (1500, 1, 1), (4000, 2, None)]


@esper("unsupported-is-an-error", "EPLJoinUnidirectionalStream (two unidirectional streams): refused at its line "
       "and column")
def test_two_unidirectional_streams_are_refused() -> None:
    with pytest.raises(EPLError) as err:
        compile_module(S + "@Name('s0')\nselect * from S0 as s0 unidirectional, S1 as s1 unidirectional", "<t>")
    assert "unidirectional" in str(err.value) and str(err.value).startswith("<t>:"), str(err.value)
