"""Alert-to-label matching and the precision/recall table, on hand-made alerts."""

from __future__ import annotations

import json

from flowcep_plugin.synth.evaluation import (
    ScenarioResult,
    alert_matches,
    evaluate,
    render,
    technique_fits,
)

T0 = 1_712_916_000_000  # 2024-04-12T10:00:00Z


def _label(id_: str, pattern: str, technique: str, techniques: list[str], attacker: str | None,
           victims: list[str], start_min: int, end_min: int, **kw: object) -> dict:
    return {"id": id_, "attack": id_.rsplit("-", 1)[0], "pattern": pattern, "technique": technique,
            "techniques": techniques, "attacker": attacker, "attackers": [attacker] if attacker else [],
            "victims": victims, "start_ms": T0 + start_min * 60_000, "end_ms": T0 + end_min * 60_000,
            "match": "attacker", **kw}


def _alert(rule: str, src: str | None, dst: str | list[str] | None, tech: list[str], minute: int,
           sub: list[str] | None = None, detector: str = "det") -> dict:
    a: dict = {"@timestamp": f"2024-04-12T10:{minute:02d}:00.000Z", "event": {"kind": "alert"},
               "rule": {"id": rule, "name": rule}, "flowcep": {"detector": detector}}
    if src:
        a["source"] = {"ip": src}
    if dst:
        a["destination"] = {"ip": dst}
    if tech:
        a["threat"] = {"technique": {"id": tech}}
        if sub:
            a["threat"]["technique"]["subtechnique"] = {"id": sub}
    return a


SCAN = _label("scan-1", "scan-horizontal", "T1046", ["T1046", "T1595.001"], "203.0.113.21",
              ["10.10.1.0/24"], 2, 3)
HTTPSCAN = _label("ms-2", "http-scan", "T1595.003", ["T1595.002", "T1595.003"], "203.0.113.66",
                  ["10.20.30.5"], 4, 5)
FLOOD = _label("flood-1", "syn-flood", "T1499.001", ["T1498", "T1499", "T1499.001"], None, ["10.20.30.20"],
               6, 7, match="victim")
POLICY = _label("pol-1", "policy", "T1021", ["T1021"], "10.10.1.13", ["10.10.0.45"], 8, 9,
                accept_untagged=True)


def test_technique_fits_parents_and_subtechniques() -> None:
    assert technique_fits(["T1110"], ["T1110.001"])
    assert technique_fits(["T1110.001"], ["T1110"])
    assert not technique_fits(["T1110.001"], ["T1110.003"])
    assert not technique_fits(["T1046"], ["T1110"])
    assert not technique_fits(["T1595.001"], ["T1595.002", "T1595.003"])


def test_attacker_technique_and_time_must_all_match() -> None:
    assert alert_matches(_alert("r", "203.0.113.21", None, ["T1046"], 3), SCAN)
    assert not alert_matches(_alert("r", "203.0.113.99", None, ["T1046"], 3), SCAN)  # who
    assert not alert_matches(_alert("r", "203.0.113.21", None, ["T1110"], 3), SCAN)  # what
    assert not alert_matches(_alert("r", "203.0.113.21", None, ["T1046"], 50), SCAN)  # when: 47 min late
    assert alert_matches(_alert("r", "203.0.113.21", None, ["T1046"], 30), SCAN)  # windows close late


def test_most_specific_technique_decides() -> None:
    """A port scan alert (T1595 + sub-technique T1595.001) is not an HTTP wordlist scan."""
    portscan = _alert("r", "203.0.113.66", None, ["T1046", "T1595"], 5, sub=["T1595.001"])
    assert not alert_matches(portscan, HTTPSCAN)
    httpscan = _alert("r", "203.0.113.66", None, ["T1595"], 5, sub=["T1595.003"])
    assert alert_matches(httpscan, HTTPSCAN)
    bare = _alert("r", "203.0.113.66", None, ["T1595"], 5)  # a generic T1595 alert is accepted
    assert alert_matches(bare, HTTPSCAN)


