"""Brute-force detector: login-shaped flows counted per client and service."""

from __future__ import annotations

import pytest
from flowcep_bruteforce import SPEC

from flowcep_plugin.testing import check_detector, make_flow, run_detector, scenario_records

W = 300_000
BASE = 1_700_000_000_000 - 1_700_000_000_000 % W


def ssh_tries(n: int, src: str = "198.51.100.9", dst: str = "10.0.0.22", step_ms: int = 20_000,
              packets: int = 15, octets: int = 3000, duration_ms: int = 4000) -> list[dict]:
    return [make_flow(src, dst, 22, sport=41000 + i, packets=packets, octets=octets,
                      end_ms=BASE + 5000 + i * step_ms, duration_ms=duration_ms) for i in range(n)]


def interactive_and_backup() -> list[dict]:
    # an admin's long interactive session, a git pull, and rsync-over-ssh backups
    return [
        make_flow("10.10.1.5", "10.0.0.22", 22, packets=900, octets=120_000, end_ms=BASE + 200_000,
                  duration_ms=180_000),
        make_flow("10.10.1.5", "10.0.0.22", 22, packets=30, octets=9000, end_ms=BASE + 60_000,
                  duration_ms=1500),
        *[make_flow(f"10.10.0.8{i}", "10.10.0.40", 22, packets=200_000, octets=300_000_000,
                    end_ms=BASE + 250_000, duration_ms=200_000) for i in range(4)],
    ]


def test_conformance_fires_on_guessing_silent_on_admin_traffic() -> None:
    events = check_detector(SPEC, attack=ssh_tries(12), benign=interactive_and_backup(),
                            expect_rules=["bruteforce-guessing"])
    assert len(events) == 1
    e = events[0]
    assert e["source"]["ip"] == "198.51.100.9"
    assert e["destination"] == {"ip": "10.0.0.22", "port": 22}
    assert e["flowcep"]["counts"] == {"attempts": 12}
    assert e["threat"]["technique"]["subtechnique"]["id"] == ["T1110.001"]


def test_stream4flow_shape_bounds() -> None:
    # 10 attempts fire, 9 do not (>= 10 in 5 min)
    assert len(run_detector(SPEC, ssh_tries(10))) == 1
    assert run_detector(SPEC, ssh_tries(9)) == []
    # outside the flow shape: too many packets, too few bytes, too long (12 s is excluded)
    assert run_detector(SPEC, ssh_tries(12, packets=21)) == []
    assert run_detector(SPEC, ssh_tries(12, octets=1799)) == []
    assert run_detector(SPEC, ssh_tries(12, duration_ms=12_000)) == []
    assert len(run_detector(SPEC, ssh_tries(12, packets=10, octets=1800, duration_ms=11_999))) == 1


def test_other_services_and_config_override() -> None:
    rdp = [make_flow("198.51.100.3", "10.0.0.5", 3389, sport=40000 + i, packets=20, octets=4000,
                     end_ms=BASE + i * 1000, duration_ms=2000) for i in range(15)]
    assert [e["destination"]["port"] for e in run_detector(SPEC, rdp)] == [3389]
    # a custom service on a custom port
    cfg = {"services": {"vnc": {"ports": [5900], "min_packets": 5, "max_packets": 30,
                                "min_bytes": 100, "max_bytes": 3000, "max_duration": "10s"}}}
    vnc = [make_flow("198.51.100.3", "10.0.0.5", 5900, packets=10, octets=800, end_ms=BASE + i * 1000,
                     duration_ms=500) for i in range(10)]
    assert run_detector(SPEC, vnc) == []
    assert len(run_detector(SPEC, vnc, config=cfg)) == 1


def test_slow_rule_counts_over_servers_and_long_window() -> None:
    # 32 tries over 25 minutes to 4 servers: never 10 in one 5-min window to one server
    slow_window = 1_800_000
    base = BASE - BASE % slow_window
    tries = [make_flow("198.51.100.7", f"10.0.0.{20 + i % 4}", 22, sport=40000 + i, packets=14,
                       octets=2500, end_ms=base + i * 45_000, duration_ms=3000) for i in range(32)]
    events = run_detector(SPEC, tries)
    assert [e["rule"]["id"] for e in events] == ["bruteforce-slow"]
    assert events[0]["flowcep"]["counts"] == {"attempts": 32, "servers": 4}
    assert run_detector(SPEC, tries, config={"slow_min_attempts": 0}) == []


def test_config_schema_rejects_typos() -> None:
    import jsonschema

    with pytest.raises(jsonschema.ValidationError):
        run_detector(SPEC, [], config={"min_attemps": 3})
    with pytest.raises(jsonschema.ValidationError):
        run_detector(SPEC, [], config={"services": {"ssh": {"port": [22]}}})


def test_synthetic_scenarios() -> None:
    records, sc = scenario_records("ssh-bruteforce")
    events = run_detector(SPEC, records)
    attacker = sc.labels[0].attacker
    assert {e["source"]["ip"] for e in events} == {attacker}
    assert "bruteforce-guessing" in {e["rule"]["id"] for e in events}
    benign, _ = scenario_records("benign", duration_s=600)
    assert run_detector(SPEC, benign) == []


def test_ignored_sources() -> None:
    assert run_detector(SPEC, ssh_tries(12), config={"ignore_sources": ["198.51.100.0/24"]}) == []
    assert len(run_detector(SPEC, ssh_tries(12), config={"ignore_sources": ["198.51.101.0/24"]})) == 1
