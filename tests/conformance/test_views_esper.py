"""Data windows with the insert and remove streams, against Esper's view regression tests
(``regressionlib/suite/view``): each case replays the test's events and clock and checks the
rows of every delivery (insert rows '+', remove rows '-')."""

from __future__ import annotations

from typing import Any

import pytest

from flowcep_plugin.engine.compiler import compile_module
from flowcep_plugin.engine.harness import Harness
from flowcep_plugin.errors import EPLError

TB = "ViewTimeBatch.{}"
Step = tuple[int, "str | None"]


def deliveries(epl: str, steps: list[Step], field: str = "s") -> dict[int, list[str]]:
    """``(t, name)`` sends an event named ``name`` at ``t``; ``(t, None)`` advances time.
    Returns, by output time, '+name' / '-name' in output order."""
    h = Harness(epl)
    for t, name in steps:
        if name is None:
            h.watermark(t)
        else:
            h.send(t, **{field: name})
    out: dict[int, list[str]] = {}
    for r in h.of("s0"):
        out.setdefault(r.time_ms, []).append(("-" if r.removed else "+") + str(r.values[field]))
    return out


@pytest.mark.esper("irstream-time_batch", cite=TB.format("ViewTimeBatchSceneOne") + " (batches anchored at the "
                   "first event, 1.5 s; the timer stops after an empty batch and restarts on the same boundaries)")
def test_time_batch_scene_one() -> None:
    steps: list[Step] = [(1500, None), (1500, "E1"), (1700, "E2"), (2499, None), (2500, None), (2500, "E3"),
                         (2500, "E4"), (2600, "E5"), (3500, None), (4500, None), (5500, None), (5500, "E6"),
                         (6500, None), (7500, None), (7500, "E7"), (8500, None)]
    assert deliveries("@Name('s0') select irstream * from Flow#time_batch(1 sec)", steps) == {
        2500: ["+E1", "+E2"], 3500: ["+E3", "+E4", "+E5", "-E1", "-E2"], 4500: ["-E3", "-E4", "-E5"],
        6500: ["+E6"], 7500: ["-E6"], 8500: ["+E7"]}


@pytest.mark.esper("irstream-time_batch", cite=TB.format("ViewTimeBatch10Sec"))
def test_time_batch_ten_seconds() -> None:
    steps: list[Step] = [(1000, "E1"), (2000, "E2"), (10999, None), (11000, None), (11000, "E3"), (21000, None),
                         (31000, None), (41000, None)]
    assert deliveries("@Name('s0') select irstream * from Flow#time_batch(10 sec)", steps) == {
        11000: ["+E1", "+E2"], 21000: ["+E3", "-E1", "-E2"], 31000: ["-E3"]}


@pytest.mark.esper("irstream-time_batch", cite=TB.format("ViewTimeBatchMultirow"))
def test_time_batch_multirow() -> None:
    steps: list[Step] = [(1000, "E1"), (1000, "E2"), (2000, "E3"), (3000, "E4"), (11000, None), (21000, None),
                         (31000, None), (31000, "E5"), (41000, None)]
    assert deliveries("@Name('s0') select irstream * from Flow#time_batch(10 sec)", steps) == {
        11000: ["+E1", "+E2", "+E3", "+E4"], 21000: ["-E1", "-E2", "-E3", "-E4"], 41000: ["+E5"]}


@pytest.mark.esper("irstream-time_batch", cite=TB.format("ViewTimeBatchMultiBatch"))
def test_time_batch_multi_batch() -> None:
    steps: list[Step] = [(1000, "E1"), (1000, "E2"), (11000, None), (11000, "E3"), (11000, "E4"), (21000, None),
                         (21000, "E5"), (21000, "E6"), (31000, None), (31000, "E7"), (31000, "E8"), (41000, None),
                         (51000, None), (61000, None)]
    assert deliveries("@Name('s0') select irstream * from Flow#time_batch(10 sec)", steps) == {
        11000: ["+E1", "+E2"], 21000: ["+E3", "+E4", "-E1", "-E2"], 31000: ["+E5", "+E6", "-E3", "-E4"],
        41000: ["+E7", "+E8", "-E5", "-E6"], 51000: ["-E7", "-E8"]}


