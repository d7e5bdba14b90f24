"""Network collectors (UDP, TCP) and the IPFIX stream framer shared with file inputs.

Collectors are Sources: ``batches()`` yields decoded FlowBatches until ``close()``; when no
data arrives they yield an empty batch about every ``idle`` seconds, so the host can advance
the watermark by wall clock. Decoding is done by one ``MessageDecoder`` per collector;
exporters are told apart by their transport session (``host:port``), so templates of two
exporters never mix.

UDP: the receive buffer is raised (``rcvbuf``) because bursts overflow the default in
milliseconds; where Linux offers ``SO_RXQ_OVFL`` the kernel's count of datagrams dropped on
this socket is read from each datagram's ancillary data and reported as a gauge. Each pass
reads up to 4096 datagrams straight into one 1 MiB buffer and then decodes them, a stretch of
one exporter's whole-message IPFIX datagrams as one run (cheaper per record; see
``MessageDecoder.feed``), anything else one datagram at a time.

TCP: IPFIX over TCP is a byte stream framed by the message length field (RFC 7011 10.4.1).
Several exporters may connect at once and reconnect at will; a reconnect is a new transport
session, so its templates start empty (RFC 7011 10.4.2). Garbage on the stream is counted and
the framer looks for the next plausible message header; a connection that produces nothing
plausible for ``max_garbage`` bytes is closed.

Exposure and bounds (docs/operations.md): an ``allow`` list drops other exporters before
decoding (``unauthorized-exporter``); messages longer than ``max_message`` are dropped (UDP) or
close the connection (TCP); TCP connections are capped in total and per source, making room by
closing connections that never delivered a message first, and time out when idle or stuck
mid-message. On stop, both collectors decode what the kernel still holds before closing.
"""

from __future__ import annotations

import errno
import os
import selectors
import socket
import struct
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

from ..context import Context
from ..errors import InputError
from ..records import FlowBatch
from .exposure import AllowList, Network
from .ipfix_decode import MessageDecoder
from .limits import DecoderLimits
from .template_cache import TemplateCache

__all__ = ["StreamFramer", "UDPCollector", "TCPCollector", "SO_RXQ_OVFL"]

#: Linux value of SO_RXQ_OVFL (not exported by the socket module on every Python build).
SO_RXQ_OVFL: int | None = getattr(socket, "SO_RXQ_OVFL", 40 if sys.platform.startswith("linux") else None)

_HDR = struct.Struct(">HH")


def _plausible(buf: bytes | bytearray, i: int) -> bool:
    """Whether an IPFIX message header can start at ``i`` (used to resynchronise)."""
    if len(buf) - i < 4:
        return True  # undecided yet; wait for more bytes
    version, length = _HDR.unpack_from(buf, i)
    if version != 10 or length < 16:
        return False
    if length > 16 and len(buf) - i >= 20:
        set_id, set_len = _HDR.unpack_from(buf, i + 16)
        if not (set_id in (2, 3) or set_id >= 256) or not 4 <= set_len <= length - 16:
            return False
    return True


