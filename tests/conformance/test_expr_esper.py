"""Operators over null and mixed values, case by case from Esper's expression regression tests
(``regressionlib/suite/expr/exprcore``): each row is the value Esper's assertion expects for
the event sent, derived from the test's assertions (class.method cited per case)."""

from __future__ import annotations

import math
from typing import Any

import pytest

from flowcep_plugin.engine.compiler import compile_module
from flowcep_plugin.engine.harness import Harness
from flowcep_plugin.errors import EPLError

IB = "ExprCoreInBetween.{}"
LR = "ExprCoreLikeRegexp.{}"
MA = "ExprCoreMath.{}"


def selected(expr: str, events: list[dict[str, Any]]) -> list[Any]:
    h = Harness(f"@Name('s0') select {expr} as x from Flow")
    for i, e in enumerate(events):
        h.send(i, **e)
    return [r.values["x"] for r in h.of("s0")]


def d(name: str, values: list[Any]) -> list[dict[str, Any]]:
    return [{name: v} for v in values]


NUM = [1.0, None, 1.1, 1.0, 1.0999999999, 2.0, 4.0]
STR = ["0", "a", "b", "c", "d", None]
BETWEEN_NUM = [1.0, None, 1.1, 2.0, 1.0999999999, 2.0, 4.0, 15.0, 15.00001]
BETWEEN_STR = ["0", "a1", "a10", "c", "d", None, "a0", "b9", "b90"]

