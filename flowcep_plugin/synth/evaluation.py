"""Score alerts against scenario labels: precision and recall per detector and rule.

Matching (documented in docs/evaluation.md). An alert (``event.kind == "alert"``) matches a
label when all three hold:

- *who*: for ``match == "attacker"`` labels, the alert's ``source.ip`` is one of the label's
  attackers; for ``match == "victim"`` labels (spoofed floods, reflection), the alert's
  ``destination.ip`` is one of the victims (addresses or CIDRs) or its source one of the
  attackers (reflectors);
- *what*: one of the alert's most specific technique ids (its
  ``threat.technique.subtechnique.id`` values, and the ``threat.technique.id`` values it
  gives no sub-technique for) is in the label's ``techniques``, or is a sub-technique of one
  of them, or one of them is a sub-technique of it (a bare ``T1110`` matches a ``T1110.001``
  label; ``T1595.001``, scanning IP blocks, does not match a ``T1595.003`` wordlist-scan
  label); an alert without a technique matches only labels with ``accept_untagged``
  (policy violations);
- *when*: the alert's time span (``@timestamp``, ``event.start/end``,
  ``flowcep.first_seen/last_seen``, ``flowcep.window``) overlaps the label's span widened by
  ``slack_before``/``slack_after`` (windows close after the traffic that fills them).

An alert that matches no label is a false positive. Precision of a rule = matched alerts /
alerts. Recall of a rule = labels it matched / labels it is *expected* to find, where the
expected labels are those, across every evaluated scenario, of a *kind* — (``attack``,
``pattern``), e.g. (``portscan-horizontal``, ``scan-horizontal``) or (``multistage-http``,
``http-scan``) — the rule matched at least once, or, for a rule that matched nothing, the
labels whose primary ``technique`` is one the rule declares (``RuleSpec.technique``) and that
no other rule of its detector found (a flag-scan rule declaring T1046 does not owe the SYN
scans its detector's horizontal rule found). So a
rule that finds a horizontal scan in one scenario and misses the same kind of scan in another
has recall 0.5; a multi-stage correlation rule is not expected to find lone port scans; a
rule declaring ``T1595.003`` that finds no HTTP scan has recall 0; a rule for traffic no
scenario contains (ICMP sweeps) shows "-".
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "ScenarioResult",
    "RuleScore",
    "Report",
    "evaluate",
    "alert_matches",
    "technique_fits",
    "render",
]

SLACK_BEFORE_MS = 60_000
SLACK_AFTER_MS = 30 * 60_000


@dataclass
class ScenarioResult:
    """One scenario's labels (label JSON documents) and the events the detectors produced."""

    scenario: str
    labels: list[dict[str, Any]]
    events: list[dict[str, Any]]


@dataclass
class RuleScore:
    detector: str
    rule: str
    alerts: int = 0
    true_positives: int = 0
    false_positives: int = 0
    hits: set[tuple[str, str]] = field(default_factory=set)  # (scenario, label id)
    expected: set[tuple[str, str]] = field(default_factory=set)
    patterns: set[str] = field(default_factory=set)
    kinds: set[tuple[str, str]] = field(default_factory=set)  # (attack, pattern) of labels hit
    false_alerts: list[dict[str, Any]] = field(default_factory=list)

    @property
    def precision(self) -> float | None:
        return self.true_positives / self.alerts if self.alerts else None

    @property
    def recall(self) -> float | None:
        return len(self.hits & self.expected) / len(self.expected) if self.expected else None

    def to_json(self) -> dict[str, Any]:
        return {
            "detector": self.detector, "rule": self.rule, "alerts": self.alerts,
            "true_positives": self.true_positives, "false_positives": self.false_positives,
            "precision": self.precision, "recall": self.recall,
            "labels_found": len(self.hits & self.expected), "labels_expected": len(self.expected),
            "patterns": sorted(self.patterns),
            "missed": sorted(f"{s}/{lb}" for s, lb in self.expected - self.hits),
            "false_alerts": [_alert_brief(a) for a in self.false_alerts[:20]],
        }


@dataclass
class Report:
    rules: list[RuleScore]
    detectors: list[RuleScore]
    labels: list[dict[str, Any]]  # one row per label: scenario, id, pattern, detected_by
    scenarios: list[str]

    @property
    def labels_detected(self) -> int:
        return sum(1 for row in self.labels if row["detected_by"])

    @property
    def false_positives(self) -> int:
        return sum(r.false_positives for r in self.rules)

    def to_json(self) -> dict[str, Any]:
        return {
            "scenarios": self.scenarios,
            "summary": {"labels": len(self.labels), "labels_detected": self.labels_detected,
                        "false_positives": self.false_positives},
            "detectors": [d.to_json() for d in self.detectors],
            "rules": [r.to_json() for r in self.rules],
            "labels": self.labels,
        }


