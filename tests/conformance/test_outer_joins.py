"""Explicit JOIN syntax: inner, left, right and full outer joins, 2 and 3 streams, unidirectional.

Expected rows are the assertions of Esper's regression tests (espertechinc/esper,
regression-lib/.../suite/epl/join/): each event the test sends is sent here in the same order
through derived streams ``S0``, ``S1``, ``S2`` (``SupportBean_S0`` ... with ``id``, ``p00`` ...),
and the new rows after each event are compared with the test's ``assertPropsNew`` /
``assertListenerNotInvoked``. Only the insert stream is compared (FlowCEP has no remove stream).
"""

from __future__ import annotations

import random
from typing import Any

import pytest

from flowcep_plugin.engine.harness import Harness

OJ2 = "EPLOuterJoin2Stream"
OJ3 = "EPLOuterJoinVarA3Stream"
DOC = "Esper reference, EPL Reference: Clauses, 'Outer, Inner, Cross and Unidirectional Joins'"

ROUTES = """
insert into S0 select id, p00, p01 from Flow where kind = 's0';
insert into S1 select id, p10, p11 from Flow where kind = 's1';
insert into S2 select id, p20, p21 from Flow where kind = 's2';
"""


class Run:
    """Sends SupportBean_Sx-like events one at a time; ``send`` returns the new rows of 's0'."""

    def __init__(self, stmt: str, fields: tuple[str, ...]) -> None:
        self.h = Harness(ROUTES + "@Name('s0') " + stmt)
        self.fields = fields
        self.t = 0

    def send(self, kind: str, ident: int, a: Any = None, b: Any = None) -> list[tuple[Any, ...]]:
        self.t += 1
        n = kind[1]
        rows = self.h.send(self.t, kind=kind, id=ident, **{f"p{n}0": a, f"p{n}1": b})
        return [tuple(r.values[f] for f in self.fields) for r in rows if r.statement == "s0"]


SEL2 = "select s0.id as i0, s0.p00 as p00, s1.id as i1, s1.p10 as p10 from S0#length(3) as s0 {} outer join S1#length(5) as s1 on s0.p00 = s1.p10"
F2 = ("i0", "p00", "i1", "p10")


def s0(i: int) -> tuple[str, int, str]:
    return ("s0", 100 + i, str(i))


def s1(i: int) -> tuple[str, int, str]:
    return ("s1", 200 + i, str(i))


@pytest.mark.esper("outer-join", cite=f"{OJ2}.EPLJoinLeftOuterJoin")
def test_left_outer_join_two_streams() -> None:
    r = Run(SEL2.format("left"), F2)
    for e in (s1(0), s1(1), s1(3)):
        assert r.send(*e) == []
    assert r.send(*s0(2)) == [(102, "2", None, None)]
    assert r.send(*s1(2)) == [(102, "2", 202, "2")]
    for e in (s1(4), s1(5), s1(6)):
        assert r.send(*e) == []
    assert r.send(*s0(5)) == [(105, "5", 205, "5")]
    assert r.send(*s1(7)) == []
    assert r.send(*s1(8)) == []  # pushes S1[2] out: a remove-stream row only
    assert r.send(*s0(9)) == [(109, "9", None, None)]
    assert r.send(*s0(10)) == [(110, "10", None, None)]


@pytest.mark.esper("outer-join", cite=f"{OJ2}.EPLJoinRightOuterJoin")
def test_right_outer_join_two_streams() -> None:
    r = Run(SEL2.format("right"), F2)
    assert r.send(*s0(0)) == [] and r.send(*s0(1)) == []
    assert r.send(*s1(2)) == [(None, None, 202, "2")]
    assert r.send(*s0(2)) == [(102, "2", 202, "2")]
    assert r.send(*s1(3)) == [(None, None, 203, "3")]
    assert r.send(*s0(3)) == [(103, "3", 203, "3")]
    assert r.send(*s0(4)) == []
    assert r.send(*s0(5)) == []  # pushes S0[2] out: remove stream only
    for i in (6, 7, 8, 9):
        assert r.send(*s1(i)) == [(None, None, 200 + i, str(i))]


