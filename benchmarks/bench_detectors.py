"""Throughput of the shipped detectors (multistage runs on the EPL engine), beside a baseline
measured in the same run.

Baseline: one pass over the same batches that reads the source-address column and counts
flows per source in a dict - the least a per-record Python detector can do. Each detector is
reported as records/s and as a ratio to that baseline (the machine is shared and noisy, so
compare ratios, not absolute numbers).

    .venv/bin/python benchmarks/bench_detectors.py [--records 200000]
"""

from __future__ import annotations

import argparse
import importlib
import time

from flowcep_plugin.context import Context
from flowcep_plugin.records import FlowBatch
from flowcep_plugin.testing import build_detector, scenario_records, sort_by_time

DETECTORS = ["flowcep_multistage", "flowcep_portscan", "flowcep_bruteforce", "flowcep_volumetric", "flowcep_policy",
             "flowcep_trafficstats"]
POLICY = {"policies": [{"name": "restricted", "destinations": ["10.10.0.45/32"], "ports": [23, 139, 445],
                        "allowed_sources": ["10.10.1.5/32"]}]}


def batches(n: int, size: int = 8192) -> list[FlowBatch]:
    records, sc = scenario_records("mixed", duration_s=600)
    out = []
    shift = 0
    while len(out) * size < n:
        rows = [dict(r, flowStartMilliseconds=r["flowStartMilliseconds"] + shift,
                     flowEndMilliseconds=r["flowEndMilliseconds"] + shift) for r in records]
        whole = sort_by_time(FlowBatch.from_rows(rows))
        out += [whole.slice(i, i + size) for i in range(0, whole.length, size)]
        shift += sc.duration_ms
    return out


def baseline(bs: list[FlowBatch]) -> float:
    t = time.perf_counter()
    counts: dict[str, int] = {}
    for b in bs:
        for s in b.get("sourceIPv4Address"):
            counts[s] = counts.get(s, 0) + 1
    return time.perf_counter() - t


def run(spec: object, bs: list[FlowBatch], config: dict | None) -> float:
    det = build_detector(spec, config, Context())  # type: ignore[arg-type]
    t = time.perf_counter()
    for b in bs:
        det.on_batch(b)
        det.on_watermark(max(b.event_times()))
    det.flush()
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, default=200_000)
    args = ap.parse_args()
    bs = batches(args.records)
    n = sum(len(b) for b in bs)
    base = min(baseline(bs) for _ in range(3))
    print(f"{n:,} records in {len(bs)} batches")
    print(f"{'baseline (count per source)':<30} {n / base:>12,.0f} records/s  1.00x")
    for mod in DETECTORS:
        spec = importlib.import_module(mod).SPEC
        secs = run(spec, bs, POLICY if spec.name == "policy" else None)
        print(f"{spec.name:<30} {n / secs:>12,.0f} records/s  {base / secs:.2f}x of baseline")


if __name__ == "__main__":
    main()
