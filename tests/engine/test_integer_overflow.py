"""Integer overflow: the decision, pinned. Esper computes ``+ - * %`` and ``sum`` in Java's ``int``
or ``long`` (by the operands' declared types), which wrap silently (``2147483647 + 1`` is
-2147483648). Flows carry no Java types, so FlowCEP cannot tell an ``int`` from a ``long``
property; it computes with unbounded integers instead and documents the difference
(docs/epl.md, "Where FlowCEP differs from Esper"). A byte counter summed over a window is then
exact where Esper's ``long`` would wrap past 2^63 - 1. ``cast(x, int)`` / ``cast(x, long)``
narrow as Java does (agreeing with Esper), which is how a rule asks for Java's wrapping.

These cases would fail if the engine started wrapping (or saturating, or raising) without the
docs saying so."""

from __future__ import annotations

from flowcep_plugin.engine.harness import Harness


def test_integer_literals_do_not_wrap() -> None:
    h = Harness("@Name('s0') select 2147483647 + 1 as a, -2147483648 - 1 as b, 2147483647 * 2 as c from Flow")
    h.send(1, x=1)
    # Esper (Java int): -2147483648, 2147483647, -2
    assert h.of("s0")[0].values == {"a": 2147483648, "b": -2147483649, "c": 4294967294}


def test_property_arithmetic_does_not_wrap_but_cast_narrows_as_java() -> None:
    h = Harness("@Name('s0') select v * 2 as b, cast(v * 2, int) as c, cast(v * 2, long) as d from Flow")
    h.send(1, v=2147483647)
    # cast(4294967294, int) is Java's (int) 4294967294L = -2; the long cast keeps the value
    assert h.of("s0")[0].values == {"b": 4294967294, "c": -2, "d": 4294967294}


def test_sum_past_the_long_range_is_exact() -> None:
    h = Harness("@Name('s0') select sum(w) as s from Flow")
    h.send(1, w=2**62)
    h.send(2, w=2**62)
    # Esper's long sum: -9223372036854775808 (2^63 wraps)
    assert [r.values["s"] for r in h.of("s0")] == [2**62, 2**63]


def test_cast_to_long_wraps_past_the_long_range() -> None:
    h = Harness("@Name('s0') select cast(w, long) as l from Flow")
    h.send(1, w=2**63)
    assert h.of("s0")[0].values["l"] == -(2**63)
