"""match_recognize beyond the conformance cases: what is refused (with a position), the bounds
and their counters, and how the statement fits the rest of the engine (INSERT INTO, select
expressions, batches, the detector's stats)."""

from __future__ import annotations

import random
from typing import Any

import pytest

from flowcep_plugin.engine import compile_module, match_recognize
from flowcep_plugin.engine.harness import Harness, values
from flowcep_plugin.errors import EPLError

AB = """@Name('s0') select * from Flow match_recognize (
          partition by src measures A.n as a, B.n as b pattern (A B)
          define A as A.k = 'a', B as B.k = 'b')"""


@pytest.mark.parametrize("text, needle", [
    # Esper's RowRecogInvalid, one by one
    ("select * from Flow match_recognize (measures A as a pattern (A+ B) define A as A.x = B.x)",
     "the condition of A can use A and the variables before it"),
    ("select * from Flow match_recognize (measures A.x as a after match skip to other row "
     "pattern (A B*))", "PAST LAST ROW, TO NEXT ROW or TO CURRENT ROW"),
    ("select * from Flow match_recognize (measures A.x as a, D.x as x pattern (A B*))",
     "must be prefixed with a pattern variable"),
    ("select * from Flow match_recognize (measures A.x, A.x as xxx pattern (A B*))", "needs a column name"),
    ("select * from Flow match_recognize (measures B.x as b1 pattern (A B*))", "write B[0].x"),
    ("select * from Flow match_recognize (measures A.x as a pattern (A B*) define A as A.x > 1, "
     "A as A.x > 2)", "defined twice"),
    ("select * from Flow match_recognize (measures A.x as a pattern (A B*) define X as X.x > 1)",
     "does not occur in the pattern"),
    ("select * from Flow match_recognize (measures A.x as a pattern (A B*) define A as B.x > 1)",
     "not B"),
    ("select * from Flow match_recognize (measures sum(A.v + B.v) as t pattern (A* B*))",
     "exactly one variable"),
    ("select * from Flow match_recognize (measures sum(A.v) as t pattern (A B*))", "exactly one variable"),
    ("select * from Flow match_recognize (measures A.x as a pattern (A B) define A as sum(A.v) > 3)",
     "not allowed in define"),
    # what FlowCEP does not take
    ("select * from Flow#time_batch(1 min) match_recognize (measures A.x as a pattern (A B))", "#time_batch"),
    ("select * from Flow#time(1 min)#length(3) match_recognize (measures A.x as a pattern (A B))", "chained"),
    ("select * from Flow match_recognize (measures A.x as a pattern (A B)) where a > 1", "WHERE"),
    ("select a, count(*) from Flow match_recognize (measures A.x as a pattern (A B))", "aggregate"),
    ("select * from Flow match_recognize (measures A.x as a pattern (A B)) output every 1 sec", "output rate"),
    ("select zz from Flow match_recognize (measures A.x as a pattern (A B))", "unknown column 'zz'"),
    ("select * from Flow match_recognize (measures A.x as a pattern (A B) define B as B.x > prev(A.x))",
     "reads B's own properties"),
    ("select * from Flow match_recognize (measures A.x as a pattern (A{3,2}))", "0 <= n <= m"),
    ("select * from Flow match_recognize (measures A.x as a pattern (A{0}))", "at least 1"),
    ("select * from Flow match_recognize (measures A[0].x as a pattern (A{5000}))", "too large"),
    ("select * from Flow match_recognize (measures A[0].x as a pattern (A B))", "no index"),
    ("select * from Flow match_recognize (measures A.x as a, A.y as a pattern (A B))", "two measures"),
    ("select * from Flow as a, Flow as b match_recognize (measures A.x as a pattern (A))", "not a join"),
    ("select * from pattern [a=Flow] match_recognize (measures A.x as a pattern (A))", "not a join or a pattern"),
    ("select * from Flow match_recognize (measures A.x as a pattern (A B) define A as last(A.x) > 1)",
     "not allowed in define"),
    ("select * from Flow match_recognize (measures count(*) as n pattern (A B*))", "count(B.x)"),
    ("select * from Flow match_recognize (measures prev(A.x) as p pattern (A B))", "in define conditions"),
    ("@Hint('iterate_only') select * from Flow match_recognize (measures A.x as a pattern (A B))",
     "no iterator"),
    ("select * from Flow match_recognize (measures B.size() as n pattern (A B*))", "enumeration methods"),
])
def test_refused_with_a_position(text: str, needle: str) -> None:
    with pytest.raises(EPLError) as info:
        compile_module(text, "m.epl")
    assert needle in str(info.value), str(info.value)
    assert info.value.line and info.value.column, str(info.value)


