"""ORDER BY within one output step, against Esper's ``ResultSetOrderBySimple`` regression test
(its six market events, sorted per delivery). Expected rows come from the test's
``orderValuesBy...`` lists for the statement cited."""

from __future__ import annotations

from typing import Any

import pytest

from flowcep_plugin.engine.harness import Harness

OB = "ResultSetOrderBySimple.{}"
#: createAndSend's events: (symbol, price); volume is 0 for all of them
MD = [("IBM", 2.0), ("KGB", 1.0), ("CMU", 3.0), ("IBM", 6.0), ("CAT", 6.0), ("CAT", 5.0)]
BY_PRICE = [("KGB", 1.0), ("IBM", 2.0), ("CMU", 3.0), ("CAT", 5.0), ("IBM", 6.0), ("CAT", 6.0)]
BY_SYMBOL = [("CAT", 6.0), ("CAT", 5.0), ("CMU", 3.0), ("IBM", 2.0), ("IBM", 6.0), ("KGB", 1.0)]
BY_SYMBOL_PRICE = [("CAT", 5.0), ("CAT", 6.0), ("CMU", 3.0), ("IBM", 2.0), ("IBM", 6.0), ("KGB", 1.0)]


def deliveries(epl: str, join: bool = False, until: int | None = None) -> list[list[dict[str, Any]]]:
    """The market events at 0..5 ms (then, for joins, the key strings at 10..14 ms); the rows of
    ``s0`` grouped by the step (time) that output them."""
    h = Harness(epl)
    for t, (sym, price) in enumerate(MD):
        h.send(t, kind="md", symbol=sym, price=price, volume=0)
    if join:
        for t, key in enumerate(["CAT", "IBM", "CMU", "KGB", "DOG"], start=10):
            h.send(t, kind="str", theString=key)
    if until is not None:
        h.watermark(until)
    steps: dict[int, list[dict[str, Any]]] = {}
    for r in h.of("s0"):
        steps.setdefault(r.time_ms, []).append(r.values)
    return list(steps.values())


def pairs(rows: list[dict[str, Any]], a: str = "symbol", b: str = "price") -> list[tuple[Any, Any]]:
    return [(r[a], r[b]) for r in rows]


MDS = "Flow(kind='md')"
SIX = [
    # (cite, order by (and select list), expected (symbol, price) of the one delivery of six rows)
    ("ResultSetDescending", "order by price desc",
     [("IBM", 6.0), ("CAT", 6.0), ("CAT", 5.0), ("CMU", 3.0), ("IBM", 2.0), ("KGB", 1.0)]),
    ("ResultSetDescending", "order by price desc, symbol asc",
     [("CAT", 6.0), ("IBM", 6.0), ("CAT", 5.0), ("CMU", 3.0), ("IBM", 2.0), ("KGB", 1.0)]),
    ("ResultSetDescending", "order by price asc", BY_PRICE),
    ("ResultSetDescending", "order by symbol desc, price desc", list(reversed(BY_SYMBOL_PRICE))),
    ("ResultSetDescending", "order by symbol, price", BY_SYMBOL_PRICE),
    ("ResultSetExpressions", "order by (price * 6) + 5", BY_PRICE),
    ("ResultSetExpressions", "order by (price * 6) + 5, price", BY_PRICE),
    ("ResultSetExpressions", "order by volume*price, symbol", BY_SYMBOL),
    ("ResultSetWildcard", "order by price", BY_PRICE),
    ("ResultSetWildcard", "order by symbol", BY_SYMBOL),
]


@pytest.mark.esper("order-by", cite=OB.format("ResultSetDescending") + " and siblings (output every 6 events)")
@pytest.mark.parametrize(("cite", "order", "expected"), SIX, ids=[o for _c, o, _e in SIX])
def test_one_release_of_six_sorted(cite: str, order: str, expected: list[tuple[str, float]]) -> None:
    sel = "*" if cite == "ResultSetWildcard" else "symbol, price"
    steps = deliveries(f"@Name('s0') select {sel} from {MDS}#length(5) output every 6 events {order}")
    assert len(steps) == 1 and pairs(steps[0]) == expected


@pytest.mark.esper("order-by", cite=OB.format("ResultSetAliasesSimple") + " (ORDER BY names a select alias)")
def test_order_by_a_select_alias() -> None:
    steps = deliveries(f"@Name('s0') select symbol as mySymbol, price from {MDS}#length(5) output every 6 events "
                       "order by mySymbol")
    assert [pairs(s, "mySymbol") for s in steps] == [BY_SYMBOL]


@pytest.mark.esper("order-by", cite=OB.format("ResultSetNoOutputClauseView") + " (each event its own delivery)")
def test_order_by_without_output_clause_sorts_nothing_across_events() -> None:
    steps = deliveries(f"@Name('s0') select symbol, price from {MDS}#length(5) order by price")
    assert [pairs(s) for s in steps] == [[m] for m in MD]


@pytest.mark.esper("order-by", cite=OB.format("ResultSetNoOutputClauseView") + " (a time batch is one delivery)")
def test_order_by_over_a_time_batch() -> None:
    steps = deliveries(f"@Name('s0') select symbol, price from {MDS}#time_batch(1 sec) order by price", until=1000)
    assert [pairs(s) for s in steps] == [BY_PRICE]


