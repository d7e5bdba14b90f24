"""IPFIX element names -> ECS flow documents: the one place flow documents get their shape.

Records and EPL speak IPFIX (``sourceIPv4Address``); documents speak ECS (``source.ip``) plus
the ``netflow.*`` names of Elastic's netflow integration (``netflow.source_ipv4_address``), so
that Kibana, Elastic Security and the integration's own dashboards and rules understand them.
Every flow output (Elasticsearch, ``jsonl``, ``stdout:json``) calls :func:`batch_to_json`, so
the document cannot differ between outputs; :func:`batch_to_documents` is the same document as
dicts (tests, tools). docs/ecs.md has the field table beside Elastic's, with each difference.

What a document holds, and why:

* ``netflow.<snake_name>`` for every IANA and RFC 5103 reverse element, named as Beats' netflow
  input names them (Elastic's field list is ``data/netflow_fields.txt``), typed as that list
  types them (dates as epoch milliseconds, MACs in ECS form, octet arrays as byte lists where
  Elastic maps a number); the enterprise elements Beats also names (CERT/YAF) likewise, where
  Elastic's type fits them. Other enterprise and unknown elements go to
  ``flowcep.ipfix.<name>``, one ``flattened`` field, so vendor elements never conflict.
* ECS fields filled the way the Beats converter fills them: ``network.bytes`` and
  ``network.packets`` are the *sum* of both directions of a biflow (``source.*`` forward,
  ``destination.*`` reverse), ``event.duration`` in nanoseconds, ``related.ip``,
  ``network.type`` and ``network.direction`` as the integration's ingest pipeline sets them,
  ``event.action: netflow_flow``, ``observer.ip`` (the exporter),
  ``client.*``/``server.*`` and source/destination swapped to the initiator on RFC 5103
  biflows whose ``biflowDirection`` says the record is reversed.
* Enricher columns already named in ECS pass through; custom ones (zones) land under
  ``flowcep.*`` (``source.zone`` -> ``flowcep.source.zone``), never inside an ECS field set.
* The decoders' message-header columns go where Beats puts the header:
  ``netflow.exporter.version``, ``.timestamp`` (epoch ms) and, for NetFlow, ``.uptime_millis``.
  ``@timestamp`` is that export time too, as the integration's; a flow built from packets
  (no export message) is stamped with its end.

Flow documents are many (DESIGN.md measured one dict per record at ~0.5M/s and ``json.dumps``
at ~0.2M/s), so the serialiser is planned once per batch shape and encodes whole columns with
one orjson call each, then joins the pieces per record with ``bytes.join``. Documents are flat
(dotted keys, which Elasticsearch expands into objects itself); dates are epoch milliseconds,
which the default ``date`` format accepts, so no per-record string formatting happens.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import operator
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from functools import cache, lru_cache
from importlib import resources
from itertools import repeat
from typing import Any

import orjson

from .elements import REVERSE_PEN, builtin_elements
from .records import EXPORT_TIME, EXPORT_VERSION, FLOW_STREAM, SYS_UPTIME, FlowBatch

__all__ = [
    "ECS_VERSION",
    "FIELD_MAP",
    "IANA_TRANSPORT",
    "TIME_FIELDS",
    "CUSTOM_RENAMES",
    "OPTIONS_CONSTANTS",
    "batch_to_documents",
    "options_documents",
    "batch_to_json",
    "ecs_fields",
    "ecs_name",
    "flatten",
    "nest",
    "netflow_fields",
    "netflow_name",
    "snake_case",
    "flow_id",
    "transport_name",
]

ECS_VERSION = "8.11.0"

#: IANA protocol numbers -> ECS ``network.transport`` names (lowercase IANA keywords, as ECS
#: asks; Beats names only the first four and writes ``unknown (N)`` for the rest).
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
    # ECS wants MACs as uppercase, dash-separated octets (Beats writes them the same way).
    if isinstance(value, str):
        return value.replace(":", "-").upper()
    if isinstance(value, bytes | bytearray):
        return "-".join(f"{b:02X}" for b in value)
    return value


def _text(value: Any) -> Any:
    return str(value)


def _hex(value: Any) -> Any:
    return value.hex() if isinstance(value, bytes | bytearray) else value


def _byte_list(value: Any) -> Any:
    # Beats writes an octet array as a list of numbers (netflow.application_id: [3, 0, 0, 80]).
    return list(value) if isinstance(value, bytes | bytearray) else value


#: Time elements -> (ECS field, factor to epoch milliseconds). The flow's end is also
#: ``@timestamp`` when the record came in no export message (the pcap meter's flows).
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

#: dateTime element types -> factor to epoch milliseconds (for ``netflow.*`` date fields).
_DATE_FACTORS: dict[str, float] = {
    "dateTimeSeconds": 1000,
    "dateTimeMilliseconds": 1,
    "dateTimeMicroseconds": 0.001,
    "dateTimeNanoseconds": 0.000001,
}

#: IPFIX element -> ECS fields it fills (and an optional converter). Counters are not here:
#: :func:`_counters` sums both directions as ECS and Beats do.
FIELD_MAP: dict[str, tuple[tuple[str, Converter | None], ...]] = {
    "sourceIPv4Address": (("source.ip", None),),
    "sourceIPv6Address": (("source.ip", None),),
    "destinationIPv4Address": (("destination.ip", None),),
    "destinationIPv6Address": (("destination.ip", None),),
    "sourceTransportPort": (("source.port", None),),
    "destinationTransportPort": (("destination.port", None),),
    "protocolIdentifier": (("network.iana_number", _text), ("network.transport", transport_name)),
    "sourceMacAddress": (("source.mac", _mac),),
    "destinationMacAddress": (("destination.mac", _mac),),
    "bgpSourceAsNumber": (("source.as.number", None),),
    "bgpDestinationAsNumber": (("destination.as.number", None),),
    "ingressInterface": (("observer.ingress.interface.id", _text),),
    "egressInterface": (("observer.egress.interface.id", _text),),
    "vlanId": (("network.vlan.id", _text),),
    "wlanSSID": (("network.name", None),),
    "HTTPRequestURL": (("url.original", None),),
    "HTTPRequestHost": (("url.domain", None),),
    "HTTPRequestReferer": (("http.request.referrer", None),),
    "HTTPRequestUserAgent": (("user_agent.original", None),),
    "HTTPResponseStatusCode": (("http.response.status_code", None),),
    "HTTPResponseContentType": (("http.response.mime_type", None),),
    "httpRequestMethod": (("http.request.method", None),),
    "httpStatusCode": (("http.response.status_code", None),),
    "httpUserAgent": (("user_agent.original", None),),
    "dnsQName": (("dns.question.name", None),),
    "applicationName": (("network.application", None),),
}

#: Forward and reverse counters, in Beats' order of preference (delta, total, initiator).
_FORWARD_BYTES = ("octetDeltaCount", "octetTotalCount", "initiatorOctets")
_FORWARD_PACKETS = ("packetDeltaCount", "packetTotalCount", "initiatorPackets")
_REVERSE_BYTES = ("reverseOctetDeltaCount", "reverseOctetTotalCount", "responderOctets")
_REVERSE_PACKETS = ("reversePacketDeltaCount", "reversePacketTotalCount", "responderPackets")

#: Enricher columns whose names sit inside ECS field sets without being ECS fields: custom
#: fields belong under ``flowcep.*``.
CUSTOM_RENAMES: dict[str, str] = {
    "source.zone": "flowcep.source.zone",
    "destination.zone": "flowcep.destination.zone",
    # the decoders' message-header columns, where Beats puts the header
    EXPORT_VERSION: "netflow.exporter.version",
    EXPORT_TIME: "netflow.exporter.timestamp",
    SYS_UPTIME: "netflow.exporter.uptime_millis",
}

#: FlowCEP's names for IANA elements that the IANA registry (and so Beats) names otherwise.
IANA_NAMES: dict[str, str] = {"HTTPRequestHost": "httpRequestHost", "HTTPRequestURL": "httpRequestTarget"}

#: Constant fields of every flow document (``event.dataset`` matches the data stream).
FLOW_CONSTANTS: dict[str, Any] = {
    "ecs.version": ECS_VERSION,
    "event.kind": "event",
    "event.category": ["network"],
    "event.type": ["connection"],
    "event.action": "netflow_flow",
    "event.dataset": "flowcep.flow",
    "event.module": "flowcep",
    "netflow.type": "netflow_flow",
}

#: Constant fields of every options-record document (exporter statistics, sampler and
#: interface tables): measurements about the exporter, so ``event.kind: metric``; Beats
#: calls these records ``netflow_options``.
OPTIONS_CONSTANTS: dict[str, Any] = {
    "ecs.version": ECS_VERSION,
    "event.kind": "metric",
    "event.category": ["network"],
    "event.type": ["info"],
    "event.action": "netflow_options",
    "event.dataset": "flowcep.options",
    "event.module": "flowcep",
    "netflow.type": "netflow_options",
}
#: Columns the decoder adds to options records that are not fields of their own.
_OPTIONS_META = ("exportTime", "flowcep.exporter")

#: ``network.direction`` from IPFIX ``flowDirection`` (0 ingress, 1 egress at the observation
#: point), in the words Beats' converter writes (``inbound``/``outbound``): the integration's
#: documents keep them when no perimeter direction can be computed (an address is missing),
#: and ECS asks network-based monitoring for exactly these words.
_FLOW_DIRECTION = {0: "inbound", 1: "outbound"}
_DIRECTION_SWAP = {"inbound": "outbound", "outbound": "inbound"}
#: ``network.type`` of a record carrying both IPv4 and IPv6 address elements, as the
#: integration's ingest pipeline writes it; one shared list, encoded once per batch.
_BOTH_TYPES = ["ipv4", "ipv6"]


def snake_case(name: str) -> str:
    """An IPFIX camel-case name as Beats' netflow input spells it under ``netflow.*``.

    Beats' rule (x-pack/filebeat/input/netflow/case.go, described, not copied): names with an
    underscore are only lowercased; an underscore goes before an uppercase letter that follows
    a lowercase letter or digit; in a run of three or more capitals the last one starts the
    next word (``postNATSourceIPv4Address`` -> ``post_nat_source_ipv4_address``); a run of two
    stays one word (``IPv4`` -> ``ipv4``). ``VRFname`` is Beats' one special case.
    """
    if name == "VRFname":
        return "vrf_name"
    if "_" in name:
        return name.lower()
    out: list[str] = []
    upper_run = 1  # no underscore before a leading capital
    for ch in name:
        low = ch.lower()
        if low != ch:
            if upper_run == 0:
                out.append("_")
            upper_run += 1
        else:
            if upper_run > 2:
                out.insert(len(out) - 1, "_")
            upper_run = 0
        out.append(low)
    return "".join(out)


@cache
def _element_types() -> dict[str, tuple[int, str]]:
    """Element name -> (PEN, IPFIX abstract type) of FlowCEP's builtin elements."""
    out: dict[str, tuple[int, str]] = {}
    for spec in builtin_elements():
        out.setdefault(spec.name, (spec.pen, spec.type))
    return out


