"""Counting from a decoder's numpy columns (``batch.array``) gives the documents list columns
give (the NetFlow, pcap and JSON inputs hand over lists, the IPFIX decoder arrays), counters
beyond int64 included, and leaves the packet and byte columns unmade."""

from __future__ import annotations

from typing import Any

import numpy as np
from flowcep_trafficstats import SPEC

from flowcep_plugin import FlowBatch
from flowcep_plugin.context import Context
from flowcep_plugin.records import VALUES, ArrayPart, Columns, array_values
from flowcep_plugin.testing import build_detector, run_detector, scenario_records

COUNTERS = ("packetDeltaCount", "octetDeltaCount")


def as_arrays(batch: FlowBatch, dtype: Any) -> FlowBatch:
    """The same records, the counter columns held as one array each (as the decoder does)."""
    cols = Columns(None, batch.length)
    for name, values in batch.columns.items():
        if name in COUNTERS:
            cols.set_arrays(name, [ArrayPart(np.array(values, dtype=dtype), array_values, VALUES)])
        else:
            cols[name] = values
    return FlowBatch(cols, batch.length, source=batch.source)


def test_arrays_give_the_documents_lists_give() -> None:
    rows, _sc = scenario_records("mixed")
    rows.sort(key=lambda r: r["flowEndMilliseconds"])
    expected = run_detector(SPEC, FlowBatch.from_rows(rows))
    assert len(expected) >= 2
    for dtype in (np.uint64, np.int64, np.uint32):
        for size in (None, 997):
            got = run_detector(SPEC, as_arrays(FlowBatch.from_rows(rows), dtype), batch_size=size)
            assert got == run_detector(SPEC, FlowBatch.from_rows(rows), batch_size=size)


def test_counters_beyond_int64_from_arrays() -> None:
    # an unsigned 64-bit counter above int64 (hostile or broken exporter): exact sums, as lists
    rows, _sc = scenario_records("mixed")
    rows.sort(key=lambda r: r["flowEndMilliseconds"])
    rows[5]["octetDeltaCount"] = 2**64 - 1
    rows[6]["packetDeltaCount"] = 2**63 + 7
    expected = run_detector(SPEC, FlowBatch.from_rows(rows))
    assert run_detector(SPEC, as_arrays(FlowBatch.from_rows(rows), np.uint64)) == expected
    totals = [e["flowcep"]["metrics"]["bytes"] for e in expected if e["rule"]["id"] == "trafficstats-categories"]
    assert max(totals) > 2**64 - 1


def test_counter_lists_are_not_made() -> None:
    rows, _sc = scenario_records("mixed")
    batch = as_arrays(FlowBatch.from_rows(rows), np.uint64)
    det = build_detector(SPEC, None, Context())
    det.on_batch(batch)
    assert det.flush()
    for name in COUNTERS:
        assert batch.array(name) is not None, name
