"""Pattern throughput: ``every a -> b(correlated) where timer:within`` over synthetic flows.

Records: ``--n`` flows, one per 10 ms, a quarter of them SYN-like (``k='a'``) from one of
``--hosts`` sources and a quarter answers (``k='b'``); the rest match no filter. Runs the
engine from the tree given by ``--root`` (default: this checkout), so two trees can be
compared in the same run: ``python benchmarks/bench_patterns.py --root ../main``.

Usage: .venv/bin/python benchmarks/bench_patterns.py [--n 200000] [--hosts 500] [--repeat 3]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

EPL = """@Name('P') select a.src as src, b.dst as dst from pattern [
  every a=Flow(k = 'a') -> b=Flow(k = 'b' and src = a.src) where timer:within(10 sec)]"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=200_000)
    ap.add_argument("--hosts", type=int, default=500)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--root", default=str(Path(__file__).resolve().parents[1]))
    args = ap.parse_args()
    sys.path.insert(0, args.root)
    from flowcep_plugin.engine.harness import Harness, flows

    rnd = random.Random(7)
    recs = []
    for i in range(args.n):
        r = rnd.random()
        k = "a" if r < 0.25 else "b" if r < 0.5 else "x"
        recs.append((i * 10, {"k": k, "src": f"10.0.{rnd.randrange(args.hosts)}", "dst": "d"}))
    batches = [flows(*recs[i:i + 4096]) for i in range(0, len(recs), 4096)]
    best = 0.0
    rows = 0
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
    print(f"{args.root}: {best:,.0f} records/s, {rows} matches")


if __name__ == "__main__":
    main()
