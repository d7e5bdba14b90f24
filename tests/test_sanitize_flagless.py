"""Exporters that put 0 in tcpControlBits because they do not track flags: their 0 is read as
absent, so no detector takes their connections for NULL probes and names busy clients scanners."""

from __future__ import annotations

import json
import re
import struct
from pathlib import Path
from typing import Any

import pytest

from flowcep_plugin.api import run
from flowcep_plugin.elements import default_registry
from flowcep_plugin.records import FlowBatch
from flowcep_plugin.sanitize import (
    FLAGLESS_HISTORY,
    FLAGLESS_MIN_EVIDENCE,
    FLAGLESS_SAMPLE,
    FLAGLESS_SHARE_PERCENT,
    MAX_FLAGLESS_EXPORTERS,
    Sanitizer,
)
from flowcep_plugin.stats import Stats
from flowcep_plugin.testing import make_flow

T0 = 1_700_000_100_000
BASE = T0 - T0 % 300_000


def batch(flags: list[int | None], packets: list[int], octets: list[int], proto: int = 6,
          exporter: str | None = "192.0.2.1", rflags: list[int | None] | None = None) -> FlowBatch:
    cols: dict[str, list[Any]] = {
        "protocolIdentifier": [proto] * len(flags), "tcpControlBits": list(flags),
        "packetDeltaCount": packets, "octetDeltaCount": octets,
        "flowEndMilliseconds": [T0] * len(flags)}
    if rflags is not None:
        cols["reverseTcpControlBits"] = list(rflags)
    return FlowBatch(cols, source="udp:test", exporter=exporter)


def test_flags_zero_on_a_connection_that_carried_data_marks_the_exporter() -> None:
    stats = Stats()
    san = Sanitizer(default_registry(), stats)
    out = san.clean(batch([0, 0, 0x1B], [12, 1, 8], [9000, 40, 800], rflags=[0, 0, 0x1B]))
    assert out.columns["tcpControlBits"] == [None, None, 0x1B]  # real flags are kept
    assert out.columns["reverseTcpControlBits"] == [None, None, 0x1B]
    assert stats.gauges.get("sanitize.flagless_exporters", 0) == 1
    assert stats.gauges.get("sanitize.flags_unreported", 0) == 4
    # remembered: a later batch of bare flags-0 records from the same exporter is read alike
    later = san.clean(batch([0, 2], [1, 1], [40, 60]))
    assert later.columns["tcpControlBits"] == [None, 2]
    # another exporter of the same input is judged on its own
    other = san.clean(batch([0], [1], [40], exporter="192.0.2.2"))
    assert other.columns["tcpControlBits"] == [0]


@pytest.mark.parametrize("packets, octets", [(1, 40), (2, 80), (2, 120), (1, 60)])
def test_a_null_probe_keeps_its_zero(packets: int, octets: int) -> None:
    """One or two bare headers with no flag (nmap -sN, with its retransmission) prove nothing."""
    stats = Stats()
    out = Sanitizer(default_registry(), stats).clean(batch([0], [packets], [octets]))
    assert out.columns["tcpControlBits"] == [0]
    assert stats.gauges.get("sanitize.flagless_exporters", 0) == 0


def test_other_protocols_and_batches_without_zero_flags_are_untouched() -> None:
    stats = Stats()
    san = Sanitizer(default_registry(), stats)
    b = batch([0, 0], [50, 50], [50_000, 50_000], proto=17)
    assert san.clean(b) is b and b.columns["tcpControlBits"] == [0, 0]
    b = batch([0x1B, 0x02], [50, 1], [50_000, 60])
    assert san.clean(b) is b and b.columns["tcpControlBits"] == [0x1B, 0x02]
    assert stats.gauges.get("sanitize.flags_unreported", 0) == 0


def test_the_table_of_exporters_is_bounded_and_counts_evictions() -> None:
    stats = Stats()
    san = Sanitizer(default_registry(), stats)
    for i in range(MAX_FLAGLESS_EXPORTERS + 3):
        san.clean(batch([0], [5], [5000], exporter=f"e{i}"))
    assert stats.gauges.get("sanitize.flagless_exporters", 0) == MAX_FLAGLESS_EXPORTERS + 3
    assert stats.gauges.get("sanitize.flagless_evicted", 0) == 3
    # the first exporters were evicted: their bare zero is a zero again until proven anew
    assert san.clean(batch([0], [1], [40], exporter="e0")).columns["tcpControlBits"] == [0]
    assert san.clean(batch([0], [1], [40], exporter=f"e{MAX_FLAGLESS_EXPORTERS + 2}")).columns["tcpControlBits"] == [None]


