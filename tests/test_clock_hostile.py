"""One record cannot stall event time: a lone record hours ahead, or a one-record input,
neither moves the watermark past the records that follow; a file exporter's lone first
records from another era are counted, not handed to the detectors.

Through the API (the Reorderer) and through ``flowcep run`` on an IPFIX file and a capture
built here. Each of these used to drop thousands of records as ``late`` (and so every alert
they carried) or open windows in 1970."""

from __future__ import annotations

import json
import struct
import threading
from pathlib import Path
from typing import Any

import pytest

from flowcep_plugin import DetectorSpec, InputSpec, cli, hookimpl
from flowcep_plugin.api import run as api_run
from flowcep_plugin.clock import Reorderer, TimePolicy
from flowcep_plugin.ipfix_writer import IPFIXWriter
from flowcep_plugin.manager import PluginInfo, make_plugin_manager
from flowcep_plugin.records import FlowBatch
from flowcep_plugin.stats import Stats

T0 = 1_700_000_000_000
HOUR = 3_600_000
LATENESS = 600_000  # the file default


def batch(times: list[int], exporter: str = "e") -> FlowBatch:
    return FlowBatch({"flowEndMilliseconds": list(times)}, source="t", exporter=exporter)


def punctual(k: int) -> list[int]:
    return [T0 + k * 10_000 + i * 1_000 for i in range(10)]


def run_clock(pushes: list[FlowBatch], live: bool = False) -> tuple[list[int], Stats, Reorderer]:
    stats = Stats()
    r = Reorderer(LATENESS, stats=stats, policy=TimePolicy(live=live), wall=lambda: (T0 + HOUR) / 1000)
    out = [t for b in pushes for rb in r.push(b) for t in rb.event_times()]
    out += [t for rb in r.flush() for t in rb.event_times()]
    return out, stats, r


@pytest.mark.parametrize("ahead", [30 * 60_000, 2 * HOUR, 20 * HOUR])
@pytest.mark.parametrize("where", ["first batch", "inside a batch"])
def test_one_record_hours_ahead_makes_no_record_late(ahead: int, where: str) -> None:
    lone = T0 + ahead
    if where == "first batch":
        pushes = [batch([lone])] + [batch(punctual(k)) for k in range(5)]
    else:
        pushes = [batch(punctual(0) + [lone])] + [batch(punctual(k)) for k in range(1, 5)]
    out, stats, _ = run_clock(pushes)
    assert sorted(out) == sorted([t for k in range(5) for t in punctual(k)] + [lone])
    assert dict(stats.drops) == {}


def test_a_jump_backed_by_a_second_record_moves_the_watermark() -> None:
    """The usual semantics stay: two records agreeing on a later time are the new time."""
    r = Reorderer(LATENESS, policy=TimePolicy())
    r.push(batch(punctual(0) + [T0 + 2 * HOUR]))
    assert r.watermark <= T0 + 10_000
    r.push(batch([T0 + 2 * HOUR + 1_000]))
    assert r.watermark == T0 + 2 * HOUR + 1_000 - LATENESS


def test_one_record_input_does_not_set_the_time_of_the_others() -> None:
    """Two file inputs: a one-line input dated two hours on used to lead the clock, make the
    real exporter look idle and every later record of it late."""
    pushes = [batch([T0 - 1_000, T0], "good"), batch([T0 + 2 * HOUR], "one-line")]
    pushes += [batch(punctual(k), "good") for k in range(1, 6)]
    out, stats, _ = run_clock(pushes)
    assert len(out) == 2 + 50 + 1
    assert dict(stats.drops) == {}


@pytest.mark.parametrize("lone,reason", [(0, "too-old"), (5_000, "too-old"), (T0 - 30 * 24 * HOUR, "too-old"),
                                         (T0 + 30 * 24 * HOUR, "future"), ((1 << 32) * 1000, "future")])
def test_a_files_lone_first_record_from_another_era_is_counted_not_released(lone: int, reason: str) -> None:
    pushes = [batch([lone])] + [batch(punctual(k)) for k in range(5)]
    out, stats, _ = run_clock(pushes)
    assert out == [t for k in range(5) for t in punctual(k)]
    assert dict(stats.drops) == {reason: 1}


def test_live_single_records_still_move_the_watermark() -> None:
    """Live collectors send a record per datagram: before any exporter has two, single
    records set the time (the wall clock bounds them)."""
    r = Reorderer(30_000, policy=TimePolicy(live=True), wall=lambda: T0 / 1000)
    r.push(batch([T0 - 60_000], "a"))
    assert r.watermark == T0 - 90_000


