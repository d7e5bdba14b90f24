"""Patterns after Esper's documented semantics: every, ->, within, and not, timer:interval."""

from __future__ import annotations

from flowcep_plugin.engine.harness import Harness, values

S = 1000


def test_every_followed_by_within_correlates_on_a_tag() -> None:
    h = Harness("""@Name('P')
        select a.src as src, b.dst as dst from pattern [
          every a=Flow(kind = 'syn') -> b=Flow(kind = 'ack' and src = a.src) where timer:within(10 sec)]""")
    h.send(0, kind="syn", src="x")
    h.send(1 * S, kind="syn", src="y")
    h.send(2 * S, kind="ack", src="y", dst="d1")   # completes y's chain only
    h.send(3 * S, kind="ack", src="x", dst="d2")   # completes x's chain
    h.send(4 * S, kind="ack", src="x", dst="d3")   # x's chain already done: no new match
    assert values(h.rows, "src", "dst") == [("y", "d1"), ("x", "d2")]
    assert [r.time_ms for r in h.rows] == [2 * S, 3 * S]


def test_within_expires_at_exactly_p() -> None:
    h = Harness("""@Name('P') select a.v as a, b.v as b from pattern [
        every a=Flow(kind='a') -> b=Flow(kind='b') where timer:within(10 sec)]""")
    h.send(0, kind="a", v=1)
    h.send(10 * S, kind="b", v=2)      # exactly 10 s after a: too late
    h.send(11 * S, kind="a", v=3)
    h.send(20_999, kind="b", v=4)      # 9.999 s after a=3: in time
    assert values(h.rows, "a", "b") == [(3, 4)]


def test_every_restarts_and_each_a_pairs_with_the_next_b() -> None:
    h = Harness("""@Name('P') select a.v as a, b.v as b from pattern [
        every a=Flow(kind='a') -> b=Flow(kind='b')]""")
    for t, k, v in [(0, "a", 1), (1, "a", 2), (2, "b", 3), (3, "b", 4), (4, "a", 5), (5, "b", 6)]:
        h.send(t, kind=k, v=v)
    assert values(h.rows, "a", "b") == [(1, 3), (2, 3), (5, 6)]


def test_without_every_the_pattern_matches_once() -> None:
    h = Harness("@Name('P') select a.v as a, b.v as b from pattern [a=Flow(kind='a') -> b=Flow(kind='b')]")
    for t, k, v in [(0, "a", 1), (1, "b", 2), (2, "a", 3), (3, "b", 4)]:
        h.send(t, kind=k, v=v)
    assert values(h.rows, "a", "b") == [(1, 2)]


def test_and_not_cancels_when_the_negated_event_comes_first() -> None:
    h = Harness("""@Name('P') select a.src as src from pattern [
        every a=Flow(kind='login_fail') ->
          (b=Flow(kind='login_ok' and src = a.src) and not c=Flow(kind='logout' and src = a.src))
          where timer:within(1 min)]""")
    h.send(0, kind="login_fail", src="x")
    h.send(1 * S, kind="login_fail", src="y")
    h.send(2 * S, kind="logout", src="x")     # kills x's chain
    h.send(3 * S, kind="login_ok", src="x")
    h.send(4 * S, kind="login_ok", src="y")
    assert values(h.rows, "src") == [("y",)]


def test_timer_interval_fires_on_the_watermark() -> None:
    h = Harness("""@Name('P') select a.v as v from pattern [
        every a=Flow(kind='a') -> (timer:interval(5 sec) and not Flow(kind='b'))]""")
    h.send(0, kind="a", v=1)
    h.send(1 * S, kind="a", v=2)
    h.send(2 * S, kind="b", v=0)      # cancels both pending chains
    h.send(3 * S, kind="a", v=3)
    assert h.watermark(7_999) == []
    out = h.watermark(8 * S)
    assert [(r.time_ms, r.values["v"]) for r in out] == [(8 * S, 3)]


def test_or_and_pattern_where_and_insert_into() -> None:
    h = Harness("""@Name('P') insert into Pairs select a.v as x, b.v as y from pattern [
          every a=Flow(kind='a') -> (b=Flow(kind='b') or b=Flow(kind='c'))] where b.v > 1;
        @Name('Q') select x, y from Pairs""")
    for t, k, v in [(0, "a", 1), (1, "c", 1), (2, "a", 2), (3, "b", 5)]:
        h.send(t, kind=k, v=v)
    assert values(h.of("Q"), "x", "y") == [(2, 5)]
