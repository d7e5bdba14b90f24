"""One packet far off a capture's time must not stop the flow meter's sweeps.

A damaged pcap record header (timestamp 2^32-1 s, or 0) used to set the meter's sweep schedule:
with the next sweep in 2106, no flow idled out for the rest of the file, every ended flow waited
in the meter until the end of the input (200,000 short connections held 140,000 ended records,
276 MB), and every record reached the detectors at the end. Now a packet more than the jump limit
off the schedule moves it only when the next such packet is no earlier than it (a real jump).
"""

from __future__ import annotations

import struct
from typing import Any

import pytest

from flowcep_plugin.inputs.capfile import Block
from flowcep_plugin.inputs.flowmeter import END_FORCED, END_IDLE, FlowMeter

from .test_flowblock import _synthetic

BASE = 1_700_000_000_000
FAR_FUTURE = (2**32 - 1) * 1000  # the largest pcap timestamp, in 2106


def _frame(src: int, dst: int, sport: int, dport: int, flags: int) -> bytes:
    tcp = struct.pack("!HHIIBBHHH", sport, dport, 0, 0, 0x50, flags, 1024, 0, 0)
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 40, 1, 0, 64, 6, 0,
                     struct.pack("!I", src), struct.pack("!I", dst))
    return b"\x02" * 12 + b"\x08\x00" + ip + tcp


def _connections(n: int, start: int = BASE) -> list[tuple[int, bytes]]:
    """n short TCP connections, one every 10 ms (SYN, SYN-ACK, FIN, FIN), each from its own port."""
    out = []
    server = 0xC0000201
    for i in range(n):
        t = start + i * 10
        client = 0x0A000000 + i % 5000
        port = 1024 + i % 60000
        out += [(t, _frame(client, server, port, 80, 0x02)), (t + 1, _frame(server, client, 80, port, 0x12)),
                (t + 2, _frame(client, server, port, 80, 0x11)), (t + 3, _frame(server, client, 80, port, 0x11))]
    return out


def _meter(packets: list[tuple[int, bytes]], blocks: bool, chunk: int = 4096) -> tuple[FlowMeter, list[Any], int]:
    """Meter in chunks; return the meter, the records (start, end, reason) taken while the
    capture was read and after flush, and the most ended records ever waiting in the meter."""
    m = FlowMeter()
    taken: list[Any] = []
    most_pending = 0
    for at in range(0, len(packets), chunk):
        part = packets[at:at + chunk]
        if blocks:
            m.process_block(Block.from_frames(part), 1)
        else:
            m.process(part, 1)
        most_pending = max(most_pending, m.pending)
        for b in m.take_batches():
            taken += zip(b.columns["flowStartMilliseconds"], b.columns["flowEndMilliseconds"],
                         b.columns["flowEndReason"], strict=True)
    during = len(taken)
    m.flush()
    for b in m.take_batches():
        taken += zip(b.columns["flowStartMilliseconds"], b.columns["flowEndMilliseconds"],
                     b.columns["flowEndReason"], strict=True)
    return m, [during, *taken], most_pending


@pytest.mark.parametrize("blocks", [False, True], ids=["per-packet", "block"])
@pytest.mark.parametrize("where", ["first", "middle"])
@pytest.mark.parametrize("outlier", [FAR_FUTURE, 0], ids=["2106", "1970"])
def test_one_packet_far_off_the_capture_time_does_not_stop_the_sweeps(
        blocks: bool, where: str, outlier: int) -> None:
    packets = _connections(30_000)  # 300 s of capture
    ref, ref_out, ref_pending = _meter(packets, blocks)
    at = 0 if where == "first" else len(packets) // 2
    hostile = packets[:at] + [(outlier, _frame(0x0A0000FF, 0x0A0000FE, 1, 2, 0x10))] + packets[at:]
    m, out, pending = _meter(hostile, blocks)
    # the real records went out while the capture was read, as without the outlier ...
    assert out[0] >= ref_out[0] - 1 and out[0] > 0.9 * 30_000
    assert pending <= ref_pending + 1
    # ... unchanged; the outlier is one more record, its own flow: a 1970 one idles out at
    # the next sweep, a 2106 one is forced out at the end
    why = END_FORCED if outlier > BASE else END_IDLE
    assert sorted(out[1:]) == sorted([*ref_out[1:], (outlier, outlier, why)])
    # a first packet sets the schedule; the capture's real time is then a jump back, followed
    assert (m.time_jumps_ignored, m.time_jumps_followed) == ((1, 0) if where == "middle" else (0, 1))
    assert (ref.time_jumps_ignored, ref.time_jumps_followed) == (0, 0)


@pytest.mark.parametrize("blocks", [False, True], ids=["per-packet", "block"])
def test_a_real_jump_in_capture_time_is_followed(blocks: bool) -> None:
    """Two captures joined (or a pause of two hours): the second part's time is followed
    after its second packet, so the first part's flows go out while the second is read."""
    first = _connections(5_000)
    second = _connections(20_000, start=BASE + 2 * 3_600_000)
    m, out, _ = _meter(first + second, blocks)
    assert m.time_jumps_followed == 1 and m.time_jumps_ignored == 0
    assert out[0] >= 5_000 + 0.9 * 20_000
    # and back: the later capture first, then the earlier one
    m, out, _ = _meter(second + first, blocks)
    assert m.time_jumps_followed == 1 and m.time_jumps_ignored == 0
    assert out[0] >= 0.9 * 25_000


@pytest.mark.parametrize("chunk", [700, 4096])
def test_block_path_equals_per_packet_path_with_outliers(chunk: int) -> None:
    """The two metering paths decide sweeps at the same packets whatever the outliers."""
    packets = _synthetic(5, 20_000)
    for pos, t in ((10, FAR_FUTURE), (5000, 0), (5001, 0), (9000, FAR_FUTURE), (12000, BASE + 10**8),
                   (12001, BASE + 10**8 + 5)):
        ts, frame = packets[pos]
        packets[pos] = (t, frame)
    results = []
    for blocks in (False, True):
        m = FlowMeter()
        out: list[Any] = []
        for start in range(0, len(packets), chunk):
            part = packets[start:start + chunk]
            bad = m.process_block(Block.from_frames(part), 1) if blocks else m.process(part, 1)
            out.append(("bad", bad, m.time_jumps_ignored, m.time_jumps_followed, len(m.flows), m.pending))
            out.extend(("batch", b.length, b.columns) for b in m.take_batches())
        m.flush()
        out.extend(("batch", b.length, b.columns) for b in m.take_batches())
        out.append(("counters", m.time_jumps_ignored, m.time_jumps_followed))
        results.append(out)
    ref, new = results
    assert ref[-1][1] >= 2  # the outliers were seen
    assert len(new) == len(ref)
    for i, (a, b) in enumerate(zip(ref, new, strict=True)):
        assert a == b, f"item {i} differs"
