"""IP fragments are metered in their datagram's flow.

Every expectation comes from the fragments the test builds (scapy's ``fragment`` and
``fragment6`` split the datagrams; the sums are of the IP lengths in their headers) or from
tshark reading a capture the test writes, never from the meter's own output.
"""

from __future__ import annotations

import subprocess
from collections import defaultdict
from pathlib import Path
from typing import Any

from scapy.layers.inet import ICMP, IP, UDP, fragment
from scapy.layers.inet6 import ICMPv6EchoRequest, IPv6, IPv6ExtHdrFragment, fragment6
from scapy.layers.l2 import Ether
from scapy.packet import Packet, Raw
from scapy.utils import wrpcap

from flowcep_plugin.addresses import parse_address
from flowcep_plugin.context import Context
from flowcep_plugin.inputs.flowmeter import LINKTYPE_ETHERNET, LINKTYPE_RAW, FlowMeter
from flowcep_plugin.inputs.pcap import PcapSource

T0 = 1_700_000_000_000  # ms
REFLECTOR, VICTIM = "192.0.2.53", "10.0.0.1"
R6, V6 = "2001:db8::53", "2001:db8::1"


def eth(p: Packet) -> bytes:
    return bytes(Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02") / p)


def ip_length(p: Packet) -> int:
    """The IP length a meter must count for one packet, read from its own header fields."""
    p = p.__class__(bytes(p))  # built headers: lengths filled in
    if IP in p:
        return int(p[IP].len)
    return 40 + int(p[IPv6].plen)


def dns_reply_fragments(ident: int, sport: int = 53, dport: int = 33333, size: int = 3000,
                        src: str = REFLECTOR) -> list[Packet]:
    """A ``size``-byte DNS-like UDP reply split into 1500-byte IPv4 fragments."""
    dgram = IP(src=src, dst=VICTIM, id=ident) / UDP(sport=sport, dport=dport) / Raw(b"\xab" * size)
    frags = [IP(bytes(f)) for f in fragment(dgram, fragsize=1480)]
    assert len(frags) >= 2 and frags[0][IP].flags.MF and frags[1][IP].frag > 0
    return frags


def udp6_fragments(ident: int, size: int = 3000) -> list[Packet]:
    dgram = IPv6(src=R6, dst=V6) / IPv6ExtHdrFragment(id=ident) / UDP(sport=123, dport=40000) / Raw(b"n" * size)
    frags = [IPv6(bytes(f)) for f in fragment6(dgram, 1280)]
    assert len(frags) >= 3
    return frags


def as_sent(r: dict[str, Any]) -> dict[str, Any]:
    """A biflow record whose source sent nothing, turned into the uniflow of what was sent.

    Replies from a service port seen without their request (most tests here meter only a
    reflector's fragmented reply) are oriented initiator -> responder with zero forward
    packets (see flowmeter's "Direction"); the fragment tests check what the sender's
    datagram was counted as, so they read the record from the sender's side.
    """
    if r.get("packetDeltaCount") or not r.get("reversePacketDeltaCount"):
        return r
    v = "IPv4" if "sourceIPv4Address" in r else "IPv6"
    return {**r, f"source{v}Address": r[f"destination{v}Address"], f"destination{v}Address": r[f"source{v}Address"],
            "sourceTransportPort": r["destinationTransportPort"], "destinationTransportPort": r["sourceTransportPort"],
            "packetDeltaCount": r["reversePacketDeltaCount"], "octetDeltaCount": r["reverseOctetDeltaCount"],
            "reversePacketDeltaCount": 0, "reverseOctetDeltaCount": 0}


def meter_rows(meter: FlowMeter, timed: list[tuple[int, Packet]], linktype: int = LINKTYPE_ETHERNET,
               raw: bool = False) -> list[dict[str, Any]]:
    data = [(T0 + t, eth(p) if linktype == LINKTYPE_ETHERNET else bytes(p)) for t, p in timed]
    assert meter.process(data, linktype) == []
    meter.flush()
    return [r if raw else as_sent(r) for b in meter.take_batches() for r in b.rows()]


def ports(r: dict[str, Any]) -> tuple[int, int]:
    return r["sourceTransportPort"], r["destinationTransportPort"]


def test_fragmented_dns_reply_is_one_flow_from_port_53() -> None:
    frags = dns_reply_fragments(0x1234)
    out = meter_rows(FlowMeter(), [(i, f) for i, f in enumerate(frags)])
    assert len(out) == 1, out
    (r,) = out
    assert ports(r) == (53, 33333) and r["sourceIPv4Address"] == REFLECTOR
    assert r["packetDeltaCount"] == len(frags)
    assert r["octetDeltaCount"] == sum(ip_length(f) for f in frags) == 3000 + 8 + 20 * len(frags)
    assert (r["flowStartMilliseconds"], r["flowEndMilliseconds"]) == (T0, T0 + len(frags) - 1)
    # as metered: the reply's 53 -> 33333 is an answer, so the victim is the record's source
    (raw,) = meter_rows(FlowMeter(), [(i, f) for i, f in enumerate(frags)], raw=True)
    assert (raw["sourceIPv4Address"], *ports(raw)) == (VICTIM, 33333, 53)
    assert (raw["packetDeltaCount"], raw["reversePacketDeltaCount"]) == (0, len(frags))


def test_fragment_counters_on_the_meter() -> None:
    frags = dns_reply_fragments(7)
    meter = FlowMeter()
    meter_rows(meter, [(i, f) for i, f in enumerate(frags)])
    assert meter.fragments_attributed == len(frags) - 1
    assert meter.fragments_orphaned == 0 and meter.fragments_held == 0


def test_biflow_query_and_fragmented_reply() -> None:
    query = IP(src=VICTIM, dst=REFLECTOR, id=1) / UDP(sport=33333, dport=53) / Raw(b"q" * 30)
    frags = dns_reply_fragments(99)
    out = meter_rows(FlowMeter(), [(0, query)] + [(5 + i, f) for i, f in enumerate(frags)])
    assert len(out) == 1
    (r,) = out
    assert ports(r) == (33333, 53)
    assert (r["packetDeltaCount"], r["octetDeltaCount"]) == (1, ip_length(query))
    assert r["reversePacketDeltaCount"] == len(frags)
    assert r["reverseOctetDeltaCount"] == sum(ip_length(f) for f in frags)


def test_ipv6_udp_datagram_fragments_share_its_flow() -> None:
    frags = udp6_fragments(0xDEADBEEF)
    out = meter_rows(FlowMeter(), [(i, f) for i, f in enumerate(frags)])
    assert len(out) == 1, out
    (r,) = out
    assert ports(r) == (123, 40000) and r["sourceIPv6Address"] == R6
    assert r["packetDeltaCount"] == len(frags)
    assert r["octetDeltaCount"] == sum(ip_length(f) for f in frags)


def test_ipv6_identification_is_32_bits() -> None:
    """Two datagrams whose IDs differ only above the low 16 bits are not confused."""
    a = udp6_fragments(0x00010005)
    b = udp6_fragments(0x00020005)
    b = [IPv6(bytes(f)) for f in b]
    for f in b:  # same addresses, other ports: rewrite the first fragment's UDP ports
        if UDP in f:
            f[UDP].sport, f[UDP].dport = 124, 40001
    b = [IPv6(bytes(f)) for f in b]
    timed = [(0, a[0]), (1, b[0])] + [(2 + i, f) for i, f in enumerate(a[1:] + b[1:])]
    out = sorted(meter_rows(FlowMeter(biflow=False), timed), key=ports)
    assert [ports(r) for r in out] == [(123, 40000), (124, 40001)]
    assert out[0]["octetDeltaCount"] == sum(ip_length(f) for f in a)
    assert out[1]["octetDeltaCount"] == sum(ip_length(f) for f in b)


def test_reordered_fragments_wait_for_the_first_one() -> None:
    frags = dns_reply_fragments(0x4242)
    # last fragment first, first fragment last (as some IP stacks send them)
    timed = [(i, f) for i, f in enumerate(reversed(frags))]
    meter = FlowMeter()
    out = meter_rows(meter, timed)
    assert len(out) == 1, out
    (r,) = out
    assert ports(r) == (53, 33333)
    assert r["packetDeltaCount"] == len(frags)
    assert r["octetDeltaCount"] == sum(ip_length(f) for f in frags)
    assert (r["flowStartMilliseconds"], r["flowEndMilliseconds"]) == (T0, T0 + len(frags) - 1)
    assert meter.fragments_attributed == len(frags) - 1 and meter.fragments_orphaned == 0


def test_interleaved_datagrams_of_two_flows() -> None:
    a = dns_reply_fragments(0x0101, sport=53, dport=1111, size=4000)
    b = dns_reply_fragments(0x0202, sport=123, dport=2222, size=2500)
    # a reflector on another address reusing a's IP ID: keyed apart by source address
    c = dns_reply_fragments(0x0101, sport=11211, dport=3333, size=3000, src="198.51.100.7")
    order: list[Packet] = []
    for i in range(max(len(a), len(b), len(c))):
        order += [x[i] for x in (a, b, c) if i < len(x)]
    order = order[1:] + order[:1]  # a's first fragment comes last
    out = meter_rows(FlowMeter(), [(i, f) for i, f in enumerate(order)])
    got = {ports(r): (r["packetDeltaCount"], r["octetDeltaCount"]) for r in out}
    want = {(53, 1111): a, (123, 2222): b, (11211, 3333): c}
    assert got == {k: (len(v), sum(ip_length(f) for f in v)) for k, v in want.items()}


def test_icmp_fragments_keep_the_type_and_code() -> None:
    echo = IP(src=VICTIM, dst=REFLECTOR, id=555) / ICMP(type=8, code=0) / Raw(b"p" * 3500)
    frags = [IP(bytes(f)) for f in fragment(echo, fragsize=1480)]
    out = meter_rows(FlowMeter(), [(i, f) for i, f in enumerate(frags)])
    assert len(out) == 1, out
    (r,) = out
    assert r["icmpTypeCodeIPv4"] == 8 * 256 + 0 and ports(r) == (0, 0)
    assert r["packetDeltaCount"] == len(frags)
    assert r["octetDeltaCount"] == sum(ip_length(f) for f in frags)


def test_icmpv6_fragments_on_a_raw_ip_link() -> None:
    echo = IPv6(src=V6, dst=R6) / IPv6ExtHdrFragment(id=77) / ICMPv6EchoRequest(data=b"e" * 3000)
    frags = [IPv6(bytes(f)) for f in fragment6(echo, 1280)]
    out = meter_rows(FlowMeter(), [(i, f) for i, f in enumerate(frags)], LINKTYPE_RAW)
    assert len(out) == 1, out
    (r,) = out
    assert r["icmpTypeCodeIPv6"] == 128 * 256
    assert (r["packetDeltaCount"], r["octetDeltaCount"]) == (len(frags), sum(ip_length(f) for f in frags))


def test_fragments_without_their_first_are_counted_with_ports_0_after_the_hold() -> None:
    frags = dns_reply_fragments(0x0BAD)
    later = IP(src="10.9.9.9", dst="10.9.9.8") / UDP(sport=1, dport=2)
    meter = FlowMeter(frag_hold=1.0, sweep_ms=100)
    # packets keep the clock going; a sweep (every 100 ms of packet time) gives up on them
    timed = [(0, f) for f in frags[1:]] + [(1400, later), (1550, later)]
    data = [(T0 + t, eth(p)) for t, p in timed]
    meter.process(data, LINKTYPE_ETHERNET)
    assert meter.fragments_orphaned == len(frags) - 1 and meter.fragments_held == 0
    # the first fragment, too late: its datagram's flow has only itself
    meter.process([(T0 + 1600, eth(frags[0]))], LINKTYPE_ETHERNET)
    meter.flush()
    out = {(r["sourceIPv4Address"], *ports(r)): r for b in meter.take_batches() for r in map(as_sent, b.rows())}
    orphan = out[(REFLECTOR, 0, 0)]
    assert orphan["packetDeltaCount"] == len(frags) - 1
    assert orphan["octetDeltaCount"] == sum(ip_length(f) for f in frags[1:])
    assert orphan["flowStartMilliseconds"] == T0  # counted at their own time
    assert out[(REFLECTOR, 53, 33333)]["octetDeltaCount"] == ip_length(frags[0])
    assert meter.fragments_attributed == 0


def test_held_fragments_hold_back_the_release_of_later_flows() -> None:
    """The meter's output stays in flow-end order while a fragment waits."""
    frags = dns_reply_fragments(0x0C0C)
    other = IP(src="10.9.9.9", dst="10.9.9.8") / UDP(sport=1, dport=2)
    meter = FlowMeter(frag_hold=1.0, sweep_ms=100, inactive_timeout=0.2)
    meter.process([(T0, eth(frags[1])), (T0 + 50, eth(other)), (T0 + 900, eth(other))], LINKTYPE_ETHERNET)
    ends = [e for b in meter.take_batches() for e in b.columns["flowEndMilliseconds"]]
    assert ends == []  # the flow ended at 50 ms waits behind the fragment held since 0 ms
    meter.flush()
    ends += [e for b in meter.take_batches() for e in b.columns["flowEndMilliseconds"]]
    assert ends == sorted(ends) and len(ends) == 3


def test_first_fragment_entries_expire() -> None:
    frags = dns_reply_fragments(0x0E0E)
    meter = FlowMeter(frag_timeout=5.0, frag_hold=0.0)
    out = meter_rows(meter, [(0, frags[0]), (5001, frags[1]), (5002, frags[2])])
    by_ports = {ports(r): r["packetDeltaCount"] for r in out}
    assert by_ports == {(53, 33333): 1, (0, 0): len(frags) - 1}
    assert meter.fragments_orphaned == len(frags) - 1


def test_fragment_table_is_bounded_oldest_out() -> None:
    a = dns_reply_fragments(1, dport=1111)
    b = dns_reply_fragments(2, dport=2222)
    meter = FlowMeter(max_fragments=1, frag_hold=0.0)
    out = meter_rows(meter, [(0, a[0]), (1, b[0])] + [(2 + i, f) for i, f in enumerate(a[1:] + b[1:])])
    got = {ports(r): r["packetDeltaCount"] for r in out}
    assert got == {(53, 1111): 1, (53, 2222): len(b), (0, 0): len(a) - 1}
    assert meter.fragment_entries_evicted == 1
    assert (meter.fragments_attributed, meter.fragments_orphaned) == (len(b) - 1, len(a) - 1)


def test_fragment_hold_is_bounded() -> None:
    a = dns_reply_fragments(1, dport=1111)
    b = dns_reply_fragments(2, dport=2222)
    meter = FlowMeter(max_held_fragments=len(b) - 1)
    # a's and b's later fragments wait; b's push a's out (oldest first); then both firsts come
    timed = [(i, f) for i, f in enumerate(a[1:] + b[1:])] + [(10, a[0]), (11, b[0])]
    out = meter_rows(meter, timed)
    got = {ports(r): r["packetDeltaCount"] for r in out}
    assert got == {(53, 1111): 1, (53, 2222): len(b), (0, 0): len(a) - 1}
    assert meter.fragments_held_evicted == len(a) - 1


def test_unfragmented_packets_with_df_are_not_fragments() -> None:
    p = IP(src=REFLECTOR, dst=VICTIM, id=9, flags="DF") / UDP(sport=53, dport=5) / Raw(b"x" * 100)
    meter = FlowMeter()
    out = meter_rows(meter, [(0, p)])
    assert [ports(r) for r in out] == [(53, 5)]
    assert meter.fragments_attributed == meter.fragments_orphaned == 0


# -- through the pcap: input, checked against tshark ------------------------------------------
def _tshark_totals(tshark: str, pcap: Path) -> dict[tuple[str, int, int], tuple[int, int]]:
    """(source, sport, dport) -> (packets, IP octets), from tshark's own reassembly.

    tshark shows the UDP ports on the frame that completes a datagram; every fragment of that
    datagram (same addresses and IP ID) is then given those ports here.
    """
    cmd = [tshark, "-r", str(pcap), "-T", "fields", "-E", "separator=,",
           "-e", "ip.src", "-e", "ipv6.src", "-e", "ip.dst", "-e", "ipv6.dst", "-e", "ip.id",
           "-e", "ipv6.fraghdr.ident", "-e", "ip.len", "-e", "ipv6.plen", "-e", "udp.srcport",
           "-e", "udp.dstport"]
    lines = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=60).stdout.splitlines()
    frames: list[tuple[tuple[str, str, str], int]] = []
    dgram_ports: dict[tuple[str, str, str], tuple[int, int]] = {}
    for line in lines:
        s4, s6, d4, d6, id4, id6, len4, plen6, sp, dp = line.split(",")
        key = (s4 or s6, d4 or d6, id4 or id6)
        frames.append((key, int(len4) if len4 else 40 + int(plen6)))
        if sp:
            dgram_ports[key] = (int(sp), int(dp))
    totals: dict[tuple[str, int, int], list[int]] = defaultdict(lambda: [0, 0])
    for key, size in frames:
        t = totals[(key[0], *dgram_ports[key])]
        t[0] += 1
        t[1] += size
    return {k: (v[0], v[1]) for k, v in totals.items()}


