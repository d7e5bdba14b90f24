"""Traffic statistics: metric documents per interval, counted by hand below."""

from __future__ import annotations

import pytest
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


def _plain_counts(recs: list[dict], top_n: int) -> list[dict]:
    """Every interval's metrics counted record by record, the rule restated without numpy."""
    from ipaddress import ip_address, ip_network

    inside = [ip_network(c) for c in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7")]
    from flowcep_trafficstats import DEFAULTS

    ports: dict[int, str] = {}
    for name, numbers in DEFAULTS["categories"].items():
        for p in numbers:
            ports.setdefault(p, name)
    wins: dict[int, dict] = {}
    for r in recs:
        s, d = r.get("sourceIPv4Address"), r.get("destinationIPv4Address")
        if s is None or d is None:
            continue
        w = wins.setdefault(r["flowEndMilliseconds"] // W, {"t": [0, 0, 0], "c": {}, "d": {}, "s": {}})
        cat = ports.get(r["destinationTransportPort"]) or ports.get(r["sourceTransportPort"]) or "other"
        dirn = ("external", "inbound", "outbound", "internal")[
            2 * any(ip_address(s) in n for n in inside) + any(ip_address(d) in n for n in inside)]
        for v in (w["t"], w["c"].setdefault(cat, [0, 0, 0]), w["d"].setdefault(dirn, [0, 0, 0]),
                  w["s"].setdefault(s, [0, 0, 0])):
            v[0] += 1
            v[1] += r["packetDeltaCount"]
            v[2] += r["octetDeltaCount"]
    def row(v: list[int]) -> dict[str, int]:
        return {"flows": v[0], "packets": v[1], "bytes": v[2]}

    def top(talkers: dict[str, list[int]], i: int) -> list[dict]:
        return [{"ip": ip, **row(v)} for ip, v in sorted(talkers.items(), key=lambda kv: (-kv[1][i], kv[0]))[:top_n]]

    out: list[dict] = []
    for k in sorted(wins):
        w = wins[k]
        out.append({"flows": w["t"][0], "packets": w["t"][1], "bytes": w["t"][2],
                    "categories": {c: row(v) for c, v in sorted(w["c"].items())},
                    "directions": {c: row(v) for c, v in sorted(w["d"].items())}})
        out.append({"by_bytes": top(w["s"], 2), "by_packets": top(w["s"], 1), "sources": len(w["s"])})
    return out


@pytest.mark.parametrize("seed", range(5))
def test_counts_match_a_plain_count_record_by_record(seed: int) -> None:
    # Random traffic in batches that span intervals, with tied talkers (the address breaks
    # the tie), records without an address, ports beyond 16 bits and, in some seeds, counters
    # whose sums leave int64 (exact Python sums then).
    import random

    from flowcep_plugin.context import Context
    from flowcep_plugin.records import FlowBatch
    from flowcep_plugin.testing import build_detector

    rng = random.Random(seed)
    recs = []
    for i in range(3000):
        r = make_flow(rng.choice(["10.0.0.1", "10.0.0.2", "192.168.1.9", "198.51.100.7", "203.0.113.5"]
                                 + [f"172.16.{i % 7}.{i % 5}"]),
                      rng.choice(["10.0.0.53", "93.184.216.34", "172.31.0.1", "8.8.8.8"]),
                      rng.choice([80, 443, 53, 25, 22, 9999, 70000 if seed % 2 else 8080]),
                      sport=rng.choice([40000, 443, 53]), packets=rng.choice([1, 2, 10]),
                      octets=rng.choice([60, 120, 1500, 2**62 + i if seed >= 3 and i % 100 == 7 else 600]),
                      end_ms=BASE + i * 500)
        if seed == 4 and i % 1000 == 11:
            r["packetDeltaCount"] = 2**64 + i  # beyond int64: no numpy array at all
        if i % 97 == 5:
            r.pop("destinationIPv4Address")
        if i % 89 == 3:
            r.pop("sourceIPv4Address")
        recs.append(r)
    det = build_detector(SPEC, {"top_n": 3}, Context())
    events = []
    for lo in range(0, len(recs), 700):
        events += det.on_batch(FlowBatch.from_rows(recs[lo:lo + 700]))
    events += det.flush()
    assert [e["flowcep"]["metrics"] for e in events] == _plain_counts(recs, 3)
