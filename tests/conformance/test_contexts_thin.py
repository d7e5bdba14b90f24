"""Contexts beyond the first cases: keyed segmented over three streams, null keys, several key
properties, data windows and the remove stream per partition, built-in properties, overlapping
partitions with batch windows, and the context forms the engine refuses. Expected rows from
Esper's regression tests (espertechinc/esper, regression-lib ``suite/context``:
ContextKeySegmented, ContextInitTerm, ContextStartEnd) and the reference chapter "Context and
Context Partitions"."""

from __future__ import annotations

from typing import Any

import pytest

from flowcep_plugin.engine.compiler import compile_module
from flowcep_plugin.engine.harness import Harness
from flowcep_plugin.errors import EPLError

KS = "ContextKeySegmented.{}"
STREAMS = """
    insert into SupportBean select theString, intPrimitive, intBoxed from Flow(kind = 'sb');
    insert into SupportBean_S0 select id, p00 from Flow(kind = 's0');
    insert into SupportBean_S1 select id, p10 from Flow(kind = 's1');
"""


def esper(construct: str, cite: str) -> Any:
    return pytest.mark.esper(construct, cite=f"espertechinc/esper {cite}")


class Env:
    """One event per call, one millisecond apart (Esper's tests send without moving time)."""

    def __init__(self, epl: str) -> None:
        self.h = Harness(STREAMS + epl)
        self.t = 0

    def _send(self, **p: Any) -> list[Any]:
        self.t += 1
        return [r for r in self.h.send(self.t, **p) if r.statement == "s0"]

    def sb(self, s: str | None, i: int, boxed: int | None = None) -> list[Any]:
        return self._send(kind="sb", theString=s, intPrimitive=i, intBoxed=boxed)

    def s0(self, i: int, p: str | None = None) -> list[Any]:
        return self._send(kind="s0", id=i, p00=p)

    def s1(self, i: int, p: str | None = None) -> list[Any]:
        return self._send(kind="s1", id=i, p10=p)


def v(rows: list[Any], *keys: str) -> list[tuple[Any, ...]]:
    return [tuple(r.values[k] for k in keys) for r in rows]


@esper("ctx-keyed", KS.format("ContextKeySegmentedNullSingleKey (null is a partition key like any other)"))
def test_null_single_key_is_a_partition() -> None:
    e = Env("create context MyContext partition by theString from SupportBean;\n"
            "@Name('s0') context MyContext select count(*) as cnt from SupportBean;")
    assert v(e.sb(None, 10), "cnt") == [(1,)]
    assert v(e.sb(None, 20), "cnt") == [(2,)]
    assert v(e.sb("A", 30), "cnt") == [(1,)]


@esper("ctx-keyed", KS.format("ContextKeySegmentedNullKeyMultiKey (three key properties, one of them null)"))
def test_null_in_a_multi_key() -> None:
    e = Env("create context MyContext partition by theString, intBoxed, intPrimitive from SupportBean;\n"
            "@Name('s0') context MyContext select count(*) as cnt from SupportBean;")
    assert v(e.sb("A", 1, None), "cnt") == [(1,)]
    assert v(e.sb("A", 1, None), "cnt") == [(2,)]
    assert v(e.sb("A", 1, 10), "cnt") == [(1,)]


@esper("ctx-keyed", KS.format("ContextKeySegmentedViewSceneOne (built-in properties: context.name, context.id, "
                              "context.key1, over #length(2))"))
def test_built_in_properties() -> None:
    e = Env("create context SegmentedByString as partition by theString from SupportBean;\n"
            "@Name('s0') context SegmentedByString select context.name as c1, context.id as c2, context.key1 as c3, "
            "theString as c4 from SupportBean#length(2) as items;")
    assert v(e.sb("G1", 10), "c1", "c2", "c3", "c4") == [("SegmentedByString", 0, "G1", "G1")]
    assert v(e.sb("G2", 20), "c1", "c2", "c3", "c4") == [("SegmentedByString", 1, "G2", "G2")]
    assert v(e.sb("G1", 11), "c2", "c3") == [(0, "G1")]


@esper("ctx-keyed", KS.format("ContextKeySegmentedViewSceneOne (a #length(2) window per partition: G1's third "
                              "event pushes out G1's first, not G2's)"))
def test_length_window_per_partition() -> None:
    e = Env("create context SegmentedByString partition by theString from SupportBean;\n"
            "@Name('s0') context SegmentedByString select count(*) as n, sum(intPrimitive) as s from SupportBean#length(2);")
    got = [v(e.sb(s, i), "n", "s") for s, i in (("G1", 10), ("G2", 20), ("G1", 11), ("G2", 21), ("G1", 12), ("G2", 22))]
    assert got == [[(1, 10)], [(1, 20)], [(2, 21)], [(2, 41)], [(2, 23)], [(2, 43)]]