JOIN = ("@Name('s0') select {sel} from Flow(kind='md')#length(10) as one, Flow(kind='str')#length(100) as two "
        "where one.symbol = two.theString {tail}")
BY_PRICE_JOIN = [("KGB", 1.0), ("IBM", 2.0), ("CMU", 3.0), ("CAT", 5.0), ("CAT", 6.0), ("IBM", 6.0)]


@pytest.mark.esper("order-by", cite=OB.format("ResultSetAcrossJoin") + " (six joined rows, one release)")
def test_order_by_across_a_join() -> None:
    steps = deliveries(JOIN.format(sel="one.symbol as symbol, two.theString as theString, one.price as price",
                                   tail="output every 6 events order by one.price"),
                       join=True)
    assert [pairs(s) for s in steps] == [BY_PRICE_JOIN]
    assert all(r["symbol"] == r["theString"] for r in steps[0])


@pytest.mark.esper("order-by", cite=OB.format("ResultSetAcrossJoin") + " (order by theString, price)")
def test_order_by_across_a_join_two_keys() -> None:
    steps = deliveries(JOIN.format(sel="one.symbol as symbol, one.price as price",
                                   tail="output every 6 events order by two.theString, one.price"),
                       join=True)
    assert [pairs(s) for s in steps] == [BY_SYMBOL_PRICE]


@pytest.mark.esper("order-by", cite=OB.format("ResultSetNoOutputClauseJoin") + " (each join step sorted on its own)")
def test_order_by_join_without_output_clause() -> None:
    steps = deliveries(JOIN.format(sel="one.symbol as symbol, one.price as price",
                                   tail="order by one.price"), join=True)
    assert [pairs(s) for s in steps] == [[("CAT", 5.0), ("CAT", 6.0)], [("IBM", 2.0), ("IBM", 6.0)],
                                         [("CMU", 3.0)], [("KGB", 1.0)]]


@pytest.mark.esper("order-by", cite=OB.format("ResultSetOrderByMultiDelivery") + " (pattern matches of one event)")
def test_order_by_pattern_matches_of_one_event() -> None:
    h = Harness("@Name('s0') select a.s as s from pattern [every a=Flow(s like 'A%') -> b=Flow(s like 'B%')] "
                "order by a.s desc")
    for t, s in enumerate(["A1", "A2", "B"]):
        h.send(t, s=s)
    assert [(r.time_ms, r.values["s"]) for r in h.of("s0")] == [(2, "A2"), (2, "A1")]


@pytest.mark.esper("order-by", cite=OB.format("ResultSetOrderByMultiDelivery") + " (rstream of a grouped time "
                   "window: the events leaving at one time are sorted)")
def test_order_by_rstream_of_groupwin_time() -> None:
    h = Harness("@Name('s0') select rstream s from Flow#groupwin(s)#time(10) order by s desc")
    h.send(1000, s="A1")
    h.send(1000, s="A2")
    h.watermark(11000)
    assert [(r.time_ms, r.removed, r.values["s"]) for r in h.of("s0")] == [(11000, True, "A2"), (11000, True, "A1")]


@pytest.mark.esper("limit", cite="ResultSetOutputLimitRowLimit.ResultSetBatchNoOffsetNoOrder (irstream: the limit "
                   "applies to the insert and the remove stream each)")
def test_limit_applies_to_each_stream() -> None:
    h = Harness("@Name('s0') select irstream theString from Flow#length_batch(3) limit 1")
    got = []
    for t in range(6):
        got.append([("-" if r.removed else "+", r.values["theString"]) for r in h.send(t, theString=f"E{t + 1}")])
    assert got == [[], [], [("+", "E1")], [], [], [("+", "E4"), ("-", "E1")]]


@pytest.mark.esper("unique", cite="ViewUnique.ViewLastUniqueSceneOne (with its ORDER BY: each stream sorted on its own)")
def test_unique_irstream_with_order_by() -> None:
    h = Harness("@Name('s0') select irstream symbol, price from Flow#unique(symbol) order by symbol")
    got = []
    for t, (sym, p) in enumerate([("S1", 100.0), ("S2", 5.0), ("S1", 101.0), ("S1", 102.0), ("S2", 6.0)]):
        got.append([("-" if r.removed else "+", r.values["symbol"], r.values["price"]) for r in h.send(t, symbol=sym, price=p)])
    assert got == [[("+", "S1", 100.0)], [("+", "S2", 5.0)], [("+", "S1", 101.0), ("-", "S1", 100.0)],
                   [("+", "S1", 102.0), ("-", "S1", 101.0)], [("+", "S2", 6.0), ("-", "S2", 5.0)]]


@pytest.mark.esper("distinct", cite="EPLOtherDistinct (DISTINCT applies to the insert and the remove stream each, "
                   "as its output view does) over ViewLengthBatchSceneOne's batches")
def test_distinct_applies_to_each_stream() -> None:
    h = Harness("@Name('s0') select irstream distinct s from Flow#length_batch(3)")
    got = []
    for t, s in enumerate(["a", "a", "b", "b", "b", "c"]):
        got.append([("-" if r.removed else "+", r.values["s"]) for r in h.send(t, s=s)])
    assert got == [[], [], [("+", "a"), ("+", "b")], [], [], [("+", "b"), ("+", "c"), ("-", "a"), ("-", "b")]]
