"""Operators and single-row functions, against Esper's reference manual (chapter 'EPL
Reference: Operators' and 'Single-row Functions') and its expression regression tests."""

from __future__ import annotations

from typing import Any

import pytest

from flowcep_plugin.engine.compiler import compile_module
from flowcep_plugin.engine.harness import Harness
from flowcep_plugin.errors import EPLError

OPS = "Esper reference, 'Operators: {}'"
FN = "Esper reference, 'Single-row Functions: {}'"


def selected(expr: str, events: list[dict[str, Any]]) -> list[Any]:
    h = Harness(f"@Name('s0') select {expr} as x from Flow")
    for i, e in enumerate(events):
        h.send(i, **e)
    return [r.values["x"] for r in h.rows]


def matched(where: str, events: list[dict[str, Any]]) -> list[int]:
    h = Harness(f"@Name('s0') select i from Flow where {where}")
    for i, e in enumerate(events):
        h.send(i, i=i, **e)
    return [r.values["i"] for r in h.rows]


V = [{"v": 1}, {"v": 5}, {"v": None}, {"v": 10}]
S = [{"s": "abc"}, {"s": "xabcx"}, {"s": None}, {"s": "a_c"}, {"s": "ABC"}]

CASES = [
    # (construct, cite, where clause, events, indices expected to match)
    ("in", OPS.format("The 'in' Keyword"), "v in (1, 10)", V, [0, 3]),
    ("in", OPS.format("The 'in' Keyword") + " (null is never in a list)", "v not in (1, 10)", V, [1]),
    ("between", OPS.format("The 'between' Keyword") + " (inclusive)", "v between 1 and 5", V, [0, 1]),
    ("between", OPS.format("The 'between' Keyword") + " (either order of bounds)", "v between 5 and 1", V, [0, 1]),
    ("between", OPS.format("The 'between' Keyword"), "v not between 1 and 5", V, [3]),
    ("between", OPS.format("The 'between' Keyword") + " (endpoints from properties, either order)",
     "v between lo and hi", [{"v": 3, "lo": 1, "hi": 5}, {"v": 3, "lo": 5, "hi": 1}, {"v": 9, "lo": 5, "hi": 1}],
     [0, 1]),
    ("like", OPS.format("The 'like' Keyword"), "s like '%abc%'", S, [0, 1]),
    ("like", OPS.format("The 'like' Keyword") + " ('_' is one character)", "s like 'a_c'", S, [0, 3]),
    ("like", OPS.format("The 'like' Keyword") + " (case-sensitive)", "s like 'abc'", S, [0]),
    ("like", OPS.format("The 'like' Keyword") + " (null never matches)", "s not like 'abc'", S, [1, 3, 4]),
    ("regexp", OPS.format("The 'regexp' Keyword") + " (the whole value must match)", "s regexp 'a.c'", S, [0, 3]),
    ("regexp", OPS.format("The 'regexp' Keyword"), "s not regexp '.*abc.*'", S, [3, 4]),
    ("null", OPS.format("Relational Operators") + " (comparison with null is not true)", "v > 2", V, [1, 3]),
    ("null", OPS.format("Logical And Boolean Operators") + " (not of unknown is unknown)", "not (v > 2)", V, [0]),
    ("null", OPS.format("Relational Operators") + " ('is null')", "v is null", V, [2]),
    ("null", OPS.format("Relational Operators") + " ('is not null')", "v is not null", V, [0, 1, 3]),
    ("null", OPS.format("Logical And Boolean Operators") + " (true or unknown is true)", "v > 2 or v is null", V, [1, 2, 3]),
    ("arithmetic", OPS.format("Arithmetic Operators"), "v * 2 + 1 = 11", V, [1]),
    ("arithmetic", OPS.format("Arithmetic Operators") + " (modulo)", "v % 5 = 0", V, [1, 3]),
    ("case", OPS.format("The 'case' Control Flow Function"), "case when v > 4 then true else false end", V, [1, 3]),
    ("coalesce", FN.format("The Coalesce Function"), "coalesce(v, 0) = 0", V, [2]),
]


