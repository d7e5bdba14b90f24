"""``flowcep synth`` / ``flowcep evaluate`` from the command line, and the bundled demo."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from flowcep_plugin.synth.build_demo import DATA_DIR, demo_files
from flowcep_plugin.synth.scenarios import SCENARIOS


def _flowcep(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "flowcep_plugin", *args], capture_output=True, text=True,
                          timeout=120)


def test_bundled_demo_equals_a_fresh_generation() -> None:
    data, labels = demo_files()
    bundled = DATA_DIR / "demo.ipfix"
    assert bundled.read_bytes() == data, "regenerate: python -m flowcep_plugin.synth.build_demo"
    assert (DATA_DIR / "demo.labels.json").read_text(encoding="utf-8") == labels
    assert 100_000 < len(data) < 1_000_000
    doc = json.loads(labels)
    # every attack once, the multi-stage one as three stage labels
    assert doc["scenario"] == "mixed" and len(doc["labels"]) == len(SCENARIOS["mixed"].attacks) + 2


def test_synth_list_names_every_scenario() -> None:
    out = _flowcep("synth", "--list")
    assert out.returncode == 0, out.stderr
    names = [line.split()[0] for line in out.stdout.splitlines()]
    assert names == list(SCENARIOS)


def test_synth_writes_ipfix_and_labels(tmp_path: Path) -> None:
    out = tmp_path / "scan.ipfix"
    r = _flowcep("synth", "portscan-vertical", "--out", str(out), "--duration", "3m", "--seed", "4",
                 "--start", "2025-01-02T03:04:05Z", "--clients", "2")
    assert r.returncode == 0, r.stderr
    assert out.read_bytes()[:2] == b"\x00\x0a"  # IPFIX version 10
    labels = json.loads((tmp_path / "scan.labels.json").read_text())
    assert labels["start"] == "2025-01-02T03:04:05.000Z" and labels["seed"] == 4
    assert labels["labels"][0]["attack"] == "portscan-vertical"
    # same arguments, same bytes
    out2 = tmp_path / "again.ipfix"
    _flowcep("synth", "portscan-vertical", "--out", str(out2), "--duration", "3m", "--seed", "4",
             "--start", "2025-01-02T03:04:05Z", "--clients", "2")
    assert out2.read_bytes() == out.read_bytes()


def test_synth_writes_pcap_and_jsonl(tmp_path: Path) -> None:
    r = _flowcep("synth", "policy-violation", "--out", str(tmp_path / "p.pcap"), "--duration", "3m",
                 "--clients", "1", "--no-busy-client", "--max-segments", "8")
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "p.pcap").read_bytes()[:4] == bytes.fromhex("d4c3b2a1")  # pcap, little endian
    assert (tmp_path / "p.labels.json").exists()
    r = _flowcep("synth", "policy-violation", "--out", str(tmp_path / "p.jsonl"), "--duration", "3m")
    assert r.returncode == 0, r.stderr
    first = json.loads((tmp_path / "p.jsonl").read_text().splitlines()[0])
    assert {"sourceIPv4Address", "flowEndMilliseconds", "packetDeltaCount"} <= set(first)


@pytest.mark.parametrize("args, message", [
    (["synth", "nope", "--out", "x.ipfix"], "unknown scenario 'nope'"),
    (["synth", "benign", "--out", "x.txt"], "cannot tell the format"),
    (["synth", "benign", "--out", "x.ipfix", "--duration", "1m"], "at least 180 s"),
    (["synth", "benign", "--out", "x.ipfix", "--start", "yesterday"], "not an ISO 8601 time"),
    (["synth", "benign"], "--out FILE is required"),
    (["evaluate", "--scenario", "nope"], "unknown scenario 'nope'"),
])
def test_user_errors_are_one_line_exit_2(tmp_path: Path, args: list[str], message: str) -> None:
    r = subprocess.run([sys.executable, "-m", "flowcep_plugin", *args], capture_output=True, text=True,
                       timeout=60, cwd=tmp_path)
    assert r.returncode == 2
    assert r.stderr.strip().splitlines()[-1].startswith("flowcep: error:") and message in r.stderr
    assert "Traceback" not in r.stderr


def test_evaluate_json_on_one_scenario() -> None:
    from flowcep_plugin.synth.evaluation import installed_detectors

    if "portscan" not in installed_detectors():
        pytest.skip("flowcep-portscan is not installed")
    r = _flowcep("evaluate", "--scenario", "portscan-vertical", "--detectors", "portscan", "--format", "json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["scenarios"] == ["portscan-vertical"]
    assert doc["summary"]["labels"] == 1
    assert {d["detector"] for d in doc["detectors"]} == {"portscan"}
