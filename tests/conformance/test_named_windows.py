"""Named windows: consumers, on-delete, on-select, on-update, on-merge.

Expected rows come from Esper's reference chapter "EPL Reference: Named Windows and Tables"
and the assertions of its regression tests (espertechinc/esper, regression-lib
``suite/infra/namedwindow``). Esper's SupportBean-style events are sent as flows with a
``kind`` and routed to streams with INSERT INTO, as the rest of the suite does.
"""

from __future__ import annotations

from typing import Any

import pytest

from flowcep_plugin.engine.harness import Harness

DOC = "Esper reference, 'Named Windows and Tables'"
DOC_CONSUME = DOC + ", 'Querying Named Windows' (consumers receive the insert and the remove stream)"
DOC_DELETE = DOC + ", 'Deleting Data From Named Windows: the On Delete clause'"
DOC_SELECT = DOC + ", 'Triggered Select on Named Windows: the On Select clause'"
DOC_UPDATE = DOC + ", 'Updating Data in Named Windows: the On Update clause'"
MERGE_DOC = "InfraNamedWindowOnMerge.InfraDocExample (ProductWindow/OrderWindow merge)"


def vals(rows: list[Any], *keys: str) -> list[tuple[Any, ...]]:
    return [tuple(r.values[k] for k in keys) for r in rows]


@pytest.mark.esper("nw-consumer", cite=DOC_CONSUME)
def test_an_aggregation_over_a_length_window_goes_down_as_rows_leave() -> None:
    h = Harness("""
        create window W#length(2) as (s string, v int);
        insert into W select s, v from Flow;
        @Name('agg') select count(*) as n, sum(v) as total from W;
        @Name('rows') select s from W;
    """)
    for t, (s, v) in enumerate([("E1", 10), ("E2", 20), ("E3", 30)]):
        h.send(t * 1000, s=s, v=v)
    # the third row pushes E1 out: count stays 2, the sum loses E1's 10
    assert vals(h.of("agg"), "n", "total") == [(1, 10), (2, 30), (2, 50)]
    # a non-aggregating consumer sees the insert stream only
    assert vals(h.of("rows"), "s") == [("E1",), ("E2",), ("E3",)]


@pytest.mark.esper("nw-consumer", cite=DOC_CONSUME + "; time windows expire rows as the engine clock passes")
def test_a_time_window_removes_rows_at_their_expiry_time() -> None:
    h = Harness("""
        create window W#time(10 sec) as select s from Flow;
        insert into W select s from Flow;
        @Name('agg') select count(*) as n from W;
    """)
    h.send(0, s="a")
    h.send(4000, s="b")
    h.watermark(20000)
    assert [(r.time_ms, r.values["n"]) for r in h.of("agg")] == [(0, 1), (4000, 2), (10000, 1), (14000, 0)]


@pytest.mark.esper("nw-on-delete", cite=DOC_DELETE + "; ResultSetAggregateOnDelete (on SupportBean_A delete "
                   "from MyWindow where theString = id)")
def test_on_delete_removes_the_matching_rows_and_consumers_see_them_leave() -> None:
    h = Harness("""
        create window MyWindow#keepall as (theString string, intPrimitive int);
        insert into MyWindow select theString, intPrimitive from Flow(kind = 'sb');
        @Name('del') on Flow(kind = 'a') as a delete from MyWindow where theString = a.id;
        @Name('agg') select count(*) as n, sum(intPrimitive) as s from MyWindow;
    """)
    h.send(1000, kind="sb", theString="E1", intPrimitive=10)
    h.send(2000, kind="sb", theString="E2", intPrimitive=20)
    h.send(3000, kind="a", id="E1")
    h.send(4000, kind="a", id="EX")  # deletes nothing: no row, no update
    h.send(5000, kind="sb", theString="E3", intPrimitive=30)
    assert vals(h.of("agg"), "n", "s") == [(1, 10), (2, 30), (1, 20), (2, 50)]
    # the on-delete statement outputs the rows it deleted
    assert [(r.time_ms, r.values) for r in h.of("del")] == [(3000, {"theString": "E1", "intPrimitive": 10})]


