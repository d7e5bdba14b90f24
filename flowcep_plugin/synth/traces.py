"""Score the installed detectors on labelled real captures (``flowcep evaluate --traces``).

A label file is a JSON list, one object per capture: ``file`` (relative to the traces
folder), ``category`` (``attack``, ``benign`` or ``oos`` for attacks outside every
detector's scope), ``kind``, ``attackers`` and ``victims`` (addresses or CIDRs).

Scoring, per capture (documented in docs/evaluation.md):

- an attack capture is *detected* when some alert's ``source.ip`` is a labelled attacker, or,
  for floods, reflection and smurf attacks (the attacker is spoofed or absent), some alert's
  ``destination.ip`` is a labelled victim;
- an alert on a benign capture counts against the detectors whatever it names;
- a *false accusation* is an alert ``source.ip`` that is not a labelled attacker (reflectors,
  victims, resolvers and clients must never appear there), counted on every capture,
  out-of-scope ones included.

Captures run in a process pool (each one is an independent ``api.run``), so the whole
development set takes about as long as its largest capture on two cores.
"""

from __future__ import annotations

import ipaddress
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["TraceResult", "TraceReport", "load_labels", "score_capture", "evaluate_traces",
           "render_traces"]

#: kinds whose attacker is spoofed or absent: a hit may name the victim as destination
VICTIM_KINDS = ("flood", "smurf", "reflection", "amplification")


@dataclass
class TraceResult:
    file: str
    category: str
    kind: str
    alerts: int = 0
    rules: list[str] = field(default_factory=list)
    detected: bool | None = None  # None for benign and out-of-scope captures
    false_accusations: list[str] = field(default_factory=list)
    error: str = ""


@dataclass
class TraceReport:
    captures: list[TraceResult]

    @property
    def attacks(self) -> int:
        return sum(1 for c in self.captures if c.category == "attack")

    @property
    def detected(self) -> int:
        return sum(1 for c in self.captures if c.detected)

    @property
    def recall(self) -> float | None:
        return self.detected / self.attacks if self.attacks else None

    @property
    def benign_alerts(self) -> int:
        return sum(c.alerts for c in self.captures if c.category == "benign")

    @property
    def false_accusations(self) -> int:
        return sum(len(c.false_accusations) for c in self.captures)

    @property
    def errors(self) -> int:
        return sum(1 for c in self.captures if c.error)

    def to_json(self) -> dict[str, Any]:
        return {"captures": [asdict(c) for c in self.captures],
                "total": {"attacks": self.attacks, "detected": self.detected, "recall": self.recall,
                          "benign_alerts": self.benign_alerts,
                          "false_accusations": self.false_accusations, "errors": self.errors}}


def load_labels(path: str) -> list[dict[str, Any]]:
    """The label list; one line naming the problem when it is not one."""
    from ..errors import ConfigError

    try:
        with open(path, encoding="utf-8") as fh:
            labels = json.load(fh)
    except OSError as e:
        raise ConfigError(f"--labels {path}: cannot read it ({e.strerror})") from None
    except json.JSONDecodeError as e:
        raise ConfigError(f"--labels {path}: not JSON ({e.msg} at line {e.lineno})") from None
    if not isinstance(labels, list) or not all(isinstance(x, dict) and "file" in x for x in labels):
        raise ConfigError(f"--labels {path}: expected a JSON list of objects with a 'file' key")
    return labels


def _inside(ip: str, nets: Iterable[str]) -> bool:
    try:
        a = ipaddress.ip_address(ip)
    except ValueError:
        return False
    for n in nets:
        try:
            if a in ipaddress.ip_network(n, strict=False):
                return True
        except ValueError:
            continue
    return False


def _flat(v: Any) -> list[str]:
    if isinstance(v, list):
        return [str(i) for i in v if i]
    return [str(v)] if v else []


def score_capture(label: Mapping[str, Any], alerts: Sequence[Mapping[str, Any]]) -> TraceResult:
    """Score one capture's alerts against its label (see the module docstring)."""
    attackers = list(label.get("attackers") or [])
    victims = list(label.get("victims") or [])
    kind = str(label.get("kind", ""))
    category = str(label.get("category", "attack"))
    sources = {ip for a in alerts for ip in _flat((a.get("source") or {}).get("ip"))}
    dests = {ip for a in alerts for ip in _flat((a.get("destination") or {}).get("ip"))}
    wrong = sorted(s for s in sources if not _inside(s, attackers))
    res = TraceResult(file=str(label["file"]), category=category, kind=kind, alerts=len(alerts),
                      rules=sorted({str((a.get("rule") or {}).get("id", "?")) for a in alerts}),
                      false_accusations=wrong)
    if category == "attack":
        by_victim = any(k in kind for k in VICTIM_KINDS) and any(_inside(d, victims) for d in dests)
        res.detected = any(_inside(s, attackers) for s in sources) or by_victim
    return res


def _run_one(args: tuple[str, dict[str, Any], Mapping[str, Any]]) -> TraceResult:
    path, label, config = args
    from .. import api

    try:
        result = api.run(inputs=[f"pcap:{path}"], outputs=[], config=config)
    except Exception as e:  # one unreadable capture must not hide the others' scores
        res = score_capture(label, [])
        res.error = f"{type(e).__name__}: {e}"
        return res
    return score_capture(label, result.alerts)


def evaluate_traces(traces_dir: str, labels: Sequence[Mapping[str, Any]],
                    config: Mapping[str, Any] | None = None, jobs: int | None = None) -> TraceReport:
    """Run every installed detector with ``config`` (default settings) on each labelled capture."""
    work = [(os.path.join(traces_dir, str(lb["file"])), dict(lb), dict(config or {})) for lb in labels]
    jobs = jobs or min(2, os.cpu_count() or 1)
    if jobs <= 1:
        results = [_run_one(w) for w in work]
    else:
        with ProcessPoolExecutor(max_workers=jobs) as ex:
            results = list(ex.map(_run_one, work))
    return TraceReport(results)


def render_traces(report: TraceReport, fmt: str = "table") -> str:
    if fmt == "json":
        return json.dumps(report.to_json(), indent=1) + "\n"
    md = fmt == "markdown"
    head = ("capture", "category", "kind", "alerts", "result", "rules", "falsely accused")
    rows = []
    for c in report.captures:
        result = {True: "detected", False: "MISSED", None: "-"}[c.detected]
        if c.error:
            result = "ERROR"
        rows.append((c.file, c.category, c.kind, str(c.alerts), result, ",".join(c.rules) or "-",
                     ",".join(c.false_accusations[:3]) + (" ..." if len(c.false_accusations) > 3 else "")
                     or "-"))
    recall = report.recall
    total = (f"recall on attacks: {report.detected}/{report.attacks}"
             f" ({recall:.2f})" if recall is not None else "recall on attacks: -")
    summary = (f"{total}; alerts on benign captures: {report.benign_alerts}; "
               f"false accusations: {report.false_accusations}"
               + (f"; errors: {report.errors}" if report.errors else ""))
    if md:
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        lines += ["| " + " | ".join(r) + " |" for r in rows]
        return "\n".join(lines) + "\n\n" + summary + "\n"
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(head)]
    fmt_row = "  ".join(f"{{:{w}}}" for w in widths)
    lines = [fmt_row.format(*head), fmt_row.format(*("-" * w for w in widths))]
    lines += [fmt_row.format(*r).rstrip() for r in rows]
    for c in report.captures:
        if c.error:
            lines.append(f"error in {c.file}: {c.error}")
    return "\n".join(lines) + "\n\n" + summary + "\n"
