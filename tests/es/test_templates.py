"""Templates and ILM derived from the alert schema; `flowcep es setup` against a server."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from flowcep_plugin import alerts
from flowcep_plugin.ecs import ecs_name, flatten
from flowcep_plugin.errors import ConfigError
from flowcep_plugin.es import templates
from flowcep_plugin.es.client import check_version, make_client
from flowcep_plugin.es.setup import install
from flowcep_plugin.specs import RuleSpec

ROOT = Path(__file__).resolve().parents[2]
MAPPINGS = ROOT / "mappings"


def leaf_types(mapping: dict[str, Any]) -> dict[str, str]:
    return dict(templates.iter_fields(mapping))


def schema_leaves(node: dict[str, Any], prefix: str = "") -> list[str]:
    """Every leaf path the alert schema names, walked independently of templates.py."""
    out = []
    for name, child in node.get("properties", {}).items():
        path = prefix + name
        if child.get("type") == "object" and child.get("properties"):
            out += schema_leaves(child, path + ".")
        else:
            out.append(path)
    return out


def test_alert_mapping_types_hand_checked() -> None:
    types = leaf_types(templates.alert_mapping())
    expected = {
        "@timestamp": "date",
        "message": "match_only_text",
        "source.ip": "ip",
        "destination.ip": "ip",  # one address or a list of them
        "destination.port": "long",
        "network.transport": "keyword",
        "event.kind": "keyword",
        "event.category": "keyword",
        "event.severity": "long",
        "event.risk_score": "float",
        "event.ingested": "date",
        "rule.id": "keyword",
        "rule.name": "keyword",
        "rule.description": "keyword",
        "threat.framework": "keyword",
        "threat.technique.id": "keyword",
        "threat.technique.name": "keyword",
        "threat.tactic.name": "keyword",
        "flowcep.alert_id": "keyword",
        "flowcep.revision": "long",
        "flowcep.window.start": "date",
        "flowcep.window.end": "date",
        "flowcep.first_seen": "date",
        "flowcep.fields": "flattened",
        "data_stream.dataset": "constant_keyword",
    }
    for field, kind in expected.items():
        assert types.get(field) == kind, field


def test_every_schema_field_is_mapped() -> None:
    types = leaf_types(templates.alert_mapping())
    schema = alerts.alert_schema()
    for path in schema_leaves(schema):
        assert path in types or any(path.startswith(t + ".") for t in types), path


def test_alert_documents_fit_the_mapping() -> None:
    rule = RuleSpec(id="flowcep.test.scan", name="Test scan", description="scan", severity="high",
                    risk_score=73, technique=("T1046",), tactic=("TA0007",))
    doc = alerts.make_alert(rule, time_ms=1_700_000_000_000, detector="test", source_ip="192.0.2.1",
                            destination_ip=["198.51.100.1", "198.51.100.2"], destination_port=22,
                            transport="tcp", counts={"hosts": 2}, window=(1_699_999_940_000, 1_700_000_000_000))
    alerts.validate_event(doc)
    types = leaf_types(templates.alert_mapping())
    for field in flatten(doc):
        assert field in types or field.startswith(("flowcep.counts.", "flowcep.fields.")), field


def test_flow_mapping_covers_every_ecs_field() -> None:
    types = leaf_types(templates.flow_mapping())
    missing = templates.flow_fields() - set(types)
    assert not missing
    assert types["source.ip"] == "ip" and types["destination.port"] == "long"
    assert types["event.start"] == "date" and types["network.bytes"] == "long"


def test_index_templates_shape() -> None:
    its = templates.index_templates()
    alert = its["logs-flowcep.alert"]
    assert alert["index_patterns"] == ["logs-flowcep.alert-*"]
    assert alert["priority"] > 100  # above the stack's logs-*-*
    assert alert["data_stream"] == {}
    comps = templates.component_templates()
    for name in alert["composed_of"] + its["logs-flowcep.flow"]["composed_of"]:
        assert name in comps
    policy = comps["flowcep-alert@settings"]["template"]["settings"]["index"]["lifecycle"]["name"]
    assert policy in templates.ilm_policies()


def test_rendered_files_are_in_step() -> None:
    """mappings/ is generated from the schema: regenerate with
    `python -m flowcep_plugin.es.templates mappings` when this fails."""
    rendered = templates.render()
    on_disk = {str(p.relative_to(MAPPINGS)): json.loads(p.read_text())
               for p in MAPPINGS.glob("*/*.json") if p.parent.name in ("ilm", "component_template", "index_template")}
    assert on_disk == rendered


def test_version_check_messages() -> None:
    assert check_version({"version": {"number": "8.15.3"}}) == (8, "8.15.3")
    assert check_version({"version": {"number": "9.1.0"}})[0] == 9
    with pytest.raises(ConfigError, match="7.17.1 is not supported.*8.x or 9.x"):
        check_version({"version": {"number": "7.17.1"}})
    with pytest.raises(ConfigError, match="OpenSearch"):
        check_version({"version": {"number": "2.11.0", "distribution": "opensearch"}})


def test_setup_is_idempotent(es_url: str, real_es: bool) -> None:
    client = make_client(es_url)
    first = install(client, force=True)
    assert "index template logs-flowcep.alert" in first.installed
    second = install(client)
    assert second.installed == []
    assert "component template flowcep-alert@mappings" in second.unchanged
    if not real_es:
        assert any("ilm policy" in s for s in second.skipped)
    body = client.indices.get_index_template(name="logs-flowcep.alert").body
    got = body["index_templates"][0]["index_template"]
    assert got["priority"] == templates.TEMPLATE_PRIORITY and got["index_patterns"] == ["logs-flowcep.alert-*"]


def test_setup_on_real_cluster_has_ilm_and_data_streams(es_url: str, real_es: bool, namespace: str) -> None:
    if not real_es:
        pytest.skip("data streams and ILM need a real cluster (FLOWCEP_TEST_ES_URL)")
    client = make_client(es_url)
    install(client)
    assert "flowcep-alerts" in client.ilm.get_lifecycle(name="flowcep-alerts").body
    name = f"logs-flowcep.alert-{namespace}"
    client.indices.create_data_stream(name=name)
    try:
        ds = client.indices.get_data_stream(name=name).body["data_streams"][0]
        assert ds["template"] == "logs-flowcep.alert"
        assert ds.get("ilm_policy") == "flowcep-alerts"
    finally:
        client.indices.delete_data_stream(name=name)


def test_setup_cli_says_what_is_wrong(httpserver: Any) -> None:
    from flowcep_plugin.cli import main

    httpserver.expect_request("/").respond_with_json(
        {"version": {"number": "7.10.2"}}, headers={"X-Elastic-Product": "Elasticsearch"})
    rc = main(["es", "setup", "--url", httpserver.url_for("/")])
    assert rc == 2


def test_es_cli_setup_and_replay(es_url: str, namespace: str, tmp_path: Path, capsys: Any) -> None:
    from flowcep_plugin.cli import main

    assert main(["es", "setup", "--url", es_url]) == 0
    out = capsys.readouterr().out
    assert out.startswith("elasticsearch ") and "index template logs-flowcep.alert" in out
    rule = RuleSpec(id="flowcep.test.replay", name="Replay", description="r")
    doc = alerts.make_alert(rule, time_ms=1_700_000_000_000, detector="t", source_ip="192.0.2.9")
    index = f"logs-flowcep.alert-{namespace}"
    line = {"time": "2024-01-01T00:00:00Z", "index": index, "id": doc["flowcep"]["alert_id"], "revision": 1,
            "kind": "alert", "status": 503, "error": "gave up", "document": doc}
    dl = tmp_path / "dead.jsonl"
    dl.write_text(json.dumps(line) + "\nnot json\n")
    assert main(["es", "replay-dead-letters", str(dl), "--url", es_url]) == 0
    captured = capsys.readouterr()
    assert "1 indexed, 0 already present, 0 failed" in captured.out
    assert f"{dl}:2: not a dead-letter record" in captured.err
    assert dl.read_text() == "not json\n"  # the unreadable line is kept, the sent one is gone
    client = make_client(es_url)
    client.indices.refresh(index=index)
    hit = client.get(index=index, id=doc["flowcep"]["alert_id"])
    assert hit["_source"]["rule"]["id"] == "flowcep.test.replay"
    assert main(["es", "setup", "--print"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == templates.render()


def test_every_builtin_enricher_column_is_mapped_for_flows():
    """Enriched flows indexed into Elasticsearch keep their types (not dynamic guesses)."""
    from flowcep_plugin.es.templates import FLOW_TYPES
    from flowcep_plugin.manager import make_plugin_manager
    from flowcep_plugin.registry import Registry

    reg = Registry.build(make_plugin_manager())
    columns = {c for spec in reg.enrichers.values() for c in spec.columns}
    assert columns, "no enricher declares its columns"
    missing = sorted(c for c in columns if ecs_name(c) not in FLOW_TYPES)
    assert not missing, f"add to FLOW_TYPES in flowcep_plugin/es/templates.py: {missing}"
    # custom columns land under flowcep.*, never inside an ECS field set
    assert ecs_name("source.zone") == "flowcep.source.zone" and "source.zone" not in FLOW_TYPES
