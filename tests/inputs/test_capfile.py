"""The capture file reader against scapy's readers.

The ``pcap:`` input used to read files with scapy's ``RawPcapReader``/``RawPcapNgReader``;
:mod:`flowcep_plugin.inputs.capfile` replaced them for speed. The old path is rebuilt here from
scapy (frames and millisecond times exactly as the old ``iter_frames`` computed them, fed to a
``FlowMeter`` with the input's default settings), and the flow records of both paths must be
identical on every real capture in ../shared/data/traces. Format corners scapy can write
(big-endian, nanosecond, pcapng with several interfaces and time resolutions, gzip) are
checked frame by frame.
"""

from __future__ import annotations

import gzip
import json
import os
import struct
from pathlib import Path
from typing import Any

import pytest
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether
from scapy.utils import PcapNgWriter, PcapWriter, RawPcapNgReader, RawPcapReader

from flowcep_plugin.addresses import parse_address
from flowcep_plugin.context import Context
from flowcep_plugin.inputs.capfile import CaptureError, read_frames
from flowcep_plugin.inputs.pcap import PcapSource, _Metering, meter_settings

# the shared folder as tests/conftest.py finds it, to list the captures at collection time
TRACES = Path(os.environ.get("FLOWCEP_SHARED", Path(__file__).resolve().parents[2].parent / "shared")) / "data" / "traces"


def scapy_frames(path: Path) -> list[tuple[int, int, bytes]]:
    """(linktype, timestamp_ms, frame) as the scapy-based reader produced them."""
    out = []
    with open(path, "rb") as fh:
        magic = fh.read(4)
    reader: Any = RawPcapNgReader(str(path)) if magic == b"\x0a\x0d\x0d\x0a" else RawPcapReader(str(path))
    with reader:
        for data, meta in reader:
            if hasattr(meta, "tshigh"):
                ts = ((meta.tshigh << 32) | meta.tslow) * 1000 // (meta.tsresol or 1_000_000)
                out.append((meta.linktype, ts, data))
            else:
                ts = meta.sec * 1000 + meta.usec // (1_000_000 if reader.nano else 1000)
                out.append((reader.linktype, ts, data))
    return out


def records_via_scapy(path: Path) -> list[dict[str, Any]]:
    run = _Metering(str(path), meter_settings({}, {}, str(path)), Context())
    frames = scapy_frames(path)
    rows: list[dict[str, Any]] = []
    for i in range(0, len(frames), 8192):
        run.feed_mixed([(ts, lt, data) for lt, ts, data in frames[i:i + 8192]], i + 1)
        rows += [r for b in run.take() for r in b.rows()]
    return rows + [r for b in run.finish() for r in b.rows()]


def records_via_input(path: Path) -> list[dict[str, Any]]:
    src = PcapSource(parse_address(f"pcap:{path}"), {}, Context())
    return [r for b in src.batches() for r in b.rows()]


def _traces() -> list[str]:
    return sorted(p.name for p in TRACES.glob("*.pcap*")) if TRACES.is_dir() else ["(traces missing)"]


@pytest.mark.shared
@pytest.mark.parametrize("name", _traces())
def test_flow_records_identical_to_the_scapy_reader_path(name: str, shared_file: Any) -> None:
    path = shared_file(f"data/traces/{name}")
    old = records_via_scapy(path)
    new = records_via_input(path)
    assert len(new) == len(old) > 0
    assert json.dumps(new, sort_keys=True) == json.dumps(old, sort_keys=True)


def _packets(n: int = 5) -> list[Any]:
    pkts = []
    for i in range(n):
        p = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02") / IP(src="10.0.0.1", dst="10.0.0.2") / UDP(
            sport=40000 + i, dport=53) / (b"q" * (i + 1))
        p.time = 1_700_000_000 + i * 0.0015 + 0.000123456
        pkts.append(p)
    return pkts


def _ours(path: Path, chunk: int = 8192) -> list[tuple[int, int, bytes]]:
    return [(lt, ts, data) for lt, frames in read_frames(str(path), None, chunk) for ts, data in frames]


@pytest.mark.parametrize("options", [{}, {"nano": True}, {"endianness": ">"}, {"endianness": ">", "nano": True}])
def test_classic_pcap_byte_orders_and_resolutions(tmp_path: Path, options: dict[str, Any]) -> None:
    path = tmp_path / "x.pcap"
    with PcapWriter(str(path), **options) as w:
        for p in _packets():
            w.write(p)
    assert _ours(path) == scapy_frames(path)
    assert _ours(path, chunk=2) == scapy_frames(path)  # chunk boundaries lose nothing


def test_pcap_time_stamps_are_floored_to_the_millisecond(tmp_path: Path) -> None:
    path = tmp_path / "t.pcap"
    with PcapWriter(str(path), nano=True) as w:
        for p in _packets(3):
            w.write(p)
    # 0.000123456 s after the second, then +1.5 ms steps: 0, 1, 3 ms (floored)
    assert [ts - 1_700_000_000_000 for _, ts, _ in _ours(path)] == [0, 1, 3]


