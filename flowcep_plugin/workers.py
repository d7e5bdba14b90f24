"""``flowcep run --workers N``: the detectors in N processes, each on the hosts it owns.

The main process reads every input and, once per record, decodes it, checks it (the
sanitiser) and admits it to the run's one event-time clock (:class:`TimeKeeper`: exporter
clocks, the watermark, late and out-of-range drops, forced releases past ``max_pending``,
exactly one process's). So a record the sanitiser or the clock drops is dropped and counted
once, and every worker cuts time at the same instants because there is only one clock.

Each admitted record then goes to the owner of its source and to the owner of its
destination (:class:`Router`), and only where some detector reads it there: a record
routed for its destination alone reaches a worker only if one of its detectors reads flows
by their destination (``partition_rows``: portscan's UDP answers, volumetric's floods), so a
record of a completed TCP connection reaches the source's owner only. Each worker is sent,
per input batch (a *step*), its rows (:func:`pack_rows`: each column the decoder still
holds as numpy arrays crosses as the arrays picked for that worker, IPv4 addresses as
numbers, any other column as a list; the worker rebuilds a batch whose columns become lists,
and addresses text, only where a stage reads them) and the step's clock progress: the release points the clock passed (what one process releases to its
detectors at that step), the release point and the watermark. A worker whose share of a step
is empty still gets the progress, so its windows close with everyone else's. A worker holds
its rows in a reorder buffer of its own (:class:`ShareBuffer`) and releases them, sorted,
at those release points; it enriches what it releases and hands each detector the part it
reads. Messages to a worker go through a bounded queue and a sender thread per worker: the
main process is at most :data:`INFLIGHT` steps ahead of its slowest worker.

Why here and not in every worker: the previous design had every worker decode, check and
admit every record itself (so the clocks agreed without talking), about 0.8 of one process's
4.7 CPU s paid whole by each worker; and a still earlier one sent every worker every record.

Each detector gets the rows its state is keyed by (``DetectorSpec.partition``): ``address``
the flows of the hosts the worker owns at either end (alerts kept when their key is owned),
narrowed by the object's optional ``partition_rows`` to what it reads by the end the worker
owns, ``source``/``destination`` the flows whose source/destination it owns (each flow in one
worker; a detector that summarises across hosts, such as trafficstats, merges its per-window
partial documents in the main process with ``merge_partials``), ``global`` every flow, in
worker 0 only (which then holds every record: correct, not faster).

A worker reports the events of each step with the step's watermark; the main process emits
step ``s`` once every worker has passed it, all workers' events together, through the same
suppression and outputs as one process. Workers send alerts only, never flows, so
``--flows`` is refused with workers.

The owners of each record's ends are found with numpy on the decoder's address numbers
(:class:`~flowcep_plugin.partition.OwnerTable`), so the main process makes no address text
and no Python list of a column the decoder held as an array: before, making and pickling
those lists was most of its CPU.

Who owns a host is decided once, before the fork (:func:`owner_map`): for one regular file
the main process reads its first :data:`BALANCE_SAMPLE` records and balances 256 buckets of
addresses over the workers by their estimated load; otherwise CRC-32 modulo N. Any map gives
one process's alerts.

Workers are forked after the enrichers and detectors are built and before any output is
opened. A worker that dies or raises ends the run with a one-line error naming it.
"""

from __future__ import annotations

import dataclasses
import gc
import logging
import multiprocessing
import os
import queue
import resource
import signal
import threading
from bisect import bisect_right
from collections.abc import Callable, Sequence
from itertools import compress
from multiprocessing.connection import Connection
from multiprocessing.reduction import ForkingPickler
from typing import TYPE_CHECKING, Any

from .alerts import ms_from_iso
from .clock import NO_TIME, TIME_DEFAULTS, Reorderer, TimePolicy, _Run
from .errors import FlowcepError
from .partition import (
    BUCKETS,
    Need,
    OwnerMap,
    OwnerTable,
    bucket_loads,
    event_owner,
    owned_columns,
    owner_arrays,
)
from .records import (
    EVENT_STREAMS,
    FLOW_STREAM,
    IPV4_TEXT,
    VALUES,
    ArrayPart,
    Columns,
    FlowBatch,
    array_values,
    picker,
)
from .specs import Event
from .stages import Stage, StageRunner
from .stats import Stats

