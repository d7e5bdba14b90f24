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


# -- one exporter cannot break event time (issue 17) -------------------------------------------
from flowcep_plugin.clock import TimePolicy  # noqa: E402

HOUR = 3_600_000
T0 = 1_700_000_000_000  # an ordinary epoch-ms time


def exp_batch(times: list[int], exporter: str | None = None, source: str = "t") -> FlowBatch:
    return FlowBatch({"flowEndMilliseconds": list(times)}, source=source, exporter=exporter)


def test_file_one_future_record_does_not_switch_detection_off():
    stats = Stats()
    r = Reorderer(lateness_ms=10_000, stats=stats, release_every_ms=0)
    normal = [T0 + i * 1_000 for i in range(20)]
    out = r.push(exp_batch(normal[:10] + [T0 + 365 * 24 * HOUR]))  # one record a year ahead
    out += r.push(exp_batch(normal[10:]))
    out += r.flush()
    assert released_times(out) == normal
    assert stats.drops == {"future": 1}
    assert r.watermark < T0 + HOUR


def test_live_future_record_is_judged_against_the_wall_clock():
    stats = Stats()
    wall = T0 / 1000
    r = Reorderer(lateness_ms=30_000, stats=stats, release_every_ms=0,
                  policy=TimePolicy(live=True), wall=lambda: wall)
    # a single record per datagram: no batch median to lean on, the wall clock decides
    r.push(exp_batch([T0 + 24 * HOUR], exporter="10.0.0.9:2055/0"))
    got = []
    for i in range(10):
        got += released_times(r.push(exp_batch([T0 - 20_000 + i * 1_000], exporter="10.0.0.1:2055/0")))
    got += released_times(r.flush())
    assert got == [T0 - 20_000 + i * 1_000 for i in range(10)]
    assert stats.drops == {"future": 1}


def test_clamp_keeps_the_record_at_the_reference_time():
    stats = Stats()
    wall = T0 / 1000
    r = Reorderer(lateness_ms=0, stats=stats, release_every_ms=0,
                  policy=TimePolicy(live=True, clamp=True), wall=lambda: wall)
    out = r.push(exp_batch([T0 - 1_000, T0 + 24 * HOUR], exporter="e")) + r.flush()
    assert released_times(out) == [T0 - 1_000, T0]
    assert stats.drops == {}
    assert stats.gauges["time.clamped_future"] == 1


def test_far_past_record_is_too_old_not_a_watermark_anchor():
    stats = Stats()
    r = Reorderer(lateness_ms=1_000, stats=stats, release_every_ms=0)
    out = r.push(exp_batch([T0, T0 + 1_000, 0 + 5_000, T0 + 2_000]))  # one record from 1970
    out += r.flush()
    assert released_times(out) == [T0, T0 + 1_000, T0 + 2_000]
    assert stats.drops == {"too-old": 1}


def test_watermark_is_the_minimum_over_exporters():
    # (two records each: in a file, an exporter moves time once it has sent two)
    r = Reorderer(lateness_ms=0, release_every_ms=0)
    out = r.push(exp_batch([T0 - 1_000, T0], exporter="slow"))
    out += r.push(exp_batch([T0 + 59_000, T0 + 60_000], exporter="fast"))
    assert r.watermark == T0  # the slow exporter holds it back: its next records are not late
    assert released_times(out) == [T0 - 1_000, T0]
    out = r.push(exp_batch([T0 + 5_000], exporter="slow"))
    assert released_times(out) == [T0 + 5_000]
    assert r.watermark == T0 + 5_000
    assert released_times(r.flush()) == [T0 + 59_000, T0 + 60_000]
    assert r.stats.drops == {}


def test_merged_batch_exporters_are_told_apart_by_column():
    stats = Stats()
    r = Reorderer(lateness_ms=0, stats=stats, release_every_ms=0)
    b = FlowBatch({"flowEndMilliseconds": [T0 + 60_000, T0, T0 + 1_000],
                   "flowcep.exporter": ["a:1/0", "b:1/0", "b:1/0"]}, source="udp")
    r.push(b)
    assert r.watermark == T0 + 1_000
    assert r.exporters == 2


