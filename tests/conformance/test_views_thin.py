"""Data windows the suite covered thinly: ``#firstevent``, ``#firstunique``, ``#lastevent``,
``#groupwin`` chained with ``#length``/``#time``, ``#sort``, ``#unique`` and intersections, with the
insert and remove streams, against Esper's view regression tests (espertechinc/esper,
regression-lib ``suite/view``) and the reference chapter "EPL Reference: Data Windows"; and the
views the engine refuses, each a compile error naming the view at its line and column."""

from __future__ import annotations

from typing import Any

import pytest

from flowcep_plugin.engine.compiler import compile_module
from flowcep_plugin.errors import EPLError

from .esper import deliveries


def esper(construct: str, cite: str) -> Any:
    return pytest.mark.esper(construct, cite=f"espertechinc/esper {cite}")


def sb(t: int, s: str, i: int) -> tuple[int, dict[str, Any]]:
    return (t, {"theString": s, "intPrimitive": i})


@esper("firstevent", "ViewFirstEvent.ViewFirstEventSceneOne")
def test_firstevent_irstream_posts_only_the_first() -> None:
    got = deliveries("@Name('s0') select irstream theString as c0, intPrimitive as c1 from Flow#firstevent()",
                     [sb(1, "E1", 1), sb(2, "E2", 2), sb(3, "E3", 3)], "c0", "c1")
    assert got == [(1, "+", "E1", 1)]


@esper("firstevent", "ViewFirstEvent.ViewFirstEventMarketData (select irstream *)")
def test_firstevent_select_star() -> None:
    got = deliveries("@Name('s0') select irstream * from Flow#firstevent",
                     [(1, {"symbol": "E1"}), (2, {"symbol": "E2"}), (3, {"symbol": "E3"})], "symbol")
    assert got == [(1, "+", "E1")]


@esper("firstevent", "Esper reference, 'First Event Window (firstevent)': aggregates over the one event kept")
def test_firstevent_aggregate_counts_one() -> None:
    got = deliveries("@Name('s0') select count(*) as n, sum(intPrimitive) as s from Flow#firstevent",
                     [sb(1, "E1", 5), sb(2, "E2", 7)], "n", "s")
    assert got == [(1, "+", 1, 5)]


@esper("firstunique", "ViewFirstUnique.ViewFirstUniqueSimple (irstream: later events of a key are not posted)")
def test_firstunique_simple_irstream() -> None:
    evs = [sb(1, "E1", 1), sb(2, "E2", 20), sb(3, "E1", 2), sb(4, "E2", 21), sb(5, "E2", 22), sb(6, "E1", 3),
           sb(7, "E3", 30)]
    got = deliveries("@Name('s0') select irstream theString as c0, intPrimitive as c1 from Flow#firstunique(theString)",
                     evs, "c0", "c1")
    assert got == [(1, "+", "E1", 1), (2, "+", "E2", 20), (7, "+", "E3", 30)]


@esper("firstunique", "ViewFirstUnique.ViewFirstUniqueSceneOne (order by symbol; repeats of S1 not posted)")
def test_firstunique_scene_one() -> None:
    evs = [(1, {"symbol": "S1", "price": 100.0}), (2, {"symbol": "S2", "price": 5.0}),
           (3, {"symbol": "S1", "price": 101.0}), (4, {"symbol": "S1", "price": 102.0}),
           (5, {"symbol": "S3", "price": 6.0})]
    got = deliveries("@Name('s0') select irstream symbol, price from Flow#firstunique(symbol) order by symbol",
                     evs, "symbol", "price")
    assert got == [(1, "+", "S1", 100.0), (2, "+", "S2", 5.0), (5, "+", "S3", 6.0)]


@esper("firstunique", "Esper reference, 'First Unique Window': two key properties")
def test_firstunique_two_keys() -> None:
    evs = [(1, {"a": 1, "b": 1, "s": "E1"}), (2, {"a": 1, "b": 2, "s": "E2"}), (3, {"a": 1, "b": 1, "s": "E3"}),
           (4, {"a": 2, "b": 1, "s": "E4"})]
    got = deliveries("@Name('s0') select s, count(*) as n from Flow#firstunique(a, b)", evs, "s", "n")
    assert got == [(1, "+", "E1", 1), (2, "+", "E2", 2), (4, "+", "E4", 3)]


