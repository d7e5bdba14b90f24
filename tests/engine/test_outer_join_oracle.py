"""Outer joins against a brute-force oracle: the SQL outer-join chain over every event so far.

For ``S0 k1 join S1 on ... k2 join S2 on ...`` (each k inner, left, right or full) over
``#keepall`` windows, the rows an arriving event outputs must be exactly the rows of the whole
relation, computed from scratch, that contain that event (docs/epl.md, Joins). The oracle
below builds the relation the textbook way (every pair, then the unmatched rows of the
preserved side padded with nulls) and shares no code with the engine.
"""

from __future__ import annotations

import itertools
import random
from typing import Any

import pytest

from flowcep_plugin.engine.harness import Harness

KINDS = ("inner", "left", "right", "full")
ROUTES = "".join(f"insert into S{i} select id, k from Flow where s = {i};\n" for i in range(3))


def oracle(kinds: tuple[str, str], windows: list[list[dict[str, Any]]]) -> list[tuple[Any, ...]]:
    """Every row of ((S0 k1 S1 on s0.k = s1.k) k2 S2 on s1.k = s2.k), as id tuples."""
    rows: list[tuple[dict[str, Any] | None, ...]] = [(a,) for a in windows[0]]
    conds = [lambda r, x: r[0] is not None and r[0]["k"] == x["k"],
             lambda r, x: r[1] is not None and r[1]["k"] == x["k"]]
    for level, kind in enumerate(kinds, start=1):
        right = windows[level]
        joined = [r + (x,) for r in rows for x in right if conds[level - 1](r, x)]
        if kind in ("left", "full"):
            joined += [r + (None,) for r in rows if not any(conds[level - 1](r, x) for x in right)]
        if kind in ("right", "full"):
            joined += [(None,) * level + (x,) for x in right if not any(conds[level - 1](r, x) for r in rows)]
        rows = joined
    return [tuple(None if e is None else e["id"] for e in r) for r in rows]


@pytest.mark.parametrize("kinds", list(itertools.product(KINDS, KINDS)), ids="-".join)
@pytest.mark.parametrize("seed", [1, 2])
def test_outer_join_chain_matches_the_oracle(kinds: tuple[str, str], seed: int) -> None:
    k1, k2 = (k if k == "inner" else f"{k} outer" for k in kinds)
    h = Harness(ROUTES + "@Name('J') select s0.id as a, s1.id as b, s2.id as c from S0#keepall as s0 "
                f"{k1} join S1#keepall as s1 on s0.k = s1.k {k2} join S2#keepall as s2 on s1.k = s2.k")
    rnd = random.Random(seed)
    windows: list[list[dict[str, Any]]] = [[], [], []]
    for i in range(40):
        s, k = rnd.randrange(3), rnd.randrange(3)
        event = {"id": i, "k": k}
        got = sorted(((r.values["a"], r.values["b"], r.values["c"]) for r in h.send(i, s=s, **event)
                      if r.statement == "J"), key=repr)
        windows[s].append(event)
        want = sorted((r for r in oracle(kinds, windows) if r[s] == i), key=repr)
        assert got == want, (i, s, k)
