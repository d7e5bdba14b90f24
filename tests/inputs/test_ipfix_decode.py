"""MessageDecoder on hand-built IPFIX / NetFlow messages.

Messages are assembled here byte by byte with ``struct`` (not with FlowCEP's writer) and the
expected values are written down by hand, so a decoder bug cannot hide behind a writer bug.
"""

from __future__ import annotations

import socket
import struct
from typing import Any

from flowcep_plugin.context import Context
from flowcep_plugin.elements import Registry
from flowcep_plugin.inputs.ipfix_decode import MessageDecoder
from flowcep_plugin.records import EXPORT_TIME, EXPORT_VERSION, HEADER_COLUMNS, SYS_UPTIME, FlowBatch
from flowcep_plugin.specs import ElementSpec


def msg(sets: list[bytes], seq: int = 0, odid: int = 1, export: int = 1_700_000_000) -> bytes:
    body = b"".join(sets)
    return struct.pack(">HHIII", 10, 16 + len(body), export, seq, odid) + body


def tset(tid: int, fields: list[tuple[int, int] | tuple[int, int, int]], set_id: int = 2,
         scope: int | None = None) -> bytes:
    rec = struct.pack(">HH", tid, len(fields))
    if scope is not None:
        rec += struct.pack(">H", scope)
    for f in fields:
        if len(f) == 3:
            eid, ln, pen = f  # type: ignore[misc]
            rec += struct.pack(">HHI", eid | 0x8000, ln, pen)
        else:
            rec += struct.pack(">HH", f[0], f[1])
    return struct.pack(">HH", set_id, 4 + len(rec)) + rec


def dset(tid: int, *records: bytes, pad: int = 0) -> bytes:
    body = b"".join(records) + bytes(pad)
    return struct.pack(">HH", tid, 4 + len(body)) + body


def decoder(transport: str = "file", **kw: object) -> tuple[MessageDecoder, Context]:
    ctx = Context()
    return MessageDecoder(ctx, "test", transport=transport, **kw), ctx  # type: ignore[arg-type]


def one(batches: list[FlowBatch]) -> FlowBatch:
    """The flow records of ``batches`` as one batch (options records travel apart)."""
    flows = [b for b in batches if b.stream == "Flow"]
    return FlowBatch.concat(flows) if flows else FlowBatch({}, 0)


def ip(s: str) -> bytes:
    return socket.inet_aton(s)


def elements(record: dict[str, Any]) -> dict[str, Any]:
    """A row (or a batch's columns) without the message-header columns every decoded flow
    record carries: for tests about the record's elements (the header columns have tests of
    their own, below and in test_ipfix_tshark.py)."""
    return {k: v for k, v in record.items() if k not in HEADER_COLUMNS}


def test_fixed_template_all_basic_types() -> None:
    d, ctx = decoder()
    fields = [(8, 4), (12, 4), (7, 2), (11, 2), (4, 1), (1, 8), (152, 8), (27, 16), (56, 6),
              (82, 8), (276, 1), (311, 8), (434, 4), (154, 8), (156, 8), (150, 4)]
    ntp_us = ((1_700_000_000 + 2208988800) << 32) | (1 << 31)  # .5 s
    rec = (ip("10.1.2.3") + ip("192.168.0.1") + struct.pack(">HHB", 1234, 80, 6)
           + struct.pack(">Q", 2**40 + 5) + struct.pack(">Q", 1_700_000_000_123)
           + socket.inet_pton(socket.AF_INET6, "2001:db8::7") + bytes.fromhex("0a0b0c0d0e0f")
           + b"eth0\x00\x00\x00\x00" + b"\x02" + struct.pack(">d", 0.25) + struct.pack(">i", -7)
           + struct.pack(">Q", ntp_us) + struct.pack(">Q", ntp_us) + struct.pack(">I", 1_700_000_001))
    b = one(d.decode(msg([tset(300, fields), dset(300, rec, rec)]), "10.0.0.1:5000"))
    assert len(b) == 2
    row = b.row(1)
    assert row == {
        "sourceIPv4Address": "10.1.2.3", "destinationIPv4Address": "192.168.0.1",
        "sourceTransportPort": 1234, "destinationTransportPort": 80, "protocolIdentifier": 6,
        "octetDeltaCount": 2**40 + 5, "flowStartMilliseconds": 1_700_000_000_123,
        "sourceIPv6Address": "2001:db8::7", "sourceMacAddress": "0a:0b:0c:0d:0e:0f",
        "interfaceName": "eth0", "dataRecordsReliability": False, "samplingProbability": 0.25,
        "mibObjectValueInteger": -7, "flowStartMicroseconds": 1_700_000_000_500_000,
        "flowStartNanoseconds": 1_700_000_000_500_000_000, "flowStartSeconds": 1_700_000_001,
        # msg()'s header: IPFIX, export time 1_700_000_000 s; IPFIX headers carry no uptime
        EXPORT_VERSION: 10, EXPORT_TIME: 1_700_000_000_000,
    }
    assert b.exporter == "10.0.0.1:5000/1"
    assert not ctx.stats.drops


