"""Round 6 of the Esper conformance cases: ``output ... every N events`` with aggregates, and the
statements detectors write (fan-out with ``output last``, per-key windows, ``prev`` over time,
INSERT INTO chains within one time step, the remove stream of an aggregation, ranked groups,
address text, patterns with a deadline), each against the Esper regression test
(espertechinc/esper, regression-lib) or reference section it cites. Each case sends events
(an int moves the watermark; a list is one batch at one time) and compares the rows."""

from __future__ import annotations

from typing import Any

import pytest

from flowcep_plugin.engine.compiler import compile_module
from flowcep_plugin.errors import EPLError

from .esper import Ev, deliveries, one_ms_apart

RPG = "espertechinc/esper regression-lib suite/resultset/outputlimit/ResultSetOutputLimitRowPerGroup.{}"
RPE = "espertechinc/esper regression-lib suite/resultset/outputlimit/ResultSetOutputLimitRowPerEvent.{}"
REF = "Esper reference, {}"


def md(symbol: str, price: float) -> dict[str, Any]:
    return {"symbol": symbol, "price": price}


# -- output every N events with aggregates ---------------------------------------------------------

@pytest.mark.esper("output-rate-events", cite=RPG.format("ResultSetGroupByDefault (one row per event and "
                                                         "group, released on the 5th event)"))
def test_events_grouped_default() -> None:
    got = deliveries("@Name('s0') select symbol, sum(price) as s from Flow#length(5) group by symbol "
                     "output every 5 events",
                     one_ms_apart(md("IBM", 1), md("IBM", 2), md("HP", 1), md("IBM", 3), md("MAC", 1)), "symbol", "s")
    assert got == [(5, "+", "IBM", 1), (5, "+", "IBM", 3), (5, "+", "HP", 1), (5, "+", "IBM", 6), (5, "+", "MAC", 1)]


@pytest.mark.esper("output-rate-events", cite=RPG.format("ResultSetGroupByDefault (select irstream: each "
                                                         "group's previous values as the remove rows)"))
def test_events_grouped_default_irstream() -> None:
    got = deliveries("@Name('s0') select irstream symbol, sum(price) as s from Flow#length(5) group by symbol "
                     "output every 5 events",
                     one_ms_apart(md("IBM", 1), md("IBM", 2), md("HP", 1), md("IBM", 3), md("MAC", 1)), "symbol", "s")
    assert [r[2:] for r in got if r[1] == "+"] == [("IBM", 1), ("IBM", 3), ("HP", 1), ("IBM", 6), ("MAC", 1)]
    assert [r[2:] for r in got if r[1] == "-"] == [("IBM", None), ("IBM", 1), ("HP", None), ("IBM", 3), ("MAC", None)]


@pytest.mark.esper("output-rate-events", cite=RPG.format("ResultSetGroupByAll (output all: every group's "
                                                         "current row)"))
def test_events_grouped_all() -> None:
    got = deliveries("@Name('s0') select symbol, sum(price) as s from Flow#length(5) group by symbol "
                     "output all every 5 events",
                     one_ms_apart(md("IBM", 1), md("IBM", 2), md("HP", 1), md("IBM", 3), md("MAC", 1)), "symbol", "s")
    assert sorted(got) == sorted([(5, "+", "IBM", 6), (5, "+", "HP", 1), (5, "+", "MAC", 1)])


GROUPED = ("@Name('s0') select symbol, sum(price) as mySum, avg(price) as myAvg from Flow#length({n}) "
           "where symbol='DELL' or symbol='IBM' or symbol='GE' group by symbol output {kind} every 2 events")


@pytest.mark.esper("output-rate-events", cite=RPG.format("ResultSetNoJoinLast (tryAssertionLast)"))
def test_events_grouped_last() -> None:
    got = deliveries(GROUPED.format(n=3, kind="last"),
                     one_ms_apart(md("DELL", 10), md("DELL", 20), md("DELL", 100), md("DELL", 50)),
                     "symbol", "mySum", "myAvg")
    assert got == [(2, "+", "DELL", 30, 15), (4, "+", "DELL", 170, pytest.approx(170 / 3))]


@pytest.mark.esper("output-rate-events", cite=RPG.format("ResultSetNoJoinAll (tryAssertionAll: a group "
                                                         "without events in the interval is output again)"))
