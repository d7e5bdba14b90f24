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
"""

from __future__ import annotations

import operator
import zlib
from collections.abc import Mapping
from itertools import compress, repeat
from typing import Any

from .alerts import address_column
from .records import FlowBatch

__all__ = ["owner", "owner_columns", "owned_columns", "route", "event_owner", "PARTITION_KINDS"]

#: ``DetectorSpec.partition`` values. ``address``: each worker runs it on the flows of the
#: addresses it owns at either end and keeps the alerts whose key it owns. ``source`` /
#: ``destination``: on the flows whose source / destination it owns (each flow in one worker).
#: ``global``: once, in worker 0, on every flow.
PARTITION_KINDS = ("address", "source", "destination", "global")

_NO_ADDRESS = b"-"


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
