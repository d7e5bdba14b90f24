"""Flow meter on hand-built packets: every expectation is computed from the packets the test
builds (scapy gives their bytes and lengths), never from the meter's own output."""

from __future__ import annotations

from typing import Any

import pytest
from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import ARP, Dot1Q, Ether
from scapy.packet import Packet, Raw

from flowcep_plugin.inputs.flowmeter import (
    END_ACTIVE,
    END_DETECTED,
    END_FORCED,
    END_IDLE,
    LINKTYPE_ETHERNET,
    LINKTYPE_LINUX_SLL,
    LINKTYPE_RAW,
    FlowMeter,
    parse_http_request,
)
from flowcep_plugin.records import FlowBatch

C, S = "10.1.1.1", "10.2.2.2"
T0 = 1_700_000_000_000  # ms


def frames(*pkts: tuple[int, Packet]) -> list[tuple[int, bytes]]:
    return [(T0 + t, bytes(p)) for t, p in pkts]


def run(meter: FlowMeter, pkts: list[tuple[int, bytes]], linktype: int = LINKTYPE_ETHERNET) -> list[dict[str, Any]]:
    bad = meter.process(pkts, linktype)
    assert bad == []
    meter.flush()
    return rows(meter.take_batches())


def rows(batches: list[FlowBatch]) -> list[dict[str, Any]]:
    return [r for b in batches for r in b.rows()]


def tcp(src: str, dst: str, sport: int, dport: int, flags: str, payload: bytes = b"") -> Packet:
    return Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02") / IP(src=src, dst=dst) / TCP(sport=sport, dport=dport, flags=flags) / Raw(payload)


def iplen(p: Packet) -> int:
    return len(p[IP]) if IP in p else 40 + len(p[IPv6].payload)


HTTP_GET = (b"GET /download/file.exe?id=7 HTTP/1.1\r\nUser-Agent: x\r\nhost: files.example.org\r\n"
            b"Accept: */*\r\n\r\n")


def test_http_request_host_and_url_on_a_biflow() -> None:
    pk = [
        (0, tcp(C, S, 40000, 80, "S")),
        (10, tcp(S, C, 80, 40000, "SA")),
        (20, tcp(C, S, 40000, 80, "A")),
        (30, tcp(C, S, 40000, 80, "PA", HTTP_GET)),
        (40, tcp(S, C, 80, 40000, "PA", b"HTTP/1.1 200 OK\r\n\r\n")),
    ]
    out = run(FlowMeter(), frames(*pk))
    assert len(out) == 1
    r = out[0]
    assert r["HTTPRequestHost"] == "files.example.org"
    assert r["HTTPRequestURL"] == "/download/file.exe?id=7"
    assert (r["sourceIPv4Address"], r["destinationIPv4Address"]) == (C, S)
    assert (r["sourceTransportPort"], r["destinationTransportPort"], r["protocolIdentifier"]) == (40000, 80, 6)
    assert r["packetDeltaCount"] == 3 and r["reversePacketDeltaCount"] == 2
    assert r["octetDeltaCount"] == sum(iplen(p) for t, p in pk if p[IP].src == C)
    assert r["reverseOctetDeltaCount"] == sum(iplen(p) for t, p in pk if p[IP].src == S)
    assert r["tcpControlBits"] == 0x02 | 0x10 | 0x08  # S, A, P
    assert r["reverseTcpControlBits"] == 0x12 | 0x08
    assert r["flowStartMilliseconds"] == T0 and r["flowEndMilliseconds"] == T0 + 40
    assert r["ipVersion"] == 4
    assert r["flowEndReason"] == END_FORCED  # end of input


