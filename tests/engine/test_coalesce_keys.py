"""coalesce() compiled inline, and coalesce of columns as a group key (multistage's
``coalesce(sourceIPv4Address, sourceIPv6Address)``): the same groups whichever of the columns
a batch holds, and the column itself (no copy) where a batch holds only one of them."""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

import pytest

from flowcep_plugin.engine.expressions import compile_column_values
from flowcep_plugin.engine.harness import Harness, values
from flowcep_plugin.engine.parser import parse_module

GROUPED = ("@Name('Out') select coalesce(a4, a6) as src, port, count(*) as n, count(distinct coalesce(d4, d6)) as hosts "
           "from Flow.win:time_batch(10 seconds, 0) group by coalesce(a4, a6), port")


def _expected(records: list[dict[str, Any]]) -> dict[tuple[Any, Any], tuple[int, int]]:
    n: Counter[tuple[Any, Any]] = Counter()
    hosts: dict[tuple[Any, Any], set[Any]] = {}
    for r in records:
        a = r.get("a4") if r.get("a4") is not None else r.get("a6")
        d = r.get("d4") if r.get("d4") is not None else r.get("d6")
        k = (a, r.get("port"))
        n[k] += 1
        hosts.setdefault(k, set())
        if d is not None:
            hosts[k].add(d)
    return {k: (c, len(hosts[k])) for k, c in n.items()}


V4 = [{"a4": f"10.0.0.{i % 3}", "port": 80, "d4": f"10.1.0.{i}"} for i in range(9)]
V6 = [{"a6": f"2001:db8::{i % 2}", "port": 80, "d6": f"2001:db8:1::{i}"} for i in range(6)]
NEITHER = [{"port": 80}, {"port": 443, "d4": "10.1.0.1"}]


@pytest.mark.parametrize("batches", [
    [V4], [V6], [V4 + V6], [V6 + V4 + NEITHER], [V4, V6], [NEITHER],
], ids=["v4-only", "v6-only", "mixed", "mixed-and-neither", "v4-then-v6", "neither"])
def test_grouped_by_coalesce_whatever_columns_a_batch_holds(batches: list[list[dict[str, Any]]]) -> None:
    h = Harness(GROUPED)
    for b in batches:
        h.batch([(1000 + i, r) for i, r in enumerate(b)])
    h.watermark(20_000)
    first = [r for r in h.of("Out") if r.time_ms == 10_000]  # the next batch repeats them at 0
    got = {(s, p): (n, hosts) for s, p, n, hosts in values(first, "src", "port", "n", "hosts")}
    assert len(got) == len(first)
    assert got == _expected([r for b in batches for r in b])


def _values_fn(expr: str) -> Any:
    e = parse_module(f"select {expr} as x from S")[0].items[0].expr
    return compile_column_values([e], lambda p: p.parts[-1], "<test>")


def test_coalesce_of_the_one_column_a_batch_holds_is_that_column() -> None:
    f = _values_fn("coalesce(a4, a6)")
    a4, a6 = ["x", None, "y"], [None, "z", None]
    assert f({"a4": a4}, 3)[0] is a4
    assert f({"a6": a6}, 3)[0] is a6
    assert f({"a4": a4, "a6": a6}, 3)[0] == ["x", "z", "y"]
    assert f({}, 3)[0] == [None, None, None]


@pytest.mark.parametrize("expr, rec, expected", [
    ("coalesce(url, 'none', host)", {"host": "h"}, "none"),
    ("coalesce(url, 'none', host)", {"url": "u"}, "u"),
    ("coalesce(url, host, 'none')", {"host": "h"}, "h"),
    ("coalesce(null, n + 1, 0)", {"n": 1}, 2),
    ("coalesce(null, n + 1, 0)", {}, 0),
    # Esper's coalesce node evaluates its arguments in order and stops at the first non-null
    # one: a later argument that cannot be computed (text * 2) does not null the result
    ("coalesce(n, url * 2)", {"n": 5, "url": "x"}, 5),
    ("coalesce(n, url * 2)", {"url": "x"}, None),
])
def test_coalesce_values(expr: str, rec: dict[str, Any], expected: Any) -> None:
    h = Harness(f"@Name('Out') select {expr} as x from Flow")
    h.batch([(0, rec), (1, {"other": 1})])
    assert h.of("Out")[0].values["x"] == expected
    f = _values_fn(expr)
    assert f({k: [v] for k, v in rec.items()}, 1)[0] == [expected]


def test_coalesce_over_columns_of_nulls_is_the_column_holding_values() -> None:
    # a time batch window fills a column that some of its records lack with nulls
    f = _values_fn("coalesce(a4, a6)")
    a4, a6 = ("x", "y", None), (None, None, None)
    assert f({"a4": a4, "a6": a6}, 3)[0] is a4
    assert f({"a4": list(a6), "a6": ["z", None, None]}, 3)[0] == ["z", None, None]
    assert f({"a4": [None, "x"], "a6": ["z", "w"]}, 2)[0] == ["z", "x"]
    assert f({"a4": [], "a6": []}, 0)[0] == []


@pytest.mark.parametrize("n, expected", [
    (7, 1), (0, 0), (-7, -1), (7.5, 1.5), (-7.5, -1.5), (-0.0, -0.0), (None, None),
])
def test_remainder_by_a_literal_keeps_the_dividends_sign(n: Any, expected: Any) -> None:
    # Java's %: the int fast path (dividend >= 0) must agree with the helper everywhere else
    h = Harness("@Name('Out') select n % 3 as r, n % 2.0 as f from Flow")
    h.batch([(0, {"n": n, "x": 1})])
    got = h.of("Out")[0].values
    assert got["r"] == expected and type(got["r"]) is type(expected)
    if isinstance(n, float):
        assert math.copysign(1, got["r"]) == math.copysign(1, expected)
    assert got["f"] == (None if n is None else math.fmod(n, 2.0))


def test_count_and_count_distinct_groups_agree_with_a_plain_count() -> None:
    # the Counter path of aggregate_groups (count(*) and count(distinct x) only) against sets
    import random

    from flowcep_plugin.engine.aggregates import aggregate_groups
    rnd = random.Random(7)
    keys = [(rnd.choice("abcd"), rnd.choice([1, 2])) for _ in range(400)]
    col = [rnd.choice([None, 1, 1.0, 2, "2", True, 3]) for _ in keys]
    got = aggregate_groups(keys, [[1] * len(keys), col], [("count", False, True), ("count", True, False)])
    want: dict[Any, list[Any]] = {}
    for k in keys:
        if k not in want:
            idx = [i for i, kk in enumerate(keys) if kk == k]
            want[k] = [len(idx), len({col[i] for i in idx if col[i] is not None})]
    assert list(got.items()) == list(want.items())  # same groups, same order (first record)
    with pytest.raises(TypeError):
        aggregate_groups([("a",)], [[[1]]], [("count", True, False)])
    assert aggregate_groups([("a",), ("b",), ("a",)], [], []) == {("a",): [], ("b",): []}
