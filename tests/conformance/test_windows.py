"""Data windows and WHERE, against Esper's view regression tests and reference manual.

``h.send(t, ...)`` is Esper's ``advanceTime(t)`` then ``sendEvent``; ``h.watermark(t)`` is
``advanceTime(t)``. Only insert-stream rows are compared (FlowCEP outputs no remove stream).
"""

from __future__ import annotations

import pytest

from flowcep_plugin.engine.harness import Harness

VTB = "ViewTimeBatch"
DOC_TB = "Esper reference, 'Data Windows: Time Batch Window (time_batch or win:time_batch)'"
DOC_WHERE = "Esper reference, 'Clauses: Filtering Events Using the Where-Clause' (WHERE filters the window's output)"


def names(rows, key="theString"):  # type: ignore[no-untyped-def]
    return [r.values[key] for r in rows]


@pytest.mark.esper("time_batch", cite=f"{VTB}.ViewTimeBatchSceneOne")
def test_time_batch_scene_one() -> None:
    h = Harness("@Name('s0') select * from Flow#time_batch(1 sec)")
    h.watermark(0)
    assert h.watermark(1500) == []
    h.send(1500, theString="E1")
    h.send(1700, theString="E2")
    assert h.watermark(2499) == []
    assert names(h.watermark(2500)) == ["E1", "E2"]
    h.send(2500, theString="E3")
    h.send(2500, theString="E4")
    h.send(2600, theString="E5")
    assert names(h.watermark(3500)) == ["E3", "E4", "E5"]
    assert h.watermark(4500) == []  # only the old batch: remove stream
    assert h.watermark(5500) == []
    h.send(5500, theString="E6")
    assert names(h.watermark(6500)) == ["E6"]
    assert h.watermark(7500) == []
    h.send(7500, theString="E7")
    assert names(h.watermark(8500)) == ["E7"]


@pytest.mark.esper("time_batch", cite=f"{VTB}.ViewTimeBatch10Sec")
def test_time_batch_10_sec() -> None:
    h = Harness("@Name('s0') select * from Flow#time_batch(10 sec)")
    h.watermark(0)
    h.send(1000, theString="E1")
    h.send(2000, theString="E2")
    assert h.watermark(10999) == []
    assert names(h.watermark(11000)) == ["E1", "E2"]
    h.send(11000, theString="E3")
    assert names(h.watermark(21000)) == ["E3"]
    assert h.watermark(31000) == []
    assert h.watermark(41000) == []


@pytest.mark.esper("time_batch", cite=f"{VTB}.ViewTimeBatchMultirow")
def test_time_batch_multirow_and_realignment() -> None:
    h = Harness("@Name('s0') select * from Flow#time_batch(10 sec)")
    h.watermark(0)
    h.send(1000, theString="E1")
    h.send(1000, theString="E2")
    h.send(2000, theString="E3")
    h.send(3000, theString="E4")
    assert names(h.watermark(11000)) == ["E1", "E2", "E3", "E4"]
    assert h.watermark(21000) == []
    assert h.watermark(31000) == []
    h.send(31000, theString="E5")
    assert names(h.watermark(41000)) == ["E5"]


@pytest.mark.esper("time_batch", cite=f"{VTB}.ViewTimeBatchMultiBatch")
def test_time_batch_multi_batch() -> None:
    h = Harness("@Name('s0') select * from Flow#time_batch(10 sec)")
    h.watermark(0)
    h.send(1000, theString="E1")
    h.send(1000, theString="E2")
    assert names(h.watermark(11000)) == ["E1", "E2"]
    h.send(11000, theString="E3")
    h.send(11000, theString="E4")
    assert names(h.watermark(21000)) == ["E3", "E4"]
    h.send(21000, theString="E5")
    h.send(21000, theString="E6")
    assert names(h.watermark(31000)) == ["E5", "E6"]


