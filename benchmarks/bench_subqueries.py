"""Subquery and outer join throughput over synthetic flows, against their plain counterparts.

Records: ``--n`` flows, one per 10 ms, from one of ``--hosts`` sources; one in ten is a
"scanner" report (``k='s'``), the rest traffic (``k='t'``). Each case runs the same records
in batches of 4096 and prints records/s (best of ``--repeat``):

* ``flow-*``: over the input stream alone: a filter (batch speed), the same with an ``in``
  subquery, and with a correlated count (a module with a subquery runs its input one event
  at a time, so that each event sees the subquery window of its own moment);
* ``filter``: over derived streams (already one event at a time: they are inserted per event);
* ``in-subquery``: ``src in (select src from Scans#time(1 min))`` (uncorrelated values);
* ``correlated``: ``(select count(*) from Scans#time(1 min) as s where s.src = f.src)``;
* ``comma-join`` / ``left-outer-join``: traffic joined with the scanner reports of the last
  minute, inner (comma) and left outer.

Usage: .venv/bin/python benchmarks/bench_subqueries.py [--n 50000] [--hosts 500] [--repeat 3]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

ROUTES = """insert into Scans select src from Flow(k = 's');
insert into Traffic select src, b from Flow(k = 't');
"""
CASES = {
    "flow-filter": "@Name('X') select src from Flow(k = 't') where b > 900",
    "flow-in": "@Name('X') select src from Flow(k = 't') where b > 900 and src in "
               "(select src from Flow(k = 's')#time(1 min))",
    "flow-correlated": "@Name('X') select src, (select count(*) from Flow(k = 's')#time(1 min) as s "
                       "where s.src = f.src) as n from Flow(k = 't') as f where b > 900",
    "filter": "@Name('X') select src, b from Traffic where b > 900",
    "in-subquery": "@Name('X') select src, b from Traffic where b > 900 and src in (select src from Scans#time(1 min))",
    "correlated": "@Name('X') select src, (select count(*) from Scans#time(1 min) as s where s.src = f.src) as n "
                  "from Traffic as f where b > 900",
    "comma-join": "@Name('X') select f.src as src, f.b as b from Traffic(b > 900)#time(1 min) as f, "
                  "Scans#time(1 min) as s where f.src = s.src",
    "left-outer-join": "@Name('X') select f.src as src, s.src as scanner from Traffic(b > 900)#time(1 min) as f "
                       "left outer join Scans#time(1 min) as s on f.src = s.src",
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=50_000)
    ap.add_argument("--hosts", type=int, default=500)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--root", default=str(Path(__file__).resolve().parents[1]))
    args = ap.parse_args()
    sys.path.insert(0, args.root)
    from flowcep_plugin.engine.harness import Harness, flows

    rnd = random.Random(7)
    recs = [(i * 10, {"k": "s" if rnd.random() < 0.1 else "t", "src": f"10.0.{rnd.randrange(args.hosts)}",
                      "b": rnd.randrange(1000)}) for i in range(args.n)]
    batches = [flows(*recs[i:i + 4096]) for i in range(0, len(recs), 4096)]
    for name, stmt in CASES.items():
        best = 0.0
        rows = 0
        for _ in range(args.repeat):
            h = Harness(stmt if name.startswith("flow-") else ROUTES + stmt)
            t0 = time.perf_counter()
            out = []
            for b in batches:
                out += h.rt.on_batch(b)
            out += h.rt.flush()
            dt = time.perf_counter() - t0
            best = max(best, args.n / dt)
            rows = sum(1 for r in out if r.statement == "X")
        print(f"{name:16} {best:10,.0f} records/s  {rows:7} rows")


if __name__ == "__main__":
    main()
