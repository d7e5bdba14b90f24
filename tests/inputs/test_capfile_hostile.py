"""Hostile pcapng files: blocks shorter than their fixed fields, packet blocks lying about their
length or interface, time stamps no clock can hold. A block whose framing holds is skipped and
counted and the file read on; broken framing ends it with a :class:`CaptureError` naming the
position; never a ``struct.error``/``OverflowError`` that loses every packet of the file."""

from __future__ import annotations

import logging
import struct
from pathlib import Path

import pytest

from flowcep_plugin.addresses import parse_address
from flowcep_plugin.context import Context
from flowcep_plugin.inputs.capfile import (
    LOG_FIRST_SKIPPED,
    MAX_TIME_MS,
    CaptureError,
    Skipped,
    read_blocks,
    read_frames,
)
from flowcep_plugin.inputs.pcap import PcapSource

T_US = 1_700_000_000_000_000


def block(btype: int, body: bytes) -> bytes:
    body += b"\x00" * (-len(body) % 4)
    return struct.pack("<II", btype, len(body) + 12) + body + struct.pack("<I", len(body) + 12)


def udp_frame(sport: int) -> bytes:
    """Ethernet + IPv4 + UDP 10.0.0.1:sport -> 10.0.0.2:53, checksums zero."""
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 28, 0, 0, 64, 17, 0, bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2]))
    return b"\x00\x00\x00\x00\x00\x02\x00\x00\x00\x00\x00\x01\x08\x00" + ip + struct.pack("!HHHH", sport, 53, 8, 0)


SHB = block(0x0A0D0D0A, b"\x4d\x3c\x2b\x1a" + struct.pack("<HHq", 1, 0, -1))


def idb(*options: bytes) -> bytes:
    opts = b"".join(options) + (struct.pack("<HH", 0, 0) if options else b"")
    return block(1, struct.pack("<HHI", 1, 0, 65535) + opts)


def epb(ticks: int, frame: bytes) -> bytes:
    return block(6, struct.pack("<5I", 0, ticks >> 32, ticks & 0xFFFFFFFF, len(frame), len(frame)) + frame)


GOOD = b"".join(epb(T_US + i * 1000, udp_frame(1000 + i)) for i in range(5))


def frames(path: Path) -> list[tuple[int, bytes]]:
    return [f for _lt, chunk in read_frames(str(path)) for f in chunk]


def read_all(path: Path, chunk: int = 8192) -> tuple[list[tuple[int, bytes]], Skipped]:
    skipped = Skipped(str(path))
    got = [f for _lt, part in read_frames(str(path), None, chunk, skipped) for f in part]
    return got, skipped


