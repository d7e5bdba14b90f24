"""Memory per flow of the pcap flow meter under a SYN flood from distinct sources.

Why: under a flood of new sources the flow table, not the packets, decides a run's memory: it
fills to ``max_flows`` and stays there. This fills one :class:`FlowMeter` with N one-packet
flows (each from its own source, as hping3 --rand-source sends them) and prints the growth of
RSS per flow, or with ``--traced`` the bytes tracemalloc sees per flow (slower, exact).
``--path`` picks the per-packet meter or the block path (what ``pcap:`` uses). ``--tree DIR``
measures another tree of the project (e.g. ``git archive REV | tar -x -C DIR``), so a change
is read as a ratio against a baseline run beside it.

Usage: ``python benchmarks/bench_flow_memory.py [--flows N] [--path block|packet] [--traced]
[--tree DIR]``
"""

from __future__ import annotations

import argparse
import gc
import os
import struct
import sys
import tracemalloc


def frame(i: int) -> bytes:
    """An Ethernet/IPv4/TCP SYN from source 10.0.0.0 + i to 192.168.0.1:80."""
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 40, 0, 0, 64, 6, 0, struct.pack("!I", 0x0A000000 + i),
                     b"\xc0\xa8\x00\x01")
    tcp = struct.pack("!HHIIBBHHH", 1024 + i % 60000, 80, 0, 0, 0x50, 2, 1024, 0, 0)
    return b"\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01\x08\x00" + ip + tcp


def rss() -> int:
    """Resident set size of this process in bytes (Linux)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--flows", type=int, default=1_000_000, help="distinct sources (flows)")
    ap.add_argument("--path", choices=("block", "packet"), default="block")
    ap.add_argument("--traced", action="store_true", help="tracemalloc bytes instead of RSS")
    ap.add_argument("--tree", default=os.path.join(os.path.dirname(__file__), ".."),
                    help="tree of the project to measure")
    args = ap.parse_args()
    sys.path.insert(0, args.tree)
    from flowcep_plugin.inputs.capfile import Block
    from flowcep_plugin.inputs.flowmeter import LINKTYPE_ETHERNET, FlowMeter

    n: int = args.flows
    meter = FlowMeter(max_flows=n + 1)
    meter.process_block(Block.from_frames([(999_000, frame(n))]), LINKTYPE_ETHERNET)  # imports
    gc.collect()
    if args.traced:
        tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0] if args.traced else rss()
    for i in range(0, n, 20_000):
        chunk = [(1_000_000 + j // 1000, frame(j)) for j in range(i, min(n, i + 20_000))]
        if args.path == "packet":
            meter.process(chunk, LINKTYPE_ETHERNET)
        else:
            meter.process_block(Block.from_frames(chunk), LINKTYPE_ETHERNET)
        del chunk
    gc.collect()
    after = tracemalloc.get_traced_memory()[0] if args.traced else rss()
    what = "traced" if args.traced else "RSS"
    flows = len(meter.flows)
    print(f"{args.tree} {args.path}: {flows:,} flows, {what} {(after - before) / flows:.0f} bytes a flow, "
          f"{(after - before) / 1e6:.0f} MB")


if __name__ == "__main__":
    main()
