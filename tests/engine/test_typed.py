"""engine/typed.py: events of a declared schema entering from an input are checked against it."""

from __future__ import annotations

from typing import Any

from flowcep_plugin.engine import compile_module
from flowcep_plugin.engine.typed import FIELDS_COLUMN, MISSING, POSITION_COLUMN, WRONG_TYPE, conform
from flowcep_plugin.engine.windows import Events
from flowcep_plugin.records import FlowBatch


def _events(rows: list[dict[str, Any]]) -> Events:
    names: dict[str, None] = {}
    for r in rows:
        names.update(dict.fromkeys(r))
    cols = {k: [r.get(k) for r in rows] for k in names}
    cols[FIELDS_COLUMN] = [tuple(r) for r in rows]
    cols[POSITION_COLUMN] = [f"f:{i + 1}" for i in range(len(rows))]
    return Events(cols, len(rows), list(range(len(rows))))


def _sd(schema: str) -> Any:
    return compile_module(schema + ";\nselect * from T;").streams["T"]


def test_values_of_the_declared_types_pass_and_keep_only_declared_properties() -> None:
    sd = _sd("create schema T (s string, n long, x double, ok boolean, xs long[], any object)")
    ev, bad = conform(sd, _events([{"s": "a", "n": 3, "x": 2, "ok": False, "xs": [1, None], "any": {"k": 1},
                                    "extra": 9}]))
    assert bad == []
    assert ev.rows() == [{"s": "a", "n": 3, "x": 2.0, "ok": False, "xs": [1, None], "any": {"k": 1}}]
    assert isinstance(ev.cols["x"][0], float)  # a long where a double is declared is widened


def test_null_passes_but_a_missing_property_is_dropped_with_its_position() -> None:
    sd = _sd("create schema T (s string, n long)")
    ev, bad = conform(sd, _events([{"s": "a", "n": None}, {"s": "b"}, {"s": "c", "n": 1}]))
    assert ev.rows() == [{"s": "a", "n": None}, {"s": "c", "n": 1}]
    assert bad == [(1, MISSING, "f:2: T: no property 'n'")]


def test_wrong_types_are_dropped_one_reason_each() -> None:
    sd = _sd("create schema T (s string, n long, xs long[])")
    ev, bad = conform(sd, _events([{"s": 1, "n": 1, "xs": []}, {"s": "a", "n": 1.5, "xs": []},
                                   {"s": "a", "n": True, "xs": []}, {"s": "a", "n": 1, "xs": [1, "x"]},
                                   {"s": "a", "n": 2, "xs": [2]}]))
    assert ev.rows() == [{"s": "a", "n": 2, "xs": [2]}]
    assert [b[:2] for b in bad] == [(i, WRONG_TYPE) for i in range(4)]
    assert bad[0][2] == "f:1: T.s: expected string, got int 1"
    assert bad[2][2] == "f:3: T.n: expected long, got bool True"


def test_a_schema_without_properties_takes_any_columns_unchecked() -> None:
    sd = _sd("create schema T ()")
    ev, bad = conform(sd, _events([{"a": 1}, {"b": "x"}]))
    assert bad == [] and set(ev.cols) == {"a", "b"}


def test_the_runtime_counts_and_keeps_the_reasons_and_flows_are_not_checked() -> None:
    class Stats:
        def __init__(self) -> None:
            self.drops: dict[str, int] = {}

        def drop(self, reason: str, n: int = 1, source: str | None = None) -> None:
            self.drops[reason] = self.drops.get(reason, 0) + n

        def add(self, name: str, n: int = 1) -> None:
            return None

    m = compile_module("create schema T (s string, n long);\n@Name('A') select s, n from T;\n"
                       "@Name('F') select sourceIPv4Address as a from Flow;")
    stats = Stats()
    rt = m.runtime(stats=stats)
    assert rt.event_streams == frozenset({"T"})
    b = FlowBatch.from_rows([{"s": "a", "n": 1}, {"s": "b", "n": "x"}], source="in")
    b.stream = "T"
    b.set_event_times([1, 2])
    rows = rt.on_events(b)
    assert [r.values for r in rows] == [{"s": "a", "n": 1}]
    assert stats.drops == {WRONG_TYPE: 1} and rt.rejected == ["T.n: expected long, got str 'x'"]
    flows = FlowBatch.from_rows([{"sourceIPv4Address": 5, "flowEndMilliseconds": 3}], source="f")
    assert [r.values for r in rt.on_batch(flows)] == [{"a": 5}]  # flows keep their decoder's types
