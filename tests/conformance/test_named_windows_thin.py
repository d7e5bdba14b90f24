"""Named windows beyond the first cases: each view with on-delete (a deleted row frees its
place in the view), time expiry after deletes, on-select and on-update forms, on-merge clause
order, and what is refused. Expected rows from Esper's regression tests (espertechinc/esper,
regression-lib ``suite/infra/namedwindow``: InfraNamedWindowViews, ...OnMerge, ...OnSelect,
...OnUpdate) and the reference chapter "Named Windows and Tables". An on-select of every row
("dump") stands for the tests' iterator assertions; a ``count(*)`` consumer shows the remove
stream (a consumer's ``select irstream`` is refused)."""

from __future__ import annotations

from typing import Any

import pytest

from flowcep_plugin.engine.compiler import compile_module
from flowcep_plugin.engine.harness import Harness
from flowcep_plugin.errors import EPLError

V = "InfraNamedWindowViews.{}"
DOC = "Esper reference, 'Named Windows and Tables', {}"


def esper(construct: str, cite: str) -> Any:
    return pytest.mark.esper(construct, cite=f"espertechinc/esper {cite}")


def vals(rows: list[Any], *keys: str) -> list[tuple[Any, ...]]:
    return [tuple(r.values[k] for k in keys) for r in rows]


def _window(view: str) -> Harness:
    return Harness(f"""
        create window W{view} as (k string, v int);
        insert into W select k, v from Flow(kind = 'r');
        @Name('del') on Flow(kind = 'd') as d delete from W where k = d.k;
        @Name('c') select count(*) as n from W;
        @Name('dump') on Flow(kind = 'dump') select k, v from W;
    """)


def _script(h: Harness) -> dict[str, Any]:
    steps: list[tuple[str, str, int]] = [("r", "E1", 1), ("r", "E2", 2), ("r", "E3", 3), ("d", "E2", 0),
                                         ("r", "E4", 4), ("dump", "", 0), ("r", "E1", 5), ("dump", "", 0)]
    for t, (kind, k, v) in enumerate(steps, start=1):
        h.send(t, kind=kind, k=k, v=v)
    dumps: dict[int, list[tuple[Any, ...]]] = {}
    for r in h.of("dump"):
        dumps.setdefault(r.time_ms, []).append((r.values["k"], r.values["v"]))
    return {"del": [(r.time_ms, r.values["k"]) for r in h.of("del")],
            "count": [(r.time_ms, r.values["n"]) for r in h.of("c")], "dumps": dumps}


@esper("nw-views", V.format("InfraLengthWindow (a deleted row leaves the length window: the next arrival "
                            "pushes nothing out)"))
def test_length_window_delete_frees_a_place() -> None:
    got = _script(_window("#length(3)"))
    assert got["del"] == [(4, "E2")]
    assert got["count"] == [(1, 1), (2, 2), (3, 3), (4, 2), (5, 3), (7, 3)]
    assert got["dumps"] == {6: [("E1", 1), ("E3", 3), ("E4", 4)], 8: [("E3", 3), ("E4", 4), ("E1", 5)]}


@esper("nw-views", V.format("InfraUnique (a new row of a key replaces the old one; a deleted key is free)"))
def test_unique_window_delete_and_replace() -> None:
    got = _script(_window("#unique(k)"))
    assert got["count"] == [(1, 1), (2, 2), (3, 3), (4, 2), (5, 3), (7, 3)]
    assert sorted(got["dumps"][8]) == [("E1", 5), ("E3", 3), ("E4", 4)]


@esper("nw-views", V.format("InfraFirstUnique (later rows of a key are not inserted, not posted)"))
def test_firstunique_window_keeps_the_first_row() -> None:
    got = _script(_window("#firstunique(k)"))
    assert got["count"] == [(1, 1), (2, 2), (3, 3), (4, 2), (5, 3)]
    assert sorted(got["dumps"][8]) == [("E1", 1), ("E3", 3), ("E4", 4)]


@esper("nw-views", V.format("InfraLastEvent (one row; an on-delete of a row no longer held deletes nothing)"))
def test_lastevent_window() -> None:
    got = _script(_window("#lastevent"))
    assert got["del"] == []
    assert got["count"] == [(1, 1), (2, 1), (3, 1), (5, 1), (7, 1)]
    assert got["dumps"] == {6: [("E4", 4)], 8: [("E1", 5)]}