def netflow_name(element: str) -> str | None:
    """``netflow.<name>`` Beats gives an element: every IANA and reverse (PEN 29305) element,
    and the enterprise elements Beats also knows (:func:`_vendor_names`); None for the rest
    (other enterprise elements, unknown ones, enricher columns)."""
    name = _iana_netflow_name(element)
    return name if name is not None else _vendor_names().get(element)


#: Elasticsearch types an enterprise element's values fit, by IPFIX abstract type (integers by
#: width: a ``short`` field refuses an unsigned16 above 32767, and one refused value would cost
#: the whole document).
_VENDOR_FITS: dict[str, frozenset[str]] = {
    **dict.fromkeys(("unsigned8", "signed8", "signed16"), frozenset({"short", "integer", "long"})),
    **dict.fromkeys(("unsigned16", "signed32"), frozenset({"integer", "long"})),
    **dict.fromkeys(("unsigned32", "unsigned64", "signed64"), frozenset({"long"})),
    **dict.fromkeys(("float32", "float64"), frozenset({"double"})),
    **dict.fromkeys(("ipv4Address", "ipv6Address"), frozenset({"ip"})),
    **dict.fromkeys(("dateTimeSeconds", "dateTimeMilliseconds", "dateTimeMicroseconds",
                     "dateTimeNanoseconds"), frozenset({"date"})),
    "string": frozenset({"keyword"}),
    "macAddress": frozenset({"keyword"}),
    "octetArray": frozenset({"keyword", "short", "integer", "long"}),
    "boolean": frozenset({"boolean"}),
}


