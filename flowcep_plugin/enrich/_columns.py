"""Column helpers shared by the enrichers: per-batch memoisation and address columns.

Every enricher computes once per distinct value in a batch, then fans the results out with
C-level ``map`` so the per-record cost is a dict lookup, not a Python call.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from typing import Any, TypeVar

from ..records import FlowBatch

__all__ = ["address_column", "memo_map", "merge_columns", "ADDRESS_FIELDS"]

K = TypeVar("K", bound=Hashable)
R = TypeVar("R")

#: IPFIX address elements per side, IPv4 first.
ADDRESS_FIELDS: dict[str, tuple[str, str]] = {
    "source": ("sourceIPv4Address", "sourceIPv6Address"),
    "destination": ("destinationIPv4Address", "destinationIPv6Address"),
}


def merge_columns(first: Sequence[Any] | None, second: Sequence[Any] | None, length: int) -> list[Any]:
    """Per record, the first column's value unless it is None, else the second's."""
    if first is None and second is None:
        return [None] * length
    if second is None:
        return list(first or ())
    if first is None:
        return list(second)
    if None not in first:
        return list(first)
    return [a if a is not None else b for a, b in zip(first, second, strict=True)]


def address_column(batch: FlowBatch, side: str) -> list[str | None]:
    """The ``source`` or ``destination`` address of every record (IPv4 or IPv6 text)."""
    v4, v6 = ADDRESS_FIELDS[side]
    return merge_columns(batch.columns.get(v4), batch.columns.get(v6), batch.length)


def memo_map(func: Callable[[K], R], column: Sequence[K]) -> list[R]:
    """``[func(v) for v in column]`` with ``func`` called once per distinct value."""
    memo = {v: func(v) for v in dict.fromkeys(column)}
    return list(map(memo.__getitem__, column))
