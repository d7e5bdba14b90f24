"""Biflows whose evidence says the reverse side opened the conversation are turned round in the
sanitiser (flowcep_plugin/biflow.py): one case per evidence, its mirror that keeps, the
ambiguous records that stay, uniflows that are never touched, and forged fields that can do no
more than a swap of the record's own fields."""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
import pytest

from flowcep_plugin.biflow import REORIENTED, Reorienter, forward_name, swap_pairs
from flowcep_plugin.elements import default_registry
from flowcep_plugin.records import VALUES, ArrayPart, Columns, FlowBatch, array_values
from flowcep_plugin.sanitize import Sanitizer
from flowcep_plugin.stats import Stats

SYN, RST, ACK, PSH, FIN = 0x02, 0x04, 0x10, 0x08, 0x01
T0 = 1_700_000_000_000
VICTIM, SCANNER = "198.51.100.10", "203.0.113.66"


def record(**over: Any) -> dict[str, Any]:
    """A softflowd -b record of a SYN probe answered by SYN+ACK, lower address first: the
    scanner (higher address) is the reverse side."""
    rec: dict[str, Any] = {
        "sourceIPv4Address": VICTIM, "destinationIPv4Address": SCANNER,
        "sourceTransportPort": 443, "destinationTransportPort": 48597, "protocolIdentifier": 6,
        "packetDeltaCount": 1, "octetDeltaCount": 44, "tcpControlBits": SYN | ACK,
        "reversePacketDeltaCount": 2, "reverseOctetDeltaCount": 84, "reverseTcpControlBits": SYN,
        "ingressInterface": 3, "egressInterface": 7,
        "sourceMacAddress": "02:00:00:00:00:0a", "destinationMacAddress": "02:00:00:00:00:42",
        "flowStartMilliseconds": T0, "flowEndMilliseconds": T0 + 5,
    }
    rec.update(over)
    return {k: v for k, v in rec.items() if v is not ...}


def clean(*records: dict[str, Any]) -> tuple[FlowBatch, Stats]:
    stats = Stats()
    out = Sanitizer(default_registry(), stats).clean(FlowBatch.from_rows(list(records), source="udp:test"))
    return out, stats


def turned(rec: dict[str, Any]) -> dict[str, Any]:
    """``rec`` with every forward/reverse and source/destination/ingress/egress pair swapped."""
    out = dict(rec)
    for a, b in swap_pairs(list(rec)):
        out[a], out[b] = rec.get(b), rec.get(a)
    return {k: v for k, v in out.items() if v is not None}


def reoriented(stats: Stats) -> dict[str, int]:
    return {k: v for k, v in stats.gauges.items() if k.startswith(REORIENTED)}


def test_names_and_pairs() -> None:
    assert forward_name("reverseTcpControlBits") == "tcpControlBits"
    assert forward_name("reverseInitialTCPFlags") == "initialTCPFlags"
    assert forward_name("reverseHTTPRequestURL") == "HTTPRequestURL"
    assert forward_name("reverse") is None and forward_name("reversed") is None
    pairs = swap_pairs(list(record(reverseIngressInterface=1, reverseEgressInterface=2)))
    assert ("tcpControlBits", "reverseTcpControlBits") in pairs
    assert ("sourceIPv4Address", "destinationIPv4Address") in pairs
    assert ("sourceMacAddress", "destinationMacAddress") in pairs
    # interfaces with reverse elements of their own swap with those, not with each other
    assert ("ingressInterface", "reverseIngressInterface") in pairs
    assert ("ingressInterface", "egressInterface") not in pairs
    assert ("ingressInterface", "egressInterface") in swap_pairs(list(record()))
    assert not any("flowStartMilliseconds" in p for p in swap_pairs(list(record())))


def test_the_handshake_turns_a_reverse_syn_answered_by_syn_ack() -> None:
    rec = record()
    out, stats = clean(rec)
    row = out.row(0)
    assert row == turned(rec)
    assert row["sourceIPv4Address"] == SCANNER and row["destinationIPv4Address"] == VICTIM
    assert row["sourceTransportPort"] == 48597 and row["destinationTransportPort"] == 443
    assert row["tcpControlBits"] == SYN and row["reverseTcpControlBits"] == SYN | ACK
    assert row["packetDeltaCount"] == 2 and row["reversePacketDeltaCount"] == 1
    assert row["ingressInterface"] == 7 and row["egressInterface"] == 3
    assert row["sourceMacAddress"] == "02:00:00:00:00:42"
    assert row["flowStartMilliseconds"] == T0  # one start for the biflow: stays
    assert reoriented(stats) == {REORIENTED: 1, f"{REORIENTED}.handshake": 1}


