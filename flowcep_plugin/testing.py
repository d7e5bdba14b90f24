"""A harness for detector authors: feed records, move the clock, collect alerts, check conformance.

Modelled on bytewax's testing module (a source of given items, a sink that collects, a clock
the test moves) and river's estimator checks (one conformance suite every implementation
runs). Nothing here needs a plugin manager or a running pipeline, so a detector's tests stay
fast and can run before the rest of FlowCEP is installed::

    from flowcep_plugin.testing import check_detector, make_flow, run_detector
    events = check_detector(my_spec, attack=[make_flow("10.0.0.9", f"10.0.1.{i}", 22) ...],
                            benign=[...])

The pytest plugin (:mod:`flowcep_plugin.pytest_plugin`) exposes the same helpers as fixtures.
"""

from __future__ import annotations

import copy
import json
import socket
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

from .context import Context
from .records import FlowBatch
from .specs import Detector, DetectorSpec, Event

__all__ = [
    "ListSource",
    "CollectingOutput",
    "ManualClock",
    "make_flow",
    "to_batches",
    "sort_by_time",
    "build_detector",
    "run_detector",
    "check_detector",
    "ConformanceError",
    "scenario_records",
    "METER_FIELDS",
    "meter_records",
    "loopback_recorder",
    "drain_datagrams",
]

#: The columns of a biflow record from the pcap meter, in the order detector tests quote
#: excerpts of real captures (one tuple per record, copied from ``flowcep dump pcap:FILE``).
METER_FIELDS = ("flowStartMilliseconds", "flowEndMilliseconds", "sourceIPv4Address", "destinationIPv4Address",
                "sourceTransportPort", "destinationTransportPort", "protocolIdentifier", "packetDeltaCount",
                "octetDeltaCount", "tcpControlBits", "reversePacketDeltaCount", "reverseOctetDeltaCount",
                "reverseTcpControlBits")


def meter_records(rows: list[tuple[object, ...]], fields: tuple[str, ...] = METER_FIELDS) -> list[dict[str, object]]:
    """Dict records from tuples quoted in a test (an excerpt of real meter output)."""
    return [dict(zip(fields, row, strict=True)) for row in rows]

#: Records, or batches of them, as tests like to write them.
Records = Sequence[Mapping[str, Any]] | FlowBatch | Sequence[FlowBatch] | Sequence[Sequence[Mapping[str, Any]]]


class ConformanceError(AssertionError):
    """A detector broke the contract; the message lists every problem found."""


# -- sources, sinks, clock --------------------------------------------------------------------


def to_batches(records: Records, batch_size: int | None = None, source: str = "test") -> list[FlowBatch]:
    """Normalise records (dict rows, FlowBatches, or lists of row lists) into FlowBatches.

    ``batch_size`` re-cuts the records into batches of that many (the last may be shorter).
    """
    if isinstance(records, FlowBatch):
        batches = [records]
    elif not records:
        batches = []
    elif isinstance(records[0], FlowBatch):
        batches = [b for b in records if isinstance(b, FlowBatch)]
    elif isinstance(records[0], Mapping):
        batches = [FlowBatch.from_rows(list(records), source=source)]  # type: ignore[arg-type]
    else:
        batches = [FlowBatch.from_rows(list(rows), source=source) for rows in records]  # type: ignore[arg-type]
    if batch_size is None:
        return batches
    whole = FlowBatch.concat(batches, source=source) if batches else FlowBatch({}, 0, source)
    return [whole.slice(i, i + batch_size) for i in range(0, whole.length, batch_size)]


def sort_by_time(batch: FlowBatch) -> FlowBatch:
    """The records of ``batch`` in event-time order (what the host's reorder buffer hands on)."""
    times = batch.event_times()
    order = sorted(range(batch.length), key=times.__getitem__)
    return batch.take(order)


