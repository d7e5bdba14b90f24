"""The name of an unaliased select column: Esper names it by its own rendering of the
expression (``ExprNodeUtilityPrint.toExpressionStringMinPrecedenceSafe`` of the validated select
expression, used by the select-clause compiler when no ``as`` is given), not by the text as
written. Each case cites the rendering method (``toPrecedenceFreeEPL``) of the expression node
it exercises, or the regression test that asserts the name; the row is read under that name, so
a different name fails the case (a missing key, not a wrong value).
"""

from __future__ import annotations

from typing import Any

import pytest

from flowcep_plugin.engine.harness import Harness

OTHER = "EPLOtherSelectExpr.EPLOtherGetEventType"
MATH = "ExprMathNode.toPrecedenceFreeEPL"
AGG = "ExprAggregateNodeBase.toPrecedenceFreeEPL"
BASE = "ExprNodeBase.toEPL (parentheses when the child's ExprPrecedenceEnum level is below its parent's)"

EVENT = {"a": 2, "b": 3, "c": 4, "s": "x", "n": None, "intPrimitive": 5}

CASES: list[tuple[str, str, str, str, Any]] = [
    # (construct, cite, select expression, Esper's column name, its value for EVENT)
    ("names-arith", f"{OTHER} (3*intPrimitive) and {MATH}: no spaces", "3 * intPrimitive", "3*intPrimitive", 15),
    ("names-arith", MATH, "a + b", "a+b", 5),
    ("names-arith", f"{MATH}, {BASE}", "(a + b) * c", "(a+b)*c", 20),
    ("names-arith", f"{MATH}, {BASE} (the right child at the same level is not parenthesized)", "a - (b - c)",
     "a-b-c", 3),
    ("names-arith", "ExprConstantNodeImpl.toPrecedenceFreeEPL (a double constant as Java prints it)", "a * 10d",
     "a*10.0", 20.0),
    ("names-aggregate", f"{AGG} (the function's own name, lower case)", "COUNT( * )", "count(*)", 1),
    ("names-aggregate", AGG, "count( distinct a )", "count(distinct a)", 1),
    ("names-aggregate", AGG, "sum(a)", "sum(a)", 2),
    ("names-aggregate", f"{AGG} (precedence MINIMUM: parenthesized inside an operator), {BASE}", "sum(a) + 1",
     "(sum(a))+1", 3),
    ("names-aggregate", f"{AGG}, {MATH}", "avg(a * b)", "avg(a*b)", 6.0),
    ("names-compare", "ExprRelationalOpNodeImpl.toPrecedenceFreeEPL", "a >= 1", "a>=1", True),
    ("names-compare", "ExprEqualsNodeImpl.toPrecedenceFreeEPL, ExprConstantNodeImpl (strings in double quotes)",
     "s = 'x'", 's="x"', True),
    ("names-compare", "ExprEqualsNodeImpl.toPrecedenceFreeEPL (<> is written !=)", "a <> b", "a!=b", True),
    ("names-compare", "ExprEqualsNodeImpl.toPrecedenceFreeEPL (is / is not)", "n is null", "n is null", True),
    ("names-compare", "ExprInNodeImpl.toPrecedenceFreeEPL", "a in (1, 2)", "a in (1,2)", True),
    ("names-compare", "ExprInNodeImpl.toPrecedenceFreeEPL", "a not in (1, 2)", "a not in (1,2)", False),
    ("names-compare", "ExprBetweenNodeImpl.toPrecedenceFreeEPL", "a between 1 and 3", "a between 1 and 3", True),
    ("names-compare", "ExprLikeNode.toPrecedenceFreeEPL", "s not like 'y%'", 's not like "y%"', True),
    ("names-compare", "ExprRegexpNode.toPrecedenceFreeEPL", "s regexp 'x'", 's regexp "x"', True),
    ("names-logic", "ExprAndNodeImpl / ExprOrNode / ExprNotNode, " + BASE, "not (a > 1 and b > 1) or c = 4",
     "not (a>1 and b>1) or c=4", True),
    ("names-case", "ExprCaseNode.toPrecedenceFreeEPL", "case when a > 1 then 'big' else 'small' end",
     'case when a>1 then "big" else "small" end', "big"),
    ("names-case", "ExprCaseNode.toPrecedenceFreeEPL (case x when v)", "case a when 2 then 1 end",
     "case a when 2 then 1 end", 1),
    ("names-function", "ExprCoalesceNode.toPrecedenceFreeEPL (toExpressionStringWFunctionName)",
     "coalesce(n, a)", "coalesce(n,a)", 2),
    ("names-function", "ExprMinMaxRowNode.toPrecedenceFreeEPL", "max(a, b, c)", "max(a,b,c)", 4),
    ("names-function", "ExprCastNode.toPrecedenceFreeEPL", "cast(a, string)", "cast(a,string)", "2"),
    ("names-property", "ExprIdentNodeImpl.toPrecedenceFreeEPL (backquotes removed)", "`intPrimitive`",
     "intPrimitive", 5),
]


@pytest.mark.parametrize(("expr", "name", "value"), [
    pytest.param(x, n, v, marks=pytest.mark.esper(c, cite=cite), id=f"{c}:{x}") for c, cite, x, n, v in CASES])
def test_unaliased_column_is_named_as_esper_renders_it(expr: str, name: str, value: Any) -> None:
    h = Harness(f"@Name('s0') select {expr} from Flow")
    h.send(0, **EVENT)
    rows = h.of("s0")
    assert [list(r.values) for r in rows] == [[name]]
    assert rows[0].values[name] == value


@pytest.mark.esper("names-subquery", cite="ExprSubselectNode.toPrecedenceFreeEPL: an exists subquery is "
                   "subselect_<its number in the statement, from 1>")
def test_unaliased_exists_subquery_is_named_by_its_number() -> None:
    h = Harness("insert into S1 select a from Flow where kind = 's1';"
                "@Name('s0') select a, exists (select * from S1#lastevent), "
                "exists (select * from S1#lastevent where a = 9) from Flow(kind = 's0')")
    h.send(0, kind="s1", a=1)
    h.send(1, kind="s0", a=2)
    assert [r.values for r in h.of("s0")] == [{"a": 2, "subselect_1": True, "subselect_2": False}]


@pytest.mark.esper("names-insert", cite="EPLInsertInto: the inserted event's properties are the select names, "
                   "so a consumer reads Esper's rendering (here with backquotes)")
def test_insert_into_carries_the_rendered_name() -> None:
    h = Harness("insert into X select a * 2, count(*) from Flow;"
                "@Name('s0') select `a*2` as doubled, `count(*)` as n from X")
    h.send(0, a=4)
    assert [r.values for r in h.of("s0")] == [{"doubled": 8, "n": 1}]
