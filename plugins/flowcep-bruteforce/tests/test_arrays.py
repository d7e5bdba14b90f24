"""The detector on a decoder's numpy columns (``batch.array``) gives the events it gives on
list columns, and reads the login-port records' values from the arrays without making the
batch's lists (the NetFlow, pcap and JSON inputs give lists, the IPFIX decoder arrays)."""

from __future__ import annotations

from typing import Any

import numpy as np
from flowcep_bruteforce import SPEC

from flowcep_plugin import FlowBatch
from flowcep_plugin.context import Context
from flowcep_plugin.records import VALUES, ArrayPart, Columns, array_values
from flowcep_plugin.testing import build_detector, make_flow, run_detector

from .test_bruteforce import BASE, interactive_and_backup, ssh_tries

#: the columns the detector reads as numbers (addresses and ports stay lists, as after zones)
NUMERIC = ("protocolIdentifier", "packetDeltaCount", "octetDeltaCount", "tcpControlBits",
           "flowStartMilliseconds", "reverseOctetDeltaCount")


def as_arrays(batch: FlowBatch, dtype: Any = np.uint64) -> FlowBatch:
    """The same records with every numeric column that has no absent value held as one
    array, as the IPFIX decoder hands them over."""
    cols = Columns(None, batch.length)
    for name, values in batch.columns.items():
        if name in NUMERIC and None not in values:
            cols.set_arrays(name, [ArrayPart(np.array(values, dtype=dtype), array_values, VALUES)])
        else:
            cols[name] = values
    return FlowBatch(cols, batch.length, source=batch.source)


def records() -> list[dict[str, Any]]:
    # guessing (fast and slow), an admin's sessions, and flows the tests must drop: other
    # ports, UDP to a login port, a handshake alone, no data (no PSH)
    rows = [*ssh_tries(25), *ssh_tries(40, src="203.0.113.7", dst="10.0.0.23", step_ms=40_000),
            *interactive_and_backup(),
            *[make_flow("198.51.100.20", "10.0.0.80", 80, packets=15, octets=3000,
                        end_ms=BASE + 1000 + i, duration_ms=100) for i in range(30)],
            *[make_flow("198.51.100.21", "10.0.0.22", 22, proto="udp", packets=15, octets=3000,
                        end_ms=BASE + 2000 + i * 1000, duration_ms=100) for i in range(30)],
            *[make_flow("198.51.100.22", "10.0.0.22", 22, packets=3, octets=180,
                        end_ms=BASE + 3000 + i * 1000, duration_ms=100) for i in range(30)]]
    rows += [dict(r, tcpControlBits=0x13) for r in ssh_tries(12, src="198.51.100.23")]
    for i, r in enumerate(rows):  # biflow counters beside, some server bytes differing
        r["reverseOctetDeltaCount"] = 2000 + (i % 3) * 10
    return sorted(rows, key=lambda r: r["flowEndMilliseconds"])


def test_arrays_give_the_events_lists_give() -> None:
    rows = records()
    listed = FlowBatch.from_rows(rows)
    expected = run_detector(SPEC, listed)
    assert {e["rule"]["id"] for e in expected} == {"bruteforce-guessing", "bruteforce-slow"}
    for dtype in (np.uint64, np.int64):
        assert run_detector(SPEC, as_arrays(FlowBatch.from_rows(rows), dtype)) == expected
        for size in (7, 50):
            assert run_detector(SPEC, as_arrays(FlowBatch.from_rows(rows), dtype), batch_size=size) \
                == run_detector(SPEC, FlowBatch.from_rows(rows), batch_size=size)


def test_the_batch_lists_are_not_made() -> None:
    batch = as_arrays(FlowBatch.from_rows(records()))
    held = [name for name in NUMERIC if batch.array(name) is not None]
    # the UDP rows have no flags: that column stays a list (the detector reads it so)
    assert held == [n for n in NUMERIC if n != "tcpControlBits"]
    det = build_detector(SPEC, None, Context())
    events = det.on_batch(batch)
    assert events
    for name in held:  # still arrays: the detector picked the login-port rows from them
        assert batch.array(name) is not None, name