def test_select_expressions_over_measures_and_insert_into() -> None:
    h = Harness("""insert into Pairs select a, b, b - a as gap from Flow match_recognize (
                     partition by src measures A.n as a, B.n as b pattern (A B)
                     define A as A.k = 'a', B as B.k = 'b');
                   @Name('wide') select a, gap from Pairs where gap > 5""")
    for t, (src, k, n) in enumerate([("x", "a", 1), ("y", "a", 2), ("x", "b", 10), ("y", "b", 4)]):
        h.send(t, src=src, k=k, n=n)
    assert values(h.of("wide"), "a", "gap") == [(1, 9)]
    assert values([r for r in h.rows if r.statement == "stmt-1"], "a", "b", "gap") == [(1, 10, 9), (2, 4, 2)]


def test_partition_measures_and_distinct_aggregates() -> None:
    h = Harness("""@Name('s0') select * from Flow match_recognize (
                     partition by src measures src as host, count(F.port) as tries,
                       count(distinct F.port) as ports, avg(F.n) as mean, min(F.n) as lo, max(F.n) as hi,
                       sum(F.n) as total, first(F.port) as p0, last(F.port) as p1
                     pattern (F{3,} S) define F as F.n < 10, S as S.n > 100)""")
    for t, (port, n) in enumerate([(22, 1), (22, 3), (2222, 5), (22, 500)]):
        h.send(t, src="h", port=port, n=n)
    (row,) = h.of("s0")
    assert row.values == {"host": "h", "tries": 3, "ports": 2, "mean": 3.0, "lo": 1, "hi": 5, "total": 9,
                          "p0": 22, "p1": 2222}


def test_one_batch_gives_the_rows_of_one_event_at_a_time() -> None:
    rng = random.Random(7)
    recs = [(t, {"src": rng.choice("xyz"), "k": rng.choice("ab"), "n": t}) for t in range(400)]
    one = Harness(AB)
    for t, r in recs:
        one.send(t, **r)
    batch = Harness(AB)
    batch.batch(recs)
    assert values(one.of("s0"), "a", "b") == values(batch.of("s0"), "a", "b")
    assert len(one.of("s0")) > 20


def test_finished_partitions_are_forgotten() -> None:
    h = Harness(AB)
    for i in range(1000):
        h.send(2 * i, src=f"h{i}", k="a", n=i)
        h.send(2 * i + 1, src=f"h{i}", k="b", n=i)
    assert len(h.of("s0")) == 1000
    st = h.rt.stmts[0]
    assert not st.parts and st.nstates == 0


def test_partitions_are_bounded_and_evictions_counted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(match_recognize, "MAX_PARTITIONS", 10)
    h = Harness(AB)
    for i in range(25):
        h.send(i, src=f"h{i}", k="a", n=i)  # 25 partitions waiting on their B
    st = h.rt.stmts[0]
    assert len(st.parts) == 10 and st.stats["match-recognize-partition-evicted"] == 15
    assert st.nstates == 10 == sum(1 for _ in st.states())
    h.send(30, src="h0", k="b", n=0)   # evicted: its A is gone
    h.send(31, src="h24", k="b", n=24)
    assert values(h.of("s0"), "a", "b") == [(24, 24)]


def test_long_matches_are_bounded_and_counted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(match_recognize, "MAX_MATCH_EVENTS", 5)
    h = Harness("""@Name('s0') select * from Flow match_recognize (
                     measures count(B.n) as nb pattern (A B+ C)
                     define A as A.k = 'a', B as B.k = 'b', C as C.k = 'c')""")
    for t, k in enumerate("abbbbbbbc"):
        h.send(t, k=k, n=t)
    assert h.of("s0") == []
    assert h.rt.stmts[0].stats["match-recognize-match-too-long"] == 1
    for t, k in enumerate("abbbc", start=100):
        h.send(t, k=k, n=t)
    assert values(h.of("s0"), "nb") == [(3,)]


