"""The level-2 monitor end to end: two gateway runs over a split of the demo scenario, each
writing jsonl with its own ``--observer``, then a level-2 run over both files.

The demo scenario (flowcep_plugin/data/demo.ipfix, 12,220 flows) holds horizontal scans of
three /24s, a ping sweep, a vertical scan of one host and a busy internal DNS resolver that the
gateway portscan detector flags. Two splits:

* by destination address parity ("east" gets the even hosts, "west" the odd: two gateways in
  front of interleaved hosts, as NetViewer's redundant SUNet gateways): every horizontal
  scanner reaches both, the vertical scanner (one victim) and the resolver only one;
* by source address parity: each source is seen at exactly one gateway (``disjoint_sources``).

Expected answers are recomputed here from the gateways' own alert files and from the flows
themselves, not from the level-2 code.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import subprocess
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
from flowcep_level2 import SCANNER_DEFAULTS, merge_top

import flowcep_plugin
from flowcep_plugin.alerts import event_errors
from flowcep_plugin.inprocess import RunResult, run
from flowcep_plugin.inputs.ecs_events import batches_from_documents

DEMO = Path(flowcep_plugin.__file__).parent / "data" / "demo.ipfix"
INTERVAL_MS = 300_000  # trafficstats' default interval
SCAN_RULES = ("portscan-", "multistage-tcp-syn-scan", "multistage-http-scan")


@pytest.fixture(scope="module")
def flows() -> list[dict[str, Any]]:
    out = subprocess.run([sys.executable, "-m", "flowcep_plugin", "dump", str(DEMO)],
                         capture_output=True, text=True, check=True).stdout
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def _parity(addr: str) -> str:
    return "east" if int(ipaddress.ip_address(addr)) % 2 == 0 else "west"


def _gateway_runs(tmp: Path, flows: list[dict[str, Any]], key: str, top_k: int) -> dict[str, Path]:
    """Split ``flows`` by the parity of ``key`` and run one gateway over each half."""
    files: dict[str, Path] = {}
    for gw in ("east", "west"):
        part = tmp / f"{gw}.flows.json"
        part.write_text("".join(json.dumps(f) + "\n" for f in flows if _parity(f[key]) == gw))
        out = tmp / f"{gw}.alerts.jsonl"
        run([f"json:{part}"], outputs=[f"jsonl:{out}"],
            config={"run": {"observer": gw}, "detectors": {"trafficstats": {"top_n": top_k}}})
        files[gw] = out
    return files


def _level2(files: dict[str, Path], top_n: int = 5, disjoint: bool = False) -> RunResult:
    """The level-2 run as docs/level2.md gives it: one input over every gateway's file."""
    folder = {p.parent for p in files.values()}.pop()
    return run([f"alerts:{folder}/*.alerts.jsonl"], detectors=["level2-scanners", "level2-top-talkers"],
               config={"detectors": {"level2-top-talkers": {"top_n": top_n, "disjoint_sources": disjoint}}})


