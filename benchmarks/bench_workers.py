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

The children run as an installed flowcep does, from cached bytecode: ``PYTHONDONTWRITEBYTECODE``
(set in some shells) is dropped for them and their caches go to the run's temporary folder,
warmed by one short run first; compiling every module from source costs each run about 0.2 CPU
s of start-up that an installed copy never pays (``--no-bytecode-cache`` keeps the caller's
setting). ``--baseline DIR`` runs a second tree (a folder holding its ``flowcep_plugin``
package, e.g. ``git archive HEAD~3 flowcep_plugin | tar -x -C DIR``) alternately with this one,
every figure of both in the same run, and its alerts must be the same too.

``--profile DIR`` writes a cProfile of every process of each run there (the main thread of
the command as ``main-T-N.prof``, each worker as ``workers-T-N/worker-I.prof``, T the tree, N the
workers; the last of ``--repeat`` runs; ``FLOWCEP_WORKERS_PROFILE``),
to see where each one's CPU goes; the profiler inflates every figure of those runs.

    .venv/bin/python benchmarks/bench_workers.py [--copies 50] [--workers 1,2,4] [--repeat 1] [--sequential]
        [--baseline DIR] [--no-bytecode-cache] [--profile DIR]
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


def child_env(folder: Path, tree: str | None, bytecode_cache: bool) -> dict[str, str]:
    """The environment of a measured command: ``tree`` (a folder holding a ``flowcep_plugin``
    package) first on the path, else the installed one; bytecode cached in ``folder``."""
    env = dict(os.environ)
    if tree:
        env["PYTHONPATH"] = os.pathsep.join([tree, *filter(None, [env.get("PYTHONPATH")])])
    if bytecode_cache:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(folder / "pycache")
    return env


