"""SELECT DISTINCT within one output step, against Esper's ``EPLOtherDistinct`` regression test:
a batch release or an output-rate release keeps the first of equal rows; rows of different
steps are never compared."""

from __future__ import annotations

from typing import Any

import pytest

from flowcep_plugin.engine.harness import Harness

DI = "EPLOtherDistinct.{}"
BATCHES = [("E1", 1), ("E1", 1), ("E2", 2), ("E2", 2), ("E1", 1), ("E2", 2), ("E2", 3), ("E2", 3), ("E2", 3)]
BATCH_ROWS = [[("E1", 1), ("E2", 2)], [("E2", 2), ("E1", 1)], [("E2", 3)]]
SIMPLE = [("E1", 1), ("E1", 1), ("E2", 1), ("E1", 2), ("E2", 2), ("E2", 2), ("E1", 1)]


def steps(epl: str, events: list[tuple[str, int]], keys: tuple[str, ...] = ("E1", "E2"),
          statement: str = "s0") -> list[list[tuple[Any, ...]]]:
    """Send the key events (kind 'a') at 0 ms, then ``events`` (kind 'b') at 1, 2, ... ms;
    the rows of ``statement`` grouped by output time."""
    h = Harness(epl)
    for k in keys:
        h.send(0, kind="a", id=k)
    for t, (s, i) in enumerate(events, start=1):
        h.send(t, kind="b", theString=s, intPrimitive=i)
    out: dict[int, list[tuple[Any, ...]]] = {}
    for r in h.of(statement):
        out.setdefault(r.time_ms, []).append((r.values["theString"], r.values["intPrimitive"]))
    return list(out.values())


B = "Flow(kind='b')"
JOIN_B = ("select distinct a.theString as theString, a.intPrimitive as intPrimitive from "
          "Flow(kind='b'){win} as a, Flow(kind='a')#keepall as b where a.theString = b.id")


@pytest.mark.esper("distinct", cite=DI.format("EPLOtherBatchWindow"))
def test_distinct_per_length_batch() -> None:
    assert steps(f"@Name('s0') select distinct theString, intPrimitive from {B}#length_batch(3)", BATCHES) \
        == BATCH_ROWS


@pytest.mark.esper("distinct", cite=DI.format("EPLOtherBatchWindowJoin"))
def test_distinct_per_length_batch_in_a_join() -> None:
    assert steps("@Name('s0') " + JOIN_B.format(win="#length_batch(3)"), BATCHES) == BATCH_ROWS


@pytest.mark.esper("distinct", cite=DI.format("EPLOtherBatchWindowInsertInto") + " (only distinct rows are inserted)")
def test_distinct_rows_inserted_into_a_stream() -> None:
    got = steps(f"insert into MyStream select distinct theString, intPrimitive from {B}#length_batch(3); "
                "@Name('s0') select theString, intPrimitive from MyStream",
                [("E1", 1), ("E1", 1), ("E1", 1), ("E2", 2), ("E3", 3), ("E2", 2)])
    assert got == [[("E1", 1)], [("E2", 2), ("E3", 3)]]


@pytest.mark.esper("distinct", cite=DI.format("EPLOtherOutputLimitEveryColumn"))
def test_distinct_per_output_every_3_events() -> None:
    assert steps(f"@Name('s0') select distinct theString, intPrimitive from {B} output every 3 events", BATCHES) \
        == BATCH_ROWS


@pytest.mark.esper("distinct", cite=DI.format("EPLOtherOutputLimitEveryColumn") + " (join of #lastevent and #keepall)")
def test_distinct_per_output_every_3_events_in_a_join() -> None:
    assert steps("@Name('s0') " + JOIN_B.format(win="#lastevent") + " output every 3 events", BATCHES) == BATCH_ROWS


@pytest.mark.esper("distinct", cite=DI.format("EPLOtherOutputSimpleColumn") + " (each event is its own step)")
def test_distinct_never_compares_rows_of_different_events() -> None:
    got = steps(f"@Name('s0') select distinct theString, intPrimitive from {B}#keepall", SIMPLE)
    assert got == [[r] for r in SIMPLE]


@pytest.mark.esper("distinct", cite=DI.format("EPLOtherOutputSimpleColumn") + " (join)")
def test_distinct_never_compares_rows_of_different_events_in_a_join() -> None:
    got = steps("@Name('s0') " + JOIN_B.format(win="#keepall"), SIMPLE)
    assert got == [[r] for r in SIMPLE]


@pytest.mark.esper("subquery-in", cite=DI.format("EPLOtherSubquery") + " (distinct in a subquery)")
def test_distinct_in_an_in_subquery() -> None:
    h = Harness("@Name('s0') select theString, intPrimitive from Flow(kind='b') "
                "where theString in (select distinct id from Flow(kind='a')#keepall)")
    h.send(0, kind="a", id="E1")
    h.send(1, kind="b", theString="E1", intPrimitive=2)
    h.send(2, kind="a", id="E1")
    h.send(3, kind="b", theString="E1", intPrimitive=3)
    assert [(r.values["theString"], r.values["intPrimitive"]) for r in h.of("s0")] == [("E1", 2), ("E1", 3)]


@pytest.mark.esper("distinct", cite=DI.format("EPLOtherDistinctOutputLimitMultikeyWArrayTwoArray")
                   + " (output every 1 seconds, first of equal rows kept in arrival order)")
def test_distinct_per_time_release() -> None:
    h = Harness("@Name('s0') select distinct a, b from Flow output every 1 seconds")
    for t, (a, b) in enumerate([(1, 3), (3, 1), (1, 5), (3, 1), (1, 3)]):
        h.send(t, a=a, b=b)
    h.watermark(1000)
    assert [(r.time_ms, r.values["a"], r.values["b"]) for r in h.of("s0")] == [
        (1000, 1, 3), (1000, 3, 1), (1000, 1, 5)]


@pytest.mark.esper("unsupported-is-an-error", cite="EPL Reference, 'Subqueries' (a scalar subquery over several "
                   "rows is null; DISTINCT could make them one): refused at its line and column")
def test_distinct_in_a_scalar_subquery_is_refused() -> None:
    from flowcep_plugin.engine.compiler import compile_module
    from flowcep_plugin.errors import EPLError
    with pytest.raises(EPLError) as info:
        compile_module("select (select distinct id from Flow(kind='a')#keepall) as x from Flow")
    assert "distinct in a scalar subquery" in str(info.value) and info.value.line == 1 and info.value.column
