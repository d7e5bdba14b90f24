"""``flowcep run --workers N``: the address-keyed detectors in N processes on one machine.

The same topology as the scale-out design with local pipes instead of Kafka topics: the main
process reads, enriches and orders the flows (one event-time clock), then routes each released
batch to the owner of every record's source and destination (:mod:`flowcep_plugin.partition`)
together with the step's watermark, so a quiet partition still advances. Each worker runs the
``partition = "address"`` detectors on what it receives and keeps only the alerts whose key it
owns; ``global`` detectors stay in the main process. The main process emits a step's alerts
(its own and every worker's) together and in step order, through the same suppression and
outputs as one process, so the alerts are those of ``--workers 1``.

Workers are forked after the detectors are built and before any input or output is opened:
each starts with the detectors' fresh state and holds no socket or file of the run. Replies are
read by one thread per worker, so a worker blocked on a large reply can never block the main
process's next send. At most ``max_inflight`` steps are outstanding (backpressure); a worker
that dies or raises ends the run with a one-line error naming it.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import signal
import threading
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

from .context import Context
from .errors import FlowcepError
from .partition import event_owner, route
from .records import FlowBatch
from .specs import Event
from .stages import Stage, StageRunner

__all__ = ["WorkerPool", "WorkerError"]

#: routed-address owners memoised in the main process (cleared when full, counted)
OWNER_CACHE = 1 << 18


class WorkerError(FlowcepError):
    """A detection worker died or raised (exit 2 with its message)."""


@dataclass
class _Step:
    step: int
    now_ms: int
    local: list[Event]
    final: bool = False
    replies: dict[int, list[Event]] = field(default_factory=dict)


class _Runner(StageRunner):
    def __init__(self, ctx: Context, max_failures: int) -> None:
        self.ctx = ctx
        self.max_failures = max_failures


def _worker_main(index: int, n: int, conn: Connection, stages: list[Stage], ctx: Context,
                 max_failures: int) -> None:
    """A worker's loop: ``step`` (batches, optional watermark), ``flush``, ``stop``."""
    # The main process owns the run's end: a Ctrl-C reaches the whole process group, and a
    # worker that died of it would lose the steps still in flight. It tells us to stop.
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGUSR1, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)
    ctx.stats.__init__()  # type: ignore[misc]  # the fork's copy: report only this worker's counts
    runner = _Runner(ctx, max_failures)
    code = 0
    try:
        while True:
            msg = conn.recv()
            kind = msg[0]
            events: list[Event] = []
            if kind == "step":
                _, step, batches, wm = msg
                for b in batches:
                    if b is None or not b.length:
                        continue
                    for st in stages:
                        events.extend(runner._detect_isolated(st, b))
                if wm is not None:
                    for st in stages:
                        got = runner._call(st, "detector on_watermark", st.obj.on_watermark, wm)
                        if got:
                            events.extend(got)
            elif kind == "flush":
                step = msg[1]
                for st in stages:
                    got = runner._call(st, "detector flush", st.obj.flush)
                    if got:
                        events.extend(got)
            else:  # stop
                conn.send(("stats", index, ctx.stats.export()))
                break
            mine = [e for e in events if event_owner(e, n) == index]
            conn.send(("events", index, step, mine))
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
    """N forked detection workers fed by partition, replying per step."""

    def __init__(self, n: int, stages: Sequence[Stage], ctx: Context, max_failures: int,
                 max_inflight: int = 8) -> None:
        if n < 2:
            raise ValueError("a worker pool needs at least 2 workers")
        self.n = n
        self.ctx = ctx
        self.max_inflight = max(1, max_inflight)
        self._conns: list[Connection] = []
        self._procs: list[Any] = []
        self._replies: queue.Queue[tuple[Any, ...]] = queue.Queue()
        self._pending: deque[_Step] = deque()
        self._next_step = 0
        self._owners: dict[str, int] = {}
        self._closed = False
        mp = multiprocessing.get_context("fork")
        for i in range(n):
            parent, child = mp.Pipe(duplex=True)
            proc = mp.Process(target=_worker_main, args=(i, n, child, list(stages), ctx, max_failures),
                              name=f"flowcep-worker-{i}", daemon=True)
            proc.start()
            child.close()
            self._conns.append(parent)
            self._procs.append(proc)
        self._readers = [threading.Thread(target=self._read, args=(i, c), name=f"worker-{i} replies",
                                          daemon=True) for i, c in enumerate(self._conns)]
        for t in self._readers:
            t.start()
        ctx.stats.gauge("workers", n)

    # -- the main process's side -------------------------------------------------------------------
    def _read(self, index: int, conn: Connection) -> None:
        while True:
            try:
                msg = conn.recv()
            except (EOFError, OSError):
                self._replies.put(("gone", index))
                return
            self._replies.put(msg)
            if msg[0] in ("stats", "error"):
                return

    def _send(self, index: int, msg: tuple[Any, ...]) -> None:
        try:
            self._conns[index].send(msg)
        except (BrokenPipeError, OSError) as exc:
            raise WorkerError(f"detection worker {index} is gone ({exc.strerror or exc}); "
                              "see its error above, or run with --workers 1") from None

    def submit(self, released: Sequence[FlowBatch], watermark: int | None, now_ms: int,
               local: list[Event]) -> list[tuple[list[Event], int, bool]]:
        """Send one step (its batches routed, the watermark if it moved) to every worker;
        ``local`` are the main process's events of the step. Returns the steps complete so
        far, in order, as (events, now_ms, final) to emit."""
        if len(self._owners) > OWNER_CACHE:
            self._owners.clear()
            self.ctx.stats.add("workers.owner_cache_resets")
        per_worker: list[list[FlowBatch | None]] = [[] for _ in range(self.n)]
        routed = 0
        for rb in released:
            parts = route(rb, self.n, self._owners)
            for w, idx in enumerate(parts):
                routed += len(idx)
                per_worker[w].append(rb.take(idx) if idx else None)
        if routed:
            self.ctx.stats.add("workers.routed_records", routed)
        step = self._new_step(now_ms, local)
        for w in range(self.n):
            self._send(w, ("step", step.step, per_worker[w], watermark))
        return self._ready(keep=self.max_inflight)

    def flush(self, now_ms: int, local: list[Event]) -> list[tuple[list[Event], int, bool]]:
        """End of input: every worker flushes its detectors; returns every remaining step."""
        step = self._new_step(now_ms, local, final=True)
        for w in range(self.n):
            self._send(w, ("flush", step.step))
        return self._ready(keep=0)

    def poll(self) -> list[tuple[list[Event], int, bool]]:
        """Steps that completed meanwhile (live inputs: alerts need not wait for the next batch)."""
        return self._ready(keep=None)

    def _new_step(self, now_ms: int, local: list[Event], final: bool = False) -> _Step:
        step = _Step(self._next_step, now_ms, local, final)
        self._next_step += 1
        self._pending.append(step)
        return step

    def _ready(self, keep: int | None) -> list[tuple[list[Event], int, bool]]:
        """The completed steps, in order; waits for replies while more than ``keep`` steps are
        outstanding (None: never waits)."""
        done: list[tuple[list[Event], int, bool]] = []
        while self._pending:
            head = self._pending[0]
            if len(head.replies) == self.n:
                self._pending.popleft()
                events = list(head.local)
                for w in range(self.n):
                    events.extend(head.replies[w])
                done.append((events, head.now_ms, head.final))
                continue
            must_wait = keep is not None and len(self._pending) > keep
            try:
                msg = self._replies.get(timeout=60) if must_wait else self._replies.get_nowait()
            except queue.Empty:
                if must_wait:
                    raise WorkerError("detection workers did not answer within 60 s; "
                                      "run with --workers 1 to see where it stalls") from None
                break
            self._take(msg)
        return done

    def _take(self, msg: tuple[Any, ...]) -> None:
        kind = msg[0]
        if kind == "events":
            _, index, step, events = msg
            for s in self._pending:
                if s.step == step:
                    s.replies[index] = events
                    break
        elif kind == "error":
            raise WorkerError(f"detection worker {msg[1]}: {msg[2]}")
        elif kind == "gone":
            raise WorkerError(f"detection worker {msg[1]} exited unexpectedly; run with --workers 1 "
                              "to see the error")
        elif kind == "stats":
            self.ctx.stats.merge(msg[2])

    def close(self) -> None:
        """Stop the workers and add their counters to the run's stats."""
        if self._closed:
            return
        self._closed = True
        waiting = 0
        for w in range(self.n):
            try:
                self._conns[w].send(("stop",))
                waiting += 1
            except (BrokenPipeError, OSError):
                pass
        while waiting:
            try:
                msg = self._replies.get(timeout=30)
            except queue.Empty:
                break
            if msg[0] == "stats":
                self.ctx.stats.merge(msg[2])
                waiting -= 1
            elif msg[0] in ("gone", "error"):
                waiting -= 1
        for p in self._procs:
            p.join(timeout=5)
            if p.is_alive():
                p.kill()
        for c in self._conns:
            c.close()
