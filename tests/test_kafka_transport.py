"""The Kafka transport: ingest + workers in one consumer group give one process's alerts.

The wire format is checked value by value (every type a FlowBatch column may hold, header and
exporter columns, event times); the end-to-end tests run ``flowcep ingest`` and two workers in
one group against a loopback broker speaking the Kafka protocol (noida-db), or a real cluster
when ``FLOWCEP_KAFKA`` is set, and compare the alerts (rule, source, targets, window, revision,
counts) with one ``flowcep run`` of the same input and detectors.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from flowcep_plugin.errors import ConfigError
from flowcep_plugin.kafka_client import ensure_topic, parse_kafka, wait_for_broker
from flowcep_plugin.kafka_worker import parse_worker_address
from flowcep_plugin.records import HEADER_COLUMNS, FlowBatch
from flowcep_plugin.transport import (
    END,
    STEP,
    Part,
    Step,
    TransportError,
    decode_step,
    encode_step,
    merge_parts,
)

DEMO = Path(__file__).resolve().parents[1] / "flowcep_plugin" / "data" / "demo.ipfix"
#: the shipped detectors that run in workers (partition = "address"); trafficstats needs every flow
ADDRESS_DETECTORS = ("portscan", "bruteforce", "volumetric", "multistage", "policy")


def _batch() -> FlowBatch:
    cols: dict[str, list[Any]] = {
        "sourceIPv4Address": ["10.0.0.1", "10.0.0.2", None],
        "octetDeltaCount": [1, 2**64 - 1, None],
        "ratio": [0.5, math.inf, math.nan],
        "payload": [b"\x00\xff", None, b""],
        "flag": [True, False, None],
        "tags": [["a", "b"], None, []],
        "pair": [(1, "x"), None, (b"\x01",)],
        "geo": [{"lat": 1.5, "$odd": 2}, {"city": "Brno"}, None],
        HEADER_COLUMNS[0]: [10, 10, 9],
        HEADER_COLUMNS[1]: [1_700_000_000_000] * 3,
        HEADER_COLUMNS[2]: [None, None, 123],
        "flowEndMilliseconds": [5, 6, 7],
    }
    b = FlowBatch(cols, 3, source="ipfix-file:x", exporter="192.0.2.1:4739/7")
    b.set_event_times([5, 6, 7])
    return b


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and math.isnan(a):
        return isinstance(b, float) and math.isnan(b)
    if type(a) is not type(b):
        return False
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return bool(a == b)


def test_every_column_value_round_trips_exactly() -> None:
    b = _batch()
    opts = FlowBatch({"exportedMessageTotalCount": [3]}, 1, stream="Options")
    step = Step(STEP, "run-1", 7, 123, True, [Part(0, [0, 4, 9], b)], [opts], closes=101)
    got = decode_step(encode_step(step), "t[0]@0")
    assert (got.kind, got.run, got.step, got.watermark, got.advanced, got.more, got.closes) == (
        STEP, "run-1", 7, 123, True, False, 101)
    (part,) = got.parts
    assert part.j == 0 and part.index == [0, 4, 9]
    out = part.batch
    assert (out.length, out.source, out.exporter, out.stream) == (3, b.source, b.exporter, b.stream)
    assert out.columns.keys() == b.columns.keys()
    for name, values in b.columns.items():
        assert _same(values, out.columns[name]), name
    assert out._times == [5, 6, 7]
    assert got.options[0].stream == "Options" and got.options[0].columns == opts.columns


def test_a_value_json_cannot_carry_is_refused_with_its_column() -> None:
    b = FlowBatch({"odd": [object()]}, 1)
    with pytest.raises(TransportError, match="'odd'"):
        encode_step(Step(STEP, "r", 0, 0, False, [Part(0, [0], b)]))


@pytest.mark.parametrize("data", [b"", b"{", b"[]", b'{"v": 99}', b'{"v": 1, "k": "step"}',
                                  b'{"v":1,"k":"step","r":"x","s":0,"w":0,"p":[{"j":0,"i":[0],"b":{"n":2,"c":{"a":[1]}}}]}',
                                  b'{"v":1,"k":"nope","r":"x","s":0,"w":0}'])
def test_a_bad_message_is_one_error_naming_where(data: bytes) -> None:
    with pytest.raises(TransportError) as e:
        decode_step(data, "flows[3]@17")
    assert str(e.value).startswith("flows[3]@17: ") and "\n" not in str(e.value)


def test_merging_partitions_restores_ingest_order_once_each() -> None:
    b = FlowBatch({"x": list(range(6))}, 6)
    # partition A holds records 0, 2, 3, 5; B holds 1, 3, 4 (record 3: both ends owned)
    a = Part(0, [0, 2, 3, 5], b.take([0, 2, 3, 5]))
    c = Part(0, [1, 3, 4], b.take([1, 3, 4]))
    other = Part(1, [0], FlowBatch({"y": [9]}, 1))
    out = merge_parts([other, a, c])
    assert [o.columns.get("x") for o in out] == [[0, 1, 2, 3, 4, 5], None]
    assert out[1].columns == {"y": [9]}


def test_worker_addresses_need_a_group_and_a_stable_instance() -> None:
    addr, group, inst, replay_ms, commit_s = parse_worker_address("kafka://h:1/t?group=g&instance=w1&replay=30m")
    assert (addr.servers, addr.topic, group, inst, replay_ms, commit_s) == ("h:1", "t", "g", "w1", 1_800_000, 2.0)
    for bad in ("kafka://h:1/t?group=g", "kafka://h:1/t?instance=i", "kafka://h:1/t?group=g&instance=i&x=1",
                "kafka://h/t?group=g&instance=i", "kafka://h:1/t?group=g&instance=i&replay=soon"):
        with pytest.raises(ConfigError):
            parse_worker_address(bad)


# -- end to end ----------------------------------------------------------------------------------
def _flowcep(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "flowcep_plugin", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _done(p: subprocess.Popen[str], timeout: float = 60) -> str:
    try:
        _, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        _, err = p.communicate()
        raise AssertionError(f"timed out: {p.args}\n{err[-2000:]}") from None
    assert p.returncode == 0, err[-2000:]
    return err


def alert_keys(paths: list[Path]) -> list[tuple[Any, ...]]:
    out = []
    for path in paths:
        for line in path.read_text().splitlines():
            d = json.loads(line)
            f = d["flowcep"]
            out.append((d["rule"]["id"], json.dumps((d.get("source") or {}).get("ip")),
                        json.dumps((d.get("destination") or {}).get("ip")), f["window"]["start"],
                        f["window"]["end"], f["revision"], json.dumps(f.get("counts"), sort_keys=True)))
    return sorted(out)


def detector_args() -> list[str]:
    return [a for d in ADDRESS_DETECTORS for a in ("-d", d)]


def one_process(tmp: Path, data: Path) -> list[tuple[Any, ...]]:
    out = tmp / "one.jsonl"
    _done(_flowcep("run", "-q", "--no-progress", "-i", str(data), "-o", f"jsonl:{out}", *detector_args()))
    return alert_keys([out])


def ingest(servers: str, topic: str, data: Path, partitions: int = 4, *extra: str) -> subprocess.Popen[str]:
    return _flowcep("ingest", "-q", "--no-progress", "-i", str(data), "--to", f"kafka://{servers}/{topic}",
                    "--partitions", str(partitions), *extra)


def worker(servers: str, topic: str, group: str, instance: str, *outputs: str) -> subprocess.Popen[str]:
    outs = [a for o in outputs for a in ("-o", o)]
    return _flowcep("run", "-q", "--no-progress", "-i", f"kafka://{servers}/{topic}?group={group}&instance={instance}",
                    *outs, *detector_args(), "--stats-json", f"{outputs[0].split(':', 1)[1]}.stats.json")


def _through_kafka(tmp: Path, servers: str, data: Path, garbage: bool = False
                   ) -> tuple[list[tuple[Any, ...]], list[dict[str, Any]]]:
    topic, group = f"flows-{uuid.uuid4().hex[:8]}", f"g-{uuid.uuid4().hex[:6]}"
    addr = parse_kafka(f"kafka://{servers}/{topic}", (), "test")
    ensure_topic(wait_for_broker(addr, "test", False), addr, 4, "test")
    if garbage:  # a stranger's message on partition 1 before ingest's: counted and skipped
        from confluent_kafka import Producer

        prod = Producer({"bootstrap.servers": servers})
        prod.produce(topic, b'{"not": "a step"}', partition=1)
        assert prod.flush(10) == 0
    outs = [tmp / f"w{i}.jsonl" for i in (1, 2)]
    procs = [worker(servers, topic, group, f"w{i}", f"jsonl:{outs[i - 1]}") for i in (1, 2)]
    try:
        # both hold their partitions before the first flow arrives: no rebalance moves alerts
        # between the two files mid-run
        _wait_for_members(servers, group, 2)
        _done(ingest(servers, topic, data))
        for p in procs:
            _done(p)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait(timeout=10)
    stats = [json.loads(Path(f"{o}.stats.json").read_text()) for o in outs]
    return alert_keys([o for o in outs if o.exists()]), stats


def _compare(tmp: Path, servers: str, data: Path, garbage: bool = False) -> list[tuple[Any, ...]]:
    one = one_process(tmp, data)
    assert one, "the input must raise alerts for the comparison to mean anything"
    two, stats = _through_kafka(tmp, servers, data, garbage)
    bad = sum(s["drops"].get("transport-error", 0) for s in stats)
    assert bad == (1 if garbage else 0)
    missing, extra = sorted(set(one) - set(two)), sorted(set(two) - set(one))
    assert not missing and not extra, f"missing {missing[:3]}, extra {extra[:3]}"
    assert len(two) == len(one)  # and no duplicates
    assigned = [set(s["gauges"]["kafka.assigned"]) for s in stats]
    assert assigned[0] and assigned[1] and not assigned[0] & assigned[1]  # both worked, apart
    assert assigned[0] | assigned[1] == set(range(4))
    return one


@pytest.mark.shared
def test_ingest_and_two_workers_give_one_process_alerts_on_the_sample(
        tmp_path: Path, kafka_servers: str, upstream_ipfix: Path) -> None:
    alerts = _compare(tmp_path, kafka_servers, upstream_ipfix)
    assert any(a[0] == "multistage-attack" and a[1] == '"59.2.153.68"' for a in alerts)


def test_ingest_and_two_workers_give_one_process_alerts_on_every_attack_kind(
        tmp_path: Path, kafka_servers: str) -> None:
    data = tmp_path / "mixed.ipfix"
    _done(_flowcep("synth", "mixed", "--out", str(data)))
    alerts = _compare(tmp_path, kafka_servers, data, garbage=True)
    assert {"portscan", "volumetric", "bruteforce"} <= {a[0].split("-")[0] for a in alerts}


def test_ingest_unreachable_broker_is_exit_2_in_one_line(tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    p = ingest(f"127.0.0.1:{port}", "t", DEMO)
    try:
        _, err = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 2
    errors = [line for line in err.splitlines() if line.startswith("flowcep: error:")]
    assert len(errors) == 1 and "no Kafka broker answers" in errors[0] and "--wait" in errors[0]
    assert "Traceback" not in err and "%3|" not in err  # librdkafka's own retries stay in debug logs


def test_validate_checks_a_worker_address_without_a_broker() -> None:
    ok = _flowcep("validate", "-i", "kafka://127.0.0.1:9/t?group=g&instance=w1", "-o", "stdout", "-d", "portscan")
    assert "valid (1 input(s)" in ok.communicate(timeout=60)[0] and ok.returncode == 0
    bad = _flowcep("validate", "-i", "kafka://127.0.0.1:9/t?group=g", "-o", "stdout")
    err = bad.communicate(timeout=60)[1]
    assert bad.returncode == 2 and "instance=ID" in err


def test_ingest_writes_a_step_and_end_marker_to_every_partition(kafka_servers: str) -> None:
    from confluent_kafka import Consumer, TopicPartition

    topic = f"flows-{uuid.uuid4().hex[:8]}"
    _done(ingest(kafka_servers, topic, DEMO, 3))
    c = Consumer({"bootstrap.servers": kafka_servers, "group.id": f"t-{uuid.uuid4().hex}",
                  "enable.auto.commit": False})
    per: dict[int, list[Step]] = {0: [], 1: [], 2: []}
    try:
        c.assign([TopicPartition(topic, p, 0) for p in per])
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not all(s and s[-1].kind == END for s in per.values()):
            m = c.poll(0.5)
            if m is not None and not m.error():
                per[m.partition()].append(decode_step(m.value(), "test"))
                assert m.timestamp()[1] == max(per[m.partition()][-1].watermark, 0)
    finally:
        c.close()
    steps = {p: sorted({s.step for s in v}) for p, v in per.items()}
    assert steps[0] == steps[1] == steps[2] and steps[0]  # every partition gets every step
    assert all(v[-1].kind == END for v in per.values())
    records = sum(part.batch.length for v in per.values() for s in v for part in s.parts)
    assert records > 12_000  # the demo's 12,220 flows, most of them twice (both ends)


def _wait_for_members(servers: str, group: str, n: int, within: float = 60) -> None:
    """Until the group is stable with ``n`` members that each hold partitions."""
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": servers})
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            d = admin.describe_consumer_groups([group])[group].result(timeout=5)
            held = [m for m in d.members if m.assignment.topic_partitions]
            if str(d.state).endswith("STABLE") and len(held) == n:
                return
        except Exception:  # noqa: S110 - the group does not exist yet
            pass
        time.sleep(0.1)
    raise AssertionError(f"group {group} did not become stable with {n} members within {within} s")


class _Commits:
    """Reads a group's committed offsets without joining it."""

    def __init__(self, servers: str, group: str) -> None:
        from confluent_kafka import Consumer

        self.c = Consumer({"bootstrap.servers": servers, "group.id": group, "enable.auto.commit": False})

    def count(self, topic: str, partitions: int) -> int:
        from confluent_kafka import TopicPartition

        got = self.c.committed([TopicPartition(topic, p) for p in range(partitions)], timeout=5)
        return sum(1 for tp in got if tp.offset >= 0)

    def close(self) -> None:
        self.c.close()