def test_reduced_size_encoding_and_odd_lengths() -> None:
    # octetDeltaCount (unsigned64) sent in 4 and 3 bytes; samplingProbability (float64) in 4.
    d, _ = decoder()
    rec = struct.pack(">I", 4_000_000_000) + b"\x01\x00\x02" + struct.pack(">f", 1.5)
    b = one(d.decode(msg([tset(256, [(1, 4), (2, 3), (311, 4)]), dset(256, rec)]), "e"))
    assert elements(b.row(0)) == {"octetDeltaCount": 4_000_000_000, "packetDeltaCount": 65538,
                        "samplingProbability": 1.5}


def test_variable_length_one_and_three_byte_lengths() -> None:
    d, ctx = decoder()
    long_url = "/" + "a" * 300
    rec1 = ip("1.1.1.1") + b"\x03abc" + b"\xff" + struct.pack(">H", len(long_url)) + long_url.encode()
    rec2 = ip("2.2.2.2") + b"\x00" + b"\x01/"
    # 460 = httpRequestHost, 461 = httpRequestTarget: both mapped to FlowCEP's names
    b = one(d.decode(msg([tset(256, [(8, 4), (460, 65535), (461, 65535)]), dset(256, rec1, rec2, pad=2)]), "e"))
    assert elements(b.columns) == {"sourceIPv4Address": ["1.1.1.1", "2.2.2.2"],
                         "HTTPRequestHost": ["abc", ""], "HTTPRequestURL": [long_url, "/"]}
    assert not ctx.stats.drops  # 2 bytes of set padding are not an error


def test_variable_length_past_end_is_counted_and_earlier_records_kept() -> None:
    d, ctx = decoder()
    good = b"\x02hi"
    bad = b"\x10abc"  # claims 16 bytes, 3 present
    b = one(d.decode(msg([tset(256, [(82, 65535)]), dset(256, good, bad)]), "e"))
    assert elements(b.columns) == {"interfaceName": ["hi"]}
    assert ctx.stats.drops == {"malformed-record": 1}


def test_unknown_elements_get_stable_names_and_template_still_decodes() -> None:
    d, _ = decoder()
    fields = [(8, 4), (99, 2, 39499), (4000, 3), (5, 1, 29305)]
    rec = ip("9.9.9.9") + b"\xbe\xef" + b"xyz" + b"\x07"
    b = one(d.decode(msg([tset(256, fields), dset(256, rec)]), "e"))
    assert elements(b.row(0)) == {"sourceIPv4Address": "9.9.9.9", "en39499:id99": b"\xbe\xef",
                        "iana:id4000": b"xyz", "reverseIpClassOfService": 7}


def test_flowmon_and_cesnet_http_elements_and_nul_padding() -> None:
    d, _ = decoder()
    fields = [(1, 16, 39499), (2, 16, 39499), (801, 65535, 8057)]
    rec = b"example.org".ljust(16, b"\0") + b"/index".ljust(16, b"\0") + b"\x04/cgi"
    b = one(d.decode(msg([tset(256, fields), dset(256, rec)]), "e"))
    # The same name twice in one template is kept apart rather than overwritten.
    assert elements(b.row(0)) == {"HTTPRequestHost": "example.org", "HTTPRequestURL": "/index",
                        "HTTPRequestURL#2": "/cgi"}


def test_user_defined_elements_override_registry() -> None:
    reg = Registry([ElementSpec(4242, 7, "myCounter", "unsigned32")])
    ctx = Context()
    d = MessageDecoder(ctx, "t", reg)
    b = one(d.decode(msg([tset(256, [(7, 4, 4242)]), dset(256, struct.pack(">I", 99))]), "e"))
    assert elements(b.row(0)) == {"myCounter": 99}