@pytest.mark.esper("nw-on-select", cite=DOC_SELECT)
def test_on_select_outputs_the_matching_rows_once_per_trigger() -> None:
    h = Harness("""
        create window Scanners#unique(ip) as (ip string, reason string);
        insert into Scanners select ip, reason from Flow(kind = 'scanner');
        @Name('hit') on Flow(kind = 'flow') as f select f.src as src, s.reason as reason
            from Scanners as s where s.ip = f.src;
    """)
    h.send(0, kind="scanner", ip="10.0.0.1", reason="sweep")
    h.send(1000, kind="flow", src="10.0.0.2")
    h.send(2000, kind="flow", src="10.0.0.1")
    h.send(3000, kind="scanner", ip="10.0.0.1", reason="known")  # unique: replaces the row
    h.send(4000, kind="flow", src="10.0.0.1")
    assert [(r.time_ms, r.values["reason"]) for r in h.of("hit")] == [(2000, "sweep"), (4000, "known")]


@pytest.mark.esper("nw-on-update", cite=DOC_UPDATE + " (consumers get the new row as insert stream and the "
                   "previous one as remove stream)")
def test_on_update_changes_rows_in_place_and_consumers_see_old_and_new() -> None:
    h = Harness("""
        create window W#keepall as (k string, v int);
        insert into W select k, v from Flow(kind = 'row');
        on Flow(kind = 'upd') as u update W as w set v = w.v + u.d where w.k = u.k;
        @Name('agg') select sum(v) as s from W;
        @Name('dump') on Flow(kind = 'dump') select w.k as k, w.v as v from W as w;
    """)
    h.send(0, kind="row", k="a", v=1)
    h.send(1000, kind="row", k="b", v=2)
    h.send(2000, kind="upd", k="a", d=10)
    h.send(3000, kind="dump")
    assert vals(h.of("agg"), "s") == [(1,), (3,), (13,)]
    assert vals(h.of("dump"), "k", "v") == [("a", 11), ("b", 2)]


MERGE = """
    insert into OrderEvent select orderId, productId, price, quantity, deletedFlag from Flow(kind = 'order');
    create window ProductWindow#unique(productId) as (productId string, totalPrice double);
    on OrderEvent oe merge ProductWindow pw where pw.productId = oe.productId
        when matched then update set totalPrice = totalPrice + oe.price
        when not matched then insert select productId, price as totalPrice;
    create window OrderWindow#keepall as OrderEvent;
    on OrderEvent oe merge OrderWindow pw where pw.orderId = oe.orderId
        when not matched then insert select *
        when matched and oe.deletedFlag = true then delete
        when matched then update set pw.quantity = oe.quantity, pw.price = oe.price;
    @Name('prod') on Flow(kind = 'dump') select * from ProductWindow;
    @Name('ord') on Flow(kind = 'dump') select * from OrderWindow;
"""


def _order(h: Harness, t: int, oid: str, pid: str, price: float, qty: int, deleted: bool = False) -> None:
    h.send(t, kind="order", orderId=oid, productId=pid, price=price, quantity=qty, deletedFlag=deleted)


@pytest.mark.esper("nw-on-merge", cite=MERGE_DOC)
def test_merge_doc_example_totals_products_and_keeps_the_latest_order() -> None:
    h = Harness(MERGE)
    _order(h, 1000, "O1", "P1", 10.0, 100)
    _order(h, 2000, "O1", "P1", 11.0, 200)
    _order(h, 3000, "O2", "P2", 3.0, 300)
    h.send(4000, kind="dump")
    assert sorted(vals(h.of("prod"), "productId", "totalPrice")) == [("P1", 21.0), ("P2", 3.0)]
    assert sorted(vals(h.of("ord"), "orderId", "quantity")) == [("O1", 200), ("O2", 300)]


@pytest.mark.esper("nw-on-merge", cite=MERGE_DOC + "; 'when matched and oe.deletedFlag=true then delete'")
def test_merge_deletes_when_the_first_matching_clause_says_so() -> None:
    h = Harness(MERGE)
    _order(h, 1000, "O1", "P1", 10.0, 100)
    _order(h, 2000, "O2", "P2", 3.0, 300)
    _order(h, 3000, "O1", "P1", 1.0, 5, deleted=True)
    h.send(4000, kind="dump")
    assert vals(h.of("ord"), "orderId", "quantity") == [("O2", 300)]
    # the product total still adds the deleting order's price (its own merge matched and updated)
    assert sorted(vals(h.of("prod"), "productId", "totalPrice")) == [("P1", 11.0), ("P2", 3.0)]


ON_DELETE = "InfraNamedWindowOnDelete"


@pytest.mark.esper("nw-on-delete", cite=ON_DELETE + ".InfraNamedWindowSilentDeleteOnDelete (without the hint, "
                   "which only silences the window's own listener)")