CASES: list[tuple[str, str, str, list[dict[str, Any]], list[Any]]] = [
    # (construct, cite, expression, events, values Esper gives)
    ("in", IB.format("ExprCoreInNumeric"), "v in (1.1d, 7/3.5, 2*6/3, 0)", d("v", NUM),
     [False, None, True, False, False, True, True]),
    ("in", IB.format("ExprCoreInNumeric") + " (a null value in the list)", "v in (7/3d, null)",
     d("v", [2.0, 7 / 3, None]), [None, True, None]),
    ("in", IB.format("ExprCoreInNumeric"), "v in (5,5,5,5,5, -1)", d("v", [5.0, 5.0, 0.0, None, -1.0]),
     [True, True, False, None, True]),
    ("in", IB.format("ExprCoreInNumeric"), "v not in (1.1d, 7/3.5, 2*6/3, 0)", d("v", NUM),
     [True, None, False, True, True, False, False]),
    ("in", IB.format("ExprCoreInStringExpr"), "s in ('a', 'b', 'c')", d("s", STR),
     [False, True, True, True, False, None]),
    ("in", IB.format("ExprCoreInStringExpr"), "s in ('a')", d("s", STR), [False, True, False, False, False, None]),
    ("in", IB.format("ExprCoreInStringExpr") + " (null in the list: no match is null)", "s in ('a', null)",
     d("s", ["0", "b", "a", "c", "d", None]), [None, None, True, None, None, None]),
    ("in", IB.format("ExprCoreInStringExpr"), "s in (null)", d("s", ["0", None, "b"]), [None, None, None]),
    ("in", IB.format("ExprCoreInStringExpr"), "s not in ('a', 'b', 'c')", d("s", STR),
     [True, False, False, False, True, None]),
    ("in", IB.format("ExprCoreInStringExpr"), "s not in (null)", d("s", ["0", None, "b"]), [None, None, None]),
    ("in", IB.format("ExprCoreInBoolExpr"), "b in (true, true)", d("b", [True, False]), [True, False]),
    ("in", IB.format("ExprCoreInBoolExpr"), "b in (1>2, 2=3, 4<=2)", d("b", [True, False]), [False, True]),
    ("in", IB.format("ExprCoreInBoolExpr"), "b not in (1>2, 2=3, 4<=2)", d("b", [True, False]), [True, False]),
    ("in", IB.format("ExprCoreInNumericCoercionLong") + " (values from properties, some null)",
     "i in (a, b, c)", [{"i": 1, "a": 2, "b": 3, "c": 4}, {"i": 1, "a": 1, "b": 3, "c": 4},
                        {"i": 1, "a": 3, "b": 1, "c": 4}, {"i": 1, "a": 3, "b": 7, "c": 1},
                        {"i": 1, "a": 3, "b": 7, "c": None}, {"i": 1, "a": 1, "b": None, "c": None},
                        {"i": 1, "a": 0, "b": None, "c": 1}],
     [False, True, True, True, None, True, True]),
    ("in", IB.format("ExprCoreInNumericCoercionDouble"), "i in (f, g, h)",
     [{"i": 1, "f": 2.0, "g": 3.0, "h": 4}, {"i": 1, "f": 1.0, "g": 3.0, "h": 4},
      {"i": 1, "f": 1.1, "g": 1.0, "h": 4}, {"i": 1, "f": None, "g": 1.2, "h": 1},
      {"i": None, "f": None, "g": 1.2, "h": 1}, {"i": None, "f": 11.0, "g": 1.2, "h": 1}],
     [False, True, True, True, None, None]),
    ("between", IB.format("ExprCoreBetweenNumericExpr"), "v between 1.1 and 15", d("v", BETWEEN_NUM),
     [False, False, True, True, False, True, True, True, False]),
    ("between", IB.format("ExprCoreBetweenNumericExpr") + " (endpoints reversed)", "v between 15 and 1.1",
     d("v", BETWEEN_NUM), [False, False, True, True, False, True, True, True, False]),
    ("between", IB.format("ExprCoreBetweenNumericExpr") + " (a null endpoint: false)", "v between null and 15",
     d("v", [1.0, None, 1.1]), [False, False, False]),
    ("between", IB.format("ExprCoreBetweenNumericExpr"), "v between 15 and null", d("v", [1.0, None, 1.1]),
     [False, False, False]),
    ("between", IB.format("ExprCoreBetweenNumericExpr"), "v between null and null", d("v", [1.0, None, 1.1]),
     [False, False, False]),
    ("between", IB.format("ExprCoreBetweenNumericExpr") + " (not between: a null value is false too)",
     "v not between 1.1 and 15", d("v", BETWEEN_NUM), [True, False, False, False, True, False, False, False, True]),
    ("between", IB.format("ExprCoreBetweenNumericExpr"), "v not between 15 and null", d("v", [1.0, None, 1.1]),
     [False, False, False]),
    ("between", IB.format("ExprCoreBetweenStringExpr"), "s between 'a0' and 'b9'", d("s", BETWEEN_STR),
     [False, True, True, False, False, False, True, True, False]),
    ("between", IB.format("ExprCoreBetweenStringExpr"), "s between 'b9' and 'a0'", d("s", BETWEEN_STR),
     [False, True, True, False, False, False, True, True, False]),
    ("between", IB.format("ExprCoreBetweenStringExpr"), "s between null and 'b9'", d("s", ["0", None, "a0", "b9"]),
     [False, False, False, False]),
    ("between", IB.format("ExprCoreBetweenStringExpr"), "s not between 'a0' and 'b9'", d("s", BETWEEN_STR),
     [True, False, False, True, True, False, False, False, True]),
    ("between", IB.format("ExprCoreBetweenNumericCoercionLong") + " (endpoints from properties, either order)",
     "i between lo and hi", [{"i": i, "lo": lo, "hi": hi} for i, lo, hi in
                             [(1, 2, 3), (2, 2, 3), (3, 2, 3), (4, 2, 3), (5, 10, 1), (1, 10, 1), (10, 10, 1),
                              (11, 10, 1)]],
     [False, True, True, False, True, True, True, False]),
    ("between", IB.format("ExprCoreBetweenNumericCoercionDouble") + " (null value or endpoint: false)",
     "i between f and g", [{"i": i, "f": f, "g": g} for i, f, g in
                           [(1, 2.0, 3.0), (2, 2.0, 3.0), (3, 2.0, 3.0), (4, 2.0, 3.0), (None, 2.0, 3.0),
                            (None, None, 3.0), (2, 3.0, 2.0), (None, 3.0, 2.0)]],
     [False, True, True, False, False, False, True, False]),
    ("like", LR.format("ExprCoreLikeWConstants") + " (a number matches its text)", "i like '1%'",
     d("i", [0, 100]), [False, True]),
    ("like", LR.format("ExprCoreLikeWConstants"), "s like 'A%'", d("s", ["Bxx", "Ayyy"]), [False, True]),
    ("like", LR.format("ExprCoreLikeWExprs") + " (pattern from a property)", "p like q",
     [{"p": "%XXaXX", "q": "%a%"}, {"p": "%XXcXX", "q": "%b%"}, {"p": "%XXcXX", "q": "%c%"}], [True, False, True]),
    ("like", LR.format("ExprCoreLikeWExprs") + " (a number against a pattern property)", "i like q",
     [{"i": 413, "q": "%1%"}, {"i": 413, "q": "%2%"}, {"i": 413, "q": "%3%"}], [True, False, True]),
    ("regexp", LR.format("ExprCoreRegexpWConstants"), "s regexp '.*Jack.*'", d("s", ["Joe", "TheJackWhite"]),
     [False, True]),
    ("regexp", LR.format("ExprCoreRegexpWConstants") + " (a number matches its text)", "i regexp '.*1.*'",
     d("i", [0, 100]), [False, True]),
    ("regexp", LR.format("ExprCoreRegexpWExprs"), "p regexp q",
     [{"p": "XXAXX", "q": ".*A.*"}, {"p": "XXaXX", "q": ".*B.*"}, {"p": "XXCXX", "q": ".*C.*"}], [True, False, True]),
    ("like", LR.format("ExprCoreLikeRegexStringAndNull") + " (null on either side: null)", "p like q",
     [{"p": "a", "q": "b"}, {"p": None, "q": "b"}, {"p": "a", "q": None}, {"p": None, "q": None},
      {"p": "abcdef", "q": "%de_"}, {"p": "abcdef", "q": "b%de_"}, {"p": "!adex", "q": "!%de_"},
      {"p": "%dex", "q": "!%de_"}],
     [False, None, None, None, True, False, True, False]),
    ("regexp", LR.format("ExprCoreLikeRegexStringAndNull"), "p regexp q",
     [{"p": "c", "q": "d"}, {"p": None, "q": "d"}, {"p": "c", "q": None}, {"p": None, "q": None},
      {"p": "a", "q": "[a-c]"}, {"p": "d", "q": "[a-c]"}, {"p": "", "q": "."}, {"p": "a", "q": "."}],
     [False, None, None, None, True, False, False, True]),
    ("regexp", LR.format("ExprCoreLikeRegexEscapedChar"), "s regexp '\\\\w*-ABC'", d("s", ["TBT-ABC", "TBT-BC"]),
     [True, False]),
    ("like", LR.format("ExprCoreLikeRegexNumericAndNull"), "i like '%01%'", d("i", [101, 102, None]),
     [True, False, None]),
    ("regexp", LR.format("ExprCoreLikeRegexNumericAndNull") + " (a double's text: 11.0)",
     "v regexp '[0-9][0-9].[0-9]'", d("v", [1.1, 11.0, None]), [False, True, None]),
    ("arithmetic", MA.format("ExprCoreMathDouble"), "10d+5d", [{}], [15.0]),
    ("arithmetic", MA.format("ExprCoreMathDouble"), "10d%4d", [{}], [2.0]),
    ("arithmetic", MA.format("ExprCoreMathLong") + " (division gives a double)", "10L/5L", [{}], [2.0]),
    ("arithmetic", MA.format("ExprCoreMathIntWNull"), "i / j", [{"i": 100, "j": 3}, {"i": 100, "j": None}],
     [100 / 3, None]),
    ("arithmetic", MA.format("ExprCoreMathIntWNull") + " (by zero: the doubles' Infinity, its sign the dividend's)",
     "i / j", [{"i": 100, "j": 0}, {"i": -5, "j": 0}], [math.inf, -math.inf]),
    ("arithmetic", MA.format("ExprCoreMathIntWNull") + " (zero divided: 0.0, and -0.0 by a negative)", "j / i",
     [{"i": 100, "j": 0}, {"i": -5, "j": 0}], [0.0, -0.0]),
    ("arithmetic", MA.format("ExprCoreMathIntWNull") + " (* + - beside a zero stay integers)", "i * j",
     [{"i": 100, "j": 0}, {"i": -5, "j": 0}], [0, 0]),
    ("arithmetic", "MathArithTypeEnum.DivideDouble (Java's double 0/0 is NaN; a null operand is null first)",
     "i / j", [{"i": 0, "j": 0}, {"i": 0.0, "j": 0.0}, {"i": None, "j": 0}, {"i": 2.5, "j": -0.0}],
     [math.nan, math.nan, None, -math.inf]),
    ("arithmetic", "MathArithTypeEnum.ModuloDouble (Java's double remainder by zero is NaN)", "f % j",
     [{"f": 7.5, "j": 0}, {"f": 7.0, "j": 0.0}, {"f": None, "j": 0}], [math.nan, math.nan, None]),
    ("arithmetic", MA.format("ExprCoreMathShortAndByteArithmetic"), "a + b", [{"a": 5, "b": 6}], [11]),
    ("arithmetic", MA.format("ExprCoreMathShortAndByteArithmetic"), "a - b", [{"a": 5, "b": 6}], [-1]),
    ("arithmetic", MA.format("ExprCoreMathShortAndByteArithmetic"), "a * b", [{"a": 5, "b": 6}], [30]),
    ("arithmetic", MA.format("ExprCoreMathShortAndByteArithmetic") + " (int / int is a double)", "a / b",
     [{"a": 5, "b": 6}, {"a": 4, "b": 2}], [5 / 6, 2.0]),
    ("arithmetic", MA.format("ExprCoreMathModulo"), "l % i", [{"l": 1, "i": 1}, {"l": 2, "i": 3}], [0, 2]),
    ("arithmetic", "Esper reference, 'Arithmetic Operators' (modulo is Java's remainder: the dividend's sign)",
     "a % b", [{"a": -7, "b": 3}, {"a": 7, "b": -3}, {"a": -7.5, "b": 2}], [-1, 1, -1.5]),
    ("null", "ExprCoreEqualsIs.ExprCoreEqualsNull (= null is null, is null is true or false)", "s = null",
     d("s", ["x", None]), [None, None]),
    ("null", "ExprCoreEqualsIs.ExprCoreEqualsNull", "s is null", d("s", ["x", None]), [False, True]),
    ("null", "ExprCoreEqualsIs.ExprCoreEqualsNull", "null = s", d("s", ["x", None]), [None, None]),
    ("null", "ExprCoreEqualsIs.ExprCoreEqualsNull", "null = null", [{}], [None]),
    ("null", "ExprCoreEqualsIs.ExprCoreEqualsIsCoercionSameType", "p = q",
     [{"p": "a", "q": "a"}, {"p": "a", "q": "b"}], [True, False]),
    ("null", "ExprCoreEqualsIs.ExprCoreEqualsIsCoercionSameType", "r is not null", d("r", ["a", None]),
     [True, False]),
    ("null", "ExprCoreEqualsIs.ExprCoreEqualsIsCoercion (int = long)", "i = l",
     [{"i": 1, "l": 1}, {"i": 1, "l": 2}], [True, False]),
    ("logic", "ExprCoreAndOrNot.ExprCoreAndOrNotCombined", "(i=1) or (i=2)", d("i", [1, 2, 3]), [True, True, False]),
    ("logic", "ExprCoreAndOrNot.ExprCoreAndOrNotCombined", "(i>0) and (i<3)", d("i", [1, 2, 3]), [True, True, False]),
    ("logic", "ExprCoreAndOrNot.ExprCoreAndOrNotCombined", "not(i=2)", d("i", [1, 2, 3]), [True, False, True]),
    ("cast", "Esper reference, 'The Cast Function' (to string: Java's text)", "cast(v, string)",
     d("v", [True, 1e20, 0.0001, 2.5, 7]), ["true", "1.0E20", "1.0E-4", "2.5", "7"]),
]


