"""Everyday statements against Esper's regression tests: the result-set query types (row for
all, row per event, row per group, with and without HAVING), aggregate functions over empty
and null input, and null handling in operators. Each case cites the Esper regression class
and method (or reference manual section) its expected rows come from; the rows are derived
from that test's assertions, not copied from its code."""

from __future__ import annotations

from typing import Any

import pytest

from flowcep_plugin.engine.compiler import compile_module
from flowcep_plugin.engine.harness import Harness
from flowcep_plugin.errors import EPLError

#: a step: (time, props) sends an event at that time; (time, None) only advances time
Step = tuple[int, "dict[str, Any] | None"]
QT = "ResultSetQueryType{}"


def run(epl: str, steps: list[Step], fields: tuple[str, ...], statement: str = "s0"
        ) -> list[tuple[Any, ...]]:
    """Rows of ``statement`` as (time, '+' insert or '-' remove, *fields)."""
    h = Harness(epl)
    for t, props in steps:
        if props is None:
            h.watermark(t)
        else:
            h.send(t, **props)
    return [(r.time_ms, "-" if r.removed else "+", *(r.values[f] for f in fields)) for r in h.of(statement)]


def approx(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    return [tuple(round(v, 9) if isinstance(v, float) else v for v in r) for r in rows]


# -- row for all (aggregates, no GROUP BY) ------------------------------------------------------

@pytest.mark.esper("aggregate-all", cite=QT.format("RowForAll.ResultSetQueryTypeRowForAllSimple"))
def test_row_for_all_every_aggregate_new_and_old() -> None:
    epl = ("@Name('s0') select irstream avg(price) as a, sum(price) as s, min(price) as mn, max(price) as mx, "
           "median(price) as md, stddev(price) as sd, avedev(price) as ad, count(*) as n, "
           "count(distinct price) as nd from Flow")
    rows = approx(run(epl, [(0, {"price": 100.0}), (1, {"price": 200.0}), (2, {"price": 150.0})],
                      ("a", "s", "mn", "mx", "md", "sd", "ad", "n", "nd")))
    assert rows == approx([
        (0, "+", 100.0, 100.0, 100.0, 100.0, 100.0, None, 0.0, 1, 1),
        (0, "-", None, None, None, None, None, None, None, 0, 0),
        (1, "+", 150.0, 300.0, 100.0, 200.0, 150.0, 70.71067811865476, 50.0, 2, 2),
        (1, "-", 100.0, 100.0, 100.0, 100.0, 100.0, None, 0.0, 1, 1),
        (2, "+", 150.0, 450.0, 100.0, 200.0, 150.0, 50.0, 33 + 1 / 3, 3, 3),
        (2, "-", 150.0, 300.0, 100.0, 200.0, 150.0, 70.71067811865476, 50.0, 2, 2),
    ])


@pytest.mark.esper("aggregate-all", cite=QT.format("RowForAll.ResultSetQueryTypeRowForAllMinMaxWindowed"))
def test_row_for_all_min_max_over_a_length_window() -> None:
    rows = run("@Name('s0') select irstream min(price) as mn, max(price) as mx from Flow#length(2)",
               [(0, {"price": 100.0}), (1, {"price": 200.0}), (2, {"price": 150.0})], ("mn", "mx"))
    assert rows == [(0, "+", 100.0, 100.0), (0, "-", None, None), (1, "+", 100.0, 200.0), (1, "-", 100.0, 100.0),
                    (2, "+", 150.0, 200.0), (2, "-", 100.0, 200.0)]


@pytest.mark.esper("aggregate-per-event", cite=QT.format("RowForAll.ResultSetQueryTypeRowForAllSumMinMax"))
def test_property_beside_aggregates_without_window() -> None:
    vals = [("E1", 10), ("E2", 100), ("E3", 11), ("E4", 9), ("E5", 120), ("E6", 100)]
    rows = run("@Name('s0') select s as c0, sum(v) as c1, min(v) as c2, max(v) as c3 from Flow",
               [(i, {"s": s, "v": v}) for i, (s, v) in enumerate(vals)], ("c0", "c1", "c2", "c3"))
    assert [r[2:] for r in rows] == [("E1", 10, 10, 10), ("E2", 110, 10, 100), ("E3", 121, 10, 100),
                                     ("E4", 130, 9, 100), ("E5", 250, 9, 120), ("E6", 350, 9, 120)]


@pytest.mark.esper("irstream-aggregate-per-event", cite=QT.format("RowForAll.ResultSetQueryTypeRowForAllWWindowAgg"))
def test_property_beside_aggregate_remove_stream_of_a_length_window() -> None:
    rows = run("@Name('s0') select irstream s as c0, sum(v) as c1 from Flow#length(2)",
               [(0, {"s": "E1", "v": 10}), (1, {"s": "E2", "v": 100}), (2, {"s": "E3", "v": 11}),
                (3, {"s": "E4", "v": 9})], ("c0", "c1"))
    assert rows == [(0, "+", "E1", 10), (1, "+", "E2", 110), (2, "+", "E3", 111), (2, "-", "E1", 111),
                    (3, "+", "E4", 20), (3, "-", "E2", 20)]


@pytest.mark.esper("irstream-aggregate-per-event", cite=QT.format("RowForAll.ResultSetQueryTypeAvgPerSym"))
def test_property_beside_aggregate_over_groupwin_length() -> None:
    steps: list[Step] = [(i, {"price": p, "sym": s}) for i, (p, s) in
                         enumerate([(1, "A"), (2, "B"), (9, "A"), (18, "B"), (5, "A")])]
    rows = run("@Name('s0') select irstream avg(price) as avgp, sym from Flow#groupwin(sym)#length(2)",
               steps, ("sym", "avgp"))
    assert rows == [(0, "+", "A", 1.0), (1, "+", "B", 1.5), (2, "+", "A", 4.0), (3, "+", "B", 7.5),
                    (4, "+", "A", 8.5), (4, "-", "A", 8.5)]


@pytest.mark.esper("aggregate-all", cite=QT.format("RowForAll.ResultSetQueryTypeSelectAvgExprStdGroupBy"))
def test_avg_over_groupwin_length() -> None:
    rows = run("@Name('s0') select istream avg(price) as aprice from Flow#groupwin(symbol)#length(2)",
               [(0, {"symbol": "A", "price": 1.0}), (1, {"symbol": "B", "price": 3.0})], ("aprice",))
    assert rows == [(0, "+", 1.0), (1, "+", 2.0)]


SUM_STEPS: list[Step] = [(0, {"v": 10}), (5000, {"v": 15}), (8000, {"v": -5}), (10000, None), (15000, None),
                         (18000, None)]


@pytest.mark.esper("irstream-aggregate-all", cite=QT.format("RowForAll.ResultSetQueryTypeSumOneView"))
def test_row_for_all_sum_over_time_window_as_events_leave() -> None:
    rows = run("@Name('s0') select irstream sum(v) as s from Flow#time(10 sec)", SUM_STEPS, ("s",))
    assert rows == [(0, "+", 10), (0, "-", None), (5000, "+", 25), (5000, "-", 10), (8000, "+", 20),
                    (8000, "-", 25), (10000, "+", 10), (10000, "-", 20), (15000, "+", -5), (15000, "-", 10),
                    (18000, "+", None), (18000, "-", -5)]


@pytest.mark.esper("having-all", cite=QT.format("RowForAllHaving.ResultSetQueryTypeSumOneView"))
def test_having_without_group_by_decides_each_stream() -> None:
    rows = run("@Name('s0') select irstream sum(v) as s from Flow#time(10 sec) having sum(v) > 10",
               SUM_STEPS[:4], ("s",))
    # 10 alone fails HAVING; 25 and 20 pass; at 10 s the new sum 10 fails and the old 20 passes
    assert [r for r in rows if r[1] == "+"] == [(5000, "+", 25), (8000, "+", 20)]
    assert [r for r in rows if r[0] == 10000] == [(10000, "-", 20)]


@pytest.mark.esper("having-all", cite=QT.format("RowForAllHaving.ResultSetQueryTypeAvgGroupWindow"))
def test_having_without_group_by_over_unique() -> None:
    ev = [("A", -1.0), ("A", 5.0), ("B", -6.0), ("C", 2.0), ("C", 3.0), ("C", -2.0)]
    rows = run("@Name('s0') select istream avg(price) as aprice from Flow#unique(symbol) having avg(price) <= 0",
               [(i, {"symbol": s, "price": p}) for i, (s, p) in enumerate(ev)], ("aprice",))
    assert rows == [(0, "+", -1.0), (2, "+", -0.5), (5, "+", -1.0)]


# -- HAVING over events (ResultSetQueryTypeHaving) ---------------------------------------------

@pytest.mark.esper("having-per-event", cite=QT.format("Having.ResultSetQueryTypeHavingWildcardSelect")
                   + " (the same rows with the properties named)")
def test_having_count_over_length_batch_rows_per_event() -> None:
    rows = run("@Name('s0') select s, i from Flow#length_batch(2) where i > 0 having count(*) = 2",
               [(0, {"s": "E1", "i": 0}), (1, {"s": "E2", "i": 0}), (2, {"s": "E3", "i": 1}), (3, {"s": "E4", "i": 1}),
                (4, {"s": "E5", "i": 0}), (5, {"s": "E6", "i": 1})], ("s",))
    assert rows == [(3, "+", "E3"), (3, "+", "E4")]


@pytest.mark.esper("unsupported-is-an-error", cite=QT.format("Having.ResultSetQueryTypeHavingWildcardSelect")
                   + ": select * beside aggregates is refused at its line and column")
@pytest.mark.parametrize("text", ["select * from Flow#length_batch(2) having count(*) = 2",
                                  "insert into S select * from Flow#length(14)\n having avg(i) >= 3"])
def test_select_star_with_aggregates_is_refused(text: str) -> None:
    with pytest.raises(EPLError) as info:
        compile_module(text)
    assert "SELECT * with aggregates" in str(info.value) and info.value.line == 1 and info.value.column


@pytest.mark.esper("having-per-event", cite=QT.format("Having.ResultSetQueryTypeStatement"))
def test_having_compares_a_property_with_the_average() -> None:
    prices = [10.0, 5.0, 15.0, 8.0, 10.0, 6.0, 12.0]
    rows = run("@Name('s0') select irstream symbol, price, avg(price) as avgPrice from Flow#length(5) "
               "having price < avg(price)", [(i, {"symbol": "DELL", "price": p}) for i, p in enumerate(prices)],
               ("price", "avgPrice"))
    # the 10 leaving at 5 is above the new average 8.8: no remove row; the 5 leaving at 6 is below 10.2
    assert approx(rows) == [(1, "+", 5.0, 7.5), (3, "+", 8.0, 9.5), (5, "+", 6.0, 8.8), (6, "-", 5.0, 10.2)]


SPREAD = [("SYM1", 20.0), ("SYM2", 10.0), ("SYM2", 20.0), ("SYM2", 20.0), ("SYM2", 20.0), ("SYM1", 20.0),
          ("SYM1", 18.7), ("SYM2", 20.0), ("SYM1", 18.5), ("SYM2", 16.0), ("SYM1", 12.0)]


@pytest.mark.esper("having-join", cite=QT.format("Having.ResultSetQueryTypeNoAggregationJoinHaving") + " and "
                   "NoAggregationJoinWhere (HAVING without aggregates filters like WHERE)")
@pytest.mark.parametrize("clause", ["having", "where"])
def test_having_without_aggregates_in_a_join_filters_both_streams(clause: str) -> None:
    epl = ("@Name('s0') select irstream a.price as ap, b.price as bp, max(a.price, b.price) - min(a.price, b.price) "
           "as spread from Flow(symbol='SYM1')#length(1) as a, Flow(symbol='SYM2')#length(1) as b "
           f"{clause} max(a.price, b.price) - min(a.price, b.price) >= 1.4")
    rows = run(epl, [(i, {"symbol": s, "price": p}) for i, (s, p) in enumerate(SPREAD)], ("ap", "bp", "spread"))
    assert approx(rows) == [(1, "+", 20.0, 10.0, 10.0), (2, "-", 20.0, 10.0, 10.0), (8, "+", 18.5, 20.0, 1.5),
                            (9, "+", 18.5, 16.0, 2.5), (9, "-", 18.5, 20.0, 1.5),
                            (10, "+", 12.0, 16.0, 4.0), (10, "-", 18.5, 16.0, 2.5)]


@pytest.mark.esper("having-per-event", cite=QT.format("Having.ResultSetQueryTypeSubstreamSelectHaving")
                   + " (HAVING over an aggregate, rows inserted into a stream)")
def test_having_average_inserted_into_a_stream() -> None:
    rows = run("insert into MyStream select i from Flow#length(14) having avg(i) >= 3; "
               "@Name('s0') select i from MyStream", [(t, {"i": v}) for t, v in enumerate([2, 2, 3, 5])], ("i",))
    assert rows == [(3, "+", 5)]
