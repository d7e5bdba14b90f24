"""Builtin outputs that need no server: ``jsonl:PATH`` (ECS JSON lines) and ``stdout``.

``stdout`` prints one readable line per alert (``stdout:json`` prints JSON lines instead).
JSON lines are encoded with orjson: alerts are few, but flows sent here are many. Flows are
the ECS flow documents of :func:`flowcep_plugin.ecs.batch_to_json`, the same ones the
Elasticsearch output indexes.
"""

from __future__ import annotations

import errno
import os
import re
import sys
import time
from collections.abc import Mapping
from typing import IO, Any

import orjson

from .. import ecs
from ..config import parse_duration
from ..context import Context
from ..errors import ConfigError
from ..hookspecs import hookimpl
from ..records import FlowBatch
from ..specs import Event, OutputSpec

__all__ = ["JsonLinesOutput", "StdoutOutput", "FSYNC_POLICIES", "DEDUP_KEEP", "DEDUP_SCAN_BYTES"]

FSYNC_POLICIES = ("never", "batch", "interval")
#: (alert id, revision) pairs remembered for dedup; the oldest are forgotten first (counted)
DEDUP_KEEP = 200_000
#: how much of an existing file's end is read at start to learn what it already holds
DEDUP_SCAN_BYTES = 64 << 20
#: ``jsonl:PATH?stream=NAME``: the file holds one INSERT INTO stream's rows
_STREAM_SUFFIX = re.compile(r"\?stream=([A-Za-z_][A-Za-z0-9_]*)$")


def _default(obj: Any) -> Any:
    if isinstance(obj, bytes | bytearray):
        return obj.hex()
    if isinstance(obj, set | frozenset | tuple):
        return list(obj)
    raise TypeError(f"cannot serialise {type(obj).__name__}")


def dumps(doc: Any) -> bytes:
    return orjson.dumps(doc, default=_default, option=orjson.OPT_NON_STR_KEYS)