def test_pcapng_interfaces_and_time_resolution(tmp_path: Path) -> None:
    path = tmp_path / "x.pcapng"
    with PcapNgWriter(str(path)) as w:
        for p in _packets():
            w.write(p)
    assert _ours(path) == scapy_frames(path)


def test_pcapng_if_tsresol_and_tsoffset_and_big_endian(tmp_path: Path) -> None:
    """A hand-built big-endian section: one interface in 1/1024 s units with a 10 s offset."""
    def block(btype: int, body: bytes) -> bytes:
        body += b"\x00" * (-len(body) % 4)
        return struct.pack(">II", btype, len(body) + 12) + body + struct.pack(">I", len(body) + 12)

    shb = block(0x0A0D0D0A, b"\x1a\x2b\x3c\x4d" + struct.pack(">HHq", 1, 0, -1))
    opts = struct.pack(">HHB3x", 9, 1, 0x80 | 10) + struct.pack(">HHq", 14, 8, 10) + struct.pack(">HH", 0, 0)
    idb = block(1, struct.pack(">HHI", 1, 0, 65535) + opts)
    frame = bytes(_packets(1)[0])
    ticks = 1_700_000_000 * 1024 + 512  # half a second
    epb = block(6, struct.pack(">5I", 0, ticks >> 32, ticks & 0xFFFFFFFF, len(frame), len(frame)) + frame)
    spb = block(3, struct.pack(">I", len(frame)) + frame)
    path = tmp_path / "be.pcapng"
    path.write_bytes(shb + idb + epb + spb)
    got = _ours(path)
    assert got == [(1, 1_700_000_010_500, frame), (1, 1_700_000_010_500, frame)]  # SPB: previous time


def test_pcapng_obsolete_packet_block_reads_like_an_enhanced_one(tmp_path: Path) -> None:
    """Block type 2 (pcapng's obsolete packet block: interface, drops, time, lengths): same
    frame and time as an enhanced packet block; a length past its block skips that block."""
    def block(btype: int, body: bytes) -> bytes:
        body += b"\x00" * (-len(body) % 4)
        return struct.pack("<II", btype, len(body) + 12) + body + struct.pack("<I", len(body) + 12)

    shb = block(0x0A0D0D0A, b"\x4d\x3c\x2b\x1a" + struct.pack("<HHq", 1, 0, -1))
    idb = block(1, struct.pack("<HHI", 1, 0, 65535))
    frame = bytes(_packets(1)[0])
    micros = 1_700_000_000_250_000
    opb = block(2, struct.pack("<HH4I", 0, 0, micros >> 32, micros & 0xFFFFFFFF, len(frame), len(frame)) + frame)
    epb = block(6, struct.pack("<5I", 0, micros >> 32, micros & 0xFFFFFFFF, len(frame), len(frame)) + frame)
    path = tmp_path / "opb.pcapng"
    path.write_bytes(shb + idb + opb + epb)
    assert _ours(path) == [(1, 1_700_000_000_250, frame)] * 2
    liar = block(2, struct.pack("<HH4I", 0, 0, 0, 0, 10_000, 10_000) + frame)
    path.write_bytes(shb + idb + opb + liar + epb)  # the liar is skipped (test_capfile_hostile)
    assert _ours(path) == [(1, 1_700_000_000_250, frame)] * 2


def test_gzip_capture(tmp_path: Path) -> None:
    path = tmp_path / "x.pcap"
    with PcapWriter(str(path)) as w:
        for p in _packets():
            w.write(p)
    gz = tmp_path / "x.pcap.gz"
    gz.write_bytes(gzip.compress(path.read_bytes()))
    assert _ours(gz) == _ours(path)
    gz.write_bytes(gzip.compress(path.read_bytes())[:-30])  # cut gzip stream
    with pytest.raises(CaptureError, match="x.pcap.gz"):
        _ours(gz)


def test_damage_ends_with_one_error_after_every_good_frame(tmp_path: Path) -> None:
    path = tmp_path / "x.pcap"
    with PcapWriter(str(path)) as w:
        for p in _packets():
            w.write(p)
    whole = path.read_bytes()
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(whole[:-3])
    frames: list[Any] = []
    with pytest.raises(CaptureError, match=r"after packet 4 near byte \d+: packet 5 cut short"):
        for _lt, chunk in read_frames(str(cut), None, 2):
            frames += chunk
    assert len(frames) == 4
    cut.write_bytes(whole + b"\x00" * 7)
    with pytest.raises(CaptureError, match="7 trailing bytes"):
        _ours(cut)
    bad = bytearray(whole)
    struct.pack_into("<I", bad, 24 + 8, 10_000_000)  # first record claims 10 MB
    cut.write_bytes(bytes(bad))
    with pytest.raises(CaptureError, match="after packet 0 near byte 24: record header claims 10000000 bytes"):
        _ours(cut)
    cut.write_bytes(b"NOPE" + whole[4:])
    with pytest.raises(CaptureError, match="not a readable pcap/pcapng capture"):
        _ours(cut)