@esper("nw-views", V.format("InfraKeepAllSceneTwo (keepall: only deletes remove rows)"))
def test_keepall_window_only_deletes_remove() -> None:
    got = _script(_window("#keepall"))
    assert got["count"] == [(1, 1), (2, 2), (3, 3), (4, 2), (5, 3), (7, 4)]
    assert got["dumps"][8] == [("E1", 1), ("E3", 3), ("E4", 4), ("E1", 5)]


@esper("nw-views", V.format("InfraKeepAllSceneTwo (insert into MyWindow(key, value) select irstream ...; "
                            "on SupportMarketDataBean delete where s0.symbol = s1.key; iterator after each step)"))
def test_keepall_scene_two() -> None:
    h = Harness("""
        create window MyWindow#keepall as select theString as key, intBoxed as value from Flow;
        insert into MyWindow(key, value) select irstream theString, intBoxed from Flow(kind = 'sb');
        @Name('delete') on Flow(kind = 'md') as s0 delete from MyWindow as s1 where s0.symbol = s1.key;
        @Name('dump') on Flow(kind = 'dump') select key, value from MyWindow;
    """)
    t = 0
    dumps = []

    def send(**p: Any) -> None:
        nonlocal t
        t += 1
        h.send(t, **p)

    def dump() -> None:
        n = len(h.of("dump"))
        send(kind="dump")
        dumps.append(vals(h.of("dump")[n:], "key", "value"))

    for g, v in (("G1", 10), ("G2", 20)):
        send(kind="sb", theString=g, intBoxed=v)
    send(kind="md", symbol="G2")
    dump()
    send(kind="sb", theString="G3", intBoxed=30)
    send(kind="md", symbol="G1")
    dump()
    for g, v in (("G4", 40), ("G5", 50), ("G6", 60)):
        send(kind="sb", theString=g, intBoxed=v)
    send(kind="md", symbol="G6")
    dump()
    assert vals(h.of("delete"), "key", "value") == [("G2", 20), ("G1", 10), ("G6", 60)]
    assert dumps == [[("G1", 10)], [("G3", 30)], [("G3", 30), ("G4", 40), ("G5", 50)]]


@esper("nw-views", V.format("InfraExtTimeWindowSceneThree (win:time(10 sec) with on SupportBean_A delete: "
                            "a deleted row does not expire later; E2 leaves at 13000, not 12999)"))
def test_time_window_with_deletes_expires_the_rest() -> None:
    h = Harness("""
        create window ABCWin#time(10 sec) as (theString string);
        insert into ABCWin select theString from Flow(kind = 'sb');
        on Flow(kind = 'a') as a delete from ABCWin where theString = a.id;
        @Name('c') select count(*) as n from ABCWin;
    """)
    h.watermark(0)
    h.send(1000, kind="sb", theString="E1")
    h.send(2000, kind="a", id="E1")
    h.send(3000, kind="sb", theString="E2")
    h.send(3000, kind="sb", theString="E3")
    h.send(3000, kind="a", id="E3")
    h.watermark(12999)
    assert [(r.time_ms, r.values["n"]) for r in h.of("c")] == [(1000, 1), (2000, 0), (3000, 1), (3000, 2),
                                                               (3000, 1)]
    h.watermark(13000)
    assert [(r.time_ms, r.values["n"]) for r in h.of("c")][-1] == (13000, 0)
    h.watermark(100000)
    assert len(h.of("c")) == 6  # nothing else leaves


@esper("nw-consumer", DOC.format("'Querying Named Windows': a consumer's aggregation grouped by the window's "
                                 "key goes down as rows leave"))
def test_grouped_consumer_sees_rows_leave() -> None:
    h = Harness("""
        create window W#length(2) as (k string, v int);
        insert into W select k, v from Flow;
        @Name('g') select k, count(*) as n, sum(v) as s from W group by k;
    """)
    for t, (k, v) in enumerate([("a", 1), ("b", 2), ("a", 3), ("c", 4)], start=1):
        h.send(t, k=k, v=v)
    got = [(r.time_ms, r.values["k"], r.values["n"], r.values["s"]) for r in h.of("g")]
    # at 3: a(3) enters and a(1) leaves; at 4: c enters and b leaves, b is output emptied
    assert got[:3] == [(1, "a", 1, 1), (2, "b", 1, 2), (3, "a", 1, 3)]
    assert sorted(got[3:], key=repr) == sorted([(4, "c", 1, 4), (4, "b", 0, None)], key=repr)