if TYPE_CHECKING:
    from .pipeline import Pipeline

__all__ = ["WorkerPool", "WorkerError", "TimeKeeper", "ShareBuffer", "Router", "pack_rows", "unpack_rows"]

log = logging.getLogger("flowcep")

#: address owners memoised per process (cleared when full, counted)
OWNER_CACHE = 1 << 18
#: a worker reports at least every this many steps, so the main process can emit
_REPORT_EVERY = 32
#: steps the main process may run ahead of a worker (each worker's send queue): bounds the
#: memory of what is routed but not yet read, and makes a slow worker slow the reading down
INFLIGHT = 32
#: the main process waits this long for any word from a worker before giving up on it
_SILENCE_S = 300.0
#: records of a regular file the main process reads before the fork to balance the owner map
#: (about 0.05 CPU s of decoding, on the critical path; data.ipfix's mix settles within it)
BALANCE_SAMPLE = 50_000


class WorkerError(FlowcepError):
    """A worker died or raised (exit 2 with its message)."""


class TimeKeeper(Reorderer):
    """The run's clock in the main process: one process's :class:`Reorderer`, admission and
    release rule for rule, holding only each admitted batch's event times (the records go
    to the workers). Every release it makes is noted in :attr:`releases` (the release point,
    after a forced release's raise), for the workers to replay on their shares."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.releases: list[int] = []

    def admit(self, batch: FlowBatch) -> FlowBatch:
        """Admit a batch (drops counted here, once); returns the records admitted. Their
        times are held as one process holds the records, and what the watermark now releases
        is noted in :attr:`releases`."""
        if batch.length == 0:
            return batch
        admitted = self._admit(batch)
        if admitted.length:
            times = FlowBatch({}, admitted.length, admitted.source, stream=admitted.stream)
            times.set_event_times(admitted.event_times())
            self._runs.append(_Run(times))
            self._starts.append(0)
            self._pending_n += admitted.length
        self._maybe_release()
        return admitted

    def take_releases(self) -> list[int]:
        out, self.releases = self.releases, []
        return out

    def _release(self, upto: int, force: bool = False) -> list[FlowBatch]:
        # Reorderer._release's bookkeeping, without building the released batches
        if not self._runs:
            return []
        if force:
            upto = self._forced(upto)
        if upto <= NO_TIME:
            return []
        runs: list[_Run] = []
        starts: list[int] = []
        released = 0
        for run, start in zip(self._runs, self._starts, strict=True):
            t = run.times
            if t[start] > upto:
                runs.append(run)
                starts.append(start)
                continue
            n = len(t)
            k = n if t[-1] <= upto else bisect_right(t, upto, start)
            released += k - start
            if k < n:
                runs.append(run)
                starts.append(k)
        self._runs, self._starts = runs, starts
        self._pending_n -= released
        if upto > self._released_to:
            self._released_to = upto
        self.releases.append(upto)
        return []


class ShareBuffer(Reorderer):
    """A worker's reorder buffer: holds the rows it was sent and releases them, sorted (event
    time, then batch, then position, as one process orders the whole), at the release points
    the main process's :class:`TimeKeeper` passed. It admits nothing and decides nothing."""

    def hold(self, batch: FlowBatch | None) -> None:
        if batch is not None and batch.length:
            run = _Run(batch)
            self._runs.append(run)
            self._starts.append(0)
            self._pending_n += batch.length

    def follow(self, releases: Sequence[int], released_to: int, watermark: int) -> list[FlowBatch]:
        """Release at each of ``releases`` in turn; then the release point and watermark are
        the main clock's (they move for a worker whose share is empty, too)."""
        out: list[FlowBatch] = []
        for upto in releases:
            out.extend(Reorderer._release(self, upto))
        if released_to > self._released_to:
            self._released_to = released_to
        if watermark > self.watermark:
            self.watermark = watermark
        return out


def checked_need(stage: Stage, runner: StageRunner) -> Need:
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
            if runner.ctx.strict:
                raise runner._strict_error(stage, "detector partition_rows", exc) from exc
            msg = f"partition_rows failed: {type(exc).__name__}: {exc}"
            if not runner.ctx.stats.plugin_errors.get(stage.plugin):
                log.error("flowcep: detector %r (plugin %s): %s; it gets every flow of its hosts",
                          stage.name, stage.plugin, msg)
            runner.ctx.stats.plugin_error(stage.plugin, f"{stage.name}: {msg}")
            return None

    return Need(need.kind, checked)


