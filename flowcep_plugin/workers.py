"""``flowcep run --workers N``: the whole pipeline in N processes, each on the hosts it owns.

Shared-nothing workers: each worker decodes every record (one regular file is read by every
worker itself; anything else - live inputs, stdin, several inputs - is read once by the main
process and each batch is broadcast), checks them
and admits them to its event-time clock, so every worker advances its watermark and drops late
records exactly as one process would. Right after admission it keeps only the records some
detector of its reads (:class:`flowcep_plugin.partition.Need`, their union): the reorder
buffer holds them uncopied (a part of the admitted batch, copied once, sorted, on release),
they are enriched when released, and each detector's cut copies out only the columns it reads
(:meth:`FlowBatch.take` gives column views). The main process is nearly idle: the previous design (the main
process decoding, enriching, ordering and routing, the workers only detecting) ran at 0.95x of
one process with 2 workers, because the main process kept most of the CPU and pickled every
routed batch. What still bounds the speed-up (every worker decodes, sanitises and admits every
record; work keyed by one busy host stays in one worker; the reorder buffer's copies) is
measured in docs/deployment.md.

Each detector gets the rows its state is keyed by (``DetectorSpec.partition``): ``address``
the flows of the hosts the worker owns at either end (alerts kept when their key is owned),
narrowed by the object's optional ``partition_rows`` to what it reads by the end the worker
owns (portscan: UDP only of what a host received), ``source``/``destination`` the flows whose
source/destination it owns (each flow in one worker; a detector that summarises across hosts,
such as trafficstats, merges its per-window partial documents in the main process with
``merge_partials``), ``global`` every flow, in worker 0 only (which then enriches and holds
every record: correct, not faster).

A worker's steps are its input batches (and, live, the main process's idle ticks), the same
sequence in every worker. It reports the events of each step with the step's watermark; the
main process emits step ``s`` once every worker has passed it, all workers' events together,
through the same suppression and outputs as one process. Workers send alerts only, never
flows, so ``--flows`` is refused with workers.

Who owns a host is decided once, before the fork (:func:`owner_map`): for one regular file
the main process reads its first :data:`BALANCE_SAMPLE` records and balances 256 buckets of
addresses over the workers by their estimated load; otherwise CRC-32 modulo N. Every worker
routes its flows and keeps its alerts by that one map, so any map gives one process's alerts.

Workers are forked after the enrichers and detectors are built and before any output is
opened. A worker that dies or raises ends the run with a one-line error naming it.
"""

from __future__ import annotations

import dataclasses
import gc
import logging
import multiprocessing
import operator
import os
import queue
import resource
import signal
import threading
from collections.abc import Callable, Sequence
from itertools import compress
from multiprocessing.connection import Connection
from multiprocessing.reduction import ForkingPickler
from typing import TYPE_CHECKING, Any

from .alerts import ms_from_iso
from .clock import NO_TIME, TIME_DEFAULTS, Reorderer, TimePolicy, _Run
from .errors import FlowcepError
from .partition import BUCKETS, Need, OwnerMap, bucket_loads, event_owner, owned_columns
from .records import EVENT_STREAMS, FLOW_STREAM, FlowBatch
from .sanitize import Sanitizer
from .specs import Event
from .stages import Stage, StageRunner
from .stats import Stats

if TYPE_CHECKING:
    from .pipeline import Pipeline

__all__ = ["WorkerPool", "WorkerError", "SharedClock"]

log = logging.getLogger("flowcep")

#: address owners memoised per worker (cleared when full, counted)
OWNER_CACHE = 1 << 18
#: a worker reports at least every this many steps, so the main process can emit
_REPORT_EVERY = 32
#: the clock calls the main process forwards for several file inputs (Pipeline._clock_call)
_CLOCK_CALLS = frozenset({"wait_for", "heard_from", "reading", "finished"})
#: the main process waits this long for any word from a worker before giving up on it
_SILENCE_S = 300.0
#: records of a regular file the main process reads before the fork to balance the owner map
#: (about 0.05 CPU s of decoding, on the critical path; data.ipfix's mix settles within it)
BALANCE_SAMPLE = 50_000


