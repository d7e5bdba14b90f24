"""Patterns with their own event sequences and clock, each from one Esper regression test
(espertechinc/esper, regression-lib .../suite/pattern/<Class>.<method>). ``SupportBean``
events are flows with ``kind='SB'``, ``theString`` and ``intPrimitive``; other Esper event types
get their own ``kind``. Time starts at 0 as in the tests (``watermark(0)``)."""

from __future__ import annotations

from typing import Any

import pytest

from flowcep_plugin.engine.harness import Harness, values

SB = "Flow(kind='SB')"


def sb(h: Harness, t: int, s: str, i: int = 0) -> list[Any]:
    return h.send(t, kind="SB", theString=s, intPrimitive=i)


def start(text: str) -> Harness:
    h = Harness(text)
    h.watermark(0)
    return h


def esper(construct: str, cite: str) -> Any:
    return pytest.mark.esper(construct, cite=f"espertechinc/esper {cite}")


@esper("pattern-every", "PatternOperatorEvery.PatternEverySimple")
def test_every_simple() -> None:
    h = start("@Name('s0') select a.theString as c0 from pattern [every a=Flow(kind='SB')]")
    for i in range(1, 5):
        assert values(sb(h, i, f"E{i}"), "c0") == [(f"E{i}",)]


@esper("pattern-every", "PatternOperatorEvery.PatternEveryFollowedBy")
def test_every_followed_by_same_type_correlated() -> None:
    h = start("@Name('s0') select a.theString as c0, a.intPrimitive as c1, b.intPrimitive as c2 "
              "from pattern [every a=Flow(kind='SB') -> b=Flow(kind='SB' and theString=a.theString)]")
    assert sb(h, 1, "E1", 1) == []
    assert sb(h, 2, "E2", 10) == []
    assert values(sb(h, 3, "E1", 2), "c0", "c1", "c2") == [("E1", 1, 2)]


@esper("pattern-within", "PatternOperatorEvery.PatternEveryFollowedByWithin")
def test_every_followed_by_within_expires_per_instance() -> None:
    h = start("@Name('s0') select a.theString as c0, a.intPrimitive as c1, b.intPrimitive as c2 "
              "from pattern [every a=Flow(kind='SB') -> b=Flow(kind='SB' and theString=a.theString) "
              "where timer:within(10 sec)]")
    assert sb(h, 5000, "E1", 1) == []
    assert sb(h, 8000, "E2", 10) == []
    h.watermark(15000)  # expires E1's sub-expression
    assert sb(h, 15000, "E1", 2) == []
    assert values(sb(h, 15000, "E2", 11), "c0", "c1", "c2") == [("E2", 10, 11)]


@esper("pattern-every", "PatternOperatorEvery.PatternEveryWithAnd")
def test_every_of_and_restarts_after_each_pair() -> None:
    h = start("@Name('s0') select a.theString as c0, b.theString as c1 from pattern "
              "[every (a=Flow(kind='SB' and intPrimitive>0) and b=Flow(kind='SB' and intPrimitive<0))]")
    assert sb(h, 1, "E1", 1) == []
    assert sb(h, 2, "E2", 1) == []
    assert values(sb(h, 3, "E3", -1), "c0", "c1") == [("E1", "E3")]
    assert sb(h, 4, "E4", -2) == []
    assert values(sb(h, 5, "E5", 2), "c0", "c1") == [("E5", "E4")]


@esper("pattern-not", "PatternOperatorEvery.PatternEveryAndNot")
def test_every_interval_and_not_restarts_when_violated() -> None:
    h = start("@Name('s0') select 'No event within 6 seconds' as alert "
              f"from pattern [ every (timer:interval(6) and not {SB})]")
    h.watermark(2000)
    sb(h, 2000, "x")
    for t in (6000, 7000, 7999):
        assert h.watermark(t) == []
    out = h.watermark(8000)
    assert [(r.time_ms, r.values["alert"]) for r in out] == [(8000, "No event within 6 seconds")]
    sb(h, 12000, "x")
    sb(h, 13000, "x")
    assert h.watermark(18999) == []
    assert [r.time_ms for r in h.watermark(19000)] == [19000]


@esper("pattern-and", "PatternOperatorAnd.PatternOperatorAndSimple")
def test_and_once_in_any_order() -> None:
    h = start("@Name('s0') select a.theString as c0, b.theString as c1 from pattern "
              "[a=Flow(kind='SB' and intPrimitive=0) and b=Flow(kind='SB' and intPrimitive=1)]")
    assert sb(h, 1, "EB", 1) == []
    assert values(sb(h, 2, "EA", 0), "c0", "c1") == [("EA", "EB")]
    for t in range(3, 7):
        assert sb(h, t, "EB" if t % 2 else "EA", t % 2) == []