@pytest.mark.parametrize(("where", "events", "expected"), [
    pytest.param(w, e, x, marks=pytest.mark.esper(c, cite=cite), id=f"{c}:{w}") for c, cite, w, e, x in CASES])
def test_where_operators(where: str, events: list[dict[str, Any]], expected: list[int]) -> None:
    assert matched(where, events) == expected


VALUE_CASES = [
    ("case", OPS.format("The 'case' Control Flow Function") + " (case when ... then ... else ... end)",
     "case when v > 4 then 'big' when v > 0 then 'small' else 'other' end", V, ["small", "big", "other", "big"]),
    ("case", OPS.format("The 'case' Control Flow Function") + " (no else: null)",
     "case when v > 4 then 'big' end", V, [None, "big", None, "big"]),
    ("case", OPS.format("The 'case' Control Flow Function") + " (case value when ... : equality)",
     "case v when 1 then 'one' when 10 then 'ten' else 'other' end", V, ["one", "other", "other", "ten"]),
    ("cast", FN.format("The Cast Function") + " (double to int truncates)", "cast(v / 4, int)", V, [0, 1, None, 2]),
    ("cast", FN.format("The Cast Function") + " (string to int parses; not a number: null)", "cast(s, int)",
     [{"s": "12"}, {"s": "x"}, {"s": None}], [12, None, None]),
    ("cast", FN.format("The Cast Function"), "cast(v, string)", V, ["1", "5", None, "10"]),
    ("cast", FN.format("The Cast Function"), "cast(v, double)", V, [1.0, 5.0, None, 10.0]),
    ("coalesce", FN.format("The Coalesce Function") + " (first non-null)", "coalesce(s, u, 'none')",
     [{"s": "a", "u": "b"}, {"s": None, "u": "b"}, {"s": None, "u": None}], ["a", "b", "none"]),
    ("arithmetic", OPS.format("Arithmetic Operators") + " (null operand: null)", "v + 1", V, [2, 6, None, 11]),
    ("in", OPS.format("The 'in' Keyword") + " (as a value: null when the value is null)", "v in (1, 5)", V,
     [True, True, None, False]),
    ("between", "ExprCoreInBetween.ExprCoreBetweenNumericExpr (as a value; a null value is false, "
     "not null)", "v between 2 and 9", V, [False, True, False, False]),
]


@pytest.mark.parametrize(("expr", "events", "expected"), [
    pytest.param(x, e, want, marks=pytest.mark.esper(c, cite=cite), id=f"{c}:{x}")
    for c, cite, x, e, want in VALUE_CASES])
def test_select_values(expr: str, events: list[dict[str, Any]], expected: list[Any]) -> None:
    assert selected(expr, events) == expected


@pytest.mark.esper("case", cite=OPS.format("The 'case' Control Flow Function") + " with aggregates")
def test_case_over_an_aggregate() -> None:
    h = Harness("@Name('s0') select case when count(*) > 1 then 'many' else 'one' end as x from Flow#length(2)")
    for i in range(3):
        h.send(i, v=i)
    assert [r.values["x"] for r in h.rows] == ["one", "many", "many"]


REFUSED = [
    # Esper: "Subqueries require one or more views to limit the stream" (EPLSubselectUnfiltered.
    # EPLSubselectInvalidSubselect)
    ("select a from Flow where a in (select b from Flow)", "needs a data window"),
    ("select a from Flow#time_batch(1 sec) where a in (select b from Flow#length(2))", "subquery over a #time_batch"),
    ("select a from Flow as x, Flow#length(2) as y where x.a in (select b from Flow#length(2))", "WHERE of a join"),
    ("select prev(1, a) from Flow", "prev functions over no data window"),
    ("select a from Flow#length_batch(3)#unique(a)", "these data windows together"),
    ("select a from Flow#groupwin(a)#unique(b)", "groupwin(...) followed by"),
    ("select irstream a.v from pattern [every a=Flow]", "select irstream over a pattern"),
    ("select rstream a from Flow#length(2) output first every 1 sec", "select rstream with output first"),
    ("select cast(a, date) from Flow", "cast to 'date'"),
    ("select sum(prior(1, v)) from Flow", "prior() inside an aggregate function"),
    ("select prior(1, a.v) from Flow#length(1) as a, Flow#length(1) as b", "prior() in a join"),
]