def test_states_stay_bounded_on_an_overlapping_alternation(monkeypatch: pytest.MonkeyPatch) -> None:
    """(A | B)+ C with A and B both true doubles the states at every event when every match
    counts (all matches: each way to label the run is a match); the bound holds them. Without
    all matches the states of one step merge and one state per step is left."""
    monkeypatch.setattr(match_recognize, "MAX_STATES", 50)
    text = """@Name('s0') select * from Flow match_recognize (
                measures count(A.n) as na {all} pattern ((A | B)+ C)
                define A as A.n >= 0, B as B.n >= 0, C as C.n < 0)"""
    h = Harness(text.format(all="all matches"))
    for t in range(200):
        h.send(t, n=t)
        assert h.rt.stmts[0].nstates <= 50
    assert h.rt.stmts[0].stats["match-recognize-state-limit"] > 0
    h.send(300, n=-1)
    assert h.of("s0")
    merged = Harness(text.format(all=""))
    for t in range(200):
        merged.send(t, n=t)
    assert merged.rt.stmts[0].nstates == 3  # waiting on A, B or C, whatever the start
    merged.send(300, n=-1)
    assert values(merged.of("s0"), "na") == [(200,)]  # greedy A first: every event an A


def test_interval_fires_at_the_end_of_input() -> None:
    h = Harness("""@Name('s0') select * from Flow match_recognize (
                     measures A.n as a, count(B.n) as nb pattern (A B*) interval 1 min
                     define A as A.k = 'a', B as B.k = 'b')""")
    for t, k in enumerate("abb"):
        h.send(t * 1000, k=k, n=t)
    assert h.of("s0") == []
    h.flush()
    assert [(r.time_ms, r.values["a"], r.values["nb"]) for r in h.of("s0")] == [(60_000, 0, 2)]


def test_detector_stats_receive_the_bound_counters(monkeypatch: pytest.MonkeyPatch) -> None:
    """An EPL detector adds what the bounds dropped to the run's drops, against its name."""
    from flowcep_plugin.context import Context
    from flowcep_plugin.engine.detector import EPLDetector
    from flowcep_plugin.engine.harness import flows
    from flowcep_plugin.specs import DetectorSpec

    monkeypatch.setattr(match_recognize, "MAX_PARTITIONS", 2)
    ctx = Context()
    det = EPLDetector(DetectorSpec(name="mr", summary="test", epl=AB), {}, ctx)
    det.on_batch(flows(*[(i, {"src": f"h{i}", "k": "a", "n": i}) for i in range(5)]))
    det.on_batch(flows((10, {"src": "h9", "k": "b", "n": 9})))  # a sixth partition: one more out
    assert ctx.stats.drops_by_source["mr"]["match-recognize-partition-evicted"] == 4


def test_security_example_finds_the_successful_brute_force() -> None:
    import re
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[2] / "docs" / "epl.md").read_text(encoding="utf-8")
    text = next(t for t in re.findall(r"^```epl\n(.*?)^```", doc, re.S | re.M) if "BruteForceRun" in t)
    h = Harness(text)
    flows: list[tuple[int, dict[str, Any]]] = []
    t = 0
    for attempt in range(6):  # 10.0.0.1: six short failed logins, then a long session
        t += 1000
        flows.append((t, {"sourceIPv4Address": "10.0.0.1", "destinationTransportPort": 22,
                          "octetDeltaCount": 3000 + attempt, "flowDurationMilliseconds": 900}))
        t += 10
        flows.append((t, {"sourceIPv4Address": "10.0.0.9", "destinationTransportPort": 22,
                          "octetDeltaCount": 2500, "flowDurationMilliseconds": 800}))
    flows.append((t + 1000, {"sourceIPv4Address": "10.0.0.1", "destinationTransportPort": 22,
                             "octetDeltaCount": 90_000, "flowDurationMilliseconds": 120_000}))
    # 10.0.0.2: two failures then a session: too few attempts
    for i, n in enumerate((3000, 3000, 90_000)):
        flows.append((t + 2000 + i, {"sourceIPv4Address": "10.0.0.2", "destinationTransportPort": 22,
                                     "octetDeltaCount": n,
                                     "flowDurationMilliseconds": 900 if n < 4000 else 120_000}))
    h.batch(sorted(flows, key=lambda f: f[0]))
    (row,) = h.of("BruteForceRun")
    assert row.values["attacker"] == "10.0.0.1"
    assert row.values["attempts"] == 6 and row.values["session_bytes"] == 90_000


