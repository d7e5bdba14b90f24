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
    assert h["message"].startswith("Horizontal scan (host sweep): 192.0.2.66 probed TCP port 22 on 30 hosts")


def test_thresholds_are_inclusive_and_configurable() -> None:
    # TRW over the slow window: 8 failed hosts (twice TRW's minimum) fire, 7 do not
    assert run_detector(SPEC, syn_scan_hosts(7)) == []
    assert [e["rule"]["id"] for e in run_detector(SPEC, syn_scan_hosts(8))] == ["portscan-horizontal"]
    assert run_detector(SPEC, syn_scan_ports(7)) == []
    assert [e["rule"]["id"] for e in run_detector(SPEC, syn_scan_ports(8))] == ["portscan-vertical"]
    # Zeek's per-window counts alone (TRW floor out of reach): 24 hosts silent, 25 fire
    zeek = {"slow_min_targets": 10_000}
    assert run_detector(SPEC, syn_scan_hosts(24), config=zeek) == []
    assert [e["rule"]["id"] for e in run_detector(SPEC, syn_scan_hosts(25), config=zeek)] == ["portscan-horizontal"]
    assert run_detector(SPEC, syn_scan_ports(14), config=zeek) == []
    assert [e["rule"]["id"] for e in run_detector(SPEC, syn_scan_ports(15), config=zeek)] == ["portscan-vertical"]
    assert run_detector(SPEC, syn_scan_hosts(10), config={"slow_min_targets": 11}) == []


def reached(n: int, src: str = "192.0.2.66") -> list[dict]:
    """Completed connections from ``src`` to ``n`` other hosts (successful TRW contacts)."""
    return [make_flow(src, f"10.9.0.{i}", 443, packets=12, flags="FSPA", end_ms=BASE + 500 + i)
            for i in range(1, n + 1)]


def test_trw_successes_offset_failures() -> None:
    # 8 failed hosts, 5 reached: failures lead by 3 < 4 -> a client with a few dead servers
    assert run_detector(SPEC, syn_scan_hosts(8) + reached(5)) == []
    # 9 failed, 5 reached: lead of 4 -> TRW says scanner
    events = run_detector(SPEC, syn_scan_hosts(9) + reached(5))
    assert [(e["rule"]["id"], e["flowcep"]["counts"]["hosts"]) for e in events] == [("portscan-horizontal", 9)]
    assert "5 hosts reached" in events[0]["message"]
    # a host reached once is not a failure even when other attempts to it failed (browsers race)
    retried = syn_scan_hosts(8) + [make_flow("192.0.2.66", "10.1.0.1", 22, packets=12, flags="FSPA",
                                             end_ms=BASE + 9000)]
    assert run_detector(SPEC, retried) == []


def test_completed_or_large_flows_are_not_probes() -> None:
    # same fan-out as a scan, but the handshakes completed (ACK seen) -> not a scan
    acked = [dict(r, tcpControlBits=0x12) for r in syn_scan_hosts(40)]
    assert run_detector(SPEC, acked) == []
    # without TCP flags, only flows of at most 2 packets count (Elastic's fallback)
    big = [dict(r, packetDeltaCount=3) for r in syn_scan_hosts(40)]
    for r in big:
        del r["tcpControlBits"]
    assert run_detector(SPEC, big) == []
    assert run_detector(SPEC, [dict(r, packetDeltaCount=2) for r in big])
    # a victim answering with RST/ACK, bare RST or SYN-ACK does not become a scanner
    for flags in ("RA", "R", "SA"):
        answers = [make_flow(f"10.1.0.{i}", "192.0.2.66", 40000 + i, sport=22, packets=1, flags=flags,
                             end_ms=BASE + i) for i in range(1, 40)]
        assert run_detector(SPEC, answers) == [], flags


