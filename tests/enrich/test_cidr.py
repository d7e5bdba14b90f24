"""Longest-prefix match: expectations worked out by hand from the prefix lists."""

from __future__ import annotations

import ipaddress
import random

import pytest

from flowcep_plugin.cidr import PrefixTable, address_key, parse_prefix


def test_nested_prefixes_longest_wins():
    table = PrefixTable([
        ("10.0.0.0/8", "internal"),
        ("10.1.0.0/16", "dmz"),
        ("10.1.2.3", "scanner"),
        ("10.1.2.0/24", "lab"),
        ("192.168.0.0/16", "guest"),
    ])
    assert table.lookup("10.200.0.1") == "internal"
    assert table.lookup("10.1.0.0") == "dmz"
    assert table.lookup("10.1.2.2") == "lab"
    assert table.lookup("10.1.2.3") == "scanner"
    assert table.lookup("10.1.2.4") == "lab"
    assert table.lookup("10.1.3.0") == "dmz"  # after the /24 ends, back to its parent
    assert table.lookup("10.2.0.0") == "internal"  # after the /16 ends
    assert table.lookup("10.255.255.255") == "internal"
    assert table.lookup("11.0.0.0") is None
    assert table.lookup("9.255.255.255") is None
    assert table.lookup("192.168.255.255") == "guest"
    assert len(table) == 5


def test_ipv6_and_mapped_ipv4():
    table = PrefixTable([("2001:db8::/32", "doc"), ("2001:db8:1::/48", "doc1"), ("10.0.0.0/8", "ten"),
                         ("::/0", "any6")])
    assert table.lookup("2001:db8:1::5") == "doc1"
    assert table.lookup("2001:db8:2::5") == "doc"
    assert table.lookup("2001:db9::") == "any6"
    assert table.lookup("::ffff:10.1.2.3") == "ten"  # IPv4-mapped -> IPv4 table
    assert table.lookup("11.0.0.1") is None  # ::/0 is IPv6 only


def test_bad_inputs():
    table = PrefixTable([("0.0.0.0/0", "all")])
    assert table.lookup(None) is None
    assert table.lookup("not-an-ip") is None
    assert table.lookup("1.2.3") is None  # inet_pton is strict, unlike inet_aton
    assert table.lookup("255.255.255.255") == "all"
    with pytest.raises(ValueError, match="not an IP address"):
        PrefixTable([("10.0.0.0/33", "x")])
    assert parse_prefix("10.0.0.1/8") == (4, 10 << 24, (11 << 24) - 1)  # host bits cleared
    assert address_key("::1") == (6, 1)


def test_later_duplicate_wins_and_lookup_many():
    table = PrefixTable([("10.0.0.0/8", "a"), ("10.0.0.0/8", "b")])
    assert table.lookup_many(["10.0.0.1", None, "8.8.8.8", "10.0.0.1"]) == ["b", None, None, "b"]


def test_matches_naive_ipaddress_scan():
    rng = random.Random(7)
    prefixes = []
    for i in range(300):
        plen = rng.choice([8, 12, 16, 20, 24, 28, 32])
        addr = ipaddress.ip_address(rng.getrandbits(32) & 0x0AFFFFFF | 0x0A000000)
        prefixes.append((str(ipaddress.ip_network(f"{addr}/{plen}", strict=False)), i))
    nets = [(ipaddress.ip_network(p), v) for p, v in prefixes]
    table = PrefixTable(prefixes)
    addrs = [str(ipaddress.ip_address(rng.getrandbits(32) & 0x0AFFFFFF | 0x0A000000)) for _ in range(2000)]
    addrs += [p.split("/")[0] for p, _ in prefixes]
    for a in addrs:
        ip = ipaddress.ip_address(a)
        best = None
        best_len = -1
        for net, v in nets:  # later duplicates win, as in the table
            if ip in net and net.prefixlen >= best_len:
                best, best_len = v, net.prefixlen
        assert table.lookup(a) == best, a


def test_memo_batch_paths_agree_with_hand_results():
    table = PrefixTable([("10.0.0.0/8", "ten"), ("10.9.0.0/16", "nine"), ("2001:db8::/32", "doc")])
    plain_v4 = ["10.1.1.1", "10.9.3.4", "11.0.0.0", "0.0.0.0", "10.1.1.1"]
    assert table.memo(plain_v4) == {"10.1.1.1": "ten", "10.9.3.4": "nine", "11.0.0.0": None, "0.0.0.0": None}
    mixed = ["10.9.3.4", None, "2001:db8::7", "::ffff:10.9.0.1", "bogus", "1.2.3", "8.8.8.8"]
    assert table.memo(mixed) == {"10.9.3.4": "nine", None: None, "2001:db8::7": "doc",
                                 "::ffff:10.9.0.1": "nine", "bogus": None, "1.2.3": None, "8.8.8.8": None}
    assert PrefixTable().memo(["10.0.0.1", "::1"]) == {"10.0.0.1": None, "::1": None}
