"""Round 8 of the Esper conformance cases: operand types checked wherever an expression is
compiled (on-statements, context declarations, named windows, not only SELECT), and statements
FlowCEP accepts whose rows could differ from Esper's (named windows, contexts, patterns,
output rate limiting, views), each against the Esper source, regression test or reference
section it cites. Each case sends events (an int moves the watermark; a list is one batch at
one time) and compares the rows."""

from __future__ import annotations

from typing import Any

import pytest

from flowcep_plugin.engine.compiler import compile_module
from flowcep_plugin.engine.harness import Harness
from flowcep_plugin.errors import EPLError

from .esper import deliveries

# -- operand types outside SELECT ------------------------------------------------------------------

WIN = "create window W#keepall as (k string, v long); insert into W select s as k, v from Flow(s != 'x');\n"

TYPES_CITE = ("espertechinc/esper: every expression is validated where it is compiled (ExprNodeUtilityValidate."
              "getValidatedSubtree for on-trigger where/set/merge actions in InfraOnMerge/InfraOnUpdate "
              "statements, filter specs of a context's initiating and partition streams through "
              "FilterSpecCompiler, the same node validation as SELECT): ExprEqualsNodeImpl (\"Implicit "
              "conversion from datatype 'String' to 'Integer' is not allowed\"), ExprNotNode, ExprAndNodeImpl, "
              "ExprCaseNode, ExprMathNode, getCommonCoercionType for coalesce")


@pytest.mark.parametrize("epl, needle", [
    (WIN + "on Flow(s = 'x') as f delete from W as w where 'a' = 1",
     "'a' is text and 1 is number: '=' compares values of one type"),
    (WIN + "on Flow(not 1) as f delete from W as w", "1 is number, not takes a condition"),
    (WIN + "on Flow(s = 'x') as f delete from W as w where w.k = f.s and 2",
     "2 is number, and takes conditions"),
    (WIN + "on Flow(s = 'x') as f update W as w set v = -'a' where w.k = f.s", "'a' is text, '-' takes a number"),
    (WIN + "on Flow(s = 'x') as f update W as w set v = case when 1 then 2 end",
     "1 is number, a case when condition must be a condition"),
    (WIN + "on Flow(s = 'x') as f update W as w set v = coalesce(f.v, 1, 'z')",
     "coalesce arguments mix"),
    (WIN + "@Name('s0') on Flow(s = 'x') as f select w.v as v from W as w where w.v > 'a' or 1",
     "1 is number, or takes conditions"),
    (WIN + "on Flow(s = 'x') as f merge W as w where w.k = f.s when matched and not 1 then delete",
     "1 is number, not takes a condition"),
    (WIN + "on Flow(s = 'x') as f merge W as w where w.k = f.s when not matched then insert "
     "select f.s as k, 1 + 'a' as v", "'a' is text, arithmetic '+' takes numbers"),
    (WIN + "on Flow(s = 'x') as f merge W as w where w.k = f.s when not matched then insert "
     "select f.s as k, f.v as v where 'a' = true", "'a' is text and true is boolean"),
    ("create context C initiated by Flow('a' = 2) as i terminated after 5 sec; "
     "context C select count(*) as c from Flow", "'a' is text and 2 is number"),
    ("create context C initiated by Flow(not 1) as i terminated after 5 sec; "
     "context C select count(*) as c from Flow", "1 is number, not takes a condition"),
    ("create context C partition by s from Flow(1 > 'a'); context C select count(*) as c from Flow",
     "'a' is text"),
    ("create context C partition by s from Flow(case when 1 then true end); "
     "context C select count(*) as c from Flow", "1 is number, a case when condition"),
])
@pytest.mark.esper("expr-types-invalid", cite=TYPES_CITE)
def test_operand_types_are_checked_outside_select(epl: str, needle: str) -> None:
    with pytest.raises(EPLError) as info:
        compile_module(epl)
    msg = str(info.value)
    assert needle in msg
    assert msg.startswith("<epl>:")  # line and column of the operand


@pytest.mark.esper("expr-types-invalid", cite=TYPES_CITE + "; the error names the line and column of the operand")
def test_operand_type_error_names_its_position() -> None:
    epl = WIN + "on Flow(s = 'x') as f\n  delete from W as w\n  where w.k = f.s and not 'q'"
    with pytest.raises(EPLError) as info:
        compile_module(epl)
    assert str(info.value).startswith("<epl>:4:")
    assert "'q' is text, not takes a condition" in str(info.value)


