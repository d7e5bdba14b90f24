"""``json:PATH``: flow records as JSON lines from ipfixcol, ipfixcol2, ``flowcep dump``, or
ECS flow documents (FlowCEP's own ``--flows`` output, Elastic's netflow input).

Four key styles are accepted in the same file and mapped to FlowCEP's element names:

* ipfixcol (v1) JSON storage plugin: ``"ipfix.sourceIPv4Address"`` (also nested as
  ``{"ipfix": {...}}``), what FlowCEP's upstream EPL was written against;
* ipfixcol2 JSON output: ``"iana:octetDeltaCount"``, ``"flowmon:httpUrl"``,
  ``"cesnet:..."``, reverse elements as ``"iana@reverse:octetDeltaCount"``, unknown ones as
  ``"en39499:id2"``;
* bare element names (``flowcep dump`` output);
* ECS flow documents (``event.kind: event`` with ``netflow.*``, or with ``ecs.version`` and a
  flow or connection dataset; flat or nested, also inside an Elasticsearch hit's ``_source``),
  recognised per line and read back through the inverse of ecs.py (:mod:`.ecs_flows`): a file
  written by ``flowcep run --flows`` gives the same records, and so the same alerts, as the
  run that wrote it. Other ECS documents (alerts, metrics, application logs, Beats' options
  records) are skipped and counted.

Both collectors format values according to their config, so values are normalised by the
element's type: timestamps may be ISO 8601 text (``"2018-05-11T19:44:29.006Z"``, ipfixcol's
unpadded ``"2015-08-03T14:10:2.012"``) or numbers (ipfixcol2 ``unix`` mode gives every
timestamp in milliseconds; ipfixcol ``plain`` gives the element's own unit); TCP flags may be
``".AP.S."`` or a number; protocols ``"TCP"`` or 6; octet arrays ``"0x..."`` hex. Records of
other ``@type`` (options, templates) are skipped and counted.

A line that is not a JSON object, or whose values cannot be read, is counted as ``malformed``
with ``file:line`` in the log, and reading goes on. Memory stays bounded whatever the file
holds: lines are read at most ``MAX_LINE`` bytes, objects nested at most ``MAX_DEPTH`` deep,
and a batch is cut early when its records have so many distinct keys that the columns would
exceed ``MAX_CELLS`` values.
"""

from __future__ import annotations

import gzip
import os
import re
import sys
from collections.abc import Iterator, Mapping
from typing import IO, Any

import orjson

from ..context import Context
from ..errors import ConfigError, InputError
from ..hookspecs import hookimpl
from ..records import FlowBatch
from ..specs import Address, InputSpec
from .ecs_flows import EXPORTER_COLUMN, EcsFlowReader, document_kind
from .json_values import (
    MAX_DEPTH,
    TIME_UNITS,
    flatten,
    parse_int,
    parse_protocol,
    parse_tcp_flags,
    parse_timestamp_ms,
)
from .sniff import require_format

__all__ = ["MAX_CELLS", "MAX_DEPTH", "MAX_LINE", "JsonLinesSource", "KeyMapper", "parse_timestamp_ms",
           "parse_tcp_flags", "sniff_json"]

LOG_FIRST_BAD = 20

#: Vendor HTTP element names (libfds flowmon/cesnet scopes, IANA 460/461) -> FlowCEP names.
HTTP_ALIASES = {
    "httphost": "HTTPRequestHost",
    "httprequesthost": "HTTPRequestHost",
    "httpurl": "HTTPRequestURL",
    "httprequesturl": "HTTPRequestURL",
    "httprequesttarget": "HTTPRequestURL",
    "httpreferer": "HTTPRequestReferer",
    "httprequestreferer": "HTTPRequestReferer",
    "httpuseragent": "HTTPRequestUserAgent",
    "httprequestuseragent": "HTTPRequestUserAgent",
    "httpstatuscode": "HTTPResponseStatusCode",
    "httpresponsestatuscode": "HTTPResponseStatusCode",
    "httpcontenttype": "HTTPResponseContentType",
    "httpresponsecontenttype": "HTTPResponseContentType",
}


#: Longest line read; a longer one is skipped unread (a file without newlines is not JSON lines).
MAX_LINE = 1 << 20
#: Most values (records x distinct keys) one batch may hold: lines with ever new keys would
#: otherwise make every column as long as the batch.
MAX_CELLS = 4_000_000
#: Keys whose resolution a KeyMapper keeps; beyond it a file of unique keys is resolved uncached.
MAX_CACHED_KEYS = 65_536


def sniff_json(head: bytes) -> bool:
    """A JSON-lines file starts with an object (after optional BOM/whitespace)."""
    return head.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] == b"{"


