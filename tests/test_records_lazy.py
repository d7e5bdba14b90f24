"""Lazy columns (``FlowBatch.add_lazy_column``) and the lazy Community ID column: every
reader gets what an eager column would have held, and nothing is built unless read.

The eager reference is the same batch with the column computed at once (``add_column``), as
the enricher did before it became lazy.
"""

from __future__ import annotations

import copy
import pickle
import random
from datetime import UTC, datetime
from typing import Any

import pytest

from flowcep_plugin import ecs
from flowcep_plugin.context import Context
from flowcep_plugin.engine.compiler import compile_module
from flowcep_plugin.enrich.community_id import BUILT_COUNTER, COLUMN, CommunityIdEnricher
from flowcep_plugin.records import Columns, FlowBatch


class Counting:
    """A lazy build: the sum of two columns, counting how many times it ran."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, cols: Any, n: int) -> list[Any]:
        self.calls += 1
        a, b = cols.get("a") or [None] * n, cols.get("b") or [None] * n
        return [None if x is None or y is None else x + y for x, y in zip(a, b, strict=True)]


def _batch(n: int = 6) -> FlowBatch:
    return FlowBatch.from_rows([{"a": i, "b": 10 * i, "flowEndMilliseconds": 1000 - i} for i in range(n)])


def _lazy(n: int = 6) -> tuple[FlowBatch, Counting]:
    batch, build = _batch(n), Counting()
    batch.add_lazy_column("s", build)
    batch.add_column("after", list(range(n)))
    return batch, build


def test_names_and_order_need_no_build() -> None:
    batch, build = _lazy()
    assert list(batch.columns) == ["a", "b", "flowEndMilliseconds", "s", "after"]
    assert "s" in batch.columns and len(batch.columns) == 5
    assert tuple(batch.columns.keys()) == ("a", "b", "flowEndMilliseconds", "s", "after")
    assert build.calls == 0
    assert isinstance(batch.columns, Columns) and batch.columns.pending() == ["s"]


@pytest.mark.parametrize("read", [
    lambda b: b.get("s"),
    lambda b: b.columns["s"],
    lambda b: b.columns.get("s"),
    lambda b: dict(b.columns)["s"],
    lambda b: {**b.columns}["s"],
    lambda b: dict(b.columns.items())["s"],
    lambda b: list(b.columns.values())[3],
    lambda b: [r["s"] for r in b.rows()],
    lambda b: pickle.loads(pickle.dumps(b)).columns["s"],
    lambda b: copy.deepcopy(b.columns)["s"],
    lambda b: b.columns.pop("s"),
    lambda b: b.columns.setdefault("s", None),
])
def test_every_read_gets_the_eager_values_built_once(read: Any) -> None:
    batch, build = _lazy()
    assert read(batch) == [0, 11, 22, 33, 44, 55]
    assert build.calls == 1
    batch.get("s")
    batch.columns.get("s")
    assert build.calls == 1


def test_a_copy_keeps_the_column_lazy() -> None:
    batch, build = _lazy()
    copied = batch.columns.copy()
    assert isinstance(copied, Columns) and build.calls == 0
    assert copied["s"] == [0, 11, 22, 33, 44, 55] and batch.columns.pending() == ["s"]


def test_equality_and_pickle_are_plain_dicts() -> None:
    batch, _ = _lazy()
    eager = _batch()
    eager.add_column("s", [0, 11, 22, 33, 44, 55])
    eager.add_column("after", list(range(6)))
    assert batch.columns == eager.columns
    sent = pickle.loads(pickle.dumps(batch))
    assert type(sent.columns) is dict and sent.columns == eager.columns


def test_take_slice_concat_stay_lazy_and_build_from_their_own_rows() -> None:
    batch, build = _lazy()
    taken = batch.take([5, 0, 3])
    part = batch.slice(2, 5)
    joined = FlowBatch.concat([taken, part])
    assert build.calls == 0
    assert taken.get("s") == [55, 0, 33]
    assert part.get("s") == [22, 33, 44]
    assert joined.get("s") == [55, 0, 33, 22, 33, 44]
    assert list(joined.columns) == list(batch.columns)
    assert batch.columns.pending() == ["s"]  # the source batch was not built by its copies
    assert build.calls == 3


def test_concat_with_a_built_or_absent_column_builds_and_fills_none() -> None:
    lazy, _ = _lazy(3)
    built, _ = _lazy(2)
    built.get("s")
    plain = FlowBatch.from_rows([{"a": 7, "b": 1, "flowEndMilliseconds": 5}])
    joined = FlowBatch.concat([lazy, built, plain])
    assert joined.get("s") == [0, 11, 22, 0, 11, None]
    other, _ = _lazy(2)  # lazy too, but another build: not the same column
    assert FlowBatch.concat([lazy, other]).get("s") == [0, 11, 22, 0, 11]


def test_a_build_of_the_wrong_length_fails_loudly() -> None:
    batch = _batch(3)
    batch.add_lazy_column("s", lambda cols, n: [1])
    with pytest.raises(ValueError, match="'s' built 1 values for 3 records"):
        batch.get("s")


def test_replacing_a_lazy_column_drops_it() -> None:
    batch, build = _lazy()
    batch.add_column("s", [9] * 6)
    assert batch.get("s") == [9] * 6 and build.calls == 0


# -- the Community ID column --------------------------------------------------------------------
def _flows(n: int = 400, seed: int = 7) -> FlowBatch:
    """Flows of every shape the hash distinguishes: IPv4/IPv6, TCP/UDP/SCTP/ICMP/ICMPv6/GRE,
    missing ports or addresses, both directions of the same conversation."""
    rnd = random.Random(seed)
    rows: list[dict[str, Any]] = []
    for i in range(n):
        proto = rnd.choice([6, 17, 132, 1, 58, 47])
        row: dict[str, Any] = {"protocolIdentifier": proto, "flowEndMilliseconds": 10_000 + rnd.randrange(5000)}
        if proto == 58 or (proto == 6 and i % 7 == 0):
            row["sourceIPv6Address"] = f"2001:db8::{rnd.randrange(4):x}"
            row["destinationIPv6Address"] = f"2001:db8::{rnd.randrange(4):x}"
        else:
            row["sourceIPv4Address"] = f"10.0.0.{rnd.randrange(4)}"
            row["destinationIPv4Address"] = f"10.0.0.{rnd.randrange(4)}"
        if proto in (1, 58):
            key = "icmpTypeCodeIPv4" if proto == 1 else "icmpTypeCodeIPv6"
            if i % 5:
                row[key] = rnd.choice([0, 8, 3, 128, 129, 135]) << 8 | rnd.randrange(2)
            else:
                row["destinationTransportPort"] = 0x0800
        elif i % 11:
            row["sourceTransportPort"] = rnd.choice([22, 80, 40000, 40001])
            row["destinationTransportPort"] = rnd.choice([22, 80, 40000, 40001])
        if i % 37 == 0:
            row.pop("sourceIPv4Address", None)
        rows.append(row)
    return FlowBatch.from_rows(rows)


def _eager(batch: FlowBatch, enricher: CommunityIdEnricher) -> FlowBatch:
    out = batch.slice(0, batch.length)
    out.add_column(COLUMN, enricher.column(out.columns, out.length))
    return out


def test_community_id_is_computed_only_when_read_and_counted() -> None:
    ctx = Context()
    enr = CommunityIdEnricher({"seed": 3}, ctx)
    batch = _flows()
    enr.enrich(batch)
    assert COLUMN in batch.columns and batch.columns.is_lazy(COLUMN)  # type: ignore[attr-defined]
    assert BUILT_COUNTER not in ctx.stats.gauges
    ids = batch.get(COLUMN)
    assert ctx.stats.gauges[BUILT_COUNTER] == batch.length
    assert ids == _eager(_flows(), CommunityIdEnricher({"seed": 3})).get(COLUMN)
    assert None in ids and len({i for i in ids if i}) > 20


def test_community_id_after_reorder_and_join_equals_the_eager_column() -> None:
    enr = CommunityIdEnricher({})
    a, b = _flows(300, 1), _flows(200, 2)
    enr.enrich(a)
    enr.enrich(b)
    order = sorted(range(a.length), key=a.event_times().__getitem__)
    got = FlowBatch.concat([a.take(order), b.slice(50, 150)])
    want = FlowBatch.concat([_eager(_flows(300, 1), enr).take(order), _eager(_flows(200, 2), enr).slice(50, 150)])
    assert got.get(COLUMN) == want.get(COLUMN)


def test_ecs_documents_and_json_equal_the_eager_ones() -> None:
    enr = CommunityIdEnricher({})
    lazy, eager = _flows(), _eager(_flows(), enr)
    enr.enrich(lazy)
    created = datetime(2026, 12, 4, tzinfo=UTC)
    assert ecs.batch_to_json(lazy.slice(0, lazy.length), created=created) == \
        ecs.batch_to_json(eager, created=created)
    assert ecs.batch_to_documents(lazy) == ecs.batch_to_documents(eager)
    assert any(COLUMN in d for d in ecs.batch_to_documents(lazy))


def test_epl_reading_the_column_gets_the_eager_values() -> None:
    text = """@Name('Out') select ipfix.protocolIdentifier as p, `network.community_id` as cid
              from Flow where `network.community_id` is not null"""
    enr = CommunityIdEnricher({})
    lazy, eager = _flows(), _eager(_flows(), enr)
    enr.enrich(lazy)
    order = sorted(range(lazy.length), key=lazy.event_times().__getitem__)
    got = compile_module(text).runtime().on_batch(lazy.take(order))
    want = compile_module(text).runtime().on_batch(eager.take(order))
    assert [r.values for r in got] == [r.values for r in want]
    assert len(got) > 100
    # a module that never names the column does not build it
    other = _flows()
    enr.enrich(other)
    compile_module("@Name('Out') select count(*) as n from Flow#length_batch(10)").runtime().on_batch(
        other.take(order))
    assert other.columns.is_lazy(COLUMN)  # type: ignore[attr-defined]


# -- the services columns ------------------------------------------------------------------------
def _eager_services(batch: FlowBatch, enricher: Any) -> FlowBatch:
    out = batch.slice(0, batch.length)
    for name, build in (("network.transport", enricher.transport_column),
                        ("network.protocol", enricher.protocol_column),
                        ("flowcep.category", enricher.category_column)):
        out.add_column(name, build(out.columns, out.length))
    return out


def test_services_columns_are_lazy_and_equal_the_eager_ones_after_reorder_and_join() -> None:
    from flowcep_plugin.enrich.services import COLUMNS, DEFAULTS, ServicesEnricher

    enr = ServicesEnricher({**DEFAULTS, "ports": {"40000/tcp": "custom"}, "categories": {"custom": "web"}})
    a, b = _flows(300, 3), _flows(200, 4)
    enr.enrich(a)
    enr.enrich(b)
    assert all(a.columns.is_lazy(c) for c in COLUMNS)  # type: ignore[attr-defined]
    order = sorted(range(a.length), key=a.event_times().__getitem__)
    got = FlowBatch.concat([a.take(order), b.slice(20, 120)])
    want = FlowBatch.concat([_eager_services(_flows(300, 3), enr).take(order),
                             _eager_services(_flows(200, 4), enr).slice(20, 120)])
    for c in COLUMNS:
        assert got.get(c) == want.get(c)
    assert "custom" in got.get("network.protocol") and "icmp" in got.get("network.transport")
    # a whole batch of one protocol takes the single-protocol path; mixed ones the other
    one = FlowBatch.from_rows([{"protocolIdentifier": 17, "destinationTransportPort": 53,
                                "sourceTransportPort": 5353}] * 3)
    enr.enrich(one)
    assert one.get("network.transport") == ["udp"] * 3 and one.get("network.protocol") == ["domain"] * 3


def test_flow_documents_with_every_default_enricher_equal_the_eager_ones() -> None:
    from flowcep_plugin.enrich.services import DEFAULTS, ServicesEnricher
    from flowcep_plugin.enrich.zones import DEFAULTS as ZONES
    from flowcep_plugin.enrich.zones import ZonesEnricher

    cid, svc = CommunityIdEnricher({}), ServicesEnricher(DEFAULTS)
    lazy = _flows(500, 5)
    ZonesEnricher(ZONES).enrich(lazy)
    svc.enrich(lazy)
    cid.enrich(lazy)
    eager = _flows(500, 5)
    ZonesEnricher(ZONES).enrich(eager)
    eager = _eager(_eager_services(eager, svc), cid)
    order = sorted(range(lazy.length), key=lazy.event_times().__getitem__)
    assert list(lazy.columns) == list(eager.columns)
    created = datetime(2026, 12, 4, tzinfo=UTC)
    assert ecs.batch_to_json(lazy.take(order), created=created) == ecs.batch_to_json(eager.take(order), created=created)
    assert [lazy.row(i) for i in order] == [eager.row(i) for i in order]


# -- FlowBatch.take (as a worker cuts a detector's flows): each column copied out on its first read

def _picked_pair() -> tuple[FlowBatch, FlowBatch, list[int]]:
    rng = random.Random(7)
    rows = [{"a": i, "b": rng.randint(0, 9), "c": None if i % 3 else f"x{i}", "flowEndMilliseconds": 1000 + i}
            for i in range(50)]
    batch = FlowBatch.from_rows(rows, source="s")
    counting = Counting()
    batch.add_lazy_column("sum", counting)
    idx = [rng.randrange(50) for _ in range(30)]  # repeats and any order, as take allows
    return batch, batch.take(idx), idx


def _placeholder(batch: FlowBatch, name: str) -> str:
    return type(dict.get(batch.columns, name)).__name__


def test_a_take_copies_out_only_the_columns_read() -> None:
    batch, picked, idx = _picked_pair()
    want = batch.take(idx)
    assert picked.length == want.length == len(idx)
    assert list(picked.columns) == list(want.columns)  # names and order, nothing copied
    assert all(_placeholder(picked, n) in ("_View", "_Lazy") for n in picked.columns)
    assert picked.columns["b"] == want.columns["b"]
    assert _placeholder(picked, "b") == "list" and _placeholder(picked, "a") == "_View"  # only b copied
    assert picked.columns.get("c") == want.columns["c"]
    assert picked.columns["sum"] == want.columns["sum"]  # a lazy column builds from the picked ones
    assert picked.event_times() == want.event_times()
    assert picked.row(3) == want.row(3)
    assert picked.columns == want.columns


@pytest.mark.parametrize("how", ["take", "slice", "concat", "pickle", "items", "copy", "take-again", "pop"])
def test_a_partly_read_take_carried_on_has_the_values_take_gives(how: str) -> None:
    batch, picked, idx = _picked_pair()
    want = batch.take(idx)
    picked.columns["b"]  # one column read, the others still placeholders
    if how == "take":
        got, ref = picked.take([5, 1, 1, 0]), want.take([5, 1, 1, 0])
    elif how == "slice":
        got, ref = picked.slice(4, 20), want.slice(4, 20)
    elif how == "concat":
        got, ref = FlowBatch.concat([picked, picked]), FlowBatch.concat([want, want])
    elif how == "pickle":
        got, ref = pickle.loads(pickle.dumps(picked)), want
    elif how == "items":
        assert dict(picked.columns.items()) == dict(want.columns.items())
        return
    elif how == "copy":
        got, ref = FlowBatch(picked.columns.copy(), picked.length), want
    elif how == "take-again":
        got, ref = picked.take([2, 3, 29]), want.take([2, 3, 29])
    else:
        assert picked.columns.pop("a") == want.columns["a"]
        assert "a" not in picked.columns
        return
    assert {k: got.columns[k] for k in got.columns} == {k: ref.columns[k] for k in ref.columns}
    assert got.length == ref.length