class ListSource:
    """A Source that yields the given records as batches, then ends (a finite input)."""

    def __init__(self, records: Records, batch_size: int | None = None, source: str = "test") -> None:
        self._batches = to_batches(records, batch_size, source)
        self.closed = False

    def batches(self) -> Iterator[FlowBatch]:
        for b in self._batches:
            if self.closed:
                return
            yield b

    def close(self) -> None:
        self.closed = True


class CollectingOutput:
    """An Output that keeps every event (and counts flows) in memory."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self.flows = 0
        self.flushes = 0
        self.closed = False

    def write_events(self, events: list[Event]) -> None:
        self.events.extend(events)

    def write_flows(self, batch: FlowBatch) -> None:
        self.flows += batch.length

    def flush(self) -> None:
        self.flushes += 1

    def close(self) -> None:
        self.flush()
        self.closed = True

    def by_rule(self, rule_id: str) -> list[Event]:
        return [e for e in self.events if e.get("rule", {}).get("id") == rule_id]


class ManualClock:
    """Drives a detector the way the host does: batches in event-time order, then watermarks.

    ``feed(batch)`` sorts and hands the batch on, then moves the watermark to the newest event
    time minus ``lateness_ms``; ``advance(ms)`` moves the watermark by hand (idle input);
    ``finish()`` flushes. Every returned event is also kept in ``events``.
    """

    def __init__(self, detector: Detector, lateness_ms: int = 0) -> None:
        self.detector = detector
        self.lateness_ms = lateness_ms
        self.watermark = -(2**62)
        self.events: list[Event] = []

    def feed(self, batch: FlowBatch, watermark: bool = True) -> list[Event]:
        out: list[Event] = list(self.detector.on_batch(sort_by_time(batch)) or [])
        self.events.extend(out)
        if watermark and batch.length:
            newest = max(batch.event_times())
            out += self.advance_to(newest - self.lateness_ms)  # advance_to records its own events
        return out

    def advance_to(self, watermark_ms: int) -> list[Event]:
        if watermark_ms <= self.watermark:
            return []
        self.watermark = watermark_ms
        out = list(self.detector.on_watermark(watermark_ms) or [])
        self.events.extend(out)
        return out

    def advance(self, delta_ms: int) -> list[Event]:
        return self.advance_to(self.watermark + delta_ms)

    def finish(self) -> list[Event]:
        out = list(self.detector.flush() or [])
        self.events.extend(out)
        return out


# -- records ------------------------------------------------------------------------------------

_PROTO = {"tcp": 6, "udp": 17, "icmp": 1}
_FLAGS = {"F": 0x01, "S": 0x02, "R": 0x04, "P": 0x08, "A": 0x10, "U": 0x20}


def make_flow(src: str, dst: str, dport: int = 0, *, proto: str | int = "tcp", sport: int = 40000,
              packets: int = 1, octets: int | None = None, flags: str | int | None = None,
              end_ms: int = 1_523_520_000_000, duration_ms: int = 0, **extra: Any) -> dict[str, Any]:
    """One flow record with IPFIX element names, for tests.

    ``flags`` is an int or letters (``"S"`` SYN only, ``"SA"``, ``"FSPA"``); by default TCP
    flows get ``"S"`` when ``packets <= 2`` and ``"FSPA"`` otherwise. ``octets`` defaults to
    60 bytes per packet.
    """
    p = _PROTO.get(proto, proto) if isinstance(proto, str) else proto
    rec: dict[str, Any] = {
        "sourceIPv6Address" if ":" in src else "sourceIPv4Address": src,
        "destinationIPv6Address" if ":" in dst else "destinationIPv4Address": dst,
        "sourceTransportPort": sport if p in (6, 17) else 0,
        "destinationTransportPort": dport if p in (6, 17) else 0,
        "protocolIdentifier": p,
        "packetDeltaCount": packets,
        "octetDeltaCount": octets if octets is not None else 60 * packets,
        "flowStartMilliseconds": end_ms - duration_ms,
        "flowEndMilliseconds": end_ms,
    }
    if p == 6:
        if flags is None:
            flags = "S" if packets <= 2 else "FSPA"
        rec["tcpControlBits"] = flags if isinstance(flags, int) else sum(_FLAGS[c] for c in flags)
    rec.update(extra)
    return rec


def scenario_records(name: str, seed: int = 1, duration_s: float | None = None,
                     **kwargs: Any) -> tuple[list[dict[str, Any]], Any]:
    """Flow records of a labelled synthetic scenario (:mod:`flowcep_plugin.synth`) and the
    scenario (``.labels``, ``.hints``): the same uniflows, in the same export order, that
    ``flowcep synth`` writes to IPFIX (one record per direction that carried packets).
    ``duration_s`` defaults to the scenario's minimum."""
    from .synth import SCENARIOS, generate
    from .synth.flows import uniflows

    if duration_s is None:
        duration_s = SCENARIOS[name].min_duration_s
    sc = generate(name, seed=seed, duration_s=duration_s, **kwargs)
    records: list[dict[str, Any]] = []
    for r in uniflows(sc):
        rec = r._asdict()
        del rec["label"]
        if not rec["HTTPRequestURL"]:
            del rec["HTTPRequestURL"], rec["HTTPRequestHost"]
        if rec["protocolIdentifier"] != 1:
            del rec["icmpTypeCodeIPv4"]
        if rec["protocolIdentifier"] != 6:
            rec.pop("tcpControlBits", None)
        records.append(rec)
    return records, sc


