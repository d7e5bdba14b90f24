"""Reverse DNS names of flow endpoints, never blocking the pipeline.

A batch gets the names that are cached *now* (``source.domain``, ``destination.domain``, ECS);
addresses not cached are queued for a small background thread pool, and later batches get
their names. DNS is slow and sometimes hangs, so:

* lookups run in ``workers`` threads; at most ``max_pending`` addresses wait for a lookup
  (more are skipped and counted as ``rdns.skipped`` in the stats gauges, and asked again by a
  later batch);
* the cache holds at most ``max_entries`` addresses (least recently used evicted first,
  counted as ``rdns.evicted``);
  names expire after ``ttl``, failures (no PTR record) after ``negative_ttl``;
* ``only_zones`` restricts lookups to addresses in the given CIDR prefixes (e.g. your own
  networks, where PTR records are yours and the query leaks nothing).

Off by default: it sends DNS queries from the sensor, which must be a deliberate choice.
The resolver is injectable (tests, or a resolver with a timeout); the default is
``socket.gethostbyaddr``.
"""

from __future__ import annotations

import logging
import queue
import socket
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any

from ..cidr import PrefixTable, parse_prefix
from ..config import parse_duration
from ..context import Context
from ..errors import ConfigError
from ..hookspecs import hookimpl
from ..records import FlowBatch
from ..specs import EnricherSpec
from ._columns import address_column

__all__ = ["ReverseDnsEnricher", "system_resolver", "DEFAULTS", "CONFIG_SCHEMA"]

DEFAULTS: dict[str, Any] = {
    "workers": 2,
    "max_pending": 256,
    "max_entries": 10000,
    "ttl": "1h",
    "negative_ttl": "5 min",
    "only_zones": [],
}

CONFIG_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "Reverse DNS names (source.domain, destination.domain) from a background cache.",
    "properties": {
        "workers": {"type": "integer", "minimum": 1, "maximum": 32, "description": "lookup threads"},
        "max_pending": {"type": "integer", "minimum": 1, "description": "addresses waiting for a lookup"},
        "max_entries": {"type": "integer", "minimum": 1, "description": "cached addresses"},
        "ttl": {"type": ["string", "number"], "description": "how long a name stays cached"},
        "negative_ttl": {"type": ["string", "number"], "description": "how long a failed lookup is remembered"},
        "only_zones": {"type": "array", "items": {"type": "string"},
                       "description": "CIDR prefixes to resolve; empty resolves every address"},
    },
    "additionalProperties": False,
}

_log = logging.getLogger("flowcep.enrich.rdns")


def system_resolver(address: str) -> str | None:
    """The PTR name of ``address`` from the system resolver, None when there is none."""
    try:
        return socket.gethostbyaddr(address)[0]
    except (OSError, UnicodeError):
        return None


class ReverseDnsEnricher:
    """Adds ``source.domain`` and ``destination.domain`` from a bounded, expiring cache."""

    def __init__(self, config: Mapping[str, Any], ctx: Context | None = None,
                 resolver: Callable[[str], str | None] = system_resolver,
                 clock: Callable[[], float] = time.monotonic) -> None:
        merged = {**DEFAULTS, **config}
        try:
            self.ttl = parse_duration(merged["ttl"])
            self.negative_ttl = parse_duration(merged["negative_ttl"])
            for p in merged["only_zones"]:
                parse_prefix(p)
        except ValueError as exc:
            raise ConfigError(f"enrichers.rdns: {exc}") from None
        self.only: PrefixTable[bool] | None = (
            PrefixTable((p, True) for p in merged["only_zones"]) if merged["only_zones"] else None)
        self.ctx = ctx
        self.resolver = resolver
        self.clock = clock
        self.max_pending = int(merged["max_pending"])
        self.max_entries = int(merged["max_entries"])
        self._cache: OrderedDict[str, tuple[str | None, float]] = OrderedDict()
        self._pending: set[str] = set()
        self._lock = threading.Lock()
        # Daemon threads, not a ThreadPoolExecutor: a lookup hung in the system resolver must
        # not hold up interpreter exit.
        self._queue: queue.SimpleQueue[str | None] = queue.SimpleQueue()
        self._workers = [threading.Thread(target=self._work, name=f"flowcep-rdns-{i}", daemon=True)
                         for i in range(int(merged["workers"]))]
        for t in self._workers:
            t.start()
        self._closed = False
        self.skipped = 0
        self.evicted = 0  # cached names pushed out by max_entries
        self.lookups = 0

    # -- background side ---------------------------------------------------------------------
    def _work(self) -> None:
        while True:
            address = self._queue.get()
            if address is None:
                return
            if not self._closed:
                self._lookup(address)

    def _lookup(self, address: str) -> None:
        try:
            name = self.resolver(address)
        except Exception as exc:  # a broken resolver must not kill the worker
            _log.debug("reverse lookup of %s failed: %s", address, exc)
            name = None
        expires = self.clock() + (self.ttl if name else self.negative_ttl)
        with self._lock:
            self._pending.discard(address)
            self._cache[address] = (name or None, expires)
            self._cache.move_to_end(address)
            while len(self._cache) > self.max_entries:
                self._cache.popitem(last=False)
                self.evicted += 1  # reported with the next batch (this is a worker thread)
            self.lookups += 1

    # -- pipeline side -------------------------------------------------------------------------
    def names(self, addresses: list[str | None]) -> dict[str | None, str | None]:
        """Cached names of the distinct ``addresses`` now; queue lookups for the others."""
        now = self.clock()
        out: dict[str | None, str | None] = {None: None}
        wanted: list[str] = []
        only = self.only
        with self._lock:
            cache = self._cache
            for a in addresses:
                if a is None or a in out:
                    continue
                hit = cache.get(a)
                if hit is not None and hit[1] > now:
                    cache.move_to_end(a)
                    out[a] = hit[0]
                    continue
                out[a] = hit[0] if hit is not None else None  # stale name until refreshed
                if a in self._pending or (only is not None and only.lookup(a) is None):
                    continue
                if len(self._pending) >= self.max_pending:
                    self.skipped += 1
                    continue
                self._pending.add(a)
                wanted.append(a)
        if not self._closed:
            for a in wanted:
                self._queue.put(a)
        if self.ctx is not None and self.skipped:
            self.ctx.stats.gauge("rdns.skipped", self.skipped)
        if self.ctx is not None and self.evicted:  # a flood of new addresses pushes names out
            self.ctx.stats.gauge("rdns.evicted", self.evicted)
        return out

    def enrich(self, batch: FlowBatch) -> None:
        src = address_column(batch, "source")
        dst = address_column(batch, "destination")
        memo = self.names(list(dict.fromkeys(src) | dict.fromkeys(dst)))
        batch.add_column("source.domain", list(map(memo.__getitem__, src)))
        batch.add_column("destination.domain", list(map(memo.__getitem__, dst)))

    def close(self) -> None:
        """Stop without waiting for lookups in flight (they may hang on DNS)."""
        self._closed = True
        for _ in self._workers:
            self._queue.put(None)


def _factory(config: Mapping[str, Any], ctx: Context) -> ReverseDnsEnricher:
    return ReverseDnsEnricher(config, ctx)


@hookimpl
def flowcep_register_enrichers() -> list[EnricherSpec]:
    return [
        EnricherSpec(
            name="rdns",
            summary="reverse DNS names (source.domain, destination.domain) from a bounded background cache",
            factory=_factory,
            columns=("source.domain", "destination.domain"),
            enabled_by_default=False,
            config_schema=CONFIG_SCHEMA,
            defaults=DEFAULTS,
        )
    ]
