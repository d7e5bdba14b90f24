"""The remove stream: ``select irstream`` / ``select rstream`` / ``insert rstream into``.

Esper's ``ResultAssertExecution`` runs every statement of the output-reference regression tests
(``ResultSetOutputLimit*``) a second time with ``select irstream`` and then asserts both the
insert stream (``newData``) and the remove stream (``oldData``) of the same
``ResultAssertTestResult`` table. The tables below are those tables: ``(insert rows, remove
rows)`` by output time, over ``esper.MARKET``. Esper's listener may also be invoked with two
empty streams (``addResultInsRem(t, 0, null, null)``); FlowCEP outputs no row then.
"""

from __future__ import annotations

from typing import Any

import pytest

from flowcep_plugin.engine.compiler import compile_module
from flowcep_plugin.engine.harness import Harness
from flowcep_plugin.errors import EPLError

from .esper import run_market_ir

RS = "ResultSetOutputLimitSimple"
RA = "ResultSetOutputLimitRowForAll"
RG = "ResultSetOutputLimitRowPerGroup"
RE = "ResultSetOutputLimitRowPerEvent"
KW = "EPLOtherIStreamRStreamKeywords"

SIMPLE = "@Name('s0') select irstream symbol, volume, price from Flow#time(5.5 sec) "
FORALL = "@Name('s0') select irstream sum(price) from Flow#time(5.5 sec) "
GROUP = "@Name('s0') select irstream symbol, sum(price) from Flow#time(5.5 sec) group by symbol "
EVENT = "@Name('s0') select irstream symbol, sum(price) from Flow#time(5.5 sec) "
S_F = ("symbol", "volume", "price")
A_F = ("sum(price)",)
G_F = ("symbol", "sum(price)")

IBM25, MSFT9, IBM24, YAH1, IBM26 = ("IBM", 100, 25.0), ("MSFT", 5000, 9.0), ("IBM", 150, 24.0), \
    ("YAH", 10000, 1.0), ("IBM", 155, 26.0)
YAH2, IBM22, YAH3, YAH1b = ("YAH", 11000, 2.0), ("IBM", 150, 22.0), ("YAH", 11500, 3.0), ("YAH", 10500, 1.0)

Table = dict[int, tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]]


def ir(ins: dict[int, list[Any]], rem: dict[int, list[Any]]) -> Table:
    """One ``ResultAssertTestResult`` table: insert and remove rows by time."""
    out: Table = {}
    for t in sorted(set(ins) | set(rem)):
        out[t] = ([r if isinstance(r, tuple) else (r,) for r in ins.get(t, [])],
                  [r if isinstance(r, tuple) else (r,) for r in rem.get(t, [])])
    return out


def case(construct: str, cite: str, epl: str, fields: tuple[str, ...], expected: Table,
         any_order: bool = False) -> Any:
    return pytest.param(epl, fields, expected, any_order, marks=pytest.mark.esper(construct, cite=cite),
                        id=cite.replace(".", "-"))


SIMPLE_NONE_INS = {200: [IBM25], 800: [MSFT9], 1500: [IBM24, YAH1], 2100: [IBM26], 3500: [YAH2],
                   4300: [IBM22], 4900: [YAH3], 5900: [YAH1b]}
SIMPLE_56_INS = {1200: [IBM25, MSFT9], 2200: [IBM24, YAH1, IBM26], 4200: [YAH2], 5200: [IBM22, YAH3],
                 6200: [YAH1b]}

