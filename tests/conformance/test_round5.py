"""Round 5 of the Esper conformance cases: statements users write whose rows could differ,
each against the Esper regression test (espertechinc/esper, regression-lib) or reference
section it cites. Each case sends events (an int advances time) and compares the rows."""

from __future__ import annotations

from typing import Any

import pytest

from flowcep_plugin.engine.compiler import compile_module
from flowcep_plugin.engine.harness import Harness
from flowcep_plugin.errors import EPLError

from .esper import deliveries

ETB = "espertechinc/esper regression-lib suite/view/ViewExternallyTimedBatched.{}"
CAST = "espertechinc/esper regression-lib suite/expr/exprcore/ExprCoreCast.{}"


def hms(text: str) -> int:
    """'8:00:04.999' as milliseconds of the day (SupportEventIdWithTimestamp.makeTime)."""
    h, m, rest = text.split(":")
    sec, ms = rest.split(".")
    return ((int(h) * 60 + int(m)) * 60 + int(sec)) * 1000 + int(ms)


def stamped(*items: tuple[str, str]) -> list[tuple[int, dict[str, Any]] | int]:
    """Events ``id`` with timestamp ``ts``, sent 1 ms apart on the engine's clock (the view
    reads ``ts``, not the arrival time); row times are the arrival numbers 1, 2, ..."""
    return [(i + 1, {"id": e, "ts": hms(s)}) for i, (e, s) in enumerate(items)]


def ir_pairs(rows: list[tuple[Any, ...]]) -> dict[int, tuple[list[Any], list[Any]]]:
    """Rows by time as (insert-stream ids, remove-stream ids)."""
    out: dict[int, tuple[list[Any], list[Any]]] = {}
    for t, sign, v in rows:
        out.setdefault(t, ([], []))[0 if sign == "+" else 1].append(v)
    return out


# -- ext_timed_batch -----------------------------------------------------------------------------

@pytest.mark.esper("ext_timed_batch", cite=ETB.format("ViewExternallyTimedBatchSceneOne (an older timestamp "
                                                      "joins the current batch)"))
def test_ext_timed_batch_scene_one() -> None:
    evs: list[tuple[int, dict[str, Any]] | int] = [
        (i + 1, {"c0": s, "ts": ts}) for i, (s, ts) in
        enumerate([("E1", 1000), ("E2", 5000), ("E3", 11000), ("E4", 0), ("E5", 21000), ("E6", 31000),
                   ("E7", 41000)])]
    got = ir_pairs(deliveries("@Name('s0') select irstream c0 from Flow#ext_timed_batch(ts, 10 sec)", evs, "c0"))
    assert got == {3: (["E1", "E2"], []), 5: (["E3", "E4"], ["E1", "E2"]), 6: (["E5"], ["E3", "E4"]),
                   7: (["E6"], ["E5"])}


@pytest.mark.esper("ext_timed_batch", cite=ETB.format("ViewExternallyTimedBatchedNoReference (a timestamp "
                                                      "several periods on releases one batch, no empty ones)"))
def test_ext_timed_batch_gap_releases_once() -> None:
    evs = stamped(("E1", "8:00:00.000"), ("E2", "8:00:30.000"), ("E3", "8:00:59.999"), ("E4", "8:01:00.000"),
                  ("E5", "8:01:02.000"), ("E6", "8:01:05.000"), ("E7", "8:02:00.000"), ("E8", "8:03:59.000"),
                  ("E9", "8:03:59.000"), ("E10", "8:04:00.000"), ("E11", "8:06:30.000"), ("E12", "8:06:59.999"),
                  ("E13", "8:07:00.001"))
    got = ir_pairs(deliveries("@Name('s0') select irstream id from Flow#ext_timed_batch(ts, 1 minute)", evs, "id"))
    assert got == {4: (["E1", "E2", "E3"], []), 7: (["E4", "E5", "E6"], ["E1", "E2", "E3"]),
                   8: (["E7"], ["E4", "E5", "E6"]), 10: (["E8", "E9"], ["E7"]), 11: (["E10"], ["E8", "E9"]),
                   13: (["E11", "E12"], ["E10"])}


@pytest.mark.parametrize("ref", [5000, 65000])
@pytest.mark.esper("ext_timed_batch", cite=ETB.format("ViewExternallyTimedBatchedWithRefTime (reference point "
                                                      "5000 and 65000: batches end at hh:mm:05)"))
