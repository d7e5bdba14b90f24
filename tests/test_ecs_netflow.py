"""Flow documents and templates against Elastic's netflow integration field list.

``flowcep_plugin/data/netflow_fields.txt`` is the integration's published field list (source,
commit and licence in its header). These tests check names (Beats' spelling), types (values and
templates), and that every field the integration defines and FlowCEP's data can fill is filled,
with the value Beats' converter would give it.
"""

from __future__ import annotations

import re
import subprocess
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest

from flowcep_plugin import api, ecs
from flowcep_plugin.ecs_validate import value_fits
from flowcep_plugin.elements import REVERSE_PEN, builtin_elements
from flowcep_plugin.es import templates
from flowcep_plugin.records import EXPORT_TIME, EXPORT_VERSION, SYS_UPTIME, FlowBatch

NETFLOW = {k: v for k, v in ecs.netflow_fields().items() if k.startswith("netflow.") and v != "ecs"}
#: Beats' one special case: its converter writes vrf_name where the field list says vr_fname.
BEATS_SPECIAL = {"netflow.vr_fname": "netflow.vrf_name"}
#: Beats' exporter header fields, from the decoders' message-header columns.
HEADER_FIELDS = {EXPORT_VERSION: "netflow.exporter.version", EXPORT_TIME: "netflow.exporter.timestamp",
                 SYS_UPTIME: "netflow.exporter.uptime_millis"}


def _squash(name: str) -> str:
    return re.sub(r"[_\-]", "", name).lower()


def test_snake_case_follows_beats_rule() -> None:
    """The examples Beats' converter documents, and the corner cases of its rule."""
    cases = {
        "sourceIPv4Address": "source_ipv4_address",
        "postNATSourceIPv4Address": "post_nat_source_ipv4_address",
        "selectorIDTotalFlowsObserved": "selector_id_total_flows_observed",
        "VRFname": "vrf_name",
        "reverseVRFname": "reverse_vr_fname",
        "ingressVRFID": "ingress_vrfid",
        "mibObjectValueIPAddress": "mib_object_value_ip_address",
        "ipv4IHL": "ipv4_ihl",
        "dot1qVlanId": "dot1q_vlan_id",
        "layer2packetSectionData": "layer2packet_section_data",
        "monitoringIntervalStartMilliSeconds": "monitoring_interval_start_milli_seconds",
        "already_snake_Case": "already_snake_case",
    }
    assert {k: ecs.snake_case(k) for k in cases} == cases


def _element_names() -> dict[str, str]:
    """Squashed name -> our netflow.* name, for every IANA and reverse element we decode."""
    out = {}
    for spec in builtin_elements():
        if spec.pen in (0, REVERSE_PEN):
            name = ecs.netflow_name(spec.name)
            assert name is not None
            out[_squash(name)] = name
    return out


def test_names_are_elastics_for_every_element_we_decode() -> None:
    """Each integration field whose element FlowCEP decodes gets exactly Elastic's name; none of
    our names is a near miss (same letters, other underscores) of one of Elastic's."""
    ours = _element_names()
    elastic: dict[str, set[str]] = {}
    for f in NETFLOW:
        elastic.setdefault(_squash(f), set()).add(BEATS_SPECIAL.get(f, f))
    # our name for each squashed key Elastic also has must be one of Elastic's spellings
    wrong = {n for key, n in ours.items() if key in elastic and n not in elastic[key]}
    assert not wrong, wrong
    # coverage: the IANA/reverse part of the list (vendor groups are not in our registry)
    covered = {n for key, n in ours.items() if key in elastic}
    assert len(covered) >= 800, len(covered)


def test_aliases_follow_the_iana_registry() -> None:
    """IANA 460/461 carry FlowCEP's query names; netflow.* must use the IANA (Beats) ones."""
    from flowcep_plugin import elements

    inverse = {spec.name: alias for alias, spec in elements._IANA_ALIASES.items()}
    assert inverse == ecs.IANA_NAMES
    assert ecs.netflow_name("HTTPRequestURL") == "netflow.http_request_target"
    assert ecs.netflow_name("reverseHTTPRequestURL") == "netflow.reverse_http_request_target"
    assert ecs.netflow_name("HTTPRequestReferer") is None  # Flowmon/CESNET: Beats has no name