class WorkerError(FlowcepError):
    """A worker died or raised (exit 2 with its message)."""


class SharedClock(Reorderer):
    """A reorder buffer that admits every record but holds only a worker's share.

    Admission (exporter clocks, the watermark, late and out-of-range drops) sees all records,
    so every worker's watermark and release point are those of one process. The share alone is
    sorted, held and released. One process moves its release point only while it holds records;
    a worker whose own share is empty moves it whenever one process would still hold some
    (any admitted record above the release point, or admitted since the last release), so
    the late floor stays the same in every worker. ``max_pending`` bounds each worker's share.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._all_max = NO_TIME  # the highest event time admitted, over every record
        self._fresh = False  # records admitted since the last release (one process holds them)

    def admit(self, batch: FlowBatch) -> FlowBatch:
        """Admission of a whole (non-empty) batch; returns the records admitted."""
        out = self._admit(batch)
        if out.length:
            self._fresh = True
            top = max(out.event_times())
            if top > self._all_max:
                self._all_max = top
        return out

    def hold(self, batch: FlowBatch | None, keep: list[int] | None = None) -> list[FlowBatch]:
        """Hold this worker's part of an admitted batch (the records at ``keep``; None: all);
        returns what the watermark releases. The part is not copied out: it is copied once,
        sorted, when released (as the reorderer's own runs are)."""
        if batch is not None and batch.length and (keep is None or keep):
            run = _Run(batch, keep)
            self._runs.append(run)
            self._starts.append(0)
            self._pending_n += len(run.times)
        return self._maybe_release()

    def _all_pending(self) -> bool:
        return self._fresh or self._all_max > self._released_to

    def _release(self, upto: int, force: bool = False) -> list[FlowBatch]:
        pending_all = self._all_pending()
        if self._runs:
            out = super()._release(upto, force)
        else:
            out = []
            if pending_all and upto > NO_TIME and upto > self._released_to:
                self._released_to = upto
        if pending_all:
            self._fresh = False
        return out

    def flush(self) -> list[FlowBatch]:
        if not self._all_pending():
            return []
        top = max(self._leader, self.watermark, self._all_max)
        out = self._release(top)
        self.watermark = top
        return out


class _Worker(StageRunner):
    """One worker: the pipeline's stages on its share of the records."""

    def __init__(self, pipe: Pipeline, index: int, n: int, conn: Connection, live: bool,
                 owners: OwnerMap | None = None) -> None:
        self.pipe = pipe
        self.index = index
        self.n = n
        self.owners_map = owners or OwnerMap(n)
        self.conn = conn
        self.ctx = ctx = pipe.ctx
        self.max_failures = pipe.max_failures
        # counts of the whole input (records read, checked, admitted, event time) are kept by
        # worker 0 only: every worker sees every record, and they must be counted once
        self.whole = ctx.stats if index == 0 else Stats()
        self.sanitizer = Sanitizer(ctx.elements, self.whole)
        time_cfg = {**TIME_DEFAULTS, **dict(pipe.config.get("time") or {})}
        self.lateness_ms = pipe.plan.lateness_ms
        self.clock = SharedClock(self.lateness_ms, self.whole, max_pending=int(time_cfg["max_pending"]),
                                 policy=TimePolicy.from_config(time_cfg, live))
        self.live = live
        kinds = {st.partition for st in pipe.detectors}
        # worker 0 runs the global detectors: it then needs every record
        self.keep_all = index == 0 and "global" in kinds
        self.stages = [st for st in pipe.detectors if st.partition != "global" or index == 0]
        # what each detector reads of the flows of the hosts this worker owns; the worker holds
        # their union (a plain address detector's need covers every other one's)
        self.needs = [self._need(st) for st in self.stages]
        plain = [nd for nd in self.needs if nd.kind == "address" and nd.rows is None]
        self.hold_needs = plain[:1] or list({(nd.kind, nd.rows): nd for nd in self.needs}.values())
        self.owners: dict[str | None, bool] = {}  # address -> owned by this worker
        self.last_rt = NO_TIME
        self.step = 0
        self.outbox: list[tuple[int, int, int, list[Event]]] = []
        self.unreported = 0
        self.held = 0  # records this worker held (workers.records.N)
        self.sources = 0  # records whose source it owns (workers.sources.N)

    # -- the stages ---------------------------------------------------------------------------
    def _owned(self, batch: FlowBatch) -> tuple[list[bool], list[bool]]:
        if len(self.owners) > OWNER_CACHE:
            self.owners.clear()
            self.ctx.stats.add("workers.owner_cache_resets")
        return owned_columns(batch, self.index, self.n, self.owners, self.owners_map)

    def _need(self, stage: Stage) -> Need:
        """A detector's need, its ``partition_rows`` called in isolation: one that raises or
        answers with the wrong length is counted against its plugin (``plugin_errors``, and
        logged the first time), and the detector then gets every flow of the worker's hosts
        for that batch: more work, the same alerts. It does not count towards disabling the
        detector, which one process never calls it for."""
        need = Need.of(stage.partition, stage.obj)
        rows = need.rows
        if rows is None:
            return need

        def checked(batch: FlowBatch, end: str) -> Sequence[bool] | None:
            try:
                got = rows(batch, end)
                if got is not None and len(got) != batch.length:
                    raise ValueError(f"partition_rows returned {len(got)} values for {batch.length} records")
                return got
            except Exception as exc:
                if self.ctx.strict:
                    raise self._strict_error(stage, "detector partition_rows", exc) from exc
                msg = f"partition_rows failed: {type(exc).__name__}: {exc}"
                if not self.ctx.stats.plugin_errors.get(stage.plugin):
                    log.error("flowcep: detector %r (plugin %s): %s; it gets every flow of its hosts",
                              stage.name, stage.plugin, msg)
                self.ctx.stats.plugin_error(stage.plugin, f"{stage.name}: {msg}")
                return None

        return Need(need.kind, checked)

    def _held(self, batch: FlowBatch, ms: list[bool], md: list[bool]) -> list[int]:
        """The positions of the records some detector of this worker reads: the union of
        their needs. With a source detector (every shipped set) each flow a worker's host
        sent is held, and the others' tests run only on the flows whose destination alone it
        owns (a quarter of them with 2 workers), cut out with their columns copied on read."""
        n = batch.length
        needs = self.hold_needs
        if not needs:  # every detector is global and runs in worker 0: this one holds nothing
            return []
        if not any(nd.kind == "source" for nd in needs):
            masks = [nd.mask(batch, ms, md) for nd in needs]
            if any(m is None for m in masks):
                return list(range(n))
            out: list[bool] = masks[0]  # type: ignore[assignment]  # not None: checked above
            for m in masks[1:]:
                out = list(map(operator.or_, out, m))  # type: ignore[arg-type]
            return list(compress(range(n), out))
        others = list(compress(range(n), map(operator.gt, md, ms)))  # the destination only
        chosen: list[bool] | None = [False] * len(others)
        sub = batch.take(others) if others else None
        for nd in needs:
            if nd.kind == "source" or sub is None:
                continue
            if nd.kind == "global":
                return list(range(n))
            got = nd.dst_rows(sub)
            if got is None:
                chosen = None  # every flow to one of its hosts
                break
            chosen = list(map(operator.or_, chosen, got))  # type: ignore[arg-type]
        held = list(ms)
        for i in others if chosen is None else compress(others, chosen):
            held[i] = True
        return list(compress(range(n), held))

    def process(self, batch: FlowBatch) -> list[Event]:
        """One input batch, as :meth:`Pipeline.process` with the share cut after admission."""
        if batch.stream in EVENT_STREAMS:
            return self._gateway_events(batch)
        if batch.stream != FLOW_STREAM:
            return self._options(batch)
        n = batch.length
        self.whole.count("input", n)
        if n == 0:
            return []
        batch = self.sanitizer.clean(batch)
        n = batch.length
        if n == 0:
            return []
        self.whole.count("enrich", n)
        admitted = self.clock.admit(batch)
        if not admitted.length:
            return self._detect(self.clock.hold(None))
        ms, md = self._owned(admitted)
        # each record is counted by the owner of its source, so the workers' counts add up
        # (every admitted record is released to the detectors, at the latest at the end)
        sources = ms.count(True)
        self.ctx.stats.count("detect", sources)
        self.sources += sources
        keep = None if self.keep_all else self._held(admitted, ms, md)
        held = admitted.length if keep is None else len(keep)
        self.ctx.stats.add("workers.records", held)
        self.held += held
        # enriched when released (_detect): only the records held, each once
        return self._detect(self.clock.hold(admitted, keep))

    def _gateway_events(self, batch: FlowBatch) -> list[Event]:
        """Alert and metric documents of gateway runs (a level-2 monitor's input): every worker
        admits them to its clock, so time stays one process's, and worker 0 alone holds them and
        hands them, whole, to the detectors that read them."""
        self.whole.count("input", batch.length)
        if not batch.length:
            return []
        admitted = self.clock.admit(batch)
        return self._detect(self.clock.hold(admitted if self.index == 0 else None))

    def _detect(self, released: list[FlowBatch]) -> list[Event]:
        events: list[Event] = []
        for rb in released:
            if rb.stream != FLOW_STREAM:  # gateway documents: only worker 0 holds them
                for st in self.stages:
                    if rb.stream in getattr(st.obj, "streams", ()):
                        events.extend(self._detect_isolated(st, rb))
                continue
            self.pipe.enrich(rb)
            # Each detector gets the flows it reads (detectors with the same need share one
            # cut). A worker holds their union, all of hosts it owns at one end or both, so a
            # plain address detector gets it whole. A cut copies out only the columns its
            # detector reads (take's column views): a detector reads a third of the columns or less.
            takes: dict[tuple[str, Any], FlowBatch] = {}
            owned: tuple[list[bool], list[bool]] | None = None
            for st, need in zip(self.stages, self.needs, strict=True):
                key = (need.kind, need.rows)
                whole = need.kind == "global" or (need.kind == "address" and need.rows is None
                                                  and not self.keep_all)
                sub = rb if whole else takes.get(key)
                if sub is None:
                    if owned is None:
                        owned = self._owned(rb)
                    mask = need.mask(rb, *owned)
                    idx = list(compress(range(rb.length), mask)) if mask is not None else None
                    sub = takes[key] = rb if idx is None or len(idx) == rb.length else rb.take(idx)
                if sub.length:
                    events.extend(self._mine(st, self._detect_isolated(st, sub)))
        self.whole.gauge("watermark_ms", self.clock.watermark)
        self.whole.gauge("event_time_max_ms", self.clock.max_seen)
        rt = self.clock.released_to
        if rt > self.last_rt:
            self.last_rt = rt
            for st in self.stages:
                got = self._call(st, "detector on_watermark", st.obj.on_watermark, rt)
                if got:
                    events.extend(self._mine(st, got))
        return events

    def _mine(self, stage: Stage, events: list[Event]) -> list[Event]:
        """The events this worker speaks for: an ``address`` detector's alerts whose key it
        owns (another worker that saw some of that host's flows drops its partial view)."""
        if stage.partition != "address" or not events:
            return events
        return [e for e in events if event_owner(e, self.n, self.owners_map) == self.index]

    def _options(self, batch: FlowBatch) -> list[Event]:
        """Options records go to every worker's detectors; an address detector's events are
        kept by the owner of their key, any other's by worker 0."""
        n = batch.length
        batch = self.sanitizer.clean(batch)
        self.whole.count("options", n, batch.length)
        if not batch.length:
            return []
        events: list[Event] = []
        for st in self.stages:
            on_options = getattr(st.obj, "on_options", None)
            if on_options is not None:
                got = self._call(st, "detector on_options", on_options, batch) or []
                events.extend(self._mine(st, got) if st.partition == "address" or self.index == 0 else [])
        return events

    def idle(self, idle_s: float) -> list[Event]:
        """Live inputs silent: wall-clock time moves the watermark (as one process does)."""
        if not self.pipe.idle_advance or self.clock.max_seen <= NO_TIME:
            return []
        target = self.clock.max_seen - self.lateness_ms + int(idle_s * 1000)
        if target <= self.clock.watermark:
            return []
        return self._detect(self.clock.advance(target))

    def finish(self) -> list[Event]:
        events = self._detect(self.clock.flush())
        for st in self.stages:
            got = self._call(st, "detector flush", st.obj.flush)
            if got:
                events.extend(self._mine(st, got))
        return events

    # -- talking to the main process -----------------------------------------------------------
    def done_step(self, events: list[Event]) -> None:
        step = self.step
        self.step += 1
        if events:
            self.outbox.append((step, self.clock.watermark, self.clock.released_to, events))
        self.unreported += 1
        if self.outbox or self.unreported >= _REPORT_EVERY:
            self.report()

    def report(self) -> None:
        self.conn.send(("steps", self.index, self.step, self.outbox))
        self.outbox = []
        self.unreported = 0

    def end(self) -> None:
        events = self.finish()
        self.report()
        self.ctx.stats.gauge(f"workers.cpu_s.{self.index}", _cpu_s())
        # how even the owner map split the work, free of the CPU figures' noise
        self.ctx.stats.gauge(f"workers.records.{self.index}", self.held)
        self.ctx.stats.gauge(f"workers.sources.{self.index}", self.sources)
        self.conn.send(("done", self.index, self.step, self.clock.watermark, events, self.ctx.stats.export()))


def _worker_main(pipe: Pipeline, index: int, n: int, conn: Connection, read_self: bool,
                 owners: OwnerMap) -> None:
    """A worker's life: read its input itself (one file input) or take the main process's
    batches and idle ticks; then finish and report."""
    # The main process owns the run's end: a Ctrl-C reaches the whole process group, and a
    # worker that died of it would lose the steps still in flight. It tells us to stop.
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGUSR1, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)
    ctx = pipe.ctx
    # the pipeline's collector settings (cli/run.py _long_run_gc): the detectors' long-lived
    # tables are not walked every 700 allocations, and what the fork inherited stays frozen
    # (a collection would touch, and so copy, every inherited page)
    gc.freeze()
    gc.set_threshold(20_000, *gc.get_threshold()[1:])
    ctx.stats.__init__()  # type: ignore[misc]  # the fork's copy: report only this worker's counts
    code = 0
    try:
        if read_self:
            # every worker reads the whole file; its decode counts and drops (malformed,
            # unknown template) are counted once, by worker 0
            if conn.recv()[0] != "go":  # stopped before it started (sequential runs: a Ctrl-C)
                conn.send(("done", index, 0, NO_TIME, [], ctx.stats.export()))
                return
            opened = pipe.plan.open_inputs(ctx if index == 0 else dataclasses.replace(ctx, stats=Stats()))
            live = any(i.live or bool(getattr(src, "live", False)) for i, src in opened)
            w = _Worker(pipe, index, n, conn, live, owners)
            stop = threading.Event()

            def listen() -> None:  # the main process's "stop" (Ctrl-C) or its end
                try:
                    conn.recv()
                except (EOFError, OSError):
                    pass
                stop.set()

            threading.Thread(target=listen, name="stop listener", daemon=True).start()
            for plan_input, src in opened:
                try:
                    for batch in src.batches():
                        if stop.is_set():
                            ctx.stats.add("workers.stopped_early")
                            break
                        if batch.length:
                            w.done_step(w.process(batch))
                except FlowcepError as exc:
                    pipe.input_failed(plan_input.raw, str(exc), count=index == 0)
                except Exception as exc:  # one broken input never stops the others
                    pipe.input_failed(plan_input.raw, f"{type(exc).__name__}: {exc}", count=index == 0)
                finally:
                    try:
                        src.close()
                    except Exception:  # noqa: S110 - closing a finished file input
                        pass
            w.end()
        else:
            first = conn.recv()
            w = _Worker(pipe, index, n, conn, bool(first[1]), owners)
            while True:
                msg = conn.recv()
                kind = msg[0]
                if kind == "batch":
                    w.done_step(w.process(msg[1]))
                elif kind == "idle":
                    w.done_step(w.idle(msg[1]))
                elif kind == "clock":
                    if msg[1] in _CLOCK_CALLS:
                        getattr(w.clock, msg[1])(msg[2])
                else:  # finish
                    w.end()
                    break
    except EOFError:  # the main process is gone
        code = 1
    except BaseException as exc:  # one line to the main process, which ends the run with it
        code = 1
        try:
            conn.send(("error", index, f"{type(exc).__name__}: {exc}"))
        except Exception:  # noqa: S110 - the main process is gone; nothing left to tell
            pass
    finally:
        os._exit(code)  # no atexit handlers or inherited finalizers of the parent's objects


