"""The wire format between ``flowcep ingest`` and Kafka workers: one message per partition per step.

Ingest runs the pipeline up to the detectors (decode, sanitize, enrich, order) and then, for
every step the single process would take (one set of released batches and the watermark after
them), publishes one message to EVERY partition: the records of that step whose source or
destination the partition owns (possibly none), the step's watermark, and the step number. A
worker holding several partitions lines their messages up by step, merges them back into the
order ingest released them in (each record carries its index in the step, so a flow routed to
two partitions the worker both holds is seen once) and calls its detectors exactly as one
process would. A quiet partition still gets every step, so its worker's event time advances.

Encoding: orjson over a columnar batch (column name -> list of values), versioned by ``v``.
JSON has no bytes, no NaN and no tuples, so a column holding any of them is tagged and its
values are encoded so that they decode to the same Python values: the round trip is exact for
every value a FlowBatch holds (int, float incl. non-finite, bool, str, bytes, None, and lists,
tuples or dicts of those); anything else is refused at ingest with the column's name. A
message that does not decode is an error naming the topic, partition and offset (the worker
counts and skips it).

A text column whose values repeat (addresses, protocol names, zones) is sent as its distinct
values and one index per record: fewer bytes (398 -> 290 bytes per input record on the sample
x10), and the worker decodes each distinct string once, so the records share one object and
the detectors' dict lookups hit a cached hash (with a fresh string per record one worker took
2.05x one process's wall time, with shared strings 1.61x; benchmarks/bench_kafka.py).

Why orjson and not Arrow: the batches are Python lists on both sides (the detectors read
lists) and orjson is already a dependency; decoding costs about 2.8 us per routed record
(profiled worker on the sample x10). Arrow was not measured here, so it is not claimed to be
slower or faster.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from .errors import FlowcepError
from .records import FLOW_STREAM, FlowBatch

__all__ = ["WIRE_VERSION", "Part", "Step", "TransportError", "encode_step", "decode_step",
           "encode_batch", "decode_batch", "merge_parts", "STEP", "END"]

#: bumped whenever a reader of the previous version could misread a message (2: a step carries
#: the release point its detectors close windows up to, ``c``, apart from the watermark)
WIRE_VERSION = 2
STEP = "step"
END = "end"

_PLAIN = frozenset({int, str, bool, type(None)})


class TransportError(FlowcepError):
    """A message that is not a FlowCEP step of a known version (or a value that cannot be sent)."""


def _tag(v: Any) -> Any:
    """One value as JSON that decodes back to it: bytes, non-finite floats and tuples tagged."""
    t = type(v)
    if t in _PLAIN:
        return v
    if t is float:
        return v if math.isfinite(v) else {"$f": repr(v)}
    if t is bytes or t is bytearray:
        return {"$b": base64.b64encode(v).decode("ascii")}
    if t is list:
        return [_tag(x) for x in v]
    if t is tuple:
        return {"$t": [_tag(x) for x in v]}
    if t is dict:
        if all(type(k) is str and not k.startswith("$") for k in v):
            return {k: _tag(x) for k, x in v.items()}
        return {"$d": [[_tag(k), _tag(x)] for k, x in v.items()]}
    if isinstance(v, int):  # IntEnum and kin: their value
        return int(v)
    raise TypeError(type(v).__name__)


def _untag(v: Any) -> Any:
    if type(v) is list:
        return [_untag(x) for x in v]
    if type(v) is not dict:
        return v
    if len(v) == 1:
        if "$b" in v:
            return base64.b64decode(v["$b"], validate=True)
        if "$f" in v:
            text = v["$f"]
            if text not in ("nan", "inf", "-inf"):
                raise ValueError(f"bad float {text!r}")
            return float(text)
        if "$t" in v:
            return tuple(_untag(x) for x in v["$t"])
        if "$d" in v:
            return {_untag(k): _untag(x) for k, x in v["$d"]}
    return {k: _untag(x) for k, x in v.items()}


def _column_kind(values: Sequence[Any]) -> str:
    """``p`` plain JSON, ``f`` floats (all finite, with ints/None), ``t`` tagged values."""
    types = set(map(type, values))
    if types <= _PLAIN:
        return "p"
    if types <= _PLAIN | {float} and all(math.isfinite(v) for v in values if type(v) is float):
        return "p"
    return "t"


def _dictionary(values: Sequence[Any]) -> tuple[list[Any], list[int]] | None:
    """A text column as (distinct values, index of each record's) when values repeat: fewer
    bytes, and the worker decodes each distinct string once, so every record shares one object
    (a detector's dict lookups then hit a cached hash and an identity compare; with a fresh
    string per record the worker's detectors ran measurably slower)."""
    first = next((v for v in values if v is not None), None)
    if type(first) is not str:
        return None
    index: dict[Any, int] = {}
    idx = [index.setdefault(v, len(index)) for v in values]
    if len(index) * 2 > len(values):
        return None
    return list(index), idx


def encode_batch(batch: FlowBatch) -> dict[str, Any]:
    """A batch as a JSON-ready mapping (columns, length, source, exporter, stream, times)."""
    cols: dict[str, Any] = {}
    tagged: list[str] = []
    dicts: dict[str, list[Any]] = {}
    for name, values in batch.columns.items():
        if _column_kind(values) == "p":
            d = _dictionary(values)
            if d is None:
                cols[name] = values
            else:
                dicts[name], cols[name] = d
            continue
        try:
            cols[name] = [_tag(v) for v in values]
        except TypeError as exc:
            raise TransportError(f"column {name!r} holds a {exc} value, which the Kafka transport "
                                 "cannot carry (an enricher's value type)") from None
        tagged.append(name)
    out: dict[str, Any] = {"n": batch.length, "c": cols, "src": batch.source, "exp": batch.exporter,
                           "st": batch.stream}
    if tagged:
        out["x"] = tagged
    if dicts:
        out["d"] = dicts
    times = batch._times
    if times is not None:
        out["t"] = times
    return out


def decode_batch(doc: Mapping[str, Any]) -> FlowBatch:
    n = doc["n"]
    cols = doc["c"]
    if type(n) is not int or n < 0 or not isinstance(cols, dict):
        raise ValueError("batch needs n >= 0 and columns")
    for name in doc.get("x") or ():
        cols[name] = [_untag(v) for v in cols[name]]
    dicts = doc.get("d") or {}
    if not isinstance(dicts, dict):
        raise ValueError("bad dictionary columns")
    for name, distinct in dicts.items():
        idx = cols[name]
        if type(distinct) is not list or type(idx) is not list:
            raise ValueError(f"column {name!r}: bad dictionary")
        try:
            if idx and min(idx) < 0:
                raise IndexError
            cols[name] = [distinct[i] for i in idx]
        except (IndexError, TypeError):
            raise ValueError(f"column {name!r}: index outside its dictionary") from None
    for name, values in cols.items():
        if type(values) is not list or len(values) != n:
            raise ValueError(f"column {name!r} does not hold {n} values")
    b = FlowBatch(cols, n, str(doc.get("src") or ""), doc.get("exp"), str(doc.get("st") or FLOW_STREAM))
    times = doc.get("t")
    if times is not None:
        if type(times) is not list or len(times) != n or not all(type(t) is int for t in times):
            raise ValueError("event times do not match the batch")
        b._times = times
    return b


@dataclass
class Part:
    """The records of released batch ``j`` of a step that one partition holds, with each
    record's index in that batch (so a worker can merge partitions back into batch order)."""

    j: int
    index: list[int]
    batch: FlowBatch


@dataclass
class Step:
    """One step as one partition sees it."""

    kind: str  # STEP or END
    run: str  # the ingest run's id: steps of two runs never align
    step: int
    watermark: int  # the clock's watermark after the step: the time its alerts are emitted at
    advanced: bool  # the single process would call on_watermark after this step's batches
    parts: list[Part] = field(default_factory=list)
    options: list[FlowBatch] = field(default_factory=list)
    more: bool = False  # more messages of this step follow on this partition (chunked)
    #: with ``advanced``: what one process passes to on_watermark (the clock's release point,
    #: which may lag the watermark between releases and may move when a release frees nothing)
    closes: int = 0

    @property
    def key(self) -> tuple[str, int]:
        """Where the step stands in the topic: runs (ids start with their start time) in order,
        steps in order within a run."""
        return (self.run, self.step)


def encode_step(step: Step) -> bytes:
    doc: dict[str, Any] = {"v": WIRE_VERSION, "k": step.kind, "r": step.run, "s": step.step,
                           "w": step.watermark, "a": step.advanced}
    if step.advanced:
        doc["c"] = step.closes
    if step.parts:
        doc["p"] = [{"j": p.j, "i": p.index, "b": encode_batch(p.batch)} for p in step.parts]
    if step.options:
        doc["o"] = [encode_batch(b) for b in step.options]
    if step.more:
        doc["m"] = True
    return orjson.dumps(doc)


def decode_step(data: bytes | None, where: str) -> Step:
    """Decode one message; ``where`` (``topic[partition]@offset``) names it in the error."""
    if not data:
        raise TransportError(f"{where}: empty message (not a FlowCEP step)")
    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise TransportError(f"{where}: not JSON ({exc}); is this topic written by flowcep ingest?") from None
    if not isinstance(doc, dict) or "v" not in doc:
        raise TransportError(f"{where}: not a FlowCEP step (no version); is this topic written by flowcep ingest?")
    if doc["v"] != WIRE_VERSION:
        raise TransportError(f"{where}: wire version {doc['v']!r}, this flowcep reads {WIRE_VERSION}; "
                             "run the same flowcep version for ingest and workers")
    try:
        kind, step, wm = doc["k"], doc["s"], doc["w"]
        advanced = bool(doc.get("a"))
        closes = doc["c"] if advanced else 0
        if kind not in (STEP, END) or type(step) is not int or type(wm) is not int or type(closes) is not int:
            raise ValueError("bad kind, step, watermark or release point")
        parts = []
        for p in doc.get("p") or ():
            idx = p["i"]
            b = decode_batch(p["b"])
            if type(idx) is not list or len(idx) != b.length or type(p["j"]) is not int:
                raise ValueError("record indices do not match the batch")
            parts.append(Part(p["j"], idx, b))
        options = [decode_batch(o) for o in doc.get("o") or ()]
        return Step(kind, str(doc.get("r") or ""), step, wm, advanced, parts, options,
                    bool(doc.get("m")), closes)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise TransportError(f"{where}: malformed FlowCEP step: {type(exc).__name__}: {exc}") from None


def merge_parts(parts: Sequence[Part]) -> list[FlowBatch]:
    """The step's released batches rebuilt from the parts of several partitions: in batch
    order, each record once (a flow whose both ends a worker owns arrives twice), in the order
    ingest released it."""
    by_j: dict[int, list[Part]] = {}
    for p in parts:
        by_j.setdefault(p.j, []).append(p)
    out: list[FlowBatch] = []
    for j in sorted(by_j):
        group = by_j[j]
        if len(group) == 1:
            out.append(group[0].batch)
            continue
        joined = FlowBatch.concat([p.batch for p in group])
        keyed: list[tuple[int, int]] = []
        pos = 0
        for p in group:
            keyed.extend(zip(p.index, range(pos, pos + p.batch.length), strict=True))
            pos += p.batch.length
        keyed.sort()
        take: list[int] = []
        last = -1
        for idx, at in keyed:
            if idx != last:
                take.append(at)
                last = idx
        out.append(joined.take(take))
    return out