@pytest.mark.esper("time_batch", cite=TB.format("ViewTimeBatchNoRefPoint"))
def test_time_batch_without_reference_point() -> None:
    got = deliveries("@Name('s0') select * from Flow#time_batch(10 minutes)",
                     [(0, "E1"), (599_999, None), (600_000, None)])
    assert got == {600_000: ["+E1"]}


@pytest.mark.esper("time_batch", cite=TB.format("ViewTimeBatchRefPoint") + " (reference point 10 ms)")
def test_time_batch_with_reference_point() -> None:
    got = deliveries("@Name('s0') select * from Flow#time_batch(10 minutes, 10L)",
                     [(0, None), (10, "E1"), (600_009, None), (600_010, None)])
    assert got == {600_010: ["+E1"]}


@pytest.mark.esper("unsupported-is-an-error", cite=TB.format("ViewTimeBatchStartEagerForceUpdate") + " (flow "
                   "control keywords are refused, not ignored)")
def test_time_batch_flow_control_keywords_are_refused() -> None:
    with pytest.raises(EPLError) as info:
        compile_module("select irstream * from Flow#time_batch(1, \"START_EAGER,FORCE_UPDATE\")")
    assert "START_EAGER" in str(info.value) and info.value.line == 1 and info.value.column


ZERO = [
    ("select * from Flow#time(0)", "time"),
    ("select * from Flow#time_batch(0 sec)", "time_batch"),
    ("select * from Flow#ext_timed(t, 0)", "ext_timed"),
    ("select * from Flow#time(0)#unique(a)", "time"),
    ("create window W#time(0) as select a from Flow", "named window W"),
    ("select a, count(*) from Flow#length(2) group by a output all every 0 seconds", "output every"),
]


@pytest.mark.esper("unsupported-is-an-error", cite="Esper's view factories (\"... view requires a size of at least "
                   "1 msec\") and ResultSetOutputLimitCrontabWhen invalid case (\"Invalid time period expression "
                   "returns a zero or negative time interval\")")
@pytest.mark.parametrize(("text", "what"), ZERO)
def test_zero_time_periods_are_refused(text: str, what: str) -> None:
    with pytest.raises(EPLError) as info:
        compile_module(text)
    assert what in str(info.value) and "at least 1 msec" in str(info.value) and info.value.line == 1


def _rows(epl: str, steps: list[tuple[int, dict[str, Any] | None]], *fields: str) -> list[tuple[Any, ...]]:
    h = Harness(epl)
    for t, p in steps:
        if p is None:
            h.watermark(t)
        else:
            h.send(t, **p)
    return [(r.time_ms, "-" if r.removed else "+", *(r.values[f] for f in fields)) for r in h.of("s0")]


LB = "ViewLengthBatch.{}"
TW = "ViewTimeWin.{}"


def names(n: int) -> list[Step]:
    return [(i, f"E{i + 1}") for i in range(n)]


@pytest.mark.esper("irstream-length_batch", cite=LB.format("ViewLengthBatchSceneOne"))
def test_length_batch_scene_one() -> None:
    assert deliveries("@Name('s0') select irstream * from Flow#length_batch(3)", names(10)) == {
        2: ["+E1", "+E2", "+E3"], 5: ["+E4", "+E5", "+E6", "-E1", "-E2", "-E3"],
        8: ["+E7", "+E8", "+E9", "-E4", "-E5", "-E6"]}


@pytest.mark.esper("irstream-length_batch", cite=LB.format("ViewLengthBatchSize1"))
def test_length_batch_of_one() -> None:
    assert deliveries("@Name('s0') select irstream * from Flow#length_batch(1)", names(3)) == {
        0: ["+E1"], 1: ["+E2", "-E1"], 2: ["+E3", "-E2"]}


@pytest.mark.esper("irstream-length_batch", cite=LB.format("ViewLengthBatchSize2"))
def test_length_batch_of_two() -> None:
    assert deliveries("@Name('s0') select irstream * from Flow#length_batch(2)", names(6)) == {
        1: ["+E1", "+E2"], 3: ["+E3", "+E4", "-E1", "-E2"], 5: ["+E5", "+E6", "-E3", "-E4"]}


