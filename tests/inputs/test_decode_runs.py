"""The file decoder's fast paths give what the per-message paths give.

``StreamFramer.runs`` hands the decoder runs of messages instead of one copy per message,
``MessageDecoder.feed(..., start, limit)`` walks such a run and stops where a batch would
have been cut (queuing plain stretches of 8 messages or more with numpy,
``_ipfix_vector``: batches, stats, sequence state and message counts are compared with
feeding one message at a time), and IPv4 columns of 64 records or more go through a direct-mapped numpy
cache (``_Caches.ipv4_array``). Each is checked here against the slow path it replaces,
including garbage between messages, hash collisions in a tiny table and the table being
emptied and relearnt.
"""

from __future__ import annotations

import queue
import socket
import struct
import sys
import threading
from collections.abc import Iterator
from typing import Any

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from flowcep_plugin.context import Context
from flowcep_plugin.inputs.collectors import StreamFramer
from flowcep_plugin.inputs.ipfix_decode import MessageDecoder, _Caches
from flowcep_plugin.records import Columns, FlowBatch

from .test_ipfix_decode import dset, msg, tset

FIELDS = [(8, 4), (12, 4), (7, 2), (11, 2), (4, 1), (1, 8), (153, 8)]


def record(i: int, spread: int) -> bytes:
    src = socket.inet_aton(f"10.{i % spread // 256 % 256}.{i % spread % 256}.{i % 7}")
    return (src + socket.inet_aton(f"192.0.2.{i % 251}") + struct.pack(">HHB", 1024 + i % 50000, 80, 6)
            + struct.pack(">QQ", i * 1000, 1_700_000_000_000 + i))


def stream(sizes: list[int], spread: int, events: list[str] | None = None) -> list[bytes]:
    """A template message then data messages of ``sizes`` records (two templates alternate).

    ``events`` (one per data message) make a message odd for the run decoder: ``t`` adds a
    template set first, ``T`` last, ``s`` jumps the sequence number, ``o`` sends from another
    observation domain, ``u`` adds a set of an unknown template, ``b`` a set whose length runs
    past the message, ``z`` a data set too short for one record, ``e`` an empty message,
    ``r`` a set of a template with uptime-relative times, ``p`` an options data set.
    """
    msgs = [msg([tset(256, FIELDS), tset(257, FIELDS[:5]), tset(259, [(8, 4), (22, 4)]),
                 tset(260, [(144, 4), (34, 4)], set_id=3, scope=1)], seq=0)]
    seq = {1: 0, 2: 0}
    for k, n in enumerate(sizes):
        ev = events[k % len(events)] if events else "."
        recs = [record(k * 100 + j, spread) for j in range(n)]
        sets = [dset(256, *recs)] if k % 2 == 0 else [dset(257, *(r[:13] for r in recs)), dset(256, *recs[:1])]
        odid = 2 if ev == "o" else 1
        if ev == "t":
            sets.insert(0, tset(257, FIELDS[:5]))
        elif ev == "T":
            sets.append(tset(258, FIELDS[:3]))
        elif ev == "u":
            sets.insert(len(sets) // 2, dset(300, b"\x01" * 8))
        elif ev == "b":
            sets.append(struct.pack(">HH", 256, 200) + b"\x00" * 8)
        elif ev == "z":
            sets.append(dset(256, b"\x00" * 5))
        elif ev == "e":
            sets = []
        elif ev == "r":  # flowStartSysUpTime: decoded per message, never pooled
            sets.append(dset(259, *(r[:4] + struct.pack(">I", 5000 + k) for r in recs[:3])))
        elif ev == "p":  # options data (a sampling rate) between flow sets
            sets.insert(1, dset(260, struct.pack(">II", 7, 10)))
        if ev == "s":
            seq[odid] += 7
        msgs.append(msg(sets, seq=seq[odid], odid=odid, export=1_700_000_000 + k // 3))
        if ev != "b":
            seq[odid] += (len(recs) + (k % 2) if sets else 0) + (min(3, len(recs)) if ev == "r" else 0) + (
                1 if ev == "p" else 0)
    return msgs


def batches_per_message(msgs: list[bytes], batch: int) -> tuple[list[dict[str, list[object]]], Any]:
    ctx = Context()
    dec = MessageDecoder(ctx, "a")
    out = []
    for m in msgs:
        dec.feed(m, "e")
        if dec.pending_records >= batch:
            out += [b.columns for b in dec.flush(merged=True)]
    out += [b.columns for b in dec.flush(merged=True)]
    return out, _state(ctx, dec)


def batches_per_run(msgs: list[bytes], batch: int,
                    starts: list[int] | None = None) -> tuple[list[dict[str, list[object]]], Any]:
    """``starts``: the message offsets handed to ``feed`` (right or wrong: a wrong list must
    change nothing)."""
    ctx = Context()
    dec = MessageDecoder(ctx, "a")
    out = []
    run = b"".join(msgs)
    at = 0
    while at < len(run):
        at = dec.feed(run, "e", at, batch, starts)
        if dec.pending_records >= batch:
            out += [b.columns for b in dec.flush(merged=True)]
    out += [b.columns for b in dec.flush(merged=True)]
    return out, _state(ctx, dec)


def _state(ctx: Context, dec: MessageDecoder) -> Any:
    snap = {k: v for k, v in ctx.stats.snapshot().items() if k not in ("elapsed_s", "records_per_s")}
    sessions = {k: (s.expected_seq, s.restart_seq, s.lost, s.out_of_order, s.established)
                for k, s in dec.sessions.items()}
    return snap, sessions, dec.messages


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 90), min_size=1, max_size=60), st.integers(1, 400),
       st.sampled_from([3, 300, 70000]), st.lists(st.sampled_from(list(".......tTsoubzerp")), max_size=20))
