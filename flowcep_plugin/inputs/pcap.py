"""``pcap:`` capture files and ``iface:`` live capture, metered into flows.

Files are cut into blocks of frames by :mod:`.capfile` (pcap and pcapng read in large
blocks, one ``struct`` call per record) and metered a block at a time with numpy
(:meth:`FlowMeter.process_block`, :mod:`.flowblock`); live capture uses scapy's L2 listen
socket with a BPF filter and hands frames to the per-packet meter. The meter parses headers
itself: ``rdpcap`` dissects every packet into objects and is about a hundred times slower.
scapy dissection is used only for link types the meter does not know.

Addresses: ``pcap:PATH`` (also a bare path: pcap and pcapng files are recognised by their
magic number), ``pcap:-`` (a capture piped on stdin, e.g. from ``tcpdump -w -``, which
needs no privileges in Python), ``iface:NAME``. Options come from ``[inputs.pcap]``/``[inputs.iface]`` or from
the address (``pcap:x.pcap?biflow=false&inactive_timeout=30s&filter=tcp``).
"""

from __future__ import annotations

import logging
import os
import select
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from typing import Any

from ..context import Context
from ..errors import ConfigError, InputError
from ..hookspecs import hookimpl
from ..records import FlowBatch
from ..specs import Address, InputSpec
from .capfile import (
    MAX_RECORD,
    PCAP_MAGICS,
    PCAPNG_MAGIC,
    Block,
    CaptureError,
    Skipped,
    read_blocks,
    read_frames,
)
from .flowmeter import (
    DEFAULT_ACTIVE_TIMEOUT,
    DEFAULT_CLOSE_LINGER,
    DEFAULT_FRAG_HOLD,
    DEFAULT_FRAG_TIMEOUT,
    DEFAULT_INACTIVE_TIMEOUT,
    DEFAULT_MAX_FLOWS,
    FAST_LINKTYPES,
    LINKTYPE_ETHERNET,
    LINKTYPE_RAW,
    FlowMeter,
)
from .sniff import require_format

__all__ = ["PcapSource", "IfaceSource", "CaptureError", "Skipped", "iter_blocks", "iter_frames", "is_capture",
           "meter_settings", "count_skipped"]

log = logging.getLogger("flowcep.inputs.pcap")

LOG_FIRST_BAD = 20  # malformed packets logged one by one (debug) before only counting

_DURATION_SCHEMA = {"type": ["number", "string"], "description": "seconds, or '30s', '1 min', '1h'"}
METER_SCHEMA: dict[str, Any] = {
    "biflow": {"type": "boolean", "description": "one record per connection (RFC 5103) instead of per direction"},
    "active_timeout": {**_DURATION_SCHEMA, "description": "export long flows every ... (default 30 min)"},
    "inactive_timeout": {**_DURATION_SCHEMA, "description": "export flows silent for ... (default 15 s)"},
    "tcp_end": {"type": "boolean", "description": "TCP RST, and FIN from both sides, end a flow"},
    "close_linger": {**_DURATION_SCHEMA, "description": "how long a closed TCP connection still takes its late "
                                                        "ACKs and retransmissions (default 5 s, Zeek's "
                                                        "tcp_close_delay; 0 ends it at once)"},
    "http": {"type": "boolean", "description": "extract HTTPRequestHost/HTTPRequestURL from requests"},
    "max_flows": {"type": "integer", "minimum": 1, "description": "flow table size; beyond it the flows silent longest are exported "
                  "early (flowEndReason 4, counted; later packets start a new record). Memory: "
                  "about 310 bytes a flow, so a flood that fills the default 500,000 holds the "
                  "meter near 160 MB; lower it on small hosts"},
    "fragment_timeout": {**_DURATION_SCHEMA, "description": "how long a datagram's ports are remembered for its later "
                                                            "IP fragments (default 5 s)"},
    "fragment_hold": {**_DURATION_SCHEMA, "description": "how long a fragment that came before its first fragment waits "
                                                         "for it (default 1 s)"},
    "max_fragments": {"type": "integer", "minimum": 1, "description": "fragmented datagrams remembered at once; "
                                                                      "beyond it the oldest are forgotten (counted)"},
    "chunk_packets": {"type": "integer", "minimum": 1, "description": "packets metered per step"},
    "filter": {"type": "string", "description": "BPF filter (tcpdump syntax); files go through tcpdump"},
}
METER_DEFAULTS: dict[str, Any] = {
    "biflow": True,
    "active_timeout": DEFAULT_ACTIVE_TIMEOUT,
    "inactive_timeout": DEFAULT_INACTIVE_TIMEOUT,
    "tcp_end": True,
    "close_linger": DEFAULT_CLOSE_LINGER,
    "http": True,
    "max_flows": DEFAULT_MAX_FLOWS,
    "fragment_timeout": DEFAULT_FRAG_TIMEOUT,
    "fragment_hold": DEFAULT_FRAG_HOLD,
    "max_fragments": 100_000,
    "chunk_packets": 8192,
    "filter": "",
}


