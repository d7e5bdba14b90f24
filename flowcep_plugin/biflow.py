"""Biflows whose initiator is the reverse direction are turned round before detectors see them.

RFC 5103 lets an exporter put either endpoint first in a biflow record and say which one
opened the conversation in ``biflowDirection`` (1 initiator, 2 reverseInitiator). Some do not
say: softflowd ``-b`` keys every biflow by the lower address, so a scanner with the higher
address has its SYNs in ``reverseTcpControlBits`` and the victim's answers forward. Every
detector reads ``source`` as the side that acted; such a record names the victim as the one
who sent the answers and hides the scanner (softflowd ``-b`` exports: 17 of 60 labelled attacks
found before this step, docs/detectors.md).

:func:`reorient` turns a record round only when its own evidence says the reverse side opened
it, taking the first evidence that speaks either way, strongest first:

1. ``biflowDirection``: 2 turns (and is set to 1), 1 keeps;
2. one side silent: forward packets 0 and reverse packets > 0 turns (the only sender is the
   reverse side; softflowd ``-b`` writes such records for unanswered probes), the mirror keeps;
3. ``initialTCPFlags``/``reverseInitialTCPFlags``: a reverse first packet SYN without ACK
   against a forward first packet with ACK turns, the mirror keeps;
4. the handshake in the cumulative TCP flags: reverse SYN without ACK (the reverse side never
   acknowledged anything, so it answered nothing) and forward ACK with SYN or RST (SYN+ACK or
   RST+ACK: an answer) turns, the mirror keeps. A completed connection has SYN and ACK on both
   sides, and two bare SYNs are a simultaneous open: both say nothing;
5. ICMP: forward echo reply and reverse echo request (type-code elements, v4 and v6) turns,
   the mirror keeps;
6. per-direction start times (``flowStart*`` and ``reverseFlowStart*`` of one unit): the
   reverse one strictly earlier turns, the forward one strictly earlier keeps (YAF's
   ``reverseFlowDeltaMilliseconds`` > 0 keeps).

Only for an exporter that has written a record responder first (one was turned), two weaker
rules for the records none of those decide (:class:`Reorienter`, state across batches):

7. known responder: the forward endpoint (address, port) answered the reverse address in a
   turned record (a browser's unanswered SYNs are turned, its completed connections to the
   same servers have no evidence; turning only the former named it a scanner);
8. service port: TCP or UDP from a privileged source port (1-1023) to an unprivileged one.
   A guess from ports, chosen because it was measured to name nobody innocent on the 123
   labelled captures converted by softflowd ``-b``, and never applied to an exporter that
   writes initiators first (FlowCEP's meter, YAF, ipfixprobe turn nothing).

Anything else stays as it is, and a record without reverse values (a uniflow) is never
touched, whatever its ``biflowDirection`` says.

Turning swaps every forward/reverse column pair (``x`` and ``reverseX``: counters, flags,
initial flags, type-codes, per-direction times, ...) and every source/destination and
ingress/egress pair that has no reverse element of its own (addresses, ports, MACs, prefix
lengths, AS numbers, interfaces). Elements with neither (``flowStart*`` without a reverse,
``flowDirection``, ``flowEndReason``) describe the biflow as a whole and stay. A forged
``biflowDirection`` or flags therefore can do to a record exactly what swapping its fields
before sending it could: no value is lost, made up or moved to another record.

Counted in stats: ``sanitize.biflows_reoriented`` and per evidence
``sanitize.biflows_reoriented.<reason>``. The common batch (uniflows, or biflows of an
exporter that writes initiators first) costs column tests in numpy and no per-record Python;
only turned rows, and for a proven exporter the undecided ones (a table lookup), are touched
one by one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from .records import EVENT_TIME_FIELDS, ArrayPart, Columns, FlowBatch
from .stats import Stats

__all__ = ["reorient", "Reorienter", "REORIENTED", "REASONS", "MAX_RESPONDERS", "MAX_TURNING_EXPORTERS",
           "forward_name", "swap_pairs"]

#: the stats counter of turned records (and the prefix of the per-reason counters)
REORIENTED = "sanitize.biflows_reoriented"
#: evidence names, strongest first (``sanitize.biflows_reoriented.<reason>``)
REASONS = ("biflowDirection", "one-sided", "initial-flags", "handshake", "icmp", "start-time", "known-responder",
           "service-port")

_SYN, _RST, _ACK = 0x02, 0x04, 0x10
#: (forward, reverse) type-code element, echo request type-code, echo reply type-code
_ICMP = (("icmpTypeCodeIPv4", "reverseIcmpTypeCodeIPv4", 8 << 8, 0),
         ("icmpTypeCodeIPv6", "reverseIcmpTypeCodeIPv6", 128 << 8, 129 << 8))
_TIME_UNITS = ("Milliseconds", "Seconds", "Microseconds", "Nanoseconds")
_EVENT_TIME_NAMES = frozenset(name for name, _ in EVENT_TIME_FIELDS)
#: reverse elements that are no per-direction value (RFC 5103 6.3: the reverse start's offset
#: from the forward start, unsigned): never swapped; a positive one says the forward side began
_NOT_PAIRED = frozenset({"reverseFlowDeltaMilliseconds"})


def forward_name(reverse: str) -> str | None:
    """The forward element of an RFC 5103 reverse name (``reverseTcpControlBits`` ->
    ``tcpControlBits``; an acronym stays: ``reverseHTTPRequestURL`` -> ``HTTPRequestURL``),
    or None when ``reverse`` is not such a name."""
    if len(reverse) < 8 or not reverse.startswith("reverse") or not reverse[7].isupper():
        return None
    rest = reverse[7:]
    if len(rest) > 1 and rest[1].isupper():
        return rest
    return rest[0].lower() + rest[1:]


def _partner(name: str) -> str | None:
    """The other endpoint's element of a source/destination or ingress/egress name."""
    for a, b in (("source", "destination"), ("Source", "Destination"), ("ingress", "egress"),
                 ("Ingress", "Egress")):
        if a in name:
            return name.replace(a, b, 1)
        if b in name:
            return name.replace(b, a, 1)
    return None


