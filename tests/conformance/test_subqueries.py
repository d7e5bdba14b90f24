"""Subqueries: scalar ``(select ...)``, ``exists``, ``in``/``not in``, correlated and aggregating.

Expected values are the assertions of Esper's regression tests (espertechinc/esper,
regression-lib/.../suite/epl/subselect/): the events each test sends are sent here in the same
order through derived streams ``S0``, ``S1``, ``S2`` (``SupportBean_S0`` ... with ``id``,
``p00``...), or through ``Flow`` itself where Esper's test reads one event type twice
(``SupportBean(theString='A')`` is ``Flow(s = 'A')``).
"""

from __future__ import annotations

import random
from typing import Any

import pytest

from flowcep_plugin.engine import compile_module
from flowcep_plugin.engine.harness import Harness
from flowcep_plugin.errors import EPLError

UNF = "EPLSubselectUnfiltered"
SIN = "EPLSubselectIn"
EXI = "EPLSubselectExists"
AGG = "EPLSubselectAggregatedSingleValue"
DOC = "Esper reference, EPL Reference: Clauses, 'Subqueries'"

ROUTES = """
insert into S0 select id, p00, p01 from Flow where kind = 's0';
insert into S1 select id, p10, p11 from Flow where kind = 's1';
insert into S2 select id, p20 from Flow where kind = 's2';
"""


class Run:
    """Sends SupportBean_Sx-like events one at a time; ``send`` returns the rows of 's0'."""

    def __init__(self, stmt: str, routes: str = ROUTES) -> None:
        self.h = Harness(routes + "@Name('s0') " + stmt)
        self.t = 0

    def send(self, kind: str, ident: Any = None, a: Any = None, b: Any = None, **props: Any) -> list[dict[str, Any]]:
        self.t += 1
        n = kind[1] if kind in ("s0", "s1", "s2") else "0"
        rows = self.h.send(self.t, kind=kind, id=ident, **{f"p{n}0": a, f"p{n}1": b}, **props)
        return [r.values for r in rows if r.statement == "s0"]

    def one(self, kind: str, ident: Any = None, a: Any = None, b: Any = None, **props: Any) -> dict[str, Any]:
        rows = self.send(kind, ident, a, b, **props)
        assert len(rows) == 1, rows
        return rows[0]


# -- scalar subqueries ------------------------------------------------------------------------------
@pytest.mark.esper("subquery-scalar", cite=f"{UNF}.EPLSubselectUnfilteredAsAfterSubselect (#lastevent)")
def test_scalar_subquery_over_lastevent() -> None:
    r = Run("select (select id from S1#lastevent) as idS1 from S0")
    assert r.one("s0", 0) == {"idS1": None}
    r.send("s1", 10)
    assert r.one("s0", 1) == {"idS1": 10}
    assert r.one("s0", 2) == {"idS1": 10}
    r.send("s1", 999)
    assert r.one("s0", 3) == {"idS1": 999}


@pytest.mark.esper("subquery-scalar", cite=f"{UNF}.EPLSubselectUnfilteredUnlimitedStream and "
                   "...LengthWindow: more than one row is null")
@pytest.mark.parametrize("window", ["length(1000)", "length(2)"])
def test_scalar_subquery_with_several_rows_is_null(window: str) -> None:
    r = Run(f"select (select id from S1#{window}) as idS1 from S0")
    assert r.one("s0", 0) == {"idS1": None}
    r.send("s1", 10)
    assert r.one("s0", 1) == {"idS1": 10}
    assert r.one("s0", 2) == {"idS1": 10}
    r.send("s1", 999)
    assert r.one("s0", 3) == {"idS1": None}


@pytest.mark.esper("subquery-scalar", cite=f"{UNF}.EPLSubselectUnfilteredNoAs and ...WithAsWithinSubselect: "
                   "an unaliased subquery column is named after the subquery's column")
@pytest.mark.parametrize(("inner", "name"), [("id", "id"), ("id as myId", "myId")])
def test_unaliased_subquery_column_name(inner: str, name: str) -> None:
    r = Run(f"select (select {inner} from S1#lastevent) from S0")
    assert r.one("s0", 0) == {name: None}
    r.send("s1", 10)
    assert r.one("s0", 1) == {name: 10}


@pytest.mark.esper("subquery-scalar", cite=f"{UNF}.EPLSubselectComputedResult, ...TwoSubqSelect, ...FilterInside")
def test_computed_two_and_filtered_subqueries() -> None:
    r = Run("select 100 * (select id from S1#length(1000)) as v, (select id + 1 as myId from S1#lastevent) as a, "
            "(select id + 2 from S1#lastevent) as b, (select id from S1(p10 = 'A')#length(1000)) as f from S0")
    assert r.one("s0", 0) == {"v": None, "a": None, "b": None, "f": None}
    r.send("s1", 10, "X")
    assert r.one("s0", 1) == {"v": 1000, "a": 11, "b": 12, "f": None}
    r.send("s1", 999, "A")
    assert r.one("s0", 2) == {"v": None, "a": 1000, "b": 1001, "f": 999}


