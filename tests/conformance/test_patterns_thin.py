"""Patterns the suite covered thinly: ``timer:interval`` alone, in followed-by, ``or``, ``and`` and
under ``timer:within`` (Esper's PatternObserverTimerInterval.PatternOp over event set one), operator
mixes (PatternOperatorOperatorMix), interval periods and expressions (PatternIntervalSpec...),
``every-distinct`` over followed-by. A timer's row is expected at the timer's own time
(``T<ms>``): Esper's harness credits it to the next event, sent once the clock got there."""

from __future__ import annotations

from typing import Any

import pytest

from flowcep_plugin.engine.harness import Harness

from ._pattern_events import expect, run_set

TI = "PatternObserverTimerInterval.PatternOp"
MIX = "PatternOperatorOperatorMix"


def case(construct: str, cite: str, pattern: str, *expected: tuple[str, dict[str, Any]]) -> Any:
    return pytest.param(pattern, list(expected), id=pattern,
                        marks=pytest.mark.esper(construct, cite=f"espertechinc/esper {cite}"))


CASES = [
    case("pattern-timer", TI, "timer:interval(1999 msec)", ("T1999", {})),
    case("pattern-timer", TI, "timer:interval(1.999d)", ("T1999", {})),
    case("pattern-timer", TI, "timer:interval(2 sec)", ("T2000", {})),
    case("pattern-timer", TI, "timer:interval(2.001)", ("T2001", {})),
    case("pattern-timer", TI, "timer:interval(2999 milliseconds)", ("T2999", {})),
    case("pattern-timer", TI, "timer:interval(3 seconds)", ("T3000", {})),
    case("pattern-timer", TI, "timer:interval(3.001 seconds)", ("T3001", {})),
    case("pattern-timer", TI, "every timer:interval(3.001 sec)", ("T3001", {}), ("T6002", {}), ("T9003", {})),
    case("pattern-timer", TI, "every timer:interval(5000 msec)", ("T5000", {}), ("T10000", {})),
    case("pattern-timer", TI, "timer:interval(3.999 second) -> b=SupportBean_B", ("B2", {"b": "B2"})),
    case("pattern-timer", TI, "timer:interval(4 sec) -> b=SupportBean_B", ("B2", {"b": "B2"})),
    case("pattern-timer", TI, "timer:interval(4.001 sec) -> b=SupportBean_B", ("B3", {"b": "B3"})),
    case("pattern-timer", TI, "timer:interval(0) -> b=SupportBean_B", ("B1", {"b": "B1"})),
    case("pattern-timer", TI, "b=SupportBean_B -> timer:interval(0.001)", ("T2001", {"b": "B1"})),
    case("pattern-timer", TI, "b=SupportBean_B -> timer:interval(0)", ("B1", {"b": "B1"})),
    case("pattern-timer", TI, "b=SupportBean_B -> timer:interval(1 sec)", ("T3000", {"b": "B1"})),
    case("pattern-timer", TI, "b=SupportBean_B -> timer:interval(1.001)", ("T3001", {"b": "B1"})),
    case("pattern-timer", TI, "b=SupportBean_B() -> timer:interval(6.000) -> d=SupportBean_D",
         ("D2", {"b": "B1", "d": "D2"})),
    case("pattern-timer", TI, "every (b=SupportBean_B() -> timer:interval(2.001) -> d=SupportBean_D())",
         ("D1", {"b": "B1", "d": "D1"})),
    case("pattern-timer", TI, "every (b=SupportBean_B() -> timer:interval(2.000) -> d=SupportBean_D())",
         ("D1", {"b": "B1", "d": "D1"}), ("D3", {"b": "B3", "d": "D3"})),
    case("pattern-timer", TI, "b=SupportBean_B() or timer:interval(1.001)", ("T1001", {"b": None})),
    case("pattern-timer", TI, "b=SupportBean_B() or timer:interval(2.001)", ("B1", {"b": "B1"})),
    case("pattern-timer", TI, "b=SupportBean_B(id='B3') or timer:interval(8.500)", ("T8500", {"b": None})),
    case("pattern-timer", TI, "timer:interval(8.500) or timer:interval(7.500)", ("T7500", {})),
    case("pattern-timer", TI, "timer:interval(999999 msec) or g=SupportBean_G", ("G1", {"g": "G1"})),
    case("pattern-timer", TI, "b=SupportBean_B() and timer:interval(4000 msec)", ("T4000", {"b": "B1"})),
    case("pattern-timer", TI, "b=SupportBean_B() and timer:interval(4001 msec)", ("T4001", {"b": "B1"})),
    case("pattern-timer", TI, "timer:interval(9999999 msec) and b=SupportBean_B"),
    case("pattern-timer", TI, "timer:interval(1 msec) and b=SupportBean_B(id='B2')", ("B2", {"b": "B2"})),
    case("pattern-timer", TI, "timer:interval(3.000) where timer:within(2.000)"),
    case("pattern-timer", TI, "timer:interval(3.000) where timer:within (3.000)"),
    case("pattern-mix", MIX, "(b=SupportBean_B -> d=SupportBean_D) and (a=SupportBean_A -> e=SupportBean_E)",
         ("E1", {"b": "B1", "d": "D1", "a": "A1", "e": "E1"})),
    case("pattern-mix", MIX, "b=SupportBean_B -> (d=SupportBean_D() or a=SupportBean_A)",
         ("A2", {"b": "B1", "a": "A2", "d": None})),
    case("pattern-mix", MIX, "b=SupportBean_B -> d=SupportBean_D or a=SupportBean_A",
         ("A2", {"b": "B1", "a": "A2", "d": None})),
    case("pattern-mix", MIX, "b=SupportBean_B() -> ((d=SupportBean_D() -> a=SupportBean_A()) or "
         "(a=SupportBean_A() -> e=SupportBean_E()))", ("E1", {"b": "B1", "a": "A2", "e": "E1"})),
    case("pattern-mix", MIX, "b=SupportBean_B() and d=SupportBean_D or a=SupportBean_A",
         ("A1", {"a": "A1", "b": None, "d": None})),
    case("pattern-mix", MIX, "(b=SupportBean_B() -> d=SupportBean_D()) or a=SupportBean_A",
         ("A1", {"a": "A1", "b": None})),
    case("pattern-mix", MIX, "(b=SupportBean_B() and d=SupportBean_D()) or a=SupportBean_A",
         ("A1", {"a": "A1", "d": None})),
]


