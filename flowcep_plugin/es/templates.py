"""Index templates, component templates and ILM policies, derived from the alert schema.

The alert mapping is computed from ``schemas/alert.schema.json`` (the same file alerts are
validated against), so a field added to the schema gets a mapping without anyone editing
JSON by hand; the flow mapping from :mod:`flowcep_plugin.ecs`. ``mappings/`` in the
repository holds the rendered files for people who install by hand (``python -m
flowcep_plugin.es.templates mappings``); a test fails when they drift from this module.

Data streams follow Elastic's ``{type}-{dataset}-{namespace}`` scheme and the templates
have priority 200, above the stack's built-in ``logs-*-*`` (100), so our mappings win for
``logs-flowcep.*`` while Elastic Security's "External Alerts" rule still finds the alerts in
``logs-*``.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from .. import ecs
from ..records import HEADER_COLUMNS

__all__ = [
    "TEMPLATE_VERSION",
    "TEMPLATE_PRIORITY",
    "alert_mapping",
    "flow_mapping",
    "component_templates",
    "index_templates",
    "ilm_policies",
    "iter_fields",
    "render",
    "write_files",
    "DATASETS",
]

#: Bumped whenever a rendered template changes; ``flowcep es setup`` skips equal versions.
TEMPLATE_VERSION = 2
TEMPLATE_PRIORITY = 200

#: dataset -> (component prefix, ILM policy name)
DATASETS: dict[str, tuple[str, str]] = {
    "flowcep.alert": ("flowcep-alert", "flowcep-alerts"),
    "flowcep.metric": ("flowcep-alert", "flowcep-alerts"),
    "flowcep.flow": ("flowcep-flow", "flowcep-flows"),
}

_META = {"managed_by": "flowcep", "description": "FlowCEP ECS documents (rendered from flowcep_plugin.es.templates)"}

#: Schema paths whose mapping is not the plain translation of their JSON type.
_ALERT_OVERRIDES: dict[str, dict[str, Any]] = {
    # ECS: message is match_only_text (searchable words, no scoring data).
    "message": {"type": "match_only_text"},
    # Counts are numbers named by each rule: new names get mapped as they come.
    "flowcep.counts": {"type": "object", "dynamic": True},
    # Free-form rows and statistics: one field each, so they never explode the mapping or
    # conflict between rules.
    "flowcep.fields": {"type": "flattened"},
    "flowcep.metrics": {"type": "flattened"},
    # ECS data stream fields.
    "data_stream.type": {"type": "constant_keyword"},
    "data_stream.dataset": {"type": "constant_keyword"},
    "data_stream.namespace": {"type": "constant_keyword"},
}


def _resolve(node: Mapping[str, Any], root: Mapping[str, Any]) -> Mapping[str, Any]:
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/"):
        target: Any = root
        for part in ref[2:].split("/"):
            target = target[part]
        merged = dict(target)
        merged.update({k: v for k, v in node.items() if k != "$ref"})
        return _resolve(merged, root)
    return node


def _is_ip(node: Mapping[str, Any], root: Mapping[str, Any]) -> bool:
    node = _resolve(node, root)
    if node.get("format") in ("ipv4", "ipv6"):
        return True
    for key in ("anyOf", "oneOf"):
        branches = node.get(key) or []
        if branches and all(_is_ip(b, root) for b in branches):
            return True
    if node.get("type") == "array" and isinstance(node.get("items"), Mapping):
        return _is_ip(node["items"], root)
    return False


def _leaf(node: Mapping[str, Any], root: Mapping[str, Any]) -> dict[str, Any]:
    node = _resolve(node, root)
    if _is_ip(node, root):
        return {"type": "ip"}
    for key in ("anyOf", "oneOf"):
        branches = node.get(key)
        if branches:
            return _leaf(branches[0], root)
    if node.get("type") == "array":
        items = node.get("items")
        return _leaf(items, root) if isinstance(items, Mapping) else {"type": "keyword"}
    if node.get("format") == "date-time":
        return {"type": "date"}
    values = node.get("enum") or ([node["const"]] if "const" in node else [])
    kind = node.get("type")
    if values and all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return {"type": "long"}
    if kind == "integer":
        return {"type": "long"}
    if kind == "number":
        return {"type": "float"}
    if kind == "boolean":
        return {"type": "boolean"}
    return {"type": "keyword", "ignore_above": 1024}


def _properties(node: Mapping[str, Any], root: Mapping[str, Any], prefix: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, child in sorted((node.get("properties") or {}).items()):
        path = f"{prefix}{name}"
        child = _resolve(child, root)
        if path in _ALERT_OVERRIDES:
            out[name] = dict(_ALERT_OVERRIDES[path])
        elif child.get("type") == "object" and child.get("properties"):
            out[name] = {"properties": _properties(child, root, path + ".")}
        elif child.get("type") == "object":
            out[name] = {"type": "object", "dynamic": True}
        else:
            out[name] = _leaf(child, root)
    return out


def alert_mapping(schema: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The ``mappings`` of alert/metric data streams, from the alert JSON Schema."""
    if schema is None:
        from ..alerts import alert_schema

        schema = alert_schema()
    props = _properties(schema, schema, "")
    # Every document FlowCEP writes says which ECS version it follows.
    props.setdefault("ecs", {"properties": {}}).setdefault("properties", {})["version"] = {
        "type": "keyword", "ignore_above": 1024}
    ds = props.setdefault("data_stream", {"properties": {}})
    for name in ("type", "dataset", "namespace"):
        ds.setdefault("properties", {})[name] = dict(_ALERT_OVERRIDES[f"data_stream.{name}"])
    # Unknown fields are kept in _source but not indexed: a detector bug must not make
    # every later alert fail on a mapping conflict.
    return {"dynamic": False, "date_detection": False, "properties": props}