class StreamFramer:
    """Splits an IPFIX byte stream (TCP, RFC 5655 file) into messages.

    ``feed(bytes)`` then iterate ``messages()``; bytes that cannot start a message are skipped
    up to the next plausible header and reported through ``on_garbage(n_bytes, offset)``.
    ``offset`` counts bytes since the start of the stream, for error messages.
    """

    def __init__(self, on_garbage: Callable[[int, int], None]) -> None:
        self.buf = bytearray()
        self.offset = 0  # stream offset of buf[0]
        self.on_garbage = on_garbage
        self.garbage_run = 0
        #: after ``runs()`` yields a run: the offset of each of its messages in it
        self.run_starts: list[int] = []

    def feed(self, data: bytes) -> None:
        self.buf += data

    def messages(self) -> Iterator[tuple[bytes, int]]:
        """Complete messages with their stream offsets; partial ones stay buffered."""
        buf = self.buf
        pos = 0
        n = len(buf)
        while n - pos >= 4:
            version, length = _HDR.unpack_from(buf, pos)
            if version != 10 or length < 16 or (self.garbage_run and not _plausible(buf, pos)):
                skip = self._resync(buf, pos + 1)
                self.garbage_run += skip - pos
                self.on_garbage(skip - pos, self.offset + pos)
                pos = skip
                continue
            if n - pos < length:
                break
            self.garbage_run = 0
            yield bytes(buf[pos:pos + length]), self.offset + pos
            pos += length
        if pos:
            del buf[:pos]
            self.offset += pos

    def runs(self) -> Iterator[tuple[bytes, int]]:
        """Complete messages as runs of messages back to back, with the stream offset of
        each run's first byte: the same messages, garbage reports and resynchronisation as
        ``messages()``, but one copy per run instead of one per message (a file decoder
        walks the run itself with ``MessageDecoder.feed(run, exporter, start, limit,
        starts)``, where ``starts`` is ``run_starts``: the offsets of the run's messages,
        found here once so the decoder need not walk their length fields again)."""
        buf = self.buf
        pos = run = 0
        n = len(buf)
        unpack = _HDR.unpack_from
        starts: list[int] = []  # where each message of the run begins (in buf)
        while n - pos >= 4:
            version, length = unpack(buf, pos)
            if version != 10 or length < 16 or (self.garbage_run and not _plausible(buf, pos)):
                if pos > run:
                    self.run_starts = [s - run for s in starts]
                    yield bytes(buf[run:pos]), self.offset + run
                starts = []
                skip = self._resync(buf, pos + 1)
                self.garbage_run += skip - pos
                self.on_garbage(skip - pos, self.offset + pos)
                pos = run = skip
                continue
            if n - pos < length:
                break
            if self.garbage_run:
                self.garbage_run = 0
            starts.append(pos)
            pos += length
            # the common case, a message after a message, without the checks above
            while n - pos >= 4 and buf[pos] == 0 and buf[pos + 1] == 10:
                length = (buf[pos + 2] << 8) | buf[pos + 3]
                if length < 16 or n - pos < length:
                    break
                starts.append(pos)
                pos += length
        if pos > run:
            self.run_starts = [s - run for s in starts] if run else starts
            yield bytes(buf[run:pos]), self.offset + run
        if pos:
            del buf[:pos]
            self.offset += pos

    @staticmethod
    def _resync(buf: bytearray, start: int) -> int:
        i = start
        while True:
            i = buf.find(b"\x00\x0a", i)
            if i < 0:
                # keep a last byte: it may be the first half of a header
                return max(start, len(buf) - 1)
            if _plausible(buf, i):
                return i
            i += 1

    @property
    def pending(self) -> int:
        return len(self.buf)


def _empty(source: str) -> FlowBatch:
    return FlowBatch({}, 0, source)


class _Collector:
    """Shared decoder, batching, idle ticks and template cache handling."""

    def __init__(self, ctx: Context, source: str, decoder: MessageDecoder, batch_size: int,
                 idle: float, template_cache: str | None) -> None:
        self.ctx = ctx
        self.source = source
        self.decoder = decoder
        self.batch_size = batch_size
        self.idle = idle
        self._closed = False
        self.cache = TemplateCache(template_cache) if template_cache else None
        if self.cache is not None:
            n = decoder.import_templates(self.cache.load())
            if n:
                ctx.logger.info("%s: %d templates loaded from %s", source, n, self.cache.path)
                ctx.stats.add("input.templates_from_cache", n)

    def _save_templates(self, force: bool = False) -> None:
        if self.cache is not None and (self.decoder.templates_changed or force):
            try:
                if self.cache.save(self.decoder.export_templates(), force=force):
                    self.decoder.templates_changed = False
            except OSError as exc:
                self.ctx.stats.plugin_error("template-cache", f"{self.cache.path}: {exc}")

    def _out(self) -> list[FlowBatch]:
        out = self.decoder.flush(merged=True)
        self._save_templates()
        return out  # the host counts the "input" stage; the decoder counts "decode"

    def close(self) -> None:
        self._closed = True


