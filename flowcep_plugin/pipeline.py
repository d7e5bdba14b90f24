"""The pipeline: inputs -> enrichment -> event-time reordering -> detection -> outputs.

It only runs plans: :func:`flowcep_plugin.plan.resolve` has validated the config and
resolved every component once; the pipeline builds the components from the plan, opens the
inputs and runs. Inputs run in their own threads and hand batches to one bounded queue;
everything after that runs in one thread with one event-time clock, so detectors need no
locks (with ``--workers N``, in N forked processes, each on its hosts' share:
:mod:`flowcep_plugin.workers`). Each stage is called once per batch, and every plugin object is called on its own, in
its own ``try``: a detector that raises is counted against its plugin, the records it choked
on are isolated (the batch is retried in halves) and the others keep running; after
``[run] max_plugin_failures`` failures the plugin is disabled for the rest of the run.
Hooks go through pluggy's hook caller (wrappers, ``tryfirst``/``trylast`` as pluggy
documents) with each implementation guarded (:class:`flowcep_plugin.manager.Isolation`).
"""

from __future__ import annotations

import logging
import os
import queue
import sys
import threading
import time
from collections.abc import Sequence
from typing import IO, Any

from .addresses import TYPED_SCHEMES
from .alerts import stamp_observer
from .clock import NO_TIME, PROGRESS_STREAM, TIME_DEFAULTS, Reorderer, TimePolicy
from .config import parse_duration
from .context import Context
from .errors import ConfigError, FlowcepError, PluginError
from .plan import Plan, build_config, epl_module_spec
from .records import EVENT_STREAMS, FLOW_STREAM, FlowBatch
from .sanitize import Sanitizer
from .specs import Detector, Event, Output, Source
from .stages import Stage, StageRunner
from .workers import WorkerPool

__all__ = ["Pipeline", "build_config", "epl_module_spec", "CollectingOutput"]

log = logging.getLogger("flowcep")
_END = object()
_FIRST = object()  # (_FIRST, raw): the input's first batch is in the queue before this
_SOURCE = object()  # (_SOURCE, raw, name): the input's batches named ``name`` start here