@pytest.mark.esper("outer-join", cite=f"{OJ2}.EPLJoinFullOuterJoin")
def test_full_outer_join_two_streams() -> None:
    r = Run(SEL2.format("full"), F2)
    assert r.send(*s0(0)) == [(100, "0", None, None)]
    assert r.send(*s1(1)) == [(None, None, 201, "1")]
    assert r.send(*s1(2)) == [(None, None, 202, "2")]
    assert r.send(*s0(2)) == [(102, "2", 202, "2")]
    assert r.send(*s0(3)) == [(103, "3", None, None)]
    assert r.send(*s1(3)) == [(103, "3", 203, "3")]
    assert r.send(*s0(4)) == [(104, "4", None, None)]
    assert r.send(*s1(4)) == [(104, "4", 204, "4")]
    assert r.send(*s1(5)) == [(None, None, 205, "5")]
    assert r.send(*s1(5)) == [(None, None, 205, "5")]


F6 = ("i0", "i1")


@pytest.mark.esper("outer-join", cite=f"{OJ2}.EPLJoinMultiColumnLeft (two ON conditions)")
def test_left_outer_join_on_two_columns() -> None:
    r = Run("select s0.id as i0, s1.id as i1 from S0#length(3) as s0 left outer join S1#length(5) as s1 "
            "on s0.p00 = s1.p10 and s0.p01 = s1.p11", F6)
    assert r.send("s0", 1, "A_1", "B_1") == [(1, None)]
    assert r.send("s1", 2, "A_1", "B_1") == [(1, 2)]
    assert r.send("s1", 3, "A_2", "B_1") == []
    assert r.send("s1", 4, "A_1", "B_2") == []


@pytest.mark.esper("outer-join", cite=f"{OJ2}.EPLJoinMultiColumnRight")
def test_right_outer_join_on_two_columns() -> None:
    r = Run("select s0.id as i0, s1.id as i1 from S0#length(3) as s0 right outer join S1#length(5) as s1 "
            "on s0.p00 = s1.p10 and s1.p11 = s0.p01", F6)
    assert r.send("s0", 1, "A_1", "B_1") == []
    assert r.send("s1", 2, "A_1", "B_1") == [(1, 2)]
    assert r.send("s1", 3, "A_2", "B_1") == [(None, 3)]
    assert r.send("s1", 4, "A_1", "B_2") == [(None, 4)]


@pytest.mark.esper("outer-join", cite=f"{OJ2}.EPLJoinRangeOuterJoin: WHERE filters the outer join's rows")
@pytest.mark.parametrize("order", ["S0#keepall as sb full outer join S1#keepall as sbr",
                                   "S1#keepall as sbr full outer join S0#keepall as sb"])
def test_where_filters_after_the_outer_join(order: str) -> None:
    # SupportBean(theString, intPrimitive) -> S0(p00, p01); SupportBeanRange(key, start, end) -> S1(p10, p11, id)
    r = Run(f"select sb.p01 as v, sbr.p11 as lo, sbr.id as hi from {order} on sb.p00 = sbr.p10 "
            "where sb.p01 between sbr.p11 and sbr.id", ("v", "lo", "hi"))
    assert r.send("s0", 0, "K1", 10) == []
    assert r.send("s1", 30, "K1", 20) == []
    assert r.send("s0", 0, "K1", 30) == [(30, 20, 30)]
    for v in (40, 31, 19):
        assert r.send("s0", 0, "K1", v) == []
    assert r.send("s1", 41, "K1", 39) == [(40, 39, 41)]
    assert r.send("s1", 40, "K1", 38) == [(40, 38, 40)]
    assert r.send("s1", 42, "K1", 40) == [(40, 40, 42)]
    assert r.send("s1", 42, "K1", 41) == [] and r.send("s1", 39, "K1", 38) == []
    assert sorted(r.send("s0", 0, "K1", 41)) == [(41, 39, 41), (41, 40, 42), (41, 41, 42)]
    assert sorted(r.send("s1", 42, "K1", 35)) == [(40, 35, 42), (41, 35, 42)]


# EPLOuterJoinVarA3Stream: s0 left outer join s1 left outer join s2, in three FROM orders whose
# rows are the same ("right outer join is eliminated/translated")
THREE = {
    "root-s0": "S0#length(1000) as s0 left outer join S1#length(1000) as s1 on s0.p00 = s1.p10 "
               "left outer join S2#length(1000) as s2 on s0.p00 = s2.p20",
    "root-s2": "S2#length(1000) as s2 right outer join S0#length(1000) as s0 on s0.p00 = s2.p20 "
               "left outer join S1#length(1000) as s1 on s0.p00 = s1.p10",
    "root-s1": "S1#length(1000) as s1 right outer join S0#length(1000) as s0 on s0.p00 = s1.p10 "
               "left outer join S2#length(1000) as s2 on s0.p00 = s2.p20",
}