@pytest.mark.parametrize("pattern, expected", CASES)
def test_event_set_one_timers_and_mixes(pattern: str, expected: list[tuple[str, dict[str, Any]]]) -> None:
    expect(run_set(pattern), expected)


def start(text: str) -> Harness:
    h = Harness(text)
    h.watermark(0)
    return h


@pytest.mark.esper("pattern-timer", cite="espertechinc/esper PatternObserverTimerInterval.PatternIntervalSpec "
                   "(1 minute 2 seconds: not at 61999, at 62000)")
def test_interval_with_a_compound_period() -> None:
    h = start("@Name('s0') select * from pattern [timer:interval(1 minute 2 seconds)]")
    assert h.watermark(62 * 1000 - 1) == []
    assert len(h.watermark(62 * 1000)) == 1


@pytest.mark.parametrize("period", ["1*60+2 seconds", "intPrimitive seconds"])
@pytest.mark.esper("unsupported-is-an-error", cite="espertechinc/esper PatternObserverTimerInterval."
                   "PatternIntervalSpecExpression, ...ExpressionWithProperty (a period computed from an expression "
                   "is refused at its line and column)")
def test_interval_with_an_expression_period_is_refused(period: str) -> None:
    from flowcep_plugin.engine.compiler import compile_module
    from flowcep_plugin.errors import EPLError
    with pytest.raises(EPLError) as err:
        compile_module("@Name('s0')\nselect * from pattern [every a=Flow -> timer:interval(" + period + ")]", "<t>")
    assert str(err.value).startswith("<t>:2:"), str(err.value)


