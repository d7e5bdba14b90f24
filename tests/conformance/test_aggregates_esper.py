"""Aggregate functions over windows, with nulls and with HAVING, against Esper's
``ResultSetAggregateCountSum`` regression test (and the invalid forms it refuses)."""

from __future__ import annotations

from typing import Any

import pytest

from flowcep_plugin.engine.compiler import compile_module
from flowcep_plugin.engine.harness import Harness
from flowcep_plugin.errors import EPLError

CS = "ResultSetAggregateCountSum.{}"


def by_time(h: Harness, *fields: str) -> dict[int, list[tuple[Any, ...]]]:
    out: dict[int, list[tuple[Any, ...]]] = {}
    for r in h.of("s0"):
        out.setdefault(r.time_ms, []).append(("-" if r.removed else "+", *(r.values[f] for f in fields)))
    return out


@pytest.mark.esper("aggregate-all", cite=CS.format("ResultSetAggregateCountSimple") + " (count over #time(1))")
def test_count_star_over_a_time_window() -> None:
    h = Harness("@Name('s0') select count(*) as cnt from Flow#time(1)")
    for t in range(3):
        h.send(t, symbol="DELL", volume=1)
    assert [r.values["cnt"] for r in h.of("s0")] == [1, 2, 3]


@pytest.mark.esper("having-all", cite=CS.format("ResultSetAggregateCountHaving") + " (irstream: the new row when "
                   "HAVING passes it, then the old row when the sum moves on)")
@pytest.mark.parametrize("agg", ["sum(intPrimitive)", "count(*)"])
def test_having_equal_two_gives_insert_then_remove(agg: str) -> None:
    h = Harness(f"@Name('s0') select irstream {agg} as mysum from Flow having {agg} = 2")
    for t in range(3):
        h.send(t, intPrimitive=1)
    assert by_time(h, "mysum") == {1: [("+", 2)], 2: [("-", 2)]}


COUNT_EPL = ("@Name('s0') select irstream symbol, count(*) as countAll, count(distinct volume) as countDistVol, "
             "count(volume) as countVol from {src} where {w} group by symbol")
DELL_STEPS = [(50, ("DELL", 0, 0, 0), ("DELL", 1, 1, 1)), (None, ("DELL", 1, 1, 1), ("DELL", 2, 1, 1)),
              (25, ("DELL", 2, 1, 1), ("DELL", 3, 2, 2)), (25, ("DELL", 3, 2, 2), ("DELL", 3, 1, 2)),
              (25, ("DELL", 3, 1, 2), ("DELL", 3, 1, 3))]


def count_case(epl: str, join: bool, irstream: bool = True) -> None:
    """tryAssertionCount; ``irstream`` False: only the insert-stream half of each assertion."""
    h = Harness(epl)
    if join:
        h.send(0, kind="s", theString="DELL")
        h.send(0, kind="s", theString="IBM")
    t = 1
    for vol, old, new in DELL_STEPS:
        got = h.send(t, kind="md", symbol="DELL", volume=vol)
        fields = ("symbol", "countAll", "countDistVol", "countVol")
        assert [(r.removed, tuple(r.values[f] for f in fields)) for r in got] == \
            ([(False, new), (True, old)] if irstream else [(False, new)])
        t += 1
    for vol in (1, None, None):
        h.send(t, kind="md", symbol="IBM", volume=vol)
        t += 1
    got = h.send(t, kind="md", symbol="IBM", volume=None)
    fields = ("symbol", "countAll", "countDistVol", "countVol")
    assert [(r.removed, tuple(r.values[f] for f in fields)) for r in got] == [
        (False, ("IBM", 3, 0, 0)), (True, ("IBM", 3, 1, 1))][:2 if irstream else 1]


@pytest.mark.esper("irstream-group-by", cite=CS.format("ResultSetAggregateCountOneView") + " (count(*), "
                   "count(distinct x) and count(x) skip nulls; a group's old and new rows per event)")
def test_count_forms_per_group_over_a_length_window() -> None:
    count_case(COUNT_EPL.format(src="Flow(kind='md')#length(3)",
                                w="symbol='DELL' or symbol='IBM' or symbol='GE'"), join=False)


@pytest.mark.esper("group-by-join", cite=CS.format("ResultSetAggregateCountJoin") + " (its insert stream; "
                   "irstream in an aggregating join is refused)")
def test_count_forms_per_group_over_a_join() -> None:
    epl = ("@Name('s0') select two.symbol as symbol, count(*) as countAll, count(distinct two.volume) "
           "as countDistVol, count(two.volume) as countVol from Flow(kind='s')#length(100) as one, "
           "Flow(kind='md')#length(3) as two where (two.symbol='DELL' or two.symbol='IBM' or two.symbol='GE') "
           "and one.theString = two.symbol group by two.symbol")
    count_case(epl, join=True, irstream=False)


