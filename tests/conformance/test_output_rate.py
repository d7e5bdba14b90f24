"""Output rate limiting and the four aggregation kinds, over Esper's output-reference data.

Expected rows are the insert-stream rows of the ``ResultAssertTestResult`` tables in Esper's
regression tests ``ResultSetOutputLimitSimple`` (un-aggregated, un-grouped),
``ResultSetOutputLimitRowForAll`` (fully aggregated, un-grouped) and
``ResultSetOutputLimitRowPerGroup`` (fully aggregated, grouped), each over
``MarketData#time(5.5 sec)`` with the events of ``esper.MARKET``.
"""

from __future__ import annotations

import pytest

from flowcep_plugin.engine.compiler import compile_module
from flowcep_plugin.errors import EPLError

from .esper import run_market, sorted_rows

SIMPLE = "@Name('s0') select symbol, volume, price from Flow#time(5.5 sec) "
FORALL = "@Name('s0') select sum(price) from Flow#time(5.5 sec) "
GROUP = "@Name('s0') select symbol, sum(price) from Flow#time(5.5 sec) group by symbol "

S_F = ("symbol", "volume", "price")
A_F = ("sum(price)",)
G_F = ("symbol", "sum(price)")

IBM25, MSFT9, IBM24, YAH1, IBM26 = ("IBM", 100, 25.0), ("MSFT", 5000, 9.0), ("IBM", 150, 24.0), \
    ("YAH", 10000, 1.0), ("IBM", 155, 26.0)
YAH2, IBM22, YAH3, YAH1b = ("YAH", 11000, 2.0), ("IBM", 150, 22.0), ("YAH", 11500, 3.0), ("YAH", 10500, 1.0)

RS = "ResultSetOutputLimitSimple"
RA = "ResultSetOutputLimitRowForAll"
RG = "ResultSetOutputLimitRowPerGroup"


def case(construct: str, cite: str, epl: str, fields: tuple[str, ...], expected: dict, any_order: bool = False):  # type: ignore[no-untyped-def]
    return pytest.param(epl, fields, expected, any_order, marks=pytest.mark.esper(construct, cite=cite),
                        id=cite.split(".")[-1])