@pytest.mark.parametrize(("expr", "events", "expected"), [
    pytest.param(x, e, want, marks=pytest.mark.esper(c, cite=cite), id=f"{c}:{x}") for c, cite, x, e, want in CASES])
def test_value_like_esper(expr: str, events: list[dict[str, Any]], expected: list[Any]) -> None:
    got = selected(expr, events)
    assert [_comparable(g) for g in got] == [_comparable(w) for w in expected]


def _comparable(v: Any) -> Any:
    """A float rounded (Java and Python may differ in the last digit), its sign kept for zeros
    and infinities; NaN as a marker (NaN never equals itself); other values unchanged."""
    if not isinstance(v, float):
        return v
    if v != v:
        return "NaN"
    if math.isinf(v) or v == 0:
        return ("float", math.copysign(1.0, v), v)
    return round(v, 9)


WHERE = [
    # (construct, cite, where clause, events, indices that pass): WHERE keeps only TRUE
    ("between", IB.format("ExprCoreBetweenNumericExpr") + " (between with null is false, so NOT of it is true)",
     "not (v between 1 and 5)", d("v", [3, None, 9]), [1, 2]),
    ("in", IB.format("ExprCoreInStringExpr") + " (no match beside a null is null, so NOT of it is null)",
     "not (s in ('a', null))", d("s", ["a", "b", None]), []),
    ("in", IB.format("ExprCoreInNumericCoercionLong") + " (not in beside a null value never passes)",
     "i not in (a, b)", [{"i": 1, "a": 2, "b": None}, {"i": 1, "a": 2, "b": 3}, {"i": 1, "a": 1, "b": None}], [1]),
    ("like", LR.format("ExprCoreLikeWConstants") + " (numbers in WHERE)", "i like '1%'", d("i", [100, 200, None, 1]),
     [0, 3]),
    ("arithmetic", "Esper reference, 'Arithmetic Operators' (Java remainder in WHERE)", "i % 2 = -1",
     d("i", [-3, 3, -4]), [0]),
]


