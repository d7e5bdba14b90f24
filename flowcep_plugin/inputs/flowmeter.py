"""A flow meter: raw packets in, IPFIX-named flow records out (pure logic, no I/O).

Packets come in batches (a list of ``(timestamp_ms, frame_bytes)``) and the headers are
parsed with plain indexing and ``struct`` rather than scapy dissection: dissecting a packet
with scapy costs ~100 us, slicing its headers ~1 us, and a capture holds millions of them.
Link types other than the common ones are turned into IP packets by the caller (pcap.py uses
scapy for those) and fed through :meth:`FlowMeter.process_ip`.

Flow semantics follow common metering practice (RFC 5470, RFC 7011 element names):

* Key: IP version, source/destination address, ports, protocol, packed into one ``bytes``
  object (:data:`Key`) to keep the table small under a flood. ICMP has no ports: the key
  holds the ICMP type and code (as YAF and softflowd do) and they are reported in
  ``icmpTypeCodeIPv4``/``icmpTypeCodeIPv6`` with both ports 0.
* IP fragments are counted in their datagram's flow (packets, octets and times), so a
  fragmented 3 KB DNS reply counts in full against port 53. Non-first fragments carry no
  transport header: the first fragment (offset 0, more-fragments set) leaves its ports (or
  ICMP type/code) in a table keyed like YAF's fragment table (``yafrag.c``): IP version,
  addresses, protocol and IP identification (IPv4's 16-bit ID, the IPv6 Fragment header's
  32-bit one). Unlike YAF, datagrams are not reassembled: each fragment stays one packet, as
  in a router's NetFlow cache, and nothing is dropped for a missing piece (YAF drops
  incomplete datagrams). An entry lives ``frag_timeout`` (5 s) of packet time from its first
  fragment: a datagram's fragments leave the sender back to back, and Linux's 30 s
  (``ipfrag_time``; YAF also waits 30 s, RFC 791 suggests 15 s) are reassembly bounds for
  slow links, where a datagram is lost if they are too short, whereas a stale entry
  here risks crediting the ports of an old datagram after the 16-bit ID wraps (65,536
  datagrams between one pair of addresses). At most ``max_fragments`` entries are kept (the
  oldest is forgotten first, counted in ``fragment_entries_evicted``). Fragments that arrive
  before their first fragment (reordered, or sent last-first as some stacks do) are held, up to
  ``max_held_fragments`` (oldest given up first, ``fragments_held_evicted``), until the first
  fragment comes or, at the next sweep, ``frag_hold`` (1 s) has passed; those given up are
  counted at their own times in a flow with ports 0, as meters that do not track fragments
  do (softflowd), and in ``fragments_orphaned``; ``fragments_attributed`` counts those
  counted in their datagram's flow. No fragment is ever dropped; the pcap input reports these
  counters in the run's stats. A held fragment also holds back the release of ended flows
  (see below), so the output stays in flow-end order.
* Biflow (default, RFC 5103): one record per connection, oriented initiator -> responder;
  packets the other way are counted in ``reversePacketDeltaCount``,
  ``reverseOctetDeltaCount`` and ``reverseTcpControlBits`` (``tcpControlBits`` holds only the
  initiator's flags). Uniflow (``biflow=False``) gives one record per direction, each with the
  flags its packets carried.
* Direction (biflow). The first packet seen normally makes its sender the initiator, but a
  capture that begins mid-connection, a one-way tap, or a host that receives only answers (the
  spoofed victim of a reflection, a telescope seeing backscatter) shows the responder first.
  Like Zeek (``WantConnection``, ``likely_server_ports``; history ``^``), the record is then
  flipped: its source is the other side, which sent nothing the capture saw, so its forward
  counters are zero and the packet goes to the reverse fields. A first packet is an answer
  when it is a TCP SYN-ACK (RFC 9293: only a responder sends one; Zeek leaves these to its port
  rule because SYN-ACK probes exist, which here become records whose source sent only the RST
  it answered with); a TCP segment with
  ACK or RST but no SYN from a service port to a port that is not one (or, both being service
  ports, from the lower one); a UDP/SCTP/UDP-Lite datagram from a service port to a port that
  is not one. Service ports are the system ports 0-1023 (RFC 6335) and
  :data:`REGISTERED_SERVICE_PORTS`. A SYN without ACK and the FIN/NULL/Xmas probes (no ACK)
  always keep their sender as initiator whatever the ports, so ``nmap -g 53`` is not flipped.
  A record with zero forward packets is therefore never a probe by its source.
* Timeouts, the Cisco IOS NetFlow defaults (also what nfdump/nProbe users expect): inactive
  15 s (a flow silent that long is exported) and active 1800 s (a long flow is exported every
  30 min and continues in a new record). YAF uses 300 s idle; pass ``inactive_timeout`` to
  match another meter.
* TCP end: RST, FIN from both sides (biflow) or a FIN (uniflow) closes the connection, which
  then lingers ``close_linger`` (5 s of packet time after its last packet) so that the last
  ACK, a second RST or a retransmission still joins it instead of becoming a one-packet record
  that no conversation view shows. 5 s is Zeek's ``tcp_close_delay``/``tcp_reset_delay``;
  softflowd keeps closed flows 300 s (``tcp.fin``) and 120 s (``tcp.rst``), YAF closes only
  once both FINs are acknowledged; the short linger keeps records prompt. A SYN without ACK on
  a closed connection's ports is a new connection (port reuse) and starts a new record at once;
  so does any packet after the linger. ``close_linger=0`` ends a connection at its closing
  packet. ``flowEndReason`` says why (RFC 5102: 1 idle, 2 active, 3 end detected, 4 forced end;
  a closed flow still lingering at the end of input is 3).
* Octets are IP-layer bytes from the IP header's length (IPv4 total length, IPv6 40 + payload
  length), so a capture truncated by its snap length still counts the real size.
* HTTP: the first request line and ``Host`` header of a TCP payload that starts with an HTTP
  method fill ``HTTPRequestURL`` and ``HTTPRequestHost`` (the Flowmon/CESNET element names
  FlowCEP's HTTP detectors use on extended IPFIX), once per flow.

Time is packet time only: expiry runs as packets advance the clock (checked on every packet
of the flow and swept over the table every ``sweep_ms`` of packet time). One packet whose
timestamp is far off the capture's time (a damaged record header: 2106 or 1970) must not set
the sweep schedule, or no flow would idle out again and every ended flow would wait for the
end of the file. So a packet more than the jump limit (the inactive timeout plus a sweep
interval) ahead of the next sweep, or behind the last one, moves the schedule only when the
next such packet is no earlier than it (a capture's time really jumped: a quiet link, a pause,
two files joined): a lone outlier is metered in its own flow, which goes out at the end of the
input (the host's clock then counts it ``future``/``too-old``), and is counted in
``time_jumps_ignored``; a followed jump sweeps one packet late (``time_jumps_followed``). The
first packet sets the schedule alone, so a capture that starts with an outlier falls back to
its real time at the second packet after it (a followed jump). ``flush()``
ends every flow (end of file). ``expire(now_ms)`` lets a live capture expire idle flows by
wall clock when no packets come. Ended flows leave the meter in flow-end order (a flow that
idles out is exported a timeout after its end, so later flows ended by FIN wait for it): the
host's reorder buffer then never counts metered flows as late, whatever the timeouts.
"""