def test_a_match_waiting_for_its_run_to_end_is_output_at_the_end_of_input() -> None:
    """interval without or terminated: a match completed after its timer fired waits for its
    run to end; at the end of input it is output at the time of its last event."""
    h = Harness("""@Name('s0') select * from Flow match_recognize (
                     measures A.n as a, count(B.n) as nb pattern (A B*) interval 10 sec
                     define A as A.k = 'a', B as B.k = 'b')""")
    h.send(0, k="a", n=0)
    h.send(5_000, k="b", n=1)
    h.watermark(10_000)  # the timer: A with one B
    h.send(12_000, k="b", n=2)  # the run goes on past the timer
    h.send(13_000, k="b", n=3)
    assert [(r.time_ms, r.values["nb"]) for r in h.of("s0")] == [(10_000, 1)]
    h.flush()
    assert [(r.time_ms, r.values["nb"]) for r in h.of("s0")] == [(10_000, 1), (13_000, 3)]


def test_length_window_removes_partial_matches() -> None:
    """The manual (Datawindow-Bound): an event leaving the window leaves the partial matches;
    #length(3) holds the last three events of the stream."""
    h = Harness("""@Name('s0') select * from Flow#length(3) match_recognize (
               measures A.theString as a, C.theString as c pattern (A B* C)
               define A as A.value = 1, B as B.value = 2, C as C.value = 3)""",
)
    out = []
    for i, (name, v) in enumerate([("A1", 1), ("B1", 2), ("C1", 3), ("A2", 1), ("B2", 2), ("B3", 2), ("C2", 3)]):
        out.append(values(h.send(i, theString=name, value=v), "a", "c"))
    assert out == [[], [], [("A1", "C1")], [], [], [], []]  # A2 left the window as C2 arrived


def _random_pattern(rng: random.Random, depth: int = 0) -> str:
    quantifiers = ["", "", "*", "+", "?", "*?", "+?", "??", "{2}", "{1,2}", "{,2}", "{2,}"]

    def atom() -> str:
        if depth < 2 and rng.random() < 0.25:
            return "(" + _random_pattern(rng, depth + 1) + ")"
        return rng.choice("ABC")

    seqs = [" ".join(atom() + rng.choice(quantifiers) for _ in range(rng.randint(1, 3)))
            for _ in range(rng.randint(1, 2))]
    return " | ".join(seqs)


@pytest.mark.parametrize("seed", range(60))
def test_all_matches_are_every_labelling_the_regular_expression_accepts(seed: int) -> None:
    """With all matches and skip to current row, the rows of each event are every way to label
    a run of events ending there with variables whose condition each event meets, such that
    the labels spell a word of the pattern: checked against Python's ``re`` on the words."""
    import itertools
    import re

    rng = random.Random(seed)
    pattern = _random_pattern(rng)
    events = [{v: rng.random() < 0.6 for v in "abc"} for _ in range(7)]
    used = [v for v in "abc" if v.upper() in pattern]
    measures = ", ".join(f"{v.upper()} as {v}" for v in used)
    defines = ", ".join(f"{v.upper()} as {v.upper()}.{v} = true" for v in used)
    h = Harness(f"""@Name('s0') select * from Flow match_recognize (
                      measures {measures} all matches after match skip to current row
                      pattern ({pattern}) define {defines})""")
    word = re.compile(pattern.replace(" ", ""))
    for i, ev in enumerate(events):
        rows = h.send(i, n=i, **ev)
        got = set()
        for r in rows:
            labels: dict[int, str] = {}
            for var in used:
                val = r.values[var]
                for e in val if isinstance(val, list) else [val] if val is not None else []:
                    labels[e["n"]] = var.upper()
            got.add((min(labels), "".join(labels[k] for k in sorted(labels))))
        want = set()
        for j in range(i + 1):
            choices = [[v.upper() for v in "abc" if events[k][v]] for k in range(j, i + 1)]
            for labels_ in itertools.product(*choices):
                if word.fullmatch("".join(labels_)):
                    want.add((j, "".join(labels_)))
        assert got == want, f"pattern ({pattern}) at event {i}"


