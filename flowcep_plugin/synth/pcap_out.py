"""Scenario -> pcap of real packets built with scapy (so the pcap flow meter is exercised).

Each conversation becomes the packets its counts describe (see
:func:`flowcep_plugin.synth.model.tcp_counts`): TCP handshakes, data segments of at most
1460 bytes with PSH on a message's last segment, one pure ACK per two received segments,
FIN close; SYN-only probes answered by RST/ACK or SYN/ACK; DNS messages in wire format with
compressed names, IP-fragmented when larger than one packet; HTTP requests with their Host
and URL; ICMP echo requests and replies. Timestamps come from the scenario (no clock), TCP
sequence numbers and IP ids from a ``random.Random`` per conversation, so the same scenario
always gives the same bytes.

Big transfers (backups) and floods are shortened to ``max_segments`` data segments,
datagrams or echo requests per direction of a conversation to keep files small; their pcap
flows then carry fewer packets than the IPFIX records of the same scenario (UDP and ICMP
floods stop being floods). Everything else, every other attack included, is written packet
for packet.
"""

from __future__ import annotations

import math
import random
import struct
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

from .builder import dns_answers, dns_message
from .model import ACK, FIN, MSS, PSH, RST, SYN, Conversation, Scenario, http_request, http_response_head

__all__ = ["write_pcap", "conversation_packets"]

_GATEWAY_MAC = "02:00:00:00:00:01"
_SSH_BANNERS = (b"SSH-2.0-OpenSSH_9.6\r\n", b"SSH-2.0-OpenSSH_8.9\r\n")


def _mac(ip: str) -> str:
    if ip.startswith("10."):
        return "02:00:" + ":".join(f"{int(p):02x}" for p in ip.split("."))
    return _GATEWAY_MAC


