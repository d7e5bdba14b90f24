"""The clock on a decoder's numpy columns: event times read from the flow-end array (its list
never made), the sort done on that array; the same records, order and drops as with lists."""

from __future__ import annotations

import random
from typing import Any

import numpy as np

from flowcep_plugin import FlowBatch
from flowcep_plugin.clock import Reorderer
from flowcep_plugin.records import VALUES, ArrayPart, Columns, array_values
from flowcep_plugin.stats import Stats

T0 = 1_700_000_000_000


def _batch(ends: list[int], ids: list[int], as_arrays: bool, exporter: str = "e") -> FlowBatch:
    cols = Columns(None, len(ends))
    if as_arrays:
        cols.set_arrays("flowEndMilliseconds", [ArrayPart(np.array(ends, dtype=np.uint64), array_values, VALUES)])
        cols.set_arrays("octetDeltaCount", [ArrayPart(np.array(ids, dtype=np.uint64), array_values, VALUES)])
    else:
        cols["flowEndMilliseconds"] = list(ends)
        cols["octetDeltaCount"] = list(ids)
    return FlowBatch(cols, len(ends), source="s", exporter=exporter)


def _run(batches: list[tuple[list[int], list[int]]], as_arrays: bool) -> tuple[Any, ...]:
    stats = Stats()
    r = Reorderer(lateness_ms=5_000, stats=stats, release_every_ms=0)
    out: list[FlowBatch] = []
    pushed = []
    for ends, ids in batches:
        b = _batch(ends, ids, as_arrays)
        pushed.append(b)
        out += r.push(b)
    out += r.flush()
    if as_arrays:  # no stage read the flow ends as a list: the column was never made
        assert all(b.columns.is_view("flowEndMilliseconds") for b in pushed)  # type: ignore[attr-defined]
    return ([(b.event_times(), b.columns["octetDeltaCount"]) for b in out], stats.drops)


def test_out_of_order_batches_release_the_same_with_arrays() -> None:
    rng = random.Random(7)
    batches = []
    k = 0
    for step in range(12):
        n = rng.randrange(1, 300)
        ends = [T0 + step * 2_000 + rng.randrange(-8_000, 8_000) for _ in range(n)]
        batches.append((ends, list(range(k, k + n))))
        k += n
    got = _run(batches, True)
    assert got == _run(batches, False)
    assert got[1].get("late")  # the case has late records: drops compared too


def test_event_times_array_follows_the_times() -> None:
    b = _batch([T0 + 2, T0, T0 + 1], [1, 2, 3], True)
    arr = b.event_times_array()
    assert arr is not None and arr.tolist() == b.event_times() == [T0 + 2, T0, T0 + 1]
    assert b.columns.is_view("flowEndMilliseconds")  # type: ignore[attr-defined]
    b.set_event_times([T0, T0, T0])  # overridden times: the array is no longer theirs
    assert b.event_times_array() is None
    assert _batch([T0], [1], False).event_times_array() is None
    both = _batch([T0, T0], [1, 2], True)
    both.columns["flowEndSeconds"] = [1, 2]  # another end element present: the general path
    assert both.event_times_array() is None and both.event_times() == [T0, T0]
    assert b.take([1, 0]).event_times_array() is None  # a take has its times as a list