def test_events_grouped_all_repeats_quiet_groups() -> None:
    got = deliveries(GROUPED.format(n=5, kind="all"),
                     one_ms_apart(md("IBM", 70), md("DELL", 10), md("DELL", 20), md("DELL", 100)),
                     "symbol", "mySum", "myAvg")
    assert got == [(2, "+", "IBM", 70, 70), (2, "+", "DELL", 10, 10),
                   (4, "+", "IBM", 70, 70), (4, "+", "DELL", 130, pytest.approx(130 / 3))]


@pytest.mark.parametrize("having", ["having sum(longBoxed) > 0 ", ""])
@pytest.mark.esper("output-rate-events", cite=RPE.format("RowPerEventNoJoinLast (tryAssertLastSum)"))
def test_events_row_per_event_last(having: str) -> None:
    got = deliveries(f"@Name('s0') select longBoxed, sum(longBoxed) as result from Flow#length(3) {having}"
                     "output last every 2 events", one_ms_apart({"longBoxed": 1}, {"longBoxed": 2}),
                     "longBoxed", "result")
    assert got == [(2, "+", 2, 3)]


@pytest.mark.parametrize("kind", ["all", ""])
@pytest.mark.esper("output-rate-events", cite=RPE.format("RowPerEventJoinAll (tryAssertAllSum; the joined "
                                                         "stream holds one event, so the rows are the single "
                                                         "stream's)"))
def test_events_row_per_event_all(kind: str) -> None:
    got = deliveries(f"@Name('s0') select longBoxed, sum(longBoxed) as result from Flow#length(3) "
                     f"having sum(longBoxed) > 0 output {kind} every 2 events",
                     one_ms_apart({"longBoxed": 1}, {"longBoxed": 2}), "longBoxed", "result")
    assert got == [(2, "+", 1, 1), (2, "+", 2, 3)]


JOIN = "from Flow(kind='str')#length(3) as one, Flow(kind='bean')#length(3) as two "
JOIN_EVENTS = one_ms_apart({"kind": "str", "s": "KEY"}, {"kind": "bean", "longBoxed": 1}, {"kind": "bean", "longBoxed": 2})


@pytest.mark.parametrize("tail, expected", [
    ("having sum(two.longBoxed) > 0 output all every 2 events", [(3, "+", 1, 1), (3, "+", 2, 3)]),
    ("output every 2 events", [(3, "+", 1, 1), (3, "+", 2, 3)]),
    ("having sum(two.longBoxed) > 0 output last every 2 events", [(3, "+", 2, 3)]),
    ("output last every 2 events", [(3, "+", 2, 3)]),
])
@pytest.mark.esper("output-rate-events", cite=RPE.format("RowPerEventJoinAll / RowPerEventJoinLast (a join counts "
                                                         "joined rows: the lone 'one' event joins nothing)"))
def test_events_row_per_event_join(tail: str, expected: list[tuple[Any, ...]]) -> None:
    got = deliveries("@Name('s0') select two.longBoxed as lb, sum(two.longBoxed) as result " + JOIN + tail,
                     JOIN_EVENTS, "lb", "result")
    assert got == expected


@pytest.mark.esper("output-rate-events", cite=RPG.format("ResultSetJoinLast (tryAssertionLast over a join)"))
def test_events_grouped_join_last() -> None:
    epl = ("@Name('s0') select two.symbol as symbol, sum(two.price) as mySum, avg(two.price) as myAvg "
           "from Flow(kind='str')#length(100) as one, Flow(kind='md')#length(3) as two "
           "where (two.symbol='DELL' or two.symbol='IBM' or two.symbol='GE') and one.s = two.symbol "
           "group by two.symbol output last every 2 events")
    evs = one_ms_apart({"kind": "str", "s": "DELL"}, {"kind": "str", "s": "IBM"}, {"kind": "str", "s": "AAA"},
                       *({"kind": "md", "symbol": "DELL", "price": p} for p in (10.0, 20.0, 100.0, 50.0)))
    assert deliveries(epl, evs, "symbol", "mySum", "myAvg") == [
        (5, "+", "DELL", 30, 15), (7, "+", "DELL", 170, pytest.approx(170 / 3))]


@pytest.mark.esper("output-rate-events", cite=RPE.format("Count (output first every 3 events: the first row "
                                                         "of each 3 events, the aggregate over all of them)"))
def test_events_row_per_event_first() -> None:
    got = deliveries("@Name('s0') select symbol, sum(volume) as s from Flow#length(5) output first every 3 events",
                     one_ms_apart(*({"symbol": "DELL", "volume": v} for v in (10, 20, 30, 40, 50))), "s")
    assert got == [(1, "+", 10), (4, "+", 100)]