@esper("ctx-keyed", "Esper reference, 'Keyed Segmented Context' (partition by ... from three event types: "
       "a statement reading one of them counts per key)")
def test_keyed_over_three_streams() -> None:
    e = Env("create context C partition by theString from SupportBean, p00 from SupportBean_S0, p10 from SupportBean_S1;\n"
            "@Name('s0') context C select context.key1 as k, count(*) as n from SupportBean_S1;")
    e.sb("A", 1)
    e.s0(1, "A")
    assert v(e.s1(2, "A"), "k", "n") == [("A", 1)]
    assert v(e.s1(3, "B"), "k", "n") == [("B", 1)]
    assert v(e.s1(4, "A"), "k", "n") == [("A", 2)]


@esper("ctx-keyed", KS.format("ContextKeySegmentedJoinMultitypeMultifield (a join of #lastevent windows within a "
                              "partition: only the same key's events join)"))
def test_join_within_a_partition() -> None:
    e = Env("create context C partition by theString from SupportBean, p00 from SupportBean_S0;\n"
            "@Name('s0') context C select a.intPrimitive as i, b.id as id from SupportBean#lastevent as a, "
            "SupportBean_S0#lastevent as b;")
    assert e.sb("A", 1) == []
    assert e.s0(10, "B") == []
    assert v(e.s0(11, "A"), "i", "id") == [(1, 11)]
    assert v(e.sb("B", 2), "i", "id") == [(2, 10)]
    assert v(e.sb("A", 3), "i", "id") == [(3, 11)]


@esper("ctx-keyed", "Esper reference, 'Keyed Segmented Context' (a group by inside a partition groups that "
       "partition's events only)")
def test_group_by_inside_a_partition() -> None:
    e = Env("create context C partition by theString from SupportBean;\n"
            "@Name('s0') context C select intPrimitive as i, count(*) as n from SupportBean group by intPrimitive;")
    assert v(e.sb("A", 1), "i", "n") == [(1, 1)]
    assert v(e.sb("B", 1), "i", "n") == [(1, 1)]
    assert v(e.sb("A", 1), "i", "n") == [(1, 2)]
    assert v(e.sb("A", 2), "i", "n") == [(2, 1)]


@esper("ctx-keyed", "Esper reference, 'Keyed Segmented Context' (partition by two properties: context.key1, "
       "context.key2)")
def test_two_key_properties() -> None:
    e = Env("create context C partition by theString, intPrimitive from SupportBean;\n"
            "@Name('s0') context C select context.name as nm, context.key1 as k1, context.key2 as k2, "
            "count(*) as n from SupportBean;")
    assert v(e.sb("A", 1), "nm", "k1", "k2", "n") == [("C", "A", 1, 1)]
    assert v(e.sb("A", 2), "k1", "k2", "n") == [("A", 2, 1)]
    assert v(e.sb("A", 1), "k1", "k2", "n") == [("A", 1, 2)]


@esper("ctx-fixed", "ContextStartEnd (start @now end after: context.startTime and context.endTime of each "
       "back-to-back partition)")
def test_fixed_interval_start_and_end_time() -> None:
    h = Harness("create context C start @now end after 5 sec;\n"
                "@Name('s0') context C select context.startTime as st, context.endTime as et, count(*) as n from Flow;")
    for t in (1000, 5999, 6000, 12000):
        h.send(t, x=1)
    assert [(r.time_ms, r.values["st"], r.values["et"], r.values["n"]) for r in h.of("s0")] == [
        (1000, 1000, 6000, 1), (5999, 1000, 6000, 2), (6000, 6000, 11000, 1), (12000, 11000, 16000, 1)]


@esper("ctx-initterm", "ContextInitTerm (initiated by ... terminated after P, a #time_batch per partition: each "
       "partition's batches start at its first event and end with the partition)")
def test_overlapping_partitions_with_time_batch() -> None:
    h = Harness(STREAMS + "create context C initiated by SupportBean_S0 as s terminated after 10 sec;\n"
                "@Name('s0') context C select context.s.id as id, count(*) as n from SupportBean#time_batch(4 sec);")
    h.send(0, kind="s0", id=1, p00="X")
    h.send(1000, kind="sb", theString="A", intPrimitive=1)
    h.send(2000, kind="s0", id=2, p00="Y")
    h.send(3000, kind="sb", theString="B", intPrimitive=2)
    h.watermark(30000)
    assert [(r.time_ms, r.values["id"], r.values["n"]) for r in h.of("s0")] == [
        (5000, 1, 2), (7000, 2, 1), (9000, 1, 0), (11000, 2, 0)]


