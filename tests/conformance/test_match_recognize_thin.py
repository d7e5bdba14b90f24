"""match_recognize corners the suite covered thinly: measures aggregating a group variable that
matched no event, ``all matches`` with ``after match skip to current row``, ``partition by`` with
interleaved partitions, an optional leading variable, ``prev`` in a define per partition, and the
quantifier forms the engine refuses. Expected rows from the reference chapter "EPL Reference: Match
Recognize" (its sections on measures, aggregation, partitions, after match skip, prev) and Esper's
``RowRecog*`` regression tests (espertechinc/esper, regression-lib ``suite/rowrecog``)."""

from __future__ import annotations

from typing import Any

import pytest

from flowcep_plugin.engine.compiler import compile_module
from flowcep_plugin.engine.harness import Harness
from flowcep_plugin.errors import EPLError

DOC = "Esper reference, 'Match Recognize', {}"


def esper(construct: str, cite: str) -> Any:
    return pytest.mark.esper(construct, cite=f"espertechinc/esper {cite}")


def run(epl: str, events: list[dict[str, Any]], *fields: str) -> list[tuple[Any, ...]]:
    h = Harness(epl)
    for i, e in enumerate(events, start=1):
        h.send(i, id=f"E{i}", **e)
    return [(r.time_ms, *(r.values[f] for f in fields)) for r in h.of("s0")]


def vs(*values: int) -> list[dict[str, Any]]:
    return [{"v": v} for v in values]


@esper("mr-measures", DOC.format("'Aggregation Functions in Measures'") + "; RowRecogAggregation (a group "
       "variable that matched no event: count 0, the others null)")
def test_aggregates_of_an_empty_group_variable() -> None:
    got = run("@Name('s0') select * from Flow match_recognize (measures A.id as a, count(B.id) as cb, sum(B.v) as sb, "
              "avg(B.v) as ab, min(B.v) as mn, max(B.v) as mx, first(B.id) as fb, last(B.id) as lb, B[0].id as b0 "
              "pattern (A B* C) define A as A.v = 1, B as B.v = 2, C as C.v = 3)",
              vs(1, 3, 1, 2, 2, 3), "a", "cb", "sb", "ab", "mn", "mx", "fb", "lb", "b0")
    assert got == [(2, "E1", 0, None, None, None, None, None, None, None),
                   (6, "E3", 2, 4, 2.0, 2, 2, "E4", "E5", "E4")]


@esper("mr-after-skip", DOC.format("'After Match Skip'") + " (all matches, to current row: every match of each "
       "start is output as it completes)")
def test_all_matches_to_current_row() -> None:
    got = run("@Name('s0') select * from Flow match_recognize (measures A.id as a, last(B.id) as b all matches "
              "after match skip to current row pattern (A B+) define A as A.v = 1, B as B.v = 2)",
              vs(1, 2, 2, 1, 2), "a", "b")
    assert got == [(2, "E1", "E2"), (3, "E1", "E3"), (5, "E4", "E5")]


@esper("mr-partition", DOC.format("'Partitions'") + "; RowRecogOps (partitions interleave: each matches in its own "
       "event order)")
def test_interleaved_partitions() -> None:
    h = Harness("@Name('s0') select * from Flow match_recognize (partition by k measures k as k, A.id as a, "
                "B.id as b pattern (A B) define A as A.v = 1, B as B.v = 2)")
    for t, (i, k, v) in enumerate([("E1", "x", 1), ("E2", "y", 1), ("E3", "y", 2), ("E4", "x", 2)], start=1):
        h.send(t, id=i, k=k, v=v)
    assert [(r.time_ms, r.values["k"], r.values["a"], r.values["b"]) for r in h.of("s0")] == [
        (3, "y", "E2", "E3"), (4, "x", "E1", "E4")]


@esper("mr-quantifier", DOC.format("'Quantifiers'") + "; RowRecogOps.RowRecogZeroToOne (A? B: a B alone matches "
       "with A null)")
def test_optional_leading_variable() -> None:
    got = run("@Name('s0') select * from Flow match_recognize (measures A.id as a, B.id as b pattern (A? B) "
              "define A as A.v = 1, B as B.v = 2)", vs(2, 1, 2), "a", "b")
    assert got == [(1, None, "E1"), (3, "E2", "E3")]


@esper("mr-prev", DOC.format("'The Prev Operator'") + "; RowRecogPrev (prev reads the partition's previous event)")
def test_prev_in_define_per_partition() -> None:
    h = Harness("@Name('s0') select * from Flow match_recognize (partition by k measures A.id as a, B.id as b "
                "pattern (A B) define B as B.v > prev(B.v))")
    for t, (i, k, v) in enumerate([("E1", "x", 1), ("E2", "y", 5), ("E3", "x", 2), ("E4", "y", 3)], start=1):
        h.send(t, id=i, k=k, v=v)
    assert [(r.time_ms, r.values["a"], r.values["b"]) for r in h.of("s0")] == [(3, "E1", "E3")]


@esper("mr-define", DOC.format("'Define'") + "; RowRecogOps.RowRecogConcatenation without all matches (B compared "
       "with the earlier variable A)")
def test_define_reads_an_earlier_variable() -> None:
    got = run("@Name('s0') select * from Flow match_recognize (measures A.id as a, B.id as b pattern (A B) "
              "define B as B.v > A.v)", vs(5, 3, 6, 4, 6, 10), "a", "b")
    assert got == [(3, "E2", "E3"), (5, "E4", "E5")]


REFUSED = [
    ("pattern (A B{1,3}? C) define A as A.v = 1", "?", "Esper's grammar: a reluctant '?' follows * + ? only, not "
     "a {n,m} repetition"),
    ("measures count(*) as n pattern (A B+) define A as A.v = 1", "count()", "RowRecogAggregation (an aggregate "
     "must name a group variable)"),
    ("measures B.id as b pattern (A B+) define A as A.v = 1", "B", "Esper reference, 'Match Recognize', 'Measures' "
     "(a group variable needs an index or an aggregate)"),
]


@pytest.mark.parametrize(("body", "name"), [
    pytest.param(b, n, id=b, marks=esper("unsupported-is-an-error", c + ": refused at its line and column"))
    for b, n, c in REFUSED])
def test_match_recognize_forms_that_are_refused(body: str, name: str) -> None:
    if not body.startswith("measures"):
        body = "measures A.id as a " + body
    with pytest.raises(EPLError) as err:
        compile_module("@Name('s0')\nselect * from Flow match_recognize (" + body + ")", "<t>")
    msg = str(err.value)
    assert msg.startswith("<t>:2:") and name in msg, msg