def test_ext_timed_batch_reference_point(ref: int) -> None:
    evs = stamped(("E1", "8:00:00.000"), ("E2", "8:00:04.999"), ("E3", "8:00:05.000"), ("E4", "8:00:04.000"),
                  ("E5", "7:00:00.000"), ("E6", "8:01:04.999"), ("E7", "8:01:05.000"), ("E8", "8:03:55.000"),
                  ("E9", "0:00:00.000"), ("E10", "8:04:04.999"), ("E11", "8:04:05.000"))
    got = ir_pairs(deliveries(f"@Name('s0') select irstream id from Flow#ext_timed_batch(ts, 1 minute, {ref})",
                              evs, "id"))
    assert got == {3: (["E1", "E2"], []), 7: (["E3", "E4", "E5", "E6"], ["E1", "E2"]),
                   8: (["E7"], ["E3", "E4", "E5", "E6"]), 11: (["E8", "E9", "E10"], ["E7"])}


@pytest.mark.esper("unsupported-is-an-error", cite=ETB.format("ViewExternallyTimedBatchRefWithPrev") +
                   " (a flow-control string in place of the reference point is refused by name)")
def test_ext_timed_batch_flow_control_is_refused() -> None:
    with pytest.raises(EPLError) as info:
        compile_module("select * from Flow#ext_timed_batch(ts, 1 sec, 'FORCE_UPDATE')")
    assert "unsupported construct" in str(info.value) and "ext_timed_batch" in str(info.value)
    with pytest.raises(EPLError) as info:
        compile_module("select * from Flow#ext_timed_batch(ts, 1 sec, x)")
    assert "unsupported construct" in str(info.value) and "reference point" in str(info.value)


# -- cast ----------------------------------------------------------------------------------------

@pytest.mark.esper("cast", cite=CAST.format("ExprCoreCastSimpleMoreTypes") + "; ExprCastNode: a number cast to "
                   "boolean goes through the non-numeric caster, which gives null for a non-Boolean")
def test_cast_number_to_boolean_is_null() -> None:
    got = deliveries("@Name('s0') select cast(v, boolean) as b, cast(s, boolean) as c from Flow",
                     [(1, {"v": 1, "s": "TRUE"}), (2, {"v": 0, "s": "yes"}), (3, {"v": True, "s": None})], "b", "c")
    assert got == [(1, "+", None, True), (2, "+", None, False), (3, "+", True, None)]


# -- ext_timed -----------------------------------------------------------------------------------

ETW = "espertechinc/esper regression-lib suite/view/ViewExternallyTimedWin.{}"


@pytest.mark.esper("ext_timed", cite=ETW.format("ViewExternallyTimedWindowSceneOne (an event leaves when a "
                                                "timestamp P or more later arrives)"))
def test_ext_timed_scene_one() -> None:
    evs: list[tuple[int, dict[str, Any]] | int] = [
        (i + 1, {"symbol": s, "volume": v}) for i, (s, v) in
        enumerate([("E1", 500), ("E2", 600), ("E3", 1500), ("E4", 1600), ("E5", 1700), ("E6", 1800), ("E7", 1900),
                   ("E8", 2700), ("E9", 3700)])]
    got = ir_pairs(deliveries("@Name('s0') select irstream * from Flow#ext_timed(volume, 1 sec)", evs, "symbol"))
    assert got == {1: (["E1"], []), 2: (["E2"], []), 3: (["E3"], ["E1"]), 4: (["E4"], ["E2"]), 5: (["E5"], []),
                   6: (["E6"], []), 7: (["E7"], []), 8: (["E8"], ["E3", "E4", "E5"]), 9: (["E9"], ["E6", "E7", "E8"])}


@pytest.mark.esper("ext_timed", cite=ETW.format("ViewExternallyTimedBatchSceneTwo"))
def test_ext_timed_scene_two() -> None:
    evs: list[tuple[int, dict[str, Any]] | int] = [
        (i + 1, {"c0": s, "lp": v}) for i, (s, v) in
        enumerate([("E1", 1000), ("E2", 5000), ("E3", 11000), ("E4", 14000), ("E5", 21000), ("E6", 24000)])]
    got = ir_pairs(deliveries("@Name('s0') select irstream c0 from Flow#ext_timed(lp, 10 sec)", evs, "c0"))
    assert got == {1: (["E1"], []), 2: (["E2"], []), 3: (["E3"], ["E1"]), 4: (["E4"], []),
                   5: (["E5"], ["E2", "E3"]), 6: (["E6"], ["E4"])}