@pytest.mark.esper("output-rate-events", cite="Esper 7 regression ExecAggregateFirstLastWindow.runAssertionOutputRateLimiting (NEsper "
                   "port; ungrouped: one row per event, two per release; without its window() column)")
def test_events_row_for_all_default() -> None:
    got = deliveries("@Name('s0') select sum(intPrimitive) as si from Flow#keepall output every 2 events",
                     one_ms_apart(*({"intPrimitive": v} for v in (1, 2, 3, 4))), "si")
    assert got == [(2, "+", 1), (2, "+", 3), (4, "+", 6), (4, "+", 10)]


@pytest.mark.parametrize("epl, needle", [
    ("select symbol, count(*) from Flow#length(5) group by symbol output first every 2 events", "first"),
    ("select count(*) from Flow#length(5) having count(*) > 1 output first every 2 events", "first"),
    ("select count(*) from Flow#length(5) output snapshot every 2 events", "snapshot"),
    ("select symbol from Flow#length(5) output first every 2 events", "first"),
])
@pytest.mark.esper("unsupported-is-an-error", cite="Esper's ResultSetProcessorRowPerGroup output first keeps one "
                   "OutputConditionPolled per group, so counted intervals are per group: those forms, first with "
                   "HAVING or without aggregates, and snapshot by events are not checked and are refused by name")
def test_events_forms_not_checked_are_refused(epl: str, needle: str) -> None:
    with pytest.raises(EPLError) as info:
        compile_module(epl)
    assert "unsupported construct: output rate by events" in str(info.value) and needle in str(info.value)


# -- statements detectors write ---------------------------------------------------------------------

@pytest.mark.esper("detector-shapes", cite=RPG.format("ResultSet13LastNoHavingNoJoin / ResultSet15LastHavingNoJoin "
                   "(output last over groups: the last row of each group updated in the interval, HAVING applied; "
                   "a quiet interval outputs nothing)"))
def test_fanout_count_distinct_output_last() -> None:
    evs: list[Ev] = [(1000, {"a": "h1", "b": "x"}), (20000, {"a": "h1", "b": "y"}), (30000, {"a": "h2", "b": "x"}),
                     (50000, {"a": "h1", "b": "y"}), (70000, {"a": "h1", "b": "z"}), (75000, {"a": "h2", "b": "q"}),
                     250000]
    got = deliveries("@Name('s0') select a, count(distinct b) as n from Flow#time(5 min) group by a "
                     "having count(distinct b) >= 2 output last every 1 min", evs, "a", "n")
    assert got == [(61000, "+", "h1", 2), (121000, "+", "h1", 3), (121000, "+", "h2", 2)]


@pytest.mark.esper("detector-shapes", cite=REF.format("Grouped data window #groupwin: #groupwin(k)#length(n) keeps "
                   "n events per key; an aggregate over the statement sees the union of them"))
def test_groupwin_length_with_aggregates() -> None:
    evs: list[Ev] = [(1, {"a": "a1", "v": 1}), (2, {"a": "a1", "v": 2}), (3, {"a": "a2", "v": 10}),
                     (4, {"a": "a1", "v": 3})]
    assert deliveries("@Name('s0') select a, sum(v) as s from Flow#groupwin(a)#length(2) group by a", evs, "a", "s") \
        == [(1, "+", "a1", 1), (2, "+", "a1", 3), (3, "+", "a2", 10), (4, "+", "a1", 5)]
    assert deliveries("@Name('s0') select count(*) as c, sum(v) as s from Flow#groupwin(a)#length(2)", evs, "c", "s") \
        == [(1, "+", 1, 1), (2, "+", 2, 3), (3, "+", 3, 13), (4, "+", 3, 15)]


@pytest.mark.esper("detector-shapes", cite="espertechinc/esper regression-lib suite/expr/exprcore/ExprCorePrevious "
                   "(prev/prevtail/prevcount over #time: the window's contents after expiry) and ExprCorePrior "
                   "(the stream's n-th previous event, whatever the window)")
def test_prev_and_prior_over_time_window() -> None:
    got = deliveries("@Name('s0') select v, prev(1, v) as p, prevtail(v) as t, prevcount(v) as n, prior(1, v) as q "
                     "from Flow#time(10 sec)", [(1000, {"v": 1}), (5000, {"v": 2}), (12000, {"v": 3})],
                     "v", "p", "t", "n", "q")
    assert got == [(1000, "+", 1, None, 1, 1, None), (5000, "+", 2, 1, 1, 2, 1), (12000, "+", 3, 2, 2, 2, 2)]