class JsonLinesOutput:
    """Appends events (and, if enabled, flows) to a file, one JSON object per line.

    Nothing is held in memory: each batch is one ``write`` on an unbuffered file (so a crash
    loses at most the batch being written), and ``fsync`` follows the ``fsync`` policy:
    ``never`` (the kernel decides), ``batch`` (after every write) or ``interval`` (at most once
    per ``fsync_interval``). The file is appended to by default, so a restart with the same
    path keeps earlier alerts; ``append = false`` truncates it at start.

    Dedup (``dedup = true``, the default): an alert (``event.kind: alert``; metrics and events
    always pass) whose (``flowcep.alert_id``, revision) is already in the file is not written again, counted as ``jsonl.duplicates_skipped``. Alert
    ids are deterministic, so this is what turns a restarted Kafka worker's replay (at least
    once) into exactly once in the file. The pairs of the file's last ``DEDUP_SCAN_BYTES`` are
    read at start and at most ``DEDUP_KEEP`` are remembered (oldest forgotten first,
    ``jsonl.dedup_forgotten``).

    A failed write (disk full, I/O error, file system gone read-only) is never fatal and never
    silent: the batch is counted as dropped (``output-error``) against this output, the first
    failure is printed as one line, and the run's exit code says outputs failed. A later write
    that succeeds starts on a fresh line, so a half-written line cannot swallow the next one.
    """

    def __init__(self, path: str, config: Mapping[str, Any], ctx: Context) -> None:
        self.name = f"jsonl:{path}"
        #: ``jsonl:PATH?stream=NAME``: the INSERT INTO stream this file holds instead of alerts
        #: (the pipeline binds it; one document per row, :mod:`.streamdocs`)
        self.derived_stream: str | None = None
        m = _STREAM_SUFFIX.search(path)
        if m is not None:
            path, self.derived_stream = path[:m.start()], m.group(1)
        elif "?stream=" in path:
            raise ConfigError(f"output {self.name}: stream {path.rpartition('?stream=')[2]!r}: an EPL stream "
                              "name (letters, digits, _)")
        self.path = path
        self.ctx = ctx
        self.flows = bool(config.get("flows", True))
        self.fsync = str(config.get("fsync", "interval"))
        if self.fsync not in FSYNC_POLICIES:
            raise ConfigError(f"output {self.name}: fsync must be one of {', '.join(FSYNC_POLICIES)}")
        try:
            self.fsync_interval = parse_duration(config.get("fsync_interval", 1.0))
        except ValueError as exc:
            raise ConfigError(f"output {self.name}: fsync_interval: {exc}") from None
        append = bool(config.get("append", True))
        self._seen: dict[tuple[str, int], None] | None = {} if config.get("dedup", True) else None
        # a process killed mid-write leaves a line without its newline: start on a fresh one
        cut_line = append and self._ends_mid_line(path)
        if self._seen is not None and append:
            self._learn_existing(path)
        try:
            self._fh: IO[bytes] = open(path, "ab" if append else "wb", buffering=0)  # noqa: SIM115 - closed in close()
        except OSError as exc:
            raise ConfigError(f"output {self.name}: cannot open for writing: {exc.strerror}") from None
        self._last_sync = time.monotonic()
        self._dirty = False
        self._broken_line = cut_line
        self._failures = 0

    @staticmethod
    def _ends_mid_line(path: str) -> bool:
        if not os.path.isfile(path):
            return False
        try:
            with open(path, "rb") as fh:
                if fh.seek(0, os.SEEK_END) == 0:
                    return False
                fh.seek(-1, os.SEEK_END)
                return fh.read(1) != b"\n"
        except OSError:
            return False

    def _learn_existing(self, path: str) -> None:
        """Remember the (alert id, revision) pairs the file's end already holds."""
        if not os.path.isfile(path):  # absent, or a device (/dev/full, a pipe): nothing to learn
            return
        try:
            with open(path, "rb") as fh:
                size = fh.seek(0, os.SEEK_END)
                fh.seek(max(0, size - DEDUP_SCAN_BYTES))
                data = fh.read(DEDUP_SCAN_BYTES)
        except OSError as exc:
            raise ConfigError(f"output {self.name}: cannot read it for dedup: {exc.strerror}") from None
        lines = data.split(b"\n")
        if size > DEDUP_SCAN_BYTES:
            lines = lines[1:]  # the first one is cut
        for line in lines:
            if b'"alert_id"' not in line:
                continue
            try:
                doc = orjson.loads(line)
                event = doc.get("event") if isinstance(doc, dict) else None
                fc = doc.get("flowcep") if isinstance(doc, dict) else None
                if not isinstance(fc, dict) or (isinstance(event, dict) and event.get("kind", "alert") != "alert"):
                    continue  # not an alert of ours (whatever else the file holds)
                self._remember((str(fc["alert_id"]), int(fc.get("revision") or 1)))
            except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
                continue  # a damaged line (a crash mid-write) or not an alert

    def _remember(self, key: tuple[str, int]) -> None:
        seen = self._seen
        assert seen is not None
        seen[key] = None
        if len(seen) > DEDUP_KEEP:
            del seen[next(iter(seen))]
            self.ctx.stats.add("jsonl.dedup_forgotten")

    def write_stream(self, stream: str, rows: list[dict[str, Any]], times: list[int]) -> None:
        """Rows of the chosen INSERT INTO stream with their event times (once per engine step)."""
        if stream == self.derived_stream and rows:
            from .streamdocs import observer_of, stream_documents

            docs = stream_documents(stream, rows, times, observer_of(self.ctx))
            self._write(b"".join(d + b"\n" for d in docs), len(docs))
            self.ctx.stats.add(f"jsonl.stream_rows.{stream}", len(docs))

    def write_events(self, events: list[Event]) -> None:
        if self.derived_stream:
            return  # a stream file holds the stream's rows only
        if events and self._seen is not None:
            fresh = []
            for e in events:
                fc = e.get("flowcep")
                aid = fc.get("alert_id") if isinstance(fc, Mapping) else None
                if aid is None or (e.get("event") or {}).get("kind", "alert") != "alert":
                    # metrics and events are not alerts with revisions: equal ones (a sampler
                    # table exported twice in one second) are each a record of their own
                    fresh.append(e)
                    continue
                key = (str(aid), int(fc.get("revision") or 1))  # type: ignore[union-attr]
                if key in self._seen:
                    self.ctx.stats.add("jsonl.duplicates_skipped")
                    continue
                self._remember(key)
                fresh.append(e)
            events = fresh
        if events:
            self._write(b"".join(dumps(e) + b"\n" for e in events), len(events))

    def write_flows(self, batch: FlowBatch) -> None:
        if self.flows and batch.length and not self.derived_stream:
            self._write(b"".join(ecs.batch_to_json(batch, newline=True)), batch.length)

    def _write(self, data: bytes, n: int) -> None:
        if self._fh.closed:
            self._failed(n, "written after close")
            return
        if self._broken_line:
            data = b"\n" + data
        view = memoryview(data)
        try:
            while view:
                written = self._fh.write(view)
                if not written:  # a raw write of 0 bytes: nothing more will go
                    raise OSError(errno.EIO, "short write")
                view = view[written:]
            self._broken_line = False
            self._dirty = True
            if self.fsync == "batch" or (
                    self.fsync == "interval" and time.monotonic() - self._last_sync >= self.fsync_interval):
                self._sync()
        except OSError as exc:
            self._broken_line = self._broken_line or len(view) < len(data)
            self._failed(n, exc.strerror or str(exc))

    def _sync(self) -> None:
        os.fsync(self._fh.fileno())
        self._dirty = False
        self._last_sync = time.monotonic()

    def _failed(self, n: int, reason: str) -> None:
        self._failures += 1
        self.ctx.stats.output_failure(self.name, n, f"cannot write: {reason}")
        if self._failures == 1:
            print(f"flowcep: error: output {self.name}: cannot write: {reason}; "
                  f"{n} records lost so far (counted as output-error); free space or fix the file",
                  file=sys.stderr)

    def flush(self) -> None:
        if self._fh.closed or not self._dirty or self.fsync == "never":
            return
        try:
            self._sync()
        except OSError as exc:
            self._failed(0, exc.strerror or str(exc))

    def close(self) -> None:
        if not self._fh.closed:
            self.flush()
            try:
                self._fh.close()
            except OSError as exc:
                self._failed(0, exc.strerror or str(exc))


