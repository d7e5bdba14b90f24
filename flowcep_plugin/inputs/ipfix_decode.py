"""IPFIX (RFC 7011), NetFlow v9 (RFC 3954) and NetFlow v5 message decoding into FlowBatches.

One decoder holds the template state of one input: templates are scoped per exporter
transport session (``host:port``, or the file) and observation domain, so two exporters using
the same template id never mix. Speed comes from decoding a whole data set at once: every
fixed-length template is compiled into one ``struct.Struct`` and decoded with
``iter_unpack``; the tuples are transposed with ``zip(*)`` into columns and each column is
converted in one pass (addresses through a cache, because the same addresses repeat).
Data sets of the same template are gathered across messages (``feed``) and decoded together
on ``flush``, so the per-set overhead is paid once per batch rather than once per message.
Inputs that hold many messages at once (a file chunk, a UDP receive pass) feed them as one run:
plain stretches of it (one session, data sets of known fixed-length templates only, sequence
numbers that continue) are walked and queued with numpy, the rest message by message; a merged
flush joins the templates' numpy columns before making lists. docs/performance.md has the
measurements behind each of these.

Nothing here raises on bad bytes: every malformed thing is counted with
``ctx.stats.drop(reason, n, source)`` and logged at debug level with exporter and offset, and
decoding continues where that is sound (the next set, the next message).
"""

from __future__ import annotations

import bisect
import socket
import struct
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import Any

from ..context import Context
from ..elements import Registry, default_registry
from ..records import (
    EXPORT_TIME,
    EXPORT_VERSION,
    FLOW_STREAM,
    IPV4_TEXT,
    IPV6_TEXT,
    MAC_TEXT,
    OPTIONS_STREAM,
    SAMPLING_APPLIED,
    SYS_UPTIME,
    TEXT,
    VALUES,
    ArrayPart,
    Columns,
    FlowBatch,
)
from ..specs import ElementSpec
from .limits import DecoderLimits, template_cost

try:  # numpy builds columns ~3x faster than zip(*rows); the struct path stays as a fallback
    import numpy as _np
except ImportError:  # pragma: no cover - numpy is a declared dependency
    _np = None  # type: ignore[assignment]

__all__ = ["MessageDecoder", "Template", "V9_SCOPE_PEN", "NTP_EPOCH_OFFSET"]

#: Seconds between the NTP epoch (1900) and the Unix epoch, for dateTimeMicro/Nanoseconds.
NTP_EPOCH_OFFSET = 2208988800
#: Pseudo PEN for NetFlow v9 options scope fields (their type numbers are a separate space).
V9_SCOPE_PEN = -1
_V9_SCOPE_NAMES = {1: "scopeSystem", 2: "ingressInterface", 3: "lineCardId", 4: "scopeCache",
                   5: "templateId"}
VARLEN = 65535

_IPFIX_HDR = struct.Struct(">HHIII")  # version, length, export time, sequence, odid
_V9_HDR = struct.Struct(">HHIIII")  # version, count, sysUptime, unix secs, sequence, source id
_V5_HDR = struct.Struct(">HHIIIIBBH")  # version, count, uptime, secs, nsecs, seq, eng type/id, sampling
_V5_REC = struct.Struct(">IIIHHIIIIHHxBBBHHBBxx")
_SET_HDR = struct.Struct(">HH")
_U16 = struct.Struct(">H")
_U32 = struct.Struct(">I")
_FIELD = struct.Struct(">HH")

_UNSIGNED = {1: "B", 2: "H", 4: "I", 8: "Q"}
# struct code -> numpy dtype; "Ns" becomes S (NUL-stripped) for strings, V (raw) otherwise
_NP_CODES = {"B": "u1", "H": ">u2", "I": ">u4", "Q": ">u8", "b": "i1", "h": ">i2", "i": ">i4",
             "q": ">i8", "f": ">f4", "d": ">f8"}
_SIGNED = {1: "b", 2: "h", 4: "i", 8: "q"}
_INT_TYPES = {"unsigned8", "unsigned16", "unsigned32", "unsigned64", "dateTimeSeconds",
              "dateTimeMilliseconds"}
_LIST_TYPES = {"basicList", "subTemplateList", "subTemplateMultiList"}
_SAMPLING_NAMES = ("samplingInterval", "samplerRandomInterval", "samplingPacketInterval")
#: every element _sampling_rate reads: options records with none of them announce no rate
_RATE_FIELDS = frozenset((*_SAMPLING_NAMES, "selectorAlgorithm", "samplingPacketSpace", "samplingSize",
                          "samplingPopulation", "samplingProbability"))
#: Counters scaled by the sampling rate when the input is asked to (``apply_sampling``).
SAMPLED_COUNTERS = ("octetDeltaCount", "packetDeltaCount", "octetTotalCount", "packetTotalCount",
                    "reverseOctetDeltaCount", "reversePacketDeltaCount", "reverseOctetTotalCount",
                    "reversePacketTotalCount", "postOctetDeltaCount", "postPacketDeltaCount",
                    "initiatorOctets", "responderOctets", "initiatorPackets", "responderPackets",
                    "layer2OctetDeltaCount", "droppedOctetDeltaCount", "droppedPacketDeltaCount")

Conv = Callable[[Iterable[Any]], list[Any]]


def _ipv4_text(v: int) -> str:
    return socket.inet_ntoa(v.to_bytes(4, "big"))


class _Caches:
    """Value caches shared by every template of one decoder (addresses repeat a lot)."""

    LIMIT = 1 << 18  # entries per cache, then it starts over
    LONG = 256  # bytes: longer values are not cached

    #: the direct-mapped IPv4 cache used on numpy columns has 2**V4_BITS slots
    V4_BITS = 16
    V4_RELEARN = 1 << 14

    def __init__(self, stats: Any = None) -> None:
        self.stats = stats  # counts each start-over (input.value_cache_resets): a reset costs time, loses nothing
        self.v4: dict[int, str] = {}
        self.v6: dict[bytes, str] = {}
        self.mac: dict[bytes, str] = {}
        self.text: dict[bytes, str] = {}
        self._v4_keys: Any = None  # int64 per slot, -1 = empty
        self._v4_texts: Any = None  # the text of that slot's address
        # A merged flush hands columns over unconverted (records.Columns.set_view): they are
        # converted through these caches in whichever thread reads them first, while the
        # input's thread goes on decoding, so every use of the caches holds this lock.
        self.lock = threading.Lock()

    def ipv4(self, col: Iterable[int]) -> list[str]:
        return self._cached(self.v4, _ipv4_text, col, short=True)

    def ipv4_array(self, col: Any) -> list[str]:
        with self.lock:
            return self._ipv4_array(col)

    def ipv4_column(self, col: Any) -> list[str]:
        """Text of each address of a numpy column; numpy's per-call cost loses on a few."""
        return self.ipv4_array(col) if len(col) >= 64 else self.ipv4(col.tolist())

    def _ipv4_array(self, col: Any) -> list[str]:
        """Text of each address of a numpy column, through a direct-mapped cache of numpy
        arrays: hashing, the lookup and the gather of texts are vectorised (about half the
        cost of a dict lookup per value). A slot keeps the first address that took it; the
        few addresses that find their slot taken go through the dict cache one by one, so
        a collision costs time, never a wrong text and never thrashing. Memory is fixed
        (2**``V4_BITS`` slots); when the dict side grows past ``V4_RELEARN`` the slots are
        emptied, so the table follows the addresses of the moment."""
        keys, texts = self._v4_keys, self._v4_texts
        if keys is None:
            keys = self._v4_keys = _np.full(1 << self.V4_BITS, -1, dtype=_np.int64)
            texts = self._v4_texts = _np.empty(1 << self.V4_BITS, dtype=object)
        addr = col.astype(_np.uint32)
        slot = self._v4_slots(addr)
        wide = addr.astype(_np.int64)
        miss = keys[slot] != wide
        if not miss.any():
            hit: list[str] = texts[slot].tolist()
            return hit
        pos = _np.flatnonzero(miss)
        free = pos[keys[slot[pos]] == -1]
        if free.size:
            slots, first = _np.unique(slot[free], return_index=True)
            values = wide[free[first]]
            keys[slots] = values
            texts[slots] = [_ipv4_text(v) for v in values.tolist()]
            pos = pos[keys[slot[pos]] != wide[pos]]
        out: list[str] = texts[slot].tolist()
        if pos.size:
            side = self.v4
            if len(side) > self.V4_RELEARN:
                side.clear()
                keys.fill(-1)
                texts.fill(None)
                self._reset()
            for i, v in zip(pos.tolist(), wide[pos].tolist(), strict=True):
                text = side.get(v)
                if text is None:
                    text = side[v] = _ipv4_text(v)
                out[i] = text
        return out

    def _reset(self) -> None:
        if self.stats is not None:
            self.stats.add("input.value_cache_resets", 1)

    def _v4_slots(self, addr: Any) -> Any:
        # Fibonacci hashing: the top bits of addr * 2^32/phi spread neighbouring addresses
        return (addr * _np.uint32(0x9E3779B1)) >> _np.uint32(32 - self.V4_BITS)

    def _cached(self, cache: dict[Any, str], fn: Callable[[Any], str], col: Iterable[Any],
                short: bool = False) -> list[str]:
        """``fn`` of every value of ``col`` through ``cache`` (``short``: values of a fixed small
        size, such as IPv4 addresses as integers, need no length check)."""
        with self.lock:
            return self._cached_locked(cache, fn, col, short)

    def _cached_locked(self, cache: dict[Any, str], fn: Callable[[Any], str], col: Iterable[Any],
                       short: bool) -> list[str]:
        # One C-level pass of __getitem__ when every value is known (the common case): a
        # KeyError is cheaper than scanning the output for None (a str == None comparison per
        # value, about a fifth of the column's cost).
        col = col if isinstance(col, (tuple, list)) else list(col)
        try:
            return list(map(cache.__getitem__, col))
        except KeyError:
            pass
        out: list[Any] = list(map(cache.get, col))
        if len(cache) > self.LIMIT:
            cache.clear()
            self._reset()
            missing = set(col)
        else:
            missing = {v for v, text in zip(col, out, strict=True) if text is None}
        for v in missing:
            cache[v] = fn(v)
        out = list(map(cache.__getitem__, col))
        if short:
            return out
        # Long values (URLs, banners: up to 64 KiB each) are converted but not kept, so an
        # exporter sending unique long strings cannot grow the cache to LIMIT x 64 KiB.
        for v in missing:
            if len(v) > self.LONG:
                del cache[v]
        return out

    def ipv6(self, col: Iterable[bytes]) -> list[str]:
        return self._cached(self.v6, lambda b: socket.inet_ntop(socket.AF_INET6, b), col)

    def macs(self, col: Iterable[bytes]) -> list[str]:
        return self._cached(self.mac, lambda b: b.hex(":"), col)

    def strings(self, col: Iterable[bytes]) -> list[str]:
        return self._cached(self.text, _text, col)


def _text(b: bytes) -> str:
    return bytes(b).rstrip(b"\x00").decode("utf-8", "replace")


def _uint_bytes(col: Iterable[bytes]) -> list[int]:
    return [int.from_bytes(b, "big") for b in col]


def _sint_bytes(col: Iterable[bytes]) -> list[int]:
    return [int.from_bytes(b, "big", signed=True) for b in col]


