"""Every ```epl example in docs/epl.md compiles, and the documented semantics hold.

Blocks fenced as ```text are the syntax summary and the unsupported list; the constructs of
that list are checked to be rejected with a position (``REJECTED``).
"""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

import pytest

from flowcep_plugin.engine import compile_module
from flowcep_plugin.engine.harness import Harness
from flowcep_plugin.errors import EPLError

DOC = Path(__file__).resolve().parents[2] / "docs" / "epl.md"
PARAMS = {"window": 60, "threshold": 100}


def blocks(kind: str) -> list[tuple[int, str]]:
    text = DOC.read_text(encoding="utf-8")
    out = []
    for m in re.finditer(r"^```" + kind + r"\n(.*?)^```", text, re.S | re.M):
        out.append((text.count("\n", 0, m.start()) + 1, m.group(1)))
    return out


def test_the_reference_has_examples() -> None:
    assert len(blocks("epl")) >= 12


@pytest.mark.parametrize("line, text", blocks("epl"), ids=lambda v: f"line{v}" if isinstance(v, int) else "")
def test_every_epl_example_compiles(line: int, text: str) -> None:
    try:
        module = compile_module(text, f"docs/epl.md:{line}", PARAMS)
    except EPLError as exc:  # pragma: no cover - the message says where
        pytest.fail(f"example at docs/epl.md line {line} does not compile: {exc}")
    assert module.statements, f"example at line {line} has no statement"


REJECTED = [
    "select irstream a from Flow#length(2) output last every 1 sec",
    "select a from Flow where a in (select b from Flow)",
    "create window W#time_batch(1 min) as select * from Flow",
    "create window W#keepall as (a string); on Flow select count(*) as n from W",
    "create window W#keepall as (a string); select a from W#length(2)",
    "create context C initiated by Flow terminated by Flow(x = 1)",
    "create context C partition by a from Flow; context C select a from pattern [every Flow]",
    "select x.a from Flow as x, Flow#length(2) as y where x.a in (select b from Flow#length(2))",
    "select a from Flow where a > any (select b from Flow#length(2) group by b)",
    "select count(*) from Flow#length(5) where a in (select b from Flow#length(2))",
    "create context C partition by a from Flow; context C select a from Flow where a in (select b from Flow#length(2))",
    "create context C partition by a from Flow; context C select * from Flow "
    "match_recognize (measures A.a as x pattern (A B) define B as B.a > A.a)",
    "select prev(1, a) from Flow#unique(a)",
    "select max(distinct a, b) from Flow",
    "select first(a) from Flow",
    # remove stream combinations no conformance case pins down (refused at the merge)
    "select irstream a from Flow#length(2) where a in (select b from Flow#length(2))",
    "select rstream x.a from Flow#length(2) as x left outer join Flow#length(2) as y on x.a = y.a",
    "select irstream * from Flow match_recognize (measures A.a as x pattern (A B) define B as B.a > A.a)",
    "create context C partition by a from Flow; context C select irstream a from Flow#length(2)",
    "create window W#length(2) as (a string); select rstream a from W",
    "create window W#keepall as (a string); on Flow insert irstream into S select a from W",
    "select a from Flow#groupwin(a)#unique(b)",
    "select a from Flow#time_accum(1 sec)",
    "create context C partition by a from Flow; context C select a from Flow#firsttime(3 sec)",
    "select a from Flow#length_batch(3)#unique(a)",
    "select a from Flow group by a",
    "select a from Flow output snapshot every 1 sec",
    "select count(*) from Flow output snapshot every 10 events",
    "select count(*) from Flow output after 10 sec first every 1 sec",
    "select a from Flow output when a > 1",
    "select x.a from Flow#keepall as x left outer join Flow#keepall as y",
    "select x.a from Flow#length(2) as x unidirectional left outer join Flow#keepall as y on x.a = y.a",
    "select a.x from pattern [a=Flow while (a.x > 1)]",
    "select a.x from pattern [a=Flow where timer:at(1, 2)]",
    "select * from pattern [not a=Flow]",
    "select count(*) from pattern [a=Flow]",
    "select * from pattern [a=Flow] order by a.x",
    "select a from Flow where a = 'it''s'",
    # h-mrec: match_recognize
    "select * from Flow#unique(x) match_recognize (measures A.x as a pattern (A B))",
    "select * from Flow match_recognize (measures A.x as a pattern (match_recognize_permute(A, B, C, D, E, F)))",
    "select * from Flow match_recognize (measures A.x as a pattern (A B)) where a > 1",
    "select * from Flow match_recognize (measures B.x as b pattern (A B*))",
]


@pytest.mark.parametrize("text", REJECTED)
def test_documented_unsupported_constructs_are_rejected(text: str) -> None:
    with pytest.raises(EPLError) as info:
        compile_module(text)
    assert info.value.line == 1 and info.value.column, str(info.value)


