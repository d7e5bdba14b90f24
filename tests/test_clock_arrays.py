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


class _Peek:
    """Reads only octetDeltaCount; notes which columns were still arrays when the batch came."""

    seen: list[tuple[set[str], set[str]]] = []
    total: list[int] = []

    def __init__(self, config: Any, ctx: Any) -> None:
        _Peek.seen, _Peek.total = [], []

    def on_batch(self, batch: FlowBatch) -> list[Any]:
        cols = batch.columns
        unmade = {n for n in cols if isinstance(cols, Columns) and cols.is_view(n)}
        arrays = {n for n in cols if batch.array(n) is not None}
        _Peek.seen.append((unmade, arrays))
        _Peek.total.append(sum(batch.get("octetDeltaCount")))
        return []

    def on_watermark(self, wm: int) -> list[Any]:
        return []

    def flush(self) -> list[Any]:
        return []


class _PeekPlugin:
    from flowcep_plugin import hookimpl as _hookimpl

    @_hookimpl
    def flowcep_register_detectors(self) -> list[Any]:
        from flowcep_plugin import DetectorSpec

        return [DetectorSpec(name="peek", summary="t", factory=_Peek)]


def test_a_run_leaves_the_columns_no_stage_reads_as_arrays(tmp_path: Any) -> None:
    """End to end through ``ipfix-file:``, sanitise and the clock (two templates, one without
    times, several batches): the detector gets the columns nothing read still unmade, the
    arrays readable with ``batch.array``, and the values it reads are the decoder's."""
    from flowcep_plugin.api import run
    from flowcep_plugin.manager import PluginInfo, make_plugin_manager
    from tests.inputs.test_decode_runs import stream

    path = tmp_path / "x.ipfix"
    path.write_bytes(b"".join(stream([300, 280, 260, 240] * 6, 5000)))
    pm = make_plugin_manager()
    pm.register_plugin(_PeekPlugin(), PluginInfo(name="t", module="tests", distribution="tests",
                                                 version="0", origin="registered"))
    res = run([f"ipfix-file:{path}"], detectors=["peek"], enrichers=[], pm=pm)
    # template 257 has no flowEndMilliseconds: its records are dropped as before, counted
    assert {k: v for k, v in res.stats["drops"].items() if v} == {"no-timestamp": 12 * 260}
    assert _Peek.seen and sum(_Peek.total) == sum(
        (k * 100 + j) * 1000 for k, n in enumerate([300, 280, 260, 240] * 6) for j in range(n)
        if k % 2 == 0 or j == 0)
    for unmade, arrays in _Peek.seen:
        assert {"sourceIPv4Address", "destinationIPv4Address", "protocolIdentifier",
                "sourceTransportPort", "destinationTransportPort", "flowcep.export_time"} <= unmade
        # in both templates with one dtype: one array, through the clock's takes and joins
        assert {"protocolIdentifier", "sourceTransportPort", "destinationTransportPort"} <= arrays
