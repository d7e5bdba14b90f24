"""Data windows, after Esper's documented behaviour (event time from flowEndMilliseconds)."""

from __future__ import annotations

from flowcep_plugin.engine.harness import Harness, flows, values

S = 1000


def test_time_batch_anchored_at_first_event_and_boundary_goes_to_next_batch() -> None:
    h = Harness("@Name('Out') select count(*) as n from Flow#time_batch(10 sec)")
    h.send(1 * S)
    h.send(5 * S)
    h.send(10_999)
    assert h.watermark(10_999) == []  # the batch [1 s, 11 s) is not complete yet
    out = h.send(11 * S)  # at the boundary: the timer fires first, this event starts batch 2
    assert [(r.time_ms, r.values["n"]) for r in out] == [(11 * S, 3)]
    out = h.watermark(21 * S)
    assert [(r.time_ms, r.values["n"]) for r in out] == [(21 * S, 1)]


def test_time_batch_empty_batches_report_the_groups_that_left_once() -> None:
    h = Harness("""
        @Name('All') select count(*) as n from Flow.win:time_batch(10 sec);
        @Name('Per') select a, count(*) as n from Flow.win:time_batch(10 sec) group by a""")
    h.send(0, a="x")
    h.send(1 * S, a="x")
    h.send(2 * S, a="y")
    h.watermark(100 * S)
    # ungrouped: the batch, then one row for the empty batch that pushed it out, then silence
    assert [(r.time_ms, r.values["n"]) for r in h.of("All")] == [(10 * S, 3), (20 * S, 0)]
    # grouped: Esper (ResultSetProcessorRowPerGroup) outputs the groups of the new and the old
    # batch, the ones that left with their new count 0
    assert sorted((r.time_ms, r.values["a"], r.values["n"]) for r in h.of("Per")) == [
        (10 * S, "x", 2), (10 * S, "y", 1), (20 * S, "x", 0), (20 * S, "y", 0)]


def test_time_batch_boundaries_stay_aligned_after_a_gap() -> None:
    h = Harness("@Name('Out') select count(*) as n from Flow#time_batch(10 sec)")
    h.send(1 * S)
    h.send(45 * S)  # batches [1,11) [11,21) fire; then no timer until this event: [41, 51)
    h.flush()
    assert [(r.time_ms, r.values["n"]) for r in h.rows] == [
        (11 * S, 1), (21 * S, 0), (51 * S, 1), (61 * S, 0)]


def test_time_batch_group_having_and_aggregates() -> None:
    h = Harness("""@Name('Out')
        select src, count(*) as n, count(distinct dst) as d, sum(b) as s, min(b) as lo,
               max(b) as hi, avg(b) as mean, count(b) as nb
        from Flow#time_batch(1 min) group by src having count(*) >= 2""")
    h.batch([(0, {"src": "a", "dst": "x", "b": 10}), (1, {"src": "a", "dst": "x", "b": 30}),
             (2, {"src": "a", "dst": "y"}), (3, {"src": "b", "dst": "x", "b": 5})])
    h.flush()
    assert values(h.rows, "src", "n", "d", "s", "lo", "hi", "mean", "nb") == [("a", 3, 2, 40, 10, 30, 20.0, 2)]


def test_time_window_expires_at_exactly_p_grouped_having() -> None:
    h = Harness("""@Name('Out') select k, count(*) as n from Flow.win:time(10 sec)
                   group by k having count(*) >= 2""")
    h.send(0, k="a")
    assert h.send(9_999, k="a")[0].values == {"k": "a", "n": 2}
    out = h.send(10_000, k="a")  # the event of t=0 left at exactly 10 s
    assert [(r.time_ms, r.values["n"]) for r in out] == [(10_000, 2)]
    assert h.send(20_000, k="a") == []  # only itself: HAVING fails, nothing emitted
    assert h.send(20_001, k="b") == []


def test_time_window_ungrouped_emits_on_arrival_and_on_expiry() -> None:
    h = Harness("@Name('Out') select count(*) as n from Flow#time(5 sec)")
    h.send(0)
    h.send(1 * S)
    h.watermark(5 * S)
    h.watermark(6 * S)
    assert [(r.time_ms, r.values["n"]) for r in h.rows] == [(0, 1), (1 * S, 2), (5 * S, 1), (6 * S, 0)]


def test_length_window_and_where_after_window() -> None:
    h = Harness("@Name('Out') select sum(v) as s from Flow.win:length(3) where v > 0")
    for i, v in enumerate([1, 2, -5, 4, 8]):
        h.send(i, v=v)
    # window holds the last 3 events whatever WHERE says; WHERE filters what it posts
    assert values(h.rows, "s") == [(1,), (3,), (6,), (12,)]


