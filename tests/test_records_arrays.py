"""Columns held as numpy arrays through take, slice and concat: the same values as the lists
those arrays make would give through the same operations, and still arrays (``batch.array``)
where they can be, with nothing made into a list until read."""

from __future__ import annotations

import random
from typing import Any

import numpy as np

from flowcep_plugin import FlowBatch
from flowcep_plugin.records import IPV4_TEXT, VALUES, ArrayPart, Columns, array_values


def _ipv4(arr: Any) -> list[str]:
    return [".".join(str(v >> s & 255) for s in (24, 16, 8, 0)) for v in arr.tolist()]


def _text(arr: Any) -> list[str]:  # a conversion of unknown kind: never picked as arrays
    return [f"t{v}" for v in arr.tolist()]


def _batch(rng: random.Random, n: int, as_arrays: bool) -> FlowBatch:
    """Columns of every shape the decoder gives: one array, IPv4 text, joined templates with
    absent records (a count part), another conversion, a different dtype per part."""
    a = np.array([rng.randrange(2**64) for _ in range(n)], dtype=np.uint64)
    ip = np.array([rng.randrange(2**32) for _ in range(n)], dtype=np.uint32)
    k = rng.randrange(n + 1)
    half = np.array([rng.randrange(2**16) for _ in range(n - k)], dtype=np.uint16)
    other = np.array([rng.randrange(256) for _ in range(k)], dtype=np.uint8)
    spec: dict[str, list[ArrayPart]] = {
        "a": [ArrayPart(a, array_values, VALUES)],
        "ip": [ArrayPart(ip, _ipv4, IPV4_TEXT)],
        "partial": [ArrayPart(k, array_values, VALUES), ArrayPart(half, array_values, VALUES)],
        "mixed": [ArrayPart(other, array_values, VALUES), ArrayPart(half, array_values, VALUES)],
        "text": [ArrayPart(a, _text, None)],
    }
    cols = Columns(None, n)
    for name, parts in spec.items():
        if as_arrays:
            cols.set_arrays(name, parts)
        else:
            values: list[Any] = []
            for v, make, _e in parts:
                values += [None] * v if isinstance(v, int) else make(v)
            cols[name] = values
    cols["plain"] = list(range(n))
    return FlowBatch(cols, n, source="s")


def _ops(rng: random.Random, pair: list[FlowBatch], spare: list[list[FlowBatch]]) -> list[FlowBatch]:
    """One random operation applied alike to the array batch and the list batch."""
    n = pair[0].length
    op = rng.choice(["take", "slice", "concat", "read"])
    if op == "read":  # a stage reads a column (its view made) before the next operation
        name = rng.choice(["a", "ip", "partial", "mixed", "text"])
        for b in (*pair, *(b for bs in spare for b in bs)):
            if rng.random() < 0.5:
                b.columns[name]
        return pair
    if op == "take":
        idx = [rng.randrange(n) for _ in range(rng.randrange(n + 3))] if n else []
        return [b.take(idx) for b in pair]
    if op == "slice":
        lo = rng.randrange(n + 1)
        hi = rng.randrange(lo, n + 3)
        return [b.slice(lo, hi) for b in pair]
    other = spare[rng.randrange(len(spare))]
    return [FlowBatch.concat([b, o]) for b, o in zip(pair, other, strict=True)]


def test_take_slice_concat_on_arrays_give_the_lists_values() -> None:
    rng = random.Random(11)
    for _case in range(150):
        seeds = [rng.randrange(10**9) for _ in range(3)]
        sizes = [rng.randrange(0, 40) for _ in range(3)]
        spare = [[_batch(random.Random(s), n, True), _batch(random.Random(s), n, False)]
                 for s, n in zip(seeds[1:], sizes[1:], strict=True)]
        pair = [_batch(random.Random(seeds[0]), sizes[0], True), _batch(random.Random(seeds[0]), sizes[0], False)]
        for _step in range(rng.randrange(1, 7)):
            pair = _ops(rng, pair, spare)
        arr_b, list_b = pair
        assert arr_b.length == list_b.length
        _check_arrays(arr_b, list_b)  # before and after the lists are made
        for name in list_b.columns:
            assert arr_b.columns[name] == list_b.columns[name], name
        _check_arrays(arr_b, list_b)


def _check_arrays(arr_b: FlowBatch, list_b: FlowBatch) -> None:
    """Whatever arrays ``arr_b`` answers hold exactly the values of ``list_b``'s lists."""
    cols = arr_b.columns
    assert isinstance(cols, Columns)
    for name in list_b.columns:
        want = list_b.columns[name]
        parts = cols.arrays(name)
        if parts is not None:
            got: list[Any] = []
            for v, make, _e in parts:
                got += [None] * v if isinstance(v, int) else make(v)
            assert got == want, name
        arr = cols.array(name)
        if arr is not None:
            assert arr.tolist() == want and all(type(a) is type(b) for a, b in zip(arr.tolist(), want, strict=True)), name
        filled = cols.array(name, fill=-1)
        if filled is not None:
            assert filled.tolist() == [-1 if v is None else v for v in want], name


