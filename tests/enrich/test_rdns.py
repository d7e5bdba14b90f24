"""Reverse DNS: never blocks the batch, bounded and expiring cache; resolver injected, no DNS."""

from __future__ import annotations

import threading
import time

import pytest

from flowcep_plugin.context import Context
from flowcep_plugin.enrich.rdns import ReverseDnsEnricher, flowcep_register_enrichers
from flowcep_plugin.errors import ConfigError
from flowcep_plugin.records import FlowBatch


def _batch(pairs):
    return FlowBatch.from_rows([{"sourceIPv4Address": s, "destinationIPv4Address": d} for s, d in pairs])


def _wait(pred, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached")
        time.sleep(0.005)


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def test_slow_resolver_never_blocks_and_later_batches_get_names():
    release = threading.Event()
    calls = []

    def slow(addr):
        calls.append(addr)
        release.wait(5)  # a hung DNS server (released by the test)
        return {"10.0.0.1": "a.example", "10.0.0.2": None}.get(addr)

    e = ReverseDnsEnricher({"workers": 2}, resolver=slow)
    try:
        b1 = _batch([("10.0.0.1", "10.0.0.2"), ("10.0.0.1", "10.0.0.2")])
        t0 = time.perf_counter()
        e.enrich(b1)
        assert time.perf_counter() - t0 < 1.0  # the resolver blocks 5 s
        assert b1.get("source.domain") == [None, None]
        _wait(lambda: len(calls) == 2)  # each distinct address asked once
        # While lookups hang, another batch is still served at once and asks nothing new.
        b2 = _batch([("10.0.0.1", "10.0.0.2")])
        t0 = time.perf_counter()
        e.enrich(b2)
        assert time.perf_counter() - t0 < 1.0  # the resolver blocks 5 s
        assert sorted(calls) == ["10.0.0.1", "10.0.0.2"]
        release.set()
        _wait(lambda: e.lookups == 2)
        b3 = _batch([("10.0.0.2", "10.0.0.1")])
        e.enrich(b3)
        assert b3.get("source.domain") == [None]  # no PTR record
        assert b3.get("destination.domain") == ["a.example"]
    finally:
        release.set()
        e.close()


def test_ttl_expiry_and_negative_ttl():
    clock = FakeClock()
    answers = {"10.0.0.1": "one.example", "10.0.0.2": None}
    e = ReverseDnsEnricher({"ttl": "60s", "negative_ttl": "10s"}, resolver=answers.get, clock=clock)
    try:
        e.enrich(_batch([("10.0.0.1", "10.0.0.2")]))
        _wait(lambda: e.lookups == 2)
        clock.now += 30  # name fresh, failure expired
        b = _batch([("10.0.0.1", "10.0.0.2")])
        e.enrich(b)
        assert b.get("source.domain") == ["one.example"]
        _wait(lambda: e.lookups == 3)  # only the failed one asked again
        answers["10.0.0.1"] = "renamed.example"
        clock.now += 31  # name expired: served stale once, refreshed in the background
        b = _batch([("10.0.0.1", None)])
        e.enrich(b)
        assert b.get("source.domain") == ["one.example"]
        _wait(lambda: e.lookups == 4)
        b = _batch([("10.0.0.1", None)])
        e.enrich(b)
        assert b.get("source.domain") == ["renamed.example"]
    finally:
        e.close()


def test_bounded_cache_pending_and_only_zones():
    release = threading.Event()

    def resolver(addr):
        release.wait(5)
        return "h-" + addr

    ctx = Context()
    e = ReverseDnsEnricher({"max_entries": 3, "max_pending": 2, "workers": 1,
                            "only_zones": ["10.0.0.0/8"]}, ctx=ctx, resolver=resolver)
    try:
        e.enrich(_batch([("10.0.0.1", "10.0.0.2"), ("10.0.0.3", "8.8.8.8")]))
        # Distinct addresses in order: sources 10.0.0.1, 10.0.0.3, then destinations; the
        # third in-zone address finds the queue full; 8.8.8.8 is outside only_zones.
        assert e._pending == {"10.0.0.1", "10.0.0.3"} and e.skipped == 1
        assert ctx.stats.snapshot()["gauges"]["rdns.skipped"] == 1
        release.set()
        _wait(lambda: e.lookups == 2)
        for n, i in enumerate((2, 4, 5, 6), start=3):
            e.enrich(_batch([(f"10.0.0.{i}", None)]))
            _wait(lambda n=n: e.lookups == n)
        assert len(e._cache) == 3
        assert list(e._cache) == ["10.0.0.4", "10.0.0.5", "10.0.0.6"]
        assert "8.8.8.8" not in e._cache
        # the three names pushed out are counted (reported with the next batch)
        assert e.evicted == 3
        e.enrich(_batch([("10.0.0.6", None)]))
        assert ctx.stats.snapshot()["gauges"]["rdns.evicted"] == 3
    finally:
        release.set()
        e.close()


def test_resolver_exception_is_a_negative_answer():
    def boom(addr):
        raise RuntimeError("resolver broke")

    e = ReverseDnsEnricher({}, resolver=boom)
    try:
        e.enrich(_batch([("10.0.0.1", None)]))
        _wait(lambda: e.lookups == 1)
        b = _batch([("10.0.0.1", None)])
        e.enrich(b)
        assert b.get("source.domain") == [None]
    finally:
        e.close()


def test_registration_and_config_errors():
    (spec,) = flowcep_register_enrichers()
    assert spec.name == "rdns" and not spec.enabled_by_default
    assert spec.config_schema["additionalProperties"] is False
    with pytest.raises(ConfigError, match="rdns"):
        ReverseDnsEnricher({"ttl": "soon"})