REFUSED = [
    ("create context C partition by theString from SupportBean;\ncontext C select intPrimitive as val0, "
     "prior(1, intPrimitive) as val1 from SupportBean", "prior", KS.format("ContextKeySegmentedPrior")),
    ("create context C partition by theString from SupportBean;\ncontext C select theString, (select p00 from "
     "SupportBean_S0#lastevent as s0 where sb.intPrimitive = s0.id) as val0 from SupportBean as sb", "subquer",
     KS.format("ContextKeySegmentedSubqueryFiltered")),
    ("create context C partition by theString from SupportBean;\ncontext C select * from pattern [every "
     "a=SupportBean -> b=SupportBean(intPrimitive=a.intPrimitive+1)]", "pattern", KS.format("ContextKeySegmentedPattern")),
    ("create context C partition by theString from SupportBean;\ncontext C select * from SupportBean "
     "match_recognize (measures A.intPrimitive as a pattern (A B) define A as A.intPrimitive = 1)", "match_recognize",
     KS.format("ContextKeySegmentedMatchRecognize")),
    ("create context C partition by theString from SupportBean;\ncontext C select count(*) as n from SupportBean "
     "output snapshot when terminated", "when", KS.format("ContextKeySegmentedWInitTermEndEvent (output ... when "
                                                          "terminated)")),
    ("create context SegmentedByString partition by theString from SupportBean;\ncontext SegmentedByString "
     "select irstream theString, intPrimitive from SupportBean#lastevent()", "irstream",
     KS.format("ContextKeySegmentedViewSceneTwo (select irstream in a context)")),
    ("create context ByP0 as partition by theString from SupportBean terminated by SupportBean(intPrimitive<0);\n"
     "context ByP0 select theString, count(*) as cnt from SupportBean(intPrimitive>= 0)", "terminated by",
     KS.format("ContextKeySegmentedTermByFilter")),
    ("create context C start SupportBean_S0 end SupportBean_S1;\ncontext C select count(*) as n from SupportBean",
     "started by an event", "ContextStartEnd (start and end by events)"),
    ("create context C initiated by SupportBean_S0 as s terminated by SupportBean_S1(p10 = s.p00);\ncontext C "
     "select count(*) as n from SupportBean", "terminated by an event", "ContextInitTerm (terminated by an event)"),
]


@pytest.mark.parametrize(("epl", "name"), [
    pytest.param(e, n, id=n, marks=esper("unsupported-is-an-error", c + ": refused at its line and column"))
    for e, n, c in REFUSED])
def test_unsupported_context_statements_are_refused(epl: str, name: str) -> None:
    with pytest.raises(EPLError) as err:
        compile_module(STREAMS + epl, "<t>")
    msg = str(err.value)
    assert msg.startswith("<t>:") and name in msg, msg


KA = "ContextKeySegmentedAggregate.{}"
CTX_SB = "create context SegmentedByString partition by theString from SupportBean;\n"


@esper("ctx-keyed", KA.format("ContextKeySegmentedRowForAll (sum per partition)"))
def test_row_for_all_per_partition() -> None:
    e = Env(CTX_SB + "@Name('s0') context SegmentedByString select sum(intPrimitive) as col1 from SupportBean;")
    got = [v(e.sb(s, i), "col1") for s, i in (("G1", 3), ("G2", 2), ("G1", 4), ("G2", 1), ("G3", -1))]
    assert got == [[(3,)], [(2,)], [(7,)], [(3,)], [(-1,)]]


STREAM_STEPS = [("G1", 10, (10, 1)), ("G2", 200, (200, 1)), ("G1", 10, (10, 2)), ("G1", 11, (11, 1)),
                ("G2", 200, (200, 2)), ("G2", 10, (10, 1))]


@pytest.mark.parametrize("with_key", [
    pytest.param(False, id="grouped", marks=esper("ctx-keyed", KA.format("ContextKeySegmentedRowPerGroupStream"))),
    pytest.param(True, id="with-partition-property", marks=esper("ctx-keyed", KA.format(
        "ContextKeySegmentedRowPerGroupStream (selecting the partition property theString keeps one row per "
        "group: it is constant in a partition)"))),
])
def test_row_per_group_per_partition(with_key: bool) -> None:
    sel = "theString, intPrimitive, count(*) as n" if with_key else "intPrimitive, count(*) as n"
    e = Env(CTX_SB + f"@Name('s0') context SegmentedByString select {sel} from SupportBean group by intPrimitive;")
    for s, i, (gi, n) in STREAM_STEPS:
        rows = e.sb(s, i)
        assert v(rows, "intPrimitive", "n") == [(gi, n)], (s, i)
        if with_key:
            assert rows[0].values["theString"] == s


