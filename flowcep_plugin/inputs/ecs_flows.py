"""ECS flow documents -> IPFIX-named records: the inverse of :mod:`flowcep_plugin.ecs`.

``flowcep run --flows`` writes every flow as one ECS document (``netflow.*`` named as Beats
names the IPFIX elements, ``flowcep.ipfix.*`` for the elements Beats cannot name), and
Elastic's own netflow input writes the same ``netflow.*`` names. Reading such a file back
with ``json:`` must give the records the detectors saw the first time, or a replay of stored
flows would raise different alerts than the live run did.

The inverse is derived from ecs.py's own tables (``netflow_name``, ``snake_case``,
``TIME_FIELDS``, ``FIELD_MAP``, the counter orders), never copied, so the two cannot drift:

* ``netflow.<name>`` -> the element ecs.py names so, typed by the element's abstract type
  (dates from epoch milliseconds or ISO 8601 text back to the element's unit, MACs back to
  ``aa:bb:..``, octet arrays from byte lists or hex, addresses checked and normalised,
  integers range-checked). Beats' names of vendor elements map where FlowCEP knows the element.
* ``flowcep.ipfix.<name>`` -> the element ``<name>`` (octet arrays from hex).
* The ECS fields are derived from those elements (biflows swap ``source``/``destination``;
  counters are sums), so FlowCEP's own documents are read from the elements alone. Documents
  from other producers fall back to the ECS fields for the elements a detector needs most
  (addresses, ports, protocol, MACs, counters, times), undoing the biflow swap.
* Enricher fields (zones, services, community id) are not read back: the enrichers of the
  reading run compute them again from the same elements.
* ``netflow.exporter.address``/``source_id`` (or a merged batch's ``flowcep.exporter``)
  restore the exporter, so each exporter keeps its own event-time clock.
* ``netflow.exporter.version``/``timestamp``/``uptime_millis`` (the export message's header,
  as ecs.py and Beats write it) -> the decoders' message-header columns
  (:data:`~flowcep_plugin.records.HEADER_COLUMNS`). An IPFIX header has no sysUptime: the
  ``uptime_millis: 0`` Beats writes for IPFIX (its zero value) is not read as one.

A value that cannot be an element's value (an address that is not one, a port beyond 65535,
an element given twice with different values) makes the whole document malformed: a flow
that names a host it did not see must not reach a detector.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Callable, Mapping
from functools import cache
from typing import Any

from .. import ecs
from ..elements import REVERSE_PEN, Registry, builtin_elements
from ..records import EXPORT_VERSION, HEADER_COLUMNS, SYS_UPTIME
from .json_values import TIME_UNITS, flatten, parse_int, parse_protocol, parse_timestamp_ms

__all__ = ["EcsFlowReader", "document_kind", "netflow_elements"]

Converter = Callable[[Any], Any]

#: Fields Beats writes under ``netflow.*`` that are neither elements nor header columns.
_NOT_ELEMENTS = frozenset({"netflow.type"})
_EXPORTER_ADDRESS = "netflow.exporter.address"
_EXPORTER_ID = "netflow.exporter.source_id"
#: Column that carries each record's exporter in a batch merged from several (ipfix_decode).
EXPORTER_COLUMN = "flowcep.exporter"
_MAX_EXPORTER = 300
#: Keys resolved per reader; beyond this a hostile file's unique keys are resolved uncached.
MAX_CACHED_KEYS = 65_536
_MAC = re.compile(r"[0-9A-Fa-f]{2}(?:[-:][0-9A-Fa-f]{2})*")

#: ECS fields a foreign document may carry without the ``netflow.*`` element behind them.
_FALLBACK_FIELDS = ("source.ip", "destination.ip", "source.port", "destination.port",
                    "network.iana_number", "network.transport", "source.mac", "destination.mac")


@cache
def netflow_elements() -> dict[str, str]:
    """``netflow.<name>`` -> element name: every name ecs.py writes (IANA and RFC 5103
    reverse elements), then Beats' names of the vendor elements FlowCEP knows (same naming
    rule), where they do not clash."""
    out: dict[str, str] = {}
    vendor: dict[str, str] = {}
    for spec in builtin_elements():
        field = ecs.netflow_name(spec.name)
        if field is not None:
            out.setdefault(field, spec.name)
        elif spec.pen not in (0, REVERSE_PEN):
            vendor.setdefault("netflow." + ecs.snake_case(spec.name), spec.name)
    for field, name in vendor.items():
        out.setdefault(field, name)
    return out


@cache
def _header_fields() -> dict[str, tuple[str, Converter]]:
    """``netflow.exporter.*`` header field -> (message-header column, converter): ecs.py's
    ``CUSTOM_RENAMES`` inverted. The version and sysUptime are the header's unsigned16 and
    unsigned32; the export time is epoch ms (or ISO 8601 text, as Beats writes dates)."""
    convert = {EXPORT_VERSION: _range(16, False), SYS_UPTIME: _range(32, False)}
    epoch_ms = _time("dateTimeMilliseconds", 1)
    return {field: (column, convert.get(column, epoch_ms))
            for column, field in ecs.CUSTOM_RENAMES.items() if column in HEADER_COLUMNS}


@cache
def _fallbacks() -> dict[str, tuple[str, ...]]:
    """ECS field -> elements it may stand for (FIELD_MAP inverted, in FIELD_MAP's order)."""
    out: dict[str, list[str]] = {}
    for element, steps in ecs.FIELD_MAP.items():
        for field, _conv in steps:
            if field in _FALLBACK_FIELDS:
                out.setdefault(field, []).append(element)
    for elements, side, what in ((ecs._FORWARD_BYTES, "source", "bytes"),
                                 (ecs._FORWARD_PACKETS, "source", "packets"),
                                 (ecs._REVERSE_BYTES, "destination", "bytes"),
                                 (ecs._REVERSE_PACKETS, "destination", "packets")):
        out[f"{side}.{what}"] = [elements[0]]
    return {k: tuple(v) for k, v in out.items()}


@cache
def _counter_groups() -> dict[str, tuple[str, ...]]:
    """Fallback counter element -> every element that already says the same (any one of
    them present means the ECS counter was derived from it)."""
    return {group[0]: tuple(group) for group in (ecs._FORWARD_BYTES, ecs._FORWARD_PACKETS,
                                                 ecs._REVERSE_BYTES, ecs._REVERSE_PACKETS)}


@cache
def _time_fields() -> dict[str, str]:
    """``event.start``/``event.end`` -> the millisecond element ecs.py fills them from."""
    return {field: element for element, (field, factor) in ecs.TIME_FIELDS.items() if factor == 1}


def document_kind(obj: Mapping[str, Any]) -> str:
    """``"flow"`` for an ECS flow document, ``"other"`` for any other ECS document (skipped),
    ``""`` for a record that is not ECS (ipfixcol, ``flowcep dump``).

    A flow document has ``event.kind: event`` and ``netflow.*`` fields (FlowCEP, Beats), or
    ``ecs.version`` and a dataset or action that says it is a flow or connection record
    (Packetbeat ``flow``, ``zeek.connection``): an application log (an HTTP request, a DNS
    query) is also ``event.kind: event``, and reading each as a connection would make one
    busy client look like a scanner. Alerts, metrics and Beats' ``netflow_options`` records
    are ``"other"``.
    """
    event = obj.get("event")
    if isinstance(event, dict):
        kind, action, dataset = event.get("kind"), event.get("action"), event.get("dataset")
    else:
        kind, action, dataset = obj.get("event.kind"), obj.get("event.action"), obj.get("event.dataset")
    ecs_version = "ecs.version" in obj or isinstance(obj.get("ecs"), dict)
    if kind is None and not ecs_version:
        return ""
    netflow = isinstance(obj.get("netflow"), dict) or any(k.startswith("netflow.") for k in obj)
    if not ecs_version and not netflow:
        return ""
    if kind != "event" or action == "netflow_options":
        return "other"
    if not netflow and not any(isinstance(v, str) and ("flow" in v.lower() or "connection" in v.lower())
                               for v in (action, dataset)):
        return "other"
    return "flow"


def _range(bits: int, signed: bool) -> Converter:
    low, high = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)

    def conv(value: Any) -> int:
        if isinstance(value, bool):
            raise ValueError(f"not an integer: {value!r}")
        v = parse_int(value)
        if not low <= v <= high:
            raise ValueError(f"{v} is out of range {low}..{high}")
        return v

    return conv


