"""The multistage detector (EPL) this tree against a base tree, alternating, in CPU seconds.

Two inputs:

* default: bench_detectors' "mixed" batches handed straight to the detector (best of 3 per
  child);
* ``--copies N``: ``flowcep run -d multistage`` over data.ipfix x N time-shifted
  (``bench_engine.build``, written once), timing the detector's own ``on_batch``,
  ``on_watermark`` and ``flush`` in thread CPU time; the alerts files of both trees must be
  byte-identical (md5), or the run stops.

Each tree runs in its own child process importing ``flowcep_plugin`` (the engine) and the
plugin from that tree only; the median over rounds of base/new is what to quote (above 1: this
tree is faster; the machine is shared and noisy).

Usage: .venv/bin/python benchmarks/ab_multistage.py BASE_ROOT [--new ROOT] [--rounds 5]
       [--records 200000 | --copies 50]
A base root can be an export of an older commit: ``git archive REV | tar -x -C /tmp/base``.
"""

from __future__ import annotations

import argparse
import hashlib
import statistics
import sys
import tempfile
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

CHILD_RUN = r"""
import json, sys, time
from pathlib import Path
root, data, alerts = sys.argv[1], sys.argv[2], sys.argv[3]
sys.path[:0] = [root, root + "/plugins/flowcep-multistage"]
import flowcep_plugin, flowcep_multistage
for m in (flowcep_plugin, flowcep_multistage):
    if not Path(m.__file__).resolve().is_relative_to(Path(root).resolve()):
        raise SystemExit(f"{m.__name__} came from {m.__file__}, not from {root}")
from flowcep_plugin.engine.detector import EPLDetector
spent = [0.0]
for name in ("on_batch", "on_watermark", "flush"):
    def wrap(orig):
        def timed(*a, **k):
            t = time.thread_time()
            try:
                return orig(*a, **k)
            finally:
                spent[0] += time.thread_time() - t
        return timed
    setattr(EPLDetector, name, wrap(getattr(EPLDetector, name)))
from flowcep_plugin.cli import main
t0 = time.process_time()
code = main(["run", "-i", "ipfix-file:" + data, "-d", "multistage", "-o", "jsonl:" + alerts, "--no-progress", "-q"])
print(json.dumps({"t": spent[0], "total": time.process_time() - t0, "code": code}))
"""


def run(root: Path, records: int) -> dict[str, float]:
    return child_json(CHILD, root, records)


def run_file(root: Path, data: Path, alerts: Path) -> tuple[dict[str, float], str]:
    alerts.unlink(missing_ok=True)  # the jsonl output appends to an existing file
    got = child_json(CHILD_RUN, root, data, alerts)
    if got["code"]:
        raise SystemExit(f"flowcep run with the tree {root} exited {got['code']}")
    return got, hashlib.md5(alerts.read_bytes()).hexdigest()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("base", type=Path, help="root of the tree to compare against")
    ap.add_argument("--new", type=Path, default=ROOT, help="root of the tree measured (default: this one)")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--records", type=int, default=200_000)
    ap.add_argument("--copies", type=int, default=0,
                    help="run `flowcep run -d multistage` over data.ipfix x N instead of the mixed batches")
    args = ap.parse_args()
    ratios = []
    if args.copies:
        sys.path.insert(0, str(ROOT / "benchmarks"))
        from bench_engine import build

        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            data = folder / f"data-x{args.copies}.ipfix"
            data.write_bytes(b"".join(build(args.copies)[0]))
            for i in range(args.rounds):
                base, base_md5 = run_file(args.base, data, folder / "base.jsonl")
                new, new_md5 = run_file(args.new, data, folder / "new.jsonl")
                if new_md5 != base_md5:
                    print(f"round {i + 1}: the alerts differ (md5 {new_md5} here, {base_md5} base)",
                          file=sys.stderr)
                    return 1
                ratios.append(base["t"] / new["t"])
                print(f"round {i + 1}: multistage {new['t']:.3f} s CPU, base {base['t']:.3f}; whole run "
                      f"{new['total']:.2f}, base {base['total']:.2f}; alerts md5 {new_md5}", flush=True)
    else:
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