def swap_pairs(names: Sequence[str]) -> list[tuple[str, str]]:
    """The column pairs a turned record swaps, for a batch with columns ``names``: each
    reverse element with its forward one, then each source/destination and ingress/egress
    pair of which neither side has a reverse element in the batch."""
    present = set(names)
    pairs: list[tuple[str, str]] = []
    paired: set[str] = set()
    for name in names:
        fwd = forward_name(name)
        if fwd is not None and fwd not in paired and name not in _NOT_PAIRED:
            pairs.append((fwd, name))
            paired.update((fwd, name))
    for name in names:
        if name in paired or name.startswith("reverse") or name.startswith("flowcep."):
            continue
        other = _partner(name)
        if other is None or other in paired:
            continue
        if other in present or name.startswith(("source", "destination")):
            pairs.append((name, other))
            paired.update((name, other))
    return pairs


def _numbers(columns: Any, name: str, np: Any) -> Any:
    """The column as float64 with NaN for absent values, or None when the batch lacks it.
    Floats hold every flag, count and type-code exactly; start times past 2**53 round, which
    keeps every strict order it reports (rounding is monotonic), so no comparison here can
    say "earlier" wrongly."""
    if name not in columns:
        return None
    arr = columns.array(name) if isinstance(columns, Columns) else None
    if arr is not None and arr.dtype.kind in "ui" and arr.ndim == 1:
        return arr.astype(np.float64)
    try:
        return np.array(columns[name], dtype=np.float64)  # None -> NaN, in C
    except (TypeError, ValueError):  # a value the sanitiser let through that is no number
        return None


def _flags(values: Any, np: Any) -> tuple[Any, Any, Any, Any]:
    """(has SYN, has ACK, has RST, present) of a flags column read by :func:`_numbers`."""
    present = ~np.isnan(values)
    ints = np.where(present, values, 0).astype(np.int64)
    return (ints & _SYN) != 0, (ints & _ACK) != 0, (ints & _RST) != 0, present