@pytest.mark.esper("outer-join-3", cite=f"{OJ3}.EPLJoinLeftOuterJoinRootS0, RightOuterJoinS2RootS2, "
                   "RightOuterJoinS1RootS1 (tryAssertion)")
@pytest.mark.parametrize("shape", sorted(THREE))
def test_three_stream_left_outer_joins(shape: str) -> None:
    r = Run("select s0.id as a, s1.id as b, s2.id as c from " + THREE[shape], ("a", "b", "c"))
    ids = iter(range(1, 10_000))

    def many(kind: str, key: str, n: int) -> list[int]:
        out = []
        for _ in range(n):
            i = next(ids)
            assert r.send(kind, i, key) == []  # no s0 with that key yet
            out.append(i)
        return out

    def new_s0(key: str) -> list[tuple[Any, ...]]:
        return sorted(r.send("s0", next(ids) + 1000, key), key=repr)

    a1 = many("s1", "A", 2)
    a2 = many("s2", "A", 2)
    rows = r.send("s0", 1001, "A")
    assert sorted(rows) == sorted((1001, b, c) for b in a1 for c in a2)
    assert [x[1:] for x in new_s0("B")] == [(None, None)]
    c1 = many("s1", "C", 1)
    assert [x[1:] for x in new_s0("C")] == [(c1[0], None)]
    e2 = many("s2", "E", 1)
    assert [x[1:] for x in new_s0("E")] == [(None, e2[0])]
    # s1 arriving: inner join to s0, outer to s2
    q0 = r.send("s0", 5000, "Q")
    assert q0 == [(5000, None, None)]
    assert r.send("s2", 5001, "Q") == [(5000, None, 5001)]
    assert r.send("s2", 5002, "Q") == [(5000, None, 5002)]
    assert sorted(r.send("s1", 5003, "Q")) == [(5000, 5003, 5001), (5000, 5003, 5002)]
    assert r.send("s2", 5004, "R") == [] and r.send("s1", 5005, "R") == []
    assert r.send("s0", 5006, "S") == [(5006, None, None)]
    assert r.send("s1", 5007, "S") == [(5006, 5007, None)]
    # s2 arriving: inner join to s0, outer to s1
    assert r.send("s1", 5008, "K") == [] and r.send("s2", 5009, "K") == []
    assert r.send("s0", 5010, "L") == [(5010, None, None)]
    assert r.send("s2", 5011, "L") == [(5010, None, 5011)]
    r.send("s0", 5012, "P")
    r.send("s0", 5013, "P")
    r.send("s1", 5014, "P")
    r.send("s1", 5015, "P")
    assert sorted(r.send("s2", 5016, "P")) == sorted((a, b, 5016) for a in (5012, 5013) for b in (5014, 5015))


@pytest.mark.esper("outer-join-3", cite=f"{OJ3}.EPLJoinLeftOuterJoinRootS0 with select *: each stream's "
                   "event under its name, null for a missing side (getUnderlyingEvents)")
def test_select_star_over_an_outer_join_gives_each_streams_event() -> None:
    h = Harness(ROUTES + "@Name('s0') select * from S0#length(1000) as s0 left outer join S1#length(1000) as s1 "
                "on s0.p00 = s1.p10 left outer join S2#length(1000) as s2 on s0.p00 = s2.p20")
    h.send(1, kind="s1", id=10, p10="C")
    rows = [r.values for r in h.send(2, kind="s0", id=1, p00="C") if r.statement == "s0"]
    assert rows == [{"s0": {"id": 1, "p00": "C"}, "s1": {"id": 10, "p10": "C"}, "s2": None}]


