"""NetViewer's level-2 monitor: correlate what several gateway-level runs reported.

NetViewer ran a monitor at each gateway and a level-2 monitor over their results ("compute
top 10 IPs over all gateways", the same scanner seen at several gateways). Here each gateway
is a ``flowcep run --observer NAME`` writing alerts and metrics; the level-2 run reads them
back (``--input alerts:PATH``, one per gateway) as ``Alert`` and ``Metric`` events and runs
these two detectors (docs/level2.md):

* ``level2-scanners`` - one source flagged by a scan detector (``portscan-*`` and the
  multistage scan stages by default) at ``min_gateways`` (2) or more distinct gateways whose
  alerts' window ends are at most ``window`` (1 h) apart. The alert names the scanner, the
  gateways and, per gateway, the ids of the alerts that are the evidence. It is Python, not
  EPL: EPL can count the distinct gateways (docs/level2.md shows that statement) but has no
  aggregate that collects the gateway names and alert ids the alert must name.
* ``level2-top-talkers`` - per interval, the global top-N sources by bytes and by packets,
  merged from the gateways' ``trafficstats-top-talkers`` metrics. A gateway lists only its
  top K, so the merge is a bound, and the metric says whether it is exact: see
  :func:`merge_top`.
"""

from __future__ import annotations

import fnmatch
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from flowcep_plugin.api import (
    ALERT_STREAM,
    DURATION_SCHEMA,
    METRIC_STREAM,
    Context,
    DetectorSpec,
    Event,
    FlowBatch,
    RuleSpec,
    hookimpl,
    make_alert,
    make_metric,
    parse_duration,
)

__all__ = ["SCANNERS", "TOP_TALKERS", "GlobalTopTalkers", "MergedTop", "ScannerAtGateways", "merge_top",
           "flowcep_register_detectors"]

SCANNER_RULE = RuleSpec(
    id="level2-scanner-gateways", name="Scanner seen at several gateways",
    description="One source flagged by scan detectors at two or more gateways within the window.",
    severity="high", risk_score=73, technique=("T1046", "T1595"),
    references=("NetViewer (Stanford PAVG): hierarchical monitors correlating level-1 monitors' scan alarms",),
)
TOP_RULE = RuleSpec(
    id="level2-top-talkers", name="Global top talkers",
    description="Sources sending the most bytes and packets over all gateways in one interval, with "
                "bounds when a gateway's list was cut.",
    kind="metric",
    references=("NetViewer (Stanford PAVG): level-2 monitor computing the top 10 IPs over all gateways",
                "Cao and Wang, Efficient top-K query calculation in distributed networks (PODC 2004): "
                "the threshold bound"),
)

#: Evidence alert ids kept per gateway and scanner (the count stays exact past it).
MAX_IDS = 32
#: Gateways kept per scanner, and per top-talker interval.
MAX_GATEWAYS = 1024
#: Distinct rule ids kept per gateway and scanner.
MAX_RULES = 64

SCANNER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "window": {**DURATION_SCHEMA, "description": "most time between two gateways' alerts (1 h)"},
        "min_gateways": {"type": "integer", "minimum": 2, "maximum": 1000,
                         "description": "distinct gateways that must flag the source (2)"},
        "rules": {"type": "array", "minItems": 1, "items": {"type": "string", "minLength": 1},
                  "description": "rule ids (shell patterns) of the scan detectors"},
        "max_sources": {"type": "integer", "minimum": 1,
                        "description": "scanners remembered at once; the least recently flagged is "
                                       "forgotten past it (level2.sources_evicted)"},
    },
}
SCANNER_DEFAULTS: dict[str, Any] = {
    "window": "1h",
    "min_gateways": 2,
    "rules": ["portscan-*", "multistage-tcp-syn-scan", "multistage-http-scan"],
    "max_sources": 100_000,
}


@dataclass
class _Evidence:
    """What one gateway said about one source: its latest alert time, alert ids, rules."""

    first_ms: int
    last_ms: int
    ids: list[str] = field(default_factory=list)
    more_ids: int = 0
    rules: set[str] = field(default_factory=set)


@dataclass
class _Source:
    gateways: dict[str, _Evidence] = field(default_factory=dict)
    reported: set[str] = field(default_factory=set)  # gateways the last alert named


def _addresses(value: Any) -> list[str]:
    if isinstance(value, str) and value:
        return [value]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str) and v]
    return []