@pytest.mark.esper("prev", cite=LB.format("ViewLengthBatchPrev") + " (prev/prevtail/prevcount/prevwindow over the "
                   "released batch; its insert stream)")
def test_length_batch_prev_functions() -> None:
    h = Harness("@Name('s0') select s, prev(1, s) as prev1, prevtail(0, s) as prevTail0, prevtail(1, s) as prevTail1, "
                "prevcount(s) as prevCountSym, prevwindow(s) as prevWindowSym from Flow#length_batch(3)")
    for t, s in names(3):
        h.send(t, s=s)
    win = ["E3", "E2", "E1"]
    fields = ("s", "prev1", "prevTail0", "prevTail1", "prevCountSym", "prevWindowSym")
    assert [tuple(r.values[f] for f in fields) for r in h.of("s0")] == [
        ("E1", None, "E1", "E2", 3, win), ("E2", "E1", "E1", "E2", 3, win), ("E3", "E2", "E1", "E2", 3, win)]


@pytest.mark.esper("prev", cite=LB.format("ViewLengthBatchNormal") + " (VIEW: prev(1) within each released batch)")
def test_length_batch_prev_string() -> None:
    h = Harness("@Name('s0') select s, prev(1, s) as prevString from Flow#length_batch(3)")
    for t, s in names(9):
        h.send(t, s=s)
    assert [(r.time_ms, r.values["s"], r.values["prevString"]) for r in h.of("s0")] == [
        (2, "E1", None), (2, "E2", "E1"), (2, "E3", "E2"), (5, "E4", None), (5, "E5", "E4"), (5, "E6", "E5"),
        (8, "E7", None), (8, "E8", "E7"), (8, "E9", "E8")]


@pytest.mark.esper("unsupported-is-an-error", cite=LB.format("ViewLengthBatchInvalid") + " and ViewLengthBatchNormal "
                   "(GROUPWIN, NAMEDWINDOW variants: refused, not run differently)")
@pytest.mark.parametrize("text", ["select * from Flow#length_batch(0)",
                                  "select irstream * from Flow#groupwin(doubleBoxed)#length_batch(3)",
                                  "create window ABCWin#length_batch(3) as select s from Flow"])
def test_length_batch_forms_refused(text: str) -> None:
    with pytest.raises(EPLError) as info:
        compile_module(text)
    assert info.value.line == 1 and info.value.column


@pytest.mark.esper("irstream-simple", cite=TW.format("ViewTimeWindowSceneOne"))
def test_time_window_scene_one() -> None:
    steps: list[Step] = [(1000, "E1"), (2000, "E2"), (3000, "E3"), (10999, None), (11000, None), (12000, None),
                         (12000, "E4"), (12000, "E5"), (13000, None), (22000, None)]
    assert deliveries("@Name('s0') select irstream * from Flow#time(10 sec)", steps) == {
        1000: ["+E1"], 2000: ["+E2"], 3000: ["+E3"], 11000: ["-E1"], 12000: ["-E2", "+E4", "+E5"],
        13000: ["-E3"], 22000: ["-E4", "-E5"]}


@pytest.mark.esper("irstream-simple", cite=TW.format("ViewTimeJustSelectStar"))
def test_time_window_one_second() -> None:
    steps: list[Step] = [(500, "E1"), (600, "E2"), (1500, None), (1600, None), (2000, None), (2000, "E3")]
    assert deliveries("@Name('s0') select irstream * from Flow#time(1 sec)", steps) == {
        500: ["+E1"], 600: ["+E2"], 1500: ["-E1"], 1600: ["-E2"], 2000: ["+E3"]}


def market(epl: str, steps: list[tuple[int, tuple[str, int, float] | None]]) -> list[tuple[Any, ...]]:
    return _rows(epl, [(t, None if e is None else {"symbol": e[0], "volume": e[1], "price": e[2]}) for t, e in steps],
                 "symbol", "volume", "mySum")


