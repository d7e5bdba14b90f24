"""Detectors on packet-sampled flow records (docs/detectors.md, "Sampled flow records").

Under 1-in-N sampling a connection whose SYN alone was sampled looks like a failed probe, an
answer that was not sampled looks like silence, and counters are a 1/N share. Each case runs
the same hand-made records twice, without and with a sampling rate, so every assertion on the
sampled run is one the unsampled run shows could fail:

* rules whose evidence is an absence (no answer, no echo reply, no handshake) name nobody on
  what sampling alone explains;
* rate thresholds compare the estimated traffic (count x N): a flood sampled 1 in 10 is found,
  and counters the input already scaled (``apply_sampling``) are not scaled again;
* what stays positive evidence (FIN/NULL/Xmas segments, failures outnumbering reached hosts)
  still names the scanner, and the alert says the evidence was sampled.
"""

from __future__ import annotations

from typing import Any

import pytest

from flowcep_plugin.api import FlowBatch, sampling_column, sampling_rate
from flowcep_plugin.testing import make_flow, run_detector

T0 = 1_700_000_100_000
W = 300_000
BASE = T0 - T0 % W  # a portscan window start: every record below lies in one 5-minute window


def _sampled(records: list[dict[str, Any]], rate: int, **extra: Any) -> list[dict[str, Any]]:
    return [{**r, "samplingInterval": rate, **extra} for r in records]


def _rules(events: list[dict[str, Any]]) -> list[tuple[str, Any]]:
    return sorted((e["rule"]["id"], e.get("source", {}).get("ip")) for e in events)


# -- the plugin API -----------------------------------------------------------------------------

def test_sampling_column_reads_every_element_exporters_use() -> None:
    batch = FlowBatch.from_rows([
        {"samplingInterval": 10},  # IPFIX 34, NetFlow v5 header, v9 sampler options
        {"samplerRandomInterval": 100},  # v9/IPFIX 50 in the record
        {"samplingPacketInterval": 1, "samplingPacketSpace": 99},  # PSAMP count-based
        {"samplingSize": 1, "samplingPopulation": 50},  # n-out-of-N
        {"samplingProbability": 0.001},
        {"samplingInterval": 0}, {"samplingInterval": 1}, {"samplingInterval": None}, {},
    ])
    assert sampling_column(batch) == [10, 100, 100, 50, 1000, 1, 1, 1, 1]
    assert sampling_rate(batch) == 1000
    plain = FlowBatch.from_rows([{"packetDeltaCount": 3}] * 4)
    assert sampling_column(plain) == [1, 1, 1, 1]
    assert sampling_column(plain, counters=True) == [1, 1, 1, 1]
    assert sampling_rate(plain) == 1
    assert sampling_rate(FlowBatch.from_rows([{"samplingInterval": 1}, {"samplingInterval": None}])) == 1


def test_counters_already_scaled_by_the_input_are_not_scaled_again() -> None:
    batch = FlowBatch.from_rows([{"samplingInterval": 10, "flowcep.sampling_applied": True},
                                 {"samplingInterval": 10, "flowcep.sampling_applied": False},
                                 {"samplingInterval": 10}])
    assert sampling_column(batch) == [10, 10, 10]
    assert sampling_column(batch, counters=True) == [1, 10, 10]


def test_the_decoder_marks_the_records_it_scaled() -> None:
    import struct

    from flowcep_plugin.context import Context
    from flowcep_plugin.inputs.ipfix_decode import MessageDecoder

    def v5(sampling: int) -> bytes:
        hdr = struct.pack(">HHIIIIBBH", 5, 1, 1000, 1_700_000_000, 0, 1, 0, 0, sampling)
        rec = struct.pack(">4s4s4sHHIIIIHHBBBBHHBBH", bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2]), bytes(4),
                          0, 0, 3, 180, 900, 1000, 1234, 80, 0, 0x18, 6, 0, 0, 0, 0, 0, 0)
        return hdr + rec

    for apply, packets, marked in ((True, 30, [True]), (False, 3, None)):
        dec = MessageDecoder(Context(), "t", transport="udp", apply_sampling=apply)
        batch = next(b for b in dec.decode(v5(0x4000 | 10), "r:1") if b.stream == "Flow")
        assert batch.columns["packetDeltaCount"] == [packets]
        assert batch.columns.get("flowcep.sampling_applied") == marked
        assert sampling_column(batch) == [10]
        assert sampling_column(batch, counters=True) == [1 if apply else 10]


# -- portscan -----------------------------------------------------------------------------------

