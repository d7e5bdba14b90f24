"""NetFlow v9 times are sysUptime-relative 32-bit milliseconds: the counter wraps every
49.7 days, and a flow that ended just before the wrap, exported just after it, has
LAST_SWITCHED > the header's sysUptime. v5 reads such a value as before the wrap; v9 must
too, or the flow lands 49.7 days in the future (dropped as ``future``) or ends before it
starts."""

from __future__ import annotations

import struct

import pytest

from flowcep_plugin.context import Context
from flowcep_plugin.inputs.ipfix_decode import MessageDecoder

SECS = 1_700_000_000
WRAP = 1 << 32


def v9_message(uptime: int, first: int, last: int) -> bytes:
    """Template 256 (src, dst, LAST_SWITCHED, FIRST_SWITCHED, protocol) and one record."""
    fields = struct.pack(">8H", 8, 4, 12, 4, 21, 4, 22, 4) + struct.pack(">HH", 4, 1)
    tset = struct.pack(">HH", 0, 8 + len(fields)) + struct.pack(">HH", 256, 5) + fields
    rec = bytes([10, 0, 0, 1, 10, 0, 0, 2]) + struct.pack(">II", last, first) + b"\x06"
    rec += b"\x00" * (-len(rec) % 4)
    dset = struct.pack(">HH", 256, 4 + len(rec)) + rec
    return struct.pack(">HHIIII", 9, 2, uptime, SECS, 0, 0) + tset + dset


def times(uptime: int, first: int, last: int) -> list[tuple[int, int]]:
    dec = MessageDecoder(Context(), "t", transport="udp")
    batches = [b for b in dec.decode(v9_message(uptime, first, last), "192.0.2.1:2055") if b.stream == "Flow"]
    return [(r["flowStartMilliseconds"] - SECS * 1000, r["flowEndMilliseconds"] - SECS * 1000)
            for b in batches for r in b.rows()]


def test_v9_times_before_export() -> None:
    assert times(100_000, 90_000, 95_000) == [(-10_000, -5_000)]


@pytest.mark.parametrize("first,last,expected", [
    (WRAP - 10_000, WRAP - 5_000, (-11_000, -6_000)),  # the whole flow before the wrap
    (WRAP - 10_000, 500, (-11_000, -500)),  # a flow across the wrap
    (900, 1_050, (-100, 50)),  # stamped a little after the header: not 49.7 days old
])
def test_v9_sysuptime_wrap(first: int, last: int, expected: tuple[int, int]) -> None:
    assert times(1_000, first, last) == [expected]