# -- firstlength ---------------------------------------------------------------------------------

FL = "espertechinc/esper regression-lib suite/view/ViewFirstLength.{}"


def _four() -> list[tuple[int, dict[str, Any]] | int]:
    return [(i, {"theString": f"E{i}", "intPrimitive": i}) for i in range(1, 5)]


@pytest.mark.esper("firstlength", cite=FL.format("ViewFirstLengthSceneOne (irstream: the third and later "
                                                 "events are not posted, nothing leaves)"))
def test_firstlength_scene_one() -> None:
    got = deliveries("@Name('s0') select irstream theString as c0 from Flow#firstlength(2)", _four(), "c0")
    assert got == [(1, "+", "E1"), (2, "+", "E2")]


@pytest.mark.esper("firstlength", cite=FL.format("ViewFirstLengthMarketData (select irstream *)"))
def test_firstlength_select_star() -> None:
    got = deliveries("@Name('s0') select irstream * from Flow#firstlength(3)", _four(), "theString")
    assert got == [(1, "+", "E1"), (2, "+", "E2"), (3, "+", "E3")]


@pytest.mark.esper("firstlength", cite="Esper reference, 'First Length Window (firstlength)': aggregates over the "
                   "events kept; the window holds the stream's first N events whatever WHERE says")
def test_firstlength_aggregates_and_where() -> None:
    got = deliveries("@Name('s0') select count(*) as n, sum(intPrimitive) as s from Flow#firstlength(2)",
                     _four(), "n", "s")
    assert got == [(1, "+", 1, 1), (2, "+", 2, 3)]
    got = deliveries("@Name('s0') select theString as c0 from Flow#firstlength(2) where intPrimitive > 1",
                     _four(), "c0")
    assert got == [(2, "+", "E2")]


@pytest.mark.esper("firstlength", cite="Esper reference, 'Context and Context Partitions' (each partition has "
                   "its own data window) with ViewFirstLength")
def test_firstlength_per_partition() -> None:
    got = deliveries("create context C partition by theString from Flow;\n"
                     "@Name('s0') context C select theString as c0, count(*) as n from Flow#firstlength(1)",
                     [*_four(), (5, {"theString": "E1", "intPrimitive": 5})], "c0", "n")
    assert got == [(1, "+", "E1", 1), (2, "+", "E2", 1), (3, "+", "E3", 1), (4, "+", "E4", 1)]


# -- numeric types of literals, case, coalesce, min/max --------------------------------------------

CASE = "espertechinc/esper regression-lib suite/expr/exprcore/ExprCoreCase.{}"


@pytest.mark.esper("expr-types", cite="Esper reference, 'Data Types' (numeric literals: 2d and 2f are double and "
                   "float, 2L long) with ExprCoreMath; tostring is Java's String.valueOf")
def test_double_and_float_suffixes_make_doubles() -> None:
    got = deliveries("@Name('s0') select 2d as a, 2f as b, 2L as c, tostring(2d) as d, v * 2d as e, "
                     "tostring(v * 1d) as f from Flow", [(1, {"v": 3})], "a", "b", "c", "d", "e", "f")
    assert got == [(1, "+", 2.0, 2.0, 2, "2.0", 6.0, "3.0")]
    assert [type(x) for x in got[0][2:5]] == [float, float, int]


@pytest.mark.esper("expr-types", cite=CASE.format("ExprCoreCaseSyntax1Branches3 (a case whose results are a long "
                                                  "and doubles is a double: GE gives 10000.0)"))
def test_case_with_a_double_branch_is_a_double() -> None:
    epl = ("@Name('s0') select case when (symbol='GE') then volume when (symbol='DELL') then volume / 2.0 "
           "when (symbol='MSFT') then volume / 3.0 end as c0 from Flow")
    got = deliveries(epl, [(1, {"symbol": "DELL", "volume": 10000}), (2, {"symbol": "MSFT", "volume": 10000}),
                           (3, {"symbol": "GE", "volume": 10000}), (4, {"symbol": "X", "volume": 1})], "c0")
    assert got == [(1, "+", 10000 / 2.0), (2, "+", 10000 / 3.0), (3, "+", 10000.0), (4, "+", None)]
    assert isinstance(got[2][2], float)


@pytest.mark.esper("expr-types", cite="ExprCoalesceNode and ExprMinMaxRowNode (espertechinc/esper): the result is "
                   "the arguments' common numeric type, so an integer beside a double comes out as a double")
