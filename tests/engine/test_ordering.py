"""ORDER BY, LIMIT/OFFSET and SELECT DISTINCT, per output step, after Esper.

Expectations are computed here in plain Python from the input records (batch membership,
sums, sorting with Esper's null rule: null is smaller than any value), never from engine
output.
"""

from __future__ import annotations

import random
from collections import defaultdict
from typing import Any

import pytest

from flowcep_plugin.engine import compile_module
from flowcep_plugin.engine.harness import Harness, values
from flowcep_plugin.errors import EPLError

S = 1000
MIN = 60 * S


def talkers(seed: int, n: int = 400, span_ms: int = 3 * MIN) -> list[tuple[int, dict[str, Any]]]:
    rnd = random.Random(seed)
    times = sorted(rnd.randrange(span_ms) for _ in range(n))
    return [(t, {"sourceIPv4Address": f"10.0.0.{rnd.randrange(12)}",
                 "octetDeltaCount": rnd.randrange(1, 5000)}) for t in times]


def by_batch(records: list[tuple[int, dict[str, Any]]], period: int) -> dict[int, list[dict[str, Any]]]:
    """Esper's time_batch: batches back to back from the first event, released at their end."""
    t0 = records[0][0]
    out: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for t, r in records:
        out[t0 + ((t - t0) // period + 1) * period].append(r)
    return dict(sorted(out.items()))


def null_low(v: Any) -> tuple[Any, ...]:
    return (0,) if v is None else (1, v)


def test_top_talkers_per_one_minute_batch() -> None:
    recs = talkers(1)
    h = Harness("""@Name('Top')
        select ipfix.sourceIPv4Address as src, sum(ipfix.octetDeltaCount) as bytes
        from Flow#time_batch(1 min) group by ipfix.sourceIPv4Address having count(*) > 0
        order by bytes desc, src limit 3""")
    h.batch(recs)
    h.flush()
    expected = []
    for release, rows in by_batch(recs, MIN).items():
        sums: dict[str, int] = defaultdict(int)
        for r in rows:
            sums[r["sourceIPv4Address"]] += r["octetDeltaCount"]
        top = sorted(sums.items(), key=lambda kv: (-kv[1], kv[0]))[:3]
        expected += [(release, src, b) for src, b in top]
    assert [(r.time_ms, r.values["src"], r.values["bytes"]) for r in h.rows] == expected
    assert len(expected) == 9  # three batches, three rows each: per step, not overall
    assert all(list(r.values) == ["src", "bytes"] for r in h.rows)


def test_ties_and_mixed_directions() -> None:
    # equal byte sums: the second key (src descending) decides
    recs = [(0, {"src": "a", "b": 10}), (1, {"src": "b", "b": 10}), (2, {"src": "c", "b": 30}),
            (3, {"src": "d", "b": 5}), (4, {"src": "e", "b": 10})]
    h = Harness("""@Name('T') select src, sum(b) as s from Flow#time_batch(10 sec) group by src
                   having count(*) > 0 order by s asc, src desc""")
    h.batch(recs)
    h.flush()
    expected = sorted(((r["src"], r["b"]) for _t, r in recs), key=lambda x: x[0], reverse=True)
    expected.sort(key=lambda x: x[1])  # stable: src desc inside equal sums
    assert values(h.rows, "src", "s") == expected == [("d", 5), ("e", 10), ("b", 10), ("a", 10), ("c", 30)]


def test_nulls_sort_lowest_first_ascending_last_descending() -> None:
    rnd = random.Random(5)
    recs = [(i, {"k": f"r{i}", "v": None if rnd.random() < 0.3 else rnd.randrange(100)}) for i in range(40)]
    h = Harness("""@Name('Asc') select k, v from Flow#time_batch(1 min) order by v, k;
                   @Name('Desc') select k, v from Flow#time_batch(1 min) order by v desc, k""")
    h.batch(recs)
    h.flush()
    pairs = [(r["k"], r["v"]) for _t, r in recs]
    assert any(v is None for _k, v in pairs)
    asc = sorted(pairs, key=lambda p: (null_low(p[1]), p[0]))
    desc = sorted(sorted(pairs, key=lambda p: p[0]), key=lambda p: null_low(p[1]), reverse=True)
    assert values(h.of("Asc"), "k", "v") == asc
    assert values(h.of("Desc"), "k", "v") == desc
    assert asc[0][1] is None and desc[-1][1] is None


def test_offset_forms_are_equivalent_and_negative_count_means_all() -> None:
    recs = [(i, {"k": i, "v": (i * 7) % 11}) for i in range(15)]
    text = "select k, v from Flow#time_batch(1 min) order by v desc, k {}"
    ordered = sorted(((r["k"], r["v"]) for _t, r in recs), key=lambda p: (-p[1], p[0]))
    for clause, expected in [("limit 4 offset 2", ordered[2:6]), ("limit 2, 4", ordered[2:6]),
                             ("limit 0", []), ("limit 3 offset 20", []), ("limit -1", ordered),
                             ("limit -1 offset 13", ordered[13:])]:
        h = Harness("@Name('O') " + text.format(clause))
        h.batch(recs)
        h.flush()
        assert values(h.rows, "k", "v") == expected, clause


def test_limit_without_order_keeps_output_order() -> None:
    recs = [(i, {"k": i}) for i in range(10)]
    h = Harness("@Name('L') select k from Flow#length_batch(4) limit 2")
    h.batch(recs)
    # length_batch releases [0..3] and [4..7]; the first two rows of each release
    assert values(h.rows, "k") == [(0,), (1,), (4,), (5,)]


def test_distinct_per_batch_not_across_batches() -> None:
    recs = talkers(3, n=120, span_ms=2 * MIN)
    h = Harness("@Name('D') select distinct ipfix.sourceIPv4Address as src from Flow#time_batch(1 min)")
    h.batch(recs)
    h.flush()
    expected = []
    for release, rows in by_batch(recs, MIN).items():
        seen: list[str] = []
        for r in rows:
            if r["sourceIPv4Address"] not in seen:
                seen.append(r["sourceIPv4Address"])
        expected += [(release, s) for s in seen]
    assert [(r.time_ms, r.values["src"]) for r in h.rows] == expected
    srcs = [s for _t, s in expected]
    assert len(srcs) > len(set(srcs))  # the same source appears again in the next batch


def test_distinct_compares_only_select_columns_and_comes_after_limit() -> None:
    recs = [(0, {"a": "x", "v": 3}), (1, {"a": "x", "v": 2}), (2, {"a": "y", "v": 1})]
    # sort by a column outside the select list; duplicates of 'a' collapse to the first
    h = Harness("@Name('D') select distinct a from Flow#time_batch(1 min) order by v")
    h.batch(recs)
    h.flush()
    assert values(h.rows, "a") == [("y",), ("x",)]
    assert all(list(r.values) == ["a"] for r in h.rows)
    # Esper applies the row limit before DISTINCT: two rows x, x collapse to one
    h = Harness("@Name('D') select distinct a from Flow#time_batch(1 min) order by v desc limit 2")
    h.batch(recs)
    h.flush()
    assert values(h.rows, "a") == [("x",)]


def test_order_by_an_aggregate_not_in_the_select_list() -> None:
    recs = talkers(9, n=200, span_ms=MIN - 1)
    h = Harness("""@Name('A') select ipfix.sourceIPv4Address as src, count(*) as flows
        from Flow#time_batch(1 min) group by ipfix.sourceIPv4Address
        order by sum(ipfix.octetDeltaCount) desc limit 4""")
    # only the first release: the second one reports the groups that left (count 0)
    h.batch(recs)
    h.flush()
    sums: dict[str, int] = defaultdict(int)
    counts: dict[str, int] = defaultdict(int)
    for _t, r in recs:
        sums[r["sourceIPv4Address"]] += r["octetDeltaCount"]
        counts[r["sourceIPv4Address"]] += 1
    top = sorted(sums, key=lambda s: -sums[s])[:4]
    assert len(set(sums.values())) == len(sums)  # no ties: the order is fully determined
    first = [r for r in h.rows if r.time_ms == h.rows[0].time_ms]
    assert values(first, "src", "flows") == [(s, counts[s]) for s in top]
    assert all(list(r.values) == ["src", "flows"] for r in h.rows)  # the sort key is not output


def test_order_by_group_expression_and_select_text() -> None:
    recs = [(i, {"p": i % 5, "b": i}) for i in range(20)]
    h = Harness("""@Name('G') select p + 1, count(*) as n from Flow#time_batch(1 min) group by p + 1
                   having count(*) > 0 order by p + 1 desc""")
    h.batch(recs)
    h.flush()
    assert values(h.rows, "p+1", "n") == [(5, 4), (4, 4), (3, 4), (2, 4), (1, 4)]


def test_ordering_with_output_rate_limiting() -> None:
    rnd = random.Random(11)
    recs = sorted(((rnd.randrange(30 * S), {"k": i, "v": rnd.randrange(1000)}) for i in range(60)),
                  key=lambda x: x[0])
    h = Harness("@Name('R') select k, v from Flow output every 10 sec order by v desc limit 3")
    h.batch(recs)
    h.flush()
    t0 = recs[0][0]
    groups: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for t, r in recs:
        groups[t0 + ((t - t0) // (10 * S) + 1) * 10 * S].append((r["k"], r["v"]))
    expected = []
    for release, rows in sorted(groups.items()):
        expected += [(release, k, v) for k, v in sorted(rows, key=lambda x: -x[1])[:3]]
    assert [(r.time_ms, r.values["k"], r.values["v"]) for r in h.rows] == expected


def test_ordering_with_output_last_per_group() -> None:
    recs = [(0, {"g": "a", "v": 1}), (1, {"g": "b", "v": 9}), (2, {"g": "a", "v": 5}),
            (3, {"g": "c", "v": 7}), (11 * S, {"g": "c", "v": 2})]
    h = Harness("""@Name('L') select g, sum(v) as s from Flow group by g
                   output last every 10 sec order by s desc""")
    h.batch(recs)
    h.flush()
    # first interval: last row per group a=6, b=9, c=7 -> sorted by s desc
    assert [(r.time_ms, r.values["g"], r.values["s"]) for r in h.rows] == [
        (10 * S, "b", 9), (10 * S, "c", 7), (10 * S, "a", 6), (20 * S, "c", 9)]


def test_insert_into_stream_receives_ordered_limited_rows() -> None:
    recs = talkers(21, n=150, span_ms=2 * MIN)
    h = Harness("""
        @Name('Top') insert into TopTalkers
        select ipfix.sourceIPv4Address as src, sum(ipfix.octetDeltaCount) as bytes
        from Flow#time_batch(1 min) group by ipfix.sourceIPv4Address having count(*) > 0
        order by bytes desc limit 2;
        @Name('Seen') select src, bytes from TopTalkers;
        @Name('Count') select count(*) as n from TopTalkers#time_batch(1 min)""")
    h.batch(recs)
    h.flush()
    expected = []
    for release, rows in by_batch(recs, MIN).items():
        sums: dict[str, int] = defaultdict(int)
        for r in rows:
            sums[r["sourceIPv4Address"]] += r["octetDeltaCount"]
        expected += [(release, s, sums[s]) for s in sorted(sums, key=lambda s: -sums[s])[:2]]
    assert [(r.time_ms, r.values["src"], r.values["bytes"]) for r in h.of("Seen")] == expected
    assert [(r.time_ms, r.values["src"], r.values["bytes"]) for r in h.of("Top")] == expected
    assert [r.values["n"] for r in h.of("Count")][:2] == [2, 2]


def test_hidden_sort_key_does_not_reach_the_inserted_stream() -> None:
    h = Harness("""@Name('Ins') insert into S select a from Flow#time_batch(1 min) order by b desc;
                   @Name('Read') select * from S""")
    h.batch([(0, {"a": "x", "b": 1}), (1, {"a": "y", "b": 2})])
    h.flush()
    assert [r.values for r in h.of("Read")] == [{"a": "y"}, {"a": "x"}]
    assert h.module.statement("Ins").select_names == ["a"]


def test_each_arriving_event_is_its_own_step() -> None:
    # no batch window, no output rate: one row per event, so DISTINCT removes nothing and an
    # offset of 1 drops every row (Esper outputs each event on its own)
    h = Harness("""@Name('D') select distinct a from Flow;
                   @Name('O') select a from Flow limit 1 offset 1;
                   @Name('L') select a, count(*) as n from Flow#length(10) order by a limit 1""")
    h.batch([(0, {"a": "x"}), (1, {"a": "x"}), (2, {"a": "y"})])
    assert values(h.of("D"), "a") == [("x",), ("x",), ("y",)]
    assert h.of("O") == []
    assert values(h.of("L"), "a", "n") == [("x", 1), ("x", 2), ("y", 3)]


def test_select_star_ordered_by_a_property() -> None:
    recs = [(i, {"k": i, "v": (i * 3) % 7}) for i in range(10)]
    h = Harness("@Name('S') select * from Flow#time_batch(1 min) order by v desc, k limit 3")
    h.batch(recs)
    h.flush()
    expected = sorted(((r["k"], r["v"]) for _t, r in recs), key=lambda p: (-p[1], p[0]))[:3]
    assert [(r.values["k"], r.values["v"]) for r in h.rows] == expected


def test_pattern_matches_of_one_event_are_ordered() -> None:
    h = Harness("""@Name('P') select a.n as first, b.n as second
        from pattern [every a=Flow(k='a') -> b=Flow(k='b')] order by first desc limit 2""")
    h.batch([(0, {"k": "a", "n": 1}), (1, {"k": "a", "n": 3}), (2, {"k": "a", "n": 2}),
             (3, {"k": "b", "n": 9})])
    # the 'b' event completes three instances at once: one step, sorted, limited to two
    assert values(h.rows, "first", "second") == [(3, 9), (2, 9)]


def test_join_rows_of_a_batch_are_ordered() -> None:
    h = Harness("""
        insert into Names select k, name from Flow(name is not null);
        @Name('J') select f.k as k, n.name as name, f.v as v
        from Flow(v is not null)#time_batch(1 min) as f, Names#length(100) as n
        where f.k = n.k order by v desc""")
    h.batch([(0, {"k": 1, "name": "one"}), (1, {"k": 2, "name": "two"}),
             (2, {"k": 1, "v": 5}), (3, {"k": 2, "v": 7}), (4, {"k": 1, "v": 9})])
    h.flush()
    assert values(h.of("J"), "name", "v") == [("one", 9), ("two", 7), ("one", 5)]


@pytest.mark.parametrize("text, needle, line, col", [
    ("select a from Flow limit 2.5", "LIMIT expects a whole number", 1, 26),
    ("select a from Flow\n  limit 2 offset -3", "offset must not be negative", 2, 18),
    ("select a from Flow limit x", "LIMIT or OFFSET from a variable", 1, 26),  # Esper: a variable
    ("select a, count(*) as n from Flow#time_batch(1 min) group by a\n order by b",
     "ORDER BY b: an aggregated statement orders by", 2, 11),
    ("insert into D select a as x from Flow;\nselect x from D order by y", "unknown property 'y'", 2, 26),
    ("select * from Flow#time_batch(1 min) order by count(*)", "need a select list", 1, 47),
])
def test_errors_are_one_line_with_position(text: str, needle: str, line: int, col: int) -> None:
    with pytest.raises(EPLError) as info:
        compile_module(text)
    msg = str(info.value)
    assert needle in msg and "\n" not in msg
    assert (info.value.line, info.value.column) == (line, col), msg


def test_mixed_types_in_one_key_sort_without_failing() -> None:
    recs = [(0, {"k": 1, "v": "x"}), (1, {"k": 2, "v": 3}), (2, {"k": 3, "v": None}),
            (3, {"k": 4, "v": 2.5}), (4, {"k": 5, "v": "a"}), (5, {"k": 6, "v": True})]
    h = Harness("@Name('M') select k, v from Flow#time_batch(1 min) order by v")
    h.batch(recs)
    h.flush()
    # null first; numbers (bool is a number, True == 1) ascending; then strings ascending
    assert values(h.rows, "k") == [(3,), (6,), (4,), (2,), (5,), (1,)]


def test_count_only_batches_are_ordered_too() -> None:
    # count(*) alone over a grouped time_batch takes the engine's counting fast path
    rnd = random.Random(17)
    recs = sorted(((rnd.randrange(2 * MIN), {"g": f"g{rnd.randrange(9)}"}) for _ in range(300)),
                  key=lambda x: x[0])
    h = Harness("""@Name('C') select g, count(*) as n from Flow#time_batch(1 min) group by g
                   having count(*) > 0 order by n desc, g limit 4;
                   @Name('H') select g from Flow#time_batch(1 min) group by g
                   having count(*) > 0 order by count(*) asc, g desc limit 2""")
    h.batch(recs)
    h.flush()
    exp_c, exp_h = [], []
    for release, rows in by_batch(recs, MIN).items():
        counts: dict[str, int] = defaultdict(int)
        for r in rows:
            counts[r["g"]] += 1
        exp_c += [(release, g, counts[g]) for g in sorted(counts, key=lambda g: (-counts[g], g))[:4]]
        low = sorted(sorted(counts, reverse=True), key=lambda g: counts[g])[:2]
        exp_h += [(release, g) for g in low]
    assert [(r.time_ms, r.values["g"], r.values["n"]) for r in h.of("C")] == exp_c
    assert [(r.time_ms, r.values["g"]) for r in h.of("H")] == exp_h


def test_output_intervals_split_a_batch_fed_at_once() -> None:
    # one input batch spanning several output intervals: each interval releases its own rows
    recs = [(t * S, {"k": t}) for t in (0, 3, 9, 10, 12, 25)]
    h = Harness("@Name('R') select k from Flow output every 10 sec")
    h.batch(recs)
    h.flush()
    assert [(r.time_ms, r.values["k"]) for r in h.rows] == [
        (10 * S, 0), (10 * S, 3), (10 * S, 9), (20 * S, 10), (20 * S, 12), (30 * S, 25)]


def test_hidden_sort_keys_in_joins_patterns_and_distinct_star() -> None:
    h = Harness("""insert into Names select k, name from Flow(name is not null);
        @Name('J') select n.name as name
        from Flow(v is not null)#time_batch(1 min) as f, Names#length(100) as n
        where f.k = n.k order by f.v desc""")
    h.batch([(0, {"k": 1, "name": "one"}), (1, {"k": 2, "name": "two"}),
             (2, {"k": 1, "v": 5}), (3, {"k": 2, "v": 7}), (4, {"k": 1, "v": 9})])
    h.flush()
    assert [r.values for r in h.of("J")] == [{"name": "one"}, {"name": "two"}, {"name": "one"}]
    h = Harness("""@Name('P') select a.n as first
        from pattern [every a=Flow(k='a') -> b=Flow(k='b')] order by a.m desc""")
    h.batch([(0, {"k": "a", "n": 1, "m": 5}), (1, {"k": "a", "n": 3, "m": 1}),
             (2, {"k": "a", "n": 2, "m": 9}), (3, {"k": "b", "n": 9})])
    assert [r.values for r in h.rows] == [{"first": 2}, {"first": 1}, {"first": 3}]
    h = Harness("@Name('S') select distinct * from Flow#time_batch(1 min)")
    h.batch([(0, {"a": 1}), (0, {"a": 1}), (1, {"a": 2})])
    h.flush()
    assert [r.values["a"] for r in h.rows] == [1, 2]
