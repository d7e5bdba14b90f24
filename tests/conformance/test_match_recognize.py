"""match_recognize against Esper: every case is a statement, the events Esper's regression test
(``RowRecog*``) or the reference manual (chapter "EPL Reference: Match Recognize") sends, and the
rows it asserts after each send. Only the data is Esper's; the expectations are read from the
tests' assertions and the manual's tables.

``SupportRecogBean(theString, value)`` / ``(theString, cat, value)`` is a record with those
properties; the manual's ``TemperatureSensorEvent`` one with ``id``, ``device``, ``temp``.
A step is ``(time, props, rows)``: send the record at ``time`` (Esper's "advance time, then
send"), or ``(time, None, rows)``: advance time only. ``rows`` are the rows the step outputs
(``[]``: Esper asserts the listener was not invoked; ``None``: not asserted).
"""

from __future__ import annotations

from typing import Any

import pytest

from flowcep_plugin.engine.harness import Harness

Step = tuple[int, dict[str, Any] | None, list[tuple[Any, ...]] | None]
MR = "espertechinc/esper regression-lib suite/rowrecog/"
DOC = "Esper reference, EPL Reference: Match Recognize, "


def run(epl: str, fields: str, steps: list[Step]) -> list[list[tuple[Any, ...]] | None]:
    h = Harness(epl)
    h.watermark(0)
    got: list[list[tuple[Any, ...]] | None] = []
    for t, props, _rows in steps:
        out = h.watermark(t) if props is None else h.send(t, **props)
        got.append([tuple(r.values[f] for f in fields.split(",")) for r in out if r.statement == "s0"])
    return got


def check(epl: str, fields: str, steps: list[Step]) -> None:
    got = run(epl, fields, steps)
    for i, ((t, props, want), have) in enumerate(zip(steps, got, strict=True)):
        if want is not None:
            assert have == want, f"step {i} (t={t}, {props}): got {have}, Esper gives {want}"


def b(name: str, value: Any = None, cat: Any = None, t: int = 0,
      rows: list[tuple[Any, ...]] | None = None) -> Step:
    """One SupportRecogBean."""
    props: dict[str, Any] = {"theString": name, "value": value}
    if cat is not None:
        props["cat"] = cat
    return (t, props, rows)


def temp(t: int, ident: str, device: int, degrees: int, rows: list[tuple[Any, ...]] | None = None) -> Step:
    return (t, {"id": ident, "device": device, "temp": degrees}, rows)


def timer(t: int, rows: list[tuple[Any, ...]] | None = None) -> Step:
    return (t, None, rows)


def esper(construct: str, cite: str) -> pytest.MarkDecorator:
    return pytest.mark.esper(construct, cite=cite)


# -- RowRecogOps ----------------------------------------------------------------------------------
@esper("mr-concatenation", MR + "RowRecogOps.RowRecogConcatenation")
def test_concatenation() -> None:
    check("""@Name('s0') select * from Flow#keepall match_recognize (
               measures A.theString as a_string, B.theString as b_string all matches
               pattern (A B) define B as B.value > A.value) order by a_string, b_string""",
          "a_string,b_string",
          [b("E1", 5, rows=[]), b("E2", 3, rows=[]), b("E3", 6, rows=[("E2", "E3")]),
           b("E4", 4, rows=[]), b("E5", 6, rows=[("E4", "E5")]),
           b("E6", 10, rows=[]),  # E5-E6 is not a match: skip past last row
           b("E7", 9, rows=[]), b("E8", 4, rows=[])])


ZERO_TO_MANY = [b("E1", 12, rows=[]), b("E2", 10, rows=[]), b("E3", 8, rows=[("E2", None, None, None, "E3")]),
                b("E4", 10, rows=[]), b("E5", 12, rows=[]), b("E6", 8, rows=[("E4", "E5", None, None, "E6")]),
                b("E7", 10, rows=[]), b("E8", 12, rows=[]), b("E9", 12, rows=[]), b("E10", 12, rows=[]),
                b("E11", 9, rows=[("E7", "E8", "E9", "E10", "E11")])]


@esper("mr-quantifier", MR + "RowRecogOps.RowRecogZeroToMany")
def test_zero_to_many() -> None:
    check("""@Name('s0') select * from Flow#keepall match_recognize (
               measures A.theString as a_string, B[0].theString as b0_string,
                 B[1].theString as b1_string, B[2].theString as b2_string, C.theString as c_string
               all matches pattern (A B* C)
               define A as A.value = 10, B as B.value > 10, C as C.value < 10)
             order by a_string, c_string""",
          "a_string,b0_string,b1_string,b2_string,c_string", ZERO_TO_MANY)


@esper("mr-quantifier", MR + "RowRecogOps.RowRecogOneToMany")
def test_one_to_many() -> None:
    steps = [s if i != 2 else b("E3", 8, rows=[]) for i, s in enumerate(ZERO_TO_MANY)]
    check("""@Name('s0') select * from Flow#keepall match_recognize (
               measures A.theString as a_string, B[0].theString as b0_string,
                 B[1].theString as b1_string, B[2].theString as b2_string, C.theString as c_string
               all matches pattern (A B+ C)
               define A as (A.value = 10), B as (B.value > 10), C as (C.value < 10))
             order by a_string, c_string""",
          "a_string,b0_string,b1_string,b2_string,c_string", steps)


@esper("mr-quantifier", MR + "RowRecogOps.RowRecogZeroToOne")
def test_zero_to_one() -> None:
    check("""@Name('s0') select * from Flow#keepall match_recognize (
               measures A.theString as a_string, B.theString as b_string, C.theString as c_string
               all matches pattern (A B? C)
               define A as (A.value = 10), B as (B.value > 10), C as (C.value < 10))
             order by a_string""",
          "a_string,b_string,c_string",
          [b("E1", 12, rows=[]), b("E2", 10, rows=[]), b("E3", 8, rows=[("E2", None, "E3")]),
           b("E4", 10, rows=[]), b("E5", 12, rows=[]), b("E6", 8, rows=[("E4", "E5", "E6")]),
           b("E7", 10, rows=[]), b("E8", 12, rows=[]), b("E9", 12, rows=[]), b("E11", 9, rows=[])])


@esper("mr-quantifier", MR + "RowRecogOps.RowRecogZeroToOne (optional event not defined)")
def test_optional_last_variable_outputs_at_once() -> None:
    check("""@Name('s0') select * from Flow match_recognize (
               measures A.id as id, B.id as b_id pattern (A B?) define A as A.kind = 'A')""",
          "id,b_id", [(0, {"kind": "A", "id": "A1"}, [("A1", None)])])


PARTITIONED = [b("S1", 5), b("S2", 6), b("S3", 3), b("S4", 4), b("S1", 5), b("S2", 5), b("S1", 4),
               b("S4", -1, rows=[]), b("S1", 6, rows=[("S1", 4, 6)]), b("S4", 10, rows=[("S4", -1, 10)])]


@esper("mr-partition", MR + "RowRecogOps.RowRecogPartitionBy")
def test_partition_by() -> None:
    steps = PARTITIONED + [
        b("S4", 11, rows=[]),  # skip past last row
        b("S3", 3, rows=[]), b("S4", -2, rows=[]), b("S3", 2, rows=[]), b("S1", 4, rows=[]),
        b("S1", 7, rows=[("S1", 4, 7)]), b("S4", 12, rows=[("S4", -2, 12)]),
        b("S4", 12, rows=[]), b("S1", 7, rows=[]), b("S2", 4, rows=[]), b("S1", 5, rows=[]),
        b("S2", 5, rows=[("S2", 4, 5)])]
    check("""@Name('s0') select * from Flow#keepall match_recognize (
               partition by theString
               measures A.theString as a_string, A.value as a_value, B.value as b_value
               all matches pattern (A B) define B as (B.value > A.value)) order by a_string""",
          "a_string,a_value,b_value", steps)


@esper("mr-partition", MR + "RowRecogOps.RowRecogUnlimitedPartition")
def test_many_partitions_each_match() -> None:
    epl = """@Name('s0') select * from Flow#keepall match_recognize (
               partition by value measures A.theString as a_string pattern (A B)
               define A as (A.theString = 'A'), B as (B.theString = 'B'))"""
    steps: list[Step] = []
    for i in range(80):
        steps += [b("A", i, rows=[]), b("B", i, rows=[("A",)])]
    steps += [b("A", i + 100000, rows=[]) for i in range(80)]
    steps += [b("B", i + 100000, rows=[("A",)]) for i in range(80)]
    check(epl, "a_string", steps)


