"""Pattern operators over Esper's event set one (A1 B1 C1 B2 A2 D1 E1 F1 D2 B3 G1 D3, one per
second from 1 s, pattern started at 0): every case is a pattern and the rows Esper's regression
test asserts for it, by triggering event (``T<ms>`` for a timer). See ``_pattern_events``."""

from __future__ import annotations

from typing import Any

import pytest

from ._pattern_events import EVENT_SET_TWO, expect, run_set

EVERY = "PatternOperatorEvery.PatternOp"
FB = "PatternOperatorFollowedBy.PatternOpWHarness"
AND = "PatternOperatorAnd.PatternOperatorAndWHarness"
NOT = "PatternOperatorNot.PatternOperatorNotWHarness"
UNTIL = "PatternOperatorMatchUntil.PatternOp"
W = "PatternGuardTimerWithin.PatternOp"
OR = "PatternOperatorOr.PatternOperatorOrWHarness"

B, D = "SupportBean_B", "SupportBean_D"


def rows(*items: tuple[str, dict[str, Any]] | tuple[str, dict[str, Any], int]) -> list[tuple[str, dict[str, Any]]]:
    out: list[tuple[str, dict[str, Any]]] = []
    for it in items:
        n = it[2] if len(it) == 3 else 1  # type: ignore[misc]
        out += [(it[0], it[1])] * n
    return out


def case(construct: str, cite: str, pattern: str, *expected: Any) -> Any:
    return pytest.param(pattern, rows(*expected), id=pattern,
                        marks=pytest.mark.esper(construct, cite=f"espertechinc/esper {cite}"))