class StdoutOutput:
    """Readable lines for people (``stdout``), or JSON lines for pipes (``stdout:json``)."""

    def __init__(self, mode: str | None, config: Mapping[str, Any], ctx: Context,
                 stream: IO[str] | None = None) -> None:
        if mode not in (None, "", "text", "json"):
            raise ConfigError(f"output stdout:{mode}: expected stdout, stdout:text or stdout:json")
        self.json = mode == "json"
        self.stream = stream or sys.stdout
        self.metrics = bool(config.get("metrics", False))
        self.ctx = ctx
        self.name = f"stdout:{mode}" if mode else "stdout"
        self._failures = 0
        self.flows = bool(config.get("flows", False))

    def write_events(self, events: list[Event]) -> None:
        if not events:
            return
        if self.json:
            self._write("".join(dumps(e).decode() + "\n" for e in events), len(events))
            return
        fmt = _formatter()
        lines = [fmt(e) for e in events
                 if self.metrics or (e.get("event") or {}).get("kind", "alert") == "alert"]
        if lines:
            self._write("\n".join(lines) + "\n", len(lines))

    def _write(self, text: str, n: int) -> None:
        # Written through at once: alerts on a pipe or in a redirected file must not wait
        # in a buffer for the end of the run (or be lost with it).
        try:
            self.stream.write(text)
            self.stream.flush()
        except BrokenPipeError:
            raise  # the reader went away (| head): the CLI ends quietly
        except OSError as exc:  # stdout redirected to a full or failing disk
            self._failures += 1
            self.ctx.stats.output_failure(self.name, n, f"cannot write: {exc.strerror or exc}")
            if self._failures == 1:
                print(f"flowcep: error: output {self.name}: cannot write: {exc.strerror or exc}; "
                      "counted as output-error", file=sys.stderr)

    def write_flows(self, batch: FlowBatch) -> None:
        # People do not read flows on a terminal; pipes (stdout:json, flows = true) get the
        # same ECS flow documents as every other output.
        if self.json and self.flows and batch.length:
            self._write(b"".join(ecs.batch_to_json(batch, newline=True)).decode(), batch.length)

    def flush(self) -> None:
        try:
            self.stream.flush()
        except (BrokenPipeError, ValueError):
            pass
        except OSError as exc:
            self.ctx.stats.output_failure(self.name, 0, f"cannot write: {exc.strerror or exc}")

    def close(self) -> None:
        self.flush()


def _formatter() -> Any:
    try:
        from ..alerts import format_alert_line
        return format_alert_line
    except ImportError:  # the alert model is optional for this output
        return lambda e: dumps(e).decode()


_JSONL_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "flows": {"type": "boolean", "description": "write the flows the host sends (run --flows) as ECS documents; "
                                                    "false keeps them out of this file"},
        "append": {"type": "boolean",
                   "description": "append to an existing file (default); false truncates it at start"},
        "dedup": {"type": "boolean",
                  "description": "skip an alert whose (alert_id, revision) the file already holds (default; "
                                 "a restarted Kafka worker's replay is written once)"},
        "fsync": {"enum": list(FSYNC_POLICIES),
                  "description": "when to fsync: never, after every batch, or at most once per fsync_interval"},
        "fsync_interval": {"anyOf": [{"type": "number", "minimum": 0}, {"type": "string"}],
                           "description": "with fsync = interval: the longest time written alerts stay unsynced"},
    },
}


@hookimpl
def flowcep_register_outputs() -> list[OutputSpec]:
    return [
        OutputSpec(
            name="jsonl",
            summary="ECS alert (and, with run --flows, flow) documents as JSON lines in a local file (jsonl:PATH); "
                    "jsonl:PATH?stream=NAME writes an EPL INSERT INTO stream's rows instead",
            schemes=("jsonl", "file"),
            factory=lambda target, cfg, ctx: JsonLinesOutput(_need(target, "jsonl"), cfg, ctx),
            accepts_flows=True,
            target_is_path=True,
            config_schema=_JSONL_SCHEMA,
            defaults={"flows": True, "append": True, "dedup": True, "fsync": "interval", "fsync_interval": 1.0},
        ),
        OutputSpec(
            name="stdout",
            summary="one readable line per alert on standard output (stdout:json for JSON lines)",
            schemes=("stdout",),
            factory=lambda target, cfg, ctx: StdoutOutput(target, cfg, ctx),
            accepts_flows=True,
            config_schema={"type": "object", "additionalProperties": False,
                           "properties": {"metrics": {"type": "boolean",
                                                      "description": "print metric events too"},
                                          "flows": {"type": "boolean",
                                                    "description": "stdout:json only: also print every flow "
                                                                   "record as an ECS document (large)"}}},
            defaults={"metrics": False, "flows": False},
        ),
    ]


def _need(target: str | None, scheme: str) -> str:
    if not target:
        raise ConfigError(f"output {scheme}: needs a path, e.g. {scheme}:alerts.jsonl")
    return target
