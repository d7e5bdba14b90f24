"""Loopback UDP and TCP collectors: delivery, idle ticks, exporters kept apart, reconnects,
garbage on a TCP stream, template cache across a restart. Every wait is bounded."""

from __future__ import annotations

import socket
import struct
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from flowcep_plugin.addresses import parse_address
from flowcep_plugin.context import Context
from flowcep_plugin.errors import InputError
from flowcep_plugin.inputs import ipfix as ipfix_input
from flowcep_plugin.inputs import netflow as netflow_input
from flowcep_plugin.inputs.collectors import TCPCollector, UDPCollector
from flowcep_plugin.records import FlowBatch

from .test_ipfix_decode import elements


def ipfix_msg(sets: list[bytes], seq: int = 0, odid: int = 0) -> bytes:
    body = b"".join(sets)
    return struct.pack(">HHIII", 10, 16 + len(body), 1_700_000_000, seq, odid) + body


TEMPLATE = struct.pack(">HHHH", 2, 16, 256, 2) + struct.pack(">HHHH", 8, 4, 11, 2)


def data_set(*recs: tuple[str, int]) -> bytes:
    body = b"".join(socket.inet_aton(a) + struct.pack(">H", p) for a, p in recs)
    return struct.pack(">HH", 256, 4 + len(body)) + body


class Runner:
    """Consumes a collector's batches in a thread."""

    def __init__(self, source: Any) -> None:
        self.source = source
        self.batches: list[FlowBatch] = []
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            for b in self.source.batches():
                self.batches.append(b)
        except BaseException as exc:  # noqa: BLE001 - surfaced in the test thread
            self.error = exc

    def records(self) -> list[dict[str, Any]]:
        return [r for b in list(self.batches) for r in b.rows()]

    def wait(self, cond: Callable[[], bool], timeout: float = 5.0) -> bool:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if cond():
                return True
            time.sleep(0.02)
        return cond()

    def stop(self) -> None:
        self.source.close()
        self.thread.join(5)
        assert not self.thread.is_alive()
        assert self.error is None, self.error


def test_udp_delivers_and_ticks_when_idle() -> None:
    ctx = Context()
    col = UDPCollector(ctx, "ipfix+udp://127.0.0.1:0", "127.0.0.1", 0, idle=0.1)
    r = Runner(col)
    try:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.sendto(ipfix_msg([TEMPLATE, data_set(("10.0.0.1", 80), ("10.0.0.2", 443))]), col.address)
        assert r.wait(lambda: len(r.records()) == 2)
        n = len(r.batches)
        assert r.wait(lambda: len(r.batches) >= n + 2, timeout=2)  # idle ticks keep coming
        assert all(len(b) == 0 for b in r.batches[n:])
        sender = f"127.0.0.1:{s.getsockname()[1]}/0"
        assert {b.exporter for b in r.batches if len(b)} == {sender}
        assert col.rcvbuf >= 1 << 20
    finally:
        r.stop()
    assert ctx.stats.stage_in["decode"] == 2


def test_udp_two_exporters_same_template_id() -> None:
    ctx = Context()
    col = UDPCollector(ctx, "u", "127.0.0.1", 0, idle=0.1)
    r = Runner(col)
    try:
        a = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        b = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        other = struct.pack(">HHHH", 2, 12, 256, 1) + struct.pack(">HH", 7, 2)
        a.sendto(ipfix_msg([TEMPLATE]), col.address)
        b.sendto(ipfix_msg([other]), col.address)
        time.sleep(0.1)
        a.sendto(ipfix_msg([data_set(("1.1.1.1", 22))]), col.address)
        b.sendto(ipfix_msg([struct.pack(">HH", 256, 6) + struct.pack(">H", 5353)]), col.address)
        assert r.wait(lambda: len(r.records()) == 2)
        recs = [elements(x) for x in r.records()]
        # batches holding several exporters' records name each record's exporter
        senders = {r.pop("flowcep.exporter", None) for r in recs} - {None}
        assert senders <= {f"127.0.0.1:{s.getsockname()[1]}/0" for s in (a, b)}
        assert {"sourceIPv4Address": "1.1.1.1", "destinationTransportPort": 22} in recs
        assert {"sourceTransportPort": 5353} in recs
    finally:
        r.stop()


