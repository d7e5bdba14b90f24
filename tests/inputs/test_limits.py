"""Bounded decoder and collector state: templates, fields, sessions, template memory, TCP
connections, message size, allow lists, draining the UDP socket at stop. Each limit is checked
where it bites, and each eviction or refusal must show in the stats."""

from __future__ import annotations

import json
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest

from flowcep_plugin.addresses import parse_address
from flowcep_plugin.context import Context
from flowcep_plugin.errors import ConfigError
from flowcep_plugin.inputs import ipfix as ipfix_input
from flowcep_plugin.inputs.collectors import TCPCollector, UDPCollector
from flowcep_plugin.inputs.ipfix_decode import MessageDecoder
from flowcep_plugin.inputs.limits import DecoderLimits, template_cost

from .test_collectors import TEMPLATE, Runner, data_set, ipfix_msg
from .test_ipfix_decode import dset, ip, msg, tset

ROOT = Path(__file__).resolve().parents[2]
T2 = [(8, 4), (11, 2)]  # sourceIPv4Address, destinationTransportPort


def rec(addr: str, port: int) -> bytes:
    return ip(addr) + struct.pack(">H", port)


def dec(**limits: object) -> tuple[MessageDecoder, Context]:
    ctx = Context()
    return MessageDecoder(ctx, "t", transport="udp", limits=DecoderLimits(**limits)), ctx  # type: ignore[arg-type]


def records(batches: list) -> list[dict]:  # type: ignore[type-arg]
    return [r for b in batches for r in b.rows()]


def test_template_with_too_many_fields_is_refused_and_its_data_counted() -> None:
    d, ctx = dec(max_fields=100)
    big = [(1, 8)] * 101
    got = d.decode(msg([tset(300, big), dset(300, bytes(8 * 101))]), "e:1")
    assert got == [] and not d.sessions[("e:1", 1, 10)].templates
    assert ctx.stats.gauges["input.templates_refused.too-many-fields"] == 1
    assert ctx.stats.drops["template-refused"] == 1
    # a template within the limit on the same session still works
    ok = d.decode(msg([tset(256, T2), dset(256, rec("10.0.0.1", 80))], seq=1), "e:1")
    assert [r["sourceIPv4Address"] for r in records(ok)] == ["10.0.0.1"]


def test_default_field_limit_refuses_a_64k_template() -> None:
    d, ctx = dec()
    # 16,000 fields fit one 64 KiB message: the whole template is what an attacker sends
    d.decode(msg([tset(256, [(1, 8)] * 16_000)]), "e:1")
    assert d.template_bytes == 0 and ctx.stats.gauges["input.templates_refused.too-many-fields"] == 1


def test_templates_per_session_keep_the_newest() -> None:
    d, ctx = dec(max_templates=4)
    for tid in range(256, 266):
        d.decode(msg([tset(tid, T2)], seq=0), "e:1")
    sess = d.sessions[("e:1", 1, 10)]
    assert sorted(sess.templates) == [262, 263, 264, 265]
    assert ctx.stats.gauges["input.templates_evicted"] == 6
    assert d.template_bytes == 4 * template_cost(2)


def test_fresh_sessions_are_evicted_before_an_established_exporter() -> None:
    d, ctx = dec(max_sessions=16)
    d.decode(msg([tset(256, T2), dset(256, rec("192.0.2.1", 1))]), "router:2055")
    for port in range(1000):
        d.decode(msg([tset(256, T2)]), f"10.9.9.9:{port}")
    assert len(d.sessions) == 16
    assert ("router:2055", 1, 10) in d.sessions
    assert ctx.stats.gauges["input.sessions_evicted"] == 1000 + 1 - 16
    later = d.decode(msg([dset(256, rec("192.0.2.2", 2))], seq=1), "router:2055")
    assert [r["sourceIPv4Address"] for r in records(later)] == ["192.0.2.2"]


def test_template_budget_refuses_rather_than_evicting_a_working_exporter() -> None:
    budget = 20 * template_cost(50)
    d, ctx = dec(max_template_bytes=budget)
    d.decode(msg([tset(256, T2), dset(256, rec("192.0.2.1", 1))]), "router:2055")
    for port in range(200):
        d.decode(msg([tset(300, [(1, 8)] * 50), dset(300, bytes(400))]), f"10.9.9.9:{port}")
    assert d.template_bytes <= budget
    assert 256 in d.sessions[("router:2055", 1, 10)].templates
    later = d.decode(msg([dset(256, rec("192.0.2.2", 2))], seq=1), "router:2055")
    assert len(records(later)) == 1
    # the flooders delivered data, so they are established: the budget refuses, counted
    assert ctx.stats.gauges["input.templates_refused.template-budget"] > 0
    assert ctx.stats.drops["template-refused"] > 0