class KeyMapper:
    """Maps collector keys to FlowCEP names and value converters, caching per key."""

    def __init__(self, registry: Any = None) -> None:
        if registry is None:
            from ..elements import default_registry

            registry = default_registry()
        self.registry = registry
        self.uncached = 0
        self._cache: dict[str, tuple[str, Any]] = {}

    def __call__(self, key: str) -> tuple[str, Any]:
        got = self._cache.get(key)
        if got is None:
            got = self._resolve(key)
            if len(self._cache) < MAX_CACHED_KEYS:
                self._cache[key] = got
            else:
                self.uncached += 1
        return got

    def _resolve(self, key: str) -> tuple[str, Any]:
        """(name, converter) for one key; ``converter`` may be None (keep the value)."""
        name = key
        ms_numbers = False  # ipfixcol2 'unix' timestamps are milliseconds whatever the element
        reverse = False
        if name.startswith("ipfix."):
            name = name[6:]
        elif ":" in name and not name.startswith("@"):
            scope, _, rest = name.partition(":")
            if re.fullmatch(r"(iana|en\d+):id\d+", name):
                spec = self.registry.by_name(name)
                name = spec.name if spec is not None else name
            else:
                ms_numbers = True
                reverse = scope.endswith("@reverse")
                name = rest
        alias = HTTP_ALIASES.get(name.lower())
        if alias is not None:
            name = alias
        if reverse:
            name = "reverse" + name[:1].upper() + name[1:]
        spec = self.registry.by_name(name)
        etype = getattr(spec, "type", None)
        return name, _converter(name, etype, ms_numbers)


def _converter(name: str, etype: str | None, ms_numbers: bool) -> Any:
    base = name[7].lower() + name[8:] if name.startswith("reverse") and len(name) > 8 else name
    if base == "tcpControlBits":
        return parse_tcp_flags
    if base == "protocolIdentifier":
        return parse_protocol
    if etype in TIME_UNITS:
        factor = TIME_UNITS[etype]

        def conv_time(value: Any) -> int:
            if isinstance(value, str):
                text = value.strip()
                if not text.lstrip("-").isdigit():
                    return int(parse_timestamp_ms(text) * factor)
                value = int(text)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"not a timestamp: {value!r}")
            return int(value * factor) if ms_numbers else int(value)

        return conv_time
    if etype is not None and (etype.startswith("unsigned") or etype.startswith("signed")):
        return parse_int
    if etype == "octetArray":
        def conv_bytes(value: Any) -> Any:
            if isinstance(value, str) and value.lower().startswith("0x"):
                return bytes.fromhex(value[2:])
            return value

        return conv_bytes
    if etype == "string":
        def conv_str(value: Any) -> Any:
            return value.rstrip("\x00") if isinstance(value, str) else value

        return conv_str
    return None


def _lines(fh: IO[bytes], limit: int) -> Iterator[bytes | None]:
    """Lines of at most ``limit`` bytes; None stands for a longer line, skipped in chunks so
    memory stays bounded whatever the file holds."""
    while True:
        line = fh.readline(limit + 1)
        if not line:
            return
        if len(line) > limit and not line.endswith(b"\n"):
            while True:
                rest = fh.readline(limit)
                if not rest or rest.endswith(b"\n"):
                    break
            yield None
            continue
        yield line