def test_zero_forward_packets_is_nobodys_probe() -> None:
    # a biflow oriented initiator -> responder in which only the responder spoke (a one-way
    # capture of SYN-ACKs): the initiator's counters are zero
    recs = [biflow("192.0.2.66", f"10.1.0.{i}", 22, packets=0, flags=0, rpackets=1, rflags=0x12,
                   end_ms=BASE + i) for i in range(1, 40)]
    assert run_detector(SPEC, recs) == []


def test_flag_scans_are_named() -> None:
    kinds = {"FIN": "F", "NULL": 0, "Xmas": "FPU"}
    recs = [make_flow("192.0.2.9", "10.1.0.2", 3390 + n, packets=1, flags=f, end_ms=BASE + n)
            for n, f in enumerate(kinds.values())]
    events = run_detector(SPEC, recs)
    assert [e["rule"]["id"] for e in events] == ["portscan-flags"]
    assert events[0]["flowcep"]["fields"]["probe_types"] == {"FIN": 1, "NULL": 1, "Xmas": 1}
    assert events[0]["source"]["ip"] == "192.0.2.9"
    assert run_detector(SPEC, recs[:1]) == []  # one odd segment is not a scan (flag_probes: 2)
    assert run_detector(SPEC, recs[:1], config={"flag_probes": 1})


def test_scan_across_a_window_boundary_is_not_split() -> None:
    # 6 hosts just before a window boundary and 6 just after: 12 failed hosts in 1 minute
    boundary = BASE + W
    recs = [make_flow("192.0.2.66", f"10.1.0.{i}", 22, packets=1, flags="S",
                      end_ms=boundary - 30_000 + i * 5000) for i in range(12)]
    events = run_detector(SPEC, recs)
    assert [(e["rule"]["id"], e["flowcep"]["counts"]["hosts"]) for e in events] == [("portscan-horizontal", 12)]


def test_slow_sweep_over_hours_and_realert_on_doubling() -> None:
    # one SYN every 20 minutes to a new host: 9 hosts over 3 hours
    slow = [make_flow("192.0.2.50", f"10.7.0.{i}", 445, packets=2, flags="S",
                      end_ms=BASE + i * 1_200_000) for i in range(9)]
    events = run_detector(SPEC, slow)
    assert [(e["rule"]["id"], e["flowcep"]["counts"]["hosts"]) for e in events] == [("portscan-horizontal", 8)]
    assert run_detector(SPEC, slow, config={"slow_window": "1 h"}) == []
    # a long sweep alerts again only when its evidence doubles: 8, 16, 32 of 40 hosts
    sweep = [make_flow("192.0.2.51", f"10.8.0.{i}", 23, packets=1, flags="S",
                       end_ms=BASE + i * W) for i in range(40)]
    counts = [e["flowcep"]["counts"]["hosts"] for e in run_detector(SPEC, sweep)]
    assert counts == [8, 16, 32]


def test_unanswered_udp_counts_answered_does_not() -> None:
    probes = [make_flow("192.0.2.5", "10.1.0.9", p, proto="udp", packets=1, end_ms=BASE + p)
              for p in range(100, 120)]
    assert [e["rule"]["id"] for e in run_detector(SPEC, probes)] == ["portscan-vertical"]
    answers = [make_flow("10.1.0.9", "192.0.2.5", 40000, sport=p, proto="udp", packets=1,
                         end_ms=BASE + p + 5) for p in range(100, 120)]
    assert run_detector(SPEC, probes + answers) == []


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


# --- ICMP sweeps: an answered echo reached its host (a monitoring poller), as a TCP contact does


def _echo_replies(hosts: list[str], pinger: str, v6: bool = False) -> list[dict]:
    """Each host's echo reply to ``pinger``, a uniflow from the host (type 0, or 129 for v6)."""
    if v6:
        return [make_flow(h, pinger, proto=58, packets=1, icmpTypeCodeIPv6=129 * 256,
                          end_ms=BASE + 3500 + i * 10) for i, h in enumerate(hosts)]
    return [make_flow(h, pinger, proto="icmp", packets=1, icmpTypeCodeIPv4=0,
                      end_ms=BASE + 3500 + i * 10) for i, h in enumerate(hosts)]


