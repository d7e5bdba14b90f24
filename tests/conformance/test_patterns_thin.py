"""Patterns the suite covered thinly: ``timer:interval`` alone, in followed-by, ``or``, ``and`` and
under ``timer:within`` (Esper's PatternObserverTimerInterval.PatternOp over event set one), operator
mixes (PatternOperatorOperatorMix), interval periods and expressions (PatternIntervalSpec...),
``every-distinct`` over followed-by. A timer's row is expected at the timer's own time
(``T<ms>``): Esper's harness credits it to the next event, sent once the clock got there."""

from __future__ import annotations

from typing import Any

import pytest

from flowcep_plugin.engine.harness import Harness, values

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