def test_feeding_a_run_with_a_limit_cuts_the_same_batches(sizes: list[int], batch: int, spread: int,
                                                          events: list[str]) -> None:
    msgs = stream(sizes, spread, events)
    want = batches_per_message(msgs, batch)
    assert batches_per_run(msgs, batch) == want
    offsets = [sum(len(m) for m in msgs[:i]) for i in range(len(msgs))]
    assert batches_per_run(msgs, batch, offsets) == want


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 60), min_size=10, max_size=60), st.integers(1, 400),
       st.lists(st.tuples(st.integers(0, 59), st.sampled_from(["drop", "shift", "add"]), st.integers(1, 40)),
                min_size=1, max_size=5))
def test_wrong_message_offsets_change_nothing(sizes: list[int], batch: int,
                                              edits: list[tuple[int, str, int]]) -> None:
    """The offsets a caller hands to ``feed`` are checked like the walk checks length fields:
    a list with messages missing, moved or invented decodes like no list at all."""
    msgs = stream(sizes, 300)
    offsets = [sum(len(m) for m in msgs[:i]) for i in range(len(msgs))]
    for i, how, by in edits:
        i %= len(offsets)
        if how == "drop" and len(offsets) > 1:
            del offsets[i]
        elif how == "shift":
            offsets[i] += by
        else:
            offsets.insert(i, offsets[i] + by)
    offsets = sorted(set(offsets))
    assert batches_per_run(msgs, batch, offsets) == batches_per_message(msgs, batch)


def test_long_plain_runs_are_decoded_like_single_messages() -> None:
    """Runs long enough for the vectorised path (8 messages and more), cut by a batch limit,
    a template refresh, a sequence jump and another domain."""
    for events in (["."], [".", ".", ".", ".", ".", ".", ".", ".", ".", "t"], ["."] * 20 + ["s"],
                   ["."] * 15 + ["o"], ["."] * 30 + ["u", "b", "z", "T", "e"], ["."] * 12 + ["r"],
                   ["."] * 9 + ["p"]):
        msgs = stream([20 + k % 13 for k in range(120)], 300, events)
        for batch in (1, 50, 1000, 100000):
            assert batches_per_run(msgs, batch) == batches_per_message(msgs, batch)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.sampled_from(["m", "j"]), min_size=1, max_size=10), st.binary(min_size=1, max_size=20),
       st.lists(st.integers(1, 400), min_size=1, max_size=8))
