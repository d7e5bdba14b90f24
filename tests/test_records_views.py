"""Column views: ``FlowBatch.take``/``slice``/``concat`` copy no column until it is read
(nor does a column a decoder hands over unconverted, ``Columns.set_view``).

Every reader must see what the eager copies gave. The reference here is a plain model (lists
of row dicts) that the same operations are applied to; random chains of take, take of a take,
slice and concat (of batches with different columns, some lazy) are compared with it through
every way of reading a column, in random read orders.
"""

from __future__ import annotations

import copy
import pickle
import random
from typing import Any

import pytest

from flowcep_plugin.records import Columns, FlowBatch

Model = list[dict[str, Any]]  # one dict per record, every name of the batch present


def _random_batch(rnd: random.Random, n: int, names: list[str]) -> tuple[FlowBatch, Model]:
    cols = {k: [rnd.choice([None, rnd.randrange(100), f"v{rnd.randrange(9)}"]) for _ in range(n)]
            for k in names}
    cols["flowEndMilliseconds"] = [rnd.randrange(1000) for _ in range(n)]
    model = [{k: c[i] for k, c in cols.items()} for i in range(n)]
    if rnd.random() < 0.5:  # some columns handed over unconverted, as the IPFIX decoder does
        handed = Columns(None, n)
        for k, c in cols.items():
            if rnd.random() < 0.5:
                handed.set_view(k, tuple(c), list)
            else:
                handed[k] = c
        return FlowBatch(handed, n), model
    return FlowBatch(cols, n), model


def _apply(rnd: random.Random, pool: list[tuple[FlowBatch, Model]]) -> tuple[FlowBatch, Model]:
    batch, model = rnd.choice(pool)
    op = rnd.randrange(3)
    if op == 0:  # take: any order, repeats, empty and single picks
        k = rnd.choice([0, 1, len(model), rnd.randrange(len(model) + 3)])
        idx = [rnd.randrange(len(model)) for _ in range(k)] if model else []
        return batch.take(idx), [model[i] for i in idx]
    if op == 1:
        a = rnd.randrange(len(model) + 1)
        b = rnd.randrange(a, len(model) + 2)
        return batch.slice(a, b), model[a:b]
    parts = [rnd.choice(pool) for _ in range(rnd.randrange(1, 4))]
    names: dict[str, None] = {}
    for part, _m in parts:
        names.update(dict.fromkeys(part.columns))
    joined = [{k: r.get(k) for k in names} for _p, m in parts for r in m]
    return FlowBatch.concat([p for p, _m in parts]), joined


def _check(batch: FlowBatch, model: Model, rnd: random.Random) -> None:
    names = list(batch.columns)
    assert len(batch) == len(model)
    if isinstance(batch.columns, Columns):
        assert batch.columns.length == len(model)
    assert all(list(r) == names for r in model)
    order = names[:]
    rnd.shuffle(order)
    reads = [
        lambda c, k: c[k],
        lambda c, k: c.get(k),
        lambda c, k: dict(c)[k],
        lambda c, k: dict(c.items())[k],
        lambda c, k: list(c.values())[list(c).index(k)],
        lambda c, k: pickle.loads(pickle.dumps(c))[k],
        lambda c, k: copy.deepcopy(c)[k],
        lambda c, k: c.copy()[k],
    ]
    for k in order:
        got = rnd.choice(reads)(batch.columns, k)
        assert got == [r[k] for r in model], k
        assert batch.get(k) == got
    assert [batch.row(i) for i in range(len(model))] == [
        {k: v for k, v in r.items() if v is not None} for r in model]
    assert batch.columns == {k: [r[k] for r in model] for k in names}


@pytest.mark.parametrize("seed", range(40))
def test_random_chains_of_take_slice_concat_read_like_eager_copies(seed: int) -> None:
    rnd = random.Random(seed)
    pool = [_random_batch(rnd, rnd.randrange(0, 12), rnd.sample(["a", "b", "c", "d"], rnd.randrange(1, 4)))
            for _ in range(3)]
    made: list[tuple[FlowBatch, Model]] = []
    for _ in range(12):
        got = _apply(rnd, pool + made)
        made.append(got)
    rnd.shuffle(made)
    for batch, model in made:  # derived batches read in random order: later ones may be read first
        _check(batch, model, rnd)
    for batch, model in pool:  # the sources were not changed by what was made from them
        _check(batch, model, rnd)


