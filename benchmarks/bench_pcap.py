"""Packets/s through the pcap flow meter, beside scapy's RawPcapReader and tshark.

Builds a synthetic capture (TCP connections with an HTTP request each, DNS-like UDP
exchanges, ICMP; a few thousand concurrent flows) and times, in the same run:

1. baseline: iterating ``scapy.utils.RawPcapReader`` and touching each packet (what the
   ``pcap:`` input used to read files with);
2. ``iter_blocks``: FlowCEP's own reader (:mod:`flowcep_plugin.inputs.capfile`) with
   timestamps and chunking, as the ``pcap:`` input reads;
3. ``pcap:`` input end to end: reading, metering (the block path, :mod:`.flowblock`),
   expiring and building FlowBatches;
4. the same input with the per-packet meter (``iter_frames`` + ``FlowMeter.process``: the
   ``pcap:`` input before the block path), whose records must be the same;
5. the per-packet meter fed by the scapy reader (the input before capfile);
6. ``tshark -r FILE -T fields -e frame.number`` (dissects every packet, prints one field);
7. for scale, ``scapy.utils.PcapReader`` (full dissection, what ``rdpcap`` does) on a slice.

Usage: ``python benchmarks/bench_pcap.py [--packets N] [--pcap FILE ...] [--against DIR]``: one
table for the synthetic capture (``--packets 0`` skips it), then one for each FILE. ``--against
DIR`` (another tree of the project, e.g. ``git archive REV | tar -x -C DIR``) then times the
``pcap:`` input of this tree and of DIR in child processes, alternating which goes first, and
prints the median of the per-round ratios: in one process the input's rate moves with what ran
before it (the other measurements' garbage), so the comparison between trees is made apart. How many packets a flow
has decides most of the rate (the meter's cost per flow is several times its cost per packet),
so real captures of different shapes belong beside the synthetic one. Rates are packets per
CPU-second (this process plus tshark's), best of ``--repeat`` interleaved runs. Ratios matter,
not absolute figures: the machine is shared.
"""

from __future__ import annotations

import argparse
import os
import random
import struct
import sys
import tempfile
import time
import tracemalloc
from typing import Any

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from flowcep_plugin.addresses import parse_address  # noqa: E402
from flowcep_plugin.context import Context  # noqa: E402
from flowcep_plugin.inputs.pcap import PcapSource, iter_blocks, iter_frames  # noqa: E402


def cpu() -> float:
    """CPU seconds of this process and its finished children (tshark): on a shared machine
    they move far less with the load than wall-clock time does."""
    import resource

    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + kids.ru_utime + kids.ru_stime


def _eth_ip(src: bytes, dst: bytes, proto: int, l4: bytes) -> bytes:
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(l4), 0, 0, 64, proto, 0, src, dst)
    return b"\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01\x08\x00" + ip + l4


def _tcp(sport: int, dport: int, flags: int, payload: bytes = b"") -> bytes:
    return struct.pack("!HHIIBBHHH", sport, dport, 1, 1, 5 << 4, flags, 65535, 0, 0) + payload


def _udp(sport: int, dport: int, payload: bytes) -> bytes:
    return struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload


def make_capture(path: str, n_packets: int, seed: int = 7) -> int:
    """Write a little-endian microsecond pcap of about ``n_packets`` packets."""
    rnd = random.Random(seed)
    t = 1_700_000_000.0
    count = 0
    with open(path, "wb") as fh:
        fh.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        while count < n_packets:
            c = bytes([10, rnd.randrange(256), rnd.randrange(256), rnd.randrange(1, 255)])
            s = bytes([192, 0, 2, rnd.randrange(1, 255)])
            sport = rnd.randrange(1024, 65535)
            kind = rnd.random()
            if kind < 0.6:
                req = (f"GET /item/{rnd.randrange(10**6)} HTTP/1.1\r\nHost: shop{rnd.randrange(50)}.example\r\n"
                       "User-Agent: bench\r\n\r\n").encode()
                pkts = [_eth_ip(c, s, 6, _tcp(sport, 80, 0x02)), _eth_ip(s, c, 6, _tcp(80, sport, 0x12)),
                        _eth_ip(c, s, 6, _tcp(sport, 80, 0x10)), _eth_ip(c, s, 6, _tcp(sport, 80, 0x18, req)),
                        _eth_ip(s, c, 6, _tcp(80, sport, 0x18, b"HTTP/1.1 200 OK\r\n\r\n" + b"x" * 600)),
                        _eth_ip(c, s, 6, _tcp(sport, 80, 0x11)), _eth_ip(s, c, 6, _tcp(80, sport, 0x11)),
                        _eth_ip(c, s, 6, _tcp(sport, 80, 0x10))]
            elif kind < 0.9:
                pkts = [_eth_ip(c, s, 17, _udp(sport, 53, b"q" * 30)), _eth_ip(s, c, 17, _udp(53, sport, b"a" * 90))]
            else:
                pkts = [_eth_ip(c, s, 1, b"\x08\x00\x00\x00" + b"p" * 56) for _ in range(4)]
            for p in pkts:
                t += rnd.random() * 0.0004
                sec = int(t)
                fh.write(struct.pack("<IIII", sec, int((t - sec) * 1e6), len(p), len(p)))
                fh.write(p)
                count += 1
    return count


