"""Event time: the watermark and the reorder buffer in front of every detector.

Flows reach a collector out of order (exporters flush on inactive timeouts; FlowCEP's own
sample steps back in time for half its records). Detectors must see event-time order, so the
host holds records until the watermark (max event time seen minus the allowed lateness)
passes them, releases them sorted, and counts records older than the watermark as ``late``.
"""

from __future__ import annotations

from .records import FlowBatch
from .stats import Stats

__all__ = ["Reorderer", "NO_TIME", "LIVE_LATENESS_S", "FILE_LATENESS_S", "default_lateness_s"]

NO_TIME = -(2**62)

#: Default allowed lateness for live collectors: covers exporters' inactive timeouts (15 s on
#: Cisco/softflowd) plus transport delay, while keeping alerts prompt.
LIVE_LATENESS_S = 30.0
#: Default for runs whose inputs are all files: nothing waits on a file, and exported files are
#: often far out of order (FlowCEP's sample steps back by up to ~400 s), so hold up to ten
#: minutes; the buffer is still bounded by ``max_pending`` records.
FILE_LATENESS_S = 600.0


def default_lateness_s(live: bool) -> float:
    """The allowed lateness when the user chose none: short for live inputs, long for files."""
    return LIVE_LATENESS_S if live else FILE_LATENESS_S


class Reorderer:
    """Holds records until the watermark passes them; one per pipeline (one clock).

    ``release_every_ms`` avoids re-sorting on every small batch: records are released when
    the watermark moved at least that much (or at ``flush``), which keeps the sort cost per
    record constant.
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
        self._pending: list[FlowBatch] = []
        self._pending_n = 0

    def push(self, batch: FlowBatch) -> list[FlowBatch]:
        """Accept a batch; return what the watermark now releases (sorted, possibly empty)."""
        if batch.length == 0:
            return []
        times = batch.event_times()
        bad = [i for i, t in enumerate(times) if t < 0]
        late_floor = self._released_to
        late = [i for i, t in enumerate(times) if 0 <= t < late_floor] if late_floor > NO_TIME else []
        if bad or late:
            self.stats.drop("no-timestamp", len(bad), batch.source)
            self.stats.drop("late", len(late), batch.source)
            skip = set(bad) | set(late)
            batch = batch.take(i for i in range(batch.length) if i not in skip)
            times = batch.event_times()
            if batch.length == 0:
                return []
        top = max(times)
        if top > self.max_seen:
            self.max_seen = top
        self._pending.append(batch)
        self._pending_n += batch.length
        wm = self.max_seen - self.lateness_ms
        if wm > self.watermark:
            self.watermark = wm
        if self._pending_n >= self.max_pending:
            # Bounded memory: force the watermark up to the oldest half and count nothing
            # as lost (records are released, not dropped).
            return self._release(self.watermark, force=True)
        if self.watermark - self._released_to >= self.release_every_ms or self._released_to == NO_TIME:
            return self._release(self.watermark)
        return []

    def advance(self, watermark_ms: int) -> list[FlowBatch]:
        """Move the watermark by wall clock (idle live inputs) and release what it passes."""
        if watermark_ms > self.watermark:
            self.watermark = watermark_ms
        return self._release(self.watermark)

    def flush(self) -> list[FlowBatch]:
        """End of input: release everything, sorted."""
        if not self._pending:
            return []
        top = max(self.max_seen, self.watermark)
        out = self._release(top)
        self.watermark = top
        return out

    def _release(self, upto: int, force: bool = False) -> list[FlowBatch]:
        if not self._pending or upto <= NO_TIME:
            return []
        keep: list[FlowBatch] = []
        ready: list[FlowBatch] = []
        for b in self._pending:
            times = b.event_times()
            if max(times) <= upto:
                ready.append(b)
            elif min(times) > upto:
                keep.append(b)
            else:
                idx_ready = [i for i, t in enumerate(times) if t <= upto]
                idx_keep = [i for i, t in enumerate(times) if t > upto]
                ready.append(b.take(idx_ready))
                keep.append(b.take(idx_keep))
        if force and not ready and keep:
            # Pending limit reached with nothing below the watermark: release the oldest
            # batch's records early and move the watermark there.
            b = keep.pop(0)
            ready.append(b)
            upto = max(b.event_times())
            self.watermark = max(self.watermark, upto)
        self._pending = keep
        self._pending_n = sum(b.length for b in keep)
        if upto > self._released_to:
            self._released_to = upto
        if not ready:
            return []
        merged = FlowBatch.concat(ready, ready[0].source)
        times = merged.event_times()
        order = sorted(range(merged.length), key=times.__getitem__)
        if any(order[i] != i for i in range(len(order))):
            merged = merged.take(order)
        return [merged]