def test_no_http_columns_without_requests_and_none_for_other_flows() -> None:
    out = run(FlowMeter(), frames((0, tcp(C, S, 1, 22, "S", b"SSH-2.0-x\r\n"))))
    assert "HTTPRequestURL" not in out[0]
    meter = FlowMeter()
    out = run(meter, frames((0, tcp(C, S, 40001, 80, "PA", HTTP_GET)), (1, tcp(C, S, 40002, 22, "S"))))
    by_port = {r["sourceTransportPort"]: r for r in out}
    assert by_port[40001]["HTTPRequestURL"] == "/download/file.exe?id=7"
    assert "HTTPRequestURL" not in by_port[40002]  # None in the column, absent from the row


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (b"POST /api HTTP/1.0\r\nHost: a.b:8080\r\n\r\nbody", ("a.b:8080", "/api")),
        (b"GET http://x.org/p HTTP/1.1\r\n\r\n", (None, "http://x.org/p")),
        (b"GET / HTTP/1.1", (None, "/")),  # request line cut by the segment end
        (b"HTTP/1.1 200 OK\r\nHost: no\r\n\r\n", (None, None)),  # a response
        (b"GETX / HTTP/1.1\r\n\r\n", (None, None)),
        (b"GET /a b HTTP/1.1\r\n\r\n", (None, None)),
        (b"GET / HTTP/1.1\r\nX: 1\r\n\r\nHost: body\r\n", (None, "/")),  # Host after headers
        (b"GET / HTTP/1.1\r\nHost:  h.example \r\nHost: second\r\n\r\n", ("h.example", "/")),  # the first
        (b"GET / HTTP/1.1\r\nHost:\r\n\r\n", (None, "/")),  # empty value
        (b"GET / HTTP/1.1\r\nHost:", (None, "/")),  # cut after the name
        (b"GET / HTTP/1.1\r\nHost: cut", ("cut", "/")),  # cut inside the value
        (b"GET / HTTP/1.1\r\nAccept: */*\r\nhOST: mixed\r\n\r\n", ("mixed", "/")),  # any case
        (b"GET / HTTP/1.1\r\nX-Host: no\r\n\r\n", (None, "/")),
    ],
)
def test_parse_http_request(payload: bytes, expected: tuple[str | None, str | None]) -> None:
    assert parse_http_request(payload) == expected


def test_uniflow_fin_closes_a_flow_that_lingers_for_its_last_ack() -> None:
    pk = [
        (0, tcp(C, S, 40005, 80, "S")),
        (100, tcp(C, S, 40005, 80, "A")),
        (200, tcp(C, S, 40005, 80, "FA")),
        (300, tcp(C, S, 40005, 80, "A")),  # the ACK of the server's FIN: same connection
        (6000, tcp(C, S, 40005, 80, "A")),  # 5.7 s after the last packet: a new record
    ]
    meter = FlowMeter(biflow=False)
    meter.process(frames(*pk[:4]), LINKTYPE_ETHERNET)
    meter.expire(T0 + 300 + 4999)
    assert rows(meter.take_batches()) == []  # still lingering
    meter.expire(T0 + 300 + 5000)
    ended = rows(meter.take_batches())
    assert [(r["packetDeltaCount"], r["flowEndReason"], r["flowEndMilliseconds"]) for r in ended] == [
        (4, END_DETECTED, T0 + 300)]
    assert ended[0]["tcpControlBits"] == 0x02 | 0x10 | 0x01
    assert "reversePacketDeltaCount" not in ended[0]
    meter.process(frames(pk[4]), LINKTYPE_ETHERNET)
    meter.flush()
    rest = rows(meter.take_batches())
    assert [(r["packetDeltaCount"], r["flowStartMilliseconds"], r["flowEndReason"]) for r in rest] == [
        (1, T0 + 6000, END_FORCED)]


def test_rst_closes_a_flow_and_a_new_syn_starts_the_next_at_once() -> None:
    pk = frames((0, tcp(C, S, 40006, 22, "S")), (5, tcp(S, C, 22, 40006, "RA")), (9, tcp(C, S, 40006, 22, "S")))
    meter = FlowMeter()
    meter.process(pk, LINKTYPE_ETHERNET)
    meter.expire(T0 + 9)
    first = rows(meter.take_batches())  # the new SYN ended the refused attempt without waiting
    assert [(r["packetDeltaCount"], r["reversePacketDeltaCount"], r["flowEndReason"],
             r["flowEndMilliseconds"]) for r in first] == [(1, 1, END_DETECTED, T0 + 5)]
    out = run(FlowMeter(tcp_end=False), pk)
    assert [(r["packetDeltaCount"], r["reversePacketDeltaCount"]) for r in out] == [(2, 1)]