def test_rfc6313_lists_are_skipped_but_following_fields_decode() -> None:
    d, ctx = decoder()
    # basicList (291) variable length: semantic(1) + field id(2) + len(2) + two 4-byte values
    blist = b"\x03" + struct.pack(">HH", 8, 4) + ip("1.2.3.4") + ip("5.6.7.8")
    rec = ip("10.0.0.1") + bytes([len(blist)]) + blist + struct.pack(">H", 443)
    b = one(d.decode(msg([tset(256, [(8, 4), (291, 65535), (11, 2)]), dset(256, rec)]), "e"))
    assert elements(b.row(0)) == {"sourceIPv4Address": "10.0.0.1", "destinationTransportPort": 443}
    assert not ctx.stats.drops


def test_data_before_template_is_held_and_decoded_later() -> None:
    d, ctx = decoder()
    data = dset(256, ip("3.3.3.3"))
    assert d.decode(msg([data], seq=0), "e") == []
    b = one(d.decode(msg([tset(256, [(8, 4)]), dset(256, ip("4.4.4.4"))], seq=1), "e"))
    assert sorted(b.get("sourceIPv4Address")) == ["3.3.3.3", "4.4.4.4"]
    assert not ctx.stats.drops


def test_held_data_is_bounded_and_counted() -> None:
    d, ctx = decoder(max_buffered_bytes=20)
    for i in range(3):
        d.decode(msg([dset(256 + i, bytes(12))]), "e")
    d.close()
    assert ctx.stats.drops["unknown-template"] == 3


def test_two_exporters_same_template_id_never_mix() -> None:
    d, _ = decoder(transport="udp")
    a = msg([tset(256, [(8, 4)]), dset(256, ip("1.0.0.1"))])
    b = msg([tset(256, [(7, 2), (11, 2)]), dset(256, struct.pack(">HH", 53, 5353))])
    out_a = one(d.decode(a, "10.0.0.1:1000"))
    out_b = one(d.decode(b, "10.0.0.2:1000"))
    # now data only: each exporter's data must use its own template
    out_a2 = one(d.decode(msg([dset(256, ip("1.0.0.2"))], seq=1), "10.0.0.1:1000"))
    out_b2 = one(d.decode(msg([dset(256, struct.pack(">HH", 1, 2))], seq=1), "10.0.0.2:1000"))
    assert elements(out_a.columns) == {"sourceIPv4Address": ["1.0.0.1"]}
    assert elements(out_b.columns) == {"sourceTransportPort": [53], "destinationTransportPort": [5353]}
    assert elements(out_a2.columns) == {"sourceIPv4Address": ["1.0.0.2"]}
    assert elements(out_b2.columns) == {"sourceTransportPort": [1], "destinationTransportPort": [2]}
    assert (out_a2.exporter, out_b2.exporter) == ("10.0.0.1:1000/1", "10.0.0.2:1000/1")


def test_same_exporter_different_observation_domains_never_mix() -> None:
    d, _ = decoder()
    d.decode(msg([tset(256, [(8, 4)])], odid=1), "e")
    d.decode(msg([tset(256, [(7, 2)])], odid=2), "e")
    b1 = one(d.decode(msg([dset(256, ip("7.7.7.7"))], odid=1), "e"))
    b2 = one(d.decode(msg([dset(256, struct.pack(">H", 7))], odid=2), "e"))
    assert elements(b1.columns) == {"sourceIPv4Address": ["7.7.7.7"]}
    assert elements(b2.columns) == {"sourceTransportPort": [7]}


def test_withdrawal_over_tcp_and_ignored_over_udp() -> None:
    for transport, expect_records in (("tcp", 0), ("udp", 1)):
        d, ctx = decoder(transport=transport)
        d.decode(msg([tset(256, [(8, 4)])]), "e")
        withdraw = struct.pack(">HHHH", 2, 8, 256, 0)
        d.decode(msg([withdraw]), "e")
        out = d.decode(msg([dset(256, ip("1.2.3.4"))]), "e")
        assert sum(len(b) for b in out) == expect_records, transport


def test_withdraw_all_templates() -> None:
    d, _ = decoder(transport="tcp")
    d.decode(msg([tset(256, [(8, 4)]), tset(257, [(12, 4)])]), "e")
    d.decode(msg([struct.pack(">HHHH", 2, 8, 2, 0)]), "e")  # template id 2 = all
    assert d.decode(msg([dset(256, ip("1.2.3.4")), dset(257, ip("1.2.3.4"))]), "e") == []


def test_template_redefinition_flushes_pending_records_with_old_layout() -> None:
    d, _ = decoder(transport="udp")
    d.feed(msg([tset(256, [(8, 4)]), dset(256, ip("1.1.1.1"))]), "e")
    d.feed(msg([tset(256, [(7, 2)]), dset(256, struct.pack(">H", 22))]), "e")
    b = d.flush()
    assert [elements(x.columns) for x in b] == [{"sourceIPv4Address": ["1.1.1.1"]}, {"sourceTransportPort": [22]}]