def _bools(col: Iterable[int]) -> list[bool | None]:
    # RFC 7011 6.1.5: true = 1, false = 2; anything else is not a boolean.
    return [True if v == 1 else False if v == 2 else None for v in col]


def _ntp_micro(col: Iterable[int]) -> list[int]:
    # RFC 7011 6.1.9: NTP seconds + fraction; rounding to the nearest unit absorbs the 11
    # fraction bits exporters leave zero.
    off = NTP_EPOCH_OFFSET
    return [((v >> 32) - off) * 1_000_000 + (((v & 0xFFFFFFFF) * 1_000_000 + 0x80000000) >> 32)
            for v in col]


def _ntp_nano(col: Iterable[int]) -> list[int]:
    off = NTP_EPOCH_OFFSET
    return [((v >> 32) - off) * 1_000_000_000 + (((v & 0xFFFFFFFF) * 1_000_000_000 + 0x80000000) >> 32)
            for v in col]


def _bytes_list(col: Iterable[Any]) -> list[Any]:
    return [bytes(v) for v in col]


def _tolist(arr: Any) -> list[Any]:
    """The values of a numpy column as Python objects (a column handed over unconverted)."""
    values: list[Any] = arr.tolist()
    return values


class _ViaList:
    """A list converter (strings, booleans, timestamps...) applied to a numpy column."""

    __slots__ = ("conv",)

    def __init__(self, conv: Conv) -> None:
        self.conv = conv

    def __call__(self, arr: Any) -> list[Any]:
        return self.conv(arr.tolist())


def _field_plan(spec: ElementSpec, length: int, caches: _Caches) -> tuple[str, Conv | None, bool]:
    """Struct code, column converter and whether the field yields a column.

    Reduced-size encoding (RFC 7011 6.2) falls out of choosing the code by length; a length
    the type cannot have decodes the raw bytes as an octet array rather than failing.
    """
    t = spec.type
    if length == 0:
        return "", None, False
    if t in _LIST_TYPES or (spec.pen == 0 and spec.id == 210):  # RFC 6313 lists, paddingOctets
        return f"{length}x", None, False
    if t in _INT_TYPES:
        code = _UNSIGNED.get(length)
        return (code, None, True) if code else (f"{length}s", _uint_bytes, True)
    if t.startswith("signed"):
        code = _SIGNED.get(length)
        return (code, None, True) if code else (f"{length}s", _sint_bytes, True)
    if t == "ipv4Address" and length == 4:
        return "I", caches.ipv4, True
    if t == "ipv6Address" and length == 16:
        return "16s", caches.ipv6, True
    if t == "macAddress" and length == 6:
        return "6s", caches.macs, True
    if t == "string":
        return f"{length}s", caches.strings, True
    if t in ("float32", "float64") and length in (4, 8):
        return ("f" if length == 4 else "d"), None, True
    if t == "boolean" and length == 1:
        return "B", _bools, True
    if t == "dateTimeMicroseconds" and length == 8:
        return "Q", _ntp_micro, True
    if t == "dateTimeNanoseconds" and length == 8:
        return "Q", _ntp_nano, True
    return f"{length}s", None, True


_FIELD_STRUCTS: dict[str, struct.Struct] = {}


def _field_struct(code: str) -> struct.Struct:
    """One shared Struct per field code: a template flood must not build one per field."""
    st = _FIELD_STRUCTS.get(code)
    if st is None:
        st = struct.Struct(">" + code)
        if len(_FIELD_STRUCTS) < 4096:  # codes are few ("I", "16s"...); lengths bound the rest
            _FIELD_STRUCTS[code] = st
    return st


class Template:
    """A compiled (options) template: column names, one Struct for fixed-length records, and
    per-field plans for the variable-length slow path."""

    __slots__ = ("tid", "fields", "scope_count", "names", "convs", "struct", "reclen",
                 "varlen", "plan", "min_len", "received", "is_options", "np_dtype", "np_fields",
                 "relative", "caches")

    def __init__(self, tid: int, fields: list[tuple[int, int, int]], scope_count: int,
                 registry: Registry, caches: _Caches, received: float | None = None) -> None:
        self.tid = tid
        self.fields = fields
        self.scope_count = scope_count
        self.caches = caches
        self.is_options = scope_count > 0
        # IPFIX times relative to boot (21/22) or to the export time (158/159) need the
        # message/session context, so such records are decoded per message, not pooled.
        self.relative = any(pen == 0 and eid in (21, 22, 158, 159) for pen, eid, _ln in fields)
        self.received = time.time() if received is None else received
        names: list[str] = []
        convs: list[Conv | None] = []
        codes: list[str] = []
        plan: list[tuple[int, struct.Struct | None, Conv | None, bool, str]] = []
        seen: dict[str, int] = {}
        self.varlen = False
        min_len = 0
        np_formats: list[str] = []
        np_offsets: list[int] = []
        for pen, eid, length in fields:
            if pen == V9_SCOPE_PEN:
                spec = ElementSpec(0, eid, _V9_SCOPE_NAMES.get(eid, f"scope{eid}"), "unsigned64")
            else:
                spec = registry.get(pen, eid)
            name = spec.name
            if length == VARLEN:
                self.varlen = True
                min_len += 1
                t = spec.type
                conv: Conv | None = caches.strings if t == "string" else _bytes_list
                emit = t not in _LIST_TYPES and not (spec.pen == 0 and spec.id == 210)  # paddingOctets
                code = ""
            else:
                code, conv, emit = _field_plan(spec, length, caches)
                codes.append(code)
                if emit:
                    np_formats.append(_NP_CODES.get(code) or
                                      (f"S{length}" if spec.type == "string" else f"V{length}"))
                    np_offsets.append(min_len)
                min_len += length
            if emit:
                n = seen.get(name, 0) + 1
                seen[name] = n
                names.append(name if n == 1 else f"{name}#{n}")
                convs.append(conv)
            st = _field_struct(code) if code and emit else None
            plan.append((length, st, conv, emit, name))
        self.names = names
        self.convs = convs
        self.plan = plan
        self.min_len = min_len
        self.reclen = 0 if self.varlen else min_len
        self.struct = None if self.varlen or min_len == 0 else struct.Struct(">" + "".join(codes))
        self.np_dtype: Any = None
        self.np_fields: list[tuple[str, Any, Conv | None]] = []
        if _np is not None and self.struct is not None and np_formats:
            self.np_dtype = _np.dtype({"names": [f"f{i}" for i in range(len(np_formats))],
                                       "formats": np_formats, "offsets": np_offsets,
                                       "itemsize": min_len})
            # Multi-byte numbers are first copied into a native-order contiguous array:
            # tolist on a strided big-endian view costs about twice as much per value.
            self.np_fields = [(f"f{i}", _np.dtype(fmt[1:]) if fmt[0] == ">" else None, conv)
                              for i, (fmt, conv) in enumerate(zip(np_formats, convs, strict=True))]
            self.np_fields = [(name, None, caches.ipv4_array) if conv == caches.ipv4 else
                              (name, native, conv) for name, native, conv in self.np_fields]

    def same_as(self, fields: list[tuple[int, int, int]], scope_count: int) -> bool:
        return self.fields == fields and self.scope_count == scope_count

    def decode_fixed(self, buf: bytes | bytearray | memoryview, count: int) -> list[list[Any]]:
        """Columns of ``count`` fixed-length records at the start of ``buf`` (fast path)."""
        st = self.struct
        assert st is not None
        if count == 0:
            return [[] for _ in self.names]
        out: list[list[Any]] = []
        if self.np_dtype is not None:
            ipv4_array = self.caches.ipv4_array
            arr = _np.frombuffer(buf, dtype=self.np_dtype, count=count)
            for name, native, conv in self.np_fields:
                if conv is None:
                    out.append(arr[name].tolist() if native is None else arr[name].astype(native).tolist())
                elif conv == ipv4_array:  # numpy's per-call cost loses on a few records
                    out.append(conv(arr[name]) if count >= 64 else self.caches.ipv4(arr[name].tolist()))
                else:
                    out.append(conv(arr[name].tolist() if native is None else arr[name].astype(native).tolist()))
            return out
        cols: list[Any] = list(zip(*st.iter_unpack(memoryview(buf)[: count * self.reclen]), strict=True))
        for col, conv in zip(cols, self.convs, strict=True):
            out.append(conv(col) if conv is not None else list(col))
        return out

    def decode_var(self, buf: bytes | memoryview, start: int, end: int) -> tuple[list[list[Any]], int, int]:
        """Slow path for templates with variable-length fields.

        Returns (columns, records decoded, offset where decoding stopped); stops early (and
        the caller counts a malformed record) when a length runs past the set.
        """
        raw: list[list[Any]] = [[] for _ in self.names]
        plan = self.plan
        min_len = self.min_len
        off = start
        n = 0
        bad = -1
        while end - off >= min_len and min_len > 0:
            rec_start = off
            values: list[Any] = []
            ok = True
            for length, st, _conv, emit, _name in plan:
                if length == VARLEN:
                    if off >= end:
                        ok = False
                        break
                    ln = buf[off]
                    off += 1
                    if ln == 255:
                        if off + 2 > end:
                            ok = False
                            break
                        ln = (buf[off] << 8) | buf[off + 1]
                        off += 2
                    if off + ln > end:
                        ok = False
                        break
                    if emit:
                        values.append(bytes(buf[off:off + ln]))
                    off += ln
                else:
                    if off + length > end:
                        ok = False
                        break
                    if emit and st is not None:
                        values.append(st.unpack_from(buf, off)[0])
                    off += length
            if not ok:
                bad = rec_start
                break
            for col, v in zip(raw, values, strict=True):
                col.append(v)
            n += 1
        cols: list[list[Any]] = []
        for col, conv in zip(raw, self.convs, strict=True):
            cols.append(conv(col) if conv is not None else col)
        return cols, n, bad