def test_packets_after_rst_join_the_connection_they_belong_to() -> None:
    """A client resetting a connection often sends several RSTs, and the server's data in
    flight still arrives: one record, as tshark's conversation shows (rfb_vnc-scanner.pcap)."""
    pk = frames((0, tcp(C, S, 40007, 5900, "S")), (1, tcp(S, C, 5900, 40007, "SA")),
                (2, tcp(C, S, 40007, 5900, "RA")), (3, tcp(S, C, 5900, 40007, "PA", b"x")),
                (4, tcp(C, S, 40007, 5900, "R")), (5, tcp(C, S, 40007, 5900, "R")))
    (r,) = run(FlowMeter(), pk)
    assert (r["packetDeltaCount"], r["reversePacketDeltaCount"], r["flowEndReason"]) == (4, 2, END_DETECTED)
    assert (r["tcpControlBits"], r["reverseTcpControlBits"]) == (0x02 | 0x10 | 0x04, 0x12 | 0x08)


def test_biflow_ends_after_fin_from_both_sides_and_keeps_the_last_ack() -> None:
    pk = [
        (0, tcp(C, S, 40008, 80, "FA")),  # one FIN: flow goes on
        (1, tcp(S, C, 80, 40008, "A")),
        (2, tcp(S, C, 80, 40008, "FA")),  # second FIN: closed, lingering
        (3, tcp(C, S, 40008, 80, "A")),  # last ACK: joins the connection
        (2000, tcp(S, C, 80, 40008, "FA")),  # a retransmitted FIN within the linger: joins too
        (2001, tcp(C, S, 40008, 80, "S")),  # port reuse: a new connection at once
    ]
    meter = FlowMeter()
    meter.process(frames(*pk), LINKTYPE_ETHERNET)
    meter.expire(T0 + 2001)
    ended = rows(meter.take_batches())
    assert [(r["packetDeltaCount"], r["reversePacketDeltaCount"], r["flowEndReason"], r["flowEndMilliseconds"])
            for r in ended] == [(2, 3, END_DETECTED, T0 + 2000)]
    meter.flush()
    assert [(r["packetDeltaCount"], r["tcpControlBits"], r["flowEndReason"]) for r in rows(meter.take_batches())] == [
        (1, 0x02, END_FORCED)]


def test_a_closed_flow_still_lingering_at_end_of_input_ends_as_detected() -> None:
    (r,) = run(FlowMeter(), frames((0, tcp(C, S, 40009, 80, "S")), (1, tcp(S, C, 80, 40009, "RA"))))
    assert r["flowEndReason"] == END_DETECTED


def test_close_linger_0_ends_at_the_closing_packet() -> None:
    pk = frames((0, tcp(C, S, 40010, 80, "FA")), (1, tcp(S, C, 80, 40010, "FA")), (2, tcp(C, S, 40010, 80, "A")))
    out = run(FlowMeter(close_linger=0), pk)
    assert sorted((r["packetDeltaCount"], r["reversePacketDeltaCount"]) for r in out) == [(1, 0), (1, 1)]


# -- direction: who initiated ------------------------------------------------------------------
def _oriented(r: dict[str, Any]) -> tuple[Any, ...]:
    return (r["sourceIPv4Address"], r["sourceTransportPort"], r["destinationIPv4Address"],
            r["destinationTransportPort"], r["packetDeltaCount"], r["reversePacketDeltaCount"])


def udp(src: str, dst: str, sport: int, dport: int) -> Packet:
    return Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02") / IP(src=src, dst=dst) / UDP(sport=sport, dport=dport) / Raw(b"r" * 40)