def _poller() -> list[dict[str, Any]]:
    """A monitoring poller's completed connections to 300 hosts, as a 1-in-10 sample leaves
    them: for 20 hosts only the SYN was sampled, for 100 a data segment (ACK+PSH), the rest
    nothing at all."""
    recs = []
    for i in range(300):
        host = f"10.20.{i // 250}.{i % 250 + 1}"
        t = BASE + 1000 + i * 500
        if i % 15 == 1:
            recs.append(make_flow("192.0.2.33", host, 5666, packets=1, flags="S", end_ms=t, sport=40000 + i))
        elif i % 3 == 0:
            recs.append(make_flow("192.0.2.33", host, 5666, packets=1, flags="PA", end_ms=t, sport=40000 + i))
    return recs


def test_portscan_a_sampled_poller_is_no_scanner() -> None:
    from flowcep_portscan import SPEC

    # read unsampled, 20 hosts whose connection was a lone SYN and none completed: a scan
    assert _rules(run_detector(SPEC, _poller())) == [("portscan-horizontal", "192.0.2.33")]
    # sampled, the data segments show the 100 hosts answered: failures do not outnumber them
    assert run_detector(SPEC, _sampled(_poller(), 10)) == []


def test_portscan_sampled_failures_weigh_against_reached_hosts() -> None:
    """benign_p2p_peer.pcap at 1 in 10: a peer that reached 20 of 41 peers left lone SYNs to 8
    hosts (the dead ones retransmit theirs) and bare ACKs to 3. Failures minus reached hosts
    is 5, over TRW's margin of 4; a failed connection is sampled up to 3 times as often, and
    each reached host weighs 3."""
    from flowcep_portscan import SPEC

    recs = [make_flow("192.0.2.32", f"198.51.100.{40 + i}", 6881, packets=1, flags="S",
                      end_ms=BASE + 1000 + i * 500, sport=41000 + i) for i in range(8)]
    recs += [make_flow("192.0.2.32", f"198.51.100.{10 + i}", 6881, packets=1, flags="A",
                       end_ms=BASE + 6000 + i * 500, sport=42000 + i) for i in range(3)]
    assert _rules(run_detector(SPEC, recs)) == [("portscan-horizontal", "192.0.2.32")]
    assert run_detector(SPEC, _sampled(recs, 10)) == []


def test_portscan_the_sampled_table_is_bounded_and_errs_towards_silence() -> None:
    """Past ``max_sources`` sampled sources the table is emptied and its largest rate holds
    for every source: a prober whose rate was forgotten is not judged as unsampled."""
    from flowcep_portscan import SPEC

    from flowcep_plugin.context import Context
    from flowcep_plugin.testing import build_detector

    ctx = Context()
    det = build_detector(SPEC, {"max_sources": 4}, ctx)
    others = [make_flow(f"192.0.2.{100 + i}", "10.0.0.1", 80, packets=1, flags="PA", end_ms=BASE + 100 + i)
              for i in range(5)]
    udp = [make_flow("192.0.2.32", f"10.30.0.{i}", 6881, proto="udp", packets=1, octets=80,
                     end_ms=BASE + 1000 + i * 100, sport=6881) for i in range(1, 41)]
    events = run_detector(det, _sampled(udp[:1], 10) + _sampled(others, 10) + udp[1:])
    assert events == [] and ctx.stats.gauges["portscan.sampled_evicted"] > 0


def test_portscan_sampled_silence_names_nobody() -> None:
    from flowcep_portscan import SPEC

    udp = [make_flow("192.0.2.32", f"10.30.0.{i}", 6881, proto="udp", packets=1, octets=80,
                     end_ms=BASE + 1000 + i * 100, sport=6881) for i in range(1, 41)]
    pings = [make_flow("192.0.2.34", f"10.40.0.{i}", proto="icmp", packets=1, icmpTypeCodeIPv4=8 * 256,
                       end_ms=BASE + 9000 + i * 100) for i in range(1, 41)]
    assert _rules(run_detector(SPEC, udp + pings)) == [
        ("portscan-horizontal", "192.0.2.32"), ("portscan-sweep", "192.0.2.34")]
    assert run_detector(SPEC, _sampled(udp + pings, 10)) == []


