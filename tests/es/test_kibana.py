"""Kibana saved objects: consistency, the rendered files, and `flowcep kibana setup`."""

from __future__ import annotations

import json
import os
from email.parser import BytesParser
from email.policy import default as email_policy
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import pytest
from werkzeug import Request, Response

from flowcep_plugin import alerts
from flowcep_plugin.cli import main
from flowcep_plugin.es import kibana, kql, templates
from flowcep_plugin.es.search import alert_types
from flowcep_plugin.specs import RuleSpec

ROOT = Path(__file__).resolve().parents[2]


def objects_from_file() -> list[dict[str, Any]]:
    text = (ROOT / "mappings" / "kibana" / "flowcep-alerts.ndjson").read_text()
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_rendered_files_are_in_step() -> None:
    """Regenerate with `python -m flowcep_plugin.es.kibana mappings` when this fails."""
    assert objects_from_file() == kibana.saved_objects()
    rule_text = (ROOT / "mappings" / "security-rule.ndjson").read_text()
    assert [json.loads(x) for x in rule_text.splitlines()] == kibana.security_rules()


def test_every_reference_resolves() -> None:
    objs = objects_from_file()
    known = {(o["type"], o["id"]) for o in objs}
    assert len(known) == len(objs), "duplicate ids"
    for o in objs:
        for ref in o["references"]:
            assert (ref["type"], ref["id"]) in known, (o["id"], ref)
        attrs = o["attributes"]
        ss = attrs.get("kibanaSavedObjectMeta", {}).get("searchSourceJSON")
        if ss and "indexRefName" in json.loads(ss):
            assert json.loads(ss)["indexRefName"] in {r["name"] for r in o["references"]}
        if o["type"] == "dashboard":
            panels = json.loads(attrs["panelsJSON"])
            names = {r["name"] for r in o["references"]}
            assert {f"{p['panelIndex']}:{p['panelRefName']}" for p in panels} == names
            kinds = {r["type"] for r in o["references"]}
            assert kinds == {"visualization", "search"}


def test_dashboard_has_the_viewers() -> None:
    objs = {o["id"]: o for o in objects_from_file()}
    dash = objs["flowcep-dashboard-alerts"]
    panel_ids = {r["id"] for r in dash["references"]}
    vis_fields = {}
    for pid in panel_ids:
        if objs[pid]["type"] == "visualization":
            vis = json.loads(objs[pid]["attributes"]["visState"])
            vis_fields[pid] = [a["params"].get("field") for a in vis["aggs"] if a["type"] != "count"]
    assert vis_fields["flowcep-vis-alerts-over-time"] == ["@timestamp", "rule.name"]
    assert vis_fields["flowcep-vis-top-attackers"] == ["source.ip"]
    assert vis_fields["flowcep-vis-top-targets"] == ["destination.ip"]
    assert "flowcep-search-all" in panel_ids
    titles = {o["attributes"]["title"] for o in objs.values() if o["type"] == "search"}
    assert "FlowCEP: all alerts" in titles and "FlowCEP: multi-stage attackers" in titles


def test_fields_exist_in_the_alert_mapping() -> None:
    types = alert_types()
    for o in objects_from_file():
        for f in kibana.referenced_fields(o):
            assert f in types, (o["id"], f)
    aggregatable = {"keyword", "ip", "date", "long", "float", "constant_keyword"}
    for o in objects_from_file():
        if o["type"] == "visualization":
            for a in json.loads(o["attributes"]["visState"])["aggs"]:
                f = a["params"].get("field")
                if f:
                    assert types[f] in aggregatable, f  # text fields cannot be bucketed


def test_data_view_pattern_matches_the_data_streams() -> None:
    (view,) = [o for o in objects_from_file() if o["type"] == "index-pattern"]
    pattern = view["attributes"]["title"]
    assert fnmatchcase("logs-flowcep.alert-default", pattern)
    assert not fnmatchcase("logs-flowcep.flow-default", pattern)
    assert templates.index_templates()["logs-flowcep.alert"]["index_patterns"] == [pattern]
    assert view["attributes"]["timeFieldName"] == "@timestamp"


def test_security_rule_reads_flowcep_alerts() -> None:
    (rule,) = kibana.security_rules()
    types = alert_types()
    assert fnmatchcase("logs-flowcep.alert-default", rule["index"][0])
    for f in [m["field"] for m in rule["severity_mapping"] + rule["risk_score_mapping"]] + [
            rule["rule_name_override"], rule["timestamp_override"]]:
        assert f in types, f
    schema_sev = alerts.alert_schema()["properties"]["event"]["properties"]["severity"]["enum"]
    assert sorted(int(m["value"]) for m in rule["severity_mapping"]) == sorted(schema_sev)
    doc = alerts.make_alert(RuleSpec(id="x", name="X", description="x"), time_ms=0, detector="d",
                            source_ip="192.0.2.1")
    assert kql.matches(rule["query"], doc, types)
    metric = alerts.make_metric(RuleSpec(id="m", name="M", description="m", kind="metric"), time_ms=0,
                                detector="d", metrics={"a": 1})
    assert not kql.matches(rule["query"], metric, types)