CASES = [
    # -- un-aggregated, un-grouped ------------------------------------------------------------
    case("select-simple", f"{RS}.ResultSet1NoneNoHavingNoJoin", SIMPLE, S_F, {
        200: [IBM25], 800: [MSFT9], 1500: [IBM24, YAH1], 2100: [IBM26], 3500: [YAH2], 4300: [IBM22],
        4900: [YAH3], 5900: [YAH1b]}),
    case("select-simple", f"{RS}.ResultSet3NoneHavingNoJoin", SIMPLE + "having price > 10", S_F, {
        200: [IBM25], 1500: [IBM24], 2100: [IBM26], 4300: [IBM22]}),
    case("output-rate", f"{RS}.ResultSet5DefaultNoHavingNoJoin", SIMPLE + "output every 1 seconds", S_F, {
        1200: [IBM25, MSFT9], 2200: [IBM24, YAH1, IBM26], 4200: [YAH2], 5200: [IBM22, YAH3], 6200: [YAH1b]}),
    case("output-rate", f"{RS}.ResultSet7DefaultHavingNoJoin", SIMPLE + "having price > 10 output every 1 seconds",
         S_F, {1200: [IBM25], 2200: [IBM24, IBM26], 5200: [IBM22]}),
    case("output-rate", f"{RS}.ResultSet9AllNoHavingNoJoin", SIMPLE + "output all every 1 seconds", S_F, {
        1200: [IBM25, MSFT9], 2200: [IBM24, YAH1, IBM26], 4200: [YAH2], 5200: [IBM22, YAH3], 6200: [YAH1b]}),
    case("output-rate", f"{RS}.ResultSet11AllHavingNoJoin", SIMPLE + "having price > 10 output all every 1 seconds",
         S_F, {1200: [IBM25], 2200: [IBM24, IBM26], 5200: [IBM22]}),
    case("output-rate", f"{RS}.ResultSet13LastNoHavingNoJoin", SIMPLE + "output last every 1 seconds", S_F, {
        1200: [MSFT9], 2200: [IBM26], 4200: [YAH2], 5200: [YAH3], 6200: [YAH1b]}),
    case("output-rate", f"{RS}.ResultSet15LastHavingNoJoin", SIMPLE + "having price > 10 output last every 1 seconds",
         S_F, {1200: [IBM25], 2200: [IBM26], 5200: [IBM22]}),
    case("output-rate", f"{RS}.ResultSet17FirstNoHavingNoJoinIStream", SIMPLE + "output first every 1 seconds", S_F, {
        200: [IBM25], 1500: [IBM24], 3500: [YAH2], 4300: [IBM22], 5900: [YAH1b]}),
    case("output-rate", f"{RS}.ResultSet18SnapshotNoHavingNoJoin (the window's contents at each interval end)",
         SIMPLE + "output snapshot every 1 seconds", S_F, {
             1200: [IBM25, MSFT9], 2200: [IBM25, MSFT9, IBM24, YAH1, IBM26], 3200: [IBM25, MSFT9, IBM24, YAH1, IBM26],
             4200: [IBM25, MSFT9, IBM24, YAH1, IBM26, YAH2], 5200: [IBM25, MSFT9, IBM24, YAH1, IBM26, YAH2, IBM22, YAH3],
             6200: [MSFT9, IBM24, YAH1, IBM26, YAH2, IBM22, YAH3, YAH1b], 7200: [IBM26, YAH2, IBM22, YAH3, YAH1b]}),
    # -- fully aggregated, un-grouped -----------------------------------------------------------
    case("aggregate-all", f"{RA}.ResultSet1NoneNoHavingNoJoin", FORALL, A_F, {
        200: [(25.0,)], 800: [(34.0,)], 1500: [(58.0,), (59.0,)], 2100: [(85.0,)], 3500: [(87.0,)],
        4300: [(109.0,)], 4900: [(112.0,)], 5700: [(87.0,)], 5900: [(88.0,)], 6300: [(79.0,)], 7000: [(54.0,)]}),
    case("aggregate-all", f"{RA}.ResultSet3NoneHavingNoJoin", FORALL + "having sum(price) > 100", A_F, {
        4300: [(109.0,)], 4900: [(112.0,)]}),
    case("output-rate", f"{RA}.ResultSet5DefaultNoHavingNoJoin", FORALL + "output every 1 seconds", A_F, {
        1200: [(25.0,), (34.0,)], 2200: [(58.0,), (59.0,), (85.0,)], 3200: [(85.0,)], 4200: [(87.0,)],
        5200: [(109.0,), (112.0,)], 6200: [(87.0,), (88.0,)], 7200: [(79.0,), (54.0,)]}),
    case("output-rate", f"{RA}.ResultSet7DefaultHavingNoJoin",
         FORALL + "having sum(price) > 100 output every 1 seconds", A_F, {5200: [(109.0,), (112.0,)]}),
    case("output-rate", f"{RA}.ResultSet9AllNoHavingNoJoin", FORALL + "output all every 1 seconds", A_F, {
        1200: [(25.0,), (34.0,)], 2200: [(58.0,), (59.0,), (85.0,)], 3200: [(85.0,)], 4200: [(87.0,)],
        5200: [(109.0,), (112.0,)], 6200: [(87.0,), (88.0,)], 7200: [(79.0,), (54.0,)]}),
    case("output-rate", f"{RA}.ResultSet11AllHavingNoJoin",
         FORALL + "having sum(price) > 100 output all every 1 seconds", A_F, {5200: [(109.0,), (112.0,)]}),
    case("output-rate", f"{RA}.ResultSet13LastNoHavingNoJoin", FORALL + "output last every 1 seconds", A_F, {
        1200: [(34.0,)], 2200: [(85.0,)], 3200: [(85.0,)], 4200: [(87.0,)], 5200: [(112.0,)], 6200: [(88.0,)],
        7200: [(54.0,)]}),
    case("output-rate", f"{RA}.ResultSet15LastHavingNoJoin",
         FORALL + "having sum(price) > 100 output last every 1 seconds", A_F, {5200: [(112.0,)]}),
    case("output-rate", f"{RA}.ResultSet17FirstNoHavingNoJoin", FORALL + "output first every 1 seconds", A_F, {
        200: [(25.0,)], 1500: [(58.0,)], 3500: [(87.0,)], 4300: [(109.0,)], 5700: [(87.0,)], 6300: [(79.0,)]}),
    case("output-rate", f"{RA}.ResultSet18SnapshotNoHavingNoJoin", FORALL + "output snapshot every 1 seconds", A_F, {
        1200: [(34.0,)], 2200: [(85.0,)], 3200: [(85.0,)], 4200: [(87.0,)], 5200: [(112.0,)], 6200: [(88.0,)],
        7200: [(54.0,)]}),
    # -- fully aggregated, grouped -------------------------------------------------------------
    case("group-by", f"{RG}.ResultSet1NoneNoHavingNoJoin", GROUP, G_F, {
        200: [("IBM", 25.0)], 800: [("MSFT", 9.0)], 1500: [("IBM", 49.0), ("YAH", 1.0)], 2100: [("IBM", 75.0)],
        3500: [("YAH", 3.0)], 4300: [("IBM", 97.0)], 4900: [("YAH", 6.0)], 5700: [("IBM", 72.0)],
        5900: [("YAH", 7.0)], 6300: [("MSFT", None)], 7000: [("IBM", 48.0), ("YAH", 6.0)]}, any_order=True),
    case("group-by", f"{RG}.ResultSet3NoneHavingNoJoin", GROUP + "having sum(price) > 50", G_F, {
        2100: [("IBM", 75.0)], 4300: [("IBM", 97.0)], 5700: [("IBM", 72.0)]}),
    case("output-rate", f"{RG}.ResultSet5DefaultNoHavingNoJoin", GROUP + "output every 1 seconds", G_F, {
        1200: [("IBM", 25.0), ("MSFT", 9.0)], 2200: [("IBM", 49.0), ("IBM", 75.0), ("YAH", 1.0)],
        4200: [("YAH", 3.0)], 5200: [("IBM", 97.0), ("YAH", 6.0)], 6200: [("IBM", 72.0), ("YAH", 7.0)],
        7200: [("IBM", 48.0), ("MSFT", None), ("YAH", 6.0)]}, any_order=True),
    case("output-rate", f"{RG}.ResultSet7DefaultHavingNoJoin",
         GROUP + "having sum(price) > 50 output every 1 seconds", G_F, {
             2200: [("IBM", 75.0)], 5200: [("IBM", 97.0)], 6200: [("IBM", 72.0)]}),
    case("output-rate", f"{RG}.ResultSet9AllNoHavingNoJoin", GROUP + "output all every 1 seconds", G_F, {
        1200: [("IBM", 25.0), ("MSFT", 9.0)], 2200: [("IBM", 75.0), ("MSFT", 9.0), ("YAH", 1.0)],
        3200: [("IBM", 75.0), ("MSFT", 9.0), ("YAH", 1.0)], 4200: [("IBM", 75.0), ("MSFT", 9.0), ("YAH", 3.0)],
        5200: [("IBM", 97.0), ("MSFT", 9.0), ("YAH", 6.0)], 6200: [("IBM", 72.0), ("MSFT", 9.0), ("YAH", 7.0)],
        7200: [("IBM", 48.0), ("MSFT", None), ("YAH", 6.0)]}, any_order=True),
    case("output-rate", f"{RG}.ResultSet13LastNoHavingNoJoin", GROUP + "output last every 1 seconds", G_F, {
        1200: [("IBM", 25.0), ("MSFT", 9.0)], 2200: [("IBM", 75.0), ("YAH", 1.0)], 4200: [("YAH", 3.0)],
        5200: [("IBM", 97.0), ("YAH", 6.0)], 6200: [("IBM", 72.0), ("YAH", 7.0)],
        7200: [("IBM", 48.0), ("MSFT", None), ("YAH", 6.0)]}, any_order=True),
    case("output-rate", f"{RG}.ResultSet15LastHavingNoJoin",
         GROUP + "having sum(price) > 50 output last every 1 seconds", G_F, {
             2200: [("IBM", 75.0)], 5200: [("IBM", 97.0)], 6200: [("IBM", 72.0)]}),
    case("output-rate", f"{RG}.ResultSet17FirstNoHavingNoJoin", GROUP + "output first every 1 seconds", G_F, {
        200: [("IBM", 25.0)], 800: [("MSFT", 9.0)], 1500: [("IBM", 49.0), ("YAH", 1.0)], 3500: [("YAH", 3.0)],
        4300: [("IBM", 97.0)], 4900: [("YAH", 6.0)], 5700: [("IBM", 72.0)], 5900: [("YAH", 7.0)],
        6300: [("MSFT", None)], 7000: [("IBM", 48.0), ("YAH", 6.0)]}, any_order=True),
    case("output-rate", f"{RG}.ResultSet18SnapshotNoHavingNoJoin", GROUP + "output snapshot every 1 seconds", G_F, {
        1200: [("IBM", 25.0), ("MSFT", 9.0)], 2200: [("IBM", 75.0), ("MSFT", 9.0), ("YAH", 1.0)],
        3200: [("IBM", 75.0), ("MSFT", 9.0), ("YAH", 1.0)], 4200: [("IBM", 75.0), ("MSFT", 9.0), ("YAH", 3.0)],
        5200: [("IBM", 97.0), ("MSFT", 9.0), ("YAH", 6.0)], 6200: [("IBM", 72.0), ("MSFT", 9.0), ("YAH", 7.0)],
        7200: [("IBM", 48.0), ("YAH", 6.0)]}, any_order=True),
]


