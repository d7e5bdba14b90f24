"""The plans a module compiles to: what the compiler produces and the runtime executes.

Plain data (streams, statements, per-stream window plans, compiled functions) with no
behaviour of their own, so that the planner (compiler.py) and the runtime (runtime.py) both
import it and neither imports the other. ``Module.runtime()`` builds a runtime through the
factory runtime.py registers when it is imported (the package imports it).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from . import ast as A
from .expressions import ColumnFilter, ColumnValues

#: Exporters' options records (flowcep_plugin.records.OPTIONS_STREAM): a stream every module
#: can read, fed only with options records, in the engine's current time.
OPTIONS = "Options"
#: Alert and metric documents a gateway-level run wrote, read back by a level-2 monitor
#: (flowcep_plugin.inputs.ecs_events): streams every module can read, in their own event time
#: (the alert's window end), each fed only with batches of its own stream.
ALERT = "Alert"
METRIC = "Metric"
EVENT_STREAMS = (ALERT, METRIC)

__all__ = ["ALERT", "EVENT_STREAMS", "METRIC", "OPTIONS", "Module", "SelectPlan", "StatementInfo", "StreamDef", "StreamPlan", "register_runtime"]

#: set by runtime.py at import: (module, stats, max_groups) -> Runtime
_RUNTIME_FACTORY: Callable[..., Any] | None = None


def register_runtime(factory: Callable[..., Any]) -> None:
    """Called once by runtime.py: lets ``Module.runtime()`` build runtimes without this
    module importing the runtime (which imports this one)."""
    global _RUNTIME_FACTORY
    _RUNTIME_FACTORY = factory


@dataclass
class StreamDef:
    """A stream a statement can read: the flow input, a declared schema or a derived stream."""

    name: str
    kind: str  # flow | schema | derived
    props: list[str] | None  # declared/known property names; None = any
    time_key: str | None = None  # flow: column holding the event time when not the flow end
    #: schema: declared type of each property (engine/typed.py checks events that enter from
    #: an input against them; flows keep their decoder's types)
    types: dict[str, str] | None = None

    def key(self, name: str) -> str | None:
        """The event key for property ``name`` (None when the stream does not have it)."""
        if self.kind == "derived":
            if self.props is None:  # filled by SELECT *: flow elements under bare names
                return name[6:] if name.startswith("ipfix.") else name
            return name if name in self.props else None
        bare = name[6:] if name.startswith("ipfix.") else name
        if self.props is None:
            return bare
        if name in self.props or "ipfix." + name in self.props or bare in self.props:
            return bare
        return None


@dataclass
class StatementInfo:
    """Public description of one statement."""

    name: str
    insert_into: str | None
    select_names: list[str]
    kind: str  # schema | select | join | pattern
    line: int = 0

    @property
    def stream(self) -> str:
        return self.insert_into or self.name


@dataclass
class StreamPlan:
    stream: str
    alias: str
    is_flow: bool
    keys: list[str] | None  # event keys the statement reads from this stream (None = all)
    view: A.View | None
    view_arg: Any = None  # period ms, size, or key function
    ts_index: int | str | None = None  # a key name with SELECT * (resolved on the first events)
    ref_point: int | None = None  # time_batch(P, ref) / ext_timed_batch(ts, P, ref): reference point in ms
    # prior(n, p): (synthetic key, n, key of p); computed over the stream as it arrives
    priors: list[tuple[str, int, str]] = field(default_factory=list)
    # prev(n, p), prevtail(n, p), prevcount(p), prevwindow(p): (synthetic key, function, n, key
    # of p); filled from the data window's contents as events enter it (batches: at release)
    prevs: list[tuple[str, str, int, str]] = field(default_factory=list)
    filter: ColumnFilter | None = None  # S(filter) and, for single streams, WHERE (pre-window)
    post_filter: ColumnFilter | None = None  # WHERE after a window that holds events whatever it says
    # WHERE of a time_batch: the window is anchored and timed by every event of the stream (as
    # in Esper, where WHERE filters what the window posts) but keeps only the passing ones
    window_where: ColumnFilter | None = None


@dataclass
class SelectPlan:
    info: StatementInfo
    streams: list[StreamPlan]
    aggregated: bool
    grouped: bool
    star: bool
    output: A.OutputLimit | None
    # column mode (single stream)
    col_select: ColumnValues | None = None
    col_having: ColumnFilter | None = None
    col_group: ColumnValues | None = None
    col_args: ColumnValues | None = None
    # row mode (joins, sliding aggregation): functions of one row dict per stream
    row_select: Callable[..., Any] | None = None
    row_group: Callable[..., Any] | None = None
    row_args: Callable[..., Any] | None = None
    conjuncts: list[tuple[frozenset[int], Callable[..., Any]]] = field(default_factory=list)
    # group/aggregate level: functions of (group key tuple, aggregate values list)
    aggs: list[tuple[str, bool, bool]] = field(default_factory=list)  # (kind, distinct, star)
    grp_select: Callable[..., Any] | None = None
    grp_having: Callable[..., Any] | None = None
    count_only: bool = False
    per_event: bool = False  # select reads event properties beside aggregates: row per event
    having_per_event: bool = False  # HAVING itself reads event properties
    having_reads_keys: bool = False  # HAVING reads GROUP BY expressions (not only aggregates)
    equi: list[tuple[int, str, int, str]] = field(default_factory=list)  # joins: s1.k1 = s2.k2
    grp_emit: Callable[..., Any] | None = None  # (results, t, out) -> rows of a batch, one pass
    grp_emit_rows: Callable[..., Any] | None = None  # the same, appending rows without their group key
    # a counting time batch with WHERE: (cols, n) -> group keys of the records WHERE passes
    col_keys_where: Callable[..., Any] | None = None
    pattern: Any = None  # patterns.PatternPlan
    match_recognize: Any = None  # match_recognize.MRPlan (h-mrec)
    # ORDER BY / LIMIT / DISTINCT: shapes the rows of one output step (ordering.make_shaper)
    shape: Callable[[list[Any]], list[Any]] | None = None
    # names of the computed values: select names, then hidden ORDER BY values (None: same)
    value_names: list[str] | None = None
    # h-subq: explicit outer joins (joins.OuterJoinPlan), the unidirectional stream's index,
    # and the subqueries whose values fill synthetic columns of stream 0 (subqueries.SubqueryPlan)
    outer: Any = None
    unidirectional: int | None = None
    subqueries: list[Any] = field(default_factory=list)
    # select [istream|irstream|rstream] and insert [istream|irstream|rstream] into: which rows
    # the statement outputs and which it inserts; ``rstream`` when either needs the remove stream
    select_stream: str = "istream"
    insert_stream: str = "istream"
    rstream: bool = False


class Module:
    """A compiled EPL module. ``runtime()`` makes independent state to run it."""

    def __init__(self, filename: str, statements: list[StatementInfo], plans: list[SelectPlan],
                 input_stream: str, streams: dict[str, StreamDef]) -> None:
        self.filename = filename
        #: the SELECT/pattern statements in module order (``create schema`` ones are in
        #: ``schemas``): every entry can produce rows
        self.statements = statements
        self.schemas: list[StatementInfo] = []
        self.plans = plans
        self.input_stream = input_stream
        self.streams = streams
        # h-named: named windows (namedwindows.NamedWindowPlan), on-trigger statements
        # (namedwindows.OnPlan) and the context of each context statement (contexts.ContextPlan)
        self.named_windows: list[Any] = []
        self.triggers: list[Any] = []
        self.contexts: dict[str, Any] = {}

    def runtime(self, stats: Any = None, max_groups: int | None = None) -> Any:
        """Fresh state to run the module. ``stats`` (the run's Stats) receives the engine's
        counters; ``max_groups`` bounds the groups each statement keeps (see Runtime)."""
        if _RUNTIME_FACTORY is None:  # pragma: no cover - the package imports the runtime
            raise RuntimeError("flowcep_plugin.engine.runtime is not imported")
        return _RUNTIME_FACTORY(self, stats, max_groups)

    def statement(self, name: str) -> StatementInfo:
        for s in self.statements:
            if s.name == name:
                return s
        raise KeyError(name)