class WorkerPool:
    """N forked workers and the main process's side: broadcast, merge steps, emit."""

    def __init__(self, pipe: Pipeline, n: int, read_self: bool) -> None:
        if n < 2:
            raise ValueError("a worker pool needs at least 2 workers")
        self.n = n
        # measurement only (benchmarks/bench_workers.py --sequential): workers that read the
        # input themselves run one after the other, so each one's CPU seconds are measured
        # without the others competing for the cores; the alerts are the same
        self.sequential = read_self and os.environ.get("FLOWCEP_WORKERS_SEQUENTIAL") == "1"
        self.ctx = pipe.ctx
        self.read_self = read_self
        self._conns: list[Connection] = []
        self._procs: list[Any] = []
        self._replies: queue.Queue[tuple[Any, ...]] = queue.Queue()
        self._upto = [0] * n  # steps each worker has reported
        self._steps: dict[int, list[Any]] = {}  # step -> [watermark, release point, events]
        self._emitted = 0
        self._done: dict[int, tuple[int, int, list[Event]]] = {}
        self._closed = False
        self._started = False
        self._stopping = False
        # detectors that split a global view by host: their documents are merged per window
        self._mergers: dict[str, Callable[[list[Event]], list[Event]]] = {}
        for st in pipe.detectors:
            merge = getattr(st.obj, "merge_partials", None)
            if merge is not None and st.partition in ("source", "destination"):
                self._mergers[str(getattr(st.obj, "name", st.name))] = merge
        self._partials: dict[tuple[str, str, str], list[Event]] = {}
        # one map for the whole run, fixed before the fork: a host's state never moves
        self.owners = owner_map(pipe, n, read_self)
        mp = multiprocessing.get_context("fork")
        for i in range(n):
            parent, child = mp.Pipe(duplex=True)
            proc = mp.Process(target=_worker_main, args=(pipe, i, n, child, read_self, self.owners),
                              name=f"flowcep-worker-{i}", daemon=True)
            proc.start()
            child.close()
            self._conns.append(parent)
            self._procs.append(proc)
        self._readers = [threading.Thread(target=self._read, args=(i, c), name=f"worker-{i} replies",
                                          daemon=True) for i, c in enumerate(self._conns)]
        for t in self._readers:
            t.start()
        if read_self:
            for w in range(1 if self.sequential else n):
                self._conns[w].send(("go",))
        self.ctx.stats.gauge("workers", n)
        self.ctx.stats.gauge("workers.cpu_s.main_at_fork", _cpu_s())

    def _read(self, index: int, conn: Connection) -> None:
        while True:
            try:
                msg = conn.recv()
            except (EOFError, OSError, TypeError):  # TypeError: the pipe closed under this recv
                self._replies.put(("gone", index))
                return
            self._replies.put(msg)
            if msg[0] in ("done", "error"):
                return

    def _broadcast(self, msg: tuple[Any, ...]) -> None:
        """Send ``msg`` to every worker, pickled once (a worker's ``recv`` unpickles it)."""
        data = ForkingPickler.dumps(msg)
        for w, conn in enumerate(self._conns):
            try:
                conn.send_bytes(data)
            except (BrokenPipeError, OSError) as exc:
                self._raise_reported()
                raise WorkerError(f"worker {w} is gone ({exc.strerror or exc}); "
                                  "run with --workers 1 to see the error") from None

    def _raise_reported(self) -> None:
        """A worker's own error, if it sent one, says more than a broken pipe."""
        while True:
            try:
                msg = self._replies.get_nowait()
            except queue.Empty:
                return
            if msg[0] in ("error", "gone"):
                self._take(msg)

    # -- broadcast (live or several inputs) ------------------------------------------------------
    def start(self, live: bool) -> None:
        if not self._started and not self.read_self:
            self._started = True
            self._broadcast(("start", live))

    def batch(self, batch: FlowBatch) -> None:
        self._broadcast(("batch", batch))

    def idle(self, idle_s: float) -> None:
        self._broadcast(("idle", idle_s))

    def clock(self, name: str, source: str) -> None:
        """One of the clock's file-input calls (see Pipeline._clock_call), for every worker;
        not a step: it changes when the watermark may move, not what a step holds."""
        self._broadcast(("clock", name, source))

    def stop_reading(self) -> None:
        """Ctrl-C with workers reading their file themselves: each stops after its batch."""
        self._stopping = True
        for w in range(self.n):
            try:
                self._conns[w].send(("stop",))
            except (BrokenPipeError, OSError):
                pass

    # -- merging ----------------------------------------------------------------------------------
    def poll(self, timeout: float | None = None) -> list[tuple[list[Event], int, bool]]:
        """The steps every worker has passed, merged, in order, as (events, now_ms, final);
        waits up to ``timeout`` for the first message."""
        try:
            msg = self._replies.get(timeout=timeout) if timeout else self._replies.get_nowait()
        except queue.Empty:
            return []
        out: list[tuple[list[Event], int, bool]] = []
        while True:
            out.extend(self._take(msg))
            try:
                msg = self._replies.get_nowait()
            except queue.Empty:
                return out

    @property
    def finished(self) -> bool:
        return len(self._done) == self.n

    def finish(self) -> list[tuple[list[Event], int, bool]]:
        """End of input: every worker finishes; returns every remaining step, the last final."""
        if not self.read_self:
            self._broadcast(("finish",))
        out: list[tuple[list[Event], int, bool]] = []
        while not self.finished:
            try:
                msg = self._replies.get(timeout=_SILENCE_S)
            except queue.Empty:
                raise WorkerError(f"workers did not answer within {_SILENCE_S:.0f} s; "
                                  "run with --workers 1 to see where it stalls") from None
            out.extend(self._take(msg))
        self.ctx.stats.gauge("workers.cpu_s.main", _cpu_s())
        return out

    def _take(self, msg: tuple[Any, ...]) -> list[tuple[list[Event], int, bool]]:
        kind = msg[0]
        if kind == "steps":
            _, index, upto, items = msg
            self._add(items)
            self._upto[index] = upto
            return self._ready()
        if kind == "done":
            _, index, upto, wm, events, stats = msg
            self._upto[index] = upto
            self._done[index] = (upto, wm, events)
            self.ctx.stats.merge(stats)
            if self.sequential and index + 1 < self.n and not self._stopping:
                self._conns[index + 1].send(("go",))  # (after a stop, each was told to stop)
            out = self._ready()
            if self.finished:
                out.extend(self._final())
            return out
        if kind == "error":
            raise WorkerError(f"worker {msg[1]}: {msg[2]}")
        if kind == "gone":
            if msg[1] in self._done:
                return []
            raise WorkerError(f"worker {msg[1]} exited unexpectedly; run with --workers 1 to see the error")
        return []

    def _add(self, items: list[tuple[int, int, int, list[Event]]]) -> None:
        for step, wm, rt, events in items:
            slot = self._steps.get(step)
            if slot is None:
                self._steps[step] = [wm, rt, list(events)]
            else:
                slot[2].extend(events)

    def _ready(self) -> list[tuple[list[Event], int, bool]]:
        upto = min(self._upto)
        out: list[tuple[list[Event], int, bool]] = []
        while self._emitted < upto:
            slot = self._steps.pop(self._emitted, None)
            self._emitted += 1
            if slot is not None:
                wm, rt, events = slot
                events = self._merge(events, rt)
                if events:
                    out.append((events, wm, False))
        return out

    def _final(self) -> list[tuple[list[Event], int, bool]]:
        out = self._ready()  # steps of workers that stopped early (Ctrl-C) at different places
        for step in sorted(self._steps):
            wm, rt, events = self._steps.pop(step)
            out.append((self._merge(events, rt), wm, False))
        events = []
        wm = NO_TIME
        for w in range(self.n):
            _, w_wm, w_events = self._done[w]
            events.extend(w_events)
            wm = max(wm, w_wm)
        out.append((self._merge(events, None), wm, True))
        return out

    def _merge(self, events: list[Event], release_point: int | None) -> list[Event]:
        """Hold the partial documents of split detectors until every worker has closed their
        window (the release point passed its end; None: the end of input), then merge them."""
        if not self._mergers:
            return events
        out: list[Event] = []
        for e in events:
            fc = e.get("flowcep") or {}
            det = fc.get("detector")
            if det in self._mergers:
                win = fc.get("window") or {}
                key = (str(det), str(win.get("start")), str(win.get("end")))
                self._partials.setdefault(key, []).append(e)
            else:
                out.append(e)
        for key in sorted(self._partials, key=lambda k: (k[2], k[1], k[0])):
            if release_point is not None and _window_end(key[2]) > release_point:
                continue
            parts = self._partials.pop(key)
            try:
                out.extend(self._mergers[key[0]](parts))
            except Exception as exc:  # never lose documents to a merge bug: pass the parts on
                self.ctx.stats.plugin_error(key[0], f"merge_partials failed: {type(exc).__name__}: {exc}")
                out.extend(parts)
        return out

    def close(self) -> None:
        """Stop the workers (they end at once when the run is abandoned)."""
        if self._closed:
            return
        self._closed = True
        for c in self._conns:
            c.close()
        for p in self._procs:
            p.join(timeout=5)
            if p.is_alive():
                p.kill()
                p.join(timeout=5)


