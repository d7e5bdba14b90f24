"""Replaying an IPFIX file to a collector (the ``ipfixsend`` equivalent).

Messages are sent as they are in the file, paced by their export times (``speed`` times
faster than recorded; 0 = as fast as possible). Looping rewrites sequence numbers so the
collector sees one continuous stream rather than a jump back at each pass, and ``retime``
shifts every dateTime field of every data record (and the export time) so the flows look
current: each message's records move by (wall time when sent - its export time). The
rewriting is done in place on the message bytes, guided by the templates seen in the file,
so everything else stays byte-identical.
"""

from __future__ import annotations

import socket
import struct
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from ..context import Context
from ..elements import Registry, default_registry
from ..errors import ConfigError, InputError
from ..specs import Address
from .collectors import StreamFramer
from .ipfix_decode import VARLEN

__all__ = ["MessageRewriter", "Replayer", "ReplayStats", "iter_messages"]

_HDR = struct.Struct(">HHIII")
_SET = struct.Struct(">HH")
_DT = {"dateTimeSeconds": "s", "dateTimeMilliseconds": "ms", "dateTimeMicroseconds": "ntp",
       "dateTimeNanoseconds": "ntp"}
UDP_MAX = 65507


def iter_messages(path: str, ctx: Context, source: str, chunk: int = 1 << 20) -> Iterator[bytes]:
    """IPFIX messages of an RFC 5655 file, streamed; damaged bytes are counted and skipped."""

    def garbage(n: int, off: int) -> None:
        ctx.stats.drop("malformed-stream", 1, source)
        ctx.logger.warning("%s: byte offset %d: %d bytes are not an IPFIX message; skipped", source, off, n)

    framer = StreamFramer(garbage)
    try:
        fp = open(path, "rb")  # noqa: SIM115 - generator owns the file
    except OSError as exc:
        raise InputError(f"{source}: cannot open: {exc.strerror}") from exc
    with fp:
        while True:
            data = fp.read(chunk)
            if not data:
                break
            framer.feed(data)
            for msg, _off in framer.messages():
                yield msg


#: a TCP send that makes no progress for this long fails the replay
_SEND_TIMEOUT = 10.0
#: how often a blocked TCP send looks for a stop (SIGINT/SIGTERM)
_STOP_CHECK = 0.5

class _Tmpl:
    __slots__ = ("reclen", "fields", "dt")

    def __init__(self, fields: list[tuple[int, str | None]]) -> None:
        self.fields = fields  # (length, dateTime kind or None)
        self.reclen = 0 if any(ln == VARLEN for ln, _ in fields) else sum(ln for ln, _ in fields)
        # (offset in record, length, kind) for fixed-length records
        self.dt: list[tuple[int, int, str]] = []
        if self.reclen:
            off = 0
            for ln, kind in fields:
                if kind is not None:
                    self.dt.append((off, ln, kind))
                off += ln