@pytest.mark.parametrize("same_batch", [True, False])
@pytest.mark.esper("detector-shapes", cite=REF.format("Runtime considerations, insert-into dispatch: the events "
                   "an input event's INSERT INTO produces are processed before the next input event"))
def test_insert_into_events_before_the_next_input(same_batch: bool) -> None:
    epl = ("insert into D select v from Flow; "
           "@Name('s0') select a.v as x, b.v as y from pattern [every a=Flow -> b=D]")
    evs: list[Ev] = [[(1000, {"v": 1}), (1000, {"v": 2})]] if same_batch else [(1000, {"v": 1}), (1000, {"v": 2})]
    # processed one after the other, each Flow event's D follows it: (1, 1), (2, 2); a batch fed
    # whole would give (1, 1), (2, 1) with the second D unmatched
    assert deliveries(epl, evs, "x", "y") == [(1000, "+", 1, 1), (1000, "+", 2, 2)]


FIRST_GROUPED = "@Name('s0') select g, count(*) as c from Flow#time({win}) group by g {having}output first every 1 min"
OFH = ("Esper's ResultSetProcessorRowPerGroup output first: one OutputConditionPolledTime per group "
       "(ResultSetProcessorGroupedOutputFirstHelper), removed with the group (removedAggregationGroupKey, "
       "which AggSvcGroupByRefcounted calls lazily on the next applyEnter; without HAVING the condition is "
       "updated before applyEnter, with HAVING after all the update's applies); ")


@pytest.mark.parametrize("win, having, evs, expected", [
    # each group keeps its own clock: g2's 70 s is 20 s after its own first row, so it waits
    ("5 min", "", [(0, {"g": "g1"}), (50000, {"g": "g2"}), (70000, {"g": "g2"}), (80000, {"g": "g1"}),
                   (111000, {"g": "g2"})],
     [(0, "+", "g1", 1), (50000, "+", "g2", 1), (80000, "+", "g1", 2), (111000, "+", "g2", 3)]),
    # a group whose events all left (at 30 s) forgets its time when the next event enters, after
    # that event's own check: 40 s is still within 1 min of 0 s, 50 s finds no time and goes out;
    # emptied again at 80 s, 100 s is checked against 50 s
    ("30 sec", "", [(0, {"g": "g1"}), (40000, {"g": "g1"}), (50000, {"g": "g1"}), (100000, {"g": "g1"})],
     [(0, "+", "g1", 1), (50000, "+", "g1", 2)]),
    # with HAVING the entering events are applied before any check: 40 s already finds no time
    ("30 sec", "having count(*) > 0 ", [(0, {"g": "g1"}), (40000, {"g": "g1"}), (50000, {"g": "g1"})],
     [(0, "+", "g1", 1), (40000, "+", "g1", 1)]),
    ("30 sec", "", [(0, {"g": "g1"}), (10000, {"g": "g1"}), (35000, {"g": "g1"})], [(0, "+", "g1", 1)]),
    # HAVING first: a row it rejects does not start the group's clock
    ("5 min", "having count(*) > 1 ", [(0, {"g": "g1"}), (50000, {"g": "g1"}), (70000, {"g": "g1"}),
                                      (110000, {"g": "g1"}), (115000, {"g": "g1"})],
     [(50000, "+", "g1", 2), (110000, "+", "g1", 4)]),
])
@pytest.mark.esper("output-rate-first", cite=OFH + "the ResultSet17FirstNoHavingNoJoin data cannot tell it "
                   "from intervals shared by all groups, these cases do")
def test_output_first_over_groups_keeps_a_clock_per_group(win: str, having: str, evs: list[Ev],
                                                          expected: list[tuple[Any, ...]]) -> None:
    assert deliveries(FIRST_GROUPED.format(win=win, having=having), evs, "g", "c") == expected


@pytest.mark.esper("detector-shapes", cite=REF.format("Runtime considerations, insert-into dispatch") + " with a "
                   "join of the input and the derived stream (each Flow event's D arrives before the next Flow)")
def test_join_of_input_and_derived_stream_in_one_batch() -> None:
    epl = ("insert into D select v from Flow; "
           "@Name('s0') select f.v as fv, d.v as dv from Flow#lastevent as f, D#lastevent as d")
    got = deliveries(epl, [[(1000, {"v": 1}), (1000, {"v": 2})]], "fv", "dv")
    # fed whole, Flow 2 would replace Flow 1 before D 1 arrived: (2, 1), (2, 2) only
    assert got == [(1000, "+", 1, 1), (1000, "+", 2, 1), (1000, "+", 2, 2)]