@pytest.mark.parametrize("forward", [RST | ACK, SYN | ACK | RST])
def test_the_handshake_turns_a_reverse_syn_refused_by_rst_ack(forward: int) -> None:
    out, stats = clean(record(tcpControlBits=forward))
    assert out.row(0)["sourceIPv4Address"] == SCANNER
    assert stats.gauges[f"{REORIENTED}.handshake"] == 1


@pytest.mark.parametrize("fwd, rev", [
    (SYN | ACK | PSH | FIN, SYN | ACK | PSH | FIN),  # completed: SYN and ACK both sides
    (SYN, SYN),  # simultaneous open
    (ACK | PSH, ACK | PSH),  # midstream
    (SYN | ACK, SYN | ACK | RST),
    (RST, ACK),  # a bare RST proves an ACK came first, not which side opened
    (0, SYN),  # forward flags 0 with a packet: not an answer
])
def test_ambiguous_flags_leave_the_record(fwd: int, rev: int) -> None:
    rec = record(tcpControlBits=fwd, reverseTcpControlBits=rev)
    out, stats = clean(rec)
    assert out.row(0) == rec
    assert reoriented(stats) == {}


def test_the_mirror_keeps_and_so_do_other_protocols() -> None:
    fwd_first = record(tcpControlBits=SYN, reverseTcpControlBits=SYN | ACK)
    udp = record(protocolIdentifier=17)  # flags on a UDP record mean nothing
    out, stats = clean(fwd_first, udp)
    assert out.row(0) == fwd_first and out.row(1) == udp
    assert reoriented(stats) == {}


def test_ports_alone_never_turn() -> None:
    rec = record(sourceTransportPort=40000, destinationTransportPort=22, tcpControlBits=ACK | PSH,
                 reverseTcpControlBits=ACK | PSH)
    out, _ = clean(rec)
    assert out.row(0) == rec


def test_one_sided_records_turn_to_their_only_sender() -> None:
    """softflowd -b writes an unanswered probe from the higher address as forward 0 packets."""
    rec = record(packetDeltaCount=0, octetDeltaCount=0, tcpControlBits=0, reversePacketDeltaCount=1,
                 reverseOctetDeltaCount=40, reverseTcpControlBits=SYN)
    echo = record(protocolIdentifier=1, packetDeltaCount=0, octetDeltaCount=0, reversePacketDeltaCount=1,
                  reverseOctetDeltaCount=28, tcpControlBits=..., reverseTcpControlBits=...)
    answered_alone = record(protocolIdentifier=1, reversePacketDeltaCount=0, reverseOctetDeltaCount=0,
                            tcpControlBits=..., reverseTcpControlBits=...)
    out, stats = clean(rec, echo, answered_alone)
    assert out.row(0) == turned(rec) and out.row(0)["sourceIPv4Address"] == SCANNER
    assert out.row(0)["packetDeltaCount"] == 1 and out.row(0)["reversePacketDeltaCount"] == 0
    assert out.row(1) == turned(echo)
    assert out.row(2) == answered_alone
    assert reoriented(stats) == {REORIENTED: 2, f"{REORIENTED}.one-sided": 2}


def test_initial_flags_decide_before_the_cumulative_ones() -> None:
    # cumulative flags are a completed connection on both sides; the first packets are not
    rec = record(tcpControlBits=SYN | ACK | PSH | FIN, reverseTcpControlBits=SYN | ACK | PSH | FIN,
                 initialTCPFlags=SYN | ACK, reverseInitialTCPFlags=SYN)
    mirror = record(tcpControlBits=SYN | ACK, reverseTcpControlBits=SYN,  # handshake says turn
                    initialTCPFlags=SYN, reverseInitialTCPFlags=SYN | ACK)  # first packets: keep
    out, stats = clean(rec, mirror)
    assert out.row(0) == turned(rec)
    assert out.row(0)["initialTCPFlags"] == SYN and out.row(0)["reverseInitialTCPFlags"] == SYN | ACK
    assert out.row(1) == mirror
    assert reoriented(stats) == {REORIENTED: 1, f"{REORIENTED}.initial-flags": 1}