@pytest.mark.esper("subquery-scalar", cite=f"{UNF}.EPLSubselectWhereClauseReturningTrue and "
                   "...WhereClauseWithExpression (a boolean subquery in WHERE)")
def test_boolean_scalar_subquery_in_where() -> None:
    r = Run("select id from S0 where (select true from S1#length(1000))")
    r.send("s1", 10)
    assert r.send("s0", 2) == [{"id": 2}]
    r = Run("select id from S0 where (select p10 = 'X' from S1#length(1000))")
    assert r.send("s0", 0) == []
    r.send("s1", 10, "X")
    assert r.send("s0", 0) == [{"id": 0}]


@pytest.mark.esper("subquery-scalar", cite=f"{UNF}.EPLSubselectSelfSubselect: an inserted event is "
                   "routed after the statements processed the current event")
def test_self_subselect_sees_the_inserted_count_one_event_later() -> None:
    h = Harness("insert into MyCount select count(*) as cnt from Flow;\n"
                "@Name('s0') select (select cnt from MyCount#lastevent) as value from Flow")
    assert [r.values for r in h.send(1, id=1) if r.statement == "s0"] == [{"value": None}]
    assert [r.values for r in h.send(2, id=2) if r.statement == "s0"] == [{"value": 1}]


@pytest.mark.esper("subquery-scalar", cite=f"{UNF}.EPLSubselectUnfilteredLastEvent")
def test_lastevent_subquery_beside_a_property() -> None:
    r = Run("select p00 as s, (select p10 from S1#lastevent()) as col from S0")
    assert r.one("s0", 1, "E1") == {"s": "E1", "col": None}
    r.send("s1", 11, "S01")
    assert r.one("s0", 2, "E2") == {"s": "E2", "col": "S01"}
    assert r.one("s0", 3, "E3") == {"s": "E3", "col": "S01"}
    r.send("s1", 12, "S02")
    assert r.one("s0", 4, "E4") == {"s": "E4", "col": "S02"}


# -- in / not in ------------------------------------------------------------------------------------
@pytest.mark.esper("subquery-in", cite=f"{SIN}.EPLSubselectInSelect (runTestInSelect)")
def test_in_subquery_in_select() -> None:
    r = Run("select id in (select id from S1#length(1000)) as value from S0")
    assert r.one("s0", 2) == {"value": False}
    r.send("s1", -1)
    assert r.one("s0", 2) == {"value": False}
    assert r.one("s0", -1) == {"value": True}
    r.send("s1", 5)
    assert r.one("s0", 4) == {"value": False}
    assert r.one("s0", 5) == {"value": True}


@pytest.mark.esper("subquery-in", cite=f"{SIN}.EPLSubselectNotInSelect")
def test_not_in_subquery_in_select() -> None:
    r = Run("select not id in (select id from S1#length(1000)) as value from S0")
    assert r.one("s0", 2) == {"value": True}
    r.send("s1", -1)
    assert r.one("s0", 2) == {"value": True}
    assert r.one("s0", -1) == {"value": False}
    r.send("s1", 5)
    assert r.one("s0", 4) == {"value": True}
    assert r.one("s0", 5) == {"value": False}


@pytest.mark.esper("subquery-in", cite=f"{SIN}.EPLSubselectInSelectWhere and ...InSelectWhereExpressions")
def test_in_subquery_with_where_and_expressions() -> None:
    r = Run("select id in (select id from S1#length(1000) where id > 0) as value from S0")
    assert r.one("s0", 2) == {"value": False}
    r.send("s1", -1)
    assert r.one("s0", 2) == {"value": False}
    assert r.one("s0", -1) == {"value": False}
    r.send("s1", 5)
    assert r.one("s0", 4) == {"value": False}
    assert r.one("s0", 5) == {"value": True}
    r = Run("select 3 * id in (select 2 * id from S1#length(1000)) as value from S0")
    assert r.one("s0", 2) == {"value": False}
    r.send("s1", -1)
    assert r.one("s0", 2) == {"value": False}
    assert r.one("s0", -1) == {"value": False}
    r.send("s1", 6)
    assert r.one("s0", 4) == {"value": True}


@pytest.mark.esper("subquery-in", cite=f"{SIN}.EPLSubselectInNullable")
def test_in_subquery_with_nulls() -> None:
    r = Run("select id from S0 as s0 where p00 in (select p10 from S1#length(1000))")
    assert r.send("s0", 1, "a") == []
    assert r.send("s0", 2, None) == []
    r.send("s1", -1, "A")
    assert r.send("s0", 3, None) == []
    assert r.send("s0", 4, "A") == [{"id": 4}]
    r.send("s1", -2, None)
    assert r.send("s0", 5, None) == []


