"""The Kafka transport against one process, on the same file, in the same run.

Contenders, each the whole command as a user runs it, alternated ``--repeat`` times:

* ``one``: ``flowcep run`` of the file with the address-partitioned detectors (jsonl output);
* ``ingest``: ``flowcep ingest`` of the same file to a fresh topic (``--partitions`` 4);
* ``1 worker`` / ``2 workers``: ``flowcep run --input kafka://...`` workers of one group
  reading that topic to its end marker (wall time of the last one to finish).

The input is FlowCEP's ``data.ipfix`` concatenated ``--copies`` times, time-shifted
(``bench_engine.build``). The broker is a loopback noida-db started here (or ``FLOWCEP_KAFKA``).
The workers' alerts are compared with one process's and a difference fails the benchmark. It
also prints the wire volume (bytes and routed records per input record).
The figures are ratios to ``one`` measured in the same run; on a machine whose cores are busy
the worker ratios say little (two workers need two free cores).

    .venv/bin/python benchmarks/bench_kafka.py [--copies 10] [--repeat 2]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT / "tests"))
PYTHON = sys.executable
DETECTORS = ("portscan", "bruteforce", "volumetric", "multistage", "policy")
DET_ARGS = [a for d in DETECTORS for a in ("-d", d)]


def _flowcep(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([PYTHON, "-m", "flowcep_plugin", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _wait(*procs: subprocess.Popen[str]) -> None:
    for p in procs:
        _, err = p.communicate(timeout=1800)
        if p.returncode != 0:
            raise SystemExit(f"failed: {p.args}\n{err[-2000:]}")


def _timed(*commands: list[str]) -> float:
    """Wall time of the commands started together, until the last one ends."""
    t = time.perf_counter()
    _wait(*[_flowcep(*c) for c in commands])
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--copies", type=int, default=10)
    ap.add_argument("--repeat", type=int, default=2)
    args = ap.parse_args()
    from bench_engine import build

    servers = os.environ.get("FLOWCEP_KAFKA")
    server = None
    if not servers:
        from flowcep_plugin.es.loopback import start_noida

        server = start_noida(service="kafka")
        servers = server.url
    try:
        with tempfile.TemporaryDirectory(prefix="flowcep-bench-kafka-") as tmpdir:
            tmp = Path(tmpdir)
            msgs, _ = build(args.copies)
            data = tmp / "data.ipfix"
            data.write_bytes(b"".join(msgs))
            print(f"input: data.ipfix x{args.copies} ({data.stat().st_size / 1e6:.1f} MB); cores: "
                  f"{os.cpu_count()}, load: {os.getloadavg()[0]:.2f}")
            times: dict[str, list[float]] = {"one": [], "ingest": [], "1 worker": [], "2 workers": []}
            wire: dict[str, Any] = {}
            for r in range(args.repeat):
                one_out = tmp / f"one-{r}.jsonl"
                times["one"].append(_timed(["run", "-q", "--no-progress", "-i", str(data),
                                            "-o", f"jsonl:{one_out}", *DET_ARGS]))
                topic = f"bench-{uuid.uuid4().hex[:8]}"
                st = tmp / f"ingest-{r}.json"
                times["ingest"].append(_timed(["ingest", "-q", "--no-progress", "-i", str(data), "--to",
                                               f"kafka://{servers}/{topic}", "--partitions", "4",
                                               "--stats-json", str(st)]))
                wire = json.loads(st.read_text())
                from test_kafka_transport import alert_keys

                one = alert_keys([one_out])
                for n in (1, 2):
                    group = f"g{n}-{uuid.uuid4().hex[:6]}"
                    outs = [tmp / f"w{n}-{r}-{i}.jsonl" for i in range(n)]
                    times[f"{n} worker{'s' if n > 1 else ''}"].append(_timed(*[
                        ["run", "-q", "--no-progress", "-i", f"kafka://{servers}/{topic}?group={group}&instance=b{i}",
                         "-o", f"jsonl:{outs[i]}", *DET_ARGS] for i in range(n)]))
                    got = alert_keys([o for o in outs if o.exists()])
                    if got != one:
                        raise SystemExit(f"{n} worker(s): alerts differ from one process ({len(got)} vs {len(one)})")
            base = min(times["one"])
            records = wire["stages"]["publish"]["in"]
            print(f"{'contender':<12} {'best s':>8} {'ratio to one':>13}  all")
            for name, ts in times.items():
                print(f"{name:<12} {min(ts):8.2f} {min(ts) / base:13.2f}  {', '.join(f'{t:.2f}' for t in ts)}")
            print(f"wire: {wire['gauges']['kafka.bytes'] / records:.0f} bytes per input record, "
                  f"{wire['stages']['publish']['out'] / records:.2f} routed records per input record, "
                  f"{wire['gauges']['kafka.messages']} messages for {records:,} records")
    finally:
        if server is not None:
            server.stop()


if __name__ == "__main__":
    main()