@pytest.mark.esper("aggregate-per-event", cite=TW.format("ViewTimeSum"))
def test_time_window_sum_beside_properties() -> None:
    got = market("@Name('s0') select symbol, volume, sum(price) as mySum from Flow#time(30)",
                 [(0, ("DELL", 10000, 51.0)), (0, ("IBM", 20000, 52.0)), (0, ("DELL", 40000, 45.0)), (35000, None),
                  (35000, ("IBM", 30000, 70.0)), (35000, ("DELL", 10000, 20.0))])
    assert got == [(0, "+", "DELL", 10000, 51.0), (0, "+", "IBM", 20000, 103.0), (0, "+", "DELL", 40000, 148.0),
                   (35000, "+", "IBM", 30000, 70.0), (35000, "+", "DELL", 10000, 90.0)]


@pytest.mark.esper("aggregate-grouped-per-event", cite=TW.format("ViewTimeSumGroupBy"))
def test_time_window_sum_per_group_beside_properties() -> None:
    got = market("@Name('s0') select symbol, volume, sum(price) as mySum from Flow#time(30) group by symbol",
                 [(0, ("DELL", 10000, 51.0)), (0, ("IBM", 30000, 70.0)), (0, ("DELL", 20000, 52.0)),
                  (0, ("IBM", 30000, 70.0)), (35000, None), (35000, ("DELL", 10000, 90.0)),
                  (35000, ("IBM", 30000, 120.0)), (35000, ("DELL", 20000, 90.0)), (35000, ("IBM", 30000, 120.0))])
    assert got == [(0, "+", "DELL", 10000, 51.0), (0, "+", "IBM", 30000, 70.0), (0, "+", "DELL", 20000, 103.0),
                   (0, "+", "IBM", 30000, 140.0), (35000, "+", "DELL", 10000, 90.0), (35000, "+", "IBM", 30000, 120.0),
                   (35000, "+", "DELL", 20000, 180.0), (35000, "+", "IBM", 30000, 240.0)]


@pytest.mark.esper("aggregate-per-event", cite=TW.format("ViewTimeSumWFilter"))
def test_time_window_sum_with_stream_filter() -> None:
    got = market("@Name('s0') select symbol, volume, sum(price) as mySum from Flow(symbol = 'IBM')#time(30)",
                 [(0, ("IBM", 20000, 52.0)), (0, ("DELL", 1, 1.0)), (0, ("IBM", 20000, 100.0)), (35000, None),
                  (35000, ("IBM", 20000, 252.0)), (35000, ("IBM", 20000, 100.0))])
    assert got == [(0, "+", "IBM", 20000, 52.0), (0, "+", "IBM", 20000, 152.0), (35000, "+", "IBM", 20000, 252.0),
                   (35000, "+", "IBM", 20000, 352.0)]


UQ = "ViewUnique.{}"


def ir_pairs(epl: str, events: list[dict[str, Any]], *fields: str) -> list[list[tuple[Any, ...]]]:
    """Per event sent (at 0, 1, ...), its rows as ('+'|'-', *fields)."""
    h = Harness(epl)
    out = []
    for t, e in enumerate(events):
        rows = [r for r in h.send(t, **e) if r.statement == "s0"]
        out.append([("-" if r.removed else "+", *(r.values[f] for f in fields)) for r in rows])
    return out


@pytest.mark.esper("unique", cite=UQ.format("ViewLastUniqueSceneOne") + " (without its ORDER BY, which sorts one "
                   "row per stream here; irstream with ORDER BY is refused)")
def test_unique_replaces_by_key() -> None:
    got = ir_pairs("@Name('s0') select irstream symbol, price from Flow#unique(symbol)",
                   [{"symbol": s, "price": p} for s, p in [("S1", 100.0), ("S2", 5.0), ("S1", 101.0), ("S1", 102.0),
                                                           ("S2", 6.0)]], "symbol", "price")
    assert got == [[("+", "S1", 100.0)], [("+", "S2", 5.0)], [("+", "S1", 101.0), ("-", "S1", 100.0)],
                   [("+", "S1", 102.0), ("-", "S1", 101.0)], [("+", "S2", 6.0), ("-", "S2", 5.0)]]