@pytest.mark.parametrize(("where", "events", "expected"), [
    pytest.param(w, e, x, marks=pytest.mark.esper(c, cite=cite), id=f"{c}:{w}") for c, cite, w, e, x in WHERE])
def test_where_like_esper(where: str, events: list[dict[str, Any]], expected: list[int]) -> None:
    h = Harness(f"@Name('s0') select i0 from Flow where {where}")
    for i, e in enumerate(events):
        h.send(i, i0=i, **e)
    assert [r.values["i0"] for r in h.of("s0")] == expected


SELECT_NAMES = [
    ("select sum(v) as s from Flow having s > 2", "HAVING"),
    ("select v * 2 as w from Flow where w > 2", "WHERE"),
    ("select k as kk, count(*) as c from Flow group by kk", "GROUP BY"),
    ("select count(*) as n from Flow#length(3) having n >= 2", "HAVING"),
]


@pytest.mark.esper("unsupported-is-an-error", cite="ResultSetProcessorFactoryFactory: WHERE and HAVING are "
                   "validated against the streams' properties; only ORDER BY expands select names "
                   "(Esper: \"Property named 's' is not valid in any stream\")")
@pytest.mark.parametrize(("text", "clause"), SELECT_NAMES)
def test_select_names_outside_order_by_are_refused(text: str, clause: str) -> None:
    with pytest.raises(EPLError) as info:
        compile_module(text)
    assert f"in {clause}" in str(info.value) and info.value.line == 1 and info.value.column


