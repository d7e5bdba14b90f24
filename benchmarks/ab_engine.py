"""Module 11 end to end, this tree against a base tree, alternating, in CPU seconds.

Issue 16 asks that module 11 end to end (bench_engine.py) is not slower than before the Esper
work, measured in the same run. On a machine shared with other work, wall-clock figures of two
runs minutes apart differ by more than the change being measured, so this script:

* runs each tree in its own child process, which imports ``flowcep_plugin`` from that tree's root
  only (checked: it fails if the module comes from anywhere else) and uses that tree's own
  ``benchmarks/bench_engine.end_to_end`` (decode -> Reorderer -> module 11 runtime);
* times with ``time.process_time`` (the process's CPU time), best of ``--repeat``, stages included;
* alternates base, new, base, new ... for ``--rounds`` and prints the median over rounds of the
  ratio base/new for end to end, engine, decode and clock (above 1: this tree is faster).

Usage: .venv/bin/python benchmarks/ab_engine.py BASE_ROOT [--new ROOT] [--rounds 3] [--copies 20] [--bench ROOT]
A base root is a worktree of the older commit: ``git worktree add --detach ../base16 f558874``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "flowcep-upstream"

CHILD = r"""
import json, sys, time, types
from pathlib import Path
root, shared, copies, repeat, bench = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
sys.path[:0] = [root, (bench or root) + "/benchmarks"]
import flowcep_plugin
if not Path(flowcep_plugin.__file__).resolve().is_relative_to(Path(root).resolve()):
    raise SystemExit(f"flowcep_plugin came from {flowcep_plugin.__file__}, not from {root}")
import bench_engine as be
be.SHARED, be.DATA, be.MODULE = shared, shared / "data.ipfix", shared / "queries" / "11-Multiphase_non_grouped.epl"
be.time = types.SimpleNamespace(perf_counter=time.process_time, process_time=time.process_time)  # older benches timed the wall
from flowcep_plugin.engine import compile_module
module = compile_module(be.MODULE.read_text(), str(be.MODULE))
msgs, _ = be.build(copies)
best = None
for _ in range(repeat):
    t = time.process_time()
    n, rows, _drops, spent = be.end_to_end(msgs, 4096, module)
    took = time.process_time() - t
    if best is None or took < best["e2e"]:
        best = {"e2e": took, **spent, "records": n, "rows": rows}
print(json.dumps(best))
"""

STAGES = ("e2e", "engine", "decode", "clock")


def child_json(code: str, *args: object) -> dict[str, float]:
    """Run ``code`` in a fresh interpreter (so it imports only the tree it is given) and read
    the JSON object its last line prints (ab_multistage uses it too)."""
    out = subprocess.run([sys.executable, "-c", code, *map(str, args)],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])  # type: ignore[no-any-return]


def run(root: Path, copies: int, repeat: int, bench: Path | None = None) -> dict[str, float]:
    return child_json(CHILD, root, SHARED, copies, repeat, bench or "")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("base", type=Path, help="root of the tree to compare against")
    ap.add_argument("--new", type=Path, default=ROOT, help="root of the tree measured (default: this one)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--copies", type=int, default=20)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--bench", type=Path, default=None,
                    help="take bench_engine.py from this tree for both sides (default: each tree's own), "
                         "so that a change to the benchmark itself is not counted as a speed-up")
    args = ap.parse_args()
    if not (SHARED / "data.ipfix").exists():
        print(f"missing {SHARED / 'data.ipfix'}", file=sys.stderr)
        return 2
    ratios: dict[str, list[float]] = {s: [] for s in STAGES}
    for i in range(args.rounds):
        got = {}
        for label, root in (("base", args.base), ("new", args.new)):
            got[label] = r = run(root, args.copies, args.repeat, args.bench)
            print(f"round {i + 1} {label:4} " + " ".join(f"{s} {r[s]:.4f}" for s in STAGES)
                  + f" rows {r['rows']:,}", flush=True)
        for s in STAGES:
            ratios[s].append(got["base"][s] / got["new"][s])
    for s in STAGES:
        print(f"{s:6} base/new median {statistics.median(ratios[s]):.3f}  "
              f"({', '.join(f'{x:.3f}' for x in ratios[s])})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