def test_portscan_sampled_scans_are_still_found_and_say_so() -> None:
    from flowcep_portscan import SPEC

    syn = [make_flow("192.0.2.77", "10.1.0.5", 1000 + p, packets=1, flags="S", end_ms=BASE + 2000 + p * 50)
           for p in range(20)]
    fin = [make_flow("192.0.2.78", "10.1.0.6", 2000 + p, packets=1, flags="F", end_ms=BASE + 4000 + p * 50)
           for p in range(3)]
    events = run_detector(SPEC, _sampled(syn + fin, 10))
    assert _rules(events) == [("portscan-flags", "192.0.2.78"), ("portscan-vertical", "192.0.2.77")]
    assert {e["flowcep"]["fields"]["sampling_interval"] for e in events} == {10}
    # unsampled alerts carry no such field
    assert all("sampling_interval" not in e["flowcep"].get("fields", {}) for e in run_detector(SPEC, syn + fin))


# -- volumetric ---------------------------------------------------------------------------------

def _syn_flood(per_second: int, seconds: int = 3) -> list[dict[str, Any]]:
    return [make_flow(f"198.18.{n % 200}.{n % 250 + 1}", "10.9.0.80", 80, packets=1, flags="S",
                      end_ms=BASE + 1000 * s + n, sport=1024 + n)
            for s in range(1, seconds + 1) for n in range(per_second)]


def test_volumetric_sampled_rates_are_estimated() -> None:
    from flowcep_volumetric import SPEC

    flood = _syn_flood(12)  # 12 SYNs a second seen, 120 estimated at 1 in 10
    assert run_detector(SPEC, flood) == []
    events = run_detector(SPEC, _sampled(flood, 10))
    assert [(e["rule"]["id"], e["destination"]["ip"]) for e in events] == [("volumetric-syn-flood", "10.9.0.80")]
    assert events[0]["flowcep"]["fields"]["sampling_interval"] == 10
    udp = [make_flow("192.0.2.90", "10.9.0.53", 9999, proto="udp", packets=60, octets=60 * 500,
                     end_ms=BASE + 1000 + 100 * i) for i in range(30)]  # 600 packets a second seen
    assert run_detector(SPEC, udp) == []
    assert _rules(run_detector(SPEC, _sampled(udp, 10))) == [("volumetric-udp-flood", "192.0.2.90")]
    # counters the input already multiplied (apply_sampling) are not multiplied again
    assert run_detector(SPEC, _sampled(udp, 10, **{"flowcep.sampling_applied": True})) == []


def test_volumetric_sampled_connections_are_no_syn_flood() -> None:
    """A load generator's completed connections to one port, sampled: the lone SYNs reach the
    estimated rate, but the sampled data segments of the same connections outnumber them."""
    from flowcep_volumetric import SPEC

    lone_syns = _syn_flood(12)
    data = [make_flow("192.0.2.15", "10.9.0.80", 80, packets=1, flags="PA", end_ms=BASE + 1000 * s + n,
                      sport=30000 + 100 * s + n) for s in range(1, 4) for n in range(30)]
    records = sorted(lone_syns + data, key=lambda r: r["flowEndMilliseconds"])
    assert run_detector(SPEC, _sampled(records, 10)) == []
    # so few sampled SYNs that the estimate rests on a handful of records: withheld too
    assert run_detector(SPEC, _sampled(_syn_flood(1, seconds=3), 100)) == []
    assert _rules(run_detector(SPEC, _sampled(_syn_flood(4, seconds=3), 100))) == [("volumetric-syn-flood", None)]


def test_volumetric_sampled_unasked_synacks_are_withheld() -> None:
    from flowcep_volumetric import SPEC

    synacks = [make_flow(f"203.0.113.{n % 20 + 1}", "10.9.0.7", 50000 + n, sport=80, packets=1, flags="SA",
                         end_ms=BASE + 1000 + n * 10) for n in range(80)]
    assert [e["rule"]["id"] for e in run_detector(SPEC, synacks)] == ["volumetric-synack-reflection"]
    assert run_detector(SPEC, _sampled(synacks, 10)) == []


# -- multistage ---------------------------------------------------------------------------------

@pytest.mark.parametrize("rate,expected", [(None, ["multistage-tcp-syn-scan"]), (10, [])])
def test_multistage_scan_stage_reads_unsampled_records_only(rate: int | None, expected: list[str]) -> None:
    pytest.importorskip("flowcep_plugin.engine.detector")
    from flowcep_multistage import SPEC

    scan = [make_flow("192.0.2.66", f"10.50.0.{i}", 80, packets=1, flags="S", end_ms=BASE + 1000 + i * 100)
            for i in range(1, 41)]
    events = run_detector(SPEC, _sampled(scan, rate) if rate else scan)
    assert sorted({e["rule"]["id"] for e in events}) == expected