def bench_raw(path: str) -> tuple[int, float]:
    from scapy.utils import RawPcapReader

    t0 = cpu()
    n = 0
    size = 0
    with RawPcapReader(path) as reader:
        for data, _meta in reader:
            n += 1
            size += len(data)
    return n, cpu() - t0


def bench_frames(path: str) -> tuple[int, float]:
    t0 = cpu()
    n = sum(len(packets) for _lt, packets in iter_blocks(path))
    return n, cpu() - t0


def _flat(batches: list[Any]) -> list[Any]:
    return [(b.length, b.columns) for b in batches]


def bench_per_packet(path: str) -> tuple[list[Any], float]:
    """The ``pcap:`` input as it was before the block path: capfile frames, per-packet meter."""
    from flowcep_plugin.inputs.pcap import _Metering, meter_settings

    t0 = cpu()
    run = _Metering(path, meter_settings({}, {}, path), Context())
    out: list[Any] = []
    number = 1
    for lt, frames in iter_frames(path):
        run.feed(lt, frames, number)
        number += len(frames)
        out.extend(_flat(run.take()))
    out.extend(_flat(run.finish()))
    return out, cpu() - t0


def bench_meter(path: str) -> tuple[int, int, float, int]:
    ctx = Context()
    tracemalloc.start()
    t0 = cpu()
    src = PcapSource(parse_address(f"pcap:{path}"), {}, ctx)
    flows = sum(len(b) for b in src.batches())
    elapsed = cpu() - t0
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return flows, 0, elapsed, peak


