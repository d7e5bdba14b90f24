"""prev, prevtail, prevcount, prevwindow and prior over the windows the suite covered thinly,
from Esper's ``ExprCorePrevious`` and ``ExprCorePrior`` regression tests (espertechinc/esper,
regression-lib ``suite/expr/exprcore``) and the reference sections "The Previous Function",
"The Prior Function"; and the prev forms the engine refuses (each a compile error at its line and
column naming the construct)."""

from __future__ import annotations

from typing import Any

import pytest

from flowcep_plugin.engine.compiler import compile_module
from flowcep_plugin.engine.harness import Harness
from flowcep_plugin.errors import EPLError

EP = "ExprCorePrevious.{}"


def esper(construct: str, cite: str) -> Any:
    return pytest.mark.esper(construct, cite=f"espertechinc/esper {cite}")


PER_GROUP = [  # (symbol, price) sent; expected prevPrice, prevPrevPrice, prevTail0, prevTail1, count, window
    ("IBM", 75.0, (None, None, 75.0, None, 1, [75.0])),
    ("MSFT", 40.0, (None, None, 40.0, None, 1, [40.0])),
    ("IBM", 76.0, (75.0, None, 75.0, 76.0, 2, [76.0, 75.0])),
    ("CIC", 1.0, (None, None, 1.0, None, 1, [1.0])),
    ("MSFT", 41.0, (40.0, None, 40.0, 41.0, 2, [41.0, 40.0])),
    ("IBM", 77.0, (76.0, 75.0, 75.0, 76.0, 3, [77.0, 76.0, 75.0])),
    ("IBM", 78.0, (77.0, 76.0, 75.0, 76.0, 4, [78.0, 77.0, 76.0, 75.0])),
    ("CIC", 2.0, (1.0, None, 1.0, 2.0, 2, [2.0, 1.0])),
    ("MSFT", 42.0, (41.0, 40.0, 40.0, 41.0, 3, [42.0, 41.0, 40.0])),
    ("CIC", 3.0, (2.0, 1.0, 1.0, 2.0, 3, [3.0, 2.0, 1.0])),
]


@esper("prev", EP.format("ExprCorePreviousLengthWindowPerGroup (assertPerGroup over #groupwin(symbol)#length(10))"))
def test_prev_functions_per_group_length_window() -> None:
    h = Harness("@Name('s0') select symbol, prev(1, price) as prevPrice, prev(2, price) as prevPrevPrice, "
                "prevtail(0, price) as prevTail0Price, prevtail(1, price) as prevTail1Price, "
                "prevcount(price) as countPrice, prevwindow(price) as windowPrice "
                "from Flow#groupwin(symbol)#length(10)")
    cols = ("prevPrice", "prevPrevPrice", "prevTail0Price", "prevTail1Price", "countPrice", "windowPrice")
    for t, (sym, price, want) in enumerate(PER_GROUP, start=1):
        out = h.send(t, symbol=sym, price=price)
        assert len(out) == 1 and out[0].values["symbol"] == sym
        assert tuple(out[0].values[c] for c in cols) == want, (sym, price)


@esper("prev", EP.format("ExprCorePreviousLengthWindow (#length(3): prev, prevtail with and without an index, "
                         "prevcount, prevwindow newest first)"))
def test_prev_functions_over_a_length_window() -> None:
    h = Harness("@Name('s0') select s, prev(1, v) as p1, prev(2, v) as p2, prevtail(v) as pt, prevtail(1, v) as pt1, "
                "prevcount(v) as pc, prevwindow(v) as pw from Flow#length(3)")
    got = []
    for i in range(1, 6):
        got += [tuple(r.values[k] for k in ("p1", "p2", "pt", "pt1", "pc", "pw")) for r in h.send(i, s=f"E{i}", v=i)]
    assert got == [(None, None, 1, None, 1, [1]), (1, None, 1, 2, 2, [2, 1]), (2, 1, 1, 2, 3, [3, 2, 1]),
                   (3, 2, 2, 3, 3, [4, 3, 2]), (4, 3, 3, 4, 3, [5, 4, 3])]


@esper("prev", EP.format("ExprCorePreviousTimeWindow (#time: the window right after the event entered; "
                         "events that expired are no longer counted)"))
def test_prev_functions_over_a_time_window() -> None:
    h = Harness("@Name('s0') select s, prev(1, v) as p1, prevtail(v) as pt, prevcount(v) as pc, prevwindow(v) as pw "
                "from Flow#time(2500 msec)")
    got = []
    for i in range(1, 6):
        got += [tuple(r.values[k] for k in ("p1", "pt", "pc", "pw")) for r in h.send(1000 * i, s=f"E{i}", v=i)]
    assert got == [(None, 1, 1, [1]), (1, 1, 2, [2, 1]), (2, 1, 3, [3, 2, 1]), (3, 2, 3, [4, 3, 2]),
                   (4, 3, 3, [5, 4, 3])]


@esper("prev", EP.format("ExprCorePreviousLengthBatch (the released batch is the window: prev looks only within "
                         "it)"))