class MessageRewriter:
    """Learns templates from the messages it sees; counts records; rewrites sequence numbers,
    export time and dateTime fields in place."""

    def __init__(self, registry: Registry | None = None) -> None:
        self.registry = registry or default_registry()
        self.templates: dict[tuple[int, int], _Tmpl] = {}
        self.next_seq: dict[int, int] = {}

    def _learn(self, odid: int, buf: bytes | bytearray, pos: int, end: int, set_id: int) -> None:
        hdr = 6 if set_id == 3 else 4
        while end - pos >= 4:
            tid, count = _SET.unpack_from(buf, pos)
            if count == 0:
                pos += 4
                continue
            pos += hdr
            fields: list[tuple[int, str | None]] = []
            for _ in range(count):
                if end - pos < 4:
                    return
                eid, ln = _SET.unpack_from(buf, pos)
                pos += 4
                pen = 0
                if eid & 0x8000:
                    if end - pos < 4:
                        return
                    pen = struct.unpack_from(">I", buf, pos)[0]
                    pos += 4
                    eid &= 0x7FFF
                kind = _DT.get(self.registry.get(pen, eid).type)
                if kind == "ntp" and ln != 8 or kind in ("s", "ms") and ln not in (4, 8):
                    kind = None
                fields.append((ln, kind))
            self.templates[(odid, tid)] = _Tmpl(fields)

    def rewrite(self, msg: bytes, seq: bool = True, shift_ms: int | None = None) -> tuple[bytes, int]:
        """Return (rewritten message, data records in it)."""
        buf = bytearray(msg)
        _v, length, export, orig_seq, odid = _HDR.unpack_from(buf, 0)
        pos, end = 16, min(length, len(buf))
        records = 0
        while end - pos >= 4:
            set_id, set_len = _SET.unpack_from(buf, pos)
            if set_len < 4 or pos + set_len > end:
                break
            if set_id in (2, 3):
                self._learn(odid, buf, pos + 4, pos + set_len, set_id)
            elif set_id >= 256:
                t = self.templates.get((odid, set_id))
                if t is not None:
                    records += self._data(buf, t, pos + 4, pos + set_len, shift_ms)
            pos += set_len
        if shift_ms is not None:
            struct.pack_into(">I", buf, 4, (export + shift_ms // 1000) & 0xFFFFFFFF)
        if seq:
            cur = self.next_seq.setdefault(odid, orig_seq)
            struct.pack_into(">I", buf, 8, cur)
            self.next_seq[odid] = (cur + records) & 0xFFFFFFFF
        return bytes(buf), records

    @staticmethod
    def _patch(buf: bytearray, off: int, ln: int, kind: str, shift_ms: int) -> None:
        fmt = ">I" if ln == 4 else ">Q"
        mask = 0xFFFFFFFF if ln == 4 else 0xFFFFFFFFFFFFFFFF
        v = struct.unpack_from(fmt, buf, off)[0]
        if v == 0:
            return  # absent time stays absent
        if kind == "s":
            v += shift_ms // 1000
        elif kind == "ms":
            v += shift_ms
        else:  # NTP 32.32 fixed point
            v += (shift_ms << 32) // 1000
        struct.pack_into(fmt, buf, off, v & mask)

    def _data(self, buf: bytearray, t: _Tmpl, start: int, end: int, shift_ms: int | None) -> int:
        if t.reclen:
            n = (end - start) // t.reclen
            if shift_ms and t.dt:
                for r in range(n):
                    base = start + r * t.reclen
                    for off, ln, kind in t.dt:
                        self._patch(buf, base + off, ln, kind, shift_ms)
            return n
        min_len = sum(1 if ln == VARLEN else ln for ln, _ in t.fields)
        n = 0
        pos = start
        while min_len and end - pos >= min_len:
            for ln, fkind in t.fields:
                if ln == VARLEN:
                    if pos >= end:
                        return n
                    ln = buf[pos]
                    pos += 1
                    if ln == 255:
                        if pos + 2 > end:
                            return n
                        ln = (buf[pos] << 8) | buf[pos + 1]
                        pos += 2
                elif fkind is not None and shift_ms and pos + ln <= end:
                    self._patch(buf, pos, ln, fkind, shift_ms)
                pos += ln
            if pos > end:
                return n
            n += 1
        return n


@dataclass
class ReplayStats:
    messages: int = 0
    records: int = 0
    bytes: int = 0
    loops: int = 0
    skipped: int = 0
    errors: list[str] = field(default_factory=list)


class Replayer:
    """Sends an IPFIX file's messages to ``ipfix+udp://`` or ``ipfix+tcp://``."""

    def __init__(self, path: str, to: Address, ctx: Context, *, speed: float = 1.0,
                 loops: int = 1, retime: bool = False) -> None:
        if to.scheme not in ("ipfix+udp", "ipfix+tcp"):
            raise ConfigError(f"--to {to.raw!r}: expected ipfix+udp://HOST:PORT or ipfix+tcp://HOST:PORT")
        if speed < 0:
            raise ConfigError("--speed must be 0 (no pacing) or more")
        self.path = path
        self.to = to
        self.ctx = ctx
        self.speed = speed
        self.loops = loops  # 0 = forever
        self.retime = retime
        self.stats = ReplayStats()
        self.source = f"replay:{path}"

    def _connect(self) -> socket.socket:
        host, port = self.to.host or "127.0.0.1", self.to.port or 4739
        try:
            if self.to.scheme == "ipfix+tcp":
                s = socket.create_connection((host, port), timeout=_SEND_TIMEOUT)
                s.settimeout(_STOP_CHECK)  # sends wake up to see a stop (_send_stream)
                return s
            family = socket.AF_INET6 if ":" in host else socket.AF_INET
            s = socket.socket(family, socket.SOCK_DGRAM)
            s.connect((host, port))
            return s
        except OSError as exc:
            raise InputError(f"replay: cannot connect to {self.to.raw}: {exc.strerror or exc}") from exc

    def _wait(self, target: float, stop: threading.Event | None) -> bool:
        while True:
            left = target - time.monotonic()
            if left <= 0:
                return True
            if stop is not None:
                if stop.wait(min(left, 0.5)):
                    return False
            else:
                time.sleep(min(left, 0.5))

    @staticmethod
    def _send_stream(sock: socket.socket, msg: bytes, stop: threading.Event | None) -> bool:
        """``sendall`` that a stop interrupts: a collector that stopped reading fills the socket
        buffer, and a blocked send must not hold a SIGTERM. No progress for ``_SEND_TIMEOUT``
        is an error (``TimeoutError``), as a blocking send with that timeout was. False: stopped."""
        view = memoryview(msg)
        last = time.monotonic()
        while view:
            if stop is not None and stop.is_set():
                return False
            try:
                sent = sock.send(view)
            except TimeoutError:
                if time.monotonic() - last > _SEND_TIMEOUT:
                    raise
                continue
            view = view[sent:]
            last = time.monotonic()
        return True

    def run(self, stop: threading.Event | None = None) -> ReplayStats:
        rewriter = MessageRewriter(self.ctx.elements if isinstance(self.ctx.elements, Registry) else None)
        rewrite = self.retime or self.loops != 1
        udp = self.to.scheme == "ipfix+udp"
        sock = self._connect()
        st = self.stats
        try:
            while (self.loops == 0 or st.loops < self.loops) and not (stop and stop.is_set()):
                wall0: float | None = None
                export0 = 0
                sent_any = False
                for msg in iter_messages(self.path, self.ctx, self.source):
                    if stop is not None and stop.is_set():
                        return st
                    export = _HDR.unpack_from(msg, 0)[2]
                    if wall0 is None:
                        wall0, export0 = time.monotonic(), export
                    elif self.speed > 0:
                        delta = (export - export0) / self.speed
                        if delta > 0 and not self._wait(wall0 + delta, stop):
                            return st
                    shift = int(time.time() * 1000) - export * 1000 if self.retime else None
                    out, n = rewriter.rewrite(msg, seq=rewrite, shift_ms=shift)
                    if rewrite:
                        msg = out
                    if udp and len(msg) > UDP_MAX:
                        st.skipped += 1
                        self.ctx.stats.drop("too-large-for-udp", 1, self.source)
                        continue
                    try:
                        if udp:
                            sock.send(msg)
                        elif not self._send_stream(sock, msg, stop):
                            return st
                    except OSError as exc:
                        if udp and isinstance(exc, ConnectionRefusedError):
                            st.skipped += 1  # nobody listening yet; UDP carries on
                            continue
                        raise InputError(f"replay: sending to {self.to.raw} failed: {exc.strerror or exc}") from exc
                    sent_any = True
                    st.messages += 1
                    st.records += n
                    st.bytes += len(msg)
                st.loops += 1
                if not sent_any:
                    break
        finally:
            sock.close()
        return st

    def summary(self) -> dict[str, Any]:
        s = self.stats
        return {"messages": s.messages, "records": s.records, "bytes": s.bytes, "loops": s.loops,
                "skipped": s.skipped}