def _evidence(columns: Any, n: int, np: Any) -> list[tuple[str, Any, Any]]:
    """(reason, turn, keep) boolean arrays per evidence, strongest first; absent evidence is
    left out."""
    out: list[tuple[str, Any, Any]] = []
    bd = _numbers(columns, "biflowDirection", np)
    if bd is not None:
        out.append(("biflowDirection", bd == 2, bd == 1))
    fp = rp = None
    for fwd in ("packetDeltaCount", "packetTotalCount"):
        fp, rp = _numbers(columns, fwd, np), _numbers(columns, "reverse" + fwd[0].upper() + fwd[1:], np)
        if fp is not None and rp is not None:
            out.append(("one-sided", (fp == 0) & (rp > 0), (rp == 0) & (fp > 0)))
            break
    proto = _numbers(columns, "protocolIdentifier", np)
    tcp = proto == 6 if proto is not None else np.ones(n, dtype=bool)
    for reason, fname, rname in (("initial-flags", "initialTCPFlags", "reverseInitialTCPFlags"),
                                 ("handshake", "tcpControlBits", "reverseTcpControlBits")):
        f, r = _numbers(columns, fname, np), _numbers(columns, rname, np)
        if f is None or r is None:
            continue
        fs, fa, fr, fok = _flags(f, np)
        rs, ra, rr, rok = _flags(r, np)
        both = tcp & fok & rok
        if reason == "initial-flags":  # first packets: a bare SYN against an answer (ACK)
            out.append((reason, both & rs & ~ra & fa, both & fs & ~fa & ra))
        else:
            out.append((reason, both & rs & ~ra & fa & (fs | fr), both & fs & ~fa & ra & (rs | rr)))
    for fname, rname, request, reply in _ICMP:
        f, r = _numbers(columns, fname, np), _numbers(columns, rname, np)
        if f is None or r is None:
            continue
        sent = (fp != 0) & (rp != 0) if fp is not None and rp is not None else np.ones(n, dtype=bool)
        out.append(("icmp", sent & (f == reply) & (r == request), sent & (f == request) & (r == reply)))
    for unit in _TIME_UNITS:
        f, r = _numbers(columns, f"flowStart{unit}", np), _numbers(columns, f"reverseFlowStart{unit}", np)
        if f is not None and r is not None:
            out.append(("start-time", r < f, f < r))
            break
    delta = _numbers(columns, "reverseFlowDeltaMilliseconds", np)
    if delta is not None:
        out.append(("start-time", np.zeros(n, dtype=bool), delta > 0))
    return out


