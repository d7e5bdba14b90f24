"""Aggregation functions on empty windows, on nulls and beside the remove stream, and the
aggregation functions the engine refuses, against Esper's ``ResultSetAggregate*`` regression
tests (espertechinc/esper, regression-lib ``suite/resultset/aggregate``) and the reference
chapter "EPL Reference: Functions", "Aggregation Functions".

Each value table is what Esper's aggregator gives: an aggregate over no value is null (``count``
0), ``stddev`` needs two values, ``avedev`` of one value is 0, nulls are skipped.
"""

from __future__ import annotations

import math
from typing import Any

import pytest

from flowcep_plugin.engine.compiler import compile_module
from flowcep_plugin.engine.harness import Harness
from flowcep_plugin.errors import EPLError

MD = "ResultSetAggregateMedianAndDeviation.{}"
DOC = "Esper reference, 'Aggregation Functions' ({})"


def esper(construct: str, cite: str) -> Any:
    return pytest.mark.esper(construct, cite=f"espertechinc/esper {cite}")


def _close(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is b
    return round(float(a) * 1000) == round(float(b) * 1000)


# ResultSetAggregateStmt: (price, old row, new row) with myMedian, myDistMedian, myStdev, myAvedev
DELL = [
    (10, (None, None, None, None), (10.0, 10.0, None, 0.0)),
    (20, (10.0, 10.0, None, 0.0), (15.0, 15.0, 7.071067812, 5.0)),
    (20, (15.0, 15.0, 7.071067812, 5.0), (20.0, 15.0, 5.773502692, 4.444444444444444)),
    (90, (20.0, 15.0, 5.773502692, 4.444444444444444), (20.0, 20.0, 36.96845502, 27.5)),
    (5, (20.0, 20.0, 36.96845502, 27.5), (20.0, 15.0, 34.71310992, 24.4)),
    (90, (20.0, 15.0, 34.71310992, 24.4), (20.0, 20.0, 41.53311931, 36.0)),
    (30, (20.0, 20.0, 41.53311931, 36.0), (30.0, 25.0, 40.24922359, 34.4)),
]
COLS = ("myMedian", "myDistMedian", "myStdev", "myAvedev")


def _assert_dell(h: Harness, send: Any) -> None:
    for i, (price, old, new) in enumerate(DELL):
        out = send(h, 1000 + i, price)
        ins = [r for r in out if r.statement == "s0" and not r.removed]
        rem = [r for r in out if r.statement == "s0" and r.removed]
        assert len(ins) == 1 and len(rem) == 1, (price, out)
        for row, exp in ((rem[0], old), (ins[0], new)):
            assert row.values["symbol"] == "DELL"
            got = tuple(row.values[c] for c in COLS)
            assert all(_close(g, e) for g, e in zip(got, exp, strict=True)), (price, got, exp)


@esper("aggregate-stats", MD.format("ResultSetAggregateStmt (median, median distinct, stddev, avedev over "
                                    "#length(5), grouped, with the remove stream)"))
def test_median_stddev_avedev_grouped_irstream() -> None:
    h = Harness("@Name('s0') select irstream symbol, median(all price) as myMedian, "
                "median(distinct price) as myDistMedian, stddev(all price) as myStdev, "
                "avedev(all price) as myAvedev from Flow#length(5) "
                "where symbol='DELL' or symbol='IBM' or symbol='GE' group by symbol")
    _assert_dell(h, lambda h, t, p: h.send(t, symbol="DELL", price=float(p)))


@esper("aggregate-stats", MD.format("ResultSetAggregateStmtJoin (the same over a join with a keyed stream; the "
                                    "insert stream: the remove stream of an aggregating join is refused)"))
def test_median_stddev_avedev_grouped_over_a_join() -> None:
    h = Harness("""
        insert into One select theString from Flow(kind = 'str');
        insert into Two select symbol, price from Flow(kind = 'md');
        @Name('s0') select symbol, median(price) as myMedian, median(distinct price) as myDistMedian,
            stddev(price) as myStdev, avedev(price) as myAvedev
        from One#length(100) as one, Two#length(5) as two
        where (symbol = 'DELL' or symbol = 'IBM' or symbol = 'GE') and one.theString = two.symbol
        group by symbol
    """)
    for i, s in enumerate(("DELL", "IBM", "AAA")):
        h.send(i, kind="str", theString=s)
    for i, (price, _old, new) in enumerate(DELL):
        out = [r for r in h.send(1000 + i, kind="md", symbol="DELL", price=float(price)) if r.statement == "s0"]
        assert len(out) == 1 and out[0].values["symbol"] == "DELL"
        got = tuple(out[0].values[c] for c in COLS)
        assert all(_close(g, e) for g, e in zip(got, new, strict=True)), (price, got, new)


@esper("aggregate-stats", MD.format("ResultSetAggregateStmt, NaN sensitivity (a NaN in the window makes "
                                    "stddev NaN even after it left the sums)"))
def test_stddev_is_nan_after_nan_values() -> None:
    h = Harness("@Name('s0') select stddev(price) as val from Flow#length(3)")
    for i, p in enumerate([math.nan, math.nan, math.nan, 1.0, 2.0]):
        h.send(i, symbol="x", price=p)
    out = h.send(10, symbol="F", price=3.0)
    assert len(out) == 1 and math.isnan(out[0].values["val"])


# One event at a time through #time(2 sec): null at 1 s, 2 at 2 s, null at 3 s, 4 at 4 s; the clock then
# runs to 20 s. Each update gives (insert row, remove row): the value after and before it.
NULLS: list[tuple[int, dict[str, Any]]] = [(1000, {"v": None}), (2000, {"v": 2}), (3000, {"v": None}),
                                           (4000, {"v": 4})]
STEPS = [1000, 2000, 3000, 3000, 4000, 4000, 5000, 6000]


def _series(after: list[Any], first_before: Any) -> list[tuple[int, Any, Any]]:
    before = [first_before, *after[:-1]]
    return list(zip(STEPS, after, before, strict=True))


AGG_NULLS = [
    ("count(v)", [0, 1, 1, 1, 0, 1, 1, 0], 0),
    ("count(*)", [1, 2, 1, 2, 1, 2, 1, 0], 0),
    ("sum(v)", [None, 2, 2, 2, None, 4, 4, None], None),
    ("avg(v)", [None, 2.0, 2.0, 2.0, None, 4.0, 4.0, None], None),
    ("min(v)", [None, 2, 2, 2, None, 4, 4, None], None),
    ("max(v)", [None, 2, 2, 2, None, 4, 4, None], None),
    ("median(v)", [None, 2.0, 2.0, 2.0, None, 4.0, 4.0, None], None),
    ("stddev(v)", [None] * 8, None),
    ("avedev(v)", [None, 0.0, 0.0, 0.0, None, 0.0, 0.0, None], None),
    ("count(distinct v)", [0, 1, 1, 1, 0, 1, 1, 0], 0),
    ("sum(distinct v)", [None, 2, 2, 2, None, 4, 4, None], None),
]


@pytest.mark.parametrize(("agg", "after", "first"), [
    pytest.param(a, s, f, id=a, marks=esper("aggregate-nulls", DOC.format(
        "each skips null values; over none: null, count 0") + "; ResultSetAggregateCountSum, "
        "ResultSetAggregateMinMax (irstream over a time window: the remove row is the value before the update)"))
    for a, s, f in AGG_NULLS])
def test_aggregate_over_nulls_and_an_emptying_time_window(agg: str, after: list[Any], first: Any) -> None:
    h = Harness(f"@Name('s0') select irstream {agg} as x from Flow#time(2 sec)")
    for t, props in NULLS:
        h.send(t, **props)
    h.watermark(20000)
    rows = h.of("s0")
    got = [(r.time_ms, r.values["x"]) for r in rows if not r.removed]
    old = [r.values["x"] for r in rows if r.removed]
    exp = _series(after, first)
    assert got == [(t, a) for t, a, _b in exp]
    assert old == [b for _t, _a, b in exp]


@esper("aggregate-nulls", DOC.format("an aggregate over no rows") + "; ResultSetAggregateMinMax: a grouped "
       "statement whose group emptied outputs it with its new values")
def test_grouped_group_that_empties_reports_null_and_zero() -> None:
    h = Harness("@Name('s0') select k, count(*) as n, count(v) as c, sum(v) as s, min(v) as lo, max(v) as hi, "
                "avg(v) as a from Flow#time(1 sec) group by k")
    h.send(0, k="a", v=5)
    h.send(500, k="a", v=None)
    h.watermark(1000)
    h.watermark(1500)
    got = [(r.time_ms, r.values["n"], r.values["c"], r.values["s"], r.values["lo"], r.values["hi"], r.values["a"])
           for r in h.of("s0")]
    assert got == [(0, 1, 1, 5, 5, 5, 5.0), (500, 2, 1, 5, 5, 5, 5.0), (1000, 1, 0, None, None, None, None),
                   (1500, 0, 0, None, None, None, None)]


REFUSED_AGGS = [
    ("countever(v)", "countever", "ResultSetAggregateFirstEverLastEver"),
    ("firstever(v)", "firstever", "ResultSetAggregateFirstEverLastEver"),
    ("lastever(v)", "lastever", "ResultSetAggregateFirstEverLastEver"),
    ("first(v)", "first", "ResultSetAggregateFirstLastWindow"),
    ("last(v)", "last", "ResultSetAggregateFirstLastWindow"),
    ("window(v)", "window", "ResultSetAggregateFirstLastWindow"),
    ("maxby(v)", "maxby", "ResultSetAggregateSortedMinMaxBy"),
    ("minby(v)", "minby", "ResultSetAggregateSortedMinMaxBy"),
    ("maxbyever(v)", "maxbyever", "ResultSetAggregateSortedMinMaxBy"),
    ("leaving()", "leaving", "ResultSetAggregateLeaving"),
    ("nth(v, 1)", "nth", "ResultSetAggregateNTh"),
    ("rate(2)", "rate", "ResultSetAggregateRate"),
    ("minever(v)", "minever", "ResultSetAggregateMinMax (minever, maxever)"),
    ("count(v, v > 2)", "count", "ResultSetAggregateFiltered (count with a filter argument)"),
    ("sum(v, filter: v > 2)", "filter", "ResultSetAggregateFilterNamedParameter (filter: named parameter)"),
]


@pytest.mark.parametrize(("expr", "name"), [
    pytest.param(e, n, id=e, marks=esper("unsupported-is-an-error", c + ": an aggregation the engine does not run "
                                         "is a compile error at its line and column, naming it"))
    for e, n, c in REFUSED_AGGS])
def test_unsupported_aggregation_functions_are_refused(expr: str, name: str) -> None:
    with pytest.raises(EPLError) as err:
        compile_module(f"@Name('s0')\nselect {expr} as x from Flow#length(3)", "<t>")
    msg = str(err.value)
    assert msg.startswith("<t>:2:") and name in msg, msg


SUM_SRC = ("Esper common AggregatorSumBase (a leave with a count of 1 resets the sum to 0) and AggregatorStddev "
           "(cleared when its last value leaves)")


@esper("aggregate-nulls", SUM_SRC + "; ResultSetAggregateCountSum")
def test_sum_starts_from_zero_again_once_its_window_emptied() -> None:
    h = Harness("@Name('s0') select sum(v) as s, avg(v) as a from Flow#time(1 sec)")
    h.send(0, v=0.1)
    h.send(100, v=0.2)
    h.watermark(2000)  # both left: the running sum is reset, not 0.1 + 0.2 - 0.1 - 0.2
    out = h.send(5000, v=0.3)
    assert [(r.values["s"], r.values["a"]) for r in out] == [(0.3, 0.3)]


@esper("aggregate-nulls", SUM_SRC + "; ResultSetAggregateMedianAndDeviation (NaN sensitivity)")
def test_a_nan_stays_in_sum_and_stddev_until_the_window_empties() -> None:
    h = Harness("@Name('s0') select sum(v) as s, stddev(v) as d from Flow#length(2)")
    h.send(0, v=math.nan)
    h.send(1, v=1.0)
    out = h.send(2, v=2.0)  # the NaN left, but the running sums keep its trace
    assert math.isnan(out[0].values["s"]) and math.isnan(out[0].values["d"])
    h2 = Harness("@Name('s0') select sum(v) as s, stddev(v) as d from Flow#time(1 sec)")
    h2.send(0, v=math.nan)
    h2.watermark(1500)  # the window emptied: both are cleared
    h2.send(2000, v=1.0)
    out = h2.send(2100, v=3.0)
    assert [(r.values["s"], r.values["d"]) for r in out] == [(4.0, math.sqrt(2.0))]
