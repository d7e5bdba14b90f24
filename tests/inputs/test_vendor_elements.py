"""Real exporters' enterprise elements arrive named and typed (checked against Wireshark's
cflow dissector on a NetScaler capture), padding never becomes a column, and the sampling
rate scales counters only when the user asks."""

from __future__ import annotations

import socket
import struct
import subprocess
from pathlib import Path

import pytest

from flowcep_plugin.addresses import parse_address
from flowcep_plugin.context import Context
from flowcep_plugin.elements import default_registry
from flowcep_plugin.inputs.ipfix_decode import MessageDecoder
from flowcep_plugin.inputs.pcap_export import ExportCaptureSource
from flowcep_plugin.vendor_elements import PENS, vendor_elements

from .test_ipfix_decode import dset, elements, ip, msg, tset


def rows(batches: list) -> list[dict]:  # type: ignore[type-arg]
    """The flow records' elements (these tests are about vendor elements, not headers)."""
    return [elements(r) for b in batches if b.stream == "Flow" for r in b.rows()]


@pytest.mark.shared
@pytest.mark.tools
def test_netscaler_appflow_matches_wireshark(shared_file, require_tool) -> None:
    tshark = require_tool("tshark")
    path = shared_file("data/logstash-netflow/derived-pcap/ipfix_netscaler_data_before_template.pcap")
    fields = {"netscalerHttpReqUrl": "http-req-url", "netscalerHttpReqHost": "http-req-host",
              "netscalerHttpReqMethod": "http-req-method", "netscalerHttpReqUserAgent": "http-req-useragent"}
    cmd = [tshark, "-2", "-r", str(path), "-d", "udp.port==4739,cflow", "-T", "fields", "-E", "occurrence=a",
           "-E", "aggregator=|"]
    for f in fields.values():
        cmd += ["-e", f"cflow.pie.netscaler.{f}"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=True).stdout
    want: dict[str, list[str]] = {name: [] for name in fields}
    for line in out.splitlines():
        for name, value in zip(fields, line.split("\t"), strict=True):
            want[name] += [v for v in value.split("|") if v]
    ctx = Context()
    got_rows = rows(list(ExportCaptureSource(parse_address(f"pcap+export:{path}"), {}, ctx).batches()))
    for name in fields:
        got = [r[name] for r in got_rows if r.get(name)]
        assert sorted(got) == sorted(want[name]) and got, name
    assert not any(k.startswith("en5951:id1") for r in got_rows for k in r)  # named, not en5951:idN
    assert all(isinstance(r["netscalerTransactionId"], int) for r in got_rows)


@pytest.mark.shared
def test_yaf_sample_elements_are_named_and_typed(shared_file) -> None:
    base = shared_file("data/logstash-netflow")
    d = MessageDecoder(Context(), "yaf", transport="udp")
    out = []
    for name in ("ipfix_test_yaf_tpls_option_tpl.dat", "ipfix_test_yaf_tpl45841.dat", "ipfix_test_yaf_data45841.dat"):
        out += d.decode((base / name).read_bytes(), "yaf:1")
    (r,) = rows(out)
    assert not [k for k in r if k.startswith("en6871")]
    for name in ("silkAppLabel", "flowAttributes", "reverseFlowAttributes", "reverseFlowDeltaMilliseconds"):
        assert isinstance(r[name], int), (name, r[name])


def test_every_vendor_pen_has_typed_elements() -> None:
    reg = default_registry()
    specs = vendor_elements()
    assert {s.pen for s in specs} == set(PENS.values())
    assert len({(s.pen, s.id) for s in specs}) == len(specs)  # no id listed twice
    assert reg.get(6876, 881).type == "ipv4Address"  # VMware's own document: an address
    assert reg.get(6871, 14 | 0x4000).name == "reverseInitialTCPFlags"