def test_coalesce_and_min_max_rows_take_the_common_type() -> None:
    got = deliveries("@Name('s0') select coalesce(v, 2.5) as a, tostring(coalesce(v, 0.5)) as b, max(v, 0.5) as c, "
                     "min(v, 10) as d, tostring(case when v > 0 then v else 1.5 end) as e from Flow",
                     [(1, {"v": 3}), (2, {"v": None})], "a", "b", "c", "d", "e")
    assert got == [(1, "+", 3.0, "3.0", 3.0, 3, "3.0"), (2, "+", 2.5, "0.5", None, None, "1.5")]
    assert isinstance(got[0][2], float) and isinstance(got[0][4], float) and isinstance(got[0][5], int)


# -- the rows of on-update and on-merge statements -------------------------------------------------

NWU = "espertechinc/esper regression-lib suite/infra/nwtable/InfraNWTableOnUpdate.{}"
NWM = "espertechinc/esper regression-lib suite/infra/nwtable/InfraNWTableOnMerge.{}"
SB_WINDOW = ("create window MyInfra#keepall as (theString string, intPrimitive long);\n"
             "insert into MyInfra select theString, intPrimitive from Flow(kind = 'SB');\n")


def sb(t: int, s: str, i: int) -> tuple[int, dict[str, Any]]:
    return (t, {"kind": "SB", "theString": s, "intPrimitive": i})


def s0(t: int, ident: int, p00: str) -> tuple[int, dict[str, Any]]:
    return (t, {"kind": "S0", "id": ident, "p00": p00})


@pytest.mark.esper("on-update", cite=NWU.format("InfraNWTableOnUpdateSceneOne (the on-update statement outputs the "
                                                "updated row as new and its previous values as old)"))
def test_on_update_outputs_new_and_previous_values() -> None:
    epl = SB_WINDOW + ("@Name('s0') on Flow(kind = 'S0') update MyInfra set theString = p00 "
                       "where intPrimitive = id")
    got = deliveries(epl, [sb(1, "A1", 1), sb(2, "B2", 2), s0(3, 1, "X1"), s0(4, 2, "X2"), s0(5, 9, "X9")],
                     "theString", "intPrimitive")
    assert got == [(3, "+", "X1", 1), (3, "-", "A1", 1), (4, "+", "X2", 2), (4, "-", "B2", 2)]


@pytest.mark.esper("on-update", cite=NWU.format("InfraUpdateOrderOfFields (assignments in order, each seeing the "
                                                "ones before; initial.c is the row before the update; an integer "
                                                "set into a double column is a double)"))
def test_on_update_row_after_ordered_assignments() -> None:
    epl = ("create window MyInfra#keepall as (theString string, intPrimitive int, intBoxed int, "
           "doublePrimitive double);\n"
           "insert into MyInfra select theString, intPrimitive, intBoxed, doublePrimitive from Flow(kind = 'SB');\n"
           "@Name('s0') on Flow(kind = 'S0') as sb update MyInfra as mywin "
           "set intPrimitive = id, intBoxed = mywin.intPrimitive, doublePrimitive = initial.intPrimitive "
           "where mywin.theString = sb.p00")
    got = deliveries(epl, [(1, {"kind": "SB", "theString": "E1", "intPrimitive": 1, "intBoxed": 2,
                                "doublePrimitive": 2.0}), s0(2, 5, "E1"),
                           (3, {"kind": "SB", "theString": "E2", "intPrimitive": 10, "intBoxed": 20,
                                "doublePrimitive": 20.0}), s0(4, 6, "E2"), s0(5, 7, "E1")],
                     "intPrimitive", "intBoxed", "doublePrimitive")
    assert [g for g in got if g[1] == "+"] == [(2, "+", 5, 5, 1.0), (4, "+", 6, 6, 10.0), (5, "+", 7, 7, 5.0)]
    assert all(isinstance(g[4], float) for g in got)


@pytest.mark.esper("on-merge", cite=NWM.format("InfraOnMergeMatchNoMatch (insert: a new row; update: new "
                                               "and previous values; delete: an old row; an unqualified property "
                                               "of a 'when not matched' condition is the trigger's)"))