ED = "PatternOperatorEveryDistinct.{}"
# A script: (time or None for "same time", theString, intPrimitive, expected rows of this event)
Script = list[tuple[int | None, str, int, list[tuple[Any, ...]]]]


def _run_script(pattern: str, fields: tuple[str, ...], script: Script) -> None:
    h = start(f"@Name('s0') select * from pattern [{pattern}]")
    t = 0
    for when, s, i, want in script:
        if when is not None:
            t = when
            h.watermark(t)
        out = h.send(t, theString=s, intPrimitive=i)
        got = [tuple(_tag(r.values, f) for f in fields) for r in out]
        assert got == want, (s, got, want)


def _tag(values_: dict[str, Any], path: str) -> Any:
    tag, prop = path.split(".")
    ev = values_.get(tag)
    return None if ev is None else ev.get(prop)


def _two(name: str, template: str, expiry: str) -> list[Any]:
    return [pytest.param(template.format(""), id=f"{name}-no-expiry",
                         marks=pytest.mark.esper("pattern-every-distinct", cite=f"espertechinc/esper {ED.format(name)}")),
            pytest.param(template.format(", " + expiry), id=f"{name}-{expiry}",
                         marks=pytest.mark.esper("pattern-every-distinct",
                                                 cite=f"espertechinc/esper {ED.format(name)} (with expiry {expiry})"))]


@pytest.mark.parametrize("pattern", _two("PatternEveryDistinctOverTimerWithin",
                                         "every-distinct(a.intPrimitive{}) (a=Flow where timer:within(10 sec))",
                                         "1 hour"))
def test_every_distinct_over_timer_within(pattern: str) -> None:
    # the sub-expression turning false (its within expired, at 35 s and 45 s here) restarts it
    # with no keys seen: E10 at 50 s is output again, with or without an expiry
    _run_script(pattern, ("a.theString",), [
        (0, "E1", 1, [("E1",)]), (None, "E2", 1, []), (5000, "E3", 2, [("E3",)]), (10000, "E4", 1, []),
        (None, "E5", 1, []), (None, "E6", 2, []), (15000, "E7", 2, []), (20000, "E8", 2, []), (25000, "E9", 1, []),
        (50000, "E10", 1, [("E10",)]), (None, "E11", 1, []), (None, "E12", 2, [("E12",)]), (None, "E13", 2, []),
    ])


def _seq(*items: tuple[str, int, list[tuple[Any, ...]]]) -> Script:
    return [(None, s, i, want) for s, i, want in items]


@pytest.mark.parametrize("pattern", _two("PatternEveryDistinctOverAnd",
                                         "every-distinct(a.intPrimitive, b.intPrimitive{}) (a=Flow(theString like 'A%') "
                                         "and b=Flow(theString like 'B%'))", "1 hour"))
def test_every_distinct_over_and(pattern: str) -> None:
    _run_script(pattern, ("a.theString", "b.theString"), _seq(
        ("A1", 1, []), ("B1", 10, [("A1", "B1")]), ("A2", 1, []), ("B2", 10, []), ("A3", 2, []),
        ("B3", 10, [("A3", "B3")]), ("A4", 1, []), ("B4", 20, [("A4", "B4")]), ("A5", 2, []), ("B5", 10, []),
        ("A6", 2, []), ("B6", 20, [("A6", "B6")]), ("A7", 2, []), ("B7", 20, [])))


@pytest.mark.parametrize("pattern", _two("PatternEveryDistinctOverOr",
                                         "every-distinct(coalesce(a.intPrimitive, 0) + coalesce(b.intPrimitive, 0){}) "
                                         "(a=Flow(theString like 'A%') or b=Flow(theString like 'B%'))", "1 hour"))