FIELDS = [("flowStartMilliseconds", 8), ("flowEndMilliseconds", 8), ("sourceIPv4Address", 4),
          ("destinationIPv4Address", 4), ("sourceTransportPort", 2), ("destinationTransportPort", 2),
          ("protocolIdentifier", 1), ("packetDeltaCount", 8), ("octetDeltaCount", 8)]


def test_cli_ipfix_file_with_one_record_two_hours_ahead_loses_nothing(tmp_path: Path) -> None:
    """10 000 records over 10 minutes (two batches), one of them dated two hours on: every
    record reaches the detectors (the whole tail after it used to be dropped as late)."""
    path = tmp_path / "x.ipfix"
    with open(path, "wb") as fp:
        w = IPFIXWriter(fp, observation_domain=1)
        w.add_template(256, FIELDS)
        for k in range(20):
            rows = [(T0 + (k * 500 + i) * 60, T0 + (k * 500 + i) * 60, "10.0.0.1", f"10.1.{k}.{i % 250}",
                     40000, 80, 6, 1, 40) for i in range(500)]
            if k == 3:
                rows[7] = (T0 + 2 * HOUR, T0 + 2 * HOUR) + rows[7][2:]
            w.write(256, rows, export_time=T0 // 1000 + k)
    stats_path = tmp_path / "stats.json"
    code = cli.main(["run", "--input", f"ipfix-file:{path}", "--no-enrich", "--detector", "portscan",
                     "--output", f"jsonl:{tmp_path / 'out.jsonl'}", "--stats-json", str(stats_path),
                     "--no-progress", "-q"])
    assert code == 0
    assert json.loads(stats_path.read_text())["drops"] == {}


def _pcap(packets: list[tuple[int, int]]) -> bytes:
    """A classic pcap of Ethernet/IPv4/UDP frames, one per (seconds, source port)."""
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)]
    for sec, sport in packets:
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 28, 0, 0, 64, 17, 0, bytes([10, 0, 0, 1]),
                         bytes([10, 0, 0, 2]))
        frame = b"\x00\x00\x00\x00\x00\x02\x00\x00\x00\x00\x00\x01\x08\x00" + ip + struct.pack("!HHHH", sport, 53, 8, 0)
        out.append(struct.pack("<IIII", sec, 0, len(frame), len(frame)) + frame)
    return b"".join(out)


@pytest.mark.parametrize("bad_sec", [0, 1_600_000_000])
def test_cli_capture_with_a_packet_from_another_era_opens_no_window_there(tmp_path: Path, bad_sec: int) -> None:
    """A packet stamped 1970 (or three years back) in the middle of a capture: the meter hands
    its flow over alone and first; it used to reach the detectors and open 1970 windows."""
    sec = T0 // 1000
    packets = [(sec + i, 1000 + i) for i in range(5)] + [(bad_sec, 999)] + [(sec + 10 + i, 2000 + i) for i in range(5)]
    path = tmp_path / "x.pcap"
    path.write_bytes(_pcap(packets))
    out = tmp_path / "out.jsonl"
    stats_path = tmp_path / "stats.json"
    code = cli.main(["run", "--input", f"pcap:{path}", "--output", f"jsonl:{out}",
                     "--stats-json", str(stats_path), "--no-progress", "-q"])
    assert code == 0
    assert json.loads(stats_path.read_text())["drops"] == {"too-old": 1}
    docs = [json.loads(line) for line in out.read_text().splitlines()]
    assert docs  # the metrics windows of the real traffic
    assert {d["event"]["start"][:4] for d in docs if "start" in d.get("event", {})} == {"2023"}


# -- two file inputs read by two threads ---------------------------------------------------------

_fast_done = threading.Event()


class FastFile:
    """Twenty minutes of flows, handed over at once."""

    live = False

    def __init__(self, address: Any, config: Any, ctx: Any) -> None:
        self.raw = address.raw

    def batches(self) -> Any:
        for k in range(20):
            yield FlowBatch({"flowEndMilliseconds": [T0 + k * 60_000 + i for i in range(10)]}, source=self.raw)
        _fast_done.set()

    def close(self) -> None:
        pass


class SlowFile(FastFile):
    """The same minutes, from a reader that starts after the other finished (a gzip, a slower disk)."""

    def batches(self) -> Any:
        _fast_done.wait(2)
        for k in range(20):
            yield FlowBatch({"flowEndMilliseconds": [T0 + k * 60_000 + 500 + i for i in range(10)]},
                            source=self.raw)