class Router:
    """Which admitted records each worker is sent: those whose source it owns that some
    detector reads by their source, and those whose destination it owns that some detector
    reads by their destination (``partition_rows`` answers, asked once per record in the
    main process, not once per worker). Worker 0 gets every record when a ``global``
    detector runs there."""

    def __init__(self, needs: Sequence[Need], n: int, owners: OwnerMap, stats: Stats) -> None:
        self.n = n
        self.owners = owners
        self.stats = stats
        self.cache: dict[str | None, int] = {}  # address text -> owner
        self.table = OwnerTable(owners)  # IPv4 address numbers -> owner, looked up with numpy
        kinds = {nd.kind for nd in needs}
        self.keep_all = "global" in kinds
        plain = any(nd.kind == "address" and nd.rows is None for nd in needs)
        #: every record is read by its source's owner / its destination's owner
        self.all_src = plain or "source" in kinds
        self.all_dst = plain or "destination" in kinds
        self.src_rows = [nd.rows for nd in needs if nd.kind == "address" and nd.rows is not None]
        self.held = [0] * n  # records sent to each worker (workers.records.N)
        self.sources = [0] * n  # records whose source each owns (workers.sources.N)

    def route(self, batch: FlowBatch) -> list[Any]:
        """Per worker, the positions of the records it is sent, in batch order, as a numpy
        index array (None: all)."""
        import numpy as np  # the decoder has imported it already; not at the top (config imports)

        n = batch.length
        if len(self.cache) > OWNER_CACHE:
            self.cache.clear()
            self.stats.add("workers.owner_cache_resets")
        resets = self.table.resets
        so, do = owner_arrays(batch, self.owners, self.cache, self.table)
        if self.table.resets != resets:
            self.stats.add("workers.owner_cache_resets")
        src_ok: Any = None  # None: every record is read by the owner of its source
        if not self.all_src:
            src_ok = np.zeros(n, bool)
            for rows in self.src_rows:
                got = rows(batch, "source")
                if got is None:
                    src_ok = None
                    break
                src_ok |= np.asarray(got, bool)
        dst_ok: Any = None
        if not self.all_dst:
            # asked only about records the source's owner does not already take whole
            cand = so != do if src_ok is None else (so != do) | ~src_ok
            idx = np.flatnonzero(cand)
            dst_ok = np.zeros(n, bool)
            if len(idx):
                sub = batch if len(idx) == n else batch.take(idx.tolist())
                got_all = np.zeros(len(idx), bool)
                for rows in self.src_rows:
                    got = rows(sub, "destination")
                    if got is None:
                        got_all[:] = True
                        break
                    got_all |= np.asarray(got, bool)
                dst_ok[idx] = got_all
        out: list[Any] = []
        for w in range(self.n):
            mine_s = so == w
            self.sources[w] += int(mine_s.sum())
            if w == 0 and self.keep_all:
                out.append(None)
                self.held[w] += n
                continue
            mask = (mine_s if src_ok is None else mine_s & src_ok) | \
                ((do == w) if dst_ok is None else (do == w) & dst_ok)
            idx_w = np.flatnonzero(mask)
            self.held[w] += len(idx_w)
            out.append(None if len(idx_w) == n else idx_w)
        return out


#: the layout of a worker's rows on the pipe (:func:`pack_rows`); both ends are forks of one
#: process, so this only guards against a message of another kind being read as rows
ROWS_WIRE = 1
#: how a column crosses: the decoder's numpy array of its values (``tolist`` gives the
#: list), of IPv4 addresses as 32-bit numbers (text made on the worker's side), or the list
_ARRAY, _IPV4, _LIST = "a", "4", "l"


