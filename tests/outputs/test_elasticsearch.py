"""The elasticsearch output against a server speaking the Elasticsearch REST API.

A loopback noida-db by default; a real cluster when FLOWCEP_TEST_ES_URL is set (the same
tests, unchanged). Each test writes into a data-stream namespace of its own.
"""

from __future__ import annotations

import copy
import json
import uuid
from typing import Any

import pytest

from flowcep_plugin import alerts
from flowcep_plugin.context import Context
from flowcep_plugin.es.client import make_client
from flowcep_plugin.es.deadletter import replay
from flowcep_plugin.es.setup import install
from flowcep_plugin.outputs.elasticsearch import ElasticsearchOutput, flowcep_register_outputs, parse_target
from flowcep_plugin.records import FlowBatch
from flowcep_plugin.specs import RuleSpec


@pytest.fixture(scope="module")
def client(es_url: str) -> Any:
    c = make_client(es_url)
    install(c)
    return c


@pytest.fixture
def ns() -> str:
    return "t" + uuid.uuid4().hex[:10]


RULE = RuleSpec(id="flowcep.test.sshbf", name="SSH brute force", description="many short SSH flows",
                severity="high", risk_score=73, technique=("T1110",), tactic=("TA0006",))


def make(i: int, revision: int = 1) -> dict[str, Any]:
    doc = alerts.make_alert(RULE, time_ms=1_700_000_000_000 + i * 1000, detector="test",
                            source_ip=f"203.0.113.{i}", destination_ip="192.0.2.22", destination_port=22,
                            transport="tcp", counts={"flows": 10 + i},
                            window=(1_700_000_000_000 + i * 1000, 1_700_000_060_000 + i * 1000))
    if revision > 1:
        doc = copy.deepcopy(doc)
        doc["flowcep"]["revision"] = revision
        doc["flowcep"]["occurrences"] = revision
        doc["flowcep"]["counts"]["flows"] = 100 * revision
    return doc


def output(es_url: str, ns: str, tmp_path: Any, ctx: Context | None = None, **cfg: Any) -> ElasticsearchOutput:
    hosts, config = parse_target(f"elasticsearch:{es_url}?namespace={ns}", {
        "flush_interval": 0.05, "backoff_initial": 0.05, "backoff_max": 0.2,
        "dead_letter": str(tmp_path / "dead.jsonl"), **cfg})
    return ElasticsearchOutput(hosts, config, ctx or Context())


def search(client: Any, index: str, **kw: Any) -> list[dict[str, Any]]:
    client.indices.refresh(index=index)
    resp = client.search(index=index, size=1000, **kw)
    return list(resp["hits"]["hits"])


def test_spec_registered() -> None:
    (spec,) = flowcep_register_outputs()
    assert spec.name == "elasticsearch" and set(spec.schemes) == {"elasticsearch", "es"}
    assert spec.accepts_flows
    hosts, cfg = parse_target("es:http://a:9200,http://b:9200?namespace=prod&flows=true&chunk_size=50", {})
    assert hosts == ["http://a:9200", "http://b:9200"]
    assert cfg["namespace"] == "prod" and cfg["flows"] is True and cfg["chunk_size"] == 50


def test_alerts_indexed_once_with_ecs_fields(client: Any, es_url: str, ns: str, tmp_path: Any) -> None:
    ctx = Context()
    out = output(es_url, ns, tmp_path, ctx)
    docs = [make(i) for i in range(30)]
    out.write_events(docs)
    out.flush()
    # the same alerts again (a restarted run replaying its input): duplicates, not copies
    out.write_events([make(i) for i in range(30)])
    out.close()
    index = f"logs-flowcep.alert-{ns}"
    hits = search(client, index)
    assert len(hits) == 30
    assert {h["_id"] for h in hits} == {d["flowcep"]["alert_id"] for d in docs}
    src = hits[0]["_source"]
    assert src["data_stream"] == {"type": "logs", "dataset": "flowcep.alert", "namespace": ns}
    assert src["event"]["ingested"].endswith("Z") and src["event"]["severity"] == 73
    assert src["rule"]["id"] == RULE.id and src["threat"]["technique"]["id"] == ["T1110"]
    assert out.totals.created == 30 and out.totals.duplicates == 30
    assert ctx.stats.snapshot()["drops"] == {}
    # the caller's events were not modified (other outputs see the same objects)
    assert "ingested" not in docs[0]["event"] and "data_stream" not in docs[0]
    # typed by our template: ip and long fields answer term queries
    hits = search(client, index, query={"bool": {"filter": [{"term": {"source.ip": "203.0.113.9"}},
                                                             {"term": {"destination.port": 22}}]}})
    assert [h["_source"]["flowcep"]["counts"]["flows"] for h in hits] == [19]
    mapping = client.indices.get_mapping(index=index).body[index]["mappings"]["properties"]
    assert mapping["source"]["properties"]["ip"]["type"] == "ip"


