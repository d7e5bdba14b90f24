"""Esper's pattern test data, rebuilt as flow records, and a runner for its expectations.

Esper's pattern regression tests (PatternOperatorEvery, ...FollowedBy, ...And, ...Not,
...MatchUntil) run each pattern over one event sequence (``EventCollectionFactory
.getEventSetOne(0, 1000)``): the pattern starts at time 0 and the events A1 B1 C1 B2 A2 D1 E1 F1
D2 B3 G1 D3 arrive one per second from 1 s. Each ``SupportBean_X`` event type is a record with
``type = 'X'`` and ``id`` here, so ``b=SupportBean_B(id='B2')`` is written
``b=Flow(type='B' and id='B2')``. The expectation of a case is what the Esper test asserts:
for each event (or timer) that produced rows, the tags of each row. Only the data layout is
Esper's; the cases are written from the tests' assertions.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

from flowcep_plugin.engine.harness import Harness

#: (id, time ms) of Esper's event set one, in order
EVENT_SET_ONE: list[tuple[str, int]] = [
    (name, 1000 * (i + 1)) for i, name in enumerate(
        "A1 B1 C1 B2 A2 D1 E1 F1 D2 B3 G1 D3".split())
]
#: a uniform set (getSetTwoExternalClock): six events of type A
EVENT_SET_TWO: list[tuple[str, int]] = [
    (name, 1000 * (i + 1)) for i, name in enumerate("B1 B2 B3 A4 A5 A6".split())
]

_BEAN = re.compile(r"SupportBean_([A-G])\b(\(([^()]*)\))?")


def translate(pattern: str) -> str:
    """Esper's ``SupportBean_X(cond)`` atoms as filters on ``Flow``."""

    def repl(m: re.Match[str]) -> str:
        cond = (m.group(3) or "").strip()
        return f"Flow(type='{m.group(1)}'" + (f" and ({cond}))" if cond else ")")

    return _BEAN.sub(repl, pattern)


def _ident(v: Any) -> Any:
    if isinstance(v, list):
        return tuple(_ident(x) for x in v)
    if isinstance(v, dict):
        return v.get("id")
    return v


def run_set(pattern: str, events: list[tuple[str, int]] | None = None,
            type_of: dict[str, str] | None = None, until: int | None = None) -> list[tuple[int, dict[str, Any]]]:
    """Run an Esper pattern over an event set; rows as (time, {tag: id or tuple of ids})."""
    events = EVENT_SET_ONE if events is None else events
    h = Harness(f"@Name('P') select * from pattern [{translate(pattern)}]")
    h.watermark(0)  # the statement starts at time 0, as in Esper's harness
    for name, t in events:
        typ = (type_of or {}).get(name, name[0])
        h.send(t, type=typ, id=name)
    h.watermark(until if until is not None else events[-1][1] + 1)
    return [(r.time_ms, {k: _ident(v) for k, v in r.values.items()}) for r in h.of("P")]


def at(events: list[tuple[str, int]], name: str) -> int:
    return dict(events)[name]


def expect(rows: list[tuple[int, dict[str, Any]]], expected: list[tuple[str, dict[str, Any]]],
           events: list[tuple[str, int]] | None = None) -> None:
    """Compare as multisets per triggering event: Esper's harness does not order the rows of
    one event. ``expected`` names the event (or timer time as 'T<ms>') and the tags that must
    hold; tags not named are not compared."""
    events = EVENT_SET_ONE if events is None else events
    times = dict(events)

    def norm(t: int, tags: dict[str, Any], keys: list[str]) -> tuple[Any, ...]:
        return (t, tuple((k, tags.get(k)) for k in sorted(keys)))

    keys = sorted({k for _e, tags in expected for k in tags})
    want = Counter(norm(times[e] if e in times else int(e[1:]), tags, keys) for e, tags in expected)
    got = Counter(norm(t, tags, keys) for t, tags in rows)
    assert got == want, f"\nrows:     {sorted(got.elements())}\nexpected: {sorted(want.elements())}"