@esper("pattern-and", "PatternOperatorAnd.PatternOperatorAndNotDefaultTrue (ESPER-402)")
def test_and_of_two_nots_is_true_at_once() -> None:
    h = start("@Name('s0') select call.id as id from pattern [every call=Flow(kind='A') -> "
              "(not Flow(kind='B' and id=call.id) and not Flow(kind='C' and id=call.id))]")
    out = h.send(1, kind="A", id="A1")
    h.send(2, kind="B", id="B1")
    h.send(3, kind="C", id="C1")
    assert values(h.of("s0"), "id") == [("A1",)] and values(out, "id") == [("A1",)]


@esper("pattern-and", "PatternOperatorAnd.PatternOperatorAndWithEveryAndTerminationOptimization")
def test_and_keeps_pairing_the_quitted_side() -> None:
    h = start("@Name('s0') select a.id as a, b.id as b from pattern [a=Flow(kind='A') and every b=Flow(kind='B')]")
    h.send(1, kind="A", id="A1")
    for i in range(10):
        h.send(2 + i, kind="B", id=f"B{i}")
    assert values(h.send(20, kind="B", id="B_last"), "a", "b") == [("A1", "B_last")]


@esper("pattern-not", "PatternOperatorNot.PatternNotTimeInterval")
def test_not_cancels_its_own_instance_only() -> None:
    h = start("@Name('s0') select A.theString as theString from pattern "
              "[every A=Flow(kind='SB' and intPrimitive=123) -> (timer:interval(30 seconds) and "
              "not Flow(kind='MD' and volume=123 and symbol=A.theString))]")
    sb(h, 0, "E1", 123)
    sb(h, 10000, "E2", 123)
    h.send(20000, kind="MD", symbol="E1", volume=123)
    h.watermark(30000)
    assert sb(h, 30000, "E3", 123) == []
    assert values(h.watermark(40000), "theString") == [("E2",)]


@esper("pattern-not", "PatternOperatorNot.PatternNotWithEvery")
def test_every_and_not_stops_for_good() -> None:
    h = start("@Name('s0') select a.theString as c0 from pattern "
              "[(every a=Flow(kind='SB' and intPrimitive>=0)) and not Flow(kind='SB' and intPrimitive<0)]")
    for t, s in ((1, "E1"), (2, "E2"), (3, "E3")):
        assert values(sb(h, t, s, t), "c0") == [(s,)]
    assert sb(h, 4, "E4", -1) == []
    assert sb(h, 5, "E5", 3) == []
    assert sb(h, 6, "E6", -1) == []


@esper("pattern-not", "PatternOperatorNot.PatternNotFollowedBy")
def test_every_followed_by_and_not() -> None:
    h = start("@Name('s0') select * from pattern [ every( Flow(kind='SB' and intPrimitive>0) -> "
              "(Flow(kind='MD') and not Flow(kind='SB' and intPrimitive=0) ) ) ]")
    sb(h, 1, "E1", 1)
    sb(h, 2, "E2", 2)
    sb(h, 3, "E3", 0)
    sb(h, 4, "E4", 1)
    assert len(h.send(5, kind="MD", symbol="E5")) == 1


@esper("pattern-followed-by", "PatternOperatorFollowedBy.PatternFollowedByWithNot")
def test_followed_by_interval_and_not_or() -> None:
    h = start("@Name('s0') select a.id as id from pattern [ every a=Flow(kind='A') -> "
              "(timer:interval(10 seconds) and not (Flow(kind='B' and id=a.id) or Flow(kind='C' and id=a.id)))]")
    h.send(0, kind="A", id="A1")
    assert h.watermark(9999) == []
    assert values(h.watermark(10000), "id") == [("A1",)]
    h.send(20000, kind="A", id="A2")
    h.send(29999, kind="B", id="A2")
    assert h.watermark(30000) == []
    h.send(30000, kind="A", id="A3")
    h.send(30000, kind="C", id="A3")
    assert h.watermark(40000) == []
    h.send(40000, kind="A", id="A4")
    h.send(40000, kind="B", id="B4")
    h.send(40000, kind="C", id="A5")
    assert values(h.watermark(50000), "id") == [("A4",)]


