"""IPFIXWriter: files that tshark and our decoder read back, message limits, sequence numbers."""

from __future__ import annotations

import io
import struct
import subprocess
from pathlib import Path

import pytest

from flowcep_plugin.context import Context
from flowcep_plugin.inputs.ipfix import IPFIXFileSource
from flowcep_plugin.ipfix_writer import IPFIXWriter
from flowcep_plugin.records import EXPORT_TIME, EXPORT_VERSION

FIELDS = [("sourceIPv4Address", 4), ("destinationIPv4Address", 4), ("sourceTransportPort", 2),
          ("destinationTransportPort", 2), ("protocolIdentifier", 1), ("octetDeltaCount", 8),
          ("flowEndMilliseconds", 8), ("HTTPRequestURL", 65535)]


def rows(n: int) -> list[tuple]:
    return [(f"10.0.{i // 256 % 256}.{i % 256}", "192.0.2.1", 1024 + i % 60000, 80, 6, i * 10,
             1_700_000_000_000 + i, "/p" * (i % 200)) for i in range(n)]


def headers(data: bytes) -> list[tuple[int, int, int, int, int]]:
    out, off = [], 0
    while off < len(data):
        h = struct.unpack_from(">HHIII", data, off)
        out.append(h)
        off += h[1]
    assert off == len(data)
    return out


def test_messages_split_below_64k_with_record_sequence_numbers() -> None:
    fp = io.BytesIO()
    w = IPFIXWriter(fp, observation_domain=9)
    w.add_template(256, FIELDS)
    w.write(256, rows(5000), export_time=1_700_000_000)
    w.write(256, rows(10), export_time=1_700_000_001)
    hs = headers(fp.getvalue())
    assert len(hs) > 2 and all(h[0] == 10 and h[1] <= 65535 and h[4] == 9 for h in hs)
    # each sequence number = data records sent before that message: check from set contents
    data, off, sent = fp.getvalue(), 0, 0
    for h in hs:
        assert h[3] == sent
        pos, end = off + 16, off + h[1]
        while pos < end:
            set_id, set_len = struct.unpack_from(">HH", data, pos)
            if set_id == 256:
                recs, p = 0, pos + 4
                while p < pos + set_len:  # walk the records: 29 fixed bytes + 1-or-3-byte length
                    p += 29
                    ln = data[p]
                    p += 1 if ln < 255 else 3
                    p += ln if ln < 255 else struct.unpack_from(">H", data, p - 2)[0]
                    recs += 1
                sent += recs
            pos += set_len
        off = end
    assert sent == 5010
    # the template set is in the first message only
    assert struct.unpack_from(">H", fp.getvalue(), 16)[0] == 2


def test_roundtrip_through_our_file_input(tmp_path: Path) -> None:
    path = tmp_path / "x.ipfix"
    src_rows = rows(3000)
    with path.open("wb") as fp:
        w = IPFIXWriter(fp)
        w.add_template(300, FIELDS)
        w.write(300, src_rows, 1_700_000_000)
        w.add_template(301, [("sourceIPv6Address", 16), ("flowEndMicroseconds", 8), ("dataRecordsReliability", 1)])
        w.write(301, [("2001:db8::1", 1_700_000_000_123_456, True)], 1_700_000_001)
    ctx = Context()
    got = [r for b in IPFIXFileSource(str(path), ctx).batches() for r in b.rows()]
    names = [n for n, _ in FIELDS]
    flows = [tuple(r[n] for n in names) for r in got if "sourceIPv4Address" in r]
    assert flows == src_rows
    # each message's export time (the writer's argument) reaches its records
    assert {(r[EXPORT_VERSION], r[EXPORT_TIME]) for r in got if "sourceIPv4Address" in r} == {
        (10, 1_700_000_000_000)}
    assert [r for r in got if "sourceIPv6Address" in r] == [
        {"sourceIPv6Address": "2001:db8::1", "flowEndMicroseconds": 1_700_000_000_123_456,
         "dataRecordsReliability": True, EXPORT_VERSION: 10, EXPORT_TIME: 1_700_000_001_000}]
    assert not ctx.stats.drops and "input.sequence_lost" not in ctx.stats.gauges


@pytest.mark.tools
def test_tshark_reads_written_file(tmp_path: Path, require_tool) -> None:
    tshark = require_tool("tshark")
    path = tmp_path / "w.ipfix"
    with path.open("wb") as fp:
        w = IPFIXWriter(fp)
        w.add_template(256, FIELDS[:6])
        w.write(256, [r[:6] for r in rows(2500)], 1_700_000_000)
    out = subprocess.run([tshark, "-n", "-r", str(path), "-T", "fields", "-E", "aggregator=|",
                          "-e", "cflow.srcaddr", "-e", "cflow.srcport", "-e", "cflow.octets", "-e", "_ws.expert"],
                         capture_output=True, text=True, check=True, timeout=60).stdout
    src, ports, octets = [], [], []
    for line in out.splitlines():
        cells = line.split("\t")
        src += [v for v in cells[0].split("|") if v]
        ports += [int(v) for v in cells[1].split("|") if v]
        octets += [int(v) for v in cells[2].split("|") if v]
        assert not cells[3], f"tshark expert info: {cells[3]}"
    expected = rows(2500)
    assert src == [r[0] for r in expected]
    assert ports == [r[2] for r in expected]
    assert octets == [r[5] for r in expected]


def test_unknown_element_and_missing_template_are_errors() -> None:
    w = IPFIXWriter(io.BytesIO())
    with pytest.raises(ValueError, match="unknown information element"):
        w.add_template(256, [("noSuchElement", 4)])
    with pytest.raises(ValueError, match="not added"):
        w.write(999, [], 0)
