"""The sanitiser on a decoder's numpy columns: the same drops, counts, messages and output as
on the lists those arrays make, and no list made for a column it could judge on its array.

Every case runs the sanitiser twice on the same records: once with columns held as numpy
parts (``Columns.set_arrays``, what the IPFIX decoder hands over) and once with the lists those
parts make (what every other input hands over), and compares everything observable."""

from __future__ import annotations

import logging
import socket
from typing import Any

import numpy as np
import pytest

from flowcep_plugin import FlowBatch
from flowcep_plugin.elements import default_registry
from flowcep_plugin.records import (
    IPV4_TEXT,
    IPV6_TEXT,
    MAC_TEXT,
    TEXT,
    VALUES,
    ArrayPart,
    Columns,
    array_values,
)
from flowcep_plugin.sanitize import Sanitizer
from flowcep_plugin.stats import Stats

T0 = 1_700_000_000_000


def _ipv4(arr: Any) -> list[str]:
    return [".".join(str(v >> s & 255) for s in (24, 16, 8, 0)) for v in arr.tolist()]


def _text(arr: Any) -> list[Any]:  # another conversion: readers must make the list
    return [bytes(v).decode("utf-8", "replace") for v in arr.tolist()]


def _v6(arr: Any) -> list[str]:
    return [socket.inet_ntop(socket.AF_INET6, bytes(v)) for v in arr.tolist()]


def _mac(arr: Any) -> list[str]:
    return [bytes(v).hex(":") for v in arr.tolist()]


_MAKES = {IPV4_TEXT: _ipv4, None: _text, IPV6_TEXT: _v6, MAC_TEXT: _mac, TEXT: _text}


def _parts(spec: Any) -> list[ArrayPart]:
    """``spec``: an array (one part of VALUES) or a list of (array | count, encoding)."""
    if isinstance(spec, np.ndarray):
        return [ArrayPart(spec, array_values, VALUES)]
    return [ArrayPart(values, _MAKES.get(enc, array_values), enc) for values, enc in spec]


def _lists(parts: list[ArrayPart]) -> list[Any]:
    out: list[Any] = []
    for values, make, _enc in parts:
        out += [None] * values if isinstance(values, int) else make(values)
    return out


def both(columns: dict[str, Any], n: int, caplog: pytest.LogCaptureFixture) -> tuple[FlowBatch, set[str], Stats]:
    """Sanitise the array form and the list form and assert they agree (records kept, drops
    by reason and source, counters, messages, every value). Returns the array run's batch,
    the names it left unmade (no list made) and its stats."""
    runs = []
    for as_arrays in (True, False):
        cols = Columns(None, n)
        for name, spec in columns.items():
            if isinstance(spec, list) and not (spec and isinstance(spec[0], tuple)):
                cols[name] = list(spec)  # a plain list column
            elif as_arrays:
                cols.set_arrays(name, _parts(spec))
            else:
                cols[name] = _lists(_parts(spec))
        stats = Stats()
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="flowcep"):
            out = Sanitizer(default_registry(), stats).clean(FlowBatch(cols, n, source="t"))
        messages = [r.getMessage() for r in caplog.records]
        unmade = {name for name in cols if cols.is_view(name)}
        runs.append((out, unmade, stats,
                     (out.length, stats.drops, stats.drops_by_source, dict(stats.gauges), messages)))
    (out, unmade, stats, snap), (out_l, _u, _s, snap_l) = runs
    assert snap == snap_l
    assert dict(out.columns) == dict(out_l.columns)  # reads (makes) everything: last
    return out, unmade, stats


def test_fields_as_wide_as_their_type_are_not_read_at_all(caplog: pytest.LogCaptureFixture) -> None:
    n = 5
    out, unmade, stats = both({
        "destinationTransportPort": np.array([80, 443, 65535, 0, 22], dtype=np.uint16),
        "octetDeltaCount": np.array([0, 1, 2**64 - 1, 5, 6], dtype=np.uint64),
        "flowEndMilliseconds": np.array([T0] * n, dtype=np.uint64),
        "sourceIPv4Address": [(np.array([0, 1, 2**32 - 1, 167772161, 5], dtype=np.uint32), IPV4_TEXT)],
        "flowcep.export_time": np.array([T0] * n, dtype=np.int64),  # no element: not checked
    }, n, caplog)
    assert out.length == n and stats.drops == {}
    assert unmade == {"destinationTransportPort", "octetDeltaCount", "flowEndMilliseconds",
                           "sourceIPv4Address", "flowcep.export_time"}


