"""``flowcep run --view``: a live terminal view of a run (NetViewer's viewers, in a terminal).

The view is an output: the pipeline hands it alerts and metric events like any other output,
once per batch, and it never touches records. On a terminal a rich ``Live`` display redraws
from its own thread at ``refresh_per_second`` (reading the run's stats under their lock), so
the pipeline thread only appends to a bounded deque; when stdout is not a terminal it degrades
to plain lines: each alert as it fires and a status line every ``status_every_s`` seconds.
"""

from __future__ import annotations

import sys
import threading
import time
from collections import Counter, deque
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import IO, Any

from ..context import Context
from ..records import FlowBatch
from ..specs import Event

__all__ = ["LiveView"]

#: Alerts kept for the table (the newest are shown); bounded so a storm cannot eat memory.
MAX_ALERTS = 200
SEVERITY_STYLE = {"critical": "bold red", "high": "red", "medium": "yellow", "low": "green"}


def _ms_to_iso(ms: Any) -> str:
    if not isinstance(ms, int | float) or ms <= 0 or ms > 4_102_444_800_000:
        return "-"
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S")


def _targets(doc: Mapping[str, Any]) -> str:
    dst = (doc.get("destination") or {}) if isinstance(doc.get("destination"), dict) else {}
    ips = dst.get("ip")
    ips = ips if isinstance(ips, list) else ([ips] if ips else [])
    text = ", ".join(str(i) for i in ips[:2]) + (f" +{len(ips) - 2}" if len(ips) > 2 else "")
    if dst.get("port") is not None:
        text = f"{text}:{dst['port']}" if text else f"port {dst['port']}"
    return text


