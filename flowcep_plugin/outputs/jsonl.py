"""Builtin outputs that need no server: ``jsonl:PATH`` (ECS JSON lines) and ``stdout``.

``stdout`` prints one readable line per alert (``stdout:json`` prints JSON lines instead).
JSON lines are encoded with orjson: alerts are few, but flows sent here are many.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import IO, Any

import orjson

from ..context import Context
from ..errors import ConfigError
from ..hookspecs import hookimpl
from ..records import FlowBatch
from ..specs import Event, OutputSpec

__all__ = ["JsonLinesOutput", "StdoutOutput"]


def _default(obj: Any) -> Any:
    if isinstance(obj, bytes | bytearray):
        return obj.hex()
    if isinstance(obj, set | frozenset | tuple):
        return list(obj)
    raise TypeError(f"cannot serialise {type(obj).__name__}")


def dumps(doc: Any) -> bytes:
    return orjson.dumps(doc, default=_default, option=orjson.OPT_NON_STR_KEYS)


class JsonLinesOutput:
    """Appends events (and, if enabled, flows) to a file, one JSON object per line."""

    def __init__(self, path: str, config: Mapping[str, Any], ctx: Context) -> None:
        self.path = path
        self.ctx = ctx
        self.flows = bool(config.get("flows", False))
        mode = "ab" if config.get("append", False) else "wb"
        try:
            self._fh: IO[bytes] = open(path, mode)  # noqa: SIM115 - closed in close()
        except OSError as exc:
            raise ConfigError(f"output jsonl:{path}: cannot open for writing: {exc.strerror}") from None

    def write_events(self, events: list[Event]) -> None:
        if events:
            self._fh.write(b"".join(dumps(e) + b"\n" for e in events))

    def write_flows(self, batch: FlowBatch) -> None:
        if self.flows and batch.length:
            self._fh.write(b"".join(dumps(r) + b"\n" for r in batch.rows()))

    def flush(self) -> None:
        self._fh.flush()

    def close(self) -> None:
        if not self._fh.closed:
            self._fh.flush()
            self._fh.close()


class StdoutOutput:
    """Readable lines for people (``stdout``), or JSON lines for pipes (``stdout:json``)."""

    def __init__(self, mode: str | None, config: Mapping[str, Any], ctx: Context,
                 stream: IO[str] | None = None) -> None:
        if mode not in (None, "", "text", "json"):
            raise ConfigError(f"output stdout:{mode}: expected stdout, stdout:text or stdout:json")
        self.json = mode == "json"
        self.stream = stream or sys.stdout
        self.metrics = bool(config.get("metrics", False))

    def write_events(self, events: list[Event]) -> None:
        if not events:
            return
        if self.json:
            self.stream.write("".join(dumps(e).decode() + "\n" for e in events))
            return
        fmt = _formatter()
        lines = [fmt(e) for e in events
                 if self.metrics or (e.get("event") or {}).get("kind", "alert") == "alert"]
        if lines:
            self.stream.write("\n".join(lines) + "\n")

    def write_flows(self, batch: FlowBatch) -> None:  # people do not read flows on a terminal
        return

    def flush(self) -> None:
        try:
            self.stream.flush()
        except (BrokenPipeError, ValueError):
            pass

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
        "flows": {"type": "boolean", "description": "also write every flow record (large)"},
        "append": {"type": "boolean", "description": "append instead of truncating the file"},
    },
}


@hookimpl
def flowcep_register_outputs() -> list[OutputSpec]:
    return [
        OutputSpec(
            name="jsonl",
            summary="ECS alert documents as JSON lines in a local file (jsonl:PATH)",
            schemes=("jsonl", "file"),
            factory=lambda target, cfg, ctx: JsonLinesOutput(_need(target, "jsonl"), cfg, ctx),
            accepts_flows=True,
            target_is_path=True,
            config_schema=_JSONL_SCHEMA,
            defaults={"flows": False, "append": False},
        ),
        OutputSpec(
            name="stdout",
            summary="one readable line per alert on standard output (stdout:json for JSON lines)",
            schemes=("stdout",),
            factory=lambda target, cfg, ctx: StdoutOutput(target, cfg, ctx),
            config_schema={"type": "object", "additionalProperties": False,
                           "properties": {"metrics": {"type": "boolean",
                                                      "description": "print metric events too"}}},
            defaults={"metrics": False},
        ),
    ]


def _need(target: str | None, scheme: str) -> str:
    if not target:
        raise ConfigError(f"output {scheme}: needs a path, e.g. {scheme}:alerts.jsonl")
    return target