#: Custom (non-ECS) fields of flow documents FlowCEP itself fills, all under ``flowcep.*``.
FLOW_CUSTOM_TYPES: dict[str, str] = {
    "flowcep.source.zone": "keyword",
    "flowcep.destination.zone": "keyword",
    "flowcep.category": "keyword",
}

#: ECS field sets a flow document never carries (alert-only), left out of the flow mapping.
_ALERT_ONLY = ("rule.", "message", "tags", "labels", "threat.framework", "threat.tactic.", "threat.technique.")


def _flow_types() -> dict[str, str]:
    """Field -> Elasticsearch type of every field a flow document can carry: the ECS fields
    (types from ECS's flat definitions), the netflow integration's ``netflow.*`` fields (types
    from its field list), FlowCEP's custom fields."""
    out = {name: str(d["type"]) for name, d in ecs.ecs_fields().items() if not name.startswith(_ALERT_ONLY)}
    out.update({name: kind for name, kind in ecs.netflow_fields().items()
                if name.startswith("netflow.") and kind != "ecs"})
    # Beats spells VRFname vrf_name (its one special case); the field list still says vr_fname.
    out["netflow.vrf_name"] = "keyword"
    out.update(FLOW_CUSTOM_TYPES)
    return out


#: Field -> type for flow documents (see :func:`_flow_types`).
FLOW_TYPES: dict[str, str] = _flow_types()


def flow_fields() -> set[str]:
    """Every field :mod:`flowcep_plugin.ecs` can put in a flow document from the IPFIX
    elements and columns it maps itself (enricher columns are checked by the tests)."""
    names = {"@timestamp", "event.ingested", "event.created", "event.duration", "network.type",
             "network.direction", "related.ip", "observer.ip", "netflow.exporter.address",
             "netflow.exporter.source_id"} | set(ecs.FLOW_CONSTANTS)
    # the decoders' message-header columns (netflow.exporter.version, .timestamp, .uptime_millis)
    names |= {field for column, field in ecs.CUSTOM_RENAMES.items() if column in HEADER_COLUMNS}
    names |= {field for field, _ in ecs.TIME_FIELDS.values()}
    for steps in ecs.FIELD_MAP.values():
        names |= {field for field, _ in steps}
    for side in ("source", "destination", "network", "client", "server"):
        names |= {f"{side}.bytes", f"{side}.packets"}
    for side in ("client", "server"):
        names |= {f"{side}.ip", f"{side}.port", f"{side}.mac"}
    return names


def _leaf_mapping(name: str, kind: str) -> dict[str, Any]:
    leaf: dict[str, Any] = {"type": kind}
    if kind == "keyword":
        leaf["ignore_above"] = 1024
    multi = ecs.ecs_fields().get(name, {}).get("multi") or {}
    if multi:
        leaf["fields"] = {sub: {"type": sub_type} for sub, sub_type in sorted(multi.items())}
    return leaf


def _netflow_dynamic_templates() -> list[dict[str, Any]]:
    """``netflow.*`` typed exactly as Elastic's netflow integration types them, mapped only when
    a document carries the field: one dynamic template per Elasticsearch type whose ``match``
    is a regex over the field names of that type.

    Mapping the integration's ~800 fields up front would pass Elasticsearch's default limit of
    1000 fields per index with ECS's own, and made the loopback stand-in 6x slower per bulk
    (10.5 s against 1.7 s for 1000 documents; 2.4 s this way), for fields an exporter rarely
    sends. Other ``netflow.*`` strings (elements newer than Elastic's list) become keywords.
    """
    by_type: dict[str, list[str]] = {}
    for name, kind in sorted(FLOW_TYPES.items()):
        leaf = name[len("netflow."):] if name.startswith("netflow.") else ""
        if leaf and "." not in leaf and leaf != "type":
            by_type.setdefault(kind, []).append(leaf)
    out: list[dict[str, Any]] = []
    for kind, names in sorted(by_type.items()):
        out.append({f"netflow_{kind}": {
            "path_match": "netflow.*",
            "match_pattern": "regex",
            "match": "^(" + "|".join(re.escape(n) for n in names) + ")$",
            "mapping": _leaf_mapping("", kind),
        }})
    out.append({"netflow_other_strings": {"path_match": "netflow.*", "match_mapping_type": "string",
                                          "mapping": _leaf_mapping("", "keyword")}})
    return out


