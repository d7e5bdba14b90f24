"""Hostile pcapng files: blocks shorter than their fixed fields and time stamps no clock can
hold. Each must end (or pass) with a :class:`CaptureError` naming the position, never a
``struct.error``/``OverflowError`` that loses every packet of the file."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from flowcep_plugin.addresses import parse_address
from flowcep_plugin.context import Context
from flowcep_plugin.inputs.capfile import MAX_TIME_MS, CaptureError, read_frames
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


@pytest.mark.parametrize("btype,length", [(6, 12), (6, 28), (2, 16), (1, 12), (1, 16), (3, 12)])
def test_block_shorter_than_its_fixed_fields_is_damage_with_a_position(tmp_path: Path, btype: int,
                                                                        length: int) -> None:
    """At the end of the file its fields would be read past the buffer (struct.error); in the
    middle, from the next block (an interface with another block's bytes as its link type)."""
    short = struct.pack("<II", btype, length) + b"\x00" * (length - 12) + struct.pack("<I", length)
    for tail in (b"", GOOD):
        path = tmp_path / "short.pcapng"
        path.write_bytes(SHB + idb() + GOOD + short + tail)
        got: list[tuple[int, bytes]] = []
        with pytest.raises(CaptureError, match=rf"short.pcapng: corrupt capture after packet 5 near byte "
                                               rf"\d+: block of type {btype:#x} claims {length} bytes"):
            for _lt, chunk in read_frames(str(path)):
                got += chunk
        assert len(got) == 5


def test_interface_option_running_past_its_block_is_damage(tmp_path: Path) -> None:
    liar = struct.pack("<HH", 14, 200) + struct.pack("<q", 10)  # if_tsoffset claiming 200 bytes
    path = tmp_path / "opt.pcapng"
    path.write_bytes(SHB + idb() + GOOD + block(1, struct.pack("<HHI", 1, 0, 65535) + liar) + GOOD)
    with pytest.raises(CaptureError, match="interface option 14 claims 200 bytes"):
        frames(path)


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


@pytest.mark.parametrize("bad,says", [
    (block(6, struct.pack("<5I", 0, T_US >> 32, T_US & 0xFFFFFFFF, 60000, 60000) + udp_frame(9)),
     "packet block claims 60000 bytes"),
    (block(6, struct.pack("<5I", 7, T_US >> 32, T_US & 0xFFFFFFFF, 42, 42) + udp_frame(9)),
     "packet on interface 7, which the file never described"),
])
def test_packet_block_that_lies_ends_the_file_with_its_position(tmp_path: Path, bad: bytes, says: str) -> None:
    """A packet block whose caplen runs past it, or that names an undescribed interface: the
    packets before it are read, then one CaptureError naming the packet count and byte."""
    p = tmp_path / "lies.pcapng"
    p.write_bytes(SHB + idb() + GOOD + bad + GOOD)
    got: list[tuple[int, bytes]] = []
    with pytest.raises(CaptureError) as err:
        for _lt, chunk in read_frames(str(p)):
            got += chunk
    assert len(got) == 5
    at = len(SHB + idb() + GOOD)
    assert says in str(err.value) and f"after packet 5 near byte {at}" in str(err.value), str(err.value)
    assert "\n" not in str(err.value)


def test_caplen_beyond_the_interface_snaplen_is_kept(tmp_path: Path) -> None:
    """An EPB longer than its interface's snaplen (a writer that ignored it): the bytes are in
    the block, so the frame is read whole rather than cut or refused."""
    p = tmp_path / "snap.pcapng"
    p.write_bytes(SHB + block(1, struct.pack("<HHI", 1, 0, 20)) + epb(T_US, udp_frame(7)))
    assert frames(p) == [(T_US // 1000, udp_frame(7))]
