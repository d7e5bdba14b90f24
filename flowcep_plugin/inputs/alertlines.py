"""``alerts:PATH``: the alert and metric documents gateway-level runs wrote, as events.

The input of a level-2 monitor (docs/level2.md): what ``flowcep run --observer NAME --output
jsonl:PATH`` wrote at each gateway (plain or gzip, ``-`` for stdin). ``PATH`` may be a glob
(``alerts:gateways/*.jsonl``) or a folder (every ``*.jsonl``, ``*.json`` and ``*.gz`` in it):
all the files are then read by this one input and merged by event time, one document from
each file at a time. That is the way to replay several gateways' files: separate inputs are
read by separate threads, and although the clock waits for each file input and does not take
a lagging reader for an idle exporter, one input holds less back (docs/level2.md).

Every document becomes an ``Alert`` or ``Metric`` event through
:func:`.ecs_events.event_from_document`, the conversion the Kafka input also uses (through
:func:`.ecs_events.batches_from_documents`); flows and options documents are skipped and
counted (``alerts non-event documents skipped``). Event time is the alert's window end;
the gateway (``observer.name``, else ``?gateway=NAME``, else the file) is the clock's
exporter, so the watermark is the slowest gateway's.

A line that is not JSON, or not a readable alert or metric, is one ``file:line: reason``
warning (the first 20) and a ``malformed`` drop, and reading goes on. Lines are read at most
``jsonlines.MAX_LINE`` bytes, the merge holds one document per file, and a batch holds at
most ``batch_size`` documents.
"""

from __future__ import annotations

import glob
import gzip
import heapq
import os
import sys
from collections.abc import Generator, Iterator, Mapping
from typing import IO, Any

from ..context import Context
from ..errors import ConfigError, InputError
from ..hookspecs import hookimpl
from ..records import FlowBatch
from ..specs import Address, InputSpec
from .ecs_events import batches_from_events, event_from_json
from .jsonlines import LOG_FIRST_BAD, MAX_LINE, _lines
from .sniff import require_format

__all__ = ["AlertLinesSource", "MAX_FILES"]

#: Most files one input merges (each holds an open file and one pending document).
MAX_FILES = 256
_SUFFIXES = (".jsonl", ".json", ".gz")


def _paths(path: str, raw: str) -> list[str]:
    """The files ``path`` names: itself, a folder's JSON-lines files, or a glob's matches."""
    if path == "-":
        return [path]
    if os.path.isdir(path):
        found = sorted(os.path.join(path, n) for n in os.listdir(path) if n.endswith(_SUFFIXES))
        what = "the folder has no *.jsonl, *.json or *.gz file"
    elif glob.has_magic(path):
        found = sorted(p for p in glob.glob(path) if os.path.isfile(p))
        what = "no file matches"
    else:
        if not os.path.isfile(path):
            raise InputError(f"input {raw!r}: no such file")
        return [path]
    if not found:
        raise InputError(f"input {raw!r}: {what}")
    if len(found) > MAX_FILES:
        raise InputError(f"input {raw!r}: {len(found)} files; at most {MAX_FILES} per input")
    return found


