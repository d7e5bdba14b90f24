"""``pcap:``/``iface:`` inputs against independent meters: softflowd (its NetFlow v5 export,
decoded here with a plain struct) and tshark (conversation statistics and per-packet fields),
on real third-party captures; plus corrupt files, pcapng, BPF filters and live capture."""

from __future__ import annotations

import logging
import socket
import struct
import subprocess
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from flowcep_plugin.addresses import parse_address
from flowcep_plugin.context import Context
from flowcep_plugin.errors import ConfigError, InputError
from flowcep_plugin.inputs.pcap import IfaceSource, PcapSource, is_capture

CAPTURES = [
    "suricata/syn_flood_200.pcap",
    "esnet-scans/masscan_tcp_0_1000_20190821.pcap",
    "zeek/rfb_vnc-scanner.pcap",
]
NO_TIMEOUTS = "active_timeout=1000000&inactive_timeout=1000000&tcp_end=false"


def meter_rows(raw: str, ctx: Context | None = None) -> list[dict[str, Any]]:
    ctx = ctx or Context()
    src = PcapSource(parse_address(raw), {}, ctx)
    return [r for b in src.batches() for r in b.rows()]


def softflowd_v5(softflowd: str, pcap: Path) -> list[tuple[Any, ...]]:
    """Flows softflowd meters from ``pcap``, exported as NetFlow v5 to a loopback socket."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.3)
    port = sock.getsockname()[1]
    try:
        proc = subprocess.run([softflowd, "-r", str(pcap), "-n", f"127.0.0.1:{port}", "-v", "5", "-d"],
                              capture_output=True, timeout=30)
        assert proc.returncode == 0, proc.stderr
        records = []
        while True:
            try:
                msg = sock.recv(65535)
            except TimeoutError:
                break
            version, count = struct.unpack_from("!HH", msg)
            assert version == 5
            for i in range(count):  # RFC-less but stable v5 record layout: 48 bytes each
                (src, dst, _nh, _in, _out, pkts, octets, _first, _last, sport, dport, _pad, flags,
                 proto) = struct.unpack_from("!4s4s4sHHIIIIHHBBB", msg, 24 + 48 * i)
                records.append((socket.inet_ntoa(src), socket.inet_ntoa(dst), sport, dport, proto,
                                pkts, octets, flags))
        return records
    finally:
        sock.close()


def tshark_packets(tshark: str, pcap: Path) -> list[tuple[str, str, int, int, int]]:
    """(src, dst, sport, dport, ip.len) of every TCP packet, as tshark dissects them."""
    out = subprocess.run(
        [tshark, "-r", str(pcap), "-Y", "tcp", "-T", "fields", "-e", "ip.src", "-e", "ip.dst",
         "-e", "tcp.srcport", "-e", "tcp.dstport", "-e", "ip.len"],
        capture_output=True, text=True, timeout=60, check=True).stdout
    rows = []
    for line in out.splitlines():
        s, d, sp, dp, n = line.split("\t")
        rows.append((s, d, int(sp), int(dp), int(n)))
    return rows


def tshark_conversations(tshark: str, pcap: Path) -> dict[tuple[str, int, str, int], tuple[int, int]]:
    """``tshark -z conv,tcp``: (A, port, B, port) -> (frames A->B, frames B->A)."""
    out = subprocess.run([tshark, "-r", str(pcap), "-q", "-z", "conv,tcp"], capture_output=True, text=True,
                         timeout=60, check=True).stdout
    convs = {}
    for line in out.splitlines():
        if "<->" not in line:
            continue
        f = line.split()
        a, b = f[0].rsplit(":", 1), f[2].rsplit(":", 1)
        back, fwd = int(f[3]), int(f[6])  # columns: <- frames, bytes, unit, -> frames, ...
        convs[(a[0], int(a[1]), b[0], int(b[1]))] = (fwd, back)
    return convs


@pytest.mark.shared
@pytest.mark.tools
@pytest.mark.parametrize("name", CAPTURES)
def test_uniflows_match_softflowd(name: str, shared_file, require_tool) -> None:
    pcap = shared_file(f"data/{name}")
    expected = softflowd_v5(require_tool("softflowd"), pcap)
    ours = meter_rows(f"pcap:{pcap}?biflow=false&{NO_TIMEOUTS}")
    got = [(r["sourceIPv4Address"], r["destinationIPv4Address"], r["sourceTransportPort"],
            r["destinationTransportPort"], r["protocolIdentifier"], r["packetDeltaCount"], r["tcpControlBits"])
           for r in ours]
    # softflowd counts captured bytes after the link header, Ethernet padding included, where
    # IPFIX octetDeltaCount is the IP length: octets are checked against tshark below.
    want = [(s, d, sp, dp, p, n, fl) for s, d, sp, dp, p, n, _octets, fl in expected]
    assert len(want) > 0
    assert sorted(got) == sorted(want)


@pytest.mark.shared
@pytest.mark.tools
@pytest.mark.parametrize("name", CAPTURES)
def test_biflows_match_tshark_conversations_and_ip_lengths(name: str, shared_file, require_tool) -> None:
    tshark = require_tool("tshark")
    pcap = shared_file(f"data/{name}")
    convs = tshark_conversations(tshark, pcap)
    octets: dict[tuple[str, str, int, int], int] = defaultdict(int)
    for s, d, sp, dp, n in tshark_packets(tshark, pcap):
        octets[(s, d, sp, dp)] += n
    ours = meter_rows(f"pcap:{pcap}?{NO_TIMEOUTS}")
    assert len(ours) == len(convs)
    for r in ours:
        a, b = r["sourceIPv4Address"], r["destinationIPv4Address"]
        ap, bp = r["sourceTransportPort"], r["destinationTransportPort"]
        fwd, back = convs.get((a, ap, b, bp)) or tuple(reversed(convs[(b, bp, a, ap)]))
        assert (r["packetDeltaCount"], r["reversePacketDeltaCount"]) == (fwd, back)
        assert r["octetDeltaCount"] == octets[(a, b, ap, bp)]
        assert r["reverseOctetDeltaCount"] == octets[(b, a, bp, ap)]


@pytest.mark.shared
def test_vnc_scanner_connection_is_one_record_with_its_trailing_rsts(shared_file) -> None:
    # Hand-derived from `tshark -r rfb_vnc-scanner.pcap -T fields -e ip.src -e tcp.flags.str -e ip.len`:
    # packets 1-17 form one connection (FIN from the server at 16, from the client at 17);
    # 18 (RST+ACK), 19 and 20 (RST) from the client, 0.2 ms later, still belong to it, as
    # tshark's conversation table (one conversation, 10 frames each way) says.
    rows = meter_rows(f"pcap:{shared_file('data/zeek/rfb_vnc-scanner.pcap')}")
    got = [(r["packetDeltaCount"], r["octetDeltaCount"], r["reversePacketDeltaCount"],
            r["reverseOctetDeltaCount"], r["flowEndReason"]) for r in rows]
    assert got == [
        (7 + 3, 52 + 40 + 52 + 40 + 41 + 56 + 40 + 3 * 40, 10, 52 + 52 + 41 * 3 + 56 + 44 + 44 + 81 + 40, 3),
    ]
    (r,) = rows
    assert r["sourceIPv4Address"] == "192.168.0.11"
    assert r["flowStartMilliseconds"] == 1551120432183  # frame 1: 1551120432.183993 s
    assert r["tcpControlBits"] & 0xC0 == 0xC0  # ECE and CWR on the first SYN
    assert r["tcpControlBits"] & 0x05 == 0x05  # the client's FIN and RST


@pytest.mark.shared
def test_syn_flood_one_flow_per_syn(shared_file) -> None:
    rows = meter_rows(f"pcap:{shared_file('data/suricata/syn_flood_200.pcap')}")
    assert len(rows) == 200
    assert {r["tcpControlBits"] for r in rows} == {0x02}
    assert {r["destinationTransportPort"] for r in rows} == {443}
    assert sorted(r["sourceTransportPort"] for r in rows) == list(range(40000, 40200))


def test_sniffing_and_bare_path_registry(tmp_path: Path, shared_file) -> None:
    from scapy.layers.inet import IP, UDP
    from scapy.layers.l2 import Ether
    from scapy.utils import wrpcap

    pcap = shared_file("data/zeek/rfb_vnc-scanner.pcap")
    assert is_capture(pcap.read_bytes()[:64])
    assert not is_capture(b'{"a": 1}\n')
    assert not is_capture(b"\x00\x0a\x00\x10")  # an IPFIX message
    ns = tmp_path / "nano.pcap"
    wrpcap(str(ns), [Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02") / IP() / UDP()], nano=True)
    assert is_capture(ns.read_bytes()[:4])

    from flowcep_plugin.manager import make_plugin_manager
    from flowcep_plugin.registry import Registry

    registry = Registry.build(make_plugin_manager())
    assert "pcap" in registry.inputs and "iface" in registry.inputs
    ctx = Context()
    src = registry.open_input(str(pcap), {"inputs": {"pcap": {"tcp_end": False}}}, ctx)
    assert sum(len(b) for b in src.batches()) == 1  # one connection when FIN/RST do not end flows


def test_pcapng_gives_the_same_flows_as_pcap(tmp_path: Path, shared_file) -> None:
    from scapy.utils import rdpcap, wrpcapng

    pcap = shared_file("data/zeek/rfb_vnc-scanner.pcap")
    ng = tmp_path / "vnc.pcapng"
    wrpcapng(str(ng), rdpcap(str(pcap)))
    assert ng.read_bytes()[:4] == b"\x0a\x0d\x0d\x0a"
    assert meter_rows(f"pcap:{ng}") == meter_rows(f"pcap:{pcap}")


@pytest.mark.shared
@pytest.mark.tools
def test_bpf_filter_on_a_file_goes_through_tcpdump(shared_file, require_tool) -> None:
    require_tool("tcpdump")
    pcap = shared_file("data/esnet-scans/masscan_tcp_0_1000_20190821.pcap")
    rows = meter_rows(f"pcap:{pcap}?filter=vlan and tcp dst port 80&{NO_TIMEOUTS}")
    # tshark: frames 402 (SYN), 410 and 497 (RST) are the only ones to port 80
    assert [(r["destinationTransportPort"], r["packetDeltaCount"]) for r in rows] == [(80, 3)]


@pytest.mark.shared
def test_truncated_capture_ends_with_one_line_and_keeps_earlier_flows(tmp_path: Path, shared_file, caplog) -> None:
    data = shared_file("data/suricata/syn_flood_200.pcap").read_bytes()
    # 24-byte file header, then 200 records of 16 + 54 bytes: cut inside record 101
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(data[:24 + 100 * 70 + 30])
    ctx = Context()
    with caplog.at_level(logging.ERROR, logger="flowcep"):
        rows = meter_rows(f"pcap:{cut}", ctx)
    assert len(rows) == 100
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1
    assert str(cut) in errors[0] and "after packet 100" in errors[0]


def test_garbage_record_header_and_bad_packets_are_counted(tmp_path: Path) -> None:
    from scapy.layers.inet import IP, TCP
    from scapy.layers.l2 import Ether
    from scapy.utils import wrpcap

    good = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02") / IP(src="1.1.1.1", dst="2.2.2.2") / TCP(sport=1, dport=2, flags="S")
    f = tmp_path / "bad.pcap"
    wrpcap(str(f), [good, Ether(bytes(good)[:20]), good])
    raw = f.read_bytes() + struct.pack("<IIII", 0, 0, 0x7FFFFFF0, 0x7FFFFFF0) + b"junk" * 10
    f.write_bytes(raw)
    ctx = Context()
    rows = meter_rows(f"pcap:{f}", ctx)
    assert sum(r["packetDeltaCount"] for r in rows) == 2
    snap = ctx.stats.snapshot()
    assert snap["drops"] == {"malformed": 1}
    assert snap["drops_by_source"] == {f"pcap:{f}": {"malformed": 1}}
    assert snap["gauges"]["pcap corrupt captures"] == 1


def test_open_errors_are_one_line(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        PcapSource(parse_address(f"pcap:{tmp_path}/nope.pcap"), {}, Context())
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    with pytest.raises(InputError, match="does not look like pcap or pcapng"):
        PcapSource(parse_address(f"pcap:{text}"), {}, Context())
    ipfix = tmp_path / "flows.ipfix"
    ipfix.write_bytes(bytes.fromhex("000a0020") + bytes(28))  # an IPFIX message header
    with pytest.raises(InputError, match="looks like an IPFIX file.*ipfix-file:PATH"):
        PcapSource(parse_address(f"pcap:{ipfix}"), {}, Context())
    with pytest.raises(ConfigError, match="unknown option 'colour'"):
        PcapSource(parse_address(f"pcap:{text}?colour=red"), {}, Context())
    with pytest.raises(ConfigError, match="inactive_timeout"):
        PcapSource(parse_address(f"pcap:{text}?inactive_timeout=soon"), {}, Context())


def _can_capture() -> bool:
    try:
        s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    except (OSError, AttributeError):
        return False
    s.close()
    return True


@pytest.mark.skipif(not _can_capture() or not Path("/sys/class/net/lo").exists(),
                    reason="live capture needs CAP_NET_RAW and a loopback interface")
def test_live_capture_on_loopback_with_bpf_filter() -> None:
    ctx = Context()
    port = 47000 + int(time.time()) % 1000
    src = IfaceSource(parse_address(f"iface:lo?filter=udp dst port {port}&inactive_timeout=1"), {}, ctx)
    batches: list[Any] = []
    t = threading.Thread(target=lambda: batches.extend(src.batches()), daemon=True)
    t.start()
    time.sleep(0.3)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for _ in range(5):
            s.sendto(b"x" * 10, ("127.0.0.1", port))
        s.sendto(b"y", ("127.0.0.1", port + 1))  # filtered out by BPF
    deadline = time.time() + 5
    while time.time() < deadline and not any(len(b) for b in batches):
        time.sleep(0.1)
    src.close()
    t.join(5)
    assert not t.is_alive()
    rows = [r for b in batches for r in b.rows()]
    assert [(r["destinationTransportPort"], r["packetDeltaCount"], r["octetDeltaCount"]) for r in rows] == [
        (port, 5, 5 * (20 + 8 + 10))
    ]
    assert any(len(b) == 0 for b in batches)  # idle batches let the host move the watermark


def test_truncated_pcapng_is_reported_too(tmp_path: Path, shared_file, caplog) -> None:
    import scapy.layers.l2  # noqa: F401  (rdpcap knows Ethernet)
    from scapy.utils import rdpcap, wrpcapng

    ng = tmp_path / "vnc.pcapng"
    wrpcapng(str(ng), rdpcap(str(shared_file("data/zeek/rfb_vnc-scanner.pcap"))))
    cut = tmp_path / "cut.pcapng"
    cut.write_bytes(ng.read_bytes()[:-40])  # inside the last packet's block
    with caplog.at_level(logging.ERROR, logger="flowcep"):
        rows = meter_rows(f"pcap:{cut}")
    assert sum(r["packetDeltaCount"] + r["reversePacketDeltaCount"] for r in rows) == 19
    errors = [r.getMessage() for r in caplog.records if r.name == "flowcep" and r.levelno >= logging.ERROR]
    assert len(errors) == 1 and "after packet 19" in errors[0]


@pytest.mark.shared
@pytest.mark.tools
def test_bad_bpf_filter_is_a_startup_error(shared_file, require_tool) -> None:
    require_tool("tcpdump")
    pcap = shared_file("data/zeek/rfb_vnc-scanner.pcap")
    with pytest.raises(ConfigError, match="BPF filter 'tcp port bogus' rejected"):
        PcapSource(parse_address(f"pcap:{pcap}?filter=tcp port bogus"), {}, Context())


def test_http_detector_fires_on_a_capture(tmp_path: Path) -> None:
    """The point of HTTPRequestURL in the meter: FlowCEP's HTTP detectors work on captures.
    20 login attempts on one server in 40 s (the multistage detector's brute-force stage wants
    more than 16 requests for one login URL on one server within a minute)."""
    from scapy.layers.inet import IP, TCP
    from scapy.layers.l2 import Ether
    from scapy.utils import wrpcap

    from flowcep_plugin import api

    eth = {"src": "02:00:00:00:00:01", "dst": "02:00:00:00:00:02"}
    attacker, server = "203.0.113.66", "198.51.100.80"
    pkts = []
    t = 1_700_000_000.0
    for n in range(20):
        sport = 40000 + n
        body = b"user=admin&pass=guess%d" % n
        req = (b"POST /wp-login.php HTTP/1.1\r\nHost: blog.example\r\nContent-Length: %d\r\n\r\n" % len(body)) + body
        conv = [
            (attacker, server, sport, 80, "S", b""), (server, attacker, 80, sport, "SA", b""),
            (attacker, server, sport, 80, "A", b""), (attacker, server, sport, 80, "PA", req),
            (server, attacker, 80, sport, "PA", b"HTTP/1.1 403 Forbidden\r\n\r\n"),
            (attacker, server, sport, 80, "FA", b""), (server, attacker, 80, sport, "FA", b""),
        ]
        for src, dst, sp, dp, flags, payload in conv:
            p = Ether(**eth) / IP(src=src, dst=dst) / TCP(sport=sp, dport=dp, flags=flags) / payload
            p.time = t
            pkts.append(p)
            t += 0.05
        t += 1.65
    pcap = tmp_path / "bruteforce.pcap"
    wrpcap(str(pcap), pkts)
    result = api.run([f"pcap:{pcap}"], detectors=["multistage"])
    brute = [e for e in result.events if e.get("rule", {}).get("id") == "multistage-http-bruteforce"]
    assert len(brute) == 1
    assert brute[0]["source"]["ip"] == attacker
    assert brute[0]["destination"]["ip"] == server
    assert brute[0]["flowcep"]["fields"]["URL"] == "/wp-login.php"
    assert brute[0]["flowcep"]["counts"]["AtkCount"] == 20


@pytest.mark.shared
def test_capture_piped_on_stdin(shared_file, monkeypatch) -> None:
    import io
    import sys

    pcap = shared_file("data/zeek/rfb_vnc-scanner.pcap")
    with open(pcap, "rb") as fh:
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(fh))
        rows = meter_rows("pcap:-")
    assert rows == meter_rows(f"pcap:{pcap}")
    with pytest.raises(ConfigError, match="takes no filter"):
        PcapSource(parse_address("pcap:-?filter=tcp"), {}, Context())


def test_fragment_options_reach_the_meter(tmp_path: Path) -> None:
    from flowcep_plugin.inputs.pcap import _meter, meter_settings

    settings = meter_settings({"max_fragments": 7}, {"fragment_timeout": "2s", "fragment_hold": "250ms"}, "pcap:x")
    meter = _meter(settings, "pcap:x")
    assert (meter.frag_timeout_ms, meter.frag_hold_ms, meter.max_fragments) == (2000, 250, 7)
    with pytest.raises(ConfigError, match="pcap:x: fragment_hold"):
        meter_settings({}, {"fragment_hold": "soon"}, "pcap:x")
    with pytest.raises(ConfigError, match="max_fragments: must be at least 1"):
        meter_settings({"max_fragments": 0}, {}, "pcap:x")


def test_close_linger_option_reaches_the_meter(tmp_path: Path) -> None:
    from scapy.layers.inet import IP, TCP
    from scapy.layers.l2 import Ether
    from scapy.utils import wrpcap

    from flowcep_plugin.inputs.pcap import _meter, meter_settings

    assert _meter(meter_settings({}, {}, "pcap:x"), "pcap:x").linger_ms == 5000
    assert _meter(meter_settings({"close_linger": "2s"}, {}, "pcap:x"), "pcap:x").linger_ms == 2000
    with pytest.raises(ConfigError, match="pcap:x: close_linger"):
        meter_settings({}, {"close_linger": "later"}, "pcap:x")
    # the connection's last ACK comes 1 s after the second FIN: it joins with the default
    # linger and is a record of its own with close_linger=0 (the end at the closing packet)
    pkts = []
    for t, (src, dst, sp, dp, fl) in enumerate([("10.0.0.1", "10.0.0.2", 40000, 80, "FA"),
                                                ("10.0.0.2", "10.0.0.1", 80, 40000, "FA"),
                                                ("10.0.0.1", "10.0.0.2", 40000, 80, "A")]):
        p = Ether() / IP(src=src, dst=dst) / TCP(sport=sp, dport=dp, flags=fl)
        p.time = 1_700_000_000 + t
        pkts.append(p)
    pcap = tmp_path / "close.pcap"
    wrpcap(str(pcap), pkts)
    assert len(meter_rows(f"pcap:{pcap}")) == 1
    assert len(meter_rows(f"pcap:{pcap}?close_linger=0")) == 2
