"""Pipeline behaviour with in-process plugins: isolation, hooks per batch, errors."""

from __future__ import annotations

import pytest

from flowcep_plugin import DetectorSpec, FlowBatch, InputSpec, hookimpl
from flowcep_plugin.api import run
from flowcep_plugin.errors import ConfigError, InputError
from flowcep_plugin.manager import PluginInfo, make_plugin_manager

T0 = 1_700_000_000_000


class ListSource:
    live = False

    def __init__(self, address, config, ctx):
        n = int(address.path)
        self.data = [FlowBatch({"sourceIPv4Address": ["10.0.0.1"] * 10,
                                "flowEndMilliseconds": [T0 + (b * 10 + i) * 1000 for i in range(10)]},
                               source=address.raw) for b in range(n)]

    def batches(self):
        yield from self.data

    def close(self):
        pass


class Counting:
    def __init__(self, config, ctx):
        self.n = 0
        self.batches = 0

    def on_batch(self, batch):
        self.n += batch.length
        self.batches += 1
        return []

    def on_watermark(self, wm):
        return []

    def flush(self):
        return [{"@timestamp": "2023-11-14T22:13:20Z", "event": {"kind": "alert"}, "rule": {"id": "count", "name": "count"},
                 "flowcep": {"records": self.n}, "source": {"ip": "10.0.0.1"}}]


class Raising(Counting):
    def on_batch(self, batch):
        raise RuntimeError("detector bug")


class Plugin:
    def __init__(self):
        self.hook_calls: dict[str, int] = {}

    def _bump(self, name):
        self.hook_calls[name] = self.hook_calls.get(name, 0) + 1

    @hookimpl
    def flowcep_register_inputs(self):
        return [InputSpec(name="list", summary="test", schemes=("list",), open=ListSource)]

    @hookimpl
    def flowcep_register_detectors(self):
        return [DetectorSpec(name="counting", summary="t", factory=Counting),
                DetectorSpec(name="raising", summary="t", factory=Raising)]

    @hookimpl
    def flowcep_enrich_batch(self, batch, context):
        self._bump("enrich")
        batch.add_column("tag", ["x"] * batch.length)

    @hookimpl
    def flowcep_alerts(self, events, context):
        self._bump("alerts")


class BadHook:
    @hookimpl
    def flowcep_enrich_batch(self, batch):
        raise ValueError("enricher hook bug")


def manager(*plugins):
    pm = make_plugin_manager()
    for i, p in enumerate(plugins):
        pm.register_plugin(p, PluginInfo(name=f"test{i}", module="tests", distribution="tests",
                                         version="0", origin="registered"))
    return pm


def test_a_raising_detector_does_not_starve_the_others():
    plugin = Plugin()
    res = run(["list:5"], detectors=["raising", "counting"], pm=manager(plugin, BadHook()))
    # the raising detector saw nothing (its on_batch failed) but its flush still ran
    assert sorted(e["flowcep"]["records"] for e in res.alerts) == [0, 50]
    assert res.stats["plugin_errors"]["test0"] >= 1  # raising detector, counted against its plugin
    assert res.stats["plugin_errors"]["test1"] == 5  # the bad hook, once per batch
    assert plugin.hook_calls["enrich"] == 5  # once per batch, never per record
    assert res.stats["stages"]["input"]["in"] == 50
    assert res.stats["stages"]["detect"]["in"] == 50


def test_unknown_detector_names_the_installed_ones():
    with pytest.raises(ConfigError, match=r"run.detectors\[0\]: 'nope' is not one of: .*counting"):
        run(["list:1"], detectors=["nope"], pm=manager(Plugin()))


def test_missing_input_file_is_one_clear_error(tmp_path):
    with pytest.raises(InputError, match=r"no such file"):
        run([str(tmp_path / "missing.ipfix")], detectors=[], pm=manager(Plugin()))


def test_unknown_scheme_lists_known_ones():
    with pytest.raises(ConfigError, match=r"unknown scheme 'kafka'; known: .*list"):
        run(["kafka://broker:9092"], detectors=[], pm=manager(Plugin()))


def test_unrecognised_bare_file(tmp_path):
    f = tmp_path / "x.bin"
    f.write_bytes(b"\x99\x98garbage")
    with pytest.raises(InputError, match=r"cannot tell the format from its first bytes \(9998"):
        run([str(f)], detectors=[], pm=manager(Plugin()))


def test_duplicate_component_names_fail_naming_both():
    class Dup:
        @hookimpl
        def flowcep_register_detectors(self):
            return [DetectorSpec(name="counting", summary="dup", factory=Counting)]

    from flowcep_plugin.errors import PluginError
    with pytest.raises(PluginError, match=r"detector 'counting' is registered twice: by plugin "
                                          r"'(test0|test1)'.*and by '(?!\1)(test0|test1)'"):
        run(["list:1"], pm=manager(Plugin(), Dup()))


def test_records_of_several_templates_reach_the_clock_together(tmp_path):
    """A file whose two templates interleave in time loses nothing to lateness: records
    decoded together are pushed to the clock as one batch (H4 saw 9,708 'late' before)."""
    from flowcep_plugin.ipfix_writer import IPFIXWriter

    path = tmp_path / "two-templates.ipfix"
    with open(path, "wb") as fh:
        w = IPFIXWriter(fh)
        w.add_template(256, [("sourceIPv4Address", 4), ("flowEndMilliseconds", 8)])
        w.add_template(257, [("sourceIPv4Address", 4), ("destinationTransportPort", 2),
                             ("flowEndMilliseconds", 8)])
        for minute in range(20):  # 20 minutes, each minute one message of each template
            base = T0 + minute * 60_000
            # each message spans 10 s: the file is out of order by less than the lateness
            w.write(256, [("10.0.0.1", base + i * 20) for i in range(500)], export_time=base // 1000)
            w.write(257, [("10.0.0.2", 80, base + i * 20) for i in range(500)], export_time=base // 1000)
    res = run([f"ipfix-file:{path}"], detectors=["counting"], lateness="30s", pm=manager(Plugin()))
    assert res.stats["drops"] == {}
    assert [e["flowcep"]["records"] for e in res.alerts] == [20_000]
