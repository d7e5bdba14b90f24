"""Event time: per-exporter watermarks and the reorder buffer in front of every detector.

Flows reach a collector out of order (exporters flush on inactive timeouts; FlowCEP's own
sample steps back in time for half its records). Detectors must see event-time order, so the
host holds records until the watermark passes them, releases them sorted, and counts records
older than what was already released as ``late``.

One exporter must not be able to move time for everyone. Each exporter (transport session and
observation domain, ``FlowBatch.exporter`` or the ``flowcep.exporter`` column of a merged
batch) keeps its own highest event time; the pipeline's watermark is the *minimum* over the
exporters that are live (heard from within ``exporter_idle``) and current (not more than
``past_tolerance`` behind the leading exporter), minus the allowed lateness. Before any of
that, each record's time is checked. Live inputs: against the wall clock (nothing can have
ended in the future; beyond ``future_tolerance`` is ``future``) and against the exporter's
own time or the batch's median (beyond ``past_tolerance`` behind is ``too-old``). Files: a
stored capture may be sparse (a slow sweep leaves a flow an hour), so the batch is cut where
consecutive times are more than ``file_gap`` apart and records outside its largest run are
``future`` or ``too-old`` (one outlier, or one exporter outvoted by the others, cannot vouch
for itself, but a real jump in a capture is followed). Out-of-range records are dropped and
counted, or clamped when the policy says ``clamp``. Either way they never move a watermark.
Nor does one admitted record: an exporter's clock moves once it has sent two records (live
inputs follow single ones until some exporter has), and a record more than the lateness (at
least ``exporter_idle``) ahead of all the others of its exporter waits for a second record
near it before the clock follows (:meth:`_ExporterClock.time`).
"""

from __future__ import annotations

import heapq
import time
from bisect import bisect_right
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from itertools import islice, repeat
from operator import le
from typing import Any

from .records import FlowBatch
from .stats import Stats

__all__ = [
    "Reorderer", "TimePolicy", "NO_TIME", "LIVE_LATENESS_S", "FILE_LATENESS_S", "default_lateness_s",
    "time_schema", "TIME_DEFAULTS", "PROGRESS_STREAM",
]

NO_TIME = -(2**62)
#: the stream of progress-mark batches (:meth:`Reorderer.progress`): times, never events
PROGRESS_STREAM = "flowcep.progress"

#: Default allowed lateness for live collectors: covers exporters' inactive timeouts (15 s on
#: Cisco/softflowd) plus transport delay, while keeping alerts prompt.
LIVE_LATENESS_S = 30.0
#: Default for runs whose inputs are all files: nothing waits on a file, and stored flow files are
#: often out of order by minutes (several exporters or collectors merged into one file), so hold
#: up to ten minutes; the buffer is still bounded by ``max_pending`` records.
FILE_LATENESS_S = 600.0

LIVE_PAST_TOLERANCE = "10min"
FILE_PAST_TOLERANCE = "1h"

#: Defaults of the ``[time]`` config section (documented in docs/operations.md).
TIME_DEFAULTS: dict[str, Any] = {
    "future_tolerance": "10min",
    "file_gap": "24h",
    "past_tolerance": None,  # 10 min with live inputs, 1 h when every input is a file
    "out_of_range": "drop",
    "exporter_idle": "60s",
    "max_exporters": 10_000,
    "max_pending": 2_000_000,
}

def time_schema(duration: Mapping[str, Any]) -> dict[str, Any]:
    """The ``[time]`` config section's schema, given the host's duration schema (passed in:
    config.py composes the schema and imports this module, not the other way round)."""
    return {
        "type": "object",
        "additionalProperties": False,
        "description": "event time: how far records may stray from their exporter's clock",
        "properties": {
            "future_tolerance": {**duration, "description":
                "live inputs: records ending further than this ahead of the wall clock are 'future'"},
            "file_gap": {**duration, "description":
                "files: a gap this long between consecutive flow times marks a bad clock; records "
                "outside the batch's largest run without such a gap are 'future'/'too-old'"},
            "past_tolerance": {"anyOf": [dict(duration), {"type": "null"}], "description":
                "records further than this behind their exporter's time are 'too-old'; an exporter "
                "this far behind the leading one stops holding the watermark back "
                "(default 10 min live, 1 h for files)"},
            "out_of_range": {"enum": ["drop", "clamp"],
                             "description": "drop 'future'/'too-old' records (counted) or clamp their time "
                                            "to the reference (counted as time.clamped_*)"},
            "exporter_idle": {**duration, "description":
                "an exporter silent this long (wall clock when live, event time for files) stops "
                "holding the watermark back"},
            "max_exporters": {"type": "integer", "minimum": 1,
                              "description": "exporter clocks kept; the least recently heard are evicted"},
            "max_pending": {"type": "integer", "minimum": 1,
                            "description": "records held for reordering; past it the oldest are released early"},
        },
    }