def test_take_of_a_take_and_of_a_join_read_once_each() -> None:
    a = FlowBatch({"x": [0, 1, 2, 3], "y": list("abcd")})
    b = FlowBatch({"x": [4, 5], "z": [True, False]})
    joined = FlowBatch.concat([a.take([3, 1]), b])
    again = joined.take([3, 0, 0, 2]).take([1, 3])
    cols = again.columns
    assert isinstance(cols, Columns) and all(cols.is_view(k) for k in ("x", "y", "z"))
    assert list(cols) == ["x", "y", "z"] and len(cols) == 3 and "z" in cols
    assert [k for k in cols] == list(cols.keys()) == ["x", "y", "z"] and len(again) == 2
    assert cols.is_view("x")  # names, len, iteration and `in` make nothing
    assert again.get("x") == [3, 4] and isinstance(again.get("x"), list)
    assert not cols.is_view("x") and cols.is_view("y")
    assert isinstance(joined.columns, Columns) and not joined.columns.is_view("x")
    assert joined.columns.is_view("y")  # reading one column makes no other, here or upstream
    assert again.get("y") == ["d", None] and again.get("z") == [None, True]
    x = cols["x"]
    assert cols["x"] is x  # made once, then kept
    twin = joined.take([3, 0, 0, 2]).take([1, 3])  # another view of the same records
    assert twin.columns == cols and not (twin.columns != cols)
    assert joined.take([3, 0]).columns != cols  # other records: unequal, as lists would be


def test_a_made_view_lets_its_sources_go_and_shares_its_values() -> None:
    a = FlowBatch({"x": [1, 2, 3]})
    t = a.take([2, 1])
    u = t.take([1])
    w = t.take([0])
    assert u.get("x") == [2] and w.get("x") == [3]
    view = t.columns.raw("x")  # type: ignore[attr-defined]
    assert view.src is None and view.value == [3, 2]  # made once for both takes, sources freed
    assert t.get("x") is view.value


def test_views_keep_the_values_their_source_had_when_a_column_is_replaced() -> None:
    a = FlowBatch({"x": [1, 2, 3]})
    t = a.take([0, 2])
    a.add_column("x", [7, 8, 9])  # stages replace whole columns, never change them in place
    assert t.get("x") == [1, 3] and a.get("x") == [7, 8, 9]


def test_a_lazy_column_through_takes_and_joins_builds_from_the_viewed_columns() -> None:
    calls: list[int] = []

    def double(cols: Any, n: int) -> list[Any]:
        calls.append(n)
        return [2 * v for v in cols["x"]]

    a = FlowBatch({"x": [1, 2, 3]})
    b = FlowBatch({"x": [10, 20]})
    a.add_lazy_column("d", double)
    b.add_lazy_column("d", double)
    joined = FlowBatch.concat([a.take([2, 0]), b.slice(1, 2)]).take([2, 1, 0])
    assert isinstance(joined.columns, Columns) and joined.columns.is_lazy("d") and joined.columns.is_view("x")
    assert joined.get("d") == [40, 2, 6] and calls == [3]
    assert a.columns.is_lazy("d")  # type: ignore[attr-defined]


def test_concat_of_batches_without_a_column_fills_none_when_read() -> None:
    a = FlowBatch({"x": [1], "y": [2]})
    b = FlowBatch({"x": [3]})
    joined = FlowBatch.concat([b, a, b])
    assert isinstance(joined.columns, Columns) and joined.columns.is_view("y")
    assert joined.get("y") == [None, 2, None] and joined.get("x") == [3, 1, 3]
    assert joined.columns == {"x": [3, 1, 3], "y": [None, 2, None]}
    assert type(pickle.loads(pickle.dumps(joined)).columns) is dict
