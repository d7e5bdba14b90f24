"""The block path of the flow meter (numpy, per connection) against the per-packet path.

Both meter every capture in ``../shared/data/traces`` with several settings; the FlowBatches
taken after every chunk, the malformed packets (index and reason) and every counter must be
identical. The settings push the block path into its fallbacks: short timeouts (records ending
inside a block), a table small enough to evict, small chunks, uniflow, no TCP end.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from flowcep_plugin.inputs.capfile import Block, CaptureError, read_blocks, read_frames
from flowcep_plugin.inputs.flowmeter import FAST_LINKTYPES, FlowMeter

SETTINGS: dict[str, dict[str, Any]] = {
    "default": {},
    "uniflow": {"biflow": False},
    "short": {"inactive_timeout": 1.0, "active_timeout": 5.0, "close_linger": 2.0},
    "evict": {"max_flows": 50},
    "no-tcp-end": {"tcp_end": False, "http": False},
    "linger0": {"close_linger": 0.0},
}
CHUNKS = {"default": 8192, "uniflow": 8192, "short": 500, "evict": 300, "no-tcp-end": 2000, "linger0": 8192}


def _traces(shared: Path) -> list[Path]:
    return sorted(p for p in (shared / "data" / "traces").glob("*.pcap*"))


def _counters(m: FlowMeter) -> tuple[int, ...]:
    return (m.packets, m.non_ip, m.forced, m.fragments_attributed, m.fragments_orphaned,
            m.fragment_entries_evicted, m.fragments_held_evicted, len(m.flows), m.pending)


def _run(path: Path, settings: dict[str, Any], chunk: int, blocks: bool) -> list[Any]:
    meter = FlowMeter(**settings)
    out: list[Any] = []
    reader = read_blocks if blocks else read_frames
    try:
        for linktype, packets in reader(str(path), None, chunk):
            if linktype not in FAST_LINKTYPES:
                continue  # dissected by scapy in pcap.py; none of the traces has one
            if blocks:
                assert isinstance(packets, Block)
                bad = meter.process_block(packets, linktype)
            else:
                assert isinstance(packets, list)
                bad = meter.process(packets, linktype)
            out.append(("bad", bad))
            out.extend(("batch", b.columns, b.length) for b in meter.take_batches())
            out.append(("counters", _counters(meter)))
    except CaptureError as e:
        out.append(("error", str(e)))
    meter.flush()
    out.extend(("batch", b.columns, b.length) for b in meter.take_batches())
    out.append(("counters", _counters(meter)))
    return out


@pytest.mark.parametrize("setting", sorted(SETTINGS))
def test_block_path_equals_per_packet_path_on_every_trace(setting: str, shared: Path) -> None:
    traces = _traces(shared)
    if not traces:
        pytest.skip("no traces in ../shared/data/traces")
    records = 0
    for path in traces:
        ref = _run(path, SETTINGS[setting], CHUNKS[setting], blocks=False)
        new = _run(path, SETTINGS[setting], CHUNKS[setting], blocks=True)
        assert len(new) == len(ref), path.name
        for i, (a, b) in enumerate(zip(ref, new, strict=True)):
            assert a == b, f"{path.name} ({setting}): item {i} differs"
        records += sum(item[2] for item in ref if item[0] == "batch")
    assert records > 1000  # the comparison covered real records


# -- synthetic traffic aimed at the block path's edges ---------------------------------------

def _eth(payload: bytes, ethertype: int = 0x0800, vlan: bool = False) -> bytes:
    head = b"\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01"
    if vlan:
        head += b"\x81\x00\x00\x07"
    return head + ethertype.to_bytes(2, "big") + payload


def _ipv4(src: bytes, dst: bytes, proto: int, l4: bytes, options: bytes = b"") -> bytes:
    import struct

    ihl = 5 + len(options) // 4
    return struct.pack("!BBHHHBBH4s4s", 0x40 | ihl, 0, ihl * 4 + len(l4), 1, 0, 64, proto, 0, src, dst) + options + l4


def _ipv6(src: bytes, dst: bytes, proto: int, l4: bytes, hop_by_hop: bool = False) -> bytes:
    import struct

    if hop_by_hop:
        l4 = bytes([proto, 0]) + b"\x00" * 6 + l4
        proto = 0
    return struct.pack("!IHBB16s16s", 6 << 28, len(l4), proto, 64, src, dst) + l4


def _tcp(sport: int, dport: int, flags: int, payload: bytes = b"") -> bytes:
    import struct

    return struct.pack("!HHIIBBHHH", sport, dport, 1, 1, 5 << 4, flags, 65535, 0, 0) + payload


def _udp(sport: int, dport: int, payload: bytes) -> bytes:
    import struct

    return struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload


def _synthetic(seed: int, n: int) -> list[tuple[int, bytes]]:
    """Interleaved connections: HTTP requests at every position from the 1st to the 10th
    packet, SYN retransmissions, port reuse after FIN and RST, late ACKs, idle gaps, answers
    seen first, VLAN tags, IPv4 options, IPv6 with a hop-by-hop header, ICMP, a packet from an
    endpoint to itself, ARP, truncated frames, and time going back now and then."""
    import random

    rnd = random.Random(seed)
    t = 1_700_000_000_000
    out: list[tuple[int, bytes]] = []
    live: list[list[Any]] = []
    req = b"GET /x HTTP/1.1\r\nHost: h.example\r\n\r\n"
    while len(out) < n:
        if len(live) < 40 or rnd.random() < 0.05:
            v6 = rnd.random() < 0.25
            c = bytes([10, 0, rnd.randrange(4), rnd.randrange(1, 60)]) if not v6 else b"\x20\x01" + bytes(13) + bytes([rnd.randrange(1, 30)])
            s = bytes([192, 0, 2, rnd.randrange(1, 6)]) if not v6 else b"\x20\x01" + bytes(13) + bytes([200 + rnd.randrange(4)])
            live.append([c, s, rnd.choice([80, 443, 53, 8080, 40000]), rnd.randrange(1024, 1100), v6,
                         rnd.random() < 0.15, 0, rnd.randrange(1, 11)])
        conn = rnd.choice(live)
        c, s, port, cport, v6, vlan, step, http_at = conn
        kind = rnd.random()
        t += rnd.choice([0, 0, 0, 1, 1, 2]) if rnd.random() < 0.999 else rnd.choice([2500, 6000, 20000])
        ts = t - rnd.choice([0, 0, 0, 50, 3000]) if rnd.random() < 0.05 else t
        forward = rnd.random() < 0.6
        src, dst, sp, dp = (c, s, cport, port) if forward else (s, c, port, cport)
        if port == 53:
            l4, proto = _udp(sp, dp, b"q" * rnd.randrange(0, 40)), 17
        elif kind < 0.03:
            l4, proto = b"\x08\x00\x00\x00" + b"p" * 8, 1 if not v6 else 58
        else:
            step += 1
            flags = 0x10
            if step == 1 or kind < 0.01:
                flags = 0x02  # SYN (and retransmissions)
            elif step == 2:
                flags = 0x12
            elif kind < 0.06:
                flags = 0x11  # FIN
            elif kind < 0.07:
                flags = 0x04  # RST
            payload = req if step == http_at and forward else b""
            l4, proto = _tcp(sp, dp, flags, payload), 6
            if flags & 5 and rnd.random() < 0.3:
                conn[6] = 0  # port reuse: the next packet is a new SYN
                conn[3] = cport if rnd.random() < 0.5 else rnd.randrange(1024, 1100)
            else:
                conn[6] = step
        if v6:
            frame = _eth(_ipv6(src, dst, proto, l4, hop_by_hop=rnd.random() < 0.3), 0x86DD, vlan)
        else:
            frame = _eth(_ipv4(src, dst, proto, l4, b"\x01\x01\x01\x00" if rnd.random() < 0.1 else b""),
                         0x0800, vlan)
        if rnd.random() < 0.01:
            frame = frame[:rnd.randrange(0, len(frame))]  # cut by the snap length or damaged
        if rnd.random() < 0.01:
            frame = _eth(b"\x00\x01\x08\x00\x06\x04" + bytes(22), 0x0806)  # ARP
        if rnd.random() < 0.005:
            frame = _eth(_ipv4(c, c, 6, _tcp(cport, cport, 0x02)))  # from an endpoint to itself
        out.append((ts, frame))
    return out


@pytest.mark.parametrize("setting", ["default", "uniflow", "short", "evict", "linger1"])
@pytest.mark.parametrize("chunk", [700, 4096])
def test_block_path_equals_per_packet_path_on_synthetic_edges(
        setting: str, chunk: int, monkeypatch: pytest.MonkeyPatch) -> None:
    from flowcep_plugin.inputs import flowblock

    used = {"bulk": 0, "one_by_one": 0}
    bulk, one_by_one = flowblock._bulk, flowblock._one_by_one

    def count_bulk(*args: Any) -> bool:
        done = bulk(*args)
        used["bulk"] += done
        return done

    def count_one_by_one(*args: Any) -> None:
        used["one_by_one"] += 1
        one_by_one(*args)

    monkeypatch.setattr(flowblock, "_bulk", count_bulk)
    monkeypatch.setattr(flowblock, "_one_by_one", count_one_by_one)
    packets = _synthetic(3, 20_000)
    # linger1: the close linger shorter than the sweep interval (3.75 s), so gaps inside a
    # stretch can reach it
    settings = {"close_linger": 1.0} if setting == "linger1" else dict(SETTINGS[setting])
    results = []
    for blocks in (False, True):
        meter = FlowMeter(**settings)
        out: list[Any] = []
        for start in range(0, len(packets), chunk):
            part = packets[start:start + chunk]
            bad = meter.process_block(Block.from_frames(part), 1) if blocks else meter.process(part, 1)
            out.append(("bad", bad, _counters(meter)))
            out.extend(("batch", b.length, b.columns) for b in meter.take_batches())
        meter.flush()
        out.extend(("batch", b.length, b.columns) for b in meter.take_batches())
        out.append(("counters", _counters(meter)))
        results.append(out)
    ref, new = results
    assert len(new) == len(ref)
    for i, (a, b) in enumerate(zip(ref, new, strict=True)):
        assert a == b, f"item {i} differs"
    urls = sum(1 for item in ref if item[0] == "batch" and "HTTPRequestURL" in item[2])
    assert urls and any(item[1] for item in ref if item[0] == "bad")  # the edges were there
    if setting != "evict":  # a 50-flow table never leaves room for a bulk stretch
        assert used["bulk"] and used["one_by_one"], used


@pytest.mark.parametrize("linktype", [1, 12, 14, 101, 113, 228, 229, 276, 0, 108])
def test_block_path_equals_per_packet_path_on_short_and_odd_frames(linktype: int) -> None:
    """Empty frames, every prefix of a TCP/IPv4 and a UDP/IPv6 frame (each cut is its own
    malformed reason or a non-IP frame), on every link type the meter strips itself."""
    v4 = _ipv4(b"\x0a\x00\x00\x01", b"\xc0\x00\x02\x01", 6, _tcp(40000, 80, 0x02))
    v6 = _ipv6(b"\x20\x01" + bytes(14), b"\x20\x01" + bytes(13) + b"\x02", 17, _udp(5353, 53, b"q"),
               hop_by_hop=True)
    heads = {1: b"\x02" * 12 + b"\x08\x00", 113: bytes(14) + b"\x08\x00", 276: b"\x08\x00" + bytes(18),
             0: b"\x02\x00\x00\x00", 108: b"\x00\x00\x00\x02"}
    head = heads.get(linktype, b"")
    frames: list[tuple[int, bytes]] = [(0, b""), (0, b"")]
    for ip in (v4, v6):
        frame = head + ip
        frames += [(1000 + i, frame[:i]) for i in range(len(frame) + 1)]
    ref = FlowMeter()
    new = FlowMeter()
    assert new.process_block(Block.from_frames(frames), linktype) == ref.process(frames, linktype)
    assert new.process_block(Block.from_frames(frames[:2]), linktype) == ref.process(frames[:2], linktype)
    ref.flush()
    new.flush()
    assert [b.columns for b in new.take_batches()] == [b.columns for b in ref.take_batches()]
    assert _counters(new) == _counters(ref)
