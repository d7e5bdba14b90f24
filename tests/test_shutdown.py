"""Shutdown is bounded: an input that ignores close() cannot hold everyone's alerts."""

from __future__ import annotations

import threading
import time
from typing import Any

from flowcep_plugin import DetectorSpec, FlowBatch, InputSpec, hookimpl
from flowcep_plugin.context import Context
from flowcep_plugin.manager import PluginInfo, make_plugin_manager
from flowcep_plugin.pipeline import CollectingOutput, Pipeline
from flowcep_plugin.plan import resolve
from flowcep_plugin.registry import Registry

T0 = 1_700_000_000_000


class Stuck:
    """Yields one batch, then blocks forever and ignores close()."""

    live = True

    def __init__(self, address: Any, config: Any, ctx: Any) -> None:
        self.raw = address.raw

    def batches(self) -> Any:
        yield FlowBatch({"flowEndMilliseconds": [T0, T0 + 1]}, source=self.raw)
        threading.Event().wait()

    def close(self) -> None:
        pass


class OneAlertAtFlush:
    def __init__(self, config: Any, ctx: Any) -> None:
        self.n = 0

    def on_batch(self, batch: FlowBatch) -> list[Any]:
        self.n += batch.length
        return []

    def on_watermark(self, wm: int) -> list[Any]:
        return []

    def flush(self) -> list[Any]:
        return [{"event": {"kind": "alert"}, "rule": {"id": "n"}, "flowcep": {"records": self.n}}]


class Plugin:
    @hookimpl
    def flowcep_register_inputs(self) -> list[InputSpec]:
        return [InputSpec(name="stuck", summary="t", schemes=("stuck",), open=Stuck, live=True)]

    @hookimpl
    def flowcep_register_detectors(self) -> list[DetectorSpec]:
        return [DetectorSpec(name="one", summary="t", factory=OneAlertAtFlush)]


def test_stop_with_a_stuck_input_finishes_within_the_shutdown_timeout() -> None:
    pm = make_plugin_manager()
    pm.register_plugin(Plugin(), PluginInfo(name="t", module="tests", distribution="tests",
                                            version="0", origin="registered"))
    registry = Registry.build(pm)
    plan = resolve(registry, {}, {"inputs": ["stuck:x"], "detectors": ["one"], "enrichers": [],
                                  "progress": False, "shutdown_timeout": "0.5s"})
    sink = CollectingOutput()
    pipeline = Pipeline(plan, Context(), extra_outputs=[sink])
    threading.Timer(0.5, pipeline.stop.set).start()
    started = time.monotonic()
    stats = pipeline.run()
    assert time.monotonic() - started < 5
    assert [e["flowcep"]["records"] for e in sink.events] == [2]  # the drained records still count
    assert stats["gauges"]["shutdown.inputs_abandoned"] == 1


class Flooding(Stuck):
    """Never stops producing and ignores close(): the host stops reading it at the signal."""

    def batches(self) -> Any:
        k = 0
        while True:
            yield FlowBatch({"flowEndMilliseconds": [T0 + k]}, source=self.raw)
            k += 1


class FloodPlugin(Plugin):
    @hookimpl
    def flowcep_register_inputs(self) -> list[InputSpec]:
        return [InputSpec(name="flood", summary="t", schemes=("flood",), open=Flooding, live=True)]


def test_a_flooding_input_is_cut_off_at_stop_and_every_record_read_is_accounted() -> None:
    pm = make_plugin_manager()
    pm.register_plugin(FloodPlugin(), PluginInfo(name="t", module="tests", distribution="tests",
                                                 version="0", origin="registered"))
    registry = Registry.build(pm)
    plan = resolve(registry, {}, {"inputs": ["flood:x"], "detectors": ["one"], "enrichers": [],
                                  "progress": False, "shutdown_timeout": "0.3s"})
    sink = CollectingOutput()
    pipeline = Pipeline(plan, Context(), extra_outputs=[sink])
    threading.Timer(0.3, pipeline.stop.set).start()
    stats = pipeline.run()
    seen = sink.events[0]["flowcep"]["records"]
    assert seen == stats["stages"]["input"]["in"] - sum(stats["drops"].values())
