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


# -- h-patterns: bounds, time, errors ----------------------------------------------------------------
import pytest  # noqa: E402

from flowcep_plugin.engine import compile_module, patterns  # noqa: E402
from flowcep_plugin.errors import EPLError  # noqa: E402


def test_followed_by_instances_are_bounded_and_counted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(patterns, "MAX_SUBEXPRESSIONS", 3)
    h = Harness("@Name('P') select a.v as a, b.v as b from pattern [every a=Flow(k='a') -> b=Flow(k='b')]")
    for i in range(5):
        h.send(i, k="a", v=i)
    h.send(10, k="b", v=99)
    # Esper's prevent-start: the first three a's wait for a b, the others never started
    assert sorted(values(h.rows, "a", "b")) == [(0, 99), (1, 99), (2, 99)]
    st = h.rt.stmts[0]
    assert st.stats["pattern-subexpression-limit"] == 2
    h.send(11, k="a", v=7)  # room again once the b completed them
    assert values(h.send(12, k="b", v=100), "a", "b") == [(7, 100)]


def test_every_distinct_keys_are_bounded_and_counted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(patterns, "MAX_DISTINCT_KEYS", 2)
    h = Harness("@Name('P') select a.v as v from pattern [every-distinct(a.v) a=Flow]")
    for t, v in enumerate([1, 2, 3, 1]):
        h.send(t, v=v)
    assert values(h.rows, "v") == [(1,), (2,), (3,), (1,)]  # 1 was forgotten to make room for 3
    assert h.rt.stmts[0].stats["pattern-distinct-key-evicted"] == 2


def test_and_results_are_bounded_and_counted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(patterns, "MAX_AND_RESULTS", 2)
    h = Harness("@Name('P') select b.v as b from pattern [every b=Flow(k='b') and d=Flow(k='d')]")
    for t in range(4):
        h.send(t, k="b", v=t)
    assert values(h.send(10, k="d"), "b") == [(2,), (3,)]
    assert h.rt.stmts[0].stats["pattern-and-result-evicted"] == 2


def test_repeating_timer_stops_at_the_horizon_after_the_last_event() -> None:
    h = Harness("@Name('P') select 'tick' as x from pattern [every timer:interval(10 sec)]")
    h.send(0, v=1)
    out = h.flush()  # the clock runs to infinity: without a horizon this never ends
    assert [r.time_ms for r in out] == [10_000]
    h2 = Harness("@Name('P') select 'tick' as x from pattern [every timer:interval(10 sec)]")
    h2.send(0, v=1)
    h2.send(35_000, v=2)  # events keep the timer going
    assert [r.time_ms for r in h2.watermark(35_000)] == [10_000, 20_000, 30_000]
    assert [r.time_ms for r in h2.watermark(10**15)] == [40_000]


def test_pattern_starts_with_the_runtime_clock() -> None:
    h = Harness("@Name('P') select b.v as v from pattern [timer:interval(5 sec) -> b=Flow]")
    h.watermark(1000)  # the pattern starts here, as an Esper statement starts at deployment
    h.send(5999, v=1)
    assert values(h.send(6000, v=2), "v") == [(2,)]


def test_within_timer_fires_between_events_of_one_batch() -> None:
    """The within deadline inside a batch: the restarted every sees the event after it."""
    h = Harness("@Name('P') select a.v as a, b.v as b from pattern "
                "[every (a=Flow(k='a') -> b=Flow(k='b')) where timer:within(10 sec)]")
    h.batch([(0, {"k": "x"}), (1000, {"k": "a", "v": 1}), (12_000, {"k": "a", "v": 2}),
             (13_000, {"k": "b", "v": 3})])
    # the first instance expires at 10 s; the every restarts it then, so a=2 -> b=3 matches
    assert values(h.rows, "a", "b") == [(2, 3)]


def test_hostile_values_never_match_a_null_correlation() -> None:
    h = Harness("@Name('P') select a.src as s from pattern "
                "[every a=Flow(k='a') -> b=Flow(k='b' and src = a.src)]")
    h.send(0, k="a")  # no src at all
    h.send(1, k="b")  # no src either: null = null is not true (SQL semantics)
    h.send(2, k="b", src=None)
    h.send(3, k="a", src="10.0.0.1")
    h.send(4, k="b", src="10.0.0.2")
    assert h.rows == []
    assert values(h.send(5, k="b", src="10.0.0.1"), "s") == [("10.0.0.1",)]


def test_pattern_over_a_derived_stream() -> None:
    h = Harness("""insert into Alerts select a.src as src from pattern [every a=Flow(k='scan')];
        @Name('P') select x.src as src from pattern [every x=Alerts -> y=Alerts(src = x.src)]""")
    for t, s in enumerate(["1", "2", "1"]):
        h.send(t, k="scan", src=s)
    assert values(h.of("P"), "src") == [("1",)]


