"""The flow meter's block path: a chunk of packets parsed and metered with numpy.

Why: the per-packet loop in :meth:`FlowMeter._meter` costs about 2 µs a packet in CPython, so
the ``pcap:`` input topped out near 0.3M packets/s. Here the headers of a whole block are read
with numpy gathers over the capture buffer (Ethernet, one VLAN tag, Linux SLL/SLL2, raw IP;
IPv4 with or without options, IPv6 with up to three extension headers; TCP, UDP, SCTP,
UDP-Lite, ICMP), packets are grouped by connection (a sort on a 64-bit hash of the key
columns, checked for collisions), and each group is added to its flow record once: counts and
octets summed, flags OR-ed, times reduced to min and max. Python then runs once per connection
and stretch, not once per packet. The table stays the per-packet meter's (a dict of lists),
so what is left costs per flow. Most connections of a stretch open a record (short flows,
scans): those are made together (:func:`_new_records`: one dict lookup per direction, the
records built from the columns with list comprehensions, their HTTP requests parsed straight
into them), and only connections already in the table, or metered packet by packet, go
through the per-connection loop. The cyclic garbage collector is paused while a block is
metered (:func:`~.flowmeter.gc_paused`): the records hold no cycles, and its passes walked the
whole table. What remains per flow is the Python list and packed key of each record, its visits
by the sweeps while it waits for its timeout, and its row in the output: about 3 µs a flow
(docs/performance.md, "`pcap:` input: the block path").

The result must be the per-packet meter's, record by record (``tests/inputs/test_flowblock.py``
compares both on every capture in ``../shared/data/traces``). So the block is cut where the
per-packet meter sweeps the table (those sweeps are the only points where flows it does not
touch can end), and a stretch between sweeps is metered in bulk only when no record can end
inside a connection's packets there, which is what makes the sums order-free:

* no gap between two packets of a connection reaches the inactive timeout or the close linger,
  and its packets span less than the active timeout (its record's start included);
* no TCP SYN without ACK after a connection's first packet (it would start a new record once
  the connection is closed);
* the key is not the reverse key (a packet from an endpoint to itself);
* the table cannot overflow (``max_flows``) in the stretch, so no eviction happens;
* ``close_linger`` is above 0 (at 0 a FIN/RST ends the record at that packet).

A record ending at a connection's first packet (idle, active, linger, port reuse) is decided
exactly as the per-packet meter does, and what ends is appended to the output in packet order,
new records are inserted into the table in packet order, so expiry, eviction and the output
order stay the same. A connection that breaks a rule is metered packet by packet inside the
stretch (:func:`_one_by_one`); a stretch that could overflow the table, a short stretch
(:data:`MIN_BULK`), a sparse block (fewer than :data:`MIN_BULK` packets per sweep interval:
the parse would be spent for nothing), a block holding an IP fragment, ``close_linger = 0``
and the link types this path does not parse (BSD loopback/null) go through the per-packet
meter unchanged. Frames the numpy parser does not claim (VLAN stacks, IPv6 fragment headers or
long extension chains, anything truncated or malformed) are parsed one by one with
:func:`parse_frame`, so malformed packets are counted with the same reasons.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from .capfile import Block
from .flowmeter import (
    _CLOSED,
    _END,
    _FIN,
    _FLAGS,
    _HOST,
    _HTTP_PREFIXES,
    _HTTP_SCAN_PACKETS,
    _IPV6_EXT,
    _OCTETS,
    _PKTS,
    _RFLAGS,
    _ROCTETS,
    _RPKTS,
    _START,
    _URL,
    _VLAN_TYPES,
    KEY4,
    KEY6,
    LINKTYPE_ETHERNET,
    LINKTYPE_IPV4,
    LINKTYPE_IPV6,
    LINKTYPE_LINUX_SLL,
    LINKTYPE_LINUX_SLL2,
    LINKTYPE_RAW,
    LINKTYPE_RAW_OBSD,
    LINKTYPE_RAW_OLD,
    answers_first,
    gc_paused,
    parse_frame,
    parse_http_request,
    record_ends,
)

if TYPE_CHECKING:
    from .flowmeter import FlowMeter

__all__ = ["meter_block", "BLOCK_LINKTYPES"]

I64 = npt.NDArray[np.int64]
Bools = npt.NDArray[np.bool_]

#: Link types whose headers the numpy parser reads; the per-packet meter takes the others.
BLOCK_LINKTYPES = frozenset({
    LINKTYPE_ETHERNET, LINKTYPE_LINUX_SLL, LINKTYPE_LINUX_SLL2, LINKTYPE_RAW, LINKTYPE_RAW_OLD,
    LINKTYPE_RAW_OBSD, LINKTYPE_IPV4, LINKTYPE_IPV6,
})
_RAW_TYPES = (LINKTYPE_RAW, LINKTYPE_RAW_OLD, LINKTYPE_RAW_OBSD, LINKTYPE_IPV4, LINKTYPE_IPV6)
_VLANS = np.array(sorted(_VLAN_TYPES), np.int64)
_V6_EXT = np.array(sorted(_IPV6_EXT | {44}), np.int64)
_V6_EXT_WALK = np.array(sorted(_IPV6_EXT), np.int64)  # not 44: fragments take the slow path
_HTTP_WORDS = np.array(sorted(int.from_bytes(p, "big") for p in _HTTP_PREFIXES), np.int64)
_ADDR16 = np.arange(16, dtype=np.int64)


class _Columns:
    """Parsed headers of the metered packets of a block (IP, not malformed), in packet order.
    Offsets are absolute positions in the block's buffer."""

    __slots__ = ("index", "ts", "ver", "proto", "sport", "dport", "octets", "flags", "payload",
                 "ip_end", "frame_end", "src_at", "dst_at", "alen")

    def __init__(self, **cols: I64) -> None:
        for name, value in cols.items():
            setattr(self, name, value)

    index: I64
    ts: I64
    ver: I64
    proto: I64
    sport: I64
    dport: I64
    octets: I64
    flags: I64
    payload: I64
    ip_end: I64
    frame_end: I64
    src_at: I64
    dst_at: I64
    alen: I64