def test_on_delete_over_a_length_window() -> None:
    h = Harness("""
        create window MyWindow#length(2) as (theString string, intPrimitive int);
        insert into MyWindow select theString, intPrimitive from Flow(kind = 'sb');
        @Name('delete') on Flow(kind = 's0') as s0 delete from MyWindow where s0.p00 = theString;
        @Name('count') select count(*) as cnt from MyWindow;
    """)
    steps = [("sb", "E1"), ("s0", "E1"), ("sb", "E2"), ("sb", "E3"), ("sb", "E4"), ("s0", "E4"), ("s0", "E3"),
             ("s0", "EX")]
    for t, (kind, s) in enumerate(steps):
        if kind == "sb":
            h.send(t, kind="sb", theString=s, intPrimitive=t)
        else:
            h.send(t, kind="s0", p00=s)
    assert [(r.time_ms, r.values["cnt"]) for r in h.of("count")] == [
        (0, 1), (1, 0), (2, 1), (3, 2), (4, 2), (5, 1), (6, 0)]
    assert [(r.time_ms, r.values["theString"]) for r in h.of("delete")] == [(1, "E1"), (5, "E4"), (6, "E3")]


@pytest.mark.esper("nw-on-delete", cite=ON_DELETE + ".InfraFirstUnique")
def test_on_delete_from_a_firstunique_window_frees_the_key() -> None:
    h = Harness("""
        create window MyWindowFU#firstunique(theString) as (theString string, intPrimitive int);
        insert into MyWindowFU select theString, intPrimitive from Flow(kind = 'sb');
        @Name('delete') on Flow(kind = 'a') as a delete from MyWindowFU where theString = a.id;
        @Name('dump') on Flow(kind = 'dump') select * from MyWindowFU;
    """)
    h.send(1, kind="sb", theString="A", intPrimitive=1)
    h.send(2, kind="sb", theString="A", intPrimitive=2)
    h.send(3, kind="a", id="A")
    assert vals(h.of("delete"), "theString", "intPrimitive") == [("A", 1)]
    h.send(4, kind="sb", theString="A", intPrimitive=3)
    h.send(5, kind="dump")
    assert vals(h.of("dump"), "theString", "intPrimitive") == [("A", 3)]
    h.send(6, kind="a", id="A")
    h.send(7, kind="dump")
    assert len(h.of("dump")) == 1


@pytest.mark.esper("nw-on-delete", cite=ON_DELETE + ".InfraCoercionKeyMultiPropIndexes (d1-d4: numeric "
                   "coercion, null keys, two-property conditions)")
def test_on_delete_lookups_coerce_numbers_and_never_match_null() -> None:
    h = Harness("""
        create window MyWindowCK#keepall as (theString string, intPrimitive int, intBoxed int,
                                             doublePrimitive double, doubleBoxed double);
        insert into MyWindowCK select theString, intPrimitive, intBoxed, doublePrimitive, doubleBoxed
            from Flow(theString like 'E%');
        @Name('d1') on Flow(theString = 'DB') as s0 delete from MyWindowCK as win
            where win.intPrimitive = s0.doubleBoxed;
        @Name('d2') on Flow(theString = 'DP') as s0 delete from MyWindowCK as win
            where win.intPrimitive = s0.doublePrimitive;
        @Name('d3') on Flow(theString = 'IB') as s0 delete from MyWindowCK
            where MyWindowCK.intPrimitive = s0.intBoxed;
        @Name('d4') on Flow(theString = 'IPDP') as s0 delete from MyWindowCK as win
            where win.intPrimitive = s0.intPrimitive and win.doublePrimitive = s0.doublePrimitive;
    """)
    t = 0

    def send(s: str, i: int, ib: int | None, d: float, db: float | None) -> None:
        nonlocal t
        t += 1
        h.send(t, theString=s, intPrimitive=i, intBoxed=ib, doublePrimitive=d, doubleBoxed=db)

    for k in range(1, 5):
        send(f"E{k}", k, k * 10, k * 100.0, k * 1000.0)
    send("DB", 0, 0, 0.0, None)
    send("DB", 0, 0, 0.0, 3.0)
    send("DP", 0, 0, 5.0, None)
    send("DP", 0, 0, 4.0, None)
    send("IB", 0, -1, 0.0, None)
    send("IB", 0, 1, 0.0, None)
    for k in range(5, 8):
        send(f"E{k}", k, k * 10, k * 100.0, k * 1000.0)
    send("IPDP", 5, 0, 500.0, None)
    deleted = [(r.statement, r.values["theString"]) for r in h.rows if r.statement.startswith("d")]
    assert deleted == [("d1", "E3"), ("d2", "E4"), ("d3", "E1"), ("d4", "E5")]