@pytest.mark.esper("order-by", cite="ResultSetProcessorFactoryFactory.expandColumnNames (ORDER BY may name a "
                   "select column); a declared property of the same name is read as the property")
def test_select_names_stay_allowed_where_esper_reads_them() -> None:
    h = Harness("@Tag(name='timestamp', value='flowEndMilliseconds') create map schema S(flowEndMilliseconds "
                "long, k string, v int, s int); @Name('s0') select k as s, v from S#length_batch(2) "
                "where s > 1 order by s desc")
    h.send(0, k="a", v=1, s=2)
    h.send(1, k="b", v=2, s=5)
    assert [(r.values["s"], r.values["v"]) for r in h.of("s0")] == [("b", 2), ("a", 1)]


CA = "ExprCoreCase.{}"
CASE_CASES: list[tuple[str, str, list[dict[str, Any]], list[Any]]] = [
    (CA.format("ExprCoreCaseSyntax2NoElseWithNull") + " (`when null` matches a null value)",
     "case s when null then true when '' then false end", d("s", ["x", "null", None, ""]), [None, None, True, False]),
    (CA.format("ExprCoreCaseSyntax1WithNull"), "case when s is null then true when s = '' then false end",
     d("s", ["x", "null", None, ""]), [None, None, True, False]),
    (CA.format("ExprCoreCaseSyntax2WithNull"), "case i when 1 then null when 2 then 1.0 when 3 then null else 2 end",
     d("i", [4, 1, 2, 3]), [2.0, None, 1.0, None]),
    (CA.format("ExprCoreCaseSyntax2WithNullBool"), "case b when null then 1 when true then 2l when false then 3 end",
     d("b", [None, False, True]), [1, 3, 2]),
    (CA.format("ExprCoreCaseSyntax2WithCoercion"), "case i when 1.0 then null when 4/2.0 then 'x' end",
     d("i", [1, 2, 3]), [None, "x", None]),
    (CA.format("ExprCoreCaseSyntax2WithinExpression"), "2 * (case i when 1 then 2 when 2 then 3 else 10 end)",
     d("i", [1, 2, 3]), [4, 6, 20]),
    (CA.format("ExprCoreCaseSyntax2") + " (when values from properties)",
     "case i when l then (i + l) when db then i * db when f then f / db else (i + l + f + db) end",
     [{"i": i, "l": lv, "f": f, "db": db} for i, lv, f, db in [(2, 2, 1.0, 1.0), (5, 1, 1.0, 5.0), (12, 1, 12.0, 4.0),
                                                             (1, 2, 3.0, 4.0)]], [4.0, 25.0, 3.0, 10.0]),
    (CA.format("ExprCoreCaseSyntax1Branches3"),
     "case when (symbol='GE') then volume when (symbol='DELL') then volume / 2.0 when (symbol='MSFT') then volume / 3.0 end",
     [{"symbol": s, "volume": 10000} for s in ("DELL", "MSFT", "GE")], [5000.0, 10000 / 3, 10000.0]),
    (CA.format("ExprCoreCaseSyntax1WithElse"), "case when symbol='DELL' then 3 * volume else volume end",
     [{"symbol": "CSCO", "volume": 4000}, {"symbol": "DELL", "volume": 20}], [4000, 60]),
]


