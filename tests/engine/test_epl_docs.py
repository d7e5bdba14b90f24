"""Every ```epl example in docs/epl.md compiles, and the documented semantics hold.

Blocks fenced as ```text are the syntax summary and the unsupported list; the constructs of
that list are checked to be rejected with a position (``REJECTED``).
"""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

import pytest

from flowcep_plugin.engine import compile_module
from flowcep_plugin.engine.harness import Harness
from flowcep_plugin.errors import EPLError

DOC = Path(__file__).resolve().parents[2] / "docs" / "epl.md"
PARAMS = {"window": 60, "threshold": 100}


def blocks(kind: str) -> list[tuple[int, str]]:
    text = DOC.read_text(encoding="utf-8")
    out = []
    for m in re.finditer(r"^```" + kind + r"\n(.*?)^```", text, re.S | re.M):
        out.append((text.count("\n", 0, m.start()) + 1, m.group(1)))
    return out


def test_the_reference_has_examples() -> None:
    assert len(blocks("epl")) >= 12


@pytest.mark.parametrize("line, text", blocks("epl"), ids=lambda v: f"line{v}" if isinstance(v, int) else "")
def test_every_epl_example_compiles(line: int, text: str) -> None:
    try:
        module = compile_module(text, f"docs/epl.md:{line}", PARAMS)
    except EPLError as exc:  # pragma: no cover - the message says where
        pytest.fail(f"example at docs/epl.md line {line} does not compile: {exc}")
    assert module.statements, f"example at line {line} has no statement"


REJECTED = [
    "select irstream a from Flow",
    "select a from Flow where a in (select b from Flow)",
    "create window W#time(1 min) as select * from Flow",
    "select prev(1, a) from Flow#length(3)",
    "select max(a, b) from Flow",
    "select stddev(a) from Flow",
    "select a from Flow#groupwin(a)#unique(b)",
    "select a from Flow#time_accum(1 sec)",
    "select a from Flow#sort(3, a)",
    "select * from Flow#unique(a)",
    "select a from Flow group by a",
    "select a from Flow output snapshot every 1 sec",
    "select a from Flow output every 10 events",
    "select a from Flow output when a > 1",
    "select a from Flow as x left outer join Flow as y on x.a = y.a",
    "select a.x from pattern [a=Flow while (a.x > 1)]",
    "select a.x from pattern [a=Flow where timer:at(1, 2)]",
    "select * from pattern [not a=Flow]",
    "select count(*) from pattern [a=Flow]",
    "select * from pattern [a=Flow] order by a.x",
    "select a from Flow where a = 'it''s'",
]


@pytest.mark.parametrize("text", REJECTED)
def test_documented_unsupported_constructs_are_rejected(text: str) -> None:
    with pytest.raises(EPLError) as info:
        compile_module(text)
    assert info.value.line == 1 and info.value.column, str(info.value)


def test_top_talkers_example_gives_the_top_three_of_each_minute() -> None:
    text = next(t for _l, t in blocks("epl") if "TopTalkers" in t)
    h = Harness(text)
    recs = [(t * 1000, {"sourceIPv4Address": f"10.0.0.{t % 7}", "octetDeltaCount": (t * 37) % 1000})
            for t in range(0, 150)]
    h.batch(recs)
    h.flush()
    per_minute: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for t, r in recs:
        per_minute[t // 60_000][r["sourceIPv4Address"]] += r["octetDeltaCount"]
    expected = []
    for minute in sorted(per_minute):
        sums = per_minute[minute]
        expected += [((minute + 1) * 60_000, s, sums[s]) for s in sorted(sums, key=lambda s: -sums[s])[:3]]
    last = (max(per_minute) + 1) * 60_000
    assert [(r.time_ms, r.values["src"], r.values["bytes"]) for r in h.rows if r.time_ms <= last] == expected
    # the empty batch after the last one reports the groups that left, with a null sum
    assert {r.values["bytes"] for r in h.rows if r.time_ms > last} == {None}