class ScannerAtGateways:
    """The same source flagged as a scanner at two or more gateways within a window.

    Alerts arrive in event-time order (the host's clock), so a gateway's evidence expires when
    a later alert is more than ``window`` after its latest alert, and a source whose evidence
    all expired is forgotten at the next watermark. A source is reported when it reaches
    ``min_gateways``, and again whenever another gateway joins or a gateway adds a new alert
    about it (the suppressor folds those into revisions of one alert, so its last revision
    names all the evidence).
    """

    name = "level2-scanners"
    streams = frozenset({ALERT_STREAM})

    def __init__(self, config: Mapping[str, Any], ctx: Context) -> None:
        self.window_ms = int(parse_duration(config["window"]) * 1000)
        self.window_text = str(config["window"])
        self.min_gateways = int(config["min_gateways"])
        self.patterns = tuple(str(p) for p in config["rules"])
        self.max_sources = int(config["max_sources"])
        self.stats = ctx.stats
        #: source -> evidence, least recently flagged first (event time): an OrderedDict, as
        #: expiry and eviction pop from the front (a dict would rescan its deleted slots)
        self.sources: OrderedDict[str, _Source] = OrderedDict()
        self._match: dict[str, bool] = {}

    def _is_scan(self, rule: Any) -> bool:
        if not isinstance(rule, str):
            return False
        hit = self._match.get(rule)
        if hit is None:
            hit = any(fnmatch.fnmatchcase(rule, p) for p in self.patterns)
            if len(self._match) < 10_000:
                self._match[rule] = hit
        return hit

    def on_batch(self, batch: FlowBatch) -> list[Event]:
        if batch.stream != ALERT_STREAM or not batch.length:
            return []
        rules = batch.get("rule.id")
        sources = batch.get("source.ip")
        gateways = batch.get("flowcep.gateway")
        ids = batch.get("flowcep.alert_id")
        starts = batch.get("event.start")
        times = batch.event_times()
        out: list[Event] = []
        for i in range(batch.length):
            if not self._is_scan(rules[i]):
                continue
            start = starts[i] if isinstance(starts[i], int) else times[i]
            for src in _addresses(sources[i]):
                self._add(src, str(gateways[i]), ids[i], str(rules[i]), start, times[i], out)
        return out

    def _add(self, src: str, gateway: str, alert_id: Any, rule: str, start: int, t: int,
             out: list[Event]) -> None:
        s = self.sources.get(src)
        if s is None:
            s = self.sources[src] = _Source()
            if len(self.sources) > self.max_sources:
                self.sources.popitem(last=False)
                self.stats.add("level2.sources_evicted")
        else:
            self.sources.move_to_end(src)  # the most recently flagged
        horizon = t - self.window_ms
        expired = [g for g, ev in s.gateways.items() if ev.last_ms < horizon]
        if expired:
            for gw in expired:
                del s.gateways[gw]
            s.reported &= set(s.gateways)
        ev = s.gateways.get(gateway)
        if ev is None:
            if len(s.gateways) >= MAX_GATEWAYS:
                self.stats.add("level2.gateways_not_kept")
                return
            ev = s.gateways[gateway] = _Evidence(first_ms=start, last_ms=t)
        ev.first_ms = min(ev.first_ms, start)
        ev.last_ms = max(ev.last_ms, t)
        fresh = rule not in ev.rules and len(ev.rules) < MAX_RULES
        if fresh:
            ev.rules.add(rule)
        if isinstance(alert_id, str) and alert_id not in ev.ids:
            fresh = True
            if len(ev.ids) < MAX_IDS:
                ev.ids.append(alert_id)
            else:
                ev.more_ids += 1
        if len(s.gateways) < self.min_gateways:
            return
        if fresh or any(g not in s.reported for g in s.gateways):
            # a new gateway, or new evidence from one: the alert again (the suppressor makes
            # it a revision of the open one, whose last revision then names every alert id)
            s.reported = set(s.gateways)
            out.append(self._alert(src, s, t))

    def _alert(self, src: str, s: _Source, t: int) -> Event:
        names = sorted(s.gateways)
        first = min(ev.first_ms for ev in s.gateways.values())
        alert_ids = {g: list(s.gateways[g].ids) for g in names}
        total = sum(len(ev.ids) + ev.more_ids for ev in s.gateways.values())
        rules = sorted({r for ev in s.gateways.values() for r in ev.rules})
        return make_alert(
            SCANNER_RULE, time_ms=t, detector=self.name, source_ip=src, key=src,
            counts={"gateways": len(names), "alerts": total},
            summary=f"{src} flagged by scan detectors at {len(names)} gateways ({', '.join(names)}) "
                    f"within {self.window_text}",
            window=(first, t),
            fields={"gateways": names, "alert_ids": alert_ids, "rules": rules},
        )

    def on_watermark(self, watermark_ms: int) -> list[Event]:
        horizon = watermark_ms - self.window_ms
        sources = self.sources
        while sources:
            src, s = sources.popitem(last=False)
            if any(ev.last_ms >= horizon for ev in s.gateways.values()):
                sources[src] = s
                sources.move_to_end(src, last=False)
                break
        return []

    def flush(self) -> list[Event]:
        self.sources.clear()
        return []