def test_runs_hold_the_same_messages_and_garbage_as_messages(shape: list[str], junk: bytes,
                                                             cuts: list[int]) -> None:
    msgs = stream([5, 3, 8], 10)
    junk = junk.replace(b"\x00\x0a", b"\x01\x0a")
    data = b"".join(msgs[i % len(msgs)] if c == "m" else junk for i, c in enumerate(shape))
    seen: dict[str, tuple[list[bytes], list[tuple[int, int]]]] = {}
    for how in ("messages", "runs"):
        garbage: list[tuple[int, int]] = []

        def note(n: int, off: int, g: list[tuple[int, int]] = garbage) -> None:
            g.append((n, off))

        framer = StreamFramer(note)
        out: list[bytes] = []
        pos = i = 0
        while pos < len(data):
            step = cuts[i % len(cuts)]
            framer.feed(data[pos:pos + step])
            if how == "messages":
                out += [m for m, _ in framer.messages()]
            else:
                for run, off in framer.runs():
                    # a run is whole messages back to back; its offset is its first byte's
                    assert data[off:off + len(run)] == run
                    k = 0
                    starts = []
                    while k < len(run):
                        ln = struct.unpack_from(">H", run, k + 2)[0]
                        out.append(run[k:k + ln])
                        starts.append(k)
                        k += ln
                    assert k == len(run)
                    assert framer.run_starts == starts
            pos += step
            i += 1
        seen[how] = (out, garbage)
    assert seen["runs"] == seen["messages"]


def text(v: int) -> str:
    return socket.inet_ntoa(v.to_bytes(4, "big"))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(st.integers(0, 2**32 - 1) | st.sampled_from([0, 1, 2**32 - 1, 167772161]),
                         max_size=300), min_size=1, max_size=8),
       st.integers(1, 6), st.integers(0, 40))
def test_ipv4_array_cache_gives_inet_ntoa_through_collisions_and_relearning(
        columns: list[list[int]], bits: int, relearn: int) -> None:
    caches = _Caches()
    caches.V4_BITS, caches.V4_RELEARN = bits, relearn  # a few slots: collisions on every column
    longest = max(len(c) for c in columns)
    for col in columns:
        arr = np.array(col, dtype=">u4")
        assert caches.ipv4_array(arr) == [text(v) for v in col]
        assert len(caches.v4) <= relearn + longest  # the dict side stays bounded
    assert caches._v4_keys is None or len(caches._v4_keys) == 1 << bits


def test_value_caches_count_each_start_over() -> None:
    """Both the dict caches and the numpy IPv4 table start over when full: counted, and the
    texts stay right across the reset."""
    from flowcep_plugin.stats import Stats
    stats = Stats()
    caches = _Caches(stats)
    caches.V4_BITS, caches.V4_RELEARN, caches.LIMIT = 1, 3, 5
    col = list(range(1, 40))
    for part in (col, col[::-1]):  # the second column finds the dict side past V4_RELEARN
        assert caches.ipv4_array(np.array(part, dtype=">u4")) == [text(v) for v in part]
    relearned = stats.gauges.get("input.value_cache_resets", 0)
    assert relearned >= 1
    assert caches.ipv4(col) == [text(v) for v in col] and caches.ipv4(col[::-1]) == [text(v) for v in col[::-1]]
    assert stats.gauges.get("input.value_cache_resets", 0) > relearned