@pytest.mark.parametrize("name, arr, bad", [
    ("destinationTransportPort", np.array([80, 70_000, 1, 2**32 - 1], dtype=np.uint32), [1, 3]),  # 4-byte field
    ("destinationTransportPort", np.array([80, -1, 1, 2], dtype=np.int64), [1]),
    ("ipVersion", np.array([4, 6, 256, 4], dtype=np.uint64), [2]),
    ("octetDeltaCount", np.array([1, -5, 2**62, 0], dtype=np.int64), [1]),  # unsigned64 from signed
    ("flowStartSeconds", np.array([1, 2**32, 3, 2**64 - 1], dtype=np.uint64), [1, 3]),  # dateTimeSeconds
    ("samplingProbability", np.array([0.5, np.nan, np.inf, -np.inf], dtype=np.float64), [1, 2, 3]),
    ("samplingProbability", np.array([0.5, 1.0, 0.25, 0.0], dtype=np.float32), []),
])
def test_out_of_range_values_drop_their_records_as_the_lists_would(
        name: str, arr: Any, bad: list[int], caplog: pytest.LogCaptureFixture) -> None:
    n = len(arr)
    out, unmade, stats = both({name: arr, "id": list(range(n))}, n, caplog)
    assert out.get("id") == [i for i in range(n) if i not in bad]
    assert stats.drops == ({"bad-value": len(bad)} if bad else {})


def test_parts_with_absent_records_keep_positions(caplog: pytest.LogCaptureFixture) -> None:
    """A merged column of two templates, the first without the element: positions of the
    second part's bad values count the first part's records."""
    out, unmade, stats = both({
        "destinationTransportPort": [(3, VALUES), (np.array([80, 99_999, 22], dtype=np.uint32), VALUES)],
        "sourceIPv4Address": [(np.array([1, 2, 3], dtype=np.uint32), IPV4_TEXT), (3, VALUES)],
        "id": list(range(6)),
    }, 6, caplog)
    assert out.get("id") == [0, 1, 2, 3, 5]
    assert stats.gauges["sanitize.bad.destinationTransportPort"] == 1


def test_what_the_arrays_cannot_say_is_read_as_lists(caplog: pytest.LogCaptureFixture) -> None:
    """Another conversion (text), IPv4 text under a non-address element, an integer array
    under a string element, a length that is not the batch's: the list is made and checked
    (the last one dropped as a column, as a list of the wrong length is)."""
    out, unmade, stats = both({
        "HTTPRequestHost": [(np.array([b"a", b"b", b"c"]), None)],
        "destinationTransportPort": [(np.array([1, 2, 3], dtype=np.uint32), IPV4_TEXT)],
        "HTTPRequestURL": np.array([1, 2, 3], dtype=np.uint8),
        "octetDeltaCount": np.array([1, 2], dtype=np.uint64),
    }, 3, caplog)
    assert out.length == 0  # every record holds an address text as a port, a number as a URL
    assert stats.gauges["sanitize.bad_columns"] == 1 and "octetDeltaCount" not in out.columns
    assert not {"HTTPRequestHost", "destinationTransportPort", "HTTPRequestURL"} & unmade


def test_start_after_end_on_arrays(caplog: pytest.LogCaptureFixture) -> None:
    n = 4
    out, unmade, stats = both({
        "flowStartMilliseconds": np.array([T0 - 5, T0 + 9, T0, T0 + 2], dtype=np.uint64),
        "flowEndMilliseconds": np.array([T0, T0, T0, T0 + 1], dtype=np.uint64),
    }, n, caplog)
    assert out.columns["flowStartMilliseconds"] == [T0 - 5, T0, T0, T0 + 1]
    assert stats.gauges["sanitize.start_after_end"] == 2


def test_start_after_end_in_order_makes_no_list(caplog: pytest.LogCaptureFixture) -> None:
    big = 2**62 + 1  # past float precision: int64 against uint64 must compare exactly
    out, unmade, stats = both({
        "flowStartMilliseconds": np.array([big, big - 1], dtype=np.int64),
        "flowEndMilliseconds": np.array([big, big], dtype=np.uint64),
    }, 2, caplog)
    assert "sanitize.start_after_end" not in stats.gauges
    assert {"flowStartMilliseconds", "flowEndMilliseconds"} <= unmade
    out2, _u, stats2 = both({
        "flowStartMilliseconds": np.array([big + 1, big - 1], dtype=np.int64),
        "flowEndMilliseconds": np.array([big, big], dtype=np.uint64),
    }, 2, caplog)
    assert stats2.gauges["sanitize.start_after_end"] == 1
    assert out2.columns["flowStartMilliseconds"] == [big, big - 1]


def test_batch_array_accessor() -> None:
    cols = Columns(None, 3)
    arr = np.array([1, 2, 3], dtype=np.uint16)
    cols.set_arrays("a", [ArrayPart(arr, array_values, VALUES)])
    cols.set_arrays("b", [ArrayPart(arr, _ipv4, IPV4_TEXT)])
    cols.set_arrays("c", [ArrayPart(1, array_values, VALUES), ArrayPart(arr[:2], array_values, VALUES)])
    cols["d"] = [1, 2, 3]
    b = FlowBatch(cols, 3)
    assert b.array("a") is arr and cols.is_view("a")  # reading the array makes nothing
    assert b.array("b") is None and b.array("c") is None and b.array("d") is None and b.array("x") is None
    assert b.array("c", fill=-1).tolist() == [-1, 1, 2]  # absent records read as ``fill``
    assert b.columns["a"] == [1, 2, 3] and b.array("a") is arr  # made: the arrays are kept beside it
    assert b.columns["c"] == [None, 1, 2]
    assert b.take([2, 0]).array("a").tolist() == [3, 1]  # a take of arrays is an array take
    b.add_column("a", [1, 2, 4])  # replaced: the arrays said the old values
    assert b.array("a") is None and b.take([2, 0]).array("a") is None
    assert FlowBatch({"a": [1]}, 1).array("a") is None