@esper("mr-alternation", MR + "RowRecogOps.RowRecogConcatWithinAlter")
def test_concatenation_within_alternation() -> None:
    check("""@Name('s0') select * from Flow#keepall match_recognize (
               measures A.theString as a_string, B.theString as b_string,
                 C.theString as c_string, D.theString as d_string
               all matches pattern ( A B | C D )
               define A as (A.value = 1), B as (B.value = 2), C as (C.value = 3), D as (D.value = 4))""",
          "a_string,b_string,c_string,d_string",
          [b("E1", 3, rows=[]), b("E2", 5, rows=[]), b("E3", 4, rows=[]), b("E4", 3, rows=[]),
           b("E5", 4, rows=[(None, None, "E4", "E5")]), b("E1", 1, rows=[]), b("E1", 1, rows=[]),
           b("E2", 2, rows=[("E1", "E2", None, None)])])


@esper("mr-alternation", MR + "RowRecogOps.RowRecogAlterWithinConcat")
def test_alternation_within_concatenation() -> None:
    check("""@Name('s0') select * from Flow#keepall match_recognize (
               measures A.theString as a_string, B.theString as b_string,
                 C.theString as c_string, D.theString as d_string
               all matches pattern ( (A | B) (C | D) )
               define A as (A.value = 1), B as (B.value = 2), C as (C.value = 3), D as (D.value = 4))""",
          "a_string,b_string,c_string,d_string",
          [b("E1", 3, rows=[]), b("E2", 1, rows=[]), b("E3", 2, rows=[]), b("E4", 5, rows=[]),
           b("E5", 1, rows=[]), b("E6", 3, rows=[("E5", None, "E6", None)]),
           b("E7", 2, rows=[]), b("E8", 3, rows=[(None, "E7", "E8", None)])])


A_B_A = [b("E1", 3, rows=[]), b("E2", 1, rows=[]), b("E3", 2, rows=[]), b("E4", 5, rows=[]),
         b("E5", 1, rows=[]), b("E6", 2, rows=[]), b("E7", 1, rows=[("E5", "E6", "E7")])]


@esper("mr-concatenation", MR + "RowRecogOps.RowRecogVariableMoreThenOnce")
def test_variable_more_than_once() -> None:
    check("""@Name('s0') select * from Flow#keepall match_recognize (
               measures A[0].theString as a0, B.theString as b, A[1].theString as a1
               all matches pattern ( A B A ) define A as (A.value = 1), B as (B.value = 2))""",
          "a0,b,a1", A_B_A + [b("E8", 2, rows=[]), b("E9", 1, rows=[]), b("E10", 2, rows=[]),
                              b("E11", 1, rows=[("E9", "E10", "E11")])])


# -- RowRecogGreedyness -----------------------------------------------------------------------------
@esper("mr-reluctant", MR + "RowRecogGreedyness.RowRecogReluctantZeroToOne")
def test_reluctant_zero_to_one() -> None:
    check("""@Name('s0') select * from Flow#keepall match_recognize (
               measures A.theString as a_string, B.theString as b_string
               pattern (A?? B?) define A as A.value = 1, B as B.value = 1)""",
          "a_string,b_string", [b("E1", 1, rows=[(None, "E1")])])


RELUCTANT = """@Name('s0') select * from Flow#keepall match_recognize (
    measures A[0].theString as a0, A[1].theString as a1, A[2].theString as a2, B.theString as b,
      C.theString as c
    pattern (A{q} B? C) define A as A.value = 1, B as B.value in (1, 2), C as C.value = 3)"""
RUN = [b("E1", 1), b("E2", 1), b("E3", 1), b("E4", 3, rows=[("E1", "E2", None, "E3", "E4")]),
       b("E11", 1), b("E12", 1), b("E13", 1), b("E14", 1), b("E15", 3, rows=[("E11", "E12", "E13", "E14", "E15")])]


@esper("mr-reluctant", MR + "RowRecogGreedyness.RowRecogReluctantZeroToMany")
def test_reluctant_zero_to_many() -> None:
    check(RELUCTANT.replace("{q}", "*?"), "a0,a1,a2,b,c",
          RUN + [b("E16", 1), b("E17", 3, rows=[(None, None, None, "E16", "E17")]),
                 b("E18", 3, rows=[(None, None, None, None, "E18")])])


@esper("mr-reluctant", MR + "RowRecogGreedyness.RowRecogReluctantOneToMany")
def test_reluctant_one_to_many() -> None:
    check(RELUCTANT.replace("{q}", "+?"), "a0,a1,a2,b,c",
          RUN + [b("E16", 1), b("E17", 3, rows=[("E16", None, None, None, "E17")]),
                 b("E18", 3, rows=[])])


# -- RowRecogAfter ---------------------------------------------------------------------------------
A_BSTAR = """@Name('s0') select * from Flow#keepall match_recognize (
    measures A.theString as a, B[0].theString as b0, B[1].theString as b1
    {after} pattern (A B*) define A as A.theString like "A%", B as B.theString like "B%")"""


@esper("mr-after-skip", MR + "RowRecogAfter.RowRecogAfterCurrentRow")
def test_after_match_skip_to_current_row() -> None:
    check(A_BSTAR.replace("{after}", "after match skip to current row"), "a,b0,b1",
          [b("A1", 1, rows=[("A1", None, None)]), b("B1", 2, rows=[("A1", "B1", None)])])


@esper("mr-after-skip", MR + "RowRecogAfter.RowRecogAfterNextRow")
def test_after_match_skip_to_next_row() -> None:
    check(A_BSTAR.replace("{after}", "AFTER MATCH SKIP TO NEXT ROW"), "a,b0,b1",
          [b("A1", 1, rows=[("A1", None, None)]), b("B1", 2, rows=[])])


@esper("mr-after-skip", MR + "RowRecogAfter.RowRecogSkipToNextRow")
def test_skip_to_next_row_all_matches() -> None:
    check("""@Name('s0') select * from Flow#keepall match_recognize (
               measures A.theString as a_string, B.theString as b_string
               all matches after match skip to next row pattern (A B) define B as B.value > A.value)
             order by a_string, b_string""",
          "a_string,b_string",
          [b("E1", 5), b("E2", 3, rows=[]), b("E3", 6, rows=[("E2", "E3")]), b("E4", 4, rows=[]),
           b("E5", 6, rows=[("E4", "E5")]), b("E6", 10, rows=[("E5", "E6")]), b("E7", 9),
           b("E8", 4, rows=[])])


@esper("mr-after-skip", MR + "RowRecogAfter.RowRecogVariableMoreThenOnce")
def test_skip_to_next_row_variable_more_than_once() -> None:
    check("""@Name('s0') select * from Flow#keepall match_recognize (
               measures A[0].theString as a0, B.theString as b, A[1].theString as a1
               all matches after match skip to next row pattern ( A B A )
               define A as (A.value = 1), B as (B.value = 2))""",
          "a0,b,a1", A_B_A + [b("E8", 2), b("E9", 1, rows=[("E7", "E8", "E9")])])


@esper("mr-after-skip", MR + "RowRecogAfter.RowRecogSkipToNextRowPartitioned")
def test_skip_to_next_row_partitioned() -> None:
    steps = PARTITIONED + [
        b("S4", 11, rows=[("S4", 10, 11)]),
        b("S3", 3), b("S4", -1), b("S3", 2), b("S1", 4, rows=[]),
        b("S1", 7, rows=[("S1", 4, 7)]), b("S4", 12, rows=[("S4", -1, 12)]),
        b("S4", 12), b("S1", 7), b("S2", 4), b("S1", 5, rows=[]), b("S2", 5, rows=[("S2", 4, 5)])]
    check("""@Name('s0') select * from Flow#keepall match_recognize (
               partition by theString
               measures A.theString as a_string, A.value as a_value, B.value as b_value
               all matches after match skip to next row pattern (A B)
               define B as (B.value > A.value)) order by a_string""",
          "a_string,a_value,b_value", steps)


@esper("mr-after-skip", MR + "RowRecogAfter.RowRecogAfterSkipPastLast")
def test_after_match_skip_past_last_row() -> None:
    check("""@Name('s0') select * from Flow#keepall match_recognize (
               measures A.theString as a_string, B.theString as b_string
               all matches after match skip past last row pattern (A B) define B as B.value > A.value)
             order by a_string, b_string""",
          "a_string,b_string",
          [b("E1", 5), b("E2", 3, rows=[]), b("E3", 6, rows=[("E2", "E3")]), b("E4", 4, rows=[]),
           b("E5", 6, rows=[("E4", "E5")]), b("E6", 10, rows=[]), b("E7", 9), b("E8", 4, rows=[])])