# -- building and running ------------------------------------------------------------------------


def _validate_config(spec: DetectorSpec, config: Mapping[str, Any]) -> None:
    if not spec.config_schema:
        return
    import jsonschema

    jsonschema.validate(dict(config), dict(spec.config_schema))


def build_detector(spec: DetectorSpec, config: Mapping[str, Any] | None = None,
                   ctx: Context | None = None) -> Detector:
    """Build the detector of ``spec`` with ``config`` merged over its defaults (validated),
    exactly as the host builds it (:func:`flowcep_plugin.plan.build_detector`): EPL, a
    factory, or both side by side."""
    from .plan import build_detector as host_build
    from .registry import merge_config

    _validate_config(spec, config or {})
    merged = merge_config(copy.deepcopy(dict(spec.defaults)), config or {})
    _validate_config(spec, merged)
    return host_build(spec, merged, ctx or Context(), plugin="under test")


def run_detector(detector_or_spec: Detector | DetectorSpec, records: Records, *,
                 config: Mapping[str, Any] | None = None, batch_size: int | None = None,
                 watermarks: bool = True, lateness_ms: int = 0, ctx: Context | None = None,
                 suppress_ms: int | None = None) -> list[Event]:
    """Run records (sorted by event time) through a detector to the end; return its events.

    With ``watermarks`` the watermark follows each batch (as the host does); without, only
    ``flush`` releases windows. ``suppress_ms`` passes the events through a
    :class:`~flowcep_plugin.alerts.Suppressor` as the pipeline does.
    """
    det = (build_detector(detector_or_spec, config, ctx)
           if isinstance(detector_or_spec, DetectorSpec) else detector_or_spec)
    batches = to_batches(records)
    whole = sort_by_time(FlowBatch.concat(batches)) if batches else FlowBatch({}, 0, "test")
    size = batch_size or max(whole.length, 1)
    clock = ManualClock(det, lateness_ms)
    for i in range(0, whole.length, size):
        clock.feed(whole.slice(i, i + size), watermark=watermarks)
    clock.finish()
    events = clock.events
    if suppress_ms is not None:
        from .alerts import Suppressor

        sup = Suppressor(suppress_ms)
        out: list[Event] = []
        for ev in events:
            out += sup.process([ev], _time_of(ev))
        events = out + sup.flush()
    return events