def test_silent_udp_sessions_and_expired_templates_are_swept() -> None:
    d, ctx = dec(session_timeout=60.0)
    d.template_lifetime = 120.0
    d.decode(msg([tset(256, T2), dset(256, rec("192.0.2.1", 1))]), "a:1")
    d.decode(msg([tset(256, T2)]), "b:1")
    d._sweep(time.monotonic() + 61)
    assert d.sessions == {} and d.template_bytes == 0
    assert ctx.stats.gauges["input.sessions_expired"] == 2


def test_empty_data_sets_waiting_for_a_template_are_bounded() -> None:
    d, ctx = dec()
    d.max_buffered_bytes = 64 * 1024
    empty = msg([struct.pack(">HH", 999, 4)] * 1000)  # data sets with no body, never a template
    for _ in range(100):
        d.decode(empty, "e:1")
    assert sum(len(v) for v in d._early.values()) * 96 <= 64 * 1024
    assert ctx.stats.drops["unknown-template"] > 90_000


def test_options_and_limits_come_from_the_address() -> None:
    a = parse_address("ipfix+udp://127.0.0.1:0?max_sessions=7&max_fields=9&allow=10.0.0.0/8,192.0.2.1")
    opts = ipfix_input.udp_options(a, {})
    assert opts["limits"].max_sessions == 7 and opts["limits"].max_fields == 9
    assert [str(n) for n in opts["allow"]] == ["10.0.0.0/8", "192.0.2.1/32"]
    with pytest.raises(ConfigError, match="allow: 'nope'"):
        ipfix_input.udp_options(parse_address("ipfix+udp://127.0.0.1:0?allow=nope"), {})
    with pytest.raises(ConfigError, match="max_message"):
        ipfix_input.tcp_options(parse_address("ipfix+tcp://127.0.0.1:0?max_message=70000"), {})
    t = ipfix_input.tcp_options(parse_address("ipfix+tcp://127.0.0.1:0"), {})
    assert t["max_connections"] == 256 and t["partial_timeout"] == 30.0


def test_udp_allow_list_drops_other_exporters_counted() -> None:
    ctx = Context()
    col = UDPCollector(ctx, "u", "127.0.0.1", 0, idle=0.1, allow=ipfix_input.parse_allow("192.0.2.0/24", "t"))
    r = Runner(col)
    try:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        for _ in range(5):
            s.sendto(ipfix_msg([TEMPLATE, data_set(("10.0.0.1", 80))]), col.address)
        assert r.wait(lambda: ctx.stats.drops.get("unauthorized-exporter", 0) == 5)
    finally:
        r.stop()
    assert r.records() == []
    ctx2 = Context()
    col2 = UDPCollector(ctx2, "u", "127.0.0.1", 0, idle=0.1, allow=ipfix_input.parse_allow(["127.0.0.0/8"], "t"))
    r2 = Runner(col2)
    try:
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(
            ipfix_msg([TEMPLATE, data_set(("10.0.0.1", 80))]), col2.address)
        assert r2.wait(lambda: len(r2.records()) == 1)
    finally:
        r2.stop()


def test_udp_stop_drains_the_socket() -> None:
    """What the kernel holds when the input is stopped is decoded, not lost with the socket."""
    ctx = Context()
    col = UDPCollector(ctx, "u", "127.0.0.1", 0, idle=0.1)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.sendto(ipfix_msg([TEMPLATE]), col.address)
    for i in range(500):
        s.sendto(ipfix_msg([data_set(("10.0.0.1", i), ("10.0.0.2", i))], seq=2 * i), col.address)
    time.sleep(0.2)
    col.close()  # SIGTERM closes inputs before their loop reads anything more
    got = [b for b in col.batches()]
    assert sum(len(b) for b in got) == 1000
    assert ctx.stats.gauges["input.udp_drained_at_stop"] == 501


def _connect(addr: tuple[str, int]) -> socket.socket:
    c = socket.create_connection(addr, timeout=5)
    return c


