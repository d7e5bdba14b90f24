"""Fuzzing the decoder and the stream framer with hypothesis (bounded to a few seconds).

Properties: no input makes ``decode`` raise; whatever is dropped is counted; a stream cut
into arbitrary chunks frames into the same messages as the whole stream. A longer run lives in
``benchmarks/fuzz_ipfix.py``.
"""

from __future__ import annotations

import struct

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flowcep_plugin.context import Context
from flowcep_plugin.inputs.collectors import StreamFramer
from flowcep_plugin.inputs.ipfix_decode import MessageDecoder


def _seed_messages() -> list[bytes]:
    """Valid messages of each kind to mutate (built by hand, no shared data needed)."""
    tmpl = struct.pack(">HHHH", 2, 4 + 4 + 4 * 4, 256, 4) + struct.pack(">HHHHHHHH", 8, 4, 12, 4, 7, 2, 82, 65535)
    data = struct.pack(">HH", 256, 4 + 13) + bytes([10, 0, 0, 1, 10, 0, 0, 2, 0, 80, 2]) + b"hi"
    opt = struct.pack(">HHHHH", 3, 4 + 6 + 8, 257, 2, 1) + struct.pack(">HHHH", 10, 4, 34, 4)
    body = tmpl + data + opt
    ipfix = struct.pack(">HHIII", 10, 16 + len(body), 1, 0, 3) + body
    v9t = struct.pack(">HH", 0, 12) + struct.pack(">HHHH", 300, 1, 8, 4)
    v9d = struct.pack(">HH", 300, 8) + bytes([1, 2, 3, 4])
    v9 = struct.pack(">HHIIII", 9, 2, 1000, 2000, 1, 0) + v9t + v9d
    v5 = struct.pack(">HHIIIIBBH", 5, 1, 0, 0, 0, 0, 0, 0, 0) + bytes(range(48))
    return [ipfix, v9, v5]


SEEDS = _seed_messages()


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    base = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(0, 6))):
        op = draw(st.integers(0, 3))
        if op == 0 and base:
            i = draw(st.integers(0, len(base) - 1))
            base[i] = draw(st.integers(0, 255))
        elif op == 1:
            del base[draw(st.integers(0, len(base))):]
        elif op == 2:
            i = draw(st.integers(0, len(base)))
            base[i:i] = draw(st.binary(max_size=40))
        else:
            base += draw(st.sampled_from(SEEDS))
    return bytes(base)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(mutated(), st.binary(max_size=200)), min_size=1, max_size=5),
       st.sampled_from(["udp", "tcp", "file"]))
def test_decoder_never_raises(messages: list[bytes], transport: str) -> None:
    ctx = Context()
    dec = MessageDecoder(ctx, "fuzz", transport=transport, max_buffered_bytes=256)
    for m in messages:
        for b in dec.decode(m, "e"):
            assert b.length == len(next(iter(b.columns.values()))) if b.columns else True
            for col in b.columns.values():
                assert len(col) == b.length
    dec.close()
    assert all(v > 0 for v in ctx.stats.drops.values())


@settings(max_examples=150, deadline=None)
@given(st.lists(st.sampled_from(SEEDS[:1]), min_size=1, max_size=6),
       st.binary(max_size=30), st.lists(st.integers(1, 64), min_size=1, max_size=20))
def test_framer_chunking_is_transparent(msgs: list[bytes], junk: bytes, cuts: list[int]) -> None:
    stream = b"".join(msgs)
    whole: list[bytes] = []
    f1 = StreamFramer(lambda n, off: None)
    f1.feed(stream)
    whole = [m for m, _ in f1.messages()]
    assert whole == msgs
    f2 = StreamFramer(lambda n, off: None)
    pieces: list[bytes] = []
    pos = 0
    i = 0
    while pos < len(stream):
        step = cuts[i % len(cuts)]
        f2.feed(stream[pos:pos + step])
        pieces += [m for m, _ in f2.messages()]
        pos += step
        i += 1
    assert pieces == msgs


@settings(max_examples=150, deadline=None)
@given(st.binary(min_size=1, max_size=60))
def test_framer_resynchronises_after_garbage(junk: bytes) -> None:
    garbage: list[int] = []
    f = StreamFramer(lambda n, off: garbage.append(n))
    msg = SEEDS[0]
    f.feed(msg + junk.replace(b"\x00\x0a", b"\x01\x0a") + msg + msg)
    got = [m for m, _ in f.messages()]
    # junk that cannot start a header is skipped and reported byte for byte; all three
    # messages survive
    assert got == [msg, msg, msg]
    assert sum(garbage) == len(junk)