def test_on_merge_outputs_inserts_updates_and_deletes() -> None:
    epl = ("create window MyInfra#keepall as (theString string, intPrimitive long);\n"
           "@Name('s0') on Flow as sb merge MyInfra mw where sb.theString = mw.theString "
           "when matched and sb.intPrimitive < 0 then delete "
           "when not matched and intPrimitive > 0 then insert select theString, intPrimitive "
           "when matched and sb.intPrimitive > 0 then update set intPrimitive = sb.intPrimitive + mw.intPrimitive")
    evs: list[tuple[int, dict[str, Any]] | int] = [
        (t, {"theString": s, "intPrimitive": i}) for t, s, i in
        ((1, "E1", 0), (2, "E2", 2), (3, "E2", 10), (4, "E2", -1), (5, "E3", 3), (6, "E3", 4))]
    got = deliveries(epl, evs, "theString", "intPrimitive")
    assert got == [(2, "+", "E2", 2), (3, "+", "E2", 12), (3, "-", "E2", 2), (4, "-", "E2", 12),
                   (5, "+", "E3", 3), (6, "+", "E3", 7), (6, "-", "E3", 3)]


@pytest.mark.esper("on-merge", cite=NWM.format("InfraInsertOnly (merge W insert select ..., and its equivalent "
                                               "merge ... where 1=2 when not matched then insert: the statement "
                                               "outputs the inserted row, in the window's columns)"))
def test_on_merge_insert_only_outputs_the_window_row() -> None:
    epl = ("create window InsertOnlyInfra#unique(p0) as (p0 string, p1 long);\n"
           "@Name('s0') on Flow merge InsertOnlyInfra where 1=2 when not matched then "
           "insert select theString as p0, intPrimitive as p1")
    for text in (epl, epl.replace("where 1=2 when not matched then insert", "insert")):  # InfraInsertOnly's forms
        h = Harness(text)
        h.send(1, theString="E1", intPrimitive=1, other="x")
        h.send(2, theString="E2", intPrimitive=2)
        assert [(r.time_ms, r.removed, r.values) for r in h.of("s0")] == [
            (1, False, {"p0": "E1", "p1": 1}), (2, False, {"p0": "E2", "p1": 2})]


@pytest.mark.esper("on-merge", cite=NWM.format("InfraFlow (update, insert, reset and delete through one merge; the "
                                               "merge statement's new and old rows)"))
def test_on_merge_flow() -> None:
    epl = ("create window MyMergeInfra#unique(theString) as (theString string, intPrimitive long, intBoxed long);\n"
           "insert into MyMergeInfra select theString, intPrimitive, intBoxed from Flow(boolPrimitive);\n"
           "@Name('s0') on Flow(boolPrimitive = false) as up merge MyMergeInfra as mv "
           "where mv.theString = up.theString "
           "when matched and up.intPrimitive < 0 then delete "
           "when matched and up.intPrimitive = 0 then update set intPrimitive = 0, intBoxed = 0 "
           "when matched then update set intPrimitive = up.intPrimitive, intBoxed = up.intBoxed + mv.intBoxed "
           "when not matched then insert select *")
    sends = [(True, "E1", 10, 200), (False, "E1", 11, 201), (False, "E2", 13, 300), (False, "E2", 14, 301),
             (False, "E2", 15, 302), (False, "E3", 40, 400), (False, "E3", 0, 1000), (False, "E2", -1, 1000),
             (False, "E1", -1, 1000)]
    evs: list[tuple[int, dict[str, Any]] | int] = [
        (i + 1, {"boolPrimitive": b, "theString": s, "intPrimitive": ip, "intBoxed": ib})
        for i, (b, s, ip, ib) in enumerate(sends)]
    got = deliveries(epl, evs, "theString", "intPrimitive", "intBoxed")
    assert got == [(2, "+", "E1", 11, 401), (2, "-", "E1", 10, 200), (3, "+", "E2", 13, 300),
                   (4, "+", "E2", 14, 601), (4, "-", "E2", 13, 300), (5, "+", "E2", 15, 903),
                   (5, "-", "E2", 14, 601), (6, "+", "E3", 40, 400), (7, "+", "E3", 0, 0), (7, "-", "E3", 40, 400),
                   (8, "-", "E2", 15, 903), (9, "-", "E1", 11, 401)]


# -- output snapshot when terminated ---------------------------------------------------------------

CTX = "espertechinc/esper regression-lib suite/context/ContextInitTermTemporalFixed.{}"
FIXED_1S = "create context C start @now end after 1 sec;\n"
CTX_EVENTS: list[tuple[int, dict[str, Any]] | int] = [
    (0, {"s": "a", "v": 1}), (100, {"s": "b", "v": 2}), (500, {"s": "a", "v": 3}), 1000,
    (1200, {"s": "a", "v": 5}), 2000, 3000, (3500, {"s": "c", "v": 1}), 4000]