@esper("lastevent", "ViewLastEvent (ViewLastEventSceneOne: each event pushes out the previous one, posted as old)")
def test_lastevent_irstream() -> None:
    got = deliveries("@Name('s0') select irstream theString as c0 from Flow#lastevent()",
                     [sb(1, "E1", 1), sb(2, "E2", 2), sb(3, "E3", 3)], "c0")
    assert got == [(1, "+", "E1"), (2, "+", "E2"), (2, "-", "E1"), (3, "+", "E3"), (3, "-", "E2")]


@esper("lastevent", "ViewLastEvent; Esper reference, 'Last Event Window': the aggregate over the last event only")
def test_lastevent_aggregate_is_the_last_value() -> None:
    got = deliveries("@Name('s0') select irstream sum(intPrimitive) as s from Flow#lastevent",
                     [sb(1, "E1", 1), sb(2, "E2", 5)], "s")
    assert got == [(1, "+", 1), (1, "-", None), (2, "+", 5), (2, "-", 1)]




def _gw_events() -> list[tuple[int, dict[str, Any]] | int]:
    return [(1000 * (i + 1), {"s": f"E{i + 1}", "k": k, "v": i + 1})
            for i, k in enumerate(["a", "b", "a", "a", "b", "a"])]


@esper("groupwin", "ViewGroup (ViewGroupLengthWin...: the last N per key; the event pushed out of its own "
       "group's window is posted as old, with the aggregate after the update)")
def test_groupwin_length_irstream_with_aggregates() -> None:
    got = deliveries("@Name('s0') select irstream s, count(*) as n, sum(v) as t from Flow#groupwin(k)#length(2)",
                     _gw_events(), "s", "n", "t")
    assert got == [(1000, "+", "E1", 1, 1), (2000, "+", "E2", 2, 3), (3000, "+", "E3", 3, 6),
                   (4000, "+", "E4", 3, 9), (4000, "-", "E1", 3, 9), (5000, "+", "E5", 4, 14),
                   (6000, "+", "E6", 4, 17), (6000, "-", "E3", 4, 17)]


@esper("groupwin", "ViewGroup; Esper reference, 'Grouped Data Window': #groupwin(k)#length(1) keeps the last "
       "event per key (as #unique(k))")
def test_groupwin_length_one_is_unique() -> None:
    epl = "@Name('s0') select irstream s from Flow{}"
    a = deliveries(epl.format("#groupwin(k)#length(1)"), _gw_events(), "s")
    b = deliveries(epl.format("#unique(k)"), _gw_events(), "s")
    assert a == b and ("-", "E1") == a[3][1:]


@esper("groupwin", "ViewGroup; Esper reference, 'Grouped Data Window' with a time window: each event leaves "
       "at its own time plus the period")
def test_groupwin_time_irstream() -> None:
    got = deliveries("@Name('s0') select irstream s, count(*) as n from Flow#groupwin(k)#time(2500 msec)",
                     [*_gw_events(), 20000], "s", "n")
    assert got == [(1000, "+", "E1", 1), (2000, "+", "E2", 2), (3000, "+", "E3", 3), (3500, "-", "E1", 2),
                   (4000, "+", "E4", 3), (4500, "-", "E2", 2), (5000, "+", "E5", 3), (5500, "-", "E3", 2),
                   (6000, "+", "E6", 3), (6500, "-", "E4", 2), (7500, "-", "E5", 1), (8500, "-", "E6", 0)]


@esper("groupwin", "ViewGroup; Esper reference, 'Grouped Data Window' with group by on the same key: per-key "
       "counts never pass N")
def test_groupwin_length_group_by_same_key() -> None:
    got = deliveries("@Name('s0') select k, count(*) as n from Flow#groupwin(k)#length(2) group by k",
                     _gw_events(), "k", "n")
    assert got == [(1000, "+", "a", 1), (2000, "+", "b", 1), (3000, "+", "a", 2), (4000, "+", "a", 2),
                   (5000, "+", "b", 2), (6000, "+", "a", 2)]


@esper("sort", "ViewSort; Esper reference, 'Sorted Window (sort)': descending, the smallest is pushed out")
def test_sort_descending_irstream() -> None:
    got = deliveries("@Name('s0') select irstream s from Flow#sort(2, v desc)", _gw_events(), "s")
    assert got == [(1000, "+", "E1"), (2000, "+", "E2"), (3000, "+", "E3"), (3000, "-", "E1"), (4000, "+", "E4"),
                   (4000, "-", "E2"), (5000, "+", "E5"), (5000, "-", "E3"), (6000, "+", "E6"), (6000, "-", "E4")]


@esper("sort", "ViewSort; Esper reference, 'Sorted Window': an arrival that sorts last is posted new and old "
       "at once")
