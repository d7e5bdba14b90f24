"""Loopback UDP collection: the highest rate received without loss, and the receiver's CPU.

A sender process replays the data messages of ../shared/flowcep-upstream/data.ipfix to
127.0.0.1 at a fixed record rate for a few seconds; the receiver counts what it decoded.
Rates step up until records go missing. Two receivers are measured in the same run, taking
turns at each rate (which goes first alternates): FlowCEP's ``UDPCollector`` (typed columns,
batching, sequence accounting) and a plain ``recv`` + ``struct.iter_unpack`` loop (the floor
a Python collector pays). Loss is what the sender sent and the receiver did not decode; the
kernel's drop counter of the socket (/proc/net/udp) is printed beside it.

On a shared machine the lossless rate mostly measures the neighbours, so each step also
prints the receiving thread's CPU time (``time.thread_time``: receive and decode) as records
per CPU-second: what one core would sustain. ``--tree PATH`` imports ``flowcep_plugin`` from
another checkout (a before/after comparison with the same bench).

    .venv/bin/python benchmarks/bench_udp.py [--seconds 2] [--rates 100000,200000,...] [--tree PATH]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import queue
import socket
import statistics
import struct
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
_TREE = sys.argv[sys.argv.index("--tree") + 1] if "--tree" in sys.argv[:-1] else str(ROOT)
sys.path.insert(0, _TREE)

from run_reads import RUN_READS  # noqa: E402

from flowcep_plugin.context import Context  # noqa: E402
from flowcep_plugin.inputs.collectors import UDPCollector  # noqa: E402
from flowcep_plugin.inputs.ipfix_decode import MessageDecoder  # noqa: E402
from flowcep_plugin.records import FlowBatch  # noqa: E402

DEFAULT = ROOT.parent / "shared" / "flowcep-upstream" / "data.ipfix"


def load_messages(path: Path) -> tuple[list[bytes], list[bytes], list[int]]:
    """(template messages, data-only messages, records per data message)."""
    data = path.read_bytes()
    msgs = []
    off = 0
    while off < len(data):
        ln = int.from_bytes(data[off + 2:off + 4], "big")
        msgs.append(data[off:off + ln])
        off += ln
    dec = MessageDecoder(Context(), "count")
    tmpl: list[bytes] = []
    body: list[bytes] = []
    counts: list[int] = []
    for m in msgs:
        n = sum(len(b) for b in dec.decode(m, "x"))
        has_template = any(struct.unpack_from(">H", m, p)[0] == 2 for p in _set_offsets(m))
        (tmpl if has_template else body).append(m)
        if not has_template:
            counts.append(n)
    return tmpl, body, counts


def _set_offsets(m: bytes) -> list[int]:
    out, p = [], 16
    while p + 4 <= len(m):
        out.append(p)
        p += struct.unpack_from(">H", m, p + 2)[0] or len(m)
    return out


def sender(port: int, rate: int, seconds: float, tmpl: list[bytes], body: list[bytes],
           counts: list[int], result: mp.Queue[int]) -> None:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.connect(("127.0.0.1", port))
    for m in tmpl:
        s.send(m)
    time.sleep(0.2)
    sent = 0
    start = time.perf_counter()
    end = start + seconds
    i = 0
    nb = len(body)
    while True:
        now = time.perf_counter()
        if now >= end:
            break
        allowed = int((now - start) * rate)
        while sent < allowed:
            s.send(body[i])
            sent += counts[i]
            i += 1
            if i == nb:
                i = 0
        time.sleep(0.0005)
    result.put(sent)


def plain_receiver(sock: socket.socket, stop: threading.Event, out: list[float]) -> None:
    hdr, seth, fld = struct.Struct(">HHIII"), struct.Struct(">HH"), struct.Struct(">HH")
    templates: dict[int, struct.Struct] = {}
    codes = {1: "B", 2: "H", 4: "I", 8: "Q"}
    sock.settimeout(0.2)
    n = 0
    while not stop.is_set():
        try:
            buf = sock.recv(65535)
        except TimeoutError:
            continue
        length = hdr.unpack_from(buf, 0)[1]
        pos = 16
        while pos + 4 <= length:
            sid, slen = seth.unpack_from(buf, pos)
            if sid == 2:
                p = pos + 4
                while p + 4 <= pos + slen:
                    tid, cnt = fld.unpack_from(buf, p)
                    p += 4
                    fmt = ">"
                    for _ in range(cnt):
                        eid, ln = fld.unpack_from(buf, p)
                        p += 8 if eid & 0x8000 else 4
                        fmt += codes.get(ln, f"{ln}s")
                    templates[tid] = struct.Struct(fmt)
            elif sid >= 256 and sid in templates:
                st = templates[sid]
                cnt = (slen - 4) // st.size
                n += len(list(st.iter_unpack(buf[pos + 4:pos + 4 + cnt * st.size])))
            pos += slen
        out[0] = n
        out[1] = time.thread_time()


def _rcvbuf(sock: socket.socket) -> None:
    """The collector's receive buffer (32 MiB, forced past net.core.rmem_max where allowed)."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32 << 20)
    try:
        sock.setsockopt(socket.SOL_SOCKET, getattr(socket, "SO_RCVBUFFORCE", 33), 32 << 20)
    except OSError:
        pass


