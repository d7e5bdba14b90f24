"""``--output kafka://HOST:PORT/TOPIC``: alerts (and flows) reach a topic, acknowledged.

Runs against a loopback broker speaking the Kafka protocol (noida-db), or a real cluster when
``FLOWCEP_KAFKA`` names one. Every message is read back with an independent consumer and
compared with what the jsonl output wrote in the same run.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from flowcep_plugin.errors import ConfigError
from flowcep_plugin.outputs.kafka import parse_target

DEMO = Path(__file__).resolve().parents[2] / "flowcep_plugin" / "data" / "demo.ipfix"


def _flowcep(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "flowcep_plugin", *args], capture_output=True, text=True,
                          timeout=timeout)


def _consume(servers: str, topic: str, expect: int, within: float = 30.0) -> list[Any]:
    from confluent_kafka import Consumer

    c = Consumer({"bootstrap.servers": servers, "group.id": f"t-{uuid.uuid4().hex}",
                  "auto.offset.reset": "earliest", "enable.auto.commit": False})
    c.subscribe([topic])
    got: list[Any] = []
    deadline = time.monotonic() + within
    try:
        while time.monotonic() < deadline and len(got) < expect:
            m = c.poll(0.5)
            if m is None or m.error():
                continue
            got.append(m)
        # a little longer: more than expected would be a duplicate
        end = time.monotonic() + 1.0
        while time.monotonic() < end:
            m = c.poll(0.2)
            if m is not None and not m.error():
                got.append(m)
    finally:
        c.close()
    return got


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_alerts_reach_the_topic_keyed_by_their_alert_id(tmp_path: Path, kafka_servers: str) -> None:
    topic = f"alerts-{uuid.uuid4().hex[:8]}"
    out = tmp_path / "alerts.jsonl"
    res = _flowcep("run", "-q", "--no-progress", "-i", str(DEMO), "-o", f"kafka://{kafka_servers}/{topic}",
                   "-o", f"jsonl:{out}")
    assert res.returncode == 0, res.stderr
    lines = out.read_bytes().splitlines()
    assert lines, "the demo sample raises alerts"
    msgs = _consume(kafka_servers, topic, len(lines))
    assert sorted(m.value() for m in msgs) == sorted(lines)  # the same documents, each once
    for m in msgs:
        doc = json.loads(m.value())
        assert m.key().decode() == doc["flowcep"]["alert_id"]
    # the revisions of one alert share a key, so they share a partition, in order
    by_key: dict[bytes, list[int]] = {}
    for m in msgs:
        by_key.setdefault(m.key(), []).append(json.loads(m.value())["flowcep"]["revision"])
    assert all(revs == sorted(revs) for revs in by_key.values())


def test_flows_go_too_when_asked(tmp_path: Path, kafka_servers: str) -> None:
    topic = f"flows-{uuid.uuid4().hex[:8]}"
    stats = tmp_path / "stats.json"
    res = _flowcep("run", "-q", "--no-progress", "--flows", "--no-enrich", "-d", "policy", "-i", str(DEMO),
                   "-o", f"kafka://{kafka_servers}/{topic}?flows=true", "--stats-json", str(stats))
    assert res.returncode == 0, res.stderr
    records = json.loads(stats.read_text())["stages"]["input"]["in"]
    msgs = _consume(kafka_servers, topic, records, within=60)
    flows = [json.loads(m.value()) for m in msgs if m.key() is None]
    assert len(flows) == records
    # the flat ECS flow documents every flow output writes
    assert all(f["event.kind"] == "event" and f["ecs.version"] and "@timestamp" in f for f in flows)
    assert sum("source.ip" in f for f in flows) == records


def test_a_chosen_insert_into_stream_goes_to_its_topic_as_documents(tmp_path: Path, kafka_servers: str) -> None:
    """``?stream=TCPSYNscan``: the rows the multistage module inserts into TCPSYNscan, one
    document each, keyed by the stream; no alert goes to a stream topic."""
    topic = f"stream-{uuid.uuid4().hex[:8]}"
    stats = tmp_path / "stats.json"
    alerts = tmp_path / "alerts.jsonl"
    res = _flowcep("run", "-q", "--no-progress", "-i", str(DEMO), "-o", f"kafka://{kafka_servers}/{topic}?stream=TCPSYNscan",
                   "-o", f"jsonl:{alerts}", "--stats-json", str(stats))
    assert res.returncode == 0, res.stderr
    gauges = json.loads(stats.read_text())["gauges"]
    rows, marks = gauges["kafka.stream_rows.TCPSYNscan"], gauges["kafka.stream_progress.TCPSYNscan"]
    assert rows > 0 and alerts.read_text()  # the demo's SYN scanner, and alerts elsewhere
    assert marks >= 2  # the engine closed windows through the input, and said so
    msgs = _consume(kafka_servers, topic, rows + marks)
    assert len(msgs) == rows + marks
    every = [json.loads(m.value()) for m in msgs]
    assert all(m.key() == b"TCPSYNscan" for m in msgs)  # rows and progress: one partition, in order
    docs = [d for d in every if d["event"]["dataset"] == "flowcep.stream"]
    progress = [(i, d) for i, d in enumerate(every) if d["event"]["dataset"] == "flowcep.progress"]
    assert len(docs) == rows and len(progress) == marks
    for i, p in progress:  # a progress document: no later row is older than it
        t = p["flowcep"]["progress"]["time_ms"]
        assert p["flowcep"]["progress"]["stream"] == "TCPSYNscan" and p["@timestamp"] == t
        assert all(d["flowcep"]["time_ms"] >= t for d in every[i + 1:] if "stream" in d["flowcep"])
    for d in docs:
        assert d["event"] == {"kind": "event", "module": "flowcep", "dataset": "flowcep.stream", "action": "TCPSYNscan"}
        assert d["flowcep"]["stream"] == "TCPSYNscan" and d["@timestamp"] == d["flowcep"]["time_ms"] > 0
        assert set(d["flowcep"]["row"]) == {"Attacker", "destPort", "AtkCount", "Hosts"}
    times = [d["flowcep"]["time_ms"] for d in docs]
    assert times == sorted(times)  # one partition (one key), in the order the engine made them


@pytest.mark.parametrize("extra", [[], ["--workers", "2"]])
def test_a_stream_nothing_inserts_into_is_refused_at_start(extra: list[str], kafka_servers: str) -> None:
    name = "TCPSYNscan" if extra else "NoSuchStream"
    res = _flowcep("run", "-q", "--no-progress", "-i", str(DEMO), *extra,
                   "-o", f"kafka://{kafka_servers}/x?stream={name}", timeout=120)
    assert res.returncode == 2
    errors = [line for line in res.stderr.splitlines() if line.startswith("flowcep: error:")]
    expected = "cannot be published with --workers N" if extra else f"inserts into stream {name!r}"
    assert len(errors) == 1 and expected in errors[0], res.stderr


def test_an_unreachable_broker_fails_at_start_with_one_line(tmp_path: Path) -> None:
    port = _closed_port()
    res = _flowcep("run", "-q", "--no-progress", "-i", str(DEMO), "-o", f"kafka://127.0.0.1:{port}/alerts",
                   timeout=120)
    assert res.returncode == 2
    errors = [line for line in res.stderr.splitlines() if line.startswith("flowcep: error:")]
    assert len(errors) == 1 and "no Kafka broker answers" in errors[0] and "--wait" in errors[0]
    assert "Traceback" not in res.stderr


def test_undelivered_alerts_are_counted_and_the_run_exits_3(tmp_path: Path) -> None:
    """With --wait the run starts without a broker; what it could not deliver by the end is
    an output failure (exit 3), never a quiet success."""
    port = _closed_port()
    cfg = tmp_path / "c.toml"
    cfg.write_text('[outputs.kafka]\ntimeout = "2s"\n')
    stats = tmp_path / "stats.json"
    res = _flowcep("run", "-q", "--no-progress", "-c", str(cfg), "--wait", "-i", str(DEMO),
                   "-o", f"kafka://127.0.0.1:{port}/alerts", "--stats-json", str(stats), timeout=120)
    assert res.returncode == 3, res.stderr
    snap = json.loads(stats.read_text())
    alerts = sum(snap["alerts_by_rule"].values())
    assert alerts > 0
    failed = snap["output_failures"][f"kafka://127.0.0.1:{port}/alerts"]
    assert failed >= 1
    assert snap["drops"]["output-error"] >= 1


@pytest.mark.parametrize("target", ["127.0.0.1:9092/t", "//127.0.0.1:9092", "//127.0.0.1/t", "//h:99999/t",
                                    "//127.0.0.1:9092/a/b", "//127.0.0.1:9092/t?nope=1", "//127.0.0.1:9092/bad topic",
                                    "//127.0.0.1:9092/t?stream=a-b"])
def test_bad_targets_are_refused(target: str) -> None:
    with pytest.raises(ConfigError):
        parse_target(target)


def test_a_good_target_parses() -> None:
    assert parse_target("//a:1,b:2/alerts?flows=true") == ("a:1,b:2", "alerts", {"flows": "true"})
