"""Joins: results independent of the order of streams in FROM and of how input is cut.

Esper processes one event at a time; FlowCEP takes batches. A batch must give exactly the rows
that its events sent one by one give (same rows, same times), and the FROM order of a join
must not change the rows.
"""

from __future__ import annotations

import random
from typing import Any

import pytest

from flowcep_plugin.engine.harness import Harness

DOC_JOIN = "Esper reference, 'Joining Event Streams' (a join is evaluated when any stream posts new events)"


def rows_of(text: str, events: list[tuple[int, dict[str, Any]]], cut: int) -> list[tuple[Any, ...]]:
    h = Harness(text)
    for i in range(0, len(events), cut):
        h.batch(events[i:i + cut])
    h.flush()
    return [(r.statement, r.time_ms, tuple(sorted(r.values.items()))) for r in h.rows]


def stream(seed: int, n: int = 40) -> list[tuple[int, dict[str, Any]]]:
    rnd = random.Random(seed)
    t = 0
    out = []
    for _ in range(n):
        t += rnd.choice((0, 0, 1, 250, 700))
        out.append((t, {"kind": rnd.choice("ab"), "k": rnd.randrange(3), "v": rnd.randrange(10)}))
    return out


ROUTED = """
@Name('A') insert into A select k, v from Flow where kind = 'a';
@Name('B') insert into B select k, v from Flow where kind = 'b';
"""

JOINS = {
    "two-streams": ROUTED + "@Name('J') select a.k as k, a.v as av, b.v as bv from {0} where a.k = b.k",
    "grouped-sum": ROUTED + "@Name('J') select a.k as k, sum(b.v) as s, count(*) as n from {0} where a.k = b.k group by a.k",
    "ungrouped-count": ROUTED + "@Name('J') select count(*) as n from {0} where a.k = b.k",
}
ORDERS = [("A#length(3) as a, B#time(1 sec) as b", "B#time(1 sec) as b, A#length(3) as a")]


@pytest.mark.esper("join-order", cite=DOC_JOIN)
@pytest.mark.parametrize("shape", sorted(JOINS))
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_from_order_does_not_change_rows(shape: str, seed: int) -> None:
    evs = stream(seed)
    one, two = (rows_of(JOINS[shape].format(o), evs, 1) for o in ORDERS[0])
    assert sorted(one) == sorted(two)


@pytest.mark.esper("join-batching", cite=DOC_JOIN + "; events are processed one at a time")
@pytest.mark.parametrize("shape", sorted(JOINS))
@pytest.mark.parametrize("seed", [4, 5])
def test_batch_cutting_does_not_change_rows(shape: str, seed: int) -> None:
    evs = stream(seed)
    text = JOINS[shape].format(ORDERS[0][0])
    assert rows_of(text, evs, len(evs)) == rows_of(text, evs, 1)


@pytest.mark.esper("join-batching", cite=DOC_JOIN + "; a self-join sees each event on each side in turn")
@pytest.mark.parametrize("seed", [6, 7])
def test_self_join_batch_cutting(seed: int) -> None:
    evs = stream(seed)
    text = "@Name('J') select x.v as xv, y.v as yv from Flow#length(2) as x, Flow#length(2) as y where x.k = y.k"
    assert rows_of(text, evs, len(evs)) == rows_of(text, evs, 1)


@pytest.mark.esper("insert-into", cite="Esper reference, 'Insert Into' (an inserted event is processed "
                   "before the next event sent)")
@pytest.mark.parametrize("seed", [8, 9])
def test_insert_into_routing_batch_cutting(seed: int) -> None:
    evs = stream(seed)
    text = """@Name('Last') insert into L select v, k from Flow;
              @Name('J') select f.v as fv, l.v as lv from Flow#lastevent as f, L#lastevent as l"""
    assert rows_of(text, evs, len(evs)) == rows_of(text, evs, 1)


@pytest.mark.esper("insert-into", cite="Esper reference, 'Insert Into': the inserted event's time is the "
                   "engine time when it was inserted")
def test_derived_event_time_is_the_insert_time() -> None:
    h = Harness("""@Name('P') insert into P select count(*) as n from Flow#time_batch(1 sec);
                   @Name('Q') select n from P""")
    h.send(100, v=1)
    h.watermark(1100)
    assert [(r.statement, r.time_ms) for r in h.rows] == [("P", 1100), ("Q", 1100)]