def test_options_template_sampling_and_interface_names_attach_to_exporter_flows() -> None:
    d, ctx = decoder()
    # scope: ingressInterface(10); options: samplingInterval(34), interfaceName(82)
    opt = tset(400, [(10, 4), (34, 4), (82, 65535)], set_id=3, scope=1)
    orec = struct.pack(">II", 3, 100) + b"\x05xe-0/"
    flows = tset(256, [(8, 4), (10, 4)])
    d.decode(msg([opt, dset(400, orec), flows]), "r1")
    b = one(d.decode(msg([dset(256, ip("1.1.1.1") + struct.pack(">I", 3))], seq=1), "r1"))
    assert elements(b.row(0)) == {"sourceIPv4Address": "1.1.1.1", "ingressInterface": 3,
                        "samplingInterval": 100, "ingressInterfaceName": "xe-0/"}
    # another exporter's flows do not inherit r1's options
    d.decode(msg([flows]), "r2")
    b2 = one(d.decode(msg([dset(256, ip("2.2.2.2") + struct.pack(">I", 3))]), "r2"))
    assert "samplingInterval" not in b2.columns and "ingressInterfaceName" not in b2.columns
    assert ctx.stats.gauges["sampling_interval[r1/1]"] == 100


def test_sequence_loss_and_reordering_wraparound_safe() -> None:
    d, ctx = decoder()
    t = tset(256, [(8, 4)])
    rec = ip("1.1.1.1")
    d.decode(msg([t, dset(256, rec, rec)], seq=0xFFFFFFFF), "e")  # next expected: 1 (wrapped)
    d.decode(msg([dset(256, rec)], seq=1), "e")  # in order across the wrap
    assert "input.sequence_lost" not in ctx.stats.gauges
    d.decode(msg([dset(256, rec)], seq=7), "e")  # expected 2: 5 records lost
    assert ctx.stats.gauges["input.sequence_lost"] == 5
    d.decode(msg([dset(256, rec)], seq=3), "e")  # a late message
    assert ctx.stats.gauges["input.sequence_out_of_order"] == 1
    d.decode(msg([dset(256, rec)], seq=8), "e")  # still in step after the late one
    assert ctx.stats.gauges["input.sequence_lost"] == 5
    assert ctx.stats.gauges["sequence_lost[e/1]"] == 5


def test_malformed_messages_are_counted_never_raised() -> None:
    d, ctx = decoder()
    good_t = tset(256, [(8, 4)])
    cases = {
        "truncated header": b"\x00\x0a\x00\x20",
        "length past end": msg([good_t])[:-3],
        "set length past message": msg([struct.pack(">HH", 256, 200) + bytes(8)]),
        "zero-length set": msg([struct.pack(">HH", 256, 0) + bytes(8)]),
        "absurd field count": msg([struct.pack(">HHHH", 2, 8, 300, 60000)]),
        "template id below 256": msg([tset(12, [(8, 4)])]),
        "options scope count 0": msg([tset(301, [(8, 4)], set_id=3, scope=0)]),
        "wrong version": b"\x00\x07" + bytes(30),
    }
    for what, data in cases.items():
        before = sum(ctx.stats.drops.values())
        assert d.decode(data, "e") == [], what
        assert sum(ctx.stats.drops.values()) == before + 1, what
    assert set(ctx.stats.drops) == {"malformed-message", "malformed-set", "malformed-template",
                                    "unsupported-version"}


def test_set_after_a_bad_template_record_still_decodes() -> None:
    d, ctx = decoder()
    bad = struct.pack(">HHHH", 2, 8, 300, 60000)
    b = one(d.decode(msg([tset(256, [(8, 4)]), bad, dset(256, ip("1.2.3.4"))]), "e"))
    assert elements(b.columns) == {"sourceIPv4Address": ["1.2.3.4"]}
    assert ctx.stats.drops == {"malformed-template": 1}


# -- NetFlow v9 and v5 -------------------------------------------------------------------------

def v9(flowsets: list[bytes], seq: int = 0, source_id: int = 0, uptime: int = 10_000,
       secs: int = 1_700_000_000) -> bytes:
    return struct.pack(">HHIIII", 9, len(flowsets), uptime, secs, seq, source_id) + b"".join(flowsets)


