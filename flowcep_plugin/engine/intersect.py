"""Several data windows on one stream: Esper keeps the intersection of what they retain.

``Flow#length(3)#unique(k)`` holds an event while it is among the last three *and* the last
of its key (Esper reference, 'Multiple Data Windows'; regression tests ``ViewIntersect``). An
event any of the windows lets go leaves all of them and is posted once, as old, at that
moment; an arriving event may push out itself (a ``sort`` window it does not fit in).

Each window is a small expiry policy over event ids (``add`` returns the ids it pushes out,
``remove`` forgets an id another window let go, ``expire`` is a time window's timer), so the
events themselves are kept once. Memory: the events the intersection holds.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

from .windows import Events, Post, Window, hashable

__all__ = ["IntersectionWindow", "make_policy", "INTERSECT_VIEWS"]

#: data windows that can be combined (batch and first-* windows cannot yet)
INTERSECT_VIEWS = frozenset({"length", "lastevent", "unique", "sort", "time", "keepall"})


class _Policy:
    def add(self, eid: int, t: int, r: tuple[Any, ...]) -> list[int]:
        return []

    def remove(self, eid: int) -> None:
        return None

    def next_due(self) -> int | None:
        return None

    def expire(self, now: int) -> list[int]:
        return []


class _Length(_Policy):
    def __init__(self, size: int) -> None:
        self.size = size
        self.ids: OrderedDict[int, None] = OrderedDict()

    def add(self, eid: int, t: int, r: tuple[Any, ...]) -> list[int]:
        self.ids[eid] = None
        if len(self.ids) > self.size:
            return [self.ids.popitem(last=False)[0]]
        return []

    def remove(self, eid: int) -> None:
        self.ids.pop(eid, None)


class _Unique(_Policy):
    def __init__(self, idx: list[int]) -> None:
        self.idx = idx
        self.by_key: dict[Any, int] = {}
        self.key_of: dict[int, Any] = {}

    def add(self, eid: int, t: int, r: tuple[Any, ...]) -> list[int]:
        k = hashable(tuple(r[i] for i in self.idx))
        prev = self.by_key.get(k)
        self.by_key[k] = eid
        self.key_of[eid] = k
        if prev is None:
            return []
        self.key_of.pop(prev, None)
        return [prev]

    def remove(self, eid: int) -> None:
        k = self.key_of.pop(eid, None)
        if k is not None and self.by_key.get(k) == eid:
            del self.by_key[k]


class _Time(_Policy):
    def __init__(self, period: int) -> None:
        self.period = period
        self.ids: OrderedDict[int, int] = OrderedDict()

    def add(self, eid: int, t: int, r: tuple[Any, ...]) -> list[int]:
        self.ids[eid] = t
        return []

    def remove(self, eid: int) -> None:
        self.ids.pop(eid, None)

    def next_due(self) -> int | None:
        for t in self.ids.values():
            return t + self.period
        return None

    def expire(self, now: int) -> list[int]:
        gone = []
        while self.ids:
            eid, t = next(iter(self.ids.items()))
            if t + self.period > now:
                break
            self.ids.popitem(last=False)
            gone.append(eid)
        return gone


class _Sort(_Policy):
    """As windows.SortWindow: ascending by the criteria, newest first among ties."""

    def __init__(self, size: int, idx: list[int], desc: list[bool]) -> None:
        from .windows import SortWindow

        self.size = size
        self.keyer = SortWindow([], size, idx, desc)  # its sort-key function and sequence
        self.order: list[tuple[Any, ...]] = []
        self.ids: list[int] = []

    def add(self, eid: int, t: int, r: tuple[Any, ...]) -> list[int]:
        k = self.keyer._key(r)
        try:
            at = bisect_right(self.order, k)
        except TypeError:
            at = len(self.order)
        self.order.insert(at, k)
        self.ids.insert(at, eid)
        if len(self.ids) > self.size:
            self.order.pop()
            return [self.ids.pop()]
        return []

    def remove(self, eid: int) -> None:
        try:
            at = self.ids.index(eid)
        except ValueError:
            return
        del self.ids[at]
        del self.order[at]


def make_policy(name: str, arg: Any) -> _Policy:
    """The expiry policy of one data window of an intersection (arg as compiled for it)."""
    if name == "length":
        return _Length(arg)
    if name == "lastevent":
        return _Length(1)
    if name == "unique":
        return _Unique(arg)
    if name == "time":
        return _Time(arg)
    if name == "sort":
        size, idx, desc = arg
        return _Sort(size, idx, desc)
    if name == "keepall":
        return _Policy()
    raise ValueError(name)


class IntersectionWindow(Window):
    """The events every one of ``policies`` retains; see the module docstring."""

    filter_after = True

    def __init__(self, keys: Sequence[str], policies: list[_Policy]) -> None:
        super().__init__(keys)
        self.policies = policies
        self.events: dict[int, tuple[int, tuple[Any, ...]]] = {}
        self.seq = 0

    def next_due(self) -> int | None:
        dues = [d for p in self.policies if (d := p.next_due()) is not None]
        return min(dues) if dues else None

    def due_if_fed(self, t: int) -> int | None:
        due = self.next_due()
        if due is not None:
            return due
        periods = [p.period for p in self.policies if isinstance(p, _Time)]
        return t + min(periods) if periods else None

    def _leave(self, gone: list[int]) -> Events:
        """Drop ``gone`` from every window; the events, in the order they left."""
        out: list[tuple[int, tuple[Any, ...]]] = []
        for eid in dict.fromkeys(gone):
            for p in self.policies:
                p.remove(eid)
            ev = self.events.pop(eid, None)
            if ev is not None:
                out.append(ev)
        return Events.from_tuples(self.keys, [e[1] for e in out], [e[0] for e in out])

    def feed(self, ev: Events) -> list[Post]:
        posts: list[Post] = []
        rows = ev.take(list(range(ev.n)), self.keys).row_tuples() if ev.n else []
        for t, r in zip(ev.times, rows, strict=False):
            self.seq += 1
            eid = self.seq
            self.events[eid] = (t, r)
            gone: list[int] = []
            for p in self.policies:
                gone.extend(p.add(eid, t, r))
            posts.append(Post(None, Events.from_tuples(self.keys, [r], [t]), self._leave(gone)))
        return posts

    def contents(self) -> list[tuple[int, tuple[Any, ...]]] | None:
        return list(self.events.values())  # arrival order

    def fire(self, now: int) -> list[Post]:
        gone: list[int] = []
        for p in self.policies:
            gone.extend(p.expire(now))
        old = self._leave(gone)
        return [Post(now, Events.empty(self.keys), old)] if old.n else []