#: Largest message accepted: the IPFIX/NetFlow length fields are 16 bits.
MAX_MESSAGE = 65535
#: Bytes of datagrams a UDP collector reads before decoding them (the receive buffer ring)
_RING_BYTES = 1 << 20


def _name(addr: Any) -> str:
    return f"[{addr[0]}]:{addr[1]}" if ":" in addr[0] else f"{addr[0]}:{addr[1]}"


class UDPCollector(_Collector):
    """IPFIX / NetFlow v5 / v9 over UDP (one datagram = one message).

    On ``close()`` the socket is read until the kernel has nothing left (bounded by the
    receive buffer), so datagrams that arrived before the stop are decoded and counted rather
    than lost in the kernel when the socket closes.
    """

    def __init__(self, ctx: Context, source: str, host: str, port: int, *, batch_size: int = 8192,
                 idle: float = 0.5, rcvbuf: int = 32 << 20, template_lifetime: float | None = 1800.0,
                 template_cache: str | None = None, max_buffered_bytes: int = 4 << 20,
                 allow: list[Network] | None = None, max_message: int = MAX_MESSAGE,
                 limits: DecoderLimits | None = None, apply_sampling: bool = False) -> None:
        decoder = MessageDecoder(ctx, source, transport="udp", template_lifetime=template_lifetime,
                                 max_buffered_bytes=max_buffered_bytes, limits=limits,
                                 apply_sampling=apply_sampling)
        super().__init__(ctx, source, decoder, batch_size, idle, template_cache)
        self.allowed = AllowList(allow)
        self.max_message = max_message
        self.drained = 0
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
            # SO_RCVBUFFORCE lifts net.core.rmem_max when we are allowed to (root/CAP_NET_ADMIN)
            force = getattr(socket, "SO_RCVBUFFORCE", 33 if sys.platform.startswith("linux") else None)
            if force is not None:
                try:
                    self.sock.setsockopt(socket.SOL_SOCKET, force, rcvbuf)
                except OSError:
                    pass
            self.rxq_ovfl = False
            if SO_RXQ_OVFL is not None:
                try:
                    self.sock.setsockopt(socket.SOL_SOCKET, SO_RXQ_OVFL, 1)
                    self.rxq_ovfl = True
                except OSError:
                    pass
            self.sock.bind((host, port))
        except OSError as exc:
            self.sock.close()
            raise InputError(f"{source}: cannot listen on UDP {host}:{port}: {exc.strerror or exc}") from exc
        self.sock.setblocking(False)
        self.address: tuple[str, int] = self.sock.getsockname()[:2]
        self.rcvbuf = self.sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
        ctx.stats.gauge(f"udp_rcvbuf[{source}]", self.rcvbuf)
        if host in ("0.0.0.0", "::") and allow is None:
            ctx.logger.warning("%s: listening on every interface with no allow list: any host that "
                               "reaches port %d can feed records; add ?allow=NETWORKS", source, port)
        self.kernel_drops = 0
        self.datagrams = 0
        self._inode: str | None = None
        if sys.platform.startswith("linux"):
            try:
                self._inode = str(os.fstat(self.sock.fileno()).st_ino)
            except OSError:
                pass
        self._proc_checked = 0.0

    def batches(self) -> Iterator[FlowBatch]:
        sel = selectors.DefaultSelector()
        sel.register(self.sock, selectors.EVENT_READ)
        decoder = self.decoder
        sock = self.sock
        names: dict[Any, str] = {}
        last_yield = time.monotonic()
        cmsg_size = socket.CMSG_SPACE(4)
        # Datagrams are received straight into one buffer, back to back (recvmsg_into: no
        # bytes object per datagram); a stretch of IPFIX datagrams from one exporter, each
        # exactly one whole message, is then decoded as one run of messages, which lets the
        # decoder take plain stretches with numpy (MessageDecoder.feed with a limit cuts the
        # batches after the same message as datagram-by-datagram feeding would).
        ring = bytearray(_RING_BYTES)
        view = memoryview(ring)
        try:
            while not self._closed:
                got = 0
                fill = 0
                stretches: list[tuple[int, int, str, bool]] = []  # start, end, exporter, run
                firsts: list[list[int]] = []  # per stretch, where each datagram begins in it
                while got < 4096 and len(ring) - fill >= MAX_MESSAGE:
                    try:
                        if self.rxq_ovfl:
                            size, anc, _flags, addr = sock.recvmsg_into([view[fill:]], cmsg_size)
                            if anc:
                                self._kernel_drops(anc)
                        else:
                            size, addr = sock.recvfrom_into(view[fill:])
                    except (BlockingIOError, InterruptedError):
                        break
                    except OSError as exc:
                        if self._closed:
                            return
                        if exc.errno in (errno.ECONNREFUSED, errno.EAGAIN):
                            break
                        raise
                    got += 1
                    name = names.get(addr)
                    if name is None:
                        if len(names) >= 65536:
                            names.clear()
                        name = names[addr] = _name(addr) if self.allowed(addr[0]) else ""
                    if not name:
                        self.ctx.stats.drop("unauthorized-exporter", 1, self.source)
                        continue
                    if size > self.max_message:
                        self.ctx.stats.drop("oversized-message", 1, self.source)
                        continue
                    whole = (size >= 16 and ring[fill] == 0 and ring[fill + 1] == 10
                             and (ring[fill + 2] << 8 | ring[fill + 3]) == size)
                    if whole and stretches and stretches[-1][3] and stretches[-1][2] == name \
                            and stretches[-1][1] == fill:
                        stretches[-1] = (stretches[-1][0], fill + size, name, True)
                        firsts[-1].append(fill - stretches[-1][0])
                    else:  # anything else (NetFlow, several or partial messages) goes alone
                        stretches.append((fill, fill + size, name, whole))
                        firsts.append([0])
                    fill += size
                self.datagrams += got
                for (start, end, name, run), starts in zip(stretches, firsts, strict=True):
                    data = bytes(view[start:end])
                    at = 0
                    while at < len(data):
                        at = decoder.feed(data, name, at, self.batch_size, starts if run else None)
                        if decoder.pending_records >= self.batch_size:
                            yield from self._out()
                            last_yield = time.monotonic()
                now = time.monotonic()
                since = now - last_yield
                buffered = decoder.buffered()
                # Full batch; or the socket is drained and a little time passed (latency at
                # low rates without tiny batches at high ones); or idle: an empty tick.
                if buffered >= self.batch_size or (got == 0 and buffered and since >= 0.05) or (
                        since >= self.idle):
                    out = self._out()
                    if out:
                        yield from out
                    else:
                        yield _empty(self.source)
                    last_yield = time.monotonic()
                    if last_yield - self._proc_checked >= 1.0:
                        self._proc_checked = last_yield
                        self._proc_drops()
                if got == 0 and not self._closed:
                    since = time.monotonic() - last_yield
                    wait = (0.05 if decoder.buffered() else self.idle) - since
                    sel.select(timeout=min(self.idle, max(0.0, wait)))
            yield from self._drain(names)
            self._proc_drops()
            yield from self._out()
        finally:
            sel.close()
            self._shutdown()

    def _drain(self, names: dict[Any, str]) -> Iterator[FlowBatch]:
        """Read what the kernel still holds, at most about one receive buffer's worth (a
        sender that keeps sending cannot hold the stop off), decoding it like live data."""
        budget = max(self.rcvbuf, 1 << 20) * 2
        n = 0
        while budget > 0:
            try:
                data, addr = self.sock.recvfrom(65535)
            except (BlockingIOError, InterruptedError):
                break
            except OSError as exc:
                if exc.errno == errno.ECONNREFUSED:
                    continue
                break
            budget -= len(data) + 64
            n += 1
            name = names.get(addr) or (_name(addr) if self.allowed(addr[0]) else "")
            if not name:
                self.ctx.stats.drop("unauthorized-exporter", 1, self.source)
            elif len(data) > self.max_message:
                self.ctx.stats.drop("oversized-message", 1, self.source)
            else:
                self.decoder.feed(data, name)
            if self.decoder.pending_records >= self.batch_size:
                yield from self._out()
        self.drained += n
        self.datagrams += n
        self.ctx.stats.add("input.udp_drained_at_stop", n)

    def _kernel_drops(self, anc: list[tuple[int, int, bytes]]) -> None:
        for level, typ, value in anc:
            if level == socket.SOL_SOCKET and typ == SO_RXQ_OVFL and len(value) >= 4:
                self._drops_total(struct.unpack("=I", value[:4])[0])

    def _drops_total(self, total: int) -> None:
        """The kernel's cumulative drop count for this socket, from either source."""
        if total > self.kernel_drops:
            self.ctx.stats.drop("kernel-drop", total - self.kernel_drops, self.source)
            self.kernel_drops = total
            self.ctx.stats.gauge(f"kernel_drops[{self.source}]", total)

    def _proc_drops(self) -> None:
        """Read this socket's drop counter from /proc/net/udp[6] (Linux).

        SO_RXQ_OVFL only reports drops on datagrams queued after them; when a burst overflows
        and then traffic stops, /proc is the only place the loss shows.
        """
        if self._inode is None:
            return
        for name in ("/proc/net/udp", "/proc/net/udp6"):
            try:
                with open(name) as fh:
                    next(fh, None)
                    for line in fh:
                        parts = line.split()
                        if len(parts) >= 13 and parts[9] == self._inode:
                            self._drops_total(int(parts[12]))
                            return
            except (OSError, ValueError):
                continue

    def _shutdown(self) -> None:
        self.decoder.close()
        self._save_templates(force=self.cache is not None)
        try:
            self.sock.close()
        except OSError:
            pass

    def close(self) -> None:
        super().close()


