"""Groups per statement are bounded (issue 17); evictions are counted, never silent."""

from __future__ import annotations

import pytest

from flowcep_plugin.engine import compile_module
from flowcep_plugin.engine.harness import flows
from flowcep_plugin.stats import Stats


def test_groups_beyond_the_bound_evict_the_oldest_and_are_counted() -> None:
    module = compile_module("@Name('G') select k, count(*) as n from Flow group by k")
    stats = Stats()
    rt = module.runtime(stats=stats, max_groups=3)
    rows = rt.on_batch(flows(*[(i, {"k": f"g{i}"}) for i in range(5)]))
    assert [r.values["n"] for r in rows] == [1] * 5
    assert rt.counters["engine.groups_evicted"] == 2
    assert stats.gauges["engine.groups_evicted"] == 2 and not stats.drops  # state, not records
    st = rt.stmts[0]
    assert len(st.groups) == 3 and set(st.groups) == {("g2",), ("g3",), ("g4",)}
    # an evicted group starts again from nothing
    assert rt.on_batch(flows((9, {"k": "g0"})))[0].values["n"] == 1


def test_default_bound_is_documented_and_large() -> None:
    from flowcep_plugin.engine.runtime import DEFAULT_MAX_GROUPS

    rt = compile_module("select count(*) from Flow").runtime()
    assert rt.stmts[0].max_groups == DEFAULT_MAX_GROUPS == 1_000_000


def test_a_bound_below_one_is_refused() -> None:
    with pytest.raises(ValueError):
        compile_module("select count(*) from Flow").runtime(max_groups=0)


def test_grouped_output_first_times_are_bounded_and_counted() -> None:
    # output first over groups keeps each group's last output time (Esper's per-group polled
    # condition); the times are bounded by max_groups like the groups, evictions counted
    module = compile_module("@Name('G') select k, count(*) as n from Flow group by k output first every 1 min")
    stats = Stats()
    rt = module.runtime(stats=stats, max_groups=3)
    rows = rt.on_batch(flows(*[(i, {"k": f"g{i}"}) for i in range(5)]))
    assert [r.values["k"] for r in rows] == [f"g{i}" for i in range(5)]
    lim = rt.stmts[0].limiter
    assert lim is not None and list(lim.first_at) == [("g2",), ("g3",), ("g4",)]
    # 2 groups and then 2 output times evicted: each counted
    assert rt.counters["engine.groups_evicted"] == 4 and stats.gauges["engine.groups_evicted"] == 4
    # g4 still remembers its time and waits; the evicted g0 starts afresh (its group was evicted too)
    assert [r.values["k"] for r in rt.on_batch(flows((10, {"k": "g4"}), (11, {"k": "g0"})))] == ["g0"]