def test_template_types_are_elastics() -> None:
    mapping = templates.flow_mapping()
    leaves = dict(templates.iter_fields(mapping))
    for field, kind in NETFLOW.items():
        got = templates.netflow_template_type(BEATS_SPECIAL.get(field, field))
        assert got == kind, (field, got, kind)
    for field, kind in ecs.netflow_fields().items():
        if kind == "ecs":  # the ECS fields the integration declares: ECS's own types
            assert leaves.get(field) == ecs.ecs_fields()[field]["type"], field
    assert leaves["url.original"] == "wildcard"
    assert mapping["properties"]["url"]["properties"]["original"]["fields"]["text"]["type"] == "match_only_text"
    assert "zone" not in mapping["properties"]["source"]["properties"]


def _docs(path: Path | str, tmp_path: Path) -> list[dict[str, Any]]:
    out = tmp_path / "flows.jsonl"
    api.run([str(path)], detectors=[], outputs=[f"jsonl:{out}"],
            config={"outputs": {"jsonl": {"flows": True}}, "run": {"flows": True}})
    return [d for d in map(orjson.loads, out.read_bytes().splitlines()) if d.get("event.kind") == "event"]


def _records(path: Path) -> list[dict[str, Any]]:
    """The flow records the pipeline hands to outputs, as rows (IPFIX names)."""
    rows: list[dict[str, Any]] = []

    class Sink:
        def write_events(self, events: list[Any]) -> None: ...
        def write_flows(self, batch: FlowBatch) -> None:
            rows.extend(batch.rows())
        def flush(self) -> None: ...
        def close(self) -> None: ...

    from flowcep_plugin import hookspecs
    from flowcep_plugin.manager import make_plugin_manager
    from flowcep_plugin.specs import OutputSpec

    class Plugin:
        @hookspecs.hookimpl
        def flowcep_register_outputs(self) -> list[OutputSpec]:
            return [OutputSpec(name="rows", summary="test sink", schemes=("rows",),
                               factory=lambda target, cfg, ctx: Sink(), accepts_flows=True)]

    pm = make_plugin_manager()
    pm.register(Plugin(), name="rows-sink")
    api.run([str(path)], detectors=[], outputs=["rows:"], config={"run": {"flows": True}}, pm=pm)
    return rows


@pytest.mark.parametrize("rel", ["flowcep-upstream/data.ipfix", "data/traces/ndpi_web_sqli.pcap",
                                 "data/ipfixcol2/example_flows.ipfix"])