def test_idle_live_exporter_stops_holding_the_watermark():
    mono = [0.0]
    wall = T0 / 1000
    r = Reorderer(lateness_ms=0, release_every_ms=0, wall=lambda: wall, mono=lambda: mono[0],
                  policy=TimePolicy(live=True, exporter_idle_ms=60_000))
    r.push(exp_batch([T0 - 600_000], exporter="quiet"))
    r.push(exp_batch([T0 - 1_000], exporter="busy"))
    assert r.watermark == T0 - 600_000
    mono[0] = 61.0
    r.push(exp_batch([T0], exporter="busy"))
    assert r.watermark == T0


def test_exporter_far_behind_the_others_does_not_hold_the_watermark():
    # an exporter whose clock is stuck in 1970-ish keeps talking: it must not stall everyone
    stats = Stats()
    r = Reorderer(lateness_ms=0, stats=stats, release_every_ms=0)
    for i in range(5):
        r.push(exp_batch([1_000_000 + i], exporter="broken"))
        r.push(exp_batch([T0 + i * 1_000], exporter="good"))
    assert r.watermark == T0 + 4_000


def test_exporter_table_is_bounded_and_evictions_counted():
    stats = Stats()
    r = Reorderer(lateness_ms=0, stats=stats, release_every_ms=0, policy=TimePolicy(max_exporters=100))
    for i in range(1_000):
        r.push(exp_batch([T0 + i], exporter=f"10.0.0.1:{1024 + i}/0"))
    assert r.exporters <= 100
    assert stats.gauges["time.exporters_evicted"] >= 900


def test_policy_defaults_follow_the_kind_of_input():
    live = TimePolicy.from_config({}, live=True)
    files = TimePolicy.from_config({}, live=False)
    assert live.past_tolerance_ms == 600_000 and files.past_tolerance_ms == 3_600_000
    assert TimePolicy.from_config({"past_tolerance": "5min", "out_of_range": "clamp"}, live=True) == TimePolicy(
        past_tolerance_ms=300_000, clamp=True, live=True)


def test_bad_time_config_is_one_line():
    import pytest

    from flowcep_plugin.errors import ConfigError

    with pytest.raises(ConfigError, match=r"^\[time\]: not a duration: 'soon'"):
        TimePolicy.from_config({"future_tolerance": "soon"}, live=False)


def test_time_section_is_validated_with_the_config(tmp_path):
    from flowcep_plugin.cli import main

    bad = tmp_path / "t.toml"
    bad.write_text('[time]\nfuture_tolerance = "soon"\n')
    assert main(["validate", "-c", str(bad)]) == 2
    good = tmp_path / "g.toml"
    good.write_text('[time]\npast_tolerance = "5 min"\nout_of_range = "clamp"\nmax_exporters = 50\n')
    assert main(["validate", "-c", str(good)]) == 0


def test_file_sparse_capture_keeps_every_record():
    """A slow sweep: one flow every half hour to 1.5 h, all in one batch (the flow meter hands a
    capture's flows over together). No record is out of range: gaps of hours are what slow
    scanning looks like; only a gap no capture has (file_gap, a day) marks a bad clock."""
    stats = Stats()
    r = Reorderer(lateness_ms=600_000, stats=stats, release_every_ms=0)
    gaps_s = [520, 786, 1222, 1326, 1579, 300, 5532, 700]
    times = [T0]
    for g in gaps_s:
        times.append(times[-1] + g * 1000)
    out = r.push(exp_batch(list(reversed(times)))) + r.flush()
    assert released_times(out) == times
    assert stats.drops == {}


def test_file_jump_past_a_day_needs_several_records():
    stats = Stats()
    r = Reorderer(lateness_ms=1_000, stats=stats, release_every_ms=0)
    out = r.push(exp_batch([T0 + i * 1_000 for i in range(5)]))
    out += r.push(exp_batch([T0 + 30 * 24 * HOUR]))  # a lone record a month on: a bad clock
    out += r.push(exp_batch([T0 + 5_000, T0 + 6_000]))
    assert stats.drops == {"future": 1}
    jump = [T0 + 2 * 24 * HOUR + i * 1_000 for i in range(3)]  # three records two days on: real
    out += r.push(exp_batch(jump)) + r.flush()
    assert released_times(out) == [T0 + i * 1_000 for i in range(7)] + jump
    assert stats.drops == {"future": 1}