@pytest.mark.esper("named-window-on", cite="the same validation accepts numbers of any kind together, text with "
                   "text and null with anything; window and trigger properties are not checked here")
def test_on_statements_of_compatible_types_still_run() -> None:
    epl = WIN + ("on Flow(s = 'x' and not (v = 1.5)) as f update W as w set v = w.v + 1 "
                 "where w.k = coalesce(f.k, 'none') and w.v between 0 and 2.5;\n"
                 "@Name('s0') on Flow(s = 'dump') select w.k as k, w.v as v from W as w order by k")
    got = deliveries(epl, [(1, {"s": "a", "v": 1}), (2, {"s": "b", "v": 5}),
                           (3, {"s": "x", "k": "a", "v": 2}), (4, {"s": "x", "k": "b", "v": 2}),
                           (5, {"s": "dump"})], "k", "v")
    assert got == [(5, "+", "a", 2), (5, "+", "b", 5)]


# -- declared types: named window columns and schema properties -------------------------------------

DECLARED_CITE = ("espertechinc/esper: a named window's columns and a schema's properties have their declared "
                 "types, and validation uses them: ExprEqualsNodeImpl/ExprRelationalOpNodeImpl (\"Implicit "
                 "conversion from datatype 'String' to 'Long' is not allowed\"); assignments and inserts go "
                 "through TypeWidenerFactory (regression InfraNamedWindowInsertFrom/EPLInsertIntoInvalid: "
                 "\"insert into MyWindow(intPrimitive) select 'a'\" and \"set intPrimitive=longPrimitive\" are "
                 "\"Invalid assignment of column ... column and parameter types mismatch\")")


@pytest.mark.parametrize("epl, needle", [
    (WIN + "@Name('s0') on Flow(s = 'x') as f select w.k as k from W as w where w.v = 'a'",
     "w.v is number and 'a' is text: '=' compares values of one type"),
    (WIN + "on Flow(s = 'x') as f delete from W as w where w.k > 5",
     "w.k is text and 5 is number: '>' compares numbers, or text with text"),
    (WIN + "on Flow(s = 'x') as f update W as w set v = 'x' where w.k = f.s",
     "'x' is text, column 'v' of named window W is long (as in Esper: column and parameter types mismatch)"),
    (WIN + "on Flow(s = 'x') as f update W as w set k = 1",
     "1 is number, column 'k' of named window W is string"),
    (WIN + "on Flow(s = 'x') as f update W as w set v = 2.5",
     "2.5 is a double, column 'v' of named window W is long: a double is not narrowed"),
    (WIN + "on Flow(s = 'x') as f update W as w set v = w.v / 2",
     "w.v / 2 is a double, column 'v' of named window W is long"),
    (WIN + "on Flow(s = 'x') as f update W as w set v = w.k",
     "w.k is text, column 'v' of named window W is long"),
    ("create window W#keepall as (k string, v long); insert into W select s as k, 'zz' as v from Flow",
     "'zz' is text, column 'v' of named window W is long"),
    ("create window W#keepall as (k string, v long); insert into W select s as k, v > 1 as v from Flow",
     "v > 1 is boolean, column 'v' of named window W is long"),
    (WIN + "on Flow(s = 'x') as f merge W as w where w.k = f.s when matched then update set k = w.v",
     "w.v is number, column 'k' of named window W is string"),
    (WIN + "on Flow(s = 'x') as f merge W as w where w.k = f.s when not matched then insert "
     "select f.s as k, 'q' as v", "'q' is text, column 'v' of named window W is long"),
    (WIN + "on Flow(s = 'x') as f delete from W as w where v = 'a'", "v is number and 'a' is text"),
    (WIN + "on Flow(s = 'x') as f update W as w set v = k", "k is text, column 'v' of named window W is long"),
    (WIN + "on Flow(s = 'x') as f merge W as w where w.k = f.s when matched and v > 'a' then delete",
     "v is number and 'a' is text"),
    ("create schema Ev (k string, v long); @Name('s0') select k from Ev where v = 'a'",
     "v is number and 'a' is text"),
    ("create schema Ev (k string, v long); @Name('s0') select k from Ev as e where e.k between 1 and 2",
     "1 is number beside text: between"),
    ("create schema Ev (k string, v long); create window W#keepall as (k string, v long);\n"
     "insert into W select v as k, v from Ev", "v is number, column 'k' of named window W is string"),
])
@pytest.mark.esper("expr-types-invalid", cite=DECLARED_CITE)
def test_declared_types_are_checked(epl: str, needle: str) -> None:
    with pytest.raises(EPLError) as info:
        compile_module(epl)
    assert needle in str(info.value)


