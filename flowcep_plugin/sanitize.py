"""Record isolation at the batch boundary: a value an element cannot hold drops its record.

Inputs (JSON lines from anyone, third-party input plugins, the in-process API) can hand the
pipeline a count that is text, an address that is not an address, a timestamp that is a list.
Left in a batch, one such value makes the clock, an enricher or a detector raise on the whole
batch, and every good record beside it is lost with it. So the pipeline calls
:meth:`Sanitizer.clean` once per batch, before anything else: each column named after a
registered information element is checked against the element's abstract type (RFC 7012),
and only the records holding an unusable value are dropped, counted as ``bad-value`` (and per
element as ``sanitize.bad.<element>``). Columns of unknown names (enricher output, plugin
columns) are left alone: nothing says what they should hold.

The common case is a column that is entirely right, so each check is a pass of C-level
builtins over the column (integers: one ``array(typecode, col)``, which refuses text, floats
and out-of-range values in C, plus ``max`` for narrow types; addresses: ``issuperset`` of a bounded memo of valid ones;
text: ``set(map(type, col))``); the per-record Python loop runs only on a column already known
to hold a bad value. ``benchmarks/bench_sanitize.py`` measures it against decoding.

A column a decoder still holds as numpy arrays is judged on them (:func:`_array_bad`), and its
list is left for the stages that read it: a field no wider than its element's range needs no
pass, a wider one one numpy comparison, address text the decoder made from an address field
none (so such columns never reach the address memo, and ``sanitize.memo_resets`` counts only
address text that came as text), a decoded string none. Drops, counts and messages are those of the list check.

A flow that starts after it ends (``flowStart*`` later than ``flowEnd*`` of the same unit) is
an exporter bug or a forged record, not an unusable value: its counters and addresses are
real, and event time is the flow's end, which the clock judges on its own. So it is kept with
its start clamped to its end (duration 0) and counted (``sanitize.start_after_end``):
dropping it would lose real traffic and let a forged start hide a record from every
detector, and leaving it would hand rate detectors a negative duration. Only same-unit
pairs are compared (decoders turn uptime and delta times into ``flowStart/EndMilliseconds``).

Some exporters put 0 in ``tcpControlBits`` because they do not track TCP flags (sampled
NetFlow, firewalls, collectors that aggregate flags away). A 0 there reads as "no flag at
all", which no packet of a real connection has: every detector would take every TCP flow of
such an exporter for a NULL probe that never completed a handshake, and name every busy client
a scanner. A TCP record with flags 0 that carried data (at least ``FLAGLESS_PACKETS`` packets,
or more than ``FLAGLESS_BYTES`` bytes a packet: a NULL probe is one or two bare headers) and
has a destination port (a flow of IP fragments has no TCP header to take flags from) is
evidence that its exporter does not report flags; a data-carrying TCP record with flags is
evidence that it does. One such record is not proof: nmap's OS detection (``-O``, part of
``-A``) sends several no-flag probes on one connection, which any flag-tracking meter
(FlowCEP's own pcap meter included) reports as flags 0 with data, and taking that for proof
made every later flags-0 record of the input absent, so a NULL scan after it was missed. And
the other way round, one record with flags does not prove the exporter tracks flags
everywhere: a Cisco switch reports 0 for its hardware-switched flows next to flags for the
software-switched ones. So each exporter (input and exporter) is judged by its share: while
``FLAGLESS_SHARE_PERCENT`` or more of its data-carrying TCP records had flags 0, or fewer
than ``FLAGLESS_MIN_EVIDENCE`` of them have been counted since its first one with flags 0 (too
few to take a share of; reading 0 as absent is the error that accuses nobody), its TCP records
with flags 0, forward and reverse, are read as flags absent (None), and the detectors use their
documented fallbacks for exporters without flags. 25 % sits far from both sides measured: a
flagless exporter is at 100 %, the realtools ``nmap -A`` capture at 1 of 43 (2 %), and a
hardware-switching exporter's share is usually most of its traffic (not measured: no such
export among the fixtures); an exporter whose share stays below 25 % keeps its 0 (its hardware-switched flows may then look like NULL probes:
a documented limit). The counts are kept from the exporter's first data-carrying flags-0 record
on (an exporter that never sent one costs nothing but the C-level test), on fewer than
2 * ``FLAGLESS_SAMPLE`` evenly spaced records a batch (every record of a smaller one), and both
are halved once they pass ``FLAGLESS_HISTORY``, so recent traffic decides and the counts stay
bounded. The
exporters are remembered in a bounded table (``MAX_FLAGLESS_EXPORTERS``, least recently seen
first out, counted as ``sanitize.flagless_evicted``); ``sanitize.flagless_exporters`` counts
the times an exporter was found flagless, ``sanitize.flagless_revoked`` the times its flags
showed again, and ``sanitize.flags_unreported`` the records whose 0 was read as absent.

Last, an RFC 5103 biflow whose own evidence says its reverse side opened the conversation is
turned round (:mod:`flowcep_plugin.biflow`: softflowd ``-b`` puts the lower address first
whoever opened, and every detector reads ``source`` as the side that acted), counted as
``sanitize.biflows_reoriented``; it runs after the flags fix, so a flags 0 read as absent says
nothing there.
"""

