"""The suite's own bookkeeping: an example case of the expected shape."""

from __future__ import annotations

import pytest

from flowcep_plugin.engine.harness import Harness, values


@pytest.mark.esper("length", cite="Esper reference, 'Length window (length or win:length)'")
def test_length_window_count_drops_oldest() -> None:
    h = Harness("@Name('Out') select count(*) as n from Flow#length(2)")
    h.send(1, a=1)
    h.send(2, a=2)
    out = h.send(3, a=3)
    assert values(out, "n") == [(2,)]