def test_pcap_input_against_tshark_and_stats(tmp_path: Path, require_tool: Any) -> None:
    tshark = require_tool("tshark")
    a = dns_reply_fragments(0x0101, sport=53, dport=1111, size=4000)
    b = dns_reply_fragments(0x0202, sport=123, dport=2222, size=2500)
    c = udp6_fragments(0x01020304)
    order = [a[1], b[0], a[0], c[0], b[1], c[2], c[1]] + a[2:] + b[2:] + c[3:]
    assert len(order) == len(a) + len(b) + len(c)
    pkts = []
    for i, f in enumerate(order):
        p = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02") / f
        p.time = 1_700_000_000 + i / 1000
        pkts.append(p)
    pcap = tmp_path / "frags.pcap"
    wrpcap(str(pcap), pkts)
    want = _tshark_totals(tshark, pcap)
    assert set(want) == {(REFLECTOR, 53, 1111), (REFLECTOR, 123, 2222), (R6, 123, 40000)}

    ctx = Context()
    src = PcapSource(parse_address(f"pcap:{pcap}"), {}, ctx)
    rows = [as_sent(r) for batch in src.batches() for r in batch.rows()]
    got = {(r.get("sourceIPv4Address") or r.get("sourceIPv6Address"), *ports(r)):
           (r["packetDeltaCount"], r["octetDeltaCount"]) for r in rows}
    assert got == want
    gauges = ctx.stats.snapshot()["gauges"]
    assert gauges["pcap fragments counted in their datagram's flow"] == len(order) - 3
    assert "pcap fragments counted with ports 0 (first fragment not seen)" not in gauges
    assert not ctx.stats.drops