@pytest.mark.slow
def test_kill_9_and_restart_leave_every_alert_once_in_elasticsearch_and_jsonl(
        tmp_path: Path, kafka_servers: str, es_url: str) -> None:
    """At least once plus deterministic ids: a worker SIGKILLed after a commit and restarted
    with the same instance id replays from its committed watermark; Elasticsearch (create by
    _id) and the jsonl output (dedup) end with each alert revision once."""
    from flowcep_plugin.es.client import make_client
    from flowcep_plugin.es.setup import install

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    from bench_engine import build

    msgs, _ = build(5)
    data = tmp_path / "x5.ipfix"
    data.write_bytes(b"".join(msgs))
    one = one_process(tmp_path, data)
    client = make_client(es_url)
    install(client)
    ns = "k" + uuid.uuid4().hex[:10]
    topic, group = f"flows-{uuid.uuid4().hex[:8]}", f"g-{uuid.uuid4().hex[:6]}"
    addr = parse_kafka(f"kafka://{kafka_servers}/{topic}", (), "test")
    assert ensure_topic(wait_for_broker(addr, "test", False), addr, 4, "test") == 4
    es = f"elasticsearch:{es_url}?namespace={ns}&flush_interval=0.05"

    def start(i: int) -> subprocess.Popen[str]:
        return _flowcep("run", "-q", "--no-progress", "-i",
                        f"kafka://{kafka_servers}/{topic}?group={group}&instance=w{i}&commit=0.2s",
                        "-o", f"jsonl:{tmp_path / f'w{i}.jsonl'}", "-o", es, *detector_args(),
                        "--stats-json", str(tmp_path / f"w{i}.stats.json"))

    # the workers run while ingest publishes, so they are mid-run for as long as ingest is;
    # ingest starts once both hold their partitions, so the kill is the only membership change
    # (a rebalance during the run would be another test: the jsonl dedup is per file)
    w1, w2 = start(1), start(2)
    procs = [w1, w2]
    try:
        _wait_for_members(kafka_servers, group, 2)
        feed = ingest(kafka_servers, topic, data)
        procs.append(feed)
        commits = _Commits(kafka_servers, group)
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and w1.poll() is None and feed.poll() is None:
                if commits.count(topic, 4) >= 3:  # so worker 1 committed some of its own
                    break
                time.sleep(0.05)
            assert w1.poll() is None and feed.poll() is None, "worker 1 could not be killed mid-run"
        finally:
            commits.close()
        w1.kill()  # SIGKILL: no flush, no commit, no leave
        w1.wait(timeout=10)
        w1b = start(1)  # the same instance id: static membership gives its partitions back
        procs.append(w1b)
        _done(feed)
        _done(w2)
        _done(w1b)
    finally:
        for p in procs:  # a failed assertion must not leave workers waiting for a broker
            if p.poll() is None:
                p.kill()
                p.wait(timeout=10)
    restarted = json.loads((tmp_path / "w1.stats.json").read_text())
    assert restarted["gauges"].get("kafka.partitions_resumed", 0) >= 1  # it resumed from a commit
    jsonl = alert_keys([tmp_path / "w1.jsonl", tmp_path / "w2.jsonl"])
    assert jsonl == one  # every alert revision once: nothing lost, nothing twice
    index = f"logs-flowcep.alert-{ns}"
    client.indices.refresh(index=index)
    hits = client.search(index=index, size=10_000)["hits"]["hits"]
    ids = [h["_id"] for h in hits]
    assert len(ids) == len(set(ids))
    last: dict[str, int] = {}  # the last revision of each alert is what Elasticsearch holds
    for line in (tmp_path / "one.jsonl").read_text().splitlines():
        fc = json.loads(line)["flowcep"]
        last[fc["alert_id"]] = max(last.get(fc["alert_id"], 0), fc["revision"])
    assert {h["_id"]: h["_source"]["flowcep"]["revision"] for h in hits} == last


