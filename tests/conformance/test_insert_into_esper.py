"""INSERT INTO chains against Esper's ``EPLInsertInto`` regression test: derived events carry
the select list's values, reach the statements reading the stream at once, and age in those
statements' time windows from the time they were inserted."""

from __future__ import annotations

from typing import Any

import pytest

from flowcep_plugin.engine.harness import Harness

II = "EPLInsertInto.{}"
CONSUMERS = ("; @Name('rld') select MIN(delta) as minD, max(delta) as maxD from {t}#time(60); "
             "@Name('rlp') select min(product) as minP, max(product) as maxP from {t}#time(60)")


def variant(insert: str, join: bool) -> list[tuple[str, int, tuple[Any, ...]]]:
    """tryAssertsVariant: (statement, time, values) of every row of fl, rld and rlp."""
    h = Harness(insert + CONSUMERS.format(t="Ev"))
    if join:
        h.send(0, kind="a", id="myId")
    for t, (i, b) in [(0, (20, 10)), (0, (50, 25)), (0, (5, 2)), (10_000, (13, 1))]:
        h.send(t, kind="sb", theString="myId", intPrimitive=i, intBoxed=b)
    h.watermark(61_000)
    keys = {"fl": ("delta", "product"), "rld": ("minD", "maxD"), "rlp": ("minP", "maxP")}
    return [(r.statement, r.time_ms, tuple(r.values[k] for k in keys[r.statement])) for r in h.rows
            if r.statement in keys]


EXPECTED = [
    ("fl", 0, (10, 200)), ("rld", 0, (10, 10)), ("rlp", 0, (200, 200)),
    ("fl", 0, (25, 1250)), ("rld", 0, (10, 25)), ("rlp", 0, (200, 1250)),
    ("fl", 0, (3, 10)), ("rld", 0, (3, 25)), ("rlp", 0, (10, 1250)),
    ("fl", 10_000, (12, 13)), ("rld", 10_000, (3, 25)), ("rlp", 10_000, (10, 1250)),
    ("rld", 60_000, (12, 12)), ("rlp", 60_000, (13, 13)),
]


@pytest.mark.esper("insert-into", cite=II.format("EPLInsertIntoUnnamedSimple") + " (tryAssertsVariant)")
def test_insert_into_then_min_max_over_time_windows() -> None:
    rows = variant("@Name('fl') insert into Ev select intPrimitive - intBoxed as delta, intPrimitive * intBoxed "
                   "as product from Flow(kind='sb')#length(100)", join=False)
    assert rows == EXPECTED


@pytest.mark.esper("insert-into", cite=II.format("EPLInsertIntoNamedColsStateless") + " (no data window)")
def test_insert_into_without_window() -> None:
    rows = variant("@Name('fl') insert into Ev select intPrimitive - intBoxed as delta, intPrimitive * intBoxed "
                   "as product from Flow(kind='sb')", join=False)
    assert rows == EXPECTED


@pytest.mark.esper("insert-into", cite=II.format("EPLInsertIntoUnnamedJoin") + " (tryAssertsVariant over a join)")
def test_insert_into_from_a_join() -> None:
    rows = variant("@Name('fl') insert into Ev select s0.intPrimitive - s0.intBoxed as delta, "
                   "s0.intPrimitive * s0.intBoxed as product from Flow(kind='sb')#length(100) as s0, Flow(kind='a')#length(100) as s1 "
                   "where s0.theString = s1.id", join=True)
    assert rows == EXPECTED


def stock_ticks(epl: str) -> list[tuple[int, str, float]]:
    h = Harness(epl + "; @Name('s0') select mySymbol, sum(myPrice) as pricesum from StockTicks#length(100)")
    for sym, price in [("IBM", 50.0), ("CSC", 10.0), ("GE", 20.0)]:
        h.send(0, symbol=sym, price=price)
    h.watermark(10_000)
    for sym, price in [("DEF", 100.0), ("ABC", 11.0)]:
        h.send(10_000, symbol=sym, price=price)
    for t in (20_000, 30_000, 40_000, 50_000, 55_000):
        h.watermark(t)
    assert h.of("s0") == []
    for t in (60_000, 65_000, 70_000):
        h.watermark(t)
    return [(r.time_ms, r.values["mySymbol"], r.values["pricesum"]) for r in h.of("s0")]


@pytest.mark.esper("insert-into", cite=II.format("EPLInsertIntoWithOutputLimitAndSort") + " without its ORDER BY "
                   "(insert rstream, output every 5 seconds: the removed events in the order they left)")
def test_insert_rstream_with_output_rate() -> None:
    assert stock_ticks("insert rstream into StockTicks select symbol as mySymbol, price as myPrice "
                       "from Flow#time(60) output every 5 seconds") == [
        (60_000, "IBM", 50.0), (60_000, "CSC", 60.0), (60_000, "GE", 80.0),
        (70_000, "DEF", 180.0), (70_000, "ABC", 191.0)]


