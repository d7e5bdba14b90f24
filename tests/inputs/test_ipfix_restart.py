"""An IPFIX exporter over UDP that restarts and reuses a template id for another layout: its
data can overtake the new template, and must then wait for it rather than be read with the old
layout (which swaps source and destination here, accusing the victim). IPFIX headers carry no
uptime; the restart is seen from the sequence number starting again (IPFIX_RESTART_RECORDS)."""

from __future__ import annotations

import random
import struct

from flowcep_plugin.context import Context
from flowcep_plugin.inputs.ipfix_decode import IPFIX_RESTART_RECORDS, MessageDecoder

OLD = [(8, 4), (12, 4), (2, 4)]  # source, destination, packets
NEW = [(12, 4), (8, 4), (2, 4)]  # the restarted exporter lists the destination first


def _ip(s: str) -> bytes:
    return bytes(int(x) for x in s.split("."))


def _msg(sets: list[bytes], seq: int, export: int = 1_700_000_000) -> bytes:
    body = b"".join(sets)
    return struct.pack(">HHIII", 10, 16 + len(body), export, seq, 0) + body


def _tset(tid: int, fields: list[tuple[int, int]]) -> bytes:
    rec = struct.pack(">HH", tid, len(fields)) + b"".join(struct.pack(">HH", e, n) for e, n in fields)
    return struct.pack(">HH", 2, 4 + len(rec)) + rec


def _dset(tid: int, *recs: bytes) -> bytes:
    body = b"".join(recs)
    return struct.pack(">HH", tid, 4 + len(body)) + body


OLD_REC = _ip("192.0.2.7") + _ip("198.51.100.9") + struct.pack(">I", 5)
NEW_REC = _ip("198.51.100.9") + _ip("203.0.113.66") + struct.pack(">I", 7)  # 203.0.113.66 -> .9


def _run(transport: str, seqs_before: list[int], seq_after: int, data_first: bool) -> tuple[list[tuple[str, str]], Context]:
    """Messages under the OLD layout numbered ``seqs_before`` (100 records each), then the
    restarted exporter's records under NEW (data before its template when ``data_first``)."""
    ctx = Context()
    d = MessageDecoder(ctx, "x", transport=transport)
    for i, seq in enumerate(seqs_before):
        d.decode(_msg(([_tset(256, OLD)] if i == 0 else []) + [_dset(256, *[OLD_REC] * 100)], seq), "e")
    d.flush()
    out = []
    if data_first:  # UDP: the data datagram overtook the template datagram
        out += d.decode(_msg([_dset(256, NEW_REC)], seq_after, 1_700_000_100), "e")
    out += d.decode(_msg([_tset(256, NEW), _dset(256, NEW_REC)], seq_after + 1, 1_700_000_100), "e")
    out += d.flush()
    rows = [(r["sourceIPv4Address"], r["destinationIPv4Address"]) for b in out if b.stream == "Flow"
            for r in b.rows()]
    return rows, ctx


LONG = [k * 100 for k in range(1000, 1010)]  # a stream 100,000 records in


def test_restart_whose_data_overtakes_its_template_waits_and_is_read_right() -> None:
    rows, ctx = _run("udp", LONG, 0, data_first=True)
    assert rows == [("203.0.113.66", "198.51.100.9")] * 2
    assert ctx.stats.gauges["input.exporter_restarts"] == 1
    assert not ctx.stats.drops


def test_restart_with_its_template_first_is_read_right() -> None:
    rows, ctx = _run("udp", LONG, 0, data_first=False)
    assert rows == [("203.0.113.66", "198.51.100.9")]
    assert ctx.stats.gauges["input.exporter_restarts"] == 1


def test_late_datagram_is_no_restart() -> None:
    """A datagram 150 records late (and one from the stream's start, late by less than the
    bound) is read with the template in force: not a restart."""
    ctx = Context()
    d = MessageDecoder(ctx, "x", transport="udp")
    d.decode(_msg([_tset(256, OLD), _dset(256, *[OLD_REC] * 100)], 0), "e")
    for seq in (100, 200, 300, 400):
        d.decode(_msg([_dset(256, *[OLD_REC] * 100)], seq), "e")
    out = d.decode(_msg([_dset(256, OLD_REC)], 250), "e") + d.flush()
    assert [r["sourceIPv4Address"] for b in out for r in b.rows()][-1:] == ["192.0.2.7"]
    assert "input.exporter_restarts" not in ctx.stats.gauges
    assert ctx.stats.gauges["input.sequence_out_of_order"] == 1


def test_restart_before_the_bound_is_the_known_limit() -> None:
    """Fewer than IPFIX_RESTART_RECORDS records before the restart: indistinguishable from a
    late datagram, so not taken as a restart (documented in docs/operations.md)."""
    rows, ctx = _run("udp", [0, 100, 200], 0, data_first=False)
    assert "input.exporter_restarts" not in ctx.stats.gauges
    assert rows == [("203.0.113.66", "198.51.100.9")]  # the template first: still right


def test_over_tcp_and_files_the_rule_is_off() -> None:
    """A TCP restart is a new connection, hence a new session; a file is read in order."""
    for transport in ("tcp", "file"):
        rows, ctx = _run(transport, LONG, 0, data_first=False)
        assert "input.exporter_restarts" not in ctx.stats.gauges
        assert rows == [("203.0.113.66", "198.51.100.9")]


def test_random_sequence_numbers_do_not_flap_the_session() -> None:
    """An exporter numbering its messages at random (hostile or broken): above the bound no
    message is taken as a restart and every record is read."""
    ctx = Context()
    d = MessageDecoder(ctx, "x", transport="udp")
    rnd = random.Random(29)
    out = d.decode(_msg([_tset(256, OLD), _dset(256, OLD_REC)], rnd.randrange(IPFIX_RESTART_RECORDS, 1 << 32)), "e")
    for _ in range(2000):
        out += d.decode(_msg([_dset(256, OLD_REC)], rnd.randrange(IPFIX_RESTART_RECORDS, 1 << 32)), "e")
    out += d.flush()
    assert sum(len(b) for b in out) == 2001
    assert "input.exporter_restarts" not in ctx.stats.gauges


def test_restart_beyond_half_the_sequence_space_is_seen() -> None:
    """A stream 3,000,000,000 records in restarts at 0: modulo 2**32 that reads as 1.3e9
    records ahead, but it is far from the expected number both ways: a restart."""
    rows, ctx = _run("udp", [3_000_000_000 + k * 100 for k in range(3)], 0, data_first=True)
    assert ctx.stats.gauges["input.exporter_restarts"] == 1
    assert rows == [("203.0.113.66", "198.51.100.9")] * 2


def test_small_loss_across_the_wrap_is_no_restart() -> None:
    """Expected 2**32 - 50; 100 records lost, so the next message is numbered 50: a loss."""
    ctx = Context()
    d = MessageDecoder(ctx, "x", transport="udp")
    out = d.decode(_msg([_tset(256, OLD), _dset(256, *[OLD_REC] * 100)], (1 << 32) - 150), "e")
    out += d.decode(_msg([_dset(256, OLD_REC)], 50), "e") + d.flush()
    assert sum(len(b) for b in out) == 101
    assert "input.exporter_restarts" not in ctx.stats.gauges
    assert ctx.stats.gauges["input.sequence_lost"] == 100
