"""Alert and metric documents (ECS), their schema, suppression, and windows for Python detectors.

Every detector, EPL or Python, ends here: an EPL row becomes a document through
:func:`alert_from_row`, a Python detector calls :func:`make_alert` / :func:`make_metric`. The
documents use ECS names so Elasticsearch, Kibana and Elastic Security's "External Alerts" rule
read them without a pipeline (``message``, ``event.severity`` 21/47/73/99, ``event.risk_score``,
``rule.*``, ``threat.*``); what ECS has no name for lives under ``flowcep.*``.

Choices written down here because the schema and the mappings follow them:

* ``event.severity`` is the number Elastic Security uses (low 21, medium 47, high 73,
  critical 99); the word is ``flowcep.severity`` (ECS has no label field under ``event``).
* ``flowcep.alert_id`` is a hash of (rule id, attacker key, suppression-window start): the
  Elasticsearch output uses it as ``_id``, so a replay of the same input writes the same ids.
  Updates of a suppressed alert keep the id and carry a higher ``flowcep.revision``. A metric
  row of an EPL statement (never suppressed; several may share key and instant) also hashes
  its values into the id.
* The attacker key (``flowcep.key``) is the source address when the rule names one, else the
  destination (floods are keyed on their victim), else ``"-"``.

Alerts are few (a handful per window), so plain dicts are fine here; nothing in this module
runs per flow record except the window bookkeeping of :class:`TumblingWindows`.
"""

from __future__ import annotations

import copy
import hashlib
import heapq
import json
import re
import string
from bisect import bisect_left
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache, partial
from importlib import resources
from itertools import islice
from operator import le
from typing import TYPE_CHECKING, Any

from .ecs import ECS_VERSION  # ``ecs.version`` in every alert and metric, as in flow documents
from .records import SAMPLING_APPLIED

if TYPE_CHECKING:
    from .records import FlowBatch
    from .specs import Event, RuleSpec
    from .stats import Stats

__all__ = [
    "SEVERITY",
    "TECHNIQUES",
    "TACTICS",
    "iso_ms",
    "ms_from_iso",
    "alert_id",
    "stamp_observer",
    "make_alert",
    "make_metric",
    "alert_from_row",
    "Suppressor",
    "format_alert_line",
    "alert_schema",
    "event_errors",
    "validate_event",
    "validate_technique",
    "ECS_VERSION",
    "TumblingWindows",
    "address_column",
    "int_column",
    "TRANSPORT",
]

#: Severity words -> Elastic Security's numeric severity (its prebuilt rules use these four).
SEVERITY: dict[str, int] = {"low": 21, "medium": 47, "high": 73, "critical": 99}

#: MITRE ATT&CK (enterprise) techniques the shipped detectors use: id -> (name, tactic ids).
TECHNIQUES: dict[str, tuple[str, tuple[str, ...]]] = {
    "T1046": ("Network Service Discovery", ("TA0007",)),
    "T1018": ("Remote System Discovery", ("TA0007",)),
    "T1595": ("Active Scanning", ("TA0043",)),
    "T1595.001": ("Scanning IP Blocks", ("TA0043",)),
    "T1595.002": ("Vulnerability Scanning", ("TA0043",)),
    "T1595.003": ("Wordlist Scanning", ("TA0043",)),
    "T1110": ("Brute Force", ("TA0006",)),
    "T1110.001": ("Password Guessing", ("TA0006",)),
    "T1110.003": ("Password Spraying", ("TA0006",)),
    "T1498": ("Network Denial of Service", ("TA0040",)),
    "T1498.001": ("Direct Network Flood", ("TA0040",)),
    "T1498.002": ("Reflection Amplification", ("TA0040",)),
    "T1499": ("Endpoint Denial of Service", ("TA0040",)),
    "T1499.001": ("OS Exhaustion Flood", ("TA0040",)),
    "T1499.002": ("Service Exhaustion Flood", ("TA0040",)),
    "T1021": ("Remote Services", ("TA0008",)),
    "T1190": ("Exploit Public-Facing Application", ("TA0001",)),
}

#: MITRE ATT&CK tactics: id -> name.
TACTICS: dict[str, str] = {
    "TA0001": "Initial Access",
    "TA0006": "Credential Access",
    "TA0007": "Discovery",
    "TA0008": "Lateral Movement",
    "TA0040": "Impact",
    "TA0043": "Reconnaissance",
}

_ATTACK_URL = "https://attack.mitre.org/"
_TECHNIQUE_ID = re.compile(r"^T\d{4}(\.\d{3})?$")
_TACTIC_ID = re.compile(r"^TA\d{4}$")


def validate_technique(technique_id: str, *, tactic: bool = False) -> str:
    """``technique_id`` if it is a well-formed MITRE ATT&CK id, else ValueError.

    Techniques are ``T`` plus four digits, sub-techniques add ``.`` and three digits
    (``T1110.003``); tactics (``tactic=True``) are ``TA`` plus four digits. A malformed id
    would put a dead link and an unsearchable value into ``threat.*``; a well-formed id that
    is not in :data:`TECHNIQUES` is accepted (the table only names the ones we ship), and its
    name in the alert is the id itself.
    """
    text = technique_id.strip() if isinstance(technique_id, str) else technique_id
    pattern = _TACTIC_ID if tactic else _TECHNIQUE_ID
    if not isinstance(text, str) or not pattern.match(text):
        want = "TA0007" if tactic else "T1046 or T1110.003"
        kind = "tactic" if tactic else "technique"
        raise ValueError(f"{technique_id!r} is not a MITRE ATT&CK {kind} id (like {want})")
    return text
