"""Hostile input, round 3: each damaged IPFIX / NetFlow v5 message is counted under its reason,
named in one warning line (source, exporter, message number), and the good message after it
is still read; a flood of damage logs a bounded number of lines."""

from __future__ import annotations

import logging
import struct

import pytest

from flowcep_plugin.context import Context
from flowcep_plugin.inputs.ipfix_decode import LOG_FIRST_BAD, MessageDecoder


def _ip(s: str) -> bytes:
    return bytes(int(x) for x in s.split("."))


def _msg(sets: list[bytes], seq: int = 0, length: int | None = None) -> bytes:
    body = b"".join(sets)
    return struct.pack(">HHIII", 10, 16 + len(body) if length is None else length, 1_700_000_000, seq, 0) + body


def _tset(tid: int, fields: list[tuple[int, ...]], set_id: int = 2, scope: int | None = None) -> bytes:
    rec = struct.pack(">HH", tid, len(fields)) + (b"" if scope is None else struct.pack(">H", scope))
    for f in fields:
        rec += struct.pack(">HHI", f[0] | 0x8000, f[1], f[2]) if len(f) == 3 else struct.pack(">HH", *f)
    return struct.pack(">HH", set_id, 4 + len(rec)) + rec


def _dset(tid: int, body: bytes) -> bytes:
    return struct.pack(">HH", tid, 4 + len(body)) + body


T = [(8, 4), (12, 4), (2, 4), (153, 8)]
GOOD_REC = _ip("192.0.2.1") + _ip("198.51.100.2") + struct.pack(">IQ", 3, 1_700_000_000_500)
GOOD = _msg([_tset(256, T), _dset(256, GOOD_REC)], seq=1)

#: name -> (damaged message, drop reason, words the warning must hold)
CASES = {
    "variable-length field past its set": (
        _msg([_tset(300, [(8, 4), (82, 65535)]), _dset(300, _ip("1.2.3.4") + b"\xff\xff\xf0ab")]),
        "malformed-record", "variable-length"),
    "subTemplateList naming a template it never had": (
        _msg([_tset(300, [(8, 4), (292, 65535)]), _dset(300, _ip("1.2.3.4") + b"\x08\x03\x01\x2c\xff\xff\xff\xff")]),
        "malformed-record", "template 300"),
    "options template with scope count 0": (
        _msg([_tset(400, [(149, 4), (34, 4)], set_id=3, scope=0)]), "malformed-template", "scope count 0"),
    "options template with more scopes than fields": (
        _msg([_tset(400, [(149, 4), (34, 4)], set_id=3, scope=9)]), "malformed-template", "scope count 9 of 2"),
    "set length 0": (
        _msg([_tset(256, T), struct.pack(">HH", 256, 0) + GOOD_REC]), "malformed-set", "length 0"),
    "set length 2": (
        _msg([_tset(256, T), struct.pack(">HH", 256, 2) + GOOD_REC]), "malformed-set", "length 2"),
    "template claiming 65,535 fields it does not hold": (
        _msg([struct.pack(">HHHH", 2, 8, 300, 65535)]), "malformed-template", "65535 fields"),
    "message length shorter than its header": (
        _msg([_tset(256, T)], length=10), "malformed-message", "message length 10"),
    "reserved set id": (
        _msg([_dset(7, GOOD_REC)]), "malformed-set", "reserved set id 7"),
}


@pytest.mark.parametrize("name", list(CASES))
def test_damage_is_counted_named_and_the_next_message_read(name: str, caplog: pytest.LogCaptureFixture) -> None:
    damaged, reason, words = CASES[name]
    ctx = Context()
    dec = MessageDecoder(ctx, "ipfix-file:hostile.ipfix", transport="udp")
    with caplog.at_level(logging.WARNING):
        out = dec.decode(damaged, "192.0.2.99:4739") + dec.decode(GOOD, "192.0.2.99:4739")
    rows = [r for b in out if b.stream == "Flow" for r in b.rows()]
    assert [r["sourceIPv4Address"] for r in rows][-1] == "192.0.2.1"
    assert ctx.stats.drops.get(reason, 0) >= 1, dict(ctx.stats.drops)
    lines = [r.getMessage() for r in caplog.records if reason in r.getMessage()]
    assert len(lines) == 1 and "\n" not in lines[0], lines
    assert "ipfix-file:hostile.ipfix" in lines[0] and "exporter 192.0.2.99:4739" in lines[0]
    assert "message 1 " in lines[0] and words in lines[0], lines[0]


