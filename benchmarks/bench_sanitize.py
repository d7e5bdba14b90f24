"""Cost of the per-batch sanitize step (record isolation) against decoding, same run.

Decodes ``../shared/flowcep-upstream/data.ipfix`` (``--copies`` shifted copies) into batches,
then times decode alone and ``Sanitizer.clean`` over the decoded batches, best of
``--repeat`` in process CPU time. Prints records/s of each and the sanitize cost as a fraction
of decode. A second line times the same batches with one bad value per batch (the slow path).

Usage: .venv/bin/python benchmarks/bench_sanitize.py [--repeat 5] [--copies 3]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_engine import build as shifted_copies  # noqa: E402
from bench_enrich import decode  # noqa: E402

from flowcep_plugin.elements import default_registry  # noqa: E402
from flowcep_plugin.records import FlowBatch  # noqa: E402
from flowcep_plugin.sanitize import Sanitizer  # noqa: E402
from flowcep_plugin.stats import Stats  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--copies", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=8192)
    args = ap.parse_args()
    msgs, _ = shifted_copies(args.copies)
    reg = default_registry()
    best_dec = best_san = best_bad = float("inf")
    batches: list[FlowBatch] = []
    for _ in range(args.repeat):
        t0 = time.process_time()
        batches = decode(msgs, args.batch_size)
        t1 = time.process_time()
        san = Sanitizer(reg, Stats())
        for b in batches:
            san.clean(b)
        t2 = time.process_time()
        best_dec, best_san = min(best_dec, t1 - t0), min(best_san, t2 - t1)
    for b in batches:  # one bad count per batch: the column takes the per-record path
        col = b.columns.get("octetDeltaCount")
        if col:
            col[0] = "bad"
    for _ in range(args.repeat):
        san = Sanitizer(reg, Stats())
        t0 = time.process_time()
        for b in batches:
            san.clean(b)
        best_bad = min(best_bad, time.process_time() - t0)
    n = sum(b.length for b in batches)
    print(f"{n:,} records in {len(batches)} batches")
    print(f"decode   {n / best_dec:12,.0f} records/s")
    print(f"sanitize {n / best_san:12,.0f} records/s  = {best_san / best_dec:.1%} of decode time")
    print(f"sanitize, one bad value per batch {n / best_bad:12,.0f} records/s  = {best_bad / best_dec:.1%} of decode")


if __name__ == "__main__":
    main()
