"""Port scan detector: fires on scans, silent on busy clients, resolvers and backups."""

from __future__ import annotations

from flowcep_portscan import SPEC

from flowcep_plugin.testing import check_detector, make_flow, run_detector

T0 = 1_700_000_100_000
W = 300_000
BASE = T0 - T0 % W  # start of a window, so every record below lies in one window


def syn_scan_hosts(n: int, port: int = 22, src: str = "192.0.2.66") -> list[dict]:
    return [make_flow(src, f"10.1.0.{i}", port, packets=1, flags="S", end_ms=BASE + 1000 + i * 100)
            for i in range(1, n + 1)]


def syn_scan_ports(n: int, dst: str = "10.1.0.5", src: str = "192.0.2.77") -> list[dict]:
    return [make_flow(src, dst, 1000 + p, packets=1, flags="S", end_ms=BASE + 2000 + p * 50)
            for p in range(n)]


def ping_sweep(n: int, src: str = "192.0.2.88") -> list[dict]:
    return [make_flow(src, f"10.2.{i // 250}.{i % 250 + 1}", proto="icmp", packets=1,
                      icmpTypeCodeIPv4=8 * 256, end_ms=BASE + 3000 + i * 10) for i in range(n)]


def busy_web_client() -> list[dict]:
    # 300 complete HTTPS connections to 120 different servers (CDNs) in one window
    return [make_flow("10.10.1.200", f"151.101.{i % 120}.{i % 7 + 1}", 443, packets=12,
                      octets=9000, flags="FSPA", end_ms=BASE + 500 + i * 900, sport=50000 + i)
            for i in range(300)]


def dns_resolver() -> list[dict]:
    # a resolver asks 60 authoritative servers; each answers (reply flow from port 53)
    recs = []
    for i in range(60):
        server = f"192.5.{i}.1"
        t = BASE + 4000 + i * 1000
        recs.append(make_flow("10.10.0.53", server, 53, proto="udp", sport=33000 + i, packets=1,
                              octets=70, end_ms=t))
        recs.append(make_flow(server, "10.10.0.53", 33000 + i, proto="udp", sport=53, packets=1,
                              octets=300, end_ms=t + 20))
    return recs


def backup_job() -> list[dict]:
    return [make_flow(f"10.10.0.8{i}", "10.10.0.40", 873, packets=40000, octets=50_000_000,
                      flags="FSPA", end_ms=BASE + 100_000 + i * 1000, duration_ms=90_000)
            for i in range(4)]


BENIGN = busy_web_client() + dns_resolver() + backup_job()


def test_conformance_and_each_rule_fires() -> None:
    attack = syn_scan_hosts(30) + syn_scan_ports(20) + ping_sweep(120)
    events = check_detector(SPEC, attack=attack, benign=BENIGN,
                            expect_rules=["portscan-horizontal", "portscan-vertical", "portscan-sweep"])
    by_rule = {e["rule"]["id"]: e for e in events}
    h = by_rule["portscan-horizontal"]
    assert h["source"]["ip"] == "192.0.2.66" and h["destination"]["port"] == 22
    assert h["flowcep"]["counts"] == {"hosts": 30, "probes": 30}
    assert len(h["destination"]["ip"]) == 30
    v = by_rule["portscan-vertical"]
    assert v["source"]["ip"] == "192.0.2.77" and v["destination"]["ip"] == "10.1.0.5"
    assert v["flowcep"]["counts"]["ports"] == 20
    s = by_rule["portscan-sweep"]
    assert s["flowcep"]["counts"]["hosts"] == 120 and s["threat"]["technique"]["id"][0] == "T1018"
    assert len(events) == 3  # the 30-host scan is one port per host: no vertical alert for it