# -- RowRecogPrev -----------------------------------------------------------------------------------
@esper("mr-prev", MR + "RowRecogPrev.RowRecogPartitionBy2FieldsKeepall")
def test_prev_partitioned_by_two_fields() -> None:
    check("""@Name('s0') select * from Flow#keepall match_recognize (
               partition by theString, cat
               measures A.theString as a_string, A.cat as a_cat, A.value as a_value, B.value as b_value
               all matches pattern (A B)
               define A as (A.value > PREV(A.value)), B as (B.value > PREV(B.value)))
             order by a_string, a_cat""",
          "a_string,a_cat,a_value,b_value",
          [b("S1", 5, "T1"), b("S2", 110, "T1"), b("S1", 21, "T2"), b("S1", 7, "T1"), b("S2", 111, "T1"),
           b("S1", 20, "T2"), b("S2", 110, "T1"), b("S2", 1000, "T2"), b("S2", 1001, "T2"),
           (0, {"theString": "S1", "cat": None, "value": 9}, []),
           b("S1", 9, "T1", rows=[("S1", "T1", 7, 9)]),
           b("S2", 1001, "T2"), b("S2", 109, "T1"), b("S1", 25, "T2", rows=[]),
           b("S2", 1002, "T2"), b("S2", 1003, "T2", rows=[("S2", "T2", 1002, 1003)]),
           b("S1", 28, "T2", rows=[("S1", "T2", 25, 28)])])


@esper("mr-prev", DOC + "The Prev Operator (example table)")
def test_prev_manual_example() -> None:
    check("""@Name('s0') select * from Flow match_recognize (
               partition by device measures A.id as a_id pattern (A)
               define A as A.temp > 100 and prev(A.temp, 2) > 100)""",
          "a_id",
          [temp(1000, "E1", 1, 98, []), temp(2000, "E2", 1, 101, []), temp(3000, "E3", 1, 101, []),
           temp(4000, "E4", 1, 99, []), temp(5000, "E5", 1, 101, [("E5",)])])


# -- the manual's examples ------------------------------------------------------------------------------
@esper("mr-concatenation", DOC + "Syntax Example")
def test_manual_syntax_example() -> None:
    check("""@Name('s0') select * from Flow match_recognize (
               partition by device
               measures A.id as a_id, B.id as b_id, A.temp as a_temp, B.temp as b_temp
               pattern (A B) define B as abs(B.temp - A.temp) >= 10)""",
          "a_id,b_id,a_temp,b_temp",
          [temp(1000, "E1", 1, 50, []), temp(2000, "E2", 1, 55, []), temp(3000, "E3", 1, 60, []),
           temp(4000, "E4", 1, 70, [("E3", "E4", 60, 70)]), temp(5000, "E5", 1, 85, []),
           temp(6000, "E6", 1, 85, []), temp(7000, "E7", 2, 100, [])])


@esper("mr-alternation", DOC + "Alternation")
def test_manual_alternation() -> None:
    check("""@Name('s0') select * from Flow match_recognize (
               partition by device measures A.id as a_id, B.id as b_id, C.id as c_id
               pattern (A (B | C))
               define A as A.temp >= 50, B as B.temp <= 45,
                      C as abs(C.temp - A.temp) >= 10)""",
          "a_id,b_id,c_id",
          [temp(1000, "E1", 1, 50, []), temp(2000, "E2", 1, 45, [("E1", "E2", None)]),
           temp(3000, "E3", 1, 46, []), temp(4000, "E4", 1, 48, []), temp(5000, "E5", 1, 50, []),
           temp(6000, "E6", 1, 60, [("E5", None, "E6")])])


@esper("mr-reluctant", DOC + "Greedy or Reluctant")
def test_manual_greedy_or_reluctant() -> None:
    check("""@Name('s0') select * from Flow match_recognize (
               partition by device measures A.id as a_id, B.id as b_id
               pattern (A?? B?) define A as A.temp >= 100, B as B.temp >= 105)""",
          "a_id,b_id",
          [temp(1000, "E1", 1, 99, []), temp(2000, "E2", 2, 106, [(None, "E2")]),
           temp(3000, "E3", 1, 100, [("E3", None)])])


@esper("mr-measures", DOC + "Quantifier - One or More (+ and +?)")
def test_manual_one_or_more_with_first_and_last() -> None:
    check("""@Name('s0') select * from Flow match_recognize (
               partition by device
               measures first(A.id) as first_a, last(A.id) as last_a, B[0].id as b0_id, B[1].id as b1_id
               pattern (A+ B+) define A as A.temp >= 100, B as B.temp > A[0].temp)""",
          "first_a,last_a,b0_id,b1_id",
          [temp(1000, "E1", 1, 99, []), temp(2000, "E2", 1, 100, []), temp(3000, "E3", 1, 100, []),
           temp(4000, "E4", 1, 101, [("E2", "E3", "E4", None)]), temp(5000, "E5", 1, 102, [])])


@esper("mr-measures", DOC + "Quantifier - Zero or More (* and *?)")
def test_manual_zero_or_more_with_count() -> None:
    check("""@Name('s0') select * from Flow match_recognize (
               partition by device measures A.id as a_id, count(B.id) as count_b, C.id as c_id
               pattern (A B* C)
               define A as A.temp < 50, B as B.temp between 50 and 60, C as C.temp > 60)""",
          "a_id,count_b,c_id",
          [temp(1000, "E1", 1, 55, []), temp(2000, "E2", 1, 52, []), temp(3000, "E3", 1, 49, []),
           temp(4000, "E4", 1, 51, []), temp(5000, "E5", 1, 55, []),
           temp(6000, "E6", 1, 61, [("E3", 2, "E6")])])


@esper("mr-quantifier", DOC + "Quantifier - Zero or One (? and ??)")
def test_manual_zero_or_one() -> None:
    check("""@Name('s0') select * from Flow match_recognize (
               partition by device measures A.id as a_id, B.id as b_id, C.id as c_id, D.id as d_id
               pattern (A B? C? D)
               define A as A.temp < 50, B as B.temp > 50, C as C.temp < 50, D as D.temp > 55)""",
          "a_id,b_id,c_id,d_id",
          [temp(1000, "E1", 1, 44, []), temp(2000, "E2", 1, 49, []), temp(3000, "E3", 1, 51, []),
           temp(4000, "E4", 1, 49, []), temp(5000, "E5", 1, 56, [("E2", "E3", "E4", "E5")]),
           temp(6000, "E6", 1, 61, [])])


REPEAT_EVENTS = [(1000, "E1", 99), (2000, "E2", 100), (3000, "E3", 100), (4000, "E4", 101), (5000, "E5", 102)]


@pytest.mark.parametrize("pattern, measures, outputs", [
    ("A{2}", "A[0].id as a0_id, A[1].id as a1_id", {"E3": [("E2", "E3")], "E5": [("E4", "E5")]}),
    ("A{2,} B", "A[0].id as a0_id, A[1].id as a1_id, A[2].id as a2_id, B.id as b_id",
     {"E5": [("E2", "E3", "E4", "E5")]}),
    ("A{2,3} B", "A[0].id as a0_id, A[1].id as a1_id, A[2].id as a2_id, B.id as b_id",
     {"E5": [("E2", "E3", "E4", "E5")]}),
    ("A{,2} B", "A[0].id as a0_id, A[1].id as a1_id, B.id as b_id", {"E5": [("E3", "E4", "E5")]}),
], ids=["exactly-n", "n-or-more", "between-n-and-m", "zero-to-m"])
@esper("mr-repetition", DOC + "Repetition - Exactly N / N or More / Between N and M / Between Zero and M")
def test_manual_repetition(pattern: str, measures: str, outputs: dict[str, list[tuple[Any, ...]]]) -> None:
    fields = ",".join(m.split(" as ")[1].strip() for m in measures.split(","))
    define_b = ", B as B.temp >= 102" if "B" in pattern else ""
    check(f"""@Name('s0') select * from Flow match_recognize (
                partition by device measures {measures} pattern ({pattern})
                define A as A.temp >= 100{define_b})""",
          fields, [temp(t, i, 1, d, outputs.get(i, [])) for t, i, d in REPEAT_EVENTS])


@esper("mr-repetition", DOC + "Repetition Equivalence ((A B){2} is (A B) (A B))")
def test_group_repetition_is_the_group_twice() -> None:
    check("""@Name('s0') select * from Flow match_recognize (
               measures A[0].id as a0, B[0].id as b0, A[1].id as a1, B[1].id as b1
               pattern ((A B){2}) define A as A.temp = 100, B as B.temp = 101)""",
          "a0,b0,a1,b1",
          [temp(1, "E1", 1, 100, []), temp(2, "E2", 1, 101, []), temp(3, "E3", 1, 100, []),
           temp(4, "E4", 1, 101, [("E1", "E2", "E3", "E4")])])


