"""Round 7 of the Esper conformance cases: expression and aggregation edge cases (regexp over
text with line breaks, HAVING over a fully aggregated statement, ...), each against the Esper
source, regression test or reference section it cites. Each case sends events (an int moves the
watermark; a list is one batch at one time) and compares the rows."""

from __future__ import annotations

import pytest

from flowcep_plugin.engine.compiler import compile_module
from flowcep_plugin.errors import EPLError

from .esper import deliveries, one_ms_apart

REF = "Esper reference, {}"


# -- regexp ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("pattern, expected", [
    ("a.b", ["a-b"]),               # '.' is not a line terminator (no DOTALL)
    ("(?s)a.b", ["a\nb", "a-b"]),   # the embedded flag asks for it, as in Java
    ("a[^-]b", ["a\nb"]),           # a negated class does include it
    ("a.*", ["a-b"]),               # matches(): '.*' cannot cross the newline to the end
])
@pytest.mark.esper("expr-regexp", cite="espertechinc/esper ExprRegexpNode.validate (the constant pattern is "
                   "java.util.regex.Pattern.compile(text) with no flags, matched by Matcher.matches())")
def test_regexp_dot_does_not_match_a_newline(pattern: str, expected: list[str]) -> None:
    got = deliveries(f"@Name('s0') select q from Flow where q regexp '{pattern}'",
                     one_ms_apart({"q": "a\nb"}, {"q": "a-b"}), "q")
    assert [r[2] for r in got] == expected


# -- HAVING -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("epl", [
    "select count(*) from Flow#length(5) having v > 0",
    "select sum(v) as s from Flow#length_batch(2) having v > 0 and sum(v) > 1",
])
@pytest.mark.esper("unsupported-is-an-error", cite="espertechinc/esper ResultSetProcessorFactoryFactory (without "
                   "GROUP BY, a select list of aggregates alone makes ResultSetProcessorRowForAll whatever HAVING "
                   "reads) and ResultSetProcessorRowForAll.getSelectListEvents (HAVING evaluated with no events): "
                   "refused by name, where FlowCEP would output a row per event")
def test_having_property_over_all_aggregates_is_refused(epl: str) -> None:
    with pytest.raises(EPLError) as info:
        compile_module(epl)
    assert "unsupported construct: HAVING reading property 'v'" in str(info.value)


@pytest.mark.esper("having", cite="espertechinc/esper ResultSetProcessorFactoryFactory (a property in the select "
                   "list makes ResultSetProcessorRowPerEvent: HAVING reads each event) and validateHaving (only "
                   "with GROUP BY must HAVING's properties be grouped)")
def test_having_property_with_the_property_selected() -> None:
    got = deliveries("@Name('s0') select v, count(*) as c from Flow#length(5) having v > 1",
                     one_ms_apart({"v": 1}, {"v": 2}, {"v": 0}, {"v": 3}), "v", "c")
    assert got == [(2, "+", 2, 2), (4, "+", 3, 4)]


# -- common types of case, coalesce, max/min(a, b) ----------------------------------------------------

COERCE = ("espertechinc/esper JavaClassHelper.getCommonCoercionType (text with another type, boolean with "
          "another type: CoercionException) as ExprCaseNode and ExprCoalesceNode validate their results "
          "(\"Implicit conversion not allowed\"), and ExprMinMaxRowNode.validate (\"Implicit conversion from "
          "datatype 'String' to numeric is not allowed\")")


@pytest.mark.parametrize("expr, needle", [
    ("case when v > 0 then 1 else 'a' end", "case results mix number and text"),
    ("case when v > 0 then true else 1 end", "case results mix boolean and number"),
    ("case when v > 0 then 1 when v < 0 then 2.5 else 'z' end", "case results mix number and text"),
    ("case v when 'a' then 1 when 2 then 2 end", "case value and when values mix text and number"),
    ("coalesce('x', 1)", "coalesce arguments mix text and number"),
    ("coalesce(v, true, 0)", "coalesce arguments mix boolean and number"),
    ("max(v, 'a')", "max() of several values: 'a' is text"),
    ("min(1, v > 2)", "min() of several values: v > 2 is boolean"),
])
@pytest.mark.esper("expr-types-invalid", cite=COERCE)
def test_results_without_a_common_type_are_errors(expr: str, needle: str) -> None:
    with pytest.raises(EPLError) as info:
        compile_module(f"select {expr} as a from Flow")
    assert needle in str(info.value)


