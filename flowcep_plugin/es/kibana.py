"""Kibana saved objects for FlowCEP alerts, and the import client behind ``flowcep kibana setup``.

The objects are built here (not hand-edited NDJSON) so that every field they name can be
checked against the alert mapping and every reference against the object list; the
rendered files in ``mappings/kibana/`` are regenerated with ``python -m
flowcep_plugin.es.kibana mappings`` and a test keeps them in step.

Shapes follow Kibana 8.x saved-object exports (``coreMigrationVersion`` 8.8.0), which
Kibana 8.8+ and 9.x import and migrate forward. Visualizations are aggregation-based
(``visState``), the format that has stayed stable across those versions.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError

__all__ = [
    "DATA_VIEW_ID",
    "ALERT_PATTERN",
    "saved_objects",
    "security_rules",
    "to_ndjson",
    "write_files",
    "referenced_fields",
    "KibanaImport",
    "import_objects",
]

DATA_VIEW_ID = "flowcep-alerts"
ALERT_PATTERN = "logs-flowcep.alert-*"
CORE_VERSION = "8.8.0"
TYPE_VERSIONS = {"index-pattern": "8.0.0", "search": "8.0.0", "visualization": "8.5.0", "dashboard": "8.7.0"}

#: (id suffix, title, KQL) of the saved searches: all alerts, per detector family, and the
#: multi-stage attackers (the flowcep-multistage plugin's correlated rule).
SEARCHES: tuple[tuple[str, str, str], ...] = (
    ("all", "FlowCEP: all alerts", "event.kind:alert"),
    ("multistage-attackers", "FlowCEP: multi-stage attackers", "event.kind:alert and rule.id:multistage-attack"),
    ("rule-multistage", "FlowCEP rule: multi-stage HTTP (all stages)", "event.kind:alert and rule.id:multistage-*"),
    ("rule-portscan", "FlowCEP rule: port scans and sweeps", "event.kind:alert and rule.id:portscan-*"),
    ("rule-bruteforce", "FlowCEP rule: brute force", "event.kind:alert and rule.id:bruteforce-*"),
    ("rule-volumetric", "FlowCEP rule: floods and amplification", "event.kind:alert and rule.id:volumetric-*"),
    ("rule-policy", "FlowCEP rule: policy violations", "event.kind:alert and rule.id:policy-*"),
)

COLUMNS = ["event.severity", "rule.name", "source.ip", "destination.ip", "destination.port", "message",
           "flowcep.revision"]

_INDEX_REF = "kibanaSavedObjectMeta.searchSourceJSON.index"


def _meta(obj_type: str) -> dict[str, Any]:
    return {"coreMigrationVersion": CORE_VERSION, "typeMigrationVersion": TYPE_VERSIONS[obj_type], "managed": False}


def _search_source(query: str) -> str:
    return json.dumps({"query": {"query": query, "language": "kuery"}, "filter": [], "indexRefName": _INDEX_REF},
                      sort_keys=True)


def _index_ref() -> list[dict[str, str]]:
    return [{"name": _INDEX_REF, "type": "index-pattern", "id": DATA_VIEW_ID}]


def _data_view() -> dict[str, Any]:
    return {
        "id": DATA_VIEW_ID,
        "type": "index-pattern",
        "attributes": {
            "title": ALERT_PATTERN,
            "name": "FlowCEP alerts",
            "timeFieldName": "@timestamp",
            "allowNoIndex": True,
            "fields": "[]",
            "fieldFormatMap": "{}",
            "fieldAttrs": "{}",
            "runtimeFieldMap": "{}",
            "sourceFilters": "[]",
            "typeMeta": "{}",
        },
        "references": [],
        **_meta("index-pattern"),
    }


def _search(suffix: str, title: str, query: str) -> dict[str, Any]:
    return {
        "id": f"flowcep-search-{suffix}",
        "type": "search",
        "attributes": {
            "title": title,
            "description": f"KQL: {query}",
            "columns": list(COLUMNS),
            "sort": [["@timestamp", "desc"]],
            "grid": {},
            "hideChart": False,
            "isTextBasedQuery": False,
            "kibanaSavedObjectMeta": {"searchSourceJSON": _search_source(query)},
        },
        "references": _index_ref(),
        **_meta("search"),
    }


def _terms(agg_id: str, schema: str, fieldname: str, size: int, label: str) -> dict[str, Any]:
    return {"id": agg_id, "enabled": True, "type": "terms", "schema": schema,
            "params": {"field": fieldname, "size": size, "order": "desc", "orderBy": "1",
                       "otherBucket": False, "missingBucket": False, "customLabel": label}}


def _visualization(vis_id: str, title: str, vis_type: str, params: dict[str, Any],
                   aggs: list[dict[str, Any]]) -> dict[str, Any]:
    count = {"id": "1", "enabled": True, "type": "count", "schema": "metric", "params": {"customLabel": "Alerts"}}
    vis_state = {"title": title, "type": vis_type, "params": params, "aggs": [count, *aggs]}
    return {
        "id": vis_id,
        "type": "visualization",
        "attributes": {
            "title": title,
            "description": "",
            "uiStateJSON": "{}",
            "version": 1,
            "visState": json.dumps(vis_state, sort_keys=True),
            "kibanaSavedObjectMeta": {"searchSourceJSON": _search_source("event.kind:alert")},
        },
        "references": _index_ref(),
        **_meta("visualization"),
    }


def _visualizations() -> list[dict[str, Any]]:
    over_time = _visualization(
        "flowcep-vis-alerts-over-time", "FlowCEP: alerts over time by rule", "histogram",
        {"type": "histogram", "addLegend": True, "legendPosition": "right", "addTooltip": True,
         "detailedTooltip": True, "isVislibVis": True, "fittingFunction": "zero", "times": [],
         "addTimeMarker": False, "labels": {"show": False}, "palette": {"type": "palette", "name": "default"},
         "thresholdLine": {"show": False, "value": 10, "width": 1, "style": "full", "color": "#E7664C"},
         "grid": {"categoryLines": False},
         "categoryAxes": [{"id": "CategoryAxis-1", "type": "category", "position": "bottom", "show": True,
                           "style": {}, "scale": {"type": "linear"},
                           "labels": {"show": True, "filter": True, "truncate": 100}, "title": {}}],
         "valueAxes": [{"id": "ValueAxis-1", "name": "LeftAxis-1", "type": "value", "position": "left",
                        "show": True, "style": {}, "scale": {"type": "linear", "mode": "normal"},
                        "labels": {"show": True, "rotate": 0, "filter": False, "truncate": 100},
                        "title": {"text": "Alerts"}}],
         "seriesParams": [{"data": {"id": "1", "label": "Alerts"}, "mode": "stacked", "show": True,
                           "type": "histogram", "valueAxis": "ValueAxis-1", "drawLinesBetweenPoints": True,
                           "lineWidth": 2, "showCircles": True}]},
        [{"id": "2", "enabled": True, "type": "date_histogram", "schema": "segment",
          "params": {"field": "@timestamp", "interval": "auto", "min_doc_count": 1, "extended_bounds": {}}},
         _terms("3", "group", "rule.name", 10, "Rule")],
    )
    table_params = {"perPage": 10, "showPartialRows": False, "showMetricsAtAllLevels": False,
                    "showTotal": False, "totalFunc": "sum", "percentageCol": "", "autoFitRowToContent": False}
    attackers = _visualization("flowcep-vis-top-attackers", "FlowCEP: top attackers", "table", table_params,
                               [_terms("2", "bucket", "source.ip", 10, "Attacker")])
    targets = _visualization("flowcep-vis-top-targets", "FlowCEP: top targets", "table", table_params,
                             [_terms("2", "bucket", "destination.ip", 10, "Target")])
    severity = _visualization(
        "flowcep-vis-by-severity", "FlowCEP: alerts by severity", "pie",
        {"type": "pie", "addLegend": True, "legendDisplay": "show", "legendPosition": "right", "isDonut": True,
         "addTooltip": True, "nestedLegend": False, "distinctColors": True,
         "palette": {"type": "palette", "name": "default"},
         "labels": {"show": True, "values": True, "last_level": True, "truncate": 100, "position": "default"}},
        [_terms("2", "segment", "flowcep.severity", 4, "Severity")],
    )
    return [over_time, attackers, targets, severity]


def _dashboard(panels: list[tuple[str, str, dict[str, int]]]) -> dict[str, Any]:
    panel_json = []
    refs = []
    for n, (obj_type, obj_id, grid) in enumerate(panels, 1):
        idx = str(n)
        panel_json.append({"version": CORE_VERSION, "type": obj_type, "panelIndex": idx,
                           "gridData": {**grid, "i": idx}, "embeddableConfig": {"enhancements": {}},
                           "panelRefName": f"panel_{idx}"})
        refs.append({"name": f"{idx}:panel_{idx}", "type": obj_type, "id": obj_id})
    return {
        "id": "flowcep-dashboard-alerts",
        "type": "dashboard",
        "attributes": {
            "title": "FlowCEP alerts",
            "description": "Alerts over time by rule, top attackers, top targets and the alert table "
                           "(FlowCEP's take on NetViewer's viewers).",
            "panelsJSON": json.dumps(panel_json, sort_keys=True),
            "optionsJSON": json.dumps({"useMargins": True, "syncColors": False, "hidePanelTitles": False}),
            "timeRestore": True,
            "timeFrom": "now-24h",
            "timeTo": "now",
            "refreshInterval": {"pause": False, "value": 60000},
            "version": 1,
            "kibanaSavedObjectMeta": {"searchSourceJSON": json.dumps(
                {"query": {"query": "", "language": "kuery"}, "filter": []}, sort_keys=True)},
        },
        "references": refs,
        **_meta("dashboard"),
    }


def saved_objects() -> list[dict[str, Any]]:
    """Every saved object, referenced objects before the objects that reference them."""
    searches = [_search(*s) for s in SEARCHES]
    vis = _visualizations()
    dashboard = _dashboard([
        ("visualization", "flowcep-vis-alerts-over-time", {"x": 0, "y": 0, "w": 32, "h": 14}),
        ("visualization", "flowcep-vis-by-severity", {"x": 32, "y": 0, "w": 16, "h": 14}),
        ("visualization", "flowcep-vis-top-attackers", {"x": 0, "y": 14, "w": 24, "h": 14}),
        ("visualization", "flowcep-vis-top-targets", {"x": 24, "y": 14, "w": 24, "h": 14}),
        ("search", "flowcep-search-all", {"x": 0, "y": 28, "w": 48, "h": 20}),
    ])
    return [_data_view(), *searches, *vis, dashboard]


def security_rules() -> list[dict[str, Any]]:
    """An Elastic Security custom query rule that turns FlowCEP alerts into Security alerts,
    carrying their severity, risk score, rule name and time (import via Security > Rules >
    Import, or ``flowcep kibana setup --security-rule``)."""
    severity_mapping = [{"field": "event.severity", "operator": "equals", "value": str(v), "severity": s}
                        for v, s in ((21, "low"), (47, "medium"), (73, "high"), (99, "critical"))]
    return [{
        "rule_id": "flowcep-alerts-to-security",
        "name": "FlowCEP network alert",
        "description": "Promotes alerts written by FlowCEP (flow-based detections: scans, brute force, "
                       "floods, multi-stage attacks) to Elastic Security alerts, keeping FlowCEP's "
                       "severity, risk score and rule name. Disable Elastic's prebuilt 'External "
                       "Alerts' rule for logs-flowcep.* if both are on, or you get each alert twice.",
        "type": "query",
        "language": "kuery",
        "query": "event.kind:alert and event.module:flowcep",
        "index": [ALERT_PATTERN],
        "enabled": True,
        "interval": "5m",
        "from": "now-6m",
        "max_signals": 1000,
        "risk_score": 47,
        "risk_score_mapping": [{"field": "event.risk_score", "operator": "equals", "value": ""}],
        "severity": "medium",
        "severity_mapping": severity_mapping,
        "rule_name_override": "rule.name",
        "timestamp_override": "event.ingested",
        "tags": ["FlowCEP", "Network", "Domain: Network"],
        "author": ["FlowCEP"],
        "license": "Apache-2.0",
        "threat": [],
        "references": [],
        "false_positives": [],
        "exceptions_list": [],
        "required_fields": [
            {"name": "event.kind", "type": "keyword"},
            {"name": "event.module", "type": "keyword"},
            {"name": "event.severity", "type": "long"},
            {"name": "event.risk_score", "type": "float"},
            {"name": "rule.name", "type": "keyword"},
        ],
        "version": 1,
    }]


def to_ndjson(objects: Iterable[Mapping[str, Any]]) -> str:
    return "".join(json.dumps(o, sort_keys=True) + "\n" for o in objects)


def write_files(root: Path) -> list[Path]:
    kib = root / "kibana"
    kib.mkdir(parents=True, exist_ok=True)
    out = [kib / "flowcep-alerts.ndjson", root / "security-rule.ndjson"]
    out[0].write_text(to_ndjson(saved_objects()))
    out[1].write_text(to_ndjson(security_rules()))
    return out


def referenced_fields(obj: Mapping[str, Any]) -> set[str]:
    """Alert fields an object relies on (columns, sort, aggregation fields, KQL fields)."""
    from .kql import And, Exists, Match, Node, Not, Or, Range, parse

    fields: set[str] = set()

    def walk(node: Node) -> None:
        if isinstance(node, And | Or):
            for n in node.items:
                walk(n)
        elif isinstance(node, Not):
            walk(node.item)
        elif isinstance(node, Match | Range | Exists) and node.field:
            fields.add(node.field)

    attrs = obj.get("attributes", {})
    fields.update(attrs.get("columns", []))
    fields.update(s[0] for s in attrs.get("sort", []))
    if attrs.get("timeFieldName"):
        fields.add(attrs["timeFieldName"])
    if "visState" in attrs:
        for agg in json.loads(attrs["visState"]).get("aggs", []):
            f = agg.get("params", {}).get("field")
            if f:
                fields.add(f)
    ss = attrs.get("kibanaSavedObjectMeta", {}).get("searchSourceJSON")
    if ss:
        q = json.loads(ss).get("query", {}).get("query")
        if q:
            walk(parse(q))
    return fields


# -- import ------------------------------------------------------------------------------------


@dataclass
class KibanaImport:
    success: bool
    count: int
    errors: list[str] = field(default_factory=list)


def _kibana_request(url: str, path: str, ndjson: str, filename: str, *, api_key: str | None,
                    username: str | None, password: str | None, ca_file: str | None, verify: bool,
                    timeout: float) -> dict[str, Any]:
    import urllib3
    from urllib3.filepost import encode_multipart_formdata

    body, content_type = encode_multipart_formdata({"file": (filename, ndjson.encode(), "application/ndjson")})
    headers = {"kbn-xsrf": "true", "Content-Type": content_type}
    if api_key:
        headers["Authorization"] = f"ApiKey {api_key}"
    elif username:
        headers.update(urllib3.make_headers(basic_auth=f"{username}:{password or ''}"))
    kwargs: dict[str, Any] = {"timeout": urllib3.Timeout(total=timeout), "retries": False}
    if ca_file:
        kwargs["ca_certs"] = ca_file
    if not verify:
        kwargs["cert_reqs"] = "CERT_NONE"
    http = urllib3.PoolManager(**kwargs)
    target = url.rstrip("/") + path
    try:
        resp = http.request("POST", target, body=body, headers=headers)
    except urllib3.exceptions.HTTPError as e:
        raise ConfigError(f"kibana: cannot connect to {url}: {e}") from None
    text = resp.data.decode("utf-8", "replace")
    if resp.status in (401, 403):
        raise ConfigError(f"kibana: {resp.status} from {target}: check --api-key or --username/FLOWCEP_KIBANA_PASSWORD")
    if resp.status >= 300:
        raise ConfigError(f"kibana: {target} answered {resp.status}: {text[:300]}")
    try:
        parsed: dict[str, Any] = json.loads(text)
    except ValueError:
        raise ConfigError(f"kibana: {target} did not answer JSON (is this Kibana?): {text[:200]}") from None
    return parsed


def _errors(resp: Mapping[str, Any]) -> list[str]:
    out = []
    for err in resp.get("errors", []) or []:
        what = err.get("error", {})
        out.append(f"{err.get('type', '?')} {err.get('id', err.get('rule_id', '?'))}: "
                   f"{what.get('type', '') if isinstance(what, dict) else ''} "
                   f"{what.get('message', what) if isinstance(what, dict) else what}".strip())
    return out


#: Kibana's rule for a space's URL identifier: lowercase a-z, 0-9, '_' and '-' only.
_SPACE_ID = re.compile(r"[a-z0-9_-]+")


def check_space_id(space: str) -> str:
    """``space`` if it is a valid Kibana space id, else ConfigError saying what would be.

    The id becomes a path segment (``/s/<id>/api/...``), so anything else (``/``, ``..``,
    ``?``, ``%2f``) would reach another API or another space than the one named."""
    if _SPACE_ID.fullmatch(space):
        return space
    hint = re.sub(r"[^a-z0-9_-]+", "-", space.lower()).strip("-")
    suggestion = f" (did you mean {hint!r}?)" if hint and hint != space else ""
    raise ConfigError(f"kibana: {space!r} is not a space id: use lowercase letters, digits, '_' and '-' "
                      f"as in the space's URL /s/<id>/{suggestion}")


def import_objects(url: str, *, space: str | None = None, security_rule: bool = False,
                   api_key: str | None = None, username: str | None = None, password: str | None = None,
                   ca_file: str | None = None, verify: bool = True, timeout: float = 60.0) -> list[tuple[str, KibanaImport]]:
    """Import the saved objects (``overwrite=true``, so re-running updates them) and,
    optionally, the Security rule. Returns (what, result) per request."""
    if space is not None:
        check_space_id(space)
    prefix = f"/s/{space}" if space and space != "default" else ""
    common = {"api_key": api_key, "username": username, "password": password, "ca_file": ca_file,
              "verify": verify, "timeout": timeout}
    results = []
    resp = _kibana_request(url, f"{prefix}/api/saved_objects/_import?overwrite=true",
                           to_ndjson(saved_objects()), "flowcep-alerts.ndjson", **common)  # type: ignore[arg-type]
    results.append(("saved objects", KibanaImport(bool(resp.get("success")), int(resp.get("successCount", 0)),
                                                   _errors(resp))))
    if security_rule:
        resp = _kibana_request(url, f"{prefix}/api/detection_engine/rules/_import?overwrite=true",
                               to_ndjson(security_rules()), "security-rule.ndjson", **common)  # type: ignore[arg-type]
        results.append(("security rule", KibanaImport(bool(resp.get("success")),
                                                      int(resp.get("success_count", 0)), _errors(resp))))
    return results


if __name__ == "__main__":  # pragma: no cover - maintenance entry point
    for p in write_files(Path(sys.argv[1] if len(sys.argv) > 1 else "mappings")):
        print(p)