# -- interval -----------------------------------------------------------------------------------------
@esper("mr-interval", DOC + "Interval (example table)")
def test_manual_interval() -> None:
    check("""@Name('s0') select * from Flow match_recognize (
               partition by device
               measures A.id as a_id, count(B.id) as count_b, first(B.id) as first_b, last(B.id) as last_b
               pattern (A B*) interval 5 seconds define A as A.temp > 100, B as B.temp > 100)""",
          "a_id,count_b,first_b,last_b",
          [temp(1000, "E1", 1, 98, []), temp(2000, "E2", 1, 101, []), temp(3000, "E3", 1, 102, []),
           temp(4000, "E4", 1, 104, []), temp(5000, "E5", 1, 104, []), timer(6999, []),
           timer(7000, [("E2", 3, "E3", "E5")])])


INTERVAL_A_BSTAR = """@Name('s0') select * from Flow#keepall match_recognize (
    {partition} measures A.theString as a, B[0].theString as b0, B[1].theString as b1,
      last(B.theString) as lastb
    pattern (A B*) interval 10 seconds
    define A as A.theString like "A%", B as B.theString like "B%") order by a, b0, b1, lastb"""


@esper("mr-interval", MR + "RowRecogInterval.RowRecogIntervalSimple")
def test_interval_simple() -> None:
    check(INTERVAL_A_BSTAR.replace("{partition}", ""), "a,b0,b1,lastb",
          [b("A1", 1, t=1000, rows=[]), timer(10999, []), timer(11000, [("A1", None, None, None)]),
           b("A2", 2, t=13000, rows=[]), b("B1", 3, t=15000, rows=[]), timer(22999, []),
           timer(23000, [("A2", "B1", None, "B1")]), b("A3", 4, t=25000, rows=[]),
           b("B2", 5, t=26000, rows=[]), b("B3", 6, t=29000, rows=[]), b("B4", 7, t=34999, rows=[]),
           timer(35000, [("A3", "B2", "B3", "B4")])])


@esper("mr-interval", MR + "RowRecogInterval.RowRecogPartitioned")
def test_interval_partitioned() -> None:
    check(INTERVAL_A_BSTAR.replace("{partition}", "partition by cat"), "a,b0,b1,lastb",
          [b("A1", 1, "C1", t=1000), b("A2", 2, "C2", t=1000), b("A3", 3, "C3", t=2000),
           b("A4", 4, "C4", t=3000), b("B1", 5, "C3", t=3000), b("B2", 6, "C1", t=3000),
           b("B3", 7, "C1", t=3000), b("B4", 7, "C4", t=3000), timer(10999, []),
           timer(11000, [("A1", "B2", "B3", "B3"), ("A2", None, None, None)]), timer(11999, []),
           timer(12000, [("A3", "B1", None, "B1")]), timer(13000, [("A4", "B4", None, "B4")])])


@esper("mr-interval", MR + "RowRecogInterval.RowRecogMultiCompleted")
def test_interval_multi_completed() -> None:
    check(INTERVAL_A_BSTAR.replace("{partition}", ""), "a,b0,b1,lastb",
          [b("A1", 1, t=1000, rows=[]), b("A2", 2, t=5000, rows=[]), timer(10999, []),
           timer(11000, [("A1", None, None, None)]), timer(15000, [("A2", None, None, None)]),
           b("A3", 3, t=21000, rows=[]), b("A4", 4, t=22000, rows=[]), b("B1", 5, t=23000, rows=[]),
           b("B2", 6, t=23000, rows=[]), b("B3", 7, t=23000, rows=[]), b("B4", 8, t=23000, rows=[]),
           timer(31000, [("A3", None, None, None)]), timer(32000, [("A4", "B1", "B2", "B4")])])


TERMINATED = MR + "RowRecogIntervalOrTerminated"


@esper("mr-interval-terminated", TERMINATED + ".runAssertionDocSample; " + DOC + "Interval-or-Terminated")
def test_or_terminated_manual_example() -> None:
    check("""@Name('s0') select * from Flow match_recognize (
               partition by device
               measures A.id as a_id, count(B.id) as count_b, first(B.id) as first_b, last(B.id) as last_b
               pattern (A B*) interval 5 seconds or terminated
               define A as A.temp > 100, B as B.temp > 100)""",
          "a_id,count_b,first_b,last_b",
          [temp(1000, "E1", 1, 98, []), temp(2000, "E2", 1, 101, []), temp(3000, "E3", 1, 102, []),
           temp(4000, "E4", 1, 101, []), temp(5000, "E5", 1, 100, [("E2", 2, "E3", "E4")]),
           timer(7000, []), timer(2_000_000_000, [])])


TERM = """@Name('s0') select * from Flow#keepall match_recognize (
    measures {measures} {all} pattern ({pattern}) interval 10 seconds or terminated
    define {defines})"""


def term(pattern: str, measures: str, all_matches: bool = False) -> str:
    defines = ", ".join(f"{v} as {v}.theString like '{v}%'" for v in "ABC" if v in pattern)
    return TERM.format(measures=measures, pattern=pattern, all="all matches" if all_matches else "",
                       defines=defines)


def s(name: str, t: int = 0, rows: list[tuple[Any, ...]] | None = None) -> Step:
    return b(name, t=t, rows=rows)


A_B0_B2 = "A.theString as a, B[0].theString as b0, B[1].theString as b1, B[2].theString as b2"


@esper("mr-interval-terminated", TERMINATED + ".runAssertion_A_Bstar")
def test_or_terminated_a_bstar() -> None:
    check(term("A B*", A_B0_B2), "a,b0,b1,b2",
          [s("A1"), s("B1", rows=[]), s("X1", rows=[("A1", "B1", None, None)]), timer(20000, []),
           s("A2", 20000), s("B2", 20000, []), timer(29999), timer(30000, [("A2", "B2", None, None)])])


@esper("mr-interval-terminated", TERMINATED + ".runAssertion_A_Bstar (all matches)")
def test_or_terminated_a_bstar_all_matches() -> None:
    got = run(term("A B*", A_B0_B2, True), "a,b0,b1,b2",
              [s("A1"), s("B1"), s("X1"), timer(20000), s("A2", 20000), s("B2", 20000), timer(30000)])
    assert sorted(got[2] or [], key=repr) == sorted([("A1", "B1", None, None), ("A1", None, None, None)], key=repr)
    assert got[3] == got[4] == got[5] == []
    assert sorted(got[6] or [], key=repr) == sorted([("A2", "B2", None, None), ("A2", None, None, None)], key=repr)


@esper("mr-interval-terminated", TERMINATED + ".runAssertion_Astar")
def test_or_terminated_astar() -> None:
    check("""@Name('s0') select * from Flow#keepall match_recognize (
               measures A[0].theString as a0, A[1].theString as a1, A[2].theString as a2,
                 A[3].theString as a3, A[4].theString as a4
               pattern (A*) interval 10 seconds or terminated define A as theString like 'A%')""",
          "a0,a1,a2,a3,a4",
          [s("A1"), s("A2", rows=[]), s("B1", rows=[("A1", "A2", None, None, None)]),
           s("A3", 2000), s("A4", 2000), s("A5", 2000, []), timer(12000, [("A3", "A4", "A5", None, None)]),
           s("A6", 12000), s("B2", 12000, [("A3", "A4", "A5", "A6", None)]), s("B3", 12000, [])])


@esper("mr-interval-terminated", TERMINATED + ".runAssertion_A_Bplus")
def test_or_terminated_a_bplus() -> None:
    check(term("A B+", A_B0_B2), "a,b0,b1,b2",
          [s("A1"), s("X1"), s("A2"), s("B2", rows=[]), s("X2", rows=[("A2", "B2", None, None)]),
           s("A3"), s("A4"), s("B3"), s("B4", rows=[]), s("X3", rows=[("A4", "B3", "B4", None)])])


@esper("mr-interval-terminated", TERMINATED + ".runAssertion_A_B_Cstar")
def test_or_terminated_a_b_cstar() -> None:
    check(term("A B C*", "A.theString as a, B.theString as b, C[0].theString as c0, "
                         "C[1].theString as c1, C[2].theString as c2"), "a,b,c0,c1,c2",
          [s("A1"), s("B1"), s("C1"), s("C2", rows=[]), s("B2", rows=[("A1", "B1", "C1", "C2", None)]),
           s("A2"), s("X1"), s("B3"), s("X2", rows=[]), s("A3"), s("B4"),
           s("X3", rows=[("A3", "B4", None, None, None)]), s("A4", 20000), s("B5", 20000),
           s("C3", 20000, []), timer(30000, [("A4", "B5", "C3", None, None)]), timer(2_000_000_000, [])])


@esper("mr-interval-terminated", TERMINATED + ".runAssertion_A_B (the interval has no effect)")
def test_or_terminated_a_b() -> None:
    check(term("A B", "A.theString as a, B.theString as b"), "a,b",
          [s("A1"), s("B1", rows=[("A1", "B1")]), s("A2"), s("A3"), s("B2", rows=[("A3", "B2")])])


