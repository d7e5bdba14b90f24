"""``stream:PATH?type=NAME`` / ``stream+kafka://...?type=NAME``: a level-1 run's INSERT INTO streams
read back by a level-2 module as events of declared EPL types.

The equivalence test splits one module in two. In one process, level-1 statements insert into
``Reports`` and ``Talkers`` and level-2 statements (a sliding window with HAVING, a pattern, a
join of the two streams, a batch window, ``select *``) read them. Split, a level-1 run publishes
the two streams (``jsonl:PATH?stream=NAME``, ``kafka://...?stream=NAME``) and a level-2 run over
them, with ``create schema Reports (...)`` in place of the INSERT INTO statements, must print the
same rows at the same engine times. Then hostile documents: every one is a one-line warning and a
counted drop, never a traceback, and the good rows still give their rows.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

import flowcep_plugin

DEMO = Path(flowcep_plugin.__file__).parent / "data" / "demo.ipfix"

LEVEL1 = """
@Name('Reports') insert into Reports
select sourceIPv4Address as src, count(distinct destinationTransportPort) as ports,
       count(distinct destinationIPv4Address) as hosts, sum(octetDeltaCount) as bytes
from Flow#time_batch(1 min)
group by sourceIPv4Address
having count(*) >= 5;

@Name('Talkers') insert into Talkers
select sourceIPv4Address as src, sum(octetDeltaCount) as bytes
from Flow#time_batch(2 min)
group by sourceIPv4Address
having sum(octetDeltaCount) > 100000;
"""

SCHEMAS = """
create schema Reports (src string, ports long, hosts long, bytes long);
create schema Talkers (src string, bytes long);
"""

LEVEL2 = """
@Name('Wide') select src, sum(ports) as ports, max(hosts) as hosts, count(*) as n
from Reports#time(10 min) group by src having sum(ports) >= 10;

@Name('Again') select a.src as src, a.ports as p1, b.ports as p2
from pattern [every a=Reports(ports >= 3) -> b=Reports(src = a.src and ports >= 3) where timer:within(10 min)];

@Name('Joined') select r.src as src, r.ports as ports, t.bytes as bytes
from Reports#time(5 min) as r, Talkers#time(5 min) as t where r.src = t.src;

@Name('PerMinute') select count(*) as n, sum(ports) as ports from Reports#time_batch(1 min);