@pytest.mark.esper("nw-join", cite="Esper reference, 'Joining Event Streams' with a named window as a stream "
                   "(InfraNamedWindowJoin: 'from SupportBean_S0#lastevent as s0, MyWindowWUJ as win')")
def test_a_join_with_a_named_window_fires_when_either_side_posts() -> None:
    h = Harness("""
        create window Scanners#unique(ip) as (ip string, reason string);
        insert into Scanners select ip, reason from Flow(kind = 'scanner');
        insert into F select src from Flow(kind = 'flow');
        @Name('j') select f.src as src, s.reason as reason from F#lastevent as f, Scanners as s where s.ip = f.src;
    """)
    h.send(0, kind="flow", src="10.0.0.1")  # nothing to join yet
    h.send(1000, kind="scanner", ip="10.0.0.1", reason="sweep")  # the window posts: joins the last flow
    h.send(2000, kind="flow", src="10.0.0.1")
    h.send(3000, kind="scanner", ip="10.0.0.1", reason="known")  # unique: the new row joins, the old leaves
    h.send(4000, kind="flow", src="10.0.0.2")
    assert [(r.time_ms, r.values["reason"]) for r in h.of("j")] == [(1000, "sweep"), (2000, "sweep"), (3000, "known")]


@pytest.mark.esper("nw-on-select", cite=DOC + ", 'Triggered Select and Delete: the On Select Delete clause' (the "
                   "selected rows are removed from the window)")
def test_on_select_and_delete_outputs_then_removes_the_rows() -> None:
    h = Harness("""
        create window W#keepall as (k string, v int);
        insert into W select k, v from Flow(kind = 'r');
        @Name('sd') on Flow(kind = 'q') as q select and delete w.k as k, w.v as v from W as w where w.k = q.k;
        @Name('c') select count(*) as n from W;
    """)
    h.send(0, kind="r", k="a", v=1)
    h.send(1, kind="r", k="b", v=2)
    h.send(2, kind="r", k="a", v=3)
    h.send(3, kind="q", k="a")
    h.send(4, kind="q", k="a")  # nothing left to select
    assert [(r.time_ms, r.values["k"], r.values["v"]) for r in h.of("sd")] == [(3, "a", 1), (3, "a", 3)]
    # the consumer sees both rows leave in one step
    assert [(r.time_ms, r.values["n"]) for r in h.of("c")] == [(0, 1), (1, 2), (2, 3), (3, 1)]


@pytest.mark.esper("nw-on-select", cite="InfraNamedWindowOnSelect.InfraNamedWindowOnSelectSceneTwo (on-select insert "
                   "into a stream another statement also fills; select *: the window's rows; ORDER BY, here "
                   "descending so that it shows)")
def test_on_select_insert_into_feeds_a_shared_stream() -> None:
    h = Harness("""
        create window MyWindow#keepall as (theString string, intPrimitive int);
        insert into MyWindow select theString, intPrimitive from Flow(kind = 'sb' and theString like 'E%');
        @Name('select') on Flow(kind = 'a') insert into MyStream select * from MyWindow as mywin
            order by theString desc;
        @Name('consumer') select theString, intPrimitive from MyStream;
        insert into MyStream select theString, intPrimitive from Flow(kind = 'sb' and theString like 'I%');
        on Flow(kind = 'b') delete from MyWindow;
    """)

    def sb(t: int, s: str, i: int) -> None:
        h.send(t, kind="sb", theString=s, intPrimitive=i)

    sb(1, "E1", 1)
    assert h.of("select") == [] and h.of("consumer") == []
    h.send(2, kind="a")
    sb(3, "I2", 2)
    sb(4, "E3", 3)
    h.send(5, kind="a")
    h.send(6, kind="b")  # deletes every row
    h.send(7, kind="a")  # nothing to select
    assert [(r.time_ms, r.values["theString"]) for r in h.of("select")] == [(2, "E1"), (5, "E3"), (5, "E1")]
    assert [(r.time_ms, r.values["theString"], r.values["intPrimitive"]) for r in h.of("consumer")] == [
        (2, "E1", 1), (3, "I2", 2), (5, "E3", 3), (5, "E1", 1)]