#: a merged alert lists at most this many victims (its counts stay exact)
MERGED_DESTINATIONS = 1000
#: distinct victims remembered per open (suppressed) alert, and over all open alerts: a scan
#: of a /8 within the hour must not grow one alert without end; past it the message says
#: "at least" (about 100 B each, so the total holds about 100 MB)
MAX_DESTINATIONS = 65536
MAX_DESTINATIONS_TOTAL = 1_000_000
#: alerts held open for suppression at once (one per rule and attacker): spoofed attackers by
#: the million must not grow the table; past it the alert closing soonest is closed early
MAX_OPEN_ALERTS = 100_000


# -- time ---------------------------------------------------------------------------------


def iso_ms(ms: int | float) -> str:
    """Epoch milliseconds -> ISO 8601 UTC with milliseconds and ``Z`` (what ES parses)."""
    dt = datetime.fromtimestamp(int(ms) / 1000, tz=UTC)
    return dt.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def ms_from_iso(text: str) -> int:
    """ISO 8601 (``Z`` or offset) -> epoch milliseconds."""
    return int(round(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000))


def alert_id(rule_id: str, key: str, window_start_ms: int) -> str:
    """Deterministic document id: the same rule, key and window always give the same id."""
    raw = f"{rule_id}\x1f{key}\x1f{int(window_start_ms)}".encode()
    return hashlib.sha256(raw).hexdigest()[:32]


def stamp_observer(events: list[Event], name: str) -> list[Event]:
    """Write ``observer.name`` into every alert and metric of a run given ``--observer``.

    Two gateways that see the same scanner in the same window would otherwise give their
    alerts the same ``flowcep.alert_id`` (and two gateways' metrics of one interval too), and
    Elasticsearch, creating by ``_id``, would keep only the first: the id becomes a hash of the
    gateway-less id and the name, still deterministic (replays and revisions keep it). The
    documents are changed in place (the suppressor hands out its own copies).
    """
    for doc in events:
        observer = doc.get("observer")
        doc["observer"] = {**observer, "name": name} if isinstance(observer, dict) else {"name": name}
        fc = doc.get("flowcep")
        if isinstance(fc, dict) and isinstance(fc.get("alert_id"), str):
            raw = f"{fc['alert_id']}\x1f{name}".encode()
            fc["alert_id"] = hashlib.sha256(raw).hexdigest()[:32]
    return events


# -- building documents ---------------------------------------------------------------------


