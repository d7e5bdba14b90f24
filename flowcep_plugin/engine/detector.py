"""EPLDetector: a Detector (specs.Detector protocol) that runs an EPL module.

Rows of the statements named by the spec's rules become alert/metric documents through
``flowcep_plugin.alerts.alert_from_row``; rows inserted into streams are handed to
``on_derived(stream, rows)`` once per step (the host fans them out to the
``flowcep_derived_events`` hook and Python detectors). The module is compiled in the
constructor, so a bad module fails the run before any data flows.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import EPLError
from .compiler import Module, compile_module
from .runtime import Row

if TYPE_CHECKING:
    from ..context import Context
    from ..records import FlowBatch
    from ..specs import DetectorSpec, Event, RuleSpec

__all__ = ["EPLDetector", "load_module"]


def load_module(spec: DetectorSpec, params: Mapping[str, Any] | None = None) -> Module:
    """Compile the spec's EPL (inline text or file), ``${param}`` filled from ``params``."""
    if spec.epl is not None:
        return compile_module(spec.epl, f"<{spec.name}>", params)
    if spec.epl_path is None:
        raise EPLError(f"detector {spec.name!r} has neither EPL text nor an EPL file")
    path = Path(spec.epl_path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise EPLError(f"cannot read EPL module: {exc.strerror}", str(path)) from None
    return compile_module(text, str(path), params)


def _fallback_alert(rule: RuleSpec, values: Mapping[str, Any], time_ms: int, detector: str,
                    window: tuple[int, int] | None = None) -> dict[str, Any]:
    return {"rule": {"id": rule.id, "name": rule.name}, "@timestamp_ms": time_ms,
            "flowcep": {"row": dict(values), "detector": detector}}


class EPLDetector:
    """Runs one EPL module; ``config`` (validated, defaults merged) fills its placeholders."""

    def __init__(self, spec: DetectorSpec, config: Mapping[str, Any], ctx: Context,
                 on_derived: Callable[[str, list[dict[str, Any]]], None] | None = None) -> None:
        self.spec = spec
        self.ctx = ctx
        self.on_derived = on_derived
        self.module = load_module(spec, config)
        names = {s.name for s in self.module.statements}
        for rule in spec.rules:
            if rule.statement and rule.statement not in names:
                raise EPLError(f"rule {rule.id!r} of detector {spec.name!r} names statement "
                               f"{rule.statement!r}, which the module does not have "
                               f"(statements: {', '.join(sorted(names))})", self.module.filename)
        self.rules: dict[str, list[RuleSpec]] = {}
        for rule in spec.rules:
            if rule.statement:
                self.rules.setdefault(rule.statement, []).append(rule)
        # batch-window statements: the alert's window is [time - P, time)
        self.periods: dict[str, int] = {}
        for plan in self.module.plans:
            if len(plan.streams) == 1 and plan.streams[0].view is not None \
                    and plan.streams[0].view.name == "time_batch":
                self.periods[plan.info.name] = int(plan.streams[0].view_arg)
        self.derived = {s.name for s in self.module.statements if s.insert_into}
        self.runtime = self.module.runtime()
        try:
            from ..alerts import alert_from_row

            self._alert: Callable[..., Any] = alert_from_row
        except ImportError:  # pragma: no cover - alerts ships with the core
            self._alert = _fallback_alert

    def _pattern_drops(self) -> None:
        """h-patterns: what the pattern bounds dropped goes to the run's stats, by reason."""
        for st in self.runtime.stmts:
            counts = getattr(st, "stats", None)
            if counts:
                for reason, n in counts.items():
                    self.ctx.stats.drop(reason, n, self.spec.name)
                counts.clear()

    def _events(self, rows: list[Row]) -> list[Event]:
        self._pattern_drops()
        if not rows:
            return []
        events: list[Event] = []
        derived: dict[str, list[dict[str, Any]]] = {}
        for row in rows:
            rules = self.rules.get(row.statement)
            if rules:
                p = self.periods.get(row.statement)
                window = (row.time_ms - p, row.time_ms) if p else None
                for rule in rules:
                    events.append(self._alert(rule, row.values, row.time_ms, self.spec.name, window))
            if self.on_derived is not None and row.statement in self.derived:
                derived.setdefault(row.stream, []).append(row.values)
        if self.on_derived is not None:
            for stream, values in derived.items():
                self.on_derived(stream, values)
        return events

    def on_batch(self, batch: FlowBatch) -> list[Event]:
        return self._events(self.runtime.on_batch(batch))

    def on_watermark(self, watermark_ms: int) -> list[Event]:
        return self._events(self.runtime.on_watermark(watermark_ms))

    def flush(self) -> list[Event]:
        return self._events(self.runtime.flush())