class JsonLinesSource:
    """Reads a JSON-lines file (plain or gzip, ``-`` for stdin) into FlowBatches."""

    def __init__(self, address: Address, config: Mapping[str, Any], ctx: Context) -> None:
        self.address = address
        self.source = address.raw
        self.path = address.path or ""
        self.ctx = ctx
        unknown = set(address.params) - {"batch_size"}
        if unknown:
            raise ConfigError(f"{address.raw}: unknown option(s) {', '.join(sorted(unknown))}; known: batch_size")
        try:
            self.batch_size = int(address.params.get("batch_size", config.get("batch_size", 10_000)))
        except ValueError:
            raise ConfigError(f"{address.raw}: batch_size: expected an integer") from None
        if self.path != "-" and not os.path.isfile(self.path):
            raise InputError(f"input {address.raw!r}: no such file")
        if self.path != "-":
            require_format(self.path, address.raw, ("json", "gzip+json"))
        self.mapper = KeyMapper(ctx.elements)
        self.ecs = EcsFlowReader(self.mapper.registry)
        self._closed = False
        self._raw: Any = None  # the file whose position tells the progress
        self._last = 0  # its position when it was closed
        self._size = os.path.getsize(self.path) if self.path != "-" else 0

    def progress(self) -> tuple[int, int]:
        """Bytes of the (compressed) file read and its size, for the host's progress bar."""
        raw = self._raw
        if raw is None or raw.closed:
            return self._last, self._size
        try:
            return raw.tell(), self._size
        except (OSError, ValueError):
            return 0, self._size

    def _open(self) -> IO[bytes]:
        if self.path == "-":
            return sys.stdin.buffer
        fh: IO[bytes] = open(self.path, "rb")
        if fh.read(2) == b"\x1f\x8b":
            fh.close()
            gz = gzip.open(self.path, "rb")
            self._raw = gz.fileobj
            return gz  # type: ignore[return-value]  # GzipFile is a binary file object
        fh.seek(0)
        self._raw = fh
        return fh

    def batches(self) -> Iterator[FlowBatch]:
        loads = orjson.loads
        rows: list[dict[str, Any]] = []
        names: dict[str, Any] = {}  # distinct keys of ``rows``, to bound the batch's cells
        bad = 0
        skipped = 0
        lineno = 0
        fh = self._open()
        try:
            for lineno, line in enumerate(_lines(fh, MAX_LINE), 1):  # noqa: B007 (reported after the loop)
                if line is None:
                    bad += 1
                    if bad <= LOG_FIRST_BAD:
                        self.ctx.logger.warning("%s:%d: line longer than %d bytes; skipped", self.path,
                                                lineno, MAX_LINE)
                    self.ctx.stats.drop("malformed", 1, source=self.source)
                    continue
                if not line.strip():
                    continue
                try:
                    row = self._record(loads(line))
                except (orjson.JSONDecodeError, ValueError, TypeError, OverflowError) as e:
                    bad += 1
                    if bad <= LOG_FIRST_BAD:
                        self.ctx.logger.warning("%s:%d: %s", self.path, lineno, _short(e))
                    self.ctx.stats.drop("malformed", 1, source=self.source)
                    continue
                if row is None:
                    skipped += 1
                    continue
                rows.append(row)
                names.update(row)
                if len(rows) >= self.batch_size or len(rows) * len(names) >= MAX_CELLS:
                    yield self._batch(rows)
                    rows = []
                    names = {}
                    if self._closed:
                        break
        except OSError as e:  # a gzip stream cut short, a read error
            self.ctx.logger.error("%s:%d: cannot read further (%s); input ended", self.path, lineno + 1, e)
        finally:
            if fh is not sys.stdin.buffer:
                self._last = self.progress()[0]
                fh.close()
        if rows:
            yield self._batch(rows)
        if bad > LOG_FIRST_BAD:
            self.ctx.logger.warning("%s: %d malformed lines in all (first %d logged)", self.path, bad, LOG_FIRST_BAD)
        if skipped:
            self.ctx.stats.add("json non-flow records skipped", skipped)
        if self.ecs.unmapped:
            self.ctx.stats.add("json ECS netflow fields without an element", self.ecs.unmapped)
        uncached = self.mapper.uncached + self.ecs.uncached
        if uncached:
            self.ctx.stats.add("json keys resolved uncached (key cache full)", uncached)

    def _record(self, obj: Any) -> dict[str, Any] | None:
        """One line's record, or None for a record that is not a flow (skipped and counted)."""
        if not isinstance(obj, dict):
            raise ValueError(f"expected a JSON object, got {type(obj).__name__}")
        hit = obj.get("_source")
        if isinstance(hit, dict):  # an Elasticsearch hit (search results, elasticdump)
            obj = hit
        kind = obj.get("@type")
        if kind is not None and kind != "ipfix.entry":
            return None
        ecs_kind = document_kind(obj)
        if ecs_kind == "flow":
            return self.ecs.record(obj)
        if ecs_kind:
            return None
        mapper = self.mapper
        row: dict[str, Any] = {}
        for key, value in flatten(obj):
            if key[:1] == "@" or value is None:
                continue
            name, conv = mapper(key)
            if conv is not None:
                if isinstance(value, list):
                    value = [conv(v) for v in value]
                else:
                    value = conv(value)
            row[name] = value
        return row

    def _batch(self, rows: list[dict[str, Any]]) -> FlowBatch:
        """A batch of ``rows``; when every record names the same exporter it becomes the
        batch's exporter (as the binary decoders set it), otherwise the per-record column
        stays, which the event-time clock also reads."""
        batch = FlowBatch.from_rows(rows, source=self.source)
        col = batch.columns.get(EXPORTER_COLUMN)
        if col is not None and None not in col:
            first = col[0]
            if col.count(first) == len(col):
                del batch.columns[EXPORTER_COLUMN]
                batch.exporter = first
        return batch

    def close(self) -> None:
        self._closed = True


def _short(e: Exception) -> str:
    text = str(e).splitlines()[0] if str(e) else type(e).__name__
    return text[:200]


def _open(address: Address, config: Mapping[str, Any], ctx: Context) -> JsonLinesSource:
    return JsonLinesSource(address, config, ctx)


@hookimpl
def flowcep_register_inputs() -> list[InputSpec]:
    return [
        InputSpec(
            name="json",
            summary=("JSON lines from ipfixcol (ipfix.*), ipfixcol2 (iana:*, flowmon:*, cesnet:*), flowcep dump, "
                     "or ECS flow documents (flowcep run --flows, Elastic's netflow input), read back as IPFIX records"),
            schemes=("json",),
            open=_open,
            sniff=sniff_json,
            config_schema={
                "type": "object",
                "additionalProperties": False,
                "properties": {"batch_size": {"type": "integer", "minimum": 1, "description": "records per batch"}},
            },
            defaults={"batch_size": 10_000},
        )
    ]
