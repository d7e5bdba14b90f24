"""FlowCEP's IPFIX / NetFlow decoding compared field by field with tshark's dissector.

Real captures from ../shared/data (akvorado, libnetflow9, scapy, logstash-netflow) and the
FlowCEP upstream sample are decoded by both; for each exported packet the multiset of values
of every common field must agree. Raw ``.dat`` payloads are wrapped into a pcap here with
scapy so tshark can read them.
"""

from __future__ import annotations

import shutil
import subprocess
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from flowcep_plugin.context import Context
from flowcep_plugin.inputs.ipfix import IPFIXFileSource
from flowcep_plugin.inputs.ipfix_decode import MessageDecoder
from flowcep_plugin.records import EXPORT_TIME, EXPORT_VERSION, SYS_UPTIME, FlowBatch

pytestmark = [pytest.mark.shared, pytest.mark.tools]

#: tshark cflow field -> IPFIX element name
FIELDS = {
    "cflow.srcaddr": "sourceIPv4Address",
    "cflow.dstaddr": "destinationIPv4Address",
    "cflow.srcaddrv6": "sourceIPv6Address",
    "cflow.dstaddrv6": "destinationIPv6Address",
    "cflow.srcport": "sourceTransportPort",
    "cflow.dstport": "destinationTransportPort",
    "cflow.protocol": "protocolIdentifier",
    "cflow.packets": "packetDeltaCount",
    "cflow.octets": "octetDeltaCount",
}
PORTS = (2055, 4739, 6543, 9990, 9995, 9996)


def tshark_frames(tshark: str, path: Path, fields: list[str]) -> list[dict[str, list[str]]]:
    """Per frame, the values tshark decoded for each field."""
    cmd = [tshark, "-n", "-r", str(path), "-T", "fields", "-E", "separator=/t", "-E", "occurrence=a",
           "-E", "aggregator=|"]
    for p in PORTS:
        cmd += ["-d", f"udp.port=={p},cflow"]
    for f in fields:
        cmd += ["-e", f]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=60).stdout
    frames = []
    for line in out.splitlines():
        cells = line.split("\t")
        frames.append({f: [v for v in c.split("|") if v != ""] for f, c in zip(fields, cells, strict=False)})
    return frames


def udp_payloads(path: Path) -> list[tuple[bytes, str]]:
    """UDP payloads of a capture, cut to the UDP length (captures may carry an Ethernet FCS)."""
    from scapy.all import IP, UDP, IPv6, rdpcap

    out = []
    for pkt in rdpcap(str(path)):
        if UDP not in pkt:
            out.append((b"", ""))
            continue
        udp = pkt[UDP]
        src = pkt[IP].src if IP in pkt else pkt[IPv6].src
        out.append((bytes(udp.payload)[: udp.len - 8], f"{src}:{udp.sport}"))
    return out


def ours_per_frame(path: Path) -> tuple[list[FlowBatch], Context]:
    ctx = Context()
    dec = MessageDecoder(ctx, str(path), transport="udp")
    frames = []
    for payload, exporter in udp_payloads(path):
        flows = [b for b in dec.decode(payload, exporter) if b.stream == "Flow"] if payload else []
        frames.append(FlowBatch.concat(flows) if flows else FlowBatch({}, 0))
    return frames, ctx


def _norm(v: Any) -> str:
    return str(v)


def compare(tshark: str, path: Path) -> int:
    """Assert per-frame agreement; return the number of records compared."""
    ours, _ctx = ours_per_frame(path)
    theirs = tshark_frames(tshark, path, list(FIELDS))
    assert len(ours) == len(theirs)
    compared = 0
    for i, (b, t) in enumerate(zip(ours, theirs, strict=True)):
        for tf, name in FIELDS.items():
            # tshark files RFC 5103 reverse elements under the forward field's name
            rev = "reverse" + name[0].upper() + name[1:]
            col = (b.columns.get(name) or []) + (b.columns.get(rev) or [])
            mine = Counter(_norm(v) for v in col if v is not None)
            assert mine == Counter(t.get(tf, [])), f"{path.name} frame {i + 1} field {name}"
        compared += len(b)
    return compared