def kernel_drops(sock: socket.socket) -> int:
    """The socket's drop counter in /proc/net/udp (Linux), -1 when unknown."""
    inode = str(os.fstat(sock.fileno()).st_ino)
    try:
        with open("/proc/net/udp") as fh:
            for line in fh:
                parts = line.split()
                if len(parts) >= 13 and parts[9] == inode:
                    return int(parts[12])
    except OSError:
        pass
    return -1


class ThreadedPrototype(UDPCollector):
    """A prototype, not the shipped collector: a receiving thread that only calls
    ``recvfrom`` and queues the datagrams, and the collector's decoding (stretches of one
    exporter's whole-message IPFIX datagrams as runs) in the consuming thread. It measures
    what moving the receive out of the decoding thread gives under the GIL. Its queue is
    unbounded and it skips the allow list, size limit and SO_RXQ_OVFL accounting, which is
    why it is here and not in ``collectors.py``."""

    def batches(self) -> Iterator[FlowBatch]:
        q: queue.SimpleQueue[tuple[bytes, Any]] = queue.SimpleQueue()
        sock = self.sock
        sock.settimeout(0.2)

        def receive() -> None:
            while not self._closed:
                try:
                    q.put(sock.recvfrom(65535))
                except OSError:  # TimeoutError included
                    continue

        th = threading.Thread(target=receive, daemon=True)
        th.start()
        dec = self.decoder
        while not self._closed:
            items = []
            try:
                items.append(q.get(timeout=0.1))
                while len(items) < 4096:
                    items.append(q.get_nowait())
            except queue.Empty:
                pass
            runs: list[tuple[list[bytes], str, bool]] = []
            for data, addr in items:
                name = f"{addr[0]}:{addr[1]}"
                whole = len(data) >= 16 and data[:2] == b"\x00\x0a" and int.from_bytes(data[2:4]) == len(data)
                if whole and runs and runs[-1][1] == name and runs[-1][2]:
                    runs[-1][0].append(data)
                else:
                    runs.append(([data], name, whole))
            for parts, name, _whole in runs:
                run = b"".join(parts)
                at = 0
                while at < len(run):
                    at = dec.feed(run, name, at, self.batch_size)
                    if dec.pending_records >= self.batch_size:
                        yield from self._out()
            if dec.buffered():
                yield from self._out()
            elif not items:
                yield FlowBatch({}, 0, self.source)
        th.join(1)


