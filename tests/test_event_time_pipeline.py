"""Event time through the whole pipeline: one bad clock does not switch detection off."""

from __future__ import annotations

from typing import Any

from flowcep_plugin import DetectorSpec, FlowBatch, InputSpec, hookimpl
from flowcep_plugin.api import run
from flowcep_plugin.manager import PluginInfo, make_plugin_manager

T0 = 1_700_000_000_000
YEAR = 365 * 24 * 3_600_000


class FutureFirst:
    """Exporter A sends one record dated a year ahead, then both exporters send normal ones."""

    live = False

    def __init__(self, address: Any, config: Any, ctx: Any) -> None:
        self.raw = address.raw

    def batches(self) -> Any:
        yield FlowBatch({"flowEndMilliseconds": [T0 + YEAR, T0, T0 + 1_000],
                         "flowcep.exporter": ["a:1/0", "b:1/0", "b:1/0"]}, source=self.raw)
        for k in range(1, 20):
            yield FlowBatch({"flowEndMilliseconds": [T0 + k * 60_000 + i for i in range(10)]},
                            source=self.raw, exporter="b:1/0")

    def close(self) -> None:
        pass


class Counting:
    seen: list[int] = []

    def __init__(self, config: Any, ctx: Any) -> None:
        Counting.seen = []

    def on_batch(self, batch: FlowBatch) -> list[Any]:
        Counting.seen.extend(batch.event_times())
        return []

    def on_watermark(self, wm: int) -> list[Any]:
        return []

    def flush(self) -> list[Any]:
        return []


class Plugin:
    @hookimpl
    def flowcep_register_inputs(self) -> list[InputSpec]:
        return [InputSpec(name="future", summary="test", schemes=("future",), open=FutureFirst)]

    @hookimpl
    def flowcep_register_detectors(self) -> list[DetectorSpec]:
        return [DetectorSpec(name="counting", summary="t", factory=Counting)]


def test_one_future_record_does_not_make_every_later_record_late() -> None:
    pm = make_plugin_manager()
    pm.register_plugin(Plugin(), PluginInfo(name="t", module="tests", distribution="tests",
                                            version="0", origin="registered"))
    res = run(["future:x"], detectors=["counting"], enrichers=[], pm=pm, lateness="30s")
    assert res.stats["drops"] == {"future": 1}
    assert len(Counting.seen) == 2 + 19 * 10
    assert max(Counting.seen) < T0 + YEAR


class LiveFuture(FutureFirst):
    """A live input: exporter A sends one record a day ahead of the wall clock, B normal ones."""

    live = True

    def batches(self) -> Any:
        import time

        now = int(time.time() * 1000)
        yield FlowBatch({"flowEndMilliseconds": [now + 24 * 3_600_000]}, source=self.raw, exporter="a:1/0")
        for k in range(10):
            yield FlowBatch({"flowEndMilliseconds": [now - 60_000 + k * 1_000 + i for i in range(5)]},
                            source=self.raw, exporter="b:1/0")


class LivePlugin(Plugin):
    @hookimpl
    def flowcep_register_inputs(self) -> list[InputSpec]:
        return [InputSpec(name="livefuture", summary="test", schemes=("livefuture",), open=LiveFuture,
                          live=True)]


def test_live_one_future_record_is_judged_by_the_wall_clock() -> None:
    pm = make_plugin_manager()
    pm.register_plugin(LivePlugin(), PluginInfo(name="t", module="tests", distribution="tests",
                                                version="0", origin="registered"))
    res = run(["livefuture:x"], detectors=["counting"], enrichers=[], pm=pm)
    assert res.stats["drops"] == {"future": 1}
    assert len(Counting.seen) == 50
