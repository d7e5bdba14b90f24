"""``#sort`` and the keyed windows with ``select *``, against Esper's view regression tests."""

from __future__ import annotations

from typing import Any

import pytest

from flowcep_plugin.engine.harness import Harness

VS = "ViewSort"


def step(rows: list[Any], *fields: str) -> tuple[list[Any], list[Any]]:
    """(insert rows, remove rows) of one event, as Esper's listener's newData/oldData."""
    def vals(r: Any) -> Any:
        return tuple(r.values.get(f) for f in fields) if len(fields) > 1 else r.values.get(fields[0])
    return [vals(r) for r in rows if not r.removed], [vals(r) for r in rows if r.removed]


@pytest.mark.esper("sort", cite=f"{VS}.ViewSortSceneOne")
def test_sort_two_criteria_one_descending() -> None:
    h = Harness("@Name('s0') select irstream * from Flow#sort(3, intPrimitive desc, longPrimitive)")
    sent = [("E1", 100, 0), ("E2", 99, 5), ("E3", 100, -1), ("E4", 100, 1), ("E5", 101, 10), ("E6", 101, 11),
            ("E6", 100, 0)]
    got = [step(h.send(i, theString=s, intPrimitive=a, longPrimitive=b), "theString", "intPrimitive", "longPrimitive")
           for i, (s, a, b) in enumerate(sent)]
    assert got == [([("E1", 100, 0)], []), ([("E2", 99, 5)], []), ([("E3", 100, -1)], []),
                   ([("E4", 100, 1)], [("E2", 99, 5)]), ([("E5", 101, 10)], [("E4", 100, 1)]),
                   ([("E6", 101, 11)], [("E1", 100, 0)]), ([("E6", 100, 0)], [("E6", 100, 0)])]


@pytest.mark.esper("sort", cite=f"{VS}.ViewSortSceneTwo (among equal keys the newest sorts first)")
def test_sort_ties_keep_the_newest_first() -> None:
    h = Harness("@Name('s0') select irstream theString, intPrimitive from Flow#sort(3, theString)")
    sent = [("G", 1), ("E", 2), ("H", 3), ("I", 4), ("A", 5), ("C", 6), ("C", 7), ("C", 8)]
    got = [step(h.send(i, theString=s, intPrimitive=v), "theString", "intPrimitive") for i, (s, v) in enumerate(sent)]
    assert got == [([("G", 1)], []), ([("E", 2)], []), ([("H", 3)], []), ([("I", 4)], [("I", 4)]),
                   ([("A", 5)], [("H", 3)]), ([("C", 6)], [("G", 1)]), ([("C", 7)], [("E", 2)]),
                   ([("C", 8)], [("C", 6)])]


@pytest.mark.esper("sort", cite=f"{VS}.ViewSortedSingleKeyBuiltin")
def test_sort_single_key() -> None:
    h = Harness("@Name('s0') select irstream * from Flow#sort(3, symbol)")
    got = [step(h.send(i, symbol=s), "symbol") for i, s in enumerate(["B1", "D1", "C1", "A1", "F1", "B2"])]
    assert got == [(["B1"], []), (["D1"], []), (["C1"], []), (["A1"], ["D1"]), (["F1"], ["F1"]), (["B2"], ["C1"])]


@pytest.mark.esper("sort", cite=f"{VS}.ViewSortedPrimitiveKey")
def test_sort_of_one_by_price() -> None:
    h = Harness("@Name('s0') select irstream * from Flow#sort(1, price)")
    got = [step(h.send(i, price=p), "price") for i, p in enumerate([10.5, 10.0, 11.0])]
    assert got == [([10.5], []), ([10.0], [10.5]), ([11.0], [11.0])]


@pytest.mark.esper("sort", cite="Esper reference, 'Sorted Window (sort or ext:sort)': aggregates over the n "
                   "sorted events (the largest n bytes with desc)")
def test_sort_window_aggregates_the_top_n() -> None:
    h = Harness("@Name('s0') select sum(bytes) as s from Flow#sort(2, bytes desc)")
    for i, b in enumerate((5, 1, 9, 7, 2)):
        h.send(i, bytes=b)
    assert [r.values["s"] for r in h.rows] == [5, 6, 14, 16, 16]


@pytest.mark.esper("unique", cite="ViewUnique; Esper reference, 'Unique Window': select * posts the event that "
                   "replaces another as new and the replaced one as old")
def test_unique_with_select_star() -> None:
    h = Harness("@Name('s0') select irstream * from Flow#unique(k)")
    got = [step(h.send(i, k=k, v=v), "k", "v") for i, (k, v) in enumerate((("a", 1), ("b", 2), ("a", 3)))]
    assert got == [([("a", 1)], []), ([("b", 2)], []), ([("a", 3)], [("a", 1)])]