from __future__ import annotations

import logging
import math
import re
import socket
from array import array
from collections.abc import Callable, Sequence
from operator import gt
from typing import Any

from .biflow import Reorienter
from .records import FLOW_STREAM, IPV4_TEXT, IPV6_TEXT, MAC_TEXT, TEXT, VALUES, ArrayPart, Columns, FlowBatch
from .stats import Stats

__all__ = ["Sanitizer", "BAD_VALUE", "START_AFTER_END", "TIME_PAIRS", "FLAGLESS_PACKETS", "FLAGLESS_BYTES",
           "MAX_FLAGLESS_EXPORTERS", "FLAGLESS_SHARE_PERCENT", "FLAGLESS_MIN_EVIDENCE", "FLAGLESS_HISTORY",
           "FLAGLESS_SAMPLE"]

log = logging.getLogger("flowcep")

#: The drop reason of a record holding a value its element cannot have.
BAD_VALUE = "bad-value"
#: The counter of records whose start was after their end (kept, start clamped to the end).
START_AFTER_END = "sanitize.start_after_end"
#: (start, end) elements of the same unit, compared record by record.
TIME_PAIRS: tuple[tuple[str, str], ...] = tuple(
    (f"flowStart{unit}", f"flowEnd{unit}") for unit in ("Milliseconds", "Seconds", "Microseconds", "Nanoseconds"))

#: A TCP record with tcpControlBits 0 and this many packets or more carried a connection, not
#: a NULL probe (nmap sends one and retransmits it once)
FLAGLESS_PACKETS = 3
#: ... or one with more bytes a packet than a bare IPv6 TCP header with timestamps (72)
FLAGLESS_BYTES = 80
#: exporters whose flags evidence is remembered (least recently seen evicted, counted)
MAX_FLAGLESS_EXPORTERS = 4096
#: an exporter is read as flagless while at least this percentage of its data-carrying TCP
#: records had flags 0 (a flag-tracking meter that saw nmap -O: 1 of 43 in the realtools capture)
FLAGLESS_SHARE_PERCENT = 25
#: ... or while it has sent fewer data-carrying TCP records than this, one of them with flags 0
FLAGLESS_MIN_EVIDENCE = 8
#: data-carrying TCP records an exporter's evidence counts before both counts are halved
FLAGLESS_HISTORY = 4096
#: a batch's records looked at for the share: every len // FLAGLESS_SAMPLE th (under twice this)
FLAGLESS_SAMPLE = 256

_NONE = type(None)
_FLOAT_MAX = 1.7976931348623157e308
_MAC = re.compile(r"[0-9A-Fa-f]{2}([:-]?)[0-9A-Fa-f]{2}(?:\1[0-9A-Fa-f]{2}){4}")

#: A column check: None when every value is usable, else the positions that are not.
Check = Callable[[Sequence[Any]], list[int] | None]