@esper("mr-interval-terminated", TERMINATED + ".runAssertion_A_Bstar_or_C")
def test_or_terminated_a_bstar_or_c() -> None:
    check(term("A (B* | C)", A_B0_B2 + ", C.theString as c"), "a,b0,b1,b2,c",
          [s("A1"), s("C1", rows=[("A1", None, None, None, "C1")]), s("A2", rows=[]),
           s("B1", rows=[("A2", None, None, None, None)]), s("B2", rows=[]),
           s("X1", rows=[("A2", "B1", "B2", None, None)]), s("A3"), timer(10000, [("A3", None, None, None, None)]),
           timer(2_000_000_000, [])])


@esper("mr-interval-terminated", TERMINATED + ".runAssertion_A_Bstar_or_Cstar")
def test_or_terminated_a_bstar_or_cstar() -> None:
    check(term("A (B* | C*)", "A.theString as a, B[0].theString as b0, B[1].theString as b1, "
                              "C[0].theString as c0, C[1].theString as c1"), "a,b0,b1,c0,c1",
          [s("A1"), s("X1", rows=[("A1", None, None, None, None)]), s("A2"),
           s("C1", rows=[("A2", None, None, None, None)]), s("B1", rows=[("A2", None, None, "C1", None)]),
           s("C2", rows=[])])


# -- bounds ---------------------------------------------------------------------------------------------
@esper("mr-max-states", MR + "RowRecogMaxStatesEngineWide3Instance.runAssertionNamedWindowInSequenceRemoveEvent "
       "(max 3 states, prevent-start; without the named window delete)")
def test_max_states_prevents_new_states(monkeypatch: pytest.MonkeyPatch) -> None:
    from flowcep_plugin.engine import match_recognize

    monkeypatch.setattr(match_recognize, "MAX_STATES", 3)
    h = Harness("""@Name('s0') select * from Flow match_recognize (
                     partition by theString measures P1.longPrimitive as c0, P2.longPrimitive as c1
                     pattern (P1 P2) define P1 as P1.intPrimitive = 0, P2 as P2.intPrimitive = 1)""")
    st = h.rt.stmts[0]

    def send(name: str, i: int, n: int) -> list[tuple[Any, ...]]:
        return [(r.values["c0"], r.values["c1"]) for r in h.send(0, theString=name, intPrimitive=i, longPrimitive=n)]

    assert send("A", 0, 1) == send("B", 0, 2) == send("C", 0, 3) == []
    assert st.stats["match-recognize-state-limit"] == 0
    assert send("D", 0, 4) == [] and st.stats["match-recognize-state-limit"] == 1  # overflow: D not started
    assert send("B", 1, 6) == [(2, 6)]  # now 2 states: A, C
    assert send("E", 0, 7) == [] and st.stats["match-recognize-state-limit"] == 1  # no overflow
    assert send("F", 0, 9) == [] and st.stats["match-recognize-state-limit"] == 2  # overflow
    assert send("F", 1, 10) == [] and send("D", 1, 11) == []  # the prevented states never match


# -- RowRecogRepetition ---------------------------------------------------------------------------------
REP = MR + "RowRecogRepetition"

# (patterns, variables, which are group variables, sequences with one match, sequences without)
REPETITION = [
    (("A A", "A{2}", "(A{2})"), "a", (True,), ["A1,A2", "A3,A4"], ["A5"]),
    (("A B B C", "A B{2} C", "A (B B) C", "A (B{2}) C"), "a,b,c", (False, True, False),
     ["A1,B1,B2,C1"], ["B1,B2,C1", "A1,B1,C1", "A1,B1,B2"]),
    (("A (B B|C C)", "A (B{2}|C{2})"), "a,b,c", (False, True, True), ["A1,C1,C2", "A2,B1,B2"],
     ["B1,B2", "C1,C2", "A1,B1,C1", "A1,C1,B1"]),
    (("A A B B", "A{2} B{2}"), "a,b", (True, True), ["A1,A2,B1,B2"], ["A1,A2,B1", "B1,B2,A1,A2", "A1,B1,A2,B2"]),
    (("A A A? B", "A{2,3} B"), "a,b", (True, False), ["A1,A2,A3,B1", "A1,A2,B1"], ["A1,B1", "A1,A2", "B1"]),
    (("A? A? B", "A{,2} B"), "a,b", (True, False), ["B1", "A1,B1", "A1,A2,B1"], ["A1"]),
    (("A A A* B", "A{2,} B", "A{2,4} B"), "a,b", (True, False), ["A1,A2,B1", "A1,A2,A3,B1"], ["A1,B1", "B1"]),
    (("(A B) (A B)", "(A B){2}"), "a,b", (True, True), ["A1,B1,A2,B2"], ["A1,A2,B1", "A1,A2,B1,B2", "A1,B1,B2,A2"]),
    (("A (B C) (B C)", "A (B C){2}"), "a,b,c", (False, True, True), ["A1,B1,C1,B2,C2"],
     ["A1,B1,C1,B2", "A1,B1,C1,C2", "A1,B1,B2,C1,C2"]),
    (("(A B) (A B)? C", "(A B){1,2} C"), "a,b,c", (True, True, False), ["A1,B1,C1", "A1,B1,A2,B2,C1"],
     ["C1", "A1,A2,C2", "B1,A1,C1"]),
    (("(A B)? (A B)? C", "(A B){,2} C"), "a,b,c", (True, True, False), ["C1", "A1,B1,C1", "A1,B1,A2,B2,C1"],
     ["A1,B1,A2,B2", "A1,A2"]),
    (("(A B) (A B) (A B)* C", "(A B){2,} C"), "a,b,c", (True, True, False),
     ["A1,B1,A2,B2,C1", "A1,B1,A2,B2,A3,B3,C1"], ["A1,B1,C1", "A1,B1,A2,C1", "B1,A1,B2,C1"]),
]


def _ids(v: Any) -> Any:
    if isinstance(v, list):
        return [e["theString"] for e in v]
    return v["theString"] if isinstance(v, dict) else v


@pytest.mark.parametrize("pattern, props, groups, matching, not_matching",
                         [(pat, pr, g, m, n) for pats, pr, g, m, n in REPETITION for pat in pats])
@esper("mr-repetition", REP + ".runAssertionRepeat (runAssertion sequences)")
def test_repetition_sequences(pattern: str, props: str, groups: tuple[bool, ...], matching: list[str],
                              not_matching: list[str]) -> None:
    names = props.split(",")
    measures = ", ".join(f"{n.upper()} as {n}" for n in names)
    defines = ", ".join(f'{n.upper()} as {n.upper()}.theString like "{n.upper()}%"' for n in names)
    h = Harness(f"""@Name('s0') select * from Flow match_recognize (
                      partition by intPrimitive measures {measures} pattern ({pattern}) define {defines})""")
    for seq_no, seq in enumerate(matching + not_matching):
        sent: dict[str, list[str]] = {}
        rows = []
        for ev in seq.split(","):
            sent.setdefault(ev[0].lower(), []).append(ev)
            rows += h.send(0, theString=ev, intPrimitive=seq_no)
        got = [{n: _ids(r.values[n]) for n in names} for r in rows]
        if seq_no < len(matching):
            want = {n: (sent.get(n) if g else sent[n][0]) for n, g in zip(names, groups, strict=True)}
            assert got == [want], f"{pattern} on {seq}"
        else:
            assert got == [], f"{pattern} on {seq}"


@esper("mr-repetition", REP + ".runAssertionPrev")
def test_repetition_with_prev() -> None:
    h = Harness("""@Name('s0') select * from Flow match_recognize (
                     measures A as a pattern (A{3}) define A as A.intPrimitive > prev(A.intPrimitive))""")
    for i, (name, n) in enumerate([("A1", 1), ("A2", 4), ("A3", 2), ("A4", 6), ("A5", 5), ("A6", 6),
                                   ("A7", 7), ("A9", 8)]):
        h.send(i, theString=name, intPrimitive=n)
    assert [_ids(r.values["a"]) for r in h.of("s0")] == [["A6", "A7", "A9"]]