# -- field access (ECS values may be scalars or lists) -----------------------------------


def _get(doc: Mapping[str, Any], dotted: str) -> Any:
    if dotted in doc:
        return doc[dotted]
    cur: Any = doc
    for part in dotted.split("."):
        if not isinstance(cur, Mapping) or part not in cur:
            return None
        cur = cur[part]
    return cur


def _values(v: Any) -> list[Any]:
    if v is None:
        return []
    if isinstance(v, list | tuple | set):
        return [x for x in v if x is not None]
    return [v]


def _ms(text: Any) -> int | None:
    if text is None:
        return None
    if isinstance(text, int | float):
        return int(text)
    try:
        t = dt.datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        return None
    if t.tzinfo is None:
        t = t.replace(tzinfo=dt.UTC)
    return int(t.timestamp() * 1000)


def alert_span(alert: Mapping[str, Any]) -> tuple[int, int] | None:
    times = [_ms(_get(alert, k)) for k in ("@timestamp", "event.start", "event.end", "flowcep.first_seen",
                                          "flowcep.last_seen", "flowcep.window.start", "flowcep.window.end")]
    known = [t for t in times if t is not None]
    return (min(known), max(known)) if known else None


def alert_techniques(alert: Mapping[str, Any]) -> list[str]:
    """The most specific MITRE ids of an alert: its sub-techniques, plus the techniques
    for which it names no sub-technique (``T1595`` + ``T1595.001`` -> ``T1595.001``)."""
    subs = [str(t) for t in _values(_get(alert, "threat.technique.subtechnique.id"))]
    parents = [str(t) for t in _values(_get(alert, "threat.technique.id"))]
    return subs + [p for p in parents if not any(s.startswith(p + ".") for s in subs)]


def rule_key(alert: Mapping[str, Any]) -> tuple[str, str]:
    """(detector, rule) naming an alert's origin."""
    rule = _get(alert, "rule.id") or _get(alert, "rule.name") or "?"
    det = _get(alert, "flowcep.detector") or _get(alert, "rule.ruleset") or str(rule).split("-")[0]
    return str(det), str(rule)


def technique_fits(alert_ids: Iterable[str], label_ids: Iterable[str]) -> bool:
    """Same technique, or one is a sub-technique of the other (``T1110`` ~ ``T1110.001``)."""
    label_ids = list(label_ids)
    for a in alert_ids:
        for lb in label_ids:
            if a == lb or a.startswith(lb + ".") or lb.startswith(a + "."):
                return True
    return False


def _in_any(addr: str, nets: Sequence[str]) -> bool:
    try:
        ip = ipaddress.ip_address(addr)
    except ValueError:
        return False
    for n in nets:
        try:
            if ip in ipaddress.ip_network(n, strict=False):
                return True
        except ValueError:
            continue
    return False


def alert_matches(alert: Mapping[str, Any], label: Mapping[str, Any], slack_before_ms: int = SLACK_BEFORE_MS,
                  slack_after_ms: int = SLACK_AFTER_MS) -> bool:
    """Whether ``alert`` detects ``label`` (see the module docstring)."""
    srcs = [str(s) for s in _values(_get(alert, "source.ip"))]
    dsts = [str(d) for d in _values(_get(alert, "destination.ip"))]
    attackers = list(label.get("attackers") or ([label["attacker"]] if label.get("attacker") else []))
    who = any(s in attackers for s in srcs)
    if not who and label.get("match") == "victim":
        who = any(_in_any(d, label.get("victims", [])) for d in dsts)
    if not who:
        return False
    techs = alert_techniques(alert)
    if techs:
        if not technique_fits(techs, label.get("techniques") or [label.get("technique", "")]):
            return False
    elif not label.get("accept_untagged"):
        return False
    span = alert_span(alert)
    if span is None:
        return True
    return bool(span[1] >= label["start_ms"] - slack_before_ms and span[0] <= label["end_ms"] + slack_after_ms)


def _alert_brief(a: Mapping[str, Any]) -> dict[str, Any]:
    return {"@timestamp": _get(a, "@timestamp"), "rule": _get(a, "rule.id") or _get(a, "rule.name"),
            "source.ip": _get(a, "source.ip"), "destination.ip": _values(_get(a, "destination.ip"))[:5],
            "message": _get(a, "message")}


def _kind(label: Mapping[str, Any]) -> tuple[str, str]:
    return str(label.get("attack", "")), str(label.get("pattern", ""))


