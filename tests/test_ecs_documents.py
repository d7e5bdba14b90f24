"""Every document FlowCEP writes, checked against ECS's flat definitions.

The pipeline runs on real captures (the FlowCEP upstream IPFIX sample, a pcap the flow meter
turns into biflows, ipfixcol2's example flows) with every output at once: jsonl and
stdout:json with flows and metrics, and Elasticsearch (loopback stand-in) read back. Flows,
alerts and metrics must use ECS fields with ECS's types and allowed values; anything custom
must sit under ``flowcep.*`` (or be one of the netflow integration's ``netflow.*`` fields, with
Elastic's type).
"""

from __future__ import annotations

import json
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest

from flowcep_plugin import api, ecs
from flowcep_plugin.ecs_validate import errors, value_fits
from flowcep_plugin.es.client import make_client
from flowcep_plugin.es.setup import install

INPUTS = ("flowcep-upstream/data.ipfix", "data/traces/ndpi_web_sqli.pcap",
          "data/ipfixcol2/example_flows.ipfix")


def _run(shared_file: Any, tmp_path: Path, capsys: Any, rel: str,
         extra_outputs: tuple[str, ...] = ()) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(jsonl documents, stdout:json documents) of one run with flows and metrics on."""
    path = shared_file(rel)
    out = tmp_path / "out.jsonl"
    config = {"outputs": {"jsonl": {"flows": True}, "stdout": {"flows": True, "metrics": True}},
              "run": {"flows": True}}
    capsys.readouterr()
    api.run([str(path)], outputs=[f"jsonl:{out}", "stdout:json", *extra_outputs], config=config)
    printed = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    return [orjson.loads(line) for line in out.read_bytes().splitlines()], printed


def _kind(doc: dict[str, Any]) -> str:
    return str(ecs.flatten(doc).get("event.kind"))


@pytest.mark.parametrize("rel", INPUTS)
def test_every_written_document_is_ecs(shared_file: Any, tmp_path: Path, capsys: Any, rel: str) -> None:
    written, printed = _run(shared_file, tmp_path, capsys, rel)
    assert written, "the run wrote nothing"
    kinds = {_kind(d) for d in written}
    assert "event" in kinds, "no flow documents"
    # stdout:json and jsonl write the same flow documents (event.created aside)
    strip = lambda ds: sorted(orjson.dumps({k: v for k, v in d.items() if k != "event.created"},  # noqa: E731
                                           option=orjson.OPT_SORT_KEYS) for d in ds if _kind(d) == "event")
    assert strip(written) == strip(printed)
    problems: Counter[str] = Counter()
    for doc in written + printed:
        # alerts get ecs.version from the alert model (issue owner h-contract); flows and
        # metrics must carry it here
        problems.update(e[:160] for e in errors(doc, require_version=True))
    print(rel, Counter(_kind(d) for d in written))
    assert not problems, "\n".join(f"{n} x {e}" for e, n in sorted(problems.items()))


def test_flow_document_semantics_on_a_biflow_capture(shared_file: Any, tmp_path: Path, capsys: Any) -> None:
    """The meter's biflows: ECS totals are sums, per-direction counts stay per direction, the
    netflow.* copy agrees with the ECS fields, duration is in nanoseconds."""
    written, _ = _run(shared_file, tmp_path, capsys, "data/traces/ndpi_web_sqli.pcap")
    flows = [d for d in written if _kind(d) == "event"]
    biflows = [d for d in flows if "netflow.reverse_octet_delta_count" in d]
    assert biflows, "the pcap meter should export reverse counters"
    for d in biflows:
        assert d["network.bytes"] == d["netflow.octet_delta_count"] + d["netflow.reverse_octet_delta_count"]
        assert d["network.packets"] == d["netflow.packet_delta_count"] + d["netflow.reverse_packet_delta_count"]
        assert d["source.bytes"] == d["netflow.octet_delta_count"]
        assert d["destination.bytes"] == d["netflow.reverse_octet_delta_count"]
    for d in flows:
        assert d["source.ip"] in (d.get("netflow.source_ipv4_address"), d.get("netflow.source_ipv6_address"))
        assert d["network.iana_number"] == str(d["netflow.protocol_identifier"])
        assert d["event.duration"] == (d["event.end"] - d["event.start"]) * 1_000_000
        assert set(d["related.ip"]) == {d["source.ip"], d["destination.ip"]}
        assert d["event.action"] == "netflow_flow" and d["event.type"] == ["connection"]
        assert d["@timestamp"] == d["event.end"]


def test_elasticsearch_documents_are_ecs(shared_file: Any, es_url: str, tmp_path: Path, capsys: Any) -> None:
    """What the Elasticsearch output indexed (read back), against the same yardstick, and the
    same flow documents as jsonl apart from the fields only a data stream has."""
    client = make_client(es_url)
    install(client)
    ns = "e" + uuid.uuid4().hex[:10]
    written, _ = _run(shared_file, tmp_path, capsys, "data/traces/ndpi_web_sqli.pcap",
                      (f"elasticsearch:{es_url}?namespace={ns}&flush_interval=0.05&dead_letter="
                       f"{tmp_path / 'dead.jsonl'}",))
    indexed: list[dict[str, Any]] = []
    for kind in ("flow", "alert", "metric"):
        index = f"logs-flowcep.{kind}-{ns}"
        if not client.indices.exists(index=index):
            continue
        client.indices.refresh(index=index)
        indexed += [h["_source"] for h in client.search(index=index, size=1000)["hits"]["hits"]]
    flows = [d for d in indexed if _kind(d) == "event"]
    assert flows and len(flows) == sum(1 for d in written if _kind(d) == "event")
    problems = sorted({e for d in indexed for e in errors(d, require_version=True)})
    assert not problems, "\n".join(problems)
    es_only = {"data_stream.type", "data_stream.dataset", "data_stream.namespace", "event.ingested", "event.created"}
    key = lambda d: orjson.dumps({k: v for k, v in d.items() if k not in es_only},  # noqa: E731
                                 option=orjson.OPT_SORT_KEYS)
    assert sorted(map(key, flows)) == sorted(key(d) for d in written if _kind(d) == "event")


def test_validator_catches_what_ecs_forbids() -> None:
    """The yardstick itself: each departure from ECS is reported."""
    good = {"ecs.version": ecs.ECS_VERSION, "event.kind": "event", "source.ip": "192.0.2.1",
            "network.bytes": 10, "flowcep.source.zone": "dmz", "netflow.protocol_identifier": 6}
    assert errors(good) == []
    bad = {
        "source.zone": "dmz",  # custom field inside an ECS field set
        "event.kind": "flow",  # not an allowed value
        "event.category": ["network", "flows"],
        "source.ip": "not-an-ip",
        "network.bytes": "10",
        "netflow.protocol_identifier": 70000,  # Elastic maps it as short
    }
    found = errors(bad)
    assert len(found) == 7, found  # the six above and the missing ecs.version
    assert value_fits("date", 1_700_000_000_000) and not value_fits("date", "yesterday")
    assert value_fits("long", [1, 2]) and not value_fits("long", True)
