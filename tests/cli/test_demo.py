"""`flowcep demo`: the bundled sample through every installed detector, no server."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from flowcep_plugin.alerts import validate_event

DATA = Path(__file__).resolve().parents[2] / "flowcep_plugin" / "data"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("demo")
    res = subprocess.run([sys.executable, "-m", "flowcep_plugin", "demo", "--out", "alerts.jsonl",
                          "--stats-json", "stats.json"], cwd=tmp, capture_output=True, text=True,
                         timeout=300)
    return res, tmp


def test_demo_succeeds_and_prints_readable_lines(demo):
    res, _ = demo
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert lines, "no alert printed"
    assert all(not line.startswith("{") for line in lines), "stdout should be readable, not JSON"
    assert any("multistage-attack" in line for line in lines)


def test_demo_alerts_are_valid_ecs_and_match_the_labels(demo):
    res, tmp = demo
    docs = [json.loads(line) for line in (tmp / "alerts.jsonl").read_text().splitlines()]
    stats = json.loads((tmp / "stats.json").read_text())
    assert len([d for d in docs if d["event"]["kind"] == "alert"]) == sum(stats["alerts_by_rule"].values())
    for d in docs:
        validate_event(d)
    labels = json.loads((DATA / "demo.labels.json").read_text())["labels"]
    multistage = {lab["attacker"] for lab in labels if lab["attack"].startswith("multistage")}
    reported = {d["source"]["ip"] for d in docs if d["rule"]["id"] == "multistage-attack"}
    assert reported == multistage and len(reported) == 1
    attackers = {lab["attacker"] for lab in labels}
    alerted = {d["source"]["ip"] for d in docs if (d.get("source") or {}).get("ip")}
    assert alerted <= attackers, f"alerts on hosts that did not attack: {alerted - attackers}"
    assert stats["drops"] == {}
