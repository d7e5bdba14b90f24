"""Malformed NetFlow v5/v9 captures from libnetflow9 and logstash-codec-netflow.

Each must be counted by reason, never raise, and leave the valid parts decoded. The counts
libnetflow9 asserts (test/pcap_tests.cpp, one per bad packet) are given beside ours.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from flowcep_plugin.context import Context
from flowcep_plugin.inputs.ipfix_decode import MessageDecoder

pytestmark = pytest.mark.shared


def decode_pcap(path: Path) -> tuple[int, Context]:
    from scapy.all import UDP, rdpcap

    ctx = Context()
    dec = MessageDecoder(ctx, path.name, transport="udp")
    n = 0
    for pkt in rdpcap(str(path)):
        if UDP in pkt:
            payload = bytes(pkt[UDP].payload)[: pkt[UDP].len - 8]
            n += sum(len(b) for b in dec.decode(payload, "192.0.2.1:6543") if b.stream == "Flow")
    dec.close()
    return n, ctx


@pytest.mark.parametrize("name,reason,count", [
    ("malformed_1.pcap", "malformed-template", 3),  # libnetflow9: 3 malformed packets
    ("malformed_2.pcap", "malformed-template", 16),  # 16
    ("malformed_3.pcap", "malformed-template", 1),  # 1
    ("malformed_5.pcap", "malformed-template", 1),  # 1
    ("malformed-OT.pcap", "malformed-template", 1),
])
def test_libnetflow9_malformed_templates_counted(shared_file, name: str, reason: str, count: int) -> None:
    n, ctx = decode_pcap(shared_file(f"data/libnetflow9/{name}"))
    assert n == 0
    assert ctx.stats.drops[reason] == count
    # the data sets that referred to the rejected templates are counted too, not lost silently
    assert ctx.stats.drops.get("unknown-template", 0) >= 1


def test_libnetflow9_short_flowset_after_bad_options_template(shared_file) -> None:
    # one packet: an options template with 0 bytes of options (rejected), then a flowset of
    # length 3 (< 4, stops the packet). libnetflow9 counts the packet once; we count each.
    n, ctx = decode_pcap(shared_file("data/libnetflow9/malformed_6.pcap"))
    assert n == 0
    assert ctx.stats.drops == {"malformed-template": 1, "malformed-set": 1}


def test_libnetflow9_zero_length_flowset_at_end_is_padding(shared_file) -> None:
    # malformed_4: templates, an options template and its data, then 4 zero bytes (flowset id 0,
    # length 0). libnetflow9 calls the packet malformed; nothing in it is lost, and Palo Alto
    # pads whole datagrams with zeros the same way, so we note the padding and keep the rest.
    n, ctx = decode_pcap(shared_file("data/libnetflow9/malformed_4.pcap"))
    assert ctx.stats.gauges["input.option_records"] == 1
    assert ctx.stats.gauges["input.v9_zero_padding"] == 1
    assert not ctx.stats.drops


def test_libnetflow9_valid_capture(shared_file) -> None:
    n, ctx = decode_pcap(shared_file("data/libnetflow9/1.pcap"))
    assert n == 2 and ctx.stats.gauges["input.option_records"] == 2  # 2 data + 2 option records
    assert not ctx.stats.drops


def test_libnetflow9_fuzz_corpus_never_raises(shared_file) -> None:
    corpus = shared_file("data/libnetflow9/fuzz-corpus")
    ctx = Context()
    dec = MessageDecoder(ctx, "corpus", transport="udp")
    files = sorted(p for p in corpus.iterdir() if p.is_file())
    assert len(files) >= 10
    for p in files:
        dec.decode(p.read_bytes(), p.name)
    dec.close()
    assert sum(ctx.stats.drops.values()) >= len(files) // 2


@pytest.mark.parametrize("name,records", [
    ("netflow5_test_invalid01.dat", 0),  # count 55582
    ("netflow5_test_invalid02.dat", 0),  # count 163 > 30
])
def test_logstash_invalid_v5(shared_file, name: str, records: int) -> None:
    ctx = Context()
    dec = MessageDecoder(ctx, name, transport="udp")
    out = dec.decode(shared_file(f"data/logstash-netflow/{name}").read_bytes(), "e")
    assert sum(len(b) for b in out) == records
    assert ctx.stats.drops == {"malformed-message": 1}


def test_logstash_invalid_v9_decodes_what_is_sound(shared_file) -> None:
    ctx = Context()
    dec = MessageDecoder(ctx, "invalid01", transport="udp")
    data = shared_file("data/logstash-netflow/netflow9_test_invalid01.dat").read_bytes()
    out = [b for b in dec.decode(data, "e") if b.stream == "Flow"]
    rows = [r for b in out for r in b.rows()]
    # the two flow records (one IPv6, one IPv4) decode; logstash's spec expects the same two
    assert sorted(r.get("sourceIPv4Address") or r.get("sourceIPv6Address") for r in rows) == [
        "192.168.0.1", "2001:44b8:1118:7200::10"]
    assert [r["destinationTransportPort"] for r in rows if "sourceIPv4Address" in r] == [55575]


def test_v5_softflowd_concatenated_datagrams(shared_file) -> None:
    ctx = Context()
    dec = MessageDecoder(ctx, "nf5", transport="udp")
    out = dec.decode(shared_file("data/logstash-netflow/netflow5.dat").read_bytes(), "e")
    assert sum(len(b) for b in out) == 30  # PROVENANCE: 12 datagrams, 30 flows
    assert not ctx.stats.drops
