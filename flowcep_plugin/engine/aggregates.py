"""Aggregate function states that support both arrival and departure of values.

Sliding windows and joins remove values as events leave, so min/max and distinct keep value
counts rather than a single running value.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Sequence
from itertools import compress, repeat
from operator import is_not, itemgetter
from typing import Any

__all__ = ["make_state_factory", "aggregate_groups"]


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
    """sum over arriving and departing values. A value that is not a number (text in a flow
    field Esper would have typed and refused at compile time) makes the result null while it
    is in the window, as stddev's and the distinct forms' do, instead of failing the batch."""

    __slots__ = ("s", "n", "bad")

    def __init__(self) -> None:
        self.s: Any = 0
        self.n = 0
        self.bad = 0

    def enter(self, v: Any) -> None:
        if v is not None:
            try:
                self.s += v
            except TypeError:
                self.bad += 1
                return
            self.n += 1

    def leave(self, v: Any) -> None:
        if v is not None:
            try:
                rest = self.s - v
            except TypeError:
                self.bad -= 1
                return
            self.n -= 1
            # Esper clears the sum when its last value leaves: a NaN, an infinity or rounding
            # left over from values that all left does not leak into the next ones
            self.s = rest if self.n else 0

    def value(self) -> Any:
        return self.s if self.n and not self.bad else None


class _Avg(_Sum):
    __slots__ = ()

    def value(self) -> Any:
        return None if self.bad else _avg_of(self.s, self.n)


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
        except (TypeError, ArithmeticError):
            return None
        raise AssertionError(k)


def _avg_of(total: Any, n: int) -> Any:
    """total / n; null for no values or a sum past a double's range (hostile integers)."""
    if not n or total is None:
        return None
    try:
        return total / n
    except ArithmeticError:
        return None


def _median(vals: list[Any]) -> Any:
    """Esper's median: the middle value, of an even count the mean of the two middle ones."""
    if not vals:
        return None
    try:
        s = sorted(vals)
        mid = len(s) // 2
        return float(s[mid]) if len(s) % 2 else (s[mid - 1] + s[mid]) / 2
    except (TypeError, ValueError, ArithmeticError):  # ValueError: float() of one text value
        return None


def _stddev(vals: list[Any]) -> Any:
    """Esper's stddev: the sample standard deviation (n - 1); null below two values."""
    n = len(vals)
    if n < 2:
        return None
    try:
        mean = sum(vals) / n
        return math.sqrt(sum((v - mean) ** 2 for v in vals) / (n - 1))
    except (TypeError, ArithmeticError):
        return None


def _avedev(vals: list[Any]) -> Any:
    """Esper's avedev: the mean absolute deviation from the mean."""
    n = len(vals)
    if not n:
        return None
    try:
        mean = sum(vals) / n
        return sum(abs(v - mean) for v in vals) / n
    except (TypeError, ArithmeticError):
        return None


_STATS: dict[str, Callable[[list[Any]], Any]] = {"median": _median, "stddev": _stddev, "avedev": _avedev}


class _Stats(_Values):
    """median, stddev, avedev: the values in the window as counts, reduced when read (a
    window's values can leave in any order, so no running form is exact)."""

    __slots__ = ("distinct",)

    def __init__(self, kind: str, distinct: bool) -> None:
        super().__init__(kind)
        self.distinct = distinct

    def value(self) -> Any:
        vals = list(self.c) if self.distinct else list(self.c.elements())
        return _STATS[self.kind](vals)