def owner_map(pipe: Pipeline, n: int, read_self: bool) -> OwnerMap:
    """The run's owner map. A regular file read by every worker: buckets balanced by the
    records of the first :data:`BALANCE_SAMPLE` flows (:func:`bucket_loads`), read here before
    the fork, so every worker starts with the same map. Anything else (live inputs, stdin,
    several inputs): CRC-32 modulo ``n``, since what comes later cannot be sampled first and a
    host's state must not move between workers. Any map gives the alerts of one process."""
    stats = pipe.ctx.stats
    stats.gauge("workers.buckets", 0)
    if not read_self:
        return OwnerMap(n)
    started = _cpu_s()
    sample: list[FlowBatch] = []
    seen = 0
    try:
        opened = pipe.plan.open_inputs(dataclasses.replace(pipe.ctx, stats=Stats()))
        try:
            for _, src in opened:
                for batch in src.batches():
                    if batch.stream == FLOW_STREAM and batch.length:
                        sample.append(batch)
                        seen += batch.length
                        if seen >= BALANCE_SAMPLE:
                            break
        finally:
            for _, src in opened:
                src.close()
    except Exception as exc:  # the workers meet the same error and report it; stay plain here
        log.debug("flowcep: no sample to balance the workers (%s: %s)", type(exc).__name__, exc)
        return OwnerMap(n)
    if not seen:
        return OwnerMap(n)
    loads = bucket_loads(sample)
    owners = OwnerMap.balanced(n, loads)
    stats.gauge("workers.buckets", BUCKETS)
    stats.gauge("workers.balance_sample", seen)
    stats.gauge("workers.balance_share_max", round(max(owners.shares(loads)), 3))
    stats.gauge("workers.balance_cpu_s", round(_cpu_s() - started, 3))  # on the critical path
    return owners


def _cpu_s() -> float:
    """CPU seconds (user + system) of this process so far: ``flowcep run --stats-json``
    reports them per worker and for the main process, to project the speed-up on free cores."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return round(usage.ru_utime + usage.ru_stime, 3)


def _window_end(text: str) -> int:
    try:
        return ms_from_iso(text)
    except (TypeError, ValueError):
        return NO_TIME