@pytest.mark.parametrize("btype,length", [(6, 12), (6, 28), (2, 16), (3, 12)])
def test_packet_block_shorter_than_its_fixed_fields_is_skipped(tmp_path: Path, btype: int, length: int) -> None:
    """Its two total lengths agree, so the next block is found: read at the end of the file its
    fields would come from past the buffer (struct.error), in the middle from the next block.
    It is skipped and counted, and the packets after it are read."""
    short = struct.pack("<II", btype, length) + b"\x00" * (length - 12) + struct.pack("<I", length)
    path = tmp_path / "short.pcapng"
    for tail in (b"", GOOD):
        path.write_bytes(SHB + idb() + GOOD + short + tail)
        got, skipped = read_all(path)
        assert len(got) == 5 + len(tail) // len(epb(T_US, udp_frame(1000)))
        assert got[5:] == [(T_US // 1000 + i, udp_frame(1000 + i)) for i in range(5)][:len(got) - 5]
        assert skipped.counts == {"malformed-packet": 1}


@pytest.mark.parametrize("length", [12, 16])
def test_interface_block_shorter_than_its_fields_keeps_its_number(tmp_path: Path, length: int) -> None:
    """A damaged IDB is interface 1 still: interface 0's packets after it are read, and a
    packet naming interface 1 is skipped (its link type cannot be trusted), not read as 0's."""
    short = struct.pack("<II", 1, length) + b"\x00" * (length - 12) + struct.pack("<I", length)
    frame = udp_frame(9)
    on1 = block(6, struct.pack("<5I", 1, T_US >> 32, T_US & 0xFFFFFFFF, len(frame), len(frame)) + frame)
    path = tmp_path / "short_idb.pcapng"
    path.write_bytes(SHB + idb() + GOOD + short + on1 + GOOD)
    got, skipped = read_all(path)
    assert len(got) == 10 and udp_frame(9) not in [f for _t, f in got]
    assert skipped.counts == {"unknown-interface": 1}


@pytest.mark.parametrize("bad,says", [
    (struct.pack("<II", 6, 30) + b"\x00" * 18 + struct.pack("<I", 30), "claims 30 bytes"),  # not a multiple of 4
    (struct.pack("<II", 6, 8), "claims 8 bytes"),  # shorter than a block header and trailer
    (struct.pack("<II", 6, 32) + b"\x00" * 20 + struct.pack("<I", 36), "mismatched lengths"),
    (struct.pack("<II", 6, 64 << 20) + b"\x00" * 20, "claims 67108864 bytes"),
    (struct.pack("<II", 0x0A0D0D0A, 24) + b"\x4d\x3c\x2b\x1a" + b"\x00" * 8 + struct.pack("<I", 24),
     "block of type 0xa0d0d0a claims 24 bytes"),
    (block(0x0A0D0D0A, b"\x00\x00\x00\x00" + struct.pack("<HHq", 1, 0, -1)), "byte-order magic"),
])
def test_broken_framing_still_ends_the_file_with_its_position(tmp_path: Path, bad: bytes, says: str) -> None:
    """Where the block's own framing is broken there is no trustworthy next block: the packets
    before it are read, then one CaptureError naming the packet count and byte."""
    p = tmp_path / "framing.pcapng"
    p.write_bytes(SHB + idb() + GOOD + bad + GOOD)
    got: list[tuple[int, bytes]] = []
    with pytest.raises(CaptureError) as err:
        for _lt, chunk in read_frames(str(p)):
            got += chunk
    assert len(got) == 5
    at = len(SHB + idb() + GOOD)
    assert says in str(err.value) and f"after packet 5 near byte {at}" in str(err.value), str(err.value)
    assert "\n" not in str(err.value)


def test_interface_option_running_past_its_block_skips_that_interface_only(tmp_path: Path) -> None:
    liar = struct.pack("<HH", 14, 200) + struct.pack("<q", 10)  # if_tsoffset claiming 200 bytes
    frame = udp_frame(9)
    on1 = block(6, struct.pack("<5I", 1, T_US >> 32, T_US & 0xFFFFFFFF, len(frame), len(frame)) + frame)
    path = tmp_path / "opt.pcapng"
    path.write_bytes(SHB + idb() + GOOD + block(1, struct.pack("<HHI", 1, 0, 65535) + liar) + on1 + GOOD)
    got, skipped = read_all(path)
    assert len(got) == 10 and skipped.counts == {"unknown-interface": 1}


@pytest.mark.parametrize("option,ticks,expected", [
    (struct.pack("<HHq", 14, 8, 2**62), T_US, MAX_TIME_MS),  # if_tsoffset far ahead
    (struct.pack("<HHq", 14, 8, -2**62), T_US, 0),  # far behind 1970
    (struct.pack("<HHB3x", 9, 1, 0x80), 2**64 - 1, MAX_TIME_MS),  # 1 s units, the largest tick
])
def test_time_stamps_beyond_any_clock_are_bounded_not_fatal(tmp_path: Path, option: bytes, ticks: int,
                                                            expected: int) -> None:
    """One interface with an absurd offset or resolution must not end the file (an
    OverflowError used to lose every packet, the good interface's too)."""
    frame = udp_frame(7)
    path = tmp_path / "t.pcapng"
    path.write_bytes(SHB + idb() + idb(option) + GOOD
                     + block(6, struct.pack("<5I", 1, ticks >> 32, ticks & 0xFFFFFFFF, len(frame), len(frame)) + frame)
                     + GOOD)
    got = frames(path)
    assert len(got) == 11
    assert got[5] == (expected, frame)
    records = [r for b in PcapSource(parse_address(f"pcap:{path}"), {}, Context()).batches() for r in b.rows()]
    assert sorted({r["sourceTransportPort"] for r in records}) == [7, 1000, 1001, 1002, 1003, 1004]
    assert [r["flowEndMilliseconds"] for r in records if r["sourceTransportPort"] == 7] == [expected]


def _be_block(btype: int, body: bytes) -> bytes:
    body += b"\x00" * (-len(body) % 4)
    return struct.pack(">II", btype, len(body) + 12) + body + struct.pack(">I", len(body) + 12)


def test_second_section_in_the_other_byte_order_is_read_in_its_own(tmp_path: Path) -> None:
    """A little-endian section then a big-endian one (files merged by mergecap from two
    machines): each section's byte-order magic rules its own blocks and interfaces."""
    be = (_be_block(0x0A0D0D0A, b"\x1a\x2b\x3c\x4d" + struct.pack(">HHq", 1, 0, -1))
          + _be_block(1, struct.pack(">HHI", 1, 0, 65535))
          + _be_block(6, struct.pack(">5I", 0, (T_US + 9000) >> 32, (T_US + 9000) & 0xFFFFFFFF, 42, 42)
                      + udp_frame(2000)))
    p = tmp_path / "two_sections.pcapng"
    p.write_bytes(SHB + idb() + GOOD + be)
    got = frames(p)
    assert [t for t, _f in got] == [T_US // 1000 + i for i in range(5)] + [T_US // 1000 + 9]
    assert got[-1][1] == udp_frame(2000)


LIES = {
    "caplen past its block": (
        block(6, struct.pack("<5I", 0, T_US >> 32, T_US & 0xFFFFFFFF, 60000, 60000) + udp_frame(9)),
        "malformed-packet", "packet block claims 60000 bytes, past its own end"),
    "obsolete packet block, caplen past it": (
        block(2, struct.pack("<HH4I", 0, 0, T_US >> 32, T_US & 0xFFFFFFFF, 10_000, 10_000) + udp_frame(9)),
        "malformed-packet", "packet block claims 10000 bytes"),
    "interface no IDB described": (
        block(6, struct.pack("<5I", 7, T_US >> 32, T_US & 0xFFFFFFFF, 42, 42) + udp_frame(9)),
        "unknown-interface", "packet on interface 7, which the file never described"),
}


@pytest.mark.parametrize("name", sorted(LIES))
def test_packet_block_that_lies_is_skipped_and_the_file_read_on(tmp_path: Path, name: str,
                                                                caplog: pytest.LogCaptureFixture) -> None:
    """A packet block whose caplen runs past it, or that names an undescribed interface, while
    its framing (total length, repeated at its end) holds: that block is skipped, counted under
    its reason, logged once with the file and byte, and every packet after it is read."""
    bad, reason, says = LIES[name]
    p = tmp_path / "lies.pcapng"
    p.write_bytes(SHB + idb() + GOOD + bad + GOOD)
    with caplog.at_level(logging.WARNING):
        got, skipped = read_all(p, chunk=3)
    assert [f for _t, f in got] == [udp_frame(1000 + i) for i in range(5)] * 2
    assert skipped.counts == {reason: 1}
    at = len(SHB + idb() + GOOD)
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 1 and f"lies.pcapng: skipped a block after packet 5 at byte {at}: {says}" in lines[0]


def test_simple_packet_block_before_any_interface_is_skipped(tmp_path: Path) -> None:
    frame = udp_frame(9)
    p = tmp_path / "spb.pcapng"
    p.write_bytes(SHB + block(3, struct.pack("<I", len(frame)) + frame) + idb() + GOOD)
    got, skipped = read_all(p)
    assert len(got) == 5 and skipped.counts == {"unknown-interface": 1}


def test_hostile_blocks_are_input_drops_and_flows_after_them_are_metered(tmp_path: Path,
                                                                          caplog: pytest.LogCaptureFixture) -> None:
    """Through the pcap: input: each skipped block is one drop under its reason against the
    source, a flood logs at most LOG_FIRST_SKIPPED lines, and the flows after it are exported."""
    liar = LIES["caplen past its block"][0]
    stranger = LIES["interface no IDB described"][0]
    after = b"".join(epb(T_US + 9000 + i, udp_frame(2000 + i)) for i in range(3))
    p = tmp_path / "flood.pcapng"
    p.write_bytes(SHB + idb() + GOOD + liar * 30 + stranger * 2 + after)
    ctx = Context()
    with caplog.at_level(logging.WARNING):
        records = [r for b in PcapSource(parse_address(f"pcap:{p}?chunk_packets=2"), {}, ctx).batches()
                   for r in b.rows()]
    ports = sorted({r["sourceTransportPort"] for r in records})
    assert ports == [1000, 1001, 1002, 1003, 1004, 2000, 2001, 2002]
    assert ctx.stats.drops["malformed-packet"] == 30 and ctx.stats.drops["unknown-interface"] == 2
    assert ctx.stats.drops_by_source[f"pcap:{p}?chunk_packets=2"]["malformed-packet"] == 30
    assert "pcap corrupt captures" not in ctx.stats.gauges
    skips = [r for r in caplog.records if "skipped a block" in r.getMessage()]
    assert len(skips) == LOG_FIRST_SKIPPED


def test_classic_pcap_record_longer_than_snaplen_is_read_but_a_lying_header_ends(tmp_path: Path) -> None:
    """A classic record header is the only framing: a caplen above the file's snaplen but within
    libpcap's largest (262144) is read whole (writers that ignored their snaplen); one beyond it
    leaves no trustworthy next record and ends the file with its position."""
    frame = udp_frame(5)
    head = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 20, 1)  # snaplen 20

    def rec(i: int, data: bytes, caplen: int | None = None) -> bytes:
        return struct.pack("<IIII", 1_700_000_000 + i, 0, len(data) if caplen is None else caplen, len(data)) + data

    p = tmp_path / "snap.pcap"
    p.write_bytes(head + rec(0, frame) + rec(1, frame))
    assert [f for _t, f in read_all(p)[0]] == [frame, frame]
    p.write_bytes(head + rec(0, frame) + rec(1, frame, 300_000) + rec(2, frame))
    with pytest.raises(CaptureError, match=rf"after packet 1 near byte {24 + 16 + len(frame)}: "
                                           r"record header claims 300000 bytes; input ended there"):
        read_all(p)


def test_caplen_beyond_the_interface_snaplen_is_kept(tmp_path: Path) -> None:
    """An EPB longer than its interface's snaplen (a writer that ignored it): the bytes are in
    the block, so the frame is read whole rather than cut or refused."""
    p = tmp_path / "snap.pcapng"
    p.write_bytes(SHB + block(1, struct.pack("<HHI", 1, 0, 20)) + epb(T_US, udp_frame(7)))
    assert frames(p) == [(T_US // 1000, udp_frame(7))]


@pytest.mark.parametrize("bad_at", [0, 1, 63, 64, 100, 2999])
@pytest.mark.parametrize("chunk", [1, 64, 8192])
@pytest.mark.parametrize("claim", [262_145, 300_000, 0xFFFFFFFF])
def test_classic_pcap_lying_header_anywhere_ends_at_it(tmp_path: Path, bad_at: int, chunk: int, claim: int) -> None:
    """The reader's hot loop does not compare caplens: a lying one sends it up to 4 GiB ahead,
    possibly still inside the buffer, onto more headers read from packet bytes. Wherever the
    lie sits (first record, a chunk boundary, deep in a buffer with 600 KB after it, the last),
    the records before it are yielded, none after, and the error names its packet and byte."""
    frame = udp_frame(5) + b"\xff" * 158  # packet bytes that read as huge caplens too
    head = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)
    recs = [struct.pack("<IIII", 1_700_000_000 + i, 0, len(frame), len(frame)) + frame for i in range(3000)]
    recs[bad_at] = struct.pack("<IIII", 1_700_000_000, 0, claim, len(frame)) + frame
    p = tmp_path / "lie.pcap"
    p.write_bytes(head + b"".join(recs))
    for reader in (read_frames, read_blocks):
        got = 0
        with pytest.raises(CaptureError) as err:
            for _lt, part in reader(str(p), None, chunk):
                got += len(part)
        assert got == bad_at
        byte = 24 + bad_at * len(recs[0])
        assert f"after packet {bad_at} near byte {byte}: record header claims {claim} bytes" in str(err.value)


def test_export_capture_reads_on_past_a_lying_block(tmp_path: Path) -> None:
    """pcap+export: shares the reader: the IPFIX datagram after a lying packet block is still
    decoded, and the block is one malformed-packet drop against the input."""
    from flowcep_plugin.inputs.pcap_export import ExportCaptureSource

    def export_frame(message: bytes) -> bytes:
        udp = struct.pack("!HHHH", 40000, 4739, 8 + len(message), 0) + message
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0, bytes([192, 0, 2, 1]),
                         bytes([192, 0, 2, 2]))
        return b"\x00\x00\x00\x00\x00\x02\x00\x00\x00\x00\x00\x01\x08\x00" + ip + udp

    def ipfix(seq: int, body: bytes) -> bytes:
        return struct.pack(">HHIII", 10, 16 + len(body), 1_700_000_000, seq, 0) + body

    template = struct.pack(">HHHH", 2, 4 + 4 + 16, 256, 4) + struct.pack(">8H", 8, 4, 12, 4, 2, 4, 153, 8)
    record = bytes([198, 51, 100, 1, 198, 51, 100, 2]) + struct.pack(">IQ", 3, 1_700_000_000_500)
    data = struct.pack(">HH", 256, 4 + len(record)) + record
    p = tmp_path / "export.pcapng"
    p.write_bytes(SHB + idb() + epb(T_US, export_frame(ipfix(0, template + data)))
                  + LIES["caplen past its block"][0] + epb(T_US + 1000, export_frame(ipfix(1, data))))
    ctx = Context()
    batches = list(ExportCaptureSource(parse_address(f"pcap+export:{p}"), {}, ctx).batches())
    assert sum(len(b) for b in batches) == 2
    assert ctx.stats.drops == {"malformed-packet": 1}
    assert "pcap corrupt captures" not in ctx.stats.gauges


def test_mutated_pcapng_reads_on_or_ends_with_capture_error_only() -> None:
    """Random words and bytes overwritten in a 200-packet pcapng (seeded): every file is either
    read to its end or ended with one CaptureError; never struct.error/IndexError, and never more
    packets and skips than blocks."""
    import io
    import random

    rnd = random.Random(29)
    good = SHB + idb() + b"".join(epb(T_US + i, udp_frame(1000 + i)) for i in range(200))
    ended = 0
    for _ in range(300):
        d = bytearray(good)
        for _ in range(rnd.randrange(1, 6)):
            at = rnd.randrange(len(d))
            if rnd.random() < 0.5 and at - at % 4 + 4 <= len(d):
                struct.pack_into("<I", d, at - at % 4, rnd.choice([0, 1, 7, 12, 16, 28, 0xFFFF, rnd.randrange(1 << 32)]))
            else:
                d[at] = rnd.randrange(256)
        skipped = Skipped("m", log_first=0)
        got = 0
        try:
            for _lt, part in read_frames("m", io.BytesIO(bytes(d)), rnd.choice([1, 50, 8192]), skipped):
                got += len(part)
        except CaptureError:
            ended += 1
        assert got + sum(skipped.counts.values()) <= 200
    assert 0 < ended < 300  # both outcomes were exercised
