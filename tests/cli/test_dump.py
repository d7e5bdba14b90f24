"""``flowcep dump``: JSON lines with IPFIX names, limits, table format, errors in one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from flowcep_plugin.cli import main
from flowcep_plugin.ipfix_writer import IPFIXWriter


def test_dump_upstream_json_lines(upstream_ipfix: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["dump", f"ipfix-file:{upstream_ipfix}"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 13_898
    rows = [json.loads(x) for x in lines]
    urls = [r["HTTPRequestURL"] for r in rows if "HTTPRequestURL" in r]
    assert urls and all(u and "\x00" not in u for u in urls)
    # every record has the elements of its template (PROVENANCE.md lists them)
    for r in rows:
        assert {"octetDeltaCount", "packetDeltaCount", "protocolIdentifier", "sourceIPv4Address",
                "destinationIPv4Address", "flowStartMilliseconds", "flowEndMilliseconds"} <= r.keys()
        assert isinstance(r["flowEndMilliseconds"], int)
        assert r["flowEndMilliseconds"] // 1000 // 86400 == 17633  # 2018-04-12 in days since epoch


def test_dump_limit_table_and_sniffed_bare_path(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "flows"  # no extension: recognised by its first bytes
    with path.open("wb") as fp:
        w = IPFIXWriter(fp)
        w.add_template(256, [("sourceIPv4Address", 4), ("destinationTransportPort", 2), ("en39499:id99", 3)])
        w.write(256, [(f"10.0.0.{i}", 1000 + i, b"\x01\x02\x03") for i in range(10)], 1_700_000_000)
    assert main(["dump", str(path), "--limit", "3"]) == 0
    rows = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    # the template's elements, then the message header: IPFIX, exported at 1_700_000_000 s
    assert rows == [{"sourceIPv4Address": f"10.0.0.{i}", "destinationTransportPort": 1000 + i,
                     "en39499:id99": "0x010203", "flowcep.export_version": 10,
                     "flowcep.export_time": 1_700_000_000_000} for i in range(3)]
    assert main(["dump", str(path), "-n", "2", "--format", "table"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["sourceIPv4Address", "destinationTransportPort", "en39499:id99",
                                "flowcep.export_version", "flowcep.export_time"]
    assert lines[1].split() == ["10.0.0.0", "1000", "0x010203", "10", "1700000000000"]
    assert len(lines) == 3


def test_dump_missing_file_is_one_line_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["dump", "ipfix-file:/nonexistent/x.ipfix"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("flowcep: error:") and "x.ipfix" in err[0]


def test_dump_damaged_file_counts_and_continues(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                               caplog: pytest.LogCaptureFixture) -> None:
    good = tmp_path / "g.ipfix"
    with good.open("wb") as fp:
        w = IPFIXWriter(fp)
        w.add_template(256, [("sourceIPv4Address", 4)])
        w.write(256, [("1.1.1.1",)], 1)
        w.write(256, [("2.2.2.2",)], 2)
    data = good.read_bytes()
    first_len = int.from_bytes(data[2:4], "big")
    bad = tmp_path / "b.ipfix"
    bad.write_bytes(data[:first_len] + b"JUNKJUNK" + data[first_len:])
    assert main(["dump", f"ipfix-file:{bad}"]) == 0
    out = capsys.readouterr()
    assert [json.loads(x)["sourceIPv4Address"] for x in out.out.splitlines()] == ["1.1.1.1", "2.2.2.2"]
    assert "malformed-stream=1" in out.err
    assert f"b.ipfix: byte offset {first_len}: 8 bytes are not an IPFIX message" in caplog.text


def test_dump_live_udp_stops_at_limit(capsys: pytest.CaptureFixture[str]) -> None:
    import socket
    import struct
    import threading

    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    result: list[int] = []
    th = threading.Thread(target=lambda: result.append(
        main(["dump", f"ipfix+udp://127.0.0.1:{port}", "--limit", "3"])), daemon=True)
    th.start()
    tmpl = struct.pack(">HHHH", 2, 12, 256, 1) + struct.pack(">HH", 8, 4)
    data = struct.pack(">HH", 256, 8) + socket.inet_aton("192.0.2.7")
    body = tmpl + data
    msg = struct.pack(">HHIII", 10, 16 + len(body), 1, 0, 0) + body
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for _ in range(100):  # keep sending until the dump has its 3 records and exits
        s.sendto(msg, ("127.0.0.1", port))
        th.join(0.05)
        if not th.is_alive():
            break
    assert not th.is_alive() and result == [0]
    lines = capsys.readouterr().out.splitlines()
    assert [json.loads(x) for x in lines] == [{"sourceIPv4Address": "192.0.2.7", "flowcep.export_version": 10,
                                               "flowcep.export_time": 1000}] * 3
