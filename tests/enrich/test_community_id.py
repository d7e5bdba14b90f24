"""Community ID v1 against the specification's published baseline vectors.

The vectors are from corelight/community-id-spec ``baseline/baseline_deflt.json`` (seed 0)
and ``baseline_seed1.json`` (seed 1); for ICMP the baseline lists type and code (or the
counterpart type) in the port columns.
"""

from __future__ import annotations

import base64
import hashlib
import socket
import struct

import pytest

from flowcep_plugin.enrich.community_id import CommunityIdEnricher, community_id, flowcep_register_enrichers
from flowcep_plugin.records import FlowBatch

BASELINE_SEED0 = [
    (58, "fe80::200:86ff:fe05:80da", "fe80::260:97ff:fe07:69ea", 135, 136, "1:dGHyGvjMfljg6Bppwm3bg0LO8TY="),
    (58, "fe80::260:97ff:fe07:69ea", "fe80::200:86ff:fe05:80da", 136, 135, "1:dGHyGvjMfljg6Bppwm3bg0LO8TY="),
    (58, "fe80::260:97ff:fe07:69ea", "fe80::200:86ff:fe05:80da", 135, 136, "1:zavyT/cezQr1fmImYCwYnMXbgck="),
    (58, "fe80::200:86ff:fe05:80da", "fe80::260:97ff:fe07:69ea", 136, 135, "1:zavyT/cezQr1fmImYCwYnMXbgck="),
    (58, "3ffe:501:1800:2345::2", "3ffe:507:0:1:200:86ff:fe05:80da", 3, 0, "1:2ObVBgIn28oZvibYZhZMBgh7WdQ="),
    (58, "3ffe:501:410:0:2c0:dfff:fe47:33e", "3ffe:507:0:1:200:86ff:fe05:80da", 1, 4, "1:hLZd0XGWojozrvxqE0dWB1iM6R0="),
    (58, "3ffe:507:0:1:200:86ff:fe05:80da", "3ffe:501:0:1001::2", 128, 129, "1:+TW+HtLHvV1xnGhV1lv7XoJrqQg="),
    (58, "3ffe:501:0:1001::2", "3ffe:507:0:1:200:86ff:fe05:80da", 129, 128, "1:+TW+HtLHvV1xnGhV1lv7XoJrqQg="),
    (58, "fe80::200:86ff:fe05:80da", "ff02::2", 133, 134, "1:hO+sN4H+MG5MY/8hIrXPqc4ZQz0="),
    (58, "fe80::260:97ff:fe07:69ea", "ff02::1", 134, 133, "1:pkvHqCL88/tg1k4cPigmZXUtL00="),
    (1, "192.168.0.89", "192.168.0.1", 8, 0, "1:X0snYXpgwiv9TZtqg64sgzUn6Dk="),
    (1, "192.168.0.1", "192.168.0.89", 0, 8, "1:X0snYXpgwiv9TZtqg64sgzUn6Dk="),
    (1, "10.0.0.1", "10.0.0.2", 11, 0, "1:YHxtAirCG//0OzkcVAukqKQN9xM="),
    (6, "2001:470:e5bf:dead:4957:2174:e82c:4887", "2607:f8b0:400c:c03::1a", 63943, 25, "1:/qFaeAR+gFe1KYjMzVDsMv+wgU4="),
    (6, "2607:f8b0:400c:c03::1a", "2001:470:e5bf:dead:4957:2174:e82c:4887", 25, 63943, "1:/qFaeAR+gFe1KYjMzVDsMv+wgU4="),
    (132, "192.168.170.8", "192.168.170.56", 7, 7, "1:MP2EtRCAUIZvTw6MxJHLV7N7JDs="),
    (132, "192.168.170.56", "192.168.170.8", 7, 7, "1:MP2EtRCAUIZvTw6MxJHLV7N7JDs="),
    (6, "128.232.110.120", "66.35.250.204", 34855, 80, "1:LQU9qZlK+B5F3KDmev6m5PMibrg="),
    (6, "66.35.250.204", "128.232.110.120", 80, 34855, "1:LQU9qZlK+B5F3KDmev6m5PMibrg="),
    (17, "192.168.1.52", "8.8.8.8", 54585, 53, "1:d/FP5EW3wiY1vCndhwleRRKHowQ="),
    (17, "8.8.8.8", "192.168.1.52", 53, 54585, "1:d/FP5EW3wiY1vCndhwleRRKHowQ="),
    (46, "10.1.12.1", "10.1.12.2", None, None, "1:KHlLkgoJW7ifUTyTSgyVfkFHzKw="),
    (46, "10.1.12.2", "10.1.12.1", None, None, "1:KHlLkgoJW7ifUTyTSgyVfkFHzKw="),
]