CASES = [
    # -- un-aggregated: the events that leave the window, with HAVING applied to them --------
    case("irstream-simple", f"{RS}.ResultSet1NoneNoHavingNoJoin (tryAssertion12)", SIMPLE, S_F, ir(
        SIMPLE_NONE_INS, {5700: [IBM25], 6300: [MSFT9], 7000: [IBM24, YAH1]})),
    case("irstream-simple", f"{RS}.ResultSet3NoneHavingNoJoin (tryAssertion34)", SIMPLE + "having price > 10",
         S_F, ir({200: [IBM25], 1500: [IBM24], 2100: [IBM26], 4300: [IBM22]}, {5700: [IBM25], 7000: [IBM24]})),
    case("irstream-output-rate", f"{RS}.ResultSet5DefaultNoHavingNoJoin (tryAssertion56)",
         SIMPLE + "output every 1 seconds", S_F, ir(SIMPLE_56_INS, {6200: [IBM25], 7200: [MSFT9, IBM24, YAH1]})),
    case("irstream-output-rate", f"{RS}.ResultSet7DefaultHavingNoJoin (tryAssertion78)",
         SIMPLE + "having price > 10 output every 1 seconds", S_F,
         ir({1200: [IBM25], 2200: [IBM24, IBM26], 5200: [IBM22]}, {6200: [IBM25], 7200: [IBM24]})),
    # -- fully aggregated, un-grouped: the remove row is the aggregation before the update ---
    case("irstream-aggregate-all", f"{RA}.ResultSet1NoneNoHavingNoJoin (tryAssertion12)", FORALL, A_F, ir(
        {200: [25.0], 800: [34.0], 1500: [58.0, 59.0], 2100: [85.0], 3500: [87.0], 4300: [109.0],
         4900: [112.0], 5700: [87.0], 5900: [88.0], 6300: [79.0], 7000: [54.0]},
        {200: [None], 800: [25.0], 1500: [34.0, 58.0], 2100: [59.0], 3500: [85.0], 4300: [87.0],
         4900: [109.0], 5700: [112.0], 5900: [87.0], 6300: [88.0], 7000: [79.0]})),
    case("irstream-aggregate-all", f"{RA}.ResultSet3NoneHavingNoJoin (tryAssertion34)",
         FORALL + "having sum(price) > 100", A_F, ir({4300: [109.0], 4900: [112.0]}, {4900: [109.0], 5700: [112.0]})),
    case("irstream-output-rate", f"{RA}.ResultSet5DefaultNoHavingNoJoin (tryAssertion56)",
         FORALL + "output every 1 seconds", A_F, ir(
             {1200: [25.0, 34.0], 2200: [58.0, 59.0, 85.0], 3200: [85.0], 4200: [87.0], 5200: [109.0, 112.0],
              6200: [87.0, 88.0], 7200: [79.0, 54.0]},
             {1200: [None, 25.0], 2200: [34.0, 58.0, 59.0], 3200: [85.0], 4200: [85.0], 5200: [87.0, 109.0],
              6200: [112.0, 87.0], 7200: [88.0, 79.0]})),
    case("irstream-output-rate", f"{RA}.ResultSet7DefaultHavingNoJoin (tryAssertion78)",
         FORALL + "having sum(price) > 100 output every 1 seconds", A_F,
         ir({5200: [109.0, 112.0]}, {5200: [109.0], 6200: [112.0]})),
    # -- fully aggregated, grouped: each touched group's row before the update ----------------
    case("irstream-group-by", f"{RG}.ResultSet1NoneNoHavingNoJoin (tryAssertion12)", GROUP, G_F, ir(
        {200: [("IBM", 25.0)], 800: [("MSFT", 9.0)], 1500: [("IBM", 49.0), ("YAH", 1.0)], 2100: [("IBM", 75.0)],
         3500: [("YAH", 3.0)], 4300: [("IBM", 97.0)], 4900: [("YAH", 6.0)], 5700: [("IBM", 72.0)],
         5900: [("YAH", 7.0)], 6300: [("MSFT", None)], 7000: [("IBM", 48.0), ("YAH", 6.0)]},
        {200: [("IBM", None)], 800: [("MSFT", None)], 1500: [("IBM", 25.0), ("YAH", None)], 2100: [("IBM", 49.0)],
         3500: [("YAH", 1.0)], 4300: [("IBM", 75.0)], 4900: [("YAH", 3.0)], 5700: [("IBM", 97.0)],
         5900: [("YAH", 6.0)], 6300: [("MSFT", 9.0)], 7000: [("IBM", 72.0), ("YAH", 7.0)]}), any_order=True),
    case("irstream-group-by", f"{RG}.ResultSet3NoneHavingNoJoin (tryAssertion34)", GROUP + "having sum(price) > 50",
         G_F, ir({2100: [("IBM", 75.0)], 4300: [("IBM", 97.0)], 5700: [("IBM", 72.0)]},
                 {4300: [("IBM", 75.0)], 5700: [("IBM", 97.0)], 7000: [("IBM", 72.0)]})),
    case("irstream-output-rate", f"{RG}.ResultSet5DefaultNoHavingNoJoin (tryAssertion56)",
         GROUP + "output every 1 seconds", G_F, ir(
             {1200: [("IBM", 25.0), ("MSFT", 9.0)], 2200: [("IBM", 49.0), ("IBM", 75.0), ("YAH", 1.0)],
              4200: [("YAH", 3.0)], 5200: [("IBM", 97.0), ("YAH", 6.0)], 6200: [("IBM", 72.0), ("YAH", 7.0)],
              7200: [("IBM", 48.0), ("MSFT", None), ("YAH", 6.0)]},
             {1200: [("IBM", None), ("MSFT", None)], 2200: [("IBM", 25.0), ("IBM", 49.0), ("YAH", None)],
              4200: [("YAH", 1.0)], 5200: [("IBM", 75.0), ("YAH", 3.0)], 6200: [("IBM", 97.0), ("YAH", 6.0)],
              7200: [("IBM", 72.0), ("MSFT", 9.0), ("YAH", 7.0)]}), any_order=True),
    case("irstream-output-rate", f"{RG}.ResultSet7DefaultHavingNoJoin (tryAssertion78)",
         GROUP + "having sum(price) > 50 output every 1 seconds", G_F,
         ir({2200: [("IBM", 75.0)], 5200: [("IBM", 97.0)], 6200: [("IBM", 72.0)]},
            {5200: [("IBM", 75.0)], 6200: [("IBM", 97.0)], 7200: [("IBM", 72.0)]})),
    # -- aggregates beside event properties: departing events with the values after it -------
    case("irstream-aggregate-per-event", f"{RE}.ResultSet1NoneNoHavingNoJoin (tryAssertion12)", EVENT, G_F, ir(
        {200: [("IBM", 25.0)], 800: [("MSFT", 34.0)], 1500: [("IBM", 58.0), ("YAH", 59.0)], 2100: [("IBM", 85.0)],
         3500: [("YAH", 87.0)], 4300: [("IBM", 109.0)], 4900: [("YAH", 112.0)], 5900: [("YAH", 88.0)]},
        {5700: [("IBM", 87.0)], 6300: [("MSFT", 79.0)], 7000: [("IBM", 54.0), ("YAH", 54.0)]})),
    case("irstream-aggregate-per-event", f"{RE}.ResultSet3NoneHavingNoJoin (tryAssertion34)",
         EVENT + "having sum(price) > 100", G_F, ir({4300: [("IBM", 109.0)], 4900: [("YAH", 112.0)]}, {})),
    case("irstream-output-rate", f"{RE}.ResultSet5DefaultNoHavingNoJoin (tryAssertion56)",
         EVENT + "output every 1 seconds", G_F, ir(
             {1200: [("IBM", 25.0), ("MSFT", 34.0)], 2200: [("IBM", 58.0), ("YAH", 59.0), ("IBM", 85.0)],
              4200: [("YAH", 87.0)], 5200: [("IBM", 109.0), ("YAH", 112.0)], 6200: [("YAH", 88.0)]},
             {6200: [("IBM", 87.0)], 7200: [("MSFT", 79.0), ("IBM", 54.0), ("YAH", 54.0)]})),
    case("irstream-output-rate", "ResultSetOutputLimitAggregateGrouped.ResultSet5DefaultNoHavingNoJoin "
         "(tryAssertion56)", "@Name('s0') select irstream symbol, volume, sum(price) from Flow#time(5.5 sec) "
         "group by symbol output every 1 seconds", ("symbol", "volume", "sum(price)"), ir(
             {1200: [("IBM", 100, 25.0), ("MSFT", 5000, 9.0)],
              2200: [("IBM", 150, 49.0), ("YAH", 10000, 1.0), ("IBM", 155, 75.0)],
              4200: [("YAH", 11000, 3.0)], 5200: [("IBM", 150, 97.0), ("YAH", 11500, 6.0)],
              6200: [("YAH", 10500, 7.0)]},
             {6200: [("IBM", 100, 72.0)], 7200: [("MSFT", 5000, None), ("IBM", 150, 48.0), ("YAH", 10000, 6.0)]})),
]


