"""``alerts:PATH``: the alert and metric documents a gateway-level run wrote, as events.

The input of a level-2 monitor (docs/level2.md): one file per gateway, each what ``flowcep
run --observer NAME --output jsonl:PATH`` wrote (plain or gzip, ``-`` for stdin). Every line
becomes an ``Alert`` or ``Metric`` event through :func:`.ecs_events.batches_from_documents`,
the same conversion the Kafka input uses, so EPL reads ``from Alert`` and Python detectors
that ask for the ``Alert``/``Metric`` streams get them; flows and options documents in the
same file are skipped and counted (``alerts non-event documents skipped``).

Event time is the alert's window end; the gateway (``observer.name``, else the file's
address) is the event-time clock's exporter, so the watermark is the slowest gateway's
(``[run] lateness`` still applies, 10 min for files). A line that is not JSON, or not a
readable alert or metric, is one ``file:line: reason`` warning (the first 20) and a
``malformed`` drop, and reading goes on. Lines are read at most ``jsonlines.MAX_LINE`` bytes
and a batch holds at most ``batch_size`` documents.
"""

from __future__ import annotations

import gzip
import os
import sys
from collections.abc import Iterator, Mapping
from typing import IO, Any

import orjson

from ..context import Context
from ..errors import ConfigError, InputError
from ..hookspecs import hookimpl
from ..records import FlowBatch
from ..specs import Address, InputSpec
from .ecs_events import batches_from_documents
from .jsonlines import LOG_FIRST_BAD, MAX_LINE, _lines
from .sniff import require_format

__all__ = ["AlertLinesSource"]


class AlertLinesSource:
    """Reads a JSON-lines file of ECS alert/metric documents into ``Alert``/``Metric`` batches."""

    def __init__(self, address: Address, config: Mapping[str, Any], ctx: Context) -> None:
        self.source = address.raw
        self.path = address.path or ""
        self.ctx = ctx
        unknown = set(address.params) - {"batch_size", "gateway"}
        if unknown:
            raise ConfigError(f"{address.raw}: unknown option(s) {', '.join(sorted(unknown))}; "
                              "known: batch_size, gateway")
        try:
            self.batch_size = int(address.params.get("batch_size", config.get("batch_size", 5000)))
        except ValueError:
            raise ConfigError(f"{address.raw}: batch_size: expected an integer") from None
        if self.batch_size < 1:
            raise ConfigError(f"{address.raw}: batch_size: must be at least 1")
        #: the gateway named for documents without observer.* (default: the address)
        self.gateway = address.params.get("gateway") or self.source
        if self.path != "-" and not os.path.isfile(self.path):
            raise InputError(f"input {address.raw!r}: no such file")
        if self.path != "-":
            require_format(self.path, address.raw, ("json", "gzip+json"))
        self._closed = False
        self._size = os.path.getsize(self.path) if self.path != "-" else 0
        self._raw: Any = None
        self._last = 0
        self._bad = 0
        self._skipped = 0

    def progress(self) -> tuple[int, int]:
        raw = self._raw
        if raw is None or raw.closed:
            return self._last, self._size
        try:
            return raw.tell(), self._size
        except (OSError, ValueError):
            return 0, self._size

    def _open(self) -> IO[bytes]:
        if self.path == "-":
            return sys.stdin.buffer
        fh: IO[bytes] = open(self.path, "rb")
        if fh.read(2) == b"\x1f\x8b":
            fh.close()
            gz = gzip.open(self.path, "rb")
            self._raw = gz.fileobj
            return gz  # type: ignore[return-value]  # GzipFile is a binary file object
        fh.seek(0)
        self._raw = fh
        return fh

    def batches(self) -> Iterator[FlowBatch]:
        docs: list[Any] = []
        lines: list[int] = []
        lineno = 0
        fh = self._open()
        try:
            for lineno, line in enumerate(_lines(fh, MAX_LINE), 1):  # noqa: B007 (reported after the loop)
                if line is None:
                    self._malformed(lineno, f"line longer than {MAX_LINE} bytes")
                    continue
                if not line.strip():
                    continue
                try:
                    docs.append(orjson.loads(line))
                except orjson.JSONDecodeError as exc:
                    self._malformed(lineno, f"not JSON: {str(exc).splitlines()[0][:120]}")
                    continue
                lines.append(lineno)
                if len(docs) >= self.batch_size:
                    yield from self._convert(docs, lines)
                    docs, lines = [], []
                    if self._closed:
                        break
        except OSError as exc:
            self.ctx.logger.error("%s:%d: cannot read further (%s); input ended", self.path, lineno + 1, exc)
        finally:
            if fh is not sys.stdin.buffer:
                self._last = self.progress()[0]
                fh.close()
        if docs:
            yield from self._convert(docs, lines)
        if self._bad > LOG_FIRST_BAD:
            self.ctx.logger.warning("%s: %d malformed lines in all (first %d logged)", self.path, self._bad,
                                    LOG_FIRST_BAD)
        if self._skipped:
            self.ctx.stats.add("alerts non-event documents skipped", self._skipped)

    def _convert(self, docs: list[Any], lines: list[int]) -> list[FlowBatch]:
        batches, errors = batches_from_documents(docs, source=self.gateway)
        for index, reason in errors:
            self._malformed(lines[index], reason)
        self._skipped += len(docs) - len(errors) - sum(b.length for b in batches)
        for b in batches:
            b.source = self.source
        return batches

    def _malformed(self, lineno: int, reason: str) -> None:
        self._bad += 1
        if self._bad <= LOG_FIRST_BAD:
            self.ctx.logger.warning("%s:%d: %s", self.path, lineno, reason)
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
            summary=("ECS alert and metric documents a gateway-level run wrote (jsonl), as Alert and Metric "
                     "events for a level-2 monitor; ?gateway=NAME for documents without observer.name"),
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
