"""IPFIX inputs: RFC 5655 files (``ipfix-file:PATH``) and collectors (``ipfix+udp://``,
``ipfix+tcp://``).

A file is read in chunks and split into messages by their length field, so memory stays flat
whatever the file size; records of the same template are decoded together in batches of
``batch_size``. Damaged bytes in a file are counted and skipped to the next plausible
message header, with one warning naming the file and byte offset.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from typing import Any

from ..addresses import DEFAULT_BIND
from ..config import DURATION_SCHEMA, parse_duration
from ..context import Context
from ..errors import ConfigError, InputError
from ..hookspecs import hookimpl
from ..records import FlowBatch
from ..specs import Address, InputSpec
from .collectors import StreamFramer, TCPCollector, UDPCollector
from .exposure import parse_allow
from .ipfix_decode import MessageDecoder
from .limits import DecoderLimits
from .sniff import require_format

__all__ = ["IPFIXFileSource", "flowcep_register_inputs", "sniff_ipfix", "udp_options", "tcp_options"]

CHUNK = 1 << 20

APPLY_SAMPLING: dict[str, Any] = {
    "type": ["boolean", "string"],
    "description": "multiply packet and byte counts by the exporter's sampling rate"}
FILE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "batch_size": {"type": "integer", "minimum": 1, "description": "records per batch"},
        "apply_sampling": APPLY_SAMPLING,
    },
    "additionalProperties": False,
}
_ALLOW = {"type": ["array", "string", "null"], "items": {"type": "string"},
          "description": "exporter networks allowed to send (CIDR list); others are dropped as "
                         "unauthorized-exporter. Default: anyone who can reach the port"}
_LIMITS: dict[str, Any] = {
    "max_sessions": {"type": "integer", "minimum": 1,
                     "description": "exporter sessions (source address+port, observation domain) kept"},
    "max_templates": {"type": "integer", "minimum": 1, "description": "templates per exporter session"},
    "max_fields": {"type": "integer", "minimum": 1, "description": "fields per template; longer ones are refused"},
    "max_template_bytes": {"type": "integer", "minimum": 65536,
                           "description": "estimated memory of all templates of this input"},
    "max_message": {"type": "integer", "minimum": 16, "maximum": 65535,
                    "description": "largest message accepted, bytes"},
}
_LIMIT_DEFAULTS: dict[str, Any] = {"max_sessions": 4096, "max_templates": 1024, "max_fields": 512,
                                   "max_template_bytes": 64 << 20, "max_message": 65535, "allow": None,
                                   "apply_sampling": False}
UDP_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "batch_size": {"type": "integer", "minimum": 1, "description": "records per batch"},
        "template_cache": {"type": ["string", "null"],
                           "description": "JSON file where templates persist across restarts"},
        "template_lifetime": {**DURATION_SCHEMA,
                              "description": "UDP templates expire unless refreshed within this time"},
        "rcvbuf": {"type": "integer", "minimum": 65536, "description": "UDP socket receive buffer bytes"},
        "idle": {**DURATION_SCHEMA, "description": "empty-batch tick when no data arrives"},
        "max_buffered_bytes": {"type": "integer", "minimum": 0,
                               "description": "bytes of data held while waiting for templates"},
        "session_timeout": {**DURATION_SCHEMA,
                            "description": "exporter sessions silent this long are forgotten"},
        "allow": _ALLOW,
        "apply_sampling": APPLY_SAMPLING,
        **_LIMITS,
    },
    "additionalProperties": False,
}
TCP_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "batch_size": {"type": "integer", "minimum": 1, "description": "records per batch"},
        "idle": {**DURATION_SCHEMA, "description": "empty-batch tick when no data arrives"},
        "max_garbage": {"type": "integer", "minimum": 16,
                        "description": "bytes of garbage after which a TCP connection is closed"},
        "max_buffered_bytes": {"type": "integer", "minimum": 0,
                               "description": "bytes of data held while waiting for templates"},
        "max_connections": {"type": "integer", "minimum": 1,
                            "description": "open connections; at the cap the oldest that never "
                                           "delivered a message (else the most idle) is closed"},
        "max_connections_per_source": {"type": "integer", "minimum": 1,
                                       "description": "open connections from one address"},
        "idle_timeout": {**DURATION_SCHEMA, "description": "close a connection silent this long"},
        "partial_timeout": {**DURATION_SCHEMA,
                            "description": "close a connection holding an incomplete message this long"},
        "allow": _ALLOW,
        "apply_sampling": APPLY_SAMPLING,
        **_LIMITS,
    },
    "additionalProperties": False,
}
FILE_DEFAULTS: dict[str, Any] = {"batch_size": 8192, "apply_sampling": False}
UDP_DEFAULTS = {"batch_size": 8192, "template_cache": None, "template_lifetime": "30 min",
                "rcvbuf": 32 << 20, "idle": 0.5, "max_buffered_bytes": 4 << 20,
                "session_timeout": "30 min", **_LIMIT_DEFAULTS}
TCP_DEFAULTS = {"batch_size": 8192, "idle": 0.5, "max_garbage": 1 << 16, "max_buffered_bytes": 4 << 20,
                "max_connections": 256, "max_connections_per_source": 32, "idle_timeout": "1 h",
                "partial_timeout": "30 s", **_LIMIT_DEFAULTS}


def sniff_ipfix(head: bytes) -> bool:
    """An RFC 5655 file starts with an IPFIX message header: version 10."""
    return len(head) >= 2 and head[:2] == b"\x00\x0a"


def _merged(address: Address, config: Mapping[str, Any], defaults: Mapping[str, Any]) -> dict[str, Any]:
    """Spec defaults, then the config section, then ``?key=value`` address options."""
    out = dict(defaults)
    out.update({k: v for k, v in config.items() if k in defaults or k == "batch_size"})
    for k, v in address.params.items():
        if k not in defaults:
            raise ConfigError(f"address {address.raw!r}: unknown option {k!r}; known: {', '.join(defaults)}")
        default = defaults[k]
        try:
            out[k] = int(v) if isinstance(default, int) and not isinstance(default, bool) else v
        except ValueError as exc:
            raise ConfigError(f"address {address.raw!r}: option {k}={v!r} is not a number") from exc
    return out


def flag(value: Any, what: str) -> bool:
    """A yes/no option from TOML (bool) or an address (``true``/``false``/``1``/``0``)."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off", ""):
        return False
    raise ConfigError(f"{what}: expected true or false, got {value!r}")


