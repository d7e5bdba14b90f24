"""The runtime's entry points postpone generation-0 collections to their return (gcdefer)."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator

import pytest

from flowcep_plugin.engine import compile_module
from flowcep_plugin.engine.gcdefer import GEN0_DURING_BATCH, deferring_gc
from flowcep_plugin.records import FlowBatch


@pytest.fixture(autouse=True)
def _thresholds() -> Iterator[None]:
    old, enabled = gc.get_threshold(), gc.isenabled()
    gc.set_threshold(700, old[1], old[2])
    gc.enable()
    yield
    gc.set_threshold(*old)
    if not enabled:
        gc.disable()


def test_the_threshold_is_raised_during_the_call_and_put_back():
    seen: list[int] = []

    @deferring_gc
    def work() -> int:
        seen.append(gc.get_threshold()[0])
        return 7

    assert work() == 7
    assert seen == [GEN0_DURING_BATCH]
    assert gc.get_threshold()[0] == 700


def test_nested_calls_restore_once_and_exceptions_restore_too():
    @deferring_gc
    def inner() -> None:
        assert gc.get_threshold()[0] == GEN0_DURING_BATCH
        raise ValueError("boom")

    @deferring_gc
    def outer() -> None:
        with pytest.raises(ValueError):
            inner()
        assert gc.get_threshold()[0] == GEN0_DURING_BATCH  # still inside outer

    outer()
    assert gc.get_threshold()[0] == 700


def test_a_host_that_collects_less_often_or_not_at_all_is_left_alone():
    @deferring_gc
    def read() -> int:
        return gc.get_threshold()[0]

    gc.set_threshold(GEN0_DURING_BATCH * 2)
    assert read() == GEN0_DURING_BATCH * 2
    gc.set_threshold(700)
    gc.disable()
    assert read() == 700
    assert not gc.isenabled()


def test_a_change_made_during_the_call_stands():
    @deferring_gc
    def change() -> None:
        gc.set_threshold(1234)

    change()
    assert gc.get_threshold()[0] == 1234


def test_threads_share_one_raise_and_the_last_out_restores():
    inside = threading.Barrier(2)
    seen: list[int] = []

    @deferring_gc
    def work() -> None:
        inside.wait(timeout=10)
        seen.append(gc.get_threshold()[0])
        inside.wait(timeout=10)

    threads = [threading.Thread(target=work) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=20)
    assert seen == [GEN0_DURING_BATCH] * 2
    assert gc.get_threshold()[0] == 700


def test_runtime_entry_points_defer_and_restore():
    rt = compile_module("select count(*) as n from Flow#time_batch(1 sec)").runtime()
    t0 = 1_700_000_000_000
    rows = rt.on_batch(FlowBatch({"flowEndMilliseconds": [t0, t0 + 10, t0 + 20]}))
    rows += rt.on_watermark(t0 + 5_000)
    rows += rt.flush()
    assert [r.values["n"] for r in rows][:1] == [3]
    assert gc.get_threshold()[0] == 700