def _sorted(t: Table) -> Table:
    return {k: (sorted(i, key=repr), sorted(r, key=repr)) for k, (i, r) in t.items()}


@pytest.mark.parametrize(("epl", "fields", "expected", "any_order"), CASES)
def test_irstream_output_reference(epl: str, fields: tuple[str, ...], expected: Table, any_order: bool) -> None:
    got = run_market_ir(epl, fields)
    if any_order:
        got, expected = _sorted(got), _sorted(expected)
    assert got == expected


_KEYS = "@Name('K') insert into K select symbol as ks from Flow(kind = 'key');\n"


def _join(epl: str) -> str:
    """The ``...Join`` variant: the market data joined with a keepall stream of its symbols."""
    head, _sep, tail = epl.partition("from Flow#time(5.5 sec)")
    return _KEYS + head + "from Flow(kind = 'md')#time(5.5 sec) as m, K#keepall as k where k.ks = m.symbol" + tail


JOIN_CASES = [
    pytest.param(_join(p.values[0]), *p.values[1:], marks=pytest.mark.esper(
        "irstream-simple-join", cite=p.marks[0].kwargs["cite"].replace("NoJoin", "Join")), id=p.id + "-join")
    for p in CASES[:4]
]


@pytest.mark.parametrize(("epl", "fields", "expected", "any_order"), JOIN_CASES)
def test_irstream_output_reference_join(epl: str, fields: tuple[str, ...], expected: Table, any_order: bool) -> None:
    assert run_market_ir(epl, fields, join_keys=True) == expected