def test_prev_functions_over_a_length_batch() -> None:
    h = Harness("@Name('s0') select s, prev(1, v) as p1, prevtail(v) as pt, prevcount(v) as pc, prevwindow(v) as pw "
                "from Flow#length_batch(2)")
    for i in range(1, 6):
        h.send(1000 * i, s=f"E{i}", v=i)
    got = [(r.time_ms, r.values["s"], r.values["p1"], r.values["pt"], r.values["pc"], r.values["pw"])
           for r in h.of("s0")]
    assert got == [(2000, "E1", None, 1, 2, [2, 1]), (2000, "E2", 1, 1, 2, [2, 1]),
                   (4000, "E3", None, 3, 2, [4, 3]), (4000, "E4", 3, 3, 2, [4, 3])]


@esper("prev", "Esper reference, 'The Previous Function' (#lastevent holds one event: prev(1) is null, prevcount 1)")
def test_prev_over_lastevent() -> None:
    h = Harness("@Name('s0') select prev(1, v) as p1, prevcount(v) as pc from Flow#lastevent")
    got = [tuple(r.values.values()) for i in range(3) for r in h.send(i, v=i)]
    assert got == [(None, 1)] * 3


@esper("prev", "Esper reference, 'The Previous Function' (#keepall: prevcount grows, prev(1) is the one before)")
def test_prev_over_keepall() -> None:
    h = Harness("@Name('s0') select prev(1, v) as p1, prevcount(v) as pc from Flow#keepall")
    got = [tuple(r.values.values()) for i in range(1, 4) for r in h.send(i, v=i)]
    assert got == [(None, 1), (1, 2), (2, 3)]


@esper("prior", "ExprCorePrior (prior(0) is the event itself; prior counts the stream's events, not the "
       "window's: the same over #length(2) and #length_batch(2))")
def test_prior_zero_and_over_batches() -> None:
    h = Harness("@Name('s0') select prior(0, v) as r0, prior(1, v) as r1, prior(2, v) as r2 from Flow#length(2)")
    got = [tuple(r.values.values()) for i in range(1, 5) for r in h.send(i, v=i)]
    assert got == [(1, None, None), (2, 1, None), (3, 2, 1), (4, 3, 2)]
    h = Harness("@Name('s0') select v, prior(1, v) as r1 from Flow#length_batch(2)")
    for i in range(1, 5):
        h.send(i, v=i)
    assert [(r.values["v"], r.values["r1"]) for r in h.of("s0")] == [(1, None), (2, 1), (3, 2), (4, 3)]


REFUSED = [
    ("select count(*) from Flow#keepall where prev(0, intPrimitive) = 5", "prev() in the WHERE",
     EP.format("ExprCorePreviousInvalid (prev in the where-clause of a statement with aggregations)")),
    ("select count(*) from Flow#keepall having prev(0, intPrimitive) = 5", "prev() in the WHERE or HAVING",
     EP.format("ExprCorePreviousInvalid (prev in the having-clause)")),
    ("select prev(count(*) - 1, price) as firstPrice from Flow#time(60)", "index",
     EP.format("ExprCorePreviousPrevCountStar (a computed index)")),
    ("select symbol, prev(1, price) as p from Flow#groupwin(symbol)#time(20 sec)", "#groupwin#time",
     EP.format("ExprCorePreviousTimeWindowPerGroup")),
    ("select symbol, prev(1, price) as p from Flow#groupwin(symbol)#time_batch(1 sec)", "#groupwin#time_batch",
     EP.format("ExprCorePreviousTimeBatchPerGroup")),
    ("select symbol, prev(1, price) as p from Flow#groupwin(symbol)#sort(10, price asc)", "#groupwin#sort",
     EP.format("ExprCorePreviousSortWindowPerGroup")),
    ("select symbol, prev(1, price) as p from Flow#groupwin(symbol)#ext_timed(volume, 20 sec)", "#groupwin#ext_timed",
     EP.format("ExprCorePreviousExtTimeWindowPerGroup")),
    ("select prev(1, price) as p from Flow#sort(3, price)", "#sort", EP.format("ExprCorePreviousSortWindow")),
    ("select prev(1, price) as p from Flow#unique(symbol)", "#unique", "Esper reference, 'The Previous Function' "
     "(over #unique)"),
    ("select prev(price, 2) as p from Flow#length(3)", "prev", EP.format("ExprCorePreviousLengthBatchPerGroup "
                                                                          "(the prev(property, index) form)")),
]


@pytest.mark.parametrize(("epl", "name"), [
    pytest.param(e, n, id=e, marks=esper("unsupported-is-an-error", c + ": refused at its line and column"))
    for e, n, c in REFUSED])
def test_prev_forms_that_are_refused(epl: str, name: str) -> None:
    with pytest.raises(EPLError) as err:
        compile_module("@Name('s0')\n" + epl, "<t>")
    msg = str(err.value)
    assert msg.startswith("<t>:") and name in msg, msg