@pytest.mark.parametrize(("epl", "fields", "expected", "any_order"), CASES)
def test_output_reference(epl: str, fields: tuple[str, ...], expected: dict, any_order: bool) -> None:
    got = run_market(epl, fields)
    if any_order:
        got, expected = sorted_rows(got), sorted_rows(expected)
    assert got == expected


# The "...Join" variants of the same regression tests join the market data with a keepall
# stream of the symbols (``SupportBean#keepall where theString=symbol``) and expect the same
# rows. Join variants Esper has for each table (by the NoJoin method's number).
_JOIN_OF = {
    "ResultSet1NoneNoHavingNoJoin": "ResultSet2NoneNoHavingJoin",
    "ResultSet3NoneHavingNoJoin": "ResultSet4NoneHavingJoin",
    "ResultSet5DefaultNoHavingNoJoin": "ResultSet6DefaultNoHavingJoin",
    "ResultSet7DefaultHavingNoJoin": "ResultSet8DefaultHavingJoin",
    "ResultSet9AllNoHavingNoJoin": "ResultSet10AllNoHavingJoin",
    "ResultSet11AllHavingNoJoin": "ResultSet12AllHavingJoin",
    "ResultSet13LastNoHavingNoJoin": "ResultSet14LastNoHavingJoin",
    "ResultSet15LastHavingNoJoin": "ResultSet16LastHavingJoin",
    "ResultSet17FirstNoHavingNoJoinIStream": "ResultSet17FirstNoHavingJoinIStream",
    "ResultSet17FirstNoHavingNoJoin": "ResultSet17FirstNoHavingJoin",
}
_KEYS = "@Name('K') insert into K select symbol as ks from Flow(kind = 'key');\n"


