"""A flood of spoofed sources must not reset a real scanner's state.

Measured (hostile32): 300,000 random spoofed one-SYN sources overflowed ``max_sources``
(200,000); the oldest-created sources were evicted, the real scanner among them, and its
alert listed 50 of its 150 ports. The same shape at a small bound: the table is full before
the scan starts, and three times the bound of spoofed sources arrive interleaved with it.
"""

from __future__ import annotations

import random
from typing import Any

from flowcep_portscan import SPEC, PortScanDetector

from flowcep_plugin.context import Context
from flowcep_plugin.testing import ManualClock, build_detector, make_flow, meter_records, to_batches

T0 = 1_700_000_100_000
W = 300_000
BASE = T0 - T0 % W  # every record below lies in one 5 min window
BOUND = 1000
SCANNER, VICTIM = "198.51.100.7", "10.9.0.5"
PORTS = 150


def _spoofed(n: int, probes: int, rng: random.Random) -> list[list[dict[str, Any]]]:
    """``n`` spoofed sources, each sending ``probes`` SYNs to random hosts (one record per SYN)."""
    out = []
    for k in range(n):
        src = f"100.{64 + (k >> 16) % 64}.{(k >> 8) & 255}.{k & 255}"
        out.append([make_flow(src, f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}",
                              rng.choice((22, 80, 443)), packets=1, flags="S") for _ in range(probes)])
    return out


def _run(probes_per_spoofed: int) -> tuple[list[dict[str, Any]], PortScanDetector, Context, int]:
    """The scan interleaved with the flood, in batches of 200 records as the host hands them;
    returns the events, the detector, its context and the largest sources table seen."""
    rng = random.Random(30)
    flood = _spoofed(4 * BOUND, probes_per_spoofed, rng)
    # the table is full before the scanner's first probe; the rest of the flood comes with it
    head, rest = flood[:BOUND], flood[BOUND:]
    scan = [[make_flow(SCANNER, VICTIM, 1000 + p, packets=1, flags="S")] for p in range(PORTS)]
    tail: list[list[dict[str, Any]]] = list(rest)
    every = len(rest) // PORTS
    for p, probe in enumerate(scan):
        tail.insert(p * (every + 1), probe)
    records = [r for group in head + tail for r in group]
    for i, r in enumerate(records):  # in arrival order, within the window
        r["flowEndMilliseconds"] = r["flowStartMilliseconds"] = BASE + 1000 + i * (250_000 // len(records))
    ctx = Context()
    det = build_detector(SPEC, {"max_sources": BOUND}, ctx)
    assert isinstance(det, PortScanDetector)
    clock = ManualClock(det)
    largest = 0
    for batch in to_batches(records, batch_size=200):
        clock.feed(batch)
        largest = max(largest, len(det.sources))
    clock.finish()
    return clock.events, det, ctx, largest


def _scanner_alert(events: list[dict[str, Any]]) -> dict[str, Any]:
    mine = [e for e in events if e["source"]["ip"] == SCANNER]
    assert [e["rule"]["id"] for e in mine] == ["portscan-vertical"], mine
    return mine[0]


def test_one_syn_flood_keeps_the_scanner_and_stays_bounded() -> None:
    events, det, ctx, largest = _run(1)
    alert = _scanner_alert(events)
    assert alert["destination"]["ip"] == VICTIM
    assert alert["flowcep"]["counts"]["ports"] == PORTS  # every port, not what came after a reset
    assert alert["flowcep"]["fields"]["ports"] == list(range(1000, 1100))  # LIST_LIMIT of them
    assert f"probed {PORTS} TCP ports of {VICTIM} (1000-1149" in alert["message"]
    assert [e for e in events if e["source"]["ip"] != SCANNER] == []  # one SYN each accuses no one
    assert largest <= BOUND
    created = 4 * BOUND + 1
    assert ctx.stats.gauges["portscan.sources_evicted"] == created - len(det.sources)
    assert SCANNER in det.sources


def test_two_syn_flood_ranks_by_targets() -> None:
    # no one-target source to take cheaply: every source is ranked by its targets
    events, det, ctx, largest = _run(2)
    alert = _scanner_alert(events)
    assert alert["flowcep"]["counts"]["ports"] == PORTS
    assert largest <= BOUND
    assert ctx.stats.gauges["portscan.sources_evicted"] == 4 * BOUND + 1 - len(det.sources)


def test_spoofed_ack_probes_do_not_hide_an_ack_scan() -> None:
    """The window's ACK-probe table, full of spoofed one-port probes (each answered by RST, as
    any host answers an ACK outside a connection) before an ACK scan of 20 ports begins: once
    full it refused new keys, and the scan was never seen."""
    rng = random.Random(31)
    flood = [(0, 0, f"100.{64 + (k >> 16) % 64}.{(k >> 8) & 255}.{k & 255}",
              f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}",
              40000 + k % 20000, 80, 6, 1, 40, 0x10, 1, 40, 0x04) for k in range(4 * BOUND)]
    scan = [(0, 0, SCANNER, VICTIM, 61000, 20 + p, 6, 1, 40, 0x10, 1, 40, 0x04) for p in range(20)]
    head, rest = flood[:BOUND], flood[BOUND:]
    every = len(rest) // len(scan)
    for p, probe in enumerate(scan):
        rest.insert(p * (every + 1), probe)
    rows = [(BASE + 1000 + i * 50, BASE + 1000 + i * 50, *r[2:]) for i, r in enumerate(head + rest)]
    ctx = Context()
    det = build_detector(SPEC, {"max_sources": BOUND}, ctx)
    assert isinstance(det, PortScanDetector)
    clock = ManualClock(det)
    largest = 0
    for batch in to_batches(meter_records(rows), batch_size=200):
        clock.feed(batch)
        largest = max([largest, *(len(st.acks) for st in det.windows._states.values())])
    (window,) = det.windows._states.values()  # every row lies in one window, still open
    kept = len(window.acks)
    clock.finish()
    alerts = [(e["rule"]["id"], e["source"]["ip"], e["destination"]["ip"], e["flowcep"]["counts"]["ports"])
              for e in clock.events]
    assert alerts == [("portscan-ack", SCANNER, VICTIM, 20)]
    assert largest <= BOUND
    assert sum(window.ack_ports.values()) == kept  # the ports per pair the eviction ranks by
    assert ctx.stats.gauges["portscan.ack_keys_evicted"] == 4 * BOUND + 20 - kept