@pytest.mark.esper("insert-into", cite=II.format("EPLInsertIntoWithOutputLimitAndSort") + " (insert rstream, "
                   "output every 5 seconds, order by: the removed events of a release inserted sorted)")
def test_insert_rstream_with_output_rate_and_order_by() -> None:
    assert stock_ticks("insert rstream into StockTicks select symbol as mySymbol, price as myPrice "
                       "from Flow#time(60) output every 5 seconds order by symbol asc") == [
        (60_000, "CSC", 10.0), (60_000, "GE", 30.0), (60_000, "IBM", 80.0),
        (70_000, "ABC", 91.0), (70_000, "DEF", 191.0)]


@pytest.mark.esper("insert-into", cite=II.format("EPLInsertIntoStaggeredWithWildcard") + " (select * chained "
                   "through three streams, each with its own length window)")
def test_staggered_select_star_chain() -> None:
    h = Harness("insert into streamA select * from Flow#length(5); "
                "insert into streamB select myInt, myString, myInt + myInt as summed from streamA#length(5); "
                "@Name('s0') insert into streamC select * from streamB#length(5)")
    h.send(0, myInt=1, myString="a")
    h.send(1, myInt=2, myString="b")
    assert [(r.values["myInt"], r.values["myString"], r.values["summed"]) for r in h.of("s0")] == [
        (1, "a", 2), (2, "b", 4)]


@pytest.mark.esper("insert-into", cite="EPLOtherIStreamRStreamKeywords (insert irstream: both streams "
                   "become new events of the target, in Esper's order: the insert row, then the remove row)")
def test_insert_irstream_inserts_both_streams() -> None:
    h = Harness("insert irstream into S select v from Flow#length(1); @Name('s0') select v from S")
    for t, v in enumerate([1, 2, 3]):
        h.send(t, v=v)
    assert [(r.time_ms, r.values["v"]) for r in h.of("s0")] == [(0, 1), (1, 2), (1, 1), (2, 3), (2, 2)]


@pytest.mark.esper("insert-into", cite=II.format("EPLInsertIntoNamedColsSimple") + " (a column list names the "
                   "inserted properties by position: the statement's rows and the stream's events)")
def test_insert_into_with_a_column_list() -> None:
    rows = variant("@Name('fl') insert into Ev (delta, product) select intPrimitive - intBoxed as deltaTag, "
                   "intPrimitive * intBoxed as productTag from Flow(kind='sb')#length(100)", join=False)
    assert rows == EXPECTED


@pytest.mark.esper("insert-into", cite=II.format("EPLInsertIntoNamedColsStateless"))
def test_insert_into_with_a_column_list_without_window() -> None:
    rows = variant("@Name('fl') insert into Ev (delta, product) select intPrimitive - intBoxed as deltaTag, "
                   "intPrimitive * intBoxed as productTag from Flow(kind='sb')", join=False)
    assert rows == EXPECTED


@pytest.mark.esper("insert-into", cite=II.format("EPLInsertIntoNamedColsJoin"))
def test_insert_into_with_a_column_list_from_a_join() -> None:
    rows = variant("@Name('fl') insert into Ev (delta, product) select s0.intPrimitive - s0.intBoxed as deltaTag, "
                   "s0.intPrimitive * s0.intBoxed as productTag from Flow(kind='sb')#length(100) as s0, "
                   "Flow(kind='a')#length(100) as s1 where s0.theString = s1.id", join=True)
    assert rows == EXPECTED


@pytest.mark.esper("insert-into", cite=II.format("EPLInsertIntoProvidePartitialCols") + " (a stream filled by two "
                   "statements, one of them naming fewer columns: the missing one reads null)")
def test_insert_into_partial_columns() -> None:
    h = Harness("insert into AStream (p0, p1) select intPrimitive as somename, theString from "
                "Flow(intPrimitive between 0 and 10); "
                "insert into AStream (p0) select intPrimitive as somename from Flow(intPrimitive > 10); "
                "@Name('s0') select p0, p1 from AStream")
    h.send(0, theString="E1", intPrimitive=20)
    h.send(1, theString="E2", intPrimitive=5)
    assert [(r.values["p0"], r.values["p1"]) for r in h.of("s0")] == [(20, None), (5, "E2")]


@pytest.mark.esper("unsupported-is-an-error", cite=II.format("EPLInsertIntoNamedColsWildcard") + " (wildcard not "
                   "allowed when insert-into specifies column order) and a count mismatch")
@pytest.mark.parametrize("text", ["insert into Event_1W (delta, product) select * from Flow#length(100)",
                                  "insert into S (a, b) select x from Flow"])
def test_insert_into_column_list_errors(text: str) -> None:
    from flowcep_plugin.engine.compiler import compile_module
    from flowcep_plugin.errors import EPLError
    with pytest.raises(EPLError) as info:
        compile_module(text)
    assert info.value.line == 1 and info.value.column
