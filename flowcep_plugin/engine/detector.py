"""EPLDetector: a Detector (specs.Detector protocol) that runs an EPL module.

Rows of the statements named by the spec's rules become alert/metric documents through
``flowcep_plugin.alerts.alert_from_row``; rows inserted into streams are handed to
``on_derived(stream, rows, times)`` once per step (the host fans them out to the
``flowcep_derived_events`` hook and Python detectors). The module is compiled in the
constructor, so a bad module fails the run before any data flows.

Statements carry their alert metadata as annotations (Esper's ``@Name``/``@Description``
plus ours), so an EPL-only detector needs no Python to say what its alerts mean::

    @Name('VerticalScan') @Description('one source probing many ports of one host')
    @Summary('{src} probed {ports} ports on {dst}') @Severity('high') @RiskScore(73)
    @Technique('T1046') @Tactic('TA0007') @Reference('https://attack.mitre.org/techniques/T1046/')
    @Source('src') @Destination('dst')
    select ... from Flow ...

``@Tag(name='severity', value='high')`` (Esper's generic form) works for every key too. A
technique is checked against ATT&CK's id syntax, a severity against low/medium/high/critical;
a bad value is an EPL error at the annotation's line. For a plugin's ``RuleSpec`` the values it
sets explicitly win; annotations fill what it left at the defaults.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import EPLError
from ..specs import RuleSpec
from . import ast as A
from .compiler import FLOW, OPTIONS, Module, compile_module
from .match_recognize import MatchRecognizeStmt
from .parser import parse_module, substitute_params
from .patterns import PatternStmt
from .plan import SelectPlan
from .runtime import Row

if TYPE_CHECKING:
    from ..context import Context
    from ..records import FlowBatch
    from ..specs import DetectorSpec, Event

__all__ = ["EPLDetector", "load_module", "statement_annotations", "rule_metadata",
           "RULE_ANNOTATIONS"]

#: annotation (lower case) -> RuleSpec field it sets
RULE_ANNOTATIONS: dict[str, str] = {
    "description": "description", "summary": "summary", "severity": "severity",
    "riskscore": "risk_score", "technique": "technique", "tactic": "tactic",
    "reference": "references", "source": "source_field", "destination": "destination_field",
    "destinationport": "destination_port_field", "kind": "kind", "rulename": "name",
}
_TUPLES = ("technique", "tactic", "references")
_DEFAULTS = {f.name: f.default for f in dataclasses.fields(RuleSpec)}


def statement_annotations(text: str, filename: str = "<epl>",
                          params: Mapping[str, Any] | None = None) -> dict[str, tuple[A.Annotation, ...]]:
    """The annotations of every SELECT statement, by the name the compiler gives it
    (``@Name`` or ``stmt-N``)."""
    out: dict[str, tuple[A.Annotation, ...]] = {}
    counter = 0
    for st in parse_module(substitute_params(text, params, filename), filename):
        if not isinstance(st, A.SelectStmt):
            continue
        name = next((str(a.value) for a in st.annotations if a.name.lower() == "name"), None)
        if name is None:
            counter += 1
            name = f"stmt-{counter}"
        out[name] = st.annotations
    return out


def _batch_periods(plans: Sequence[Any]) -> dict[str, int]:
    """The period P of each statement whose rows stand for a batch window: an alert from it
    covers [time - P, time). A ``time_batch(P)`` statement's rows do; so do the rows of a
    statement that reads only INSERT INTO streams every producer of which is a batch
    statement of the same period and that holds them for less than that period (no view, or
    ``#time`` shorter than P: a filter, or a join of two counts of the same minute, whose rows
    come out at that minute's end and describe it; a correlation over several batches keeps no
    period), found by following streams until nothing changes."""
    producers: dict[str, list[str]] = {}
    for plan in plans:
        target = getattr(getattr(plan, "info", None), "insert_into", None)
        if target:
            producers.setdefault(target, []).append(plan.info.name)
    periods: dict[str, int] = {}
    for plan in plans:
        streams = getattr(plan, "streams", None) or []
        if len(streams) == 1 and streams[0].view is not None and streams[0].view.name == "time_batch":
            periods[plan.info.name] = int(streams[0].view_arg)
    changed = True
    while changed:
        changed = False
        for plan in plans:
            streams = getattr(plan, "streams", None) or []
            name = getattr(getattr(plan, "info", None), "name", None)
            if not streams or name is None or name in periods or not isinstance(plan, SelectPlan):
                continue
            found: set[int] = set()
            for sp in streams:
                makers = producers.get(sp.stream)
                if sp.is_flow or not makers or any(m not in periods for m in makers):
                    found = set()
                    break
                found.update(periods[m] for m in makers)
            if len(found) != 1:
                continue
            period = found.pop()
            if all(sp.view is None or (sp.view.name == "time" and int(sp.view_arg) < period) for sp in streams):
                periods[name] = period
                changed = True
    return periods


def _pairs(annotations: tuple[A.Annotation, ...]) -> list[tuple[str, Any, A.Annotation]]:
    pairs: list[tuple[str, Any, A.Annotation]] = []
    for a in annotations:
        key = a.name.lower()
        if key == "tag":
            kv = dict(a.kv)
            key = str(kv.get("name", "")).lower().replace("_", "").replace("-", "")
            pairs.append((key, kv.get("value"), a))
        else:
            pairs.append((key, a.value, a))
    return [(k, v, a) for k, v, a in pairs if k in RULE_ANNOTATIONS]


def rule_metadata(rule: RuleSpec, annotations: tuple[A.Annotation, ...], filename: str = "<epl>",
                  override: bool = False) -> RuleSpec:
    """``rule`` with the metadata the statement's annotations give.

    With ``override`` (a rule FlowCEP generated for a user's EPL file) annotations win; else
    (a plugin's explicit RuleSpec) they fill only fields left at their defaults. A bad value
    raises EPLError at the annotation.
    """
    changes: dict[str, Any] = {}
    for key, value, ann in _pairs(annotations):
        fname = RULE_ANNOTATIONS[key]
        if not override and getattr(rule, fname) != _DEFAULTS[fname]:
            continue
        if value is None:
            raise EPLError(f"@{ann.name} needs a value, e.g. @{ann.name}('...')", filename,
                           ann.pos.line or None, ann.pos.column or None)
        if fname in _TUPLES:
            items = [v.strip() for v in str(value).split(",") if v.strip()] \
                if fname != "references" else str(value).split()
            changes[fname] = tuple(changes.get(fname, ())) + tuple(items)
        elif fname == "risk_score":
            try:
                changes[fname] = int(value)
            except (TypeError, ValueError):
                raise EPLError(f"@{ann.name}({value!r}): expected a number 0-100", filename,
                               ann.pos.line or None, ann.pos.column or None) from None
        elif fname == "severity":
            changes[fname] = str(value).lower()
        else:
            changes[fname] = str(value)
    if not changes:
        return rule
    try:
        return dataclasses.replace(rule, **changes)
    except ValueError as exc:  # RuleSpec checks severity and ATT&CK ids
        first = next((a for _, _, a in _pairs(annotations)), None)
        line = first.pos.line if first is not None else None
        raise EPLError(f"statement annotations: {exc}", filename, line or None) from None


def _module_text(spec: DetectorSpec) -> tuple[str, str]:
    if spec.epl is not None:
        return spec.epl, f"<{spec.name}>"
    path = Path(spec.epl_path or "")
    try:
        return path.read_text(encoding="utf-8"), str(path)
    except OSError as exc:
        raise EPLError(f"cannot read EPL module: {exc.strerror}", str(path)) from None


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
                 on_derived: Callable[[str, list[dict[str, Any]], list[int]], None] | None = None) -> None:
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
        text, filename = _module_text(spec)
        anns = statement_annotations(text, filename, config)
        self.rules: dict[str, list[RuleSpec]] = {}
        for rule in spec.rules:
            if rule.statement:
                rule = rule_metadata(rule, anns.get(rule.statement, ()), filename)
                self.rules.setdefault(rule.statement, []).append(rule)
        self.periods = _batch_periods(self.module.plans)
        self.derived = {s.name for s in self.module.statements if s.insert_into}
        self.runtime = self.module.runtime(stats=ctx.stats)  # group evictions reach the run's stats
        self._event_streams = self.runtime.event_streams
        self._rejected_logged = 0
        try:
            from ..alerts import alert_from_row

            self._alert: Callable[..., Any] = alert_from_row
        except ImportError:  # pragma: no cover - alerts ships with the core
            self._alert = _fallback_alert

    def _pattern_drops(self) -> None:
        """h-patterns: what the pattern bounds dropped goes to the run's stats, by reason."""
        for st in self.runtime.stmts:
            # other statements hold the run's Stats; match_recognize counts like patterns (h-mrec)
            counts = st.stats if isinstance(st, (PatternStmt, MatchRecognizeStmt)) else None
            if counts:
                for reason, n in counts.items():
                    self.ctx.stats.drop(reason, n, self.spec.name)
                counts.clear()

    def _events(self, rows: list[Row]) -> list[Event]:
        self._pattern_drops()
        if not rows:
            return []
        events: list[Event] = []
        derived: dict[str, tuple[list[dict[str, Any]], list[int]]] = {}
        for row in rows:
            rules = self.rules.get(row.statement)
            if rules:
                p = self.periods.get(row.statement)
                window = (row.time_ms - p, row.time_ms) if p else None
                # a remove-stream row (select irstream/rstream) is an alert too, marked in its fields
                fields = {**row.values, "removed": True} if row.removed else row.values
                for rule in rules:
                    events.append(self._alert(rule, fields, row.time_ms, self.spec.name, window))
            if self.on_derived is not None and row.statement in self.derived and not row.removed:
                values, times = derived.setdefault(row.stream, ([], []))
                values.append(row.values)
                times.append(row.time_ms)  # the row's own event time (a level-2 run reads it)
        if self.on_derived is not None:
            for stream, (values, times) in derived.items():
                self.on_derived(stream, values, times)
        return events

    @property
    def streams(self) -> frozenset[str]:
        """The input streams the host should hand to ``on_batch``: flows, plus ``Alert`` and
        ``Metric`` when a statement reads them (a level-2 monitor), plus the declared schemas
        a statement reads (events of that type from a ``stream:`` input)."""
        return frozenset([FLOW, *self._event_streams])

    def on_batch(self, batch: FlowBatch) -> list[Event]:
        if batch.stream in self._event_streams:
            rows = self.runtime.on_events(batch)
            self._log_rejected()
            return self._events(rows)
        return self._events(self.runtime.on_batch(batch))

    def _log_rejected(self) -> None:
        """Events of a declared type that did not fit it: one warning each (the runtime
        keeps the first few; every one is counted in the drops)."""
        rejected = self.runtime.rejected
        while self._rejected_logged < len(rejected):
            self.ctx.logger.warning("%s: %s", self.spec.name, rejected[self._rejected_logged])
            self._rejected_logged += 1

    @property
    def reads_options(self) -> bool:
        """Whether a statement of the module reads the ``Options`` stream."""
        return OPTIONS in self.runtime.consumers

    def on_options(self, batch: FlowBatch) -> list[Event]:
        """Exporters' options records, for statements reading ``Options`` (nothing else
        sees them)."""
        if not self.reads_options:
            return []
        return self._events(self.runtime.on_options(batch))

    def on_watermark(self, watermark_ms: int) -> list[Event]:
        return self._events(self.runtime.on_watermark(watermark_ms))

    def flush(self) -> list[Event]:
        return self._events(self.runtime.flush())