@pytest.mark.esper("named-window-on", cite=DECLARED_CITE + "; widening is allowed: an integer into a double "
                   "column becomes a double, an int into a long column; null into any column")
def test_declared_types_that_fit_still_run() -> None:
    epl = ("create window W#keepall as (k string, v long, d double);\n"
           "insert into W select s as k, v, v as d from Flow(s != 'x');\n"
           "on Flow(s = 'x') as f update W as w set v = w.v * 2, d = 1, k = null where w.k = f.k and w.d < 5.5;\n"
           "@Name('s0') on Flow(s = 'dump') select w.k as k, w.v as v, w.d as d from W as w order by v")
    got = deliveries(epl, [(1, {"s": "a", "v": 1}), (2, {"s": "b", "v": 7}),
                           (3, {"s": "x", "k": "a"}), (4, {"s": "x", "k": "b"}), (5, {"s": "dump"})], "k", "v", "d")
    assert got == [(5, "+", None, 2, 1.0), (5, "+", "b", 7, 7.0)]


@pytest.mark.esper("expr-types", cite=DECLARED_CITE + "; an on-statement's bare name is the declared stream's that "
                   "has it (the window's, beside an undeclared trigger), but its trigger filter and a 'when not "
                   "matched' clause read the trigger alone")
def test_bare_names_in_on_statements_follow_their_stream() -> None:
    for epl in (WIN + "on Flow(v = 'x') as f delete from W as w",
                WIN + "on Flow as f merge W as w where w.k = f.s when not matched and v > 'a' then insert "
                      "select f.s as k, 1 as v"):
        compile_module(epl)  # v is the trigger's (a flow: no declared type): not checked


@pytest.mark.esper("expr-types", cite=DECLARED_CITE + "; in a subquery a bare name is the subquery's stream's, "
                   "so the outer stream's declared types do not apply there")
def test_declared_types_stop_at_a_subquery() -> None:
    epl = ("create schema Ev (k string, v long);\n"
           "@Name('s0') select k, (select count(*) from Flow#keepall where k = 1) as c from Ev")
    compile_module(epl)  # Flow's k has no declared type: not checked


# -- aggregating subqueries under exists / in / any / all --------------------------------------------

AGG_SUB = ("espertechinc/esper regression-lib EPLSubselectAggregatedInExistsAnyAll ({}) and "
           "SubselectNRForgeFactory.createStrategyExists / SubselectForgeNREqualsInAggregated (an ungrouped "
           "aggregating subquery has its one row even over no events: exists without HAVING is always "
           "true; HAVING null or false makes exists false and in/any/all null)")
SB = "Flow(e = 'sb')#keepall"


def value_events(epl: str, steps: list[tuple[Any, ...]], ncols: int) -> tuple[list[tuple[Any, ...]],
                                                                             list[tuple[Any, ...]]]:
    """Esper's SupportBean (e='sb', k, ip) and SupportValueEvent (e='ve', value): each 've' step
    carries the row Esper gives; returns (Esper's rows, ours)."""
    h = Harness(epl)
    expected = []
    for t, step in enumerate(steps, start=1):
        if step[0] == "sb":
            h.send(t, e="sb", k=step[1], ip=step[2])
        else:
            h.send(t, e="ve", value=step[1])
            expected.append(step[2])
    got = [tuple(r.values[f"c{i}"] for i in range(ncols)) for r in h.of("s0")]
    return expected, got


@pytest.mark.esper("subquery-aggregated", cite=AGG_SUB.format("EPLSubselectUngroupedWOHavingWExists, with "
                                                              "a data window"))