# -- global top talkers ------------------------------------------------------------------------


@dataclass
class MergedTop:
    """The merged top-N for one measure.

    ``entries``: (source, lower, upper) by lower bound, descending: the source sent at least
    ``lower`` (the sum of what the gateways listing it reported) and at most ``upper`` (plus,
    for each gateway whose list was cut without it, that list's smallest value; None when a
    gateway's list gives no bound).
    ``unlisted_max``: the most a source on no list can have sent. ``certain``: the entries
    are the true top N in the true order (each one's lower bound is at least the upper bound
    of everything ranked after it; ties aside), though their values may be bounds.
    ``exact``: certain, and every value is exact (lower == upper).
    """

    entries: list[tuple[str, int, int | None]]
    unlisted_max: int | None
    certain: bool
    exact: bool


def merge_top(lists: Mapping[str, tuple[list[tuple[str, int]], bool]], n: int,
              disjoint: bool = False) -> MergedTop:
    """Merge per-gateway top-K lists into the global top ``n``, with bounds.

    ``lists``: gateway -> (its list as (source, value), descending; whether the list is
    complete, i.e. holds every source the gateway saw). A source missing from a cut list sent
    at most that list's smallest value there (its threshold); from a complete list, nothing.
    This is the threshold argument of distributed top-k (Fagin's TA, Cao and Wang's TPUT):

    * lower(s) = sum of the values listed for s; upper(s) = lower(s) + the thresholds of the
      cut lists that do not list s; a source on no list has at most the sum of all thresholds.
    * The reported top ``n`` (by lower bound) is *certain* (the true top ``n``, in order)
      when each entry's lower bound is at least every upper bound ranked after it, the
      sources left out and the unlisted bound included; *exact* when it is certain and every
      reported value has lower == upper.

    So the merge is exact when every list is complete, and in general becomes exact as K grows
    past N (thresholds fall). ``disjoint=True`` is the operator's statement that each source
    is seen at one gateway only (gateways in front of different address blocks, sources split
    by address): then a listed value is the source's total, a source on no list has at most
    the largest threshold, and K >= N per gateway always gives the exact global top-N. A source
    listed at two gateways contradicts it: the general bound is used instead.
    """
    thresholds: dict[str, int | None] = {}
    lower: dict[str, int] = {}
    listed_at: dict[str, set[str]] = {}
    for gw, (listed, complete) in lists.items():
        if complete:
            thresholds[gw] = 0
        else:
            thresholds[gw] = min((v for _, v in listed), default=None)  # None: no bound at all
        for src, v in listed:
            lower[src] = lower.get(src, 0) + v
            listed_at.setdefault(src, set()).add(gw)
    if disjoint and any(len(g) > 1 for g in listed_at.values()):
        disjoint = False
    unbounded = any(t is None for t in thresholds.values())
    cut = {gw: t for gw, t in thresholds.items() if t}

    def upper(src: str) -> int | None:
        if disjoint:
            return lower[src]
        if unbounded:
            return None
        return lower[src] + sum(t for gw, t in cut.items() if gw not in listed_at[src] and t is not None)

    ranked = sorted(lower, key=lambda s: (-lower[s], s))
    top = ranked[:n]
    entries = [(src, lower[src], upper(src)) for src in top]
    unlisted: int | None
    if unbounded:
        unlisted = None
    elif disjoint:
        unlisted = max((t for t in cut.values() if t is not None), default=0)
    else:
        unlisted = sum(t for t in cut.values() if t is not None)
    # fewer than n sources listed: any unlisted source that sent something would belong
    certain = not unbounded and (len(top) == n or not unlisted)
    if certain:
        rest = [upper(s) for s in ranked[n:]] + [unlisted]
        best_after = max((r for r in rest if r is not None), default=0)
        for _src, lo, up in reversed(entries):  # each entry against everything after it
            if lo < best_after:
                certain = False
                break
            best_after = max(best_after, up if up is not None else lo)
    exact = certain and all(lo == up for _s, lo, up in entries)
    return MergedTop(entries, unlisted, certain, exact)


