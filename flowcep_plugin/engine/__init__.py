"""FlowCEP's CEP engine: Esper's EPL, compiled to plans over columnar flow batches.

Usage::

    module = compile_module(text, filename, params)   # EPLError before any data flows
    rt = module.runtime()                              # independent state; many per module
    rows = rt.on_batch(batch) + rt.on_watermark(ms) + rt.flush()

``Row(statement, stream, time_ms, values)``: ``stream`` is the INSERT INTO name else the
@Name; ``values`` maps the select names (alias, else the expression as written) to values;
``time_ms`` is the engine time when the row was produced (a batch window's release time, an
event's time for per-event windows).

While ``on_batch``, ``on_options``, ``on_events``, ``on_watermark`` or ``flush`` runs, the
process's generation-0 garbage-collection threshold is raised to at least 50,000 and put back
when it returns (``gcdefer``: a batch's rows all stay referenced until then, so collecting
in the middle of a batch frees nothing).

The dialect and its semantics are Esper's: docs/epl.md says what is accepted, and the
conformance suite (tests/conformance/, each case citing the Esper reference section or
regression test it comes from) checks that accepted statements give Esper's rows. The points
that most often surprise:

* WHERE filters what a data window posts: windows hold, and are timed by, every event of
  their stream (a ``time_batch`` is anchored by the first event that enters it, WHERE or
  not); filter the stream (``Flow(x > 1)#...``) to keep events out of a window.
* A grouped aggregating statement outputs the groups of the events that arrived *and* of
  those that left the window, the latter with their new values (``count`` 0, ``sum`` null).
* Output rate limiting follows Esper's output reference tables (intervals from the first
  result, repeating; ``all``/``last``/``first``/``snapshot`` per statement kind).
* Timers fire before events of the same time; an event inserted into a stream is processed
  after every statement has processed the event that caused it, and before the next input
  event; derived events carry the engine time when produced.
* A subquery sees its window as it is when the outer event arrives; over the statement's own
  stream, the window takes the event first. An outer join outputs, for an arriving event, the
  rows of the join chain that contain it (null for a missing side).
* ``flush()`` runs the clock to infinity: every time window releases or empties;
  ``ext_timed_batch`` releases its partial batch; ``length_batch`` does not.

What the engine cannot run as Esper does is a compile error naming the construct, with line
and column (EPLError), never a silently different meaning.
"""

from __future__ import annotations

from .compiler import Module, StatementInfo, compile_module
from .runtime import Row, Runtime

__all__ = ["compile_module", "Module", "Runtime", "Row", "StatementInfo"]