@pytest.mark.esper("unique", cite=UQ.format("ViewLastUniqueSceneTwo") + " (two key properties)")
def test_unique_on_two_properties() -> None:
    got = ir_pairs("@Name('s0') select irstream symbol, feed, price from Flow#unique(symbol, feed)",
                   [{"symbol": s, "feed": f, "price": p} for s, f, p in
                    [("S1", "F1", 100.0), ("S2", "F1", 5.0), ("S1", "F1", 101.0), ("S2", "F1", 102.0),
                     ("S1", "F2", 6.0)]], "symbol", "feed", "price")
    assert got == [[("+", "S1", "F1", 100.0)], [("+", "S2", "F1", 5.0)],
                   [("+", "S1", "F1", 101.0), ("-", "S1", "F1", 100.0)],
                   [("+", "S2", "F1", 102.0), ("-", "S2", "F1", 5.0)], [("+", "S1", "F2", 6.0)]]


@pytest.mark.esper("unique", cite=UQ.format("ViewLastUniqueWithAnnotationPrefix"))
def test_unique_insert_and_remove_pairs() -> None:
    got = ir_pairs("@Name('s0') select irstream theString as c0, intPrimitive as c1 from Flow#unique(theString)",
                   [{"theString": s, "intPrimitive": i} for s, i in
                    [("E1", 1), ("E2", 20), ("E1", 2), ("E2", 21), ("E2", 22), ("E1", 3), ("E3", 30)]], "c0", "c1")
    assert got == [[("+", "E1", 1)], [("+", "E2", 20)], [("+", "E1", 2), ("-", "E1", 1)],
                   [("+", "E2", 21), ("-", "E2", 20)], [("+", "E2", 22), ("-", "E2", 21)],
                   [("+", "E1", 3), ("-", "E1", 2)], [("+", "E3", 30)]]


@pytest.mark.esper("unique", cite=UQ.format("ViewUniqueTwoWindows") + " (a null key is a key: the second event "
                   "with intBoxed null replaces the first)")
def test_unique_null_key_replaces() -> None:
    got = ir_pairs("@Name('s0') select irstream theString from Flow#unique(intBoxed)",
                   [{"theString": "E1", "intBoxed": None}, {"theString": "E2", "intBoxed": None}], "theString")
    assert got == [[("+", "E1")], [("+", "E2"), ("-", "E1")]]


WB = "ResultSetQueryTypeWTimeBatch.{}"
MD_BATCHES: list[tuple[int, dict[str, Any] | None]] = [
    (0, {"symbol": "DELL", "price": 10.0, "volume": 200}), (0, {"symbol": "IBM", "price": 15.0, "volume": 500}),
    (0, {"symbol": "DELL", "price": 20.0, "volume": 250}), (1000, None),
    (1000, {"symbol": "IBM", "price": 20.0, "volume": 600}), (2000, None)]


def batch_rows(epl: str, *fields: str) -> dict[int, tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]]:
    out: dict[int, tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]] = {}
    for t, sign, *vals in _rows(epl, MD_BATCHES, *fields):
        new, old = out.setdefault(t, ([], []))
        (old if sign == "-" else new).append(tuple(vals))
    return out


@pytest.mark.esper("irstream-time_batch", cite=WB.format("ResultSetQueryTypeTimeBatchRowForAllNoJoin"))
def test_time_batch_row_for_all() -> None:
    got = batch_rows("@Name('s0') select irstream sum(price) as sumPrice from Flow#time_batch(1 sec)", "sumPrice")
    assert got[1000][0] == [(45.0,)] and got[2000] == ([(20.0,)], [(45.0,)])


@pytest.mark.esper("irstream-time_batch", cite=WB.format("ResultSetQueryTypeTimeBatchRowPerEventNoJoin") + " (the "
                   "old events carry the aggregate after the update)")
def test_time_batch_row_per_event() -> None:
    got = batch_rows("@Name('s0') select irstream symbol, sum(price) as sumPrice from Flow#time_batch(1 sec)",
                     "symbol", "sumPrice")
    assert got[1000][0] == [("DELL", 45.0), ("IBM", 45.0), ("DELL", 45.0)]
    assert got[2000] == ([("IBM", 20.0)], [("DELL", 20.0), ("IBM", 20.0), ("DELL", 20.0)])


@pytest.mark.esper("irstream-time_batch", cite=WB.format("ResultSetQueryTypeTimeBatchRowPerGroupNoJoin") + " (with "
                   "its ORDER BY; a group that left is output with sum null)")
