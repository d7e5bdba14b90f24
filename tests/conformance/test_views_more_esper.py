"""``#keepall`` and ``#sort`` cases from Esper's view regression tests (espertechinc/esper,
regression-lib ``suite/view/ViewKeepAll``, ``ViewSort``): under keepall nothing ever leaves, so
the remove stream of an un-aggregated statement stays empty and a grouped aggregation's remove
row is the group before the update; a sort window over two keys pushes out the last by both."""

from __future__ import annotations

from typing import Any

import pytest

from flowcep_plugin.engine.harness import Harness

VK = "espertechinc/esper ViewKeepAll.{}"
VS = "espertechinc/esper ViewSort.{}"


def _pairs(rows: list[Any], *keys: str) -> list[tuple[str, tuple[Any, ...]]]:
    return [("-" if r.removed else "+", tuple(r.values[k] for k in keys)) for r in rows]


@pytest.mark.esper("keepall", cite=VK.format("ViewKeepAllSimple (irstream: only insert-stream rows)"))
def test_keepall_irstream_posts_only_arrivals() -> None:
    h = Harness("@Name('s0') select irstream theString as c0 from Flow#keepall()")
    got = [_pairs(h.send(t, theString=s), "c0") for t, s in enumerate(["E1", "E2", "E3", "E4"])]
    assert got == [[("+", ("E1",))], [("+", ("E2",))], [("+", ("E3",))], [("+", ("E4",))]]


@pytest.mark.esper("keepall", cite=VK.format("ViewKeepAllWindowStats (the I/R pair per update: the group's "
                                            "row after and before; count 0 and sum null before its first event)"))
def test_keepall_grouped_irstream_pairs() -> None:
    h = Harness("@Name('s0') select irstream symbol, count(*) as cnt, sum(price) as mysum "
                "from Flow#keepall group by symbol")
    got = [_pairs(h.send(t, symbol=s, price=p), "symbol", "cnt", "mysum")
           for t, (s, p) in enumerate([("S1", 100.0), ("S2", 50.0), ("S1", 5.0), ("S2", -1.0)])]
    assert got == [[("+", ("S1", 1, 100.0)), ("-", ("S1", 0, None))],
                   [("+", ("S2", 1, 50.0)), ("-", ("S2", 0, None))],
                   [("+", ("S1", 2, 105.0)), ("-", ("S1", 1, 100.0))],
                   [("+", ("S2", 2, 49.0)), ("-", ("S2", 1, 50.0))]]


@pytest.mark.esper("sort", cite=VS.format("ViewSortedMultikey (#sort(1, theString, supportEnum): the arriving "
                                         "event itself leaves when it sorts last; the enum stands as its name)"))
def test_sort_window_of_one_over_two_keys() -> None:
    h = Harness("@Name('s0') select irstream * from Flow#sort(1, theString, supportEnum)")
    got = [_pairs(h.send(t, theString=s, supportEnum=e), "theString")
           for t, (s, e) in enumerate([("E1", "ENUM_VALUE_1"), ("E2", "ENUM_VALUE_2"), ("E0", "ENUM_VALUE_1")])]
    assert got == [[("+", ("E1",))], [("+", ("E2",)), ("-", ("E2",))], [("+", ("E0",)), ("-", ("E1",))]]


@pytest.mark.esper("unsupported-is-an-error", cite=VS.format("ViewSortedPrev (prev, prevtail, prevcount and "
                                                            "prevwindow over #sort: refused by name, not approximated)"))
def test_prev_functions_over_a_sort_window_are_refused() -> None:
    from flowcep_plugin.errors import EPLError

    with pytest.raises(EPLError, match=r"unsupported construct: prev functions over #sort") as info:
        Harness("@Name('s0') select symbol, prev(1, symbol) as p from Flow#sort(3, symbol)")
    assert info.value.line == 1 and info.value.column
