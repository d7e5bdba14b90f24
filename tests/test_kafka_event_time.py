"""Event time through Kafka, without a broker: ingest's steps drive every worker's windows.

Ingest runs the one event-time clock (per-exporter watermarks, the lone-record rule, MIN_JUMP)
and publishes each step's time to EVERY partition; a worker never makes time from the records
of its partitions. So the watermarks a worker's detectors see (``on_watermark``) must be those
one process's detectors see, call for call, whichever partitions the worker holds: a busy one,
a quiet one that never gets a record, or one that gets a single flow. A hostile far-future flow
routed to one partition must move no worker's windows before the end of the input.

The topic here is an in-memory stand-in (a list of messages per partition) behind the
producer and consumer calls ingest and the worker make; the same commands run against a
broker in tests/test_kafka_transport.py.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from flowcep_plugin import ingest as ingest_mod
from flowcep_plugin.cli import main
from flowcep_plugin.kafka_worker import KafkaWorker
from flowcep_plugin.partition import owner
from flowcep_plugin.pipeline import Pipeline
from flowcep_plugin.records import FlowBatch

confluent_kafka = pytest.importorskip("confluent_kafka")

PARTITIONS = 4
TOPIC = "flows"
T0 = 1_712_916_000_000  # 2024-04-12T10:00:00Z


class _Topic:
    """The messages of one topic, per partition, and one group's commits."""

    def __init__(self, partitions: int) -> None:
        self.parts: list[list[tuple[bytes, int]]] = [[] for _ in range(partitions)]
        self.commits: dict[int, int] = {}


class _Producer:
    """confluent_kafka.Producer's calls ingest makes, appending to a _Topic; every message acked."""

    def __init__(self, topic: _Topic) -> None:
        self.topic = topic

    def produce(self, topic: str, value: bytes, partition: int = 0, timestamp: int = 0,
                on_delivery: Callable[..., Any] | None = None, **_: Any) -> None:
        self.topic.parts[partition].append((value, timestamp))
        if on_delivery is not None:
            on_delivery(None, None)

    def poll(self, timeout: float = 0) -> int:
        return 0

    def flush(self, timeout: float = 0) -> int:
        return 0

    def purge(self) -> None:
        pass


class _Msg:
    def __init__(self, partition: int, offset: int, value: bytes) -> None:
        self._p, self._o, self._v = partition, offset, value

    def error(self) -> None:
        return None

    def partition(self) -> int:
        return self._p

    def offset(self) -> int:
        return self._o

    def value(self) -> bytes:
        return self._v


class _Consumer:
    """The consumer calls a worker makes: one member holding ``held`` partitions."""

    def __init__(self, topic: _Topic, held: list[int]) -> None:
        self.topic = topic
        self.held = held
        self.pos: dict[int, int] = {}
        self.paused: set[int] = set()
        self._assign_cb: Callable[..., Any] | None = None

    def bind(self, worker: KafkaWorker) -> _Consumer:
        """Stands for the worker's subscribe: the first consume assigns ``held``."""
        self._assign_cb = worker._on_assign
        return self

    def assign(self, tps: list[Any]) -> None:
        self.pos = {tp.partition: max(tp.offset, 0) for tp in tps}

    def list_topics(self, topic: str, timeout: float = 0) -> Any:
        from types import SimpleNamespace

        return SimpleNamespace(topics={TOPIC: SimpleNamespace(partitions=dict.fromkeys(range(len(self.topic.parts))))})

    def committed(self, tps: list[Any], timeout: float = 0) -> list[Any]:
        from confluent_kafka import TopicPartition

        return [TopicPartition(TOPIC, tp.partition, self.topic.commits.get(tp.partition, -1001)) for tp in tps]

    def consume(self, num_messages: int = 1, timeout: float = 0) -> list[Any]:
        from confluent_kafka import TopicPartition

        if self._assign_cb is not None:
            cb, self._assign_cb = self._assign_cb, None
            cb(self, [TopicPartition(TOPIC, p) for p in self.held])
        out: list[Any] = []
        for p, at in sorted(self.pos.items()):
            if p in self.paused:
                continue
            msgs = self.topic.parts[p][at:at + num_messages]
            out.extend(_Msg(p, at + i, v) for i, (v, _ts) in enumerate(msgs))
            self.pos[p] = at + len(msgs)
        return out

    def pause(self, tps: list[Any]) -> None:
        self.paused.update(tp.partition for tp in tps)

    def resume(self, tps: list[Any]) -> None:
        self.paused.difference_update(tp.partition for tp in tps)

    def commit(self, offsets: list[Any], asynchronous: bool = True) -> None:
        self.topic.commits.update({tp.partition: tp.offset for tp in offsets})

    def get_watermark_offsets(self, tp: Any, timeout: float = 0, cached: bool = False) -> tuple[int, int]:
        return 0, len(self.topic.parts[tp.partition])

    def close(self) -> None:
        pass