SAME = "insert into X select s, ib, lb from Flow;\n"  # SupportBean(theString, intBoxed, longBoxed)


def _bean(r: Run, s: str, ib: Any, lb: Any) -> list[dict[str, Any]]:
    return r.send("sb", s=s, ib=ib, lb=lb)


@pytest.mark.esper("subquery-in", cite=f"{SIN}.EPLSubselectInNullableCoercion (one event type read twice)")
def test_in_subquery_same_stream_nullable() -> None:
    r = Run("select lb from Flow(s = 'A') as s0 where lb in (select ib from Flow(s = 'B')#length(1000))", routes="")
    assert _bean(r, "A", 0, 0) == [] and _bean(r, "A", None, None) == []
    _bean(r, "B", None, None)
    assert _bean(r, "A", 0, 0) == [] and _bean(r, "A", None, None) == []
    _bean(r, "B", 99, None)
    assert _bean(r, "A", None, None) == []
    assert _bean(r, "A", None, 99) == [{"lb": 99}]
    _bean(r, "B", 98, None)
    assert _bean(r, "A", None, 98) == [{"lb": 98}]


@pytest.mark.esper("subquery-in", cite=f"{SIN}.EPLSubselectNotInNullableCoercion: not in over no rows is "
                   "true, a null among the values makes it null")
def test_not_in_subquery_same_stream_nullable() -> None:
    r = Run("select lb from Flow(s = 'A') as s0 where lb not in (select ib from Flow(s = 'B')#length(1000))",
            routes="")
    assert _bean(r, "A", 0, 0) == [{"lb": 0}]
    assert _bean(r, "A", None, None) == [{"lb": None}]
    _bean(r, "B", None, None)
    assert _bean(r, "A", 1, 1) == [] and _bean(r, "A", None, None) == []
    _bean(r, "B", 99, None)
    assert _bean(r, "A", None, None) == [] and _bean(r, "A", None, 99) == []
    _bean(r, "B", 98, None)
    assert _bean(r, "A", None, 98) == [] and _bean(r, "A", None, 97) == []


@pytest.mark.esper("subquery-in", cite=f"{SIN}.EPLSubselectInNullRow and ...NotInNullRow")
def test_in_and_not_in_with_a_null_row() -> None:
    r_in = Run("select ib from Flow(s = 'A') as s0 where ib in (select lb from Flow(s = 'B')#length(1000))", routes="")
    r_not = Run("select ib from Flow(s = 'A') as s0 where ib not in (select lb from Flow(s = 'B')#length(1000))",
                routes="")
    for r in (r_in, r_not):
        _bean(r, "B", 1, 1)
    assert _bean(r_in, "A", None, None) == [] and _bean(r_in, "A", 1, 1) == [{"ib": 1}]
    assert _bean(r_not, "A", None, None) == [] and _bean(r_not, "A", 1, 1) == []
    for r in (r_in, r_not):
        _bean(r, "B", None, None)
    assert _bean(r_in, "A", None, None) == [] and _bean(r_in, "A", 1, 1) == [{"ib": 1}]
    assert _bean(r_not, "A", None, None) == [] and _bean(r_not, "A", 1, 1) == []


@pytest.mark.esper("subquery-order", cite="EPLSubselectOrderOfEval.EPLSubselectOrderOfEvaluationSubselectFirst: "
                   "the subquery's window takes the event before the statement evaluates it")
@pytest.mark.parametrize("text", [
    "select * from Flow(i < 10) where i not in (select i from Flow#unique(i))",
    "select * from Flow where i not in (select i from Flow(i < 10)#unique(i))",
])
def test_subquery_window_is_updated_first(text: str) -> None:
    r = Run(text, routes="")
    assert r.send("e", i=5) == []


# -- exists ---------------------------------------------------------------------------------------
@pytest.mark.esper("subquery-exists", cite=f"{EXI}.EPLSubselectExistsInSelect and ...ExistsSceneOne")
def test_exists() -> None:
    r = Run("select exists (select * from S1#length(1000)) as value from S0")
    assert r.one("s0", 2) == {"value": False}
    r.send("s1", -1)
    assert r.one("s0", 2) == {"value": True}
    r = Run("select id from S0 where exists (select * from S1#length(1000))")
    assert r.send("s0", 2) == []
    r.send("s1", -1)
    assert r.send("s0", 2) == [{"id": 2}]


@pytest.mark.esper("subquery-exists", cite=f"{EXI}.EPLSubselectNotExists")
def test_not_exists() -> None:
    r = Run("select id from S0 where not exists (select * from S1#length(1000))")
    assert r.send("s0", 2) == [{"id": 2}]
    r.send("s1", -1)
    assert r.send("s0", 1) == []