def test_netflow_v9_template_data_and_sysuptime_times() -> None:
    d, ctx = decoder(transport="udp")
    t = struct.pack(">HH", 0, 4 + 4 + 5 * 4) + struct.pack(">HH", 300, 5) + struct.pack(
        ">HHHHHHHHHH", 8, 4, 12, 4, 22, 4, 21, 4, 2, 4)
    rec = ip("10.0.0.1") + ip("10.0.0.2") + struct.pack(">III", 4000, 9000, 3)
    data = struct.pack(">HH", 300, 4 + len(rec)) + rec
    b = one(d.decode(v9([t, data]), "e"))
    # header: uptime 10 s at unix 1_700_000_000 -> boot at 1_699_999_990_000 ms
    assert b.row(0) == {"sourceIPv4Address": "10.0.0.1", "destinationIPv4Address": "10.0.0.2",
                        "flowStartSysUpTime": 4000, "flowEndSysUpTime": 9000, "packetDeltaCount": 3,
                        "flowStartMilliseconds": 1_699_999_994_000, "flowEndMilliseconds": 1_699_999_999_000,
                        EXPORT_VERSION: 9, EXPORT_TIME: 1_700_000_000_000, SYS_UPTIME: 10_000}
    # v9 sequence numbers count packets
    d.decode(v9([data], seq=3), "e")
    assert ctx.stats.gauges["input.sequence_lost"] == 2


def test_netflow_v9_options_sampling_and_scope() -> None:
    d, _ = decoder(transport="udp")
    ot = struct.pack(">HH", 1, 4 + 6 + 8) + struct.pack(">HHH", 260, 4, 4) + struct.pack(">HHHH", 1, 4, 34, 4)
    od = struct.pack(">HH", 260, 12) + struct.pack(">II", 0, 512)
    t = struct.pack(">HH", 0, 12) + struct.pack(">HHHH", 300, 1, 8, 4)
    data = struct.pack(">HH", 300, 8) + ip("8.8.8.8")
    b = one(d.decode(v9([ot, od, t, data]), "e"))
    assert elements(b.row(0)) == {"sourceIPv4Address": "8.8.8.8", "samplingInterval": 512}


def test_netflow_v5_record_mapping() -> None:
    d, _ = decoder(transport="udp")
    hdr = struct.pack(">HHIIIIBBH", 5, 1, 60_000, 1_700_000_000, 500_000_000, 42, 1, 2, 0x4000 | 10)
    rec = (ip("1.2.3.4") + ip("5.6.7.8") + ip("0.0.0.0") + struct.pack(">HH", 3, 4)
           + struct.pack(">IIII", 7, 700, 50_000, 59_000) + struct.pack(">HH", 1000, 22)
           + b"\x00\x12\x06\x00" + struct.pack(">HH", 65000, 65001) + b"\x18\x10\x00\x00")
    b = one(d.decode(hdr + rec, "e"))
    boot = 1_700_000_000_500 - 60_000
    assert b.row(0) == {
        "sourceIPv4Address": "1.2.3.4", "destinationIPv4Address": "5.6.7.8",
        "ipNextHopIPv4Address": "0.0.0.0", "ingressInterface": 3, "egressInterface": 4,
        "packetDeltaCount": 7, "octetDeltaCount": 700, "flowStartMilliseconds": boot + 50_000,
        "flowEndMilliseconds": boot + 59_000, "sourceTransportPort": 1000,
        "destinationTransportPort": 22, "tcpControlBits": 0x12, "protocolIdentifier": 6,
        "ipClassOfService": 0, "bgpSourceAsNumber": 65000, "bgpDestinationAsNumber": 65001,
        "sourceIPv4PrefixLength": 24, "destinationIPv4PrefixLength": 16,
        "engineType": 1, "engineId": 2, "samplingInterval": 10,
        # the header's unix_secs + unix_nsecs (ms precision, as Beats' date) and SysUptime
        EXPORT_VERSION: 5, EXPORT_TIME: 1_700_000_000_500, SYS_UPTIME: 60_000,
    }
    assert b.event_times() == [boot + 59_000]


def test_netflow_v5_count_larger_than_payload_counts_missing_records() -> None:
    d, ctx = decoder(transport="udp")
    hdr = struct.pack(">HHIIIIBBH", 5, 3, 0, 0, 0, 0, 0, 0, 0)
    out = d.decode(hdr + bytes(48), "e")
    assert sum(len(b) for b in out) == 1
    assert ctx.stats.drops == {"malformed-message": 2}