@pytest.mark.parametrize("text, needle", [
    ("select * from Flow\n match_recognize (measures A.x as a pattern (A B) define A as A.x > 1)",
     "MATCH_RECOGNIZE"),
    ("select * from pattern [a=Flow -[10]> b=Flow]", "-[n]>"),
    ("select * from pattern [a=Flow while (a.x > 1)]", "WHILE"),
    ("select * from pattern [every timer:at(*, *, *, *, *)]", "timer:at"),
    ("select * from pattern [a=Flow@consume]", "@consume"),
    ("select * from pattern [a=Flow where timer:withinmax(1 sec, 2)]", "timer:withinmax"),
    ("select * from pattern [[1:3] a=Flow]", "needs an UNTIL"),
    ("select * from pattern [[0] a=Flow]", "at least 1"),
    ("select * from pattern [[3:2] a=Flow until b=Flow]", "lo <= hi"),
    ("select a.x from pattern [[2] a=Flow]", "repeated (an array)"),
    ("select a[0].x from pattern [a=Flow]", "is not repeated"),
    ("select * from pattern [not a=Flow]", "only NOT"),
    ("select * from pattern [every-distinct(5 sec) a=Flow]", "every-distinct takes"),
    ("select * from pattern [every-distinct(b.x) a=Flow -> b=Flow]", "tag of its sub-expression"),
])
def test_pattern_constructs_not_taken_are_named_with_a_position(text: str, needle: str) -> None:
    with pytest.raises(EPLError) as info:
        compile_module(text, "m.epl")
    assert needle in str(info.value) and info.value.line and info.value.column, str(info.value)


def test_pattern_docs_examples_compile_and_listed_constructs_are_rejected() -> None:
    import re
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "docs" / "epl.md").read_text(encoding="utf-8")
    doc = text[text.index("## Patterns\n"):text.index("## Time periods\n")]
    examples = re.findall(r"^```epl\n(.*?)^```", doc, re.S | re.M)
    assert len(examples) >= 2
    for text in examples:
        assert compile_module(text, "docs/epl.md").statements
    (unsupported,) = re.findall(r"^```text\n(.*?)^```", doc, re.S | re.M)
    for line in unsupported.splitlines():
        stmt = line.split("  ")[0].strip()
        if not stmt.startswith("select"):
            stmt = f"select * from {stmt}"
        with pytest.raises(EPLError):
            compile_module(stmt.replace("[...]", "[a=Flow]").replace("(...)", "(pattern (A))"))


def test_correlated_filters_looked_up_by_value_keep_order_and_nulls() -> None:
    """``src = a.src`` filters wait in an index by value; the hand-over order (more conditions
    first) still holds across indexed and plain filters, nulls never match and unhashable
    values fall back to trying every event."""
    h = Harness("""@Name('P') select a.n as n, b.n as m from pattern [every a=Flow(k='a') ->
        (b=Flow(k='b' and src = a.src) and not Flow(k='b' and src = a.src and bad = true))]""")
    h.send(0, k="a", src="x", n=1)
    h.send(1, k="a", src="y", n=2)
    h.send(2, k="a", n=3)                      # null src: its b can never come
    h.send(3, k="a", src=["l", 1], n=4)        # a list: not hashable
    h.send(4, k="b", src="x", bad=True, n=10)  # the NOT (3 conditions) sees it first: x is over
    h.send(5, k="b", src="y", n=11)
    h.send(6, k="b", n=12)
    h.send(7, k="b", src=["l", 1], n=13)
    h.send(8, k="b", src="x", n=14)
    assert values(h.rows, "n", "m") == [(2, 11), (4, 13)]


def test_pattern_bound_drops_reach_the_run_stats(monkeypatch: pytest.MonkeyPatch) -> None:
    from flowcep_plugin.context import Context
    from flowcep_plugin.engine.detector import EPLDetector
    from flowcep_plugin.engine.harness import flows
    from flowcep_plugin.specs import DetectorSpec

    monkeypatch.setattr(patterns, "MAX_SUBEXPRESSIONS", 1)
    spec = DetectorSpec(name="seq", summary="test", epl="@Name('P') select a.v as v from pattern "
                        "[every a=Flow(k='a') -> b=Flow(k='b')]")
    ctx = Context()
    det = EPLDetector(spec, {}, ctx)
    det.on_batch(flows((0, {"k": "a"}), (1, {"k": "a"}), (2, {"k": "a"})))
    det.on_watermark(3)
    assert ctx.stats.drops["pattern-subexpression-limit"] == 2
    assert ctx.stats.drops_by_source["seq"]["pattern-subexpression-limit"] == 2


def test_until_matches_and_dead_timers_stay_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(patterns, "MAX_AND_RESULTS", 3)
    h = Harness("@Name('P') select a[0].v as first, b.v as last from pattern [a=Flow(k='a') until b=Flow(k='b')]")
    for t in range(5):
        h.send(t, k="a", v=t)
    assert values(h.send(9, k="b", v=9), "first", "last") == [(2, 9)]  # the two oldest were dropped
    assert h.rt.stmts[0].stats["pattern-repeat-match-evicted"] == 2
    # instances that complete long before their within deadline leave no timer pile behind
    h2 = Harness("@Name('P') select a.v as v from pattern "
                 "[every a=Flow(k='a') -> b=Flow(k='b' and v = a.v) where timer:within(1 day)]")
    h2.batch([(t, {"k": "a" if t % 2 == 0 else "b", "v": t // 2}) for t in range(20_000)])
    assert len(h2.rows) == 10_000
    assert len(h2.rt.stmts[0].ctx.heap) <= 2048


def test_a_zero_period_timer_loop_stops_the_statement_and_is_counted() -> None:
    h = Harness("@Name('P') select 'x' as x from pattern [every timer:interval(0)]")
    h.send(0, v=1)
    h.watermark(10)  # would never return if the loop were not cut
    st = h.rt.stmts[0]
    assert st.stats["pattern-timer-loop"] == 1 and st.ended and st.next_due() is None
