"""A real exporter end to end: softflowd reads a capture and exports NetFlow v5, v9 and IPFIX
(UDP and TCP, three timestamp precisions) to our collectors on loopback. The expected flows
are computed independently from the capture with scapy (per direction 5-tuple: packets,
bytes, OR of TCP flags, first/last packet time)."""

from __future__ import annotations

import subprocess
import threading
import time
import uuid
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from flowcep_plugin.context import Context
from flowcep_plugin.inputs.collectors import TCPCollector, UDPCollector

pytestmark = [pytest.mark.shared, pytest.mark.tools, pytest.mark.slow]  # ~10 s in all

CAPTURES = ["suricata/syn_flood_200.pcap", "esnet-scans/masscan_tcp_0_1000_20190821.pcap",
            "zeek/rfb_vnc-scanner.pcap"]


def expected_flows(path: Path) -> dict[tuple, dict[str, int]]:
    from scapy.all import IP, TCP, UDP, rdpcap

    flows: dict[tuple, dict[str, int]] = defaultdict(lambda: {"packets": 0, "octets": 0, "frame_octets": 0,
                                                               "flags": 0, "first": 1 << 62, "last": 0})
    for pkt in rdpcap(str(path)):
        if IP not in pkt:
            continue
        ip = pkt[IP]
        l4 = pkt[TCP] if TCP in pkt else pkt[UDP] if UDP in pkt else None
        key = (ip.src, ip.dst, l4.sport if l4 else 0, l4.dport if l4 else 0, ip.proto)
        f = flows[key]
        f["packets"] += 1
        f["octets"] += ip.len
        f["frame_octets"] += len(pkt) - 14
        if TCP in pkt:
            f["flags"] |= int(pkt[TCP].flags)
        ms = int(float(pkt.time) * 1000)
        f["first"] = min(f["first"], ms)
        f["last"] = max(f["last"], ms)
    return dict(flows)


def collect(kind: str, capture: Path, version: str, extra: list[str], tmp_path: Path) -> tuple[list[dict[str, Any]], Context]:
    ctx = Context()
    col: Any = (TCPCollector if kind == "tcp" else UDPCollector)(ctx, kind, "127.0.0.1", 0, idle=0.1)
    rows: list[dict[str, Any]] = []

    def consume() -> None:
        for b in col.batches():
            if b.stream == "Flow":  # softflowd's options records travel apart
                rows.extend(b.rows())

    th = threading.Thread(target=consume, daemon=True)
    th.start()
    # softflowd 1.1.0 hangs after EOF when its control socket path is longer than about 12
    # characters (it then never receives its own shutdown request): keep it very short.
    tag = uuid.uuid4().hex[:4]
    ctl, pid = Path(f"/tmp/sf{tag}"), tmp_path / "softflowd.pid"
    # -a: timestamps from the capture rather than the wall clock
    cmd = ["softflowd", "-r", str(capture), "-n", f"127.0.0.1:{col.address[1]}", "-v", version, "-d", "-a",
           "-c", str(ctl), "-p", str(pid), *extra]
    if kind == "tcp":
        cmd += ["-P", "tcp"]
    try:
        subprocess.run(cmd, capture_output=True, timeout=30, check=True, stdin=subprocess.DEVNULL)
    finally:
        ctl.unlink(missing_ok=True)
        pid.unlink(missing_ok=True)
    deadline = time.monotonic() + 5
    last = -1
    while time.monotonic() < deadline:  # wait until nothing more arrives
        time.sleep(0.3)
        if len(rows) == last:
            break
        last = len(rows)
    col.close()
    th.join(5)
    return rows, ctx


KINDS = {
    # v5 (softflowd -a leaves unix_nsecs 0) and v9 (header time has whole seconds only) give
    # absolute times to within a second; IPFIX carries them directly.
    "v5": ("udp", "5", [], "flowEndMilliseconds", 1, 1000),
    "v9": ("udp", "9", [], "flowEndMilliseconds", 1, 1000),
    "ipfix-ms": ("udp", "10", ["-A", "milli"], "flowEndMilliseconds", 1, 1),
    "ipfix-us": ("udp", "10", ["-A", "micro"], "flowEndMicroseconds", 1000, 1),
    "ipfix-ns": ("udp", "10", ["-A", "nano"], "flowEndNanoseconds", 1_000_000, 1),
    "ipfix-tcp": ("tcp", "10", ["-A", "milli"], "flowEndMilliseconds", 1, 1),
}
CASES = [(CAPTURES[0], k) for k in KINDS] + [
    (CAPTURES[1], "v5"), (CAPTURES[1], "ipfix-tcp"), (CAPTURES[2], "v9"), (CAPTURES[2], "ipfix-ms")]


@pytest.mark.parametrize("capture,kind_name", CASES)
def test_softflowd_export_matches_capture(require_tool, shared_file, tmp_path: Path, capture: str,
                                          kind_name: str) -> None:
    require_tool("softflowd")
    kind, version, extra, time_field, unit, tolerance = KINDS[kind_name]
    path = shared_file(f"data/{capture}")
    expected = expected_flows(path)
    rows, ctx = collect(kind, path, version, extra, tmp_path)
    assert not ctx.stats.drops
    got = {}
    for r in rows:
        key = (r["sourceIPv4Address"], r["destinationIPv4Address"], r.get("sourceTransportPort", 0),
               r.get("destinationTransportPort", 0), r["protocolIdentifier"])
        assert key not in got, f"flow {key} exported twice"
        got[key] = r
    assert set(got) == set(expected)
    for key, e in expected.items():
        r = got[key]
        assert (r["packetDeltaCount"], r["tcpControlBits"]) == (e["packets"], e["flags"]), key
        # softflowd counts bytes after the Ethernet header, so minimum-frame padding (and a
        # trailing FCS) may be included: between the IP lengths and the frame lengths.
        assert e["octets"] <= r["octetDeltaCount"] <= e["frame_octets"], key
        # softflowd gives both directions of a connection the connection's times, so the end
        # time lies within the connection's first..last packet (in the element's own unit)
        rev = expected.get((key[1], key[0], key[3], key[2], key[4]), e)
        lo, hi = min(e["first"], rev["first"]), max(e["last"], rev["last"])
        end = r[time_field] // unit
        assert lo - tolerance <= end <= hi + tolerance, key
        if (key[1], key[0], key[3], key[2], key[4]) not in expected:  # one-way flow: exact
            assert abs(end - e["last"]) <= tolerance, key