def _carried_data(packets: Any, octets: Any, dport: Any) -> bool:
    """A TCP record that carried data: more packets than a NULL probe and its retransmission,
    or more bytes a packet than a bare header; with a destination port (a flow of IP fragments
    has no TCP header, hence no flags, whatever its exporter tracks)."""
    return (isinstance(packets, int) and isinstance(octets, int) and packets > 0 and bool(dport)
            and (packets >= FLAGLESS_PACKETS or octets > FLAGLESS_BYTES * packets))


def _bad_positions(col: Sequence[Any], ok: Callable[[Any], bool]) -> list[int]:
    return [i for i, v in enumerate(col) if v is not None and not ok(v)]


def _int_check(lo: int, hi: int) -> Check:
    """``array(code, col)`` is one C pass that refuses text, floats, lists, None and values out
    of the C type's range; a narrower element adds one ``max`` (and ``min`` when signed). The
    per-record loop only runs when one of those refuses something. Unsigned 32/64-bit codes
    are used because CPython converts them several times faster than the 8/16-bit ones."""
    code = _typecode(lo, hi)
    wide_lo, wide_hi = _code_range(code)
    need_min, need_max = lo > wide_lo, hi < wide_hi

    def value_ok(v: Any) -> bool:
        return (v.__class__ is int or v.__class__ is bool) and lo <= v <= hi

    def in_range(values: Any) -> bool:
        return (not need_max or max(values, default=0) <= hi) and (not need_min or min(values, default=0) >= lo)

    def check(col: Sequence[Any]) -> list[int] | None:
        try:
            array(code, col)
            if in_range(col):
                return None
        except (TypeError, OverflowError):
            try:
                # Absent values (None) beside ints: filter(None) also drops zeros, and the
                # counts prove nothing else falsy ("", [], b"") was dropped with them.
                kept = array(code, filter(None, col))
                if len(col) - len(kept) == col.count(None) + col.count(0) and in_range(kept):
                    return None
            except (TypeError, OverflowError):
                pass
        return _bad_positions(col, value_ok)

    return check


def _float_ok(v: Any) -> bool:
    if v.__class__ is int:
        return bool(-_FLOAT_MAX <= v <= _FLOAT_MAX)  # exact int/float comparison, no overflow
    return v.__class__ is float and math.isfinite(v)


def _float_check(col: Sequence[Any]) -> list[int] | None:
    types = set(map(type, col))
    if types <= {float, _NONE} and all(map(math.isfinite, filter(None, col))):
        return None
    return _bad_positions(col, _float_ok)


def _is_address(v: Any) -> bool:
    if v.__class__ is not str:
        return False
    try:
        socket.inet_pton(socket.AF_INET6 if ":" in v else socket.AF_INET, v)
    except (OSError, ValueError):
        return False
    return True


class _MemoCheck:
    """Addresses repeat across records and batches: remember the valid ones (bounded), so a
    column of known hosts is checked by one C-level ``issuperset``."""

    def __init__(self, value_ok: Callable[[Any], bool], limit: int = 65_536) -> None:
        self.value_ok = value_ok
        self.limit = limit
        self.known: set[Any] = {None}
        self.resets = 0

    def __call__(self, col: Sequence[Any]) -> list[int] | None:
        known = self.known
        try:
            if known.issuperset(col):
                return None
            new = set(col) - known
        except TypeError:  # an unhashable value (a list): certainly not an address
            return _bad_positions(col, self.value_ok)
        good = {v for v in new if self.value_ok(v)}
        if len(known) + len(good) > self.limit:
            known.clear()
            known.add(None)
            self.resets += 1
        known.update(good)
        if len(good) == len(new):
            return None
        return [i for i, v in enumerate(col) if v is not None and v not in good and not self.value_ok(v)]


def _types_check(allowed: frozenset[type]) -> Check:
    def ok(v: Any) -> bool:
        return v.__class__ in allowed

    with_none = allowed | {_NONE}

    def check(col: Sequence[Any]) -> list[int] | None:
        if set(map(type, col)) <= with_none:
            return None
        return _bad_positions(col, ok)

    return check


