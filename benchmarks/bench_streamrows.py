"""What reading a level-1 stream as a declared EPL type costs, in the same run.

A synthetic stream file (``--rows`` rows of 4 columns, one per 10 ms, as ``jsonl:PATH?stream=``
writes them) is read by ``flowcep epl`` with one statement (a one-minute batch count per
source) three ways, alternated ``--repeat`` times, wall time of the whole command:

* ``typed``: ``create schema Reports (src string, ports long, hosts long, bytes long)``, every
  event checked against the declaration (engine/typed.py);
* ``untyped``: ``create schema Reports ()``, the same rows unchecked;
* ``alerts``: the same number of alert documents through ``alerts:PATH`` (``from Alert``),
  the level-2 input that existed before, as a reference point.

The figures are ratios to ``untyped``; the rows printed must be equal for ``typed`` and
``untyped``, or the benchmark fails.

    .venv/bin/python benchmarks/bench_streamrows.py [--rows 200000] [--repeat 2]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

T0 = 1_712_916_000_000
STATEMENT = "@Name('PerSource') select src, count(*) as n, sum(ports) as ports from {src}#time_batch(1 min) group by src;\n"


def _write(tmp: Path, rows: int) -> tuple[Path, Path]:
    stream, alerts = tmp / "rows.jsonl", tmp / "alerts.jsonl"
    with stream.open("w") as fs, alerts.open("w") as fa:
        for i in range(rows):
            t = T0 + 10 * i
            src = f"10.0.{(i // 256) % 16}.{i % 256}"
            fs.write(json.dumps({"@timestamp": t, "event": {"kind": "event", "dataset": "flowcep.stream"},
                                 "flowcep": {"stream": "Reports", "time_ms": t,
                                             "row": {"src": src, "ports": i % 100, "hosts": i % 7, "bytes": i}}})
                     + "\n")
            fa.write(json.dumps({"@timestamp": t, "event": {"kind": "alert", "end": t}, "rule": {"id": "r"},
                                 "source": {"ip": src}, "flowcep": {"counts": {"ports": i % 100}}}) + "\n")
    return stream, alerts


def _run(module: Path, address: str) -> tuple[float, str]:
    start = time.perf_counter()
    res = subprocess.run([sys.executable, "-m", "flowcep_plugin", "epl", str(module), "-i", address],
                         capture_output=True, text=True, check=True)
    return time.perf_counter() - start, res.stdout


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--repeat", type=int, default=2)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        stream, alerts = _write(tmp, args.rows)
        typed, untyped, alert_mod = tmp / "typed.epl", tmp / "untyped.epl", tmp / "alerts.epl"
        typed.write_text("create schema Reports (src string, ports long, hosts long, bytes long);\n"
                         + STATEMENT.format(src="Reports"))
        untyped.write_text("create schema Reports ();\n" + STATEMENT.format(src="Reports"))
        alert_mod.write_text(STATEMENT.format(src="Alert").replace("src,", "`source.ip` as src,")
                             .replace("group by src", "group by `source.ip`")
                             .replace("sum(ports)", "sum(`flowcep.counts.ports`)"))
        contenders = {"untyped": (untyped, f"stream:{stream}?type=Reports"),
                      "typed": (typed, f"stream:{stream}?type=Reports"),
                      "alerts": (alert_mod, f"alerts:{alerts}")}
        best: dict[str, float] = {}
        outputs: dict[str, str] = {}
        for _ in range(args.repeat):
            for name, (module, address) in contenders.items():
                took, out = _run(module, address)
                best[name] = min(best.get(name, took), took)
                outputs[name] = out
        if outputs["typed"] != outputs["untyped"]:
            raise SystemExit("typed and untyped runs printed different rows")
        base = best["untyped"]
        print(f"{args.rows} rows, best of {args.repeat} alternated runs")
        for name, took in best.items():
            print(f"  {name:8s} {took:6.2f} s  {args.rows / took:9.0f} rows/s  ratio {took / base:.2f}")


if __name__ == "__main__":
    main()
