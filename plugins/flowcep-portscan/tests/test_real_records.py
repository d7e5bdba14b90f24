"""Port scan detector on records as FlowCEP's pcap meter produces them from real captures.

Each excerpt below is copied from ``flowcep run`` output on a capture of ../shared/data/traces
(the file is named; its PROVENANCE.md says where it comes from), one tuple per record in the
order of ``FIELDS``. They pin the direction and probe rules to real traffic, not to shapes
we made up.
"""

from __future__ import annotations

from flowcep_portscan import SPEC

from flowcep_plugin.testing import run_detector

FIELDS = ("flowStartMilliseconds", "flowEndMilliseconds", "sourceIPv4Address", "destinationIPv4Address",
          "sourceTransportPort", "destinationTransportPort", "protocolIdentifier", "packetDeltaCount",
          "octetDeltaCount", "tcpControlBits", "reversePacketDeltaCount", "reverseOctetDeltaCount",
          "reverseTcpControlBits")


def records(rows: list[tuple[object, ...]]) -> list[dict[str, object]]:
    return [dict(zip(FIELDS, row, strict=True)) for row in rows]


# ncsascan_backscatter.pcap, first 20 TCP records: 202.229.120.98, a SYN-flood victim, answers
# spoofed SYNs with SYN-ACKs (reverse flags 0x12) to 192.150.186/187.x, some of which reset (0x04).
# The meter orients each record initiator -> responder: the spoofed "initiator" sent nothing.
BACKSCATTER = [
    (1237106706081, 1237106706081, '192.150.187.221', '202.229.120.98', 2155, 80, 6, 0, 0, 0, 1, 44, 18),
    (1237106707014, 1237106707014, '192.150.186.23', '202.229.120.98', 4647, 80, 6, 0, 0, 0, 1, 44, 18),
    (1237106735157, 1237106735159, '192.150.186.103', '202.229.120.98', 5392, 80, 6, 1, 40, 4, 1, 44, 18),
    (1237106737856, 1237106737856, '192.150.186.187', '202.229.120.98', 3614, 80, 6, 0, 0, 0, 1, 44, 18),
    (1237106756985, 1237106756988, '192.150.186.52', '202.229.120.98', 216, 80, 6, 1, 40, 4, 1, 44, 18),
    (1237106768611, 1237106768611, '192.150.187.109', '202.229.120.98', 2984, 80, 6, 0, 0, 0, 1, 44, 18),
    (1237106797064, 1237106797065, '192.150.187.250', '202.229.120.98', 7974, 80, 6, 1, 40, 4, 1, 44, 18),
    (1237106797333, 1237106797333, '192.150.187.205', '202.229.120.98', 3002, 80, 6, 0, 0, 0, 1, 44, 18),
    (1237106834155, 1237106834155, '192.150.186.237', '202.229.120.98', 2545, 80, 6, 0, 0, 0, 1, 44, 18),
    (1237106835394, 1237106835394, '192.150.186.128', '202.229.120.98', 858, 80, 6, 1, 40, 4, 1, 44, 18),
    (1237106843735, 1237106843735, '192.150.187.213', '202.229.120.98', 1831, 80, 6, 0, 0, 0, 1, 44, 18),
    (1237106878927, 1237106878928, '192.150.186.141', '202.229.120.98', 6779, 80, 6, 1, 40, 4, 1, 44, 18),
    (1237106917013, 1237106917015, '192.150.186.135', '202.229.120.98', 3819, 80, 6, 1, 40, 4, 1, 44, 18),
    (1237106934841, 1237106934841, '192.150.186.23', '202.229.120.98', 4647, 80, 6, 0, 0, 0, 1, 44, 18),
    (1237106945021, 1237106945023, '192.150.186.58', '202.229.120.98', 3801, 80, 6, 1, 40, 4, 1, 44, 18),
    (1237106991724, 1237106991724, '192.150.186.189', '202.229.120.98', 2972, 80, 6, 0, 0, 0, 1, 44, 18),
    (1237107035590, 1237107035590, '192.150.186.26', '202.229.120.98', 3380, 80, 6, 0, 0, 0, 1, 44, 18),
    (1237107048889, 1237107048889, '192.150.187.130', '202.229.120.98', 3728, 80, 6, 0, 0, 0, 1, 44, 18),
    (1237107077315, 1237107077315, '192.150.186.26', '202.229.120.98', 3380, 80, 6, 1, 40, 4, 1, 44, 18),
    (1237107097125, 1237107097125, '192.150.187.196', '202.229.120.98', 1308, 80, 6, 0, 0, 0, 1, 44, 18),
]


