"""``flowcep run --workers N``: the same alerts as one process, counted the same way.

The alerts are compared as (rule, source, target, window, revision, counts): everything but
the run's own timestamps. The inputs are FlowCEP's sample (three time-shifted copies, so
windows span copies) and the synthetic scenario that holds every attack kind at once.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import zlib
from pathlib import Path
from typing import Any

import pytest

from flowcep_plugin import DetectorSpec, InputSpec, hookimpl
from flowcep_plugin.alerts import make_alert
from flowcep_plugin.context import Context
from flowcep_plugin.errors import ConfigError
from flowcep_plugin.manager import PluginInfo, make_plugin_manager
from flowcep_plugin.partition import (
    BUCKETS,
    OwnerMap,
    bucket_loads,
    event_owner,
    owned_columns,
    owner,
    owner_columns,
    route,
)
from flowcep_plugin.pipeline import CollectingOutput, Pipeline
from flowcep_plugin.plan import resolve
from flowcep_plugin.records import FlowBatch
from flowcep_plugin.registry import Registry
from flowcep_plugin.specs import RuleSpec
from flowcep_plugin.stats import Stats
from flowcep_plugin.workers import WorkerError

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))


def _alerts(path: Path) -> list[tuple[Any, ...]]:
    out = []
    for line in path.read_text().splitlines():
        d = json.loads(line)
        if (d.get("event") or {}).get("kind") not in ("alert", "metric"):
            continue
        f = d["flowcep"]
        out.append((d["rule"]["id"], json.dumps((d.get("source") or {}).get("ip")),
                    json.dumps((d.get("destination") or {}).get("ip")), f["window"]["start"],
                    f["window"]["end"], f["revision"], json.dumps(f.get("counts"), sort_keys=True),
                    json.dumps(f.get("metrics"), sort_keys=True)))
    return sorted(out)


def _run(tmp: Path, data: Path, workers: int) -> tuple[list[tuple[Any, ...]], dict[str, Any]]:
    out, stats = tmp / f"alerts-{workers}.jsonl", tmp / f"stats-{workers}.json"
    proc = subprocess.run(
        [sys.executable, "-m", "flowcep_plugin", "run", "-q", "--no-progress", "--input", str(data),
         "--output", f"jsonl:{out}", "--stats-json", str(stats), "--workers", str(workers)],
        capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    return _alerts(out), json.loads(stats.read_text())


def _same_runs(tmp: Path, data: Path) -> list[tuple[Any, ...]]:
    one, s1 = _run(tmp, data, 1)
    assert one, "the input must raise alerts for the comparison to mean anything"
    for n in (2, 4):
        many, sn = _run(tmp, data, n)
        missing, extra = sorted(set(one) - set(many)), sorted(set(many) - set(one))
        assert not missing and not extra, f"--workers {n}: missing {missing[:3]}, extra {extra[:3]}"
        assert len(many) == len(one)  # no duplicates either
        # every record was read, detected and counted once, whatever the number of workers
        assert sn["stages"]["detect"] == s1["stages"]["detect"]
        assert sn["alerts_by_rule"] == s1["alerts_by_rule"]
        # records in = records handled + drops by reason, each counted once (by the main process)
        assert sn["stages"]["input"]["in"] == sn["stages"]["detect"]["in"] + sum(sn["drops"].values())
        g = sn["gauges"]
        assert sum(g[f"workers.sources.{w}"] for w in range(n)) == sn["stages"]["detect"]["in"]
        assert sum(g[f"workers.records.{w}"] for w in range(n)) == g["workers.records"]
        assert sn["stages"]["input"] == s1["stages"]["input"]  # every worker reads the file: counted once
        assert sn["stages"]["decode"] == s1["stages"]["decode"]
        assert sn["drops"] == s1["drops"]
        assert sn["gauges"]["workers"] == n
        # each record reaches the owner of its source and the owner of its destination
        records = s1["stages"]["detect"]["in"]
        assert records <= sn["gauges"]["workers.records"] < 2 * records
        assert all(f"workers.cpu_s.{i}" in sn["gauges"] for i in range(n))
        # one regular file: the owner map is balanced on its first records before the fork
        assert sn["gauges"]["workers.buckets"] == BUCKETS
        assert 0 < sn["gauges"]["workers.balance_sample"]
        assert 1 / n <= sn["gauges"]["workers.balance_share_max"] < 1
    return one


@pytest.mark.slow
@pytest.mark.shared
def test_sample_three_copies_same_alerts_with_2_and_4_workers(tmp_path: Path, upstream_ipfix: Path) -> None:
    from bench_engine import build  # the benchmarks' time-shifted copies of the sample

    msgs, _ = build(3)
    data = tmp_path / "x3.ipfix"
    data.write_bytes(b"".join(msgs))
    alerts = _same_runs(tmp_path, data)
    rules = {a[0] for a in alerts}
    assert "multistage-attack" in rules  # the sample's attacker, found by the workers too
    assert any(a[0] == "multistage-attack" and a[1] == '"59.2.153.68"' for a in alerts)
    # the sample's skew: by CRC-32 modulo 2 one worker owns the sources of 61 % of the flows;
    # the balanced map's estimate for 2 workers is close to half
    _, s2 = _run(tmp_path, data, 2)
    assert s2["gauges"]["workers.balance_share_max"] < 0.53


@pytest.mark.slow
def test_every_attack_scenario_same_alerts_with_2_and_4_workers(tmp_path: Path) -> None:
    data = tmp_path / "mixed.ipfix"
    proc = subprocess.run([sys.executable, "-m", "flowcep_plugin", "synth", "mixed", "--out", str(data)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    alerts = _same_runs(tmp_path, data)
    detectors = {a[0].split("-")[0] for a in alerts}
    assert {"portscan", "volumetric", "bruteforce"} <= detectors


def test_each_worker_keeps_the_records_of_the_hosts_it_owns_at_either_end() -> None:
    rows = [{"sourceIPv4Address": f"10.0.{i % 7}.{i}", "destinationIPv4Address": f"192.0.2.{i % 5}",
             "flowEndMilliseconds": i} for i in range(200)]
    rows.append({"sourceIPv6Address": "2001:db8::1", "destinationIPv6Address": "2001:db8::2",
                 "flowEndMilliseconds": 201})
    rows.append({"flowEndMilliseconds": 202})  # no address at all: one owner, "-"'s
    batch = FlowBatch.from_rows(rows)
    kept: list[set[int]] = []
    for w in range(4):
        ms, md = owned_columns(batch, w, 4, {})
        so, do = owner_columns(batch, 4, {})
        assert ms == [o == w for o in so] and md == [o == w for o in do]
        kept.append({i for i in range(len(rows)) if ms[i] or md[i]})
    for i, r in enumerate(rows):
        src = r.get("sourceIPv4Address") or r.get("sourceIPv6Address")
        dst = r.get("destinationIPv4Address") or r.get("destinationIPv6Address")
        assert {w for w in range(4) if i in kept[w]} == {owner(src, 4), owner(dst, 4)}, r
    assert all(kept)  # every owner is used: the split is not degenerate


def test_route_sends_each_record_to_the_owners_of_both_ends() -> None:
    rows = [{"sourceIPv4Address": f"10.0.{i % 7}.{i}", "destinationIPv4Address": f"192.0.2.{i % 5}",
             "flowEndMilliseconds": i} for i in range(200)]
    rows.append({"flowEndMilliseconds": 202})  # no address at all: one owner, "-"'s
    batch = FlowBatch.from_rows(rows)
    parts = route(batch, 4)
    for w, idx in enumerate(parts):
        ms, md = owned_columns(batch, w, 4, {})
        assert idx == [i for i in range(len(rows)) if ms[i] or md[i]]  # the workers' own cut, in order


def test_owner_is_the_same_in_every_process() -> None:
    """``hash()`` of a str is salted per process; the owner must not be."""
    code = "from flowcep_plugin.partition import owner; print([owner(f'10.1.{i}.9', 8) for i in range(32)])"
    runs = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                           env={"PYTHONHASHSEED": str(seed)}).stdout for seed in (1, 2)}
    assert len(runs) == 1
    assert runs.pop().strip() == str([owner(f"10.1.{i}.9", 8) for i in range(32)])


def test_an_alert_belongs_to_the_owner_of_its_key() -> None:
    rule = RuleSpec(id="r", name="R", description="d")
    victim = make_alert(rule, time_ms=0, detector="x", destination_ip="198.51.100.7", key="198.51.100.7")
    scanner = make_alert(rule, time_ms=0, detector="x", source_ip=["203.0.113.5", "203.0.113.6"],
                         destination_ip="198.51.100.7")
    assert event_owner(victim, 16) == owner("198.51.100.7", 16)
    assert event_owner(scanner, 16) == owner("203.0.113.5", 16)
    assert event_owner({"flowcep": {"key": "-"}}, 16) == owner(None, 16)


def test_owner_map_plain_is_crc32_and_balanced_is_deterministic_and_even() -> None:
    """The plain map is :func:`owner` (what Kafka partitions use); the balanced one puts the
    heaviest buckets first, each on the least loaded worker, the same way every time."""
    hosts = [f"10.2.{i // 250}.{i % 250}" for i in range(600)] + [None]
    assert [OwnerMap(5).of(h) for h in hosts] == [owner(h, 5) for h in hosts]
    assert OwnerMap(1).of("10.0.0.1") == 0
    # one host sends 40 % of the flows, sixty others the rest: skewed by design
    rows = [{"sourceIPv4Address": "59.2.153.68", "destinationIPv4Address": f"10.3.0.{i % 200}",
             "flowEndMilliseconds": i} for i in range(400)]
    rows += [{"sourceIPv4Address": f"10.4.0.{i % 60}", "destinationIPv4Address": "10.3.1.1",
              "flowEndMilliseconds": i} for i in range(600)]
    loads = bucket_loads([FlowBatch.from_rows(rows)])
    assert len(loads) == BUCKETS and sum(loads) == 1000 * 1.0 + 1000 * 0.5
    for n in (2, 3, 4):
        balanced = OwnerMap.balanced(n, loads)
        assert balanced == OwnerMap.balanced(n, list(loads))  # deterministic
        assert set(balanced.table or ()) == set(range(n))
        shares = balanced.shares(loads)
        assert abs(sum(shares) - 1) < 1e-9
        # the heavy host's bucket is alone on its worker when it is more than a fair share
        heavy = loads[zlib.crc32(b"59.2.153.68") % BUCKETS] / sum(loads)
        assert max(shares) <= max(heavy, 1 / n) + 0.05, (n, shares)
        plain = [0.0] * n
        for b, load in enumerate(loads):
            plain[b % n] += load / sum(loads)  # CRC-32 mod n == (CRC-32 mod 256) mod n for n | 256
        if BUCKETS % n == 0:
            assert max(shares) <= max(plain) + 1e-9


class _SkewedMap:
    """An owner map as bad as it gets (almost every bucket on the last worker, a few spread):
    the alerts must not depend on the map, only on every process using the same one."""

    def __init__(self) -> None:
        self.calls: list[bool] = []

    def __call__(self, pipe: Any, n: int, balance: bool) -> OwnerMap:
        self.calls.append(balance)
        table = tuple(b % n if b % 17 == 0 else n - 1 for b in range(BUCKETS))
        return OwnerMap(n, table)


@pytest.mark.parametrize("source", ["feedfile", "feed:x"])
def test_same_alerts_whatever_the_owner_map(source: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if source == "feedfile":
        (tmp_path / "f").write_bytes(b"")
        source = f"feedfile:{tmp_path / 'f'}"
    want, s1 = _pipeline_run(1, ["perhost", "persource", "allflows"], source)
    skewed = _SkewedMap()
    monkeypatch.setattr("flowcep_plugin.workers.owner_map", skewed)
    for n in (2, 3):
        got, sn = _pipeline_run(n, ["perhost", "persource", "allflows"], source)
        assert got == want, n
        assert sn["stages"]["detect"] == s1["stages"]["detect"]
        assert sn["drops"] == s1["drops"]
    assert skewed.calls == [source.startswith("feedfile:")] * 2


@pytest.mark.parametrize("source", ["feedfile", "livefeed:x"])
def test_a_file_gets_a_balanced_map_and_a_live_input_plain_crc32(source: str, tmp_path: Path) -> None:
    """A regular file is sampled before the fork (its first records); a live input cannot be,
    and a host's state must never move between workers, so it keeps CRC-32 modulo N."""
    if source == "feedfile":
        (tmp_path / "f").write_bytes(b"")
        source = f"feedfile:{tmp_path / 'f'}"
    want, _ = _pipeline_run(1, ["perhost", "persource"], source)
    got, stats = _pipeline_run(2, ["perhost", "persource"], source)
    assert got == want
    g = stats["gauges"]
    # each record's source has one owner; the records held add up to workers.records
    assert g["workers.sources.0"] + g["workers.sources.1"] == stats["stages"]["detect"]["in"]
    assert g["workers.records.0"] + g["workers.records.1"] == g["workers.records"]
    if source.startswith("feedfile:"):
        assert g["workers.buckets"] == BUCKETS
        assert g["workers.balance_sample"] == 12 * 60 + 3  # the whole (short) file
        assert 0.5 <= g["workers.balance_share_max"] < 0.6
    else:
        assert g["workers.buckets"] == 0 and "workers.balance_sample" not in g