@pytest.mark.esper("subquery-correlated", cite=f"{EXI}.EPLSubselectExistsFiltered and ...TwoExistsFiltered")
def test_correlated_exists() -> None:
    r = Run("select id from S0 as s0 where exists (select * from S1#length(1000) as s1 where s1.id = s0.id)")
    assert r.send("s0", 2) == []
    r.send("s1", -1)
    assert r.send("s0", 2) == []
    r.send("s1", -2)
    assert r.send("s0", -2) == [{"id": -2}]
    for i in (1, 2, 3):
        r.send("s1", i)
    assert r.send("s0", 3) == [{"id": 3}]
    r = Run("select id from S0 as s0 where exists (select * from S1#length(1000) as s1 where s1.id = s0.id) "
            "and exists (select * from S2#length(1000) as s2 where s2.id = s0.id)")
    assert r.send("s0", 2) == []
    r.send("s2", 3)
    assert r.send("s0", 3) == []
    r.send("s1", 3)
    assert r.send("s0", 3) == [{"id": 3}]
    r.send("s1", 1)
    r.send("s1", 2)
    r.send("s2", 1)
    assert r.send("s0", 1) == [{"id": 1}]
    assert r.send("s0", 2) == [] and r.send("s0", 0) == []


# -- aggregating subqueries --------------------------------------------------------------------------
@pytest.mark.esper("subquery-aggregate", cite=f"{AGG}.EPLSubselectUngroupedUncorrelatedInSelect (an event "
                   "leaving the window leaves the max)")
def test_uncorrelated_max() -> None:
    r = Run("select (select max(id) from S1#length(3)) as value from S0")
    assert r.one("s0", 1) == {"value": None}
    for s1, want in ((100, 100), (200, 200), (190, 200), (180, 200), (170, 190)):
        r.send("s1", s1)
        assert r.one("s0", 0) == {"value": want}


@pytest.mark.esper("subquery-aggregate", cite=f"{AGG}.EPLSubselectUngroupedUncorrelatedTwoAggStopStart")
def test_two_aggregates_in_one_subquery() -> None:
    r = Run("select (select avg(id) + max(id) from S1#length(3)) as value from S0")
    assert r.one("s0", 1) == {"value": None}
    r.send("s1", 100)
    assert r.one("s0", 2) == {"value": 200.0}
    r.send("s1", 200)
    assert r.one("s0", 3) == {"value": 350.0}


@pytest.mark.esper("subquery-aggregate", cite=f"{AGG}.EPLSubselectUngroupedUncorrelatedFiltered and "
                   "...WWhereClause (runAssertionSumFilter)")
@pytest.mark.parametrize("sub", ["select sum(id) from S1(id < 0)#length(3)",
                                 "select sum(id) from S1#length(3) where id < 0"])
def test_sum_over_a_filtered_window(sub: str) -> None:
    r = Run(f"select ({sub}) as value from S0")
    assert r.one("s0", 1) == {"value": None}
    for s1, want in ((1, None), (0, None), (-1, -1), (-3, -4), (-5, -9), (-2, -10)):
        r.send("s1", s1)
        assert r.one("s0", 0) == {"value": want}


@pytest.mark.esper("subquery-aggregate", cite=f"{AGG}.EPLSubselectUngroupedUncorrelatedNoDataWindow: an "
                   "uncorrelated aggregating subquery needs no window")
def test_aggregate_without_a_window_covers_every_event() -> None:
    r = Run("select p00 as c0, (select sum(p10) from S1) as c1 from S0")
    assert r.one("s0", 1, "E1") == {"c0": "E1", "c1": None}
    r.send("s1", 0, 10)
    assert r.one("s0", 2, "E2") == {"c0": "E2", "c1": 10}
    r.send("s1", 0, 20)
    assert r.one("s0", 3, "E3") == {"c0": "E3", "c1": 30}


@pytest.mark.esper("subquery-aggregate", cite=f"{AGG}.EPLSubselectUngroupedUncorrelatedInSelectClause "
                   "(the outer event beside the aggregate)")
def test_outer_property_beside_a_subquery_aggregate() -> None:
    r = Run("select (select s0.id + max(s1.id) from S1#length(3) as s1) as value from S0 as s0")
    assert r.one("s0", 1) == {"value": None}
    r.send("s1", 100)
    assert r.one("s0", 2) == {"value": 102}
    r.send("s1", 30)
    assert r.one("s0", 3) == {"value": 103}


