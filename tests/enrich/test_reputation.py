"""Reputation lists: tagging, bad lines, reload on change at most every reload_interval."""

from __future__ import annotations

import os

import pytest

from flowcep_plugin.context import Context
from flowcep_plugin.enrich.reputation import ReputationEnricher, flowcep_register_enrichers, read_list
from flowcep_plugin.errors import ConfigError
from flowcep_plugin.records import FlowBatch


class FakeClock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def _batch():
    return FlowBatch.from_rows([
        {"sourceIPv4Address": "10.0.0.5", "destinationIPv4Address": "203.0.113.7"},  # dst listed
        {"sourceIPv4Address": "198.51.100.66", "destinationIPv4Address": "10.0.0.5"},  # src in /24
        {"sourceIPv4Address": "10.0.0.5", "destinationIPv4Address": "8.8.8.8"},  # none
        {"sourceIPv6Address": "2001:db8::bad", "destinationIPv6Address": "2001:db8::1"},
    ])


def _write(path, text, mtime):
    path.write_text(text)
    os.utime(path, (mtime, mtime))


def test_tags_and_reload(tmp_path):
    feed = tmp_path / "feed.txt"
    _write(feed, "# test feed\n203.0.113.7\n198.51.100.0/24   # scanner range\n\n2001:db8::bad\nbogus\n", 1_000)
    clock = FakeClock()
    ctx = Context()
    e = ReputationEnricher({"lists": {"blocklist": str(feed)}, "reload_interval": "30s"}, ctx, clock=clock)
    assert ctx.stats.snapshot()["gauges"]["reputation.bad_lines"] == 1
    b = _batch()
    e.enrich(b)
    assert b.get("threat.indicator.ip") == ["203.0.113.7", "198.51.100.66", None, "2001:db8::bad"]
    assert b.get("threat.enrichments.matched.field") == ["destination.ip", "source.ip", None, "source.ip"]
    assert b.get("threat.feed.name") == ["blocklist", "blocklist", None, "blocklist"]

    # The feed changes: 8.8.8.8 listed, 203.0.113.7 delisted.
    _write(feed, "8.8.8.8\n", 2_000)
    clock.now += 10  # before reload_interval: no stat, old content still used
    b = _batch()
    e.enrich(b)
    assert b.get("threat.indicator.ip")[0] == "203.0.113.7" and e.reloads == 0
    clock.now += 25
    b = _batch()
    e.enrich(b)
    assert e.reloads == 1
    assert b.get("threat.indicator.ip") == [None, None, "8.8.8.8", None]

    # Unchanged file: checked but not re-read. Removed file: last content kept.
    clock.now += 60
    e.enrich(_batch())
    assert e.reloads == 1
    feed.unlink()
    clock.now += 60
    b = _batch()
    e.enrich(b)
    assert b.get("threat.feed.name") == [None, None, "blocklist", None]


def test_several_lists_and_nesting(tmp_path):
    a = tmp_path / "a.txt"
    b = tmp_path / "b.txt"
    a.write_text("203.0.113.0/24\n8.8.8.8\n")
    b.write_text("203.0.113.7\n8.8.8.8/32\n")
    e = ReputationEnricher({"lists": {"tor": str(a), "c2": str(b)}, "reload_interval": 60})
    batch = _batch()
    e.enrich(batch)
    # 203.0.113.7: the /32 of c2 is longer than tor's /24; 8.8.8.8 is on both lists.
    assert batch.get("threat.feed.name") == ["c2", None, "c2,tor", None]


def test_missing_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match=r"enrichers.reputation.lists.x: cannot read .*nope.txt"):
        ReputationEnricher({"lists": {"x": str(tmp_path / "nope.txt")}})


def test_empty_config_adds_empty_columns():
    e = ReputationEnricher({"lists": {}})
    b = _batch()
    e.enrich(b)
    assert b.get("threat.feed.name") == [None] * 4


def test_read_list_reports_line(tmp_path):
    f = tmp_path / "l.txt"
    f.write_text("1.2.3.4\n\n  # c\n300.1.1.1\n")
    prefixes, bad = read_list(str(f))
    assert prefixes == ["1.2.3.4"]
    assert bad == [f"{f}:4: not an address or prefix: '300.1.1.1'"]


def test_registration():
    (spec,) = flowcep_register_enrichers()
    assert spec.name == "reputation" and not spec.enabled_by_default
    assert spec.config_schema["additionalProperties"] is False


def test_big_batch_with_one_listed_destination(tmp_path):
    feed = tmp_path / "f.txt"
    feed.write_text("192.0.2.1\n")
    e = ReputationEnricher({"lists": {"c2": str(feed)}})
    rows = [{"sourceIPv4Address": f"10.0.{i // 256}.{i % 256}", "destinationIPv4Address": "8.8.8.8"}
            for i in range(5000)]
    rows[4321]["destinationIPv4Address"] = "192.0.2.1"
    b = FlowBatch.from_rows(rows)
    e.enrich(b)
    feeds = b.get("threat.feed.name")
    assert feeds[4321] == "c2" and feeds.count(None) == 4999
    assert b.get("threat.indicator.ip")[4321] == "192.0.2.1"
    with pytest.raises(ConfigError, match="non-empty name"):
        ReputationEnricher({"lists": {"": str(feed)}})
