"""Kafka workers while partitions move between live members.

``flowcep ingest`` writes a file's steps to a staging topic once; the test then publishes
those exact messages (values and timestamps) to the workers' topic in two halves, split at a
step boundary, and changes the group's membership in between: a third worker joins (every
member's partitions are revoked and reassigned while the others are mid-run), a worker is
stopped with SIGTERM and restarted with its instance id, a worker goes silent (SIGSTOP) past
the session timeout and comes back. Each run ends with the alerts of one ``flowcep run``
(rule, source, targets, window, revision, counts), each once in the jsonl files and in the
Elasticsearch stand-in; the counters show what was replayed and that nothing already output
was output again (``jsonl.duplicates_skipped`` stays 0: the commit, not the dedup, did it).
A broker on loopback (noida-db) or the cluster named by ``FLOWCEP_KAFKA``.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from flowcep_plugin.kafka_client import ensure_topic, parse_kafka, wait_for_broker
from flowcep_plugin.transport import END, decode_step

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from test_kafka_transport import (  # noqa: E402
    _Commits,
    _done,
    _flowcep,
    _wait_for_members,
    alert_keys,
    detector_args,
    ingest,
    one_process,
)

pytestmark = pytest.mark.slow
PARTITIONS = 4
#: (value, timestamp ms) of each message, per partition, in offset order
Messages = dict[int, list[tuple[bytes, int]]]


@pytest.fixture(scope="module")
def x5(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo capture five times over, shifted in time (the kill -9 test's input)."""
    from bench_engine import build

    path = tmp_path_factory.mktemp("kafkamove") / "x5.ipfix"
    path.write_bytes(b"".join(build(5)[0]))
    return path


@pytest.fixture(scope="module")
def one(x5: Path, tmp_path_factory: pytest.TempPathFactory) -> list[tuple[Any, ...]]:
    alerts = one_process(tmp_path_factory.mktemp("one"), x5)
    assert alerts, "the input must raise alerts for the comparison to mean anything"
    return alerts


@pytest.fixture(scope="module")
def staged(x5: Path, kafka_servers: str) -> Messages:
    """What ingest published for ``x5``, read back from its own topic."""
    from confluent_kafka import Consumer, TopicPartition

    topic = f"stage-{uuid.uuid4().hex[:8]}"
    _done(ingest(kafka_servers, topic, x5, PARTITIONS))
    c = Consumer({"bootstrap.servers": kafka_servers, "group.id": f"t-{uuid.uuid4().hex}",
                  "enable.auto.commit": False})
    got: Messages = {p: [] for p in range(PARTITIONS)}
    ended: set[int] = set()
    try:
        c.assign([TopicPartition(topic, p, 0) for p in got])
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and len(ended) < PARTITIONS:
            for m in c.consume(500, 0.5):
                if m.error():
                    continue
                got[m.partition()].append((m.value(), m.timestamp()[1]))
                if decode_step(m.value(), "stage").kind == END:
                    ended.add(m.partition())
    finally:
        c.close()
    assert len(ended) == PARTITIONS, "ingest's end markers did not arrive"
    return got


