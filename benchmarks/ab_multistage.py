"""The multistage detector (EPL) on bench_detectors' "mixed" batches, this tree against a base
tree, alternating, in CPU seconds.

Its statements group by ``coalesce`` of the IPv4 and IPv6 address elements; how much that costs
is a ratio against a tree measured in the same run (the machine is shared and noisy). Each tree
runs in its own child process importing ``flowcep_plugin`` and the plugin from that tree only;
best of 3 per child, median over rounds of base/new (above 1: this tree is faster).

Usage: .venv/bin/python benchmarks/ab_multistage.py BASE_ROOT [--new ROOT] [--rounds 5] [--records 200000]
A base root can be an export of an older commit: ``git archive REV | tar -x -C /tmp/base``.
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

from ab_engine import child_json

ROOT = Path(__file__).resolve().parents[1]

CHILD = r"""
import json, sys, time
from pathlib import Path
root, nrec = sys.argv[1], int(sys.argv[2])
sys.path[:0] = [root, root + "/benchmarks", root + "/plugins/flowcep-multistage"]
import flowcep_plugin, flowcep_multistage
for m in (flowcep_plugin, flowcep_multistage):
    if not Path(m.__file__).resolve().is_relative_to(Path(root).resolve()):
        raise SystemExit(f"{m.__name__} came from {m.__file__}, not from {root}")
import bench_detectors as bd
bd.time.perf_counter = time.process_time
bs = bd.batches(nrec)
best = min(bd.run(flowcep_multistage.SPEC, bs, None) for _ in range(3))
print(json.dumps({"t": best, "records": sum(len(b) for b in bs)}))
"""


def run(root: Path, records: int) -> dict[str, float]:
    return child_json(CHILD, root, records)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("base", type=Path, help="root of the tree to compare against")
    ap.add_argument("--new", type=Path, default=ROOT, help="root of the tree measured (default: this one)")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--records", type=int, default=200_000)
    args = ap.parse_args()
    ratios = []
    for i in range(args.rounds):
        got = {}
        for label, root in (("base", args.base), ("new", args.new)):
            got[label] = r = run(root, args.records)
            print(f"round {i + 1} {label:4} {r['t']:.4f} s CPU, {int(r['records']):,} records", flush=True)
        ratios.append(got["base"]["t"] / got["new"]["t"])
    print(f"multistage base/new median {statistics.median(ratios):.3f}  ("
          + ", ".join(f"{x:.3f}" for x in ratios) + ")")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