def test_repeated_datagrams_keep_one_candidate_and_count_every_probe() -> None:
    """bound30: the window's UDP candidates were a list, one entry per small datagram record,
    so one host repeating a datagram to one port 50,000 times in a window held 50,000 entries.
    They are a count per (source, host, port) now; the probes an alert reports stay exact."""
    udp_base = BASE + 1000
    repeats = [make_flow("192.0.2.9", "10.9.0.53", 5000, proto="udp", packets=1, octets=60,
                         end_ms=udp_base + i) for i in range(50_000)]
    # a UDP vertical scan whose every port is probed three times: 3 x 100 probes, 100 ports
    scan = [make_flow(SCANNER, VICTIM, 2000 + p, proto="udp", packets=1, octets=40,
                      end_ms=udp_base + 60_000 + 3 * p + k) for p in range(100) for k in range(3)]
    det = build_detector(SPEC)
    assert isinstance(det, PortScanDetector)
    clock = ManualClock(det, 0)
    for batch in to_batches(repeats + scan, 5000):
        clock.feed(batch, watermark=False)
    (window,) = det.windows._states.values()
    assert len(window.udp) == 1 + 100  # one key for the repeating host, one per scanned port
    assert window.udp[("192.0.2.9", "10.9.0.53", 5000)] == 50_000
    clock.finish()
    (alert,) = [e for e in clock.events if e["rule"]["id"] == "portscan-vertical"]
    assert alert["flowcep"]["counts"] == {"ports": 100, "probes": 300}