@pytest.mark.esper("time_batch-where", cite=f"{DOC_TB}; {DOC_WHERE}")
def test_time_batch_is_anchored_by_an_event_where_rejects() -> None:
    h = Harness("@Name('s0') select count(*) as n from Flow#time_batch(1 sec) where v > 0")
    h.send(0, v=0)  # enters the window (and anchors it); WHERE drops it from the output
    h.send(1500, v=1)
    out = h.watermark(2500)
    assert [(r.time_ms, r.values["n"]) for r in out] == [(2000, 1)]


@pytest.mark.esper("time_batch-where", cite=f"{DOC_TB}; Esper reference, 'Filter criteria in the from clause "
                   "apply before the data window'")
def test_time_batch_filter_in_from_is_before_the_window() -> None:
    h = Harness("@Name('s0') select count(*) as n from Flow(v > 0)#time_batch(1 sec)")
    h.send(0, v=0)  # never reaches the window
    h.send(1500, v=1)
    assert [(r.time_ms, r.values["n"]) for r in h.watermark(3000)] == [(2500, 1)]


@pytest.mark.esper("time_batch-where", cite=f"{DOC_TB}; {DOC_WHERE}")
def test_time_batch_grouped_where_keeps_window_timing() -> None:
    h = Harness("@Name('s0') select k, count(*) as n from Flow#time_batch(10 sec) where v > 0 group by k")
    h.send(1000, k="a", v=0)
    h.send(5000, k="a", v=1)
    h.send(12000, k="b", v=1)
    h.watermark(40000)
    assert [(r.time_ms, r.values["k"], r.values["n"]) for r in h.rows] == [
        (11000, "a", 1), (21000, "b", 1), (21000, "a", 0), (31000, "b", 0)]


@pytest.mark.esper("group-by-batch", cite="ResultSetProcessorRowPerGroup (Esper common, processViewResult: "
                   "groups of new and old events); Esper reference, 'Output for Aggregation and Group-By'")
def test_grouped_batch_reports_groups_that_left_with_count_zero() -> None:
    h = Harness("@Name('s0') select k, count(*) as n, sum(v) as s from Flow#time_batch(1 sec) group by k")
    h.send(0, k="x", v=1)
    h.send(100, k="y", v=2)
    h.send(1100, k="x", v=3)
    h.watermark(5000)
    got = sorted((r.time_ms, r.values["k"], r.values["n"], r.values["s"]) for r in h.rows)
    assert got == [(1000, "x", 1, 1), (1000, "y", 1, 2), (2000, "x", 1, 3), (2000, "y", 0, None),
                   (3000, "x", 0, None)]


@pytest.mark.esper("aggregate-all-batch", cite="ResultSetOutputLimitRowForAll.ResultSetTimeBatchOutputCount; "
                   + DOC_TB)
def test_ungrouped_batch_reports_zero_once_then_stops() -> None:
    h = Harness("@Name('s0') select count(*) as n from Flow#time_batch(1 sec)")
    h.send(0, k="x")
    h.watermark(10000)
    assert [(r.time_ms, r.values["n"]) for r in h.rows] == [(1000, 1), (2000, 0)]


@pytest.mark.esper("group-by-sliding", cite="ResultSetOutputLimitRowPerGroup.ResultSet1NoneNoHavingNoJoin "
                   "(6300: the group that left is output with sum null)")
def test_sliding_group_that_left_is_output_with_null_sum() -> None:
    h = Harness("@Name('s0') select k, sum(v) as s from Flow#time(1 sec) group by k")
    h.send(0, k="a", v=1)
    h.send(500, k="b", v=2)
    h.watermark(1000)
    assert [(r.time_ms, r.values["k"], r.values["s"]) for r in h.rows] == [
        (0, "a", 1), (500, "b", 2), (1000, "a", None)]


@pytest.mark.esper("length", cite="ViewLengthWin; Esper reference, 'Length Window (length or win:length)'")
def test_length_window_sum_slides() -> None:
    h = Harness("@Name('s0') select sum(v) as s from Flow#length(2)")
    for i, v in enumerate((1, 2, 3, 4)):
        h.send(i, v=v)
    assert [r.values["s"] for r in h.rows] == [1, 3, 5, 7]