def pack_rows(batch: FlowBatch, idx: Any, times: Any) -> tuple[Any, ...]:
    """A worker's rows of ``batch`` (the records at the sorted numpy index ``idx``, None: all)
    as plain data to pickle: a column still held as numpy arrays of values or of IPv4
    numbers (parts of records that lack it as counts) crosses as its picked arrays (one copy
    of their bytes, no Python object per value, no text made here); any other column as the
    list of its picked values. ``times``: the batch's event times (:func:`_times`), picked
    alike."""
    import numpy as np

    cols = batch.columns
    arrays = cols.arrays if isinstance(cols, Columns) else None
    pick = None if idx is None else picker(idx.tolist())
    out: list[tuple[str, str, Any]] = []
    for name in list(cols):
        parts = arrays(name) if arrays is not None else None
        enc = _encoding(parts)
        if parts is not None and enc is not None:
            if idx is None:
                values: list[Any] = [p[0] for p in parts]
            else:
                sizes = [p[0] if p[0].__class__ is int else len(p[0]) for p in parts]
                starts = np.cumsum([0, *sizes])
                cuts = np.searchsorted(idx, starts).tolist()
                values = []
                for k, (part, _make, _enc) in enumerate(parts):
                    lo, hi = cuts[k], cuts[k + 1]
                    if lo < hi:
                        values.append(hi - lo if part.__class__ is int else part[idx[lo:hi] - starts[k]])
            out.append((name, _ARRAY if enc == VALUES else _IPV4, values))
            continue
        col = cols[name]
        out.append((name, _LIST, col if pick is None else pick(col)))
    if idx is not None:
        times = times[idx] if not isinstance(times, list) else pick(times)  # type: ignore[misc]
    return (ROWS_WIRE, batch.length if idx is None else len(idx), batch.source, batch.exporter, batch.stream,
            times, out)


def _encoding(parts: Sequence[Any] | None) -> str | None:
    """The one encoding (VALUES or IPV4_TEXT) of a column's array parts that can cross as
    arrays (counts of absent records allowed, at least one array); None: it crosses as a list."""
    if not parts:
        return None
    encs = {p[2] for p in parts if p[0].__class__ is not int}
    if len(encs) != 1:
        return None
    enc = encs.pop()
    return enc if enc == VALUES or enc == IPV4_TEXT else None


def unpack_rows(data: tuple[Any, ...], ipv4: Callable[[Any], list[str]]) -> FlowBatch:
    """:func:`pack_rows`'s batch again, its array columns held as arrays (``batch.array``
    works, a list is made on a stage's first read), IPv4 text made by ``ipv4`` (this
    process's converter: the decoder's holds a lock and stays in the main process)."""
    wire, length, source, exporter, stream, times, columns = data
    if wire != ROWS_WIRE:
        raise ValueError(f"rows of wire version {wire!r}, expected {ROWS_WIRE}")
    cols = Columns(None, length)
    for name, kind, values in columns:
        if kind == _ARRAY:
            cols.set_arrays(name, [ArrayPart(v, array_values, VALUES) for v in values])
        elif kind == _IPV4:
            cols.set_arrays(name, [ArrayPart(v, ipv4, IPV4_TEXT) for v in values])
        else:
            dict.__setitem__(cols, name, values)
    batch = FlowBatch(cols, length, source, exporter, stream)
    batch.set_event_times(times if isinstance(times, list) else times.tolist())
    return batch