SessionKey = tuple[str, int, int]  # exporter (host:port or file), observation domain, version
#: _ipfix_vector: fewer messages than this (or bytes) are not worth numpy's per-call cost; it
#: walks at most _VECTOR_MAX_MESSAGES messages and _VECTOR_MAX_SETS sets per message at once
_VECTOR_MIN_MESSAGES = 8
_VECTOR_MIN_BYTES = 8 * 64
_VECTOR_MAX_MESSAGES = 4096
_VECTOR_MAX_SETS = 32
_MAX_IFNAMES = 65536  # interface names learnt from options data, per session
#: ... and over every session of the decoder: 4,096 sessions of 65,536 names each would be
#: hundreds of GB. Past it the session holding the most names starts over (counted).
_MAX_IFNAMES_TOTAL = 262_144
#: characters of an interface name kept for the flow records' ingress/egressInterfaceName
#: (SNMP's DisplayString, what ifDescr and ifName are, holds 255): an options record may carry
#: a 65,000-byte name, and one exporter sending new ones kept every byte it sent (1,500
#: messages: 90 MB; the per-session bound alone allowed 4 GB)
_MAX_IFNAME_CHARS = 255
#: Sampler (v9 samplerId) / selector (PSAMP selectorId) rates learnt from options data, per
#: session: routers have a handful; past this the table starts over (counted), so an exporter
#: announcing a new id in every record cannot grow it.
MAX_SAMPLERS = 256
#: NetFlow v9: the exporter's boot time (export time - sysUptime) moving forward by more than
#: this means it restarted: its templates are forgotten, so data sent before its new templates
#: waits for them instead of being read with the old layout (which can swap source and
#: destination and accuse a victim). Reordered messages keep the boot time (within a second of
#: rounding); the 32-bit sysUptime wrapping every 49.7 days moves it by 2**32 ms, not a restart.
#: An exporter whose wall clock is stepped forward by more than this is taken as restarted too:
#: its data waits for the next template refresh, held and counted, not misread.
V9_RESTART_MS = 30_000
#: IPFIX over UDP: headers carry no uptime, so a restart is seen from the sequence number
#: (RFC 7011 3.1: data records sent in the domain, modulo 2**32), which a restarted exporting
#: process starts again. A message numbered below this while the session expected a number
#: more than this away from it (either way round the 2**32 circle) is taken as a restart:
#: its templates are forgotten (as a v9
#: reboot's), so data that overtook the new template waits for it instead of being read with
#: the old layout under a reused template id (RFC 7011 8.4 lets ids be reused, and UDP
#: reorders). A late datagram trails by the few records sent while it was delayed, not by
#: 65,536 records and from the first 65,536 of the stream; a loss of more than 65,536
#: records across the wrap landing there is as rare, and an exporter whose numbering is
#: random hits the range with a chance of 1 in 65,536 per message. Either costs no misread:
#: data waits for the next template refresh (held, then dropped and counted). A restart within
#: 65,536 records of the stream's start (or of its wrap), or one that does not number from
#: near 0, is not seen: the known limit stays for those.
IPFIX_RESTART_RECORDS = 1 << 16
#: damaged messages, sets, templates or records logged as warnings per decoder (all counted)
LOG_FIRST_BAD = 10
_SWEEP_EVERY = 10.0  # seconds between sweeps for idle sessions and expired templates
_MAX_SESSION_GAUGES = 256  # exporters with their own gauges in the run's stats
_EARLY_OVERHEAD = 96  # bytes a held data set costs beyond its body (empty sets must cost too)
#: A data set held for its template: body, version, v9 boot time (epoch ms), and the export
#: time and NetFlow sysUptime of the message it came in.
_Held = tuple[bytes, int, int | None, int, int | None]


class _Session:
    """Per (exporter transport session, observation domain) state."""

    __slots__ = ("templates", "expected_seq", "restart_seq", "sampling", "ifnames", "lost", "init_ms",
                 "out_of_order", "key", "tkey", "established", "last_seen", "refused", "samplers",
                 "exporter", "odid", "version", "boot_ms")

    def __init__(self, key: str, tkey: SessionKey = ("", 0, 0)) -> None:
        self.key = key
        self.tkey = tkey
        self.exporter, self.odid, self.version = tkey
        self.established = False  # delivered a data record: evicted after sessions that did not
        self.last_seen = 0.0
        self.refused: dict[int, str] = {}  # template id -> why it was refused (data is dropped so)
        self.templates: dict[int, Template] = {}
        self.expected_seq: int | None = None
        self.restart_seq: int | None = None
        self.sampling: int | None = None  # the rate of the last options record announcing one
        # sampler/selector id -> its rate, None for a sampler that is not packet-based
        # (PSAMP time-based selection); bounded by MAX_SAMPLERS
        self.samplers: dict[int, int | None] = {}
        self.init_ms: int | None = None  # systemInitTimeMilliseconds from options data
        self.ifnames: dict[int, str] = {}
        self.lost = 0
        self.out_of_order = 0
        self.boot_ms: int | None = None  # NetFlow v9: export time - sysUptime of the last message


class _Pending:
    """Fixed-length records of one template queued as bytes until flush, with the export
    time of the message each came in: runs of records from messages exported in the same
    second, as their first record and export time (ms). Queuing a set costs one comparison
    unless the export time changed (exporters send a message every few records; per-set
    bookkeeping showed in decode benchmarks)."""

    __slots__ = ("template", "session", "buf", "count", "export_ms", "run_starts", "run_times")

    def __init__(self, template: Template, session: _Session) -> None:
        self.template = template
        self.session = session
        self.buf = bytearray()
        self.count = 0
        self.export_ms = -1  # the current run's export time
        self.run_starts: list[int] = []
        self.run_times: list[int] = []

    def new_run(self, export_ms: int) -> None:
        self.export_ms = export_ms
        self.run_starts.append(self.count)
        self.run_times.append(export_ms)

    def export_array(self) -> Any:
        """One export time per queued record, as a numpy int64 array."""
        times, starts = self.run_times, self.run_starts
        if len(times) == 1:
            return _np.full(self.count, times[0], dtype=_np.int64)
        bounds = _np.array([*starts, self.count], dtype=_np.int64)
        return _np.repeat(_np.array(times, dtype=_np.int64), _np.diff(bounds))

    def export_times(self) -> list[int]:
        """One export time per queued record."""
        times, starts = self.run_times, self.run_starts
        if len(times) == 1:
            return times * self.count
        out: list[int] = []
        for ms, start, end in zip(times, starts, [*starts[1:], self.count], strict=True):
            out += [ms] * (end - start)
        return out


