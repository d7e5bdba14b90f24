"""A Kafka worker's revocation, without a broker: the order of flush and commit, the state it
drops, and the retry of a commit the broker refused (a consumer stand-in records the calls).

The end-to-end behaviour is in tests/test_kafka_rebalance.py; these pin the rules the
rebalance callbacks follow, which a loopback broker exercises only when timing allows.
"""

from __future__ import annotations

from typing import Any

import pytest

from flowcep_plugin import DetectorSpec, hookimpl
from flowcep_plugin.context import Context
from flowcep_plugin.kafka_worker import NEVER, KafkaWorker, _Partition
from flowcep_plugin.manager import PluginInfo, make_plugin_manager
from flowcep_plugin.pipeline import CollectingOutput
from flowcep_plugin.plan import resolve
from flowcep_plugin.records import FlowBatch
from flowcep_plugin.registry import Registry

pytest.importorskip("confluent_kafka")


class _Hosts:
    """Remembers every address it saw (window state a revoked member must not keep)."""

    def __init__(self, config: Any, ctx: Any) -> None:
        self.seen: set[str] = set()

    def on_batch(self, batch: FlowBatch) -> list[Any]:
        self.seen.update(a for a in batch.columns.get("sourceIPv4Address", []) if a)
        return []

    def on_watermark(self, wm: int) -> list[Any]:
        return []

    def flush(self) -> list[Any]:
        return []


class _Plugin:
    @hookimpl
    def flowcep_register_detectors(self) -> list[DetectorSpec]:
        return [DetectorSpec(name="hosts", summary="t", factory=_Hosts, partition="address")]


class _Sink(CollectingOutput):
    def __init__(self, calls: list[str]) -> None:
        super().__init__()
        self.calls = calls

    def flush(self) -> None:
        self.calls.append("flush")


class _Consumer:
    """Records commits; ``refuse`` makes the next commit fail as a broker that moved the group
    to its next generation does."""

    def __init__(self, calls: list[str]) -> None:
        self.calls = calls
        self.refuse = False

    def commit(self, offsets: list[Any], asynchronous: bool = True) -> None:
        from confluent_kafka import KafkaError, KafkaException

        got = sorted((tp.partition, tp.offset) for tp in offsets)
        if self.refuse:
            self.refuse = False
            self.calls.append(f"refused {got}")
            raise KafkaException(KafkaError(KafkaError.ILLEGAL_GENERATION))
        self.calls.append(f"commit {got}")


def _worker(calls: list[str]) -> KafkaWorker:
    pm = make_plugin_manager()
    pm.register_plugin(_Plugin(), PluginInfo(name="t", module="tests", distribution="tests", version="0",
                                             origin="registered"))
    plan = resolve(Registry.build(pm), {}, {"inputs": [], "detectors": ["hosts"], "enrichers": [],
                                            "progress": False}, require_inputs=False)
    w = KafkaWorker(plan, Context(), "kafka://127.0.0.1:9/t?group=g&instance=w1", extra_outputs=[_Sink(calls)])
    w._consumer = _Consumer(calls)
    return w


def _holding(w: KafkaWorker) -> _Hosts:
    """The worker holds partitions 0 and 1, processed up to offsets 5 and 7, and state."""
    w._parts = {0: _Partition(start=0, committed=NEVER, done_offset=5, done=("r", 3)),
                1: _Partition(start=0, committed=NEVER, done_offset=7, done=("r", 3))}
    det = w.detectors[0].obj
    assert isinstance(det, _Hosts)
    det.on_batch(FlowBatch({"sourceIPv4Address": ["10.0.0.1"]}, 1))
    w._used = True
    return det


def test_revocation_flushes_then_commits_then_drops_every_partitions_state() -> None:
    calls: list[str] = []
    w = _worker(calls)
    try:
        before = _holding(w)
        w._on_revoke(w._consumer, [])
        assert calls == ["flush", "commit [(0, 6), (1, 8)]"]  # outputs acknowledged first
        assert w._parts == {} and w._pending == {}
        after = w.detectors[0].obj
        assert after is not before and isinstance(after, _Hosts) and after.seen == set()
        assert w.ctx.stats.gauges["kafka.partitions_revoked"] == 2
    finally:
        w.close()
        w._shutdown()


def test_a_refused_revocation_commit_is_kept_for_the_partitions_that_come_back() -> None:
    calls: list[str] = []
    w = _worker(calls)
    try:
        _holding(w)
        w._consumer.refuse = True
        w._on_revoke(w._consumer, [])
        assert calls == ["flush", "refused [(0, 6), (1, 8)]"]
        assert w._pending == {0: 6, 1: 8}  # retried by _on_assign for those assigned again
        assert w.ctx.stats.gauges["kafka.commit_failures"] == 1
    finally:
        w.close()
        w._shutdown()


def test_lost_partitions_are_not_committed_and_their_state_is_dropped() -> None:
    calls: list[str] = []
    w = _worker(calls)
    try:
        before = _holding(w)
        w._pending = {0: 6}
        w._on_lost(w._consumer, [])
        assert calls == ["flush"]  # what was written reaches the outputs; no commit
        assert w._parts == {} and w._pending == {} and w.detectors[0].obj is not before
        assert w.ctx.stats.gauges["kafka.partitions_lost"] == 2
    finally:
        w.close()
        w._shutdown()


class _FatalMessage:
    """A message carrying the consumer's fatal error (what librdkafka hands a fenced member)."""

    def error(self) -> Any:
        from confluent_kafka import KafkaError

        return KafkaError(KafkaError._FATAL, "this member was fenced", fatal=True)


class _FatalConsumer:
    def __init__(self) -> None:
        self.closed = False

    def consume(self, num_messages: int = 1, timeout: float = 0.0) -> list[Any]:
        return [_FatalMessage()]

    def close(self) -> None:
        self.closed = True


def test_a_fatal_kafka_error_still_writes_the_stats_and_exits_non_zero(
        tmp_path: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """The worker ends on a fatal consumer error, but what it counted until then goes to
    ``--stats-json`` (with the error), and the command ends with one line and a non-zero code."""
    import json

    from flowcep_plugin.cli import main

    consumer = _FatalConsumer()
    monkeypatch.setattr(KafkaWorker, "_connect", lambda self: consumer)
    stats = tmp_path / "stats.json"
    code = main(["run", "-q", "--input", "kafka://127.0.0.1:9/flows?group=g&instance=w1", "-d", "portscan",
                 "--output", f"jsonl:{tmp_path / 'alerts.jsonl'}", "--stats-json", str(stats)])
    assert code != 0
    assert consumer.closed
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("flowcep: error: input kafka://") and "fenced" in err[0], err
    snap = json.loads(stats.read_text())
    assert any("fenced" in e for e in snap["errors"])
    assert "stages" in snap and "gauges" in snap