@cache
def _vendor_names() -> dict[str, str]:
    """Enterprise elements Beats names under ``netflow.*`` (its vendor tables: CERT/YAF, Cisco,
    ...): element -> field, where Beats' naming rule turns the element's name into a field of
    Elastic's list whose type the element's values fit. The first element of a name wins, as in
    the ``json:`` reader's inverse, and an IANA element's field is never reused, so each field
    reads back as the element it was written from."""
    types = _element_types()
    taken = {f for f in map(_iana_netflow_name, types) if f is not None}
    first: dict[str, str] = {}
    for spec in builtin_elements():
        if spec.pen not in (0, REVERSE_PEN):
            first.setdefault("netflow." + snake_case(spec.name), spec.name)
    elastic = netflow_fields()
    out = {element: field for field, element in first.items()
           if field not in taken and elastic.get(field) in _VENDOR_FITS.get(types[element][1], ())}
    for element, field in _BEATS_UNLISTED.items():
        if first.get(field) == element:
            out[element] = field
    return out


#: Enterprise elements Beats' converter names (its vendor tables; seen in its golden
#: documents) that the integration's field list leaves to dynamic mapping.
_BEATS_UNLISTED = {
    "silkAppLabel": "netflow.silk_app_label",  # CERT PEN 6871 id 33 (cert_pen6871.csv)
}


def _iana_netflow_name(element: str) -> str | None:
    known = _element_types().get(element)
    if known is None or known[0] not in (0, REVERSE_PEN):
        return None
    if known[0] == REVERSE_PEN:
        base = element[len("reverse"):]
        base = IANA_NAMES.get(base, base)
        return "netflow." + snake_case("reverse" + base[:1].upper() + base[1:])
    return "netflow." + snake_case(IANA_NAMES.get(element, element))


def _read_data(name: str) -> list[str]:
    text = resources.files("flowcep_plugin").joinpath("data", name).read_text(encoding="utf-8")
    return [line for line in text.splitlines() if line.strip() and not line.startswith("#")]


@cache
def netflow_fields() -> dict[str, str]:
    """Elastic's netflow integration fields (``data/netflow_fields.txt``): name -> type, with
    the ECS fields it declares under type ``ecs``."""
    out: dict[str, str] = {}
    section = ""
    for line in _read_data("netflow_fields.txt"):
        if line.startswith("["):
            section = line.strip("[]")
            continue
        parts = line.split()
        out[parts[0]] = parts[1] if section == "package" else "ecs"
    return out