def test_a_worker_refuses_to_publish_a_stream_and_to_fork(tmp_path: Path) -> None:
    """A worker's EPL rows about another worker's hosts would be partial; --workers would fork a
    pool the consumer group already is. Both are one line at start (exit 2), before any broker."""
    src = "kafka://127.0.0.1:9/t?group=g&instance=w1"
    for extra in (["-o", "kafka://127.0.0.1:9/s?stream=TCPSYNscan"], ["--workers", "2", "-o", "stdout"]):
        p = _flowcep("run", "-q", "--no-progress", "-i", src, *extra)
        _, err = p.communicate(timeout=60)
        assert p.returncode == 2, err
        errors = [line for line in err.splitlines() if line.startswith("flowcep: error:")]
        assert len(errors) == 1 and "Traceback" not in err, err


def test_repeated_text_is_sent_once_per_message_and_shared_after_decoding() -> None:
    ips = ["10.0.0.1", "10.0.0.2", None] * 100
    b = FlowBatch({"sourceIPv4Address": ips, "n": list(range(300))}, 300)
    data = encode_step(Step(STEP, "r", 0, 0, False, [Part(0, list(range(300)), b)]))
    assert data.count(b"10.0.0.1") == 1
    out = decode_step(data, "t").parts[0].batch.columns["sourceIPv4Address"]
    assert out == ips and out[0] is out[3]  # one object per distinct value
    bad = data.replace(b'"d":{"sourceIPv4Address":["10.0.0.1"', b'"d":{"sourceIPv4Address":["x"')
    assert decode_step(bad, "t").parts[0].batch.columns["sourceIPv4Address"][0] == "x"  # sanity: format as assumed
    with pytest.raises(TransportError, match="dictionary"):
        decode_step(data.replace(b"[0,1,2,0,1,2", b"[0,1,-1,0,1,2", 1), "t")