@esper("nw-consumer", "InfraNamedWindowViews.InfraFilteringConsumer (a consumer's filter applies to the rows "
       "that enter and to those that leave)")
def test_filtering_consumer_counts_only_its_rows() -> None:
    h = Harness("""
        create window W#length(2) as (k string, v int);
        insert into W select k, v from Flow;
        @Name('c') select count(*) as n from W(v > 1);
    """)
    for t, (k, v) in enumerate([("a", 1), ("b", 2), ("c", 3), ("d", 0)], start=1):
        h.send(t, k=k, v=v)
    # a is filtered out; c pushes a out (no change to the filtered count); d pushes b out
    assert [(r.time_ms, r.values["n"]) for r in h.of("c")] == [(2, 1), (3, 2), (4, 1)]


@esper("nw-on-delete", DOC.format("'Deleting Data From Named Windows' (no WHERE: every row is deleted)"))
def test_on_delete_without_where_empties_the_window() -> None:
    h = Harness("""
        create window W#keepall as (k string, v int);
        insert into W select k, v from Flow(kind = 'r');
        @Name('d') on Flow(kind = 'x') delete from W;
        @Name('c') select count(*) as n from W;
    """)
    h.send(1, kind="r", k="a", v=1)
    h.send(2, kind="r", k="b", v=2)
    h.send(3, kind="x")
    h.send(4, kind="x")
    assert vals(h.of("d"), "k") == [("a",), ("b",)]
    assert [(r.time_ms, r.values["n"]) for r in h.of("c")] == [(1, 1), (2, 2), (3, 0)]


@esper("nw-on-delete", DOC.format("'Deleting Data From Named Windows' (a WHERE with a non-equality of the "
                                  "trigger and the window row)"))
def test_on_delete_with_a_range_condition() -> None:
    h = Harness("""
        create window W#keepall as (k string, v int);
        insert into W select k, v from Flow(kind = 'r');
        @Name('d') on Flow(kind = 'x') as x delete from W as w where w.v > x.v;
    """)
    for t, (k, v) in enumerate([("a", 1), ("b", 5), ("c", 7)], start=1):
        h.send(t, kind="r", k=k, v=v)
    h.send(4, kind="x", v=2)
    h.send(5, kind="x", v=0)
    assert [(r.time_ms, r.values["k"]) for r in h.of("d")] == [(4, "b"), (4, "c"), (5, "a")]


@esper("nw-on-select", DOC.format("'Triggered Select on Named Windows' (the select list may read the trigger; "
                                  "no matching row: no output)"))
def test_on_select_reads_trigger_and_window() -> None:
    h = Harness("""
        create window W#keepall as (k string, v int);
        insert into W select k, v from Flow(kind = 'r');
        @Name('s') on Flow(kind = 'q') as q select q.id as id, w.v as v, q.id * w.v as p from W as w where w.k = q.k;
    """)
    h.send(1, kind="r", k="a", v=3)
    h.send(2, kind="q", k="b", id=7)
    h.send(3, kind="q", k="a", id=8)
    assert [(r.time_ms, r.values["id"], r.values["v"], r.values["p"]) for r in h.of("s")] == [(3, 8, 3, 24)]


@esper("nw-on-select", DOC.format("'Triggered Select on Named Windows' (WHERE on window columns only, ORDER BY "
                                  "over one trigger's rows)"))
def test_on_select_where_and_order_by() -> None:
    h = Harness("""
        create window W#keepall as (k string, v int);
        insert into W select k, v from Flow(kind = 'r');
        @Name('s') on Flow(kind = 'q') select k, v from W where v >= 2 order by v desc;
    """)
    for t, (k, v) in enumerate([("a", 1), ("b", 2), ("c", 3)], start=1):
        h.send(t, kind="r", k=k, v=v)
    h.send(4, kind="q")
    assert vals(h.of("s"), "k", "v") == [("c", 3), ("b", 2)]


@esper("nw-on-update", "InfraNamedWindowOnUpdate; " + DOC.format("'Updating Data in Named Windows' (an update "
       "keeps the row's place and expiry time in a time window; consumers see old and new)"))