def test_pcap_input_counts_orphans(tmp_path: Path) -> None:
    a = dns_reply_fragments(0x0101)
    pkts = []
    for i, f in enumerate(a[1:]):  # the first fragment was not captured
        p = Ether() / f
        p.time = 1_700_000_000 + i / 1000
        pkts.append(p)
    pcap = tmp_path / "orphans.pcap"
    wrpcap(str(pcap), pkts)
    ctx = Context()
    rows = [r for b in PcapSource(parse_address(f"pcap:{pcap}"), {}, ctx).batches() for r in b.rows()]
    assert [(ports(r), r["packetDeltaCount"]) for r in rows] == [((0, 0), len(a) - 1)]
    assert ctx.stats.snapshot()["gauges"]["pcap fragments counted with ports 0 (first fragment not seen)"] == len(a) - 1


def test_reused_ip_id_goes_to_the_newer_datagram() -> None:
    """A later datagram reusing an IP ID (same addresses) replaces the older one's entry."""
    old = dns_reply_fragments(0x0D0D, dport=1111)
    new = dns_reply_fragments(0x0D0D, dport=2222)
    out = meter_rows(FlowMeter(), [(0, old[0]), (1, new[0])] + [(2 + i, f) for i, f in enumerate(new[1:])])
    got = {ports(r): (r["packetDeltaCount"], r["octetDeltaCount"]) for r in out}
    assert got == {(53, 1111): (1, ip_length(old[0])),
                   (53, 2222): (len(new), sum(ip_length(f) for f in new))}