def _run(tmp_path: Path, recs: list[dict[str, Any]]) -> Any:
    path = tmp_path / "flows.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in recs), encoding="utf-8")
    return run(inputs=[str(path)], outputs=[])


def test_a_busy_client_behind_a_flagless_exporter_is_nobody_s_scanner(tmp_path: Path) -> None:
    """300 HTTPS connections to 120 servers, exported with flags 0: before, portscan named the
    client a horizontal and a NULL-flag scanner."""
    recs = [make_flow("10.10.1.200", f"151.101.{i % 120}.{i % 7 + 1}", 443, packets=12, octets=9000,
                      flags=0, end_ms=BASE + 500 + i * 900, sport=50000 + i) for i in range(300)]
    result = _run(tmp_path, recs)
    accusing = [e for e in result.alerts if e["event"]["kind"] == "alert"]
    assert accusing == [], [(e["rule"]["id"], e.get("source")) for e in accusing]
    assert result.stats["gauges"]["sanitize.flags_unreported"] == 300
    # a NULL scan through the same kind of exporter (bare single headers) is still one
    scan = [make_flow("192.0.2.66", "10.1.0.5", 1000 + p, packets=1, octets=40, flags=0,
                      end_ms=BASE + 2000 + p * 50) for p in range(30)]
    ids = {e["rule"]["id"] for e in _run(tmp_path, scan).alerts}
    assert "portscan-flags" in ids


def test_a_flow_of_fragments_proves_nothing() -> None:
    """Non-first IP fragments carry no TCP header: a meter's record of them has flags 0 and
    ports 0 whatever the exporter reports, and must not switch off NULL-probe detection."""
    stats = Stats()
    b = batch([0, 0], [6, 1], [9000, 40])
    b.columns["destinationTransportPort"] = [0, 80]
    out = Sanitizer(default_registry(), stats).clean(b)
    assert out.columns["tcpControlBits"] == [0, 0]
    assert stats.gauges.get("sanitize.flagless_exporters", 0) == 0