@esper("pattern-followed-by", "PatternOperatorFollowedBy.PatternFollowedByTimer")
def test_every_followed_by_every_within_and_pattern_where() -> None:
    h = start("@Name('s0') select A.id as a, B.id as b from pattern "
              "[every A=Flow(kind='Call') -> every B=Flow(kind='Call' and dest=A.dest and "
              "startTime between A.startTime and A.endTime) where timer:within (7200000)] "
              "where B.source != A.source")
    h.send(1, kind="Call", id=1, source="18", dest="x", startTime=100, endTime=200)
    assert values(h.send(2, kind="Call", id=2, source="20", dest="x", startTime=150, endTime=300), "a", "b") == [(1, 2)]
    out = h.send(3, kind="Call", id=3, source="22", dest="x", startTime=190, endTime=400)
    assert values(out, "a", "b") == [(1, 3), (2, 3)]


@esper("pattern-followed-by", "PatternOperatorFollowedBy.PatternRFIDZoneExit")
def test_zone_exit_and_not_restarts_per_mac() -> None:
    h = start("@Name('s0') select b.zoneID as zone from pattern [every a=Flow(kind='LR' and zoneID='1') -> "
              "(b=Flow(kind='LR' and mac=a.mac and zoneID!='1') and not Flow(kind='LR' and mac=a.mac and zoneID='1'))]")
    assert h.send(1, kind="LR", mac="a", zoneID="1") == []
    assert values(h.send(2, kind="LR", mac="a", zoneID="2"), "zone") == [("2",)]
    assert h.send(3, kind="LR", mac="b", zoneID="1") == []
    assert h.send(4, kind="LR", mac="b", zoneID="1") == []
    assert values(h.send(5, kind="LR", mac="b", zoneID="2"), "zone") == [("2",)]


@esper("pattern-until", "PatternOperatorMatchUntil.PatternMatchUntilSimple")
def test_until_with_indexed_tags() -> None:
    h = start("@Name('s0') select a[0].theString as c0, a[1].theString as c1, b.theString as c2 from pattern "
              "[a=Flow(kind='SB' and intPrimitive=0) until b=Flow(kind='SB' and intPrimitive=1)]")
    assert sb(h, 1, "A1", 0) == []
    assert sb(h, 2, "A2", 0) == []
    assert values(sb(h, 3, "B1", 1), "c0", "c1", "c2") == [("A1", "A2", "B1")]
    assert sb(h, 4, "A1", 0) == [] and sb(h, 5, "B1", 1) == []


@esper("pattern-every-distinct", "PatternOperatorEveryDistinct.PatternEveryDistinctSimple")
def test_every_distinct_simple() -> None:
    h = start("@Name('s0') select a.theString as c0 from pattern [every-distinct(a.theString) a=Flow(kind='SB')]")
    got = [values(sb(h, t, s), "c0") for t, s in enumerate("E1 E1 E1 E2 E1 E2 E1 E2 E3".split(), 1)]
    assert got == [[("E1",)], [], [], [("E2",)], [], [], [], [], [("E3",)]]


@esper("pattern-every-distinct", "PatternOperatorEveryDistinct.PatternEveryDistinctWTime")
def test_every_distinct_key_expires_after_the_period() -> None:
    h = start("@Name('s0') select a.theString as c0 from pattern "
              "[every-distinct(a.theString, 5 sec) a=Flow(kind='SB')]")
    h.watermark(15000)
    assert values(sb(h, 15000, "E1"), "c0") == [("E1",)]
    assert sb(h, 15000, "E1") == []
    assert sb(h, 18000, "E1") == []
    assert values(sb(h, 18000, "E2"), "c0") == [("E2",)]
    assert sb(h, 19999, "E1") == []
    assert values(sb(h, 20000, "E1"), "c0") == [("E1",)]
    assert sb(h, 20000, "E2") == []
    assert sb(h, 20000, "E1") == [] and sb(h, 20000, "E2") == []
    assert values(sb(h, 20000, "E3"), "c0") == [("E3",)]


@esper("pattern-every-distinct", "PatternOperatorEveryDistinct.PatternExpireSeenBeforeKey")
def test_every_distinct_expiry_counts_from_the_accepted_match() -> None:
    h = start("@Name('s0') select a.theString as s from pattern "
              "[every-distinct(a.intPrimitive, 1 sec) a=Flow(kind='SB' and theString like 'A%')]")
    assert values(sb(h, 0, "A1", 1), "s") == [("A1",)]
    assert sb(h, 0, "A2", 1) == []
    assert values(sb(h, 0, "A3", 2), "s") == [("A3",)]
    assert sb(h, 0, "A4", 1) == [] and sb(h, 0, "A5", 2) == []
    assert values(sb(h, 1000, "A4", 1), "s") == [("A4",)]
    assert values(sb(h, 1000, "A5", 2), "s") == [("A5",)]
    sb(h, 1000, "A6", 1)
    assert sb(h, 1999, "A7", 2) == []
    assert values(sb(h, 2000, "A7", 2), "s") == [("A7",)]


