"""The portscan detector under a flood of spoofed one-SYN sources, this tree's plugin against a
base tree's, alternating, in CPU seconds, with what became of a real scan in the flood.

The hostile32 shape: ``--spoofed`` (300,000) random source addresses send one SYN each to a
random host, past the default ``max_sources`` (200,000), and one scanner probes ``--ports``
(150) ports of one host, its probes spread evenly through the flood, all in one 5 min window.
Batches of ``--batch`` records (8192, the IPFIX inputs' default) go to ``on_batch`` with the watermark
following, as ``ManualClock`` does. Each run is a child process that imports
``flowcep_portscan`` from the tree given (checked with its ``__file__``); it reports the
detector's thread CPU time, ``portscan.sources_evicted``, the largest sources table seen and
the ports the scanner's alert counted. Per round the ratio new/base of the CPU time; the median
over rounds is what to quote (the machine is shared and noisy).

Usage: .venv/bin/python benchmarks/ab_flood.py BASE_ROOT [--new ROOT] [--rounds 3]
A base root can be an export of an older commit (``git archive REV | tar -x -C /tmp/base``).
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

from ab_engine import child_json

ROOT = Path(__file__).resolve().parents[1]

CHILD = r"""
import json, random, sys, time
from pathlib import Path
plugin_root, spoofed, ports, batch = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
sys.path.insert(0, plugin_root + "/plugins/flowcep-portscan")
import flowcep_portscan
if not Path(flowcep_portscan.__file__).resolve().is_relative_to(Path(plugin_root).resolve()):
    raise SystemExit(f"flowcep_portscan came from {flowcep_portscan.__file__}, not from {plugin_root}")
from flowcep_plugin.context import Context
from flowcep_plugin.records import FlowBatch
from flowcep_plugin.testing import build_detector
rng = random.Random(32)
scanner, victim = "198.51.100.7", "10.9.0.5"
src, dst, dport = [], [], []
every = spoofed // ports
for k in range(spoofed):
    if k % every == 0 and k // every < ports:
        src.append(scanner); dst.append(victim); dport.append(1000 + k // every)
    src.append(f"{rng.randrange(1, 224)}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}")
    dst.append(f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}")
    dport.append(rng.choice((22, 80, 443)))
n = len(src)
t0 = 1_700_000_100_000 - 1_700_000_100_000 % 300_000 + 1000
cols = {"sourceIPv4Address": src, "destinationIPv4Address": dst, "protocolIdentifier": [6] * n,
        "destinationTransportPort": dport, "sourceTransportPort": [40000] * n,
        "packetDeltaCount": [1] * n, "tcpControlBits": [2] * n,
        "flowEndMilliseconds": [t0 + i * 250_000 // n for i in range(n)]}
ctx = Context()
det = build_detector(flowcep_portscan.SPEC, {}, ctx)
events, largest, spent = [], 0, 0.0
for i in range(0, n, batch):
    b = FlowBatch({k: v[i:i + batch] for k, v in cols.items()}, source="flood")
    t = time.thread_time()
    events += det.on_batch(b)
    events += det.on_watermark(max(b.event_times()))
    spent += time.thread_time() - t
    largest = max(largest, len(det.sources))
t = time.thread_time()
events += det.flush()
spent += time.thread_time() - t
mine = [e["flowcep"]["counts"].get("ports", 0) for e in events if e["source"]["ip"] == scanner]
print(json.dumps({"cpu": spent, "evicted": ctx.stats.gauges.get("portscan.sources_evicted", 0),
                  "largest": largest, "scanner_ports": max(mine, default=0), "alerts": len(events)}))
"""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("base", type=Path, help="root of the tree whose portscan plugin is the baseline")
    ap.add_argument("--new", type=Path, default=ROOT, help="root of the tree measured (default: this one)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--spoofed", type=int, default=300_000)
    ap.add_argument("--ports", type=int, default=150)
    ap.add_argument("--batch", type=int, default=8192)
    args = ap.parse_args()
    ratios: list[float] = []
    for i in range(args.rounds):
        got = {name: child_json(CHILD, root, args.spoofed, args.ports, args.batch)
               for name, root in (("base", args.base), ("new", args.new))}
        ratios.append(got["new"]["cpu"] / got["base"]["cpu"])
        print(f"round {i + 1}: " + "; ".join(
            f"{name} {r['cpu']:.2f} s CPU, {r['evicted']} evicted, largest table {r['largest']}, "
            f"scanner's alert {r['scanner_ports']} of {args.ports} ports, {r['alerts']} alerts"
            for name, r in got.items()), flush=True)
    print(f"cpu new/base median {statistics.median(ratios):.3f}  (" + ", ".join(f"{x:.3f}" for x in ratios) + ")")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
