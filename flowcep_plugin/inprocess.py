"""Run the whole pipeline in-process: for tests, evaluation and notebooks."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .context import Context
from .manager import FlowcepPluginManager, make_plugin_manager
from .pipeline import CollectingOutput, Pipeline
from .plan import resolve
from .registry import Registry
from .specs import Event

__all__ = ["run", "RunResult"]


@dataclass
class RunResult:
    """What :func:`run` returns: every event after suppression, and the final stats."""

    events: list[Event]
    stats: dict[str, Any]

    @property
    def alerts(self) -> list[Event]:
        return [e for e in self.events if (e.get("event") or {}).get("kind", "alert") == "alert"]


def run(
    inputs: Sequence[str],
    detectors: Sequence[str] | None = None,
    outputs: Sequence[str] = (),
    config: Mapping[str, Any] | None = None,
    enrichers: Sequence[str] | None = None,
    lateness: str | float | None = None,
    pm: FlowcepPluginManager | None = None,
) -> RunResult:
    """Read ``inputs`` to their end through ``detectors`` (all installed when None) and
    return every alert/metric event, after suppression, with the final stats."""
    pm = pm or make_plugin_manager()
    registry = Registry.build(pm)
    overrides: dict[str, Any] = {"inputs": list(inputs), "outputs": list(outputs),
                                 "progress": False}
    if detectors is not None:
        overrides["detectors"] = list(detectors)
    if enrichers is not None:
        overrides["enrichers"] = list(enrichers)
    if lateness is not None:
        overrides["lateness"] = lateness
    plan = resolve(registry, config or {}, overrides)
    sink = CollectingOutput()
    pipeline = Pipeline(plan, Context(), extra_outputs=[sink])
    stats = pipeline.run()
    return RunResult(events=sink.events, stats=stats)
