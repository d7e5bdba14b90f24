"""A monitor retrying the services of a host that is down is not a slow port scan.

tests/fixtures/realtools/benign_dead_host_retries.pcap: a Nagios-style check of 8 services
(22, 80, 443, 3306, 5432, 6379, 9100, 9090) of a host that is gone, 4 rounds, each connect
unanswered (the router's ARP fails): 8 failed ports of one host, none reached, which the TRW
rule (>= 8 ports over 12 hours, a lead of 4) named as a vertical scan. A target failed in
RETRIED (3) separate records is a service being retried, and the slow rule leaves it out;
nmap sends a silent port two probes at most, masscan and zmap one. Zeek's per-window count
(>= 15 ports in 5 minutes) still counts every failed port, so a scan run three times over is
found as before.
"""

from __future__ import annotations

from typing import Any

from flowcep_portscan import SPEC

from flowcep_plugin.testing import run_detector

T0 = 1_700_000_100_000
BASE = T0 - T0 % 300_000
MONITOR, DEAD = "192.0.2.42", "198.51.100.46"
SERVICES = (22, 80, 443, 3306, 5432, 6379, 9100, 9090)


def _syn(src: str, dst: str, dport: int, sport: int, t: int) -> dict[str, Any]:
    """A connect() nobody answered: three SYNs (the kernel's retransmissions) in one record."""
    return {"sourceIPv4Address": src, "destinationIPv4Address": dst, "protocolIdentifier": 6,
            "sourceTransportPort": sport, "destinationTransportPort": dport,
            "packetDeltaCount": 3, "octetDeltaCount": 180, "tcpControlBits": 0x02,
            "flowStartMilliseconds": BASE + t, "flowEndMilliseconds": BASE + t + 3000}


def _rounds(n: int, ports: tuple[int, ...] = SERVICES, gap: int = 12_000) -> list[dict[str, Any]]:
    return [_syn(MONITOR, DEAD, p, 40000 + r * 100 + k, 1000 + r * gap + k * 1000)
            for r in range(n) for k, p in enumerate(ports)]


def _rules(records: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(a["rule"]["id"], a["source"]["ip"]) for a in run_detector(SPEC, records)]


def test_monitor_retrying_a_dead_host_is_not_a_scan() -> None:
    assert _rules(_rounds(4)) == []


def test_the_same_ports_probed_twice_are_a_slow_scan() -> None:
    # a probe and nmap's one retransmission per port: first contacts, TRW's evidence
    assert _rules(_rounds(2)) == [("portscan-vertical", MONITOR)]


def test_a_scan_run_three_times_in_a_window_is_still_found() -> None:
    ports = tuple(range(1, 21))  # 20 ports, three runs a minute apart: Zeek's count
    assert _rules(_rounds(3, ports, gap=60_000)) == [("portscan-vertical", MONITOR)]