@pytest.mark.parametrize(("expr", "events", "expected"), [
    pytest.param(x, e, want, marks=pytest.mark.esper("case", cite=cite), id=f"case:{x}")
    for cite, x, e, want in CASE_CASES])
def test_case_like_esper(expr: str, events: list[dict[str, Any]], expected: list[Any]) -> None:
    got = selected(expr, events)
    assert [round(g, 9) if isinstance(g, float) else g for g in got] == \
        [round(w, 9) if isinstance(w, float) else w for w in expected]


@pytest.mark.esper("case", cite=CA.format("ExprCoreCaseSyntax1Sum") + " (a case over a property and an aggregate: "
                   "one row per event)")
def test_case_between_property_and_aggregate() -> None:
    h = Harness("@Name('s0') select case when symbol='GE' then volume when symbol='DELL' then sum(price) end as p1 "
                "from Flow#length(10)")
    for t, (s, v, p) in enumerate([("DELL", 10000, 50.0), ("DELL", 10000, 50.0), ("CSCO", 4000, 5.0), ("GE", 20, 30.0)]):
        h.send(t, symbol=s, volume=v, price=p)
    assert [r.values["p1"] for r in h.of("s0")] == [50.0, 100.0, None, 20]


@pytest.mark.esper("case", cite=CA.format("ExprCoreCaseSyntax2Sum") + " (case value choosing among aggregates)")
def test_case_value_choosing_aggregates() -> None:
    h = Harness("@Name('s0') select case i when 1 then sum(l) when 2 then sum(f) else sum(i) end as p1 "
                "from Flow#length(10)")
    for t, (i, lv, f) in enumerate([(1, 10, 3.0), (1, 15, 3.0), (2, 1, 3.0), (2, 1, 3.0), (5, 1, 1.0), (5, 1, 1.0)]):
        h.send(t, i=i, l=lv, f=f)
    assert [r.values["p1"] for r in h.of("s0")] == [10, 25, 9.0, 12.0, 11, 16]


@pytest.mark.esper("case", cite=CA.format("ExprCoreCaseSyntax2NoAsName") + " (the column is named by its text)")
def test_case_column_named_by_its_text() -> None:
    h = Harness("@Name('s0') select case i when 1 then 0 end from Flow#length(10)")
    h.send(0, i=1)
    assert h.of("s0")[0].values == {"case i when 1 then 0 end": 0}