def test_an_ipfix_file_from_a_flagless_exporter_is_read_alike(tmp_path: Path) -> None:
    """The same through the IPFIX decoder, whose columns reach the sanitiser as numpy arrays."""
    from flowcep_plugin.ipfix_writer import IPFIXWriter

    path = tmp_path / "flagless.ipfix"
    fields = [("sourceIPv4Address", 4), ("destinationIPv4Address", 4), ("sourceTransportPort", 2),
              ("destinationTransportPort", 2), ("protocolIdentifier", 1), ("tcpControlBits", 2),
              ("packetDeltaCount", 8), ("octetDeltaCount", 8), ("flowStartMilliseconds", 8),
              ("flowEndMilliseconds", 8)]
    rows = [("10.10.1.200", f"151.101.{i % 120}.{i % 7 + 1}", 50000 + i, 443, 6, 0, 12, 9000,
             BASE + i * 900, BASE + 500 + i * 900) for i in range(300)]
    rows += [("10.10.1.200", "192.0.2.53", 40000 + i, 53, 17, 0, 1, 70, BASE + i, BASE + i)
             for i in range(50)]
    with open(path, "wb") as fh:
        w = IPFIXWriter(fh)
        w.add_template(256, fields)
        w.write(256, rows, export_time=(BASE + 300_000) // 1000)
    result = run(inputs=[f"ipfix-file:{path}"], outputs=[])
    assert [e for e in result.alerts if e["event"]["kind"] == "alert"] == []
    assert result.stats["gauges"]["sanitize.flags_unreported"] == 300  # TCP only, not the UDP


def test_a_few_flagless_records_do_not_make_a_flag_tracking_exporter_flagless() -> None:
    """nmap -O sends no-flag probes carrying data on one connection: one flags-0 record among
    an exporter's 40 data-carrying ones with flags must not switch off NULL-scan detection
    (audit32: the realtools captures, merged, lost portscan-flags)."""
    stats = Stats()
    san = Sanitizer(default_registry(), stats)
    flags = [0x1B] * 40 + [0] + [0] * 5  # 40 connections, the OS-detection probes, 5 NULL probes
    packets, octets = [10] * 40 + [8] + [1] * 5, [4000] * 40 + [480] + [40] * 5
    out = san.clean(batch(flags, packets, octets))
    assert out.columns["tcpControlBits"] == flags
    assert stats.gauges.get("sanitize.flagless_exporters", 0) == 0
    assert stats.gauges.get("sanitize.flags_unreported", 0) == 0
    # the evidence is remembered: a later batch of the OS probe and NULL probes alone keeps its 0
    later = san.clean(batch([0, 0, 0], [8, 1, 1], [480, 40, 40]))
    assert later.columns["tcpControlBits"] == [0, 0, 0]


def test_a_mixed_exporter_is_judged_by_the_share_of_its_flagless_data() -> None:
    """Cisco hardware-switched flows carry 0 next to software-switched flows with flags: at
    FLAGLESS_SHARE_PERCENT or more of the data-carrying TCP records with 0, the 0 is absent."""
    n_zero = FLAGLESS_SHARE_PERCENT
    n_flagged = 100 - n_zero
    stats = Stats()
    out = Sanitizer(default_registry(), stats).clean(
        batch([0] * n_zero + [0x1B] * n_flagged, [12] * 100, [9000] * 100))
    assert out.columns["tcpControlBits"] == [None] * n_zero + [0x1B] * n_flagged
    assert stats.gauges.get("sanitize.flagless_exporters", 0) == 1
    stats = Stats()
    below = batch([0] * (n_zero - 1) + [0x1B] * (n_flagged + 1), [12] * 100, [9000] * 100)
    assert Sanitizer(default_registry(), stats).clean(below).columns["tcpControlBits"][0] == 0
    assert stats.gauges.get("sanitize.flagless_exporters", 0) == 0


def test_an_exporter_first_seen_flagless_is_read_as_flag_tracking_once_its_flags_show() -> None:
    """Below FLAGLESS_MIN_EVIDENCE records the share says little, and reading 0 as absent is the
    error that accuses nobody; the evidence that follows decides, and the change is counted."""
    stats = Stats()
    san = Sanitizer(default_registry(), stats)
    assert san.clean(batch([0], [8], [480])).columns["tcpControlBits"] == [None]
    assert stats.gauges.get("sanitize.flagless_exporters", 0) == 1
    out = san.clean(batch([0x1B] * FLAGLESS_MIN_EVIDENCE + [0], [10] * FLAGLESS_MIN_EVIDENCE + [1],
                          [4000] * FLAGLESS_MIN_EVIDENCE + [40]))
    assert out.columns["tcpControlBits"][-1] == 0
    assert stats.gauges.get("sanitize.flagless_revoked", 0) == 1


def test_the_evidence_is_a_bounded_history() -> None:
    """An exporter's counts are halved past FLAGLESS_HISTORY records, so a flagless past does
    not outweigh what the exporter sends now forever (and counts cannot grow without end)."""
    stats = Stats()
    san = Sanitizer(default_registry(), stats)
    rounds = 2 * FLAGLESS_HISTORY // FLAGLESS_SAMPLE
    for _ in range(rounds):
        san.clean(batch([0] * FLAGLESS_SAMPLE, [12] * FLAGLESS_SAMPLE, [9000] * FLAGLESS_SAMPLE))
    zero, flagged, _ = san._flagless[("udp:test", "192.0.2.1")]
    assert flagged == 0 and FLAGLESS_HISTORY // 2 <= zero <= FLAGLESS_HISTORY
    assert stats.gauges.get("sanitize.flagless_exporters", 0) == 1
    # kept whole, the 2 * FLAGLESS_HISTORY zeros would need three times as many records with
    # flags (3 * rounds batches) before the share fell below 25 %; halved, fewer than rounds do
    turns = 0
    while not stats.gauges.get("sanitize.flagless_revoked", 0):
        san.clean(batch([0x1B] * FLAGLESS_SAMPLE, [12] * FLAGLESS_SAMPLE, [9000] * FLAGLESS_SAMPLE))
        turns += 1
        assert turns < rounds
    zero, flagged, _ = san._flagless[("udp:test", "192.0.2.1")]
    assert zero + flagged <= FLAGLESS_HISTORY
    assert zero * 100 < FLAGLESS_SHARE_PERCENT * (zero + flagged)


def test_a_big_batch_is_judged_on_a_sample() -> None:
    """One flags-0 record among 10,000 with flags is one sample's worth of noise at most; a
    batch that is all 0 is flagless on its sample as on every record."""
    stats = Stats()
    san = Sanitizer(default_registry(), stats)
    n = 10_000
    flags = [0x1B] * n
    flags[4321] = 0
    out = san.clean(batch(flags, [12] * n, [9000] * n))
    assert out.columns["tcpControlBits"][4321] == 0
    zero, flagged, _ = san._flagless[("udp:test", "192.0.2.1")]
    assert zero + flagged <= 2 * FLAGLESS_SAMPLE
    out = san.clean(batch([0] * n, [12] * n, [9000] * n, exporter="192.0.2.9"))
    assert out.columns["tcpControlBits"] == [None] * n


def test_tcp_the_sample_missed_in_a_batch_of_other_protocols_is_not_read_as_probes() -> None:
    """A flagless exporter whose big batch is mostly UDP: its few TCP connections may all fall
    between the sampled records; with no share to take, their 0 is read as absent, the error
    that accuses nobody."""
    stats = Stats()
    n = 10_000
    stride = n // FLAGLESS_SAMPLE
    tcp = [i for i in range(1, n, 97) if i % stride][:50]
    b = batch([0] * n, [12] * n, [9000] * n, proto=17)
    for i in tcp:
        b.columns["protocolIdentifier"][i] = 6
    out = Sanitizer(default_registry(), stats).clean(b)
    assert [out.columns["tcpControlBits"][i] for i in tcp] == [None] * len(tcp)
    assert out.columns["tcpControlBits"][0] == 0  # UDP keeps its 0
    assert stats.gauges.get("sanitize.flags_unreported", 0) == len(tcp)


def _pcap_records(path: Path) -> tuple[bytes, list[tuple[int, int, bytes]]]:
    """A classic pcap's header and its (seconds, microseconds, rest of record) list."""
    data = path.read_bytes()
    assert data[:4] == b"\xd4\xc3\xb2\xa1", path  # little-endian, microseconds
    out, pos = [], 24
    while pos < len(data):
        sec, usec, incl, _orig = struct.unpack_from("<IIII", data, pos)
        out.append((sec, usec, data[pos + 8:pos + 16 + incl]))
        pos += 16 + incl
    return data[:24], out


def test_nmap_os_detection_then_a_null_scan_in_one_capture(tmp_path: Path) -> None:
    """The realtools nmap -A capture, then the NULL scan shifted to start 5 s after it, in one
    file: FlowCEP's own pcap meter reports flags, and the OS-detection connection's no-flag
    probes must not make portscan-flags miss the NULL scan (audit32)."""
    for mod in ("flowcep_portscan",):
        pytest.importorskip(mod)
    fixtures = Path(__file__).parent / "fixtures" / "realtools"
    header, first = _pcap_records(fixtures / "nmap_aggressive_2ports.pcap")
    _, second = _pcap_records(fixtures / "nmap_null_top100.pcap")
    shift = first[-1][0] + 5 - second[0][0]
    merged = tmp_path / "aggressive_then_null.pcap"
    merged.write_bytes(header + b"".join(struct.pack("<II", s, u) + rest for s, u, rest in first)
                       + b"".join(struct.pack("<II", s + shift, u) + rest for s, u, rest in second))
    result = run(inputs=[f"pcap:{merged}"], outputs=[])
    flag_alerts = [e for e in result.alerts if e["rule"]["id"] == "portscan-flags"]
    assert len(flag_alerts) == 1, [e["message"] for e in result.alerts]
    nulls = re.search(r"(\d+) NULL", flag_alerts[0]["message"])
    assert nulls is not None and int(nulls.group(1)) >= 100, flag_alerts[0]["message"]  # 100 ports probed
    assert result.stats["gauges"].get("sanitize.flags_unreported", 0) == 0
