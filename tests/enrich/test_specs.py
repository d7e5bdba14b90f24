"""Every builtin enricher registers through its entry point with a strict, valid schema."""

from __future__ import annotations

import importlib

import jsonschema
import pytest

MODULES = {
    "zones": ("flowcep_plugin.enrich.zones", True),
    "services": ("flowcep_plugin.enrich.services", True),
    "community-id": ("flowcep_plugin.enrich.community_id", True),
    "geoip": ("flowcep_plugin.enrich.geo", False),
    "rdns": ("flowcep_plugin.enrich.rdns", False),
    "reputation": ("flowcep_plugin.enrich.reputation", False),
}


@pytest.mark.parametrize("name", sorted(MODULES))
def test_spec_shape(name):
    module, enabled = MODULES[name]
    (spec,) = importlib.import_module(module).flowcep_register_enrichers()
    assert spec.name == name
    assert spec.enabled_by_default is enabled
    assert spec.summary and spec.columns
    schema = spec.config_schema
    assert schema["type"] == "object" and schema["additionalProperties"] is False
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.validate(dict(spec.defaults), schema)
    assert set(spec.defaults) <= set(schema["properties"])
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"no-such-option": 1}, schema)


def test_loaded_through_entry_points():
    from flowcep_plugin.manager import make_plugin_manager
    from flowcep_plugin.registry import Registry

    registry = Registry.build(make_plugin_manager())
    assert set(MODULES) <= set(registry.enrichers)
    for name, (module, _) in MODULES.items():
        assert registry.enrichers[name].factory.__module__ == module


def test_cheap_enrichers_build_from_defaults_alone():
    from flowcep_plugin.context import Context

    for module, enabled in MODULES.values():
        if enabled:
            (spec,) = importlib.import_module(module).flowcep_register_enrichers()
            enricher = spec.factory(dict(spec.defaults), Context())
            enricher.close()


@pytest.mark.shared
def test_pipeline_runs_the_cheap_enrichers_on_upstream_sample(upstream_ipfix):
    from flowcep_plugin import api

    res = api.run([f"ipfix-file:{upstream_ipfix}"], detectors=[],
                  enrichers=["zones", "services", "community-id"],
                  config={"enrichers": {"zones": {"zones": {"lab": ["216.126.0.0/16"]}}}})
    stages = res.stats["stages"]
    # 13,898 data records per flowcep-upstream/PROVENANCE.md; every one passes the enrichers.
    assert stages["enrich"]["in"] == stages["decode"]["in"] == 13898
    assert res.stats["plugin_errors"] == {}