@pytest.mark.esper("subquery-correlated", cite=f"{AGG}.EPLSubselectUngroupedCorrelated")
def test_correlated_sum() -> None:
    # SupportBean(theString, intPrimitive) -> Flow(kind = 'sb') with p01, p00
    r = Run("select p00, (select sum(sb.p00) from Flow(kind = 'sb')#keepall as sb where sb.p01 = s0.p00) as sump00 "
            "from S0 as s0")
    assert r.one("s0", 1, "T1") == {"p00": "T1", "sump00": None}
    r.send("sb", None, 10, "T1")
    assert r.one("s0", 2, "T1") == {"p00": "T1", "sump00": 10}
    r.send("sb", None, 11, "T1")
    assert r.one("s0", 3, "T1") == {"p00": "T1", "sump00": 21}
    assert r.one("s0", 4, "T2") == {"p00": "T2", "sump00": None}
    r.send("sb", None, -2, "T2")
    r.send("sb", None, -7, "T2")
    assert r.one("s0", 5, "T2") == {"p00": "T2", "sump00": -9}


@pytest.mark.esper("subquery-correlated", cite=f"{AGG}.EPLSubselectUngroupedCorrelated (distinct): the "
                   "outer stream is the subquery's stream, whose window takes the event first")
def test_correlated_count_and_count_distinct_over_the_same_stream() -> None:
    r = Run("select s, (select count(sb.i) from Flow#keepall as sb where bean.s = sb.s) as c0, "
            "(select count(distinct sb.i) from Flow#keepall as sb where bean.s = sb.s) as c1 from Flow as bean",
            routes="")
    assert r.one("e", s="E1", i=1) == {"s": "E1", "c0": 1, "c1": 1}
    assert r.one("e", s="E2", i=1) == {"s": "E2", "c0": 1, "c1": 1}
    assert r.one("e", s="E2", i=2) == {"s": "E2", "c0": 2, "c1": 2}
    assert r.one("e", s="E2", i=1) == {"s": "E2", "c0": 3, "c1": 2}


@pytest.mark.esper("subquery-correlated", cite=f"{AGG}.EPLSubselectUngroupedCorrelatedSceneTwo: count over "
                   "no rows is 0")
def test_correlated_count_is_zero_without_rows() -> None:
    r = Run("select id, (select count(*) from S1#length(3) s1 where s1.p10 = s0.p00) as mycount from S0 as s0"
            .replace("S1#length(3) s1", "S1#length(3) as s1"))
    assert r.one("s0", 1, "G1") == {"id": 1, "mycount": 0}
    r.send("s1", 200, "G2")
    assert r.one("s0", 2, "G2") == {"id": 2, "mycount": 1}
    r.send("s1", 201, "G2")
    assert r.one("s0", 3, "G2") == {"id": 3, "mycount": 2}
    assert r.one("s0", 4, "G1") == {"id": 4, "mycount": 0}
    assert r.one("s0", 5, "G2") == {"id": 5, "mycount": 2}
    assert r.one("s0", 6, "G3") == {"id": 6, "mycount": 0}
    r.send("s1", 202, "G2")
    assert r.one("s0", 7, "G2") == {"id": 7, "mycount": 3}


@pytest.mark.esper("subquery-correlated", cite=f"{AGG}.EPLSubselectUngroupedCorrelatedInWhereClause "
                   "(runAssertionCorrAggWhereGreater) and ...UncorrelatedInWhereClause")
def test_subquery_aggregate_in_where() -> None:
    r = Run("select p00 as sym from Flow(kind = 'md') where p01 > (select max(p01) from Flow(kind = 'md' and "
            "p00 = 'GOOG')#lastevent)")
    assert r.send("md", None, "GOOG", 1) == []
    assert r.send("md", None, "GOOG", 2) == []
    assert r.send("md", None, "IBM", 3) == [{"sym": "IBM"}]


# -- what is refused, as Esper refuses it --------------------------------------------------------------
@pytest.mark.esper("subquery-invalid", cite=f"{UNF}.EPLSubselectInvalidSubselect and {AGG}.EPLSubselectAggregatedInvalid")
@pytest.mark.parametrize(("text", "word"), [
    ("select (select id from S1) from S0", "needs a data window"),
    ("select (select (select id from S1#lastevent) from S1#lastevent) as x from S0", "within a subquery"),
    ("select (select id from S1#lastevent where sum(id) = 5) as x from S0", "not allowed in a subquery's WHERE"),
    ("select id from S0 group by id + (select id from S1#lastevent)", "GROUP BY"),
    ("select (select sum(s0.id) from S1#length(3) as s1) as v from S0 as s0", "cannot read the outer event"),
    ("select (select s1.id + sum(s1.id) from S1#length(3) as s1) as v from S0 as s0", "inside aggregate functions"),
    ("select id in (select * from S1#length(10)) as v from S0", "select one property"),
])
def test_invalid_subqueries(text: str, word: str) -> None:
    with pytest.raises(EPLError) as info:
        compile_module(ROUTES + text)
    assert word in str(info.value) and info.value.line and info.value.column