@pytest.mark.esper("unsupported-is-an-error", cite="issue 16: unsupported syntax is a compile-time error "
                   "with line and column, never a different meaning")
@pytest.mark.parametrize(("text", "word"), REFUSED)
def test_unsupported_constructs_name_themselves(text: str, word: str) -> None:
    with pytest.raises(EPLError) as info:
        compile_module(text)
    assert word in str(info.value) and info.value.line == 1 and info.value.column


@pytest.mark.esper("select-istream", cite="Esper reference, 'Select Clause: Selecting Insert and Remove "
                   "Stream Events' (istream is the default)")
def test_select_istream_is_the_default() -> None:
    rows = []
    for kw in ("", "istream "):
        h = Harness(f"@Name('s0') select {kw}v, count(*) as n from Flow#length(2)")
        for i in range(3):
            h.send(i, v=i)
        rows.append([(r.time_ms, r.values["v"], r.values["n"]) for r in h.rows])
    assert rows[0] == rows[1] == [(0, 0, 1), (1, 1, 2), (2, 2, 2)]


PRIOR = FN.format("The Prior Function") + " (the Nth event before, in arrival order; not affected by data windows)"


@pytest.mark.esper("prior", cite=PRIOR)
def test_prior_counts_arrivals_not_the_window() -> None:
    h = Harness("@Name('s0') select v, prior(1, v) as p1, prior(2, v) as p2 from Flow#length(1)")
    for i, v in enumerate((1, 2, 3)):
        h.send(i, v=v)
    assert [(r.values["v"], r.values["p1"], r.values["p2"]) for r in h.rows] == [
        (1, None, None), (2, 1, None), (3, 2, 1)]


@pytest.mark.esper("prior", cite=PRIOR + "; the from-clause filter comes first")
def test_prior_of_the_filtered_stream() -> None:
    h = Harness("@Name('s0') select v, prior(1, v) as p from Flow(v != 3)")
    for i, v in enumerate((1, 2, 3, 4)):
        h.send(i, v=v)
    assert [(r.values["v"], r.values["p"]) for r in h.rows] == [(1, None), (2, 1), (4, 2)]


@pytest.mark.esper("prior", cite=PRIOR + "; WHERE filters after the prior-event view")
def test_prior_counts_events_where_rejects() -> None:
    h = Harness("@Name('s0') select v, prior(1, v) as p from Flow where v != 3")
    for i, v in enumerate((1, 2, 3, 4)):
        h.send(i, v=v)
    assert [(r.values["v"], r.values["p"]) for r in h.rows] == [(1, None), (2, 1), (4, 3)]


@pytest.mark.esper("prior", cite=PRIOR + "; prior(0, x) is the current event")
def test_prior_zero_and_in_where() -> None:
    h = Harness("@Name('s0') select v from Flow where v > prior(1, v) and prior(0, v) = v")
    for i, v in enumerate((5, 3, 4, 9)):
        h.send(i, v=v)
    assert [r.values["v"] for r in h.rows] == [4, 9]


@pytest.mark.esper("prior", cite=PRIOR + "; the same rows however the input is batched")
def test_prior_across_batches() -> None:
    one = Harness("@Name('s0') select v, prior(2, v) as p from Flow")
    one.batch([(i, {"v": i}) for i in range(6)])
    many = Harness("@Name('s0') select v, prior(2, v) as p from Flow")
    for i in range(6):
        many.send(i, v=i)
    assert [r.values for r in one.rows] == [r.values for r in many.rows]
    assert [r.values["p"] for r in one.rows] == [None, None, 0, 1, 2, 3]