class _Worker(StageRunner):
    """One worker: the detectors on the rows it is sent, released at the main clock's points."""

    def __init__(self, pipe: Pipeline, index: int, n: int, conn: Connection,
                 owners: OwnerMap | None = None) -> None:
        self.pipe = pipe
        self.index = index
        self.n = n
        self.owners_map = owners or OwnerMap(n)
        self.conn = conn
        self.ctx = pipe.ctx
        self.max_failures = pipe.max_failures
        self.buffer = ShareBuffer(pipe.plan.lateness_ms, Stats())
        # this process's IPv4 text converter (a cache of its own, made after the fork: the
        # decoder's is locked by the main process's reader threads)
        from .inputs.ipfix_decode import _Caches

        self.ipv4: Callable[[Any], list[str]] = _Caches(self.ctx.stats).ipv4_column
        kinds = {st.partition for st in pipe.detectors}
        # worker 0 runs the global detectors: it is then sent every record
        self.keep_all = index == 0 and "global" in kinds
        self.stages = [st for st in pipe.detectors if st.partition != "global" or index == 0]
        self.needs = [checked_need(st, self) for st in self.stages]
        self.owners: dict[str | None, bool] = {}  # address -> owned by this worker
        self.last_rt = NO_TIME
        self.step = 0
        self.outbox: list[tuple[int, int, int, list[Event]]] = []
        self.unreported = 0

    def _owned(self, batch: FlowBatch) -> tuple[list[bool], list[bool]]:
        if len(self.owners) > OWNER_CACHE:
            self.owners.clear()
            self.ctx.stats.add("workers.owner_cache_resets")
        return owned_columns(batch, self.index, self.n, self.owners, self.owners_map)

    def follow(self, batch: FlowBatch | None, releases: Sequence[int], released_to: int,
               watermark: int) -> list[Event]:
        """One step: hold this worker's rows, release at the main clock's release points,
        detect (one process's :meth:`Pipeline.process` on this worker's share)."""
        self.buffer.hold(batch)
        return self._detect(self.buffer.follow(releases, released_to, watermark))

    def _detect(self, released: list[FlowBatch]) -> list[Event]:
        events: list[Event] = []
        for rb in released:
            if rb.stream != FLOW_STREAM:  # gateway documents: only worker 0 is sent them
                for st in self.stages:
                    if rb.stream in getattr(st.obj, "streams", ()):
                        events.extend(self._detect_isolated(st, rb))
                continue
            self.pipe.enrich(rb)
            # Each detector gets the flows it reads (detectors with the same need share one
            # cut). A worker is sent their union, all of hosts it owns at one end or both, so
            # a plain address detector gets it whole. A cut copies out only the columns its
            # detector reads (take's column views).
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
        rt = self.buffer.released_to
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

    def options(self, batch: FlowBatch) -> list[Event]:
        """Options records (checked and counted by the main process) go to every worker's
        detectors; an address detector's events are kept by the owner of their key, any
        other's by worker 0."""
        events: list[Event] = []
        for st in self.stages:
            on_options = getattr(st.obj, "on_options", None)
            if on_options is not None:
                got = self._call(st, "detector on_options", on_options, batch) or []
                events.extend(self._mine(st, got) if st.partition == "address" or self.index == 0 else [])
        return events

    def finish(self, releases: Sequence[int], released_to: int, watermark: int) -> list[Event]:
        events = self.follow(None, releases, released_to, watermark)
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
            self.outbox.append((step, self.buffer.watermark, self.buffer.released_to, events))
        self.unreported += 1
        if self.outbox or self.unreported >= _REPORT_EVERY:
            self.report()

    def report(self) -> None:
        self.conn.send(("steps", self.index, self.step, self.outbox))
        self.outbox = []
        self.unreported = 0

    def end(self, events: list[Event]) -> None:
        self.report()
        self.ctx.stats.gauge(f"workers.cpu_s.{self.index}", _cpu_s())
        self.conn.send(("done", self.index, self.step, self.buffer.watermark, events, self.ctx.stats.export()))


