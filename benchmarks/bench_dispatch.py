"""Per-batch cost of the one dispatcher, beside baselines measured in the same run.

A per-batch hook (``flowcep_enrich_batch``) with five implementations, called:

* ``hand loop``: each implementation's function called directly in a ``try`` (the old host
  dispatch; it skipped wrappers and reversed ``tryfirst``) - the baseline;
* ``pluggy``: pluggy's hook caller, no isolation (one raising plugin would stop the others);
* ``isolated``: pluggy's hook caller with every implementation guarded (what the host does);
* ``isolated + wrapper``: the same with one ``wrapper=True`` implementation timing the call.

Also shown: the cost of one 8192-record batch through the cheapest real work (reading a
column), to put microseconds per hook call next to what a batch costs anyway.

    .venv/bin/python benchmarks/bench_dispatch.py [--calls 20000]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Generator
from typing import Any

from flowcep_plugin.api import FlowBatch, PluginInfo, hookimpl, make_plugin_manager


def plugin(i: int) -> Any:
    class P:
        @hookimpl
        def flowcep_enrich_batch(self, batch: FlowBatch) -> None:
            return None

    return P()


class Wrapper:
    @hookimpl(wrapper=True)
    def flowcep_enrich_batch(self, batch: FlowBatch) -> Generator[None, Any, Any]:
        t = time.perf_counter()
        try:
            return (yield)
        finally:
            self.spent = time.perf_counter() - t


def manager(wrapper: bool) -> Any:
    pm = make_plugin_manager(load_entry_points=False)
    for i in range(5):
        pm.register_plugin(plugin(i), PluginInfo(f"p{i}", "bench", "bench", "0", "registered"))
    if wrapper:
        pm.register_plugin(Wrapper(), PluginInfo("wrapper", "bench", "bench", "0", "registered"))
    return pm


def per_call(fn: Callable[[], Any], calls: int) -> float:
    fn()
    t = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - t) / calls


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=20000)
    calls = ap.parse_args().calls
    batch = FlowBatch({"sourceIPv4Address": ["10.0.0.1"] * 8192, "flowEndMilliseconds": list(range(8192))})

    pm = manager(False)
    impls = list(pm.hook.flowcep_enrich_batch.get_hookimpls())

    def hand() -> None:
        for impl in impls:
            try:
                impl.function(batch)
            except Exception:  # noqa: S112 - as the old host did
                continue

    plain = pm.hook.flowcep_enrich_batch
    results = {"hand loop (baseline)": per_call(hand, calls),
               "pluggy": per_call(lambda: plain(batch=batch, context=None), calls)}
    iso = manager(False).isolated("flowcep_enrich_batch")
    results["isolated"] = per_call(lambda: iso(batch=batch, context=None), calls)
    wrapped = manager(True).isolated("flowcep_enrich_batch")
    results["isolated + wrapper"] = per_call(lambda: wrapped(batch=batch, context=None), calls)
    column = per_call(lambda: sum(1 for _ in batch.get("sourceIPv4Address")), max(calls // 100, 10))
    base = results["hand loop (baseline)"]
    print(f"{'dispatch (5 impls)':24} {'us/call':>9} {'x baseline':>11} {'% of a batch read':>18}")
    for name, sec in results.items():
        print(f"{name:24} {sec * 1e6:9.2f} {sec / base:11.2f} {100 * sec / column:17.3f}%")
    print(f"{'reading one column':24} {column * 1e6:9.1f} us per 8192-record batch")


if __name__ == "__main__":
    main()