def _jsonable(value: Any) -> Any:
    """Row values as JSON values (octet arrays as hex, tuples/sets as lists)."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = [_jsonable(v) for v in value]
        return sorted(items, key=str) if isinstance(value, set | frozenset) else items
    return str(value)


def _addresses(value: Any) -> str | list[str] | None:
    """One address as text, several as a sorted de-duplicated list (ECS allows arrays)."""
    if value is None or value == "":
        return None
    if isinstance(value, list | tuple | set | frozenset):
        items = sorted({str(v) for v in value if v not in (None, "")})
        if not items:
            return None
        return items[0] if len(items) == 1 else items
    return str(value)


def _threat(techniques: Sequence[str], tactics: Sequence[str]) -> dict[str, Any] | None:
    """ECS ``threat.*`` for ATT&CK ids; sub-techniques go to ``threat.technique.subtechnique``."""
    if not techniques:
        return None
    tech_ids: list[str] = []
    sub_ids: list[str] = []
    tactic_ids: list[str] = list(tactics)
    for tid in techniques:
        parent = tid.split(".")[0]
        if parent not in tech_ids:
            tech_ids.append(parent)
        if "." in tid:
            sub_ids.append(tid)
        for ta in TECHNIQUES.get(tid, TECHNIQUES.get(parent, ("", ())))[1]:
            if ta not in tactic_ids:
                tactic_ids.append(ta)

    def ref(tid: str) -> str:
        if tid.startswith("TA"):
            return f"{_ATTACK_URL}tactics/{tid}/"
        return f"{_ATTACK_URL}techniques/{tid.replace('.', '/')}/"

    technique: dict[str, Any] = {
        "id": tech_ids,
        "name": [TECHNIQUES.get(t, (t, ()))[0] for t in tech_ids],
        "reference": [ref(t) for t in tech_ids],
    }
    if sub_ids:
        technique["subtechnique"] = {
            "id": sub_ids,
            "name": [TECHNIQUES.get(t, (t, ()))[0] for t in sub_ids],
            "reference": [ref(t) for t in sub_ids],
        }
    threat: dict[str, Any] = {"framework": "MITRE ATT&CK", "technique": technique}
    if tactic_ids:
        threat["tactic"] = {
            "id": tactic_ids,
            "name": [TACTICS.get(t, t) for t in tactic_ids],
            "reference": [ref(t) for t in tactic_ids],
        }
    return threat


def _key(source: Any, destination: Any) -> str:
    if source not in (None, "", []):
        return source if isinstance(source, str) else ",".join(source)
    if destination not in (None, "", []):
        return destination if isinstance(destination, str) else ",".join(destination)
    return "-"


def make_alert(
    rule: RuleSpec,
    *,
    time_ms: int,
    detector: str,
    source_ip: Any = None,
    destination_ip: Any = None,
    destination_port: int | None = None,
    transport: str | None = None,
    counts: Mapping[str, Any] | None = None,
    summary: str | None = None,
    window: tuple[int, int] | None = None,
    fields: Mapping[str, Any] | None = None,
    key: str | None = None,
) -> Event:
    """An ECS alert (or a metric, when ``rule.kind == "metric"``) document.

    ``time_ms`` is the event time the alert is about (the window end for windowed rules);
    ``window`` the (start, end) of the evidence in epoch ms; ``fields`` extra values kept
    under ``flowcep.fields`` (the EPL row, for the analyst); ``summary`` the one-line human
    explanation that follows the rule name in ``message``.
    """
    src = _addresses(source_ip)
    dst = _addresses(destination_ip)
    k = key if key is not None else _key(src, dst)
    ts = iso_ms(time_ms)
    start_ms, end_ms = window if window is not None else (time_ms, time_ms)
    text = summary if summary else rule.description
    kind = "metric" if rule.kind == "metric" else "alert"
    doc: dict[str, Any] = {
        "@timestamp": ts,
        "message": f"{rule.name}: {text}",
        "event": {
            "kind": kind,
            "category": ["network"],
            "type": ["info"],
            "module": "flowcep",
            "dataset": f"flowcep.{kind}",
            "start": iso_ms(start_ms),
            "end": iso_ms(end_ms),
        },
        "rule": {"id": rule.id, "name": rule.name, "description": rule.description,
                 "ruleset": detector},
        "ecs": {"version": ECS_VERSION},
    }
    if rule.references:
        doc["rule"]["reference"] = " ".join(rule.references)
    if kind == "alert":
        doc["event"]["severity"] = SEVERITY.get(rule.severity, 47)
        doc["event"]["risk_score"] = int(rule.risk_score)
    if src is not None:
        doc["source"] = {"ip": src}
    dst_doc: dict[str, Any] = {}
    if dst is not None:
        dst_doc["ip"] = dst
    if destination_port is not None:
        dst_doc["port"] = int(destination_port)
    if dst_doc:
        doc["destination"] = dst_doc
    trans = transport or rule.transport
    if trans:
        doc["network"] = {"transport": trans}
    threat = _threat(rule.technique, rule.tactic)
    if threat is not None and kind == "alert":
        doc["threat"] = threat
    doc["flowcep"] = {
        "detector": detector,
        "key": k,
        "alert_id": alert_id(rule.id, k, start_ms),
        "revision": 1,
        "occurrences": 1,
        "first_seen": ts,
        "last_seen": ts,
        "window": {"start": iso_ms(start_ms), "end": iso_ms(end_ms)},
        "counts": {str(n): _jsonable(v) for n, v in (counts or {}).items()},
    }
    if kind == "alert":
        doc["flowcep"]["severity"] = rule.severity
    if fields:
        doc["flowcep"]["fields"] = _jsonable(dict(fields))
    return doc


def make_metric(
    rule: RuleSpec,
    *,
    time_ms: int,
    detector: str,
    metrics: Mapping[str, Any],
    summary: str | None = None,
    window: tuple[int, int] | None = None,
    key: str = "-",
) -> Event:
    """A metric document (``event.kind: metric``): statistics, not an attack."""
    doc = make_alert(rule, time_ms=time_ms, detector=detector, summary=summary, window=window,
                     key=key)
    doc["event"]["kind"] = "metric"
    doc["event"]["dataset"] = "flowcep.metric"
    doc["event"].pop("severity", None)
    doc["event"].pop("risk_score", None)
    doc.pop("threat", None)
    doc["flowcep"].pop("severity", None)
    doc["flowcep"]["metrics"] = _jsonable(dict(metrics))
    from .ecs import ECS_VERSION  # metrics say their ECS version like flow documents

    doc.setdefault("ecs", {"version": ECS_VERSION})
    return doc


class _RowFormatter(string.Formatter):
    """``str.format`` over a row whose keys may contain dots (``ipfix.sourceIPv4Address``)."""

    def get_field(self, field_name: str, args: Sequence[Any], kwargs: Mapping[str, Any]) -> Any:
        value = _lookup(kwargs, field_name)
        return ("?" if value is None else value), field_name


_FORMATTER = _RowFormatter()


def _lookup(values: Mapping[str, Any], name: str | None) -> Any:
    """A row value by select name; ``ipfix.x`` and bare ``x`` are the same element."""
    if not name:
        return None
    if name in values:
        return values[name]
    alt = name[6:] if name.startswith("ipfix.") else "ipfix." + name
    if alt in values:
        return values[alt]
    # joined/inserted streams prefix properties with the stream name (Uniques.ipfix.x)
    for k, v in values.items():
        if k.endswith("." + name):
            return v
    return None


def _window_of(values: Mapping[str, Any]) -> tuple[int, int] | None:
    """Window bounds when the engine put them in the row (``window_start``/``window_end``)."""
    start = values.get("window_start", values.get("windowStart"))
    end = values.get("window_end", values.get("windowEnd"))
    if isinstance(start, int | float) and isinstance(end, int | float):
        return int(start), int(end)
    return None


def alert_from_row(rule: RuleSpec, values: Mapping[str, Any], time_ms: int, detector: str,
                   window: tuple[int, int] | None = None) -> Event:
    """The alert (or metric) for one row of the EPL statement ``rule.statement``.

    ``values`` is the row (select names -> values); ``time_ms`` the engine time when the row
    was produced (window close for batch windows). The attacker, victims, port and counts are
    read from the row through the rule's field names; the summary template is formatted over
    the row, unknown names print as ``?`` rather than failing the run.
    """
    if window is None:
        window = _window_of(values)
    counts = {f: _lookup(values, f) for f in rule.count_fields}
    summary = None
    if rule.summary:
        try:
            summary = _FORMATTER.vformat(rule.summary, (), dict(values))
        except (ValueError, IndexError, AttributeError, TypeError, KeyError):
            summary = rule.summary
    port = _lookup(values, rule.destination_port_field)
    try:
        port_num = int(port) if port is not None else None
    except (TypeError, ValueError):
        port_num = None
    doc = make_alert(
        rule,
        time_ms=time_ms,
        detector=detector,
        source_ip=_lookup(values, rule.source_field),
        destination_ip=_lookup(values, rule.destination_field),
        destination_port=port_num,
        counts=counts,
        summary=summary,
        window=window,
        fields=values,
    )
    if doc["event"]["kind"] != "alert":
        # A metric row is never merged by suppression, and one statement may give several rows
        # at one instant with the same key (one per sampler, per interface): its id takes the
        # row's values too, or every row after the first would be taken for a replay of it
        # (Elasticsearch creates by _id; the jsonl output skips ids its file holds).
        fc = doc["flowcep"]
        content = json.dumps([fc.get("fields"), fc.get("counts")], sort_keys=True, default=str)
        fc["alert_id"] = hashlib.sha256(f"{fc['alert_id']}\x1f{content}".encode()).hexdigest()[:32]
    return doc


# -- suppression ----------------------------------------------------------------------------


@dataclass
class _Open:
    """One suppression window: the first document, merged state, and when it closes."""

    doc: Event
    start_ms: int
    end_ms: int
    dirty: bool = False
    revision: int = 1
    destinations: set[str] = field(default_factory=set)
    more_destinations: bool = False  # destinations beyond MAX_DESTINATIONS were not kept
    first_destinations: int = 0  # those of the first firing (not counted against the budget)
    peak: float = float("-inf")  # the first count of the firing whose counts and message are kept
    base: str = ""  # that firing's message


def _event_ms(doc: Event) -> int:
    try:
        return ms_from_iso(doc["@timestamp"])
    except (KeyError, TypeError, ValueError):
        return 0


def _first_count(doc: Mapping[str, Any]) -> float:
    """The first numeric count of an alert (its rule's main measure), -inf when it has none."""
    for value in (doc.get("flowcep", {}).get("counts") or {}).values():
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        break
    return float("-inf")


def _as_set(value: Any) -> set[str]:
    if value is None:
        return set()
    if isinstance(value, list):
        return {str(v) for v in value}
    return {str(value)}


class Suppressor:
    """Merges repeated firing of one rule for one attacker within ``interval_ms`` (Zeek's
    notice suppression, default 1 h) into one alert.

    The first firing is returned at once (revision 1). Later firings in the interval update
    the open alert: counts and message (those of the largest firing, whole: windowed counts
    are per window, the peak is what matters, and mixing fields of different firings would
    describe no firing), victims (union, counted in the message), ``flowcep.occurrences`` and
    ``last_seen``.
    When the interval closes (``now_ms`` passes its end, or :meth:`flush`) an alert that got
    updates is returned again with the same ``flowcep.alert_id`` and ``flowcep.revision + 1``.
    Metric documents pass through untouched.

    At most ``max_open`` alerts are held open (:data:`MAX_OPEN_ALERTS`); past it the one whose
    interval ends first is closed early (its update goes out now; ``alerts.closed_early``), so
    spoofed attackers cannot grow the table. Each remembers at most
    :data:`MAX_DESTINATIONS` victims (``alerts.destinations_not_kept``).
    """

    def __init__(self, interval_ms: int = 3_600_000, stats: Stats | None = None,
                 max_open: int = MAX_OPEN_ALERTS) -> None:
        if max_open < 1:
            raise ValueError("max_open must be at least 1")
        self.interval_ms = int(interval_ms)
        self.max_open = max_open
        self.stats = stats
        self._destinations = 0  # victims remembered over every open alert
        self._open: dict[tuple[str, str], _Open] = {}
        self._heap: list[tuple[int, tuple[str, str]]] = []

    def __len__(self) -> int:
        return len(self._open)

    def process(self, events: Iterable[Event], now_ms: int) -> list[Event]:
        """Events to emit now for ``events`` produced at engine time ``now_ms``."""
        out: list[Event] = []
        for ev in events:
            if ev.get("event", {}).get("kind") != "alert" or self.interval_ms <= 0 or "message" not in ev:
                # metrics pass; so does a raw document without a message (a third-party
                # detector's own dict): a merged message could not describe it
                out.append(ev)
                continue
            t = _event_ms(ev)
            k = (ev["rule"]["id"], ev.get("flowcep", {}).get("key", "-"))
            cur = self._open.get(k)
            if cur is not None and t >= cur.end_ms:
                out.extend(self._close(k))
                cur = None
            if cur is None:
                out.append(self._start(k, ev, t))
            else:
                self._merge(cur, ev, t)
                if self.stats is not None:
                    self.stats.add("alerts.suppressed")
        out.extend(self._expire(now_ms))
        if len(self._open) > self.max_open:
            out.extend(self._close_early())
        return out

    def _close_early(self) -> list[Event]:
        """Close the alerts whose intervals end first until the table is back to its bound."""
        out: list[Event] = []
        closed = 0
        while len(self._open) > self.max_open and self._heap:
            end, k = heapq.heappop(self._heap)
            cur = self._open.get(k)
            if cur is not None and cur.end_ms == end:
                out.extend(self._close(k))
                closed += 1
        if closed and self.stats is not None:
            self.stats.add("alerts.closed_early", closed)
        return out

    def flush(self) -> list[Event]:
        """End of input: emit every open alert that was updated since it was first sent."""
        out: list[Event] = []
        for k in sorted(self._open, key=lambda key: self._open[key].start_ms):
            out.extend(self._close(k))
        self._heap.clear()
        return out

    # -- internals ------------------------------------------------------------------------
    def _start(self, k: tuple[str, str], ev: Event, t: int) -> Event:
        doc = copy.deepcopy(ev)  # own copy: later merges must not touch what was sent
        fc = doc.setdefault("flowcep", {})
        fc["alert_id"] = alert_id(k[0], k[1], t)
        fc["revision"] = 1
        fc["occurrences"] = int(fc.get("occurrences", 1))
        fc.setdefault("first_seen", doc.get("@timestamp"))
        fc.setdefault("last_seen", doc.get("@timestamp"))
        first = _as_set(doc.get("destination", {}).get("ip"))
        entry = _Open(doc=doc, start_ms=t, end_ms=t + self.interval_ms, destinations=first,
                      first_destinations=len(first), peak=_first_count(doc),
                      base=str(doc.get("message", "")))
        self._open[k] = entry
        heapq.heappush(self._heap, (entry.end_ms, k))
        return copy.deepcopy(doc)

    def _merge(self, cur: _Open, ev: Event, t: int) -> None:
        """Fold a repeat into the open alert so that message, counts and targets agree: the
        counts and message are those of the largest firing (by the rule's first count), never
        per-field maxima of different firings; the targets are the union over all firings, and
        the message says how many there are."""
        doc = cur.doc
        fc = doc["flowcep"]
        new = ev.get("flowcep", {})
        fc["occurrences"] = int(fc.get("occurrences", 1)) + int(new.get("occurrences", 1))
        if t >= ms_from_iso(fc["last_seen"]):
            fc["last_seen"] = ev.get("@timestamp", fc["last_seen"])
            if "window" in new:
                fc.setdefault("window", {})["end"] = new["window"].get("end")
                doc["event"]["end"] = new["window"].get("end")
        size = _first_count(ev)
        if size >= cur.peak:
            cur.peak = size
            cur.base = str(ev.get("message", cur.base))
            if "counts" in new:
                fc["counts"] = dict(new["counts"])
            if "fields" in new:
                fc["fields"] = new["fields"]
        new_dst = _as_set(ev.get("destination", {}).get("ip")) - cur.destinations
        room = max(0, min(MAX_DESTINATIONS - len(cur.destinations), MAX_DESTINATIONS_TOTAL - self._destinations))
        if len(new_dst) > room:
            cur.more_destinations = True
            if self.stats is not None:
                self.stats.add("alerts.destinations_not_kept", len(new_dst) - room)
            new_dst = set(sorted(new_dst)[:room])
        cur.destinations |= new_dst
        self._destinations += len(new_dst)
        cur.dirty = True

    def _describe(self, cur: _Open) -> None:
        """The merged alert's message and victims, written once, when it goes out (sorting
        the victims at every merge would cost a scan's worth of time per firing)."""
        doc = cur.doc
        fc = doc["flowcep"]
        note = f"{fc['occurrences']} firings from {fc['first_seen']} to {fc['last_seen']}"
        if cur.destinations:
            dst = sorted(cur.destinations)[:MERGED_DESTINATIONS]
            doc.setdefault("destination", {})["ip"] = dst[0] if len(dst) == 1 else dst
            if len(cur.destinations) > 1:
                listed = "" if len(dst) == len(cur.destinations) else f", first {len(dst)} listed"
                at_least = "at least " if cur.more_destinations else ""
                note += f"; {at_least}{len(cur.destinations)} distinct destinations in all{listed}"
        doc["message"] = f"{cur.base} ({note})"

    def _close(self, k: tuple[str, str]) -> list[Event]:
        cur = self._open.pop(k, None)
        if cur is None:
            return []
        self._destinations -= len(cur.destinations) - cur.first_destinations
        if not cur.dirty:
            return []
        self._describe(cur)
        cur.doc["flowcep"]["revision"] = cur.revision + 1
        return [cur.doc]

    def _expire(self, now_ms: int) -> list[Event]:
        out: list[Event] = []
        while self._heap and self._heap[0][0] <= now_ms:
            end, k = heapq.heappop(self._heap)
            cur = self._open.get(k)
            if cur is not None and cur.end_ms == end:
                out.extend(self._close(k))
        return out


# -- presentation and validation --------------------------------------------------------------


def format_alert_line(event: Mapping[str, Any]) -> str:
    """One readable terminal line: time, severity, rule, attacker -> victims, message."""
    ev = event.get("event", {})
    fc = event.get("flowcep", {})
    ts = str(event.get("@timestamp", "?")).replace("T", " ").rstrip("Z")
    if ev.get("kind") == "metric":
        level = "METRIC"
    else:
        level = str(fc.get("severity") or {v: k for k, v in SEVERITY.items()}.get(
            ev.get("severity"), "?")).upper()
    rule = event.get("rule", {}).get("id", "?")
    src = event.get("source", {}).get("ip")
    dst = event.get("destination", {}).get("ip")
    port = event.get("destination", {}).get("port")
    if isinstance(dst, list):
        dst_text = dst[0] + (f" +{len(dst) - 1} more" if len(dst) > 1 else "")
    else:
        dst_text = dst or ""
    if port is not None and dst_text:
        dst_text = f"{dst_text}:{port}"
    who = f"{src or '*'} -> {dst_text}" if (src or dst_text) else ""
    rev = f" rev{fc['revision']}" if fc.get("revision", 1) > 1 else ""
    msg = str(event.get("message", ""))
    return "  ".join(p for p in (ts, f"{level:<8}", f"{rule}{rev}", who, msg) if p)


@lru_cache(maxsize=1)
def alert_schema() -> dict[str, Any]:
    """The JSON Schema of alert and metric documents (``schemas/alert.schema.json``)."""
    text = resources.files("flowcep_plugin").joinpath("schemas/alert.schema.json").read_text()
    schema: dict[str, Any] = json.loads(text)
    return schema


@lru_cache(maxsize=1)
def _validator() -> Any:
    import jsonschema

    schema = alert_schema()
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


def event_errors(doc: Mapping[str, Any]) -> list[str]:
    """Every schema violation of ``doc``, each as ``path: message``."""
    errors = sorted(_validator().iter_errors(doc), key=lambda e: list(e.absolute_path))
    return [f"{'.'.join(str(p) for p in e.absolute_path) or '<document>'}: {e.message}"
            for e in errors]


def validate_event(doc: Mapping[str, Any]) -> None:
    """Raise ``ValueError`` naming the first problems when ``doc`` breaks the alert schema."""
    errors = event_errors(doc)
    if errors:
        rule = doc.get("rule", {}).get("id", "?") if isinstance(doc.get("rule"), Mapping) else "?"
        raise ValueError(f"invalid event from rule {rule}: " + "; ".join(errors[:3]))


# -- windows for Python detectors ------------------------------------------------------------


class TumblingWindows:
    """Epoch-aligned tumbling windows of ``size_ms`` for Python detectors.

    Windows are ``[k*size, (k+1)*size)`` so results do not depend on where the input starts
    (Zeek's SumStats epochs work the same way). ``add(batch, accumulate)`` calls
    ``accumulate(state, indices, window_start_ms)`` once per window present in the batch
    with the record indices falling into it; a window is closed (``finish(state, start, end)``)
    when a record or the watermark reaches its end. Records older than an already closed
    window are counted as ``<name>.late`` in the stats and skipped (the host's reorder buffer
    makes this rare).
    """

    def __init__(self, size_ms: int, new_state: Callable[[], Any],
                 finish: Callable[[Any, int, int], list[Event]], name: str = "detector",
                 stats: Stats | None = None) -> None:
        if size_ms <= 0:
            raise ValueError("window size must be positive")
        self.size_ms = int(size_ms)
        self._new_state = new_state
        self._finish = finish
        self._name = name
        self._stats = stats
        self._states: dict[int, Any] = {}
        self._closed_before = -(2**62)  # windows starting before this are closed

    def add(self, batch: FlowBatch, accumulate: Callable[[Any, list[int], int], None]) -> list[Event]:
        if not len(batch):
            return []
        size = self.size_ms
        times = batch.event_times()
        groups = self._sorted_groups(times)
        if groups is not None:
            out: list[Event] = []
            for start, idx in groups:
                out.extend(self.close_until(start))
                state = self._states.get(start)
                if state is None:
                    state = self._states[start] = self._new_state()
                accumulate(state, idx, start)
            return out
        groups_: dict[int, list[int]] = {}
        late = 0
        last_start = None
        idx = []
        for i, t in enumerate(times):
            if t < 0:
                continue
            start = t - t % size
            if start != last_start:
                if start < self._closed_before:
                    late += 1
                    last_start = None
                    continue
                idx = groups_.setdefault(start, [])
                last_start = start
            idx.append(i)
        if late and self._stats is not None:
            self._stats.add(f"{self._name}.late", late)
        out = []
        for start in sorted(groups_):
            out.extend(self.close_until(start))  # a record at `start` means earlier ones ended
            state = self._states.get(start)
            if state is None:
                state = self._states[start] = self._new_state()
            accumulate(state, groups_[start], start)
        return out

    def _sorted_groups(self, times: list[int]) -> list[tuple[int, list[int]]] | None:
        """(window start, indices) per window, without a loop per record, when ``times`` are
        in order with none missing or late: the common case, since the host's clock releases
        sorted batches. Each window's records are then one contiguous run, found by bisection.
        None when the batch needs the general loop."""
        first, last = times[0], times[-1]
        size = self.size_ms
        start = first - first % size
        if first < 0 or start < self._closed_before:
            return None
        if start == last - last % size:  # one window: in order or not, every index is in it
            if min(times) >= start and max(times) < start + size:
                return [(start, list(range(len(times))))]
            return None
        if not all(map(le, times, islice(times, 1, None))):
            return None
        groups: list[tuple[int, list[int]]] = []
        lo, n = 0, len(times)
        while lo < n:
            t = times[lo]
            start = t - t % size
            hi = bisect_left(times, start + size, lo)
            groups.append((start, list(range(lo, hi))))
            lo = hi
        return groups

    def close_until(self, time_ms: int) -> list[Event]:
        """Close every window whose end is at or before ``time_ms``."""
        out: list[Event] = []
        for start in sorted(self._states):
            if start + self.size_ms > time_ms:
                break
            out.extend(self._finish(self._states.pop(start), start, start + self.size_ms))
        boundary = time_ms - time_ms % self.size_ms
        if boundary > self._closed_before:
            self._closed_before = boundary
        return out

    def flush(self) -> list[Event]:
        """Close every open window (end of input)."""
        out: list[Event] = []
        for start in sorted(self._states):
            out.extend(self._finish(self._states.pop(start), start, start + self.size_ms))
        return out


# -- column helpers for Python detectors ---------------------------------------------------------


def address_column(batch: FlowBatch, side: str) -> list[str | None]:
    """``source``/``destination`` addresses of each record: the IPv4 element, else the IPv6 one.

    Cached on the batch (every detector asks for the same two columns); do not mutate it.
    """
    v4 = batch.columns.get(f"{side}IPv4Address")
    v6 = batch.columns.get(f"{side}IPv6Address")
    if v6 is None:
        return v4 if v4 is not None else [None] * batch.length
    if v4 is None:
        return v6
    return batch.derived(  # type: ignore[no-any-return]
        ("address", side), lambda: [a if a is not None else b for a, b in zip(v4, v6, strict=True)],
        v4, v6)


def _ints(col: list[Any], default: int) -> list[int]:
    # Decoded columns hold ints already: one C-level scan of their types proves it, and a
    # copy is half the cost of calling int() on each (bools and floats still go through int).
    types = set(map(type, col))
    if types <= _INT:
        return list(col)
    if types <= _INT_OR_NONE:  # only None needs replacing
        return list(map({None: default}.get, col, col))
    if None not in col:
        return list(map(int, col))
    return [default if v is None else int(v) for v in col]


_INT = frozenset((int,))
_INT_OR_NONE = frozenset((int, type(None)))


def int_column(batch: FlowBatch, *names: str, default: int = 0) -> list[int]:
    """The first present of ``names`` as integers (None -> ``default``).

    Cached on the batch: the detectors convert the same columns (ports, protocol, counters),
    so only the first pays. Do not mutate the list.
    """
    for name in names:
        col = batch.columns.get(name)
        if col is not None:
            return batch.derived(("int", name, default),  # type: ignore[no-any-return]
                                 partial(_ints, col, default), col)
    return [default] * batch.length


def icmp_type_code_column(batch: FlowBatch) -> list[Any] | None:
    """Each ICMP and ICMPv6 record's type-code (type·256 + code): ``icmpTypeCodeIPv4``, else
    ``icmpTypeCodeIPv6``, else the destination port; None for other protocols' records, and
    None instead of a column when the batch has none of those elements.

    NetFlow v5 has no type-code field, and exporters (softflowd -v 5, pmacct's nfprobe for v5
    and v9) carry type·256+code in the destination port instead. Read as "no type", every ICMP
    message of theirs looked like an echo request: a host sending IPv6 neighbour solicitations
    to 30 solicited-node groups was named a ping sweeper, and an answered ICMP flood was missed.

    Made once per batch (``batch.derived``), so every detector that asks shares one column, and
    only for the ICMP records, picked first: the per-record fallback over every record, twice a
    batch, was about 30 % of portscan's and volumetric's time on data.ipfix x 50."""
    cols = batch.columns
    raw = getattr(cols, "raw", cols.get)
    names = ("icmpTypeCodeIPv4", "icmpTypeCodeIPv6", "destinationTransportPort")
    if all(raw(name) is None for name in names):
        return None
    proto = raw("protocolIdentifier")

    def build() -> list[Any] | None:
        rows: list[int] | None = None
        arr = batch.array("protocolIdentifier", fill=0) if proto is not None else None
        if arr is not None and arr.dtype.kind in "ui":
            import numpy as np  # loaded already: the decoder made the array

            rows = np.flatnonzero((arr == 1) | (arr == 58)).tolist()
        elif proto is not None:  # lists, or values beyond 64 bits (hostile input)
            rows = [i for i, v in enumerate(cols["protocolIdentifier"]) if v == 1 or v == 58]
        out: list[Any] = [None] * batch.length
        if not rows:
            return out
        part = _type_codes(batch.take(rows) if len(rows) < batch.length else batch)
        if part is None:
            return None
        for i, v in zip(rows, part, strict=True):
            out[i] = v
        return out

    got: list[Any] | None = batch.derived(("icmp-type-code", "icmp-rows"), build, proto,
                                          *map(raw, names))
    return got


def _type_codes(batch: FlowBatch) -> list[Any] | None:
    """``icmp_type_code_column``'s values at every record of ``batch``, whatever its protocol."""
    cols = [c for c in (batch.columns.get("icmpTypeCodeIPv4"), batch.columns.get("icmpTypeCodeIPv6"))
            if c is not None]
    if len(cols) == 1 and None not in cols[0]:
        return cols[0]
    port = batch.columns.get("destinationTransportPort")
    if port is not None:
        cols.append(port)
    if not cols:
        return None
    if len(cols) == 1:
        return cols[0]
    return [next((v for v in vals if v is not None), None) for vals in zip(*cols, strict=True)]


#: the record elements that say a flow was sampled, in the order :func:`sampling_column` asks them
SAMPLING_ELEMENTS = ("samplingInterval", "samplerRandomInterval", "samplingPacketInterval",
                     "samplingSize", "samplingProbability")


def _one_in(interval: Any, random_interval: Any, packet_interval: Any, packet_space: Any,
            size: Any, population: Any, probability: Any) -> int:
    """One record's 1-in-N rate from whichever sampling element it carries; 1 when none says."""
    for v in (interval, random_interval):
        if isinstance(v, int) and v > 1:
            return v
    if isinstance(packet_interval, int) and packet_interval > 0 and isinstance(packet_space, int) \
            and packet_space > 0:  # PSAMP count-based: take `interval` packets, skip `space`
        return max(1, round((packet_interval + packet_space) / packet_interval))
    if isinstance(size, int) and size > 0 and isinstance(population, int) and population > size:
        return max(1, round(population / size))  # n-out-of-N random sampling
    if isinstance(probability, float) and 0.0 < probability < 1.0:
        return max(1, round(1 / probability))
    return 1


def sampling_column(batch: FlowBatch, *, counters: bool = False) -> list[int]:
    """Each record's packet sampling rate N (the exporter saw one packet in N), 1 when unsampled
    or unknown.

    Sampled records are evidence of a different kind: a connection whose SYN alone was
    sampled looks like a failed probe, an answer that was not sampled looks like silence, and
    a record's packets and bytes are a 1/N share of the traffic. Detectors ask this one column
    rather than the elements, so every rate an exporter can announce counts the same way:
    ``samplingInterval`` (NetFlow v5's header, v9 SAMPLING_INTERVAL in a record or its sampler
    options, which the decoder attaches to the records as this element; IPFIX 34),
    ``samplerRandomInterval`` (v9/IPFIX 50), PSAMP count-based selection
    (``samplingPacketInterval`` taken of every ``samplingPacketInterval`` +
    ``samplingPacketSpace``), n-out-of-N (``samplingSize`` of ``samplingPopulation``) and
    ``samplingProbability``. A rate of 0 or a missing value means "not said": 1.

    ``counters=True`` gives instead the factor that turns each record's packet and byte
    counters into an estimate of the traffic: N, or 1 where the input already multiplied them
    (``apply_sampling``, which marks such records in ``flowcep.sampling_applied``). Rate
    thresholds compare counters times this factor; evidence that rests on an answer or a
    handshake being absent should ask ``counters=False`` (was the record sampled at all?).
    Cached on the batch; do not mutate the list."""
    rates = _sampling(batch)
    if counters:
        applied = batch.columns.get(SAMPLING_APPLIED)
        if applied is not None:
            return batch.derived(("sampling", "counters"),  # type: ignore[no-any-return]
                                 lambda: [1 if a is True else r for r, a in zip(rates, applied, strict=True)],
                                 rates, applied)
    return rates


def sampling_rate(batch: FlowBatch) -> int:
    """The largest packet sampling rate of the batch's records (:func:`sampling_column`), 1
    when none is sampled: a detector asks this first, and the per-record column only when it
    is above 1. Costs nothing for a batch that carries no sampling element; cached."""
    cols = batch.columns
    if not any(cols.get(name) is not None for name in SAMPLING_ELEMENTS):
        return 1
    rates = _sampling(batch)
    return batch.derived(("sampling", "max"), lambda: max(rates, default=1), rates)  # type: ignore[no-any-return]


def _sampling(batch: FlowBatch) -> list[int]:
    cols = batch.columns
    if not any(cols.get(name) is not None for name in SAMPLING_ELEMENTS):
        return batch.derived(("sampling",), lambda: [1] * batch.length)  # type: ignore[no-any-return]
    names = ("samplingInterval", "samplerRandomInterval", "samplingPacketInterval", "samplingPacketSpace",
             "samplingSize", "samplingPopulation", "samplingProbability")
    sources = [cols.get(name) for name in names]
    n = batch.length

    def build() -> list[int]:
        present = [c if c is not None else [None] * n for c in sources]
        if sources[1:] == [None] * 6:  # the common case: samplingInterval alone
            return [v if isinstance(v, int) and v > 1 else 1 for v in present[0]]
        return list(map(_one_in, *present))

    return batch.derived(("sampling",), build, *sources)  # type: ignore[no-any-return]


#: IANA protocol numbers -> ECS ``network.transport`` names.
TRANSPORT: dict[int, str] = {1: "icmp", 6: "tcp", 17: "udp", 58: "ipv6-icmp", 132: "sctp"}
