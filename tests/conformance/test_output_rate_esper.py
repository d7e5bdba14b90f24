"""Output rate limiting beside HAVING, ORDER BY and LIMIT, against Esper's
``ResultSetOutputLimitFirstHaving`` and ``ResultSetOutputLimitRowLimit`` regression tests."""

from __future__ import annotations

from typing import Any

import pytest

from flowcep_plugin.engine.compiler import compile_module
from flowcep_plugin.engine.harness import Harness
from flowcep_plugin.errors import EPLError

FH = "ResultSetOutputLimitFirstHaving.{}"
RL = "ResultSetOutputLimitRowLimit.{}"


def rows(epl: str, steps: list[tuple[int, dict[str, Any] | None]], *fields: str) -> list[tuple[Any, ...]]:
    h = Harness(epl)
    for t, props in steps:
        if props is None:
            h.watermark(t)
        else:
            h.send(t, **props)
    return [(r.time_ms, *(r.values[f] for f in fields)) for r in h.of("s0")]


FIRST_STEPS: list[tuple[int, dict[str, Any] | None]] = [
    (0, {"d": 10.0}), (0, {"d": 80.0}), (1000, {"d": 11.0}), (1000, {"d": 1.0}), (2999, {"d": 1.0}),
    (3000, {"d": 1.0}), (3000, {"d": 100.0}), (4999, {"d": 0.0}), (5000, {"d": 0.0})]


@pytest.mark.esper("output-rate-first", cite=FH.format("ResultSetHavingNoAvgOutputFirstMinutes") + " (the "
                   "intervals start at the first row HAVING lets through: 1 s, 3 s, 5 s)")
def test_output_first_with_having_starts_at_the_first_passing_row() -> None:
    got = rows("@Name('s0') select sum(d) as val0 from Flow#length(5) having sum(d) > 100 output first every 2 seconds",
               FIRST_STEPS, "val0")
    assert got == [(1000, 101.0), (3000, 114.0), (5000, 102.0)]


@pytest.mark.esper("output-rate-first", cite=FH.format("ResultSetHavingAvgOutputFirstEveryTwoMinutes"))
def test_output_first_with_having_over_an_average() -> None:
    got = rows("@Name('s0') select d, avg(d) as a from Flow having d > 2*avg(d) output first every 2 minutes",
               [(0, {"d": 1.0}), (1, {"d": 2.0}), (2, {"d": 9.0})], "d", "a")
    assert got == [(2, 9.0, 4.0)]


@pytest.mark.esper("output-rate-first", cite=FH.format("ResultSetHavingNoAvgOutputFirstMinutes") + " (the same "
                   "rule without aggregates: the interval opens at the first row HAVING passes)")
def test_output_first_with_having_without_aggregates() -> None:
    got = rows("@Name('s0') select d from Flow having d > 1 output first every 2 seconds",
               [(0, {"d": 1.0}), (1000, {"d": 2.0}), (2500, {"d": 3.0}), (3000, {"d": 4.0}), (3500, {"d": 5.0})], "d")
    assert got == [(1000, 2.0), (3000, 4.0)]


@pytest.mark.esper("unsupported-is-an-error", cite=FH.format("ResultSetHavingNoAvgOutputFirstEvents")
                   + " (output first every N events: refused at its line and column)")
def test_output_first_every_n_events_is_refused() -> None:
    with pytest.raises(EPLError) as info:
        compile_module("select d from Flow having d > 1 output first every 2 events")
    assert "output rate by events" in str(info.value) and info.value.line == 1 and info.value.column


SINGLE = [("A", ["F", "Q", "R", "T", "M", "T", "A", "I", "P", "B"]),
          ("B", ["P", "Q", "P", "T", "P", "T", "P", "P", "P", "B"]),
          ("C", ["C", "P", "Q", "P", "T", "P", "T", "P", "P", "P", "X"])]


@pytest.mark.esper("limit", cite=RL.format("ResultSetLimitOneWithOrderOptimization") + " (single key)")
def test_limit_one_sorted_per_length_batch() -> None:
    h = Harness("@Name('s0') select theString from Flow#length_batch(10) order by theString limit 1")
    t = 0
    got = []
    for _want, seq in SINGLE:
        for s in seq:
            h.send(t, theString=s)
            t += 1
        got.append(h.of("s0")[-1].values["theString"])
    assert got == [w for w, _s in SINGLE] and len(h.of("s0")) == 3