def flow_mapping() -> dict[str, Any]:
    """The ``mappings`` of the flow data stream: ECS types, ``netflow.*`` as Elastic's netflow
    integration types them (dynamic templates, see :func:`_netflow_dynamic_templates`), and
    ``flowcep.ipfix`` (elements Elastic has no name for) as one ``flattened`` field, so vendor
    elements cannot conflict."""
    props: dict[str, Any] = {}
    for dotted, kind in sorted(FLOW_TYPES.items()):
        parts = dotted.split(".")
        if parts[0] == "netflow" and len(parts) == 2 and parts[1] != "type":
            continue  # typed by the dynamic templates
        node = props
        for part in parts[:-1]:
            child = node.setdefault(part, {"properties": {}})
            child.setdefault("properties", {})
            node = child["properties"]
        if kind == "nested":
            node.setdefault(parts[-1], {"properties": {}})["type"] = "nested"
            continue
        node[parts[-1]] = _leaf_mapping(dotted, kind)
    props.setdefault("flowcep", {"properties": {}})["properties"]["ipfix"] = {"type": "flattened"}
    return {"dynamic": True, "date_detection": False, "dynamic_templates": _netflow_dynamic_templates(),
            "properties": props}


def netflow_template_type(field: str) -> str | None:
    """The type the flow template gives a ``netflow.*`` field (explicit or dynamic)."""
    mapping = flow_mapping()
    leaf = field[len("netflow."):]
    for entry in mapping["dynamic_templates"]:
        (body,) = entry.values()
        pattern = body.get("match")
        if pattern and body.get("match_pattern") == "regex" and re.fullmatch(pattern, leaf):
            return str(body["mapping"]["type"])
    return dict(iter_fields(mapping)).get(field)


def ilm_policies() -> dict[str, dict[str, Any]]:
    """ILM: roll over daily or at 50 GB a shard; alerts kept a year, flows a month."""

    def policy(delete_after: str, max_age: str) -> dict[str, Any]:
        return {
            "policy": {
                "_meta": dict(_META),
                "phases": {
                    "hot": {"actions": {"rollover": {"max_age": max_age, "max_primary_shard_size": "50gb"}}},
                    "warm": {"min_age": "7d", "actions": {"forcemerge": {"max_num_segments": 1}}},
                    "delete": {"min_age": delete_after, "actions": {"delete": {}}},
                },
            }
        }

    return {"flowcep-alerts": policy("365d", "30d"), "flowcep-flows": policy("30d", "1d")}


def component_templates(schema: Mapping[str, Any] | None = None) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for prefix, policy, mapping in (
        ("flowcep-alert", "flowcep-alerts", alert_mapping(schema)),
        ("flowcep-flow", "flowcep-flows", flow_mapping()),
    ):
        out[f"{prefix}@mappings"] = {"template": {"mappings": mapping}, "version": TEMPLATE_VERSION,
                                     "_meta": dict(_META)}
        out[f"{prefix}@settings"] = {
            "template": {"settings": {"index": {"lifecycle": {"name": policy}, "codec": "best_compression"}}},
            "version": TEMPLATE_VERSION,
            "_meta": dict(_META),
        }
    return out


def index_templates() -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for dataset, (prefix, _policy) in DATASETS.items():
        out[f"logs-{dataset}"] = {
            "index_patterns": [f"logs-{dataset}-*"],
            "data_stream": {},
            "priority": TEMPLATE_PRIORITY,
            "composed_of": [f"{prefix}@settings", f"{prefix}@mappings"],
            "version": TEMPLATE_VERSION,
            "_meta": {**_META, "dataset": dataset},
        }
    return out


def render(schema: Mapping[str, Any] | None = None) -> dict[str, dict[str, Any]]:
    """Relative path under ``mappings/`` -> JSON body, for every file FlowCEP ships there."""
    files: dict[str, dict[str, Any]] = {}
    for name, body in ilm_policies().items():
        files[f"ilm/{name}.json"] = body
    for name, body in component_templates(schema).items():
        files[f"component_template/{name}.json"] = body
    for name, body in index_templates().items():
        files[f"index_template/{name}.json"] = body
    return files


def dumps(body: Any) -> str:
    return json.dumps(body, indent=2, sort_keys=True) + "\n"


def write_files(root: Path) -> list[Path]:
    written = []
    for rel, body in render().items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(dumps(body))
        written.append(path)
    return written


def iter_fields(mapping: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, str]]:
    """(dotted field name, type) for every leaf of a ``mappings`` object."""
    for name, node in (mapping.get("properties") or {}).items():
        path = f"{prefix}{name}"
        if "properties" in node:
            yield from iter_fields(node, path + ".")
        else:
            yield path, str(node.get("type", "object"))


if __name__ == "__main__":  # pragma: no cover - maintenance entry point
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "mappings")
    for p in write_files(target):
        print(p)
