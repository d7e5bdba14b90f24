"""Context properties belong to the partition being run, not to the process: two runtimes
running context statements at the same time each read their own ``context.*`` values."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from flowcep_plugin.engine import compile_module
from flowcep_plugin.engine.expressions import FUNCTIONS
from flowcep_plugin.engine.harness import flows

MODULE = """
create context ByK partition by k from Flow;
@Name('S') context ByK select rendezvous(k) as w, context.key1 as ck, k from Flow
"""


def test_two_runtimes_in_two_threads_do_not_see_each_others_context_properties(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # both runtimes stop inside their partition's select list until both are there: with one
    # shared table of context properties, the second runtime's partition would overwrite the
    # first's before it reads context.key1
    barrier = threading.Barrier(2, timeout=10)

    def rendezvous(v: Any) -> Any:
        barrier.wait()
        return v

    monkeypatch.setitem(FUNCTIONS, "rendezvous", (rendezvous, 1, 1))
    module = compile_module(MODULE)
    got: dict[str, list[tuple[Any, Any]]] = {}
    errors: list[BaseException] = []

    def run(key: str) -> None:
        try:
            rows = module.runtime().on_batch(flows((1000, {"k": key})))
            got[key] = [(r.values["ck"], r.values["k"]) for r in rows]
        except BaseException as e:  # reported by the main thread
            errors.append(e)

    threads = [threading.Thread(target=run, args=(key,)) for key in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert not errors
    assert got == {"a": [("a", "a")], "b": [("b", "b")]}


def test_context_properties_are_not_visible_after_the_partition_ran() -> None:
    from flowcep_plugin.engine.contexts import CONTEXT_FUNCTION

    module = compile_module("create context ByK partition by k from Flow;\n"
                            "@Name('S') context ByK select context.key1 as ck from Flow")
    rows = module.runtime().on_batch(flows((1000, {"k": "a"})))
    assert [r.values["ck"] for r in rows] == ["a"]
    read = FUNCTIONS[CONTEXT_FUNCTION][0]
    assert read("key1") is None