def test_time_batch_row_per_group() -> None:
    got = batch_rows("@Name('s0') select irstream symbol, sum(price) as sumPrice from Flow#time_batch(1 sec) "
                     "group by symbol order by symbol asc", "symbol", "sumPrice")
    assert got[1000][0] == [("DELL", 30.0), ("IBM", 15.0)]
    assert got[2000] == ([("DELL", None), ("IBM", 20.0)], [("DELL", 30.0), ("IBM", 15.0)])


@pytest.mark.esper("irstream-time_batch", cite=WB.format("ResultSetQueryTypeTimeBatchAggrGroupedNoJoin"))
def test_time_batch_grouped_beside_a_property() -> None:
    got = batch_rows("@Name('s0') select irstream symbol, sum(price) as sumPrice, volume from Flow#time_batch(1 sec) "
                     "group by symbol", "symbol", "sumPrice", "volume")
    assert got[1000][0] == [("DELL", 30.0, 200), ("IBM", 15.0, 500), ("DELL", 30.0, 250)]
    assert got[2000] == ([("IBM", 20.0, 600)], [("DELL", None, 200), ("IBM", 20.0, 500), ("DELL", None, 250)])


GW = "ViewGroup.{}"


@pytest.mark.esper("groupwin", cite=GW.format("ViewGroupObjectArrayEvent") + " (an ungrouped sum over every "
                   "group's length window)")
def test_groupwin_length_sum_over_all_groups() -> None:
    h = Harness("@Name('s0') select p1, sum(p2) as sp2 from Flow#groupwin(p1)#length(2)")
    for t, (a, b) in enumerate([("A", 10), ("B", 11), ("A", 12), ("A", 13)]):
        h.send(t, p1=a, p2=b)
    assert [(r.values["p1"], r.values["sp2"]) for r in h.of("s0")] == [("A", 10), ("B", 21), ("A", 33), ("A", 36)]


@pytest.mark.esper("unsupported-is-an-error", cite=GW.format("ViewGroupInvalid") + " (groupwin not first, without "
                   "a child view, or twice: refused)")
@pytest.mark.parametrize("text", ["select avg(price), symbol from Flow#length(100)#groupwin(symbol)",
                                  "select * from Flow#keepall#groupwin(theString)#length(2)",
                                  "select * from Flow#groupwin(a)#length(1)#groupwin(a)#length(2)",
                                  "select * from Flow#groupwin(a)"])
def test_groupwin_invalid_forms(text: str) -> None:
    with pytest.raises(EPLError) as info:
        compile_module(text)
    assert info.value.line == 1 and info.value.column


LW = "ViewLengthWin.{}"


@pytest.mark.esper("irstream-simple", cite=LW.format("ViewLengthWindowSceneOne"))
def test_length_window_scene_one() -> None:
    assert deliveries("@Name('s0') select irstream * from Flow#length(2)", names(4)) == {
        0: ["+E1"], 1: ["+E2"], 2: ["+E3", "-E1"], 3: ["+E4", "-E2"]}


@pytest.mark.esper("prev", cite=LW.format("ViewLengthWindowWPrevPrior") + " (its insert stream; prev functions with "
                   "a remove stream are refused)")
def test_length_window_prev_and_prior() -> None:
    h = Harness("@Name('s0') select symbol, prev(1, symbol) as prev1, prior(1, symbol) as prio1, "
                "prevtail(symbol) as prevtail0, prevcount(symbol) as prevCountSym, prevwindow(symbol) as prevWindowSym "
                "from Flow.win:length(2)")
    for t in range(1, 10):
        h.send(t, symbol=f"E{t}")
    fields = ("symbol", "prev1", "prio1", "prevtail0", "prevCountSym", "prevWindowSym")
    rows = [tuple(r.values[f] for f in fields) for r in h.of("s0")]
    assert rows[:2] == [("E1", None, None, "E1", 1, ["E1"]), ("E2", "E1", "E1", "E1", 2, ["E2", "E1"])]
    assert rows[2:] == [(f"E{i}", f"E{i - 1}", f"E{i - 1}", f"E{i - 1}", 2, [f"E{i}", f"E{i - 1}"]) for i in range(3, 10)]