def _join_cases() -> list:  # type: ignore[type-arg]
    out = []
    for p in CASES:
        epl, fields, expected, any_order = p.values
        mark = p.marks[0]
        cls, method = mark.kwargs["cite"].rsplit(".", 1)
        join = _JOIN_OF.get(method)
        if join is None or (cls == RA and method == "ResultSet17FirstNoHavingNoJoin"):
            continue  # Esper has no join variant of that table
        if cls == RG and join in ("ResultSet10AllNoHavingJoin", "ResultSet12AllHavingJoin"):
            continue  # output all over groups of a join: refused (see REFUSED)
        jepl = _KEYS + epl.replace("from Flow#time(5.5 sec)", "from Flow(kind = 'md')#time(5.5 sec) as m, K#keepall as k") \
            .replace(" group by", " where k.ks = m.symbol group by", 1)
        if " where k.ks" not in jepl:
            head, sep, tail = jepl.partition("#keepall as k")
            jepl = head + sep + " where k.ks = m.symbol" + tail
        out.append(pytest.param(jepl, fields, expected, any_order,
                                marks=pytest.mark.esper(mark.args[0] + "-join", cite=f"{cls}.{join}"), id=join))
    return out


@pytest.mark.parametrize(("epl", "fields", "expected", "any_order"), _join_cases())
def test_output_reference_join(epl: str, fields: tuple[str, ...], expected: dict, any_order: bool) -> None:
    got = run_market(epl, fields, join_keys=True)
    if any_order:
        got, expected = sorted_rows(got), sorted_rows(expected)
    assert got == expected