CASES = [
    # -- every -------------------------------------------------------------------------------
    case("pattern-every", EVERY, "every b=SupportBean_B",
         ("B1", {"b": "B1"}), ("B2", {"b": "B2"}), ("B3", {"b": "B3"})),
    case("pattern-every", EVERY, "b=SupportBean_B", ("B1", {"b": "B1"})),
    case("pattern-every", EVERY, "every (every (every b=SupportBean_B))",
         ("B1", {"b": "B1"}), ("B2", {"b": "B2"}, 3), ("B3", {"b": "B3"}, 9)),
    case("pattern-every", EVERY, "every (every b=SupportBean_B())",
         ("B1", {"b": "B1"}), ("B2", {"b": "B2"}, 2), ("B3", {"b": "B3"}, 4)),
    case("pattern-every", EVERY, "every( every (every (every b=SupportBean_B())))",
         ("B1", {"b": "B1"}), ("B2", {"b": "B2"}, 4), ("B3", {"b": "B3"}, 16)),
    # -- followed-by -------------------------------------------------------------------------
    case("pattern-followed-by", FB, "b=SupportBean_B -> (d=SupportBean_D or not d=SupportBean_D)",
         ("B1", {"b": "B1", "d": None}), ("D1", {"b": "B1", "d": "D1"})),
    case("pattern-followed-by", FB, "b=SupportBean_B -> every d=SupportBean_D",
         ("D1", {"b": "B1", "d": "D1"}), ("D2", {"b": "B1", "d": "D2"}), ("D3", {"b": "B1", "d": "D3"})),
    case("pattern-followed-by", FB, "b=SupportBean_B -> d=SupportBean_D", ("D1", {"b": "B1", "d": "D1"})),
    case("pattern-followed-by", FB, "b=SupportBean_B -> not d=SupportBean_D", ("B1", {"b": "B1"})),
    case("pattern-every", FB, "every b=SupportBean_B -> every d=SupportBean_D",
         ("D1", {"b": "B1", "d": "D1"}), ("D1", {"b": "B2", "d": "D1"}),
         ("D2", {"b": "B1", "d": "D2"}), ("D2", {"b": "B2", "d": "D2"}),
         ("D3", {"b": "B1", "d": "D3"}), ("D3", {"b": "B2", "d": "D3"}), ("D3", {"b": "B3", "d": "D3"})),
    case("pattern-every", FB, "every b=SupportBean_B -> d=SupportBean_D",
         ("D1", {"b": "B1", "d": "D1"}), ("D1", {"b": "B2", "d": "D1"}), ("D3", {"b": "B3", "d": "D3"})),
    case("pattern-every", FB, "every (b=SupportBean_B -> every d=SupportBean_D)",
         ("D1", {"b": "B1", "d": "D1"}), ("D2", {"b": "B1", "d": "D2"}), ("D3", {"b": "B1", "d": "D3"}),
         ("D3", {"b": "B3", "d": "D3"}, 2)),
    case("pattern-every", FB, "every (a_1=SupportBean_A() -> b=SupportBean_B -> a_2=SupportBean_A)",
         ("A2", {"a_1": "A1", "b": "B1", "a_2": "A2"})),
    case("pattern-followed-by", FB, "c=SupportBean_C() -> d=SupportBean_D -> a=SupportBean_A"),
    case("pattern-every", FB, "every ( every a=SupportBean_A -> every b=SupportBean_B)",
         ("B1", {"a": "A1", "b": "B1"}), ("B2", {"a": "A1", "b": "B2"}), ("B3", {"a": "A1", "b": "B3"}),
         ("B3", {"a": "A2", "b": "B3"}, 3)),
    case("pattern-every", FB, "every (a=SupportBean_A() -> every b=SupportBean_B())",
         ("B1", {"a": "A1", "b": "B1"}), ("B2", {"a": "A1", "b": "B2"}), ("B3", {"a": "A1", "b": "B3"}),
         ("B3", {"a": "A2", "b": "B3"}, 2)),
    # -- and -----------------------------------------------------------------------------------
    case("pattern-and", AND, "b=SupportBean_B and d=SupportBean_D", ("D1", {"b": "B1", "d": "D1"})),
    case("pattern-and", AND, "b=SupportBean_B and every d=SupportBean_D",
         ("D1", {"b": "B1", "d": "D1"}), ("D2", {"b": "B1", "d": "D2"}), ("D3", {"b": "B1", "d": "D3"})),
    case("pattern-and", AND, "every b=SupportBean_B and d=SupportBean_D",
         ("D1", {"b": "B1", "d": "D1"}), ("D1", {"b": "B2", "d": "D1"}), ("B3", {"b": "B3", "d": "D1"})),
    case("pattern-and", AND, "every(b=SupportBean_B and d=SupportBean_D)",
         ("D1", {"b": "B1", "d": "D1"}), ("B3", {"b": "B3", "d": "D2"})),
    case("pattern-and", AND, "every( b=SupportBean_B and every d=SupportBean_D)",
         ("D1", {"b": "B1", "d": "D1"}), ("D2", {"b": "B1", "d": "D2"}), ("B3", {"b": "B3", "d": "D2"}),
         ("D3", {"b": "B1", "d": "D3"}), ("D3", {"b": "B3", "d": "D3"}, 2)),
    case("pattern-and", AND, "every b=SupportBean_B and every d=SupportBean_D",
         ("D1", {"b": "B1", "d": "D1"}), ("D1", {"b": "B2", "d": "D1"}),
         ("D2", {"b": "B1", "d": "D2"}), ("D2", {"b": "B2", "d": "D2"}),
         ("B3", {"b": "B3", "d": "D1"}), ("B3", {"b": "B3", "d": "D2"}),
         ("D3", {"b": "B1", "d": "D3"}), ("D3", {"b": "B2", "d": "D3"}), ("D3", {"b": "B3", "d": "D3"})),
    case("pattern-and", AND, "every( every b=SupportBean_B and d=SupportBean_D)",
         ("D1", {"b": "B1", "d": "D1"}), ("D1", {"b": "B2", "d": "D1"}),
         ("B3", {"b": "B3", "d": "D1"}), ("B3", {"b": "B3", "d": "D2"}, 2)),
    case("pattern-and", AND, "every a=SupportBean_A and d=SupportBean_D and b=SupportBean_B",
         ("D1", {"b": "B1", "d": "D1", "a": "A1"}), ("D1", {"b": "B1", "d": "D1", "a": "A2"})),
    case("pattern-and", AND, "every( every b=SupportBean_B and every d=SupportBean_D)",
         ("D1", {"b": "B1", "d": "D1"}), ("D1", {"b": "B2", "d": "D1"}),
         ("D2", {"b": "B1", "d": "D2"}), ("D2", {"b": "B2", "d": "D2"}),
         ("B3", {"b": "B3", "d": "D1"}), ("B3", {"b": "B3", "d": "D2"}, 3),
         ("D3", {"b": "B1", "d": "D3"}), ("D3", {"b": "B2", "d": "D3"}), ("D3", {"b": "B3", "d": "D3"}, 5)),
    case("pattern-and", AND, "a=SupportBean_A and d=SupportBean_D and b=SupportBean_B",
         ("D1", {"b": "B1", "d": "D1", "a": "A1"})),
    case("pattern-and", AND, "every a=SupportBean_A and every d=SupportBean_D and b=SupportBean_B",
         *[(d, {"b": "B1", "d": d, "a": a}) for d in ("D1", "D2", "D3") for a in ("A1", "A2")]),
    case("pattern-and", AND, "b=SupportBean_B and b=SupportBean_B", ("B1", {"b": "B1"})),
    case("pattern-and", AND, "every a=SupportBean_A and every d=SupportBean_D and every b=SupportBean_B",
         *[("D1", {"b": b, "d": "D1", "a": a}) for b in ("B1", "B2") for a in ("A1", "A2")],
         *[("D2", {"b": b, "d": "D2", "a": a}) for b in ("B1", "B2") for a in ("A1", "A2")],
         *[("B3", {"b": "B3", "d": d, "a": a}) for d in ("D1", "D2") for a in ("A1", "A2")],
         *[("D3", {"b": b, "d": "D3", "a": a}) for b in ("B1", "B2", "B3") for a in ("A1", "A2")]),
    case("pattern-and", AND, "every (a=SupportBean_A and every d=SupportBean_D and b=SupportBean_B)",
         *[(d, {"b": "B1", "d": d, "a": "A1"}) for d in ("D1", "D2", "D3")]),
    case("pattern-and", AND, "every (b=SupportBean_B and b=SupportBean_B)",
         ("B1", {"b": "B1"}), ("B2", {"b": "B2"}), ("B3", {"b": "B3"})),
    # -- not -----------------------------------------------------------------------------------
    case("pattern-not", NOT, "b=SupportBean_B and not d=SupportBean_D", ("B1", {"b": "B1"})),
    case("pattern-not", NOT, "every b=SupportBean_B and not g=SupportBean_G",
         ("B1", {"b": "B1"}), ("B2", {"b": "B2"}), ("B3", {"b": "B3"})),
    case("pattern-not", NOT, "every b=SupportBean_B and not d=SupportBean_D",
         ("B1", {"b": "B1"}), ("B2", {"b": "B2"})),
    case("pattern-not", NOT, "b=SupportBean_B and not a=SupportBean_A(id='A1')"),
    case("pattern-not", NOT, "b=SupportBean_B and not a2=SupportBean_A(id='A2')", ("B1", {"b": "B1"})),
    case("pattern-not", NOT, "every (b=SupportBean_B and not b3=SupportBean_B(id='B3'))",
         ("B1", {"b": "B1"}), ("B2", {"b": "B2"})),
    case("pattern-not", NOT, "every (b=SupportBean_B or not SupportBean_D())"),
    case("pattern-not", NOT, "every (every b=SupportBean_B and not SupportBean_B(id='B2'))",
         ("B1", {"b": "B1"}), ("B3", {"b": "B3"}, 2)),
    case("pattern-not", NOT, "every (b=SupportBean_B and not SupportBean_B(id='B2'))",
         ("B1", {"b": "B1"}), ("B3", {"b": "B3"})),
    case("pattern-not", NOT, "(b=SupportBean_B -> d=SupportBean_D) and not SupportBean_A"),
    case("pattern-not", NOT, "(b=SupportBean_B -> d=SupportBean_D) and not SupportBean_G",
         ("D1", {"b": "B1", "d": "D1"})),
    case("pattern-not", NOT, "every (b=SupportBean_B -> d=SupportBean_D) and not SupportBean_G",
         ("D1", {"b": "B1", "d": "D1"})),
    case("pattern-not", NOT, "every (b=SupportBean_B -> d=SupportBean_D) and not SupportBean_G(id='x')",
         ("D1", {"b": "B1", "d": "D1"}), ("D3", {"b": "B3", "d": "D3"})),
    # -- match-until and repeat ------------------------------------------------------------------
    case("pattern-until", UNTIL, "a=SupportBean_A(id='A2') until SupportBean_D", ("D1", {"a": ("A2",)})),
    case("pattern-until", UNTIL, "a=SupportBean_A until SupportBean_D", ("D1", {"a": ("A1", "A2")})),
    case("pattern-until", UNTIL, "b=SupportBean_B until a=SupportBean_A", ("A1", {"b": (), "a": "A1"})),
    case("pattern-until", UNTIL, "b=SupportBean_B until SupportBean_D(id='D3')",
         ("D3", {"b": ("B1", "B2", "B3")})),
    case("pattern-until", UNTIL, "(a=SupportBean_A or b=SupportBean_B) until d=SupportBean_D(id='D3')",
         ("D3", {"a": ("A1", "A2"), "b": ("B1", "B2", "B3"), "d": "D3"})),
    case("pattern-until", UNTIL, "(a=SupportBean_A or b=SupportBean_B) until (g=SupportBean_G or d=SupportBean_D)",
         ("D1", {"a": ("A1", "A2"), "b": ("B1", "B2"), "d": "D1"})),
    case("pattern-until", UNTIL, "(d=SupportBean_D) until a=SupportBean_A(id='A1')", ("A1", {"d": ()})),
    case("pattern-until", UNTIL, "a=SupportBean_A until SupportBean_G(id='GX')"),
    case("pattern-repeat", UNTIL, "[2] a=SupportBean_A", ("A2", {"a": ("A1", "A2")})),
    case("pattern-repeat", UNTIL, "[2:2] a=SupportBean_A", ("A2", {"a": ("A1", "A2")})),
    case("pattern-repeat", UNTIL, "[1] a=SupportBean_A", ("A1", {"a": ("A1",)})),
    case("pattern-repeat", UNTIL, "[1:1] a=SupportBean_A", ("A1", {"a": ("A1",)})),
    case("pattern-repeat", UNTIL, "[3] a=SupportBean_A"),
    case("pattern-repeat", UNTIL, "[3] b=SupportBean_B", ("B3", {"b": ("B1", "B2", "B3")})),
    case("pattern-repeat", UNTIL, "[4] (a=SupportBean_A or b=SupportBean_B)",
         ("A2", {"a": ("A1", "A2"), "b": ("B1", "B2")})),
    case("pattern-until", UNTIL, "[2] b=SupportBean_B until a=SupportBean_A(id='A1')"),
    case("pattern-until", UNTIL, "[2] b=SupportBean_B until c=SupportBean_C"),
    case("pattern-until", UNTIL, "[2:2] b=SupportBean_B until g=SupportBean_G(id='G1')",
         ("B2", {"b": ("B1", "B2"), "g": None})),
    case("pattern-until", UNTIL, "[:4] b=SupportBean_B until g=SupportBean_G(id='G1')",
         ("G1", {"b": ("B1", "B2", "B3"), "g": "G1"})),
    case("pattern-until", UNTIL, "[:3] b=SupportBean_B until g=SupportBean_G(id='G1')",
         ("G1", {"b": ("B1", "B2", "B3"), "g": "G1"})),
    case("pattern-until", UNTIL, "[:2] b=SupportBean_B until g=SupportBean_G(id='G1')",
         ("G1", {"b": ("B1", "B2"), "g": "G1"})),
    case("pattern-until", UNTIL, "[:1] b=SupportBean_B until g=SupportBean_G(id='G1')",
         ("G1", {"b": ("B1",), "g": "G1"})),
    case("pattern-until", UNTIL, "[:1] b=SupportBean_B until a=SupportBean_A(id='A1')",
         ("A1", {"b": (), "a": "A1"})),
    case("pattern-until", UNTIL, "[1:] b=SupportBean_B until g=SupportBean_G(id='G1')",
         ("G1", {"b": ("B1", "B2", "B3"), "g": "G1"})),
    case("pattern-until", UNTIL, "[1:] b=SupportBean_B until a=SupportBean_A"),
    case("pattern-until", UNTIL, "[2:] b=SupportBean_B until a=SupportBean_A(id='A2')",
         ("A2", {"b": ("B1", "B2"), "a": "A2"})),
    case("pattern-until", UNTIL, "[2:] b=SupportBean_B until c=SupportBean_C"),
    case("pattern-until", UNTIL + " (same event: until wins)", "[2:] b=SupportBean_B until e=SupportBean_B(id='B2')"),
    case("pattern-until", UNTIL + " (same event: until wins)", "[1:] b=SupportBean_B until e=SupportBean_B(id='B1')"),
    case("pattern-until", UNTIL, "[1:2] b=SupportBean_B until a=SupportBean_A(id='A2')",
         ("A2", {"b": ("B1", "B2"), "a": "A2"})),
    case("pattern-until", UNTIL, "[1:3] b=SupportBean_B until SupportBean_G", ("G1", {"b": ("B1", "B2", "B3")})),
    case("pattern-until", UNTIL, "[1:2] b=SupportBean_B until SupportBean_G", ("G1", {"b": ("B1", "B2")})),
    case("pattern-until", UNTIL, "[1:10] b=SupportBean_B until SupportBean_F", ("F1", {"b": ("B1", "B2")})),
    case("pattern-until", UNTIL, "[1:10] b=SupportBean_B until SupportBean_C", ("C1", {"b": ("B1",)})),
    case("pattern-until", UNTIL, "[0:1] b=SupportBean_B until SupportBean_C", ("C1", {"b": ("B1",)})),
    case("pattern-repeat", UNTIL, "c=SupportBean_C -> [2] b=SupportBean_B -> d=SupportBean_D",
         ("D3", {"c": "C1", "b": ("B2", "B3"), "d": "D3"})),
    case("pattern-repeat", UNTIL, "[3] d=SupportBean_D or [3] b=SupportBean_B", ("B3", {"b": ("B1", "B2", "B3")})),
    case("pattern-repeat", UNTIL, "[3] d=SupportBean_D or [4] b=SupportBean_B", ("D3", {"d": ("D1", "D2", "D3")})),
    case("pattern-repeat", UNTIL, "[2] d=SupportBean_D and [2] b=SupportBean_B",
         ("D2", {"d": ("D1", "D2"), "b": ("B1", "B2")})),
    case("pattern-until", UNTIL, "d=SupportBean_D until timer:interval(7 sec)", ("T7000", {"d": ("D1",)})),
    case("pattern-until", UNTIL, "every (d=SupportBean_D until b=SupportBean_B)",
         ("B1", {"d": (), "b": "B1"}), ("B2", {"d": (), "b": "B2"}), ("B3", {"d": ("D1", "D2"), "b": "B3"})),
    case("pattern-until", UNTIL + " (every binds tighter than until)", "every d=SupportBean_D until b=SupportBean_B",
         ("B1", {"d": (), "b": "B1"})),
    case("pattern-until", UNTIL, "(every d=SupportBean_D) until b=SupportBean_B", ("B1", {"d": (), "b": "B1"})),
    case("pattern-until", UNTIL, "a=SupportBean_A until (every (timer:interval(6 sec) and not SupportBean_A))",
         ("G1", {"a": ("A1", "A2")})),
    case("pattern-until", UNTIL, "SupportBean_A until (every (timer:interval(7 sec) and not SupportBean_A))",
         ("D3", {})),
    case("pattern-repeat", UNTIL, "[2] (a=SupportBean_A or b=SupportBean_B)",
         ("B1", {"a": ("A1",), "b": ("B1",)})),
    case("pattern-repeat", UNTIL, "every [2] a=SupportBean_A", ("A2", {"a": ("A1", "A2")})),
    case("pattern-until", UNTIL + " (ESPER-339)", "every [2] a=SupportBean_A until d=SupportBean_D",
         ("D1", {"a": ("A1", "A2"), "d": "D1"})),
    # -- timer:within: counted from when its sub-expression starts --------------------------------
    case("pattern-within", W, "b=SupportBean_B(id='B1') where timer:within(2 sec)"),
    case("pattern-within", W, "b=SupportBean_B(id='B1') where timer:within(2001 msec)", ("B1", {"b": "B1"})),
    case("pattern-within", W, "b=SupportBean_B(id='B1') where timer:within(1999 msec)"),
    case("pattern-within", W, "b=SupportBean_B(id=\"B3\") where timer:within(10.001d)", ("B3", {"b": "B3"})),
    case("pattern-within", W, "b=SupportBean_B(id='B3') where timer:within(10001 msec)", ("B3", {"b": "B3"})),
    case("pattern-within", W, "b=SupportBean_B(id='B3') where timer:within(10 sec)"),
    case("pattern-within", W, "b=SupportBean_B(id='B3') where timer:within(9.999)"),
    case("pattern-within", W, "(every b=SupportBean_B) where timer:within(2.001)", ("B1", {"b": "B1"})),
    case("pattern-within", W, "(every b=SupportBean_B) where timer:within(4.001)",
         ("B1", {"b": "B1"}), ("B2", {"b": "B2"})),
    case("pattern-within", W, "every b=SupportBean_B where timer:within(2.001)",
         ("B1", {"b": "B1"}), ("B2", {"b": "B2"}), ("B3", {"b": "B3"})),
    case("pattern-within", W, "every (b=SupportBean_B where timer:within(2001 msec))",
         ("B1", {"b": "B1"}), ("B2", {"b": "B2"}), ("B3", {"b": "B3"})),
    case("pattern-within", W, "every ((every b=SupportBean_B) where timer:within(2.001))",
         ("B1", {"b": "B1"}), ("B2", {"b": "B2"}, 2), ("B3", {"b": "B3"}, 4)),
    case("pattern-within", W, "every ((every b=SupportBean_B) where timer:within(6.001))",
         ("B1", {"b": "B1"}), ("B2", {"b": "B2"}, 2), ("B3", {"b": "B3"}, 4)),
    case("pattern-within", W, "(every b=SupportBean_B) where timer:within(11.001)",
         ("B1", {"b": "B1"}), ("B2", {"b": "B2"}), ("B3", {"b": "B3"})),
    case("pattern-within", W, "(every b=SupportBean_B) where timer:within(4001 milliseconds)",
         ("B1", {"b": "B1"}), ("B2", {"b": "B2"})),
    case("pattern-within", W, "every (b=SupportBean_B) where timer:within(6.001)",
         ("B1", {"b": "B1"}), ("B2", {"b": "B2"}), ("B3", {"b": "B3"})),
    case("pattern-within", W, "b=SupportBean_B -> d=SupportBean_D where timer:within(4001 milliseconds)",
         ("D1", {"b": "B1", "d": "D1"})),
    case("pattern-within", W, "b=SupportBean_B() -> d=SupportBean_D() where timer:within(4 sec)"),
    case("pattern-within", W, "every (b=SupportBean_B() where timer:within (4.001) and d=SupportBean_D() where timer:within(6.001))",
         ("D1", {"b": "B1", "d": "D1"}), ("B3", {"b": "B3", "d": "D2"})),
    case("pattern-within", W, "b=SupportBean_B() where timer:within (2001 msec) and d=SupportBean_D() where timer:within(6001 msec)",
         ("D1", {"b": "B1", "d": "D1"})),
    case("pattern-within", W, "b=SupportBean_B() where timer:within (2001 msec) and d=SupportBean_D() where timer:within(6000 msec)"),
    case("pattern-within", W, "b=SupportBean_B() where timer:within (2000 msec) and d=SupportBean_D() where timer:within(6001 msec)"),
    case("pattern-within", W, "every b=SupportBean_B -> d=SupportBean_D where timer:within(4000 msec)",
         ("D1", {"b": "B2", "d": "D1"}), ("D3", {"b": "B3", "d": "D3"})),
    case("pattern-within", W, "every b=SupportBean_B() -> every d=SupportBean_D where timer:within(4000 msec)",
         ("D1", {"b": "B1", "d": "D1"}), ("D1", {"b": "B2", "d": "D1"}),
         ("D2", {"b": "B1", "d": "D2"}), ("D2", {"b": "B2", "d": "D2"}),
         ("D3", {"b": "B1", "d": "D3"}), ("D3", {"b": "B2", "d": "D3"}), ("D3", {"b": "B3", "d": "D3"})),
    case("pattern-within", W, "b=SupportBean_B() -> d=SupportBean_D() where timer:within(3999 msec)"),
    case("pattern-within", W, "every b=SupportBean_B() -> (every d=SupportBean_D) where timer:within(2001 msec)",
         ("D1", {"b": "B2", "d": "D1"}), ("D3", {"b": "B3", "d": "D3"})),
    case("pattern-within", W, "every (b=SupportBean_B() -> d=SupportBean_D()) where timer:within(6001 msec)",
         ("D1", {"b": "B1", "d": "D1"}), ("D3", {"b": "B3", "d": "D3"})),
    case("pattern-within", W, "b=SupportBean_B() where timer:within (2000 msec) or d=SupportBean_D() where timer:within(6000 msec)"),
    case("pattern-within", W, "(b=SupportBean_B() where timer:within (2000 msec) or d=SupportBean_D() where timer:within(6000 msec)) where timer:within (1999 msec)"),
    case("pattern-within", W, "every (b=SupportBean_B() where timer:within (2001 msec) and d=SupportBean_D() where timer:within(6001 msec))",
         ("D1", {"b": "B1", "d": "D1"}), ("B3", {"b": "B3", "d": "D2"})),
    case("pattern-within", W, "b=SupportBean_B() where timer:within (2001 msec) or d=SupportBean_D() where timer:within(6001 msec)",
         ("B1", {"b": "B1"})),
    case("pattern-within", W, "b=SupportBean_B() where timer:within (2000 msec) or d=SupportBean_D() where timer:within(6001 msec)",
         ("D1", {"d": "D1"})),
    case("pattern-within", W, "every b=SupportBean_B() where timer:within (2001 msec) and every d=SupportBean_D() where timer:within(6001 msec)",
         ("D1", {"b": "B1", "d": "D1"}), ("D1", {"b": "B2", "d": "D1"}),
         ("D2", {"b": "B1", "d": "D2"}), ("D2", {"b": "B2", "d": "D2"}),
         ("B3", {"b": "B3", "d": "D1"}), ("B3", {"b": "B3", "d": "D2"}),
         ("D3", {"b": "B1", "d": "D3"}), ("D3", {"b": "B2", "d": "D3"}), ("D3", {"b": "B3", "d": "D3"})),
    case("pattern-within", W, "(every b=SupportBean_B) where timer:within (2000 msec) and every d=SupportBean_D() where timer:within(6001 msec)"),
    # -- or ------------------------------------------------------------------------------------
    case("pattern-or", OR, "a=SupportBean_A or a=SupportBean_A", ("A1", {"a": "A1"})),
    case("pattern-or", OR, "a=SupportBean_A or b=SupportBean_B or c=SupportBean_C", ("A1", {"a": "A1"})),
    case("pattern-or", OR, "every b=SupportBean_B or every d=SupportBean_D",
         ("B1", {"b": "B1"}), ("B2", {"b": "B2"}), ("D1", {"d": "D1"}), ("D2", {"d": "D2"}),
         ("B3", {"b": "B3"}), ("D3", {"d": "D3"})),
    case("pattern-or", OR, "a=SupportBean_A or b=SupportBean_B", ("A1", {"a": "A1"})),
    case("pattern-or", OR, "a=SupportBean_A or every b=SupportBean_B", ("A1", {"a": "A1"})),
    case("pattern-or", OR, "every a=SupportBean_A or d=SupportBean_D",
         ("A1", {"a": "A1"}), ("A2", {"a": "A2"}), ("D1", {"d": "D1"})),
    case("pattern-or", OR, "every (every b=SupportBean_B() or d=SupportBean_D())",
         ("B1", {"b": "B1"}), ("B2", {"b": "B2"}, 2), ("D1", {"d": "D1"}, 4), ("D2", {"d": "D2"}, 4),
         ("B3", {"b": "B3"}, 4), ("D3", {"d": "D3"}, 8)),
    case("pattern-or", OR, "every (b=SupportBean_B() or every d=SupportBean_D())",
         ("B1", {"b": "B1"}), ("B2", {"b": "B2"}), ("D1", {"d": "D1"}), ("D2", {"d": "D2"}, 2),
         ("B3", {"b": "B3"}, 4), ("D3", {"d": "D3"}, 4)),
    case("pattern-or", OR, "every (every d=SupportBean_D() or every b=SupportBean_B())",
         ("B1", {"b": "B1"}), ("B2", {"b": "B2"}, 2), ("D1", {"d": "D1"}, 4), ("D2", {"d": "D2"}, 8),
         ("B3", {"b": "B3"}, 16), ("D3", {"d": "D3"}, 32)),
]