class KibanaStub:
    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.fail_ids: set[str] = set()

    def handle(self, request: Request) -> Response:
        raw = b"Content-Type: " + request.headers["Content-Type"].encode() + b"\r\n\r\n" + request.get_data()
        msg = BytesParser(policy=email_policy).parsebytes(raw)
        parts = {p.get_param("name", header="content-disposition"): p for p in msg.iter_parts()}
        file_part = parts["file"]
        lines = [json.loads(x) for x in file_part.get_payload(decode=True).decode().splitlines() if x.strip()]
        self.requests.append({"path": request.path, "args": dict(request.args), "headers": dict(request.headers),
                              "filename": file_part.get_filename(), "objects": lines})
        if "detection_engine" in request.path:
            return Response(json.dumps({"success": True, "success_count": len(lines), "errors": []}),
                            content_type="application/json")
        errors = [{"id": o["id"], "type": o["type"], "error": {"type": "conflict", "message": "boom"}}
                  for o in lines if o.get("id") in self.fail_ids]
        return Response(json.dumps({"success": not errors, "successCount": len(lines) - len(errors),
                                    "errors": errors}), content_type="application/json")


@pytest.fixture
def kib(httpserver: Any) -> KibanaStub:
    stub = KibanaStub()
    httpserver.expect_request("", method="POST").respond_with_handler(stub.handle)
    return stub


def test_setup_request_shape(kib: KibanaStub, httpserver: Any, capsys: Any) -> None:
    rc = main(["kibana", "setup", "--url", httpserver.url_for("/"), "--api-key", "c2VjcmV0"])
    assert rc == 0
    (req,) = kib.requests
    assert req["path"] == "/api/saved_objects/_import" and req["args"] == {"overwrite": "true"}
    assert req["headers"]["Kbn-Xsrf"] == "true"
    assert req["headers"]["Authorization"] == "ApiKey c2VjcmV0"
    assert req["headers"]["Content-Type"].startswith("multipart/form-data; boundary=")
    assert req["filename"].endswith(".ndjson")
    assert req["objects"] == kibana.saved_objects()
    assert f"imported {len(kibana.saved_objects())} saved objects" in capsys.readouterr().out


def test_setup_space_rule_and_errors(kib: KibanaStub, httpserver: Any, capsys: Any) -> None:
    kib.fail_ids = {"flowcep-dashboard-alerts"}
    rc = main(["kibana", "setup", "--url", httpserver.url_for("/"), "--space", "soc", "--security-rule"])
    assert rc == 1  # one object failed: say so and exit non-zero
    paths = [r["path"] for r in kib.requests]
    assert paths == ["/s/soc/api/saved_objects/_import", "/s/soc/api/detection_engine/rules/_import"]
    assert kib.requests[1]["objects"] == kibana.security_rules()
    err = capsys.readouterr().err
    assert "flowcep-dashboard-alerts" in err and "boom" in err


def test_setup_unreachable_is_one_line(capsys: Any) -> None:
    from flowcep_plugin.es.loopback import free_port

    rc = main(["kibana", "setup", "--url", f"http://127.0.0.1:{free_port()}", "--timeout", "2"])
    assert rc == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("flowcep: error: kibana: cannot connect") and "\n" not in err


def test_setup_against_real_kibana() -> None:
    url = os.environ.get("FLOWCEP_TEST_KIBANA_URL")
    if not url:
        pytest.skip("needs a real Kibana (FLOWCEP_TEST_KIBANA_URL)")
    results = kibana.import_objects(url, username=os.environ.get("FLOWCEP_KIBANA_USERNAME"),
                                    password=os.environ.get("FLOWCEP_KIBANA_PASSWORD"))
    (what, res), = results
    assert res.success, res.errors
    assert res.count == len(kibana.saved_objects())


@pytest.mark.parametrize("space", ["../api/security", "soc/../../x", "a/b", "..", "", "Security", "soc?x=1",
                                   "soc%2f..", "so c", "séc"])
def test_setup_refuses_a_space_that_is_not_a_space_id(space: str, capsys: Any) -> None:
    # nothing listens there: a refusal must come before any request is made
    rc = main(["kibana", "setup", "--url", "http://127.0.0.1:9", "--space", space])
    assert rc == 2
    err = capsys.readouterr().err.strip()
    assert "is not a space id" in err and "\n" not in err


def test_space_id_check_accepts_kibana_ids_and_suggests() -> None:
    from flowcep_plugin.errors import ConfigError

    for ok in ("default", "soc", "team_2-eu"):
        assert kibana.check_space_id(ok) == ok
    with pytest.raises(ConfigError, match="did you mean 'security-ops'"):
        kibana.check_space_id("Security Ops")
