"""Subqueries against a brute-force oracle: each outer event's values recomputed from the
subquery window's contents at its arrival (the window takes the event first when it reads
the statement's own stream), whatever the batches the input is cut into."""

from __future__ import annotations

import random
from collections import deque
from typing import Any

import pytest

from flowcep_plugin.engine.harness import Harness

TEXT = ("@Name('Q') select id, (select count(*) from Flow{f}#length(5) as w where w.k = o.k) as n, "
        "k in (select k from Flow{f}#length(5)) as i, "
        "(select max(v) from Flow{f}#length(5)) as m, "
        "exists (select * from Flow{f}#length(5) as w where w.v > o.v) as e "
        "from Flow(s = 0) as o")


def expected(events: list[dict[str, Any]], same: bool) -> list[tuple[Any, ...]]:
    window: deque[dict[str, Any]] = deque(maxlen=5)
    out = []
    for ev in events:
        if same or ev["s"] == 1:
            window.append(ev)  # the subquery's window takes the event first
        if ev["s"] != 0:
            continue
        ks = [w["k"] for w in window]
        vs = [w["v"] for w in window]
        out.append((ev["id"], sum(1 for k in ks if k == ev["k"]), (ev["k"] in ks) if ks else False,
                    max(vs) if vs else None, any(v > ev["v"] for v in vs)))
    return out


# the subquery reads: the statement's own stream (fed by the statement), other events of it,
# or a derived stream (a consumer of its own, the input then goes one event at a time)
SOURCES = {"own-stream": "", "other-events": "(s = 1)", "derived": "X"}


@pytest.mark.parametrize("source", sorted(SOURCES))
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_subquery_values_match_the_oracle(source: str, seed: int) -> None:
    rnd = random.Random(seed)
    events = [{"id": i, "s": rnd.randrange(2), "k": rnd.randrange(4), "v": rnd.randrange(10)} for i in range(80)]
    same = source == "own-stream"
    text = TEXT.format(f=SOURCES[source])
    if source == "derived":
        text = "insert into X select k, v from Flow(s = 1);\n" + text.replace("from FlowX#", "from X#")
    h = Harness(text)
    pos = 0
    while pos < len(events):  # batches of random sizes, several events sharing a time
        n = rnd.randint(1, 9)
        h.batch([(e["id"] // 3, e) for e in events[pos:pos + n]])
        pos += n
    got = [(r.values["id"], r.values["n"], r.values["i"], r.values["m"], r.values["e"]) for r in h.of("Q")]
    assert got == expected(events, same)
