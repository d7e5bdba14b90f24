"""The whole pipeline, as a user runs it: ``flowcep run`` with every shipped detector and the
default enrichers, measured against plain decoders of the same file in the same run.

Why a child process: what a user pays is the whole command (start-up, plugin loading, reader
thread, output), so each contender runs as its own process and its CPU time and peak RSS come
from ``os.wait4`` (that child alone, not the max over all children).

File mode (default): ``../shared/flowcep-upstream/data.ipfix`` concatenated ``--copies`` times,
time-shifted (``bench_engine.build``), written once to a temporary file. Contenders:
  * ``flowcep run -i FILE -o jsonl:...`` (no -d/-e: every installed detector, default enrichers);
  * plain ``struct.iter_unpack`` of every data set (tuples, nothing else): the floor;
  * the same decode building one dict per record (what a naive Python collector does).
The flowcep run is repeated at ``--copies // 4`` to show whether peak RSS grows with the input.

``--profile``: one more ``flowcep run`` in which every stage object is wrapped by a timer of its
own thread's CPU time, printing each stage's share (input decode, sanitize, each enricher,
clock, each detector, alerts, outputs, start-up, the rest).

``--live``: a sender process replays data.ipfix (time-shifted each loop) to 127.0.0.1 at a
fixed record rate for ``--live-seconds``; ``flowcep run -i ipfix+udp://127.0.0.1:PORT`` counts
what it decoded (``--stats-json``). Rates step up until records go missing, or the steps or
``--live-budget`` run out. When ``nfcapd`` is installed it is fed by the same sender at the same
rates and ``nfdump -I`` counts what it stored. Loopback only.

    .venv/bin/python benchmarks/bench_pipeline.py [--copies 200] [--profile] [--live]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import re
import resource
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
# The baseline children import nothing beyond the standard library (their CPU time is the
# figure), so numpy, bench_engine and flowcep_plugin are imported where they are used.
DATA = ROOT.parent / "shared" / "flowcep-upstream" / "data.ipfix"

PYTHON = sys.executable
FLOWCEP = [PYTHON, "-m", "flowcep_plugin"]
_SET = struct.Struct(">HH")
_CODES = {1: "B", 2: "H", 4: "I", 8: "Q"}


# -- children -------------------------------------------------------------------------------------
@dataclass
class ChildRun:
    """One child's cost: CPU seconds (user + system) and peak RSS of that child alone."""

    cpu_s: float
    wall_s: float
    maxrss_mb: float
    returncode: int
    stdout: str


def run_child(cmd: list[str], timeout: float = 1800.0) -> ChildRun:
    """Run ``cmd`` and reap it with ``wait4`` so the rusage is this child's, not a max over all."""
    t0 = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
        deadline = time.monotonic() + timeout
        while True:
            pid, status, ru = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > deadline:
                proc.kill()
                pid, status, ru = os.wait4(proc.pid, 0)
                break
            time.sleep(0.02)
        proc.returncode = os.waitstatus_to_exitcode(status)  # Popen must not reap it again
        out.seek(0)
        text = out.read()
    return ChildRun(ru.ru_utime + ru.ru_stime, time.perf_counter() - t0, ru.ru_maxrss / 1024,
                    proc.returncode, text)


def _data_sets(data: bytes) -> Iterator[tuple[int, memoryview]]:
    """(set id, set body) of every set of every message in an IPFIX file."""
    view = memoryview(data)
    off = 0
    while off + 16 <= len(data):
        length = int.from_bytes(data[off + 2:off + 4], "big")
        if length < 16:
            return
        p, end = off + 16, off + length
        while p + 4 <= end:
            sid, slen = _SET.unpack_from(data, p)
            if slen < 4:
                break
            yield sid, view[p + 4:p + slen]
            p += slen
        off = end


def _templates(body: memoryview, templates: dict[int, tuple[struct.Struct, list[int]]]) -> None:
    p = 0
    while p + 4 <= len(body):
        tid, count = _SET.unpack_from(body, p)
        p += 4
        fmt, ids = ">", []
        for _ in range(count):
            fid, flen = _SET.unpack_from(body, p)
            p += 8 if fid & 0x8000 else 4
            fmt += _CODES.get(flen, f"{flen}s")
            ids.append(fid & 0x7FFF)
        templates[tid] = (struct.Struct(fmt), ids)


