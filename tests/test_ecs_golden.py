"""FlowCEP's flow document beside Elastic's own, for the same flow, field by field.

``tests/fixtures/elastic/netflow_golden.json`` holds flow documents Elastic publishes as the
expected output of its netflow input (Beats' golden files, and the integration's ingest
pipeline test), with source, commit and licence. For each one, the flow is read back into an
IPFIX record from its ``netflow.*`` fields (the ``json:`` input's reader), enriched the way
``flowcep run`` enriches by default (zones, community id), and turned into FlowCEP's document.
Every field of Elastic's document must then be in FlowCEP's with the same value, except the
fields listed below with the reason FlowCEP differs (docs/ecs.md has the same list): a new
difference fails here before it reaches a user's dashboard.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from flowcep_plugin import ecs
from flowcep_plugin.elements import default_registry
from flowcep_plugin.enrich.community_id import CommunityIdEnricher
from flowcep_plugin.enrich.zones import DEFAULTS as ZONE_DEFAULTS
from flowcep_plugin.enrich.zones import ZonesEnricher
from flowcep_plugin.inputs.ecs_flows import EXPORTER_COLUMN, EcsFlowReader, netflow_elements
from flowcep_plugin.records import FlowBatch

GOLDEN = json.loads((Path(__file__).parent / "fixtures" / "elastic" / "netflow_golden.json").read_text())

#: Fields Elastic writes that FlowCEP does not, and why (docs/ecs.md, "Flow documents").
NOT_WRITTEN = {
    "flow.id": "Beats' own xxhash of the 5-tuple; network.community_id is the standard id",
    "flow.locality": "not ECS; FlowCEP's zones say more, under flowcep.*",
    "source.locality": "not ECS, inside an ECS field set",
    "destination.locality": "not ECS, inside an ECS field set",
    "input.type": "the Filebeat input's name",
}
#: Fields Elastic writes for IPFIX (netflow.exporter.version 10) only, that FlowCEP does not.
NOT_WRITTEN_FOR_IPFIX = {
    "netflow.exporter.uptime_millis": "an IPFIX header has no sysUptime; Beats writes its zero value",
}
#: Fields both write with a different value on purpose, and why.
WRITTEN_DIFFERENTLY = {
    "event.created": "when the document was built, in each run",
    "ecs.version": "the expected file predates the pipeline's current ecs.version (8.11.0, as FlowCEP's)",
}


def _ms(text: str) -> int:
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)


def _pipeline(fields: dict[str, Any]) -> dict[str, Any]:
    """The integration ingest pipeline's steps (default.yml) that concern flows, applied to a
    converter-stage document: what Elastic Agent would index."""
    flat = ecs.flatten(fields)
    flat["ecs.version"] = "8.11.0"
    if "network.iana_number" in flat:
        flat["network.iana_number"] = str(flat["network.iana_number"])
    if isinstance(flat.get("observer.ip"), str):
        flat["observer.ip"] = [flat["observer.ip"]]
    v4 = any(f"netflow.{s}_ipv4_address" in flat for s in ("source", "destination"))
    v6 = any(f"netflow.{s}_ipv6_address" in flat for s in ("source", "destination"))
    if v4 or v6:
        flat["network.type"] = ["ipv4", "ipv6"] if v4 and v6 else "ipv4" if v4 else "ipv6"
    perimeter = {("external", "internal"): "inbound", ("internal", "external"): "outbound",
                 ("internal", "internal"): "internal", ("external", "external"): "external"}
    pair = (flat.get("source.locality"), flat.get("destination.locality"))
    flat["network.direction"] = perimeter.get(pair, flat.get("network.direction") or "unknown")  # type: ignore[arg-type]
    return flat


def _elastic(doc: dict[str, Any]) -> dict[str, Any]:
    flat = _pipeline(doc["Fields"]) if doc["stage"] == "converter" else ecs.flatten(doc["Fields"])
    flat["@timestamp"] = doc["Timestamp"]
    # The converter of these goldens' commits also wrote network_traffic, which ECS 8 does not
    # allow and the current converter (convert.go) no longer writes.
    flat["event.category"] = [c for c in flat["event.category"] if c != "network_traffic"]
    # Older goldens hold MACs as Go prints them; the current converter (formatHardwareAddr)
    # writes the ECS form, 00-0C-29-70-86-09.
    for key, value in flat.items():
        if (key.endswith(".mac") or key.endswith("_mac_address")) and isinstance(value, str):
            flat[key] = value.replace(":", "-").upper()
    return flat


def _flowcep(doc: dict[str, Any]) -> dict[str, Any]:
    """FlowCEP's document for the flow Elastic's document describes."""
    record = EcsFlowReader(default_registry()).record({"@timestamp": doc["Timestamp"], **doc["Fields"]})
    exporter = record.pop(EXPORTER_COLUMN, None)
    batch = FlowBatch.from_rows([record], exporter=exporter)
    ZonesEnricher(ZONE_DEFAULTS).enrich(batch)
    CommunityIdEnricher({}).enrich(batch)
    return ecs.batch_to_documents(batch)[0]


def _same(field: str, ours: Any, theirs: Any) -> bool:
    if field == "related.ip":  # a set: Beats sorts it, ECS gives no order
        return sorted(ours) == sorted(theirs)
    if (field == "@timestamp" or ecs.netflow_fields().get(field) == "date") and isinstance(theirs, str):
        return bool(ours == _ms(theirs))
    return bool(ours == theirs)


@pytest.mark.parametrize("doc", GOLDEN["documents"], ids=lambda d: d["source"].split("/")[-1])
def test_every_field_of_elastics_document_is_in_ours_with_the_same_value(doc: dict[str, Any]) -> None:
    theirs = _elastic(doc)
    ours = _flowcep(doc)
    conflicts, missing = [], []
    not_written = dict(NOT_WRITTEN)
    if theirs["netflow.exporter.version"] == 10:
        not_written.update(NOT_WRITTEN_FOR_IPFIX)
    for field, value in theirs.items():
        if field in not_written:
            assert field not in ours, f"{field} is written after all: update NOT_WRITTEN and docs/ecs.md"
            continue
        if field in WRITTEN_DIFFERENTLY:
            continue
        if field not in ours:
            if field.startswith("netflow.") and field not in netflow_elements():
                continue  # a vendor element FlowCEP's registry has no name for (docs/ecs.md)
            if field == "network.community_id" and "source.ip" not in theirs:
                continue  # Beats hashes 0.0.0.0:0 for a record without addresses
            missing.append(field)
        elif not _same(field, ours[field], value):
            conflicts.append(f"{field}: ours {ours[field]!r}, Elastic's {value!r}")
    assert not conflicts, conflicts
    assert not missing, missing


def test_the_comparison_sees_a_difference() -> None:
    """The yardstick itself: a changed value or a dropped field is reported."""
    doc = json.loads(json.dumps(GOLDEN["documents"][0]))
    theirs = _elastic(doc)
    ours = _flowcep(doc)
    assert _same("network.bytes", ours["network.bytes"], theirs["network.bytes"])
    assert not _same("network.bytes", ours["network.bytes"] + 1, theirs["network.bytes"])
    assert _same("related.ip", list(reversed(ours["related.ip"])), theirs["related.ip"])
    assert theirs["network.direction"] == ours["network.direction"] == "internal"
    assert theirs["network.type"] == ours["network.type"] == "ipv4"
    assert not _same("netflow.exporter.timestamp", ours["netflow.exporter.timestamp"] + 1000,
                     theirs["netflow.exporter.timestamp"])


def test_the_message_header_is_compared() -> None:
    """The exporter header fields are compared, not excepted: the version and export time of
    every document, the sysUptime of NetFlow ones (Beats writes 0 for IPFIX, which has none)."""
    versions = set()
    for doc in GOLDEN["documents"]:
        theirs, ours = _elastic(doc), _flowcep(doc)
        versions.add(theirs["netflow.exporter.version"])
        assert ours["netflow.exporter.version"] == theirs["netflow.exporter.version"]
        assert ours["netflow.exporter.timestamp"] == _ms(theirs["netflow.exporter.timestamp"])
        if theirs["netflow.exporter.version"] == 10:
            assert theirs["netflow.exporter.uptime_millis"] == 0
            assert "netflow.exporter.uptime_millis" not in ours
        else:
            assert ours["netflow.exporter.uptime_millis"] == theirs["netflow.exporter.uptime_millis"] > 0
    assert versions == {9, 10}


def test_perimeter_direction_matches_the_pipeline_for_every_locality_pair() -> None:
    """The pipeline's four perimeter words from Beats' localities (default internal_networks:
    private), against FlowCEP's default zones on the same addresses."""
    base = GOLDEN["documents"][0]
    for src, dst in (("192.168.0.17", "203.0.113.9"), ("203.0.113.9", "192.168.0.1"),
                     ("198.51.100.1", "203.0.113.9"), ("192.168.0.17", "192.168.0.1")):
        doc = json.loads(json.dumps(base))
        nf = doc["Fields"]["netflow"]
        nf["source_ipv4_address"], nf["destination_ipv4_address"] = src, dst
        local = {True: "internal", False: "external"}
        doc["Fields"]["source"]["locality"] = local[src.startswith("192.168.")]
        doc["Fields"]["destination"]["locality"] = local[dst.startswith("192.168.")]
        assert _flowcep(doc)["network.direction"] == _elastic(doc)["network.direction"]