def test_victim_labels_match_on_destination_and_untagged_only_when_allowed() -> None:
    assert alert_matches(_alert("f", None, "10.20.30.20", ["T1499"], 7), FLOOD)
    assert alert_matches(_alert("f", None, ["10.0.0.1", "10.20.30.20"], ["T1499"], 7), FLOOD)
    assert not alert_matches(_alert("f", None, "10.20.30.21", ["T1499"], 7), FLOOD)
    assert alert_matches(_alert("p", "10.10.1.13", "10.10.0.45", [], 9), POLICY)
    assert not alert_matches(_alert("p", "203.0.113.21", None, [], 3), SCAN)
    cidr = _alert("x", None, "10.10.1.77", ["T1046"], 3)
    assert not alert_matches(cidr, SCAN)  # attacker label: a victim alone is not enough


def test_scores_per_rule_and_detector() -> None:
    results = [
        ScenarioResult("a", [SCAN, FLOOD], [
            _alert("scan-h", "203.0.113.21", None, ["T1046"], 3, detector="portscan"),
            _alert("scan-h", "203.0.113.21", None, ["T1046"], 4, detector="portscan"),
            _alert("scan-h", "10.10.1.200", None, ["T1046"], 4, detector="portscan"),  # false positive
            _alert("flood", None, "10.20.30.20", ["T1499"], 7, detector="volumetric"),
            {"event": {"kind": "metric"}, "rule": {"id": "top"}},  # metrics are not scored
        ]),
        ScenarioResult("b", [SCAN | {"id": "scan-2"}], []),  # same kind of scan, missed
        ScenarioResult("benign", [], [_alert("flood", None, "10.20.30.2", ["T1499"], 1, detector="volumetric")]),
    ]
    rep = evaluate(results, {"sweep": ("portscan", ["T1018"]), "brute": ("bf", ["T1110.001"])})
    rules = {r.rule: r for r in rep.rules}
    h = rules["scan-h"]
    assert (h.alerts, h.true_positives, h.false_positives) == (3, 2, 1)
    assert h.precision == 2 / 3 and h.recall == 0.5  # found scan-1, missed scan-2
    f = rules["flood"]
    assert (f.alerts, f.false_positives, f.recall) == (2, 1, 1.0)
    assert rules["sweep"].recall is None and rules["sweep"].alerts == 0  # nothing of its kind
    assert rules["brute"].expected == set()
    det = {d.detector: d for d in rep.detectors}
    assert det["portscan"].alerts == 3 and det["portscan"].recall == 0.5
    assert rep.labels_detected == 2 and len(rep.labels) == 3 and rep.false_positives == 2
    missed = [row for row in rep.labels if not row["detected_by"]]
    assert [(m["scenario"], m["id"]) for m in missed] == [("b", "scan-2")]

    table = render(rep, "table")
    assert "MISSED" in table and "labels detected: 2/3; false positive alerts: 2" in table
    row = next(line for line in table.splitlines() if line.startswith("portscan") and "scan-h" in line)
    assert row.split()[2:8] == ["3", "2", "1", "0.67", "1/2", "0.50"]
    md = render(rep, "markdown")
    assert "| portscan | scan-h | 3 | 2 | 1 | 0.67 | 1/2 | 0.50 | scan-horizontal |" in md
    doc = json.loads(render(rep, "json"))
    assert doc["summary"] == {"labels": 3, "labels_detected": 2, "false_positives": 2}
    assert next(r for r in doc["rules"] if r["rule"] == "scan-h")["missed"] == ["b/scan-2"]


def test_expectations_are_scoped_by_attack_kind() -> None:
    """A multi-stage correlation rule that finds the multi-stage scan is not expected to find
    a lone horizontal scan of the same traffic shape; a plain scan rule that found both is."""
    ms_scan = _label("multistage-http-1", "scan-horizontal", "T1046", ["T1046"], "203.0.113.66",
                     ["10.20.30.0/24"], 1, 2)
    lone = SCAN
    alerts = [_alert("corr", "203.0.113.66", None, ["T1046"], 2, detector="ms"),
              _alert("scan", "203.0.113.66", None, ["T1046"], 2, detector="ps")]
    rep = evaluate([ScenarioResult("m", [ms_scan], alerts), ScenarioResult("p", [lone], [])])
    rules = {r.rule: r for r in rep.rules}
    assert rules["corr"].recall == 1.0 and len(rules["corr"].expected) == 1
    rep2 = evaluate([ScenarioResult("m", [ms_scan], alerts),
                     ScenarioResult("p", [lone], [_alert("scan", "203.0.113.21", None, ["T1046"], 3,
                                                         detector="ps")]),
                     ScenarioResult("q", [lone | {"id": "scan-9"}], [])])
    assert {r.rule: r.recall for r in rep2.rules}["scan"] == 2 / 3