@pytest.mark.esper("ctx-terminated", cite=CTX.format("ContextStartEndFilterStartedFilterEndedOutputSnapshot (the sum "
                                                     "of the partition at its end; a partition without events gives "
                                                     "one row, sum null)"))
def test_snapshot_when_terminated_ungrouped() -> None:
    got = deliveries(FIXED_1S + "@Name('s0') context C select context.startTime as c0, count(*) as c1, sum(v) as c2 "
                     "from Flow output snapshot when terminated", CTX_EVENTS, "c0", "c1", "c2")
    # the partition in progress at the end of input (from 4000) took no event: not reported
    assert got == [(1000, "+", 0, 3, 6), (2000, "+", 1000, 1, 5), (3000, "+", 2000, 0, None), (4000, "+", 3000, 1, 1)]


@pytest.mark.esper("ctx-terminated", cite=CTX.format("ContextStartEndFilterStartedFilterEndedCorrelatedOutputSnapshot "
                                                     "(nothing is output until the partition ends)") +
                   "; ResultSetOutputLimitRowPerGroup snapshot: each group with events")
def test_snapshot_when_terminated_grouped_and_ordered() -> None:
    got = deliveries(FIXED_1S + "@Name('s0') context C select s, count(*) as n from Flow group by s "
                     "output snapshot when terminated order by s desc", CTX_EVENTS, "s", "n")
    assert got == [(1000, "+", "b", 1), (1000, "+", "a", 2), (2000, "+", "a", 1), (4000, "+", "c", 1)]


@pytest.mark.esper("ctx-terminated", cite="Esper reference, 'Output When Terminated' and RowForAllHaving: HAVING "
                   "decides the row at the partition's end")
def test_snapshot_when_terminated_with_having() -> None:
    got = deliveries(FIXED_1S + "@Name('s0') context C select count(*) as n from Flow having count(*) > 1 "
                     "output snapshot when terminated", CTX_EVENTS, "n")
    assert got == [(1000, "+", 3)]


@pytest.mark.esper("ctx-terminated", cite="espertechinc/esper regression-lib suite/context/ContextDocExamples "
                   "(initiated ... terminated after, select context.<alias>.<property>, aggregates ... output "
                   "snapshot when terminated): each overlapping partition reports at its own end")
def test_snapshot_when_terminated_overlapping() -> None:
    got = deliveries("create context I initiated by Flow(s = 'a') as a terminated after 1 sec;\n"
                     "@Name('s0') context I select context.a.v as av, count(*) as n, sum(v) as t from Flow "
                     "output snapshot when terminated", CTX_EVENTS, "av", "n", "t")
    assert got == [(1000, "+", 1, 3, 6), (1500, "+", 3, 2, 8), (2200, "+", 5, 1, 5)]


@pytest.mark.esper("ctx-terminated", cite="Esper reference, 'Output When Terminated': the events the window holds "
                   "at the partition's end, for a statement without aggregates")
def test_snapshot_when_terminated_without_aggregates() -> None:
    got = deliveries(FIXED_1S + "@Name('s0') context C select s, v from Flow#time(10 sec) output snapshot when "
                     "terminated", CTX_EVENTS, "s", "v")
    assert got == [(1000, "+", "a", 1), (1000, "+", "b", 2), (1000, "+", "a", 3), (2000, "+", "a", 5),
                   (4000, "+", "c", 1)]


@pytest.mark.esper("ctx-terminated", cite="espertechinc/esper ContextInitTerm (esper-6 regression "
                   "TestContextInitiatedTerminated.runAssertionOutputOnlyWhenTerminatedThenSet, without the then-set: "
                   "output when terminated releases the partition's rows at its end)")
def test_output_when_terminated_releases_the_partitions_rows() -> None:
    got = deliveries("create context I initiated by Flow(kind = 'S0') as s0 terminated after 1 min;\n"
                     "@Name('s0') context I select theString as c0 from Flow(kind = 'SB') output when terminated",
                     [(0, {"kind": "S0"}), (1, {"kind": "SB", "theString": "E4"}), 60000], "c0")
    assert got == [(60000, "+", "E4")]
    got = deliveries(FIXED_1S + "@Name('s0') context C select s, v from Flow output when terminated", CTX_EVENTS,
                     "s", "v")
    assert got == [(1000, "+", "a", 1), (1000, "+", "b", 2), (1000, "+", "a", 3), (2000, "+", "a", 5),
                   (4000, "+", "c", 1)]