@pytest.mark.esper("detector-shapes", cite=REF.format("count(distinct) over a sliding window: a value counts while "
                   "any event with it is in the window; each departure outputs its group with the new count, 0 "
                   "included (Esper's fully aggregated grouped rows)"))
def test_count_distinct_over_time_window_departures() -> None:
    evs: list[Ev] = [(1000, {"a": "h", "b": "x"}), (2000, {"a": "h", "b": "x"}), (3000, {"a": "h", "b": "y"}), 13500]
    got = deliveries("@Name('s0') select a, count(distinct b) as n from Flow#time(10 sec) group by a", evs, "a", "n")
    assert got == [(1000, "+", "h", 1), (2000, "+", "h", 1), (3000, "+", "h", 2), (11000, "+", "h", 2),
                   (12000, "+", "h", 1), (13000, "+", "h", 0)]


@pytest.mark.esper("detector-shapes", cite=REF.format("prev with a grouped data window (#groupwin): the previous "
                   "event and the count of the arriving event's own group"))
def test_prev_over_groupwin_is_per_group() -> None:
    evs: list[Ev] = [(1, {"a": "k1", "v": 1}), (2, {"a": "k2", "v": 10}), (3, {"a": "k1", "v": 2}),
                     (4, {"a": "k1", "v": 3}), (5, {"a": "k2", "v": 20})]
    got = deliveries("@Name('s0') select a, v, prev(1, v) as p, prevcount(v) as c from Flow#groupwin(a)#length(2)",
                     evs, "a", "v", "p", "c")
    assert got == [(1, "+", "k1", 1, None, 1), (2, "+", "k2", 10, None, 1), (3, "+", "k1", 2, 1, 2),
                   (4, "+", "k1", 3, 2, 2), (5, "+", "k2", 20, 10, 2)]


HANDSHAKE: list[Ev] = [(1000, {"kind": "syn", "src": "h1"}), (7000, {"kind": "ack", "dst": "h1"}),
                       (8000, {"kind": "syn", "src": "h2"}), (9000, {"kind": "ack", "dst": "h2"})]


@pytest.mark.parametrize("pattern, expected", [
    ("every a=Flow(kind='syn') -> b=Flow(kind='ack' and dst=a.src) where timer:within(5 sec)", [(9000, "+", "h2")]),
    ("every a=Flow(kind='syn') -> (b=Flow(kind='ack' and dst=a.src) where timer:within(5 sec))", [(9000, "+", "h2")]),
    ("(every a=Flow(kind='syn') -> b=Flow(kind='ack' and dst=a.src)) where timer:within(5 sec)", []),
])
@pytest.mark.esper("detector-shapes", cite=REF.format("Patterns, operator precedence: a guard binds tighter than "
                   "followed-by, so an unparenthesized within guards b alone; around the whole expression it ends "
                   "it 5 sec after the start"))
def test_within_guard_precedence(pattern: str, expected: list[tuple[Any, ...]]) -> None:
    assert deliveries(f"@Name('s0') select a.src as s from pattern [{pattern}]", HANDSHAKE, "s") == expected


@pytest.mark.esper("detector-shapes", cite=REF.format("select istream/rstream with aggregation (and Esper's "
                   "ResultSetProcessorRowForAll/RowPerGroup: the remove rows carry each group's values before "
                   "the update, one per group touched)"))
def test_rstream_of_aggregations() -> None:
    evs: list[Ev] = [(1, {"a": "x"}), (2, {"a": "y"}), (3, {"a": "x"}), (4, {"a": "z"})]
    assert deliveries("@Name('s0') select rstream count(*) as c from Flow#length(2)", evs[:3], "c") \
        == [(1, "-", 0), (2, "-", 1), (3, "-", 2)]
    got = deliveries("@Name('s0') select rstream a, count(*) as c from Flow#length(2) group by a", evs, "a", "c")
    assert got[:3] == [(1, "-", "x", 0), (2, "-", "y", 0), (3, "-", "x", 1)]
    assert sorted(got[3:]) == [(4, "-", "y", 1), (4, "-", "z", 0)]
    assert deliveries("@Name('s0') select istream a, count(*) as c from Flow#length(2) group by a", evs[:3], "a", "c") \
        == [(1, "+", "x", 1), (2, "+", "y", 1), (3, "+", "x", 1)]