def test_on_update_keeps_the_expiry_time() -> None:
    h = Harness("""
        create window W#time(10 sec) as (k string, v int);
        insert into W select k, v from Flow(kind = 'r');
        on Flow(kind = 'u') as u update W set v = u.v where k = u.k;
        @Name('c') select count(*) as n, sum(v) as s from W;
    """)
    h.send(0, kind="r", k="a", v=1)
    h.send(5000, kind="u", k="a", v=9)
    h.watermark(20000)
    assert [(r.time_ms, r.values["n"], r.values["s"]) for r in h.of("c")] == [(0, 1, 1), (5000, 1, 9),
                                                                              (10000, 0, None)]


@esper("nw-on-update", DOC.format("'Updating Data in Named Windows' (assignments run in order, each seeing "
                                  "the ones before; no WHERE updates every row)"))
def test_on_update_every_row_in_order() -> None:
    h = Harness("""
        create window W#keepall as (k string, a int, b int);
        insert into W select k, a, b from Flow(kind = 'r');
        on Flow(kind = 'u') update W set a = a + 1, b = a * 10;
        @Name('dump') on Flow(kind = 'dump') select k, a, b from W;
    """)
    h.send(1, kind="r", k="x", a=1, b=0)
    h.send(2, kind="r", k="y", a=5, b=0)
    h.send(3, kind="u")
    h.send(4, kind="dump")
    assert vals(h.of("dump"), "k", "a", "b") == [("x", 2, 20), ("y", 6, 60)]


MERGE = """
    create window W#keepall as (k string, v int);
    @Name('m') on Flow(kind = 't') as t merge W as w where w.k = t.k
        when not matched and t.v > 10 then insert select t.k as k, t.v * 100 as v
        when not matched then insert select t.k as k, t.v as v
        when matched and t.v < 0 then delete
        when matched then update set v = w.v + t.v;
    @Name('c') select count(*) as n, sum(v) as s from W;
    @Name('dump') on Flow(kind = 'dump') select k, v from W;
"""


@esper("nw-on-merge", "InfraNamedWindowOnMerge; " + DOC.format("'Triggered Upsert using the On-Merge Clause' "
       "(the first when-clause whose condition holds is the one that runs)"))
def test_merge_first_matching_clause_wins() -> None:
    h = Harness(MERGE)
    h.send(1, kind="t", k="a", v=20)   # not matched, v > 10: 2000
    h.send(2, kind="t", k="b", v=2)    # not matched: 2
    h.send(3, kind="t", k="a", v=1)    # matched: 2001
    h.send(4, kind="t", k="b", v=-1)   # matched and v < 0: deleted
    h.send(5, kind="dump")
    assert vals(h.of("dump"), "k", "v") == [("a", 2001)]
    assert [(r.time_ms, r.values["n"], r.values["s"]) for r in h.of("c")] == [(1, 1, 2000), (2, 2, 2002),
                                                                              (3, 2, 2003), (4, 1, 2001)]


@esper("nw-on-merge", DOC.format("'Triggered Upsert using the On-Merge Clause' (no WHERE: every row matches)"))
def test_merge_without_where_updates_every_row() -> None:
    h = Harness("""
        create window W#keepall as (k string, v int);
        insert into W select k, v from Flow(kind = 'r');
        on Flow(kind = 't') as t merge W as w when matched then update set v = w.v * 2;
        @Name('dump') on Flow(kind = 'dump') select k, v from W;
    """)
    h.send(1, kind="r", k="a", v=1)
    h.send(2, kind="r", k="b", v=2)
    h.send(3, kind="t")
    h.send(4, kind="dump")
    assert vals(h.of("dump"), "k", "v") == [("a", 2), ("b", 4)]


@esper("nw-on-merge", DOC.format("'Triggered Upsert using the On-Merge Clause' (an empty window: every "
                                 "trigger is not matched; a when not matched whose condition fails inserts nothing)"))
def test_merge_not_matched_condition_false_inserts_nothing() -> None:
    h = Harness("""
        create window W#keepall as (k string, v int);
        on Flow(kind = 't') as t merge W as w where w.k = t.k
            when not matched and t.v > 0 then insert select t.k as k, t.v as v;
        @Name('dump') on Flow(kind = 'dump') select k, v from W;
    """)
    h.send(1, kind="t", k="a", v=0)
    h.send(2, kind="t", k="b", v=3)
    h.send(3, kind="t", k="b", v=4)  # matched: no matched clause, nothing happens
    h.send(4, kind="dump")
    assert vals(h.of("dump"), "k", "v") == [("b", 3)]