@pytest.fixture(scope="module")
def tshark(require_tool) -> str:
    return require_tool("tshark")


def _merge(tmp_path: Path, name: str, *parts: Path) -> Path:
    mergecap = shutil.which("mergecap")
    if mergecap is None:
        pytest.skip("mergecap (wireshark-common) not installed")
    out = tmp_path / name
    subprocess.run([mergecap, "-a", "-w", str(out), *map(str, parts)], check=True, timeout=30)
    return out


def _wrap(tmp_path: Path, name: str, payloads: list[bytes], port: int = 2055,
          src: str = "10.0.0.1") -> Path:
    """Wrap raw export payloads into UDP packets (one per payload) in a pcap."""
    from scapy.all import IP, UDP, Ether, wrpcap

    pkts = [Ether() / IP(src=src, dst="10.0.0.2") / UDP(sport=50000, dport=port) / p for p in payloads]
    out = tmp_path / name
    wrpcap(str(out), pkts)
    return out


@pytest.mark.parametrize("rel,expected", [
    ("akvorado/nfv5.pcap", 29),
    ("scapy/netflowv9.pcap", 24),
    ("scapy/ipfix.pcap", 1),
    ("libnetflow9/1.pcap", 2),
    ("logstash-netflow/derived-pcap/nf5_softflowd.pcap", 30),
    ("logstash-netflow/derived-pcap/nf9_cisco_asa.pcap", 14),
    ("logstash-netflow/derived-pcap/nf9_two_exporters.pcap", 8),  # + 1 options record
    ("logstash-netflow/derived-pcap/nf9_paloalto_zero_padding.pcap", 1),
    ("logstash-netflow/derived-pcap/ipfix_softflowd_3msgs.pcap", 12),
    ("logstash-netflow/derived-pcap/ipfix_yaf_options.pcap", 1),
])
def test_matches_tshark(tshark: str, shared_file, rel: str, expected: int | None) -> None:
    n = compare(tshark, shared_file(f"data/{rel}"))
    if expected is not None:
        assert n == expected


def test_data_set_before_its_template_in_one_datagram(tshark: str, shared_file) -> None:
    """akvorado data+templates.pcap: set order 257, 1, 256, 0, 257. tshark skips the first set
    257 (no template yet); we hold it and decode it once the template set arrives, so we see
    everything tshark sees plus that set."""
    path = shared_file("data/akvorado/data+templates.pcap")
    ours, ctx = ours_per_frame(path)
    theirs = tshark_frames(tshark, path, list(FIELDS))
    b, t = ours[0], theirs[0]
    mine = Counter(b.columns["sourceIPv4Address"])
    expected = Counter(t["cflow.srcaddr"])
    assert not expected - mine  # everything tshark decoded, we decoded too
    extra = sum((mine - expected).values())
    assert extra > 0 and len(b) == sum(expected.values()) + extra
    assert ctx.stats.gauges["input.early_sets_decoded"] == 1
    assert not ctx.stats.drops


def test_akvorado_template_then_data_files(tshark: str, shared_file, tmp_path: Path) -> None:
    for tpl, data, n in (("template.pcap", "data.pcap", 4),
                         ("ipfixprobe-templates.pcap", "ipfixprobe-data.pcap", 4)):
        merged = _merge(tmp_path, f"m-{data}", shared_file(f"data/akvorado/{tpl}"),
                        shared_file(f"data/akvorado/{data}"))
        assert compare(tshark, merged) == n