@cache
def ecs_fields() -> dict[str, dict[str, Any]]:
    """ECS flat definitions FlowCEP relies on (``data/ecs_fields.txt``): name -> {type,
    allowed, multi}."""
    out: dict[str, dict[str, Any]] = {}
    for line in _read_data("ecs_fields.txt"):
        name, kind, *rest = line.split()
        entry: dict[str, Any] = {"type": kind, "allowed": None, "multi": {}}
        for item in rest:
            key, _, value = item.partition("=")
            if key == "allowed":
                entry["allowed"] = frozenset(value.split(","))
            elif key == "multi":
                sub, _, sub_type = value.partition(":")
                entry["multi"][sub] = sub_type
        out[name] = entry
    return out


def ecs_name(element: str) -> str:
    """The (first) document field an IPFIX element or enricher column fills.

    ECS name where ECS has one, else ``netflow.*`` (IANA and reverse elements), else
    ``flowcep.ipfix.<name>``; enricher columns (dotted) keep their ECS name or move under
    ``flowcep.*``.
    """
    if element in TIME_FIELDS:
        return TIME_FIELDS[element][0]
    steps = FIELD_MAP.get(element)
    if steps:
        return steps[0][0]
    if element in _FORWARD_BYTES:
        return "network.bytes"
    if element in _FORWARD_PACKETS:
        return "network.packets"
    if "." in element:
        return _column_field(element)
    return netflow_name(element) or f"flowcep.ipfix.{element}"


def _column_field(column: str) -> str:
    """Where an enricher's (dotted) column lands: ECS fields as they are, custom ones under
    ``flowcep.*``."""
    if column in CUSTOM_RENAMES:
        return CUSTOM_RENAMES[column]
    if column.startswith("flowcep.") or column in ecs_fields():
        return column
    return "flowcep." + column


def _netflow_converter(element: str, field: str) -> tuple[Converter | None, float]:
    """Converter and time factor of a ``netflow.*`` copy, so the value fits Elastic's type."""
    pen_type = _element_types().get(element)
    ipfix_type = pen_type[1] if pen_type else ""
    elastic = netflow_fields().get(field, "")
    if ipfix_type in _DATE_FACTORS and elastic == "date":
        return None, _DATE_FACTORS[ipfix_type]
    if ipfix_type == "macAddress":
        return _mac, 1
    if ipfix_type == "octetArray":
        return (_byte_list if elastic in ("short", "integer", "long") else _hex), 1
    return None, 1


Plan = list[tuple[list[str], str, Converter | None, float]]


@lru_cache(maxsize=256)  # batch shapes repeat: one entry per exporter template
def _plan(names: tuple[str, ...]) -> Plan:
    """Steps for one batch shape: (columns, field, converter, factor to ms).

    Several columns can fill one field (IPv4 and IPv6 addresses in a concatenated batch); the
    first non-null one wins per record. Counters and derived fields are not planned here.
    """
    by_field: dict[str, tuple[list[str], Converter | None, float]] = {}
    for element in names:
        if "." in element:
            by_field.setdefault(_column_field(element), ([], None, 1))[0].append(element)
            continue
        if element in TIME_FIELDS:
            field, factor = TIME_FIELDS[element]
            by_field.setdefault(field, ([], None, factor))[0].append(element)
        for field, conv in FIELD_MAP.get(element, ()):
            by_field.setdefault(field, ([], conv, 1))[0].append(element)
        nf = netflow_name(element)
        if nf is None:
            by_field.setdefault(f"flowcep.ipfix.{element}", ([], _hex, 1))[0].append(element)
        else:
            conv, factor = _netflow_converter(element, nf)
            by_field.setdefault(nf, ([], conv, factor))[0].append(element)
    return [(elements, field, conv, factor) for field, (elements, conv, factor) in by_field.items()]


def _first(batch: FlowBatch, elements: Sequence[str], factor: float = 1) -> list[Any] | None:
    """One column from the first non-null of ``elements`` per record (None if none present);
    time elements of other units are scaled to milliseconds per element."""
    cols = []
    for element in elements:
        col = batch.columns.get(element)
        if col is None:
            continue
        f = TIME_FIELDS[element][1] if element in TIME_FIELDS else factor
        if f != 1:
            col = [None if v is None else int(v * f) for v in col]
        cols.append(col)
    if not cols:
        return None
    if len(cols) == 1:
        return cols[0]
    out = list(cols[0])
    for col in cols[1:]:
        if None not in out:
            break
        for i, v in enumerate(out):
            if v is None:
                out[i] = col[i]
    return out


def _convert(col: list[Any], conv: Converter) -> list[Any]:
    """Apply a converter once per distinct value (protocols, interfaces, MACs repeat)."""
    try:
        table = {v: conv(v) for v in set(col) if v is not None}
    except TypeError:  # unhashable values
        return [None if v is None else conv(v) for v in col]
    return list(map(table.get, col))


