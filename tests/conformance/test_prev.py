"""prev, prevtail, prevcount and prevwindow, against Esper's ``ExprCorePrevious`` regression
tests (their insert-stream rows; FlowCEP refuses these functions with a remove stream).

``prevwindow`` is a list, newest first; events are dicts, so ``prev(1, s0)`` of a whole event is
written ``prev(1, id)`` here.
"""

from __future__ import annotations

from typing import Any

import pytest

from flowcep_plugin.engine.compiler import compile_module
from flowcep_plugin.engine.harness import Harness
from flowcep_plugin.errors import EPLError

EP = "ExprCorePrevious"
TAIL = ("prev(2, symbol) as prevSymbol, prev(2, price) as prevPrice, prevtail(0, symbol) as t0s, "
        "prevtail(0, price) as t0p, prevtail(1, symbol) as t1s, prevtail(1, price) as t1p, "
        "prevcount(price) as cnt, prevwindow(price) as win")
TAIL_F = ("currSymbol", "prevSymbol", "prevPrice", "t0s", "t0p", "t1s", "t1p", "cnt", "win")


def got(rows: list[Any], fields: tuple[str, ...]) -> list[tuple[Any, ...]]:
    return [tuple(r.values[f] for f in fields) for r in rows]


@pytest.mark.esper("prev", cite=f"{EP}.ExprCorePreviousTimeWindow")
def test_prev_over_a_time_window() -> None:
    h = Harness(f"@Name('s0') select symbol as currSymbol, {TAIL} from Flow#time(1 min)")
    rows = [h.send(t, symbol=s, price=p) for t, s, p in (
        (0, "D1", 1.0), (1000, "D2", 2.0), (2000, "D3", 3.0), (3000, "D4", 4.0), (4000, "D5", 5.0),
        (30000, "D6", 6.0))]
    assert [got(r, TAIL_F) for r in rows] == [
        [("D1", None, None, "D1", 1.0, None, None, 1, [1.0])],
        [("D2", None, None, "D1", 1.0, "D2", 2.0, 2, [2.0, 1.0])],
        [("D3", "D1", 1.0, "D1", 1.0, "D2", 2.0, 3, [3.0, 2.0, 1.0])],
        [("D4", "D2", 2.0, "D1", 1.0, "D2", 2.0, 4, [4.0, 3.0, 2.0, 1.0])],
        [("D5", "D3", 3.0, "D1", 1.0, "D2", 2.0, 5, [5.0, 4.0, 3.0, 2.0, 1.0])],
        [("D6", "D4", 4.0, "D1", 1.0, "D2", 2.0, 6, [6.0, 5.0, 4.0, 3.0, 2.0, 1.0])]]


@pytest.mark.esper("prev", cite=f"{EP}.ExprCorePreviousExtTimedWindow (the same window by time: an event "
                   "60 s after D1 has pushed D1 out)")
def test_prev_over_a_time_window_after_expiry() -> None:
    h = Harness(f"@Name('s0') select symbol as currSymbol, {TAIL} from Flow#time(1 min)")
    for t, s, p in ((0, "D1", 1.0), (1000, "D2", 2.0), (3000, "D3", 3.0), (4000, "D4", 4.0), (5000, "D5", 5.0),
                    (30000, "D6", 6.0)):
        h.send(t, symbol=s, price=p)
    assert got(h.send(60000, symbol="D7", price=7.0), TAIL_F) == [
        ("D7", "D5", 5.0, "D2", 2.0, "D3", 3.0, 6, [7.0, 6.0, 5.0, 4.0, 3.0, 2.0])]
    assert got(h.send(61000, symbol="D8", price=8.0), TAIL_F) == [
        ("D8", "D6", 6.0, "D3", 3.0, "D4", 4.0, 6, [8.0, 7.0, 6.0, 5.0, 4.0, 3.0])]