from __future__ import annotations

import gc
import socket
import struct
from bisect import bisect_right
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from operator import itemgetter
from typing import TYPE_CHECKING, Any

from ..records import FlowBatch

if TYPE_CHECKING:
    from .capfile import Block

__all__ = [
    "FlowMeter",
    "parse_http_request",
    "DEFAULT_ACTIVE_TIMEOUT",
    "DEFAULT_INACTIVE_TIMEOUT",
    "DEFAULT_FRAG_TIMEOUT",
    "DEFAULT_FRAG_HOLD",
    "DEFAULT_CLOSE_LINGER",
    "DEFAULT_MAX_FLOWS",
    "SERVICE_PORTS",
    "LINKTYPE_ETHERNET",
    "FAST_LINKTYPES",
    "link_offset",
    "END_IDLE",
    "END_ACTIVE",
    "END_DETECTED",
    "END_FORCED",
]

DEFAULT_ACTIVE_TIMEOUT = 1800.0  # seconds, Cisco IOS "ip flow-cache timeout active 30" (minutes)
DEFAULT_INACTIVE_TIMEOUT = 15.0  # seconds, Cisco IOS default inactive timeout
DEFAULT_FRAG_TIMEOUT = 5.0  # seconds a datagram's ports are remembered after its first fragment
DEFAULT_FRAG_HOLD = 1.0  # seconds a fragment seen before its first fragment waits for it
DEFAULT_CLOSE_LINGER = 5.0  # seconds a closed TCP connection waits for late packets (Zeek's delay)
#: Flow table bound. Why this size: it is what keeps a flood of new sources within a memory
#: budget, since each record costs about 310 bytes of RSS (measured: a 1M-source SYN flood,
#: docs/performance.md), so a full table holds the meter near 160 MB, well inside the 400 MB a
#: whole run may take (issue 19); and it is still 60 times softflowd's default (8192), enough for
#: some 33,000 new flows a second under the 15 s inactive timeout. YAF sets no bound and relies
#: on its idle timeout, which a flood defeats. A flow forced out by the bound is not lost: it is
#: exported early with ``flowEndReason`` 4 (forced end), counted in ``forced``, and its later
#: packets start a new record (the flow is split in two).
DEFAULT_MAX_FLOWS = 500_000

#: Registered service ports above 1023 that answer clients (IANA service names registry); with
#: every system port (0-1023, RFC 6335) they decide which side of a connection seen from the
#: middle is the server (see "Direction" in the module docstring). None is in the dynamic
#: range (49152-65535) or Linux's ephemeral range (32768-60999), where clients' ports are.
REGISTERED_SERVICE_PORTS = frozenset({
    1080, 1194, 1433, 1434, 1521, 1701, 1723, 1812, 1813, 1883, 1900, 2049, 2082, 2083, 2181,
    2375, 2376, 2379, 2380, 3128, 3260, 3268, 3269, 3306, 3389, 3478, 3479, 3690, 3702, 4369,
    4500, 4789, 5060, 5061, 5222, 5223, 5228, 5269, 5349, 5353, 5355, 5432, 5631, 5671, 5672,
    5683, 5900, 5938, 5984, 5985, 5986, 6379, 6443, 6660, 6661, 6662, 6663, 6664, 6665, 6666,
    6667, 6668, 6669, 6697, 8000, 8008, 8080, 8081, 8086, 8088, 8443, 8883, 8888, 9000, 9042,
    9092, 9100, 9200, 9300, 9418, 10000, 11211, 27017,
})
SERVICE_PORTS = frozenset(range(1024)) | REGISTERED_SERVICE_PORTS

# flowEndReason values (RFC 5102 / IANA IPFIX registry)
END_IDLE = 1
END_ACTIVE = 2
END_DETECTED = 3
END_FORCED = 4

LINKTYPE_NULL = 0
LINKTYPE_ETHERNET = 1
LINKTYPE_RAW = 101
LINKTYPE_RAW_OLD = 12  # some BSDs wrote DLT_RAW as 12 (14 on OpenBSD)
LINKTYPE_RAW_OBSD = 14
LINKTYPE_LOOP = 108
LINKTYPE_LINUX_SLL = 113
LINKTYPE_IPV4 = 228
LINKTYPE_IPV6 = 229
LINKTYPE_LINUX_SLL2 = 276
#: Link types whose headers this module strips itself; others need the caller's help.
FAST_LINKTYPES = frozenset({
    LINKTYPE_NULL, LINKTYPE_ETHERNET, LINKTYPE_RAW, LINKTYPE_RAW_OLD, LINKTYPE_RAW_OBSD,
    LINKTYPE_LOOP, LINKTYPE_LINUX_SLL, LINKTYPE_IPV4, LINKTYPE_IPV6, LINKTYPE_LINUX_SLL2,
})