def _duration(value: Any, what: str) -> float | None:
    if value is None:
        return None
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise ConfigError(f"{what}: {exc}") from exc


class IPFIXFileSource:
    """Streams an IPFIX file (messages back to back) as FlowBatches."""

    def __init__(self, path: str, ctx: Context, source: str | None = None, batch_size: int = 8192,
                 *, apply_sampling: bool = False) -> None:
        self.path = path
        self.ctx = ctx
        self.source = source or f"ipfix-file:{path}"
        self.batch_size = batch_size
        self._closed = False
        if not os.path.isfile(path):
            raise InputError(f"{self.source}: no such file")
        require_format(path, self.source, ("ipfix",), strict=True)
        self.decoder = MessageDecoder(ctx, self.source, transport="file", apply_sampling=apply_sampling)
        self._size = os.path.getsize(path)
        self._done = 0

    def progress(self) -> tuple[int, int]:
        """Bytes read and file size, for the host's progress bar."""
        return self._done, self._size

    def _garbage(self, n: int, offset: int) -> None:
        self.ctx.stats.drop("malformed-stream", 1, self.source)
        self.ctx.stats.add("input.garbage_bytes", n)
        self.ctx.logger.warning("%s: byte offset %d: %d bytes are not an IPFIX message; skipped",
                                self.source, offset, n)

    def batches(self) -> Iterator[FlowBatch]:
        decoder = self.decoder
        framer = StreamFramer(self._garbage)
        exporter = self.path
        try:
            fp = open(self.path, "rb")  # noqa: SIM115 - closed in finally; generator lifetime
        except OSError as exc:
            raise InputError(f"{self.source}: cannot open: {exc.strerror}") from exc
        try:
            while not self._closed:
                chunk = fp.read(CHUNK)
                if not chunk:
                    break
                self._done += len(chunk)
                framer.feed(chunk)
                for run, _off in framer.runs():
                    at, size = 0, len(run)
                    starts = framer.run_starts
                    while at < size:  # batches end after the message that fills them
                        at = decoder.feed(run, exporter, at, self.batch_size, starts)
                        if decoder.pending_records >= self.batch_size:
                            yield from self._out()
                if decoder.buffered():
                    yield from self._out()
            if framer.pending and bytes(framer.buf[:2]) != b"\x00\x0a":
                # the tail of a garbage run the framer kept while looking for a header
                self.ctx.stats.add("input.garbage_bytes", framer.pending)
            elif framer.pending:
                self.ctx.stats.drop("malformed-message", 1, self.source)
                self.ctx.logger.warning("%s: byte offset %d: file ends inside a message (%d bytes)",
                                        self.source, framer.offset, framer.pending)
            decoder.close()
            yield from self._out()
        finally:
            fp.close()

    def _out(self) -> list[FlowBatch]:
        return self.decoder.flush(merged=True)  # the host counts the "input" stage; the decoder "decode"

    def close(self) -> None:
        self._closed = True