@pytest.mark.esper("output-rate", cite=f"{RA}.ResultSetTimeBatchOutputCount")
def test_time_batch_output_intervals_start_at_the_first_release_and_repeat() -> None:
    from flowcep_plugin.engine.harness import Harness

    h = Harness("@Name('s0') select count(*) as cnt from Flow#time_batch(10 seconds) output every 10 seconds")
    h.watermark(0)
    h.watermark(10000)
    h.watermark(20000)
    assert h.rows == []
    h.send(20000, theString="e1")
    assert h.watermark(30000) == []  # the batch is released at 30 s: output intervals start there
    assert [r.values["cnt"] for r in h.watermark(40000)] == [1, 0]
    assert [r.values["cnt"] for r in h.watermark(50000)] == [0]  # a quiet interval repeats it
    h.send(50000, theString="e2")
    h.send(50000, theString="e3")
    assert [r.values["cnt"] for r in h.watermark(60000)] == [2]


@pytest.mark.esper("output-rate", cite=f"{RA}.ResultSetTimeWindowOutputCountLast")
def test_time_window_output_every_starts_at_the_first_event() -> None:
    from flowcep_plugin.engine.harness import Harness

    h = Harness("@Name('s0') select count(*) as cnt from Flow#time(10 seconds) output every 10 seconds")
    h.watermark(10000)
    h.watermark(20000)
    assert h.rows == []
    h.send(20000, theString="e1")
    assert [r.values["cnt"] for r in h.watermark(30000)] == [1, 0]
    h.watermark(31000)
    h.send(31000, theString="e2")
    h.send(31000, theString="e3")
    assert [r.values["cnt"] for r in h.watermark(40000)] == [1, 2]


@pytest.mark.esper("output-rate", cite=f"{RG}.ResultSetOutputLastMultikeyWArray")
def test_output_last_per_group_over_keepall() -> None:
    from flowcep_plugin.engine.harness import Harness

    h = Harness("""@Name('s0') select s, l, sum(i) as thesum from Flow#keepall
                   group by s, l output last every 1 seconds""")
    h.watermark(0)
    for s, lp, i in (("A", 0, 10), ("B", 1, 11), ("A", 0, 12), ("C", 0, 13)):
        h.send(0, s=s, l=lp, i=i)
    assert sorted((r.values["s"], r.values["l"], r.values["thesum"]) for r in h.watermark(1000)) == [
        ("A", 0, 22), ("B", 1, 11), ("C", 0, 13)]
    h.send(1000, s="A", l=0, i=14)
    assert [(r.values["s"], r.values["thesum"]) for r in h.watermark(2000)] == [("A", 36)]


@pytest.mark.esper("output-rate", cite=f"{RG}.ResultSetOutputAllMultikeyWArray")
def test_output_all_per_group_repeats_every_group() -> None:
    from flowcep_plugin.engine.harness import Harness

    h = Harness("""@Name('s0') select s, l, sum(i) as thesum from Flow#keepall
                   group by s, l output all every 1 seconds""")
    h.watermark(0)
    for s, lp, i in (("A", 0, 10), ("B", 1, 11), ("A", 0, 12), ("C", 0, 13)):
        h.send(0, s=s, l=lp, i=i)
    assert sorted((r.values["s"], r.values["thesum"]) for r in h.watermark(1000)) == [
        ("A", 22), ("B", 11), ("C", 13)]
    h.send(1000, s="A", l=0, i=14)
    assert sorted((r.values["s"], r.values["thesum"]) for r in h.watermark(2000)) == [
        ("A", 36), ("B", 11), ("C", 13)]


@pytest.mark.esper("output-rate", cite=f"{RG}.ResultSetOutputSnapshotMultikeyWArray")
def test_output_snapshot_per_group_without_window() -> None:
    from flowcep_plugin.engine.harness import Harness

    h = Harness("""@Name('s0') select s as c0, l as c1, sum(i) as c2 from Flow group by s, l
                   output snapshot every 10 seconds""")
    h.watermark(0)
    for s, lp, i in (("A", 0, 10), ("B", 1, 11), ("A", 0, 12), ("B", 1, 13)):
        h.send(0, s=s, l=lp, i=i)
    assert sorted((r.values["c0"], r.values["c1"], r.values["c2"]) for r in h.watermark(10000)) == [
        ("A", 0, 22), ("B", 1, 24)]