@pytest.mark.parametrize("pattern, expected", CASES)
def test_event_set_one(pattern: str, expected: list[tuple[str, dict[str, Any]]]) -> None:
    expect(run_set(pattern), expected)


@pytest.mark.esper("pattern-not", cite="espertechinc/esper PatternOperatorNot.PatternUniformEvents")
def test_every_and_not_on_uniform_events() -> None:
    got = run_set("every a=SupportBean_A() and not a1=SupportBean_A(id='A4')", EVENT_SET_TWO,
                  type_of={n: "A" for n, _t in EVENT_SET_TWO})
    expect(got, [("B1", {"a": "B1"}), ("B2", {"a": "B2"}), ("B3", {"a": "B3"})], EVENT_SET_TWO)


MANUAL_SEQ = [(n, 1000 * (i + 1)) for i, n in enumerate("A1 B1 C1 B2 A2 D1 A3 B3 E1 A4 F1 B4".split())]


@pytest.mark.parametrize("pattern, pairs", [
    ("every (a=SupportBean_A -> b=SupportBean_B)", ["A1 B1", "A2 B3", "A4 B4"]),
    ("every a=SupportBean_A -> b=SupportBean_B", ["A1 B1", "A2 B3", "A3 B3", "A4 B4"]),
    ("a=SupportBean_A -> every b=SupportBean_B", ["A1 B1", "A1 B2", "A1 B3", "A1 B4"]),
    ("every a=SupportBean_A -> every b=SupportBean_B",
     ["A1 B1", "A1 B2", "A1 B3", "A1 B4", "A2 B3", "A2 B4", "A3 B3", "A3 B4", "A4 B4"]),
])
@pytest.mark.esper("pattern-every", cite="Esper reference, EPL Reference: Patterns, 'Every' "
                                         "(the table of every A -> B variants)")
def test_manual_every_table(pattern: str, pairs: list[str]) -> None:
    expected = [(p.split()[1], {"a": p.split()[0], "b": p.split()[1]}) for p in pairs]
    expect(run_set(pattern, MANUAL_SEQ), expected, MANUAL_SEQ)