def test_idle_tcp_connections_do_not_lock_out_an_exporter() -> None:
    ctx = Context()
    col = TCPCollector(ctx, "t", "127.0.0.1", 0, idle=0.05, max_connections=50, max_connections_per_source=400)
    r = Runner(col)
    idle: list[socket.socket] = []
    try:
        exporter = _connect(col.address)
        exporter.sendall(ipfix_msg([TEMPLATE, data_set(("10.0.0.1", 1))]))
        assert r.wait(lambda: len(r.records()) == 1)
        for _ in range(300):  # an attacker opens connections and sends nothing
            idle.append(_connect(col.address))
        assert r.wait(lambda: ctx.stats.gauges.get("input.tcp_closed.connection-cap", 0) >= 250)
        exporter.sendall(ipfix_msg([data_set(("10.0.0.2", 2))], seq=1))
        assert r.wait(lambda: len(r.records()) == 2), ctx.stats.snapshot()
        late = _connect(col.address)  # a new exporter still gets in
        late.sendall(ipfix_msg([TEMPLATE, data_set(("10.0.0.3", 3))]))
        assert r.wait(lambda: len(r.records()) == 3)
        assert len(col._conns) <= 50
    finally:
        for c in idle:
            c.close()
        r.stop()


def test_tcp_per_source_cap_and_partial_message_timeout() -> None:
    ctx = Context()
    col = TCPCollector(ctx, "t", "127.0.0.1", 0, idle=0.05, max_connections_per_source=3, partial_timeout=0.3)
    r = Runner(col)
    conns: list[socket.socket] = []
    try:
        for _ in range(6):
            conns.append(_connect(col.address))
        assert r.wait(lambda: ctx.stats.gauges.get("input.tcp_closed.per-source-cap", 0) == 3)
        assert r.wait(lambda: len(col._conns) <= 3)
        # half a message, then nothing: closed after partial_timeout, and counted
        conns[-1].sendall(ipfix_msg([TEMPLATE])[:10])
        assert r.wait(lambda: ctx.stats.gauges.get("input.tcp_closed.partial-timeout", 0) >= 1, timeout=3)
    finally:
        for c in conns:
            c.close()
        r.stop()


def test_tcp_message_longer_than_the_limit_closes_the_connection() -> None:
    ctx = Context()
    col = TCPCollector(ctx, "t", "127.0.0.1", 0, idle=0.05, max_message=100)
    r = Runner(col)
    try:
        c = _connect(col.address)
        c.sendall(ipfix_msg([TEMPLATE, data_set(*[("10.0.0.1", i) for i in range(20)])]))
        assert r.wait(lambda: ctx.stats.drops.get("oversized-message", 0) == 1)
        assert r.wait(lambda: not col._conns)
    finally:
        r.stop()
    assert r.records() == []


def test_tcp_allow_list() -> None:
    ctx = Context()
    col = TCPCollector(ctx, "t", "127.0.0.1", 0, idle=0.05, allow=ipfix_input.parse_allow("10.0.0.0/8", "t"))
    r = Runner(col)
    try:
        c = _connect(col.address)
        c.sendall(ipfix_msg([TEMPLATE, data_set(("10.0.0.1", 1))]))
        assert r.wait(lambda: ctx.stats.drops.get("unauthorized-exporter", 0) == 1)
    finally:
        r.stop()
    assert r.records() == []


