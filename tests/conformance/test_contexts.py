"""Contexts: keyed segmented and fixed-interval (start @now end after) context partitions.

Expected rows come from Esper's reference chapter "Context and Context Partitions" and the
assertions of its regression tests (espertechinc/esper, regression-lib ``suite/context``:
ContextKeySegmented). SupportBean / SupportBean_S0 events are flows with a ``kind``, routed
into streams of those names.
"""

from __future__ import annotations

from typing import Any

import pytest

from flowcep_plugin.engine.harness import Harness

KS = "ContextKeySegmented"
DOC_FIXED = ("Esper reference, 'Context and Context Partitions', 'Non-Overlapping Context' "
             "(start @now end after 15 minutes: a new partition every 15 minutes)")

STREAMS = """
    insert into SupportBean select theString, intPrimitive from Flow(kind = 'sb');
    insert into SupportBean_S0 select id, p00 from Flow(kind = 's0');
"""


def vals(rows: list[Any], *keys: str) -> list[tuple[Any, ...]]:
    return [tuple(r.values[k] for k in keys) for r in rows]


class Env:
    """Esper's test environment: one event per call, one millisecond apart."""

    def __init__(self, epl: str) -> None:
        self.h = Harness(STREAMS + epl)
        self.t = 0

    def sb(self, s: str, i: int) -> None:
        self.t += 1
        self.h.send(self.t, kind="sb", theString=s, intPrimitive=i)

    def s0(self, i: int, p00: str) -> None:
        self.t += 1
        self.h.send(self.t, kind="s0", id=i, p00=p00)


@pytest.mark.esper("ctx-keyed", cite=KS + ".ContextKeySegmentedMultiStatementFilterCount")
def test_each_partition_sums_its_own_events_over_two_streams() -> None:
    env = Env("""
        create context SegmentedByAString partition by theString from SupportBean, p00 from SupportBean_S0;
        @Name('s0') context SegmentedByAString select sum(id) as col1 from SupportBean_S0;
        @Name('s1') context SegmentedByAString select sum(intPrimitive) as col1 from SupportBean;
    """)
    env.s0(10, "S0")
    env.s0(8, "S1")
    env.s0(4, "S0")
    env.sb("S0", 5)
    env.sb("S2", 6)
    assert vals(env.h.of("s0"), "col1") == [(10,), (8,), (14,)]
    assert vals(env.h.of("s1"), "col1") == [(5,), (6,)]


@pytest.mark.esper("ctx-keyed", cite=KS + ".ContextKeySegmentedSubtype (count per partition)")
def test_count_restarts_in_each_partition() -> None:
    env = Env("""
        create context SegmentedByString partition by theString from SupportBean;
        @Name('s0') context SegmentedByString select count(*) as col1 from SupportBean;
    """)
    for s in ("AB1", "AB1", "AB2", "AB1"):
        env.sb(s, 0)
    assert vals(env.h.of("s0"), "col1") == [(1,), (2,), (1,), (3,)]


@pytest.mark.esper("ctx-keyed", cite=KS + ".ContextKeySegmentedJoinMultitypeMultifield")
def test_two_property_partitions_join_only_their_own_events() -> None:
    env = Env("""
        create context SegmentedBy2Fields partition by theString and intPrimitive from SupportBean,
            p00 and id from SupportBean_S0;
        @Name('s0') context SegmentedBy2Fields
            select theString as c1, intPrimitive as c2, id as c3, p00 as c4, context.key1 as c5, context.key2 as c6
            from SupportBean#lastevent, SupportBean_S0#lastevent;
    """)
    env.sb("G1", 1)
    env.s0(2, "G1")
    env.sb("G2", 2)
    env.s0(1, "G2")
    assert env.h.of("s0") == []
    env.sb("G2", 1)
    assert vals(env.h.of("s0"), "c1", "c2", "c3", "c4", "c5", "c6") == [("G2", 1, 1, "G2", "G2", 1)]


@pytest.mark.esper("ctx-keyed", cite=KS + ".ContextKeySegmentedSelector (context.key1, sum over #length(5))")
def test_context_key_and_a_data_window_per_partition() -> None:
    env = Env("""
        create context PartitionedByString partition by theString from SupportBean;
        @Name('s0') context PartitionedByString
            select context.key1 as c0, sum(intPrimitive) as c1 from SupportBean#length(5);
    """)
    env.sb("E1", 10)
    env.sb("E2", 20)
    env.sb("E2", 21)
    assert vals(env.h.of("s0"), "c0", "c1") == [("E1", 10), ("E2", 20), ("E2", 41)]


@pytest.mark.esper("ctx-keyed", cite="Esper reference, 'Context and Context Partitions', 'Built-In Context "
                   "Properties' (context.id: the partition's id, from 0 in order of creation)")
def test_context_id_numbers_partitions_in_creation_order() -> None:
    env = Env("""
        create context ByString partition by theString from SupportBean;
        @Name('s0') context ByString select context.name as n, context.id as id, count(*) as c from SupportBean;
    """)
    for s in ("A", "B", "A", "C"):
        env.sb(s, 0)
    assert vals(env.h.of("s0"), "n", "id", "c") == [("ByString", 0, 1), ("ByString", 1, 1), ("ByString", 0, 2),
                                                    ("ByString", 2, 1)]