def _open_file(address: Address, config: Mapping[str, Any], ctx: Context) -> IPFIXFileSource:
    opts = _merged(address, config, FILE_DEFAULTS)
    if not address.path:
        raise ConfigError(f"address {address.raw!r}: expected ipfix-file:PATH")
    return IPFIXFileSource(address.path, ctx, address.raw, int(opts["batch_size"]),
                           apply_sampling=flag(opts["apply_sampling"], f"{address.raw}: apply_sampling"))


def _positive(opts: Mapping[str, Any], key: str, where: str, low: int = 1, high: int | None = None) -> int:
    try:
        value = int(opts[key])
    except (TypeError, ValueError):
        raise ConfigError(f"{where}: {key}: expected an integer, got {opts[key]!r}") from None
    if value < low or (high is not None and value > high):
        bound = f"{low}..{high}" if high is not None else f"at least {low}"
        raise ConfigError(f"{where}: {key}: expected {bound}, got {value}")
    return value


def _limits(opts: Mapping[str, Any], where: str, session_timeout: float | None) -> dict[str, Any]:
    """The options every collector shares: state limits, message size, allow list."""
    return {
        "limits": DecoderLimits(
            max_sessions=_positive(opts, "max_sessions", where),
            max_templates=_positive(opts, "max_templates", where),
            max_fields=_positive(opts, "max_fields", where),
            max_template_bytes=_positive(opts, "max_template_bytes", where, 65536),
            session_timeout=session_timeout),
        "max_message": _positive(opts, "max_message", where, 16, 65535),
        "allow": parse_allow(opts["allow"], where),
        "apply_sampling": flag(opts["apply_sampling"], f"{where}: apply_sampling"),
    }


def udp_options(address: Address, config: Mapping[str, Any]) -> dict[str, Any]:
    opts = _merged(address, config, UDP_DEFAULTS)
    where = address.raw
    return {
        "batch_size": int(opts["batch_size"]),
        "template_cache": opts["template_cache"] or None,
        "template_lifetime": _duration(opts["template_lifetime"], f"{where}: template_lifetime"),
        "rcvbuf": int(opts["rcvbuf"]),
        "idle": _duration(opts["idle"], f"{where}: idle") or 0.5,
        "max_buffered_bytes": int(opts["max_buffered_bytes"]),
        **_limits(opts, where, _duration(opts["session_timeout"], f"{where}: session_timeout")),
    }


def tcp_options(address: Address, config: Mapping[str, Any]) -> dict[str, Any]:
    opts = _merged(address, config, TCP_DEFAULTS)
    where = address.raw
    return {
        "batch_size": int(opts["batch_size"]),
        "idle": _duration(opts["idle"], f"{where}: idle") or 0.5,
        "max_garbage": int(opts["max_garbage"]),
        "max_buffered_bytes": int(opts["max_buffered_bytes"]),
        "max_connections": _positive(opts, "max_connections", where),
        "max_connections_per_source": _positive(opts, "max_connections_per_source", where),
        "idle_timeout": _duration(opts["idle_timeout"], f"{where}: idle_timeout"),
        "partial_timeout": _duration(opts["partial_timeout"], f"{where}: partial_timeout"),
        **_limits(opts, where, None),
    }


def _host_port(address: Address, default_port: int) -> tuple[str, int]:
    return address.host or DEFAULT_BIND, default_port if address.port is None else address.port


def _open_udp(address: Address, config: Mapping[str, Any], ctx: Context) -> UDPCollector:
    host, port = _host_port(address, 4739)
    return UDPCollector(ctx, address.raw, host, port, **udp_options(address, config))


def _open_tcp(address: Address, config: Mapping[str, Any], ctx: Context) -> TCPCollector:
    host, port = _host_port(address, 4739)
    return TCPCollector(ctx, address.raw, host, port, **tcp_options(address, config))


@hookimpl
def flowcep_register_inputs() -> list[InputSpec]:
    return [
        InputSpec(name="ipfix-file",
                  summary="IPFIX file (RFC 5655: messages back to back), streamed",
                  schemes=("ipfix-file",), open=_open_file, sniff=sniff_ipfix,
                  config_schema=FILE_SCHEMA, defaults=FILE_DEFAULTS),
        InputSpec(name="ipfix+udp",
                  summary="IPFIX (and NetFlow v5/v9) collector on UDP, default port 4739",
                  schemes=("ipfix+udp",), open=_open_udp, live=True,
                  config_schema=UDP_SCHEMA, defaults=UDP_DEFAULTS),
        InputSpec(name="ipfix+tcp",
                  summary="IPFIX collector on TCP (several exporters, reconnects), default port 4739",
                  schemes=("ipfix+tcp",), open=_open_tcp, live=True,
                  config_schema=TCP_SCHEMA, defaults=TCP_DEFAULTS),
    ]