def test_revisions_replace_and_never_regress(client: Any, es_url: str, ns: str, tmp_path: Any) -> None:
    out = output(es_url, ns, tmp_path)
    out.write_events([make(i) for i in range(4)])
    out.flush()
    out.write_events([make(0, 2), make(1, 3)])
    out.flush()
    out.write_events([make(1, 2), make(0, 1)])  # late, older revisions
    out.close()
    hits = {h["_source"]["flowcep"]["alert_id"]: h["_source"]["flowcep"]
            for h in search(client, f"logs-flowcep.alert-{ns}")}
    assert len(hits) == 4
    by_rev = sorted((f["revision"], f["counts"]["flows"]) for f in hits.values())
    assert by_rev == [(1, 12), (1, 13), (2, 200), (3, 300)]
    assert out.totals.updated == 2 and out.totals.duplicates == 2


def test_mapping_conflict_goes_to_dead_letter(client: Any, es_url: str, ns: str, tmp_path: Any) -> None:
    bad = make(7)
    bad["source"]["ip"] = "not-an-address"
    out = output(es_url, ns, tmp_path)
    out.write_events([make(1), bad, make(2)])
    out.close()
    assert len(search(client, f"logs-flowcep.alert-{ns}")) == 2
    (entry,) = [json.loads(x) for x in (tmp_path / "dead.jsonl").read_text().splitlines()]
    assert entry["status"] == 400 and "source.ip" in entry["error"]
    assert entry["id"] == bad["flowcep"]["alert_id"] and entry["index"] == f"logs-flowcep.alert-{ns}"
    # replay fails again (the document is still wrong) and keeps it, with the error
    report = replay(str(tmp_path / "dead.jsonl"), client, max_retries=0)
    assert report.failed == 1 and report.sent == 0
    kept = json.loads((tmp_path / "dead.jsonl").read_text())
    assert kept["document"]["source"]["ip"] == "not-an-address"
    # fixed by hand, it goes through
    kept["document"]["source"]["ip"] = "203.0.113.7"
    (tmp_path / "dead.jsonl").write_text(json.dumps(kept) + "\n")
    assert replay(str(tmp_path / "dead.jsonl"), client).sent == 1
    assert len(search(client, f"logs-flowcep.alert-{ns}")) == 3


def test_metrics_go_to_their_own_stream(client: Any, es_url: str, ns: str, tmp_path: Any) -> None:
    rule = RuleSpec(id="flowcep.stats.top", name="Top talkers", description="bytes per host", kind="metric")
    metric = alerts.make_metric(rule, time_ms=1_700_000_000_000, detector="stats",
                                metrics={"top": [{"ip": "192.0.2.1", "bytes": 10}]})
    out = output(es_url, ns, tmp_path)
    out.write_events([metric])
    out.close()
    (hit,) = search(client, f"logs-flowcep.metric-{ns}")
    assert hit["_source"]["data_stream"]["dataset"] == "flowcep.metric"
    assert hit["_source"]["event"]["kind"] == "metric"