@pytest.mark.esper("outer-join-3", cite=f"{OJ3}.EPLJoinMapLeftJoinUnsortedProps")
def test_three_stream_left_joins_on_unsorted_columns() -> None:
    r = Run("select t1.p00 as a, t1.p01 as b, t2.p10 as c, t2.p11 as d, t3.p20 as e, t3.p21 as f "
            "from S0#keepall as t1 left outer join S1#keepall as t2 on t1.p01 = t2.p11 and t1.p00 = t2.p10 "
            "left outer join S2#keepall as t3 on t1.p00 = t3.p20", ("a", "b", "c", "d", "e", "f"))
    assert r.send("s1", 1, "a1", "b1") == []
    assert r.send("s0", 2, "b1", "a1") == [("b1", "a1", None, None, None, None)]
    assert r.send("s0", 3, "a1", "a1") == [("a1", "a1", None, None, None, None)]
    assert r.send("s0", 4, "b1", "b1") == [("b1", "b1", None, None, None, None)]
    assert r.send("s0", 5, "a1", "b1") == [("a1", "b1", "a1", "b1", None, None)]
    assert r.send("s2", 6, "c1", "b1") == []
    assert r.send("s0", 7, "d1", "b1") == [("d1", "b1", None, None, None, None)]
    assert r.send("s2", 8, "d1", "bx") == [("d1", "b1", None, None, "d1", "bx")]


@pytest.mark.esper("outer-join", cite=f"{DOC}: inner join ... on is the comma join with the ON in WHERE")
def test_inner_join_syntax_is_the_comma_join() -> None:
    evs = _stream(11)
    one = _rows(ROUTES + "@Name('J') select a.id as x, b.id as y from S0#length(3) as a inner join S1#length(2) as b "
                "on a.p00 = b.p10", evs)
    two = _rows(ROUTES + "@Name('J') select a.id as x, b.id as y from S0#length(3) as a, S1#length(2) as b "
                "where a.p00 = b.p10", evs)
    assert sorted(one, key=repr) == sorted(two, key=repr) and one


@pytest.mark.esper("unidirectional", cite="EPLJoinUnidirectionalStream; " + DOC + ": only the "
                   "unidirectional stream's events trigger the join")
def test_unidirectional_join_triggers_on_one_stream_only() -> None:
    r = Run("select s0.id as a, s1.id as b from S0 as s0 unidirectional, S1#keepall as s1 where s0.p00 = s1.p10",
            ("a", "b"))
    assert r.send("s1", 1, "x") == []
    assert r.send("s0", 2, "x") == [(2, 1)]
    assert r.send("s1", 3, "x") == []  # no window on S0: the S0 event is not kept, no trigger from S1
    assert sorted(r.send("s0", 4, "x")) == [(4, 1), (4, 3)]


UNI = "EPLJoinUnidirectionalStream"


@pytest.mark.esper("unidirectional", cite=f"{UNI}.EPLJoin2TableJoinRowForAll: each triggering event "
                   "aggregates its own join rows")
def test_unidirectional_count_per_trigger() -> None:
    r = Run("select count(*) as cnt from S0 as md unidirectional, S1#keepall as sb where sb.p10 = md.p00", ("cnt",))
    assert r.send("s0", 1, "E1") == []
    assert r.send("s1", 10, "E1") == []
    assert r.send("s0", 2, "E1") == [(1,)]
    assert r.send("s1", 20, "E1") == []
    assert r.send("s0", 3, "E1") == [(2,)]
    r.send("s1", 40, "E2")
    assert r.send("s0", 4, "E2") == [(1,)]


@pytest.mark.esper("unidirectional", cite=f"{UNI}.EPLJoinPatternUnidirectionalOuterJoinNoOn (2-stream inner "
                   "join) and tryAssertion2StreamInnerWGroupBy")
def test_unidirectional_sum_and_grouped_count() -> None:
    r = Run("select sum(sb.id) as c0, count(*) as c1 from S0 unidirectional inner join S1#keepall as sb", ("c0", "c1"))
    r.send("s0", 1)
    assert r.send("s1", 100) == []
    assert r.send("s0", 2) == [(100, 1)]
    r.send("s1", 200)
    assert r.send("s0", 3) == [(300, 2)]
    r = Run("select count(*) as c0, sum(e1.p01) as c1, e1.id as c2 from S0 as e1 unidirectional inner join "
            "S1#keepall as e2 on e1.id = e2.id group by e1.p00", ("c0", "c1", "c2"))
    assert r.send("s1", "A", None, 100) == []
    assert r.send("s0", "A", "X", 10) == [(1, 10, "A")]
    assert r.send("s0", "A", "Y", 20) == [(1, 20, "A")]