def test_exists_over_an_ungrouped_aggregate_is_true_over_no_events() -> None:
    epl = (f"@Name('s0') select exists (select sum(ip) from {SB}) as c0, not exists (select sum(ip) from {SB}) "
           f"as c1, exists (select count(*) from {SB} where ip > 100) as c2 from Flow(e = 've')")
    expected, got = value_events(epl, [("ve", -1, (True, False, True)), ("sb", "E1", 1),
                                       ("ve", -1, (True, False, True))], 3)
    assert got == expected


@pytest.mark.esper("subquery-aggregated", cite=AGG_SUB.format("EPLSubselectUngroupedWHavingWExists, "
                                                              "EPLSubselectGroupedWOHavingWExists"))
def test_exists_over_aggregates_with_having_or_groups() -> None:
    epl = (f"@Name('s0') select exists (select sum(ip) from {SB} having sum(ip) < 15) as c0, "
           f"exists (select sum(ip) from {SB} group by k) as c1 from Flow(e = 've')")
    expected, got = value_events(epl, [("ve", -1, (False, False)), ("sb", "E1", 1), ("ve", -1, (True, True)),
                                       ("sb", "E1", 100), ("ve", -1, (False, True))], 2)
    assert got == expected


@pytest.mark.esper("subquery-aggregated", cite=AGG_SUB.format("EPLSubselectUngroupedWHavingWIn, "
                                                              "...WEqualsAllAnySome, ...WRelOpAllAnySome, with "
                                                              "count(*) > 1 for last(theString) != 'E1'"))
def test_in_any_all_over_an_ungrouped_aggregate_failing_having_are_null() -> None:
    sub = f"(select sum(ip) from {SB} having count(*) > 1)"
    epl = (f"@Name('s0') select value in {sub} as c0, value not in {sub} as c1, value = all {sub} as c2, "
           f"value = any {sub} as c3, value < all {sub} as c4, value < any {sub} as c5 from Flow(e = 've')")
    none6 = (None,) * 6
    expected, got = value_events(epl, [
        ("ve", 10, none6), ("sb", "E1", 10), ("ve", 10, none6),
        ("sb", "E2", 0), ("ve", 10, (True, False, True, True, False, False)),
        ("sb", "E3", 1), ("ve", 10, (False, True, False, False, True, True)),
        ("sb", "E4", -1000), ("ve", 10, (False, True, False, False, False, False))], 6)
    assert got == expected


@pytest.mark.esper("subquery-aggregated", cite=AGG_SUB.format("EPLSubselectGroupedWOHavingWIn, "
                                                              "...GroupedWOHavingWRelOpAllAnySome, "
                                                              "...UngroupedWOHavingWIn"))
def test_in_any_all_over_groups_and_over_no_rows() -> None:
    grouped = f"(select sum(ip) from {SB} group by k)"
    ungrouped = f"(select sum(ip) from {SB})"
    epl = (f"@Name('s0') select value in {grouped} as c0, value < all {grouped} as c1, value < any {grouped} "
           f"as c2, value in {ungrouped} as c3 from Flow(e = 've')")
    expected, got = value_events(epl, [
        ("ve", 10, (False, True, False, None)), ("sb", "E1", 19), ("sb", "E2", 11),
        ("ve", 10, (False, True, True, False)), ("ve", 11, (True, False, True, False)),
        ("sb", "E3", -20), ("ve", 10, (False, False, True, True))], 4)
    assert got == expected


# -- on-merge: several actions of one matched clause -------------------------------------------------

NWM = ("espertechinc/esper regression-lib suite/infra/nwtable/InfraNWTableOnMerge.{} (named window) and "
       "InfraOnMergeActionUpd/InfraOnMergeActionDel: an update adds a copy of the matched row with its "
       "assignments and removes the matched row; a delete removes the matched row")
MW = ("@Name('create') create window W#keepall as (p0 string, p1 long);\n"
      "insert into W select s as p0, v as p1 from Flow(e = 'i');\n"
      "@Name('s0') on Flow(e = 'dump') select w.p0 as p0, w.p1 as p1 from W as w order by p1;\n")