def test_length_batch_posts_every_n_events() -> None:
    h = Harness("@Name('Out') select count(*) as n, sum(v) as s from Flow#length_batch(2)")
    for i in range(5):
        h.send(i, v=i)
    h.flush()
    assert values(h.rows, "n", "s") == [(2, 1), (2, 5)]  # the fifth waits for a sixth


def test_ext_timed_uses_the_property_time() -> None:
    h = Harness("@Name('Out') select count(*) as n from Flow.win:ext_timed(ts, 10 sec)")
    for i, ts in enumerate([0, 5 * S, 10 * S, 10 * S + 1]):
        h.send(i, ts=ts)
    assert values(h.rows, "n") == [(1,), (2,), (2,), (3,)]


def test_ext_timed_batch_releases_on_a_later_event_and_at_end() -> None:
    h = Harness("@Name('Out') select count(*) as n from Flow#ext_timed_batch(ts, 10 sec)")
    for i, ts in enumerate([100, 200, 10_100, 10_200, 10_300]):
        h.send(i, ts=ts)
    assert values(h.rows, "n") == [(2,)]
    h.flush()
    assert values(h.rows, "n") == [(2,), (3,), (0,)]


def test_unique_keeps_last_event_per_key() -> None:
    h = Harness("@Name('Out') select count(*) as n, sum(v) as s from Flow#unique(k)")
    h.send(0, k="a", v=1)
    h.send(1, k="b", v=2)
    h.send(2, k="a", v=5)
    assert values(h.rows, "n", "s") == [(1, 1), (2, 3), (2, 7)]


def test_old_and_new_view_syntax_are_equivalent() -> None:
    text = "@Name('Out') select k, count(*) as n from Flow{v} group by k"
    events = [(t * 7_000, {"k": "ab"[t % 2]}) for t in range(20)]
    outs = []
    for v in (".win:time_batch(30 sec)", "#time_batch(30 sec)", ".win:time_batch(0.5 min)"):
        h = Harness(text.format(v=v))
        h.batch(events)
        h.flush()
        outs.append(h.rows)
    # five batches with both groups, then each group once more with count 0 as it leaves
    assert outs[0] == outs[1] == outs[2] and len(outs[0]) == 12


def test_no_window_simple_select_and_missing_properties_are_null() -> None:
    h = Harness("@Name('Out') select ipfix.sourceIPv4Address as src, nothing, v * 2 + 1 as w from Flow")
    h.batch([(0, {"sourceIPv4Address": "10.0.0.1", "v": 3}), (1, {"v": None})])
    assert values(h.rows, "src", "nothing", "w") == [("10.0.0.1", None, 7), (None, None, None)]
    assert [r.time_ms for r in h.rows] == [0, 1]


def test_output_last_and_first_every() -> None:
    h = Harness("""@Name('Last') select v from Flow output last every 10 sec;
                   @Name('First') select v from Flow output first every 10 sec""")
    for t, v in [(0, 1), (3 * S, 2), (9 * S, 3), (12 * S, 4), (15 * S, 5)]:
        h.send(t, v=v)
    h.flush()
    assert [(r.time_ms, r.values["v"]) for r in h.of("Last")] == [(10 * S, 3), (20 * S, 5)]
    assert [r.values["v"] for r in h.of("First")] == [1, 4]


def test_insert_into_chain_and_derived_time() -> None:
    h = Harness("""
        @Name('Per') insert into PerMinute
        select src, count(*) as n from Flow#time_batch(1 min) group by src;
        @Name('Busy') select PerMinute.src as who, n from PerMinute where n > 1""")
    h.batch([(0, {"src": "a"}), (1, {"src": "a"}), (2, {"src": "b"})])
    h.flush()
    assert [(r.stream, r.time_ms) for r in h.of("Per")] == [("PerMinute", 60_000)] * 2 + [("PerMinute", 120_000)] * 2
    assert [(r.stream, r.time_ms, r.values) for r in h.of("Busy")] == [("Busy", 60_000, {"who": "a", "n": 2})]


def test_join_evaluated_when_either_window_posts() -> None:
    h = Harness("""
        @Name('A') insert into A select k, v from Flow where kind = 'a';
        @Name('B') insert into B select k, v from Flow where kind = 'b';
        @Name('J') select a.k as k, a.v as av, b.v as bv from A#length(10) as a, B#length(10) as b
                   where a.k = b.k""")
    h.send(0, kind="a", k=1, v="a1")
    h.send(1, kind="b", k=1, v="b1")  # B posts: joins with A's window
    h.send(2, kind="b", k=2, v="b2")  # no match
    h.send(3, kind="a", k=1, v="a2")  # A posts: joins with B's window
    assert values(h.of("J"), "k", "av", "bv") == [(1, "a1", "b1"), (1, "a2", "b1")]
    assert [r.time_ms for r in h.of("J")] == [1, 3]