@pytest.mark.parametrize("name, request_, reply", [("IcmpTypeCodeIPv4", 8 << 8, 0),
                                                   ("IcmpTypeCodeIPv6", 128 << 8, 129 << 8)])
def test_icmp_echo_reply_forward_and_request_reverse_turns(name: str, request_: int, reply: int) -> None:
    fwd, rev = name[0].lower() + name[1:], "reverse" + name
    rec = record(protocolIdentifier=1 if "4" in name else 58, tcpControlBits=..., reverseTcpControlBits=...,
                 **{fwd: reply, rev: request_})
    mirror = record(protocolIdentifier=1 if "4" in name else 58, tcpControlBits=..., reverseTcpControlBits=...,
                    **{fwd: request_, rev: reply})
    unreachable = record(protocolIdentifier=1 if "4" in name else 58, tcpControlBits=...,
                         reverseTcpControlBits=..., **{fwd: 3 << 8 | 3, rev: request_})
    out, stats = clean(rec, mirror, unreachable)
    assert out.row(0) == turned(rec) and out.row(0)[fwd] == request_
    assert out.row(1) == mirror and out.row(2) == unreachable
    assert reoriented(stats) == {REORIENTED: 1, f"{REORIENTED}.icmp": 1}


def test_per_direction_start_times() -> None:
    rec = record(tcpControlBits=ACK | PSH, reverseTcpControlBits=ACK | PSH, flowStartMilliseconds=T0 + 3,
                 reverseFlowStartMilliseconds=T0, reverseFlowEndMilliseconds=T0 + 9)
    same = record(tcpControlBits=ACK | PSH, reverseTcpControlBits=ACK | PSH, destinationIPv4Address="192.0.2.9",
                  sourceTransportPort=8443,
                  reverseFlowStartMilliseconds=T0, reverseFlowEndMilliseconds=T0 + 9)
    batch = FlowBatch.from_rows([rec, same], source="udp:test")
    assert batch.event_times() == [T0 + 5, T0 + 5]  # read before: the cache must follow the swap
    stats = Stats()
    out = Sanitizer(default_registry(), stats).clean(batch)
    assert out.row(0) == turned(rec)
    assert out.row(0)["flowStartMilliseconds"] == T0 and out.row(0)["flowEndMilliseconds"] == T0 + 9
    assert out.row(1) == same
    assert out.event_times() == [T0 + 9, T0 + 5]
    assert reoriented(stats) == {REORIENTED: 1, f"{REORIENTED}.start-time": 1}


def test_yafs_start_offset_is_no_pair_and_says_the_forward_side_began() -> None:
    """reverseFlowDeltaMilliseconds (YAF) is the reverse start's offset from the forward one."""
    teach = record(packetDeltaCount=0, reversePacketDeltaCount=1)  # the victim's 443 answers
    done = SYN | ACK | PSH
    began = record(tcpControlBits=done, reverseTcpControlBits=done, reverseFlowDeltaMilliseconds=12)
    unsure = record(tcpControlBits=done, reverseTcpControlBits=done, reverseFlowDeltaMilliseconds=0)
    forced = record(reverseFlowDeltaMilliseconds=12, biflowDirection=2, destinationIPv4Address="192.0.2.9")
    out, stats = clean(teach, began, unsure, forced)
    assert out.row(1) == began  # decided: the known responder does not turn it
    assert out.row(2) == turned(unsure)
    assert out.row(3)["reverseFlowDeltaMilliseconds"] == 12 and "flowDeltaMilliseconds" not in out.columns
    assert reoriented(stats) == {REORIENTED: 3, f"{REORIENTED}.biflowDirection": 1, f"{REORIENTED}.one-sided": 1,
                                 f"{REORIENTED}.known-responder": 1}