def evaluate(results: Sequence[ScenarioResult],
             rule_techniques: Mapping[str, tuple[str, Sequence[str]]] | None = None) -> Report:
    """Score every alert of every scenario; ``rule_techniques`` (rule id -> (detector,
    declared MITRE ids), from the registry) lists the rules that ran, so one that never
    fired still gets a row, and sets the expectations of rules that matched nothing."""
    scores: dict[tuple[str, str], RuleScore] = {}
    all_labels: list[tuple[str, dict[str, Any]]] = [(r.scenario, lb) for r in results for lb in r.labels]
    detected: dict[tuple[str, str], set[str]] = {(s, lb["id"]): set() for s, lb in all_labels}
    for res in results:
        for alert in res.events:
            if (_get(alert, "event.kind") or "alert") != "alert":
                continue
            key = rule_key(alert)
            sc = scores.setdefault(key, RuleScore(*key))
            sc.alerts += 1
            hit = [lb for lb in res.labels if alert_matches(alert, lb)]
            if hit:
                sc.true_positives += 1
                for lb in hit:
                    sc.hits.add((res.scenario, lb["id"]))
                    sc.patterns.add(lb.get("pattern", ""))
                    sc.kinds.add(_kind(lb))
                    detected[(res.scenario, lb["id"])].add(key[1])
            else:
                sc.false_positives += 1
                sc.false_alerts.append(alert)
    for rid, (det, _techs) in (rule_techniques or {}).items():
        if not any(k[1] == rid for k in scores):
            scores[(det, rid)] = RuleScore(det, rid)
    found_by: dict[str, set[tuple[str, str]]] = defaultdict(set)  # detector -> labels its rules hit
    for (det, _rid), sc in scores.items():
        found_by[det] |= sc.hits
    for (det, rid), sc in scores.items():
        if sc.kinds:
            sc.expected = {(s, lb["id"]) for s, lb in all_labels if _kind(lb) in sc.kinds}
        else:
            # a rule that found nothing owes the labels of its techniques that no sibling rule
            # of its detector found (a FIN/NULL/Xmas rule does not owe the SYN scans its
            # detector's horizontal rule found, though both declare T1046)
            declared = list((rule_techniques or {}).get(rid, ("", ()))[1])
            sc.expected = {(s, lb["id"]) for s, lb in all_labels if lb.get("technique") in declared
                           and (s, lb["id"]) not in found_by[det]}
    rules = sorted(scores.values(), key=lambda r: (r.detector, r.rule))
    detectors: dict[str, RuleScore] = {}
    for r in rules:
        d = detectors.setdefault(r.detector, RuleScore(r.detector, "*"))
        d.alerts += r.alerts
        d.true_positives += r.true_positives
        d.false_positives += r.false_positives
        d.hits |= r.hits
        d.expected |= r.expected
        d.patterns |= r.patterns
        d.kinds |= r.kinds
        d.false_alerts += r.false_alerts
    label_rows = [{"scenario": s, "id": lb["id"], "attack": lb.get("attack"), "pattern": lb.get("pattern"),
                   "technique": lb.get("technique"), "detected_by": sorted(detected[(s, lb["id"])])}
                  for s, lb in all_labels]
    return Report(rules, sorted(detectors.values(), key=lambda d: d.detector), label_rows,
                  [r.scenario for r in results])


# -- rendering ----------------------------------------------------------------------------


def _fmt(v: float | None) -> str:
    return "-" if v is None else f"{v:.2f}"


def _rows(report: Report) -> list[list[str]]:
    rows = []
    for d in report.detectors:
        for r in [x for x in report.rules if x.detector == d.detector] + [d]:
            rows.append([r.detector, "(all rules)" if r.rule == "*" else r.rule, str(r.alerts),
                         str(r.true_positives), str(r.false_positives), _fmt(r.precision),
                         f"{len(r.hits & r.expected)}/{len(r.expected)}", _fmt(r.recall),
                         ", ".join(sorted(r.patterns)) or "-"])
    return rows


_HEAD = ["detector", "rule", "alerts", "TP", "FP", "precision", "found", "recall", "patterns"]
_LHEAD = ["scenario", "label", "pattern", "technique", "detected by"]


def _lrows(report: Report) -> list[list[str]]:
    return [[r["scenario"], r["id"], r["pattern"] or "", r["technique"] or "",
             ", ".join(r["detected_by"]) or "MISSED"] for r in report.labels]


def _text_table(head: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(head[i]), *(len(r[i]) for r in rows)) if rows else len(head[i]) for i in range(len(head))]

    def line(cells: list[str]) -> str:
        return "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()

    return "\n".join([line(head), line(["-" * w for w in widths])] + [line(r) for r in rows])


def _md_table(head: list[str], rows: list[list[str]]) -> str:
    out = ["| " + " | ".join(head) + " |", "|" + "|".join(" --- " for _ in head) + "|"]
    out += ["| " + " | ".join(c.replace("|", "\\|") for c in r) + " |" for r in rows]
    return "\n".join(out)