def run_rate(kind: str, rate: int, seconds: float, tmpl: list[bytes], body: list[bytes],
             counts: list[int]) -> tuple[int, int, float, int]:
    """(sent, received, receiver CPU seconds, kernel drops). The CPU is the receiving
    thread's, or the process's for the two-thread prototype (its main thread only sleeps)."""
    received: list[float] = [0, 0.0]  # records, the receiving thread's CPU time so far
    stop = threading.Event()
    cpu0 = [0.0]
    if kind in ("flowcep", "threads"):
        ctx = Context()
        col = (ThreadedPrototype if kind == "threads" else UDPCollector)(ctx, "bench", "127.0.0.1", 0, idle=0.2)
        port = col.address[1]
        sock = col.sock
        clock = time.process_time if kind == "threads" else time.thread_time

        def consume() -> None:
            cpu0[0] = clock()
            for b in col.batches():
                received[0] += b.length
                received[1] = clock()

        th = threading.Thread(target=consume, daemon=True)
    else:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        _rcvbuf(sock)
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]

        def plain() -> None:
            cpu0[0] = time.thread_time()
            plain_receiver(sock, stop, received)

        th = threading.Thread(target=plain, daemon=True)
    th.start()
    q: mp.Queue[int] = mp.Queue()
    p = mp.Process(target=sender, args=(port, rate, seconds, tmpl, body, counts, q))
    p.start()
    sent = q.get(timeout=seconds + 30)
    p.join()
    deadline = time.monotonic() + 5
    while received[0] < sent and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)
    drops = kernel_drops(sock)
    if kind in ("flowcep", "threads"):
        col.close()
    stop.set()
    th.join(5)
    if kind == "plain":
        sock.close()
    return sent, int(received[0]), max(received[1] - cpu0[0], 1e-9), drops