# suricata_web_browsing_2.pcap, every TCP record: 192.168.100.67 browses; 13 SYN-only records to
# 8 hosts never got an answer (retries while page loads race), but 7 of those hosts answered
# another connection of the same client.
BROWSING = [
    (1676851076727, 1676851077235, '192.168.100.67', '142.251.208.110', 57510, 443, 6, 12, 1538, 26, 17, 9391, 26),
    (1676851076515, 1676851077370, '192.168.100.67', '34.246.146.48', 57508, 443, 6, 8, 975, 26, 10, 5862, 26),
    (1676851076730, 1676851077441, '192.168.100.67', '34.246.146.48', 57512, 443, 6, 8, 1669, 26, 12, 6304, 26),
    (1676851085276, 1676851085305, '192.168.100.67', '142.251.39.35', 57558, 443, 6, 2, 92, 6, 1, 40, 16),
    (1676851076499, 1676851085491, '192.168.100.67', '142.251.208.110', 57505, 443, 6, 3, 152, 2, 0, 0, 0),
    (1676851076500, 1676851085502, '192.168.100.67', '142.250.201.205', 57506, 443, 6, 3, 152, 2, 0, 0, 0),
    (1676851076514, 1676851085512, '192.168.100.67', '34.246.146.48', 57507, 443, 6, 3, 152, 2, 0, 0, 0),
    (1676851076729, 1676851085726, '192.168.100.67', '142.250.201.205', 57511, 443, 6, 3, 152, 2, 0, 0, 0),
    (1676851077180, 1676851086183, '192.168.100.67', '142.250.201.193', 57515, 443, 6, 3, 152, 2, 0, 0, 0),
    (1676851077331, 1676851086333, '192.168.100.67', '13.233.207.118', 57516, 80, 6, 3, 152, 2, 0, 0, 0),
    (1676851077416, 1676851086411, '192.168.100.67', '142.250.201.193', 57517, 443, 6, 3, 152, 2, 0, 0, 0),
    (1676851077504, 1676851086502, '192.168.100.67', '13.233.207.118', 57519, 80, 6, 3, 152, 2, 0, 0, 0),
    (1676851085511, 1676851094515, '192.168.100.67', '142.251.39.35', 57561, 443, 6, 3, 152, 2, 0, 0, 0),
    (1676851097521, 1676851097929, '192.168.100.67', '34.252.249.214', 57620, 443, 6, 7, 935, 26, 10, 5862, 26),
    (1676851098455, 1676851098815, '192.168.100.67', '142.250.201.205', 57625, 443, 6, 13, 1616, 26, 18, 7566, 26),
    (1676851099832, 1676851100069, '192.168.100.67', '69.16.175.42', 57635, 443, 6, 49, 3002, 26, 90, 100767, 26),
    (1676851099435, 1676851101973, '192.168.100.67', '13.233.207.118', 57632, 80, 6, 41, 3392, 26, 79, 86693, 26),
    (1676851100617, 1676851101998, '192.168.100.67', '13.233.207.118', 57640, 80, 6, 5, 774, 26, 4, 954, 26),
    (1676851102321, 1676851102321, '192.168.100.67', '142.250.186.67', 57651, 443, 6, 1, 52, 2, 0, 0, 0),
    (1676851102593, 1676851102851, '192.168.100.67', '142.250.184.202', 57656, 443, 6, 12, 1605, 26, 16, 6378, 26),
    (1676851102243, 1676851102878, '192.168.100.67', '142.250.186.67', 57650, 443, 6, 44, 3272, 26, 75, 76992, 26),
    (1676851102745, 1676851103110, '192.168.100.67', '142.250.185.238', 57658, 443, 6, 27, 2418, 26, 47, 46110, 26),
    (1676851101784, 1676851103280, '192.168.100.67', '142.250.186.100', 57647, 443, 6, 84, 5990, 26, 151, 145640, 26),
    (1676851088276, 1676851103435, '192.168.100.67', '142.251.39.35', 57558, 443, 6, 9, 1045, 27, 7, 4631, 27),
    (1676851103460, 1676851103460, '142.251.39.35', '192.168.100.67', 443, 57558, 6, 1, 40, 4, 0, 0, 0),
    (1676851103460, 1676851103460, '142.251.39.35', '192.168.100.67', 443, 57558, 6, 1, 40, 4, 0, 0, 0),
    (1676851103460, 1676851103460, '142.251.39.35', '192.168.100.67', 443, 57558, 6, 1, 40, 4, 0, 0, 0),
    (1676851102358, 1676851105365, '192.168.100.67', '142.250.184.202', 57652, 443, 6, 2, 104, 2, 0, 0, 0),
    (1676851102570, 1676851105568, '192.168.100.67', '142.250.186.67', 57655, 443, 6, 2, 104, 2, 0, 0, 0),
    (1676851099434, 1676851108434, '192.168.100.67', '13.233.207.118', 57631, 80, 6, 3, 152, 2, 0, 0, 0),
]


