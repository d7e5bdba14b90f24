"""Batch aggregation computed column-wise must equal the incremental aggregate states.

Batch windows use ``aggregate_groups``; sliding windows and joins use the incremental states.
Both must give the same value for every aggregate, including nulls, empty groups and values
that cannot be compared or summed.
"""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flowcep_plugin.engine.aggregates import aggregate_groups, make_state_factory

AGGS = [(kind, distinct, False) for kind in ("count", "sum", "avg", "min", "max")
        for distinct in (False, True)] + [("count", False, True)]


def incremental(keys: list, argcols: list[list], aggs: list[tuple[str, bool, bool]]) -> dict:
    factories = [make_state_factory(k, d) for k, d, _s in aggs]
    states: dict = {}
    for i, k in enumerate(keys):
        sts = states.setdefault(k, [f() for f in factories])
        for s, col in zip(sts, argcols, strict=True):
            s.enter(col[i])
    return {k: [s.value() for s in sts] for k, sts in states.items()}


def same(a: object, b: object) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-9)
    return a == b and type(a) is type(b)


values = st.one_of(st.none(), st.integers(-5, 5), st.floats(-10, 10, allow_nan=False))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["a", "b", "c", ("x", 1)]), values), max_size=40))
def test_column_wise_equals_incremental(rows: list[tuple[object, object]]) -> None:
    keys = [k for k, _ in rows]
    col = [v for _, v in rows]
    argcols = [col if not star else [1] * len(col) for _k, _d, star in AGGS]
    got = aggregate_groups(keys, argcols, AGGS)
    want = incremental(keys, argcols, AGGS)
    assert got.keys() == want.keys()
    for k in want:
        for (kind, distinct, star), g, w in zip(AGGS, got[k], want[k], strict=True):
            assert same(g, w), (k, kind, distinct, star, g, w)


def test_hand_checked_group() -> None:
    keys = ["10.0.0.1", "10.0.0.1", "10.0.0.1", "10.0.0.2"]
    hosts = ["h1", "h2", "h1", None]
    got = aggregate_groups(keys, [[1] * 4, hosts, hosts], [("count", False, True), ("count", True, False),
                                                           ("count", False, False)])
    assert got == {"10.0.0.1": [3, 2, 3], "10.0.0.2": [1, 0, 0]}


def test_incomparable_values_give_null_like_the_states() -> None:
    keys = ["k", "k"]
    col = [1, "one"]
    aggs = [("min", False, False), ("max", True, False), ("sum", True, False)]
    assert aggregate_groups(keys, [col] * 3, aggs) == incremental(keys, [col] * 3, aggs) == {"k": [None, None, None]}


def test_unhashable_distinct_count_raises_like_the_states() -> None:
    with pytest.raises(TypeError):
        aggregate_groups(["k", "k"], [[[1], [2]]], [("count", True, False)])
    with pytest.raises(TypeError):
        incremental(["k", "k"], [[[1], [2]]], [("count", True, False)])


@pytest.mark.parametrize("window", ["#length(2)", "#length_batch(2)", "#keepall"])
def test_text_in_a_numeric_aggregate_gives_null_while_it_is_in_the_window(window: str) -> None:
    """A flow field holding text where numbers were meant (Esper would have refused the
    statement from the field's declared type) must not fail the batch: sum, avg and median are
    null while the text value is in the window, as stddev and the distinct forms already were,
    and come back once it has left."""
    from flowcep_plugin.engine.harness import Harness

    h = Harness(f"@Name('s0') select sum(v) as a, avg(v) as b, median(v) as c from Flow{window}")
    for i, v in enumerate((1, "x", 2, 4)):
        h.send(i + 1, v=v)
    got = [(r.time_ms, r.values["a"], r.values["b"], r.values["c"]) for r in h.of("s0")]
    if window == "#length(2)":
        assert got == [(1, 1, 1.0, 1.0), (2, None, None, None), (3, None, None, None), (4, 6, 3.0, 3.0)]
    elif window == "#length_batch(2)":
        assert got == [(2, None, None, None), (4, 6, 3.0, 3.0)]
    else:
        assert got == [(1, 1, 1.0, 1.0), (2, None, None, None), (3, None, None, None), (4, None, None, None)]