def test_several_runtimes_are_independent() -> None:
    h = Harness("@Name('Out') select count(*) as n from Flow#length(5)")
    other = h.module.runtime()
    h.send(0)
    h.send(1)


    assert [r.values["n"] for r in other.on_batch(flows((0, {})))] == [1]
    assert [r.values["n"] for r in h.rows] == [1, 2]


def test_std_unique_spelling_and_count_distinct_over_a_sliding_window() -> None:
    h = Harness("""@Name('U') select count(*) as n from Flow.std:unique(k);
                   @Name('D') select count(distinct k) as d, count(k) as c from Flow#time(10 sec)""")
    for t, k in [(0, "a"), (1 * S, "a"), (2 * S, "b"), (11 * S, "c")]:
        h.send(t, k=k)
    assert values(h.of("U"), "n") == [(1,), (1,), (2,), (3,)]
    # expiry rows at 10 s (a of 0 s leaves) and 11 s (a of 1 s leaves) come before c's row
    assert values(h.of("D"), "d", "c") == [(1, 1), (1, 2), (2, 3), (2, 2), (1, 1), (2, 2)]
    assert [r.time_ms for r in h.of("D")][3:] == [10 * S, 11 * S, 11 * S]


def test_insert_into_select_star_keeps_flow_names() -> None:
    h = Harness("""@Name('Big') insert into Big select * from Flow where octetDeltaCount > 1000;
                   @Name('Who') select Big.ipfix.sourceIPv4Address as src from Big""")
    h.batch([(0, {"sourceIPv4Address": "10.0.0.1", "octetDeltaCount": 5000}),
             (1, {"sourceIPv4Address": "10.0.0.2", "octetDeltaCount": 10})])
    assert values(h.of("Who"), "src") == [("10.0.0.1",)]
    assert h.of("Big")[0].values == {"sourceIPv4Address": "10.0.0.1", "octetDeltaCount": 5000,
                                     "flowEndMilliseconds": 0}


def test_grouped_join_aggregates_follow_window_departures() -> None:
    h = Harness("""
        @Name('A') insert into A select k, v from Flow where kind = 'a';
        @Name('B') insert into B select k from Flow where kind = 'b';
        @Name('J') select a.k as k, sum(a.v) as s, count(*) as n
                   from A#time(10 sec) as a, B#length(1) as b where a.k = b.k group by a.k""")
    h.send(0, kind="b", k=1)
    h.send(1 * S, kind="a", k=1, v=5)   # joins b: sum 5
    h.send(2 * S, kind="a", k=1, v=7)   # sum 12
    h.watermark(11_500)                 # a(1 s) left at 11 s: the group is output with sum 7
    h.send(12 * S, kind="a", k=1, v=1)  # a(2 s) left at 12 s (sum null, count 0), then this one
    # Esper (ResultSetProcessorRowPerGroup.processJoinResult) outputs the groups of the joined
    # rows that left as well as of those that arrived
    assert values(h.of("J"), "k", "s", "n") == [(1, 5, 1), (1, 12, 2), (1, 7, 1), (1, None, 0), (1, 1, 1)]


def test_unsorted_batch_is_sorted_and_list_values_can_be_grouped() -> None:
    h = Harness("""@Name('Out') select tags, count(*) as n from Flow#time_batch(10 sec) group by tags;
                   @Name('Sum') select sum(v) as s, tags from Flow#time_batch(10 sec) group by tags""")
    h.batch([(12 * S, {"tags": [1, 2], "v": 1}), (0, {"tags": [1, 2], "v": 2}),
             (5 * S, {"tags": [3], "v": 3})])
    h.flush()
    # the record of 12 s belongs to the second batch although it came first
    # then each group that left is output once more with count 0
    assert [(r.time_ms, r.values["n"]) for r in h.of("Out")] == [
        (10 * S, 1), (10 * S, 1), (20 * S, 1), (20 * S, 0), (30 * S, 0)]
    assert sorted(values(h.of("Sum")[:2], "s")) == [(2,), (3,)]


def test_select_star_over_a_batch_window_keeps_every_column() -> None:
    h = Harness("@Name('All') select * from Flow#time_batch(10 sec)")
    h.batch([(0, {"a": 1}), (1, {"a": 2, "b": "x"})])
    h.flush()
    assert [r.values for r in h.rows] == [{"flowEndMilliseconds": 0, "a": 1},
                                          {"flowEndMilliseconds": 1, "a": 2, "b": "x"}]
    assert {r.time_ms for r in h.rows} == {10 * S}
    h.batch([(2, {"c": 3})])
    h.batch([(3, {"a": 4})])
    h.flush()
    assert [r.values for r in h.rows[2:]] == [{"flowEndMilliseconds": 2, "c": 3},
                                              {"flowEndMilliseconds": 3, "a": 4}]