def _time_of(ev: Event) -> int:
    from .alerts import ms_from_iso

    try:
        return ms_from_iso(ev["@timestamp"])
    except (KeyError, ValueError):
        return 0


def _canon(events: Iterable[Event]) -> list[str]:
    return sorted(json.dumps(e, sort_keys=True, default=str) for e in events)


def check_detector(spec: DetectorSpec | Callable[[], Detector], attack: Records | None = None,
                   benign: Records | None = None, *, config: Mapping[str, Any] | None = None,
                   expect_rules: Iterable[str] | None = None) -> list[Event]:
    """The conformance suite every detector runs; returns the events of the ``attack`` run.

    ``spec`` is a DetectorSpec (everything below is checked) or, for a detector under
    construction, a zero-argument factory returning a fresh detector (the spec, config and
    rule-name checks are skipped; everything about its behaviour is checked).

    Checks: the spec is complete (summary, rules with unique ids, valid severities and ATT&CK
    ids); its config schema is a valid JSON Schema that forbids unknown keys and accepts the
    defaults, and every default is a declared property; an empty batch, a bare watermark and a
    flush of a fresh detector produce nothing; on ``attack`` it fires (``expect_rules`` when
    given), every event is valid against the alert schema and names this detector and one of
    its rules; no pluggy hook is called while it runs; two runs give identical events; the
    events do not depend on batch boundaries or on whether watermarks or only ``flush`` close
    windows; on ``benign`` it stays silent. Raises :class:`ConformanceError` listing problems.
    """
    import jsonschema

    from .alerts import SEVERITY, validate_technique

    problems: list[str] = []
    if not isinstance(spec, DetectorSpec):
        return _check_behaviour(spec, None, attack, benign, expect_rules, problems)
    if not spec.name or not spec.summary:
        problems.append("spec needs a name and a summary")
    if not spec.rules:
        problems.append("spec declares no rules")
    ids = [r.id for r in spec.rules]
    if len(set(ids)) != len(ids):
        problems.append(f"duplicate rule ids: {ids}")
    for r in spec.rules:
        if r.severity not in SEVERITY:
            problems.append(f"rule {r.id}: severity {r.severity!r} not in {sorted(SEVERITY)}")
        if not 0 <= r.risk_score <= 100:
            problems.append(f"rule {r.id}: risk_score {r.risk_score} outside 0-100")
        for t in r.technique:
            try:
                validate_technique(t)
            except ValueError as exc:
                problems.append(f"rule {r.id}: {exc}")
        if r.kind not in ("alert", "metric"):
            problems.append(f"rule {r.id}: kind {r.kind!r}")
    schema = dict(spec.config_schema)
    try:
        jsonschema.validators.validator_for(schema).check_schema(schema)
    except jsonschema.SchemaError as exc:
        problems.append(f"config_schema is not a valid JSON Schema: {exc.message}")
    if schema.get("additionalProperties") is not False:
        problems.append("config_schema must set additionalProperties: false (typos must fail)")
    undeclared = set(spec.defaults) - set(schema.get("properties", {}))
    if undeclared:
        problems.append(f"defaults not declared in config_schema: {sorted(undeclared)}")
    try:
        jsonschema.validate(dict(spec.defaults), schema)
    except jsonschema.ValidationError as exc:
        problems.append(f"defaults do not validate against config_schema: {exc.message}")
    if problems:
        raise ConformanceError(f"detector {spec.name!r}: " + "; ".join(problems))
    cfg = config
    return _check_behaviour(lambda: build_detector(spec, cfg), spec, attack, benign, expect_rules,
                            problems)