EQUIVALENT = [
    ("A{1}", "A"), ("A{2}", "A A"), ("A{3}", "A A A"), ("A{1} B{2}", "A B B"), ("(A{2})", "(A A)"),
    ("A?{2}", "A? A?"), ("A*{2}", "A* A*"), ("A+{2}", "A+ A+"), ("A??{2}", "A?? A??"), ("A*?{2}", "A*? A*?"),
    ("A+?{2}", "A+? A+?"), ("(A B){2}", "(A B) (A B)"), ("(A B)?{2}", "(A B)? (A B)?"),
    ("(A B)+{2}", "(A B)+ (A B)+"), ("A (B{2}|C{2})", "A (B B|C C)"),
    ("A{1, 3}", "A A? A?"), ("A{2, 4}", "A A A? A?"), ("A?{1, 3}", "A? A? A?"), ("A+{1, 3}", "A+ A* A*"),
    ("A??{1, 3}", "A?? A?? A??"), ("A+?{1, 3}", "A+? A*? A*?"), ("(A B)+{1, 3}", "(A B)+ (A B)* (A B)*"),
    ("A{2,}", "A A A*"), ("A?{2,}", "A? A? A*"), ("A+{2,}", "A+ A+ A*"), ("A??{2,}", "A?? A?? A*?"),
    ("A+?{2,}", "A+? A+? A*?"), ("(A B)?{2,}", "(A B)? (A B)? (A B)*"), ("(A B)+{2,}", "(A B)+ (A B)+ (A B)*"),
    ("A{,2}", "A? A?"), ("A+{,2}", "A* A*"), ("A+?{,2}", "A*? A*?"), ("(A B){,2}", "(A B)? (A B)?"),
    ("(A B)+{,2}", "(A B)* (A B)*"), ("((A B){2} C){2}", "((A B) (A B) C) ((A B) (A B) C)"),
    ("((A|B){2} (C|D){2}){2}", "((A|B) (A|B) (C|D) (C|D)) ((A|B) (A|B) (C|D) (C|D))"),
]


@pytest.mark.parametrize("before, after", EQUIVALENT, ids=[b_ for b_, _a in EQUIVALENT])
@esper("mr-repetition", REP + ".runAssertionEquivalent (each expansion gives the rows of its equivalent)")
def test_repetition_expands_as_esper_writes_it(before: str, after: str) -> None:
    import random

    rng = random.Random(before)
    # runs that the repeated groups can take, mixed with noise
    pieces = ["A", "B", "C", "D", "X", "AB", "ABAB", "ABC", "ABABC", "BA", "AACCDD", "BBDC", "AA", "AAA"]
    seq = [c for _ in range(150) for c in rng.choice(pieces)]

    def rows(pattern: str) -> list[Any]:
        variables = sorted({c for c in pattern if c.isalpha()})
        defines = ", ".join(f"{v} as {v}.kind = '{v}'" for v in variables)
        h = Harness(f"""@Name('s0') select * from Flow match_recognize (
                          measures {", ".join(f"{v} as {v.lower()}" for v in variables)} all matches
                          pattern ({pattern}) define {defines})""")
        for i, k in enumerate(seq):
            h.send(i, kind=k, n=i)
        return [(r.time_ms, {k: (None if v is None else [e["n"] for e in v] if isinstance(v, list) else v["n"])
                             for k, v in r.values.items()}) for r in h.of("s0")]

    got = rows(before)
    assert got == rows(after)
    assert got, "the sequence should match the pattern at least once"


# -- RowRecogAggregation --------------------------------------------------------------------------------
@esper("mr-measures", MR + "RowRecogAggregation.RowRecogMeasureAggregation")
def test_measure_aggregation() -> None:
    check("""@Name('s0') select * from Flow#keepall match_recognize (
               measures A.theString as a_string, C.theString as c_string, max(B.value) as maxb,
                 min(B.value) as minb, 2*min(B.value) as minb2x, last(B.value) as lastb,
                 first(B.value) as firstb, count(B.value) as countb
               all matches pattern (A B* C)
               define A as (A.value = 0), B as (B.value != 1), C as (C.value = 1))
             order by a_string""",
          "a_string,c_string,maxb,minb,minb2x,firstb,lastb,countb",
          [b("E1", 0), b("E2", 1, rows=[("E1", "E2", None, None, None, None, None, 0)]),
           b("E3", 0), b("E4", 5), b("E5", 3), b("E6", 1, rows=[("E3", "E6", 5, 3, 6, 5, 3, 2)]),
           b("E7", 0), b("E8", 4), b("E9", -1), b("E10", 7), b("E11", 2),
           b("E12", 1, rows=[("E7", "E12", 7, -1, -2, 4, 2, 4)])])


@esper("mr-measures", MR + "RowRecogAggregation.RowRecogMeasureAggregationPartitioned")
def test_measure_aggregation_partitioned() -> None:
    check("""@Name('s0') select * from Flow#keepall match_recognize (
               partition by cat
               measures A.cat as cat, A.theString as a_string, D.theString as d_string,
                 sum(C.value) as sumc, sum(B.value) as sumb, sum(B.value + A.value) as sumaplusb,
                 sum(C.value + A.value) as sumaplusc
               all matches pattern (A B B C C D)
               define A as (A.value >= 10), B as (B.value > 1), C as (C.value < -1), D as (D.value = 999))
             order by cat""",
          "a_string,d_string,sumb,sumc,sumaplusb,sumaplusc",
          [b("E1", 10, "x"), b("E2", 20, "y"), b("E3", 7, "x"), b("E4", 5, "y"), b("E5", 8, "x"),
           b("E6", 2, "y"), b("E7", -2, "x"), b("E8", -7, "y"), b("E9", -5, "x"), b("E10", -4, "y"),
           b("E11", 999, "y", rows=[("E2", "E11", 7, -11, 47, 29)]),
           b("E12", 999, "x", rows=[("E1", "E12", 15, -7, 35, 13)])])


@esper("mr-partition", MR + "RowRecogEmptyPartition (without its #length(10) and the closing loop "
       "of A events, where B8 leaving the window decides)")
def test_empty_partitions_match_again() -> None:
    steps = [b("A", 1), b("B", 1, rows=[(1,)]), b("B", 2), b("A", 2, rows=[(2,)]), b("B", 3), b("A", 4),
             b("A", 3, rows=[(3,)]), b("B", 4, rows=[(4,)]), b("A", 6), b("B", 7), b("B", 8),
             b("A", 7, rows=[(7,)])]
    check("""@Name('s0') select * from Flow match_recognize (
               partition by value measures E1.value as value pattern (E1 E2 | E2 E1)
               define E1 as E1.theString = 'A', E2 as E2.theString = 'B')""", "value", steps)



# -- data windows ---------------------------------------------------------------------------------------
@esper("mr-data-window", MR + "RowRecogDataWin.RowRecogTimeWindow")
def test_time_window_removes_partial_matches() -> None:
    check("""@Name('s0') select * from Flow#time(5 sec) match_recognize (
               measures A.theString as a_string, B.theString as b_string, C.theString as c_string
               all matches pattern ( A B C ) define A as (A.value = 1), B as (B.value = 2), C as (C.value = 3))""",
          "a_string,b_string,c_string",
          [b("E1", 1, t=50), b("E2", 2, t=1000, rows=[]), b("E3", 3, t=6000, rows=[]),  # E1 left at 5050
           b("E4", 1, t=7000), b("E5", 2, t=8000), b("E6", 3, t=11500, rows=[("E4", "E5", "E6")]),
           timer(12000, [])])


@esper("mr-data-window", DOC + "Datawindow-Bound (example table)")
def test_manual_time_window_example() -> None:
    check("""@Name('s0') select * from Flow#time(10 sec) match_recognize (
               partition by device measures A.id as a_id pattern (A B C D)
               define B as B.temp > A.temp, C as C.temp > B.temp, D as D.temp > C.temp)""",
          "a_id",
          [temp(1000, "E1", 1, 80, []), temp(2000, "E2", 1, 81, []), temp(3000, "E3", 1, 82, []),
           temp(4000, "E4", 1, 81, []), temp(7000, "E5", 1, 82, []), temp(9000, "E6", 1, 83, []),
           temp(13000, "E7", 1, 84, [("E4",)]), temp(15000, "E8", 1, 84, []), temp(20000, "E9", 1, 85, []),
           temp(21000, "E10", 1, 86, []),
           temp(26000, "E11", 1, 87, [])])  # E8 left the window at 25000


@esper("mr-data-window", MR + "RowRecogDataWin.RowRecogUnboundStreamNoIterator")
def test_prev_with_a_bare_property() -> None:
    check("""@Name('s0') select * from Flow match_recognize (
               measures A.theString as string, A.value as value all matches pattern (A)
               define A as PREV(A.theString, 1) = theString)""",
          "string,value",
          [b("s1", 1), b("s2", 2), b("s1", 3), b("s3", 4), b("s2", 5), b("s1", 6, rows=[]),
           b("s1", 7, rows=[("s1", 7)])])


