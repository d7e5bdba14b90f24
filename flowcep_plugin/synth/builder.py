"""Conversation builders shared by the background and attack generators.

Each method appends one :class:`~flowcep_plugin.synth.model.Conversation` whose counts are
computed from its messages the way the pcap writer will emit them. Every random choice
goes through the builder's ``random.Random`` so a scenario is a pure function of its seed.
"""

from __future__ import annotations

import random
import struct
from collections.abc import Sequence

from .model import (
    ACK,
    FIN,
    PSH,
    RST,
    SYN,
    TCP_HDR,
    UDP_HDR,
    Conversation,
    http_request,
    http_response_head,
    tcp_counts,
)

__all__ = ["Builder", "dns_answers", "dns_message", "dns_name_wire", "udp_packets"]

#: Largest UDP payload carried in one IP packet (1500 - 20 - 8); bigger ones fragment.
_UDP_MAX = 1472
_FRAG_PAYLOAD = 1480


def udp_packets(payload: int) -> tuple[int, int]:
    """(packets, IP bytes) of one UDP datagram with ``payload`` bytes, fragments included."""
    if payload <= _UDP_MAX:
        return 1, UDP_HDR + payload
    nfrag = -(-(payload + 8) // _FRAG_PAYLOAD)
    return nfrag, 20 * nfrag + 8 + payload


def dns_name_wire(name: str) -> bytes:
    out = b""
    for part in name.rstrip(".").split("."):
        out += bytes([len(part)]) + part.encode()
    return out + b"\x00"


_QTYPES = {"A": 1, "NS": 2, "MX": 15, "TXT": 16, "AAAA": 28, "ANY": 255}


def dns_answers(answers: int, txt_size: int) -> list[bytes]:
    """RDATA blobs: one TXT record of ``txt_size`` bytes, else ``answers`` A records."""
    if txt_size:
        return [txt_rdata(txt_size)]
    return [bytes([192, 0, 2, 1 + i % 250]) for i in range(answers)]


def dns_message(txid: int, name: str, qtype: str, answers: Sequence[bytes] = (), response: bool = False,
                rd: bool = True) -> bytes:
    """A DNS message in wire format; ``answers`` are RDATA blobs (A: 4 bytes, TXT: strings).

    Built by hand rather than with scapy's DNS layer so its size is known exactly without
    building packets (the IPFIX output never builds packets) and names use compression
    pointers like real servers.
    """
    qt = _QTYPES[qtype]
    flags = (0x8000 | 0x0080 if response else 0) | (0x0100 if rd else 0)
    head = struct.pack("!HHHHHH", txid, flags, 1, len(answers), 0, 0)
    msg = head + dns_name_wire(name) + struct.pack("!HH", qt, 1)
    for rdata in answers:
        atype = 1 if len(rdata) == 4 and qt != 16 else 16  # A records or TXT strings
        msg += struct.pack("!HHHIH", 0xC00C, atype, 1, 300, len(rdata)) + rdata
    return msg


def txt_rdata(size: int) -> bytes:
    """TXT RDATA of exactly ``size`` bytes (character strings of up to 255 bytes)."""
    out = b""
    while size > 0:
        n = min(255, size - 1)
        out += bytes([n]) + (b"v=spf1 include:_spf.example.net ~all " * 8)[:n]
        size -= n + 1
    return out


class Builder:
    """Collects conversations; ``label`` is stamped on everything added while it is set."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.conversations: list[Conversation] = []
        self.label = -1

    # -- helpers ----------------------------------------------------------------------------
    def eport(self) -> int:
        """An ephemeral source port (Linux default range)."""
        return self.rng.randint(32768, 60999)

    def _add(self, conv: Conversation) -> Conversation:
        conv.label = self.label
        self.conversations.append(conv)
        return conv

    # -- TCP --------------------------------------------------------------------------------
    def tcp(self, t: int, client: str, server: str, dport: int, fwd_msgs: Sequence[int],
            rev_msgs: Sequence[int], duration_ms: int, app: str = "", sport: int | None = None,
            http_method: str = "", http_host: str = "", http_url: str = "",
            server_closes: bool = False) -> Conversation:
        """A complete TCP session carrying ``fwd_msgs`` then ``rev_msgs`` (interleaved)."""
        fp, fb, rp, rb = tcp_counts(fwd_msgs, rev_msgs, server_closes)
        fflags = SYN | ACK | FIN | (PSH if any(fwd_msgs) else 0)
        rflags = SYN | ACK | FIN | (PSH if any(rev_msgs) else 0)
        return self._add(Conversation(
            t, t + max(1, duration_ms), 6, client, server, sport or self.eport(), dport, "tcp",
            fp, fb, rp, rb, fflags, rflags, tuple(fwd_msgs), tuple(rev_msgs), app,
            http_method=http_method, http_host=http_host, http_url=http_url, server_closes=server_closes))

    def http(self, t: int, client: str, server: str, host: str, url: str, status: int = 200,
             body_len: int = 0, duration_ms: int = 200, method: str = "GET", form: str = "",
             dport: int = 80) -> Conversation:
        """One HTTP/1.1 request and response on a fresh connection (Host and URL exported)."""
        req = len(http_request(method, host, url, form))
        resp = len(http_response_head(status, body_len)) + body_len
        conv = self.tcp(t, client, server, dport, [req], [resp], duration_ms, "http",
                        http_method=method, http_host=host, http_url=url, server_closes=True)
        conv.http_form, conv.http_status, conv.http_body_len = form, status, body_len
        return conv

    def tls(self, t: int, client: str, server: str, req: int, resp: int, duration_ms: int,
            dport: int = 443) -> Conversation:
        """A TLS connection: handshake messages, then ``req`` bytes up and ``resp`` down."""
        r = self.rng
        fwd = [517, 126, req]
        rev = [r.randint(2900, 4600), 51, resp]
        return self.tcp(t, client, server, dport, fwd, rev, duration_ms, "tls", server_closes=True)

    def syn(self, t: int, client: str, server: str, dport: int, reply: str = "none",
            sport: int | None = None, tries: int = 1, rtt_ms: int = 2) -> Conversation:
        """A connection attempt: ``reply`` is ``none`` (filtered), ``rst`` (closed port),
        ``synack`` (open port, the client resets: half-open scan) or ``half`` (the server
        answers, the client never completes: SYN flood with spoofed sources)."""
        sp = sport or self.eport()
        end = t + rtt_ms
        if reply == "none":
            return self._add(Conversation(t, t + (tries - 1) * 1000 if tries > 1 else t, 6, client, server,
                                          sp, dport, "syn", tries, TCP_HDR * tries, 0, 0, SYN))
        if reply == "rst":
            return self._add(Conversation(t, end, 6, client, server, sp, dport, "syn-rst",
                                          1, TCP_HDR, 1, TCP_HDR, SYN, RST | ACK))
        if reply == "synack":
            return self._add(Conversation(t, end, 6, client, server, sp, dport, "syn-synack",
                                          2, 2 * TCP_HDR, 1, TCP_HDR, SYN | RST, SYN | ACK))
        if reply == "half":
            return self._add(Conversation(t, t + 1000 * tries, 6, client, server, sp, dport, "syn-half",
                                          1, TCP_HDR, tries, TCP_HDR * tries, SYN, SYN | ACK))
        raise ValueError(f"unknown SYN reply {reply!r}")

    # -- ICMP -------------------------------------------------------------------------------
    def ping(self, t: int, client: str, server: str, count: int = 1, answered: bool = True,
             rtt_ms: int = 2, payload: int = 56, interval_ms: int = 1000) -> Conversation:
        """ICMP echo requests (``count``, ``interval_ms`` apart) and, if ``answered``, the replies."""
        size = 28 + payload  # IP + ICMP headers + payload
        conv = self._add(Conversation(
            t, t + (count - 1) * interval_ms + (rtt_ms if answered else 0), 1, client, server, 0, 0, "icmp-echo",
            count, count * size, count if answered else 0, count * size if answered else 0,
            fwd_msgs=(payload,) * count, rev_msgs=(payload,) * count if answered else ()))
        conv.icmp_type = 8
        conv.icmp_interval_ms = interval_ms
        return conv

    # -- UDP --------------------------------------------------------------------------------
    def udp(self, t: int, client: str, server: str, dport: int, fwd_msgs: Sequence[int],
            rev_msgs: Sequence[int], duration_ms: int, app: str = "", sport: int | None = None) -> Conversation:
        """Datagrams each way (one per message); sizes are UDP payload bytes."""
        fp = fb = rp = rb = 0
        for m in fwd_msgs:
            p, b = udp_packets(m)
            fp, fb = fp + p, fb + b
        for m in rev_msgs:
            p, b = udp_packets(m)
            rp, rb = rp + p, rb + b
        return self._add(Conversation(
            t, t + max(0, duration_ms), 17, client, server, sport or self.eport(), dport, "udp",
            fp, fb, rp, rb, 0, 0, tuple(fwd_msgs), tuple(rev_msgs), app))

    def dns(self, t: int, client: str, server: str, name: str, qtype: str = "A", answers: int = 1,
            rtt_ms: int = 20, sport: int | None = None, txt_size: int = 0, queries_seen: bool = True,
            repeat: int = 1, spacing_ms: int = 0) -> Conversation:
        """DNS query/response(s) on one 5-tuple; ``repeat`` exchanges ``spacing_ms`` apart.

        ``queries_seen=False`` models reflected traffic: the (spoofed) queries never cross
        the observation point, only the responses do."""
        q = len(dns_message(0, name, qtype))
        a = len(dns_message(0, name, qtype, dns_answers(answers, txt_size), response=True))
        fwd = [q] * repeat if queries_seen else []
        conv = self.udp(t, client, server, 53, fwd, [a] * repeat,
                        rtt_ms + (repeat - 1) * spacing_ms, "dns", sport)
        conv.kind = "dns"
        conv.dns_name = name
        conv.dns_qtype = qtype
        conv.dns_answers = answers
        conv.dns_txt = txt_size
        conv.fwd_msgs = (q,) * repeat if queries_seen else ()
        conv.rev_msgs = (a,) * repeat
        return conv
