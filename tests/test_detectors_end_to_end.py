"""End to end: `flowcep synth mixed` written as IPFIX, read back by the pipeline with every
shipped detector; every labelled attack reported by its rules, nobody else accused, exactly one
multi-stage attacker, every document valid against the alert schema."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from flowcep_plugin.alerts import event_errors

DETECTORS = ["multistage", "portscan", "bruteforce", "volumetric", "policy", "trafficstats"]
EXPECTED = {
    "portscan-horizontal": {"portscan-horizontal"},
    "portscan-vertical": {"portscan-vertical"},
    "portscan-slow": {"portscan-horizontal"},
    "multistage-http": {"multistage-attack", "multistage-tcp-syn-scan", "multistage-http-scan",
                        "multistage-http-bruteforce"},
    "ssh-bruteforce": {"bruteforce-guessing"},
    "syn-flood": {"volumetric-syn-flood"},
    "dns-amplification": {"volumetric-amplification"},
    "policy-violation": {"policy-violation"},
    "icmp-sweep": {"portscan-sweep"},
    "udp-flood": {"volumetric-udp-flood"},
    "icmp-flood": {"volumetric-icmp-flood"},
}


@pytest.mark.slow
def test_mixed_scenario_through_the_pipeline(tmp_path: Path) -> None:
    for mod in ("flowcep_plugin.engine.detector", "flowcep_multistage", "flowcep_portscan",
                "flowcep_bruteforce", "flowcep_volumetric", "flowcep_policy", "flowcep_trafficstats"):
        pytest.importorskip(mod)
    from flowcep_plugin.api import run

    out = tmp_path / "mixed.ipfix"
    res = subprocess.run([sys.executable, "-m", "flowcep_plugin.cli", "synth", "mixed", "--out", str(out)],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    labels = json.loads(out.with_suffix(".labels.json").read_text())
    pol = labels["hints"]["policy"]
    config = {"detectors": {"policy": {"policies": [{
        "name": "restricted", "destinations": pol["restricted_hosts"], "ports": pol["restricted_ports"],
        "allowed_sources": pol["allowed_sources"]}]}}}
    result = run([str(out)], detectors=DETECTORS, config=config)
    assert result.stats["plugin_errors"] == {}
    alerts = [e for e in result.events if e["event"]["kind"] == "alert"]
    for e in result.events:
        assert event_errors(e) == [], e["rule"]["id"]
    fired: dict[str, set[str]] = {}
    for e in alerts:
        fired.setdefault(e["rule"]["id"], set()).add(e["flowcep"]["key"])
    guilty: set[str] = set()
    for lb in labels["labels"]:
        who = set(lb["attackers"]) if lb["match"] == "attacker" else set(lb["victims"])
        guilty |= who
        for rule in EXPECTED[lb["attack"]]:
            assert fired.get(rule, set()) & who, f"{lb['attack']} {sorted(who)} not reported by {rule}"
    accused = set().union(*fired.values())
    assert accused <= guilty, f"alerts on unlabelled hosts: {sorted(accused - guilty)}"
    multistage = next(lb for lb in labels["labels"] if lb["attack"] == "multistage-http")
    assert fired["multistage-attack"] == {multistage["attacker"]}
    assert any(e["event"]["kind"] == "metric" for e in result.events)  # trafficstats ran too