def _address(family: socket.AddressFamily) -> Converter:
    def conv(value: Any) -> str:
        # inet_pton is strict (no "10.1" shorthand) and inet_ntop writes addresses the way
        # the binary decoders do, so a round trip gives the same text.
        if not isinstance(value, str):
            raise ValueError(f"not an address: {value!r}")
        try:
            return socket.inet_ntop(family, socket.inet_pton(family, value))
        except (OSError, ValueError):
            kind = "IPv4" if family == socket.AF_INET else "IPv6"
            raise ValueError(f"not an {kind} address: {value[:60]!r}") from None

    return conv


def _mac(value: Any) -> str:
    if not isinstance(value, str) or not _MAC.fullmatch(value):
        raise ValueError(f"not a MAC address: {str(value)[:60]!r}")
    return value.replace("-", ":").lower()


def _octets(value: Any) -> Any:
    """Octet arrays: ecs.py writes a byte list where Elastic maps a number, hex elsewhere.
    Text that is not hex stays text (a collector's string in an element of unknown type)."""
    if isinstance(value, list):
        if not all(isinstance(b, int) and not isinstance(b, bool) and 0 <= b <= 255 for b in value):
            raise ValueError("not a list of byte values")
        return bytes(value)
    if isinstance(value, str):
        text = value[2:] if value[:2].lower() == "0x" else value
        try:
            return bytes.fromhex(text)
        except ValueError:
            return value
    raise ValueError(f"not an octet array: {str(value)[:60]!r}")