REFUSED = [
    ("create window W#ext_timed(v, 10 sec) as (k string, v long)", "ext_timed",
     V.format("InfraExtTimeWindow")),
    ("create window W#time_batch(1 sec) as (k string, v long)", "time_batch", V.format("InfraTimeBatch")),
    ("create window W#length_batch(2) as (k string, v long)", "length_batch", V.format("InfraLengthBatch")),
    ("create window W#sort(2, v) as (k string, v long)", "sort", V.format("InfraSortWindow")),
    ("create window W#time_order(v, 10 sec) as (k string, v long)", "time_order", V.format("InfraTimeOrderWindow")),
    ("create window W#firstevent as (k string, v long)", "firstevent", V.format("InfraFirstEvent")),
    ("create window W#firstlength(2) as (k string, v long)", "firstlength", V.format("InfraLengthFirstWindow")),
    ("create window W#length(2)#unique(k) as (k string, v long)", "chained views", V.format("InfraIntersection")),
    ("create window W#groupwin(k)#length(2) as (k string, v long)", "chained views",
     V.format("InfraLengthWindowPerGroup")),
]


@pytest.mark.parametrize(("epl", "name"), [
    pytest.param(e, n, id=n, marks=esper("unsupported-is-an-error", c + ": a named window view the engine does "
                                         "not run is a compile error naming it"))
    for e, n, c in REFUSED])
def test_unsupported_named_window_views_are_refused(epl: str, name: str) -> None:
    with pytest.raises(EPLError) as err:
        compile_module("@Name('w')\n" + epl, "<t>")
    assert str(err.value).startswith("<t>:2:") and name in str(err.value), str(err.value)


REFUSED_STMTS = [
    ("select irstream k from W", "irstream", V.format("InfraExtTimeWindowSceneThree (select irstream * from "
                                                      "ABCWin)")),
    ("select rstream k from W", "rstream", "InfraNamedWindowRemoveStream"),
    ("on Flow(kind = 'q') select count(*) as n from W", "aggregate", "InfraNamedWindowOnSelect "
     "(aggregation in on-select)"),
    ("select k from W#length(2)", "data window", V.format("InfraNamedWindowInvalidConsumerDataWindow")),
]


@pytest.mark.parametrize(("stmt", "name"), [
    pytest.param(s, n, id=n, marks=esper("unsupported-is-an-error", c + ": refused with line, column and the "
                                         "construct"))
    for s, n, c in REFUSED_STMTS])
def test_unsupported_named_window_statements_are_refused(stmt: str, name: str) -> None:
    with pytest.raises(EPLError) as err:
        compile_module("create window W#keepall as (k string, v int);\n@Name('s0')\n" + stmt, "<t>")
    assert str(err.value).startswith("<t>:3:") and name in str(err.value), str(err.value)


@esper("nw-subquery", "InfraNamedWindowSubquery.InfraSubqueryWithFilterInParens (exists over MyWindow(theString='E1'))")
def test_subquery_exists_over_a_named_window_with_a_filter() -> None:
    h = Harness("""
        create window MyWindow#keepall as (theString string, intPrimitive int);
        insert into MyWindow select theString, intPrimitive from Flow(kind = 'sb');
        @Name('s0') select exists (select * from MyWindow(theString='E1')) as c0 from Flow(kind = 's0');
    """)
    got = []
    for t, (kind, s) in enumerate([("s0", ""), ("sb", "E2"), ("s0", ""), ("sb", "E1"), ("s0", "")], start=1):
        got += [r.values["c0"] for r in h.send(t, kind=kind, theString=s, intPrimitive=1) if r.statement == "s0"]
    assert got == [False, False, True]


@esper("nw-subquery", DOC.format("'Using Named Windows' (a subquery reads the window's current rows: inserts, "
                                 "on-delete and expiry all show)") + "; InfraNamedWindowSubquery")
