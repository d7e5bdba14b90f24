"""FlowCEP's CEP engine: Esper's EPL, compiled to plans over columnar flow batches.

Usage::

    module = compile_module(text, filename, params)   # EPLError before any data flows
    rt = module.runtime()                              # independent state; many per module
    rows = rt.on_batch(batch) + rt.on_watermark(ms) + rt.flush()

``Row(statement, stream, time_ms, values)``: ``stream`` is the INSERT INTO name else the
@Name; ``values`` maps the select names (alias, else the expression as written) to values;
``time_ms`` is the engine time when the row was produced (a batch window's release time, an
event's time for per-event windows).

The dialect
-----------
* ``create [map] schema S(prop type, ...)`` with ``@Name`` and
  ``@Tag(name='timestamp', value='ipfix.flowEndMilliseconds')``: the first schema with a
  timestamp tag is the flow input stream (``module.input_stream``), else the stream ``Flow``.
  Flow properties ``ipfix.X`` and ``X`` both read batch column ``X``; declared properties are
  checked at compile time; absent values are null.
* ``[@Name('n')] [insert into S] select *|expr [as a], ... from ...
  [where] [group by] [having] [output all|first|last every P]``.
* ``from S[(filter)][.win:view(...)|#view(...)] [as a], ...``: views ``time``,
  ``time_batch``, ``length``, ``length_batch``, ``ext_timed``, ``ext_timed_batch``,
  ``unique`` (``std:unique``); several streams make a join, evaluated when any of them posts.
* ``from pattern [every a=S(...) -> (b=S(...) and not c=S(...)) where timer:within(P)]``,
  also ``or``, ``timer:interval(P)``; tags are used as ``a.prop``.
* Time periods ``500 msec``, ``30 sec``, ``1 min``, ``2 minutes``, ``1 hour``, combined
  (``1 min 30 sec``); a bare number is seconds.
* Expressions: ``and or not``, ``= != <> < <= > >=``, ``[not] like`` (``%``, ``_``, single or
  double quotes), ``regexp``, ``[not] in (...)``, ``is [not] null``, ``[not] between``,
  ``+ - * / %``; functions lower, upper, length, trim, substring(s, start[, end]),
  contains, startswith, endswith, coalesce, abs, tostring; aggregates count(*), count(x),
  count(distinct x), sum, min, max, avg. Comments ``//`` and ``/* */``. ``${name}``
  placeholders are replaced from ``params`` before parsing.

Semantics (Esper's, with event time)
-------------------------------------
* ``time_batch(P)``: batches back to back from the first event's time; an event at exactly a
  boundary opens the next batch. A grouped aggregating statement emits one row per group of
  the released batch passing HAVING; an ungrouped one emits one row per release, including
  one ``count(*) = 0`` row for the first empty batch after a non-empty one (Esper posts the
  departing batch), then nothing until the next event.
* ``time(P)``: an event leaves at exactly arrival + P; each arrival re-evaluates its group and
  emits when HAVING holds; ungrouped aggregates also emit when events leave.
* Selecting a property that is neither grouped nor aggregated beside aggregates gives one
  row per event (Esper's "aggregated ... with event properties").
* WHERE runs before time-based windows (same result, less memory) and after count-based ones
  (``length``, ``length_batch``, ``unique`` hold events whatever WHERE says).
* Timers fire before events of the same time; INSERT INTO rows are processed after every
  timer due at that time; derived events carry the engine time when produced.
* ``flush()`` runs the clock to infinity: every time window releases or empties;
  ``ext_timed_batch`` releases its partial batch; ``length_batch`` does not (count not met).
* Output rate limiting intervals start at the statement's first event.
* ORDER BY, LIMIT and SELECT DISTINCT shape the rows of one output step (a batch release,
  an arriving event, an output-rate-limited release): sort (nulls lowest), then the row
  limit, then DISTINCT, as Esper's result set processing does (``ordering.py``).

Not supported (rejected with a position): explicit/outer JOIN syntax, chained views,
``keepall``, output by event count, OUTPUT SNAPSHOT, NOT outside an AND in patterns,
aggregates over patterns, GROUP BY without aggregates. See docs/epl.md.
"""

from __future__ import annotations

from .compiler import Module, StatementInfo, compile_module
from .runtime import Row, Runtime

__all__ = ["compile_module", "Module", "Runtime", "Row", "StatementInfo"]
