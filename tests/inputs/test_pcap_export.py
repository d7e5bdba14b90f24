"""``pcap+export:`` against Wireshark's cflow dissector: the same captures decoded by tshark
(two-pass, so data sent before its template is decoded too) must give the same records."""

from __future__ import annotations

import random
import subprocess
from pathlib import Path
from typing import Any

import pytest

from flowcep_plugin.addresses import parse_address
from flowcep_plugin.context import Context
from flowcep_plugin.errors import ConfigError, InputError
from flowcep_plugin.inputs.pcap_export import ExportCaptureSource
from flowcep_plugin.records import FlowBatch

PORTS = (2055, 4739, 9995, 9990, 6543)


def decode(path: Path | str, query: str = "", ctx: Context | None = None) -> list[FlowBatch]:
    ctx = ctx or Context()
    src = ExportCaptureSource(parse_address(f"pcap+export:{path}{query}"), {}, ctx)
    return list(src.batches())


def tshark_fields(tshark: str, path: Path, *fields: str) -> list[list[str]]:
    """Per-packet values (every occurrence) of cflow fields, two-pass, ports decoded as cflow."""
    cmd = [tshark, "-2", "-r", str(path)]
    for p in PORTS:
        cmd += ["-d", f"udp.port=={p},cflow"]
    cmd += ["-T", "fields", "-E", "occurrence=a"]
    for f in fields:
        cmd += ["-e", f]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=True).stdout
    return [line.split("\t") for line in out.splitlines()]


def merged(tmp_path: Path, *paths: Path) -> Path:
    """Templates and data captured separately, joined in order (like mergecap -a)."""
    import scapy.layers.l2  # noqa: F401  (so rdpcap knows Ethernet)
    from scapy.utils import rdpcap, wrpcap

    out = tmp_path / ("+".join(p.stem for p in paths) + ".pcap")
    pkts = [pkt for p in paths for pkt in rdpcap(str(p))]
    wrpcap(str(out), pkts)
    return out


CASES = [
    ("akvorado/data+templates.pcap",),
    ("akvorado/nfv5.pcap",),
    ("akvorado/template.pcap", "akvorado/data.pcap"),
    ("akvorado/ipfixprobe-templates.pcap", "akvorado/ipfixprobe-data.pcap"),
    ("scapy/netflowv9.pcap",),
    ("scapy/ipfix.pcap",),
    ("logstash-netflow/derived-pcap/nf9_two_exporters.pcap",),
    ("logstash-netflow/derived-pcap/ipfix_netscaler_data_before_template.pcap",),
    ("libnetflow9/1.pcap",),  # two exporters, same source id 104: templates must not mix
]


@pytest.mark.shared
@pytest.mark.tools
@pytest.mark.parametrize("files", CASES, ids=lambda f: "+".join(Path(x).stem for x in f))
def test_records_match_tshark_cflow(files: tuple[str, ...], shared_file, require_tool, tmp_path: Path) -> None:
    tshark = require_tool("tshark")
    paths = [shared_file(f"data/{f}") for f in files]
    path = paths[0] if len(paths) == 1 else merged(tmp_path, *paths)
    rows = tshark_fields(tshark, path, "ip.src", "cflow.octets", "cflow.packets")
    want_octets = sorted(int(v) for r in rows for v in r[1].split(",") if v)
    want_packets = sorted(int(v) for r in rows for v in r[2].split(",") if v)
    senders = {r[0] for r in rows if r[1]}
    batches = decode(path, "?ports=" + ",".join(map(str, PORTS)))
    # tshark names RFC 5103 reverse counters (ipfixprobe biflows) cflow.octets/packets too
    got_octets = sorted(v for b in batches for name in ("octetDeltaCount", "reverseOctetDeltaCount")
                        for v in b.get(name) if v is not None)
    got_packets = sorted(v for b in batches for name in ("packetDeltaCount", "reversePacketDeltaCount")
                         for v in b.get(name) if v is not None)
    assert len(want_octets) > 0
    assert got_octets == want_octets
    assert got_packets == want_packets
    exporters = {str(e).split(":")[0] for b in batches
                 for e, octets in zip(b.get("flowcep.exporter") if b.exporter is None else [b.exporter] * b.length,
                                      b.get("octetDeltaCount"), strict=True)
                 if e and octets is not None}
    assert exporters == senders


@pytest.mark.shared
@pytest.mark.tools
def test_addresses_match_tshark_on_netflow_v5(shared_file, require_tool) -> None:
    path = shared_file("data/akvorado/nfv5.pcap")
    rows = tshark_fields(require_tool("tshark"), path, "cflow.srcaddr", "cflow.dstaddr", "cflow.srcport")
    want = sorted(zip(rows[0][0].split(","), rows[0][1].split(","), map(int, rows[0][2].split(",")), strict=True))
    (batch,) = decode(path, "?ports=9990")
    got = sorted(zip(batch.get("sourceIPv4Address"), batch.get("destinationIPv4Address"),
                     batch.get("sourceTransportPort"), strict=True))
    assert got == want


