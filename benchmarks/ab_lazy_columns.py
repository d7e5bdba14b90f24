"""``flowcep run`` with the IPFIX decoder's lazy numpy columns on and off, alternated.

Why: lazy columns (``MessageDecoder.lazy_columns``, on by default) only pay if the stages after
the decoder leave arrays alone (sanitise and the clock work on them); whether the whole run is
faster, with identical alerts, is the question, so each contender is the whole command in its
own child process, its CPU time from ``os.wait4`` (user + system), in rounds that alternate so
the neighbours weigh on each alike. Prints each round, the median of the per-round ratios
against the first contender, and the md5 of each contender's alert file (they must agree).

A contender is ``TREE:on`` or ``TREE:off``; TREE is ``.`` (this checkout) or the path of another
checkout (``git archive <commit> | tar -x -C DIR``; compile its bytecode first,
``python -m compileall -q DIR/flowcep_plugin DIR/plugins``, or it is compiled in every run).
The input is data.ipfix ``--copies`` times, time-shifted (``bench_engine.build``), or ``--file``.

    .venv/bin/python benchmarks/ab_lazy_columns.py --copies 50 --rounds 5 BASE:off .:on .:off
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: the child: put TREE first on sys.path, set the decoder's default, run the flowcep CLI
CHILD = """
import sys
tree, lazy = sys.argv[1], sys.argv[2] == "on"
sys.path.insert(0, tree)
from flowcep_plugin.inputs.ipfix_decode import MessageDecoder
MessageDecoder.lazy_columns = lazy
from flowcep_plugin.cli import main
sys.exit(main(sys.argv[3:]))
"""


def run_once(tree: str, lazy: str, path: Path, out: Path) -> tuple[float, str, int]:
    """(CPU seconds of the child, md5 of its alerts, number of alerts)."""
    if out.exists():
        out.unlink()  # the jsonl output appends
    cmd = [sys.executable, "-c", CHILD, tree, lazy, "run", "-i", f"ipfix-file:{path}",
           "-o", f"jsonl:{out}", "--no-progress", "-q"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=tempfile.gettempdir())
    assert proc.stderr is not None
    err = proc.stderr.read()
    _pid, status, usage = os.wait4(proc.pid, 0)
    if status != 0:
        raise SystemExit(f"ab_lazy_columns: {tree}:{lazy} failed: {err.decode(errors='replace')[-500:]}")
    data = out.read_bytes()
    return usage.ru_utime + usage.ru_stime, hashlib.md5(data).hexdigest(), data.count(b"\n")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("contenders", nargs="+", help="TREE:on or TREE:off (TREE '.' is this checkout)")
    ap.add_argument("--copies", type=int, default=50, help="time-shifted copies of data.ipfix (default 50)")
    ap.add_argument("--file", help="an IPFIX file instead of the copies")
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args(argv)
    pairs: list[tuple[str, str]] = []
    for c in args.contenders:
        tree, _, lazy = c.rpartition(":")
        if lazy not in ("on", "off") or not tree:
            ap.error(f"{c!r}: expected TREE:on or TREE:off")
        pairs.append((str(ROOT) if tree == "." else str(Path(tree).resolve()), lazy))
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        if args.file:
            path = Path(args.file).resolve()  # the children run in the temporary folder
        else:
            sys.path.insert(0, str(ROOT / "benchmarks"))
            sys.path.insert(0, str(ROOT))
            from bench_engine import build

            msgs, _per_copy = build(args.copies)
            path = folder / f"data-x{args.copies}.ipfix"
            path.write_bytes(b"".join(msgs))
        cpu: dict[str, list[float]] = {c: [] for c in args.contenders}
        digests: dict[str, set[tuple[str, int]]] = {c: set() for c in args.contenders}
        for r in range(args.rounds):
            order = list(zip(args.contenders, pairs, strict=True))
            for name, (tree, lazy) in order if r % 2 == 0 else order[::-1]:
                secs, md5, alerts = run_once(tree, lazy, path, folder / "alerts.jsonl")
                cpu[name].append(secs)
                digests[name].add((md5, alerts))
                print(f"round {r} {name}: {secs:.2f} CPU-s, {alerts} alerts, md5 {md5[:12]}", flush=True)
        first = args.contenders[0]
        for name in args.contenders:
            ratios = [a / b for a, b in zip(cpu[first], cpu[name], strict=True)]
            print(f"{name}: median {statistics.median(cpu[name]):.2f} CPU-s; {first} / {name} = median "
                  f"{statistics.median(ratios):.3f} ({min(ratios):.3f}-{max(ratios):.3f}); "
                  f"alerts {sorted(digests[name])}")
        same = len({d for ds in digests.values() for d in ds}) == 1
        print("alerts identical in every run" if same else "ALERTS DIFFER")
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