def test_every_distinct_over_or(pattern: str) -> None:
    _run_script(pattern, ("a.theString", "b.theString"), _seq(
        ("A1", 1, [("A1", None)]), ("B1", 2, [(None, "B1")]), ("B2", 1, []), ("A2", 2, []), ("A3", 2, []),
        ("B3", 1, []), ("B4", 3, [(None, "B4")]), ("B5", 4, [(None, "B5")]), ("B6", 3, []), ("A4", 3, []),
        ("A5", 4, [])))


@pytest.mark.parametrize("pattern", _two("PatternEveryDistinctOverNot",
                                         "every-distinct(a.intPrimitive{}) (a=Flow(theString like 'A%') and "
                                         "not Flow(theString like 'B%'))", "1 hour"))
def test_every_distinct_over_not(pattern: str) -> None:
    # B1 makes the running sub-expression false: it restarts with no keys seen, so A4 (1) is output
    _run_script(pattern, ("a.theString",), _seq(
        ("A1", 1, [("A1",)]), ("A2", 1, []), ("A3", 2, [("A3",)]), ("B1", 1, []), ("A4", 1, [("A4",)]),
        ("A5", 1, [])))


@pytest.mark.parametrize("pattern", _two("PatternEveryDistinctOverFollowedBy",
                                         "every-distinct(a.intPrimitive + b.intPrimitive{}) (a=Flow(theString like "
                                         "'A%') -> b=Flow(theString like 'B%'))", "1 hour"))
def test_every_distinct_over_followed_by(pattern: str) -> None:
    _run_script(pattern, ("a.theString", "b.theString"), _seq(
        ("A1", 1, []), ("B1", 1, [("A1", "B1")]), ("A2", 1, []), ("B2", 1, []), ("A3", 10, []), ("B3", -8, []),
        ("A4", 2, []), ("B4", 1, [("A4", "B4")]), ("A5", 3, []), ("B5", 0, [])))


@pytest.mark.parametrize("pattern", _two("PatternEveryDistinctWithinFollowedBy",
                                         "(every-distinct(a.intPrimitive{}) a=Flow(theString like 'A%')) -> "
                                         "b=Flow(intPrimitive=a.intPrimitive)", "2 hours 1 minute"))
def test_every_distinct_within_followed_by(pattern: str) -> None:
    _run_script(pattern, ("a.theString", "b.theString"), _seq(
        ("A1", 1, []), ("B1", 0, []), ("B2", 1, [("A1", "B2")]), ("A2", 2, []), ("A3", 3, []), ("A4", 1, []),
        ("B3", 3, [("A3", "B3")]), ("B4", 1, []), ("B5", 2, [("A2", "B5")]), ("A5", 2, []), ("B6", 2, []),
        ("A6", 4, []), ("B7", 4, [("A6", "B7")])))


MU = "PatternOperatorMatchUntil.{}"


def _mu(construct: str, name: str) -> Any:
    return pytest.mark.esper(construct, cite=f"espertechinc/esper {MU.format(name)}")


def _abc(h: Harness, t: int, typ: str, i: str) -> list[Any]:
    return h.send(t, type=typ, id=i)


@_mu("pattern-until", "PatternUseFilter (a later filter reads the until's array tags: a[1], in (a[2]), "
     "!= a[0..2], between a[0] and a[1])")
@pytest.mark.parametrize(("cond", "sends", "want"), [
    ("theString = a[1].id", [("A3", 20), ("A2", 10)], [10]),
    ("theString in (a[2].id)", [("A2", 20), ("A3", 5)], [5]),
    ("theString != a[0].id and theString != a[1].id and theString != a[2].id", [("A2", 20), ("A1", 20), ("A6", 5)], [5]),
])
def test_until_array_tags_in_a_later_filter(cond: str, sends: list[tuple[str, int]], want: list[int]) -> None:
    h = start("@Name('s0') select c.intPrimitive as ci from pattern [a=Flow(type='A') until b=Flow(type='B') -> "
              f"c=Flow(type='SB' and {cond})]")
    t = 0
    for i in ("A1", "A2", "A3"):
        t += 1
        _abc(h, t, "A", i)
    t += 1
    _abc(h, t, "B", "B1")
    got = []
    for s, i in sends:
        t += 1
        got += [r.values["ci"] for r in h.send(t, type="SB", theString=s, intPrimitive=i)]
    assert got == want