CO = "ExprCoreCoalesce.{}"
MM = "ExprCoreMinMaxNonAgg.ExecCoreMinMax"
OTHER_CASES: list[tuple[str, str, str, list[dict[str, Any]], list[Any]]] = [
    ("coalesce", CO.format("ExprCoreCoalesceLong"), "coalesce(l, i, sh)",
     [{"l": 1, "i": 2, "sh": 3}, {"l": None, "i": 2, "sh": None}, {"l": None, "i": None, "sh": 3},
      {"l": None, "i": None, "sh": None}], [1, 2, 3, None]),
    ("coalesce", CO.format("ExprCoreCoalesceDouble"), "coalesce(null, by, sh, i, l, f, db)",
     [dict(zip(("by", "sh", "i", "l", "f", "db"), vals, strict=True)) for vals in
      [(None, None, None, None, None, None), (None, 2, None, None, None, 1.0), (None, None, None, None, None, 100.0),
       (None, None, None, None, 10.0, 100.0), (None, None, 1, 5, 10.0, 100.0), (3, None, None, None, None, None),
       (None, None, None, 5, 10.0, 100.0)]], [None, 2, 100.0, 10.0, 1, 3, 5]),
    ("coalesce", CO.format("ExprCoreCoalesceNull"), "coalesce(null, null)", [{}], [None]),
    ("max-min-row", MM, "max(l, i)", [{"l": 10, "i": 20}, {"l": -10, "i": -20}, {"l": None, "i": None},
                                      {"l": 1, "i": None}], [20, -10, None, None]),
    ("max-min-row", MM, "max(l, i, sh)", [{"l": 10, "i": 20, "sh": 4}, {"l": -10, "i": -20, "sh": -30},
                                          {"l": None, "i": None, "sh": None}, {"l": 1, "i": None, "sh": 1}],
     [20, -10, None, None]),
    ("max-min-row", MM, "min(l, i)", [{"l": 10, "i": 20}, {"l": -10, "i": -20}, {"l": None, "i": None},
                                      {"l": 1, "i": None}], [10, -20, None, None]),
    ("max-min-row", MM, "min(l, i, sh)", [{"l": 10, "i": 20, "sh": 4}, {"l": -10, "i": -20, "sh": -30},
                                          {"l": None, "i": None, "sh": None}, {"l": 1, "i": None, "sh": 1}],
     [4, -30, None, None]),
]


@pytest.mark.parametrize(("expr", "events", "expected"), [
    pytest.param(x, e, want, marks=pytest.mark.esper(c, cite=cite), id=f"{c}:{x}")
    for c, cite, x, e, want in OTHER_CASES])
def test_coalesce_and_row_min_max_like_esper(expr: str, events: list[dict[str, Any]], expected: list[Any]) -> None:
    assert selected(expr, events) == expected


@pytest.mark.esper("coalesce", cite=CO.format("ExprCoreCoalesceBeans") + " (the tag that matched, over a pattern)")
def test_coalesce_over_pattern_tags() -> None:
    h = Harness("@Name('s0') select coalesce(a.s, b.s) as myString from pattern [every (a=Flow(s='s0') or "
                "b=Flow(s='s1'))]")
    h.send(0, s="s0")
    h.send(1, s="s1")
    assert [r.values["myString"] for r in h.of("s0")] == ["s0", "s1"]


@pytest.mark.esper("unsupported-is-an-error", cite=CO.format("ExprCoreCoalesceInvalid") + " (coalesce of one value)")
def test_coalesce_of_one_value_is_refused() -> None:
    with pytest.raises(EPLError) as info:
        compile_module("select coalesce(intPrimitive) as result from Flow")
    assert "coalesce()" in str(info.value) and info.value.line == 1 and info.value.column


CT = "ExprCoreCast.{}"
CAST_CASES: list[tuple[str, str, list[dict[str, Any]], list[Any]]] = [
    (CT.format("ExprCoreCastWStaticType") + " (text parsed)", "cast(v, int)", d("v", ["100", 10]), [100, 10]),
    (CT.format("ExprCoreCastWStaticType"), "cast(v, double)", d("v", ["1.4E-1"]), [0.14]),
    (CT.format("ExprCoreCastWStaticType"), "cast(v, long)", d("v", ["-10", 11]), [-10, 11]),
    (CT.format("ExprCoreCastWStaticType"), "cast(v, float)", d("v", ["1.001"]), [1.001]),
    (CT.format("ExprCoreCastWStaticType") + " (byte text is decoded: 0x0A)", "cast(v, byte)", d("v", ["0x0A"]), [10]),
    (CT.format("ExprCoreCastWStaticType"), "cast(v, short)", d("v", ["223"]), [223]),
    (CT.format("ExprCoreCastWStaticType"), "cast(v, java.lang.Long)", d("v", [10]), [10]),
    (CT.format("ExprCoreCastSimple") + " (null stays null)", "cast(v, int)", d("v", [3, None]), [3, None]),
    (CT.format("ExprCoreCastSimple") + " (a float narrows toward zero)", "cast(v, long)", d("v", [9.5, None]), [9, None]),
    (CT.format("ExprCoreCastSimple"), "cast(v, java.lang.String)", d("v", ["abc", None]), ["abc", None]),
    (CT.format("ExprCoreCastSimpleMoreTypes"), "cast(v, float)", d("v", [1]), [1.0]),
    (CT.format("ExprCoreCastSimpleMoreTypes"), "cast(v, short)", d("v", [1]), [1]),
    (CT.format("ExprCoreCastSimpleMoreTypes"), "cast(v, byte)", d("v", [1]), [1]),
    (CT.format("ExprCoreCastSimpleMoreTypes"), "cast(v, boolean)", d("v", ["true"]), [True]),
    ("Esper reference, 'The Cast Function' (Java's narrowing: (byte) 300 is 44, (int) 3e10 saturates, (int) 2^40 "
     "wraps)", "cast(v, byte)", d("v", [300, -129]), [44, 127]),
    ("Esper reference, 'The Cast Function' (Java's narrowing)", "cast(v, int)", d("v", [3e10, -2.7, 2 ** 40]),
     [2147483647, -2, 0]),
    ("Esper reference, 'The Cast Function' (Integer.parseInt: no spaces, ASCII digits, in range; else null "
     "where Esper raises)", "cast(v, int)", d("v", [" 7", "1_000", "\u0663", "2147483648", "1.5"]),
     [None, None, None, None, None]),
]