def _sum(a: list[Any], b: list[Any]) -> list[Any]:
    """Forward + reverse per record; the total exists only where the forward count does
    (Beats: ``network.bytes`` is set only when the forward counter is)."""
    numbers = {int, float}
    if set(map(type, a)) <= numbers and set(map(type, b)) <= numbers:
        return list(map(operator.add, a, b))  # the common case, at C speed
    out: list[Any] = []
    for x, y in zip(a, b, strict=True):
        if x is None or not isinstance(x, int | float) or isinstance(x, bool):
            out.append(x)
        elif isinstance(y, int | float) and not isinstance(y, bool):
            out.append(x + y)
        else:
            out.append(x)
    return out


def _counters(batch: FlowBatch, cols: dict[str, list[Any]]) -> None:
    for forward, reverse, name in ((_FORWARD_BYTES, _REVERSE_BYTES, "bytes"),
                                   (_FORWARD_PACKETS, _REVERSE_PACKETS, "packets")):
        fwd = _first(batch, forward)
        rev = _first(batch, reverse)
        if fwd is not None:
            cols[f"source.{name}"] = fwd
            cols[f"network.{name}"] = fwd if rev is None else _sum(fwd, rev)
        if rev is not None:
            cols[f"destination.{name}"] = rev


def _exporter_fields(exporter: str | None) -> dict[str, Any]:
    """``observer.ip`` and ``netflow.exporter.*`` from ``host:port/odid`` (nothing for a file)."""
    if not exporter:
        return {}
    head, slash, odid = exporter.rpartition("/")
    if not slash:
        head, odid = exporter, ""
    host, colon, port = head.rpartition(":")
    host = host.strip("[]")
    out: dict[str, Any] = {}
    try:
        ip = ipaddress.ip_address(host if colon else head.strip("[]"))
    except ValueError:
        return out
    out["observer.ip"] = [str(ip)]  # ECS: an array; the integration's pipeline makes it one too
    if colon and port.isdigit():
        out["netflow.exporter.address"] = f"[{ip}]:{port}" if ip.version == 6 else f"{ip}:{port}"
    if odid.isdigit():
        out["netflow.exporter.source_id"] = int(odid)
    return out


def _derived(batch: FlowBatch, cols: dict[str, list[Any]], base: dict[str, Any]) -> None:
    """Fields computed from several columns: time, duration, network.type, direction, biflow
    orientation, client/server, related.ip. Constant results go to ``base``."""
    n = batch.length
    c = batch.columns
    # @timestamp as Elastic's netflow integration sets it: the export time of the message that
    # carried the record; a record without one (the pcap meter's) is stamped with its event
    # time, the flow's end, else its start. The flow's own times are event.start/event.end.
    stamps: list[Any] = [t if t >= 0 else None for t in batch.event_times()]
    start = cols.get("event.start")
    end = cols.get("event.end")
    if None in stamps and start is not None:
        stamps = [s if s is not None else start[i] for i, s in enumerate(stamps)]
    exported = c.get(EXPORT_TIME)
    if exported is not None:
        stamps = [e if isinstance(e, int) else s for e, s in zip(exported, stamps, strict=True)]
    cols["@timestamp"] = stamps
    # event.duration in nanoseconds, from start and end, else the duration elements.
    duration: list[Any] | None = None
    if start is not None and end is not None:
        if None in start or None in end:
            duration = [None if s is None or e is None else int((e - s) * 1_000_000) for s, e in zip(start, end, strict=True)]
        else:
            duration = [(e - s) * 1_000_000 for s, e in zip(start, end, strict=True)]
    for element, factor in (("flowDurationMilliseconds", 1_000_000), ("flowDurationMicroseconds", 1000)):
        col = c.get(element)
        if col is not None:
            if duration is None:
                duration = [None] * n
            duration = [d if d is not None or v is None else int(v * factor) for d, v in zip(duration, col, strict=True)]
    if duration is not None:
        cols["event.duration"] = duration
    _network_type(batch, cols, base)
    _biflow(batch, cols)
    _direction(batch, cols, base)


def _network_type(batch: FlowBatch, cols: dict[str, list[Any]], base: dict[str, Any]) -> None:
    """``network.type`` as the integration's ingest pipeline sets it: ``ipv4`` when the record
    has an IPv4 address element, ``ipv6`` when it has only IPv6 ones, ``[ipv4, ipv6]`` when it
    has both (exporters that send both families in one template)."""
    c = batch.columns
    n = batch.length
    v4 = [c[e] for e in ("sourceIPv4Address", "destinationIPv4Address") if e in c]
    v6 = [c[e] for e in ("sourceIPv6Address", "destinationIPv6Address") if e in c]
    if not v4 and not v6:
        return
    if v4 and not v6 and any(None not in col for col in v4):
        base["network.type"] = "ipv4"
        return
    if v6 and not v4 and any(None not in col for col in v6):
        base["network.type"] = "ipv6"
        return
    kinds: list[Any] = []
    for i in range(n):
        has4 = any(col[i] is not None for col in v4)
        has6 = any(col[i] is not None for col in v6)
        kinds.append(_BOTH_TYPES if has4 and has6 else "ipv4" if has4 else "ipv6" if has6 else None)
    if kinds and isinstance(kinds[0], str) and kinds.count(kinds[0]) == n:
        base["network.type"] = kinds[0]
    else:
        cols["network.type"] = kinds