@esper("pattern-every-distinct", "PatternOperatorEveryDistinct.PatternEveryDistinctOverFilter")
@pytest.mark.parametrize("expiry", ["", ", 2 minutes"])
def test_every_distinct_bare_property_reads_the_only_tag(expiry: str) -> None:
    h = start(f"@Name('s0') select a.theString as s from pattern [every-distinct(intPrimitive{expiry}) a=Flow(kind='SB')]")
    seq = [("E1", 1, True), ("E2", 1, False), ("E3", 2, True), ("E4", 3, True), ("E5", 2, False),
           ("E6", 3, False), ("E7", 1, False), ("E8", 0, True)]
    for t, (s, i, fires) in enumerate(seq, 1):
        assert values(sb(h, t, s, i), "s") == ([(s,)] if fires else [])


@esper("pattern-every-distinct", "PatternOperatorEveryDistinct.PatternRepeatOverDistinct")
def test_repeat_over_every_distinct() -> None:
    h = start("@Name('s0') select a[0].theString as a0, a[1].theString as a1 from pattern "
              "[[2] every-distinct(a.intPrimitive) a=Flow(kind='SB')]")
    sb(h, 1, "E1", 1)
    assert sb(h, 2, "E2", 1) == []
    assert values(sb(h, 3, "E3", 2), "a0", "a1") == [("E1", "E3")]
    assert sb(h, 4, "E4", 3) == [] and sb(h, 5, "E5", 2) == []


@esper("pattern-every-distinct", "PatternOperatorEveryDistinct.PatternEveryDistinctOverRepeat")
def test_every_distinct_over_repeat_keys_on_the_first_element() -> None:
    h = start("@Name('s0') select a[0].theString as a0, a[1].theString as a1 from pattern "
              "[every-distinct(a[0].intPrimitive) [2] a=Flow(kind='SB')]")
    sb(h, 1, "E1", 1)
    assert values(sb(h, 2, "E2", 1), "a0", "a1") == [("E1", "E2")]
    assert sb(h, 3, "E3", 1) == [] and sb(h, 4, "E4", 2) == []
    sb(h, 5, "E5", 2)
    assert values(sb(h, 6, "E6", 1), "a0", "a1") == [("E5", "E6")]


@esper("pattern-every-distinct", "PatternOperatorEveryDistinct.PatternTimerWithinOverDistinct")
def test_within_over_every_distinct() -> None:
    h = start("@Name('s0') select a.theString as s from pattern "
              "[(every-distinct(a.intPrimitive) a=Flow(kind='SB')) where timer:within(10 sec)]")
    assert values(sb(h, 0, "E1", 1), "s") == [("E1",)]
    assert sb(h, 0, "E2", 1) == []
    assert values(sb(h, 0, "E3", 2), "s") == [("E3",)]
    assert sb(h, 11000, "E4", 3) == [] and sb(h, 11000, "E5", 1) == []


@esper("pattern-or", "PatternOperatorOr.PatternOrSimple")
def test_or_once() -> None:
    h = start("@Name('s0') select a.theString as c0, b.theString as c1 from pattern "
              "[a=Flow(kind='SB' and intPrimitive=0) or b=Flow(kind='SB' and intPrimitive=1)]")
    assert values(sb(h, 1, "EB", 1), "c0", "c1") == [(None, "EB")]
    assert sb(h, 2, "EA", 0) == [] and sb(h, 3, "EB", 1) == []


@esper("pattern-or", "PatternOperatorOr.PatternOrAndNotAndZeroStart")
@pytest.mark.parametrize("pattern", [
    "(a=Flow(kind='A') -> b=Flow(kind='B')) or (a=Flow(kind='A') -> not b=Flow(kind='B'))",
    "a=Flow(kind='A') -> (b=Flow(kind='B') or not Flow(kind='B'))",
])
def test_or_with_not_is_true_at_once_then_again(pattern: str) -> None:
    h = start(f"@Name('s0') select a.id as a, b.id as b from pattern [{pattern}]")
    assert values(h.send(1, kind="A", id="A1"), "a", "b") == [("A1", None)]
    assert values(h.send(2, kind="B", id="B1"), "a", "b") == [("A1", "B1")]


@pytest.mark.esper("pattern-timer", cite="Esper reference, EPL Reference: Patterns, 'timer:interval' (every timer:interval(P) fires every P)")
def test_every_timer_interval_fires_each_period() -> None:
    h = start("@Name('s0') select 'x' as x from pattern [every timer:interval(10 sec)]")
    h.send(1, kind="SB")
    h.send(35_000, kind="SB")
    assert [r.time_ms for r in h.watermark(35_000)] == [10_000, 20_000, 30_000]