def test_arrays_survive_the_clocks_operations_unmade() -> None:
    rng = random.Random(3)
    b = _batch(rng, 30, True)
    c = _batch(rng, 20, True)
    joined = FlowBatch.concat([b.slice(5, 25), c.take([3, 1, 2])])
    picked = joined.take(list(range(joined.length - 1, -1, -1)))
    for batch in (joined, picked):
        assert all(batch.columns.is_view(n) for n in ("a", "ip", "partial", "mixed", "text"))
    assert [p[2] for p in joined.columns.arrays("a")] == [VALUES, VALUES]
    both = joined.array("a")  # two parts of one dtype: their concatenation, kept
    assert both is not None and both.tolist() == b.columns["a"][5:25] + [c.columns["a"][i] for i in (3, 1, 2)]
    assert len(joined.columns.arrays("a")) == 1 and joined.array("a") is both
    b.columns.set_arrays("a", [ArrayPart(np.arange(30, dtype=np.uint64), array_values, VALUES)])
    b.columns.set_arrays("i", [ArrayPart(np.arange(30, dtype=np.int64) - 5, array_values, VALUES)])
    arr = picked.array("a")  # one part again after the take
    assert arr is not None and arr.dtype == np.uint64
    assert arr.tolist() == picked.columns["a"][:] == list(reversed(joined.columns["a"]))
    assert picked.columns.arrays("ip")[0][2] == IPV4_TEXT
    # what cannot be picked as arrays is still right, as a view of the lists
    assert picked.columns.arrays("partial") is None and picked.columns.arrays("text") is None
    assert picked.columns.arrays("mixed") is None  # uint8 beside uint16: joined as lists
    assert picked.columns["partial"] == list(reversed(joined.columns["partial"]))
    # the sources were never made into lists by any of this
    assert all(b.columns.is_view(n) for n in ("a", "ip", "partial", "mixed", "text"))
    # parts one dtype cannot hold exactly (uint64 beside int64 would be float64) stay parts
    ai = FlowBatch.concat([b.slice(0, 3), FlowBatch(Columns({"a": b.columns.raw("i")}, 30), 30).slice(0, 2)])
    assert ai.array("a") is None and len(ai.columns.arrays("a")) == 2
    assert ai.columns["a"] == [0, 1, 2, -5, -4]
    # records lacking the element: None, or ``fill`` when asked
    gap = Columns(None, 7)
    gap.set_arrays("partial", [ArrayPart(3, array_values, VALUES),
                               ArrayPart(np.array([9, 0, 65535, 4], dtype=np.uint16), array_values, VALUES)])
    g = FlowBatch(gap, 7)
    sliced = FlowBatch.concat([g.slice(1, 7), g.slice(0, 2)])  # a take of them is a list view
    assert sliced.array("partial") is None
    filled = sliced.array("partial", fill=-1)
    assert filled is not None and filled.tolist() == [-1 if v is None else v for v in sliced.columns["partial"]]
    assert None in sliced.columns["partial"] and filled.dtype.kind == "i"


def test_arrays_are_kept_when_the_list_is_made_and_dropped_when_replaced() -> None:
    rng = random.Random(8)
    b = _batch(rng, 12, True)
    arr = b.array("a")
    values = b.columns["a"]  # a stage makes the list
    assert not b.columns.is_view("a") and b.array("a") is arr and arr.tolist() == values
    # the clock's operations on a made column keep its arrays: a take is a numpy take
    t = b.take([5, 0, 5])
    assert t.array("a").tolist() == [values[5], values[0], values[5]] == t.columns["a"]
    s = FlowBatch.concat([b.slice(2, 4), t])
    assert s.array("a").tolist() == values[2:4] + t.columns["a"] == s.columns["a"]
    # a stage replaces the column: the arrays of the old values are forgotten
    b.add_column("a", [0] * 12)
    assert b.array("a") is None and b.columns.arrays("a") is None
    assert b.take([1]).array("a") is None and b.take([1]).columns["a"] == [0]
    b.columns["ip"]
    b.columns["ip"] = ["x"] * 12
    assert b.columns.arrays("ip") is None
    b.columns["partial"]
    del b.columns["partial"]
    b.columns.setdefault("partial", [1] * 12)
    assert b.columns.arrays("partial") is None


def test_a_view_made_through_another_batch_is_joined_with_its_values() -> None:
    """Two batches can share one view (``Columns.copy``); once one reads it, the other holds
    a made view whose arrays are let go: a join must take its values, not see it absent."""
    rng = random.Random(5)
    b = _batch(rng, 10, True)
    twin = FlowBatch(b.columns.copy(), b.length)
    want = b.columns["a"]  # made through b; twin's view is made too, its src let go
    joined = FlowBatch.concat([twin, _batch(rng, 4, True)])
    assert joined.columns["a"][:10] == want
    assert twin.take([2, 1]).columns["a"] == [want[2], want[1]]