@pytest.mark.esper("length-where", cite=DOC_WHERE + "; ViewLengthWin")
def test_where_after_length_window_sees_the_event_pushed_out() -> None:
    h = Harness("@Name('s0') select count(*) as n from Flow#length(2) where v > 0")
    h.send(0, v=1)
    h.send(1, v=0)  # held by the window, filtered from the output: no row
    h.send(2, v=0)  # pushes v=1 out: the count drops to 0
    assert [(r.time_ms, r.values["n"]) for r in h.rows] == [(0, 1), (2, 0)]


@pytest.mark.esper("length", cite="Esper reference, 'Length Window': timestamps are the events' own")
def test_length_window_rows_carry_each_events_time_within_one_batch() -> None:
    h = Harness("@Name('s0') select v from Flow#length(2)")
    h.batch([(5, {"v": 1}), (7, {"v": 2}), (9, {"v": 3})])
    assert [(r.time_ms, r.values["v"]) for r in h.rows] == [(5, 1), (7, 2), (9, 3)]


@pytest.mark.esper("length_batch", cite="ViewLengthBatch; Esper reference, 'Length Batch Window'")
def test_length_batch_posts_every_n() -> None:
    h = Harness("@Name('s0') select theString from Flow#length_batch(3)")
    for i in range(7):
        h.send(i, theString=f"E{i + 1}")
    assert names(h.rows) == ["E1", "E2", "E3", "E4", "E5", "E6"]


@pytest.mark.esper("length_batch", cite="ViewLengthBatch; Esper reference, 'Length Batch Window'")
def test_length_batch_aggregate_per_batch() -> None:
    h = Harness("@Name('s0') select sum(v) as s from Flow#length_batch(2)")
    for i, v in enumerate((1, 2, 3, 4, 5)):
        h.send(i, v=v)
    assert [(r.time_ms, r.values["s"]) for r in h.rows] == [(1, 3), (3, 7)]


@pytest.mark.esper("unique", cite="ViewUnique; Esper reference, 'Unique Window (unique or std:unique)'")
def test_unique_replaces_per_key() -> None:
    h = Harness("@Name('s0') select count(*) as n, sum(v) as s from Flow#unique(k)")
    for i, (k, v) in enumerate((("a", 1), ("b", 2), ("a", 5))):
        h.send(i, k=k, v=v)
    assert [(r.values["n"], r.values["s"]) for r in h.rows] == [(1, 1), (2, 3), (2, 7)]


@pytest.mark.esper("firstunique", cite="ViewFirstUnique; Esper reference, 'First Unique Window (firstunique)'")
def test_firstunique_keeps_the_first_per_key() -> None:
    h = Harness("@Name('s0') select k, v from Flow#firstunique(k)")
    for i, (k, v) in enumerate((("a", 1), ("a", 2), ("b", 3), ("b", 4), ("c", 5))):
        h.send(i, k=k, v=v)
    assert [(r.values["k"], r.values["v"]) for r in h.rows] == [("a", 1), ("b", 3), ("c", 5)]


@pytest.mark.esper("firstunique", cite="ViewFirstUnique; Esper reference, 'First Unique Window (firstunique)'")
def test_firstunique_aggregate_ignores_repeats() -> None:
    h = Harness("@Name('s0') select sum(v) as s from Flow#firstunique(k)")
    for i, (k, v) in enumerate((("a", 1), ("a", 2), ("b", 3))):
        h.send(i, k=k, v=v)
    assert [r.values["s"] for r in h.rows] == [1, 4]


@pytest.mark.esper("firstevent", cite="ViewFirstEvent; Esper reference, 'First Event Window (firstevent)'")
def test_firstevent_keeps_only_the_first() -> None:
    h = Harness("@Name('s0') select theString from Flow#firstevent")
    for i in range(3):
        h.send(i, theString=f"E{i + 1}")
    assert names(h.rows) == ["E1"]


