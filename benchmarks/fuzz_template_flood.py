"""Template flood on a loopback UDP collector: memory stays bounded, a normal exporter still works.

Thousands of fresh source ports each send templates with many fields (what a spoofing host or
a broken exporter can do); a normal exporter keeps sending its template and data in between.
Prints peak RSS, the normal exporter's records sent and received, and the collector's
eviction counters as JSON. Loopback only.

    .venv/bin/python benchmarks/fuzz_template_flood.py [--ports 4000] [--fields 500] [--templates 2]
"""

from __future__ import annotations

import argparse
import json
import resource
import socket
import struct
import sys
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from flowcep_plugin.context import Context  # noqa: E402
from flowcep_plugin.inputs.collectors import UDPCollector  # noqa: E402
from flowcep_plugin.inputs.limits import DecoderLimits  # noqa: E402


def message(sets: list[bytes], seq: int = 0, odid: int = 0) -> bytes:
    body = b"".join(sets)
    return struct.pack(">HHIII", 10, 16 + len(body), int(time.time()), seq, odid) + body


def template(tid: int, n_fields: int) -> bytes:
    # cycling real element ids with lengths they accept, so every field compiles
    ids = [(8, 4), (12, 4), (7, 2), (11, 2), (4, 1), (1, 8), (2, 8), (152, 8), (153, 8), (27, 16)]
    fields = b"".join(struct.pack(">HH", *ids[i % len(ids)]) for i in range(n_fields))
    rec = struct.pack(">HH", tid, n_fields) + fields
    return struct.pack(">HH", 2, 4 + len(rec)) + rec


NORMAL_T = struct.pack(">HHHH", 2, 16, 256, 2) + struct.pack(">HHHH", 8, 4, 11, 2)


def normal_data(i: int) -> bytes:
    rec = socket.inet_aton("192.0.2.10") + struct.pack(">H", i & 0xFFFF)
    return struct.pack(">HH", 256, 4 + len(rec)) + rec


def rss_mb() -> float:
    """Peak RSS of this process image. VmHWM, not ru_maxrss: Linux carries ru_maxrss across
    fork and exec, so a child of a big parent (a long pytest run) would report the parent's size."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run(ports: int, fields: int, templates: int, limits: DecoderLimits | None = None) -> dict[str, Any]:
    ctx = Context()
    kw: dict[str, Any] = {} if limits is None else {"limits": limits}
    col = UDPCollector(ctx, "flood", "127.0.0.1", 0, idle=0.1, **kw)
    got: list[int] = []
    err: list[BaseException] = []

    def consume() -> None:
        try:
            for b in col.batches():
                if b.length and "sourceIPv4Address" in b.columns:
                    got.append(sum(1 for a in b.columns["sourceIPv4Address"] if a == "192.0.2.10"))
        except BaseException as exc:  # noqa: BLE001 - reported in the result
            err.append(exc)

    th = threading.Thread(target=consume, daemon=True)
    th.start()
    normal = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sent = 0
    seq = 0
    normal.sendto(message([NORMAL_T, normal_data(0)], seq), col.address)
    sent += 1
    seq += 1
    start = time.monotonic()
    before = rss_mb()
    for p in range(ports):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # a fresh source port each time
        for t in range(templates):
            s.sendto(message([template(256 + t, fields)]), col.address)
        s.close()
        if p % 100 == 0:
            normal.sendto(message([NORMAL_T, normal_data(p)], seq), col.address)
            sent += 1
            seq += 1
            time.sleep(0.005)  # the kernel buffer holds the burst; the collector keeps up
    deadline = time.monotonic() + 60
    while sum(got) < sent and time.monotonic() < deadline and not err:
        time.sleep(0.05)
    elapsed = time.monotonic() - start
    col.close()
    th.join(10)
    snap = ctx.stats.snapshot()
    return {
        "ports": ports, "fields": fields, "templates_per_port": templates,
        "seconds": round(elapsed, 2),
        "rss_mb_before_flood": round(before, 1), "rss_mb_peak": round(rss_mb(), 1),
        "normal_sent": sent, "normal_received": sum(got),
        "sessions_open": len(col.decoder.sessions),
        "template_bytes": getattr(col.decoder, "template_bytes", None),
        "counters": {k: v for k, v in snap["gauges"].items() if k.startswith("input.")},
        "drops": snap["drops"],
        "error": repr(err[0]) if err else None,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ports", type=int, default=4000)
    ap.add_argument("--fields", type=int, default=500)
    ap.add_argument("--templates", type=int, default=2, help="templates per source port")
    args = ap.parse_args()
    print(json.dumps(run(args.ports, args.fields, args.templates), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