def default_lateness_s(live: bool) -> float:
    """The allowed lateness when the user chose none: short for live inputs, long for files."""
    return LIVE_LATENESS_S if live else FILE_LATENESS_S


@dataclass(frozen=True)
class TimePolicy:
    """How far a record's time may stray, and how idle exporters stop counting."""

    future_tolerance_ms: int = 600_000
    past_tolerance_ms: int = 3_600_000
    clamp: bool = False
    exporter_idle_ms: int = 60_000
    max_exporters: int = 10_000
    live: bool = False
    #: files: a gap between consecutive flow times longer than this is a bad clock, not a
    #: quiet capture (a slow sweep leaves a flow every hour or two; no capture pauses for days)
    file_gap_ms: int = 86_400_000

    @classmethod
    def from_config(cls, section: Mapping[str, Any] | None, live: bool) -> TimePolicy:
        """The policy of a ``[time]`` section (absent keys take TIME_DEFAULTS)."""
        from .config import parse_duration
        from .errors import ConfigError

        cfg = {**TIME_DEFAULTS, **dict(section or {})}
        if cfg["past_tolerance"] is None:
            # Live: one lagging exporter may hold everyone's alerts back at most this long.
            # Files: stored flows are often minutes out of order; only hours mean a bad clock.
            cfg["past_tolerance"] = LIVE_PAST_TOLERANCE if live else FILE_PAST_TOLERANCE
        try:
            ms = {k: int(parse_duration(cfg[k]) * 1000)
                  for k in ("future_tolerance", "past_tolerance", "exporter_idle", "file_gap")}
        except ValueError as exc:
            raise ConfigError(f"[time]: {exc}") from None
        if cfg["out_of_range"] not in ("drop", "clamp"):
            raise ConfigError(f"[time] out_of_range: expected 'drop' or 'clamp', got {cfg['out_of_range']!r}")
        return cls(future_tolerance_ms=ms["future_tolerance"], past_tolerance_ms=ms["past_tolerance"],
                   clamp=cfg["out_of_range"] == "clamp", exporter_idle_ms=ms["exporter_idle"],
                   file_gap_ms=ms["file_gap"],
                   max_exporters=int(cfg["max_exporters"]), live=live)


#: records that must back a jump of more than ``file_gap`` past what an exporter already sent
MIN_JUMP = 3


class _ExporterClock:
    """One exporter's view of time. ``max_seen`` is the latest record it sent (admission
    compares against it); what moves the watermark is :meth:`time`, which one record cannot
    carry: a record dated hours ahead among punctual ones would otherwise make every record
    after it late, and a one-record input would set the time for every other input."""

    __slots__ = ("max_seen", "second", "lone", "count", "heard_mono", "heard_at_leader", "source")

    def __init__(self) -> None:
        self.max_seen = NO_TIME
        self.second = NO_TIME  # the second-latest record's time (ties count twice)
        self.lone = False  # max_seen came more than the jump limit ahead of every other record
        self.count = 0  # records admitted so far
        self.heard_mono = 0.0  # wall-clock (monotonic) time it last sent a record
        self.heard_at_leader = NO_TIME  # leading event time when it last sent a record
        self.source = ""  # the batch source it first came in (an input's name)

    def time(self, step_ms: int) -> int:
        """The exporter's clock: none before it sent two records; then its latest record's
        time, unless that record is ``lone`` (it came more than ``jump_ms`` ahead of
        every other): then the second-latest plus ``step_ms`` (the allowed lateness), so the
        watermark (clock minus lateness) stays at the second-latest record until a record
        within ``step_ms`` of the lone one backs it. Other jumps move the watermark to max
        minus lateness, as usual."""
        if self.second <= NO_TIME:
            return NO_TIME
        return self.second + step_ms if self.lone else self.max_seen

    def note(self, top: int, second: int | None, values: list[int], step_ms: int, jump_ms: int) -> None:
        """Take a batch whose latest admitted time is ``top`` (``second``: its second-latest,
        or None to look in ``values``). ``second`` only matters while a record is lone, so
        outside that a lower bound of it is kept."""
        if top > self.max_seen:
            if second is None:
                # any record but the latest is a lower bound of the second-latest; a bound
                # that would call ``top`` lone is replaced by the exact value (rarely needed)
                second = values[-1] if values[-1] != top else values[-2] if len(values) > 1 else NO_TIME
                if top - max(self.max_seen, second) > jump_ms:
                    second = _second_largest(values, top)
            self.second = max(self.max_seen, second)
            self.max_seen = top
            self.lone = self.second > NO_TIME and top - self.second > jump_ms
        elif top > self.second:
            if self.second <= NO_TIME:  # the first record came alone: judge it now
                self.lone = self.max_seen - top > jump_ms
            elif self.lone and self.max_seen - top <= step_ms:
                self.lone = False
            self.second = top