def _mac_ok(v: Any) -> bool:
    return v.__class__ is str and _MAC.fullmatch(v) is not None


_INT_RANGES = {
    "unsigned8": (0, 2**8 - 1), "unsigned16": (0, 2**16 - 1),
    "unsigned32": (0, 2**32 - 1), "unsigned64": (0, 2**64 - 1),
    "signed8": (-(2**7), 2**7 - 1), "signed16": (-(2**15), 2**15 - 1),
    "signed32": (-(2**31), 2**31 - 1), "signed64": (-(2**63), 2**63 - 1),
    # time: before 1970 is not a flow end
    "dateTimeSeconds": (0, 2**32 - 1), "dateTimeMilliseconds": (0, 2**64 - 1),
    "dateTimeMicroseconds": (0, 2**64 - 1), "dateTimeNanoseconds": (0, 2**64 - 1),
}


def _typecode(lo: int, hi: int) -> str:
    """The smallest fast array typecode that holds [lo, hi]."""
    if lo < 0:
        return "q"
    return "I" if hi < 2**32 and array("I").itemsize >= 4 else "Q"


def _code_range(code: str) -> tuple[int, int]:
    bits = array(code).itemsize * 8
    return (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if code.islower() else (0, 2**bits - 1)


def check_for(abstract_type: str) -> Check | None:
    """The column check of an RFC 7012 abstract type; None for types anything fits (lists)."""
    if abstract_type in _INT_RANGES:
        return _int_check(*_INT_RANGES[abstract_type])
    if abstract_type in ("float32", "float64"):
        return _float_check
    if abstract_type in ("ipv4Address", "ipv6Address"):
        return _MemoCheck(_is_address)
    if abstract_type == "macAddress":
        return _MemoCheck(_mac_ok)
    if abstract_type == "string":
        return _types_check(frozenset({str}))
    if abstract_type == "octetArray":
        return _types_check(frozenset({bytes, bytearray, str}))
    if abstract_type == "boolean":  # IPFIX encodes true as 1 and false as 2
        return _types_check(frozenset({bool, int}))
    return None


class Sanitizer:
    """Drops records whose values their elements cannot hold; one per pipeline.

    ``elements`` is the run's information-element registry (``by_name``). Checks are built
    once per column name and remembered (bounded: names come from the registry).
    """

    def __init__(self, elements: Any, stats: Stats, log_first: int = 10) -> None:
        self.elements = elements
        self.stats = stats
        self._checks: dict[str, Check | None] = {}
        self._logged = 0
        self._log_first = log_first
        # (input, exporter) -> [data-carrying TCP records with flags 0, with flags, read as
        # flagless (0/1)], for exporters that sent data with flags 0; least recently seen first
        self._flagless: dict[tuple[str, str | None], list[int]] = {}
        self._reorient = Reorienter(stats)  # biflows whose reverse side opened them

    def _check(self, name: str) -> Check | None:
        if name in self._checks:
            return self._checks[name]
        spec = self.elements.by_name(name) if self.elements is not None else None
        if spec is None and name.startswith("reverse") and len(name) > 7 and self.elements is not None:
            spec = self.elements.by_name(name[7].lower() + name[8:])  # RFC 5103 reverse element
        check = check_for(spec.type) if spec is not None else None
        if len(self._checks) < 65_536:  # names outside the registry cost a lookup, not memory
            self._checks[name] = check
        return check

    def _type(self, name: str) -> str | None:
        """The abstract type of ``name``'s element (the one :meth:`_check` checks), or None."""
        if self.elements is None:
            return None
        spec = self.elements.by_name(name)
        if spec is None and name.startswith("reverse") and len(name) > 7:
            spec = self.elements.by_name(name[7].lower() + name[8:])
        return spec.type if spec is not None else None

    def clean(self, batch: FlowBatch) -> FlowBatch:
        """``batch`` itself when every value is usable, else a batch without the bad records.

        A column a decoder still holds as numpy arrays (``Columns.arrays``) is checked on the
        arrays when its type allows (:func:`_array_bad`), so its list is made only if a later
        stage reads it; the drops, counts and messages are those the list check gives."""
        n = batch.length
        bad: set[int] = set()
        columns = batch.columns
        arrays = columns.arrays if isinstance(columns, Columns) else None
        for name in list(columns):
            check = self._check(name)
            parts = arrays(name) if arrays is not None else None
            if parts is not None and _parts_length(parts) == n:
                if check is None:
                    continue
                found = _array_bad(parts, n, self._type(name))
                if found is not None:
                    if len(found):
                        positions = found.tolist()
                        bad.update(positions)
                        self.stats.add(f"sanitize.bad.{name}", len(positions))
                        self._log(batch, f"{len(positions)} records with a value {name} cannot hold, "
                                         f"e.g. {_part_value(parts, positions[0])!r:.80}")
                    continue
            col = columns[name]
            if len(col) != n:
                # A plugin built an inconsistent batch: the column cannot be trusted at all.
                del columns[name]
                self.stats.add("sanitize.bad_columns")
                self._log(batch, f"column {name!r} has {len(col)} values for {n} records; column dropped")
                continue
            if check is None:
                continue
            resets = getattr(check, "resets", 0)
            positions = check(col)
            if getattr(check, "resets", 0) != resets:  # a flood of distinct addresses
                self.stats.add("sanitize.memo_resets")
            if positions:
                bad.update(positions)
                self.stats.add(f"sanitize.bad.{name}", len(positions))
                self._log(batch, f"{len(positions)} records with a value {name} cannot hold, "
                                 f"e.g. {col[positions[0]]!r:.80}")
        if bad:
            self.stats.drop(BAD_VALUE, len(bad), batch.source)
            batch = batch.take([i for i in range(n) if i not in bad])
        self._start_after_end(batch)
        self._unreported_flags(batch)
        if batch.stream == FLOW_STREAM:
            self._reorient(batch)  # after the flags fix: a 0 read as absent says nothing
        return batch

    def _unreported_flags(self, batch: FlowBatch) -> None:
        """TCP flags 0 from an exporter that does not report flags read as absent (module
        docstring). The usual batch has no TCP record with flags 0 and comes from an exporter
        never seen sending data with flags 0: one C-level test says so and nothing is counted."""
        columns = batch.columns
        if "tcpControlBits" not in columns or "protocolIdentifier" not in columns:
            return
        key = (batch.source, batch.exporter)
        table = self._flagless
        known = table.get(key)
        zero: list[int]
        arr = parr = None
        if isinstance(columns, Columns):
            # -1 for records that lack the element (a template without it): never 0, never 6;
            # a batch of several templates has such parts, and its lists are not made here
            arr = columns.array("tcpControlBits", fill=-1)
            parr = columns.array("protocolIdentifier", fill=-1) if arr is not None else None
        if arr is not None and parr is not None and arr.dtype.kind in "ui" and parr.dtype.kind in "ui":
            # UDP and ICMP records carry flags 0 too: the TCP ones are found without lists
            import numpy as _np  # loaded already: the decoder made these arrays

            zero = _np.flatnonzero((arr == 0) & (parr == 6)).tolist()
        elif 0 in columns["tcpControlBits"]:
            flags, proto = columns["tcpControlBits"], columns["protocolIdentifier"]
            zero = [i for i, f in enumerate(flags) if f == 0 and proto[i] == 6]
        else:
            zero = []
        if not zero and known is None:
            return
        packets = columns.get("packetDeltaCount") or columns.get("packetTotalCount")
        octets = columns.get("octetDeltaCount") or columns.get("octetTotalCount")
        if packets is not None and octets is not None:
            dports = columns.get("destinationTransportPort")
            if known is None:
                if not any(_carried_data(packets[i], octets[i], dports[i] if dports else 1) for i in zero):
                    return  # bare headers with no flag (NULL probes) from an exporter not judged yet
                if len(table) >= MAX_FLAGLESS_EXPORTERS:
                    del table[next(iter(table))]
                    self.stats.add("sanitize.flagless_evicted")
                known = [0, 0, 0]
            else:
                del table[key]  # re-inserted below: the most recently seen last
            table[key] = known
            # the share is taken on evenly spaced records (every one of a batch of up to
            # 2 * FLAGLESS_SAMPLE): a pass over every record of every batch of a judged
            # exporter cost 0.3 us a record, five times the flags fix itself
            flags, proto = columns["tcpControlBits"], columns["protocolIdentifier"]
            zero_data = flagged_data = 0
            for i in range(0, batch.length, max(1, batch.length // FLAGLESS_SAMPLE)):
                if proto[i] == 6 and _carried_data(packets[i], octets[i], dports[i] if dports else 1):
                    f = flags[i]
                    if f == 0:
                        zero_data += 1
                    elif f is not None:
                        flagged_data += 1
            known[0] += zero_data
            known[1] += flagged_data
            if known[0] + known[1] > FLAGLESS_HISTORY:  # older evidence weighs half, then less
                known[0] -= known[0] // 2
                known[1] //= 2
            total = known[0] + known[1]
            # an exporter is in the table because it sent data with flags 0, even when the
            # sample missed that record: too few samples to take a share of read as flagless
            flagless = total < FLAGLESS_MIN_EVIDENCE or known[0] * 100 >= FLAGLESS_SHARE_PERCENT * total
            if flagless != bool(known[2]):
                known[2] = int(flagless)
                who = batch.exporter or "(the input)"
                if flagless:
                    self.stats.add("sanitize.flagless_exporters")
                    self._log(batch, f"TCP records with tcpControlBits 0 carried data ({known[0]} of {total} "
                                     f"data-carrying TCP records): exporter {who} does not report TCP "
                                     "flags; its 0 flags are read as absent")
                else:
                    self.stats.add("sanitize.flagless_revoked")
                    self._log(batch, f"exporter {who} reports TCP flags on {known[1]} of {total} "
                                     "data-carrying TCP records: its 0 flags are read as 0 again")
        if not zero or known is None or not known[2]:
            return
        flags, proto = columns["tcpControlBits"], columns["protocolIdentifier"]
        fixed = list(flags)
        for i in zero:
            fixed[i] = None
        batch.add_column("tcpControlBits", fixed)
        count = len(zero)
        if "reverseTcpControlBits" in columns:
            rflags = columns["reverseTcpControlBits"]
            rzero = [i for i, f in enumerate(rflags) if f == 0 and proto[i] == 6]
            if rzero:
                rfixed = list(rflags)
                for i in rzero:
                    rfixed[i] = None
                batch.add_column("reverseTcpControlBits", rfixed)
                count += len(rzero)
        self.stats.add("sanitize.flags_unreported", count)

    def _start_after_end(self, batch: FlowBatch) -> None:
        """Clamp each start later than its end to the end, counted (see the module docstring).
        The usual batch has none: one C-level ``map(gt)`` per pair finds that out; only a
        batch that has some (or holds None) builds a new start column."""
        columns = batch.columns
        for start_name, end_name in TIME_PAIRS:
            if start_name not in columns or end_name not in columns:
                continue
            if isinstance(columns, Columns):  # both still numpy arrays: compared without lists
                a_starts, a_ends = columns.array(start_name), columns.array(end_name)
                if (a_starts is not None and a_ends is not None and a_starts.dtype.kind in "ui"
                        and a_ends.dtype.kind in "ui" and len(a_starts) == len(a_ends)
                        and not _any_greater(a_starts, a_ends)):
                    continue
            starts, ends = columns[start_name], columns[end_name]
            try:
                if not any(map(gt, starts, ends)):
                    continue
            except TypeError:  # None (absent) beside ints; values are ints after the checks
                if not any(s > e for s, e in zip(starts, ends, strict=True)
                           if s is not None and e is not None):
                    continue
            fixed = [e if s is not None and e is not None and s > e else s
                     for s, e in zip(starts, ends, strict=True)]
            count = sum(1 for s, f in zip(starts, fixed, strict=True) if s is not f)
            batch.add_column(start_name, fixed)
            self.stats.add(START_AFTER_END, count)
            self._log(batch, f"{count} records start after they end ({start_name} > {end_name}); "
                             "start clamped to the end")

    def _log(self, batch: FlowBatch, what: str) -> None:
        if self._logged < self._log_first:
            self._logged += 1
            log.warning("flowcep: %s: %s", batch.source or "input", what)


# -- numpy columns (a decoder's arrays, not made into lists yet) -----------------------------------

_FLOAT_TYPES = frozenset({"float32", "float64"})
#: text encodings of array parts (records.ArrayPart) and the one type each is always valid for
_TEXT_TYPES = {IPV6_TEXT: "ipv6Address", MAC_TEXT: "macAddress", TEXT: "string"}


def _array_bad(parts: Sequence[ArrayPart], n: int, abstract_type: str | None) -> Any:
    """The positions (a numpy array, maybe empty) of the values of a column held as numpy
    parts that ``abstract_type`` cannot hold, or None when the arrays cannot say (a part
    another conversion makes, a dtype the type does not map to, a length that is not ``n``):
    then the list is made and checked as any other.

    What the list check would find, found on the arrays: an integer part holds numbers of its
    dtype, so only a dtype wider than the element's range is compared (a template field of the
    element's width or less, RFC 7011 6.2, needs no pass at all); a float part is checked for
    NaN and infinities; IPv4 text made from 32-bit numbers is always an address, and so is the
    decoder's IPv6 and MAC text, and its strings are always strings (the text encodings of
    ``records.ArrayPart``); a count part is absent values (None), which every type allows."""
    if abstract_type is None:
        return None
    import numpy as np  # only reached with a decoder's numpy columns

    rng = _INT_RANGES.get(abstract_type)
    total = 0
    found: list[Any] = []
    for values, _make, encoding in parts:
        if values.__class__ is int:
            total += values
            continue
        if encoding == IPV4_TEXT:
            if abstract_type != "ipv4Address" or values.dtype.kind != "u" or values.dtype.itemsize > 4:
                return None
        elif encoding in _TEXT_TYPES:  # text a decoder made that is always of its kind
            if abstract_type != _TEXT_TYPES[encoding]:
                return None
        elif encoding != VALUES:
            return None
        elif rng is not None and values.dtype.kind in "ui":
            info = np.iinfo(values.dtype)
            lo, hi = rng
            mask = None
            if hi < info.max:
                mask = values > hi
            if lo > info.min:
                mask = values < lo if mask is None else mask | (values < lo)
            if mask is not None:
                where = np.flatnonzero(mask)
                if len(where):
                    found.append(where + total)
        elif abstract_type in _FLOAT_TYPES and values.dtype.kind in "fui":
            if values.dtype.kind == "f":
                where = np.flatnonzero(~np.isfinite(values))
                if len(where):
                    found.append(where + total)
        else:
            return None
        total += len(values)
    if total != n:
        return None
    if not found:
        return np.empty(0, dtype=np.int64)
    return found[0] if len(found) == 1 else np.concatenate(found)


def _parts_length(parts: Sequence[ArrayPart]) -> int:
    """How many records a column held as parts has."""
    return sum(v if v.__class__ is int else len(v) for v, _make, _enc in parts)


def _part_value(parts: Sequence[ArrayPart], pos: int) -> Any:
    """The Python value at ``pos`` of a column held as parts (for the one-line message)."""
    for values, make, _enc in parts:
        size = values if values.__class__ is int else len(values)
        if pos < size:
            return None if values.__class__ is int else make(values[pos:pos + 1])[0]
        pos -= size
    return None


def _any_greater(a: Any, b: Any) -> bool:
    """Whether some ``a[i] > b[i]``, exactly, for integer arrays of any signedness: numpy 1.x
    (the dependency allows >= 1.24) compares int64 with uint64 through float64, which rounds
    past 2**53, so that pair (rare: a decoder gives both times the same type) compares as
    Python ints."""
    import numpy as np

    if a.dtype.kind == b.dtype.kind or (a.dtype.kind == "u" and a.dtype.itemsize < 8) or (
            b.dtype.kind == "u" and b.dtype.itemsize < 8):
        return bool(np.any(a > b))
    return bool(np.any(a.astype(object) > b.astype(object)))
