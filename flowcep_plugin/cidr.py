"""Longest-prefix match of many addresses against a table of CIDR prefixes (IPv4 and IPv6).

Why this design and not a radix-tree library: CIDR prefixes are either disjoint or nested, so
a prefix table flattens into sorted, non-overlapping integer intervals, each carrying the value
of the longest prefix that covers it. A lookup is then one ``bisect`` over a Python list
(O(log n), C speed) after converting the text address to an integer with
``socket.inet_pton``. The flattened form needs no dependency; the C radix libraries on PyPI
(py-radix, pytricia) have had few releases in years. Enrichers see batches in which the same
addresses repeat (a host talks to many peers), so :meth:`PrefixTable.lookup_many` resolves each
distinct address once per batch and fans the results out with C-level ``map``.
``benchmarks/bench_enrich.py`` measures this against a naive ``ipaddress`` loop.
"""

from __future__ import annotations

import ipaddress
import socket
from bisect import bisect_right
from collections.abc import Iterable, Sequence
from functools import partial
from itertools import repeat
from operator import sub
from struct import unpack_from as _unpack_from
from typing import Any, Generic, TypeVar

__all__ = ["PrefixTable", "address_key", "parse_prefix"]

V = TypeVar("V")

_AF_INET = socket.AF_INET
_AF_INET6 = socket.AF_INET6
_inet_pton = socket.inet_pton
_pton4 = partial(socket.inet_pton, socket.AF_INET)
_from_bytes = int.from_bytes
_V4_MAPPED = 0xFFFF << 32
_V4_MAPPED_MASK = ((1 << 96) - 1) << 32


def address_key(text: str) -> tuple[int, int] | None:
    """``(4 or 6, integer value)`` for a textual address, None when it is not one.

    IPv4-mapped IPv6 addresses (``::ffff:10.0.0.1``) are treated as the IPv4 address, so a
    dual-stack exporter's records match IPv4 prefixes.
    """
    try:
        if ":" in text:
            n = _from_bytes(_inet_pton(_AF_INET6, text), "big")
            if n & _V4_MAPPED_MASK == _V4_MAPPED:
                return 4, n & 0xFFFFFFFF
            return 6, n
        return 4, _from_bytes(_inet_pton(_AF_INET, text), "big")
    except (OSError, TypeError, ValueError):
        return None


def parse_prefix(text: str) -> tuple[int, int, int]:
    """``(version, first, last)`` integer bounds of a CIDR prefix or a single address.

    Host bits set (``10.0.0.1/8``) are accepted and cleared, as routers do; anything else
    that is not a prefix raises ``ValueError`` naming the text.
    """
    try:
        net = ipaddress.ip_network(text.strip(), strict=False)
    except ValueError as exc:
        raise ValueError(f"not an IP address or CIDR prefix: {text!r}") from exc
    first = int(net.network_address)
    last = int(net.broadcast_address)
    if net.version == 6 and first & _V4_MAPPED_MASK == _V4_MAPPED and net.prefixlen >= 96:
        return 4, first & 0xFFFFFFFF, last & 0xFFFFFFFF
    return net.version, first, last


class _Family(Generic[V]):
    """Flattened intervals of one address family: ``starts[i]`` begins a run of ``values[i]``."""

    __slots__ = ("starts", "values")

    def __init__(self, prefixes: list[tuple[int, int, V]]) -> None:
        # Parents sort before their children: same first address, larger block first.
        prefixes.sort(key=lambda p: (p[0], -p[1]))
        starts: list[int] = []
        values: list[V | None] = []

        def emit(pos: int, value: V | None) -> None:
            if starts and starts[-1] == pos:
                values[-1] = value
            else:
                starts.append(pos)
                values.append(value)

        stack: list[tuple[int, V]] = []  # (last address, value) of the enclosing prefixes
        for first, last, value in prefixes:
            while stack and stack[-1][0] < first:
                end, _ = stack.pop()
                emit(end + 1, stack[-1][1] if stack else None)
            emit(first, value)
            stack.append((last, value))
        while stack:
            end, _ = stack.pop()
            emit(end + 1, stack[-1][1] if stack else None)
        if not starts or starts[0] != 0:
            # A leading "no prefix" run from address 0, so every bisect lands on an index.
            starts.insert(0, 0)
            values.insert(0, None)
        self.starts = starts
        self.values = values

    def get(self, n: int) -> V | None:
        return self.values[bisect_right(self.starts, n) - 1]


class PrefixTable(Generic[V]):
    """An immutable map from CIDR prefixes to values with longest-prefix-match lookup.

    ``entries`` are ``(prefix text, value)`` pairs; a bare address is a /32 (or /128). When
    the same prefix appears twice the later entry wins, so config files can override
    defaults. ``lookup`` returns None for addresses no prefix covers and for text that is
    not an address (including None).
    """

    def __init__(self, entries: Iterable[tuple[str, V]] = ()) -> None:
        by_prefix: dict[tuple[int, int, int], V] = {}
        for text, value in entries:
            by_prefix[parse_prefix(text)] = value
        v4 = [(f, e, v) for (ver, f, e), v in by_prefix.items() if ver == 4]
        v6 = [(f, e, v) for (ver, f, e), v in by_prefix.items() if ver == 6]
        self._v4: _Family[V] = _Family(v4)
        self._v6: _Family[V] = _Family(v6)
        self._size = len(by_prefix)

    def __len__(self) -> int:
        return self._size

    def __bool__(self) -> bool:
        return self._size > 0

    def lookup(self, address: str | None) -> V | None:
        """The value of the longest prefix covering ``address``, or None."""
        if address is None:
            return None
        key = address_key(address)
        if key is None:
            return None
        return (self._v4 if key[0] == 4 else self._v6).get(key[1])

    def __contains__(self, address: object) -> bool:
        return isinstance(address, str) and self.lookup(address) is not None

    def memo(self, addresses: Iterable[str | None]) -> dict[str | None, V | None]:
        """``{address: value}`` for each distinct address, each resolved once.

        IPv4 addresses are resolved all at once with C-level passes (``inet_pton`` over the
        list, one ``struct.unpack`` to integers, ``bisect`` by ``map``); anything that is not
        plain IPv4 text (IPv6, None, garbage) goes through :meth:`lookup` one by one.
        """
        distinct = list(dict.fromkeys(addresses))
        out = self._memo4(distinct)
        if out is not None:
            return out
        v4 = [a for a in distinct if a.__class__ is str and ":" not in a]
        out = (self._memo4(v4) if v4 else None) or {}
        lookup = self.lookup
        for a in distinct:
            if a not in out:
                out[a] = lookup(a)
        return out

    def _memo4(self, addresses: list[Any]) -> dict[str | None, V | None] | None:
        """The IPv4 fast path of :meth:`memo`; None when some address is not IPv4 text."""
        try:
            blob = b"".join(map(_pton4, addresses))
        except (OSError, TypeError, ValueError):
            return None
        ints = _unpack_from(f">{len(addresses)}I", blob)
        index = map(sub, map(bisect_right, repeat(self._v4.starts), ints), repeat(1))
        return dict(zip(addresses, map(self._v4.values.__getitem__, index), strict=True))

    def lookup_many(self, addresses: Sequence[str | None]) -> list[V | None]:
        """Values for a whole column; each distinct address is resolved once."""
        memo = self.memo(addresses)
        return list(map(memo.__getitem__, addresses))