@Name('Star') select * from Reports(hosts > 20);
"""
EMIT = "Wide,Again,Joined,PerMinute,Star"


def _flowcep(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "flowcep_plugin", *args], capture_output=True, text=True,
                          timeout=timeout)


def _rows(text: str) -> Counter[str]:
    """Rows as canonical JSON (key order aside), with their multiplicity."""
    return Counter(json.dumps(json.loads(line), sort_keys=True) for line in text.splitlines() if line.strip())


def _epl(tmp: Path, name: str, text: str, *inputs: str) -> subprocess.CompletedProcess[str]:
    module = tmp / name
    module.write_text(text)
    args = ["epl", str(module), "--emit", EMIT]
    for i in inputs:
        args += ["-i", i]
    return _flowcep(*args)


def _level1(tmp: Path, *outputs: str, extra: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    """The level-1 statements alone (no installed detector, no enricher: as ``flowcep epl`` runs)."""
    (tmp / "level1.epl").write_text(LEVEL1)
    (tmp / "only-epl.toml").write_text("[run]\ndetectors = []\n")
    args = ["run", "-q", "--no-progress", "--no-enrich", "-c", str(tmp / "only-epl.toml"), "-i", str(DEMO),
            "--epl", str(tmp / "level1.epl"), *extra]
    for o in outputs:
        args += ["-o", o]
    return _flowcep(*args)


@pytest.fixture(scope="module")
def single(tmp_path_factory: pytest.TempPathFactory) -> Counter[str]:
    """The rows of the level-2 statements when both levels run in one engine."""
    tmp = tmp_path_factory.mktemp("single")
    res = _epl(tmp, "both.epl", LEVEL1 + LEVEL2, str(DEMO))
    assert res.returncode == 0, res.stderr
    rows = _rows(res.stdout)
    # a comparison that means something: every statement gives rows
    assert {json.loads(r)["statement"] for r in rows} == set(EMIT.split(","))
    assert sum(rows.values()) > 200
    return rows


def test_level2_over_the_stream_files_gives_the_single_process_rows(tmp_path: Path, single: Counter[str]) -> None:
    res = _level1(tmp_path, f"jsonl:{tmp_path}/l1.reports.jsonl?stream=Reports",
                  f"jsonl:{tmp_path}/l1.talkers.jsonl?stream=Talkers")
    assert res.returncode == 0, res.stderr
    docs = [json.loads(line) for line in (tmp_path / "l1.reports.jsonl").read_text().splitlines()]
    assert docs and all(d["flowcep"]["stream"] == "Reports" and set(d["flowcep"]["row"]) ==
                        {"src", "ports", "hosts", "bytes"} for d in docs)
    # the rows' own times (window ends), not one watermark for all of a step
    assert len({d["flowcep"]["time_ms"] for d in docs}) > 5
    res = _epl(tmp_path, "level2.epl", SCHEMAS + LEVEL2, f"stream:{tmp_path}/l1.*.jsonl?type=Reports,Talkers")
    assert res.returncode == 0, res.stderr
    assert "warning" not in res.stderr and "dropped" not in res.stderr, res.stderr
    assert _rows(res.stdout) == single


def test_one_stream_missing_changes_the_rows(tmp_path: Path, single: Counter[str]) -> None:
    """The comparison can fail: without Talkers the join has nothing to join."""
    res = _level1(tmp_path, f"jsonl:{tmp_path}/l1.reports.jsonl?stream=Reports")
    assert res.returncode == 0, res.stderr
    res = _epl(tmp_path, "level2.epl", SCHEMAS + LEVEL2, f"stream:{tmp_path}/l1.reports.jsonl?type=Reports,Talkers")
    assert res.returncode == 0, res.stderr
    got = _rows(res.stdout)
    assert got != single
    assert got == Counter({r: n for r, n in single.items() if json.loads(r)["statement"] != "Joined"})


@pytest.mark.slow
def test_level2_over_kafka_gives_the_single_process_rows(tmp_path: Path, kafka_servers: str,
                                                         single: Counter[str]) -> None:
    topics = {s: f"l2s-{s.lower()}-{uuid.uuid4().hex[:8]}" for s in ("Reports", "Talkers")}
    res = _level1(tmp_path, *(f"kafka://{kafka_servers}/{t}?stream={s}" for s, t in topics.items()),
                  extra=("--observer", "east"))
    assert res.returncode == 0, res.stderr
    res = _epl(tmp_path, "level2.epl", SCHEMAS + LEVEL2,
               f"stream+kafka://{kafka_servers}/{topics['Reports']},{topics['Talkers']}?type=Reports,Talkers&until=end")
    assert res.returncode == 0, res.stderr
    assert "warning" not in res.stderr and "dropped" not in res.stderr, res.stderr
    assert _rows(res.stdout) == single


def _doc(stream: str, t: Any, row: Any, observer: str | None = None) -> dict[str, Any]:
    d: dict[str, Any] = {"@timestamp": t, "event": {"kind": "event", "dataset": "flowcep.stream", "action": stream},
                         "flowcep": {"stream": stream, "time_ms": t, "row": row}}
    if observer:
        d["observer"] = {"name": observer}
    return d


T0 = 1_712_916_000_000  # 2024-04-12T10:00:00Z
HOSTILE_LEVEL2 = """
create schema Reports (src string, ports long, `flowcep.gateway` string);
@Name('Seen') select src, sum(ports) as ports, count(distinct `flowcep.gateway`) as gateways
from Reports#time_batch(1 min) group by src;
"""


def _hostile_file(path: Path) -> None:
    good = [_doc("Reports", T0 + 1000 * i, {"src": f"10.0.0.{i % 3}", "ports": i}, "east") for i in range(1, 121)]
    bad: list[str] = [
        "{not json",                                                     # 1 malformed
        "[1, 2]",                                                        # 2 malformed: not an object
        json.dumps(_doc("Reports", None, {"src": "x", "ports": 1})),     # 3 malformed: no time
        json.dumps(_doc("Reports", "soon", {"src": "x", "ports": 1})),   # 4 malformed: time not ms
        json.dumps(_doc("Reports", T0, ["x", 1])),                       # 5 malformed: row not an object
        json.dumps({"flowcep": {"stream": 7, "time_ms": T0, "row": {}}}),  # 6 malformed: stream not a name
        json.dumps(_doc("Reports", T0 + 5000, {"src": "x", "ports": "many"})),  # wrong type
        json.dumps(_doc("Reports", T0 + 5000, {"src": "x", "ports": True})),    # wrong type (bool is no long)
        json.dumps(_doc("Reports", T0 + 5000, {"src": "x"})),                   # missing field
        json.dumps(_doc("Other", T0 + 5000, {"src": "x", "ports": 1})),         # another stream: skipped
        json.dumps({"event": {"kind": "alert"}, "rule": {"id": "r"}}),          # an alert: skipped
        "",                                                                      # blank: ignored
        # times the event-time clock refuses: they must not move (or stall) the watermark
        json.dumps(_doc("Reports", 4_102_444_800_000, {"src": "x", "ports": 1})),  # year 2100
        json.dumps(_doc("Reports", 0, {"src": "x", "ports": 1})),
        json.dumps(_doc("Reports", -5, {"src": "x", "ports": 1})),
    ]
    lines = [json.dumps(d) for d in good[:60]] + bad + [json.dumps(d) for d in good[60:]]
    path.write_text("\n".join(lines) + "\n")


def test_hostile_rows_are_one_line_warnings_and_counted_drops(tmp_path: Path) -> None:
    rows_file = tmp_path / "east.reports.jsonl"
    _hostile_file(rows_file)
    (tmp_path / "l2.epl").write_text(HOSTILE_LEVEL2)
    (tmp_path / "only-epl.toml").write_text("[run]\ndetectors = []\n")
    stats = tmp_path / "stats.json"
    res = _flowcep("run", "-q", "--no-progress", "-c", str(tmp_path / "only-epl.toml"), "--epl", str(tmp_path / "l2.epl"),
                   "-i", f"stream:{rows_file}?type=Reports", "-o", f"jsonl:{tmp_path}/alerts.jsonl",
                   "--stats-json", str(stats))
    assert res.returncode == 0, res.stderr
    assert "Traceback" not in res.stderr
    warnings = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(warnings) == 9, res.stderr  # 6 malformed + 2 wrong types + 1 missing field, each at its line
    for lineno in range(61, 70):
        assert any(f"east.reports.jsonl:{lineno}: " in w for w in warnings), (lineno, res.stderr)
    assert any(w.endswith(":67: Reports.ports: expected long, got str 'many'") for w in warnings)
    assert any(w.endswith(":68: Reports.ports: expected long, got bool True") for w in warnings)
    assert any(w.endswith(":69: Reports: no property 'ports'") for w in warnings)
    got = json.loads(stats.read_text())
    clock = {k: v for k, v in got["drops"].items() if k in ("future", "too-old", "no-timestamp")}
    assert got["drops"] == {"malformed": 6, "stream-wrong-type": 2, "stream-missing-field": 1, **clock}
    assert sum(clock.values()) == 3 and "future" in clock
    assert got["gauges"]["stream rows of other streams skipped"] == 2
    # the good rows all arrived and were windowed: 2 minutes x 3 sources, every port counted
    res = _flowcep("epl", str(tmp_path / "l2.epl"), "-i", f"stream:{rows_file}?type=Reports")
    assert res.returncode == 0 and "Traceback" not in res.stderr, res.stderr
    assert res.stderr.splitlines()[-1].startswith("flowcep: dropped records: ")
    assert "malformed=6, " in res.stderr and "stream-missing-field=1, stream-wrong-type=2" in res.stderr
    rows = [json.loads(line) for line in res.stdout.splitlines()]
    full = [r for r in rows if r["gateways"]]
    assert len(full) == 6 and sum(r["ports"] for r in full) == sum(range(1, 121))
    assert {r["gateways"] for r in full} == {1}


@pytest.mark.parametrize(("address", "extra", "expected"), [
    ("stream:{rows}?type=Nope", (), "no module of this run declares and reads event type 'Nope'"),
    ("stream:{rows}", (), "name the EPL event type"),
    ("stream:{rows}?type=1x", (), "type '1x': an EPL type name"),
    ("stream:{rows}?type=Alert", (), "type 'Alert' is the engine's own stream"),
    ("stream:{rows}?type=Reports&colour=red", (), "unknown option(s) colour"),
    ("stream:{rows}?type=Reports", ("--workers", "2"), "cannot be read with --workers N"),
])
def test_a_bad_stream_input_is_one_line_at_start(tmp_path: Path, address: str, extra: tuple[str, ...],
                                                 expected: str) -> None:
    rows_file = tmp_path / "rows.jsonl"
    rows_file.write_text(json.dumps(_doc("Reports", T0, {"src": "a", "ports": 1})) + "\n")
    (tmp_path / "l2.epl").write_text(HOSTILE_LEVEL2)
    (tmp_path / "only-epl.toml").write_text("[run]\ndetectors = []\n")
    res = _flowcep("run", "-q", "--no-progress", "-c", str(tmp_path / "only-epl.toml"), "--epl",
                   str(tmp_path / "l2.epl"), "-i", address.format(rows=rows_file), "-o", "stdout", *extra,
                   timeout=120)
    assert res.returncode == 2, res.stderr
    errors = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(errors) == 1 and expected in errors[0], res.stderr


EXAMPLE = Path(flowcep_plugin.__file__).parent / "data" / "level2"


def _split_demo(tmp: Path) -> dict[str, Path]:
    """The demo scenario as two gateways' flows, split by destination parity (so the horizontal
    scanners reach both, as tests/inputs/test_alertkafka.py splits it)."""
    import ipaddress

    out = _flowcep("dump", str(DEMO)).stdout
    flows = [json.loads(line) for line in out.splitlines() if line.strip()]
    parts: dict[str, Path] = {}
    for gw, parity in (("east", 0), ("west", 1)):
        parts[gw] = tmp / f"{gw}.flows.json"
        parts[gw].write_text("".join(json.dumps(f) + "\n" for f in flows
                                     if int(ipaddress.ip_address(f["destinationIPv4Address"])) % 2 == parity))
    return parts


def test_the_shipped_example_names_the_scanners_seen_at_two_gateways(tmp_path: Path) -> None:
    """docs/level2.md's example, run as it says: each gateway publishes its Scanners stream, the
    level-2 module raises one alert per source named by both gateways within the hour; the set
    is recomputed here from the gateways' published rows."""
    (tmp_path / "only-epl.toml").write_text("[run]\ndetectors = []\n")
    gateways = tmp_path / "gateways"
    gateways.mkdir()
    for gw, flows in _split_demo(tmp_path).items():
        res = _flowcep("run", "-q", "--no-progress", "-c", str(tmp_path / "only-epl.toml"), "--observer", gw,
                       "-i", f"json:{flows}", "--epl", str(EXAMPLE / "gateway-scanners.epl"),
                       "-o", f"jsonl:{gateways}/{gw}.scanners.jsonl?stream=Scanners")
        assert res.returncode == 0, res.stderr
    alerts = tmp_path / "level2.jsonl"
    res = _flowcep("run", "-q", "--no-progress", "-c", str(tmp_path / "only-epl.toml"),
                   "--epl", str(EXAMPLE / "scanners-at-gateways.epl"),
                   "-i", f"stream:{gateways}/*.scanners.jsonl?type=Scanners", "-o", f"jsonl:{alerts}")
    assert res.returncode == 0, res.stderr
    seen: dict[str, list[tuple[int, str]]] = {}
    for gw in ("east", "west"):
        for line in (gateways / f"{gw}.scanners.jsonl").read_text().splitlines():
            d = json.loads(line)
            assert d["observer"]["name"] == gw
            seen.setdefault(d["flowcep"]["row"]["src"], []).append((d["flowcep"]["time_ms"], gw))
    hour = 3_600_000
    expected = {src for src, hits in seen.items()
                if any(g1 != g2 and abs(t1 - t2) < hour for t1, g1 in hits for t2, g2 in hits)}
    assert len(expected) >= 2 and len(seen) > len(expected)  # some scanners at one gateway only
    # what docs/level2.md says this example gives
    assert [len((gateways / f"{gw}.scanners.jsonl").read_text().splitlines()) for gw in ("east", "west")] == [10, 6]
    assert expected == {"203.0.113.66", "203.0.113.21", "10.20.30.20"}
    docs = [json.loads(line) for line in alerts.read_text().splitlines()]
    assert {d["source"]["ip"] for d in docs} == expected
    assert all(d["rule"]["id"] == "scanners-at-gateways.ScannerAtGateways" and d["flowcep"]["fields"]["gateways"] == 2
               for d in docs)