@pytest.mark.esper("prev", cite=f"{EP}.ExprCorePreviousLengthWindow")
def test_prev_over_a_length_window() -> None:
    h = Harness("""@Name('s0') select symbol as currSymbol, prev(0, symbol) as p0, prev(1, symbol) as p1,
                   prev(2, symbol) as p2, prevtail(0, symbol) as t0, prevtail(1, symbol) as t1,
                   prevcount(price) as cnt, prevwindow(price) as win from Flow#length(3)""")
    fields = ("currSymbol", "p0", "p1", "p2", "t0", "t1", "cnt", "win")
    rows = [got(h.send(i, symbol=s, price=float(i + 1)), fields) for i, s in enumerate("ABCD")]
    assert rows == [[("A", "A", None, None, "A", None, 1, [1.0])],
                    [("B", "B", "A", None, "A", "B", 2, [2.0, 1.0])],
                    [("C", "C", "B", "A", "A", "B", 3, [3.0, 2.0, 1.0])],
                    [("D", "D", "C", "B", "B", "C", 3, [4.0, 3.0, 2.0])]]


@pytest.mark.esper("prev", cite=f"{EP}.ExprCorePreviousPrevStream")
def test_prev_over_a_length_window_of_two() -> None:
    h = Harness("""@Name('s0') select prev(1, id) as result, prevtail(0, id) as tailresult,
                   prevwindow(id) as windowresult, prevcount(id) as countresult from Flow#length(2) as s0""")
    fields = ("result", "tailresult", "windowresult", "countresult")
    assert [got(h.send(i, id=i), fields) for i in (1, 2, 3)] == [
        [(None, 1, [1], 1)], [(1, 1, [2, 1], 2)], [(2, 2, [3, 2], 2)]]


@pytest.mark.esper("prev", cite=f"{EP}.ExprCorePreviousTimeBatch")
def test_prev_over_a_time_batch_is_the_batch() -> None:
    h = Harness("""@Name('s0') select symbol, prev(1, symbol) as prev1, prevtail(symbol) as prevtail,
                   prevcount(symbol) as prevCountSym, prevwindow(symbol) as prevWindowSym
                   from Flow#time_batch(1 sec)""")
    fields = ("symbol", "prev1", "prevtail", "prevCountSym", "prevWindowSym")
    h.watermark(0)
    h.send(1500, symbol="E1")
    h.send(1700, symbol="E2")
    assert got(h.watermark(2500), fields) == [("E1", None, "E1", 2, ["E2", "E1"]), ("E2", "E1", "E1", 2, ["E2", "E1"])]
    h.send(2500, symbol="E3")
    h.send(2500, symbol="E4")
    h.send(2600, symbol="E5")
    win = ["E5", "E4", "E3"]
    assert got(h.watermark(3500), fields) == [("E3", None, "E3", 3, win), ("E4", "E3", "E3", 3, win),
                                              ("E5", "E4", "E3", 3, win)]


@pytest.mark.esper("prev", cite=f"{EP}.ExprCorePreviousTimeBatchWindow")
def test_prev_two_over_a_time_batch() -> None:
    h = Harness(f"@Name('s0') select symbol as currSymbol, {TAIL} from Flow#time_batch(1 min)")
    h.watermark(0)
    h.send(0, symbol="A", price=1.0)
    h.send(0, symbol="B", price=2.0)
    assert got(h.watermark(60000), TAIL_F) == [("A", None, None, "A", 1.0, "B", 2.0, 2, [2.0, 1.0]),
                                               ("B", None, None, "A", 1.0, "B", 2.0, 2, [2.0, 1.0])]
    h.send(80000, symbol="C", price=3.0)
    assert got(h.watermark(120000), TAIL_F) == [("C", None, None, "C", 3.0, None, None, 1, [3.0])]
    h.watermark(300000)
    for s, p in (("D", 4.0), ("E", 5.0), ("F", 6.0), ("G", 7.0)):
        h.send(300000, symbol=s, price=p)
    win = [7.0, 6.0, 5.0, 4.0]
    assert got(h.watermark(360000), TAIL_F) == [
        ("D", None, None, "D", 4.0, "E", 5.0, 4, win), ("E", None, None, "D", 4.0, "E", 5.0, 4, win),
        ("F", "D", 4.0, "D", 4.0, "E", 5.0, 4, win), ("G", "E", 5.0, "D", 4.0, "E", 5.0, 4, win)]