@pytest.mark.esper("group-by", cite=CS.format("ResultSetAggregateSumNamedWindowRemoveGroup") + " (a group whose "
                   "rows are deleted is output with sum null, then starts again)")
def test_sum_per_group_over_a_named_window_with_deletes() -> None:
    h = Harness("create window MyWindow#keepall as select theString, intPrimitive from Flow; "
                "insert into MyWindow select theString, intPrimitive from Flow(kind='sb'); "
                "on Flow(kind='a') as a delete from MyWindow as w where w.theString = a.id; "
                "@Name('s0') select theString, sum(intPrimitive) as mysum from MyWindow group by theString "
                "order by theString")
    steps: list[tuple[str, Any, Any]] = [("sb", "A", 100), ("sb", "B", 20), ("sb", "A", 101), ("sb", "B", 21),
                                         ("a", "A", None), ("sb", "A", 102), ("a", "B", None), ("sb", "B", 22)]
    got = []
    for t, (kind, k, v) in enumerate(steps):
        if kind == "sb":
            rows = h.send(t, kind="sb", theString=k, intPrimitive=v)
        else:
            rows = h.send(t, kind="a", id=k)
        got.append([(r.values["theString"], r.values["mysum"]) for r in rows if r.statement == "s0"])
    assert got == [[("A", 100)], [("B", 20)], [("A", 201)], [("B", 41)], [("A", None)], [("A", 102)],
                   [("B", None)], [("B", 22)]]


@pytest.mark.esper("unsupported-is-an-error", cite=CS.format("ResultSetAggregateCountSumInvalid") + " and "
                   "ResultSetAggregateCountSimple (the invalid forms are compile errors at their position)")
@pytest.mark.parametrize("text", ["select avg(null) from Flow", "select avg(distinct null) from Flow",
                                  "select median(null) from Flow", "select sum(null) from Flow",
                                  "select stddev(null) from Flow", "select count(distinct *) from Flow"])
def test_invalid_aggregate_forms_are_refused(text: str) -> None:
    with pytest.raises(EPLError) as info:
        compile_module(text)
    assert "is not valid" in str(info.value) and info.value.line == 1 and info.value.column == 8


@pytest.mark.esper("unsupported-is-an-error", cite="ResultSetProcessorFactoryFactory.validateHaving and Esper's "
                   "invalid-statement case 'group by intBoxed having doubleBoxed > 5' (\"Non-aggregated property "
                   "'doubleBoxed' in the HAVING clause must occur in the group-by clause\")")
@pytest.mark.parametrize("text", ["select sum(intPrimitive) from Flow#length(1) group by intBoxed having doubleBoxed > 5",
                                  "select b, d, sum(i) from Flow group by b having d > 5"])
def test_having_reads_only_grouped_properties(text: str) -> None:
    with pytest.raises(EPLError) as info:
        compile_module(text)
    assert "must occur in GROUP BY" in str(info.value) and info.value.line == 1 and info.value.column


@pytest.mark.esper("group-by", cite="ResultSetProcessorFactoryFactory.validateHaving (a property GROUP BY reads, "
                   "even inside an expression, may be read by HAVING)")
def test_having_reads_a_property_the_group_by_expression_reads() -> None:
    h = Harness("@Name('s0') select b % 2 as m, count(*) as c from Flow group by b % 2 having b % 2 = 1")
    for t, b in enumerate([1, 2, 3]):
        h.send(t, b=b)
    assert [(r.values["m"], r.values["c"]) for r in h.of("s0")] == [(1, 1), (1, 2)]


@pytest.mark.esper("aggregate-all", cite="Esper reference, 'Aggregation Functions' (hostile input: an integer past a "
                   "double's range makes avg/median/stddev/avedev null, the run goes on; sum stays exact)")
@pytest.mark.parametrize("agg", ["avg(v)", "median(v)", "stddev(v)", "avedev(v)", "avg(distinct v)"])
def test_aggregates_over_integers_past_double_range(agg: str) -> None:
    h = Harness(f"@Name('s0') select {agg} as x, sum(v) as s from Flow#length(2)")
    for t, v in enumerate([10 ** 400, 3, 5, 7]):
        h.send(t, v=v)
    got = [r.values["x"] for r in h.of("s0")]
    assert got[:2] == [None, None] and got[3] is not None
    assert h.of("s0")[1].values["s"] == 10 ** 400 + 3