BASELINE_SEED1 = [
    (6, "128.232.110.120", "66.35.250.204", 34855, 80, "1:3V71V58M3Ksw/yuFALMcW0LAHvc="),
    (6, "66.35.250.204", "128.232.110.120", 80, 34855, "1:3V71V58M3Ksw/yuFALMcW0LAHvc="),
    (17, "192.168.1.52", "8.8.8.8", 54585, 53, "1:Q9We8WO3piVF8yEQBNJF4uiSVrI="),
    (1, "192.168.0.89", "192.168.0.1", 8, 0, "1:03g6IloqVBdcZlPyX8r0hgoE7kA="),
    (58, "fe80::200:86ff:fe05:80da", "ff02::2", 133, 134, "1:L7Ka0ZMYu+J3bL4ulW2PrqyXNo8="),
    (46, "10.1.12.2", "10.1.12.1", None, None, "1:rYir8gphR31noO9iDRQmF/BteEI="),
]


@pytest.mark.parametrize(("proto", "saddr", "daddr", "sport", "dport", "expected"), BASELINE_SEED0)
def test_baseline_seed0(proto, saddr, daddr, sport, dport, expected):
    assert community_id(saddr, daddr, proto, sport, dport) == expected


@pytest.mark.parametrize(("proto", "saddr", "daddr", "sport", "dport", "expected"), BASELINE_SEED1)
def test_baseline_seed1(proto, saddr, daddr, sport, dport, expected):
    assert community_id(saddr, daddr, proto, sport, dport, seed=1) == expected


def test_spec_byte_layout_by_hand():
    # The README example: both directions order into 10.0.0.1, 127.0.0.1, 1234, 80.
    data = (struct.pack("!H", 0) + socket.inet_aton("10.0.0.1") + socket.inet_aton("127.0.0.1")
            + bytes((6, 0)) + struct.pack("!HH", 1234, 80))
    expected = "1:" + base64.b64encode(hashlib.sha1(data).digest()).decode()
    assert community_id("10.0.0.1", "127.0.0.1", 6, 1234, 80) == expected
    assert community_id("127.0.0.1", "10.0.0.1", 6, 80, 1234) == expected


def test_enricher_on_ipfix_columns():
    rows = [
        # TCP both directions, and a repeated tuple (hashed once, same value).
        {"sourceIPv4Address": "128.232.110.120", "destinationIPv4Address": "66.35.250.204",
         "protocolIdentifier": 6, "sourceTransportPort": 34855, "destinationTransportPort": 80},
        {"sourceIPv4Address": "66.35.250.204", "destinationIPv4Address": "128.232.110.120",
         "protocolIdentifier": 6, "sourceTransportPort": 80, "destinationTransportPort": 34855},
        # ICMP echo reply with type/code in icmpTypeCodeIPv4 (0 * 256 + 0), no ports.
        {"sourceIPv4Address": "192.168.0.1", "destinationIPv4Address": "192.168.0.89",
         "protocolIdentifier": 1, "icmpTypeCodeIPv4": 0},
        # ICMP echo request with type/code only in destinationTransportPort (8 * 256 + 0).
        {"sourceIPv4Address": "192.168.0.89", "destinationIPv4Address": "192.168.0.1",
         "protocolIdentifier": 1, "destinationTransportPort": 8 * 256},
        # IPv6 TCP.
        {"sourceIPv6Address": "2607:f8b0:400c:c03::1a",
         "destinationIPv6Address": "2001:470:e5bf:dead:4957:2174:e82c:4887",
         "protocolIdentifier": 6, "sourceTransportPort": 25, "destinationTransportPort": 63943},
        # TCP without ports: not covered -> None.
        {"sourceIPv4Address": "10.0.0.1", "destinationIPv4Address": "10.0.0.2", "protocolIdentifier": 6},
        # No addresses at all.
        {"protocolIdentifier": 17, "sourceTransportPort": 1, "destinationTransportPort": 2},
    ]
    batch = FlowBatch.from_rows(rows)
    CommunityIdEnricher({"seed": 0}).enrich(batch)
    assert batch.get("network.community_id") == [
        "1:LQU9qZlK+B5F3KDmev6m5PMibrg=",
        "1:LQU9qZlK+B5F3KDmev6m5PMibrg=",
        "1:X0snYXpgwiv9TZtqg64sgzUn6Dk=",
        "1:X0snYXpgwiv9TZtqg64sgzUn6Dk=",
        "1:/qFaeAR+gFe1KYjMzVDsMv+wgU4=",
        None,
        None,
    ]