class Seen:
    times: list[int] = []

    def __init__(self, config: Any, ctx: Any) -> None:
        Seen.times = []

    def on_batch(self, batch: FlowBatch) -> list[Any]:
        Seen.times.extend(batch.event_times())
        return []

    def on_watermark(self, wm: int) -> list[Any]:
        return []

    def flush(self) -> list[Any]:
        return []


class TwoFiles:
    @hookimpl
    def flowcep_register_inputs(self) -> list[InputSpec]:
        return [InputSpec(name="fast", summary="t", schemes=("fast",), open=FastFile),
                InputSpec(name="slow", summary="t", schemes=("slow",), open=SlowFile)]

    @hookimpl
    def flowcep_register_detectors(self) -> list[DetectorSpec]:
        return [DetectorSpec(name="seen", summary="t", factory=Seen)]


def test_a_slower_file_reader_loses_no_record_to_a_faster_one() -> None:
    """Two files of the same twenty minutes: the faster reader used to move the watermark
    past every record of the slower one (all 'late', their alerts lost)."""
    _fast_done.clear()
    pm = make_plugin_manager()
    pm.register_plugin(TwoFiles(), PluginInfo(name="t", module="tests", distribution="tests", version="0",
                                              origin="registered"))
    res = api_run(["fast:x", "slow:y"], detectors=["seen"], enrichers=[], pm=pm)
    assert res.stats["drops"] == {}
    assert len(Seen.times) == 400
    assert Seen.times == sorted(Seen.times)


_progress = threading.Condition()
_yielded = {"ahead": 0, "behind": 0}
LAG = 8  # batches of two minutes: the behind reader is 16 minutes of event time back


def _wait(name: str, at_least: int) -> None:
    with _progress:
        _progress.wait_for(lambda: _yielded[name] >= at_least, timeout=2)


def _did(name: str, n: int) -> None:
    with _progress:
        _yielded[name] = n
        _progress.notify_all()


class AheadFile(FastFile):
    """Forty minutes of flows, a batch per two minutes, never more than LAG batches ahead."""

    def batches(self) -> Any:
        for k in range(20):
            _wait("behind", k - LAG)
            yield FlowBatch({"flowEndMilliseconds": [T0 + k * 120_000 + i for i in range(10)]}, source=self.raw)
            _did("ahead", k + 1)


class BehindFile(FastFile):
    """The same minutes, its reader LAG batches behind the other's all along."""

    def batches(self) -> Any:
        for k in range(20):
            _wait("ahead", min(20, k + LAG))
            yield FlowBatch({"flowEndMilliseconds": [T0 + k * 120_000 + 500 + i for i in range(10)]},
                            source=self.raw)
            _did("behind", k + 1)


class Interleaved(TwoFiles):
    @hookimpl
    def flowcep_register_inputs(self) -> list[InputSpec]:
        return [InputSpec(name="ahead", summary="t", schemes=("ahead",), open=AheadFile),
                InputSpec(name="behind", summary="t", schemes=("behind",), open=BehindFile)]


def test_a_file_reader_lagging_behind_another_is_not_an_idle_exporter() -> None:
    """Two files of the same minutes, one reader five minutes of event time behind the other
    all along: the lagging input's exporter looked idle (exporter_idle is 60 s of event time
    for files) and its records were late (two 200,000-record IPFIX files lost 12,598 to
    101,298 records, a different number each run)."""
    _yielded.update(ahead=0, behind=0)
    pm = make_plugin_manager()
    pm.register_plugin(Interleaved(), PluginInfo(name="t", module="tests", distribution="tests", version="0",
                                                 origin="registered"))
    res = api_run(["ahead:x", "behind:y"], detectors=["seen"], enrichers=[], pm=pm)
    assert res.stats["drops"] == {}
    assert len(Seen.times) == 400
    assert Seen.times == sorted(Seen.times)


def test_with_workers_a_lagging_file_reader_is_not_an_idle_exporter_either() -> None:
    """``--workers 2`` reads several inputs in the main process and sends each batch to every
    worker: each worker's clock must hear which file inputs are still reading, or the lagging
    input's records are late in the workers (the main process's clock is not the one that
    cuts time there)."""
    _yielded.update(ahead=0, behind=0)
    pm = make_plugin_manager()
    pm.register_plugin(Interleaved(), PluginInfo(name="t", module="tests", distribution="tests", version="0",
                                                 origin="registered"))
    res = api_run(["ahead:x", "behind:y"], detectors=["seen"], enrichers=[], pm=pm,
                  config={"run": {"workers": 2}})
    assert res.stats["gauges"].get("workers") == 2, res.stats["gauges"]
    assert res.stats["drops"] == {}
    assert res.stats["stages"]["detect"]["in"] == 400