@pytest.mark.esper("ext_timed", cite="ViewExternallyTimedWin; Esper reference, 'Externally-timed Window': "
                   "with select *")
def test_ext_timed_with_select_star() -> None:
    h = Harness("@Name('s0') select irstream * from Flow#ext_timed(ts, 10 sec)")
    got = [step(h.send(i, ts=ts, id=i), "id") for i, ts in enumerate((1000, 5000, 11000, 16000))]
    assert got == [([0], []), ([1], []), ([2], [0]), ([3], [1])]


VI = "ViewIntersect"


def _send_all(h: Harness, events: list[tuple[str, int, int]]) -> list[tuple[list[Any], list[Any]]]:
    return [step(h.send(i, theString=s, intPrimitive=a, intBoxed=b), "theString") for i, (s, a, b) in enumerate(events)]


@pytest.mark.esper("intersection", cite=f"{VI}.ViewIntersectTwoUnique (the default retain-intersection)")
def test_two_unique_windows_intersect() -> None:
    h = Harness("@Name('s0') select irstream theString from Flow#unique(intPrimitive)#unique(intBoxed)")
    got = _send_all(h, [("E1", 1, 10), ("E2", 2, 10), ("E3", 1, 20), ("E4", 3, 20), ("E5", 2, 30), ("E6", 3, 10),
                        ("E7", 3, 30), ("E8", 4, 10), ("E9", 3, 50), ("E10", 2, 50)])
    got[6] = (got[6][0], sorted(got[6][1]))  # Esper: the two old events in any order
    assert got == [(["E1"], []), (["E2"], ["E1"]), (["E3"], []), (["E4"], ["E3"]), (["E5"], ["E2"]),
                   (["E6"], ["E4"]), (["E7"], ["E5", "E6"]), (["E8"], []), (["E9"], ["E7"]), (["E10"], ["E9"])]


@pytest.mark.esper("intersection", cite=f"{VI}.ViewIntersectSorted")
def test_two_sort_windows_intersect() -> None:
    h = Harness("@Name('s0') select irstream theString from Flow#sort(2, intPrimitive)#sort(2, intBoxed)")
    got = _send_all(h, [("E1", 1, 10), ("E2", 2, 9), ("E3", 0, 0), ("E4", -1, -1), ("E5", 1, 1), ("E6", 0, 0)])
    got[2] = (got[2][0], sorted(got[2][1]))
    assert got == [(["E1"], []), (["E2"], []), (["E3"], ["E1", "E2"]), (["E4"], []), (["E5"], ["E5"]),
                   (["E6"], ["E3"])]


@pytest.mark.esper("intersection", cite=f"{VI}.ViewIntersectLengthOneUnique")
def test_length_one_and_unique() -> None:
    h = Harness("@Name('s0') select irstream symbol, price from Flow#length(1)#unique(symbol)")
    assert step(h.send(0, symbol="S1", price=100.0), "symbol", "price") == ([("S1", 100.0)], [])
    assert step(h.send(1, symbol="S1", price=5.0), "symbol", "price") == ([("S1", 5.0)], [("S1", 100.0)])


@pytest.mark.esper("intersection", cite=f"{VI}.ViewIntersectTimeUniqueMultikey (and Esper reference, 'Multiple "
                   "Data Windows': an event leaves every window when one of them lets it go)")
def test_time_and_unique_multikey() -> None:
    h = Harness("@Name('s0') select irstream * from Flow#time(3.0)#unique(symbol, price)")
    f = ("symbol", "price", "volume")
    assert step(h.send(0, symbol="IBM", price=10.0, volume=1), *f) == ([("IBM", 10.0, 1)], [])
    assert step(h.send(0, symbol="IBM", price=11.0, volume=2), *f) == ([("IBM", 11.0, 2)], [])
    assert step(h.send(0, symbol="IBM", price=10.0, volume=3), *f) == ([("IBM", 10.0, 3)], [("IBM", 10.0, 1)])
    assert step(h.watermark(3000), *f) == ([], [("IBM", 11.0, 2), ("IBM", 10.0, 3)])


@pytest.mark.esper("intersection", cite=f"{VI}.ViewIntersectGroupTimeLength (per group there; here one length "
                   "window: the sum follows the events both windows hold)")
def test_time_and_length_aggregate() -> None:
    h = Harness("@Name('s0') select sum(intPrimitive) as c0 from Flow#time(1 sec)#length(2)")
    assert [h.send(t, intPrimitive=v)[0].values["c0"] for t, v in ((0, 10), (250, 100), (500, 11))] == [10, 110, 111]
    assert [(r.time_ms, r.values["c0"]) for r in h.watermark(2000)] == [(1250, 11), (1500, None)]