class _Conn:
    """One TCP transport session: its framer and when it last made progress."""

    __slots__ = ("name", "host", "framer", "opened", "last_data", "partial_since", "proven")

    def __init__(self, name: str, host: str, framer: StreamFramer, now: float) -> None:
        self.name = name
        self.host = host
        self.framer = framer
        self.opened = now
        self.last_data = now
        self.partial_since: float | None = now  # no complete message yet
        self.proven = False  # delivered at least one whole message


class TCPCollector(_Collector):
    """IPFIX over TCP: several exporters, reconnects, framing by message length.

    Connections are bounded in total and per source address. At a cap the collector makes room
    rather than refusing: it closes the oldest connection that never delivered a whole message
    (idle or half-open connections cost the one who opened them), and only when every
    connection is a working exporter, the one silent the longest. A connection silent for
    ``idle_timeout`` is closed, and so is one that holds an incomplete message (or nothing
    valid yet) for ``partial_timeout``.
    """

    def __init__(self, ctx: Context, source: str, host: str, port: int, *, batch_size: int = 8192,
                 idle: float = 0.5, max_garbage: int = 1 << 16, max_connections: int = 256,
                 max_connections_per_source: int = 32, idle_timeout: float | None = 3600.0,
                 partial_timeout: float | None = 30.0, max_message: int = MAX_MESSAGE,
                 max_buffered_bytes: int = 4 << 20, allow: list[Network] | None = None,
                 limits: DecoderLimits | None = None, apply_sampling: bool = False) -> None:
        decoder = MessageDecoder(ctx, source, transport="tcp", max_buffered_bytes=max_buffered_bytes,
                                 limits=limits, apply_sampling=apply_sampling)
        super().__init__(ctx, source, decoder, batch_size, idle, None)
        self.max_garbage = max_garbage
        self.max_connections = max(1, max_connections)
        self.max_per_source = max(1, max_connections_per_source)
        self.idle_timeout = idle_timeout
        self.partial_timeout = partial_timeout
        self.max_message = max_message
        self.allowed = AllowList(allow)
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self.sock.bind((host, port))
            self.sock.listen(128)
        except OSError as exc:
            self.sock.close()
            raise InputError(f"{source}: cannot listen on TCP {host}:{port}: {exc.strerror or exc}") from exc
        self.sock.setblocking(False)
        self.address: tuple[str, int] = self.sock.getsockname()[:2]
        if host in ("0.0.0.0", "::") and allow is None:
            ctx.logger.warning("%s: listening on every interface with no allow list: any host that "
                               "reaches port %d can feed records; add ?allow=NETWORKS", source, port)
        self.connections = 0
        self._conns: dict[socket.socket, _Conn] = {}
        self._per_source: dict[str, int] = {}
        self._next_check = time.monotonic() + 1.0

    def batches(self) -> Iterator[FlowBatch]:
        sel = selectors.DefaultSelector()
        sel.register(self.sock, selectors.EVENT_READ)
        last_yield = time.monotonic()
        try:
            while not self._closed:
                events = sel.select(timeout=self.idle)
                for key, _mask in events:
                    s = key.fileobj
                    assert isinstance(s, socket.socket)
                    if s is self.sock:
                        self._accept(sel)
                    elif s in self._conns:
                        self._read(sel, s)
                now = time.monotonic()
                if now >= self._next_check:
                    self._next_check = now + min(1.0, self.idle)
                    self._timeouts(sel, now)
                buffered = self.decoder.buffered()
                if buffered >= self.batch_size or (not events and buffered) or (
                        now - last_yield >= self.idle):
                    out = self._out()
                    yield from (out or [_empty(self.source)])
                    last_yield = time.monotonic()
            self._drain(sel)
            yield from self._out()
        finally:
            for s in list(self._conns):
                self._drop(sel, s, "collector closing")
            sel.close()
            self.decoder.close()
            try:
                self.sock.close()
            except OSError:
                pass

    def _timeouts(self, sel: selectors.BaseSelector, now: float) -> None:
        for s, c in list(self._conns.items()):
            if self.partial_timeout is not None and c.partial_since is not None \
                    and now - c.partial_since > self.partial_timeout:
                self.ctx.stats.add("input.tcp_closed.partial-timeout", 1)
                self._drop(sel, s, f"no complete message within {self.partial_timeout:g} s")
            elif self.idle_timeout is not None and now - c.last_data > self.idle_timeout:
                self.ctx.stats.add("input.tcp_closed.idle-timeout", 1)
                self._drop(sel, s, f"silent for {self.idle_timeout:g} s")

    def _victim(self, host: str | None) -> socket.socket | None:
        """The connection to close to make room: the oldest that never delivered a message,
        else the one silent the longest (among ``host``'s when given)."""
        best: tuple[bool, float] | None = None
        victim = None
        for s, c in self._conns.items():
            if host is not None and c.host != host:
                continue
            rank = (c.proven, c.opened if not c.proven else c.last_data)
            if best is None or rank < best:
                best, victim = rank, s
        return victim

    def _accept(self, sel: selectors.BaseSelector) -> None:
        for _ in range(64):  # a burst of connects is accepted in one go, boundedly
            try:
                conn, addr = self.sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # EMFILE and friends: count, keep serving the others
                self.ctx.stats.add("input.tcp_accept_errors", 1)
                self.ctx.logger.warning("%s: accept failed: %s", self.source, exc)
                return
            host = addr[0]
            if not self.allowed(host):
                self.ctx.stats.drop("unauthorized-exporter", 1, self.source)
                conn.close()
                continue
            if self._per_source.get(host, 0) >= self.max_per_source:
                victim = self._victim(host)
                if victim is not None:
                    self.ctx.stats.add("input.tcp_closed.per-source-cap", 1)
                    self._drop(sel, victim, f"{self.max_per_source} connections from {host}")
            if len(self._conns) >= self.max_connections:
                victim = self._victim(None)
                if victim is not None:
                    self.ctx.stats.add("input.tcp_closed.connection-cap", 1)
                    self._drop(sel, victim, f"{self.max_connections} connections open")
            conn.setblocking(False)
            name = _name(addr)
            self._conns[conn] = _Conn(name, host, StreamFramer(self._garbage_cb(name)), time.monotonic())
            self._per_source[host] = self._per_source.get(host, 0) + 1
            sel.register(conn, selectors.EVENT_READ)
            self.connections += 1
            self.ctx.stats.add("input.tcp_connections", 1)
            self.ctx.stats.gauge(f"input.tcp_open[{self.source}]", len(self._conns))
            self.ctx.logger.info("%s: exporter %s connected", self.source, name)

    def _garbage_cb(self, name: str) -> Callable[[int, int], None]:
        return lambda n, offset: self._garbage(name, n, offset)

    def _garbage(self, name: str, n: int, offset: int) -> None:
        self.ctx.stats.drop("malformed-stream", 1, self.source)
        self.ctx.stats.add("input.garbage_bytes", n)
        self.ctx.logger.debug("%s: exporter %s offset %d: %d bytes of garbage skipped", self.source, name, offset, n)

    def _drain(self, sel: selectors.BaseSelector) -> None:
        """At stop, accept connections the kernel completed and decode what every connection's
        buffer still holds (bounded: 64 reads per connection)."""
        self._accept(sel)
        n = 0
        for s in list(self._conns):
            for _ in range(64):
                if s not in self._conns or not self._read(sel, s):
                    break
                n += 1
        self.ctx.stats.add("input.tcp_drained_at_stop", n)

    def _read(self, sel: selectors.BaseSelector, s: socket.socket) -> int:
        """Read once from ``s`` and decode whole messages; the number of bytes read."""
        c = self._conns[s]
        framer = c.framer
        try:
            data = s.recv(1 << 20)
        except (BlockingIOError, InterruptedError):
            return 0
        except OSError as exc:
            self._drop(sel, s, f"read error: {exc}")
            return 0
        if not data:
            self._drop(sel, s, "closed by exporter")
            return 0
        framer.feed(data)
        now = time.monotonic()
        got = oversized = False
        for msg, _off in framer.messages():
            if len(msg) > self.max_message:
                oversized = True
                break
            got = True
            self.decoder.feed(msg, c.name)
        if got:
            c.proven = True
            c.last_data = now
        if not framer.pending:
            c.partial_since = None
        elif got or c.partial_since is None:
            c.partial_since = now
        if framer.garbage_run > self.max_garbage:
            self.ctx.logger.warning("%s: exporter %s: %d bytes without a valid IPFIX message; closing",
                                    self.source, c.name, framer.garbage_run)
            self._drop(sel, s, "garbage")
        elif oversized or (framer.pending >= 4 and _HDR.unpack_from(framer.buf, 0)[1] > self.max_message) \
                or framer.pending > MAX_MESSAGE:
            self.ctx.stats.drop("oversized-message", 1, self.source)
            framer.buf.clear()
            self._drop(sel, s, f"message longer than {self.max_message} bytes")
        return len(data)

    def _drop(self, sel: selectors.BaseSelector, s: socket.socket, why: str) -> None:
        c = self._conns.pop(s)
        left = self._per_source.get(c.host, 1) - 1
        if left > 0:
            self._per_source[c.host] = left
        else:
            self._per_source.pop(c.host, None)
        if c.framer.pending:
            self.ctx.stats.drop("malformed-stream", 1, self.source)
            self.ctx.logger.debug("%s: exporter %s: %d bytes of an incomplete message at close",
                                  self.source, c.name, c.framer.pending)
        try:
            sel.unregister(s)
        except (KeyError, ValueError):
            pass
        s.close()
        self.ctx.stats.gauge(f"input.tcp_open[{self.source}]", len(self._conns))
        # A TCP transport session ends here: its templates go with it (RFC 7011 10.4.2).
        self.decoder.forget(c.name)
        self.ctx.logger.info("%s: exporter %s disconnected (%s)", self.source, c.name, why)