def test_sort_arrival_outside_the_top_is_new_and_old() -> None:
    got = deliveries("@Name('s0') select irstream s from Flow#sort(1, v)",
                     [(1, {"s": "A", "v": 1}), (2, {"s": "B", "v": 5}), (3, {"s": "C", "v": 0})], "s")
    assert got == [(1, "+", "A"), (2, "+", "B"), (2, "-", "B"), (3, "+", "C"), (3, "-", "A")]


@esper("unique", "ViewUnique (irstream: the replaced event of the key is posted as old)")
def test_unique_irstream_with_sum() -> None:
    got = deliveries("@Name('s0') select irstream s, sum(v) as t from Flow#unique(k)", _gw_events(), "s", "t")
    assert got == [(1000, "+", "E1", 1), (2000, "+", "E2", 3), (3000, "+", "E3", 5), (3000, "-", "E1", 5),
                   (4000, "+", "E4", 6), (4000, "-", "E3", 6), (5000, "+", "E5", 9), (5000, "-", "E2", 9),
                   (6000, "+", "E6", 11), (6000, "-", "E4", 11)]


@esper("intersection", "ViewIntersect (#time with #length: the expiry at t is posted before the event at t)")
def test_time_and_length_intersection_expiry_first() -> None:
    got = deliveries("@Name('s0') select irstream s, count(*) as n from Flow#time(2 sec)#length(2)",
                     [*_gw_events(), 20000], "s", "n")
    assert got[:6] == [(1000, "+", "E1", 1), (2000, "+", "E2", 2), (3000, "-", "E1", 1), (3000, "+", "E3", 2),
                       (4000, "-", "E2", 1), (4000, "+", "E4", 2)]
    assert got[-2:] == [(7000, "-", "E5", 1), (8000, "-", "E6", 0)]


@esper("intersection", "ViewIntersect (IntersectDefaultView: the arrival goes to every view first, then what any "
       "view let go leaves all: E4 pushes E3 out of #unique and E2 out of #length(2))")
def test_unique_and_length_intersection() -> None:
    got = deliveries("@Name('s0') select irstream s from Flow#unique(k)#length(2)",
                     [(1, {"s": "E1", "k": 1}), (2, {"s": "E2", "k": 2}), (3, {"s": "E3", "k": 3}),
                      (4, {"s": "E4", "k": 3})], "s")
    assert got[:5] == [(1, "+", "E1"), (2, "+", "E2"), (3, "+", "E3"), (3, "-", "E1"), (4, "+", "E4")]
    assert sorted(got[5:]) == [(4, "-", "E2"), (4, "-", "E3")]


REFUSED_VIEWS = [
    ("#time_length_batch(2 sec, 2, 'FORCE_UPDATE')", "time_length_batch flow control", "ViewTimeLengthBatch"),
    ("#rank(k, 2, v)", "rank", "ViewRank"),
    ("#time_order(v, 2 sec)", "time_order", "ViewTimeOrderAndTimeToLive"),
    ("#timetolive(v)", "timetolive", "ViewTimeOrderAndTimeToLive"),
    ("#expr(current_count <= 2)", "expr", "ViewExpressionWindow"),
    ("#expr_batch(current_count > 2)", "expr_batch", "ViewExpressionBatch"),
    ("#time_accum(2 sec)", "time_accum", "ViewTimeAccum"),
    ("#groupwin(k)#unique(v)", "groupwin", "ViewGroup (groupwin over unique)"),
    ("#groupwin(k)#lastevent", "groupwin", "ViewGroup (groupwin over lastevent)"),
    ("#groupwin(k)#firstevent", "groupwin", "ViewGroup (groupwin over firstevent)"),
    ("#groupwin(k)#keepall", "groupwin", "ViewGroup (groupwin over keepall)"),
    ("#groupwin(k)#sort(1, v)", "groupwin", "ViewGroup (groupwin over sort)"),
    ("#groupwin(k)#firstunique(v)", "groupwin", "ViewGroup (groupwin over firstunique)"),
    ("#length(2)#groupwin(k)", "data windows together", "ViewGroup (groupwin after another view)"),
    ("#firstunique(k)#length(2)", "data windows together", "ViewIntersect (firstunique in an intersection)"),
    ("#uni(v)", "uni", "ViewDerived (statistics views)"),
    ("#weighted_avg(v, k)", "weighted_avg", "ViewDerived (statistics views)"),
]