def test_thresholds_are_inclusive_and_configurable() -> None:
    # Zeek's 25 hosts: 24 is silent, 25 fires
    assert run_detector(SPEC, syn_scan_hosts(24)) == []
    assert [e["rule"]["id"] for e in run_detector(SPEC, syn_scan_hosts(25))] == ["portscan-horizontal"]
    assert run_detector(SPEC, syn_scan_ports(14)) == []  # Zeek's 15 ports: 14 is silent, 15 fires
    assert [e["rule"]["id"] for e in run_detector(SPEC, syn_scan_ports(15))] == ["portscan-vertical"]
    assert run_detector(SPEC, syn_scan_hosts(10), config={"horizontal_hosts": 10})


def test_completed_or_large_flows_are_not_probes() -> None:
    # same fan-out as a scan, but the handshakes completed (ACK seen) -> not a scan
    acked = [dict(r, tcpControlBits=0x12) for r in syn_scan_hosts(40)]
    assert run_detector(SPEC, acked) == []
    big = [dict(r, packetDeltaCount=3) for r in syn_scan_hosts(40)]
    assert run_detector(SPEC, big) == []
    # a victim answering with RST/ACK does not become a scanner
    rst = [make_flow(f"10.1.0.{i}", "192.0.2.66", 40000, sport=22, packets=1, flags="RA",
                     end_ms=BASE + i) for i in range(1, 40)]
    assert run_detector(SPEC, rst) == []


def test_unanswered_udp_counts_answered_does_not() -> None:
    probes = [make_flow("192.0.2.5", "10.1.0.9", p, proto="udp", packets=1, end_ms=BASE + p)
              for p in range(100, 120)]
    assert [e["rule"]["id"] for e in run_detector(SPEC, probes)] == ["portscan-vertical"]
    answers = [make_flow("10.1.0.9", "192.0.2.5", 40000, sport=p, proto="udp", packets=1,
                         end_ms=BASE + p + 5) for p in range(100, 120)]
    assert run_detector(SPEC, probes + answers) == []


def test_scan_split_over_two_windows_counts_per_window() -> None:
    recs = syn_scan_hosts(20) + [dict(r, flowEndMilliseconds=r["flowEndMilliseconds"] + W)
                                 for r in syn_scan_hosts(20)]
    assert run_detector(SPEC, recs) == []  # 20 + 20 in separate windows: below 25 each


def test_ignored_sources() -> None:
    assert run_detector(SPEC, syn_scan_hosts(30), config={"ignore_sources": ["192.0.2.0/24"]}) == []


def test_synthetic_scenarios() -> None:
    from flowcep_plugin.testing import scenario_records

    for name, rule in (("portscan-horizontal", "portscan-horizontal"),
                       ("portscan-vertical", "portscan-vertical"),
                       ("portscan-slow", "portscan-horizontal")):
        records, sc = scenario_records(name)
        events = run_detector(SPEC, records)
        assert {e["source"]["ip"] for e in events} == {sc.labels[0].attacker}, name
        assert rule in {e["rule"]["id"] for e in events}, name
    benign, _ = scenario_records("benign", duration_s=600)
    assert run_detector(SPEC, benign) == []


def test_bad_cidr_is_a_config_error() -> None:
    import pytest

    from flowcep_plugin.errors import ConfigError
    from flowcep_plugin.testing import build_detector

    with pytest.raises(ConfigError, match="ignore_sources"):
        build_detector(SPEC, {"ignore_sources": ["10.0.0.0/40"]})


def test_busy_resolver_with_timeouts_is_not_a_udp_scan() -> None:
    # 400 servers asked on port 53, 40 never answer (10 %): a client, not a scanner
    recs = []
    for i in range(400):
        server = f"192.{5 + i // 250}.{i % 250}.1"
        recs.append(make_flow("10.10.0.53", server, 53, proto="udp", sport=30000 + i, packets=1,
                              end_ms=BASE + i * 500))
        if i % 10:
            recs.append(make_flow(server, "10.10.0.53", 30000 + i, proto="udp", sport=53, packets=1,
                                  end_ms=BASE + i * 500 + 30))
    assert run_detector(SPEC, recs) == []
    # a UDP sweep of 40 hosts on port 161 where 5 answer: 35 unanswered of 40 -> a scan
    sweep = [make_flow("192.0.2.40", f"10.3.0.{i}", 161, proto="udp", packets=1, end_ms=BASE + i)
             for i in range(1, 41)]
    answers = [make_flow(f"10.3.0.{i}", "192.0.2.40", 40000, sport=161, proto="udp", packets=1,
                         end_ms=BASE + 50 + i) for i in range(1, 6)]
    events = run_detector(SPEC, sweep + answers)
    assert [(e["rule"]["id"], e["flowcep"]["counts"]["hosts"]) for e in events] == [("portscan-horizontal", 35)]