MULTI = [(("F", 10), [("F", 10), ("X", 8), ("F", 8), ("G", 10), ("X", 1)]),
         (("G", 12), [("X", 10), ("G", 12), ("H", 100), ("G", 10), ("X", 1)]),
         (("G", 11), [("G", 10), ("G", 8), ("G", 8), ("G", 10), ("G", 11)])]


@pytest.mark.esper("limit", cite=RL.format("ResultSetLimitOneWithOrderOptimization") + " (two keys, asc and desc)")
def test_limit_one_sorted_on_two_keys() -> None:
    h = Harness("@Name('s0') select theString, intPrimitive from Flow#length_batch(5) "
                "order by theString asc, intPrimitive desc limit 1")
    t = 0
    for _want, seq in MULTI:
        for s, i in seq:
            h.send(t, theString=s, intPrimitive=i)
            t += 1
    assert [(r.values["theString"], r.values["intPrimitive"]) for r in h.of("s0")] == [w for w, _s in MULTI]


FIVE = [("E1", 90), ("E2", 5), ("E3", 60), ("E4", 99), ("E5", 6)]


@pytest.mark.esper("limit", cite=RL.format("ResultSetOrderBy") + " (output every 5 events, limit 2 offset 2)")
def test_limit_with_offset_after_sorting_a_release() -> None:
    got = rows("@Name('s0') select * from Flow#length(5) output every 5 events order by intPrimitive limit 2 offset 2",
               [(t, {"theString": s, "intPrimitive": i}) for t, (s, i) in enumerate(FIVE)], "theString")
    assert got == [(4, "E3"), (4, "E1")]


@pytest.mark.esper("limit", cite=RL.format("ResultSetLengthOffsetVariable") + " (the variables' initial values "
                   "as constants: limit 1, 2 and limit 2 offset 1)")
@pytest.mark.parametrize("limit", ["limit 1, 2", "limit 2 offset 1"])
def test_limit_forms_over_output_every_5_events(limit: str) -> None:
    got = rows(f"@Name('s0') select * from Flow#length(5) output every 5 events {limit}",
               [(t, {"theString": f"E{t + 1}", "intPrimitive": t + 1}) for t in range(6)], "theString")
    assert got == [(4, "E2"), (4, "E3")]


@pytest.mark.esper("limit", cite=RL.format("ResultSetEventPerRowUnGrouped") + " (aggregates beside properties, "
                   "output every 10 seconds, order by desc, limit 2)")
def test_limit_per_event_rows_of_a_time_release() -> None:
    got = rows("@Name('s0') select theString, sum(intPrimitive) as mysum from Flow#length(5) "
               "output every 10 seconds order by theString desc limit 2",
               [(1000, {"theString": s, "intPrimitive": i}) for s, i in [("E1", 10), ("E2", 5), ("E3", 20), ("E4", 30)]]
               + [(11000, None)], "theString", "mysum")
    assert got == [(11000, "E4", 65), (11000, "E3", 35)]


GROUPED = [("E1", 10), ("E2", 5), ("E3", 20), ("E1", 30)]


@pytest.mark.esper("limit", cite=RL.format("ResultSetGroupedSnapshot"))
def test_limit_over_a_grouped_snapshot() -> None:
    got = rows("@Name('s0') select theString, sum(intPrimitive) as mysum from Flow#length(5) group by theString "
               "output snapshot every 10 seconds order by sum(intPrimitive) desc limit 2",
               [(1000, {"theString": s, "intPrimitive": i}) for s, i in GROUPED] + [(11000, None)],
               "theString", "mysum")
    assert got == [(11000, "E1", 40), (11000, "E3", 20)]


@pytest.mark.esper("limit", cite=RL.format("ResultSetGroupedSnapshotNegativeRowcount") + " (limit -1: no limit)")
def test_negative_limit_keeps_every_row_after_the_offset() -> None:
    got = rows("@Name('s0') select theString, sum(intPrimitive) as mysum from Flow#length(5) group by theString "
               "output snapshot every 10 seconds order by sum(intPrimitive) desc limit -1 offset 1",
               [(1000, {"theString": s, "intPrimitive": i}) for s, i in GROUPED] + [(11000, None)],
               "theString", "mysum")
    assert got == [(11000, "E3", 20), (11000, "E2", 5)]