def _worker_main(pipe: Pipeline, index: int, n: int, conn: Connection, owners: OwnerMap,
                 turns: Any, others: Sequence[Connection] = ()) -> None:
    """A worker's life: take the main process's steps until it says finish; then report.
    ``turns``: a lock the workers take in turn around each message (measurement only,
    ``FLOWCEP_WORKERS_SEQUENTIAL``), or None. ``others``: the main process's ends of this
    worker's pipe and of the pipes of the workers forked before it (the fork copied them),
    closed here, so that when the main process dies every worker's pipe ends and the worker
    with it."""
    for c in others:
        c.close()
    # The main process owns the run's end: a Ctrl-C reaches the whole process group, and a
    # worker that died of it would lose the steps still in flight. It tells us to finish.
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGUSR1, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)
    # the pipeline's collector settings (cli/run.py _long_run_gc): the detectors' long-lived
    # tables are not walked every 700 allocations, and what the fork inherited stays frozen
    # (a collection would touch, and so copy, every inherited page)
    gc.freeze()
    gc.set_threshold(20_000, *gc.get_threshold()[1:])
    pipe.ctx.stats.__init__()  # type: ignore[misc]  # the fork's copy: report only this worker's counts
    code = 0
    # measurement only (benchmarks/bench_workers.py --profile): this worker's cProfile, written to
    # FLOWCEP_WORKERS_PROFILE/worker-N.prof when it ends
    profile_dir = os.environ.get("FLOWCEP_WORKERS_PROFILE")
    profiler: Any = None
    if profile_dir:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    try:
        w = _Worker(pipe, index, n, conn, owners)
        while True:
            msg = conn.recv()
            if turns is not None:
                turns.acquire()
            try:
                kind = msg[0]
                if kind == "step":
                    rows = None if msg[1] is None else unpack_rows(msg[1], w.ipv4)
                    w.done_step(w.follow(rows, msg[2], msg[3], msg[4]))
                elif kind == "options":
                    w.done_step(w.options(msg[1]))
                else:  # finish
                    events = w.finish(msg[1], msg[2], msg[3])
                    if profiler is not None:  # before "done": the main process may end at once
                        profiler.disable()
                        profiler.dump_stats(os.path.join(str(profile_dir), f"worker-{index}.prof"))
                        profiler = None
                    w.end(events)
                    break
            finally:
                if turns is not None:
                    turns.release()
    except EOFError:  # the main process is gone
        code = 1
    except BaseException as exc:  # one line to the main process, which ends the run with it
        code = 1
        try:
            conn.send(("error", index, f"{type(exc).__name__}: {exc}"))
        except Exception:  # noqa: S110 - the main process is gone; nothing left to tell
            pass
    finally:
        if profiler is not None:
            profiler.disable()
            profiler.dump_stats(os.path.join(str(profile_dir), f"worker-{index}.prof"))
        os._exit(code)  # no atexit handlers or inherited finalizers of the parent's objects