def _check_behaviour(make: Callable[[], Detector], spec: DetectorSpec | None, attack: Records | None,
                     benign: Records | None, expect_rules: Iterable[str] | None,
                     problems: list[str]) -> list[Event]:
    import pluggy

    from .alerts import event_errors

    label = repr(spec.name) if spec is not None else "under test"
    fresh = make()
    calls: tuple[tuple[str, Callable[[], list[Event]]], ...] = (
        ("on_batch(empty)", lambda: fresh.on_batch(FlowBatch({}, 0, "test"))),
        ("on_watermark", lambda: fresh.on_watermark(1_500_000_000_000)),
        ("flush", fresh.flush))
    for what, call in calls:
        got = call()
        if got:
            problems.append(f"{what} of a fresh detector returned {len(got)} events")

    events: list[Event] = []
    if attack is not None:
        hook_calls = 0
        real_call = pluggy.HookCaller.__call__

        def counting(self: Any, *args: Any, **kwargs: Any) -> Any:
            nonlocal hook_calls
            hook_calls += 1
            return real_call(self, *args, **kwargs)

        from unittest import mock  # here, not at import: every run's plugins import this module (via api)

        with mock.patch.object(pluggy.HookCaller, "__call__", counting):
            events = run_detector(make(), attack)
        if hook_calls:
            problems.append(f"{hook_calls} pluggy hook calls while running (keep pluggy off the batch path)")
        if not events:
            probe = make()
            late = list(probe.on_batch(sort_by_time(FlowBatch.concat(to_batches(attack)))) or [])
            late += list(probe.on_watermark(2**62) or [])
            if late:
                problems.append("flush() released nothing, but a far watermark released "
                                f"{len(late)} events: flush must release every pending window")
            else:
                problems.append("no events on the attack records")
        rule_ids = {r.id for r in spec.rules} if spec is not None else set()
        for ev in events:
            errs = event_errors(ev)
            if errs:
                problems.append(f"invalid event ({ev.get('rule', {}).get('id')}): {errs[:2]}")
            if spec is None:
                continue
            if ev.get("rule", {}).get("id") not in rule_ids:
                problems.append(f"event names rule {ev.get('rule', {}).get('id')!r}, not one of {sorted(rule_ids)}")
            if ev.get("flowcep", {}).get("detector") != spec.name:
                problems.append(f"event names detector {ev.get('flowcep', {}).get('detector')!r}")
        fired = {ev.get("rule", {}).get("id") for ev in events}
        for rid in expect_rules or ():
            if rid not in fired:
                problems.append(f"rule {rid} did not fire on the attack records (fired: {sorted(map(str, fired))})")
        canon = _canon(events)
        if _canon(run_detector(make(), attack)) != canon:
            problems.append("two runs over the same records gave different events (not deterministic)")
        if _canon(run_detector(make(), attack, batch_size=7)) != canon:
            problems.append("events depend on batch boundaries (batches of 7 differ from one batch)")
        if _canon(run_detector(make(), attack, watermarks=False)) != canon:
            problems.append("flush() without watermarks does not release the same events")
    if benign is not None:
        noise = run_detector(make(), benign)
        if noise:
            problems.append(f"{len(noise)} events on benign records: "
                            + "; ".join(str(e.get('message')) for e in noise[:3]))
    if problems:
        raise ConformanceError(f"detector {label}: " + "; ".join(problems))
    return events


def loopback_recorder() -> socket.socket:
    """A UDP socket on 127.0.0.1 (a free port) for a real exporter under test (softflowd,
    pmacct) to send to. The 16 MB receive buffer holds the burst an exporter reading a capture
    sends at once, which the default buffer would drop before the test reads it."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 24)
    s.bind(("127.0.0.1", 0))
    return s


def drain_datagrams(s: socket.socket, quiet: float = 0.5) -> list[bytes]:
    """Every datagram ``s`` holds or receives until ``quiet`` seconds pass without one; then
    ``s`` is closed."""
    s.settimeout(quiet)
    out: list[bytes] = []
    try:
        while True:
            out.append(s.recv(65535))
    except TimeoutError:
        pass
    s.close()
    return out