def test_columns_of_many_and_few_records_decode_alike() -> None:
    """64 records and more take the numpy address cache, fewer the dict: same texts."""
    for n in (1, 63, 64, 65, 500):
        recs = [record(i, 70000) for i in range(n)]
        whole = MessageDecoder(Context(), "a").decode(msg([tset(256, FIELDS), dset(256, *recs)]), "e")
        singles = MessageDecoder(Context(), "b")
        singles.feed(msg([tset(256, FIELDS)]), "e")
        for i, r in enumerate(recs):  # one record per message, flushed alone: columns of one
            singles.feed(msg([dset(256, r)], seq=i), "e")
            singles.flush()
        got = whole[0].columns
        expect_src = [text(int.from_bytes(r[:4], "big")) for r in recs]
        assert got["sourceIPv4Address"] == expect_src
        assert got["destinationIPv4Address"] == [text(int.from_bytes(r[4:8], "big")) for r in recs]


def test_single_record_columns_match_the_numpy_path() -> None:
    recs = [record(i, 70000) for i in range(100)]
    dec = MessageDecoder(Context(), "b")
    dec.feed(msg([tset(256, FIELDS)]), "e")
    src: list[object] = []
    for i, r in enumerate(recs):
        dec.feed(msg([dset(256, r)], seq=i), "e")
        for b in dec.flush():
            src += b.columns["sourceIPv4Address"]
    whole = MessageDecoder(Context(), "a").decode(msg([tset(256, FIELDS), dset(256, *recs)]), "e")
    assert src == whole[0].columns["sourceIPv4Address"]


def old_merge(dec: MessageDecoder) -> list[FlowBatch]:
    """What ``flush(merged=True)`` gave before it joined columns itself: one batch per
    template, joined by ``FlowBatch.concat``; options batches after the flows."""
    out = dec.flush()
    flows = [b for b in out if b.stream == "Flow"]
    others = [b for b in out if b.stream != "Flow"]
    return ([FlowBatch.concat(flows, dec.source)] if len(flows) > 1 else flows) + others


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([256, 257, 258, 259, 260]), st.integers(1, 150)), min_size=1,
                max_size=8),
       st.booleans(), st.booleans())
def test_merged_flush_joins_columns_like_concat(sets: list[tuple[int, int]], options: bool, lazy: bool) -> None:
    """Templates that share columns with the same layout, with another width (reduced-size
    encoding), with text, or lack them; address columns over and under 64 records."""
    layouts = {256: FIELDS, 257: FIELDS[:5], 258: [(8, 4), (1, 4), (12, 4), (82, 10)],
               259: [(1, 8), (8, 4), (4, 1)], 260: [(12, 4), (8, 4), (153, 8), (7, 2)]}
    templates = msg([tset(tid, f) for tid, f in layouts.items()]
                    + ([tset(270, [(144, 4), (34, 4)], set_id=3, scope=1)] if options else []))
    data = []
    seq = 0
    for k, (tid, n) in enumerate(sets):
        size = sum(ln for _e, ln in layouts[tid])
        recs = [(record(k * 200 + j, 97) * 4)[:size] for j in range(n)]
        extra = [dset(270, struct.pack(">II", 1, 10))] if options and k == 0 else []
        data.append(msg([dset(tid, *recs), *extra], seq=seq, export=1_700_000_000 + k))
        seq += n + len(extra)
    results = []
    for merge in (True, False):
        dec = MessageDecoder(Context(), "m")
        dec.lazy_columns = lazy and merge
        dec.feed(templates, "e")
        for m in data:
            dec.feed(m, "e")
        got = dec.flush(merged=True) if merge else old_merge(dec)
        results.append([(b.stream, b.length, b.exporter, list(b.columns), dict(b.columns)) for b in got])
    assert results[0] == results[1]


@settings(max_examples=150, deadline=None)
@given(st.lists(st.integers(5, 40), min_size=10, max_size=40), st.integers(1, 600),
       st.lists(st.tuples(st.integers(0, 1 << 20), st.integers(0, 255)), min_size=1, max_size=6))
