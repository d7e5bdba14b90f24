"""ACK-type scans (nmap -sA, -sW, -sM) and the benign records that look like their probes.

The record shapes are quoted from ``flowcep dump`` of real captures (tests/fixtures/realtools,
PROVENANCE.md there), in the order of ``flowcep_plugin.testing.METER_FIELDS``; the tests then
vary only addresses and ports, to count targets.
"""

from __future__ import annotations

from flowcep_portscan import SPEC
from flowcep_portscan.probes import ack_probe

from flowcep_plugin.testing import meter_records, run_detector

T0 = 1796418701980
# nmap_ack_top100.pcap: a bare ACK (0x10) answered by a bare RST (0x04), 40 bytes each way
ACK_PROBE = (T0, T0, "203.0.113.66", "198.51.100.10", 65108, 80, 6, 1, 40, 16, 1, 40, 4)
# nmap_maimon_top100.pcap: FIN+ACK (0x11) answered by RST
MAIMON_PROBE = (T0, T0, "203.0.113.66", "198.51.100.10", 65181, 21, 6, 1, 40, 17, 1, 40, 4)
# benign_keepalive_dead_midstream.pcap: a keepalive of a connection the server forgot, 52 bytes
# (timestamps option), answered by RST: the same shape as a probe, to port 80 of each server
KEEPALIVE_DEAD = (T0, T0, "192.0.2.31", "198.51.100.40", 44219, 80, 6, 1, 52, 16, 1, 40, 4)


def _vary(row: tuple[object, ...], n: int, *, host: bool = False, sport: int | None = None) -> list[tuple[object, ...]]:
    """``n`` copies of ``row``, each to another port (or another host), 10 ms apart."""
    out = []
    for k in range(n):
        r = list(row)
        r[0] = r[1] = T0 + 10 * k
        if host:
            r[3] = f"198.51.100.{10 + k}"
        else:
            r[5] = 20 + k
        if sport is not None:
            r[4] = sport
        out.append(tuple(r))
    return out


def _alerts(rows: list[tuple[object, ...]]) -> list[tuple[str, str, object]]:
    events = run_detector(SPEC, meter_records(rows))
    return [(e["rule"]["id"], e["source"]["ip"], e["destination"]["ip"]) for e in events]


def test_ack_and_maimon_probes_to_15_ports_are_an_ack_scan() -> None:
    assert _alerts(_vary(ACK_PROBE, 15)) == [("portscan-ack", "203.0.113.66", "198.51.100.10")]
    assert _alerts(_vary(MAIMON_PROBE, 15)) == [("portscan-ack", "203.0.113.66", "198.51.100.10")]
    assert _alerts(_vary(ACK_PROBE, 14)) == []


def test_dead_keepalives_to_many_servers_accuse_nobody() -> None:
    """One port on each of 40 servers (a client whose connections the servers forgot)."""
    assert _alerts(_vary(KEEPALIVE_DEAD, 40, host=True)) == []


def test_a_servers_late_acks_to_a_clients_ports_are_not_probes() -> None:
    """A web server's ACKs of connections a NAT gateway forgot: from port 80 to 30 ephemeral
    ports of one address, every one answered by RST."""
    rows = []
    for k in range(30):
        rows.append((T0 + k, T0 + k, "198.51.100.10", "192.0.2.50", 80, 40000 + k, 6, 1, 52, 16, 1, 40, 4))
    assert _alerts(rows) == []


def test_what_is_not_an_ack_probe() -> None:
    assert ack_probe(1, 0x10, 1, 0x04, 65108, 80)
    assert ack_probe(1, 0x11, 1, 0x04, 65108, 80)
    assert not ack_probe(1, 0x10, 1, 0x10, 65108, 80)  # answered by ACK: a live connection mid-stream
    assert not ack_probe(1, 0x10, 1, 0x14, 65108, 80)  # RST+ACK answers a SYN, not a bare ACK
    assert not ack_probe(1, 0x18, 1, 0x04, 65108, 80)  # data (PSH): a connection's payload
    assert not ack_probe(1, 0x10, 0, 0, 65108, 80)  # unanswered (filtered, or a uniflow)
    assert not ack_probe(1, 0x10, 1, -1, 65108, 80)  # no reverse flags
    assert not ack_probe(3, 0x10, 3, 0x04, 65108, 80)  # more than a retransmitted probe
    assert not ack_probe(1, 0x10, 2, 0x04, 65108, 80)  # more answers than probes
    assert not ack_probe(1, 0x10, 1, 0x04, 443, 51000)  # a service's ACK to a client's port
    assert not ack_probe(1, 0x10, 1, 0x04, 51000, 49152)  # to an ephemeral port


def test_an_active_timeout_split_is_not_a_probe() -> None:
    """The middle of a live connection (benign_midstream_sessions.pcap at active_timeout 5 s):
    ACK and PSH both ways, many packets."""
    rows = [(T0 + k, T0 + k + 5000, "192.0.2.36", "198.51.100.20", 51000 + k, 22, 6, 12, 1400, 24, 10, 2900, 24)
            for k in range(20)]
    assert _alerts(rows) == []
