"""Alert and metric documents read back as ``Alert``/``Metric`` events (a level-2 monitor's
input): the conversion other transports call, the ``alerts:PATH`` input, and how the host
routes these events (through the clock, only to detectors that ask for them).

The end-to-end level-2 scenario (two gateway runs, then the shipped level-2 detectors) is in
plugins/flowcep-level2/tests/test_level2.py.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pytest

from flowcep_plugin.clock import Reorderer
from flowcep_plugin.context import Context
from flowcep_plugin.errors import ConfigError, InputError
from flowcep_plugin.inprocess import run
from flowcep_plugin.inputs.ecs_events import MAX_FIELDS, MAX_LIST, MAX_TEXT, batches_from_documents
from flowcep_plugin.manager import make_plugin_manager
from flowcep_plugin.pipeline import Pipeline
from flowcep_plugin.plan import resolve
from flowcep_plugin.records import FlowBatch
from flowcep_plugin.registry import Registry

T0 = 1712916000000  # 2024-04-12T10:00:00Z


def iso(ms: int) -> str:
    from flowcep_plugin.alerts import iso_ms

    return iso_ms(ms)


def alert(src: str, end: int, rule: str = "portscan-horizontal", **extra: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "@timestamp": iso(end), "message": "m",
        "event": {"kind": "alert", "start": iso(end - 300_000), "end": iso(end)},
        "rule": {"id": rule, "name": rule}, "source": {"ip": src},
        "flowcep": {"alert_id": f"id-{src}-{end}", "key": src,
                    "window": {"start": iso(end - 300_000), "end": iso(end)}},
    }
    doc.update(extra)
    return doc


def metric(end: int, **extra: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "@timestamp": iso(end), "event": {"kind": "metric", "end": iso(end)},
        "rule": {"id": "trafficstats-top-talkers"},
        "flowcep": {"metrics": {"by_bytes": [{"ip": "192.0.2.1", "bytes": 5}], "sources": 1}},
    }
    doc.update(extra)
    return doc


def write(path: Path, docs: list[Any]) -> Path:
    path.write_text("".join((d if isinstance(d, str) else json.dumps(d)) + "\n" for d in docs))
    return path


# -- the conversion -------------------------------------------------------------------------------


def test_gateway_is_observer_name_then_hostname_then_ip_then_the_source() -> None:
    docs = [alert("192.0.2.1", T0, observer={"name": "gw-a", "hostname": "h"}),
            alert("192.0.2.1", T0, observer={"hostname": "h"}),
            alert("192.0.2.1", T0, observer={"ip": ["198.51.100.7", "198.51.100.8"]}),
            alert("192.0.2.1", T0)]
    (batch,), errors = batches_from_documents(docs, source="file-x")
    assert errors == []
    assert batch.get("flowcep.gateway") == ["gw-a", "h", "198.51.100.7", "file-x"]
    assert batch.get("flowcep.exporter") == batch.get("flowcep.gateway")  # one watermark per gateway


def test_event_time_is_the_window_end_and_times_are_milliseconds() -> None:
    later = alert("192.0.2.1", T0 + 600_000)
    later["@timestamp"] = iso(T0)  # a suppressed alert's revision keeps its first @timestamp
    no_end = alert("192.0.2.2", T0)
    del no_end["event"]["end"]
    only_ts = alert("192.0.2.3", T0 + 60_000)
    del only_ts["event"]["end"]
    del only_ts["flowcep"]["window"]
    (batch,), _ = batches_from_documents([later, no_end, only_ts])
    assert batch.event_times() == [T0 + 600_000, T0, T0 + 60_000]
    assert batch.get("event.start")[0] == T0 + 300_000
    assert batch.get("@timestamp")[0] == iso(T0)  # kept as text
    assert batch.get("flowcep.window.end") == [T0 + 600_000, T0, None]


def test_bad_documents_are_one_line_reasons_with_their_index() -> None:
    deep: dict[str, Any] = {}
    node = deep
    for _ in range(20):
        node["a"] = {}
        node = node["a"]
    wide = alert("192.0.2.1", T0, flowcep={"fields": {f"f{i}": i for i in range(MAX_FIELDS + 1)}})
    long_text = alert("192.0.2.1", T0, message="x" * (MAX_TEXT + 1))
    bad_time = alert("192.0.2.1", T0)
    bad_time["event"]["end"] = True
    no_rule = alert("192.0.2.1", T0)
    del no_rule["rule"]
    docs = [alert("192.0.2.1", T0, extra=deep), wide, long_text, bad_time, no_rule, [], "x",
            alert("192.0.2.9", T0)]
    batches, errors = batches_from_documents(docs)
    assert [i for i, _ in errors] == [0, 1, 2, 3, 4, 5, 6]
    assert all("\n" not in reason and len(reason) <= 200 for _, reason in errors)
    assert "nested deeper" in errors[0][1] and "fields" in errors[1][1] and "text longer" in errors[2][1]
    assert "not a time" in errors[3][1] and "rule.id" in errors[4][1]
    assert [b.length for b in batches] == [1]


def test_long_lists_are_cut_and_flows_are_not_events() -> None:
    doc = metric(T0)
    doc["flowcep"]["metrics"]["by_bytes"] = [{"ip": "192.0.2.1", "bytes": 1}] * (MAX_LIST + 5)
    flow = {"event": {"kind": "event"}, "netflow": {"protocol_identifier": 6}}
    hit = {"_index": "logs-flowcep.alert-default", "_source": alert("192.0.2.4", T0)}
    batches, errors = batches_from_documents([doc, flow, hit])
    assert errors == []
    by_stream = {b.stream: b for b in batches}
    assert len(by_stream["Metric"].get("flowcep.metrics.by_bytes")[0]) == MAX_LIST
    assert by_stream["Alert"].get("source.ip") == ["192.0.2.4"]


# -- the alerts:PATH input ----------------------------------------------------------------------


def test_gzip_file_and_gateway_option(tmp_path: Path) -> None:
    path = tmp_path / "gw.jsonl.gz"
    with gzip.open(path, "wt") as fh:
        fh.write(json.dumps(alert("192.0.2.1", T0)) + "\n")
    epl = tmp_path / "gw.epl"
    epl.write_text("@Name('G') @Source('src') select `source.ip` as src, `flowcep.gateway` as gw from Alert\n")
    result = run([f"alerts:{path}?gateway=campus-core"], detectors=[], config={"epl": {"modules": [str(epl)]}})
    assert [a["flowcep"]["fields"]["gw"] for a in result.alerts] == ["campus-core"]


def test_a_glob_reads_every_gateway_merged_in_event_time(tmp_path: Path) -> None:
    """One input over several files: one thread, the documents merged by window end, so a
    gateway whose file is read first cannot make the other's events late (separate inputs
    are read concurrently). A metric between alerts stays between them (a new batch at each
    change of event type)."""
    gw = tmp_path / "gw"
    gw.mkdir()
    # east: 10 alerts a minute apart, a metric at minute 5; west: the odd half-minutes
    east = [alert("192.0.2.1", T0 + 60_000 * i) for i in range(10)]
    write(gw / "east.jsonl", east[:6] + [metric(T0 + 300_000)] + east[6:])  # as a gateway writes them
    write(gw / "west.jsonl", [alert("192.0.2.2", T0 + 60_000 * i + 30_000) for i in range(10)])
    (gw / "notes.txt").write_text("not read")
    registry = Registry.build(make_plugin_manager())
    spy = _Spy(frozenset({"Alert", "Metric"}))
    for address in (f"alerts:{gw}/*.jsonl", f"alerts:{gw}"):
        spy.seen.clear()
        plan = resolve(registry, {}, {"inputs": [address], "outputs": [], "detectors": [], "progress": False,
                                      "lateness": 0})
        stats = Pipeline(plan, Context(), extra_detectors=[spy]).run()
        assert stats["drops"] == {}
        times = [t for _, ts in spy.seen for t in ts]
        assert times == sorted(times) and len(times) == 21
        assert stats["gauges"]["time.exporters"] == 2  # each file its own gateway (no observer.name)
    with pytest.raises(InputError, match="no file matches"):
        run([f"alerts:{gw}/*.none"], detectors=[])
    with pytest.raises(ConfigError, match="names one gateway"):
        run([f"alerts:{gw}/*.jsonl?gateway=x"], detectors=[])


def test_unknown_option_is_one_line(tmp_path: Path) -> None:
    path = write(tmp_path / "a.jsonl", [alert("192.0.2.1", T0)])
    with pytest.raises(ConfigError, match=r"unknown option\(s\) nope; known: batch_size, gateway"):
        run([f"alerts:{path}?nope=1"], detectors=[])


# -- the host: routing and clock ------------------------------------------------------------------


class _Spy:
    def __init__(self, streams: frozenset[str] = frozenset()) -> None:
        if streams:
            self.streams = streams
        self.seen: list[tuple[str, list[int]]] = []

    def on_batch(self, batch: FlowBatch) -> list[Any]:
        self.seen.append((batch.stream, batch.event_times()))
        return []

    def on_watermark(self, watermark_ms: int) -> list[Any]:
        return []

    def flush(self) -> list[Any]:
        return []


def test_only_detectors_naming_the_stream_get_it_in_event_time_order(tmp_path: Path) -> None:
    east = write(tmp_path / "east.jsonl", [alert("192.0.2.1", T0 + 60_000 * i, observer={"name": "east"})
                                           for i in (0, 2, 4)] + [metric(T0 + 300_000, observer={"name": "east"})])
    west = write(tmp_path / "west.jsonl", [alert("192.0.2.2", T0 + 60_000 * i, observer={"name": "west"})
                                           for i in (1, 3, 5)] + [metric(T0 + 300_000, observer={"name": "west"})])
    registry = Registry.build(make_plugin_manager())
    plan = resolve(registry, {}, {"inputs": [f"alerts:{east}", f"alerts:{west}"], "outputs": [],
                                  "detectors": None, "progress": False})
    flows_only, alerts_only, both = _Spy(), _Spy(frozenset({"Alert"})), _Spy(frozenset({"Alert", "Metric"}))
    stats = Pipeline(plan, Context(), extra_detectors=[flows_only, alerts_only, both]).run()
    assert flows_only.seen == []
    assert {s for s, _ in alerts_only.seen} == {"Alert"}
    times = [t for _, ts in alerts_only.seen for t in ts]
    assert times == sorted(times) == [T0 + 60_000 * i for i in range(6)]  # merged across gateways
    assert sum(len(ts) for s, ts in both.seen if s == "Metric") == 2
    assert stats["plugin_errors"] == {}  # every installed flow detector ran and saw nothing
    assert stats["gauges"]["time.exporters"] == 2  # one clock per gateway


def test_clock_releases_streams_apart_in_event_time_order() -> None:
    r = Reorderer(600_000)  # nothing released before the flush
    a = FlowBatch({"x": [1, 2]}, 2, "s", stream="Alert")
    a.set_event_times([T0 + 2, T0 + 5])
    m = FlowBatch({"y": [1]}, 1, "s", stream="Metric")
    m.set_event_times([T0 + 3])
    a2 = FlowBatch({"x": [3]}, 1, "s", stream="Alert")
    a2.set_event_times([T0 + 1])
    for b in (a, m, a2):
        assert r.push(b) == []
    out = r.flush()
    # never one batch of two streams, and in event-time order across them
    assert [(b.stream, b.event_times()) for b in out] == [
        ("Alert", [T0 + 1, T0 + 2]), ("Metric", [T0 + 3]), ("Alert", [T0 + 5])]
    assert [b.get("x") for b in out if b.stream == "Alert"] == [[3, 1], [2]]


def test_workers_leave_alert_events_in_the_main_process(tmp_path: Path) -> None:
    pytest.importorskip("flowcep_level2")
    east = write(tmp_path / "east.jsonl", [alert("192.0.2.1", T0, observer={"name": "east"})])
    west = write(tmp_path / "west.jsonl", [alert("192.0.2.1", T0 + 60_000, observer={"name": "west"})])
    inputs = [f"alerts:{east}", f"alerts:{west}"]
    one = run(inputs)
    two = run(inputs, config={"run": {"workers": 2}})
    rules = sorted(a["rule"]["id"] for a in one.alerts)
    assert rules == sorted(a["rule"]["id"] for a in two.alerts) == ["level2-scanner-gateways"]
    assert two.stats["plugin_errors"] == {}


def test_flowcep_epl_reads_metric_events(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from flowcep_plugin.cli import main

    path = write(tmp_path / "gw.jsonl", [metric(T0 + 300_000, observer={"name": "east"}), alert("192.0.2.1", T0)])
    epl = tmp_path / "m.epl"
    epl.write_text("@Name('M') select `flowcep.gateway` as gw, `flowcep.metrics.sources` as n from Metric\n")
    assert main(["epl", str(epl), "--input", f"alerts:{path}", "--emit", "M"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(r["gw"], r["n"]) for r in rows] == [("east", 1)]


def test_run_observer_flag_names_every_document(tmp_path: Path) -> None:
    from flowcep_plugin.cli import main

    demo = Path(__file__).resolve().parents[2] / "flowcep_plugin" / "data" / "demo.ipfix"
    out = tmp_path / "gw.jsonl"
    assert main(["run", "--input", str(demo), "--observer", "core-1", "-d", "trafficstats", "-d", "portscan",
                 "--output", f"jsonl:{out}", "-q", "--no-progress"]) == 0
    docs = [json.loads(line) for line in out.read_text().splitlines()]
    assert docs and {d["observer"]["name"] for d in docs} == {"core-1"}
    assert {d["event"]["kind"] for d in docs} == {"alert", "metric"}