BATCH_STEPS = [("G1", 10, []), ("G2", 200, []), ("G1", 11, [(10, 1), (11, 1)]), ("G1", 10, []),
               ("G2", 200, [(200, 2)]), ("G1", 10, [(10, 2), (11, 0)]), ("G2", 10, []),
               ("G2", 10, [(10, 2), (200, 0)])]


@pytest.mark.parametrize("with_key", [
    pytest.param(False, id="grouped", marks=esper("ctx-keyed", KA.format(
        "ContextKeySegmentedRowPerGroupBatchContextProp (#length_batch(2) per partition; a group of the previous "
        "batch is output with count 0)"))),
    pytest.param(True, id="with-partition-property", marks=esper("ctx-keyed", KA.format(
        "ContextKeySegmentedRowPerGroupBatchContextProp (add context property theString: the same rows)"))),
])
def test_row_per_group_batch_per_partition(with_key: bool) -> None:
    sel, order = (("theString, intPrimitive, count(*) as n", "theString, intPrimitive asc") if with_key
                  else ("intPrimitive, count(*) as n", "intPrimitive asc"))
    e = Env(CTX_SB + f"@Name('s0') context SegmentedByString select {sel} from SupportBean#length_batch(2) "
            f"group by intPrimitive order by {order};")
    for s, i, want in BATCH_STEPS:
        rows = e.sb(s, i)
        assert v(rows, "intPrimitive", "n") == want, (s, i)
        if with_key:
            assert all(r.values["theString"] == s for r in rows)


@esper("ctx-keyed", KA.format("ContextKeySegmentedRowPerGroup3Stmts (S1: sum, S3: sum(distinct), grouped, with the "
                              "partition property selected)"))
def test_row_per_group_three_statements() -> None:
    e = Env(CTX_SB + "@Name('s0') context SegmentedByString select theString, intPrimitive, sum(intBoxed) as col1, "
            "sum(distinct intBoxed) as col3 from SupportBean#keepall sb group by intPrimitive;")
    steps = [("G1", 1, 10, ("G1", 1, 10, 10)), ("G2", 1, 25, ("G2", 1, 25, 25)), ("G1", 2, 2, ("G1", 2, 2, 2)),
             ("G2", 2, 100, ("G2", 2, 100, 100)), ("G1", 1, 10, ("G1", 1, 20, 10)), ("G1", 2, 3, ("G1", 2, 5, 5)),
             ("G2", 2, 101, ("G2", 2, 201, 201)), ("G3", 1, -1, ("G3", 1, -1, -1)), ("G3", 2, -2, ("G3", 2, -2, -2)),
             ("G3", 1, -3, ("G3", 1, -4, -4)), ("G1", 2, 3, ("G1", 2, 8, 5))]
    for s, i, b, want in steps:
        assert v(e.sb(s, i, b), "theString", "intPrimitive", "col1", "col3") == [want], (s, i, b)


@esper("ctx-keyed", "Esper's non-aggregated property check skips a keyed context's partition properties "
       "(ExprNodeUtilityQuery.addNonAggregatedProps with the context property registry): select theString, "
       "sum(...) over #time is fully aggregated, so an expiry outputs the partition's new sum")
def test_partition_property_beside_an_ungrouped_aggregate_over_a_time_window() -> None:
    h = Harness(STREAMS + CTX_SB + "@Name('s0') context SegmentedByString select theString, sum(intPrimitive) as s "
                "from SupportBean#time(1 sec);")
    h.send(0, kind="sb", theString="G1", intPrimitive=1)
    h.send(500, kind="sb", theString="G1", intPrimitive=2)
    h.watermark(3000)
    assert [(r.time_ms, r.values["theString"], r.values["s"]) for r in h.of("s0")] == [
        (0, "G1", 1), (500, "G1", 3), (1000, "G1", 2), (1500, "G1", None)]


@esper("unsupported-is-an-error", KA.format("ContextKeySegmentedRowPerGroupUnidirectionalJoin (a stream the keyed "
                                            "context does not list, SupportBean_S0#keepall, shared by the "
                                            "partitions): refused at its line and column"))
def test_unpartitioned_stream_in_a_keyed_context_is_refused() -> None:
    with pytest.raises(EPLError) as err:
        compile_module(STREAMS + CTX_SB + "context SegmentedByString select intPrimitive, count(*) as col1 from "
                       "SupportBean unidirectional, SupportBean_S0#keepall group by intPrimitive", "<t>")
    assert "not partitioned" in str(err.value) and str(err.value).startswith("<t>:"), str(err.value)
