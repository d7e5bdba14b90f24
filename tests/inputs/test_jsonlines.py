"""``json:`` input: ipfixcol and ipfixcol2 JSON lines. Expected values are worked out by hand
(timestamps with Python's datetime, flags bit by bit) from records shaped like the examples in
the two collectors' documentation."""

from __future__ import annotations

import gzip
import json
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from flowcep_plugin.addresses import parse_address
from flowcep_plugin.context import Context
from flowcep_plugin.errors import ConfigError, InputError
from flowcep_plugin.inputs.jsonlines import JsonLinesSource, parse_tcp_flags, parse_timestamp_ms, sniff_json


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() * 1000)


def read(path: Path, ctx: Context | None = None, query: str = "") -> list[dict[str, Any]]:
    src = JsonLinesSource(parse_address(f"json:{path}{query}"), {}, ctx or Context())
    return [r for b in src.batches() for r in b.rows()]


# Shaped like the ipfixcol2 JSON output README example (timestamp/tcpFlags/protocol formatted)
IPFIXCOL2_FORMATTED = {
    "@type": "ipfix.entry",
    "iana:octetDeltaCount": 3568720,
    "iana:packetDeltaCount": 2383,
    "iana:flowStartMilliseconds": "2018-05-11T19:44:29.006Z",
    "iana:flowEndMilliseconds": "2018-05-11T19:44:30.364Z",
    "iana:ipVersion": 4,
    "iana:sourceIPv4Address": "192.168.0.100",
    "iana:destinationIPv4Address": "192.168.0.101",
    "iana:protocolIdentifier": "TCP",
    "iana:tcpControlBits": ".AP.S.",
    "iana:sourceTransportPort": 47200,
    "iana:destinationTransportPort": 80,
    "flowmon:httpHost": "www.example.com",
    "flowmon:httpUrl": "/index.php?id=1",
    "iana@reverse:octetDeltaCount": 1000,
}
# The same flow with ipfixcol2's raw/unix settings
IPFIXCOL2_RAW = {
    "iana:octetDeltaCount": 3568720,
    "iana:packetDeltaCount": 2383,
    "iana:flowStartMilliseconds": 1526067869006,
    "iana:flowEndMilliseconds": 1526067870364,
    "iana:flowEndSeconds": 1526067870364,  # unix mode: milliseconds even for a seconds element
    "iana:protocolIdentifier": 6,
    "iana:tcpControlBits": 26,
    "cesnet:HTTPRequestHost": "www.example.com",
    "en39499:id2": "/index.php?id=1",
}
# Shaped like the ipfixcol (v1) JSON storage README example (note its unpadded seconds)
IPFIXCOL1 = {
    "@type": "ipfix.entry",
    "ipfix.octetDeltaCount": 3970,
    "ipfix.flowStartMilliseconds": "2015-08-03T14:10:2.012",
    "ipfix.flowEndMilliseconds": "2015-08-03T14:11:2.380",
    "ipfix.sourceIPv4Address": "52.24.214.8",
    "ipfix.protocolIdentifier": "TCP",
    "ipfix.tcpControlBits": ".AP.SF",
    "ipfix.destinationTransportPort": 49285,
    "ipfix.HTTPRequestURL": "/a\u0000\u0000",
}


def write_lines(path: Path, *lines: Any) -> Path:
    path.write_text("".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in lines))
    return path


def test_ipfixcol2_formatted_and_raw_give_the_same_record(tmp_path: Path) -> None:
    rows = read(write_lines(tmp_path / "f.json", IPFIXCOL2_FORMATTED, IPFIXCOL2_RAW))
    fmt, raw = rows
    start, end = ms("2018-05-11T19:44:29.006"), ms("2018-05-11T19:44:30.364")
    assert (fmt["flowStartMilliseconds"], fmt["flowEndMilliseconds"]) == (start, end)
    assert (raw["flowStartMilliseconds"], raw["flowEndMilliseconds"]) == (start, end)
    assert raw["flowEndSeconds"] == end // 1000
    assert fmt["protocolIdentifier"] == raw["protocolIdentifier"] == 6
    assert fmt["tcpControlBits"] == raw["tcpControlBits"] == 0x10 | 0x08 | 0x02  # A, P, S
    assert fmt["HTTPRequestHost"] == raw["HTTPRequestHost"] == "www.example.com"
    assert fmt["HTTPRequestURL"] == raw["HTTPRequestURL"] == "/index.php?id=1"
    assert fmt["sourceIPv4Address"] == "192.168.0.100"
    assert fmt["reverseOctetDeltaCount"] == 1000
    assert fmt["octetDeltaCount"] == raw["octetDeltaCount"] == 3568720


def test_ipfixcol_v1_keys_flat_and_nested(tmp_path: Path) -> None:
    nested = {"ipfix": {k[6:]: v for k, v in IPFIXCOL1.items() if k.startswith("ipfix.")}}
    rows = read(write_lines(tmp_path / "v1.json", IPFIXCOL1, nested))
    for r in rows:
        assert r["flowStartMilliseconds"] == ms("2015-08-03T14:10:02.012")
        assert r["flowEndMilliseconds"] == ms("2015-08-03T14:11:02.380")
        assert r["tcpControlBits"] == 0x10 | 0x08 | 0x02 | 0x01
        assert r["protocolIdentifier"] == 6
        assert r["HTTPRequestURL"] == "/a"  # NUL padding removed
        assert r["destinationTransportPort"] == 49285


def test_event_times_come_from_the_mapped_end_time(tmp_path: Path) -> None:
    src = JsonLinesSource(parse_address(f"json:{write_lines(tmp_path / 'e.json', IPFIXCOL2_FORMATTED)}"), {},
                          Context())
    (batch,) = list(src.batches())
    assert batch.event_times() == [ms("2018-05-11T19:44:30.364")]