@pytest.mark.parametrize(("expr", "events", "expected"), [
    pytest.param(x, e, want, marks=pytest.mark.esper("cast", cite=cite), id=f"cast:{x}:{i}")
    for i, (cite, x, e, want) in enumerate(CAST_CASES)])
def test_cast_like_esper(expr: str, events: list[dict[str, Any]], expected: list[Any]) -> None:
    assert selected(expr, events) == expected


ARITH_TEXT = "Esper reference, 'Arithmetic Operators' (numbers only; text is joined with ||, which FlowCEP refuses)"


@pytest.mark.esper("arithmetic", cite=ARITH_TEXT + ": text or lists reaching + or * give null, never joined "
                   "or repeated")
def test_arithmetic_on_text_values_is_null() -> None:
    got = selected("s + u", [{"s": "a", "u": "b"}, {"s": 1, "u": 2}, {"s": [1], "u": [2]}])
    assert got == [None, 3, None]
    assert selected("s * n", [{"s": "ab", "n": 3}, {"s": 2, "n": 3}]) == [None, 6]


@pytest.mark.esper("unsupported-is-an-error", cite=ARITH_TEXT + ": a text or boolean literal in arithmetic is a "
                   "compile error (Esper: implicit conversion from String to numeric is not allowed)")
@pytest.mark.parametrize("text", ["select 'a' + 'b' from Flow", "select s + 'x' from Flow",
                                  "select true + 1 from Flow", "select s || 'x' from Flow"])
def test_text_arithmetic_is_refused(text: str) -> None:
    with pytest.raises(EPLError) as info:
        compile_module(text)
    assert info.value.line == 1 and info.value.column


REL = [("v", "'B'", ["A", "B", "C"]), ("v", "2", [1, 2, 3]), ("v", "2L", [1, 2, 3]), ("v", "2f", [1.0, 2.0, 3.0]),
       ("v", "2d", [1.0, 2.0, 3.0])]


@pytest.mark.esper("null", cite="ExprCoreRelOp (>=, >, <=, < on text and numbers of each width)")
@pytest.mark.parametrize(("lhs", "rhs", "values"), REL, ids=[r[1] for r in REL])
def test_relational_operators(lhs: str, rhs: str, values: list[Any]) -> None:
    got = [selected(f"{lhs} {op} {rhs}", d("v", values)) for op in (">=", ">", "<=", "<")]
    assert got == [[False, True, True], [False, False, True], [True, True, False], [True, False, False]]


@pytest.mark.esper("arithmetic", cite="Esper reference, 'Arithmetic Operators' (a value past a double's range, "
                   "hostile input from JSON: the expression is null for that event, the run goes on)")
def test_integer_past_double_range_is_null_not_a_crash() -> None:
    assert selected("v / 3", [{"v": 10 ** 400}, {"v": 6}]) == [None, 2.0]
    assert selected("cast(v, double)", [{"v": 10 ** 400}, {"v": 3}]) == [None, 3.0]
    h = Harness("@Name('s0') select v from Flow where v * 1.5 > 1")
    h.batch([(0, {"v": 10 ** 400}), (1, {"v": 6})])
    assert [r.values["v"] for r in h.of("s0")] == [6]
