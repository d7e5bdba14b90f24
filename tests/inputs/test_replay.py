"""Replay: data.ipfix sent to our TCP/UDP collectors arrives whole; looping keeps sequence
numbers continuous; --retime moves every timestamp by the same per-message offset."""

from __future__ import annotations

import io
import struct
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from flowcep_plugin.addresses import parse_address
from flowcep_plugin.cli import main
from flowcep_plugin.context import Context
from flowcep_plugin.errors import ConfigError, InputError
from flowcep_plugin.inputs.collectors import TCPCollector, UDPCollector
from flowcep_plugin.inputs.ipfix import IPFIXFileSource
from flowcep_plugin.inputs.replay import MessageRewriter, Replayer
from flowcep_plugin.ipfix_writer import IPFIXWriter


class Sink:
    def __init__(self, source: Any) -> None:
        self.source = source
        self.rows: list[dict[str, Any]] = []
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        for b in self.source.batches():
            self.rows.extend(b.rows())

    def wait(self, n: int, timeout: float = 10.0) -> None:
        end = time.monotonic() + timeout
        while len(self.rows) < n and time.monotonic() < end:
            time.sleep(0.02)

    def stop(self) -> None:
        self.source.close()
        self.thread.join(5)


def _key(r: dict[str, Any]) -> tuple:
    return tuple(sorted((k, str(v)) for k, v in r.items()))


@pytest.mark.shared
def test_replay_upstream_over_tcp_arrives_whole(upstream_ipfix: Path) -> None:
    expected = [r for b in IPFIXFileSource(str(upstream_ipfix), Context()).batches() for r in b.rows()]
    ctx = Context()
    col = TCPCollector(ctx, "t", "127.0.0.1", 0, idle=0.1)
    sink = Sink(col)
    try:
        rep = Replayer(str(upstream_ipfix), parse_address(f"ipfix+tcp://127.0.0.1:{col.address[1]}"),
                       Context(), speed=0, loops=2)
        st = rep.run()
        sink.wait(2 * 13_898)
    finally:
        sink.stop()
    assert st.messages == 2 * 606 and st.records == 2 * 13_898 and st.loops == 2
    assert len(sink.rows) == 2 * 13_898
    assert sorted(map(_key, sink.rows)) == sorted(map(_key, expected + expected))
    # sequence numbers continue across the loop: no loss, nothing out of order
    assert "input.sequence_lost" not in ctx.stats.gauges
    assert "input.sequence_out_of_order" not in ctx.stats.gauges


def _sample(path: Path, export: int = 1_600_000_000) -> list[tuple]:
    rows = [(f"10.0.0.{i}", export * 1000 - 5000 + i, export - 3, (export << 0) * 1_000_000 + 250_000 + i,
             f"/u{i}") for i in range(50)]
    with path.open("wb") as fp:
        w = IPFIXWriter(fp)
        w.add_template(256, [("sourceIPv4Address", 4), ("flowEndMilliseconds", 8), ("flowStartSeconds", 4),
                             ("flowEndMicroseconds", 8), ("HTTPRequestURL", 65535)])
        w.write(256, rows[:25], export)
        w.write(256, rows[25:], export + 1)
    return rows