def test_struct_fallback_decodes_like_numpy_path(monkeypatch) -> None:
    """Without numpy the struct/zip path must produce the very same columns."""
    import flowcep_plugin.inputs.ipfix_decode as mod

    fields = [(8, 4), (27, 16), (56, 6), (82, 8), (95, 4), (276, 1), (311, 8), (1, 3), (434, 4), (157, 8)]
    rec = (ip("1.2.3.4") + socket.inet_pton(socket.AF_INET6, "2001:db8::") + bytes(6) + b"ab\0\0\0\0\0\0"
           + b"\x00\x01\x00\x00" + b"\x01" + struct.pack(">d", -1.5) + b"\x00\x00\x09" + struct.pack(">i", -3)
           + struct.pack(">Q", (2208988800 + 5) << 32))
    data = msg([tset(256, fields), dset(256, rec, rec)])
    with_np = one(MessageDecoder(Context(), "a").decode(data, "e")).columns
    monkeypatch.setattr(mod, "_np", None)
    without = one(MessageDecoder(Context(), "b").decode(data, "e")).columns
    assert with_np == without
    assert with_np["applicationId"] == [b"\x00\x01\x00\x00"] * 2  # octets keep trailing zeros
    assert with_np["sourceIPv6Address"] == ["2001:db8::"] * 2
    assert with_np["flowEndNanoseconds"] == [5_000_000_000] * 2


def test_exporter_restart_is_followed_not_flagged_forever() -> None:
    d, ctx = decoder()
    t = tset(256, [(8, 4)])
    rec = ip("1.1.1.1")
    for i in range(5):
        d.decode(msg([t, dset(256, rec)], seq=1000 + i), "e")
    for i in range(5):  # exporter restarted: numbering starts again at 0
        d.decode(msg([t, dset(256, rec)], seq=i), "e")
    assert ctx.stats.gauges["input.sequence_out_of_order"] == 1
    assert "input.sequence_lost" not in ctx.stats.gauges


def test_udp_template_lifetime_expires_unless_refreshed() -> None:
    import time as _time

    d, ctx = decoder(transport="udp", template_lifetime=0.05)
    t = tset(256, [(8, 4)])
    d.decode(msg([t]), "e")
    _time.sleep(0.08)
    d.decode(msg([t]), "e")  # refresh keeps it alive
    assert len(one(d.decode(msg([dset(256, ip("1.1.1.1"))]), "e"))) == 1
    _time.sleep(0.08)
    assert d.decode(msg([dset(256, ip("2.2.2.2"))]), "e") == []  # expired: held, not misread
    assert ctx.stats.gauges["input.templates_expired"] == 1
    # over TCP the same template never expires
    d2, _ = decoder(transport="tcp", template_lifetime=0.01)
    d2.decode(msg([t]), "e")
    _time.sleep(0.03)
    assert len(one(d2.decode(msg([dset(256, ip("1.1.1.1"))]), "e"))) == 1


def test_templates_export_import_roundtrip() -> None:
    d, _ = decoder(transport="udp")
    d.decode(msg([tset(256, [(8, 4), (82, 65535)]), tset(400, [(10, 4), (34, 4)], set_id=3, scope=1)]),
             "10.0.0.1:9")
    saved = d.export_templates()
    d2, ctx2 = decoder(transport="udp")
    assert d2.import_templates(saved + [{"garbage": 1}]) == 2
    b = one(d2.decode(msg([dset(256, ip("5.5.5.5") + b"\x02ge")]), "10.0.0.1:9"))
    assert elements(b.row(0)) == {"sourceIPv4Address": "5.5.5.5", "interfaceName": "ge"}
    # another exporter does not get them
    assert d2.decode(msg([dset(256, ip("5.5.5.5") + b"\x02ge")]), "10.0.0.2:9") == []


def test_ipfix_relative_times_become_absolute() -> None:
    d, _ = decoder()
    # options data gives systemInitTimeMilliseconds (160) for this exporter
    opt = tset(400, [(149, 4), (160, 8)], set_id=3, scope=1)
    orec = struct.pack(">IQ", 1, 1_600_000_000_000)
    # flows with flowStart/EndSysUpTime (22/21) and flowStart/EndDeltaMicroseconds (158/159)
    t1 = tset(256, [(8, 4), (22, 4), (21, 4)])
    t2 = tset(257, [(8, 4), (158, 4), (159, 4)])
    d.decode(msg([opt, dset(400, orec), t1, t2]), "e")
    b = d.decode(msg([dset(256, ip("1.1.1.1") + struct.pack(">II", 1000, 2500)),
                      dset(257, ip("2.2.2.2") + struct.pack(">II", 3_000_000, 500_000))],
                     export=1_700_000_000), "e")
    rows = {r["sourceIPv4Address"]: r for x in b for r in x.rows()}
    assert (rows["1.1.1.1"]["flowStartMilliseconds"], rows["1.1.1.1"]["flowEndMilliseconds"]) == (
        1_600_000_001_000, 1_600_000_002_500)
    # deltas count back from the message's export time
    assert (rows["2.2.2.2"]["flowStartMilliseconds"], rows["2.2.2.2"]["flowEndMilliseconds"]) == (
        1_699_999_997_000, 1_699_999_999_500)