# ndpi_tcp_flag_probes.pcap, every record: 192.168.1.178 probes 192.168.1.2 with a connect (80,
# 443: SYN, ACK, RST = 0x16), SYNs (445, 3389), FIN (3390), NULL (3391) and FIN+PSH+URG (3392);
# the target answers SYN-ACK (0x12) or RST-ACK (0x14).
FLAG_PROBES = [
    (1674583461865, 1674583461866, '192.168.1.178', '192.168.1.2', 56272, 80, 6, 3, 156, 22, 1, 60, 18),
    (1674583461865, 1674583461866, '192.168.1.178', '192.168.1.2', 56273, 443, 6, 3, 156, 22, 1, 60, 18),
    (1674583461880, 1674583461881, '192.168.1.178', '192.168.1.2', 56274, 445, 6, 1, 64, 2, 1, 40, 20),
    (1674583480667, 1674583480668, '192.168.1.178', '192.168.1.2', 43067, 3389, 6, 1, 44, 2, 1, 40, 20),
    (1674583488939, 1674583488940, '192.168.1.178', '192.168.1.2', 62971, 3390, 6, 1, 40, 1, 1, 40, 20),
    (1674583496676, 1674583496676, '192.168.1.178', '192.168.1.2', 57916, 3391, 6, 1, 40, 0, 1, 40, 20),
    (1674583501982, 1674583501983, '192.168.1.178', '192.168.1.2', 63243, 3392, 6, 1, 40, 41, 1, 40, 20),
]


def test_backscatter_victim_is_never_a_scanner() -> None:
    assert run_detector(SPEC, records(BACKSCATTER)) == []
    # the same answers as a NetFlow exporter reports them: uniflows from the victim, SYN-ACK flags
    uni = [dict(r, sourceIPv4Address=r["destinationIPv4Address"], destinationIPv4Address=r["sourceIPv4Address"],
                sourceTransportPort=80, destinationTransportPort=r["sourceTransportPort"],
                packetDeltaCount=1, octetDeltaCount=44, tcpControlBits=0x12,
                reversePacketDeltaCount=0, reverseOctetDeltaCount=0, reverseTcpControlBits=0)
           for r in records(BACKSCATTER)]
    assert run_detector(SPEC, uni) == []
    # and as the meter reported them before it learnt orientation: the victim first, its SYN-ACK
    # and the spoofed host's RST in the reverse fields
    old = [dict(u, reversePacketDeltaCount=1, reverseOctetDeltaCount=40, reverseTcpControlBits=0x04)
           for u in uni]
    assert run_detector(SPEC, old) == []


def test_browsing_with_unanswered_syns_is_not_a_sweep() -> None:
    assert run_detector(SPEC, records(BROWSING)) == []


def test_flag_probes_name_the_prober_and_their_kinds() -> None:
    events = run_detector(SPEC, records(FLAG_PROBES))
    assert [e["rule"]["id"] for e in events] == ["portscan-flags"]
    e = events[0]
    assert e["source"]["ip"] == "192.168.1.178" and e["destination"]["ip"] == "192.168.1.2"
    # the 5-minute window closing at 18:05:00 holds the FIN and NULL probes: two are enough, and
    # the Xmas probe 5 s later does not double the evidence, so it raises no second alert
    assert e["flowcep"]["fields"]["probe_types"] == {"FIN": 1, "NULL": 1}
    assert e["flowcep"]["fields"]["ports"] == [3390, 3391]
    assert e["flowcep"]["window"]["end"] == "2023-01-24T18:05:00.000Z"
    assert e["threat"]["technique"]["id"] == ["T1046"]
    # seven ports probed (connects reset without data count as failed, as in Zeek): with a lower
    # floor the vertical rule sees them too, and never the target answering
    events = run_detector(SPEC, records(FLAG_PROBES), config={"slow_min_targets": 7})
    assert {e["rule"]["id"] for e in events} == {"portscan-flags", "portscan-vertical"}
    assert {e["source"]["ip"] for e in events} == {"192.168.1.178"}