class LiveView:
    """An output that shows the run as it goes; plain lines when ``stream`` is not a terminal."""

    def __init__(self, ctx: Context, stream: IO[str] | None = None, *, plain: bool | None = None,
                 refresh_per_second: float = 1.0, status_every_s: float = 5.0) -> None:
        self.ctx = ctx
        self.stream = stream or sys.stdout
        isatty = getattr(self.stream, "isatty", lambda: False)
        self.plain = (not isatty()) if plain is None else plain
        self.refresh_per_second = refresh_per_second
        self.status_every_s = status_every_s
        self._lock = threading.Lock()
        self._alerts: deque[dict[str, Any]] = deque(maxlen=MAX_ALERTS)
        self._by_rule: Counter[str] = Counter()
        self._updates = 0  # later revisions of alerts already counted
        self._categories: dict[str, int] = {}
        self._talkers: list[tuple[str, int]] = []
        self._started = time.monotonic()
        self._rate: tuple[float, int, float] = (self._started, 0, 0.0)  # (t, records, rate)
        self._last_status = time.monotonic()
        self._live: Any = None
        if not self.plain:
            from rich.console import Console
            from rich.live import Live

            console = Console(file=self.stream, force_terminal=True)
            self._live = Live(get_renderable=self._render, console=console,
                              refresh_per_second=refresh_per_second, transient=False,
                              redirect_stdout=False, redirect_stderr=False)
            self._live.start()

    # -- output protocol ----------------------------------------------------------------------
    def write_events(self, events: list[Event]) -> None:
        if not events:
            self._maybe_status()
            return
        lines: list[str] = []
        with self._lock:
            for e in events:
                kind = (e.get("event") or {}).get("kind")
                if kind == "metric":
                    self._metric(e)
                    continue
                self._alerts.append(e)
                fc = e.get("flowcep")
                if not isinstance(fc, dict) or fc.get("revision", 1) in (None, 1):  # a suppressed repeat updates, not adds
                    self._by_rule[str((e.get("rule") or {}).get("id", "?"))] += 1
                else:
                    self._updates += 1
                if self.plain:
                    from ..alerts import format_alert_line
                    lines.append(format_alert_line(e))
        if lines:
            self.stream.write("\n".join(lines) + "\n")
        self._maybe_status()

    def write_flows(self, batch: FlowBatch) -> None:  # records are not shown, only counted
        return

    def flush(self) -> None:
        if self.plain:
            try:
                self.stream.flush()
            except (BrokenPipeError, ValueError):
                pass

    def close(self) -> None:
        if self._live is not None:
            self._live.stop()  # draws the final frame once (get_renderable reads the end state)
            self._live = None
        elif self.plain:
            self.stream.write(self.status_line() + "\n")
            self.flush()

    # -- state --------------------------------------------------------------------------------
    def _metric(self, e: Mapping[str, Any]) -> None:
        m = (e.get("flowcep") or {}).get("metrics") if isinstance(e.get("flowcep"), dict) else None
        if not isinstance(m, dict):
            return
        cats = m.get("categories")
        if isinstance(cats, dict):
            self._categories = {str(k): int((v or {}).get("bytes", 0) or 0) for k, v in cats.items()
                                if isinstance(v, dict)}
        talk = m.get("by_bytes")
        if isinstance(talk, list):
            self._talkers = [(str(t.get("ip")), int(t.get("bytes", 0) or 0)) for t in talk
                             if isinstance(t, dict) and t.get("ip")][:10]

    def _records_rate(self, records: int) -> float:
        """Records per second over the last second or more (the whole run until then)."""
        t0, r0, rate = self._rate
        now = time.monotonic()
        if now - t0 >= 1.0:
            rate = (records - r0) / (now - t0)
            self._rate = (now, records, rate)
        elif r0 == 0 and now > self._started:
            rate = records / (now - self._started)
        return rate

    def status_line(self) -> str:
        s = self.ctx.stats.snapshot()
        records = s["stages"].get("input", {}).get("in", 0)
        drops = sum(s["drops"].values())
        alerts = sum(self._by_rule.values())
        g = s["gauges"]
        wm = _ms_to_iso(g.get("watermark_ms"))
        return (f"flowcep view: {records:,} records ({self._records_rate(records):,.0f}/s), "
                f"{drops:,} dropped, {alerts} alerts ({self._updates} updates), event time {wm}")

    def _maybe_status(self) -> None:
        if not self.plain:
            return
        now = time.monotonic()
        if now - self._last_status >= self.status_every_s:
            self._last_status = now
            self.stream.write(self.status_line() + "\n")

    # -- the screen ---------------------------------------------------------------------------
    def _render(self) -> Any:
        from rich.console import Group
        from rich.table import Table
        from rich.text import Text

        s = self.ctx.stats.snapshot()
        g = s["gauges"]
        records = s["stages"].get("input", {}).get("in", 0)
        wm, newest = g.get("watermark_ms"), g.get("event_time_max_ms")
        lag = (f"{(newest - wm) / 1000:,.1f} s" if isinstance(wm, int) and isinstance(newest, int)
               and wm > 0 else "-")
        head = Text.assemble(("FlowCEP ", "bold"), f"{s['elapsed_s']:,.1f} s  ",
                             ("records ", "dim"), f"{records:,}  ",
                             ("rate ", "dim"), f"{self._records_rate(records):,.0f}/s  ",
                             ("event time ", "dim"), _ms_to_iso(wm), "  ",
                             ("watermark lag ", "dim"), lag)

        stages = Table(title="records by stage", title_justify="left", expand=False)
        stages.add_column("stage")
        stages.add_column("in", justify="right")
        stages.add_column("out", justify="right")
        for name, io in s["stages"].items():
            stages.add_row(name, f"{io['in']:,}", f"{io['out']:,}")

        drops = Table(title="dropped by reason", title_justify="left")
        drops.add_column("reason")
        drops.add_column("records", justify="right")
        for reason, n in sorted(s["drops"].items(), key=lambda kv: -kv[1]) or [("none", 0)]:
            drops.add_row(reason, f"{n:,}")

        with self._lock:
            recent = list(self._alerts)[-12:]
            by_rule = self._by_rule.most_common(10)
            cats = sorted(self._categories.items(), key=lambda kv: -kv[1])[:8]
            talkers = list(self._talkers)
        alerts = Table(title=f"alerts ({sum(self._by_rule.values())}, {self._updates} updates)",
                       title_justify="left", expand=True)
        for col, width in (("time", 19), ("severity", 8), ("rule", 16), ("source", 15), ("targets", 12),
                           ("message", 20)):
            alerts.add_column(col, overflow="ellipsis", no_wrap=True, min_width=width,
                              ratio=3 if col == "message" else None)
        for e in reversed(recent):
            sev = str((e.get("flowcep") or {}).get("severity", "?"))
            src = (e.get("source") or {}).get("ip", "") if isinstance(e.get("source"), dict) else ""
            alerts.add_row(str(e.get("@timestamp", ""))[:19].replace("T", " "),
                           Text(sev, style=SEVERITY_STYLE.get(sev, "")), str((e.get("rule") or {}).get("id", "?")),
                           str(src or ""), _targets(e), str(e.get("message", "")))

        rules = Table(title="alerts by rule", title_justify="left")
        rules.add_column("rule")
        rules.add_column("n", justify="right")
        for rule, n in by_rule:
            rules.add_row(rule, str(n))
        top = Table(title="top talkers (bytes)", title_justify="left")
        top.add_column("address")
        top.add_column("bytes", justify="right")
        for ip, b in talkers:
            top.add_row(ip, f"{b:,}")
        cat = Table(title="traffic categories (bytes)", title_justify="left")
        cat.add_column("category")
        cat.add_column("bytes", justify="right")
        for c, b in cats:
            cat.add_row(c, f"{b:,}")
        row1 = Table.grid(padding=(0, 3))
        row1.add_row(stages, drops, rules)
        row2 = Table.grid(padding=(0, 3))
        row2.add_row(top, cat)
        return Group(head, row1, alerts, row2)