def test_ipfix_per_record_system_init_time() -> None:
    d, _ = decoder()
    t = tset(256, [(160, 8), (21, 4)])
    recs = [struct.pack(">QI", 1_000_000, 500), struct.pack(">QI", 2_000_000, 7)]
    b = one(d.decode(msg([t, dset(256, *recs)]), "e"))
    assert b.get("flowEndMilliseconds") == [1_000_500, 2_000_007]


# -- message-header columns (Beats' netflow.exporter.version/.timestamp/.uptime_millis) ----------

def test_records_queued_from_several_messages_keep_their_own_export_time() -> None:
    """Fixed-length IPFIX records wait (as bytes) until flush, several messages' worth in one
    queue per template: each record must still carry the export time of its own message."""
    d, _ = decoder()
    t = tset(256, [(8, 4)])
    d.feed(msg([t, dset(256, ip("1.0.0.1"), ip("1.0.0.2"))], seq=0, export=1_700_000_000), "e")
    d.feed(msg([dset(256, ip("1.0.0.3"))], seq=2, export=1_700_000_000), "e")  # same second
    d.feed(msg([dset(256, ip("1.0.0.4"))], seq=3, export=1_700_000_007), "e")
    d.feed(msg([t, dset(256, ip("9.0.0.1"))], export=1_600_000_000), "other")  # its own queue
    d.feed(msg([dset(256, ip("1.0.0.5"), ip("1.0.0.6"))], seq=4, export=1_700_000_009), "e")
    assert d.pending_records == 7
    b = one(d.flush())
    times = dict(zip(b.get("sourceIPv4Address"), b.get(EXPORT_TIME), strict=True))
    assert times == {"1.0.0.1": 1_700_000_000_000, "1.0.0.2": 1_700_000_000_000,
                     "1.0.0.3": 1_700_000_000_000, "1.0.0.4": 1_700_000_007_000,
                     "1.0.0.5": 1_700_000_009_000, "1.0.0.6": 1_700_000_009_000,
                     "9.0.0.1": 1_600_000_000_000}
    assert b.get(EXPORT_VERSION) == [10] * 7
    assert SYS_UPTIME not in b.columns  # IPFIX headers have no sysUptime


def test_queued_records_flushed_by_a_template_change_keep_their_export_times() -> None:
    d, _ = decoder(transport="udp")
    d.feed(msg([tset(256, [(8, 4)]), dset(256, ip("1.1.1.1"))], export=1_700_000_001), "e")
    d.feed(msg([dset(256, ip("1.1.1.2"))], seq=1, export=1_700_000_002), "e")
    d.feed(msg([tset(256, [(7, 2)]), dset(256, struct.pack(">H", 22))], seq=2, export=1_700_000_003), "e")
    old, new = d.flush()
    assert old.get(EXPORT_TIME) == [1_700_000_001_000, 1_700_000_002_000]
    assert new.get(EXPORT_TIME) == [1_700_000_003_000]


def test_ipfix_records_queued_before_a_netflow_message_get_no_uptime() -> None:
    """The decoder remembers the last NetFlow header's sysUptime; IPFIX records flushed after
    a v9 message must not take it."""
    d, _ = decoder()
    d.feed(msg([tset(256, [(8, 4)]), dset(256, ip("1.1.1.1"))]), "a")
    t9 = struct.pack(">HH", 0, 12) + struct.pack(">HHHH", 300, 1, 8, 4)
    d.feed(v9([t9, struct.pack(">HH", 300, 8) + ip("2.2.2.2")], uptime=5_000, secs=1_700_000_050), "b")
    rows = {r["sourceIPv4Address"]: r for x in d.flush() for r in x.rows()}
    assert {k: rows["1.1.1.1"].get(k) for k in HEADER_COLUMNS} == {
        EXPORT_VERSION: 10, EXPORT_TIME: 1_700_000_000_000, SYS_UPTIME: None}
    assert {k: rows["2.2.2.2"].get(k) for k in HEADER_COLUMNS} == {
        EXPORT_VERSION: 9, EXPORT_TIME: 1_700_000_050_000, SYS_UPTIME: 5_000}