@pytest.mark.slow
def test_ingest_exits_3_when_the_broker_dies_mid_run(tmp_path: Path) -> None:
    """Messages the broker never acknowledged are counted as an output failure, exit 3."""
    from flowcep_plugin.es.loopback import noida_binary, start_noida
    from flowcep_plugin.kafka_client import topic_partitions

    if noida_binary() is None:
        pytest.skip("noida-db is not installed")
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    from bench_engine import build

    data = tmp_path / "x5.ipfix"
    data.write_bytes(b"".join(build(5)[0]))
    server = start_noida(service="kafka")  # our own broker: this test kills it
    stats = tmp_path / "stats.json"
    try:
        topic = "flows"
        feed = ingest(server.url, topic, data, 4, "--timeout", "3", "--stats-json", str(stats))
        addr = parse_kafka(f"kafka://{server.url}/{topic}", (), "test")
        admin = wait_for_broker(addr, "test", False)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and feed.poll() is None:  # ingest connected: the topic is there
            if topic_partitions(admin, topic) == 4:
                break
            time.sleep(0.05)
        assert feed.poll() is None, "ingest ended before the broker could be stopped"
        server.stop()
        _, err = feed.communicate(timeout=120)
    finally:
        server.stop()
    assert feed.returncode == 3, err
    errors = [line for line in err.splitlines() if line.startswith("flowcep: ")]
    assert errors and "Traceback" not in err
    snap = json.loads(stats.read_text())
    assert snap["output_failures"] and snap["drops"]["output-error"] >= 1


