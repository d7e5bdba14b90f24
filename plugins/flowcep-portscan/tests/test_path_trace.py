"""Path traces (traceroute, mtr -u, tracepath) are not UDP port scans.

A UDP traceroute sends each probe to the next port of the traceroute range (33434+; mtr -u
33000+, tracepath 44444+) with a growing TTL: to a host that drops UDP, 60 probes are 60
unanswered ports of one host, which the vertical UDP rule counted as a scan
(tests/fixtures/realtools/benign_traceroute_udp.pcap, benign_mtr.pcap, benign_tracepath.pcap
named their innocent sources). What tells a trace is the routers' answers: ICMP time-exceeded
messages to the tracing host. Datagrams to ephemeral ports (>= 32768, where no service
listens) from a host sent a time-exceeded in that window or the one before are a trace's
probes; its datagrams to service ports still count.
"""

from __future__ import annotations

from typing import Any

from flowcep_portscan import SPEC

from flowcep_plugin.api import Context
from flowcep_plugin.testing import run_detector

T0 = 1_700_000_100_000
BASE = T0 - T0 % 300_000
TRACER, TARGET, ROUTER = "192.0.2.21", "198.51.100.40", "192.0.2.1"


def _udp(src: str, dst: str, dport: int, t: int) -> dict[str, Any]:
    return {"sourceIPv4Address": src, "destinationIPv4Address": dst, "protocolIdentifier": 17,
            "sourceTransportPort": 40000, "destinationTransportPort": dport,
            "packetDeltaCount": 1, "octetDeltaCount": 60,
            "flowStartMilliseconds": BASE + t, "flowEndMilliseconds": BASE + t}


def _exceeded(t: int, dst: str = TRACER) -> dict[str, Any]:
    return {"sourceIPv4Address": ROUTER, "destinationIPv4Address": dst, "protocolIdentifier": 1,
            "icmpTypeCodeIPv4": 11 << 8, "packetDeltaCount": 3, "octetDeltaCount": 264,
            "flowStartMilliseconds": BASE + t, "flowEndMilliseconds": BASE + t}


def _trace(t0: int = 1000) -> list[dict[str, Any]]:
    """traceroute -m 20 to a host that drops UDP: hop 1 answers, 57 probes vanish."""
    return [_exceeded(t0)] + [_udp(TRACER, TARGET, 33434 + k, t0 + 50 * k) for k in range(60)]


def _rules(records: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(a["rule"]["id"], a["source"]["ip"]) for a in run_detector(SPEC, records)]


def test_trace_to_a_silent_host_is_not_a_scan() -> None:
    assert _rules(_trace()) == []


def test_without_the_routers_answers_it_is_a_scan() -> None:
    # the same datagrams, nobody said time-exceeded: 60 unanswered ports of one host
    assert _rules(_trace()[1:]) == [("portscan-vertical", TRACER)]


def test_time_exceeded_to_another_host_exempts_nobody() -> None:
    records = [_exceeded(1000, dst="192.0.2.99")] + _trace()[1:]
    assert _rules(records) == [("portscan-vertical", TRACER)]


def test_trace_crossing_a_window_boundary() -> None:
    # tracepath: the router answers in the first window, the silent probes go on into the next
    t0 = 300_000 - 2000
    records = [_exceeded(t0)] + [_udp(TRACER, TARGET, 44444 + k, t0 + 1000 * k) for k in range(32)]
    assert _rules(records) == []


def test_a_tracing_scanner_still_counts_its_service_ports() -> None:
    # nmap -sU --traceroute: the trace exempts the ephemeral ports only
    scan = [_udp(TRACER, TARGET, p, 2000 + p) for p in
            (7, 9, 53, 67, 69, 111, 123, 137, 161, 500, 514, 520, 1434, 1900, 4500, 5060, 5353, 11211)]
    assert _rules(_trace() + scan) == [("portscan-vertical", TRACER)]


def test_an_old_trace_does_not_exempt_a_later_scan() -> None:
    # a time-exceeded 20 minutes earlier: the ephemeral-port probes now count again
    later = [_udp(TRACER, TARGET, 33434 + k, 1_200_000 + 50 * k) for k in range(60)]
    assert _rules([_exceeded(1000)] + later) == [("portscan-vertical", TRACER)]


def test_hosts_tracing_are_bounded_and_evictions_counted() -> None:
    ctx = Context()
    records = [_exceeded(1000 + k, dst=f"192.0.2.{100 + k}") for k in range(5)]
    assert run_detector(SPEC, records, config={"max_sources": 2}, ctx=ctx) == []
    assert ctx.stats.gauges["portscan.traced_evicted"] == 3


def test_time_exceeded_flood_keeps_a_trace_still_answered() -> None:
    """Spoofed low-TTL packets make routers send time-exceeded to 300 addresses during a trace
    (max_sources 100): the tracer, answered by a hop every second, must stay remembered, or its
    60 silent probes name it a UDP scanner (a false accusation)."""
    ctx = Context()
    flood = [_exceeded(1000 + 200 * k + 7, dst=f"100.64.{k >> 8}.{k & 255}") for k in range(300)]
    answers = [_exceeded(1000 + 1000 * k) for k in range(60)]
    probes = [_udp(TRACER, TARGET, 33434 + k, 1000 + 1000 * k + 500) for k in range(60)]
    records = sorted(flood + answers + probes, key=lambda r: r["flowEndMilliseconds"])
    assert [(a["rule"]["id"], a["source"]["ip"])
            for a in run_detector(SPEC, records, config={"max_sources": 100}, ctx=ctx, batch_size=20)] == []
    assert ctx.stats.gauges["portscan.traced_evicted"] >= 300 + 1 - 100
