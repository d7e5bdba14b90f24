"""ICMP type·code in the destination port (NetFlow v5; softflowd -v 5 and pmacct's nfprobe for
v5 and v9 export no type-code element): the sweep rule reads the type from the port.

Before, such a record counted as "ICMP without a type", i.e. an echo request: pmacct's v9
export of tests/fixtures/realtools/v6_benign_web_dns.pcap accused a host of a ping sweep for
its IPv6 neighbour solicitations to 30 solicited-node multicast groups.
"""

from __future__ import annotations

from flowcep_portscan import SPEC

from flowcep_plugin.testing import run_detector

T0 = 1_700_000_100_000
BASE = T0 - T0 % 300_000


def _icmp(src: str, dst: str, proto: int, type_code: int, t: int) -> dict:
    """A record as pmacct's nfprobe sends it: no icmpTypeCode element, type·256+code in the port."""
    v6 = ":" in src
    return {"sourceIPv6Address" if v6 else "sourceIPv4Address": src,
            "destinationIPv6Address" if v6 else "destinationIPv4Address": dst,
            "protocolIdentifier": proto, "sourceTransportPort": 0, "destinationTransportPort": type_code,
            "packetDeltaCount": 1, "octetDeltaCount": 72, "tcpControlBits": 0,
            "flowStartMilliseconds": BASE + t, "flowEndMilliseconds": BASE + t}


def test_neighbour_solicitations_are_not_a_sweep() -> None:
    ns = [_icmp("fe80::1", f"ff02::1:ff00:{i:x}", 58, 135 << 8, 1000 + i) for i in range(40)]
    assert run_detector(SPEC, ns) == []


def test_unreachables_to_many_hosts_are_not_a_sweep() -> None:
    # a router or a server telling 30 senders that a port is closed (type 3, code 3)
    out = [_icmp("198.51.100.1", f"203.0.113.{i}", 1, 0x0303, 1000 + i) for i in range(1, 31)]
    assert run_detector(SPEC, out) == []


def test_host_answering_many_pingers_is_not_a_sweep() -> None:
    # 30 monitors ping one server (type 8 in the port); its replies carry port 0 (type 0: echo reply)
    recs = []
    for i in range(1, 31):
        recs.append(_icmp(f"203.0.113.{i}", "198.51.100.1", 1, 8 << 8, 1000 + 10 * i))
        recs.append(_icmp("198.51.100.1", f"203.0.113.{i}", 1, 0, 1001 + 10 * i))
    assert run_detector(SPEC, recs) == []


def test_sweep_with_the_type_in_the_port_is_found() -> None:
    sweep = [_icmp("192.0.2.88", f"10.2.0.{i}", 1, 8 << 8, 1000 + i) for i in range(1, 31)]
    alerts = run_detector(SPEC, sweep)
    assert [(a["rule"]["id"], a["source"]["ip"]) for a in alerts] == [("portscan-sweep", "192.0.2.88")]
