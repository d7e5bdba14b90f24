"""plan.py: relative paths in a config file resolve against its folder, for the host's keys
and for any component setting whose schema says ``"x-kind": "path"``."""

from __future__ import annotations

from typing import Any

from flowcep_plugin import DetectorSpec, InputSpec, hookimpl
from flowcep_plugin.manager import PluginInfo, make_plugin_manager
from flowcep_plugin.plan import resolve_paths
from flowcep_plugin.registry import Registry

PATH = {"type": "string", "x-kind": "path"}


class Plugin:
    @hookimpl
    def flowcep_register_detectors(self) -> list[DetectorSpec]:
        schema = {"type": "object", "additionalProperties": False, "properties": {
            "model": PATH, "lists": {"type": "array", "items": {"type": "string"}, "x-kind": "path"},
            "feeds": {"type": "object", "additionalProperties": PATH},
            "name": {"type": "string"}}}
        return [DetectorSpec(name="d", summary="t", factory=lambda c, x: None, config_schema=schema)]

    @hookimpl
    def flowcep_register_inputs(self) -> list[InputSpec]:
        return [InputSpec(name="counter", summary="t", schemes=("counter",), open=lambda a, c, x: None),
                InputSpec(name="blob", summary="t", schemes=("blob",), open=lambda a, c, x: None, reads_file=True)]


def registry() -> Registry:
    pm = make_plugin_manager()
    pm.register_plugin(Plugin(), PluginInfo("p", "tests", "tests", "0", "registered"))
    return Registry.build(pm)


def test_paths_resolve_against_the_config_folder() -> None:
    cfg: dict[str, Any] = {
        "run": {"inputs": ["data/x.ipfix", "blob:rel.bin?k=v", "counter:1000", "iface:eth0", "/abs/y.ipfix",
                           "ipfix+udp://0.0.0.0:4739"],
                "outputs": ["jsonl:out/a.jsonl", "stdout:json"], "stats_json": "s.json"},
        "epl": {"modules": ["rules/a.epl", "/abs/b.epl"]},
        "detectors": {"d": {"model": "m.bin", "lists": ["a.txt", "/b.txt"], "feeds": {"x": "feeds/x"},
                            "name": "keep"}},
    }
    out = resolve_paths(cfg, "/etc/flowcep", registry())
    assert out["run"]["inputs"] == ["/etc/flowcep/data/x.ipfix", "blob:/etc/flowcep/rel.bin?k=v", "counter:1000",
                                    "iface:eth0", "/abs/y.ipfix", "ipfix+udp://0.0.0.0:4739"]
    assert out["run"]["outputs"] == ["jsonl:/etc/flowcep/out/a.jsonl", "stdout:json"]
    assert out["run"]["stats_json"] == "/etc/flowcep/s.json"
    assert out["epl"]["modules"] == ["/etc/flowcep/rules/a.epl", "/abs/b.epl"]
    assert out["detectors"]["d"] == {"model": "/etc/flowcep/m.bin", "lists": ["/etc/flowcep/a.txt", "/b.txt"],
                                     "feeds": {"x": "/etc/flowcep/feeds/x"}, "name": "keep"}
    assert cfg["run"]["inputs"][0] == "data/x.ipfix"  # the caller's dict is not changed


def test_builtin_file_settings_resolve_against_the_config_folder() -> None:
    reg = Registry.build(make_plugin_manager())
    cfg = {"enrichers": {"geoip": {"city_database": "db/GeoLite2-City.mmdb", "asn_database": None},
                         "reputation": {"lists": {"spamhaus": "lists/drop.txt"}}},
           "outputs": {"elasticsearch": {"dead_letter": "dead.jsonl"}}}
    out = resolve_paths(cfg, "/srv/flowcep", reg)
    assert out["enrichers"]["geoip"] == {"city_database": "/srv/flowcep/db/GeoLite2-City.mmdb", "asn_database": None}
    assert out["enrichers"]["reputation"]["lists"] == {"spamhaus": "/srv/flowcep/lists/drop.txt"}
    assert out["outputs"]["elasticsearch"]["dead_letter"] == "/srv/flowcep/dead.jsonl"