class _Calls:
    """What the first detector of a run is called with: ('wm', t) and ('batch', n, first, last)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls: list[tuple[Any, ...]] = []
        real_wm, real_detect = Pipeline._watermark_local, Pipeline._detect_isolated
        calls = self.calls

        def on_wm(pipe: Pipeline, wm: int) -> Any:
            calls.append(("wm", wm))
            return real_wm(pipe, wm)

        def on_batch(pipe: Pipeline, stage: Any, batch: FlowBatch) -> Any:
            if stage is pipe.detectors[0]:
                times = batch.event_times()
                calls.append(("batch", batch.length, min(times), max(times)))
            return real_detect(pipe, stage, batch)

        monkeypatch.setattr(Pipeline, "_watermark_local", on_wm)
        monkeypatch.setattr(Pipeline, "_detect_isolated", on_batch)

    def take(self) -> list[tuple[Any, ...]]:
        out = list(self.calls)
        self.calls.clear()
        return out

    @staticmethod
    def watermarks(calls: list[tuple[Any, ...]]) -> list[int]:
        return [c[1] for c in calls if c[0] == "wm"]


DETECTORS = ("-d", "portscan")
#: small batches and a short lateness: many steps, so windows close through the run
RUN = ("--lateness", "30s")


def _input(data: Path) -> str:
    return f"json:{data}?batch_size=10"


def _alerts(path: Path) -> list[tuple[Any, ...]]:
    out = []
    for line in path.read_text().splitlines() if path.exists() else []:
        d = json.loads(line)
        f = d["flowcep"]
        out.append((d["rule"]["id"], json.dumps((d.get("source") or {}).get("ip")),
                    json.dumps((d.get("destination") or {}).get("ip")), f["window"]["start"], f["window"]["end"],
                    f["revision"]))
    return sorted(out)


def _one_process(tmp: Path, data: Path, calls: _Calls) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    out = tmp / "one.jsonl"
    assert main(["run", "-q", "--no-progress", "-i", _input(data), "-o", f"jsonl:{out}", *DETECTORS, *RUN]) == 0
    return _alerts(out), calls.take()


def _ingest(data: Path, monkeypatch: pytest.MonkeyPatch) -> _Topic:
    topic = _Topic(PARTITIONS)
    monkeypatch.setattr(ingest_mod, "wait_for_broker", lambda *a, **k: None)
    monkeypatch.setattr(ingest_mod, "ensure_topic", lambda *a, **k: PARTITIONS)
    monkeypatch.setattr(confluent_kafka, "Producer", lambda settings: _Producer(topic))
    assert main(["ingest", "-q", "--no-progress", "-i", _input(data), "--to", f"kafka://127.0.0.1:9/{TOPIC}",
                 "--partitions", str(PARTITIONS), *RUN]) == 0
    return topic


def _worker(tmp: Path, topic: _Topic, held: list[int], calls: _Calls, monkeypatch: pytest.MonkeyPatch,
            name: str) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    topic.commits.clear()  # each worker here is a group of its own: none replays another's commit
    consumer = _Consumer(topic, held)
    monkeypatch.setattr(KafkaWorker, "_connect", lambda self: consumer.bind(self))
    out = tmp / f"{name}.jsonl"
    assert main(["run", "-q", "--no-progress", "-i", f"kafka://127.0.0.1:9/{TOPIC}?group=g&instance={name}",
                 "-o", f"jsonl:{out}", *DETECTORS]) == 0
    return _alerts(out), calls.take()


def _flow(src: str, dst: str, dport: int, end_ms: int, flags: int = 2) -> dict[str, Any]:
    return {"sourceIPv4Address": src, "destinationIPv4Address": dst, "sourceTransportPort": 40000 + dport % 20000,
            "destinationTransportPort": dport, "protocolIdentifier": 6, "tcpControlBits": flags,
            "packetDeltaCount": 1, "octetDeltaCount": 60, "flowStartMilliseconds": end_ms - 5,
            "flowEndMilliseconds": end_ms}


def _address(partition: int, start: int = 1) -> str:
    """The first address of 10.9.x.y from ``start`` on that ``partition`` (of PARTITIONS) owns."""
    for i in range(start, 60_000):
        a = f"10.9.{i // 250}.{i % 250 + 1}"
        if owner(a, PARTITIONS) == partition:
            return a
    raise AssertionError("no address")


def _scenario(tmp: Path, hostile: bool) -> tuple[Path, dict[str, int]]:
    """20 minutes of flows between hosts owned by partitions 0 and 1 only (2 and 3 stay quiet
    but for one flow of a host of partition 3 in minute 12), with gaps of several minutes and
    a stretch of single flows further apart than the lateness (so some releases hand the
    detectors nothing), a vertical scan in minutes 3 to 5 and, with
    ``hostile``, one flow from the same exporter dated 5 hours ahead, at minute 8, between two
    hosts of partition 1."""
    a0, b0 = _address(0), _address(0, 3000)
    a1, b1 = _address(1), _address(1, 3000)
    lone3 = _address(3)
    flows: list[dict[str, Any]] = []
    for minute in [*range(0, 6), *range(9, 11), 12, 13, *range(18, 21)]:
        for s in range(0, 60, 2):
            t = T0 + minute * 60_000 + s * 1000
            flows.append(_flow(a0, b1, 443, t, 0x1B))
            flows.append(_flow(a1, b0, 80, t + 300, 0x1B))
    for i in range(300):  # a vertical scan: a0 -> b0, 300 ports in minutes 3-5
        flows.append(_flow(a0, b0, 1 + i, T0 + 180_000 + i * 400))
    flows.append(_flow(lone3, a0, 22, T0 + 12 * 60_000 + 5_000, 0x1B))
    for k in range(7):  # minutes 14-17: one flow every 40 s, more than the lateness apart
        flows.append(_flow(a1, b1, 25, T0 + 14 * 60_000 + k * 40_000, 0x1B))
    legit_max = max(f["flowEndMilliseconds"] for f in flows)
    flows.sort(key=lambda f: f["flowEndMilliseconds"])
    if hostile:  # into the stream at minute 8, where the file has it
        at = next(i for i, f in enumerate(flows) if f["flowEndMilliseconds"] > T0 + 8 * 60_000)
        flows.insert(at, _flow(b1, a1, 8080, T0 + 5 * 3_600_000, 0x1B))
    path = tmp / ("hostile.jsonl" if hostile else "quiet.jsonl")
    path.write_text("".join(json.dumps(f) + "\n" for f in flows))
    return path, {"legit_max": legit_max, "hostile": T0 + 5 * 3_600_000}


@pytest.mark.parametrize("hostile", [False, True], ids=["quiet-partitions", "hostile-future-flow"])
def test_every_worker_sees_one_process_watermarks_whatever_it_holds(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, hostile: bool) -> None:
    data, times = _scenario(tmp_path, hostile)
    calls = _Calls(monkeypatch)
    one, one_calls = _one_process(tmp_path, data, calls)
    assert one, "the scan must raise an alert for the comparison to mean anything"
    one_wm = _Calls.watermarks(one_calls)
    topic = _ingest(data, monkeypatch)
    calls.take()
    # busy (0, 1), quiet (2: no record at all; 3: one flow), and all four in one worker
    seen: dict[str, list[int]] = {}
    alerts: list[tuple[Any, ...]] = []
    for name, held in (("busy", [0, 1]), ("quiet2", [2]), ("lone3", [3]), ("all", [0, 1, 2, 3])):
        got, got_calls = _worker(tmp_path, topic, held, calls, monkeypatch, name)
        seen[name] = _Calls.watermarks(got_calls)
        if name == "all":
            # holding every partition, the worker's detector calls are one process's, call for call
            assert got_calls == one_calls
            assert got == one
        else:
            alerts += got
    for name, wms in seen.items():
        assert wms == one_wm, f"worker {name} saw other watermarks than one process"
    assert sorted(alerts) == one  # the busy and quiet workers together: one process's alerts
    assert len(one_wm) > 5  # windows closed through the run, not only at the end
    # the quiet partitions carry every step (no record of partition 2 at all)
    assert sum(1 for v, _ in topic.parts[2] if b'"p"' in v) == 0
    steps = [len(p) for p in topic.parts]
    assert steps[2] == steps[3] >= 1 and min(steps) >= len(one_wm)
    if hostile:
        # the far-future flow moved no window before the end of the input: every watermark
        # but the end-of-input flush's stays within the legitimate flows' time
        assert max(one_wm[:-1]) <= times["legit_max"] < times["hostile"]
        assert one_wm[-1] >= times["hostile"]


def test_a_lone_flow_at_a_partition_does_not_hold_back_its_worker(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Partition 3's hosts send one flow in the whole input: its worker's windows still move
    with ingest's clock (step by step), and its ownership of that flow's alert is kept."""
    data, _ = _scenario(tmp_path, hostile=False)
    calls = _Calls(monkeypatch)
    _one, one_calls = _one_process(tmp_path, data, calls)
    topic = _ingest(data, monkeypatch)
    calls.take()
    _got, got_calls = _worker(tmp_path, topic, [3], calls, monkeypatch, "lone")
    batches = [c for c in got_calls if c[0] == "batch"]
    assert sum(c[1] for c in batches) == 1  # the one flow (routed by its source's owner)
    wms = _Calls.watermarks(got_calls)
    assert wms == _Calls.watermarks(one_calls)
    # the lone flow's time is passed by a watermark before the end of the input
    lone_t = batches[0][2]
    assert any(lone_t <= w for w in wms[:-1])


def test_a_step_message_ahead_on_one_partition_moves_no_window(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A message that is not ingest's (same run and step, times five hours ahead) on the
    quiet partition: the worker takes the lowest of its partitions' times for the step, so its
    windows still close at one process's instants."""
    from flowcep_plugin.transport import decode_step, encode_step

    data, times = _scenario(tmp_path, hostile=False)
    calls = _Calls(monkeypatch)
    _one, one_calls = _one_process(tmp_path, data, calls)
    topic = _ingest(data, monkeypatch)
    calls.take()
    forged = 0
    for i, (value, ts) in enumerate(topic.parts[2]):
        step = decode_step(value, "test")
        if step.advanced and step.kind == "step":
            step.watermark += 5 * 3_600_000
            step.closes += 5 * 3_600_000
            topic.parts[2][i] = (encode_step(step), ts)
            forged += 1
    assert forged > 5
    _got, got_calls = _worker(tmp_path, topic, [0, 1, 2, 3], calls, monkeypatch, "forged")
    assert _Calls.watermarks(got_calls) == _Calls.watermarks(one_calls)
    assert max(_Calls.watermarks(got_calls)[:-1]) <= times["legit_max"]