class Reorienter:
    """Turns biflows round (:func:`reorient`), remembering the services that answered a turned
    record: one per pipeline, called once per batch by the sanitiser.

    A record turned by evidence says more than its own direction: the forward endpoint
    (address, port) answered the reverse address there. softflowd ``-b`` writes a browser's
    unanswered SYNs as one-sided records (turned) and its completed connections to the same
    servers with SYN and ACK on both sides (no evidence): left as they are, the client shows as
    probing hosts that never answered it, and portscan named a web browser a horizontal
    scanner. So a record no evidence decides, whose forward endpoint is a remembered
    responder of its reverse address (same input and exporter, TCP or UDP), is turned too
    (``known-responder``); when its reverse endpoint is also remembered as a responder of its
    forward address, it stays. Only turned records teach (an exporter that writes initiators
    first never fills the table), and the table is bounded (``MAX_RESPONDERS``, oldest out,
    counted as ``sanitize.biflow_responders_evicted``).

    Last and weakest, ports: an exporter that has written a record responder first (one was
    turned) may write any record so. From then on, a TCP or UDP record of that exporter that
    nothing else decides, from a privileged source port (1-1023) to an unprivileged one, is
    turned (``service-port``): the server's port first is how such an exporter writes a client's
    connection. Chosen because it was measured to name nobody innocent over the 123 labelled
    captures converted by softflowd ``-b`` (and found 5 more attacks, 46 of 60: password
    guessing and ACK scans, whose records carry no other evidence); an exporter that writes
    initiators first (FlowCEP's meter, YAF, ipfixprobe) never turns a record and so never has
    its ports read. Exporters are remembered in a bounded table (``MAX_TURNING_EXPORTERS``,
    least recently proven out, counted as ``sanitize.biflow_exporters_evicted``)."""

    def __init__(self, stats: Stats, limit: int = 0) -> None:
        self.stats = stats
        self.limit = limit or MAX_RESPONDERS
        # (input, exporter, responder address, responder port, protocol, initiator address)
        self._responders: dict[tuple[Any, ...], None] = {}
        # (input, exporter) that wrote a record responder first, most recently proven last
        self._turning: dict[tuple[Any, ...], None] = {}

    def __call__(self, batch: FlowBatch) -> None:
        reorient(batch, self.stats, self)

    def _learn(self, batch: FlowBatch, rows: list[int]) -> None:
        if not rows:
            return
        cols = batch.columns
        src, dst = _address(cols), _address(cols, "destination")
        if src is None or dst is None or "sourceTransportPort" not in cols or "protocolIdentifier" not in cols:
            return
        sport, proto = cols["sourceTransportPort"], cols["protocolIdentifier"]
        table, scope = self._responders, (batch.source, batch.exporter)
        for i in rows:  # before the swap: forward is the responder
            if proto[i] in (6, 17) and sport[i]:
                key = (*scope, src(i), sport[i], proto[i], dst(i))
                if key in table:
                    del table[key]
                elif len(table) >= self.limit:
                    del table[next(iter(table))]
                    self.stats.add("sanitize.biflow_responders_evicted")
                table[key] = None

    def _proven(self, batch: FlowBatch, turned: bool) -> bool:
        """Whether the batch's exporter has written a record responder first: in this batch
        (``turned``, remembered as the most recent) or before (bounded, counted evictions)."""
        scope, table = (batch.source, batch.exporter), self._turning
        if not turned:
            return scope in table
        if scope in table:
            del table[scope]
        elif len(table) >= MAX_TURNING_EXPORTERS:
            del table[next(iter(table))]
            self.stats.add("sanitize.biflow_exporters_evicted")
        table[scope] = None
        return True

    def _service_port(self, batch: FlowBatch, undecided: Any, np: Any) -> Any:
        """The undecided TCP/UDP rows from a privileged source port (1-1023) to an unprivileged
        destination port (the caller asks only for an exporter :meth:`_proven`), or None when
        the batch lacks ports or protocols."""
        cols = batch.columns
        sp, dp = _numbers(cols, "sourceTransportPort", np), _numbers(cols, "destinationTransportPort", np)
        proto = _numbers(cols, "protocolIdentifier", np)
        if sp is None or dp is None or proto is None:
            return None
        return undecided & ((proto == 6) | (proto == 17)) & (sp > 0) & (sp < 1024) & (dp >= 1024)

    def _known(self, batch: FlowBatch, undecided: Any, np: Any) -> Any:
        """The undecided rows whose forward endpoint answered their reverse address before."""
        out = np.zeros(batch.length, dtype=bool)
        table = self._responders
        if not table:
            return out
        cols = batch.columns
        src, dst = _address(cols), _address(cols, "destination")
        sport, dport, proto = (cols.get("sourceTransportPort"), cols.get("destinationTransportPort"),
                               cols.get("protocolIdentifier"))
        if src is None or dst is None or sport is None or dport is None or proto is None:
            return out
        scope = (batch.source, batch.exporter)
        for i in np.flatnonzero(undecided).tolist():
            p = proto[i]
            if p in (6, 17) and (*scope, src(i), sport[i], p, dst(i)) in table and (
                    *scope, dst(i), dport[i], p, src(i)) not in table:
                out[i] = True
        return out


#: responders remembered by a :class:`Reorienter` (oldest evicted, counted)
MAX_RESPONDERS = 65_536
#: exporters remembered as writing responders first (least recently proven evicted, counted)
MAX_TURNING_EXPORTERS = 4096


def _has_reverse(columns: Any, reverse: list[str], rows: Any, np: Any) -> Any:
    """``rows`` (a boolean mask) without the records that hold no reverse value: a uniflow
    record is never turned, whatever its biflowDirection says."""
    idx = np.flatnonzero(rows)
    found = np.zeros(len(idx), dtype=bool)
    for name in reverse:
        if isinstance(columns, Columns) and columns.array(name) is not None:
            return rows  # a decoder's array: every record holds the element
        col = columns[name]
        found |= np.fromiter((col[i] is not None for i in idx.tolist()), dtype=bool, count=len(idx))
        if found.all():
            break
    out = np.zeros(len(rows), dtype=bool)
    out[idx[found]] = True
    return out


def _address(cols: Any, side: str = "source") -> Callable[[int], Any] | None:
    """The side's address of record ``i`` (IPv4, else IPv6), or None when the batch has
    neither column; read only at the rows asked for."""
    v4: list[Any] | None = cols.get(f"{side}IPv4Address")
    v6: list[Any] | None = cols.get(f"{side}IPv6Address")
    if v4 is None or v6 is None:
        col = v4 if v4 is not None else v6
        return None if col is None else col.__getitem__
    return lambda i: v4[i] if v4[i] is not None else v6[i]