def _string(value: Any) -> str:
    if isinstance(value, str):
        return value.rstrip("\x00")
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    raise ValueError(f"not a string: {str(value)[:60]!r}")


def _float(value: Any) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    raise ValueError(f"not a number: {value!r}")


def _boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    raise ValueError(f"not a boolean: {value!r}")


def _time(etype: str, doc_factor: float) -> Converter:
    """A dateTime element from a number in the document's unit (``doc_factor``: element unit
    to that unit, as ecs.py scaled it) or from ISO 8601 text (Beats writes dates as text)."""
    to_unit = TIME_UNITS[etype]
    limit = (1 << 32) if etype == "dateTimeSeconds" else (1 << 64)  # the element's encoding

    def read(value: Any) -> int:
        if isinstance(value, str):
            ms = parse_timestamp_ms(value)
            return int(ms * to_unit) if to_unit >= 1 else ms // round(1 / to_unit)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"not a timestamp: {value!r}")
        if doc_factor == 1:
            return int(value)
        if doc_factor > 1:
            return int(value) // round(doc_factor)
        return int(value) * round(1 / doc_factor)

    def conv(value: Any) -> int:
        v = read(value)
        if not 0 <= v < limit:
            raise ValueError(f"timestamp {str(value)[:40]} is out of range")
        return v

    return conv


def _converter(element: str, etype: str | None, doc_factor: float) -> Converter | None:
    """Value converter for one element of type ``etype`` (None: keep the JSON value)."""
    if element in ("protocolIdentifier", "reverseProtocolIdentifier"):
        protocol = _range(8, False)
        return lambda v: protocol(parse_protocol(v))
    if etype is None:
        return None
    if etype.startswith(("unsigned", "signed")):
        signed = etype.startswith("signed")
        return _range(int(etype[len("signed" if signed else "unsigned"):]), signed)
    if etype in TIME_UNITS:
        return _time(etype, doc_factor)
    return {
        "ipv4Address": _address(socket.AF_INET),
        "ipv6Address": _address(socket.AF_INET6),
        "macAddress": _mac,
        "octetArray": _octets,
        "string": _string,
        "float32": _float,
        "float64": _float,
        "boolean": _boolean,
    }.get(etype)


#: How a document key is read: an element (name, converter), or one of these markers.
_SKIP = ("", None)
_UNMAPPED = ("?", None)