def backlog(kind: str, tmpl: list[bytes], body: list[bytes], counts: list[int], n: int) -> tuple[int, float]:
    """Receive + decode capacity without a sender racing the receiver: ``n`` datagrams are
    queued in the socket first (the kernel holds them), then the receiver drains them.
    ``flowcep`` is the collector as ``flowcep run`` uses it: ``lazy_columns`` on (the
    default), and the columns the default run reads (``bench_ipfix_decode.RUN_READS``) plus
    the event times made into lists in this thread, so no work moves out of the measurement;
    ``flowcep-lists`` turns ``lazy_columns`` off (every column a list, made in the decoder);
    ``flowcep-lazy`` reads none (decode only); ``flowcep-lazy-read`` reads every column.
    Returns (records decoded, the receiving thread's CPU seconds)."""
    sent = 0
    read_all = kind == "flowcep-lazy-read"
    run_reads = RUN_READS if kind == "flowcep" else ()
    if kind.startswith("flowcep"):
        col = UDPCollector(Context(), "bench", "127.0.0.1", 0, idle=0.2)
        col.decoder.lazy_columns = kind != "flowcep-lists"
        address = col.address
    else:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        _rcvbuf(sock)
        sock.bind(("127.0.0.1", 0))
        address = sock.getsockname()[:2]
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.connect(address)
    for m in tmpl:
        s.send(m)
    for i in range(n):
        s.send(body[i % len(body)])
        sent += counts[i % len(body)]
    s.close()
    got = 0
    t = time.thread_time()
    if kind.startswith("flowcep"):
        last = time.monotonic()
        for b in col.batches():
            if read_all:
                cols = b.columns
                for name in list(cols):
                    cols[name]
            elif run_reads:
                for name in run_reads:
                    b.columns.get(name)
                b.event_times()
            got += b.length
            secs = time.thread_time() - t
            if b.length:
                last = time.monotonic()
            if got >= sent or time.monotonic() - last > 1.0:  # all in, or what is left was lost
                break
        col.close()
    else:
        out: list[float] = [0, 0.0]
        start: list[float] = [0.0]
        stop = threading.Event()

        def plain() -> None:
            start[0] = time.thread_time()
            plain_receiver(sock, stop, out)

        th = threading.Thread(target=plain, daemon=True)
        th.start()
        deadline = time.monotonic() + 30
        seen, last = 0.0, time.monotonic()
        while out[0] < sent and time.monotonic() < deadline and time.monotonic() - last < 1.0:
            time.sleep(0.01)
            if out[0] != seen:
                seen, last = out[0], time.monotonic()
        stop.set()
        th.join(5)
        got = int(out[0])
        secs = out[1] - start[0] if out[1] else 1e-9
        sock.close()
    if got != sent:
        print(f"  ({kind}: {sent - got:,} records of the backlog lost: the kernel buffer was too small)")
    return got, secs


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--file", default=str(DEFAULT))
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--rates", default="250000,500000,1000000,1500000,2000000,3000000,4000000",
                    help="records/s to step through ('' : only the backlog measurement)")
    ap.add_argument("--tree", default=str(ROOT), help="import flowcep_plugin from this checkout")
    ap.add_argument("--threads", action="store_true",
                    help="also the two-thread prototype (a receiving thread beside the decoding one)")
    ap.add_argument("--backlog", type=int, default=8000,
                    help="datagrams queued before the receiver starts, for the CPU capacity (0: skip)")
    args = ap.parse_args()
    tmpl, body, counts = load_messages(Path(args.file))
    rates = [int(r) for r in args.rates.split(",") if r.strip()]
    if args.backlog:
        order = ("plain", "flowcep", "flowcep-lists", "flowcep-lazy", "flowcep-lazy-read")
        cap: dict[str, list[float]] = {k: [] for k in order}
        for rnd in range(3):
            for kind in (order if rnd % 2 == 0 else order[::-1]):
                got, secs = backlog(kind, tmpl, body, counts, args.backlog)
                cap[kind].append(got / secs)
        med = {k: statistics.median(v) for k, v in cap.items()}
        print(f"backlog of {args.backlog:,} datagrams, receive + decode, median of 3 alternating rounds: "
              f"plain {med['plain']:,.0f} records/CPU-s, flowcep {med['flowcep']:,.0f}; "
              f"ratio {med['flowcep'] / med['plain']:.2f}")
        print(f"lazy columns off (every column a list): {med['flowcep-lists']:,.0f} records/CPU-s, ratio "
              f"{med['flowcep-lists'] / med['plain']:.2f}")
        print(f"the same with lazy columns: decode only {med['flowcep-lazy']:,.0f} records/CPU-s, ratio "
              f"{med['flowcep-lazy'] / med['plain']:.2f}; + reading every column {med['flowcep-lazy-read']:,.0f}, "
              f"ratio {med['flowcep-lazy-read'] / med['plain']:.2f}")
    if not rates:
        return 0
    kinds = ["plain", "flowcep", *(["threads"] if args.threads else [])]
    best = dict.fromkeys(kinds, 0)
    cpu: dict[str, list[float]] = {k: [] for k in kinds}
    live = dict.fromkeys(kinds, True)
    print(f"flowcep_plugin from {_TREE}")
    for step, rate in enumerate(rates):
        order = kinds[step % len(kinds):] + kinds[:step % len(kinds)]
        for kind in order:
            if not live[kind]:
                continue
            sent, got, secs, drops = run_rate(kind, rate, args.seconds, tmpl, body, counts)
            lost = sent - got
            cpu[kind].append(got / secs)
            print(f"{kind:<8} target {rate:>9,}/s  sent {sent:>9,}  received {got:>9,}  "
                  f"lost {lost:>8,} ({100 * lost / max(sent, 1):.2f} %)  kernel drops {drops:>6}  "
                  f"achieved {sent / args.seconds:>10,.0f}/s  receiver {got / secs:>10,.0f} records/CPU-s")
            if lost > 0:
                live[kind] = False
            else:
                best[kind] = int(sent / args.seconds)
        if not any(live.values()):
            break
    print(f"highest rate without loss: plain {best['plain']:,} records/s, "
          f"flowcep {best['flowcep']:,} records/s; ratio {best['flowcep'] / max(best['plain'], 1):.2f}")
    med = {k: statistics.median(v) if v else 0.0 for k, v in cpu.items()}
    print(f"receiver CPU, median over the steps: plain {med['plain']:,.0f} records/CPU-s, "
          f"flowcep {med['flowcep']:,.0f}; ratio {med['flowcep'] / max(med['plain'], 1):.2f}")
    if args.threads:
        print(f"two-thread prototype: highest rate without loss {best['threads']:,} records/s, "
              f"{med['threads']:,.0f} records/CPU-s (process CPU, both threads)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
