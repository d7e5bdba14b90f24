"""IPFIX element names -> ECS field names: the one place flow documents get their shape.

Records and EPL speak IPFIX (``sourceIPv4Address``); documents in Elasticsearch speak ECS
(``source.ip``) so that Kibana, Elastic Security and the stack's own dashboards understand
them. Every consumer that turns a flow into a document (the Elasticsearch output, ``flowcep
dump --ecs``) goes through :func:`batch_to_documents` / :func:`batch_to_json`, so the mapping
cannot drift between outputs.

Flow documents are many (DESIGN.md measured one dict per record at ~0.5M/s and ``json.dumps``
at ~0.2M/s), so the serialiser is planned once per batch shape: a list of
``(column, ecs name, converter)`` steps, then one flat dict per record with dotted keys
(Elasticsearch expands ``"source.ip"`` into objects itself) and ``orjson`` for the bytes.
Dates are sent as epoch milliseconds, which the default ``date`` format accepts, so no
per-record string formatting happens on the hot path.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from itertools import repeat
from typing import Any

import orjson

from .records import FlowBatch

__all__ = [
    "ECS_VERSION",
    "FIELD_MAP",
    "IANA_TRANSPORT",
    "TIME_FIELDS",
    "batch_to_documents",
    "batch_to_json",
    "ecs_name",
    "nest",
    "flatten",
    "transport_name",
]

ECS_VERSION = "8.11.0"

#: IANA protocol numbers -> ECS ``network.transport`` names (lowercase, as ECS asks).
IANA_TRANSPORT: dict[int, str] = {
    1: "icmp",
    2: "igmp",
    6: "tcp",
    17: "udp",
    41: "ipv6",
    47: "gre",
    50: "esp",
    51: "ah",
    58: "ipv6-icmp",
    89: "ospf",
    103: "pim",
    112: "vrrp",
    132: "sctp",
}

Converter = Callable[[Any], Any]


def transport_name(number: int | None) -> str | None:
    """ECS ``network.transport`` for an IANA protocol number (the number as text if unnamed)."""
    if number is None:
        return None
    return IANA_TRANSPORT.get(number, str(number))


def _mac(value: Any) -> Any:
    # ECS wants MACs as uppercase, dash-separated octets.
    if isinstance(value, str):
        return value.replace(":", "-").upper()
    if isinstance(value, bytes | bytearray):
        return "-".join(f"{b:02X}" for b in value)
    return value


def _text(value: Any) -> Any:
    return str(value)


def _hex(value: Any) -> Any:
    return value.hex() if isinstance(value, bytes | bytearray) else value


#: Time elements -> (ECS field, factor to epoch milliseconds). The flow's end is also
#: ``@timestamp`` (event time, DESIGN.md "Time").
TIME_FIELDS: dict[str, tuple[str, float]] = {
    "flowStartMilliseconds": ("event.start", 1),
    "flowStartSeconds": ("event.start", 1000),
    "flowStartMicroseconds": ("event.start", 0.001),
    "flowStartNanoseconds": ("event.start", 0.000001),
    "flowEndMilliseconds": ("event.end", 1),
    "flowEndSeconds": ("event.end", 1000),
    "flowEndMicroseconds": ("event.end", 0.001),
    "flowEndNanoseconds": ("event.end", 0.000001),
}

#: IPFIX element -> ECS fields it fills (and an optional converter). Elements not listed
#: here land under ``ipfix.<name>`` (the prefix EPL written for ipfixcol's JSON uses).
FIELD_MAP: dict[str, tuple[tuple[str, Converter | None], ...]] = {
    "sourceIPv4Address": (("source.ip", None),),
    "sourceIPv6Address": (("source.ip", None),),
    "destinationIPv4Address": (("destination.ip", None),),
    "destinationIPv6Address": (("destination.ip", None),),
    "sourceTransportPort": (("source.port", None),),
    "destinationTransportPort": (("destination.port", None),),
    "protocolIdentifier": (("network.iana_number", _text), ("network.transport", transport_name)),
    "octetDeltaCount": (("network.bytes", None), ("source.bytes", None)),
    "packetDeltaCount": (("network.packets", None), ("source.packets", None)),
    "octetTotalCount": (("network.bytes", None), ("source.bytes", None)),
    "packetTotalCount": (("network.packets", None), ("source.packets", None)),
    "reverseOctetDeltaCount": (("destination.bytes", None),),
    "reversePacketDeltaCount": (("destination.packets", None),),
    "sourceMacAddress": (("source.mac", _mac),),
    "destinationMacAddress": (("destination.mac", _mac),),
    "bgpSourceAsNumber": (("source.as.number", None),),
    "bgpDestinationAsNumber": (("destination.as.number", None),),
    "ingressInterface": (("observer.ingress.interface.id", _text),),
    "egressInterface": (("observer.egress.interface.id", _text),),
    "vlanId": (("network.vlan.id", _text),),
    "tcpControlBits": (("flowcep.tcp_flags", None),),
    "ipClassOfService": (("flowcep.ip_class_of_service", None),),
    "flowEndReason": (("flowcep.flow_end_reason", None),),
    "icmpTypeCodeIPv4": (("flowcep.icmp_type_code", None),),
    "icmpTypeCodeIPv6": (("flowcep.icmp_type_code", None),),
    "HTTPRequestURL": (("url.original", None),),
    "HTTPRequestHost": (("url.domain", None),),
    "httpRequestMethod": (("http.request.method", None),),
    "httpStatusCode": (("http.response.status_code", None),),
    "httpUserAgent": (("user_agent.original", None),),
    "dnsQName": (("dns.question.name", None),),
    "applicationName": (("network.application", None),),
}

#: Constant fields of every flow document (``event.dataset`` matches the data stream).
FLOW_CONSTANTS: dict[str, Any] = {
    "ecs.version": ECS_VERSION,
    "event.kind": "event",
    "event.category": ["network"],
    "event.type": ["connection"],
    "event.dataset": "flowcep.flow",
    "event.module": "flowcep",
}


def ecs_name(element: str) -> str:
    """The (first) ECS field an IPFIX element maps to; ``ipfix.<name>`` when unmapped.

    Columns whose name already contains a dot were added by an enricher in ECS terms
    (``source.geo.country_iso_code``) and pass through unchanged.
    """
    if element in TIME_FIELDS:
        return TIME_FIELDS[element][0]
    steps = FIELD_MAP.get(element)
    if steps:
        return steps[0][0]
    return element if "." in element else f"ipfix.{element}"


def _plan(names: Iterable[str]) -> list[tuple[list[str], str, Converter | None, float]]:
    """Steps for one batch shape: (elements, ECS field, converter, factor to ms).

    Several elements can fill one field (IPv4 and IPv6 addresses in a concatenated batch,
    delta and total counters); the first non-null one wins per record, deltas before totals.
    """
    by_field: dict[str, tuple[list[str], Converter | None, float]] = {}
    for element in sorted(names, key=lambda n: "Total" in n):
        if element in TIME_FIELDS:
            field, factor = TIME_FIELDS[element]
            by_field.setdefault(field, ([], None, factor))[0].append(element)
            continue
        steps = FIELD_MAP.get(element)
        if steps is None:
            target = element if "." in element else f"ipfix.{element}"
            by_field.setdefault(target, ([], _hex if target.startswith("ipfix.") else None, 1))[0].append(element)
            continue
        for field, conv in steps:
            by_field.setdefault(field, ([], conv, 1))[0].append(element)
    return [(elements, field, conv, factor) for field, (elements, conv, factor) in by_field.items()]


def _column(batch: FlowBatch, elements: list[str], factor: float) -> list[Any]:
    """One column per field; time elements of other units are scaled per element."""
    cols = []
    for element in elements:
        col = batch.columns[element]
        f = TIME_FIELDS[element][1] if element in TIME_FIELDS else 1
        if f != 1:
            col = [None if v is None else int(v * f) for v in col]
        cols.append(col)
    if len(cols) == 1:
        return cols[0]
    out = list(cols[0])
    for col in cols[1:]:
        for i, v in enumerate(out):
            if v is None:
                out[i] = col[i]
    return out


def _ecs_columns(batch: FlowBatch, extra: Mapping[str, Any] | None) -> tuple[list[str], list[list[Any]], dict[str, Any]]:
    """ECS field names, their value columns (``@timestamp`` last) and the constant fields that
    every document of ``batch`` carries: the part both serialisers share."""
    keys: list[str] = []
    cols: list[list[Any]] = []
    for elements, field, conv, factor in _plan(batch.columns):
        col = _column(batch, elements, factor)
        if conv is not None:
            col = _convert(col, conv)
        keys.append(field)
        cols.append(col)
    # @timestamp is the event time: the flow's end, else its start.
    stamps: list[Any] = [t if t >= 0 else None for t in batch.event_times()]
    if None in stamps and "event.start" in keys:
        start = cols[keys.index("event.start")]
        stamps = [s if s is not None else start[i] for i, s in enumerate(stamps)]
    keys.append("@timestamp")
    cols.append(stamps)
    base = dict(FLOW_CONSTANTS)
    if extra:
        base.update(extra)
    return keys, cols, base


def batch_to_documents(batch: FlowBatch, extra: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
    """One flat ECS document (dotted keys) per record of ``batch``.

    ``extra`` fields (``data_stream.*``, ``observer.*``) are copied into every document.
    Absent elements (None) are left out rather than sent as nulls.
    """
    n = batch.length
    if n == 0:
        return []
    keys, cols, base = _ecs_columns(batch, extra)
    # Fast path: records with every column present become dict(zip(...)) in C; only records
    # with an absent element (None) take the per-field loop that leaves it out.
    all_keys = list(base) + keys
    all_cols = [repeat(v, n) for v in base.values()] + cols
    holes: set[int] = set()
    for col in cols:
        if None in col:
            holes.update(i for i, v in enumerate(col) if v is None)
    if not holes:
        return [dict(zip(all_keys, values)) for values in zip(*all_cols)]  # noqa: B905 - equal by construction
    return [
        dict(zip(all_keys, values)) if i not in holes  # noqa: B905
        else {k: v for k, v in zip(all_keys, values) if v is not None}  # noqa: B905
        for i, values in enumerate(zip(*all_cols))  # noqa: B905
    ]


def _json_default(obj: Any) -> Any:
    """What orjson cannot encode itself: octets as hex (as ``ipfix.*`` columns), the rest as text."""
    if isinstance(obj, bytes | bytearray | memoryview):
        return bytes(obj).hex()
    if isinstance(obj, set | frozenset | tuple):
        return list(obj)
    return str(obj)


def _dumps(value: Any) -> bytes:
    return orjson.dumps(value, default=_json_default)


def _pieces(key: str, col: list[Any], n: int) -> list[Any] | None:
    """Columns of byte pieces that, joined per record, give ``,"key":<json value>`` for a
    column without None: one orjson call for the whole column, split into values. None when
    the column's types do not allow the split (the caller then encodes per value).

    Splitting is safe because orjson escapes every quote inside a string: between two
    encoded strings the bytes ``","`` can only be a boundary, and numbers contain no comma.
    """
    prefix = b"," + orjson.dumps(key) + b":"
    types = set(map(type, col))
    if types <= {int, float, bool}:
        parts = orjson.dumps(col)[1:-1].split(b",")
        return [repeat(prefix, n), parts] if len(parts) == n else None
    if types == {str}:
        parts = orjson.dumps(col)[2:-2].split(b'","')
        return [repeat(prefix + b'"', n), parts, repeat(b'"', n)] if len(parts) == n else None
    return None


def _convert(col: list[Any], conv: Converter) -> list[Any]:
    """Apply a converter once per distinct value (protocols, interfaces, MACs repeat)."""
    try:
        table = {v: conv(v) for v in set(col) if v is not None}
    except TypeError:  # unhashable values
        return [None if v is None else conv(v) for v in col]
    return list(map(table.get, col))


def batch_to_json(batch: FlowBatch, extra: Mapping[str, Any] | None = None) -> list[bytes]:
    """:func:`batch_to_documents` serialised as JSON, one ``bytes`` per record.

    orjson costs about a microsecond per call whatever the size, more than the encoding
    itself for a small document, so columns are encoded one call each and the records put
    together from the pieces with ``bytes.join`` (C speed); records with an absent element
    and columns of mixed or nested types go through a dict and orjson per record.
    """
    n = batch.length
    if n == 0:
        return []
    docs: list[dict[str, Any]] | None = None
    keys, cols, base = _ecs_columns(batch, extra)
    pieces: list[Any] = [repeat(orjson.dumps(base)[:-1], n)]  # b'{"ecs.version":..' without '}'
    holes: set[int] = set()
    for key, col in zip(keys, cols, strict=True):
        if None in col:
            holes.update(i for i, v in enumerate(col) if v is None)
            prefix = b"," + orjson.dumps(key) + b":"
            pieces.append([b"" if v is None else prefix + _dumps(v) for v in col])
            continue
        got = _pieces(key, col, n)
        if got is None:
            prefix = b"," + orjson.dumps(key) + b":"
            got = [[prefix + _dumps(v) for v in col]]
        pieces.extend(got)
    pieces.append(repeat(b"}", n))
    out = list(map(b"".join, zip(*pieces)))  # noqa: B905 - equal length by construction
    if holes:
        docs = batch_to_documents(batch, extra)
        for i in holes:
            out[i] = _dumps(docs[i])
    return out


def nest(flat: Mapping[str, Any]) -> dict[str, Any]:
    """Dotted keys -> nested objects (``{"source.ip": x}`` -> ``{"source": {"ip": x}}``)."""
    out: dict[str, Any] = {}
    for key, value in flat.items():
        node = out
        parts = key.split(".")
        for part in parts[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                child = node[part] = {}
            node = child
        node[parts[-1]] = value
    return out


def flatten(doc: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested objects -> dotted keys; lists are kept as values."""
    out: dict[str, Any] = {}
    for key, value in doc.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flatten(value, name + "."))
        else:
            out[name] = value
    return out