def _capped(msgs: tuple[int, ...], budget: int) -> list[int]:
    """Shrink the biggest messages so the direction needs at most ``budget`` segments."""
    segs = sum(max(1, math.ceil(m / MSS)) for m in msgs if m > 0)
    if segs <= budget:
        return list(msgs)
    out = list(msgs)
    small = sum(1 for m in msgs if 0 < m <= MSS)
    room = max(1, budget - small) * MSS
    big = sum(m for m in msgs if m > MSS)
    for i, m in enumerate(msgs):
        if m > MSS:
            out[i] = max(MSS, int(m * room / big) // MSS * MSS)
    return out


def _filler(n: int, seed: int) -> bytes:
    pat = bytes((seed + i) % 251 for i in range(256))
    return (pat * (n // 256 + 1))[:n]


def _sstr(b: bytes) -> bytes:
    return struct.pack("!I", len(b)) + b


def _ssh_packet(payload: bytes, size: int) -> bytes | None:
    pad = size - 5 - len(payload)
    if not 4 <= pad <= 255:
        return None
    return struct.pack("!IB", size - 4, pad) + payload + bytes(pad)


def _ssh_kex(fwd: bool, index: int, size: int) -> bytes | None:
    """Well-formed cleartext SSH key exchange packets (KEXINIT, ECDH init/reply, NEWKEYS)
    of exactly ``size`` bytes, so tshark dissects them without complaint; None if the size
    cannot hold one (the caller then sends opaque bytes)."""
    if index == 1:  # KEXINIT: the client->server cipher list absorbs the size
        lists = [b"curve25519-sha256", b"ssh-ed25519,rsa-sha2-256", b"", b"aes128-ctr",
                 b"hmac-sha2-256", b"hmac-sha2-256", b"none", b"none", b"", b""]
        fixed = 1 + 16 + sum(4 + len(x) for x in lists) + 1 + 4 + 8
        room = size - 5 - fixed
        if room < 0:
            return None
        lists[2] = (b"aes256-ctr," * (room // 11 + 1))[:room].rstrip(b",").ljust(room, b"x")
        body = bytes([20]) + bytes(range(16)) + b"".join(_sstr(x) for x in lists) + b"\x00" + bytes(4)
        return _ssh_packet(body, size)
    if index == 2 and fwd:  # SSH_MSG_KEX_ECDH_INIT
        return _ssh_packet(bytes([30]) + _sstr(bytes(range(32))), size)
    if index == 2:  # SSH_MSG_KEX_ECDH_REPLY with an RSA host key sized to fit
        modulus = size - 5 - 8 - 339
        if modulus < 64:
            return None
        ks = _sstr(b"ssh-rsa") + _sstr(b"\x01\x00\x01") + _sstr(b"\x00" + b"\xc3" * (modulus - 1))
        sig = _sstr(_sstr(b"rsa-sha2-256") + _sstr(b"\x5a" * 256))
        return _ssh_packet(bytes([31]) + _sstr(ks) + _sstr(bytes(range(32))) + sig, size)
    if index == 3:  # NEWKEYS
        return _ssh_packet(bytes([21]), size)
    return None


def _app_payload(c: Conversation, fwd: bool, index: int, size: int) -> bytes:
    """Bytes of one application message of exactly ``size`` bytes."""
    if c.app == "http" and index == 0:
        if fwd:
            return http_request(c.http_method, c.http_host, c.http_url, c.http_form)
        head = http_response_head(c.http_status, c.http_body_len)
        body = (b"<html><body>" + b"x" * c.http_body_len)[:c.http_body_len]
        return head + body
    if c.app == "tls":
        out = b""
        left = size
        while left > 0:
            n = min(16384, left - 5) if left > 5 else 0
            if n <= 0:
                out += b"\x00" * left  # never happens for real sizes (>= 51)
                break
            out += b"\x17\x03\x03" + struct.pack("!H", n) + _filler(n, index)
            left -= n + 5
        return out
    if c.app == "ssh":
        if index == 0:
            return _SSH_BANNERS[0 if fwd else 1][:size].ljust(size, b"\n")
        kex = _ssh_kex(fwd, index, size)
        if kex is not None:
            return kex
        # after NEWKEYS everything is encrypted: opaque bytes
    if c.app == "ntp":
        return (b"\x23" if fwd else b"\x24") + bytes(size - 1)
    return _filler(size, index)


def _tcp(c: Conversation, rng: random.Random, budget: int) -> list[tuple[bool, int, bytes]]:
    """(forward?, flags, payload) of a complete session, in order."""
    fmsgs = _capped(c.fwd_msgs, budget)
    rmsgs = _capped(c.rev_msgs, budget)
    # a payload whose size differs from the model is only possible for capped messages
    pkts: list[tuple[bool, int, bytes]] = [(True, SYN, b""), (False, SYN | ACK, b""), (True, ACK, b"")]
    unacked = {True: 0, False: 0}  # data segments received by each side and not yet acked

    def send(fwd: bool, idx: int, size: int) -> None:
        data = _app_payload(c, fwd, idx, size)
        for off in range(0, len(data), MSS):
            seg = data[off:off + MSS]
            last = off + MSS >= len(data)
            pkts.append((fwd, ACK | (PSH if last else 0), seg))
            unacked[not fwd] += 1
            if unacked[not fwd] == 2:
                pkts.append((not fwd, ACK, b""))
                unacked[not fwd] = 0

    for i in range(max(len(fmsgs), len(rmsgs))):
        if i < len(fmsgs) and fmsgs[i] > 0:
            send(True, i, fmsgs[i])
        if i < len(rmsgs) and rmsgs[i] > 0:
            send(False, i, rmsgs[i])
    closer = not c.server_closes  # True: the client (forward side) closes
    pkts += [(closer, FIN | ACK, b""), (not closer, FIN | ACK, b""), (closer, ACK, b"")]
    return pkts


def conversation_packets(c: Conversation, seed: int, budget: int = 64) -> Iterator[tuple[int, Any]]:
    """(time in microseconds, scapy packet) of one conversation."""
    from scapy.layers.inet import IP, TCP, UDP, fragment
    from scapy.layers.l2 import Ether
    from scapy.packet import Raw

    rng = random.Random(seed)
    cmac, smac = _mac(c.client), _mac(c.server)
    c_ttl, s_ttl = (64 if c.client.startswith("10.") else 52), (64 if c.server.startswith("10.") else 52)
    ipid = {True: rng.randrange(65536), False: rng.randrange(65536)}

    def ip(fwd: bool, l4: Any) -> Any:
        # add_payload links layers without the deep copy ``/`` makes (3x faster)
        ipid[fwd] = (ipid[fwd] + 1) & 0xFFFF
        if fwd:
            eth, ipl = Ether(src=cmac, dst=smac), IP(src=c.client, dst=c.server, ttl=c_ttl, id=ipid[fwd])
        else:
            eth, ipl = Ether(src=smac, dst=cmac), IP(src=c.server, dst=c.client, ttl=s_ttl, id=ipid[fwd])
        ipl.add_payload(l4)
        eth.add_payload(ipl)
        return eth

    t0, t1 = c.start_ms * 1000, c.end_ms * 1000
    if c.proto == 6:
        if c.kind == "tcp":
            plan = _tcp(c, rng, budget)
        elif c.kind == "syn":
            plan = [(True, SYN, b"")] * c.fwd_packets
        elif c.kind == "syn-rst":
            plan = [(True, SYN, b""), (False, RST | ACK, b"")]
        elif c.kind == "syn-synack":
            plan = [(True, SYN, b""), (False, SYN | ACK, b""), (True, RST, b"")]
        else:  # syn-half
            plan = [(True, SYN, b"")] + [(False, SYN | ACK, b"")] * c.rev_packets
        seq = {True: rng.getrandbits(32), False: rng.getrandbits(32)}
        win = {True: 64240, False: 65160}
        n = len(plan)
        for k, (fwd, flags, data) in enumerate(plan):
            t = t0 + ((t1 - t0) * k // (n - 1) if n > 1 else 0)
            ack = seq[not fwd] if flags & ACK else 0
            if c.kind == "syn-rst" and not fwd:
                ack = (seq[True] + 1) & 0xFFFFFFFF
            sp, dp = (c.sport, c.dport) if fwd else (c.dport, c.sport)
            tcp = TCP(sport=sp, dport=dp, flags=flags, seq=seq[fwd], ack=ack,
                      window=0 if flags & RST else win[fwd])
            if data:
                tcp.add_payload(Raw(data))
            pkt = ip(fwd, tcp)
            seq[fwd] = (seq[fwd] + len(data) + (1 if flags & (SYN | FIN) else 0)) & 0xFFFFFFFF
            yield t, pkt
        return
    if c.proto == 1:
        from scapy.layers.inet import ICMP

        ident = rng.randrange(65536)
        n = min(len(c.fwd_msgs), budget)  # floods are shortened like big transfers
        step = c.icmp_interval_ms * 1000
        for i in range(n):
            base = t0 + i * step
            for fwd, msgs in ((True, c.fwd_msgs), (False, c.rev_msgs)):
                if i < len(msgs):
                    icmp = ICMP(type=8 if fwd else 0, id=ident, seq=i + 1)
                    icmp.add_payload(Raw(_filler(msgs[i], 16)))
                    rtt = (t1 - t0) - (len(c.fwd_msgs) - 1) * step  # the end is the last reply
                    yield (base if fwd else base + max(0, rtt)), ip(fwd, icmp)
        return
    # UDP: datagrams alternate query/answer; spacing spreads them over the conversation.
    # Floods are shortened like big TCP transfers: at most ``budget`` datagrams each way.
    txid = rng.randrange(65536)
    exch = min(budget, max(len(c.fwd_msgs), len(c.rev_msgs))) if c.kind != "dns" else \
        max(len(c.fwd_msgs), len(c.rev_msgs))
    for i in range(exch):
        base = t0 + ((t1 - t0) * i // exch if exch > 1 else 0)
        for fwd, msgs in ((True, c.fwd_msgs), (False, c.rev_msgs)):
            if i >= len(msgs):
                continue
            if c.kind == "dns":
                payload = (dns_message((txid + i) & 0xFFFF, c.dns_name, c.dns_qtype) if fwd else
                           dns_message((txid + i) & 0xFFFF, c.dns_name, c.dns_qtype,
                                       dns_answers(c.dns_answers, c.dns_txt), response=True))
            else:
                payload = _app_payload(c, fwd, i, msgs[i])
            sp, dp = (c.sport, c.dport) if fwd else (c.dport, c.sport)
            udp = UDP(sport=sp, dport=dp)
            udp.add_payload(Raw(payload))
            pkt = ip(fwd, udp)
            t = base if fwd else min(t1, base + max(1000, (t1 - t0) // max(1, 2 * exch)))
            if len(payload) > 1472:
                for frag in fragment(pkt[IP], fragsize=1480):  # type: ignore[no-untyped-call]
                    yield t, Ether(src=pkt[Ether].src, dst=pkt[Ether].dst) / frag
            else:
                yield t, pkt


def write_pcap(scenario: Scenario, path: str, max_segments: int = 64) -> int:
    """Write the scenario's packets in time order to ``path``; returns the packet count."""
    from scapy.utils import PcapWriter

    packets: list[tuple[int, int, Any]] = []
    for i, c in enumerate(scenario.conversations):
        for k, (t, pkt) in enumerate(conversation_packets(c, scenario.seed * 1_000_003 + i, max_segments)):
            packets.append((t, i * 100_000 + k, pkt))
    packets.sort(key=lambda p: (p[0], p[1]))
    w = PcapWriter(path, linktype=1, sync=False)
    try:
        for t, _k, pkt in packets:
            pkt.time = Decimal(t) / 1_000_000
            w.write(pkt)
    finally:
        w.close()
    return len(packets)
