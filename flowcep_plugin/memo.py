"""BoundedMemo: a per-address memo that cannot grow without end.

Detectors and enrichers remember a fact per address (inside an ignore list? internal?
multicast?) because the same hosts come back batch after batch. Addresses come from the
network, so a flood of spoofed sources would grow such a dict forever; this one starts over
when it reaches its limit (the busy hosts are back within a batch) and counts each restart.
It is a plain ``dict`` otherwise: lookups keep C speed, only stores pay one length check.

A table that must keep its strongest entries through a flood (a scanner among spoofed
one-probe sources) cannot start over; :func:`weakest_keys` picks what such a table forgets.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from itertools import islice
from typing import Any, TypeVar

__all__ = ["BoundedMemo", "DEFAULT_MEMO_SIZE", "EVICT_SHARE", "weakest_keys"]

K = TypeVar("K")
V = TypeVar("V")

#: entries before a memo starts over (about 10 MB of short address keys)
DEFAULT_MEMO_SIZE = 65536

#: a full table forgets 1/EVICT_SHARE of its entries at once (:func:`weakest_keys`)
EVICT_SHARE = 8


class BoundedMemo(dict[K, V]):
    """A dict that clears itself instead of storing entry ``limit + 1``.

    ``stats``/``counter`` name the run's counter (``stats.add(counter)``) bumped at each
    restart, e.g. ``portscan.memo_resets``.
    """

    def __init__(self, limit: int = DEFAULT_MEMO_SIZE, stats: Any = None, counter: str = "memo_resets") -> None:
        super().__init__()
        if limit < 1:
            raise ValueError("a memo limit must be at least 1")
        self.limit = limit
        self.stats = stats
        self.counter = counter
        self.resets = 0

    def __setitem__(self, key: K, value: V) -> None:
        if len(self) >= self.limit and key not in self:
            self.clear()
            self.resets += 1
            if self.stats is not None:
                self.stats.add(self.counter)
        super().__setitem__(key, value)



def weakest_keys(table: Mapping[K, V], evidence: Callable[[K, V], int],
                 share: int = EVICT_SHARE) -> list[K]:
    """The ``1/share`` of ``table``'s keys (at least one) with the least ``evidence(key,
    value)``, for a full table to forget at once.

    Forgetting the oldest entry let a flood of spoofed one-probe sources push out a real
    scanner, or one-connection clients a guesser, over and over. The cheap pass takes the keys
    whose evidence is at most 1 in insertion order and stops when it has enough (what a flood
    is made of); only when there are too few are all keys ranked (a stable sort: among equals
    the oldest goes first). One pass per burst that frees a fixed share keeps the cost per new
    entry constant; an entry that must outdo ``n`` cost its sender ``n`` records per address."""
    want = max(1, len(table) // share)
    victims = list(islice((k for k, v in table.items() if evidence(k, v) <= 1), want))
    if len(victims) < want:
        import numpy as np  # only under a flood that left too few weak entries

        keys = list(table)
        ranks = np.fromiter((evidence(k, v) for k, v in table.items()), dtype=np.int64, count=len(keys))
        victims = [keys[i] for i in np.argsort(ranks, kind="stable")[:want].tolist()]
    return victims