_VLAN_TYPES = frozenset({0x8100, 0x88A8, 0x9100})
_IPV6_EXT = frozenset({0, 43, 60, 51, 135, 139, 140})  # hop-by-hop, routing, dest opts, AH, ...
_HTTP_METHODS = frozenset({b"GET", b"POST", b"HEAD", b"PUT", b"DELETE", b"OPTIONS", b"PATCH",
                           b"CONNECT", b"TRACE"})
_HTTP_PREFIXES = frozenset(m[:4] if len(m) >= 4 else m + b" " for m in _HTTP_METHODS)
_HTTP_SCAN_PACKETS = 8  # look for a request only in a flow's first packets
_U16 = struct.Struct("!H")
_BARE_IP = -1  # pseudo link type: packets start at the IP header
_NO_BEHIND = -(1 << 62)  # no sweep schedule yet: no packet is behind it
_PORTS = struct.Struct("!HH")
# version/IHL, total length, identification, flags/fragment, proto, src, dst: one call for all
_IPV4 = struct.Struct("!BxHHHxB2x4s4s")
_TCP = struct.Struct("!HH8xBB")  # ports, data offset, flags
# Ethernet type, then IPv4 (no options) as _IPV4, then ports, TCP data offset and flags
_ETHER_IPV4_L4 = struct.Struct("!12xHBxHHHxB2x4s4sHH8xBB")

# Flow state slots (a list per flow: cheaper than an object with attributes)
_START, _END, _PKTS, _OCTETS, _FLAGS, _RPKTS, _ROCTETS, _RFLAGS, _FIN, _HOST, _URL = range(11)
# _FIN bits: 1 the source sent FIN, 2 the destination did, _CLOSED the connection is over
# (RST, both FINs, or a uniflow's FIN) and the flow only lingers for late packets
_CLOSED = 4
_end_of = itemgetter(_END)


def _held_end(item: tuple[Any, list[Any], int]) -> int:
    """The end time of an ended flow waiting in ``FlowMeter._held`` (its sort key)."""
    end: int = item[1][_END]
    return end

#: A flow's key, packed: source and destination address, source and destination port (ICMP:
#: 0 and type/code), protocol; 13 bytes for IPv4, 37 for IPv6 (the length tells the version).
#: Why packed: the table holds up to ``max_flows`` of them, and one 48-byte object per key
#: costs a quarter of the tuple of six it replaced with its two address objects and port ints
#: (about 200 bytes), which was 40 % of the meter's memory per flow (docs/performance.md).
Key = bytes
KEY4 = struct.Struct("!4s4sHHB")
KEY6 = struct.Struct("!16s16sHHB")
# version, src, dst, proto, IP identification (IPv4: int; IPv6 fragment header: 4 bytes)
FragKey = tuple[int, bytes, bytes, int, int | bytes]


def parse_http_request(payload: bytes) -> tuple[str | None, str | None]:
    """(host, url) from the start of a TCP payload, or (None, None) if it is no request.

    Only the request line and a ``Host`` header in the same segment are read: this is what
    an exporter's HTTP plugin reports, and parsing further would cost without helping
    detectors. The URL is the request target as sent (``/path?q`` or absolute form).
    """
    eol = payload.find(b"\r\n")
    line = payload if eol < 0 else payload[:eol]
    parts = line.split(b" ")
    if len(parts) != 3 or parts[0] not in _HTTP_METHODS or not parts[2].startswith(b"HTTP/"):
        return None, None
    url = parts[1].decode("utf-8", "replace")
    host: str | None = None
    if eol >= 0 and payload.startswith(b"\r\nHost:", eol):
        # the usual first header (curl, browsers, scanners): the first Host header whatever
        # follows, so the same value as the search below, without copying the headers twice
        stop = payload.find(b"\r\n", eol + 7)
        value = payload[eol + 7:stop if stop >= 0 else len(payload)].strip()
        return (value.decode("utf-8", "replace") if value else None), url
    if eol >= 0:
        head_end = payload.find(b"\r\n\r\n", eol)
        headers = payload[eol:head_end if head_end >= 0 else len(payload)]
        pos = headers.lower().find(b"\r\nhost:")
        if pos >= 0:
            start = pos + 7
            stop = headers.find(b"\r\n", start)
            value = headers[start:stop if stop >= 0 else len(headers)].strip()
            if value:
                host = value.decode("utf-8", "replace")
    return host, url




def record_ends(st: list[Any], ts: int, flags: int, proto: int, linger_ms: int, inactive_ms: int,
                active_ms: int) -> int:
    """Why a connection's record ends before a packet at ``ts`` joins it (0: it does not).

    A closed connection lingers for its late ACKs and retransmissions; a new SYN (port reuse)
    or anything after the linger starts a new record. Otherwise the idle and the active
    timeout. The one rule of the per-packet and the block paths."""
    if st[_FIN] & _CLOSED:
        return END_DETECTED if ts - st[_END] >= linger_ms or (flags & 0x12 == 0x02 and proto == 6) else 0
    if ts - st[_END] >= inactive_ms:
        return END_IDLE
    if ts - st[_START] >= active_ms:
        return END_ACTIVE
    return 0


def answers_first(proto: int, flags: int, sport: int, dport: int, server: frozenset[int]) -> bool:
    """Whether the first packet of a connection is its answer (see "Direction"): a TCP SYN-ACK,
    or a FIN/RST without SYN from a server port (to a client port, or to the higher of two
    server ports); a UDP/SCTP/UDP-Lite datagram from a server port to a client port. Its
    record then belongs to the other side, and the packet is counted in the reverse direction.
    Called once per new connection by the per-packet and the block paths alike."""
    if proto == 6:
        return bool(flags & 0x12 == 0x12 or (flags & 0x14 and not flags & 0x02 and sport in server
                                             and (dport not in server or sport < dport)))
    return (proto == 17 or proto == 132 or proto == 136) and sport in server and dport not in server