def test_a_second_ingest_run_on_the_topic_continues_it(tmp_path: Path, kafka_servers: str) -> None:
    """A worker that ended at the first run's end marker, restarted after a second ingest run
    wrote to the same topic, resumes from its commit, passes the old end marker and processes
    the new run; the jsonl file holds each alert revision once."""
    topic, group = f"flows-{uuid.uuid4().hex[:8]}", f"g-{uuid.uuid4().hex[:6]}"
    mixed = tmp_path / "mixed.ipfix"
    _done(_flowcep("synth", "mixed", "--out", str(mixed)))
    out = tmp_path / "w.jsonl"
    _done(ingest(kafka_servers, topic, DEMO))
    _done(worker(kafka_servers, topic, group, "w1", f"jsonl:{out}"))
    first = out.read_text().splitlines()
    _done(ingest(kafka_servers, topic, mixed))
    _done(worker(kafka_servers, topic, group, "w1", f"jsonl:{out}"))
    stats = json.loads(Path(f"{out}.stats.json").read_text())
    assert stats["gauges"]["kafka.partitions_resumed"] == 4
    assert stats["gauges"]["kafka.end_markers_passed"] >= 4
    docs = [json.loads(x) for x in out.read_text().splitlines()]
    keys = [(d["flowcep"]["alert_id"], d["flowcep"]["revision"]) for d in docs]
    assert len(keys) == len(set(keys)) and len(docs) > len(first)
    assert {"portscan", "volumetric", "bruteforce"} <= {d["rule"]["id"].split("-")[0] for d in docs}