class _Stddev:
    """stddev as Esper runs it over a sliding window: a running mean and sum of squared
    deviations (Welford's update, undone in reverse when a value leaves), cleared when the last
    value leaves. Recomputing from the values would differ from Esper's rows: a NaN or infinity
    that entered keeps the result NaN until the window empties (its traces stay in the running
    sums), as ResultSetAggregateMedianAndDeviation asserts. ``distinct``: a value enters the
    running state when its first copy arrives and leaves it with its last copy."""

    __slots__ = ("mean", "qn", "cnt", "bad", "refs")

    def __init__(self, distinct: bool) -> None:
        self.mean = 0.0
        self.qn = 0.0
        self.cnt = 0
        self.bad = 0  # values in the window that are not numbers: the result is null meanwhile
        self.refs: Counter[Any] | None = Counter() if distinct else None

    def enter(self, v: Any) -> None:
        if v is None:
            return
        if self.refs is not None:
            self.refs[v] += 1
            if self.refs[v] > 1:
                return
        try:
            p = float(v)
        except (TypeError, ValueError, OverflowError):
            self.bad += 1
            return
        if self.cnt == 0:
            self.mean, self.qn, self.cnt = p, 0.0, 1
            return
        self.cnt += 1
        old = self.mean
        self.mean += (p - self.mean) / self.cnt
        self.qn += (p - old) * (p - self.mean)

    def leave(self, v: Any) -> None:
        if v is None:
            return
        if self.refs is not None:
            left = self.refs[v] - 1
            if left > 0:
                self.refs[v] = left
                return
            del self.refs[v]
        try:
            p = float(v)
        except (TypeError, ValueError, OverflowError):
            self.bad -= 1
            return
        if self.cnt <= 1:
            self.mean, self.qn, self.cnt = 0.0, 0.0, 0
            return
        self.cnt -= 1
        old = self.mean
        self.mean -= (p - self.mean) / self.cnt
        self.qn -= (p - old) * (p - self.mean)

    def value(self) -> Any:
        if self.bad or self.cnt < 2:
            return None
        var = self.qn / (self.cnt - 1)
        return math.sqrt(var) if var >= 0 or math.isnan(var) else math.nan  # Java's sqrt of < 0


def make_state_factory(kind: str, distinct: bool) -> Callable[[], Any]:
    """A constructor of the state of one aggregate (``count``, ``sum``, ``min``...)."""
    if kind == "stddev":
        return lambda: _Stddev(distinct)
    if kind in _STATS:
        return lambda: _Stats(kind, distinct)
    if kind in ("min", "max") or distinct:
        return lambda: _Values(kind)
    if kind == "count":
        return _Count
    if kind == "sum":
        return _Sum
    if kind == "avg":
        return _Avg
    raise ValueError(kind)


def _min(vals: list[Any]) -> Any:
    try:
        return min(vals) if vals else None
    except TypeError:
        return None


def _max(vals: list[Any]) -> Any:
    try:
        return max(vals) if vals else None
    except TypeError:
        return None


def _distinct_sum(vals: list[Any]) -> Any:
    try:
        return sum(dict.fromkeys(vals)) if vals else None
    except TypeError:
        return None


def _distinct_avg(vals: list[Any]) -> Any:
    u = dict.fromkeys(vals)
    try:
        return sum(u) / len(u) if u else None
    except (TypeError, ArithmeticError):
        return None


def _sum_or_null(vals: list[Any]) -> Any:
    """The sum of a batch's values; null for none, or when one is not a number (as _Sum)."""
    try:
        return sum(vals) if vals else None
    except TypeError:
        return None


# (kind, distinct) -> reduction of a group's non-null values; the incremental states' results
# and null rules (see aggregate_groups for unhashable values)
_REDUCERS: dict[tuple[str, bool], Callable[[list[Any]], Any]] = {
    ("count", False): len,
    ("count", True): lambda v: len(set(v)),
    ("sum", False): lambda v: _sum_or_null(v),
    ("avg", False): lambda v: _avg_of(_sum_or_null(v), len(v)) if v else None,
    ("sum", True): _distinct_sum,
    ("avg", True): _distinct_avg,
    ("min", False): _min, ("min", True): _min,
    ("max", False): _max, ("max", True): _max,
    ("median", False): _median, ("median", True): lambda v: _median(list(dict.fromkeys(v))),
    ("stddev", False): _stddev, ("stddev", True): lambda v: _stddev(list(dict.fromkeys(v))),
    ("avedev", False): _avedev, ("avedev", True): lambda v: _avedev(list(dict.fromkeys(v))),
}