def test_registration():
    (spec,) = flowcep_register_enrichers()
    assert spec.name == "community-id" and spec.enabled_by_default
    assert spec.config_schema["additionalProperties"] is False
    assert spec.factory({"seed": 1}, None).seed == b"\x00\x01"  # type: ignore[attr-defined]


# -- cross-check against Wireshark's implementation on real captures ------------------------

TSHARK_PCAPS = [
    "data/esnet-scans/masscan_tcp_0_1000_20190821.pcap",  # TCP scan and replies
    "data/suricata/syn_flood_200.pcap",
    "data/zeek/rfb_vnc-scanner.pcap",
    "data/libnetflow9/1.pcap",  # UDP export packets
    "data/akvorado/nfv5.pcap",
]


@pytest.mark.shared
@pytest.mark.tools
def test_matches_tshark_on_real_captures(shared_file, require_tool):
    import subprocess

    tshark = require_tool("tshark")
    rows, expected = [], []
    for rel in TSHARK_PCAPS:
        out = subprocess.run(
            [tshark, "--enable-protocol", "communityid", "-r", str(shared_file(rel)), "-T", "fields",
             "-E", "separator=,", "-e", "ip.src", "-e", "ip.dst", "-e", "ip.proto", "-e", "tcp.srcport",
             "-e", "tcp.dstport", "-e", "udp.srcport", "-e", "udp.dstport", "-e", "communityid"],
            capture_output=True, text=True, timeout=60, check=True).stdout
        for line in out.splitlines():
            src, dst, proto, tsp, tdp, usp, udp, cid = line.split(",")
            if not cid or not src:
                continue
            rows.append({"sourceIPv4Address": src, "destinationIPv4Address": dst,
                         "protocolIdentifier": int(proto),
                         "sourceTransportPort": int(tsp or usp), "destinationTransportPort": int(tdp or udp)})
            expected.append(cid)
    assert len(rows) > 1000
    batch = FlowBatch.from_rows(rows)
    CommunityIdEnricher({"seed": 0}).enrich(batch)
    assert batch.get("network.community_id") == expected


def test_enricher_seed_and_odd_tuples():
    batch = FlowBatch.from_rows([
        {"sourceIPv4Address": "66.35.250.204", "destinationIPv4Address": "128.232.110.120",
         "protocolIdentifier": 6, "sourceTransportPort": 80, "destinationTransportPort": 34855},
        # Mixed families cannot be one flow; unparsable text is no address.
        {"sourceIPv4Address": "10.0.0.1", "destinationIPv6Address": "2001:db8::1",
         "protocolIdentifier": 6, "sourceTransportPort": 1, "destinationTransportPort": 2},
        {"sourceIPv4Address": "10.0.0.300", "destinationIPv4Address": "10.0.0.1",
         "protocolIdentifier": 17, "sourceTransportPort": 1, "destinationTransportPort": 2},
        # Same address both ends: the ports decide the order (2 < 9 either way round).
        {"sourceIPv4Address": "127.0.0.1", "destinationIPv4Address": "127.0.0.1",
         "protocolIdentifier": 17, "sourceTransportPort": 9, "destinationTransportPort": 2},
        {"sourceIPv4Address": "127.0.0.1", "destinationIPv4Address": "127.0.0.1",
         "protocolIdentifier": 17, "sourceTransportPort": 2, "destinationTransportPort": 9},
    ])
    CommunityIdEnricher({"seed": 1}).enrich(batch)
    ids = batch.get("network.community_id")
    assert ids[:3] == ["1:3V71V58M3Ksw/yuFALMcW0LAHvc=", None, None]
    data = (struct.pack("!H", 1) + socket.inet_aton("127.0.0.1") * 2 + bytes((17, 0))
            + struct.pack("!HH", 2, 9))
    assert ids[3] == ids[4] == "1:" + base64.b64encode(hashlib.sha1(data).digest()).decode()
