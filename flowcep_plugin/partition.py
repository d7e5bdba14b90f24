"""Partitioning by host: which worker owns an address, and which flows each worker needs.

Every shipped detector keys its state by one address (the scanner, the victim, the client),
and every alert names that address in ``flowcep.key``. So the work splits by host: each
address has one owner among ``n`` partitions, each flow goes to the owner of its source
and to the owner of its destination, and each worker keeps only the alerts whose key it
owns. The owner of an address sees every flow that address took part in, so its detectors
hold exactly the state one process would hold for that address; the other worker's partial
view of it is discarded with its alerts.

The owner is a CRC-32 of the address text, not Python's ``hash()``: it must be the same in
every process and on every machine (``hash`` of a str is salted per process). Kafka
partitions use CRC-32 modulo N as it is (every machine must agree without talking).
``--workers N`` on one regular file goes through buckets instead (:class:`OwnerMap`):
CRC-32 modulo 256, and each bucket to a worker by a greedy assignment on the load of the
file's first records, computed once before the fork, so one busy host no longer decides
which worker is the busier (the sample's attacker sends 12 % of its flows, and CRC-32 modulo
2 gave one worker the sources of 61 % of them).

A worker of ``flowcep run --workers N`` holds and detects only the flows some detector of its
needs (:class:`Need`): what a detector reads is declared by its ``partition`` and, for an
``address`` detector, narrowed by its object's optional ``partition_rows(batch, end)``: most of
them read the flows of a keyed host from one end only, plus a few kinds of flow from the
other (portscan: everything a scanner sent, and only the UDP flows sent to it). The flows a
worker's hosts took part in that no detector reads are then neither enriched nor held.
"""

from __future__ import annotations

import operator
import socket
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import compress, repeat
from typing import Any

from .alerts import address_column
from .records import IPV4_TEXT, Columns, FlowBatch

__all__ = ["owner", "owner_columns", "owner_indices", "owner_arrays", "OwnerTable", "owned_columns", "route", "event_owner", "PARTITION_KINDS", "Need",
           "EndRows", "OwnerMap", "BUCKETS", "bucket_loads"]

#: ``DetectorSpec.partition`` values. ``address``: each worker runs it on the flows of the
#: addresses it owns at either end and keeps the alerts whose key it owns. ``source`` /
#: ``destination``: on the flows whose source / destination it owns (each flow in one worker).
#: ``global``: once, in worker 0, on every flow.
PARTITION_KINDS = ("address", "source", "destination", "global")

_NO_ADDRESS = b"-"

#: buckets of a balanced owner map: an address goes to bucket CRC-32 mod BUCKETS, a bucket to a
#: worker. 256 lets a worker's share move in steps of about 0.4 % of the hosts while the
#: table stays one small tuple every worker inherits.
BUCKETS = 256


@dataclass(frozen=True)
class OwnerMap:
    """Which of ``n`` partitions owns an address: CRC-32 of its text modulo ``n`` (``table``
    None: what Kafka partitions use, the same on every machine), or through ``table``, one
    partition per bucket (CRC-32 modulo ``len(table)``), which ``--workers N`` balances on a
    sample of its input before the fork (:meth:`balanced`). Every process of a run must use
    the same map for the flows and for the alerts: that, not the map itself, is what makes
    N workers raise one process's alerts."""

    n: int
    table: tuple[int, ...] | None = None

    def of(self, address: str | None) -> int:
        if self.n <= 1:
            return 0
        h = zlib.crc32(address.encode() if address else _NO_ADDRESS)
        table = self.table
        return h % self.n if table is None else table[h % len(table)]

    @classmethod
    def balanced(cls, n: int, loads: Sequence[float]) -> OwnerMap:
        """Buckets to ``n`` partitions, the heaviest first, each to the partition with the least
        load so far (ties: the lowest index; so the same loads give the same map). Longest
        processing time first is within 4/3 of the best split; a host heavier than a fair share
        stays one bucket, so the busiest partition is at least that host's load."""
        if n <= 1:
            return cls(n)
        totals = [0.0] * n
        table = [0] * len(loads)
        for b in sorted(range(len(loads)), key=lambda i: (-loads[i], i)):
            w = min(range(n), key=lambda p: (totals[p], p))
            table[b] = w
            totals[w] += loads[b]
        return cls(n, tuple(table))

    def shares(self, loads: Sequence[float]) -> list[float]:
        """Each partition's part of the total of ``loads`` (one per bucket of this map)."""
        assert self.table is not None and len(loads) == len(self.table)
        totals = [0.0] * self.n
        for b, load in enumerate(loads):
            totals[self.table[b]] += load
        whole = sum(totals) or 1.0
        return [t / whole for t in totals]


