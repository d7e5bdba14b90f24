"""The detector-author harness: sources, sinks, clock, and check_detector catching bad detectors."""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Any

import pluggy
import pytest

from flowcep_plugin.alerts import TumblingWindows, make_alert
from flowcep_plugin.context import Context
from flowcep_plugin.records import FlowBatch
from flowcep_plugin.specs import DetectorSpec, Event, RuleSpec
from flowcep_plugin.testing import (
    CollectingOutput,
    ConformanceError,
    ListSource,
    ManualClock,
    check_detector,
    make_flow,
    run_detector,
    to_batches,
)

T0 = 1_700_000_000_000 - 1_700_000_000_000 % 60_000
RULE = RuleSpec(id="count-flows", name="Many flows", description="a source sent many flows")
SCHEMA = {"type": "object", "additionalProperties": False,
          "properties": {"threshold": {"type": "integer", "minimum": 1}}}


class CountingDetector:
    """A correct minimal detector: >= threshold flows from one source per minute."""

    def __init__(self, config: Mapping[str, Any], ctx: Context) -> None:
        self.threshold = config["threshold"]
        self.win = TumblingWindows(60_000, dict, self._finish, "count", ctx.stats)

    def on_batch(self, batch: FlowBatch) -> list[Event]:
        src = batch.get("sourceIPv4Address")

        def acc(st: dict[str, int], idx: list[int], _s: int) -> None:
            for i in idx:
                st[src[i]] = st.get(src[i], 0) + 1

        return self.win.add(batch, acc)

    def on_watermark(self, wm: int) -> list[Event]:
        return self.win.close_until(wm)

    def flush(self) -> list[Event]:
        return self.win.flush()

    def _finish(self, st: dict[str, int], start: int, end: int) -> list[Event]:
        return [make_alert(RULE, time_ms=end, detector="count", source_ip=s, counts={"flows": n},
                           window=(start, end)) for s, n in sorted(st.items()) if n >= self.threshold]


def spec(factory: Any = CountingDetector, **kw: Any) -> DetectorSpec:
    args: dict[str, Any] = dict(name="count", summary="counts flows", factory=factory, rules=(RULE,),
                                config_schema=SCHEMA, defaults={"threshold": 5})
    args.update(kw)
    return DetectorSpec(**args)


ATTACK = [make_flow("192.0.2.1", f"10.0.0.{i}", 80, end_ms=T0 + i * 1000) for i in range(8)]
BENIGN = [make_flow("192.0.2.2", "10.0.0.1", 80, end_ms=T0 + i * 1000) for i in range(3)]


def test_a_correct_detector_passes() -> None:
    events = check_detector(spec(), attack=ATTACK, benign=BENIGN, expect_rules=["count-flows"])
    assert [(e["source"]["ip"], e["flowcep"]["counts"]["flows"]) for e in events] == [("192.0.2.1", 8)]


@pytest.mark.parametrize(("change", "message"), [
    ({"config_schema": {"type": "object", "properties": SCHEMA["properties"]}}, "additionalProperties"),
    ({"defaults": {"threshold": 0}}, "defaults do not validate"),
    ({"defaults": {"threshold": 5, "extra": 1}}, "not declared"),
])
def test_spec_problems_are_reported(change: dict[str, Any], message: str) -> None:
    with pytest.raises(ConformanceError, match=message):
        check_detector(spec(**change), attack=ATTACK)


@pytest.mark.parametrize(("change", "message"), [
    ({"severity": "severe"}, "severity 'severe' is not one of low, medium, high, critical"),
    ({"technique": ("Recon",)}, "'Recon' is not a MITRE ATT&CK technique id"),
    ({"technique": ("T104",)}, "'T104' is not a MITRE ATT&CK technique id"),
    ({"technique": ("T1046.1",)}, "'T1046.1' is not a MITRE ATT&CK technique id"),
    ({"technique": "T1046"}, "tuples of ids"),
    ({"tactic": ("T1046",)}, "'T1046' is not a MITRE ATT&CK tactic id"),
])
def test_bad_rule_metadata_fails_when_the_spec_is_made(change: dict[str, Any], message: str) -> None:
    """A typo in a severity or ATT&CK id fails the plugin at load time, not in every alert."""
    with pytest.raises(ValueError, match=message):
        RuleSpec(id="x", name="x", description="d", **change)
    RuleSpec(id="x", name="x", description="d", technique=("T1110.003",), tactic=("TA0006",))


def test_benign_alerts_and_missing_rules_are_reported() -> None:
    with pytest.raises(ConformanceError, match="events on benign"):
        check_detector(spec(), attack=ATTACK, benign=ATTACK)
    with pytest.raises(ConformanceError, match="no events on the attack"):
        check_detector(spec(), attack=BENIGN)


def test_detector_that_only_fires_on_watermark_is_caught() -> None:
    class ForgetsFlush(CountingDetector):
        def flush(self) -> list[Event]:
            return []

    with pytest.raises(ConformanceError, match="flush"):
        check_detector(spec(ForgetsFlush), attack=ATTACK)


def test_nondeterministic_and_batch_dependent_detectors_are_caught() -> None:
    counter = itertools.count()

    class Random(CountingDetector):
        def _finish(self, st: dict[str, int], start: int, end: int) -> list[Event]:
            out = super()._finish(st, start, end)
            for e in out:
                e["flowcep"]["counts"]["nonce"] = next(counter)
            return out

    with pytest.raises(ConformanceError, match="deterministic"):
        check_detector(spec(Random), attack=ATTACK)

    class PerBatch(CountingDetector):
        def on_batch(self, batch: FlowBatch) -> list[Event]:  # fires per batch, not per window
            out = super().on_batch(batch)
            if len(batch) >= 8:
                out.append(make_alert(RULE, time_ms=T0, detector="count", source_ip="192.0.2.9"))
            return out

    with pytest.raises(ConformanceError, match="batch boundaries"):
        check_detector(spec(PerBatch), attack=ATTACK)