def is_capture(head: bytes) -> bool:
    """True for the first bytes of a pcap (any byte order, µs or ns) or pcapng file."""
    return head[:4] in PCAP_MAGICS or head[:4] == PCAPNG_MAGIC


# -- settings -------------------------------------------------------------------------------


def _duration(value: Any, name: str) -> float:
    from ..config import parse_duration

    try:
        return parse_duration(value)
    except ValueError as e:
        raise ConfigError(f"{name}: {e}") from None


def _bool(value: Any, name: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name}: expected true or false, got {value!r}")


def meter_settings(config: Mapping[str, Any], params: Mapping[str, str], where: str) -> dict[str, Any]:
    """Defaults, then the config section, then ``?key=value`` address options, checked."""
    merged: dict[str, Any] = {**METER_DEFAULTS, **config}
    for key, value in params.items():
        if key not in METER_SCHEMA:
            raise ConfigError(f"{where}: unknown option {key!r}; known: {', '.join(sorted(METER_SCHEMA))}")
        merged[key] = value
    out: dict[str, Any] = {}
    for key in ("biflow", "tcp_end", "http"):
        out[key] = _bool(merged[key], f"{where}: {key}")
    for key in ("active_timeout", "inactive_timeout", "fragment_timeout", "fragment_hold", "close_linger"):
        out[key] = _duration(merged[key], f"{where}: {key}")
    for key in ("max_flows", "max_fragments", "chunk_packets"):
        try:
            out[key] = int(merged[key])
        except (TypeError, ValueError):
            raise ConfigError(f"{where}: {key}: expected an integer, got {merged[key]!r}") from None
        if out[key] < 1:
            raise ConfigError(f"{where}: {key}: must be at least 1")
    out["filter"] = str(merged.get("filter") or "")
    return out


def _meter(settings: Mapping[str, Any], source: str) -> FlowMeter:
    return FlowMeter(
        biflow=settings["biflow"],
        active_timeout=settings["active_timeout"],
        inactive_timeout=settings["inactive_timeout"],
        tcp_end=settings["tcp_end"],
        http=settings["http"],
        max_flows=settings["max_flows"],
        source=source,
        frag_timeout=settings["fragment_timeout"],
        frag_hold=settings["fragment_hold"],
        max_fragments=settings["max_fragments"],
        close_linger=settings["close_linger"],
    )


# -- reading capture files ------------------------------------------------------------------


def iter_frames(path: str, chunk: int = 8192, bpf: str = "",
                skipped: Skipped | None = None) -> Iterator[tuple[int, list[tuple[int, bytes]]]]:
    """Yield ``(linktype, [(timestamp_ms, frame), ...])``, up to ``chunk`` packets at a time;
    a chunk ends early where the link type changes (pcapng files with several interfaces).

    Raises :class:`CaptureError` (after yielding every good packet before it) when the file's
    framing is corrupt or truncated; the message names the file, packet number and byte offset.
    A pcapng packet block that lies inside intact framing is skipped and noted in ``skipped``
    (see :mod:`.capfile`). ``bpf`` filters through ``tcpdump -r`` (what scapy's own offline
    filtering does).
    """
    if not bpf and path != "-":
        yield from read_frames(path, None, chunk, skipped)
        return
    for linktype, block in iter_blocks(path, chunk, bpf, skipped):
        yield linktype, block.frames()