def test_biflow_direction_is_the_strongest_evidence() -> None:
    says_reverse = record(tcpControlBits=SYN, reverseTcpControlBits=SYN | ACK, biflowDirection=2)
    says_forward = record(biflowDirection=1)  # the handshake alone would turn it
    arbitrary = record(biflowDirection=0)  # says nothing: the handshake decides
    out, stats = clean(says_reverse, says_forward, arbitrary)
    assert out.row(0) == {**turned(says_reverse), "biflowDirection": 1}  # ECS must not swap it back
    assert out.row(1) == says_forward
    assert out.row(2) == {**turned(arbitrary), "biflowDirection": 0}
    assert reoriented(stats) == {REORIENTED: 2, f"{REORIENTED}.biflowDirection": 1,
                                 f"{REORIENTED}.handshake": 1}


def test_uniflows_are_never_touched() -> None:
    """No reverse element in the batch: the batch's columns are the very same objects; a
    record whose reverse fields are all absent stays too, whatever biflowDirection says."""
    uni = {"sourceIPv4Address": VICTIM, "destinationIPv4Address": SCANNER, "protocolIdentifier": 6,
           "tcpControlBits": SYN | ACK, "packetDeltaCount": 0, "biflowDirection": 2,
           "flowEndMilliseconds": T0}
    batch = FlowBatch.from_rows([uni], source="udp:test")
    before = dict(batch.columns)
    stats = Stats()
    out = Sanitizer(default_registry(), stats).clean(batch)
    assert all(out.columns[k] is v for k, v in before.items())
    bare = record(reversePacketDeltaCount=None, reverseOctetDeltaCount=None, reverseTcpControlBits=None,
                  biflowDirection=2)
    out2, stats2 = clean({**bare, "reverseIpClassOfService": 0}, bare)
    assert out2.row(0)["sourceIPv4Address"] == SCANNER  # one reverse value: a biflow
    assert out2.row(1) == {k: v for k, v in bare.items() if v is not None}
    assert reoriented(stats) == {} and stats2.gauges[REORIENTED] == 1


def test_a_forged_record_can_do_no_more_than_a_swap() -> None:
    """A hostile exporter sets biflowDirection 2 (or forges a handshake) on records: each is
    turned into exactly its own swap: no record dropped or moved, no value lost, made up or
    taken from another record; a record that claims biflowDirection 1 stays as sent."""
    recs = [record(biflowDirection=2, sourceTransportPort=1000 + i, octetDeltaCount=i) for i in range(5)]
    recs.append(record(biflowDirection=1, tcpControlBits=SYN, reverseTcpControlBits=SYN | ACK))
    recs.append(record(biflowDirection=2, packetDeltaCount=0, reversePacketDeltaCount=0))
    recs.append(record(biflowDirection=7, tcpControlBits=SYN, reverseTcpControlBits=SYN | ACK))
    out, stats = clean(*recs)
    assert out.length == len(recs)
    for i, rec in enumerate(recs):
        row = out.row(i)
        assert Counter(map(repr, row.values())) - Counter(map(repr, rec.values())) <= Counter(
            {"1": 1}), (i, row)  # only biflowDirection 2 -> 1 is new
        if rec.get("biflowDirection") == 2:
            assert row == {**turned(rec), "biflowDirection": 1}
        else:
            assert row == rec
    assert stats.gauges[REORIENTED] == 6