@pytest.mark.parametrize(("first", "initiator"), [
    (udp(S, C, 53, 41000), (C, 41000, S, 53, 0, 1)),  # a resolver's answer: the client asked
    (udp(S, C, 123, 41000), (C, 41000, S, 123, 0, 1)),
    (udp(S, C, 1900, 41000), (C, 41000, S, 1900, 0, 1)),  # SSDP (registered port)
    (udp(C, S, 41000, 53), (C, 41000, S, 53, 1, 0)),  # the question itself
    (udp(S, C, 123, 123), (S, 123, C, 123, 1, 0)),  # both service ports: first packet decides
    (udp(S, C, 41000, 42000), (S, 41000, C, 42000, 1, 0)),  # both ephemeral: first packet
    (tcp(S, C, 443, 41000, "PA"), (C, 41000, S, 443, 0, 1)),  # capture began mid-connection
    (tcp(S, C, 80, 41000, "R"), (C, 41000, S, 80, 0, 1)),  # a RST answers (e.g. an ACK probe)
    (tcp(S, C, 22, 41000, "SA"), (C, 41000, S, 22, 0, 1)),  # only a responder sends SYN-ACK
    (tcp(S, C, 41000, 8080, "SA"), (C, 8080, S, 41000, 0, 1)),  # ... whatever the ports
    (tcp(C, S, 53, 41000, "S"), (C, 53, S, 41000, 1, 0)),  # a SYN is an initiator's (nmap -g 53)
    (tcp(C, S, 80, 41000, "F"), (C, 80, S, 41000, 1, 0)),  # FIN probe: no ACK, not an answer
    (tcp(C, S, 80, 41000, "FPU"), (C, 80, S, 41000, 1, 0)),  # Xmas probe
    (tcp(C, S, 80, 41000, ""), (C, 80, S, 41000, 1, 0)),  # NULL probe
    (tcp(S, C, 513, 1022, "PA"), (C, 1022, S, 513, 0, 1)),  # two system ports: the lower serves
    (tcp(C, S, 1022, 513, "PA"), (C, 1022, S, 513, 1, 0)),
])
def test_records_are_oriented_initiator_to_responder(first: Packet, initiator: tuple[Any, ...]) -> None:
    (r,) = run(FlowMeter(), frames((0, first)))
    assert _oriented(r) == initiator
    if initiator[4] == 0:  # everything the capture saw is the responder's
        assert (r["octetDeltaCount"], r["tcpControlBits"]) == (0, 0)
        assert r["reverseOctetDeltaCount"] == len(first[IP])


def test_orientation_holds_for_the_rest_of_the_flow_and_uniflow_keeps_packet_direction() -> None:
    pk = frames((0, udp(S, C, 53, 41000)), (1, udp(C, S, 41000, 53)), (2, udp(S, C, 53, 41000)))
    (r,) = run(FlowMeter(), pk)
    assert _oriented(r) == (C, 41000, S, 53, 1, 2)
    uni = run(FlowMeter(biflow=False), pk)
    assert sorted((u["sourceIPv4Address"], u["sourceTransportPort"], u["packetDeltaCount"]) for u in uni) == [
        (C, 41000, 1), (S, 53, 2)]


def test_syn_ack_reflection_seen_at_the_victim_names_the_victim_as_initiator() -> None:
    """A capture at a host whose address was spoofed holds only the reflectors' SYN-ACKs: each
    record has the victim as source with zero forward packets, never a reflector 'scanning'."""
    reflectors = [f"192.0.2.{i}" for i in range(1, 21)]
    pk = frames(*[(i, tcp(r, C, 80, 50000 + i, "SA")) for i, r in enumerate(reflectors)])
    out = run(FlowMeter(), pk)
    assert {r["sourceIPv4Address"] for r in out} == {C}
    assert {r["destinationIPv4Address"] for r in out} == set(reflectors)
    assert all((r["packetDeltaCount"], r["reversePacketDeltaCount"], r["reverseTcpControlBits"]) == (0, 1, 0x12)
               for r in out)


def test_inactive_timeout_splits_a_flow() -> None:
    u = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02") / IP(src=C, dst=S) / UDP(sport=53000, dport=53) / Raw(b"q" * 10)
    pk = frames((0, u), (10_000, u), (30_000, u), (30_500, u))
    out = run(FlowMeter(inactive_timeout=15), pk)
    got = sorted((r["flowStartMilliseconds"] - T0, r["flowEndMilliseconds"] - T0, r["packetDeltaCount"],
                  r["flowEndReason"]) for r in out)
    assert got == [(0, 10_000, 2, END_IDLE), (30_000, 30_500, 2, END_FORCED)]
    assert all(r["octetDeltaCount"] == r["packetDeltaCount"] * (20 + 8 + 10) for r in out)


def test_sweep_expires_idle_flows_while_other_traffic_goes_on() -> None:
    a = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02") / IP(src=C, dst=S) / UDP(sport=1, dport=2)
    b = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02") / IP(src=C, dst=S) / UDP(sport=3, dport=4)
    meter = FlowMeter(inactive_timeout=5)
    meter.process(frames((0, a), *[(t * 1000, b) for t in range(1, 8)]), LINKTYPE_ETHERNET)
    gone = rows(meter.take_batches())
    assert [(r["sourceTransportPort"], r["flowEndReason"]) for r in gone] == [(1, END_IDLE)]
    meter.expire(T0 + 60_000)  # wall clock of a live capture: b is idle too now
    assert [r["sourceTransportPort"] for r in rows(meter.take_batches())] == [3]