REFUSED = [
    ("select symbol from Flow#time_batch(1 sec) output snapshot every 1 sec", "snapshot"),
    ("select symbol, sum(price) from Flow#time(1 sec) group by symbol having sum(price) > 1 "
     "output all every 1 sec", "output all every"),
    ("select symbol, sum(price) from Flow#time_batch(1 sec) group by symbol output snapshot every 1 sec",
     "output snapshot every"),
    ("select symbol, volume, sum(price) from Flow#time(1 sec) output snapshot every 1 sec", "output snapshot every"),
    ("select symbol, volume, sum(price) from Flow#time(1 sec) group by symbol output all every 1 sec",
     "output all every"),
    ("select symbol, volume, sum(price) from Flow#time(1 sec) group by symbol output first every 1 sec",
     "output first every"),
    ("select count(*) from Flow output snapshot every 5 events", "output rate by events"),
    ("select symbol from Flow output first every 5 events", "output rate by events"),
]


@pytest.mark.esper("unsupported-is-an-error", cite="Esper reference, 'Output Reference and Samples': "
                   "combinations whose rows are not verified here are refused, never approximated")
@pytest.mark.parametrize(("text", "word"), REFUSED)
def test_unverified_output_combinations_are_compile_errors(text: str, word: str) -> None:
    with pytest.raises(EPLError) as info:
        compile_module(text)
    assert word in str(info.value) and info.value.line == 1 and info.value.column


PER_EVENT = [
    pytest.param("@Name('s0') select symbol, sum(price) from Flow#time(5.5 sec)", ("symbol", "sum(price)"), {
        200: [("IBM", 25.0)], 800: [("MSFT", 34.0)], 1500: [("IBM", 58.0), ("YAH", 59.0)], 2100: [("IBM", 85.0)],
        3500: [("YAH", 87.0)], 4300: [("IBM", 109.0)], 4900: [("YAH", 112.0)], 5900: [("YAH", 88.0)]},
        marks=pytest.mark.esper("aggregate-per-event", cite="ResultSetOutputLimitRowPerEvent.ResultSet1NoneNoHavingNoJoin; "
                                "Esper reference, 'Output for Aggregation and Group-By: Aggregated and Un-Grouped' "
                                "(a row per arriving event; departures only change the sum)"),
        id="RowPerEvent-none"),
    pytest.param("@Name('s0') select symbol, volume, sum(price) from Flow#time(5.5 sec) group by symbol",
                 ("symbol", "volume", "sum(price)"), {
        200: [("IBM", 100, 25.0)], 800: [("MSFT", 5000, 9.0)], 1500: [("IBM", 150, 49.0), ("YAH", 10000, 1.0)],
        2100: [("IBM", 155, 75.0)], 3500: [("YAH", 11000, 3.0)], 4300: [("IBM", 150, 97.0)],
        4900: [("YAH", 11500, 6.0)], 5900: [("YAH", 10500, 7.0)]},
        marks=pytest.mark.esper("aggregate-grouped-per-event",
                                cite="ResultSetOutputLimitAggregateGrouped.ResultSet1NoneNoHavingNoJoin; Esper "
                                "reference, 'Output for Aggregation and Group-By: Aggregated and Grouped'"),
        id="AggregateGrouped-none"),
]


RPE = "ResultSetOutputLimitRowPerEvent"
AGR = "ResultSetOutputLimitAggregateGrouped"
PE = "@Name('s0') select symbol, sum(price) from Flow#time(5.5 sec) "
PE_F = ("symbol", "sum(price)")
AG = "@Name('s0') select symbol, volume, sum(price) from Flow#time(5.5 sec) group by symbol "
AG_F = ("symbol", "volume", "sum(price)")
PE_56 = {1200: [("IBM", 25.0), ("MSFT", 34.0)], 2200: [("IBM", 58.0), ("YAH", 59.0), ("IBM", 85.0)],
         4200: [("YAH", 87.0)], 5200: [("IBM", 109.0), ("YAH", 112.0)], 6200: [("YAH", 88.0)]}