def test_logstash_dat_pairs_wrapped_by_scapy(tshark: str, shared_file, tmp_path: Path) -> None:
    d = "data/logstash-netflow/"
    pairs = {
        "pflow": (["ipfix_test_openbsd_pflow_tpl.dat", "ipfix_test_openbsd_pflow_data.dat"], 4739, 26),
        "nprobe": (["netflow9_test_nprobe_tpl.dat", "netflow9_test_nprobe_data.dat"], 2055, 1),
        "zero-length fields": (["netflow9_test_0length_fields_tpl_data.dat"], 2055, 10),
        "softflowd v9": (["netflow9_test_valid01.dat"], 2055, 7),
    }
    for what, (files, port, n) in pairs.items():
        pcap = _wrap(tmp_path, f"{port}-{files[0]}.pcap", [shared_file(d + f).read_bytes() for f in files], port)
        assert compare(tshark, pcap) == n, what


def test_netscaler_data_before_template_is_decoded_when_template_arrives(tshark: str, shared_file) -> None:
    pcap = shared_file("data/logstash-netflow/derived-pcap/ipfix_netscaler_data_before_template.pcap")
    frames, ctx = ours_per_frame(pcap)
    # tshark (like logstash) decodes nothing in frame 1 and 3 records in frame 3. We hold frame
    # 1's data and decode it when the templates arrive in frame 2: the same 3 records twice.
    assert [len(b) for b in frames] == [0, 3, 3]
    assert frames[1].columns.keys() == frames[2].columns.keys()
    assert list(frames[1].rows()) == list(frames[2].rows())
    # frames 1 and 3 are the same message; frame 2 (the templates) was exported at another
    # time: the held records carry frame 1's export time, not frame 2's
    times = [int(t["cflow.exporttime"][0]) * 1000 for t in tshark_frames(tshark, pcap, ["cflow.exporttime"])]
    assert times[0] == times[2] != times[1]
    assert frames[1].get(EXPORT_TIME) == [times[0]] * 3


def test_upstream_file_record_count_matches_tshark(tshark: str, upstream_ipfix: Path) -> None:
    ctx = Context()
    src = IPFIXFileSource(str(upstream_ipfix), ctx)
    total = sum(len(b) for b in src.batches() if b.stream == "Flow")
    assert total == 13_898
    # tshark reads RFC 5655 files natively: one source address per data record
    frames = tshark_frames(tshark, upstream_ipfix, ["cflow.srcaddr"])
    assert sum(len(f.get("cflow.srcaddr", [])) for f in frames) == 13_898
    assert not ctx.stats.drops
    assert "input.sequence_lost" not in ctx.stats.gauges


def test_upstream_file_fields_and_urls_match_tshark(tshark: str, upstream_ipfix: Path) -> None:
    """Every message of data.ipfix, decoded one by one, against tshark's frame of it."""
    data = upstream_ipfix.read_bytes()
    ctx = Context()
    dec = MessageDecoder(ctx, "data.ipfix")
    ours: list[FlowBatch] = []
    off = 0
    while off < len(data):
        length = int.from_bytes(data[off + 2:off + 4], "big")
        got = [b for b in dec.decode(data[off:off + length], "file") if b.stream == "Flow"]
        ours.append(FlowBatch.concat(got) if got else FlowBatch({}, 0))
        off += length
    fields = list(FIELDS) + ["cflow.enterprise_private_entry", "cflow.abstimeend"]
    theirs = tshark_frames(tshark, upstream_ipfix, fields)
    assert len(ours) == len(theirs) == 606
    urls = 0
    for i, (b, t) in enumerate(zip(ours, theirs, strict=True)):
        for tf, name in FIELDS.items():
            col = b.columns.get(name) or []
            assert Counter(str(v) for v in col if v is not None) == Counter(t.get(tf, [])), (i, name)
        # tshark shows the Flowmon (PEN 39499) id 2 element as hex bytes; the text is the bytes
        # before the NUL padding.
        expected_urls = [bytes.fromhex(h.replace(":", "")).rstrip(b"\0").decode()
                         for h in t.get("cflow.enterprise_private_entry", [])]
        mine = [u for u in (b.columns.get("HTTPRequestURL") or []) if u is not None]
        assert Counter(mine) == Counter(expected_urls), i
        assert all("\0" not in u for u in mine)
        urls += len(mine)
    assert urls > 0