@pytest.mark.esper("detector-shapes", cite=REF.format("ORDER BY an aggregate and LIMIT: the rows of one output "
                   "(a batch release) are sorted, then cut"))
def test_order_by_aggregate_with_limit() -> None:
    evs: list[Ev] = [(1000 + i, {"a": a}) for i, a in enumerate("abcaca")] + [15000]
    got = deliveries("@Name('s0') select a, count(*) as c from Flow#time_batch(10 sec) group by a "
                     "order by count(*) desc limit 2", evs, "a", "c")
    assert got == [(11000, "+", "a", 3), (11000, "+", "c", 2)]


@pytest.mark.esper("detector-shapes", cite="espertechinc/esper regression-lib suite/expr/exprcore/"
                   "ExprCoreInBetween ExprCoreBetweenStringExpr / ExprCoreInStringExpr (text compares by "
                   "String.compareTo; reversed endpoints are swapped; a null in the list makes no-match null)")
def test_addresses_as_text_in_and_between() -> None:
    addrs = ["10.0.0.10", "10.0.0.100", "9.0.0.1", "10.0.0.9", "10.0.0.1", None]
    evs: list[Ev] = [(i + 1, {"src": s}) for i, s in enumerate(addrs)]
    between = deliveries("@Name('s0') select src from Flow where src between '10.0.0.9' and '10.0.0.1'", evs, "src")
    assert [r[2] for r in between] == ["10.0.0.10", "10.0.0.100", "10.0.0.9", "10.0.0.1"]
    inlist = deliveries("@Name('s0') select src from Flow where src in ('10.0.0.1', '10.0.0.9')", evs, "src")
    assert [r[2] for r in inlist] == ["10.0.0.9", "10.0.0.1"]
    notin = deliveries("@Name('s0') select src from Flow where src not in ('10.0.0.1', '10.0.0.9')", evs, "src")
    assert [r[2] for r in notin] == ["10.0.0.10", "10.0.0.100", "9.0.0.1"]
    with_null = deliveries("@Name('s0') select src from Flow where src not in ('10.0.0.1', null)", evs, "src")
    assert with_null == []


@pytest.mark.esper("detector-shapes", cite="espertechinc/esper regression-lib suite/expr/exprcore/ExprCoreLikeRegexp "
                   "(like: % and _ over the whole text; regexp: the whole text must match; null gives null)")
def test_like_and_regexp_on_names() -> None:
    names = ["a.example.com", "A.EXAMPLE.COM", "0123456789abcdef0123456789abcdef.evil.net", "x.example.co", None]
    evs: list[Ev] = [(i + 1, {"q": s}) for i, s in enumerate(names)]
    like = deliveries("@Name('s0') select q from Flow where q like '%.example.___'", evs, "q")
    assert [r[2] for r in like] == ["a.example.com"]
    rx = deliveries("@Name('s0') select q from Flow where q regexp '[0-9a-f]{32}[.].*'", evs, "q")
    assert [r[2] for r in rx] == ["0123456789abcdef0123456789abcdef.evil.net"]
    part = deliveries("@Name('s0') select q from Flow where q regexp 'example'", evs, "q")
    assert part == []  # Matcher.matches(): a part of the text is not a match


@pytest.mark.esper("detector-shapes", cite="espertechinc/esper regression-lib suite/expr/exprcore/ExprCoreCase "
                   "ExprCoreCaseSyntax1WithNull / ExprCoreCaseSyntax2NoElseWithNull (a null condition is not "
                   "true; case x when null matches a null x; no else gives null)")
def test_case_with_nulls() -> None:
    evs: list[Ev] = [(1, {"v": 5}), (2, {"v": None}), (3, {"v": -1})]
    got = deliveries("@Name('s0') select case when v > 0 then 'pos' when v <= 0 then 'nonpos' end as a, "
                     "case v when null then 'none' when 5 then 'five' else 'other' end as b, "
                     "case when v > 0 then 'pos' else 'else' end as c from Flow", evs, "a", "b", "c")
    assert got == [(1, "+", "pos", "five", "pos"), (2, "+", None, "none", "else"), (3, "+", "nonpos", "other", "else")]


@pytest.mark.esper("detector-shapes", cite=REF.format("Patterns, timer:within guard: every a -> (b where "
                   "timer:within(P)): each a waits P for its own b; a b after P matches nothing"))
