"""regexp runs in linear time (issue 17): hostile values cannot stall the engine."""

from __future__ import annotations

import time

import pytest

from flowcep_plugin.engine.harness import Harness
from flowcep_plugin.errors import EPLError


@pytest.mark.timeout(10)
def test_nested_quantifier_on_a_30_char_field_is_fast() -> None:
    h = Harness("@Name('R') select u from Flow where u regexp '(a+)+b'")
    start = time.perf_counter()
    h.send(0, u="a" * 30)  # Python's re takes minutes on this; RE2 microseconds
    h.send(1, u="a" * 29 + "b")
    assert time.perf_counter() - start < 1.0
    assert [r.values["u"] for r in h.rows] == ["a" * 29 + "b"]


@pytest.mark.timeout(10)
def test_computed_pattern_is_linear_too() -> None:
    h = Harness("@Name('R') select u from Flow where u regexp p")
    start = time.perf_counter()
    h.send(0, u="a" * 30, p="(a+)+b")
    h.send(1, u="ab", p="(a+)+b")
    assert time.perf_counter() - start < 1.0
    assert [r.values["u"] for r in h.rows] == ["ab"]


def test_backreference_is_a_compile_error_with_position() -> None:
    with pytest.raises(EPLError) as info:
        Harness("select u from Flow\nwhere u regexp '(a)\\\\1'")
    err = info.value
    assert err.line == 2 and err.column and "backreferences" in str(err)
    assert "\n" not in str(err)


def test_regexp_matches_whole_value_and_dot_skips_newline() -> None:
    """Esper compiles the pattern with Java's defaults (no DOTALL): '.' is not a newline;
    (?s) asks for it, as in Java."""
    h = Harness("@Name('R') select u from Flow where u regexp 'a.b'")
    for i, u in enumerate(("a\nb", "xa-b", "a-b")):
        h.send(i, u=u)
    assert [r.values["u"] for r in h.rows] == ["a-b"]
    h = Harness("@Name('R') select u from Flow where u regexp '(?s)a.b'")
    for i, u in enumerate(("a\nb", "a-b")):
        h.send(i, u=u)
    assert [r.values["u"] for r in h.rows] == ["a\nb", "a-b"]


def test_constant_operands_compile_without_python_warnings() -> None:
    """A literal tested against a pattern compiles to ``'abc' is not None``: Python's
    SyntaxWarning about that generated source must not reach the user."""
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        h = Harness("@Name('R') select 'abc' regexp 'b' as b, 'abc' like 'a%' as c from Flow")
        h.send(1, u="x")
    assert [r.values for r in h.rows] == [{"b": False, "c": True}]
    assert [str(w.message) for w in caught if issubclass(w.category, SyntaxWarning)] == []