def _ins_rem(rows: list[Any], key: str) -> tuple[list[Any], list[Any]]:
    return [r.values[key] for r in rows if not r.removed], [r.values[key] for r in rows if r.removed]


@pytest.mark.esper("rstream", cite=f"{KW}.EPLOtherRStreamOnly")
def test_rstream_outputs_only_events_that_leave() -> None:
    h = Harness("@Name('s0') select rstream * from Flow#length(3)")
    assert h.send(0, theString="a") == []
    assert h.send(1, theString="a2") == [] and h.send(2, theString="b") == []
    out = h.send(3, theString="d")
    assert [(r.values["theString"], r.removed) for r in out] == [("a", True)]


@pytest.mark.esper("rstream", cite=f"{KW}.EPLOtherRStreamInsertInto (insert into keeps the insert stream)")
def test_insert_into_with_select_rstream_inserts_the_insert_stream() -> None:
    h = Harness("""@Name('s0') insert into NextStream select rstream s0.theString as theString
                   from Flow#length(3) as s0;
                   @Name('ii') select * from NextStream""")
    for i, v in enumerate("abc"):
        h.send(i, theString=v)
    assert h.of("s0") == [] and [r.values["theString"] for r in h.of("ii")] == ["a", "b", "c"]
    h.send(3, theString="d")
    assert _ins_rem(h.of("s0"), "theString") == ([], ["a"])
    assert _ins_rem(h.of("ii"), "theString") == (["a", "b", "c", "d"], [])