def test_flows_indexed_once(client: Any, es_url: str, ns: str, tmp_path: Any) -> None:
    rows = [{"sourceIPv4Address": f"10.1.{i // 200}.{i % 200}", "destinationIPv4Address": "10.2.0.1",
             "sourceTransportPort": 40000 + i, "destinationTransportPort": 443, "protocolIdentifier": 6,
             "octetDeltaCount": 100 + i, "packetDeltaCount": 2, "flowStartMilliseconds": 1_700_000_000_000 + i,
             "flowEndMilliseconds": 1_700_000_001_000 + i} for i in range(1000)]
    out = output(es_url, ns, tmp_path, flows=True, chunk_size=300)
    out.write_flows(FlowBatch.from_rows(rows))
    out.write_flows(FlowBatch.from_rows(rows))  # the same records again: same ids
    out.close()
    index = f"logs-flowcep.flow-{ns}"
    client.indices.refresh(index=index)
    assert client.count(index=index)["count"] == 1000
    hits = search(client, index, query={"term": {"destination.port": 443}}, sort=[{"network.bytes": "desc"}])
    top = hits[0]["_source"]
    assert top["network.bytes"] == 1099 and top["source.ip"] == "10.1.4.199"
    assert top["data_stream.dataset"] == "flowcep.flow"


def test_flows_can_be_kept_out(client: Any, es_url: str, ns: str, tmp_path: Any) -> None:
    out = output(es_url, ns, tmp_path, flows=False)
    out.write_flows(FlowBatch.from_rows([{"sourceIPv4Address": "10.0.0.1", "flowEndMilliseconds": 1}]))
    out.close()
    assert not client.indices.exists(index=f"logs-flowcep.flow-{ns}")


def test_options_records_go_to_their_own_data_stream(client: Any, es_url: str, ns: str, tmp_path: Any) -> None:
    """Exporters' options records are metric documents in logs-flowcep.options-<ns>, never
    in the flow data stream."""
    opts = FlowBatch({"samplerId": [1, 2], "samplerRandomInterval": [100, 1000],
                      "flowcep.template_id": [257, 257], "exportTime": [1_700_000_000] * 2,
                      "flowcep.exporter": ["192.0.2.9:2055/0"] * 2}, 2, "t", "192.0.2.9:2055/0", "Options")
    opts.set_event_times([1_700_000_000_000] * 2)
    out = output(es_url, ns, tmp_path, flows=True)
    out.write_flows(opts)
    out.close()
    index = f"logs-flowcep.options-{ns}"
    client.indices.refresh(index=index)
    hits = search(client, index, query={"term": {"netflow.sampler_id": 2}})
    doc = hits[0]["_source"]
    assert doc["event.kind"] == "metric" and doc["data_stream.dataset"] == "flowcep.options"
    assert doc["event.dataset"] == "flowcep.options" and doc["netflow.sampler_random_interval"] == 1000
    assert doc["observer.ip"] == ["192.0.2.9"]
    assert not client.indices.exists(index=f"logs-flowcep.flow-{ns}")


@pytest.mark.shared
@pytest.mark.slow
def test_pipeline_end_to_end(client: Any, es_url: str, ns: str, tmp_path: Any, upstream_ipfix: Any) -> None:
    """The FlowCEP upstream sample through every installed detector into the cluster: the
    index holds exactly the run's alerts, each at its newest revision, and the flows."""
    from flowcep_plugin import api

    config = {"outputs": {"elasticsearch": {"namespace": ns, "dead_letter": str(tmp_path / "dead.jsonl"),
                                            "flush_interval": 0.05}},
              "run": {"flows": True}}
    result = api.run([str(upstream_ipfix)], outputs=[f"elasticsearch:{es_url}"], config=config)
    newest: dict[str, int] = {}
    for ev in result.events:
        if ev["event"]["kind"] == "alert":
            aid = ev["flowcep"]["alert_id"]
            newest[aid] = max(newest.get(aid, 0), ev["flowcep"]["revision"])
    assert newest, "the sample should raise alerts"
    hits = search(client, f"logs-flowcep.alert-{ns}")
    assert {h["_id"]: h["_source"]["flowcep"]["revision"] for h in hits} == newest
    assert not (tmp_path / "dead.jsonl").exists()
    flows = f"logs-flowcep.flow-{ns}"
    client.indices.refresh(index=flows)
    sent = result.stats["stages"]["enrich"]["in"]  # every record the host handed to outputs
    repeated = result.stats["gauges"].get("es.flow_duplicates", 0)  # verbatim repeats share an id
    assert client.count(index=flows)["count"] + repeated == sent
    assert repeated < sent * 0.01
