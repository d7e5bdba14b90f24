"""The pipeline: inputs -> enrichment -> event-time reordering -> detection -> outputs.

Inputs run in their own threads and hand batches to one bounded queue; everything after
that runs in one thread with one event-time clock, so detectors need no locks. Each stage
is called once per batch, and every plugin object is called on its own, in its own ``try``:
a detector that raises is counted against its plugin and the others keep running.
"""

from __future__ import annotations

import logging
import queue
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import IO, Any

from .addresses import parse_address
from .clock import NO_TIME, TIME_DEFAULTS, Reorderer, TimePolicy, default_lateness_s
from .config import HOST_DEFAULTS, compose_schema, parse_duration, validate_config
from .context import Context
from .errors import ConfigError, FlowcepError
from .records import FlowBatch
from .registry import Registry, merge_config
from .sanitize import Sanitizer
from .specs import Detector, DetectorSpec, Enricher, Event, Output, RuleSpec, Source

__all__ = ["Pipeline", "build_config", "CollectingOutput"]

log = logging.getLogger("flowcep")
_END = object()


def build_config(registry: Registry, file_config: Mapping[str, Any] | None = None,
                 overrides: Mapping[str, Any] | None = None, filename: str = "<config>") -> dict[str, Any]:
    """Validate the file, overlay command-line overrides on ``[run]``, fill host defaults."""
    schema = compose_schema(registry)
    cfg = dict(file_config or {})
    validate_config(cfg, schema, filename)
    run = dict(cfg.get("run") or {})
    for k, v in (overrides or {}).items():
        if v is not None and v != [] and v != ():
            run[k] = list(v) if isinstance(v, tuple) else v
    cfg["run"] = run
    validate_config(cfg, schema, "command line")
    for section, defaults in HOST_DEFAULTS.items():
        cfg[section] = merge_config(defaults, cfg.get(section))
    return cfg


_ATTACKER_KEYS = ("attacker", "scanner", "source", "src", "srcip", "sourceipv4address",
                  "ipfix.sourceipv4address", "sourceipv6address", "ipfix.sourceipv6address")
_VICTIM_KEYS = ("destination", "victim", "target", "dst", "dstip", "destinationipv4address",
                "ipfix.destinationipv4address", "destinationipv6address")


def epl_module_spec(path: str) -> DetectorSpec:
    """A detector for a user's own EPL file: its output statements (no INSERT INTO, plus the
    last one) become alerts named after the file and statement."""
    import os

    from .engine import compile_module
    from .errors import InputError

    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except OSError as exc:
        raise InputError(f"EPL module {path}: cannot read: {exc.strerror}") from None
    module = compile_module(text, path)
    stem = os.path.splitext(os.path.basename(path))[0]
    stmts = list(module.statements)
    outputs = [s for s in stmts if s.insert_into is None]
    if stmts and stmts[-1] not in outputs:
        outputs.append(stmts[-1])
    rules = []
    for st in outputs:
        names = list(st.select_names)
        lower = {n.lower(): n for n in names}
        src = next((lower[k] for k in _ATTACKER_KEYS if k in lower), None)
        dst = next((lower[k] for k in _VICTIM_KEYS if k in lower), None)
        counts = tuple(n for n in names if "count" in n.lower())
        rules.append(RuleSpec(id=f"{stem}.{st.name}", name=f"{stem} {st.name}",
                              description=f"output of statement {st.name} in {os.path.basename(path)}",
                              statement=st.name, source_field=src, destination_field=dst,
                              count_fields=counts, summary=""))
    return DetectorSpec(name=f"epl:{stem}", summary=f"EPL module {path}", epl=text,
                        epl_path=None, rules=tuple(rules))


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


@dataclass
class _Stage:
    name: str  # component name, for stats and errors
    plugin: str  # provider plugin name
    obj: Any
    accepts_flows: bool = False
    failures: int = field(default=0)