@pytest.mark.esper("lastevent", cite="ViewLastEvent; Esper reference, 'Last Event Window (lastevent)'")
def test_lastevent_holds_the_last() -> None:
    h = Harness("@Name('s0') select sum(v) as s, count(*) as n from Flow#lastevent")
    for i, v in enumerate((5, 7, 9)):
        h.send(i, v=v)
    assert [(r.values["s"], r.values["n"]) for r in h.rows] == [(5, 1), (7, 1), (9, 1)]


@pytest.mark.esper("keepall", cite="ViewKeepAll; Esper reference, 'Keep-All Window (keepall)'")
def test_keepall_accumulates() -> None:
    h = Harness("@Name('s0') select count(*) as n, sum(v) as s from Flow#keepall")
    for i, v in enumerate((5, 7, 9)):
        h.send(i, v=v)
    assert [(r.values["n"], r.values["s"]) for r in h.rows] == [(1, 5), (2, 12), (3, 21)]


@pytest.mark.esper("keepall", cite="ViewKeepAll; Esper reference, 'Keep-All Window': the old syntax win:keepall()")
def test_keepall_old_syntax() -> None:
    h = Harness("@Name('s0') select count(*) as n from Flow.win:keepall()")
    h.send(0, v=1)
    h.send(1, v=1)
    assert [r.values["n"] for r in h.rows] == [1, 2]


@pytest.mark.esper("time", cite="ViewTimeWin; Esper reference, 'Time Window (time or win:time)'")
def test_time_window_expires_at_exactly_period() -> None:
    h = Harness("@Name('s0') select count(*) as n from Flow#time(10 sec)")
    h.send(1000, v=1)
    h.send(5000, v=1)
    h.watermark(10999)
    h.watermark(11000)
    h.watermark(15000)
    assert [(r.time_ms, r.values["n"]) for r in h.rows] == [(1000, 1), (5000, 2), (11000, 1), (15000, 0)]


@pytest.mark.esper("time-where", cite=DOC_WHERE + "; ViewTimeWin")
def test_time_window_where_same_rows_before_or_after() -> None:
    h = Harness("@Name('s0') select count(*) as n from Flow#time(10 sec) where v > 0")
    h.send(1000, v=1)
    h.send(2000, v=0)
    h.watermark(12000)
    assert [(r.time_ms, r.values["n"]) for r in h.rows] == [(1000, 1), (11000, 0)]


@pytest.mark.esper("ext_timed", cite="ViewExternallyTimedWin; Esper reference, 'Externally-timed Window (ext_timed)'")
def test_ext_timed_expires_by_the_property() -> None:
    h = Harness("@Name('s0') select count(*) as n from Flow#ext_timed(ts, 10 sec)")
    for t, ts in ((0, 1000), (1, 5000), (2, 11000), (3, 16000)):
        h.send(t, ts=ts)
    assert [r.values["n"] for r in h.rows] == [1, 2, 2, 2]


@pytest.mark.esper("ext_timed-where", cite=DOC_WHERE + "; ViewExternallyTimedWin")
def test_ext_timed_where_after_window_still_expires_on_rejected_events() -> None:
    h = Harness("@Name('s0') select count(*) as n from Flow#ext_timed(ts, 10 sec) where v > 0")
    h.send(0, ts=1000, v=1)
    h.send(1, ts=20000, v=0)  # rejected by WHERE, but moves the window's time: ts=1000 leaves
    assert [(r.time_ms, r.values["n"]) for r in h.rows] == [(0, 1), (1, 0)]


@pytest.mark.esper("ext_timed_batch", cite="ViewExternallyTimedBatched; Esper reference, "
                   "'Externally-timed Batch Window (ext_timed_batch)'")
def test_ext_timed_batch_releases_when_a_later_batch_starts() -> None:
    h = Harness("@Name('s0') select count(*) as n from Flow#ext_timed_batch(ts, 10 sec)")
    for t, ts in ((0, 1000), (1, 5000), (2, 11000)):
        h.send(t, ts=ts)
    assert [(r.time_ms, r.values["n"]) for r in h.rows] == [(2, 2)]


