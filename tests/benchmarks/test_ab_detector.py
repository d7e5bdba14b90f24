"""``benchmarks/ab_detector.py`` keeps working: one round of a detector against this same tree.

The figures are not checked (the machine is shared); what is checked is that both runs made
the same alerts (the script stops otherwise), that the plugin came from the tree given, and that
the ratio lines the docs quote are printed."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "ab_detector.py"


@pytest.mark.slow
@pytest.mark.shared
def test_one_round_against_this_tree_prints_its_ratios(upstream_ipfix: Path) -> None:
    out = subprocess.run([sys.executable, str(SCRIPT), "bruteforce", str(ROOT), "--copies", "1", "--rounds", "1"],
                         capture_output=True, text=True, timeout=120, cwd=ROOT, check=True).stdout
    assert re.search(r"round 1: bruteforce [\d.]+ s CPU, base [\d.]+; .* alerts md5 [0-9a-f]{32}", out), out
    assert re.search(r"^detector new/base median [\d.]+", out, re.M), out
    assert re.search(r"^total new/base median [\d.]+", out, re.M), out


def test_a_plugin_from_another_tree_is_refused(tmp_path: Path) -> None:
    # the child checks where the package came from: a tree without the plugin fails loudly
    # instead of measuring the installed one
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import ab_detector
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    got = subprocess.run([sys.executable, "-c", ab_detector.CHILD, str(tmp_path),
                          json.dumps([ab_detector.DETECTORS["trafficstats"]]), str(tmp_path / "in.ipfix"),
                          str(tmp_path / "out.jsonl"), "0"],
                         capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert got.returncode != 0
    assert f"flowcep_trafficstats came from {ROOT}" in got.stderr, got.stderr