def test_documents_fill_what_the_integration_would(shared_file: Any, tmp_path: Path, rel: str) -> None:
    """Record by record: every element Beats knows is under its netflow.* name with a value of
    Elastic's type; the ECS fields Beats derives are there with Beats' values."""
    path = shared_file(rel)
    records = _records(path)
    docs = _docs(path, tmp_path)
    assert len(records) == len(docs) > 0
    rec_doc = []
    for r in records:
        fwd = next((r[e] for e in ("octetDeltaCount", "octetTotalCount", "initiatorOctets") if r.get(e) is not None), None)
        rev = next((r[e] for e in ("reverseOctetDeltaCount", "reverseOctetTotalCount", "responderOctets")
                    if r.get(e) is not None), None)
        rec_doc.append(((r.get("sourceIPv4Address") or r.get("sourceIPv6Address")), fwd, rev, r))
    problems: set[str] = set()
    # every output gets the same batches in the same order: documents pair with records
    for d, (src, fwd, rev, r) in zip(docs, rec_doc, strict=True):
        for element, value in r.items():
            if value is None or "." in element:
                continue
            name = ecs.netflow_name(element)
            kind = NETFLOW.get(name or "") or ("keyword" if name == "netflow.vrf_name" else None)
            if kind is None:
                continue
            if name not in d:
                problems.add(f"{name} missing")
            elif not value_fits(kind, d[name]):
                problems.add(f"{name}: {d[name]!r} is not an Elastic {kind}")
        for column, field in HEADER_FIELDS.items():
            if r.get(column) is not None:
                assert d[field] == r[column] and value_fits(NETFLOW[field], d[field]), (field, d.get(field))
        flipped = r.get("biflowDirection") == 2
        if src is not None and not flipped:
            assert d["source.ip"] == src and src in d["related.ip"]
        if fwd is not None:
            assert d["network.bytes"] == fwd + (rev or 0), (d, r)
            assert d["source.bytes" if not flipped else "destination.bytes"] == fwd
        if rev is not None:
            assert d["destination.bytes" if not flipped else "source.bytes"] == rev
        if r.get("protocolIdentifier") is not None:
            assert d["network.iana_number"] == str(r["protocolIdentifier"])
            assert d["network.transport"] == ecs.transport_name(r["protocolIdentifier"])
        if r.get("sourceTransportPort") is not None and not flipped:
            assert d["source.port"] == r["sourceTransportPort"]
        if "event.start" in d and "event.end" in d:
            assert d["event.duration"] == (d["event.end"] - d["event.start"]) * 1_000_000
        assert d["network.type"] in ("ipv4", "ipv6", ["ipv4", "ipv6"])
        assert d["event.action"] == "netflow_flow" and d["netflow.type"] == "netflow_flow"
        assert d["event.kind"] == "event" and "network" in d["event.category"]
        assert d["network.direction"] in ("inbound", "outbound", "internal", "external", "unknown")
    assert not problems, sorted(problems)


def _one(**row: Any) -> dict[str, Any]:
    return ecs.batch_to_documents(FlowBatch.from_rows([row], exporter="[2001:db8::9]:4739/3"))[0]


def test_biflow_orientation_and_session() -> None:
    """RFC 5103 biflowDirection 2 (reverseInitiator): the initiator becomes source, as Beats
    does; client/server and event.category session on every biflow."""
    base = {"sourceIPv4Address": "10.0.0.1", "destinationIPv4Address": "203.0.113.5",
            "sourceTransportPort": 80, "destinationTransportPort": 50000, "protocolIdentifier": 6,
            "octetDeltaCount": 4000, "reverseOctetDeltaCount": 300, "packetDeltaCount": 5,
            "reversePacketDeltaCount": 4, "flowEndMilliseconds": 1_700_000_000_000,
            "source.zone": "internal", "destination.zone": "external", "network.direction": "outbound"}
    d = _one(**base, biflowDirection=2)
    assert d["source.ip"] == "203.0.113.5" and d["source.port"] == 50000 and d["source.bytes"] == 300
    assert d["destination.ip"] == "10.0.0.1" and d["destination.bytes"] == 4000
    assert d["network.bytes"] == 4300 and d["network.packets"] == 9
    assert d["client.ip"] == "203.0.113.5" and d["server.ip"] == "10.0.0.1" and d["server.port"] == 80
    assert d["flowcep.source.zone"] == "external" and d["network.direction"] == "inbound"
    assert d["event.category"] == ["network", "session"]
    # the raw netflow.* copy keeps the record's own orientation, as Beats' does
    assert d["netflow.source_ipv4_address"] == "10.0.0.1"
    d1 = _one(**base, biflowDirection=1)
    assert d1["source.ip"] == "10.0.0.1" and d1["client.ip"] == "10.0.0.1" and d1["network.direction"] == "outbound"
    plain = _one(**base)
    assert "client.ip" not in plain and plain["event.category"] == ["network"]
    assert plain["observer.ip"] == ["2001:db8::9"] and plain["netflow.exporter.address"] == "[2001:db8::9]:4739"
    assert plain["netflow.exporter.source_id"] == 3