def test_vendor_elements_decode_typed_values() -> None:
    fields = [(8, 4, 10704), (9, 2, 10704), (4, 0xFFFF, 10704),  # Barracuda bind addr, port, FW_Rule
              (881, 4, 6876), (886, 2, 6876),  # VMware tenant source address, port
              (18, 0xFFFF, 15397),  # Procera server hostname
              (91, 2, 637),  # Nokia NAT inside service id
              (4321, 8, 41916)]  # Viptela VPN id
    rule = b"allow-web"
    host = b"example.org"
    rec = (ip("192.0.2.7") + struct.pack(">H", 8443) + bytes([len(rule)]) + rule
           + ip("10.1.2.3") + struct.pack(">H", 5353) + bytes([len(host)]) + host
           + struct.pack(">H", 7) + struct.pack(">Q", 512))
    d = MessageDecoder(Context(), "v")
    (r,) = rows(d.decode(msg([tset(300, fields), dset(300, rec)]), "e:1"))
    assert r == {"barracudaBindIPv4Address": "192.0.2.7", "barracudaBindTransportPort": 8443,
                 "barracudaFwRule": "allow-web", "tenantSourceIPv4": "10.1.2.3", "tenantSourcePort": 5353,
                 "proceraServerHostname": "example.org", "natInsideSvcid": 7, "viptelaVPNId": 512}


def test_padding_octets_never_become_a_column() -> None:
    fields = [(8, 4), (210, 3), (7, 2), (210, 0xFFFF), (11, 2)]
    rec = ip("10.0.0.9") + b"\x00\x00\x00" + struct.pack(">H", 1234) + b"\x02\x00\x00" + struct.pack(">H", 80)
    (r,) = rows(MessageDecoder(Context(), "p").decode(msg([tset(256, fields), dset(256, rec)]), "e:1"))
    assert r == {"sourceIPv4Address": "10.0.0.9", "sourceTransportPort": 1234, "destinationTransportPort": 80}


def _v5(sampling: int) -> bytes:
    hdr = struct.pack(">HHIIIIBBH", 5, 1, 1000, 1_700_000_000, 0, 0, 0, 0, (1 << 14) | sampling)
    rec = (socket.inet_aton("10.0.0.1") + socket.inet_aton("10.0.0.2") + bytes(4) + struct.pack(">HH", 1, 2)
           + struct.pack(">II", 3, 1500) + struct.pack(">II", 900, 1000) + struct.pack(">HH", 1000, 80)
           + b"\x00\x00\x06\x00" + struct.pack(">HHBB", 0, 0, 24, 24) + b"\x00\x00")
    return hdr + rec


def test_v5_sampling_applied_only_when_asked() -> None:
    (plain,) = rows(MessageDecoder(Context(), "a").decode(_v5(100), "e:1"))
    assert (plain["packetDeltaCount"], plain["octetDeltaCount"], plain["samplingInterval"]) == (3, 1500, 100)
    ctx = Context()
    (scaled,) = rows(MessageDecoder(ctx, "b", apply_sampling=True).decode(_v5(100), "e:1"))
    assert (scaled["packetDeltaCount"], scaled["octetDeltaCount"], scaled["samplingInterval"]) == (300, 150_000, 100)
    assert ctx.stats.gauges["input.sampling_applied"] == 1


def test_psamp_options_rate_is_interval_plus_space() -> None:
    # options template: scope observationDomainId, samplingPacketInterval=1, samplingPacketSpace=99
    opt = tset(400, [(149, 4), (305, 4), (306, 4)], set_id=3, scope=1)
    opt_data = dset(400, struct.pack(">III", 1, 1, 99))
    data_t = tset(256, [(8, 4), (2, 8), (1, 8)])
    d = MessageDecoder(Context(), "s", apply_sampling=True)
    out = d.decode(msg([opt, opt_data, data_t, dset(256, ip("10.0.0.1") + struct.pack(">QQ", 2, 100))]), "e:1")
    (r,) = rows(out)
    assert r["samplingInterval"] == 100 and r["packetDeltaCount"] == 200 and r["octetDeltaCount"] == 10_000


def test_apply_sampling_from_the_address(tmp_path: Path) -> None:
    from flowcep_plugin.inputs import ipfix as ipfix_input

    opts = ipfix_input.udp_options(parse_address("ipfix+udp://127.0.0.1:0?apply_sampling=true"), {})
    assert opts["apply_sampling"] is True
    assert ipfix_input.udp_options(parse_address("ipfix+udp://127.0.0.1:0"), {})["apply_sampling"] is False
    from flowcep_plugin.errors import ConfigError

    with pytest.raises(ConfigError, match="apply_sampling"):
        ipfix_input.udp_options(parse_address("ipfix+udp://127.0.0.1:0?apply_sampling=maybe"), {})