@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while a block of flow records is made or turned into
    columns. Why: records hold no reference cycles, yet the collector's passes, set off by
    counting allocations, walk every record in the table each time; on short flows they took
    about a fifth of the block path's time. Collection resumes when the block is done (nested
    pauses leave it to the outermost), so nothing is kept from it for longer than a block."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


class FlowMeter:
    """Meters packets into flows; expired flows are collected and taken as FlowBatches.

    Use: ``bad = meter.process(packets, linktype)`` for each chunk of packets (returns the
    chunk indices and reasons of malformed packets), then ``meter.take_batches()``;
    ``meter.flush()`` at end of input ends every flow. Counters for the caller's stats:
    ``packets``, ``non_ip``, ``forced`` and, for IP fragments, ``fragments_attributed``,
    ``fragments_orphaned``, ``fragment_entries_evicted``, ``fragments_held_evicted``.
    """

    def __init__(
        self,
        *,
        biflow: bool = True,
        active_timeout: float = DEFAULT_ACTIVE_TIMEOUT,
        inactive_timeout: float = DEFAULT_INACTIVE_TIMEOUT,
        tcp_end: bool = True,
        http: bool = True,
        max_flows: int = DEFAULT_MAX_FLOWS,
        sweep_ms: int | None = None,
        source: str = "",
        frag_timeout: float = DEFAULT_FRAG_TIMEOUT,
        frag_hold: float = DEFAULT_FRAG_HOLD,
        max_fragments: int = 100_000,
        max_held_fragments: int = 10_000,
        close_linger: float = DEFAULT_CLOSE_LINGER,
        service_ports: frozenset[int] = SERVICE_PORTS,
    ) -> None:
        self.biflow = biflow
        self.linger_ms = int(close_linger * 1000)
        self.server_ports = service_ports
        self.active_ms = int(active_timeout * 1000)
        self.inactive_ms = int(inactive_timeout * 1000)
        self.tcp_end = tcp_end
        self.http = http
        self.max_flows = max_flows
        # Sweeping walks the whole table: every quarter of the shortest timeout (at least 1 s)
        # keeps expiry within 25 % of the timeout; the exported times are exact either way.
        if sweep_ms is None:
            sweep_ms = max(1000, min(self.inactive_ms, self.active_ms) // 4)
        self.sweep_ms = max(1, int(sweep_ms))
        self.source = source
        self.flows: dict[Key, list[Any]] = {}
        # Ended flows wait in _held until no flow still in the table can end earlier, then
        # move to _ready in flow-end order (see release()).
        self._held: list[tuple[Key, list[Any], int]] = []
        self._ready: list[tuple[Key, list[Any], int]] = []
        self._next_sweep: int | None = None
        # no record in the table starts before this (None: unknown); kept by the block path,
        # forgotten by the per-packet entry points (see flowblock)
        self._start_floor: int | None = None
        self.packets = 0
        self.non_ip = 0  # ARP, LLDP...: not flows, not errors
        self.forced = 0  # flows ended early because the table was full
        self._addr_cache: dict[bytes, str] = {}
        # Fragments (see the module docstring). _frag_ports: datagram -> (sport, dport, time
        # of its first fragment), in insertion order, so the oldest entry is the first one.
        # _frag_held: datagram -> [(time, octets)] of fragments seen before their first one.
        self.frag_timeout_ms = int(frag_timeout * 1000)
        self.frag_hold_ms = int(frag_hold * 1000)
        self.max_fragments = max(1, max_fragments)
        self.max_held_fragments = max(0, max_held_fragments)
        self._frag_ports: dict[FragKey, tuple[int, int, int]] = {}
        self._frag_held: dict[FragKey, list[tuple[int, int]]] = {}
        self._frag_held_count = 0
        self.fragments_attributed = 0  # non-first fragments counted in their datagram's flow
        self.fragments_orphaned = 0  # non-first fragments counted with ports 0 (no first fragment)
        self.fragment_entries_evicted = 0  # datagrams forgotten early: the table was full
        self.fragments_held_evicted = 0  # held fragments given up early: the hold was full
        # Time jumps (see the module docstring): a packet this far off the sweep schedule moves
        # it only when the next such packet is no earlier than it (_jump_at).
        self.jump_ms = self.inactive_ms + self.sweep_ms
        self._jump_at: int | None = None
        self.time_jumps_ignored = 0  # lone packets far off the capture's time: schedule kept
        self.time_jumps_followed = 0  # jumps a second packet confirmed: schedule moved

    # -- packets ----------------------------------------------------------------------------
    def process(self, packets: Sequence[tuple[int, bytes]], linktype: int) -> list[tuple[int, str]]:
        """Meter frames of one link type; return ``(index, reason)`` of malformed ones.

        ``linktype`` must be in :data:`FAST_LINKTYPES`.
        """
        if linktype not in FAST_LINKTYPES:
            raise ValueError(f"link type {linktype} is not handled by the fast path")
        self._start_floor = None
        return self._meter(packets, linktype)

    def process_block(self, block: Block, linktype: int) -> list[tuple[int, str]]:
        """:meth:`process` for a :class:`~.capfile.Block`: the same result, with headers parsed
        and flows updated per block with numpy where the rules allow (see :mod:`.flowblock`)."""
        if linktype not in FAST_LINKTYPES:
            raise ValueError(f"link type {linktype} is not handled by the fast path")
        from .flowblock import meter_block

        return meter_block(self, block, linktype)

    def process_ip(self, packets: Sequence[tuple[int, bytes]]) -> list[tuple[int, str]]:
        """Meter packets that start at their IP header (any link type decoded by the caller)."""
        self._start_floor = None
        return self._meter(packets, _BARE_IP)

    def _meter(self, packets: Sequence[tuple[int, bytes]], linktype: int) -> list[tuple[int, str]]:
        """The hot loop: strip the link header, parse IP/transport headers, update flows.

        One loop for everything: a second pass over the packets costs as much as the
        Ethernet parsing it would separate out.
        """
        bad: list[tuple[int, str]] = []
        flows = self.flows
        expired = self._held
        biflow = self.biflow
        active_ms = self.active_ms
        inactive_ms = self.inactive_ms
        tcp_end = self.tcp_end
        http = self.http
        fast = _ETHER_IPV4_L4.unpack_from
        next_sweep = self._next_sweep
        sweep_ms = self.sweep_ms
        behind = _NO_BEHIND if next_sweep is None else next_sweep - sweep_ms - self.jump_ms
        frag_ports = self._frag_ports
        frag_ms = self.frag_timeout_ms
        linger_ms = self.linger_ms
        server = self.server_ports
        ether = linktype == LINKTYPE_ETHERNET
        key4 = KEY4.pack
        key6 = KEY6.pack
        non_ip = 0
        for i, (ts, data) in enumerate(packets):
            size = len(data)
            if ether and size >= 48:
                # Ethernet + IPv4 without options + TCP/UDP, most of any capture: one C call
                etype, b0, total, ident, fragment, proto, src, dst, sport, dport, doff, flags = fast(data, 0)
                fast_ok = (etype == 0x0800 and b0 == 0x45 and total >= 20 and not fragment & 0x3FFF
                           and (proto == 6 and doff >= 0x50 or proto == 17))
            else:
                fast_ok = False
            if fast_ok:
                ver = 4
                fragment = 0
                octets = total
                end = 14 + total
                if proto == 6:
                    payload_at = 34 + (doff >> 4) * 4
                else:
                    flags = 0
                    payload_at = -1
            else:
                parsed = parse_frame(data, linktype)
                if parsed is None:
                    non_ip += 1
                    continue
                if isinstance(parsed, str):
                    bad.append((i, parsed))
                    continue
                ver, _, proto, sport, dport, octets, end, flags, payload_at, fragment, ident, src, dst = parsed

            if fragment:  # part of a fragmented datagram (rare: a method call is fine)
                fkey = (ver, src, dst, proto, ident)
                if fragment & 0x1FFF:
                    known = frag_ports.get(fkey)
                    if known is None or ts - known[2] > frag_ms:
                        self._hold_fragment(fkey, ts, octets)
                        continue
                    sport, dport = known[0], known[1]
                    self.fragments_attributed += 1
                    held = None
                else:
                    held = self._first_fragment(fkey, sport, dport, ts)

            pack = key4 if ver == 4 else key6
            key = pack(src, dst, sport, dport, proto)
            st = flows.get(key)
            reverse = False
            if st is None and biflow:
                rkey = pack(dst, src, dport, sport, proto)
                st = flows.get(rkey)
                if st is not None:
                    key = rkey
                    reverse = True
            if st is not None:
                why = record_ends(st, ts, flags, proto, linger_ms, inactive_ms, active_ms)
                if why:
                    del flows[key]
                    expired.append((key, st, why))
                    st = None
                if st is None and reverse:
                    key = pack(src, dst, sport, dport, proto)
                    reverse = False
            if st is None:
                if biflow and answers_first(proto, flags, sport, dport, server):
                    # the first packet seen is an answer (see "Direction"): the other side
                    # initiated, and this packet is counted in the reverse direction
                    key = pack(dst, src, dport, sport, proto)
                    reverse = True
                st = [ts, ts, 0, 0, 0, 0, 0, 0, 0, None, None]
                flows[key] = st
                if len(flows) > self.max_flows:
                    self._evict()
            elif ts > st[_END]:
                st[_END] = ts
            elif ts < st[_START]:
                st[_START] = ts
            if reverse:
                st[_RPKTS] += 1
                st[_ROCTETS] += octets
                st[_RFLAGS] |= flags
            else:
                st[_PKTS] += 1
                st[_OCTETS] += octets
                st[_FLAGS] |= flags
            if fragment and held:
                self._attribute_held(st, held, reverse)
            if (
                http and payload_at > 0 and end > payload_at + 3 and st[_URL] is None
                and st[_PKTS] + st[_RPKTS] <= _HTTP_SCAN_PACKETS
                and data[payload_at:payload_at + 4] in _HTTP_PREFIXES
            ):
                host, url = parse_http_request(data[payload_at:min(end, size)])
                if url is not None:
                    st[_URL] = url
                    st[_HOST] = host
            if flags & 5 and tcp_end and proto == 6 and not st[_FIN] & _CLOSED:
                if flags & 4 or not biflow:
                    closed = True
                else:
                    st[_FIN] |= 2 if reverse else 1
                    closed = st[_FIN] == 3
                if closed:
                    if linger_ms > 0:
                        st[_FIN] |= _CLOSED
                    else:
                        del flows[key]
                        expired.append((key, st, END_DETECTED))
            if next_sweep is None:
                next_sweep = ts + sweep_ms
                behind = next_sweep - sweep_ms - self.jump_ms
            elif ts >= next_sweep or ts < behind:
                next_sweep = self._sweep_point(ts, next_sweep)
                behind = next_sweep - sweep_ms - self.jump_ms
        self._next_sweep = next_sweep
        self.packets += len(packets)
        self.non_ip += non_ip
        return bad

    def _sweep_point(self, ts: int, next_sweep: int) -> int:
        """A packet at ``ts`` reached the sweep schedule (``ts >= next_sweep``) or lies more
        than the jump limit behind it: sweep, or hold the schedule while the packet may be a
        lone outlier (module docstring). Returns the next sweep time. Both metering paths
        call it at the same packets, so their records stay the same."""
        off = ts > next_sweep + self.jump_ms or ts < next_sweep - self.sweep_ms - self.jump_ms
        if off:
            pending = self._jump_at
            if pending is None or ts < pending:
                if pending is not None:
                    self.time_jumps_ignored += 1  # the one before it was not followed either
                self._jump_at = ts
                return next_sweep
            self.time_jumps_followed += 1
        elif self._jump_at is not None:  # the capture went on at its time: it was an outlier
            self.time_jumps_ignored += 1
        self._jump_at = None
        if ts >= next_sweep:
            self.expire(ts)
        return ts + self.sweep_ms

    # -- fragments (slow path: only fragmented datagrams come here) ---------------------------
    def _first_fragment(self, fkey: FragKey, sport: int, dport: int, ts: int) -> list[tuple[int, int]] | None:
        """Remember a datagram's ports; return the fragments held for it, if any."""
        ports = self._frag_ports
        if fkey in ports:  # IP ID reused: the newer datagram wins, and moves to the end
            del ports[fkey]
        ports[fkey] = (sport, dport, ts)
        if len(ports) > self.max_fragments:
            del ports[next(iter(ports))]
            self.fragment_entries_evicted += 1
        if self._frag_held:
            return self._frag_held.pop(fkey, None)
        return None

    def _attribute_held(self, st: list[Any], held: list[tuple[int, int]], reverse: bool) -> None:
        """Count fragments that came before their first fragment in its flow ``st``."""
        n = len(held)
        first = min(t for t, _ in held)
        last = max(t for t, _ in held)
        if first < st[_START]:
            st[_START] = first
        if last > st[_END]:
            st[_END] = last
        octets = sum(o for _, o in held)
        if reverse:
            st[_RPKTS] += n
            st[_ROCTETS] += octets
        else:
            st[_PKTS] += n
            st[_OCTETS] += octets
        self._frag_held_count -= n
        self.fragments_attributed += n

    def _hold_fragment(self, fkey: FragKey, ts: int, octets: int) -> None:
        """Keep a fragment whose first fragment has not come (yet); bounded, oldest out first."""
        held = self._frag_held
        items = held.get(fkey)
        if items is None:
            held[fkey] = [(ts, octets)]
        else:
            items.append((ts, octets))
        self._frag_held_count += 1
        while self._frag_held_count > self.max_held_fragments and held:
            oldest = next(iter(held))
            given_up = held.pop(oldest)
            self._frag_held_count -= len(given_up)
            self.fragments_held_evicted += len(given_up)
            self._orphans(oldest, given_up)

    def _orphans(self, fkey: FragKey, items: list[tuple[int, int]]) -> None:
        """Count fragments whose first fragment never came in a flow with ports 0 (as a meter
        that does not track fragments would), at their own times."""
        ver, src, dst, proto, _ = fkey
        flows = self.flows
        pack = KEY4.pack if ver == 4 else KEY6.pack
        for ts, octets in items:
            key = pack(src, dst, 0, 0, proto)
            reverse = False
            st = flows.get(key)
            if st is None and self.biflow:
                rkey = pack(dst, src, 0, 0, proto)
                st = flows.get(rkey)
                if st is not None:
                    key = rkey
                    reverse = True
            why = 0 if st is None else self._ended(st, ts)
            if st is not None and why:
                del flows[key]
                self._held.append((key, st, why))
                st = None
                key = pack(src, dst, 0, 0, proto)
                reverse = False
            if st is None:
                st = [ts, ts, 0, 0, 0, 0, 0, 0, 0, None, None]
                flows[key] = st
                if len(flows) > self.max_flows:
                    self._evict()
            elif ts > st[_END]:
                st[_END] = ts
            elif ts < st[_START]:
                st[_START] = ts
            if reverse:
                st[_RPKTS] += 1
                st[_ROCTETS] += octets
            else:
                st[_PKTS] += 1
                st[_OCTETS] += octets
        self.fragments_orphaned += len(items)

    def _expire_fragments(self, now_ms: int, everything: bool = False) -> None:
        """Forget datagrams older than ``frag_timeout``; give up on fragments held longer than
        ``frag_hold`` (counted with ports 0). Both tables are in arrival order."""
        ports = self._frag_ports
        if everything:
            ports.clear()
        elif ports:
            before = now_ms - self.frag_timeout_ms
            old = []
            for k, v in ports.items():
                if v[2] > before:
                    break
                old.append(k)
            for k in old:
                del ports[k]
        held = self._frag_held
        if held:
            before = now_ms - self.frag_hold_ms
            done = []
            for k, items in held.items():
                if not everything and items[0][0] > before:
                    break
                done.append(k)
            for k in done:
                items = held.pop(k)
                self._frag_held_count -= len(items)
                self._orphans(k, items)

    def _ended(self, st: list[Any], ts: int) -> int:
        """Why a flow ends before a packet at ``ts`` (an END_* reason), or 0 if it goes on."""
        if st[_FIN] & _CLOSED:
            return END_DETECTED if ts - st[_END] >= self.linger_ms else 0
        if ts - st[_END] >= self.inactive_ms:
            return END_IDLE
        if ts - st[_START] >= self.active_ms:
            return END_ACTIVE
        return 0

    @property
    def fragments_held(self) -> int:
        """Fragments waiting for their first fragment right now."""
        return self._frag_held_count

    # -- expiry -----------------------------------------------------------------------------
    def expire(self, now_ms: int) -> None:
        """Expire flows idle for the inactive timeout or older than the active timeout, then
        release ended flows that no flow in the table can precede (:meth:`release`)."""
        self._expire_fragments(now_ms)
        idle_before = now_ms - self.inactive_ms
        start_before = now_ms - self.active_ms
        linger_before = now_ms - self.linger_ms
        flows = self.flows
        done = [
            (k, st, END_DETECTED if st[_FIN] & _CLOSED else END_IDLE if st[_END] <= idle_before else END_ACTIVE)
            for k, st in flows.items()
            if (st[_END] <= linger_before if st[_FIN] & _CLOSED
                else st[_END] <= idle_before or st[_START] <= start_before)
        ]
        for k, _, _ in done:
            del flows[k]
        self._held.extend(done)
        self.release()

    def release(self) -> None:
        """Move ended flows to the output in flow-end order.

        A flow still in the table will end no earlier than its last packet so far, so ended
        flows up to the smallest such time can go out sorted, and every later release only
        holds flows that end after them: the meter's output is in event-time order (up to
        the IPv4/IPv6 split of one release) however long the inactive timeout is, which keeps
        the host's reorder buffer from counting flows as late.
        """
        held = self._held  # changed in place: the packet loop holds a reference to it
        if not held:
            return
        flows = self.flows
        horizon: int | None = min(map(_end_of, flows.values())) if flows else None
        if self._frag_held:  # a held fragment may still open a flow at its own time
            first_held = min(t for items in self._frag_held.values() for t, _ in items)
            horizon = first_held if horizon is None else min(horizon, first_held)
        # one stable sort, then the prefix up to the horizon: the same flows in the same order
        # as filtering and then sorting them, in one pass instead of three (what stays held is
        # left sorted, which keeps equal end times in the order they came)
        held.sort(key=_held_end)
        cut = len(held) if horizon is None else bisect_right(held, horizon, key=_held_end)
        self._ready.extend(held[:cut])
        del held[:cut]

    def _evict(self) -> None:
        """Table full: force out the tenth of flows silent the longest (counted in ``forced``),
        and release them at once. Why at once: they are the table's oldest, so they can go out
        now in flow-end order; left for the next sweep, a flood of new sources (one new flow per
        packet) would pile up evicted records for a whole sweep interval (3.75 s of packets),
        beyond ``max_flows``, which is the bound that is meant to hold memory."""
        n = max(1, len(self.flows) // 10)
        oldest = sorted(self.flows.items(), key=lambda kv: kv[1][_END])[:n]
        for k, st in oldest:
            del self.flows[k]
            self._held.append((k, st, END_DETECTED if st[_FIN] & _CLOSED else END_FORCED))
        self.forced += n
        self.release()

    def flush(self) -> None:
        """End of input: held fragments go to their port-0 flows, then every flow ends
        (``flowEndReason`` 4, forced end)."""
        if self._jump_at is not None:  # the last jump was never followed
            self.time_jumps_ignored += 1
            self._jump_at = None
        self._expire_fragments(0, everything=True)
        self._held.extend((k, st, END_DETECTED if st[_FIN] & _CLOSED else END_FORCED)
                          for k, st in self.flows.items())
        self.flows.clear()
        self.release()

    @property
    def pending(self) -> int:
        """Ended flows not yet taken (held for ordering or ready)."""
        return len(self._held) + len(self._ready)

    # -- output -----------------------------------------------------------------------------
    def take_batches(self) -> list[FlowBatch]:
        """Expired flows as FlowBatches: one for IPv4 flows and one for IPv6 flows, so each
        batch has one shape (like the records of one IPFIX template)."""
        if not self._ready:
            return []
        recs = self._ready
        self._ready = []
        v4 = [r for r in recs if len(r[0]) == 13]
        v6 = [r for r in recs if len(r[0]) != 13] if len(v4) != len(recs) else []
        out = []
        with gc_paused():
            for group, ver in ((v4, 4), (v6, 6)):
                if group:
                    out.append(self._columns(group, ver))
        return out

    def _texts(self, raws: Sequence[bytes]) -> list[str]:
        """Addresses as text. Why this shape: in a batch most addresses are either repeated
        (servers, a scanner) or new (clients), so cached ones are looked up with one C-level
        map, and the new ones are converted once each and cached together."""
        cache = self._addr_cache
        texts: list[str | None] = list(map(cache.get, raws))
        if None not in texts:
            return texts  # type: ignore[return-value]
        new = list(dict.fromkeys(a for a, t in zip(raws, texts, strict=True) if t is None))
        if len(new[0]) == 4:  # one IP version per batch
            made = dict(zip(new, map(socket.inet_ntoa, new), strict=True))
        else:
            made = {a: socket.inet_ntoa(a) if len(a) == 4 else socket.inet_ntop(socket.AF_INET6, a)
                    for a in new}
        out = [t if t is not None else made[a] for a, t in zip(raws, texts, strict=True)]
        if len(cache) + len(made) > 100_000:
            cache.clear()
        cache.update(made)
        return out

    def _columns(self, recs: list[tuple[Key, list[Any], int]], ver: int) -> FlowBatch:
        # transposed with zip(*...): a C loop per column instead of a comprehension per column
        keys, sts, reasons = zip(*recs, strict=True)
        # the packed keys of one version joined and unpacked with one C call
        fields = (KEY4 if ver == 4 else KEY6).iter_unpack(b"".join(keys))
        srcs, dsts, sports, dports, protos = zip(*fields, strict=True)
        starts, ends, pkts, octets, flags, rpkts, roctets, rflags, _, hosts, urls = zip(*sts, strict=True)
        suffix = "IPv4" if ver == 4 else "IPv6"
        icmp = 1 if ver == 4 else 58
        has_icmp = icmp in protos
        cols: dict[str, list[Any]] = {
            "flowStartMilliseconds": list(starts),
            "flowEndMilliseconds": list(ends),
            f"source{suffix}Address": self._texts(srcs),
            f"destination{suffix}Address": self._texts(dsts),
            "sourceTransportPort": (
                [0 if p == icmp else sp for sp, p in zip(sports, protos, strict=True)] if has_icmp
                else list(sports)),
            "destinationTransportPort": (
                [0 if p == icmp else dp for dp, p in zip(dports, protos, strict=True)] if has_icmp
                else list(dports)),
            "protocolIdentifier": list(protos),
            "ipVersion": [ver] * len(recs),
            "packetDeltaCount": list(pkts),
            "octetDeltaCount": list(octets),
            "tcpControlBits": list(flags),
        }
        if has_icmp:
            cols[f"icmpTypeCode{suffix}"] = [
                dp if p == icmp else None for dp, p in zip(dports, protos, strict=True)
            ]
        if self.biflow:
            cols["reversePacketDeltaCount"] = list(rpkts)
            cols["reverseOctetDeltaCount"] = list(roctets)
            cols["reverseTcpControlBits"] = list(rflags)
        cols["flowEndReason"] = list(reasons)
        if urls.count(None) != len(urls):
            cols["HTTPRequestHost"] = list(hosts)
            cols["HTTPRequestURL"] = list(urls)
        return FlowBatch(cols, len(recs), self.source)


#: version, IP header offset, protocol, ports, IP octets, end of the IP packet, TCP flags,
#: payload offset (-1: none), fragment bits (MF and offset), IP identification, addresses
Parsed = tuple[int, int, int, int, int, int, int, int, int, int, "int | bytes", bytes, bytes]


def parse_frame(data: bytes, linktype: int) -> Parsed | str | None:
    """Headers of one frame: a :data:`Parsed` tuple, None if it carries no IP (ARP, LLDP...),
    or why it is malformed. The exact per-packet parser behind every path of the meter: the
    block path parses common layouts with numpy and hands it everything else."""
    size = len(data)
    if linktype == LINKTYPE_ETHERNET:
        if size < 14:
            return "truncated Ethernet header"
        etype = (data[12] << 8) | data[13]
        off = 14
        if etype != 0x0800:
            while etype in _VLAN_TYPES and size >= off + 4:
                etype = (data[off + 2] << 8) | data[off + 3]
                off += 4
            if etype != 0x0800 and etype != 0x86DD:
                return "truncated VLAN tag" if etype in _VLAN_TYPES else None
    elif linktype == _BARE_IP:
        off = 0
    else:
        where = link_offset(linktype, data)
        if where is None:
            return None
        if where < 0:
            return "truncated link-layer header"
        off = where
    if size < off + 20:
        return "truncated IP header"
    b0 = data[off]
    ver = b0 >> 4
    ident: int | bytes = 0
    if ver == 4:
        _, total, ident, fragment, proto, src, dst = _IPV4.unpack_from(data, off)
        ihl = (b0 & 15) * 4
        if ihl < 20 or total < ihl:
            return "bad IPv4 header length"
        if size < off + ihl:
            return "truncated IPv4 options"
        fragment &= 0x3FFF  # more-fragments flag and offset (the DF bit does not matter)
        l4 = off + ihl
        end = off + total
        octets = total
    elif ver == 6:
        if size < off + 40:
            return "truncated IPv6 header"
        plen = (data[off + 4] << 8) | data[off + 5]
        proto = data[off + 6]
        src = data[off + 8:off + 24]
        dst = data[off + 24:off + 40]
        octets = 40 + plen if plen else size - off  # 0: jumbogram, use what we have
        end = off + octets
        l4 = off + 40
        fragment = 0
        while proto in _IPV6_EXT or proto == 44:
            if size < l4 + 8:
                break
            nxt = data[l4]
            if proto == 44:  # fragment header: 8 bytes; same layout as IPv4's MF|offset
                fragment = (data[l4 + 2] << 5) | (data[l4 + 3] >> 3) | ((data[l4 + 3] & 1) << 13)
                ident = data[l4 + 4:l4 + 8]
                l4 += 8
            elif proto == 51:  # AH: length in 4-octet units minus 2
                l4 += (data[l4 + 1] + 2) * 4
            else:
                l4 += (data[l4 + 1] + 1) * 8
            proto = nxt
            if fragment & 0x1FFF:  # later headers are in the first fragment
                break
        if proto in _IPV6_EXT or proto == 44:
            return "truncated IPv6 extension header"
    else:
        return f"bad IP version {ver}"
    flags = 0
    sport = dport = 0
    payload_at = -1
    if fragment and fragment & 0x1FFF:
        pass  # no transport header in non-first fragments: ports come from the fragment table
    elif proto == 6:
        if size < l4 + 14:
            return "truncated TCP header"
        sport, dport, doff, flags = _TCP.unpack_from(data, l4)
        doff = (doff >> 4) * 4
        if doff < 20:
            return "bad TCP data offset"
        payload_at = l4 + doff
    elif proto == 17 or proto == 132 or proto == 136:  # UDP, SCTP, UDP-Lite
        if size < l4 + 4:
            return "truncated UDP header"
        sport, dport = _PORTS.unpack_from(data, l4)
    elif proto == 1 or proto == 58:
        if size < l4 + 2:
            return "truncated ICMP header"
        dport = (data[l4] << 8) | data[l4 + 1]
    return ver, off, proto, sport, dport, octets, end, flags, payload_at, fragment, ident, src, dst


def link_offset(linktype: int, data: bytes) -> int | None:
    """Offset of the IP header in a frame; None if it carries no IP, -1 if truncated."""
    n = len(data)
    if linktype in (LINKTYPE_RAW, LINKTYPE_RAW_OLD, LINKTYPE_RAW_OBSD, LINKTYPE_IPV4, LINKTYPE_IPV6):
        if not n:
            return -1
        return 0 if data[0] >> 4 in (4, 6) else None
    if linktype == LINKTYPE_NULL or linktype == LINKTYPE_LOOP:
        if n < 4:
            return -1
        fam = int.from_bytes(data[:4], "big" if linktype == LINKTYPE_LOOP else "little")
        if linktype == LINKTYPE_NULL and fam > 0xFFFF:  # written on a big-endian host
            fam = int.from_bytes(data[:4], "big")
        return 4 if fam in (2, 24, 28, 30) else None  # AF_INET, AF_INET6 (BSDs differ)
    if linktype == LINKTYPE_LINUX_SLL:
        if n < 16:
            return -1
        etype = _U16.unpack_from(data, 14)[0]
        return 16 if etype in (0x0800, 0x86DD) else None
    if linktype == LINKTYPE_LINUX_SLL2:
        if n < 20:
            return -1
        etype = _U16.unpack_from(data, 0)[0]
        return 20 if etype in (0x0800, 0x86DD) else None
    if linktype == LINKTYPE_ETHERNET:
        if n < 14:
            return -1
        etype = _U16.unpack_from(data, 12)[0]
        off = 14
        while etype in _VLAN_TYPES:
            if n < off + 4:
                return -1
            etype = _U16.unpack_from(data, off + 2)[0]
            off += 4
        return off if etype in (0x0800, 0x86DD) else None
    raise ValueError(f"link type {linktype} is not handled by the fast path")