def test_decoded_text_of_its_kind_is_not_read(caplog: pytest.LogCaptureFixture) -> None:
    """IPv6 and MAC text made from address fields and decoded strings are always valid for
    their types: no list is made; under another type the list is made and judged."""
    v6 = np.array([bytes(16), bytes(range(16)), b"\xff" * 16], dtype="V16")
    mac = np.array([bytes(6), b"\x01\x02\x03\x04\x05\x06", b"\xff" * 6], dtype="V6")
    text = np.array([b"a", b"", b"\xff\xfe"], dtype="S2")
    out, unmade, stats = both({
        "sourceIPv6Address": [(v6, IPV6_TEXT)], "sourceMacAddress": [(mac, MAC_TEXT)],
        "interfaceName": [(1, VALUES), (text[:2], TEXT)], "id": [0, 1, 2],
    }, 3, caplog)
    assert out.length == 3 and stats.drops == {}
    assert {"sourceIPv6Address", "sourceMacAddress", "interfaceName"} <= unmade
    out, unmade, stats = both({  # text under a number's type: made and refused
        "destinationTransportPort": [(text, TEXT)], "destinationIPv6Address": [(mac, MAC_TEXT)],
    }, 3, caplog)
    assert out.length == 0 and not {"destinationTransportPort", "destinationIPv6Address"} & unmade


def test_a_decoders_columns_are_sanitised_unread() -> None:
    """What the IPFIX decoder hands over (a merged flush with lazy columns) passes the
    sanitiser with no list made: addresses of both families, MAC, strings, numbers, times."""
    from flowcep_plugin.context import Context
    from flowcep_plugin.inputs.ipfix_decode import MessageDecoder
    from tests.inputs.test_ipfix_decode import dset, msg, tset

    fields = [(27, 16), (8, 4), (56, 6), (82, 8), (7, 2), (4, 1), (153, 8)]
    recs = [bytes(range(i, i + 16)) + socket.inet_aton(f"10.0.0.{i}") + bytes([i] * 6) + b"eth%d\0\0\0\0" % i
            + (1000 + i).to_bytes(2, "big") + bytes([6]) + (T0 + i).to_bytes(8, "big") for i in range(5)]
    dec = MessageDecoder(Context(), "t")
    assert dec.lazy_columns  # the default
    dec.feed(msg([tset(256, fields), dset(256, *recs)]), "e")
    (batch,) = dec.flush(merged=True)
    stats = Stats()
    out = Sanitizer(default_registry(), stats).clean(batch)
    assert out is batch and stats.drops == {}
    cols = batch.columns
    assert isinstance(cols, Columns) and all(cols.is_view(n) for n in cols if n != "flowcep.export_version")
    assert cols["interfaceName"] == [f"eth{i}" for i in range(5)]
    assert cols["sourceMacAddress"][1] == "01:01:01:01:01:01"


def test_flags_of_several_templates_are_judged_on_arrays(caplog: pytest.LogCaptureFixture) -> None:
    """A batch of several templates, one without ``tcpControlBits``: the flags fix reads the
    parts (absent records are neither flags 0 nor TCP) and makes no list when it changes no
    value; when it does change some, the result is the lists' result."""
    flags = [(2, VALUES), (np.array([2, 0, 18], dtype=np.uint8), VALUES)]
    quiet = {
        "tcpControlBits": flags,
        # the flags-0 record is UDP; the TCP records of the first template have no flags at all
        "protocolIdentifier": [(np.array([6, 6], dtype=np.uint8), VALUES), (np.array([6, 17, 6], dtype=np.uint8), VALUES)],
        "packetDeltaCount": np.array([50, 50, 50, 50, 50], dtype=np.uint64),
        "octetDeltaCount": np.array([9000] * 5, dtype=np.uint64),
    }
    out, unmade, stats = both(quiet, 5, caplog)
    assert {"tcpControlBits", "protocolIdentifier"} <= unmade
    assert out.columns["tcpControlBits"] == [None, None, 2, 0, 18]
    assert "sanitize.flags_unreported" not in stats.gauges
    # the same batch with that record TCP: 0 flags on 50 packets prove a flagless exporter
    tcp = dict(quiet, protocolIdentifier=[(2, VALUES), (np.array([6, 6, 6], dtype=np.uint8), VALUES)])
    out, _unmade, stats = both(tcp, 5, caplog)
    assert out.columns["tcpControlBits"] == [None, None, 2, None, 18]
    assert stats.gauges["sanitize.flags_unreported"] == 1