def test_retime_shifts_every_timestamp_over_udp(tmp_path: Path) -> None:
    path = tmp_path / "s.ipfix"
    rows = _sample(path)
    ctx = Context()
    col = UDPCollector(ctx, "u", "127.0.0.1", 0, idle=0.1)
    sink = Sink(col)
    before = time.time()
    try:
        Replayer(str(path), parse_address(f"ipfix+udp://127.0.0.1:{col.address[1]}"), Context(),
                 speed=0, retime=True).run()
        sink.wait(50)
    finally:
        sink.stop()
    after = time.time()
    got = {r["sourceIPv4Address"]: r for r in sink.rows}
    assert len(got) == 50
    for ip, end_ms, start_s, end_us, url in rows:
        r = got[ip]
        export = 1_600_000_000 if int(ip.rsplit(".", 1)[1]) < 25 else 1_600_000_001
        shift_ms = r["flowEndMilliseconds"] - end_ms
        # the shift moves the message's export time to the moment it was sent
        assert before * 1000 - 1000 <= export * 1000 + shift_ms <= after * 1000 + 1000
        assert r["flowStartSeconds"] - start_s in (shift_ms // 1000, shift_ms // 1000 + 1)
        assert abs((r["flowEndMicroseconds"] - end_us) - shift_ms * 1000) <= 1
        assert r["HTTPRequestURL"] == url  # untouched


def test_rewriter_counts_records_and_renumbers(tmp_path: Path) -> None:
    fp = io.BytesIO()
    w = IPFIXWriter(fp, observation_domain=3)
    w.add_template(256, [("sourceIPv4Address", 4), ("interfaceName", 65535)])
    w.write(256, [("1.1.1.1", "a"), ("2.2.2.2", "bb"), ("3.3.3.3", "")], 10)
    w.write(256, [("4.4.4.4", "x" * 300)], 11)
    data = fp.getvalue()
    first = int.from_bytes(data[2:4], "big")
    m1, m2 = data[:first], data[first:]
    rw = MessageRewriter()
    out1, n1 = rw.rewrite(m1)
    out2, n2 = rw.rewrite(m2)
    out3, n3 = rw.rewrite(m1)  # second pass
    assert (n1, n2, n3) == (3, 1, 3)
    seqs = [struct.unpack_from(">I", m, 8)[0] for m in (out1, out2, out3)]
    assert seqs == [0, 3, 4]
    assert out1 == m1 and out2 == m2  # first pass unchanged


def test_replay_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(ConfigError):
        Replayer("x", parse_address("jsonl:out"), Context())
    path = tmp_path / "s.ipfix"
    _sample(path)
    # nothing listens on this TCP port
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    with pytest.raises(InputError, match="cannot connect"):
        Replayer(str(path), parse_address(f"ipfix+tcp://127.0.0.1:{port}"), Context(), speed=0).run()
    assert main(["replay", str(tmp_path / "missing.ipfix"), "--to", "ipfix+udp://127.0.0.1:9"]) == 2
    assert "no such file" in capsys.readouterr().err


def test_replay_paces_by_export_time(tmp_path: Path) -> None:
    path = tmp_path / "s.ipfix"
    _sample(path)  # two messages one export-second apart
    ctx = Context()
    col = UDPCollector(ctx, "u", "127.0.0.1", 0, idle=0.1)
    sink = Sink(col)
    try:
        t0 = time.monotonic()
        Replayer(str(path), parse_address(f"ipfix+udp://127.0.0.1:{col.address[1]}"), Context(),
                 speed=4).run()
        took = time.monotonic() - t0
        sink.wait(50)
    finally:
        sink.stop()
    assert 0.2 <= took < 1.0  # 1 s of export time at 4x
    assert len(sink.rows) == 50


def test_a_stop_ends_a_tcp_replay_blocked_on_a_collector_that_stopped_reading() -> None:
    """A peer that accepts but never reads fills the socket buffers; a SIGTERM (the stop
    event) must still end the replay at once, not after the send timeout."""
    import socket

    demo = Path(__file__).resolve().parents[2] / "flowcep_plugin" / "data" / "demo.ipfix"
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        port = server.getsockname()[1]
        rep = Replayer(str(demo), parse_address(f"ipfix+tcp://127.0.0.1:{port}"), Context(), speed=0, loops=0)
        stop = threading.Event()
        result: dict[str, Any] = {}

        def run() -> None:
            try:
                result["stats"] = rep.run(stop)
            except Exception as exc:  # noqa: BLE001 - reported by the assertion below
                result["error"] = exc

        t = threading.Thread(target=run, daemon=True)
        t.start()
        peer, _ = server.accept()  # accepted, never read
        try:
            deadline = time.monotonic() + 20
            sent = -1
            while time.monotonic() < deadline:  # until the buffers are full and sending stalls
                time.sleep(0.3)
                if rep.stats.bytes == sent:
                    break
                sent = rep.stats.bytes
            assert t.is_alive(), result
            t0 = time.monotonic()
            stop.set()
            t.join(5)
            took = time.monotonic() - t0
        finally:
            peer.close()
    assert not t.is_alive() and took < 2, took
    assert "error" not in result, result
    assert result["stats"].messages > 0