def test_template_flood_from_thousands_of_ports_keeps_memory_bounded() -> None:
    """The issue's acceptance: RSS under 300 MB, the normal exporter's records all arrive.
    Without limits this flood (1.5k ports x 500-field templates) took ~600 MB."""
    code = ("import json, sys; sys.path.insert(0, 'benchmarks'); import fuzz_template_flood as f; "
            "print(json.dumps(f.run(1500, 500, 1)))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=240)
    assert out.returncode == 0, out.stderr[-2000:]
    res = json.loads(out.stdout.strip().splitlines()[-1])
    assert res["error"] is None
    assert res["rss_mb_peak"] < 300, res
    assert res["normal_received"] == res["normal_sent"], res
    assert res["counters"].get("input.sessions_evicted", 0) > 0, res


def test_tcp_stop_reads_what_connections_hold() -> None:
    ctx = Context()
    col = TCPCollector(ctx, "t", "127.0.0.1", 0, idle=0.05)
    c = _connect(col.address)
    c.sendall(ipfix_msg([TEMPLATE, data_set(*[("10.0.0.1", i) for i in range(50)])]))
    time.sleep(0.2)
    col.close()  # stopped before the collector's loop ever ran
    got = sum(len(b) for b in col.batches())
    c.close()
    assert got == 50
    assert ctx.stats.gauges["input.tcp_drained_at_stop"] >= 1


def test_unique_long_strings_do_not_grow_the_value_cache() -> None:
    d, _ctx = dec()
    fields = [(8, 4), (82, 0xFFFF)]  # sourceIPv4Address, interfaceName (string, variable length)
    for i in range(50):
        text = (b"%06d" % i) * 2000  # 12 kB, unique
        rec = ip("10.0.0.1") + b"\xff" + struct.pack(">H", len(text)) + text
        (r,) = records(d.decode(msg([tset(256, fields), dset(256, rec)], seq=i), "e:1"))
        assert r["interfaceName"] == text.decode()
    assert sum(len(k) for k in d.caches.text) < 50_000


def test_per_exporter_gauges_are_bounded() -> None:
    d, ctx = dec(max_sessions=100_000)
    for port in range(2000):  # every spoofed port shows a sequence gap
        d.decode(msg([tset(256, T2)], seq=5), f"10.9.9.9:{port}")
        d.decode(msg([tset(256, T2)], seq=50), f"10.9.9.9:{port}")
    per_session = [k for k in ctx.stats.gauges if k.startswith("sequence_lost[")]
    assert len(per_session) == 256
    assert ctx.stats.gauges["input.sequence_lost"] == 2000 * 45
    assert ctx.stats.gauges["input.session_gauges_not_kept"] > 0


def test_fragment_reassembly_holds_bounded_bytes() -> None:
    from flowcep_plugin.inputs import pcap_export

    r = pcap_export._Reassembler()
    payload = bytes(1480)
    for ident in range(3000):  # many datagrams, first fragments only: never complete
        for frag in range(20):
            hdr = bytearray(20)
            hdr[0] = 0x45
            hdr[2:4] = (20 + len(payload)).to_bytes(2, "big")
            hdr[4:6] = ident.to_bytes(2, "big")
            hdr[6:8] = (0x2000 | (frag * 185)).to_bytes(2, "big")  # MF, offset in 8-byte units
            hdr[9] = 17
            hdr[12:20] = bytes([10, 0, 0, 1, 10, 0, 0, 2])
            assert r.add(bytes(hdr) + payload, 0) is None
    assert r.held <= pcap_export.MAX_FRAGMENT_BYTES
    assert r.held == sum(len(p) for parts in r.parts.values() for p in parts.values())
    assert r.dropped > 0


N_STOPPED = 20_000
TIMED = struct.pack(">HHHH", 2, 20, 256, 3) + struct.pack(">HHHHHH", 8, 4, 11, 2, 153, 8)


def _timed_set(i: int, n: int = 10) -> bytes:
    now = int(time.time() * 1000)
    body = b"".join(ip("10.9.0.1") + struct.pack(">HQ", i & 0xFFFF, now) for _ in range(n))
    return struct.pack(">HH", 256, 4 + len(body)) + body


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="SIGSTOP/SIGTERM choreography")
@pytest.mark.parametrize("verb", ["dump", "epl"])
def test_sigterm_decodes_what_the_socket_holds(verb: str, tmp_path: Path) -> None:
    """End to end (``flowcep dump`` and the pipeline behind ``flowcep epl``): datagrams that
    reached the kernel while the collector was stopped are all processed after SIGTERM, not
    lost when the socket closes. Without the drain only the first receive loop's worth (8,200
    of 200,000 records here) came out."""
    import os
    import signal

    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    address = f"ipfix+udp://127.0.0.1:{port}"
    module = tmp_path / "rows.epl"
    module.write_text("@Name('Out') select sourceIPv4Address from Flow\n")
    cmd = ["dump", address] if verb == "dump" else ["epl", str(module), "-i", address]
    out = tmp_path / "out.jsonl"
    with open(out, "wb") as fh:
        proc = subprocess.Popen([sys.executable, "-m", "flowcep_plugin.cli", *cmd], stdout=fh,
                                stderr=subprocess.PIPE, cwd=ROOT)
        try:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:  # listening once the port cannot be bound
                probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                try:
                    probe.bind(("127.0.0.1", port))
                except OSError:
                    break
                finally:
                    probe.close()
                time.sleep(0.1)
            time.sleep(0.5)  # the collector is in its receive loop
            os.kill(proc.pid, signal.SIGSTOP)
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.sendto(ipfix_msg([TIMED]), ("127.0.0.1", port))
            # more than one receive loop reads (4096 datagrams) before the stop reaches the input
            for i in range(N_STOPPED):
                s.sendto(ipfix_msg([_timed_set(i)], seq=10 * i), ("127.0.0.1", port))
            os.kill(proc.pid, signal.SIGTERM)
            os.kill(proc.pid, signal.SIGCONT)
            proc.wait(timeout=90)
        finally:
            if proc.poll() is None:
                proc.kill()
    lines = [json.loads(x) for x in out.read_text().splitlines() if x.strip()]
    assert sum(1 for r in lines if r.get("sourceIPv4Address") == "10.9.0.1") == 10 * N_STOPPED
