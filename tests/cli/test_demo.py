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


def test_demo_config_matches_the_sample_labels():
    import tomllib

    from flowcep_plugin.synth.evaluation import policy_config

    hints = json.loads((DATA / "demo.labels.json").read_text())["hints"]
    cfg = tomllib.loads((DATA / "demo.toml").read_text())
    assert cfg["detectors"]["policy"] == policy_config(hints)["detectors"]["policy"]
    zones = cfg["enrichers"]["zones"]["zones"]
    assert [zones["clients"][0], zones["servers"][0], zones["dmz"][0]] == \
        [hints["networks"]["clients"], hints["networks"]["servers"], hints["networks"]["dmz"]]


def test_demo_reports_every_labelled_attacker(demo):
    _res, tmp = demo
    docs = [json.loads(line) for line in (tmp / "alerts.jsonl").read_text().splitlines()]
    labels = json.loads((DATA / "demo.labels.json").read_text())["labels"]
    alerted_src = {d["source"]["ip"] for d in docs if (d.get("source") or {}).get("ip")}
    alerted_dst = {ip for d in docs for ip in (lambda v: v if isinstance(v, list) else [v])(
        (d.get("destination") or {}).get("ip")) if ip}
    for lab in labels:
        if lab.get("match", "attacker") == "attacker":
            assert lab["attacker"] in alerted_src, f"{lab['id']}: attacker {lab['attacker']} not alerted"
        else:  # floods and reflection: the victim is what the alert names
            assert set(lab["victims"]) & alerted_dst, f"{lab['id']}: victim {lab['victims']} not alerted"