class CollectingOutput:
    """Keeps every event in memory (the in-process API and tests)."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self.flushes = 0

    def write_events(self, events: list[Event]) -> None:
        self.events.extend(events)

    def write_flows(self, batch: FlowBatch) -> None:
        return

    def flush(self) -> None:
        self.flushes += 1

    def close(self) -> None:
        return


class Pipeline(StageRunner):
    """One run of a :class:`~flowcep_plugin.plan.Plan`. Constructing it builds every
    component and opens the inputs (so plugin errors surface before any data flows); then
    ``run()`` reads until the inputs end or ``stop`` is set."""

    #: event types ``stream:`` inputs deliver (set once the inputs are open)
    _typed_streams: frozenset[str] = frozenset()

    def __init__(self, plan: Plan, ctx: Context, extra_outputs: Sequence[Output] = (),
                 progress_stream: IO[str] | None = None,
                 extra_detectors: Sequence[Detector] = ()) -> None:
        self.plan = plan
        self.registry = plan.registry
        self.config = config = plan.config
        self.ctx = ctx
        self.pm = pm = plan.registry.pm
        run = config["run"]
        self.send_flows = bool(run.get("flows", False))
        self.observer = str(run.get("observer") or "")  # --observer: this gateway's name
        self.idle_advance = bool(run.get("idle_advance", True))
        self.max_failures = int(run.get("max_plugin_failures") or 10)
        self.shutdown_timeout_s = parse_duration(run.get("shutdown_timeout", 30))
        self.progress_stream = progress_stream
        self.stop = threading.Event()
        self.print_stats = threading.Event()
        self._shut = False
        self.pool: WorkerPool | None = None
        ctx.config = config
        iso = pm.isolation
        iso.stats, iso.max_failures = ctx.stats, self.max_failures
        self._hooks = {name: pm.isolated(name) for name in (
            "flowcep_configure", "flowcep_enrich_batch", "flowcep_derived_events", "flowcep_alerts",
            "flowcep_start", "flowcep_flush", "flowcep_shutdown")}
        self._has_impls = {name: bool(h.get_hookimpls()) for name, h in self._hooks.items()}
        try:
            self._call_hook("flowcep_configure", config=config, context=ctx)
            if ctx.elements is None:
                ctx.elements = plan.registry.element_registry(config.get("elements"))
            self.sanitizer = Sanitizer(ctx.elements, ctx.stats)
            self.enrichers = [Stage(c.name, c.plugin, obj) for c, obj in plan.build_enrichers(ctx)]
            self.detectors = [Stage(c.name, c.plugin, obj, partition=c.spec.partition)
                              for c, obj in plan.build_detectors(ctx, on_derived=self._on_derived)]
            self.workers = int(run.get("workers") or 1)
            # in-process detectors (``flowcep epl``'s row printer): same clock, same isolation
            self.detectors += [Stage(f"extra-detector-{i}", "in-process", obj)
                               for i, obj in enumerate(extra_detectors)]
            if self.workers > 1:
                typed = [i.raw for i in plan.inputs if i.address.scheme in TYPED_SCHEMES]
                if typed:
                    raise ConfigError(f"input {typed[0]}: stream rows cannot be read with --workers N: a level-2 "
                                      "module needs every row in one process (use --workers 1)")
                if self.send_flows:
                    raise ConfigError("--flows cannot be combined with --workers N: workers send "
                                      "alerts only (run the flows with --workers 1)")
                # The main process reads, checks and admits every record once and routes it.
                # One regular file: its first records balance the owner map before the fork.
                only = plan.inputs[0] if len(plan.inputs) == 1 else None
                path = only.address.path if only is not None and not only.live else None
                balance = bool(path) and path != "-" and os.path.isfile(str(path))
                # forked here: after enrichers and detectors are built, before outputs are open
                self.pool = WorkerPool(self, self.workers, balance)
            self.outputs = [Stage(o.raw, o.plugin, obj, accepts_flows=o.spec.accepts_flows)
                            for o, obj in plan.build_outputs(ctx)]
            self.outputs += [Stage(f"extra-{i}", "in-process", obj) for i, obj in enumerate(extra_outputs)]
            self._stream_outputs = self._bind_stream_outputs()
            self.suppressor = self._build_suppressor()
            self.input_addresses: list[str] = [i.raw for i in plan.inputs]
            self.sources: list[tuple[str, Source, bool]] = [
                (i.raw, src, i.live or bool(getattr(src, "live", False))) for i, src in plan.open_inputs(ctx)]
            self._typed_streams = self._bind_typed_inputs()
        except BaseException:
            if self.pool is not None:
                self.pool.close()
            self._shutdown()  # the hookspec promises shutdown "even after an error"
            raise
        self.live = any(live for _, _, live in self.sources)
        if self.pool is not None:
            self.pool.start(self.live)
        self.lateness_ms = plan.lateness_ms
        time_cfg = {**TIME_DEFAULTS, **dict(config.get("time") or {})}
        self.reorderer = Reorderer(self.lateness_ms, ctx.stats, max_pending=int(time_cfg["max_pending"]),
                                   policy=TimePolicy.from_config(time_cfg, self.live))
        ctx.stats.gauge("lateness_s", self.lateness_ms / 1000)
        self._last_wm = NO_TIME
        self._finished = False

    def _build_suppressor(self) -> Any:
        interval = int(parse_duration(self.config["alerts"].get("suppression", "1h")) * 1000)
        try:
            from .alerts import Suppressor
        except ImportError:
            return None
        return Suppressor(interval_ms=interval, stats=self.ctx.stats)

    def _call_hook(self, hook: str, **kwargs: Any) -> Any:
        """Call a hook through pluggy (wrappers and ordering as pluggy documents); a raising
        implementation is counted against its plugin and the others still run."""
        if not self._has_impls.get(hook, True):
            return None
        iso = self.pm.isolation
        mark = len(iso.failures)
        try:
            result = self._hooks[hook](**kwargs)
        except Exception as exc:  # a hook *wrapper* raised: pluggy propagates it
            self.ctx.stats.plugin_error("hook-wrapper", f"{hook}: {type(exc).__name__}: {exc}")
            if self.ctx.strict:
                raise
            return None
        if self.ctx.strict and len(iso.failures) > mark:
            f = iso.failures[mark]
            raise PluginError(f"plugin {f.plugin!r} raised in {f.hook}: {f.error} (--strict)") from f.exception
        return result

    def _bind_stream_outputs(self) -> dict[str, list[Stage]]:
        """Outputs that publish one INSERT INTO stream (``derived_stream``, e.g. ``kafka://...?stream=``),
        by stream; a stream no running EPL statement inserts into is a configuration error."""
        wanted = [st for st in self.outputs if getattr(st.obj, "derived_stream", None)]
        if not wanted:
            return {}
        if self.pool is not None:
            raise ConfigError(f"output {wanted[0].name}: an EPL stream cannot be published with --workers N: "
                              "each worker holds a share of the flows, so its rows would be partial "
                              "(use --workers 1)")
        inserted: set[str] = set()
        removes: dict[str, str] = {}  # stream -> a statement that inserts its remove stream
        for st in self.detectors:
            for obj in (st.obj, getattr(st.obj, "epl", None)):
                module = getattr(obj, "module", None)
                for stmt in getattr(module, "statements", ()):
                    if getattr(stmt, "insert_into", None):
                        inserted.add(stmt.insert_into)
                for plan in getattr(module, "plans", ()):
                    if plan.info.insert_into and getattr(plan, "insert_stream", "istream") != "istream":
                        removes.setdefault(plan.info.insert_into, plan.info.name)
        bound: dict[str, list[Stage]] = {}
        for st in wanted:
            name = st.obj.derived_stream
            if name not in inserted:
                known = ", ".join(sorted(inserted)) or "none"
                raise ConfigError(f"output {st.name}: no EPL statement of this run inserts into stream {name!r} "
                                  f"(INSERT INTO streams here: {known})")
            if name in removes:  # the documents carry no remove flag: a reader would take them as new rows
                raise ConfigError(f"output {st.name}: statement {removes[name]!r} inserts the remove stream into "
                                  f"{name!r} (insert rstream/irstream into), which a stream output cannot publish; "
                                  "publish an insert-stream-only statement")
            bound.setdefault(name, []).append(st)
        return bound

    def _on_derived(self, stream: str, rows: list[dict[str, Any]], times: list[int]) -> None:
        """Rows an INSERT INTO statement produced, with each row's event time (the engine time
        it was made at: what a level-2 run that reads the published stream orders it by)."""
        if self._has_impls.get("flowcep_derived_events"):
            self._call_hook("flowcep_derived_events", stream=stream, rows=rows, context=self.ctx)
        for st in getattr(self, "_stream_outputs", {}).get(stream, ()):
            self._call(st, "output write_stream", st.obj.write_stream, stream, rows, times)

    def _bind_typed_inputs(self) -> frozenset[str]:
        """The event types the ``stream:`` inputs deliver (``?type=NAME``), each checked against
        the detectors: a type no running module declares and reads is a configuration error
        (exit 2 at start), not rows silently ignored."""
        typed = [i for i in self.plan.inputs if i.address.scheme in TYPED_SCHEMES]
        if not typed:
            return frozenset()
        read: set[str] = set()
        for st in self.detectors:
            if st.obj is not None:
                read.update(s for s in getattr(st.obj, "streams", ()) if s != FLOW_STREAM)
        wanted: set[str] = set()
        for _raw, src, _live in self.sources:
            types = getattr(src, "event_types", None)
            if not types:
                continue
            for name in types:
                if name not in read:
                    known = ", ".join(sorted(read - EVENT_STREAMS)) or "none"
                    raise ConfigError(f"input {_raw}: no module of this run declares and reads event type {name!r} "
                                      f"(create schema {name} (...) and select from it; types read here: {known})")
            wanted.update(types)
        return frozenset(wanted)

    # -- the batch path --------------------------------------------------------------------------
    def process(self, batch: FlowBatch) -> None:
        """Run one input batch through every stage."""
        if batch.stream == PROGRESS_STREAM:  # a level-2 producer's time: the clock's, never events
            self._detect(self.reorderer.progress(batch))
            return
        if batch.stream in EVENT_STREAMS or batch.stream in self._typed_streams:
            self._level2_events(batch)
            return
        if batch.stream != FLOW_STREAM:
            self._options(batch)
            return
        n = batch.length
        stats = self.ctx.stats
        stats.count("input", n)
        if n == 0:
            return
        batch = self.sanitizer.clean(batch)  # a bad value drops its record, not the batch
        n = batch.length
        if n == 0:
            return
        self.enrich(batch)
        stats.count("enrich", n)
        self._detect(self.reorderer.push(batch))

    def _level2_events(self, batch: FlowBatch) -> None:
        """Alert and metric events of gateway runs, and rows of their INSERT INTO streams as
        events of a declared type (a level-2 monitor's input): they are not flows, so no
        sanitizing (the input checked them; the engine checks a declared type), enrichment or
        flow output; they go through the same reorder buffer and clock as flows (event time:
        the alert's window end or the row's own time, one watermark per gateway, file or
        partition) and then only to the detectors that read them."""
        self.ctx.stats.count("input", batch.length)
        if batch.length:
            self._detect(self.reorderer.push(batch))

    def enrich(self, batch: FlowBatch) -> None:
        """Every enricher, then the ``flowcep_enrich_batch`` hook, on one batch (workers too)."""
        for st in self.enrichers:
            self._call(st, "enricher enrich", st.obj.enrich, batch)
        self._call_hook("flowcep_enrich_batch", batch=batch, context=self.ctx)

    def _options(self, batch: FlowBatch) -> None:
        """Options records (exporter statistics, sampler and interface tables): checked like
        flows, then written by the outputs that write flows and given to the detectors that
        ask for them (``on_options``; EPL modules reading ``Options``), never to ``on_batch``.
        They describe exporters, not traffic: no enrichment, no reorder buffer (they are
        handled at once, in the detectors' current event time)."""
        n = batch.length
        batch = self.sanitizer.clean(batch)
        self.ctx.stats.count("options", n, batch.length)
        if not batch.length:
            return
        if self.send_flows:
            for st in self.outputs:
                if st.accepts_flows:
                    self._call(st, "output write_flows", st.obj.write_flows, batch)
        events: list[Event] = []
        for st in self.detectors:
            on_options = getattr(st.obj, "on_options", None)
            if on_options is not None:
                events.extend(self._call(st, "detector on_options", on_options, batch) or [])
        self._emit(events, self.reorderer.watermark)

    def _detect(self, released: list[FlowBatch]) -> None:
        events: list[Event] = []
        for rb in released:
            self.ctx.stats.count("detect", rb.length)
            flows = rb.stream == FLOW_STREAM
            if flows and self.send_flows:
                # flow documents are the records the clock admitted, in event-time order: a
                # record it drops (late, future, too old) is counted there and never written
                for st in self.outputs:
                    if st.accepts_flows:
                        self._call(st, "output write_flows", st.obj.write_flows, rb)
            for st in self.detectors:
                if flows or rb.stream in getattr(st.obj, "streams", ()):
                    events.extend(self._detect_isolated(st, rb))
        wm = self.reorderer.watermark
        self.ctx.stats.gauge("watermark_ms", wm)  # the live view shows event time and its lag
        self.ctx.stats.gauge("event_time_max_ms", self.reorderer.max_seen)
        # Windows close up to the release point: every record before it has reached the
        # detectors. It moves with the reorderer's releases, whatever they held, so workers
        # (each holding a share) close windows at the same steps as one process.
        rt = self.reorderer.released_to
        if rt > self._last_wm:
            self._last_wm = rt
            events.extend(self._watermark_local(rt))
            self._stream_progress(rt)
        self._emit(events, wm)

    def _stream_progress(self, rt: int) -> None:
        """The windows closed up to ``rt``: the rows of every INSERT INTO stream up to it are
        written, so outputs that publish a stream may say so (``write_progress``; a level-2
        run reading it then advances without rows from a quiet gateway)."""
        for stages in getattr(self, "_stream_outputs", {}).values():
            for st in stages:
                write = getattr(st.obj, "write_progress", None)
                if write is not None:
                    self._call(st, "output write_progress", write, rt)

    def _watermark_local(self, wm: int) -> list[Event]:
        events: list[Event] = []
        for st in self.detectors:
            got = self._call(st, "detector on_watermark", st.obj.on_watermark, wm)
            if got:
                events.extend(got)
        return events

    def _emit_steps(self, steps: list[tuple[list[Event], int, bool]]) -> None:
        """Emit the workers' completed steps, in order, each at its own event time."""
        for events, now_ms, final in steps:
            self._emit(events, now_ms, final=final)

    def _emit(self, events: list[Event], now_ms: int, final: bool = False) -> None:
        if self.suppressor is not None:
            try:
                events = self.suppressor.process(events, max(now_ms, 0)) if events else []
                if final:
                    events = events + self.suppressor.flush()
            except Exception as exc:  # never lose alerts to a suppression bug: pass them on
                self.ctx.stats.plugin_error("alerts", f"suppression failed: {type(exc).__name__}: {exc}")
        if not events:
            return
        if self.observer:
            stamp_observer(events, self.observer)
        for e in events:
            if (e.get("event") or {}).get("kind", "alert") == "alert":
                rule = e.get("rule") or {}
                self.ctx.stats.alert(str(rule.get("id") or rule.get("name") or "?"))
        self._call_hook("flowcep_alerts", events=events, context=self.ctx)
        self.ctx.stats.count("output", len(events))
        for st in self.outputs:
            self._call(st, "output write_events", st.obj.write_events, events)

    def _advance_idle(self, idle_s: float) -> None:
        """Live inputs silent: let wall-clock time move the watermark so windows close."""
        if self.pool is not None:
            if self.live and self.idle_advance:
                self.pool.idle(idle_s)  # the main clock moves, and every worker with it
            self._emit_steps(self.pool.poll())
            return
        if not (self.live and self.idle_advance) or self.reorderer.max_seen <= NO_TIME:
            return
        target = self.reorderer.max_seen - self.lateness_ms + int(idle_s * 1000)
        if target > self.reorderer.watermark:
            self._detect(self.reorderer.advance(target))

    def finish(self) -> None:
        """Drain every stage: release all held records, close windows, flush outputs."""
        if self.pool is not None:
            self._emit_steps(self.pool.finish())  # the workers' counters join the run's stats
            self.pool.close()
        else:
            self._detect(self.reorderer.flush())
            events: list[Event] = []
            for st in self.detectors:
                got = self._call(st, "detector flush", st.obj.flush)
                if got:
                    events.extend(got)
            self._emit(events, self.reorderer.watermark, final=True)
        for st in self.outputs:
            self._call(st, "output flush", st.obj.flush)
        self._call_hook("flowcep_flush", context=self.ctx)

    def close(self) -> None:
        if self.pool is not None:
            self.pool.close()
        for st in self.outputs:
            self._call(st, "output close", st.obj.close)
        for st in self.enrichers:
            close = getattr(st.obj, "close", None)
            if close is not None:
                self._call(st, "enricher close", close)

    # -- running ---------------------------------------------------------------------------------
    def _reader(self, raw: str, source: Source, q: queue.Queue[Any]) -> None:
        first = True
        names: set[str] = set()
        try:
            for batch in source.batches():
                if batch.source not in names and len(names) < 16:
                    names.add(batch.source)
                    q.put((_SOURCE, raw, batch.source))
                while True:
                    try:
                        q.put(batch, timeout=0.2)
                        break
                    except queue.Full:
                        if self.stop.is_set():
                            # read, so counted in; never processed: out 0 and a drop
                            self.ctx.stats.count("input", batch.length, 0)
                            self.ctx.stats.drop("shutdown", batch.length, raw)
                            return
                if first and batch.length:
                    first = False
                    q.put((_FIRST, raw))
                # On a stop the main loop has closed the source: read it to its end, so a
                # collector's drained socket is processed (the shutdown timeout bounds this).
        except FlowcepError as exc:
            self.input_failed(raw, str(exc))
        except Exception as exc:  # one broken input never stops the others
            self.input_failed(raw, f"{type(exc).__name__}: {exc}")
        finally:
            q.put((_END, raw))

    def input_failed(self, raw: str, message: str, count: bool = True) -> None:
        """An input ended with an error: one line on stderr, counted (``count``: workers
        reading the same file all see it; only worker 0 counts and prints it)."""
        if not count:
            return
        text = message if message.startswith(f"input {raw!r}") else f"input {raw!r}: {message}"
        self.ctx.stats.errors.append(text)
        self.ctx.stats.add("input_errors")
        print(f"flowcep: error: {text}", file=sys.stderr)

    def run(self) -> dict[str, Any]:
        """Read every input to its end (or until ``stop``), then drain and flush."""
        q: queue.Queue[Any] = queue.Queue(maxsize=64)
        try:
            self._call_hook("flowcep_start", context=self.ctx)
        except BaseException:
            self._close_sources()
            self.close()
            self._shutdown()
            raise
        threads = [threading.Thread(target=self._reader, args=(raw, src, q), name=f"input {raw}", daemon=True)
                   for raw, src, _ in self.sources]
        for t in threads:
            t.start()
        active = len(threads)
        several_files = len(self.sources) > 1
        file_inputs = {raw for raw, _src, live in self.sources if not live} if several_files else set()
        for raw in file_inputs:  # see Reorderer.wait_for
            self._clock_call("wait_for", raw)
        batch_sources: dict[str, list[str]] = {}
        closed = False
        stop_deadline: float | None = None
        last_data = time.monotonic()
        last_progress = 0.0
        try:
            while active:
                if stop_deadline is not None and time.monotonic() > stop_deadline:
                    # An input that does not wind down must not hold the alerts of the others.
                    self.ctx.stats.add("shutdown.inputs_abandoned", active)
                    print(f"flowcep: error: {active} input(s) did not stop within the shutdown timeout; "
                          "finishing without them", file=sys.stderr)
                    for _ in range(q.qsize()):  # what they already handed over still counts
                        item = q.get_nowait()
                        if not isinstance(item, tuple) and item.length:
                            self._feed(item)
                    break
                if self.stop.is_set() and not closed:
                    closed = True
                    stop_deadline = time.monotonic() + self.shutdown_timeout_s
                    for _raw, src, _live in self.sources:
                        try:
                            src.close()
                        except Exception as exc:
                            log.debug("closing %s: %s", _raw, exc)
                if self.print_stats.is_set():
                    self.print_stats.clear()
                    print(self.ctx.stats.render(), file=sys.stderr)
                try:
                    item = q.get(timeout=0.2)
                except queue.Empty:
                    self._advance_idle(time.monotonic() - last_data)
                    continue
                if isinstance(item, tuple):
                    if item[0] is _SOURCE:
                        if item[1] in file_inputs:  # see Reorderer.reading
                            batch_sources.setdefault(item[1], []).append(item[2])
                            self._clock_call("reading", item[2])
                        continue
                    self._clock_call("heard_from", item[1])
                    if item[0] is _END:
                        active -= 1
                        for name in batch_sources.pop(item[1], ()):
                            self._clock_call("finished", name)
                    continue
                if item.length:
                    last_data = time.monotonic()
                    self._feed(item)
                else:
                    self._advance_idle(time.monotonic() - last_data)
                if self.progress_stream is not None:
                    now = time.monotonic()
                    if now - last_progress > 0.2:
                        last_progress = now
                        self._show_progress()
            self.finish()
            self._finished = True
            if self.progress_stream is not None and self._show_progress():
                self.progress_stream.write("\n")  # the only 100 %: read, drained and flushed
        finally:
            if self.progress_stream is not None and not self._finished:
                self.progress_stream.write("\r\033[K")
            if self.progress_stream is not None:
                self.progress_stream.flush()
            try:
                self.close()
            finally:
                self._shutdown()
        return self.ctx.stats.snapshot()

    def _feed(self, batch: FlowBatch) -> None:
        """One input batch: processed here, or checked, admitted and routed to the workers."""
        if self.pool is None:
            self.process(batch)
            return
        self.pool.batch(batch)
        self._emit_steps(self.pool.poll())

    def _clock_call(self, name: str, source: str) -> None:
        """Tell the event-time clock which file inputs are still to be heard from or still
        reading (Reorderer.wait_for, heard_from, reading, finished); with ``--workers`` the
        workers' one clock in the main process (workers.TimeKeeper) too."""
        getattr(self.reorderer, name)(source)
        if self.pool is not None:
            self.pool.clock(name, source)

    def _close_sources(self) -> None:
        for raw, src, _live in self.sources:
            try:
                src.close()
            except Exception as exc:
                log.debug("closing %s: %s", raw, exc)

    def _shutdown(self) -> None:
        """``flowcep_shutdown`` exactly once per run, whether it ended well or not."""
        if self._shut:
            return
        self._shut = True
        self._call_hook("flowcep_shutdown", context=self.ctx, stats=self.ctx.stats.snapshot())

    def _show_progress(self) -> bool:
        done = total = 0
        for _raw, src, _live in self.sources:
            prog = getattr(src, "progress", None)
            if callable(prog):
                d, t = prog()
                done += d
                total += t
        stream = self.progress_stream
        if stream is None or not total:
            return False
        # reading the last byte is not the end: held windows and flushes follow, so 100 %
        # is drawn once, by run(), after finish()
        frac = 1.0 if self._finished else min(0.999, done / total)
        width = 30
        bar = "#" * int(frac * width) + "-" * (width - int(frac * width))
        recs = self.ctx.stats.stage_in.get("input", 0)
        stream.write(f"\r[{bar}] {frac:6.1%}  {recs:,} records")
        stream.flush()
        return True