@pytest.mark.esper("ctx-terminated", cite="Esper reference, 'Output When Terminated' with the output last rules of "
                   "ResultSetOutputLimitRowPerGroup and ResultSetOutputLimitSimple: the last row (per group)")
def test_output_last_when_terminated() -> None:
    got = deliveries(FIXED_1S + "@Name('s0') context C select s, v from Flow output last when terminated",
                     CTX_EVENTS, "s", "v")
    assert got == [(1000, "+", "a", 3), (2000, "+", "a", 5), (4000, "+", "c", 1)]
    got = deliveries(FIXED_1S + "@Name('s0') context C select s, count(*) as n from Flow group by s "
                     "output last when terminated", CTX_EVENTS, "s", "n")
    assert sorted(got) == [(1000, "+", "a", 2), (1000, "+", "b", 1), (2000, "+", "a", 1), (4000, "+", "c", 1)]


@pytest.mark.esper("ctx-terminated", cite="ResultSetProcessorRowForAllImpl.processOutputLimitedViewLast/Default "
                   "(espertechinc/esper): an ungrouped aggregation gives its rows of the partition (last: the last), "
                   "and its current row when the partition had no update")
def test_output_last_and_default_when_terminated_ungrouped() -> None:
    got = deliveries(FIXED_1S + "@Name('s0') context C select count(*) as n, sum(v) as t from Flow "
                     "output last when terminated", CTX_EVENTS, "n", "t")
    assert got == [(1000, "+", 3, 6), (2000, "+", 1, 5), (3000, "+", 0, None), (4000, "+", 1, 1)]
    got = deliveries(FIXED_1S + "@Name('s0') context C select count(*) as n, sum(v) as t from Flow "
                     "output when terminated", CTX_EVENTS, "n", "t")
    assert got == [(1000, "+", 1, 1), (1000, "+", 2, 3), (1000, "+", 3, 6), (2000, "+", 1, 5), (3000, "+", 0, None),
                   (4000, "+", 1, 1)]
    got = deliveries(FIXED_1S + "@Name('s0') context C select count(*) as n from Flow having count(*) > 1 "
                     "output last when terminated", CTX_EVENTS, "n")
    assert got == [(1000, "+", 3)]


@pytest.mark.parametrize("epl, needle", [
    (FIXED_1S + "context C select s from Flow output first when terminated", "output first when terminated"),
    ("create context K partition by s from Flow;\ncontext K select count(*) from Flow output snapshot when terminated",
     "keyed segmented context"),
    ("select count(*) from Flow output snapshot when terminated", "outside a context"),
    (FIXED_1S + "context C select count(*) from Flow#time_batch(1 sec) output snapshot when terminated",
     "batch window"),
])
@pytest.mark.esper("unsupported-is-an-error", cite="Esper reference, 'Output When Terminated': the forms not run "
                   "here are refused by name")
def test_other_output_when_terminated_forms_are_refused(epl: str, needle: str) -> None:
    with pytest.raises(EPLError) as info:
        compile_module(epl)
    assert "unsupported construct" in str(info.value) and needle in str(info.value)


# -- time_length_batch -----------------------------------------------------------------------------

TLB = "espertechinc/esper regression-lib suite/view/ViewTimeLengthBatch.{}"


def _sym(t: int, s: str) -> tuple[int, dict[str, Any]]:
    return (t, {"symbol": s})


@pytest.mark.esper("time_length_batch", cite=TLB.format("ViewTimeLengthBatchSceneOne (released by time, then by "
                                                        "count, then the remove stream by time; then the timer stops)"))
def test_time_length_batch_scene_one() -> None:
    evs: list[tuple[int, dict[str, Any]] | int] = [
        1000, _sym(1000, "E1"), _sym(5000, "E2"), 10999, 11000, _sym(12000, "E3"), _sym(12000, "E4"),
        _sym(15000, "E5"), 24999, 25000, 35000]
    got = ir_pairs(deliveries("@Name('s0') select irstream * from Flow#time_length_batch(10 sec, 3)", evs, "symbol"))
    assert got == {11000: (["E1", "E2"], []), 15000: (["E3", "E4", "E5"], ["E1", "E2"]),
                   25000: ([], ["E3", "E4", "E5"])}


@pytest.mark.esper("time_length_batch", cite=TLB.format("ViewTimeLengthBatchSceneTwo (a release by count restarts "
                                                        "the timer; a stopped timer starts again with the next "
                                                        "event, off the old boundaries)"))