@pytest.mark.esper("unidirectional", cite=f"{UNI}.EPLJoin2TableFullOuterJoin and ...FullOuterJoinBackwards "
                   "(tryFullOuterPassive2Stream)")
@pytest.mark.parametrize("order", ["S0 as md unidirectional full outer join S1#keepall as sb",
                                   "S1#keepall as sb full outer join S0 as md unidirectional"])
def test_unidirectional_full_outer_join(order: str) -> None:
    r = Run(f"select md.p00 as symbol, md.id as volume, sb.p10 as s, sb.id as i from {order} on sb.p10 = md.p00",
            ("symbol", "volume", "s", "i"))
    assert r.send("s0", 1, "E1") == [("E1", 1, None, None)]
    assert r.send("s1", 10, "E1") == []
    assert r.send("s0", 2, "E1") == [("E1", 2, "E1", 10)]
    assert r.send("s1", 20, "E1") == []


@pytest.mark.esper("unidirectional", cite=f"{UNI}.EPLJoin3TableOuterJoinVar1 and ...Var2 (try3TableOuterJoin)")
@pytest.mark.parametrize("kind", ["full", "left"])
def test_unidirectional_three_stream_outer_join(kind: str) -> None:
    r = Run(f"select s0.id as a, s1.id as b, s2.id as c from S0 as s0 unidirectional {kind} outer join "
            f"S1#keepall as s1 on p00 = p10 {kind} outer join S2#keepall as s2 on p10 = p20", ("a", "b", "c"))
    assert r.send("s0", 1, "E1") == [(1, None, None)]
    assert r.send("s1", 2, "E1") == [] and r.send("s2", 3, "E1") == []
    r.send("s1", 20, "E2")
    assert r.send("s0", 10, "E2") == [(10, 20, None)]
    assert r.send("s2", 30, "E2") == []
    assert r.send("s2", 300, "E3") == []
    assert r.send("s0", 100, "E3") == [(100, None, None)]
    assert r.send("s1", 200, "E3") == []
    r.send("s2", 31, "E4")
    r.send("s1", 21, "E4")
    assert r.send("s0", 11, "E4") == [(11, 21, 31)]
    assert r.send("s2", 32, "E4") == [] and r.send("s1", 22, "E4") == []


@pytest.mark.esper("unidirectional", cite=f"{UNI}.EPLJoinInvalid: a unidirectional stream takes no view")
def test_unidirectional_stream_with_a_view_is_rejected() -> None:
    from flowcep_plugin.engine import compile_module
    from flowcep_plugin.errors import EPLError

    with pytest.raises(EPLError, match="keeps no events"):
        compile_module(ROUTES + "select * from S0#length(2) as a unidirectional full outer join S1#keepall as b "
                       "on a.p00 = b.p10")


# -- results independent of FROM order and batching ---------------------------------------------
def _stream(seed: int, n: int = 60) -> list[tuple[int, dict[str, Any]]]:
    rnd = random.Random(seed)
    t = 0
    out = []
    for i in range(n):
        t += rnd.choice((0, 0, 1, 250, 700))
        kind = rnd.choice(("s0", "s1", "s2"))
        k = str(rnd.randrange(3))
        out.append((t, {"kind": kind, "id": i, "p00": k, "p10": k, "p20": k, "p01": rnd.randrange(5)}))
    return out


def _rows(text: str, events: list[tuple[int, dict[str, Any]]], cut: int = 1) -> list[tuple[Any, ...]]:
    h = Harness(text)
    for i in range(0, len(events), cut):
        h.batch(events[i:i + cut])
    h.flush()
    return [(r.time_ms, tuple(sorted(r.values.items()))) for r in h.rows if r.statement == "J"]


SWAPS = [
    ("S0#length(3) as a left outer join S1#time(1 sec) as b on a.p00 = b.p10",
     "S1#time(1 sec) as b right outer join S0#length(3) as a on a.p00 = b.p10"),
    ("S0#length(3) as a full outer join S1#time(1 sec) as b on a.p00 = b.p10",
     "S1#time(1 sec) as b full outer join S0#length(3) as a on b.p10 = a.p00"),
]
SELECTS = {
    "rows": "select a.id as x, b.id as y from {0}",
    "where": "select a.id as x, b.id as y from {0} where a.p01 > 1 or b.id is null",
    "count": "select a.p00 as k, count(*) as n, count(b.id) as m from {0} group by a.p00",
}