def test_bad_lines_are_counted_with_file_and_line_and_reading_goes_on(tmp_path: Path, caplog) -> None:
    path = write_lines(
        tmp_path / "bad.json",
        IPFIXCOL2_RAW,
        "{not json",
        "[1, 2]",
        {"iana:flowEndMilliseconds": "yesterday"},
        {"iana:protocolIdentifier": "NOPROTO"},
        "",
        {"@type": "ipfix.optionsEntry", "iana:samplingInterval": 100},
        IPFIXCOL1,
    )
    ctx = Context()
    with caplog.at_level(logging.WARNING, logger="flowcep"):
        rows = read(path, ctx)
    assert len(rows) == 2
    snap = ctx.stats.snapshot()
    assert snap["drops"] == {"malformed": 4}
    assert snap["gauges"]["json non-flow records skipped"] == 1
    where = [r.getMessage().split(": ")[0] for r in caplog.records]
    assert where == [f"{path}:{n}" for n in (2, 3, 4, 5)]


def test_gzip_files_and_batches(tmp_path: Path) -> None:
    path = tmp_path / "many.json.gz"
    with gzip.open(path, "wt") as fh:
        for i in range(25):
            fh.write(json.dumps({"iana:sourceTransportPort": i, "iana:flowEndMilliseconds": 1000 + i}) + "\n")
    src = JsonLinesSource(parse_address(f"json:{path}?batch_size=10"), {}, Context())
    sizes = [len(b) for b in src.batches()]
    assert sizes == [10, 10, 5]


def test_helpers() -> None:
    assert parse_timestamp_ms("2018-01-22T09:29:57.828Z") == ms("2018-01-22T09:29:57.828")
    assert parse_timestamp_ms("2018-01-22T11:29:57+02:00") == ms("2018-01-22T09:29:57")
    assert parse_timestamp_ms("2018-01-22 09:29:57.5") == ms("2018-01-22T09:29:57.500")
    with pytest.raises(ValueError):
        parse_timestamp_ms("22/01/2018")
    assert parse_tcp_flags("CE.A..SF") == 0x80 | 0x40 | 0x10 | 0x02 | 0x01
    assert parse_tcp_flags("......") == 0
    assert parse_tcp_flags("0x12") == 0x12
    with pytest.raises(ValueError):
        parse_tcp_flags(".X....")
    assert sniff_json(b'  {"a": 1}') and sniff_json(b'\xef\xbb\xbf{"a"')
    assert not sniff_json(b"[1]") and not sniff_json(b"\xd4\xc3\xb2\xa1")


def test_options_and_open_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        JsonLinesSource(parse_address(f"json:{tmp_path}/none.json"), {}, Context())
    p = write_lines(tmp_path / "x.json", IPFIXCOL1)
    with pytest.raises(ConfigError, match="unknown option"):
        JsonLinesSource(parse_address(f"json:{p}?follow=1"), {}, Context())


@pytest.mark.shared
def test_ipfixcol2_style_lines_of_the_upstream_sample_read_back_as_decoded(upstream_ipfix: Path, tmp_path: Path) -> None:
    """Write the first records of data.ipfix the way ipfixcol2 formats them (ISO times, text
    flags and protocol names, enXX:idYY for the Flowmon URL), then read them back."""
    from flowcep_plugin.inputs.ipfix_decode import MessageDecoder

    decoder = MessageDecoder(Context(), "test")
    data = upstream_ipfix.read_bytes()
    batches = []
    off = 0
    while off < len(data) and sum(len(b) for b in batches) < 2000:
        length = int.from_bytes(data[off + 2:off + 4], "big")
        batches += decoder.decode(data[off:off + length], "file")
        off += length
    names = {6: "TCP", 17: "UDP", 1: "ICMP"}
    lines = []
    want = []
    for b in batches:
        for r in b.rows():
            out: dict[str, Any] = {"@type": "ipfix.entry"}
            for k, v in r.items():
                if k.endswith("Milliseconds"):
                    v = datetime.fromtimestamp(v / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
                elif k == "tcpControlBits":
                    # 8 letters: ipfixcol2 prints 6 (UAPRSF) and so loses ECE/CWR, which this sample has
                    v = "".join(c if v & (1 << (7 - i)) else "." for i, c in enumerate("CEUAPRSF"))
                elif k == "protocolIdentifier":
                    v = names.get(v, v)
                key = "en39499:id2" if k == "HTTPRequestURL" else f"iana:{k}"
                out[key] = v
            lines.append(out)
            want.append({k: v for k, v in r.items()})
    assert any("HTTPRequestURL" in w for w in want)
    rows = read(write_lines(tmp_path / "up.json", *lines))
    assert rows == want


def test_hostile_nesting_and_huge_lines_are_counted_not_fatal(tmp_path: Path) -> None:
    from flowcep_plugin.inputs import jsonlines

    f = tmp_path / "hostile.jsonl"
    deep = '{"a":' * 1020 + "1" + "}" * 1020  # orjson accepts it; recursion would not
    huge = '{"x":"' + "a" * (jsonlines.MAX_LINE + 10) + '"}'
    f.write_text("\n".join([deep, '{"sourceIPv4Address":"10.0.0.1"}', huge,
                            '{"sourceIPv4Address":"10.0.0.2"}', "y" * (jsonlines.MAX_LINE * 2)]))
    ctx = Context()
    got = read(f, ctx)
    assert [r["sourceIPv4Address"] for r in got] == ["10.0.0.1", "10.0.0.2"]
    assert ctx.stats.drops["malformed"] == 3