def test_a_poller_whose_hosts_all_answer_is_not_a_sweep() -> None:
    pings = ping_sweep(40, src="192.0.2.33")
    hosts = [r["destinationIPv4Address"] for r in pings]
    assert run_detector(SPEC, pings + _echo_replies(hosts, "192.0.2.33")) == []
    # the same over IPv6, with the ICMPv6 type column instead of the type-code
    pings6 = [make_flow("2001:db8:c::37", f"2001:db8:1::{i + 1:x}", proto=58, packets=1,
                        icmpTypeIPv6=128, end_ms=BASE + 3000 + i * 10) for i in range(40)]
    replies6 = [make_flow(f"2001:db8:1::{i + 1:x}", "2001:db8:c::37", proto=58, packets=1,
                          icmpTypeIPv6=129, end_ms=BASE + 3500 + i * 10) for i in range(40)]
    assert run_detector(SPEC, pings6 + replies6) == []


def test_a_sweep_needs_a_share_of_hosts_that_did_not_answer() -> None:
    # 40 pinged: 8 unanswered (0.2 of 40) make a sweep of 40 hosts, 7 do not
    pings = ping_sweep(40)
    hosts = [r["destinationIPv4Address"] for r in pings]
    events = run_detector(SPEC, pings + _echo_replies(hosts[:32], "192.0.2.88"))
    assert [(e["rule"]["id"], e["flowcep"]["counts"]["hosts"]) for e in events] == [("portscan-sweep", 40)]
    assert events[0]["flowcep"]["counts"]["probes"] == 40
    assert events[0]["message"].endswith("8 of which did not answer")
    assert run_detector(SPEC, pings + _echo_replies(hosts[:33], "192.0.2.88")) == []
    # never fewer than 2: 10 pinged, 9 answer -> silent; 8 answer -> a sweep
    few = ping_sweep(10)
    few_hosts = [r["destinationIPv4Address"] for r in few]
    assert run_detector(SPEC, few + _echo_replies(few_hosts[:9], "192.0.2.88")) == []
    assert len(run_detector(SPEC, few + _echo_replies(few_hosts[:8], "192.0.2.88"))) == 1
    # a reply from a host to someone else answers nothing of this source
    assert len(run_detector(SPEC, pings + _echo_replies(hosts, "192.0.2.99"))) == 1
    # the share is configurable: 0 gives the old rule (every pinged host counts)
    assert len(run_detector(SPEC, pings + _echo_replies(hosts, "192.0.2.88"),
                            config={"sweep_unanswered": 0})) == 0  # still at least 2 silent
    assert len(run_detector(SPEC, pings + _echo_replies(hosts[:38], "192.0.2.88"),
                            config={"sweep_unanswered": 0})) == 1


def test_biflow_echoes_answered_in_the_record_and_hosts_reached_over_tcp() -> None:
    # biflows: reverse packets mean the host answered the echo
    answered = [biflow("192.0.2.33", f"10.2.0.{i}", 0, proto="icmp", packets=1, rpackets=1,
                       icmpTypeCodeIPv4=8 * 256, end_ms=BASE + 3000 + i) for i in range(1, 41)]
    assert run_detector(SPEC, answered) == []
    silent = [biflow("192.0.2.88", f"10.2.0.{i}", 0, proto="icmp", packets=1, rpackets=0,
                     icmpTypeCodeIPv4=8 * 256, end_ms=BASE + 3000 + i) for i in range(1, 41)]
    assert [e["rule"]["id"] for e in run_detector(SPEC, silent)] == ["portscan-sweep"]
    # a host that drops ICMP but serves the poller over TCP was reached: 40 silent pings, 35 of
    # whose hosts the source completed an HTTP check on, leave 5 of 40 unanswered -> no sweep
    checks = [make_flow("192.0.2.88", f"10.2.0.{i}", 80, packets=6, flags="FSPA",
                        end_ms=BASE + 2000 + i) for i in range(1, 36)]
    assert run_detector(SPEC, silent + checks) == []