def test_time_length_batch_scene_two() -> None:
    s = 1000
    evs: list[tuple[int, dict[str, Any]] | int] = [
        s, *[_sym(s, str(i)) for i in range(3)], *[_sym(s, str(i)) for i in range(3, 6)], s + 9999, s + 10000,
        s + 10001, _sym(s + 10100, "6"), s + 19999, s + 20000, s + 20001, _sym(s + 29998, "7"), _sym(s + 29998, "8"),
        s + 29999, s + 30000, s + 30001, _sym(s + 30001, "9"), _sym(s + 30001, "10"), _sym(s + 39000, "11"),
        _sym(s + 48999, "12"), s + 49000, s + 49001, s + 58999, s + 59000, s + 59001, s + 68999, s + 69000, s + 69001,
        s + 90000, _sym(s + 90000, "13"), s + 99999, s + 100000]
    h = Harness("@Name('s0') select irstream * from Flow#time_length_batch(10 sec, 3)")
    steps: list[tuple[int, list[str], list[str]]] = []
    for e in evs:
        rows = h.watermark(e) if isinstance(e, int) else h.send(e[0], **e[1])
        if rows:
            steps.append((rows[0].time_ms, [r.values["symbol"] for r in rows if not r.removed],
                          [r.values["symbol"] for r in rows if r.removed]))
    assert steps == [(1000, ["0", "1", "2"], []), (1000, ["3", "4", "5"], ["0", "1", "2"]), (11000, [], ["3", "4", "5"]),
                     (21000, ["6"], []), (31000, ["7", "8"], ["6"]), (40000, ["9", "10", "11"], ["7", "8"]),
                     (50000, ["12"], ["9", "10", "11"]), (60000, [], ["12"]), (101000, ["13"], [])]


@pytest.mark.esper("time_length_batch", cite=TLB.format("ViewTimeLengthBatchSceneOne") + " with GROUP BY: a group of "
                   "the previous batch is output with count 0, as for length_batch")
def test_time_length_batch_grouped_counts() -> None:
    evs: list[tuple[int, dict[str, Any]] | int] = [
        _sym(1000, "E1"), _sym(5000, "E2"), _sym(12000, "E3"), _sym(12000, "E4"), _sym(15000, "E5"), 40000]
    got = deliveries("@Name('s0') select symbol, count(*) as n from Flow#time_length_batch(10 sec, 2) group by symbol",
                     evs, "symbol", "n")
    assert got == [(5000, "+", "E1", 1), (5000, "+", "E2", 1), (12000, "+", "E3", 1), (12000, "+", "E4", 1),
                   (12000, "+", "E1", 0), (12000, "+", "E2", 0), (22000, "+", "E5", 1), (22000, "+", "E3", 0),
                   (22000, "+", "E4", 0), (32000, "+", "E5", 0)]


@pytest.mark.esper("on-merge", cite=NWM.format("InfraMultipleInsert (several 'when not matched' clauses, the first "
                                               "whose condition holds inserts; insert(col1, col2) select names the "
                                               "values by position; a matched trigger inserts nothing)"))
def test_on_merge_multiple_inserts_and_column_lists() -> None:
    epl = ("create window MyInfraMI#keepall as (col1 string, col2 long);\n"
           "@Name('s0') on Flow merge MyInfraMI where col1 = in1 "
           "when not matched and in1 like 'A%' then insert(col1, col2) select in1, in2 "
           "when not matched and in1 like 'B%' then insert select in1 as col1, in2 as col2 "
           "when not matched and in1 like 'C%' then insert select 'Z' as col1, -1 as col2")
    evs: list[tuple[int, dict[str, Any]] | int] = [
        (t, {"in1": s, "in2": v}) for t, s, v in ((1, "E1", 0), (2, "A1", 1), (3, "B1", 2), (4, "C1", 3), (5, "B1", 2))]
    assert deliveries(epl, evs, "col1", "col2") == [(2, "+", "A1", 1), (3, "+", "B1", 2), (4, "+", "Z", -1)]
    got = deliveries("create window W#unique(p0) as (p0 string, p1 long);\n@Name('s0') on Flow as provider merge W "
                     "insert(p0, p1) select provider.theString, intPrimitive",
                     [(1, {"theString": "E1", "intPrimitive": 1})], "p0", "p1")
    assert got == [(1, "+", "E1", 1)]
