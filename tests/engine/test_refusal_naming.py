"""The syntax-error hook names Esper constructs FlowCEP does not take (parser._named_construct);
these cases check the other side: an ordinary typo stays a plain syntax error at its position,
and is not reported as some Esper construct it merely stands next to."""

from __future__ import annotations

import pytest

from flowcep_plugin.engine.compiler import compile_module
from flowcep_plugin.engine.parser import parse_module
from flowcep_plugin.errors import EPLError

TYPOS = [
    ("select a,, b from Flow", 1, 10),
    ("select a from Flow where", 1, 25),
    ("select a form Flow", 1, 10),
    ("selct a from Flow", 1, 1),
    ("select a from Flow group a", 1, 26),
    ("select count(* from Flow", 1, 16),
    ("select a from pattern [a=Flow -> ]", 1, 34),
    ("select a from Flow#length(5", 1, 28),
    ("select a b c from Flow", 1, 10),
    ("select a from Flow output every", 1, 32),
    ("select a from Flow#time(1 minute\n", 2, 1),
    ("on Flow delete W", 1, 16),
    ("select case when a then 1 from Flow", 1, 27),
]


@pytest.mark.parametrize(("text", "line", "col"), TYPOS)
def test_a_typo_stays_a_plain_syntax_error(text: str, line: int, col: int) -> None:
    with pytest.raises(EPLError) as info:
        compile_module(text, "m.epl")
    msg = str(info.value)
    assert "syntax error" in msg and "unsupported construct" not in msg, msg
    assert (info.value.line, info.value.column) == (line, col), msg


def test_an_unsubstituted_parameter_is_not_an_array_literal() -> None:
    """``${name}`` left in the text (parse_module called without substitute_params)."""
    with pytest.raises(EPLError) as info:
        parse_module("select a from Flow#time(${window} sec)", "m.epl")
    assert "array literal" not in str(info.value), str(info.value)


def test_named_refusal_points_into_the_right_statement() -> None:
    """The rules read the statement the error is in, not an earlier one."""
    with pytest.raises(EPLError) as info:
        compile_module("select a from Flow output every 1 sec;\nselect a from Flow output when x > 1", "m.epl")
    assert str(info.value).startswith("m.epl:2:27: unsupported construct: output when"), str(info.value)