def bucket_loads(batches: Iterable[FlowBatch], buckets: int = BUCKETS, source_weight: float = 1.0,
                 destination_weight: float = 0.5) -> list[float]:
    """The estimated work of each bucket over ``batches``: per record, ``source_weight`` to the
    bucket of its source (the source detectors, most of the work, read a flow in the owner of
    its source) and ``destination_weight`` to that of its destination (what the address
    detectors read of what a host received). An estimate only: any map gives the same
    alerts, a poor one only a slower run."""
    loads = [0.0] * buckets
    memo: dict[str | None, int] = {}
    for batch in batches:
        for side, weight in (("source", source_weight), ("destination", destination_weight)):
            if not weight:
                continue
            for a, k in Counter(address_column(batch, side)).items():
                b = memo.get(a)
                if b is None:
                    b = memo[a] = zlib.crc32(a.encode() if a else _NO_ADDRESS) % buckets
                loads[b] += weight * k
    return loads

#: An ``address`` detector's ``partition_rows(batch, end)``: which records of ``batch`` it reads
#: when a worker owns their ``end`` (``"source"`` or ``"destination"``), one bool per record, or
#: None for every one (also the cheap answer when telling them apart costs more than reading).
EndRows = Callable[[Any, str], Sequence[bool] | None]


@dataclass(frozen=True)
class Need:
    """The flows one detector needs in a worker, given which ends of each flow it owns.

    ``kind`` is the detector's ``partition``. ``rows`` is an ``address`` detector's
    ``partition_rows``: it must answer a superset of what the detector reads, by the end the
    worker owns (a flow whose both ends it owns is needed when either end's answer says so),
    so the state of every host the worker owns is the state one process holds for it. It is
    asked only about the records it could add: for ``"source"`` those whose source the worker
    owns, for ``"destination"`` those whose destination it owns that the first answer left out.
    """

    kind: str
    rows: EndRows | None = None

    @classmethod
    def of(cls, kind: str, obj: object) -> Need:
        rows = getattr(obj, "partition_rows", None) if kind == "address" else None
        return cls(kind, rows if callable(rows) else None)

    def dst_rows(self, batch: Any) -> Sequence[bool] | None:
        """Which records of ``batch`` it reads when a worker owns their destination only
        (None: every one; a source detector reads none of them)."""
        if self.kind == "source":
            return [False] * batch.length
        if self.kind != "address" or self.rows is None:
            return None
        return self.rows(batch, "destination")

    def mask(self, batch: Any, ms: list[bool], md: list[bool]) -> list[bool] | None:
        """One bool per record of ``batch`` (``ms``/``md``: whether the worker owns its source
        / destination); None: every record (``global``)."""
        kind = self.kind
        if kind == "source":
            return ms
        if kind == "destination":
            return md
        if kind != "address":
            return None
        if self.rows is None:
            return list(map(operator.or_, ms, md))
        n = batch.length
        idx = list(compress(range(n), ms))
        got = self._ask(batch, idx, "source")
        if got is None:
            out = list(ms)
        else:
            out = [False] * n
            for i in compress(idx, got):
                out[i] = True
        idx = list(compress(range(n), map(operator.gt, md, out)))  # owned destination, not yet in
        got = self._ask(batch, idx, "destination")
        for i in idx if got is None else compress(idx, got):
            out[i] = True
        return out

    def _ask(self, batch: Any, idx: list[int], end: str) -> Sequence[bool] | None:
        """``partition_rows`` about the records at ``idx`` alone (their columns are copied
        out only if it reads them); None: every one."""
        if not idx:
            return []
        assert self.rows is not None
        return self.rows(batch if len(idx) == batch.length else batch.take(idx), end)


def owner(address: str | None, n: int) -> int:
    """The partition (0..n-1) that owns ``address``; records without one belong to ``-``'s."""
    if n <= 1:
        return 0
    data = address.encode() if address else _NO_ADDRESS
    return zlib.crc32(data) % n