def test_handshake_within_deadline() -> None:
    evs: list[Ev] = [(1000, {"kind": "syn", "src": "h1", "dst": "x"}), (2000, {"kind": "syn", "src": "h2", "dst": "x"}),
                     (3000, {"kind": "ack", "src": "x", "dst": "h1"}), (7000, {"kind": "ack", "src": "x", "dst": "h2"}),
                     (8000, {"kind": "ack", "src": "x", "dst": "h2"})]
    got = deliveries("@Name('s0') select a.src as s, b.dst as d from pattern [every a=Flow(kind='syn') -> "
                     "(b=Flow(kind='ack' and dst=a.src) where timer:within(5 sec))]", evs, "s", "d")
    # h2's deadline is 7000: the ack at 7000 arrives as the guard expires (the timer fires first)
    assert got == [(3000, "+", "h1", "h1")]


@pytest.mark.esper("detector-shapes", cite="espertechinc/esper regression-lib suite/pattern/PatternOperatorEveryDistinct "
                   "PatternExpireSeenBeforeKey (a key is remembered P from when it was first let through; a "
                   "suppressed repeat does not renew it)")
def test_every_distinct_with_expiry_per_source() -> None:
    evs: list[Ev] = [(1000, {"src": "h1"}), (9000, {"src": "h1"}), (10999, {"src": "h1"}), (11000, {"src": "h1"}),
                     (12000, {"src": "h2"}), (15000, {"src": "h1"})]
    got = deliveries("@Name('s0') select a.src as s from pattern [every-distinct(a.src, 10 sec) a=Flow]", evs, "s")
    assert got == [(1000, "+", "h1"), (11000, "+", "h1"), (12000, "+", "h2")]


# -- statement start: #firsttime and output after -----------------------------------------------------
# Esper starts both with the statement's deployment; FlowCEP with the runtime's first time (its
# first watermark, or its first event). Deploying at Esper time 0 is watermark 0 here.

VFT = "espertechinc/esper regression-lib suite/view/ViewFirstTime.{}"
OLA = "espertechinc/esper regression-lib suite/resultset/outputlimit/ResultSetOutputLimitAfter.{}"


def sb(s: str, i: int = 0) -> dict[str, Any]:
    return {"theString": s, "intPrimitive": i}


@pytest.mark.esper("firsttime", cite=VFT.format("ViewFirstTimeSceneOne (an event at exactly start + 10 sec is "
                                                "out; no remove stream)"))
def test_firsttime_scene_one() -> None:
    evs: list[Ev] = [0, (0, sb("E1", 1)), (2000, sb("E2", 20)), 9999, 10000, (10000, sb("E3", 30)),
                     (10000, sb("E4", 40))]
    got = deliveries("@Name('s0') select irstream theString as c0, intPrimitive as c1 from Flow#firsttime(10 sec)",
                     evs, "c0", "c1")
    assert got == [(0, "+", "E1", 1), (2000, "+", "E2", 20)]


@pytest.mark.esper("firsttime", cite=VFT.format("ViewFirstTimeSceneTwo"))
def test_firsttime_scene_two() -> None:
    evs: list[Ev] = [0, (500, {"symbol": "E1"}), (600, {"symbol": "E2"}), 1500, (1600, {"symbol": "E3"}),
                     (2000, {"symbol": "E4"})]
    assert deliveries("@Name('s0') select irstream symbol from Flow#firsttime(1 sec)", evs, "symbol") \
        == [(500, "+", "E1"), (600, "+", "E2")]


@pytest.mark.esper("firsttime", cite=VFT.format("ViewFirstTimeSceneTwo") + " (no watermark before the events: the "
                   "statement starts at the first event's time, FlowCEP's documented start)")
def test_firsttime_starts_with_the_first_event_without_a_watermark() -> None:
    evs: list[Ev] = [(500, {"symbol": "E1"}), (600, {"symbol": "E2"}), (1499, {"symbol": "E3"}),
                     (1500, {"symbol": "E4"})]
    assert deliveries("@Name('s0') select symbol from Flow#firsttime(1 sec)", evs, "symbol") \
        == [(500, "+", "E1"), (600, "+", "E2"), (1499, "+", "E3")]


@pytest.mark.esper("firsttime", cite="Esper reference, 'First Time Window (firsttime)': aggregates over the events "
                   "kept, WHERE filtering what the window posts")
def test_firsttime_with_aggregates_and_where() -> None:
    evs: list[Ev] = [0, (500, {"v": 1}), (600, {"v": 0}), (900, {"v": 2}), (1600, {"v": 3})]
    assert deliveries("@Name('s0') select count(*) as n from Flow#firsttime(1 sec) where v > 0", evs, "n") \
        == [(500, "+", 1), (900, "+", 2)]