def iter_blocks(path: str, chunk: int = 8192, bpf: str = "",
                skipped: Skipped | None = None) -> Iterator[tuple[int, Block]]:
    """:func:`iter_frames` with each chunk as a :class:`~.capfile.Block` (what the flow meter's
    block path takes)."""
    if not bpf:
        if path == "-":  # a pipe: tcpdump -w - | flowcep run --input pcap:-
            yield from read_blocks("<stdin>", sys.stdin.buffer, chunk, skipped)
        else:
            yield from read_blocks(path, None, chunk, skipped)
        return
    tcpdump = shutil.which("tcpdump")
    if tcpdump is None:
        raise ConfigError(f"{path}: a BPF filter on a capture file needs tcpdump installed")
    proc = subprocess.Popen([tcpdump, "-r", path, "-w", "-", bpf], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None
    started = False
    try:
        for item in read_blocks(path, proc.stdout, chunk, skipped):
            started = True
            yield item
    except CaptureError:
        if started:
            raise
        proc.kill()
        _, err = proc.communicate()
        why = err.decode(errors="replace").strip().splitlines()
        raise ConfigError(f"{path}: BPF filter {bpf!r} rejected by tcpdump: "
                          f"{why[-1] if why else 'no output'}") from None
    finally:
        proc.kill()
        _, err = proc.communicate()
        if proc.returncode not in (0, -9, None) and err:
            log.warning("%s: tcpdump: %s", path, err.decode(errors="replace").strip())


def count_skipped(ctx: Context, skipped: Skipped, source: str) -> None:
    """Add the blocks a reader skipped since the last call to the run's drops, by reason
    (``malformed-packet``, ``unknown-interface``), against the input."""
    for reason, n in skipped.take().items():
        ctx.stats.drop(reason, n, source=source)


def _scapy_to_ip(linktype: int, frames: list[tuple[int, bytes]]) -> tuple[list[tuple[int, bytes]], int]:
    """Dissect frames of an unusual link type with scapy; return (IP packets, non-IP count)."""
    from scapy.config import conf
    from scapy.layers.inet import IP
    from scapy.layers.inet6 import IPv6
    from scapy.packet import Raw

    cls: Any = conf.l2types.get(linktype, Raw)
    out: list[tuple[int, bytes]] = []
    other = 0
    for ts, data in frames:
        try:
            pkt = cls(data)
        except Exception:  # scapy dissectors raise anything on garbage
            other += 1
            continue
        layer = pkt.getlayer(IP) or pkt.getlayer(IPv6)
        if layer is None:
            other += 1
        else:
            out.append((ts, bytes(layer)))
    return out, other


class _Metering:
    """Shared by file and live sources: feeds chunks to the meter, counts what is bad."""

    def __init__(self, source: str, settings: Mapping[str, Any], ctx: Context) -> None:
        self.source = source
        self.ctx = ctx
        self.meter = _meter(settings, source)
        self.bad_logged = 0
        self._frag_counts = (0, 0, 0, 0, 0, 0)

    def feed(self, linktype: int, packets: list[tuple[int, bytes]] | Block, first_number: int) -> None:
        """Meter packets of one link type; ``first_number`` is the 1-based number of packets[0]."""
        non_ip_before = self.meter.non_ip
        if linktype in FAST_LINKTYPES:
            if isinstance(packets, Block):
                bad = self.meter.process_block(packets, linktype)
            else:
                bad = self.meter.process(packets, linktype)
        else:
            if isinstance(packets, Block):
                packets = packets.frames()
            ip_packets, other = _scapy_to_ip(linktype, packets)
            self.meter.non_ip += other
            bad = self.meter.process_ip(ip_packets)  # numbers approximate: IP-only list
        self._count_bad(bad, first_number)
        if self.meter.non_ip != non_ip_before:
            self.ctx.stats.add("pcap non-IP packets", self.meter.non_ip - non_ip_before)
        self._count_fragments()

    def _count_fragments(self) -> None:
        """Report what became of non-first IP fragments (see flowmeter's docstring): none is
        dropped, but those counted with ports 0 and the table's evictions must be visible;
        likewise packets whose timestamp was far off the capture's time."""
        m = self.meter
        now = (m.fragments_attributed, m.fragments_orphaned, m.fragment_entries_evicted,
               m.fragments_held_evicted, m.time_jumps_ignored, m.time_jumps_followed)
        if now == self._frag_counts:
            return
        names = ("pcap fragments counted in their datagram's flow",
                 "pcap fragments counted with ports 0 (first fragment not seen)",
                 "pcap fragmented datagrams forgotten early (fragment table full)",
                 "pcap fragments given up early (fragment hold full)",
                 "pcap packets far off the capture's time (flow sweeps did not follow them)",
                 "pcap capture time jumps followed (flow sweeps moved)")
        for name, new, old in zip(names, now, self._frag_counts, strict=True):
            if new != old:
                self.ctx.stats.add(name, new - old)
        self._frag_counts = now

    def feed_mixed(self, frames: list[tuple[int, int, bytes]], first_number: int) -> None:
        """Meter ``(timestamp_ms, linktype, frame)`` items whose link types may differ."""
        start = 0
        n = len(frames)
        while start < n:
            lt = frames[start][1]
            stop = start + 1
            while stop < n and frames[stop][1] == lt:
                stop += 1
            self.feed(lt, [(ts, data) for ts, _, data in frames[start:stop]], first_number + start)
            start = stop

    def _count_bad(self, bad: list[tuple[int, str]], base: int) -> None:
        if not bad:
            return
        self.ctx.stats.drop("malformed", len(bad), source=self.source)
        for i, why in bad:
            self.ctx.stats.add(f"pcap malformed packets ({why})")
            if self.bad_logged < LOG_FIRST_BAD:
                self.ctx.logger.debug("%s: packet %d: %s", self.source, base + i, why)
                self.bad_logged += 1

    def take(self) -> list[FlowBatch]:
        batches = self.meter.take_batches()
        return batches

    def finish(self) -> list[FlowBatch]:
        self.meter.flush()
        self._count_fragments()
        if self.meter.forced:
            self.ctx.stats.gauge(f"pcap flows forced out by max_flows ({self.source})", self.meter.forced)
        return self.meter.take_batches()


def _check_filter(path: str, bpf: str, where: str) -> None:
    """Compile the filter against the file's link type now, so a typo is a startup error."""
    tcpdump = shutil.which("tcpdump")
    if tcpdump is None:
        raise ConfigError(f"{where}: a BPF filter on a capture file needs tcpdump installed")
    try:
        done = subprocess.run([tcpdump, "-r", path, "-d", bpf], capture_output=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise ConfigError(f"{where}: cannot run tcpdump to check the filter: {e}") from None
    if done.returncode != 0:
        why = done.stderr.decode(errors="replace").strip().splitlines()
        raise ConfigError(f"{where}: BPF filter {bpf!r} rejected: {why[-1] if why else 'tcpdump failed'}")


class PcapSource:
    """Flows metered from a pcap/pcapng file; ends (flushing every flow) at end of file."""

    def __init__(self, address: Address, config: Mapping[str, Any], ctx: Context) -> None:
        self.address = address
        self.path = address.path or ""
        self.ctx = ctx
        self.settings = meter_settings(config, address.params, address.raw)
        self._closed = False
        if self.path == "-":
            if self.settings["filter"]:
                raise ConfigError(f"{address.raw}: filter the capture where it is written "
                                  "(tcpdump -w - FILTER); pcap:- takes no filter")
            return
        if not os.path.isfile(self.path):
            raise InputError(f"input {address.raw!r}: no such file")
        # A file whose first bytes say it is something else (IPFIX, JSON...) is named as such.
        require_format(self.path, address.raw, ("pcap", "pcapng", "gzip+pcap", "gzip+pcapng"), strict=True)
        if self.settings["filter"]:
            _check_filter(self.path, self.settings["filter"], address.raw)

    def batches(self) -> Iterator[FlowBatch]:
        run = _Metering(self.address.raw, self.settings, self.ctx)
        skipped = Skipped(self.address.raw, self.ctx.logger)
        number = 1
        try:
            for linktype, packets in iter_blocks(self.path, self.settings["chunk_packets"],
                                                 self.settings["filter"], skipped):
                count_skipped(self.ctx, skipped, self.address.raw)
                run.feed(linktype, packets, number)
                number += len(packets)
                yield from run.take()
                if self._closed:
                    break
        except CaptureError as e:
            self.ctx.logger.error("%s", e)
            self.ctx.stats.add("pcap corrupt captures")
        count_skipped(self.ctx, skipped, self.address.raw)
        yield from run.finish()

    def close(self) -> None:
        self._closed = True


class IfaceSource:
    """Live capture on an interface through scapy's L2 listen socket (BPF filter applied in
    the kernel). Yields expired flows as they time out and an empty batch when idle, so the
    host can move the watermark; ``close()`` stops it and flushes every flow."""

    idle_s = 0.5

    def __init__(self, address: Address, config: Mapping[str, Any], ctx: Context) -> None:
        self.address = address
        self.ctx = ctx
        self.settings = meter_settings(config, address.params, address.raw)
        self.iface = address.path or ""
        self._stop = threading.Event()
        import scapy.arch  # noqa: F401  (sets conf.L2listen for this platform)
        from scapy.config import conf

        try:
            self.sock = conf.L2listen(iface=self.iface, filter=self.settings["filter"] or None)
        except PermissionError:
            raise InputError(f"input {address.raw!r}: capturing needs root or CAP_NET_RAW") from None
        except Exception as e:  # scapy raises OSError, Scapy_Exception... for bad names/filters
            raise InputError(f"input {address.raw!r}: cannot capture on {self.iface!r}: {e}") from None

    def batches(self) -> Iterator[FlowBatch]:
        run = _Metering(self.address.raw, self.settings, self.ctx)
        chunk = self.settings["chunk_packets"]
        number = 1
        frames: list[tuple[int, int, bytes]] = []
        last_flush = time.monotonic()
        try:
            while not self._stop.is_set():
                try:
                    ready, _, _ = select.select([self.sock], [], [], self.idle_s)
                except (OSError, ValueError) as e:  # closed by close() from another thread
                    if not self._stop.is_set():
                        self.ctx.logger.error("%s: capture failed: %s; input ended", self.address.raw, e)
                    break
                if ready:
                    try:
                        data, sa_ll = self.sock.ins.recvfrom(MAX_RECORD)
                    except OSError as e:
                        if self._stop.is_set():  # closed under us: the normal way to stop
                            break
                        self.ctx.logger.error("%s: capture failed: %s; input ended", self.address.raw, e)
                        break
                    hatype = sa_ll[3] if isinstance(sa_ll, tuple) and len(sa_ll) > 3 else -1
                    # Linux loopback shows each packet twice (going out, coming in); libpcap
                    # drops the outgoing copy on lo, and so do we.
                    if data and not (hatype == ARPHRD_LOOPBACK and sa_ll[2] == PACKET_OUTGOING):
                        frames.append((int(time.time() * 1000), _linktype_of(hatype, data), data))
                now = time.monotonic()
                if len(frames) >= chunk or (frames and now - last_flush >= self.idle_s) or not ready:
                    if frames:
                        run.feed_mixed(frames, number)
                        number += len(frames)
                        frames = []
                    run.meter.expire(int(time.time() * 1000))
                    batches = run.take()
                    yield from batches
                    if not batches and not ready:
                        yield FlowBatch({}, 0, self.address.raw)
                    last_flush = now
        finally:
            if frames:
                run.feed_mixed(frames, number)
        yield from run.finish()

    def close(self) -> None:
        self._stop.set()
        try:
            self.sock.close()
        except Exception:  # already closed
            pass


ARPHRD_ETHER = 1
ARPHRD_LOOPBACK = 772
ARPHRD_NONE = 0xFFFE  # tun devices: bare IP
PACKET_OUTGOING = 4


def _linktype_of(hatype: int, data: bytes) -> int:
    """The pcap link type of a frame from a Linux packet socket's hardware type (loopback
    frames carry an Ethernet header); for other types, look at the frame."""
    if hatype in (ARPHRD_ETHER, ARPHRD_LOOPBACK):
        return LINKTYPE_ETHERNET
    if hatype == ARPHRD_NONE:
        return LINKTYPE_RAW
    if len(data) >= 14 and data[12:14] in (b"\x08\x00", b"\x86\xdd", b"\x81\x00"):
        return LINKTYPE_ETHERNET
    return LINKTYPE_RAW


# -- registration ---------------------------------------------------------------------------


def _open_pcap(address: Address, config: Mapping[str, Any], ctx: Context) -> PcapSource:
    return PcapSource(address, config, ctx)


def _open_iface(address: Address, config: Mapping[str, Any], ctx: Context) -> IfaceSource:
    return IfaceSource(address, config, ctx)


def _schema(extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    return {"type": "object", "additionalProperties": False, "properties": {**METER_SCHEMA, **(extra or {})}}


@hookimpl
def flowcep_register_inputs() -> list[InputSpec]:
    return [
        InputSpec(
            name="pcap",
            summary="pcap/pcapng file metered into flows (5-tuple, biflow, timeouts, HTTP host/URL)",
            schemes=("pcap",),
            open=_open_pcap,
            sniff=is_capture,
            config_schema=_schema(),
            defaults=dict(METER_DEFAULTS),
        ),
        InputSpec(
            name="iface",
            summary="live capture on a network interface (scapy, BPF filter) metered into flows",
            schemes=("iface",),
            open=_open_iface,
            live=True,
            config_schema=_schema(),
            defaults=dict(METER_DEFAULTS),
        ),
    ]