AG_56 = {1200: [("IBM", 100, 25.0), ("MSFT", 5000, 9.0)],
         2200: [("IBM", 150, 49.0), ("IBM", 155, 75.0), ("YAH", 10000, 1.0)], 4200: [("YAH", 11000, 3.0)],
         5200: [("IBM", 150, 97.0), ("YAH", 11500, 6.0)], 6200: [("YAH", 10500, 7.0)]}


def pe_case(cite: str, tail: str, expected: dict, grouped: bool = False) -> object:
    return pytest.param(AG + tail if grouped else PE + tail, AG_F if grouped else PE_F, expected,
                        marks=pytest.mark.esper("aggregate-grouped-per-event" if grouped else "aggregate-per-event",
                                                cite=f"{AGR if grouped else RPE}.{cite} (insert stream)"),
                        id=f"{'AggregateGrouped' if grouped else 'RowPerEvent'}-{cite}")


PER_EVENT += [
    pe_case("ResultSet5DefaultNoHavingNoJoin", "output every 1 seconds", PE_56),
    pe_case("ResultSet7DefaultHavingNoJoin", "having sum(price) > 100 output every 1 seconds",
            {5200: [("IBM", 109.0), ("YAH", 112.0)]}),
    pe_case("ResultSet9AllNoHavingNoJoin (all is the default here)", "output all every 1 seconds", PE_56),
    pe_case("ResultSet11AllHavingNoJoin", "having sum(price) > 100 output all every 1 seconds",
            {5200: [("IBM", 109.0), ("YAH", 112.0)]}),
    pe_case("ResultSet13LastNoHavingNoJoin (the interval's last row; none on a quiet interval)",
            "output last every 1 seconds", {1200: [("MSFT", 34.0)], 2200: [("IBM", 85.0)], 4200: [("YAH", 87.0)],
                                            5200: [("YAH", 112.0)], 6200: [("YAH", 88.0)]}),
    pe_case("ResultSet15LastHavingNoJoin", "having sum(price) > 100 output last every 1 seconds",
            {5200: [("YAH", 112.0)]}),
    pe_case("ResultSet17FirstNoHavingNoJoinIStreamOnly", "output first every 1 seconds",
            {200: [("IBM", 25.0)], 1500: [("IBM", 58.0)], 3500: [("YAH", 87.0)], 4300: [("IBM", 109.0)],
             5900: [("YAH", 88.0)]}),
    pe_case("ResultSet5DefaultNoHavingNoJoin", "output every 1 seconds", AG_56, grouped=True),
    pe_case("ResultSet7DefaultHavingNoJoin", "having sum(price) > 50 output every 1 seconds",
            {2200: [("IBM", 155, 75.0)], 5200: [("IBM", 150, 97.0)]}, grouped=True),
    pe_case("ResultSet13LastNoHavingNoJoin (each group's last row)", "output last every 1 seconds",
            {1200: [("IBM", 100, 25.0), ("MSFT", 5000, 9.0)], 2200: [("IBM", 155, 75.0), ("YAH", 10000, 1.0)],
             4200: [("YAH", 11000, 3.0)], 5200: [("IBM", 150, 97.0), ("YAH", 11500, 6.0)],
             6200: [("YAH", 10500, 7.0)]}, grouped=True),
    pe_case("ResultSet15LastHavingNoJoin", "having sum(price) > 50 output last every 1 seconds",
            {2200: [("IBM", 155, 75.0)], 5200: [("IBM", 150, 97.0)]}, grouped=True),
]


_PE_JOIN = {"ResultSet5DefaultNoHavingNoJoin": "ResultSet6DefaultNoHavingJoin",
            "ResultSet7DefaultHavingNoJoin": "ResultSet8DefaultHavingJoin",
            "ResultSet9AllNoHavingNoJoin": "ResultSet10AllNoHavingJoin",
            "ResultSet11AllHavingNoJoin": "ResultSet12AllHavingJoin",
            "ResultSet13LastNoHavingNoJoin": "ResultSet14LastNoHavingJoin",
            "ResultSet15LastHavingNoJoin": "ResultSet16LastHavingJoin"}