def test_data_held_for_its_template_keeps_the_header_it_came_in() -> None:
    """RFC 3954 9 / RFC 7011 8: data before its template is held; once decoded, its records
    carry the header of the message they arrived in, not that of the template's message."""
    d, _ = decoder()
    assert d.decode(msg([dset(256, ip("3.3.3.3"))], export=1_700_000_000), "e") == []
    b = one(d.decode(msg([tset(256, [(8, 4)]), dset(256, ip("4.4.4.4"))], seq=1, export=1_700_000_060), "e"))
    assert dict(zip(b.get("sourceIPv4Address"), b.get(EXPORT_TIME), strict=True)) == {
        "3.3.3.3": 1_700_000_000_000, "4.4.4.4": 1_700_000_060_000}
    # NetFlow v9: the held flowset keeps its message's uptime and unix_secs (and boot time)
    d9, _ = decoder(transport="udp")
    t9 = struct.pack(">HH", 0, 16) + struct.pack(">HHHHHH", 300, 2, 8, 4, 21, 4)
    data = struct.pack(">HH", 300, 12) + ip("5.5.5.5") + struct.pack(">I", 1_000)
    assert d9.decode(v9([data], uptime=2_000, secs=1_700_000_000), "e") == []
    b9 = one(d9.decode(v9([t9], seq=1, uptime=62_000, secs=1_700_000_060), "e"))
    assert b9.row(0) == {"sourceIPv4Address": "5.5.5.5", "flowEndSysUpTime": 1_000,
                         "flowEndMilliseconds": 1_699_999_998_000 + 1_000,
                         EXPORT_VERSION: 9, EXPORT_TIME: 1_700_000_000_000, SYS_UPTIME: 2_000}


def test_options_records_carry_export_time_only_as_their_own_element() -> None:
    """Options records already say their message's export time (``exportTime``, their event
    time): the flow records' header columns are not added to them."""
    d, _ = decoder()
    opt = tset(400, [(10, 4), (34, 4)], set_id=3, scope=1)
    out = d.decode(msg([opt, dset(400, struct.pack(">II", 3, 100)), tset(256, [(8, 4)]),
                        dset(256, ip("1.1.1.1"))], export=1_700_000_005), "e")
    (options,) = [b for b in out if b.stream == "Options"]
    assert not set(HEADER_COLUMNS) & options.columns.keys()
    assert options.get("exportTime") == [1_700_000_005]
    assert one(out).get(EXPORT_TIME) == [1_700_000_005_000]
    ot9 = struct.pack(">HH", 1, 4 + 6 + 8) + struct.pack(">HHH", 260, 4, 4) + struct.pack(">HHHH", 1, 4, 34, 4)
    od9 = struct.pack(">HH", 260, 12) + struct.pack(">II", 0, 512)
    (options9,) = [b for b in d.decode(v9([ot9, od9]), "e9") if b.stream == "Options"]
    assert not set(HEADER_COLUMNS) & options9.columns.keys()


def test_value_caches_convert_new_values_beside_cached_ones_and_stay_bounded() -> None:
    """The decoder's address/text caches: a column mixing cached and new values, a cache past
    its limit (cleared, then refilled), and long strings (converted, never kept)."""
    import socket

    from flowcep_plugin.inputs.ipfix_decode import _Caches

    caches = _Caches()
    assert caches.ipv4([0x0A000001]) == ["10.0.0.1"]
    col = [0x0A000001, 0xC0A80001, 0x0A000001, 0xC0A80001, 0x7F000001]
    assert caches.ipv4(col) == ["10.0.0.1", "192.168.0.1", "10.0.0.1", "192.168.0.1", "127.0.0.1"]
    assert caches.ipv4(tuple(col)) == caches.ipv4(iter(col))
    v6 = [socket.inet_pton(socket.AF_INET6, a) for a in ("2001:db8::1", "::1", "2001:db8::1")]
    assert caches.ipv6(v6[:1]) == ["2001:db8::1"]
    assert caches.ipv6(v6) == ["2001:db8::1", "::1", "2001:db8::1"]
    long = b"x" * (_Caches.LONG + 1)
    assert caches.strings([b"ab\x00\x00", long, b"ab\x00\x00"]) == ["ab", long.decode(), "ab"]
    assert long not in caches.text and b"ab\x00\x00" in caches.text
    caches.LIMIT = 3  # type: ignore[misc]
    assert len(caches.v4) == 3
    assert caches.ipv4([0x01020304, 0x0A000001]) == ["1.2.3.4", "10.0.0.1"]
    assert caches.ipv4([0x05060708]) == ["5.6.7.8"]
    assert len(caches.v4) <= 4  # cleared when past the limit, then refilled with the column