def owner_columns(batch: FlowBatch, n: int, cache: dict[str | None, int]) -> tuple[list[int], list[int]]:
    """The owner of each record's source and of its destination. ``cache`` memoises owners
    across batches (the caller bounds it); the lookups run at C level, only new addresses
    are hashed."""
    cols: list[list[int]] = []
    for side in ("source", "destination"):
        addrs = address_column(batch, side)
        got: list[int | None] = list(map(cache.get, addrs))
        if None in got:
            for a in dict.fromkeys(a for a, o in zip(addrs, got, strict=True) if o is None):
                cache[a] = owner(a, n)
            got = list(map(cache.__getitem__, addrs))
        cols.append(got)  # type: ignore[arg-type]  # every None was filled above
    return cols[0], cols[1]


def owner_indices(batch: FlowBatch, owners: OwnerMap, cache: dict[str | None, int]) -> tuple[list[int], list[int]]:
    """The owner of each record's source and of its destination under the run's map: what
    the main process of ``--workers N`` routes every record by. ``cache`` memoises owners per
    address (the caller bounds it); the lookups run at C level, only new addresses are hashed."""
    of = owners.of
    cols: list[list[int]] = []
    for side in ("source", "destination"):
        addrs = address_column(batch, side)
        got: list[int | None] = list(map(cache.get, addrs))
        if None in got:
            for a in dict.fromkeys(compress(addrs, map(operator.is_, got, repeat(None)))):
                cache[a] = of(a)
            got = list(map(cache.__getitem__, addrs))
        cols.append(got)  # type: ignore[arg-type]  # every None was filled above
    return cols[0], cols[1]


def ipv4_array(batch: FlowBatch, side: str) -> Any:
    """The ``side`` addresses of ``batch`` as the decoder's numpy array of 32-bit numbers,
    when every record's address is that (one :data:`~flowcep_plugin.records.IPV4_TEXT` part,
    no IPv6 column; its text list made or not); else None. Reading it makes no text."""
    cols = batch.columns
    if not isinstance(cols, Columns) or f"{side}IPv6Address" in cols:
        return None
    parts = cols.arrays(f"{side}IPv4Address")
    if parts is None or len(parts) != 1 or parts[0][2] != IPV4_TEXT or parts[0][0].__class__ is int:
        return None
    return parts[0][0]


class OwnerTable:
    """The owners of IPv4 addresses held as numbers, looked up with numpy: a direct-mapped
    table of ``2**bits`` slots (Fibonacci hashing of the number), each slot the first address
    that took it and its owner. A batch's lookups, the test for misses and the gather are
    vectorised; an address whose slot another holds goes through the dict ``side`` one by
    one (a collision costs time, never a wrong owner). Memory is fixed; when ``side`` grows
    past ``relearn`` entries the slots are emptied so they follow the addresses of the moment
    (``resets`` counts it). The owner of an address is ``owners.of`` of its dotted-quad
    text, as for every other address: one map for flows and alerts."""

    def __init__(self, owners: OwnerMap, bits: int = 16, relearn: int = 1 << 14) -> None:
        import numpy as np  # the decoder has imported it already; not at the top (config imports)

        self.owners = owners
        self.bits = bits
        self.relearn = relearn
        self.keys = np.full(1 << bits, -1, dtype=np.int64)
        self.values = np.zeros(1 << bits, dtype=np.int32)
        self.side: dict[int, int] = {}
        self.resets = 0

    def of(self, arr: Any) -> Any:
        """The owner of each address of ``arr`` (numbers), as a numpy int32 array."""
        import numpy as np

        addr = arr.astype(np.uint32)
        slot = (addr * np.uint32(0x9E3779B1)) >> np.uint32(32 - self.bits)
        wide = addr.astype(np.int64)
        keys = self.keys
        miss = keys[slot] != wide
        if miss.any():
            pos = np.flatnonzero(miss)
            free = pos[keys[slot[pos]] == -1]
            if free.size:
                slots, first = np.unique(slot[free], return_index=True)
                new = wide[free[first]]
                keys[slots] = new
                self.values[slots] = [self._owner(a) for a in new.tolist()]
                pos = pos[keys[slot[pos]] != wide[pos]]
            out = self.values[slot]
            if pos.size:
                side = self.side
                if len(side) > self.relearn:
                    side.clear()
                    keys.fill(-1)
                    self.resets += 1
                got = []
                for a in wide[pos].tolist():
                    o = side.get(a)
                    if o is None:
                        o = side[a] = self._owner(a)
                    got.append(o)
                out[pos] = got
            return out
        return self.values[slot]

    def _owner(self, number: int) -> int:
        return self.owners.of(socket.inet_ntoa(number.to_bytes(4, "big")))