def test_a_flood_of_damage_logs_a_bounded_number_of_lines(caplog: pytest.LogCaptureFixture) -> None:
    ctx = Context()
    dec = MessageDecoder(ctx, "ipfix+udp://0.0.0.0:4739", transport="udp")
    bad = _msg([_tset(256, T), struct.pack(">HH", 256, 2) + GOOD_REC])
    with caplog.at_level(logging.WARNING):
        for _ in range(500):
            dec.decode(bad, "192.0.2.99:4739")
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == LOG_FIRST_BAD
    assert "later damage is counted, not logged" in warnings[-1].getMessage()
    assert ctx.stats.drops["malformed-set"] == 500


def _v5(count: int, records: int, first_ip: str = "10.0.0.1") -> bytes:
    hdr = struct.pack(">HHIIIIBBH", 5, count, 1000, 1_700_000_000, 0, 0, 0, 0, 0)
    rec = (_ip(first_ip) + _ip("10.0.0.2") + _ip("0.0.0.0")
           + struct.pack(">HHIIIIHHBBBBHHBBH", 0, 0, 3, 120, 0, 500, 1234, 80, 0, 0x12, 6, 0, 0, 0, 0, 0, 0))
    return hdr + rec * records


@pytest.mark.parametrize("count,records,read,dropped", [(1, 3, 1, 2), (0, 3, 0, 3), (30, 2, 2, 28), (2, 2, 2, 0)])
def test_v5_header_count_against_the_records_present(count: int, records: int, read: int, dropped: int) -> None:
    """A v5 datagram is one message: records beyond the header's count are counted as
    malformed-message (not read as a message of a "version" made of an address's bytes), and
    a count beyond the records present counts the missing ones."""
    ctx = Context()
    dec = MessageDecoder(ctx, "pcap+export:x.pcap", transport="udp")
    out = dec.decode(_v5(count, records), "192.0.2.99:2055")
    assert sum(len(b) for b in out) == read
    assert dict(ctx.stats.drops) == ({"malformed-message": dropped} if dropped else {})


def test_v5_messages_back_to_back_are_both_read() -> None:
    """Whole records after the count that start another v5 message are that message."""
    ctx = Context()
    dec = MessageDecoder(ctx, "x", transport="file")
    out = dec.decode(_v5(1, 1) + _v5(2, 2, "10.0.0.9"), "e")
    assert [r["sourceIPv4Address"] for b in out for r in b.rows()] == ["10.0.0.1", "10.0.0.9", "10.0.0.9"]
    assert not ctx.stats.drops


def test_ipfix_file_whose_first_header_is_damaged_is_read_not_refused(tmp_path, capsys) -> None:
    """The first message's length field is 0: the file is still IPFIX (version 10), so it is
    read (it was refused as "binary data, not text"), the damaged bytes counted as
    malformed-stream and the next message decoded."""
    from flowcep_plugin.cli import main

    p = tmp_path / "damaged.ipfix"
    p.write_bytes(_msg([_tset(256, T), _dset(256, GOOD_REC)], length=0) + GOOD)
    assert main(["dump", f"ipfix-file:{p}"]) == 0
    out, err = capsys.readouterr()
    assert out.count("192.0.2.1") == 1, out
    assert "malformed-stream" in err and "Traceback" not in err, err


def test_binary_file_given_to_a_binary_input_is_refused_with_its_first_bytes(tmp_path) -> None:
    from flowcep_plugin.errors import InputError
    from flowcep_plugin.inputs.sniff import require_format

    p = tmp_path / "junk.bin"
    p.write_bytes(b"\x00\x01\x02\x03\x00\x00junk")
    with pytest.raises(InputError, match=r"does not look like ipfix \(first bytes 0001020300006a75\)"):
        require_format(str(p), "ipfix-file:junk.bin", ("ipfix",), strict=True)


