"""WHERE over whole integer columns (engine/vectorwhere.py, issue 19) gives the generated
record-by-record code's positions, in order, or declines.

Each condition is compiled once by ``compile_column_filter``; the test calls the numpy path and
the generated code it stands for on the same columns and compares the lists. The columns take
what reaches the engine: lists of ints with nulls, negative numbers (Java's remainder),
booleans, decoder arrays (``records.Columns``) of several dtypes, an absent column. Columns the
numpy path must not claim (text, doubles, lists, integers beyond 64 bits) must make it decline
(None), never answer differently. Then multistage's own WHERE clauses, and whole statements
through the runtime with batches large enough to take the numpy path.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from flowcep_plugin.engine import vectorwhere
from flowcep_plugin.engine.expressions import compile_column_filter
from flowcep_plugin.engine.harness import Harness
from flowcep_plugin.engine.parser import parse_module
from flowcep_plugin.records import VALUES, ArrayPart, Columns, array_values


@pytest.fixture(autouse=True)
def _convert_every_list(monkeypatch: pytest.MonkeyPatch) -> None:
    """The numpy path converts at most MAX_LIST_CONVERSIONS list columns and claims conditions of
    MIN_LEAVES comparisons or more (cost choices, tested below); the tests of its results let
    it convert every list and claim every condition."""
    monkeypatch.setattr(vectorwhere, "MAX_LIST_CONVERSIONS", 10)
    monkeypatch.setattr(vectorwhere, "MIN_LEAVES", 1)  # and claim single comparisons


def _filter(cond: str) -> Any:
    st = parse_module(f"select * from Flow where {cond}", "<test>")[0]
    return compile_column_filter(st.where, lambda p: ".".join(p.parts), "<test>")  # type: ignore[attr-defined]


CONDITIONS = [
    "f = 6",
    "6 = f",
    "f != 6",
    "f <> 6 and g > 2",
    "f < 3 or g >= 10",
    "not (f <= 2)",
    "f % 4 >= 2",
    "2 <= f % 4",
    "f % 32 < 16 and (f % 4 >= 2 or f % 8 < 4)",
    "f is null or f % 32 < 16",
    "f is not null and not (g is null)",
    "not (f % 8 >= 4 or g % 3 = 1)",
    "f % 7 = -1",
    "g > -5 and g < 5",
    "f = 6 and true",
    "f = 6 or false",
    "f = 6 or null",
    "not (f = 6 and null)",
    "f > 9223372036854775806",
    "absent is null and f >= 0",
    "absent = 1 or not (absent > 2)",
]

INTS = [0, 1, 2, 3, 4, 6, 7, 8, 16, 18, 19, 24, 31, 255, 65535, -1, -2, -6, -7, -18, 2 ** 40, -(2 ** 40)]


def _column(rnd: random.Random, n: int, nulls: bool, bools: bool) -> list[Any]:
    pool: list[Any] = list(INTS)
    if nulls:
        pool += [None] * 4
    if bools:
        pool += [True, False]
    return [rnd.choice(pool) for _ in range(n)]


@pytest.mark.parametrize("cond", CONDITIONS)
@pytest.mark.parametrize("seed", range(3))
def test_numpy_masks_give_the_generated_codes_positions(cond: str, seed: int) -> None:
    f = _filter(cond)
    assert getattr(f, "vector", None) is not None, "this condition should take the numpy path"
    rnd = random.Random(seed)
    n = 600
    for nulls in (False, True):
        for bools in (False, True):
            cols = {"f": _column(rnd, n, nulls, bools), "g": _column(rnd, n, nulls, False)}
            want = f.generated(cols, n)
            got = f.vector(cols, n)
            assert got == want, (cond, nulls, bools)
            assert f(cols, n) == want


@pytest.mark.parametrize("cond", CONDITIONS)
@pytest.mark.parametrize("dtype", ["uint8", "uint16", "uint32", "uint64", "int64", "int32"])
def test_decoder_arrays_are_read_without_making_lists(cond: str, dtype: str) -> None:
    f = _filter(cond)
    rnd = np.random.default_rng(7)
    n = 700
    info = np.iinfo(dtype)
    hi = min(int(info.max), 2 ** 20)
    lo = max(int(info.min), -(2 ** 20))
    farr = rnd.integers(lo, hi, n, dtype=dtype, endpoint=True)
    garr = rnd.integers(lo, hi, n, dtype=dtype, endpoint=True)
    cols = Columns(None, n)
    cols.set_arrays("f", [ArrayPart(farr, array_values, VALUES)])
    cols.set_arrays("g", [ArrayPart(garr, array_values, VALUES)])
    got = f.vector(cols, n)
    assert cols.is_view("f") and cols.is_view("g"), "the numpy path made a list"
    plain = {"f": farr.tolist(), "g": garr.tolist()}
    assert got == f.generated(plain, n)


def test_uint64_beyond_int64_declines() -> None:
    f = _filter("f % 4 >= 2")
    n = 300
    arr = np.full(n, 2 ** 64 - 1, dtype=np.uint64)
    cols = Columns(None, n)
    cols.set_arrays("f", [ArrayPart(arr, array_values, VALUES)])
    assert f.vector(cols, n) is None
    assert f(cols, n) == f.generated({"f": arr.tolist()}, n)


@pytest.mark.parametrize("intruder", ["6", 6.0, 2.5, float("nan"), [6], 2 ** 64, -(2 ** 63) - 1, b"x"])
def test_values_other_than_integers_make_it_decline(intruder: Any) -> None:
    f = _filter("f % 4 >= 2 or f = 6")
    n = 400
    values: list[Any] = [i % 9 for i in range(n)]
    values[n // 2] = intruder
    cols = {"f": values}
    assert f.vector(cols, n) is None
    assert f(cols, n) == f.generated(cols, n)


@pytest.mark.parametrize("cond", [
    "f + 1 > 2", "f = 6.0", "f = 'a'", "f like '1%'", "f in (1, 2)", "f between 1 and 3",
    "f % 0 = 0", "f % -4 = 1", "f % 4.0 = 1", "f = g", "f % g = 1", "coalesce(f, g) = 1",
    "f = true",
])
def test_other_forms_are_not_claimed(cond: str) -> None:
    assert getattr(_filter(cond), "vector", None) is None


def test_small_batches_take_the_generated_code() -> None:
    f = _filter("f = 6")
    calls: list[int] = []
    original = f.vector

    def spy(cols: Any, n: int) -> Any:
        calls.append(n)
        return original(cols, n)

    assert f.__closure__ is not None
    cell = next(c for c in f.__closure__ if c.cell_contents is original)
    cell.cell_contents = spy
    try:
        f({"f": [6] * 10}, 10)
        assert calls == []
        f({"f": [6] * vectorwhere.MIN_RECORDS}, vectorwhere.MIN_RECORDS)
        assert calls == [vectorwhere.MIN_RECORDS]
    finally:
        cell.cell_contents = original


def _multistage_wheres() -> list[Any]:
    root = Path(__file__).resolve().parents[2] / "plugins" / "flowcep-multistage" / "flowcep_multistage"
    from flowcep_plugin.engine.parser import substitute_params

    text = substitute_params((root / "multistage.epl").read_text(encoding="utf-8"),
                             {"scan_window_seconds": 60, "scan_max_packets": 10, "scan_min_flows": 16,
                              "scan_min_hosts": 25, "http_unique_window_seconds": 60, "http_max_repeats": 3,
                              "http_scan_window_seconds": 120, "http_min_servers": 16,
                              "bruteforce_window_seconds": 60, "bruteforce_min_requests": 16,
                              "correlation_window_seconds": 300}, "<multistage>")
    return [st for st in parse_module(text, "<multistage>") if getattr(st, "where", None) is not None]


def test_multistage_scan_wheres_take_the_numpy_path_with_the_same_positions() -> None:
    claimed = 0
    rnd = random.Random(11)
    n = 2000
    for st in _multistage_wheres():
        f = compile_column_filter(st.where, lambda p: ".".join(p.parts[1:]), "<multistage>")
        if getattr(f, "vector", None) is None:
            continue
        claimed += 1
        flags = [rnd.choice([None, 0, 2, 4, 6, 16, 18, 20, 22, 24, 25, 27, 30, 31, 255]) for _ in range(n)]
        for rflags in (None, flags[::-1]):
            cols: dict[str, Any] = {
                "protocolIdentifier": [rnd.choice([6, 6, 6, 17, 1, None]) for _ in range(n)],
                "packetDeltaCount": [rnd.choice([0, 1, 2, 3, 4, 9, 10, 11, 500, None]) for _ in range(n)],
                "tcpControlBits": flags,
            }
            if rflags is not None:
                cols["reverseTcpControlBits"] = rflags
            want = f.generated(cols, n)
            assert f.vector(cols, n) == want
            assert 0 < len(want) < n
    assert claimed == 2  # ScanPorts and ScanUnreached; the HTTP ones compare text


@pytest.mark.parametrize("seed", range(2))
def test_statements_give_the_same_rows_with_and_without_the_numpy_path(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Whole statements (a grouped time batch with count(distinct), a counting time batch, a
    plain filter) over batches of 1,000 events, against the same with the numpy path off."""
    epl = ("@Name('A') select s, count(*) as c, count(distinct d) as h from Flow.win:time_batch(10 sec, 0) "
           "where p = 6 and (f is null or f % 32 < 16 and (f % 4 >= 2 or f % 8 < 4)) group by s;\n"
           "@Name('B') select s, count(*) as c from Flow.win:time_batch(10 sec, 0) "
           "where f % 4 >= 2 and n > 0 group by s;\n"
           "@Name('C') select s, d, f from Flow where not (f % 8 >= 4) and n < 5")
    rnd = random.Random(seed)
    batches = []
    t = 0
    for b in range(6):
        rows = []
        flags: list[Any] = [None, 2, 4, 18, 20, 24, 16, 31, -2] + (["x"] if b == 3 else [])  # b 3: declined
        for _ in range(1000):
            t += rnd.choice([0, 1, 5, 40])
            rows.append({"s": rnd.choice(["a", "b", "c", None]), "d": rnd.choice(["x", "y", "z", None]),
                         "p": rnd.choice([6, 17, None]), "f": rnd.choice(flags),
                         "n": rnd.choice([0, 1, 3, 9, None]), "t": t})
        batches.append(rows)

    def run() -> list[tuple[str, dict[str, Any]]]:
        h = Harness(epl)
        for rows in batches:
            h.batch((r["t"], {k: v for k, v in r.items() if k != "t"}) for r in rows)
        h.flush()
        return [(r.statement, r.values) for r in h.rows]

    with_numpy = run()
    monkeypatch.setattr(vectorwhere, "MIN_RECORDS", 10 ** 9)
    import flowcep_plugin.engine.expressions as ex
    import flowcep_plugin.engine.runtime as rt

    monkeypatch.setattr(ex, "VECTOR_MIN_RECORDS", 10 ** 9)
    monkeypatch.setattr(rt, "VECTOR_MIN_RECORDS", 10 ** 9)  # no whole-batch positions (Events.sel)
    without = run()
    assert with_numpy == without
    assert len(with_numpy) > 100


