"""Multi-stage EPL detector: stages and correlation on synthetic and upstream traffic.

The expectations on data.ipfix come from a plain-Python replay of the statements below
(windows back to back from the first event, as Esper's time_batch), not from the engine.
"""

from __future__ import annotations

import struct
import warnings
from collections import Counter, defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
from flowcep_multistage import DEFAULTS, EPL_TEXT, SPEC

from flowcep_plugin.records import FlowBatch
from flowcep_plugin.testing import make_flow, scenario_records

warnings.filterwarnings("ignore", category=SyntaxWarning)


def _runtime_rows(records: list[dict[str, Any]], params: dict[str, Any] | None = None) -> list[Any]:
    """Run the module on the engine runtime directly (no EPLDetector needed)."""
    compiler = pytest.importorskip("flowcep_plugin.engine.compiler")
    runtime = pytest.importorskip("flowcep_plugin.engine.runtime")
    rt = runtime.Runtime(compiler.compile_module(EPL_TEXT, "multistage.epl", {**DEFAULTS, **(params or {})}))
    records = sorted(records, key=lambda r: r["flowEndMilliseconds"])
    out: list[Any] = []
    for i in range(0, len(records), 2000):
        batch = FlowBatch.from_rows(records[i:i + 2000])
        out += rt.on_batch(batch)
        out += rt.on_watermark(max(batch.event_times()))
    return out + rt.flush()