def test_subquery_over_a_named_window_sees_deletes() -> None:
    h = Harness("""
        create window W#keepall as (k string, v int);
        insert into W select k, v from Flow(kind = 'r');
        @Name('s0') select id, (select count(*) from W) as n, (select v from W where k = q.k) as v,
            exists (select * from W where k = q.k) as e from Flow(kind = 'q') as q;
        on Flow(kind = 'd') as d delete from W where k = d.k;
    """)
    h.send(1, kind="r", k="a", v=1)
    h.send(2, kind="q", id=1, k="a")
    h.send(3, kind="r", k="b", v=2)
    h.send(4, kind="q", id=2, k="b")
    h.send(5, kind="d", k="a")
    h.send(6, kind="q", id=3, k="a")
    assert vals(h.of("s0"), "id", "n", "v", "e") == [(1, 1, 1, True), (2, 2, 2, True), (3, 1, None, False)]


@esper("nw-subquery", DOC.format("'Using Named Windows' (a subquery over a #time named window: rows that expired "
                                 "are gone)"))
def test_subquery_over_a_time_named_window() -> None:
    h = Harness("""
        create window W#time(10 sec) as (k string, v int);
        insert into W select k, v from Flow(kind = 'r');
        @Name('s0') select (select sum(v) from W) as s from Flow(kind = 'q');
    """)
    h.send(0, kind="r", k="a", v=1)
    h.send(5000, kind="r", k="b", v=2)
    h.send(9999, kind="q")
    h.send(10000, kind="q")
    h.send(15000, kind="q")
    assert [(r.time_ms, r.values["s"]) for r in h.of("s0")] == [(9999, 3), (10000, 2), (15000, None)]


@esper("unsupported-is-an-error", DOC.format("'Using Named Windows'") + " (a data window on a named window in a "
       "subquery: the window's own view applies): refused at its line and column")
def test_subquery_data_window_on_a_named_window_is_refused() -> None:
    with pytest.raises(EPLError) as err:
        compile_module("create window W#keepall as (k string, v int);\n@Name('s0')\nselect (select v from W#length(2)) "
                       "as v from Flow", "<t>")
    assert str(err.value).startswith("<t>:3:") and "named window W in a subquery" in str(err.value), str(err.value)


@esper("nw-subquery", DOC.format("'Using Named Windows'") + " and 'Subqueries' (a consumer's subqueries are "
       "evaluated as it takes the window's rows: one over another stream, one over the window itself, which "
       "already holds the new row)")
def test_consumer_with_subqueries() -> None:
    h = Harness("""
        create window W#length(2) as (k string, v int);
        insert into W select k, v from Flow(kind = 'r');
        @Name('s1') select k, (select count(*) from W) as c, (select count(*) from Flow(kind = 'f')#keepall) as f from W;
    """)
    for t, (kind, k, v) in enumerate([("r", "a", 1), ("f", "x", 0), ("r", "b", 2), ("r", "c", 3)], start=1):
        h.send(t, kind=kind, k=k, v=v)
    assert vals(h.of("s1"), "k", "c", "f") == [("a", 1, 0), ("b", 2, 1), ("c", 2, 1)]


@esper("nw-subquery", DOC.format("'Using Named Windows'") + " (WHERE with a subquery over the consumed window also "
       "filters the rows leaving it: a, pushed out by c, is no longer in the window, so the count keeps it)")
def test_consumer_where_subquery_over_its_own_window() -> None:
    h = Harness("""
        create window W#length(2) as (k string, v int);
        insert into W select k, v from Flow(kind = 'r');
        @Name('s0') select count(*) as n from W where v in (select v from W);
    """)
    for t, (k, v) in enumerate([("a", 1), ("b", 2), ("c", 3)], start=1):
        h.send(t, kind="r", k=k, v=v)
    assert vals(h.of("s0"), "n") == [(1,), (2,), (3,)]


@esper("unsupported-is-an-error", "Esper reference, 'Match Recognize' over a named window: refused at its line and "
       "column (it crashed at run time before)")
def test_match_recognize_over_a_named_window_is_refused() -> None:
    with pytest.raises(EPLError) as err:
        compile_module("create window W#keepall as (k string, v int);\n@Name('s0')\nselect * from W match_recognize "
                       "(measures A.k as a pattern (A B) define B as B.v > A.v)", "<t>")
    assert str(err.value).startswith("<t>:3:") and "match_recognize over named window W" in str(err.value)
