"""The document one row of an INSERT INTO stream travels as (``?stream=NAME`` outputs).

``--output 'kafka://HOST:PORT/TOPIC?stream=NAME'`` and ``--output 'jsonl:PATH?stream=NAME'``
publish the rows an EPL ``INSERT INTO NAME`` statement of a run produces, so a level-2 run
reads them back as events of an EPL type (``--input 'stream:PATH?type=NAME'``,
``stream+kafka://``; :mod:`flowcep_plugin.inputs.streamrows`). Both write the same document::

    {"@timestamp": <the row's event time, epoch ms>, "ecs": {"version": ...},
     "event": {"kind": "event", "module": "flowcep", "dataset": "flowcep.stream", "action": NAME},
     "flowcep": {"stream": NAME, "time_ms": <the row's event time>, "row": {<select names>}},
     "observer": {"name": <[run] observer, when the run has one>}}

``time_ms`` is the engine time the row was made at (the window's end for a batch window, the
event's time for a per-event statement): the time the same row has when the statement that
reads it runs in the same engine, so a level-2 run orders and windows the rows as one
process would.

The Kafka output also writes progress documents, in the same partition as the rows (same
key), each time its engine has closed its windows up to a time (``?progress=``)::

    {"@timestamp": T, "ecs": {...}, "event": {"kind": "event", "module": "flowcep",
     "dataset": "flowcep.progress", "action": NAME},
     "flowcep": {"progress": {"stream": NAME, "time_ms": T}}, "observer": {...}}

meaning: every row of this producer's stream up to ``T`` is written before it (a later row's
time is ``T`` or more). The level-2 input gives it to its clock as the producer's time (a quiet
gateway then holds nobody back), never to a statement; a reader of an older version skips it
(it has no ``flowcep.stream``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .. import ecs
from ..context import Context
from .jsonl import dumps

__all__ = ["DATASET", "PROGRESS_DATASET", "observer_of", "progress_document", "stream_documents"]

#: ``event.dataset`` of stream documents (what a reader tells them from alerts by).
DATASET = "flowcep.stream"
#: ``event.dataset`` of progress documents.
PROGRESS_DATASET = "flowcep.progress"


def observer_of(ctx: Context) -> str:
    """The run's ``[run] observer`` (``--observer``), or ''."""
    run_cfg = (ctx.config.get("run") or {}) if isinstance(ctx.config, Mapping) else {}
    return str(run_cfg.get("observer") or "")


def stream_documents(stream: str, rows: Sequence[Mapping[str, Any]], times: Sequence[int],
                     observer: str = "") -> list[bytes]:
    """One encoded document per row (see the module docstring)."""
    base: dict[str, Any] = {"ecs": {"version": ecs.ECS_VERSION},
                            "event": {"kind": "event", "module": "flowcep", "dataset": DATASET, "action": stream}}
    if observer:
        base["observer"] = {"name": observer}
    return [dumps({"@timestamp": int(t), **base, "flowcep": {"stream": stream, "time_ms": int(t), "row": row}})
            for row, t in zip(rows, times, strict=True)]


def progress_document(stream: str, time_ms: int, observer: str = "") -> bytes:
    """The progress document of ``stream`` at ``time_ms`` (see the module docstring)."""
    doc: dict[str, Any] = {"@timestamp": int(time_ms), "ecs": {"version": ecs.ECS_VERSION},
                           "event": {"kind": "event", "module": "flowcep", "dataset": PROGRESS_DATASET,
                                     "action": stream},
                           "flowcep": {"progress": {"stream": stream, "time_ms": int(time_ms)}}}
    if observer:
        doc["observer"] = {"name": observer}
    return dumps(doc)