def test_pluggy_calls_on_the_batch_path_are_caught() -> None:
    class Hooked(CountingDetector):
        def __init__(self, config: Mapping[str, Any], ctx: Context) -> None:
            super().__init__(config, ctx)
            from flowcep_plugin import hookspecs

            self.pm = pluggy.PluginManager(hookspecs.PROJECT)
            self.pm.add_hookspecs(hookspecs)

        def on_batch(self, batch: FlowBatch) -> list[Event]:
            for _ in range(len(batch)):
                self.pm.hook.flowcep_start(context=None)
            return super().on_batch(batch)

    with pytest.raises(ConformanceError, match="pluggy"):
        check_detector(spec(Hooked), attack=ATTACK)


def test_invalid_events_are_caught() -> None:
    class Bad(CountingDetector):
        def _finish(self, st: dict[str, int], start: int, end: int) -> list[Event]:
            out = super()._finish(st, start, end)
            for e in out:
                e["source"]["ip"] = "not an address"
            return out

    with pytest.raises(ConformanceError, match="invalid event"):
        check_detector(spec(Bad), attack=ATTACK)


def test_sources_sinks_and_clock() -> None:
    src = ListSource([ATTACK[:3], ATTACK[3:]])
    batches = list(src.batches())
    assert [len(b) for b in batches] == [3, 5]
    assert [len(b) for b in to_batches(ATTACK, batch_size=3)] == [3, 3, 2]
    out = CollectingOutput()
    out.write_events([{"rule": {"id": "a"}}, {"rule": {"id": "b"}}])
    out.write_flows(batches[0])
    out.close()
    assert out.flows == 3 and out.closed and [e["rule"]["id"] for e in out.by_rule("b")] == ["b"]

    det = CountingDetector({"threshold": 2}, Context())
    clock = ManualClock(det)
    assert clock.feed(FlowBatch.from_rows(ATTACK[:3])) == []
    assert clock.advance_to(T0 + 59_999) == []
    fired = clock.advance_to(T0 + 60_000)  # the minute is over
    assert [e["flowcep"]["counts"]["flows"] for e in fired] == [3]
    assert clock.finish() == [] and clock.events == fired


def test_run_detector_with_suppression_merges() -> None:
    recs = [make_flow("192.0.2.1", "10.0.0.1", 80, end_ms=T0 + m * 60_000 + i) for m in range(3) for i in range(6)]
    assert len(run_detector(spec(), recs)) == 3
    merged = run_detector(spec(), recs, suppress_ms=3_600_000)
    assert [e["flowcep"]["revision"] for e in merged] == [1, 2]
    assert merged[1]["flowcep"]["occurrences"] == 3


def test_fixtures(make_flow: Any, records_to_batch: Any, run_detector: Any, check_detector: Any,
                  alert_errors: Any, flowcep_run: Any) -> None:
    batch = records_to_batch([make_flow("192.0.2.1", "10.0.0.1", 22)])
    assert batch.get("destinationTransportPort") == [22]
    events = check_detector(spec(), attack=ATTACK)
    assert alert_errors(events[0]) == [] and run_detector(spec(), BENIGN) == []
    assert callable(flowcep_run)


def test_check_detector_accepts_a_factory_of_detectors() -> None:
    events = check_detector(lambda: CountingDetector({"threshold": 5}, Context()), attack=ATTACK,
                            benign=BENIGN)
    assert len(events) == 1

    class ForgetsFlush(CountingDetector):
        def flush(self) -> list[Event]:
            return []

    with pytest.raises(ConformanceError, match="under test.*flush"):
        check_detector(lambda: ForgetsFlush({"threshold": 5}, Context()), attack=ATTACK)


def test_manual_clock_records_each_event_once() -> None:
    class FiresOnWatermark(CountingDetector):
        def on_batch(self, batch: FlowBatch) -> list[Event]:
            super().on_batch(batch)
            return [make_alert(RULE, time_ms=T0, detector="count", source_ip="192.0.2.8")]

        def on_watermark(self, wm: int) -> list[Event]:
            return [make_alert(RULE, time_ms=wm, detector="count", source_ip="192.0.2.9")]

    clock = ManualClock(FiresOnWatermark({"threshold": 99}, Context()))
    out = clock.feed(FlowBatch.from_rows(ATTACK[:2]))
    assert [e["source"]["ip"] for e in out] == ["192.0.2.8", "192.0.2.9"]
    assert clock.events == out


def test_loopback_recorder_keeps_a_burst_and_drain_closes_it() -> None:
    """What the exporter tests rely on: every datagram of a burst sent before the first read
    is kept, the order is kept, and draining ends after the quiet time and closes the socket."""
    import socket

    from flowcep_plugin.testing import drain_datagrams, loopback_recorder

    rec = loopback_recorder()
    host, port = rec.getsockname()
    assert host == "127.0.0.1"
    sent = [i.to_bytes(4, "big") * 300 for i in range(2000)]  # 2.4 MB: past a default buffer
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as out:
        for d in sent:
            out.sendto(d, (host, port))
    assert drain_datagrams(rec, quiet=0.2) == sent
    assert rec.fileno() == -1