# -- batching ----------------------------------------------------------------------------------------
def _rows(text: str, events: list[tuple[int, dict[str, Any]]], cut: int) -> list[tuple[Any, ...]]:
    h = Harness(text)
    for i in range(0, len(events), cut):
        h.batch(events[i:i + cut])
    h.flush()
    return [(r.statement, r.time_ms, tuple(sorted(r.values.items()))) for r in h.rows]


@pytest.mark.esper("subquery-batching", cite=DOC + "; events are processed one at a time")
@pytest.mark.parametrize("text", [
    "@Name('J') select k, (select count(*) from Flow#time(1 sec) as w where w.k = f.k) as n from Flow as f",
    "@Name('J') select k from Flow as f where k not in (select k from Flow(v > 5)#length(3))",
    ROUTES + "@Name('J') select id, (select max(id) from S1#time(1 sec)) as m from S0 where exists "
    "(select * from S2#length(2) as s2 where s2.p20 = S0.p00)",
    # subqueries over the statement's own stream are fed by it, at batch speed
    "@Name('J') select id, (select id from Flow(kind = 's1')#lastevent) as last, "
    "(select sum(v) from Flow#time(1 sec) as w where w.k = f.k) as s from Flow(kind = 's0') as f",
    "@Name('J') select count(*) as n from Flow(v > 2) where exists (select * from Flow(kind = 's2')#time(700 msec) "
    "as w where w.k = Flow.k) and v not in (select v from Flow(kind = 's1')#length(4))",
    "@Name('J') select * from Flow(kind = 's0') where v >= all (select v from Flow#unique(k)) or "
    "k = any (select k from Flow(kind != 's0')#time(250 msec))",
])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_batch_cutting_does_not_change_rows(text: str, seed: int) -> None:
    rnd = random.Random(seed)
    t = 0
    evs = []
    for i in range(60):
        t += rnd.choice((0, 0, 1, 250, 700))
        k = rnd.randrange(3)
        evs.append((t, {"kind": rnd.choice(("s0", "s1", "s2")), "id": i, "k": k, "v": rnd.randrange(10),
                        "p00": k, "p20": k}))
    one = _rows(text, evs, 1)
    assert _rows(text, evs, len(evs)) == one and one


# -- any / some / all ----------------------------------------------------------------------------------
ALL = "EPLSubselectAllAnySomeExpr"


def _sb(r: Run, s: str, i: Any = None, ib: Any = None, db: Any = None) -> dict[str, Any] | None:
    rows = r.send("sb", s=s, i=i, ib=ib, db=db)
    assert len(rows) <= 1
    return rows[0] if rows else None


def _quant(ops: str) -> str:
    cols = ", ".join(f"i {op} (select i from Flow(s like 'S%')#keepall) as c{n}" for n, op in enumerate(ops.split(",")))
    return f"select {cols} from Flow(s like 'E%')"


@pytest.mark.esper("subquery-any-all", cite=f"{ALL}.EPLSubselectRelationalOpAll")
def test_relational_all() -> None:
    r = Run(_quant("> all,>= all,< all,<= all"), routes="")
    want = [("E1", 1, (True, True, True, True)), ("S1", 1, None), ("E2", 1, (False, True, False, True)),
            ("E2", 2, (True, True, False, False)), ("S2", 2, None), ("E3", 3, (True, True, False, False)),
            ("E4", 2, (False, True, False, False)), ("E5", 1, (False, False, False, True)),
            ("E6", 0, (False, False, True, True))]
    for s, i, exp in want:
        row = _sb(r, s, i)
        assert (None if row is None else tuple(row.values())) == exp, (s, i)


@pytest.mark.esper("subquery-any-all", cite=f"{ALL}.EPLSubselectRelationalOpSome")
def test_relational_any() -> None:
    r = Run(_quant("> any,>= some,< any,<= any"), routes="")
    want = [("E1", 1, (False, False, False, False)), ("S1", 1, None), ("E2", 1, (False, True, False, True)),
            ("E2", 2, (True, True, False, False)), ("E2a", 0, (False, False, True, True)), ("S2", 2, None),
            ("E3", 3, (True, True, False, False)), ("E4", 2, (True, True, False, True)),
            ("E5", 1, (False, True, True, True)), ("E6", 0, (False, False, True, True))]
    for s, i, exp in want:
        row = _sb(r, s, i)
        assert (None if row is None else tuple(row.values())) == exp, (s, i)