def baseline_child(kind: str, path: str) -> int:
    """The baselines' work: decode every data record of ``path``, as tuples or as dicts."""
    data = Path(path).read_bytes()
    templates: dict[int, tuple[struct.Struct, list[int]]] = {}
    n = 0
    for sid, body in _data_sets(data):
        if sid == 2:
            _templates(body, templates)
        elif sid >= 256 and sid in templates:
            st, ids = templates[sid]
            usable = len(body) - len(body) % st.size
            if kind == "struct":
                for _rec in st.iter_unpack(body[:usable]):
                    n += 1
            else:
                names = [str(i) for i in ids]
                rows = [dict(zip(names, rec, strict=True)) for rec in st.iter_unpack(body[:usable])]
                n += len(rows)
    print(n)
    return 0


# -- the profile child ----------------------------------------------------------------------------
class _Timed:
    """Stands in for a stage object; every method call adds its thread's CPU time to ``sink``."""

    def __init__(self, obj: Any, label: str, sink: dict[str, float]) -> None:
        self._obj, self._label, self._sink = obj, label, sink

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._obj, name)
        if not callable(attr) or name == "batches":
            if name == "batches":
                return self._timed_iter(attr)
            return attr
        sink, label, clock = self._sink, self._label, time.thread_time

        def timed(*args: Any, **kwargs: Any) -> Any:
            t0 = clock()
            try:
                return attr(*args, **kwargs)
            finally:
                sink[label] = sink.get(label, 0.0) + clock() - t0
        return timed

    def _timed_iter(self, batches: Callable[[], Iterator[Any]]) -> Callable[[], Iterator[Any]]:
        sink, label, clock = self._sink, self._label, time.thread_time

        def gen() -> Iterator[Any]:
            it = batches()
            while True:
                t0 = clock()
                try:
                    item = next(it)
                except StopIteration:
                    sink[label] = sink.get(label, 0.0) + clock() - t0
                    return
                sink[label] = sink.get(label, 0.0) + clock() - t0
                yield item
        return gen