@_mu("pattern-until", "PatternUseFilter (range: intPrimitive between a[0] and a[1] of the until's array)")
def test_until_array_tags_in_a_between_filter() -> None:
    h = start("@Name('s0') select c.intPrimitive as ci from pattern [a=Flow(theString like 'A%') until "
              "b=Flow(theString like 'B%') -> c=Flow(intPrimitive between a[0].intPrimitive and a[1].intPrimitive)]")
    for t, (s, i) in enumerate([("A1", 5), ("A2", 8), ("B1", -1)], start=1):
        h.send(t, theString=s, intPrimitive=i)
    got = [r.values["ci"] for t, (s, i) in enumerate([("E1", 20), ("E2", 3), ("E3", 5)], start=10)
           for r in h.send(t, theString=s, intPrimitive=i)]
    assert got == [5]


@_mu("pattern-repeat", "PatternRepeatUseTags (every [2] of a correlated followed-by; three [2] repeats in a "
     "followed-by reading A[0])")
def test_repeat_of_a_correlated_followed_by() -> None:
    h = start("@Name('s0') select * from pattern [every [2] (a=Flow(type='A') -> b=Flow(type='B' and id=a.id))]")
    for t, (typ, i) in enumerate([("A", "A1"), ("B", "A1"), ("A", "A2")], start=1):
        assert _abc(h, t, typ, i) == []
    assert len(_abc(h, 4, "B", "A2")) == 1
    h = start("@Name('s0') select * from pattern [ every [2] A=Flow(theString='1') "
              "-> [2] B=Flow(theString='2' and intPrimitive=A[0].intPrimitive) "
              "-> [2] C=Flow(theString='3' and intPrimitive=A[0].intPrimitive)]")
    out = [r for t, (s, i) in enumerate([("1", 10), ("1", 20), ("2", 10), ("2", 10), ("3", 10), ("3", 10)], start=1)
           for r in h.send(t, theString=s, intPrimitive=i)]
    assert len(out) == 1


@_mu("pattern-repeat", "PatternExpressionBounds (exactly-1: a -> [1] every (timer:interval(10) and not B) fires "
     "10 s after the B that restarted it)")
def test_repeat_one_of_every_interval_and_not() -> None:
    h = start("@Name('s0') select a.id as a from pattern [a=Flow(type='A') -> [1] every (timer:interval(10) and "
              "not Flow(type='B'))]")
    h.watermark(5000)
    _abc(h, 5000, "A", "A1")
    h.watermark(6000)
    assert _abc(h, 6000, "B", "B1") == []
    assert h.watermark(15999) == []
    assert [r.values["a"] for r in h.watermark(16000)] == ["A1"]
    assert h.watermark(999999) == []


@_mu("pattern-until", "PatternExpressionBounds (until [1] every (timer:interval(10) and not C): C at 1014999 "
     "restarts the interval, the until ends at 1024999)")
def test_until_repeat_one_of_every_interval_and_not() -> None:
    h = Harness("@Name('s0') select a.id as a, b[0].id as b0, b[1].id as b1 from pattern [a=Flow(type='A') -> "
                "b=Flow(type='B') until ([1] every (timer:interval(10) and not Flow(type='C')))]")
    h.watermark(1000000)
    h.watermark(1005000)
    _abc(h, 1005000, "A", "A1")
    h.watermark(1006000)
    _abc(h, 1006000, "B", "B1")
    h.watermark(1014999)
    _abc(h, 1014999, "B", "B2")
    _abc(h, 1014999, "C", "C1")
    assert h.watermark(1015000) == []
    assert h.watermark(1024998) == []
    assert [(r.values["a"], r.values["b0"], r.values["b1"]) for r in h.watermark(1024999)] == [("A1", "B1", "B2")]
    assert h.watermark(1999999) == []