@cache
def _default_perimeter() -> Any:
    """The zones enricher with its defaults (private, loopback, link-local, unspecified,
    broadcast and link-local multicast space internal: what Beats' ``internal_networks:
    [private]`` default plus its always-local addresses cover), for runs without it."""
    from .enrich.zones import DEFAULTS, ZonesEnricher  # noqa: PLC0415 - only for runs without zones

    return ZonesEnricher(DEFAULTS)


def _direction(batch: FlowBatch, cols: dict[str, list[Any]], base: dict[str, Any]) -> None:
    """``network.direction`` as the integration's documents have it, after biflow orientation:
    the perimeter word (``inbound``/``outbound``/``internal``/``external``) when both
    addresses are known, from the zones enricher (or, without it, from its defaults, as
    Beats' pipeline does from ``internal_networks``); else ``flowDirection`` as
    ``inbound``/``outbound``, as Beats' converter writes it; else ``unknown``."""
    n = batch.length
    direction = cols.get("network.direction")
    src, dst = cols.get("source.ip"), cols.get("destination.ip")
    if direction is None and src is not None and dst is not None:
        if not set(map(type, src)) | set(map(type, dst)) <= {str, type(None)}:  # unsanitised input
            src = [a if isinstance(a, str) else None for a in src]
            dst = [a if isinstance(a, str) else None for a in dst]
        probe = FlowBatch({"sourceIPv4Address": src, "destinationIPv4Address": dst}, n)
        _default_perimeter().enrich(probe)
        direction = probe.columns["network.direction"]
    flow_dir = batch.columns.get("flowDirection")
    if flow_dir is None:
        if direction is None:
            base["network.direction"] = "unknown"
        else:
            cols["network.direction"] = [d if d is not None else "unknown" for d in direction]
        return
    fallback = [_FLOW_DIRECTION.get(v, "unknown") if isinstance(v, int) else "unknown" for v in flow_dir]
    cols["network.direction"] = fallback if direction is None else [
        d if d is not None and d != "unknown" else f for d, f in zip(direction, fallback, strict=True)]


def _related_ip(cols: Mapping[str, list[Any]], n: int) -> list[Any] | None:
    """``related.ip``: the record's addresses, each once (Beats lists them the same way)."""
    src, dst = cols.get("source.ip"), cols.get("destination.ip")
    if src is None and dst is None:
        return None
    s = src if src is not None else repeat(None, n)
    d = dst if dst is not None else repeat(None, n)
    return [
        [a, b] if a is not None and b is not None and a != b else [a] if a is not None else [b] if b is not None else None
        for a, b in zip(s, d)  # noqa: B905 - equal by construction
    ]


def _biflow(batch: FlowBatch, cols: dict[str, list[Any]]) -> None:
    """RFC 5103 biflows: ``event.category`` gains ``session``; a record whose
    ``biflowDirection`` is 2 (reverseInitiator) has source and destination swapped so that
    ``source`` is the initiator; ``client``/``server`` repeat source/destination."""
    bidir = batch.columns.get("biflowDirection")
    if bidir is None or all(v is None for v in bidir):
        return
    n = batch.length
    session, plain = ["network", "session"], ["network"]  # shared: encoded once per batch
    cols["event.category"] = [session if v is not None else plain for v in bidir]
    flip = [i for i, v in enumerate(bidir) if v == 2]
    if flip:
        sides: set[str] = set()
        for k in cols:
            for prefix in ("source.", "destination.", "flowcep.source.", "flowcep.destination."):
                if k.startswith(prefix):
                    namespace = "flowcep." if prefix.startswith("flowcep.") else ""
                    sides.add(namespace + "|" + k[len(prefix):])
        for item in sorted(sides):
            ns, _, rest = item.partition("|")
            a, b = f"{ns}source.{rest}", f"{ns}destination.{rest}"
            ca = list(cols.get(a) or [None] * n)
            cb = list(cols.get(b) or [None] * n)
            for i in flip:
                ca[i], cb[i] = cb[i], ca[i]
            cols[a], cols[b] = ca, cb
        if "network.direction" in cols:
            d = list(cols["network.direction"])
            for i in flip:
                d[i] = _DIRECTION_SWAP.get(d[i], d[i])
            cols["network.direction"] = d
    for side, role in (("source", "client"), ("destination", "server")):
        for rest in ("ip", "port", "mac", "bytes", "packets"):
            col = cols.get(f"{side}.{rest}")
            if col is not None:
                cols[f"{role}.{rest}"] = col if None not in bidir else [
                    v if b is not None else None for v, b in zip(col, bidir, strict=True)]