@pytest.mark.esper("join-order", cite=DOC + "; A left outer join B is B right outer join A")
@pytest.mark.parametrize("swap", range(len(SWAPS)))
@pytest.mark.parametrize("shape", sorted(SELECTS))
@pytest.mark.parametrize("seed", [1, 2])
def test_outer_join_from_order_does_not_change_rows(swap: int, shape: str, seed: int) -> None:
    evs = _stream(seed)
    one, two = (sorted(_rows(ROUTES + "@Name('J') " + SELECTS[shape].format(f), evs), key=repr)
                for f in SWAPS[swap])
    assert one == two and one


@pytest.mark.esper("join-batching", cite=DOC + "; events are processed one at a time")
@pytest.mark.parametrize("swap", range(len(SWAPS)))
@pytest.mark.parametrize("shape", sorted(SELECTS))
@pytest.mark.parametrize("seed", [3, 4])
def test_outer_join_batch_cutting_does_not_change_rows(swap: int, shape: str, seed: int) -> None:
    evs = _stream(seed)
    text = ROUTES + "@Name('J') " + SELECTS[shape].format(SWAPS[swap][0])
    assert _rows(text, evs, len(evs)) == _rows(text, evs, 1)


@pytest.mark.esper("join-batching", cite=DOC + "; a self outer join sees each event on each side in turn")
@pytest.mark.parametrize("seed", [5, 6])
def test_self_outer_join_batch_cutting(seed: int) -> None:
    evs = _stream(seed)
    text = ("@Name('J') select x.id as a, y.id as b from Flow#length(2) as x left outer join Flow#length(3) as y "
            "on x.p00 = y.p10 and x.id != y.id")
    assert _rows(text, evs, len(evs)) == _rows(text, evs, 1)


@pytest.mark.esper("outer-join", cite=f"{OJ3}.EPLJoinInvalidMulticolumn (an ON reads its own and earlier streams)")
def test_on_reading_a_later_stream_is_rejected() -> None:
    from flowcep_plugin.engine import compile_module
    from flowcep_plugin.errors import EPLError

    with pytest.raises(EPLError, match="joined later"):
        compile_module(ROUTES + "select * from S0#keepall as a left outer join S1#keepall as b on a.p00 = c.p20 "
                       "left outer join S2#keepall as c on a.p00 = c.p20")


@pytest.mark.esper("outer-join-3", cite="EPLOuterFullJoin3Stream.EPLJoinFullJoin2SidesMulticolumn")
def test_three_stream_full_outer_join_on_two_columns() -> None:
    r = Run("select s0.id as a, s1.id as b, s2.id as c from S0#length(1000) as s0 "
            "full outer join S1#length(1000) as s1 on s0.p00 = s1.p10 and s0.p01 = s1.p11 "
            "full outer join S2#length(1000) as s2 on s0.p00 = s2.p20 and s0.p01 = s2.p21", ("a", "b", "c"))
    keys = (("A_1", "B_1"), ("A_2", "B_1"), ("A_1", "B_2"), ("A_2", "B_2"))
    for i, (x, y) in enumerate(keys):
        assert r.send("s1", 10 + i, x, y) == [(None, 10 + i, None)]
    for i, (x, y) in enumerate(keys):
        assert r.send("s2", 20 + i, x, y) == [(None, None, 20 + i)]
    assert r.send("s0", 1, "A_3", "B_3") == [(1, None, None)]
    assert r.send("s0", 2, "A_1", "B_3") == [(2, None, None)]
    assert r.send("s0", 3, "A_3", "B_1") == [(3, None, None)]
    assert r.send("s0", 4, "A_2", "B_2") == [(4, 13, 23)]
    assert r.send("s0", 5, "A_2", "B_1") == [(5, 11, 21)]
    assert r.send("s1", 14, "A_4", "B_3") == [(None, 14, None)]
    assert r.send("s1", 15, "A_1", "B_3") == [(2, 15, None)]
    assert r.send("s2", 24, "A_1", "B_3") == [(2, 15, 24)]
    assert r.send("s2", 25, "A_2", "B_3") == [(None, None, 25)]