def test_the_shipped_example_is_the_one_the_docs_show() -> None:
    doc = (Path(flowcep_plugin.__file__).parents[1] / "docs" / "level2.md").read_text()
    for name in ("gateway-scanners.epl", "scanners-at-gateways.epl"):
        statements = "\n".join(line for line in (EXAMPLE / name).read_text().splitlines()
                               if not line.startswith("//"))
        assert statements.strip() in doc, name


QUIET_LEVEL2 = """
create schema Reports (src string, ports long);
@Name('Seen') @Source('src') select src, count(*) as n from Reports#time_batch(2 sec, 0) group by src;
"""


def _live_level2(tmp: Path, servers: str, exporter_idle: str,
                 within: float) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """A live level-2 run over two partitions: ``quiet`` published one row 30 s ago and then
    nothing until, 8 s in, one row 20 s old; ``busy`` publishes a row every 0.2 s. The alerts
    written while it runs, and the run's drops."""
    import os
    import signal
    import time

    from confluent_kafka import Producer

    busy, quiet = (f"l2live-{n}-{uuid.uuid4().hex[:8]}" for n in ("busy", "quiet"))
    producer = Producer({"bootstrap.servers": servers})
    now = int(time.time() * 1000)
    producer.produce(quiet, json.dumps(_doc("Reports", now - 30_000, {"src": "q", "ports": 1})).encode())
    producer.produce(busy, json.dumps(_doc("Reports", now - 29_000, {"src": "b0", "ports": 1})).encode())
    producer.flush(10)
    (tmp / "l2.epl").write_text(QUIET_LEVEL2)
    cfg = tmp / "live.toml"
    cfg.write_text(f'[run]\ndetectors = []\nlateness = "1s"\n[time]\nexporter_idle = "{exporter_idle}"\n')
    out = tmp / f"alerts-{exporter_idle}.jsonl"
    stats = tmp / f"stats-{exporter_idle}.json"
    proc = subprocess.Popen([sys.executable, "-m", "flowcep_plugin", "run", "-q", "--no-progress", "-c", str(cfg),
                             "--epl", str(tmp / "l2.epl"), "-i", f"stream+kafka://{servers}/{busy},{quiet}?type=Reports",
                             "-o", f"jsonl:{out}", "--stats-json", str(stats)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        end = time.monotonic() + within
        late_at = time.monotonic() + 8
        while time.monotonic() < end:
            if late_at and time.monotonic() >= late_at:
                producer.produce(quiet, json.dumps(_doc("Reports", now - 20_000, {"src": "late", "ports": 1})).encode())
                late_at = 0
            t = int(time.time() * 1000)
            producer.produce(busy, json.dumps(_doc("Reports", t, {"src": f"b{t // 2000}", "ports": 1})).encode())
            producer.flush(10)
            time.sleep(0.2)
        written = out.read_text() if out.exists() else ""
    finally:
        os.kill(proc.pid, signal.SIGINT)
        _stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 0, stderr
    assert "Traceback" not in stderr
    drops: dict[str, int] = json.loads(stats.read_text())["drops"]
    return [json.loads(line) for line in written.splitlines() if line.strip()], drops


@pytest.mark.slow
def test_a_quiet_producer_stops_holding_the_live_watermark_after_exporter_idle(tmp_path: Path,
                                                                               kafka_servers: str) -> None:
    """Without progress records, the quiet partition holds the level-2 watermark at its last
    row for ``exporter_idle`` and no longer: with 2 s the busy producer's windows close while
    the run is live, and the quiet producer's row that comes later, behind the watermark, is
    dropped as late and counted; with 60 s (the control) none of the windows closes within the
    same 12 s and the same row is on time."""
    alerts, drops = _live_level2(tmp_path, kafka_servers, "2s", within=12)
    moved = {a["flowcep"]["fields"]["src"] for a in alerts}
    assert len(moved - {"q", "b0"}) >= 3, moved  # the busy producer's 2 s windows, closed while live
    assert drops == {"late": 1}
    alerts, drops = _live_level2(tmp_path, kafka_servers, "60s", within=12)
    held = {a["flowcep"]["fields"]["src"] for a in alerts}
    assert held <= {"q", "b0"}, held
    assert drops == {}


def test_a_stream_with_its_remove_stream_inserted_is_refused(tmp_path: Path) -> None:
    """The documents have no remove flag, so a published remove row would read as a new row."""
    (tmp_path / "l1.epl").write_text("@Name('R') insert irstream into Reports select sourceIPv4Address as src "
                                     "from Flow#length(2);")
    (tmp_path / "only-epl.toml").write_text("[run]\ndetectors = []\n")
    res = _flowcep("run", "-q", "--no-progress", "-c", str(tmp_path / "only-epl.toml"), "-i", str(DEMO),
                   "--epl", str(tmp_path / "l1.epl"), "-o", f"jsonl:{tmp_path}/r.jsonl?stream=Reports", timeout=120)
    assert res.returncode == 2
    errors = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(errors) == 1 and "inserts the remove stream into 'Reports'" in errors[0], res.stderr
