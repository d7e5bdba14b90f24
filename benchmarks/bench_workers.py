"""``flowcep run --workers N`` against ``--workers 1`` on the same file, in the same run.

The input is FlowCEP's ``data.ipfix`` concatenated ``--copies`` times, time-shifted
(``bench_engine.build``). Each contender is the whole command as a user runs it (every shipped
detector, default enrichers, jsonl output); its wall time is the figure, since the point of
workers is to spend more CPU to finish sooner. The alerts of every N are compared with those of
N = 1 (rule, source, target, window, revision, counts) and a difference fails the benchmark.
It also prints the cores the machine has and its load, since a speed-up needs free cores: on a
machine whose cores are busy the wall ratio says little. So it also prints the CPU seconds of
every process (``--stats-json`` gauges ``workers.cpu_s.*``, from ``getrusage`` in each) and the
projected speed-up on free cores: the CPU of ``--workers 1`` over the CPU of the busiest
process of ``--workers N`` (the main process's start-up, before the fork, plus the busiest
worker).

    .venv/bin/python benchmarks/bench_workers.py [--copies 50] [--workers 1,2,4] [--repeat 1] [--sequential]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
PYTHON = sys.executable


def alert_set(path: Path) -> list[tuple[Any, ...]]:
    out = []
    for line in path.read_text().splitlines():
        d = json.loads(line)
        f = d.get("flowcep") or {}
        out.append((d["rule"]["id"], json.dumps((d.get("source") or {}).get("ip")),
                    json.dumps((d.get("destination") or {}).get("ip")), json.dumps(f.get("window")),
                    f.get("revision"), json.dumps(f.get("counts"), sort_keys=True),
                    json.dumps(f.get("metrics"), sort_keys=True)))
    return sorted(out)


def run(data: Path, folder: Path, workers: int,
        sequential: bool = False) -> tuple[float, float, float, float, int, list[tuple[Any, ...]], str]:
    """Wall seconds, CPU seconds of the command and its workers, CPU seconds of its busiest
    process, records, alerts, and how the work split (start-up, each worker's CPU seconds,
    the records each worker held)."""
    alerts, stats = folder / f"alerts-{workers}.jsonl", folder / f"stats-{workers}.json"
    alerts.unlink(missing_ok=True)
    cmd = [PYTHON, "-m", "flowcep_plugin", "run", "-q", "--no-progress", "-i", f"ipfix-file:{data}",
           "-o", f"jsonl:{alerts}", "--stats-json", str(stats), "--workers", str(workers)]
    before = os.times()
    t0 = time.perf_counter()
    env = {**os.environ, "FLOWCEP_WORKERS_SEQUENTIAL": "1" if sequential else "0"}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t0
    after = os.times()
    if proc.returncode != 0:
        raise SystemExit(f"bench_workers: --workers {workers} failed ({proc.returncode}): "
                         f"{proc.stderr.strip()[-400:]}")
    cpu = (after.children_user - before.children_user) + (after.children_system - before.children_system)
    snap = json.loads(stats.read_text())
    records = int(snap["stages"]["input"]["in"])
    return (wall, cpu, busiest(snap, cpu), busiest(snap, cpu, start_up=False), records, alert_set(alerts),
            split(snap, workers, records))


def split(snap: dict[str, Any], workers: int, records: int) -> str:
    """One line: the start-up before the fork, each worker's CPU seconds and the share of the
    records each worker held on average (``workers.records`` over workers x records)."""
    g = snap.get("gauges") or {}
    if workers < 2 or "workers.cpu_s.main_at_fork" not in g:
        return ""
    cpus = ", ".join(f"{float(g.get(f'workers.cpu_s.{i}', 0.0)):.2f}" for i in range(workers))
    held = float(g.get("workers.records", 0)) / max(1, workers * records)
    return (f"--workers {workers}: start-up {float(g['workers.cpu_s.main_at_fork']):.2f} CPU s, workers {cpus} "
            f"CPU s, each held {held:.2f} of the records")


def busiest(snap: dict[str, Any], total_cpu: float, start_up: bool = True) -> float:
    """CPU seconds of the busiest process of a run: with workers, the main process's start-up
    (everything before the fork: imports, plugins, compiling EPL) plus the busiest worker,
    or the main process's own total if that is larger; without, the whole command.

    The start-up runs before any worker starts, so it is on the critical path whatever the
    number of cores: counting it keeps the projection honest for short inputs. Without
    ``start_up``: the largest CPU of any one process (main or worker), as the issue states it."""
    g = snap.get("gauges") or {}
    workers = [float(v) for k, v in g.items() if k.startswith("workers.cpu_s.") and k.rsplit(".", 1)[1].isdigit()]
    if not workers:
        return total_cpu
    at_fork = float(g.get("workers.cpu_s.main_at_fork", 0.0)) if start_up else 0.0
    return max(at_fork + max(workers), float(g.get("workers.cpu_s.main", 0.0)))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--copies", type=int, default=50)
    ap.add_argument("--workers", default="1,2,4", help="comma-separated worker counts; 1 is the baseline")
    ap.add_argument("--repeat", type=int, default=1, help="runs per count; the best of each figure is kept")
    ap.add_argument("--sequential", action="store_true",
                    help="run the workers one after the other (FLOWCEP_WORKERS_SEQUENTIAL=1): the wall time "
                         "means nothing then, but each worker's CPU seconds are measured without the others "
                         "competing for the cores (for the projection on a busy machine)")
    args = ap.parse_args(argv)
    counts = sorted({1, *(int(x) for x in args.workers.split(",") if x.strip())})
    from bench_engine import build

    with tempfile.TemporaryDirectory(prefix="flowcep-bench-workers-") as tmp:
        folder = Path(tmp)
        data = folder / f"data-x{args.copies}.ipfix"
        msgs, _ = build(args.copies)
        data.write_bytes(b"".join(msgs))
        del msgs
        best: dict[int, tuple[float, float, float, float, int]] = {}
        details: dict[int, list[str]] = {}
        base_alerts: list[tuple[Any, ...]] | None = None
        same = True
        for _ in range(max(1, args.repeat)):
            for n in counts:
                wall, cpu, crit, crit_any, records, alerts, detail = run(data, folder, n, args.sequential and n > 1)
                if detail:
                    details.setdefault(n, []).append(detail)
                if n == 1:
                    base_alerts = alerts
                elif alerts != base_alerts:
                    same = False
                    print(f"--workers {n}: alerts differ from --workers 1 "
                          f"({len(alerts)} vs {len(base_alerts or [])})", file=sys.stderr)
                # each figure its own best: on a shared machine the runs are disturbed apart
                if n not in best:
                    best[n] = (wall, cpu, crit, crit_any, records)
                else:
                    b = best[n]
                    best[n] = (min(b[0], wall), min(b[1], cpu), min(b[2], crit), min(b[3], crit_any), records)
        load = os.getloadavg()[0]
        print(f"cores: {os.cpu_count()}, load average before the last run: {load:.2f}; "
              f"input: data.ipfix x{args.copies}" + ("; workers run one after the other (--sequential): "
                                                     "only the CPU figures and the projection count"
                                                     if args.sequential else ""))
        print("| workers | records | wall s | records/s | CPU s (all processes) | CPU s (busiest) | "
              "wall speed-up vs 1 | projected on free cores | projected, start-up left out | same alerts |")
        print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
        w1, c1 = best[1][0], best[1][1]
        for n in counts:
            wall, cpu, crit, crit_any, records = best[n]
            print(f"| {n} | {records:,} | {wall:.2f} | {records / wall:,.0f} | {cpu:.2f} | {crit:.2f} | "
                  f"{w1 / wall:.2f} | {c1 / crit:.2f} | {c1 / crit_any:.2f} | {'yes' if same or n == 1 else 'NO'} |")
        print("projected on free cores = CPU s of --workers 1 / CPU s of the busiest process of --workers N "
              "(its start-up before the fork plus its busiest worker); start-up left out = CPU s of --workers 1 / "
              "the largest CPU s of any one process (the main process or a worker)")
        for n in counts:
            for line in details.get(n, ()):
                print(line)
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
