"""The counting time batch (count(*) per group, events not kept): what it counts."""

from __future__ import annotations

import pytest

from flowcep_plugin.engine.harness import Harness, values
from flowcep_plugin.engine.windows import CountingTimeBatchWindow

_WITH_WHERE = "where n < 10 "


@pytest.mark.parametrize("where", ["", _WITH_WHERE])
def test_list_valued_keys_after_hashable_ones_are_counted_once(where: str) -> None:
    """A list-valued key (basicList) makes the Counter raise part way through a batch; the
    keys before it were counted already and must not be counted again."""
    h = Harness("@Name('C') select k, count(*) as c from Flow#time_batch(1 sec) "
                f"{where}group by k")
    assert isinstance(h.rt.stmts[0].window(0), CountingTimeBatchWindow)
    h.batch([(1000, {"k": "a", "n": 1}), (1001, {"k": "a", "n": 1}), (1002, {"k": ["x", "y"], "n": 1}),
             (1003, {"k": "a", "n": 1}), (1004, {"k": "b", "n": 99})])
    h.watermark(2000)
    got = {(k if isinstance(k, str) else tuple(k)): c for k, c in values(h.of("C"), "k", "c")}
    assert got == {"a": 3, ("x", "y"): 1, **({"b": 1} if not where else {})}
