"""What the live terminal view costs: ``flowcep run`` with and without ``--view``, in a pseudo-
terminal (so the view really draws), on FlowCEP's sample repeated with shifted timestamps.

Prints records per CPU-second of the child process (its refresh thread included) for both,
and their ratio; the acceptance is a slowdown of at most 5 %. Runs alternate, best of N.

    python benchmarks/bench_view.py [--copies 20] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import pty
import resource
import select
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_engine import build  # noqa: E402

FLOWCEP = Path(sys.executable).with_name("flowcep")


def cpu_of_run(path: Path, view: bool) -> float:
    """CPU seconds (user + system) of one ``flowcep run`` child under a pty of 160x50."""
    args = [str(FLOWCEP), "run", "-q", "--no-progress", "-i", f"ipfix-file:{path}",
            "-o", "jsonl:/dev/null"] + (["--view"] if view else [])
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    pid, fd = pty.fork()
    if pid == 0:  # child
        os.execv(args[0], args)
    while True:  # drain the terminal like a real one does
        r, _, _ = select.select([fd], [], [], 60)
        if not r:
            break
        try:
            if not os.read(fd, 1 << 16):
                break
        except OSError:
            break
    os.waitpid(pid, 0)
    os.close(fd)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--copies", type=int, default=20)
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    msgs, per_copy = build(a.copies)
    with tempfile.NamedTemporaryFile(suffix=".ipfix", delete=False) as tmp:
        tmp.write(b"".join(msgs))
    path = Path(tmp.name)
    try:
        plain: list[float] = []
        view: list[float] = []
        for _ in range(a.repeat):
            plain.append(cpu_of_run(path, False))
            view.append(cpu_of_run(path, True))
    finally:
        path.unlink()
    records = 13_898 * a.copies  # data.ipfix holds 13,898 records
    p, v = min(plain), min(view)
    print(f"flowcep run, data.ipfix x{a.copies} ({records:,} records), best of {a.repeat}, in a pty:")
    print(f"  without --view: {records / p:>10,.0f} records/CPU-s ({p:.2f} s)")
    print(f"  with --view:    {records / v:>10,.0f} records/CPU-s ({v:.2f} s)")
    print(f"  slowdown: {100 * (v / p - 1):+.1f} %  (acceptance: <= 5 %)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