def test_direction_without_zones_and_unsummable_counts() -> None:
    """Without the zones enricher, network.direction is what the integration's documents say:
    the perimeter word from the default internal space (Beats' ``internal_networks: [private]``
    plus its always-local addresses) when both addresses are known, else flowDirection in
    Beats' converter's words (not flipped by biflow orientation), else unknown."""
    row = {"sourceIPv4Address": "10.0.0.1", "destinationIPv4Address": "10.0.0.2", "flowEndSeconds": 1_700_000_000}
    assert _one(**row, flowDirection=1)["network.direction"] == "internal"  # perimeter wins
    assert _one(**row)["network.direction"] == "internal"
    out = {"sourceIPv4Address": "192.168.1.5", "destinationIPv4Address": "198.51.100.7"}
    assert _one(**out)["network.direction"] == "outbound"
    assert _one(**out, biflowDirection=2)["network.direction"] == "inbound"  # initiator is source
    inbound = {"sourceIPv6Address": "2001:db8::1", "destinationIPv6Address": "fd12::1"}
    assert _one(**inbound)["network.direction"] == "inbound"
    for local in ("255.255.255.255", "224.0.0.251", "0.0.0.0", "169.254.3.4", "127.0.0.1"):
        assert _one(sourceIPv4Address="10.1.1.1", destinationIPv4Address=local)["network.direction"] == "internal"
    half = {"sourceIPv4Address": "10.0.0.1"}
    assert _one(**half, flowDirection=0)["network.direction"] == "inbound"
    assert _one(**half, flowDirection=1)["network.direction"] == "outbound"
    assert _one(**half, flowDirection=7)["network.direction"] == "unknown"
    assert _one(**half)["network.direction"] == "unknown"
    # the zones enricher's "unknown" (an address missing) gives way to flowDirection too
    zoned = {**half, "source.zone": "internal", "destination.zone": None, "network.direction": "unknown"}
    assert _one(**zoned, flowDirection=1)["network.direction"] == "outbound"
    only_reverse = _one(**row, reverseOctetDeltaCount=5)
    assert only_reverse["destination.bytes"] == 5 and "network.bytes" not in only_reverse  # as Beats
    totals = _one(**row, octetTotalCount=7, reverseOctetTotalCount=3, initiatorPackets=2, responderPackets=1)
    assert totals["network.bytes"] == 10 and totals["network.packets"] == 3
    assert totals["related.ip"] == ["10.0.0.1", "10.0.0.2"] and totals["network.type"] == "ipv4"
    same = _one(sourceIPv4Address="10.0.0.1", destinationIPv4Address="10.0.0.1")
    assert same["related.ip"] == ["10.0.0.1"]
    dur = _one(**row, flowDurationMilliseconds=1500)
    assert dur["event.duration"] == 1_500_000_000


def test_network_type_as_the_integration_pipeline_sets_it() -> None:
    """ipv4 when an IPv4 address element is present, ipv6 when only IPv6 ones are, both when
    the record carries both families (the pipeline's append), per record in a mixed batch."""
    batch = FlowBatch.from_rows([
        {"sourceIPv4Address": "10.0.0.1", "destinationIPv4Address": "10.0.0.2"},
        {"sourceIPv4Address": "10.0.0.3", "sourceIPv6Address": "2001:db8::3"},
        {"sourceIPv6Address": "2001:db8::4", "destinationIPv6Address": "2001:db8::5"},
        {"octetDeltaCount": 5},
    ])
    docs = ecs.batch_to_documents(batch)
    assert [d.get("network.type") for d in docs] == ["ipv4", ["ipv4", "ipv6"], "ipv6", None]
    encoded = [orjson.loads(j) for j in ecs.batch_to_json(batch)]
    assert [d.get("network.type") for d in encoded] == ["ipv4", ["ipv4", "ipv6"], "ipv6", None]
    assert docs[1]["source.ip"] == "10.0.0.3"  # IPv4 first, as Beats' converter


