"""BoundedMemo: a per-address memo that cannot grow without end.

Detectors and enrichers remember a fact per address (inside an ignore list? internal?
multicast?) because the same hosts come back batch after batch. Addresses come from the
network, so a flood of spoofed sources would grow such a dict forever; this one starts over
when it reaches its limit (the busy hosts are back within a batch) and counts each restart.
It is a plain ``dict`` otherwise: lookups keep C speed, only stores pay one length check.
"""

from __future__ import annotations

from typing import Any, TypeVar

__all__ = ["BoundedMemo", "DEFAULT_MEMO_SIZE"]

K = TypeVar("K")
V = TypeVar("V")

#: entries before a memo starts over (about 10 MB of short address keys)
DEFAULT_MEMO_SIZE = 65536


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