@esper("mr-prev", MR + "RowRecogPrev.RowRecogTimeWindowUnpartitioned (Math.abs written abs)")
def test_prev_in_a_time_window() -> None:
    check("""@Name('s0') select * from Flow#time(5) match_recognize (
               measures A.theString as a_string, B.theString as b_string all matches pattern (A B)
               define A as PREV(A.theString, 3) = 'P3' and PREV(A.theString, 2) = 'P2'
                        and PREV(A.theString, 4) = 'P4' and abs(prev(A.value, 0)) >= 0,
                      B as B.value in (PREV(B.value, 4), PREV(B.value, 2)))""",
          "a_string,b_string",
          [b("P2", 1, t=1000), b("P1", 2, t=1000), b("P3", 3, t=1000), b("P4", 4, t=1000),
           b("P2", 1, t=2000), b("E1", 3, t=2000, rows=[]), b("P4", 11, t=3000), b("P3", 12, t=3000),
           b("P2", 13, t=3000), b("xx", 4, t=4000), b("E2", -1, t=4000), b("E3", 12, t=4000, rows=[("E2", "E3")]),
           b("P4", 21, t=5000), b("P3", 22, t=5000), b("P2", 23, t=6000), b("xx", -2, t=6000),
           b("E5", -1, t=6000), b("E6", -2, t=6000, rows=[("E5", "E6")])])


@esper("mr-prev", MR + "RowRecogPrev.RowRecogTimeWindowPartitionedSimple")
def test_prev_partitioned_in_a_time_window() -> None:
    check("""@Name('s0') select * from Flow#time(5 sec) match_recognize (
               partition by cat measures A.cat as cat, A.theString as a_string all matches pattern (A)
               define A as PREV(A.value) = (A.value - 1)) order by a_string""",
          "a_string",
          [b("E1", 100, "S1", t=1000), b("E2", 100, "S3", t=2000), b("E3", 102, "S2", t=2500),
           b("E4", 101, "S1", t=6200, rows=[("E4",)]), b("E5", 101, "S3", t=6500, rows=[("E5",)]),
           b("E6", 102, "S1", t=7000, rows=[("E6",)]), b("E7", 103, "S2", t=10000, rows=[("E7",)]),
           b("E8", 102, "S2", t=10000, rows=[]), b("E8", 101, "S1", t=10000, rows=[]),
           b("E8", 104, "S2", t=10000, rows=[]), b("E8", 105, "S1", t=10000, rows=[])])



# -- RowRecogDataSet --------------------------------------------------------------------------------------
FINANCIAL: list[tuple[Any, ...]] = [("E1", 8), ("E2", 8), ("E3", 8), ("E4", 6), ("E5", 3), ("E6", 7), ("E7", 6), ("E8", 2),
             ("E9", 6, ["E3,E9", "E4,E9"]), ("E10", 2), ("E11", 9, ["E6,E11", "E7,E11"]), ("E12", 9),
             ("E13", 8), ("E14", 5), ("E15", 0), ("E16", 9), ("E17", 2), ("E18", 0),
             ("E19", 2, ["E12,E19", "E13,E19", "E14,E19"]), ("E20", 3, ["E12,E20", "E13,E20", "E14,E20"]),
             ("E21", 8, ["E12,E21", "E13,E21", "E14,E21"]), ("E22", 5), ("E23", 9, ["E16,E23", "E17,E23"]),
             ("E24", 9), ("E25", 4), ("E26", 7), ("E27", 2), ("E28", 8, ["E24,E28"]), ("E29", 0),
             ("E30", 4, ["E26,E30"]), ("E31", 4), ("E32", 7), ("E33", 8), ("E34", 6), ("E35", 4), ("E36", 5),
             ("E37", 1), ("E38", 7, ["E33,E38", "E34,E38"]), ("E39", 5), ("E40", 8, ["E36,E40"]), ("E41", 6),
             ("E42", 6), ("E43", 0), ("E44", 6), ("E45", 8), ("E46", 4), ("E47", 3), ("E48", 8, ["E42,E48"]),
             ("E49", 2), ("E50", 5, ["E45,E50", "E46,E50"]), ("E51", 3), ("E52", 3), ("E53", 9), ("E54", 8),
             ("E55", 5), ("E56", 5), ("E57", 9), ("E58", 7), ("E59", 3), ("E60", 3)]


@esper("mr-dataset", MR + "RowRecogDataSet.RowRecogExampleFinancialWPattern")
def test_financial_w_pattern() -> None:
    got = run("""@Name('s0') select * from Flow match_recognize (
                   measures A.theString as beginA, last(Z.theString) as lastZ
                   all matches after match skip to current row pattern (A W+ X+ Y+ Z+)
                   define W as W.intPrimitive < prev(W.intPrimitive), X as X.intPrimitive > prev(X.intPrimitive),
                          Y as Y.intPrimitive < prev(Y.intPrimitive), Z as Z.intPrimitive > prev(Z.intPrimitive))""",
              "beginA,lastZ", [(i, {"theString": r[0], "intPrimitive": r[1]}, None) for i, r in enumerate(FINANCIAL)])
    for row, have in zip(FINANCIAL, got, strict=True):
        want = sorted(tuple(x.split(",")) for x in (row[2] if len(row) > 2 else []))
        assert sorted(have or []) == want, f"at {row[0]}"


PREV_FIELDS = ("a_string,a_value,b_string,b_value,c0_string,c0_value,c1_string,c1_value,c2_string,c2_value,"
               "d_string,d_value,e0_string,e0_value,e1_string,e1_value,f0_string,f0_value,f1_string,f1_value")


def _row(a: str, b_: str, c0: str | None, d: str, e0: str | None, e1: str | None, f0: str, f1: str | None) -> tuple[Any, ...]:
    values = {"E3": 75, "E4": 61, "E5": 50, "E6": 49, "E7": 64, "E8": 78, "E9": 84}
    out: list[Any] = []
    for ident in (a, b_, c0, None, None, d, e0, e1, f0, f1):
        out += [ident, values.get(ident) if ident else None]
    return tuple(out)


@esper("mr-dataset", MR + "RowRecogDataSet.RowRecogExampleWithPREV")
def test_example_with_prev() -> None:
    data = [("E1", 100), ("E2", 98), ("E3", 75), ("E4", 61), ("E5", 50), ("E6", 49), ("E7", 64), ("E8", 78), ("E9", 84)]
    expected = {
        "E7": [_row("E4", "E5", None, "E6", None, None, "E7", None)],
        "E8": [_row("E3", "E4", "E5", "E6", "E7", None, "E8", None), _row("E4", "E5", None, "E6", "E7", None, "E8", None),
               _row("E4", "E5", None, "E6", None, None, "E7", "E8")],
        "E9": [_row("E3", "E4", "E5", "E6", "E7", None, "E8", "E9"), _row("E3", "E4", "E5", "E6", "E7", "E8", "E9", None),
               _row("E4", "E5", None, "E6", "E7", "E8", "E9", None), _row("E4", "E5", None, "E6", "E7", None, "E8", "E9"),
               _row("E4", "E5", None, "E6", None, None, "E7", "E8")],
    }
    measures = ", ".join(f"{f.split('_')[0].upper()[0]}{'[' + f[1] + ']' if f[1].isdigit() else ''}."
                         f"{'theString' if f.endswith('string') else 'value'} as {f}" for f in PREV_FIELDS.split(","))
    got = run(f"""@Name('s0') select * from Flow#keepall match_recognize (
                    measures {measures} all matches after match skip to current row
                    pattern ( A B C* D E* F+ )
                    define B as (B.value < PREV (B.value)), C as (C.value <= PREV (C.value)),
                           D as (D.value < PREV (D.value)), E as (E.value >= PREV (E.value)),
                           F as (F.value >= PREV (F.value) and F.value > A.value))""",
              PREV_FIELDS, [(i, {"theString": n, "value": v}, None) for i, (n, v) in enumerate(data)])
    for (name, _v), have in zip(data, got, strict=True):
        assert sorted(have or [], key=repr) == sorted(expected.get(name, []), key=repr), f"at {name}"


# -- RowRecogPermute ----------------------------------------------------------------------------------
PERMUTE = MR + "RowRecogPermute"


@esper("mr-permute", PERMUTE + ".runDocSampleUpToN; " + DOC + "Permutations (example table)")
def test_permute_manual_example() -> None:
    check("""@Name('s0') select * from Flow match_recognize (
               partition by device measures A.id as a_id, B.id as b_id
               pattern (match_recognize_permute(A, B)) define A as A.temp < 100, B as B.temp >= 100)""",
          "a_id,b_id",
          [temp(1000, "E1", 1, 99), temp(2000, "E2", 1, 100, [("E1", "E2")]), temp(3000, "E3", 1, 100),
           temp(4000, "E4", 1, 99, [("E4", "E3")]), temp(5000, "E5", 1, 98, [])])


@pytest.mark.parametrize("pattern", ["(A B C)|(A C B)|(B A C)|(B C A)|(C A B)|(C B A)",
                                     "(match_recognize_permute(A,B,C))"])