def owner_arrays(batch: FlowBatch, owners: OwnerMap, cache: dict[Any, int],
                 table: OwnerTable | None = None) -> tuple[Any, Any]:
    """The owner of each record's source and of its destination, as numpy int arrays: the
    same owners as :func:`owner_indices` (the map hashes the address text). Where the batch
    still holds the decoder's address numbers (:func:`ipv4_array`) they are looked up in
    ``table`` (:class:`OwnerTable`), so the main process of ``--workers N`` makes no address
    text; otherwise the text column is looked up in ``cache`` (per address; the caller
    bounds it)."""
    import numpy as np  # the decoder has imported it already; not at the top (config imports)

    out: list[Any] = []
    of = owners.of
    for side in ("source", "destination"):
        arr = ipv4_array(batch, side) if table is not None else None
        if arr is not None:
            assert table is not None
            out.append(table.of(arr))
            continue
        addrs = address_column(batch, side)
        got: list[Any] = list(map(cache.get, addrs))
        if None in got:
            for a in dict.fromkeys(compress(addrs, map(operator.is_, got, repeat(None)))):
                cache[a] = of(a)
            got = list(map(cache.__getitem__, addrs))
        out.append(np.fromiter(got, np.int32, batch.length))
    return out[0], out[1]


def owned_columns(batch: FlowBatch, index: int, n: int, cache: dict[str | None, bool],
                  owners: OwnerMap | None = None) -> tuple[list[bool], list[bool]]:
    """Whether partition ``index`` owns each record's source, and its destination: what a
    worker filters on for every record it reads, so the lookups, the test for misses and
    the fill all run at C level (``cache`` memoises per address; the caller bounds it).
    ``owners``: the run's map (default: CRC-32 modulo ``n``)."""
    of = (owners or OwnerMap(n)).of
    cols: list[list[bool]] = []
    for side in ("source", "destination"):
        addrs = address_column(batch, side)
        got: list[bool | None] = list(map(cache.get, addrs))
        if None in got:
            for a in dict.fromkeys(compress(addrs, map(operator.is_, got, repeat(None)))):
                cache[a] = of(a) == index
            got = list(map(cache.__getitem__, addrs))
        cols.append(got)  # type: ignore[arg-type]  # every None was filled above
    return cols[0], cols[1]


def route(batch: FlowBatch, n: int, cache: dict[str, int] | None = None) -> list[list[int]]:
    """The record indices each of ``n`` partitions needs: those whose source or destination
    it owns, in batch order (so time order is kept). For a router that sends each partition
    only its records (an ingest process publishing to partitioned topics); ``--workers N``
    routes by :func:`owner_indices` and the detectors' needs (``workers.Router``). ``cache`` memoises owners across
    batches (the caller bounds it)."""
    parts: list[list[int]] = [[] for _ in range(n)]
    if n <= 1:
        parts[0] = list(range(batch.length))
        return parts
    own = cache if cache is not None else {}
    src = address_column(batch, "source")
    dst = address_column(batch, "destination")
    for i, (s, d) in enumerate(zip(src, dst, strict=True)):
        s_key = s or "-"
        d_key = d or "-"
        a = own.get(s_key)
        if a is None:
            a = own[s_key] = owner(s, n)
        b = own.get(d_key)
        if b is None:
            b = own[d_key] = owner(d, n)
        parts[a].append(i)
        if b != a:
            parts[b].append(i)
    return parts


def event_owner(event: Mapping[str, Any], n: int, owners: OwnerMap | None = None) -> int:
    """The partition that owns an alert: the owner of its key (the address its detector
    keyed the state by; the first one of a list), by the run's map ``owners`` (default:
    CRC-32 modulo ``n``), the one its flows were routed by. Alerts without a key belong to
    ``-``'s owner, so exactly one worker keeps them."""
    of = (owners or OwnerMap(n)).of
    flowcep = event.get("flowcep") or {}
    key = flowcep.get("key") if isinstance(flowcep, Mapping) else None
    if not key or key == "-":
        return of(None)
    return of(str(key).split(",", 1)[0])