def aggregate_groups(keys: Sequence[Any], argcols: Sequence[Sequence[Any]],
                     aggs: Sequence[tuple[str, bool, bool]]) -> dict[Any, list[Any]]:
    """Every aggregate of every group of one batch, computed column by column.

    Batch windows aggregate each released batch afresh and nothing ever leaves, so grouping
    row indices once and reducing each group's slice with builtins beats an incremental state
    object per group and aggregate (most groups of a flow batch hold one or two records).
    Values that cannot be summed, or counted distinct (unhashable), raise TypeError as the
    incremental states do. Where the states would also raise for unhashable values (min, max,
    distinct sum), this gives the comparison's result or null instead.
    """
    if counts_only(aggs):
        return _count_groups(keys, argcols, aggs)
    groups: dict[Any, list[int]] = {}
    for i, k in enumerate(keys):
        g = groups.get(k)
        if g is None:
            groups[k] = [i]
        else:
            g.append(i)
    out: dict[Any, list[Any]] = {k: [] for k in groups}
    for (kind, distinct, star), col in zip(aggs, argcols, strict=True):
        if star:
            for k, idx in groups.items():
                out[k].append(len(idx))
            continue
        reduce = _REDUCERS[(kind, distinct)]
        for k, idx in groups.items():
            if len(idx) == 1:
                v = col[idx[0]]
                vals = [] if v is None else [v]
            else:
                vals = [v for v in itemgetter(*idx)(col) if v is not None]
            out[k].append(reduce(vals))
    return out


def _distinct_counts(counts: Counter[Any], keys: Sequence[Any], vals: Sequence[Any]) -> list[int]:
    """count(distinct val) per group, in the order of ``counts``: one set of the (key, value)
    pairs whose value is not null, made, filtered and counted in C (no Python step per record
    or pair: a CASE column that is null for most records, as stage 1b's reached hosts, makes
    no pair for them), and a group without any value counts 0 without a ``__missing__`` call."""
    pairs = set(compress(zip(keys, vals, strict=True), map(is_not, vals, repeat(None))))
    distinct = Counter(map(_FIRST, pairs))
    return list(map(distinct.get, counts, repeat(0)))


_FIRST = itemgetter(0)


def counts_only(aggs: Sequence[tuple[str, bool, bool]]) -> bool:
    """Whether every aggregate is a count(*) or a count(distinct x): the counting path."""
    return all(star or (kind == "count" and distinct) for kind, distinct, star in aggs)


def _count_groups(keys: Sequence[Any], argcols: Sequence[Sequence[Any]],
                  aggs: Sequence[tuple[str, bool, bool]]) -> dict[Any, list[Any]]:
    """``count(*)`` and ``count(distinct x)`` of every group without a list of indices per
    group: the counts are one ``Counter`` over the keys and the distinct counts one set of
    (key, value) pairs, both built in C (a SYN scan's groups are many and small). Groups come
    in the order of their first record, as in aggregate_groups; an unhashable value raises
    TypeError as ``len(set(values))`` does."""
    counts = Counter(keys)
    if not aggs:
        return {k: [] for k in counts}
    columns: list[Any] = []
    for (_kind, _distinct, star), col in zip(aggs, argcols, strict=True):
        if star:
            columns.append(counts.values())
            continue
        columns.append(_distinct_counts(counts, keys, col))
    return dict(zip(counts, map(list, zip(*columns, strict=True)), strict=True))


def count_groups_by_column(col: Sequence[Any], argcols: Sequence[Sequence[Any]],
                           aggs: Sequence[tuple[str, bool, bool]]) -> dict[Any, list[Any]] | None:
    """:func:`_count_groups` for a GROUP BY of one expression, counted on its column of bare
    values: no 1-tuple per record is made, hashed (twice: counts and distinct pairs) and
    compared (a source address is stage 1b's only key). The results are keyed by the same
    1-tuples, in the same order (of each group's first record). None when an aggregate is
    not a count(*) or count(distinct x), or a key is unhashable (a basicList: the caller
    groups by its tuple form); an unhashable counted value raises TypeError as there."""
    if not aggs or not counts_only(aggs):
        return None
    try:
        counts = Counter(col)
    except TypeError:
        return None
    columns: list[Any] = []
    for (_kind, _distinct, star), vals in zip(aggs, argcols, strict=True):
        if star:
            columns.append(counts.values())
            continue
        columns.append(_distinct_counts(counts, col, vals))
    return dict(zip(zip(counts), map(list, zip(*columns, strict=True)), strict=True))
