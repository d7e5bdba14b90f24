"""Event time: the watermark and the reorder buffer in front of every detector.

Flows reach a collector out of order (exporters flush on inactive timeouts; FlowCEP's own
sample steps back in time for half its records). Detectors must see event-time order, so the
host holds records until the watermark (max event time seen minus the allowed lateness)
passes them, releases them sorted, and counts records older than the watermark as ``late``.
"""

from __future__ import annotations

from bisect import bisect_right

from .records import FlowBatch
from .stats import Stats

__all__ = ["Reorderer", "NO_TIME", "LIVE_LATENESS_S", "FILE_LATENESS_S", "default_lateness_s"]

NO_TIME = -(2**62)

#: Default allowed lateness for live collectors: covers exporters' inactive timeouts (15 s on
#: Cisco/softflowd) plus transport delay, while keeping alerts prompt.
LIVE_LATENESS_S = 30.0
#: Default for runs whose inputs are all files: nothing waits on a file, and stored flow files are
#: often out of order by minutes (several exporters or collectors merged into one file), so hold
#: up to ten minutes; the buffer is still bounded by ``max_pending`` records.
FILE_LATENESS_S = 600.0


def default_lateness_s(live: bool) -> float:
    """The allowed lateness when the user chose none: short for live inputs, long for files."""
    return LIVE_LATENESS_S if live else FILE_LATENESS_S


class Reorderer:
    """Holds records until the watermark passes them; one per pipeline (one clock).

    Pending records are kept as runs sorted by event time (each pushed batch is sorted once),
    so a release cuts every run with a binary search and only the released part is merged.
    ``release_every_ms`` avoids releasing on every small batch: records are released when the
    watermark moved at least that much (or at ``flush``). ``max_pending`` bounds memory: past
    it, the oldest records are released early (and later records older than them become late,
    counted).
    """

    def __init__(self, lateness_ms: int, stats: Stats | None = None, release_every_ms: int = 1000,
                 max_pending: int = 2_000_000) -> None:
        self.lateness_ms = max(0, int(lateness_ms))
        self.stats = stats or Stats()
        self.release_every_ms = release_every_ms
        self.max_pending = max_pending
        self.max_seen = NO_TIME
        self.watermark = NO_TIME
        self._released_to = NO_TIME
        self._runs: list[FlowBatch] = []  # each sorted by event time
        self._starts: list[int] = []  # per run, how much of it was already released
        self._pending_n = 0

    @property
    def pending(self) -> int:
        """Records held back, waiting for the watermark."""
        return self._pending_n

    def push(self, batch: FlowBatch) -> list[FlowBatch]:
        """Accept a batch; return what the watermark now releases (sorted, possibly empty)."""
        if batch.length == 0:
            return []
        times = batch.event_times()
        low = min(times)
        if low < 0 or low < self._released_to:
            batch = self._drop_unusable(batch, times)
            if batch.length == 0:
                return []
            times = batch.event_times()
        ordered = sorted(times)
        if ordered != times:
            batch = batch.take(sorted(range(batch.length), key=times.__getitem__))
        if ordered[-1] > self.max_seen:
            self.max_seen = ordered[-1]
        self._runs.append(batch)
        self._starts.append(0)
        self._pending_n += batch.length
        wm = self.max_seen - self.lateness_ms
        if wm > self.watermark:
            self.watermark = wm
        if self._pending_n >= self.max_pending:
            return self._release(self.watermark, force=True)
        if self.watermark - self._released_to >= self.release_every_ms or self._released_to == NO_TIME:
            return self._release(self.watermark)
        return []

    def _drop_unusable(self, batch: FlowBatch, times: list[int]) -> FlowBatch:
        floor = self._released_to
        bad = sum(1 for t in times if t < 0)
        late = sum(1 for t in times if 0 <= t < floor)
        self.stats.drop("no-timestamp", bad, batch.source)
        self.stats.drop("late", late, batch.source)
        lowest = max(0, floor)
        return batch.take([i for i, t in enumerate(times) if t >= lowest])

    def advance(self, watermark_ms: int) -> list[FlowBatch]:
        """Move the watermark by wall clock (idle live inputs) and release what it passes."""
        if watermark_ms > self.watermark:
            self.watermark = watermark_ms
        return self._release(self.watermark)

    def flush(self) -> list[FlowBatch]:
        """End of input: release everything, sorted."""
        if not self._runs:
            return []
        top = max(self.max_seen, self.watermark)
        out = self._release(top)
        self.watermark = top
        return out

    def _release(self, upto: int, force: bool = False) -> list[FlowBatch]:
        if not self._runs or upto <= NO_TIME:
            return []
        if force:
            # Pending limit reached: release at least the oldest half of what is held.
            firsts = sorted(run.event_times()[start] for run, start in zip(self._runs, self._starts, strict=True))
            upto = max(upto, firsts[len(firsts) // 2])
            self.watermark = max(self.watermark, upto)
        ready: list[FlowBatch] = []
        runs: list[FlowBatch] = []
        starts: list[int] = []
        released = 0
        for run, start in zip(self._runs, self._starts, strict=True):
            t = run.event_times()
            if t[start] > upto:
                runs.append(run)
                starts.append(start)
                continue
            # The remainder is not copied: the run keeps its offset until fully released.
            k = run.length if t[-1] <= upto else bisect_right(t, upto, start)
            ready.append(run if (start == 0 and k == run.length) else run.slice(start, k))
            released += k - start
            if k < run.length:
                runs.append(run)
                starts.append(k)
        self._runs, self._starts = runs, starts
        self._pending_n -= released
        if upto > self._released_to:
            self._released_to = upto
        if not ready:
            return []
        if len(ready) == 1:
            return ready
        merged = FlowBatch.concat(ready, ready[0].source)
        times = merged.event_times()
        if sorted(times) != times:  # Timsort merges the sorted runs in near-linear time
            merged = merged.take(sorted(range(merged.length), key=times.__getitem__))
        return [merged]
