"""Cost of turning biflows round (flowcep_plugin/biflow.py) in the sanitiser, same run.

Decodes ``../shared/flowcep-upstream/data.ipfix`` (``--copies`` shifted copies, uniflows as the
decoder gives them: numpy columns), then times, alternating, best of ``--repeat`` in process CPU
time:

* ``Sanitizer.clean`` as on main (the reorientation step replaced by a no-op) and as it is;
* the same batches made biflows (packets and flags both ways: a third of the records a SYN
  answered by SYN+ACK, a third one-sided, a third a completed connection), initiator first (as
  FlowCEP's meter writes them: nothing turned) and reverse side first (two thirds turned),
  through the reorientation step alone, against decoding.

Usage: .venv/bin/python benchmarks/bench_biflow.py [--copies 50] [--repeat 3]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
from bench_engine import build as shifted_copies  # noqa: E402
from bench_enrich import decode  # noqa: E402

from flowcep_plugin.biflow import Reorienter  # noqa: E402
from flowcep_plugin.elements import default_registry  # noqa: E402
from flowcep_plugin.records import VALUES, ArrayPart, Columns, FlowBatch, array_values  # noqa: E402
from flowcep_plugin.sanitize import Sanitizer  # noqa: E402
from flowcep_plugin.stats import Stats  # noqa: E402


def _clean_all(msgs: list[bytes], batch_size: int, reorient: bool) -> tuple[float, int]:
    batches = decode(msgs, batch_size)
    san = Sanitizer(default_registry(), Stats())
    if not reorient:
        san._reorient = lambda batch: None  # type: ignore[assignment,method-assign]  # main
    t0 = time.process_time()
    for b in batches:
        san.clean(b)
    return time.process_time() - t0, sum(b.length for b in batches)


def _biflows(batches: list[FlowBatch], misoriented: bool) -> list[FlowBatch]:
    """The batches with reverse columns as a decoder holds them (numpy arrays); initiator
    first unless ``misoriented``."""
    out = []
    for b in batches:
        n = b.length
        kind = np.arange(n) % 3
        fwd = np.where(kind == 0, 0x12, np.where(kind == 1, 0, 0x1B)).astype(np.uint8)
        rev = np.where(kind == 0, 0x02, np.where(kind == 1, 0x02, 0x1B)).astype(np.uint8)
        fpk = np.where(kind == 1, 0, 3).astype(np.uint64)
        rpk = np.full(n, 2, dtype=np.uint64)
        if not misoriented:
            fwd, rev, fpk, rpk = rev, fwd, rpk, fpk
        cols = Columns(None, n)
        for name, arr in (("tcpControlBits", fwd), ("reverseTcpControlBits", rev), ("packetDeltaCount", fpk),
                          ("reversePacketDeltaCount", rpk),
                          ("protocolIdentifier", np.full(n, 6, dtype=np.uint8))):
            cols.set_arrays(name, [ArrayPart(arr, array_values, VALUES)])
        for name in ("sourceIPv4Address", "destinationIPv4Address", "sourceTransportPort",
                     "destinationTransportPort", "octetDeltaCount", "flowEndMilliseconds"):
            raw: Any = b.columns.raw(name) if isinstance(b.columns, Columns) else None
            if raw is not None:
                dict.__setitem__(cols, name, raw)
        out.append(FlowBatch(cols, n, b.source, b.exporter))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--copies", type=int, default=50)
    ap.add_argument("--batch-size", type=int, default=8192)
    args = ap.parse_args()
    msgs, _ = shifted_copies(args.copies)
    best = {True: float("inf"), False: float("inf")}
    n = 0
    for _ in range(args.repeat):
        for reorient in (False, True):
            t, n = _clean_all(msgs, args.batch_size, reorient)
            best[reorient] = min(best[reorient], t)
    print(f"{n:,} uniflow records: sanitize as main {n / best[False]:12,.0f} records/s, with reorientation "
          f"{n / best[True]:12,.0f} records/s, CPU time ratio {best[True] / best[False]:.3f}")
    best_dec = float("inf")
    best_bi = {True: float("inf"), False: float("inf")}
    turned = {True: 0, False: 0}
    for _ in range(args.repeat):
        t0 = time.process_time()
        batches = decode(msgs, args.batch_size)
        best_dec = min(best_dec, time.process_time() - t0)
        for misoriented in (False, True):
            bi = _biflows(batches, misoriented)
            stats = Stats()
            reorienter = Reorienter(stats)
            t0 = time.process_time()
            for b in bi:
                reorienter(b)
            best_bi[misoriented] = min(best_bi[misoriented], time.process_time() - t0)
            turned[misoriented] = stats.gauges.get("sanitize.biflows_reoriented", 0)
    for misoriented in (False, True):
        t = best_bi[misoriented]
        print(f"{n:,} biflow records ({turned[misoriented]:,} turned): reorientation {n / t:12,.0f} records/s "
              f"= {t / best_dec:.1%} of decode time")


if __name__ == "__main__":
    main()