class AlertLinesSource:
    """Reads JSON-lines files of ECS alert/metric documents into ``Alert``/``Metric`` batches,
    several files merged by event time."""

    #: the ``?key=value`` options the address may carry
    OPTIONS: tuple[str, ...] = ("batch_size", "gateway")
    #: counted name of well-formed documents of another kind (flows, options, stream rows)
    SKIPPED = "alerts non-event documents skipped"

    def __init__(self, address: Address, config: Mapping[str, Any], ctx: Context) -> None:
        self.source = address.raw
        self.ctx = ctx
        unknown = set(address.params) - set(self.OPTIONS)
        if unknown:
            raise ConfigError(f"{address.raw}: unknown option(s) {', '.join(sorted(unknown))}; "
                              f"known: {', '.join(self.OPTIONS)}")
        try:
            self.batch_size = int(address.params.get("batch_size", config.get("batch_size", 5000)))
        except ValueError:
            raise ConfigError(f"{address.raw}: batch_size: expected an integer") from None
        if self.batch_size < 1:
            raise ConfigError(f"{address.raw}: batch_size: must be at least 1")
        self.paths = _paths(address.path or "", address.raw)
        #: the gateway named for documents without observer.*: ?gateway=, else each file
        self.gateway = address.params.get("gateway") or None
        if self.gateway and len(self.paths) > 1:
            raise ConfigError(f"{address.raw}: ?gateway= names one gateway, but the input reads "
                              f"{len(self.paths)} files (they fall back to their own names)")
        for p in self.paths:
            if p != "-":
                require_format(p, address.raw, ("json", "gzip+json"))
        self._closed = False
        self._sizes = {p: (os.path.getsize(p) if p != "-" else 0) for p in self.paths}
        self._raw: dict[str, Any] = {}
        self._done: dict[str, int] = {}
        self._bad = 0
        self._skipped = 0

    def progress(self) -> tuple[int, int]:
        """Bytes read (compressed) over every file, and their total size."""
        done = 0
        for p in self.paths:
            raw = self._raw.get(p)
            if raw is None or raw.closed:
                done += self._done.get(p, 0)
                continue
            try:
                done += raw.tell()
            except (OSError, ValueError):
                pass
        return done, sum(self._sizes.values())

    def _open(self, path: str) -> IO[bytes]:
        if path == "-":
            return sys.stdin.buffer
        fh: IO[bytes] = open(path, "rb")
        if fh.read(2) == b"\x1f\x8b":
            fh.close()
            gz = gzip.open(path, "rb")
            self._raw[path] = gz.fileobj
            return gz  # type: ignore[return-value]  # GzipFile is a binary file object
        fh.seek(0)
        self._raw[path] = fh
        return fh

    def _events(self, index: int, path: str) -> Generator[tuple[int, int, str, dict[str, Any]], None, None]:
        """(event time, file index, stream, row) of one file's documents, in file order."""
        name = path if path != "-" else "<stdin>"
        gateway = self.gateway or (self.source if len(self.paths) == 1 else path)
        lineno = 0
        fh = self._open(path)
        try:
            for lineno, line in enumerate(_lines(fh, MAX_LINE), 1):  # noqa: B007 (reported after the loop)
                if self._closed:
                    return
                if line is None:
                    self._malformed(name, lineno, f"line longer than {MAX_LINE} bytes")
                    continue
                if not line.strip():
                    continue
                got = self._convert(line, gateway, f"{name}:{lineno}")
                if got is None:
                    self._skipped += 1
                elif isinstance(got, str):
                    self._malformed(name, lineno, got)
                else:
                    stream, row, t = got
                    yield t, index, stream, row
        except OSError as exc:  # a gzip stream cut short, a read error
            self.ctx.logger.error("%s:%d: cannot read further (%s); input ended", name, lineno + 1, exc)
        finally:
            if fh is not sys.stdin.buffer:
                raw = self._raw.get(path)
                if raw is not None and not raw.closed:
                    try:
                        self._done[path] = raw.tell()
                    except (OSError, ValueError):
                        pass
                fh.close()

    def _convert(self, line: bytes, source: str, where: str) -> tuple[str, dict[str, Any], int] | str | None:
        """One line (at ``where``, ``file:line``) as (event type, row, event time), a one-line
        reason it cannot be read, or None for a document of another kind."""
        return event_from_json(line, source)

    def batches(self) -> Iterator[FlowBatch]:
        files = [self._events(i, p) for i, p in enumerate(self.paths)]
        merged = files[0] if len(files) == 1 else heapq.merge(*files, key=lambda e: (e[0], e[1]))
        pending: list[tuple[str, dict[str, Any], int]] = []
        try:
            for t, _index, stream, row in merged:
                pending.append((stream, row, t))
                if len(pending) >= self.batch_size:
                    yield from batches_from_events(pending, self.source)
                    pending = []
                    if self._closed:
                        break
        finally:
            for f in files:
                f.close()
        yield from batches_from_events(pending, self.source)
        if self._bad > LOG_FIRST_BAD:
            self.ctx.logger.warning("%s: %d malformed lines in all (first %d logged)", self.source, self._bad,
                                    LOG_FIRST_BAD)
        if self._skipped:
            self.ctx.stats.add(self.SKIPPED, self._skipped)

    def _malformed(self, name: str, lineno: int, reason: str) -> None:
        self._bad += 1
        if self._bad <= LOG_FIRST_BAD:
            self.ctx.logger.warning("%s:%d: %s", name, lineno, reason)
        self.ctx.stats.drop("malformed", 1, source=self.source)

    def close(self) -> None:
        self._closed = True


def _open(address: Address, config: Mapping[str, Any], ctx: Context) -> AlertLinesSource:
    return AlertLinesSource(address, config, ctx)


@hookimpl
def flowcep_register_inputs() -> list[InputSpec]:
    return [
        InputSpec(
            name="alerts",
            summary=("ECS alert and metric documents gateway-level runs wrote (jsonl; a glob or folder reads "
                     "several gateways merged by event time), as Alert and Metric events for a level-2 "
                     "monitor; ?gateway=NAME for documents without observer.name"),
            schemes=("alerts",),
            open=_open,
            reads_file=True,
            config_schema={
                "type": "object",
                "additionalProperties": False,
                "properties": {"batch_size": {"type": "integer", "minimum": 1, "description": "documents per batch"}},
            },
            defaults={"batch_size": 5000},
        )
    ]