@_mu("pattern-repeat", "PatternBoundRepeatWithNot (every [2] (e and not B): a B ends the running repeat, the "
     "next one starts over)")
def test_every_repeat_of_and_not() -> None:
    h = start("@Name('s0') select e[0].intPrimitive as e0, e[1].intPrimitive as e1 from pattern "
              "[every [2] (e = Flow(theString='A') and not Flow(theString='B'))]")
    got = [(i, [(r.values["e0"], r.values["e1"]) for r in h.send(i, theString=s, intPrimitive=i)])
           for s, i in (("A", 1), ("A", 2), ("A", 3), ("B", 4), ("A", 5), ("A", 6))]
    assert got == [(1, []), (2, [(1, 2)]), (3, []), (4, []), (5, []), (6, [(5, 6)])]


@pytest.mark.esper("unsupported-is-an-error", cite="espertechinc/esper PatternOperatorMatchUntil.PatternExpressionBounds "
                   "(a repeat count read from a tag, [s0.id]): refused at its line and column")
def test_repeat_bound_from_a_tag_is_refused() -> None:
    from flowcep_plugin.engine.compiler import compile_module
    from flowcep_plugin.errors import EPLError
    with pytest.raises(EPLError) as err:
        compile_module("@Name('s0')\nselect * from pattern [s0=Flow(type='S0') -> [s0.id] b=Flow(type='SB')]", "<t>")
    assert str(err.value).startswith("<t>:2:"), str(err.value)


GW = "PatternGuardTimerWithin.{}"


@pytest.mark.esper("pattern-within", cite=f"espertechinc/esper {GW.format('PatternInterval10Min')} ((every SB) where "
                   "timer:within(1 days 2 hours 3 minutes 4 seconds 5 milliseconds): the last accepted event is at "
                   "the period minus 1 ms)")
def test_within_with_a_compound_period() -> None:
    h = start("@Name('s0') select * from pattern [(every Flow) where timer:within(1 days 2 hours 3 minutes "
              "4 seconds 5 milliseconds)]")
    period = 24 * 60 * 60 * 1000 + 2 * 60 * 60 * 1000 + 3 * 60 * 1000 + 4 * 1000 + 5
    assert len(h.send(0, x=1)) == 1
    h.watermark(period - 1)
    assert len(h.send(period - 1, x=2)) == 1
    h.watermark(period)
    assert h.send(period, x=3) == []


@pytest.mark.esper("pattern-within", cite=f"espertechinc/esper {GW.format('PatternPatternNotFollowedBy')} (every (SB -> "
                   "(MD where timer:within(5 sec))): the instances started at 0 expired, the one started at 6 s "
                   "matches)")
def test_every_followed_by_within_restarts() -> None:
    h = start("@Name('s0') select * from pattern [ every(Flow(kind='SB') -> (Flow(kind='MD') where timer:within(5 sec))) ]")
    h.send(0, kind="SB", theString="E1")
    h.send(0, kind="SB", theString="E2")
    h.watermark(6000)
    h.send(6000, kind="SB", theString="E4")
    assert len(h.send(6000, kind="MD", symbol="E5")) >= 1


@pytest.mark.esper("unsupported-is-an-error", cite=f"espertechinc/esper {GW.format('PatternWithinFromExpression')} "
                   "(timer:within(a.intPrimitive seconds)): refused at its line and column")
def test_within_period_from_a_tag_is_refused() -> None:
    from flowcep_plugin.engine.compiler import compile_module
    from flowcep_plugin.errors import EPLError
    with pytest.raises(EPLError) as err:
        compile_module("@Name('s0')\nselect b.theString as id from pattern[a=Flow -> (every b=Flow) where "
                       "timer:within(a.intPrimitive seconds)]", "<t>")
    assert str(err.value).startswith("<t>:2:"), str(err.value)
