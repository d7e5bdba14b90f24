"""Every shipped Python detector on the labelled synthetic scenarios: no false positives on
benign traffic (busy web client, DNS resolver, backups, mail, NTP, admin SSH), and every
attack of the mixed scenario found by the detector meant for it, with no alert on anyone else.
"""

from __future__ import annotations

from typing import Any

import pytest

from flowcep_plugin.testing import run_detector, scenario_records

portscan = pytest.importorskip("flowcep_portscan")
bruteforce = pytest.importorskip("flowcep_bruteforce")
volumetric = pytest.importorskip("flowcep_volumetric")
policy = pytest.importorskip("flowcep_policy")

SPECS = [portscan.SPEC, bruteforce.SPEC, volumetric.SPEC, policy.SPEC]
#: attack -> the rules expected to report it
EXPECTED = {
    "portscan-horizontal": {"portscan-horizontal"},
    "portscan-vertical": {"portscan-vertical"},
    "portscan-slow": {"portscan-horizontal"},
    "multistage-http": {"portscan-horizontal"},  # its SYN stage; the EPL module has its own tests
    "ssh-bruteforce": {"bruteforce-guessing"},
    "syn-flood": {"volumetric-syn-flood"},
    "dns-amplification": {"volumetric-amplification"},
    "policy-violation": {"policy-violation"},
    "icmp-sweep": {"portscan-sweep"},
    "udp-flood": {"volumetric-udp-flood"},
    "icmp-flood": {"volumetric-icmp-flood"},
}


def _config(spec: Any, hints: dict[str, Any]) -> dict[str, Any] | None:
    if spec.name != "policy":
        return None
    p = hints["policy"]
    return {"policies": [{"name": "restricted", "destinations": p["restricted_hosts"],
                          "ports": p["restricted_ports"], "allowed_sources": p["allowed_sources"]}]}


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2])
def test_benign_half_hour_has_no_alerts(seed: int) -> None:
    records, sc = scenario_records("benign", seed=seed, duration_s=1800)
    for spec in SPECS:
        events = run_detector(spec, records, config=_config(spec, sc.hints))
        assert events == [], f"{spec.name}: " + "; ".join(e["message"] for e in events[:3])


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 3])
def test_mixed_scenario_every_attack_found_nobody_else_accused(seed: int) -> None:
    records, sc = scenario_records("mixed", seed=seed)
    fired: dict[str, set[str]] = {}
    for spec in SPECS:
        for e in run_detector(spec, records, config=_config(spec, sc.hints), suppress_ms=3_600_000):
            fired.setdefault(e["rule"]["id"], set()).add(e["flowcep"]["key"])
    guilty: set[str] = set()
    for label in sc.labels:
        who = set(label.attackers) if label.match == "attacker" else set(label.victims)
        guilty |= who
        for rule in EXPECTED[label.attack]:
            assert fired.get(rule, set()) & who, f"{label.attack} ({sorted(who)}) not reported by {rule}"
    accused = set().union(*fired.values())
    assert accused <= guilty, f"alerts on unlabelled hosts: {sorted(accused - guilty)}"