def test_ipfixcol2_example_file_matches_tshark(tshark: str, shared_file) -> None:
    path = shared_file("data/ipfixcol2/example_flows.ipfix")
    ctx = Context()
    total = sum(len(b) for b in IPFIXFileSource(str(path), ctx).batches() if b.stream == "Flow")
    frames = tshark_frames(tshark, path, ["cflow.srcaddr", "cflow.srcaddrv6"])
    expected = sum(len(f.get("cflow.srcaddr", [])) + len(f.get("cflow.srcaddrv6", [])) for f in frames)
    assert total == expected > 3000
    assert not ctx.stats.drops


#: tshark's cflow header fields: version, NetFlow sysUptime (seconds, ms precision), NetFlow
#: unix_secs and v5 unix_nsecs, IPFIX export time (seconds).
HEADER = ["cflow.version", "cflow.sysuptime", "cflow.unix_secs", "cflow.unix_nsecs", "cflow.exporttime"]


def _header(t: dict[str, list[str]]) -> tuple[int, int, int | None]:
    """(version, export time in epoch ms, sysUptime in ms or None) of one frame as tshark
    decoded its header."""
    version = int(t["cflow.version"][0])
    if version == 10:
        return version, int(t["cflow.exporttime"][0]) * 1000, None
    nsecs = int(t["cflow.unix_nsecs"][0]) if t.get("cflow.unix_nsecs") else 0
    uptime = int(Decimal(t["cflow.sysuptime"][0]) * 1000)
    return version, int(t["cflow.unix_secs"][0]) * 1000 + nsecs // 1_000_000, uptime


@pytest.mark.parametrize("parts", [
    ["akvorado/nfv5.pcap"],  # v5: uptime 2874339 s, unix_secs 1680626679
    ["akvorado/data+templates.pcap"],  # v9: uptime 116860.52 s (a held set decoded in the same datagram)
    ["akvorado/ipfixprobe-templates.pcap", "akvorado/ipfixprobe-data.pcap"],  # IPFIX
    ["logstash-netflow/derived-pcap/nf5_softflowd.pcap"],  # v5 with unix_nsecs
    ["scapy/netflowv9.pcap"],
    ["logstash-netflow/derived-pcap/nf9_cisco_asa.pcap"],
    ["logstash-netflow/derived-pcap/ipfix_softflowd_3msgs.pcap"],
], ids=lambda parts: parts[-1].rsplit("/", 1)[-1])
def test_header_columns_match_tshark(tshark: str, shared_file, tmp_path: Path, parts: list[str]) -> None:
    """Every flow record carries its message's version, export time and (NetFlow) sysUptime
    as tshark decodes that message's header."""
    paths = [shared_file(f"data/{p}") for p in parts]
    path = paths[0] if len(paths) == 1 else _merge(tmp_path, "merged.pcap", *paths)
    ours, _ctx = ours_per_frame(path)
    theirs = tshark_frames(tshark, path, HEADER)
    assert len(ours) == len(theirs)
    records = 0
    for i, (b, t) in enumerate(zip(ours, theirs, strict=True)):
        if not len(b):
            continue
        version, export_ms, uptime = _header(t)
        assert b.get(EXPORT_VERSION) == [version] * len(b), i
        assert b.get(EXPORT_TIME) == [export_ms] * len(b), i
        if uptime is None:
            assert SYS_UPTIME not in b.columns, i
        else:
            assert b.get(SYS_UPTIME) == [uptime] * len(b), i
        records += len(b)
    assert records > 0