class MessageDecoder:
    """Decodes IPFIX, NetFlow v9 and v5 messages of one input into FlowBatches.

    ``decode(data, exporter)`` handles one message (a UDP datagram, a framed TCP/file message)
    and returns its records at once. Inputs that want bigger batches call ``feed`` per message
    and ``flush`` when ``pending_records`` reaches their batch size or at idle/end.

    ``transport`` is ``udp``, ``tcp`` or ``file``: over UDP template withdrawals are ignored
    (RFC 7011 8.4), templates expire after ``template_lifetime`` seconds unless refreshed and
    sessions silent for ``limits.session_timeout`` are forgotten. ``limits`` bounds sessions
    and templates (:class:`DecoderLimits`); evictions and refusals are counted in stats.

    ``apply_sampling`` multiplies packet and byte counters (:data:`SAMPLED_COUNTERS`) by the
    sampling rate the exporter announced (v5 header, options data, or a per-record
    ``samplingInterval``), so volumes estimate the traffic rather than the sample; the rate
    stays in ``samplingInterval`` either way.

    ``lazy_columns`` (an attribute, True unless set off): a merged flush hands its columns over
    as numpy arrays (``Columns.set_arrays``) that become lists on their first read, in the
    reader's thread; the sanitiser judges them on the arrays, so a column no stage reads
    (``ipVersion``, the export time in the default run) is never converted, and the reader's
    thread does the conversions of what it reads. Off, every list is made at the flush, in the
    decoding thread, in a plain dict. ``flowcep run`` on data.ipfix x 50 costs 3-7 % less CPU
    with it on, alerts byte-identical (docs/performance.md, "Lazy numpy columns end to end").
    """

    #: hand merged columns over unconverted (see the class docstring)
    lazy_columns = True

    def __init__(self, ctx: Context, source: str, registry: Registry | None = None, *,
                 transport: str = "file", template_lifetime: float | None = None,
                 max_buffered_bytes: int = 4 << 20, limits: DecoderLimits | None = None,
                 apply_sampling: bool = False) -> None:
        self.ctx = ctx
        self.stats = ctx.stats
        self.log = ctx.logger
        self.source = source
        if registry is None:
            registry = ctx.elements if isinstance(ctx.elements, Registry) else default_registry()
        self.registry = registry
        self.transport = transport
        self.template_lifetime = template_lifetime
        self.max_buffered_bytes = max_buffered_bytes
        self.caches = _Caches(self.stats)
        self.limits = limits or DecoderLimits()
        self.apply_sampling = apply_sampling
        self.sessions: dict[SessionKey, _Session] = {}
        # recency order for eviction: sessions without a data record yet, and established ones
        self._lru_new: OrderedDict[SessionKey, None] = OrderedDict()
        self._lru_est: OrderedDict[SessionKey, None] = OrderedDict()
        self.template_bytes = 0  # estimated (limits.template_cost) over every session
        self._ifnames_total = 0  # interface names kept over every session (_MAX_IFNAMES_TOTAL)
        self._gauged: set[str] = set()
        self._by_exporter: dict[str, set[SessionKey]] = {}  # so a TCP close does not scan all
        self._now = time.monotonic()
        self._next_sweep = self._now + _SWEEP_EVERY
        self._pending: dict[tuple[int, int], _Pending] = {}
        self.pending_records = 0
        self._ready: list[FlowBatch] = []
        # data sets whose template has not arrived: key -> list of (bytes, version, base_ms,
        # and the export time and sysUptime of the message they came in)
        self._early: dict[tuple[str, int, int, int], list[_Held]] = {}
        self._early_bytes = 0
        self.templates_changed = False
        self.messages = 0
        self._export_ms = 0
        self._uptime_ms: int | None = None  # NetFlow's sysUptime of the message being decoded
        self._vector_skip = 0  # messages to decode one by one before trying _ipfix_vector again
        self._vector_backoff = 1
        # messages and records taken by _ipfix_vector (a prior of 8 records a message), to
        # size the next walk
        self._vector_msgs = 1
        self._vector_recs = 8
        self._bad_seen = 0  # damaged items seen (the first LOG_FIRST_BAD are logged as warnings)
        # the session _session returned last: the most recent of its LRU, so a message of
        # the same exporter and domain (most of them) skips the lookup and the reordering
        self._last: _Session | None = None

    # -- public API ------------------------------------------------------------------------
    def decode(self, data: bytes, exporter: str) -> list[FlowBatch]:
        """Decode one message (or several back to back) and return every record in it."""
        self.feed(data, exporter)
        return self.flush()

    def feed(self, data: bytes | bytearray | memoryview, exporter: str, start: int = 0,
             limit: int | None = None, starts: list[int] | None = None) -> int:
        """Decode the messages of ``data`` from ``start``; fixed-length records wait in
        ``pending_records`` until flush.

        With ``limit``, stops after the first message that brings ``pending_records`` to
        ``limit`` or more, so an input can cut batches where it would have, had it fed one
        message at a time. Returns the offset where decoding stopped (``len(data)`` when
        every message was read or the rest was dropped as malformed). File inputs hand over
        runs of messages at once: one call and no copy per message. ``starts``, when the
        caller already found them (the framer, or a UDP stretch of whole-message datagrams),
        are the offsets of the messages in ``data``, in order: the run decoder then need not
        walk the length fields again (they are still checked: a wrong list costs time, never
        a different result).
        """
        buf = bytes(data) if not isinstance(data, bytes) else data
        self._now = now = time.monotonic()
        if now >= self._next_sweep:
            self._sweep(now)
        off = start
        size = len(buf)
        while size - off >= 2:
            version = (buf[off] << 8) | buf[off + 1]
            if version == 10:
                if self._vector_skip > 0:
                    self._vector_skip -= 1
                elif size - off >= _VECTOR_MIN_BYTES and _np is not None:
                    done = self._ipfix_vector(buf, off, exporter, limit, starts)
                    if done > off:
                        off = done
                        if limit is not None and self.pending_records >= limit and off < size:
                            return off
                        continue
                used = self._ipfix(buf, off, exporter)
            elif version == 9:
                used = self._v9(buf, off, exporter)
            elif version == 5:
                used = self._v5(buf, off, exporter)
            else:
                self._bad("unsupported-version", 1, exporter, off, f"version {version}", header=True)
                return size
            if used <= 0:
                return size
            off += used
            if limit is not None and self.pending_records >= limit and off < size:
                return off
        if size - off == 1:
            self._bad("malformed-message", 1, exporter, off, "1 trailing byte", header=True)
        return size

    def buffered(self) -> int:
        """Records decoded or pending that ``flush`` would return now."""
        return self.pending_records + sum(b.length for b in self._ready)

    def flush(self, merged: bool = False) -> list[FlowBatch]:
        """Every decoded record not yet returned, as one batch per template, or as one batch
        with ``merged`` (inputs use that: records of several templates read together must
        reach the event-time clock together, or one template's batch would push the watermark
        past the others' records)."""
        one = self._flush_merged() if merged else None
        if one is not None:
            others = self._ready  # options records only (_flush_merged checked)
            self._ready = []
            return [one, *others]
        out = self._flush_all()
        if merged and len(out) > 1:
            flows = [b for b in out if b.stream == FLOW_STREAM]
            others = [b for b in out if b.stream != FLOW_STREAM]  # options: their own stream
            if len(flows) <= 1:
                return flows + others
            one = FlowBatch.concat(flows, self.source)
            if one.exporter is None and "flowcep.exporter" not in one.columns:
                # several exporters in one batch: keep who sent each record
                one.add_column("flowcep.exporter", [b.exporter for b in flows for _ in range(b.length)])
            return [one, *others]
        return out

    def _flush_merged(self) -> FlowBatch | None:
        """The pending records of every template as one batch, joined column by column
        before the columns become lists: a column that every template has with the same
        numpy type is converted once (one ``tolist``, one address-cache pass) instead of
        once per template and then copied again by ``FlowBatch.concat``. Only the common
        case, where a batch's columns are the template's plus the two header columns: one
        exporter session, no sampling or interface-name state, nothing decoded outside the
        pending queues. Otherwise None, and ``flush`` joins per-template batches as before;
        both give the same columns in the same order (``tests/inputs/test_decode_runs.py``)."""
        pend = list(self._pending.values())
        if not pend or _np is None or any(b.stream == FLOW_STREAM for b in self._ready):
            return None
        sess = pend[0].session
        if (self.apply_sampling or sess.sampling is not None or sess.samplers or sess.ifnames
                or sess.tkey[2] != 10):
            return None
        for p in pend:
            if p.session is not sess or p.template.np_dtype is None or not p.count:
                return None
        # the column names in FlowBatch.concat's order: each batch's, new ones appended
        names: dict[str, None] = {}
        for p in pend:
            names.update(dict.fromkeys(p.template.names))
            names[EXPORT_VERSION] = None
            names[EXPORT_TIME] = None
        arrays = [_np.frombuffer(p.buf, dtype=p.template.np_dtype, count=p.count) for p in pend]
        fields = [{n: f for n, f in zip(p.template.names, p.template.np_fields, strict=True)} for p in pend]
        total = sum(p.count for p in pend)
        caches = self.caches
        ipv4_array = caches.ipv4_array
        # conversions whose every value is valid text of its kind (records.ArrayPart encodings)
        texts: dict[Any, str] = {caches.ipv6: IPV6_TEXT, caches.macs: MAC_TEXT, caches.strings: TEXT}
        # Every column is a numpy array in native order (the numpy work is done here: joins,
        # byte order) that becomes a list on its first read (Columns.set_view): at the end of
        # this flush, or with lazy_columns when a stage reads it.
        columns = Columns(None, total)
        for name in names:
            if name == EXPORT_VERSION:
                columns[name] = [10] * total
                continue
            if name == EXPORT_TIME:
                times = [p.export_array() for p in pend]
                columns.set_arrays(name, [ArrayPart(times[0] if len(times) == 1 else _np.concatenate(times),
                                                    _tolist, VALUES)])
                continue
            plans = [f.get(name) for f in fields]
            first = plans[0]
            parts = [arr[plan[0]] for arr, plan in zip(arrays, plans, strict=True) if plan is not None]
            if (first is not None and all(plan is not None and plan[1:] == first[1:] for plan in plans)
                    and (first[2] is None or first[2] == ipv4_array)
                    and all(part.dtype == parts[0].dtype for part in parts)):
                joined = _np.concatenate(parts) if len(parts) > 1 else parts[0].copy()
                if not joined.dtype.isnative:  # big-endian numbers: swap in place, no second copy
                    joined = joined.byteswap(inplace=True).view(joined.dtype.newbyteorder())
                columns.set_arrays(name, [ArrayPart(joined, _tolist, VALUES) if first[2] is None
                                          else ArrayPart(joined, caches.ipv4_column, IPV4_TEXT)])
                continue
            pieces: list[ArrayPart] = []
            for p, arr, plan in zip(pend, arrays, plans, strict=True):
                if plan is None:
                    pieces.append(ArrayPart(p.count, _tolist, VALUES))
                    continue
                field, native, conv = plan
                values = arr[field].copy() if native is None else arr[field].astype(native)
                pieces.append(ArrayPart(values, _tolist, VALUES) if conv is None
                              else ArrayPart(values, caches.ipv4_column, IPV4_TEXT) if conv == ipv4_array
                              else ArrayPart(values, _ViaList(conv), texts.get(conv)))
            columns.set_arrays(name, pieces)
        for p in pend:
            self.stats.count("decode", p.count)
        if not sess.established:
            self._establish(sess)
        self._pending.clear()
        self.pending_records = 0
        if not self.lazy_columns:  # every column made now, in a plain dict as before
            return FlowBatch(dict(columns.items()), total, self.source, sess.key)
        return FlowBatch(columns, total, self.source, sess.key)

    def _flush_all(self) -> list[FlowBatch]:
        out = self._ready
        self._ready = []
        for p in self._pending.values():
            if p.count:
                out.append(self._make_batch(p.template, p.session,
                                            p.template.decode_fixed(p.buf, p.count), p.count, queued=p))
        self._pending.clear()
        self.pending_records = 0
        return out

    def close(self) -> None:
        """End of input: data still waiting for a template is counted as dropped."""
        for (exp, _odid, _v, _tid), items in self._early.items():
            self._bad("unknown-template", len(items), exp, 0, "data sets never got their template")
        self._early.clear()
        self._early_bytes = 0

    def forget(self, exporter: str) -> None:
        """A transport session ended (TCP close): decode what is pending, drop its templates."""
        for key in list(self._by_exporter.get(exporter, ())):
            self._remove_session(key)
        if not self._early:
            return
        for ekey in [k for k in self._early if k[0] == exporter]:
            items = self._early.pop(ekey)
            self._early_bytes -= sum(len(i[0]) + _EARLY_OVERHEAD for i in items)
            self._bad("unknown-template", len(items), exporter, 0, "session closed before template")

    # -- template persistence (template_cache.py) -----------------------------------------------
    def export_templates(self) -> list[dict[str, Any]]:
        """Templates as plain data, for the template cache file."""
        out = []
        for (exp, odid, version), sess in self.sessions.items():
            for t in sess.templates.values():
                out.append({"exporter": exp, "odid": odid, "version": version, "id": t.tid,
                            "scope": t.scope_count, "fields": [list(f) for f in t.fields],
                            "received": t.received})
        return out

    def import_templates(self, items: Iterable[dict[str, Any]]) -> int:
        """Load templates saved by ``export_templates``; bad entries are skipped."""
        n = 0
        for it in items:
            try:
                fields = [(int(p), int(i), int(ln)) for p, i, ln in it["fields"]]
                tid = int(it["id"])
                sess = self._session(str(it["exporter"]), int(it["odid"]), int(it["version"]))
                if not self._admit(sess, tid, len(fields)):
                    continue
                sess.templates[tid] = Template(tid, fields, int(it["scope"]), self.registry, self.caches,
                                               float(it.get("received", time.time())))
                self.template_bytes += template_cost(len(fields))
                n += 1
            except (KeyError, TypeError, ValueError, struct.error) as exc:
                self.log.debug("%s: skipping cached template %r: %s", self.source, it, exc)
        return n

    # -- helpers ---------------------------------------------------------------------------
    def _bad(self, reason: str, n: int, exporter: str, offset: int, what: str, header: bool = False) -> None:
        """Count damaged input by reason; the first :data:`LOG_FIRST_BAD` of a decoder are
        logged as one warning line each (source, exporter, message number, what), the rest at
        debug level only: a hostile exporter can damage every datagram, the log must not grow
        with it while the counts still tell."""
        self.stats.drop(reason, n, self.source)
        self._bad_seen += 1
        # a damaged header is the message after the last one counted; a damaged set or
        # record is inside the last one counted (files: the message's number in the file)
        number = self.messages + header
        if self._bad_seen <= LOG_FIRST_BAD:
            more = "; later damage is counted, not logged" if self._bad_seen == LOG_FIRST_BAD else ""
            self.log.warning("%s: exporter %s, message %d (byte %d of the datagram or read): %s: %s%s", self.source,
                             exporter, number, offset, reason, what, more)
        else:
            self.log.debug("%s: exporter %s, message %d (byte %d of the datagram or read): %s: %s", self.source, exporter,
                           number, offset, reason, what)

    def _session(self, exporter: str, odid: int, version: int) -> _Session:
        """The session of this exporter and domain, created if new; marks it recently heard."""
        key = (exporter, odid, version)
        s = self.sessions.get(key)
        if s is None:
            if len(self.sessions) >= self.limits.max_sessions:
                self._evict_session()
            s = self.sessions[key] = _Session(f"{exporter}/{odid}", key)
            self._lru_new[key] = None
            self._by_exporter.setdefault(exporter, set()).add(key)
            self.stats.gauge(f"input.sessions[{self.source}]", len(self.sessions))
        else:
            (self._lru_est if s.established else self._lru_new).move_to_end(key)
        s.last_seen = self._now
        self._last = s
        return s

    def _session_gauge(self, name: str, sess: _Session, value: int) -> None:
        """Per-exporter gauges for the first ``_MAX_SESSION_GAUGES`` sessions only: sessions
        come and go (and can be spoofed by the thousand), the run's stats must stay small.
        Totals (``input.sequence_lost``...) count every session."""
        key = sess.key
        if key not in self._gauged:
            if len(self._gauged) >= _MAX_SESSION_GAUGES:
                self.stats.add("input.session_gauges_not_kept", 1)
                return
            self._gauged.add(key)
        self.stats.gauge(f"{name}[{key}]", value)

    def _establish(self, sess: _Session) -> None:
        """The session delivered data: from now on it is evicted only after fresh ones."""
        sess.established = True
        if self._lru_new.pop(sess.tkey, 0) is None:
            self._lru_est[sess.tkey] = None

    def _evict_session(self) -> None:
        lru = self._lru_new or self._lru_est
        key = next(iter(lru))
        self.stats.add("input.sessions_evicted", 1)
        self.log.debug("%s: session table full (%d): forgetting exporter %s domain %d",
                       self.source, self.limits.max_sessions, key[0], key[1])
        self._remove_session(key)

    def _remove_session(self, key: SessionKey) -> None:
        """Decode what the session has pending, then forget it and its templates."""
        sess = self.sessions.pop(key, None)
        if sess is None:
            return
        if sess is self._last:
            self._last = None
        self._ifnames_total -= len(sess.ifnames)
        for tid in list(sess.templates):
            self._remove_template(sess, tid)
        self._lru_new.pop(key, None)
        self._lru_est.pop(key, None)
        keys = self._by_exporter.get(key[0])
        if keys is not None:
            keys.discard(key)
            if not keys:
                del self._by_exporter[key[0]]
        self.stats.gauge(f"input.sessions[{self.source}]", len(self.sessions))

    def _remove_template(self, sess: _Session, tid: int) -> None:
        self._flush_template(sess, tid)
        t = sess.templates.pop(tid, None)
        if t is not None:
            self.template_bytes -= template_cost(len(t.fields))

    def _sweep(self, now: float) -> None:
        """Forget UDP sessions silent for ``session_timeout`` and templates past their lifetime.

        Without this, lifetimes only act when data for that template arrives, so state of an
        exporter that went away (or of a flood) would stay forever.
        """
        self._next_sweep = now + _SWEEP_EVERY
        if self.transport != "udp":
            return
        timeout = self.limits.session_timeout
        if timeout is not None:
            for lru in (self._lru_new, self._lru_est):
                while lru:
                    key = next(iter(lru))
                    sess = self.sessions.get(key)
                    if sess is not None and now - sess.last_seen < timeout:
                        break
                    self.stats.add("input.sessions_expired", 1)
                    self._remove_session(key)
                    lru.pop(key, None)
        if self.template_lifetime is not None:
            wall = time.time()
            for sess in list(self.sessions.values()):
                for tid in [k for k, t in sess.templates.items() if wall - t.received > self.template_lifetime]:
                    self._remove_template(sess, tid)
                    self.stats.add("input.templates_expired", 1)
        self.stats.gauge(f"input.template_bytes[{self.source}]", self.template_bytes)

    def _refuse(self, sess: _Session, tid: int, why: str) -> None:
        if len(sess.refused) >= self.limits.max_templates:
            sess.refused.clear()
        sess.refused[tid] = why
        self.stats.add(f"input.templates_refused.{why}", 1)

    def _admit(self, sess: _Session, tid: int, n_fields: int) -> bool:
        """Whether a new definition of ``tid`` with ``n_fields`` fits the limits, making room by
        evicting the session's oldest template or fresh sessions. Refusals are counted and
        remembered, so the template's data is dropped as ``template-refused``."""
        lim = self.limits
        if n_fields > lim.max_fields:
            self._refuse(sess, tid, "too-many-fields")
            return False
        old = sess.templates.get(tid)
        if old is not None:
            self._remove_template(sess, tid)
        elif len(sess.templates) >= lim.max_templates:
            oldest = next(iter(sess.templates))
            self._remove_template(sess, oldest)
            self.stats.add("input.templates_evicted", 1)
        cost = template_cost(n_fields)
        over = self.template_bytes + cost - lim.max_template_bytes
        if over > 0:
            victims: list[SessionKey] = []
            for steps, key in enumerate(self._lru_new):
                other = self.sessions.get(key)
                if steps >= 4096:  # bounded work per template; refusing is the fallback
                    break
                if key == sess.tkey or other is None or not other.templates:
                    continue
                victims.append(key)
                over -= sum(template_cost(len(t.fields)) for t in other.templates.values())
                if over <= 0:
                    break
            for key in victims:
                self.stats.add("input.sessions_evicted", 1)
                self._remove_session(key)
        if self.template_bytes + cost > lim.max_template_bytes:
            self._refuse(sess, tid, "template-budget")
            return False
        sess.refused.pop(tid, None)
        return True

    def _sequence(self, sess: _Session, seq: int, count: int | None, exporter: str) -> None:
        """Wraparound-safe loss accounting. ``count`` None = unknown (resynchronise next time).

        A jump back is counted once as out of order. If the next message continues from the
        jumped-to number, the exporter restarted (or a file looped): follow it rather than
        calling every later message out of order; if it continues the old numbering, the
        message was merely late.
        """
        exp = sess.expected_seq
        if exp is not None and seq != exp:
            if sess.restart_seq is not None and seq == sess.restart_seq:
                sess.restart_seq = None
                sess.expected_seq = None if count is None else (seq + count) & 0xFFFFFFFF
                return
            diff = (seq - exp) & 0xFFFFFFFF
            if diff < 0x80000000:
                sess.lost += diff
                self.stats.add("input.sequence_lost", diff)
                self._session_gauge("sequence_lost", sess, sess.lost)
            else:
                sess.out_of_order += 1
                self.stats.add("input.sequence_out_of_order", 1)
                self._session_gauge("sequence_out_of_order", sess, sess.out_of_order)
                if count is not None:
                    sess.restart_seq = (seq + count) & 0xFFFFFFFF
                    return  # maybe a late message: keep expecting what we expected
        sess.restart_seq = None
        sess.expected_seq = None if count is None else (seq + count) & 0xFFFFFFFF

    def _template(self, sess: _Session, tid: int) -> Template | None:
        t = sess.templates.get(tid)
        if t is not None and self.template_lifetime is not None and self.transport == "udp":
            if time.time() - t.received > self.template_lifetime:
                self._remove_template(sess, tid)
                self.stats.add("input.templates_expired", 1)
                return None
        return t

    def _set_template(self, sess: _Session, version: int, exporter: str, tid: int,
                      fields: list[tuple[int, int, int]], scope: int) -> None:
        old = sess.templates.get(tid)
        if old is not None and old.same_as(fields, scope):
            old.received = time.time()  # refresh
            return
        if not self._admit(sess, tid, len(fields)):
            self.log.debug("%s: exporter %s: template %d (%d fields) refused: %s", self.source, exporter,
                           tid, len(fields), sess.refused.get(tid))
            return
        t = Template(tid, fields, scope, self.registry, self.caches)
        sess.templates[tid] = t
        self.template_bytes += template_cost(len(fields))
        self.templates_changed = True
        self.stats.add("input.templates", 1)
        odid = int(sess.key.rsplit("/", 1)[1])
        early = self._early.pop((exporter, odid, version, tid), None)
        if early:
            current = self._export_ms, self._uptime_ms
            for body, ver, base, export_ms, uptime_ms in early:
                self._early_bytes -= len(body) + _EARLY_OVERHEAD
                # the header of the message the data came in, not of the template's message
                self._export_ms, self._uptime_ms = export_ms, uptime_ms
                self._data_set(sess, t, body, 0, len(body), exporter, ver, base, 0)
            self._export_ms, self._uptime_ms = current
            self.stats.add("input.early_sets_decoded", len(early))

    def _withdraw(self, sess: _Session, tid: int, set_id: int, exporter: str, off: int) -> None:
        if self.transport == "udp":
            self.stats.add("input.udp_withdrawals_ignored", 1)
            return
        if tid == set_id:  # withdraw all (options) templates of this domain
            for t_id in [k for k, t in sess.templates.items() if t.is_options == (set_id == 3)]:
                self._remove_template(sess, t_id)
        elif tid in sess.templates:
            self._remove_template(sess, tid)
        else:
            self.log.debug("%s: exporter %s offset %d: withdrawal of unknown template %d",
                           self.source, exporter, off, tid)
        self.templates_changed = True

    def _flush_template(self, sess: _Session, tid: int) -> None:
        t = sess.templates.get(tid)
        if t is None:
            return
        p = self._pending.pop((id(sess), tid), None)
        if p is not None and p.count:
            self.pending_records -= p.count
            self._ready.append(self._make_batch(t, sess, t.decode_fixed(p.buf, p.count), p.count, queued=p))

    def _make_batch(self, t: Template, sess: _Session, cols: list[list[Any]], n: int,
                    base_ms: int | None = None, queued: _Pending | None = None) -> FlowBatch:
        columns = dict(zip(t.names, cols, strict=True))
        self._header_columns(columns, sess.tkey[2], n, queued)
        if base_ms is not None:
            _sysuptime_columns(columns, base_ms, self._uptime_ms)
        elif t.relative:
            init = columns.get("systemInitTimeMilliseconds")
            if init is not None:
                _sysuptime_columns(columns, init)
            elif sess.init_ms is not None:
                _sysuptime_columns(columns, sess.init_ms)
            export_ms = self._export_ms
            for src, dst in (("flowStartDeltaMicroseconds", "flowStartMilliseconds"),
                             ("flowEndDeltaMicroseconds", "flowEndMilliseconds")):
                delta = columns.get(src)
                if delta is not None and dst not in columns:
                    columns[dst] = [export_ms - v // 1000 if isinstance(v, int) else None for v in delta]
        if not sess.established:
            self._establish(sess)
        if "samplingInterval" not in columns:
            ids = columns.get("selectorId") or columns.get("samplerId")
            if ids is not None and sess.samplers:
                # each record names its sampler (v9 FLOW_SAMPLER_ID, PSAMP selectorId): the
                # rate that sampler's options record announced, else the exporter's last one
                rates, default = sess.samplers, sess.sampling
                per_record = [rates.get(i, default) for i in ids]
                if any(r is not None for r in per_record):
                    columns["samplingInterval"] = per_record
            elif sess.sampling is not None:
                columns["samplingInterval"] = [sess.sampling] * n
        if self.apply_sampling:
            self._scale(columns, n)
        if sess.ifnames:
            names = sess.ifnames
            for col, out in (("ingressInterface", "ingressInterfaceName"),
                             ("egressInterface", "egressInterfaceName")):
                c = columns.get(col)
                if c is not None and out not in columns:
                    columns[out] = [names.get(v) for v in c]
        self.stats.count("decode", n)
        return FlowBatch(columns, n, self.source, sess.key)

    def _scale(self, columns: dict[str, list[Any]], n: int) -> None:
        """Multiply the counters by each record's sampling rate (1 or unknown: unchanged)."""
        rates = columns.get("samplingInterval")
        if not rates or not any(isinstance(r, int) and r > 1 for r in rates):
            return
        for name in SAMPLED_COUNTERS:
            col = columns.get(name)
            if col is not None:
                columns[name] = [v * r if isinstance(v, int) and isinstance(r, int) and r > 1 else v
                                 for v, r in zip(col, rates, strict=True)]
        columns[SAMPLING_APPLIED] = [isinstance(r, int) and r > 1 for r in rates]
        self.stats.add("input.sampling_applied", n)

    def _keep_early(self, exporter: str, odid: int, version: int, tid: int, body: bytes,
                    base_ms: int | None, off: int) -> None:
        """RFC 3954 9: hold data that arrives before its template, within a byte budget."""
        sess = self.sessions.get((exporter, odid, version))
        refused = sess.refused.get(tid) if sess is not None else None
        if refused is not None:
            self._bad("template-refused", 1, exporter, off, f"template {tid}: {refused}")
            return
        key = (exporter, odid, version, tid)
        body_cost = len(body) + _EARLY_OVERHEAD
        if self._early_bytes + body_cost > self.max_buffered_bytes:
            # drop the oldest held sets to make room
            while self._early and self._early_bytes + body_cost > self.max_buffered_bytes:
                k = next(iter(self._early))
                items = self._early[k]
                old = items.pop(0)
                self._early_bytes -= len(old[0]) + _EARLY_OVERHEAD
                if not items:
                    del self._early[k]
                self._bad("unknown-template", 1, k[0], 0, f"buffer full, template {k[3]}")
            if body_cost > self.max_buffered_bytes:
                self._bad("unknown-template", 1, exporter, off, f"template {tid}")
                return
        self._early.setdefault(key, []).append((body, version, base_ms, self._export_ms, self._uptime_ms))
        self._early_bytes += body_cost
        self.stats.add("input.early_sets_held", 1)

    def _data_set(self, sess: _Session, t: Template, buf: bytes, start: int, end: int,
                  exporter: str, version: int, base_ms: int | None, msg_off: int) -> int:
        """Decode one data set body; returns the number of records."""
        if t.is_options:
            return self._options_data(sess, t, buf, start, end, exporter)
        if not t.varlen:
            reclen = t.reclen
            if reclen == 0:
                self._bad("malformed-template", 1, exporter, msg_off + start, f"template {t.tid} has no data")
                return 0
            n = (end - start) // reclen
            if n == 0:
                return 0
            if base_ms is None and version == 10 and not t.relative:
                key = (id(sess), t.tid)
                p = self._pending.get(key)
                if p is None:
                    p = self._pending[key] = _Pending(t, sess)
                if p.export_ms != self._export_ms:
                    p.new_run(self._export_ms)
                p.buf += memoryview(buf)[start:start + n * reclen]
                p.count += n
                self.pending_records += n
            else:
                cols = t.decode_fixed(memoryview(buf)[start:start + n * reclen], n)
                self._ready.append(self._make_batch(t, sess, cols, n, base_ms))
            return n
        cols, n, bad = t.decode_var(buf, start, end)
        if bad >= 0:
            self._bad("malformed-record", 1, exporter, msg_off + bad,
                      f"variable-length field past the end of set (template {t.tid})")
        if n:
            self._ready.append(self._make_batch(t, sess, cols, n, base_ms))
        return n

    def _header_columns(self, columns: dict[str, list[Any]], version: int, n: int,
                        queued: _Pending | None = None) -> None:
        """The message header of each record (Beats' ``netflow.exporter.version``,
        ``.timestamp`` and, for NetFlow, ``.uptime_millis``): records queued from several
        messages keep their own message's export time."""
        columns[EXPORT_VERSION] = [version] * n
        columns[EXPORT_TIME] = queued.export_times() if queued is not None else [self._export_ms] * n
        if self._uptime_ms is not None and version != 10:
            columns[SYS_UPTIME] = [self._uptime_ms] * n

    def _options_data(self, sess: _Session, t: Template, buf: bytes, start: int, end: int,
                      exporter: str) -> int:
        if t.varlen:
            cols, n, bad = t.decode_var(buf, start, end)
            if bad >= 0:
                self._bad("malformed-record", 1, exporter, bad, f"options template {t.tid}")
        else:
            if t.reclen == 0:
                return 0
            n = (end - start) // t.reclen
            cols = t.decode_fixed(memoryview(buf)[start:start + n * t.reclen], n)
        if not n:
            return 0
        rec = dict(zip(t.names, cols, strict=True))
        init = rec.get("systemInitTimeMilliseconds")
        if init and isinstance(init[-1], int):
            sess.init_ms = init[-1]
        self._learn_samplers(sess, rec, n)
        ifidx = rec.get("ingressInterface") or rec.get("egressInterface")
        names = rec.get("interfaceName") or rec.get("interfaceDescription")
        if ifidx and names:
            self._learn_ifnames(sess, ifidx, names)
        self.stats.add("input.option_records", n)
        self._ready.append(self._options_batch(t, sess, rec, n))
        return n

    def _learn_ifnames(self, sess: _Session, ifidx: list[Any], names: list[Any]) -> None:
        """Remember interface names for the flow records' ``*InterfaceName`` columns, bounded
        per session, over all sessions and per name (see ``_MAX_IFNAMES_TOTAL``): a table that
        would outgrow a bound starts over, the busiest one when the total is at stake, counted
        in ``input.ifnames_cleared``; names are cut at ``_MAX_IFNAME_CHARS``."""
        ifnames = sess.ifnames
        if len(ifnames) + len(ifidx) > _MAX_IFNAMES:
            self._ifnames_total -= len(ifnames)
            ifnames.clear()
            self.stats.add("input.ifnames_cleared", 1)
        while self._ifnames_total + len(ifidx) > _MAX_IFNAMES_TOTAL and self._ifnames_total:
            busiest = max(self.sessions.values(), key=lambda x: len(x.ifnames))
            if not busiest.ifnames:  # nothing left to clear: the count was off
                self._ifnames_total = 0
                break
            self._ifnames_total -= len(busiest.ifnames)
            busiest.ifnames.clear()
            self.stats.add("input.ifnames_cleared", 1)
        before = len(ifnames)
        for i, nm in zip(ifidx, names, strict=True):
            if isinstance(i, int) and isinstance(nm, str):
                ifnames[i] = nm[:_MAX_IFNAME_CHARS]
        self._ifnames_total += len(ifnames) - before

    def _learn_samplers(self, sess: _Session, rec: dict[str, list[Any]], n: int) -> None:
        """Each options record announcing a sampling rate sets it for its sampler (the
        record's ``samplerId``/``selectorId``, when it has one) and as the exporter's default."""
        ids = rec.get("selectorId") or rec.get("samplerId")
        algorithms = rec.get("selectorAlgorithm") or rec.get("samplerMode")
        if algorithms is None and _RATE_FIELDS.isdisjoint(rec):
            # interface tables, exporter statistics: nothing about sampling in any record, and
            # asking each one cost 12 us a record (an options flood ran at 80k records/s)
            return
        for i in range(n):
            rate = _sampling_rate(rec, i)
            sid = ids[i] if ids is not None else None
            if rate is None and (algorithms is None or not isinstance(sid, int)):
                continue  # says nothing about sampling
            if isinstance(sid, int):
                if sid not in sess.samplers and len(sess.samplers) >= MAX_SAMPLERS:
                    sess.samplers.clear()
                    self.stats.add("input.samplers_cleared", 1)
                sess.samplers[sid] = rate  # None: a sampler whose rate is not a packet count
            if rate is not None:
                sess.sampling = rate
                self._session_gauge("sampling_interval", sess, rate)

    def _options_batch(self, t: Template, sess: _Session, rec: dict[str, list[Any]], n: int) -> FlowBatch:
        """Options records as their own stream: the decoded scope and option fields, the
        options template's id (``flowcep.template_id``, which tells the kinds of record apart;
        not ``templateId``, which a Flow Keys record holds as its scope) and the message's
        export time (``exportTime``, epoch seconds, RFC 7011 3.1), which is also the records'
        event time; ``paddingOctets`` never becomes a column."""
        columns = {k: v for k, v in rec.items() if k != "paddingOctets"}
        export_ms = self._export_ms
        columns["flowcep.template_id"] = [t.tid] * n
        columns["exportTime"] = [export_ms // 1000] * n
        columns["flowcep.exporter"] = [sess.key] * n
        batch = FlowBatch(columns, n, self.source, sess.key, OPTIONS_STREAM)
        batch.set_event_times([export_ms] * n)
        return batch

    # -- IPFIX -----------------------------------------------------------------------------
    def _ipfix(self, buf: bytes, off: int, exporter: str) -> int:
        avail = len(buf) - off
        if avail < 16:
            self._bad("malformed-message", 1, exporter, off, "truncated IPFIX header", header=True)
            return 0
        _v, length, export, seq, odid = _IPFIX_HDR.unpack_from(buf, off)
        if length < 16 or length > avail:
            self._bad("malformed-message", 1, exporter, off,
                      f"message length {length} but {avail} bytes available", header=True)
            return 0
        self.messages += 1
        self._export_ms = export_ms = export * 1000
        sess = self._last
        if sess is not None and sess.odid == odid and sess.exporter == exporter and sess.version == 10:
            sess.last_seen = self._now  # the session of the previous message: already most recent
        else:
            sess = self._session(exporter, odid, 10)
        if seq < IPFIX_RESTART_RECORDS and sess.expected_seq is not None and self._ipfix_restart(sess, seq):
            sess = self._restarted(sess, exporter, off, f"sequence number {seq}, {sess.expected_seq} expected")
        templates = sess.templates
        pending = self._pending
        sid = id(sess)
        # the per-set fast path below skips lifetime checks, which only UDP needs
        fast = self.template_lifetime is None or self.transport != "udp"
        mv = memoryview(buf)
        end = off + length
        pos = off + 16
        records = 0
        queued = 0
        complete = True
        unpack_set = _SET_HDR.unpack_from
        while pos < end:
            if end - pos < 4:
                if not self._zero_tail(buf, pos, end):
                    self._bad("malformed-set", 1, exporter, pos, "truncated set header")
                    complete = False
                break
            set_id, set_len = unpack_set(buf, pos)
            set_end = pos + set_len
            if set_len < 4 or set_end > end:
                if set_len == 0 and set_id == 0 and self._zero_tail(buf, pos, end):
                    break
                self._bad("malformed-set", 1, exporter, pos, f"set {set_id} length {set_len}")
                complete = False
                break
            if set_id >= 256:
                t = templates.get(set_id) if fast else self._template(sess, set_id)
                if t is None:
                    self._keep_early(exporter, odid, 10, set_id, buf[pos + 4:set_end], None, pos + 4)
                    complete = False
                elif t.reclen and not t.is_options and not t.relative:
                    # fast path: queue the records' bytes for one iter_unpack at flush
                    n = (set_len - 4) // t.reclen
                    if n:
                        p = pending.get((sid, set_id))
                        if p is None:
                            p = pending[(sid, set_id)] = _Pending(t, sess)
                        if p.export_ms != export_ms:  # a new run (p.new_run, inlined)
                            p.export_ms = export_ms
                            p.run_starts.append(p.count)
                            p.run_times.append(export_ms)
                        p.buf += mv[pos + 4:pos + 4 + n * t.reclen]
                        p.count += n
                        records += n
                        queued += n
                else:
                    records += self._data_set(sess, t, buf, pos + 4, set_end, exporter, 10, None, 0)
            elif set_id == 2 or set_id == 3:
                self._ipfix_templates(sess, buf, pos + 4, set_end, set_id, exporter)
                templates = sess.templates
            else:
                self._bad("malformed-set", 1, exporter, pos, f"reserved set id {set_id}")
            pos = set_end
        self.pending_records += queued
        if records and not sess.established:
            self._establish(sess)
        if complete and seq == sess.expected_seq:
            sess.expected_seq = (seq + records) & 0xFFFFFFFF
            sess.restart_seq = None
        else:
            self._sequence(sess, seq, records if complete else None, exporter)
        return int(length)

    def _ipfix_vector(self, buf: bytes, off: int, exporter: str, limit: int | None,
                      known: list[int] | None = None) -> int:
        """Decode a run of plain IPFIX messages at once; returns where it stopped (``off``
        when it decoded nothing, and the caller goes message by message).

        A file holds thousands of messages of a few records each; per message and per set
        the Python of ``_ipfix`` costs more than decoding the records. Here the messages are
        found by their length fields, and every set header of the run is read with numpy
        gathers. The run is cut before the first message that is not plain: one with
        another observation domain, a template set or any set not of a known fixed-length
        flow template (options, varlen, relative times), a malformed set, a sequence number
        that does not continue the previous message, or past the message that reaches
        ``limit`` pending records. The messages before the cut are queued exactly as
        ``_ipfix`` would queue them (same records, export-time runs, sequence state, pending
        order); the rest goes through ``_ipfix``. When nothing could be taken, the next
        attempt waits for more and more messages (bounded work on odd input).
        """
        size = len(buf)
        # cheap checks first: the first message continues a known session's numbering (a
        # template message, a restart or a new exporter goes through _ipfix)
        last = self._last
        if (last is None or last.exporter != exporter or last.version != 10 or size - off < 20
                or _U32.unpack_from(buf, off + 12)[0] != last.odid
                or _U32.unpack_from(buf, off + 8)[0] != last.expected_seq):
            return off
        t = last.templates.get(_U16.unpack_from(buf, off + 16)[0])
        if t is None or not t.reclen or t.is_options or t.relative:
            return off
        starts: list[int] = []
        pos = off
        cap = _VECTOR_MAX_MESSAGES
        if limit is not None:  # walk about as many messages as the batch needs
            want = (limit - self.pending_records) * 1.25 * self._vector_msgs / self._vector_recs
            cap = int(min(cap, max(want, 0) + _VECTOR_MIN_MESSAGES))
        if known is not None:  # the caller's message offsets (_vector_take checks them)
            i = bisect.bisect_left(known, off)
            if i < len(known) and known[i] == off:
                starts = known[i:i + cap]
                pos = size  # no walk; but, as the walk, too few messages before a template
                # set goes message by message (_vector_take would cut the run there anyway)
                for k, at in enumerate(starts[:_VECTOR_MIN_MESSAGES]):
                    if size - at > 16 and buf[at + 16] == 0:
                        del starts[k:]
                        break
        while size - pos >= 16 and len(starts) < cap:
            if buf[pos] != 0 or buf[pos + 1] != 10:
                break
            length = (buf[pos + 2] << 8) | buf[pos + 3]
            if length < 16 or length > size - pos or (length > 16 and buf[pos + 16] == 0):
                break  # malformed, or a template set first (set id < 256): _ipfix's business
            starts.append(pos)
            pos += length
        taken = self._vector_take(buf, starts, exporter, limit) if len(starts) >= _VECTOR_MIN_MESSAGES else 0
        if taken == 0:
            self._vector_skip = self._vector_backoff
            self._vector_backoff = min(self._vector_backoff * 2, _VECTOR_MAX_MESSAGES)
            return off
        self._vector_backoff = 1
        end = starts[taken - 1]
        return end + ((buf[end + 2] << 8) | buf[end + 3])

    def _vector_take(self, buf: bytes, start_list: list[int], exporter: str, limit: int | None) -> int:
        """The numpy half of ``_ipfix_vector``: how many of the messages at ``start_list``
        were queued. Header fields are read through a big-endian 32-bit view of the buffer
        with a stride of one byte (one gather per field), records through a view of the
        template's record layout at every byte offset (one gather per template)."""
        np = _np
        size = len(buf)
        be32 = np.ndarray((size - 3,), dtype=">u4", buffer=buf, strides=(1,))
        starts = np.array(start_list, dtype=np.int64)
        count = len(start_list)
        safe = np.minimum(starts, size - 16)
        head = be32[safe]
        lengths = (head & 0xFFFF).astype(np.int64)
        ends = starts + lengths
        # what the walk checked, for offsets handed over by the caller: each a version 10
        # header of 16 bytes or more inside the buffer (else the run ends before it), right
        # after the one before (else the run ends after that one)
        broken = (starts > size - 16) | ((head >> 16) != 10) | (lengths < 16) | (ends > size)
        odd = np.flatnonzero(broken | np.append(ends[:-1] != starts[1:], False))
        if odd.size:
            count = int(odd[0]) + (0 if broken[odd[0]] else 1)
        odid = self._last.odid if self._last is not None else -1
        other = np.flatnonzero(be32[safe + 12] != odid)
        if other.size:
            count = min(count, int(other[0]))
        # walk the sets of every message at once (a message with more sets than
        # _VECTOR_MAX_SETS, or a malformed one, ends the run before it)
        set_msg: list[Any] = []
        set_pos: list[Any] = []
        set_hdr: list[Any] = []
        msg = np.arange(count)
        pos = starts[:count] + 16
        end = ends[:count]
        for _ in range(_VECTOR_MAX_SETS):
            live = pos < end
            if not live.all():
                msg, pos, end = msg[live], pos[live], end[live]
                if not msg.size:
                    break
            hdr = be32[np.minimum(pos, size - 4)]
            lens = (hdr & 0xFFFF).astype(np.int64)
            broken = (end - pos < 4) | (lens < 4) | (pos + lens > end)
            if broken.any():
                count = min(count, int(msg[broken].min()))
            set_msg.append(msg)
            set_pos.append(pos)
            set_hdr.append(hdr)
            pos = pos + np.maximum(lens, 4)
        else:
            if (pos < end).any():
                count = min(count, int(msg[pos < end].min()))
        if count == 0 or not set_msg:
            return 0
        smsg = np.concatenate(set_msg)
        order = np.argsort(smsg, kind="stable")  # sets in the order of the run
        smsg = smsg[order]
        keep = smsg < count
        smsg = smsg[keep]
        spos = np.concatenate(set_pos)[order][keep]
        shdr = np.concatenate(set_hdr)[order][keep]
        sids = (shdr >> 16).astype(np.int64)
        sess = self._last
        if sess is None:
            return 0
        fast = self.template_lifetime is None or self.transport != "udp"
        # which template ids of the run queue on the fast path; any other set ends the run
        plain: dict[int, Template] = {}
        reclens = np.zeros(len(sids), dtype=np.int64)
        for tid in np.unique(sids).tolist():
            # over UDP, _template applies the lifetime (once per template and run: a run is
            # what one receive pass read, milliseconds)
            t = (sess.templates.get(tid) if fast else self._template(sess, tid)) if tid >= 256 else None
            where = sids == tid
            if t is None or not t.reclen or t.is_options or t.relative or t.np_dtype is None:
                count = min(count, int(smsg[where].min()))
            else:
                plain[tid] = t
                reclens[where] = t.reclen
        if count == 0:
            return 0
        nrec = ((shdr & 0xFFFF).astype(np.int64) - 4) // np.maximum(reclens, 1)
        per_msg = np.bincount(smsg, weights=nrec, minlength=count).astype(np.int64)[:count]
        # the sequence numbers must continue one another, as _ipfix's fast check wants
        seqs = be32[starts[:count] + 8].astype(np.int64)
        if int(seqs[0]) != sess.expected_seq:
            return 0
        breaks = np.flatnonzero(seqs[1:] != (seqs[:-1] + per_msg[:-1]) & 0xFFFFFFFF)
        if breaks.size:
            count = int(breaks[0]) + 1  # the last message whose successor continues it
        if limit is not None:
            reach = np.flatnonzero(np.cumsum(per_msg[:count]) >= limit - self.pending_records)
            if reach.size:
                count = int(reach[0]) + 1
        keep = (smsg < count) & (nrec > 0)
        smsg, spos, sids, nrec = smsg[keep], spos[keep], sids[keep], nrec[keep]
        per_msg = per_msg[:count]
        exports = be32[starts[:count] + 4].astype(np.int64) * 1000
        sess = self._session(exporter, sess.odid, 10)  # as _ipfix touches it
        sid = id(sess)
        pending = self._pending
        set_exports = exports[smsg]
        tids, first = np.unique(sids, return_index=True)
        for tid in tids[np.argsort(first)].tolist():
            t = plain[tid]
            mine = sids == tid
            counts, body, ex = nrec[mine], spos[mine] + 4, set_exports[mine]
            p = pending.get((sid, tid))
            if p is None:
                p = pending[(sid, tid)] = _Pending(t, sess)
            total = int(counts.sum())
            begin = np.cumsum(counts) - counts  # each set's first record among the template's
            rec_at = np.repeat(body - begin * t.reclen, counts) + np.arange(total) * t.reclen
            layout = np.ndarray((size - t.reclen + 1,), dtype=_np.dtype((_np.void, t.reclen)),
                                buffer=buf, strides=(1,))
            p.buf += layout[rec_at].data
            prev = np.empty(len(ex), dtype=np.int64)
            prev[0] = p.export_ms
            prev[1:] = ex[:-1]
            changed = np.flatnonzero(ex != prev)  # sets whose message starts a new export time
            if changed.size:
                p.run_starts += (begin[changed] + p.count).tolist()
                p.run_times += ex[changed].tolist()
            p.export_ms = int(ex[-1])
            p.count += total
        queued = int(per_msg.sum())
        self.pending_records += queued
        self.messages += count
        self._vector_msgs += count
        self._vector_recs += queued
        self._export_ms = int(exports[-1])
        if queued and not sess.established:
            self._establish(sess)
        sess.expected_seq = (int(seqs[count - 1]) + int(per_msg[-1])) & 0xFFFFFFFF
        sess.restart_seq = None
        return count

    def _ipfix_templates(self, sess: _Session, buf: bytes, pos: int, end: int, set_id: int,
                         exporter: str) -> None:
        hdr = 6 if set_id == 3 else 4
        while end - pos >= 4:
            rec_off = pos
            tid, count = _FIELD.unpack_from(buf, pos)
            if count == 0:
                self._withdraw(sess, tid, set_id, exporter, pos)
                pos += 4
                continue
            if end - pos < hdr:
                break
            scope = _U16.unpack_from(buf, pos + 4)[0] if set_id == 3 else 0
            pos += hdr
            if tid < 256 or (set_id == 3 and (scope == 0 or scope > count)):
                self._bad("malformed-template", 1, exporter, rec_off,
                          f"template {tid}: id < 256 or scope count {scope} of {count}")
                return
            fields: list[tuple[int, int, int]] = []
            ok = True
            for _ in range(count):
                if end - pos < 4:
                    ok = False
                    break
                eid, ln = _FIELD.unpack_from(buf, pos)
                pos += 4
                pen = 0
                if eid & 0x8000:
                    if end - pos < 4:
                        ok = False
                        break
                    pen = _U32.unpack_from(buf, pos)[0]
                    pos += 4
                    eid &= 0x7FFF
                fields.append((pen, eid, ln))
            if not ok:
                self._bad("malformed-template", 1, exporter, rec_off,
                          f"template {tid}: {count} fields run past the set")
                return
            self._set_template(sess, 10, exporter, tid, fields, scope)

    # -- NetFlow v9 ------------------------------------------------------------------------
    def _v9(self, buf: bytes, off: int, exporter: str) -> int:
        avail = len(buf) - off
        if avail < 20:
            self._bad("malformed-message", 1, exporter, off, "truncated NetFlow v9 header", header=True)
            return 0
        _v, _count, uptime, secs, seq, odid = _V9_HDR.unpack_from(buf, off)
        self.messages += 1
        self._export_ms = secs * 1000
        self._uptime_ms = uptime
        sess = self._session(exporter, odid, 9)
        base_ms = secs * 1000 - uptime
        if sess.boot_ms is not None and base_ms - sess.boot_ms > V9_RESTART_MS \
                and abs(base_ms - sess.boot_ms - (1 << 32)) > V9_RESTART_MS:
            sess = self._restarted(sess, exporter, off, f"boot time moved {(base_ms - sess.boot_ms) // 1000} s")
        if sess.boot_ms is None or base_ms > sess.boot_ms:
            sess.boot_ms = base_ms
        end = len(buf)
        pos = off + 20
        complete = True
        while pos < end:
            if end - pos < 4:
                if any(buf[pos:end]):
                    self._bad("malformed-set", 1, exporter, pos, "truncated flowset header")
                break
            set_id, set_len = _SET_HDR.unpack_from(buf, pos)
            if set_len < 4 or pos + set_len > end:
                if set_id == 0 and set_len == 0 and not any(buf[pos:end]):
                    # Zero bytes after the last flowset (Palo Alto pads datagrams): nothing
                    # is lost, so it is noted rather than dropped.
                    self.stats.add("input.v9_zero_padding", 1)
                    break
                self._bad("malformed-set", 1, exporter, pos, f"flowset {set_id} length {set_len}")
                complete = False
                break
            body, set_end = pos + 4, pos + set_len
            if set_id == 0:
                self._v9_templates(sess, buf, body, set_end, exporter)
            elif set_id == 1:
                self._v9_options_template(sess, buf, body, set_end, exporter)
            elif set_id >= 256:
                t = self._template(sess, set_id)
                if t is None:
                    self._keep_early(exporter, odid, 9, set_id, buf[body:set_end], base_ms, body)
                else:
                    self._data_set(sess, t, buf, body, set_end, exporter, 9, base_ms, 0)
            else:
                self._bad("malformed-set", 1, exporter, pos, f"reserved flowset id {set_id}")
            pos = set_end
        # v9 sequence numbers count export packets, not records
        self._sequence(sess, seq, 1, exporter)
        if not complete:
            self.stats.add("input.incomplete_messages", 1)
        return end - off

    def _zero_tail(self, buf: bytes, pos: int, end: int) -> bool:
        """Zero bytes from ``pos`` to the message's end, where a set header should start: an
        exporter padding its message (as Palo Alto pads v9 datagrams). No record is lost, so
        it is noted (``input.ipfix_zero_padding``), not dropped as a malformed set."""
        if any(buf[pos:end]):
            return False
        self.stats.add("input.ipfix_zero_padding", 1)
        return True

    def _ipfix_restart(self, sess: _Session, seq: int) -> bool:
        """An IPFIX exporter over UDP restarted (see :data:`IPFIX_RESTART_RECORDS`): the
        message is numbered from the stream's start while far more was expected."""
        if self.transport != "udp" or sess.expected_seq is None:
            return False
        # far from the expected number both ways: a restart may come after 2**31 records (the
        # restart then reads as a jump ahead), but a small loss across the 2**32 wrap may not
        behind = (sess.expected_seq - seq) & 0xFFFFFFFF
        return IPFIX_RESTART_RECORDS < behind < (1 << 32) - IPFIX_RESTART_RECORDS

    def _restarted(self, sess: _Session, exporter: str, off: int, why: str) -> _Session:
        """An exporter rebooted (NetFlow v9: see :data:`V9_RESTART_MS`; IPFIX over UDP:
        :data:`IPFIX_RESTART_RECORDS`): its templates, sequence and learnt options describe
        the exporter before the reboot, so the session is forgotten as an evicted one is
        (records queued under the old templates are decoded first) and starts afresh."""
        self._remove_session(sess.tkey)
        self.templates_changed = True
        self.stats.add("input.exporter_restarts", 1)
        self.log.info("%s: exporter %s restarted (%s at byte %d): its templates are forgotten until it "
                      "sends them again", self.source, exporter, why, off)
        return self._session(exporter, sess.odid, sess.version)

    def _v9_templates(self, sess: _Session, buf: bytes, pos: int, end: int, exporter: str) -> None:
        while end - pos >= 4:
            rec_off = pos
            tid, count = _FIELD.unpack_from(buf, pos)
            pos += 4
            if tid < 256 or count == 0 or pos + 4 * count > end:
                self._bad("malformed-template", 1, exporter, rec_off,
                          f"v9 template {tid} with {count} fields in {end - rec_off} bytes")
                return
            fields = [(0, t, ln) for t, ln in _FIELD.iter_unpack(buf[pos:pos + 4 * count])]
            pos += 4 * count
            self._set_template(sess, 9, exporter, tid, fields, 0)

    def _v9_options_template(self, sess: _Session, buf: bytes, pos: int, end: int, exporter: str) -> None:
        while end - pos >= 6:
            rec_off = pos
            tid, scope_len, opt_len = struct.unpack_from(">HHH", buf, pos)
            pos += 6
            if (tid < 256 or scope_len % 4 or opt_len % 4 or opt_len == 0
                    or pos + scope_len + opt_len > end):
                self._bad("malformed-template", 1, exporter, rec_off,
                          f"v9 options template {tid}: scope {scope_len} B, options {opt_len} B")
                return
            scope = [(V9_SCOPE_PEN, t, ln) for t, ln in _FIELD.iter_unpack(buf[pos:pos + scope_len])]
            pos += scope_len
            opts = [(0, t, ln) for t, ln in _FIELD.iter_unpack(buf[pos:pos + opt_len])]
            pos += opt_len
            # Scope count 0 is legal in v9 (Juniper SRX); keep it an options template anyway.
            self._set_template(sess, 9, exporter, tid, scope + opts, max(len(scope), 1))
            if end - pos < 6:
                break

    # -- NetFlow v5 ------------------------------------------------------------------------
    def _v5(self, buf: bytes, off: int, exporter: str) -> int:
        avail = len(buf) - off
        if avail < 24:
            self._bad("malformed-message", 1, exporter, off, "truncated NetFlow v5 header", header=True)
            return 0
        _v, count, uptime, secs, nsecs, seq, eng_type, eng_id, sampling = _V5_HDR.unpack_from(buf, off)
        self.messages += 1
        have = (avail - 24) // 48
        if count > 30 or count > have:
            self._bad("malformed-message", max(count - have, 1) if count <= 30 else 1, exporter, off,
                      f"v5 header count {count}, {have} records present")
            if count > 30:
                return 0
            count = have
        sess = self._session(exporter, eng_type << 8 | eng_id, 5)
        self._sequence(sess, seq, count, exporter)
        if count:
            if not sess.established:
                self._establish(sess)
            start = off + 24
            cols: list[Any] = list(zip(*_V5_REC.iter_unpack(buf[start:start + 48 * count]), strict=True))
            c = self.caches
            base = secs * 1000 + nsecs // 1_000_000 - uptime
            interval = sampling & 0x3FFF
            columns: dict[str, list[Any]] = {
                "sourceIPv4Address": c.ipv4(cols[0]),
                "destinationIPv4Address": c.ipv4(cols[1]),
                "ipNextHopIPv4Address": c.ipv4(cols[2]),
                "ingressInterface": list(cols[3]),
                "egressInterface": list(cols[4]),
                "packetDeltaCount": list(cols[5]),
                "octetDeltaCount": list(cols[6]),
                "flowStartMilliseconds": [base + v if v <= uptime else base + v - (1 << 32) for v in cols[7]],
                "flowEndMilliseconds": [base + v if v <= uptime else base + v - (1 << 32) for v in cols[8]],
                "sourceTransportPort": list(cols[9]),
                "destinationTransportPort": list(cols[10]),
                "tcpControlBits": list(cols[11]),
                "protocolIdentifier": list(cols[12]),
                "ipClassOfService": list(cols[13]),
                "bgpSourceAsNumber": list(cols[14]),
                "bgpDestinationAsNumber": list(cols[15]),
                "sourceIPv4PrefixLength": list(cols[16]),
                "destinationIPv4PrefixLength": list(cols[17]),
                "engineType": [eng_type] * count,
                "engineId": [eng_id] * count,
            }
            self._export_ms = secs * 1000 + nsecs // 1_000_000
            self._uptime_ms = uptime
            self._header_columns(columns, 5, count)
            if interval:
                columns["samplingInterval"] = [interval] * count
                self._session_gauge("sampling_interval", sess, interval)
                if self.apply_sampling:
                    self._scale(columns, count)
            self.stats.count("decode", count)
            self._ready.append(FlowBatch(columns, count, self.source, sess.key))
        return self._v5_rest(buf, off, exporter, count, have)

    def _v5_rest(self, buf: bytes, off: int, exporter: str, count: int, have: int) -> int:
        """Bytes a v5 message used. Whole records beyond the header's count, not followed by
        another message, are records the count left out (a v5 datagram is one message):
        counted as malformed-message, not read as a message of "version" whatever their
        first bytes say."""
        used = 24 + 48 * int(count)
        extra = have - count
        if extra > 0 and (buf[off + used] << 8 | buf[off + used + 1]) not in (5, 9, 10):
            self._bad("malformed-message", extra, exporter, off,
                      f"v5 header count {count}, {have} records present")
            return len(buf) - off
        return used


#: PSAMP selectorAlgorithm (RFC 5475/5477, IANA psamp-parameters): 2 is systematic time-based
#: sampling, whose interval and space are microseconds, not packets: no packet rate.
_TIME_BASED_SELECTORS = (2,)


def _sampling_rate(rec: dict[str, list[Any]], i: int = -1) -> int | None:
    """One-in-N rate announced by options record ``i`` (default: the last), or None.

    samplingInterval (34) and samplerRandomInterval (50) are N itself; PSAMP systematic count
    sampling (RFC 5477) selects samplingPacketInterval packets then skips samplingPacketSpace,
    so N = (interval + space) / interval; n-out-of-N random sampling gives N =
    samplingPopulation / samplingSize; samplingProbability (311) gives N = 1/p.
    """
    def at(name: str) -> Any:
        vals = rec.get(name)
        return vals[i] if vals else None

    algorithm = at("selectorAlgorithm")
    interval, space = at("samplingPacketInterval"), at("samplingPacketSpace")
    if isinstance(interval, int) and interval > 0 and isinstance(space, int) and space >= 0:
        if algorithm in _TIME_BASED_SELECTORS:
            return None
        return max(1, round((interval + space) / interval))
    size, population = at("samplingSize"), at("samplingPopulation")
    if isinstance(size, int) and size > 0 and isinstance(population, int) and population >= size:
        return max(1, round(population / size))
    prob = at("samplingProbability")
    if isinstance(prob, float) and 0.0 < prob <= 1.0:
        return max(1, round(1 / prob))
    for name in _SAMPLING_NAMES:
        v = at(name)
        if v is not None:
            return v if isinstance(v, int) and v > 0 else None
    return None


def _sysuptime_columns(columns: dict[str, list[Any]], base_ms: int | list[Any],
                       uptime: int | None = None) -> None:
    """Uptime-relative times (NetFlow v9 FIRST/LAST_SWITCHED, IPFIX flowStart/EndSysUpTime) plus
    the boot time in epoch ms (one for the message, or one per record) -> absolute epoch ms.

    ``uptime`` is the message header's 32-bit sysUptime (NetFlow v9): the counter wraps every
    49.7 days, so a time above it was taken before the wrap (as v5 reads it), not 49.7 days
    after the export; each time is read as the one nearest the export."""
    for src, dst in (("flowStartSysUpTime", "flowStartMilliseconds"),
                     ("flowEndSysUpTime", "flowEndMilliseconds")):
        col = columns.get(src)
        if col is None or dst in columns:
            continue
        if isinstance(base_ms, int):
            if uptime is not None:
                # the reading nearest the export: (uptime - v) mod 2**32 as a signed 32-bit age,
                # so a flow from before the wrap is old, and one stamped a little after the
                # header (exporter clock steps) is not taken for 49.7 days old
                export = base_ms + uptime
                columns[dst] = [export - (((uptime - v) + (1 << 31)) % (1 << 32) - (1 << 31))
                                if isinstance(v, int) else None for v in col]
            else:
                columns[dst] = [base_ms + v if isinstance(v, int) else None for v in col]
        else:
            columns[dst] = [b + v if isinstance(v, int) and isinstance(b, int) else None
                            for b, v in zip(base_ms, col, strict=True)]