def _halves(staged: Messages) -> tuple[Messages, Messages]:
    """Split every partition before the same step (the middle one): steps stay whole."""
    keys = sorted({decode_step(v, "t").key for v, _ in staged[0]})
    middle = keys[len(keys) // 2]
    first: Messages = {p: [] for p in staged}
    second: Messages = {p: [] for p in staged}
    for p, msgs in staged.items():
        for v, ts in msgs:
            (first if decode_step(v, "t").key < middle else second)[p].append((v, ts))
    assert all(first.values()) and all(second.values())
    return first, second


def _publish(servers: str, topic: str, msgs: Messages) -> None:
    from confluent_kafka import Producer

    prod = Producer({"bootstrap.servers": servers, "acks": "all", "linger.ms": 5})
    for p, part in msgs.items():
        for value, ts in part:
            prod.produce(topic, value, partition=p, timestamp=ts)
            prod.poll(0)
    assert prod.flush(30) == 0


class _Run:
    """One topic and group, workers writing jsonl and Elasticsearch, and the comparison."""

    def __init__(self, tmp: Path, servers: str, es_url: str) -> None:
        from flowcep_plugin.es.client import make_client
        from flowcep_plugin.es.setup import install

        self.tmp, self.servers = tmp, servers
        self.topic, self.group = f"flows-{uuid.uuid4().hex[:8]}", f"g-{uuid.uuid4().hex[:6]}"
        addr = parse_kafka(f"kafka://{servers}/{self.topic}", (), "test")
        assert ensure_topic(wait_for_broker(addr, "test", False), addr, PARTITIONS, "test") == PARTITIONS
        self.client = make_client(es_url)
        install(self.client)
        self.ns = "m" + uuid.uuid4().hex[:10]
        self.es = f"elasticsearch:{es_url}?namespace={self.ns}&flush_interval=0.05"
        self.procs: list[subprocess.Popen[str]] = []
        self.starts = 0

    def start(self, i: int, commit: str = "0.2s") -> subprocess.Popen[str]:
        """Worker ``w{i}`` (the same instance id and jsonl file at every start)."""
        self.starts += 1
        p = _flowcep("run", "-q", "--no-progress", "-i",
                     f"kafka://{self.servers}/{self.topic}?group={self.group}&instance=w{i}&commit={commit}",
                     "-o", f"jsonl:{self.tmp / f'w{i}.jsonl'}", "-o", self.es, *detector_args(),
                     "--stats-json", str(self.tmp / f"w{i}-{self.starts}.stats.json"))
        self.procs.append(p)
        return p

    def stats(self) -> list[dict[str, Any]]:
        return [json.loads(f.read_text()) for f in sorted(self.tmp.glob("*.stats.json"))]

    def wait_for_commits(self, n: int = PARTITIONS, upto: Messages | None = None) -> None:
        """Until ``n`` partitions have a commit: the workers are mid-run, with state; with
        ``upto``, until every partition's commit is past those messages (the workers idle)."""
        from confluent_kafka import TopicPartition

        commits = _Commits(self.servers, self.group)

        def done() -> bool:
            if upto is None:
                return commits.count(self.topic, PARTITIONS) >= n
            got = commits.c.committed([TopicPartition(self.topic, p) for p in upto], timeout=5)
            return all(tp.offset >= len(upto[tp.partition]) for tp in got)

        try:
            deadline = time.monotonic() + 60
            while not done():
                assert time.monotonic() < deadline, "the workers committed nothing within 60 s"
                assert all(p.poll() is None for p in self.procs), "a worker ended early"
                time.sleep(0.05)
        finally:
            commits.close()

    def finish(self, procs: list[subprocess.Popen[str]] | None = None) -> None:
        """Wait for the workers to end (exit 0); their stderr is kept beside the stats."""
        for n, p in enumerate(self.procs if procs is None else procs):
            err = _done(p)
            (self.tmp / f"{n}-{p.pid}.err").write_text(err)

    def kill_all(self) -> None:
        for p in self.procs:  # a failed assertion must not leave workers waiting for a broker
            if p.poll() is None:
                p.send_signal(signal.SIGCONT)
                p.kill()
                p.wait(timeout=10)

    def check(self, one: list[tuple[Any, ...]], across_files: bool = False) -> list[dict[str, Any]]:
        """One process's alerts, each once in jsonl and in Elasticsearch. ``across_files``:
        a moved partition may repeat its uncommitted alerts in its new owner's file (a real
        cluster, a silent member): merged by (alert id, revision), as docs/deployment.md says."""
        files = sorted(self.tmp.glob("w*.jsonl"))
        docs = [json.loads(line) for f in files for line in f.read_text().splitlines()]
        for f in files:  # each file: every (id, revision) once
            ids = [(d["flowcep"]["alert_id"], d["flowcep"]["revision"])
                   for d in map(json.loads, f.read_text().splitlines())]
            assert len(ids) == len(set(ids)), f.name
        if across_files:
            merged = self.tmp / "merged.jsonl"
            seen: dict[tuple[str, int], str] = {}
            for d in docs:
                seen.setdefault((d["flowcep"]["alert_id"], d["flowcep"]["revision"]), json.dumps(d))
            merged.write_text("".join(x + "\n" for x in seen.values()))
            got = alert_keys([merged])
            merged.unlink()
        else:
            got = alert_keys(files)
        missing, extra = sorted(set(one) - set(got)), sorted(set(got) - set(one))
        assert not missing and not extra, f"missing {missing[:3]}, extra {extra[:3]}"
        assert got == one  # and nothing twice
        index = f"logs-flowcep.alert-{self.ns}"
        self.client.indices.refresh(index=index)
        hits = self.client.search(index=index, size=10_000)["hits"]["hits"]
        assert len(hits) == len({h["_id"] for h in hits})
        last: dict[str, int] = {}
        for d in docs:
            fc = d["flowcep"]
            last[fc["alert_id"]] = max(last.get(fc["alert_id"], 0), fc["revision"])
        assert {h["_id"]: h["_source"]["flowcep"]["revision"] for h in hits} == last
        return self.stats()


def _sum(stats: list[dict[str, Any]], name: str) -> int:
    return sum(int(s["gauges"].get(name, 0)) for s in stats)


@pytest.mark.parametrize("commit", ["0.2s", "1h"], ids=["periodic-commits", "revocation-commits-only"])
def test_a_third_worker_joining_mid_run_takes_partitions_and_no_alert_moves_or_repeats(
        tmp_path: Path, kafka_servers: str, es_url: str, staged: Messages, one: list[tuple[Any, ...]],
        commit: str) -> None:
    """The join revokes every member's partitions while they hold window state: each outputs
    and commits first, drops its state, and after the reassignment every member (the newcomer
    too) replays its partitions from before the committed watermark; alerts whose step the
    commit covers are rebuilt, not output again. With ``commit=1h`` the running members have
    committed nothing when the newcomer joins, so everything they output rests on the
    revocation's commit (or its retry at the reassignment)."""
    first, second = _halves(staged)
    run = _Run(tmp_path, kafka_servers, es_url)
    try:
        run.start(1, commit)
        run.start(2, commit)
        _wait_for_members(kafka_servers, run.group, 2)
        _publish(kafka_servers, run.topic, first)
        if commit == "1h":
            outs = [tmp_path / "w1.jsonl", tmp_path / "w2.jsonl"]
            deadline = time.monotonic() + 60
            while not all(o.exists() and o.stat().st_size for o in outs):  # both output alerts
                assert time.monotonic() < deadline, "the workers output no alert within 60 s"
                time.sleep(0.05)
        else:
            run.wait_for_commits()
        run.start(3)
        _wait_for_members(kafka_servers, run.group, 3)
        _publish(kafka_servers, run.topic, second)
        run.finish()
    finally:
        run.kill_all()
    stats = run.stats()
    # a partition that moved after its revocation commit failed (noida-db fails them: it moves
    # the group to the next generation when the newcomer joins) is replayed and its alerts
    # since the last commit output again by its new owner: then only merging the files by
    # (alert id, revision) gives each once; with the commit it is each once without merging
    run.check(one, across_files=_sum(stats, "kafka.moved_uncommitted") > 0)
    newcomer = json.loads((tmp_path / "w3-3.stats.json").read_text())["gauges"]
    assert newcomer.get("kafka.assigned"), "the third worker got no partition"
    if _sum(stats, "kafka.moved_uncommitted") == 0:  # it started from the others' commits
        assert newcomer.get("kafka.partitions_resumed", 0) >= 1
        assert newcomer.get("kafka.replayed_records", 0) > 0  # and rebuilt their window state
    for i in (1, 2):  # both running members gave up their partitions and got some back
        mid = json.loads((tmp_path / f"w{i}-{i}.stats.json").read_text())["gauges"]
        assert mid["kafka.assignments"] >= 2 and mid["kafka.partitions_resumed"] >= 1, mid
    assert _sum(stats, "kafka.replayed_steps") > 0
    # the retained partitions' commits (at the revocation, or retried at the reassignment)
    # covered all they output: their replay output nothing again
    assert _sum(stats, "jsonl.duplicates_skipped") == 0
    assigned = [set(s["gauges"]["kafka.assigned"]) for s in stats]
    assert set().union(*assigned) == set(range(PARTITIONS))


def test_sigterm_commits_what_was_output_and_the_restart_repeats_nothing(
        tmp_path: Path, kafka_servers: str, es_url: str, staged: Messages, one: list[tuple[Any, ...]]) -> None:
    """A worker stopped with SIGTERM mid-run flushes its outputs and commits every step it
    processed; restarted with its instance id it replays to rebuild state and outputs none of
    the alerts it had output (its jsonl dedup skips nothing). Its commit interval is longer
    than the test, so the SIGTERM commit is its only one."""
    first, second = _halves(staged)
    run = _Run(tmp_path, kafka_servers, es_url)
    try:
        w1 = run.start(1, commit="1h")
        run.start(2)
        _wait_for_members(kafka_servers, run.group, 2)
        _publish(kafka_servers, run.topic, first)
        run.wait_for_commits(2)  # worker 2's
        out = tmp_path / "w1.jsonl"
        deadline = time.monotonic() + 60
        while not (out.exists() and out.stat().st_size):  # worker 1 output alerts, committed none
            assert time.monotonic() < deadline and w1.poll() is None, "worker 1 output no alert"
            time.sleep(0.05)
        w1.send_signal(signal.SIGTERM)
        _, err = w1.communicate(timeout=30)
        assert w1.returncode == 0, err[-2000:]
        assert "SIGTERM received" in err
        run.start(1)
        _publish(kafka_servers, run.topic, second)
        run.finish(run.procs[1:])
    finally:
        run.kill_all()
    stats = run.check(one)
    assert _sum(stats, "jsonl.duplicates_skipped") == 0  # the SIGTERM commit covered all it output
    stopped = json.loads((tmp_path / "w1-1.stats.json").read_text())["gauges"]
    again = json.loads((tmp_path / "w1-3.stats.json").read_text())["gauges"]
    assert stopped.get("kafka.commits", 0) >= 1 and again.get("kafka.replayed_alerts_not_emitted", 0) > 0
    assert again.get("kafka.partitions_resumed", 0) >= 1 and again.get("kafka.replayed_records", 0) > 0


@pytest.mark.skipif(not hasattr(signal, "SIGSTOP"), reason="needs SIGSTOP")
def test_a_worker_silent_past_the_session_timeout_comes_back_and_nothing_is_lost(
        tmp_path: Path, kafka_servers: str, es_url: str, staged: Messages, one: list[tuple[Any, ...]]) -> None:
    """SIGSTOP for longer than session.timeout.ms (10 s) after the first half, SIGCONT, then
    the second half. A Kafka cluster moves the silent member's partitions to the other
    member, which replays them, and gives them back when it rejoins with its instance id.
    noida-db keeps them and fences the member when it rejoins (a fatal consumer error): the
    worker, idle, must notice by itself and exit with one line; restarted with its instance
    id it replays from its commit. Either way its uncommitted alerts may be in two files
    (merged by id and revision) and Elasticsearch holds each once."""
    first, second = _halves(staged)
    run = _Run(tmp_path, kafka_servers, es_url)
    try:
        w1 = run.start(1)
        run.start(2)
        _wait_for_members(kafka_servers, run.group, 2)
        _publish(kafka_servers, run.topic, first)
        run.wait_for_commits(upto=first)  # idle when stopped, and when it comes back
        w1.send_signal(signal.SIGSTOP)
        try:
            time.sleep(12)
        finally:
            w1.send_signal(signal.SIGCONT)
        try:  # nothing new is published: a fenced member must notice by itself
            _, err = w1.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            err = None  # a Kafka cluster: it rejoined and goes on
        if err is not None:  # noida-db: fenced; one line, then a restart with its instance id
            (tmp_path / "silent.err").write_text(err)
            errors = [line for line in err.splitlines() if line.startswith("flowcep: error:")]
            assert w1.returncode != 0 and len(errors) == 1 and "Traceback" not in err, err[-2000:]
            assert "instance=w1" in errors[0]
            run.start(1)
        _publish(kafka_servers, run.topic, second)
        run.finish(run.procs[1:] if err is not None else None)
    finally:
        run.kill_all()
    run.check(one, across_files=True)


def test_a_new_group_reads_from_the_beginning_and_a_finished_one_outputs_nothing_again(
        tmp_path: Path, kafka_servers: str, x5: Path, one: list[tuple[Any, ...]]) -> None:
    """No commit: the group starts at the first message (every alert); committed offsets win
    over that: a worker of a group that already passed the end marker replays the last
    ``replay`` of steps to rebuild state and outputs nothing, not even its end-of-input
    flush."""
    topic = f"flows-{uuid.uuid4().hex[:8]}"
    _done(ingest(kafka_servers, topic, x5, PARTITIONS))
    group = f"g-{uuid.uuid4().hex[:6]}"
    out = tmp_path / "w.jsonl"

    def work(n: int) -> dict[str, Any]:
        stats = tmp_path / f"{n}.stats.json"
        _done(_flowcep("run", "-q", "--no-progress", "-i",
                       f"kafka://{kafka_servers}/{topic}?group={group}&instance=w1", "-o", f"jsonl:{out}",
                       *detector_args(), "--stats-json", str(stats)))
        return dict(json.loads(stats.read_text())["gauges"])

    first = work(1)
    assert alert_keys([out]) == one and first.get("kafka.partitions_resumed", 0) == 0
    second = work(2)
    assert second["kafka.partitions_resumed"] == PARTITIONS
    assert second.get("kafka.replayed_records", 0) > 0
    assert second.get("jsonl.duplicates_skipped", 0) == 0  # nothing output again, flush included
    assert second.get("kafka.replayed_alerts_not_emitted", 0) > 0
    assert alert_keys([out]) == one
