"""``alerts+kafka://``: a level-2 monitor reading gateway runs' Kafka topics gives the answers it
gives over the same gateways' jsonl files.

Two gateway runs over a split of the demo scenario (by destination parity, so the horizontal
scanners reach both gateways) each write their alerts and metrics twice: to jsonl and to their
own Kafka topic (``--output kafka://``, through the broker on loopback: noida-db, or
``FLOWCEP_KAFKA``). The level-2 run over the two topics (``?until=end``) must equal the level-2
run over the two files, alert for alert and metric for metric.
"""

from __future__ import annotations

import ipaddress
import json
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

import flowcep_plugin
from flowcep_plugin.inprocess import RunResult, run

pytest.importorskip("flowcep_level2")

DEMO = Path(flowcep_plugin.__file__).parent / "data" / "demo.ipfix"
LEVEL2 = ["level2-scanners", "level2-top-talkers"]


def _gateways(tmp: Path, servers: str) -> tuple[dict[str, Path], dict[str, str]]:
    out = subprocess.run([sys.executable, "-m", "flowcep_plugin", "dump", str(DEMO)],
                         capture_output=True, text=True, check=True).stdout
    flows = [json.loads(line) for line in out.splitlines() if line.strip()]
    files: dict[str, Path] = {}
    topics: dict[str, str] = {}
    for gw, parity in (("east", 0), ("west", 1)):
        part = tmp / f"{gw}.flows.json"
        part.write_text("".join(json.dumps(f) + "\n" for f in flows
                                if int(ipaddress.ip_address(f["destinationIPv4Address"])) % 2 == parity))
        files[gw] = tmp / f"{gw}.alerts.jsonl"
        topics[gw] = f"l2-{gw}-{uuid.uuid4().hex[:8]}"
        res = run([f"json:{part}"], outputs=[f"jsonl:{files[gw]}", f"kafka://{servers}/{topics[gw]}"],
                  config={"run": {"observer": gw}})
        assert res.stats["plugin_errors"] == {}
    return files, topics


def _key(e: dict[str, Any]) -> tuple[Any, ...]:
    f = e["flowcep"]
    return (e["rule"]["id"], json.dumps((e.get("source") or {}).get("ip")), f["window"]["start"], f["window"]["end"],
            f["alert_id"], json.dumps(f.get("metrics"), sort_keys=True), json.dumps(f.get("counts"), sort_keys=True))


def _level2(inputs: list[str]) -> RunResult:
    return run(inputs, detectors=LEVEL2, config={"detectors": {"level2-top-talkers": {"top_n": 5}}})


@pytest.mark.slow
def test_level2_over_kafka_topics_equals_level2_over_the_files(tmp_path: Path, kafka_servers: str) -> None:
    files, topics = _gateways(tmp_path, kafka_servers)
    from_files = _level2([f"alerts:{tmp_path}/*.alerts.jsonl"])
    from_kafka = _level2([f"alerts+kafka://{kafka_servers}/{topics['east']},{topics['west']}?until=end"])
    assert from_kafka.stats["plugin_errors"] == {}
    rules = {e["rule"]["id"] for e in from_files.events}
    assert "level2-scanner-gateways" in rules and "level2-top-talkers" in rules  # a comparison that means something
    assert sorted(map(_key, from_kafka.events)) == sorted(map(_key, from_files.events))
    assert from_kafka.stats["drops"] == from_files.stats["drops"] == {}


@pytest.mark.slow
def test_a_bad_message_is_one_line_and_counted(tmp_path: Path, kafka_servers: str) -> None:
    from confluent_kafka import Producer

    topic = f"l2-bad-{uuid.uuid4().hex[:8]}"
    good = {"@timestamp": "2024-01-01T00:05:00Z", "event": {"kind": "alert", "start": "2024-01-01T00:00:00Z",
                                                          "end": "2024-01-01T00:05:00Z"},
            "rule": {"id": "portscan-horizontal"}, "source": {"ip": "192.0.2.7"}, "observer": {"name": "east"},
            "flowcep": {"alert_id": "a1", "window": {"start": 1704067200000, "end": 1704067500000}}}
    p = Producer({"bootstrap.servers": kafka_servers})
    for value in (b"{not json", json.dumps(good).encode(), json.dumps({"event": {"kind": "metric"}}).encode()):
        p.produce(topic, value)
    assert p.flush(30) == 0
    proc = subprocess.run([sys.executable, "-m", "flowcep_plugin", "run", "-q", "--no-progress", "-d", "level2-scanners",
                           "--input", f"alerts+kafka://{kafka_servers}/{topic}?until=end",
                           "--stats-json", str(tmp_path / "s.json"), "--output", f"jsonl:{tmp_path / 'o.jsonl'}"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    bad = [line for line in proc.stderr.splitlines() if f"{topic}[0]@0" in line]
    assert len(bad) == 1 and "not JSON" in bad[0], proc.stderr
    stats = json.loads((tmp_path / "s.json").read_text())
    assert stats["drops"] == {"malformed": 2}  # the text and the metric without its fields
    assert stats["stages"]["input"]["in"] == 1  # the one readable alert reached the clock


def test_a_missing_topic_is_one_line_exit_2(kafka_servers: str) -> None:
    proc = subprocess.run([sys.executable, "-m", "flowcep_plugin", "run", "-q", "--no-progress", "-d", "level2-scanners",
                           "--input", f"alerts+kafka://{kafka_servers}/no-such-topic-{uuid.uuid4().hex[:6]}?until=end",
                           "--output", "stdout"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    errors = [line for line in proc.stderr.splitlines() if line.startswith("flowcep: error:")]
    assert len(errors) == 1 and "does not exist" in errors[0], proc.stderr
