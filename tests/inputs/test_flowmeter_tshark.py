"""The ``pcap:`` input with its default settings against tshark on real third-party captures.

tshark is the independent count: ``-z conv,tcp -z conv,udp`` gives the frames each way of every
conversation, and its per-packet dissection gives IP lengths, TCP flags and times. For each
conversation the meter's records must add up to exactly those packets and IP octets in each
direction, and the number of records must be the one the documented splitting rules give when
they are applied to tshark's packets: inactive timeout (15 s), active timeout (30 min), and a
closed TCP connection (RST, or FIN from both sides) that lingers 5 s for late packets unless a
new SYN reuses its ports. No record may be a lone ACK or RST trailing a connection it belongs to.

Orientation is checked against facts tshark shows: a record holding a SYN without ACK has that
SYN's sender as its source, and a record whose source sent nothing began with an answer.
"""

from __future__ import annotations

import subprocess
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from flowcep_plugin.addresses import parse_address
from flowcep_plugin.context import Context
from flowcep_plugin.inputs.flowmeter import SERVICE_PORTS
from flowcep_plugin.inputs.pcap import PcapSource

# real captures of different shapes (see ../shared/data/traces/PROVENANCE.md): TCP flag probes,
# SSH brute force, page loads, FTP/UPnP LAN, one-way backscatter, IPv6, Linux SLL, pcapng,
# long idle periods, a DNS client over 21 minutes, and a VNC scanner resetting connections
CAPTURES = [
    "traces/ndpi_tcp_flag_probes.pcap",
    "traces/slips_ssh_bruteforce_port902.pcap",
    "traces/pcapplusplus_web_browsing.pcap",
    "traces/suricata_home_ftp_upnp.pcap",
    "traces/ncsascan_backscatter.pcap",
    "traces/ndpi_reddit_ipv6.pcap",
    "traces/pcapplusplus_http_download_sll.pcap",
    "traces/traceshare_ssh_hydra_1task.pcapng",
    "traces/ndpi_wechat.pcap",
    "traces/pcapplusplus_dns_client.pcap",
    "zeek/rfb_vnc-scanner.pcap",
]
LINGER_MS = 5000  # the documented defaults (docs/components.md), not read from the meter
IDLE_MS = 15_000
SYN, RST, ACK, FIN = 0x02, 0x04, 0x10, 0x01

# a meter keys flows by the outer headers; tshark would count Teredo's tunnelled IPv6 packets
# in the inner conversation (suricata_home_ftp_upnp.pcap has Teredo on UDP 3544)
OUTER_ONLY = ["--disable-protocol", "teredo"]

Endpoint = tuple[str, int]
ConvKey = tuple[int, frozenset[Endpoint]]  # protocol, both endpoints


@dataclass
class Packet:
    ms: int
    src: Endpoint
    dst: Endpoint
    proto: int
    octets: int
    flags: int


@dataclass
class Conversation:
    frames: dict[Endpoint, int] = field(default_factory=dict)  # sender -> frames (tshark conv)
    packets: list[Packet] = field(default_factory=list)


def _ms(epoch: str) -> int:
    sec, _, frac = epoch.partition(".")
    return int(sec) * 1000 + int((frac + "000")[:3])


def tshark_view(tshark: str, pcap: Path) -> dict[ConvKey, Conversation]:
    convs: dict[ConvKey, Conversation] = defaultdict(Conversation)
    out = subprocess.run([tshark, *OUTER_ONLY, "-r", str(pcap), "-q", "-z", "conv,tcp", "-z", "conv,udp"],
                         capture_output=True, text=True, timeout=120, check=True).stdout
    proto = 0
    for line in out.splitlines():
        if line.startswith("TCP Conversations"):
            proto = 6
        elif line.startswith("UDP Conversations"):
            proto = 17
        if "<->" not in line:
            continue
        f = line.split()
        ah, ap = f[0].rsplit(":", 1)
        bh, bp = f[2].rsplit(":", 1)
        a, b = (ah, int(ap)), (bh, int(bp))
        conv = convs[(proto, frozenset((a, b)))]
        # columns: "<-" frames, bytes, unit; "->" frames, ...: a <- b first. A 5-tuple reused
        # by a later connection is a second row in newer tsharks: add them up.
        conv.frames[b] = conv.frames.get(b, 0) + int(f[3])
        conv.frames[a] = conv.frames.get(a, 0) + int(f[6])
    fields = ["frame.time_epoch", "ip.src", "ipv6.src", "ip.dst", "ipv6.dst", "tcp.srcport", "tcp.dstport",
              "udp.srcport", "udp.dstport", "ip.len", "ipv6.plen", "tcp.flags"]
    cmd = [tshark, *OUTER_ONLY, "-r", str(pcap), "-Y", "(tcp or udp) and not icmp and not icmpv6", "-T", "fields",
           "-E", "separator=,", "-E", "occurrence=f"]
    for name in fields:
        cmd += ["-e", name]
    for line in subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=True).stdout.splitlines():
        t, s4, s6, d4, d6, tsp, tdp, usp, udp, len4, plen6, flags = line.split(",")
        proto = 6 if tsp else 17
        src = (s4 or s6, int(tsp or usp))
        dst = (d4 or d6, int(tdp or udp))
        octets = int(len4) if len4 else 40 + int(plen6)
        key = (proto, frozenset((src, dst)))
        if key in convs:  # tshark's conv table is the reference for which conversations exist
            convs[key].packets.append(Packet(_ms(t), src, dst, proto, octets, int(flags, 16) if flags else 0))
    return dict(convs)