@pytest.mark.esper("subquery-any-all", cite=f"{ALL}.EPLSubselectEqualsNotEqualsAll and ...EqualsAnyOrSome")
def test_equality_all_and_any() -> None:
    r = Run(_quant("= all,!= all,<> all") + "", routes="")
    want = [("E1", 10, (True, True, True)), ("S1", 11, None), ("E2", 11, (True, False, False)),
            ("E3", 10, (False, True, True)), ("S1", 12, None), ("E4", 11, (False, False, False)),
            ("E5", 14, (False, True, True))]
    for s, i, exp in want:
        row = _sb(r, s, i)
        assert (None if row is None else tuple(row.values())) == exp, (s, i)
    r = Run(_quant("= some,= any,!= some,<> any"), routes="")
    want = [("E1", 10, (False, False, False, False)), ("S1", 11, None), ("E2", 11, (True, True, False, False)),
            ("E3", 12, (False, False, True, True)), ("S2", 12, None), ("E4", 12, (True, True, True, True)),
            ("E5", 13, (False, False, True, True))]
    for s, i, exp in want:
        row = _sb(r, s, i)
        assert (None if row is None else tuple(row.values())) == exp, (s, i)


@pytest.mark.esper("subquery-any-all", cite=f"{ALL}.EPLSubselectRelationalOpNullOrNoRows and "
                   "...EqualsInNullOrNoRows")
def test_any_all_with_nulls_and_no_rows() -> None:
    sub = "(select db from Flow(s like 'S%')#keepall)"
    r = Run(f"select ib >= all {sub} as vall, ib >= any {sub} as vany, ib = all {sub} as eall, "
            f"ib = any {sub} as eany, ib != all {sub} as neall, ib != any {sub} as neany, ib in {sub} as isin "
            "from Flow(s like 'E%')", routes="")
    cols = ("vall", "vany", "eall", "eany", "neall", "neany", "isin")

    def send(s: str, ib: Any, db: Any = None) -> tuple[Any, ...] | None:
        row = _sb(r, s, ib=ib, db=db)
        return None if row is None else tuple(row[c] for c in cols)

    assert send("E1", None) == (True, False, True, False, True, False, False)
    assert send("E2", 1) == (True, False, True, False, True, False, False)
    send("S1", None, None)
    assert send("E3", None) == (None,) * 7
    assert send("E4", 1) == (None,) * 7
    send("S2", None, 1.0)
    assert send("E5", None) == (None,) * 7
    assert send("E6", 1) == (None, True, None, True, False, None, True)
    assert send("E7", 0) == (False, False, False, None, None, True, None)


# -- GROUP BY / HAVING in a subquery -----------------------------------------------------------------
SB = "Flow(kind = 'sb')#keepall"  # SupportBean#keepall: s is theString, i is intPrimitive


@pytest.mark.esper("subquery-having", cite=f"{AGG}.EPLSubselectUngroupedUncorrelatedWHaving")
def test_ungrouped_having_and_exists() -> None:
    r = Run(f"select (select sum(i) from {SB} having sum(i) > 100) as c0, "
            f"exists (select sum(i) from {SB} having sum(i) > 100) as c1 from S0")
    assert r.one("s0", 1) == {"c0": None, "c1": False}
    r.send("sb", s="E1", i=10)
    assert r.one("s0", 2) == {"c0": None, "c1": False}
    r.send("sb", s="E1", i=91)
    assert r.one("s0", 3) == {"c0": 101, "c1": True}
    r.send("sb", s="E1", i=2)
    assert r.one("s0", 4) == {"c0": 103, "c1": True}


@pytest.mark.esper("subquery-having", cite=f"{AGG}.EPLSubselectGroupedUncorrelatedWHaving: one group passing "
                   "HAVING is the value, none or several is null")
def test_grouped_uncorrelated_having() -> None:
    r = Run(f"select (select sum(i) from {SB} group by s having sum(i) > 10) as c0 from S0 as s0")
    assert r.one("s0", 1) == {"c0": None}
    r.send("sb", s="G1", i=10)
    r.send("sb", s="G2", i=9)
    assert r.one("s0", 2) == {"c0": None}
    r.send("sb", s="G2", i=2)
    assert r.one("s0", 3) == {"c0": 11}
    r.send("sb", s="G1", i=3)
    assert r.one("s0", 4) == {"c0": None}


@pytest.mark.esper("subquery-having", cite=f"{AGG}.EPLSubselectGroupedCorrelatedWHaving")
def test_grouped_correlated_having() -> None:
    r = Run(f"select (select sum(i) from {SB} where s0.id = i group by s having sum(i) > 10) as c0 from S0 as s0")
    assert r.one("s0", 10) == {"c0": None}
    for s, i in (("G1", 10), ("G2", 10), ("G2", 2), ("G1", 9)):
        r.send("sb", s=s, i=i)
    assert r.one("s0", 0) == {"c0": None}
    r.send("sb", s="G2", i=10)
    assert r.one("s0", 10) == {"c0": 20}
    r.send("sb", s="G1", i=10)
    assert r.one("s0", 10) == {"c0": None}


