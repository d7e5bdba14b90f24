"""The portscan detector inside the default ``flowcep run``, this tree's plugin against a base
tree's, alternating, in CPU seconds, with the alerts files compared.

The input is data.ipfix x ``--copies``, time-shifted (``bench_engine.build``), written once.
Each run is a child process: ``flowcep_plugin`` and the other detectors come from this tree,
``flowcep_portscan`` from the tree given (checked with its ``__file__``), and the thread CPU
time of the detector's ``on_batch``, ``on_watermark`` and ``flush`` is summed. Per round the
ratio new/base of that time and of the whole process's CPU time (below 1: this tree is
cheaper); the median over rounds is what to quote (the machine is shared and noisy). The
alerts files must be byte-identical, or the run stops.

Usage: .venv/bin/python benchmarks/ab_portscan.py BASE_ROOT [--new ROOT] [--rounds 5] [--copies 20]
A base root can be a detached worktree (``git worktree add /tmp/base main --detach``) or an
export of an older commit (``git archive REV | tar -x -C /tmp/base``).
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
plugin_root, data, alerts = sys.argv[1], sys.argv[2], sys.argv[3]
sys.path.insert(0, plugin_root + "/plugins/flowcep-portscan")
import flowcep_portscan
if not Path(flowcep_portscan.__file__).resolve().is_relative_to(Path(plugin_root).resolve()):
    raise SystemExit(f"flowcep_portscan came from {flowcep_portscan.__file__}, not from {plugin_root}")
spent = [0.0]
det = flowcep_portscan.PortScanDetector
for name in ("on_batch", "on_watermark", "flush"):
    def wrap(orig):
        def timed(*a, **k):
            t = time.thread_time()
            try:
                return orig(*a, **k)
            finally:
                spent[0] += time.thread_time() - t
        return timed
    setattr(det, name, wrap(getattr(det, name)))
from flowcep_plugin.cli import main
t0 = time.process_time()
code = main(["run", "-i", "ipfix-file:" + data, "-o", "jsonl:" + alerts, "--no-progress", "-q"])
print(json.dumps({"portscan": spent[0], "total": time.process_time() - t0, "code": code}))
"""


def write_input(copies: int, path: Path) -> None:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from bench_engine import build

    msgs, _ = build(copies)
    with open(path, "wb") as fh:
        for m in msgs:
            fh.write(m)


def run(plugin_root: Path, data: Path, alerts: Path) -> tuple[dict[str, float], str]:
    alerts.unlink(missing_ok=True)  # the jsonl output appends to an existing file
    got = child_json(CHILD, plugin_root, data, alerts)
    if got["code"]:
        raise SystemExit(f"flowcep run with the plugin of {plugin_root} exited {got['code']}")
    return got, hashlib.md5(alerts.read_bytes()).hexdigest()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("base", type=Path, help="root of the tree whose portscan plugin is the baseline")
    ap.add_argument("--new", type=Path, default=ROOT, help="root of the tree measured (default: this one)")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--copies", type=int, default=20)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        data = folder / f"data-x{args.copies}.ipfix"
        write_input(args.copies, data)
        ratios: dict[str, list[float]] = {"portscan": [], "total": []}
        for i in range(args.rounds):
            base, base_md5 = run(args.base, data, folder / "base.jsonl")
            new, new_md5 = run(args.new, data, folder / "new.jsonl")
            if new_md5 != base_md5:
                print(f"round {i + 1}: the alerts differ (md5 {new_md5} here, {base_md5} base)", file=sys.stderr)
                return 1
            for k in ratios:
                ratios[k].append(new[k] / base[k])
            print(f"round {i + 1}: portscan {new['portscan']:.3f} s CPU, base {base['portscan']:.3f}; "
                  f"whole run {new['total']:.2f}, base {base['total']:.2f}; alerts md5 {new_md5}", flush=True)
    for k, rs in ratios.items():
        print(f"{k} new/base median {statistics.median(rs):.3f}  (" + ", ".join(f"{x:.3f}" for x in rs) + ")")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