def test_decoder_arrays_are_swapped_as_arrays() -> None:
    """The IPFIX decoder's numpy columns stay arrays (their lists made only when read)."""
    n = 4
    cols = Columns(None, n)
    data = {
        "sourceTransportPort": np.array([443, 80, 22, 53], dtype=np.uint16),
        "destinationTransportPort": np.array([40000, 40001, 40002, 40003], dtype=np.uint16),
        "protocolIdentifier": np.array([6, 6, 6, 17], dtype=np.uint8),
        "tcpControlBits": np.array([SYN | ACK, SYN, RST | ACK, 0], dtype=np.uint16),
        "reverseTcpControlBits": np.array([SYN, SYN | ACK, SYN, 0], dtype=np.uint16),
        "packetDeltaCount": np.array([1, 1, 1, 1], dtype=np.uint64),
        "reversePacketDeltaCount": np.array([1, 1, 1, 1], dtype=np.uint64),
        "flowEndMilliseconds": np.full(n, T0, dtype=np.uint64),
    }
    for name, arr in data.items():
        cols.set_arrays(name, [ArrayPart(arr, array_values, VALUES)])
    stats = Stats()
    out = Sanitizer(default_registry(), stats).clean(FlowBatch(cols, n, source="ipfix"))
    assert out.array("tcpControlBits") is not None and out.array("sourceTransportPort") is not None
    # the UDP record has no evidence: its exporter just wrote two responders first (service port)
    assert out.columns["sourceTransportPort"] == [40000, 80, 40002, 40003]
    assert out.columns["destinationTransportPort"] == [443, 40001, 22, 53]
    assert out.columns["tcpControlBits"] == [SYN, SYN, SYN, 0]
    assert out.columns["reverseTcpControlBits"] == [SYN | ACK, SYN | ACK, RST | ACK, 0]
    assert data["tcpControlBits"].tolist() == [SYN | ACK, SYN, RST | ACK, 0]  # the decoder's own untouched
    assert reoriented(stats) == {REORIENTED: 3, f"{REORIENTED}.handshake": 2, f"{REORIENTED}.service-port": 1}


def test_a_known_responder_turns_the_completed_connections_of_its_client() -> None:
    """softflowd -b of a browser (suricata_web_browsing_2.pcap): its unanswered SYNs are one-sided
    records (turned), its completed connections to the same servers have SYN and ACK on both
    sides (no evidence). Turning only the former showed the browser probing 8 hosts that never
    answered it, and portscan named it a horizontal scanner."""
    client, server = "192.168.100.67", "142.250.186.67"
    probe = record(sourceIPv4Address=server, destinationIPv4Address=client, sourceTransportPort=443,
                   destinationTransportPort=57651, packetDeltaCount=0, octetDeltaCount=0, tcpControlBits=0,
                   reversePacketDeltaCount=1, reverseTcpControlBits=SYN)
    done = SYN | ACK | PSH
    completed = record(sourceIPv4Address=server, destinationIPv4Address=client, sourceTransportPort=443,
                       destinationTransportPort=57650, tcpControlBits=done, reverseTcpControlBits=done,
                       packetDeltaCount=75, reversePacketDeltaCount=44)
    other_port = {**completed, "sourceTransportPort": 8443, "destinationTransportPort": 5000}  # no evidence
    stats = Stats()
    san = Sanitizer(default_registry(), stats)
    first = san.clean(FlowBatch.from_rows([completed, probe], source="udp:test", exporter="e1"))
    assert first.row(0) == turned(completed) and first.row(1) == turned(probe)  # same batch
    later = san.clean(FlowBatch.from_rows([completed, other_port], source="udp:test", exporter="e1"))
    assert later.row(0) == turned(completed) and later.row(1) == other_port
    elsewhere = san.clean(FlowBatch.from_rows([completed], source="udp:test", exporter="e2"))
    assert elsewhere.row(0) == completed  # another exporter's records are judged on their own
    assert reoriented(stats) == {REORIENTED: 3, f"{REORIENTED}.one-sided": 1,
                                 f"{REORIENTED}.known-responder": 2}


def test_known_responders_both_ways_say_nothing_and_the_table_is_bounded() -> None:
    a, b = "192.0.2.1", "192.0.2.2"
    # a answered b on 8080, and b answered a on 5000: a record between a:8080 and b:5000 says nothing
    one = record(sourceIPv4Address=a, destinationIPv4Address=b, sourceTransportPort=8080,
                 destinationTransportPort=5000, packetDeltaCount=0, reversePacketDeltaCount=1)
    two = record(sourceIPv4Address=b, destinationIPv4Address=a, sourceTransportPort=5000,
                 destinationTransportPort=8080, packetDeltaCount=0, reversePacketDeltaCount=1)
    done = SYN | ACK
    both = record(sourceIPv4Address=a, destinationIPv4Address=b, sourceTransportPort=8080,
                  destinationTransportPort=5000, tcpControlBits=done, reverseTcpControlBits=done)
    out, stats = clean(one, two, both)
    assert out.row(2) == both
    stats = Stats()
    reorienter = Reorienter(stats, limit=2)
    for port in (1, 2, 3):
        reorienter(FlowBatch.from_rows([record(sourceTransportPort=port, packetDeltaCount=0)], source="s"))
    assert stats.gauges["sanitize.biflow_responders_evicted"] == 1
    assert len(reorienter._responders) == 2
    late = FlowBatch.from_rows([record(sourceTransportPort=1, destinationTransportPort=1, tcpControlBits=done,
                                       reverseTcpControlBits=done)], source="s")
    reorienter(late)  # port 1 was the oldest: forgotten
    assert late.row(0)["sourceIPv4Address"] == VICTIM