def test_active_timeout_exports_long_flows_in_pieces() -> None:
    u = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02") / IP(src=C, dst=S) / UDP(sport=1, dport=2)
    pk = frames(*[(t * 5000, u) for t in range(15)])  # 0, 5 s, ... 70 s
    out = run(FlowMeter(active_timeout=30, inactive_timeout=15), pk)
    got = sorted((r["flowStartMilliseconds"] - T0, r["flowEndMilliseconds"] - T0, r["packetDeltaCount"],
                  r["flowEndReason"]) for r in out)
    assert got == [(0, 25_000, 6, END_ACTIVE), (30_000, 55_000, 6, END_ACTIVE), (60_000, 70_000, 3, END_FORCED)]


def test_biflow_versus_uniflow() -> None:
    q = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02") / IP(src=C, dst=S) / UDP(sport=5353, dport=53) / Raw(b"a" * 20)
    a = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02") / IP(src=S, dst=C) / UDP(sport=53, dport=5353) / Raw(b"b" * 100)
    pk = frames((0, q), (1, a), (2, q))
    bi = run(FlowMeter(biflow=True), pk)
    assert len(bi) == 1
    assert (bi[0]["packetDeltaCount"], bi[0]["octetDeltaCount"]) == (2, 2 * len(q[IP]))
    assert (bi[0]["reversePacketDeltaCount"], bi[0]["reverseOctetDeltaCount"]) == (1, len(a[IP]))
    uni = run(FlowMeter(biflow=False), pk)
    got = sorted((r["sourceIPv4Address"], r["packetDeltaCount"], r["octetDeltaCount"]) for r in uni)
    assert got == sorted([(C, 2, 2 * len(q[IP])), (S, 1, len(a[IP]))])
    assert all("reverseOctetDeltaCount" not in r for r in uni)


