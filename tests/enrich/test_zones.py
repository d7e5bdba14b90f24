"""Zones and ECS network.direction, expectations from the configured CIDR lists."""

from __future__ import annotations

import pytest

from flowcep_plugin.enrich.zones import DEFAULTS, ZonesEnricher, flowcep_register_enrichers
from flowcep_plugin.errors import ConfigError
from flowcep_plugin.records import FlowBatch

CONFIG = {
    "zones": {
        "internal": ["10.0.0.0/8", "fd00::/8"],
        "dmz": ["10.1.0.0/16"],
        "scanners": ["10.1.0.99"],
        "partner": ["198.51.100.0/24"],
    },
    "internal_zones": ["internal", "dmz", "scanners"],
    "default_zone": "external",
}


def _batch(pairs):
    rows = []
    for s, d in pairs:
        row = {}
        if s is not None:
            row["sourceIPv6Address" if ":" in s else "sourceIPv4Address"] = s
        if d is not None:
            row["destinationIPv6Address" if ":" in d else "destinationIPv4Address"] = d
        rows.append(row)
    return FlowBatch.from_rows(rows)


def test_zones_and_direction():
    batch = _batch([
        ("10.2.3.4", "8.8.8.8"),  # internal -> external: outbound
        ("8.8.8.8", "10.1.5.5"),  # external -> dmz: inbound
        ("10.1.0.99", "10.9.9.9"),  # scanner (/32 inside the dmz) -> internal: internal
        ("198.51.100.7", "8.8.4.4"),  # partner zone is not internal: external
        ("fd00::1", "2001:db8::1"),  # IPv6 internal -> external: outbound
        ("10.0.0.1", None),  # missing destination: unknown
        ("10.2.3.4", "8.8.8.8"),  # repeat
    ])
    ZonesEnricher(CONFIG).enrich(batch)
    assert batch.get("source.zone") == ["internal", "external", "scanners", "partner", "internal",
                                        "internal", "internal"]
    assert batch.get("destination.zone") == ["external", "dmz", "internal", "external", "external",
                                             None, "external"]
    assert batch.get("network.direction") == ["outbound", "inbound", "internal", "external", "outbound",
                                              "unknown", "outbound"]


def test_defaults_are_private_space():
    batch = _batch([("192.168.1.2", "172.16.0.1"), ("172.32.0.1", "127.0.0.1"), ("fe80::1", "fc00::2")])
    ZonesEnricher(DEFAULTS).enrich(batch)
    # 172.32.0.1 is just outside 172.16.0.0/12.
    assert batch.get("source.zone") == ["internal", "external", "internal"]
    assert batch.get("network.direction") == ["internal", "inbound", "internal"]


def test_default_zone_null_and_mixed_families():
    batch = _batch([("8.8.8.8", "10.0.0.1"), ("2001:db8::5", "fd00::9")])
    ZonesEnricher({**CONFIG, "default_zone": None}).enrich(batch)
    assert batch.get("source.zone") == [None, None]
    assert batch.get("network.direction") == ["inbound", "inbound"]


def test_config_errors_name_the_key():
    with pytest.raises(ConfigError, match=r"enrichers.zones.zones.dmz: .*'10.0.0.0/40'"):
        ZonesEnricher({"zones": {"dmz": ["10.0.0.0/40"]}})
    with pytest.raises(ConfigError, match="internal_zones: lan not among"):
        ZonesEnricher({"zones": {"internal": ["10.0.0.0/8"]}, "internal_zones": ["lan"]})


def test_registration_and_schema():
    import jsonschema

    (spec,) = flowcep_register_enrichers()
    assert spec.name == "zones" and spec.enabled_by_default
    jsonschema.validate(dict(spec.defaults), spec.config_schema)
    jsonschema.validate(CONFIG, spec.config_schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"zone": {}}, spec.config_schema)


def test_small_cache_across_batches_stays_correct():
    e = ZonesEnricher({**CONFIG, "cache_size": 2})
    for _ in range(3):
        batch = _batch([("10.2.3.4", "8.8.8.8"), ("8.8.8.8", "10.1.5.5"), ("198.51.100.7", "10.1.0.99")])
        e.enrich(batch)
        assert batch.get("source.zone") == ["internal", "external", "partner"]
        assert batch.get("destination.zone") == ["external", "dmz", "scanners"]
        assert batch.get("network.direction") == ["outbound", "inbound", "inbound"]
        assert len(e._zone_of) <= 2 + 4  # bounded: reset before it grows past cache_size + one batch
