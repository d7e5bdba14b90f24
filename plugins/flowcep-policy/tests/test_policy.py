"""Policy detector: restricted hosts/ports per source, from configuration."""

from __future__ import annotations

import pytest
from flowcep_policy import SPEC

from flowcep_plugin.errors import ConfigError
from flowcep_plugin.testing import build_detector, check_detector, make_flow, run_detector, scenario_records

W = 300_000
BASE = 1_700_000_000_000 - 1_700_000_000_000 % W
FILE_SERVER = {"name": "file-server", "destinations": ["10.10.0.45/32"], "ports": [23, "135-139", 445],
               "allowed_sources": ["10.10.1.5/32"]}
CFG = {"policies": [FILE_SERVER]}


def smb(src: str, port: int = 445, n: int = 1, dst: str = "10.10.0.45") -> list[dict]:
    return [make_flow(src, dst, port, sport=50000 + i, packets=20, octets=5000, end_ms=BASE + 1000 + i)
            for i in range(n)]


def test_conformance() -> None:
    attack = smb("10.10.1.13", n=3) + smb("10.10.1.13", 23) + smb("10.10.1.14", 137)
    benign = smb("10.10.1.5", n=5) + smb("10.10.1.13", 80) + smb("10.10.1.13", 445, dst="10.10.0.46")
    events = check_detector(SPEC, attack=attack, benign=benign, config=CFG,
                            expect_rules=["policy-violation"])
    pairs = {(e["source"]["ip"], e["flowcep"]["counts"]["flows"]) for e in events}
    # one alert per (source, destination, protocol): 10.10.1.13 used 445 three times and 23 once
    assert pairs == {("10.10.1.13", 4), ("10.10.1.14", 1)}
    by_src = {e["source"]["ip"]: e for e in events}
    assert by_src["10.10.1.13"]["flowcep"]["fields"]["ports"] == [23, 445]
    assert "destination" in by_src["10.10.1.13"] and "port" not in by_src["10.10.1.13"]["destination"]
    assert by_src["10.10.1.14"]["destination"] == {"ip": "10.10.0.45", "port": 137}


def test_no_policy_no_alert_and_sources_scope() -> None:
    assert run_detector(SPEC, smb("10.10.1.13", n=3)) == []
    scoped = {"policies": [dict(FILE_SERVER, sources=["10.10.2.0/24"])]}
    assert run_detector(SPEC, smb("10.10.1.13"), config=scoped) == []
    assert len(run_detector(SPEC, smb("10.10.2.7"), config=scoped)) == 1
    udp_only = {"policies": [{"name": "no-dns-out", "ports": [53], "protocols": ["udp"],
                              "allowed_sources": ["10.10.0.53/32"]}]}
    dns = [make_flow("10.10.1.9", "8.8.8.8", 53, proto="udp", end_ms=BASE),
           make_flow("10.10.0.53", "8.8.8.8", 53, proto="udp", end_ms=BASE),
           make_flow("10.10.1.9", "8.8.8.8", 53, proto="tcp", packets=8, end_ms=BASE)]
    assert [e["source"]["ip"] for e in run_detector(SPEC, dns, config=udp_only)] == ["10.10.1.9"]


def test_bad_cidr_is_one_clear_config_error() -> None:
    with pytest.raises(ConfigError, match=r"policies\[0\] \(x\)"):
        build_detector(SPEC, {"policies": [{"name": "x", "destinations": ["10.0.0.300/32"]}]})


def test_synthetic_policy_scenario() -> None:
    records, sc = scenario_records("policy-violation")
    hint = sc.hints["policy"]
    cfg = {"policies": [{"name": "restricted", "destinations": hint["restricted_hosts"],
                         "ports": hint["restricted_ports"], "allowed_sources": hint["allowed_sources"]}]}
    events = run_detector(SPEC, records, config=cfg)
    assert {e["source"]["ip"] for e in events} == {sc.labels[0].attacker}
    benign, _ = scenario_records("benign", duration_s=600)
    assert run_detector(SPEC, benign, config=cfg) == []
