"""Shared input of the conformance cases: Esper's output-reference data set and a runner.

Esper's output reference (appendix "Output Reference and Samples") and its regression tests
(``ResultSetOutputLimit*``, ``ResultAssertExecution``) drive every statement kind with the same
MarketData events: (time ms, symbol, volume, price). ``send(t)`` in the harness is Esper's
"advance time to t, then send"; ``watermark(t)`` is "advance time to t".
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from flowcep_plugin.engine.harness import Harness

#: (time ms, symbol, volume, price), as ResultAssertExecution sends them
MARKET: list[tuple[int, str, int, float]] = [
    (200, "IBM", 100, 25.0),
    (800, "MSFT", 5000, 9.0),
    (1500, "IBM", 150, 24.0),
    (1500, "YAH", 10000, 1.0),
    (2100, "IBM", 155, 26.0),
    (3500, "YAH", 11000, 2.0),
    (4300, "IBM", 150, 22.0),
    (4900, "YAH", 11500, 3.0),
    (5900, "YAH", 10500, 1.0),
]

#: the times ResultAssertExecution advances the clock to between events
TICKS = [1000, 1200, 2000, 2200, 2500, 3000, 3200, 4000, 4200, 5000, 5200, 5700, 6000, 6200,
         6300, 7000, 7200]


def run_market(epl: str, fields: tuple[str, ...], until: int = 7200, statement: str = "s0",
               events: list[tuple[int, str, int, float]] | None = None,
               join_keys: bool = False) -> dict[int, list[tuple[Any, ...]]]:
    """Run ``epl`` (its output statement named ``s0``) over the market data, advancing time
    through every tick up to ``until``; return the insert-stream rows by output time.
    ``join_keys``: first send, at time 0, one ``kind='key'`` event per symbol (the
    ``SupportBean`` join keys of Esper's ``...Join`` variants)."""
    h = Harness(epl)
    if join_keys:
        for sym in ("IBM", "MSFT", "YAH"):
            h.send(0, kind="key", symbol=sym)
    evs = list(MARKET if events is None else events)
    steps = sorted([(t, 1, i) for i, (t, *_r) in enumerate(evs)] + [(t, 0, -1) for t in TICKS if t <= until])
    for t, kind, i in steps:
        if kind == 0:
            h.watermark(t)
        else:
            _t, sym, vol, price = evs[i]
            h.send(t, kind="md", symbol=sym, volume=vol, price=price)
    out: dict[int, list[tuple[Any, ...]]] = defaultdict(list)
    for r in h.of(statement):
        out[r.time_ms].append(tuple(r.values[f] for f in fields))
    return dict(out)


def sorted_rows(rows: dict[int, list[tuple[Any, ...]]]) -> dict[int, list[tuple[Any, ...]]]:
    """Rows of one output in any order (Esper's assertions that allow any order)."""
    return {t: sorted(v, key=repr) for t, v in rows.items()}


def run_market_ir(epl: str, fields: tuple[str, ...], join_keys: bool = False
                  ) -> dict[int, tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]]:
    """``run_market`` for ``select irstream`` statements: by output time, the insert-stream
    rows and the remove-stream rows (Esper's listener ``newData`` and ``oldData``)."""
    h = Harness(epl)
    if join_keys:
        for sym in ("IBM", "MSFT", "YAH"):
            h.send(0, kind="key", symbol=sym)
    steps = sorted([(t, 1, i) for i, (t, *_r) in enumerate(MARKET)] + [(t, 0, -1) for t in TICKS])
    for t, kind, i in steps:
        if kind == 0:
            h.watermark(t)
        else:
            _t, sym, vol, price = MARKET[i]
            h.send(t, kind="md", symbol=sym, volume=vol, price=price)
    out: dict[int, tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]] = {}
    for r in h.of("s0"):
        ins, rem = out.setdefault(r.time_ms, ([], []))
        (rem if r.removed else ins).append(tuple(r.values[f] for f in fields))
    return out


#: one step of :func:`deliveries`: (time, event fields) sends one event, an int advances time,
#: a list sends its events as one batch
Ev = tuple[int, dict[str, Any]] | int | list[tuple[int, dict[str, Any]]]


def deliveries(epl: str, events: list[Ev], *fields: str, statement: str = "s0") -> list[tuple[Any, ...]]:
    """Sends the events; returns (time, '+'/'-', fields...) per row of ``statement`` (no
    end-of-input flush: the cases stop before timers they do not pin down)."""
    h = Harness(epl)
    for e in events:
        if isinstance(e, int):
            h.watermark(e)
        elif isinstance(e, list):
            h.batch(e)
        else:
            h.send(e[0], **e[1])
    return [(r.time_ms, "-" if r.removed else "+", *(r.values[f] for f in fields)) for r in h.of(statement)]


def one_ms_apart(*events: dict[str, Any]) -> list[Ev]:
    """Events 1 ms apart (Esper's regression tests send them without moving the clock; the
    count conditions do not read time)."""
    return [(i + 1, e) for i, e in enumerate(events)]