@pytest.mark.esper("time_batch", cite=f"{VTB}.ViewTimeBatchRefPoint")
def test_time_batch_reference_point() -> None:
    h = Harness("@Name('s0') select * from Flow#time_batch(10 minutes, 10L)")
    h.watermark(0)
    h.send(10, theString="E1")
    assert h.watermark(10 * 60 * 1000 - 1 + 10) == []
    assert names(h.watermark(10 * 60 * 1000 + 10)) == ["E1"]


@pytest.mark.esper("time_batch", cite=f"{VTB}.ViewTimeBatchRefPoint (boundaries at the reference point "
                   "plus whole periods, whenever the first event comes)")
def test_time_batch_reference_point_aligns_a_late_first_event() -> None:
    h = Harness("@Name('s0') select count(*) as n from Flow#time_batch(1 sec, 250L)")
    h.send(1900, v=1)
    h.send(2100, v=1)
    h.watermark(4000)
    assert [(r.time_ms, r.values["n"]) for r in h.rows] == [(2250, 2), (3250, 0)]


@pytest.mark.esper("time_batch", cite=f"{VTB}.ViewTimeBatchNoRefPoint")
def test_time_batch_no_reference_point() -> None:
    h = Harness("@Name('s0') select * from Flow#time_batch(10 minutes)")
    h.watermark(0)
    h.send(0, theString="E1")
    assert h.watermark(10 * 60 * 1000 - 1) == []
    assert names(h.watermark(10 * 60 * 1000)) == ["E1"]


@pytest.mark.esper("unsupported-is-an-error", cite=f"{VTB}.ViewTimeBatchStartEagerForceUpdate: flow control "
                   "is not supported, so it is refused")
def test_time_batch_flow_control_is_refused() -> None:
    from flowcep_plugin.engine.compiler import compile_module
    from flowcep_plugin.errors import EPLError

    with pytest.raises(EPLError) as info:
        compile_module("select * from Flow#time_batch(1, \"START_EAGER,FORCE_UPDATE\")")
    assert "flow control" in str(info.value) and info.value.line == 1


@pytest.mark.esper("groupwin", cite="ViewGroup; Esper reference, 'Grouped Data Window (groupwin or std:groupwin)': "
                   "a length window per key")
def test_groupwin_length_per_key() -> None:
    h = Harness("@Name('s0') select sum(v) as s, count(*) as n from Flow#groupwin(k)#length(2)")
    for i, (k, v) in enumerate((("a", 1), ("b", 10), ("a", 2), ("a", 3), ("b", 20), ("b", 30))):
        h.send(i, k=k, v=v)
    assert [(r.values["s"], r.values["n"]) for r in h.rows] == [(1, 1), (11, 2), (13, 3), (15, 3), (35, 4), (55, 4)]


@pytest.mark.esper("groupwin", cite="ViewGroup; Esper reference, 'Grouped Data Window': grouped aggregation "
                   "over a window per key")
def test_groupwin_length_with_group_by() -> None:
    h = Harness("@Name('s0') select k, sum(v) as s from Flow#groupwin(k)#length(1) group by k")
    for i, (k, v) in enumerate((("a", 1), ("b", 10), ("a", 2))):
        h.send(i, k=k, v=v)
    assert [(r.values["k"], r.values["s"]) for r in h.rows] == [("a", 1), ("b", 10), ("a", 2)]


@pytest.mark.esper("groupwin", cite="Esper reference, 'Grouped Data Window': with a time window each event "
                   "expires at its own time, as in one time window")
def test_groupwin_time_is_a_time_window() -> None:
    rows = []
    for view in ("#groupwin(k)#time(1 sec)", "#time(1 sec)"):
        h = Harness(f"@Name('s0') select count(*) as n from Flow{view}")
        for t, k in ((0, "a"), (300, "b"), (600, "a")):
            h.send(t, k=k)
        h.watermark(3000)
        rows.append([(r.time_ms, r.values["n"]) for r in h.rows])
    assert rows[0] == rows[1] == [(0, 1), (300, 2), (600, 3), (1000, 2), (1300, 1), (1600, 0)]