@esper("mr-permute", PERMUTE + ".runPermute")
def test_permute_every_order(pattern: str) -> None:
    import itertools

    h = Harness(f"""@Name('s0') select * from Flow match_recognize (
                      partition by intPrimitive measures A as a, B as b, C as c pattern ({pattern})
                      define A as A.theString like "A%", B as B.theString like "B%", C as C.theString like "C%")""")
    for count, order in enumerate(itertools.permutations("ABC")):
        rows = []
        for v in order:
            rows += h.send(count, theString=f"{v}{count}", intPrimitive=count)
        assert [{k: r.values[k]["theString"] for k in "abc"} for r in rows] == \
            [{"a": f"A{count}", "b": f"B{count}", "c": f"C{count}"}]


PERMUTE_EQUIVALENT = [
    ("mAtCh_Recognize_Permute(A)", "(A)"),
    ("match_recognize_permute(A,B)", "(A B|B A)"),
    ("match_recognize_permute(A,B,C)", "(A B C|A C B|B A C|B C A|C A B|C B A)"),
    ("match_recognize_permute(A,B,C,D)", "(A B C D|A B D C|A C B D|A C D B|A D B C|A D C B|B A C D|B A D C|"
     "B C A D|B C D A|B D A C|B D C A|C A B D|C A D B|C B A D|C B D A|C D A B|C D B A|D A B C|D A C B|"
     "D B A C|D B C A|D C A B|D C B A)"),
    ("match_recognize_permute((A B), C)", "((A B) C|C (A B))"),
    ("match_recognize_permute((A|B), (C D), E)",
     "((A|B) (C D) E|(A|B) E (C D)|(C D) (A|B) E|(C D) E (A|B)|E (A|B) (C D)|E (C D) (A|B))"),
    ("A match_recognize_permute(B,C) D", "A (B C|C B) D"),
    ("match_recognize_permute(A, match_recognize_permute(B, C))", "(A (B C|C B)|(B C|C B) A)"),
]


@pytest.mark.parametrize("before, after", PERMUTE_EQUIVALENT, ids=[b_ for b_, _a in PERMUTE_EQUIVALENT])
@esper("mr-permute", PERMUTE + " (runEquivalent: each permutation gives the rows of its expansion)")
def test_permute_expands_as_esper_writes_it(before: str, after: str) -> None:
    import random

    from flowcep_plugin.engine.parser import parse_module

    def tree(pattern: str) -> Any:
        return parse_module(f"select * from Flow match_recognize (measures A.x as a pattern ({pattern}))")[0] \
            .match_recognize.pattern  # type: ignore[union-attr]

    def shape(node: Any) -> Any:  # the tree without positions
        from flowcep_plugin.engine import ast as A

        if isinstance(node, A.RpVar):
            return node.name
        if isinstance(node, (A.RpSeq, A.RpAlt)):
            items = [shape(i) for i in node.items]
            if isinstance(node, A.RpSeq):  # (A B) C is A B C
                flat: list[Any] = []
                for it in items:
                    flat += it[1] if isinstance(it, tuple) and it[0] == "seq" else [it]
                return ("seq", flat)
            return ("alt", items)
        return node

    assert shape(tree(before)) == shape(tree(after))
    rng = random.Random(before)
    seq = [rng.choice("ABCDE") for _ in range(400)]

    def rows(pattern: str) -> list[Any]:
        variables = sorted({c for c in pattern.upper().replace("MATCH_RECOGNIZE_PERMUTE", "") if c.isalpha()})
        defines = ", ".join(f"{v} as {v}.kind = '{v}'" for v in variables)
        h = Harness(f"""@Name('s0') select * from Flow match_recognize (
                          measures {", ".join(f"{v} as {v.lower()}" for v in variables)} all matches
                          pattern ({pattern}) define {defines})""")
        for i, k in enumerate(seq):
            h.send(i, kind=k, n=i)
        return [(r.time_ms, sorted((k, v["n"]) for k, v in r.values.items() if v is not None)) for r in h.of("s0")]

    got = rows(before)
    assert got == rows(after) and got


# -- RowRecogArrayAccess --------------------------------------------------------------------------------
ARRAY = MR + "RowRecogArrayAccess"


def _send_all(h: Harness, events: list[tuple[str, int]]) -> list[Any]:
    rows: list[Any] = []
    for name, n in events:
        rows += h.send(0, theString=name, intPrimitive=n)
    return rows


@esper("mr-define", ARRAY + ".RowRecogSingleMultiMix")
def test_define_reads_indexed_group_variables() -> None:
    h = Harness("""@Name('s0') select * from Flow match_recognize (
                     measures A.theString as a, B[0].theString as b0, C.theString as c, D[0].theString as d0,
                       E.theString as e
                     pattern (A B+ C D+ E)
                     define A as A.theString like 'A%', B as B.theString like 'B%',
                       C as C.theString like 'C%' and C.intPrimitive = B[1].intPrimitive,
                       D as D.theString like 'D%',
                       E as E.theString like 'E%' and E.intPrimitive = D[1].intPrimitive
                         and E.intPrimitive = D[0].intPrimitive)""")
    one = ("A1", "B1", "C1", "D1", "E1")

    def values_(rows: list[Any]) -> list[tuple[Any, ...]]:
        return [tuple(r.values[k] for k in ("a", "b0", "c", "d0", "e")) for r in rows]

    assert values_(_send_all(h, [("A1", 100), ("B1", 50), ("B2", 49), ("C1", 49), ("D1", 2), ("D2", 2), ("E1", 2)])) == [one]
    assert _send_all(h, [("A1", 100), ("B1", 50), ("C1", 49), ("D1", 2), ("D2", 2), ("E1", 2)]) == []
    assert _send_all(h, [("A1", 100), ("B1", 50), ("B2", 49), ("C1", 49), ("D1", 2), ("D2", 3), ("E1", 2)]) == []
    assert values_(_send_all(h, [("A1", 100), ("B1", 50), ("B2", 49), ("C1", 49), ("D1", 2), ("D2", 2), ("D3", 99),
                                 ("E1", 2)])) == [one]


@pytest.mark.parametrize("pattern", ["A B A B C", "(A B)* C"])
@esper("mr-define", ARRAY + ".RowRecogMultiDepends")
def test_define_reads_variables_repeated_by_the_pattern(pattern: str) -> None:
    h = Harness(f"""@Name('s0') select * from Flow match_recognize (
                      measures A[0].theString as a0, A[1].theString as a1, B[0].theString as b0,
                        B[1].theString as b1, C.theString as c
                      pattern ({pattern})
                      define A as theString like 'A%', B as theString like 'B%',
                        C as theString like 'C%' and C.intPrimitive = A[0].intPrimitive
                          and C.intPrimitive = B[0].intPrimitive and C.intPrimitive = A[1].intPrimitive
                          and C.intPrimitive = B[1].intPrimitive)""")
    rows = _send_all(h, [("A1", 1), ("B1", 1), ("A2", 1), ("B2", 1), ("C1", 1)])
    assert [tuple(r.values[k] for k in ("a0", "a1", "b0", "b1", "c")) for r in rows] == [("A1", "A2", "B1", "B2", "C1")]
    assert _send_all(h, [("A10", 1), ("B10", 1), ("A11", 1), ("B11", 2), ("C2", 2)]) == []
    assert _send_all(h, [("A20", 2), ("B20", 2), ("A21", 1), ("B21", 2), ("C3", 2)]) == []


@pytest.mark.parametrize("measures", ["A as a_array, B as b", "B as b", "A as a_array", "1 as one"])
@esper("mr-measures", ARRAY + ".RowRecogMeasuresClausePresence")
def test_measures_clause_presence(measures: str) -> None:
    h = Harness(f"""@Name('s0') select * from Flow match_recognize (
                      partition by theString measures {measures} pattern (A+ B)
                      define B as B.intPrimitive = A[0].intPrimitive)""")
    assert _send_all(h, [("A", 1), ("A", 0)]) == []
    assert len(_send_all(h, [("B", 1), ("B", 1)])) == 1
    assert _send_all(h, [("A", 2), ("A", 3)]) == []
    assert len(_send_all(h, [("B", 2), ("B", 2)])) == 1


@esper("mr-define", MR + "RowRecogClausePresence.runAssertionDefineNotPresent")
def test_variables_without_define_match_any_event() -> None:
    h = Harness("""@Name('s0') select * from Flow match_recognize (measures A as a, B as b pattern (A B))""")
    got = []
    for i in range(4):
        got.append([(r.values["a"]["theString"], r.values["b"]["theString"])
                    for r in h.send(i, theString=f"E{i}", intPrimitive=i)])
    assert got == [[], [("E0", "E1")], [], [("E2", "E3")]]
