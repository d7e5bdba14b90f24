"""Run statistics: records per stage, drops by reason, alerts by rule.

Counters are bumped once per batch (never per record) from the input threads and the
pipeline thread, so a plain lock is cheap enough. Nothing is dropped without a reason
recorded here: ``drop()`` is the only way a component may discard records.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from typing import Any

__all__ = ["Stats"]


class Stats:
    """Counters for one run; shared by every component through the Context."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.started = time.monotonic()
        self.stage_in: dict[str, int] = defaultdict(int)
        self.stage_out: dict[str, int] = defaultdict(int)
        self.drops: dict[str, int] = defaultdict(int)
        self.drops_by_source: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        self.alerts_by_rule: dict[str, int] = defaultdict(int)
        self.plugin_errors: dict[str, int] = defaultdict(int)
        self.output_failures: dict[str, int] = defaultdict(int)
        self.gauges: dict[str, Any] = {}
        self.errors: list[str] = []

    def count(self, stage: str, n_in: int, n_out: int | None = None) -> None:
        with self._lock:
            self.stage_in[stage] += n_in
            self.stage_out[stage] += n_in if n_out is None else n_out

    def drop(self, reason: str, n: int = 1, source: str | None = None) -> None:
        """Count ``n`` records dropped for ``reason`` (``malformed``, ``late``,
        ``unknown-template``, ``queue-full`` ...), optionally against the input source."""
        if n <= 0:
            return
        with self._lock:
            self.drops[reason] += n
            if source:
                self.drops_by_source[source][reason] += n

    def alert(self, rule: str, n: int = 1) -> None:
        with self._lock:
            self.alerts_by_rule[rule] += n

    def plugin_error(self, plugin: str, message: str) -> None:
        with self._lock:
            self.plugin_errors[plugin] += 1
            if len(self.errors) < 100:
                self.errors.append(f"{plugin}: {message}")

    def output_failure(self, output: str, n: int, message: str, dropped: bool = True) -> None:
        """An output could not deliver ``n`` records/alerts (write error, dead-lettered,
        dropped): counted in ``output_failures`` (which makes ``flowcep run`` exit with code 3)
        and, when they are lost rather than kept aside (``dropped``), as ``output-error`` drops
        against the output."""
        with self._lock:
            self.output_failures[output] += max(1, n)
            if dropped and n > 0:
                self.drops["output-error"] += n
                self.drops_by_source[output]["output-error"] += n
            if len(self.errors) < 100:
                self.errors.append(f"output {output}: {message}")

    def gauge(self, name: str, value: Any) -> None:
        """Set a named value (sequence-loss per exporter, kernel drops, queue depth...)."""
        with self._lock:
            self.gauges[name] = value

    def add(self, name: str, n: int = 1) -> None:
        """Increment a named counter kept with the gauges."""
        with self._lock:
            self.gauges[name] = self.gauges.get(name, 0) + n

    def export(self) -> dict[str, Any]:
        """The counters as plain data, for :meth:`merge` in another process (a worker's)."""
        with self._lock:
            return {
                "stage_in": dict(self.stage_in), "stage_out": dict(self.stage_out),
                "drops": dict(self.drops),
                "drops_by_source": {k: dict(v) for k, v in self.drops_by_source.items()},
                "alerts_by_rule": dict(self.alerts_by_rule), "plugin_errors": dict(self.plugin_errors),
                "output_failures": dict(self.output_failures), "gauges": dict(self.gauges),
                "errors": list(self.errors),
            }

    def merge(self, data: dict[str, Any]) -> None:
        """Add another process's :meth:`export` to these counters. Numeric gauges add up (they
        are counters kept with ``add`` or sizes of per-worker state); others take its value."""
        with self._lock:
            for name in ("stage_in", "stage_out", "drops", "alerts_by_rule", "plugin_errors",
                         "output_failures"):
                mine = getattr(self, name)
                for k, v in data.get(name, {}).items():
                    mine[k] += v
            for src, by_reason in data.get("drops_by_source", {}).items():
                for k, v in by_reason.items():
                    self.drops_by_source[src][k] += v
            for k, v in data.get("gauges", {}).items():
                old = self.gauges.get(k)
                numeric = isinstance(v, int | float) and not isinstance(v, bool)
                if numeric and isinstance(old, int | float) and not isinstance(old, bool):
                    self.gauges[k] = old + v
                else:
                    self.gauges[k] = v
            room = max(0, 100 - len(self.errors))
            self.errors.extend(data.get("errors", [])[:room])

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            elapsed = time.monotonic() - self.started
            records_in = self.stage_in.get("input", 0)
            return {
                "elapsed_s": round(elapsed, 3),
                "records_per_s": round(records_in / elapsed, 1) if elapsed > 0 else 0.0,
                "stages": {
                    s: {"in": self.stage_in[s], "out": self.stage_out.get(s, 0)}
                    for s in self.stage_in
                },
                "drops": dict(self.drops),
                "drops_by_source": {k: dict(v) for k, v in self.drops_by_source.items()},
                "alerts_by_rule": dict(self.alerts_by_rule),
                "plugin_errors": dict(self.plugin_errors),
                "output_failures": dict(self.output_failures),
                "errors": list(self.errors),
                "gauges": dict(self.gauges),
            }

    def render(self) -> str:
        """Human-readable summary for stderr."""
        s = self.snapshot()
        lines = [f"flowcep stats: {s['elapsed_s']} s, {s['records_per_s']:,} records/s"]
        for stage, io in s["stages"].items():
            lines.append(f"  {stage:<12} in {io['in']:>10,}  out {io['out']:>10,}")
        if s["drops"]:
            lines.append("  dropped: " + ", ".join(f"{k}={v:,}" for k, v in sorted(s["drops"].items())))
        else:
            lines.append("  dropped: none")
        if s["alerts_by_rule"]:
            lines.append("  alerts:  " + ", ".join(f"{k}={v}" for k, v in sorted(s["alerts_by_rule"].items())))
        if s["output_failures"]:
            lines.append("  output failures: " + ", ".join(f"{k}={v:,}" for k, v in s["output_failures"].items()))
        if s["plugin_errors"]:
            lines.append("  plugin errors: " + ", ".join(f"{k}={v}" for k, v in s["plugin_errors"].items()))
        for k, v in sorted(s["gauges"].items()):
            lines.append(f"  {k}: {v}")
        return "\n".join(lines)