def test_top_talkers_example_gives_the_top_three_of_each_minute() -> None:
    text = next(t for _l, t in blocks("epl") if "TopTalkers" in t)
    h = Harness(text)
    recs = [(t * 1000, {"sourceIPv4Address": f"10.0.0.{t % 7}", "octetDeltaCount": (t * 37) % 1000})
            for t in range(0, 150)]
    h.batch(recs)
    h.flush()
    per_minute: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for t, r in recs:
        per_minute[t // 60_000][r["sourceIPv4Address"]] += r["octetDeltaCount"]
    expected = []
    for minute in sorted(per_minute):
        sums = per_minute[minute]
        expected += [((minute + 1) * 60_000, s, sums[s]) for s in sorted(sums, key=lambda s: -sums[s])[:3]]
    last = (max(per_minute) + 1) * 60_000
    assert [(r.time_ms, r.values["src"], r.values["bytes"]) for r in h.rows if r.time_ms <= last] == expected
    # the empty batch after the last one reports the groups that left, with a null sum
    assert {r.values["bytes"] for r in h.rows if r.time_ms > last} == {None}



def test_known_scanners_example_consults_the_window_for_every_flow() -> None:
    text = next(t for _l, t in blocks("epl") if "KnownScanners" in t)
    h = Harness(text)
    # a sweep of 101 ports within the first minute makes 10.0.0.9 a known scanner at 60000
    h.batch([(i * 100, {"sourceIPv4Address": "10.0.0.9", "destinationIPv4Address": "10.1.0.1",
                        "destinationTransportPort": 1000 + i}) for i in range(101)])
    h.send(61_000, sourceIPv4Address="10.0.0.9", destinationIPv4Address="10.1.0.2")
    h.send(62_000, sourceIPv4Address="10.0.0.8", destinationIPv4Address="10.1.0.2")
    hits = h.of("ScannerTraffic")
    assert [(r.time_ms, r.values["src"], r.values["dst"], r.values["reason"]) for r in hits] == [
        (61_000, "10.0.0.9", "10.1.0.2", "port sweep")]


def test_ports_per_source_example_counts_each_source_apart() -> None:
    text = next(t for _l, t in blocks("epl") if "PortsPerSource" in t)
    h = Harness(text)
    recs = []
    for i in range(60):  # both sources touch 60 ports, interleaved; only a's stay distinct
        recs.append((i * 10, {"sourceIPv4Address": "a", "destinationTransportPort": i}))
        recs.append((i * 10 + 5, {"sourceIPv4Address": "b", "destinationTransportPort": i % 3}))
    h.batch(recs)
    rows = h.of("PortsPerSource")
    assert {r.values["src"] for r in rows} == {"a"}
    assert [r.values["ports"] for r in rows] == list(range(51, 61))


def test_outer_join_example_keeps_flows_without_a_scanner() -> None:
    text = next(t for _l, t in blocks("epl") if "LargeFlows" in t)
    h = Harness(text)
    scan = [(i, {"sourceIPv4Address": "10.0.0.9", "packetDeltaCount": 1}) for i in range(51)]
    h.batch(scan)
    h.send(30_000, sourceIPv4Address="10.0.0.1", octetDeltaCount=2_000_000)  # no scanner: a null side
    h.watermark(60_000)  # the scanner's minute ends: Scanners gets 10.0.0.9 (no big flow to join)
    h.send(70_000, sourceIPv4Address="10.0.0.9", octetDeltaCount=3_000_000)
    rows = [(r.values["host"], r.values["bytes"], r.values["scanner"]) for r in h.of("LargeFlows")]
    assert rows == [("10.0.0.1", 2_000_000, None), ("10.0.0.9", 3_000_000, "10.0.0.9")]


def test_subquery_example_reports_transfers_from_recent_scanners_only() -> None:
    text = next(t for _l, t in blocks("epl") if "ScannerExfil" in t)
    h = Harness(text)
    h.send(0, sourceIPv4Address="10.0.0.9", octetDeltaCount=20_000_000)  # not a scanner yet
    h.batch([(i, {"sourceIPv4Address": "10.0.0.9", "packetDeltaCount": 1}) for i in range(1, 61)])
    h.watermark(60_001)  # the minute from the first probe (t=1) ends: Scanners gets 10.0.0.9
    h.send(61_000, sourceIPv4Address="10.0.0.9", octetDeltaCount=20_000_000)
    h.send(62_000, sourceIPv4Address="10.0.0.7", octetDeltaCount=20_000_000)  # never scanned
    h.send(60_001 + 10 * 60_000, sourceIPv4Address="10.0.0.9", octetDeltaCount=20_000_000)  # left the window
    assert [(r.time_ms, r.values["host"], r.values["probes"]) for r in h.of("ScannerExfil")] == [
        (61_000, "10.0.0.9", 60)]
