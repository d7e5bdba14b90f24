"""Traffic statistics: metric documents per interval, counted by hand below."""

from __future__ import annotations

from flowcep_trafficstats import SPEC

from flowcep_plugin.testing import check_detector, make_flow, run_detector, scenario_records

W = 300_000
BASE = 1_700_000_000_000 - 1_700_000_000_000 % W


def records() -> list[dict]:
    return [
        make_flow("10.0.0.1", "93.184.216.34", 443, packets=10, octets=5000, end_ms=BASE + 1),
        make_flow("93.184.216.34", "10.0.0.1", 50000, sport=443, packets=20, octets=30000, end_ms=BASE + 2),
        make_flow("10.0.0.2", "10.0.0.53", 53, proto="udp", packets=1, octets=70, end_ms=BASE + 3),
        make_flow("10.0.0.2", "10.0.0.25", 25, packets=8, octets=4000, end_ms=BASE + 4),
        make_flow("198.51.100.1", "203.0.113.1", 9999, proto="udp", packets=2, octets=200, end_ms=BASE + 5),
        make_flow("10.0.0.1", "93.184.216.34", 80, packets=5, octets=1000, end_ms=BASE + W + 1),
    ]


def test_conformance_and_counts() -> None:
    events = check_detector(SPEC, attack=records(),
                            expect_rules=["trafficstats-categories", "trafficstats-top-talkers"])
    assert [e["event"]["kind"] for e in events] == ["metric"] * 4  # 2 intervals x 2 documents
    cats = [e for e in events if e["rule"]["id"] == "trafficstats-categories"]
    first = min(cats, key=lambda e: e["@timestamp"])["flowcep"]["metrics"]
    assert first["flows"] == 5 and first["bytes"] == 5000 + 30000 + 70 + 4000 + 200
    assert first["categories"]["web"] == {"flows": 2, "packets": 30, "bytes": 35000}
    assert first["categories"]["dns"]["flows"] == 1 and first["categories"]["mail"]["flows"] == 1
    assert first["categories"]["other"] == {"flows": 1, "packets": 2, "bytes": 200}
    assert first["directions"] == {
        "outbound": {"flows": 1, "packets": 10, "bytes": 5000},
        "inbound": {"flows": 1, "packets": 20, "bytes": 30000},
        "internal": {"flows": 2, "packets": 9, "bytes": 4070},
        "external": {"flows": 1, "packets": 2, "bytes": 200},
    }
    talkers = min((e for e in events if e["rule"]["id"] == "trafficstats-top-talkers"),
                  key=lambda e: e["@timestamp"])["flowcep"]["metrics"]
    assert [t["ip"] for t in talkers["by_bytes"]] == ["93.184.216.34", "10.0.0.1", "10.0.0.2", "198.51.100.1"]
    assert talkers["by_bytes"][2] == {"ip": "10.0.0.2", "flows": 2, "packets": 9, "bytes": 4070}
    assert talkers["sources"] == 4


def test_top_n_limits_and_metrics_are_never_alerts() -> None:
    events = run_detector(SPEC, records(), config={"top_n": 2})
    talkers = [e for e in events if e["rule"]["id"] == "trafficstats-top-talkers"]
    assert len(talkers[0]["flowcep"]["metrics"]["by_bytes"]) == 2
    assert all("severity" not in e["event"] and "threat" not in e for e in events)


def test_benign_scenario_gives_one_pair_per_interval() -> None:
    recs, sc = scenario_records("benign", duration_s=600)
    events = run_detector(SPEC, recs)
    intervals = {e["flowcep"]["window"]["start"] for e in events}
    assert len(events) == 2 * len(intervals) and 2 <= len(intervals) <= 4
    total = sum(e["flowcep"]["metrics"]["flows"] for e in events if e["rule"]["id"] == "trafficstats-categories")
    assert total == len(recs)


def test_bad_cidr_is_a_config_error() -> None:
    import pytest

    from flowcep_plugin.errors import ConfigError
    from flowcep_plugin.testing import build_detector

    with pytest.raises(ConfigError, match="internal_networks"):
        build_detector(SPEC, {"internal_networks": ["not-a-network"]})
