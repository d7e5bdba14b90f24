"""Statements Esper rejects are rejected here too, with a position; the ones it accepts compile
(PatternInvalid). FlowCEP's ``Flow`` accepts any property, so the property cases use a declared
schema ``N`` like Esper's typed ``SupportBean_N``."""

from __future__ import annotations

import pytest

from flowcep_plugin.engine import compile_module
from flowcep_plugin.errors import EPLError

SCHEMA = "create schema N(doublePrimitive double, doubleBoxed double, intBoxed int, intPrimitive int);\n"
CITE = "espertechinc/esper PatternInvalid."


def inv(pattern: str, method: str) -> object:
    return pytest.param(pattern, id=pattern,
                        marks=pytest.mark.esper("pattern-invalid", cite=CITE + method))


@pytest.mark.parametrize("pattern", [
    inv("N -> timer:within()", "PatternStatementException"),
    inv("N where timer:interval(100)", "PatternStatementException"),
    inv("N -> timer:interval()", "PatternStatementException"),
    inv("N where timer:within()", "PatternStatementException"),
    inv("N where timer:within('s')", "PatternStatementException"),
    inv("timer:at(9l)", "PatternStatementException"),
    inv("timer:interval(interval:10)", "PatternStatementException"),
    inv("N(dummy=1)", "PatternStatementException"),
    inv("N(doublePrimitive=x.abc)", "PatternStatementException"),
    inv("N(doublePrimitive='ss'", "PatternInvalidExpr"),
    inv("xx=N -> nb=N(doublePrimitive = na.doublePrimitive)", "PatternUseResult"),
    inv("na=N -> nb=N(doublePrimitive = xx.doublePrimitive)", "PatternUseResult"),
    inv("na=N -> nb=N(doublePrimitive = na.xx)", "PatternUseResult"),
    inv("xx=N -> nb=N(xx = na.doublePrimitive)", "PatternUseResult"),
    inv("na=N -> nb=N(xx = na.xx)", "PatternUseResult"),
])
def test_esper_rejects_so_do_we(pattern: str) -> None:
    with pytest.raises(EPLError) as info:
        compile_module(SCHEMA + f"select * from pattern[{pattern}]", "m.epl")
    assert info.value.line and info.value.column, str(info.value)


@pytest.mark.parametrize("pattern", [
    pytest.param(p, id=p, marks=pytest.mark.esper("pattern-invalid", cite=CITE + m)) for p, m in [
        ("(not a=N) -> N(doublePrimitive=a.doublePrimitive)", "PatternInvalidExpr"),
        ("na=N -> nb=N(doublePrimitive = na.doublePrimitive)", "PatternUseResult"),
        ("na=N -> nb=N(doublePrimitive = na.doublePrimitive and intBoxed=na.intBoxed)", "PatternUseResult"),
    ]])
def test_esper_accepts_so_do_we(pattern: str) -> None:
    assert compile_module(SCHEMA + f"select * from pattern[{pattern}]", "m.epl").statements