@pytest.mark.parametrize("intruder", ["6", 6.0, float("nan"), 2 ** 53 + 1, -(2 ** 53) - 1, 2 ** 70, [6]])
def test_beside_nulls_values_other_than_exact_integers_make_it_decline(intruder: Any) -> None:
    f = _filter("f % 4 >= 2 or f = 6")
    n = 400
    values: list[Any] = [None if i % 3 == 0 else i % 9 for i in range(n)]
    values[n // 2] = intruder
    assert f.vector({"f": values}, n) is None
    assert f({"f": values}, n) == f.generated({"f": values}, n)


def test_beside_nulls_integers_up_to_2_pow_53_are_exact() -> None:
    f = _filter("f % 4 >= 2 or f = 9007199254740991 or f < -9007199254740990")
    n = 400
    values: list[Any] = [None if i % 3 == 0 else i % 9 for i in range(n)]
    values[10], values[11], values[13] = 2 ** 53 - 1, -(2 ** 53) + 1, True
    got = f.vector({"f": values}, n)
    assert got is not None and 10 in got and 11 in got
    assert got == f.generated({"f": values}, n)


@pytest.mark.parametrize("cond", CONDITIONS)
def test_decoder_parts_with_templates_lacking_the_element(cond: str) -> None:
    """A column held as several parts (one per template; a count where a template lacks the
    element: nulls) is read as one array and a null mask, without making its list."""
    f = _filter(cond)

    def parts(seed: int) -> list[ArrayPart]:
        r = np.random.default_rng(seed)
        return [ArrayPart(300, array_values, VALUES),
                ArrayPart(r.integers(0, 255, 400, dtype=np.uint8), array_values, VALUES),
                ArrayPart(50, array_values, VALUES),
                ArrayPart(r.integers(-70, 70, 250, dtype=np.int64), array_values, VALUES)]

    n = 1000
    for fp, gp in ((parts(1), parts(2)), (parts(3)[:1] + [ArrayPart(700, array_values, VALUES)], parts(4))):
        cols = Columns(None, n)
        cols.set_arrays("f", fp)
        cols.set_arrays("g", gp)
        got = f.vector(cols, n)
        assert got is not None
        assert cols.is_view("f") and cols.is_view("g"), "the numpy path made a list"
        assert got == f.generated({"f": cols["f"], "g": cols["g"]}, n)


def test_a_segment_of_a_batch_carries_its_part_of_the_positions() -> None:
    """The runtime evaluates a batch window's WHERE once per batch and cuts the batch into
    segments between timers: every segment's positions are those WHERE gives on it."""
    from flowcep_plugin.engine.windows import Events

    f = _filter("f % 4 >= 2 and g > 0")
    rnd = random.Random(9)
    n = 1000
    cols = {"f": _column(rnd, n, True, False), "g": _column(rnd, n, True, False)}
    ev = Events(cols, n, list(range(n)))
    ev.sel = (f, f.vector_positions(cols, n))
    cuts = [(0, n), (0, 1), (n - 1, n), (500, 500)] + [tuple(sorted(rnd.sample(range(n + 1), 2))) for _ in range(200)]
    for a, b in cuts:
        part = ev.slice(a, b)
        assert part.sel is not None and part.sel[0] is f
        assert part.sel[1].tolist() == f.generated(part.cols, part.n), (a, b)
        for i in part.sel[1].tolist():  # a passing record at the segment's first position counts
            assert 0 <= i < part.n
    firsts = [a for a in range(n) if a in set(ev.sel[1].tolist())][:5]
    for a in firsts:
        assert ev.slice(a, n).sel[1][0] == 0  # type: ignore[index]


def test_more_list_columns_than_the_limit_take_the_generated_code(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(vectorwhere, "MAX_LIST_CONVERSIONS", 1)
    f = _filter("f % 4 >= 2 and g > 2")
    n = 400
    fl = [i % 7 for i in range(n)]
    gl = [None if i % 5 == 0 else i % 11 for i in range(n)]
    assert f.vector({"f": fl, "g": gl}, n) is None  # two lists to convert
    assert f({"f": fl, "g": gl}, n) == f.generated({"f": fl, "g": gl}, n)
    cols = Columns(None, n)
    cols.set_arrays("f", [ArrayPart(np.array(fl, dtype=np.uint8), array_values, VALUES)])
    cols["g"] = gl
    got = f.vector(cols, n)  # one decoder array, one list
    assert got is not None and got == f.generated({"f": fl, "g": gl}, n)
    assert f.vector({"f": fl, "g": [None] * n}, n) == []  # a column of nulls needs no conversion


def test_a_condition_of_fewer_comparisons_than_the_limit_is_not_claimed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(vectorwhere, "MIN_LEAVES", 3)
    assert getattr(_filter("f < 10"), "vector", None) is None
    assert getattr(_filter("f < 10 and g is not null"), "vector", None) is None
    assert getattr(_filter("f < 10 and g is not null and f % 4 >= 2"), "vector", None) is not None