@pytest.mark.esper("rstream", cite=f"{KW}.EPLOtherRStreamInsertIntoRStream")
def test_insert_rstream_into_inserts_the_remove_stream() -> None:
    h = Harness("""@Name('s0') insert rstream into NextStream select rstream s0.theString as theString
                   from Flow#length(3) as s0;
                   @Name('ii') select * from NextStream""")
    for i, v in enumerate("abc"):
        h.send(i, theString=v)
    assert h.of("s0") == [] and h.of("ii") == []
    h.send(3, theString="d")
    assert _ins_rem(h.of("s0"), "theString") == ([], ["a"])
    assert _ins_rem(h.of("ii"), "theString") == (["a"], [])  # an inserted event is a new event


@pytest.mark.esper("rstream", cite=f"{KW}.EPLOtherIStreamInsertIntoRStream")
def test_insert_rstream_into_with_select_istream() -> None:
    h = Harness("""@Name('s0') insert rstream into NextStream select istream a.theString as theString
                   from Flow#length(1) as a;
                   @Name('ii') select * from NextStream""")
    h.send(0, theString="a")
    assert _ins_rem(h.of("s0"), "theString") == (["a"], []) and h.of("ii") == []
    h.send(1, theString="b")
    assert _ins_rem(h.of("s0"), "theString") == (["a", "b"], [])
    assert _ins_rem(h.of("ii"), "theString") == (["a"], [])


@pytest.mark.esper("rstream", cite=f"{KW}.EPLOtherRStreamJoin")
def test_rstream_join_outputs_joined_rows_that_leave() -> None:
    h = Harness("""@Name('s0') select rstream s1.intPrimitive as aID, s2.intPrimitive as bID
                   from Flow(theString='a')#length(2) as s1, Flow(theString='b')#keepall as s2
                   where s1.intPrimitive = s2.intPrimitive""")
    h.send(0, theString="a", intPrimitive=1)
    h.send(1, theString="b", intPrimitive=1)
    h.send(2, theString="a", intPrimitive=2)
    assert h.rows == []
    out = h.send(3, theString="a", intPrimitive=3)
    assert [(r.values["aID"], r.values["bID"], r.removed) for r in out] == [(1, 1, True)]


@pytest.mark.esper("rstream", cite=f"{KW}.EPLOtherIStreamJoin")
def test_istream_join_outputs_no_remove_stream() -> None:
    h = Harness("""@Name('s0') select istream s1.intPrimitive as aID, s2.intPrimitive as bID
                   from Flow(theString='a')#length(2) as s1, Flow(theString='b')#keepall as s2
                   where s1.intPrimitive = s2.intPrimitive""")
    h.send(0, theString="a", intPrimitive=1)
    assert [(r.values["aID"], r.values["bID"]) for r in h.send(1, theString="b", intPrimitive=1)] == [(1, 1)]
    h.send(2, theString="a", intPrimitive=2)
    assert h.send(3, theString="a", intPrimitive=3) == []


@pytest.mark.esper("irstream-time_batch", cite="ViewTimeBatch.ViewTimeBatchSceneOne (select irstream *: a release "
                   "posts the batch and, as the remove stream, the previous batch)")
def test_time_batch_irstream_posts_the_previous_batch_as_removed() -> None:
    h = Harness("@Name('s0') select irstream * from Flow#time_batch(1 sec)")
    h.watermark(0)
    h.send(1500, theString="E1")
    h.send(1700, theString="E2")
    assert _ins_rem(h.watermark(2500), "theString") == (["E1", "E2"], [])
    h.send(2500, theString="E3")
    h.send(2600, theString="E4")
    assert _ins_rem(h.watermark(3500), "theString") == (["E3", "E4"], ["E1", "E2"])
    assert _ins_rem(h.watermark(4500), "theString") == ([], ["E3", "E4"])
    assert h.watermark(5500) == []


@pytest.mark.esper("irstream-time_batch", cite="Esper reference, 'Output Reference and Samples': fully-aggregated "
                   "statements post the aggregation before the update as the remove stream")