def _backtrack(node: Any, elig: list[set[str]], k: int) -> Any:
    """Every (end, labels) of ``node`` from event k, in the order a backtracking regex engine
    tries them (greedy: one more repetition first; reluctant: one fewer)."""
    from flowcep_plugin.engine import ast as A

    if isinstance(node, A.RpVar):
        if k < len(elig) and node.name in elig[k]:
            yield k + 1, (node.name,)
    elif isinstance(node, A.RpSeq):
        def seq(i: int, at: int) -> Any:
            if i == len(node.items):
                yield at, ()
                return
            for mid, first in _backtrack(node.items[i], elig, at):
                for end, rest in seq(i + 1, mid):
                    yield end, first + rest
        yield from seq(0, k)
    elif isinstance(node, A.RpAlt):
        for it in node.items:
            yield from _backtrack(it, elig, k)
    else:
        assert isinstance(node, A.RpQuant)

        def rep(count: int, at: int) -> Any:
            more = node.high is None or count < node.high
            if node.greedy and more:
                for mid, first in _backtrack(node.item, elig, at):
                    if mid > at:  # an empty repetition adds nothing
                        for end, rest in rep(count + 1, mid):
                            yield end, first + rest
            if count >= node.low:
                yield at, ()
            if not node.greedy and more:
                for mid, first in _backtrack(node.item, elig, at):
                    if mid > at:
                        for end, rest in rep(count + 1, mid):
                            yield end, first + rest
        yield from rep(0, k)


@pytest.mark.parametrize("skip", ["past last row", "to next row"])
@pytest.mark.parametrize("seed", range(40))
def test_the_output_match_is_the_one_a_backtracking_engine_prefers(seed: int, skip: str) -> None:
    """Without all matches: at each event the match output starts first, then is the
    labelling a backtracking engine finds first; matching resumes after its last event (past
    last row), or after its first event (to next row, where a later start ending at the same
    event is output too)."""
    from flowcep_plugin.engine.match_recognize import _expand
    from flowcep_plugin.engine.parser import parse_module

    rng = random.Random(1000 + seed)
    pattern = _random_pattern(rng)
    used = [v for v in "abc" if v.upper() in pattern]
    text = f"""@Name('s0') select * from Flow match_recognize (
                 measures {", ".join(f"{v.upper()} as {v}" for v in used)}
                 after match skip {skip} pattern ({pattern})
                 define {", ".join(f"{v.upper()} as {v.upper()}.{v} = true" for v in used)})"""
    mr = parse_module(text)[0].match_recognize  # type: ignore[union-attr]
    assert mr is not None
    root = _expand(mr.pattern)
    events = [{v: rng.random() < 0.6 for v in "abc"} for _ in range(9)]
    elig = [{v.upper() for v in "abc" if ev[v]} for ev in events]
    h = Harness(text)
    resume = 0
    for i, ev in enumerate(events):
        got = []
        for r in h.send(i, n=i, **ev):
            labels: dict[int, str] = {}
            for var in used:
                val = r.values[var]
                for e in val if isinstance(val, list) else [val] if val is not None else []:
                    labels[e["n"]] = var.upper()
            got.append((min(labels), tuple(labels[k] for k in sorted(labels))))
        want = []
        for j in range(resume, i + 1):
            if j < resume:
                continue
            first = next((lab for end, lab in _backtrack(root, elig[:i + 1], j) if end == i + 1 and lab), None)
            if first is not None:
                want.append((j, first))
                resume = i + 1 if skip == "past last row" else j + 1
        assert got == want, f"pattern ({pattern}) at event {i}"


