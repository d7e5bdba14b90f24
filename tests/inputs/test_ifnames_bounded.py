"""Interface names learnt from options data are bounded per name and over every exporter.

The decoder keeps each exporter's interface names (options records: ingressInterface scope,
interfaceName) to name the interfaces of its flow records. The table was bounded per session
by entries only: an exporter sending options records with new indexes and 60,000-byte names
kept every byte it sent (1,500 messages: 90 MB traced; 65,536 names: 4 GB), and 4,096 sessions
each held their own 65,536 entries. Now names are cut at 255 characters (SNMP's DisplayString)
and the entries of every session together stay under a total; a table that would outgrow it
starts over, the busiest first, counted in ``input.ifnames_cleared``.
"""

from __future__ import annotations

import struct
import tracemalloc

import pytest

from flowcep_plugin.inputs import ipfix_decode

from .test_ipfix_decode import decoder, dset, elements, ip, msg, one, tset

OPTIONS = tset(400, [(10, 4), (82, 0xFFFF)], set_id=3, scope=1)  # ingressInterface; interfaceName
FLOWS = tset(256, [(8, 4), (10, 4)])  # sourceIPv4Address, ingressInterface


def _name_record(index: int, name: bytes) -> bytes:
    return struct.pack(">I", index) + b"\xff" + struct.pack(">H", len(name)) + name


def test_long_names_from_one_exporter_keep_255_characters_each() -> None:
    d, _ = decoder(transport="udp")
    d.decode(msg([OPTIONS, FLOWS]), "r1")
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        for i in range(300):
            name = (b"if%05d-" % i).ljust(60_000, b"x")
            d.decode(msg([dset(400, _name_record(i, name))], seq=i), "r1")
        kept = tracemalloc.get_traced_memory()[0] - base
    finally:
        tracemalloc.stop()
    assert kept < 2_000_000  # 300 x 60 KB = 18 MB before
    b = one(d.decode(msg([dset(256, ip("192.0.2.1") + struct.pack(">I", 299))], seq=300), "r1"))
    assert elements(b.row(0))["ingressInterfaceName"] == "if00299-" + "x" * (255 - 8)


def test_names_over_every_exporter_stay_under_the_total(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ipfix_decode, "_MAX_IFNAMES_TOTAL", 100)
    d, ctx = decoder(transport="udp")
    for s in range(6):  # six exporters of 40 interfaces each: 240 names for a total of 100
        exporter = f"192.0.2.{s + 1}:2055"
        d.decode(msg([OPTIONS, FLOWS]), exporter)
        d.decode(msg([dset(400, *(_name_record(i, b"ge-%d/%d" % (s, i)) for i in range(40)))], seq=0), exporter)
        assert sum(len(x.ifnames) for x in d.sessions.values()) <= 100
        assert d._ifnames_total == sum(len(x.ifnames) for x in d.sessions.values())
    assert ctx.stats.gauges["input.ifnames_cleared"] >= 3
    # the exporter heard last still names its interfaces
    b = one(d.decode(msg([dset(256, ip("198.51.100.1") + struct.pack(">I", 7))], seq=1), "192.0.2.6:2055"))
    assert elements(b.row(0))["ingressInterfaceName"] == "ge-5/7"
    # a session forgotten takes its names out of the total
    d._remove_session(next(iter(d.sessions)))
    assert d._ifnames_total == sum(len(x.ifnames) for x in d.sessions.values())