def test_service_ports_are_read_only_for_an_exporter_that_wrote_a_responder_first() -> None:
    """Password guessing on softflowd -b: every connection completes (SYN and ACK both ways),
    the server's port 22 first. Its ports are read only once the exporter is proven to write
    responders first, and only privileged -> unprivileged turns."""
    done = SYN | ACK | PSH | FIN
    ssh = record(sourceTransportPort=22, destinationTransportPort=45568, tcpControlBits=done,
                 reverseTcpControlBits=done)
    stats = Stats()
    san = Sanitizer(default_registry(), stats)
    before = san.clean(FlowBatch.from_rows([ssh], source="udp:test", exporter="e1"))
    assert before.row(0) == ssh  # nothing proven yet: ports are not read
    proof = record(destinationIPv4Address="192.0.2.50", packetDeltaCount=0, reversePacketDeltaCount=1)
    high = {**ssh, "sourceTransportPort": 2222}
    both_low = {**ssh, "destinationTransportPort": 1022}
    mirror = {**ssh, "sourceTransportPort": 45568, "destinationTransportPort": 22}
    out = san.clean(FlowBatch.from_rows([ssh, proof, high, both_low, mirror], source="udp:test", exporter="e1"))
    assert out.row(0) == turned(ssh) and out.row(0)["sourceIPv4Address"] == SCANNER
    assert [out.row(i) for i in (2, 3, 4)] == [high, both_low, mirror]
    later = san.clean(FlowBatch.from_rows([ssh], source="udp:test", exporter="e1"))
    assert later.row(0) == turned(ssh)  # remembered
    other = san.clean(FlowBatch.from_rows([ssh], source="udp:test", exporter="e2"))
    assert other.row(0) == ssh
    assert reoriented(stats) == {REORIENTED: 3, f"{REORIENTED}.one-sided": 1, f"{REORIENTED}.service-port": 2}


def test_flowceps_own_meter_turns_nothing(tmp_path: Any) -> None:
    """The pcap meter writes the initiator first: no record of a real capture is turned."""
    from pathlib import Path

    from flowcep_plugin.api import run

    fixtures = Path(__file__).parent / "fixtures" / "realtools"
    for name in ("nmap_syn_top100.pcap", "benign_midstream_sessions.pcap", "nmap_ping_sweep.pcap"):
        result = run(inputs=[f"pcap:{fixtures / name}"], outputs=[])
        assert not any(k.startswith(REORIENTED) for k in result.stats["gauges"]), name


def test_an_exporter_proven_by_icmp_alone_has_its_ports_read_and_the_table_is_bounded(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import flowcep_plugin.biflow as biflow

    ping = record(protocolIdentifier=1, packetDeltaCount=0, reversePacketDeltaCount=1, tcpControlBits=...,
                  reverseTcpControlBits=..., sourceTransportPort=..., destinationTransportPort=...)
    done = SYN | ACK
    ssh = record(sourceTransportPort=22, destinationTransportPort=45568, tcpControlBits=done,
                 reverseTcpControlBits=done)
    monkeypatch.setattr(biflow, "MAX_TURNING_EXPORTERS", 2)
    stats = Stats()
    reorienter = Reorienter(stats)
    for exporter in ("e1", "e2", "e3"):  # e1 is the least recently proven: forgotten
        reorienter(FlowBatch.from_rows([ping], source="s", exporter=exporter))
    assert stats.gauges["sanitize.biflow_exporters_evicted"] == 1
    batches = {e: FlowBatch.from_rows([ssh], source="s", exporter=e) for e in ("e1", "e3")}
    for b in batches.values():
        reorienter(b)
    assert batches["e1"].row(0) == ssh
    assert batches["e3"].row(0) == turned(ssh)
