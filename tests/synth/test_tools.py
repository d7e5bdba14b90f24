"""Generated files checked by independent tools: tshark decodes the IPFIX (wrapped in UDP) and
dissects the pcap; tcpdump reads the pcap. Expected counts come from the scenario model, not
from the writers."""

from __future__ import annotations

import io
import subprocess
from collections import Counter
from pathlib import Path

import pytest

from flowcep_plugin.synth import Scenario, generate
from flowcep_plugin.synth.flows import write_ipfix
from flowcep_plugin.synth.pcap_out import write_pcap

pytestmark = pytest.mark.tools


def _udp_pcap(ipfix: bytes, path: Path) -> int:
    """Wrap each IPFIX message (split by its length field) in a UDP datagram to port 4739."""
    from scapy.layers.inet import IP, UDP
    from scapy.utils import wrpcap

    pkts, off = [], 0
    while off < len(ipfix):
        ln = int.from_bytes(ipfix[off + 2:off + 4], "big")
        assert ln >= 16
        pkts.append(IP(src="192.0.2.1", dst="192.0.2.2") / UDP(sport=4739, dport=4739) / ipfix[off:off + ln])
        off += ln
    wrpcap(str(path), pkts)
    return len(pkts)


def _tshark(tshark: str, *args: str) -> str:
    out = subprocess.run([tshark, "-n", *args], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return out.stdout


def _expected_flows(s: Scenario) -> int:
    return sum((c.fwd_packets > 0) + (c.rev_packets > 0) for c in s.conversations)


@pytest.fixture(scope="module")
def scenario() -> Scenario:
    return generate("multistage-http", 1, 360, clients=4)


def test_ipfix_decodes_with_tshark_without_errors(tmp_path, require_tool, scenario) -> None:
    tshark = require_tool("tshark")
    buf = io.BytesIO()
    n = write_ipfix(scenario, buf, http_elements="iana")
    assert n == _expected_flows(scenario)
    pcap = tmp_path / "ipfix.pcap"
    messages = _udp_pcap(buf.getvalue(), pcap)
    dec = ["-r", str(pcap), "-d", "udp.port==4739,cflow"]
    bad = _tshark(tshark, *dec, "-Y", "_ws.malformed || _ws.expert.severity >= 6291456")
    assert bad.strip() == ""
    # one line per message; cflow.srcaddr repeats once per flow record
    fields = _tshark(tshark, *dec, "-T", "fields", "-E", "occurrence=a", "-E", "aggregator=;",
                     "-e", "cflow.srcaddr", "-e", "cflow.http_request_target")
    lines = fields.splitlines()
    assert len(lines) == messages
    srcs = [a for line in lines for a in line.split("\t")[0].split(";") if a]
    assert len(srcs) == _expected_flows(scenario)
    model_srcs = Counter([c.client for c in scenario.conversations if c.fwd_packets]
                         + [c.server for c in scenario.conversations if c.rev_packets])
    assert Counter(srcs) == model_srcs
    urls = Counter(u for line in lines for u in line.split("\t")[1].split(";") if u)
    model_urls = Counter(c.http_url for c in scenario.conversations if c.http_url)
    assert urls == model_urls and urls["/login"] >= 3 * 60


def test_tshark_check_catches_a_damaged_message(tmp_path, require_tool, scenario) -> None:
    """The 'no malformed' check above can fail: a set length below 4 (RFC 7011 3.3.2) is flagged."""
    tshark = require_tool("tshark")
    buf = io.BytesIO()
    write_ipfix(scenario, buf)
    data = buf.getvalue()
    first = int.from_bytes(data[2:4], "big")
    second = bytearray(data[first:first + int.from_bytes(data[first + 2:first + 4], "big")])
    second[18:20] = (3).to_bytes(2, "big")  # the data set header follows the 16-byte message header
    from scapy.layers.inet import IP, UDP
    from scapy.utils import wrpcap

    wrpcap(str(tmp_path / "bad.pcap"), [IP() / UDP(sport=4739, dport=4739) / data[:first],
                                        IP() / UDP(sport=4739, dport=4739) / bytes(second)])
    bad = _tshark(tshark, "-r", str(tmp_path / "bad.pcap"), "-d", "udp.port==4739,cflow",
                  "-Y", "_ws.malformed || _ws.expert.severity >= 6291456")
    assert bad.strip() != ""


@pytest.fixture(scope="module")
def small_pcap(tmp_path_factory) -> tuple[Path, Scenario, int]:
    s = generate("ssh-bruteforce", 1, 360, clients=1, busy=False)
    # attack traffic written packet for packet, small background conversations (DNS, NTP,
    # web...), and the multi-stage attack for Host/URL checks: a few thousand packets
    small = [c for c in s.conversations if c.label < 0 and c.fwd_packets + c.rev_packets < 40][:300]
    s.conversations = sorted(small + [c for c in s.conversations if c.label >= 0]
                             + [c for c in generate("multistage-http", 1, 360, clients=1,
                                                    busy=False).conversations if c.label >= 0],
                             key=lambda c: c.start_ms)
    path = tmp_path_factory.mktemp("pcap") / "small.pcap"
    n = write_pcap(s, str(path), max_segments=10_000)
    return path, s, n


@pytest.mark.slow
def test_pcap_opens_in_tshark_with_model_packet_counts(require_tool, small_pcap) -> None:
    tshark = require_tool("tshark")
    path, s, n = small_pcap
    frames = _tshark(tshark, "-r", str(path), "-T", "fields", "-e", "frame.number").split()
    # every conversation's packets, fragments included (one IP packet per counted packet)
    assert len(frames) == n == sum(c.fwd_packets + c.rev_packets for c in s.conversations)
    errors = _tshark(tshark, "-r", str(path), "-Y", "_ws.malformed || _ws.expert.severity >= 8388608")
    assert errors.strip() == ""
    syns = _tshark(tshark, "-r", str(path), "-Y", "tcp.flags.syn==1 && tcp.flags.ack==0", "-T", "fields",
                   "-e", "frame.number").split()
    assert len(syns) == sum(1 if c.kind != "syn" else c.fwd_packets for c in s.conversations if c.proto == 6)
    http = _tshark(tshark, "-r", str(path), "-Y", "http.request", "-T", "fields", "-e", "http.request.method",
                   "-e", "http.host", "-e", "http.request.uri").splitlines()
    model = [f"{c.http_method}\t{c.http_host}\t{c.http_url}" for c in s.conversations if c.app == "http"]
    assert Counter(http) == Counter(model)
    assert sum(1 for h in http if h.startswith("POST") and h.endswith("/login")) >= 180  # + benign logins


@pytest.mark.slow
def test_pcap_ssh_guessing_flows_have_the_stream4flow_shape(require_tool, small_pcap) -> None:
    """Per TCP conversation seen by tshark: attacker->server 10-20 packets, 1800-5000 IP bytes."""
    tshark = require_tool("tshark")
    path, s, _ = small_pcap
    out = _tshark(tshark, "-r", str(path), "-Y", "ip.src==203.0.113.44 && tcp.dstport==22", "-T", "fields",
                  "-e", "tcp.stream", "-e", "ip.len", "-e", "frame.time_epoch")
    per: dict[str, list[tuple[int, float]]] = {}
    for line in out.splitlines():
        stream, ln, t = line.split("\t")
        per.setdefault(stream, []).append((int(ln), float(t)))
    assert len(per) >= 40
    for pkts in per.values():
        assert 10 <= len(pkts) <= 20
        assert 1800 <= sum(p[0] for p in pkts) <= 5000
        assert max(p[1] for p in pkts) - min(p[1] for p in pkts) < 12


@pytest.mark.slow
def test_pcap_reads_with_tcpdump(require_tool, small_pcap) -> None:
    tcpdump = require_tool("tcpdump")
    path, s, n = small_pcap
    out = subprocess.run([tcpdump, "-nn", "-r", str(path)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert len(lines) == n
    # SYN probes of the scan, with their RST/ACK answers from closed ports
    assert any("203.0.113.66" in ln and "Flags [S]" in ln for ln in lines)
    assert any("> 203.0.113.66" in ln and "Flags [R.]" in ln for ln in lines)


def test_pcap_dns_and_fragments_decode(tmp_path, require_tool) -> None:
    """DNS amplification responses (~3.5 KB) are IP-fragmented and reassemble into DNS."""
    tshark = require_tool("tshark")
    s = generate("dns-amplification", 1, 180, clients=1, busy=False)
    s.conversations = [c for c in s.conversations if c.label >= 0][:5]
    path = tmp_path / "amp.pcap"
    write_pcap(s, str(path))
    out = _tshark(tshark, "-r", str(path), "-Y", "dns.flags.response==1", "-T", "fields", "-e", "dns.qry.name",
                  "-e", "dns.qry.type", "-e", "ip.src")
    rows = out.splitlines()
    assert len(rows) == sum(len(c.rev_msgs) for c in s.conversations)
    assert all(r.startswith("isc.org\t255\t198.51.100.") for r in rows)
    assert _tshark(tshark, "-r", str(path), "-Y", "_ws.malformed || _ws.expert.severity >= 8388608").strip() == ""


def test_pcap_icmp_echo_decodes(tmp_path, require_tool) -> None:
    """The ICMP sweep as packets: one echo request per address, replies from live hosts."""
    tshark = require_tool("tshark")
    s = generate("icmp-sweep", 1, 180, clients=1, busy=False)
    s.conversations = [c for c in s.conversations if c.label >= 0]
    path = tmp_path / "sweep.pcap"
    write_pcap(s, str(path))
    out = _tshark(tshark, "-r", str(path), "-Y", "icmp", "-T", "fields", "-e", "icmp.type", "-e", "ip.dst")
    types = Counter(line.split("\t")[0] for line in out.splitlines())
    assert types["8"] == 254 == len({line.split("\t")[1] for line in out.splitlines() if line.startswith("8")})
    assert types["0"] == sum(1 for c in s.conversations if c.rev_packets)
    assert _tshark(tshark, "-r", str(path), "-Y", "_ws.malformed || _ws.expert.severity >= 8388608").strip() == ""