# --- biflow records (RFC 5103): the reply travels in the same record, as the pcap meter exports


def biflow(src: str, dst: str, dport: int, *, rpackets: int, rflags: int | None = None,
           **kw: object) -> dict:
    """A make_flow record plus the reverse counters of a biflow (responder -> initiator)."""
    rec = make_flow(src, dst, dport, **kw)  # type: ignore[arg-type]
    rec["reversePacketDeltaCount"] = rpackets
    rec["reverseOctetDeltaCount"] = 300 * rpackets
    if rflags is not None:
        rec["reverseTcpControlBits"] = rflags
    return rec


def test_biflow_resolver_answered_in_same_record_is_silent() -> None:
    # 60 servers asked on port 53 (>= 25 hosts), each answered inside the query's own record
    recs = [biflow("10.10.0.53", f"192.5.{i}.1", 53, proto="udp", sport=33000 + i, packets=1,
                   rpackets=1, end_ms=BASE + 4000 + i * 1000) for i in range(60)]
    assert run_detector(SPEC, recs) == []
    # the same records with no reply (reverse count 0) are a UDP scan of 60 hosts
    silent = [dict(r, reversePacketDeltaCount=0, reverseOctetDeltaCount=0) for r in recs]
    events = run_detector(SPEC, silent)
    assert [(e["rule"]["id"], e["flowcep"]["counts"]["hosts"]) for e in events] == [("portscan-horizontal", 60)]


def test_biflow_udp_scan_with_few_replies_still_fires() -> None:
    # 40 hosts asked on port 161, 5 answered in-record: 35 unanswered of 40 -> still a scan
    recs = [biflow("192.0.2.40", f"10.3.0.{i}", 161, proto="udp", packets=1,
                   rpackets=1 if i <= 5 else 0, end_ms=BASE + i) for i in range(1, 41)]
    events = run_detector(SPEC, recs)
    assert [(e["rule"]["id"], e["flowcep"]["counts"]["hosts"]) for e in events] == [("portscan-horizontal", 35)]


def test_biflow_tcp_syn_scan_fires_with_or_without_rst_replies() -> None:
    # SYN-only, no reply at all (filtered)
    none = [biflow("192.0.2.66", f"10.1.0.{i}", 22, packets=1, flags="S", rpackets=0, rflags=0,
                   end_ms=BASE + 1000 + i) for i in range(1, 31)]
    # SYN answered by RST/ACK (closed port): the reply is in the record, still a probe
    rst = [biflow("192.0.2.67", f"10.1.0.{i}", 23, packets=1, flags="S", rpackets=1, rflags=0x14,
                  end_ms=BASE + 2000 + i) for i in range(1, 31)]
    events = run_detector(SPEC, none + rst)
    assert sorted((e["source"]["ip"], e["flowcep"]["counts"]["hosts"]) for e in events) == [
        ("192.0.2.66", 30), ("192.0.2.67", 30)]


def test_biflow_conversation_with_large_reply_is_not_a_probe() -> None:
    # initiator sent 2 packets without ACK, but the responder sent 50: a conversation, not a probe
    recs = [biflow("10.10.1.9", f"10.1.0.{i}", 5000, packets=2, flags="S", rpackets=50, rflags=0x18,
                   end_ms=BASE + i) for i in range(1, 41)]
    assert run_detector(SPEC, recs) == []
