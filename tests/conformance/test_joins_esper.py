"""Inner joins against Esper's ``EPLJoin2StreamSimple`` and ``EPLJoinCoercion`` regression
tests: the rows each arriving event joins, and the remove stream when a window lets go."""

from __future__ import annotations

from typing import Any

import pytest

from flowcep_plugin.engine.harness import Harness


def per_event(epl: str, events: list[dict[str, Any]], *fields: str) -> list[list[tuple[Any, ...]]]:
    h = Harness(epl)
    out = []
    for t, e in enumerate(events):
        rows = [r for r in h.send(t, **e) if r.statement == "s0"]
        out.append([("-" if r.removed else "+", *(r.values[f] for f in fields)) for r in rows])
    return out


@pytest.mark.esper("irstream-simple-join", cite="EPLJoin2StreamSimple (a window letting go of a joined event "
                   "removes its joined rows)")
def test_two_stream_join_insert_and_remove() -> None:
    got = per_event("@Name('s0') select irstream s0.price as p0, s1.price as p1 from Flow(symbol='S0')#length(3) as s0, "
                    "Flow(symbol='S1')#length(3) as s1 where s0.volume = s1.volume",
                    [{"symbol": s, "price": p, "volume": v} for s, p, v in
                     [("S0", 100.0, 1), ("S1", 20.0, 1), ("S1", 21.0, 1), ("S1", 22.0, 2), ("S1", 23.0, 3)]],
                    "p0", "p1")
    assert got == [[], [("+", 100.0, 20.0)], [("+", 100.0, 21.0)], [], [("-", 100.0, 20.0)]]


RANGE = "EPLJoinCoercion.EPLJoinJoinCoercionRange"


@pytest.mark.esper("join-order", cite=RANGE + " (between with endpoints from the other stream)")
def test_join_on_a_range() -> None:
    got = per_event("@Name('s0') select sb.theString as sbs, sb.intPrimitive as sbi, sbr.id as sbri "
                    "from Flow(kind='sb')#length(10) sb, Flow(kind='r')#length(10) sbr "
                    "where sb.intPrimitive between sbr.rangeStartLong and sbr.rangeEndLong",
                    [{"kind": "r", "id": "R1", "key": "G", "rangeStartLong": 100, "rangeEndLong": 200},
                     {"kind": "sb", "theString": "E1", "intPrimitive": 10},
                     {"kind": "sb", "theString": "E2", "intPrimitive": 100},
                     {"kind": "r", "id": "R2", "key": "G", "rangeStartLong": 90, "rangeEndLong": 100},
                     {"kind": "r", "id": "R3", "key": "G", "rangeStartLong": 1, "rangeEndLong": 99},
                     {"kind": "r", "id": "R4", "key": "G", "rangeStartLong": 2000, "rangeEndLong": 3000},
                     {"kind": "sb", "theString": "E1", "intPrimitive": 1000}], "sbs", "sbi", "sbri")
    assert got == [[], [], [("+", "E2", 100, "R1")], [("+", "E2", 100, "R2")], [("+", "E1", 10, "R3")], [], []]


@pytest.mark.esper("join-order", cite=RANGE + " (a key and a range)")
def test_join_on_a_key_and_a_range() -> None:
    got = per_event("@Name('s0') select sb.theString as sbs, sb.intPrimitive as sbi, sbr.id as sbri "
                    "from Flow(kind='sb')#length(10) sb, Flow(kind='r')#length(10) sbr "
                    "where sbr.key = sb.theString and sb.intPrimitive between sbr.rangeStartLong and sbr.rangeEndLong",
                    [{"kind": "r", "id": "R1", "key": "G", "rangeStartLong": 100, "rangeEndLong": 200},
                     {"kind": "sb", "theString": "G", "intPrimitive": 10},
                     {"kind": "sb", "theString": "G", "intPrimitive": 101},
                     {"kind": "r", "id": "R2", "key": "G", "rangeStartLong": 90, "rangeEndLong": 102},
                     {"kind": "r", "id": "R3", "key": "G", "rangeStartLong": 1, "rangeEndLong": 99},
                     {"kind": "r", "id": "R4", "key": "G", "rangeStartLong": 2000, "rangeEndLong": 3000},
                     {"kind": "sb", "theString": "G", "intPrimitive": 1000}], "sbs", "sbi", "sbri")
    assert got == [[], [], [("+", "G", 101, "R1")], [("+", "G", 101, "R2")], [("+", "G", 10, "R3")], [], []]


@pytest.mark.esper("join-order", cite="EPLJoinCoercion.EPLJoinJoinCoercion (a long equals an int of the same value)")
def test_join_key_numbers_compare_by_value() -> None:
    got = per_event("@Name('s0') select s0.volume as volume from Flow(kind='md')#length(3) as s0, "
                    "Flow(kind='sb')#length(3) as s1 where s0.volume = s1.intPrimitive",
                    [{"kind": "sb", "intPrimitive": 100}, {"kind": "md", "volume": 100.0}], "volume")
    assert got == [[], [("+", 100.0)]]