TOP_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "top_n": {"type": "integer", "minimum": 1, "maximum": 1000, "description": "talkers listed (10)"},
        "metric_rule": {"type": "string", "minLength": 1,
                        "description": "rule id of the gateways' top-talker metrics (trafficstats-top-talkers)"},
        "disjoint_sources": {"type": "boolean",
                             "description": "each source is seen at one gateway only (your statement, see "
                                            "docs/level2.md): then K >= N per gateway gives the exact top-N"},
        "max_intervals": {"type": "integer", "minimum": 1,
                          "description": "intervals held open at once; past it the oldest is merged early "
                                         "(level2.intervals_closed_early)"},
    },
}
TOP_DEFAULTS: dict[str, Any] = {"top_n": 10, "metric_rule": "trafficstats-top-talkers",
                                "disjoint_sources": False, "max_intervals": 1000}

_MEASURES = (("by_bytes", "bytes"), ("by_packets", "packets"))


def _gateway_list(value: Any, measure: str) -> list[tuple[str, int]]:
    """A metric's list as (source, value), descending; malformed items are left out."""
    out: list[tuple[str, int]] = []
    if isinstance(value, list):
        for item in value:
            if isinstance(item, dict):
                ip, v = item.get("ip"), item.get(measure)
                if isinstance(ip, str) and isinstance(v, int) and not isinstance(v, bool) and v >= 0:
                    out.append((ip, v))
    out.sort(key=lambda e: (-e[1], e[0]))
    return out


