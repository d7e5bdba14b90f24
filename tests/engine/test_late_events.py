"""Out-of-order flows: reordered within the allowed lateness, later ones counted and dropped.

The host's Reorderer sits before the runtime; the runtime itself only sees time-ordered
batches and watermarks.
"""

from __future__ import annotations

from flowcep_plugin.clock import Reorderer
from flowcep_plugin.engine import compile_module
from flowcep_plugin.engine.harness import flows
from flowcep_plugin.stats import Stats

EPL = "@Name('Out') select count(*) as n, min(v) as first from Flow#time_batch(10 sec)"


def drive(lateness_ms: int, arrivals: list[tuple[int, int]]) -> tuple[list, Stats]:
    rt = compile_module(EPL).runtime()
    stats = Stats()
    clock = Reorderer(lateness_ms, stats, release_every_ms=1)
    rows = []
    for t, v in arrivals:
        for b in clock.push(flows((t, {"v": v}))):
            rows += rt.on_batch(b)
        rows += rt.on_watermark(clock.watermark)
    for b in clock.flush():
        rows += rt.on_batch(b)
    rows += rt.flush()
    return [(r.time_ms, r.values["n"], r.values["first"]) for r in rows], stats


ARRIVALS = [(1_000, 1), (4_000, 2), (2_000, 3), (12_000, 4), (9_000, 5), (30_000, 6), (10_500, 7)]


def test_within_lateness_records_are_reordered_into_their_batch() -> None:
    rows, stats = drive(25_000, ARRIVALS)
    # batch [1 s, 11 s) gets 1, 2, 3, 5 even though 3 and 5 arrived late; 7 (10.5 s) too
    assert rows[0] == (11_000, 5, 1)
    assert sum(stats.drops.values()) == 0


def test_beyond_lateness_records_are_counted_late_and_never_seen() -> None:
    rows, stats = drive(2_500, ARRIVALS)
    # 9 s arrives when the watermark is 9.5 s: late; 10.5 s arrives after 30 s: late
    assert stats.drops["late"] == 2
    assert rows[0] == (11_000, 3, 1)
    assert sum(n for _t, n, _f in rows) == len(ARRIVALS) - 2