def _docs(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _scanners(files: dict[str, Path]) -> dict[str, dict[str, set[str]]]:
    """source -> gateway -> ids of its scan alerts there, from the gateway files themselves."""
    seen: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for gw, path in files.items():
        for d in _docs(path):
            if d["event"]["kind"] == "alert" and d["rule"]["id"].startswith(SCAN_RULES):
                seen[d["source"]["ip"]][gw].add(d["flowcep"]["alert_id"])
    return seen


def _truth(flows: list[dict[str, Any]], measure: str, n: int) -> dict[int, list[tuple[str, int]]]:
    """Top ``n`` sources per epoch-aligned interval, summed over every flow (both gateways)."""
    col = {"bytes": "octetDeltaCount", "packets": "packetDeltaCount"}[measure]
    sums: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for f in flows:
        end = f["flowEndMilliseconds"]
        sums[end - end % INTERVAL_MS + INTERVAL_MS][f["sourceIPv4Address"]] += f[col]
    return {end: sorted(per.items(), key=lambda kv: (-kv[1], kv[0]))[:n] for end, per in sums.items()}


@pytest.fixture(scope="module")
def by_destination(flows: list[dict[str, Any]], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return _gateway_runs(tmp_path_factory.mktemp("dst"), flows, "destinationIPv4Address", top_k=5)


@pytest.fixture(scope="module")
def by_source(flows: list[dict[str, Any]], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return _gateway_runs(tmp_path_factory.mktemp("src"), flows, "sourceIPv4Address", top_k=5)


def _top_metrics(result: RunResult) -> list[dict[str, Any]]:
    return [e for e in result.events if e["rule"]["id"] == "level2-top-talkers"]


def test_gateways_write_their_observer_name_and_distinct_ids(by_destination: dict[str, Path]) -> None:
    east, west = (_docs(by_destination[g]) for g in ("east", "west"))
    assert {d["observer"]["name"] for d in east} == {"east"}
    assert {d["observer"]["name"] for d in west} == {"west"}
    for d in east + west:
        assert event_errors(d) == []
    # the same rule, scanner and window at both gateways: different ids (one ES index holds both)
    ids = {(d["rule"]["id"], d["flowcep"]["key"], d["event"]["start"]): d["flowcep"]["alert_id"] for d in east}
    shared = [(k, v) for k, v in ((
        (d["rule"]["id"], d["flowcep"]["key"], d["event"]["start"]), d["flowcep"]["alert_id"]) for d in west)
        if k in ids]
    assert shared, "the split should give both gateways some of the same alerts"
    assert all(ids[k] != v for k, v in shared)


def test_scanner_seen_at_both_gateways_is_named_with_its_evidence(by_destination: dict[str, Path]) -> None:
    seen = _scanners(by_destination)
    expected = {src for src, gws in seen.items() if len(gws) >= 2}
    single = {src for src, gws in seen.items() if len(gws) == 1}
    # the scenario must exercise both sides: scanners at two gateways and at one
    assert expected >= {"203.0.113.21", "203.0.113.23", "203.0.113.31", "203.0.113.66"}
    assert "203.0.113.22" in single  # the vertical scan: one victim, one gateway
    result = _level2(by_destination)
    alerts = [e for e in result.alerts if e["rule"]["id"] == "level2-scanner-gateways"]
    named = {a["source"]["ip"] for a in alerts}
    assert named == expected
    assert not named & single
    last: dict[str, dict[str, Any]] = {}
    for a in alerts:  # the last revision names the evidence
        last[a["source"]["ip"]] = a
    for src, a in last.items():
        fields = a["flowcep"]["fields"]
        assert fields["gateways"] == ["east", "west"]
        assert a["flowcep"]["counts"]["gateways"] == 2
        for gw, ids in fields["alert_ids"].items():
            assert ids and set(ids) <= seen[src][gw]  # real alerts of that gateway about that source
        assert "east" in a["message"] and "west" in a["message"] and src in a["message"]
        assert event_errors(a) == []


def test_scanners_seen_at_one_gateway_each_are_never_named(by_source: dict[str, Path]) -> None:
    seen = _scanners(by_source)
    assert len(seen) >= 4 and all(len(g) == 1 for g in seen.values())  # flagged, each at one gateway
    result = _level2(by_source)
    assert [e for e in result.alerts if e["rule"]["id"] == "level2-scanner-gateways"] == []


def test_min_gateways_three_names_nobody_with_two_gateways(by_destination: dict[str, Path]) -> None:
    result = run([f"alerts:{p}" for p in by_destination.values()], detectors=["level2-scanners"],
                 config={"detectors": {"level2-scanners": {"min_gateways": 3}}})  # separate inputs work too
    assert result.alerts == []


def test_global_top_n_is_exact_for_disjoint_sources(flows: list[dict[str, Any]], by_source: dict[str, Path]) -> None:
    """Each source at one gateway and K = N per gateway: the merge is the exact global top-N."""
    metrics = _top_metrics(_level2(by_source, top_n=5, disjoint=True))
    assert len(metrics) == 2
    for measure in ("bytes", "packets"):
        truth = _truth(flows, measure, 5)
        for m in metrics:
            got = [(e["ip"], e[measure]) for e in m["flowcep"]["metrics"][f"by_{measure}"]]
            assert m["flowcep"]["metrics"]["exact"][measure] is True
            assert got == truth[_end_ms(m)]
            assert event_errors(m) == []


def _end_ms(doc: dict[str, Any]) -> int:
    from flowcep_plugin.alerts import ms_from_iso

    return ms_from_iso(doc["flowcep"]["window"]["end"])


def test_without_the_disjoint_statement_the_same_merge_is_only_bounded(by_source: dict[str, Path]) -> None:
    """The merge cannot know sources are disjoint: K = N then proves nothing in general."""
    for m in _top_metrics(_level2(by_source, top_n=5, disjoint=False)):
        assert m["flowcep"]["metrics"]["exact"]["bytes"] is False
        assert "lower bound" in m["message"]


def _check_bounds(flows: list[dict[str, Any]], metrics: list[dict[str, Any]], n: int) -> tuple[int, int]:
    """Every reported value brackets the truth; a merge that says certain has the true top-N
    sources in the true order, one that says exact also their true values. Returns how many
    (interval, measure) merges were certain and how many exact."""
    certain = exact = 0
    for measure in ("bytes", "packets"):
        truth = _truth(flows, measure, 10_000)
        for m in metrics:
            ranked = truth[_end_ms(m)]
            total = dict(ranked)
            met = m["flowcep"]["metrics"]
            rows = met[f"by_{measure}"]
            for e in rows:
                assert e[measure] <= total[e["ip"]] <= e[f"{measure}_max"]
            if met["certain"][measure]:
                certain += 1
                assert [e["ip"] for e in rows] == [ip for ip, _ in ranked[:n]]
            if met["exact"][measure]:
                exact += 1
                assert [(e["ip"], e[measure]) for e in rows] == ranked[:n]
    return certain, exact


def test_overlapping_gateways_bound_the_truth(flows: list[dict[str, Any]], by_destination: dict[str, Path]) -> None:
    """Sources seen at both gateways, K = N: the merge brackets every true total."""
    metrics = _top_metrics(_level2(by_destination, top_n=5))
    assert len(metrics) == 2
    certain, _exact = _check_bounds(flows, metrics, 5)
    assert certain < 4  # K = N and overlapping sources: the bounds are too wide to prove it


def test_overlapping_gateways_with_k_much_larger_than_n_rank_for_certain(flows: list[dict[str, Any]],
                                                                  tmp_path: Path) -> None:
    """The threshold argument: gateways send their top 200, the level-2 reports the top 5,
    and the bounds prove the ranking (for every interval and both measures)."""
    files = _gateway_runs(tmp_path, flows, "destinationIPv4Address", top_k=200)
    metrics = _top_metrics(_level2(files, top_n=5))
    certain, exact = _check_bounds(flows, metrics, 5)
    assert certain == 2 * len(metrics) == 4
    # the values of sources that one gateway's list left out stay bounds (a few bytes wide)
    assert exact < certain


def test_epl_reads_alert_events(by_destination: dict[str, Path], tmp_path: Path) -> None:
    """EPL over ``Alert``: counting distinct gateways per scanner gives the Python detector's set."""
    epl = tmp_path / "scanners.epl"
    epl.write_text(
        "@Name('MultiGateway') @Source('src') @Summary('{src} at {gateways} gateways')\n"
        "select `source.ip` as src, count(distinct `flowcep.gateway`) as gateways\n"
        "from Alert(`rule.id` like 'portscan-%' or `rule.id` in ('multistage-tcp-syn-scan', "
        "'multistage-http-scan'))#time(1 hour)\n"
        "group by `source.ip`\n"
        "having count(distinct `flowcep.gateway`) >= 2\n")
    result = run([f"alerts:{p}" for p in by_destination.values()], detectors=[],
                 config={"epl": {"modules": [str(epl)]}})
    seen = _scanners(by_destination)
    assert {a["source"]["ip"] for a in result.alerts} == {s for s, g in seen.items() if len(g) >= 2}


# -- the merge on its own ------------------------------------------------------------------------


def test_merge_a_host_ranked_n_plus_1_everywhere_is_not_hidden() -> None:
    """x sends 8 at each gateway and is third at both; each lists its top 2. Globally x is
    first (16). The union of the lists misses it, and the merge must not call that exact."""
    lists = {"a": ([("p", 10), ("q", 9)], False), "b": ([("r", 10), ("s", 9)], False)}
    merged = merge_top(lists, 2)
    assert [e[0] for e in merged.entries] == ["p", "r"]
    assert merged.exact is False and merged.certain is False
    assert merged.unlisted_max == 18 >= 16  # the bound covers x
    # complete lists: exact, and x is first
    full = {"a": ([("p", 10), ("q", 9), ("x", 8)], True), "b": ([("r", 10), ("s", 9), ("x", 8)], True)}
    merged = merge_top(full, 2)
    assert merged.exact is True
    assert merged.entries == [("x", 16, 16), ("p", 10, 10)]


def test_merge_bounds_and_disjoint_statement() -> None:
    lists = {"a": ([("p", 100), ("q", 5)], False), "b": ([("p", 50), ("r", 4)], False)}
    merged = merge_top(lists, 1)
    assert merged.entries == [("p", 150, 150)]
    assert merged.unlisted_max == 9 and merged.exact is True
    # disjoint is contradicted by p at both gateways: the general bound is used
    assert merge_top(lists, 1, disjoint=True).unlisted_max == 9
    disjoint = {"a": ([("p", 100), ("q", 5)], False), "b": ([("s", 50), ("r", 4)], False)}
    m = merge_top(disjoint, 2, disjoint=True)
    assert m.entries == [("p", 100, 100), ("s", 50, 50)] and m.unlisted_max == 5 and m.exact
    m = merge_top(disjoint, 2)
    assert m.entries == [("p", 100, 104), ("s", 50, 55)] and not m.exact
    assert m.certain  # 50 is above anything else could be (at most 9)
    # fewer sources than n: certain only if no unlisted source can exist
    assert not merge_top({"a": ([("p", 3)], False)}, 2).certain
    assert merge_top({"a": ([("p", 3)], True)}, 2).exact
    # a cut list with no entries gives no bound at all
    assert merge_top({"a": ([], False)}, 1).exact is False


# -- the input -----------------------------------------------------------------------------------


def test_input_reports_bad_lines_by_file_and_line(tmp_path: Path, by_destination: dict[str, Path],
                                                  caplog: pytest.LogCaptureFixture) -> None:
    good = by_destination["east"].read_text().splitlines()
    flow = json.dumps({"event": {"kind": "event", "category": ["network"]}, "ecs": {"version": "8.11.0"},
                       "netflow": {"protocol_identifier": 6}})
    no_time = json.loads(good[0])
    for k in ("event", "flowcep"):
        no_time[k] = {kk: vv for kk, vv in no_time[k].items() if kk not in ("end", "window")}
    no_time.pop("@timestamp")
    lines = [good[0], "{not json", '"a string"', json.dumps(no_time), flow, *good[1:]]
    path = tmp_path / "mixed.jsonl"
    path.write_text("\n".join(lines) + "\n")
    with caplog.at_level(logging.WARNING, logger="flowcep"):
        result = run([f"alerts:{path}"], detectors=["level2-scanners"])
    assert result.stats["drops"]["malformed"] == 3
    messages = [r.getMessage() for r in caplog.records]
    assert any(m.startswith(f"{path}:2: not JSON") for m in messages)
    assert any(m.startswith(f"{path}:3: expected a JSON object") for m in messages)
    assert any(m.startswith(f"{path}:4: no event.end") for m in messages)
    assert not any("Traceback" in m for m in messages)
    assert result.stats["gauges"]["alerts non-event documents skipped"] == 1
    assert result.stats["stages"]["input"]["in"] == len(good)


def test_documents_to_batches_for_other_transports() -> None:
    """The function the Kafka input calls: Alert and Metric batches, event time = window end."""
    alert = {"@timestamp": "2024-04-12T10:05:00.000Z", "event": {"kind": "alert", "start": "2024-04-12T10:00:00.000Z",
             "end": "2024-04-12T10:05:00.000Z"}, "rule": {"id": "portscan-horizontal"},
             "source": {"ip": "192.0.2.1"}, "flowcep": {"alert_id": "x"}}
    metric = {"@timestamp": "2024-04-12T10:05:00.000Z", "event": {"kind": "metric", "end": "2024-04-12T10:05:00.000Z"},
              "rule": {"id": "trafficstats-top-talkers"}, "observer": {"name": "gw9"},
              "flowcep": {"metrics": {"by_bytes": [{"ip": "192.0.2.1", "bytes": 5}]}}}
    batches, errors = batches_from_documents([alert, metric, {"event": {"kind": "alert"}}, 5], source="topic-a")
    assert [b.stream for b in batches] == ["Alert", "Metric"]
    a, m = batches
    assert a.event_times() == [1712916300000] and a.get("event.start") == [1712916000000]
    assert a.get("flowcep.gateway") == ["topic-a"] and m.get("flowcep.gateway") == ["gw9"]
    assert m.get("flowcep.metrics.by_bytes") == [[{"ip": "192.0.2.1", "bytes": 5}]]
    assert [i for i, _ in errors] == [2, 3]


def test_shipped_defaults_cover_the_multistage_scan_stages() -> None:
    assert "multistage-tcp-syn-scan" in SCANNER_DEFAULTS["rules"]


# -- the detectors on hand-made events -----------------------------------------------------------

T0 = 1712916000000


def _alert_doc(src: str, gw: str, end: int, rule: str = "portscan-horizontal") -> dict[str, Any]:
    return {"event": {"kind": "alert", "start": end - 300_000, "end": end}, "rule": {"id": rule},
            "source": {"ip": src}, "observer": {"name": gw},
            "flowcep": {"alert_id": f"{gw}-{src}-{end}-{rule}"}}


def _feed(det: Any, docs: list[dict[str, Any]], watermark: int | None = None) -> list[dict[str, Any]]:
    batches, errors = batches_from_documents(docs)
    assert errors == []
    out: list[dict[str, Any]] = []
    for b in batches:
        out += det.on_batch(b)
    if watermark is not None:
        out += det.on_watermark(watermark)
    return out


def _scanner_detector(**config: Any) -> Any:
    from flowcep_level2 import ScannerAtGateways

    from flowcep_plugin.context import Context

    ctx = Context()
    return ScannerAtGateways({**SCANNER_DEFAULTS, **config}, ctx), ctx


def test_gateways_must_agree_within_the_window() -> None:
    det, _ = _scanner_detector(window="1h")
    assert _feed(det, [_alert_doc("192.0.2.1", "a", T0), _alert_doc("192.0.2.1", "b", T0 + 2 * 3600_000)]) == []
    det, _ = _scanner_detector(window="1h")
    out = _feed(det, [_alert_doc("192.0.2.1", "a", T0), _alert_doc("192.0.2.1", "b", T0 + 1800_000)])
    assert [a["flowcep"]["fields"]["gateways"] for a in out] == [["a", "b"]]
    # not a scan rule, or the same gateway twice: nobody
    det, _ = _scanner_detector()
    assert _feed(det, [_alert_doc("192.0.2.1", "a", T0, "bruteforce-guessing"),
                       _alert_doc("192.0.2.1", "b", T0, "bruteforce-guessing"),
                       _alert_doc("192.0.2.2", "a", T0), _alert_doc("192.0.2.2", "a", T0 + 1)]) == []


def test_scanner_state_is_bounded_and_expires() -> None:
    det, ctx = _scanner_detector(max_sources=2)
    _feed(det, [_alert_doc(f"192.0.2.{i}", "a", T0 + i) for i in range(5)])
    assert len(det.sources) == 2 and ctx.stats.gauges["level2.sources_evicted"] == 3
    _feed(det, [], watermark=T0 + 3600_000 + 10)
    assert det.sources == {}


def test_an_interval_merged_early_claims_nothing() -> None:
    from flowcep_level2 import TOP_DEFAULTS, GlobalTopTalkers

    from flowcep_plugin.context import Context

    def doc(gw: str, end: int) -> dict[str, Any]:
        return {"event": {"kind": "metric", "end": end}, "rule": {"id": "trafficstats-top-talkers"},
                "observer": {"name": gw},
                "flowcep": {"window": {"start": end - 300_000, "end": end},
                            "metrics": {"by_bytes": [{"ip": "192.0.2.1", "bytes": 5}],
                                        "by_packets": [{"ip": "192.0.2.1", "packets": 1}], "sources": 1}}}

    ctx = Context()
    det = GlobalTopTalkers({**TOP_DEFAULTS, "max_intervals": 1}, ctx)
    out = _feed(det, [doc("a", T0 + 300_000), doc("a", T0 + 600_000), doc("b", T0 + 300_000)])
    out += det.flush()
    first = out[0]["flowcep"]["metrics"]
    assert first["partial"] is True and first["exact"] == {"bytes": False, "packets": False}
    assert ctx.stats.gauges["level2.intervals_closed_early"] == 1
    assert ctx.stats.gauges["level2.late_metrics"] == 1  # b's list for the merged interval
    last = out[-1]["flowcep"]["metrics"]
    assert "partial" not in last and last["exact"]["bytes"] is True  # complete lists: exact


def test_conformance_and_silence_on_flows() -> None:
    """The shared conformance suite (spec, schema, defaults, empty input); flows, even a
    port scan's, are not the level-2 detectors' input."""
    from flowcep_level2 import SCANNERS, TOP_TALKERS

    from flowcep_plugin.testing import check_detector, make_flow

    scan = [make_flow("198.51.100.7", f"10.0.0.{i}", 22, end_ms=T0 + i) for i in range(1, 200)]
    for spec in (SCANNERS, TOP_TALKERS):
        assert check_detector(spec, benign=scan) == []