class GlobalTopTalkers:
    """Global top-N talkers per interval, merged from the gateways' top-talker metrics.

    A gateway's metric for interval [start, end) has event time ``end``; the host's clock
    releases it once the watermark (the slowest gateway's, minus the lateness) passes ``end``,
    in the same step as every other gateway's metric for that interval, and that step's
    watermark closes the interval here. Gateways must use the same trafficstats interval
    (epoch-aligned windows then have the same bounds); a later document of the same gateway
    and interval replaces the earlier one.
    """

    name = "level2-top-talkers"
    streams = frozenset({METRIC_STREAM})

    def __init__(self, config: Mapping[str, Any], ctx: Context) -> None:
        self.top_n = int(config["top_n"])
        self.metric_rule = str(config["metric_rule"])
        self.disjoint = bool(config["disjoint_sources"])
        self.max_intervals = int(config["max_intervals"])
        self.stats = ctx.stats
        #: (start, end) -> gateway -> {"by_bytes": list, "by_packets": list, "sources": int}
        self.open: dict[tuple[int, int], dict[str, dict[str, Any]]] = {}
        #: open intervals that lost a gateway's list to the bound: never certain nor exact
        self.partial: set[tuple[int, int]] = set()
        self.closed_to = -(2**63)

    def on_batch(self, batch: FlowBatch) -> list[Event]:
        if batch.stream != METRIC_STREAM or not batch.length:
            return []
        rules = batch.get("rule.id")
        starts = batch.get("flowcep.window.start")
        ends = batch.get("flowcep.window.end")
        gateways = batch.get("flowcep.gateway")
        lists = {m: batch.get(f"flowcep.metrics.{m}") for m, _ in _MEASURES}
        counts = batch.get("flowcep.metrics.sources")
        times = batch.event_times()
        out: list[Event] = []
        for i in range(batch.length):
            if rules[i] != self.metric_rule:
                continue
            end = ends[i] if isinstance(ends[i], int) else times[i]
            start = starts[i] if isinstance(starts[i], int) else end
            if end <= self.closed_to:
                self.stats.add("level2.late_metrics")
                continue
            key = (start, end)
            if key not in self.open and len(self.open) >= self.max_intervals:
                out.extend(self._close(min(self.open), early=True))
                self.stats.add("level2.intervals_closed_early")
            sources = counts[i] if isinstance(counts[i], int) and not isinstance(counts[i], bool) else None
            per_gateway = self.open.setdefault(key, {})
            if str(gateways[i]) not in per_gateway and len(per_gateway) >= MAX_GATEWAYS:
                self.stats.add("level2.gateways_not_kept")
                self.partial.add(key)
                continue
            per_gateway[str(gateways[i])] = {
                **{m: _gateway_list(lists[m][i], measure) for m, measure in _MEASURES}, "sources": sources}
        return out

    def _close(self, key: tuple[int, int], early: bool = False) -> list[Event]:
        """The merged metric of one interval. Merged early (the open-interval bound) or
        without some gateway's list (the gateway bound), it claims neither certainty nor
        exactness: a list it did not see could change the ranking."""
        per_gateway = self.open.pop(key)
        partial = early or key in self.partial
        self.partial.discard(key)
        start, end = key
        self.closed_to = max(self.closed_to, end)
        metrics: dict[str, Any] = {"gateways": sorted(per_gateway), "exact": {}, "certain": {},
                                   "unlisted_max": {}}
        if partial:
            metrics["partial"] = True
        for m, measure in _MEASURES:
            lists: dict[str, tuple[list[tuple[str, int]], bool]] = {}
            for gw, doc in per_gateway.items():
                listed: list[tuple[str, int]] = doc[m]
                # complete: the gateway listed every source it saw (sources unknown: assume cut)
                complete = doc["sources"] is not None and doc["sources"] <= len(listed)
                lists[gw] = (listed, complete)
            merged = merge_top(lists, self.top_n, self.disjoint)
            metrics[m] = [{"ip": ip, measure: lo, f"{measure}_max": hi} for ip, lo, hi in merged.entries]
            metrics["exact"][measure] = merged.exact and not partial
            metrics["certain"][measure] = merged.certain and not partial
            metrics["unlisted_max"][measure] = merged.unlisted_max
        top = metrics["by_bytes"][0] if metrics["by_bytes"] else None
        quality = ("exact" if metrics["exact"]["bytes"] else
                   "ranking certain, bytes a lower bound" if metrics["certain"]["bytes"] else
                   "lower bounds; see bytes_max and unlisted_max")
        summary = (f"global top talker {top['ip']} sent {top['bytes']} bytes over {len(per_gateway)} gateways"
                   f" ({quality})" if top else f"no talkers over {len(per_gateway)} gateways")
        return [make_metric(TOP_RULE, time_ms=end, detector=self.name, window=(start, end), metrics=metrics,
                            summary=summary)]

    def on_watermark(self, watermark_ms: int) -> list[Event]:
        out: list[Event] = []
        for key in sorted(k for k in self.open if k[1] <= watermark_ms):
            out.extend(self._close(key))
        return out

    def flush(self) -> list[Event]:
        out: list[Event] = []
        for key in sorted(self.open):
            out.extend(self._close(key))
        return out


SCANNERS = DetectorSpec(
    name="level2-scanners",
    summary="Level-2 monitor: a source flagged by scan detectors at two or more gateways within a window "
            "(reads gateway runs' alerts: --input alerts:PATH)",
    factory=ScannerAtGateways,
    rules=(SCANNER_RULE,),
    config_schema=SCANNER_SCHEMA,
    defaults=SCANNER_DEFAULTS,
    references=SCANNER_RULE.references,
    # it reads no flows: under --workers it needs none of them (gateway documents go to
    # worker 0, whole), so it must not make a worker keep every flow as 'global' would
    partition="source",
)

TOP_TALKERS = DetectorSpec(
    name="level2-top-talkers",
    summary="Level-2 monitor: global top-N talkers per interval merged from gateways' trafficstats-top-talkers, "
            "exact or with bounds (reads gateway runs' metrics: --input alerts:PATH)",
    factory=GlobalTopTalkers,
    rules=(TOP_RULE,),
    config_schema=TOP_SCHEMA,
    defaults=TOP_DEFAULTS,
    references=TOP_RULE.references,
    # it reads no flows: under --workers it needs none of them (gateway documents go to
    # worker 0, whole), so it must not make a worker keep every flow as 'global' would
    partition="source",
)


@hookimpl
def flowcep_register_detectors() -> list[DetectorSpec]:
    return [SCANNERS, TOP_TALKERS]
