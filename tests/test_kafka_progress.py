"""Level-2 progress: a level-1 stream output publishes its engine's time, so a quiet gateway
does not hold the level-2 monitor's time until ``exporter_idle``.

``--output 'kafka://HOST:PORT/TOPIC?stream=NAME'`` writes, beside the rows, a progress document
each time its engine closes windows (at most every ``?progress=`` of event time); the level-2
input (``stream+kafka://``) hands them to the clock as progress marks
(:meth:`flowcep_plugin.clock.Reorderer.progress`), never to a statement as events. The clock
judges a mark as it judges one record: a lone far-future mark moves nothing.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from flowcep_plugin.clock import NO_TIME, PROGRESS_STREAM, Reorderer, TimePolicy
from flowcep_plugin.records import FlowBatch
from flowcep_plugin.stats import Stats

T0 = 1_712_916_000_000


def _rows(exporter: str, times: list[int]) -> FlowBatch:
    b = FlowBatch({"flowcep.exporter": [exporter] * len(times), "x": list(range(len(times)))}, len(times), "in")
    b.set_event_times(times)
    return b


def _marks(exporter: str, times: list[int]) -> FlowBatch:
    b = FlowBatch({"flowcep.exporter": [exporter] * len(times)}, len(times), "in", stream=PROGRESS_STREAM)
    b.set_event_times(times)
    return b


def _clock(live: bool = False) -> tuple[Reorderer, Stats]:
    stats = Stats()
    wall = [T0 / 1000 + 3600]
    return Reorderer(10_000, stats, release_every_ms=0, policy=TimePolicy(live=live, exporter_idle_ms=3_600_000),
                     wall=lambda: wall[0], mono=lambda: 0.0), stats


def test_progress_marks_move_a_quiet_exporter_and_hold_nothing() -> None:
    clock, stats = _clock()
    clock.push(_rows("quiet", [T0, T0 + 500]))  # the quiet one: two rows at the start
    clock.push(_rows("busy", [T0 + i * 1000 for i in range(300)]))  # five busy minutes
    assert clock.watermark == T0 + 500 - 10_000  # held by the quiet exporter
    released = clock.progress(_marks("quiet", [T0 + 60_000, T0 + 120_000]))
    assert clock.watermark == T0 + 120_000 - 10_000  # the marks moved it...
    assert sum(b.length for b in released) == 113  # ...releasing what it passed (2 quiet, 111 busy rows)
    assert all(b.stream != PROGRESS_STREAM for b in released) and clock.pending == 300 + 2 - 113
    assert stats.gauges["time.progress_marks"] == 2


def test_one_far_future_mark_moves_nothing_and_a_few_legitimate_ones_still_do() -> None:
    clock, stats = _clock()
    clock.progress(_marks("quiet", [T0, T0 + 1000]))
    clock.push(_rows("busy", [T0 + i * 1000 for i in range(300)]))
    clock.progress(_marks("quiet", [T0 + 5 * 3_600_000]))  # five hours ahead, alone
    # the lone rule: the watermark goes no further than the exporter's own latest other mark
    assert clock.watermark <= T0 + 1000
    clock.progress(_marks("quiet", [T0 + 200_000]))  # one legitimate mark still moves it
    assert clock.watermark == T0 + 200_000  # (to the mark: the lone one stands in for its lateness)


def test_a_single_first_mark_cannot_set_the_time() -> None:
    clock, _ = _clock()
    clock.progress(_marks("quiet", [T0 + 3_600_000]))
    assert clock.watermark == NO_TIME


def test_live_marks_beyond_the_future_tolerance_are_counted_and_ignored() -> None:
    clock, stats = _clock(live=True)
    clock.push(_rows("busy", [T0 + 3_590_000 + i for i in range(10)]))
    clock.progress(_marks("quiet", [T0 + 3600_000 + 3_600_000]))  # an hour past the wall clock
    assert stats.gauges["time.progress_future"] == 1
    assert clock.watermark == T0 + 3_590_009 - 10_000


# -- documents -----------------------------------------------------------------------------------
def test_progress_documents_read_back_as_the_partitions_time_and_bad_ones_are_one_line() -> None:
    from flowcep_plugin.inputs.alertkafka import Progress
    from flowcep_plugin.inputs.streamrows import progress_from_json, row_from_json
    from flowcep_plugin.outputs.streamdocs import progress_document

    types = frozenset({"Reports"})
    doc = progress_document("Reports", T0 + 5, "gw1")
    assert progress_from_json(doc, types, "t[0]") == Progress("t[0]", T0 + 5)
    assert row_from_json(doc, types, "gw1", "t[0]") is None  # an older reader skips it: no row
    assert progress_from_json(progress_document("Other", T0, ""), types, "t[0]") is None
    bad = json.dumps({"flowcep": {"progress": {"stream": "Reports", "time_ms": "soon"}}}).encode()
    reason = progress_from_json(bad, types, "t[0]")
    assert isinstance(reason, str) and reason.startswith("flowcep.progress.time_ms") and "\n" not in reason
    # a row whose values hold the dataset's name is still a row
    row = json.dumps({"flowcep": {"stream": "Reports", "time_ms": T0, "row": {"src": "flowcep.progress"}}}).encode()
    assert progress_from_json(row, types, "t[0]") is None


def test_progress_needs_a_stream_and_a_duration() -> None:
    from flowcep_plugin.errors import ConfigError
    from flowcep_plugin.outputs.kafka import _progress_ms, parse_target

    assert parse_target("//h:1/t?stream=R&progress=5s")[2]["progress"] == "5s"
    with pytest.raises(ConfigError, match="progress= goes with stream=NAME"):
        parse_target("//h:1/t?progress=5s")
    assert _progress_ms("off", "o") is None and _progress_ms("2s", "o") == 2000
    with pytest.raises(ConfigError, match="progress"):
        _progress_ms("soon", "o")


# -- end to end: two gateways, one quiet -----------------------------------------------------------
LEVEL1 = """
@Name('Reports') insert into Reports
select sourceIPv4Address as src, count(*) as flows
from Flow#time_batch(1 min, 0)
group by sourceIPv4Address
having count(*) >= 5;
"""

MINUTES = 8
LEVEL2 = """
create schema Reports (src string, flows long, `flowcep.gateway` string);
@Name('PerMinute') @Source('src') select src, sum(flows) as flows from Reports#time_batch(1 min, 0) group by src;
"""


def _gateway_flows(path: Path, busy: bool) -> None:
    """8 minutes of flows (less than the live past_tolerance, 10 min, past which a lagging
    gateway stops holding the others whatever exporter_idle says). ``busy``: every minute, 5 flows from each of three sources (a row
    each per minute). Quiet: 5 flows from one source in minute 0 (one row), then one flow a
    minute from a new source (no row): its engine moves on, its stream says nothing."""
    lines = []
    for minute in range(MINUTES):
        base = T0 + minute * 60_000
        if busy:
            flows = [(f"10.1.0.{s}", base + s * 1000 + k * 100) for s in range(1, 4) for k in range(5)]
        elif minute == 0:
            flows = [("10.2.0.1", base + k * 1000) for k in range(5)]
        else:
            flows = [(f"10.2.1.{minute}", base + 30_000)]
        for src, t in flows:
            lines.append(json.dumps({"sourceIPv4Address": src, "destinationIPv4Address": "192.0.2.1",
                                     "sourceTransportPort": 40000, "destinationTransportPort": 443,
                                     "protocolIdentifier": 6, "packetDeltaCount": 1, "octetDeltaCount": 60,
                                     "flowStartMilliseconds": t - 10, "flowEndMilliseconds": t}))
    path.write_text("\n".join(lines) + "\n")


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "flowcep_plugin", *args], capture_output=True, text=True, timeout=300)


def _level2_live(tmp: Path, servers: str, topics: list[str], name: str,
                 seconds: float) -> tuple[list[dict[str, Any]], list[dict[str, Any]], dict[str, Any]]:
    """A live level-2 run (exporter_idle 60 s) over the topics: the alerts written within
    ``seconds``, those written in all (after SIGINT flushed it), and its stats."""
    (tmp / "l2.epl").write_text(LEVEL2)
    cfg = tmp / "l2.toml"
    cfg.write_text('[run]\ndetectors = []\nlateness = "1s"\n[time]\nexporter_idle = "60s"\n'
                   '[alerts]\nsuppression = "0s"\n')  # one alert per window and source
    out, stats = tmp / f"{name}.jsonl", tmp / f"{name}.stats.json"
    proc = subprocess.Popen([sys.executable, "-m", "flowcep_plugin", "run", "-q", "--no-progress", "-c", str(cfg),
                             "--epl", str(tmp / "l2.epl"), "-i",
                             f"stream+kafka://{servers}/{','.join(topics)}?type=Reports", "-o", f"jsonl:{out}",
                             "--stats-json", str(stats)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(seconds)
        live = out.read_text() if out.exists() else ""
    finally:
        os.kill(proc.pid, signal.SIGINT)
        _stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 0, stderr
    assert "Traceback" not in stderr
    everything = out.read_text()

    def docs(text: str) -> list[dict[str, Any]]:
        return [json.loads(line) for line in text.splitlines() if line.strip()]

    return docs(live), docs(everything), json.loads(stats.read_text())


def _key(alert: dict[str, Any]) -> tuple[Any, ...]:
    f = alert["flowcep"]
    return (f["fields"]["src"], json.dumps(f["fields"]["flows"]), f["window"]["start"], f["window"]["end"])


@pytest.mark.slow
def test_a_quiet_gateway_holds_the_level2_monitor_only_without_progress(tmp_path: Path, kafka_servers: str) -> None:
    """Two gateways publish their Reports stream to Kafka; the quiet one inserts one row in
    minute 0 and nothing after. With progress documents (the default) a live level-2 monitor
    closes the busy gateway's windows through all 8 minutes within seconds; with
    ``progress=off`` (the control, what level-1 published before) the quiet gateway holds
    every window after its row for ``exporter_idle`` (60 s). Both end with the same alerts, and
    the progress documents are never rows: the level-2 input count is the rows published."""
    files = {}
    for gw in ("busy", "quiet"):
        files[gw] = tmp_path / f"{gw}.jsonl"
        _gateway_flows(files[gw], busy=gw == "busy")
    (tmp_path / "l1.epl").write_text(LEVEL1)
    (tmp_path / "l1.toml").write_text("[run]\ndetectors = []\n")
    results = {}
    for mode in ("1s", "off"):
        topics = [f"l2p-{gw}-{mode}-{uuid.uuid4().hex[:6]}" for gw in ("busy", "quiet")]
        for gw, topic in zip(("busy", "quiet"), topics, strict=True):
            res = _run("run", "-q", "--no-progress", "--no-enrich", "-c", str(tmp_path / "l1.toml"),
                       "--observer", gw, "--epl", str(tmp_path / "l1.epl"), "--lateness", "5s",
                       "-i", f"json:{files[gw]}?batch_size=20",
                       "-o", f"kafka://{kafka_servers}/{topic}?stream=Reports&progress={mode}")
            assert res.returncode == 0, res.stderr
        results[mode] = _level2_live(tmp_path, kafka_servers, topics, mode, seconds=10)
    live, everything, stats = results["1s"]
    live_off, everything_off, stats_off = results["off"]
    assert sorted(map(_key, everything)) == sorted(map(_key, everything_off))  # the same alerts
    def busy(alerts: list[dict[str, Any]]) -> set[str]:
        """The windows of the busy gateway's sources (rows, not Esper's empty group ends)."""
        return {a["flowcep"]["window"]["start"] for a in alerts
                if a["flowcep"]["fields"]["src"].startswith("10.1.") and a["flowcep"]["fields"]["flows"]}

    assert len(busy(everything)) == MINUTES
    # with progress: the busy gateway's windows close while the monitor runs (all but the last
    # ones, which wait for the quiet gateway's last progress and the lateness)
    assert len(busy(live)) >= MINUTES - 2, sorted(busy(live))
    # without: the quiet gateway's one row (made at 10:01, its window's end) holds the time;
    # no window after the next one closes within exporter_idle
    assert busy(live_off) <= {"2024-04-12T10:01:00.000Z", "2024-04-12T10:02:00.000Z"}, sorted(busy(live_off))
    rows = MINUTES * 3 + 1
    assert stats["stages"]["input"]["in"] == rows == stats_off["stages"]["input"]["in"]
    assert stats["gauges"]["time.progress_marks"] >= 4  # two gateways, two or more each
    assert "time.progress_marks" not in stats_off["gauges"]
