"""Plugin objects as pipeline stages, each called in its own ``try``.

The pipeline and its workers (``--workers N``) call plugin objects the same way: a
detector that raises is counted against its plugin, the records it choked on are isolated
(the batch is retried in halves) and the others keep running; after ``[run]
max_plugin_failures`` failures the plugin is disabled for the rest of the run.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .context import Context
from .errors import PluginError
from .records import FlowBatch
from .specs import Event

__all__ = ["Stage", "StageRunner"]

log = logging.getLogger("flowcep")
#: on_batch calls spent isolating the records a detector raises on, per failed batch
_RETRY_BUDGET = 64


@dataclass
class Stage:
    """One plugin object in the pipeline. ``partition`` is its detector spec's: which flows it
    gets in each worker with ``--workers N`` (:mod:`flowcep_plugin.workers`)."""

    name: str  # component name, for stats and errors
    plugin: str  # provider plugin name
    obj: Any
    accepts_flows: bool = False
    failures: int = field(default=0)
    disabled: bool = False
    partition: str = "global"


def _records(args: tuple[Any, ...]) -> int:
    """How many events or records a stage call was given (a list or a batch), else 0."""
    if not args:
        return 0
    first = args[0]
    if isinstance(first, FlowBatch):
        return first.length
    return len(first) if isinstance(first, list) else 0


class StageRunner:
    """Calls stages with isolation; needs ``ctx`` and ``max_failures``."""

    ctx: Context
    max_failures: int

    def _failed(self, stage: Stage, what: str, exc: Exception, lost: int = 0) -> None:
        stage.failures += 1
        msg = f"{what} failed: {type(exc).__name__}: {exc}"
        self.ctx.stats.plugin_error(stage.plugin, f"{stage.name}: {msg}")
        if what.startswith("output") and not isinstance(exc, BrokenPipeError):
            # what it was given is lost: an output failure (exit code 3), not only a plugin
            # error. A closed pipe (| head) is the reader's choice and ends the CLI quietly.
            self.ctx.stats.output_failure(stage.name, lost, msg)
        if stage.failures <= 3:
            log.error("flowcep: %s %r (plugin %s): %s", what.split()[0], stage.name, stage.plugin, msg)
        # outputs are never disabled: their events would be lost; they fail loudly instead
        if stage.failures >= self.max_failures and not stage.disabled and not what.startswith("output"):
            stage.disabled = True
            self.ctx.stats.gauge(f"plugin_disabled.{stage.plugin}", stage.failures)
            text = (f"{what.split()[0]} {stage.name!r} (plugin {stage.plugin}) disabled after "
                    f"{stage.failures} failures (raise [run] max_plugin_failures to keep it longer)")
            self.ctx.stats.errors.append(text)
            log.error("flowcep: %s", text)

    def _call(self, stage: Stage, what: str, fn: Callable[..., Any], *args: Any) -> Any:
        if stage.disabled:
            return None
        try:
            return fn(*args)
        except Exception as exc:  # a plugin's bug must not stop the others
            self._failed(stage, what, exc, _records(args))
            if self.ctx.strict:
                raise self._strict_error(stage, what, exc) from exc
            return None

    def _detect_isolated(self, stage: Stage, batch: FlowBatch) -> list[Event]:
        """``on_batch`` of one detector; when it raises, the batch is retried in halves so the
        records it did not choke on still reach it, and those it did are dropped and counted
        (``plugin-error``). One failure is counted per batch, not per retry."""
        if stage.disabled:
            self.ctx.stats.drop("plugin-disabled", batch.length, stage.name)
            return []
        try:
            return list(stage.obj.on_batch(batch) or [])
        except Exception as exc:
            self._failed(stage, "detector on_batch", exc)
            if self.ctx.strict:
                raise self._strict_error(stage, "detector on_batch", exc) from exc
        return self._retry_halves(stage, batch)

    @staticmethod
    def _strict_error(stage: Stage, what: str, exc: Exception) -> PluginError:
        first = (str(exc).strip().splitlines() or [""])[0]
        return PluginError(f"{what.split()[0]} {stage.name!r} (plugin {stage.plugin}) raised in "
                           f"{what.split()[-1]}: {type(exc).__name__}: {first} (--strict stops at the "
                           "first plugin failure)")

    def _retry_halves(self, stage: Stage, batch: FlowBatch) -> list[Event]:
        """Bisect ``batch`` down to the records ``stage`` raises on; at most
        ``_RETRY_BUDGET`` calls, so a detector that raises on everything costs little."""
        events: list[Event] = []
        budget = [_RETRY_BUDGET]

        def bisect(part: FlowBatch) -> None:  # depth first, so records stay in time order
            if part.length <= 1 or budget[0] <= 0:
                self.ctx.stats.drop("plugin-error", part.length, stage.name)
                return
            mid = part.length // 2
            for half in (part.slice(0, mid), part.slice(mid, part.length)):
                budget[0] -= 1
                try:
                    events.extend(stage.obj.on_batch(half) or [])
                except Exception:  # counted once for the whole batch, in _detect_isolated
                    bisect(half)

        bisect(batch)
        return events