@pytest.mark.parametrize("tail", [1, 3, 4, 12])
def test_zero_padding_after_the_last_set_is_noted_not_dropped(tail: int) -> None:
    """Zero bytes inside the message length after its last set lose no record: counted as
    input.ipfix_zero_padding; non-zero bytes there stay a malformed set."""
    ctx = Context()
    dec = MessageDecoder(ctx, "x", transport="udp")
    sets = [_tset(256, T), _dset(256, GOOD_REC)]
    out = dec.decode(_msg(sets + [bytes(tail)]), "e") + dec.decode(_msg([_dset(256, GOOD_REC)], seq=1), "e")
    assert sum(len(b) for b in out) == 2
    assert not ctx.stats.drops
    assert ctx.stats.gauges["input.ipfix_zero_padding"] == 1
    assert "input.sequence_lost" not in ctx.stats.gauges  # the message counted as complete
    ctx2 = Context()
    MessageDecoder(ctx2, "x", transport="udp").decode(_msg(sets + [b"\x00\x00\x01"]), "e")
    assert ctx2.stats.drops == {"malformed-set": 1}


_BASE = ('{"sourceIPv4Address":"192.0.2.1","destinationIPv4Address":"198.51.100.2","packetDeltaCount":1,'
         '"octetDeltaCount":60,"flowEndMilliseconds":1700000000500,"protocolIdentifier":6}')


@pytest.mark.parametrize("line,reason", [
    ('{"a":' * 100_000 + "1" + "}" * 100_000, "malformed"),  # far past any recursion limit
    ("[" * 100_000 + "]" * 100_000, "malformed"),
    ('{"packetDeltaCount": ' + "9" * 5000 + "}", "malformed"),  # past Python's int-digits limit
    (_BASE.replace('"octetDeltaCount":60', '"octetDeltaCount":1e400'), "malformed"),
    (_BASE.replace('"octetDeltaCount":60', '"octetDeltaCount":NaN'), "malformed"),
    (_BASE.replace("1700000000500", "Infinity"), "malformed"),
    (_BASE.replace('"packetDeltaCount":1', '"packetDeltaCount":-Infinity'), "malformed"),
    (_BASE.replace('"packetDeltaCount":1', '"packetDeltaCount":' + "1" + "0" * 200), "bad-value"),
    (_BASE.replace("1700000000500", "9" * 30), "bad-value"),
])
def test_hostile_json_line_is_counted_named_and_the_next_line_read(tmp_path, caplog: pytest.LogCaptureFixture,
                                                                   line: str, reason: str) -> None:
    from flowcep_plugin.addresses import parse_address
    from flowcep_plugin.inputs.jsonlines import JsonLinesSource

    p = tmp_path / "hostile.jsonl"
    p.write_text(line + "\n" + _BASE + "\n")
    ctx = Context()
    if reason == "bad-value":  # judged where every record is checked, after the input: a run
        import json

        from flowcep_plugin.cli import main

        stats = tmp_path / "stats.json"
        assert main(["run", "-i", f"json:{p}", "-d", "portscan", "--no-progress", "-q", "-o", "stdout",
                     "--stats-json", str(stats)]) == 0
        got = json.loads(stats.read_text())
        assert got["drops"] == {"bad-value": 1} and got["stages"]["input"]["out"] == 2, got
        return
    with caplog.at_level(logging.WARNING):
        src = JsonLinesSource(parse_address(f"json:{p}"), {}, ctx)
        rows = [r for b in src.batches() for r in b.rows()]
    assert [r["sourceIPv4Address"] for r in rows] == ["192.0.2.1"]
    assert ctx.stats.drops == {"malformed": 1}
    lines = [r.getMessage() for r in caplog.records]
    assert any(f"{p}:1:" in m and "\n" not in m for m in lines), lines
