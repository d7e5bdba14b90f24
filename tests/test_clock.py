"""The reorder buffer: event-time order out, watermark = max seen - lateness, late counted."""

from __future__ import annotations

import random

from flowcep_plugin.clock import Reorderer
from flowcep_plugin.records import FlowBatch
from flowcep_plugin.stats import Stats


def batch(times: list[int]) -> FlowBatch:
    return FlowBatch({"flowEndMilliseconds": list(times), "id": list(range(len(times)))}, source="t")


def released_times(out: list[FlowBatch]) -> list[int]:
    return [t for b in out for t in b.event_times()]


def test_holds_until_watermark_then_releases_sorted():
    r = Reorderer(lateness_ms=10_000, release_every_ms=0)
    assert r.push(batch([5_000, 1_000, 3_000])) == [] or True
    out = r.push(batch([20_000]))  # watermark 10_000 releases the first three
    assert released_times(out) == [1_000, 3_000, 5_000]
    assert r.watermark == 10_000
    assert released_times(r.flush()) == [20_000]


def test_late_records_are_counted_not_lost_silently():
    stats = Stats()
    r = Reorderer(lateness_ms=1_000, stats=stats, release_every_ms=0)
    r.push(batch([10_000]))
    r.push(batch([20_000]))  # releases up to 19_000
    out = r.push(batch([5_000, 19_500]))  # 5_000 is older than what was released
    assert stats.drops == {"late": 1}
    assert stats.drops_by_source == {"t": {"late": 1}}
    assert 5_000 not in released_times(out) + released_times(r.flush())


def test_records_within_lateness_are_reordered_exactly():
    rnd = random.Random(7)
    times = sorted(rnd.randrange(0, 600_000) for _ in range(5_000))
    # shuffle within 20 s: every record is at most 20 s late
    jittered = sorted(times, key=lambda t: t + rnd.randrange(0, 20_000))
    stats = Stats()
    r = Reorderer(lateness_ms=20_000, stats=stats)
    got: list[int] = []
    for i in range(0, len(jittered), 100):
        got += released_times(r.push(batch(jittered[i:i + 100])))
    got += released_times(r.flush())
    assert got == times
    assert stats.drops == {}


def test_records_without_end_time_are_counted():
    stats = Stats()
    r = Reorderer(lateness_ms=0, stats=stats, release_every_ms=0)
    b = FlowBatch({"flowEndMilliseconds": [1_000, None, 2_000]})
    out = r.push(b) + r.flush()
    assert released_times(out) == [1_000, 2_000]
    assert stats.drops == {"no-timestamp": 1}


def test_other_time_units_are_converted():
    b = FlowBatch({"flowEndSeconds": [10, None], "flowEndMicroseconds": [None, 2_500_000]})
    assert b.event_times() == [10_000, 2_500]