def test_stats_merge_adds_a_workers_counters() -> None:
    main, worker = Stats(), Stats()
    main.count("detect", 10)
    main.add("engine.groups_evicted", 2)
    main.gauge("watermark_ms", 5)
    worker.count("detect", 7)
    worker.drop("plugin-error", 3, "portscan")
    worker.add("engine.groups_evicted", 4)
    worker.plugin_error("flowcep-portscan", "boom")
    main.merge(worker.export())
    snap = main.snapshot()
    assert snap["stages"]["detect"] == {"in": 17, "out": 17}
    assert snap["drops"] == {"plugin-error": 3}
    assert snap["drops_by_source"] == {"portscan": {"plugin-error": 3}}
    assert snap["gauges"]["engine.groups_evicted"] == 6
    assert snap["plugin_errors"] == {"flowcep-portscan": 1}
    assert snap["errors"] == ["flowcep-portscan: boom"]


@pytest.mark.slow
@pytest.mark.shared
def test_live_collector_with_workers_stops_cleanly_on_ctrl_c(tmp_path: Path, upstream_ipfix: Path) -> None:
    """A Ctrl-C reaches the whole process group: the workers must leave the stop to the main
    process, which drains and emits every step in flight (exit 0, the attacker found)."""
    import os
    import signal
    import socket
    import time

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out, stats = tmp_path / "alerts.jsonl", tmp_path / "stats.json"
    run = subprocess.Popen(
        [sys.executable, "-m", "flowcep_plugin", "run", "-q", "--no-progress", "--workers", "2",
         "--input", f"ipfix+udp://127.0.0.1:{port}", "--output", f"jsonl:{out}",
         "--stats-json", str(stats), "--lateness", "1h"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # wait until the collector listens
            probe = subprocess.run(["ss", "-lun", f"sport = :{port}"], capture_output=True, text=True)
            if str(port) in probe.stdout:
                break
            time.sleep(0.2)
        replay = subprocess.run([sys.executable, "-m", "flowcep_plugin", "replay", str(upstream_ipfix),
                                 "--to", f"ipfix+udp://127.0.0.1:{port}", "--speed", "0"],
                                capture_output=True, text=True, timeout=120)
        assert replay.returncode == 0, replay.stderr
        time.sleep(2.0)
        os.killpg(run.pid, signal.SIGINT)
        _, err = run.communicate(timeout=120)
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
    assert run.returncode == 0, err
    snap = json.loads(stats.read_text())
    assert snap["gauges"]["workers"] == 2
    assert snap["stages"]["detect"]["in"] == snap["stages"]["input"]["in"] > 0
    alerts = [json.loads(line) for line in out.read_text().splitlines()]
    assert any(a["rule"]["id"] == "multistage-attack" and a["source"]["ip"] == "59.2.153.68" for a in alerts)


def _children(pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                out.append(int(entry.name))
    return out


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
def test_workers_end_when_the_main_process_is_killed(tmp_path: Path) -> None:
    """kill -9 of the main process leaves no worker behind: each worker's pipe ends (no
    worker holds a copy of the main process's end of any pipe), and the worker with it."""
    import socket
    import time

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    run = subprocess.Popen(
        [sys.executable, "-m", "flowcep_plugin", "run", "-q", "--no-progress", "--workers", "2",
         "--input", f"ipfix+udp://127.0.0.1:{port}", "--output", f"jsonl:{tmp_path / 'a.jsonl'}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    workers: list[int] = []
    try:
        deadline = time.monotonic() + 120
        while len(workers) < 2 and time.monotonic() < deadline and run.poll() is None:
            time.sleep(0.2)
            workers = _children(run.pid)
        assert len(workers) == 2, workers
        run.kill()
        run.wait(timeout=30)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and any(Path(f"/proc/{w}").exists() and
                                                   " Z " not in Path(f"/proc/{w}/stat").read_text()
                                                   for w in workers):
            time.sleep(0.2)
        left = [w for w in workers if Path(f"/proc/{w}").exists() and " Z " not in Path(f"/proc/{w}/stat").read_text()]
        assert not left, left
    finally:
        if run.poll() is None:
            run.kill()
        for w in workers:
            try:
                os.kill(w, signal.SIGKILL)
            except OSError:
                pass


# -- in-process runs: a worker that dies, counts that add up, each partition kind -------------------

T0 = 1_700_000_000_000


def _rows(k: int) -> list[dict[str, Any]]:
    """One batch: 60 flows among 40 hosts, one second apart, at batch k's place in time."""
    return [{"sourceIPv4Address": f"10.0.0.{(k * 7 + i) % 40}", "destinationIPv4Address": f"10.0.1.{i % 13}",
             "protocolIdentifier": 6, "packetDeltaCount": 3, "octetDeltaCount": 120,
             "flowEndMilliseconds": T0 + (k * 60 + i) * 1000} for i in range(60)]


class _Feed:
    """Twelve batches; batch 5 also holds a record with no end time, one far in the past
    (late) and one whose protocol an unsigned8 cannot hold (a bad value)."""

    live = False

    def __init__(self, address: Any, config: Any, ctx: Any) -> None:
        self.raw = address.raw

    def batches(self) -> Any:
        for k in range(12):
            rows = _rows(k)
            if k == 5:
                rows += [{"sourceIPv4Address": "10.0.0.1", "destinationIPv4Address": "10.0.1.1"},
                         {"sourceIPv4Address": "10.0.0.2", "destinationIPv4Address": "10.0.1.2",
                          "flowEndMilliseconds": T0 - 3_600_000},
                         {"sourceIPv4Address": "10.0.0.3", "destinationIPv4Address": "10.0.1.3",
                          "protocolIdentifier": 999, "flowEndMilliseconds": T0 + 300_000}]
            yield FlowBatch.from_rows(rows, source=self.raw)

    def close(self) -> None:
        pass


class _LiveFeed(_Feed):
    live = True


_RULE = RuleSpec(id="flows-per-host", name="Flows per host", description="test")


class _PerHost:
    """Counts flows per address (the detector's partition decides which end) and reports
    each address's count at the end: any flow routed wrongly changes a count."""

    name = "perhost"
    sides: tuple[str, ...] = ("source", "destination")

    def __init__(self, config: Any, ctx: Any) -> None:
        self.counts: dict[str, int] = {}

    def on_batch(self, batch: FlowBatch) -> list[Any]:
        from flowcep_plugin.alerts import address_column

        for side in self.sides:
            for a in address_column(batch, side):
                if a is not None:
                    self.counts[a] = self.counts.get(a, 0) + 1
        return []

    def on_watermark(self, wm: int) -> list[Any]:
        return []

    def flush(self) -> list[Any]:
        # a rule of its own: the suppressor would merge two detectors' alerts of one key
        rule = RuleSpec(id=f"flows-per-host-{self.name}", name="Flows per host", description="test")
        return [make_alert(rule, time_ms=T0, detector=self.name, source_ip=a, key=a,
                           counts={"flows": n, "by": self.name}) for a, n in sorted(self.counts.items())]


class _PerSource(_PerHost):
    name = "persource"
    sides = ("source",)


class _AllFlows(_PerHost):
    """A global detector: one count over every flow."""

    name = "allflows"
    sides = ("source",)

    def flush(self) -> list[Any]:
        return [make_alert(_RULE, time_ms=T0, detector=self.name, key="-",
                           counts={"flows": sum(self.counts.values()), "by": self.name})]


class _Dies(_PerHost):
    """Kills its own process in a worker (not in the test's process)."""

    name = "dies"
    parent = os.getpid()

    def on_batch(self, batch: FlowBatch) -> list[Any]:
        if os.getpid() != self.parent:
            os.kill(os.getpid(), signal.SIGKILL)
        return []


class _RowsRaise(_PerHost):
    """An address detector whose ``partition_rows`` raises: it must still see its hosts' flows."""

    name = "rowsraise"

    def partition_rows(self, batch: FlowBatch, end: str) -> Any:
        raise RuntimeError("no rows today")


class _RowsSource(_PerHost):
    """An address detector that reads, of its hosts' flows, only those they sent."""

    name = "rowssource"

    def partition_rows(self, batch: FlowBatch, end: str) -> Any:
        return None if end == "source" else [False] * batch.length


class _Plugin:
    @hookimpl
    def flowcep_register_inputs(self) -> list[InputSpec]:
        return [InputSpec(name="feed", summary="t", schemes=("feed",), open=_Feed),
                InputSpec(name="feedfile", summary="t", schemes=("feedfile",), open=_Feed, reads_file=True),
                InputSpec(name="livefeed", summary="t", schemes=("livefeed",), open=_LiveFeed, live=True)]

    @hookimpl
    def flowcep_register_detectors(self) -> list[DetectorSpec]:
        return [DetectorSpec(name="perhost", summary="t", factory=_PerHost, partition="address"),
                DetectorSpec(name="persource", summary="t", factory=_PerSource, partition="source"),
                DetectorSpec(name="allflows", summary="t", factory=_AllFlows, partition="global"),
                DetectorSpec(name="dies", summary="t", factory=_Dies, partition="address"),
                DetectorSpec(name="rowsraise", summary="t", factory=_RowsRaise, partition="address"),
                DetectorSpec(name="rowssource", summary="t", factory=_RowsSource, partition="address")]


def _pipeline_run(workers: int, detectors: list[str], source: str = "feed:x") -> tuple[list[Any], dict[str, Any]]:
    pm = make_plugin_manager()
    pm.register_plugin(_Plugin(), PluginInfo(name="t", module="tests", distribution="tests",
                                             version="0", origin="registered"))
    plan = resolve(Registry.build(pm), {}, {"inputs": [source], "detectors": detectors, "enrichers": [],
                                            "progress": False, "workers": workers, "lateness": "1 min"})
    sink = CollectingOutput()
    pipeline = Pipeline(plan, Context(), extra_outputs=[sink])
    stats = pipeline.run()
    alerts = sorted((e["flowcep"]["counts"]["by"], e["flowcep"]["key"], e["flowcep"]["counts"]["flows"])
                    for e in sink.events)
    return alerts, stats


@pytest.mark.parametrize("source", ["feedfile", "feed:x", "livefeed:x"])
def test_each_partition_kind_sees_its_flows_and_drops_are_counted_once(source: str, tmp_path: Path) -> None:
    """``address``: every flow of a host, in its owner; ``source``: the flows it sent;
    ``global``: every flow. The records dropped (no end time, late, bad value) are counted
    once, not once per worker, whether the workers read the input themselves (a regular
    file) or are sent it (no file; live)."""
    if source == "feedfile":
        (tmp_path / "f").write_bytes(b"")
        source = f"feedfile:{tmp_path / 'f'}"
    want, s1 = _pipeline_run(1, ["perhost", "persource", "allflows"], source)
    assert ("allflows", "-", 12 * 60) in want
    # a file's clock calls the hour-old record late; a live one's, too old for its exporter
    old = "too-old" if source.startswith("livefeed") else "late"
    assert s1["drops"] == {"bad-value": 1, "no-timestamp": 1, old: 1}
    for n in (2, 3):
        got, sn = _pipeline_run(n, ["perhost", "persource", "allflows"], source)
        assert got == want, n
        assert sn["drops"] == s1["drops"]
        assert sn["stages"]["input"] == s1["stages"]["input"]
        assert sn["stages"]["detect"] == s1["stages"]["detect"]
        assert sn["alerts_by_rule"] == s1["alerts_by_rule"]


@pytest.mark.parametrize("source", ["feedfile", "feed:x", "livefeed:x"])
def test_a_worker_that_dies_ends_the_run_with_one_line_naming_it(source: str, tmp_path: Path) -> None:
    if source == "feedfile":
        (tmp_path / "f").write_bytes(b"")
        source = f"feedfile:{tmp_path / 'f'}"
    with pytest.raises(WorkerError) as err:
        _pipeline_run(2, ["dies"], source)
    text = str(err.value)
    assert "\n" not in text
    assert re.search(r"worker \d (exited unexpectedly|is gone)", text), text


def test_flows_output_is_refused_with_workers() -> None:
    pm = make_plugin_manager()
    pm.register_plugin(_Plugin(), PluginInfo(name="t", module="tests", distribution="tests",
                                             version="0", origin="registered"))
    plan = resolve(Registry.build(pm), {}, {"inputs": ["feed:x"], "detectors": ["perhost"], "enrichers": [],
                                            "progress": False, "workers": 2, "flows": True})
    with pytest.raises(ConfigError, match="--flows cannot be combined with --workers"):
        Pipeline(plan, Context(), extra_outputs=[CollectingOutput()])


def test_trafficstats_partials_merge_into_one_process_documents() -> None:
    """Split by source over 3 workers, the merged documents equal one process's (top talkers
    included, ties broken the same way)."""
    from flowcep_trafficstats import SPEC

    from flowcep_plugin.testing import build_detector

    rows = [{"sourceIPv4Address": f"10.0.{i % 5}.{i % 17}", "destinationIPv4Address": f"192.0.2.{i % 9}",
             "protocolIdentifier": 6, "sourceTransportPort": 40000 + i, "destinationTransportPort": (80, 22, 53)[i % 3],
             "packetDeltaCount": 1 + i % 4, "octetDeltaCount": 100 * (1 + i % 6),
             "flowEndMilliseconds": T0 + i * 1000} for i in range(400)]
    batch = FlowBatch.from_rows(rows)
    one = build_detector(SPEC, {"top_n": 3})
    want = one.on_batch(batch) + one.flush()
    parts: list[Any] = []
    so, _ = owner_columns(batch, 3, {})
    merger = build_detector(SPEC, {"top_n": 3})
    for w in range(3):
        d = build_detector(SPEC, {"top_n": 3})
        share = batch.take([i for i, o in enumerate(so) if o == w])
        parts += d.on_batch(share) + d.flush()
    by_window: dict[Any, list[Any]] = {}
    for e in parts:
        by_window.setdefault(e["flowcep"]["window"]["start"], []).append(e)
    got = [doc for k in sorted(by_window) for doc in merger.merge_partials(by_window[k])]

    def strip(docs: list[Any]) -> list[Any]:
        return [{k: v for k, v in d.items() if k != "event"} | {"kind": d["event"]["kind"]} for d in docs]

    assert len(want) > 2 and strip(got) == strip(want)


def test_sequential_workers_for_measurement_give_the_same_alerts(monkeypatch: pytest.MonkeyPatch) -> None:
    """``FLOWCEP_WORKERS_SEQUENTIAL=1`` (bench_workers.py --sequential) runs the workers one
    after the other; the merge must not depend on it."""
    want, _ = _pipeline_run(1, ["perhost", "persource", "allflows"])
    monkeypatch.setenv("FLOWCEP_WORKERS_SEQUENTIAL", "1")
    got, stats = _pipeline_run(3, ["perhost", "persource", "allflows"])
    assert got == want
    assert all(stats["gauges"][f"workers.cpu_s.{i}"] > 0 for i in range(3))


class _SlowFeed(_Feed):
    """A long file: 3000 batches, read slowly (30 s at least), that ends when closed."""

    closed = False

    def batches(self) -> Any:
        import time

        for k in range(3000):
            if self.closed:  # the main loop closes its inputs on a stop
                return
            time.sleep(0.01)
            yield FlowBatch.from_rows(_rows(k), source=self.raw)

    def close(self) -> None:
        self.closed = True


class _SlowPlugin(_Plugin):
    @hookimpl
    def flowcep_register_inputs(self) -> list[InputSpec]:
        return [InputSpec(name="slow", summary="t", schemes=("slow",), open=_SlowFeed, reads_file=True)]


def test_stop_while_the_main_process_reads_a_file_drains_and_reports(tmp_path: Path) -> None:
    """Ctrl-C while the main process reads a file for the workers: it stops reading, the
    workers finish what they were sent and report; the run ends at once with the alerts of
    what was read."""
    import threading
    import time

    pm = make_plugin_manager()
    pm.register_plugin(_SlowPlugin(), PluginInfo(name="t", module="tests", distribution="tests",
                                                 version="0", origin="registered"))
    data = tmp_path / "long.flows"
    data.write_bytes(b"")
    plan = resolve(Registry.build(pm), {}, {"inputs": [f"slow:{data}"], "detectors": ["persource"],
                                            "enrichers": [], "progress": False, "workers": 2})
    sink = CollectingOutput()
    pipeline = Pipeline(plan, Context(), extra_outputs=[sink])
    assert pipeline.pool is not None
    threading.Timer(1.0, pipeline.stop.set).start()
    started = time.monotonic()
    stats = pipeline.run()
    assert time.monotonic() - started < 15  # reading all 3000 batches takes 30 s at least
    read = stats["stages"]["input"]["in"]
    assert 0 < read < 3000 * 60
    assert stats["stages"]["detect"]["in"] + sum(stats["drops"].values()) == read
    assert sink.events  # the flush of what was read


@pytest.mark.slow
def test_stdin_with_workers_is_read_once_and_broadcast(tmp_path: Path) -> None:
    """``json:-`` cannot be read by every worker (each would get part of the pipe): the main
    process reads it and sends every batch to every worker, with the alerts of one process."""
    data = tmp_path / "mixed.jsonl"
    proc = subprocess.run([sys.executable, "-m", "flowcep_plugin", "synth", "mixed", "--format", "jsonl",
                           "--out", str(data)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    want, s1 = _run(tmp_path, data, 1)
    out = tmp_path / "stdin.jsonl"
    with data.open("rb") as stdin:
        run = subprocess.run([sys.executable, "-m", "flowcep_plugin", "run", "-q", "--no-progress", "--input",
                              "json:-", "--output", f"jsonl:{out}", "--workers", "2"],
                             stdin=stdin, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr
    assert want and _alerts(out) == want


# -- what each worker holds and feeds each detector -------------------------------------------------

def _mixed_batches(tmp: Path, size: int = 1500) -> list[FlowBatch]:
    """The synthetic scenario holding every attack kind, as time-ordered batches."""
    from flowcep_plugin.synth import generate
    from flowcep_plugin.synth.output import write_scenario

    write_scenario(generate("mixed", seed=3, duration_s=600), tmp / "mixed.jsonl", "jsonl")
    rows = sorted((json.loads(line) for line in (tmp / "mixed.jsonl").read_text().splitlines()),
                  key=lambda r: r["flowEndMilliseconds"])
    # biflows too: the answers a detector reads from the reverse side of a record
    rows += [{"sourceIPv4Address": f"198.51.100.{k}", "destinationIPv4Address": "10.10.0.80",
              "protocolIdentifier": 6, "destinationTransportPort": 443, "sourceTransportPort": 40000 + k,
              "tcpControlBits": 0x10, "reverseTcpControlBits": 0x12, "packetDeltaCount": 1,
              "reversePacketDeltaCount": 1, "octetDeltaCount": 40, "reverseOctetDeltaCount": 44,
              "flowStartMilliseconds": rows[-1]["flowEndMilliseconds"] + k,
              "flowEndMilliseconds": rows[-1]["flowEndMilliseconds"] + 200 + k * 5} for k in range(120)]
    return [FlowBatch.from_rows(rows[i:i + size]) for i in range(0, len(rows), size)]


def _alert_keys(events: list[Any]) -> list[tuple[Any, ...]]:
    return sorted((e["rule"]["id"], e["flowcep"]["key"], json.dumps(e["flowcep"].get("window")),
                   json.dumps(e["flowcep"].get("counts"), sort_keys=True),
                   json.dumps((e.get("destination") or {}).get("ip"))) for e in events)


def _detector_alone(spec: Any, config: dict[str, Any], batches: list[FlowBatch],
                    worker: int | None = None, n: int = 1) -> list[Any]:
    """One detector over ``batches``: all of them, or only what worker ``worker`` of ``n``
    feeds it (its partition's need), keeping the alerts that worker speaks for."""
    from flowcep_plugin.partition import Need
    from flowcep_plugin.testing import build_detector

    det = build_detector(spec, config)
    need = Need.of(spec.partition, det)
    events: list[Any] = []
    for b in batches:
        sub = b
        if worker is not None:
            ms, md = owned_columns(b, worker, n, {})
            mask = need.mask(b, ms, md)
            assert mask is not None
            sub = b.take([i for i, m in enumerate(mask) if m])
        events += det.on_batch(sub) if sub.length else []
        events += det.on_watermark(max(b.event_times()) - 1)
    events += det.flush()
    if worker is not None and spec.partition == "address":
        events = [e for e in events if event_owner(e, n) == worker]
    return events


@pytest.mark.parametrize("name", ["portscan", "volumetric", "policy", "multistage"])
def test_each_detector_fed_only_what_its_partition_declares_alerts_as_one_process(name: str, tmp_path: Path) -> None:
    """The partition declarations (``partition``, an address detector's ``partition_rows``)
    must cover every record a detector reads for the hosts a worker owns: fed only those,
    the workers together raise exactly one process's alerts."""
    import importlib

    from flowcep_plugin.synth.scenarios import POLICY

    spec = importlib.import_module(f"flowcep_{name}").SPEC
    config: dict[str, Any] = {}
    if name == "policy":
        config = {"policies": [{"name": "files", "destinations": POLICY["restricted_hosts"],
                                "ports": POLICY["restricted_ports"], "allowed_sources": POLICY["allowed_sources"]}]}
    batches = _mixed_batches(tmp_path)
    want = _alert_keys(_detector_alone(spec, config, batches))
    assert want, "the scenario must raise this detector's alerts for the comparison to mean anything"
    for n in (2, 3):
        got = _alert_keys([e for w in range(n) for e in _detector_alone(spec, config, batches, w, n)])
        assert got == want, (n, sorted(set(want) - set(got))[:3], sorted(set(got) - set(want))[:3])


def test_partition_rows_narrow_what_a_worker_holds() -> None:
    """portscan reads only UDP of what its hosts received, volumetric only UDP/ICMP and SYN
    records (and takes all its hosts sent); a worker holding both and a source detector skips a
    completed TCP connection to a host it owns from a host it does not."""
    from flowcep_portscan import SPEC as PORTSCAN
    from flowcep_volumetric import SPEC as VOLUMETRIC

    from flowcep_plugin.partition import Need
    from flowcep_plugin.testing import build_detector

    hosts = [f"10.0.0.{i}" for i in range(64)]
    mine = [h for h in hosts if owner(h, 2) == 0]
    theirs = [h for h in hosts if owner(h, 2) == 1]
    rows = [{"sourceIPv4Address": theirs[0], "destinationIPv4Address": mine[0], "protocolIdentifier": p,
             "tcpControlBits": f, "packetDeltaCount": 5, "flowEndMilliseconds": T0 + k}
            for k, (p, f) in enumerate([(6, 0x1B), (6, 0x10), (6, 0x02), (6, 0x12), (17, 0), (1, 0), (47, 0)])]
    rows.append({"sourceIPv4Address": mine[1], "destinationIPv4Address": theirs[1], "protocolIdentifier": 6,
                 "tcpControlBits": 0x1B, "packetDeltaCount": 5, "flowEndMilliseconds": T0 + 9})
    batch = FlowBatch.from_rows(rows)
    ms, md = owned_columns(batch, 0, 2, {})
    port = Need.of("address", build_detector(PORTSCAN)).mask(batch, ms, md)
    vol = Need.of("address", build_detector(VOLUMETRIC)).mask(batch, ms, md)
    src = Need.of("source", object()).mask(batch, ms, md)
    assert port == [False, False, False, False, True, False, False, True]
    assert vol == [False, False, True, True, True, True, False, True]  # all its host sent
    assert src == [False] * 7 + [True]
    assert Need.of("address", object()).mask(batch, ms, md) == [True] * 8
    assert Need.of("global", object()).mask(batch, ms, md) is None


def test_a_worker_holds_its_part_and_releases_it_sorted_at_the_main_clocks_points() -> None:
    from flowcep_plugin.workers import ShareBuffer, TimeKeeper

    rows = [{"sourceIPv4Address": "10.0.0.1", "flowEndMilliseconds": T0 + t, "octetDeltaCount": t}
            for t in (50, 10, 40, 20, 30, 0)]
    batch = FlowBatch.from_rows(rows)
    keeper, share = TimeKeeper(60_000, Stats()), ShareBuffer(60_000, Stats())
    admitted = keeper.admit(batch)
    share.hold(admitted.take([0, 2, 3]))
    assert share.follow(keeper.take_releases(), keeper.released_to, keeper.watermark) == []  # within the lateness
    assert share.pending == 3 and keeper.pending == 6
    keeper.flush()
    out = share.follow(keeper.take_releases(), keeper.released_to, keeper.watermark)
    got = [t for b in out for t in b.columns["octetDeltaCount"]]
    assert got == [20, 40, 50]  # the part only, in event-time order
    assert share.released_to == keeper.released_to == T0 + 50


@pytest.mark.parametrize("max_pending", [2_000_000, 40])
def test_the_main_clock_releases_what_one_process_releases_and_the_shares_follow_it(max_pending: int) -> None:
    """Out-of-order batches, late records, forced releases past ``max_pending``: the main
    process's clock (event times only) drops, releases and moves its release point exactly as
    one process's reorder buffer; workers holding shares release, step by step, exactly
    their records of what one process releases, in the same order."""
    import random

    from flowcep_plugin.clock import Reorderer
    from flowcep_plugin.workers import ShareBuffer, TimeKeeper

    rnd = random.Random(7)
    batches = []
    for k in range(40):
        base = T0 + k * 4_000
        batches.append(FlowBatch.from_rows([
            {"sourceIPv4Address": f"10.0.0.{rnd.randrange(9)}", "octetDeltaCount": k * 1000 + i,
             "flowEndMilliseconds": base + rnd.randrange(-9_000, 3_000)} for i in range(60)]))
    one_stats, main_stats = Stats(), Stats()
    one = Reorderer(5_000, one_stats, max_pending=max_pending)
    keeper = TimeKeeper(5_000, main_stats, max_pending=max_pending)
    shares = [ShareBuffer(5_000, Stats()) for _ in range(3)]
    for b in [*batches, None]:
        if b is None:
            want = one.flush()
            keeper.flush()
            parts: list[FlowBatch | None] = [None] * 3
        else:
            want = one.push(b)
            admitted = keeper.admit(b)
            owner_of = [v % 3 for v in admitted.columns["octetDeltaCount"]]
            parts = [admitted.take([i for i, o in enumerate(owner_of) if o == w]) for w in range(3)]
        releases = keeper.take_releases()
        assert (keeper.watermark, keeper.released_to) == (one.watermark, one.released_to)
        wanted = [v for rb in want for v in rb.columns["octetDeltaCount"]]
        for w, share in enumerate(shares):
            share.hold(parts[w])
            got = [v for rb in share.follow(releases, keeper.released_to, keeper.watermark)
                   for v in rb.columns["octetDeltaCount"]]
            assert got == [v for v in wanted if v % 3 == w]
            assert share.released_to == one.released_to
    assert main_stats.drops == one_stats.drops and one_stats.drops.get("late")
    assert main_stats.gauges.get("time.forced_releases") == one_stats.gauges.get("time.forced_releases")
    if max_pending == 40:
        assert one_stats.gauges.get("time.forced_releases")


def test_the_router_sends_a_record_to_the_owner_of_an_end_only_where_a_detector_reads_it() -> None:
    """portscan + volumetric + a source detector (the shipped mix): a completed TCP
    connection goes to its source's owner only; a UDP flow and a SYN also to its destination's;
    a plain address detector takes both ends of everything; a global one all, in worker 0."""
    from flowcep_portscan import SPEC as PORTSCAN
    from flowcep_volumetric import SPEC as VOLUMETRIC

    from flowcep_plugin.partition import Need
    from flowcep_plugin.testing import build_detector
    from flowcep_plugin.workers import Router

    hosts = [f"10.0.0.{i}" for i in range(64)]
    a = next(h for h in hosts if owner(h, 2) == 0)
    b = next(h for h in hosts if owner(h, 2) == 1)
    rows = [{"sourceIPv4Address": b, "destinationIPv4Address": a, "protocolIdentifier": p,
             "tcpControlBits": f, "packetDeltaCount": 5, "flowEndMilliseconds": T0 + k}
            for k, (p, f) in enumerate([(6, 0x1B), (17, 0), (6, 0x02)])]
    batch = FlowBatch.from_rows(rows)
    shipped = [Need.of("address", build_detector(PORTSCAN)), Need.of("address", build_detector(VOLUMETRIC)),
               Need.of("source", object())]
    router = Router(shipped, 2, OwnerMap(2), Stats())
    assert _plain(router.route(batch)) == [[1, 2], None]  # worker 1 owns every source; worker 0 what a reads
    assert router.held == [2, 3] and router.sources == [0, 3]
    assert _plain(Router([Need.of("address", object())], 2, OwnerMap(2), Stats()).route(batch)) == [None, None]
    assert _plain(Router([Need.of("source", object())], 2, OwnerMap(2), Stats()).route(batch)) == [[], None]
    assert _plain(Router([Need.of("global", object()), Need.of("source", object())], 2, OwnerMap(2),
                         Stats()).route(batch)) == [None, None]


def _plain(parts: list[Any]) -> list[list[int] | None]:
    return [None if p is None else p.tolist() for p in parts]


def _decoded(upstream_ipfix: Path, records: int = 4000) -> FlowBatch:
    """A batch of FlowCEP's sample as the IPFIX decoder hands it over: columns held as numpy
    arrays (several templates: some columns in parts, with counts of records that lack them),
    the version column a list."""
    from bench_engine import messages

    from flowcep_plugin.inputs.ipfix_decode import MessageDecoder

    dec = MessageDecoder(Context(), "sample")
    assert dec.lazy_columns
    for m in messages(upstream_ipfix.read_bytes()):
        dec.feed(m, "e")
        if dec.pending_records >= records:
            break
    (batch,) = dec.flush(merged=True)
    return batch


@pytest.mark.shared
def test_rows_cross_to_a_worker_as_arrays_and_read_as_the_same_values(upstream_ipfix: Path) -> None:
    """A worker's rows cross as the decoder's numpy arrays, not lists: packing makes no list
    of an array column and no address text in the main process; unpacked, each column holds
    the values of the same take of the batch (None where a record lacks the element), its
    event times too, and the columns are still arrays on the worker's side until read
    (``batch.array``), the addresses made text there by the worker's own converter."""
    import pickle

    import numpy as np

    from flowcep_plugin.inputs.ipfix_decode import _Caches
    from flowcep_plugin.records import Columns
    from flowcep_plugin.workers import _encoding, _times, pack_rows, unpack_rows

    batch = _decoded(upstream_ipfix)
    cols = batch.columns
    assert isinstance(cols, Columns)
    # numbers held in several parts (the text of HTTPRequestURL crosses as a list)
    in_parts = [n for n in cols if len(cols.arrays(n) or ()) > 1 and _encoding(cols.arrays(n))]
    assert in_parts  # the sample's templates differ: some columns cross in parts
    rng = np.random.default_rng(7)
    picks = [None, np.flatnonzero(rng.random(batch.length) < 0.4), np.array([3], np.intp),
             np.flatnonzero(np.arange(batch.length) % 2 == 0)]
    times = _times(batch)
    packed = [pickle.loads(pickle.dumps(pack_rows(batch, idx, times), protocol=5)) for idx in picks]
    for name in ("sourceIPv4Address", "destinationIPv4Address", "octetDeltaCount", *in_parts):
        assert cols.is_view(name), name  # nothing made in the main process
    kinds = {name: kind for name, kind, _ in packed[1][6]}
    assert kinds["sourceIPv4Address"] == "4" and kinds["octetDeltaCount"] == "a"
    assert kinds["flowcep.export_version"] == "l" and kinds["HTTPRequestURL"] == "l"
    assert all(kinds[n] == "a" for n in in_parts)
    ipv4 = _Caches().ipv4_column
    for idx, data in zip(picks, packed, strict=True):
        got = unpack_rows(data, ipv4)
        assert got.array("octetDeltaCount") is not None  # still an array on the worker's side
        assert got.columns.is_view("sourceIPv4Address")
        want = batch if idx is None else batch.take(idx.tolist())
        assert got.length == want.length and list(got.columns) == list(want.columns)
        assert got.event_times() == want.event_times()
        for name in want.columns:
            assert got.columns[name] == want.columns[name], name
            assert [type(v) for v in got.columns[name]] == [type(v) for v in want.columns[name]], name


@pytest.mark.shared
def test_owners_from_address_numbers_are_the_owners_of_their_text(upstream_ipfix: Path) -> None:
    """The main process routes by the decoder's address numbers (an :class:`OwnerTable`,
    numpy lookups, a slot collision through the dict): the owners are those of the address
    text under the same map, and the router's parts are the same as for the same records
    held as lists."""
    import numpy as np

    from flowcep_plugin.partition import OwnerTable, owner_arrays, owner_indices
    from flowcep_plugin.workers import Router

    batch = _decoded(upstream_ipfix)
    text = FlowBatch({n: list(v) for n, v in batch.columns.items()}, batch.length)
    rng = np.random.default_rng(3)
    owners = OwnerMap.balanced(3, list(rng.random(BUCKETS)))
    for bits in (16, 3):  # 3: 8 slots, most addresses collide
        table = OwnerTable(owners, bits=bits, relearn=20)
        fresh = _decoded(upstream_ipfix)
        so, do = owner_arrays(fresh, owners, {}, table)
        want = owner_indices(text, owners, {})
        assert so.tolist() == want[0] and do.tolist() == want[1]
        assert fresh.columns.is_view("sourceIPv4Address")  # no text made
        assert owner_arrays(fresh, owners, {}, table)[0].tolist() == want[0]  # from the table now
    assert table.resets  # the collisions outgrew the dict: the slots were relearnt
    from flowcep_portscan import SPEC as PORTSCAN
    from flowcep_volumetric import SPEC as VOLUMETRIC

    from flowcep_plugin.partition import Need
    from flowcep_plugin.testing import build_detector

    needs = [Need.of("address", build_detector(PORTSCAN)), Need.of("address", build_detector(VOLUMETRIC)),
             Need.of("source", object())]
    a = Router(needs, 3, owners, Stats())
    b = Router(needs, 3, owners, Stats())
    assert _plain(a.route(_decoded(upstream_ipfix))) == _plain(b.route(text))
    assert a.held == b.held and a.sources == b.sources


def test_partition_rows_narrow_a_detector_and_a_raising_one_is_counted_not_fatal() -> None:
    """``rowssource`` declares it reads only what its hosts sent: fed that, its counts by
    source are one process's while the destination-side counts of hosts only received from
    are gone (the declaration is honoured, not ignored). ``rowsraise``'s declaration raises:
    counted against its plugin, and it is fed every flow of its hosts (one process's counts)."""
    want, _ = _pipeline_run(1, ["perhost", "rowsraise"])
    one = {(k, v) for by, k, v in want if by == "perhost"}
    assert {(k, v) for by, k, v in want if by == "rowsraise"} == one
    got, stats = _pipeline_run(2, ["perhost", "rowsraise", "rowssource"])
    assert {(k, v) for by, k, v in got if by == "perhost"} == one
    assert {(k, v) for by, k, v in got if by == "rowsraise"} == one
    assert stats["plugin_errors"].get("t", 0) >= 1
    assert any("partition_rows failed: RuntimeError: no rows today" in e for e in stats["errors"])
    # the 40 senders (10.0.0.x) send and are sent nothing else: their counts stay whole;
    # the 13 receivers (10.0.1.x) are counted only from the flows a worker holds as the
    # receiver's owner, which rowssource declared it does not read
    narrowed = {(k, v) for by, k, v in got if by == "rowssource"}
    assert {(k, v) for k, v in one if k.startswith("10.0.0.")} <= narrowed
    assert not {(k, v) for k, v in narrowed if k.startswith("10.0.1.")} & one