def test_time_batch_grouped_irstream_removes_the_previous_batch_values() -> None:
    h = Harness("@Name('s0') select irstream k, count(*) as n from Flow#time_batch(1 sec) group by k")
    h.send(0, k="x")
    h.send(100, k="x")
    h.send(1100, k="y")
    h.watermark(3000)
    got = sorted((r.time_ms, r.removed, r.values["k"], r.values["n"]) for r in h.rows)
    assert got == [(1000, False, "x", 2), (1000, True, "x", 0),
                   (2000, False, "x", 0), (2000, False, "y", 1), (2000, True, "x", 2), (2000, True, "y", 0),
                   (3000, False, "y", 0), (3000, True, "y", 1)]


REFUSED = [
    ("select irstream a.v from pattern [every a=Flow]", "over a pattern"),
    ("select irstream v from Flow#length(2) output first every 1 sec", "output first"),
    ("select irstream v from Flow#length(2) output last every 1 sec", "output last"),
    ("select irstream count(*) from Flow#length(2) as a, Flow#length(2) as b", "aggregating join"),
]


@pytest.mark.esper("unsupported-is-an-error", cite="Esper reference, 'Selecting Insert and Remove Stream Events': "
                   "remove-stream combinations not checked here are refused")
@pytest.mark.parametrize(("text", "word"), REFUSED)
def test_unverified_remove_stream_combinations_are_compile_errors(text: str, word: str) -> None:
    with pytest.raises(EPLError) as info:
        compile_module(text)
    assert word in str(info.value) and info.value.line == 1


@pytest.mark.esper("irstream-prior", cite="ExprCorePrior.ExprCorePriorBoundedMultiple (a remove row keeps the "
                   "prior values of its event)")
def test_irstream_rows_keep_their_prior_values() -> None:
    h = Harness("@Name('s0') select irstream theString as c0, prior(1, intPrimitive) as c1, "
                "prior(2, intPrimitive) as c2 from Flow#length(2)")
    steps = [h.send(i, theString=f"E{i + 1}", intPrimitive=10 + i) for i in range(5)]
    f = ("c0", "c1", "c2")
    assert [([tuple(r.values[k] for k in f) for r in s if not r.removed],
             [tuple(r.values[k] for k in f) for r in s if r.removed]) for s in steps] == [
        ([("E1", None, None)], []), ([("E2", 10, None)], []), ([("E3", 11, 10)], [("E1", None, None)]),
        ([("E4", 12, 11)], [("E2", 10, None)]), ([("E5", 13, 12)], [("E3", 11, 10)])]


@pytest.mark.esper("irstream-prior", cite="ExprCorePrior.ExprCorePriorTimeWindow")
def test_irstream_time_window_prior_on_expiry() -> None:
    h = Harness("@Name('s0') select irstream symbol as s, prior(2, symbol) as p, prior(2, price) as pp "
                "from Flow#time(1 min)")
    for t, s, p in ((0, "D1", 1.0), (1000, "D2", 2.0), (2000, "D3", 3.0), (3000, "D4", 4.0), (4000, "D5", 5.0),
                    (30000, "D6", 6.0)):
        h.send(t, symbol=s, price=p)
    assert [(r.values["s"], r.values["p"], r.values["pp"]) for r in h.rows if not r.removed][2:] == [
        ("D3", "D1", 1.0), ("D4", "D2", 2.0), ("D5", "D3", 3.0), ("D6", "D4", 4.0)]
    gone = [(r.time_ms, r.values["s"], r.values["p"], r.values["pp"]) for r in h.watermark(90000)]
    assert gone == [(60000, "D1", None, None), (61000, "D2", None, None), (62000, "D3", "D1", 1.0),
                    (63000, "D4", "D2", 2.0), (64000, "D5", "D3", 3.0), (90000, "D6", "D4", 4.0)]
    assert all(r.removed for r in h.rows[6:])