def test_icmp_type_code_ipv6_vlan_and_non_ip() -> None:
    pk = frames(
        (0, Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02") / IP(src=C, dst=S) / ICMP(type=8, code=0)),
        (1, Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02") / Dot1Q(vlan=7) / Dot1Q(vlan=8) / IP(src=C, dst=S) / ICMP(type=3, code=3)),
        (2, Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02") / IPv6(src="2001:db8::1", dst="2001:db8:0:0::2") / TCP(sport=1, dport=443, flags="S")),
        (3, Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02") / ARP()),
    )
    meter = FlowMeter()
    out = run(meter, pk)
    assert meter.non_ip == 1
    icmp = sorted(r["icmpTypeCodeIPv4"] for r in out if r.get("protocolIdentifier") == 1)
    assert icmp == [3 * 256 + 3, 8 * 256]
    assert all(r["destinationTransportPort"] == 0 for r in out if r["protocolIdentifier"] == 1)
    v6 = [r for r in out if r["ipVersion"] == 6]
    assert len(v6) == 1
    assert (v6[0]["sourceIPv6Address"], v6[0]["destinationIPv6Address"]) == ("2001:db8::1", "2001:db8::2")
    assert v6[0]["octetDeltaCount"] == 40 + 20 and v6[0]["destinationTransportPort"] == 443
    assert "sourceIPv4Address" not in v6[0]


def test_ipv6_extension_header_and_fragments() -> None:
    from scapy.layers.inet6 import IPv6ExtHdrFragment, IPv6ExtHdrHopByHop

    hop = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02") / IPv6(src="::1", dst="::2") / IPv6ExtHdrHopByHop() / UDP(sport=7, dport=9)
    frag = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02") / IPv6(src="::1", dst="::2") / IPv6ExtHdrFragment(offset=100, nh=17) / Raw(b"x" * 16)
    out = run(FlowMeter(), frames((0, hop), (1, frag)))
    ports = sorted((r["sourceTransportPort"], r["destinationTransportPort"], r["protocolIdentifier"]) for r in out)
    assert ports == [(0, 0, 17), (7, 9, 17)]


def test_octets_use_the_ip_length_even_when_snaplen_cut_the_packet() -> None:
    p = bytes(Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02") / IP(src=C, dst=S) / UDP(sport=1, dport=2) / Raw(b"z" * 1000))
    out = run(FlowMeter(), [(T0, p[:14 + 20 + 8])])
    assert out[0]["octetDeltaCount"] == 20 + 8 + 1000


def test_malformed_packets_are_reported_by_index_and_reason() -> None:
    good = bytes(tcp(C, S, 1, 2, "S"))
    ip_bad_version = bytearray(good)
    ip_bad_version[14] = 0x75
    pk = [
        (T0, good),
        (T0, good[:10]),  # no full Ethernet header
        (T0, good[:14 + 10]),  # IP header cut
        (T0, good[:14 + 20 + 6]),  # TCP header cut before the flags
        (T0, bytes(ip_bad_version)),
        (T0, bytes(Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02") / Dot1Q())[:15]),  # VLAN tag cut
    ]
    meter = FlowMeter()
    bad = meter.process(pk, LINKTYPE_ETHERNET)
    assert [i for i, _ in bad] == [1, 2, 3, 4, 5]
    reasons = dict(bad)
    assert "Ethernet" in reasons[1] and "TCP" in reasons[3] and "version 7" in reasons[4]
    meter.flush()
    assert sum(len(b) for b in meter.take_batches()) == 1


def test_other_fast_link_types() -> None:
    ip = bytes(IP(src=C, dst=S) / UDP(sport=1, dport=2))
    sll = b"\x00\x00\x00\x01\x00\x06" + b"\x00" * 8 + b"\x08\x00" + ip
    for linktype, data in ((LINKTYPE_RAW, ip), (LINKTYPE_LINUX_SLL, sll)):
        out = run(FlowMeter(), [(T0, data)], linktype)
        assert [(r["sourceIPv4Address"], r["octetDeltaCount"]) for r in out] == [(C, 28)]


def test_max_flows_forces_out_the_oldest() -> None:
    pk = frames(*[(i, Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02") / IP(src=C, dst=S) / UDP(sport=1000 + i, dport=2)) for i in range(30)])
    meter = FlowMeter(max_flows=20)
    meter.process(pk, LINKTYPE_ETHERNET)
    meter.expire(T0 + 29)
    early = rows(meter.take_batches())
    assert meter.forced == len(early) > 0
    assert {r["sourceTransportPort"] for r in early} == set(range(1000, 1000 + len(early)))
    meter.flush()
    assert len(early) + sum(len(b) for b in meter.take_batches()) == 30


def test_flows_forced_out_leave_at_once_not_at_the_next_sweep() -> None:
    """A flood of new sources between two sweeps: what max_flows forces out is exported early
    (flowEndReason 4) right away, so memory stays bounded by the table, and no flow is lost."""
    pk = frames(*[(i, Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02") / IP(src=C, dst=S) / UDP(sport=1000 + i, dport=2)) for i in range(30)])
    meter = FlowMeter(max_flows=20)
    meter.process(pk, LINKTYPE_ETHERNET)  # 30 ms of packets: no sweep
    early = rows(meter.take_batches())
    assert len(early) == meter.forced > 0 and meter.pending == 0
    assert {r["flowEndReason"] for r in early} == {END_FORCED}
    meter.flush()
    assert len(early) + sum(len(b) for b in meter.take_batches()) == 30


def test_output_is_in_flow_end_order_whatever_the_inactive_timeout() -> None:
    """A flow that goes idle is exported a timeout after its end; flows that ended by FIN in
    between must not overtake it (the host would count it late)."""
    idle = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02") / IP(src=C, dst=S) / UDP(sport=9, dport=9)
    pk = [(0, idle)]
    pk += [(1000 + i * 100, tcp(C, S, 2000 + i, 80, "S")) for i in range(10)]
    pk += [(1050 + i * 100, tcp(C, S, 2000 + i, 80, "R")) for i in range(10)]
    pk += [(t * 500, tcp(C, S, 5, 6, "A")) for t in range(1, 90)]  # keeps the clock going to 44.5 s
    pk.sort(key=lambda x: x[0])
    meter = FlowMeter(inactive_timeout=15)
    ends: list[int] = []
    data = frames(*pk)
    for i in range(0, len(data), 7):  # several chunks, taking after each as pcap.py does
        meter.process(data[i:i + 7], LINKTYPE_ETHERNET)
        ends += [r["flowEndMilliseconds"] for r in rows(meter.take_batches())]
    meter.flush()
    ends += [r["flowEndMilliseconds"] for r in rows(meter.take_batches())]
    assert len(ends) == 12
    assert ends == sorted(ends)
    assert ends[0] == T0  # the idle UDP flow first, although it expired last but one


def test_a_flow_first_seen_at_its_syn_ack_keeps_the_client_as_source() -> None:
    pk = frames((0, tcp(S, C, 443, 5555, "SA")), (1, tcp(C, S, 5555, 443, "A")))
    (r,) = run(FlowMeter(), pk)
    assert (r["sourceIPv4Address"], r["sourceTransportPort"], r["destinationTransportPort"]) == (C, 5555, 443)
    assert (r["packetDeltaCount"], r["tcpControlBits"]) == (1, 0x10)
    assert (r["reversePacketDeltaCount"], r["reverseTcpControlBits"]) == (1, 0x12)


def test_service_ports_leave_the_ephemeral_ranges_to_clients() -> None:
    """A port clients pick for themselves must never make their packets look like answers."""
    from flowcep_plugin.inputs.flowmeter import SERVICE_PORTS

    assert not SERVICE_PORTS & set(range(32768, 65536))
    assert {22, 53, 80, 123, 443, 1900, 3389, 5353, 8080, 11211} <= SERVICE_PORTS


def test_a_full_table_evicts_closed_connections_as_ended_not_forced() -> None:
    pk = [(0, tcp(C, S, 40100, 80, "S")), (1, tcp(S, C, 80, 40100, "RA"))]  # refused: closed
    pk += [(2 + i, udp(C, S, 41000 + i, 9999)) for i in range(20)]
    meter = FlowMeter(max_flows=10)
    meter.process(frames(*pk), LINKTYPE_ETHERNET)
    meter.expire(T0 + 30)
    early = {r["sourceTransportPort"]: r["flowEndReason"] for r in rows(meter.take_batches())}
    assert early[40100] == END_DETECTED
    assert {why for port, why in early.items() if port != 40100} == {END_FORCED}


def test_gc_paused_restores_the_collector_even_on_errors() -> None:
    """The block path pauses the cyclic collector around a block; it must come back on after
    an exception, and a pause inside a pause (or with the collector already off) must not
    turn it on early."""
    import gc

    from flowcep_plugin.inputs.flowmeter import gc_paused

    was = gc.isenabled()
    gc.enable()
    try:
        with pytest.raises(RuntimeError), gc_paused():
            assert not gc.isenabled()
            raise RuntimeError("boom")
        assert gc.isenabled()
        with gc_paused():
            with gc_paused():
                pass
            assert not gc.isenabled()  # the inner pause left it to the outer one
        assert gc.isenabled()
        gc.disable()
        with gc_paused():
            pass
        assert not gc.isenabled()  # it was off before: it stays off
    finally:
        if was:
            gc.enable()
        else:
            gc.disable()


@pytest.mark.parametrize("path", ["packet", "block"])
def test_flow_table_memory_per_flow_under_a_flood(path: str) -> None:
    """A SYN flood from distinct sources: the bytes each record costs bound what a flood can
    take (max_flows x this). Measured 242 (per packet) and ~280 (block) bytes with packed keys;
    the tuple keys before cost 386 and 486, so this fails if a per-flow object comes back."""
    import gc
    import struct
    import tracemalloc

    from flowcep_plugin.inputs.capfile import Block

    def frame(i: int) -> bytes:
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 40, 0, 0, 64, 6, 0, struct.pack("!I", 0x0A000000 + i),
                         b"\xc0\xa8\x00\x01", )
        tcp = struct.pack("!HHIIBBHHH", 1024 + i % 60000, 80, 0, 0, 0x50, 2, 1024, 0, 0)
        return b"\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01\x08\x00" + ip + tcp

    n = 30_000
    frames_ = [(T0 + i // 100, frame(i)) for i in range(n)]
    meter = FlowMeter(max_flows=n)
    meter.process_block(Block.from_frames(frames_[:1]), LINKTYPE_ETHERNET)  # imports, caches
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for i in range(1, n, 5000):
            chunk = frames_[i:i + 5000]
            if path == "packet":
                meter.process(chunk, LINKTYPE_ETHERNET)
            else:
                meter.process_block(Block.from_frames(chunk), LINKTYPE_ETHERNET)
        del chunk
        gc.collect()
        per_flow = (tracemalloc.get_traced_memory()[0] - before) / len(meter.flows)
    finally:
        tracemalloc.stop()
    assert len(meter.flows) == n and meter.forced == 0
    assert per_flow < 330, per_flow