def _summary(report: Report) -> str:
    return (f"scenarios: {', '.join(report.scenarios)}\n"
            f"labels detected: {report.labels_detected}/{len(report.labels)}; "
            f"false positive alerts: {report.false_positives}")


def render(report: Report, fmt: str = "table") -> str:
    """The report as ``table`` (aligned text), ``markdown`` or ``json``."""
    if fmt == "json":
        return json.dumps(report.to_json(), indent=1)
    if fmt == "markdown":
        return (_md_table(_HEAD, _rows(report)) + "\n\n" + _md_table(_LHEAD, _lrows(report)) + "\n\n"
                + _summary(report).replace("\n", "  \n") + "\n")
    fps = [f"  FP {r.rule}: {_alert_brief(a)}" for r in report.rules for a in r.false_alerts[:5]]
    return "\n\n".join(x for x in (_text_table(_HEAD, _rows(report)), _text_table(_LHEAD, _lrows(report)),
                                    "\n".join(fps), _summary(report)) if x) + "\n"


# -- running the detectors on scenarios -----------------------------------------------------


def policy_config(hints: Mapping[str, Any]) -> dict[str, Any]:
    """Config for the ``policy`` detector that states the scenario organisation's policy (the
    one its policy-violation label breaks); detectors otherwise run with their defaults."""
    pol = hints.get("policy") or {}
    return {"detectors": {"policy": {"policies": [{
        "name": "file-server",
        "description": "SMB/NetBIOS/telnet on the file server only from the admin host",
        "destinations": list(pol.get("restricted_hosts", [])),
        "ports": list(pol.get("restricted_ports", [])),
        "allowed_sources": list(pol.get("allowed_sources", [])),
    }]}}}


def _merge(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, Mapping) and isinstance(out.get(k), dict) else v
    return out


def declared_techniques(detectors: Sequence[str] | None = None) -> dict[str, tuple[str, list[str]]]:
    """Rule id -> (detector, MITRE ids) declared by the RuleSpecs of the installed detectors
    (of ``detectors`` only, when given); empty when the registry cannot be built."""
    try:
        from ..manager import make_plugin_manager
        from ..registry import Registry

        reg = Registry.build(make_plugin_manager())
    except Exception:  # evaluation still works from the alerts alone
        return {}
    out: dict[str, tuple[str, list[str]]] = {}
    for name, spec in reg.detectors.items():
        if detectors is not None and name not in detectors:
            continue
        for rule in getattr(spec, "rules", ()):
            if rule.kind == "alert":
                out[rule.id] = (name, list(rule.technique))
    return out


def installed_detectors() -> list[str]:
    try:
        from ..manager import make_plugin_manager
        from ..registry import Registry

        return sorted(Registry.build(make_plugin_manager()).detectors)
    except Exception:
        return []


def run_scenarios(names: Sequence[str], workdir: str, seed: int = 1, detectors: Sequence[str] | None = None,
                  config: Mapping[str, Any] | None = None, durations: Mapping[str, float] | None = None,
                  via: str = "ipfix", start_ms: int | None = None) -> list[ScenarioResult]:
    """Generate each scenario in ``workdir``, run the detectors through
    :func:`flowcep_plugin.api.run` and collect the events with the labels.

    ``via="ipfix"`` feeds the flow records directly; ``via="pcap"`` writes packets (light
    background: 4 clients) and lets FlowCEP's own flow meter (biflows, Cisco timeouts)
    build the records, which tests the whole path and shows how detectors cope with metered
    flows."""
    import os

    from .. import api
    from .flows import write_ipfix
    from .model import DEFAULT_START_MS
    from .pcap_out import write_pcap
    from .scenarios import SCENARIOS, generate

    start = DEFAULT_START_MS if start_ms is None else start_ms
    have_policy = "policy" in installed_detectors() and (detectors is None or "policy" in detectors)
    out = []
    for name in names:
        dur = (durations or {}).get(name) or max(600, SCENARIOS[name].min_duration_s)
        if via == "pcap":
            scen = generate(name, seed, dur, start, clients=4)
            path = os.path.join(workdir, f"{name}.pcap")
            write_pcap(scen, path)
            path = f"pcap:{path}"
        else:
            scen = generate(name, seed, dur, start)
            path = os.path.join(workdir, f"{name}.ipfix")
            with open(path, "wb") as fp:
                write_ipfix(scen, fp)
        cfg: dict[str, Any] = policy_config(scen.hints) if have_policy else {}
        cfg = _merge(cfg, config or {})
        res = api.run(inputs=[path], detectors=list(detectors) if detectors is not None else None,
                      outputs=[], config=cfg)
        out.append(ScenarioResult(name, [lb.to_json() for lb in scen.labels], list(res.events)))
    return out