def test_held_matches_are_bounded_and_counted(monkeypatch: pytest.MonkeyPatch) -> None:
    """interval with all matches holds every completed match until the timer: bounded per
    partition, the oldest dropped and counted."""
    monkeypatch.setattr(match_recognize, "_MAX_PENDING", 5)
    h = Harness("""@Name('s0') select * from Flow match_recognize (
                     measures A.n as a, count(B.n) as nb all matches pattern (A B*) interval 1 min
                     define A as A.k = 'a', B as B.k = 'b')""")
    for t, k in enumerate("abbbbbbb"):
        h.send(t, k=k, n=t)
    st = h.rt.stmts[0]
    assert st.stats["match-recognize-pending-evicted"] == 3  # 8 matches (A, A B, ... A B x7) for 5 places
    h.flush()
    assert sorted(r.values["nb"] for r in h.of("s0")) == [3, 4, 5, 6, 7]


def test_hostile_values_never_stop_the_statement() -> None:
    """Unhashable partition values (lists, dicts), nulls and mixed types in conditions and
    aggregates: the statement keeps matching; what cannot be computed is null."""
    h = Harness("""@Name('s0') select * from Flow match_recognize (
                     partition by src measures src as s, sum(B.n) as total, count(distinct B.n) as d,
                       B[0].n as b0, last(B.n) as lastn
                     pattern (A B+ C)
                     define A as A.k = 'a', B as B.k = 'b' and (prev(B.n) is null or B.n != prev(B.n)),
                       C as C.k = 'c')""")
    vals: list[Any] = [None, 1, "x", 2.5, [1], {"a": 1}, True, -3]
    srcs: list[Any] = [None, "h", ["l"], 3, {"d": 1}, ["l"]]
    for i in range(600):
        h.send(i, src=srcs[(i // 5) % 6], k="abbbc"[i % 5], n=vals[i % len(vals)])
    rows = h.of("s0")

    def b_holds(n: Any, before: Any) -> bool:  # B.n != prev(B.n) in three-valued logic
        return n is not None and (before is None or bool(n != before))

    runs = [[vals[j % len(vals)] for j in range(i, i + 5)] for i in range(0, 600, 5)]
    assert len(rows) == sum(all(b_holds(r[k], r[k - 1]) for k in (1, 2, 3)) for r in runs) > 50
    assert {repr(r.values["s"]) for r in rows} == {repr(s) for s in srcs}
    assert all(r.values["d"] == 3 for r in rows)
    assert all(r.values["total"] is None for r in rows)  # every run mixes strings or lists with numbers


@pytest.mark.parametrize("terminated", ["", "or terminated"])
def test_interval_gives_the_same_rows_fed_as_one_batch(terminated: str) -> None:
    """The interval timers cut a batch where they fall due, so one batch gives the rows of
    the same events sent one at a time (each at its time)."""
    text = f"""@Name('s0') select * from Flow match_recognize (
                 partition by src measures A.n as a, count(B.n) as nb, last(B.n) as lb
                 pattern (A B*) interval 3 sec {terminated}
                 define A as A.k = 'a', B as B.k = 'b')"""
    rng = random.Random(11)
    recs = []
    t = 0
    for i in range(500):
        t += rng.choice((0, 100, 400, 1500))
        recs.append((t, {"src": rng.choice("xyz"), "k": rng.choice("abbx"), "n": i}))
    one = Harness(text)
    for t, r in recs:
        one.send(t, **r)
    one.flush()
    batch = Harness(text)
    batch.batch(recs)
    batch.flush()

    def rows(h: Harness) -> list[tuple[Any, ...]]:
        return [(r.time_ms, r.values["a"], r.values["nb"], r.values["lb"]) for r in h.of("s0")]

    assert rows(one) == rows(batch) and len(rows(one)) > 50


def test_interval_timers_take_one_entry_per_partition() -> None:
    """Every event of a long run completes a match held by the interval; the timer heap keeps
    one entry per partition, not one per match."""
    h = Harness("""@Name('s0') select * from Flow match_recognize (
                     partition by src measures A.n as a, count(B.n) as nb pattern (A B*) interval 1 hour
                     define A as A.k = 'a', B as B.k = 'b')""")
    h.batch([(i, {"src": f"h{i % 3}", "k": "a" if i < 3 else "b", "n": i}) for i in range(30_000)])
    st = h.rt.stmts[0]
    assert len(st.heap) <= 3
    h.flush()
    assert sorted(values(h.of("s0"), "a", "nb")) == [(0, 9999), (1, 9999), (2, 9999)]