def test_damaged_runs_decode_like_single_messages(sizes: list[int], batch: int,
                                                  flips: list[tuple[int, int]]) -> None:
    """Bytes changed anywhere in a run (lengths, set ids, sequence numbers, records): the run
    path, numpy stretches included, must give the batches, counts and state that feeding the
    same messages one at a time gives, and raise nothing."""
    msgs = stream(sizes, 300)
    whole = bytearray(b"".join(msgs))
    for at, value in flips:
        whole[at % len(whole)] = value
    framer = StreamFramer(lambda n, off: None)
    framer.feed(bytes(whole))
    pieces = [m for m, _ in framer.messages()]
    assert batches_per_run(pieces, batch) == batches_per_message(pieces, batch)


def test_merged_flush_hands_columns_over_as_arrays() -> None:
    """With ``lazy_columns`` a merged flush keeps every column but the version as a numpy
    array that becomes a list on its first read: plain Python values, the same as the
    per-template path's; without it, every column is a list at once."""
    data = b"".join(stream([30, 40, 50, 60], 300))
    dec = MessageDecoder(Context(), "lazy")
    dec.lazy_columns = True
    dec.feed(data, "e")
    (batch,) = dec.flush(merged=True)
    cols = batch.columns
    assert isinstance(cols, Columns)
    unread = [name for name in cols if cols.is_view(name)]
    assert set(unread) == set(cols) - {"flowcep.export_version"}
    first = cols["protocolIdentifier"]  # in every template
    assert type(first) is list and all(type(v) is int for v in first)
    partial = cols["octetDeltaCount"]  # in one template: None for the other's records
    assert None in partial and all(v is None or type(v) is int for v in partial)
    assert not cols.is_view("protocolIdentifier") and cols.is_view("sourceTransportPort")
    dec2 = MessageDecoder(Context(), "eager")
    dec2.feed(data, "e")
    assert dict(batch.columns) == dict(old_merge(dec2)[0].columns)
    dec3 = MessageDecoder(Context(), "eager")
    dec3.lazy_columns = False
    dec3.feed(data, "e")
    (eager,) = dec3.flush(merged=True)
    assert type(eager.columns) is dict and all(type(v) is list for v in eager.columns.values())
    assert dict(eager.columns) == dict(batch.columns)


def test_columns_read_in_another_thread_while_decoding() -> None:
    """The address caches are shared by the decoding thread and whichever thread reads a
    column first (a pipeline's reader thread decodes while the main thread reads): with a
    tiny direct-mapped table and dict side that start over all the time, every value read
    concurrently is still the right text. Races are rare: with ``_Caches.lock`` taken out,
    4 of 40 runs of this test failed (a KeyError in the dict cache another thread had just
    emptied), at a switch interval of a microsecond."""
    switch = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        _read_while_decoding()
    finally:
        sys.setswitchinterval(switch)


def _read_while_decoding() -> None:
    sizes = [60 + (k * 37) % 90 for k in range(120)]
    # every fourth message has uptime-relative records: those are decoded per message, and
    # their batches converted in the decoding thread, while the reader converts the others
    data = b"".join(stream(sizes, 5000, [".", ".", ".", "r"]))
    names = ("sourceIPv4Address", "destinationIPv4Address", "octetDeltaCount")

    def decode(dec: MessageDecoder) -> Iterator[FlowBatch]:
        at = 0
        while at < len(data):
            at = dec.feed(data, "e", at, 64)
            yield from dec.flush(merged=True)
        yield from dec.flush(merged=True)

    want: dict[str, list[Any]] = {name: [] for name in names}
    for b in decode(MessageDecoder(Context(), "ref")):
        for name in names:
            want[name] += b.get(name)
    dec = MessageDecoder(Context(), "threads")
    dec.lazy_columns = True
    dec.caches.V4_BITS = 6
    dec.caches.V4_RELEARN = 8
    dec.caches.LIMIT = 16
    batches: queue.SimpleQueue[FlowBatch | None] = queue.SimpleQueue()
    got: dict[str, list[Any]] = {name: [] for name in names}

    def read() -> None:
        while (b := batches.get()) is not None:
            for name in names:
                got[name] += b.get(name)

    reader = threading.Thread(target=read)
    reader.start()
    for b in decode(dec):
        batches.put(b)
    batches.put(None)
    reader.join(60)
    assert got == want