@pytest.mark.esper("prev", cite=f"{EP}.ExprCorePreviousPerGroupTwoCriteria")
def test_prev_per_groupwin_length() -> None:
    h = Harness("""@Name('s0') select symbol, feed, prev(1, price) as prevPrice, prevtail(price) as tailPrice,
                   prevcount(price) as countPrice, prevwindow(price) as windowPrice
                   from Flow#groupwin(symbol, feed)#length(2)""")
    fields = ("symbol", "feed", "prevPrice", "tailPrice", "countPrice", "windowPrice")
    sent = [("IBM", 10.0, "F1"), ("IBM", 11.0, "F1"), ("MSFT", 100.0, "F2"), ("IBM", 12.0, "F2"),
            ("IBM", 13.0, "F1"), ("MSFT", 101.0, "F2"), ("IBM", 17.0, "F2")]
    rows = [got(h.send(i, symbol=s, price=p, feed=f), fields)[0] for i, (s, p, f) in enumerate(sent)]
    assert rows == [("IBM", "F1", None, 10.0, 1, [10.0]), ("IBM", "F1", 10.0, 10.0, 2, [11.0, 10.0]),
                    ("MSFT", "F2", None, 100.0, 1, [100.0]), ("IBM", "F2", None, 12.0, 1, [12.0]),
                    ("IBM", "F1", 11.0, 11.0, 2, [13.0, 11.0]), ("MSFT", "F2", 100.0, 100.0, 2, [101.0, 100.0]),
                    ("IBM", "F2", 12.0, 12.0, 2, [17.0, 12.0])]


@pytest.mark.esper("prev", cite=f"{EP}.ExprCorePreviousPerGroupTwoCriteria (length window overflow)")
def test_prev_past_the_window_size_is_null() -> None:
    h = Harness("@Name('s0') select prev(5, intPrimitive) as val0 from Flow#groupwin(theString)#length(5)")
    for i, (s, v) in enumerate([("A", 11), ("A", 12), ("A", 13), ("A", 14), ("A", 15), ("C", 20), ("C", 21),
                                ("C", 22), ("C", 23), ("C", 24), ("B", 31), ("C", 25), ("A", 16)]):
        h.send(i, theString=s, intPrimitive=v)
    assert [r.values["val0"] for r in h.rows] == [None] * 13


REFUSED = [
    ("select prev(1, v) from Flow", "prev functions over no data window"),
    ("select prev(1, v) from Flow#unique(k)", "prev functions over #unique"),
    ("select prev(count(*), v) from Flow#length(3)", "index that is not"),
    ("select irstream prev(1, v) from Flow#length(3)", "with select irstream"),
    ("select prev(1, a.v) from Flow#length(1) as a, Flow#length(1) as b", "in a join"),
]


@pytest.mark.esper("unsupported-is-an-error", cite=f"{EP}.ExprCorePreviousInvalid and Esper reference, 'The "
                   "Previous Function': forms not checked here are refused")
@pytest.mark.parametrize(("text", "word"), REFUSED)
def test_unsupported_prev_forms_are_compile_errors(text: str, word: str) -> None:
    with pytest.raises(EPLError) as info:
        compile_module(text)
    assert word in str(info.value) and info.value.line == 1


@pytest.mark.esper("prior", cite="Esper reference, 'The Prior Function' (evaluated for the event of each row) "
                   "with 'Output for Aggregation and Group-By: Aggregated and Un-Grouped' (a row per event)")
def test_prior_beside_aggregates_is_per_event() -> None:
    h = Harness("@Name('s0') select v, sum(v) as s, prior(1, v) as p from Flow#length(2)")
    for i in range(4):
        h.send(i, v=i * 10)
    assert [(r.values["v"], r.values["s"], r.values["p"]) for r in h.rows] == [
        (0, 0, None), (10, 10, 0), (20, 30, 10), (30, 50, 20)]

