"""Writing IPFIX files (RFC 5655 layout: IPFIX messages back to back).

Used to produce samples (synthetic traffic, tests, ``flowcep replay --retime``). Every message
is at most 65,535 bytes; the template set is written in the first message and again in the
next message after a template is added; sequence numbers count the data records sent before
each message in its observation domain, as RFC 7011 3.1 requires.
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Callable
from typing import Any, BinaryIO

from .elements import Registry, default_registry
from .inputs.ipfix_decode import NTP_EPOCH_OFFSET, VARLEN

__all__ = ["IPFIXWriter", "MAX_MESSAGE"]

MAX_MESSAGE = 65535
_HDR = struct.Struct(">HHIII")
_SET = struct.Struct(">HH")

Encoder = Callable[[Any, int], bytes]


def _enc_uint(v: Any, ln: int) -> bytes:
    return int(v or 0).to_bytes(ln, "big")


def _enc_sint(v: Any, ln: int) -> bytes:
    return int(v or 0).to_bytes(ln, "big", signed=True)


def _enc_ipv4(v: Any, ln: int) -> bytes:
    return socket.inet_aton(v) if v else bytes(ln)


def _enc_ipv6(v: Any, ln: int) -> bytes:
    return socket.inet_pton(socket.AF_INET6, v) if v else bytes(ln)


def _enc_mac(v: Any, ln: int) -> bytes:
    return bytes.fromhex(v.replace(":", "").replace("-", "")) if v else bytes(ln)


def _enc_bytes(v: Any, ln: int) -> bytes:
    if v is None:
        return b""
    return v.encode("utf-8") if isinstance(v, str) else bytes(v)


def _enc_float(v: Any, ln: int) -> bytes:
    return struct.pack(">f" if ln == 4 else ">d", float(v or 0.0))


def _enc_bool(v: Any, ln: int) -> bytes:
    return b"\x01" if v else b"\x02"


def _enc_ntp(scale: int) -> Encoder:
    def enc(v: Any, ln: int) -> bytes:
        secs, rem = divmod(int(v or 0), scale)
        frac = ((rem << 32) + scale // 2) // scale
        return (((secs + NTP_EPOCH_OFFSET) << 32) + frac).to_bytes(8, "big")
    return enc


def _encoder(typ: str) -> Encoder:
    if typ.startswith("unsigned") or typ in ("dateTimeSeconds", "dateTimeMilliseconds"):
        return _enc_uint
    if typ.startswith("signed"):
        return _enc_sint
    return {
        "ipv4Address": _enc_ipv4, "ipv6Address": _enc_ipv6, "macAddress": _enc_mac,
        "float32": _enc_float, "float64": _enc_float, "boolean": _enc_bool,
        "dateTimeMicroseconds": _enc_ntp(1_000_000), "dateTimeNanoseconds": _enc_ntp(1_000_000_000),
    }.get(typ, _enc_bytes)


class _Tmpl:
    __slots__ = ("tid", "spec_bytes", "fields")

    def __init__(self, tid: int, spec_bytes: bytes, fields: list[tuple[Encoder, int]]) -> None:
        self.tid = tid
        self.spec_bytes = spec_bytes
        self.fields = fields


class IPFIXWriter:
    """Writes IPFIX messages to a binary file object.

    ``add_template(tid, [(element name, length), ...])`` names elements as the registry does
    (enterprise elements included; length 65535 = variable length). ``write(tid, rows,
    export_time)`` writes the rows (tuples in field order; None = zero/empty) in as many
    messages as needed.
    """

    def __init__(self, fp: BinaryIO, observation_domain: int = 0, registry: Registry | None = None) -> None:
        self.fp = fp
        self.odid = observation_domain
        self.registry = registry or default_registry()
        self.templates: dict[int, _Tmpl] = {}
        self.sequence = 0
        self._unsent: list[int] = []
        self.messages = 0

    def add_template(self, template_id: int, fields: list[tuple[str, int]]) -> None:
        """Define (or redefine) a template; it is sent before the next data written."""
        if not 256 <= template_id <= 65535:
            raise ValueError(f"template id {template_id} must be 256..65535")
        spec = bytearray(struct.pack(">HH", template_id, len(fields)))
        encs: list[tuple[Encoder, int]] = []
        for name, length in fields:
            el = self.registry.by_name(name)
            if el is None:
                raise ValueError(f"unknown information element {name!r}")
            if el.pen:
                spec += struct.pack(">HHI", el.id | 0x8000, length, el.pen)
            else:
                spec += struct.pack(">HH", el.id, length)
            encs.append((_encoder(el.type), length))
        self.templates[template_id] = _Tmpl(template_id, bytes(spec), encs)
        if template_id not in self._unsent:
            self._unsent.append(template_id)

    def _encode(self, t: _Tmpl, row: tuple[Any, ...]) -> bytes:
        out = bytearray()
        for (enc, ln), v in zip(t.fields, row, strict=True):
            b = enc(v, ln)
            if ln == VARLEN:
                if len(b) < 255:
                    out.append(len(b))
                else:
                    out += b"\xff" + struct.pack(">H", min(len(b), 65535))
                    b = b[:65535]
                out += b
            elif len(b) != ln:
                # strings/octets pad with NULs or cut; integers were sized already
                out += b[:ln].ljust(ln, b"\x00")
            else:
                out += b
        return bytes(out)

    def _template_set(self) -> bytes:
        if not self._unsent:
            return b""
        body = b"".join(self.templates[t].spec_bytes for t in self._unsent)
        self._unsent = []
        return _SET.pack(2, 4 + len(body)) + body

    def _emit(self, sets: bytes, n_records: int, export_time: int) -> None:
        length = 16 + len(sets)
        self.fp.write(_HDR.pack(10, length, export_time & 0xFFFFFFFF, self.sequence, self.odid) + sets)
        self.sequence = (self.sequence + n_records) & 0xFFFFFFFF
        self.messages += 1

    def write(self, template_id: int, rows: list[tuple[Any, ...]], export_time: int) -> None:
        """Write data records of one template, split into messages of at most 65,535 bytes."""
        t = self.templates.get(template_id)
        if t is None:
            raise ValueError(f"template {template_id} was not added")
        tset = self._template_set()
        if len(tset) + 16 > MAX_MESSAGE:
            raise ValueError("template set does not fit in one IPFIX message")
        recs: list[bytes] = []
        size = 16 + len(tset) + 4
        for row in rows:
            rec = self._encode(t, row)
            if 16 + 4 + len(rec) > MAX_MESSAGE:
                raise ValueError("one record does not fit in an IPFIX message")
            if size + len(rec) > MAX_MESSAGE and (recs or tset):
                self._flush_records(tset, template_id, recs, export_time)
                tset, recs, size = b"", [], 16 + 4
            recs.append(rec)
            size += len(rec)
        if recs or tset:
            self._flush_records(tset, template_id, recs, export_time)

    def _flush_records(self, tset: bytes, tid: int, recs: list[bytes], export_time: int) -> None:
        data = b""
        if recs:
            body = b"".join(recs)
            data = _SET.pack(tid, 4 + len(body)) + body
        self._emit(tset + data, len(recs), export_time)

    def flush(self) -> None:
        self.fp.flush()
