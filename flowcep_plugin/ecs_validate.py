"""Checks a document against ECS's flat definitions (``data/ecs_fields.txt``) and Elastic's
netflow integration field list (``data/netflow_fields.txt``): the yardstick FlowCEP's ECS tests
use, and one a plugin author can run on the documents a detector makes.

A field is acceptable when it is custom and namespaced (``flowcep.*``), belongs to the netflow
integration (``netflow.*`` with a value of Elastic's type), or is an ECS field whose value has
ECS's type and, where ECS lists them, one of its allowed values. Anything else is an error.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from . import ecs

__all__ = ["errors", "value_fits"]

CUSTOM_NAMESPACES = ("flowcep.",)
INTEGRATION_NAMESPACES = ("netflow.",)

_INT_RANGES = {
    "short": (-(2**15), 2**15 - 1),
    "integer": (-(2**31), 2**31 - 1),
    "long": (-(2**63), 2**63 - 1),
}


def _values(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else [value]


def value_fits(kind: str, value: Any) -> bool:
    """Would Elasticsearch index ``value`` in a field of type ``kind`` with the meaning ECS
    gives it (dates as epoch milliseconds or ISO 8601, addresses parseable, ...)?"""
    if kind in ("object", "nested", "flattened"):
        return isinstance(value, Mapping | list)
    for v in _values(value):
        if v is None:
            continue
        if kind in ("keyword", "constant_keyword", "wildcard", "match_only_text", "text"):
            ok = isinstance(v, str)
        elif kind in _INT_RANGES:
            lo, hi = _INT_RANGES[kind]
            ok = isinstance(v, int) and not isinstance(v, bool) and lo <= v <= hi
        elif kind in ("float", "double", "scaled_float"):
            ok = isinstance(v, int | float) and not isinstance(v, bool)
        elif kind == "boolean":
            ok = isinstance(v, bool)
        elif kind == "ip":
            try:
                ipaddress.ip_address(v)
                ok = isinstance(v, str)
            except ValueError:
                ok = False
        elif kind == "date":
            if isinstance(v, int) and not isinstance(v, bool):
                ok = 0 <= v < 2**53  # epoch milliseconds, the default format's epoch_millis
            elif isinstance(v, str):
                try:
                    datetime.fromisoformat(v.replace("Z", "+00:00"))
                    ok = True
                except ValueError:
                    ok = False
            else:
                ok = False
        elif kind == "geo_point":
            ok = (isinstance(v, Mapping) and {"lat", "lon"} <= set(v)) or isinstance(v, str)
        else:
            raise AssertionError(f"no check for type {kind}")
        if not ok:
            return False
    return True


def errors(doc: Mapping[str, Any], require_version: bool = True) -> list[str]:
    """Every way ``doc`` (flat or nested) departs from ECS, one line each; [] when it fits."""
    flat = ecs.flatten(doc) if any(isinstance(v, Mapping) for v in doc.values()) else dict(doc)
    defs = ecs.ecs_fields()
    netflow = ecs.netflow_fields()
    out: list[str] = []
    if require_version and flat.get("ecs.version") != ecs.ECS_VERSION:
        out.append(f"ecs.version is {flat.get('ecs.version')!r}, expected {ecs.ECS_VERSION}")
    for name, value in flat.items():
        if name.startswith(CUSTOM_NAMESPACES):
            continue
        if name.startswith(INTEGRATION_NAMESPACES):
            kind = netflow.get(name)
            if kind is not None and kind != "ecs" and not value_fits(kind, value):
                out.append(f"{name}: {value!r} does not fit Elastic's netflow type {kind}")
            continue
        d = defs.get(name)
        if d is None:
            # nested objects ECS maps as object (threat.enrichments) flatten to their leaves
            parent = next((p for p in defs if name.startswith(p + ".") and defs[p]["type"] in ("object", "nested")), None)
            if parent is None:
                out.append(f"{name}: not an ECS field and not namespaced under flowcep.*")
            continue
        if not value_fits(str(d["type"]), value):
            out.append(f"{name}: {value!r} is not a valid ECS {d['type']}")
        allowed = d["allowed"]
        if allowed and any(v not in allowed for v in _values(value)):
            out.append(f"{name}: {value!r} not among ECS's allowed values {sorted(allowed)}")
    return out