def _per_event_join_cases() -> list:  # type: ignore[type-arg]
    """RowPerEvent's join variants (``SupportBean#keepall where theString=symbol``): Esper asserts
    the same rows as without the join."""
    out = []
    for p in PER_EVENT:
        epl, fields, expected = p.values
        cite = p.marks[0].kwargs["cite"]
        method = cite.split(".", 1)[1].split(" ", 1)[0]
        if not str(epl).startswith(PE) or method not in _PE_JOIN:
            continue
        jepl = _KEYS + str(epl).replace("from Flow#time(5.5 sec) ", "from Flow(kind = 'md')#time(5.5 sec) as m, "
                                        "K#keepall as k where k.ks = m.symbol ")
        out.append(pytest.param(jepl, fields, expected, marks=pytest.mark.esper(
            "aggregate-per-event-join", cite=f"{RPE}.{_PE_JOIN[method]}"), id=f"RowPerEvent-{_PE_JOIN[method]}"))
    return out


@pytest.mark.parametrize(("epl", "fields", "expected"), _per_event_join_cases())
def test_per_event_aggregation_over_a_join(epl: str, fields: tuple[str, ...], expected: dict) -> None:
    assert run_market(epl, fields, join_keys=True) == expected


@pytest.mark.parametrize(("epl", "fields", "expected"), PER_EVENT)
def test_per_event_aggregation_kinds(epl: str, fields: tuple[str, ...], expected: dict) -> None:
    got = run_market(epl, fields)
    if "group by" in epl:  # rows of different groups in one output: any order
        got, expected = sorted_rows(got), sorted_rows(expected)
    assert got == expected


@pytest.mark.esper("output-rate-events", cite=f"{RS}.ResultSetLimitEventSimple")
@pytest.mark.parametrize("n", [1, 2, 3])
def test_output_every_n_events_holds_rows_until_n_events(n: int) -> None:
    from flowcep_plugin.engine.harness import Harness

    h = Harness(f"@Name('s0') select * from Flow#length(5) output every {n} events")
    sizes = [len(h.send(i, theString=s)) for i, s in enumerate(["IBM", "MSFT", "YAH"])]
    assert sizes == {1: [1, 1, 1], 2: [0, 2, 0], 3: [0, 0, 3]}[n]


@pytest.mark.esper("output-rate-events", cite=f"{RS}.ResultSetAggAllHaving (events are counted, not rows)")
def test_output_every_n_events_counts_events_having_rejects() -> None:
    from flowcep_plugin.engine.harness import Harness

    h = Harness("@Name('s0') select symbol, volume from Flow#length(10) having volume > 0 output every 5 events")
    steps = [h.send(i, symbol=s, volume=v) for i, (s, v) in
             enumerate([("S0", 20), ("IBM", -1), ("MSFT", -2), ("YAH", 10), ("IBM", 0)])]
    assert [[(r.values["symbol"], r.values["volume"]) for r in st] for st in steps] == [
        [], [], [], [], [("S0", 20), ("YAH", 10)]]


@pytest.mark.esper("output-rate-events", cite=f"{RS}.ResultSetSimpleNoJoinAll and ResultSetSimpleNoJoinLast")
def test_output_all_and_last_every_two_events() -> None:
    from flowcep_plugin.engine.harness import Harness

    for kind, want in (("all", [1, 2]), ("", [1, 2]), ("last", [2])):
        h = Harness(f"@Name('s0') select longBoxed from Flow#length(3) output {kind} every 2 events")
        assert h.send(0, longBoxed=1) == []
        assert [r.values["longBoxed"] for r in h.send(1, longBoxed=2)] == want


@pytest.mark.esper("output-rate-events", cite=f"{RS}.ResultSetLimitEventJoin (a join counts its joined rows)")
def test_output_every_n_events_over_a_join() -> None:
    from flowcep_plugin.engine.harness import Harness

    text = ("@Name('s{n}') select event1.theString as s from Flow(kind='b')#length(5) as event1, Flow(kind='a')#length(5) as event2 "
            "where event1.theString = event2.id output every {n} events")
    h1, h3 = Harness(text.format(n=1)), Harness(text.format(n=3))
    got1, got3 = [], []
    for i, sym in enumerate(("IBM", "MSFT", "YAH")):
        for h, got in ((h1, got1), (h3, got3)):
            h.send(2 * i, kind="b", theString=sym)
            got.append(len(h.send(2 * i + 1, kind="a", id=sym)))
    assert got1 == [1, 1, 1] and got3 == [0, 0, 3]
