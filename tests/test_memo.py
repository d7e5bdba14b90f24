"""Per-address memos reachable from network input stay bounded (BoundedMemo), in the host and
in every shipped detector that keeps one: a flood of spoofed sources must not grow them."""

from __future__ import annotations

from typing import Any

import pytest

from flowcep_plugin.context import Context
from flowcep_plugin.memo import DEFAULT_MEMO_SIZE, BoundedMemo
from flowcep_plugin.records import FlowBatch
from flowcep_plugin.testing import build_detector, make_flow


def test_bounded_memo_starts_over_at_its_limit_and_counts() -> None:
    ctx = Context()
    m: BoundedMemo[str, int] = BoundedMemo(limit=3, stats=ctx.stats, counter="x.memo_resets")
    for i in range(7):
        m[f"k{i}"] = i
        m[f"k{i}"] = i  # storing a key it holds costs no restart
        assert len(m) <= 3
    assert m.resets == 2 and ctx.stats.gauges["x.memo_resets"] == 2
    assert m.get("k6") == 6 and isinstance(m, dict)
    with pytest.raises(ValueError, match="at least 1"):
        BoundedMemo(limit=0)


def _spoofed(n: int, **kw: Any) -> list[FlowBatch]:
    """``n`` flows from distinct sources (as a spoofed flood looks), in batches of 10,000."""
    rows = [make_flow(f"100.{i >> 16}.{(i >> 8) & 255}.{i & 255}", f"224.0.{(i >> 8) & 255}.{i & 255}",
                      **kw) for i in range(n)]
    return [FlowBatch.from_rows(rows[k:k + 10_000]) for k in range(0, n, 10_000)]


@pytest.mark.parametrize("plugin,config,memo,flow", [
    ("portscan", {"ignore_sources": ["192.0.2.0/24"]}, "_ignored", {"dport": 445}),
    ("bruteforce", {"ignore_sources": ["192.0.2.0/24"]}, "_ignored", {"dport": 22, "packets": 12, "octets": 3000}),
    ("trafficstats", {}, "_internal", {"dport": 443}),
])
def test_shipped_detectors_memos_stay_bounded_under_spoofed_sources(
        plugin: str, config: dict[str, Any], memo: str, flow: dict[str, Any]) -> None:
    from flowcep_plugin.manager import make_plugin_manager
    from flowcep_plugin.registry import Registry

    spec = Registry.build(make_plugin_manager()).detectors[plugin]
    ctx = Context()
    det = build_detector(spec, config, ctx)
    for b in _spoofed(DEFAULT_MEMO_SIZE + 10_000, **flow):
        det.on_batch(b)
    table = getattr(det, memo)
    assert 0 < len(table) <= DEFAULT_MEMO_SIZE
    assert ctx.stats.gauges[f"{plugin}.memo_resets"] >= 1


def test_weakest_keys_takes_one_entry_sources_first_then_ranks() -> None:
    """What the detectors' full tables forget: weak entries (evidence <= 1) in insertion order
    while there are enough; else every key ranked by evidence, oldest first among equals."""
    from flowcep_plugin.api import weakest_keys

    def size(_k: str, v: list[int]) -> int:
        return len(v)

    flood = {f"s{i}": [1] for i in range(14)} | {"scanner": [1] * 150}
    flood = {"scanner": [1] * 150} | flood  # the scanner came first: age must not doom it
    assert weakest_keys(flood, size, 8) == ["s0"]  # 15 // 8: one, the oldest weak one
    assert weakest_keys(flood, size, 2) == [f"s{i}" for i in range(7)]
    strong = {"a": [1] * 5, "b": [1] * 2, "c": [1] * 9, "d": [1] * 2, "e": [1] * 3,
              "f": [1] * 4, "g": [1] * 7, "h": [1] * 6}
    assert weakest_keys(strong, size, 4) == ["b", "d"]  # ranked, stable among equals
    assert weakest_keys({"x": [1] * 3}, size, 8) == ["x"]  # at least one