@pytest.mark.esper("unsupported-is-an-error", cite="Esper reference, 'Context and Context Partitions' (a context "
                   "partition starts its own #firsttime and output after; FlowCEP starts them with the runtime, so "
                   "both are refused by name in a context statement; so are #firsttime in a subquery, output after "
                   "over a join and output after with all/first rates)")
@pytest.mark.parametrize("epl, needle", [
    ("create context C partition by a from Flow; context C select a from Flow#firsttime(3 sec)",
     "#firsttime in a context statement"),
    ("select (select count(*) from Flow#firsttime(1 sec)) as c from Flow", "#firsttime in a subquery"),
    ("create context C partition by a from Flow; context C select count(*) from Flow output after 3 events",
     "output after in a context statement"),
    ("select x.a from Flow#length(2) as x, Flow#length(2) as y output after 3 events", "output after over a join"),
    ("select count(*) from Flow output after 3 events first every 2 events", "output after ... first every"),
    ("select count(*) from Flow output after 3 sec all every 2 sec", "output after ... all every"),
])
def test_statement_start_forms_refused(epl: str, needle: str) -> None:
    with pytest.raises(EPLError) as info:
        compile_module(epl)
    assert "unsupported construct" in str(info.value) and needle in str(info.value)


@pytest.mark.parametrize("one_batch", [False, True])
@pytest.mark.esper("output-after", cite=OLA.format("ResultSetDirectTimePeriod (rows of updates before start + "
                                                   "20 sec are discarded; at 20 sec they go out)"))
def test_output_after_time_period(one_batch: bool) -> None:
    items = [(1, sb("E1")), (6000, sb("E2")), (19999, sb("E3")), (20000, sb("E4")), (21000, sb("E5"))]
    evs: list[Ev] = [0, items] if one_batch else [0, *items]
    got = deliveries("@Name('s0') select theString from Flow#keepall output after 20 seconds", evs, "theString")
    assert got == [(20000, "+", "E4"), (21000, "+", "E5")]


@pytest.mark.parametrize("one_batch", [False, True])
@pytest.mark.esper("output-after", cite=OLA.format("ResultSetDirectNumberOfEvents (the first 3 events' rows are "
                                                   "discarded)"))
def test_output_after_events(one_batch: bool) -> None:
    items = [(i + 1, sb(f"E{i + 1}")) for i in range(5)]
    evs: list[Ev] = [items] if one_batch else list(items)
    got = deliveries("@Name('s0') select theString from Flow#keepall output after 3 events", evs, "theString")
    assert got == [(4, "+", "E4"), (5, "+", "E5")]


@pytest.mark.esper("output-after", cite=OLA.format("ResultSetEveryPolicy (output after 20 sec every 5 sec: the "
                                                   "first interval opens with the first event after 20 sec)"))
def test_output_after_then_every_time_period() -> None:
    evs: list[Ev] = [0, (1, sb("E1")), (6000, sb("E2")), (16000, sb("E3")), (20000, sb("E4")), (24999, sb("E5")),
                     25000, (27000, sb("E6")), 29999, 30000]
    got = deliveries("@Name('s0') select theString from Flow#keepall output after 20 sec every 5 sec", evs,
                     "theString")
    assert got == [(25000, "+", "E4"), (25000, "+", "E5"), (30000, "+", "E6")]


@pytest.mark.esper("output-after", cite=OLA.format("ResultSetAfterWithOutputLast (the aggregate takes the "
                                                   "discarded events in: 210 is the sum of all six)"))
def test_output_after_events_then_last_every_events() -> None:
    evs = one_ms_apart(*({"intPrimitive": v} for v in (10, 20, 30, 40, 50, 60)))
    got = deliveries("@Name('s0') select sum(intPrimitive) as thesum from Flow#keepall "
                     "output after 4 events last every 2 events", evs, "thesum")
    assert got == [(6, "+", 210)]


@pytest.mark.esper("output-after", cite=OLA.format("ResultSetDirectNumberOfEvents") + " with an aggregate (the "
                   "count goes on under the discarded rows)")
def test_output_after_events_with_an_aggregate() -> None:
    got = deliveries("@Name('s0') select count(*) as c from Flow output after 2 events",
                     one_ms_apart(*({"x": 1} for _ in range(4))), "c")
    assert got == [(3, "+", 3), (4, "+", 4)]