@pytest.mark.parametrize(("view", "name"), [
    pytest.param(v, n, id=v, marks=esper("unsupported-is-an-error", c + ": a view the engine does not run is a "
                                         "compile error at its line and column, naming it"))
    for v, n, c in REFUSED_VIEWS])
def test_unsupported_views_are_refused(view: str, name: str) -> None:
    with pytest.raises(EPLError) as err:
        compile_module(f"@Name('s0')\nselect * from Flow{view}", "<t>")
    msg = str(err.value)
    assert msg.startswith("<t>:2:") and name in msg, msg


def _grouped_events() -> list[tuple[int, dict[str, Any]] | int]:
    return [(1000 * (i + 1), {"s": s, "k": k, "v": v, "u": u}) for i, (s, k, v, u) in enumerate(
        [("E1", "a", 1, "x"), ("E2", "b", 2, "y"), ("E3", "a", 3, "x"), ("E4", "a", 4, "z"), ("E5", "b", 5, "y")])]


GROUPED = "ResultSetOutputLimitRowPerGroup (fully aggregated and grouped, no output rate: each group an update " \
    "touches, arriving or leaving, with its values after, and with irstream before)"


@pytest.mark.parametrize(("view", "want"), [
    pytest.param("#unique(u)", [
        (1000, "+", "a", 1, 1), (1000, "-", "a", 0, None), (2000, "+", "b", 1, 2), (2000, "-", "b", 0, None),
        (3000, "+", "a", 1, 3), (3000, "-", "a", 1, 1), (4000, "+", "a", 2, 7), (4000, "-", "a", 1, 3),
        (5000, "+", "b", 1, 5), (5000, "-", "b", 1, 2)], id="unique",
        marks=esper("group-by", GROUPED + "; ViewUnique (a replaced event leaves its group)")),
    pytest.param("#sort(2, v desc)", [
        (1000, "+", "a", 1, 1), (1000, "-", "a", 0, None), (2000, "+", "b", 1, 2), (2000, "-", "b", 0, None),
        (3000, "+", "a", 1, 3), (3000, "-", "a", 1, 1), (4000, "+", "a", 2, 7), (4000, "+", "b", 0, None),
        (4000, "-", "a", 1, 3), (4000, "-", "b", 1, 2), (5000, "+", "b", 1, 5), (5000, "+", "a", 1, 4),
        (5000, "-", "b", 0, None), (5000, "-", "a", 2, 7)], id="sort",
        marks=esper("group-by", GROUPED + "; ViewSort (the event sorted out leaves its group: b empties at E4)")),
    pytest.param("#lastevent", [
        (1000, "+", "a", 1, 1), (1000, "-", "a", 0, None), (2000, "+", "b", 1, 2), (2000, "+", "a", 0, None),
        (2000, "-", "b", 0, None), (2000, "-", "a", 1, 1), (3000, "+", "a", 1, 3), (3000, "+", "b", 0, None),
        (3000, "-", "a", 0, None), (3000, "-", "b", 1, 2), (4000, "+", "a", 1, 4), (4000, "-", "a", 1, 3),
        (5000, "+", "b", 1, 5), (5000, "+", "a", 0, None), (5000, "-", "b", 0, None), (5000, "-", "a", 1, 4)],
        id="lastevent", marks=esper("group-by", GROUPED + "; ViewLastEvent")),
    pytest.param("#firstunique(u)", [
        (1000, "+", "a", 1, 1), (1000, "-", "a", 0, None), (2000, "+", "b", 1, 2), (2000, "-", "b", 0, None),
        (4000, "+", "a", 2, 5), (4000, "-", "a", 1, 1)], id="firstunique",
        marks=esper("group-by", GROUPED + "; ViewFirstUnique (repeats of a key never reach the statement)")),
])
def test_grouped_irstream_over_keyed_windows(view: str, want: list[tuple[Any, ...]]) -> None:
    got = deliveries(f"@Name('s0') select irstream k, count(*) as n, sum(v) as t from Flow{view} group by k",
                     _grouped_events(), "k", "n", "t")
    by_time: dict[int, list[tuple[Any, ...]]] = {}
    for row in got:
        by_time.setdefault(row[0], []).append(row)
    exp: dict[int, list[tuple[Any, ...]]] = {}
    for row in want:
        exp.setdefault(row[0], []).append(row)
    # within one update the order of groups is not Esper's concern (a listener gets two arrays)
    assert {t: sorted(r, key=repr) for t, r in by_time.items()} == {t: sorted(r, key=repr) for t, r in exp.items()}