class EcsFlowReader:
    """Maps ECS flow documents back to records keyed by IPFIX element name.

    ``unmapped`` counts ``netflow.*`` fields no element stands behind (vendor fields FlowCEP
    has no name for): they are the only part of a document left behind that the enrichers do
    not compute again, so the input reports them.
    """

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self.unmapped = 0
        self.uncached = 0
        self._steps: dict[str, tuple[str, Converter | None]] = {}
        self._by_element: dict[str, Converter | None] = {}

    def _element_converter(self, element: str, field: str | None) -> Converter | None:
        spec = self.registry.by_name(element)
        etype = spec.type if spec is not None else None
        doc_factor = ecs._netflow_converter(element, field)[1] if field is not None else 1
        return _converter(element, etype, doc_factor)

    def _resolve(self, key: str) -> tuple[str, Converter | None]:
        if key.startswith("netflow."):
            element = netflow_elements().get(key)
            if element is not None:
                return element, self._element_converter(element, key)
            header = _header_fields().get(key)
            if header is not None:
                return header
            if key in _NOT_ELEMENTS or key in (_EXPORTER_ADDRESS, _EXPORTER_ID):
                return _SKIP
            return _UNMAPPED
        if key.startswith("flowcep.ipfix."):
            element = key[len("flowcep.ipfix."):]
            if not element:
                return _UNMAPPED
            return element, self._element_converter(element, None)
        return _SKIP

    def _step(self, key: str) -> tuple[str, Converter | None]:
        step = self._steps.get(key)
        if step is None:
            step = self._resolve(key)
            if len(self._steps) < MAX_CACHED_KEYS:
                self._steps[key] = step
            else:
                self.uncached += 1
        return step

    def record(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        """The record one ECS flow document stands for; ValueError naming the field when a
        value cannot be that element's."""
        # FlowCEP's documents are flat (dotted keys): read them as they are; Beats' are nested.
        flat = obj if dict not in map(type, obj.values()) else dict(flatten(obj))
        steps = self._steps
        row: dict[str, Any] = {}
        key = ""
        try:
            for key, value in flat.items():
                step = steps.get(key)
                if step is None:
                    step = self._step(key)
                name, conv = step
                if not name or value is None:
                    continue
                if name == "?":
                    self.unmapped += 1
                    continue
                if conv is not None:
                    value = conv(value)
                old = row.get(name)
                if old is not None and old != value:
                    raise ValueError(f"{name} given twice with different values")
                row[name] = value
        except (ValueError, TypeError, OverflowError) as e:
            raise ValueError(f"{key}: {e}") from None
        if row.get(EXPORT_VERSION) == 10:
            row.pop(SYS_UPTIME, None)  # Beats' zero: IPFIX headers have no sysUptime
        exporter = _exporter(flat)
        if exporter is not None:
            row[EXPORTER_COLUMN] = exporter
        if flat.get("event.module") != "flowcep":
            # FlowCEP's own documents carry every element under netflow.*/flowcep.ipfix.*;
            # their ECS fields hold nothing more (and enrichers' ECS fields are not elements).
            self._fallback(flat, row)
        self._times(flat, row)
        return row

    def _fallback(self, flat: Mapping[str, Any], row: dict[str, Any]) -> None:
        """Elements a foreign document gives only as ECS fields. A biflow whose
        ``biflowDirection`` is 2 has source and destination swapped in ECS (ecs.py and Beats
        both do it), so the ECS source stands for the destination elements there."""
        swap = row.get("biflowDirection") == 2
        groups = _counter_groups()
        for field, elements in _fallbacks().items():
            if swap and field.startswith(("source.", "destination.")):
                side, _, rest = field.partition(".")
                field = ("destination." if side == "source" else "source.") + rest
            value = flat.get(field)
            if value is None or any(e in row or any(g in row for g in groups.get(e, ())) for e in elements):
                continue
            errors: list[str] = []
            for element in elements:
                try:
                    converted = _apply(self._element_for_fallback(element), value, field)
                except ValueError as e:
                    errors.append(str(e))
                    continue
                row[element] = converted
                break
            else:
                raise ValueError(errors[-1] if errors else f"{field}: unreadable")

    def _element_for_fallback(self, element: str) -> Converter | None:
        if element not in self._by_element:
            self._by_element[element] = self._element_converter(element, None)
        return self._by_element[element]

    def _times(self, flat: Mapping[str, Any], row: dict[str, Any]) -> None:
        """Flow start and end from ``event.start``/``event.end`` when no time element says
        them (Beats turns NetFlow v9 uptimes into these fields only); with neither, the flow
        ends at ``@timestamp`` (Beats: the export time), else it would have no event time."""
        if any(element in row for element in ecs.TIME_FIELDS):
            return
        fields = _time_fields()
        found = False
        for field, element in fields.items():
            value = flat.get(field)
            if value is not None:
                row[element] = _apply(self._element_for_fallback(element), value, field)
                found = True
        stamp = flat.get("@timestamp")
        if not found and stamp is not None:
            row[fields["event.end"]] = _apply(self._element_for_fallback(fields["event.end"]), stamp,
                                              "@timestamp")


def _apply(conv: Converter | None, value: Any, key: str) -> Any:
    if conv is None:
        return value
    try:
        return conv(value)
    except (ValueError, TypeError, OverflowError) as e:
        raise ValueError(f"{key}: {e}") from None


def _exporter(flat: Mapping[str, Any]) -> str | None:
    """The exporter key the binary decoders give (``host:port/odid``), from
    ``netflow.exporter.*`` (Beats, ecs.py) or a merged batch's ``flowcep.exporter``."""
    address = flat.get(_EXPORTER_ADDRESS)
    merged = flat.get(EXPORTER_COLUMN)
    if address is None:
        if merged is None:
            return None
        if not isinstance(merged, str) or len(merged) > _MAX_EXPORTER:
            raise ValueError(f"{EXPORTER_COLUMN}: not an exporter: {str(merged)[:60]!r}")
        return merged
    if not isinstance(address, str) or len(address) > _MAX_EXPORTER:
        raise ValueError(f"{_EXPORTER_ADDRESS}: not an address: {str(address)[:60]!r}")
    host, colon, port = address.rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    try:
        socket.inet_pton(socket.AF_INET6 if ":" in host else socket.AF_INET, host)
        if not colon or not port.isdigit() or int(port) > 65535:
            raise ValueError
    except (OSError, ValueError):
        raise ValueError(f"{_EXPORTER_ADDRESS}: not an ip:port: {address[:60]!r}") from None
    source_id = flat.get(_EXPORTER_ID)
    if source_id is None:
        return address
    return f"{address}/{_apply(_range(32, False), source_id, _EXPORTER_ID)}"