class Reorderer:
    """Holds records until the watermark passes them; one per pipeline (one clock).

    Pending records are kept as runs, one per pushed batch, each with its event times sorted
    and the sorting permutation (None when the batch came in order), so a release cuts every run
    with a binary search. The records themselves are copied once, when released: a whole run
    joins the merge unsorted (the merge's stable sort orders it), a partly released one gives
    the records of its released times. Either way the order is event time, then the run, then
    the position in the batch, as if each batch had been sorted on arrival.
    ``release_every_ms`` avoids releasing on every small batch: records are released when the
    watermark moved at least that much (or at ``flush``). ``max_pending`` bounds memory: past
    it, the oldest records are released early (and later records older than them become late,
    counted). ``wall`` and ``mono`` are injectable clocks (seconds) for tests.
    """

    def __init__(self, lateness_ms: int, stats: Stats | None = None, release_every_ms: int = 1000,
                 max_pending: int = 2_000_000, policy: TimePolicy | None = None,
                 wall: Callable[[], float] = time.time, mono: Callable[[], float] = time.monotonic) -> None:
        self.lateness_ms = max(0, int(lateness_ms))
        self.stats = stats or Stats()
        self.release_every_ms = release_every_ms
        self.max_pending = max_pending
        self.policy = policy or TimePolicy()
        self._wall = wall
        self._mono = mono
        self.watermark = NO_TIME
        self._released_to = NO_TIME
        self._exporters: dict[str, _ExporterClock] = {}
        self._leader = NO_TIME  # highest exporter clock (_ExporterClock.time)
        #: some exporter has sent two records; before that files hold the watermark (a
        #: one-record input must not set it) and live inputs follow single records
        self._established = False
        #: file inputs that have not handed over their first batch: the watermark waits for
        #: them (a slower reader's records would otherwise all be late)
        self._holds: set[str] = set()
        #: batch sources of file inputs still being read: their exporters are never idle
        self._reading: set[str] = set()
        #: a record further than this ahead of all the others of its exporter is lone
        #: (_ExporterClock.time): the lateness, so that a lone record makes nothing late,
        #: but never less than exporter_idle, so that ordinary bursts and small-lateness runs
        #: keep the usual max-minus-lateness watermark
        self._jump_ms = max(self.lateness_ms, self.policy.exporter_idle_ms)
        self._basis = NO_TIME  # the watermark before lateness: min over live, current exporters
        self._runs: list[_Run] = []
        self._starts: list[int] = []  # per run, how much of it was already released
        self._pending_n = 0

    @property
    def pending(self) -> int:
        """Records held back, waiting for the watermark."""
        return self._pending_n

    @property
    def max_seen(self) -> int:
        """The event time the watermark follows (watermark + lateness): the slowest live exporter."""
        return self._basis

    @property
    def released_to(self) -> int:
        """The event time up to which every held record has been released: detectors may
        close windows up to it (the watermark may be ahead of it between releases)."""
        return self._released_to

    def wait_for(self, source: str) -> None:
        """Keep the watermark where it is until :meth:`heard_from` (``source``): a file input that
        has not sent its first batch yet. Files need no promptness, and two files of the same
        hours read by two threads must not race: whichever reader is faster would otherwise
        move the watermark past every record of the other. The held records stay bounded by
        ``max_pending``."""
        self._holds.add(source)

    def heard_from(self, source: str) -> None:
        """``source`` has handed over its first batch (its exporters now have clocks) or ended."""
        self._holds.discard(source)

    def reading(self, batch_source: str) -> None:
        """A file input, one of several, is still reading and names its batches
        ``batch_source``: its exporters do not go idle however far another input's event time
        runs ahead (a reader thread starved for a moment is not an exporter gone silent;
        exporter_idle by event time would make all its later records late)."""
        self._reading.add(batch_source)

    def finished(self, batch_source: str) -> None:
        """The input whose batches are ``batch_source`` ended: its exporters may go idle."""
        self._reading.discard(batch_source)

    @property
    def exporters(self) -> int:
        """Exporter clocks currently kept."""
        return len(self._exporters)

    def push(self, batch: FlowBatch) -> list[FlowBatch]:
        """Accept a batch; return what the watermark now releases (sorted, possibly empty)."""
        if batch.length == 0:
            return []
        batch = self._admit(batch)
        if batch.length == 0:
            return self._maybe_release()
        self._runs.append(_Run(batch))
        self._starts.append(0)
        self._pending_n += batch.length
        return self._maybe_release()

    def progress(self, batch: FlowBatch) -> list[FlowBatch]:
        """Progress marks: each record says its exporter's time reached its event time, and
        nothing is held or released for it (a level-2 input's producer published no row but
        its engine moved on). Without them a quiet producer holds the watermark until
        ``exporter_idle``. A mark is judged as one record of that exporter would be (beyond
        ``future_tolerance`` of the wall clock when live, or more than ``file_gap`` past the
        exporter's time for files, it is ignored and counted as ``time.progress_future``) and
        moves the clock as records do: one mark alone cannot, and a mark more than the jump
        limit ahead of the exporter's others is lone (:meth:`_ExporterClock.time`), so a
        hostile far-future mark moves nothing. Returns what the watermark now releases."""
        if batch.length == 0:
            return []
        times = batch.event_times()
        now_mono = self._mono()
        wall_ms = int(self._wall() * 1000) if self.policy.live else NO_TIME
        for key, idx in _exporter_groups(batch).items():
            valid = [t for t in (times if idx is None else [times[i] for i in idx]) if t >= 0]
            if not valid:
                continue
            clock = self._exporter(key, now_mono, batch.source)
            limit = (wall_ms + self.policy.future_tolerance_ms if self.policy.live
                     else clock.max_seen + self.policy.file_gap_ms if clock.max_seen > NO_TIME else max(valid))
            ok = sorted(t for t in valid if t <= limit)
            if len(ok) < len(valid):
                self.stats.add("time.progress_future", len(valid) - len(ok))
            if not ok:
                continue
            clock.note(ok[-1], ok[-2] if len(ok) > 1 else NO_TIME, ok, self.lateness_ms, self._jump_ms)
            clock.count += len(ok)
            ctime = clock.time(self.lateness_ms)
            if ctime > NO_TIME:
                self._established = True
            if ctime > self._leader:
                self._leader = ctime
            clock.heard_mono = now_mono
            clock.heard_at_leader = self._leader
        self.stats.add("time.progress_marks", batch.length)
        return self._maybe_release()

    def _maybe_release(self) -> list[FlowBatch]:
        self._update_basis()
        if self._basis > NO_TIME:
            wm = self._basis - self.lateness_ms
            if wm > self.watermark:
                self.watermark = wm
        if self._pending_n >= self.max_pending:
            return self._release(self.watermark, force=True)
        if self.watermark - self._released_to >= self.release_every_ms or self._released_to == NO_TIME:
            return self._release(self.watermark)
        return []

    # -- admission: one exporter's clock is checked against its reference ------------------------
    def _admit(self, batch: FlowBatch) -> FlowBatch:
        """Drop (or clamp) records out of range, update exporter clocks, drop late records."""
        times = batch.event_times()
        groups = _exporter_groups(batch)
        now_mono = self._mono()
        wall_ms = int(self._wall() * 1000) if self.policy.live else NO_TIME
        bad: dict[str, list[int]] = {}
        clamped: dict[int, int] = {}
        # min and max of the batch once: the span, the exporter's check and the late test below
        # reuse them when the batch is one exporter with every time valid (the common case)
        lo_all = min(times)
        valid_all = [t for t in times if t >= 0] if lo_all < 0 else times
        hi_all = max(valid_all) if valid_all else NO_TIME
        if valid_all is not times and valid_all:
            lo_all = min(valid_all)
        # Live: the batch's median is the consensus of every exporter in it: a new exporter
        # whose records all disagree with the others cannot set its own reference. Files use
        # the span instead, which needs no sort when the batch has no gap of file_gap.
        consensus: int | None = None
        span: tuple[int, int, int] | None = None
        if valid_all and self.policy.live:
            consensus = _median_sorted(sorted(valid_all))
        elif valid_all:
            span = _main_span(valid_all, self.policy.file_gap_ms, lo_all, hi_all)
        for key, idx in groups.items():
            clock = self._exporter(key, now_mono, batch.source)
            gtimes = times if idx is None else [times[i] for i in idx]
            valid = gtimes if gtimes is valid_all else [t for t in gtimes if t >= 0]
            if not valid:
                clock.heard_mono = now_mono
                continue
            if span is None:  # live: nothing can have ended after now (plus the tolerance)
                own = max(clock.max_seen, NO_TIME if consensus is None else consensus)
                hi = wall_ms + self.policy.future_tolerance_ms
                lo = own - self.policy.past_tolerance_ms
            else:
                gap = self.policy.file_gap_ms
                if (clock.count < MIN_JUMP and clock.max_seen > NO_TIME and span[2] >= MIN_JUMP
                        and not span[0] - gap <= clock.max_seen <= span[1] + gap):
                    self._forget(key, clock, span[0] - gap, span[1] + gap)
                own, hi, lo = self._file_range(span, clock.max_seen)
            whole = valid is valid_all
            top = hi_all if whole else max(valid)
            second: int | None = None
            admitted = len(valid)
            if top > hi or (lo_all if whole else min(valid)) < lo:
                top = second = NO_TIME
                positions = range(len(gtimes)) if idx is None else idx
                for pos, t in zip(positions, gtimes, strict=True):
                    if t < 0:
                        continue
                    if t > hi or t < lo:
                        reason = "future" if t > hi else "too-old"
                        if self.policy.clamp:
                            clamped[pos] = (hi - (self.policy.future_tolerance_ms if span is None else 0)
                                            if t > hi else own)
                            self.stats.add(f"time.clamped_{reason}")
                            t = clamped[pos]
                        else:
                            bad.setdefault(reason, []).append(pos)
                            admitted -= 1
                            continue
                    if t > top:
                        second, top = top, t
                    elif t > second:
                        second = t
            if top > NO_TIME:
                clock.note(top, second, valid, self.lateness_ms, self._jump_ms)
                clock.count += admitted
            ctime = clock.time(self.lateness_ms)
            if ctime <= NO_TIME and self.policy.live and not self._established:
                ctime = clock.max_seen  # live, nobody has two records yet: the wall clock bounds it
            elif ctime > NO_TIME:
                self._established = True
            if ctime > self._leader:
                self._leader = ctime
            clock.heard_mono = now_mono
            clock.heard_at_leader = self._leader
        if clamped:
            times = list(times)
            for pos, t in clamped.items():
                times[pos] = t
            batch.set_event_times(times)
        floor = self._released_to
        if not bad and (lo_all if not clamped and valid_all is times else min(times)) >= max(0, floor):
            return batch
        drop = {pos for positions in bad.values() for pos in positions}
        for reason, positions in bad.items():
            self.stats.drop(reason, len(positions), batch.source)
        no_time = late = 0
        keep: list[int] = []
        lowest = max(0, floor)
        for i, t in enumerate(times):
            if i in drop:
                continue
            if t < 0:
                no_time += 1
            elif t < lowest:
                late += 1
            else:
                keep.append(i)
        self.stats.drop("no-timestamp", no_time, batch.source)
        self.stats.drop("late", late, batch.source)
        return batch.take(keep)

    def _file_range(self, span: tuple[int, int, int], seen: int) -> tuple[int, int, int]:
        """(reference, highest, lowest) time a file record may have.

        A stored capture can be sparse: a slow sweep leaves one flow every half hour, and the
        flow meter hands its records over in one batch, so a median or a fixed tolerance around
        it would throw real records away. What marks a bad clock in a file is a gap no capture
        has: the batch's records are cut where consecutive times are more than ``file_gap``
        apart, the largest run is the batch's time (``span``: first, last, size), and records
        outside it are ``future``/``too-old``. A run that jumps more than ``file_gap`` past
        what this exporter already sent must be backed by at least ``MIN_JUMP`` records.
        """
        first, last, size = span
        if seen > NO_TIME and first > seen + self.policy.file_gap_ms and size < MIN_JUMP:
            return seen, seen + self.policy.file_gap_ms, seen - self.policy.past_tolerance_ms
        lo = first if seen <= NO_TIME else min(first, seen - self.policy.past_tolerance_ms)
        return max(seen, last), last, lo

    def _forget(self, key: str, clock: _ExporterClock, lo: int, hi: int) -> None:
        """A file exporter's first few records were a bad clock: a run of at least MIN_JUMP
        records lies more than ``file_gap`` away from them. Start its clock afresh and drop
        its records still held outside ``[lo, hi]`` ('future'/'too-old', counted): a lone
        1970 packet before the capture's real time must not open windows in 1970."""
        clock.max_seen = clock.second = NO_TIME
        clock.count = 0
        runs: list[_Run] = []
        starts: list[int] = []
        for run, start in zip(self._runs, self._starts, strict=True):
            batch = run.batch
            idx = _exporter_groups(batch).get(key, [])
            if idx is not None and not idx:
                runs.append(run)
                starts.append(start)
                continue
            mine = None if idx is None else set(idx)
            held = range(start, len(run.times)) if run.order is None else run.order[start:]
            times = batch.event_times()
            keep: list[int] = []
            dropped = {"future": 0, "too-old": 0}
            for pos in held:
                t = times[pos]
                if (mine is None or pos in mine) and not lo <= t <= hi:
                    dropped["future" if t > hi else "too-old"] += 1
                else:
                    keep.append(pos)
            if len(keep) == len(held):
                runs.append(run)
                starts.append(start)
                continue
            for reason, n in dropped.items():
                if n:
                    self.stats.drop(reason, n, batch.source)
            self._pending_n -= len(held) - len(keep)
            if keep:  # in time order already: the new run needs no sort
                runs.append(_Run(batch.take(keep)))
                starts.append(0)
        self._runs, self._starts = runs, starts

    def _exporter(self, key: str, now_mono: float, source: str = "") -> _ExporterClock:
        clock = self._exporters.get(key)
        if clock is None:
            if len(self._exporters) >= self.policy.max_exporters:
                self._evict(now_mono)
            clock = self._exporters[key] = _ExporterClock()
            clock.source = source
            clock.heard_mono = now_mono
            clock.heard_at_leader = self._leader
        return clock

    def _evict(self, now_mono: float) -> None:
        """Make room: forget the least recently heard tenth of the exporters (counted)."""
        n = max(1, len(self._exporters) // 10)
        oldest = sorted(self._exporters.items(),
                        key=lambda kv: (kv[1].heard_mono, kv[1].heard_at_leader))[:n]
        for key, _ in oldest:
            del self._exporters[key]
        self.stats.add("time.exporters_evicted", len(oldest))

    def _is_idle(self, clock: _ExporterClock, now_mono: float) -> bool:
        if self.policy.live:
            return (now_mono - clock.heard_mono) * 1000 > self.policy.exporter_idle_ms
        if clock.source in self._reading:
            return False
        return self._leader - clock.heard_at_leader > self.policy.exporter_idle_ms

    def _update_basis(self) -> None:
        """The watermark follows the slowest exporter that is live and not hopelessly behind."""
        if not self._exporters or self._holds:
            return
        now_mono = self._mono()
        step = self.lateness_ms
        clocks = [(c.time(step), c) for c in self._exporters.values()]
        if self.policy.live and not self._established:  # see _admit
            clocks = [(c.max_seen, c) for _, c in clocks]
        live = [t for t, c in clocks if t > NO_TIME and not self._is_idle(c, now_mono)]
        # An exporter that has sent one record cannot lead (its record may be a lone outlier),
        # but it still holds: a quiet exporter (a level-2 gateway that published one row) is
        # waited for until it goes idle, like any other, and holding back makes nothing late.
        holding = [c.max_seen for t, c in clocks
                   if t <= NO_TIME and c.max_seen > NO_TIME and not self._is_idle(c, now_mono)] if live else []
        if not live:  # everyone idle: the freshest time is all there is
            if self._leader <= NO_TIME:
                return
            live = [self._leader]
        floor = max(live) - self.policy.past_tolerance_ms
        basis = min(t for t in live + holding if t >= floor)
        if basis > self._basis:
            self._basis = basis
        self.stats.gauge("time.exporters", len(self._exporters))

    def advance(self, watermark_ms: int) -> list[FlowBatch]:
        """Move the watermark by wall clock (idle live inputs) and release what it passes."""
        if watermark_ms > self.watermark:
            self.watermark = watermark_ms
        out = self._release(self.watermark)
        if self.watermark > self._released_to:  # nothing was held: the release point moves all the same
            self._released_to = self.watermark
        return out

    def flush(self) -> list[FlowBatch]:
        """End of input: release everything, sorted."""
        if not self._runs:
            return []
        top = max(self._leader, self.watermark,
                  max(run.times[-1] for run in self._runs))
        out = self._release(top)
        self.watermark = top
        return out

    def _forced(self, upto: int) -> int:
        """Pending limit reached: the release point that lets go of at least the oldest half
        of what is held (the watermark follows it; counted)."""
        firsts = sorted(run.times[start] for run, start in zip(self._runs, self._starts, strict=True))
        upto = max(upto, firsts[len(firsts) // 2])
        self.watermark = max(self.watermark, upto)
        self.stats.add("time.forced_releases")
        return upto

    def _release(self, upto: int, force: bool = False) -> list[FlowBatch]:
        if not self._runs:
            return []
        if force:
            upto = self._forced(upto)
        if upto <= NO_TIME:
            return []
        ready: list[FlowBatch] = []
        runs: list[_Run] = []
        starts: list[int] = []
        released = 0
        sorted_ready = True
        for run, start in zip(self._runs, self._starts, strict=True):
            t = run.times
            if t[start] > upto:
                runs.append(run)
                starts.append(start)
                continue
            # The remainder is not copied: the run keeps its offset until fully released.
            n = len(t)
            k = n if t[-1] <= upto else bisect_right(t, upto, start)
            batch, order = run.batch, run.order
            if start == 0 and k == n and batch.length == n:
                ready.append(batch)  # unsorted when order is not None: the merge sorts it
                sorted_ready = sorted_ready and order is None
            elif order is None:
                ready.append(batch.slice(start, k))
            else:
                ready.append(batch.take(order[start:k]))
            released += k - start
            if k < n:
                runs.append(run)
                starts.append(k)
        self._runs, self._starts = runs, starts
        self._pending_n -= released
        if upto > self._released_to:
            self._released_to = upto
        if not ready:
            return []
        if len(ready) == 1 and sorted_ready:
            return ready
        by_stream: dict[str, list[FlowBatch]] = {}
        for b in ready:  # a level-2 run holds Alert and Metric runs, never joined in one batch
            by_stream.setdefault(b.stream, []).append(b)
        out: list[FlowBatch] = []
        for group in by_stream.values():
            merged = FlowBatch.concat(group, group[0].source)
            times = merged.event_times()
            if not _in_order(times):  # Timsort merges the sorted runs in near-linear time
                merged = merged.take(_order(times))
            out.append(merged)
        return out if len(out) == 1 else _interleave(out)


def _interleave(batches: list[FlowBatch]) -> list[FlowBatch]:
    """Sorted batches of different streams as one sequence in event-time order: a slice of
    one stream's batch at a time, cut where the next event belongs to another stream (ties
    keep the order the streams came in). A detector reading two streams then sees them in
    the order they happened."""
    merged = heapq.merge(*[zip(b.event_times(), repeat(k)) for k, b in enumerate(batches)])
    out: list[FlowBatch] = []
    starts = [0] * len(batches)
    current, count = -1, 0
    for _t, k in merged:
        if k != current:
            if count:
                b = batches[current]
                out.append(b.slice(starts[current], starts[current] + count))
                starts[current] += count
            current, count = k, 0
        count += 1
    if count:
        b = batches[current]
        out.append(b.slice(starts[current], starts[current] + count))
    return out


class _Run:
    """A pushed batch, as it came, with its event times sorted and the permutation that sorts
    it (None: already in order, the common case for files).

    ``part``: only the records at these positions are held (a worker of ``flowcep run
    --workers N`` holding its share of an admitted batch): ``order`` then lists just them, and
    they are copied once, sorted, when released, instead of once to cut the share out and
    again to sort it."""

    __slots__ = ("batch", "times", "order")

    def __init__(self, batch: FlowBatch, part: list[int] | None = None) -> None:
        self.batch = batch
        self.order: list[int] | None
        times = batch.event_times()
        if part is not None and len(part) < batch.length:
            sub = list(map(times.__getitem__, part))
            self.order = part if _in_order(sub) else [part[i] for i in _order(sub)]
            self.times = list(map(times.__getitem__, self.order))
        elif _in_order(times):
            self.order = None
            self.times = times
        else:
            self.order = _order(times, batch.event_times_array())
            self.times = list(map(times.__getitem__, self.order))


def _exporter_groups(batch: FlowBatch) -> dict[str, list[int] | None]:
    """Exporter key -> record positions (None: the whole batch), without a loop when the batch
    has one exporter (the common case)."""
    if batch.exporter is not None:
        return {batch.exporter: None}
    col = batch.columns.get("flowcep.exporter")
    if col is None:
        return {batch.source: None}
    keys = set(col)
    if len(keys) == 1:
        only = next(iter(keys))
        return {batch.source if only is None else str(only): None}
    groups: dict[str, list[int] | None] = {}
    for i, k in enumerate(col):
        key = batch.source if k is None else str(k)
        lst = groups.get(key)
        if lst is None:
            groups[key] = [i]
        else:
            lst.append(i)
    return groups


def _in_order(times: list[int]) -> bool:
    """Whether ``times`` never decrease: one C-level pass, no copy (files mostly are)."""
    return all(map(le, times, islice(times, 1, None)))


def _order(times: list[int], array: Any = None) -> list[int]:
    """The positions of ``times`` in stable sorted order (what ``sorted(range(n),
    key=times.__getitem__)`` gives), by numpy's stable sort: a quarter of the cost. ``array``:
    the same times as the decoder's numpy array (``FlowBatch.event_times_array``), sorted as
    they are, without building one from the list."""
    import numpy as np  # here, not at the top: config.py imports this module for every command

    n = len(times)
    if array is not None and len(array) == n:
        return np.argsort(array, kind="stable").tolist()  # type: ignore[no-any-return]
    try:
        return np.argsort(np.fromiter(times, np.int64, n), kind="stable").tolist()  # type: ignore[no-any-return]
    except OverflowError:
        return sorted(range(n), key=times.__getitem__)


def _main_span(values: list[int], gap: int, lo: int | None = None, hi: int | None = None) -> tuple[int, int, int]:
    """(first, last, count) of the largest run of times with no gap over ``gap`` (ties: the
    earliest run); when the whole batch spans at most ``gap`` (the usual case) that is the
    batch itself, found without sorting. ``lo``/``hi``: the values' min and max when the
    caller has them."""
    if lo is None or hi is None:
        lo, hi = min(values), max(values)
    if hi - lo <= gap:
        return lo, hi, len(values)
    ordered = sorted(values)
    best = (ordered[0], ordered[0], 1)
    start = 0
    for i in range(1, len(ordered) + 1):
        if i == len(ordered) or ordered[i] - ordered[i - 1] > gap:
            if i - start > best[2]:
                best = (ordered[start], ordered[i - 1], i - start)
            start = i
    return best


def _second_largest(values: list[int], top: int) -> int:
    """The largest of ``values`` once one ``top`` (their maximum) is taken out: two C-level
    passes, no sort (NO_TIME for a single value)."""
    i = values.index(top)
    return max(max(values[:i], default=NO_TIME), max(values[i + 1:], default=NO_TIME))


def _median_sorted(ordered: list[int]) -> int:
    """The middle of sorted values; of two, the lower, so that one outlier beside one normal
    record cannot vouch for itself."""
    return ordered[0] if len(ordered) <= 2 else ordered[len(ordered) // 2]