@pytest.mark.shared
def test_ports_select_the_datagrams(shared_file) -> None:
    path = shared_file("data/akvorado/nfv5.pcap")  # exported to UDP 9990, not a usual port
    ctx = Context()
    assert sum(len(b) for b in decode(path, ctx=ctx)) == 29  # found by its payload
    assert ctx.stats.snapshot()["gauges"]["pcap+export datagrams"] == 1
    ctx = Context()
    assert decode(path, "?ports=2055,4739", ctx=ctx) == []
    assert ctx.stats.snapshot()["gauges"]["pcap+export datagrams"] == 0
    assert sum(len(b) for b in decode(path, "?ports=9990")) == 29
    with pytest.raises(ConfigError, match="ports"):
        decode(path, "?ports=http")
    with pytest.raises(ConfigError, match="unknown option"):
        decode(path, "?port=9990")


def _payloads(path: Path) -> list[tuple[str, int, bytes]]:
    from scapy.layers.inet import IP, UDP
    from scapy.utils import rdpcap

    return [(p[IP].src, p[UDP].sport, bytes(p[UDP].payload)) for p in rdpcap(str(path)) if UDP in p]


@pytest.mark.shared
def test_fragmented_datagrams_are_reassembled(shared_file, tmp_path: Path) -> None:
    from scapy.layers.inet import IP, UDP, fragment
    from scapy.layers.l2 import Ether
    from scapy.utils import wrpcap

    (src, sport, payload), = _payloads(shared_file("data/akvorado/nfv5.pcap"))
    assert len(payload) > 1000
    pkt = IP(src="192.0.2.7", dst="192.0.2.9", id=4242) / UDP(sport=5000, dport=2055) / payload
    frags = [Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02") / f for f in fragment(pkt, fragsize=304)]
    assert len(frags) >= 4
    random.Random(1).shuffle(frags)
    whole = tmp_path / "frag.pcap"
    wrpcap(str(whole), frags)
    batches = decode(whole)
    assert sum(len(b) for b in batches) == 29
    assert {b.exporter.split("/")[0] for b in batches} == {"192.0.2.7:5000"}

    ctx = Context()
    lost = tmp_path / "lost.pcap"
    wrpcap(str(lost), frags[1:])
    assert decode(lost, ctx=ctx) == []
    assert ctx.stats.snapshot()["drops"] == {"malformed": 1}


@pytest.mark.shared
def test_ipv6_exporter_and_bad_datagrams(shared_file, tmp_path: Path) -> None:
    from scapy.layers.inet import IP, UDP
    from scapy.layers.inet6 import IPv6
    from scapy.layers.l2 import Ether
    from scapy.utils import wrpcap

    msgs = _payloads(shared_file("data/scapy/ipfix.pcap"))
    good = [Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02") / IPv6(src="2001:db8::5", dst="2001:db8::1") / UDP(sport=777, dport=4739) / m
            for _, _, m in msgs]
    cut = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02") / IP(src="192.0.2.1", dst="192.0.2.2") / UDP(sport=1, dport=4739) / (b"\x00\x0a" + b"\x00" * 30)
    short = bytes(Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02") / IP(src="192.0.2.1", dst="192.0.2.2") / UDP(sport=1, dport=4739))[:14 + 20 + 4]
    f = tmp_path / "v6.pcap"
    wrpcap(str(f), [*good, cut, Ether(short)])
    ctx = Context()
    batches = decode(f, ctx=ctx)
    flows = [b for b in batches if b.get("octetDeltaCount")[0] is not None]
    assert sum(len(b) for b in flows) == 1
    assert flows[0].exporter is not None and flows[0].exporter.startswith("[2001:db8::5]:777")
    drops = ctx.stats.snapshot()["drops"]
    assert drops.get("malformed", 0) >= 1  # the UDP header cut by the capture
    assert sum(drops.values()) >= 2  # and the message whose length lies, counted by the decoder


def test_not_a_capture(tmp_path: Path) -> None:
    f = tmp_path / "x.ipfix"
    f.write_bytes(b"\x00\x0a\x00\x10" + b"\x00" * 12)
    with pytest.raises(InputError, match="looks like an IPFIX file.*use ipfix-file:PATH"):
        decode(f)


def test_registered(tmp_path: Path) -> None:
    from flowcep_plugin.manager import make_plugin_manager
    from flowcep_plugin.registry import Registry

    registry = Registry.build(make_plugin_manager())
    spec: Any = registry.inputs["pcap+export"]
    assert spec.schemes == ("pcap+export",) and spec.sniff is None  # bare pcaps go to the meter


@pytest.mark.shared
@pytest.mark.parametrize("name", ["malformed_1", "malformed_2", "malformed_3", "malformed_5", "malformed_6",
                                  "malformed-OT"])
def test_malformed_export_packets_are_counted_not_fatal(name: str, shared_file) -> None:
    # libnetflow9's malformed NetFlow v9 captures (UDP 6543): nothing decodes, nothing raises,
    # and every datagram's problem shows in the drop counters
    ctx = Context()
    batches = decode(shared_file(f"data/libnetflow9/{name}.pcap"), "?ports=6543", ctx)
    assert sum(len(b) for b in batches) == 0
    snap = ctx.stats.snapshot()
    assert snap["gauges"]["pcap+export datagrams"] >= 1
    assert sum(snap["drops"].values()) >= snap["gauges"]["pcap+export datagrams"]


MOVED = [
    "akvorado/data+templates.pcap", "akvorado/nfv5.pcap", "scapy/netflowv9.pcap", "scapy/ipfix.pcap",
    "logstash-netflow/derived-pcap/nf9_cisco_asa.pcap", "logstash-netflow/derived-pcap/nf5_softflowd.pcap",
    "logstash-netflow/derived-pcap/nf9_paloalto_zero_padding.pcap",
    "logstash-netflow/derived-pcap/ipfix_softflowd_3msgs.pcap",
    "logstash-netflow/derived-pcap/ipfix_yaf_options.pcap",
    "logstash-netflow/derived-pcap/nf9_two_exporters.pcap",
]


def _moved(src: Path, dst: Path, port: int) -> Path:
    """The same capture with every UDP datagram sent to ``port`` (an exporter configured on a
    port nobody guesses)."""
    import scapy.layers.inet  # noqa: F401
    import scapy.layers.l2  # noqa: F401
    from scapy.layers.inet import UDP
    from scapy.utils import rdpcap, wrpcap

    pkts = rdpcap(str(src))
    for p in pkts:
        if UDP in p:
            p[UDP].dport = port
            del p[UDP].chksum
    wrpcap(str(dst), pkts)
    return dst


@pytest.mark.shared
@pytest.mark.parametrize("rel", MOVED, ids=lambda r: Path(r).stem)
def test_export_on_any_udp_port_is_found(rel: str, shared_file, tmp_path: Path) -> None:
    src = shared_file(f"data/{rel}")
    want = sorted(map(repr, (r for b in decode(src) for r in b.rows())))
    ctx = Context()
    moved = _moved(src, tmp_path / "moved.pcap", 31337)
    got = sorted(map(repr, (r for b in decode(moved, ctx=ctx) for r in b.rows())))
    assert want and got == want
    assert not any(k.startswith("pcap+export.skipped") for k in ctx.stats.gauges), ctx.stats.gauges
    # restricted to other ports, nothing is decoded
    assert not any(len(b) for b in decode(moved, "?ports=2055,4739"))


@pytest.mark.shared
@pytest.mark.parametrize("rel", ["traces/ndpi_teams.pcap", "traces/ndpi_alexa_echo_iot.pcapng",
                                 "traces/ndpi_netflix.pcap"])
def test_other_udp_traffic_is_skipped_and_counted(rel: str, shared_file) -> None:
    ctx = Context()
    assert sum(len(b) for b in decode(shared_file(f"data/{rel}"), ctx=ctx)) == 0
    skipped = {k: v for k, v in ctx.stats.gauges.items() if k.startswith("pcap+export.skipped.")}
    assert sum(skipped.values()) > 20, ctx.stats.gauges
    assert not ctx.stats.drops  # STUN, RTP, DNS, SSDP are not malformed export


@pytest.mark.parametrize("payload,why", [
    (b"\x00\x0a", "too-short"),
    (b"\x00\x0a\x00\x30" + bytes(12) + b"\x00\x01\x00\x20" + bytes(28), "bad-set-header"),  # set id 1
    (b"\x00\x0a\x01\x00" + bytes(60), "bad-ipfix-length"),
    (b"\x00\x05\x00\x02" + bytes(20 + 48), "bad-v5-count"),
    (b"\x00\x09\x00\x01" + bytes(16) + b"\x00\x05\x00\x08" + bytes(4), "bad-set-header"),
    (b"\x45\x00\x00\x10" + bytes(30), "not-netflow-ipfix"),
])
def test_export_validation_reasons(payload: bytes, why: str) -> None:
    from flowcep_plugin.inputs.pcap_export import export_problem

    assert export_problem(payload) == why