@pytest.mark.esper("subquery-having", cite=f"{AGG}.EPLSubselectUngroupedCorrelatedWHaving")
def test_ungrouped_correlated_having() -> None:
    r = Run(f"select (select sum(i) from {SB} where s = s0.p00 having sum(i) > 10) as c0 from S0 as s0")
    assert r.one("s0", 1, "G1") == {"c0": None}
    r.send("sb", s="G1", i=10)
    assert r.one("s0", 2, "G1") == {"c0": None}
    r.send("sb", s="G2", i=11)
    assert r.one("s0", 3, "G1") == {"c0": None}
    assert r.one("s0", 4, "G2") == {"c0": 11}
    r.send("sb", s="G1", i=12)
    assert r.one("s0", 5, "G1") == {"c0": 22}


@pytest.mark.esper("subquery-having", cite=f"{AGG}.EPLSubselectGroupedCorrelationInsideHaving: the group key "
                   "selected, the outer event read in HAVING")
def test_group_key_selected_and_outer_event_in_having() -> None:
    r = Run(f"select (select s from {SB} group by s having sum(i) = s0.id) as c0 from S0 as s0")
    for s, i in (("E1", 100), ("E2", 5), ("E3", 20)):
        r.send("sb", s=s, i=i)
    assert r.one("s0", 1) == {"c0": None}
    assert r.one("s0", 5) == {"c0": "E2"}
    r.send("sb", s="E2", i=3)
    assert r.one("s0", 5) == {"c0": None}
    assert r.one("s0", 8) == {"c0": "E2"}
    assert r.one("s0", 20) == {"c0": "E3"}


@pytest.mark.esper("subquery-scalar", cite=f"{UNF}.EPLSubselectJoinUnfiltered: subqueries in a join's select list")
def test_subqueries_in_the_select_list_of_a_join() -> None:
    routes = ROUTES + ("insert into S3 select id from Flow where kind = 's3';\n"
                       "insert into S4 select id from Flow where kind = 's4';\n")
    r = Run("select (select id from S3#length(1000)) as idS3, (select id from S4#length(1000)) as idS4 "
            "from S0#keepall as s0, S1#keepall as s1 where s0.id = s1.id", routes=routes)
    r.send("s0", 0)
    assert r.send("s1", 0) == [{"idS3": None, "idS4": None}]
    r.send("s3", -1)
    r.send("s0", 1)
    assert r.send("s1", 1) == [{"idS3": -1, "idS4": None}]
    r.send("s4", -2)
    r.send("s0", 2)
    assert r.send("s1", 2) == [{"idS3": -1, "idS4": -2}]
    r.send("s4", -2)
    r.send("s0", 3)
    assert r.send("s1", 3) == [{"idS3": -1, "idS4": None}]
    r.send("s3", -2)
    rows = r.send("s0", 3) + r.send("s1", 3)
    assert rows == [{"idS3": None, "idS4": None}] * 3


@pytest.mark.esper("subquery-correlated", cite=DOC + ": a correlated subquery in an outer join's select list "
                   "reads each joined row (null for the missing side)")
def test_correlated_subquery_in_an_outer_join() -> None:
    r = Run("select s0.id as a, s1.id as b, (select count(*) from S2#length(10) as s2 where s2.p20 = s1.p10) as n "
            "from S0#keepall as s0 left outer join S1#keepall as s1 on s0.p00 = s1.p10")
    r.send("s2", 1, "x")
    r.send("s2", 2, "x")
    assert r.send("s0", 10, "x") == [{"a": 10, "b": None, "n": 0}]
    assert r.send("s1", 20, "x") == [{"a": 10, "b": 20, "n": 2}]


@pytest.mark.esper("subquery-in", cite=f"{SIN}.EPLSubselectInFilterCriteria (a subquery in a stream filter)")
def test_in_subquery_in_a_stream_filter() -> None:
    r = Run("select id from S0(id in (select id from S1#length(2)))")
    assert r.send("s0", 1) == []
    r.send("s1", 10)
    assert r.send("s0", 10) == [{"id": 10}]
    assert r.send("s0", 11) == []
    r.send("s1", 11)
    assert r.send("s0", 11) == [{"id": 11}]
    r.send("s1", 12)  # pushes 10 out
    assert r.send("s0", 10) == []
    assert r.send("s0", 11) == [{"id": 11}]
    assert r.send("s0", 12) == [{"id": 12}]


@pytest.mark.esper("subquery-invalid", cite=f"{DOC}: a filter keeps events out of a #firstunique window, which "
                   "WHERE does not: refused rather than given another meaning")
def test_subquery_in_the_filter_of_a_firstunique_stream_is_rejected() -> None:
    with pytest.raises(EPLError, match="filter of a stream with a #firstunique"):
        compile_module(ROUTES + "select id from S0(id in (select id from S1#length(2)))#firstunique(p00)")