class Pipeline:
    """One run. Build it (which opens and compiles everything, so configuration errors surface
    before any data flows), then ``run()`` until the inputs end or ``stop`` is set."""

    def __init__(self, registry: Registry, config: Mapping[str, Any], ctx: Context,
                 extra_outputs: Sequence[Output] = (), progress_stream: IO[str] | None = None,
                 extra_detectors: Sequence[Detector] = ()) -> None:
        self.registry = registry
        self.config = config
        self.ctx = ctx
        run = config["run"]
        self.send_flows = bool(run.get("flows", False))
        self.idle_advance = bool(run.get("idle_advance", True))
        self.shutdown_timeout_s = parse_duration(run.get("shutdown_timeout", 30))
        self.progress_stream = progress_stream
        self.stop = threading.Event()
        self.print_stats = threading.Event()
        ctx.config = config
        registry.pm.hook.flowcep_configure(config=config, context=ctx)
        if ctx.elements is None:
            ctx.elements = registry.element_registry(config.get("elements"))
        self.sanitizer = Sanitizer(ctx.elements, ctx.stats)
        self.enrichers = self._build_enrichers(run.get("enrichers"))
        self.detectors = self._build_detectors(run.get("detectors"))
        # in-process detectors (``flowcep epl``'s row printer): same clock, same isolation
        self.detectors += [_Stage(f"extra-detector-{i}", "in-process", obj) for i, obj in enumerate(extra_detectors)]
        self.outputs = self._build_outputs(run.get("outputs") or [], extra_outputs)
        self.suppressor = self._build_suppressor()
        self._hook_impls = {
            name: list(getattr(registry.pm.hook, name).get_hookimpls())
            for name in ("flowcep_enrich_batch", "flowcep_derived_events", "flowcep_alerts")
        }
        self.input_addresses: list[str] = list(run.get("inputs") or [])
        if not self.input_addresses:
            raise ConfigError("no input given: use --input ADDRESS or [run] inputs = [...] in the config")
        self.sources: list[tuple[str, Source, bool]] = []
        for raw in self.input_addresses:
            spec = registry.resolve_input(parse_address(raw))
            source = registry.open_input(raw, config, ctx)
            self.sources.append((raw, source, spec.live or bool(getattr(source, "live", False))))
        self.live = any(live for _, _, live in self.sources)
        lateness = run.get("lateness")
        self.lateness_ms = int((parse_duration(lateness) if lateness is not None
                                else default_lateness_s(self.live)) * 1000)
        time_cfg = {**TIME_DEFAULTS, **dict(config.get("time") or {})}
        self.reorderer = Reorderer(self.lateness_ms, ctx.stats, max_pending=int(time_cfg["max_pending"]),
                                   policy=TimePolicy.from_config(time_cfg, self.live))
        ctx.stats.gauge("lateness_s", self.lateness_ms / 1000)
        self._last_wm = NO_TIME

    # -- building -------------------------------------------------------------------------------
    def _build_enrichers(self, names: list[str] | None) -> list[_Stage]:
        reg = self.registry
        if names is None:
            names = [n for n, s in sorted(reg.enrichers.items()) if s.enabled_by_default]
        stages = []
        for name in names:
            spec = reg.enrichers.get(name)
            if spec is None:
                raise ConfigError(f"unknown enricher {name!r}; installed: {', '.join(sorted(reg.enrichers)) or 'none'}")
            cfg = reg.component_config("enrichers", name, self.config)
            obj: Enricher = spec.factory(cfg, self.ctx)
            stages.append(_Stage(name, reg.provider[("enrichers", name)], obj))
        return stages

    def _build_detectors(self, names: list[str] | None) -> list[_Stage]:
        reg = self.registry
        if names is None:
            names = sorted(reg.detectors)
        stages = []
        for name in names:
            spec = reg.detectors.get(name)
            if spec is None:
                raise ConfigError(f"unknown detector {name!r}; installed: {', '.join(sorted(reg.detectors)) or 'none'}")
            cfg = reg.component_config("detectors", name, self.config)
            obj: Detector
            if spec.epl is not None or spec.epl_path is not None:
                try:
                    from .engine.detector import EPLDetector
                except ImportError as exc:
                    raise ConfigError(f"detector {name!r} is written in EPL but the engine cannot load: {exc}") from exc
                obj = EPLDetector(spec, cfg, self.ctx, on_derived=self._on_derived)
            elif spec.factory is not None:
                obj = spec.factory(cfg, self.ctx)
            else:
                raise ConfigError(f"detector {name!r} has neither EPL nor a factory; fix its plugin")
            stages.append(_Stage(name, reg.provider[("detectors", name)], obj))
        for path in (self.config.get("epl") or {}).get("modules", []):
            spec = epl_module_spec(path)
            from .engine.detector import EPLDetector
            stages.append(_Stage(spec.name, "epl-module", EPLDetector(spec, {}, self.ctx, on_derived=self._on_derived)))
        return stages

    def _build_outputs(self, raws: Iterable[str], extra: Sequence[Output]) -> list[_Stage]:
        stages = []
        for raw in raws:
            spec, target = self.registry.resolve_output(raw)
            cfg = self.registry.component_config("outputs", spec.name, self.config)
            obj = spec.factory(target, cfg, self.ctx)
            stages.append(_Stage(raw, self.registry.provider[("outputs", spec.name)], obj,
                                 accepts_flows=spec.accepts_flows))
        for i, obj in enumerate(extra):
            stages.append(_Stage(f"extra-{i}", "in-process", obj))
        return stages

    def _build_suppressor(self) -> Any:
        interval = int(parse_duration(self.config["alerts"].get("suppression", "1h")) * 1000)
        try:
            from .alerts import Suppressor
        except ImportError:
            return None
        return Suppressor(interval_ms=interval)

    # -- isolation helpers -----------------------------------------------------------------------
    def _call(self, stage: _Stage, what: str, fn: Callable[..., Any], *args: Any) -> Any:
        try:
            return fn(*args)
        except Exception as exc:  # a plugin's bug must not stop the others
            stage.failures += 1
            msg = f"{what} failed: {type(exc).__name__}: {exc}"
            self.ctx.stats.plugin_error(stage.plugin, f"{stage.name}: {msg}")
            if stage.failures <= 3:
                log.error("flowcep: %s %r (plugin %s): %s", what.split()[0], stage.name, stage.plugin, msg)
            if self.ctx.strict:
                raise
            return None

    def _call_hook(self, hook: str, **kwargs: Any) -> None:
        for impl in self._hook_impls[hook]:
            try:
                impl.function(**{k: v for k, v in kwargs.items() if k in impl.argnames})
            except Exception as exc:
                self.ctx.stats.plugin_error(impl.plugin_name, f"{hook}: {type(exc).__name__}: {exc}")
                if self.ctx.strict:
                    raise

    def _on_derived(self, stream: str, rows: list[dict[str, Any]]) -> None:
        if self._hook_impls.get("flowcep_derived_events"):
            self._call_hook("flowcep_derived_events", stream=stream, rows=rows, context=self.ctx)

    # -- the batch path --------------------------------------------------------------------------
    def process(self, batch: FlowBatch) -> None:
        """Run one input batch through every stage."""
        n = batch.length
        stats = self.ctx.stats
        stats.count("input", n)
        if n == 0:
            return
        batch = self.sanitizer.clean(batch)  # a bad value drops its record, not the batch
        n = batch.length
        if n == 0:
            return
        for st in self.enrichers:
            self._call(st, "enricher enrich", st.obj.enrich, batch)
        if self._hook_impls["flowcep_enrich_batch"]:
            self._call_hook("flowcep_enrich_batch", batch=batch, context=self.ctx)
        stats.count("enrich", n)
        if self.send_flows:
            for st in self.outputs:
                if st.accepts_flows:
                    self._call(st, "output write_flows", st.obj.write_flows, batch)
        self._detect(self.reorderer.push(batch))

    def _detect(self, released: list[FlowBatch]) -> None:
        events: list[Event] = []
        for rb in released:
            self.ctx.stats.count("detect", rb.length)
            for st in self.detectors:
                got = self._call(st, "detector on_batch", st.obj.on_batch, rb)
                if got:
                    events.extend(got)
        wm = self.reorderer.watermark
        self.ctx.stats.gauge("watermark_ms", wm)  # the live view shows event time and its lag
        self.ctx.stats.gauge("event_time_max_ms", self.reorderer.max_seen)
        if released and wm > self._last_wm:
            self._last_wm = wm
            for st in self.detectors:
                got = self._call(st, "detector on_watermark", st.obj.on_watermark, wm)
                if got:
                    events.extend(got)
        self._emit(events, wm)

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
        for e in events:
            if (e.get("event") or {}).get("kind", "alert") == "alert":
                rule = e.get("rule") or {}
                self.ctx.stats.alert(str(rule.get("id") or rule.get("name") or "?"))
        if self._hook_impls["flowcep_alerts"]:
            self._call_hook("flowcep_alerts", events=events, context=self.ctx)
        self.ctx.stats.count("output", len(events))
        for st in self.outputs:
            self._call(st, "output write_events", st.obj.write_events, events)

    def _advance_idle(self, idle_s: float) -> None:
        """Live inputs silent: let wall-clock time move the watermark so windows close."""
        if not (self.live and self.idle_advance) or self.reorderer.max_seen <= NO_TIME:
            return
        target = self.reorderer.max_seen - self.lateness_ms + int(idle_s * 1000)
        if target > self.reorderer.watermark:
            released = self.reorderer.advance(target)
            if released or target > self._last_wm:
                self._detect(released or [])
                if not released:
                    self._last_wm = target
                    events: list[Event] = []
                    for st in self.detectors:
                        got = self._call(st, "detector on_watermark", st.obj.on_watermark, target)
                        if got:
                            events.extend(got)
                    self._emit(events, target)

    def finish(self) -> None:
        """Drain every stage: release all held records, close windows, flush outputs."""
        self._detect(self.reorderer.flush())
        events: list[Event] = []
        for st in self.detectors:
            got = self._call(st, "detector flush", st.obj.flush)
            if got:
                events.extend(got)
        self._emit(events, self.reorderer.watermark, final=True)
        for st in self.outputs:
            self._call(st, "output flush", st.obj.flush)
        self.registry.pm.hook.flowcep_flush(context=self.ctx)

    def close(self) -> None:
        for st in self.outputs:
            self._call(st, "output close", st.obj.close)
        for st in self.enrichers:
            close = getattr(st.obj, "close", None)
            if close is not None:
                self._call(st, "enricher close", close)

    # -- running ---------------------------------------------------------------------------------
    def _reader(self, raw: str, source: Source, q: queue.Queue[Any]) -> None:
        try:
            for batch in source.batches():
                while True:
                    try:
                        q.put(batch, timeout=0.2)
                        break
                    except queue.Full:
                        if self.stop.is_set():
                            self.ctx.stats.drop("shutdown", batch.length, raw)
                            return
                if self.stop.is_set():
                    return
        except FlowcepError as exc:
            self._input_failed(raw, str(exc))
        except Exception as exc:  # one broken input never stops the others
            self._input_failed(raw, f"{type(exc).__name__}: {exc}")
        finally:
            q.put((_END, raw))

    def _input_failed(self, raw: str, message: str) -> None:
        text = message if message.startswith(f"input {raw!r}") else f"input {raw!r}: {message}"
        self.ctx.stats.errors.append(text)
        self.ctx.stats.add("input_errors")
        print(f"flowcep: error: {text}", file=sys.stderr)

    def run(self) -> dict[str, Any]:
        """Read every input to its end (or until ``stop``), then drain and flush."""
        q: queue.Queue[Any] = queue.Queue(maxsize=64)
        self.registry.pm.hook.flowcep_start(context=self.ctx)
        threads = [threading.Thread(target=self._reader, args=(raw, src, q), name=f"input {raw}", daemon=True)
                   for raw, src, _ in self.sources]
        for t in threads:
            t.start()
        active = len(threads)
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
                        if not (isinstance(item, tuple) and item and item[0] is _END) and item.length:
                            self.process(item)
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
                if isinstance(item, tuple) and item and item[0] is _END:
                    active -= 1
                    continue
                if item.length:
                    last_data = time.monotonic()
                    self.process(item)
                else:
                    self._advance_idle(time.monotonic() - last_data)
                if self.progress_stream is not None:
                    now = time.monotonic()
                    if now - last_progress > 0.2:
                        last_progress = now
                        self._show_progress()
            self.finish()
        finally:
            if self.progress_stream is not None:
                self.progress_stream.write("\r\033[K")
                self.progress_stream.flush()
            self.close()
        snapshot = self.ctx.stats.snapshot()
        self.registry.pm.hook.flowcep_shutdown(context=self.ctx, stats=snapshot)
        return snapshot

    def _show_progress(self) -> None:
        done = total = 0
        for _raw, src, _live in self.sources:
            prog = getattr(src, "progress", None)
            if callable(prog):
                d, t = prog()
                done += d
                total += t
        stream = self.progress_stream
        if stream is None or not total:
            return
        frac = min(1.0, done / total)
        width = 30
        bar = "#" * int(frac * width) + "-" * (width - int(frac * width))
        recs = self.ctx.stats.stage_in.get("input", 0)
        stream.write(f"\r[{bar}] {frac:6.1%}  {recs:,} records")
        stream.flush()