def reorient(batch: FlowBatch, stats: Stats, state: Reorienter | None = None) -> None:
    """Turn round, in place, the biflow records of ``batch`` whose evidence says the reverse
    side opened them (module docstring); counted in ``stats``. ``state`` remembers and applies
    known responders across batches (:class:`Reorienter`)."""
    columns = batch.columns
    names = list(columns)
    reverse = [name for name in names if forward_name(name) is not None]
    if not reverse:
        return  # uniflows only: nothing to read
    n = batch.length
    if n == 0:
        return
    import numpy as np  # only batches with reverse elements pay for the import

    evidence = _evidence(columns, n, np)
    if not evidence:
        return
    decided = np.zeros(n, dtype=bool)
    turn = np.zeros(n, dtype=bool)
    by_reason: dict[str, Any] = {}
    for reason, t, k in evidence:
        new = t & ~decided
        if new.any():
            by_reason[reason] = new if reason not in by_reason else by_reason[reason] | new
            turn |= new
        decided |= t | k
    if not turn.any() and (state is None or (batch.source, batch.exporter) not in state._turning):
        return  # the common case: nothing to turn, and an exporter that never wrote a responder first
    turn &= _has_reverse(columns, reverse, turn, np)
    if state is not None and state._proven(batch, bool(turn.any())):
        state._learn(batch, np.flatnonzero(turn).tolist())  # this batch's turns count already
        known = state._known(batch, ~decided, np)
        if known.any():
            known &= _has_reverse(columns, reverse, known, np)
            by_reason["known-responder"] = known
            turn |= known
        port = state._service_port(batch, ~decided & ~known, np)
        if port is not None:
            port &= _has_reverse(columns, reverse, port, np)
            if port.any():
                by_reason["service-port"] = port
                turn |= port
    if not turn.any():
        return
    keep = turn
    rows = np.flatnonzero(turn)
    picked = rows.tolist()
    times_moved = False
    for a, b in swap_pairs(names):
        _swap(batch, a, b, rows, picked, np)
        times_moved = times_moved or a in _EVENT_TIME_NAMES or b in _EVENT_TIME_NAMES
    if times_moved and batch._times is not None:  # a per-direction end moved: event time follows
        batch._times = None
        batch._times_array = None
    if "biflowDirection" in columns:
        bd = list(columns["biflowDirection"])
        for i in picked:
            if bd[i] == 2:
                bd[i] = 1
        batch.add_column("biflowDirection", bd)
    stats.add(REORIENTED, len(picked))
    for reason, mask in by_reason.items():
        count = int(np.count_nonzero(mask & keep))
        if count:
            stats.add(f"{REORIENTED}.{reason}", count)


def _swap(batch: FlowBatch, a: str, b: str, rows: Any, picked: list[int], np: Any) -> None:
    """Swap columns ``a`` and ``b`` at ``rows``; a column the batch lacks is made (None
    elsewhere). Two columns a decoder still holds as one numpy array each, of one encoding and
    dtype, are swapped as arrays (their lists are still made only if a stage reads them)."""
    columns = batch.columns
    if isinstance(columns, Columns):
        pa, pb = columns.arrays(a), columns.arrays(b)
        if (pa is not None and pb is not None and len(pa) == 1 and len(pb) == 1
                and pa[0][0].__class__ is not int and pb[0][0].__class__ is not int
                and pa[0][2] == pb[0][2] and pa[0][2] is not None and pa[0][1] is pb[0][1]
                and pa[0][0].dtype == pb[0][0].dtype and pa[0][0].shape == pb[0][0].shape):
            va, vb = pa[0][0].copy(), pb[0][0].copy()
            va[rows], vb[rows] = pb[0][0][rows], pa[0][0][rows]
            columns.set_arrays(a, [ArrayPart(va, pa[0][1], pa[0][2])])
            columns.set_arrays(b, [ArrayPart(vb, pb[0][1], pb[0][2])])
            return
    n = batch.length
    ca = list(columns[a]) if a in columns else [None] * n
    cb = list(columns[b]) if b in columns else [None] * n
    for i in picked:
        ca[i], cb[i] = cb[i], ca[i]
    batch.add_column(a, ca)
    batch.add_column(b, cb)