def profile_child(argv: list[str], out_json: str) -> int:
    """``flowcep run argv`` with each stage timed; writes {stage: cpu seconds} to ``out_json``."""
    t_start = time.process_time()
    from flowcep_plugin import pipeline as pl
    from flowcep_plugin.cli import main

    spent: dict[str, float] = {}
    original_init = pl.Pipeline.__init__
    original_run = pl.Pipeline.run

    def init(self: pl.Pipeline, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        self.sanitizer = _Timed(self.sanitizer, "sanitize", spent)  # type: ignore[assignment]
        self.reorderer = _Timed(self.reorderer, "clock (reorder)", spent)  # type: ignore[assignment]
        for st in self.enrichers:
            st.obj = _Timed(st.obj, f"enricher {st.name}", spent)
        for st in self.detectors:
            st.obj = _Timed(st.obj, f"detector {st.name}", spent)
        for st in self.outputs:
            st.obj = _Timed(st.obj, f"output {st.name.split(':')[0]}", spent)
        if self.suppressor is not None:
            self.suppressor = _Timed(self.suppressor, "alerts (suppression)", spent)
        self.sources = [(raw, _Timed(src, "input (read + decode)", spent), live)
                        for raw, src, live in self.sources]

    def run(self: pl.Pipeline) -> dict[str, Any]:
        spent["start-up (imports, plugins, plan)"] = time.process_time() - t_start
        return original_run(self)

    pl.Pipeline.__init__ = init  # type: ignore[method-assign]
    pl.Pipeline.run = run  # type: ignore[method-assign]
    code = main(["run", *argv])
    total = time.process_time() - t_start
    spent["the rest (queue, stats, glue)"] = total - sum(spent.values())
    Path(out_json).write_text(json.dumps({"total": total, "stages": spent}))
    return code


# -- file mode ------------------------------------------------------------------------------------
def write_input(copies: int, folder: Path) -> Path:
    """Build the shifted file in a child: a child's peak RSS starts from its parent's at the
    fork (Linux keeps the high-water mark across exec), so the parent must stay small."""
    path = folder / f"data-x{copies}.ipfix"
    res = run_child([PYTHON, __file__, "--write-input-child", str(copies), str(path)])
    if res.returncode != 0:
        raise SystemExit(f"bench_pipeline: building the input failed: {res.stdout.strip()[-500:]}")
    return path


def write_input_child(copies: int, path: str) -> int:
    from bench_engine import build

    msgs, _per_copy = build(copies)
    with open(path, "wb") as fh:
        for m in msgs:
            fh.write(m)
    return 0


def flowcep_file_run(path: Path, folder: Path) -> tuple[ChildRun, int, dict[str, Any]]:
    stats = folder / "stats.json"
    cmd = [*FLOWCEP, "run", "-i", f"ipfix-file:{path}", "-o", f"jsonl:{folder / 'alerts.jsonl'}",
           "--stats-json", str(stats), "--no-progress", "-q"]
    res = run_child(cmd)
    if res.returncode != 0:
        raise SystemExit(f"flowcep run failed ({res.returncode}): {res.stdout.strip()[-500:]}")
    snap = json.loads(stats.read_text())
    return res, int(snap["stages"]["input"]["in"]), snap


def file_mode(args: argparse.Namespace, folder: Path) -> list[tuple[str, str, str, str]]:
    """Rows of (what, figure, baseline, ratio)."""
    big = write_input(args.copies, folder)
    small_copies = max(1, args.copies // 4)
    small = write_input(small_copies, folder)
    base: dict[str, tuple[float, ChildRun]] = {}
    for kind in ("struct", "dict"):
        res = run_child([PYTHON, __file__, "--baseline-child", kind, str(big)])
        base[kind] = (int(res.stdout.split()[-1]) / res.cpu_s, res)
    run, n, snap = flowcep_file_run(big, folder)
    run_small, n_small, _ = flowcep_file_run(small, folder)
    if n != int(base["struct"][1].stdout.split()[-1]):
        print(f"warning: flowcep read {n:,} records, the plain decoder "
              f"{base['struct'][1].stdout.split()[-1]}", file=sys.stderr)
    rate = n / run.cpu_s
    alerts = sum(snap.get("alerts_by_rule", {}).values())
    detected = int(snap["stages"].get("detect", {}).get("in", 0))
    drops = {k: v for k, v in snap.get("drops", {}).items() if v}
    print(f"input: data.ipfix x{args.copies} time-shifted, {n:,} records, {big.stat().st_size / 1e6:.0f} MB; "
          f"{detected:,} reached the detectors; plain decoders read "
          f"{int(base['struct'][1].stdout.split()[-1]):,} and {int(base['dict'][1].stdout.split()[-1]):,}; "
          f"{alerts} alerts; drops {drops or 'none'}; "
          f"flowcep wall {run.wall_s:.1f} s")
    rows = [
        ("flowcep run, default detectors + enrichers", f"{rate:,.0f} rec/CPU-s",
         f"struct.iter_unpack {base['struct'][0]:,.0f}", f"{rate / base['struct'][0]:.3f}"),
        ("flowcep run vs a dict-per-record reader", f"{rate:,.0f} rec/CPU-s",
         f"dict per record {base['dict'][0]:,.0f}", f"{rate / base['dict'][0]:.3f}"),
        (f"peak RSS x{args.copies} ({n:,} rec) vs x{small_copies} ({n_small:,})",
         f"{run.maxrss_mb:.0f} MB", f"{run_small.maxrss_mb:.0f} MB",
         f"{run.maxrss_mb / run_small.maxrss_mb:.2f}"),
        ("peak RSS of the plain decoders (whole file read in memory)", "",
         f"struct {base['struct'][1].maxrss_mb:.0f} MB, dict {base['dict'][1].maxrss_mb:.0f} MB", ""),
        (f"flowcep run at x{small_copies} (start-up weighs more)", f"{n_small / run_small.cpu_s:,.0f} rec/CPU-s",
         f"x{args.copies}: {rate:,.0f}", f"{(n_small / run_small.cpu_s) / rate:.3f}"),
    ]
    if args.profile:
        profile_mode(big, folder)
    return rows


def profile_mode(path: Path, folder: Path) -> None:
    out = folder / "profile.json"
    argv = ["-i", f"ipfix-file:{path}", "-o", f"jsonl:{folder / 'alerts-p.jsonl'}", "--no-progress", "-q"]
    res = run_child([PYTHON, __file__, "--profile-child", str(out), "--", *argv])
    if res.returncode != 0:
        raise SystemExit(f"profiled flowcep run failed ({res.returncode}): {res.stdout.strip()[-500:]}")
    prof = json.loads(out.read_text())
    total = float(prof["total"])
    print(f"\nwhere the time goes (CPU time of each stage's own thread; total {total:.1f} CPU-s, "
          f"wait4 says {res.cpu_s:.1f}):")
    print(f"| {'stage':<44} | {'CPU-s':>7} | {'share':>6} |")
    print(f"|{'-' * 46}|{'-' * 9}:|{'-' * 7}:|")
    for name, sec in sorted(prof["stages"].items(), key=lambda kv: -kv[1]):
        print(f"| {name:<44} | {sec:>7.2f} | {sec / total:>6.1%} |")


# -- live mode ------------------------------------------------------------------------------------
def live_messages() -> tuple[list[bytes], bytes, list[tuple[int, int, int]], np.ndarray[Any, np.dtype[np.int64]], int]:
    """(template messages, every data-only message in one buffer, (offset, length, records) of
    each, offsets of their flowStart/EndMilliseconds in that buffer, the time shift per loop)."""
    import numpy as np
    from bench_engine import timestamp_offsets
    from bench_udp import load_messages

    tmpl, body, counts = load_messages(DATA)
    offsets = timestamp_offsets(tmpl + body)[len(tmpl):]
    buf, index, ts = bytearray(), [], []
    lo, hi = 1 << 62, 0
    for m, offs, c in zip(body, offsets, counts, strict=True):
        base = len(buf)
        for o in offs:
            (t,) = struct.unpack_from(">Q", m, o)
            lo, hi = min(lo, t), max(hi, t)
            ts.append(base + o)
        index.append((base, len(m), c))
        buf += m
    return tmpl, bytes(buf), index, np.asarray(ts, dtype=np.int64), hi - lo + 1000


def template_records(tmpl: list[bytes]) -> int:
    from flowcep_plugin.context import Context
    from flowcep_plugin.inputs.ipfix_decode import MessageDecoder

    dec = MessageDecoder(Context(), "count")
    return sum(len(b) for m in tmpl for b in dec.decode(m, "x"))


def sender(port: int, rate: int, seconds: float, result: Any) -> None:
    """Send at ``rate`` records/s; every loop over the sample moves its timestamps forward one
    span (numpy, a few ms per loop), so the receiver sees time advance as from a live exporter."""
    import numpy as np

    tmpl, raw, index, ts, span = live_messages()
    buf = np.frombuffer(bytearray(raw), dtype=np.uint8)
    gather = ts[:, None] + np.arange(8)
    view = memoryview(buf.data)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.connect(("127.0.0.1", port))
    for m in tmpl:
        s.send(m)
    sent = template_records(tmpl)
    time.sleep(0.2)
    start = time.perf_counter()
    end = start + seconds
    i, nb, paced = 0, len(index), 0
    while True:
        now = time.perf_counter()
        if now >= end:
            break
        allowed = int((now - start) * rate)
        while paced < allowed:
            off, ln, c = index[i]
            s.send(view[off:off + ln])
            paced += c
            i += 1
            if i == nb:
                i = 0
                shifted = buf[gather].view(">u8").ravel() + np.uint64(span)
                buf[gather] = shifted.astype(">u8").view(np.uint8).reshape(-1, 8)
        time.sleep(0.0005)
    result.put((sent + paced, paced / (time.perf_counter() - start)))


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def udp_socket(port: int) -> tuple[int, int] | None:
    """(receive queue in bytes, kernel drops) of the socket bound to 127.0.0.1:``port``, from
    /proc/net/udp; None when nothing is bound there yet."""
    want = f"0100007F:{port:04X}"
    try:
        lines = Path("/proc/net/udp").read_text().splitlines()[1:]
    except OSError:
        return None
    for ln in lines:
        f = ln.split()
        if len(f) > 12 and f[1] == want:
            return int(f[4].split(":")[1], 16), int(f[12])
    return None


def wait_bound(proc: subprocess.Popen[Any], port: int, timeout: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        if udp_socket(port) is not None:
            return True
        time.sleep(0.05)
    return False


def send(port: int, rate: int, seconds: float) -> tuple[int, float]:
    ctx = mp.get_context("fork")
    q: Any = ctx.Queue()
    p = ctx.Process(target=sender, args=(port, rate, seconds, q))
    p.start()
    sent, achieved = q.get(timeout=seconds + 60)
    p.join(10)
    return int(sent), float(achieved)


def stop(proc: subprocess.Popen[Any], sig: int, timeout: float = 60.0) -> None:
    proc.send_signal(sig)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@dataclass
class Step:
    """One receiver at one rate. A 32 MB socket buffer hides a slow receiver for seconds and
    the shutdown drains it, so 'sent == received' alone is not 'keeps up': the backlog still
    queued ``GRACE_S`` after the sender stops is the second half of the test."""

    sent: int
    received: int
    achieved: float
    backlog_bytes: int
    kernel_drops: int
    note: str = ""

    @property
    def lossless(self) -> bool:
        return (self.sent > 0 and self.received >= self.sent and self.kernel_drops == 0
                and self.backlog_bytes <= BACKLOG_LIMIT)


GRACE_S = 1.0
BACKLOG_LIMIT = 1 << 20  # bytes of kernel accounting (about 2x the payload): under 0.1 s here


def live_step(cmd: list[str], port: int, rate: int, seconds: float, log_path: Path,
              sig: int, count: Callable[[], tuple[int, str]]) -> Step:
    with open(log_path, "w") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
        try:
            if not wait_bound(proc, port):
                return Step(0, 0, 0.0, 0, 0, f"did not start: {log_path.read_text()[-300:]!r}")
            sent, achieved = send(port, rate, seconds)
            deadline = time.monotonic() + GRACE_S
            state = udp_socket(port) or (0, 0)
            while time.monotonic() < deadline and state[0] > 0:
                time.sleep(0.05)
                state = udp_socket(port) or (0, 0)
        finally:
            stop(proc, sig)
    got, note = count()
    return Step(sent, got, achieved, state[0], state[1], note)


def live_flowcep(rate: int, seconds: float, folder: Path) -> Step:
    port = free_udp_port()
    stats = folder / f"live-{rate}.json"
    cmd = [*FLOWCEP, "run", "-i", f"ipfix+udp://127.0.0.1:{port}", "-o", f"jsonl:{folder / 'live.jsonl'}",
           "--lateness", "10min", "--stats-json", str(stats), "--no-progress", "-q"]

    def count() -> tuple[int, str]:
        if not stats.exists():
            return 0, "no stats written"
        snap = json.loads(stats.read_text())
        drops = {k: v for k, v in snap.get("drops", {}).items() if v}
        return int(snap["stages"].get("input", {}).get("in", 0)), (f"drops {drops}" if drops else "")
    return live_step(cmd, port, rate, seconds, folder / "live.log", signal.SIGINT, count)


NFDUMP_FLOWS = re.compile(r"^Flows:\s*(\d+)", re.MULTILINE)


def live_nfcapd(rate: int, seconds: float, folder: Path) -> Step:
    port = free_udp_port()
    store = folder / f"nfcapd-{rate}"
    store.mkdir()
    cmd = ["nfcapd", "-b", "127.0.0.1", "-p", str(port), "-w", str(store), "-t", "3600",
           "-B", str(32 << 20)]  # the same receive buffer as flowcep's collector

    def count() -> tuple[int, str]:
        out = subprocess.run(["nfdump", "-R", str(store), "-I"], capture_output=True, text=True, timeout=120)
        shutil.rmtree(store, ignore_errors=True)
        return sum(int(x) for x in NFDUMP_FLOWS.findall(out.stdout)), ""
    return live_step(cmd, port, rate, seconds, folder / "nfcapd.log", signal.SIGTERM, count)


def live_mode(args: argparse.Namespace, folder: Path) -> list[tuple[str, str, str, str]]:
    rates = [int(float(r)) for r in args.rates.split(",")]
    contenders: list[tuple[str, Callable[[int, float, Path], Step]]] = [("flowcep", live_flowcep)]
    if shutil.which("nfcapd") and shutil.which("nfdump"):
        contenders.append(("nfcapd", live_nfcapd))
    else:
        print("nfcapd not installed (Debian: apt-get install nfdump): flowcep alone", file=sys.stderr)
    best: dict[str, int] = {name: 0 for name, _ in contenders}
    lossy: dict[str, int | None] = {name: None for name, _ in contenders}
    deadline = time.monotonic() + args.live_budget
    print(f"\nlive, loopback UDP, {args.live_seconds:g} s per rate (records/s); backlog = bytes still "
          f"queued {GRACE_S:g} s after the sender stopped (lossless: none lost, backlog <= 1 MiB):")
    print("| receiver | target rate | sent at | sent | received | lost | backlog | kernel drops |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for rate in rates:  # interleaved, so both see the same moment of a noisy machine
        for name, fn in contenders:
            if lossy[name] is not None or time.monotonic() > deadline:
                continue
            st = fn(rate, args.live_seconds, folder)
            print(f"| {name} | {rate:,} | {st.achieved:,.0f} | {st.sent:,} | {st.received:,} | "
                  f"{st.sent - st.received:,} | {st.backlog_bytes:,} | {st.kernel_drops:,} {st.note} |", flush=True)
            if st.lossless and st.achieved >= 0.95 * rate:
                best[name] = rate
            elif st.lossless:  # the sender could not keep the pace: nothing learnt above it
                lossy[name] = 0
                print(f"  (the sender reached only {st.achieved:,.0f} records/s: stopping {name} here)")
            else:
                lossy[name] = rate
    if time.monotonic() > deadline:
        print(f"  (stopped: --live-budget {args.live_budget:g} s spent)")
    rows = []
    for name, _ in contenders:
        first_bad = lossy[name]
        tail = (f"lost or fell behind at {first_bad:,}" if first_bad
                else "sender limit" if first_bad == 0 else "none lost at the highest rate tried")
        rows.append((f"live {name}: highest lossless rate", f"{best[name]:,} rec/s", tail, ""))
    if best.get("nfcapd"):
        rows.append(("live flowcep vs nfcapd, same sender, same rates", f"{best['flowcep']:,}",
                     f"nfcapd {best['nfcapd']:,}", f"{best['flowcep'] / best['nfcapd']:.3f}"))
    return rows


# -- the other benchmarks' headline figures -------------------------------------------------------
_NUM = r"([\d,.]+)"
#: (script and small arguments, [(row, regex with groups figure, baseline, ratio)]): the rows of
#: the issue's target table that the other benchmarks already measure, each against its own
#: same-run baseline.
OTHERS: list[tuple[list[str], list[tuple[str, str]]]] = [
    (["bench_ipfix_decode.py", "--copies", "20", "--repeat", "1"], [
        ("IPFIX file decode (records/s)",
         rf"plain struct.iter_unpack .*? {_NUM} records/s(?s:.*)flowcep ipfix-file .*? {_NUM} records/s"
         rf"(?s:.*)ratio flowcep / plain struct: {_NUM}")]),
    (["bench_engine.py", "--copies", "20", "--repeat", "1"], [
        ("module 11: decode + clock + engine (records/CPU-s)",
         rf"decode alone:\s+{_NUM} records/CPU-s\s+decode \+ clock \+ module 11:\s+{_NUM} records/CPU-s"
         rf"\s+\(ratio to decode alone {_NUM}\)")]),
    (["bench_udp.py", "--seconds", "2", "--rates", "500000,1000000,2000000,4000000"], [
        ("UDP receive + decode, highest rate without loss",
         rf"highest rate without loss: plain {_NUM} records/s, flowcep {_NUM} records/s; ratio {_NUM}"),
        ("UDP receive + decode capacity, backlog drained (records/CPU-s)",
         rf"backlog of .*? plain {_NUM} records/CPU-s, flowcep {_NUM}; ratio {_NUM}")]),
    (["bench_pcap.py", "--packets", "50000", "--repeat", "1"], [
        ("pcap: input (packets/CPU-s) vs scapy RawPcapReader",
         rf"RawPcapReader iteration \(baseline\)\s+{_NUM} packets(?s:.*)pcap: input \(read \+ meter"
         rf" \+ FlowBatches\)\s+{_NUM} packets/CPU-s\s+{_NUM}x"),
        ("pcap: input (packets/CPU-s) vs tshark",
         rf"pcap: input \(read \+ meter \+ FlowBatches\)\s+{_NUM} packets(?s:.*)tshark -T fields"
         rf" -e frame.number\s+{_NUM} packets/CPU-s")]),
    (["bench_es.py", "--alerts", "2000", "--flows", "8000", "--rounds", "1"], [
        ("Elasticsearch bulk output, alerts (docs/s)",
         rf"alerts\s+ours\s+{_NUM}/s\s+raw helpers.bulk\s+{_NUM}/s\s+ours/raw throughput {_NUM}"),
        ("Elasticsearch bulk output, flows (docs/s)",
         rf"flows\s+ours\s+{_NUM}/s\s+raw helpers.bulk\s+{_NUM}/s\s+ours/raw throughput {_NUM}"),
        ("Elasticsearch bulk output, flows, client-bound stub server (docs/s)",
         rf"flows@stub\s+ours\s+{_NUM}/s\s+raw helpers.bulk\s+{_NUM}/s\s+ours/raw throughput {_NUM}")]),
]


def others_mode() -> list[tuple[str, str, str, str]]:
    rows = []
    for cmd, specs in OTHERS:
        res = run_child([PYTHON, str(ROOT / "benchmarks" / cmd[0]), *cmd[1:]], timeout=600)
        for label, pattern in specs:
            m = re.search(pattern, res.stdout)
            if m is None:  # bench_es exits 1 when its rounds disagree: its figures still count
                rows.append((label, "", "", f"{cmd[0]} (exit {res.returncode}) changed its output: "
                             f"{res.stdout.strip().splitlines()[-1:] or ['no output']}"))
                continue
            g = m.groups()
            if "tshark" in label:  # figure first, baseline second, ratio computed
                fig, base = g[0], g[1]
                ratio = f"{_num(fig) / max(_num(base), 1e-9):.2f}"
            elif "alerts" in label or "flows" in label:
                fig, base, ratio = g
            elif "UDP" in label:
                base, fig, ratio = g
            else:
                base, fig, ratio = g[0], g[1], g[2]
            flag = f" (exit {res.returncode})" if res.returncode else ""
            rows.append((f"{label} [{cmd[0]}{flag}]", fig, base, ratio))
    return rows


def _num(text: str) -> float:
    return float(text.replace(",", ""))


def print_table(rows: list[tuple[str, str, str, str]]) -> None:
    print("\n| what | FlowCEP | baseline, same run | ratio |")
    print("|---|---:|---|---:|")
    for r in rows:
        print("| " + " | ".join(r) + " |")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--copies", type=int, default=200, help="time-shifted copies of data.ipfix (default 200)")
    ap.add_argument("--profile", action="store_true", help="also time each stage of one run")
    ap.add_argument("--no-file", action="store_true", help="skip the file runs (with --live)")
    ap.add_argument("--live", action="store_true", help="also find the highest lossless loopback UDP rate")
    ap.add_argument("--others", action="store_true",
                    help="also run the other benchmarks with small inputs and add their headline ratios")
    ap.add_argument("--live-seconds", type=float, default=10.0, help="sending time per rate (default 10)")
    ap.add_argument("--live-budget", type=float, default=600.0,
                    help="stop stepping rates after this many seconds (default 600)")
    ap.add_argument("--rates", default="50000,100000,150000,200000,300000,400000,600000,1000000,2000000,4000000",
                    help="comma-separated record rates to step through")
    ap.add_argument("--baseline-child", nargs=2, metavar=("KIND", "FILE"), help=argparse.SUPPRESS)
    ap.add_argument("--profile-child", metavar="OUT", help=argparse.SUPPRESS)
    ap.add_argument("--write-input-child", nargs=2, metavar=("COPIES", "FILE"), help=argparse.SUPPRESS)
    ap.add_argument("rest", nargs="*", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.baseline_child:
        return baseline_child(*args.baseline_child)
    if args.write_input_child:
        return write_input_child(int(args.write_input_child[0]), args.write_input_child[1])
    if args.profile_child:
        return profile_child(args.rest, args.profile_child)
    if not DATA.exists():
        print(f"bench_pipeline: missing {DATA}; it holds FlowCEP's sample (see ../shared)", file=sys.stderr)
        return 2
    load = os.getloadavg()
    print(f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} cores, "
          f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; this process's peak RSS (the floor "
          f"of its children's) {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    rows: list[tuple[str, str, str, str]] = []
    with tempfile.TemporaryDirectory(prefix="bench-pipeline-") as tmp:
        folder = Path(tmp)
        if not args.no_file:
            rows += file_mode(args, folder)
        if args.live:
            rows += live_mode(args, folder)
        if args.others:
            rows += others_mode()
    print_table(rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
