"""Zones larger than a /16 (a /8, a /3, the whole address space) cost no more than small ones,
and the per-address memo stays bounded (resets counted) under a flood of distinct hosts."""

from __future__ import annotations

import time
import tracemalloc

from flowcep_plugin.context import Context
from flowcep_plugin.enrich.zones import DEFAULTS, ZonesEnricher
from flowcep_plugin.records import FlowBatch

HUGE = {
    "zones": {
        "internal": ["10.0.0.0/8", "2000::/3"],
        "everything": ["0.0.0.0/0", "::/0"],
        "lab": ["10.1.0.0/16", "10.1.2.3"],
    },
    "internal_zones": ["internal", "lab"],
    "default_zone": "external",
}


def test_huge_networks_build_small_and_match_longest_prefix() -> None:
    tracemalloc.start()
    started = time.perf_counter()
    z = ZonesEnricher(HUGE)
    took = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert took < 0.5 and peak < 1_000_000  # no per-address expansion of a /8 or a /0
    b = FlowBatch.from_rows([
        {"sourceIPv4Address": "10.200.0.1", "destinationIPv4Address": "8.8.8.8"},
        {"sourceIPv4Address": "10.1.9.9", "destinationIPv4Address": "10.1.2.3"},
        {"sourceIPv6Address": "2001:db8::1", "destinationIPv6Address": "fe80::1"},
        {"sourceIPv6Address": "::", "destinationIPv6Address": "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"},
        {"sourceIPv4Address": "0.0.0.0", "destinationIPv4Address": "255.255.255.255"},
    ])
    z.enrich(b)
    assert b.get("source.zone") == ["internal", "lab", "internal", "everything", "everything"]
    assert b.get("destination.zone") == ["everything", "lab", "everything", "everything", "everything"]
    assert b.get("network.direction") == ["outbound", "internal", "outbound", "external", "external"]


def test_address_memo_is_bounded_and_resets_are_counted() -> None:
    ctx = Context()
    z = ZonesEnricher({**HUGE, "cache_size": 1_000}, ctx)
    for k in range(20):
        rows = [{"sourceIPv4Address": f"10.{k}.{i // 250}.{i % 250}", "destinationIPv4Address": "192.0.2.1"}
                for i in range(900)]
        z.enrich(FlowBatch.from_rows(rows))
        assert len(z._zone_of) <= 1_000
    assert ctx.stats.gauges["zones.cache_resets"] >= 10


def test_a_sweep_of_more_hosts_than_a_slash16_keeps_every_zone() -> None:
    """What failed at filing: with the default config, traffic touching more distinct hosts
    than a /16 holds (65,536, the default ``cache_size``) made the memo start over without the
    addresses it already knew, and the batch that crossed the line raised KeyError: the
    enricher failed on every such batch and was disabled after ten, so a scan of a /8 lost
    its zones. Every record must keep its zones however many hosts a network has."""
    ctx = Context()
    z = ZonesEnricher(DEFAULTS, ctx)  # RFC 1918 internal, cache_size 65536
    sensor = "192.168.1.10"
    for k in range(6):  # 6 x 16,384 targets across 10.0.0.0/8: 98,304 distinct hosts
        rows = [{"sourceIPv4Address": sensor, "destinationIPv4Address": f"10.{k}.{i >> 8}.{i & 255}"}
                for i in range(16_384)]
        rows.append({"sourceIPv4Address": "203.0.113.5", "destinationIPv4Address": sensor})
        b = FlowBatch.from_rows(rows)
        z.enrich(b)
        assert b.get("destination.zone")[:-1] == ["internal"] * 16_384
        assert b.get("network.direction")[-1] == "inbound"
        assert len(z._zone_of) <= 65_536 + 1
    assert ctx.stats.gauges["zones.cache_resets"] >= 1
