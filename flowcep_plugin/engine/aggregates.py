"""Aggregate function states that support both arrival and departure of values.

Sliding windows and joins remove values as events leave, so min/max and distinct keep value
counts rather than a single running value.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

__all__ = ["make_state_factory"]


class _Count:
    __slots__ = ("n",)

    def __init__(self) -> None:
        self.n = 0

    def enter(self, v: Any) -> None:
        if v is not None:
            self.n += 1

    def leave(self, v: Any) -> None:
        if v is not None:
            self.n -= 1

    def value(self) -> Any:
        return self.n


class _Sum:
    __slots__ = ("s", "n")

    def __init__(self) -> None:
        self.s: Any = 0
        self.n = 0

    def enter(self, v: Any) -> None:
        if v is not None:
            self.s += v
            self.n += 1

    def leave(self, v: Any) -> None:
        if v is not None:
            self.s -= v
            self.n -= 1

    def value(self) -> Any:
        return self.s if self.n else None


class _Avg(_Sum):
    __slots__ = ()

    def value(self) -> Any:
        return self.s / self.n if self.n else None


class _Values:
    """Counts of each value: min, max and the distinct variants."""

    __slots__ = ("c", "kind")

    def __init__(self, kind: str) -> None:
        self.c: Counter[Any] = Counter()
        self.kind = kind

    def enter(self, v: Any) -> None:
        if v is not None:
            self.c[v] += 1

    def leave(self, v: Any) -> None:
        if v is not None:
            left = self.c[v] - 1
            if left > 0:
                self.c[v] = left
            else:
                del self.c[v]

    def value(self) -> Any:
        c, k = self.c, self.kind
        if k == "count":
            return len(c)
        if not c:
            return None
        try:
            if k == "min":
                return min(c)
            if k == "max":
                return max(c)
            if k == "sum":
                return sum(c)
            if k == "avg":
                return sum(c) / len(c)
        except TypeError:
            return None
        raise AssertionError(k)


def make_state_factory(kind: str, distinct: bool) -> Callable[[], Any]:
    """A constructor of the state of one aggregate (``count``, ``sum``, ``min``...)."""
    if kind in ("min", "max") or distinct:
        return lambda: _Values(kind)
    if kind == "count":
        return _Count
    if kind == "sum":
        return _Sum
    if kind == "avg":
        return _Avg
    raise ValueError(kind)
