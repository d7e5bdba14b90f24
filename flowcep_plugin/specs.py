"""Typed records that plugins hand to the host, and the protocols of the objects they build.

Registration hooks return these frozen specs; the host builds one registry from them, so a
component is described once (name, summary, config schema, defaults) and listed, validated
and constructed the same way whether it ships with FlowCEP or with a third party.

Objects built from specs are called once per batch, never per record, and never through
pluggy (a hook call costs microseconds; a batch loop must not pay that per record).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from .context import Context
    from .records import FlowBatch

__all__ = [
    "Address",
    "InputSpec",
    "EnricherSpec",
    "DetectorSpec",
    "OutputSpec",
    "RuleSpec",
    "ElementSpec",
    "Source",
    "Enricher",
    "Detector",
    "Output",
    "Event",
]

#: An alert or metric document (ECS field names, nested dicts), produced by detectors.
Event = dict[str, Any]



@dataclass(frozen=True)
class Address:
    """A parsed input/output address: ``scheme:rest`` or ``scheme://host:port``.

    ``raw`` is what the user typed; ``path`` is set for file schemes, ``host``/``port`` for
    network schemes; ``params`` holds ``?key=value`` options.
    """

    raw: str
    scheme: str
    path: str | None = None
    host: str | None = None
    port: int | None = None
    params: Mapping[str, str] = field(default_factory=dict)


# -- components ---------------------------------------------------------------------------


@runtime_checkable
class Source(Protocol):
    """An opened input. ``batches()`` yields until the input ends (files) or ``close()``
    is called (live inputs; they yield empty batches when idle so the host can advance the
    watermark by wall clock). Malformed data is counted in ``ctx.stats`` and skipped."""

    def batches(self) -> Iterator[FlowBatch]: ...

    def close(self) -> None: ...


class Enricher(Protocol):
    """Adds columns to a batch in place (``batch.add_column``); never copies rows."""

    def enrich(self, batch: FlowBatch) -> None: ...

    def close(self) -> None: ...


class Detector(Protocol):
    """Detection logic fed with time-ordered batches.

    ``on_batch`` receives records whose event time is at or below the current watermark, in
    event-time order; ``on_watermark`` tells that no record older than ``watermark_ms`` will
    come (close windows, fire timers); ``flush`` ends the input: release every pending
    window. Each returns the alert/metric events it produced.

    ``on_batch`` sees flow records (and the streams its ``streams`` names, below), never
    options records. A detector that wants the exporters' options
    records (sampler, interface and statistics tables: ``FlowBatch.stream == "Options"``)
    defines an optional ``on_options(batch) -> list[Event]``, called as they arrive, outside
    the reorder buffer; EPL modules get them by reading the ``Options`` stream.

    A level-2 monitor's detector (docs/level2.md) also reads the alert and metric events of
    gateway runs: it has an attribute ``streams`` naming them (``{"Alert"}``, ``{"Metric"}``),
    and ``on_batch`` then also receives batches whose ``stream`` is one of those, in event-time
    order with the flows (``inputs/ecs_events.py`` describes their columns). Without
    ``streams`` a detector sees flows only; EPL modules get them by reading ``Alert``/``Metric``.
    """

    def on_batch(self, batch: FlowBatch) -> list[Event]: ...

    def on_watermark(self, watermark_ms: int) -> list[Event]: ...

    def flush(self) -> list[Event]: ...


class Output(Protocol):
    """Receives alert/metric events (and flows when ``OutputSpec.accepts_flows``).

    ``write_flows`` is only called on outputs whose spec accepts flows. ``flush`` must make
    everything written so far durable; ``close`` flushes and releases resources.
    """

    def write_events(self, events: list[Event]) -> None: ...

    def write_flows(self, batch: FlowBatch) -> None: ...

    def flush(self) -> None: ...

    def close(self) -> None: ...


# -- specs --------------------------------------------------------------------------------


@dataclass(frozen=True)
class InputSpec:
    """An input kind. ``schemes`` are the address schemes it opens (``ipfix+udp``);
    ``sniff`` recognises a bare file path by its first bytes (return True to claim it).

    ``reads_file`` says the address path names a file (implied by ``sniff``): then a relative
    path in a config file resolves against the config file's folder. Otherwise the path is
    passed to ``open`` as written (``iface:eth0``, ``counter:1000``).
    """

    name: str
    summary: str
    schemes: tuple[str, ...]
    open: Callable[[Address, Mapping[str, Any], Context], Source]
    sniff: Callable[[bytes], bool] | None = None
    live: bool = False
    reads_file: bool = False
    config_schema: Mapping[str, Any] = field(default_factory=dict)
    defaults: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class EnricherSpec:
    """An enricher; ``factory(config, ctx)`` builds it once per run."""

    name: str
    summary: str
    factory: Callable[[Mapping[str, Any], Context], Enricher]
    columns: tuple[str, ...] = ()
    enabled_by_default: bool = False
    config_schema: Mapping[str, Any] = field(default_factory=dict)
    defaults: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RuleSpec:
    """How rows of one EPL statement (or one Python rule) become alerts.

    ``statement`` is the @Name of the statement whose rows are alerts. Field names refer
    to the row's keys: ``source_field`` the attacker, ``destination_field`` the victim(s),
    ``count_fields`` the counts copied into ``flowcep.counts``. ``summary`` is a
    ``str.format`` template over the row (``"{Attacker} scanned {AtkCount} hosts"``).
    ``kind`` is ``alert`` or ``metric``. ``references`` are URLs about the rule
    (``rule.reference``).

    Severity, technique and tactic ids are checked when the spec is made, so a typo fails
    the plugin at load time (listed as failed in ``flowcep plugins``) instead of putting a
    dead ATT&CK link into every alert.
    """

    id: str
    name: str
    description: str
    statement: str = ""
    severity: str = "medium"  # low | medium | high | critical
    risk_score: int = 50
    technique: tuple[str, ...] = ()  # MITRE ATT&CK ids, e.g. ("T1046",)
    tactic: tuple[str, ...] = ()
    source_field: str | None = None
    destination_field: str | None = None
    destination_port_field: str | None = None
    transport: str | None = None
    count_fields: tuple[str, ...] = ()
    summary: str = ""
    kind: str = "alert"
    references: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        from .alerts import SEVERITY, validate_technique

        if self.severity not in SEVERITY:
            raise ValueError(f"rule {self.id!r}: severity {self.severity!r} is not one of "
                             f"{', '.join(SEVERITY)}")
        if self.kind not in ("alert", "metric"):
            raise ValueError(f"rule {self.id!r}: kind {self.kind!r} is not 'alert' or 'metric'")
        if isinstance(self.technique, str) or isinstance(self.tactic, str):
            raise ValueError(f"rule {self.id!r}: technique and tactic are tuples of ids, "
                             "e.g. technique=('T1046',)")
        try:
            for t in self.technique:
                validate_technique(t)
            for t in self.tactic:
                validate_technique(t, tactic=True)
        except ValueError as exc:
            raise ValueError(f"rule {self.id!r}: {exc}") from None


@dataclass(frozen=True)
class DetectorSpec:
    """A detector: EPL text, an EPL file, or a Python factory. ``rules`` map its output
    statements to alerts. The EPL text may use ``${param}`` placeholders filled from the
    validated config (defaults first).

    With both EPL and a factory, the two run side by side on the same batches (EPL first)
    and their events are concatenated; if the factory's object has ``on_derived(stream,
    rows)`` it also receives the rows the EPL inserted into streams (to post-process them).
    The host and :func:`flowcep_plugin.testing.build_detector` build it the same way.
    """

    name: str
    summary: str
    epl: str | None = None
    epl_path: str | None = None
    factory: Callable[[Mapping[str, Any], Context], Detector] | None = None
    rules: tuple[RuleSpec, ...] = ()
    config_schema: Mapping[str, Any] = field(default_factory=dict)
    defaults: Mapping[str, Any] = field(default_factory=dict)
    references: tuple[str, ...] = ()  # where the defaults came from, for docs
    #: Which flows the detector needs in each worker of ``flowcep run --workers N``.
    #: ``"address"``: it keys all its state by one address per alert (the scanner, the victim)
    #: and names it in the alert's key (``make_alert(key=...)``, else its first source
    #: address, else its first destination); each worker feeds it the flows whose source or
    #: destination it owns and keeps the alerts whose key it owns (its object may narrow that
    #: with ``partition_rows(batch, end)``, one bool per record or None for all: the flows it
    #: reads when the worker owns their ``end``, ``"source"`` or ``"destination"``;
    #: :class:`flowcep_plugin.partition.Need`). ``"source"`` /
    #: ``"destination"``: its state is keyed by that end and filled only from flows it sent /
    #: received, so each worker feeds it only the flows whose source / destination it owns
    #: (each flow in one worker; documents that summarise across hosts are combined by the
    #: object's ``merge_partials(docs)`` in the main process, per window). ``"global"`` (the
    #: safe default: a statement grouped by port) runs once, in worker 0, on every flow.
    partition: str = "global"


@dataclass(frozen=True)
class OutputSpec:
    """An output kind; ``schemes`` are the ``--output`` prefixes it handles (``jsonl``)."""

    name: str
    summary: str
    schemes: tuple[str, ...]
    factory: Callable[[str | None, Mapping[str, Any], Context], Output]
    accepts_flows: bool = False
    #: the text after ``scheme:`` is a file path: relative in a config file means relative to
    #: the config file's folder
    target_is_path: bool = False
    config_schema: Mapping[str, Any] = field(default_factory=dict)
    defaults: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ElementSpec:
    """An information element: (pen, id) -> name and abstract data type (RFC 7012)."""

    pen: int
    id: int
    name: str
    type: str  # unsigned8..unsigned64, signed*, float32/64, boolean, macAddress, octetArray,
    # string, dateTimeSeconds/Milliseconds/Microseconds/Nanoseconds, ipv4Address, ipv6Address,
    # basicList, subTemplateList, subTemplateMultiList