@pytest.mark.esper("expr-types", cite=COERCE + "; a number with a double is a double, null has no type "
                   "(ExprCoreCase.ExprCoreCaseSyntax1WithNull)")
def test_results_with_a_common_type_still_run() -> None:
    got = deliveries("@Name('s0') select case when v > 0 then 1 else 2.5 end as a, case when v > 0 then 'p' "
                     "else null end as b, coalesce(v, 0) as c, max(v, 2.5) as d, case v when 1 then 'one' "
                     "when 2.0 then 'two' end as e from Flow", one_ms_apart({"v": 1}, {"v": 0}),
                     "a", "b", "c", "d", "e")
    assert got == [(1, "+", 1.0, "p", 1, 2.5, "one"), (2, "+", 2.5, None, 0, 2.5, None)]


# -- operands of a known type that Esper's validation refuses --------------------------------------

@pytest.mark.parametrize("expr, needle", [
    ("'a' = 1", "'a' is text and 1 is number: '=' compares values of one type"),
    ("'5' != 5", "'5' is text and 5 is number: '!='"),
    ("true = 1", "true is boolean and 1 is number"),
    ("'a' > 5", "'a' is text and 5 is number: '>' compares numbers, or text with text"),
    ("v > true", "true is boolean, '>' compares numbers or text"),
    ("v between 'a' and 2", "2 is number beside text: between"),
    ("v in ('a', 1)", "1 is number beside text: in compares values of one type"),
    ("not 1", "1 is number, not takes a condition"),
    ("1 and v", "1 is number, and takes conditions"),
    ("v or 'x'", "'x' is text, or takes conditions"),
    ("v like 1", "1 is number, the like pattern is text"),
    ("-'a'", "'a' is text, '-' takes a number"),
    ("v * (v > 1)", "v > 1 is boolean, arithmetic '*' takes numbers"),
    ("case when 1 then 2 end", "1 is number, a case when condition must be a condition"),
])
@pytest.mark.esper("expr-types-invalid", cite="espertechinc/esper expression validation: ExprEqualsNodeImpl "
                   "(\"Implicit conversion from datatype 'String' to 'Integer' is not allowed\"), "
                   "ExprRelationalOpNodeImpl and ExprBetweenNodeImpl (\"Implicit conversion from datatype "
                   "'String' to numeric is not allowed\", regression ExprFilterInvalid), ExprInNodeImpl "
                   "(getCommonCoercionType), ExprNotNode/ExprAndNodeImpl/ExprOrNode (\"Incorrect use of NOT "
                   "clause, sub-expressions do not return boolean\"), ExprCaseNode (\"Case node 'when' "
                   "expressions must return a boolean value\"), ExprMathNode, ExprLikeNode")
def test_operands_of_a_known_wrong_type_are_errors(expr: str, needle: str) -> None:
    with pytest.raises(EPLError) as info:
        compile_module(f"select {expr} as a from Flow")
    assert needle in str(info.value)


@pytest.mark.esper("expr-types", cite="the same validation: numbers of any kind compare with each other, text "
                   "with text, null with anything; a property of a flow has no declared type and is not checked")
def test_operands_of_compatible_or_unknown_types_still_run() -> None:
    got = deliveries("@Name('s0') select v = 1.0 as a, s > 'a' as b, v in (1, 2.5) as c, s = v as d, "
                     "v between 0 and 2.5 as e, null = 1 as f from Flow", one_ms_apart({"v": 1, "s": "b"}),
                     "a", "b", "c", "d", "e", "f")
    assert got == [(1, "+", True, True, True, False, True, None)]


@pytest.mark.parametrize("expr, needle", [
    ("sum('a')", "'a' is text, sum() takes numbers"),
    ("avg(v > 1)", "v > 1 is boolean, avg() takes numbers"),
    ("median('x')", "'x' is text, median() takes numbers"),
    ("stddev(true)", "true is boolean, stddev() takes numbers"),
    ("avedev(distinct 'a')", "'a' is text, avedev() takes numbers"),
])
@pytest.mark.esper("expr-types-invalid", cite="espertechinc/esper regression-lib ResultSetAggregateCountSumInvalid "
                   "(\"Implicit conversion from datatype ... to numeric is not allowed for aggregation function\") "
                   "and the aggregation forges' validation of their argument type")
def test_numeric_aggregates_of_text_or_conditions_are_errors(expr: str, needle: str) -> None:
    with pytest.raises(EPLError) as info:
        compile_module(f"select {expr} as a from Flow")
    assert needle in str(info.value)