def test_udp_template_cache_survives_restart(tmp_path: Path) -> None:
    cache = tmp_path / "templates.json"
    ctx = Context()
    col = UDPCollector(ctx, "u", "127.0.0.1", 0, idle=0.1, template_cache=str(cache))
    r = Runner(col)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    s.sendto(ipfix_msg([TEMPLATE]), col.address)
    assert r.wait(lambda: ctx.stats.gauges.get("input.templates") == 1)
    r.stop()
    assert cache.exists()
    # a new collector (new port, same exporter socket) decodes data without a template resend
    ctx2 = Context()
    col2 = UDPCollector(ctx2, "u", "127.0.0.1", 0, idle=0.1, template_cache=str(cache))
    r2 = Runner(col2)
    try:
        s.sendto(ipfix_msg([data_set(("9.9.9.9", 53))], seq=0), col2.address)
        assert r2.wait(lambda: len(r2.records()) == 1)
        assert [elements(x) for x in r2.records()] == [{"sourceIPv4Address": "9.9.9.9", "destinationTransportPort": 53}]
        assert ctx2.stats.gauges["input.templates_from_cache"] == 1
    finally:
        r2.stop()
    # without the cache the same data waits for a template and is counted at close
    ctx3 = Context()
    col3 = UDPCollector(ctx3, "u", "127.0.0.1", 0, idle=0.1)
    r3 = Runner(col3)
    s.sendto(ipfix_msg([data_set(("9.9.9.9", 53))]), col3.address)
    assert r3.wait(lambda: ctx3.stats.gauges.get("input.early_sets_held") == 1)
    r3.stop()
    assert r3.records() == [] and ctx3.stats.drops["unknown-template"] == 1


def test_udp_port_in_use_is_one_clear_error() -> None:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    with pytest.raises(InputError, match=f"cannot listen on UDP 127.0.0.1:{port}"):
        UDPCollector(Context(), "u", "127.0.0.1", port)


def test_tcp_several_exporters_reconnect_and_garbage() -> None:
    ctx = Context()
    col = TCPCollector(ctx, "t", "127.0.0.1", 0, idle=0.1)
    r = Runner(col)
    try:
        c1 = socket.create_connection(col.address)
        c2 = socket.create_connection(col.address)
        # c1 sends its messages split at awkward places; c2 starts with garbage
        stream = ipfix_msg([TEMPLATE]) + ipfix_msg([data_set(("1.0.0.1", 1), ("1.0.0.2", 2))])
        for i in range(0, len(stream), 7):
            c1.sendall(stream[i:i + 7])
            time.sleep(0.002)
        c2.sendall(b"\xde\xad\xbe\xef" * 5 + ipfix_msg([TEMPLATE, data_set(("2.0.0.1", 3))]))
        assert r.wait(lambda: len(r.records()) == 3)
        assert ctx.stats.drops["malformed-stream"] == 1
        assert ctx.stats.gauges["input.garbage_bytes"] == 20
        # reconnect: a new transport session starts without templates (RFC 7011 10.4.2)
        c1_name = f"127.0.0.1:{c1.getsockname()[1]}"
        assert any(k[0] == c1_name for k in col.decoder.sessions)
        c1.close()
        assert r.wait(lambda: all(k[0] != c1_name for k in list(col.decoder.sessions)))
        c3 = socket.create_connection(col.address)
        c3.sendall(ipfix_msg([data_set(("3.0.0.1", 4))]))  # data without template on new session
        c3.sendall(ipfix_msg([TEMPLATE, data_set(("3.0.0.2", 5))], seq=1))
        assert r.wait(lambda: len(r.records()) == 5)  # early data decoded once template came
        assert ctx.stats.gauges["input.tcp_connections"] == 3
        c2.close()
        c3.close()
    finally:
        r.stop()
    assert sorted(x["sourceIPv4Address"] for x in r.records()) == [
        "1.0.0.1", "1.0.0.2", "2.0.0.1", "3.0.0.1", "3.0.0.2"]


def test_tcp_connection_closed_after_too_much_garbage() -> None:
    ctx = Context()
    col = TCPCollector(ctx, "t", "127.0.0.1", 0, idle=0.1, max_garbage=1000)
    r = Runner(col)
    try:
        c = socket.create_connection(col.address)
        c.sendall(b"\x01" * 5000)
        c.settimeout(3)
        # the collector closes its end: recv returns b"" (or the reset is reported)
        try:
            assert c.recv(10) == b""
        except ConnectionResetError:
            pass
        assert ctx.stats.gauges["input.garbage_bytes"] >= 1000
    finally:
        r.stop()


def test_specs_open_collectors_from_addresses(tmp_path: Path) -> None:
    specs = {s.name: s for s in ipfix_input.flowcep_register_inputs() + netflow_input.flowcep_register_inputs()}
    assert set(specs) == {"ipfix-file", "ipfix+udp", "ipfix+tcp", "netflow+udp"}
    assert specs["ipfix-file"].sniff is not None and specs["ipfix-file"].sniff(b"\x00\x0a\x00\x10")
    assert not specs["ipfix-file"].sniff(b"\xd4\xc3\xb2\xa1")  # a pcap
    ctx = Context()
    src = specs["netflow+udp"].open(parse_address("netflow+udp://127.0.0.1:0?batch_size=10"), {}, ctx)
    assert isinstance(src, UDPCollector) and src.batch_size == 10
    r = Runner(src)
    try:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        v5 = struct.pack(">HHIIIIBBH", 5, 1, 0, 1_700_000_000, 0, 0, 0, 0, 0) + socket.inet_aton("4.3.2.1") + bytes(44)
        s.sendto(v5, src.address)
        assert r.wait(lambda: [x.get("sourceIPv4Address") for x in r.records()] == ["4.3.2.1"])
    finally:
        r.stop()
    tcp = specs["ipfix+tcp"].open(parse_address("ipfix+tcp://127.0.0.1:0"), {"idle": "200 ms"}, ctx)
    assert isinstance(tcp, TCPCollector) and tcp.idle == pytest.approx(0.2)
    tcp.sock.close()


