"""The file decoder's fast paths give what the per-message paths give.

``StreamFramer.runs`` hands the decoder runs of messages instead of one copy per message,
``MessageDecoder.feed(..., start, limit)`` walks such a run and stops where a batch would
have been cut, and IPv4 columns of 64 records or more go through a direct-mapped numpy
cache (``_Caches.ipv4_array``). Each is checked here against the slow path it replaces,
including garbage between messages, hash collisions in a tiny table and the table being
emptied and relearnt.
"""

from __future__ import annotations

import socket
import struct

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from flowcep_plugin.context import Context
from flowcep_plugin.inputs.collectors import StreamFramer
from flowcep_plugin.inputs.ipfix_decode import MessageDecoder, _Caches

from .test_ipfix_decode import dset, msg, tset

FIELDS = [(8, 4), (12, 4), (7, 2), (11, 2), (4, 1), (1, 8), (153, 8)]


def record(i: int, spread: int) -> bytes:
    src = socket.inet_aton(f"10.{i % spread // 256 % 256}.{i % spread % 256}.{i % 7}")
    return (src + socket.inet_aton(f"192.0.2.{i % 251}") + struct.pack(">HHB", 1024 + i % 50000, 80, 6)
            + struct.pack(">QQ", i * 1000, 1_700_000_000_000 + i))


def stream(sizes: list[int], spread: int) -> list[bytes]:
    """A template message then data messages of ``sizes`` records (two templates alternate)."""
    msgs = [msg([tset(256, FIELDS), tset(257, FIELDS[:5])], seq=0)]
    seq = 0
    for k, n in enumerate(sizes):
        recs = [record(k * 100 + j, spread) for j in range(n)]
        sets = [dset(256, *recs)] if k % 2 == 0 else [dset(257, *(r[:13] for r in recs)), dset(256, *recs[:1])]
        msgs.append(msg(sets, seq=seq, export=1_700_000_000 + k // 3))
        seq += n + (k % 2)
    return msgs


def batches_per_message(msgs: list[bytes], batch: int) -> list[dict[str, list[object]]]:
    dec = MessageDecoder(Context(), "a")
    out = []
    for m in msgs:
        dec.feed(m, "e")
        if dec.pending_records >= batch:
            out += [b.columns for b in dec.flush(merged=True)]
    return out + [b.columns for b in dec.flush(merged=True)]


def batches_per_run(msgs: list[bytes], batch: int) -> list[dict[str, list[object]]]:
    dec = MessageDecoder(Context(), "b")
    out = []
    run = b"".join(msgs)
    at = 0
    while at < len(run):
        at = dec.feed(run, "e", at, batch)
        if dec.pending_records >= batch:
            out += [b.columns for b in dec.flush(merged=True)]
    return out + [b.columns for b in dec.flush(merged=True)]


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(1, 90), min_size=1, max_size=12), st.integers(1, 300),
       st.sampled_from([3, 300, 70000]))
def test_feeding_a_run_with_a_limit_cuts_the_same_batches(sizes: list[int], batch: int, spread: int) -> None:
    msgs = stream(sizes, spread)
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
                    while k < len(run):
                        ln = struct.unpack_from(">H", run, k + 2)[0]
                        out.append(run[k:k + ln])
                        k += ln
                    assert k == len(run)
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