def expected_records(packets: list[Packet]) -> int:
    """Records the documented rules make of one conversation's packets (in file order)."""
    records = 0
    start = last = 0
    closed = False
    fins: set[Endpoint] = set()
    for p in packets:
        new = records == 0
        if not new:
            if closed:
                new = p.ms - last >= LINGER_MS or (p.proto == 6 and p.flags & (SYN | ACK) == SYN)
            else:
                new = p.ms - last >= IDLE_MS or p.ms - start >= 1_800_000
        if new:
            records += 1
            start = last = p.ms
            closed = False
            fins = set()
        start, last = min(start, p.ms), max(last, p.ms)
        if p.proto == 6 and not closed:
            if p.flags & RST:
                closed = True
            elif p.flags & FIN:
                fins.add(p.src)
                closed = len(fins) == 2
    return records


def meter_records(pcap: Path) -> list[dict[str, Any]]:
    src = PcapSource(parse_address(f"pcap:{pcap}"), {}, Context())
    return [r for b in src.batches() for r in b.rows() if r["protocolIdentifier"] in (6, 17)]


def _ends(r: dict[str, Any]) -> tuple[Endpoint, Endpoint]:
    v = "IPv4" if "sourceIPv4Address" in r else "IPv6"
    return ((r[f"source{v}Address"], r["sourceTransportPort"]),
            (r[f"destination{v}Address"], r["destinationTransportPort"]))


@pytest.mark.shared
@pytest.mark.tools
@pytest.mark.parametrize("name", CAPTURES)
def test_records_add_up_to_tshark_conversations(name: str, shared_file: Any, require_tool: Any) -> None:
    tshark = require_tool("tshark")
    pcap = shared_file(f"data/{name}")
    convs = tshark_view(tshark, pcap)
    assert convs, "tshark found no TCP/UDP conversation"
    by_conv: dict[ConvKey, list[dict[str, Any]]] = defaultdict(list)
    for r in meter_records(pcap):
        src, dst = _ends(r)
        by_conv[(r["protocolIdentifier"], frozenset((src, dst)))].append(r)
    assert set(by_conv) == set(convs)
    for key, conv in convs.items():
        recs = by_conv[key]
        sent_packets: dict[Endpoint, int] = defaultdict(int)
        sent_octets: dict[Endpoint, int] = defaultdict(int)
        for r in recs:
            src, dst = _ends(r)
            sent_packets[src] += r["packetDeltaCount"]
            sent_octets[src] += r["octetDeltaCount"]
            sent_packets[dst] += r["reversePacketDeltaCount"]
            sent_octets[dst] += r["reverseOctetDeltaCount"]
        want_octets: dict[Endpoint, int] = defaultdict(int)
        for p in conv.packets:
            want_octets[p.src] += p.octets
        for end in key[1]:
            assert sent_packets[end] == conv.frames.get(end, 0), (key, end)
            assert sent_octets[end] == want_octets[end], (key, end)
        assert len(recs) == expected_records(conv.packets), (key, len(recs))


@pytest.mark.shared
@pytest.mark.tools
@pytest.mark.parametrize("name", CAPTURES)
def test_records_are_oriented_by_what_tshark_sees(name: str, shared_file: Any, require_tool: Any) -> None:
    tshark = require_tool("tshark")
    pcap = shared_file(f"data/{name}")
    convs = tshark_view(tshark, pcap)
    for r in meter_records(pcap):
        src, dst = _ends(r)
        conv = convs[(r["protocolIdentifier"], frozenset((src, dst)))]
        start, end = r["flowStartMilliseconds"], r["flowEndMilliseconds"]
        mine = [p for p in conv.packets if start <= p.ms <= end]
        syns = {p.src for p in mine if p.proto == 6 and p.flags & (SYN | ACK) == SYN}
        if len(syns) == 1:
            assert syns == {src}, (r, syns)
        if r["packetDeltaCount"] == 0:
            first = min(mine, key=lambda p: p.ms)
            answer = (first.flags & (SYN | ACK) == SYN | ACK or
                      (first.src[1] in SERVICE_PORTS and first.dst[1] not in SERVICE_PORTS) or
                      (first.src[1] in SERVICE_PORTS and first.src[1] < first.dst[1]))
            assert first.src == dst and answer, (r, first)
