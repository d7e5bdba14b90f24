#!/usr/bin/env python3
"""Score the installed detectors on exporter conversions of the labelled captures.

Usage: .venv/bin/python scripts/score_exports.py CACHE_DIR [softflowd arguments ...]
       (default arguments: -v 10 -b)

Every capture of tests/fixtures/realtools and ../shared/data/traces (labels.json in each) is
read by softflowd (capture time, to a loopback UDP socket), the datagrams are wrapped into a pcap
in CACHE_DIR (reused when present, so a before/after comparison reads the same exports), and the
file runs through ``pcap+export:`` with every installed detector at default settings. Scored as
../shared/tools/score-traces scores the pcap meter: found = an alert whose source.ip is a
labelled attacker (floods: whose destination.ip is a labelled victim); accused = an alert
source that is not a labelled attacker. One line per capture, then the totals and the sum of
the ``sanitize.biflows_reoriented*`` counters.
"""

from __future__ import annotations

import ipaddress
import json
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

from flowcep_plugin.testing import drain_datagrams, loopback_recorder

ROOT = Path(__file__).resolve().parent.parent
SETS = (ROOT / "tests" / "fixtures" / "realtools", ROOT.parent / "shared" / "data" / "traces")


def _inside(ip: str, nets: list[str]) -> bool:
    try:
        a = ipaddress.ip_address(ip)
    except ValueError:
        return False
    return any(a in ipaddress.ip_network(n, strict=False) for n in nets)


def _flat(v: Any) -> list[str]:
    return [str(i) for i in v] if isinstance(v, list) else ([str(v)] if v else [])


def _export(capture: Path, out: Path, args: list[str]) -> None:
    """softflowd reads ``capture`` and sends to loopback; the datagrams are wrapped into ``out``."""
    import scapy.all as sc

    s = loopback_recorder()
    ctl = Path(f"/tmp/sf{uuid.uuid4().hex[:4]}")  # softflowd 1.1.0 hangs on a long socket path
    pid = Path(f"/tmp/sf{uuid.uuid4().hex[:4]}.pid")
    try:
        subprocess.run(["softflowd", "-r", str(capture), "-n", f"127.0.0.1:{s.getsockname()[1]}", "-d", "-a",
                        "-6", "-c", str(ctl), "-p", str(pid), *args],
                       capture_output=True, timeout=300, check=True, stdin=subprocess.DEVNULL)
    finally:
        ctl.unlink(missing_ok=True)
        pid.unlink(missing_ok=True)
    data = drain_datagrams(s)
    sc.wrpcap(str(out), [sc.Ether() / sc.IP(src="127.0.0.1", dst="127.0.0.1") / sc.UDP(sport=9, dport=2055) / d
                         for d in data])


def main() -> int:
    from flowcep_plugin.api import run

    cache = Path(sys.argv[1])
    args = sys.argv[2:] or ["-v", "10", "-b"]
    cache.mkdir(parents=True, exist_ok=True)
    found = attacks = accused = 0
    reoriented: dict[str, int] = {}
    for base in SETS:
        for lab in json.loads((base / "labels.json").read_text()):
            out = cache / f"{base.name}-{lab['file']}"
            if not out.exists():
                _export(base / lab["file"], out, args)
            result = run(inputs=[f"pcap+export:{out}"], outputs=[])
            for k, v in result.stats.get("gauges", {}).items():
                if k.startswith("sanitize.biflows_reoriented") and isinstance(v, int):
                    reoriented[k] = reoriented.get(k, 0) + v
            att, vic = lab.get("attackers", []), lab.get("victims", [])
            alerts = result.alerts
            srcs = {ip for a in alerts for ip in _flat(a.get("source", {}).get("ip"))}
            dsts = {ip for a in alerts for ip in _flat(a.get("destination", {}).get("ip"))}
            wrong = sorted(s for s in srcs if not _inside(s, att)
                           and not (_inside(s, vic) and "flood" in lab["kind"]))
            hit = None
            if lab["category"] == "attack":
                attacks += 1
                hit = any(_inside(s, att) for s in srcs) or (
                    "flood" in lab["kind"] and any(_inside(t, vic) for t in dsts))
                found += hit
            accused += len(wrong)
            rules = sorted({a.get("rule", {}).get("id", "?") for a in alerts})
            mark = {True: "HIT ", False: "MISS", None: "    "}[hit]
            print(f"{mark} {lab['category']:6} {base.name[:9]:9} {lab['file'][:44]:44} alerts={len(alerts):3} "
                  f"rules={','.join(rules)[:60]} wrong={wrong[:3]}", flush=True)
    print(f"softflowd {' '.join(args)}: found {found}/{attacks}, accused sources {accused}, {reoriented}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
