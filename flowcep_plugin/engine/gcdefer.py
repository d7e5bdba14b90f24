"""Generation-0 garbage collection deferred while the runtime works on one batch.

Every row a statement outputs is two objects the cyclic collector tracks (the ``Row`` tuple
and its values dict), and a batch's rows all stay referenced until the runtime returns them:
a collection in the middle of a batch can free none of them, yet walks all of them. On
upstream module 11 (data.ipfix x 20, about 70,000 rows) CPython's default threshold (a
generation-0 collection every 700 allocations) ran 177 collections per run, about 12 % of
decode + clock + engine (benchmarks/ab_engine.py). So the runtime's entry points raise the
generation-0 threshold to at least :data:`GEN0_DURING_BATCH` while they run and put it back
when they return; the next allocation after that collects as usual, once per batch instead
of dozens of times. Nothing is left uncollected: this only postpones collections to the end
of the call, and a call's garbage is bounded by the threshold (a batch of cyclic garbage at
most).

The threshold is process-wide: calls from several threads (or a runtime inside another's
call) share one raise, counted under a lock, and the outermost return restores the
threshold it found, unless something else changed it meanwhile (then that choice stands).
With the collector disabled, or a host that already collects less often (``flowcep run``
sets 20,000), nothing changes.
"""

from __future__ import annotations

import functools
import gc
import threading
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["GEN0_DURING_BATCH", "deferring_gc"]

#: Generation-0 threshold while a runtime entry point runs (CPython's default is 700).
GEN0_DURING_BATCH = 50_000

_lock = threading.Lock()
_depth = 0
_saved: int | None = None  # the generation-0 threshold to put back, None: leave it

F = TypeVar("F", bound=Callable[..., Any])


def _enter() -> None:
    global _depth, _saved
    with _lock:
        if _depth == 0:
            gen0, gen1, gen2 = gc.get_threshold()
            if gc.isenabled() and 0 < gen0 < GEN0_DURING_BATCH:
                gc.set_threshold(GEN0_DURING_BATCH, gen1, gen2)
                _saved = gen0
            else:
                _saved = None
        _depth += 1


def _exit() -> None:
    global _depth, _saved
    with _lock:
        _depth -= 1
        if _depth == 0 and _saved is not None:
            gen0, gen1, gen2 = gc.get_threshold()
            if gen0 == GEN0_DURING_BATCH:  # nobody changed it meanwhile
                gc.set_threshold(_saved, gen1, gen2)
            _saved = None


def deferring_gc(method: F) -> F:
    """Wrap a runtime entry point (once per batch or timer, never per record): generation-0
    collections wait until it returns (see the module docstring)."""

    @functools.wraps(method)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        _enter()
        try:
            return method(*args, **kwargs)
        finally:
            _exit()

    return wrapper  # type: ignore[return-value]