@pytest.mark.parametrize("actions", ["then delete then update set p1 = t.v", "then update set p1 = t.v then delete"])
@pytest.mark.esper("on-merge", cite=NWM.format("InfraDeleteThenUpdate"))
def test_merge_delete_and_update_leave_the_updated_row(actions: str) -> None:
    epl = MW + f"@Name('m') on Flow(e = 't') as t merge W as w where t.s = w.p0 when matched {actions}"
    h = Harness(epl)
    h.send(1, e="i", s="A", v=1)
    h.send(2, e="t", s="A", v=10)
    h.send(3, e="dump")
    assert [(r.values["p0"], r.values["p1"]) for r in h.of("s0")] == [("A", 10)]
    assert [(r.time_ms, r.removed, r.values["p1"]) for r in h.of("create")] == [(1, False, 1), (2, False, 10),
                                                                                 (2, True, 1)]
    assert [(r.removed, r.values["p1"]) for r in h.of("m") if not r.removed] == [(False, 10)]


@pytest.mark.esper("on-merge", cite=NWM.format("InfraMultiactionDeleteUpdate (the conditions of the later actions "
                                               "read the last updated row; an update's result is never deleted)"))
def test_merge_multiaction_delete_update() -> None:
    epl = ("@Name('create') create window W#keepall as (theString string, intPrimitive long);\n"
           "insert into W select s as theString, v as intPrimitive from Flow(e = 'sb');\n"
           "on Flow(e = 'st0') as st0 merge W as win where st0.key0 = win.theString when matched\n"
           " then delete where intPrimitive < 0\n"
           " then update set intPrimitive = st0.p00 where intPrimitive = 3000 or p00 = 3000\n"
           " then update set intPrimitive = 999 where intPrimitive = 1000\n"
           " then delete where intPrimitive = 1000\n"
           " then update set intPrimitive = 1999 where intPrimitive = 2000\n"
           " then delete where intPrimitive = 2000;\n"
           "@Name('s0') on Flow(e = 'dump') select win.theString as s, win.intPrimitive as v from W as win")
    h = Harness(epl)
    t = 0
    for s, v, p in [("E1", 1, 0), ("E2", -1, 0), ("E3", 3000, 3), ("E4", 4, 3000), ("E5", 1000, 0), ("E6", 2000, 0)]:
        h.send(t := t + 1, e="sb", s=s, v=v)
        h.send(t := t + 1, e="st0", key0=s, p00=p)
    h.send(t + 1, e="dump")
    assert sorted((r.values["s"], r.values["v"]) for r in h.of("s0")) == [
        ("E1", 1), ("E3", 3), ("E4", 3000), ("E5", 999), ("E6", 1999)]


@pytest.mark.esper("on-merge", cite=NWM.format("named window: each update copies the matched row "
                                               "(EventBeanUpdateHelperWCopy.updateWCopy), so two updates that "
                                               "apply leave two rows"))
def test_merge_two_updates_leave_two_rows() -> None:
    epl = MW + ("on Flow(e = 't') as t merge W as w where t.s = w.p0 when matched "
                "then update set p1 = w.p1 + 10 then update set p1 = w.p1 + 100")
    h = Harness(epl)
    h.send(1, e="i", s="A", v=1)
    h.send(2, e="t", s="A")
    h.send(3, e="dump")
    assert [(r.values["p0"], r.values["p1"]) for r in h.of("s0")] == [("A", 11), ("A", 101)]


@pytest.mark.parametrize("epl, needle", [
    ("select * from pattern [every a=Flow(coalesce(v, 'x') = 1)]", "coalesce(v, 'x') is text and 1 is number"),
    ("select max(v, 2) = 'a' as c from Flow", "max(v, 2) is number and 'a' is text"),
    ("select case when v > 1 then coalesce(v, 1) else 'x' end as c from Flow", "case results mix number and text"),
    ("select count(*) as c from Flow having count(*) = 'a'", "count(*) is number and 'a' is text"),
    ("select sum(v) > 'x' as c from Flow", "sum(v) is number and 'x' is text"),
    ("select max('a') = 1 as c from Flow", "max('a') is text and 1 is number"),
])
@pytest.mark.esper("expr-types-invalid", cite="espertechinc/esper ExprCoalesceNode (its type is its arguments' common "
                   "type: a text argument makes it text, or an error beside a number, whatever the other argument "
                   "holds), ExprMinMaxRowNode (numbers), the aggregation forges' result types (count a long, sum/avg "
                   "numbers, min/max their argument's type): the comparisons then fail ExprEqualsNodeImpl's check")
