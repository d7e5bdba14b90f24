"""match_recognize throughput: the brute-force statement of docs/epl.md over synthetic SSH flows.

Records: ``--n`` flows, one per millisecond, from one of ``--hosts`` sources; 85 % short failed
logins to port 22, the rest long sessions, half of them to port 22 (the ones that can complete
a match). The statement partitions by source and matches ``F{5,} S``. Runs the engine from the
tree given by ``--root`` (default: this checkout), so two trees compare in one run.

Usage: .venv/bin/python benchmarks/bench_match_recognize.py [--n 100000] [--hosts 1000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

EPL = """@Name('BruteForceRun')
select * from Flow(destinationTransportPort = 22)
match_recognize (
  partition by sourceIPv4Address
  measures sourceIPv4Address as attacker, count(F.octetDeltaCount) as attempts,
           S.octetDeltaCount as session_bytes
  pattern (F{5,} S)
  define F as F.octetDeltaCount < 4000 and F.flowDurationMilliseconds < 2000,
         S as S.octetDeltaCount > 20000 and S.flowDurationMilliseconds > 60000
)"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--hosts", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--root", default=str(Path(__file__).resolve().parents[1]))
    args = ap.parse_args()
    sys.path.insert(0, args.root)
    from flowcep_plugin.engine.harness import Harness, flows

    rnd = random.Random(1)
    recs = []
    for i in range(args.n):
        src = f"10.0.{rnd.randrange(args.hosts) // 250}.{rnd.randrange(250)}"
        if rnd.random() < 0.85:
            rec = {"destinationTransportPort": 22, "octetDeltaCount": rnd.randrange(1000, 3900),
                   "flowDurationMilliseconds": 500}
        else:
            rec = {"destinationTransportPort": 22 if rnd.random() < 0.5 else 443,
                   "octetDeltaCount": 50_000, "flowDurationMilliseconds": 90_000}
        recs.append((i, {"sourceIPv4Address": src, **rec}))
    batches = [flows(*recs[i:i + 1000]) for i in range(0, len(recs), 1000)]
    best = 0.0
    rows = states = 0
    for _ in range(args.repeat):
        h = Harness(EPL)
        t0 = time.perf_counter()
        n_out = 0
        for b in batches:
            n_out += len(h.rt.on_batch(b))
        n_out += len(h.rt.flush())
        dt = time.perf_counter() - t0
        best = max(best, args.n / dt)
        rows = n_out
        states = h.rt.stmts[0].nstates
    print(f"{args.root}: {best:,.0f} records/s, {rows} matches, {states} states left")


if __name__ == "__main__":
    main()