def bench_scapy_meter(path: str) -> tuple[int, float] | None:
    """The input as it was: scapy's RawPcapReader frames fed to the same meter (classic pcap
    only: pcapng packets carry their time differently in scapy)."""
    from scapy.utils import RawPcapReader

    with open(path, "rb") as fh:
        if fh.read(4) == b"\x0a\x0d\x0d\x0a":
            return None
    from flowcep_plugin.inputs.pcap import _Metering, meter_settings

    t0 = cpu()
    run = _Metering(path, meter_settings({}, {}, path), Context())
    flows = 0
    with RawPcapReader(path) as reader:
        div = 1_000_000 if reader.nano else 1000
        lt = reader.linktype
        frames: list[tuple[int, bytes]] = []
        for data, meta in reader:
            frames.append((meta.sec * 1000 + meta.usec // div, data))
            if len(frames) >= 8192:
                run.feed(lt, frames, 1)
                flows += sum(len(b) for b in run.take())
                frames = []
        run.feed(lt, frames, 1)
    flows += sum(len(b) for b in run.take()) + sum(len(b) for b in run.finish())
    return flows, cpu() - t0


def bench_tshark(path: str) -> tuple[int, float] | None:
    import shutil
    import subprocess

    tshark = shutil.which("tshark")
    if tshark is None:
        return None
    t0 = cpu()
    out = subprocess.run([tshark, "-r", path, "-T", "fields", "-e", "frame.number"], capture_output=True,
                         check=True).stdout
    return out.count(b"\n"), cpu() - t0


def bench_dissect(path: str, limit: int) -> tuple[int, float]:
    from scapy.layers.l2 import Ether  # noqa: F401  (registers the link type)
    from scapy.utils import PcapReader

    t0 = cpu()
    n = 0
    with PcapReader(path) as reader:
        for _pkt in reader:
            n += 1
            if n >= limit:
                break
    return n, cpu() - t0


def run_one(path: str, n_arg: int | None, repeat: int) -> None:
    n = make_capture(path, n_arg) if n_arg is not None else bench_frames(path)[0]
    print(f"capture {os.path.basename(path)}: {n:,} packets, {os.path.getsize(path) / 1e6:.1f} MB")
    # Interleaved repeats, best of each: the machine is shared, so the ratio between
    # runs measured side by side is what means something.
    raw_s = fr_s = m_s2 = pp_s = old_s = ts_s = float("inf")
    flows = old_flows = 0
    ts_n = 0
    new: list[Any] = []
    ref: list[Any] = []
    for _ in range(repeat):
        raw_n, t = bench_raw(path)
        raw_s = min(raw_s, t)
        fr_n, t = bench_frames(path)
        fr_s = min(fr_s, t)
        t0 = cpu()
        new = _flat(list(PcapSource(parse_address(f"pcap:{path}"), {}, Context()).batches()))
        m_s2 = min(m_s2, cpu() - t0)
        ref, t = bench_per_packet(path)
        pp_s = min(pp_s, t)
        scapy_fed = bench_scapy_meter(path)
        if scapy_fed is not None:
            old_flows, t = scapy_fed
            old_s = min(old_s, t)
        tsh = bench_tshark(path)
        if tsh is not None:
            ts_n, t = tsh
            ts_s = min(ts_s, t)
    flows = sum(length for length, _ in new)
    assert new == ref, "the block path's records differ from the per-packet meter's"
    assert old_s == float("inf") or old_flows == flows, (old_flows, flows)
    flows_traced, _, _, peak = bench_meter(path)
    assert flows_traced == flows
    d_n, d_s = bench_dissect(path, min(20_000, n))
    raw_rate = raw_n / raw_s
    ts_rate = ts_n / ts_s if ts_n else 0.0

    def row(label: str, rate: float, extra: str = "") -> None:
        vs_tshark = f" {rate / ts_rate:6.2f}x" if ts_rate else ""
        print(f"{label:<46} {rate:>12,.0f} packets/CPU-s {rate / raw_rate:5.2f}x{vs_tshark}{extra}")

    print(f"{'':<46} {'':>12} {'':<14} vs raw  vs tshark")
    row("scapy RawPcapReader iteration (baseline)", raw_rate)
    row("iter_blocks (capfile reader, timestamps)", fr_n / fr_s)
    row("pcap: input (read + meter + FlowBatches)", n / m_s2, f"   ({flows:,} flows, {flows / m_s2:,.0f} flows/s)")
    row("same, per-packet meter (before the block path)", n / pp_s, f"   (block path {pp_s / m_s2:.2f}x faster)")
    if old_s < float("inf"):
        row("per-packet meter fed by RawPcapReader", n / old_s)
    if ts_n:
        row("tshark -T fields -e frame.number", ts_rate)
    row("scapy PcapReader dissection (rdpcap path)", d_n / d_s)
    print(f"peak traced memory while metering: {peak / 1e6:.1f} MB")


_CHILD = """
import sys, time
tree, path = sys.argv[1], sys.argv[2]
if tree:  # import the other tree, not the editable install of this one
    sys.meta_path[:] = [f for f in sys.meta_path if "ditable" not in type(f).__name__
                        and "ditable" not in getattr(f, "__name__", "")]
    sys.path.insert(0, tree)
from flowcep_plugin.addresses import parse_address
from flowcep_plugin.context import Context
from flowcep_plugin.inputs.pcap import PcapSource
def once():
    t = time.process_time()
    sum(len(b) for b in PcapSource(parse_address("pcap:" + path), {}, Context()).batches())
    return time.process_time() - t
once()
print(min(once() for _ in range(2)))
"""


def against(path: str, other: str, rounds: int) -> None:
    """The ``pcap:`` input of this tree against the tree in ``other``, in child processes."""
    import statistics
    import subprocess

    def child(tree: str) -> float:
        done = subprocess.run([sys.executable, "-c", _CHILD, tree, os.path.abspath(path)], capture_output=True, text=True,
                              check=True, cwd=tempfile.gettempdir())
        return float(done.stdout.split()[-1])

    ratios = []
    for k in range(rounds):
        if k % 2:
            mine, theirs = child(""), child(os.path.abspath(other))
        else:
            theirs, mine = child(os.path.abspath(other)), child("")
        ratios.append(theirs / mine)
    print(f"pcap: input against {other}: {statistics.median(ratios):.3f}x faster (median of {rounds} "
          f"alternating rounds: {', '.join(f'{r:.3f}' for r in ratios)})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--packets", type=int, default=200_000, help="synthetic capture size (0: none)")
    ap.add_argument("--pcap", nargs="*", default=[], help="time these captures too")
    ap.add_argument("--repeat", type=int, default=3, help="runs of each measurement (best kept)")
    ap.add_argument("--against", metavar="DIR", help="another tree of the project to compare the input with")
    ap.add_argument("--rounds", type=int, default=5, help="alternating rounds for --against")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        paths = list(args.pcap)
        if args.packets > 0:
            paths.insert(0, os.path.join(tmp, "bench.pcap"))
            run_one(paths[0], args.packets, args.repeat)
        for path in args.pcap:
            run_one(path, None, args.repeat)
        if args.against:
            for path in paths:
                print(os.path.basename(path), end=": ")
                against(path, args.against, args.rounds)


if __name__ == "__main__":
    main()