def meter_block(meter: FlowMeter, block: Block, linktype: int) -> list[tuple[int, str]]:
    """Meter one block of frames of ``linktype``; return ``(index, reason)`` of malformed ones.
    Same effect on ``meter`` as ``meter.process(block.frames(), linktype)``."""
    if not len(block):
        return []
    # fewer than MIN_BULK packets per sweep interval that has packets: the stretches would be
    # short, so the numpy parse would be spent for nothing
    sparse = len(block) < MIN_BULK * _intervals(block.times // meter.sweep_ms)
    if sparse or linktype not in BLOCK_LINKTYPES or meter.linger_ms <= 0:
        meter._start_floor = None
        return meter._meter(block.frames(), linktype)
    parsed = _parse(block, linktype)
    if parsed is None:  # a fragment: the fragment table needs packet order
        meter._start_floor = None
        return meter._meter(block.frames(), linktype)
    cols, bad, non_ip = parsed
    if len(cols.ts):
        # a floor under the start of every record in the table: records made from this block
        # start no earlier than its earliest packet; the per-packet entry points reset it
        if meter._start_floor is None:
            meter._start_floor = min((st[_START] for st in meter.flows.values()), default=0)
        meter._start_floor = min(meter._start_floor, int(cols.ts.min()))
        with gc_paused():  # records hold no cycles; see gc_paused
            _meter_columns(meter, block, linktype, cols)
    meter.packets += len(block)
    meter.non_ip += non_ip
    return bad


def _intervals(slots: I64) -> int:
    """How many distinct values ``slots`` holds: sweep intervals with packets. Capture time
    rarely goes back, so a count of steps answers without the sort np.unique would do."""
    steps = np.diff(slots)
    if np.any(steps < 0):
        return len(np.unique(slots))
    return 1 + int(np.count_nonzero(steps))


# -- parsing --------------------------------------------------------------------------------


def _parse(block: Block, linktype: int) -> tuple[_Columns, list[tuple[int, str]], int] | None:
    """Headers of every frame; None if one is an IP fragment."""
    buf = block.buf
    # a zero byte stands in for an empty buffer (every frame empty): reads past a frame's end
    # are masked by its length, but numpy cannot take from nothing
    u8 = np.frombuffer(buf or b"\0", np.uint8)
    starts = block.starts
    caps = block.lengths
    n = len(starts)

    def byte(at: I64) -> I64:
        return u8.take(at, mode="clip").astype(np.int64)

    def be16(at: I64) -> I64:
        return (byte(at) << 8) | byte(at + 1)

    # link layer: offset of the IP header, which frames carry IP, which need the slow parser
    if linktype == LINKTYPE_ETHERNET:
        etype = be16(starts + 12)
        off = np.full(n, 14, np.int64)
        vlan = np.isin(etype, _VLANS)
        tagged = vlan & (caps >= 18)
        etype = np.where(tagged, be16(starts + 16), etype)
        off[tagged] = 18
        claim = (caps >= 14) & (~vlan | tagged) & ~np.isin(etype, _VLANS)
        is_ip = (etype == 0x0800) | (etype == 0x86DD)
    elif linktype in (LINKTYPE_LINUX_SLL, LINKTYPE_LINUX_SLL2):
        type_at, head = (14, 16) if linktype == LINKTYPE_LINUX_SLL else (0, 20)
        etype = be16(starts + type_at)
        off = np.full(n, head, np.int64)
        claim = caps >= head
        is_ip = (etype == 0x0800) | (etype == 0x86DD)
    else:
        off = np.zeros(n, np.int64)
        claim = caps >= 1
        nib = byte(starts) >> 4
        is_ip = (nib == 4) | (nib == 6)
    non_ip_mask = claim & ~is_ip
    ip = claim & is_ip

    # IP
    at = starts + off
    b0 = byte(at)
    ver = b0 >> 4
    v4 = ip & (ver == 4) & (caps >= off + 20)
    ihl = (b0 & 15) * 4
    total = be16(at + 2)
    v4 &= (ihl >= 20) & (total >= ihl) & (caps >= off + ihl)
    fragment = be16(at + 6) & 0x3FFF
    if np.any(v4 & (fragment != 0)):
        return None
    v6 = ip & (ver == 6) & (caps >= off + 40)
    next_header = byte(at + 6)
    plen = be16(at + 4)
    l4 = off + np.where(v4, ihl, 40)
    # up to three IPv6 extension headers (hop-by-hop, routing, destination options, AH...);
    # a fragment header, a longer chain or a cut one goes to parse_frame
    for _ in range(3):
        ext = v6 & np.isin(next_header, _V6_EXT_WALK)
        if not np.any(ext):
            break
        v6 &= ~ext | (caps >= l4 + 8)
        ext &= v6
        here = starts + l4
        ext_len = np.where(next_header == 51, (byte(here + 1) + 2) * 4, (byte(here + 1) + 1) * 8)
        l4 = np.where(ext, l4 + ext_len, l4)
        next_header = np.where(ext, byte(here), next_header)
    v6 &= ~np.isin(next_header, _V6_EXT)
    proto = np.where(v4, byte(at + 9), next_header)
    octets = np.where(v4, total, np.where(plen > 0, 40 + plen, caps - off))
    ok = v4 | v6

    # transport
    l4at = starts + l4
    tcp = proto == 6
    udp = (proto == 17) | (proto == 132) | (proto == 136)
    icmp = (proto == 1) | (proto == 58)
    doff = (byte(l4at + 12) >> 4) * 4
    ok &= np.where(tcp, (caps >= l4 + 14) & (doff >= 20),
                   np.where(udp, caps >= l4 + 4, np.where(icmp, caps >= l4 + 2, True)))
    first = be16(l4at)
    second = be16(l4at + 2)
    sport = np.where(tcp | udp, first, 0)
    dport = np.where(tcp | udp, second, np.where(icmp, first, 0))
    flags = np.where(tcp, byte(l4at + 13), 0)
    payload = np.where(tcp, l4at + doff, -1)
    ip_end = at + octets
    v6 &= ok
    src_at = at + np.where(v6, 8, 12)
    alen = np.where(v6, 16, 4)

    # frames the numpy parser did not claim: one by one, exactly as the per-packet meter does
    bad: list[tuple[int, str]] = []
    slow = np.flatnonzero(~(ok | non_ip_mask))
    non_ip = int(np.count_nonzero(non_ip_mask))
    if len(slow):
        got_at: list[int] = []
        values: list[tuple[int, ...]] = []
        for i in slow.tolist():
            s = int(starts[i])
            got = parse_frame(buf[s:s + int(caps[i])], linktype)
            if got is None:
                non_ip += 1
            elif isinstance(got, str):
                bad.append((i, got))
            else:
                v, o, pr, sp, dp, octs, end, fl, pay, frag, _, _, _ = got
                if frag:
                    return None
                got_at.append(i)
                values.append((v, pr, sp, dp, octs, fl, -1 if pay < 0 else s + pay, s + end,
                               s + o + (8 if v == 6 else 12), 16 if v == 6 else 4))
        if got_at:
            where = np.array(got_at, np.int64)
            table = np.array(values, np.int64)
            for c, col in enumerate((ver, proto, sport, dport, octets, flags, payload, ip_end, src_at, alen)):
                col[where] = table[:, c]
            ok[where] = True
    keep = np.flatnonzero(ok)
    return _Columns(
        index=keep, ts=block.times[keep], ver=ver[keep], proto=proto[keep], sport=sport[keep],
        dport=dport[keep], octets=octets[keep], flags=flags[keep], payload=payload[keep],
        ip_end=ip_end[keep], frame_end=(starts + caps)[keep], src_at=src_at[keep],
        dst_at=(src_at + alen)[keep], alen=alen[keep],
    ), bad, non_ip


# -- metering -------------------------------------------------------------------------------


def _meter_columns(meter: FlowMeter, block: Block, linktype: int, cols: _Columns) -> None:
    """Cut the metered packets where the per-packet meter would sweep, meter each stretch."""
    ts = cols.ts
    n = len(ts)
    sweep = meter.sweep_ms
    next_sweep = meter._next_sweep
    pos = 0
    if next_sweep is None:
        next_sweep = int(ts[0]) + sweep
        search = 1
    else:
        search = 0
    ordered = n < 2 or not np.any(ts[1:] < ts[:-1])
    while pos < n:
        # the per-packet meter's sweep points: packets at or past the next sweep, or further
        # than the jump limit behind it (FlowMeter._sweep_point decides what they do)
        behind = next_sweep - sweep - meter.jump_ms
        if ordered and not (search < n and ts[search] < behind):
            # time never goes back in most captures: a binary search finds the sweep
            cut = search + int(np.searchsorted(ts[search:], next_sweep, side="left"))
            if cut >= n:
                cut = -1
        else:
            rest = ts[search:]
            hits = np.flatnonzero((rest >= next_sweep) | (rest < behind))
            cut = search + int(hits[0]) if len(hits) else -1
        stop = cut + 1 if cut >= 0 else n
        meter._next_sweep = next_sweep
        _stretch(meter, block, linktype, cols, pos, stop, sweep_at=cut >= 0)
        next_sweep = meter._next_sweep
        pos = stop
        search = stop


#: Below this many packets a stretch goes through the per-packet meter: numpy's fixed cost
#: per call (some 60 calls a stretch) is more than a short Python loop.
MIN_BULK = 256
#: Below this many packets per connection (on average) a stretch goes through the per-packet
#: meter too. It was 2.5 while the bulk path ran a Python loop per connection; since new
#: connections are made together (:func:`_new_records`) a scan of one packet a connection
#: costs less in bulk (1.06-1.17x on the ddosgrid scan and SYN flood captures), so at 1.0 no
#: stretch is refused for being a scan.
MIN_PER_CONNECTION = 1.0


def _stretch(meter: FlowMeter, block: Block, linktype: int, cols: _Columns, a: int, b: int,
             sweep_at: bool) -> None:
    """Meter packets a..b-1 of ``cols``; the last one triggers a sweep if ``sweep_at``."""
    if b - a < MIN_BULK or not _bulk(meter, block, cols, a, b):
        buf = block.buf
        starts = block.starts[cols.index[a:b]].tolist()
        ends = block.lengths[cols.index[a:b]].tolist()
        frames = [(t, buf[s:s + c]) for t, s, c in zip(cols.ts[a:b].tolist(), starts, ends, strict=True)]
        before = meter.packets
        meter._meter(frames, linktype)  # sweeps at the same packet, sets _next_sweep
        meter.packets = before
        return
    if sweep_at:
        assert meter._next_sweep is not None
        meter._next_sweep = meter._sweep_point(int(cols.ts[b - 1]), meter._next_sweep)


_SERVER_TABLES: dict[frozenset[int], Bools] = {}


def _server_table(meter: FlowMeter) -> Bools:
    """The meter's service ports as a lookup table indexed by port."""
    table = _SERVER_TABLES.get(meter.server_ports)
    if table is None:
        table = np.zeros(65536, np.bool_)
        table[[p for p in meter.server_ports if 0 <= p < 65536]] = True
        if len(_SERVER_TABLES) > 8:
            _SERVER_TABLES.clear()
        _SERVER_TABLES[meter.server_ports] = table
    return table


def _ipv4(u8: npt.NDArray[np.uint8], at: I64) -> npt.NDArray[np.uint64]:
    """IPv4 addresses at ``at`` as 32-bit values (in 64-bit words)."""
    word: npt.NDArray[np.uint64] = (
        (u8.take(at, mode="clip").astype(np.uint64) << np.uint64(24))
        | (u8.take(at + 1, mode="clip").astype(np.uint64) << np.uint64(16))
        | (u8.take(at + 2, mode="clip").astype(np.uint64) << np.uint64(8))
        | u8.take(at + 3, mode="clip").astype(np.uint64))
    return word


def _addresses(u8: npt.NDArray[np.uint8], at: I64, alen: I64) -> npt.NDArray[np.uint64]:
    """Addresses as two 64-bit words (IPv4 in the first 4 bytes, zeros after)."""
    if not np.any(alen != 4):  # IPv4 only: four byte gathers instead of sixteen
        word = np.zeros((len(at), 2), np.uint64)
        word[:, 0] = ((u8.take(at, mode="clip").astype(np.uint64) << np.uint64(56))
                      | (u8.take(at + 1, mode="clip").astype(np.uint64) << np.uint64(48))
                      | (u8.take(at + 2, mode="clip").astype(np.uint64) << np.uint64(40))
                      | (u8.take(at + 3, mode="clip").astype(np.uint64) << np.uint64(32)))
        return word
    idx = at[:, None] + _ADDR16
    raw = np.where(_ADDR16 < alen[:, None], u8.take(idx, mode="clip"), 0).astype(np.uint8)
    return raw.view(">u8").astype(np.uint64)


_MIX = np.array([0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9, 0x85EBCA77C2B2AE63,
                 0x27D4EB2F165667C5, 0xFF51AFD7ED558CCD], np.uint64)


def _hash_rows(keys: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    """A 64-bit hash of each key row (multiply-xor, murmur3's finaliser)."""
    h: npt.NDArray[np.uint64] = np.bitwise_xor.reduce(keys * _MIX[:keys.shape[1]], axis=1)
    h ^= h >> np.uint64(33)
    h *= np.uint64(0xFF51AFD7ED558CCD)
    h ^= h >> np.uint64(33)
    return h


def _bulk(meter: FlowMeter, block: Block, cols: _Columns, a: int, b: int) -> bool:
    """Meter packets a..b-1 by connection if the rules in the module docstring allow; return
    False, having changed nothing, if they do not."""
    flows = meter.flows
    m = b - a
    if len(flows) + m > meter.max_flows:
        return False
    buf = block.buf
    u8 = np.frombuffer(buf, np.uint8)
    ts = cols.ts[a:b]
    ver = cols.ver[a:b]
    proto = cols.proto[a:b]
    sport = cols.sport[a:b]
    dport = cols.dport[a:b]
    flags = cols.flags[a:b]
    alen = cols.alen[a:b]
    biflow = meter.biflow
    same: Bools | None = None
    if not np.any(alen != 4):
        # IPv4 only (most stretches): the key packed in two words, addresses in the first
        src4 = _ipv4(u8, cols.src_at[a:b])
        dst4 = _ipv4(u8, cols.dst_at[a:b])
        if biflow:
            # the source endpoint is the lower one (address, then port)
            lo = (src4 < dst4) | ((src4 == dst4) & (sport <= dport))
            # key == reverse key: the first packet alone is counted as an answer (per packet)
            same = (src4 == dst4) & (sport == dport)
            low = np.where(lo, src4, dst4)
            high = np.where(lo, dst4, src4)
            pa = np.where(lo, sport, dport)
            pb = np.where(lo, dport, sport)
        else:
            lo = np.ones(m, np.bool_)
            low, high, pa, pb = src4, dst4, sport, dport
        keys = np.empty((m, 2), np.uint64)
        keys[:, 0] = (low << np.uint64(32)) | high
        keys[:, 1] = (proto << 32 | pa << 16 | pb).astype(np.uint64)
    else:
        src = _addresses(u8, cols.src_at[a:b], alen)
        dst = _addresses(u8, cols.dst_at[a:b], alen)
        if biflow:
            lo = ((src[:, 0] < dst[:, 0])
                  | ((src[:, 0] == dst[:, 0]) & ((src[:, 1] < dst[:, 1])
                                                 | ((src[:, 1] == dst[:, 1]) & (sport <= dport)))))
            same = (src[:, 0] == dst[:, 0]) & (src[:, 1] == dst[:, 1]) & (sport == dport)
            ea = np.where(lo[:, None], src, dst)
            eb = np.where(lo[:, None], dst, src)
            pa = np.where(lo, sport, dport)
            pb = np.where(lo, dport, sport)
        else:
            lo = np.ones(m, np.bool_)
            ea, eb, pa, pb = src, dst, sport, dport
        keys = np.empty((m, 6), np.uint64)
        keys[:, 0] = (ver << 8 | proto).astype(np.uint64)
        keys[:, 1:3] = ea
        keys[:, 3:5] = eb
        keys[:, 5] = (pa << 16 | pb).astype(np.uint64)
    # group by a 64-bit hash of the key (one integer sort instead of a sort of 48-byte rows),
    # then check that equal hashes hold equal keys: a collision sends the stretch to the
    # per-packet meter rather than merging two connections
    hashes = _hash_rows(keys)
    order = np.argsort(hashes, kind="stable")
    sorted_keys = keys[order]
    change = np.ones(m, np.bool_)
    if m > 1:
        change[1:] = np.any(sorted_keys[1:] != sorted_keys[:-1], axis=1)
    sorted_hash = hashes[order]
    if m > 1 and np.any(change[1:] & (sorted_hash[1:] == sorted_hash[:-1])):
        return False
    offsets = np.flatnonzero(change)
    n_groups = len(offsets)
    if n_groups * MIN_PER_CONNECTION > m:
        return False  # a scan: one or two packets a connection cost less packet by packet
    sorted_group = np.cumsum(change) - 1
    group = np.empty(m, np.int64)
    group[order] = sorted_group
    first = order[offsets]  # stable sort: the earliest packet of each connection
    counts = np.diff(np.append(offsets, m))
    ts_sorted = ts[order]

    # connections whose record could end between their packets here are metered packet by
    # packet (_one_by_one); the others in bulk
    gaps = np.full(m, np.iinfo(np.int64).min, np.int64)
    if m > 1:
        gaps[1:] = np.where(sorted_group[1:] == sorted_group[:-1], np.diff(ts_sorted), gaps[1:])
    max_gap = np.maximum.reduceat(gaps, offsets)
    t_min = np.minimum.reduceat(ts_sorted, offsets)
    t_max = np.maximum.reduceat(ts_sorted, offsets)
    syn = (proto == 6) & (flags & 0x12 == 0x02)
    syn[first] = False
    one_by_one = ((max_gap >= min(meter.inactive_ms, meter.linger_ms))
                  | (t_max - t_min >= meter.active_ms)
                  | np.logical_or.reduceat(syn[order], offsets))
    if same is not None:
        one_by_one |= np.logical_or.reduceat(same[order], offsets)

    # per connection sums, with "A" the direction of its first packet here
    dir_a = lo == lo[first][group]
    a_sorted = dir_a[order]
    cnt_a = np.bincount(group, weights=dir_a, minlength=n_groups).astype(np.int64)
    cnt_b = counts - cnt_a
    octets = cols.octets[a:b]
    oct_all = np.bincount(group, weights=octets, minlength=n_groups).astype(np.int64)
    oct_a = np.bincount(group, weights=np.where(dir_a, octets, 0), minlength=n_groups).astype(np.int64)
    oct_b = oct_all - oct_a
    fl_sorted = flags[order]
    flags_a = np.bitwise_or.reduceat(np.where(a_sorted, fl_sorted, 0), offsets)
    flags_b = np.bitwise_or.reduceat(np.where(a_sorted, 0, fl_sorted), offsets)
    any_fin_a = np.bitwise_or.reduceat(np.where(a_sorted, fl_sorted & 1, 0), offsets)
    any_fin_b = np.bitwise_or.reduceat(np.where(a_sorted, 0, fl_sorted & 1), offsets)

    # direction of a connection's first packet if it opens a record (see "Direction")
    server = _server_table(meter)
    f_flags = flags[first]
    f_proto = proto[first]
    f_sport = sport[first]
    f_dport = dport[first]
    s_in = server[f_sport]
    d_in = server[f_dport]
    flip = np.where(
        f_proto == 6,
        (f_flags & 0x12 == 0x12) | ((f_flags & 0x14 != 0) & (f_flags & 0x02 == 0) & s_in
                                    & (~d_in | (f_sport < f_dport))),
        ((f_proto == 17) | (f_proto == 132) | (f_proto == 136)) & s_in & ~d_in,
    ) & biflow

    # HTTP request candidates: group, position in the group, payload start and end; only
    # within a connection's first _HTTP_SCAN_PACKETS packets here (no record looks further)
    http_g: list[int] = []
    http_items: list[tuple[int, int, int]] = []
    if meter.http:
        pay = cols.payload[a:b]
        cand = (proto == 6) & (pay >= 0) & (cols.frame_end[a:b] >= pay + 4) & (cols.ip_end[a:b] > pay + 3)
        js = np.flatnonzero(cand)
        if len(js):
            at = pay[js]
            word = ((u8.take(at, mode="clip").astype(np.int64) << 24)
                    | (u8.take(at + 1, mode="clip").astype(np.int64) << 16)
                    | (u8.take(at + 2, mode="clip").astype(np.int64) << 8)
                    | u8.take(at + 3, mode="clip").astype(np.int64))
            js = js[np.isin(word, _HTTP_WORDS)]
        if len(js):
            ranks = np.empty(m, np.int64)
            ranks[order] = np.arange(m) - offsets[sorted_group]
            js = js[ranks[js] < _HTTP_SCAN_PACKETS]
            http_g = group[js].tolist()
            ends = np.minimum(cols.ip_end[a:b][js], cols.frame_end[a:b][js])
            http_items = list(zip(ranks[js].tolist(), pay[js].tolist(), ends.tolist(), strict=True))

    # a record already in the table could pass the active timeout inside the stretch: the
    # meter keeps a floor under every start in its table (see meter_block), and the table is
    # scanned only when the floor is too old to rule it out
    active_ms = meter.active_ms
    latest = int(t_max.max())
    floor = meter._start_floor
    if flows and (floor is None or latest - floor >= active_ms):
        oldest = min(st[_START] for st in flows.values())
        if latest - oldest >= active_ms:
            return False
        meter._start_floor = min(oldest, int(cols.ts.min()))

    # per connection, in Python: end the record its first packet ends (as the per-packet meter
    # would), then add the sums. Ended records go out, and new ones enter the table, in packet
    # order (below), which is all that other connections or later sweeps can see of the order.
    inactive_ms = meter.inactive_ms
    linger_ms = meter.linger_ms
    tcp_end = meter.tcp_end
    ended: list[tuple[int, bytes, list[Any], int]] = []
    fresh: list[tuple[int, bytes, list[Any]]] = []
    get = flows.get
    key4 = KEY4.pack
    key6 = KEY6.pack
    f_ver = ver[first]
    f_src_at = cols.src_at[a:b][first]
    f_dst_at = cols.dst_at[a:b][first]
    f_alen = alen[first]
    new = _new_records(meter, buf, one_by_one, first, f_ver, f_proto, f_sport, f_dport, f_src_at,
                       f_dst_at, f_alen, flip, t_min, t_max, cnt_a, cnt_b, oct_a, oct_b, flags_a,
                       flags_b, any_fin_a, any_fin_b)
    new_groups, new_keys, new_records = new
    http_at: dict[int, list[tuple[int, int, int]]] = {}  # candidates of the other groups
    if http_g:
        slot = np.full(n_groups, -1, np.int64)
        slot[new_groups] = np.arange(len(new_groups))
        slots = slot.tolist()
        # in packet order, which is rank order within a connection: the first request wins
        for g, (r, p, e) in zip(http_g, http_items, strict=True):
            k = slots[g]
            if k < 0:
                http_at.setdefault(g, []).append((r, p, e))
                continue
            rec = new_records[k]
            if rec[_URL] is None:
                host, url = parse_http_request(buf[p:e])
                if url is not None:
                    rec[_URL] = url
                    rec[_HOST] = host
    rest = np.ones(n_groups, np.bool_)
    rest[new_groups] = False
    sel = np.flatnonzero(rest)
    singles = one_by_one[sel].tolist()
    for s_i, (g, v, pr, sp, dp, s_at, d_at, ln, t0, fl0, fi, flipped, lo_t, hi_t, ca, cb, oa, ob,
              fa, fb, fin_a, fin_b) in enumerate(zip(
            sel.tolist(), f_ver[sel].tolist(), f_proto[sel].tolist(), f_sport[sel].tolist(),
            f_dport[sel].tolist(), f_src_at[sel].tolist(), f_dst_at[sel].tolist(),
            f_alen[sel].tolist(), ts[first[sel]].tolist(), f_flags[sel].tolist(), first[sel].tolist(),
            flip[sel].tolist(), t_min[sel].tolist(), t_max[sel].tolist(), cnt_a[sel].tolist(),
            cnt_b[sel].tolist(), oct_a[sel].tolist(), oct_b[sel].tolist(), flags_a[sel].tolist(),
            flags_b[sel].tolist(), any_fin_a[sel].tolist(), any_fin_b[sel].tolist(), strict=True)):
        if singles[s_i]:
            rows = (a + order[offsets[g]:offsets[g] + ca + cb]).tolist()
            _one_by_one(meter, buf, cols, rows, ended, fresh)
            continue
        s_addr = buf[s_at:s_at + ln]
        d_addr = buf[d_at:d_at + ln]
        pack = key4 if v == 4 else key6
        key = pack(s_addr, d_addr, sp, dp, pr)
        st = get(key)
        reverse = False
        if st is None and biflow:
            rkey = pack(d_addr, s_addr, dp, sp, pr)
            st = get(rkey)
            if st is not None:
                key = rkey
                reverse = True
        if st is not None:
            why = record_ends(st, t0, fl0, pr, linger_ms, inactive_ms, active_ms)
            if why:
                ended.append((a + fi, key, st, why))
                del flows[key]
                st = None
            else:
                if hi_t > st[_END]:
                    st[_END] = hi_t
                if lo_t < st[_START]:
                    st[_START] = lo_t
        if st is None:  # a new record, made with its sums (most connections in a block)
            if flipped:
                key = pack(d_addr, s_addr, dp, sp, pr)
                st = [lo_t, hi_t, cb, ob, fb, ca, oa, fa, 0, None, None]
                fin_fwd, fin_rev = fin_b, fin_a
            else:
                key = pack(s_addr, d_addr, sp, dp, pr)
                st = [lo_t, hi_t, ca, oa, fa, cb, ob, fb, 0, None, None]
                fin_fwd, fin_rev = fin_a, fin_b
            fresh.append((a + fi, key, st))
            seen = 0
        else:
            seen = st[_PKTS] + st[_RPKTS]
            if reverse:
                st[_PKTS] += cb
                st[_OCTETS] += ob
                st[_FLAGS] |= fb
                st[_RPKTS] += ca
                st[_ROCTETS] += oa
                st[_RFLAGS] |= fa
                fin_fwd, fin_rev = fin_b, fin_a
            else:
                st[_PKTS] += ca
                st[_OCTETS] += oa
                st[_FLAGS] |= fa
                st[_RPKTS] += cb
                st[_ROCTETS] += ob
                st[_RFLAGS] |= fb
                fin_fwd, fin_rev = fin_a, fin_b
        if http_at and g in http_at and st[_URL] is None:
            _http_request(buf, st, seen, http_at[g])
        if pr == 6 and tcp_end and (fa | fb) & 5 and not st[_FIN] & _CLOSED:
            if (fa | fb) & 4 or not biflow:
                st[_FIN] |= _CLOSED
            else:
                st[_FIN] |= (1 if fin_fwd else 0) | (2 if fin_rev else 0)
                if st[_FIN] == 3:
                    st[_FIN] |= _CLOSED
    if ended:
        ended.sort(key=lambda e: e[0])
        meter._held.extend((key, st, why) for _, key, st, why in ended)
    if fresh:
        # records opened by the loop above join the bulk's new ones, all in packet order
        fresh.extend(zip((a + first[new_groups]).tolist(), new_keys, new_records, strict=True))
        fresh.sort(key=lambda e: e[0])
        for _, key, st in fresh:
            flows[key] = st
    elif new_keys:
        flows.update(zip(new_keys, new_records, strict=True))
    return True


def _http_request(buf: bytes, st: list[Any], seen: int, items: list[tuple[int, int, int]]) -> None:
    """Fill a record's HTTP host and URL from the first request among its candidate packets
    ``items`` (rank in the connection's packets here, payload start and end), as the
    per-packet meter would: only within a record's first :data:`_HTTP_SCAN_PACKETS` packets
    (``seen`` came before)."""
    for rank, p, e in items:
        if seen + rank + 1 > _HTTP_SCAN_PACKETS:
            break
        host, url = parse_http_request(buf[p:e])
        if url is not None:
            st[_URL] = url
            st[_HOST] = host
            break


def _new_records(meter: FlowMeter, buf: bytes, one_by_one: Bools, first: I64, f_ver: I64,
                 f_proto: I64, f_sport: I64, f_dport: I64, f_src_at: I64, f_dst_at: I64,
                 f_alen: I64, flip: Bools, t_min: I64, t_max: I64, cnt_a: I64, cnt_b: I64,
                 oct_a: I64, oct_b: I64, flags_a: I64, flags_b: I64, fin_a: I64,
                 fin_b: I64) -> tuple[I64, list[bytes], list[list[Any]]]:
    """The connections of a stretch that open a record (no record for them in the table, in
    either direction) and need no packet-by-packet metering: their records made at once, in
    the order of their first packets. Returns (groups, keys, records).

    Why: in short-flow traffic most connections of a stretch are new, and building their
    records column by column (one dict lookup per direction, then list comprehensions) costs a
    fraction of the general loop, which decides per connection whether a record ends."""
    cand = np.flatnonzero(~one_by_one)
    cand = cand[np.argsort(first[cand], kind="stable")]
    empty: tuple[I64, list[bytes], list[list[Any]]] = (cand[:0], [], [])
    if not len(cand):
        return empty
    v_l = f_ver[cand].tolist()
    pr_l = f_proto[cand].tolist()
    sp_l = f_sport[cand].tolist()
    dp_l = f_dport[cand].tolist()
    s_l = f_src_at[cand].tolist()
    d_l = f_dst_at[cand].tolist()
    v4_only = not np.any(f_alen[cand] != 4)
    if v4_only:
        srcs = [buf[s:s + 4] for s in s_l]
        dsts = [buf[d:d + 4] for d in d_l]
    else:
        ln_l = f_alen[cand].tolist()
        srcs = [buf[s:s + n] for s, n in zip(s_l, ln_l, strict=True)]
        dsts = [buf[d:d + n] for d, n in zip(d_l, ln_l, strict=True)]
    if v4_only:
        keys = list(map(KEY4.pack, srcs, dsts, sp_l, dp_l, pr_l))
    else:
        keys = [(KEY4 if v == 4 else KEY6).pack(s, d, sp, dp, pr)
                for v, s, d, sp, dp, pr in zip(v_l, srcs, dsts, sp_l, dp_l, pr_l, strict=True)]
    get = meter.flows.get
    known = [get(k) is not None for k in keys]
    biflow = meter.biflow
    if biflow:
        if v4_only:
            rkeys = list(map(KEY4.pack, dsts, srcs, dp_l, sp_l, pr_l))
        else:
            rkeys = [(KEY4 if v == 4 else KEY6).pack(d, s, dp, sp, pr)
                     for v, s, d, sp, dp, pr in zip(v_l, srcs, dsts, sp_l, dp_l, pr_l, strict=True)]
        known = [f or get(r) is not None for f, r in zip(known, rkeys, strict=True)]
    if any(known):
        pick = np.flatnonzero(~np.array(known, np.bool_))
        cand = cand[pick]
        picked = pick.tolist()
        keys = [keys[i] for i in picked]
        if biflow:
            rkeys = [rkeys[i] for i in picked]
        if not len(cand):
            return empty
    fl = flip[cand]
    if biflow and np.any(fl):
        keys = [r if f else k for k, r, f in zip(keys, rkeys, fl.tolist(), strict=True)]
    ca = cnt_a[cand]
    cb = cnt_b[cand]
    oa = oct_a[cand]
    ob = oct_b[cand]
    fa = flags_a[cand]
    fb = flags_b[cand]
    # the TCP end state, as the general loop sets it on a new record
    both = fa | fb
    fin_fwd = np.where(fl, fin_b[cand], fin_a[cand])
    fin_rev = np.where(fl, fin_a[cand], fin_b[cand])
    half = fin_fwd | (fin_rev << 1)
    closing = (f_proto[cand] == 6) & ((both & 5) != 0) & meter.tcp_end
    fin = np.where(closing, np.where(((both & 4) != 0) | (not biflow), _CLOSED,
                                     np.where(half == 3, half | _CLOSED, half)), 0)
    # a one-packet record (a scan, a flood) shares one time object for start and end: 32 bytes
    # less a flow, as the per-packet meter's records do
    records = [[lo, lo if lo == hi else hi, p, o, f, rp, ro, rf, e, None, None]
               for lo, hi, p, o, f, rp, ro, rf, e in zip(
        t_min[cand].tolist(), t_max[cand].tolist(), np.where(fl, cb, ca).tolist(),
        np.where(fl, ob, oa).tolist(), np.where(fl, fb, fa).tolist(), np.where(fl, ca, cb).tolist(),
        np.where(fl, oa, ob).tolist(), np.where(fl, fa, fb).tolist(), fin.tolist(), strict=True)]
    return cand, keys, records


def _one_by_one(meter: FlowMeter, buf: bytes, cols: _Columns, rows: list[int],
                ended: list[tuple[int, bytes, list[Any], int]],
                fresh: list[tuple[int, bytes, list[Any]]]) -> None:
    """Meter one connection's packets ``rows`` (indices into ``cols``, in packet order) as the
    per-packet meter does. Records opened here stay out of the table until the stretch ends
    (``fresh``, in packet order, like every record the stretch opens); what ends goes to
    ``ended`` with the index of the packet that ended it."""
    flows = meter.flows
    biflow = meter.biflow
    linger_ms = meter.linger_ms
    inactive_ms = meter.inactive_ms
    active_ms = meter.active_ms
    server = meter.server_ports
    tcp_end = meter.tcp_end
    http = meter.http
    local: dict[bytes, tuple[list[Any], int]] = {}  # opened here: record, packet

    def find(key: bytes) -> tuple[list[Any] | None, bool]:
        got = local.get(key)
        if got is not None:
            return got[0], True
        return flows.get(key), False

    for j in rows:
        ts = int(cols.ts[j])
        v = int(cols.ver[j])
        pr = int(cols.proto[j])
        sp = int(cols.sport[j])
        dp = int(cols.dport[j])
        flags = int(cols.flags[j])
        octets = int(cols.octets[j])
        s_at = int(cols.src_at[j])
        d_at = int(cols.dst_at[j])
        ln = int(cols.alen[j])
        src = buf[s_at:s_at + ln]
        dst = buf[d_at:d_at + ln]
        pack = KEY4.pack if v == 4 else KEY6.pack
        key = pack(src, dst, sp, dp, pr)
        st, here = find(key)
        reverse = False
        if st is None and biflow:
            rkey = pack(dst, src, dp, sp, pr)
            st, here = find(rkey)
            if st is not None:
                key = rkey
                reverse = True
        if st is not None:
            why = record_ends(st, ts, flags, pr, linger_ms, inactive_ms, active_ms)
            if why:
                ended.append((j, key, st, why))
                if here:
                    del local[key]
                else:
                    del flows[key]
                st = None
                if reverse:
                    key = pack(src, dst, sp, dp, pr)
                    reverse = False
        if st is None:
            if biflow and answers_first(pr, flags, sp, dp, server):
                key = pack(dst, src, dp, sp, pr)
                reverse = True
            st = [ts, ts, 0, 0, 0, 0, 0, 0, 0, None, None]
            local[key] = (st, j)
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
        pay = int(cols.payload[j])
        if http and pay >= 0 and st[_URL] is None and st[_PKTS] + st[_RPKTS] <= _HTTP_SCAN_PACKETS:
            end = int(cols.ip_end[j])
            size = int(cols.frame_end[j])
            if end > pay + 3 and buf[pay:min(pay + 4, size)] in _HTTP_PREFIXES:
                host, url = parse_http_request(buf[pay:min(end, size)])
                if url is not None:
                    st[_URL] = url
                    st[_HOST] = host
        if flags & 5 and tcp_end and pr == 6 and not st[_FIN] & _CLOSED:
            if flags & 4 or not biflow:
                closed = True
            else:
                st[_FIN] |= 2 if reverse else 1
                closed = st[_FIN] == 3
            if closed:
                st[_FIN] |= _CLOSED  # close_linger > 0 here (meter_block)
    fresh.extend((j, key, st) for key, (st, j) in local.items())