def test_corrupt_template_cache_is_one_clear_error(tmp_path: Path) -> None:
    cache = tmp_path / "t.json"
    cache.write_text("{not json")
    with pytest.raises(InputError, match="not a FlowCEP template cache"):
        UDPCollector(Context(), "u", "127.0.0.1", 0, template_cache=str(cache))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="kernel drop counters are Linux-only")
def test_kernel_drops_are_reported() -> None:
    ctx = Context()
    col = UDPCollector(ctx, "u", "127.0.0.1", 0, idle=0.1, rcvbuf=65536)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    big = ipfix_msg([TEMPLATE, data_set(*[("10.0.0.1", 1)] * 150)])  # ~1 KB
    sent = 0
    for _ in range(2000):  # nobody reads yet: the small socket buffer overflows
        s.sendto(big, col.address)
        sent += 1
    r = Runner(col)
    try:
        # everything sent is either received or counted as a kernel drop
        assert r.wait(lambda: len(r.records()) // 150 + ctx.stats.drops.get("kernel-drop", 0) == sent)
        assert ctx.stats.drops["kernel-drop"] > 0
        # after the overflow, later datagrams carry the count too (SO_RXQ_OVFL) - no double count
        for _ in range(5):
            s.sendto(big, col.address)
            sent += 1
        assert r.wait(lambda: len(r.records()) // 150 + ctx.stats.drops.get("kernel-drop", 0) == sent)
    finally:
        r.stop()
    assert len(r.records()) // 150 + ctx.stats.drops["kernel-drop"] == sent
    assert ctx.stats.gauges["kernel_drops[u]"] == ctx.stats.drops["kernel-drop"]


def test_udp_backlog_decoded_as_runs_equals_one_datagram_at_a_time() -> None:
    """Datagrams queued in the kernel are read into one buffer and decoded in stretches of
    one exporter's whole messages; odd datagrams (two messages in one, a length field past
    the datagram, garbage, NetFlow) are decoded alone. Records and counts must be those of
    a decoder fed one datagram at a time."""
    from flowcep_plugin.inputs.ipfix_decode import MessageDecoder

    ctx = Context()
    col = UDPCollector(ctx, "ipfix+udp://127.0.0.1:0", "127.0.0.1", 0, idle=0.1, batch_size=400)
    senders = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(2)]
    seq = [0, 0]

    def data(k: int, i: int, n: int) -> bytes:
        m = ipfix_msg([data_set(*((f"10.{k}.{i}.{j}", 1000 + j) for j in range(n)))], seq=seq[k])
        seq[k] += n
        return m

    plan: list[tuple[int, bytes]] = [(0, ipfix_msg([TEMPLATE])), (1, ipfix_msg([TEMPLATE]))]
    for i in range(40):
        k = 0 if i % 20 else 1
        plan.append((k, data(k, i, 20 + i % 5)))
        if i == 15:
            plan.append((0, data(0, 100, 2) + data(0, 101, 4)))  # two messages in one datagram
        if i == 20:
            m = data(0, 102, 6)
            plan.append((0, m[:2] + struct.pack(">H", len(m) + 9) + m[4:]))  # length past the end
        if i == 25:
            plan.append((0, b"\x00\x0a garbage that is not a message"))
        if i == 30:
            plan.append((0, struct.pack(">HHIIIIBBH", 5, 0, 0, 0, 0, 0, 0, 0, 0)))  # empty v5
    try:
        for s in senders:
            s.connect(col.address)
        names = [f"127.0.0.1:{s.getsockname()[1]}" for s in senders]
        for k, m in plan:  # all queued before the collector reads: one backlog
            senders[k].send(m)
        r = Runner(col)
        r.wait(lambda: sum(b.length for b in r.batches) >= 800, timeout=5)
        time.sleep(0.3)
        r.stop()
    finally:
        for s in senders:
            s.close()
    ref_ctx = Context()
    ref = MessageDecoder(ref_ctx, col.source, transport="udp", template_lifetime=1800.0)
    ref_rows: list[str] = []
    for k, m in plan:
        ref.feed(m, names[k])
        if ref.pending_records >= 400:
            ref_rows += [repr(sorted(row.items())) for b in ref.flush(merged=True) for row in b.rows()]
    ref_rows += [repr(sorted(row.items())) for b in ref.flush(merged=True) for row in b.rows()]
    got_rows = [repr(sorted(row.items())) for b in r.batches for row in b.rows()]
    assert len(got_rows) > 800
    assert sorted(got_rows) == sorted(ref_rows)
    assert dict(ctx.stats.drops) == dict(ref_ctx.stats.drops)
    assert ctx.stats.drops["malformed-message"] >= 1
    assert ctx.stats.gauges.get("input.sequence_lost") == ref_ctx.stats.gauges.get("input.sequence_lost")
