"""``benchmarks/bench_pipeline.py`` keeps working: tiny inputs, a 2-second live step.

The figures are not checked (the machine is shared); what is checked is that every contender
ran on the same records and the table the docs are copied from is printed."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "bench_pipeline.py"
PER_COPY = 13_898  # data records in one copy of FlowCEP's data.ipfix


def _row(out: str, label: str) -> list[str]:
    for line in out.splitlines():
        if line.startswith(f"| {label}"):
            return [c.strip() for c in line.strip("|").split("|")]
    raise AssertionError(f"no row {label!r} in:\n{out}")


@pytest.mark.slow
@pytest.mark.shared
def test_file_profile_and_live_modes_print_their_tables(upstream_ipfix: Path) -> None:
    out = subprocess.run(
        [sys.executable, str(SCRIPT), "--copies", "2", "--profile", "--live", "--live-seconds", "2",
         "--rates", "20000", "--live-budget", "40"],
        capture_output=True, text=True, timeout=120, cwd=ROOT, check=True).stdout
    # every record of every copy reached the detectors: none dropped by the clock or the sanitizer
    n = f"{2 * PER_COPY:,}"
    assert re.search(rf"x2 time-shifted, {n} records, .*; {n} reached the detectors; "
                     rf"plain decoders read {n} and {n};", out), out
    row = _row(out, "flowcep run, default detectors + enrichers")
    assert re.fullmatch(r"[\d,]+ rec/CPU-s", row[1]) and 0 < float(row[3]) < 10
    assert _row(out, "peak RSS x2")[1].endswith(" MB")
    # the per-stage profile covers the stages and sums to the whole
    shares = [float(m) for m in re.findall(r"\|\s+([\d.]+)%\s+\|", out)]
    assert "| input (read + decode)" in out and "| sanitize" in out and "| detector " in out
    assert sum(shares) == pytest.approx(100, abs=1.0)
    # the live step: 20k records/s for 2 s on loopback is well within reach, so nothing is lost
    live = _row(out, "flowcep | 20,000")
    assert live[3] == live[4] and int(live[3].replace(",", "")) >= 30_000
    assert _row(out, "live flowcep: highest lossless rate")[1] == "20,000 rec/s"
    if shutil.which("nfcapd") and shutil.which("nfdump"):
        nf = _row(out, "nfcapd | 20,000")
        assert nf[3] == nf[4]