def _by_statement(rows: Iterable[Any]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = defaultdict(set)
    for r in rows:
        who = r.values.get("Attacker") or r.values.get("Scanner")
        if who:
            out[r.statement].add(who)
    return out


def test_module_compiles_with_defaults_and_rejects_unknown_params() -> None:
    compiler = pytest.importorskip("flowcep_plugin.engine.compiler")
    from flowcep_plugin.errors import EPLError

    module = compiler.compile_module(EPL_TEXT, "multistage.epl", DEFAULTS)
    assert module is not None
    with pytest.raises(EPLError, match="scan_min_hosts"):
        compiler.compile_module(EPL_TEXT, "multistage.epl", {k: v for k, v in DEFAULTS.items()
                                                              if k != "scan_min_hosts"})
    statements = {r.statement for r in SPEC.rules}
    assert statements == {"TCPSYNscan", "HTTPscan", "BruteForce", "MultiStage"}
    for name in statements:
        assert f"@Name('{name}')" in EPL_TEXT


def test_each_stage_and_the_correlation_on_synthetic_attack() -> None:
    records, sc = scenario_records("multistage-http", duration_s=600)
    stages = _by_statement(_runtime_rows(records))
    attacker = sc.labels[0].attacker
    for st in ("TCPSYNscan", "HTTPscan", "BruteForce", "MultiStage"):
        assert stages[st] == {attacker}, st


def test_benign_traffic_is_silent() -> None:
    records, _ = scenario_records("benign", duration_s=600)
    rows = [r for r in _runtime_rows(records) if r.statement != "HTTPscanUniques"]
    assert rows == []


def test_a_scan_alone_is_not_a_multistage_attack() -> None:
    t0 = 1_700_000_000_000
    scan = [make_flow("192.0.2.66", f"10.0.{i // 200}.{i % 200 + 1}", 80, packets=1, end_ms=t0 + i * 50)
            for i in range(300)]
    stages = _by_statement(_runtime_rows(scan))
    assert stages["TCPSYNscan"] == {"192.0.2.66"} and not stages["MultiStage"]
    # fewer than scan_min_hosts distinct hosts: a client hammering one server is no scan
    one_server = [make_flow("10.1.1.1", "10.0.0.80", 80, packets=4, end_ms=t0 + i * 100) for i in range(300)]
    assert not _by_statement(_runtime_rows(one_server))


def _nat_minute(t0: int, fallback: bool, flags: bool = True) -> list[dict[str, Any]]:
    """One NAT address, a minute: refused SYNs to port 443 of 31 hosts (2-3 each), and, when
    the browsers fall back, a completed http connection to each host (as
    tests/fixtures/realtools/benign_nat_gateway.pcap)."""
    out = []
    for h in range(31):
        host = f"198.51.100.{h + 10}"
        for k in range(3 if h % 2 else 2):
            out.append(make_flow("192.0.2.50", host, 443, packets=1, flags="S" if flags else None,
                                 end_ms=t0 + h * 1500 + k * 10, reverseTcpControlBits=0x14 if flags else None))
        if fallback:
            out.append(make_flow("192.0.2.50", host, 80, packets=12 if not flags else 6,
                                 flags="FSPA" if flags else None, end_ms=t0 + h * 1500 + 400))
    if not flags:
        for r in out:
            r.pop("tcpControlBits", None)
    return [{k: v for k, v in r.items() if v is not None} for r in out]


@pytest.mark.parametrize("flags", [True, False])
def test_a_host_reached_on_another_port_is_not_probed(flags: bool) -> None:
    """The NAT of benign_nat_gateway.pcap: every host probed on 443 was reached on 80 in the
    same minute, so no SYN scan; the same probes without the fallback are one (with TCP flags,
    and on the packet-count fallback, where a flow of 10 packets or more reaches its host)."""
    t0 = 1_700_000_040_000 - 1_700_000_040_000 % 60_000
    assert not _by_statement(_runtime_rows(_nat_minute(t0, fallback=True, flags=flags)))["TCPSYNscan"]
    rows = [r for r in _runtime_rows(_nat_minute(t0, fallback=False, flags=flags)) if r.statement == "TCPSYNscan"]
    assert [(r.values["Attacker"], r.values["destPort"], r.values["Hosts"]) for r in rows] == [
        ("192.0.2.50", 443, 31)]
    assert rows[0].values["AtkCount"] == 77
    assert rows[0].time_ms == t0 + 60_000  # at the end of the minute both counts cover


def test_a_scanner_that_reaches_a_few_hosts_is_still_a_scanner() -> None:
    """Hosts reached leave the count, the port's alert stays when 25 others were never reached;
    with only 24 unreached, the stage is silent."""
    t0 = 1_700_000_040_000 - 1_700_000_040_000 % 60_000
    probes = [make_flow("203.0.113.9", f"10.0.0.{i + 1}", 22, packets=1, end_ms=t0 + i * 100) for i in range(40)]

    def reach(n: int) -> list[dict[str, Any]]:
        return [make_flow("203.0.113.9", f"10.0.0.{i + 1}", 80, packets=8, end_ms=t0 + 5000 + i * 100)
                for i in range(n)]

    rows = [r for r in _runtime_rows(probes + reach(15)) if r.statement == "TCPSYNscan"]
    assert [(r.values["destPort"], r.values["Hosts"], r.values["AtkCount"]) for r in rows] == [(22, 40, 40)]
    assert not _by_statement(_runtime_rows(probes + reach(16)))["TCPSYNscan"]


# -- the FlowCEP sample ------------------------------------------------------------------------


def _decode(path: Path) -> list[dict[str, Any]]:
    from flowcep_plugin.context import Context
    from flowcep_plugin.inputs.ipfix_decode import MessageDecoder

    data = path.read_bytes()
    dec = MessageDecoder(Context(), str(path))
    batches: list[FlowBatch] = []
    off = 0
    while off + 4 <= len(data):
        _, length = struct.unpack_from(">HH", data, off)
        batches += dec.decode(data[off:off + length], "file")
        off += length
    batches += dec.flush()
    return list(FlowBatch.concat(batches).rows())


def _plain_python_attackers(rows: list[dict[str, Any]]) -> set[str]:
    """Attackers found by all three stages, replayed without the engine (default thresholds)."""
    rows = sorted(rows, key=lambda r: r["flowEndMilliseconds"])

    def windows(items: list[dict[str, Any]], size: int) -> list[list[dict[str, Any]]]:
        if not items:
            return []
        t0 = items[0]["flowEndMilliseconds"]
        out: dict[int, list[dict[str, Any]]] = defaultdict(list)
        for r in items:
            out[(r["flowEndMilliseconds"] - t0) // size].append(r)
        return [out[k] for k in sorted(out)]

    def probe(r: dict[str, Any]) -> bool:
        """Stage 1's probe rule (uniflows: no reverse flags, so no connect probes)."""
        f = r.get("tcpControlBits")
        if r["protocolIdentifier"] != 6 or not 0 < r["packetDeltaCount"] < 10:
            return False
        return f is None or (not f & 0x10 and bool(f & 0x02 or not f & 0x04))

    scan: set[str] = set()
    for w in windows(rows, 60_000):
        flows = Counter((r["sourceIPv4Address"], r.get("destinationTransportPort")) for r in w if probe(r))
        hosts: dict[tuple[str, int], set[str]] = defaultdict(set)
        for r in w:
            if probe(r):
                hosts[(r["sourceIPv4Address"], r.get("destinationTransportPort"))].add(r["destinationIPv4Address"])
        scan |= {k[0] for k, n in flows.items() if n > 16 and len(hosts[k]) >= 25}
    uniques: list[dict[str, Any]] = []
    for w in windows(rows, 60_000):
        c = Counter((r["sourceIPv4Address"], r["HTTPRequestURL"], r["destinationIPv4Address"]) for r in w
                    if r.get("HTTPRequestURL"))
        end = w[-1]["flowEndMilliseconds"]
        uniques += [{"src": k[0], "url": k[1], "flowEndMilliseconds": end} for k, n in c.items() if n < 3]
    http: set[str] = set()
    for w in windows(uniques, 120_000):
        http |= {k[0] for k, n in Counter((u["src"], u["url"]) for u in w).items() if n > 16}
    brute: set[str] = set()
    for w in windows(rows, 60_000):
        c = Counter((r["sourceIPv4Address"], r["destinationIPv4Address"], r["HTTPRequestURL"]) for r in w
                    if r.get("HTTPRequestURL") and any(k in r["HTTPRequestURL"] for k in ("login", "admin", "auth")))
        brute |= {k[0] for k, n in c.items() if n > 16}
    return scan & http & brute


@pytest.mark.shared
def test_upstream_sample_has_exactly_one_multistage_attacker(upstream_ipfix: Path) -> None:
    pytest.importorskip("flowcep_plugin.inputs.ipfix_decode")
    rows = _decode(upstream_ipfix)
    assert len(rows) == 13_898  # PROVENANCE.md
    expected = _plain_python_attackers(rows)
    assert len(expected) == 1
    got = _by_statement(_runtime_rows(rows))
    assert got["MultiStage"] == expected


@pytest.mark.shared
def test_upstream_sample_through_the_pipeline(upstream_ipfix: Path) -> None:
    pytest.importorskip("flowcep_plugin.engine.detector")
    from flowcep_plugin.api import run

    # the file steps back in time by up to minutes: hold records long enough to reorder them all
    result = run([str(upstream_ipfix)], detectors=["multistage"], lateness="10 min")
    multi = [e for e in result.events if e["rule"]["id"] == "multistage-attack"]
    assert len({e["source"]["ip"] for e in multi}) == 1
    assert multi[0]["source"]["ip"] == "59.2.153.68"  # what the plain-Python replay finds
    assert multi[0]["event"]["severity"] == 99
    assert multi[0]["threat"]["technique"]["id"] == ["T1046", "T1595", "T1110"]
    stages = {e["rule"]["id"] for e in result.events if e["source"]["ip"] == "59.2.153.68"}
    assert stages >= {"multistage-tcp-syn-scan", "multistage-http-scan", "multistage-http-bruteforce"}


def test_conformance_through_the_epl_detector() -> None:
    pytest.importorskip("flowcep_plugin.engine.detector")
    from flowcep_plugin.testing import check_detector

    attack, sc = scenario_records("multistage-http")
    benign, _ = scenario_records("benign", duration_s=600)
    events = check_detector(SPEC, attack=attack, benign=benign,
                            expect_rules=[r.id for r in SPEC.rules])
    assert {e["source"]["ip"] for e in events} == {sc.labels[0].attacker}


@pytest.mark.shared
def test_stage_one_needs_probe_evidence(shared_file: Any, upstream_ipfix: Path) -> None:
    """ndpi_ethereum_p2p.pcap: an Ethereum node opens TCP connections to port 30303 of 56 peers
    in 3.9 s (53 answered). Small flows to many hosts, but completed handshakes: no SYN scan."""
    pytest.importorskip("flowcep_plugin.engine.detector")
    from flowcep_plugin.api import run

    result = run([f"pcap:{shared_file('data/traces/ndpi_ethereum_p2p.pcap')}"], detectors=["multistage"])
    assert result.alerts == []
    # an exporter without TCP flags: the packet-count fallback still finds the sample's attacker
    rows = [{k: v for k, v in r.items() if k != "tcpControlBits"} for r in _decode(upstream_ipfix)]
    assert "59.2.153.68" in _by_statement(_runtime_rows(rows))["TCPSYNscan"]
