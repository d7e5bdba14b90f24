"""max/min row functions and the median, stddev and avedev aggregates."""

from __future__ import annotations

import math

import pytest

from flowcep_plugin.engine.harness import Harness

AGG = "Esper reference, 'Aggregation Functions: SQL-Standard Functions'"


@pytest.mark.esper("max-min-row", cite="ExprCoreMinMaxNonAgg.ExecCoreMinMax")
def test_max_and_min_of_two_or_three_values() -> None:
    h = Harness("""@Name('s0') select max(longBoxed,intBoxed) as myMax, max(longBoxed,intBoxed,shortBoxed) as myMaxEx,
                   min(longBoxed,intBoxed) as myMin, min(longBoxed,intBoxed,shortBoxed) as myMinEx from Flow#length(3)""")
    h.send(0, longBoxed=10, intBoxed=20, shortBoxed=4)
    h.send(1, longBoxed=-10, intBoxed=-20, shortBoxed=-30)
    assert [(r.values["myMax"], r.values["myMaxEx"], r.values["myMin"], r.values["myMinEx"]) for r in h.rows] == [
        (20, 20, 10, 4), (-10, -10, -20, -30)]


@pytest.mark.esper("max-min-row", cite="Esper reference, 'Single-row Functions: The Min and Max Functions' (a "
                   "null argument gives null); with one argument max/min stay aggregates")
def test_row_max_with_null_and_beside_the_aggregate() -> None:
    h = Harness("@Name('s0') select max(v) as m, max(v, 5) as r, min(v, w) as n from Flow#length(2)")
    for i, (v, w) in enumerate(((1, 0), (9, None), (3, 4))):
        h.send(i, v=v, w=w)
    assert [(r.values["m"], r.values["r"], r.values["n"]) for r in h.rows] == [(1, 5, 0), (9, 9, None), (9, 5, 3)]


@pytest.mark.esper("aggregate-stats", cite=f"{AGG}: median (middle value; mean of the two middle ones), stddev "
                   "(sample standard deviation), avedev (mean deviation)")
def test_median_stddev_avedev_over_a_sliding_window() -> None:
    h = Harness("@Name('s0') select median(v) as md, stddev(v) as sd, avedev(v) as ad from Flow#length(3)")
    for i, v in enumerate((1, 2, 3, 5, 10)):
        h.send(i, v=v)
    got = [(r.values["md"], r.values["sd"], r.values["ad"]) for r in h.rows]
    expect = [(1.0, None, 0.0), (1.5, math.sqrt(0.5), 0.5), (2.0, 1.0, 2 / 3),
              (3.0, math.sqrt(7 / 3), 10 / 9), (5.0, math.sqrt(13), 8 / 3)]
    for g, e in zip(got, expect, strict=True):
        assert g[0] == e[0] and g[1] == pytest.approx(e[1]) and g[2] == pytest.approx(e[2])


@pytest.mark.esper("aggregate-stats", cite=f"{AGG}: over a batch, and with distinct")
def test_median_stddev_avedev_over_a_batch_and_distinct() -> None:
    h = Harness("""@Name('s0') select median(v) as md, stddev(v) as sd, avedev(v) as ad, median(distinct v) as mdd
                   from Flow#time_batch(1 sec)""")
    for i, v in enumerate((1, 2, 2, 10)):
        h.send(i, v=v)
    h.flush()
    r = h.rows[0].values
    assert r["md"] == 2.0 and r["mdd"] == 2.0
    assert r["sd"] == pytest.approx(math.sqrt(((1 - 3.75) ** 2 + 2 * (2 - 3.75) ** 2 + (10 - 3.75) ** 2) / 3))
    assert r["ad"] == pytest.approx((2.75 + 1.75 + 1.75 + 6.25) / 4)
    assert [h.rows[1].values[k] for k in ("md", "sd", "ad")] == [None, None, None]
