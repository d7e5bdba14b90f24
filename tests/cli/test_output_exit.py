"""A failed output is an error exit: an output plugin that raises while writing lost those
alerts, so ``flowcep run`` must end with exit code 3 and name it, as it does when the jsonl
output hits a full disk. It used to count a plugin error and exit 0."""

from __future__ import annotations

from typing import Any

import pytest

from flowcep_plugin import DetectorSpec, FlowBatch, InputSpec, OutputSpec, hookimpl
from flowcep_plugin.cli.run import EXIT_OUTPUT_FAILED
from flowcep_plugin.manager import PluginInfo, make_plugin_manager

T0 = 1_700_000_000_000


class Source:
    def __init__(self, address: Any, config: Any, ctx: Any) -> None:
        self.raw = address.raw

    def batches(self) -> Any:
        yield FlowBatch({"flowEndMilliseconds": [T0 + i for i in range(5)]}, source=self.raw)

    def close(self) -> None:
        pass


class OneAlert:
    def __init__(self, config: Any, ctx: Any) -> None:
        pass

    def on_batch(self, batch: FlowBatch) -> list[Any]:
        return []

    def on_watermark(self, wm: int) -> list[Any]:
        return []

    def flush(self) -> list[Any]:
        return [{"@timestamp": "2023-11-14T22:13:20Z", "event": {"kind": "alert"},
                 "rule": {"name": "one"}, "message": "one"}]


class Broken:
    def write_events(self, events: list[Any]) -> None:
        if events:
            raise RuntimeError("connection reset by the collector")

    def write_flows(self, batch: FlowBatch) -> None:
        pass

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass


class Plugin:
    @hookimpl
    def flowcep_register_inputs(self) -> list[InputSpec]:
        return [InputSpec(name="five", summary="t", schemes=("five",), open=Source)]

    @hookimpl
    def flowcep_register_outputs(self) -> list[OutputSpec]:
        return [OutputSpec(name="broken", summary="t", schemes=("broken",), factory=lambda t, c, x: Broken())]

    @hookimpl
    def flowcep_register_detectors(self) -> list[DetectorSpec]:
        return [DetectorSpec(name="one", summary="t", factory=OneAlert)]


def test_an_output_that_raises_makes_the_run_exit_3(monkeypatch: pytest.MonkeyPatch,
                                                    caplog: pytest.LogCaptureFixture, tmp_path: Any) -> None:
    from flowcep_plugin import cli
    from flowcep_plugin.cli import common

    def manager(strict: bool = False) -> Any:
        pm = make_plugin_manager(load_entry_points=False)
        pm.register_plugin(Plugin(), PluginInfo(name="p", module="tests", distribution="d", version="0",
                                                origin="registered"))
        return pm

    monkeypatch.setattr(common, "make_plugin_manager", manager)
    stats = tmp_path / "stats.json"
    code = cli.main(["run", "--input", "five:x", "--detector", "one", "--output", "broken:x",
                     "--no-enrich", "--stats-json", str(stats), "-q"])
    assert code == EXIT_OUTPUT_FAILED
    import json

    snap = json.loads(stats.read_text())
    assert snap["output_failures"] == {"broken:x": 1}
    assert snap["drops"] == {"output-error": 1}
    assert "output 'broken:x' (plugin p): output write_events failed: RuntimeError" in caplog.text
