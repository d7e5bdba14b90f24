"""Level-2 progress: a level-1 stream output publishes its engine's time, so a quiet gateway
does not hold the level-2 monitor's time until ``exporter_idle``.

``--output 'kafka://HOST:PORT/TOPIC?stream=NAME'`` writes, beside the rows, a progress document
each time its engine closes windows (at most every ``?progress=`` of event time); the level-2
input (``stream+kafka://``) hands them to the clock as progress marks
(:meth:`flowcep_plugin.clock.Reorderer.progress`), never to a statement as events. The clock
judges a mark as it judges one record: a lone far-future mark moves nothing.
"""

from __future__ import annotations

from flowcep_plugin.clock import NO_TIME, PROGRESS_STREAM, Reorderer, TimePolicy
from flowcep_plugin.records import FlowBatch
from flowcep_plugin.stats import Stats

T0 = 1_712_916_000_000


def _rows(exporter: str, times: list[int]) -> FlowBatch:
    b = FlowBatch({"flowcep.exporter": [exporter] * len(times), "x": list(range(len(times)))}, len(times), "in")
    b.set_event_times(times)
    return b


def _marks(exporter: str, times: list[int]) -> FlowBatch:
    b = FlowBatch({"flowcep.exporter": [exporter] * len(times)}, len(times), "in", stream=PROGRESS_STREAM)
    b.set_event_times(times)
    return b


def _clock(live: bool = False) -> tuple[Reorderer, Stats]:
    stats = Stats()
    wall = [T0 / 1000 + 3600]
    return Reorderer(10_000, stats, release_every_ms=0, policy=TimePolicy(live=live, exporter_idle_ms=3_600_000),
                     wall=lambda: wall[0], mono=lambda: 0.0), stats


def test_progress_marks_move_a_quiet_exporter_and_hold_nothing() -> None:
    clock, stats = _clock()
    clock.push(_rows("quiet", [T0, T0 + 500]))  # the quiet one: two rows at the start
    clock.push(_rows("busy", [T0 + i * 1000 for i in range(300)]))  # five busy minutes
    assert clock.watermark == T0 + 500 - 10_000  # held by the quiet exporter
    released = clock.progress(_marks("quiet", [T0 + 60_000, T0 + 120_000]))
    assert clock.watermark == T0 + 120_000 - 10_000  # the marks moved it...
    assert sum(b.length for b in released) == 113  # ...releasing what it passed (2 quiet, 111 busy rows)
    assert all(b.stream != PROGRESS_STREAM for b in released) and clock.pending == 300 + 2 - 113
    assert stats.gauges["time.progress_marks"] == 2


def test_one_far_future_mark_moves_nothing_and_a_few_legitimate_ones_still_do() -> None:
    clock, stats = _clock()
    clock.progress(_marks("quiet", [T0, T0 + 1000]))
    clock.push(_rows("busy", [T0 + i * 1000 for i in range(300)]))
    clock.progress(_marks("quiet", [T0 + 5 * 3_600_000]))  # five hours ahead, alone
    # the lone rule: the watermark goes no further than the exporter's own latest other mark
    assert clock.watermark <= T0 + 1000
    clock.progress(_marks("quiet", [T0 + 200_000]))  # one legitimate mark still moves it
    assert clock.watermark == T0 + 200_000  # (to the mark: the lone one stands in for its lateness)


def test_a_single_first_mark_cannot_set_the_time() -> None:
    clock, _ = _clock()
    clock.progress(_marks("quiet", [T0 + 3_600_000]))
    assert clock.watermark == NO_TIME


def test_live_marks_beyond_the_future_tolerance_are_counted_and_ignored() -> None:
    clock, stats = _clock(live=True)
    clock.push(_rows("busy", [T0 + 3_590_000 + i for i in range(10)]))
    clock.progress(_marks("quiet", [T0 + 3600_000 + 3_600_000]))  # an hour past the wall clock
    assert stats.gauges["time.progress_future"] == 1
    assert clock.watermark == T0 + 3_590_009 - 10_000