def _ecs_columns(batch: FlowBatch, extra: Mapping[str, Any] | None) -> tuple[list[str], list[list[Any]], dict[str, Any]]:
    """Document field names, their value columns and the constant fields every document of
    ``batch`` carries: the part both serialisers share."""
    cols: dict[str, list[Any]] = {}
    for elements, field, conv, factor in _plan(tuple(batch.columns)):
        col = _first(batch, elements, factor)
        if col is None:
            continue
        if conv is not None:
            col = _convert(col, conv)
        cols[field] = col
    _counters(batch, cols)
    base = dict(FLOW_CONSTANTS)
    base.update(_exporter_fields(batch.exporter))
    _derived(batch, cols, base)
    for key in cols:  # a per-record value (biflow event.category) supersedes the constant
        base.pop(key, None)
    if extra:
        base.update(extra)
        for key in extra:
            cols.pop(key, None)
    return list(cols), list(cols.values()), base


def options_documents(batch: FlowBatch, extra: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
    """One flat ECS metric document per options record: each element under ``netflow.*`` as
    Beats names it (``flowcep.ipfix.*`` when Beats has no name), ``@timestamp`` the export
    time of the message that carried it, the exporter as ``observer.ip``/``netflow.exporter.*``.
    No source/destination: an options record describes its exporter, not a connection."""
    base = dict(OPTIONS_CONSTANTS)
    base.update(_exporter_fields(batch.exporter))
    fields: list[tuple[str, list[Any], Converter | None]] = []
    for element, col in batch.columns.items():
        if element in _OPTIONS_META:
            continue
        nf = netflow_name(element)
        if nf is None:
            fields.append((_column_field(element) if "." in element else f"flowcep.ipfix.{element}", col, _hex))
        else:
            conv, _factor = _netflow_converter(element, nf)
            fields.append((nf, col, conv))
    if extra:
        base.update(extra)
    stamps = batch.event_times()
    docs = []
    for i in range(batch.length):
        doc = dict(base)
        if stamps[i] >= 0:
            doc["@timestamp"] = stamps[i]
        for field, col, conv in fields:
            v = col[i]
            if v is not None and field not in base:
                doc[field] = conv(v) if conv is not None else v
        docs.append(doc)
    return docs


def batch_to_documents(batch: FlowBatch, extra: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
    """One flat ECS document (dotted keys) per record of ``batch``.

    ``extra`` fields (``data_stream.*``, ``observer.*``) are copied into every document.
    Absent elements (None) are left out rather than sent as nulls. Options records become
    metric documents (:func:`options_documents`).
    """
    n = batch.length
    if n == 0:
        return []
    if batch.stream != FLOW_STREAM:
        return options_documents(batch, extra)
    keys, cols, base = _ecs_columns(batch, extra)
    related = _related_ip(dict(zip(keys, cols, strict=True)), n)
    if related is not None:
        keys, cols = [*keys, "related.ip"], [*cols, related]
    all_keys = list(base) + keys
    all_cols: list[Iterable[Any]] = [repeat(v, n) for v in base.values()]
    all_cols.extend(cols)
    return [{k: v for k, v in zip(all_keys, values) if v is not None}  # noqa: B905 - equal by construction
            for values in zip(*all_cols)]  # noqa: B905


def _json_default(obj: Any) -> Any:
    """What orjson cannot encode itself: octets as hex (as ``flowcep.ipfix.*`` columns), the
    rest as text."""
    if isinstance(obj, bytes | bytearray | memoryview):
        return bytes(obj).hex()
    if isinstance(obj, set | frozenset | tuple):
        return list(obj)
    return str(obj)


def _dumps(value: Any) -> bytes:
    try:
        return orjson.dumps(value, default=_json_default)
    except orjson.JSONEncodeError:
        # integers beyond 64 bits (a hostile counter, or a sum of two huge ones): encoded
        # as they are, so Elasticsearch refuses that one document instead of the batch failing
        return json.dumps(value, default=_json_default).encode()


def _split(col: list[Any], n: int) -> tuple[str, list[bytes]] | None:
    """A column without None encoded with one orjson call and split into per-record values:
    ("num", parts) or ("str", parts without quotes); None when its types do not allow it.

    Splitting is safe because orjson escapes every quote inside a string: between two
    encoded strings the bytes ``","`` can only be a boundary, and numbers contain no comma.
    """
    types = set(map(type, col))
    if types <= {int, float, bool}:
        try:
            parts = orjson.dumps(col)[1:-1].split(b",")
        except orjson.JSONEncodeError:  # integers beyond 64 bits
            return None
        return ("num", parts) if len(parts) == n else None
    if types == {str}:
        parts = orjson.dumps(col)[2:-2].split(b'","')
        return ("str", parts) if len(parts) == n else None
    return None


def _pieces(key: str, col: list[Any], n: int, memo: dict[int, tuple[str, list[bytes]] | None],
            before: bytes) -> tuple[list[Any], bytes]:
    """Columns of byte pieces that, joined per record, give ``<before>,"key":<json value>``
    (nothing where the value is None, so absent elements are left out as in the dict path),
    and the bytes still owed after them (a string's closing quote). Owing the quote to the next
    prefix saves one piece per column in the final join, which is most of the cost. Columns
    shared by two fields (``source.ip`` and ``netflow.source_ipv4_address``) are encoded once.
    """
    prefix = b"," + orjson.dumps(key) + b":"
    if id(col) not in memo:
        present = col if None not in col else [v for v in col if v is not None]
        memo[id(col)] = _split(present, len(present)) if present else None
    got = memo[id(col)]
    if got is None:
        # mixed or nested values: encode each distinct object once (shared lists repeat)
        seen: dict[int, bytes] = {}
        out = []
        for v in col:
            if v is None:
                out.append(before)
                continue
            enc = seen.get(id(v))
            if enc is None:
                enc = seen[id(v)] = prefix + _dumps(v)
            out.append(before + enc)
        return [out], b""
    kind, parts = got
    if len(parts) == n:
        if kind == "num":
            return [repeat(before + prefix, n), parts], b""
        return [repeat(before + prefix + b'"', n), parts], b'"'
    it = iter(parts)
    if kind == "num":
        return [[before if v is None else before + prefix + next(it) for v in col]], b""
    return [[before if v is None else before + prefix + b'"' + next(it) + b'"' for v in col]], b""


def _related(src: tuple[str, list[bytes]] | None, dst: tuple[str, list[bytes]] | None,
             n: int, before: bytes) -> list[Any] | None:
    """``related.ip`` pieces from the already encoded address columns: the source once, then
    the destination unless it is the same address; the closing ``"]`` is owed to the caller."""
    if src is None or dst is None or src[0] != "str" or dst[0] != "str" or len(src[1]) != n or len(dst[1]) != n:
        return None
    return [repeat(before + b',"related.ip":["', n), src[1],
            [b'","' + b if a != b else b"" for a, b in zip(src[1], dst[1], strict=True)]]


#: Length of ``,"event.created":"YYYY-MM-DDTHH:MM:SS.mmmZ"}``, the tail every encoded flow
#: document ends with (see :func:`flow_id`).
_CREATED_TAIL = len(b',"event.created":"') + 24 + len(b'"}')


def batch_to_json(batch: FlowBatch, extra: Mapping[str, Any] | None = None,
                  created: datetime | None = None, newline: bool = False) -> list[bytes]:
    """:func:`batch_to_documents` serialised as JSON, one ``bytes`` per record, each ending
    with ``event.created`` (``created``, default now: when FlowCEP built the document, as
    Beats sets it), and with ``\\n`` when ``newline`` (JSON lines written without a copy).

    orjson costs about a microsecond per call whatever the size, more than the encoding
    itself for a small document, so columns are encoded one call each and the records put
    together from the pieces with ``bytes.join`` (C speed); only columns of mixed or nested
    types are encoded per value.
    """
    n = batch.length
    if n == 0:
        return []
    when = created or datetime.now(UTC)
    when = when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
    stamp = when.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    if batch.stream != FLOW_STREAM:  # options records: few, so one document at a time
        tail = b',"event.created":"' + stamp.encode() + (b'"}\n' if newline else b'"}')
        return [_dumps(doc)[:-1] + tail for doc in options_documents(batch, extra)]
    keys, cols, base = _ecs_columns(batch, extra)
    by_key = dict(zip(keys, cols, strict=True))
    pieces: list[Any] = []
    owed = orjson.dumps(base)[:-1]  # b'{"ecs.version":..' without '}'
    memo: dict[int, tuple[str, list[bytes]] | None] = {}
    for key, col in zip(keys, cols, strict=True):
        got, owed = _pieces(key, col, n, memo, owed)
        pieces.extend(got)
    src, dst = by_key.get("source.ip"), by_key.get("destination.ip")
    related = None
    if src is not None and dst is not None:
        related = _related(memo.get(id(src)), memo.get(id(dst)), n, owed)
    if related is not None:
        pieces.extend(related)
        owed = b'"]'
    else:
        addresses = _related_ip(by_key, n)
        pieces.append([owed] * n if addresses is None else [
            owed if v is None else owed + b',"related.ip":' + _dumps(v) for v in addresses])
        owed = b""
    pieces.append(repeat(owed + b',"event.created":"' + stamp.encode() + (b'"}\n' if newline else b'"}'), n))
    return list(map(b"".join, zip(*pieces)))  # noqa: B905 - equal length by construction


def flow_id(doc: bytes, salt: bytes = b"") -> str:
    """A stable id for an encoded flow document: a hash of everything but its
    ``event.created`` tail (and ``salt``, e.g. the exporter), so a re-run or a retry of the
    same records yields the same id and Elasticsearch indexes each flow once."""
    tail = _CREATED_TAIL + (1 if doc.endswith(b"\n") else 0)
    h = hashlib.blake2b(memoryview(doc)[:-tail], digest_size=15)
    h.update(salt)
    return h.hexdigest()


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