def test_functions_and_aggregates_have_their_known_type(epl: str, needle: str) -> None:
    with pytest.raises(EPLError) as info:
        compile_module(epl)
    assert needle in str(info.value)


@pytest.mark.parametrize("where", ["ipfix.destinationTransportPort = '80'", "destinationTransportPort = '80'",
                                   "f.ipfix.destinationTransportPort = '80'"])
@pytest.mark.esper("expr-types-invalid", cite=DECLARED_CITE + "; a flow schema's dotted ipfix.x property is also x")
def test_flow_schema_types_take_part(where: str) -> None:
    epl = ("@Tag(name='timestamp', value='ipfix.flowEndMilliseconds') create map schema IPFIX("
           "ipfix.flowEndMilliseconds long, ipfix.destinationTransportPort int, ipfix.sourceIPv4Address string);\n"
           f"select * from IPFIX as f where {where}")
    with pytest.raises(EPLError) as info:
        compile_module(epl)
    assert "is number and '80' is text" in str(info.value)


# -- true is not the number 1 -------------------------------------------------------------------------

@pytest.mark.parametrize("epl, needle", [
    ("select -true as a from Flow", "true is boolean, '-' takes a number"),
    ("select count(*) as c from Flow#length(true)", "length: expected a positive number of events"),
    ("select count(*) as c from Flow#length_batch(true)", "length_batch: expected a positive number of events"),
    ("select count(*) as c from Flow#firstlength(true)", "firstlength: expected a positive number of events"),
    ("select count(*) as c from Flow#sort(true, v)", "sort: expected a positive number of events"),
    ("select count(*) as c from Flow#time_length_batch(1 sec, true)", "time_length_batch: expected a positive"),
    ("select 1 as one from pattern [timer:interval(true)]", "unsupported construct: a time period"),
    ("create window W#length(true) as (k string)", "unsupported construct: view #length on named window W"),
    ("create window W#time(true) as (k string)", "unsupported construct: view #time on named window W"),
])
@pytest.mark.esper("expr-types-invalid", cite="espertechinc/esper view factories' parameter validation (\"Length "
                   "window view requires a single integer-type parameter\", ViewParameterHelper.validateAndEvaluate"
                   "TimeDelta for time periods) and ExprUnaryMinusNode (numbers only): FlowCEP took the boolean true "
                   "as the number 1 (Python's bool is an int), so #length(true) ran as #length(1) and -true as -1")
def test_true_is_not_a_number(epl: str, needle: str) -> None:
    with pytest.raises(EPLError) as info:
        compile_module(epl)
    assert needle in str(info.value)


# -- an update that gives a row the key another row of a unique window holds -------------------------

UPD_KEY = ("create window W#{view}(k) as (k string, v long);\n"
           "insert into W select s as k, v from Flow(e = 'i');\n"
           "on Flow(e = 'u') as u update W as w set k = 'B' where w.k = 'A';\n"
           "@Name('s0') on Flow(e = 'dump') select w.k as k, w.v as v from W as w;\n"
           "@Name('c') select count(*) as c from W")


@pytest.mark.parametrize("view, rows, counts", [
    ("unique", [("B", 1)], [1, 2, 1]),       # the row that held B leaves
    ("firstunique", [("B", 2)], [1, 2, 1]),  # the first B stays; the updated row is not taken
])
@pytest.mark.esper("named-window-on", cite="espertechinc/esper: a named window's on-update hands its data window the "
                   "updated copy as new and the row as old (NamedWindowOnUpdateView); UniqueByPropertyView lets the row "
                   "holding the copy's key go, FirstUniqueByPropertyView keeps it and does not take the copy")
def test_update_into_a_key_another_row_holds(view: str, rows: list[tuple[str, int]], counts: list[int]) -> None:
    h = Harness(UPD_KEY.format(view=view))
    h.send(1, e="i", s="A", v=1)
    h.send(2, e="i", s="B", v=2)
    h.send(3, e="u")
    h.send(4, e="dump")
    assert [(r.values["k"], r.values["v"]) for r in h.of("s0")] == rows
    assert [r.values["c"] for r in h.of("c")] == counts