class WorkerPool:
    """N forked workers and the main process's side: check, admit and route each record
    once, send each worker its rows and the clock's progress, merge the steps, emit."""

    def __init__(self, pipe: Pipeline, n: int, balance: bool) -> None:
        if n < 2:
            raise ValueError("a worker pool needs at least 2 workers")
        self.n = n
        # measurement only (benchmarks/bench_workers.py --sequential): the workers take turns,
        # one message at a time, so each one's CPU seconds are measured without the others
        # competing for the cores; the alerts are the same
        sequential = os.environ.get("FLOWCEP_WORKERS_SEQUENTIAL") == "1"
        self.pipe = pipe
        self.ctx = pipe.ctx
        self.keeper: TimeKeeper | None = None
        self._conns: list[Connection] = []
        self._procs: list[Any] = []
        self._replies: queue.Queue[tuple[Any, ...]] = queue.Queue()
        self._failed: dict[int, str] = {}  # worker -> what its reader or sender met
        self._upto = [0] * n  # steps each worker has reported
        self._steps: dict[int, list[Any]] = {}  # step -> [watermark, release point, events]
        self._emitted = 0
        self._done: dict[int, tuple[int, int, list[Event]]] = {}
        self._closed = False
        # detectors that split a global view by host: their documents are merged per window
        self._mergers: dict[str, Callable[[list[Event]], list[Event]]] = {}
        for st in pipe.detectors:
            merge = getattr(st.obj, "merge_partials", None)
            if merge is not None and st.partition in ("source", "destination"):
                self._mergers[str(getattr(st.obj, "name", st.name))] = merge
        self._partials: dict[tuple[str, str, str], list[Event]] = {}
        # one map for the whole run, fixed before the fork: a host's state never moves
        self.owners = owner_map(pipe, n, balance)
        self.router = Router([checked_need(st, pipe) for st in pipe.detectors], n, self.owners, self.ctx.stats)
        mp = multiprocessing.get_context("fork")
        turns = mp.Lock() if sequential else None
        for i in range(n):
            parent, child = mp.Pipe(duplex=True)
            proc = mp.Process(target=_worker_main, args=(pipe, i, n, child, self.owners, turns, [*self._conns, parent]),
                              name=f"flowcep-worker-{i}", daemon=True)
            proc.start()
            child.close()
            self._conns.append(parent)
            self._procs.append(proc)
        self._readers = [threading.Thread(target=self._read, args=(i, c), name=f"worker-{i} replies",
                                          daemon=True) for i, c in enumerate(self._conns)]
        self._outboxes: list[queue.Queue[bytes | None]] = [queue.Queue(maxsize=INFLIGHT) for _ in range(n)]
        self._senders = [threading.Thread(target=self._send, args=(i,), name=f"worker-{i} sender", daemon=True)
                         for i in range(n)]
        for t in (*self._readers, *self._senders):
            t.start()
        self.ctx.stats.gauge("workers", n)
        self.ctx.stats.gauge("workers.cpu_s.main_at_fork", _cpu_s())

    # -- the workers' pipes --------------------------------------------------------------------
    def _read(self, index: int, conn: Connection) -> None:
        while True:
            try:
                msg = conn.recv()
            except (EOFError, OSError, TypeError):  # TypeError: the pipe closed under this recv
                self._failed.setdefault(index, "exited unexpectedly")
                self._replies.put(("gone", index))
                return
            if msg[0] == "error":
                self._failed[index] = str(msg[2])
            self._replies.put(msg)
            if msg[0] in ("done", "error"):
                return

    def _send(self, index: int) -> None:
        """Worker ``index``'s sender: writes its queued messages (a write blocks while the
        worker is busy; the GIL is released meanwhile)."""
        q, conn = self._outboxes[index], self._conns[index]
        while True:
            data = q.get()
            if data is None:
                return
            try:
                conn.send_bytes(data)
            except (OSError, ValueError) as exc:  # ValueError: closed by close()
                self._failed.setdefault(index, f"is gone ({getattr(exc, 'strerror', None) or exc})")
                return

    def _put(self, index: int, data: bytes) -> None:
        """Queue a message for worker ``index``; waits while its queue is full (back-pressure)
        and ends the run with one line if the worker died meanwhile."""
        q = self._outboxes[index]
        waited = 0.0
        while True:
            self._check(index)
            try:
                q.put(data, timeout=0.5)
                return
            except queue.Full:
                waited += 0.5
                if not self._procs[index].is_alive():
                    self._failed.setdefault(index, "exited unexpectedly")
                elif waited >= _SILENCE_S:
                    raise WorkerError(f"worker {index} took no batch within {_SILENCE_S:.0f} s; "
                                      "run with --workers 1 to see where it stalls") from None

    def _check(self, index: int) -> None:
        what = self._failed.get(index)
        if what is None:
            return
        if what in ("exited unexpectedly",) or what.startswith("is gone"):
            raise WorkerError(f"worker {index} {what}; run with --workers 1 to see the error")
        raise WorkerError(f"worker {index}: {what}")

    def _send_all(self, msg: tuple[Any, ...]) -> None:
        data = bytes(ForkingPickler.dumps(msg))  # pickled once
        for w in range(self.n):
            self._put(w, data)

    # -- the main process's share of the work ----------------------------------------------------
    def start(self, live: bool) -> None:
        """The run's clock, once the inputs are open (live ones follow the wall clock)."""
        if self.keeper is None:
            time_cfg = {**TIME_DEFAULTS, **dict(self.pipe.config.get("time") or {})}
            self.keeper = TimeKeeper(self.pipe.plan.lateness_ms, self.ctx.stats,
                                     max_pending=int(time_cfg["max_pending"]),
                                     policy=TimePolicy.from_config(time_cfg, live))

    def _clock(self) -> TimeKeeper:
        if self.keeper is None:
            self.start(False)
        assert self.keeper is not None
        return self.keeper

    def batch(self, batch: FlowBatch) -> None:
        """One input batch, as :meth:`Pipeline.process` up to the detectors: checked, counted
        and admitted here, once; each worker is sent its rows and the clock's progress."""
        stats = self.ctx.stats
        keeper = self._clock()
        if batch.stream in EVENT_STREAMS:  # a level-2 monitor's gateway documents: worker 0
            stats.count("input", batch.length)
            if batch.length:
                admitted = keeper.admit(batch)
                self._step([pack_rows(admitted, None, _times(admitted)) if admitted.length else None]
                           + [None] * (self.n - 1))
            return
        if batch.stream != FLOW_STREAM:  # options records: checked here, to every worker
            n = batch.length
            batch = self.pipe.sanitizer.clean(batch)
            stats.count("options", n, batch.length)
            if batch.length:
                self._send_all(("options", batch))
            return
        n = batch.length
        stats.count("input", n)
        if n == 0:
            return
        batch = self.pipe.sanitizer.clean(batch)  # a bad value drops its record, once
        n = batch.length
        if n == 0:
            return
        stats.count("enrich", n)  # enriched in the workers, each record by one of them at least
        admitted = keeper.admit(batch)
        # every admitted record reaches the detectors (at the latest at the end): counted once
        stats.count("detect", admitted.length)
        if not admitted.length:
            self._step([None] * self.n)
            return
        parts = self.router.route(admitted)
        times = _times(admitted)
        self._step([None if idx is not None and not len(idx) else pack_rows(admitted, idx, times) for idx in parts])

    def _step(self, parts: Sequence[tuple[Any, ...] | None]) -> None:
        """Send each worker its packed rows (:func:`pack_rows`; None: none this step) and the
        clock's progress."""
        keeper = self._clock()
        releases = keeper.take_releases()
        rt, wm = keeper.released_to, keeper.watermark
        self.ctx.stats.gauge("watermark_ms", wm)
        self.ctx.stats.gauge("event_time_max_ms", keeper.max_seen)
        for w, part in enumerate(parts):
            self._put(w, bytes(ForkingPickler.dumps(("step", part, releases, rt, wm), protocol=5)))

    def idle(self, idle_s: float) -> None:
        """Live inputs silent: wall-clock time moves the watermark (as one process does)."""
        keeper = self._clock()
        if keeper.max_seen <= NO_TIME:
            return
        target = keeper.max_seen - keeper.lateness_ms + int(idle_s * 1000)
        if target <= keeper.watermark:
            return
        keeper.advance(target)
        self._step([None] * self.n)

    def clock(self, name: str, source: str) -> None:
        """One of the clock's file-input calls (see Pipeline._clock_call): the main clock is
        the only one."""
        if name in ("wait_for", "heard_from", "reading", "finished"):
            getattr(self._clock(), name)(source)

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
        """End of input: the clock releases everything, every worker finishes; returns every
        remaining step, the last final."""
        keeper = self._clock()
        keeper.flush()
        self.ctx.stats.gauge("watermark_ms", keeper.watermark)
        self._send_all(("finish", keeper.take_releases(), keeper.released_to, keeper.watermark))
        out: list[tuple[list[Event], int, bool]] = []
        while not self.finished:
            try:
                msg = self._replies.get(timeout=_SILENCE_S)
            except queue.Empty:
                raise WorkerError(f"workers did not answer within {_SILENCE_S:.0f} s; "
                                  "run with --workers 1 to see where it stalls") from None
            out.extend(self._take(msg))
        stats = self.ctx.stats
        stats.gauge("workers.records", sum(self.router.held))
        for w in range(self.n):  # how even the owner map split the work, free of CPU noise
            stats.gauge(f"workers.records.{w}", self.router.held[w])
            stats.gauge(f"workers.sources.{w}", self.router.sources[w])
        stats.gauge("workers.cpu_s.main", _cpu_s())
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
        for q in self._outboxes:
            try:
                q.put_nowait(None)
            except queue.Full:  # a sender blocked on a worker that is gone: closing the pipe ends it
                pass
        for c in self._conns:
            c.close()
        for p in self._procs:
            p.join(timeout=5)
            if p.is_alive():
                p.kill()
                p.join(timeout=5)


def owner_map(pipe: Pipeline, n: int, balance: bool) -> OwnerMap:
    """The run's owner map. One regular file (``balance``): buckets balanced by the
    records of the first :data:`BALANCE_SAMPLE` flows (:func:`bucket_loads`), read here before
    the fork, so every worker starts with the same map. Anything else (live inputs, stdin,
    several inputs): CRC-32 modulo ``n``, since what comes later cannot be sampled first and a
    host's state must not move between workers. Any map gives the alerts of one process."""
    stats = pipe.ctx.stats
    stats.gauge("workers.buckets", 0)
    if not balance:
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


def _times(batch: FlowBatch) -> Any:
    """The event times of ``batch`` for :func:`pack_rows`: a numpy int64 array (the decoder's,
    when the batch has it), or the list when a time does not fit in 64 bits."""
    import numpy as np

    arr = batch.event_times_array()
    if arr is not None:
        return arr
    times = batch.event_times()
    try:
        return np.fromiter(times, np.int64, len(times))
    except OverflowError:
        return times


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

