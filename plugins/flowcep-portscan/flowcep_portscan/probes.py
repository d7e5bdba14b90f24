"""What one flow record says about its source: a probe, a completed contact, or nothing.

Scan detection stands or falls with this: counting the wrong side of a conversation accuses
the victim. The rules, strongest evidence first:

* A record whose source sent no packets (a biflow oriented initiator -> responder in which only
  the responder spoke, e.g. a capture holding only SYN-ACKs) is nobody's probe.
* TCP with flags (``tcpControlBits``, the OR of the source's packets):

  - SYN without ACK: the source opened a connection that never completed from its side
    (half-open, refused or unanswered): a *failed* contact. A SYN-ACK always carries ACK, so
    a server answering, or a SYN-flood victim's backscatter, is never a probe. (Unless the
    responder sent data or more packets than SYN-ACK retransmissions: then the capture lost
    the initiator's ACKs, and the record is a conversation.)
  - SYN, ACK and RST in at most 3 packets, in a biflow whose responder answered SYN-ACK: a
    connect scan (handshake, then reset without data; Zeek's scan.zeek counts these as
    failed too). Uniflows cannot prove who sent the SYN, so they never qualify.
  - SYN and ACK otherwise: a completed handshake, a *successful* contact.
  - no SYN, no ACK, no RST (FIN, NULL, Xmas, ...): impossible in a real connection (every
    segment after the SYN carries ACK, RFC 9293 3.4); a *flag probe* (nmap -sF/-sN/-sX).
  - a bare RST is always a response to something (RFC 9293 3.5.2), never a probe; ACK
    without SYN is the middle or tail of a connection: neither, except ``ack_probe`` below.
* TCP without flags (exporters that omit ``tcpControlBits``): Elastic's and FlowCEP's packet
  count fallback, a flow of at most ``max_probe_packets`` packets each way is a probe, unless
  it comes *from* a well-known port (< 1024) to an ephemeral one, which is a reply; a larger
  flow is a successful contact.
* UDP from a service port to an ephemeral port is a reply (DNS, NTP, SNMP, SSDP answering a
  client), never a probe.
"""

from __future__ import annotations

__all__ = ["NONE", "SUCCESS", "FAILED", "FLAG", "FIN", "SYN", "RST", "PSH", "ACK", "URG",
           "tcp_outcome", "flag_kind", "udp_is_reply", "ack_probe", "UDP_SERVICE_PORTS", "EPHEMERAL_LOW"]

FIN, SYN, RST, PSH, ACK, URG = 0x01, 0x02, 0x04, 0x08, 0x10, 0x20

NONE, SUCCESS, FAILED, FLAG = 0, 1, 2, 3
#: a responder retransmits an unanswered SYN-ACK this many times (Linux tcp_synack_retries)
MAX_SYNACK_RETRIES = 5

#: UDP services that answer clients from their well-known port (US-CERT TA14-017A's
#: amplifiers among them); a datagram *from* one of these to an ephemeral port is a reply.
UDP_SERVICE_PORTS = frozenset({
    7, 17, 19, 53, 67, 68, 69, 111, 123, 137, 138, 161, 162, 389, 427, 443, 500, 514, 520,
    1194, 1434, 1900, 3074, 3283, 3478, 3702, 4500, 5060, 5061, 5353, 5355, 5683, 10001,
    11211, 27015, 33848, 37810,
})


def tcp_outcome(packets: int, rpackets: int, flags: int, rflags: int, sport: int, dport: int,
                max_probe_packets: int) -> int:
    """Classify one TCP record from its source's point of view (see the module docstring).

    ``flags``/``rflags`` are -1 when the exporter sent none; ``rpackets`` is 0 for uniflows.
    """
    if packets <= 0:
        return NONE
    if flags < 0:
        if sport < 1024 <= dport:
            return NONE
        if packets <= max_probe_packets and rpackets <= max_probe_packets:
            return FAILED
        return SUCCESS
    if flags & ACK:
        if not flags & SYN:
            return NONE
        if (flags & RST and not flags & FIN and packets <= 3 and rflags >= 0
                and rflags & SYN and rflags & ACK):
            return FAILED
        return SUCCESS
    if flags & SYN:
        if rpackets > MAX_SYNACK_RETRIES + 1 or (rflags >= 0 and rflags & PSH):
            return NONE  # the responder sent data: a conversation whose initiator ACKs were lost
        return FAILED
    if flags & RST:
        return NONE
    if dport == 0:  # a fragment or malformed header, not a probe of a port
        return NONE
    return FLAG


#: the lowest port of the dynamic ranges clients take their ports from (Linux 32768, IANA and
#: Windows 49152): a dead connection's client end lives at or above it
EPHEMERAL_LOW = 32768


def ack_probe(packets: int, flags: int, rpackets: int, rflags: int, sport: int, dport: int) -> bool:
    """An ACK-type scan probe (nmap -sA, -sW, -sM): a biflow in which the source sent one or
    two segments, ACK or FIN+ACK without SYN, RST or data flags, and the responder answered
    with RST alone, no more often than it was asked.

    A live connection seen mid-stream (a capture started late, an active-timeout split)
    answers ACK with ACK, so it never qualifies; only a connection one end has forgotten is
    answered by a bare RST (RFC 9293 3.5.2). Its records are the ambiguity: the forgetting
    end's peer sends keepalives or its last ACKs into the void. From the client's side that is
    one (host, service port) per server, never many ports of one host; from the server's side
    it is a service port (< 1024) talking to a client's ephemeral ports (>= EPHEMERAL_LOW),
    both excluded here. Uniflows (``rflags`` -1) cannot show the answer and never qualify.
    """
    if not 0 < packets <= 2 or flags < 0 or rflags < 0:
        return False
    if flags & 0x3F not in (ACK, ACK | FIN) or rflags & 0x3F != RST:
        return False
    return 0 < rpackets <= packets and sport >= 1024 and 0 < dport < EPHEMERAL_LOW


def flag_kind(flags: int) -> str:
    """nmap's name for an ACK-less, SYN-less probe."""
    if flags == 0:
        return "NULL"
    if flags & (FIN | PSH | URG) == FIN | PSH | URG:
        return "Xmas"
    if flags == FIN:
        return "FIN"
    return "odd-flags"


def udp_is_reply(sport: int, dport: int) -> bool:
    """A datagram from a service port to an ephemeral one answers a client."""
    return (sport in UDP_SERVICE_PORTS or sport < 1024) and dport >= 1024 and sport != dport