def run(data: Path, folder: Path, workers: int, sequential: bool = False, env: dict[str, str] | None = None,
        tag: str = "", profile: Path | None = None) -> tuple[float, float, float, float, int, list[tuple[Any, ...]], str]:
    """Wall seconds, CPU seconds of the command and its workers, CPU seconds of its busiest
    process, records, alerts, and how the work split (start-up, each worker's CPU seconds,
    the records each worker held)."""
    alerts, stats = folder / f"alerts{tag}-{workers}.jsonl", folder / f"stats{tag}-{workers}.json"
    alerts.unlink(missing_ok=True)
    prof = [] if profile is None else ["-m", "cProfile", "-o", str(profile / f"main{tag}-{workers}.prof")]
    cmd = [PYTHON, *prof, "-m", "flowcep_plugin", "run", "-q", "--no-progress", "-i", f"ipfix-file:{data}",
           "-o", f"jsonl:{alerts}", "--stats-json", str(stats), "--workers", str(workers)]
    before = os.times()
    t0 = time.perf_counter()
    env = {**(env or os.environ), "FLOWCEP_WORKERS_SEQUENTIAL": "1" if sequential else "0"}
    if profile is not None:
        where = profile / f"workers{tag}-{workers}"
        where.mkdir(parents=True, exist_ok=True)
        env["FLOWCEP_WORKERS_PROFILE"] = str(where)
    # run from the temporary folder: ``-m`` puts the current folder first on the path, which
    # would shadow a --baseline tree with the checkout's own package
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=folder)
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
    """One line: the start-up before the fork, each worker's CPU seconds, the share of the
    records each worker held and of those whose source it owns (``workers.records.N``,
    ``workers.sources.N``; the average of ``workers.records`` for a tree without them)."""
    g = snap.get("gauges") or {}
    if workers < 2 or "workers.cpu_s.main_at_fork" not in g:
        return ""
    cpus = ", ".join(f"{float(g.get(f'workers.cpu_s.{i}', 0.0)):.2f}" for i in range(workers))
    held = float(g.get("workers.records", 0)) / max(1, workers * records)
    if f"workers.records.{workers - 1}" in g:  # each worker's own share: not noisy, unlike CPU
        held_each = ", ".join(f"{float(g[f'workers.records.{i}']) / max(1, records):.2f}" for i in range(workers))
        src_each = ", ".join(f"{float(g[f'workers.sources.{i}']) / max(1, records):.2f}" for i in range(workers))
        held_text = f"held {held_each} of the records (sources owned {src_each})"
    else:
        held_text = f"each held {held:.2f} of the records"
    share = g.get("workers.balance_share_max")
    balance = f", owner map balanced on {int(g['workers.balance_sample']):,} records (estimated busiest share " \
              f"{float(share):.2f})" if share is not None else ", owner map CRC-32 mod N"
    main = g.get("workers.cpu_s.main")
    main_text = f", main process {float(main):.2f} CPU s in all" if main is not None else ""
    return (f"--workers {workers}: start-up {float(g['workers.cpu_s.main_at_fork']):.2f} CPU s{main_text}, "
            f"workers {cpus} CPU s, {held_text}{balance}")


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
                    help="the workers take turns, one message at a time (FLOWCEP_WORKERS_SEQUENTIAL=1): the "
                         "wall time means less then, but each worker's CPU seconds are measured without the "
                         "other workers competing for the cores (for the projection on a busy machine)")
    ap.add_argument("--baseline", metavar="DIR",
                    help="also run the flowcep_plugin package in DIR, alternately with this tree")
    ap.add_argument("--no-bytecode-cache", action="store_true",
                    help="keep the caller's PYTHONDONTWRITEBYTECODE (every module compiled from source each run)")
    ap.add_argument("--profile", metavar="DIR",
                    help="write a cProfile of the main process and of each worker of every run to DIR "
                         "(inflates every figure of those runs)")
    args = ap.parse_args(argv)
    profile = Path(args.profile).resolve() if args.profile else None
    if profile is not None:
        profile.mkdir(parents=True, exist_ok=True)
    counts = sorted({1, *(int(x) for x in args.workers.split(",") if x.strip())})
    from bench_engine import build

    with tempfile.TemporaryDirectory(prefix="flowcep-bench-workers-") as tmp:
        folder = Path(tmp)
        data = folder / f"data-x{args.copies}.ipfix"
        msgs, _ = build(args.copies)
        data.write_bytes(b"".join(msgs))
        small = folder / "data-x1.ipfix"
        small.write_bytes(b"".join(build(1)[0]))
        del msgs
        trees = {"this tree": None, **({"baseline": str(Path(args.baseline).resolve())} if args.baseline else {})}
        envs = {name: child_env(folder, tree, not args.no_bytecode_cache) for name, tree in trees.items()}
        for env in envs.values():  # warm the bytecode caches (and the page cache)
            run(small, folder, 2, env=env, tag="-warm")
        best: dict[tuple[str, int], tuple[float, float, float, float, int]] = {}
        details: dict[tuple[str, int], list[str]] = {}
        base_alerts: list[tuple[Any, ...]] | None = None
        same = True
        for _ in range(max(1, args.repeat)):
            for n in counts:
                for t, (name, env) in enumerate(envs.items()):
                    wall, cpu, crit, crit_any, records, alerts, detail = run(
                        data, folder, n, args.sequential and n > 1, env=env, tag=f"-{t}", profile=profile)
                    if detail:
                        details.setdefault((name, n), []).append(detail)
                    if base_alerts is None:
                        base_alerts = alerts
                    elif alerts != base_alerts:
                        same = False
                        print(f"{name}, --workers {n}: alerts differ from --workers 1 "
                              f"({len(alerts)} vs {len(base_alerts or [])})", file=sys.stderr)
                    # each figure its own best: on a shared machine the runs are disturbed apart
                    b = best.get((name, n))
                    best[(name, n)] = (wall, cpu, crit, crit_any, records) if b is None else \
                        (min(b[0], wall), min(b[1], cpu), min(b[2], crit), min(b[3], crit_any), records)
        load = os.getloadavg()[0]
        print(f"cores: {os.cpu_count()}, load average before the last run: {load:.2f}; "
              f"input: data.ipfix x{args.copies}; bytecode {'from source each run' if args.no_bytecode_cache else 'cached'}"
              + ("; workers take turns, one message at a time (--sequential): the CPU figures and the projections count most"
                 if args.sequential else ""))
        cores = os.cpu_count() or 1
        print("| tree | workers | records | wall s | records/s | CPU s (all processes) | CPU s (busiest) | "
              f"wall speed-up vs 1 | projected on free cores | projected, start-up left out | projected on {cores} "
              "cores | same alerts |")
        print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
        for name in envs:
            w1, c1 = best[(name, 1)][0], best[(name, 1)][1]
            for n in counts:
                wall, cpu, crit, crit_any, records = best[(name, n)]
                # on ``cores`` free cores no run ends before its busiest process, nor before
                # all its CPU seconds are spread over the cores
                print(f"| {name} | {n} | {records:,} | {wall:.2f} | {records / wall:,.0f} | {cpu:.2f} | {crit:.2f} | "
                      f"{w1 / wall:.2f} | {c1 / crit:.2f} | {c1 / crit_any:.2f} | {c1 / max(crit, cpu / cores):.2f} | "
                      f"{'yes' if same else 'NO'} |")
        if args.baseline:
            for n in counts:
                b, m = best[("baseline", n)], best[("this tree", n)]
                print(f"--workers {n}: this tree / baseline: wall {m[0] / b[0]:.2f}, CPU (all) {m[1] / b[1]:.2f}, "
                      f"CPU (busiest) {m[2] / b[2]:.2f}")
        print("projected on free cores = CPU s of --workers 1 / CPU s of the busiest process of --workers N "
              "(its start-up before the fork plus its busiest worker, or the main process if busier); start-up "
              "left out = CPU s of --workers 1 / the largest CPU s of any one process (the main process or a "
              f"worker); projected on {cores} cores = CPU s of --workers 1 / the larger of the busiest process "
              f"and all CPU s over {cores} (the main process is busy too: N workers are N + 1 busy processes)")
        for (name, _n), lines in details.items():
            for line in lines:
                print(f"{name}: {line}")
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