@pytest.mark.esper("ctx-fixed", cite=DOC_FIXED)
def test_fixed_interval_partitions_restart_the_count() -> None:
    h = Harness("""
        create context Every5Sec start @now end after 5 sec;
        @Name('s0') context Every5Sec select context.startTime as st, count(*) as n from Flow;
    """)
    for t in (0, 1000, 4999, 5000, 7000, 16000):
        h.send(t)
    # partitions [0, 5000), [5000, 10000), [10000, 15000) (empty), [15000, 20000)
    assert [(r.time_ms, r.values["st"], r.values["n"]) for r in h.of("s0")] == [
        (0, 0, 1), (1000, 0, 2), (4999, 0, 3), (5000, 5000, 1), (7000, 5000, 2), (16000, 15000, 1)]


@pytest.mark.esper("ctx-fixed", cite=DOC_FIXED + "; a partition's windows end with it")
def test_fixed_interval_partition_drops_its_window_at_the_end() -> None:
    h = Harness("""
        create context Every10Sec start @now end after 10 sec;
        @Name('s0') context Every10Sec select count(*) as n from Flow#time(8 sec);
    """)
    h.send(0)
    h.send(6000)
    h.send(11000)
    h.flush()
    # 8000: the event of 0 leaves (n 1); at 10000 the partition ends without output; the event of
    # 11000 starts from nothing and leaves at 19000
    assert [(r.time_ms, r.values["n"]) for r in h.of("s0")] == [(0, 1), (6000, 2), (8000, 1), (11000, 1),
                                                                (19000, 0)]


IT = "ContextInitTerm"


@pytest.mark.esper("ctx-initterm", cite=IT + ".ContextInitTermFilterAndAfter1Min")
def test_each_initiating_event_starts_a_partition_that_lasts_a_minute() -> None:
    env = Env("""
        create context CtxInitiated initiated by SupportBean_S0 as sb0 terminated after 1 minute;
        @Name('S1') context CtxInitiated
            select theString as c1, sum(intPrimitive) as c2, context.sb0.p00 as c3 from SupportBean;
    """)
    env.sb("G1", 1)  # no partition yet
    env.s0(1, "SB01")
    env.sb("G2", 2)
    env.sb("G3", 3)
    env.s0(2, "SB02")
    env.sb("G4", 4)  # both partitions, in order of creation
    env.sb("G5", 5)
    env.h.send(60_002, kind="sb", theString="G6", intPrimitive=6)  # the minute after SB01 has passed
    env.h.watermark(60_005)
    env.h.send(60_006, kind="sb", theString="G7", intPrimitive=7)  # and after SB02
    assert vals(env.h.of("S1"), "c1", "c2", "c3") == [
        ("G2", 2, "SB01"), ("G3", 5, "SB01"), ("G4", 9, "SB01"), ("G4", 4, "SB02"),
        ("G5", 14, "SB01"), ("G5", 9, "SB02"), ("G6", 15, "SB02")]


@pytest.mark.esper("ctx-initterm", cite=IT + ".ContextInitTermFilterInitiatedStraightEquals (the initiating "
                   "event counts in its partition; context properties in the statement's filter)")
def test_the_initiating_event_is_processed_by_its_partition() -> None:
    h = Harness("""
        create context EverySupportBean as initiated by Flow(theString like 'I%') as sb terminated after 1 minutes;
        @Name('s0') context EverySupportBean
            select sum(longPrimitive) as c1 from Flow(intPrimitive = context.sb.intPrimitive);
    """)
    evs = [("E1", -1, -2), ("I1", 2, 4), ("E2", 2, 3), ("I2", 3, 14), ("E3", 2, 2), ("E4", 3, 15)]
    for t, (s, i, lp) in enumerate(evs):
        h.send(t, theString=s, intPrimitive=i, longPrimitive=lp)
    h.send(90_000, theString="E", intPrimitive=-1, longPrimitive=-2)
    assert vals(h.of("s0"), "c1") == [(4,), (7,), (14,), (9,), (29,)]


@pytest.mark.esper("ctx-keyed", cite="Esper reference, 'Keyed Segmented Context' (partition by p from S(filter): "
                   "only events passing the filter are assigned a partition)")
def test_a_filter_on_the_partitioned_stream_keeps_events_out_of_every_partition() -> None:
    env = Env("""
        create context ByString partition by theString from SupportBean(intPrimitive > 0);
        @Name('s0') context ByString select context.id as id, sum(intPrimitive) as s from SupportBean;
    """)
    for s, i in (("A", -1), ("B", 2), ("A", 3), ("B", -5), ("B", 4)):
        env.sb(s, i)
    # A's first event creates no partition: A is the second partition, with id 1
    assert vals(env.h.of("s0"), "id", "s") == [(0, 2), (1, 3), (0, 6)]
