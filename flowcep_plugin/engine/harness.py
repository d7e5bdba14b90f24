"""A small harness to run EPL modules on dict records (tests, detector authors, docs).

``Harness(text).send(t, prop=value)`` feeds one record whose flow end time is ``t`` ms;
``watermark(ms)`` and ``flush()`` drive time; ``rows``/``of(name)`` collect the output.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from ..records import FlowBatch
from .compiler import compile_module
from .runtime import Row, Runtime

__all__ = ["Harness", "flows", "values"]


def flows(*items: tuple[int, dict[str, Any]]) -> FlowBatch:
    return FlowBatch.from_rows([{"flowEndMilliseconds": t, **r} for t, r in items])


class Harness:
    """Runs a module; ``send(t, **props)`` one record, ``watermark(ms)``, ``flush()``."""

    def __init__(self, text: str, params: dict[str, Any] | None = None) -> None:
        self.module = compile_module(text, "<test>", params)
        self.rt: Runtime = self.module.runtime()
        self.rows: list[Row] = []

    def send(self, t: int, **props: Any) -> list[Row]:
        out = self.rt.on_batch(flows((t, props)))
        self.rows += out
        return out

    def batch(self, items: Iterable[tuple[int, dict[str, Any]]]) -> list[Row]:
        out = self.rt.on_batch(flows(*items))
        self.rows += out
        return out

    def watermark(self, ms: int) -> list[Row]:
        out = self.rt.on_watermark(ms)
        self.rows += out
        return out

    def flush(self) -> list[Row]:
        out = self.rt.flush()
        self.rows += out
        return out

    def of(self, statement: str) -> list[Row]:
        return [r for r in self.rows if r.statement == statement]


def values(rows: Sequence[Row], *keys: str) -> list[tuple[Any, ...]]:
    return [tuple(r.values[k] for k in keys) for r in rows]

