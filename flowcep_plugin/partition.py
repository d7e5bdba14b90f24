"""Partitioning by host: which worker owns an address, and which flows each worker needs.

Every shipped detector keys its state by one address (the scanner, the victim, the client),
and every alert names that address in ``flowcep.key``. So the work splits by host: each
address has one owner among ``n`` partitions, each flow goes to the owner of its source
and to the owner of its destination, and each worker keeps only the alerts whose key it
owns. The owner of an address sees every flow that address took part in, so its detectors
hold exactly the state one process would hold for that address; the other worker's partial
view of it is discarded with its alerts.

The owner is a CRC-32 of the address text, not Python's ``hash()``: it must be the same in
every process and on every machine (``hash`` of a str is salted per process).

A worker of ``flowcep run --workers N`` holds and detects only the flows some detector of its
needs (:class:`Need`): what a detector reads is declared by its ``partition`` and, for an
``address`` detector, narrowed by its object's optional ``partition_rows(batch, end)``: most of
them read the flows of a keyed host from one end only, plus a few kinds of flow from the
other (portscan: everything a scanner sent, and only the UDP flows sent to it). The flows a
worker's hosts took part in that no detector reads are then neither enriched nor held.
"""

from __future__ import annotations

import operator
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from itertools import compress, repeat
from typing import Any

from .alerts import address_column
from .records import FlowBatch

__all__ = ["owner", "owner_columns", "owned_columns", "route", "event_owner", "PARTITION_KINDS", "Need",
           "EndRows"]

#: ``DetectorSpec.partition`` values. ``address``: each worker runs it on the flows of the
#: addresses it owns at either end and keeps the alerts whose key it owns. ``source`` /
#: ``destination``: on the flows whose source / destination it owns (each flow in one worker).
#: ``global``: once, in worker 0, on every flow.
PARTITION_KINDS = ("address", "source", "destination", "global")

_NO_ADDRESS = b"-"

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


def owned_columns(batch: FlowBatch, index: int, n: int,
                  cache: dict[str | None, bool]) -> tuple[list[bool], list[bool]]:
    """Whether partition ``index`` owns each record's source, and its destination: what a
    worker filters on for every record it reads, so the lookups, the test for misses and
    the fill all run at C level (``cache`` memoises per address; the caller bounds it)."""
    cols: list[list[bool]] = []
    for side in ("source", "destination"):
        addrs = address_column(batch, side)
        got: list[bool | None] = list(map(cache.get, addrs))
        if None in got:
            for a in dict.fromkeys(compress(addrs, map(operator.is_, got, repeat(None)))):
                cache[a] = owner(a, n) == index
            got = list(map(cache.__getitem__, addrs))
        cols.append(got)  # type: ignore[arg-type]  # every None was filled above
    return cols[0], cols[1]


def route(batch: FlowBatch, n: int, cache: dict[str, int] | None = None) -> list[list[int]]:
    """The record indices each of ``n`` partitions needs: those whose source or destination
    it owns, in batch order (so time order is kept). For a router that sends each partition
    only its records (an ingest process publishing to partitioned topics); ``--workers N``
    filters in each worker instead (:func:`owned_columns`). ``cache`` memoises owners across
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


def event_owner(event: Mapping[str, Any], n: int) -> int:
    """The partition that owns an alert: the owner of its key (the address its detector
    keyed the state by; the first one of a list). Alerts without a key belong to ``-``'s
    owner, so exactly one worker keeps them."""
    flowcep = event.get("flowcep") or {}
    key = flowcep.get("key") if isinstance(flowcep, Mapping) else None
    if not key or key == "-":
        return owner(None, n)
    return owner(str(key).split(",", 1)[0], n)