def _tshark_headers(tshark: str, path: Path) -> set[tuple[int, int, int | None]]:
    """(version, export time in epoch ms, sysUptime in ms or None) of every export message in
    a capture, as tshark decodes the headers (port 9990 is akvorado's v5 port)."""
    cmd = [tshark, "-n", "-r", str(path), "-T", "fields", "-E", "occurrence=f"]
    for port in (2055, 4739, 9990):
        cmd += ["-d", f"udp.port=={port},cflow"]
    for f in ("cflow.version", "cflow.sysuptime", "cflow.unix_secs", "cflow.unix_nsecs", "cflow.exporttime"):
        cmd += ["-e", f]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=60).stdout
    headers = set()
    for line in out.splitlines():
        version, uptime, secs, nsecs, export = line.split("\t")
        if version == "10":
            headers.add((10, int(export) * 1000, None))
        else:
            ms = int(secs) * 1000 + int(nsecs or 0) // 1_000_000
            headers.add((int(version), ms, int(Decimal(uptime) * 1000)))
    return headers


@pytest.mark.tools
@pytest.mark.parametrize("parts", [["nfv5.pcap"], ["data+templates.pcap"],
                                   ["ipfixprobe-templates.pcap", "ipfixprobe-data.pcap"]],
                         ids=lambda parts: parts[-1])
def test_exporter_header_fields_as_tshark_reads_the_header(shared_file: Any, require_tool: Any,
                                                           tmp_path: Path, parts: list[str]) -> None:
    """netflow.exporter.version/.timestamp/.uptime_millis (the dashboards' Version panel and
    the timeline split by version) carry the export message's header, typed as Elastic types
    them; IPFIX headers have no sysUptime, so IPFIX documents have no uptime_millis."""
    tshark = require_tool("tshark")
    paths = [shared_file(f"data/akvorado/{p}") for p in parts]
    path = paths[0]
    if len(paths) > 1:
        path = tmp_path / "merged.pcap"
        subprocess.run([require_tool("mergecap"), "-a", "-w", str(path), *map(str, paths)], check=True, timeout=30)
    docs = _docs(f"pcap+export:{path}", tmp_path)
    assert docs
    seen = set()
    for d in docs:
        for field in HEADER_FIELDS.values():
            if field in d:
                assert value_fits(NETFLOW[field], d[field]), (field, d[field])
                assert templates.netflow_template_type(field) == NETFLOW[field]
        seen.add((d["netflow.exporter.version"], d["netflow.exporter.timestamp"],
                  d.get("netflow.exporter.uptime_millis")))
    assert seen == _tshark_headers(tshark, path)


def test_header_columns_are_written_where_beats_writes_the_header() -> None:
    rows = [{"sourceIPv4Address": "10.0.0.1", EXPORT_VERSION: 9, EXPORT_TIME: 1_684_085_372_000,
             SYS_UPTIME: 116_860_520},
            {"sourceIPv4Address": "10.0.0.2", EXPORT_VERSION: 10, EXPORT_TIME: 1_759_076_323_000}]
    batch = FlowBatch.from_rows(rows, exporter="192.0.2.1:4739/3")
    for docs in (ecs.batch_to_documents(batch), [orjson.loads(j) for j in ecs.batch_to_json(batch)]):
        assert [{k: v for k, v in d.items() if k.startswith("netflow.exporter.")} for d in docs] == [
            {"netflow.exporter.address": "192.0.2.1:4739", "netflow.exporter.source_id": 3,
             "netflow.exporter.version": 9, "netflow.exporter.timestamp": 1_684_085_372_000,
             "netflow.exporter.uptime_millis": 116_860_520},
            {"netflow.exporter.address": "192.0.2.1:4739", "netflow.exporter.source_id": 3,
             "netflow.exporter.version": 10, "netflow.exporter.timestamp": 1_759_076_323_000}]
        assert not any(k.startswith("flowcep.export") or k == "flowcep.sys_uptime" for d in docs for k in d)
